/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "cli.h"
#include "config-paths.h"
#include "config.h"
#include "log.h"
#include "manager.h"

static const char *arg_config = MAMORI_CONFIG_PATH;
static const char *arg_allow_dir = NULL;
static bool arg_check = false;

static void main_help(void) {
        printf("mamorid %s — endpoint enforcement agent\n\n"
               "Usage: mamorid [OPTIONS]\n\n"
               "  -c --config PATH       configuration file (default %s);\n"
               "                         allow entries are read from allow.d/ next to it\n"
               "     --allow-dir DIR     read allow entries from DIR instead\n"
               "     --check-config      validate the configuration, print every error, exit 0 or 1\n"
               "     --log-level LEVEL   debug, info, notice, warning, err\n"
               "  -h --help              this text\n"
               "     --version           print the version\n",
               MAMORI_VERSION, MAMORI_CONFIG_PATH);
}

static int main_parse_argv(int argc, char *argv[]) {
        enum { ARG_CHECK = 0x100, ARG_ALLOW_DIR };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "allow-dir", required_argument, NULL, ARG_ALLOW_DIR },
                { "check-config", no_argument, NULL, ARG_CHECK },
                CLI_COMMON_OPTIONS,
                {},
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_ALLOW_DIR:
                        arg_allow_dir = optarg;
                        break;
                case ARG_CHECK:
                        arg_check = true;
                        break;
                default:
                        r = cli_common_option(c, optarg, "mamorid", main_help);
                        if (r <= 0)
                                return r;
                }
        return cli_no_arguments(argc, argv);
}

static int main_check_config(void) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        ConfigErrors errs = { 0 };
        int r = config_load(arg_config, arg_allow_dir, &p, &errs);

        if (r < 0) {
                config_errors_print_verdict(&errs, arg_config, stdout);
                config_print_ignored(arg_config, arg_allow_dir, stdout);
                config_errors_done(&errs);
                return 1;
        }
        config_errors_done(&errs);
        config_print_summary(p, arg_config, stdout);
        config_print_ignored(arg_config, arg_allow_dir, stdout);
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        sigset_t old;
        int r;

        /* Before anything else: a SIGHUP (or TERM, USR1) sent while mamorid
         * starts must wait for the event loop, not kill an enforcement agent
         * that systemd then counts as cleanly stopped. */
        r = manager_block_signals(&old);
        log_open(LOG_TARGET_AUTO);
        if (r < 0)
                return log_error_errno(r, "Cannot block signals: %m"), 1;
        r = main_parse_argv(argc, argv);
        if (r <= 0 || arg_check) {
                /* Not the daemon: signals as usual. */
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
                if (r <= 0)
                        return r < 0 ? 2 : 0;
                return main_check_config();
        }
        log_debug("mamorid %s starting; signals wait for the event loop.", MAMORI_VERSION);

        r = manager_new(&(ManagerOptions){ .config_path = arg_config, .allow_dir = arg_allow_dir }, &m);
        if (r < 0)
                return 1;
        r = manager_start(m);
        if (r < 0) {
                log_crit_errno(r, "mamorid could not start: %m");
                return 1;
        }
        r = manager_run(m);
        if (r < 0) {
                log_crit_errno(r, "Event loop failed: %m");
                return 1;
        }
        log_info("mamorid stopped.");
        return 0;
}
