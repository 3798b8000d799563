/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "ctl.h"

/* "2026-11-21T23:53:16.604183Z" (UTC) -> "2026-11-22 08:53:16" (local). */
static void local_time(const char *rfc3339, char buf[static 32]) {
        struct tm tm = { 0 };
        const char *end;
        time_t t;

        end = rfc3339 ? strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
        if (!end) {
                snprintf(buf, 32, "%s", strna(rfc3339));
                return;
        }
        t = timegm(&tm);
        if (!localtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, 32, "%s", rfc3339);
}

static void print_event(json_object *e) {
        _cleanup_free_ char *message = ctl_safe_text(strempty(jstr(e, "message")));
        char when[32];
        local_time(jstr(e, "time"), when);
        printf("%-19s  %-8s  %-22s  %s\n", when, strna(jstr(e, "severity")), strna(jstr(e, "kind")),
               strempty(message));
}

int verb_events(const CtlOptions *o_, int argc, char **argv) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "follow", no_argument, NULL, 'f' },
                { "lines", required_argument, NULL, 'n' },
                {},
        };
        _cleanup_(ctl_connection_freep) CtlConnection *conn = NULL;
        CtlOptions o = *o_;
        bool follow = false;
        unsigned long count = 20;
        char request[64], *end;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "fn:", options, NULL)) >= 0)
                switch (c) {
                case 'j':
                        o.json = true;
                        break;
                case 'f':
                        follow = true;
                        break;
                case 'n':
                        errno = 0;
                        count = strtoul(optarg, &end, 10);
                        if (errno != 0 || *end != 0 || optarg[0] == '-' || optarg[0] == 0) {
                                fprintf(stderr, "mamorictl events: -n needs a number, not '%s'\n", optarg);
                                return CTL_EXIT_USAGE;
                        }
                        break;
                default:
                        return CTL_EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "mamorictl events: unexpected argument '%s'\n", argv[optind]);
                return CTL_EXIT_USAGE;
        }

        snprintf(request, sizeof request, "%s %lu", follow ? "follow" : "events", MIN(count, 100000UL));
        r = ctl_connect(&o, request, &conn);
        if (r > 0)
                return r;
        /* The whole reply is read before any of it is printed: mamorid drops a
         * client that takes more than a few seconds to read its reply, and
         * stdout may be a pager that waits for its reader. */
        json_object **evs = NULL;
        char **raws = NULL;
        size_t n = 0, cap = 0, cap_raw = 0;
        for (;;) {
                _cleanup_(jputp) json_object *e = NULL;
                _cleanup_free_ char *raw = NULL;
                r = ctl_read(conn, follow ? -1 : 15000, &e, &raw);
                if (r <= 0)
                        break;
                if (follow) {
                        if (o.json)
                                puts(raw);
                        else
                                print_event(e);
                        fflush(stdout);
                        continue;
                }
                if (GROW_ARRAY(evs, cap, n + 1, 64) < 0 || GROW_ARRAY(raws, cap_raw, n + 1, 64) < 0) {
                        fprintf(stderr, "mamorictl: out of memory\n");
                        r = -CTL_EXIT_FAILURE;
                        break;
                }
                evs[n] = TAKE_PTR(e);
                raws[n++] = TAKE_PTR(raw);
        }
        for (size_t i = 0; i < n; i++) {
                if (r >= 0) {
                        if (o.json)
                                puts(raws[i]);
                        else
                                print_event(evs[i]);
                }
                json_object_put(evs[i]);
                free(raws[i]);
        }
        free(evs);
        free(raws);
        if (r < 0)
                return -r;
        if (follow) {
                fprintf(stderr, "mamorictl: mamorid closed the connection (stopped?).\n");
                return CTL_EXIT_FAILURE;
        }
        return CTL_EXIT_OK;
}
