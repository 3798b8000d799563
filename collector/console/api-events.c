/* SPDX-License-Identifier: MIT */
/* The console's events and findings (issue 13): GET /events (JSON, CSV),
 * GET /events/{id}, GET /findings, GET /findings/{id}, and their triage
 * (docs/console-api.md). Device strings are attacker-controlled: they leave
 * only as JSON strings (json-c escapes them) or as neutralised CSV cells;
 * nothing here builds HTML. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console-api.h"
#include "csv.h"
#include "device-bus.h"
#include "events-query.h"
#include "log.h"
#include "macro.h"
#include "text.h"

#define SUMMARY_NAME_MAX 80 /* bytes of a device name in a summary */
#define COMMENT_MAX 2000
#define TRIAGE_LOG_MAX 200 /* log rows in one answer */

/* ---- small helpers ---- */

static json_object *jstr(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

static void add(json_object *o, const char *key, json_object *v) {
        json_object_object_add(o, key, v);
}

/* A database error as the API's answer: busy or unreachable is a 503
 * (try again), anything else a 500. */
static int reply_db_error(ConsoleReply *rp, int r) {
        if (r == -EBUSY || r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EAGAIN)
                return console_reply_error(rp, 503, "busy", "the database is busy, try again");
        if (r == -ENOMEM)
                return r;
        return console_reply_error(rp, 500, "internal", "database error");
}

static int reply_bad(ConsoleReply *rp, const char *what, const char *why) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s: %s", what, why);
        return console_reply_error(rp, 400, "bad_request", msg);
}

static void format_time(int64_t us, char buf[64]) {
        buf[0] = 0;
        if (us == 0)
                return;
        time_t t = (time_t) (us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
        long frac = (long) (us - (int64_t) t * 1000000);
        struct tm tm;
        if (gmtime_r(&t, &tm))
                snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* Appends at most max bytes of s, cut at a character boundary. */
static void append_bounded(char *buf, size_t size, const char *s, size_t max) {
        size_t used = strlen(buf), n = 0, len = strlen(s);
        while (n < len) {
                size_t k = utf8_sequence_len((const unsigned char *) s + n, len - n);
                if (k == 0 || n + k > max || used + n + k + 1 > size)
                        break;
                n += k;
        }
        memcpy(buf + used, s, n);
        buf[used + n] = 0;
}

/* "usb.blocked: SanDisk Ultra (0781:5581)", "device.blocked: mmc SU08G
 * (manfid=0x000003 ...)": the kind and the device's names, short, for a list. */
#define SUMMARY_IDENTITY_MAX 120

/* A device outside USB: event-check.c put its bus in the vendor column
 * and left product NULL. */
static bool row_other_bus(const CdbRow *r) {
        const char *vendor = cdb_row_text(r, EV_VENDOR);
        if (!vendor || !cdb_row_is_null(r, EV_PRODUCT))
                return false;
        for (DeviceBus b = DEVICE_BUS_USB + 1; b < _DEVICE_BUS_MAX; b++)
                if (streq(vendor, device_bus_to_string(b)))
                        return true;
        return false;
}
static void event_summary(const CdbRow *r, char *buf, size_t size) {
        const char *kind = cdb_row_text(r, EV_KIND) ?: "";
        const char *man = cdb_row_text(r, EV_MANUFACTURER), *prod = cdb_row_text(r, EV_PRODUCT_NAME);
        const char *vendor = cdb_row_text(r, EV_VENDOR), *product = cdb_row_text(r, EV_PRODUCT);
        buf[0] = 0;
        append_bounded(buf, size, kind, EVENTS_KIND_MAX);
        if (!man && !prod && !vendor)
                return;
        append_bounded(buf, size, ":", 1);
        bool other = row_other_bus(r);
        if (other) { /* outside USB: the bus first */
                append_bounded(buf, size, " ", 1);
                append_bounded(buf, size, vendor, 16);
        }
        if (man && *man) {
                append_bounded(buf, size, " ", 1);
                append_bounded(buf, size, man, SUMMARY_NAME_MAX);
        }
        if (prod && *prod) {
                append_bounded(buf, size, " ", 1);
                append_bounded(buf, size, prod, SUMMARY_NAME_MAX);
        }
        if (vendor && product) {
                char ids[32];
                snprintf(ids, sizeof ids, " (%.4s:%.4s)", vendor, product);
                append_bounded(buf, size, ids, sizeof ids);
        } else if (other) {
                /* a device outside USB (event-check.c): its identity */
                const char *identity = cdb_row_text(r, EV_SERIAL);
                if (identity && *identity) {
                        append_bounded(buf, size, " (", 2);
                        append_bounded(buf, size, identity, SUMMARY_IDENTITY_MAX);
                        append_bounded(buf, size, ")", 1);
                }
        }
}

static const char *triage_of(const CdbRow *r, size_t col) {
        const char *s = cdb_row_text(r, col);
        return s && triage_state_from_string(s) != TRIAGE_ANY ? s : "new";
}

static json_object *event_row_json(const CdbRow *r) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        add(o, "id", jstr(cdb_row_text(r, EV_ID)));
        add(o, "machine_id", jstr(cdb_row_text(r, EV_MACHINE_ID)));
        add(o, "host_name", jstr(cdb_row_text(r, EV_HOST_NAME)));
        add(o, "seq", json_object_new_int64(cdb_row_int(r, EV_SEQ)));
        add(o, "time", console_json_time(cdb_row_int(r, EV_TIME)));
        add(o, "received_at", console_json_time(cdb_row_int(r, EV_RECEIVED_AT)));
        add(o, "kind", jstr(cdb_row_text(r, EV_KIND)));
        add(o, "severity", jstr(cdb_row_text(r, EV_SEVERITY)));
        add(o, "policy_ref", jstr(cdb_row_text(r, EV_POLICY_REF)));
        add(o, "user", jstr(cdb_row_text(r, EV_USER)));
        add(o, "department", jstr(cdb_row_text(r, EV_DEPARTMENT)));
        if (cdb_row_is_null(r, EV_VENDOR))
                add(o, "device", NULL);
        else {
                json_object *d = json_object_new_object();
                if (d) {
                        /* outside USB: the bus in the vendor column, NULL product (event-check.c) */
                        bool usb = !row_other_bus(r);
                        add(d, "bus", jstr(usb ? "usb" : cdb_row_text(r, EV_VENDOR)));
                        add(d, "vendor", usb ? jstr(cdb_row_text(r, EV_VENDOR)) : NULL);
                        add(d, "product", usb ? jstr(cdb_row_text(r, EV_PRODUCT)) : NULL);
                        add(d, "serial", usb ? jstr(cdb_row_text(r, EV_SERIAL)) : NULL);
                        add(d, "identity", usb ? NULL : jstr(cdb_row_text(r, EV_SERIAL)));
                        add(d, "product_name", jstr(cdb_row_text(r, EV_PRODUCT_NAME)));
                        add(d, "manufacturer", jstr(cdb_row_text(r, EV_MANUFACTURER)));
                }
                add(o, "device", d);
        }
        char summary[256];
        event_summary(r, summary, sizeof summary);
        add(o, "summary", json_object_new_string(summary));
        add(o, "triage", json_object_new_string(triage_of(r, EV_TRIAGE)));
        return o;
}

/* ---- lists: JSON or CSV ---- */

typedef struct ListState {
        json_object *rows; /* JSON */
        CsvBuf *csv;       /* CSV */
        size_t n, limit;   /* rows given to the answer, at most limit */
        bool more;         /* a row past limit exists */
        char next[48];     /* the cursor of the last row given */
        bool events;       /* events (else findings) */
} ListState;

static const char *const events_csv_header[] = {
        "id",      "received_at", "time",         "host_name",    "machine_id", "seq",
        "kind",    "severity",    "policy_ref",   "user",         "department", "vendor",
        "product", "serial",      "product_name", "manufacturer", "summary",    "triage",
};

static int events_csv_row(const CdbRow *r, CsvBuf *csv) {
        char received[64], when[64], seq[24], summary[256];
        format_time(cdb_row_int(r, EV_RECEIVED_AT), received);
        format_time(cdb_row_int(r, EV_TIME), when);
        snprintf(seq, sizeof seq, "%" PRId64, cdb_row_int(r, EV_SEQ));
        event_summary(r, summary, sizeof summary);
        const char *cells[] = {
                cdb_row_text(r, EV_ID),
                received,
                when,
                cdb_row_text(r, EV_HOST_NAME),
                cdb_row_text(r, EV_MACHINE_ID),
                seq,
                cdb_row_text(r, EV_KIND),
                cdb_row_text(r, EV_SEVERITY),
                cdb_row_text(r, EV_POLICY_REF),
                cdb_row_text(r, EV_USER),
                cdb_row_text(r, EV_DEPARTMENT),
                cdb_row_text(r, EV_VENDOR),
                cdb_row_text(r, EV_PRODUCT),
                cdb_row_text(r, EV_SERIAL),
                cdb_row_text(r, EV_PRODUCT_NAME),
                cdb_row_text(r, EV_MANUFACTURER),
                summary,
                triage_of(r, EV_TRIAGE),
        };
        return csv_row(csv, cells, ELEMENTSOF(cells));
}

static json_object *finding_row_json(const CdbRow *r, bool with_detail);

static const char *const findings_csv_header[] = {
        "id",    "machine_id", "host_name", "kind",  "severity", "state",
        "first", "last",       "closed_at", "count", "summary",  "triage",
};

static int findings_csv_row(const CdbRow *r, CsvBuf *csv) {
        char first[64], last[64], closed[64], id[24], count[24];
        format_time(cdb_row_int(r, FI_FIRST_AT), first);
        format_time(cdb_row_int(r, FI_LAST_AT), last);
        format_time(cdb_row_int(r, FI_CLOSED_AT), closed);
        snprintf(id, sizeof id, "%" PRId64, cdb_row_int(r, FI_ID));
        snprintf(count, sizeof count, "%" PRId64, cdb_row_int(r, FI_COUNT));
        const char *cells[] = {
                id,
                cdb_row_text(r, FI_MACHINE_ID),
                cdb_row_text(r, FI_HOST_NAME),
                cdb_row_text(r, FI_KIND),
                cdb_row_text(r, FI_SEVERITY),
                cdb_row_text(r, FI_STATE),
                first,
                last,
                closed,
                count,
                cdb_row_text(r, FI_MESSAGE),
                triage_of(r, FI_TRIAGE),
        };
        return csv_row(csv, cells, ELEMENTSOF(cells));
}

static int list_row(const CdbRow *r, void *userdata) {
        ListState *s = userdata;
        if (s->n >= s->limit) {
                s->more = true;
                return -ECANCELED;
        }
        int k;
        if (s->csv)
                k = s->events ? events_csv_row(r, s->csv) : findings_csv_row(r, s->csv);
        else {
                json_object *o = s->events ? event_row_json(r) : finding_row_json(r, false);
                k = o ? json_object_array_add(s->rows, o) : -ENOMEM;
                if (k != 0) {
                        json_object_put(o);
                        k = -ENOMEM;
                }
        }
        if (k < 0)
                return k;
        s->n++;
        if (s->events)
                events_cursor_format(s->next, cdb_row_int(r, EV_RECEIVED_AT), cdb_row_int(r, EV_ROW_ID));
        else
                snprintf(s->next, sizeof s->next, "%" PRId64, cdb_row_int(r, FI_ID));
        return 0;
}

/* Runs the list's statement and answers it. */
static int answer_list(const ConsoleRequest *rq, ConsoleReply *rp, const QuerySql *sql, bool events, bool csv,
                       size_t limit, const char *audit_detail) {
        _cleanup_csv_ CsvBuf buf = { 0 };
        ListState s = { .limit = limit, .events = events };
        if (csv) {
                int r = events ? csv_begin(&buf, events_csv_header, ELEMENTSOF(events_csv_header))
                               : csv_begin(&buf, findings_csv_header, ELEMENTSOF(findings_csv_header));
                if (r < 0)
                        return r;
                s.csv = &buf;
        } else if (!(s.rows = json_object_new_array()))
                return -ENOMEM;

        int64_t r = cdb_exec(rq->db, sql->text, sql->params, sql->n_params, list_row, &s);
        if (r < 0 && r != -ECANCELED) {
                json_object_put(s.rows);
                if (r == -E2BIG)
                        return console_reply_error(rp, 413, "too_large", "the export is too large: narrow the filter");
                return reply_db_error(rp, (int) r);
        }
        if (csv) {
                if (s.more)
                        return console_reply_error(rp, 413, "too_large", "more than 100000 rows: narrow the filter");
                /* The export is audited before it leaves; an audit log that
                 * cannot record it stops it (but for the stub of a build
                 * without the auth slice). */
                int k = console_audit(rq, "export", events ? "events" : "findings", audit_detail);
                if (k < 0 && k != -EOPNOTSUPP)
                        return reply_db_error(rp, k);
                size_t len = 0;
                char *text = csv_steal(&buf, &len);
                return console_reply_csv(rp, events ? "events.csv" : "findings.csv", text, len);
        }
        json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(s.rows);
                return -ENOMEM;
        }
        add(o, "rows", s.rows);
        add(o, "next", s.more ? json_object_new_string(s.next) : NULL);
        return console_reply_json(rp, 200, o);
}

/* What an export was, for the audit log: the query string, as JSON. */
static char *export_detail(const ConsoleRequest *rq) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        add(o, "query", json_object_new_string(rq->query ?: ""));
        char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return s;
}

static int events_list(const ConsoleRequest *rq, ConsoleReply *rp) {
        EventsQuery q;
        const char *bad = NULL;
        if (events_query_parse(rq, &q, &bad) < 0)
                return reply_bad(rp, bad ?: "query", "invalid value");
        int r = events_clause_resolve(rq->db, &q);
        if (r < 0)
                return reply_db_error(rp, r);
        size_t limit = q.csv ? CONSOLE_CSV_MAX_ROWS : q.limit;
        QuerySql sql;
        r = events_query_sql(&q, cdb_backend(rq->db), limit + 1, &sql);
        if (r < 0)
                return reply_bad(rp, "query", "too many filters");
        _cleanup_free_ char *detail = q.csv ? export_detail(rq) : NULL;
        return answer_list(rq, rp, &sql, true, q.csv, limit, detail);
}

static int findings_list(const ConsoleRequest *rq, ConsoleReply *rp) {
        FindingsQuery q;
        const char *bad = NULL;
        if (findings_query_parse(rq, &q, &bad) < 0)
                return reply_bad(rp, bad ?: "query", "invalid value");
        size_t limit = q.csv ? CONSOLE_CSV_MAX_ROWS : q.limit;
        QuerySql sql;
        int r = findings_query_sql(&q, limit + 1, &sql);
        if (r < 0)
                return reply_bad(rp, "query", "too many filters");
        _cleanup_free_ char *detail = q.csv ? export_detail(rq) : NULL;
        return answer_list(rq, rp, &sql, false, q.csv, limit, detail);
}

/* ---- one item: the row, its triage and log ---- */

static json_object *finding_row_json(const CdbRow *r, bool with_detail) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        add(o, "id", json_object_new_int64(cdb_row_int(r, FI_ID)));
        add(o, "machine_id", jstr(cdb_row_text(r, FI_MACHINE_ID)));
        add(o, "host_name", jstr(cdb_row_text(r, FI_HOST_NAME)));
        add(o, "kind", jstr(cdb_row_text(r, FI_KIND)));
        add(o, "severity", jstr(cdb_row_text(r, FI_SEVERITY)));
        add(o, "state", jstr(cdb_row_text(r, FI_STATE)));
        add(o, "open", json_object_new_boolean(cdb_row_is_null(r, FI_CLOSED_AT)));
        add(o, "first", console_json_time(cdb_row_int(r, FI_FIRST_AT)));
        add(o, "last", console_json_time(cdb_row_int(r, FI_LAST_AT)));
        add(o, "closed_at", cdb_row_is_null(r, FI_CLOSED_AT) ? NULL : console_json_time(cdb_row_int(r, FI_CLOSED_AT)));
        add(o, "count", json_object_new_int64(cdb_row_int(r, FI_COUNT)));
        const char *msg = cdb_row_text(r, FI_MESSAGE);
        add(o, "message", jstr(msg));
        add(o, "summary", jstr(msg && *msg ? msg : cdb_row_text(r, FI_KIND)));
        if (with_detail) {
                const char *d = cdb_row_text(r, FI_DETAIL);
                add(o, "detail", d ? json_tokener_parse(d) : NULL);
        }
        add(o, "triage", json_object_new_string(triage_of(r, FI_TRIAGE)));
        return o;
}

typedef struct Item {
        json_object *row;
        json_object *json; /* events: the stored object */
        bool events;
} Item;

static int item_row(const CdbRow *r, void *userdata) {
        Item *it = userdata;
        if (it->row)
                return 0;
        it->row = it->events ? event_row_json(r) : finding_row_json(r, true);
        if (!it->row)
                return -ENOMEM;
        if (it->events) {
                const char *j = cdb_row_text(r, EV_JSON);
                it->json = j ? json_tokener_parse(j) : NULL; /* NULL: not JSON (never stored so) */
        }
        return 0;
}

typedef struct Triage {
        TriageState state;
        char assignee[CONSOLE_USER_MAX + 1];
        bool has_assignee;
        int64_t updated_at;
        char updated_by[CONSOLE_USER_MAX + 1];
        bool found;
} Triage;

static int triage_row(const CdbRow *r, void *userdata) {
        Triage *t = userdata;
        t->found = true;
        t->state = triage_state_from_string(cdb_row_text(r, 0));
        if (t->state == TRIAGE_ANY)
                t->state = TRIAGE_NEW;
        const char *a = cdb_row_text(r, 1);
        t->has_assignee = a != NULL;
        snprintf(t->assignee, sizeof t->assignee, "%s", a ?: "");
        t->updated_at = cdb_row_int(r, 2);
        snprintf(t->updated_by, sizeof t->updated_by, "%s", cdb_row_text(r, 3) ?: "");
        return 0;
}

static int triage_read(Cdb *db, const char *target, const char *id, bool lock, Triage *t) {
        *t = (Triage){ .state = TRIAGE_NEW };
        const char *sql = lock && cdb_backend(db) == STORE_POSTGRES
                                  ? "SELECT state, assignee, updated_at, updated_by FROM triage_state "
                                    "WHERE target = ?1 AND target_id = ?2 FOR UPDATE"
                                  : "SELECT state, assignee, updated_at, updated_by FROM triage_state "
                                    "WHERE target = ?1 AND target_id = ?2";
        int64_t r = cdb_exec(db, sql, (CdbValue[]){ cdb_text(target), cdb_text(id) }, 2, triage_row, t);
        return r < 0 ? (int) r : 0;
}

static json_object *triage_json(const Triage *t) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        add(o, "state", json_object_new_string(triage_state_to_string(t->state)));
        add(o, "assignee", t->has_assignee ? json_object_new_string(t->assignee) : NULL);
        add(o, "updated_at", t->found ? console_json_time(t->updated_at) : NULL);
        add(o, "updated_by", t->found ? json_object_new_string(t->updated_by) : NULL);
        return o;
}

static int log_row(const CdbRow *r, void *userdata) {
        json_object *a = userdata, *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        add(o, "at", console_json_time(cdb_row_int(r, 0)));
        add(o, "user", jstr(cdb_row_text(r, 1)));
        add(o, "action", jstr(cdb_row_text(r, 2)));
        add(o, "state", jstr(cdb_row_text(r, 3)));
        add(o, "assignee", jstr(cdb_row_text(r, 4)));
        add(o, "comment", jstr(cdb_row_text(r, 5)));
        if (json_object_array_add(a, o) != 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        return 0;
}

/* The log, oldest first (the order it happened in). */
static int triage_log_json(Cdb *db, const char *target, const char *id, json_object **ret) {
        json_object *a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        int64_t r = cdb_exec(db,
                             "SELECT at, user_name, action, state, assignee, comment FROM triage_log "
                             "WHERE target = ?1 AND target_id = ?2 ORDER BY at, row_id LIMIT ?3",
                             (CdbValue[]){ cdb_text(target), cdb_text(id), cdb_int(TRIAGE_LOG_MAX) }, 3, log_row, a);
        if (r < 0) {
                json_object_put(a);
                return (int) r;
        }
        *ret = a;
        return 0;
}

/* An event id is a lower-case UUID, as the store keeps it. */
static bool event_id_valid(const char *s) {
        if (strlen(s) != 36)
                return false;
        for (size_t i = 0; i < 36; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        }
        return true;
}

/* A finding id: decimal, 1..INT64_MAX, no sign, no leading zero. */
static bool finding_id_valid(const char *s) {
        int64_t a, b;
        char buf[48];
        /* the events cursor's strict parser, on "0.<id>" */
        if (strlen(s) > 19)
                return false;
        snprintf(buf, sizeof buf, "0.%s", s);
        return events_cursor_parse(buf, &a, &b) == 0;
}

/* The item's id from the path ("/events/<id>..."): 400 when malformed. */
static int item_id(const ConsoleRequest *rq, bool events, char *buf, size_t size) {
        if (!console_path_segment(rq, 1, buf, size))
                return -EINVAL;
        return (events ? event_id_valid(buf) : finding_id_valid(buf)) ? 0 : -EINVAL;
}

static int item_get(const ConsoleRequest *rq, ConsoleReply *rp, bool events) {
        char id[64];
        if (item_id(rq, events, id, sizeof id) < 0)
                return reply_bad(rp, "id", events ? "not an event id" : "not a finding id");
        const char *target = events ? "event" : "finding";
        Item it = { .events = events };
        int64_t r = cdb_exec(rq->db, events ? events_one_sql(cdb_backend(rq->db)) : findings_one_sql(),
                             (CdbValue[]){ cdb_text(id) }, 1, item_row, &it);
        Triage t = { .state = TRIAGE_NEW };
        json_object *log = NULL;
        if (r >= 0 && it.row)
                r = triage_read(rq->db, target, id, false, &t);
        if (r >= 0 && it.row)
                r = triage_log_json(rq->db, target, id, &log);
        if (r < 0 || !it.row) {
                json_object_put(it.row);
                json_object_put(it.json);
                if (r < 0)
                        return reply_db_error(rp, (int) r);
                return console_reply_error(rp, 404, "not_found", events ? "no such event" : "no such finding");
        }
        json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(it.row);
                json_object_put(it.json);
                json_object_put(log);
                return -ENOMEM;
        }
        add(o, events ? "event" : "finding", it.row);
        if (events)
                add(o, "json", it.json);
        add(o, "triage", triage_json(&t));
        add(o, "log", log);
        return console_reply_json(rp, 200, o);
}

static int event_get(const ConsoleRequest *rq, ConsoleReply *rp) {
        return item_get(rq, rp, true);
}

static int finding_get(const ConsoleRequest *rq, ConsoleReply *rp) {
        return item_get(rq, rp, false);
}

/* ---- triage ---- */

typedef enum TriageAction {
        ACTION_ACKNOWLEDGE,
        ACTION_ASSIGN,
        ACTION_COMMENT,
        ACTION_RESOLVE,
        ACTION_REOPEN,
        _ACTION_MAX,
} TriageAction;

static const char *const action_names[_ACTION_MAX] = {
        [ACTION_ACKNOWLEDGE] = "acknowledge", [ACTION_ASSIGN] = "assign", [ACTION_COMMENT] = "comment",
        [ACTION_RESOLVE] = "resolve",         [ACTION_REOPEN] = "reopen",
};

/* The state machine (docs/console-api.md, "Triage"): the state after
 * action from `from`, or TRIAGE_ANY when the action does not apply (409). */
static TriageState triage_next(TriageAction a, const Triage *t) {
        switch (a) {
        case ACTION_ACKNOWLEDGE:
                return t->state == TRIAGE_NEW ? TRIAGE_ACKNOWLEDGED : TRIAGE_ANY;
        case ACTION_ASSIGN:
                return t->state == TRIAGE_RESOLVED ? TRIAGE_ANY : TRIAGE_ASSIGNED;
        case ACTION_COMMENT:
                return t->state;
        case ACTION_RESOLVE:
                return t->state == TRIAGE_RESOLVED ? TRIAGE_ANY : TRIAGE_RESOLVED;
        case ACTION_REOPEN:
                if (t->state != TRIAGE_RESOLVED)
                        return TRIAGE_ANY;
                return t->has_assignee ? TRIAGE_ASSIGNED : TRIAGE_ACKNOWLEDGED;
        default:
                return TRIAGE_ANY;
        }
}

static bool user_name_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > CONSOLE_USER_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
                      s[i] == '-'))
                        return false;
        return true;
}

/* At most COMMENT_MAX bytes of UTF-8, no control character but newline. */
static bool comment_valid(const char *s, size_t n) {
        if (n > COMMENT_MAX || strlen(s) != n)
                return false;
        for (size_t i = 0; i < n;) {
                const unsigned char *u = (const unsigned char *) s + i;
                if ((*u < 0x20 && *u != '\n') || *u == 0x7f)
                        return false;
                size_t k = utf8_sequence_len(u, n - i);
                if (k == 0)
                        return false;
                if (k == 2 && u[0] == 0xc2 && u[1] < 0xa0) /* C1 controls */
                        return false;
                i += k;
        }
        return true;
}

typedef struct TriageBody {
        TriageAction action;
        const char *assignee; /* borrowed from the parsed body */
        const char *comment;
} TriageBody;

/* Parses the body; *why names what is wrong (400). */
static int triage_body_parse(const ConsoleRequest *rq, json_object **ret, TriageBody *b, const char **why) {
        *why = "body: not a JSON object";
        if (!rq->body || rq->body_len == 0 || rq->body_len > CONSOLE_BODY_MAX)
                return -EINVAL;
        json_tokener *tok = json_tokener_new_ex(8);
        if (!tok)
                return -ENOMEM;
        json_object *o = json_tokener_parse_ex(tok, rq->body, (int) rq->body_len);
        bool whole = json_tokener_get_error(tok) == json_tokener_success &&
                     json_tokener_get_parse_end(tok) == rq->body_len;
        json_tokener_free(tok);
        if (!o || !whole || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EINVAL;
        }
        *ret = o;
        *b = (TriageBody){ .action = _ACTION_MAX };
        json_object_object_foreach(o, key, val) {
                if (strcmp(key, "action") == 0 && json_object_is_type(val, json_type_string)) {
                        for (size_t i = 0; i < _ACTION_MAX; i++)
                                if (strcmp(json_object_get_string(val), action_names[i]) == 0)
                                        b->action = (TriageAction) i;
                } else if (strcmp(key, "assignee") == 0 && json_object_is_type(val, json_type_string)) {
                        b->assignee = json_object_get_string(val);
                        if (!user_name_valid(b->assignee)) {
                                *why = "assignee: not a user name";
                                return -EINVAL;
                        }
                } else if (strcmp(key, "comment") == 0 && json_object_is_type(val, json_type_string)) {
                        b->comment = json_object_get_string(val);
                        if (!comment_valid(b->comment, (size_t) json_object_get_string_len(val))) {
                                *why = "comment: at most 2000 bytes of text";
                                return -EINVAL;
                        }
                } else if (!json_object_is_type(val, json_type_null)) {
                        *why = "body: an unknown or mistyped member";
                        return -EINVAL;
                }
        }
        if (b->action == _ACTION_MAX) {
                *why = "action: acknowledge, assign, comment, resolve or reopen";
                return -EINVAL;
        }
        if (b->action == ACTION_ASSIGN && !b->assignee) {
                *why = "assignee: needed to assign";
                return -EINVAL;
        }
        if (b->action != ACTION_ASSIGN && b->assignee) {
                *why = "assignee: only with assign";
                return -EINVAL;
        }
        if (b->action == ACTION_COMMENT && (!b->comment || !*b->comment)) {
                *why = "comment: needed to comment";
                return -EINVAL;
        }
        return 0;
}

/* Inside the transaction: the item, the assignee, the state, the writes.
 * Positive returns are HTTP statuses to answer (404, 400, 409). */
static int triage_apply(const ConsoleRequest *rq, bool events, const char *id, const TriageBody *b, Triage *t) {
        const char *target = events ? "event" : "finding";
        int64_t n = 0;
        int r = cdb_query_int(rq->db,
                              events ? "SELECT 1 FROM events WHERE id = ?1"
                                     : "SELECT 1 FROM findings WHERE id = CAST(?1 AS BIGINT)",
                              (CdbValue[]){ cdb_text(id) }, 1, &n);
        if (r == -ENOENT)
                return 404;
        if (r < 0)
                return r;
        if (b->assignee) {
                r = cdb_query_int(rq->db, "SELECT 1 FROM users WHERE name = ?1 AND disabled = 0",
                                  (CdbValue[]){ cdb_text(b->assignee) }, 1, &n);
                if (r == -ENOENT)
                        return 400;
                if (r < 0)
                        return r;
        }
        r = triage_read(rq->db, target, id, true, t);
        if (r < 0)
                return r;
        TriageState next = triage_next(b->action, t);
        if (next == TRIAGE_ANY)
                return 409;
        const char *user = rq->session ? rq->session->user : "";
        if (b->action == ACTION_ASSIGN) {
                snprintf(t->assignee, sizeof t->assignee, "%s", b->assignee);
                t->has_assignee = true;
        }
        /* A comment on an item nobody triaged yet leaves it new: only
         * the log records it. */
        if (next != TRIAGE_NEW || t->found) {
                int64_t k =
                        cdb_exec(rq->db,
                                 "INSERT INTO triage_state (target, target_id, state, assignee, updated_at, updated_by) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (target, target_id) DO UPDATE SET "
                                 "state = excluded.state, assignee = excluded.assignee, updated_at = excluded.updated_at, "
                                 "updated_by = excluded.updated_by",
                                 (CdbValue[]){ cdb_text(target), cdb_text(id), cdb_text(triage_state_to_string(next)),
                                               t->has_assignee ? cdb_text(t->assignee) : cdb_null(),
                                               cdb_int(rq->now_us), cdb_text(user) },
                                 6, NULL, NULL);
                if (k < 0)
                        return (int) k;
                t->found = true;
                t->updated_at = rq->now_us;
                snprintf(t->updated_by, sizeof t->updated_by, "%s", user);
        }
        t->state = next;
        int64_t k = cdb_exec(rq->db,
                             "INSERT INTO triage_log (target, target_id, at, user_name, action, state, assignee, "
                             "comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                             (CdbValue[]){ cdb_text(target), cdb_text(id), cdb_int(rq->now_us), cdb_text(user),
                                           cdb_text(action_names[b->action]), cdb_text(triage_state_to_string(next)),
                                           b->assignee ? cdb_text(b->assignee) : cdb_null(), cdb_text(b->comment ?: "") },
                             8, NULL, NULL);
        if (k < 0)
                return (int) k;

        json_object *d = json_object_new_object();
        if (!d)
                return -ENOMEM;
        add(d, "action", json_object_new_string(action_names[b->action]));
        add(d, "state", json_object_new_string(triage_state_to_string(next)));
        if (b->assignee)
                add(d, "assignee", json_object_new_string(b->assignee));
        char what[96];
        snprintf(what, sizeof what, "%s:%s", target, id);
        r = console_audit(rq, "triage", what, json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
        json_object_put(d);
        if (r < 0 && r != -EOPNOTSUPP) /* the stub of a build without the auth slice */
                return r;
        return 0;
}

static int item_triage(const ConsoleRequest *rq, ConsoleReply *rp, bool events) {
        char id[64];
        if (item_id(rq, events, id, sizeof id) < 0)
                return reply_bad(rp, "id", events ? "not an event id" : "not a finding id");
        json_object *body = NULL;
        TriageBody b;
        const char *why = NULL;
        int r = triage_body_parse(rq, &body, &b, &why);
        if (r < 0) {
                json_object_put(body);
                return r == -ENOMEM ? r : console_reply_error(rp, 400, "bad_request", why);
        }
        Triage t = { .state = TRIAGE_NEW };
        r = cdb_begin(rq->db);
        if (r >= 0) {
                int k = triage_apply(rq, events, id, &b, &t);
                /* a status to answer (k > 0): roll back what there is */
                r = cdb_end(rq->db, k > 0 ? -ECANCELED : k);
                if (k > 0)
                        r = k;
        }
        json_object_put(body);
        if (r == 404)
                return console_reply_error(rp, 404, "not_found", events ? "no such event" : "no such finding");
        if (r == 400)
                return console_reply_error(rp, 400, "bad_request", "assignee: no such user");
        if (r == 409)
                return console_reply_error(rp, 409, "conflict", "this action does not apply in the current state");
        if (r < 0)
                return reply_db_error(rp, r);
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        add(o, "triage", triage_json(&t));
        return console_reply_json(rp, 200, o);
}

static int event_triage(const ConsoleRequest *rq, ConsoleReply *rp) {
        return item_triage(rq, rp, true);
}

static int finding_triage(const ConsoleRequest *rq, ConsoleReply *rp) {
        return item_triage(rq, rp, false);
}

const ConsoleRoute console_routes_events[] = {
        { "GET", "/events", CONSOLE_ROLE_VIEWER, events_list },
        { "GET", "/events/*", CONSOLE_ROLE_VIEWER, event_get },
        { "POST", "/events/*/triage", CONSOLE_ROLE_REVIEWER, event_triage },
        { "GET", "/findings", CONSOLE_ROLE_VIEWER, findings_list },
        { "GET", "/findings/*", CONSOLE_ROLE_VIEWER, finding_get },
        { "POST", "/findings/*/triage", CONSOLE_ROLE_REVIEWER, finding_triage },
        { NULL },
};
