/* SPDX-License-Identifier: MIT */
/* events-query.h: the list filters, checked, and their one statement. */

#include "events-query.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "device-bus.h"
#include "macro.h"
#include "store-schema.h"

static const char *const triage_names[_TRIAGE_MAX] = {
        [TRIAGE_NEW] = "new",
        [TRIAGE_ACKNOWLEDGED] = "acknowledged",
        [TRIAGE_ASSIGNED] = "assigned",
        [TRIAGE_RESOLVED] = "resolved",
};

const char *triage_state_to_string(TriageState s) {
        return (size_t) s < ELEMENTSOF(triage_names) ? triage_names[s] : NULL;
}

TriageState triage_state_from_string(const char *s) {
        for (size_t i = TRIAGE_NEW; s && i < ELEMENTSOF(triage_names); i++)
                if (strcmp(s, triage_names[i]) == 0)
                        return (TriageState) i;
        return TRIAGE_ANY;
}

/* ---- cursors ---- */

/* Strict decimal: 1-19 digits, no leading zero (but "0" when zero_ok). */
static int parse_decimal(const char *s, size_t len, bool zero_ok, int64_t *ret) {
        if (len == 0 || len > 19 || (s[0] == '0' && (len > 1 || !zero_ok)))
                return -EINVAL;
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        if (v > INT64_MAX)
                return -EINVAL;
        *ret = (int64_t) v;
        return 0;
}

int events_cursor_parse(const char *s, int64_t *received_at, int64_t *row_id) {
        if (!s)
                return -EINVAL;
        const char *dot = strchr(s, '.');
        if (!dot)
                return -EINVAL;
        int64_t a, b;
        if (parse_decimal(s, (size_t) (dot - s), true, &a) < 0 || parse_decimal(dot + 1, strlen(dot + 1), false, &b) < 0)
                return -EINVAL;
        *received_at = a;
        *row_id = b;
        return 0;
}

void events_cursor_format(char buf[48], int64_t received_at, int64_t row_id) {
        snprintf(buf, 48, "%" PRId64 ".%" PRId64, received_at, row_id);
}

/* ---- arguments ---- */

typedef struct Args {
        const ConsoleRequest *rq;
        const char **bad;
} Args;

/* The argument, or NULL when absent or empty (a form's empty field);
 * -EINVAL when it is there but unusable. */
static int arg(Args *a, const char *name, char *buf, size_t size, const char **ret) {
        bool invalid = false;
        const char *v = console_arg(a->rq, name, buf, size, &invalid);
        if (invalid) {
                *a->bad = name;
                return -EINVAL;
        }
        *ret = v && *v ? v : NULL;
        return 0;
}

static int fail(Args *a, const char *name) {
        *a->bad = name;
        return -EINVAL;
}

static bool is_lower_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[n] == 0;
}

static int parse_window(Args *a, int64_t default_from, int64_t *from, int64_t *to) {
        char buf[64];
        const char *v;
        int r = arg(a, "from", buf, sizeof buf, &v);
        if (r < 0)
                return r;
        *from = default_from;
        if (v && console_parse_time(v, a->rq->zone, from) < 0)
                return fail(a, "from");
        r = arg(a, "to", buf, sizeof buf, &v);
        if (r < 0)
                return r;
        *to = INT64_MAX;
        if (v && console_parse_time(v, a->rq->zone, to) < 0)
                return fail(a, "to");
        if (*from > *to)
                return fail(a, "from");
        return 0;
}

static int parse_kinds(Args *a, char kinds[][EVENTS_KIND_MAX + 1], size_t *n) {
        char buf[EVENTS_LIST_MAX * (EVENTS_KIND_MAX + 1)];
        const char *v;
        int r = arg(a, "kind", buf, sizeof buf, &v);
        if (r < 0 || !v)
                return r;
        *n = 0;
        for (const char *p = v;;) {
                size_t len = strcspn(p, ",");
                if (len == 0 || len > EVENTS_KIND_MAX || *n >= EVENTS_LIST_MAX)
                        return fail(a, "kind");
                for (size_t i = 0; i < len; i++)
                        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '_'))
                                return fail(a, "kind");
                memcpy(kinds[*n], p, len);
                kinds[(*n)++][len] = 0;
                if (!p[len])
                        break;
                p += len + 1;
        }
        return 0;
}

static int parse_host(Args *a, char machine_id[33], char host_name[EVENTS_TEXT_MAX + 1]) {
        const char *v;
        int r = arg(a, "host", host_name, EVENTS_TEXT_MAX + 1, &v);
        if (r < 0)
                return r;
        if (!v) {
                host_name[0] = 0;
                return 0;
        }
        if (strlen(v) == 32 && is_lower_hex(v, 32)) {
                memcpy(machine_id, v, 33);
                host_name[0] = 0;
        }
        return 0;
}

static int parse_triage(Args *a, const char *name, TriageState *ret) {
        char buf[32];
        const char *v;
        int r = arg(a, name, buf, sizeof buf, &v);
        if (r < 0)
                return r;
        *ret = TRIAGE_ANY;
        if (v && (*ret = triage_state_from_string(v)) == TRIAGE_ANY)
                return fail(a, name);
        return 0;
}

static int parse_limit(Args *a, unsigned *ret) {
        char buf[16];
        const char *v;
        int r = arg(a, "limit", buf, sizeof buf, &v);
        if (r < 0)
                return r;
        *ret = CONSOLE_PAGE_DEFAULT;
        int64_t n;
        if (v && (parse_decimal(v, strlen(v), false, &n) < 0 || n > CONSOLE_PAGE_MAX))
                return fail(a, "limit");
        if (v)
                *ret = (unsigned) n;
        return 0;
}

static int parse_format(Args *a, bool *csv) {
        char buf[16];
        const char *v;
        int r = arg(a, "format", buf, sizeof buf, &v);
        if (r < 0)
                return r;
        if (v && strcmp(v, "csv") != 0 && strcmp(v, "json") != 0)
                return fail(a, "format");
        *csv = v && strcmp(v, "csv") == 0;
        return 0;
}

/* A plain text filter: 1..max bytes (console_arg already refused controls
 * and bad UTF-8). */
static int parse_text(Args *a, const char *name, char *out, size_t size) {
        const char *v;
        int r = arg(a, name, out, size, &v);
        if (r < 0)
                return r;
        if (!v)
                out[0] = 0;
        return 0;
}

int events_query_parse(const ConsoleRequest *rq, EventsQuery *q, const char **bad) {
        Args a = { .rq = rq, .bad = bad };
        *q = (EventsQuery){ 0 };
        int r = parse_window(&a, rq->now_us - EVENTS_DEFAULT_WINDOW_US, &q->from_us, &q->to_us);
        if (r >= 0)
                r = parse_kinds(&a, q->kinds, &q->n_kinds);
        if (r < 0)
                return r;

        char buf[256];
        const char *v;
        r = arg(&a, "severity", buf, sizeof buf, &v);
        if (r < 0)
                return r;
        for (const char *p = v; p;) {
                size_t len = strcspn(p, ",");
                size_t i = 0;
                for (; i < ELEMENTSOF(store_severity_classes); i++)
                        if (strlen(store_severity_classes[i]) == len && memcmp(p, store_severity_classes[i], len) == 0)
                                break;
                if (i == ELEMENTSOF(store_severity_classes))
                        return fail(&a, "severity");
                q->severities |= 1u << i;
                p = p[len] ? p + len + 1 : NULL;
        }

        if ((r = parse_text(&a, "clause", q->clause, sizeof q->clause)) < 0 ||
            (r = parse_text(&a, "department", q->department, sizeof q->department)) < 0 ||
            (r = parse_text(&a, "user", q->user, sizeof q->user)) < 0 ||
            (r = parse_host(&a, q->machine_id, q->host_name)) < 0 || (r = parse_triage(&a, "triage", &q->triage)) < 0 ||
            (r = parse_limit(&a, &q->limit)) < 0 || (r = parse_format(&a, &q->csv)) < 0)
                return r;

        /* device: vendor:product[:serial], the ids 4 hex digits */
        char dev[16 + EVENTS_SERIAL_MAX];
        r = arg(&a, "device", dev, sizeof dev, &v);
        if (r < 0)
                return r;
        /* or a bus outside USB, bus[:identity] (event-check.c keys it so) */
        const char *bus = NULL;
        for (DeviceBus b = DEVICE_BUS_USB + 1; v && !bus && b < _DEVICE_BUS_MAX; b++) {
                size_t n = strlen(device_bus_to_string(b));
                if (strncmp(v, device_bus_to_string(b), n) == 0 && (v[n] == 0 || v[n] == ':'))
                        bus = device_bus_to_string(b);
        }
        if (bus) {
                size_t n = strlen(bus);
                memcpy(q->bus, bus, n + 1);
                if (v[n] == ':') {
                        size_t m = strlen(v + n + 1);
                        if (m == 0 || m > EVENTS_SERIAL_MAX)
                                return fail(&a, "device");
                        memcpy(q->serial, v + n + 1, m + 1);
                        q->has_serial = true;
                }
        } else if (v) {
                if (strlen(v) < 9 || v[4] != ':' || (v[9] != 0 && v[9] != ':'))
                        return fail(&a, "device");
                for (size_t i = 0; i < 9; i++)
                        if (i != 4 && !((v[i] >= '0' && v[i] <= '9') || ((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'f')))
                                return fail(&a, "device");
                for (size_t i = 0; i < 4; i++) {
                        q->vendor[i] = (char) (v[i] >= 'A' && v[i] <= 'F' ? v[i] | 0x20 : v[i]);
                        q->product[i] = (char) (v[5 + i] >= 'A' && v[5 + i] <= 'F' ? v[5 + i] | 0x20 : v[5 + i]);
                }
                if (v[9] == ':') {
                        size_t n = strlen(v + 10);
                        if (n == 0 || n > EVENTS_SERIAL_MAX)
                                return fail(&a, "device");
                        memcpy(q->serial, v + 10, n + 1);
                        q->has_serial = true;
                }
        }

        r = arg(&a, "after", buf, sizeof buf, &v);
        if (r < 0)
                return r;
        if (v) {
                if (events_cursor_parse(v, &q->after_received, &q->after_row) < 0)
                        return fail(&a, "after");
                q->has_after = true;
        }
        return 0;
}

int findings_query_parse(const ConsoleRequest *rq, FindingsQuery *q, const char **bad) {
        Args a = { .rq = rq, .bad = bad };
        *q = (FindingsQuery){ .open = -1 };
        int r = parse_window(&a, 0, &q->from_us, &q->to_us);
        if (r >= 0)
                r = parse_kinds(&a, q->kinds, &q->n_kinds);
        if (r >= 0)
                r = parse_host(&a, q->machine_id, q->host_name);
        if (r >= 0)
                r = parse_triage(&a, "state", &q->triage);
        if (r >= 0)
                r = parse_limit(&a, &q->limit);
        if (r >= 0)
                r = parse_format(&a, &q->csv);
        if (r < 0)
                return r;
        char buf[32];
        const char *v;
        r = arg(&a, "open", buf, sizeof buf, &v);
        if (r < 0)
                return r;
        if (v) {
                if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0)
                        return fail(&a, "open");
                q->open = v[0] == '1';
        }
        r = arg(&a, "after", buf, sizeof buf, &v);
        if (r < 0)
                return r;
        if (v) {
                if (parse_decimal(v, strlen(v), false, &q->after_id) < 0)
                        return fail(&a, "after");
                q->has_after = true;
        }
        return 0;
}

/* ---- the statement ---- */

typedef struct Builder {
        QuerySql *sql;
        size_t len;
        bool overflow;
} Builder;

_printf_(2, 3) static void put(Builder *b, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = sizeof b->sql->text - b->len;
        int n = vsnprintf(b->sql->text + b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= room)
                b->overflow = true;
        else
                b->len += (size_t) n;
}

/* Adds a parameter; its number, for "?%zu". */
static size_t param(Builder *b, CdbValue v) {
        if (b->sql->n_params >= EVENTS_PARAMS_MAX) {
                b->overflow = true;
                return 1;
        }
        b->sql->params[b->sql->n_params++] = v;
        return b->sql->n_params;
}

static void put_in_list(Builder *b, const char *column, const char *const *values, size_t n) {
        put(b, " AND %s IN (", column);
        for (size_t i = 0; i < n; i++)
                put(b, "%s?%zu", i ? ", " : "", param(b, cdb_text(values[i])));
        put(b, ")");
}

typedef struct Resolve {
        EventsQuery *q;
        size_t seen;
} Resolve;

static int resolve_row(const CdbRow *r, void *userdata) {
        Resolve *st = userdata;
        st->seen++;
        if (cdb_row_int(r, 1) != 1)
                return 0;
        const char *ref = cdb_row_text(r, 0);
        if (!ref || st->q->n_refs >= EVENTS_REFS_MAX || strlen(ref) > EVENTS_REF_MAX)
                return -E2BIG;
        memcpy(st->q->refs[st->q->n_refs++], ref, strlen(ref) + 1);
        return 0;
}

int events_clause_resolve(Cdb *db, EventsQuery *q) {
        q->refs_resolved = false;
        q->n_refs = 0;
        if (!q->clause[0])
                return 0;
        bool pg = cdb_backend(db) == STORE_POSTGRES;
        char upper[EVENTS_TEXT_MAX + 8], word[EVENTS_TEXT_MAX + 8];
        snprintf(upper, sizeof upper, "%s\xf4\x8f\xbf\xbf", q->clause);
        snprintf(word, sizeof word, " %s", q->clause);
        /* A loose index scan: each step seeks the next distinct value. */
        const char *sql = pg ? "WITH RECURSIVE refs(r, n) AS ("
                               "SELECT (SELECT MIN(policy_ref COLLATE \"C\") FROM events), 1 UNION ALL "
                               "SELECT (SELECT MIN(policy_ref COLLATE \"C\") FROM events WHERE policy_ref COLLATE \"C\" > "
                               "refs.r COLLATE \"C\"), n + 1 FROM refs WHERE refs.r IS NOT NULL AND n <= ?4) "
                               "SELECT r, CASE WHEN (r COLLATE \"C\" >= ?1 AND r COLLATE \"C\" < ?2) OR strpos(r, ?3) > 0 "
                               "THEN 1 ELSE 0 END FROM refs WHERE r IS NOT NULL"
                             : "WITH RECURSIVE refs(r, n) AS ("
                               "SELECT (SELECT MIN(policy_ref) FROM events), 1 UNION ALL "
                               "SELECT (SELECT MIN(policy_ref) FROM events WHERE policy_ref > refs.r), n + 1 "
                               "FROM refs WHERE refs.r IS NOT NULL AND n <= ?4) "
                               "SELECT r, (r >= ?1 AND r < ?2) OR instr(r, ?3) > 0 FROM refs WHERE r IS NOT NULL";
        Resolve st = { .q = q };
        int64_t r = cdb_exec(db, sql,
                             (CdbValue[]){ cdb_text(q->clause), cdb_text(upper), cdb_text(word),
                                           cdb_int(EVENTS_REFS_SCAN) },
                             4, resolve_row, &st);
        if (r == -E2BIG || (r >= 0 && st.seen > EVENTS_REFS_SCAN)) {
                q->n_refs = 0; /* too many: the list filters on the text */
                return 0;
        }
        if (r < 0)
                return (int) r;
        q->refs_resolved = true;
        return 0;
}

/* The columns every events row has, from e (events), h (hosts), ts. */
static const char events_columns_sqlite[] =
        "e.row_id, e.id, e.machine_id, h.host_name, e.seq, e.time, e.received_at, e.kind, e.severity, "
        "e.policy_ref, e.user_name, e.department, e.device_vendor, e.device_product, e.device_serial, "
        "json_extract(e.json, '$.device.product'), json_extract(e.json, '$.device.manufacturer'), ts.state";
/* PostgreSQL: the inner query carries the page's columns out (a join back
 * by row_id would probe every monthly partition; the planner hashes all of
 * events instead), the outer one parses the JSON of the page's rows only. */
static const char events_columns_inner_postgres[] =
        "e.row_id, e.id, e.machine_id, e.seq, e.time, e.received_at, e.kind, e.severity, e.policy_ref, e.user_name, "
        "e.department, e.device_vendor, e.device_product, e.device_serial, e.json";
static const char events_columns_outer_postgres[] =
        "k.row_id, k.id, k.machine_id, h.host_name, k.seq, k.time, k.received_at, k.kind, k.severity, "
        "k.policy_ref, k.user_name, k.department, k.device_vendor, k.device_product, k.device_serial, "
        "x.d ->> 'product', x.d ->> 'manufacturer', ts.state";

int events_query_sql(const EventsQuery *q, StoreBackend backend, size_t limit, QuerySql *sql) {
        bool pg = backend == STORE_POSTGRES;
        *sql = (QuerySql){ 0 };
        Builder b = { .sql = sql };
        /* The inner query filters, sorts and cuts on cheap columns and the
         * indexes; the outer one fetches the page's columns (and parses the
         * JSON) for the rows of the page only. */
        if (pg)
                put(&b, "SELECT %s FROM (SELECT %s FROM events e", events_columns_outer_postgres,
                    events_columns_inner_postgres);
        else
                put(&b, "SELECT %s FROM (SELECT e.row_id AS rid, e.received_at AS rat FROM events e",
                    events_columns_sqlite);
        if (q->triage != TRIAGE_ANY)
                put(&b, " LEFT JOIN triage_state ts ON ts.target = 'event' AND ts.target_id = e.id");
        size_t from = param(&b, cdb_int(q->from_us)), to = param(&b, cdb_int(q->to_us));
        put(&b, " WHERE e.received_at >= ?%zu AND e.received_at < ?%zu", from, to);
        if (q->n_kinds > 0) {
                const char *k[EVENTS_LIST_MAX];
                for (size_t i = 0; i < q->n_kinds; i++)
                        k[i] = q->kinds[i];
                put_in_list(&b, "e.kind", k, q->n_kinds);
        }
        if (q->severities) {
                const char *s[ELEMENTSOF(store_severity_classes)];
                size_t n = 0;
                for (size_t i = 0; i < ELEMENTSOF(store_severity_classes); i++)
                        if (q->severities & (1u << i))
                                s[n++] = store_severity_classes[i];
                put_in_list(&b, "e.severity", s, n);
        }
        if (q->clause[0] && q->refs_resolved) {
                /* resolved: equality on the index; none resolved (a clause
                 * that matches nothing) is answered without a query */
                put(&b, " AND %s IN (", pg ? "e.policy_ref COLLATE \"C\"" : "e.policy_ref");
                for (size_t i = 0; i < q->n_refs; i++)
                        put(&b, "%s?%zu", i ? ", " : "", param(&b, cdb_text(q->refs[i])));
                put(&b, "%s)", q->n_refs ? "" : "NULL");
        } else if (q->clause[0]) {
                /* The clause begins the policy_ref ("対策基準 第3-6" for
                 * "対策"), or one of its words ("第3" too). The prefix is a
                 * range: every text that begins with it sorts before it +
                 * U+10FFFF (byte order: PostgreSQL's "C" collation,
                 * SQLite's BINARY). A clause is shared by many events: the
                 * planner walks the time index and filters. */
                snprintf(sql->upper, sizeof sql->upper, "%s\xf4\x8f\xbf\xbf", q->clause);
                snprintf(sql->word, sizeof sql->word, " %s", q->clause);
                size_t lo = param(&b, cdb_text(q->clause)), hi = param(&b, cdb_text(sql->upper)),
                       word = param(&b, cdb_text(sql->word));
                const char *col = pg ? "e.policy_ref COLLATE \"C\"" : "e.policy_ref";
                put(&b, " AND (%s >= ?%zu AND %s < ?%zu OR %s(e.policy_ref, ?%zu) > 0)", col, lo, col, hi,
                    pg ? "strpos" : "instr", word);
        }
        if (q->department[0])
                put(&b, " AND e.department = ?%zu", param(&b, cdb_text(q->department)));
        if (q->machine_id[0])
                put(&b, " AND e.machine_id = ?%zu", param(&b, cdb_text(q->machine_id)));
        else if (q->host_name[0])
                put(&b, " AND e.machine_id IN (SELECT machine_id FROM hosts WHERE host_name = ?%zu)",
                    param(&b, cdb_text(q->host_name)));
        if (q->user[0])
                put(&b, " AND e.user_name = ?%zu", param(&b, cdb_text(q->user)));
        if (q->vendor[0]) {
                size_t v = param(&b, cdb_text(q->vendor)), p = param(&b, cdb_text(q->product));
                put(&b, " AND e.device_vendor = ?%zu AND e.device_product = ?%zu", v, p);
                if (q->has_serial)
                        put(&b, " AND e.device_serial = ?%zu", param(&b, cdb_text(q->serial)));
        } else if (q->bus[0]) {
                put(&b, " AND e.device_vendor = ?%zu AND e.device_product IS NULL", param(&b, cdb_text(q->bus)));
                if (q->has_serial)
                        put(&b, " AND e.device_serial = ?%zu", param(&b, cdb_text(q->serial)));
        }
        if (q->triage == TRIAGE_NEW)
                put(&b, " AND (ts.state IS NULL OR ts.state = 'new')");
        else if (q->triage != TRIAGE_ANY)
                put(&b, " AND ts.state = ?%zu", param(&b, cdb_text(triage_state_to_string(q->triage))));
        if (q->has_after) {
                /* (received_at, row_id) < cursor, written so that both
                 * planners see the bound on received_at */
                size_t at = param(&b, cdb_int(q->after_received)), row = param(&b, cdb_int(q->after_row));
                put(&b, " AND e.received_at <= ?%zu AND (e.received_at < ?%zu OR e.row_id < ?%zu)", at, at, row);
        }
        size_t lim = param(&b, cdb_int((int64_t) (limit ?: q->limit)));
        put(&b, " ORDER BY e.received_at DESC, e.row_id DESC LIMIT ?%zu) k", lim);
        if (pg)
                put(&b, " CROSS JOIN LATERAL (SELECT k.json::jsonb -> 'device' AS d) x" /* one parse per row */
                        " LEFT JOIN hosts h ON h.machine_id = k.machine_id"
                        " LEFT JOIN triage_state ts ON ts.target = 'event' AND ts.target_id = k.id"
                        " ORDER BY k.received_at DESC, k.row_id DESC");
        else
                put(&b, " JOIN events e ON e.row_id = k.rid"
                        " LEFT JOIN hosts h ON h.machine_id = e.machine_id"
                        " LEFT JOIN triage_state ts ON ts.target = 'event' AND ts.target_id = e.id"
                        " ORDER BY k.rat DESC, k.rid DESC");
        return b.overflow ? -E2BIG : 0;
}

const char *events_one_sql(StoreBackend backend) {
        if (backend == STORE_POSTGRES)
                return "SELECT e.row_id, e.id, e.machine_id, h.host_name, e.seq, e.time, e.received_at, e.kind, "
                       "e.severity, e.policy_ref, e.user_name, e.department, e.device_vendor, e.device_product, "
                       "e.device_serial, (e.json::json -> 'device') ->> 'product', "
                       "(e.json::json -> 'device') ->> 'manufacturer', ts.state, e.json "
                       "FROM events e LEFT JOIN hosts h ON h.machine_id = e.machine_id "
                       "LEFT JOIN triage_state ts ON ts.target = 'event' AND ts.target_id = e.id WHERE e.id = ?1";
        return "SELECT e.row_id, e.id, e.machine_id, h.host_name, e.seq, e.time, e.received_at, e.kind, "
               "e.severity, e.policy_ref, e.user_name, e.department, e.device_vendor, e.device_product, "
               "e.device_serial, json_extract(e.json, '$.device.product'), "
               "json_extract(e.json, '$.device.manufacturer'), ts.state, e.json "
               "FROM events e LEFT JOIN hosts h ON h.machine_id = e.machine_id "
               "LEFT JOIN triage_state ts ON ts.target = 'event' AND ts.target_id = e.id WHERE e.id = ?1";
}

#define FINDINGS_COLUMNS \
        "f.id, f.machine_id, h.host_name, f.kind, f.severity, f.state, f.first_at, f.last_at, f.closed_at, f.count, " \
        "f.message, f.detail, ts.state FROM findings f LEFT JOIN hosts h ON h.machine_id = f.machine_id " \
        "LEFT JOIN triage_state ts ON ts.target = 'finding' AND ts.target_id = CAST(f.id AS TEXT)"

int findings_query_sql(const FindingsQuery *q, size_t limit, QuerySql *sql) {
        *sql = (QuerySql){ 0 };
        Builder b = { .sql = sql };
        size_t from = param(&b, cdb_int(q->from_us)), to = param(&b, cdb_int(q->to_us));
        put(&b, "SELECT " FINDINGS_COLUMNS " WHERE f.last_at >= ?%zu AND f.first_at < ?%zu", from, to);
        if (q->open == 1)
                put(&b, " AND f.closed_at IS NULL");
        else if (q->open == 0)
                put(&b, " AND f.closed_at IS NOT NULL");
        if (q->n_kinds > 0) {
                const char *k[EVENTS_LIST_MAX];
                for (size_t i = 0; i < q->n_kinds; i++)
                        k[i] = q->kinds[i];
                put_in_list(&b, "f.kind", k, q->n_kinds);
        }
        if (q->machine_id[0])
                put(&b, " AND f.machine_id = ?%zu", param(&b, cdb_text(q->machine_id)));
        else if (q->host_name[0])
                put(&b, " AND f.machine_id IN (SELECT machine_id FROM hosts WHERE host_name = ?%zu)",
                    param(&b, cdb_text(q->host_name)));
        if (q->triage == TRIAGE_NEW)
                put(&b, " AND (ts.state IS NULL OR ts.state = 'new')");
        else if (q->triage != TRIAGE_ANY)
                put(&b, " AND ts.state = ?%zu", param(&b, cdb_text(triage_state_to_string(q->triage))));
        if (q->has_after)
                put(&b, " AND f.id < ?%zu", param(&b, cdb_int(q->after_id)));
        put(&b, " ORDER BY f.id DESC LIMIT ?%zu", param(&b, cdb_int((int64_t) (limit ?: q->limit))));
        return b.overflow ? -E2BIG : 0;
}

const char *findings_one_sql(void) {
        return "SELECT " FINDINGS_COLUMNS " WHERE f.id = CAST(?1 AS BIGINT)";
}
