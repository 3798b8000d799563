/* SPDX-License-Identifier: MIT */
/* A stand-in for findings.c (helper h-cfind writes the real rules), for the
 * store's tests and benchmark only: it keeps the host counters, raises
 * host.tampered on a conflicting id, host.silent by the timer once the
 * margin has passed, and host.returned (closing host.silent) when the host
 * speaks again, so that every kind of change the store applies (open,
 * update, close, notice) is exercised. Not linked into mamori-collectord. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "findings.h"
#include "macro.h"
#include "store.h"

static FindingChange *add(FindingList *out, FindingAction a, const char *kind, const char *severity, int64_t first,
                          int64_t last) {
        if (out->n >= FINDINGS_MAX_CHANGES)
                return NULL;
        FindingChange *c = &out->changes[out->n++];
        *c = (FindingChange){ .action = a, .kind = kind, .severity = severity, .first_us = first, .last_us = last };
        snprintf(c->detail, sizeof c->detail, "{}");
        snprintf(c->message, sizeof c->message, "%s", kind);
        return c;
}

static void copy(char *dst, size_t size, const char *src) {
        if (src)
                snprintf(dst, size, "%s", src);
}

void findings_on_event(const FindingsConfig *c, HostState *h, const StoreEvent *e, bool dup_conflict,
                       const char *cert_fingerprint, int64_t now_us, FindingList *out) {
        if (dup_conflict) {
                FindingChange *f = add(out, FINDING_OPEN, "host.tampered", "critical", now_us, now_us);
                if (f)
                        snprintf(f->detail, sizeof f->detail, "{\"reused_id\":\"%s\"}", e->id);
                return;
        }
        if (h->silent) {
                add(out, FINDING_CLOSE, "host.silent", "high", h->silent_since_us, now_us);
                add(out, FINDING_NOTICE, "host.returned", "info", h->silent_since_us, now_us);
                h->silent = false;
                h->silent_since_us = 0;
        }
        if (h->first_seen_us == 0)
                h->first_seen_us = now_us;
        h->last_seen_us = now_us;
        h->last_event_time_us = MAX(h->last_event_time_us, e->time_us);
        copy(h->host_name, sizeof h->host_name, e->host_name);
        copy(h->agent_version, sizeof h->agent_version, e->agent_version);
        copy(h->policy_hash, sizeof h->policy_hash, e->policy_hash);
        if (cert_fingerprint && !h->cert_fingerprint[0])
                copy(h->cert_fingerprint, sizeof h->cert_fingerprint, cert_fingerprint);
        if (e->seq > h->max_seq) {
                h->max_seq = e->seq;
                copy(h->last_kind, sizeof h->last_kind, e->kind);
        }
        h->events++;
        h->due_us = now_us + (int64_t) c->silent_margin_sec * 1000000;
}

void findings_on_timer(const FindingsConfig *c, HostState *h, int64_t now_us, FindingList *out) {
        if (h->due_us == 0 || h->due_us > now_us)
                return;
        if (!h->silent) {
                add(out, FINDING_OPEN, "host.silent", "high", h->last_seen_us, now_us);
                h->silent = true;
                h->silent_since_us = h->last_seen_us;
        }
        h->due_us = 0;
}

int findings_event_json(const FindingChange *f, const HostState *h, const char *event_id, int64_t now_us, char *buf,
                        size_t size) {
        int n = snprintf(buf, size,
                         "{\"id\":\"%s\",\"seq\":0,\"time_us\":%lld,\"kind\":\"collector.%s\",\"severity\":\"%s\","
                         "\"host\":{\"machine_id\":\"%s\"},\"agent\":{\"name\":\"mamori-collector\"},"
                         "\"finding\":{\"action\":%d,\"detail\":%s}}",
                         event_id, (long long) now_us, f->kind, f->severity, h->machine_id, (int) f->action,
                         f->detail[0] ? f->detail : "{}");
        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        return n;
}
