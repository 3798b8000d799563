/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device-report.h"
#include "log.h"
#include "sysbus.h"
#include "thunderbolt-shared.h"
#include "thunderbolt.h"

#define BOLTD_NAME "org.freedesktop.bolt"
#define TB_SYSFS "/sys/bus/thunderbolt/devices"

struct ThunderboltEnforcer {
        sd_event *event;
        SysBus *sysbus; /* borrowed: the Manager's */
        EventEmitter emitter;
        Policy *policy;
        TbfwMonitor monitor;
        TbfwTable seen;
};

ThunderboltEnforcer *thunderbolt_enforcer_free(ThunderboltEnforcer *t) {
        if (!t)
                return NULL;
        tbfw_monitor_stop(&t->monitor);
        tbfw_table_done(&t->seen);
        policy_unref(t->policy);
        sd_event_unref(t->event);
        free(t);
        return NULL;
}

int thunderbolt_enforcer_new(sd_event *event, SysBus *sysbus, EventEmitter emitter, ThunderboltEnforcer **ret) {
        ThunderboltEnforcer *t;

        assert(event);
        assert(ret);

        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->event = sd_event_ref(event);
        t->sysbus = sysbus;
        t->emitter = emitter;
        *ret = t;
        return 0;
}

void thunderbolt_enforcer_set_policy(ThunderboltEnforcer *t, Policy *p) {
        Policy *old;

        assert(t);
        old = t->policy;
        t->policy = policy_ref(p);
        policy_unref(old);
}

int thunderbolt_boltd_running(SysBus *sysbus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = sysbus ? sysbus_get(sysbus) : NULL;
        int has = 0, r;

        if (!bus)
                return -ENOTCONN;
        r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "NameHasOwner");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", BOLTD_NAME);
        /* The bus daemon answers at once; a hung one must not stall enforcement long. */
        if (r >= 0)
                r = sd_bus_call(bus, m, 500 * USEC_PER_MSEC, &error, &reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &has);
        if (r < 0)
                return r;
        return !!has;
}

/* The domain a device hangs under ("domain0"), and its security level. */
static int thunderbolt_domain_security(sd_device *dev, char *buf, size_t size) {
        sd_device *p = dev;
        const char *name, *sec;

        buf[0] = 0;
        while (sd_device_get_parent(p, &p) >= 0) {
                if (sd_device_get_sysname(p, &name) < 0 || !startswith(name, "domain"))
                        continue;
                if (sd_device_get_sysattr_value(p, "security", &sec) < 0)
                        return -ENODATA;
                snprintf(buf, size, "%.*s", (int) strcspn(sec, "\n"), sec);
                return 0;
        }
        return -ENOENT;
}

/* Where PCIe is never tunnelled, authorizing means nothing: USB and
 * DisplayPort tunnels are set up without asking, and a USB device behind
 * them meets mamori's USB rules. */
static bool thunderbolt_security_tunnels_pcie(const char *sec) {
        return !streq(sec, "dponly") && !streq(sec, "usbonly") && !streq(sec, "nopcie");
}

static int thunderbolt_read_authorized(sd_device *dev) {
        const char *v;
        int r;

        /* Read afresh: every uevent and scan brings a new sd_device. */
        r = sd_device_get_sysattr_value(dev, "authorized", &v);
        if (r < 0)
                return r;
        if (v[0] < '0' || v[0] > '2' || (v[1] != 0 && v[1] != '\n'))
                return -EINVAL;
        return v[0] - '0';
}

static void thunderbolt_report(ThunderboltEnforcer *t, TbfwSeen *s, const RemovableDevice *d, const Decision *dec,
                               const char *security, int boltd, const char *done) {
        TbfwAction action = !dec->allow ? (d->block_error < 0 ? TBFW_BLOCK_FAILED : TBFW_BLOCKED) : TBFW_ALLOWED;
        Event *e = NULL;
        JsonWriter *w;
        NoticeDevice nd;

        /* One event per change of decision, not per uevent or rescan. */
        if (s->reported == action && s->reported_reason == (int) dec->reason)
                return;
        s->reported = action;
        s->reported_reason = (int) dec->reason;
        /* A dock's keyboard may be behind it: say so where admins look. */
        if (action != TBFW_ALLOWED)
                log_notice("Thunderbolt device %s \"%s %s\" is blocked: what is behind it (on a Thunderbolt 3 dock: "
                           "its USB ports with any keyboard and mouse, its network) does not work until an allow "
                           "entry names unique_id %s.",
                           d->sysname, strempty(d->vendor), strempty(d->model), strna(d->id[0]));
        if (device_report_build(t->policy, d, dec, &e) < 0)
                return (void) log_oom();
        w = event_body(e);
        json_key(w, "thunderbolt");
        json_object_begin(w);
        json_kv_string(w, "security", security[0] ? security : NULL);
        json_key(w, "boltd");
        if (boltd < 0)
                json_null(w);
        else
                json_bool(w, boltd > 0);
        json_kv_string(w, "done", done);
        json_object_end(w);
        device_report_notice_device(d, &nd);
        (void) event_emit(&t->emitter, e,
                          &(EventContext){ .decision = dec, .removable = &nd, .now = now_usec(CLOCK_REALTIME) });
}

static void thunderbolt_handle(sd_device *dev, sd_device_action_t action, void *userdata) {
        ThunderboltEnforcer *t = userdata;
        _cleanup_(removable_device_freep) RemovableDevice *d = NULL;
        const char *syspath, *sysname, *devtype = NULL, *v;
        char security[16];
        const char *done = "none";
        int authorized, boltd, r;
        TbfwSeen *s;
        Decision dec;

        if (sd_device_get_syspath(dev, &syspath) < 0 || sd_device_get_sysname(dev, &sysname) < 0)
                return;
        if (action == SD_DEVICE_REMOVE) {
                tbfw_table_forget(&t->seen, syspath);
                return;
        }
        if (action != SD_DEVICE_ADD && action != SD_DEVICE_CHANGE && action != SD_DEVICE_MOVE && action != SD_DEVICE_BIND)
                return;
        /* Routers only: not the domain, an XDomain peer (another host) or a retimer. */
        (void) sd_device_get_devtype(dev, &devtype);
        if (!streq_ptr(devtype, "thunderbolt_device"))
                return;
        /* The host router ("<domain>-0") is the PC itself. */
        v = strchr(sysname, '-');
        if (!v || streq(v, "-0"))
                return;
        if (thunderbolt_domain_security(dev, security, sizeof security) < 0 ||
            !thunderbolt_security_tunnels_pcie(security)) {
                log_debug("Thunderbolt %s: domain security \"%s\", no PCIe tunnel to decide on.", sysname, security);
                return;
        }
        authorized = thunderbolt_read_authorized(dev);
        if (authorized < 0) {
                log_debug_errno(authorized, "Thunderbolt %s: no readable authorized attribute: %m", sysname);
                return;
        }

        d = removable_device_new(DEVICE_BUS_THUNDERBOLT, DEVICE_CATEGORY_THUNDERBOLT, syspath, sysname);
        if (!d)
                return (void) log_oom();
        if (sd_device_get_sysattr_value(dev, "unique_id", &v) >= 0 && removable_device_set_id(d, 0, v) == -EINVAL)
                log_warning("Thunderbolt %s: malformed unique_id, no allow entry can match it.", d->sysname);
        if (sd_device_get_sysattr_value(dev, "vendor_name", &v) >= 0)
                (void) removable_device_set_text(&d->vendor, v);
        if (sd_device_get_sysattr_value(dev, "device_name", &v) >= 0)
                (void) removable_device_set_text(&d->model, v);

        dec = policy_decide_device(t->policy, DEVICE_CATEGORY_THUNDERBOLT, (const char *const *) d->id,
                                   now_usec(CLOCK_REALTIME));
        tbfw_monitor_due(&t->monitor, dec.changes_at);
        s = tbfw_table_get(&t->seen, syspath);
        if (!s)
                return (void) log_oom();
        if (!dec.relevant) {
                /* not blocked: left alone (boltd's or the user's business), listed all the same */
                removable_device_free(s->device);
                s->device = TAKE_PTR(d);
                s->reported = TBFW_NONE;
                s->reported_reason = -1;
                return;
        }
        boltd = thunderbolt_boltd_running(t->sysbus);

        if (dec.allow) {
                s->undone = false;
                if (authorized == 0 && boltd <= 0) {
                        r = tbfw_write_attr(syspath, "authorized", "1\n");
                        if (r < 0)
                                log_warning_errno(r, "Thunderbolt %s: cannot authorize: %m", d->sysname);
                        else
                                done = "authorized";
                } else if (authorized == 0)
                        done = "left_to_boltd";
        } else if (authorized > 0) {
                if (s->undone) {
                        /* Authorized again after we took it back: boltd or a person
                         * did it. Report, do not fight over it. */
                        d->block_error = -EBUSY;
                        done = "reauthorized_by_other";
                } else {
                        r = tbfw_write_attr(syspath, "authorized", "0\n");
                        if (r < 0) {
                                /* The kernel de-authorizes only where the domain says
                                 * deauthorization=1 (a software connection manager). */
                                d->block_error = r;
                                done = "deauthorize_refused";
                        } else {
                                s->undone = true;
                                done = "deauthorized";
                        }
                }
        }
        thunderbolt_report(t, s, d, &dec, security, boltd, done);
        removable_device_free(s->device);
        s->device = TAKE_PTR(d);
}

int thunderbolt_enforcer_start(ThunderboltEnforcer *t) {
        assert(t);
        assert(t->policy);

        return tbfw_monitor_start(&t->monitor, t->event, "thunderbolt", thunderbolt_handle, t);
}

void thunderbolt_enforcer_write_devices(ThunderboltEnforcer *t, JsonWriter *w) {
        if (t)
                tbfw_table_write(&t->seen, t->policy, w);
}

int thunderbolt_enforcer_scan(ThunderboltEnforcer *t) {
        assert(t);

        return tbfw_scan("thunderbolt", thunderbolt_handle, t);
}

static int thunderbolt_domain_cmp(const void *a, const void *b) {
        const PostureTbDomain *x = a, *y = b;
        size_t lx = strlen(x->name), ly = strlen(y->name);

        /* domain2 before domain10 */
        return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->name, y->name);
}

void thunderbolt_posture(ThunderboltEnforcer *t, PostureThunderbolt *ret) {
        _cleanup_(closedirp_) DIR *dir = NULL;
        struct dirent *de;

        assert(ret);

        *ret = (PostureThunderbolt){ .boltd = -1 };
        dir = opendir(TB_SYSFS);
        if (dir)
                while ((de = readdir(dir))) {
                        _cleanup_free_ char *path = NULL;
                        char buf[16];
                        PostureTbDomain *d;

                        if (!startswith(de->d_name, "domain") || strlen(de->d_name) >= POSTURE_NAME_MAX)
                                continue;
                        if (ret->n_domains >= POSTURE_TB_DOMAINS_MAX) {
                                ret->domains_not_shown++;
                                continue;
                        }
                        if (asprintf(&path, TB_SYSFS "/%s", de->d_name) < 0)
                                continue;
                        d = &ret->domains[ret->n_domains++];
                        /* "domainN": a longer name is cut, never overflows */
                        snprintf(d->name, sizeof d->name, "%.*s", (int) sizeof d->name - 1, de->d_name);
                        if (tbfw_read_attr(path, "security", d->security, sizeof d->security) < 0)
                                d->security[0] = 0;
                        d->iommu = tbfw_read_attr(path, "iommu_dma_protection", buf, sizeof buf) < 0 ? -1 : buf[0] == '1';
                }
        qsort(ret->domains, ret->n_domains, sizeof ret->domains[0], thunderbolt_domain_cmp);
        if (ret->n_domains > 0)
                ret->boltd = t ? thunderbolt_boltd_running(t->sysbus) : -1;
        if (ret->boltd < 0)
                ret->boltd = -1;
}
