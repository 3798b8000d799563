/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "usb-authorize.h"
#include "usb-enforce.h"
#include "usb-infected.h"
#include "usb-modalias.h"
#include "usb-readonly.h"
#include "usb-repeat.h"
#include "usb-report.h"
#include "usb-sysfs.h"
#include "usb-told.h"
#include "usb-unmount.h"

/* Interfaces of one plug arrive within a few ms; one event describes them all. */
#define REPORT_SETTLE_USEC (50 * USEC_PER_MSEC)
/* ...but a device that keeps changing is reported at the latest this long
 * after its first change. */
#define REPORT_SETTLE_MAX_USEC (1 * USEC_PER_SEC)

typedef struct Tracked Tracked;
struct Tracked {
        Tracked *next, *prev;
        char *syspath;
        UsbDevice *snapshot;
        char *reported_key; /* what the last event said; NULL: nothing reported yet */
        bool pending;
        bool settled;          /* its "bind" (or a scan) was seen: the kernel has made every interface file */
        bool told_blocked;     /* the person was told it is blocked, and it has not been usable since */
        bool reported_allowed; /* the last event about it was usb.allowed: it was usable */
        usec_t pending_since, report_due; /* CLOCK_MONOTONIC; each device settles on its own */
        usec_t changes_at;
        usec_t warn_at;    /* CLOCK_REALTIME: the expiry warning is due; USEC_INFINITY: none */
        usec_t warned_for; /* the expiry (changes_at) already warned of */
        /* Its file systems being unmounted before it is blocked (usb-unmount.h);
         * once finished, kept for the usb.blocked event that follows. */
        UsbUnmount *unmount;
        bool unmount_done; /* it finished: the next decision blocks without looking again */
        /* A root hub whose new interfaces start authorized (its
         * interface_authorized_default is not 0, and we could not set it):
         * a driver can bind to a stick there before mamorid acts. */
        bool hub_open;
        /* Its read-only decision could not be written: kept blocked (usb_enforcer_hand_access()). */
        bool access_failed;
        bool read_only;         /* let in read-only: verified (usb_enforcer_verify_readonly()) */
        bool readonly_violated; /* found writable: blocked until it is plugged in again */
        /* Malware found on it by the media scan (issue 15 item 3): blocked
         * until unplugged; by its identity (u->infected) after that, until
         * mamorid exits. infected_cause: the av.detection's event id. */
        bool infected;
        char infected_cause[USB_INFECTED_CAUSE_MAX];
};

struct UsbEnforcer {
        sd_event *event;
        Policy *policy; /* the one in force (usb_enforcer_set_policy()) */
        EventEmitter emitter;
        UsbEnforcerHooks hooks;
        void *userdata; /* of the hooks */
        Tracked *devices;
        size_t n_devices;
        sd_event_source *report_timer;
        sd_event_source *expiry_timer;
        UsbAliasResolver *aliases; /* the kernel's module aliases; never NULL after new() */
        UsbRepeatTable repeats;    /* blocks of the same device, coalesced (usb-repeat.h) */
        sd_event_source *repeat_timer;
        char *told_path;      /* the record of told_blocked across restarts (usb-told.h) */
        UsbTold *told_before; /* what the previous run had told, not yet matched to a device */
        size_t n_told_before;
        bool told_dirty;                   /* the record is behind: written once per batch of reports */
        char *readonly_dir;                /* decisions for mamori-block-access (usb-readonly.h) */
        sd_event_source *mountinfo_source; /* /proc/self/mountinfo changed: verify read-only devices */
        UsbInfectedSet infected;           /* identities found infected since the start (usb-infected.h) */
};

static Tracked *usb_enforcer_tracked_free(Tracked *t) {
        if (!t)
                return NULL;
        free(t->syspath);
        usb_device_free(t->snapshot);
        free(t->reported_key);
        usb_unmount_free(t->unmount);
        free(t);
        return NULL;
}

static void usb_enforcer_tracked_unlink(UsbEnforcer *u, Tracked *t) {
        /* The list's invariant (the head has no prev), which the analyzer cannot know. */
        assert(t->prev ? t->prev->next == t && u->devices != t : u->devices == t);
        if (t->prev)
                t->prev->next = t->next;
        else
                u->devices = t->next;
        if (t->next)
                t->next->prev = t->prev;
        u->n_devices--;
}

static Tracked *usb_enforcer_tracked_find(UsbEnforcer *u, const char *syspath) {
        for (Tracked *t = u->devices; t; t = t->next)
                if (streq(t->syspath, syspath))
                        return t;
        return NULL;
}

static Tracked *usb_enforcer_tracked_get(UsbEnforcer *u, const char *syspath) {
        Tracked *t = usb_enforcer_tracked_find(u, syspath);
        if (t)
                return t;
        t = calloc(1, sizeof *t);
        if (!t)
                return NULL;
        t->syspath = strdup(syspath);
        if (!t->syspath)
                return usb_enforcer_tracked_free(t);
        t->changes_at = USEC_INFINITY;
        t->warn_at = USEC_INFINITY;
        t->warned_for = USEC_INFINITY;
        t->next = u->devices;
        if (u->devices)
                u->devices->prev = t;
        u->devices = t;
        u->n_devices++;
        return t;
}

UsbEnforcer *usb_enforcer_free(UsbEnforcer *u) {
        if (!u)
                return NULL;
        while (u->devices) {
                Tracked *t = u->devices;
                usb_enforcer_tracked_unlink(u, t);
                usb_enforcer_tracked_free(t);
        }
        sd_event_source_disable_unref(u->report_timer);
        sd_event_source_disable_unref(u->expiry_timer);
        sd_event_source_disable_unref(u->repeat_timer);
        usb_repeat_table_done(&u->repeats);
        usb_alias_resolver_free(u->aliases);
        free(u->told_path);
        free(u->readonly_dir);
        if (u->mountinfo_source) {
                (void) close(sd_event_source_get_io_fd(u->mountinfo_source));
                sd_event_source_disable_unref(u->mountinfo_source);
        }
        free(u->told_before);
        usb_infected_set_done(&u->infected);
        policy_unref(u->policy);
        sd_event_unref(u->event);
        free(u);
        return NULL;
}

static void usb_enforcer_repeat_payload_free(void *p) {
        event_free(p);
}

int usb_enforcer_new(sd_event *event, const char *runtime_dir, EventEmitter emitter, const UsbEnforcerHooks *hooks,
                     void *userdata, UsbEnforcer **ret) {
        _cleanup_(usb_enforcer_freep) UsbEnforcer *u = calloc(1, sizeof *u);
        int r;

        assert(event);
        assert(runtime_dir);
        assert(hooks);
        assert(ret);

        if (!u)
                return -ENOMEM;
        u->event = sd_event_ref(event);
        u->emitter = emitter;
        u->hooks = *hooks;
        u->userdata = userdata;
        u->repeats.payload_free = usb_enforcer_repeat_payload_free;
        /* MAMORI_MODULES_DIR: a modules directory other than the running
         * kernel's (the tests build one). */
        r = usb_alias_resolver_new(getenv("MAMORI_MODULES_DIR"), &u->aliases);
        if (r < 0)
                return r;
        if (asprintf(&u->told_path, "%s/%s", runtime_dir, USB_TOLD_FILE) < 0) {
                u->told_path = NULL;
                return -ENOMEM;
        }
        u->readonly_dir = usb_readonly_dir(runtime_dir);
        if (!u->readonly_dir)
                return -ENOMEM;
        /* Without it, a device blocked before the restart is told once more. */
        (void) usb_told_load(u->told_path, &u->told_before, &u->n_told_before);
        *ret = TAKE_PTR(u);
        return 0;
}

void usb_enforcer_set_policy(UsbEnforcer *u, Policy *p) {
        Policy *old;

        assert(u);

        old = u->policy;
        u->policy = policy_ref(p);
        policy_unref(old);
}

bool usb_enforcer_aliases_available(UsbEnforcer *u, const char **ret_dir) {
        assert(u);

        if (ret_dir)
                *ret_dir = usb_alias_resolver_dir(u->aliases);
        return usb_alias_resolver_available(u->aliases);
}

UsbCounts usb_enforcer_counts(UsbEnforcer *u) {
        UsbCounts c = { 0 };

        assert(u);

        for (Tracked *t = u->devices; t; t = t->next) {
                const UsbDevice *d = t->snapshot;
                if (!d)
                        continue;
                if (d->is_root_hub) {
                        c.root_hubs++;
                        c.root_hubs_open += t->hub_open;
                        continue;
                }
                c.devices++;
                for (size_t k = 0; k < d->n_interfaces; k++)
                        if (d->interfaces[k].category != USB_CATEGORY_OTHER && d->interfaces[k].authorized == 0) {
                                c.blocked++;
                                break;
                        }
        }
        return c;
}

void usb_enforcer_foreach(UsbEnforcer *u, UsbEnforcerVisit visit, void *userdata) {
        assert(u);
        assert(visit);

        for (Tracked *t = u->devices; t; t = t->next)
                if (t->snapshot)
                        visit(t->snapshot, userdata);
}

/* ---- act ---- */

/* "/sys/devices/.../usb2/2-1/2-1.3" -> "/sys/devices/.../usb2" */
static char *usb_enforcer_root_hub_of(const char *syspath) {
        const char *p = strstr(syspath, "/usb");
        const char *end;
        while (p) {
                end = p + 4;
                while (*end >= '0' && *end <= '9')
                        end++;
                if (end > p + 4 && (*end == '/' || *end == 0))
                        return strndup(syspath, (size_t) (end - syspath));
                p = strstr(p + 1, "/usb");
        }
        return NULL;
}

/* began: when the uevent (or scan, or timer) that led here was taken up;
 * settled: every interface file of the device exists by now */
static void usb_enforcer_act(UsbDevice *d, const Decision *dec, usec_t began, bool settled) {
        char id[10];

        for (size_t k = 0; k < d->n_interfaces; k++) {
                UsbInterface *i = &d->interfaces[k];
                bool block = decision_blocks_interface(dec, i);
                int r;

                if (!i->syspath)
                        continue;
                if (block && i->authorized != 0) {
                        r = usb_authorize_interface(i->syspath, i->sysname, false);
                        if (r == -ENOENT)
                                /* gone, or still being created: its own uevent follows */
                                log_debug_errno(r, "Interface %s has no authorized attribute (yet): %m", i->sysname);
                        else if (r < 0) {
                                /* Its event says so: never "blocked" for an interface that works. */
                                i->block_error = r;
                                log_error_errno(r, "Failed to block interface %s (%s) of %s: %m", i->sysname,
                                                usb_category_to_string(i->category), usb_device_id(d, id));
                        } else {
                                i->authorized = 0;
                                i->done = USB_INTERFACE_BLOCKED;
                                if (i->category_source != USB_CATEGORY_FROM_CLASS)
                                        log_info("Blocked interface %s of %s (class %02x/%02x/%02x): %s by %s %s.",
                                                 i->sysname, usb_device_id(d, id), i->cls, i->subclass, i->protocol,
                                                 usb_category_to_string(i->category),
                                                 usb_category_source_phrase(i->category_source), strna(i->category_by));
                                log_debug("Blocked interface %s (%s) in %" PRIu64 " us", i->sysname,
                                          usb_category_to_string(i->category), now_usec(CLOCK_MONOTONIC) - began);
                        }
                } else if (!block && i->authorized == 0) {
                        /* A new interface starts unauthorized (interface_authorized_default=0):
                         * everything the policy does not block is let in here. But an
                         * interface whose name may make it MTP is let in only once the
                         * name can be read: the kernel may create that file only after
                         * announcing the interface; it is there when the device's "bind"
                         * comes. */
                        if (!settled && !i->name_raw && usb_class_name_decides(i->cls)) {
                                log_debug("Interface %s (class %02x) has no name yet; deciding it at the device's bind.",
                                          i->sysname, i->cls);
                                continue;
                        }
                        /* Nor one whose modalias is not there yet (its directory
                         * seen half made, while handling another uevent): the
                         * drivers it resolves to may make it storage. */
                        if (!settled && !i->modalias) {
                                log_debug("Interface %s has no modalias yet; deciding it at the device's bind.",
                                          i->sysname);
                                continue;
                        }
                        r = usb_authorize_interface(i->syspath, i->sysname, true);
                        if (r == -ENOENT)
                                log_debug_errno(r, "Interface %s is gone: %m", i->sysname);
                        else if (r < 0)
                                log_error_errno(r, "Failed to authorize interface %s of %s: %m", i->sysname,
                                                usb_device_id(d, id));
                        else {
                                log_debug("Authorized interface %s (%s%s%s).", i->sysname,
                                          usb_category_to_string(i->category), i->driver_seen ? ", driver seen " : "",
                                          strempty(i->driver_seen));
                                i->authorized = 1;
                                i->done = USB_INTERFACE_AUTHORIZED;
                        }
                }
        }

        /* A device that came up unconfigured (authorized_default=0) has no
         * interfaces to authorize one by one. Configure it when its bus makes
         * new interfaces start unauthorized; otherwise only when nothing on it
         * is blocked. */
        if (d->interfaces_from_descriptors && d->authorized == 0 && !d->is_root_hub) {
                _cleanup_free_ char *hub = usb_enforcer_root_hub_of(d->syspath);
                bool safe = hub && usb_authorize_get_interface_default(hub) == 0;
                if (safe || !dec->relevant || dec->allow) {
                        int r = usb_authorize_device(d->syspath, true);
                        if (r < 0)
                                log_error_errno(r, "Failed to authorize device %s: %m", d->sysname);
                        else
                                d->authorized = 1;
                }
        }
}

/* ---- repeated blocks ---- */

/* One usb.blocked for the blocks of a device that the window coalesced: the
 * latest one's event, with how many there were and when. */
static void usb_enforcer_emit_repeats(UsbEnforcer *u, UsbRepeat *r) {
        Event *e = TAKE_PTR(r->payload);
        char a[RFC3339_MAX], b[RFC3339_MAX];
        JsonWriter *w;

        if (e) {
                w = event_body(e);
                json_kv_uint(w, "repeats", r->repeats);
                json_kv_string(w, "repeats_first", format_rfc3339(a, r->first_at));
                json_kv_string(w, "repeats_last", format_rfc3339(b, r->last_at));
                (void) event_set_message(e, "%s; blocked %u more time%s from %s to %s (one record for repeats within %s)",
                                         strempty(e->message), r->repeats, r->repeats == 1 ? "" : "s", a, b,
                                         "usb.repeat_window");
                e->time = now_usec(CLOCK_REALTIME);
                /* The person was told of the first block within the window. */
                (void) event_emit(&u->emitter, e, &(EventContext){ .told = true });
        }
        usb_repeat_clear(&u->repeats, r);
}

static void usb_enforcer_arm_repeat_timer(UsbEnforcer *u);

/* now: USEC_INFINITY records every count held (stop). */
static void usb_enforcer_emit_due_repeats(UsbEnforcer *u, usec_t now) {
        UsbRepeat r;
        while (usb_repeat_pop_due(&u->repeats, now, &r))
                usb_enforcer_emit_repeats(u, &r);
}

static int usb_enforcer_on_repeat_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        UsbEnforcer *u = userdata;
        usb_enforcer_emit_due_repeats(u, now_usec(CLOCK_MONOTONIC));
        usb_enforcer_arm_repeat_timer(u);
        return 0;
}

/* One timer, due when the earliest window closes; off when none is open. */
static void usb_enforcer_arm_repeat_timer(UsbEnforcer *u) {
        usec_t next = usb_repeat_next_due(&u->repeats);
        int r;

        if (next == USEC_INFINITY) {
                if (u->repeat_timer)
                        (void) sd_event_source_set_enabled(u->repeat_timer, SD_EVENT_OFF);
                return;
        }
        if (u->repeat_timer) {
                r = sd_event_source_set_time(u->repeat_timer, next);
                if (r >= 0)
                        r = sd_event_source_set_enabled(u->repeat_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(u->event, &u->repeat_timer, CLOCK_MONOTONIC, next, 100 * USEC_PER_MSEC,
                                      usb_enforcer_on_repeat_timer, u);
        if (r < 0) {
                /* No timer: record the counts now rather than never. */
                log_warning_errno(r, "Cannot arm the repeat timer, recording repeated blocks now: %m");
                usb_enforcer_emit_due_repeats(u, USEC_INFINITY);
        }
}

/* Takes *e when the block is a repeat (returns true: not to be recorded one by one). */
static bool usb_enforcer_coalesce_block(UsbEnforcer *u, const UsbDevice *d, const Decision *dec, Event **e) {
        usec_t window = u->policy->usb.repeat_window, now = now_usec(CLOCK_MONOTONIC);
        _cleanup_free_ char *identity = NULL;
        UsbRepeat *entry, evicted;
        char id[10];
        int r;

        if (window == 0)
                return false;
        identity = usb_report_identity(d, dec);
        if (!identity)
                return log_oom(), false;
        usb_enforcer_emit_due_repeats(u, now);
        r = usb_repeat_note(&u->repeats, identity, window, now, now_usec(CLOCK_REALTIME), &entry, &evicted);
        if (evicted.identity)
                usb_enforcer_emit_repeats(u, &evicted);
        if (r < 0)
                return log_oom(), false;
        if (r > 0) {
                log_debug("USB device %s (%s) blocked again within the repeat window (%u repeats): one record when it closes.",
                          d->sysname, usb_device_id(d, id), entry->repeats);
                usb_enforcer_repeat_payload_free(entry->payload);
                entry->payload = TAKE_PTR(*e);
        }
        usb_enforcer_arm_repeat_timer(u);
        return r > 0;
}

/* ---- what the person was told ---- */

static bool usb_enforcer_told_matches(const UsbTold *e, const UsbDevice *d) {
        return e->busnum == d->busnum && e->devnum == d->devnum && e->vendor == d->vendor && e->product == d->product;
}

/* Did the previous run tell about this very plug? Takes the entry: asked once per device. */
static bool usb_enforcer_told_before(UsbEnforcer *u, const UsbDevice *d) {
        for (size_t i = 0; i < u->n_told_before; i++)
                if (usb_enforcer_told_matches(&u->told_before[i], d)) {
                        u->told_before[i] = u->told_before[--u->n_told_before];
                        return true;
                }
        return false;
}

static bool usb_enforcer_tracked_has(UsbEnforcer *u, const UsbTold *e) {
        for (Tracked *t = u->devices; t; t = t->next)
                if (t->snapshot && usb_enforcer_told_matches(e, t->snapshot))
                        return true;
        return false;
}

/* The record: the devices told now, and those the previous run told that are
 * still plugged but not reported yet. */
static void usb_enforcer_told_save(UsbEnforcer *u) {
        _cleanup_free_ UsbTold *e = calloc(u->n_devices + u->n_told_before + 1, sizeof *e);
        size_t n = 0;
        int r;

        if (!e)
                return (void) log_oom();
        for (Tracked *t = u->devices; t; t = t->next)
                if (t->told_blocked && t->snapshot)
                        e[n++] = (UsbTold){ t->snapshot->busnum, t->snapshot->devnum, t->snapshot->vendor,
                                            t->snapshot->product };
        for (size_t i = 0; i < u->n_told_before; i++)
                if (usb_enforcer_tracked_has(u, &u->told_before[i]))
                        e[n++] = u->told_before[i];
        r = usb_told_save(u->told_path, e, MIN(n, (size_t) USB_TOLD_MAX));
        if (r < 0)
                log_warning_errno(r, "Cannot record which devices staff were told about in %s: %m", u->told_path);
}

static void usb_enforcer_told_set(UsbEnforcer *u, Tracked *t, bool told) {
        if (t->told_blocked == told)
                return;
        t->told_blocked = told;
        u->told_dirty = true;
}

/* After a batch of reports or a removal: the record and systemd's status
 * line, once for the batch (a thousand sticks at once are a thousand reports). */
static void usb_enforcer_batch_done(UsbEnforcer *u) {
        if (u->told_dirty) {
                u->told_dirty = false;
                usb_enforcer_told_save(u);
        }
        if (u->hooks.changed)
                u->hooks.changed(u->userdata);
}

/* ---- infected (issue 15 item 3) ---- */

/* The cause when t (this plug) or d's identity was found infected; NULL
 * when not ("" when found infected without a known cause). */
static const char *usb_enforcer_infected_cause(UsbEnforcer *u, const Tracked *t, const UsbDevice *d) {
        const UsbInfected *e;

        if (t && t->infected)
                return t->infected_cause;
        e = d ? usb_infected_find(&u->infected, d) : NULL;
        return e ? e->cause : NULL;
}

/* ---- report ---- */

static void usb_enforcer_report_one(UsbEnforcer *u, Tracked *t) {
        _cleanup_free_ char *key = NULL;
        const char *cause;
        Decision dec;
        EventContext ctx;
        Event *e = NULL;
        bool told;
        int r;

        t->pending = false;
        if (!t->snapshot)
                return;
        dec = policy_decide(u->policy, t->snapshot, now_usec(CLOCK_REALTIME));
        cause = usb_enforcer_infected_cause(u, t, t->snapshot);
        if (cause)
                decision_set_infected(&dec, t->snapshot); /* as it was acted on */
        if ((t->access_failed || t->readonly_violated) && decision_read_only(&dec)) {
                dec.allow = false; /* as it was acted on */
                dec.reason = t->readonly_violated ? DECISION_READONLY_VIOLATED : DECISION_READONLY_UNAVAILABLE;
        }
        key = usb_report_key(t->snapshot, &dec);
        if (!key) {
                log_oom();
                return;
        }
        if (streq_ptr(key, t->reported_key))
                return;
        if (!dec.relevant && !t->reported_key)
                return; /* never of a blocked category: nothing to say */

        r = usb_report_build(u->policy, t->snapshot, &dec, &e);
        if (r < 0) {
                log_error_errno(r, "Failed to build the event for %s: %m", t->snapshot->sysname);
                return;
        }
        if (t->unmount && usb_unmount_finished(t->unmount)) {
                /* what was done before this block, or stale if it was not blocked after all */
                if (e->kind == EVENT_USB_BLOCKED) {
                        usb_unmount_write(t->unmount, event_body(e));
                        (void) event_set_message(e, "%s; its file systems were unmounted first: %s",
                                                 strempty(e->message), strna(usb_unmount_result(t->unmount)));
                }
                t->unmount = usb_unmount_free(t->unmount);
        }
        if (cause && e->kind != EVENT_USB_ALLOWED) {
                /* what found it: the av.detection of the media scan */
                if (!isempty(cause))
                        json_kv_string(event_body(e), "cause", cause);
                e->severity = EVENT_SEVERITY_CRITICAL;
        }
        /* Only a new plug can be a repeat: a plugged device that changed (more
         * interfaces, another reason) is a new fact about the same plug. */
        if (e->kind == EVENT_USB_BLOCKED && !t->reported_key && usb_enforcer_coalesce_block(u, t->snapshot, &dec, &e)) {
                /* Blocked as always; its record waits for the window, and the
                 * person was told within it. */
                free(t->reported_key);
                t->reported_key = TAKE_PTR(key);
                usb_enforcer_told_set(u, t, true);
                return;
        }
        /* after usb.readonly_violated, whose notice said it all */
        told = usb_enforcer_told_before(u, t->snapshot) || t->told_blocked || t->readonly_violated;
        if (e->kind == EVENT_USB_BLOCKED && told)
                /* Blocked still (a reload or restart changed only the reason): nothing new to see. */
                log_debug("USB device %s: the person was already told it is blocked; no notice.", t->snapshot->sysname);
        ctx = (EventContext){ .device = t->snapshot, .decision = &dec, .told = told, .was_usable = t->reported_allowed };
        usb_enforcer_told_set(u, t, e->kind == EVENT_USB_BLOCKED);
        t->reported_allowed = e->kind == EVENT_USB_ALLOWED;
        (void) event_emit(&u->emitter, e, &ctx);
        free(t->reported_key);
        t->reported_key = TAKE_PTR(key);
}

static void usb_enforcer_warn_expiry(UsbEnforcer *u, Tracked *t, usec_t now);
static void usb_enforcer_rearm_expiry(UsbEnforcer *u);

static void usb_enforcer_report(UsbEnforcer *u, Tracked *t) {
        usec_t now;

        usb_enforcer_report_one(u, t);
        /* An expiry warning due while the device's report was pending comes
         * after that report (usb.allowed, then usb.expiring). */
        now = now_usec(CLOCK_REALTIME);
        if (t->warn_at <= now)
                usb_enforcer_warn_expiry(u, t, now);
        usb_enforcer_rearm_expiry(u);
}

static void usb_enforcer_arm_report_timer(UsbEnforcer *u);

static int usb_enforcer_on_report_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        UsbEnforcer *u = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        bool pending = false;

        for (Tracked *t = u->devices; t; t = t->next) {
                if (t->pending && t->report_due <= now)
                        usb_enforcer_report(u, t);
                pending = pending || t->pending;
        }
        if (!pending && u->n_told_before > 0) {
                /* Every device of the start has been reported: what the previous
                 * run told and matched nothing is of unplugged devices, whose bus
                 * and device numbers a later plug may reuse. */
                u->told_before = mfree(u->told_before);
                u->n_told_before = 0;
                u->told_dirty = true;
        }
        usb_enforcer_batch_done(u);
        usb_enforcer_arm_report_timer(u);
        return 0;
}

/* One timer for all devices, due when the earliest pending report is. */
static void usb_enforcer_arm_report_timer(UsbEnforcer *u) {
        usec_t next = USEC_INFINITY;
        int r;

        for (Tracked *t = u->devices; t; t = t->next)
                if (t->pending)
                        next = MIN(next, t->report_due);
        if (next == USEC_INFINITY) {
                if (u->report_timer)
                        (void) sd_event_source_set_enabled(u->report_timer, SD_EVENT_OFF);
                return;
        }
        if (u->report_timer) {
                r = sd_event_source_set_time(u->report_timer, next);
                if (r >= 0)
                        r = sd_event_source_set_enabled(u->report_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(u->event, &u->report_timer, CLOCK_MONOTONIC, next, USEC_PER_MSEC,
                                      usb_enforcer_on_report_timer, u);
        if (r < 0) {
                /* No timer: report at once rather than never. */
                log_warning_errno(r, "Cannot arm the report timer, reporting now: %m");
                usb_enforcer_flush(u);
        }
}

/* Interfaces of one plug arrive one uevent at a time, usually within a few
 * ms: the report waits until the device has been quiet for
 * REPORT_SETTLE_USEC (at most REPORT_SETTLE_MAX_USEC after its first change),
 * so that one event describes all its interfaces. Blocking never waits for
 * this. */
static void usb_enforcer_schedule_report(UsbEnforcer *u, Tracked *t) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        if (!t->pending) {
                t->pending = true;
                t->pending_since = now;
        }
        /* Until the device's "bind" the kernel may still be making interfaces
         * (a loaded machine takes longer than the quiet time between two):
         * wait for it, up to the cap, so that the event is not split. */
        if (t->settled)
                t->report_due = MIN(now + REPORT_SETTLE_USEC, t->pending_since + REPORT_SETTLE_MAX_USEC);
        else
                t->report_due = t->pending_since + REPORT_SETTLE_MAX_USEC;
        usb_enforcer_arm_report_timer(u);
}

void usb_enforcer_flush(UsbEnforcer *u) {
        assert(u);

        for (Tracked *t = u->devices; t; t = t->next)
                if (t->pending)
                        usb_enforcer_report(u, t);
        usb_enforcer_emit_due_repeats(u, USEC_INFINITY);
        usb_enforcer_arm_repeat_timer(u);
        usb_enforcer_batch_done(u);
}

/* ---- expiry ---- */

/* usb.expiring and its notice: the approval of a plugged device ends in
 * usb.expiry_warning (docs/notices.md). Once per expiry. */
static void usb_enforcer_warn_expiry(UsbEnforcer *u, Tracked *t, usec_t now) {
        Decision dec;
        Event *e = NULL;
        int r;

        t->warn_at = USEC_INFINITY;
        t->warned_for = t->changes_at;
        if (!t->snapshot || usb_enforcer_infected_cause(u, t, t->snapshot))
                return;
        dec = policy_decide(u->policy, t->snapshot, now);
        if (!dec.relevant || !dec.allow || dec.changes_at == USEC_INFINITY)
                return;
        r = usb_report_build_expiring(u->policy, t->snapshot, &dec, now, &e);
        if (r < 0)
                return (void) log_error_errno(r, "Failed to build the expiry warning for %s: %m", t->snapshot->sysname);
        (void) event_emit(&u->emitter, e, &(EventContext){ .device = t->snapshot, .decision = &dec, .now = now });
}

/* When to warn of the end of the approval that allows t now. */
static void usb_enforcer_plan_warning(UsbEnforcer *u, Tracked *t, const Decision *dec) {
        usec_t ahead = u->policy->usb.expiry_warning;

        t->warn_at = USEC_INFINITY;
        if (ahead == 0 || !dec->relevant || !dec->allow || dec->changes_at == USEC_INFINITY ||
            dec->changes_at == t->warned_for)
                return;
        /* Only an end that blocks is warned of: a longer entry (any_serial
         * behind an exact one) may take over then. policy_decide() is pure. */
        if (t->snapshot) {
                Decision then = policy_decide(u->policy, t->snapshot, dec->changes_at);
                if (then.allow)
                        return; /* decided again at changes_at, and planned again */
        }
        /* approved for less than the warning time: warned at once */
        t->warn_at = dec->changes_at > ahead ? dec->changes_at - ahead : 0;
}

static bool usb_enforcer_unmounting(const Tracked *t) {
        return t->unmount && !usb_unmount_finished(t->unmount);
}

static int usb_enforcer_on_expiry(sd_event_source *s, uint64_t usec, void *userdata) {
        UsbEnforcer *u = userdata;
        usec_t now = now_usec(CLOCK_REALTIME);
        bool expired = false;

        for (Tracked *t = u->devices; t; t = t->next) {
                if (usb_enforcer_unmounting(t))
                        continue; /* decided again when its unmount ends */
                if (t->warn_at <= now && !t->pending)
                        usb_enforcer_warn_expiry(u, t, now);
                expired = expired || t->changes_at <= now;
        }
        if (expired) {
                log_info("An allow entry has expired; re-deciding plugged devices.");
                usb_enforcer_reevaluate(u);
        }
        usb_enforcer_rearm_expiry(u);
        return 0;
}

/* One timer: the earliest expiry or expiry warning; off when there is none. */
static void usb_enforcer_rearm_expiry(UsbEnforcer *u) {
        usec_t next = USEC_INFINITY;
        int r;

        for (Tracked *t = u->devices; t; t = t->next) {
                if (usb_enforcer_unmounting(t))
                        continue; /* its past expiry would fire the timer again and again */
                next = MIN(next, t->changes_at);
                if (!t->pending) /* else usb_enforcer_report() warns, after the report */
                        next = MIN(next, t->warn_at);
        }
        if (next == USEC_INFINITY) {
                if (u->expiry_timer)
                        (void) sd_event_source_set_enabled(u->expiry_timer, SD_EVENT_OFF);
                return;
        }
        if (u->expiry_timer) {
                r = sd_event_source_set_time(u->expiry_timer, next);
                if (r >= 0)
                        r = sd_event_source_set_enabled(u->expiry_timer, SD_EVENT_ONESHOT);
        } else
                /* Rare, and due at the second an approval ends: no coalescing slack. */
                r = sd_event_add_time(u->event, &u->expiry_timer, CLOCK_REALTIME, next, 1, usb_enforcer_on_expiry, u);
        if (r < 0)
                log_error_errno(r, "Cannot arm the expiry timer: %m");
}

/* ---- a device in use ---- */

static void usb_enforcer_process(UsbEnforcer *u, sd_device *dev, bool settles, const char *bound_if,
                                 const char *bound_driver);
static void usb_enforcer_forget(UsbEnforcer *u, const char *syspath);

static void usb_enforcer_on_unmount_done(UsbUnmount *j, void *userdata) {
        UsbEnforcer *u = userdata;
        _cleanup_(sd_device_unrefp) sd_device *dev = NULL;
        Tracked *t = u->devices;

        while (t && t->unmount != j)
                t = t->next;
        if (!t)
                return;
        t->unmount_done = true;
        /* decided again now, from sysfs: blocked whatever the unmount did */
        if (sd_device_new_from_syspath(&dev, t->syspath) >= 0)
                usb_enforcer_process(u, dev, true, NULL, NULL);
        else
                usb_enforcer_forget(u, t->syspath);
}

/* Is an interface about to be blocked bound to a driver now? Only then can a
 * file system of the device be mounted. A plugged device's interfaces start
 * unauthorized: this is false for them, at no cost. */
static bool usb_enforcer_blocks_interface_in_use(const UsbDevice *d, const Decision *dec) {
        for (size_t k = 0; k < d->n_interfaces; k++) {
                const UsbInterface *i = &d->interfaces[k];
                if (i->syspath && i->authorized > 0 && !isempty(i->driver) && decision_blocks_interface(dec, i))
                        return true;
        }
        return false;
}

/* Starts unmounting d's mounted file systems; true when it did (the block waits for it). */
static bool usb_enforcer_unmount_first(UsbEnforcer *u, sd_device *dev, const UsbDevice *d) {
        _cleanup_(mount_list_done) MountList mounts = { 0 };
        _cleanup_free_ dev_t *devs = NULL;
        size_t n_devs = 0;
        Tracked *t;
        int r;

        r = usb_unmount_find(dev, &mounts, &devs, &n_devs);
        if (r < 0) {
                log_warning_errno(r, "Cannot tell whether %s has mounted file systems, blocking it now: %m", d->sysname);
                return false;
        }
        if (r == 0)
                return false;
        t = usb_enforcer_tracked_get(u, d->syspath);
        if (!t)
                return log_oom(), false;
        t->unmount = usb_unmount_free(t->unmount);
        r = u->hooks.unmount_start ? u->hooks.unmount_start(u->userdata, &mounts, TAKE_PTR(devs), n_devs,
                                                            usb_enforcer_on_unmount_done, u, &t->unmount)
                                   : -EOPNOTSUPP;
        if (r < 0) {
                log_error_errno(r, "Cannot unmount the file systems of %s, blocking it now: %m", d->sysname);
                return false;
        }
        log_notice("USB device %s is to be blocked with %zu file system(s) mounted: unmounting them first "
                   "(at most %llu s).",
                   d->sysname, mounts.n, (unsigned long long) (USB_UNMOUNT_TIMEOUT_USEC / USEC_PER_SEC));
        return true;
}

/* ---- the pipeline ---- */

/* Does now hold fewer interfaces than before, and none that before lacked? */
static bool usb_enforcer_interfaces_vanishing(const UsbDevice *before, const UsbDevice *now) {
        if (now->n_interfaces >= before->n_interfaces)
                return false;
        for (size_t i = 0; i < now->n_interfaces; i++) {
                bool known = false;
                for (size_t k = 0; k < before->n_interfaces && !known; k++)
                        known = streq(now->interfaces[i].sysname, before->interfaces[k].sysname);
                if (!known)
                        return false;
        }
        return true;
}

/* What the last snapshot knew of an interface that is still there: what
 * mamorid did to it, the category driver that was bound to it (a driver that
 * bound once is what the interface is, also after blocking unbound it), and
 * the modules its modalias resolved to. Then resolves what is new, and
 * classifies. */
static void usb_enforcer_enrich(UsbEnforcer *u, UsbDevice *d, const UsbDevice *before, const char *bound_if,
                                const char *bound_driver) {
        const UsbPolicy *p = &u->policy->usb;

        for (size_t k = 0; k < d->n_interfaces; k++) {
                UsbInterface *i = &d->interfaces[k];
                const UsbInterface *o = NULL;

                if (isempty(i->driver) && usb_driver_name_valid(bound_driver) && streq_ptr(i->sysname, bound_if))
                        (void) free_and_strdup(&i->driver, bound_driver); /* OOM: the link said no driver */
                for (size_t j = 0; before && j < before->n_interfaces && !o; j++)
                        if (streq(before->interfaces[j].sysname, i->sysname) && before->interfaces[j].cls == i->cls &&
                            before->interfaces[j].subclass == i->subclass &&
                            before->interfaces[j].protocol == i->protocol)
                                o = &before->interfaces[j];
                if (o) {
                        i->done = o->done;
                        if (o->driver_seen && !i->driver_seen)
                                i->driver_seen = strdup(o->driver_seen);
                        if (o->alias_modules && streq_ptr(o->modalias, i->modalias))
                                i->alias_modules = strdup(o->alias_modules);
                }
                if (i->driver && usb_driver_category(p->drivers, p->n_drivers, i->driver) != USB_CATEGORY_OTHER &&
                    !streq_ptr(i->driver, i->driver_seen))
                        (void) free_and_strdup(&i->driver_seen, i->driver);
                /* A mass storage interface is storage already, the first category
                 * there is: no driver can make it more. Sticks skip the lookup. */
                if (i->modalias && !i->alias_modules &&
                    usb_classify_interface(i->cls, i->subclass, i->protocol, i->name_raw) != USB_CATEGORY_STORAGE) {
                        int r = usb_alias_resolver_lookup(u->aliases, i->modalias, &i->alias_modules);
                        if (r < 0 && r != -ENODATA)
                                log_debug_errno(r, "Cannot resolve the modalias of %s: %m", i->sysname);
                        else if (r >= 0 && !isempty(i->alias_modules))
                                log_debug("%s (%s) would be bound by: %s", i->sysname, i->modalias, i->alias_modules);
                }
        }
        usb_device_classify_with(d, p->drivers, p->n_drivers);
}

static void usb_enforcer_verify_readonly(UsbEnforcer *u, Tracked *t);
static void usb_enforcer_watch_mounts(UsbEnforcer *u);

/* A "change" uevent for each block device of the USB device. */
static void usb_enforcer_retrigger_blocks(sd_device *usbdev) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;

        if (sd_device_enumerator_new(&e) < 0 || sd_device_enumerator_add_match_parent(e, usbdev) < 0 ||
            sd_device_enumerator_add_match_subsystem(e, "block", true) < 0)
                return;
        for (sd_device *b = sd_device_enumerator_get_device_first(e); b; b = sd_device_enumerator_get_device_next(e)) {
                int r = sd_device_trigger(b, SD_DEVICE_CHANGE);
                if (r < 0)
                        log_warning_errno(r, "Cannot hand a block device to udev again: %m");
        }
}

/* The decision mamori-block-access acts on when the device's block devices
 * appear: written before any interface is authorized. A read-only approval
 * whose decision cannot be written is not let in (fail closed). */
static bool usb_enforcer_hand_access(UsbEnforcer *u, const UsbDevice *d, Decision *dec) {
        char id[10];
        int r;

        if (!dec->relevant || !dec->allow) {
                r = usb_readonly_remove(u->readonly_dir, d->sysname);
                if (r < 0)
                        log_warning_errno(r, "Cannot remove the access decision of %s: %m", d->sysname);
                return false;
        }
        r = usb_readonly_write(u->readonly_dir, d, dec->access);
        if (r >= 0 || !decision_read_only(dec))
                return false;
        log_error_errno(r, "Cannot write the read-only decision of %s (%s), so it stays blocked: %m", d->sysname,
                        usb_device_id(d, id));
        dec->allow = false;
        dec->reason = DECISION_READONLY_UNAVAILABLE;
        return true;
}

/* settles: the uevent is the device's "bind", or a scan or re-decision of a
 * device that is long there. bound_if/bound_driver: an interface's "bind"
 * uevent and its DRIVER=. */
static void usb_enforcer_process(UsbEnforcer *u, sd_device *dev, bool settles, const char *bound_if,
                                 const char *bound_driver) {
        usec_t began = now_usec(CLOCK_MONOTONIC);
        _cleanup_(usb_device_freep) UsbDevice *d = NULL;
        _cleanup_free_ char *key = NULL;
        const char *cause;
        Decision dec;
        Tracked *t;
        bool hub_open = false, access_failed, newly_read_only;
        int r;

        r = usb_device_new_from_sd_device(dev, &d);
        if (r < 0) {
                if (r == -ENOMEM)
                        log_oom();
                else
                        log_debug_errno(r, "Skipping a USB device that cannot be read (gone?): %m");
                return;
        }
        if (d->is_root_hub) {
                /* Every new interface on this bus starts unauthorized: no driver
                 * can bind to a stick before the policy has spoken. */
                if (usb_authorize_get_interface_default(d->syspath) != 0) {
                        r = usb_authorize_set_interface_default(d->syspath, false);
                        hub_open = r < 0;
                        if (r < 0)
                                log_warning_errno(r, "Cannot set interface_authorized_default=0 on %s: %m", d->sysname);
                        else
                                log_info("Root hub %s: new interfaces now start unauthorized.", d->sysname);
                }
        }

        t = usb_enforcer_tracked_find(u, d->syspath);
        if (t && t->snapshot && usb_enforcer_interfaces_vanishing(t->snapshot, d)) {
                /* Interfaces are going away, none came: the device is being
                 * removed. There is nothing new to act on, and its report must
                 * still say what it was. */
                log_debug("USB device %s is losing its interfaces; keeping what was known of it.", d->sysname);
                return;
        }

        usb_enforcer_enrich(u, d, t ? t->snapshot : NULL, bound_if, bound_driver);
        assert(u->policy); /* pushed before the monitor starts */
        dec = policy_decide(u->policy, d, now_usec(CLOCK_REALTIME));
        /* Found infected: whatever allows it (an allow entry does not
         * override it), its file systems unmounted first as for a withdrawn
         * approval. */
        cause = usb_enforcer_infected_cause(u, t, d);
        if (cause)
                decision_set_infected(&dec, d);
        if (t && t->unmount && !usb_unmount_finished(t->unmount)) {
                log_debug("USB device %s: its file systems are being unmounted; deciding it after.", d->sysname);
                return;
        }
        /* A device in use is blocked only after its file systems are unmounted:
         * one that mamori let in (expiry, a reload that withdraws it), or one
         * found at start (an install, fail-closed). A device plugged while
         * mamorid runs is blocked at once, even if a root hub still let it
         * bind (a new controller before its rule ran): no 10 s of grace. */
        if (!(t && t->unmount_done) && ((t && (t->reported_allowed || t->infected)) || (!t && settles)) &&
            usb_enforcer_blocks_interface_in_use(d, &dec) && usb_enforcer_unmount_first(u, dev, d))
                return;
        if (t)
                t->unmount_done = false;
        if (t && t->readonly_violated && decision_read_only(&dec)) {
                dec.allow = false; /* until it is plugged in again */
                dec.reason = DECISION_READONLY_VIOLATED;
        }
        access_failed = usb_enforcer_hand_access(u, d, &dec);
        usb_enforcer_act(d, &dec, began, settles || (t && t->settled));

        t = usb_enforcer_tracked_get(u, d->syspath);
        if (!t) {
                log_oom();
                return;
        }
        t->settled = t->settled || settles;
        t->hub_open = hub_open;
        if (cause && !t->infected) {
                /* plugged in again after it was found infected: this plug
                 * stays blocked even if the set drops its identity */
                (void) snprintf(t->infected_cause, sizeof t->infected_cause, "%s", cause);
                t->infected = true;
        }
        t->access_failed = access_failed;
        /* Made read-only while plugged (a reload): its block devices are
         * handed to udev again, whose helper sets them read-only; they are
         * verified at their "change". A file system mounted writable by then
         * is a violation. */
        newly_read_only = decision_read_only(&dec) && !t->read_only && t->reported_key;
        t->read_only = decision_read_only(&dec);
        usb_device_free(t->snapshot);
        t->snapshot = TAKE_PTR(d);
        t->changes_at = dec.changes_at;
        usb_enforcer_plan_warning(u, t, &dec);
        usb_enforcer_rearm_expiry(u);

        key = usb_report_key(t->snapshot, &dec);
        if (!key)
                return (void) log_oom();
        if (streq_ptr(key, t->reported_key))
                t->pending = false; /* back to what was last said */
        else if (dec.relevant || t->reported_key)
                usb_enforcer_schedule_report(u, t);
        usb_enforcer_watch_mounts(u);
        if (t->read_only) {
                if (newly_read_only)
                        usb_enforcer_retrigger_blocks(dev);
                else
                        usb_enforcer_verify_readonly(u, t);
        }
}

static void usb_enforcer_forget(UsbEnforcer *u, const char *syspath) {
        Tracked *t = usb_enforcer_tracked_find(u, syspath);
        if (!t)
                return;
        /* A stick pulled before its report was due still gets reported. */
        if (t->pending) {
                log_debug("USB device %s was removed before its report was due; reporting it now.",
                          t->snapshot ? t->snapshot->sysname : syspath);
                usb_enforcer_report_one(u, t);
        }
        usb_enforcer_tracked_unlink(u, t);
        if (t->snapshot)
                (void) usb_readonly_remove(u->readonly_dir, t->snapshot->sysname);
        if (t->read_only) {
                t->read_only = false; /* it is gone */
                usb_enforcer_watch_mounts(u);
        }
        u->told_dirty = u->told_dirty || t->told_blocked;
        usb_enforcer_tracked_free(t);
        usb_enforcer_rearm_expiry(u);
        usb_enforcer_batch_done(u);
}

/* Issue 14: a device let in read-only must stay so. Each of its block
 * devices must say ro=1 (mamori-block-access set it while udev handled it)
 * and no file system of it may be mounted writable; otherwise
 * usb.readonly_violated, and its storage interfaces are de-authorized until
 * it is plugged in again. */
static void usb_enforcer_verify_readonly(UsbEnforcer *u, Tracked *t) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
        _cleanup_(sd_device_unrefp) sd_device *dev = NULL;
        _cleanup_(mount_list_done) MountList mounts = { 0 };
        _cleanup_free_ dev_t *devs = NULL;
        _cleanup_free_ char *where = NULL;
        const char *what = NULL;
        size_t n_devs = 0;
        Decision dec;
        Event *ev = NULL;
        int r;

        if (!t->read_only || t->readonly_violated || !t->snapshot)
                return;
        if (sd_device_new_from_syspath(&dev, t->syspath) < 0)
                return; /* gone */
        if (sd_device_enumerator_new(&e) >= 0 && sd_device_enumerator_add_match_parent(e, dev) >= 0 &&
            sd_device_enumerator_add_match_subsystem(e, "block", true) >= 0)
                for (sd_device *b = sd_device_enumerator_get_device_first(e); b && !what;
                     b = sd_device_enumerator_get_device_next(e)) {
                        const char *ro = NULL, *name = NULL;
                        (void) sd_device_get_sysname(b, &name);
                        if (sd_device_get_sysattr_value(b, "ro", &ro) < 0)
                                continue; /* being removed */
                        if (streq(ro, "1") || streq(ro, "1\n"))
                                continue;
                        (void) sd_device_get_sysname(b, &name);
                        what = "not_read_only";
                        where = strdup(strna(name));
                }
        if (!what) {
                r = usb_unmount_find(dev, &mounts, &devs, &n_devs);
                for (size_t i = 0; r >= 0 && i < mounts.n && !what; i++)
                        if (mounts.rw[i]) {
                                what = "mounted_read_write";
                                where = strdup(mounts.paths[i]);
                        }
        }
        if (!what)
                return;
        if (!where)
                return (void) log_oom();

        t->readonly_violated = true;
        log_error("USB device %s is approved read-only, but %s (%s): blocking it.", t->snapshot->sysname, where, what);
        for (size_t k = 0; k < t->snapshot->n_interfaces; k++) {
                UsbInterface *i = &t->snapshot->interfaces[k];
                if (!i->syspath || !(USB_CATEGORY_BIT(i->category) & u->policy->usb.block_mask))
                        continue;
                r = usb_authorize_interface(i->syspath, i->sysname, false);
                if (r < 0 && r != -ENOENT)
                        log_error_errno(r, "Failed to block interface %s: %m", i->sysname);
                else if (r >= 0) {
                        i->authorized = 0;
                        i->done = USB_INTERFACE_BLOCKED;
                }
        }
        dec = policy_decide(u->policy, t->snapshot, now_usec(CLOCK_REALTIME));
        dec.allow = false; /* as acted on: its interfaces show blocked */
        dec.reason = DECISION_READONLY_VIOLATED;
        r = usb_report_build_readonly_violated(u->policy, t->snapshot, &dec, what, where, &ev);
        if (r < 0)
                return (void) log_error_errno(r, "Failed to build usb.readonly_violated: %m");
        (void) event_emit(&u->emitter, ev, &(EventContext){ .device = t->snapshot, .decision = &dec });
        usb_enforcer_schedule_report(u, t); /* what it is now: blocked */
}

static void usb_enforcer_verify_all_readonly(UsbEnforcer *u) {
        for (Tracked *t = u->devices; t; t = t->next)
                usb_enforcer_verify_readonly(u, t);
}

static int usb_enforcer_on_mountinfo(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        usb_enforcer_verify_all_readonly(userdata);
        return 0;
}

/* The mount table is watched only while a device is let in read-only. */
static void usb_enforcer_watch_mounts(UsbEnforcer *u) {
        bool want = false;
        int fd, r;

        for (Tracked *t = u->devices; t && !want; t = t->next)
                want = t->read_only && !t->readonly_violated;
        if (!want && u->mountinfo_source) {
                (void) close(sd_event_source_get_io_fd(u->mountinfo_source));
                u->mountinfo_source = sd_event_source_disable_unref(u->mountinfo_source);
                log_debug("No device is let in read-only: the mount table is no longer watched.");
        }
        if (!want || u->mountinfo_source)
                return;
        fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return (void) log_warning_errno(errno, "Cannot watch /proc/self/mountinfo: %m");
        r = sd_event_add_io(u->event, &u->mountinfo_source, fd, EPOLLPRI, usb_enforcer_on_mountinfo, u);
        if (r < 0) {
                (void) close(fd);
                return (void) log_warning_errno(r, "Cannot watch /proc/self/mountinfo: %m");
        }
        (void) sd_event_source_set_description(u->mountinfo_source, "usb-mountinfo");
}

void usb_enforcer_handle(sd_device *dev, sd_device_action_t action, bool scan, void *userdata) {
        UsbEnforcer *u = userdata;
        const char *devtype = NULL, *syspath = NULL, *subsystem = NULL;
        sd_device *parent;

        assert(dev);
        assert(userdata);

        if (sd_device_get_syspath(dev, &syspath) < 0)
                return;
        (void) sd_device_get_devtype(dev, &devtype);

        /* A block device appeared or changed (udev has run its rules: the
         * flag is set by now): the read-only devices are checked. */
        if (sd_device_get_subsystem(dev, &subsystem) >= 0 && streq(subsystem, "block")) {
                if (!scan && action != SD_DEVICE_REMOVE)
                        usb_enforcer_verify_all_readonly(u);
                return;
        }

        if (streq_ptr(devtype, "usb_device")) {
                if (action == SD_DEVICE_REMOVE)
                        usb_enforcer_forget(u, syspath);
                else
                        usb_enforcer_process(u, dev, scan || action == SD_DEVICE_BIND, NULL, NULL);
        } else if (streq_ptr(devtype, "usb_interface")) {
                const char *sysname = NULL, *driver = NULL;
                /* A scan visits the device itself, which reads all its interfaces. */
                if (scan || action == SD_DEVICE_REMOVE)
                        return;
                /* A driver bound to it: DRIVER= of the "bind", in case the link is not readable. */
                if (action == SD_DEVICE_BIND) {
                        (void) sd_device_get_sysname(dev, &sysname);
                        (void) sd_device_get_driver(dev, &driver);
                }
                if (sd_device_get_parent_with_subsystem_devtype(dev, "usb", "usb_device", &parent) >= 0)
                        usb_enforcer_process(u, parent, false, sysname, driver);
        }
}

void usb_enforcer_reevaluate(UsbEnforcer *u) {
        assert(u);

        /* Collect first: usb_enforcer_process() may reorder nothing, but a vanished device is forgotten. */
        size_t n = u->n_devices, i = 0;
        _cleanup_free_ char **paths = calloc(n ? n : 1, sizeof(char *));
        if (!paths)
                return (void) log_oom();
        for (Tracked *t = u->devices; t && i < n; t = t->next)
                paths[i++] = strdup(t->syspath);
        for (size_t k = 0; k < i; k++) {
                _cleanup_(sd_device_unrefp) sd_device *dev = NULL;
                if (!paths[k])
                        continue;
                if (sd_device_new_from_syspath(&dev, paths[k]) >= 0)
                        usb_enforcer_process(u, dev, true, NULL, NULL);
                else
                        usb_enforcer_forget(u, paths[k]);
                free(paths[k]);
        }
}

/* ---- found infected (issue 15 item 3) ---- */

#define USB_INFECTED_SLAVES_DEPTH 3

/* Adds the USB device (usb_device) below block device b to paths, or those
 * of the disks in its slaves/ (device-mapper, md: an encrypted stick, LVM). */
static void usb_enforcer_usb_of_block(sd_device *b, unsigned depth, char **paths, size_t max, size_t *n) {
        _cleanup_free_ char *slaves = NULL;
        const char *syspath = NULL, *usb = NULL;
        sd_device *parent;
        struct dirent *de;
        DIR *dir;

        if (sd_device_get_parent_with_subsystem_devtype(b, "usb", "usb_device", &parent) >= 0 &&
            sd_device_get_syspath(parent, &usb) >= 0) {
                for (size_t i = 0; i < *n; i++)
                        if (streq(paths[i], usb))
                                return;
                if (*n < max && (paths[*n] = strdup(usb)))
                        (*n)++;
                return;
        }
        if (depth >= USB_INFECTED_SLAVES_DEPTH || sd_device_get_syspath(b, &syspath) < 0 ||
            asprintf(&slaves, "%s/slaves", syspath) < 0)
                return;
        dir = opendir(slaves);
        if (!dir)
                return;
        while ((de = readdir(dir))) {
                _cleanup_(sd_device_unrefp) sd_device *s = NULL;
                if (de->d_name[0] == '.')
                        continue;
                if (sd_device_new_from_subsystem_sysname(&s, "block", de->d_name) >= 0)
                        usb_enforcer_usb_of_block(s, depth + 1, paths, max, n);
        }
        closedir(dir);
}

/* Blocks the USB device at syspath as infected; 1 when it was already. */
static int usb_enforcer_infect_one(UsbEnforcer *u, const char *syspath, const char *cause) {
        _cleanup_(sd_device_unrefp) sd_device *dev = NULL;
        UsbInfected dropped;
        Tracked *t;
        char id[10];
        int r;

        r = sd_device_new_from_syspath(&dev, syspath);
        if (r < 0)
                return r; /* unplugged meanwhile */
        t = usb_enforcer_tracked_get(u, syspath);
        if (!t)
                return -ENOMEM;
        if (t->infected)
                return 1; /* another finding on it: blocked already */
        log_error("Malware was found on USB device %s: blocking it (cause %s).", syspath,
                  isempty(cause) ? "unknown" : cause);
        t->infected = true;
        (void) snprintf(t->infected_cause, sizeof t->infected_cause, "%s", strempty(cause));
        /* decided again: infected now, unmounted first when it is in use */
        usb_enforcer_process(u, dev, true, NULL, NULL);
        t = usb_enforcer_tracked_find(u, syspath);
        if (t && t->snapshot) {
                r = usb_infected_add(&u->infected, t->snapshot, cause, &dropped);
                if (r == -ENODATA)
                        log_warning("USB device %s (%s) found infected has no serial: it is blocked until it is "
                                    "unplugged, and cannot be recognized when plugged in again.",
                                    t->snapshot->sysname, usb_device_id(t->snapshot, id));
                else if (r == -ENOMEM)
                        log_oom();
                if (dropped.serial) {
                        log_warning("More than %d USB devices were found infected since mamorid started: the "
                                    "oldest (%04x:%04x) is forgotten and would be let in again when plugged.",
                                    USB_INFECTED_MAX, dropped.vendor, dropped.product);
                        usb_infected_clear(&dropped);
                }
        }
        usb_enforcer_batch_done(u);
        return 0;
}

int usb_enforcer_block_infected(UsbEnforcer *u, dev_t devnum, const char *cause) {
        _cleanup_(sd_device_unrefp) sd_device *b = NULL;
        _cleanup_free_ char *syspath = NULL;
        char *paths[8] = { 0 };
        size_t n = 0;
        int r, ret = 0;

        assert(u);

        if (!u->policy)
                return -ENOTCONN;
        r = usb_unmount_block_syspath(devnum, &syspath);
        if (r < 0)
                return r;
        r = sd_device_new_from_syspath(&b, syspath);
        if (r < 0)
                return r;
        usb_enforcer_usb_of_block(b, 0, paths, ELEMENTSOF(paths), &n);
        if (n == 0)
                return -ENODEV;
        for (size_t i = 0; i < n; i++) {
                r = usb_enforcer_infect_one(u, paths[i], cause);
                if (r < 0 && ret == 0)
                        ret = r;
                free(paths[i]);
        }
        return ret;
}

bool usb_enforcer_is_infected(UsbEnforcer *u, const UsbDevice *d) {
        assert(u);
        assert(d);

        return usb_enforcer_infected_cause(u, d->syspath ? usb_enforcer_tracked_find(u, d->syspath) : NULL, d);
}
