/* SPDX-License-Identifier: MIT */
#pragma once

/* The console's JSON API (issue 13), as the handlers see it: a request with
 * its session and its own database connection, a reply to fill. The HTTP
 * side (console-http.c) does TLS, the session cookie, the CSRF token, the
 * Origin check, the role check of the route and the security headers
 * before a handler runs; a handler only reads its arguments (hostile:
 * check every one) and answers. Handlers are testable without HTTP: build a
 * ConsoleRequest by hand (tests/unit/test-console-*.c). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cdb.h"

typedef enum ConsoleRole {
        CONSOLE_ROLE_NONE = 0, /* no session: only /login */
        CONSOLE_ROLE_VIEWER,   /* read */
        CONSOLE_ROLE_REVIEWER, /* + triage */
        CONSOLE_ROLE_ADMIN,    /* + users, current policy hashes, approvals */
} ConsoleRole;

const char *console_role_to_string(ConsoleRole r);
ConsoleRole console_role_from_string(const char *s); /* CONSOLE_ROLE_NONE when unknown */

#define CONSOLE_USER_MAX 64 /* bytes of a user name: [a-z0-9._-], 1..64 */

typedef struct ConsoleSession {
        char user[CONSOLE_USER_MAX + 1];
        ConsoleRole role;
        char csrf[65];
} ConsoleSession;

typedef struct ConsoleRequest {
        const char *method; /* "GET", "POST" */
        const char *path;   /* after "/api/v1": "/events", "/events/<id>/triage" */
        const char *query;  /* the raw query string without '?', or NULL */
        const char *body;   /* POST: the JSON body (at most CONSOLE_BODY_MAX), else NULL */
        size_t body_len;
        const ConsoleSession *session; /* NULL only on routes of CONSOLE_ROLE_NONE */
        Cdb *db;                       /* this thread's connection */
        const char *zone;              /* the time zone the console shows ("Asia/Tokyo") */
        const char *peer;              /* "address" of the client, for the audit log */
        int64_t now_us;
        /* Added for the auth routes (additive): the session's lifetimes from
         * collector.conf, and the cookie's value (/logout deletes it). */
        int64_t session_idle_us, session_max_us;
        const char *session_cookie; /* NULL without a session */
} ConsoleRequest;

#define CONSOLE_BODY_MAX (64 * 1024)
#define CONSOLE_PAGE_DEFAULT 50
#define CONSOLE_PAGE_MAX 500
#define CONSOLE_CSV_MAX_ROWS 100000 /* one export; more: narrow the filter */

/* The argument `name` of the query string, URL-decoded into buf; NULL when
 * absent, or when it is longer than size-1 bytes, not valid UTF-8 or holds a
 * control character (*invalid is then set, the handler answers 400). */
const char *console_arg(const ConsoleRequest *rq, const char *name, char *buf, size_t size, bool *invalid);
/* The n-th path segment after the route's prefix: for "/events/ab12/triage",
 * segment 1 is "ab12". URL-decoded into buf; NULL when absent or invalid. */
const char *console_path_segment(const ConsoleRequest *rq, size_t n, char *buf, size_t size);

typedef struct ConsoleReply {
        unsigned status;
        char content_type[64];
        char *body; /* malloc'd, owned by the reply */
        size_t len;
        char filename[128];   /* non-empty: Content-Disposition: attachment (CSV) */
        char set_cookie[256]; /* non-empty: a Set-Cookie header (login/logout only) */
} ConsoleReply;

void console_reply_done(ConsoleReply *rp); /* frees body */

/* o is taken (json_object_put). Always returns 0 or -ENOMEM. */
int console_reply_json(ConsoleReply *rp, unsigned status, json_object *o);
/* {"error":{"code":code,"message":message}} */
int console_reply_error(ConsoleReply *rp, unsigned status, const char *code, const char *message);
/* body is taken. filename: ASCII [A-Za-z0-9._-]. */
int console_reply_csv(ConsoleReply *rp, const char *filename, char *body, size_t len);

/* A time (µs since the epoch) as RFC 3339 UTC with microseconds, the API's
 * one time format: "2026-12-04T05:06:07.123456Z". NULL json for 0. */
json_object *console_json_time(int64_t us);
/* Parses the same format (or a date "2026-12-04", midnight in zone). */
int console_parse_time(const char *s, const char *zone, int64_t *ret);

/* The audit log (its own table, append-only for the console: no route
 * edits or deletes it). action: "login", "login_failed", "logout",
 * "export", "triage", "approve", "user", "settings"; target and detail
 * (a JSON object text) may be NULL. Implemented in api-auth.c. */
int console_audit(const ConsoleRequest *rq, const char *action, const char *target, const char *detail_json);

typedef int (*ConsoleHandler)(const ConsoleRequest *rq, ConsoleReply *rp);

typedef struct ConsoleRoute {
        const char *method; /* "GET" or "POST" */
        /* "/events" exact; a '*' matches one non-empty segment: "/events/<id>/triage" is "/events/" "*" "/triage" */
        const char *pattern;
        ConsoleRole role; /* the least role that may call it */
        ConsoleHandler fn;
} ConsoleRoute;

/* Each table ends with { NULL }. console-http.c tries them in this order. */
extern const ConsoleRoute console_routes_auth[];   /* api-auth.c: /login /logout /me /audit /users */
extern const ConsoleRoute console_routes_events[]; /* api-events.c: /events /findings, triage */
extern const ConsoleRoute console_routes_fleet[];  /* api-fleet.c: /overview /hosts /devices /approvals /reports */

/* Matches path against pattern (a '*' is one non-empty segment). */
bool console_route_match(const char *pattern, const char *path);
