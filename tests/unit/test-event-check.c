/* SPDX-License-Identifier: MIT */
/* collector/: event-check (one line -> StoreEvent or a reason), the
 * per-host token bucket, and ingest's bounds on a body (lines, events,
 * gzip ratio and size), all without a daemon. */
#include "unit.h"

#include <zlib.h>

#include "event-check.h"
#include "ingest.h"
#include "macro.h"
#include "ratelimit.h"
#include "sha256.h"

#define ID "3F1C2A9E-8B7D-4E6F-9A1B-2C3D4E5F6A7B"
#define MID "0123456789ABCDEF0123456789abcdef"

static char *line(const char *fmt_override_key, const char *value) {
        /* a valid event, with one member replaced (value is raw JSON) */
        const char *members[][2] = {
                { "id", "\"" ID "\"" },
                { "seq", "7" },
                { "time", "\"2026-12-04T01:02:03.123456Z\"" },
                { "kind", "\"usb.blocked\"" },
                { "severity", "\"high\"" },
                { "host", "{\"name\":\"pc-1\",\"machine_id\":\"" MID "\"}" },
                { "agent", "{\"name\":\"mamori\",\"version\":\"0.1.0\",\"policy_hash\":\"abc\"}" },
                { "device", "{\"vendor_id\":\"0781\",\"product_id\":\"5581\",\"serial\":\"S1\"}" },
        };
        char *s = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&s, &n);
        bool first = true;
        fputc('{', f);
        for (size_t i = 0; i < ELEMENTSOF(members); i++) {
                const char *v = fmt_override_key && streq(members[i][0], fmt_override_key) ? value : members[i][1];
                if (!v)
                        continue;
                fprintf(f, "%s\"%s\":%s", first ? "" : ",", members[i][0], v);
                first = false;
        }
        fputc('}', f);
        fclose(f);
        return s;
}

static int check(const char *key, const char *value, CheckedEvent *c, char reason[static EVENT_CHECK_REASON_MAX]) {
        _cleanup_free_ char *l = line(key, value);
        int r = event_check(l, strlen(l), c, reason);
        if (r == EVENT_CHECK_OK) {
                c->ev.json = NULL; /* l goes */
                c->ev.json_len = 0;
        }
        return r;
}

static void expect_reason(const char *key, const char *value, const char *want) {
        CheckedEvent c;
        char reason[EVENT_CHECK_REASON_MAX];
        int r = check(key, value, &c, reason);
        if (r == EVENT_CHECK_OK)
                fail_msg("%s=%s accepted", key, value);
        if (!strstr(reason, want))
                fail_msg("%s=%s: reason \"%s\" does not say \"%s\"", key, value, reason, want);
}

static void test_valid(void **state) {
        _cleanup_free_ char *l = line(NULL, NULL);
        CheckedEvent c;
        char reason[EVENT_CHECK_REASON_MAX];
        uint8_t h[SHA256_DIGEST_SIZE];

        assert_int_equal(event_check(l, strlen(l), &c, reason), EVENT_CHECK_OK);
        assert_string_equal(c.ev.id, "3f1c2a9e-8b7d-4e6f-9a1b-2c3d4e5f6a7b");
        assert_string_equal(c.ev.machine_id, "0123456789abcdef0123456789abcdef");
        assert_int_equal(c.ev.seq, 7);
        assert_int_equal(c.ev.time_us, INT64_C(1796346123123456));
        assert_string_equal(c.ev.kind, "usb.blocked");
        assert_string_equal(c.ev.severity, "high");
        assert_string_equal(c.ev.host_name, "pc-1");
        assert_string_equal(c.ev.agent_version, "0.1.0");
        assert_string_equal(c.ev.device_vendor, "0781");
        assert_string_equal(c.ev.device_serial, "S1");
        assert_null(c.ev.user_name);
        sha256(l, strlen(l), h);
        assert_memory_equal(h, c.ev.content_hash, sizeof h);
        event_check_done(&c);
}

/* device.* events of buses outside USB: the key columns hold the bus and
 * the identity; a malformed or missing identity value leaves no identity,
 * an unknown bus no device key, and neither rejects the event. */
static void test_device_bus(void **state) {
        static const struct {
                const char *device, *vendor, *serial;
        } cases[] = {
                { "{\"bus\":\"mmc\",\"category\":\"mmc\",\"manfid\":\"0x000003\",\"oemid\":\"0x5344\","
                  "\"name\":\"SU08G\",\"serial\":\"0x1a2b3c4d\",\"date\":\"06/2021\",\"bus_path\":\"mmc0:aaaa\"}",
                  "mmc", "manfid=0x000003 oemid=0x5344 name=SU08G serial=0x1a2b3c4d date=06/2021" },
                { "{\"bus\":\"firewire\",\"guid\":\"0x0001020304050607\"}", "firewire", "guid=0x0001020304050607" },
                { "{\"bus\":\"thunderbolt\",\"unique_id\":\"d8010000-0000-0000-0000-000000000001\"}", "thunderbolt",
                  "unique_id=d8010000-0000-0000-0000-000000000001" },
                { "{\"bus\":\"optical\",\"serial\":\"HL-DT-ST_DVDRAM_GUD1N_KZ8J1234\"}", "optical",
                  "serial=HL-DT-ST_DVDRAM_GUD1N_KZ8J1234" },
                /* hostile: a space, a quote, a control char, a missing key, a number */
                { "{\"bus\":\"optical\",\"serial\":\"A B\"}", "optical", NULL },
                { "{\"bus\":\"optical\",\"serial\":\"A\\\"B\"}", "optical", NULL },
                { "{\"bus\":\"optical\",\"serial\":\"A\\u0001B\"}", "optical", NULL },
                { "{\"bus\":\"mmc\",\"manfid\":\"0x000003\",\"oemid\":\"0x5344\",\"name\":\"SU08G\","
                  "\"serial\":\"0x1a2b3c4d\",\"date\":null}",
                  "mmc", NULL },
                { "{\"bus\":\"firewire\",\"guid\":7}", "firewire", NULL },
                { "{\"bus\":\"scsi\",\"serial\":\"X1\"}", NULL, "X1" },
                { "{\"bus\":\"0781\",\"serial\":\"X1\"}", NULL, "X1" },
                /* USB's shape with "bus" first: as before */
                { "{\"bus\":\"usb\",\"vendor_id\":\"0781\",\"product_id\":\"5581\",\"serial\":\"S1\"}", "0781", "S1" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CheckedEvent c;
                char reason[EVENT_CHECK_REASON_MAX];
                if (check("device", cases[i].device, &c, reason) != EVENT_CHECK_OK)
                        fail_msg("case %zu rejected: %s", i, reason);
                if (!streq_ptr(c.ev.device_vendor, cases[i].vendor) || !streq_ptr(c.ev.device_serial, cases[i].serial))
                        fail_msg("case %zu: vendor %s serial %s", i, c.ev.device_vendor ?: "(null)",
                                 c.ev.device_serial ?: "(null)");
                if (cases[i].vendor && !streq(cases[i].vendor, "0781"))
                        assert_null(c.ev.device_product);
                event_check_done(&c);
        }
        expect_reason("device", "{\"bus\":7}", "bus is not a string");
        /* U+0000 anywhere, read by the checks or not: PostgreSQL's jsonb refuses it */
        expect_reason("device", "{\"bus\":\"optical\",\"serial\":\"A\\u0000B\"}", "U+0000");
        expect_reason("device", "{\"vendor_id\":\"0781\",\"product_id\":\"5581\",\"x\":{\"y\":\"a\\u0000\"}}", "U+0000");
        expect_reason("device", "{\"vendor_id\":\"0781\",\"x\\u0000\":1}", "U+0000");
        /* an escaped backslash before "u0000" is text, not NUL */
        CheckedEvent c;
        char reason[EVENT_CHECK_REASON_MAX];
        assert_int_equal(check("device", "{\"vendor_id\":\"0781\",\"x\":\"a\\\\u0000\"}", &c, reason), EVENT_CHECK_OK);
        event_check_done(&c);
}

/* content_hash is SHA-256 of the line as sent, whichever code computes it
 * (an id reused with other content is found by it): a known answer, and
 * common/sha256.c's over lengths that cross the 55/64-byte padding bounds. */
static void test_content_hash(void **state) {
        static const uint8_t known[SHA256_DIGEST_SIZE] = { 0xf1, 0xc9, 0xa2, 0x17, 0xca, 0xce, 0xd1, 0x8d,
                                                           0x7f, 0xcb, 0x38, 0x21, 0xa2, 0x81, 0xd8, 0xff,
                                                           0x04, 0x7a, 0xde, 0x34, 0xcd, 0x8d, 0x2c, 0x56,
                                                           0xb2, 0x22, 0x6d, 0x48, 0x17, 0x75, 0x40, 0xe3 };
        _cleanup_free_ char *l = line(NULL, NULL);
        char reason[EVENT_CHECK_REASON_MAX];
        uint8_t h[SHA256_DIGEST_SIZE];
        CheckedEvent c;

        assert_int_equal(event_check(l, strlen(l), &c, reason), EVENT_CHECK_OK);
        assert_memory_equal(c.ev.content_hash, known, sizeof known);
        event_check_done(&c);

        char name[201];
        memset(name, 'u', sizeof name);
        for (int pad = 0; pad <= 200; pad++) {
                _cleanup_free_ char *p = NULL;
                assert_true(asprintf(&p, "%.*s,\"user\":{\"name\":\"%.*s\"}}", (int) strlen(l) - 1, l, pad, name) > 0);
                assert_int_equal(event_check(p, strlen(p), &c, reason), EVENT_CHECK_OK);
                sha256(p, strlen(p), h);
                assert_memory_equal(c.ev.content_hash, h, sizeof h);
                event_check_done(&c);
        }
}

static void test_reasons(void **state) {
        CheckedEvent c;
        char reason[EVENT_CHECK_REASON_MAX];

        expect_reason("id", "\"3f1c2a9e8b7d4e6f9a1b2c3d4e5f6a7b\"", "id is not a UUID");
        expect_reason("id", NULL, "id missing");
        expect_reason("id", "17", "id is not a string");
        expect_reason("seq", "0", "seq out of range");
        expect_reason("seq", "9007199254740993", "seq out of range");
        expect_reason("seq", "99999999999999999999999", "seq");
        expect_reason("seq", "1.0", "seq is not an integer");
        expect_reason("seq", "\"1\"", "seq is not an integer");
        expect_reason("time", "\"2026-12-04T10:02:03+09:00\"", "not in UTC");
        expect_reason("time", "\"2026-02-30T01:02:03Z\"", "not an RFC 3339");
        expect_reason("kind", "\"usb.Blocked\"", "kind is not");
        expect_reason("kind", "\"\"", "kind is not");
        expect_reason("kind", "\"a\\u0000b\"", "not valid UTF-8");
        expect_reason("severity", "\"urgent\"", "severity is not");
        expect_reason("host", "{\"machine_id\":\"0123\"}", "host.machine_id is not 32 hex digits");
        expect_reason("host", "{\"machine_id\":\"00000000000000000000000000000000\"}", "host.machine_id");
        expect_reason("host", "[]", "host is not an object");
        expect_reason("device", "{\"serial\":7}", "serial is not a string");

        /* a line that names a valid machine_id keeps it, even when rejected */
        assert_int_equal(check("seq", "0", &c, reason), EVENT_CHECK_INVALID);
        assert_string_equal(c.machine_id, "0123456789abcdef0123456789abcdef");

        assert_int_equal(event_check("{\"a\":", 5, &c, reason), EVENT_CHECK_NOT_JSON);
        assert_int_equal(event_check("[1]", 3, &c, reason), EVENT_CHECK_NOT_JSON);
        assert_int_equal(event_check("{} {}", 5, &c, reason), EVENT_CHECK_NOT_JSON);
        assert_int_equal(event_check("{\"a\":\"\xff\"}", 8, &c, reason), EVENT_CHECK_NOT_JSON);
        assert_int_equal(event_check("{}", 2, &c, reason), EVENT_CHECK_INVALID);
        assert_false(event_check_utf8("\xed\xa0\x80", 3)); /* a surrogate */
        assert_false(event_check_utf8("\xc0\xaf", 2));     /* overlong */
        assert_true(event_check_utf8("対策基準", strlen("対策基準")));
}

static void test_ratelimit(void **state) {
        RateLimit rl;
        assert_int_equal(ratelimit_init(&rl, 2.0, 3, 16), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(ratelimit_take(&rl, "a", 0), 0);
        assert_int_equal(ratelimit_take(&rl, "a", 0), 1);
        assert_int_equal(ratelimit_take(&rl, "b", 0), 0);      /* another sender has its own */
        assert_int_equal(ratelimit_take(&rl, "a", 500000), 0); /* half a second: one token at 2/s */
        assert_int_equal(ratelimit_take(&rl, "a", 500000), 1);
        /* a bounded table: a thousand senders fit in 16 slots, each still gets its burst */
        for (int i = 0; i < 1000; i++) {
                char k[16];
                snprintf(k, sizeof k, "h%d", i);
                assert_int_equal(ratelimit_take(&rl, k, 1000000 + i), 0);
        }
        ratelimit_set(&rl, 0, 1);
        assert_int_equal(ratelimit_take(&rl, "a", 2000000), 0); /* rate 0: no limit */
        ratelimit_done(&rl);
}

static const CollectorLimits limits = { .max_body_bytes = 1 << 20,
                                        .max_decompressed_bytes = 4 << 20,
                                        .max_ratio = 100,
                                        .max_line_bytes = 1024,
                                        .max_events = 10 };

static size_t gz(const void *in, size_t n, void *out, size_t cap) {
        z_stream z = { 0 };
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *) in;
        z.avail_in = (uInt) n;
        z.next_out = out;
        z.avail_out = (uInt) cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        deflateEnd(&z);
        return z.total_out;
}

static void test_ingest_lines(void **state) {
        _cleanup_free_ char *ev = line(NULL, NULL), *big = malloc(5000);
        _cleanup_free_ char *body = NULL;
        Ingest in;
        IngestBatch b;

        memset(big, 'x', 5000);
        assert_true(asprintf(&body, "%s\r\n\n   \nnot json\n%.*s\n%s", ev, 5000, big, ev) > 0);
        ingest_init(&in, &limits, false);
        /* byte by byte: a line split anywhere reads the same */
        for (size_t i = 0; body[i]; i++)
                assert_int_equal(ingest_feed(&in, body + i, 1), 0);
        assert_int_equal(ingest_finish(&in), 0);
        assert_int_equal(in.n_lines, 4);
        assert_int_equal(ingest_check(&in, NULL, &b), 0);
        assert_int_equal(b.n_events, 2);
        assert_int_equal(b.n_rejected, 2);
        assert_int_equal(b.n_objects, 2);
        assert_int_equal(b.rejected[0].line_no, 2);
        assert_string_equal(b.rejected[1].reason, "line longer than 1024 bytes");
        assert_int_equal(b.rejected[1].line_len, 5000);
        assert_int_equal(b.rejected[1].raw_len, INGEST_RAW_MAX);
        ingest_batch_done(&b);

        /* a require_name_match batch: the CN names another machine */
        const char *names[] = { "other", NULL };
        IngestIdentity id = { .require_name_match = true, .cert_names = names };
        assert_int_equal(ingest_check(&in, &id, &b), 0);
        assert_int_equal(b.n_events, 0);
        assert_int_equal(b.n_rejected, 4);
        assert_string_equal(b.rejected[0].reason, "machine_id not named by the client certificate");
        assert_string_equal(b.rejected[0].machine_id, "0123456789abcdef0123456789abcdef");
        ingest_batch_done(&b);
        names[0] = "PC-1"; /* the host name, any case */
        assert_int_equal(ingest_check(&in, &id, &b), 0);
        assert_int_equal(b.n_events, 2);
        ingest_batch_done(&b);
        ingest_done(&in);

        /* more lines than max_events: 413 at the line that crosses it */
        ingest_init(&in, &limits, false);
        for (int i = 0; i < 10; i++)
                assert_int_equal(ingest_feed(&in, "{}\n", 3), 0);
        assert_int_equal(ingest_feed(&in, "{}\n", 3), -E2BIG);
        assert_int_equal(in.status, 413);
        ingest_done(&in);

        ingest_init(&in, &limits, false);
        assert_int_equal(ingest_finish(&in), -EBADMSG);
        assert_int_equal(in.status, 400);
        ingest_done(&in);
}

static void test_ingest_gzip(void **state) {
        size_t n = 8 << 20, cap = 1 << 20, len;
        _cleanup_free_ char *zeros = calloc(1, n), *out = malloc(cap), *ev = line(NULL, NULL);
        Ingest in;

        /* a bomb: stops at the ratio, having read a fraction of it */
        len = gz(zeros, n, out, cap);
        ingest_init(&in, &limits, true);
        assert_int_equal(ingest_feed(&in, out, len), -E2BIG);
        assert_int_equal(in.status, 413);
        assert_non_null(strstr(in.reason, "ratio"));
        assert_true(in.out_bytes < 2 << 20);
        ingest_done(&in);

        /* past max_decompressed_bytes with a modest ratio */
        CollectorLimits l = limits;
        l.max_decompressed_bytes = 4096;
        ingest_init(&in, &l, true);
        len = gz(zeros, 8192, out, cap);
        assert_int_equal(ingest_feed(&in, out, len), -E2BIG);
        assert_non_null(strstr(in.reason, "decompressed"));
        ingest_done(&in);

        /* a good stream, in pieces, then cut short */
        len = gz(ev, strlen(ev), out, cap);
        ingest_init(&in, &limits, true);
        for (size_t i = 0; i < len; i += 7)
                assert_int_equal(ingest_feed(&in, out + i, MIN((size_t) 7, len - i)), 0);
        assert_int_equal(ingest_finish(&in), 0);
        assert_int_equal(in.n_lines, 1);
        ingest_done(&in);
        ingest_init(&in, &limits, true);
        assert_int_equal(ingest_feed(&in, out, len - 4), 0);
        assert_int_equal(ingest_finish(&in), -EBADMSG);
        assert_int_equal(in.status, 400);
        ingest_done(&in);
        ingest_init(&in, &limits, true);
        assert_int_equal(ingest_feed(&in, "not gzip at all", 15), -EBADMSG);
        ingest_done(&in);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),       cmocka_unit_test(test_reasons),
                cmocka_unit_test(test_ratelimit),   cmocka_unit_test(test_ingest_lines),
                cmocka_unit_test(test_ingest_gzip), cmocka_unit_test(test_content_hash),
                cmocka_unit_test(test_device_bus),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
