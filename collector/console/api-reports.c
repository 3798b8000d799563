/* SPDX-License-Identifier: MIT */
/* GET /reports/monthly (issue 13): a month per clause for the committee and
 * the audit (対策基準 第8-3, 第9), as JSON and as CSV. It reads the rollups
 * of schema v4 (console_daily, console_monthly), findings, hosts and
 * approvals: never a scan of events. */

#include "api-fleet.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csv.h"
#include "macro.h"

#define REPORT_TOP 10
#define REPORT_OUT_MAX 1000 /* hosts listed out of compliance */

typedef struct Month {
        int year, month;
        int64_t start_us, end_us; /* [start, end) in the console's zone */
        int64_t first_day, last_day, yyyymm;
        char iso_start[16], iso_expiring_end[16];
} Month;

static int month_parse(const char *s, int64_t now_us, Month *m) {
        int n = 0;
        if (s) {
                if (strlen(s) != 7 || sscanf(s, "%4d-%2d%n", &m->year, &m->month, &n) != 2 || n != 7 || m->month < 1 ||
                    m->month > 12 || m->year < 1970 || m->year > 9999 || s[4] != '-')
                        return -EINVAL;
        } else {
                int64_t d = fleet_day_of(now_us);
                m->year = (int) (d / 10000);
                m->month = (int) (d / 100 % 100);
        }
        struct tm a = { .tm_year = m->year - 1900, .tm_mon = m->month - 1, .tm_mday = 1, .tm_isdst = -1 };
        struct tm b = { .tm_year = m->year - 1900, .tm_mon = m->month, .tm_mday = 1, .tm_isdst = -1 };
        time_t ta = mktime(&a), tb = mktime(&b);
        if (ta == (time_t) -1 || tb == (time_t) -1)
                return -EINVAL;
        m->start_us = (int64_t) ta * 1000000;
        m->end_us = (int64_t) tb * 1000000;
        m->yyyymm = (int64_t) m->year * 100 + m->month;
        m->first_day = m->yyyymm * 100 + 1;
        m->last_day = m->yyyymm * 100 + 31;
        snprintf(m->iso_start, sizeof m->iso_start, "%04d-%02d-01", m->year, m->month);
        /* approvals "expiring": ending within the month or the 30 days after it */
        int64_t e = fleet_day_minus(m->end_us, -30);
        snprintf(m->iso_expiring_end, sizeof m->iso_expiring_end, "%04d-%02d-%02d", (int) (e / 10000),
                 (int) (e / 100 % 100), (int) (e % 100));
        return 0;
}

static int clause_row(const CdbRow *r, void *userdata) {
        json_object *clauses = userdata, *c = NULL, *by_kind = NULL, *count = NULL;
        const char *ref = cdb_row_text(r, 0) ?: "", *kind = cdb_row_text(r, 1) ?: "";
        int64_t n = cdb_row_int(r, 2);
        size_t len = json_object_array_length(clauses);
        json_object *last = len ? json_object_array_get_idx(clauses, len - 1) : NULL, *lref = NULL;
        if (last && json_object_object_get_ex(last, "policy_ref", &lref) && streq(json_object_get_string(lref), ref))
                c = last; /* rows come ordered by policy_ref */
        else {
                c = json_object_new_object();
                if (!c)
                        return -ENOMEM;
                json_object_object_add(c, "policy_ref", json_object_new_string(ref));
                json_object_object_add(c, "count", json_object_new_int64(0));
                json_object_object_add(c, "by_kind", json_object_new_object());
                json_object_array_add(clauses, c);
        }
        json_object_object_get_ex(c, "by_kind", &by_kind);
        json_object_object_add(by_kind, kind, json_object_new_int64(n));
        json_object_object_get_ex(c, "count", &count);
        json_object_set_int64(count, json_object_get_int64(count) + n);
        return 0;
}

static int top_row(const CdbRow *r, void *userdata) {
        json_object *a = userdata, *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        if (cdb_row_columns(r) == 3) {
                json_object_object_add(o, "machine_id", fleet_json_text(cdb_row_text(r, 0)));
                json_object_object_add(o, "host_name", fleet_json_text(cdb_row_text(r, 1)));
                json_object_object_add(o, "count", json_object_new_int64(cdb_row_int(r, 2)));
        } else {
                json_object_object_add(o, "user", fleet_json_text(cdb_row_text(r, 0)));
                json_object_object_add(o, "count", json_object_new_int64(cdb_row_int(r, 1)));
        }
        json_object_array_add(a, o);
        return 0;
}

static int kind_count_row(const CdbRow *r, void *userdata) {
        json_object_object_add(userdata, cdb_row_text(r, 0) ?: "", json_object_new_int64(cdb_row_int(r, 1)));
        return 0;
}

typedef struct OutCtx {
        json_object *rows, *hashes;
} OutCtx;

/* machine_id, host_name, policy_hash, fail_closed, silent, stopped, verdict, av_stale */
static int out_row(const CdbRow *r, void *userdata) {
        OutCtx *c = userdata;
        json_object *reasons = json_object_new_array();
        if (!reasons)
                return -ENOMEM;
        if (fleet_policy_is_current(c->hashes, cdb_row_text(r, 2)) == 0)
                json_object_array_add(reasons, json_object_new_string("policy_drift"));
        if (cdb_row_int(r, 3))
                json_object_array_add(reasons, json_object_new_string("fail_closed"));
        if (cdb_row_int(r, 4))
                json_object_array_add(reasons, json_object_new_string("silent"));
        if (cdb_row_int(r, 5))
                json_object_array_add(reasons, json_object_new_string("stopped"));
        if (streq_ptr(cdb_row_text(r, 6), "ng"))
                json_object_array_add(reasons, json_object_new_string("posture_ng"));
        if (cdb_row_int(r, 7))
                json_object_array_add(reasons, json_object_new_string("stale_av"));
        if (json_object_array_length(reasons) == 0 || json_object_array_length(c->rows) >= REPORT_OUT_MAX) {
                json_object_put(reasons);
                return 0;
        }
        json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(reasons);
                return -ENOMEM;
        }
        json_object_object_add(o, "machine_id", fleet_json_text(cdb_row_text(r, 0)));
        json_object_object_add(o, "host_name", fleet_json_text(cdb_row_text(r, 1)));
        json_object_object_add(o, "reasons", reasons);
        json_object_array_add(c->rows, o);
        return 0;
}

static int approval_row(const CdbRow *r, void *userdata) {
        json_object *a = userdata, *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "id", json_object_new_int64(cdb_row_int(r, 0)));
        json_object_object_add(o, "created_at", console_json_time(cdb_row_int(r, 1)));
        json_object_object_add(o, "vendor", fleet_json_text(cdb_row_text(r, 2)));
        json_object_object_add(o, "product", fleet_json_text(cdb_row_text(r, 3)));
        json_object_object_add(o, "serial", fleet_json_text(cdb_row_text(r, 4)));
        json_object_object_add(o, "any_serial", json_object_new_boolean(cdb_row_int(r, 5) != 0));
        json_object_object_add(o, "label", fleet_json_text(cdb_row_text(r, 6)));
        json_object_object_add(o, "approved_by", fleet_json_text(cdb_row_text(r, 7)));
        json_object_object_add(o, "expires", fleet_json_text(cdb_row_text(r, 8)));
        json_object_array_add(a, o);
        return 0;
}

static int report_build(const ConsoleRequest *rq, const Month *m, json_object *o) {
        int64_t r;
        char month[8];
        snprintf(month, sizeof month, "%04d-%02d", m->year, m->month);
        json_object_object_add(o, "month", json_object_new_string(month));
        json_object_object_add(o, "zone", fleet_json_text(rq->zone));

        json_object *clauses = json_object_new_array();
        if (!clauses)
                return -ENOMEM;
        json_object_object_add(o, "clauses", clauses);
        CdbValue days[] = { cdb_int(m->first_day), cdb_int(m->last_day) };
        r = cdb_exec(rq->db,
                     "SELECT policy_ref, kind, SUM(n) FROM console_daily WHERE day >= CAST(?1 AS BIGINT) "
                     "AND day <= CAST(?2 AS BIGINT) AND policy_ref <> '' GROUP BY policy_ref, kind "
                     "ORDER BY policy_ref, kind",
                     days, 2, clause_row, clauses);
        if (r < 0)
                return (int) r;
        for (size_t i = 0; i < json_object_array_length(clauses); i++) {
                json_object *c = json_object_array_get_idx(clauses, i), *ref = NULL;
                json_object_object_get_ex(c, "policy_ref", &ref);
                json_object *hosts = json_object_new_array(), *users = json_object_new_array();
                json_object_object_add(c, "top_hosts", hosts);
                json_object_object_add(c, "top_users", users);
                if (!hosts || !users)
                        return -ENOMEM;
                CdbValue p[] = { cdb_int(m->yyyymm), cdb_text(json_object_get_string(ref)), cdb_int(REPORT_TOP) };
                r = cdb_exec(rq->db,
                             "SELECT m.name, h.host_name, m.n FROM console_monthly m LEFT JOIN hosts h "
                             "ON h.machine_id = m.name WHERE m.month = CAST(?1 AS BIGINT) AND m.policy_ref = ?2 "
                             "AND m.dim = 'host' ORDER BY m.n DESC, m.name LIMIT CAST(?3 AS BIGINT)",
                             p, 3, top_row, hosts);
                if (r >= 0)
                        r = cdb_exec(rq->db,
                                     "SELECT name, n FROM console_monthly WHERE month = CAST(?1 AS BIGINT) "
                                     "AND policy_ref = ?2 AND dim = 'user' ORDER BY n DESC, name "
                                     "LIMIT CAST(?3 AS BIGINT)",
                                     p, 3, top_row, users);
                if (r < 0)
                        return (int) r;
        }

        json_object *findings = json_object_new_object(), *by_kind = json_object_new_object();
        if (!findings || !by_kind) {
                json_object_put(findings);
                json_object_put(by_kind);
                return -ENOMEM;
        }
        json_object_object_add(o, "findings", findings);
        CdbValue span[] = { cdb_int(m->start_us), cdb_int(m->end_us) };
        int64_t opened = 0, closed = 0;
        int k = cdb_query_int(rq->db,
                              "SELECT COUNT(*) FROM findings WHERE first_at >= CAST(?1 AS BIGINT) "
                              "AND first_at < CAST(?2 AS BIGINT)",
                              span, 2, &opened);
        if (k >= 0)
                k = cdb_query_int(rq->db,
                                  "SELECT COUNT(*) FROM findings WHERE closed_at >= CAST(?1 AS BIGINT) "
                                  "AND closed_at < CAST(?2 AS BIGINT)",
                                  span, 2, &closed);
        if (k < 0) {
                json_object_put(by_kind);
                return k;
        }
        json_object_object_add(findings, "opened", json_object_new_int64(opened));
        json_object_object_add(findings, "closed", json_object_new_int64(closed));
        json_object_object_add(findings, "by_kind", by_kind);
        r = cdb_exec(rq->db,
                     "SELECT kind, COUNT(*) FROM findings WHERE first_at >= CAST(?1 AS BIGINT) "
                     "AND first_at < CAST(?2 AS BIGINT) GROUP BY kind ORDER BY kind",
                     span, 2, kind_count_row, by_kind);
        if (r < 0)
                return (int) r;

        /* out of compliance: the hosts' state now (the page says so) */
        _cleanup_(json_object_putp) json_object *hashes = NULL;
        k = fleet_policy_hashes(rq->db, &hashes);
        if (k < 0)
                return k;
        OutCtx oc = { .rows = json_object_new_array(), .hashes = hashes };
        if (!oc.rows)
                return -ENOMEM;
        json_object_object_add(o, "out_of_compliance", oc.rows);
        r = cdb_exec(rq->db,
                     "SELECT h.machine_id, h.host_name, h.policy_hash, h.fail_closed, h.silent, h.stopped, "
                     "c.verdict, COALESCE(c.av_stale, 0) FROM hosts h LEFT JOIN console_hosts c "
                     "ON c.machine_id = h.machine_id ORDER BY h.machine_id",
                     NULL, 0, out_row, &oc);
        if (r < 0)
                return (int) r;

        json_object *appr = json_object_new_object(), *granted = json_object_new_array(),
                    *expiring = json_object_new_array();
        json_object_object_add(o, "approvals", appr);
        if (!appr || !granted || !expiring) {
                json_object_put(granted);
                json_object_put(expiring);
                return -ENOMEM;
        }
        json_object_object_add(appr, "granted", granted);
        json_object_object_add(appr, "expiring", expiring);
        r = cdb_exec(rq->db,
                     "SELECT id, created_at, vendor, product, serial, any_serial, label, approved_by, expires "
                     "FROM approvals WHERE created_at >= CAST(?1 AS BIGINT) AND created_at < CAST(?2 AS BIGINT) "
                     "ORDER BY id LIMIT 1000",
                     span, 2, approval_row, granted);
        if (r < 0)
                return (int) r;
        CdbValue ex[] = { cdb_text(m->iso_start), cdb_text(m->iso_expiring_end) };
        r = cdb_exec(rq->db,
                     "SELECT id, created_at, vendor, product, serial, any_serial, label, approved_by, expires "
                     "FROM approvals WHERE expires IS NOT NULL AND substr(expires, 1, 10) >= ?1 "
                     "AND substr(expires, 1, 10) < ?2 ORDER BY expires, id LIMIT 1000",
                     ex, 2, approval_row, expiring);
        return r < 0 ? (int) r : 0;
}

/* ---- CSV (csv.h: BOM, quoting, formula cells neutralised) ---- */
typedef struct ReportCsv {
        CsvBuf *buf;
        int error; /* the first failure; later rows are not written */
} ReportCsv;

static void report_csv_row(ReportCsv *f, const char *a, const char *b, const char *c, const char *d, const char *e) {
        const char *const cells[] = { a, b, c, d, e };
        if (f->error == 0)
                f->error = csv_row(f->buf, cells, ELEMENTSOF(cells));
}

static const char *str_of(json_object *o, const char *key) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !v)
                return NULL;
        return json_object_get_string(v);
}

static char *report_csv(json_object *o, size_t *len) {
        static const char *const header[] = { "section", "policy_ref", "item", "name", "value" };
        _cleanup_csv_ CsvBuf buf = {};
        ReportCsv rc = { .buf = &buf }, *f = &rc;
        json_object *v = NULL;
        if (csv_begin(&buf, header, ELEMENTSOF(header)) < 0)
                return NULL;
        json_object_object_get_ex(o, "clauses", &v);
        for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *c = json_object_array_get_idx(v, i), *bk = NULL, *a = NULL;
                const char *ref = str_of(c, "policy_ref");
                report_csv_row(f, "clause", ref, "total", "", str_of(c, "count"));
                json_object_object_get_ex(c, "by_kind", &bk);
                json_object_object_foreach(bk, kind, n)
                        report_csv_row(f, "clause", ref, "kind", kind, json_object_get_string(n));
                json_object_object_get_ex(c, "top_hosts", &a);
                for (size_t j = 0; j < json_object_array_length(a); j++) {
                        json_object *h = json_object_array_get_idx(a, j);
                        report_csv_row(f, "top_host", ref, str_of(h, "machine_id"), str_of(h, "host_name"),
                                       str_of(h, "count"));
                }
                json_object_object_get_ex(c, "top_users", &a);
                for (size_t j = 0; j < json_object_array_length(a); j++) {
                        json_object *u = json_object_array_get_idx(a, j);
                        report_csv_row(f, "top_user", ref, "", str_of(u, "user"), str_of(u, "count"));
                }
        }
        json_object *fi = NULL, *bk = NULL;
        json_object_object_get_ex(o, "findings", &fi);
        report_csv_row(f, "findings", "", "opened", "", str_of(fi, "opened"));
        report_csv_row(f, "findings", "", "closed", "", str_of(fi, "closed"));
        json_object_object_get_ex(fi, "by_kind", &bk);
        json_object_object_foreach(bk, kind, n)
                report_csv_row(f, "findings", "", "opened_kind", kind, json_object_get_string(n));
        json_object_object_get_ex(o, "out_of_compliance", &v);
        for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *h = json_object_array_get_idx(v, i), *rs = NULL;
                char reasons[256] = "";
                json_object_object_get_ex(h, "reasons", &rs);
                for (size_t j = 0; j < json_object_array_length(rs); j++) {
                        size_t l = strlen(reasons);
                        snprintf(reasons + l, sizeof reasons - l, "%s%s", j ? " " : "",
                                 json_object_get_string(json_object_array_get_idx(rs, j)));
                }
                report_csv_row(f, "out_of_compliance", "", str_of(h, "machine_id"), str_of(h, "host_name"), reasons);
        }
        json_object *ap = NULL;
        json_object_object_get_ex(o, "approvals", &ap);
        static const char *const lists[] = { "granted", "expiring" };
        for (size_t l = 0; l < 2; l++) {
                json_object_object_get_ex(ap, lists[l], &v);
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        json_object *a = json_object_array_get_idx(v, i);
                        char dev[700];
                        snprintf(dev, sizeof dev, "%s:%s:%s", str_of(a, "vendor") ?: "", str_of(a, "product") ?: "",
                                 str_of(a, "serial") ?: "*");
                        report_csv_row(f, l == 0 ? "approval_granted" : "approval_expiring", "", dev,
                                       str_of(a, "label"), str_of(a, "expires"));
                }
        }
        if (rc.error < 0)
                return NULL;
        return csv_steal(&buf, len);
}

int fleet_report_monthly(const ConsoleRequest *rq, ConsoleReply *rp) {
        char mbuf[16], fbuf[8];
        bool invalid = false;
        const char *ms = console_arg(rq, "month", mbuf, sizeof mbuf, &invalid);
        const char *fmt = console_arg(rq, "format", fbuf, sizeof fbuf, &invalid);
        Month m = { 0 };

        if (invalid || month_parse(ms, rq->now_us, &m) < 0)
                return console_reply_error(rp, 400, "bad_request", "month: YYYY-MM, e.g. 2026-11");
        if (fmt && !streq(fmt, "json") && !streq(fmt, "csv"))
                return console_reply_error(rp, 400, "bad_request", "format: json or csv");

        /* what arrived lately counts too, when it is little */
        int64_t behind = 0;
        if (console_fleet_behind(rq->db, &behind) >= 0 && behind > 0 && behind <= CONSOLE_FLEET_OVERVIEW_CATCHUP)
                (void) console_fleet_refresh(rq->db, rq->now_us, CONSOLE_FLEET_OVERVIEW_CATCHUP);

        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        int k = report_build(rq, &m, o);
        if (k < 0)
                return fleet_reply_db_error(rp, k);
        if (fmt && streq(fmt, "csv")) {
                size_t len = 0;
                char *csv = report_csv(o, &len), name[64], detail[64];
                if (!csv)
                        return -ENOMEM;
                snprintf(name, sizeof name, "mamori-report-%04d-%02d.csv", m.year, m.month);
                snprintf(detail, sizeof detail, "{\"month\":\"%04d-%02d\",\"format\":\"csv\"}", m.year, m.month);
                k = console_audit(rq, "export", "reports/monthly", detail);
                if (k < 0 && k != -EOPNOTSUPP) {
                        free(csv);
                        return fleet_reply_db_error(rp, k);
                }
                return console_reply_csv(rp, name, csv, len);
        }
        return console_reply_json(rp, 200, TAKE_PTR(o));
}
