/* SPDX-License-Identifier: MIT */
/* mamorictl: asks mamorid over its root-only control socket what it
 * enforces, and prints allow entries for plugged devices. */
#include <getopt.h>
#include <locale.h>
#include <stdio.h>

#include "config-paths.h"
#include "ctl.h"

static void help(void) {
        printf("mamorictl %s — talk to the mamori agent\n\n"
               "Usage: mamorictl [--socket PATH] [--json] COMMAND [ARGS]\n\n"
               "Commands:\n"
               "  status                 does mamori work; this PC's findings; policy, spool, checks\n"
               "  devices                every USB device: category, decision and the rule behind it\n"
               "  allow DEVICE           print an allow.d entry for a plugged device (bus path 1-2\n"
               "                         or vendor:product); --label --approved-by --approved-on\n"
               "                         --expires --ticket --any-serial, --write FILE\n"
               "  check-config           validate /etc/mamori (--config PATH, --allow-dir DIR)\n"
               "  events                 recent events (-n N, --follow)\n"
               "  flush                  send pending reports and events now\n"
               "  reload                 load the configuration on disk; fails, with its errors,\n"
               "                         when mamorid refuses it (systemctl reload mamori runs it)\n"
               "  dead-letter list       the batches the collector refused for good, kept on this PC\n"
               "  dead-letter resend --all | BATCH...\n"
               "                         send them again, before anything else (same ids and seqs)\n"
               "  inspect                the self-inspection sheet: each clause's checks and a\n"
               "                         verdict (Japanese under a ja locale; --json)\n"
               "  quarantine engage --reason TEXT\n"
               "                         cut this PC off the network but quarantine.allow (root)\n"
               "  quarantine release --reason TEXT\n"
               "                         give the network back; recorded with the reason (root)\n\n"
               "Options:\n"
               "     --socket PATH       mamorid's control socket (default %s)\n"
               "     --json              print JSON instead of tables\n"
               "  -h --help              this text\n"
               "     --version           print the version\n\n"
               "See mamorictl(8).\n",
               MAMORI_VERSION, CTL_DEFAULT_SOCKET);
}

static const struct {
        const char *name;
        int (*run)(const CtlOptions *o, int argc, char **argv);
} verbs[] = {
        /* clang-format off */
        { "status", verb_status },
        { "devices", verb_devices },
        { "allow", verb_allow },
        { "check-config", verb_check_config },
        { "events", verb_events },
        { "flush", verb_flush },
        { "reload", verb_reload },
        { "dead-letter", verb_dead_letter },
        { "inspect", verb_inspect },
        { "quarantine", verb_quarantine },
        /* clang-format on */
};

int main(int argc, char *argv[]) {
        enum { ARG_SOCKET = 0x100, ARG_JSON, ARG_VERSION };
        static const struct option options[] = {
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        CtlOptions o = { .socket_path = CTL_DEFAULT_SOCKET };
        int c;

        setlocale(LC_ALL, "");
        /* "+": options after the command belong to the command. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case ARG_SOCKET:
                        o.socket_path = optarg;
                        break;
                case ARG_JSON:
                        o.json = true;
                        break;
                case 'h':
                        help();
                        return CTL_EXIT_OK;
                case ARG_VERSION:
                        printf("mamorictl %s\n", MAMORI_VERSION);
                        return CTL_EXIT_OK;
                default:
                        return CTL_EXIT_USAGE;
                }
        if (optind >= argc) {
                help();
                return CTL_EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[optind], verbs[i].name))
                        return verbs[i].run(&o, argc - optind, argv + optind);
        fprintf(stderr, "mamorictl: unknown command '%s' (see mamorictl --help).\n", argv[optind]);
        return CTL_EXIT_USAGE;
}
