/* SPDX-License-Identifier: MIT */
/* collector/console: accounts, passwords (yescrypt), sessions with their
 * expiry, login throttling, the audit log and the auth routes, on both
 * backends. argv[1]: "sqlite" or "postgres" (with-postgres.sh). */
#define TEST_STORE_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-store.c"

#include "cdb.h"
#include "console-api.h"
#include "console-auth.h"

#define MIN_US (60LL * 1000000LL)
#define PW "correct horse battery"

static const ConsoleSessionLimits lim = { .idle_us = 30 * MIN_US, .max_us = 12 * 60 * MIN_US };

static Cdb *open_cdb(Fixture *f) {
        Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        console_auth_throttle_reset();
        return db;
}

static int64_t count(Cdb *db, const char *sql) {
        int64_t n = -1;
        assert_int_equal(cdb_query_int(db, sql, NULL, 0, &n), 0);
        return n;
}

static void test_password(void **state) {
        (void) state;
        _cleanup_free_ char *h = NULL, *h2 = NULL;
        const char *why = NULL;
        assert_int_equal(console_password_hash(PW, &h), 0);
        assert_true(strncmp(h, "$y$", 3) == 0);
        assert_true(console_password_verify(PW, h));
        assert_false(console_password_verify("correct horse battery!", h));
        assert_false(console_password_verify("", h));
        /* a salt of its own each time */
        assert_int_equal(console_password_hash(PW, &h2), 0);
        assert_string_not_equal(h, h2);
        /* not a yescrypt hash: never accepted (an old DES hash would take any 8 bytes) */
        assert_false(console_password_verify(PW, "abJnggxhB/yJU"));
        assert_int_equal(console_password_check("short", &why), -EINVAL);
        assert_non_null(why);
        assert_int_equal(console_password_check("tab\there and more", NULL), -EINVAL);
        assert_int_equal(console_password_check("\xc0\x80 overlong utf8", NULL), -EINVAL);
        assert_int_equal(console_password_check("長いパスワードです", NULL), 0);
        assert_true(console_user_name_valid("hanako.sato-2"));
        assert_false(console_user_name_valid("Hanako"));
        assert_false(console_user_name_valid(""));
        assert_false(console_user_name_valid("a b"));
        char longname[CONSOLE_USER_MAX + 2];
        memset(longname, 'a', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        assert_false(console_user_name_valid(longname));
        assert_true(console_token_equal("abc", "abc"));
        assert_false(console_token_equal("abd", "abc"));
        assert_false(console_token_equal("ab", "abc"));
        assert_false(console_token_equal(NULL, "abc"));
}

static void test_users(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = open_cdb(f);
        assert_int_equal(console_user_add(db, "hanako", CONSOLE_ROLE_ADMIN, PW, T0), 0);
        assert_int_equal(console_user_add(db, "hanako", CONSOLE_ROLE_VIEWER, PW, T0), -EEXIST);
        assert_int_equal(console_user_add(db, "Bad Name", CONSOLE_ROLE_VIEWER, PW, T0), -EINVAL);
        assert_int_equal(console_user_add(db, "jiro", CONSOLE_ROLE_NONE, PW, T0), -EINVAL);
        assert_int_equal(console_user_add(db, "jiro", CONSOLE_ROLE_VIEWER, "short", T0), -EINVAL);
        assert_int_equal(console_user_add(db, "jiro", CONSOLE_ROLE_VIEWER, PW, T0), 0);
        assert_int_equal(console_user_passwd(db, "nobody", PW, T0), -ENOENT);
        assert_int_equal(console_user_set_disabled(db, "nobody", true, T0), -ENOENT);

        json_object *a = NULL;
        assert_int_equal(console_user_list(db, &a), 0);
        assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
                            "[{\"name\":\"hanako\",\"role\":\"admin\",\"disabled\":false,\"last_login\":null},"
                            "{\"name\":\"jiro\",\"role\":\"viewer\",\"disabled\":false,\"last_login\":null}]");
        json_object_put(a);
        /* the hash is stored, never the password */
        assert_int_equal(count(db, "SELECT COUNT(*) FROM users WHERE password_hash LIKE '$y$%'"), 2);
        assert_int_equal(count(db, "SELECT COUNT(*) FROM users WHERE password_hash LIKE '%horse%'"), 0);
}

static void test_login_session(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = open_cdb(f);
        ConsoleSession s = { 0 }, got = { 0 };
        char id[CONSOLE_SESSION_ID_HEX + 1];
        unsigned retry = 0;

        assert_int_equal(console_user_add(db, "hanako", CONSOLE_ROLE_REVIEWER, PW, T0), 0);
        assert_int_equal(console_login(db, &lim, "hanako", "wrong password", "192.0.2.1", T0, &s, id, &retry),
                         CONSOLE_LOGIN_BAD);
        assert_int_equal(console_login(db, &lim, "hanako", PW, "192.0.2.1", T0, &s, id, &retry), CONSOLE_LOGIN_OK);
        assert_int_equal(strlen(id), 64);
        assert_int_equal(s.role, CONSOLE_ROLE_REVIEWER);
        assert_int_equal(strlen(s.csrf), 64);
        assert_string_not_equal(s.csrf, id);
        /* the table holds the id's SHA-256, not the id */
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM sessions WHERE id_hash = '%s'", id);
        assert_int_equal(count(db, sql), 0);
        assert_int_equal(count(db, "SELECT COUNT(*) FROM sessions"), 1);
        assert_int_equal(count(db, "SELECT failed_logins FROM users"), 0); /* reset by the success */

        assert_int_equal(console_session_get(db, &lim, id, T0 + MIN_US, &got), 0);
        assert_string_equal(got.user, "hanako");
        assert_string_equal(got.csrf, s.csrf);
        assert_int_equal(got.role, CONSOLE_ROLE_REVIEWER);
        /* a flipped character, an id of another shape */
        char other[CONSOLE_SESSION_ID_HEX + 1];
        memcpy(other, id, sizeof other);
        other[0] = other[0] == 'a' ? 'b' : 'a';
        assert_int_equal(console_session_get(db, &lim, other, T0 + MIN_US, &got), -ENOENT);
        assert_int_equal(console_session_get(db, &lim, "' OR 1=1 --", T0, &got), -ENOENT);
        assert_int_equal(console_session_get(db, &lim, "", T0, &got), -ENOENT);

        /* idle: used at +29 min (last_seen moves), alive at +58, gone 31 min after that */
        assert_int_equal(console_session_get(db, &lim, id, T0 + 29 * MIN_US, &got), 0);
        assert_int_equal(console_session_get(db, &lim, id, T0 + 58 * MIN_US, &got), 0);
        assert_int_equal(console_session_get(db, &lim, id, T0 + 89 * MIN_US + 1, &got), -ENOENT);
        assert_int_equal(count(db, "SELECT COUNT(*) FROM sessions"), 0); /* deleted, not only refused */

        /* absolute: kept busy every 20 minutes, still gone after 12 hours */
        assert_int_equal(console_login(db, &lim, "hanako", PW, "192.0.2.1", T0, &s, id, &retry), CONSOLE_LOGIN_OK);
        int64_t t = T0;
        for (; t < T0 + 12 * 60 * MIN_US - 20 * MIN_US; t += 20 * MIN_US)
                assert_int_equal(console_session_get(db, &lim, id, t, &got), 0);
        assert_int_equal(console_session_get(db, &lim, id, T0 + 12 * 60 * MIN_US, &got), -ENOENT);

        /* logout */
        assert_int_equal(console_login(db, &lim, "hanako", PW, "192.0.2.1", T0, &s, id, &retry), CONSOLE_LOGIN_OK);
        assert_int_equal(console_session_delete(db, id), 0);
        assert_int_equal(console_session_get(db, &lim, id, T0, &got), -ENOENT);
        assert_int_equal(console_session_delete(db, id), -ENOENT);

        /* a new password or disabling ends the sessions */
        assert_int_equal(console_login(db, &lim, "hanako", PW, "192.0.2.1", T0, &s, id, &retry), CONSOLE_LOGIN_OK);
        assert_int_equal(console_user_passwd(db, "hanako", "another password", T0), 0);
        assert_int_equal(console_session_get(db, &lim, id, T0, &got), -ENOENT);
        assert_int_equal(console_login(db, &lim, "hanako", PW, "192.0.2.1", T0, &s, id, &retry), CONSOLE_LOGIN_BAD);
        assert_int_equal(console_login(db, &lim, "hanako", "another password", "192.0.2.1", T0, &s, id, &retry),
                         CONSOLE_LOGIN_OK);
        assert_int_equal(console_user_set_disabled(db, "hanako", true, T0), 0);
        assert_int_equal(console_session_get(db, &lim, id, T0, &got), -ENOENT);
        /* disabled: the right password is a bad login like any other */
        assert_int_equal(console_login(db, &lim, "hanako", "another password", "192.0.2.1", T0, &s, id, &retry),
                         CONSOLE_LOGIN_BAD);
        assert_int_equal(console_user_set_disabled(db, "hanako", false, T0), 0);
        assert_int_equal(console_login(db, &lim, "hanako", "another password", "192.0.2.1", T0, &s, id, &retry),
                         CONSOLE_LOGIN_OK);
}

static void test_throttle(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = open_cdb(f);
        ConsoleSession s = { 0 };
        char id[CONSOLE_SESSION_ID_HEX + 1];
        unsigned retry = 0;

        assert_int_equal(console_user_add(db, "hanako", CONSOLE_ROLE_VIEWER, PW, T0), 0);
        /* an account: locked after 5 failures in a row, even for the right password */
        for (int i = 0; i < CONSOLE_LOGIN_FAILURES; i++)
                assert_int_equal(console_login(db, &lim, "hanako", "bad password", "192.0.2.1", T0 + i, &s, id, &retry),
                                 CONSOLE_LOGIN_BAD);
        assert_int_equal(console_login(db, &lim, "hanako", PW, "192.0.2.2", T0 + 10, &s, id, &retry),
                         CONSOLE_LOGIN_THROTTLED);
        assert_int_equal(retry, CONSOLE_LOGIN_LOCK_SEC);
        /* and open again after the lock */
        int64_t later = T0 + (CONSOLE_LOGIN_LOCK_SEC + 1) * 1000000LL;
        assert_int_equal(console_login(db, &lim, "hanako", PW, "192.0.2.2", later, &s, id, &retry), CONSOLE_LOGIN_OK);

        /* a name nobody has answers exactly alike: 5 times 401, then 429 */
        for (int i = 0; i < CONSOLE_LOGIN_FAILURES; i++)
                assert_int_equal(console_login(db, &lim, "nobody", "bad password", "192.0.2.3", T0 + i, &s, id, &retry),
                                 CONSOLE_LOGIN_BAD);
        assert_int_equal(console_login(db, &lim, "nobody", PW, "192.0.2.3", T0 + 10, &s, id, &retry),
                         CONSOLE_LOGIN_THROTTLED);
        assert_int_equal(retry, CONSOLE_LOGIN_LOCK_SEC);

        /* an address: 20 failures on as many names, then even a good login from it waits */
        console_auth_throttle_reset();
        for (int i = 0; i < CONSOLE_ADDR_FAILURES; i++) {
                char name[16];
                snprintf(name, sizeof name, "guess%d", i);
                assert_int_equal(console_login(db, &lim, name, "bad password", "198.51.100.7", later, &s, id, &retry),
                                 CONSOLE_LOGIN_BAD);
        }
        assert_int_equal(console_login(db, &lim, "hanako", PW, "198.51.100.7", later, &s, id, &retry),
                         CONSOLE_LOGIN_THROTTLED);
        assert_int_equal(console_login(db, &lim, "hanako", PW, "198.51.100.8", later, &s, id, &retry), CONSOLE_LOGIN_OK);

        /* failures from 5000 other addresses do not push the locked one out */
        for (int i = 0; i < 5000; i++) {
                char addr[32];
                snprintf(addr, sizeof addr, "10.%d.%d.1", i / 250, i % 250);
                assert_int_equal(console_login(db, &lim, "Not A Name", PW, addr, later, &s, id, &retry),
                                 CONSOLE_LOGIN_BAD);
        }
        assert_int_equal(console_login(db, &lim, "hanako", PW, "198.51.100.7", later, &s, id, &retry),
                         CONSOLE_LOGIN_THROTTLED);

        /* IPv6: one /64 counts as one address */
        for (int i = 0; i < CONSOLE_ADDR_FAILURES; i++) {
                char addr[48], name[16];
                snprintf(addr, sizeof addr, "2001:db8:1:2::%x", i + 1);
                snprintf(name, sizeof name, "v6guess%d", i);
                assert_int_equal(console_login(db, &lim, name, "bad password", addr, later, &s, id, &retry),
                                 CONSOLE_LOGIN_BAD);
        }
        assert_int_equal(console_login(db, &lim, "hanako", PW, "2001:db8:1:2:ffff::9", later, &s, id, &retry),
                         CONSOLE_LOGIN_THROTTLED);
        assert_int_equal(console_login(db, &lim, "hanako", PW, "2001:db8:1:3::1", later, &s, id, &retry),
                         CONSOLE_LOGIN_OK);
}

static const ConsoleRoute *route(const char *method, const char *path) {
        for (const ConsoleRoute *r = console_routes_auth; r->method; r++)
                if (streq(r->method, method) && console_route_match(r->pattern, path))
                        return r;
        fail_msg("no route %s %s", method, path);
        return NULL;
}

static void test_routes(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = open_cdb(f);
        ConsoleReply rp = { 0 };
        assert_int_equal(console_user_add(db, "hanako", CONSOLE_ROLE_ADMIN, PW, T0), 0);

        const char *body = "{\"user\":\"hanako\",\"password\":\"" PW "\"}";
        ConsoleRequest rq = { .method = "POST",
                              .path = "/login",
                              .body = body,
                              .body_len = strlen(body),
                              .db = db,
                              .zone = "Asia/Tokyo",
                              .peer = "192.0.2.1",
                              .now_us = T0,
                              .session_idle_us = lim.idle_us,
                              .session_max_us = lim.max_us };
        const ConsoleRoute *login = route("POST", "/login");
        assert_int_equal(login->role, CONSOLE_ROLE_NONE);
        assert_int_equal(login->fn(&rq, &rp), 0);
        assert_int_equal(rp.status, 200);
        assert_true(strncmp(rp.set_cookie, "mamori_session=", 15) == 0);
        assert_non_null(strstr(rp.set_cookie, "; Secure; HttpOnly; SameSite=Strict; Path=/"));
        char id[CONSOLE_SESSION_ID_HEX + 1];
        snprintf(id, sizeof id, "%.64s", rp.set_cookie + 15);
        json_object *o = json_tokener_parse(rp.body);
        assert_non_null(o);
        assert_string_equal(json_object_get_string(json_object_object_get(o, "role")), "admin");
        assert_string_equal(json_object_get_string(json_object_object_get(o, "zone")), "Asia/Tokyo");
        json_object_put(o);
        console_reply_done(&rp);

        /* wrong password, hostile bodies */
        const char *bodies[] = { "{\"user\":\"hanako\",\"password\":\"wrong password\"}",
                                 "{\"user\":\"<script>\",\"password\":\"x\"}", "[1]", "{\"user\":1,\"password\":\"x\"}",
                                 "not json" };
        const unsigned want[] = { 401, 401, 400, 400, 400 };
        for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
                rq.body = bodies[i];
                rq.body_len = strlen(bodies[i]);
                rp = (ConsoleReply){ 0 };
                assert_int_equal(login->fn(&rq, &rp), 0);
                assert_int_equal(rp.status, want[i]);
                assert_int_equal(rp.set_cookie[0], 0);
                console_reply_done(&rp);
        }
        /* the audit: one login, two failures (the hostile name not copied) */
        assert_int_equal(count(db, "SELECT COUNT(*) FROM audit WHERE action = 'login' AND user_name = 'hanako'"), 1);
        assert_int_equal(count(db, "SELECT COUNT(*) FROM audit WHERE action = 'login_failed'"), 2);
        assert_int_equal(count(db, "SELECT COUNT(*) FROM audit WHERE target LIKE '%<%'"), 0);

        /* a formula in the log's text is neutralised in the CSV */
        ConsoleSession s = { .role = CONSOLE_ROLE_ADMIN };
        snprintf(s.user, sizeof s.user, "hanako");
        ConsoleRequest arq = { .method = "GET",
                               .path = "/audit",
                               .query = "format=csv",
                               .session = &s,
                               .db = db,
                               .zone = "Asia/Tokyo",
                               .peer = "192.0.2.1",
                               .now_us = T0 + 1 };
        assert_int_equal(console_audit(&arq, "approve", "=HYPERLINK(\"http://x\")", "{\"a\":\"-1\"}"), 0);
        assert_int_equal(console_audit(&arq, "approve",
                                       "\xEF\xBC\x9D"
                                       "1+1",
                                       NULL),
                         0);                                                                     /* ＝1+1 */
        assert_int_equal(console_audit(&arq, "approve", "\xEF\xBC\xA0SUM(A1)", NULL), 0);        /* ＠SUM(A1) */
        assert_int_equal(console_audit(&arq, "approve", "\xEF\xBC\xA1 not a formula", NULL), 0); /* Ａ */
        const ConsoleRoute *audit = route("GET", "/audit");
        assert_int_equal(audit->role, CONSOLE_ROLE_ADMIN);
        arq.now_us = T0 + 2;
        assert_int_equal(audit->fn(&arq, &rp), 0);
        assert_int_equal(rp.status, 200);
        assert_string_equal(rp.content_type, "text/csv; charset=utf-8");
        /* csv.h: a cell is quoted only when it holds , " CR or LF */
        static const char head[] = "\xEF\xBB\xBFid,at,user,action,target,detail,peer\r\n";
        assert_true(rp.len >= sizeof head - 1 && memcmp(rp.body, head, sizeof head - 1) == 0);
        assert_non_null(strstr(rp.body, ",\"'=HYPERLINK(\"\"http://x\"\")\","));
        assert_null(strstr(rp.body, ",\"=HYPERLINK"));
        assert_null(strstr(rp.body, ",=HYPERLINK"));
        assert_non_null(strstr(rp.body, ",'\xEF\xBC\x9D"
                                        "1+1,"));
        assert_null(strstr(rp.body, ",\xEF\xBC\x9D"));
        assert_non_null(strstr(rp.body, ",'\xEF\xBC\xA0SUM(A1),"));
        assert_null(strstr(rp.body, ",\xEF\xBC\xA0"));
        assert_non_null(strstr(rp.body, ",\xEF\xBC\xA1 not a formula,"));
        assert_null(strstr(rp.body, "'\xEF\xBC\xA1"));
        console_reply_done(&rp);
        /* the export itself is audited */
        assert_int_equal(count(db, "SELECT COUNT(*) FROM audit WHERE action = 'export' AND target = 'audit'"), 1);

        /* JSON, two at a time, newest first, keyset paging to the end */
        arq.query = "limit=2";
        size_t total = 0;
        int64_t last = INT64_MAX;
        char q[64];
        for (int page = 0; page < 10; page++) {
                assert_int_equal(audit->fn(&arq, &rp), 0);
                assert_int_equal(rp.status, 200);
                o = json_tokener_parse(rp.body);
                json_object *rows = json_object_object_get(o, "rows"), *next = json_object_object_get(o, "next");
                for (size_t i = 0; i < json_object_array_length(rows); i++) {
                        int64_t rid = json_object_get_int64(
                                json_object_object_get(json_object_array_get_idx(rows, i), "id"));
                        assert_true(rid < last);
                        last = rid;
                        total++;
                }
                console_reply_done(&rp);
                if (!next) {
                        json_object_put(o);
                        break;
                }
                snprintf(q, sizeof q, "limit=2&after=%s", json_object_get_string(next));
                arq.query = q;
                json_object_put(o);
        }
        assert_int_equal((int64_t) total, count(db, "SELECT COUNT(*) FROM audit"));
        arq.query = "user=hanako&action=login";
        assert_int_equal(audit->fn(&arq, &rp), 0);
        o = json_tokener_parse(rp.body);
        assert_int_equal(json_object_array_length(json_object_object_get(o, "rows")), 1);
        json_object_put(o);
        console_reply_done(&rp);
        const char *bad[] = { "limit=0", "limit=501", "after=x", "from=yesterday", "format=xml", "user=%ff" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                arq.query = bad[i];
                assert_int_equal(audit->fn(&arq, &rp), 0);
                assert_int_equal(rp.status, 400);
                console_reply_done(&rp);
        }

        /* /me and /logout */
        ConsoleSession real = { 0 };
        assert_int_equal(console_session_get(db, &lim, id, T0 + 3, &real), 0);
        ConsoleRequest mrq = { .method = "GET",
                               .path = "/me",
                               .session = &real,
                               .db = db,
                               .zone = "Asia/Tokyo",
                               .peer = "192.0.2.1",
                               .now_us = T0 + 3,
                               .session_cookie = id };
        assert_int_equal(route("GET", "/me")->fn(&mrq, &rp), 0);
        o = json_tokener_parse(rp.body);
        assert_string_equal(json_object_get_string(json_object_object_get(o, "csrf")), real.csrf);
        assert_non_null(json_object_object_get(o, "version"));
        json_object_put(o);
        console_reply_done(&rp);
        mrq.method = "POST";
        mrq.path = "/logout";
        assert_int_equal(route("POST", "/logout")->fn(&mrq, &rp), 0);
        assert_int_equal(rp.status, 200);
        assert_non_null(strstr(rp.set_cookie, "Max-Age=0"));
        console_reply_done(&rp);
        assert_int_equal(console_session_get(db, &lim, id, T0 + 4, &real), -ENOENT);
        assert_int_equal(count(db, "SELECT COUNT(*) FROM audit WHERE action = 'logout'"), 1);

        /* /users */
        assert_int_equal(route("GET", "/users")->role, CONSOLE_ROLE_ADMIN);
        assert_int_equal(route("GET", "/users")->fn(&mrq, &rp), 0);
        assert_non_null(strstr(rp.body, "\"name\":\"hanako\""));
        assert_null(strstr(rp.body, "$y$"));
        console_reply_done(&rp);
}

/* console_audit() runs inside the caller's transaction: rolled back with it. */
static void test_audit_in_transaction(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = open_cdb(f);
        ConsoleSession s = { .role = CONSOLE_ROLE_REVIEWER };
        snprintf(s.user, sizeof s.user, "jiro");
        ConsoleRequest rq = { .session = &s, .db = db, .peer = "192.0.2.9", .now_us = T0 };
        assert_int_equal(cdb_begin(db), 0);
        assert_int_equal(console_audit(&rq, "triage", "event:1", "{\"action\":\"acknowledge\"}"), 0);
        assert_int_equal(cdb_end(db, -EINVAL), -EINVAL);
        assert_int_equal(count(db, "SELECT COUNT(*) FROM audit"), 0);
        assert_int_equal(cdb_begin(db), 0);
        assert_int_equal(console_audit(&rq, "triage", "event:1", NULL), 0);
        assert_int_equal(cdb_end(db, 0), 0);
        assert_int_equal(count(db, "SELECT COUNT(*) FROM audit WHERE user_name = 'jiro' AND detail = '{}' AND "
                                   "peer = '192.0.2.9'"),
                         1);
        assert_int_equal(console_audit(&rq, NULL, NULL, NULL), -EINVAL);
}

int main(int argc, char **argv) {
        const char *backend = argc > 1 ? argv[1] : "sqlite";
        use_pg = strcmp(backend, "postgres") == 0;
        if (use_pg && !getenv("MAMORI_TEST_PG_CONNINFO")) {
                fprintf(stderr, "MAMORI_TEST_PG_CONNINFO is not set: run through tests/unit/with-postgres.sh\n");
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_password),
                cmocka_unit_test_setup_teardown(test_users, setup, teardown),
                cmocka_unit_test_setup_teardown(test_login_session, setup, teardown),
                cmocka_unit_test_setup_teardown(test_throttle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_audit_in_transaction, setup, teardown),
        };
        return cmocka_run_group_tests_name(use_pg ? "console-auth-postgres" : "console-auth-sqlite", tests, NULL, NULL);
}
