/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <signal.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>

#include "config-paths.h"
#include "config-snapshot.h"
#include "control.h"
#include "control-reply.h"
#include "log.h"
#include "manager.h"
#include "manager-posture.h"
#include "mmc.h"
#include "text.h"
#include "notice.h"
#include "quarantine.h"
#include "av-detect.h"
#include "av-fullscan.h"
#include "av-scan.h"
#include "av.h"
#include "lock.h"
#include "reporting.h"
#include "seat.h"
#include "sessions.h"
#include "sysbus.h"
#include "usb-enforce.h"
#include "usb-monitor.h"
#include "usb-report.h"
#include "usb-unmount.h"
#include "firewire.h"
#include "thunderbolt.h"
#include "optical.h"

static const char *manager_dir_or_env(const char *given, const char *env, const char *fallback) {
        const char *e;
        if (given)
                return given;
        e = getenv(env);
        /* systemd may pass several directories separated by ':'; the first is ours. */
        if (!isempty(e))
                return e;
        return fallback;
}

int manager_new(const ManagerOptions *opt, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof *m);
        const char *s;
        int r;

        assert(opt);
        assert(ret);

        if (!m)
                return -ENOMEM;
        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");

        m->config_path = strdup(opt->config_path ? opt->config_path : MAMORI_CONFIG_PATH);
        m->allow_dir = opt->allow_dir ? strdup(opt->allow_dir) : config_allow_dir_for(m->config_path ?: "");
        s = manager_dir_or_env(opt->state_dir, "STATE_DIRECTORY", MAMORI_STATE_DIR);
        m->state_dir = strndup(s, strcspn(s, ":"));
        s = manager_dir_or_env(opt->runtime_dir, "RUNTIME_DIRECTORY", MAMORI_RUNTIME_DIR);
        m->runtime_dir = strndup(s, strcspn(s, ":"));
        if (!m->config_path || !m->allow_dir || !m->state_dir || !m->runtime_dir)
                return log_oom();

        r = hostinfo_read(&m->host);
        if (r < 0)
                return log_oom();
        r = event_sinks_new(&m->sinks);
        if (r < 0)
                return log_oom();

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        manager_posture_stop(m);
        /* Out of the sinks before they go: the last commit below publishes without them. */
        event_sinks_remove(m->sinks, m->control);
        m->control = control_free(m->control);
        av_monitor_free(m->av);
        quarantine_free(m->quarantine);
        av_scan_free(m->av_scan); /* before av_detect, which its findings go to */
        av_detect_free(m->av_detect);
        av_fullscan_free(m->av_fullscan);
        lock_enforcer_free(m->lock); /* before the tracker it listens to */
        session_tracker_free(m->sessions);
        m->thunderbolt = thunderbolt_enforcer_free(m->thunderbolt); /* before the sysbus it asks */
        m->firewire = firewire_enforcer_free(m->firewire);
        sysbus_free(m->sysbus);
        usb_monitor_free(m->usb_monitor);
        usb_enforcer_free(m->usb);
        mmc_enforcer_free(m->mmc);
        optical_enforcer_free(m->optical);
        event_sinks_remove(m->sinks, m->notice);
        m->notice = notice_sender_free(m->notice);
        /* Before the policy: a last commit may still render a drop event. */
        reporting_free(m->reporting);
        m->sinks = event_sinks_free(m->sinks);
        policy_unref(m->policy);
        config_errors_done(&m->start_errors);
        config_errors_done(&m->refused_errors);
        hostinfo_done(&m->host);
        sd_event_source_disable_unref(m->status_timer);
        free(m->status_sent);
        sd_event_source_disable_unref(m->sig_term);
        sd_event_source_disable_unref(m->sig_int);
        sd_event_source_disable_unref(m->sig_hup);
        sd_event_source_disable_unref(m->sig_usr1);
        sd_event_source_disable_unref(m->sig_usr2);
        sd_event_unref(m->event);
        free(m->config_path);
        free(m->allow_dir);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m);
        return NULL;
}

/* ---- events ---- */

int manager_render_event(Manager *m, Event *e, char **ret, size_t *ret_len) {
        SeatUser user = { 0 };
        int r;

        assert(m);
        assert(e);
        assert(ret);

        /* logind's view over the bus when we have one, its /run files otherwise. */
        if (session_tracker_seat_user(m->sessions, "seat0", &user) < 0)
                (void) seat_active_user(&user);
        EventEnvelope env = {
                .host_name = m->host.name,
                .machine_id = m->host.machine_id,
                .agent_version = MAMORI_VERSION,
                .policy_hash = m->policy ? m->policy->hash : NULL,
                .user_name = user.name,
                .user_uid = user.known ? (int64_t) user.uid : -1,
                .session_id = user.session,
                .site_department = m->policy ? m->policy->site.department : NULL,
                .site_location = m->policy ? m->policy->site.location : NULL,
        };

        r = event_render(e, &env, ret, ret_len);
        seat_user_done(&user);
        return r;
}

int manager_emit_with(Manager *m, Event *e_, const EventContext *ctx) {
        _cleanup_(event_freep) Event *e = e_;

        assert(m);

        m->n_events++;
        if (e->kind != EVENT_AGENT_POSTURE)
                manager_posture_changed(m); /* whatever the event says may show in the posture */
        return event_sinks_consume(m->sinks, e, ctx);
}

static int manager_emit_cb(void *userdata, Event *e, const EventContext *ctx) {
        return manager_emit_with(userdata, e, ctx);
}

EventEmitter manager_emitter(Manager *m) {
        assert(m);

        return (EventEmitter){ .emit = manager_emit_cb, .userdata = m };
}

static int manager_render_cb(void *userdata, Event *e, char **ret, size_t *ret_len) {
        return manager_render_event(userdata, e, ret, ret_len);
}

int manager_start_reporting(Manager *m) {
        int r;

        assert(m);

        r = reporting_new(&(ReportingOptions){ .event = m->event,
                                               .state_dir = m->state_dir,
                                               /* mamori-uplink's directories (its unit's
                                                * StateDirectory= and RuntimeDirectory=) */
                                               .uplink_state_dir = manager_dir_or_env(NULL, "MAMORI_UPLINK_STATE_DIR",
                                                                                      MAMORI_UPLINK_STATE_DIR),
                                               .uplink_runtime_dir = manager_dir_or_env(NULL, "MAMORI_UPLINK_RUNTIME_DIR",
                                                                                        MAMORI_UPLINK_RUNTIME_DIR),
                                               .spool_max_bytes = m->policy->spool.max_bytes,
                                               .started_at = m->started_at,
                                               .emitter = manager_emitter(m),
                                               .renderer = { manager_render_cb, m },
                                               .sinks = m->sinks },
                          &m->reporting);
        if (r < 0)
                return r;
        /* First: the event has its seq and is in the spool before anyone else hears of it. */
        r = event_sinks_add(m->sinks, reporting_sink(m->reporting));
        if (r < 0)
                return log_oom();
        return reporting_set_policy(m->reporting, m->policy);
}

/* The new policy, to every module that holds one, after a reload that took
 * (a refused one changes nothing anywhere). */
static void manager_push_policy(Manager *m) {
        if (m->reporting)
                (void) reporting_set_policy(m->reporting, m->policy);
        if (m->notice)
                notice_sender_set_policy(m->notice, m->policy);
        if (m->usb)
                usb_enforcer_set_policy(m->usb, m->policy);
        if (m->thunderbolt)
                thunderbolt_enforcer_set_policy(m->thunderbolt, m->policy);
        if (m->firewire)
                firewire_enforcer_set_policy(m->firewire, m->policy);
        if (m->mmc) /* decides the plugged cards again */
                mmc_enforcer_set_policy(m->mmc, m->policy);
        if (m->optical)
                optical_enforcer_set_policy(m->optical, m->policy);
}

/* ---- policy ---- */

static void manager_log_policy(const Policy *p) {
        config_log_ignored(p->allow_dir);
        for (size_t i = 0; i < p->usb.n_entries; i++) {
                const AllowEntry *a = &p->usb.entries[i];
                if (a->bus == DEVICE_BUS_USB && a->any_serial)
                        log_notice("%s:%u: allow entry for %04x:%04x has any_serial = true: every device of this model is allowed%s%s",
                                   a->file, a->line, a->vendor, a->product, a->label ? " — " : "", strempty(a->label));
        }
        ConfigErrors notes = { 0 };
        config_policy_notes(p, now_usec(CLOCK_REALTIME), &notes);
        for (size_t i = 0; i < notes.n; i++)
                log_notice("%s:%d: %s", strna(notes.items[i].file), notes.items[i].line, strna(notes.items[i].message));
        config_errors_done(&notes);
        char others[128] = "";
        for (DeviceCategory c = 0; c < _DEVICE_CATEGORY_MAX; c++)
                if (p->devices.block_mask & DEVICE_CATEGORY_BIT(c)) {
                        strncat(others, " ", sizeof others - strlen(others) - 1);
                        strncat(others, device_category_to_string(c), sizeof others - strlen(others) - 1);
                }
        log_info("Policy %.12s loaded: %zu allow entr%s from %zu file%s; blocking%s%s%s%s%s%s.", p->hash,
                 p->usb.n_entries, p->usb.n_entries == 1 ? "y" : "ies", p->n_files, p->n_files == 1 ? "" : "s",
                 p->usb.block_mask & USB_CATEGORY_BIT(USB_CATEGORY_STORAGE) ? " storage" : "",
                 p->usb.block_mask & USB_CATEGORY_BIT(USB_CATEGORY_MTP) ? " mtp" : "",
                 p->usb.block_mask & USB_CATEGORY_BIT(USB_CATEGORY_PTP) ? " ptp" : "",
                 p->usb.block_mask & USB_CATEGORY_BIT(USB_CATEGORY_TETHERING) ? " tethering" : "", others,
                 p->usb.block_mask == 0 && p->devices.block_mask == 0 ? " nothing (devices.block is empty)" : "");
}

void manager_write_config_errors(JsonWriter *w, const ConfigErrors *errs) {
        assert(w);
        assert(errs);

        json_key(w, "errors");
        json_array_begin(w);
        for (size_t i = 0; i < errs->n && i < 50; i++) {
                json_object_begin(w);
                json_kv_string(w, "file", errs->items[i].file);
                json_kv_int(w, "line", errs->items[i].line);
                json_kv_string(w, "message", errs->items[i].message);
                json_object_end(w);
        }
        json_array_end(w);
        if (errs->n > 50)
                json_kv_uint(w, "errors_not_shown", errs->n - 50);
}

static void manager_emit_config_error(Manager *m, const ConfigErrors *errs, bool at_start) {
        _cleanup_free_ char *summary = config_errors_summary(errs);
        Event *e = event_new(EVENT_AGENT_CONFIG_ERROR);
        JsonWriter *w;

        if (!e)
                return (void) log_oom();
        (void) event_set_message(e, "%s: %s",
                                 !at_start ? "Reload refused, the running policy stays in force"
                                 : m->last_good
                                         ? "Configuration unusable at start, enforcing the last good policy"
                                         : "Configuration unusable at start, failing closed (every USB category blocked)",
                                 strna(summary));
        if (at_start)
                e->severity = EVENT_SEVERITY_CRITICAL;
        w = event_body(e);
        json_key(w, "config");
        json_object_begin(w);
        json_kv_string(w, "path", m->config_path);
        json_kv_string(w, "phase", at_start ? "start" : "reload");
        json_kv_string(w, "outcome",
                       !at_start      ? "kept_running_policy"
                       : m->last_good ? "last_good_policy"
                                      : "fail_closed");
        if (at_start && m->last_good) {
                char buf[RFC3339_MAX];
                json_kv_string(w, "last_good_saved", format_rfc3339(buf, m->last_good_saved));
        }
        if (m->policy)
                json_kv_string(w, "running_policy_hash", m->policy->hash);
        manager_write_config_errors(w, errs);
        json_object_end(w);
        (void) manager_emit(m, e);
}

static void manager_log_config_errors(const ConfigErrors *errs, int level) {
        for (size_t i = 0; i < errs->n; i++)
                log_full(level, "%s:%d: %s", strna(errs->items[i].file), errs->items[i].line,
                         strna(errs->items[i].message));
}

static bool manager_entry_equal(const AllowEntry *a, const AllowEntry *b) {
        if (a->bus != DEVICE_BUS_USB || b->bus != DEVICE_BUS_USB)
                return allow_entry_same_device(a, b) && a->expires_at == b->expires_at;
        return a->vendor == b->vendor && a->product == b->product && a->any_serial == b->any_serial &&
               a->serial_len == b->serial_len && (!a->serial || memcmp(a->serial, b->serial, a->serial_len) == 0) &&
               a->expires_at == b->expires_at;
}

static void manager_write_entry(JsonWriter *w, const AllowEntry *a, const AllowEntry *was) {
        char id[10];
        snprintf(id, sizeof id, "%04x:%04x", a->vendor, a->product);
        json_object_begin(w);
        if (a->bus != DEVICE_BUS_USB) {
                /* Another bus: its identity values, checked at load (common/device-bus.c). */
                const char *const *keys = device_bus_id_keys(a->bus);
                json_kv_string(w, "bus", device_bus_to_string(a->bus));
                for (size_t k = 0; keys[k]; k++)
                        json_kv_string(w, keys[k], a->id[k]);
        } else
                json_kv_string(w, "device", id);
        if (a->bus == DEVICE_BUS_USB && a->serial) {
                /* As a device's serial shows in usb.* events: escaped, and its
                 * bytes in hex when escaping changed them. */
                _cleanup_free_ char *clean = text_sanitize(a->serial, a->serial_len, 4 * a->serial_len + 4, NULL),
                                    *hex = NULL;
                json_kv_string(w, "serial", clean);
                if (clean && (strlen(clean) != a->serial_len || memcmp(clean, a->serial, a->serial_len) != 0)) {
                        hex = hex_encode(a->serial, a->serial_len);
                        json_kv_string(w, "serial_hex", hex);
                }
        }
        json_kv_bool(w, "any_serial", a->any_serial);
        json_kv_string(w, "file", a->file);
        json_kv_uint(w, "line", a->line);
        if (a->label)
                json_kv_string(w, "label", a->label);
        if (a->approved_by)
                json_kv_string(w, "approved_by", a->approved_by);
        if (a->expires)
                json_kv_string(w, "expires", a->expires);
        if (was) {
                json_kv_string(w, "old_expires", was->expires); /* null: it never expired */
                if (was->approved_by)
                        json_kv_string(w, "old_approved_by", was->approved_by);
        }
        json_object_end(w);
}

/* Pairs each entry of the new policy with the old one it continues: the
 * same entry (same device and expiry), or else, for a renewal, an old entry
 * for the same device that nothing else continues ("1 changed", not "1
 * added, 1 removed"). was[i] for new entry i, continued[k] for old entry k. */
static int manager_pair_entries(const UsbPolicy *new, const UsbPolicy *old, const AllowEntry ***ret_was,
                                bool **ret_continued) {
        _cleanup_free_ const AllowEntry **was = calloc(new->n_entries + 1, sizeof(AllowEntry *));
        _cleanup_free_ bool *continued = calloc(old->n_entries + 1, sizeof(bool));

        if (!was || !continued)
                return -ENOMEM;
        for (size_t i = 0; i < new->n_entries; i++)
                for (size_t k = 0; k < old->n_entries; k++)
                        if (!continued[k] && manager_entry_equal(&new->entries[i], &old->entries[k])) {
                                was[i] = &old->entries[k];
                                continued[k] = true;
                                break;
                        }
        for (size_t i = 0; i < new->n_entries; i++)
                for (size_t k = 0; k < old->n_entries && !was[i]; k++)
                        if (!continued[k] && allow_entry_same_device(&new->entries[i], &old->entries[k])) {
                                was[i] = &old->entries[k];
                                continued[k] = true;
                        }
        *ret_was = TAKE_PTR(was);
        *ret_continued = TAKE_PTR(continued);
        return 0;
}

/* What changed, so the central team sees any weakening as it happens. */
static void manager_emit_config_changed(Manager *m, const Policy *old, const Policy *new) {
        Event *e = event_new(EVENT_AGENT_CONFIG_CHANGED);
        size_t added = 0, removed = 0, changed = 0;
        unsigned unblocked = old->usb.block_mask & ~new->usb.block_mask;
        _cleanup_free_ const AllowEntry **was = NULL;
        _cleanup_free_ bool *continued = NULL;
        bool extended = false;
        JsonWriter *w;

        if (!e || manager_pair_entries(&new->usb, &old->usb, &was, &continued) < 0) {
                event_free(e);
                return (void) log_oom();
        }
        w = event_body(e);
        json_key(w, "config");
        json_object_begin(w);
        json_kv_string(w, "path", m->config_path);
        json_kv_string(w, "old_policy_hash", old->hash);
        json_kv_string(w, "new_policy_hash", new->hash);
        json_kv_bool(w, "was_fail_closed", old->failsafe);
        usb_report_write_categories(w, "blocked_categories", new->usb.block_mask);
        usb_report_write_categories(w, "categories_no_longer_blocked", unblocked);
        usb_report_write_categories(w, "categories_newly_blocked", new->usb.block_mask & ~old->usb.block_mask);
        json_key(w, "allow_entries_added");
        json_array_begin(w);
        for (size_t i = 0; i < new->usb.n_entries; i++)
                if (!was[i]) {
                        manager_write_entry(w, &new->usb.entries[i], NULL);
                        added++;
                }
        json_array_end(w);
        json_key(w, "allow_entries_changed");
        json_array_begin(w);
        for (size_t i = 0; i < new->usb.n_entries; i++)
                if (was[i] && !manager_entry_equal(&new->usb.entries[i], was[i])) {
                        manager_write_entry(w, &new->usb.entries[i], was[i]);
                        changed++;
                        extended = extended || new->usb.entries[i].expires_at > was[i]->expires_at;
                }
        json_array_end(w);
        json_key(w, "allow_entries_removed");
        json_array_begin(w);
        for (size_t k = 0; k < old->usb.n_entries; k++)
                if (!continued[k]) {
                        manager_write_entry(w, &old->usb.entries[k], NULL);
                        removed++;
                }
        json_array_end(w);
        json_kv_uint(w, "allow_entries", new->usb.n_entries);
        json_object_end(w);
        if (unblocked || added || extended)
                e->severity = EVENT_SEVERITY_HIGH; /* the policy became more permissive */
        (void) event_set_message(e, "Policy changed %.12s -> %.12s: %zu allow entr%s added, %zu changed, %zu removed%s",
                                 old->hash, new->hash, added, added == 1 ? "y" : "ies", changed, removed,
                                 unblocked ? "; some categories are no longer blocked" : "");
        (void) manager_emit(m, e);
}

/* Keeps the policy in force as the last good one (config-snapshot.h), once
 * per policy: a policy that loaded from the files on disk, never the
 * fail-closed one. A failure costs only the fallback; it is logged. */
static void manager_save_last_good(Manager *m) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (m->policy->failsafe || m->last_good || !m->policy->texts || streq(m->saved_hash, m->policy->hash))
                return;
        if (asprintf(&path, "%s/last-good.policy", m->state_dir) < 0)
                return (void) log_oom();
        r = config_snapshot_save(m->policy, path);
        if (r < 0)
                return (void) log_warning_errno(r, "Cannot keep policy %.12s as the last good one in %s: %m",
                                                m->policy->hash, path);
        memcpy(m->saved_hash, m->policy->hash, sizeof m->saved_hash);
        log_debug("Policy %.12s kept as the last good one.", m->policy->hash);
}

int manager_reload(Manager *m) {
        _cleanup_(policy_unrefp) Policy *p = NULL, *old = NULL;
        ConfigErrors errs = { 0 };
        int r;

        assert(m);

        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading configuration...");
        r = config_load(m->config_path, m->allow_dir, &p, &errs);
        if (r < 0) {
                if (r == -ENOMEM)
                        log_oom();
                log_error("Reload refused: %zu error%s in the configuration; policy %.12s stays in force.", errs.n,
                          errs.n == 1 ? "" : "s", m->policy->hash);
                manager_log_config_errors(&errs, LOG_ERR);
                manager_emit_config_error(m, &errs, false);
                /* Kept for mamorictl (status, reload) until a reload succeeds. */
                config_errors_done(&m->refused_errors);
                m->refused_errors = errs;
                errs = (ConfigErrors){ 0 };
                m->refused_at = now_usec(CLOCK_REALTIME);
                reporting_commit(m->reporting); /* READY: what happened so far is recorded */
                (void) sd_notify(false, "READY=1");
                manager_send_status(m);
                return r;
        }
        config_errors_done(&errs);
        config_errors_done(&m->refused_errors);
        m->refused_at = 0;
        m->last_good = false;

        if (streq(p->hash, m->policy->hash)) {
                log_info("Configuration unchanged (policy %.12s).", p->hash);
                reporting_commit(m->reporting); /* READY: what happened so far is recorded */
                (void) sd_notify(false, "READY=1");
                manager_send_status(m);
                return 0;
        }

        manager_log_policy(p);
        old = m->policy;
        m->policy = TAKE_PTR(p);
        manager_push_policy(m);
        manager_emit_config_changed(m, old, m->policy);
        /* Devices already plugged in are decided again under the new policy,
         * including ones that were not of a blocked category before. */
        if (m->usb_monitor)
                (void) usb_monitor_scan(m->usb_monitor);
        if (m->thunderbolt)
                (void) thunderbolt_enforcer_scan(m->thunderbolt);
        if (m->firewire)
                (void) firewire_enforcer_scan(m->firewire);
        lock_enforcer_set_policy(m->lock, m->policy);
        av_monitor_set_policy(m->av, m->policy);
        if (m->quarantine)
                quarantine_set_policy(m->quarantine, m->policy);
        if (m->av_detect)
                av_detect_set_policy(m->av_detect, m->policy);
        if (m->av_fullscan)
                av_fullscan_set_policy(m->av_fullscan, m->policy);
        if (m->av_scan)
                av_scan_set_policy(m->av_scan, m->policy);
        manager_save_last_good(m);
        reporting_commit(m->reporting); /* READY: what happened so far is recorded */
        (void) sd_notify(false, "READY=1");
        manager_send_status(m);
        return 0;
}

static int manager_load_initial_policy(Manager *m) {
        int r;

        r = config_load(m->config_path, m->allow_dir, &m->policy, &m->start_errors);
        if (r >= 0) {
                manager_log_policy(m->policy);
                return 0;
        }
        if (r == -ENOMEM)
                return log_oom();

        /* The policy that was in force before, if one ever loaded: a typo
         * found at boot must not lock out every approved device. */
        {
                _cleanup_free_ char *path = NULL, *why = NULL;
                if (asprintf(&path, "%s/last-good.policy", m->state_dir) < 0)
                        return log_oom();
                r = config_snapshot_load(path, &m->policy, &m->last_good_saved, &why);
                if (r == -ENOMEM)
                        return log_oom();
                if (r >= 0) {
                        char buf[RFC3339_MAX];
                        m->last_good = true;
                        memcpy(m->saved_hash, m->policy->hash, sizeof m->saved_hash);
                        log_crit("The configuration on disk is refused (errors below): enforcing the LAST GOOD policy %.12s, "
                                 "saved %s, until a reload succeeds.",
                                 m->policy->hash, format_rfc3339(buf, m->last_good_saved));
                        manager_log_config_errors(&m->start_errors, LOG_CRIT);
                        manager_log_policy(m->policy);
                        return 0;
                }
                if (r != -ENOENT)
                        log_error("The last good policy %s is unusable: %s.", path, strna(why));
        }

        /* Fail closed, loudly: enforcement goes on without any exception. */
        log_crit("No valid configuration (%s): FAILING CLOSED, every USB storage, MTP, PTP and tethering interface is blocked.",
                 r == -ENOENT ? "configuration file missing" : "errors below");
        manager_log_config_errors(&m->start_errors, LOG_CRIT);
        r = policy_new_failsafe(m->config_path, &m->policy);
        if (r < 0)
                return log_oom();
        /* Tell the central team: deliver there if that part of the file is sound. */
        r = config_salvage_reporting(m->config_path, m->policy);
        if (r == -ENOMEM)
                return log_oom();
        if (r > 0)
                log_notice("The collector settings of %s are valid: the central collector will hear of this.",
                           m->config_path);
        return 0;
}

/* ---- signals, status ---- */

/* Also after each USB report and removal: the line must not go stale. */
void manager_send_status(Manager *m) {
        UsbCounts c = m->usb ? usb_enforcer_counts(m->usb) : (UsbCounts){ 0 };
        _cleanup_free_ char *text = NULL;

        assert(m);
        if (asprintf(&text, "STATUS=%s policy %.12s; %zu USB device%s, %zu blocked; %llu event%s recorded",
                     m->policy && m->policy->failsafe ? "FAIL-CLOSED (no valid config)," : "Enforcing",
                     m->policy ? m->policy->hash : "-", c.devices, c.devices == 1 ? "" : "s", c.blocked, m->n_events,
                     m->n_events == 1 ? "" : "s") < 0)
                return (void) log_oom();
        if (streq_ptr(text, m->status_sent))
                return;
        (void) sd_notify(false, text);
        free(m->status_sent);
        m->status_sent = TAKE_PTR(text);
}

static int manager_on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        manager_send_status(userdata);
        return 0;
}

void manager_update_status(Manager *m) {
        int enabled = SD_EVENT_OFF, r;

        assert(m);
        if (m->status_timer && sd_event_source_get_enabled(m->status_timer, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                return; /* already due within the second */
        if (m->status_timer) {
                r = sd_event_source_set_time_relative(m->status_timer, USEC_PER_SEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->status_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(m->event, &m->status_timer, CLOCK_MONOTONIC, USEC_PER_SEC,
                                               100 * USEC_PER_MSEC, manager_on_status_timer, m);
        if (r < 0)
                manager_send_status(m); /* no timer: now rather than never */
}

static int manager_on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        Event *e;

        if (m->stopping)
                return 0;
        m->stopping = true;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping...");
        if (m->usb)
                usb_enforcer_flush(m->usb);
        e = event_new(EVENT_AGENT_STOPPING);
        if (e) {
                (void) event_set_message(e, "mamorid is stopping (signal %s); blocked interfaces stay blocked",
                                         si->ssi_signo == SIGTERM ? "TERM" : "INT");
                json_key(event_body(e), "signal");
                json_string(event_body(e), si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                (void) manager_emit(m, e);
        }
        /* Durable before we go, whatever the loop does next. */
        reporting_commit(m->reporting);
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int manager_on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata);
        return 0;
}

static void manager_emit_started(Manager *m) {
        Event *e = event_new(EVENT_AGENT_STARTED);
        JsonWriter *w;
        if (!e)
                return (void) log_oom();
        if (m->policy->failsafe)
                e->severity = EVENT_SEVERITY_CRITICAL;
        (void) event_set_message(e, "mamorid %s started, policy %.12s%s", MAMORI_VERSION, m->policy->hash,
                                 m->policy->failsafe ? " (FAIL-CLOSED: no valid configuration)" : "");
        w = event_body(e);
        json_key(w, "config");
        json_object_begin(w);
        json_kv_string(w, "path", m->config_path);
        json_kv_bool(w, "fail_closed", m->policy->failsafe);
        json_kv_uint(w, "allow_entries", m->policy->usb.n_entries);
        usb_report_write_categories(w, "blocked_categories", m->policy->usb.block_mask);
        json_object_end(w);
        (void) manager_emit(m, e);
}

/* How the antivirus checks record their events: as every module's, and the
 * status line follows (it counts the events). */
static int manager_emit_av(void *userdata, Event *e, const EventContext *ctx) {
        int r = manager_emit_with(userdata, e, ctx);
        manager_update_status(userdata); /* the line counts the events */
        return r;
}

/* A detection was recorded (av.detection is in the record's queue).
 * TODO(issue 15 item 2): the quarantine (quarantine.on = [ "av.detection" ])
 * is triggered from here; until then it is logged only. */
/* 第7-3オ: a detection isolates the PC when quarantine.on lists av.detection. */
static void manager_on_detection(void *userdata, const AvDetection *d) {
        Manager *m = userdata;
        int r = quarantine_on_detection(m->quarantine, d->event_id);

        if (r < 0)
                log_error_errno(r, "Detection by %s could not isolate this PC: %m", d->engine);
        manager_posture_changed(m); /* its last_detection, and the quarantine */
}

/* The engines' report socket; enforcement goes on without it. */
static void manager_start_av_detect(Manager *m) {
        const EventEmitter emit = { .emit = manager_emit_av, .userdata = m };
        const AvDetectHooks hooks = { .on_detection = manager_on_detection, .userdata = m };
        int r;

        r = av_detect_new(m->event, m->runtime_dir, &emit, &hooks, &m->av_detect);
        if (r < 0) {
                log_error_errno(r, "Detections of the antivirus engine cannot be reported: %m");
                return;
        }
        av_detect_set_policy(m->av_detect, m->policy);
}

/* 第7-3ア: a finding of a media scan is a detection like an engine's
 * (av.detection, the quarantine hook). */
static void manager_on_media_finding(void *userdata, const char *signature, const char *raw_path,
                                     const char *mount_point, dev_t dev, const char *bus) {
        Manager *m = userdata;
        const AvDetection *det;
        const char *cause = NULL;
        int r;

        if (!m->av_detect)
                log_error("clamd found %s on %s, but detections cannot be recorded.", signature, mount_point);
        else {
                r = av_detect_record_local(m->av_detect, "clamav", signature, raw_path);
                if (r < 0 && r != -EBUSY)
                        log_error_errno(r, "clamd found %s on %s, but it cannot be recorded: %m", signature, mount_point);
                det = r >= 0 ? av_detect_last(m->av_detect) : NULL;
                cause = det ? det->event_id : NULL;
        }
        /* The device it was found on is de-authorized (issue 15 item 3):
         * data flows av -> manager -> the device's enforcer. */
        if (streq_ptr(bus, "usb") && m->usb) {
                r = usb_enforcer_block_infected(m->usb, dev, cause);
                if (r < 0)
                        log_error_errno(r, "clamd found %s on %s, but its USB device cannot be blocked: %m", signature,
                                        mount_point);
        } else if (streq_ptr(bus, "mmc") && m->mmc) {
                r = mmc_enforcer_block_infected(m->mmc, dev, cause);
                if (r < 0)
                        log_error_errno(r, "clamd found %s on %s, but its SD card cannot be unbound: %m", signature,
                                        mount_point);
        } else
                /* optical, firewire: not yet (docs/lock-and-antivirus.md) */
                log_warning("clamd found %s on %s (%s): only USB devices and SD cards are blocked for it.", signature,
                            mount_point, strna(bus));
}

/* Media from outside scanned by clamd when mounted (antivirus.scan). */
static void manager_start_av_scan(Manager *m) {
        const EventEmitter emit = { .emit = manager_emit_av, .userdata = m };
        const AvScanHooks hooks = { .on_finding = manager_on_media_finding, .userdata = m };

        if (av_scan_new(m->event, &emit, &hooks, &m->av_scan) < 0)
                return (void) log_oom();
        av_scan_set_policy(m->av_scan, m->policy);
}

/* The age of the last full scan (antivirus.full_scan). */
static void manager_start_av_fullscan(Manager *m) {
        const EventEmitter emit = { .emit = manager_emit_av, .userdata = m };

        if (av_fullscan_new(m->event, &emit, &m->av_fullscan) < 0)
                return (void) log_oom();
        av_fullscan_set_policy(m->av_fullscan, m->policy);
}

/* Idle lock and antivirus checks; they wait for the system bus if it is not there. */
static int manager_start_lock_av(Manager *m) {
        const EventEmitter lock_emit = manager_emitter(m), av_emit = { .emit = manager_emit_av, .userdata = m };
        int r;

        r = sysbus_new(m->event, &m->sysbus);
        if (r >= 0)
                r = session_tracker_new(m->sysbus, &m->sessions);
        if (r >= 0)
                r = lock_enforcer_new(m->event, m->sessions, &lock_emit, &m->lock);
        if (r >= 0)
                r = av_monitor_new(m->event, m->sysbus, &av_emit, &m->av);
        if (r < 0)
                return log_oom();
        lock_enforcer_set_policy(m->lock, m->policy);
        av_monitor_set_policy(m->av, m->policy);
        r = session_tracker_start(m->sessions);
        if (r >= 0)
                r = av_monitor_start(m->av);
        if (r >= 0)
                r = sysbus_start(m->sysbus);
        if (r < 0)
                return log_error_errno(r, "Cannot start the lock and antivirus checks: %m");
        return 0;
}

int manager_block_signals(sigset_t *ret_old) {
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGUSR2);
        sigaddset(&mask, SIGCHLD); /* child event sources (av-generic.c) */
        if (sigprocmask(SIG_BLOCK, &mask, ret_old) < 0)
                return negative_errno();
        return 0;
}

static int manager_on_sigusr(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_notice("Ignoring signal %s from pid %u: mamorid has no use for it.",
                   si->ssi_signo == SIGUSR1 ? "USR1" : "USR2", si->ssi_pid);
        return 0;
}

/* ---- the modules' collaborators ---- */

static void manager_on_usb_changed(void *userdata) {
        manager_update_status(userdata);
        manager_posture_changed(userdata);
}

static int manager_on_usb_unmount_start(void *userdata, MountList *mounts, dev_t *devs, size_t n_devs,
                                        UsbUnmountDone done, void *done_userdata, UsbUnmount **ret) {
        Manager *m = userdata;
        return usb_unmount_start(m->event, m->sysbus, mounts, devs, n_devs, done, done_userdata, ret);
}

static const UsbEnforcerHooks usb_hooks = {
        .changed = manager_on_usb_changed,
        .unmount_start = manager_on_usb_unmount_start,
};

/* The replies are written from the modules' state (control-reply.c). */
static void manager_on_control_request(void *userdata, const ControlRequest *req, JsonWriter *w) {
        Manager *m = userdata;

        switch (req->verb) {
        case CONTROL_STATUS:
                control_reply_status(m, w);
                break;
        case CONTROL_DEVICES:
                control_reply_devices(m, w);
                break;
        case CONTROL_FLUSH:
                control_reply_flush(m, w);
                break;
        case CONTROL_RELOAD:
                control_reply_reload(m, w);
                break;
        case CONTROL_INSPECT:
                control_reply_inspect(m, w);
                break;
        case CONTROL_QUARANTINE:
                control_reply_quarantine(m, req, w);
                break;
        default:
                assert(!"not a verb answered from the state");
        }
}

int manager_start(Manager *m) {
        int r;

        assert(m);

        /* main() blocked them before anything else; again, for other callers.
         * A signal sent during the start waits, and is handled once the loop runs
         * (a SIGHUP then reloads, a SIGTERM stops). */
        r = manager_block_signals(NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot block signals: %m");
        m->started_at = now_usec(CLOCK_MONOTONIC);
        m->started_at_realtime = now_usec(CLOCK_REALTIME);
        r = manager_load_initial_policy(m);
        if (r < 0)
                return r;

        r = manager_start_reporting(m);
        if (r < 0)
                return r;
        (void) mkdir(m->runtime_dir, 0755);

        r = sd_event_add_signal(m->event, &m->sig_term, SIGTERM, manager_on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sig_int, SIGINT, manager_on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sig_hup, SIGHUP, manager_on_sighup, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sig_usr1, SIGUSR1, manager_on_sigusr, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sig_usr2, SIGUSR2, manager_on_sigusr, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch signals: %m");
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot enable the watchdog: %m");

        r = notice_sender_new(m->event, &m->notice);
        if (r >= 0)
                r = event_sinks_add(m->sinks, notice_sink(m->notice));
        if (r < 0)
                return log_oom();
        notice_sender_set_policy(m->notice, m->policy);
        r = usb_enforcer_new(m->event, m->runtime_dir, manager_emitter(m), &usb_hooks, m, &m->usb);
        if (r < 0)
                return log_oom();
        usb_enforcer_set_policy(m->usb, m->policy); /* before the monitor's first scan */
        r = usb_monitor_new(m->event, usb_enforcer_handle, m->usb, &m->usb_monitor);
        if (r < 0)
                return log_oom();
        r = usb_monitor_start(m->usb_monitor);
        if (r < 0)
                return r;
        /* SD/MMC cards (agent/devices/mmc.c): held back, then decided. */
        r = mmc_enforcer_new(m->event, manager_emitter(m), manager_on_usb_unmount_start, m, &m->mmc);
        if (r < 0)
                return log_oom();
        mmc_enforcer_set_policy(m->mmc, m->policy);
        r = mmc_enforcer_start(m->mmc);
        if (r < 0)
                return r;
        /* Optical drives (issue 14): the same emit path as USB. */
        r = optical_enforcer_new(m->event, m->runtime_dir, manager_emitter(m), &m->optical);
        if (r < 0)
                return log_oom();
        optical_enforcer_set_policy(m->optical, m->policy);
        r = optical_enforcer_start(m->optical);
        if (r < 0)
                return r;

        /* mamorictl's socket; enforcement goes on without it. */
        r = control_new(m->event, m->runtime_dir, manager_on_control_request, m, &m->control);
        if (r >= 0) {
                r = event_sinks_add(m->sinks, control_sink(m->control));
                if (r < 0)
                        m->control = control_free(m->control);
        }
        if (r < 0)
                log_error_errno(r, "mamorictl will not be able to reach mamorid: %m");
        r = manager_start_lock_av(m);
        if (r < 0)
                return r;
        /* Thunderbolt asks the system bus whether boltd runs: after it exists. */
        r = thunderbolt_enforcer_new(m->event, m->sysbus, manager_emitter(m), &m->thunderbolt);
        if (r >= 0)
                r = firewire_enforcer_new(m->event, manager_emitter(m), &m->firewire);
        if (r < 0)
                return log_oom();
        thunderbolt_enforcer_set_policy(m->thunderbolt, m->policy);
        firewire_enforcer_set_policy(m->firewire, m->policy);
        /* Without them USB enforcement goes on: logged, not fatal. */
        if (thunderbolt_enforcer_start(m->thunderbolt) < 0)
                m->thunderbolt = thunderbolt_enforcer_free(m->thunderbolt);
        if (firewire_enforcer_start(m->firewire) < 0)
                m->firewire = firewire_enforcer_free(m->firewire);
        /* The quarantine: a PC isolated before this start stays so (netguard
         * applies the file by itself); we read it back for status and events. */
        r = quarantine_new(&(QuarantineOptions){ .event = m->event,
                                                 .state_dir = m->state_dir,
                                                 .netguard_status = getenv("MAMORI_NETGUARD_STATUS"),
                                                 .emitter = manager_emitter(m) },
                           &m->quarantine);
        if (r < 0)
                log_error_errno(r, "The network quarantine cannot be engaged from this PC: %m");
        else
                quarantine_set_policy(m->quarantine, m->policy);
        manager_start_av_detect(m);
        manager_start_av_fullscan(m);
        manager_start_av_scan(m);

        /* Enforcement first; the reports of the scan are due after these. */
        if (m->policy->failsafe || m->last_good)
                manager_emit_config_error(m, &m->start_errors, true);
        manager_save_last_good(m);
        manager_emit_started(m);
        /* Its timers failing is logged; enforcement goes on without them. */
        (void) manager_posture_start(m);

        reporting_commit(m->reporting); /* READY: what happened so far is recorded */
        (void) sd_notify(false, "READY=1");
        manager_send_status(m);
        log_info("mamorid %s is enforcing policy %.12s.", MAMORI_VERSION, m->policy->hash);
        return 0;
}

int manager_run(Manager *m) {
        assert(m);

        return sd_event_loop(m->event);
}
