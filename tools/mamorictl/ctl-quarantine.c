/* SPDX-License-Identifier: MIT */
/* mamorictl quarantine engage|release --reason TEXT (issue 15,
 * docs/quarantine.md): as root on the PC, through mamorid's root-only
 * socket. mamorid records who (uid, login uid) and why. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "text.h"

#define CTL_QUARANTINE_REASON_MAX 200

static void quarantine_usage(FILE *f) {
        fputs("Usage: mamorictl quarantine engage --reason TEXT\n"
              "       mamorictl quarantine release --reason TEXT\n",
              f);
}

int verb_quarantine(const CtlOptions *o, int argc, char **argv) {
        static const struct option options[] = {
                { "reason", required_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(jputp) json_object *rep = NULL;
        _cleanup_free_ char *request = NULL;
        const char *action, *reason = NULL;
        int c, r;

        if (argc < 2 || (!streq(argv[1], "engage") && !streq(argv[1], "release"))) {
                quarantine_usage(stderr);
                return CTL_EXIT_USAGE;
        }
        action = argv[1];
        optind = 0;
        while ((c = getopt_long(argc - 1, argv + 1, "h", options, NULL)) >= 0)
                switch (c) {
                case 'r':
                        reason = optarg;
                        break;
                case 'h':
                        quarantine_usage(stdout);
                        return CTL_EXIT_OK;
                default:
                        return CTL_EXIT_USAGE;
                }
        if (optind < argc - 1) {
                fprintf(stderr, "mamorictl quarantine: unexpected argument '%s'\n", argv[optind + 1]);
                return CTL_EXIT_USAGE;
        }
        /* mamorid judges it again; this only saves a round trip. */
        if (!reason || !reason[0] || strlen(reason) > CTL_QUARANTINE_REASON_MAX ||
            !text_is_clean(reason, strlen(reason)) || strspn(reason, " ") == strlen(reason)) {
                fprintf(stderr, "mamorictl quarantine %s: --reason is needed: one line of text, 1 to %d bytes\n",
                        action, CTL_QUARANTINE_REASON_MAX);
                return CTL_EXIT_USAGE;
        }
        if (asprintf(&request, "quarantine %s %s", action, reason) < 0)
                return CTL_EXIT_FAILURE;
        r = ctl_call(o, request, &rep);
        if (r != 0)
                return r;
        if (o->json) {
                puts(json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                return CTL_EXIT_OK;
        }
        if (streq_ptr(jstr(rep, "quarantine"), "engaged"))
                puts("The PC is cut off the network (quarantine engaged); only quarantine.allow stays reachable.");
        else if (streq_ptr(jstr(rep, "quarantine"), "already"))
                puts("The PC was quarantined already: nothing changed.");
        else
                puts("The quarantine is released: mamori-netguard removes its rules, the network is back.");
        return CTL_EXIT_OK;
}
