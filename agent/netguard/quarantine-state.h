/* SPDX-License-Identifier: MIT */
#pragma once

/* The quarantine's desired state: the file /var/lib/mamori/quarantine that
 * mamorid writes (root-only, atomically) and mamori-netguard applies. A pure
 * module: bytes in, a QuarantineState or -EBADMSG out. The file is hostile
 * input like any other: every line is checked, the first bad one refuses the
 * whole file (the caller keeps what it applied before).
 *
 *   mamori-quarantine 1            first line: the format and its version
 *   active yes                     yes | no (exactly once)
 *   since 1796000000               seconds since the epoch (optional)
 *   reason av.detection            printable ASCII, at most 200 bytes (optional)
 *   allow 192.0.2.10/32            a destination kept reachable, IPv4 or IPv6
 *   allow 2001:db8::/64            CIDR; host bits must be 0; at most 64 lines
 *
 * Blank lines and lines starting with '#' are skipped. Unknown keys, a key
 * twice (but allow), NUL bytes, lines over 512 bytes and files over 16 KiB
 * are refused. Ports are not part of version 1: a destination is allowed as a
 * whole (policy-routing rules select by address). */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUARANTINE_STATE_MAX_SIZE 16384
#define QUARANTINE_STATE_MAX_LINE 512
#define QUARANTINE_ALLOW_MAX 64
#define QUARANTINE_REASON_MAX 200

typedef struct QuarantineCidr {
        int family; /* AF_INET or AF_INET6 */
        uint8_t addr[16];
        uint8_t prefixlen;
} QuarantineCidr;

typedef struct QuarantineState {
        bool active;
        uint64_t since; /* 0: not given */
        char reason[QUARANTINE_REASON_MAX + 1];
        size_t n_allow;
        QuarantineCidr allow[QUARANTINE_ALLOW_MAX];
} QuarantineState;

/* Parses len bytes (no NUL needed). 0, or -EBADMSG with *ret_line set to the
 * first bad line (0: the file as a whole). */
int quarantine_state_parse(const char *data, size_t len, QuarantineState *ret, unsigned *ret_line);

/* "192.0.2.0/24" into c; -EINVAL when not a CIDR, host bits set. */
int quarantine_cidr_parse(const char *s, QuarantineCidr *c);

/* Whether addr (4 or 16 bytes of family) is inside c. */
bool quarantine_cidr_contains(const QuarantineCidr *c, int family, const void *addr);

/* Writes the state back in the file's format into buf (NUL-terminated).
 * The length, or -ENOBUFS. */
int quarantine_state_format(const QuarantineState *s, char *buf, size_t size);
