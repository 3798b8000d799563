/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

static void print_uptime(long long s) {
        if (s < 120)
                printf("%llds", s);
        else if (s < 7200)
                printf("%lldmin", s / 60);
        else if (s < 172800)
                printf("%lldh %lldmin", s / 3600, (s % 3600) / 60);
        else
                printf("%lld days", s / 86400);
}

static void print_categories(json_object *arr) {
        size_t n = arr && json_object_get_type(arr) == json_type_array ? json_object_array_length(arr) : 0;
        if (n == 0)
                fputs("nothing", stdout);
        for (size_t i = 0; i < n; i++)
                printf("%s%s", i ? " " : "", json_object_get_string(json_object_array_get_idx(arr, i)));
}

/* Red for what needs the admin now, on a terminal that shows colours (not
 * with NO_COLOR set, https://no-color.org, nor TERM=dumb). */
static bool status_colours(void) {
        const char *term = getenv("TERM");
        return isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && term && !streq(term, "dumb");
}

/* The collector refuses this PC (issue 16): batches wait for a fix. */
static void print_refused(json_object *refused) {
        _cleanup_free_ char *answer = ctl_safe_text(strempty(jstr(refused, "answer")));
        _cleanup_free_ char *meaning = ctl_safe_text(strempty(jstr(refused, "meaning")));
        bool red = status_colours();

        printf("Refused:      %sHTTP %lld since %s: events wait in the spool until this is fixed%s\n",
               red ? "\033[1;31m" : "", jint(refused, "status", 0), strna(jstr(refused, "since")), red ? "\033[0m" : "");
        if (meaning && meaning[0])
                printf("              usually: %s\n", meaning);
        if (answer && answer[0])
                printf("              the collector said: %s\n", answer);
}

/* The spool and the uplink as the reporting module describes them; a daemon
 * built without it says "available": false. */
static void print_delivery(json_object *spool, json_object *uplink, json_object *events) {
        bool collector = jbool(uplink, "available", true) && jstr(uplink, "url");
        long long depth = jint(spool, "depth", 0);
        long long dead = jint(jget(uplink, "dead_letter"), "batches", 0);

        /* Without a collector nothing waits for anything: the spool is where they stay. */
        if (jget(spool, "depth") && !collector)
                printf("Spool:        %lld event%s kept on this PC (no collector configured)\n", depth,
                       depth == 1 ? "" : "s");
        else if (jget(spool, "depth"))
                printf("Spool:        %lld event%s waiting to be sent (%s)\n", depth, depth == 1 ? "" : "s",
                       jstr(spool, "oldest_unsent") ? jstr(spool, "oldest_unsent") : "none unsent");
        else if (jstr(spool, "error"))
                printf("Spool:        %s\n", jstr(spool, "error"));
        else
                printf("Spool:        n/a (events go to the journal and %s)\n", strna(jstr(events, "state_dir")));

        if (collector) {
                bool refused = streq_ptr(jstr(uplink, "state"), "refused") && status_colours();
                printf("Collector:    %s (%s%s%s", jstr(uplink, "url"), refused ? "\033[1;31m" : "",
                       strna(jstr(uplink, "state")), refused ? "\033[0m" : "");
                if (jint(uplink, "failures", 0) > 0)
                        printf(", %lld failure%s in a row", jint(uplink, "failures", 0),
                               jint(uplink, "failures", 0) == 1 ? "" : "s");
                if (jstr(uplink, "last_error"))
                        printf(": %s", jstr(uplink, "last_error"));
                printf(")\n");
                if (jget(uplink, "refused"))
                        print_refused(jget(uplink, "refused"));
                printf("Last post:    %s\n",
                       jstr(uplink, "last_success") ? jstr(uplink, "last_success") : "never since start");
        } else
                printf("Last post:    n/a (no collector configured)\n");
        if (dead > 0)
                printf("Dead letters: %lld batch%s (%lld bytes) the collector refused, kept on this PC: "
                       "see mamorictl dead-letter list\n",
                       dead, dead == 1 ? "" : "es", jint(jget(uplink, "dead_letter"), "bytes", 0));
}

/* A check's state that needs someone's attention. */
static bool state_is_bad(const char *s) {
        return s && !streq(s, "ok") && !streq(s, "disabled") && !streq(s, "unavailable");
}

/* Checks that judge this PC (its antivirus, its screen locker), not mamori:
 * a bad state there is a compliance finding, mamori itself still works.
 * Any other check (usb, notices, and new ones) is mamori's own. */
static bool check_is_finding(const char *name) {
        return streq_ptr(name, "antivirus") || streq_ptr(name, "lock");
}

/* Two lists for the State: line: what keeps mamori from working as
 * configured (exit 3), and what this PC is found to lack (exit 6). */
typedef struct StatusVerdict {
        char problems[512];
        char findings[512];
} StatusVerdict;

static void verdict_add(char *buf, size_t size, const char *what, const char *detail) {
        size_t l = strlen(buf);
        snprintf(buf + l, size - l, "%s%s%s%s%s", l ? ", " : "", what, detail ? " (" : "", strempty(detail),
                 detail ? ")" : "");
}

static int status_judge(json_object *st, StatusVerdict *v) {
        json_object *policy = jget(st, "policy"), *spool = jget(st, "spool"), *uplink = jget(st, "uplink"),
                    *checks = jget(st, "checks");

        *v = (StatusVerdict){};
        if (jbool(policy, "fail_closed", false))
                verdict_add(v->problems, sizeof v->problems, "fail-closed", NULL);
        if (jget(policy, "refused"))
                verdict_add(v->problems, sizeof v->problems, "configuration on disk refused", NULL);
        if (jbool(policy, "last_good", false))
                verdict_add(v->problems, sizeof v->problems, "running on the last good policy", NULL);
        if (jstr(spool, "error"))
                verdict_add(v->problems, sizeof v->problems, "spool", jstr(spool, "error"));
        if (jbool(uplink, "available", true) && jstr(uplink, "url")) {
                /* An unreachable collector is an outage, not a fault of this PC: a laptop
                 * off the office network keeps its events (the Spool line says so). A
                 * collector that answers and refuses, a TLS handshake that fails, or
                 * events moved to the dead-letter directory are a configuration to fix. */
                const char *err = jstr(uplink, "last_error");
                bool failing = jint(uplink, "failures", 0) > 0;

                if (jget(uplink, "refused")) {
                        char d[64];
                        snprintf(d, sizeof d, "refuses the events: HTTP %lld",
                                 jint(jget(uplink, "refused"), "status", 0));
                        verdict_add(v->problems, sizeof v->problems, "collector", d);
                } else if (failing && jint(uplink, "last_status", 0) >= 400)
                        verdict_add(v->problems, sizeof v->problems, "collector", "refuses the events");
                else if (failing && err && (strstr(err, "SSL") || strstr(err, "TLS") || strstr(err, "certificate")))
                        verdict_add(v->problems, sizeof v->problems, "collector", "TLS fails");
                else if (jget(uplink, "dead_letter") ? jint(jget(uplink, "dead_letter"), "batches", 0) > 0
                                                     : jint(uplink, "events_rejected", 0) > 0)
                        verdict_add(v->problems, sizeof v->problems, "collector", "events in the dead-letter directory");
        }
        for (size_t i = 0; checks && i < json_object_array_length(checks); i++) {
                json_object *c = json_object_array_get_idx(checks, i);
                const char *name = jstr(c, "name");

                if (!state_is_bad(jstr(c, "state")))
                        continue;
                if (check_is_finding(name))
                        verdict_add(v->findings, sizeof v->findings, strna(name), jstr(c, "state"));
                else
                        verdict_add(v->problems, sizeof v->problems, strna(name), jstr(c, "state"));
        }
        /* So is a full scan overdue (第7-3エ): never, too old, or dated ahead. */
        if (state_is_bad(jstr(jget(st, "full_scan"), "state")) && !streq(jstr(jget(st, "full_scan"), "state"), "unknown"))
                verdict_add(v->findings, sizeof v->findings, "full scan", jstr(jget(st, "full_scan"), "state"));
        /* A quarantined PC is a finding of this PC; nothing keeping it so is a fault. */
        if (jbool(jget(st, "quarantine"), "active", false)) {
                verdict_add(v->findings, sizeof v->findings, "quarantined", NULL);
                if (!jbool(jget(jget(st, "quarantine"), "netguard"), "running", false))
                        verdict_add(v->problems, sizeof v->problems, "mamori-netguard", "not running");
        }
        return v->problems[0] ? CTL_EXIT_NOT_OK : v->findings[0] ? CTL_EXIT_FINDINGS : CTL_EXIT_OK;
}

/* The network quarantine (issue 15), when there is anything to say. */
static void print_quarantine(json_object *q) {
        json_object *ng = jget(q, "netguard");

        if (!q)
                return;
        if (!jbool(q, "active", false)) {
                if (jbool(q, "configured", false))
                        printf("Quarantine:   no (mamori-netguard %s)\n",
                               jbool(ng, "running", false) ? "running" : "NOT running");
                return;
        }
        time_t since = (time_t) jint(q, "since", 0);
        struct tm tm;
        char when[32] = "?";

        if (since > 0 && localtime_r(&since, &tm))
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        printf("Quarantine:   YES: cut off the network since %s (%s), %lld destination%s allowed;\n"
               "              mamorictl quarantine release --reason \"...\" gives it back\n",
               when, strna(jstr(q, "reason")), jint(q, "allow", 0), jint(q, "allow", 0) == 1 ? "" : "s");
        if (jbool(ng, "running", false))
                printf("Netguard:     %lld rule%s in place, %lld repair%s after tampering, %lld connection%s closed\n",
                       jint(ng, "rules", 0), jint(ng, "rules", 0) == 1 ? "" : "s", jint(ng, "tampered", 0),
                       jint(ng, "tampered", 0) == 1 ? "" : "s", jint(ng, "killed", 0),
                       jint(ng, "killed", 0) == 1 ? "" : "s");
        else
                printf("Netguard:     NOT RUNNING: nothing keeps the rules in place (systemctl start mamori-netguard)\n");
}

/* "2026-11-21T23:53:16.604183Z" (UTC) -> "2026-11-22 08:53" (local), as
 * the Quarantine: line shows its time (and ctl-events.c its events). */
static void status_local_time(const char *rfc3339, char buf[static 32]) {
        struct tm tm = { 0 };
        time_t t;

        if (!rfc3339 || !strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm)) {
                snprintf(buf, 32, "%s", strna(rfc3339));
                return;
        }
        t = timegm(&tm);
        if (!localtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, 32, "%s", rfc3339);
}

/* antivirus.full_scan (issue 15 item 4), when configured. */
static void print_full_scan(json_object *fs) {
        const char *state = jstr(fs, "state"), *last = jstr(fs, "last_completed");
        _cleanup_free_ char *source = ctl_safe_text(strna(jstr(fs, "source")));
        long long days = jint(fs, "max_age_days", 0);
        char when[32];

        if (!fs)
                return;
        status_local_time(last, when);
        if (streq_ptr(state, "ok"))
                printf("Full scan:    %s (ok: within %lld day%s)\n", when, days, days == 1 ? "" : "s");
        else if (streq_ptr(state, "overdue"))
                printf("Full scan:    OVERDUE: the last completed %s, more than %lld day%s ago\n", when, days,
                       days == 1 ? "" : "s");
        else if (streq_ptr(state, "future"))
                printf("Full scan:    dated in the future (%s): the clock or the source is wrong\n", when);
        else if (streq_ptr(state, "missing"))
                printf("Full scan:    NONE KNOWN: no completed full scan (at most %lld day%s apart)\n", days,
                       days == 1 ? "" : "s");
        else
                printf("Full scan:    %s\n", strna(state));
        printf("              from %s\n", source);
}

/* Detections reported by the engine (issue 15 item 1) since mamorid started. */
static void print_detections(json_object *d) {
        json_object *last = jget(d, "last");
        long long n = jint(d, "count", 0);
        char when[32];

        if (!d)
                return;
        if (n == 0 || !last) {
                printf("Detections:   none since start\n");
                return;
        }
        _cleanup_free_ char *sig = ctl_safe_text(strna(jstr(last, "signature")));
        _cleanup_free_ char *path = ctl_safe_text(strna(jstr(last, "path")));
        _cleanup_free_ char *engine = ctl_safe_text(strna(jstr(last, "engine")));
        status_local_time(jstr(last, "at"), when);
        printf("Detections:   %lld since start; the last %s: %s in %s (%s%s)\n", n, when, sig, path, engine,
               jbool(last, "removable", false) ? ", removable media" : "");
}

static void print_verdict(const StatusVerdict *v) {
        if (v->problems[0])
                printf("State:        NOT WORKING AS CONFIGURED: %s\n", v->problems);
        else
                printf("State:        mamori works\n");
        if (v->findings[0])
                printf("Findings:     this PC: %s\n", v->findings);
        else if (!v->problems[0])
                printf("Findings:     none\n");
}

int verb_status(const CtlOptions *o, int argc, char **argv) {
        _cleanup_(jputp) json_object *st = NULL;
        json_object *policy, *events, *spool, *uplink, *checks;
        StatusVerdict verdict;
        int r, exit_code;

        if (argc > 1) {
                fprintf(stderr, "mamorictl status: unexpected argument '%s'\n", argv[1]);
                return CTL_EXIT_USAGE;
        }
        r = ctl_call(o, "status", &st);
        if (r != 0)
                return r;

        policy = jget(st, "policy");
        events = jget(st, "events");
        spool = jget(st, "spool");
        uplink = jget(st, "uplink");
        checks = jget(st, "checks");
        exit_code = status_judge(st, &verdict);

        if (o->json) {
                puts(json_object_to_json_string_ext(st, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                return exit_code;
        }

        printf("mamorid %s on %s, pid %lld, up ", strna(jstr(st, "version")), strna(jstr(st, "host")),
               jint(st, "pid", 0));
        print_uptime(jint(st, "uptime_sec", 0));
        putchar('\n');
        print_verdict(&verdict);
        printf("Policy:       %s\n", strna(jstr(policy, "hash")));
        printf("              %s, %lld allow entr%s from %lld file%s\n", strna(jstr(policy, "config_path")),
               jint(policy, "allow_entries", 0), jint(policy, "allow_entries", 0) == 1 ? "y" : "ies",
               jint(policy, "files", 0), jint(policy, "files", 0) == 1 ? "" : "s");
        printf("Fail-closed:  %s\n", jbool(policy, "fail_closed", false)
                                             ? "YES: no valid configuration, every category is blocked "
                                               "(mamorictl check-config)"
                                             : "no");
        if (jbool(policy, "last_good", false))
                printf("Last good:    YES: the configuration on disk was refused at start; the policy above is\n"
                       "              the last one that loaded (saved %s), not the files on disk\n",
                       strna(jstr(policy, "last_good_saved")));
        if (jget(policy, "refused")) {
                printf("Config:       REFUSED: the configuration on disk has errors since %s; the policy\n"
                       "              above stays in force (mamorictl check-config, then systemctl reload mamori):\n",
                       strna(jstr(jget(policy, "refused"), "since")));
                ctl_print_refused(stdout, jget(policy, "refused"), "              ");
        }
        fputs("Blocking:     ", stdout);
        print_categories(jget(policy, "blocked_categories"));
        putchar('\n');
        for (size_t i = 0; checks && i < json_object_array_length(checks); i++) {
                json_object *c = json_object_array_get_idx(checks, i);
                if (!streq_ptr(jstr(c, "name"), "usb") || !jget(c, "module_aliases"))
                        continue;
                if (jbool(c, "module_aliases", false))
                        printf("USB drivers:  by class, and by the module aliases of %s\n",
                               strna(jstr(c, "modules_dir")));
                else
                        printf("USB drivers:  by class only: no module aliases at %s; an interface is blocked when a\n"
                               "              storage or tethering driver binds, not before\n",
                               strna(jstr(c, "modules_dir")));
        }
        print_quarantine(jget(st, "quarantine"));
        print_full_scan(jget(st, "full_scan"));
        print_detections(jget(st, "detections"));
        printf("Events:       %lld recorded since start\n", jint(events, "recorded", 0));
        print_delivery(spool, uplink, events);
        printf("Checks:\n");
        for (size_t i = 0; checks && i < json_object_array_length(checks); i++) {
                json_object *c = json_object_array_get_idx(checks, i);
                printf("  %-10s %-12s %s\n", strna(jstr(c, "name")), strna(jstr(c, "state")),
                       strempty(jstr(c, "detail")));
        }
        return exit_code;
}
