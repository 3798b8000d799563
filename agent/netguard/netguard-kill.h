/* SPDX-License-Identifier: MIT */
#pragma once

/* Cuts the TCP connections (and connected UDP sockets) that are already open
 * to a destination the quarantine prohibits: sock_diag lists them
 * (NETLINK_SOCK_DIAG, both families), the kernel's own route lookup
 * (RTM_GETROUTE, after the rules are in) says which destination is
 * prohibited, and SOCK_DESTROY closes those (the program sees ECONNABORTED,
 * a TCP peer a RST). SOCK_DESTROY needs a kernel
 * with CONFIG_INET_DIAG_DESTROY: without it nothing is destroyed, the result
 * says so (-EOPNOTSUPP), and such a connection stays open until it next sends:
 * that send fails (EACCES) and TCP gives up after its retries; what the peer
 * sends in the meantime still arrives. Netlink only, no IP socket. */

#include "quarantine-state.h"

typedef struct NetguardKill {
        unsigned seen;      /* open TCP and connected UDP sockets looked at */
        unsigned destroyed; /* closed by SOCK_DESTROY */
        unsigned kept;      /* allowed or local destinations */
        int destroy_error;  /* 0, or the first error of SOCK_DESTROY (-EOPNOTSUPP: not in this kernel) */
} NetguardKill;

/* 0 or a negative errno when listing failed; *ret in both cases. */
int netguard_kill_prohibited(const QuarantineState *s, NetguardKill *ret);
