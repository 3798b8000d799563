/* SPDX-License-Identifier: MIT */
/* collector/findings.c and seq-gaps.c on an arbitrary feed: each input line
 * is one event of one host (what event-check would take from it, with
 * defaults for what is missing), the clock moves with the lines, the timer
 * runs after each; every change must render as a collector.* event that is
 * valid JSON, and the host state must stay within its bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define json_bool jsonc_bool
#include <json-c/json.h>
#undef json_bool

#include "findings.h"
#include "macro.h"
#include "store.h"
#include "timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *str_or(struct json_object *o, const char *key, const char *sub, const char *def) {
        struct json_object *v;

        if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
                return def;
        if (sub) {
                o = v;
                if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, sub, &v))
                        return def;
        }
        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : def;
}

static void check_host(const HostState *h) {
        if (h->n_gaps > FINDINGS_MAX_GAPS)
                abort();
        for (size_t i = 0; i < h->n_gaps; i++) {
                if (h->gaps[i].first == 0 || h->gaps[i].first > h->gaps[i].last)
                        abort();
                if (i > 0 && h->gaps[i - 1].last >= h->gaps[i].first)
                        abort();
        }
        if (memchr(h->host_name, 0, sizeof(h->host_name)) == NULL ||
            memchr(h->agent_version, 0, sizeof(h->agent_version)) == NULL ||
            memchr(h->policy_hash, 0, sizeof(h->policy_hash)) == NULL ||
            memchr(h->last_kind, 0, sizeof(h->last_kind)) == NULL ||
            memchr(h->cert_fingerprint, 0, sizeof(h->cert_fingerprint)) == NULL)
                abort();
}

static void check_changes(const FindingList *out, const HostState *h, int64_t now) {
        static char buf[16384];

        if (out->n > FINDINGS_MAX_CHANGES)
                abort();
        for (size_t i = 0; i < out->n; i++) {
                const FindingChange *f = &out->changes[i];
                struct json_object *o;
                int r;

                if (!f->kind || !f->severity || !memchr(f->detail, 0, sizeof(f->detail)) ||
                    !memchr(f->message, 0, sizeof(f->message)))
                        abort();
                o = json_tokener_parse(f->detail);
                if (!o || !json_object_is_type(o, json_type_object))
                        abort();
                json_object_put(o);
                r = findings_event_json(f, h, "0b0e5e7e-1b0c-4c1e-9f55-2f3d5f0e9a01", now, buf, sizeof(buf));
                if (r < 0 || (size_t) r != strlen(buf))
                        abort();
                o = json_tokener_parse(buf);
                if (!o || !json_object_is_type(o, json_type_object))
                        abort();
                json_object_put(o);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char *hashes[] = { (char *) "7808c0550aa676cc6d282c56cc2f0b60847105bc56619c5a56f7a812de2e13c6", NULL };
        FindingsConfig cfg = { .silent_margin_sec = 300,
                               .stopped_after_sec = 3600,
                               .gap_grace_sec = 600,
                               .late_heartbeat_sec = 900,
                               .current_policy_hashes = hashes,
                               .current_agent_version = (char *) "0.2.0" };
        HostState h = {};
        FindingList out;
        const char *p = (const char *) data, *end = p + size;
        int64_t now = (int64_t) 1800000000 * 1000000;
        uint64_t next_seq = 1;
        unsigned line_no = 0;

        if (size > 256 * 1024)
                return 0;
        if (size > 0 && data[0] == '!') /* a short grace and margins: more deadlines pass */
                cfg = (FindingsConfig){ .gap_grace_sec = 0, .stopped_after_sec = 0, .late_heartbeat_sec = 1 };

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)), *line = p;
                size_t len = (size_t) ((nl ? nl : end) - p);
                struct json_tokener *tok = json_tokener_new_ex(16);
                struct json_object *root, *v;
                StoreEvent e = {};
                usec_t t;

                p = nl ? nl + 1 : end;
                line_no++;
                if (!tok)
                        abort();
                root = json_tokener_parse_ex(tok, line, (int) len);
                json_tokener_free(tok);

                e.id = str_or(root, "id", NULL, "00000000-0000-4000-8000-000000000000");
                e.machine_id = str_or(root, "host", "machine_id", "3d1219c7c4c5404aaa1f6d2a48adfda4");
                e.kind = str_or(root, "kind", NULL, NULL); /* NULL too: hostile */
                e.severity = str_or(root, "severity", NULL, "info");
                e.host_name = str_or(root, "host", "name", NULL);
                e.agent_version = str_or(root, "agent", "version", NULL);
                e.policy_hash = str_or(root, "agent", "policy_hash", NULL);
                e.seq = next_seq;
                if (root && json_object_object_get_ex(root, "seq", &v) && json_object_is_type(v, json_type_int) &&
                    json_object_get_int64(v) > 0)
                        e.seq = json_object_get_uint64(v);
                next_seq = e.seq + 1;
                e.time_us = parse_rfc3339(str_or(root, "time", NULL, ""), &t) >= 0 && t <= INT64_MAX ? (int64_t) t : now;
                e.json = line;
                e.json_len = len;

                /* The clock: a line's length moves it, up to about three hours. */
                now += (int64_t) ((len * 7919) % 10000) * 1000000;
                findings_on_event(&cfg, &h, &e, line_no % 13 == 0, line_no % 5 == 0 ? "bb22" : "aa11", now, &out);
                check_host(&h);
                check_changes(&out, &h, now);
                if (h.due_us != 0 && h.due_us <= now)
                        abort(); /* every deadline up to now was acted on */
                if (h.due_us != 0) {
                        int64_t due = h.due_us;
                        findings_on_timer(&cfg, &h, due, &out);
                        check_host(&h);
                        check_changes(&out, &h, due);
                        if (h.due_us != 0 && h.due_us <= due)
                                abort();
                }
                json_object_put(root);
        }
        return 0;
}
