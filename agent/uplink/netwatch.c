/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <linux/rtnetlink.h>
#include <linux/if.h>
#include <sys/epoll.h>

#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "log.h"
#include "netwatch.h"
#include "text.h"

typedef struct LinkState {
        int ifindex;
        bool carrier;
} LinkState;

struct Netwatch {
        struct nl_sock *sock;
        sd_event_source *io;
        NetwatchHandler handler;
        void *userdata;
        LinkState *links;
        size_t n_links;
        char why[128]; /* the first reason seen while reading one burst */
};

static LinkState *netwatch_link_find(Netwatch *n, int ifindex) {
        for (size_t i = 0; i < n->n_links; i++)
                if (n->links[i].ifindex == ifindex)
                        return &n->links[i];
        return NULL;
}

static void netwatch_link_forget(Netwatch *n, int ifindex) {
        LinkState *l = netwatch_link_find(n, ifindex);
        if (l)
                *l = n->links[--n->n_links];
}

/* Returns true when the carrier just came on. */
static bool netwatch_link_update(Netwatch *n, int ifindex, bool carrier) {
        LinkState *l = netwatch_link_find(n, ifindex), *nl;
        if (l) {
                bool up = carrier && !l->carrier;
                l->carrier = carrier;
                return up;
        }
        nl = reallocarray(n->links, n->n_links + 1, sizeof *nl);
        if (!nl)
                return carrier; /* no memory to remember: better one flush too many */
        n->links = nl;
        n->links[n->n_links++] = (LinkState){ ifindex, carrier };
        return carrier;
}

static void netwatch_note(Netwatch *n, const char *what, const char *arg) {
        if (!n->why[0])
                snprintf(n->why, sizeof n->why, "%s%s", what, arg);
}

static int netwatch_on_msg(struct nl_msg *msg, void *arg) {
        Netwatch *n = arg;
        struct nlmsghdr *h = nlmsg_hdr(msg);

        switch (h->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK: {
                struct ifinfomsg *ifi;
                struct nlattr *name;
                _cleanup_free_ char *clean = NULL;

                if (h->nlmsg_len < NLMSG_LENGTH(sizeof *ifi))
                        break;
                ifi = nlmsg_data(h);
                if (ifi->ifi_flags & IFF_LOOPBACK)
                        break;
                if (h->nlmsg_type == RTM_DELLINK) {
                        netwatch_link_forget(n, ifi->ifi_index);
                        break;
                }
                if (!netwatch_link_update(n, ifi->ifi_index, (ifi->ifi_flags & IFF_LOWER_UP) && (ifi->ifi_flags & IFF_UP)))
                        break;
                name = nlmsg_find_attr(h, sizeof *ifi, IFLA_IFNAME);
                if (name)
                        clean = text_sanitize(nla_data(name), strnlen(nla_data(name), (size_t) nla_len(name)), 32, NULL);
                netwatch_note(n, "carrier on ", clean ? clean : "a link");
                break;
        }
        case RTM_NEWROUTE: {
                struct rtmsg *rt;
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof *rt))
                        break;
                rt = nlmsg_data(h);
                if (rt->rtm_dst_len == 0 && rt->rtm_type == RTN_UNICAST && rt->rtm_table == RT_TABLE_MAIN)
                        netwatch_note(n, "default route ", rt->rtm_family == AF_INET6 ? "(IPv6)" : "(IPv4)");
                break;
        }
        default:
                break;
        }
        return NL_OK;
}

static int netwatch_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Netwatch *n = userdata;
        int r;

        n->why[0] = 0;
        r = nl_recvmsgs_default(n->sock);
        if (r == -NLE_NOMEM || r == -NLE_MSG_OVERFLOW)
                /* The kernel dropped messages (ENOBUFS): something changed, we do not know what. */
                netwatch_note(n, "netlink overrun", "");
        else if (r < 0 && r != -NLE_AGAIN)
                log_debug("netwatch: %s", nl_geterror(r));
        if (n->why[0]) {
                log_debug("Network: %s.", n->why);
                n->handler(n->why, n->userdata);
        }
        return 0;
}

/* What the links are now, so that only a change is news. */
static void netwatch_initial_links(Netwatch *n) {
        struct nl_sock *sk = nl_socket_alloc();
        struct nl_cache *cache = NULL;

        if (!sk)
                return;
        if (nl_connect(sk, NETLINK_ROUTE) >= 0 && rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache) >= 0) {
                for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                        struct rtnl_link *l = (struct rtnl_link *) o;
                        unsigned flags = rtnl_link_get_flags(l);
                        if (!(flags & IFF_LOOPBACK))
                                (void) netwatch_link_update(n, rtnl_link_get_ifindex(l),
                                                            (flags & IFF_LOWER_UP) && (flags & IFF_UP));
                }
                nl_cache_free(cache);
        }
        nl_socket_free(sk);
}

int netwatch_new(sd_event *e, NetwatchHandler handler, void *userdata, Netwatch **ret) {
        _cleanup_(netwatch_freep) Netwatch *n = NULL;
        int r;

        assert(e);
        assert(handler);
        assert(ret);

        n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->handler = handler;
        n->userdata = userdata;
        netwatch_initial_links(n);

        n->sock = nl_socket_alloc();
        if (!n->sock)
                return -ENOMEM;
        nl_socket_disable_seq_check(n->sock);
        nl_socket_modify_cb(n->sock, NL_CB_VALID, NL_CB_CUSTOM, netwatch_on_msg, n);
        r = nl_connect(n->sock, NETLINK_ROUTE);
        if (r < 0)
                return log_error_errno(EIO, "Cannot open a netlink route socket: %s", nl_geterror(r));
        r = nl_socket_add_memberships(n->sock, RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, 0);
        if (r < 0)
                return log_error_errno(EIO, "Cannot watch links and routes: %s", nl_geterror(r));
        (void) nl_socket_set_nonblocking(n->sock);
        r = sd_event_add_io(e, &n->io, nl_socket_get_fd(n->sock), EPOLLIN, netwatch_on_io, n);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the netlink socket: %m");
        (void) sd_event_source_set_description(n->io, "netwatch");
        *ret = TAKE_PTR(n);
        return 0;
}

Netwatch *netwatch_free(Netwatch *n) {
        if (!n)
                return NULL;
        sd_event_source_disable_unref(n->io);
        if (n->sock)
                nl_socket_free(n->sock);
        free(n->links);
        free(n);
        return NULL;
}
