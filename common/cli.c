/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "config-paths.h"
#include "log.h"

int cli_common_option(int c, const char *arg, const char *program, void (*help)(void)) {
        int level;

        assert(program);
        assert(help);
        switch (c) {
        case CLI_ARG_LOG_LEVEL:
                level = log_level_from_string(arg);
                if (level < 0) {
                        fprintf(stderr, "Unknown log level '%s'.\n", arg);
                        return -EINVAL;
                }
                log_set_max_level(level);
                return 1;
        case 'h':
                help();
                return 0;
        case CLI_ARG_VERSION:
                printf("%s %s\n", program, MAMORI_VERSION);
                return 0;
        default:
                return -EINVAL;
        }
}

int cli_no_arguments(int argc, char *argv[]) {
        assert(argv);
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument '%s'.\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}
