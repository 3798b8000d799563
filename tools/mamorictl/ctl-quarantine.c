/* SPDX-License-Identifier: MIT */
/* mamorictl quarantine engage|release --reason TEXT (issue 15,
 * docs/quarantine.md): as root on the PC, through mamorid's root-only
 * socket. mamorid records who (uid, login uid) and why. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "policy.h"
#include "text.h"
#include "url.h"

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

static bool quarantine_allowed(const QuarantinePolicy *q, int family, const void *addr) {
        for (size_t i = 0; i < q->n_allow; i++)
                if (quarantine_cidr_contains(&q->allow[i], family, addr))
                        return true;
        return false;
}

/* One host of the configuration (the collector's, the proxy's) against
 * quarantine.allow. A name is looked up here, by the admin's tool: mamorid
 * itself does no DNS, so the addresses must be in the list. */
static void quarantine_check_host(const QuarantinePolicy *q, const char *what, const char *url, FILE *f) {
        _cleanup_(url_parts_done) UrlParts u = {};
        const char *reason = NULL;
        char host[256];
        uint8_t addr[16];
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
        size_t n;

        if (!url || url_parse(url, &u, &reason) < 0 || !u.host)
                return;
        n = strlen(u.host);
        if (u.host[0] == '[' && n > 2 && u.host[n - 1] == ']')
                snprintf(host, sizeof host, "%.*s", (int) (n - 2), u.host + 1);
        else
                snprintf(host, sizeof host, "%s", u.host);
        if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
                int fam = strchr(host, ':') ? AF_INET6 : AF_INET;
                if (!quarantine_allowed(q, fam, addr))
                        fprintf(f,
                                "Note: quarantine.allow does not cover the %s %s: a quarantined PC could not "
                                "report to it.\n",
                                what, host);
                return;
        }
        fprintf(f, "Note: the %s is a name, %s; mamorid does no DNS: quarantine.allow must list its addresses", what,
                host);
        if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
                fputs(" (it does not resolve from here).\n", f);
                return;
        }
        fputs(". From here it resolves to:\n", f);
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                char a[INET6_ADDRSTRLEN];
                const void *p = ai->ai_family == AF_INET
                                        ? (const void *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr
                                        : (const void *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr;
                if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || !inet_ntop(ai->ai_family, p, a, sizeof a))
                        continue;
                fprintf(f, "        %s  %s\n", a,
                        quarantine_allowed(q, ai->ai_family, p) ? "allowed" : "NOT in quarantine.allow");
        }
        freeaddrinfo(res);
}

void ctl_check_quarantine(const Policy *p, FILE *f) {
        const QuarantinePolicy *q = &p->quarantine;

        if (!q->configured)
                return;
        if (q->n_allow == 0)
                fputs("Note: quarantine.allow is empty: a quarantined PC cannot reach the collector.\n", f);
        quarantine_check_host(q, "collector", p->collector.url, f);
        quarantine_check_host(q, "proxy", p->collector.proxy, f);
}
