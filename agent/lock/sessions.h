/* SPDX-License-Identifier: MIT */
#pragma once

/* Source: logind's sessions over the system bus. Follows SessionNew,
 * SessionRemoved and each session's PropertiesChanged (no polling), and the
 * owner of org.freedesktop.login1: when logind restarts or the bus comes
 * back, the list is read again and reconciled. Every string logind gives is
 * sanitized. */

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#include "json.h"
#include "macro.h"
#include "seat.h"
#include "sysbus.h"
#include "timeutil.h"

typedef struct Session Session;
typedef struct SessionTracker SessionTracker;
struct Session {
        Session *next, *prev;
        char *id, *path;
        char *user; /* logind's Name */
        uid_t uid;
        char *seat;  /* "" when the session has no seat */
        char *type;  /* x11, wayland, mir, tty, unspecified, ... */
        char *class; /* user, greeter, lock-screen, background, manager */
        char *state; /* online, active, closing */
        char *tty, *display, *remote_host, *service;
        bool remote, active, idle_hint, locked_hint;
        usec_t idle_since;      /* IdleSinceHint, CLOCK_REALTIME; 0 when unknown */
        usec_t idle_since_mono; /* IdleSinceHintMonotonic, CLOCK_MONOTONIC; 0 when unknown */
        bool known;             /* all properties were read at least once */
        usec_t read_at;         /* CLOCK_MONOTONIC of the last full read */

        /* the tracker's */
        SessionTracker *tracker;
        sd_bus_slot *getall_slot;
        bool reread; /* a change came while GetAll was under way: ask again after it */
        bool listed;
};

typedef struct SessionTrackerHandlers {
        /* After a session's properties were (re)read in full or one of them changed. */
        void (*changed)(SessionTracker *t, Session *s, void *userdata);
        /* Before a session is dropped. */
        void (*removed)(SessionTracker *t, Session *s, void *userdata);
        /* false: logind (or the bus) went away, nothing can be asked now;
         * true: logind is there and the session list was read. */
        void (*logind)(SessionTracker *t, bool present, void *userdata);
} SessionTrackerHandlers;

int session_tracker_new(SysBus *bus, SessionTracker **ret);
/* The one listener (the lock enforcer); NULL handlers: none. */
void session_tracker_set_handlers(SessionTracker *t, const SessionTrackerHandlers *handlers, void *userdata);
SessionTracker *session_tracker_free(SessionTracker *t);
DEFINE_POINTER_CLEANUP(SessionTracker, session_tracker_free);
int session_tracker_start(SessionTracker *t);

/* Reads all properties of s again; changed() follows. logind computes a tty
 * session's IdleSinceHint from the tty's atime and signals no change of it. */
int session_tracker_refresh(SessionTracker *t, Session *s);

/* The connection to call logind on, NULL while there is none or logind is away. */
sd_bus *session_tracker_bus(SessionTracker *t);
Session *session_tracker_sessions(SessionTracker *t);
Session *session_tracker_find(SessionTracker *t, const char *id);
bool session_tracker_logind_present(SessionTracker *t);

/* The user of the active session on seat: 0 (ret->known may be 0: nobody),
 * -ENOLINK while the tracker has no current view (use seat.c then). */
int session_tracker_seat_user(SessionTracker *t, const char *seat, SeatUser *ret);

/* For mamorictl status: {"logind": ..., "bus_connections": N, "sessions": [...]} members. */
void session_tracker_status(SessionTracker *t, JsonWriter *w);

/* Graphical session types, whose idleness the desktop reports through IdleHint. */
bool session_type_is_graphical(const char *type);
