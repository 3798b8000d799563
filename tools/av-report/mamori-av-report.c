/* SPDX-License-Identifier: MIT */
/* mamori-av-report: hands one detection of an antivirus engine to mamorid
 * (docs/lock-and-antivirus.md, "Detections"). clamd runs it as its
 * VirusEvent with CLAM_VIRUSEVENT_FILENAME and CLAM_VIRUSEVENT_VIRUSNAME in
 * the environment; other engines call it with --engine, --signature and
 * --path. It sends one datagram to mamorid's report socket and waits (2 s at
 * most) for mamorid's answer: exit 0 when taken, 1 when refused or not
 * answered, 2 for a wrong call. It never blocks the engine for longer. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "av-report.h"
#include "cli.h"
#include "log.h"
#include "macro.h"

#define AV_REPORT_SOCKET_DEFAULT "/run/mamori/av-report.sock"
#define AV_REPORT_WAIT_MS 2000

static void help(void) {
        printf("mamori-av-report [--engine NAME --signature NAME [--path PATH]] [--socket PATH]\n\n"
               "Hands one detection to mamorid. Without --signature it reads clamd's VirusEvent\n"
               "environment (CLAM_VIRUSEVENT_VIRUSNAME, CLAM_VIRUSEVENT_FILENAME), engine clamav.\n\n"
               "  --engine NAME       the engine: [a-z0-9_.-], at most 32 (default: clamav)\n"
               "  --signature NAME    what the engine found\n"
               "  --path PATH         the file, absolute\n"
               "  --socket PATH       mamorid's report socket (default " AV_REPORT_SOCKET_DEFAULT ")\n"
               "  --log-level LEVEL   err, warning, notice, info, debug\n"
               "  -h, --help          this text\n"
               "      --version       the version\n");
}

int main(int argc, char *argv[]) {
        enum { ARG_ENGINE = 0x100, ARG_SIGNATURE, ARG_PATH, ARG_SOCKET };
        static const struct option options[] = {
                { "engine", required_argument, NULL, ARG_ENGINE },
                { "signature", required_argument, NULL, ARG_SIGNATURE },
                { "path", required_argument, NULL, ARG_PATH },
                { "socket", required_argument, NULL, ARG_SOCKET },
                CLI_COMMON_OPTIONS,
                {},
        };
        const char *engine = "clamav", *signature = NULL, *path = NULL, *sock = AV_REPORT_SOCKET_DEFAULT;
        struct sockaddr_un sa = { .sun_family = AF_UNIX }, me = { .sun_family = AF_UNIX };
        _cleanup_free_ char *msg = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct pollfd pfd;
        char reply[128];
        size_t len;
        ssize_t n;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_ENGINE:
                        engine = optarg;
                        break;
                case ARG_SIGNATURE:
                        signature = optarg;
                        break;
                case ARG_PATH:
                        path = optarg;
                        break;
                case ARG_SOCKET:
                        sock = optarg;
                        break;
                default:
                        r = cli_common_option(c, optarg, "mamori-av-report", help);
                        if (r <= 0)
                                return r < 0 ? 2 : 0;
                }
        if (cli_no_arguments(argc, argv) < 0)
                return 2;
        if (!signature) {
                /* clamd's VirusEvent (clamd.conf(5)). */
                signature = getenv("CLAM_VIRUSEVENT_VIRUSNAME");
                path = path ?: getenv("CLAM_VIRUSEVENT_FILENAME");
                if (!signature || !*signature) {
                        log_error("No detection: give --signature, or run as clamd's VirusEvent.");
                        return 2;
                }
        }
        if (path && path[0] != '/') {
                log_error("The path must be absolute: %s", path);
                return 2;
        }
        r = av_report_format(engine, signature, path, &msg, &len);
        if (r == -EINVAL) {
                log_error("The engine name must be 1 to 32 of a-z 0-9 _ . -, the signature not empty.");
                return 2;
        }
        if (r < 0) {
                log_error_errno(r, "Cannot put the report together: %m");
                return 2;
        }
        if (isempty(sock) || strlen(sock) >= sizeof sa.sun_path) {
                log_error("Socket path too long: %s", sock);
                return 2;
        }
        strcpy(sa.sun_path, sock);

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                log_error_errno(errno, "Cannot create a socket: %m");
                return 1;
        }
        /* An address of our own (abstract, chosen by the kernel) so that mamorid can answer. */
        if (bind(fd, (struct sockaddr *) &me, sizeof(sa_family_t)) < 0) {
                log_error_errno(errno, "Cannot bind a socket: %m");
                return 1;
        }
        if (sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *) &sa, sizeof sa) < 0) {
                log_error_errno(errno, "Cannot reach mamorid at %s: %m", sock);
                return 1;
        }
        pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
        r = poll(&pfd, 1, AV_REPORT_WAIT_MS);
        if (r <= 0) {
                log_error("mamorid did not answer within %d ms.", AV_REPORT_WAIT_MS);
                return 1;
        }
        n = recv(fd, reply, sizeof reply - 1, MSG_DONTWAIT);
        if (n <= 0) {
                log_error("mamorid did not answer.");
                return 1;
        }
        reply[n] = 0;
        reply[strcspn(reply, "\n")] = 0;
        if (!streq(reply, "ok")) {
                /* Only what a report reason can be. */
                reply[strspn(reply, "abcdefghijklmnopqrstuvwxyz_ ")] = 0;
                log_error("mamorid %s.", reply);
                return 1;
        }
        return 0;
}
