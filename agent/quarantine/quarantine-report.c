/* SPDX-License-Identifier: MIT */
#include "quarantine-report.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "timeutil.h"

bool quarantine_reason_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > QUARANTINE_ADMIN_REASON_MAX || !text_is_clean(s, n))
                return false;
        /* at least one character that is not a space */
        return strspn(s, " ") < n;
}

int quarantine_state_reason(const char *trigger, const char *cause_event_id, char *buf, size_t size) {
        int k;

        if (!trigger || !trigger[0])
                return -EINVAL;
        if (cause_event_id && cause_event_id[0])
                k = snprintf(buf, size, "%s %s", trigger, cause_event_id);
        else
                k = snprintf(buf, size, "%s", trigger);
        if (k < 0 || (size_t) k >= size || (size_t) k > QUARANTINE_REASON_MAX)
                return -ENOBUFS;
        /* The state file takes printable ASCII only. */
        for (int i = 0; i < k; i++)
                if ((unsigned char) buf[i] < 0x20 || (unsigned char) buf[i] > 0x7e)
                        return -EINVAL;
        return 0;
}

static void quarantine_write_allow(JsonWriter *w, const QuarantineState *s) {
        json_key(w, "allow");
        json_array_begin(w);
        for (size_t i = 0; i < s->n_allow; i++) {
                char a[INET6_ADDRSTRLEN], c[INET6_ADDRSTRLEN + 5];
                if (!inet_ntop(s->allow[i].family, s->allow[i].addr, a, sizeof a))
                        continue;
                (void) snprintf(c, sizeof c, "%s/%u", a, s->allow[i].prefixlen);
                json_string(w, c);
        }
        json_array_end(w);
}

static void quarantine_write_since(JsonWriter *w, uint64_t since) {
        char ts[RFC3339_MAX];
        if (since == 0 || since > UINT64_MAX / USEC_PER_SEC)
                return;
        json_kv_string(w, "since", format_rfc3339(ts, (usec_t) since * USEC_PER_SEC));
}

static void quarantine_write_who(JsonWriter *w, int64_t uid, int64_t login_uid) {
        if (uid >= 0)
                json_kv_int(w, "uid", uid);
        if (login_uid >= 0)
                json_kv_int(w, "login_uid", login_uid);
}

Event *quarantine_event_engaged(const QuarantineState *s, const char *trigger, const char *cause_event_id,
                                const char *admin_reason, int64_t uid, int64_t login_uid) {
        _cleanup_(event_freep) Event *e = event_new(EVENT_NET_QUARANTINED);
        JsonWriter *w;

        if (!e || !s || !trigger)
                return NULL;
        if (event_set_message(e, "This PC was cut off the network (%s); %zu destination%s kept reachable", trigger,
                              s->n_allow, s->n_allow == 1 ? "" : "s") < 0 ||
            event_set_policy_ref(e, "対策基準 第7-3オ") < 0)
                return NULL;
        w = event_body(e);
        json_key(w, "quarantine");
        json_object_begin(w);
        json_kv_string(w, "trigger", trigger);
        if (cause_event_id && cause_event_id[0])
                json_kv_string(w, "cause_event", cause_event_id);
        if (admin_reason)
                json_kv_string(w, "reason", admin_reason);
        quarantine_write_who(w, uid, login_uid);
        quarantine_write_since(w, s->since);
        quarantine_write_allow(w, s);
        json_object_end(w);
        if (json_error(w) < 0)
                return NULL;
        return TAKE_PTR(e);
}

Event *quarantine_event_released(const QuarantineState *was, const char *admin_reason, int64_t uid, int64_t login_uid) {
        _cleanup_(event_freep) Event *e = event_new(EVENT_NET_QUARANTINE_RELEASED);
        JsonWriter *w;

        if (!e || !was || !admin_reason)
                return NULL;
        if (event_set_message(e, "The quarantine of this PC was released by uid %lld", (long long) uid) < 0 ||
            event_set_policy_ref(e, "対策基準 第7-3オ") < 0)
                return NULL;
        w = event_body(e);
        json_key(w, "quarantine");
        json_object_begin(w);
        json_kv_string(w, "reason", admin_reason);
        quarantine_write_who(w, uid, login_uid);
        quarantine_write_since(w, was->since);
        json_kv_string(w, "was", was->reason[0] ? was->reason : NULL);
        json_object_end(w);
        if (json_error(w) < 0)
                return NULL;
        return TAKE_PTR(e);
}

Event *quarantine_event_tampered(const char *what, uint64_t count, uint64_t total) {
        _cleanup_(event_freep) Event *e = event_new(EVENT_NET_QUARANTINE_TAMPERED);
        bool stopped = what && strcmp(what, "netguard_stopped") == 0;
        JsonWriter *w;

        if (!e || !what)
                return NULL;
        if ((stopped ? event_set_message(e, "The PC is quarantined but mamori-netguard is not running")
                     : event_set_message(e, "The quarantine's rules were removed or changed and put back (%llu time%s)",
                                         (unsigned long long) count, count == 1 ? "" : "s")) < 0 ||
            event_set_policy_ref(e, "対策基準 第7-3オ") < 0)
                return NULL;
        w = event_body(e);
        json_key(w, "quarantine");
        json_object_begin(w);
        json_kv_string(w, "what", what);
        if (!stopped) {
                json_kv_uint(w, "count", count);
                json_kv_uint(w, "total", total);
        }
        json_object_end(w);
        if (json_error(w) < 0)
                return NULL;
        return TAKE_PTR(e);
}

static int netguard_status_uint(const char *v, uint64_t *ret) {
        unsigned long long x;
        char *end;

        if (v[0] < '0' || v[0] > '9' || strlen(v) > 20)
                return -EBADMSG;
        errno = 0;
        x = strtoull(v, &end, 10);
        if (errno || *end)
                return -EBADMSG;
        *ret = x;
        return 0;
}

int netguard_status_parse(const char *data, size_t len, NetguardStatus *ret) {
        NetguardStatus s = {};
        char line[256];
        size_t pos = 0;

        if (!data || !ret || len > NETGUARD_STATUS_MAX || memchr(data, '\0', len))
                return -EBADMSG;
        while (pos < len) {
                const char *nl = memchr(data + pos, '\n', len - pos);
                size_t l = nl ? (size_t) (nl - (data + pos)) : len - pos;
                char *v;
                uint64_t *u = NULL;

                if (l >= sizeof line)
                        return -EBADMSG;
                memcpy(line, data + pos, l);
                line[l] = '\0';
                pos += l + (nl ? 1 : 0);
                if (l == 0)
                        continue;
                v = strchr(line, ' ');
                if (!v)
                        return -EBADMSG;
                *v++ = '\0';
                if (strcmp(line, "active") == 0) {
                        if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
                                return -EBADMSG;
                        s.active = v[0] == 'y';
                        continue;
                }
                if (strcmp(line, "kill") == 0) {
                        if (strcmp(v, "ok") != 0 && strcmp(v, "unsupported") != 0 && strcmp(v, "failed") != 0)
                                return -EBADMSG;
                        snprintf(s.kill, sizeof s.kill, "%s", v);
                        continue;
                }
                if (strcmp(line, "rules") == 0)
                        u = &s.rules;
                else if (strcmp(line, "tampered") == 0)
                        u = &s.tampered;
                else if (strcmp(line, "killed") == 0)
                        u = &s.killed;
                else if (strcmp(line, "state_errors") == 0)
                        u = &s.state_errors;
                if (u && netguard_status_uint(v, u) < 0)
                        return -EBADMSG;
        }
        *ret = s;
        return 0;
}
