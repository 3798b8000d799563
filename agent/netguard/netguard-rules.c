/* SPDX-License-Identifier: MIT */
#include "netguard-rules.h"

#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/route/rule.h>

#include "macro.h"

typedef struct Want {
        int family;
        uint32_t prio;
        uint8_t action;
        const QuarantineCidr *dst; /* NULL: any */
        bool present;
} Want;

/* libnl's errors back to an errno for the caller's %m. */
static int nl_to_errno(int r) {
        switch (-r) {
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_PERM:
                return -EPERM;
        case NLE_EXIST:
                return -EEXIST;
        case NLE_OBJ_NOTFOUND:
                return -ENOENT;
        case NLE_OPNOTSUPP:
                return -EOPNOTSUPP;
        case NLE_AF_NOSUPPORT:
                return -EAFNOSUPPORT;
        default:
                return -EIO;
        }
}

static bool is_ours(struct rtnl_rule *rule) {
        uint8_t proto = 0;
        return rtnl_rule_get_protocol(rule, &proto) == 0 && proto == NETGUARD_RULE_PROTOCOL;
}

static bool rule_matches(struct rtnl_rule *rule, const Want *w) {
        struct nl_addr *dst = rtnl_rule_get_dst(rule);

        if (rtnl_rule_get_family(rule) != w->family || rtnl_rule_get_prio(rule) != w->prio ||
            rtnl_rule_get_action(rule) != w->action)
                return false;
        if (w->action == FR_ACT_TO_TBL && rtnl_rule_get_table(rule) != RT_TABLE_MAIN)
                return false;
        if (!w->dst)
                return !dst || nl_addr_get_prefixlen(dst) == 0;
        if (!dst || nl_addr_get_prefixlen(dst) != w->dst->prefixlen ||
            nl_addr_get_len(dst) != (w->family == AF_INET ? 4u : 16u))
                return false;
        return memcmp(nl_addr_get_binary_addr(dst), w->dst->addr, nl_addr_get_len(dst)) == 0;
}

static int rule_add(struct nl_sock *sk, const Want *w) {
        struct rtnl_rule *rule = rtnl_rule_alloc();
        int r;

        if (!rule)
                return -ENOMEM;
        rtnl_rule_set_family(rule, w->family);
        rtnl_rule_set_prio(rule, w->prio);
        rtnl_rule_set_action(rule, w->action);
        r = rtnl_rule_set_protocol(rule, NETGUARD_RULE_PROTOCOL);
        if (r >= 0 && w->action == FR_ACT_TO_TBL)
                rtnl_rule_set_table(rule, RT_TABLE_MAIN);
        if (r >= 0 && w->dst) {
                struct nl_addr *a = nl_addr_build(w->family, w->dst->addr, w->family == AF_INET ? 4 : 16);
                if (!a)
                        r = -NLE_NOMEM;
                else {
                        nl_addr_set_prefixlen(a, w->dst->prefixlen);
                        r = rtnl_rule_set_dst(rule, a);
                        nl_addr_put(a);
                }
        }
        if (r >= 0)
                r = rtnl_rule_add(sk, rule, NLM_F_EXCL);
        rtnl_rule_put(rule);
        /* Someone added the same rule between our dump and now: it is there. */
        if (r == -NLE_EXIST)
                return 0;
        return r < 0 ? nl_to_errno(r) : 0;
}

int netguard_rules_apply(struct nl_sock *sk, const QuarantineState *s, NetguardDiff *ret) {
        Want want[2 * (QUARANTINE_ALLOW_MAX + 1)];
        struct nl_cache *cache = NULL;
        struct nl_object *obj;
        NetguardDiff d = {};
        size_t n = 0;
        int r;

        if (s && s->active) {
                for (size_t i = 0; i < s->n_allow; i++)
                        want[n++] = (Want){ s->allow[i].family, NETGUARD_PRIO_ALLOW, FR_ACT_TO_TBL, &s->allow[i], false };
                want[n++] = (Want){ AF_INET, NETGUARD_PRIO_BLOCK, FR_ACT_PROHIBIT, NULL, false };
                want[n++] = (Want){ AF_INET6, NETGUARD_PRIO_BLOCK, FR_ACT_PROHIBIT, NULL, false };
        }

        r = rtnl_rule_alloc_cache(sk, AF_UNSPEC, &cache);
        if (r < 0)
                return nl_to_errno(r);

        for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
                struct rtnl_rule *rule = (struct rtnl_rule *) obj;
                bool wanted = false;

                if (!is_ours(rule))
                        continue;
                for (size_t i = 0; i < n && !wanted; i++)
                        if (!want[i].present && rule_matches(rule, &want[i]))
                                want[i].present = wanted = true;
                if (wanted)
                        d.kept++;
        }

        /* The holes first, then the prohibit: the collector is never cut. */
        for (size_t i = 0; i < n; i++) {
                if (want[i].present)
                        continue;
                r = rule_add(sk, &want[i]);
                if (r < 0)
                        goto out;
                want[i].present = true;
                d.added++;
        }

        /* Ours and not wanted (a release, an allow removed, a copy someone added).
         * The prohibits before the holes. */
        for (int pass = 0; pass < 2; pass++) {
                for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
                        struct rtnl_rule *rule = (struct rtnl_rule *) obj;
                        bool wanted = false;

                        if (!is_ours(rule) || (rtnl_rule_get_action(rule) == FR_ACT_PROHIBIT) != (pass == 0))
                                continue;
                        for (size_t i = 0; i < n && !wanted; i++)
                                wanted = rule_matches(rule, &want[i]);
                        /* A copy of a wanted rule stays: it does the same. */
                        if (wanted)
                                continue;
                        r = rtnl_rule_delete(sk, rule, 0);
                        if (r < 0 && r != -NLE_OBJ_NOTFOUND) {
                                r = nl_to_errno(r);
                                goto out;
                        }
                        d.removed++;
                }
        }
        r = 0;
out:
        nl_cache_free(cache);
        *ret = d;
        return r;
}
