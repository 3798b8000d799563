/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "thunderbolt-shared.h"

TbfwSeen *tbfw_table_get(TbfwTable *t, const char *syspath) {
        TbfwSeen *items;
        char *p;

        assert(t);
        assert(syspath);

        for (size_t i = 0; i < t->n; i++)
                if (streq(t->items[i].syspath, syspath))
                        return &t->items[i];
        p = strdup(syspath);
        if (!p)
                return NULL;
        items = reallocarray(t->items, t->n + 1, sizeof *items);
        if (!items) {
                free(p);
                return NULL;
        }
        t->items = items;
        t->items[t->n] = (TbfwSeen){ .syspath = p, .reported_reason = -1 };
        return &t->items[t->n++];
}

void tbfw_table_forget(TbfwTable *t, const char *syspath) {
        assert(t);

        for (size_t i = 0; i < t->n; i++)
                if (streq(t->items[i].syspath, syspath)) {
                        free(t->items[i].syspath);
                        removable_device_free(t->items[i].device);
                        t->items[i] = t->items[--t->n];
                        return;
                }
}

void tbfw_table_done(TbfwTable *t) {
        assert(t);

        for (size_t i = 0; i < t->n; i++) {
                free(t->items[i].syspath);
                removable_device_free(t->items[i].device);
        }
        t->items = mfree(t->items);
        t->n = 0;
}

void tbfw_table_write(const TbfwTable *t, const Policy *p, JsonWriter *w) {
        usec_t now = now_usec(CLOCK_REALTIME);

        assert(t);
        assert(w);

        for (size_t i = 0; p && i < t->n; i++) {
                const TbfwSeen *s = &t->items[i];
                const RemovableDevice *d = s->device;
                Decision dec;

                if (!d)
                        continue;
                dec = policy_decide_device(p, d->category, (const char *const *) d->id, now);
                json_object_begin(w);
                device_report_write_device(w, d);
                json_key(w, "decision");
                json_object_begin(w);
                json_kv_string(w, "action",
                               s->reported == TBFW_ALLOWED        ? "allowed"
                               : s->reported == TBFW_BLOCKED      ? "blocked"
                               : s->reported == TBFW_BLOCK_FAILED ? "block_failed"
                                                                  : "none");
                json_kv_string(w, "reason",
                               dec.relevant ? decision_reason_to_string(dec.reason) : "category_not_blocked");
                json_kv_string(w, "explanation", device_report_explanation(d, &dec));
                if (dec.entry) {
                        json_key(w, "rule");
                        json_object_begin(w);
                        json_kv_string(w, "file", dec.entry->file);
                        json_kv_uint(w, "line", dec.entry->line);
                        if (dec.entry->label)
                                json_kv_string(w, "label", dec.entry->label);
                        if (dec.entry->expires)
                                json_kv_string(w, "expires", dec.entry->expires);
                        json_object_end(w);
                }
                json_object_end(w);
                json_object_end(w);
        }
}

int tbfw_scan(const char *subsystem, TbfwHandler handler, void *userdata) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
        int r;

        assert(subsystem);
        assert(handler);

        r = sd_device_enumerator_new(&e);
        if (r >= 0)
                r = sd_device_enumerator_add_match_subsystem(e, subsystem, true);
        if (r < 0)
                return log_error_errno(r, "Cannot enumerate %s devices: %m", subsystem);
        /* At boot we may run before udev has seen a device; we want it anyway. */
        (void) sd_device_enumerator_allow_uninitialized(e);
        /* Sorted by syspath: a domain or node before its devices and units. */
        for (sd_device *d = sd_device_enumerator_get_device_first(e); d; d = sd_device_enumerator_get_device_next(e))
                handler(d, SD_DEVICE_ADD, userdata);
        return 0;
}

static int tbfw_on_uevent(sd_device_monitor *mon, sd_device *dev, void *userdata) {
        TbfwMonitor *m = userdata;
        sd_device_action_t action;

        if (sd_device_get_action(dev, &action) < 0)
                return 0;
        m->handler(dev, action, m->userdata);
        return 0;
}

void tbfw_monitor_stop(TbfwMonitor *m) {
        assert(m);

        m->expiry = sd_event_source_disable_unref(m->expiry);
        if (!m->monitor)
                return;
        (void) sd_device_monitor_stop(m->monitor);
        m->monitor = sd_device_monitor_unref(m->monitor);
}

static int tbfw_on_expiry(sd_event_source *s, uint64_t usec, void *userdata) {
        TbfwMonitor *m = userdata;

        m->due = USEC_INFINITY;
        log_debug("An allow entry for a %s device ended: deciding again.", m->subsystem);
        (void) tbfw_scan(m->subsystem, m->handler, m->userdata);
        return 0;
}

void tbfw_monitor_due(TbfwMonitor *m, usec_t t) {
        int r;

        assert(m);

        if (t == USEC_INFINITY || !m->monitor || t >= m->due)
                return;
        m->due = t;
        if (m->expiry) {
                r = sd_event_source_set_time(m->expiry, t);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->expiry, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(sd_device_monitor_get_event(m->monitor), &m->expiry, CLOCK_REALTIME, t,
                                      50 * USEC_PER_MSEC, tbfw_on_expiry, m);
        if (r < 0)
                log_warning_errno(r, "Cannot arm the expiry timer of %s devices; a reload decides again: %m",
                                  m->subsystem);
}

int tbfw_monitor_start(TbfwMonitor *m, sd_event *event, const char *subsystem, TbfwHandler handler, void *userdata) {
        int r;

        assert(m);
        assert(event);
        assert(subsystem);
        assert(handler);

        m->handler = handler;
        m->userdata = userdata;
        m->subsystem = subsystem;
        m->due = USEC_INFINITY;
        r = sd_device_monitor_new(&m->monitor);
        if (r < 0)
                return log_error_errno(r, "Cannot open the udev monitor for %s: %m", subsystem);
        (void) sd_device_monitor_set_receive_buffer_size(m->monitor, 16 * 1024 * 1024);
        r = sd_device_monitor_filter_add_match_subsystem_devtype(m->monitor, subsystem, NULL);
        if (r >= 0)
                r = sd_device_monitor_attach_event(m->monitor, event);
        if (r >= 0)
                r = sd_device_monitor_start(m->monitor, tbfw_on_uevent, m);
        if (r < 0)
                return log_error_errno(r, "Cannot start the udev monitor for %s: %m", subsystem);
        /* Blocking a device comes before any reporting or uploading work. */
        (void) sd_event_source_set_priority(sd_device_monitor_get_event_source(m->monitor), SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_device_monitor_set_description(m->monitor, subsystem);

        return tbfw_scan(subsystem, handler, userdata);
}

int tbfw_write_attr(const char *dir, const char *attr, const char *value) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(value);
        ssize_t l;

        if (asprintf(&p, "%s/%s", dir, attr) < 0)
                return -ENOMEM;
        /* O_TRUNC is a no-op on sysfs and keeps plain-file mocks exact. */
        fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        l = write(fd, value, len);
        if (l < 0)
                return negative_errno();
        return (size_t) l == len ? 0 : -EIO;
}

int tbfw_write_name(const char *path, const char *name) {
        _cleanup_free_ char *line = NULL;
        _cleanup_close_ int fd = -EBADF;
        ssize_t l;
        int n;

        n = asprintf(&line, "%s\n", name);
        if (n < 0)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        l = write(fd, line, (size_t) n);
        if (l < 0)
                return negative_errno();
        return (size_t) l == (size_t) n ? 0 : -EIO;
}

int tbfw_read_attr(const char *dir, const char *attr, char *buf, size_t size) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        ssize_t l;

        assert(size > 1);
        if (asprintf(&p, "%s/%s", dir, attr) < 0)
                return -ENOMEM;
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        l = read(fd, buf, size - 1);
        if (l < 0)
                return negative_errno();
        buf[l] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}
