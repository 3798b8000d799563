/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "log.h"
#include "sessions.h"
#include "text.h"

#define LOGIND_NAME "org.freedesktop.login1"
#define LOGIND_PATH "/org/freedesktop/login1"
#define LOGIND_MANAGER LOGIND_NAME ".Manager"
#define LOGIND_SESSION LOGIND_NAME ".Session"
#define SESSION_PATH_PREFIX LOGIND_PATH "/session"
#define DBUS_NAME "org.freedesktop.DBus"

struct SessionTracker {
        SysBus *sysbus;
        sd_bus *bus; /* the connection our matches live on; NULL while there is none */
        SessionTrackerHandlers handlers;
        void *userdata;

        Session *sessions;
        size_t n_sessions;
        bool present; /* logind owns its name */
        bool synced;  /* the list was read since logind (re)appeared */
        bool absent_logged;
        unsigned n_resyncs;

        /* logind's unique name, from GetNameOwner and NameOwnerChanged: only its
         * signals count (see sysbus_signal_from()); NULL while not known. */
        char *owner;
        sd_bus_slot *match_owner, *match_new, *match_removed, *match_props;
        sd_bus_slot *owner_slot, *list_slot;
};

bool session_type_is_graphical(const char *type) {
        return type && (streq(type, "x11") || streq(type, "wayland") || streq(type, "mir"));
}

/* ---- sessions ---- */

static Session *session_free(Session *s) {
        if (!s)
                return NULL;
        sd_bus_slot_unref(s->getall_slot);
        free(s->id);
        free(s->path);
        free(s->user);
        free(s->seat);
        free(s->type);
        free(s->class);
        free(s->state);
        free(s->tty);
        free(s->display);
        free(s->remote_host);
        free(s->service);
        free(s);
        return NULL;
}

Session *session_tracker_find(SessionTracker *t, const char *id) {
        assert(t);
        assert(id);
        for (Session *s = t->sessions; s; s = s->next)
                if (streq(s->id, id))
                        return s;
        return NULL;
}

static Session *session_tracker_find_by_path(SessionTracker *t, const char *path) {
        for (Session *s = t->sessions; s; s = s->next)
                if (streq(s->path, path))
                        return s;
        return NULL;
}

static char *session_tracker_clean(const char *s) {
        return text_sanitize(s ? s : "", s ? strlen(s) : 0, 256, NULL);
}

static Session *session_add(SessionTracker *t, const char *id, const char *path) {
        Session *s = calloc(1, sizeof *s);
        if (!s)
                return NULL;
        s->tracker = t;
        s->id = session_tracker_clean(id);
        s->path = strdup(path);
        if (!s->id || !s->path)
                return session_free(s);
        s->next = t->sessions;
        if (t->sessions)
                t->sessions->prev = s;
        t->sessions = s;
        t->n_sessions++;
        return s;
}

static void session_remove(SessionTracker *t, Session *s) {
        if (t->handlers.removed)
                t->handlers.removed(t, s, t->userdata);
        if (s->prev)
                s->prev->next = s->next;
        else
                t->sessions = s->next;
        if (s->next)
                s->next->prev = s->prev;
        t->n_sessions--;
        session_free(s);
}

/* ---- properties ---- */

static int session_read_string(sd_bus_message *m, char **field) {
        const char *v;
        int r = sd_bus_message_read_basic(m, 's', &v);
        if (r < 0)
                return r;
        free(*field);
        *field = session_tracker_clean(v);
        return *field ? 0 : -ENOMEM;
}

static int session_read_bool(sd_bus_message *m, bool *field) {
        int v, r = sd_bus_message_read_basic(m, 'b', &v);
        if (r >= 0)
                *field = v;
        return r;
}

static int session_read_u64(sd_bus_message *m, usec_t *field) {
        uint64_t v;
        int r = sd_bus_message_read_basic(m, 't', &v);
        if (r >= 0)
                *field = v;
        return r;
}

/* One "name": variant of a{sv}; the message is positioned at the variant. */
static int session_read_property(sd_bus_message *m, Session *s, const char *name) {
        const char *contents = NULL;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (type != SD_BUS_TYPE_VARIANT || !contents)
                return -EBADMSG;

                /* key of signature sig, read by reader into s->field */
#define PROPERTY(key, sig, reader, field) \
        if (streq(name, key) && streq(contents, sig)) { \
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, sig); \
                if (r >= 0) \
                        r = reader(m, &s->field); \
                goto exit; \
        }
#define STRING(key, field) PROPERTY(key, "s", session_read_string, field)
#define BOOL(key, field) PROPERTY(key, "b", session_read_bool, field)
#define U64(key, field) PROPERTY(key, "t", session_read_u64, field)
        STRING("Name", user);
        STRING("Type", type);
        STRING("Class", class);
        STRING("State", state);
        STRING("TTY", tty);
        STRING("Display", display);
        STRING("RemoteHost", remote_host);
        STRING("Service", service);
        BOOL("Remote", remote);
        BOOL("Active", active);
        BOOL("IdleHint", idle_hint);
        BOOL("LockedHint", locked_hint);
        U64("IdleSinceHint", idle_since);
        U64("IdleSinceHintMonotonic", idle_since_mono);
#undef STRING
#undef BOOL
#undef U64
#undef PROPERTY
        if (streq(name, "User") && streq(contents, "(uo)")) {
                uint32_t uid;
                const char *p;
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, "(uo)");
                if (r >= 0)
                        r = sd_bus_message_read(m, "(uo)", &uid, &p);
                if (r >= 0)
                        s->uid = (uid_t) uid;
                goto exit;
        }
        if (streq(name, "Seat") && streq(contents, "(so)")) {
                const char *seat, *p;
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, "(so)");
                if (r >= 0)
                        r = sd_bus_message_read(m, "(so)", &seat, &p);
                if (r >= 0) {
                        free(s->seat);
                        s->seat = session_tracker_clean(seat);
                        r = s->seat ? 0 : -ENOMEM;
                }
                goto exit;
        }
        /* Not one we use, or not of the type we know: skip it. */
        return sd_bus_message_skip(m, "v");
exit:
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int session_read_properties(sd_bus_message *m, Session *s) {
        int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *name;
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read_basic(m, 's', &name);
                if (r >= 0)
                        r = session_read_property(m, s, name);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

static void session_tracker_changed(SessionTracker *t, Session *s) {
        if (s->known && t->handlers.changed)
                t->handlers.changed(t, s, t->userdata);
}

static int session_tracker_request_properties(SessionTracker *t, Session *s);

static int session_tracker_on_getall(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Session *s = userdata;
        SessionTracker *t = s->tracker;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int r;

        s->getall_slot = sd_bus_slot_unref(s->getall_slot);
        if (e) {
                s->reread = false;
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_METHOD,
                                           SD_BUS_ERROR_UNKNOWN_INTERFACE)) {
                        /* Gone between the signal and our question. */
                        log_debug("Session %s vanished: %s", s->id, e->message);
                        session_remove(t, s);
                } else
                        log_warning("Cannot read the properties of session %s: %s", s->id, strna(e->message));
                return 0;
        }
        r = session_read_properties(m, s);
        if (r < 0) {
                log_warning_errno(r, "Cannot parse the properties of session %s: %m", s->id);
                return 0;
        }
        s->known = true;
        s->read_at = now_usec(CLOCK_MONOTONIC);
        if (s->reread)
                (void) session_tracker_request_properties(t, s); /* session_tracker_changed() follows that reply */
        else
                session_tracker_changed(t, s);
        return 0;
}

static int session_tracker_request_properties(SessionTracker *t, Session *s) {
        int r;

        if (!t->bus || !t->present)
                return -ENOTCONN;
        if (s->getall_slot) {
                /* logind may have answered the pending question before the change: ask again after it. */
                s->reread = true;
                return 0;
        }
        s->reread = false;
        r = sd_bus_call_method_async(t->bus, &s->getall_slot, LOGIND_NAME, s->path, "org.freedesktop.DBus.Properties",
                                     "GetAll", session_tracker_on_getall, s, "s", LOGIND_SESSION);
        if (r < 0)
                return log_error_errno(r, "Cannot ask logind about session %s: %m", s->id);
        return 0;
}

int session_tracker_refresh(SessionTracker *t, Session *s) {
        assert(t);
        assert(s);
        return session_tracker_request_properties(t, s);
}

/* A change is only a cue: the values are read from logind itself (GetAll goes to
 * the owner of its name), so that even a signal that got past the sender check
 * could not put a user, a hint or a time of its own into our view. */
static int session_tracker_on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SessionTracker *t = userdata;
        Session *s;

        if (!sysbus_signal_from(t->sysbus, m, t->owner))
                return 0;
        s = session_tracker_find_by_path(t, sd_bus_message_get_path(m) ?: "");
        if (!s)
                return 0;                                /* not announced yet: SessionNew and GetAll follow */
        (void) session_tracker_request_properties(t, s); /* session_tracker_changed() follows the reply */
        return 0;
}

static int session_tracker_on_session_new(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SessionTracker *t = userdata;
        const char *id, *path;
        Session *s;

        if (!sysbus_signal_from(t->sysbus, m, t->owner) || sd_bus_message_read(m, "so", &id, &path) < 0)
                return 0;
        s = session_tracker_find_by_path(t, path);
        if (!s) {
                s = session_add(t, id, path);
                if (!s)
                        return log_oom(), 0;
                log_debug("Session %s appeared.", s->id);
        }
        (void) session_tracker_request_properties(t, s);
        return 0;
}

static int session_tracker_on_session_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SessionTracker *t = userdata;
        const char *id, *path;
        Session *s;

        if (!sysbus_signal_from(t->sysbus, m, t->owner) || sd_bus_message_read(m, "so", &id, &path) < 0)
                return 0;
        s = session_tracker_find_by_path(t, path);
        if (s) {
                log_debug("Session %s ended.", s->id);
                session_remove(t, s);
        }
        return 0;
}

/* ---- the list, and logind coming and going ---- */

static void session_tracker_set_absent(SessionTracker *t, const char *why) {
        bool was = t->present;

        t->present = false;
        t->synced = false;
        t->list_slot = sd_bus_slot_unref(t->list_slot);
        for (Session *s = t->sessions; s; s = s->next) {
                s->getall_slot = sd_bus_slot_unref(s->getall_slot);
                s->reread = false;
        }
        if (was || !t->absent_logged)
                log_warning("logind is not available (%s): idle sessions cannot be locked until it is back.", why);
        t->absent_logged = true;
        if (t->handlers.logind)
                t->handlers.logind(t, false, t->userdata);
}

static int session_tracker_on_list_sessions(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SessionTracker *t = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *id, *seat, *user, *path;
        uint32_t uid;
        int r;

        t->list_slot = sd_bus_slot_unref(t->list_slot);
        if (e) {
                session_tracker_set_absent(t, e->message ?: e->name);
                return 0;
        }
        t->present = true;
        t->absent_logged = false;
        for (Session *s = t->sessions; s; s = s->next)
                s->listed = false;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(susso)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(susso)", &id, &uid, &user, &seat, &path)) > 0) {
                Session *s = session_tracker_find_by_path(t, path);
                if (!s) {
                        s = session_add(t, id, path);
                        if (!s)
                                return log_oom(), 0;
                }
                s->listed = true;
                (void) session_tracker_request_properties(t, s);
        }
        if (r < 0)
                log_warning_errno(r, "Cannot parse logind's session list: %m");

        /* Whatever ended while we were not looking. */
        for (Session *s = t->sessions, *next; s; s = next) {
                next = s->next;
                if (!s->listed)
                        session_remove(t, s);
        }
        t->synced = true;
        t->n_resyncs++;
        log_info("logind: %zu session%s.", t->n_sessions, t->n_sessions == 1 ? "" : "s");
        if (t->handlers.logind)
                t->handlers.logind(t, true, t->userdata);
        return 0;
}

static int session_tracker_resync(SessionTracker *t) {
        int r;

        t->list_slot = sd_bus_slot_unref(t->list_slot);
        r = sd_bus_call_method_async(t->bus, &t->list_slot, LOGIND_NAME, LOGIND_PATH, LOGIND_MANAGER, "ListSessions",
                                     session_tracker_on_list_sessions, t, NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot ask logind for its sessions: %m");
        return 0;
}

/* Only the bus itself can send a signal whose sender is org.freedesktop.DBus:
 * dbus-daemon sets the sender of every message it routes to the unique name of
 * the connection that sent it, and no connection may own that name. */
static int session_tracker_on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SessionTracker *t = userdata;
        const char *name, *old_owner, *new_owner;

        if (!sysbus_signal_from(t->sysbus, m, DBUS_NAME) ||
            sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, LOGIND_NAME))
                return 0;
        t->owner_slot = sd_bus_slot_unref(t->owner_slot); /* this is newer than its answer */
        if (isempty(new_owner)) {
                t->owner = mfree(t->owner);
                session_tracker_set_absent(t, "it left the bus");
                return 0;
        }
        if (free_and_strdup(&t->owner, new_owner) < 0)
                return log_oom(), 0;
        log_info("logind is on the bus (%s); reading its sessions again.", new_owner);
        if (t->present && t->handlers.logind)
                t->handlers.logind(t, false, t->userdata); /* a new instance: pause until it is read */
        t->synced = false;
        (void) session_tracker_resync(t);
        return 0;
}

static int session_tracker_on_get_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SessionTracker *t = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *owner;

        t->owner_slot = sd_bus_slot_unref(t->owner_slot);
        if (e) {
                session_tracker_set_absent(t, e->message ?: e->name); /* NameOwnerChanged tells when it comes */
                return 0;
        }
        if (sd_bus_message_read(m, "s", &owner) < 0 || owner[0] != ':') {
                session_tracker_set_absent(t, "the bus gave no owner of its name");
                return 0;
        }
        if (free_and_strdup(&t->owner, owner) < 0)
                return log_oom(), 0;
        (void) session_tracker_resync(t);
        return 0;
}

static void session_tracker_drop_bus(SessionTracker *t) {
        t->owner = mfree(t->owner);
        t->owner_slot = sd_bus_slot_unref(t->owner_slot);
        t->match_owner = sd_bus_slot_unref(t->match_owner);
        t->match_new = sd_bus_slot_unref(t->match_new);
        t->match_removed = sd_bus_slot_unref(t->match_removed);
        t->match_props = sd_bus_slot_unref(t->match_props);
        t->list_slot = sd_bus_slot_unref(t->list_slot);
        for (Session *s = t->sessions; s; s = s->next) {
                s->getall_slot = sd_bus_slot_unref(s->getall_slot);
                s->reread = false;
        }
        t->bus = sd_bus_unref(t->bus);
}

static void session_tracker_on_bus(SysBus *b, sd_bus *bus, void *userdata) {
        SessionTracker *t = userdata;
        int r;

        session_tracker_drop_bus(t);
        if (!bus) {
                session_tracker_set_absent(t, "the system bus is gone");
                return;
        }
        t->bus = sd_bus_ref(bus);
        /* Matches first, then logind's unique name, then the list: the bus keeps
         * our messages in order, so no session can appear or change between
         * them unseen, and each signal that counts comes after we know whom
         * it must come from. */
        r = sd_bus_add_match_async(bus, &t->match_owner,
                                   "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                   "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" LOGIND_NAME "'",
                                   session_tracker_on_name_owner_changed, NULL, t);
        if (r >= 0)
                r = sd_bus_match_signal_async(bus, &t->match_new, LOGIND_NAME, LOGIND_PATH, LOGIND_MANAGER,
                                              "SessionNew", session_tracker_on_session_new, NULL, t);
        if (r >= 0)
                r = sd_bus_match_signal_async(bus, &t->match_removed, LOGIND_NAME, LOGIND_PATH, LOGIND_MANAGER,
                                              "SessionRemoved", session_tracker_on_session_removed, NULL, t);
        if (r >= 0)
                r = sd_bus_add_match_async(bus, &t->match_props,
                                           "type='signal',sender='" LOGIND_NAME
                                           "',interface='org.freedesktop.DBus.Properties',"
                                           "member='PropertiesChanged',path_namespace='" SESSION_PATH_PREFIX "',"
                                           "arg0='" LOGIND_SESSION "'",
                                           session_tracker_on_properties_changed, NULL, t);
        if (r >= 0)
                r = sd_bus_call_method_async(bus, &t->owner_slot, DBUS_NAME, "/org/freedesktop/DBus", DBUS_NAME,
                                             "GetNameOwner", session_tracker_on_get_name_owner, t, "s", LOGIND_NAME);
        if (r < 0)
                log_error_errno(r, "Cannot watch logind's sessions: %m");
}

/* ---- public ---- */

int session_tracker_new(SysBus *bus, SessionTracker **ret) {
        assert(bus);
        assert(ret);
        SessionTracker *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->sysbus = bus;
        *ret = t;
        return 0;
}

void session_tracker_set_handlers(SessionTracker *t, const SessionTrackerHandlers *handlers, void *userdata) {
        if (!t)
                return;
        t->handlers = handlers ? *handlers : (SessionTrackerHandlers){ 0 };
        t->userdata = userdata;
}

SessionTracker *session_tracker_free(SessionTracker *t) {
        if (!t)
                return NULL;
        sysbus_remove_listener(t->sysbus, session_tracker_on_bus, t);
        session_tracker_drop_bus(t);
        while (t->sessions) {
                Session *s = t->sessions;
                t->sessions = s->next;
                session_free(s);
        }
        free(t);
        return NULL;
}

int session_tracker_start(SessionTracker *t) {
        assert(t);
        return sysbus_add_listener(t->sysbus, session_tracker_on_bus, t);
}

sd_bus *session_tracker_bus(SessionTracker *t) {
        return t && t->present ? t->bus : NULL;
}

Session *session_tracker_sessions(SessionTracker *t) {
        return t ? t->sessions : NULL;
}

bool session_tracker_logind_present(SessionTracker *t) {
        return t && t->present && t->synced;
}

int session_tracker_seat_user(SessionTracker *t, const char *seat, SeatUser *ret) {
        assert(ret);
        *ret = (SeatUser){ 0 };
        if (!t || !t->present || !t->synced)
                return -ENOLINK;
        for (Session *s = t->sessions; s; s = s->next) {
                if (!s->known || !s->active || !streq_ptr(s->seat, seat) || streq_ptr(s->class, "greeter") ||
                    streq_ptr(s->class, "lock-screen"))
                        continue;
                ret->name = s->user ? strdup(s->user) : NULL;
                ret->session = strdup(s->id);
                ret->uid = s->uid;
                ret->known = 1;
                if ((s->user && !ret->name) || !ret->session) {
                        seat_user_done(ret);
                        return -ENOMEM;
                }
                return 0;
        }
        return 0;
}

void session_tracker_status(SessionTracker *t, JsonWriter *w) {
        assert(w);
        char ts[RFC3339_MAX];

        json_kv_string(w, "logind",
                       !t || !t->bus ? "no_bus"
                       : !t->present ? "absent"
                       : t->synced   ? "present"
                                     : "syncing");
        json_kv_uint(w, "bus_connections", t ? sysbus_n_connections(t->sysbus) : 0);
        json_kv_uint(w, "logind_syncs", t ? t->n_resyncs : 0);
        json_kv_uint(w, "bus_signals_dropped", t ? sysbus_n_dropped(t->sysbus) : 0);
        json_key(w, "sessions");
        json_array_begin(w);
        for (Session *s = t ? t->sessions : NULL; s; s = s->next) {
                json_object_begin(w);
                json_kv_string(w, "id", s->id);
                json_kv_string(w, "user", s->user);
                json_kv_uint(w, "uid", s->uid);
                json_kv_string(w, "seat", s->seat);
                json_kv_string(w, "type", s->type);
                json_kv_string(w, "class", s->class);
                json_kv_bool(w, "remote", s->remote);
                json_kv_bool(w, "active", s->active);
                json_kv_bool(w, "idle", s->idle_hint);
                json_kv_bool(w, "locked", s->locked_hint);
                if (s->idle_since)
                        json_kv_string(w, "idle_since", format_rfc3339(ts, s->idle_since));
                json_object_end(w);
        }
        json_array_end(w);
}
