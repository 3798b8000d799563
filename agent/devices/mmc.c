/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "text.h"
#include "mmc.h"
#include "timeutil.h"
#include "usb-infected.h"
#include "usb-unmount.h"

/* A card seen and decided, until it is removed. */
typedef struct MmcCard {
        char *syspath;
        bool blocked;      /* the decision last acted on */
        usec_t changes_at; /* CLOCK_REALTIME: its entry expires; USEC_INFINITY: never */
        /* Its file systems being unmounted before it is unbound (usb-unmount.h):
         * freed once the decision after it is made. */
        UsbUnmount *unmount;
        bool builtin; /* an eMMC: bound, not decided */
        /* Malware found on it by the media scan (issue 15 item 3): unbound
         * until removed; by its CID after that, until mamorid exits. */
        bool infected;
        char cause[USB_INFECTED_CAUSE_MAX]; /* the av.detection's event id */
        bool remembered;                    /* its CID is in MmcEnforcer.infected (or it has none) */
} MmcCard;

/* A card found infected, remembered by its CID (with a serial only). */
typedef struct MmcInfected {
        char *cid; /* the identity values, joined */
        char cause[USB_INFECTED_CAUSE_MAX];
} MmcInfected;

struct MmcEnforcer {
        sd_event *event;
        EventEmitter emitter;
        Policy *policy;
        sd_device_monitor *monitor;
        sd_event_source *expiry_timer;
        sd_event_source *rescan; /* after a reload: once the reload's own events are out */
        MmcUnmountStart unmount_start;
        void *userdata;
        MmcCard **cards;
        size_t n_cards;
        int autoprobe_error;
        bool started;
        MmcInfected infected[USB_INFECTED_MAX]; /* oldest first */
        size_t n_infected;
};

/* ---- pure: what a card is ---- */

MmcCardKind mmc_card_kind(const char *type) {
        /* An SDIO card's functions (wifi, bluetooth) are devices of the sdio
         * bus, with drivers of their own: holding or unbinding the mmc device
         * would achieve nothing but trouble. "SDcombo" has a memory part. */
        if (streq_ptr(type, "SDIO"))
                return MMC_CARD_SDIO;
        /* The kernel cannot tell us whether the slot is removable (the host's
         * MMC_CAP_NONREMOVABLE is not in sysfs); an "MMC" card is, on every PC
         * of our time, the board's eMMC, and the rare MMCplus card in an SD
         * slot is the price (docs/devices-mmc.md). */
        if (streq_ptr(type, "MMC"))
                return MMC_CARD_BUILTIN;
        return MMC_CARD_DECIDED;
}

int mmc_card_snapshot(const char *syspath, const char *sysname, const MmcCardAttrs *a, RemovableDevice **ret) {
        _cleanup_(removable_device_freep) RemovableDevice *d = NULL;
        int r;

        assert(a);
        assert(ret);

        d = removable_device_new(DEVICE_BUS_MMC, DEVICE_CATEGORY_MMC, syspath, sysname);
        if (!d)
                return -ENOMEM;
        for (size_t k = 0; k < device_bus_n_id_keys(DEVICE_BUS_MMC); k++) {
                r = removable_device_set_id(d, k, a->id[k]);
                if (r == -ENOMEM)
                        return r; /* -EINVAL: malformed, left NULL, so no entry matches */
        }
        /* The CID's product name is the nearest thing to a model; the type
         * ("SD", "MMC") tells people what kind of card it is. */
        r = removable_device_set_text(&d->model, a->id[2]);
        if (r >= 0)
                r = removable_device_set_text(&d->vendor, a->type);
        if (r >= 0)
                r = removable_device_set_text(&d->driver, a->driver);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

/* ---- sysfs writes ---- */

static int mmc_write(const char *path, const char *value, bool append) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(value);
        ssize_t l;

        /* O_APPEND and O_TRUNC are ignored by sysfs; under umockdev they make
         * drivers_probe a log of every name written, and a value exact. */
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | (append ? O_APPEND : O_TRUNC));
        if (fd < 0)
                return negative_errno();
        l = write(fd, value, len);
        if (l < 0)
                return negative_errno();
        return (size_t) l == len ? 0 : -EIO;
}

/* A kernel name, written into a sysfs file that looks devices up by name:
 * nothing that could name another file or end the line early. */
static bool mmc_name_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;
        return n > 0 && n < 128 && !streq(s, ".") && !streq(s, "..") && strcspn(s, "/\n\r ") == n;
}

static int mmc_bus_write_name(const char *file, const char *sysname) {
        _cleanup_free_ char *line = NULL;

        if (!mmc_name_ok(sysname))
                return -EINVAL;
        if (asprintf(&line, "%s\n", sysname) < 0)
                return -ENOMEM;
        return mmc_write(file, line, true);
}

static int mmc_bind(const char *sysname) {
        return mmc_bus_write_name(MMC_BUS_DIR "/drivers_probe", sysname);
}

static int mmc_unbind(const char *driver, const char *sysname) {
        _cleanup_free_ char *path = NULL;

        if (!mmc_name_ok(driver))
                return -EINVAL;
        if (asprintf(&path, MMC_BUS_DIR "/drivers/%s/unbind", driver) < 0)
                return -ENOMEM;
        return mmc_bus_write_name(path, sysname);
}

static void mmc_hold_cards(MmcEnforcer *m) {
        int r = mmc_write(MMC_BUS_DIR "/drivers_autoprobe", "0\n", false);

        if (r == -EROFS && m->autoprobe_error != -EROFS)
                /* mamori.service makes /sys/bus/mmc writable only if it exists at start */
                log_warning("The mmc bus appeared after mamorid started and is read-only to it: SD/MMC cards stay "
                            "held back until mamori.service is restarted.");
        else if (r == -ENOENT && m->autoprobe_error != -ENOENT)
                log_info("No mmc bus (mmc_core is not loaded): SD/MMC cards are held back once it is.");
        else if (r < 0 && r != m->autoprobe_error)
                log_warning_errno(r,
                                  "Cannot write %s/drivers_autoprobe: a new SD/MMC card may bind to its driver "
                                  "before mamorid decides, and is unbound then: %m",
                                  MMC_BUS_DIR);
        else if (r >= 0 && m->autoprobe_error < 0)
                log_info("SD/MMC cards are held back from their driver until mamorid decides.");
        m->autoprobe_error = r;
}

/* ---- tracking ---- */

static MmcCard *mmc_card_free(MmcCard *c) {
        if (!c)
                return NULL;
        free(c->syspath);
        usb_unmount_free(c->unmount);
        free(c);
        return NULL;
}

static MmcCard *mmc_find(MmcEnforcer *m, const char *syspath) {
        for (size_t i = 0; i < m->n_cards; i++)
                if (streq(m->cards[i]->syspath, syspath))
                        return m->cards[i];
        return NULL;
}

static void mmc_forget(MmcEnforcer *m, const char *syspath) {
        for (size_t i = 0; i < m->n_cards; i++)
                if (streq(m->cards[i]->syspath, syspath)) {
                        mmc_card_free(m->cards[i]);
                        m->cards[i] = m->cards[--m->n_cards];
                        return;
                }
}

static MmcCard *mmc_track(MmcEnforcer *m, const char *syspath) {
        MmcCard *c, **n;

        if (m->n_cards >= 4096) /* a card reader has one slot; this is a runaway */
                return NULL;
        n = reallocarray(m->cards, m->n_cards + 1, sizeof *n);
        if (!n)
                return NULL;
        m->cards = n;
        c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        *c = (MmcCard){ .syspath = strdup(syspath), .changes_at = USEC_INFINITY };
        if (!c->syspath)
                return mmc_card_free(c);
        m->cards[m->n_cards++] = c;
        return c;
}

/* ---- deciding ---- */

static void mmc_emit(MmcEnforcer *m, const RemovableDevice *d, const Decision *dec, const MountList *mounted,
                     const UsbUnmount *unmounted, const char *cause) {
        _cleanup_(event_freep) Event *e = NULL;
        NoticeDevice nd;
        int r;

        r = device_report_build(m->policy, d, dec, &e);
        if (r < 0)
                return (void) log_error_errno(r, "Cannot build the event of SD/MMC card %s: %m", d->sysname);
        if (cause && e->kind != EVENT_DEVICE_ALLOWED) {
                /* found infected: what found it, the av.detection */
                if (!isempty(cause))
                        json_kv_string(event_body(e), "cause", cause);
                e->severity = EVENT_SEVERITY_CRITICAL;
        }
        if (unmounted && e->kind != EVENT_DEVICE_ALLOWED) {
                /* what was done before the unbind (docs/devices-mmc.md) */
                usb_unmount_write(unmounted, event_body(e));
                (void) event_set_message(e, "%s; its file systems were unmounted first: %s", strempty(e->message),
                                         strna(usb_unmount_result(unmounted)));
        } else if (mounted && mounted->n > 0) {
                /* mamorid unbinds a blocked card whatever is mounted from it
                 * (docs/devices-mmc.md): the event says what was. */
                JsonWriter *w = event_body(e);
                json_key(w, "mounted");
                json_array_begin(w);
                for (size_t i = 0; i < mounted->n; i++) {
                        /* a mount point may carry a volume label: sanitized like device strings */
                        _cleanup_free_ char *p = text_sanitize(mounted->paths[i], strlen(mounted->paths[i]), 4096, NULL);
                        json_string(w, p ?: "");
                }
                json_array_end(w);
                if (json_error(w) < 0)
                        return (void) log_oom();
        }
        device_report_notice_device(d, &nd);
        (void) event_emit(&m->emitter, TAKE_PTR(e),
                          &(EventContext){ .decision = dec, .removable = &nd, .now = now_usec(CLOCK_REALTIME) });
}

static int mmc_defer_scan(MmcEnforcer *m);

static void mmc_on_unmount_done(UsbUnmount *j, void *userdata) {
        /* Decided again from a fresh scan, not from inside the job's callback
         * (the decision frees the job). */
        (void) mmc_defer_scan(userdata); /* else: at the next uevent, reload or expiry */
}

/* Starts unmounting the card's mounted file systems; true when it did. */
static bool mmc_unmount_first(MmcEnforcer *m, MmcCard *c, sd_device *dev, const char *name) {
        _cleanup_(mount_list_done) MountList mounts = { 0 };
        _cleanup_free_ dev_t *devs = NULL;
        size_t n_devs = 0;
        int r;

        if (!m->unmount_start)
                return false;
        r = usb_unmount_find(dev, &mounts, &devs, &n_devs);
        if (r < 0)
                log_warning_errno(r, "Cannot tell whether SD/MMC card %s has mounted file systems: %m", name);
        if (r <= 0)
                return false;
        r = m->unmount_start(m->userdata, &mounts, TAKE_PTR(devs), n_devs, mmc_on_unmount_done, m, &c->unmount);
        if (r < 0) {
                log_error_errno(r, "Cannot unmount the file systems of SD/MMC card %s, unbinding it now: %m", name);
                return false;
        }
        log_notice("SD/MMC card %s is to be blocked with %zu file system(s) mounted: unmounting them first "
                   "(at most %llu s).",
                   name, mounts.n, (unsigned long long) (USB_UNMOUNT_TIMEOUT_USEC / USEC_PER_SEC));
        return true;
}

/* ---- found infected (issue 15 item 3) ---- */

/* The card's identity values joined ("\x1f" between), or NULL when it has no
 * serial: such a card cannot be told from others and is not remembered. */
static char *mmc_cid_key(const RemovableDevice *d) {
        const char *const *keys = device_bus_id_keys(DEVICE_BUS_MMC);
        char *s = NULL;
        size_t len = 0;
        bool serial = false;
        FILE *f;

        for (size_t k = 0; keys[k]; k++)
                serial = serial || (streq(keys[k], "serial") && d->id[k]);
        if (!serial)
                return NULL;
        f = open_memstream(&s, &len);
        if (!f)
                return NULL;
        for (size_t k = 0; keys[k]; k++)
                fprintf(f, "%s%s", k ? "\x1f" : "", strempty(d->id[k]));
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

static MmcInfected *mmc_infected_find(MmcEnforcer *m, const char *cid) {
        for (size_t i = 0; cid && i < m->n_infected; i++)
                if (streq(m->infected[i].cid, cid))
                        return &m->infected[i];
        return NULL;
}

/* Remembers a card found infected by its CID; at most USB_INFECTED_MAX, the
 * oldest forgotten. */
static void mmc_infected_remember(MmcEnforcer *m, const RemovableDevice *d, const char *cause) {
        _cleanup_free_ char *cid = mmc_cid_key(d);

        if (!cid) {
                log_warning("SD card %s found infected has no serial: it is unbound until it is removed, and "
                            "cannot be recognized when inserted again.",
                            d->sysname);
                return;
        }
        if (mmc_infected_find(m, cid))
                return;
        if (m->n_infected == USB_INFECTED_MAX) {
                log_warning("More than %d SD cards were found infected since mamorid started: the oldest is "
                            "forgotten and would be let in again when inserted.",
                            USB_INFECTED_MAX);
                free(m->infected[0].cid);
                memmove(&m->infected[0], &m->infected[1], (USB_INFECTED_MAX - 1) * sizeof m->infected[0]);
                m->n_infected--;
        }
        m->infected[m->n_infected] = (MmcInfected){ .cid = TAKE_PTR(cid) };
        (void) snprintf(m->infected[m->n_infected].cause, sizeof m->infected[0].cause, "%s", strempty(cause));
        m->n_infected++;
}

/* The cause when the card (this insertion) or its CID was found infected; NULL when not. */
static const char *mmc_infected_cause(MmcEnforcer *m, MmcCard *c, const RemovableDevice *d) {
        _cleanup_free_ char *cid = NULL;
        MmcInfected *e;

        if (c && c->infected) {
                if (!c->remembered)
                        mmc_infected_remember(m, d, c->cause); /* its CID is read now */
                c->remembered = true;
                return c->cause;
        }
        if (m->n_infected == 0)
                return NULL;
        cid = mmc_cid_key(d);
        e = mmc_infected_find(m, cid);
        if (!e)
                return NULL;
        if (c) {
                /* inserted again: this insertion stays unbound even if the CID is forgotten */
                c->infected = c->remembered = true;
                memcpy(c->cause, e->cause, sizeof c->cause);
                return c->cause;
        }
        return e->cause;
}

static void mmc_decide(MmcEnforcer *m, sd_device *dev, bool is_new) {
        _cleanup_(removable_device_freep) RemovableDevice *d = NULL;
        _cleanup_(mount_list_done) MountList mounts = { 0 };
        _cleanup_free_ dev_t *devs = NULL;
        const char *syspath = NULL, *sysname = NULL;
        MmcCardAttrs a = { 0 };
        const char *const *keys = device_bus_id_keys(DEVICE_BUS_MMC);
        usec_t now = now_usec(CLOCK_REALTIME);
        bool blocked, changed = is_new, acted = false;
        const char *cause;
        size_t n_devs = 0;
        Decision dec;
        MmcCard *c;
        int r;

        if (sd_device_get_syspath(dev, &syspath) < 0 || sd_device_get_sysname(dev, &sysname) < 0)
                return;
        /* A uevent handled after its card left (a bind, then the remove):
         * what it carries is stale, and there is nothing to act on. */
        if (access(syspath, F_OK) < 0) {
                mmc_forget(m, syspath);
                return;
        }
        (void) sd_device_get_sysattr_value(dev, "type", &a.type);
        switch (mmc_card_kind(a.type)) {
        case MMC_CARD_SDIO:
                return;
        case MMC_CARD_BUILTIN:
                /* once per plug (a card seen first), so that an admin's unbind stays */
                if (mmc_find(m, syspath))
                        return;
                c = mmc_track(m, syspath);
                if (c)
                        c->builtin = true;
                if (sd_device_get_driver(dev, &a.driver) < 0) {
                        log_info("Built-in eMMC %s: bound to its driver, not decided (docs/devices-mmc.md).", sysname);
                        r = mmc_bind(sysname);
                        if (r < 0)
                                log_warning_errno(r, "Cannot bind eMMC %s to its driver: %m", sysname);
                }
                return;
        case MMC_CARD_DECIDED:
                break;
        }
        for (size_t k = 0; keys[k]; k++)
                (void) sd_device_get_sysattr_value(dev, keys[k], &a.id[k]);
        (void) sd_device_get_driver(dev, &a.driver);
        r = mmc_card_snapshot(syspath, sysname, &a, &d);
        if (r < 0)
                return (void) log_oom();

        dec = policy_decide_device(m->policy, DEVICE_CATEGORY_MMC, (const char *const *) d->id, now);

        c = mmc_find(m, syspath);
        if (!c) {
                c = mmc_track(m, syspath);
                if (!c)
                        log_oom(); /* decided and acted on all the same; only not remembered */
                changed = true;
        }
        /* Found infected, now or by its CID before: unbound whatever allows it. */
        cause = mmc_infected_cause(m, c, d);
        if (cause)
                decision_set_infected_device(&dec, DEVICE_CATEGORY_MMC);
        blocked = dec.relevant && !dec.allow;
        if (c && c->blocked != blocked)
                changed = true;

        if (c && c->unmount && !usb_unmount_finished(c->unmount)) {
                log_debug("SD/MMC card %s: its file systems are being unmounted; deciding it after.", d->sysname);
                return;
        }
        if (blocked && a.driver) {
                /* Held back cards have no driver: this one bound before the
                 * hold was in place, or lost its entry in a reload. Its
                 * mounts are unmounted first (once), like a USB stick's. */
                if (c && !c->unmount && mmc_unmount_first(m, c, dev, d->sysname))
                        return; /* decided again when the unmount ends */
                if (usb_unmount_find(dev, &mounts, &devs, &n_devs) > 0)
                        /* (the mount points, which may carry a volume label, are in the event, sanitized) */
                        log_warning("SD/MMC card %s has %zu mounted file system(s) and is unbound now: unsaved data "
                                    "is lost.",
                                    d->sysname, mounts.n);
                r = mmc_unbind(a.driver, sysname);
                if (r < 0) {
                        d->block_error = r;
                        log_error_errno(r, "Cannot unbind SD/MMC card %s from %s: %m", d->sysname, d->driver);
                }
                acted = true;
        } else if (!blocked && !a.driver) {
                r = mmc_bind(sysname);
                if (r < 0)
                        log_warning_errno(r, "Cannot bind SD/MMC card %s to its driver: %m", d->sysname);
        }

        if (c) {
                c->blocked = blocked;
                c->changes_at = dec.changes_at;
        }
        if (changed || acted)
                mmc_emit(m, d, &dec, &mounts, c && c->unmount && usb_unmount_finished(c->unmount) ? c->unmount : NULL,
                         cause);
        /* a finished unmount is spent, whatever was decided after it */
        if (c && c->unmount && usb_unmount_finished(c->unmount))
                c->unmount = usb_unmount_free(c->unmount);
}

static void mmc_rearm(MmcEnforcer *m);

static void mmc_scan(MmcEnforcer *m) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
        int r;

        r = sd_device_enumerator_new(&e);
        if (r >= 0)
                r = sd_device_enumerator_add_match_subsystem(e, "mmc", true);
        if (r < 0)
                return (void) log_error_errno(r, "Cannot enumerate SD/MMC cards: %m");
        (void) sd_device_enumerator_allow_uninitialized(e);
        for (sd_device *d = sd_device_enumerator_get_device_first(e); d; d = sd_device_enumerator_get_device_next(e))
                mmc_decide(m, d, false);
        mmc_rearm(m);
}

static int mmc_on_expiry(sd_event_source *s, uint64_t usec, void *userdata) {
        mmc_scan(userdata);
        return 0;
}

/* One timer at the earliest expiry of an entry that allows a card. */
static void mmc_rearm(MmcEnforcer *m) {
        usec_t next = USEC_INFINITY, now = now_usec(CLOCK_REALTIME);
        int r;

        for (size_t i = 0; i < m->n_cards; i++)
                if (m->cards[i]->changes_at > now && m->cards[i]->changes_at < next)
                        next = m->cards[i]->changes_at;
        if (next == USEC_INFINITY) {
                if (m->expiry_timer)
                        (void) sd_event_source_set_enabled(m->expiry_timer, SD_EVENT_OFF);
                return;
        }
        if (m->expiry_timer) {
                r = sd_event_source_set_time(m->expiry_timer, next);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->expiry_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(m->event, &m->expiry_timer, CLOCK_REALTIME, next, 1, mmc_on_expiry, m);
        if (r < 0)
                log_error_errno(r, "Cannot watch the expiry of SD/MMC approvals: %m");
}

static int mmc_on_uevent(sd_device_monitor *mon, sd_device *dev, void *userdata) {
        sd_device_action_t action;

        if (sd_device_get_action(dev, &action) >= 0)
                mmc_enforcer_handle(userdata, dev, action);
        return 0;
}

void mmc_enforcer_handle(MmcEnforcer *m, sd_device *dev, sd_device_action_t action) {
        const char *subsystem = NULL, *sysname = NULL, *syspath = NULL;

        assert(m);
        assert(dev);
        if (!m->policy || sd_device_get_subsystem(dev, &subsystem) < 0 || sd_device_get_sysname(dev, &sysname) < 0 ||
            sd_device_get_syspath(dev, &syspath) < 0)
                return;
        if (streq(subsystem, "module")) {
                /* mmc_core loaded after mamorid started: hold cards now (the
                 * udev rule does too); mmc_block loaded: bind allowed cards. */
                if (action == SD_DEVICE_ADD && (streq(sysname, "mmc_core") || streq(sysname, "mmc_block"))) {
                        mmc_hold_cards(m);
                        mmc_scan(m);
                }
                return;
        }
        switch (action) {
        case SD_DEVICE_REMOVE:
                mmc_forget(m, syspath);
                mmc_rearm(m);
                break;
        case SD_DEVICE_ADD:
                /* The first card can come with the bus: hold the next ones. */
                if (m->autoprobe_error < 0)
                        mmc_hold_cards(m);
                mmc_decide(m, dev, true);
                mmc_rearm(m);
                break;
        case SD_DEVICE_BIND:
        case SD_DEVICE_CHANGE:
        case SD_DEVICE_MOVE:
                mmc_decide(m, dev, false);
                mmc_rearm(m);
                break;
        default: /* unbind: a card that lost its driver stays so */
                break;
        }
}

/* ---- life ---- */

int mmc_enforcer_new(sd_event *event, EventEmitter emitter, MmcUnmountStart unmount_start, void *userdata,
                     MmcEnforcer **ret) {
        MmcEnforcer *m;

        assert(event);
        assert(ret);

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->emitter = emitter;
        m->unmount_start = unmount_start;
        m->userdata = userdata;
        m->autoprobe_error = -ENODATA; /* not tried yet */
        *ret = m;
        return 0;
}

MmcEnforcer *mmc_enforcer_free(MmcEnforcer *m) {
        if (!m)
                return NULL;
        if (m->monitor) {
                (void) sd_device_monitor_stop(m->monitor);
                sd_device_monitor_unref(m->monitor);
        }
        sd_event_source_disable_unref(m->expiry_timer);
        sd_event_source_disable_unref(m->rescan);
        for (size_t i = 0; i < m->n_cards; i++)
                mmc_card_free(m->cards[i]);
        free(m->cards);
        for (size_t i = 0; i < m->n_infected; i++)
                free(m->infected[i].cid);
        policy_unref(m->policy);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

int mmc_enforcer_start(MmcEnforcer *m) {
        int r;

        assert(m);
        assert(m->policy);

        /* Hold first, listen next, scan last: a card that comes in between
         * is seen by the scan or waits in the socket; deciding it twice is
         * harmless. */
        mmc_hold_cards(m);
        r = sd_device_monitor_new(&m->monitor);
        if (r < 0)
                return log_error_errno(r, "Cannot open the udev monitor for SD/MMC cards: %m");
        r = sd_device_monitor_filter_add_match_subsystem_devtype(m->monitor, "mmc", NULL);
        if (r >= 0)
                r = sd_device_monitor_filter_add_match_subsystem_devtype(m->monitor, "module", NULL);
        if (r >= 0)
                r = sd_device_monitor_attach_event(m->monitor, m->event);
        if (r >= 0)
                r = sd_device_monitor_start(m->monitor, mmc_on_uevent, m);
        if (r < 0)
                return log_error_errno(r, "Cannot listen for SD/MMC cards: %m");
        (void) sd_event_source_set_priority(sd_device_monitor_get_event_source(m->monitor), SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_device_monitor_set_description(m->monitor, "mmc-monitor");
        m->started = true;
        mmc_scan(m);
        return 0;
}

static int mmc_on_rescan(sd_event_source *s, void *userdata) {
        mmc_scan(userdata);
        return 0;
}

static int mmc_defer_scan(MmcEnforcer *m) {
        int r;

        if (m->rescan)
                r = sd_event_source_set_enabled(m->rescan, SD_EVENT_ONESHOT);
        else
                r = sd_event_add_defer(m->event, &m->rescan, mmc_on_rescan, m);
        if (r >= 0)
                (void) sd_event_source_set_priority(m->rescan, SD_EVENT_PRIORITY_IMPORTANT);
        if (r < 0)
                return log_error_errno(r, "Cannot defer the decisions on SD/MMC cards: %m");
        return 0;
}

void mmc_enforcer_set_policy(MmcEnforcer *m, Policy *p) {
        Policy *old;

        assert(m);
        old = m->policy;
        m->policy = policy_ref(p);
        policy_unref(old);
        /* Deferred: config.changed comes first, then what it changed. */
        if (m->started && mmc_defer_scan(m) < 0)
                mmc_scan(m);
}

int mmc_enforcer_autoprobe_error(const MmcEnforcer *m) {
        assert(m);
        return m->autoprobe_error;
}

/* ---- mamorictl devices ---- */

static void mmc_write_rule(JsonWriter *w, const AllowEntry *e) {
        json_key(w, "rule");
        json_object_begin(w);
        json_kv_string(w, "file", e->file);
        json_kv_uint(w, "line", e->line);
        if (e->label)
                json_kv_string(w, "label", e->label);
        if (e->expires)
                json_kv_string(w, "expires", e->expires);
        json_object_end(w);
}

void mmc_enforcer_write_devices(MmcEnforcer *m, JsonWriter *w) {
        usec_t now = now_usec(CLOCK_REALTIME);

        assert(w);
        if (!m || !m->policy)
                return;
        for (size_t i = 0; i < m->n_cards; i++) {
                _cleanup_(sd_device_unrefp) sd_device *dev = NULL;
                _cleanup_(removable_device_freep) RemovableDevice *d = NULL;
                const char *const *keys = device_bus_id_keys(DEVICE_BUS_MMC);
                const char *sysname = NULL;
                MmcCardAttrs a = { 0 };
                Decision dec;
                bool blocked;

                if (m->cards[i]->builtin || sd_device_new_from_syspath(&dev, m->cards[i]->syspath) < 0 ||
                    sd_device_get_sysname(dev, &sysname) < 0)
                        continue;
                /* read again, as decided: what the card says now */
                (void) sd_device_get_sysattr_value(dev, "type", &a.type);
                for (size_t k = 0; keys[k]; k++)
                        (void) sd_device_get_sysattr_value(dev, keys[k], &a.id[k]);
                (void) sd_device_get_driver(dev, &a.driver);
                if (mmc_card_snapshot(m->cards[i]->syspath, sysname, &a, &d) < 0)
                        continue;
                dec = policy_decide_device(m->policy, DEVICE_CATEGORY_MMC, (const char *const *) d->id, now);
                if (m->cards[i]->infected)
                        decision_set_infected_device(&dec, DEVICE_CATEGORY_MMC); /* as acted on */
                blocked = dec.relevant && !dec.allow;
                json_object_begin(w);
                json_kv_string(w, "syspath", m->cards[i]->syspath);
                device_report_write_device(w, d);
                json_key(w, "decision");
                json_object_begin(w);
                json_kv_string(w, "action", blocked ? "blocked" : "allowed");
                json_kv_string(w, "reason",
                               dec.relevant ? decision_reason_to_string(dec.reason) : "category_not_blocked");
                json_kv_string(w, "explanation", device_report_explanation(d, &dec));
                if (dec.entry)
                        mmc_write_rule(w, dec.entry);
                json_kv_bool(w, "fail_closed", m->policy->failsafe);
                json_object_end(w);
                json_object_end(w);
        }
}

int mmc_enforcer_block_infected(MmcEnforcer *m, dev_t devnum, const char *cause) {
        _cleanup_(sd_device_unrefp) sd_device *b = NULL;
        _cleanup_free_ char *path = NULL;
        const char *syspath = NULL, *sysname = NULL;
        sd_device *card;
        MmcCard *c;
        int r;

        assert(m);

        if (!m->policy)
                return -ENOTCONN;
        r = usb_unmount_block_syspath(devnum, &path);
        if (r < 0)
                return r;
        r = sd_device_new_from_syspath(&b, path);
        if (r < 0)
                return r;
        if (sd_device_get_parent_with_subsystem_devtype(b, "mmc", NULL, &card) < 0 ||
            sd_device_get_syspath(card, &syspath) < 0 || sd_device_get_sysname(card, &sysname) < 0)
                return -ENODEV;
        c = mmc_find(m, syspath);
        if (c && c->builtin) {
                /* the eMMC on the board, perhaps the system disk: never unbound */
                log_error("Malware was found on the built-in eMMC %s: it is not unbound (docs/devices-mmc.md).", sysname);
                return -EPERM;
        }
        if (!c) {
                c = mmc_track(m, syspath);
                if (!c)
                        return -ENOMEM;
        }
        if (c->infected)
                return 1; /* another finding on it: unbound already */
        log_error("Malware was found on SD card %s: unbinding it (cause %s).", sysname,
                  isempty(cause) ? "unknown" : cause);
        c->infected = true;
        (void) snprintf(c->cause, sizeof c->cause, "%s", strempty(cause));
        mmc_decide(m, card, false);
        mmc_rearm(m);
        return 0;
}
