/* SPDX-License-Identifier: MIT */
/* mamori-uplink: delivers what mamorid records. It runs as its own
 * unprivileged user, reads mamorid's spool read-only, keeps its own cursor and
 * dead-letter directory in its state directory, and tells mamorid how
 * delivery goes through $RUNTIME_DIRECTORY/status (DESIGN-11.md). */
#include <assert.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "config-parse.h"
#include "config-paths.h"
#include "config.h"
#include "log.h"
#include "netwatch.h"
#include "spool.h"
#include "trusted-file.h"
#include "uplink-state.h"
#include "uplink-wake.h"
#include "uplink.h"

#define UPLINK_STATE_DIR_DEFAULT "/var/lib/mamori-uplink"
#define UPLINK_RUNTIME_DIR_DEFAULT "/run/mamori-uplink"
#define UPLINK_SPOOL_DIR_DEFAULT MAMORI_STATE_DIR "/spool"

static const char *arg_config = MAMORI_CONFIG_PATH;
static const char *arg_allow_dir = NULL;
static const char *arg_spool_dir = NULL;

typedef struct UplinkMain {
        sd_event *event;
        char *state_dir, *runtime_dir, *spool_dir;
        char *cursor_path, *control_path;
        Policy *policy; /* NULL: none ever loaded */
        Spool *spool;   /* NULL: it could not be opened yet */
        Uplink *uplink;
        UplinkStateWriter *state;
        UplinkWake *wake;
        Netwatch *netwatch;
        sd_event_source *sig_hup, *sig_term, *sig_int;
        int spool_errno; /* the last error opening or reading the spool, said once */
        /* Only while the spool cannot be read: a backoff, since inotify may not
         * see the fix (no read access to the directory, no watch). */
        sd_event_source *spool_retry;
        usec_t spool_retry_usec;
} UplinkMain;

static UplinkMain *uplink_main_free(UplinkMain *m) {
        if (!m)
                return NULL;
        netwatch_free(m->netwatch);
        uplink_wake_free(m->wake);
        /* The uplink before the spool it reads from. */
        uplink_free(m->uplink);
        uplink_state_writer_free(m->state);
        spool_free(m->spool);
        policy_unref(m->policy);
        sd_event_source_disable_unref(m->spool_retry);
        sd_event_source_disable_unref(m->sig_hup);
        sd_event_source_disable_unref(m->sig_term);
        sd_event_source_disable_unref(m->sig_int);
        sd_event_unref(m->event);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m->spool_dir);
        free(m->cursor_path);
        free(m->control_path);
        free(m);
        return NULL;
}
DEFINE_POINTER_CLEANUP(UplinkMain, uplink_main_free);

/* systemd's $STATE_DIRECTORY may list several, separated by ':': ours is the first. */
static char *uplink_main_dir_from_env(const char *name, const char *fallback) {
        const char *v = getenv(name);
        if (!v || !v[0])
                return strdup(fallback);
        return strndup(v, strcspn(v, ":"));
}

/* ---- configuration ---- */

static void uplink_main_log_config_errors(const ConfigErrors *errs, int level) {
        for (size_t i = 0; i < errs->n; i++)
                log_full(level, "%s:%d: %s", strna(errs->items[i].file), errs->items[i].line,
                         strna(errs->items[i].message));
}

/* mamori.conf alone unless --allow-dir says otherwise: the uplink needs only
 * the collector and spool sections, and allow.d's files are root's alone
 * (0600, mamorictl allow), which it cannot and need not read. */
static int uplink_main_load_config(Policy **ret, ConfigErrors *errs) {
        _cleanup_free_ char *text = NULL, *why = NULL;
        char *path = (char *) arg_config;
        size_t len = 0;
        int r;

        if (arg_allow_dir)
                return config_load(arg_config, arg_allow_dir, ret, errs);
        r = trust_read_file(arg_config, CONFIG_FILE_MAX, 0, &text, &len, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                config_error(errs, arg_config, 0, "%s", why ? why : strerror(-r));
                return r == -ENOENT ? r : -EINVAL;
        }
        return config_load_texts(&path, &text, &len, 1, ret, errs);
}

/* Applies the policy in force to the uplink. */
static int uplink_main_configure(UplinkMain *m) {
        int r = uplink_configure(m->uplink, &m->policy->collector, m->policy->spool.max_bytes);
        if (r < 0)
                return log_error_errno(r, "Cannot configure delivery: %m");
        return 0;
}

/* The configuration is refused at start: as mamorid does, deliver with its
 * collector and spool sections when they alone are sound, so that the central
 * team hears of the broken configuration (mamorid's agent.config_error). */
static int uplink_main_salvage(UplinkMain *m, int error) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        int r;

        r = policy_new_failsafe(arg_config, &p);
        if (r < 0)
                return log_oom();
        r = config_salvage_reporting(arg_config, p);
        if (r < 0)
                return log_oom();
        if (r == 0)
                return error;
        log_warning("The collector and spool sections of the refused configuration are sound: delivering with them.");
        m->policy = TAKE_PTR(p);
        return uplink_main_configure(m);
}

/* At start (no policy yet) and at SIGHUP: a configuration with errors
 * replaces nothing. */
static int uplink_main_reload(UplinkMain *m) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        ConfigErrors errs = { 0 };
        int r;

        r = uplink_main_load_config(&p, &errs);
        if (r < 0) {
                if (r == -ENOMEM) {
                        config_errors_done(&errs);
                        return log_oom();
                }
                if (m->policy)
                        log_error("Reload refused: %zu error%s in the configuration; the one loaded before stays in force.",
                                  errs.n, errs.n == 1 ? "" : "s");
                else
                        log_error("No valid configuration (%zu error%s): not delivering until a reload succeeds.",
                                  errs.n, errs.n == 1 ? "" : "s");
                uplink_main_log_config_errors(&errs, LOG_ERR);
                if (!m->policy) {
                        _cleanup_free_ char *summary = config_errors_summary(&errs);
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "the configuration is refused: %s", strna(summary)) >= 0)
                                uplink_set_config_error(m->uplink, why);
                        config_errors_done(&errs);
                        return uplink_main_salvage(m, r);
                }
                config_errors_done(&errs);
                return r;
        }
        config_errors_done(&errs);
        policy_unref(m->policy);
        m->policy = TAKE_PTR(p);
        return uplink_main_configure(m);
}

/* ---- the spool ---- */

static void uplink_main_on_damaged(const SpoolFinding *f, void *userdata) {
        log_warning("Damage in the spool (%s in %s at offset %" PRIu64 ", %" PRIu64
                    " bytes): skipped; mamorid repairs and reports it.",
                    spool_damage_to_string(f->kind), f->file, f->offset, f->bytes);
}

#define SPOOL_RETRY_MIN (1 * USEC_PER_SEC)
#define SPOOL_RETRY_MAX (5 * 60 * USEC_PER_SEC)

static void uplink_main_refresh_spool(UplinkMain *m);

static int uplink_main_on_spool_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        uplink_main_refresh_spool(userdata);
        return 0;
}

static void uplink_main_spool_failed(UplinkMain *m, int error) {
        char why[512];
        int r;

        m->spool_retry_usec = m->spool_retry_usec ? MIN(m->spool_retry_usec * 2, SPOOL_RETRY_MAX) : SPOOL_RETRY_MIN;
        if (m->spool_retry)
                r = sd_event_source_set_time_relative(m->spool_retry, m->spool_retry_usec)
                            ?: sd_event_source_set_enabled(m->spool_retry, SD_EVENT_ONESHOT);
        else
                r = sd_event_add_time_relative(m->event, &m->spool_retry, CLOCK_MONOTONIC, m->spool_retry_usec,
                                               USEC_PER_SEC, uplink_main_on_spool_retry, m);
        if (r < 0)
                log_warning_errno(r, "Cannot arm the spool's retry timer: %m");

        snprintf(why, sizeof why, "cannot read the spool %s: %s", m->spool_dir, strerror(abs(error)));
        /* Once per distinct error: an inotify event per commit must not flood the journal. */
        log_full(m->spool_errno == error ? LOG_DEBUG : LOG_ERR,
                 "Events stay in mamorid's spool: %s (retried in %" PRIu64 " s, %s, or at once by mamorictl flush "
                 "or systemctl reload mamori-uplink).",
                 why, m->spool_retry_usec / USEC_PER_SEC,
                 uplink_wake_watching(m->wake) ? "when the spool directory changes" : "the directory cannot be watched");
        m->spool_errno = error;
        uplink_set_spool_error(m->uplink, why);
}

static void uplink_main_spool_ok(UplinkMain *m) {
        if (m->spool_errno != 0)
                log_info("The spool %s can be read again.", m->spool_dir);
        m->spool_errno = 0;
        m->spool_retry_usec = 0;
        (void) sd_event_source_set_enabled(m->spool_retry, SD_EVENT_OFF);
        uplink_set_spool_error(m->uplink, NULL);
}

/* Opens the spool when it is not open, or picks up what mamorid committed
 * since. Never fatal: events wait in mamorid's spool. */
static void uplink_main_refresh_spool(UplinkMain *m) {
        static const SpoolCallbacks cb = { .damaged = uplink_main_on_damaged };
        int r;

        assert(m);
        if (!uplink_wake_watching(m->wake))
                (void) uplink_wake_watch_spool(m->wake, m->spool_dir);
        if (!m->spool) {
                r = spool_open_reader(m->spool_dir, m->cursor_path, &(SpoolReaderOptions){ 0 }, &m->spool);
                if (r == -ENOMEM) {
                        log_oom();
                        return;
                }
                if (r < 0) {
                        m->spool = NULL;
                        uplink_main_spool_failed(m, r);
                        return;
                }
                spool_set_callbacks(m->spool, &cb, m);
                r = spool_attach_event(m->spool, m->event, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0)
                        log_warning_errno(r, "Cannot attach the spool to the event loop: %m");
                log_info("Reading the spool %s; own cursor %s.", m->spool_dir, m->cursor_path);
                uplink_set_spool(m->uplink, m->spool);
                uplink_main_spool_ok(m);
                return;
        }
        r = spool_refresh(m->spool);
        if (r < 0) {
                uplink_main_spool_failed(m, r);
                return;
        }
        uplink_main_spool_ok(m);
        if (r > 0)
                uplink_kick(m->uplink);
}

/* ---- wakeups ---- */

static void uplink_main_on_spool_changed(void *userdata) {
        uplink_main_refresh_spool(userdata);
}

static void uplink_main_on_flush(void *userdata) {
        UplinkMain *m = userdata;
        int r;

        /* What mamorid committed just before it asked. */
        uplink_main_refresh_spool(m);
        r = uplink_flush(m->uplink);
        if (r < 0)
                log_info_errno(r, "Flush asked, but nothing can be delivered now (see the status).");
        else
                log_info("Flush asked: delivering now.");
}

static void uplink_main_on_network(const char *why, void *userdata) {
        UplinkMain *m = userdata;
        uplink_network_up(m->uplink, why);
}

static void uplink_main_on_changed(Uplink *u, void *userdata) {
        UplinkMain *m = userdata;
        uplink_state_writer_schedule(m->state);
}

static int uplink_main_on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        UplinkMain *m = userdata;

        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading configuration...");
        log_info("Reloading the configuration (SIGHUP).");
        (void) uplink_main_reload(m);
        uplink_main_refresh_spool(m);
        (void) uplink_state_writer_write(m->state);
        (void) sd_notify(false, "READY=1");
        return 0;
}

static int uplink_main_on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        UplinkMain *m = userdata;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping...");
        return sd_event_exit(m->event, 0);
}

/* ---- start ---- */

static int uplink_main_new(UplinkMain **ret) {
        _cleanup_(uplink_main_freep) UplinkMain *m = calloc(1, sizeof *m);
        static const UplinkWakeHandlers wake = {
                .spool_changed = uplink_main_on_spool_changed,
                .flush = uplink_main_on_flush,
        };
        int r;

        if (!m)
                return log_oom();
        m->state_dir = uplink_main_dir_from_env("STATE_DIRECTORY", UPLINK_STATE_DIR_DEFAULT);
        m->runtime_dir = uplink_main_dir_from_env("RUNTIME_DIRECTORY", UPLINK_RUNTIME_DIR_DEFAULT);
        m->spool_dir = arg_spool_dir ? strdup(arg_spool_dir)
                                     : uplink_main_dir_from_env("MAMORI_SPOOL_DIR", UPLINK_SPOOL_DIR_DEFAULT);
        if (!m->state_dir || !m->runtime_dir || !m->spool_dir ||
            asprintf(&m->cursor_path, "%s/cursor", m->state_dir) < 0 ||
            asprintf(&m->control_path, "%s/control", m->runtime_dir) < 0)
                return log_oom();
        /* systemd makes them (StateDirectory=, RuntimeDirectory=); a test may not. */
        (void) mkdir(m->state_dir, 0755); /* mamorid reads the cursor there */
        (void) mkdir(m->runtime_dir, 0755);

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        r = sd_event_add_signal(m->event, &m->sig_hup, SIGHUP, uplink_main_on_sighup, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sig_term, SIGTERM, uplink_main_on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sig_int, SIGINT, uplink_main_on_sigterm, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch signals: %m");
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot enable the watchdog: %m");

        r = uplink_new(m->event, NULL, m->state_dir, &m->uplink);
        if (r < 0)
                return log_error_errno(r, "Cannot set up delivery: %m");
        r = uplink_state_writer_new(m->event, m->uplink, m->runtime_dir, &m->state);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the status file: %m");
        uplink_set_changed(m->uplink, uplink_main_on_changed, m);
        r = uplink_wake_new(m->event, &wake, m, &m->wake);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the spool's inotify watch: %m");
        r = uplink_wake_listen(m->wake, m->control_path);
        if (r < 0)
                return r;
        assert(m->state && m->wake);
        r = netwatch_new(m->event, uplink_main_on_network, m, &m->netwatch);
        if (r < 0)
                log_warning_errno(r, "Not watching the network; delivery retries on its own timer only: %m");
        *ret = TAKE_PTR(m);
        return 0;
}

static int uplink_main_run(UplinkMain *m) {
        int r;

        assert(m);
        /* The spool first: the configuration sends at once what waits. */
        uplink_main_refresh_spool(m);
        r = uplink_main_reload(m);
        if (r == -ENOMEM)
                return r;
        (void) uplink_state_writer_write(m->state);
        (void) sd_notify(false, "READY=1");
        log_info("mamori-uplink %s running: spool %s, state %s.", MAMORI_VERSION, m->spool_dir, m->state_dir);
        r = sd_event_loop(m->event);
        if (r < 0)
                return log_crit_errno(r, "Event loop failed: %m");
        return 0;
}

/* ---- options ---- */

static void uplink_main_help(void) {
        printf("mamori-uplink %s — delivers the events mamorid records to the collector\n\n"
               "Usage: mamori-uplink [OPTIONS]\n\n"
               "  -c --config PATH       configuration file (default %s); only its\n"
               "                         collector and spool sections are used\n"
               "     --allow-dir DIR     also read the allow entries of DIR (default: none)\n"
               "     --spool-dir DIR     mamorid's spool (default $MAMORI_SPOOL_DIR or %s)\n"
               "     --log-level LEVEL   debug, info, notice, warning, err\n"
               "  -h --help              this text\n"
               "     --version           print the version\n\n"
               "Its own cursor and dead-letter directory are in $STATE_DIRECTORY (default %s),\n"
               "its status file and control socket in $RUNTIME_DIRECTORY (default %s).\n",
               MAMORI_VERSION, MAMORI_CONFIG_PATH, UPLINK_SPOOL_DIR_DEFAULT, UPLINK_STATE_DIR_DEFAULT,
               UPLINK_RUNTIME_DIR_DEFAULT);
}

static int uplink_main_parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_ALLOW_DIR, ARG_SPOOL_DIR, ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "allow-dir", required_argument, NULL, ARG_ALLOW_DIR },
                { "spool-dir", required_argument, NULL, ARG_SPOOL_DIR },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_ALLOW_DIR:
                        arg_allow_dir = optarg;
                        break;
                case ARG_SPOOL_DIR:
                        arg_spool_dir = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        if (log_level_from_string(optarg) < 0) {
                                fprintf(stderr, "Unknown log level '%s'.\n", optarg);
                                return -EINVAL;
                        }
                        log_set_max_level(log_level_from_string(optarg));
                        break;
                case 'h':
                        uplink_main_help();
                        return 0;
                case ARG_VERSION:
                        printf("mamori-uplink %s\n", MAMORI_VERSION);
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

int main(int argc, char *argv[]) {
        _cleanup_(uplink_main_freep) UplinkMain *m = NULL;
        sigset_t mask, old;
        int r;

        /* Before anything else: a signal sent while we start waits for the loop. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        r = sigprocmask(SIG_BLOCK, &mask, &old) < 0 ? -errno : 0;
        log_set_identifier("mamori-uplink");
        log_open(LOG_TARGET_AUTO);
        if (r < 0)
                return log_error_errno(r, "Cannot block signals: %m"), 1;
        r = uplink_main_parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        r = uplink_main_new(&m);
        if (r < 0)
                return 1;
        r = uplink_main_run(m);
        if (r < 0)
                return 1;
        log_info("mamori-uplink stopped.");
        return 0;
}
