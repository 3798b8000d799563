/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>

#include "log.h"
#include "sysbus.h"
#include "timeutil.h"

#define SYSBUS_DEFAULT_ADDRESS "unix:path=/run/dbus/system_bus_socket"
#define SYSBUS_LISTENERS_MAX 8
/* A connection that dies within this after it was made is retried after a pause
 * that doubles each time, so a broken bus cannot make us spin. */
#define SYSBUS_MIN_LIFETIME (2 * USEC_PER_SEC)
#define SYSBUS_RETRY_MAX (30 * USEC_PER_SEC)
/* At most one warning about dropped signals in this long (an attacker can send many). */
#define SYSBUS_DROPPED_LOG_INTERVAL (60 * USEC_PER_SEC)

typedef struct Listener {
        SysBusHandler handler;
        void *userdata;
} Listener;

struct SysBus {
        sd_event *event;
        sd_bus *bus;  /* current connection, possibly still waiting for the socket */
        sd_bus *dead; /* a lost connection, freed on the next turn of the loop */
        bool connected;
        sd_bus_slot *connected_slot, *disconnected_slot;
        sd_bus_slot *dead_slots[2];
        sd_event_source *retry;
        usec_t attempt_at, retry_delay;
        Listener listeners[SYSBUS_LISTENERS_MAX];
        size_t n_listeners;
        unsigned n_connections;
        uint64_t n_dropped;
        usec_t dropped_logged_at;
};

static void sysbus_notify(SysBus *b, sd_bus *bus) {
        /* Copy: a handler may add or remove listeners. */
        Listener l[SYSBUS_LISTENERS_MAX];
        size_t n = b->n_listeners;
        memcpy(l, b->listeners, sizeof l);
        for (size_t i = 0; i < n; i++)
                l[i].handler(b, bus, l[i].userdata);
}

static void sysbus_free_dead(SysBus *b) {
        for (size_t i = 0; i < ELEMENTSOF(b->dead_slots); i++)
                b->dead_slots[i] = sd_bus_slot_unref(b->dead_slots[i]);
        if (b->dead) {
                (void) sd_bus_detach_event(b->dead);
                b->dead = sd_bus_unref(b->dead);
        }
}

/* Called from the connection's own callback: close it now, free it later. */
static void sysbus_drop_connection(SysBus *b) {
        sysbus_free_dead(b);
        b->dead_slots[0] = TAKE_PTR(b->connected_slot);
        b->dead_slots[1] = TAKE_PTR(b->disconnected_slot);
        if (b->bus)
                sd_bus_close(b->bus);
        b->dead = TAKE_PTR(b->bus);
        b->connected = false;
}

static int sysbus_connect_bus(SysBus *b);

static int sysbus_on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        SysBus *b = userdata;
        sysbus_free_dead(b);
        (void) sysbus_connect_bus(b);
        return 0;
}

static void sysbus_schedule_retry(SysBus *b, usec_t delay) {
        usec_t when = now_usec(CLOCK_MONOTONIC) + delay;
        int r;

        if (b->retry) {
                r = sd_event_source_set_time(b->retry, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(b->retry, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(b->event, &b->retry, CLOCK_MONOTONIC, when, 10 * USEC_PER_MSEC, sysbus_on_retry, b);
        if (r < 0)
                log_error_errno(r, "Cannot schedule a reconnection to the system bus: %m");
}

static usec_t sysbus_next_delay(SysBus *b) {
        /* A connection that lived long enough is retried at once (and waits for the socket). */
        if (b->attempt_at && now_usec(CLOCK_MONOTONIC) - b->attempt_at >= SYSBUS_MIN_LIFETIME) {
                b->retry_delay = 0;
                return 0;
        }
        b->retry_delay = b->retry_delay ? MIN(b->retry_delay * 2, SYSBUS_RETRY_MAX) : USEC_PER_SEC;
        return b->retry_delay;
}

static int sysbus_on_connected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SysBus *b = userdata;
        const char *name = NULL;

        b->connected = true;
        b->n_connections++;
        (void) sd_bus_get_unique_name(b->bus, &name);
        log_info("Connected to the system bus as %s.", strna(name));
        sysbus_notify(b, b->bus);
        return 0;
}

static int sysbus_on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SysBus *b = userdata;
        bool was = b->connected;

        if (was)
                log_warning("Lost the system bus; reconnecting when it is back.");
        sysbus_drop_connection(b);
        if (was)
                sysbus_notify(b, NULL);
        sysbus_schedule_retry(b, sysbus_next_delay(b));
        return 0;
}

static int sysbus_connect_bus(SysBus *b) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        const char *addr = getenv("DBUS_SYSTEM_BUS_ADDRESS");
        int r;

        b->attempt_at = now_usec(CLOCK_MONOTONIC);
        if (isempty(addr))
                addr = SYSBUS_DEFAULT_ADDRESS;
        r = sd_bus_new(&bus);
        if (r < 0)
                return log_oom();
        (void) sd_bus_set_description(bus, "mamori-system-bus");
        r = sd_bus_set_address(bus, addr);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        /* Wait for the socket through inotify when the bus is not there (yet). */
        if (r >= 0)
                r = sd_bus_set_watch_bind(bus, true);
        if (r >= 0)
                r = sd_bus_set_connected_signal(bus, true);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &b->connected_slot, "org.freedesktop.DBus.Local", NULL,
                                        "org.freedesktop.DBus.Local", "Connected", sysbus_on_connected, b);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &b->disconnected_slot, "org.freedesktop.DBus.Local", NULL,
                                        "org.freedesktop.DBus.Local", "Disconnected", sysbus_on_disconnected, b);
        if (r >= 0)
                r = sd_bus_attach_event(bus, b->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                b->connected_slot = sd_bus_slot_unref(b->connected_slot);
                b->disconnected_slot = sd_bus_slot_unref(b->disconnected_slot);
                if (bus)
                        (void) sd_bus_detach_event(bus);
                log_warning_errno(r, "Cannot connect to the system bus at %s, retrying: %m", addr);
                sysbus_schedule_retry(b, sysbus_next_delay(b));
                return r;
        }
        b->bus = TAKE_PTR(bus);
        return 0;
}

int sysbus_new(sd_event *event, SysBus **ret) {
        assert(event);
        assert(ret);
        SysBus *b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->event = sd_event_ref(event);
        *ret = b;
        return 0;
}

SysBus *sysbus_free(SysBus *b) {
        if (!b)
                return NULL;
        b->connected_slot = sd_bus_slot_unref(b->connected_slot);
        b->disconnected_slot = sd_bus_slot_unref(b->disconnected_slot);
        if (b->bus) {
                (void) sd_bus_detach_event(b->bus);
                sd_bus_flush_close_unref(b->bus);
        }
        sysbus_free_dead(b);
        sd_event_source_disable_unref(b->retry);
        sd_event_unref(b->event);
        free(b);
        return NULL;
}

int sysbus_add_listener(SysBus *b, SysBusHandler handler, void *userdata) {
        assert(b);
        assert(handler);
        if (b->n_listeners >= SYSBUS_LISTENERS_MAX)
                return -ENOSPC;
        b->listeners[b->n_listeners++] = (Listener){ handler, userdata };
        if (b->connected)
                handler(b, b->bus, userdata);
        return 0;
}

void sysbus_remove_listener(SysBus *b, SysBusHandler handler, void *userdata) {
        assert(b);
        for (size_t i = 0; i < b->n_listeners; i++)
                if (b->listeners[i].handler == handler && b->listeners[i].userdata == userdata) {
                        memmove(b->listeners + i, b->listeners + i + 1, (b->n_listeners - i - 1) * sizeof(Listener));
                        b->n_listeners--;
                        return;
                }
}

int sysbus_start(SysBus *b) {
        assert(b);
        if (b->bus || b->retry)
                return 0;
        (void) sysbus_connect_bus(b);
        return 0; /* a bus that is not there yet is not an error: we wait for it */
}

sd_bus *sysbus_get(SysBus *b) {
        return b && b->connected ? b->bus : NULL;
}

unsigned sysbus_n_connections(SysBus *b) {
        return b ? b->n_connections : 0;
}

bool sysbus_signal_from(SysBus *b, sd_bus_message *m, const char *sender) {
        assert(b);
        assert(m);
        const char *from = sd_bus_message_get_sender(m), *to = sd_bus_message_get_destination(m);
        usec_t now;

        /* The peers we listen to broadcast their signals, and the bus sets the
         * sender of each message to the unique name of the connection that
         * sent it ("org.freedesktop.DBus" for its own), so neither can be
         * faked. A signal sent to us alone is delivered whatever our match
         * rules say, and sd-bus lets any unique name pass a match on a
         * well-known sender: such a signal is not one of theirs. */
        if (!to && sender && streq_ptr(from, sender))
                return true;
        if (!to && (!sender || (from && from[0] == ':' && sender[0] == ':'))) {
                /* A broadcast from a connection that owned or will own the name
                 * while we did not know it yet: not an attack. */
                log_debug("Ignoring %s.%s from %s: not from %s.", strna(sd_bus_message_get_interface(m)),
                          strna(sd_bus_message_get_member(m)), strna(from), strna(sender));
                return false;
        }
        b->n_dropped++;
        now = now_usec(CLOCK_MONOTONIC);
        if (b->dropped_logged_at && now - b->dropped_logged_at < SYSBUS_DROPPED_LOG_INTERVAL)
                return false;
        log_warning("Dropped a forged %s.%s signal on %s: sent by %s%s%s, not by %s (%" PRIu64
                    " dropped in all, warned at most once a minute).",
                    strna(sd_bus_message_get_interface(m)), strna(sd_bus_message_get_member(m)),
                    strna(sd_bus_message_get_path(m)), strna(from), to ? " to " : "", strempty(to), strna(sender),
                    b->n_dropped);
        b->dropped_logged_at = now;
        return false;
}

uint64_t sysbus_n_dropped(SysBus *b) {
        return b ? b->n_dropped : 0;
}
