/* SPDX-License-Identifier: MIT */
#pragma once

/* The filters of GET /events and GET /findings (docs/console-api.md): the
 * query string checked into a struct (every argument is hostile), then ONE
 * parameterised statement for cdb_exec(): the SQL text is made of fixed
 * fragments only, every value is a ?N parameter. Lists are newest first
 * with keyset paging: events on (received_at, row_id) DESC, findings on
 * id DESC; the cursor is "<received_at>.<row_id>" (events) or "<id>"
 * (findings), decimal, checked strictly (a garbled one is a 400, a forged
 * one only moves the page: it names no row the caller could not list). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdb.h"
#include "console-api.h"

#define EVENTS_LIST_MAX 8   /* kinds in one `kind=` list */
#define EVENTS_KIND_MAX 64  /* bytes of a kind: [a-z0-9._-] */
#define EVENTS_TEXT_MAX 128 /* bytes of a user, host name, department, clause */
#define EVENTS_SERIAL_MAX 256
#define EVENTS_REFS_MAX 8                                /* policy_refs a clause resolves to, for the index */
#define EVENTS_REF_MAX 256                               /* bytes of a stored policy_ref (event-check's bound) */
#define EVENTS_REFS_SCAN 1000                            /* distinct policy_refs looked at, at most */
#define EVENTS_DEFAULT_WINDOW_US (24LL * 3600 * 1000000) /* `from` absent: the last 24 h */

typedef enum TriageState {
        TRIAGE_ANY = 0, /* a filter: no condition */
        TRIAGE_NEW,     /* no triage_state row (or one saying new) */
        TRIAGE_ACKNOWLEDGED,
        TRIAGE_ASSIGNED,
        TRIAGE_RESOLVED,
        _TRIAGE_MAX,
} TriageState;

const char *triage_state_to_string(TriageState s);   /* "new", ... ; NULL for TRIAGE_ANY */
TriageState triage_state_from_string(const char *s); /* TRIAGE_ANY when unknown */

typedef struct EventsQuery {
        int64_t from_us, to_us; /* received_at in [from, to) */
        char kinds[EVENTS_LIST_MAX][EVENTS_KIND_MAX + 1];
        size_t n_kinds;
        unsigned severities;              /* bit i: store_severity_classes[i]; 0: any */
        char clause[EVENTS_TEXT_MAX + 1]; /* a prefix of the policy_ref or of a word of it; "" any */
        /* events_clause_resolve(): the stored policy_refs it matches, when
         * there are few (then the list uses the index on policy_ref) */
        bool refs_resolved;
        char refs[EVENTS_REFS_MAX][EVENTS_REF_MAX + 1];
        size_t n_refs;
        char department[EVENTS_TEXT_MAX + 1]; /* "" any */
        char machine_id[33];                  /* `host` that is a machine id */
        char host_name[EVENTS_TEXT_MAX + 1];  /* `host` that is a name */
        char user[EVENTS_TEXT_MAX + 1];
        char vendor[5], product[5]; /* lower-case hex; "" any */
        char serial[EVENTS_SERIAL_MAX + 1];
        bool has_serial;
        char bus[16]; /* a bus outside USB ("mmc"; serial: its identity); "" any */
        TriageState triage;
        unsigned limit;
        bool has_after;
        int64_t after_received, after_row;
        bool csv;
} EventsQuery;

typedef struct FindingsQuery {
        int64_t from_us, to_us; /* findings alive in [from, to): last_at >= from, first_at < to */
        int open;               /* -1 any, 1 open (closed_at IS NULL), 0 closed */
        char kinds[EVENTS_LIST_MAX][EVENTS_KIND_MAX + 1];
        size_t n_kinds;
        char machine_id[33];
        char host_name[EVENTS_TEXT_MAX + 1];
        TriageState triage; /* `state` */
        unsigned limit;
        bool has_after;
        int64_t after_id;
        bool csv;
} FindingsQuery;

/* Parses rq's query string. -EINVAL with *bad the argument's name (for the
 * 400's message). */
int events_query_parse(const ConsoleRequest *rq, EventsQuery *q, const char **bad);
int findings_query_parse(const ConsoleRequest *rq, FindingsQuery *q, const char **bad);

/* Cursors: strictly "<n>.<m>" / "<n>", n and m in 1..INT64_MAX (received_at
 * may be 0), no sign, no leading zero, nothing else. */
int events_cursor_parse(const char *s, int64_t *received_at, int64_t *row_id);
void events_cursor_format(char buf[48], int64_t received_at, int64_t row_id);

#define EVENTS_SQL_MAX 4096
#define EVENTS_PARAMS_MAX 32

typedef struct QuerySql {
        char text[EVENTS_SQL_MAX];
        CdbValue params[EVENTS_PARAMS_MAX]; /* text values point into the query struct */
        size_t n_params;
        char upper[EVENTS_TEXT_MAX + 8]; /* the clause prefix's upper bound */
        char word[EVENTS_TEXT_MAX + 8];  /* " <clause>": a word of the policy_ref */
} QuerySql;

/* The columns of an events row, in the order of the statement. */
enum {
        EV_ROW_ID,
        EV_ID,
        EV_MACHINE_ID,
        EV_HOST_NAME,
        EV_SEQ,
        EV_TIME,
        EV_RECEIVED_AT,
        EV_KIND,
        EV_SEVERITY,
        EV_POLICY_REF,
        EV_USER,
        EV_DEPARTMENT,
        EV_VENDOR,
        EV_PRODUCT,
        EV_SERIAL,
        EV_PRODUCT_NAME,
        EV_MANUFACTURER,
        EV_TRIAGE,
        EV_JSON, /* only in events_one_sql() */
};

/* Resolves q->clause to the distinct policy_refs it matches (an index skip
 * scan: one seek per distinct value, at most EVENTS_REFS_SCAN), so that the
 * list filters on equality through the (policy_ref, received_at) index and
 * a clause that matches nothing costs nothing. Leaves q->refs_resolved false
 * when there are too many (the list then filters on the text). */
int events_clause_resolve(Cdb *db, EventsQuery *q);

/* The list: at most `limit` rows (limit 0: q->limit); q must outlive sql. */
int events_query_sql(const EventsQuery *q, StoreBackend backend, size_t limit, QuerySql *sql);
/* One event by its id (the one parameter, ?1), with EV_JSON. */
const char *events_one_sql(StoreBackend backend);

enum {
        FI_ID,
        FI_MACHINE_ID,
        FI_HOST_NAME,
        FI_KIND,
        FI_SEVERITY,
        FI_STATE,
        FI_FIRST_AT,
        FI_LAST_AT,
        FI_CLOSED_AT,
        FI_COUNT,
        FI_MESSAGE,
        FI_DETAIL,
        FI_TRIAGE,
};

int findings_query_sql(const FindingsQuery *q, size_t limit, QuerySql *sql);
/* One finding by its id (?1, as an integer). */
const char *findings_one_sql(void);
