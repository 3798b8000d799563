/* SPDX-License-Identifier: MIT */
#pragma once

/* The options every mamori daemon takes alike (--log-level, -h/--help,
 * --version), so that each parse_argv() only handles its own:
 *
 *     static const struct option options[] = {
 *             { "config", required_argument, NULL, 'c' },
 *             CLI_COMMON_OPTIONS,
 *             {},
 *     };
 *     while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
 *             switch (c) {
 *             case 'c': ...
 *             default:
 *                     r = cli_common_option(c, optarg, "mamorid", help);
 *                     if (r <= 0)
 *                             return r;
 *             }
 *     return cli_no_arguments(argc, argv);
 *
 * Return values follow parse_argv(): 1 = go on, 0 = exit 0 (help or version
 * printed), -EINVAL = a usage error, already said on stderr. */

#include <getopt.h>

enum {
        /* above any program's own ARG_* (those start at 0x100) */
        CLI_ARG_LOG_LEVEL = 0x1000,
        CLI_ARG_VERSION,
};

/* clang-format off */
#define CLI_COMMON_OPTIONS                                              \
        { "log-level", required_argument, NULL, CLI_ARG_LOG_LEVEL },    \
        { "help", no_argument, NULL, 'h' },                             \
        { "version", no_argument, NULL, CLI_ARG_VERSION }
/* clang-format on */

/* c is what getopt_long() returned and the program does not handle itself;
 * '?' (getopt already complained) and anything else unknown: -EINVAL. */
int cli_common_option(int c, const char *arg, const char *program, void (*help)(void));

/* After the options: 1, or -EINVAL if a positional argument is left. */
int cli_no_arguments(int argc, char *argv[]);
