/* SPDX-License-Identifier: MIT */
/* collector/console: the fleet slice (api-fleet.c, api-reports.c) on both
 * backends: the rollups built in bounded steps, /overview, /hosts,
 * /hosts/{id}, /devices, /approvals (the allow text read by the real
 * `mamorid --check-config`, hostile serials too), /settings/policy-hashes,
 * /reports/monthly in JSON and CSV, the lists' CSV exports. argv[1]: "sqlite" or "postgres". */
#define TEST_STORE_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-store.c"

#include <math.h>
#include <sys/stat.h>

#include "allow-entry.h"
#include "api-fleet.h"
#include "cdb.h"
#include "console-api.h"

/* "now" of these tests: 2025-12-10 12:00 in Tokyo (03:00 UTC) */
#define NOW (T0 + 9 * DAY_US + 3LL * 3600 * 1000000)
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define REF_USB "対策基準 第3-6"
#define HOST_C "cccccccccccccccccccccccccccccccc"

typedef struct FEv {
        char id[37];
        char json[4096];
        StoreEvent ev;
} FEv;

static uint64_t seq_a, seq_b;
static unsigned ev_counter;

/* An event shaped like docs/events.md; dev: "vendor:product:serial" or NULL. */
static void fev(FEv *e, const char *host, const char *kind, const char *sev, const char *ref, const char *user,
                const char *vendor, const char *product, const char *serial, const char *extra) {
        uint64_t seq = host[0] == 'a' ? ++seq_a : ++seq_b;
        snprintf(e->id, sizeof e->id, "%08x-0000-4000-8000-%012x", ++ev_counter, (unsigned) getpid());
        int n = snprintf(e->json, sizeof e->json,
                         "{\"id\":\"%s\",\"seq\":%" PRIu64 ",\"time\":\"2025-12-01T00:00:00.000000Z\","
                         "\"kind\":\"%s\",\"severity\":\"%s\",\"host\":{\"name\":\"%s\",\"machine_id\":\"%s\"},"
                         "\"agent\":{\"name\":\"mamori\",\"version\":\"0.1.0\",\"policy_hash\":\"%s\"},"
                         "\"site\":{\"department\":\"%s\",\"location\":null}",
                         e->id, seq, kind, sev, host[0] == 'a' ? "pc-a" : "pc-b", host,
                         host[0] == 'a' ? HASH_A : HASH_B, host[0] == 'a' ? "総務課" : "税務課");
        if (ref)
                n += snprintf(e->json + n, sizeof e->json - (size_t) n, ",\"policy_ref\":\"%s\"", ref);
        if (user)
                n += snprintf(e->json + n, sizeof e->json - (size_t) n, ",\"user\":{\"name\":\"%s\"}", user);
        if (vendor)
                n += snprintf(e->json + n, sizeof e->json - (size_t) n,
                              ",\"device\":{\"vendor_id\":\"%s\",\"product_id\":\"%s\",\"has_serial\":true,"
                              "\"serial\":\"%s\",\"manufacturer\":\"ACME\",\"product\":\"<img src=x onerror=alert(1)>\","
                              "\"category\":\"storage\"}",
                              vendor, product, serial);
        n += snprintf(e->json + n, sizeof e->json - (size_t) n, "%s}", extra ?: "");
        assert_true((size_t) n < sizeof e->json);
        e->ev = (StoreEvent){
                .id = e->id,
                .machine_id = host,
                .seq = seq,
                .time_us = T0,
                .kind = kind,
                .severity = sev,
                .host_name = host[0] == 'a' ? "pc-a" : "pc-b",
                .agent_version = "0.1.0",
                .policy_hash = host[0] == 'a' ? HASH_A : HASH_B,
                .policy_ref = ref,
                .user_name = user,
                .device_vendor = vendor,
                .device_product = product,
                .device_serial = serial,
                .json = e->json,
                .json_len = strlen(e->json),
        };
        sha256(e->json, e->ev.json_len, e->ev.content_hash);
}

#define POSTURE(verdict, state, age) \
        ",\"posture\":{\"reason\":\"daily\",\"verdict\":\"" verdict "\",\"antivirus\":{\"policy_ref\":" \
        "\"対策基準 第7-2イ\",\"engine\":\"clamav\",\"state\":\"" state "\",\"pattern_age_hours\":" age "}}"

static void ingest(Fixture *f, FEv *e, size_t n, int64_t received) {
        _cleanup_store_ Store *s = open_store(f);
        StoreEvent ev[16];
        assert_true(n <= 16);
        for (size_t i = 0; i < n; i++)
                ev[i] = e[i].ev;
        StoreBatch b = batch_of(ev, n, received);
        StoreIngestResult res;
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, n);
}

static json_object *call(Cdb *db, const char *method, const char *path, const char *query, const char *body,
                         unsigned want_status, ConsoleRole role) {
        ConsoleSession sess = { .user = "kanri", .role = role };
        ConsoleRequest rq = { .method = method,
                              .path = path,
                              .query = query,
                              .body = body,
                              .body_len = body ? strlen(body) : 0,
                              .session = &sess,
                              .db = db,
                              .zone = "Asia/Tokyo",
                              .peer = "127.0.0.1",
                              .now_us = NOW };
        ConsoleReply rp = { 0 };
        const ConsoleRoute *route = NULL;
        for (const ConsoleRoute *r = console_routes_fleet; r->method; r++)
                if (streq(r->method, method) && console_route_match(r->pattern, path)) {
                        route = r;
                        break;
                }
        if (!route) {
                fail_msg("no route %s %s", method, path);
                return NULL;
        }
        assert_true(role >= route->role);
        assert_int_equal(route->fn(&rq, &rp), 0);
        if (rp.status != want_status)
                fail_msg("%s %s?%s: %u, not %u: %.*s", method, path, strna(query), rp.status, want_status, (int) rp.len,
                         rp.body);
        json_object *o = NULL;
        if (strstr(rp.content_type, "json"))
                o = json_tokener_parse(rp.body);
        else {
                o = json_object_new_string_len(rp.body, (int) rp.len);
                assert_true(rp.filename[0] != 0);
        }
        assert_non_null(o);
        console_reply_done(&rp);
        return o;
}

static json_object *get(json_object *o, const char *path) {
        /* "a.b.0.c" */
        char buf[256];
        snprintf(buf, sizeof buf, "%s", path);
        for (char *save = NULL, *t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save)) {
                if (json_object_is_type(o, json_type_array))
                        o = json_object_array_get_idx(o, (size_t) atoi(t));
                else if (!json_object_object_get_ex(o, t, &o))
                        return NULL;
        }
        return o;
}

static int64_t geti(json_object *o, const char *path) {
        json_object *v = get(o, path);
        if (!v)
                fail_msg("no %s in %s", path, json_object_to_json_string(o));
        return json_object_get_int64(v);
}

static const char *gets(json_object *o, const char *path) {
        json_object *v = get(o, path);
        return v ? json_object_get_string(v) : NULL;
}

static int fleet_setup(void **state) {
        seq_a = seq_b = 0;
        setenv("TZ", ":Asia/Tokyo", 1);
        tzset();
        return setup(state);
}

/* Events over 40 days: usb.blocked today (3, one of B), 3 days ago (2), 20
 * days ago (1), 40 days ago (1); a heartbeat today; postures. */
static void fill(Fixture *f) {
        FEv e[8];
        fev(&e[0], HOST_A, "usb.blocked", "high", REF_USB, "taro", "0781", "5581", "S1", NULL);
        ingest(f, e, 1, NOW - 40 * DAY_US);
        fev(&e[0], HOST_A, "usb.blocked", "high", REF_USB, "taro", "0781", "5581", "S1", NULL);
        ingest(f, e, 1, NOW - 20 * DAY_US);
        fev(&e[0], HOST_A, "usb.blocked", "high", REF_USB, "hanako", "0781", "5581", "S1", NULL);
        fev(&e[1], HOST_A, "usb.blocked", "high", REF_USB, "taro", "0781", "5581", "S1", NULL);
        ingest(f, e, 2, NOW - 3 * DAY_US);
        fev(&e[0], HOST_A, "agent.posture", "info", NULL, NULL, NULL, NULL, NULL, POSTURE("ok", "ok", "2.0"));
        ingest(f, e, 1, NOW - 2 * DAY_US);
        fev(&e[0], HOST_A, "usb.blocked", "high", REF_USB, "=cmd|' /C calc'!A0", "0781", "5581", "S1", NULL);
        fev(&e[1], HOST_A, "usb.blocked", "high", REF_USB, "taro", "0781", "5581", "S2", NULL);
        fev(&e[2], HOST_B, "usb.blocked", "high", REF_USB, "jiro", "0781", "5581", "S1", NULL);
        fev(&e[3], HOST_A, "agent.test", "info", NULL, NULL, NULL, NULL, NULL, NULL);
        fev(&e[4], HOST_A, "agent.posture", "medium", NULL, NULL, NULL, NULL, NULL, POSTURE("ng", "stale", "100.0"));
        fev(&e[5], HOST_B, "agent.posture", "info", NULL, NULL, NULL, NULL, NULL, POSTURE("ok", "ok", "1.0"));
        ingest(f, e, 6, NOW - 3600LL * 1000000);
}

static void test_refresh_and_overview(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = NULL;
        fill(f);
        assert_int_equal(cdb_open(&f->cfg, &db), 0);

        int64_t behind = -1;
        assert_int_equal(console_fleet_behind(db, &behind), 0);
        assert_int_equal(behind, 11);
        /* bounded steps: 4 + 4 + 3, then nothing */
        int64_t now = NOW + CONSOLE_FLEET_PG_LAG_US + 1;
        assert_int_equal(console_fleet_refresh(db, now, 4), 4);
        assert_int_equal(console_fleet_behind(db, &behind), 0);
        assert_int_equal(behind, 7);
        assert_int_equal(console_fleet_refresh(db, now, 4), 4);
        assert_int_equal(console_fleet_refresh(db, now, 4), 3);
        assert_int_equal(console_fleet_refresh(db, now, 4), 0);
        if (use_pg) /* rows younger than the lag wait */
                assert_int_equal(count_rows(f, "SELECT last_row FROM console_fleet_state"),
                                 count_rows(f, "SELECT MAX(row_id) FROM events"));

        exec_sql(f, "INSERT INTO findings (machine_id, kind, severity, state, first_at, last_at) VALUES "
                    "('" HOST_A "', 'host.gap', 'high', 'open', 1, 1), "
                    "('" HOST_B "', 'host.gap', 'high', 'open', 1, 1)");

        json_object *o = call(db, "GET", "/overview", NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(geti(o, "windows.today.total"), 6); /* 3 blocked, a test, 2 postures */
        json_object *bk = get(o, "windows.today.by_kind"), *n = NULL;
        assert_true(json_object_object_get_ex(bk, "usb.blocked", &n));
        assert_int_equal(json_object_get_int64(n), 3);
        assert_true(json_object_object_get_ex(get(o, "windows.7d.by_kind"), "usb.blocked", &n));
        assert_int_equal(json_object_get_int64(n), 5);
        assert_true(json_object_object_get_ex(get(o, "windows.30d.by_clause"), REF_USB, &n));
        assert_int_equal(json_object_get_int64(n), 6);
        assert_true(json_object_object_get_ex(get(o, "windows.30d.by_severity"), "high", &n));
        assert_int_equal(json_object_get_int64(n), 6);
        assert_int_equal(geti(o, "windows.30d.total"), 10);
        assert_int_equal(json_object_array_length(get(o, "blocked_per_day")), 30);
        assert_string_equal(gets(o, "blocked_per_day.29.day"), "2025-12-10");
        assert_int_equal(geti(o, "blocked_per_day.29.count"), 3);
        assert_string_equal(gets(o, "blocked_per_day.26.day"), "2025-12-07");
        assert_int_equal(geti(o, "blocked_per_day.26.count"), 2);
        assert_int_equal(geti(o, "blocked_per_day.0.count"), 0);
        assert_int_equal(geti(o, "stale_av.count"), 1);
        assert_string_equal(gets(o, "stale_av.hosts.0.machine_id"), HOST_A);
        assert_string_equal(gets(o, "stale_av.hosts.0.host_name"), "pc-a");
        assert_true(fabs(json_object_get_double(get(o, "stale_av.hosts.0.pattern_age_days")) - 4.2) < 0.01);
        assert_string_equal(gets(o, "findings_open.0.kind"), "host.gap");
        assert_int_equal(geti(o, "findings_open.0.hosts"), 2);
        assert_int_equal(geti(o, "hosts.total"), 2);
        assert_int_equal(geti(o, "rollup_behind"), 0);
        json_object_put(o);

        /* a little more arrives: the overview catches up by itself (SQLite; on
         * PostgreSQL the rows must first be older than the lag) */
        FEv e[1];
        fev(&e[0], HOST_B, "usb.blocked", "high", REF_USB, "jiro", "0781", "5581", "S1", NULL);
        ingest(f, e, 1, NOW - (use_pg ? 2 * CONSOLE_FLEET_PG_LAG_US : 1000));
        o = call(db, "GET", "/overview", NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(geti(o, "blocked_per_day.29.count"), 4);
        assert_int_equal(geti(o, "rollup_behind"), 0);
        json_object_put(o);

        /* a newer posture of A that is fine: no longer stale */
        fev(&e[0], HOST_A, "agent.posture", "info", NULL, NULL, NULL, NULL, NULL, POSTURE("ok", "ok", "3.0"));
        ingest(f, e, 1, NOW - (use_pg ? 2 * CONSOLE_FLEET_PG_LAG_US : 500));
        o = call(db, "GET", "/overview", NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(geti(o, "stale_av.count"), 0);
        json_object_put(o);
}

/* collectord's timer: opens its connection, rolls up everything within the budget */
static void test_maintain(void **state) {
        Fixture *f = *state;
        fill(f);
        /* the real clock: every row of the test's past is older than PostgreSQL's lag */
        Cdb *db = NULL;
        assert_int_equal(console_fleet_maintain(&db, &f->cfg, 10LL * 1000000), 11);
        assert_non_null(db);
        assert_int_equal(console_fleet_maintain(&db, &f->cfg, 10LL * 1000000), 0);
        int64_t behind = -1;
        assert_int_equal(console_fleet_behind(db, &behind), 0);
        assert_int_equal(behind, 0);
        cdb_free(db);
        assert_int_equal(count_rows(f, "SELECT COUNT(*) FROM console_hosts"), 2);
}

/* PostgreSQL: a young row waits (a smaller row_id may still commit); a row
 * stamped far ahead by a fast clock does not hold the rollups back */
static void test_young_and_skewed(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = NULL;
        FEv e[1];
        fev(&e[0], HOST_A, "usb.blocked", "high", REF_USB, "taro", "0781", "5581", "S1", NULL);
        ingest(f, e, 1, NOW + 2 * 3600LL * 1000000);
        fev(&e[0], HOST_A, "usb.blocked", "high", REF_USB, "taro", "0781", "5581", "S1", NULL);
        ingest(f, e, 1, NOW - 3600LL * 1000000);
        fev(&e[0], HOST_A, "usb.blocked", "high", REF_USB, "taro", "0781", "5581", "S1", NULL);
        ingest(f, e, 1, NOW - 10LL * 1000000);
        fev(&e[0], HOST_A, "usb.blocked", "high", REF_USB, "taro", "0781", "5581", "S1", NULL);
        ingest(f, e, 1, NOW - 3600LL * 1000000);
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        assert_int_equal(console_fleet_refresh(db, NOW, 0), use_pg ? 2 : 4);
        assert_int_equal(console_fleet_refresh(db, NOW, 0), use_pg ? 0 : 0);
        /* half a minute later the young one is old enough */
        assert_int_equal(console_fleet_refresh(db, NOW + CONSOLE_FLEET_PG_LAG_US, 0), use_pg ? 2 : 0);
}

static void test_hosts(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = NULL;
        fill(f);
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        assert_true(console_fleet_refresh(db, NOW + CONSOLE_FLEET_PG_LAG_US + 1, 0) > 0);

        json_object *o = call(db, "GET", "/hosts", NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 2);
        assert_string_equal(gets(o, "rows.0.machine_id"), HOST_A);
        assert_string_equal(gets(o, "rows.0.department"), "総務課");
        assert_string_equal(gets(o, "rows.0.posture_verdict"), "ng");
        assert_null(get(o, "rows.0.policy_current")); /* no current hash set */
        assert_null(get(o, "next"));
        json_object_put(o);

        o = call(db, "GET", "/hosts", "limit=1", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 1);
        assert_string_equal(gets(o, "next"), HOST_A);
        json_object_put(o);
        o = call(db, "GET", "/hosts", "limit=1&after=" HOST_A, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_string_equal(gets(o, "rows.0.machine_id"), HOST_B);
        json_object_put(o);
        o = call(db, "GET", "/hosts", "stale_av=1", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 1);
        json_object_put(o);
        o = call(db, "GET", "/hosts", "q=pc-b", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 1);
        assert_string_equal(gets(o, "rows.0.machine_id"), HOST_B);
        json_object_put(o);
        o = call(db, "GET", "/hosts", "q=%25", NULL, 200, CONSOLE_ROLE_VIEWER); /* a '%' is no wildcard */
        assert_int_equal(json_object_array_length(get(o, "rows")), 0);
        json_object_put(o);
        o = call(db, "GET", "/hosts", "department=%E7%A8%8E%E5%8B%99%E8%AA%B2", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 1);
        assert_string_equal(gets(o, "rows.0.machine_id"), HOST_B);
        json_object_put(o);
        json_object_put(call(db, "GET", "/hosts", "limit=0", NULL, 400, CONSOLE_ROLE_VIEWER));
        json_object_put(call(db, "GET", "/hosts", "after=x'--", NULL, 400, CONSOLE_ROLE_VIEWER));

        /* the current policy: A's */
        json_object_put(call(db, "POST", "/settings/policy-hashes", "",
                             "{\"hashes\":[{\"hash\":\"" HASH_A "\",\"label\":\"2025年12月版\"}]}", 200,
                             CONSOLE_ROLE_ADMIN));
        o = call(db, "GET", "/settings/policy-hashes", NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_string_equal(gets(o, "hashes.0.hash"), HASH_A);
        assert_string_equal(gets(o, "hashes.0.set_by"), "kanri");
        json_object_put(o);
        json_object_put(call(db, "POST", "/settings/policy-hashes", NULL, "{\"hashes\":[{\"hash\":\"xyz\"}]}", 400,
                             CONSOLE_ROLE_ADMIN));
        json_object_put(call(db, "POST", "/settings/policy-hashes", NULL,
                             "{\"hashes\":[{\"hash\":\"" HASH_B "\",\"label\":\"a\\nb\"}]}", 400, CONSOLE_ROLE_ADMIN));
        json_object_put(call(db, "POST", "/settings/policy-hashes", NULL, "[1]", 400, CONSOLE_ROLE_ADMIN));

        o = call(db, "GET", "/hosts/" HOST_A, NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_true(json_object_get_boolean(get(o, "policy_current")));
        assert_string_equal(gets(o, "host.host_name"), "pc-a");
        assert_string_equal(gets(o, "posture.verdict"), "ng");
        assert_string_equal(gets(o, "posture.antivirus.state"), "stale");
        assert_int_equal(json_object_array_length(get(o, "timeline")), (size_t) seq_a);
        assert_int_equal(geti(o, "timeline.0.seq"), (int64_t) seq_a);
        assert_string_equal(gets(o, "timeline.2.device.serial"), "S2");
        json_object_put(o);
        o = call(db, "GET", "/hosts/" HOST_B, NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_false(json_object_get_boolean(get(o, "policy_current")));
        json_object_put(o);
        json_object_put(call(db, "GET", "/hosts/cccccccccccccccccccccccccccccccc", NULL, NULL, 404, CONSOLE_ROLE_VIEWER));
        json_object_put(call(db, "GET", "/hosts/..%2F..", NULL, NULL, 404, CONSOLE_ROLE_VIEWER));
}

static const char *approval_body(char *buf, size_t size, const char *serial_json, const char *label_json,
                                 const char *extra) {
        snprintf(buf, size,
                 "{\"vendor\":\"0781\",\"product\":\"5581\",\"serial\":%s,\"any_serial\":false,\"label\":%s,"
                 "\"approved_by\":\"情報政策課長\",\"approved_on\":\"2025-12-10\",\"expires\":\"2026-03-31\","
                 "\"ticket\":\"REQ-1\"%s}",
                 serial_json, label_json, extra ?: "");
        return buf;
}

/* The produced text, saved as allow.d/10-console.conf next to a mamori.conf,
 * is what the real mamorid accepts. */
static void check_with_mamorid(const char *allow_text) {
        const char *mamorid = getenv("MAMORID");
        assert_non_null(mamorid);
        char dir[] = "/tmp/test-console-fleet.XXXXXX", path[256], cmd[1024];
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/mamori.conf", dir);
        FILE *c = fopen(path, "w");
        assert_non_null(c);
        fputs("usb = { block = [ \"storage\" ]; };\n", c);
        assert_int_equal(fclose(c), 0);
        assert_int_equal(chmod(path, 0600), 0);
        snprintf(path, sizeof path, "%s/allow.d", dir);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof path, "%s/allow.d/10-console.conf", dir);
        c = fopen(path, "w");
        assert_non_null(c);
        fputs(allow_text, c);
        assert_int_equal(fclose(c), 0);
        assert_int_equal(chmod(path, 0600), 0);
        snprintf(cmd, sizeof cmd, "'%s' --config '%s/mamori.conf' --check-config", mamorid, dir);
        int rc = system(cmd);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
        if (rc != 0)
                fail_msg("mamorid --check-config refused:\n%s", allow_text);
}

static void test_approvals(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = NULL;
        char body[2048];
        fill(f);
        assert_int_equal(cdb_open(&f->cfg, &db), 0);

        /* not approved yet */
        json_object *o = call(db, "GET", "/devices", "q=0781:5581:S1", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 1);
        assert_int_equal(geti(o, "rows.0.count"), 5);
        assert_int_equal(geti(o, "rows.0.hosts"), 2);
        assert_false(json_object_get_boolean(get(o, "rows.0.approved")));
        json_object_put(o);

        o = call(db, "POST", "/approvals", NULL, approval_body(body, sizeof body, "\"S1\"", "\"総務課 USB 001\"", NULL),
                 201, CONSOLE_ROLE_ADMIN);
        const char *text = gets(o, "approval.allow_text");
        assert_non_null(text);
        assert_non_null(strstr(text, "vendor      = \"0781\";"));
        assert_non_null(strstr(text, "serial      = \"S1\";"));
        assert_non_null(strstr(text, "label       = \"総務課 USB 001\";"));
        check_with_mamorid(text);
        json_object_put(o);

        o = call(db, "GET", "/devices", NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 2);
        assert_string_equal(gets(o, "rows.0.serial"), "S1"); /* the most blocked first */
        assert_true(json_object_get_boolean(get(o, "rows.0.approved")));
        assert_false(json_object_get_boolean(get(o, "rows.1.approved")));
        /* attacker-controlled strings come back as the same text; the page escapes them */
        assert_string_equal(gets(o, "rows.0.product_name"), "<img src=x onerror=alert(1)>");
        assert_int_equal(geti(o, "rows.0.users"), 4);
        json_object_put(o);
        o = call(db, "GET", "/devices", "limit=1", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_string_equal(gets(o, "next"), "1");
        json_object_put(o);
        o = call(db, "GET", "/devices", "limit=1&after=1", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_string_equal(gets(o, "rows.0.serial"), "S2");
        json_object_put(o);
        json_object_put(call(db, "GET", "/devices", "q=zz", NULL, 400, CONSOLE_ROLE_VIEWER));

        /* a hostile serial, as an event shows it: a quote, a semicolon, an
         * escaped newline and brace, a right-to-left override */
        const char *hostile = "\"A\\\"B;\\\\x0a}\\\\u202e\\\\\\\\x\"";
        o = call(db, "POST", "/approvals", NULL, approval_body(body, sizeof body, hostile, "null", NULL), 201,
                 CONSOLE_ROLE_ADMIN);
        text = gets(o, "approval.allow_text");
        assert_non_null(strstr(text, "serial      = \"A\\\"B;\\x0a}\\xe2\\x80\\xae\\\\x\";"));
        check_with_mamorid(text);
        /* the approval keeps the serial as events show it, for the devices page */
        assert_string_equal(gets(o, "approval.serial"), "A\"B;\\x0a}\\u202e\\\\x");
        json_object_put(o);

        /* any_serial */
        o = call(db, "POST", "/approvals", NULL,
                 "{\"vendor\":\"0781\",\"product\":\"5582\",\"serial\":null,\"any_serial\":true,"
                 "\"approved_by\":\"CISO\",\"approved_on\":\"2025-12-10\",\"expires\":null}",
                 201, CONSOLE_ROLE_ADMIN);
        assert_non_null(strstr(gets(o, "approval.allow_text"), "any_serial  = true;"));
        check_with_mamorid(gets(o, "approval.allow_text"));
        json_object_put(o);

        /* refused, each naming its field */
        static const struct {
                const char *serial, *label, *extra, *field;
        } bad[] = {
                { "\"S\\nX\"", "null", NULL, "serial" },            /* a raw newline */
                { "\"S\\u202eX\"", "null", NULL, "serial" },        /* a raw bidi override */
                { "\"S\\\\q\"", "null", NULL, "serial" },           /* an escape events never write */
                { "\"\\\\x00\"", "null", NULL, "serial" },          /* a NUL byte */
                { "\"\"", "null", NULL, "serial" },                 /* empty, not any_serial */
                { "\"S1\"", "\"a\\nb\"", NULL, "label" },           /* a newline in the label */
                { "\"S1\"", "\"a\\u202eb\"", NULL, "label" },       /* bidi in the label */
                { "\"S1\"", "\"a\\\"; evil = 1; #\"", NULL, NULL }, /* quotes are fine: escaped */
                { "\"S1\"", "null", ",\"access\":\"read-only\"", "access" },
                { "\"S1\"", "null", ",\"rule\":1", "body" },
                { "\"S1\"", "12", NULL, "label" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                o = call(db, "POST", "/approvals", NULL,
                         approval_body(body, sizeof body, bad[i].serial, bad[i].label, bad[i].extra),
                         bad[i].field ? 400 : 201, CONSOLE_ROLE_ADMIN);
                if (bad[i].field)
                        assert_true(strncmp(gets(o, "error.message"), bad[i].field, strlen(bad[i].field)) == 0);
                else
                        check_with_mamorid(gets(o, "approval.allow_text"));
                json_object_put(o);
        }
        json_object_put(call(db, "POST", "/approvals", NULL,
                             "{\"vendor\":\"zz\",\"product\":\"5581\",\"serial\":\"S\",\"approved_by\":\"x\","
                             "\"approved_on\":\"2025-12-10\"}",
                             400, CONSOLE_ROLE_ADMIN));
        json_object_put(call(db, "POST", "/approvals", NULL,
                             "{\"vendor\":\"0781\",\"product\":\"5581\",\"serial\":\"S\",\"approved_by\":\"x\","
                             "\"approved_on\":\"2025-12-10\",\"expires\":\"2025-12-01\"}",
                             400, CONSOLE_ROLE_ADMIN));
        json_object_put(call(db, "POST", "/approvals", NULL,
                             "{\"vendor\":\"0781\",\"product\":\"5581\",\"serial\":\"S\",\"approved_by\":\"x\","
                             "\"approved_on\":\"2025-02-30\"}",
                             400, CONSOLE_ROLE_ADMIN));
        json_object_put(call(db, "POST", "/approvals", NULL, "{\"vendor\":", 400, CONSOLE_ROLE_ADMIN));

        o = call(db, "GET", "/approvals", NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 4);
        assert_string_equal(gets(o, "rows.0.label"), "a\"; evil = 1; #"); /* newest first */
        assert_true(geti(o, "rows.0.id") > geti(o, "rows.1.id"));
        json_object_put(o);
        o = call(db, "GET", "/approvals", "limit=3", NULL, 200, CONSOLE_ROLE_VIEWER);
        char q[64];
        snprintf(q, sizeof q, "limit=3&after=%s", gets(o, "next"));
        json_object_put(o);
        o = call(db, "GET", "/approvals", q, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 1);
        assert_string_equal(gets(o, "rows.0.serial"), "S1");
        json_object_put(o);
        /* expiring within 120 days of 2025-12-10: the three ending 2026-03-31 */
        o = call(db, "GET", "/approvals", "expiring_days=120", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 3);
        json_object_put(o);
        o = call(db, "GET", "/approvals", "expiring_days=30", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 0);
        json_object_put(o);
}

static void test_report(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = NULL;
        char body[1024];
        fill(f);
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        assert_true(console_fleet_refresh(db, NOW + CONSOLE_FLEET_PG_LAG_US + 1, 0) > 0);
        exec_sql(f, "INSERT INTO findings (machine_id, kind, severity, state, first_at, last_at, closed_at) VALUES "
                    "('" HOST_A "', 'host.silent', 'high', 'open', 1765000000000000, 1765000000000000, "
                    "1765100000000000)");
        json_object_put(call(db, "POST", "/approvals", NULL,
                             approval_body(body, sizeof body, "\"S1\"", "\"=HYPERLINK(1)\"", NULL), 201,
                             CONSOLE_ROLE_ADMIN));
        json_object_put(call(db, "POST", "/settings/policy-hashes", NULL, "{\"hashes\":[{\"hash\":\"" HASH_A "\"}]}",
                             200, CONSOLE_ROLE_ADMIN));

        json_object *o = call(db, "GET", "/reports/monthly", "month=2025-12", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_string_equal(gets(o, "month"), "2025-12");
        assert_int_equal(json_object_array_length(get(o, "clauses")), 1);
        assert_string_equal(gets(o, "clauses.0.policy_ref"), REF_USB);
        assert_int_equal(geti(o, "clauses.0.count"), 5); /* 20 and 40 days ago are November */
        assert_string_equal(gets(o, "clauses.0.top_hosts.0.machine_id"), HOST_A);
        assert_int_equal(geti(o, "clauses.0.top_hosts.0.count"), 4);
        assert_string_equal(gets(o, "clauses.0.top_users.0.user"), "taro");
        assert_int_equal(geti(o, "clauses.0.top_users.0.count"), 2);
        assert_int_equal(geti(o, "findings.opened"), 1);
        assert_int_equal(geti(o, "findings.closed"), 1);
        /* B runs another policy; A's posture is ng with a stale pattern */
        assert_int_equal(json_object_array_length(get(o, "out_of_compliance")), 2);
        assert_string_equal(gets(o, "out_of_compliance.0.reasons.0"), "posture_ng");
        assert_string_equal(gets(o, "out_of_compliance.1.reasons.0"), "policy_drift");
        assert_int_equal(json_object_array_length(get(o, "approvals.granted")), 1);
        assert_int_equal(json_object_array_length(get(o, "approvals.expiring")), 0);
        json_object_put(o);

        o = call(db, "GET", "/reports/monthly", "month=2025-11", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(geti(o, "clauses.0.count"), 1); /* 40 days ago is October */
        json_object_put(o);

        o = call(db, "GET", "/reports/monthly", "month=2025-12&format=csv", NULL, 200, CONSOLE_ROLE_VIEWER);
        const char *csv = json_object_get_string(o);
        /* csv.h: BOM, a cell quoted only when it must be, formulas neutralised */
        assert_true(strncmp(csv, "\xef\xbb\xbfsection,policy_ref,", 22) == 0);
        assert_non_null(strstr(csv, "\r\ntop_user," REF_USB ",,'=cmd|' /C calc'!A0,1\r\n"));
        assert_null(strstr(csv, ",="));
        assert_null(strstr(csv, ",\"="));
        assert_non_null(strstr(csv, ",'=HYPERLINK(1),"));
        json_object_put(o);

        json_object_put(call(db, "GET", "/reports/monthly", "month=2025-13", NULL, 400, CONSOLE_ROLE_VIEWER));
        json_object_put(call(db, "GET", "/reports/monthly", "month=25-12", NULL, 400, CONSOLE_ROLE_VIEWER));
        json_object_put(call(db, "GET", "/reports/monthly", "format=xml", NULL, 400, CONSOLE_ROLE_VIEWER));
}

/* old replaced by new in an event's JSON (once), its hash again */
static void fev_patch(FEv *e, const char *old, const char *new) {
        char *at = strstr(e->json, old);
        assert_non_null(at);
        size_t lo = strlen(old), ln = strlen(new), tail = strlen(at + lo);
        assert_true(strlen(e->json) - lo + ln < sizeof e->json);
        memmove(at + ln, at + lo, tail + 1);
        memcpy(at, new, ln);
        e->ev.json_len = strlen(e->json);
        sha256(e->json, e->ev.json_len, e->ev.content_hash);
}

static bool starts_with(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static size_t count_of(const char *s, const char *what) {
        size_t n = 0;
        for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
                n++;
        return n;
}

static int64_t exports_of(Cdb *db, const char *list) {
        CdbValue p[] = { cdb_text(list) };
        int64_t n = -1;
        assert_int_equal(cdb_query_int(db, "SELECT COUNT(*) FROM audit WHERE action = 'export' AND target = ?1", p, 1, &n),
                         0);
        return n;
}

/* format=csv of /hosts, /devices, /approvals: every row of the filter, the
 * BOM and the header, attacker-controlled strings neutralised, audited. */
static void test_lists_csv(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = NULL;
        char body[1024];
        fill(f);
        /* a host and a device whose strings are formulas */
        FEv e[1];
        fev(&e[0], HOST_C, "usb.blocked", "high", REF_USB, "jiro", "04f2", "b001", "=SUM(1)", NULL);
        fev_patch(&e[0], "\"name\":\"pc-b\"", "\"name\":\"=pc-c\"");
        fev_patch(&e[0], "<img src=x onerror=alert(1)>", "@SUM(A1)");
        e[0].ev.host_name = "=pc-c";
        ingest(f, e, 1, NOW - 3600LL * 1000000);
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        assert_true(console_fleet_refresh(db, NOW + CONSOLE_FLEET_PG_LAG_US + 1, 0) > 0);
        json_object_put(call(db, "POST", "/approvals", NULL,
                             approval_body(body, sizeof body, "\"S1\"", "\"=HYPERLINK(1)\"", NULL), 201,
                             CONSOLE_ROLE_ADMIN));
        json_object_put(call(db, "POST", "/approvals", NULL,
                             approval_body(body, sizeof body, "\"S2\"", "\"USB 2\"", NULL), 201, CONSOLE_ROLE_ADMIN));

        /* all pages: limit and after are the JSON's paging */
        json_object *o = call(db, "GET", "/hosts", "format=csv&limit=1&after=" HOST_A, NULL, 200, CONSOLE_ROLE_VIEWER);
        const char *csv = json_object_get_string(o);
        assert_true(starts_with(csv, "\xef\xbb\xbfmachine_id,host_name,department,agent_version,policy_hash,policy_current,"
                                     "last_seen,silent,stopped,fail_closed,posture_verdict,av_state,pattern_age_days,"
                                     "posture_at\r\n"));
        assert_int_equal(count_of(csv, "\r\n"), 1 + 3);
        assert_non_null(strstr(csv, "\r\n" HOST_A ",pc-a,総務課,0.1.0," HASH_A ","));
        assert_non_null(strstr(csv, "\r\n" HOST_B ",pc-b,税務課,"));
        assert_non_null(strstr(csv, "\r\n" HOST_C ",'=pc-c,,0.1.0,")); /* no posture: no department */
        assert_null(strstr(csv, ",="));
        json_object_put(o);
        o = call(db, "GET", "/hosts", "format=csv&department=%E7%A8%8E%E5%8B%99%E8%AA%B2", NULL, 200,
                 CONSOLE_ROLE_VIEWER);
        csv = json_object_get_string(o);
        assert_int_equal(count_of(csv, "\r\n"), 1 + 1);
        assert_non_null(strstr(csv, "\r\n" HOST_B ","));
        json_object_put(o);
        assert_int_equal(exports_of(db, "hosts"), 2);

        o = call(db, "GET", "/devices", "format=csv", NULL, 200, CONSOLE_ROLE_VIEWER);
        csv = json_object_get_string(o);
        assert_true(starts_with(csv, "\xef\xbb\xbfvendor,product,serial,product_name,manufacturer,category,count,hosts,users,"
                                     "first,last,approved,bus,identity\r\n"));
        assert_int_equal(count_of(csv, "\r\n"), 1 + 3); /* S1, S2, 04f2 */
        assert_non_null(strstr(csv, "\r\n0781,5581,S1,<img src=x onerror=alert(1)>,ACME,storage,"));
        assert_non_null(strstr(csv, "\r\n04f2,b001,'=SUM(1),'@SUM(A1),ACME,storage,1,1,1,"));
        assert_non_null(strstr(csv, ",true,usb,\r\n")); /* S1 is approved */
        assert_null(strstr(csv, ",="));
        assert_null(strstr(csv, ",@"));
        json_object_put(o);
        o = call(db, "GET", "/devices", "format=csv&q=04f2", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(count_of(json_object_get_string(o), "\r\n"), 1 + 1);
        json_object_put(o);
        assert_int_equal(exports_of(db, "devices"), 2);

        o = call(db, "GET", "/approvals", "format=csv&limit=1", NULL, 200, CONSOLE_ROLE_VIEWER);
        csv = json_object_get_string(o);
        assert_true(starts_with(csv, "\xef\xbb\xbfid,created_at,created_by,vendor,product,serial,any_serial,label,"));
        assert_non_null(strstr(csv, ",kanri,0781,5581,S1,false,'=HYPERLINK(1),情報政策課長,2025-12-10,"));
        assert_non_null(strstr(csv, ",kanri,0781,5581,S2,false,USB 2,"));
        assert_null(strstr(csv, ",="));
        json_object_put(o);
        assert_int_equal(exports_of(db, "approvals"), 1);

        /* a bad format is refused and not audited */
        json_object_put(call(db, "GET", "/hosts", "format=xml", NULL, 400, CONSOLE_ROLE_VIEWER));
        json_object_put(call(db, "GET", "/devices", "format=", NULL, 400, CONSOLE_ROLE_VIEWER));
        json_object_put(call(db, "GET", "/approvals", "format=CSV", NULL, 400, CONSOLE_ROLE_VIEWER));
        assert_int_equal(exports_of(db, "hosts") + exports_of(db, "devices") + exports_of(db, "approvals"), 5);
        /* JSON as before */
        o = call(db, "GET", "/hosts", "format=json", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 3);
        json_object_put(o);
}

/* device.blocked of a bus outside USB (issue 14): event-check.c keys it
 * (bus, NULL, identity); the rollups count it per bus and identity, next
 * to the USB devices; device.allowed is not counted. */
#define MMC_ID "manfid=0x000003 oemid=0x5344 name=SU08G serial=0x1a2b3c4d date=06/2021"
#define MMC_DEVICE \
        ",\"device\":{\"bus\":\"mmc\",\"category\":\"mmc\",\"manfid\":\"0x000003\",\"oemid\":\"0x5344\"," \
        "\"name\":\"SU08G\",\"serial\":\"0x1a2b3c4d\",\"date\":\"06/2021\",\"product\":\"SU08G\"," \
        "\"bus_path\":\"mmc0:aaaa\"}"

static void test_other_bus(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = NULL;
        fill(f);
        FEv e[3];
        fev(&e[0], HOST_A, "device.blocked", "high", REF_USB, "taro", NULL, NULL, NULL, MMC_DEVICE);
        fev(&e[1], HOST_B, "device.blocked", "high", REF_USB, "jiro", NULL, NULL, NULL, MMC_DEVICE);
        fev(&e[2], HOST_B, "device.allowed", "info", REF_USB, "jiro", NULL, NULL, NULL, MMC_DEVICE);
        for (size_t i = 0; i < ELEMENTSOF(e); i++) {
                e[i].ev.device_vendor = "mmc";
                e[i].ev.device_serial = MMC_ID;
        }
        ingest(f, e, 3, NOW - 3600LL * 1000000);
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        assert_true(console_fleet_refresh(db, NOW + CONSOLE_FLEET_PG_LAG_US + 1, 0) > 0);

        json_object *o = call(db, "GET", "/devices", NULL, NULL, 200, CONSOLE_ROLE_VIEWER), *rows = get(o, "rows");
        size_t found = 0, usb = 0;
        for (size_t i = 0; i < json_object_array_length(rows); i++) {
                json_object *r = json_object_array_get_idx(rows, i), *v = NULL;
                json_object_object_get_ex(r, "bus", &v);
                if (streq_ptr(json_object_get_string(v), "usb")) {
                        usb++;
                        continue;
                }
                found++;
                assert_string_equal(json_object_get_string(v), "mmc");
                assert_true(json_object_object_get_ex(r, "identity", &v));
                assert_string_equal(json_object_get_string(v), MMC_ID);
                assert_true(json_object_object_get_ex(r, "vendor", &v) && !v);
                assert_true(json_object_object_get_ex(r, "approved", &v) && !v);
                assert_true(json_object_object_get_ex(r, "count", &v));
                assert_int_equal(json_object_get_int64(v), 2); /* not the allowed one */
                assert_true(json_object_object_get_ex(r, "hosts", &v));
                assert_int_equal(json_object_get_int64(v), 2);
                assert_true(json_object_object_get_ex(r, "product_name", &v));
                assert_string_equal(json_object_get_string(v), "SU08G");
                assert_true(json_object_object_get_ex(r, "category", &v));
                assert_string_equal(json_object_get_string(v), "mmc");
        }
        assert_int_equal(found, 1);
        assert_true(usb >= 2);
        json_object_put(o);

        /* q: a bus */
        o = call(db, "GET", "/devices", "q=mmc", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 1);
        json_object_put(o);
        o = call(db, "GET", "/devices", "q=0781", NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(json_object_array_length(get(o, "rows")), 2);
        json_object_put(o);
        json_object_put(call(db, "GET", "/devices", "q=scsi", NULL, 400, CONSOLE_ROLE_VIEWER));

        /* the PC's timeline: the same device object as /events */
        o = call(db, "GET", "/hosts/" HOST_A, NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        json_object *tl = get(o, "timeline");
        size_t mmc = 0;
        for (size_t i = 0; i < json_object_array_length(tl); i++) {
                json_object *d = NULL, *v = NULL;
                json_object_object_get_ex(json_object_array_get_idx(tl, i), "device", &d);
                if (!d || !json_object_object_get_ex(d, "bus", &v) || !streq(json_object_get_string(v), "mmc"))
                        continue;
                mmc++;
                assert_true(json_object_object_get_ex(d, "identity", &v));
                assert_string_equal(json_object_get_string(v), MMC_ID);
                assert_true(json_object_object_get_ex(d, "vendor", &v) && !v);
        }
        assert_int_equal(mmc, 1);
        json_object_put(o);

        /* the overview's blocks per day: 3 usb.blocked of fill() and the 2 device.blocked */
        o = call(db, "GET", "/overview", NULL, NULL, 200, CONSOLE_ROLE_VIEWER);
        assert_int_equal(geti(o, "blocked_per_day.29.count"), 5);
        json_object_put(o);
}

static void test_serial_unescape(void **state) {
        (void) state;
        char *s = NULL;
        size_t n = 0;
        assert_int_equal(allow_serial_unescape("A\\\\B\\x0a\\u202e\\U0001f600", 512, &s, &n), 0);
        assert_int_equal(n, 1 + 1 + 1 + 1 + 3 + 4);
        assert_memory_equal(s, "A\\B\n\xe2\x80\xae\xf0\x9f\x98\x80", n);
        free(s);
        assert_int_equal(allow_serial_unescape("\\x", 512, &s, &n), -EINVAL);
        assert_int_equal(allow_serial_unescape("\\ud800", 512, &s, &n), -EINVAL);
        assert_int_equal(allow_serial_unescape("\\U00110000", 512, &s, &n), -EINVAL);
        assert_int_equal(allow_serial_unescape("a\\", 512, &s, &n), -EINVAL);
        assert_int_equal(allow_serial_unescape("", 512, &s, &n), -EINVAL);
        assert_int_equal(allow_serial_unescape("abcd", 3, &s, &n), -EINVAL);
        assert_int_equal(allow_serial_unescape("\\xff\\xfe", 512, &s, &n), 0); /* any bytes */
        assert_int_equal(n, 2);
        free(s);
}

int main(int argc, char **argv) {
        const char *backend = argc > 1 ? argv[1] : "sqlite";
        use_pg = strcmp(backend, "postgres") == 0;
        if (use_pg && !getenv("MAMORI_TEST_PG_CONNINFO")) {
                fprintf(stderr, "MAMORI_TEST_PG_CONNINFO is not set: run through tests/unit/with-postgres.sh\n");
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_refresh_and_overview, fleet_setup, teardown),
                cmocka_unit_test_setup_teardown(test_maintain, fleet_setup, teardown),
                cmocka_unit_test_setup_teardown(test_young_and_skewed, fleet_setup, teardown),
                cmocka_unit_test_setup_teardown(test_hosts, fleet_setup, teardown),
                cmocka_unit_test_setup_teardown(test_approvals, fleet_setup, teardown),
                cmocka_unit_test_setup_teardown(test_report, fleet_setup, teardown),
                cmocka_unit_test_setup_teardown(test_lists_csv, fleet_setup, teardown),
                cmocka_unit_test_setup_teardown(test_other_bus, fleet_setup, teardown),
                cmocka_unit_test(test_serial_unescape),
        };
        return cmocka_run_group_tests_name(use_pg ? "console-fleet-postgres" : "console-fleet-sqlite", tests, NULL, NULL);
}
