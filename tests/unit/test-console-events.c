/* SPDX-License-Identifier: MIT */
/* collector/console/api-events.c through its routes, on both backends:
 * every /events filter against what the test stored, keyset paging across
 * pages with ties on received_at, hostile cursors and ids, the CSV export
 * (BOM, formula injection), triage transitions and their log, findings.
 * argv[1]: "sqlite" or "postgres" (tests/unit/with-postgres.sh). */
#define TEST_STORE_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-store.c"

#include "cdb.h"
#include "console-api.h"
#include "events-query.h"

#define N_EVENTS 36
#define PER_BATCH 12 /* one batch: one received_at, so 12 ties */
#define HOUR_US (3600LL * 1000000)
#define NOW (T0 + 4 * HOUR_US)
#define EVIL_PRODUCT \
        "<img src=x onerror=alert(1)>\xe2\x80\xae" \
        "gpj.exe"
#define EVIL_MAKER "=cmd|' /C calc'!A0"

typedef struct Ev {
        char id[37];
        const char *machine_id;
        uint64_t seq;
        int64_t received;
        const char *kind, *severity, *ref, *user, *dept;
        const char *vendor, *product, *serial, *pname, *maker;
        char json[1024];
} Ev;

static Ev evs[N_EVENTS];
static const char *const sevs[] = { "low", "medium", "high", "critical" };
static const char *const serials[] = { "S0", "S1", "S2" };

/* The test's events: made and stored; their order of arrival is their index. */
static void store_events(Fixture *f) {
        uint64_t seq_a = 0, seq_b = 0;
        for (size_t i = 0; i < N_EVENTS; i++) {
                Ev *e = &evs[i];
                bool b = i % 2;
                e->machine_id = b ? HOST_B : HOST_A;
                e->seq = b ? ++seq_b : ++seq_a;
                snprintf(e->id, sizeof e->id, "%08x-0000-4000-8000-%012zx", b ? 0xbbbbu : 0xaaaau, i);
                e->received = T0 + (int64_t) (i / PER_BATCH + 1) * HOUR_US;
                e->kind = i % 3 == 0 ? "agent.config_changed" : "usb.blocked";
                e->severity = sevs[i % 4];
                e->ref = i % 2 ? "対策基準 第3-6" : "対策基準 第8-3";
                e->user = i % 4 < 2 ? "taro" : "hanako";
                e->dept = i % 5 == 0 ? NULL : (i % 2 ? "総務課" : "税務課");
                e->vendor = e->product = e->serial = e->pname = e->maker = NULL;
                if (i % 3 != 0) {
                        e->vendor = i % 2 ? "0781" : "090c";
                        e->product = i % 2 ? "5581" : "1000";
                        e->serial = serials[i % 3];
                        e->pname = i % 2 ? "Ultra" : EVIL_PRODUCT;
                        e->maker = i % 2 ? "SanDisk" : EVIL_MAKER;
                }
                json_object *o = json_object_new_object(), *h = json_object_new_object();
                json_object_object_add(o, "id", json_object_new_string(e->id));
                json_object_object_add(o, "seq", json_object_new_int64((int64_t) e->seq));
                json_object_object_add(o, "kind", json_object_new_string(e->kind));
                json_object_object_add(o, "severity", json_object_new_string(e->severity));
                json_object_object_add(h, "machine_id", json_object_new_string(e->machine_id));
                json_object_object_add(h, "name", json_object_new_string(b ? "pc-b" : "pc-a"));
                json_object_object_add(o, "host", h);
                json_object_object_add(o, "policy_ref", json_object_new_string(e->ref));
                if (e->dept) {
                        json_object *s = json_object_new_object();
                        json_object_object_add(s, "department", json_object_new_string(e->dept));
                        json_object_object_add(o, "site", s);
                }
                if (e->vendor) {
                        json_object *d = json_object_new_object();
                        json_object_object_add(d, "vendor_id", json_object_new_string(e->vendor));
                        json_object_object_add(d, "product_id", json_object_new_string(e->product));
                        json_object_object_add(d, "serial", json_object_new_string(e->serial));
                        json_object_object_add(d, "product", json_object_new_string(e->pname));
                        json_object_object_add(d, "manufacturer", json_object_new_string(e->maker));
                        json_object_object_add(o, "device", d);
                }
                snprintf(e->json, sizeof e->json, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
        }
        _cleanup_store_ Store *s = open_store(f);
        for (size_t batch = 0; batch < N_EVENTS / PER_BATCH; batch++) {
                StoreEvent se[PER_BATCH];
                for (size_t k = 0; k < PER_BATCH; k++) {
                        Ev *e = &evs[batch * PER_BATCH + k];
                        se[k] = (StoreEvent){
                                .id = e->id,
                                .machine_id = e->machine_id,
                                .seq = e->seq,
                                .time_us = e->received - 1000,
                                .kind = e->kind,
                                .severity = e->severity,
                                .host_name = e->machine_id[0] == 'a' ? "pc-a" : "pc-b",
                                .agent_version = "0.1.0",
                                .policy_ref = e->ref,
                                .user_name = e->user,
                                .device_vendor = e->vendor,
                                .device_product = e->product,
                                .device_serial = e->serial,
                                .json = e->json,
                                .json_len = strlen(e->json),
                        };
                        sha256(e->json, se[k].json_len, se[k].content_hash);
                }
                StoreBatch b = batch_of(se, PER_BATCH, evs[batch * PER_BATCH].received);
                StoreIngestResult res;
                assert_int_equal(store_ingest(s, &b, &res), 0);
                assert_int_equal(res.stored, PER_BATCH);
        }
}

/* ---- calling the routes as console-http.c does ---- */

static ConsoleSession reviewer = { .user = "hanako", .role = CONSOLE_ROLE_REVIEWER };

static void call(Cdb *db, const char *method, const char *path, const char *query, const char *body, ConsoleReply *rp) {
        ConsoleRequest rq = { .method = method,
                              .path = path,
                              .query = query,
                              .body = body,
                              .body_len = body ? strlen(body) : 0,
                              .session = &reviewer,
                              .db = db,
                              .zone = "UTC",
                              .peer = "127.0.0.1",
                              .now_us = NOW };
        console_reply_done(rp);
        *rp = (ConsoleReply){ 0 };
        for (const ConsoleRoute *r = console_routes_events; r->method; r++)
                if (strcmp(r->method, method) == 0 && console_route_match(r->pattern, path)) {
                        assert_int_equal(r->fn(&rq, rp), 0);
                        assert_non_null(rp->body);
                        return;
                }
        fail_msg("no route for %s %s", method, path);
}

static json_object *call_json(Cdb *db, const char *method, const char *path, const char *query, const char *body,
                              unsigned status) {
        ConsoleReply rp = { 0 };
        call(db, method, path, query, body, &rp);
        if (rp.status != status)
                fail_msg("%s %s?%s: %u, not %u: %s", method, path, query ?: "", rp.status, status, rp.body);
        assert_string_equal(rp.content_type, "application/json; charset=utf-8");
        json_object *o = json_tokener_parse(rp.body);
        assert_non_null(o);
        console_reply_done(&rp);
        return o;
}

static const char *get_str(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !v)
                return NULL;
        return json_object_get_string(v);
}

/* The ids of a list, in its order, following every page ("limit" per page):
 * as "i,j,k" of the test's indexes. */
static void list_ids(Cdb *db, const char *filter, unsigned limit, char *out, size_t size, size_t *pages) {
        char after[64] = "";
        out[0] = 0;
        *pages = 0;
        for (;;) {
                char query[512];
                snprintf(query, sizeof query, "%s%slimit=%u%s%s", filter, *filter ? "&" : "", limit,
                         after[0] ? "&after=" : "", after);
                json_object *o = call_json(db, "GET", "/events", query, NULL, 200);
                json_object *rows = json_object_object_get(o, "rows");
                assert_true(json_object_array_length(rows) <= limit);
                for (size_t i = 0; i < json_object_array_length(rows); i++) {
                        json_object *row = json_object_array_get_idx(rows, i);
                        const char *id = get_str(row, "id");
                        size_t k = 0;
                        while (k < N_EVENTS && strcmp(evs[k].id, id) != 0)
                                k++;
                        if (k == N_EVENTS) {
                                /* what the collector's rules wrote about the
                                 * hosts it saw first: not the test's */
                                assert_non_null(strstr(get_str(row, "kind"), "collector."));
                                continue;
                        }
                        size_t used = strlen(out);
                        snprintf(out + used, size - used, "%s%zu", used ? "," : "", k);
                }
                (*pages)++;
                const char *next = get_str(o, "next");
                if (!next) {
                        json_object_put(o);
                        return;
                }
                assert_true(json_object_array_length(rows) == limit);
                snprintf(after, sizeof after, "%s", next);
                json_object_put(o);
                assert_true(*pages < 100);
        }
}

typedef bool (*EvPred)(const Ev *e);

/* The order of arrival is the store's (row_id): read it back. order[0] is
 * the newest of the test's events. */
static size_t order[N_EVENTS];

static int order_row(const CdbRow *r, void *userdata) {
        size_t *n = userdata;
        const char *id = cdb_row_text(r, 0);
        for (size_t k = 0; k < N_EVENTS; k++)
                if (strcmp(evs[k].id, id) == 0) {
                        assert_true(*n < N_EVENTS);
                        order[(*n)++] = k;
                }
        return 0;
}

static void read_order(Cdb *db) {
        size_t n = 0;
        assert_true(cdb_exec(db, "SELECT id FROM events ORDER BY received_at DESC, row_id DESC", NULL, 0, order_row,
                             &n) >= N_EVENTS);
        assert_int_equal(n, N_EVENTS);
}

/* What the list must be: the matching events, newest first (received_at,
 * then arrival). */
static void expected_ids(EvPred pred, char *out, size_t size) {
        out[0] = 0;
        for (size_t j = 0; j < N_EVENTS; j++) {
                size_t i = order[j];
                if (!pred || pred(&evs[i])) {
                        size_t used = strlen(out);
                        snprintf(out + used, size - used, "%s%zu", used ? "," : "", i);
                }
        }
}

static bool p_usb(const Ev *e) {
        return strcmp(e->kind, "usb.blocked") == 0;
}
static bool p_high_critical(const Ev *e) {
        return strcmp(e->severity, "high") == 0 || strcmp(e->severity, "critical") == 0;
}
static bool p_clause(const Ev *e) {
        return strstr(e->ref, "第3-6") != NULL;
}
static bool p_clause8(const Ev *e) {
        return strstr(e->ref, "第8-3") != NULL;
}
static bool p_none(const Ev *e) {
        (void) e;
        return false;
}
static bool p_all(const Ev *e) {
        (void) e;
        return true;
}
static bool p_dept(const Ev *e) {
        return e->dept && strcmp(e->dept, "総務課") == 0;
}
static bool p_host_a(const Ev *e) {
        return e->machine_id[0] == 'a';
}
static bool p_user(const Ev *e) {
        return strcmp(e->user, "hanako") == 0;
}
static bool p_device(const Ev *e) {
        return e->vendor && strcmp(e->vendor, "0781") == 0;
}
static bool p_device_serial(const Ev *e) {
        return e->vendor && strcmp(e->vendor, "0781") == 0 && strcmp(e->serial, "S1") == 0;
}
static bool p_window(const Ev *e) {
        return e->received >= T0 + 2 * HOUR_US && e->received < T0 + 3 * HOUR_US;
}
static bool p_combined(const Ev *e) {
        return p_usb(e) && p_high_critical(e) && p_host_a(e);
}

/* The test's indexes of the rows of a statement, as list_ids() writes them. */
static int collect_ids(const CdbRow *r, void *userdata) {
        char *out = userdata;
        const char *id = cdb_row_text(r, EV_ID);
        for (size_t k = 0; k < N_EVENTS; k++)
                if (strcmp(evs[k].id, id) == 0) {
                        size_t used = strlen(out);
                        snprintf(out + used, 512 - used, "%s%zu", used ? "," : "", k);
                }
        return 0;
}

static void test_filters_and_paging(void **state) {
        Fixture *f = *state;
        store_events(f);
        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        read_order(db);

        static const struct {
                const char *filter;
                EvPred pred;
        } cases[] = {
                { "", NULL },
                { "kind=usb.blocked", p_usb },
                { "severity=high,critical", p_high_critical },
                { "clause=%E5%AF%BE%E7%AD%96%E5%9F%BA%E6%BA%96+%E7%AC%AC3", p_clause }, /* 対策基準 第3: a prefix */
                { "clause=%E7%AC%AC3", p_clause },                                      /* 第3: a word's prefix */
                { "clause=%E7%AC%AC8-3", p_clause8 },                                   /* 第8-3 */
                { "clause=%E5%AF%BE%E7%AD%96", p_all },                                 /* 対策 */
                { "clause=%E5%9F%BA%E6%BA%96", p_none },                                /* 基準: inside a word */
                { "clause=%E7%AC%AC3-60", p_none },
                { "department=%E7%B7%8F%E5%8B%99%E8%AA%B2", p_dept }, /* 総務課 */
                { "host=" HOST_A, p_host_a },
                { "host=pc-a", p_host_a },
                { "user=hanako", p_user },
                { "device=0781:5581", p_device },
                { "device=0781:5581:S1", p_device_serial },
                { "device=0781:5581:S1", p_device_serial },
                { "from=2025-12-01T02:00:00Z&to=2025-12-01T03:00:00Z", p_window },
                { "kind=usb.blocked&severity=critical,high&host=" HOST_A, p_combined },
        };
        char want[512], got[512];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                expected_ids(cases[i].pred, want, sizeof want);
                /* one page, then pages of 5 (ties on received_at across pages) */
                size_t pages;
                list_ids(db, cases[i].filter, 500, got, sizeof got, &pages);
                if (strcmp(got, want) != 0)
                        fail_msg("%s: got %s, want %s", cases[i].filter, got, want);
                assert_int_equal(pages, 1);
                list_ids(db, cases[i].filter, 5, got, sizeof got, &pages);
                if (strcmp(got, want) != 0)
                        fail_msg("%s (pages of 5): got %s, want %s", cases[i].filter, got, want);
        }
        /* a clause that resolves to too many policy_refs is filtered on the
         * text instead: the same rows */
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (strncmp(cases[i].filter, "clause=", 7) != 0)
                        continue;
                ConsoleRequest rq = { .query = cases[i].filter, .zone = "UTC", .now_us = NOW };
                EventsQuery q;
                const char *bad = NULL;
                assert_int_equal(events_query_parse(&rq, &q, &bad), 0);
                char resolved[512] = "", text[512] = "";
                QuerySql sql;
                assert_int_equal(events_clause_resolve(db, &q), 0);
                assert_true(q.refs_resolved);
                assert_true(q.n_refs <= 2);
                assert_int_equal(events_query_sql(&q, cdb_backend(db), 500, &sql), 0);
                assert_true(cdb_exec(db, sql.text, sql.params, sql.n_params, collect_ids, resolved) >= 0);
                q.refs_resolved = false;
                assert_int_equal(events_query_sql(&q, cdb_backend(db), 500, &sql), 0);
                assert_true(cdb_exec(db, sql.text, sql.params, sql.n_params, collect_ids, text) >= 0);
                assert_string_equal(resolved, text);
                expected_ids(cases[i].pred, want, sizeof want);
                if (strcmp(resolved, want) != 0)
                        fail_msg("%s: got %s, want %s", cases[i].filter, resolved, want);
        }

        /* pages of 7 over all 36: 6 pages, every id once, in order */
        size_t pages;
        expected_ids(NULL, want, sizeof want);
        list_ids(db, "", 7, got, sizeof got, &pages);
        assert_string_equal(got, want);
        assert_int_equal(pages, 6);
        /* no match, and a window before everything */
        list_ids(db, "user=nobody", 5, got, sizeof got, &pages);
        assert_string_equal(got, "");
        list_ids(db, "from=2025-11-01&to=2025-11-30", 5, got, sizeof got, &pages);
        assert_string_equal(got, "");
        /* an explicit window around everything */
        list_ids(db, "from=2025-11-01", 500, got, sizeof got, &pages);
        assert_string_equal(got, want);
}

static void test_rows(void **state) {
        Fixture *f = *state;
        store_events(f);
        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        read_order(db);
        json_object *o = call_json(db, "GET", "/events", "limit=500&kind=usb.blocked,agent.config_changed", NULL, 200);
        json_object *rows = json_object_object_get(o, "rows");
        assert_int_equal(json_object_array_length(rows), N_EVENTS);
        for (size_t i = 0; i < N_EVENTS; i++) {
                json_object *r = json_object_array_get_idx(rows, i);
                const Ev *e = &evs[order[i]];
                assert_string_equal(get_str(r, "id"), e->id);
                assert_string_equal(get_str(r, "kind"), e->kind);
                assert_string_equal(get_str(r, "severity"), e->severity);
                assert_string_equal(get_str(r, "policy_ref"), e->ref);
                assert_string_equal(get_str(r, "user"), e->user);
                assert_string_equal(get_str(r, "host_name"), e->machine_id[0] == 'a' ? "pc-a" : "pc-b");
                assert_string_equal(get_str(r, "triage"), "new");
                if (e->dept)
                        assert_string_equal(get_str(r, "department"), e->dept);
                else
                        assert_null(get_str(r, "department"));
                json_object *t = console_json_time(e->received);
                assert_string_equal(get_str(r, "received_at"), json_object_get_string(t));
                json_object_put(t);
                json_object *d = json_object_object_get(r, "device");
                const char *summary = get_str(r, "summary");
                if (!e->vendor) {
                        assert_null(d);
                        assert_string_equal(summary, e->kind);
                        continue;
                }
                assert_string_equal(get_str(d, "vendor"), e->vendor);
                assert_string_equal(get_str(d, "serial"), e->serial);
                /* the hostile strings come back as they were, as JSON strings */
                assert_string_equal(get_str(d, "product_name"), e->pname);
                assert_string_equal(get_str(d, "manufacturer"), e->maker);
                char want[256];
                snprintf(want, sizeof want, "%s: %s %s (%s:%s)", e->kind, e->maker, e->pname, e->vendor, e->product);
                assert_string_equal(summary, want);
        }
        json_object_put(o);
        /* the raw answer holds no '<' unescaped? json-c leaves '<' as is:
         * what matters is that it is inside a JSON string; the page puts it
         * into text nodes. The '/' of "</script>" is escaped by json-c. */
}

static void test_bad_filters(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        static const char *const bad[] = {
                "after=abc",
                "after=1.",
                "after=.1",
                "after=01.2",
                "after=1.02",
                "after=-1.2",
                "after=1.-2",
                "after=1.2.3",
                "after=1.0",
                "after=%2B1.2",
                "after=1%202",
                "after=99999999999999999999.1",
                "after=9223372036854775808.1",
                "severity=urgent",
                "severity=high,",
                "severity=HIGH",
                "kind=Bad!",
                "kind=a,,b",
                "kind=a,b,c,d,e,f,g,h,i",
                "device=0781",
                "device=07811:5581",
                "device=zz81:5581",
                "device=0781-5581",
                "device=0781:5581:",
                "limit=0",
                "limit=501",
                "limit=-1",
                "limit=1e3",
                "from=yesterday",
                "from=2025-12-01T00:00:00+09:00",
                "to=2025-13-01",
                "from=2025-12-02&to=2025-12-01",
                "triage=open",
                "format=xml",
                "user=%01",
                "host=%FF",
                "clause=%E7%AC",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                json_object *o = call_json(db, "GET", "/events", bad[i], NULL, 400);
                json_object *e = json_object_object_get(o, "error");
                assert_string_equal(get_str(e, "code"), "bad_request");
                json_object_put(o);
        }
        /* a forged cursor that parses only moves the page */
        json_object *o = call_json(db, "GET", "/events", "after=1.1", NULL, 200);
        assert_int_equal(json_object_array_length(json_object_object_get(o, "rows")), 0);
        json_object_put(o);
        o = call_json(db, "GET", "/events", "after=0.9223372036854775807&limit=500&kind=x.y_z", NULL, 200);
        json_object_put(o);
        /* bad findings filters */
        static const char *const bad_f[] = { "open=2", "state=closed", "after=0", "after=x", "limit=9999" };
        for (size_t i = 0; i < ELEMENTSOF(bad_f); i++)
                json_object_put(call_json(db, "GET", "/findings", bad_f[i], NULL, 400));
}

/* console_audit() is the auth slice's: a stub (-EOPNOTSUPP) in a build
 * without it. With it, the audit rows of an action are counted. */
static bool audit_works(Cdb *db) {
        ConsoleRequest rq = { .db = db, .session = &reviewer, .peer = "127.0.0.1", .now_us = NOW };
        int r = console_audit(&rq, "probe", NULL, NULL);
        if (r == -EOPNOTSUPP)
                return false;
        assert_int_equal(r, 0);
        assert_int_equal(cdb_exec(db, "DELETE FROM audit WHERE action = 'probe'", NULL, 0, NULL, NULL), 1);
        return true;
}

static int64_t audit_count(Cdb *db, const char *action) {
        int64_t n = -1;
        assert_int_equal(cdb_query_int(db, "SELECT COUNT(*) FROM audit WHERE action = ?1",
                                       (CdbValue[]){ cdb_text(action) }, 1, &n),
                         0);
        return n;
}

static void test_csv(void **state) {
        Fixture *f = *state;
        store_events(f);
        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        ConsoleReply rp = { 0 };
        call(db, "GET", "/events", "format=csv&device=090c:1000", NULL, &rp);
        assert_int_equal(rp.status, 200);
        assert_string_equal(rp.content_type, "text/csv; charset=utf-8");
        assert_string_equal(rp.filename, "events.csv");
        assert_memory_equal(rp.body,
                            "\xef\xbb\xbf"
                            "id,received_at,",
                            18);
        assert_int_equal(strlen(rp.body), rp.len);
        /* one line per event of that device, and the header */
        size_t lines = 0, want = 0;
        for (const char *p = rp.body; (p = strstr(p, "\r\n")); p += 2)
                lines++;
        for (size_t i = 0; i < N_EVENTS; i++)
                want += evs[i].vendor && strcmp(evs[i].vendor, "090c") == 0;
        assert_true(want > 0);
        assert_int_equal(lines, want + 1);
        /* the manufacturer, a formula, is neutralised; the quote in it
         * doubled inside a quoted cell? It has no comma or quote: plain */
        assert_non_null(strstr(rp.body, ",'" EVIL_MAKER ","));
        assert_null(strstr(rp.body, ",=cmd"));
        assert_non_null(strstr(rp.body, "," EVIL_PRODUCT ","));
        console_reply_done(&rp);

        /* a bad filter on an export is a 400 too, never a partial file */
        call(db, "GET", "/events", "format=csv&after=x", NULL, &rp);
        assert_int_equal(rp.status, 400);
        console_reply_done(&rp);
        call(db, "GET", "/findings", "format=csv", NULL, &rp);
        assert_int_equal(rp.status, 200);
        assert_memory_equal(rp.body,
                            "\xef\xbb\xbf"
                            "id,machine_id,",
                            17);
        console_reply_done(&rp);
        /* each export that left is in the audit log, the refused one not */
        if (audit_works(db))
                assert_int_equal(audit_count(db, "export"), 2);
}

static const char *triage_state(json_object *o) {
        return get_str(json_object_object_get(o, "triage"), "state");
}

static void post_triage(Cdb *db, const char *path, const char *body, unsigned status, const char *state) {
        json_object *o = call_json(db, "POST", path, NULL, body, status);
        if (state)
                assert_string_equal(triage_state(o), state);
        json_object_put(o);
}

static void test_triage(void **state) {
        Fixture *f = *state;
        store_events(f);
        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        assert_int_equal(cdb_exec(db,
                                  "INSERT INTO users (name, role, password_hash, created_at, updated_at) "
                                  "VALUES ('jiro', 'reviewer', '$y$x', 0, 0), ('gone', 'viewer', '$y$x', 0, 0)",
                                  NULL, 0, NULL, NULL),
                         2);
        assert_int_equal(cdb_exec(db, "UPDATE users SET disabled = 1 WHERE name = 'gone'", NULL, 0, NULL, NULL), 1);

        char path[128], get[128];
        snprintf(path, sizeof path, "/events/%s/triage", evs[4].id);
        snprintf(get, sizeof get, "/events/%s", evs[4].id);

        /* a comment on a new event: logged, still new */
        post_triage(db, path, "{\"action\":\"comment\",\"comment\":\"見ました\\n二行目\"}", 200, "new");
        post_triage(db, path, "{\"action\":\"acknowledge\"}", 200, "acknowledged");
        post_triage(db, path, "{\"action\":\"acknowledge\"}", 409, NULL);
        post_triage(db, path, "{\"action\":\"reopen\"}", 409, NULL);
        post_triage(db, path, "{\"action\":\"assign\"}", 400, NULL);
        post_triage(db, path, "{\"action\":\"assign\",\"assignee\":\"nobody\"}", 400, NULL);
        post_triage(db, path, "{\"action\":\"assign\",\"assignee\":\"gone\"}", 400, NULL);
        post_triage(db, path, "{\"action\":\"assign\",\"assignee\":\"Jiro\"}", 400, NULL);
        post_triage(db, path, "{\"action\":\"assign\",\"assignee\":\"jiro\"}", 200, "assigned");
        post_triage(db, path, "{\"action\":\"resolve\",\"comment\":\"返却済み\"}", 200, "resolved");
        post_triage(db, path, "{\"action\":\"resolve\"}", 409, NULL);
        post_triage(db, path, "{\"action\":\"assign\",\"assignee\":\"jiro\"}", 409, NULL);
        post_triage(db, path, "{\"action\":\"reopen\"}", 200, "assigned");
        /* bodies that are not what they must be */
        static const char *const bad[] = {
                "",
                "[]",
                "{\"action\":\"delete\"}",
                "{\"action\":1}",
                "{\"action\":\"comment\"}",
                "{\"action\":\"comment\",\"comment\":\"\"}",
                "{\"action\":\"comment\",\"comment\":\"a\\u0007b\"}",
                "{\"action\":\"comment\",\"comment\":\"a\\u0085b\"}",
                "{\"action\":\"comment\",\"comment\":\"a\\u0000b\"}",
                "{\"action\":\"acknowledge\",\"assignee\":\"jiro\"}",
                "{\"action\":\"acknowledge\",\"extra\":true}",
                "{\"action\":\"acknowledge\"} trailing",
                "{\"action\":\"acknowledge\"",
                "{\"a\":[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                post_triage(db, path, bad[i], 400, NULL);
        char big[2200] = "{\"action\":\"comment\",\"comment\":\"";
        memset(big + strlen(big), 'x', 2001);
        strcat(big, "\"}");
        post_triage(db, path, big, 400, NULL);

        json_object *o = call_json(db, "GET", get, NULL, NULL, 200);
        json_object *t = json_object_object_get(o, "triage");
        assert_string_equal(get_str(t, "state"), "assigned");
        assert_string_equal(get_str(t, "assignee"), "jiro");
        assert_string_equal(get_str(t, "updated_by"), "hanako");
        json_object *log = json_object_object_get(o, "log");
        static const char *const actions[] = { "comment", "acknowledge", "assign", "resolve", "reopen" };
        static const char *const states[] = { "new", "acknowledged", "assigned", "resolved", "assigned" };
        assert_int_equal(json_object_array_length(log), ELEMENTSOF(actions));
        for (size_t i = 0; i < ELEMENTSOF(actions); i++) {
                json_object *l = json_object_array_get_idx(log, i);
                assert_string_equal(get_str(l, "action"), actions[i]);
                assert_string_equal(get_str(l, "state"), states[i]);
                assert_string_equal(get_str(l, "user"), "hanako");
        }
        assert_string_equal(get_str(json_object_array_get_idx(log, 0), "comment"), "見ました\n二行目");
        assert_string_equal(get_str(json_object_array_get_idx(log, 2), "assignee"), "jiro");
        /* the event and its stored JSON, whole */
        json_object *ev = json_object_object_get(o, "event");
        assert_string_equal(get_str(ev, "id"), evs[4].id);
        assert_string_equal(get_str(ev, "triage"), "assigned");
        json_object *j = json_object_object_get(o, "json");
        assert_string_equal(get_str(json_object_object_get(j, "device"), "product"), evs[4].pname);
        json_object_put(o);

        /* the triage filter */
        char got[512];
        size_t pages;
        list_ids(db, "triage=assigned", 50, got, sizeof got, &pages);
        assert_string_equal(got, "4");
        list_ids(db, "triage=resolved", 50, got, sizeof got, &pages);
        assert_string_equal(got, "");
        list_ids(db, "triage=new&limit=500", 500, got, sizeof got, &pages);
        assert_null(strstr(got, ",4,"));
        assert_int_equal(strlen(got) > 0, 1);

        /* ids: malformed 400, unknown 404 */
        json_object_put(call_json(db, "GET", "/events/not-a-uuid", NULL, NULL, 400));
        json_object_put(call_json(db, "GET", "/events/AAAAAAAA-0000-4000-8000-000000000004", NULL, NULL, 400));
        json_object_put(call_json(db, "GET", "/events/%27%20OR%201=1--", NULL, NULL, 400));
        json_object_put(call_json(db, "GET", "/events/ffffffff-0000-4000-8000-000000000000", NULL, NULL, 404));
        post_triage(db, "/events/ffffffff-0000-4000-8000-000000000000/triage", "{\"action\":\"acknowledge\"}", 404, NULL);
        post_triage(db, "/events/x/triage", "{\"action\":\"acknowledge\"}", 400, NULL);
        /* nothing was written for them */
        int64_t n = -1;
        assert_int_equal(cdb_query_int(db, "SELECT COUNT(*) FROM triage_log", NULL, 0, &n), 0);
        assert_int_equal(n, ELEMENTSOF(actions));
        assert_int_equal(cdb_query_int(db, "SELECT COUNT(*) FROM triage_state", NULL, 0, &n), 0);
        assert_int_equal(n, 1);
        if (audit_works(db))
                assert_int_equal(audit_count(db, "triage"), ELEMENTSOF(actions));
}

/* device.* of a bus outside USB (issue 14): event-check.c puts the bus in
 * device_vendor, NULL in device_product, the identity in device_serial;
 * the row's device says so and the summary names bus and identity. A USB
 * vendor without product stays USB. */
static void test_other_bus(void **state) {
        Fixture *f = *state;
        static const char id_mmc[] = "0000cccc-0000-4000-8000-000000000001",
                          id_odd[] = "0000cccc-0000-4000-8000-000000000002";
        static const char ident[] = "manfid=0x000003 oemid=0x5344 name=SU08G serial=0x1a2b3c4d date=06/2021";
        char json_mmc[512], json_odd[512];
        snprintf(json_mmc, sizeof json_mmc,
                 "{\"id\":\"%s\",\"kind\":\"device.blocked\",\"device\":{\"bus\":\"mmc\",\"category\":\"mmc\","
                 "\"manfid\":\"0x000003\",\"oemid\":\"0x5344\",\"name\":\"SU08G\",\"serial\":\"0x1a2b3c4d\","
                 "\"date\":\"06/2021\",\"product\":\"SU08G\",\"bus_path\":\"mmc0:aaaa\"}}",
                 id_mmc);
        snprintf(json_odd, sizeof json_odd,
                 "{\"id\":\"%s\",\"kind\":\"device.blocked\",\"device\":{\"vendor_id\":\"0781\"}}", id_odd);
        StoreEvent se[2] = {
                { .id = id_mmc,
                  .machine_id = HOST_A,
                  .seq = 9001,
                  .time_us = T0 + HOUR_US,
                  .kind = "device.blocked",
                  .severity = "high",
                  .host_name = "pc-a",
                  .agent_version = "0.1.0",
                  .device_vendor = "mmc",
                  .device_serial = ident,
                  .json = json_mmc,
                  .json_len = strlen(json_mmc) },
                { .id = id_odd,
                  .machine_id = HOST_A,
                  .seq = 9002,
                  .time_us = T0 + HOUR_US,
                  .kind = "device.blocked",
                  .severity = "critical",
                  .host_name = "pc-a",
                  .agent_version = "0.1.0",
                  .device_vendor = "0781",
                  .json = json_odd,
                  .json_len = strlen(json_odd) },
        };
        for (size_t i = 0; i < 2; i++)
                sha256(se[i].json, se[i].json_len, se[i].content_hash);
        {
                _cleanup_store_ Store *s = open_store(f);
                StoreBatch b = batch_of(se, 2, T0 + HOUR_US);
                StoreIngestResult res;
                assert_int_equal(store_ingest(s, &b, &res), 0);
                assert_int_equal(res.stored, 2);
        }
        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        json_object *o = call_json(db, "GET", "/events", "kind=device.blocked", NULL, 200);
        json_object *rows = json_object_object_get(o, "rows");
        assert_int_equal(json_object_array_length(rows), 2);
        for (size_t i = 0; i < 2; i++) {
                json_object *r = json_object_array_get_idx(rows, i), *d = json_object_object_get(r, "device");
                assert_non_null(d);
                if (streq(get_str(r, "id"), id_mmc)) {
                        assert_string_equal(get_str(d, "bus"), "mmc");
                        assert_null(get_str(d, "vendor"));
                        assert_null(get_str(d, "serial"));
                        assert_string_equal(get_str(d, "identity"), ident);
                        assert_string_equal(get_str(d, "product_name"), "SU08G");
                        assert_string_equal(get_str(r, "summary"),
                                            "device.blocked: mmc SU08G (manfid=0x000003 oemid=0x5344 "
                                            "name=SU08G serial=0x1a2b3c4d date=06/2021)");
                } else {
                        assert_string_equal(get_str(r, "id"), id_odd);
                        assert_string_equal(get_str(d, "bus"), "usb");
                        assert_string_equal(get_str(d, "vendor"), "0781");
                        assert_null(get_str(d, "identity"));
                        assert_string_equal(get_str(r, "summary"), "device.blocked:");
                }
        }
        json_object_put(o);
        /* the device filter takes a bus and its identity too */
        static const struct {
                const char *query;
                size_t n;
        } filters[] = {
                { "device=mmc", 1 },
                { "device=mmc:manfid%3D0x000003%20oemid%3D0x5344%20name%3DSU08G%20serial%3D0x1a2b3c4d%20date%3D06%2F2021",
                  1 },
                { "device=mmc:manfid%3D0x000004", 0 },
                { "device=firewire", 0 },
                { "device=0781:5581&kind=device.blocked", 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(filters); i++) {
                o = call_json(db, "GET", "/events", filters[i].query, NULL, 200);
                if (json_object_array_length(json_object_object_get(o, "rows")) != filters[i].n)
                        fail_msg("%s: not %zu rows", filters[i].query, filters[i].n);
                json_object_put(o);
        }
        json_object_put(call_json(db, "GET", "/events", "device=mmc:", NULL, 400));
        json_object_put(call_json(db, "GET", "/events", "device=usb", NULL, 400));
        json_object_put(call_json(db, "GET", "/events", "device=mmcx", NULL, 400));

        /* the violations view: critical among the others */
        o = call_json(db, "GET", "/events", "severity=critical&kind=device.blocked", NULL, 200);
        assert_int_equal(json_object_array_length(json_object_object_get(o, "rows")), 1);
        json_object_put(o);
}

static void test_findings(void **state) {
        Fixture *f = *state;
        store_events(f);
        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        /* two of the test's own, past whatever the rules opened */
        int64_t base = 0;
        assert_int_equal(cdb_query_int(db, "SELECT COALESCE(MAX(id), 0) FROM findings", NULL, 0, &base), 0);
        assert_int_equal(cdb_exec(db,
                                  "INSERT INTO findings (id, machine_id, kind, severity, state, first_at, last_at, "
                                  "closed_at, detail, message) VALUES "
                                  "(?1, ?3, 'collector.host.silent', 'high', 'open', ?4, ?4, NULL, "
                                  "'{\"since\":1}', 'silent for 2 h'), "
                                  "(?2, ?3, 'collector.host.gap', 'medium', 'closed', ?4, ?4, ?4, '{}', '')",
                                  (CdbValue[]){ cdb_int(base + 1), cdb_int(base + 2), cdb_text(HOST_B),
                                                cdb_int(T0 + HOUR_US) },
                                  4, NULL, NULL),
                         2);
        json_object *o = call_json(db, "GET", "/findings", "open=1&host=pc-b&kind=collector.host.silent", NULL, 200);
        json_object *rows = json_object_object_get(o, "rows");
        assert_int_equal(json_object_array_length(rows), 1);
        json_object *r = json_object_array_get_idx(rows, 0);
        assert_int_equal(json_object_get_int64(json_object_object_get(r, "id")), base + 1);
        assert_string_equal(get_str(r, "summary"), "silent for 2 h");
        assert_string_equal(get_str(r, "host_name"), "pc-b");
        assert_true(json_object_get_boolean(json_object_object_get(r, "open")));
        json_object_put(o);

        /* paging on id */
        o = call_json(db, "GET", "/findings", "host=" HOST_B "&limit=1", NULL, 200);
        rows = json_object_object_get(o, "rows");
        assert_int_equal(json_object_get_int64(json_object_object_get(json_object_array_get_idx(rows, 0), "id")),
                         base + 2);
        char q[128];
        snprintf(q, sizeof q, "host=" HOST_B "&limit=1&after=%s", get_str(o, "next"));
        json_object_put(o);
        o = call_json(db, "GET", "/findings", q, NULL, 200);
        rows = json_object_object_get(o, "rows");
        assert_int_equal(json_object_get_int64(json_object_object_get(json_object_array_get_idx(rows, 0), "id")),
                         base + 1);
        json_object_put(o);

        char path[96];
        snprintf(path, sizeof path, "/findings/%" PRId64 "/triage", base + 1);
        post_triage(db, path, "{\"action\":\"resolve\",\"comment\":\"戻った\"}", 200, "resolved");
        o = call_json(db, "GET", "/findings", "state=resolved", NULL, 200);
        assert_int_equal(json_object_array_length(json_object_object_get(o, "rows")), 1);
        json_object_put(o);
        snprintf(path, sizeof path, "/findings/%" PRId64, base + 1);
        o = call_json(db, "GET", path, NULL, NULL, 200);
        json_object *fi = json_object_object_get(o, "finding");
        assert_int_equal(json_object_get_int(json_object_object_get(json_object_object_get(fi, "detail"), "since")), 1);
        assert_string_equal(triage_state(o), "resolved");
        assert_int_equal(json_object_array_length(json_object_object_get(o, "log")), 1);
        json_object_put(o);

        json_object_put(call_json(db, "GET", "/findings/0", NULL, NULL, 400));
        json_object_put(call_json(db, "GET", "/findings/01", NULL, NULL, 400));
        json_object_put(call_json(db, "GET", "/findings/-1", NULL, NULL, 400));
        json_object_put(call_json(db, "GET", "/findings/1x", NULL, NULL, 400));
        json_object_put(call_json(db, "GET", "/findings/99999999999999999999", NULL, NULL, 400));
        json_object_put(call_json(db, "GET", "/findings/9223372036854775807", NULL, NULL, 404));
        post_triage(db, "/findings/9223372036854775807/triage", "{\"action\":\"resolve\"}", 404, NULL);
}

/* A database that cannot answer now is a 503 "busy", never a 500: SQLite
 * locked by another writer, PostgreSQL stopped (with-postgres.sh's pg_ctl). */
static void test_db_busy(void **state) {
        Fixture *f = *state;
        store_events(f);
        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        char path[128];
        snprintf(path, sizeof path, "/events/%s/triage", evs[1].id);
        json_object *o;
        if (use_pg) {
                const char *ctl = getenv("MAMORI_TEST_PG_CTL");
                assert_non_null(ctl);
                char cmd[1024];
                snprintf(cmd, sizeof cmd, "%s stop >/dev/null", ctl);
                assert_int_equal(system(cmd), 0);
                o = call_json(db, "GET", "/events", NULL, NULL, 503);
                assert_string_equal(get_str(json_object_object_get(o, "error"), "code"), "busy");
                json_object_put(o);
                json_object_put(call_json(db, "POST", path, NULL, "{\"action\":\"acknowledge\"}", 503));
                snprintf(cmd, sizeof cmd, "%s start >/dev/null", ctl);
                assert_int_equal(system(cmd), 0);
        } else {
                sqlite3 *other;
                assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
                assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
                o = call_json(db, "POST", path, NULL, "{\"action\":\"acknowledge\"}", 503);
                assert_string_equal(get_str(json_object_object_get(o, "error"), "code"), "busy");
                json_object_put(o);
                /* readers are not blocked by a writer (WAL) */
                json_object_put(call_json(db, "GET", "/events", NULL, NULL, 200));
                assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
                sqlite3_close(other);
        }
        /* and once it can, the same request works */
        o = call_json(db, "POST", path, NULL, "{\"action\":\"acknowledge\"}", 200);
        assert_string_equal(get_str(json_object_object_get(o, "triage"), "state"), "acknowledged");
        json_object_put(o);
}

/* A statement that runs past the limit stops with -EBUSY (a 503), on
 * SQLite through the progress handler, on PostgreSQL statement_timeout. */
static void test_statement_timeout(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        assert_int_equal(cdb_set_statement_timeout(db, 200), 0);
        const char *slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
                           "SELECT COUNT(*) FROM c";
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int64_t n = 0;
        assert_int_equal(cdb_query_int(db, slow, NULL, 0, &n), -EBUSY);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double took = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_true(took >= 0.2 && took < 10);
        /* the connection is fine afterwards, and the default is back */
        assert_int_equal(cdb_query_int(db, "SELECT 7", NULL, 0, &n), 0);
        assert_int_equal(n, 7);
        assert_int_equal(cdb_set_statement_timeout(db, 0), 0);
        assert_int_equal(cdb_query_int(db,
                                       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < "
                                       "100000) SELECT COUNT(*) FROM c",
                                       NULL, 0, &n),
                         0);
        assert_int_equal(n, 100000);
}

/* The statement is the same text whatever the values: values are
 * parameters, never pasted in. */
static void test_sql_parameterised(void **state) {
        (void) state;
        ConsoleRequest rq = { .query = "user=x%27%3B%20DROP%20TABLE%20events%3B--&clause=%27&host=a%27b"
                                       "&department=%22&device=0781:5581:%27&kind=a.b,c",
                              .now_us = NOW };
        EventsQuery q;
        const char *bad = NULL;
        assert_int_equal(events_query_parse(&rq, &q, &bad), 0);
        QuerySql sql;
        for (int be = 0; be < 2; be++) {
                assert_int_equal(events_query_sql(&q, be ? STORE_POSTGRES : STORE_SQLITE, 51, &sql), 0);
                assert_null(strstr(sql.text, "DROP"));
                assert_null(strstr(sql.text, "x'"));
                assert_null(strstr(sql.text, "a'b"));
                assert_non_null(strstr(sql.text, "LIMIT ?"));
                assert_true(sql.n_params >= 10);
        }
}

int main(int argc, char **argv) {
        const char *backend = argc > 1 ? argv[1] : "sqlite";
        use_pg = strcmp(backend, "postgres") == 0;
        if (use_pg && !getenv("MAMORI_TEST_PG_CONNINFO")) {
                fprintf(stderr, "MAMORI_TEST_PG_CONNINFO is not set: run through tests/unit/with-postgres.sh\n");
                return 1;
        }
        setenv("TZ", "UTC", 1);
        tzset();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_filters_and_paging, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rows, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_filters, setup, teardown),
                cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
                cmocka_unit_test_setup_teardown(test_triage, setup, teardown),
                cmocka_unit_test_setup_teardown(test_findings, setup, teardown),
                cmocka_unit_test_setup_teardown(test_other_bus, setup, teardown),
                cmocka_unit_test_setup_teardown(test_db_busy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_statement_timeout, setup, teardown),
                cmocka_unit_test(test_sql_parameterised),
        };
        return cmocka_run_group_tests_name(use_pg ? "console-events-postgres" : "console-events-sqlite", tests, NULL,
                                           NULL);
}
