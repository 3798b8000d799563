/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>

#include "lock.h"
#include "log.h"

#define LOGIND_NAME "org.freedesktop.login1"
#define LOGIND_SESSION LOGIND_NAME ".Session"
/* Timers may be late by this much: lets the kernel batch wakeups. */
#define LOCK_TIMER_ACCURACY (250 * USEC_PER_MSEC)
/* A tty session's IdleSinceHint (the tty's atime) is only trusted this fresh. */
#define TTY_FRESH (1 * USEC_PER_SEC)
/* After an idle tty session was reported, how seldom we look for a new idle period. */
#define TTY_RECHECK_MAX (3600 * USEC_PER_SEC)

typedef enum Phase {
        PHASE_WATCH,   /* nothing under way; maybe a timer for the idle deadline */
        PHASE_LOCKING, /* Lock() sent; waiting for LockedHint */
        PHASE_DONE,    /* acted on this idle period */
} Phase;

typedef enum Kind {
        KIND_NONE,      /* not ours: greeter, background, no seat, ... */
        KIND_GRAPHICAL, /* local x11/wayland/mir: lock it */
        KIND_TTY,       /* tty or remote: lock.tty */
} Kind;

typedef struct Watched Watched;
struct Watched {
        Watched *next, *prev;
        LockEnforcer *owner;
        char *id;
        Phase phase;
        sd_event_source *timer;
        usec_t timer_at; /* CLOCK_MONOTONIC; 0 when disarmed */
        sd_bus_slot *call;
        usec_t period;        /* IdleSinceHint (or first sight) of the idle period acted on / being watched */
        usec_t unknown_since; /* CLOCK_REALTIME when we first saw it idle without an IdleSinceHint */
        usec_t lock_sent_at;  /* CLOCK_MONOTONIC */
        bool reported, terminated;
        bool failed;    /* the last Lock() of this period did not take */
        usec_t recheck; /* tty, report only: interval of the next look */
};

struct LockEnforcer {
        sd_event *event;
        SessionTracker *sessions; /* not ours: the Manager's, which names the seat's user too */
        EventEmitter emit;
        Policy *policy; /* the one in force, as pushed by lock_enforcer_set_policy() */
        Watched *watched;
        LockCounters counters;
};

/* ---- helpers ---- */

static const LockPolicy *lock_enforcer_policy(LockEnforcer *l) {
        return &l->policy->lock;
}

static Kind lock_enforcer_kind_of(const Session *s) {
        if (!streq_ptr(s->class, "user"))
                return KIND_NONE;
        if (session_type_is_graphical(s->type))
                return s->remote ? KIND_TTY : KIND_GRAPHICAL;
        if (streq_ptr(s->type, "tty") || (s->remote && !isempty(s->tty)))
                return KIND_TTY;
        return KIND_NONE;
}

static Watched *lock_enforcer_watched_find(LockEnforcer *l, const char *id) {
        for (Watched *w = l->watched; w; w = w->next)
                if (streq(w->id, id))
                        return w;
        return NULL;
}

static Watched *lock_enforcer_watched_get(LockEnforcer *l, const char *id) {
        Watched *w = lock_enforcer_watched_find(l, id);
        if (w)
                return w;
        w = calloc(1, sizeof *w);
        if (!w)
                return NULL;
        w->owner = l;
        w->id = strdup(id);
        if (!w->id) {
                free(w);
                return NULL;
        }
        w->next = l->watched;
        if (l->watched)
                l->watched->prev = w;
        l->watched = w;
        return w;
}

static void lock_enforcer_watched_cancel(Watched *w) {
        if (w->timer)
                (void) sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
        w->timer_at = 0;
        w->call = sd_bus_slot_unref(w->call);
}

static void lock_enforcer_watched_drop(LockEnforcer *l, Watched *w) {
        /* The list's invariant (the head has no prev), which the analyzer cannot know. */
        assert(w->prev ? w->prev->next == w && l->watched != w : l->watched == w);
        if (w->prev)
                w->prev->next = w->next;
        else
                l->watched = w->next;
        if (w->next)
                w->next->prev = w->prev;
        sd_event_source_disable_unref(w->timer);
        sd_bus_slot_unref(w->call);
        free(w->id);
        free(w);
}

/* When the idle period began on CLOCK_MONOTONIC. logind gives both clocks;
 * the monotonic one is immune to the wall clock being set (NTP at boot), so it
 * wins; the realtime one is converted when it is all we have. */
static usec_t lock_enforcer_idle_since_mono(const Session *s, usec_t realtime_since, usec_t now_mono, usec_t now_real) {
        usec_t d;
        if (s->idle_since_mono > 0 && s->idle_since_mono <= now_mono && s->idle_since)
                return s->idle_since_mono;
        if (realtime_since == 0 || realtime_since >= now_real)
                return now_mono;
        d = now_real - realtime_since;
        return d < now_mono ? now_mono - d : 1;
}

static int lock_enforcer_on_timer(sd_event_source *src, uint64_t usec, void *userdata);

static void lock_enforcer_arm(LockEnforcer *l, Watched *w, usec_t when) {
        int r;

        if (w->timer_at == when && w->timer)
                return;
        if (w->timer) {
                r = sd_event_source_set_time(w->timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time(l->event, &w->timer, CLOCK_MONOTONIC, when, LOCK_TIMER_ACCURACY,
                                      lock_enforcer_on_timer, w);
                if (r >= 0)
                        (void) sd_event_source_set_description(w->timer, "lock-session");
        }
        if (r < 0) {
                log_error_errno(r, "Cannot set the idle timer of session %s: %m", w->id);
                return;
        }
        w->timer_at = when;
}

static void lock_enforcer_disarm(Watched *w) {
        if (w->timer)
                (void) sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
        w->timer_at = 0;
}

/* ---- events ---- */

static void lock_enforcer_write_session(JsonWriter *j, const Session *s) {
        json_key(j, "session");
        json_object_begin(j);
        json_kv_string(j, "id", s->id);
        json_kv_string(j, "user", s->user);
        json_kv_uint(j, "uid", s->uid);
        json_kv_string(j, "type", s->type);
        json_kv_string(j, "class", s->class);
        if (!isempty(s->seat))
                json_kv_string(j, "seat", s->seat);
        if (!isempty(s->tty))
                json_kv_string(j, "tty", s->tty);
        if (!isempty(s->display))
                json_kv_string(j, "display", s->display);
        json_kv_bool(j, "remote", s->remote);
        if (!isempty(s->remote_host))
                json_kv_string(j, "remote_host", s->remote_host);
        if (!isempty(s->service))
                json_kv_string(j, "service", s->service);
        json_object_end(j);
}

static void lock_enforcer_write_idle(JsonWriter *j, usec_t since, usec_t timeout) {
        char ts[RFC3339_MAX];
        usec_t now = now_usec(CLOCK_REALTIME);
        json_key(j, "idle");
        json_object_begin(j);
        if (since)
                json_kv_string(j, "since", format_rfc3339(ts, since));
        json_kv_uint(j, "seconds", since && now > since ? (now - since) / USEC_PER_SEC : 0);
        json_kv_uint(j, "timeout_seconds", timeout / USEC_PER_SEC);
        json_object_end(j);
}

static Event *lock_enforcer_new_event(LockEnforcer *l, EventKind kind, const Session *s, usec_t since, usec_t timeout) {
        Event *e = event_new(kind);
        if (!e) {
                log_oom();
                return NULL;
        }
        if (event_set_policy_ref(e, lock_enforcer_policy(l)->policy_ref) < 0) {
                event_free(e);
                log_oom();
                return NULL;
        }
        lock_enforcer_write_session(event_body(e), s);
        lock_enforcer_write_idle(event_body(e), since, timeout);
        return e;
}

static unsigned lock_enforcer_minutes(usec_t since) {
        usec_t now = now_usec(CLOCK_REALTIME);
        return since && now > since ? (unsigned) ((now - since) / (60 * USEC_PER_SEC)) : 0;
}

static void lock_enforcer_emit_enforced(LockEnforcer *l, Watched *w, const Session *s) {
        Event *e = lock_enforcer_new_event(l, EVENT_LOCK_ENFORCED, s, w->period, lock_enforcer_policy(l)->idle_timeout);
        usec_t took = now_usec(CLOCK_MONOTONIC) - w->lock_sent_at;
        if (!e)
                return;
        json_key(event_body(e), "lock");
        json_object_begin(event_body(e));
        json_kv_string(event_body(e), "outcome", "locked");
        json_kv_uint(event_body(e), "locked_after_ms", took / USEC_PER_MSEC);
        json_kv_uint(event_body(e), "verify_timeout_seconds", lock_enforcer_policy(l)->verify_timeout / USEC_PER_SEC);
        json_object_end(event_body(e));
        (void) event_set_message(e, "Locked idle session %s of %s (%s, idle %u min)", s->id, strna(s->user),
                                 strna(s->type), lock_enforcer_minutes(w->period));
        l->counters.enforced++;
        l->counters.last_enforced = now_usec(CLOCK_REALTIME); /* a locker confirmed it (LockedHint) */
        (void) event_emit(&l->emit, e, NULL);
}

static void lock_enforcer_emit_failed(LockEnforcer *l, Watched *w, const Session *s, const char *reason,
                                      const sd_bus_error *err) {
        Event *e = lock_enforcer_new_event(l, EVENT_LOCK_FAILED, s, w->period, lock_enforcer_policy(l)->idle_timeout);
        if (!e)
                return;
        json_key(event_body(e), "lock");
        json_object_begin(event_body(e));
        json_kv_string(event_body(e), "outcome", "not_locked");
        json_kv_string(event_body(e), "reason", reason);
        if (err && err->name)
                json_kv_string(event_body(e), "error", err->name);
        if (err && err->message)
                json_kv_string(event_body(e), "error_message", err->message);
        json_kv_uint(event_body(e), "verify_timeout_seconds", lock_enforcer_policy(l)->verify_timeout / USEC_PER_SEC);
        json_object_end(event_body(e));
        if (err)
                (void) event_set_message(e, "Could not lock idle session %s of %s: logind refused (%s)", s->id,
                                         strna(s->user), strna(err->message ?: err->name));
        else
                (void) event_set_message(e, "Idle session %s of %s is NOT locked: no screen locker answered within %u s",
                                         s->id, strna(s->user),
                                         (unsigned) (lock_enforcer_policy(l)->verify_timeout / USEC_PER_SEC));
        l->counters.failed++;
        l->counters.last_failed = now_usec(CLOCK_REALTIME);
        (void) event_emit(&l->emit, e, NULL);
}

/* ---- graphical sessions: lock ---- */

static Session *lock_enforcer_session_of(LockEnforcer *l, Watched *w) {
        return session_tracker_find(l->sessions, w->id);
}

static void lock_enforcer_finish_lock(LockEnforcer *l, Watched *w, const Session *s, bool locked, const char *reason,
                                      const sd_bus_error *err) {
        lock_enforcer_disarm(w);
        w->call = sd_bus_slot_unref(w->call);
        w->phase = PHASE_DONE;
        w->failed = !locked;
        if (locked)
                lock_enforcer_emit_enforced(l, w, s);
        else
                lock_enforcer_emit_failed(l, w, s, reason, err);
}

static int lock_enforcer_on_lock_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watched *w = userdata;
        LockEnforcer *l = w->owner;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        Session *s = lock_enforcer_session_of(l, w);

        w->call = sd_bus_slot_unref(w->call);
        if (!e || !s || w->phase != PHASE_LOCKING)
                return 0; /* accepted: LockedHint tells whether it took */
        log_warning("logind refused to lock session %s: %s", w->id, strna(e->message));
        lock_enforcer_finish_lock(l, w, s, false, "lock_call_failed", e);
        return 0;
}

static void lock_enforcer_send_lock(LockEnforcer *l, Watched *w, Session *s) {
        sd_bus *bus = session_tracker_bus(l->sessions);
        int r = -ENOTCONN;

        w->phase = PHASE_LOCKING;
        w->lock_sent_at = now_usec(CLOCK_MONOTONIC);
        if (bus)
                r = sd_bus_call_method_async(bus, &w->call, LOGIND_NAME, s->path, LOGIND_SESSION, "Lock",
                                             lock_enforcer_on_lock_reply, w, NULL);
        if (r < 0) {
                sd_bus_error err = SD_BUS_ERROR_MAKE_CONST("org.mamori.Error.NoBus", "cannot reach logind");
                log_error_errno(r, "Cannot ask logind to lock session %s: %m", s->id);
                lock_enforcer_finish_lock(l, w, s, false, "lock_call_failed", &err);
                return;
        }
        log_info("Session %s of %s idle since %u min and not locked: asked logind to lock it.", s->id, strna(s->user),
                 lock_enforcer_minutes(w->period));
        lock_enforcer_arm(l, w, w->lock_sent_at + lock_enforcer_policy(l)->verify_timeout);
}

static void lock_enforcer_evaluate_graphical(LockEnforcer *l, Watched *w, Session *s, bool timer_fired) {
        usec_t now_mono = now_usec(CLOCK_MONOTONIC), now_real = now_usec(CLOCK_REALTIME), since, deadline;

        if (w->phase == PHASE_LOCKING) {
                if (s->locked_hint)
                        lock_enforcer_finish_lock(l, w, s, true, NULL, NULL);
                else if (timer_fired) /* verify_timeout passed */
                        lock_enforcer_finish_lock(l, w, s, false, "no_locker", NULL);
                return;
        }
        if (!s->idle_hint) {
                /* Activity: whatever comes next is a new idle period. */
                w->phase = PHASE_WATCH;
                w->failed = false;
                w->unknown_since = 0;
                lock_enforcer_disarm(w);
                return;
        }
        if (s->locked_hint || !s->active || streq_ptr(s->state, "closing")) {
                /* Locked already, or not on screen: nothing to do until that changes. */
                lock_enforcer_disarm(w);
                return;
        }
        since = s->idle_since;
        if (since == 0) {
                /* A desktop that sets IdleHint without a time: count from when we saw it. */
                if (!w->unknown_since)
                        w->unknown_since = now_real;
                since = w->unknown_since;
        }
        if (w->phase == PHASE_DONE && w->period == since)
                return; /* one Lock() per idle period */
        w->phase = PHASE_WATCH;
        w->period = since;
        deadline = lock_enforcer_idle_since_mono(s, since, now_mono, now_real) + lock_enforcer_policy(l)->idle_timeout;
        if (deadline > now_mono) {
                lock_enforcer_arm(l, w, deadline);
                return;
        }
        lock_enforcer_send_lock(l, w, s);
}

/* ---- tty and remote sessions: report, terminate ---- */

static void lock_enforcer_emit_idle_session(LockEnforcer *l, Watched *w, const Session *s) {
        const LockPolicy *p = lock_enforcer_policy(l);
        Event *e = lock_enforcer_new_event(l, EVENT_LOCK_IDLE_SESSION, s, w->period, p->idle_timeout);
        char ts[RFC3339_MAX];
        if (!e)
                return;
        json_key(event_body(e), "action");
        json_object_begin(event_body(e));
        json_kv_string(event_body(e), "tty_policy", lock_tty_action_to_string(p->tty));
        if (p->tty == LOCK_TTY_TERMINATE) {
                json_kv_uint(event_body(e), "terminate_after_seconds", p->tty_idle_timeout / USEC_PER_SEC);
                json_kv_string(event_body(e), "terminate_at", format_rfc3339(ts, w->period + p->tty_idle_timeout));
        }
        json_object_end(event_body(e));
        (void) event_set_message(e, "%s session %s of %s has been idle for %u min%s", s->remote ? "Remote" : "Text",
                                 s->id, strna(s->user), lock_enforcer_minutes(w->period),
                                 p->tty == LOCK_TTY_TERMINATE ? "; it will be ended if it stays idle" : "");
        l->counters.idle_reported++;
        (void) event_emit(&l->emit, e, NULL);
}

static void lock_enforcer_emit_terminated(LockEnforcer *l, Watched *w, const Session *s, const sd_bus_error *err) {
        const LockPolicy *p = lock_enforcer_policy(l);
        Event *e = lock_enforcer_new_event(l, EVENT_LOCK_SESSION_TERMINATED, s, w->period, p->tty_idle_timeout);
        if (!e)
                return;
        json_key(event_body(e), "terminate");
        json_object_begin(event_body(e));
        json_kv_string(event_body(e), "outcome", err ? "failed" : "terminated");
        if (err && err->name)
                json_kv_string(event_body(e), "error", err->name);
        if (err && err->message)
                json_kv_string(event_body(e), "error_message", err->message);
        json_object_end(event_body(e));
        if (err) {
                e->severity = EVENT_SEVERITY_HIGH;
                (void) event_set_message(e, "Could not end idle session %s of %s: %s", s->id, strna(s->user),
                                         strna(err->message ?: err->name));
        } else
                (void) event_set_message(e, "Ended session %s of %s after %u min idle", s->id, strna(s->user),
                                         lock_enforcer_minutes(w->period));
        l->counters.terminated++;
        (void) event_emit(&l->emit, e, NULL);
}

static int lock_enforcer_on_terminate_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watched *w = userdata;
        LockEnforcer *l = w->owner;
        Session *s = lock_enforcer_session_of(l, w);

        w->call = sd_bus_slot_unref(w->call);
        if (s)
                lock_enforcer_emit_terminated(l, w, s, sd_bus_message_get_error(m));
        return 0;
}

static void lock_enforcer_send_terminate(LockEnforcer *l, Watched *w, Session *s) {
        sd_bus *bus = session_tracker_bus(l->sessions);
        int r = -ENOTCONN;

        w->terminated = true;
        w->phase = PHASE_DONE;
        if (bus)
                r = sd_bus_call_method_async(bus, &w->call, LOGIND_NAME, s->path, LOGIND_SESSION, "Terminate",
                                             lock_enforcer_on_terminate_reply, w, NULL);
        if (r < 0) {
                sd_bus_error err = SD_BUS_ERROR_MAKE_CONST("org.mamori.Error.NoBus", "cannot reach logind");
                lock_enforcer_emit_terminated(l, w, s, &err);
                return;
        }
        log_notice("Session %s of %s idle for %u min: asked logind to end it.", s->id, strna(s->user),
                   lock_enforcer_minutes(w->period));
}

static void lock_enforcer_evaluate_tty(LockEnforcer *l, Watched *w, Session *s, bool timer_fired) {
        const LockPolicy *p = lock_enforcer_policy(l);
        usec_t now_mono = now_usec(CLOCK_MONOTONIC), now_real = now_usec(CLOCK_REALTIME), since, since_mono, due;
        bool graphical = session_type_is_graphical(s->type);
        /* A tty's IdleSinceHint is its atime, computed when asked and never
         * signalled: act on it only when just read. A remote desktop signals. */
        bool fresh = graphical || (s->read_at && now_mono - s->read_at < TTY_FRESH);

        if (p->tty == LOCK_TTY_IGNORE) {
                lock_enforcer_disarm(w);
                return;
        }
        if (streq_ptr(s->state, "closing") || w->call)
                return;
        since = graphical ? (s->idle_hint ? s->idle_since : 0) : s->idle_since;
        if (since == 0) {
                lock_enforcer_disarm(w);
                return;
        }
        if (since != w->period) {
                w->period = since;
                w->reported = w->terminated = false;
                w->recheck = 0;
                w->phase = PHASE_WATCH;
        }
        if (w->terminated)
                return;
        since_mono = lock_enforcer_idle_since_mono(s, since, now_mono, now_real);

        if (!w->reported)
                due = since_mono + p->idle_timeout;
        else if (p->tty == LOCK_TTY_TERMINATE)
                due = since_mono + p->tty_idle_timeout;
        else {
                /* Reported, report only: just a new idle period matters now. */
                if (graphical) {
                        lock_enforcer_disarm(w); /* its IdleHint changes are signalled */
                        return;
                }
                if (w->timer_at && !timer_fired)
                        return;
                if (timer_fired && !fresh) {
                        (void) session_tracker_refresh(l->sessions, s);
                        return; /* changed() follows, and sets the next look */
                }
                /* No signal tells of tty activity: look again, less and less often. */
                w->recheck = w->recheck ? MIN(w->recheck * 2, TTY_RECHECK_MAX) : p->idle_timeout;
                lock_enforcer_arm(l, w, now_mono + w->recheck);
                return;
        }
        if (due > now_mono) {
                lock_enforcer_arm(l, w, due);
                return;
        }
        if (!fresh) {
                /* changed() follows the answer; the timer is a fallback if none comes. */
                lock_enforcer_arm(l, w, now_mono + p->idle_timeout);
                (void) session_tracker_refresh(l->sessions, s);
                return;
        }
        if (!w->reported) {
                w->reported = true;
                lock_enforcer_emit_idle_session(l, w, s);
                if (p->tty == LOCK_TTY_TERMINATE)
                        lock_enforcer_arm(l, w, since_mono + p->tty_idle_timeout);
                else if (!graphical) {
                        w->recheck = p->idle_timeout;
                        lock_enforcer_arm(l, w, now_mono + w->recheck);
                } else
                        lock_enforcer_disarm(w);
                return;
        }
        lock_enforcer_disarm(w);
        lock_enforcer_send_terminate(l, w, s);
}

/* ---- dispatch ---- */

static void lock_enforcer_evaluate(LockEnforcer *l, Session *s, bool timer_fired) {
        Kind k = lock_enforcer_kind_of(s);
        Watched *w = lock_enforcer_watched_find(l, s->id);

        if (!l->policy)
                return; /* nothing to enforce before the first policy */
        if (k == KIND_NONE) {
                if (w && w->phase != PHASE_LOCKING)
                        lock_enforcer_watched_drop(l, w);
                return;
        }
        if (!w) {
                w = lock_enforcer_watched_get(l, s->id);
                if (!w)
                        return (void) log_oom();
        }
        if (k == KIND_GRAPHICAL)
                lock_enforcer_evaluate_graphical(l, w, s, timer_fired);
        else
                lock_enforcer_evaluate_tty(l, w, s, timer_fired);
}

static int lock_enforcer_on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        Watched *w = userdata;
        LockEnforcer *l = w->owner;
        Session *s = lock_enforcer_session_of(l, w);

        w->timer_at = 0;
        if (!s || !session_tracker_logind_present(l->sessions))
                return 0;
        lock_enforcer_evaluate(l, s, true);
        return 0;
}

static void lock_enforcer_on_session_changed(SessionTracker *t, Session *s, void *userdata) {
        lock_enforcer_evaluate(userdata, s, false);
}

static void lock_enforcer_on_session_removed(SessionTracker *t, Session *s, void *userdata) {
        LockEnforcer *l = userdata;
        Watched *w = lock_enforcer_watched_find(l, s->id);
        if (w)
                lock_enforcer_watched_drop(l, w);
}

static void lock_enforcer_on_logind(SessionTracker *t, bool present, void *userdata) {
        LockEnforcer *l = userdata;
        if (present)
                return; /* each session's changed() follows its properties */
        /* Nothing can be asked or verified now. A lock under way is asked again
         * once logind is back and the session is still idle and unlocked. */
        for (Watched *w = l->watched; w; w = w->next) {
                lock_enforcer_watched_cancel(w);
                if (w->phase == PHASE_LOCKING) {
                        w->phase = PHASE_WATCH;
                        w->period = 0;
                }
        }
}

static const SessionTrackerHandlers session_handlers = {
        .changed = lock_enforcer_on_session_changed,
        .removed = lock_enforcer_on_session_removed,
        .logind = lock_enforcer_on_logind,
};

/* ---- public ---- */

int lock_enforcer_new(sd_event *event, SessionTracker *sessions, const EventEmitter *emit, LockEnforcer **ret) {
        assert(ret);
        LockEnforcer *l;

        assert(event && sessions && emit);
        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->event = sd_event_ref(event);
        l->sessions = sessions;
        l->emit = *emit;
        session_tracker_set_handlers(sessions, &session_handlers, l);
        *ret = l;
        return 0;
}

LockEnforcer *lock_enforcer_free(LockEnforcer *l) {
        if (!l)
                return NULL;
        session_tracker_set_handlers(l->sessions, NULL, NULL);
        while (l->watched)
                lock_enforcer_watched_drop(l, l->watched);
        policy_unref(l->policy);
        sd_event_unref(l->event);
        free(l);
        return NULL;
}

void lock_enforcer_set_policy(LockEnforcer *l, Policy *p) {
        if (!l || !p || p == l->policy)
                return;
        policy_unref(l->policy);
        l->policy = policy_ref(p);
        /* Timers follow the new timeouts (at start, no session is known yet). */
        if (!session_tracker_logind_present(l->sessions))
                return;
        for (Session *s = session_tracker_sessions(l->sessions); s; s = s->next) {
                Watched *w = lock_enforcer_watched_find(l, s->id);
                if (w && w->phase == PHASE_WATCH) {
                        lock_enforcer_disarm(w);
                        w->recheck = 0;
                }
                if (s->known)
                        lock_enforcer_evaluate(l, s, false);
        }
}

LockCounters lock_enforcer_counters(LockEnforcer *l) {
        LockCounters c = l ? l->counters : (LockCounters){ 0 };
        c.watched = 0;
        for (Watched *w = l ? l->watched : NULL; w; w = w->next)
                if (w->timer_at || w->phase == PHASE_LOCKING)
                        c.watched++;
        return c;
}

void lock_enforcer_status(LockEnforcer *l, JsonWriter *j) {
        assert(j);
        static const char *const phases[] = { "watch", "locking", "done" };
        LockCounters c = lock_enforcer_counters(l);
        usec_t now = now_usec(CLOCK_MONOTONIC);

        json_kv_uint(j, "locks_enforced", c.enforced);
        json_kv_uint(j, "locks_failed", c.failed);
        json_kv_uint(j, "idle_sessions_reported", c.idle_reported);
        json_kv_uint(j, "sessions_terminated", c.terminated);
        json_key(j, "watched");
        json_array_begin(j);
        for (Watched *w = l ? l->watched : NULL; w; w = w->next) {
                json_object_begin(j);
                json_kv_string(j, "session", w->id);
                json_kv_string(j, "phase", phases[w->phase]);
                if (w->timer_at)
                        json_kv_uint(j, "next_check_in_seconds",
                                     w->timer_at > now ? (w->timer_at - now) / USEC_PER_SEC : 0);
                json_object_end(j);
        }
        json_array_end(j);
}

void lock_enforcer_posture(LockEnforcer *l, PostureLock *ret) {
        assert(ret);
        if (!l || !l->policy)
                return;
        ret->policy_ref = lock_enforcer_policy(l)->policy_ref;
        ret->idle_timeout = lock_enforcer_policy(l)->idle_timeout;
        ret->available = session_tracker_logind_present(l->sessions);
        ret->last_confirmed = l->counters.last_enforced;
        ret->last_failed = l->counters.last_failed;
}

void lock_enforcer_write_check(LockEnforcer *l, JsonWriter *j) {
        assert(j);
        SessionTracker *t = l ? l->sessions : NULL;
        size_t graphical = 0, open = 0;
        LockCounters c = lock_enforcer_counters(l);
        const char *state;
        char detail[256];

        /* no sessions without an enforcer (t is NULL then) */
        for (Session *s = l ? session_tracker_sessions(t) : NULL; s; s = s->next) {
                Watched *w = lock_enforcer_watched_find(l, s->id);
                if (!s->known || lock_enforcer_kind_of(s) != KIND_GRAPHICAL)
                        continue;
                graphical++;
                /* Idle, unlocked, and our lock did not take: the seat is open now. */
                if (w && w->failed && s->idle_hint && !s->locked_hint)
                        open++;
        }
        if (!l)
                state = "unavailable";
        else if (!session_tracker_logind_present(t))
                state = "unavailable"; /* no logind (or no bus): nothing to lock through */
        else if (open > 0)
                state = "not_locked";
        else
                state = "ok";
        snprintf(detail, sizeof detail,
                 "%s; %zu graphical session%s, %zu idle and not locked; %" PRIu64 " locked, %" PRIu64
                 " failed since start",
                 !l || !session_tracker_logind_present(t) ? "logind not reachable" : "logind", graphical,
                 graphical == 1 ? "" : "s", open, c.enforced, c.failed);
        json_object_begin(j);
        json_kv_string(j, "name", "lock");
        json_kv_string(j, "state", state);
        json_kv_string(j, "detail", detail);
        if (l && l->policy) {
                json_kv_uint(j, "idle_timeout_sec", lock_enforcer_policy(l)->idle_timeout / USEC_PER_SEC);
                json_kv_string(j, "tty", lock_tty_action_to_string(lock_enforcer_policy(l)->tty));
                json_kv_uint(j, "sessions_not_locked", open);
                lock_enforcer_status(l, j);
                session_tracker_status(t, j);
        }
        json_object_end(j);
}
