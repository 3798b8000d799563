/* SPDX-License-Identifier: MIT */
/* mamori-collectord: receives every PC's feed over HTTPS and keeps it in a
 * database (issue 12). The HTTP workers and the maintenance thread are
 * collector-http.c's; this thread only waits for signals: SIGHUP reloads the
 * configuration (refused: the running one stays), SIGTERM/SIGINT stop. */

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "cli.h"
#include "collector-config.h"
#include "collector-http.h"
#include "config-paths.h"
#include "console-http.h"
#include "log.h"
#include "macro.h"
#include "timeutil.h"

typedef struct CollectorMain {
        const char *config_path;
        bool check_config;
} CollectorMain;

static void help(void) {
        printf("mamori-collectord [OPTIONS]\n\n"
               "Receives the mamori agents' events over HTTPS and stores them.\n\n"
               "  -c, --config=PATH    the configuration (default %s, or $MAMORI_COLLECTOR_CONFIG)\n"
               "      --check-config   check the configuration and the files it names, then exit\n"
               "      --log-level=L    debug, info, notice, warning, err\n"
               "  -h, --help           this text\n"
               "      --version        the version\n",
               COLLECTOR_CONFIG_PATH);
}

static int parse_argv(CollectorMain *m, int argc, char *argv[]) {
        enum { ARG_CHECK = 0x100 };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, ARG_CHECK },
                CLI_COMMON_OPTIONS,
                {},
        };
        int c, r;

        m->config_path = getenv("MAMORI_COLLECTOR_CONFIG");
        if (isempty(m->config_path))
                m->config_path = COLLECTOR_CONFIG_PATH;
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        m->config_path = optarg;
                        break;
                case ARG_CHECK:
                        m->check_config = true;
                        break;
                default:
                        r = cli_common_option(c, optarg, "mamori-collectord", help);
                        if (r <= 0)
                                return r;
                }
        return cli_no_arguments(argc, argv);
}

/* Every problem as "file:line: message", once each. */
static int load(const char *path, CollectorConfig **ret) {
        _cleanup_(config_errors_done) ConfigErrors errors = { 0 };
        int r = collector_config_load(path, ret, &errors);
        for (size_t i = 0; i < errors.n; i++)
                log_error("%s:%d: %s", errors.items[i].file, errors.items[i].line, errors.items[i].message);
        if (r == -ENOMEM)
                return log_oom();
        return r;
}

/* The database once before listening: the schema is created or migrated by
 * one connection, not by the first requests of every worker at once; a store
 * that cannot work at all (a path it may not write) stops the start. One
 * that is only unreachable now (PostgreSQL down) does not: the batches get
 * 503 until it is back. */
static int check_store(const CollectorConfig *cfg) {
        _cleanup_store_ Store *st = NULL;
        int r = store_open(&cfg->store, &cfg->findings, &st);
        if (r == -EBUSY || r == -EAGAIN || r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ENOTCONN) {
                log_warning_errno(r, "The database cannot be reached now (batches get 503 until it can): %m");
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Cannot open the %s database: %m",
                                       cfg->store.backend == STORE_SQLITE ? "SQLite" : "PostgreSQL");
        return 0;
}

static void reload(CollectorServer *srv, const char *path) {
        _cleanup_collector_config_ CollectorConfig *old = collector_server_get_config(srv);
        CollectorConfig *cfg = NULL;
        char buf[64];
        int r;

        snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, (uint64_t) now_usec(CLOCK_MONOTONIC));
        (void) sd_notify(false, buf);
        r = load(path, &cfg);
        if (r < 0)
                log_error("Reload refused: %s has errors; the running configuration stays.", path);
        else {
                if (collector_config_needs_restart(old, cfg))
                        log_warning("Reloaded %s; the listen addresses, TLS files, workers and connection limits "
                                    "change at the next restart.",
                                    path);
                else
                        log_info("Reloaded %s.", path);
                collector_server_set_config(srv, cfg);
                collector_config_unref(cfg);
        }
        (void) sd_notify(false, "READY=1\nSTATUS=Receiving events.");
}

int main(int argc, char *argv[]) {
        CollectorMain m = { 0 };
        _cleanup_collector_config_ CollectorConfig *cfg = NULL;
        CollectorServer *srv = NULL;
        ConsoleServer *console = NULL;
        sigset_t mask;
        int r, sig;

        /* before any thread: every thread inherits the mask, only this one waits for them */
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        r = -pthread_sigmask(SIG_BLOCK, &mask, NULL);
        (void) signal(SIGPIPE, SIG_IGN);
        log_set_identifier("mamori-collectord");
        log_open(LOG_TARGET_AUTO);
        if (r < 0)
                return log_error_errno(r, "Cannot block signals: %m"), 1;
        r = parse_argv(&m, argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        r = load(m.config_path, &cfg);
        if (r < 0) {
                log_error("%s: not loaded.", m.config_path);
                return 1;
        }
        if (m.check_config) {
                printf("%s: OK\n", m.config_path);
                return 0;
        }
        /* before any thread: localtime() and mktime() then use the console's zone */
        if (cfg->console.enable && console_set_zone(cfg->console.zone) < 0) {
                log_error("console.zone '%s' cannot be set.", cfg->console.zone);
                return 1;
        }
        r = check_store(cfg);
        if (r < 0)
                return 1;
        r = collector_server_start(cfg, &srv);
        if (r < 0)
                return 1;
        if (cfg->console.enable) {
                r = console_server_start(cfg, &console);
                if (r < 0) {
                        srv = collector_server_stop(srv);
                        return 1;
                }
        }
        (void) sd_notify(false, "READY=1\nSTATUS=Receiving events.");
        log_info("mamori-collectord %s started.", MAMORI_VERSION);

        for (;;) {
                sig = sigwaitinfo(&mask, NULL);
                if (sig < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error_errno(errno, "sigwaitinfo: %m");
                        break;
                }
                if (sig == SIGHUP) {
                        reload(srv, m.config_path);
                        if (console) {
                                _cleanup_collector_config_ CollectorConfig *now = collector_server_get_config(srv);
                                console_server_set_config(console, now);
                        }
                        continue;
                }
                break;
        }
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping...");
        console = console_server_stop(console);
        srv = collector_server_stop(srv);
        log_info("mamori-collectord stopped.");
        return 0;
}
