/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>

#include "config-paths.h"
#include "config.h"
#include "ctl.h"

#define NOT_RUNNING "mamorid is not running: nothing is enforced (systemctl start mamori)."

/* Validates the configuration with the daemon's own parser, then tells
 * whether the running daemon has it loaded (a reload is due otherwise). */
int verb_check_config(const CtlOptions *o, int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "allow-dir", required_argument, NULL, 'a' },
                {},
        };
        const char *config = MAMORI_CONFIG_PATH, *allow_dir = NULL;
        _cleanup_(policy_unrefp) Policy *p = NULL;
        _cleanup_(jputp) json_object *st = NULL;
        ConfigErrors errs = { 0 };
        CtlOptions q = *o;
        bool custom = false;
        int c, r;

        q.quiet = true;
        optind = 0;
        while ((c = getopt_long(argc, argv, "c:", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config = optarg;
                        custom = true;
                        break;
                case 'a':
                        allow_dir = optarg;
                        custom = true;
                        break;
                default:
                        return CTL_EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "mamorictl check-config: unexpected argument '%s'\n", argv[optind]);
                return CTL_EXIT_USAGE;
        }

        r = config_load(config, allow_dir, &p, &errs);
        if (r < 0) {
                config_errors_print_verdict(&errs, config, stdout);
                config_print_ignored(config, allow_dir, stdout);
                if (geteuid() != 0)
                        printf("Note: not root; allow.d and its entries are readable by root only.\n");
                config_errors_done(&errs);
                if (ctl_call(&q, "status", &st) == CTL_EXIT_NOT_RUNNING)
                        printf("%s\n", NOT_RUNNING);
                return CTL_EXIT_FAILURE;
        }
        config_errors_done(&errs);
        config_print_summary(p, config, stdout);
        config_print_ignored(config, allow_dir, stdout);
        ctl_check_quarantine(p, stdout);

        /* Is it the one in force? Only worth saying for the daemon's own files. */
        r = ctl_call(&q, "status", &st);
        if (r == CTL_EXIT_NOT_RUNNING) {
                /* Said, but the exit code answers "is this file valid?" only, so that
                 * `mamorictl check-config && systemctl start mamori` works. */
                printf("%s\n", NOT_RUNNING);
                return CTL_EXIT_OK;
        }
        if (r == 0) {
                const char *running = jstr(jget(st, "policy"), "hash");
                const char *path = jstr(jget(st, "policy"), "config_path");
                if (custom && !streq_ptr(path, config))
                        ;
                else if (streq_ptr(running, p->hash))
                        printf("mamorid runs this policy.\n");
                else
                        printf("mamorid runs policy %.12s, not this one: run 'systemctl reload mamori' to apply it.\n",
                               strna(running));
        }
        return CTL_EXIT_OK;
}
