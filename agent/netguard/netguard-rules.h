/* SPDX-License-Identifier: MIT */
#pragma once

/* mamori's policy-routing rules (libnl-route), both families:
 *
 *   priority NETGUARD_PRIO_ALLOW  to <allowed CIDR>  lookup main
 *   priority NETGUARD_PRIO_BLOCK  prohibit
 *
 * The kernel's own "lookup local" at priority 0 comes first, so loopback and
 * the PC's own addresses keep working; everything else that is not allowed
 * gets "prohibit": a new connection fails at once with EACCES (connect(),
 * sendto()), no timeout. Each rule carries the protocol NETGUARD_RULE_PROTOCOL
 * (FRA_PROTOCOL, `ip rule` shows "proto 212"): only rules with it are ever
 * changed or removed. */

#include <stdbool.h>

#include "quarantine-state.h"

struct nl_sock;

#define NETGUARD_RULE_PROTOCOL 212
#define NETGUARD_PRIO_ALLOW 5
#define NETGUARD_PRIO_BLOCK 6

typedef struct NetguardDiff {
        unsigned added, removed, kept;
} NetguardDiff;

/* Makes the kernel's rules with our protocol match s (none when s is NULL or
 * not active): adds what is missing (the holes before the prohibit), deletes
 * what is ours and not wanted, leaves everything else alone. 0 or a negative
 * errno; *ret says what changed. */
int netguard_rules_apply(struct nl_sock *sk, const QuarantineState *s, NetguardDiff *ret);
