/* SPDX-License-Identifier: MIT */
/* collector/console/events-query.c: an arbitrary query string is parsed
 * (GET /events and GET /findings) without harm, and the statement built
 * from it never holds a value: the same filters with every value replaced
 * give the very same SQL text (values are ?N parameters only). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events-query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void blank(char *s) {
        if (*s)
                strcpy(s, "x");
}

static void check_events(const ConsoleRequest *rq) {
        EventsQuery q;
        const char *bad = NULL;
        if (events_query_parse(rq, &q, &bad) < 0) {
                if (!bad)
                        abort(); /* a refusal names the argument */
                return;
        }
        if (q.limit < 1 || q.limit > CONSOLE_PAGE_MAX || q.n_kinds > EVENTS_LIST_MAX || q.from_us > q.to_us)
                abort();
        /* resolved and not, as events_clause_resolve() may leave it */
        for (int resolved = 0; resolved < 2; resolved++) {
                q.refs_resolved = resolved && q.clause[0];
                q.n_refs = q.refs_resolved ? 1 : 0;
                strcpy(q.refs[0], "ref");
                EventsQuery o = q;
                for (size_t i = 0; i < o.n_kinds; i++)
                        blank(o.kinds[i]);
                blank(o.clause);
                blank(o.department);
                blank(o.machine_id);
                blank(o.host_name);
                blank(o.user);
                blank(o.serial);
                blank(o.refs[0]);
                if (o.vendor[0])
                        strcpy(o.vendor, "0000"), strcpy(o.product, "0000");
                o.from_us = o.to_us = 1;
                o.after_received = o.after_row = 1;
                for (int pg = 0; pg < 2; pg++) {
                        QuerySql a, b;
                        StoreBackend be = pg ? STORE_POSTGRES : STORE_SQLITE;
                        if (events_query_sql(&q, be, 0, &a) < 0 || events_query_sql(&o, be, 0, &b) < 0)
                                abort();
                        if (strcmp(a.text, b.text) != 0 || a.n_params != b.n_params)
                                abort();
                }
        }
}

static void check_findings(const ConsoleRequest *rq) {
        FindingsQuery q;
        const char *bad = NULL;
        if (findings_query_parse(rq, &q, &bad) < 0) {
                if (!bad)
                        abort();
                return;
        }
        FindingsQuery o = q;
        for (size_t i = 0; i < o.n_kinds; i++)
                blank(o.kinds[i]);
        blank(o.machine_id);
        blank(o.host_name);
        o.from_us = o.to_us = o.after_id = 1;
        QuerySql a, b;
        if (findings_query_sql(&q, 0, &a) < 0 || findings_query_sql(&o, 0, &b) < 0)
                abort();
        if (strcmp(a.text, b.text) != 0 || a.n_params != b.n_params)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool tz_set = false;
        if (!tz_set) {
                setenv("TZ", "JST-9", 1);
                tz_set = true;
        }
        char *query = malloc(size + 1);
        if (!query)
                return 0;
        memcpy(query, data, size);
        query[size] = 0;
        ConsoleRequest rq = { .query = query, .zone = "Asia/Tokyo", .now_us = INT64_C(1796346000000000) };
        check_events(&rq);
        check_findings(&rq);
        free(query);
        return 0;
}
