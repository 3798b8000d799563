/* SPDX-License-Identifier: MIT */
/* collector/event-check.c on any bytes: never crashes, and whatever it
 * accepts holds the promises of store.h (a lower-case UUID, 32 lower-case
 * hex digits, seq 1..2^53, a kind of [a-z0-9_.]{1,64}, a severity of the
 * enum, valid UTF-8 strings, content_hash = SHA-256 of the line). Then the
 * same bytes as a whole body through ingest (plain and as if gzip), with
 * small bounds: the line split and the bounds hold. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event-check.h"
#include "ingest.h"
#include "macro.h"
#include "sha256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_string(const char *s) {
        if (s && !event_check_utf8(s, strlen(s)))
                abort();
}

static void check_event(const uint8_t *data, size_t size) {
        CheckedEvent c;
        char reason[EVENT_CHECK_REASON_MAX];
        uint8_t h[SHA256_DIGEST_SIZE];
        int r = event_check((const char *) data, size, &c, reason);

        if (r < 0 && r != -ENOMEM)
                abort();
        if (r != EVENT_CHECK_OK) {
                if (!reason[0] || strlen(reason) >= EVENT_CHECK_REASON_MAX)
                        abort();
                if (c.machine_id[0] && !event_check_machine_id(c.machine_id))
                        abort();
                return;
        }
        if (!event_check_uuid(c.ev.id) || strspn(c.ev.id, "0123456789abcdef-") != 36 ||
            !event_check_machine_id(c.ev.machine_id) || strspn(c.ev.machine_id, "0123456789abcdef") != 32 ||
            c.ev.seq < 1 || c.ev.seq > (UINT64_C(1) << 53) || !event_check_kind(c.ev.kind) ||
            !event_check_severity(c.ev.severity) || c.ev.json != (const char *) data || c.ev.json_len != size)
                abort();
        check_string(c.ev.host_name);
        check_string(c.ev.agent_version);
        check_string(c.ev.policy_hash);
        check_string(c.ev.policy_ref);
        check_string(c.ev.user_name);
        check_string(c.ev.device_vendor);
        check_string(c.ev.device_product);
        check_string(c.ev.device_serial);
        sha256(data, size, h);
        if (memcmp(h, c.ev.content_hash, sizeof h) != 0)
                abort();
        event_check_done(&c);
}

static void check_ingest(const uint8_t *data, size_t size, bool gzip) {
        CollectorLimits l = { .max_body_bytes = 1 << 20,
                              .max_decompressed_bytes = 1 << 20,
                              .max_ratio = 50,
                              .max_line_bytes = 512,
                              .max_events = 64 };
        Ingest in;
        IngestBatch b;
        int r;

        ingest_init(&in, &l, gzip);
        /* in two pieces: a split anywhere must read the same */
        r = ingest_feed(&in, data, size / 2);
        if (r >= 0)
                r = ingest_feed(&in, data + size / 2, size - size / 2);
        if (r >= 0)
                r = ingest_finish(&in);
        if (r < 0) {
                if (r != -ENOMEM && (in.status != 400 && in.status != 413))
                        abort();
                ingest_done(&in);
                return;
        }
        if (in.n_lines == 0 || in.n_lines > l.max_events || in.out_bytes > l.max_decompressed_bytes)
                abort();
        if (ingest_check(&in, NULL, &b) < 0) {
                ingest_done(&in);
                return;
        }
        if (b.n_events + b.n_rejected != in.n_lines)
                abort();
        for (size_t i = 0; i < b.n_rejected; i++)
                if (b.rejected[i].raw_len > INGEST_RAW_MAX || b.rejected[i].raw_len > b.rejected[i].line_len ||
                    !b.rejected[i].reason[0])
                        abort();
        ingest_batch_done(&b);
        ingest_done(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 1 << 20)
                return 0;
        check_event(data, size);
        check_ingest(data, size, false);
        check_ingest(data, size, true);
        return 0;
}
