/* SPDX-License-Identifier: MIT */
#include "quarantine-state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAGIC "mamori-quarantine"

int quarantine_cidr_parse(const char *s, QuarantineCidr *c) {
        char host[INET6_ADDRSTRLEN + 1];
        const char *slash = strchr(s, '/');
        unsigned long plen;
        char *end;
        size_t n, bits;

        if (!slash || slash == s)
                return -EINVAL;
        n = (size_t) (slash - s);
        if (n >= sizeof(host))
                return -EINVAL;
        memcpy(host, s, n);
        host[n] = '\0';
        memset(c, 0, sizeof(*c));
        if (inet_pton(AF_INET, host, c->addr) == 1) {
                c->family = AF_INET;
                bits = 32;
        } else if (inet_pton(AF_INET6, host, c->addr) == 1) {
                c->family = AF_INET6;
                bits = 128;
        } else
                return -EINVAL;
        /* Digits only: no sign, no space, no leading zero but "0" itself. */
        if (slash[1] < '0' || slash[1] > '9' || (slash[1] == '0' && slash[2] != '\0') || strlen(slash + 1) > 3)
                return -EINVAL;
        errno = 0;
        plen = strtoul(slash + 1, &end, 10);
        if (errno || *end || plen > bits)
                return -EINVAL;
        c->prefixlen = (uint8_t) plen;
        /* Host bits set: "192.0.2.10/24" is ambiguous, refused. */
        for (size_t i = 0; i < bits / 8; i++) {
                size_t first = i * 8;
                uint8_t mask;
                if (first + 8 <= plen)
                        continue;
                mask = first >= plen ? 0 : (uint8_t) (0xffu << (8 - (plen - first)));
                if (c->addr[i] & (uint8_t) ~mask)
                        return -EINVAL;
        }
        return 0;
}

bool quarantine_cidr_contains(const QuarantineCidr *c, int family, const void *addr) {
        const uint8_t *a = addr;
        size_t full = c->prefixlen / 8, rest = c->prefixlen % 8;

        if (family != c->family)
                return false;
        if (memcmp(a, c->addr, full) != 0)
                return false;
        if (rest == 0)
                return true;
        return ((a[full] ^ c->addr[full]) & (uint8_t) (0xffu << (8 - rest))) == 0;
}

static int parse_line(char *line, QuarantineState *s, bool *seen_active, bool *seen_since, bool *seen_reason) {
        char *key = line, *value = strchr(line, ' ');

        if (!value)
                return -EBADMSG;
        *value++ = '\0';
        if (!value[0] || value[0] == ' ')
                return -EBADMSG;
        if (strcmp(key, "active") == 0) {
                if (*seen_active)
                        return -EBADMSG;
                *seen_active = true;
                if (strcmp(value, "yes") == 0)
                        s->active = true;
                else if (strcmp(value, "no") == 0)
                        s->active = false;
                else
                        return -EBADMSG;
        } else if (strcmp(key, "since") == 0) {
                unsigned long long v;
                char *end;
                if (*seen_since || value[0] < '0' || value[0] > '9' || strlen(value) > 12)
                        return -EBADMSG;
                *seen_since = true;
                errno = 0;
                v = strtoull(value, &end, 10);
                if (errno || *end)
                        return -EBADMSG;
                s->since = v;
        } else if (strcmp(key, "reason") == 0) {
                size_t n = strlen(value);
                if (*seen_reason || n > QUARANTINE_REASON_MAX)
                        return -EBADMSG;
                *seen_reason = true;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) value[i] < 0x20 || (unsigned char) value[i] > 0x7e)
                                return -EBADMSG;
                memcpy(s->reason, value, n + 1);
        } else if (strcmp(key, "allow") == 0) {
                if (s->n_allow >= QUARANTINE_ALLOW_MAX)
                        return -EBADMSG;
                if (quarantine_cidr_parse(value, &s->allow[s->n_allow]) < 0)
                        return -EBADMSG;
                s->n_allow++;
        } else
                return -EBADMSG;
        return 0;
}

int quarantine_state_parse(const char *data, size_t len, QuarantineState *ret, unsigned *ret_line) {
        QuarantineState s = {};
        bool seen_active = false, seen_since = false, seen_reason = false, header = false;
        char line[QUARANTINE_STATE_MAX_LINE + 1];
        size_t pos = 0;
        unsigned n = 0;

        *ret_line = 0;
        if (len > QUARANTINE_STATE_MAX_SIZE || memchr(data, '\0', len))
                return -EBADMSG;
        while (pos < len) {
                const char *nl = memchr(data + pos, '\n', len - pos);
                size_t l = nl ? (size_t) (nl - (data + pos)) : len - pos;

                n++;
                *ret_line = n;
                if (l > QUARANTINE_STATE_MAX_LINE)
                        return -EBADMSG;
                memcpy(line, data + pos, l);
                line[l] = '\0';
                pos += l + (nl ? 1 : 0);
                if (!header) {
                        if (strcmp(line, MAGIC " 1") != 0)
                                return -EBADMSG;
                        header = true;
                        continue;
                }
                if (l == 0 || line[0] == '#')
                        continue;
                if (parse_line(line, &s, &seen_active, &seen_since, &seen_reason) < 0)
                        return -EBADMSG;
        }
        if (!header || !seen_active) {
                *ret_line = 0;
                return -EBADMSG;
        }
        *ret_line = 0;
        *ret = s;
        return 0;
}

int quarantine_state_format(const QuarantineState *s, char *buf, size_t size) {
        size_t used = 0;
        int k;

#define APPEND(...) \
        do { \
                k = snprintf(buf + used, size - used, __VA_ARGS__); \
                if (k < 0 || (size_t) k >= size - used) \
                        return -ENOBUFS; \
                used += (size_t) k; \
        } while (0)

        if (size == 0)
                return -ENOBUFS;
        APPEND("%s 1\nactive %s\n", MAGIC, s->active ? "yes" : "no");
        if (s->since)
                APPEND("since %llu\n", (unsigned long long) s->since);
        if (s->reason[0])
                APPEND("reason %s\n", s->reason);
        for (size_t i = 0; i < s->n_allow; i++) {
                char a[INET6_ADDRSTRLEN];
                if (!inet_ntop(s->allow[i].family, s->allow[i].addr, a, sizeof(a)))
                        return -EINVAL;
                APPEND("allow %s/%u\n", a, s->allow[i].prefixlen);
        }
#undef APPEND
        return (int) used;
}
