/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <systemd/sd-bus.h>

#include "log.h"
#include "notice-ratelimit.h"
#include "notice.h"
#include "seat.h"

struct NoticeSender {
        sd_event *event;
        Policy *policy; /* the one in force (notice_sender_set_policy()) */
        sd_bus *bus;
        NoticeRateLimit rl;
        Notice *held;        /* the latest notice the rate limit held back */
        unsigned held_count; /* how many it stands for */
        sd_event_source *held_timer;
        NoticeStats stats;
        bool warned_no_bus;
        int last_error; /* of the last send; 0 when it went out */
        int name_state; /* 1 owned, 0 refused, -1 not asked yet */
};

int notice_sender_new(sd_event *event, NoticeSender **ret) {
        NoticeSender *n;

        assert(event);
        assert(ret);

        n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->event = sd_event_ref(event);
        n->name_state = -1;
        *ret = n;
        return 0;
}

NoticeSender *notice_sender_free(NoticeSender *n) {
        if (!n)
                return NULL;
        /* Queued signals are dropped rather than flushed: flushing waits. */
        sd_bus_close_unref(n->bus);
        sd_event_source_disable_unref(n->held_timer);
        notice_free(n->held);
        notice_ratelimit_done(&n->rl);
        policy_unref(n->policy);
        sd_event_unref(n->event);
        free(n);
        return NULL;
}

void notice_sender_set_policy(NoticeSender *n, Policy *p) {
        Policy *old;

        assert(n);

        old = n->policy;
        n->policy = policy_ref(p);
        policy_unref(old);
}

NoticeStats notice_sender_stats(const NoticeSender *n) {
        return n ? n->stats : (NoticeStats){ 0 };
}

static const NoticePolicy *notice_sender_settings(NoticeSender *n) {
        return n->policy ? &n->policy->notice : NULL;
}

static bool notice_sender_wanted(NoticeSender *n, EventKind kind) {
        const NoticePolicy *p = notice_sender_settings(n);
        /* A PC cut off the network is told whatever notice.kinds says: the person must call someone. */
        return p && !p->disabled && (kind == EVENT_NET_QUARANTINED || (notice_kinds(p) & NOTICE_KIND_BIT(kind)));
}

/* ---- the bus ---- */

static int notice_sender_on_name(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        NoticeSender *n = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint32_t result = 0;

        if (e) {
                n->name_state = 0;
                log_warning("Cannot own %s on the system bus (%s): mamori-notify will ignore our notices. "
                            "Is units/org.mamori.Notice1.conf installed in /usr/share/dbus-1/system.d?",
                            NOTICE_BUS_NAME, e->message ? e->message : e->name);
                return 0;
        }
        n->name_state = sd_bus_message_read(reply, "u", &result) >= 0 && result == 1 /* PRIMARY_OWNER */;
        if (!n->name_state)
                log_warning("%s is owned by another process (RequestName said %u): notices may not be shown.",
                            NOTICE_BUS_NAME, result);
        else
                log_debug("Owning %s on the system bus.", NOTICE_BUS_NAME);
        return 0;
}

/* Connects when there is something to say; a bus that went away (dbus
 * restarted) is replaced the same way. Never waits: the socket connect is
 * non-blocking and the handshake, Hello and RequestName are queued before
 * the first signal, which the bus daemon handles in that order. */
static int notice_sender_bus_ensure(NoticeSender *n) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (n->bus && sd_bus_is_open(n->bus) > 0)
                return 0;
        n->bus = sd_bus_close_unref(n->bus);

        r = sd_bus_open_system_with_description(&bus, "mamori-notice");
        if (r < 0)
                return r;
        (void) sd_bus_set_exit_on_disconnect(bus, false);
        r = sd_bus_attach_event(bus, n->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        r = sd_bus_request_name_async(bus, NULL, NOTICE_BUS_NAME, 0, notice_sender_on_name, n);
        if (r < 0)
                return r;
        n->name_state = -1;
        n->bus = TAKE_PTR(bus);
        n->warned_no_bus = false;
        return 0;
}

static int notice_sender_append_dict_s(sd_bus_message *m, const char *key, const char *value) {
        if (!value)
                return 0;
        return sd_bus_message_append(m, "{sv}", key, "s", value);
}

static int notice_sender_build_signal(NoticeSender *n, const Notice *x, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        SeatUser user = { 0 };
        int r;

        r = sd_bus_message_new_signal(n->bus, &m, NOTICE_BUS_PATH, NOTICE_BUS_INTERFACE, NOTICE_BUS_SIGNAL);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", x->id, event_kind_info(x->kind)->name);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{ss}", 2, "ja", x->summary[NOTICE_LANG_JA], "en",
                                          x->summary[NOTICE_LANG_EN]);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{ss}", 2, "ja", x->body[NOTICE_LANG_JA], "en", x->body[NOTICE_LANG_EN]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;

        r = sd_bus_message_append(m, "{sv}", "urgency", "y", (uint8_t) x->urgency);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "time", "t", now_usec(CLOCK_REALTIME));
        if (r >= 0 && x->also > 0)
                r = sd_bus_message_append(m, "{sv}", "also", "u", (uint32_t) x->also);
        if (r >= 0)
                r = notice_sender_append_dict_s(m, "icon", x->icon);
        if (r >= 0)
                r = notice_sender_append_dict_s(m, "category", x->category);
        if (r >= 0)
                r = notice_sender_append_dict_s(m, "replace_key", x->replace_key);
        /* Who is at the seat, from logind's files (no NSS): a helper in
         * another user's session stays quiet. */
        if (r >= 0 && seat_active_user(&user) >= 0 && user.known) {
                r = sd_bus_message_append(m, "{sv}", "seat_uid", "u", (uint32_t) user.uid);
                if (r >= 0)
                        r = notice_sender_append_dict_s(m, "seat_session", user.session);
        }
        seat_user_done(&user);
        for (size_t i = 0; r >= 0 && i < x->n_facts; i++)
                r = notice_sender_append_dict_s(m, x->facts[i].key, x->facts[i].value);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static void notice_sender_send_notice(NoticeSender *n, const Notice *x) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = notice_sender_bus_ensure(n);
        if (r < 0) {
                n->stats.undelivered++;
                n->last_error = r;
                /* Say it once per outage, not once per notice. */
                if (!n->warned_no_bus)
                        log_full_errno(LOG_NOTICE, r, "No system bus, staff are not shown notices until it is back: %m");
                n->warned_no_bus = true;
                return;
        }
        r = notice_sender_build_signal(n, x, &m);
        if (r >= 0)
                r = sd_bus_send(n->bus, m, NULL);
        if (r < 0) {
                n->stats.undelivered++;
                n->last_error = r;
                log_warning_errno(r, "Cannot send notice %.8s: %m", x->id);
                return;
        }
        n->last_error = 0;
        n->stats.sent++;
        log_info("Notice %.8s for the seat: %s", x->id, x->summary[NOTICE_LANG_EN]);
}

/* ---- rate limit ---- */

static unsigned notice_sender_burst_of(const NoticePolicy *p) {
        return p && p->burst ? p->burst : NOTICE_DEFAULT_BURST;
}

static usec_t notice_sender_interval_of(const NoticePolicy *p) {
        return (p && p->interval_sec ? p->interval_sec : NOTICE_DEFAULT_INTERVAL_SEC) * USEC_PER_SEC;
}

static void notice_sender_arm_held_timer(NoticeSender *n);

static int notice_sender_on_held_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        NoticeSender *n = userdata;
        const NoticePolicy *p = notice_sender_settings(n);
        _cleanup_(notice_freep) Notice *x = NULL;

        if (!n->held)
                return 0;
        if (!notice_sender_wanted(n, n->held->kind)) { /* a reload turned notices off meanwhile */
                n->held = notice_free(n->held);
                n->held_count = 0;
                return 0;
        }
        if (!notice_ratelimit_take(&n->rl, notice_sender_burst_of(p), notice_sender_interval_of(p),
                                   now_usec(CLOCK_MONOTONIC))) {
                notice_sender_arm_held_timer(n);
                return 0;
        }
        x = TAKE_PTR(n->held);
        if (n->held_count > 1 && notice_set_also(x, n->held_count - 1) < 0)
                log_oom();
        n->held_count = 0;
        notice_sender_send_notice(n, x);
        return 0;
}

static void notice_sender_arm_held_timer(NoticeSender *n) {
        const NoticePolicy *p = notice_sender_settings(n);
        usec_t at = notice_ratelimit_next(&n->rl, notice_sender_burst_of(p), notice_sender_interval_of(p),
                                          now_usec(CLOCK_MONOTONIC));
        int r;

        if (n->held_timer) {
                r = sd_event_source_set_time(n->held_timer, at);
                if (r >= 0)
                        r = sd_event_source_set_enabled(n->held_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(n->event, &n->held_timer, CLOCK_MONOTONIC, at, 100 * USEC_PER_MSEC,
                                      notice_sender_on_held_timer, n);
        if (r < 0)
                log_warning_errno(r, "Cannot arm the notice timer, a held notice may be late: %m");
}

/* Takes ownership of x. */
static void notice_sender_submit(NoticeSender *n, Notice *x_) {
        _cleanup_(notice_freep) Notice *x = x_;
        const NoticePolicy *p = notice_sender_settings(n);
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (notice_ratelimit_seen(&n->rl, x->dedup_key, x->dedup_usec, now)) {
                n->stats.deduplicated++;
                log_debug("Notice %.8s says nothing new (%s), not shown.", x->id, x->summary[NOTICE_LANG_EN]);
                return;
        }
        /* Once one is held, later ones queue behind it, so the order stays. */
        if (!n->held && notice_ratelimit_take(&n->rl, notice_sender_burst_of(p), notice_sender_interval_of(p), now)) {
                notice_sender_send_notice(n, x);
                return;
        }
        n->stats.held++;
        notice_free(n->held);
        n->held = TAKE_PTR(x);
        n->held_count++;
        log_debug("Notice %.8s held back by the rate limit (%u waiting).", n->held->id, n->held_count);
        notice_sender_arm_held_timer(n);
}

/* Beside the usb.blocked event of this decision, on a plug or when a device
 * that was usable is blocked (was_usable: then it is news, however recently
 * the same device was told about for the same reason). */
static int notice_usb_blocked(NoticeSender *n, const UsbDevice *d, const Decision *dec, const char *event_id,
                              bool was_usable) {
        const NoticePolicy *p;
        Notice *x = NULL;
        int r;

        if (!notice_sender_wanted(n, EVENT_USB_BLOCKED))
                return 0;
        p = notice_sender_settings(n);
        r = notice_build_usb(p, n->policy->usb.policy_ref, d, dec, event_id, &x);
        if (r < 0)
                return r;
        if (was_usable)
                x->dedup_usec = 0; /* recorded for what follows, never "nothing new" itself */
        notice_sender_submit(n, x);
        return 0;
}

/* Beside the usb.expiring event of this (allowing) decision. */
static int notice_usb_expiring(NoticeSender *n, const UsbDevice *d, const Decision *dec, usec_t now,
                               const char *event_id) {
        Notice *x = NULL;
        int r;

        if (!notice_sender_wanted(n, EVENT_USB_EXPIRING))
                return 0;
        r = notice_build_usb_expiring(notice_sender_settings(n), n->policy->usb.policy_ref, d, dec, now, event_id, &x);
        if (r < 0)
                return r;
        notice_sender_submit(n, x);
        return 0;
}

static int notice_consume(void *userdata, Event *e, const EventContext *ctx) {
        NoticeSender *n = userdata;
        Notice *x = NULL;
        int r;

        switch (e->kind) {
        case EVENT_USB_BLOCKED:
                /* Needs the device, and only a plug the person was not told about
                 * yet (a reload or restart that changed only the reason is not
                 * news). A coalesced repeat is told: within its window. */
                if (!ctx || !ctx->device || !ctx->decision || ctx->told)
                        return 0;
                return notice_usb_blocked(n, ctx->device, ctx->decision, e->id, ctx->was_usable);
        case EVENT_DEVICE_BLOCKED:
        case EVENT_DEVICE_BLOCK_FAILED:
                /* A device outside USB: its bus module says what it is. The
                 * dedup key (its identity) folds a card put in again and again. */
                if (!ctx || !ctx->removable || !ctx->decision || !notice_sender_wanted(n, e->kind))
                        return 0;
                r = notice_build_device(notice_sender_settings(n), e->policy_ref, ctx->removable, ctx->decision, e->id,
                                        &x);
                if (r < 0)
                        return r;
                notice_sender_submit(n, x);
                return 0;
        case EVENT_USB_EXPIRING:
                if (!ctx || !ctx->device || !ctx->decision)
                        return 0;
                return notice_usb_expiring(n, ctx->device, ctx->decision, ctx->now, e->id);
        case EVENT_USB_READONLY_VIOLATED:
                if (!ctx || !ctx->device || !ctx->decision || !notice_sender_wanted(n, e->kind))
                        return 0;
                r = notice_build_usb_readonly_violated(notice_sender_settings(n), n->policy->usb.policy_ref,
                                                       ctx->device, ctx->decision, e->id, &x);
                if (r < 0)
                        return r;
                notice_sender_submit(n, x);
                return 0;
        default:
                /* The kinds that need no more than the event (antivirus). */
                if (!notice_kind_supported(e->kind) || !notice_sender_wanted(n, e->kind))
                        return 0;
                /* Antivirus notices cite the staff's own duty, not the event's admin clause. */
                r = notice_build_event(notice_sender_settings(n), e->kind,
                                       e->kind != EVENT_NET_QUARANTINED && n->policy && n->policy->av.staff_policy_ref
                                               ? n->policy->av.staff_policy_ref
                                               : e->policy_ref,
                                       e->id, &x);
                if (r < 0)
                        return r;
                notice_sender_submit(n, x);
                return 0;
        }
}

EventSink notice_sink(NoticeSender *n) {
        assert(n);

        return (EventSink){ .name = "notice", .consume = notice_consume, .userdata = n };
}

#define IN_SET_NO_BUS(r) ((r) == -ENOENT || (r) == -ECONNREFUSED)

void notice_write_check(NoticeSender *n, JsonWriter *w) {
        const NoticePolicy *p = n ? notice_sender_settings(n) : NULL;
        const char *state = "ok";
        char detail[256];

        assert(w);

        if (!n)
                return;
        if (!p || p->disabled) {
                state = "disabled";
                snprintf(detail, sizeof detail, "notice.enabled = false");
        } else if (IN_SET_NO_BUS(n->last_error)) {
                /* No system bus: no desktop, nobody at the seat to tell. */
                state = "unavailable";
                snprintf(detail, sizeof detail, "no system bus (%s): notices wait for one", strerror(-n->last_error));
        } else if (n->last_error < 0) {
                state = "degraded";
                snprintf(detail, sizeof detail, "the last notice was not sent: %s", strerror(-n->last_error));
        } else if (n->name_state == 0) {
                state = "degraded";
                snprintf(detail, sizeof detail, "the system bus refused us %s: is its bus policy installed?",
                         NOTICE_BUS_NAME);
        } else if (n->stats.sent + n->stats.held + n->stats.deduplicated == 0)
                snprintf(detail, sizeof detail, "none yet (the system bus is connected for the first one)");
        else
                snprintf(detail, sizeof detail, "%llu sent, %llu held back, %llu repeats not shown", n->stats.sent,
                         n->stats.held, n->stats.deduplicated);

        json_object_begin(w);
        json_kv_string(w, "name", "notices");
        json_kv_string(w, "state", state);
        json_kv_string(w, "detail", detail);
        json_kv_uint(w, "sent", n->stats.sent);
        json_kv_uint(w, "held", n->stats.held);
        json_kv_uint(w, "deduplicated", n->stats.deduplicated);
        json_kv_uint(w, "undelivered", n->stats.undelivered);
        json_kv_bool(w, "bus_connected", n->bus && sd_bus_is_open(n->bus) > 0);
        json_object_end(w);
}
