/* SPDX-License-Identifier: MIT */
#include "netguard-kill.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"

/* A bound on what one pass looks at: a PC has hundreds, not this many. */
#define KILL_MAX_SOCKETS 65536

#define TCP_OPEN_STATES \
        ((1u << TCP_ESTABLISHED) | (1u << TCP_SYN_SENT) | (1u << TCP_SYN_RECV) | (1u << TCP_FIN_WAIT1) | \
         (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE_WAIT) | (1u << TCP_LAST_ACK))

/* A connected UDP socket is TCP_ESTABLISHED to sock_diag; an unconnected one
 * has no peer to judge. */
static uint32_t states_of(int protocol) {
        return protocol == IPPROTO_UDP ? 1u << TCP_ESTABLISHED : TCP_OPEN_STATES;
}

typedef struct DiagReq {
        struct nlmsghdr nh;
        struct inet_diag_req_v2 r;
} DiagReq;

static int nl_open(int protocol) {
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = -errno;
                close(fd);
                return e;
        }
        return fd;
}

/* One request, its ack: 0 or the kernel's negative errno. */
static int nl_ack(int fd, void *req, size_t len) {
        struct nlmsghdr *nh = req;
        char buf[4096];
        ssize_t n;

        if (send(fd, req, len, 0) < 0)
                return -errno;
        for (;;) {
                n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0)
                        return errno == EINTR ? -EINTR : -errno;
                for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n)) {
                        if (h->nlmsg_seq != nh->nlmsg_seq)
                                continue;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);
                                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                                        return -EBADMSG;
                                return e->error;
                        }
                        /* RTM_GETROUTE answers with the route, then no ack. */
                        if (h->nlmsg_type == RTM_NEWROUTE) {
                                const struct rtmsg *rt = NLMSG_DATA(h);
                                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)))
                                        return -EBADMSG;
                                return rt->rtm_type == RTN_PROHIBIT ? -EACCES : 0;
                        }
                }
        }
}

/* Whether the kernel would prohibit a new packet to addr now (the rules are in). */
static bool route_prohibited(int rt_fd, int family, const uint8_t *addr, uint32_t seq) {
        struct {
                struct nlmsghdr nh;
                struct rtmsg rt;
                char attrs[64];
        } req = {};
        size_t alen = family == AF_INET ? 4 : 16;
        struct rtattr *rta;
        int r;

        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
        req.nh.nlmsg_type = RTM_GETROUTE;
        req.nh.nlmsg_flags = NLM_F_REQUEST;
        req.nh.nlmsg_seq = seq;
        req.rt.rtm_family = (unsigned char) family;
        req.rt.rtm_dst_len = (unsigned char) (alen * 8);
        rta = (struct rtattr *) ((char *) &req + NLMSG_ALIGN(req.nh.nlmsg_len));
        rta->rta_type = RTA_DST;
        rta->rta_len = (unsigned short) RTA_LENGTH(alen);
        memcpy(RTA_DATA(rta), addr, alen);
        req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
        r = nl_ack(rt_fd, &req, req.nh.nlmsg_len);
        /* "prohibit" answers EACCES; no route at all (a link down) is not ours to judge. */
        return r == -EACCES;
}

static bool allowed(const QuarantineState *s, int family, const uint8_t *addr) {
        for (size_t i = 0; i < s->n_allow; i++)
                if (quarantine_cidr_contains(&s->allow[i], family, addr))
                        return true;
        return false;
}

/* The open TCP sockets of one family, copied out of the dump. */
static int diag_dump(int fd, int family, int protocol, struct inet_diag_sockid **ret, size_t *ret_n) {
        DiagReq req = {
                .nh = { .nlmsg_len = sizeof(DiagReq),
                        .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                        .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                        .nlmsg_seq = 1 },
                .r = { .sdiag_family = (uint8_t) family,
                       .sdiag_protocol = (uint8_t) protocol,
                       .idiag_states = states_of(protocol) },
        };
        _cleanup_free_ struct inet_diag_sockid *ids = NULL;
        size_t n = 0, cap = 0;
        static char buf[32768];

        if (send(fd, &req, sizeof(req), 0) < 0)
                return -errno;
        for (;;) {
                ssize_t len = recv(fd, buf, sizeof(buf), 0);
                if (len < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (len == 0)
                        return -EBADMSG;
                for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK(h, (size_t) len); h = NLMSG_NEXT(h, len)) {
                        const struct inet_diag_msg *m;
                        if (h->nlmsg_type == NLMSG_DONE) {
                                *ret = TAKE_PTR(ids);
                                *ret_n = n;
                                return 0;
                        }
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);
                                return h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ? e->error : -EBADMSG;
                        }
                        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
                                continue;
                        m = NLMSG_DATA(h);
                        if (m->idiag_family != family || n >= KILL_MAX_SOCKETS)
                                continue;
                        if (GROW_ARRAY(ids, cap, n + 1, 64) < 0)
                                return -ENOMEM;
                        ids[n++] = m->id;
                }
        }
}

static int diag_destroy(int fd, int family, int protocol, const struct inet_diag_sockid *id, uint32_t seq) {
        DiagReq req = {
                .nh = { .nlmsg_len = sizeof(DiagReq),
                        .nlmsg_type = SOCK_DESTROY,
                        .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
                        .nlmsg_seq = seq },
                .r = { .sdiag_family = (uint8_t) family,
                       .sdiag_protocol = (uint8_t) protocol,
                       .idiag_states = states_of(protocol),
                       .id = *id },
        };
        return nl_ack(fd, &req, sizeof(req));
}

int netguard_kill_prohibited(const QuarantineState *s, NetguardKill *ret) {
        static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        _cleanup_close_ int diag_fd = -EBADF, rt_fd = -EBADF;
        NetguardKill k = {};
        uint32_t seq = 100;
        int r = 0;

        diag_fd = nl_open(NETLINK_SOCK_DIAG);
        if (diag_fd < 0) {
                *ret = k;
                return diag_fd;
        }
        rt_fd = nl_open(NETLINK_ROUTE);
        if (rt_fd < 0) {
                *ret = k;
                return rt_fd;
        }
        for (int f = 0; f < 4; f++) {
                int family = f % 2 == 0 ? AF_INET : AF_INET6;
                int protocol = f < 2 ? IPPROTO_TCP : IPPROTO_UDP;
                _cleanup_free_ struct inet_diag_sockid *ids = NULL;
                size_t n = 0;

                r = diag_dump(diag_fd, family, protocol, &ids, &n);
                /* No udp_diag in this kernel: the TCP part stands. */
                if (r == -ENOENT && protocol == IPPROTO_UDP) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                for (size_t i = 0; i < n; i++) {
                        const uint8_t *dst = (const uint8_t *) ids[i].idiag_dst;
                        int dfam = family;
                        int e;

                        k.seen++;
                        /* An IPv4 peer of an IPv6 socket travels as IPv4. */
                        if (family == AF_INET6 && memcmp(dst, v4mapped, sizeof(v4mapped)) == 0) {
                                dst += 12;
                                dfam = AF_INET;
                        }
                        if (allowed(s, dfam, dst) || !route_prohibited(rt_fd, dfam, dst, ++seq)) {
                                k.kept++;
                                continue;
                        }
                        e = diag_destroy(diag_fd, family, protocol, &ids[i], ++seq);
                        if (e == 0)
                                k.destroyed++;
                        else if (e != -ENOENT && !k.destroy_error)
                                k.destroy_error = e; /* -EOPNOTSUPP: no CONFIG_INET_DIAG_DESTROY */
                }
        }
        *ret = k;
        return r;
}
