/* SPDX-License-Identifier: MIT */
/* mamori-netguard: applies the network quarantine that mamorid decides
 * (issue 15). It reads the desired state from /var/lib/mamori/quarantine
 * (quarantine-state.h), puts mamori's policy-routing rules in place
 * (netguard-rules.h), cuts the connections already open (netguard-kill.h)
 * and watches netlink: a rule of ours deleted, a link down or up, and the
 * rules are checked and put back. Root with CAP_NET_ADMIN only; netlink and
 * inotify, no IP socket, no timer: it wakes for nothing but those events. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "config-paths.h"
#include "log.h"
#include "macro.h"
#include "netguard-kill.h"
#include "netguard-rules.h"
#include "quarantine-state.h"
#include "trusted-file.h"

#define NETGUARD_STATE_DEFAULT MAMORI_STATE_DIR "/quarantine"
#define NETGUARD_STATUS_DEFAULT "/run/mamori-netguard/status"

static const char *arg_state = NETGUARD_STATE_DEFAULT;
static const char *arg_status = NETGUARD_STATUS_DEFAULT;

typedef struct Netguard {
        sd_event *event;
        struct nl_sock *ctl; /* requests: the rules' dump, add, delete */
        struct nl_sock *mon; /* notifications: rules and links */
        sd_event_source *mon_source, *inotify_source, *sig_term, *sig_int;
        int inotify_fd;
        char *state_dir, *state_name;
        QuarantineState cur; /* what is applied: the last state file read well */
        bool nl_changed;     /* a notification arrived in this batch */
        unsigned rules, tampered, killed, state_errors;
        uint64_t last_tampered;
        int kill_error;    /* 0, or why SOCK_DESTROY failed last */
        unsigned bad_line; /* of the last refused state file, 0: none */
} Netguard;

static Netguard *netguard_free(Netguard *g) {
        if (!g)
                return NULL;
        sd_event_source_disable_unref(g->mon_source);
        sd_event_source_disable_unref(g->inotify_source);
        sd_event_source_disable_unref(g->sig_term);
        sd_event_source_disable_unref(g->sig_int);
        if (g->inotify_fd >= 0)
                close(g->inotify_fd);
        nl_socket_free(g->mon);
        nl_socket_free(g->ctl);
        sd_event_unref(g->event);
        free(g->state_dir);
        free(g->state_name);
        free(g);
        return NULL;
}
DEFINE_POINTER_CLEANUP(Netguard, netguard_free);

/* The status file: what mamorictl status and the tests read. Written whole,
 * then renamed over the old one. */
static void netguard_write_status(Netguard *g) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        int fd;

        if (asprintf(&tmp, "%s.tmp", arg_status) < 0) {
                log_oom();
                return;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
                log_warning_errno(errno, "Cannot write %s: %m", tmp);
                return;
        }
        f = fdopen(fd, "w");
        if (!f) {
                close(fd);
                log_oom();
                return;
        }
        fprintf(f,
                "active %s\nsince %" PRIu64 "\nreason %s\nallow %zu\nrules %u\ntampered %u\nlast_tampered %" PRIu64
                "\nkilled %u\nkill %s\nstate_errors %u\nbad_line %u\n",
                g->cur.active ? "yes" : "no", g->cur.since, g->cur.reason[0] ? g->cur.reason : "-", g->cur.n_allow,
                g->rules, g->tampered, g->last_tampered, g->killed,
                g->kill_error == -EOPNOTSUPP ? "unsupported"
                : g->kill_error              ? "failed"
                                             : "ok",
                g->state_errors, g->bad_line);
        if (fflush(f) != 0 || ferror(f)) {
                log_warning("Cannot write %s.", tmp);
                (void) unlink(tmp);
                return;
        }
        if (rename(tmp, arg_status) < 0) {
                log_warning_errno(errno, "Cannot rename %s: %m", tmp);
                (void) unlink(tmp);
        }
}

/* The rules made to match g->cur. Returns what changed, or a negative errno. */
static int netguard_apply(Netguard *g, NetguardDiff *ret) {
        int r = netguard_rules_apply(g->ctl, &g->cur, ret);
        if (r < 0)
                return log_error_errno(r, "Cannot put the quarantine's rules in place: %m");
        g->rules = ret->added + ret->kept;
        return 0;
}

static void netguard_kill(Netguard *g) {
        NetguardKill k;
        int r = netguard_kill_prohibited(&g->cur, &k);

        if (r < 0)
                log_warning_errno(r, "Cannot list the open connections: %m");
        g->killed += k.destroyed;
        g->kill_error = k.destroy_error;
        if (k.destroy_error == -EOPNOTSUPP)
                log_warning("This kernel cannot close open connections (no CONFIG_INET_DIAG_DESTROY): "
                            "they fail when they next send.");
        else if (k.destroy_error)
                log_warning_errno(k.destroy_error, "Cannot close an open connection: %m");
        log_info("Open connections: %u looked at, %u closed, %u kept (allowed or local).", k.seen, k.destroyed, k.kept);
}

/* The state file read again: applied when it is sound, else the old state stays. */
static void netguard_reload(Netguard *g) {
        _cleanup_free_ char *path = NULL, *data = NULL, *why = NULL;
        QuarantineState s;
        NetguardDiff d;
        size_t len = 0;
        unsigned line = 0;
        int r;

        if (asprintf(&path, "%s/%s", g->state_dir, g->state_name) < 0) {
                log_oom();
                return;
        }
        r = trust_read_file(path, QUARANTINE_STATE_MAX_SIZE + 1, TRUST_SECRET, &data, &len, &why);
        if (r == -ENOENT)
                s = (QuarantineState){}; /* no file: no quarantine */
        else if (r < 0) {
                log_error_errno(r, "Refusing %s: %s; the quarantine stays as it was.", path, strna(why));
                g->state_errors++;
                netguard_write_status(g);
                return;
        } else if (quarantine_state_parse(data, len, &s, &line) < 0) {
                log_error("Refusing %s: line %u is not valid; the quarantine stays as it was.", path, line);
                g->state_errors++;
                g->bad_line = line ? line : 1;
                netguard_write_status(g);
                return;
        }
        g->bad_line = 0;
        g->cur = s;
        if (netguard_apply(g, &d) >= 0) {
                log_info("Quarantine %s: %u rules added, %u removed, %u already there.", s.active ? "active" : "off",
                         d.added, d.removed, d.kept);
                if (s.active)
                        netguard_kill(g);
        }
        netguard_write_status(g);
}

static int netguard_on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Netguard *g = userdata;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool ours = false;

        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *e = (const struct inotify_event *) p;
                        if (e->mask & IN_Q_OVERFLOW)
                                ours = true;
                        else if (e->len && streq(e->name, g->state_name))
                                ours = true;
                        p += sizeof(*e) + e->len;
                }
        }
        if (ours)
                netguard_reload(g);
        return 0;
}

static int netguard_on_nl_msg(struct nl_msg *msg, void *arg) {
        Netguard *g = arg;
        g->nl_changed = true;
        (void) msg;
        return NL_OK;
}

/* A rule or a link changed: someone else's change, or our own coming back.
 * The rules are compared with what they should be; anything added or
 * removed now was someone else's doing (ours is in place already). */
static int netguard_on_netlink(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Netguard *g = userdata;
        NetguardDiff d;
        int r;

        g->nl_changed = false;
        r = nl_recvmsgs_default(g->mon);
        /* -NLE_NOMEM: the socket's buffer overflowed and notifications were lost: check all the same. */
        if (r < 0 && r != -NLE_AGAIN)
                g->nl_changed = true;
        if (!g->nl_changed)
                return 0;
        if (netguard_apply(g, &d) < 0)
                return 0;
        if (d.added || d.removed) {
                g->tampered++;
                g->last_tampered = (uint64_t) time(NULL);
                log_warning("Quarantine rules changed by someone else: %u put back, %u removed "
                            "(net.quarantine_tampered, %u so far).",
                            d.added, d.removed, g->tampered);
                netguard_write_status(g);
        }
        return 0;
}

static int netguard_new(Netguard **ret) {
        _cleanup_(netguard_freep) Netguard *g = NULL;
        _cleanup_free_ char *dup1 = NULL, *dup2 = NULL;
        int r;

        g = calloc(1, sizeof(*g));
        if (!g)
                return log_oom();
        g->inotify_fd = -EBADF;
        dup1 = strdup(arg_state);
        dup2 = strdup(arg_state);
        if (!dup1 || !dup2)
                return log_oom();
        g->state_dir = strdup(dirname(dup1));
        g->state_name = strdup(basename(dup2));
        if (!g->state_dir || !g->state_name)
                return log_oom();
        if (isempty(g->state_name) || streq(g->state_name, "/") || streq(g->state_name, "."))
                return log_error_errno(EINVAL, "Bad state file name %s.", arg_state);

        r = sd_event_default(&g->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        r = sd_event_add_signal(g->event, &g->sig_term, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(g->event, &g->sig_int, SIGINT, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot watch signals: %m");

        g->ctl = nl_socket_alloc();
        g->mon = nl_socket_alloc();
        if (!g->ctl || !g->mon)
                return log_oom();
        r = nl_connect(g->ctl, NETLINK_ROUTE);
        if (r < 0)
                return log_error("Cannot open rtnetlink: %s", nl_geterror(r)), -EIO;

        /* The watcher first, so that nothing between the first apply and
         * the loop goes unseen. */
        nl_socket_disable_seq_check(g->mon);
        nl_socket_modify_cb(g->mon, NL_CB_VALID, NL_CB_CUSTOM, netguard_on_nl_msg, g);
        r = nl_connect(g->mon, NETLINK_ROUTE);
        if (r >= 0)
                r = nl_socket_add_memberships(g->mon, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE, RTNLGRP_LINK, 0);
        if (r >= 0)
                r = nl_socket_set_nonblocking(g->mon);
        if (r < 0)
                return log_error("Cannot watch rtnetlink: %s", nl_geterror(r)), -EIO;
        (void) nl_socket_set_buffer_size(g->mon, 1024 * 1024, 0);
        r = sd_event_add_io(g->event, &g->mon_source, nl_socket_get_fd(g->mon), EPOLLIN, netguard_on_netlink, g);
        if (r < 0)
                return log_error_errno(r, "Cannot watch rtnetlink: %m");

        g->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (g->inotify_fd < 0)
                return log_error_errno(errno, "Cannot create an inotify instance: %m");
        if (inotify_add_watch(g->inotify_fd, g->state_dir,
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR) < 0)
                return log_error_errno(errno, "Cannot watch %s: %m", g->state_dir);
        r = sd_event_add_io(g->event, &g->inotify_source, g->inotify_fd, EPOLLIN, netguard_on_inotify, g);
        if (r < 0)
                return log_error_errno(r, "Cannot watch %s: %m", g->state_dir);

        *ret = TAKE_PTR(g);
        return 0;
}

static void netguard_help(void) {
        printf("mamori-netguard [OPTIONS]\n\n"
               "Applies the network quarantine decided by mamorid.\n\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "     --state-file=PATH The desired state (default " NETGUARD_STATE_DEFAULT ")\n"
               "     --status-file=PATH Where the status is written (default " NETGUARD_STATUS_DEFAULT ")\n"
               "     --log-level=LEVEL debug, info, notice, warning, err\n");
}

static int netguard_parse_argv(int argc, char *argv[]) {
        enum { ARG_STATE = 0x100, ARG_STATUS, ARG_LOG_LEVEL, ARG_VERSION };
        static const struct option options[] = {
                { "state-file", required_argument, NULL, ARG_STATE },
                { "status-file", required_argument, NULL, ARG_STATUS },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_STATE:
                        if (optarg[0] != '/') {
                                fprintf(stderr, "--state-file needs an absolute path.\n");
                                return -EINVAL;
                        }
                        arg_state = optarg;
                        break;
                case ARG_STATUS:
                        arg_status = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        if (log_level_from_string(optarg) < 0) {
                                fprintf(stderr, "Unknown log level '%s'.\n", optarg);
                                return -EINVAL;
                        }
                        log_set_max_level(log_level_from_string(optarg));
                        break;
                case 'h':
                        netguard_help();
                        return 0;
                case ARG_VERSION:
                        printf("mamori-netguard %s\n", MAMORI_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument '%s'.\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        _cleanup_(netguard_freep) Netguard *g = NULL;
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        r = sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ? -errno : 0;
        log_set_identifier("mamori-netguard");
        log_open(LOG_TARGET_AUTO);
        if (r < 0)
                return log_error_errno(r, "Cannot block signals: %m"), 1;
        r = netguard_parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (netguard_new(&g) < 0 || !g)
                return 1;
        /* Whatever the file says now, before anyone is told we are ready. */
        netguard_reload(g);
        (void) sd_notify(false, "READY=1");
        log_info("mamori-netguard %s running: state %s/%s.", MAMORI_VERSION, g->state_dir, g->state_name);
        r = sd_event_loop(g->event);
        (void) sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), 1;
        /* The rules stay: a restart or a stop keeps the PC isolated. */
        log_info("mamori-netguard stopped; the rules stay as they are.");
        return 0;
}
