/* SPDX-License-Identifier: MIT */
/* The antivirus units that must run (antivirus.units, e.g. clamav-daemon,
 * clamav-freshclam): asked of systemd over the system bus, asynchronously
 * (LoadUnit, then the Unit properties), then followed through its
 * PropertiesChanged signals. A unit that stays down past a short grace (a
 * restart is not an outage) is reported once: av.engine_inactive. */
#include <assert.h>

#include "av.h"
#include "log.h"
#include "sysbus.h"
#include "text.h"

#define SYSTEMD_NAME "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER SYSTEMD_NAME ".Manager"
#define SYSTEMD_UNIT SYSTEMD_NAME ".Unit"
#define DBUS_NAME "org.freedesktop.DBus"

/* Down (inactive, failed, not found) for this long is an outage. */
#define UNIT_GRACE_DOWN (5 * USEC_PER_SEC)
/* Starting or stopping for this long is one too (clamd loads its database for a while). */
#define UNIT_GRACE_TRANSITION (120 * USEC_PER_SEC)

typedef struct Unit Unit;
struct Unit {
        AvUnits *owner;
        char *name, *path;
        char *active_state, *sub_state, *load_state;
        bool known;
        bool reread;   /* a change came while GetAll was under way: ask again after it */
        bool reported; /* av.engine_inactive sent for the current outage */
        sd_bus_slot *load_slot, *getall_slot, *match_slot;
        sd_event_source *grace;
};

struct AvUnits {
        sd_event *event;
        SysBus *sysbus;
        EventEmitter emit;
        Policy *policy; /* the one av_units_start() was given */
        Unit *units;
        size_t n_units;
        bool listening;
        sd_bus *bus;
        bool present, absent_logged;
        /* systemd's unique name, from GetNameOwner and NameOwnerChanged: only its
         * signals count (see sysbus_signal_from()); NULL while not known. */
        char *owner;
        sd_bus_slot *match_owner, *owner_slot, *subscribe_slot;
        uint64_t n_reported;
};

static char *av_units_clean(const char *s) {
        return text_sanitize(s ? s : "", s ? strlen(s) : 0, 256, NULL);
}

static void av_units_unit_forget_bus(Unit *u) {
        u->load_slot = sd_bus_slot_unref(u->load_slot);
        u->getall_slot = sd_bus_slot_unref(u->getall_slot);
        u->match_slot = sd_bus_slot_unref(u->match_slot);
        u->reread = false;
        if (u->grace)
                (void) sd_event_source_set_enabled(u->grace, SD_EVENT_OFF);
        u->known = false;
}

static void av_units_unit_done(Unit *u) {
        av_units_unit_forget_bus(u);
        sd_event_source_disable_unref(u->grace);
        free(u->name);
        free(u->path);
        free(u->active_state);
        free(u->sub_state);
        free(u->load_state);
}

static bool av_units_unit_up(const Unit *u) {
        return streq_ptr(u->load_state, "loaded") &&
               (streq_ptr(u->active_state, "active") || streq_ptr(u->active_state, "reloading"));
}

static bool av_units_unit_in_transition(const Unit *u) {
        return streq_ptr(u->load_state, "loaded") &&
               ((streq_ptr(u->active_state, "activating") && !streq_ptr(u->sub_state, "auto-restart")) ||
                streq_ptr(u->active_state, "deactivating"));
}

static void av_units_emit_inactive(AvUnits *a, Unit *u) {
        const AvPolicy *p = &a->policy->av;
        Event *e = event_new(EVENT_AV_ENGINE_INACTIVE);
        JsonWriter *w;

        if (!e || event_set_policy_ref(e, p->policy_ref) < 0) {
                event_free(e);
                return (void) log_oom();
        }
        w = event_body(e);
        json_key(w, "antivirus");
        json_object_begin(w);
        json_kv_string(w, "engine", av_engine_to_string(p->engine));
        json_key(w, "unit");
        json_object_begin(w);
        json_kv_string(w, "name", u->name);
        json_kv_string(w, "active_state", u->active_state);
        json_kv_string(w, "sub_state", u->sub_state);
        json_kv_string(w, "load_state", u->load_state);
        json_object_end(w);
        json_object_end(w);
        if (!streq_ptr(u->load_state, "loaded"))
                (void) event_set_message(e, "Antivirus unit %s is not installed (%s)", u->name, strna(u->load_state));
        else
                (void) event_set_message(e, "Antivirus unit %s is not running (%s/%s)", u->name, strna(u->active_state),
                                         strna(u->sub_state));
        a->n_reported++;
        (void) event_emit(&a->emit, e, NULL);
}

static int av_units_on_grace(sd_event_source *s, uint64_t usec, void *userdata) {
        Unit *u = userdata;
        if (!u->known || av_units_unit_up(u) || u->reported)
                return 0;
        u->reported = true;
        av_units_emit_inactive(u->owner, u);
        return 0;
}

static void av_units_evaluate(Unit *u) {
        usec_t grace;
        int r;

        if (!u->known)
                return;
        if (av_units_unit_up(u)) {
                if (u->grace)
                        (void) sd_event_source_set_enabled(u->grace, SD_EVENT_OFF);
                if (u->reported)
                        log_info("Antivirus unit %s is active again.", u->name);
                u->reported = false;
                return;
        }
        if (u->reported)
                return;
        grace = av_units_unit_in_transition(u) ? UNIT_GRACE_TRANSITION : UNIT_GRACE_DOWN;
        if (u->grace) {
                int enabled = SD_EVENT_OFF;
                (void) sd_event_source_get_enabled(u->grace, &enabled);
                if (enabled != SD_EVENT_OFF && grace == UNIT_GRACE_TRANSITION)
                        return; /* already counting */
                r = sd_event_source_set_time_relative(u->grace, grace);
                if (r >= 0)
                        r = sd_event_source_set_enabled(u->grace, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(u->owner->event, &u->grace, CLOCK_MONOTONIC, grace, 100 * USEC_PER_MSEC,
                                               av_units_on_grace, u);
        if (r < 0)
                log_error_errno(r, "Cannot time the check of unit %s: %m", u->name);
}

/* ---- properties ---- */

static void av_units_get_all(Unit *u);

static int av_units_read_unit_properties(sd_bus_message *m, Unit *u) {
        int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
                const char *name, *contents = NULL, *v;
                char **field = NULL;
                char type;

                r = sd_bus_message_read_basic(m, 's', &name);
                if (r < 0)
                        return r;
                if (streq(name, "ActiveState"))
                        field = &u->active_state;
                else if (streq(name, "SubState"))
                        field = &u->sub_state;
                else if (streq(name, "LoadState"))
                        field = &u->load_state;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (field && streq_ptr(contents, "s")) {
                        r = sd_bus_message_read(m, "v", "s", &v);
                        if (r >= 0) {
                                free(*field);
                                *field = av_units_clean(v);
                        }
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int av_units_on_getall(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Unit *u = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        u->getall_slot = sd_bus_slot_unref(u->getall_slot);
        if (e) {
                u->reread = false;
                log_warning("Cannot read the state of unit %s: %s", u->name, strna(e->message));
                return 0;
        }
        if (av_units_read_unit_properties(m, u) < 0) {
                log_warning("Cannot parse the state of unit %s.", u->name);
                return 0;
        }
        if (!u->known)
                log_info("Antivirus unit %s: %s/%s (%s).", u->name, strna(u->active_state), strna(u->sub_state),
                         strna(u->load_state));
        u->known = true;
        if (u->reread)
                av_units_get_all(u); /* av_units_evaluate() follows that reply */
        else
                av_units_evaluate(u);
        return 0;
}

static void av_units_get_all(Unit *u) {
        AvUnits *a = u->owner;
        int r;

        if (u->getall_slot) {
                /* systemd may have answered the pending question before the change: ask again after it. */
                u->reread = true;
                return;
        }
        u->reread = false;
        r = sd_bus_call_method_async(a->bus, &u->getall_slot, SYSTEMD_NAME, u->path, "org.freedesktop.DBus.Properties",
                                     "GetAll", av_units_on_getall, u, "s", SYSTEMD_UNIT);
        if (r < 0)
                log_error_errno(r, "Cannot ask systemd about %s: %m", u->name);
}

/* A change is only a cue: the state is read from systemd itself (GetAll goes
 * to the owner of its name), so that even a signal that got past the sender
 * check could not make a unit look down or up. */
static int av_units_on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Unit *u = userdata;

        if (!sysbus_signal_from(u->owner->sysbus, m, u->owner->owner))
                return 0;
        av_units_get_all(u);
        return 0;
}

static void av_units_set_absent(AvUnits *a, const char *why) {
        bool was = a->present;
        a->present = false;
        for (size_t i = 0; i < a->n_units; i++)
                av_units_unit_forget_bus(&a->units[i]);
        if (a->n_units > 0 && (was || !a->absent_logged))
                log_warning("systemd is not on the system bus (%s): the antivirus units cannot be checked now.", why);
        a->absent_logged = true;
}

static int av_units_on_load_unit(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Unit *u = userdata;
        AvUnits *a = u->owner;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *path;
        _cleanup_free_ char *rule = NULL;
        int r;

        u->load_slot = sd_bus_slot_unref(u->load_slot);
        if (e) {
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                        av_units_set_absent(a, e->message ?: e->name);
                        return 0;
                }
                if (sd_bus_error_has_name(e, "org.freedesktop.systemd1.NoSuchUnit")) {
                        (void) free_and_strdup(&u->load_state, "not-found");
                        (void) free_and_strdup(&u->active_state, "inactive");
                        (void) free_and_strdup(&u->sub_state, "dead");
                        u->known = true;
                        av_units_evaluate(u);
                        return 0;
                }
                log_warning("systemd cannot load unit %s: %s", u->name, strna(e->message));
                return 0;
        }
        a->present = true;
        a->absent_logged = false;
        if (sd_bus_message_read(m, "o", &path) < 0)
                return 0;
        if (free_and_strdup(&u->path, path) < 0)
                return log_oom(), 0;
        /* The match first: no change between our question and its answer is missed. */
        if (asprintf(&rule,
                     "type='signal',sender='" SYSTEMD_NAME "',path='%s',interface='org.freedesktop.DBus.Properties',"
                     "member='PropertiesChanged',arg0='" SYSTEMD_UNIT "'",
                     path) < 0)
                return log_oom(), 0;
        u->match_slot = sd_bus_slot_unref(u->match_slot);
        r = sd_bus_add_match_async(a->bus, &u->match_slot, rule, av_units_on_properties_changed, NULL, u);
        if (r < 0)
                log_error_errno(r, "Cannot follow unit %s: %m", u->name);
        av_units_get_all(u);
        return 0;
}

static void av_units_query(AvUnits *a, Unit *u) {
        int r;
        av_units_unit_forget_bus(u);
        if (!a->bus)
                return;
        r = sd_bus_call_method_async(a->bus, &u->load_slot, SYSTEMD_NAME, SYSTEMD_PATH, SYSTEMD_MANAGER, "LoadUnit",
                                     av_units_on_load_unit, u, "s", u->name);
        if (r < 0)
                log_error_errno(r, "Cannot ask systemd about %s: %m", u->name);
}

static void av_units_query_all(AvUnits *a) {
        for (size_t i = 0; i < a->n_units; i++)
                av_units_query(a, &a->units[i]);
}

static int av_units_on_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        AvUnits *a = userdata;
        a->subscribe_slot = sd_bus_slot_unref(a->subscribe_slot);
        return 0; /* systemd only signals unit changes to subscribers; errors don't matter */
}

/* systemd is on the bus as owner: follow it from now on. */
static void av_units_follow(AvUnits *a, const char *owner) {
        if (free_and_strdup(&a->owner, owner) < 0)
                return (void) log_oom();
        a->subscribe_slot = sd_bus_slot_unref(a->subscribe_slot);
        (void) sd_bus_call_method_async(a->bus, &a->subscribe_slot, SYSTEMD_NAME, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                        "Subscribe", av_units_on_subscribe, a, NULL);
        av_units_query_all(a);
}

/* Only the bus itself can send a signal whose sender is org.freedesktop.DBus:
 * dbus-daemon sets the sender of every message it routes to the unique name of
 * the connection that sent it, and no connection may own that name. */
static int av_units_on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        AvUnits *a = userdata;
        const char *name, *old_owner, *new_owner;

        if (!sysbus_signal_from(a->sysbus, m, DBUS_NAME) ||
            sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, SYSTEMD_NAME))
                return 0;
        a->owner_slot = sd_bus_slot_unref(a->owner_slot); /* this is newer than its answer */
        if (isempty(new_owner)) {
                a->owner = mfree(a->owner);
                av_units_set_absent(a, "it left the bus");
                return 0;
        }
        av_units_follow(a, new_owner);
        return 0;
}

static int av_units_on_get_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        AvUnits *a = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *owner;

        a->owner_slot = sd_bus_slot_unref(a->owner_slot);
        if (e) {
                av_units_set_absent(a, e->message ?: e->name); /* NameOwnerChanged tells when it comes */
                return 0;
        }
        if (sd_bus_message_read(m, "s", &owner) < 0 || owner[0] != ':') {
                av_units_set_absent(a, "the bus gave no owner of its name");
                return 0;
        }
        av_units_follow(a, owner);
        return 0;
}

static void av_units_drop_bus(AvUnits *a) {
        for (size_t i = 0; i < a->n_units; i++)
                av_units_unit_forget_bus(&a->units[i]);
        a->owner = mfree(a->owner);
        a->owner_slot = sd_bus_slot_unref(a->owner_slot);
        a->match_owner = sd_bus_slot_unref(a->match_owner);
        a->subscribe_slot = sd_bus_slot_unref(a->subscribe_slot);
        a->bus = sd_bus_unref(a->bus);
}

static void av_units_on_bus(SysBus *b, sd_bus *bus, void *userdata) {
        AvUnits *a = userdata;
        int r;

        av_units_drop_bus(a);
        if (!bus) {
                av_units_set_absent(a, "the system bus is gone");
                return;
        }
        a->bus = sd_bus_ref(bus);
        if (a->n_units == 0)
                return;
        r = sd_bus_add_match_async(bus, &a->match_owner,
                                   "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                   "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" SYSTEMD_NAME "'",
                                   av_units_on_name_owner_changed, NULL, a);
        /* The match first, then systemd's unique name, then (once known) the units. */
        if (r >= 0)
                r = sd_bus_call_method_async(bus, &a->owner_slot, DBUS_NAME, "/org/freedesktop/DBus", DBUS_NAME,
                                             "GetNameOwner", av_units_on_get_name_owner, a, "s", SYSTEMD_NAME);
        if (r < 0)
                log_error_errno(r, "Cannot follow systemd on the bus: %m");
}

/* ---- public ---- */

int av_units_new(sd_event *event, SysBus *bus, const EventEmitter *emit, AvUnits **ret) {
        assert(event);
        assert(bus);
        assert(emit);
        assert(ret);
        AvUnits *a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->event = sd_event_ref(event);
        a->sysbus = bus;
        a->emit = *emit;
        *ret = a;
        return 0;
}

AvUnits *av_units_free(AvUnits *a) {
        if (!a)
                return NULL;
        if (a->listening)
                sysbus_remove_listener(a->sysbus, av_units_on_bus, a);
        av_units_drop_bus(a);
        for (size_t i = 0; i < a->n_units; i++)
                av_units_unit_done(&a->units[i]);
        free(a->units);
        policy_unref(a->policy);
        sd_event_unref(a->event);
        free(a);
        return NULL;
}

int av_units_start(AvUnits *a, Policy *policy) {
        assert(a);
        assert(policy);
        const AvPolicy *p = &policy->av;
        Unit *units = NULL;
        size_t n = p->n_units;

        if (n > 0) {
                units = calloc(n, sizeof *units);
                if (!units)
                        return log_oom();
        }
        for (size_t i = 0; i < n; i++) {
                units[i].owner = a;
                units[i].name = strdup(p->units[i]);
                if (!units[i].name) {
                        for (size_t k = 0; k < i; k++)
                                av_units_unit_done(&units[k]);
                        free(units);
                        return log_oom();
                }
                /* An outage already reported stays reported across a reload. */
                for (size_t k = 0; k < a->n_units; k++)
                        if (streq(a->units[k].name, units[i].name))
                                units[i].reported = a->units[k].reported;
        }
        for (size_t i = 0; i < a->n_units; i++)
                av_units_unit_done(&a->units[i]);
        free(a->units);
        a->units = units;
        a->n_units = n;
        if (a->policy != policy) {
                policy_unref(a->policy);
                a->policy = policy_ref(policy);
        }

        if (!a->listening) {
                a->listening = true;
                return sysbus_add_listener(a->sysbus, av_units_on_bus, a); /* calls av_units_on_bus() now if connected */
        }
        if (a->bus) {
                sd_bus *bus = sd_bus_ref(a->bus);
                av_units_on_bus(NULL, bus, a);
                sd_bus_unref(bus);
        }
        return 0;
}

size_t av_units_n_inactive(AvUnits *a) {
        size_t n = 0;
        for (size_t i = 0; a && i < a->n_units; i++)
                if (a->units[i].known && !av_units_unit_up(&a->units[i]))
                        n++;
        return n;
}

void av_units_posture(AvUnits *a, PostureAv *ret) {
        assert(ret);
        for (size_t i = 0; a && i < a->n_units; i++) {
                const Unit *u = &a->units[i];
                if (ret->n_units >= POSTURE_UNITS_MAX) {
                        ret->units_not_shown++;
                        continue;
                }
                ret->units[ret->n_units++] = (PostureUnit){ .name = u->name,
                                                            .active = !u->known ? -1 : av_units_unit_up(u) };
        }
}

void av_units_status(AvUnits *a, JsonWriter *w) {
        assert(w);
        json_key(w, "antivirus_units");
        json_array_begin(w);
        for (size_t i = 0; a && i < a->n_units; i++) {
                const Unit *u = &a->units[i];
                json_object_begin(w);
                json_kv_string(w, "name", u->name);
                json_kv_string(w, "state", !u->known ? "unknown" : av_units_unit_up(u) ? "active" : "inactive");
                if (u->known) {
                        json_kv_string(w, "active_state", u->active_state);
                        json_kv_string(w, "sub_state", u->sub_state);
                        json_kv_string(w, "load_state", u->load_state);
                }
                json_object_end(w);
        }
        json_array_end(w);
}
