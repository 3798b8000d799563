/* SPDX-License-Identifier: MIT */
/* The console's account routes (docs/console-api.md): /login, /logout,
 * /me, /users, /audit, and console_audit(), the append-only audit log. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-paths.h"
#include "console-api.h"
#include "console-auth.h"
#include "csv.h"
#include "log.h"
#include "macro.h"

#define COOKIE_ATTRS "; Secure; HttpOnly; SameSite=Strict; Path=/"
#define COOKIE_CLEAR "mamori_session=; Max-Age=0" COOKIE_ATTRS

int console_audit(const ConsoleRequest *rq, const char *action, const char *target, const char *detail_json) {
        /* no transaction of its own: inside the caller's, when it has one */
        CdbValue p[] = {
                cdb_int(rq->now_us), cdb_text(rq->session ? rq->session->user : ""), cdb_text(action),
                cdb_text(target),    cdb_text(detail_json ? detail_json : "{}"),     cdb_text(rq->peer ? rq->peer : ""),
        };
        if (!action)
                return -EINVAL;
        int64_t n = cdb_exec(rq->db,
                             "INSERT INTO audit (at, user_name, action, target, detail, peer) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                             p, ELEMENTSOF(p), NULL, NULL);
        return n < 0 ? (int) n : 0;
}

static json_object *session_json(const ConsoleSession *s, const char *zone) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "user", json_object_new_string(s->user));
        json_object_object_add(o, "role", json_object_new_string(console_role_to_string(s->role)));
        json_object_object_add(o, "csrf", json_object_new_string(s->csrf));
        json_object_object_add(o, "zone", json_object_new_string(zone ? zone : "UTC"));
        return o;
}

/* POST /login {"user","password"} */
static int api_login(const ConsoleRequest *rq, ConsoleReply *rp) {
        json_object *o = NULL, *u, *pw;
        ConsoleSession s = { 0 };
        char id[CONSOLE_SESSION_ID_HEX + 1] = "";
        unsigned retry = 0;
        int r;

        if (rq->body && rq->body_len <= CONSOLE_BODY_MAX)
                o = json_tokener_parse(rq->body);
        if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "user", &u) ||
            !json_object_object_get_ex(o, "password", &pw) || !json_object_is_type(u, json_type_string) ||
            !json_object_is_type(pw, json_type_string)) {
                json_object_put(o);
                return console_reply_error(rp, 400, "bad_request", "the body is {\"user\": ..., \"password\": ...}");
        }
        const char *user = json_object_get_string(u);
        ConsoleSessionLimits lim = { .idle_us = rq->session_idle_us, .max_us = rq->session_max_us };
        r = console_login(rq->db, &lim, user, json_object_get_string(pw), rq->peer, rq->now_us, &s, id, &retry);
        /* the password leaves memory with the request: json-c's copy too */
        explicit_bzero((char *) json_object_get_string(pw), (size_t) json_object_get_string_len(pw));
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        /* only a name that could be one goes into the log: the rest is an attacker's text */
        const char *target = console_user_name_valid(user) ? user : "(not a user name)";
        if (r == CONSOLE_LOGIN_THROTTLED) {
                log_info("console: login of %s from %s throttled for %us.", target, strempty(rq->peer), retry);
                json_object_put(o);
                json_object *e = json_object_new_object(), *top = json_object_new_object();
                if (!e || !top) {
                        json_object_put(e);
                        json_object_put(top);
                        return -ENOMEM;
                }
                json_object_object_add(e, "code", json_object_new_string("throttled"));
                json_object_object_add(e, "message", json_object_new_string("too many failed logins; wait"));
                json_object_object_add(e, "retry_after", json_object_new_int64(retry));
                json_object_object_add(top, "error", e);
                return console_reply_json(rp, 429, top);
        }
        if (r == CONSOLE_LOGIN_BAD) {
                log_info("console: failed login of %s from %s.", target, strempty(rq->peer));
                r = console_audit(rq, "login_failed", target, NULL);
                json_object_put(o);
                if (r < 0)
                        return r;
                return console_reply_error(rp, 401, "bad_login", "wrong user name or password");
        }
        json_object_put(o);
        ConsoleRequest as = *rq;
        as.session = &s;
        r = console_audit(&as, "login", s.user, NULL);
        if (r < 0)
                return r;
        snprintf(rp->set_cookie, sizeof rp->set_cookie, "mamori_session=%s" COOKIE_ATTRS, id);
        explicit_bzero(id, sizeof id);
        return console_reply_json(rp, 200, session_json(&s, rq->zone));
}

/* POST /logout */
static int api_logout(const ConsoleRequest *rq, ConsoleReply *rp) {
        int r = console_session_delete(rq->db, rq->session_cookie);
        if (r < 0 && r != -ENOENT)
                return r;
        r = console_audit(rq, "logout", rq->session->user, NULL);
        if (r < 0)
                return r;
        snprintf(rp->set_cookie, sizeof rp->set_cookie, "%s", COOKIE_CLEAR);
        return console_reply_json(rp, 200, json_object_new_object());
}

/* GET /me */
static int api_me(const ConsoleRequest *rq, ConsoleReply *rp) {
        json_object *o = session_json(rq->session, rq->zone);
        if (o)
                json_object_object_add(o, "version", json_object_new_string(MAMORI_VERSION));
        return console_reply_json(rp, 200, o);
}

/* GET /users (admin) */
static int api_users(const ConsoleRequest *rq, ConsoleReply *rp) {
        json_object *a = NULL;
        int r = console_user_list(rq->db, &a);
        if (r < 0)
                return r;
        return console_reply_json(rp, 200, a);
}

/* ---- GET /audit ---- */

static const char *const audit_csv_header[] = { "id", "at", "user", "action", "target", "detail", "peer" };

typedef struct AuditPage {
        json_object *rows;
        CsvBuf *csv; /* NULL: JSON */
        size_t n, limit;
        int64_t last_id;
} AuditPage;

static int audit_row(const CdbRow *r, void *userdata) {
        AuditPage *pg = userdata;
        if (pg->n++ >= pg->limit)
                return 0; /* the one past the page: there is a next page */
        pg->last_id = cdb_row_int(r, 0);
        json_object *at = console_json_time(cdb_row_int(r, 1));
        if (pg->csv) {
                char id[24];
                snprintf(id, sizeof id, "%" PRId64, pg->last_id);
                const char *cells[] = {
                        id,
                        json_object_get_string(at),
                        cdb_row_text(r, 2),
                        cdb_row_text(r, 3),
                        cdb_row_text(r, 4),
                        cdb_row_text(r, 5),
                        cdb_row_text(r, 6),
                };
                int k = csv_row(pg->csv, cells, ELEMENTSOF(cells));
                json_object_put(at);
                return k;
        }
        json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(at);
                return -ENOMEM;
        }
        json_object_object_add(o, "id", json_object_new_int64(pg->last_id));
        json_object_object_add(o, "at", at);
        json_object_object_add(o, "user", json_object_new_string(cdb_row_text(r, 2) ?: ""));
        json_object_object_add(o, "action", json_object_new_string(cdb_row_text(r, 3) ?: ""));
        json_object_object_add(o, "target", cdb_row_text(r, 4) ? json_object_new_string(cdb_row_text(r, 4)) : NULL);
        json_object *detail = json_tokener_parse(cdb_row_text(r, 5) ?: "{}");
        json_object_object_add(o, "detail", detail ? detail : json_object_new_object());
        json_object_object_add(o, "peer", json_object_new_string(cdb_row_text(r, 6) ?: ""));
        return json_object_array_add(pg->rows, o) < 0 ? -ENOMEM : 0;
}

static int api_audit(const ConsoleRequest *rq, ConsoleReply *rp) {
        char from_s[64], to_s[64], user[CONSOLE_USER_MAX + 1], action[32], after_s[24], limit_s[16], format[8];
        bool invalid = false;
        int64_t from = 0, to = 0, after = 0, limit = CONSOLE_PAGE_DEFAULT;
        const char *v;
        _cleanup_csv_ CsvBuf csv = { 0 };
        AuditPage pg = { 0 };

        if ((v = console_arg(rq, "from", from_s, sizeof from_s, &invalid)) && console_parse_time(v, rq->zone, &from) < 0)
                return console_reply_error(rp, 400, "bad_request", "from: a time or a date");
        if ((v = console_arg(rq, "to", to_s, sizeof to_s, &invalid)) && console_parse_time(v, rq->zone, &to) < 0)
                return console_reply_error(rp, 400, "bad_request", "to: a time or a date");
        const char *u = console_arg(rq, "user", user, sizeof user, &invalid);
        const char *a = console_arg(rq, "action", action, sizeof action, &invalid);
        if ((v = console_arg(rq, "after", after_s, sizeof after_s, &invalid))) {
                char *end;
                after = strtoll(v, &end, 10);
                if (*end || after <= 0)
                        return console_reply_error(rp, 400, "bad_request", "after: a cursor of this list");
        }
        if ((v = console_arg(rq, "limit", limit_s, sizeof limit_s, &invalid))) {
                char *end;
                limit = strtoll(v, &end, 10);
                if (*end || limit < 1 || limit > CONSOLE_PAGE_MAX)
                        return console_reply_error(rp, 400, "bad_request", "limit: 1 to 500");
        }
        const char *f = console_arg(rq, "format", format, sizeof format, &invalid);
        if (f && !streq(f, "csv") && !streq(f, "json"))
                return console_reply_error(rp, 400, "bad_request", "format: csv or json");
        if (invalid)
                return console_reply_error(rp, 400, "bad_request", "an argument is too long or not UTF-8 text");
        bool want_csv = f && streq(f, "csv");
        pg.limit = want_csv ? CONSOLE_CSV_MAX_ROWS : (size_t) limit;

        CdbValue p[] = {
                from ? cdb_int(from) : cdb_null(),
                to ? cdb_int(to) : cdb_null(),
                cdb_text(u),
                cdb_text(a),
                after && !want_csv ? cdb_int(after) : cdb_null(),
                cdb_int((int64_t) pg.limit + 1),
        };
        if (want_csv) {
                int r = csv_begin(&csv, audit_csv_header, ELEMENTSOF(audit_csv_header));
                if (r < 0)
                        return r;
                pg.csv = &csv;
        } else if (!(pg.rows = json_object_new_array()))
                return -ENOMEM;
        int64_t n = cdb_exec(rq->db,
                             "SELECT row_id, at, user_name, action, target, detail, peer FROM audit WHERE "
                             "(CAST(?1 AS BIGINT) IS NULL OR at >= CAST(?1 AS BIGINT)) AND "
                             "(CAST(?2 AS BIGINT) IS NULL OR at < CAST(?2 AS BIGINT)) AND "
                             "(CAST(?3 AS TEXT) IS NULL OR user_name = CAST(?3 AS TEXT)) AND "
                             "(CAST(?4 AS TEXT) IS NULL OR action = CAST(?4 AS TEXT)) AND "
                             "(CAST(?5 AS BIGINT) IS NULL OR row_id < CAST(?5 AS BIGINT)) "
                             "ORDER BY row_id DESC LIMIT CAST(?6 AS BIGINT)",
                             p, ELEMENTSOF(p), audit_row, &pg);
        if (n < 0) {
                json_object_put(pg.rows);
                /* past CSV_MAX_BYTES (the rows past CONSOLE_CSV_MAX_ROWS are cut above) */
                if (n == -E2BIG)
                        return console_reply_error(rp, 413, "too_large", "the export is too large: narrow the filter");
                return (int) n;
        }
        if (want_csv) {
                char detail[96];
                snprintf(detail, sizeof detail, "{\"list\":\"audit\",\"rows\":%zu}", MIN(pg.n, pg.limit));
                int r = console_audit(rq, "export", "audit", detail);
                if (r < 0)
                        return r;
                size_t len = 0;
                char *text = csv_steal(&csv, &len);
                return console_reply_csv(rp, "mamori-audit.csv", text, len);
        }
        json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(pg.rows);
                return -ENOMEM;
        }
        json_object_object_add(o, "rows", pg.rows);
        if (pg.n > pg.limit) {
                char next[24];
                snprintf(next, sizeof next, "%" PRId64, pg.last_id);
                json_object_object_add(o, "next", json_object_new_string(next));
        } else
                json_object_object_add(o, "next", NULL);
        return console_reply_json(rp, 200, o);
}

const ConsoleRoute console_routes_auth[] = {
        { "POST", "/login", CONSOLE_ROLE_NONE, api_login }, { "POST", "/logout", CONSOLE_ROLE_VIEWER, api_logout },
        { "GET", "/me", CONSOLE_ROLE_VIEWER, api_me },      { "GET", "/users", CONSOLE_ROLE_ADMIN, api_users },
        { "GET", "/audit", CONSOLE_ROLE_ADMIN, api_audit }, { NULL },
};
