/* SPDX-License-Identifier: MIT */
/* mamori-notify: shows mamorid's notices in the user's graphical session.
 *
 * Listens on the system bus for org.mamori.Notice1.Notice, sent only by the
 * owner of org.mamori.Notice1 (root: mamorid), and shows each notice through
 * org.freedesktop.Notifications on the session bus, in the user's language.
 * Without a notification server it prints the notice to stderr (a terminal,
 * or the journal under systemd). It never talks back to mamorid. */

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <systemd/sd-login.h>

#include "config-paths.h"
#include "macro.h"
#include "notice-bus.h"
#include "notify-text.h"

#define NOTIFICATIONS_NAME "org.freedesktop.Notifications"
#define NOTIFICATIONS_PATH "/org/freedesktop/Notifications"
#define RECONNECT_MIN_USEC (1 * USEC_PER_SEC)
#define RECONNECT_MAX_USEC (30 * USEC_PER_SEC)
#define REPLACE_MAX 32
/* At most one line about notices that were not mamorid's in this long. */
#define FORGED_SAY_INTERVAL_USEC (60 * USEC_PER_SEC)
#define DBUS_NAME "org.freedesktop.DBus"

typedef struct Replace {
        char *key;
        uint32_t id;
} Replace;

typedef struct Context {
        sd_event *event;
        sd_bus *system, *user;
        sd_event_source *reconnect;
        uint64_t backoff;
        NotifyLanguage language;
        bool verbose, ready;
        uid_t uid;
        char *session; /* our logind session, when we know it */
        /* The unique name of org.mamori.Notice1's owner (mamorid), from
         * GetNameOwner and NameOwnerChanged; NULL when there is none. */
        char *owner;
        uint64_t n_forged;
        uint64_t forged_said_at;
        Replace replace[REPLACE_MAX];
        size_t replace_next;
} Context;

/* One notice on its way to the notification server. */
typedef struct Pending {
        Context *ctx;
        char *id, *summary, *body, *replace_key, *category, *icon;
        uint8_t urgency;
} Pending;

static void say(Context *c, bool debug, const char *format, ...) _printf_(3, 4);
static void say(Context *c, bool debug, const char *format, ...) {
        va_list ap;
        if (debug && !c->verbose)
                return;
        va_start(ap, format);
        fputs("mamori-notify: ", stderr);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);
}

static void strv_freep(char ***p) {
        for (char **s = *p; s && *s; s++)
                free(*s);
        free(*p);
}

static Pending *pending_free(Pending *p) {
        if (!p)
                return NULL;
        free(p->id);
        free(p->summary);
        free(p->body);
        free(p->replace_key);
        free(p->category);
        free(p->icon);
        free(p);
        return NULL;
}
DEFINE_POINTER_CLEANUP(Pending, pending_free);

static uint32_t replace_get(Context *c, const char *key) {
        for (size_t i = 0; key && i < REPLACE_MAX; i++)
                if (c->replace[i].key && streq(c->replace[i].key, key))
                        return c->replace[i].id;
        return 0;
}

static void replace_set(Context *c, const char *key, uint32_t id) {
        Replace *slot = NULL;
        if (!key)
                return;
        for (size_t i = 0; i < REPLACE_MAX && !slot; i++)
                if (c->replace[i].key && streq(c->replace[i].key, key))
                        slot = &c->replace[i];
        if (!slot) {
                slot = &c->replace[c->replace_next];
                c->replace_next = (c->replace_next + 1) % REPLACE_MAX;
                free(slot->key);
                slot->key = strdup(key);
                if (!slot->key)
                        return;
        }
        slot->id = id;
}

/* ---- showing ---- */

static void show_on_terminal(Pending *p) {
        _cleanup_free_ char *t = notify_terminal_text(p->summary, p->body);
        if (t) {
                fputs(t, stderr);
                fflush(stderr);
        }
}

static int on_notify_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(pending_freep) Pending *p = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint32_t id = 0;

        if (e || sd_bus_message_read(reply, "u", &id) < 0) {
                say(p->ctx, false, "The notification server refused notice %.8s (%s); showing it here.", p->id,
                    e ? e->name : "bad reply");
                show_on_terminal(p);
                return 0;
        }
        replace_set(p->ctx, p->replace_key, id);
        say(p->ctx, true, "Notice %.8s shown as notification %u.", p->id, id);
        return 0;
}

static int send_notify(Pending *p_, bool markup) {
        _cleanup_(pending_freep) Pending *p = p_;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *escaped = NULL;
        Context *c = p->ctx;
        int r;

        /* A server that renders markup would render a device's "<b>" too. */
        if (markup) {
                escaped = notify_markup_escape(p->body);
                if (!escaped)
                        return -ENOMEM;
        }
        r = sd_bus_message_new_method_call(c->user, &m, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, NOTIFICATIONS_NAME,
                                           "Notify");
        if (r >= 0)
                r = sd_bus_message_append(m, "susss", "mamori", replace_get(c, p->replace_key), p->icon, p->summary,
                                          escaped ? escaped : p->body);
        if (r >= 0)
                r = sd_bus_message_append(m, "as", 0);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "urgency", "y", p->urgency);
        if (r >= 0 && p->category)
                r = sd_bus_message_append(m, "{sv}", "category", "s", p->category);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "desktop-entry", "s", "mamori-notify");
        if (r >= 0 && p->id)
                r = sd_bus_message_append(m, "{sv}", "x-mamori-notice-id", "s", p->id);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "i", (int32_t) -1);
        if (r >= 0)
                r = sd_bus_call_async(c->user, NULL, m, on_notify_reply, p, 0);
        if (r < 0)
                return r;
        TAKE_PTR(p);
        return 0;
}

static int on_capabilities(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;
        Context *c = p->ctx;
        _cleanup_(strv_freep) char **caps = NULL;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        bool markup = false;
        int r;

        if (e) {
                /* No notification server (or a broken one): the terminal it is. */
                say(c, true, "No notification server (%s).", e->name);
                show_on_terminal(p);
                pending_free(p);
                return 0;
        }
        r = sd_bus_message_read_strv(reply, &caps);
        for (char **s = r >= 0 ? caps : NULL; s && *s; s++)
                if (streq(*s, "body-markup"))
                        markup = true;
        r = send_notify(p, markup);
        if (r < 0)
                say(c, false, "Cannot send a notification: %s", strerror(-r));
        return 0;
}

static void show(Context *c, Pending *p_) {
        _cleanup_(pending_freep) Pending *p = p_;
        int r;

        if (!c->user) {
                show_on_terminal(p);
                return;
        }
        /* Asked each time: the server may have changed since the last notice. */
        r = sd_bus_call_method_async(c->user, NULL, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, NOTIFICATIONS_NAME,
                                     "GetCapabilities", on_capabilities, p, "");
        if (r < 0) {
                show_on_terminal(p);
                return;
        }
        TAKE_PTR(p);
}

/* ---- receiving ---- */

static int read_lang_dict(sd_bus_message *m, const char **ja, const char **en) {
        const char *k, *v;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "{ss}", &k, &v)) > 0) {
                if (streq(k, "ja"))
                        *ja = v;
                else if (streq(k, "en"))
                        *en = v;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

typedef struct Details {
        uint8_t urgency;
        const char *icon, *category, *replace_key, *seat_session;
        bool has_seat_uid;
        uint32_t seat_uid;
} Details;

static int read_details(sd_bus_message *m, Details *d) {
        const char *k;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *contents = NULL;
                char type;

                r = sd_bus_message_read(m, "s", &k);
                if (r >= 0)
                        r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (streq(k, "urgency") && streq_ptr(contents, "y"))
                        r = sd_bus_message_read(m, "v", "y", &d->urgency);
                else if (streq(k, "seat_uid") && streq_ptr(contents, "u")) {
                        r = sd_bus_message_read(m, "v", "u", &d->seat_uid);
                        d->has_seat_uid = r >= 0;
                } else if (streq_ptr(contents, "s") &&
                           (streq(k, "icon") || streq(k, "category") || streq(k, "replace_key") ||
                            streq(k, "seat_session"))) {
                        const char *v;
                        r = sd_bus_message_read(m, "v", "s", &v);
                        if (r >= 0)
                                *(streq(k, "icon")          ? &d->icon
                                  : streq(k, "category")    ? &d->category
                                  : streq(k, "replace_key") ? &d->replace_key
                                                            : &d->seat_session) = v;
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* Whether signal m was broadcast by sender. The bus sets the sender of every
 * message to the unique name of the connection that sent it (and to
 * "org.freedesktop.DBus" for its own), so that cannot be faked; but a signal
 * sent to us alone is delivered whatever our match rules say, and sd-bus lets
 * any unique name pass a match on a well-known sender. */
static bool signal_from(Context *c, sd_bus_message *m, const char *sender) {
        const char *from = sd_bus_message_get_sender(m), *to = sd_bus_message_get_destination(m);
        uint64_t now = 0;

        if (!to && sender && streq_ptr(from, sender))
                return true;
        c->n_forged++;
        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        if (c->forged_said_at && now - c->forged_said_at < FORGED_SAY_INTERVAL_USEC) {
                say(c, true, "Ignoring %s from %s: not from %s.", strna(sd_bus_message_get_member(m)), strna(from),
                    strna(sender));
                return false;
        }
        c->forged_said_at = now;
        say(c, false, "Ignoring a %s signal sent by %s%s%s, not by %s: forged? (%" PRIu64 " ignored so far)",
            strna(sd_bus_message_get_member(m)), strna(from), to ? " to " : "", to ? to : "",
            sender ? sender : "mamorid (not on the bus)", c->n_forged);
        return false;
}

static int on_notice(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        _cleanup_(pending_freep) Pending *p = NULL;
        const char *id, *kind, *sja = NULL, *sen = NULL, *bja = NULL, *ben = NULL;
        Details d = { .urgency = 1 };
        NotifyLanguage lang;
        int r;

        if (!signal_from(c, m, c->owner))
                return 0;
        r = sd_bus_message_read(m, "ss", &id, &kind);
        if (r >= 0)
                r = read_lang_dict(m, &sja, &sen);
        if (r >= 0)
                r = read_lang_dict(m, &bja, &ben);
        if (r >= 0)
                r = read_details(m, &d);
        if (r < 0) {
                say(c, false, "Ignoring a malformed notice: %s", strerror(-r));
                return 0;
        }
        /* The notice is for whoever sits at the seat: not for another
         * user's session, nor for another session of ours (remote). */
        if (d.has_seat_uid && d.seat_uid != (uint32_t) c->uid) {
                say(c, true, "Notice %.8s is for uid %u, not us.", id, d.seat_uid);
                return 0;
        }
        if (d.seat_session && c->session && !streq(d.seat_session, c->session)) {
                say(c, true, "Notice %.8s is for session %s, not ours (%s).", id, d.seat_session, c->session);
                return 0;
        }

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->ctx = c;
        lang = c->language != NOTIFY_LANGUAGE_AUTO
                       ? c->language
                       : notify_language_detect(getenv("LANGUAGE"), getenv("LC_ALL"), getenv("LC_MESSAGES"),
                                                getenv("LANG"));
        r = notify_compose(lang, sja, sen, bja, ben, &p->summary, &p->body);
        if (r < 0)
                return r;
        p->id = notify_clean(id, false);
        p->replace_key = d.replace_key ? strdup(d.replace_key) : NULL;
        p->category = d.category ? notify_clean(d.category, false) : NULL;
        p->icon = strdup(notify_icon_name(d.icon, "dialog-warning"));
        p->urgency = d.urgency <= 2 ? d.urgency : 1;
        if (!p->id || !p->icon)
                return -ENOMEM;
        say(c, true, "Notice %.8s (%s) received.", id, kind);
        show(c, TAKE_PTR(p));
        return 0;
}

/* ---- the system bus, kept connected ---- */

static int connect_system(Context *c);

static void mark_ready(Context *c, const char *status) {
        if (!c->ready)
                (void) sd_notifyf(false, "READY=1\nSTATUS=%s", status);
        else
                (void) sd_notifyf(false, "STATUS=%s", status);
        c->ready = true;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        Context *c = userdata;
        (void) connect_system(c);
        return 0;
}

static void schedule_reconnect(Context *c) {
        int r;

        c->system = sd_bus_close_unref(c->system);
        c->backoff = c->backoff ? MIN(c->backoff * 2, RECONNECT_MAX_USEC) : RECONNECT_MIN_USEC;
        if (c->reconnect) {
                r = sd_event_source_set_time_relative(c->reconnect, c->backoff);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->reconnect, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(c->event, &c->reconnect, CLOCK_MONOTONIC, c->backoff, 0, on_reconnect,
                                               c);
        if (r < 0) {
                say(c, false, "Cannot schedule a reconnect: %s", strerror(-r));
                (void) sd_event_exit(c->event, EXIT_FAILURE);
        }
}

static int on_system_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        say(c, false, "Lost the system bus; reconnecting.");
        mark_ready(c, "Waiting for the system bus");
        schedule_reconnect(c);
        return 0;
}

static int on_match_installed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e) {
                say(c, false, "Cannot listen for notices: %s", e->message ? e->message : e->name);
                schedule_reconnect(c);
                return 0;
        }
        return 0;
}

static void set_owner(Context *c, const char *owner) {
        free(c->owner);
        c->owner = !isempty(owner) ? strdup(owner) : NULL;
        if (!isempty(owner) && !c->owner)
                say(c, false, "Out of memory.");
        say(c, true, "%s is owned by %s.", NOTICE_BUS_NAME, c->owner ? c->owner : "nobody");
}

/* Only the bus itself can send a signal whose sender is org.freedesktop.DBus:
 * no connection may own that name, and each message carries its sender's unique name. */
static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const char *name, *old_owner, *new_owner;

        if (!signal_from(c, m, DBUS_NAME) || sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
            !streq(name, NOTICE_BUS_NAME))
                return 0;
        set_owner(c, new_owner);
        return 0;
}

/* The last answer of the setup: from now on every notice is told. */
static int on_get_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const char *owner = NULL;

        if (sd_bus_message_is_method_error(m, NULL) || sd_bus_message_read(m, "s", &owner) < 0)
                owner = NULL; /* NameHasNoOwner: mamorid is not running (yet) */
        set_owner(c, owner);
        c->backoff = 0;
        say(c, true, "Listening for notices from %s.", NOTICE_BUS_NAME);
        mark_ready(c, "Listening for mamori notices");
        return 0;
}

static int connect_system(Context *c) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        int r;

        c->owner = mfree(c->owner);
        r = sd_bus_open_system_with_description(&bus, "mamori-notify-system");
        if (r >= 0) {
                (void) sd_bus_set_exit_on_disconnect(bus, false);
                r = sd_bus_attach_event(bus, c->event, SD_EVENT_PRIORITY_NORMAL);
        }
        /* Local: sd-bus says when the connection is gone. */
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected", on_system_disconnected, c);
        /* The bus delivers a broadcast to this match only when the owner of the
         * name (root, by the bus policy) sent it; on_notice() drops the signals
         * sent to us alone, which no match rule holds back. The owner is
         * followed from the first: the match, then its current value. */
        if (r >= 0)
                r = sd_bus_add_match_async(bus, NULL,
                                           "type='signal',sender='" DBUS_NAME "',path='/org/freedesktop/DBus',"
                                           "interface='" DBUS_NAME "',member='NameOwnerChanged',"
                                           "arg0='" NOTICE_BUS_NAME "'",
                                           on_owner_changed, on_match_installed, c);
        if (r >= 0)
                r = sd_bus_match_signal_async(bus, NULL, NOTICE_BUS_NAME, NOTICE_BUS_PATH, NOTICE_BUS_INTERFACE,
                                              NOTICE_BUS_SIGNAL, on_notice, on_match_installed, c);
        if (r >= 0)
                r = sd_bus_call_method_async(bus, NULL, DBUS_NAME, "/org/freedesktop/DBus", DBUS_NAME, "GetNameOwner",
                                             on_get_owner, c, "s", NOTICE_BUS_NAME);
        if (r < 0) {
                say(c, c->backoff > 0, "Cannot connect to the system bus: %s; retrying.", strerror(-r));
                /* Let systemd know we are up even so: we keep trying. */
                mark_ready(c, "Waiting for the system bus");
                schedule_reconnect(c);
                return r;
        }
        c->system = TAKE_PTR(bus);
        return 0;
}

/* ---- the session bus ---- */

static int on_user_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        say(c, true, "The session bus is gone: the session ended.");
        return sd_event_exit(c->event, 0);
}

static int connect_user(Context *c) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_user_with_description(&bus, "mamori-notify-session");
        if (r < 0) {
                say(c, false, "No session bus (%s): notices go to this terminal.", strerror(-r));
                return 0;
        }
        (void) sd_bus_set_exit_on_disconnect(bus, false);
        r = sd_bus_attach_event(bus, c->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected", on_user_disconnected, c);
        if (r < 0)
                return r;
        /* One per session: the XDG autostart entry and the user unit may both start us. */
        r = sd_bus_request_name(bus, NOTIFY_SESSION_BUS_NAME, 0);
        if (r == -EEXIST)
                return -EEXIST;
        if (r < 0)
                say(c, false, "Cannot own %s on the session bus: %s", NOTIFY_SESSION_BUS_NAME, strerror(-r));
        c->user = TAKE_PTR(bus);
        return 0;
}

/* ---- main ---- */

static void help(void) {
        printf("mamori-notify %s — shows mamori's notices in this session\n\n"
               "Usage: mamori-notify [OPTIONS]\n\n"
               "  -l --language=LANG  auto (from LC_ALL, LC_MESSAGES, LANG, LANGUAGE), ja, en or both\n"
               "  -v --verbose        say what happens on stderr\n"
               "  -h --help           this text\n"
               "     --version        print the version\n",
               MAMORI_VERSION);
}

static int parse_argv(Context *c, int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "language", required_argument, NULL, 'l' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int o, l;

        while ((o = getopt_long(argc, argv, "l:vh", options, NULL)) >= 0)
                switch (o) {
                case 'l':
                        l = notify_language_from_string(optarg);
                        if (l < 0) {
                                fprintf(stderr, "Unknown language '%s': use auto, ja, en or both.\n", optarg);
                                return -EINVAL;
                        }
                        c->language = (NotifyLanguage) l;
                        break;
                case 'v':
                        c->verbose = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("mamori-notify %s\n", MAMORI_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument '%s'.\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static void context_done(Context *c) {
        sd_bus_close_unref(c->system);
        sd_bus_close_unref(c->user);
        sd_event_source_disable_unref(c->reconnect);
        sd_event_unref(c->event);
        free(c->session);
        free(c->owner);
        for (size_t i = 0; i < REPLACE_MAX; i++)
                free(c->replace[i].key);
}

int main(int argc, char *argv[]) {
        _cleanup_(context_done) Context c = { .uid = getuid() };
        const char *sid;
        sigset_t mask;
        int r;

        r = parse_argv(&c, argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        sid = getenv("XDG_SESSION_ID");
        if (!isempty(sid))
                c.session = strdup(sid);
        else
                (void) sd_pid_get_session(0, &c.session);

        r = sd_event_default(&c.event);
        if (r < 0) {
                say(&c, false, "Cannot create the event loop: %s", strerror(-r));
                return EXIT_FAILURE;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) sd_event_add_signal(c.event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(c.event, NULL, SIGINT, NULL, NULL);

        r = connect_user(&c);
        if (r == -EEXIST) {
                say(&c, false, "Another mamori-notify already serves this session.");
                (void) sd_notify(false, "READY=1\nSTATUS=Another instance serves this session");
                return EXIT_SUCCESS;
        }
        if (r < 0) {
                say(&c, false, "Cannot use the session bus: %s", strerror(-r));
                return EXIT_FAILURE;
        }
        (void) connect_system(&c);

        r = sd_event_loop(c.event);
        (void) sd_notify(false, "STOPPING=1");
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
