/* SPDX-License-Identifier: MIT */
/* The console's fleet slice (issue 13): the rollups of schema v4 and
 * /overview, /hosts, /devices, /approvals, /settings/policy-hashes. The
 * overview reads only rollups and small tables, never events: with 10^7
 * events it must answer within a few hundred milliseconds. */

#include "api-fleet.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allow-entry.h"
#include "config.h"
#include "csv.h"
#include "device-bus.h"
#include "macro.h"
#include "store-schema.h"
#include "text.h"
#include "timeutil.h"

/* ---- shared helpers ---- */

static void local_tm(int64_t t_us, struct tm *tm) {
        time_t t = (time_t) (t_us >= 0 ? t_us / 1000000 : (t_us - 999999) / 1000000);
        localtime_r(&t, tm);
}

int64_t fleet_day_of(int64_t t_us) {
        struct tm tm;
        local_tm(t_us, &tm);
        return (int64_t) (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

int64_t fleet_day_minus(int64_t t_us, int n) {
        struct tm tm;
        local_tm(t_us, &tm);
        /* noon: a day that lacks or repeats an hour still normalises right */
        struct tm d = {
                .tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday - n, .tm_hour = 12, .tm_isdst = -1
        };
        time_t t = mktime(&d);
        if (t == (time_t) -1)
                return 0;
        return (int64_t) (d.tm_year + 1900) * 10000 + (d.tm_mon + 1) * 100 + d.tm_mday;
}

json_object *fleet_json_text(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

int fleet_reply_db_error(ConsoleReply *rp, int r) {
        if (r == -ENOMEM)
                return r;
        if (r == -EBUSY || r == -ECONNREFUSED)
                return console_reply_error(rp, 503, "busy", "the database is busy; try again");
        return console_reply_error(rp, 500, "internal", "database error");
}

static int first_text(const CdbRow *r, void *userdata) {
        char **out = userdata;
        const char *t = cdb_row_text(r, 0);
        if (t && !*out) {
                *out = strdup(t);
                if (!*out)
                        return -ENOMEM;
        }
        return 0;
}

int fleet_policy_hashes(Cdb *db, json_object **ret) {
        _cleanup_free_ char *text = NULL;
        int64_t r = cdb_exec(db, "SELECT value FROM settings WHERE key = 'policy_hashes'", NULL, 0, first_text, &text);
        if (r < 0)
                return (int) r;
        json_object *o = text ? json_tokener_parse(text) : NULL;
        if (!json_object_is_type(o, json_type_array)) {
                json_object_put(o);
                o = json_object_new_array();
                if (!o)
                        return -ENOMEM;
        }
        *ret = o;
        return 0;
}

int fleet_policy_is_current(json_object *hashes, const char *hash) {
        size_t n = hashes ? json_object_array_length(hashes) : 0;
        if (n == 0)
                return -1;
        for (size_t i = 0; hash && i < n; i++) {
                json_object *h = NULL;
                if (json_object_object_get_ex(json_object_array_get_idx(hashes, i), "hash", &h) &&
                    streq(json_object_get_string(h), hash))
                        return 1;
        }
        return 0;
}

static bool is_hex(const char *s, size_t n) {
        return s && strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* Free text an admin typed: one line of clean UTF-8 (no control, bidi or
 * invisible code point), 1..max bytes. */
static bool is_clean_line(const char *s, size_t max) {
        size_t n = s ? strlen(s) : 0;
        return n > 0 && n <= max && text_is_clean(s, n) && !strpbrk(s, "\r\n");
}

static int reply_bad(ConsoleReply *rp, const char *field, const char *why) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s", field, why);
        return console_reply_error(rp, 400, "bad_request", msg);
}

static int arg_limit(const ConsoleRequest *rq, int64_t *ret) {
        char buf[16];
        bool invalid = false;
        const char *v = console_arg(rq, "limit", buf, sizeof buf, &invalid);
        *ret = CONSOLE_PAGE_DEFAULT;
        if (invalid)
                return -EINVAL;
        if (!v)
                return 0;
        int64_t n = 0;
        if (store_cursor_parse(v, &n) < 0 || n < 1 || n > CONSOLE_PAGE_MAX)
                return -EINVAL;
        *ret = n;
        return 0;
}

/* format=csv or json (or absent): 1 for CSV, 0 for JSON, -EINVAL else. */
static int arg_csv(const ConsoleRequest *rq) {
        char buf[8];
        bool invalid = false;
        const char *f = console_arg(rq, "format", buf, sizeof buf, &invalid);
        if (invalid || (f && !streq(f, "csv") && !streq(f, "json")))
                return -EINVAL;
        return f && streq(f, "csv");
}

/* A list's JSON rows as a CSV export (issue 13 item 3): the cells are the
 * members named by the header, in its order (null: empty). It is audited
 * before it leaves, with the query as detail; an audit log that cannot
 * record it stops it (but for the stub of a build without the auth slice). */
static int reply_rows_csv(const ConsoleRequest *rq, ConsoleReply *rp, json_object *rows, bool more,
                          const char *const *header, size_t ncol, const char *list, const char *filename) {
        if (more)
                return console_reply_error(rp, 413, "too_large", "more than 100000 rows: narrow the filter");
        _cleanup_csv_ CsvBuf buf = { 0 };
        int k = csv_begin(&buf, header, ncol);
        if (k < 0)
                return k;
        for (size_t i = 0; i < json_object_array_length(rows); i++) {
                json_object *row = json_object_array_get_idx(rows, i);
                const char *cells[CSV_MAX_COLUMNS];
                for (size_t c = 0; c < ncol; c++) {
                        json_object *v = NULL;
                        json_object_object_get_ex(row, header[c], &v);
                        cells[c] = v ? json_object_get_string(v) : NULL;
                }
                k = csv_row(&buf, cells, ncol);
                if (k == -E2BIG)
                        return console_reply_error(rp, 413, "too_large", "the export is too large: narrow the filter");
                if (k < 0)
                        return k;
        }
        _cleanup_(json_object_putp) json_object *d = json_object_new_object();
        if (!d)
                return -ENOMEM;
        json_object_object_add(d, "query", json_object_new_string(rq->query ?: ""));
        k = console_audit(rq, "export", list, json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
        if (k < 0 && k != -EOPNOTSUPP)
                return fleet_reply_db_error(rp, k);
        size_t len = 0;
        char *text = csv_steal(&buf, &len);
        return console_reply_csv(rp, filename, text, len);
}

static void add_int(json_object *o, const char *key, int64_t v) {
        json_object_object_add(o, key, json_object_new_int64(v));
}

/* An increment of counter key in object o. */
static void bump(json_object *o, const char *key, int64_t n) {
        json_object *c = NULL;
        if (json_object_object_get_ex(o, key, &c))
                json_object_set_int64(c, json_object_get_int64(c) + n);
        else
                add_int(o, key, n);
}

/* ---- the rollups ---- */

#define AGG_FIELDS 5

typedef struct AggKey {
        int64_t num;               /* day (YYYYMMDD) or month (YYYYMM) */
        const char *f[AGG_FIELDS]; /* NULL and "" are alike */
} AggKey;

typedef struct Agg {
        struct Agg *next;
        int64_t num;
        char *f[AGG_FIELDS];
        int64_t n;
        int64_t first, last, row; /* the rows' received_at span and last row_id */
} Agg;

#define AGG_BUCKETS 4096

typedef struct AggTable {
        Agg *b[AGG_BUCKETS];
        size_t count;
} AggTable;

static uint64_t agg_hash(const AggKey *k) {
        uint64_t h = 1469598103934665603ULL ^ (uint64_t) k->num;
        for (size_t i = 0; i < AGG_FIELDS; i++) {
                for (const char *p = k->f[i] ?: ""; *p; p++)
                        h = (h ^ (unsigned char) *p) * 1099511628211ULL;
                h = (h ^ 0xff) * 1099511628211ULL;
        }
        return h;
}

static int agg_add_at(AggTable *t, const AggKey *k, int64_t n, int64_t at, int64_t row) {
        uint64_t h = agg_hash(k) % AGG_BUCKETS;
        for (Agg *a = t->b[h]; a; a = a->next) {
                bool same = a->num == k->num;
                for (size_t i = 0; same && i < AGG_FIELDS; i++)
                        same = streq(a->f[i], k->f[i] ?: "");
                if (same) {
                        a->n += n;
                        a->first = MIN(a->first, at);
                        a->last = MAX(a->last, at);
                        a->row = MAX(a->row, row);
                        return 0;
                }
        }
        Agg *a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->num = k->num;
        a->n = n;
        a->first = a->last = at;
        a->row = row;
        for (size_t i = 0; i < AGG_FIELDS; i++)
                if (!(a->f[i] = strdup(k->f[i] ?: ""))) {
                        for (size_t j = 0; j < i; j++)
                                free(a->f[j]);
                        free(a);
                        return -ENOMEM;
                }
        a->next = t->b[h];
        t->b[h] = a;
        t->count++;
        return 0;
}

static int agg_add(AggTable *t, const AggKey *k, int64_t n) {
        return agg_add_at(t, k, n, 0, 0);
}

static void agg_free(AggTable *t) {
        for (size_t i = 0; i < AGG_BUCKETS; i++)
                while (t->b[i]) {
                        Agg *a = t->b[i];
                        t->b[i] = a->next;
                        for (size_t j = 0; j < AGG_FIELDS; j++)
                                free(a->f[j]);
                        free(a);
                }
        free(t);
}

typedef struct Posture {
        char machine_id[33];
        int64_t row, at;
        char *department, *verdict, *av_state;
        bool has_age, stale;
        int64_t age_tenths;
} Posture;

typedef struct Refresh {
        AggTable *daily, *monthly;
        /* usb.blocked and device.blocked per device: per day; per (device, host or user); overall */
        AggTable *dev_daily, *dev_seen, *devices;
        Posture *postures;
        size_t n_postures;
        int64_t last_row, cutoff, rows;
        bool stop;
        /* the day of the last row: rows come in time order, mostly */
        int64_t day_from, day_to, day, month;
} Refresh;

static void posture_done(Posture *p) {
        free(p->department);
        free(p->verdict);
        free(p->av_state);
}

static char *json_strdup(json_object *o, const char *k1, const char *k2) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, k1, &v))
                return NULL;
        if (k2 && !json_object_object_get_ex(v, k2, &v))
                return NULL;
        return json_object_is_type(v, json_type_string) ? strdup(json_object_get_string(v)) : NULL;
}

/* What the overview needs of one agent.posture event. */
static int refresh_posture(Refresh *f, const char *machine_id, int64_t row, int64_t at, const char *json) {
        if (!is_hex(machine_id, 32) || !json)
                return 0;
        _cleanup_(json_object_putp) json_object *o = json_tokener_parse(json);
        json_object *p = NULL, *av = NULL, *age = NULL;
        if (!o || !json_object_object_get_ex(o, "posture", &p) || !json_object_is_type(p, json_type_object))
                return 0; /* not the documented shape: nothing to summarise */
        Posture *slot = NULL;
        for (size_t i = 0; i < f->n_postures; i++)
                if (streq(f->postures[i].machine_id, machine_id))
                        slot = &f->postures[i];
        if (!slot) {
                Posture *n = reallocarray(f->postures, f->n_postures + 1, sizeof *n);
                if (!n)
                        return -ENOMEM;
                f->postures = n;
                slot = &f->postures[f->n_postures++];
                *slot = (Posture){ 0 };
                memcpy(slot->machine_id, machine_id, 33);
        } else if (slot->row > row)
                return 0;
        posture_done(slot);
        slot->row = row;
        slot->at = at;
        slot->department = json_strdup(o, "site", "department");
        slot->verdict = json_strdup(p, "verdict", NULL);
        slot->av_state = json_strdup(p, "antivirus", "state");
        slot->has_age = false;
        if (json_object_object_get_ex(p, "antivirus", &av) && json_object_object_get_ex(av, "pattern_age_hours", &age) &&
            (json_object_is_type(age, json_type_double) || json_object_is_type(age, json_type_int))) {
                double h = json_object_get_double(age);
                if (isfinite(h) && h >= 0 && h < 1e9) {
                        slot->has_age = true;
                        slot->age_tenths = (int64_t) llround(h * 10);
                }
        }
        /* the av.pattern_age line's ng states: too old, dated in the future, or no pattern */
        slot->stale = slot->av_state && (streq(slot->av_state, "stale") || streq(slot->av_state, "future") ||
                                         streq(slot->av_state, "missing"));
        return 0;
}

/* row: row_id, received_at, kind, severity, policy_ref, department, machine_id, user_name, posture json,
 * device vendor, product, serial */
static int refresh_row(const CdbRow *r, void *userdata) {
        Refresh *f = userdata;
        int64_t row = cdb_row_int(r, 0), at = cdb_row_int(r, 1);
        const char *kind = cdb_row_text(r, 2), *sev = cdb_row_text(r, 3), *ref = cdb_row_text(r, 4),
                   *dep = cdb_row_text(r, 5), *mid = cdb_row_text(r, 6), *user = cdb_row_text(r, 7);
        int k;

        /* rows after a young one wait for the next call; a row stamped far
         * ahead (an instance whose clock runs fast) is not young, or it
         * would hold the rollups back until that time */
        if (f->stop || (at > f->cutoff && at - f->cutoff <= CONSOLE_FLEET_PG_LAG_US + CONSOLE_FLEET_SKEW_US)) {
                f->stop = true;
                return 0;
        }
        if (at < f->day_from || at >= f->day_to) {
                struct tm tm;
                local_tm(at, &tm);
                struct tm s = { .tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday, .tm_isdst = -1 };
                struct tm e = { .tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday + 1, .tm_isdst = -1 };
                time_t ts = mktime(&s), te = mktime(&e);
                f->day = (int64_t) (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
                f->month = f->day / 100;
                f->day_from = ts != (time_t) -1 ? (int64_t) ts * 1000000 : at;
                f->day_to = te != (time_t) -1 ? (int64_t) te * 1000000 : at + 1;
                if (at < f->day_from || at >= f->day_to) /* a zone that mktime cannot place: this row only */
                        f->day_from = f->day_to = 0;
        }
        AggKey dk = { f->day, { kind, sev, ref, dep } };
        if ((k = agg_add(f->daily, &dk, 1)) < 0)
                return k;
        if (!isempty(ref)) {
                AggKey hk = { f->month, { ref, "host", mid, NULL } };
                if ((k = agg_add(f->monthly, &hk, 1)) < 0)
                        return k;
                if (!isempty(user)) {
                        AggKey uk = { f->month, { ref, "user", user, NULL } };
                        if ((k = agg_add(f->monthly, &uk, 1)) < 0)
                                return k;
                }
        }
        if (streq_ptr(kind, "agent.posture") && (k = refresh_posture(f, mid, row, at, cdb_row_text(r, 8))) < 0)
                return k;
        const char *dv = cdb_row_text(r, 9), *dp = cdb_row_text(r, 10), *ds = cdb_row_text(r, 11);
        /* a device outside USB: its bus in vendor, '' in product, its identity in serial (event-check.c) */
        bool other_bus = streq_ptr(kind, "device.blocked") && !isempty(dv) && isempty(dp) && !isempty(ds);
        if (other_bus)
                dp = "";
        if ((streq_ptr(kind, "usb.blocked") && !isempty(dv) && !isempty(dp)) || other_bus) {
                AggKey d = { f->day, { dv, dp, ds, NULL, NULL } }, all = { 0, { dv, dp, ds, NULL, NULL } },
                       h = { 0, { dv, dp, ds, "host", mid } }, u = { 0, { dv, dp, ds, "user", user } };
                if ((k = agg_add(f->dev_daily, &d, 1)) < 0 || (k = agg_add_at(f->devices, &all, 1, at, row)) < 0 ||
                    (k = agg_add_at(f->dev_seen, &h, 1, at, row)) < 0 ||
                    (!isempty(user) && (k = agg_add_at(f->dev_seen, &u, 1, at, row)) < 0))
                        return k;
        }
        f->last_row = row;
        f->rows++;
        return 0;
}

#define UPSERT_PARAMS 64 /* cdb.c's bound on one statement's parameters */

/* One row's VALUES tuple for aggregate a, whose text columns are the
 * parameters ?base+1..?base+ntext: writes at o, returns the new end. */
typedef char *(*RowWriter)(char *o, const Agg *a, size_t base, size_t ntext);

/* (day or month, texts..., n) */
static char *agg_row(char *o, const Agg *a, size_t base, size_t ntext) {
        o += sprintf(o, "(%" PRId64, a->num);
        for (size_t j = 0; j < ntext; j++)
                o += sprintf(o, ", ?%zu", base + j + 1);
        return o + sprintf(o, ", %" PRId64 ")", a->n);
}

/* (texts..., n, first, last, row) for aggregates with a span */
static char *span_row(char *o, const Agg *a, size_t base, size_t ntext) {
        *o++ = '(';
        for (size_t j = 0; j < ntext; j++)
                o += sprintf(o, "?%zu, ", base + j + 1);
        return o + sprintf(o, "%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ")", a->n, a->first, a->last, a->row);
}

/* Multi-row upserts of t's aggregates: one round trip for many keys. The
 * integers are written into the text by row, the ntext text columns
 * f[0..ntext-1] are parameters. Keys are unique within t, as one statement
 * needs. */
static int upsert_rows(Cdb *db, AggTable *t, const char *head, const char *tail, size_t ntext, RowWriter row) {
        size_t per = UPSERT_PARAMS / ntext, n = 0, all = 0;
        _cleanup_free_ Agg **list = calloc(t->count ? t->count : 1, sizeof *list);
        _cleanup_free_ CdbValue *p = calloc(per * ntext, sizeof *p);
        /* per row: "?NN, " per text, up to four 20-digit integers, punctuation */
        _cleanup_free_ char *sql = malloc(strlen(head) + strlen(tail) + per * (ntext * 8 + 96) + 1);
        if (!list || !p || !sql)
                return -ENOMEM;
        for (size_t b = 0; b < AGG_BUCKETS; b++)
                for (Agg *a = t->b[b]; a && all < t->count; a = a->next)
                        list[all++] = a;
        for (size_t start = 0; start < all; start += n) {
                n = MIN(all - start, per);
                char *o = stpcpy(sql, head);
                for (size_t i = 0; i < n; i++) {
                        const Agg *a = list[start + i];
                        for (size_t j = 0; j < ntext; j++)
                                p[i * ntext + j] = cdb_text(a->f[j]);
                        o = row(i ? stpcpy(o, ", ") : o, a, i * ntext, ntext);
                }
                stpcpy(o, tail);
                int64_t r = cdb_exec(db, sql, p, n * ntext, NULL, NULL);
                if (r < 0)
                        return (int) r;
        }
        return 0;
}

static int refresh_write(Cdb *db, Refresh *f) {
        int64_t r;
        int k = upsert_rows(db, f->daily,
                            "INSERT INTO console_daily (day, kind, severity, policy_ref, department, n) VALUES ",
                            " ON CONFLICT (day, kind, severity, policy_ref, department) "
                            "DO UPDATE SET n = console_daily.n + excluded.n",
                            4, agg_row);
        if (k >= 0)
                k = upsert_rows(db, f->monthly, "INSERT INTO console_monthly (month, policy_ref, dim, name, n) VALUES ",
                                " ON CONFLICT (month, policy_ref, dim, name) "
                                "DO UPDATE SET n = console_monthly.n + excluded.n",
                                3, agg_row);
        if (k >= 0)
                k = upsert_rows(db, f->dev_daily,
                                "INSERT INTO console_device_daily (day, vendor, product, serial, n) VALUES ",
                                " ON CONFLICT (day, vendor, product, serial) "
                                "DO UPDATE SET n = console_device_daily.n + excluded.n",
                                3, agg_row);
        if (k >= 0)
                k = upsert_rows(db, f->dev_seen,
                                "INSERT INTO console_device_seen (vendor, product, serial, dim, name, n, first_at, "
                                "last_at, last_row) VALUES ",
                                cdb_sql(db,
                                        " ON CONFLICT (vendor, product, serial, dim, name) DO UPDATE SET "
                                        "n = console_device_seen.n + excluded.n, "
                                        "first_at = MIN(console_device_seen.first_at, excluded.first_at), "
                                        "last_at = MAX(console_device_seen.last_at, excluded.last_at), "
                                        "last_row = MAX(console_device_seen.last_row, excluded.last_row)",
                                        " ON CONFLICT (vendor, product, serial, dim, name) DO UPDATE SET "
                                        "n = console_device_seen.n + excluded.n, "
                                        "first_at = LEAST(console_device_seen.first_at, excluded.first_at), "
                                        "last_at = GREATEST(console_device_seen.last_at, excluded.last_at), "
                                        "last_row = GREATEST(console_device_seen.last_row, excluded.last_row)"),
                                5, span_row);
        if (k >= 0)
                k = upsert_rows(db, f->devices,
                                "INSERT INTO console_devices (vendor, product, serial, n, first_at, last_at, last_row) "
                                "VALUES ",
                                cdb_sql(db,
                                        " ON CONFLICT (vendor, product, serial) DO UPDATE SET "
                                        "n = console_devices.n + excluded.n, "
                                        "first_at = MIN(console_devices.first_at, excluded.first_at), "
                                        "last_at = MAX(console_devices.last_at, excluded.last_at), "
                                        "last_row = MAX(console_devices.last_row, excluded.last_row)",
                                        " ON CONFLICT (vendor, product, serial) DO UPDATE SET "
                                        "n = console_devices.n + excluded.n, "
                                        "first_at = LEAST(console_devices.first_at, excluded.first_at), "
                                        "last_at = GREATEST(console_devices.last_at, excluded.last_at), "
                                        "last_row = GREATEST(console_devices.last_row, excluded.last_row)"),
                                3, span_row);
        if (k < 0)
                return k;
        for (size_t i = 0; i < f->n_postures; i++) {
                Posture *o = &f->postures[i];
                CdbValue p[] = { cdb_text(o->machine_id),
                                 cdb_int(o->row),
                                 cdb_int(o->at),
                                 cdb_text(o->department),
                                 cdb_text(o->verdict),
                                 cdb_text(o->av_state),
                                 o->has_age ? cdb_int(o->age_tenths) : cdb_null(),
                                 cdb_int(o->stale) };
                r = cdb_exec(db,
                             "INSERT INTO console_hosts (machine_id, posture_row, posture_at, department, verdict, "
                             "av_state, av_age_tenths, av_stale) VALUES (?1, CAST(?2 AS BIGINT), CAST(?3 AS BIGINT), "
                             "?4, ?5, ?6, CAST(?7 AS BIGINT), CAST(?8 AS BIGINT)) "
                             "ON CONFLICT (machine_id) DO UPDATE SET posture_row = excluded.posture_row, "
                             "posture_at = excluded.posture_at, department = excluded.department, "
                             "verdict = excluded.verdict, av_state = excluded.av_state, "
                             "av_age_tenths = excluded.av_age_tenths, av_stale = excluded.av_stale "
                             "WHERE excluded.posture_row > console_hosts.posture_row",
                             p, ELEMENTSOF(p), NULL, NULL);
                if (r < 0)
                        return (int) r;
        }
        return 0;
}

int64_t console_fleet_refresh(Cdb *db, int64_t now_us, size_t max_rows) {
        Refresh f = { .cutoff = cdb_backend(db) == STORE_POSTGRES ? now_us - CONSOLE_FLEET_PG_LAG_US : INT64_MAX };
        int64_t start = 0, r;
        int k;

        if (max_rows == 0)
                max_rows = CONSOLE_FLEET_REFRESH_ROWS;
        f.daily = calloc(1, sizeof *f.daily);
        f.monthly = calloc(1, sizeof *f.monthly);
        f.dev_daily = calloc(1, sizeof *f.dev_daily);
        f.dev_seen = calloc(1, sizeof *f.dev_seen);
        f.devices = calloc(1, sizeof *f.devices);
        if (!f.daily || !f.monthly || !f.dev_daily || !f.dev_seen || !f.devices) {
                k = -ENOMEM;
                goto out;
        }
        k = cdb_begin(db);
        if (k < 0)
                goto out;
        /* PostgreSQL: the row lock makes a second refresher wait, then see the new high-water */
        k = cdb_query_int(db,
                          cdb_sql(db, "SELECT last_row FROM console_fleet_state WHERE id = 1",
                                  "SELECT last_row FROM console_fleet_state WHERE id = 1 FOR UPDATE"),
                          NULL, 0, &start);
        if (k >= 0) {
                CdbValue p[] = { cdb_int(start), cdb_int((int64_t) max_rows) };
                f.last_row = start;
                r = cdb_exec(db,
                             "SELECT row_id, received_at, kind, severity, policy_ref, department, machine_id, "
                             "user_name, CASE WHEN kind = 'agent.posture' THEN json END, device_vendor, device_product, "
                             "device_serial FROM events "
                             "WHERE row_id > CAST(?1 AS BIGINT) ORDER BY row_id LIMIT CAST(?2 AS BIGINT)",
                             p, ELEMENTSOF(p), refresh_row, &f);
                k = r < 0 ? (int) r : 0;
        }
        if (k >= 0 && f.rows > 0)
                k = refresh_write(db, &f);
        if (k >= 0 && f.rows > 0) {
                CdbValue p[] = { cdb_int(f.last_row), cdb_int(now_us) };
                r = cdb_exec(db,
                             "UPDATE console_fleet_state SET last_row = CAST(?1 AS BIGINT), "
                             "updated_at = CAST(?2 AS BIGINT) WHERE id = 1",
                             p, ELEMENTSOF(p), NULL, NULL);
                k = r < 0 ? (int) r : 0;
        }
        k = cdb_end(db, k);
out:
        if (f.daily)
                agg_free(f.daily);
        if (f.monthly)
                agg_free(f.monthly);
        if (f.dev_daily)
                agg_free(f.dev_daily);
        if (f.dev_seen)
                agg_free(f.dev_seen);
        if (f.devices)
                agg_free(f.devices);
        for (size_t i = 0; i < f.n_postures; i++)
                posture_done(&f.postures[i]);
        free(f.postures);
        return k < 0 ? k : f.rows;
}

static int64_t mono_now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t console_fleet_maintain(Cdb **db, const StoreConfig *cfg, int64_t budget_us) {
        int64_t total = 0, deadline = mono_now_us() + budget_us;
        if (!*db) {
                int r = cdb_open(cfg, db);
                if (r < 0) {
                        *db = NULL;
                        return r;
                }
        }
        /* nothing new: no write transaction (SQLite's one writer is the ingest's) */
        int64_t behind = 0;
        int r = console_fleet_behind(*db, &behind);
        if (r < 0) {
                *db = cdb_free(*db);
                return r;
        }
        if (behind == 0)
                return 0;
        for (;;) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                int64_t n = console_fleet_refresh(*db, (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000, 0);
                if (n < 0) {
                        *db = cdb_free(*db);
                        return n;
                }
                total += n;
                if (n < CONSOLE_FLEET_REFRESH_ROWS || mono_now_us() >= deadline)
                        return total;
        }
}

int console_fleet_behind(Cdb *db, int64_t *ret) {
        int64_t max = 0, last = 0;
        int r = cdb_query_int(db, "SELECT COALESCE(MAX(row_id), 0) FROM events", NULL, 0, &max);
        if (r >= 0)
                r = cdb_query_int(db, "SELECT last_row FROM console_fleet_state WHERE id = 1", NULL, 0, &last);
        if (r < 0)
                return r;
        *ret = max > last ? max - last : 0;
        return 0;
}

/* ---- GET /overview ---- */

typedef struct Windows {
        int64_t today, d7, d30;
        json_object *w[3];
        json_object *per_day; /* YYYYMMDD -> blocked */
} Windows;

static json_object *window_new(void) {
        json_object *w = json_object_new_object();
        if (!w)
                return NULL;
        json_object_object_add(w, "by_kind", json_object_new_object());
        json_object_object_add(w, "by_severity", json_object_new_object());
        json_object_object_add(w, "by_clause", json_object_new_object());
        add_int(w, "total", 0);
        return w;
}

static void window_add(json_object *w, const char *kind, const char *sev, const char *ref, int64_t n) {
        json_object *o = NULL;
        if (json_object_object_get_ex(w, "by_kind", &o))
                bump(o, kind, n);
        if (json_object_object_get_ex(w, "by_severity", &o))
                bump(o, sev, n);
        if (!isempty(ref) && json_object_object_get_ex(w, "by_clause", &o))
                bump(o, ref, n);
        bump(w, "total", n);
}

/* day, kind, severity, policy_ref, n */
static int overview_row(const CdbRow *r, void *userdata) {
        Windows *w = userdata;
        int64_t day = cdb_row_int(r, 0), n = cdb_row_int(r, 4);
        const char *kind = cdb_row_text(r, 1) ?: "", *sev = cdb_row_text(r, 2) ?: "", *ref = cdb_row_text(r, 3);
        if (day == w->today)
                window_add(w->w[0], kind, sev, ref, n);
        if (day >= w->d7)
                window_add(w->w[1], kind, sev, ref, n);
        window_add(w->w[2], kind, sev, ref, n);
        if (streq(kind, "usb.blocked") || streq(kind, "device.blocked")) {
                char key[16];
                snprintf(key, sizeof key, "%" PRId64, day);
                bump(w->per_day, key, n);
        }
        return 0;
}

static int findings_open_row(const CdbRow *r, void *userdata) {
        json_object *a = userdata, *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "kind", fleet_json_text(cdb_row_text(r, 0)));
        json_object_object_add(o, "severity", fleet_json_text(cdb_row_text(r, 1)));
        add_int(o, "count", cdb_row_int(r, 2));
        add_int(o, "hosts", cdb_row_int(r, 3));
        json_object_array_add(a, o);
        return 0;
}

static json_object *age_days(const CdbRow *r, size_t col) {
        if (cdb_row_is_null(r, col))
                return NULL;
        /* tenths of hours -> days, one decimal */
        return json_object_new_double(round((double) cdb_row_int(r, col) / 24.0) / 10.0);
}

static int stale_row(const CdbRow *r, void *userdata) {
        json_object *a = userdata, *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "machine_id", fleet_json_text(cdb_row_text(r, 0)));
        json_object_object_add(o, "host_name", fleet_json_text(cdb_row_text(r, 1)));
        json_object_object_add(o, "pattern_age_days", age_days(r, 2));
        json_object_array_add(a, o);
        return 0;
}

static int host_totals_row(const CdbRow *r, void *userdata) {
        json_object *o = userdata;
        add_int(o, "total", cdb_row_int(r, 0));
        add_int(o, "silent", cdb_row_int(r, 1));
        add_int(o, "stopped", cdb_row_int(r, 2));
        return 0;
}

static int fleet_overview(const ConsoleRequest *rq, ConsoleReply *rp) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        Windows w = { .today = fleet_day_of(rq->now_us),
                      .d7 = fleet_day_minus(rq->now_us, 6),
                      .d30 = fleet_day_minus(rq->now_us, 29) };
        int64_t behind = 0, r;
        int k;

        if (!o)
                return -ENOMEM;
        /* a little behind: catch up first, so that what just arrived shows */
        k = console_fleet_behind(rq->db, &behind);
        if (k >= 0 && behind > 0 && behind <= CONSOLE_FLEET_OVERVIEW_CATCHUP) {
                r = console_fleet_refresh(rq->db, rq->now_us, CONSOLE_FLEET_OVERVIEW_CATCHUP);
                if (r >= 0)
                        k = console_fleet_behind(rq->db, &behind);
        }
        if (k < 0)
                return fleet_reply_db_error(rp, k);

        json_object *windows = json_object_new_object();
        json_object_object_add(o, "now", console_json_time(rq->now_us));
        json_object_object_add(o, "zone", fleet_json_text(rq->zone));
        json_object_object_add(o, "windows", windows);
        for (size_t i = 0; i < 3; i++)
                w.w[i] = window_new();
        w.per_day = json_object_new_object();
        if (!windows || !w.w[0] || !w.w[1] || !w.w[2] || !w.per_day) {
                for (size_t i = 0; i < 3; i++)
                        json_object_put(w.w[i]);
                json_object_put(w.per_day);
                return -ENOMEM;
        }
        json_object_object_add(windows, "today", w.w[0]);
        json_object_object_add(windows, "7d", w.w[1]);
        json_object_object_add(windows, "30d", w.w[2]);
        _cleanup_(json_object_putp) json_object *per_day = w.per_day;

        CdbValue p[] = { cdb_int(w.d30) };
        r = cdb_exec(rq->db,
                     "SELECT day, kind, severity, policy_ref, SUM(n) FROM console_daily "
                     "WHERE day >= CAST(?1 AS BIGINT) GROUP BY day, kind, severity, policy_ref",
                     p, 1, overview_row, &w);
        if (r < 0)
                return fleet_reply_db_error(rp, (int) r);

        json_object *fo = json_object_new_array();
        json_object_object_add(o, "findings_open", fo);
        r = cdb_exec(rq->db,
                     "SELECT kind, severity, COUNT(*), COUNT(DISTINCT machine_id) FROM findings "
                     "WHERE closed_at IS NULL GROUP BY kind, severity ORDER BY kind, severity",
                     NULL, 0, findings_open_row, fo);
        if (r < 0)
                return fleet_reply_db_error(rp, (int) r);

        json_object *stale = json_object_new_object(), *stale_hosts = json_object_new_array();
        int64_t n_stale = 0;
        json_object_object_add(o, "stale_av", stale);
        json_object_object_add(stale, "hosts", stale_hosts);
        k = cdb_query_int(rq->db, "SELECT COUNT(*) FROM console_hosts WHERE av_stale = 1", NULL, 0, &n_stale);
        if (k < 0)
                return fleet_reply_db_error(rp, k);
        add_int(stale, "count", n_stale);
        r = cdb_exec(rq->db,
                     "SELECT c.machine_id, h.host_name, c.av_age_tenths FROM console_hosts c "
                     "LEFT JOIN hosts h ON h.machine_id = c.machine_id WHERE c.av_stale = 1 "
                     "ORDER BY COALESCE(c.av_age_tenths, -1) DESC, c.machine_id LIMIT 20",
                     NULL, 0, stale_row, stale_hosts);
        if (r < 0)
                return fleet_reply_db_error(rp, (int) r);

        json_object *bpd = json_object_new_array();
        json_object_object_add(o, "blocked_per_day", bpd);
        for (int i = 29; i >= 0; i--) {
                int64_t day = fleet_day_minus(rq->now_us, i);
                char key[16], iso[16];
                json_object *c = NULL, *e = json_object_new_object();
                if (!e)
                        return -ENOMEM;
                snprintf(key, sizeof key, "%" PRId64, day);
                snprintf(iso, sizeof iso, "%04d-%02d-%02d", (int) (day / 10000), (int) (day / 100 % 100),
                         (int) (day % 100));
                json_object_object_add(e, "day", json_object_new_string(iso));
                add_int(e, "count", json_object_object_get_ex(per_day, key, &c) ? json_object_get_int64(c) : 0);
                json_object_array_add(bpd, e);
        }

        json_object *hosts = json_object_new_object();
        json_object_object_add(o, "hosts", hosts);
        r = cdb_exec(rq->db, "SELECT COUNT(*), COALESCE(SUM(silent), 0), COALESCE(SUM(stopped), 0) FROM hosts", NULL, 0,
                     host_totals_row, hosts);
        if (r < 0)
                return fleet_reply_db_error(rp, (int) r);
        /* what the counts do not hold yet (the timer catches up) */
        add_int(o, "rollup_behind", behind);
        return console_reply_json(rp, 200, TAKE_PTR(o));
}

/* ---- GET /hosts ---- */

typedef struct HostRows {
        json_object *rows, *hashes;
        char last[33];
        int64_t n;
} HostRows;

/* machine_id, host_name, agent_version, policy_hash, last_seen, silent,
 * stopped, fail_closed, department, verdict, av_state, av_age_tenths,
 * posture_at, first_seen, last_event_time, max_seq, events, spool_depth */
static json_object *host_json(const CdbRow *r, json_object *hashes) {
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "machine_id", fleet_json_text(cdb_row_text(r, 0)));
        json_object_object_add(o, "host_name", fleet_json_text(cdb_row_text(r, 1)));
        json_object_object_add(o, "agent_version", fleet_json_text(cdb_row_text(r, 2)));
        json_object_object_add(o, "policy_hash", fleet_json_text(cdb_row_text(r, 3)));
        int cur = fleet_policy_is_current(hashes, cdb_row_text(r, 3));
        json_object_object_add(o, "policy_current", cur < 0 ? NULL : json_object_new_boolean(cur));
        json_object_object_add(o, "last_seen", console_json_time(cdb_row_int(r, 4)));
        json_object_object_add(o, "silent", json_object_new_boolean(cdb_row_int(r, 5) != 0));
        json_object_object_add(o, "stopped", json_object_new_boolean(cdb_row_int(r, 6) != 0));
        json_object_object_add(o, "fail_closed", json_object_new_boolean(cdb_row_int(r, 7) != 0));
        json_object_object_add(o, "department", fleet_json_text(cdb_row_text(r, 8)));
        json_object_object_add(o, "posture_verdict", fleet_json_text(cdb_row_text(r, 9)));
        json_object_object_add(o, "av_state", fleet_json_text(cdb_row_text(r, 10)));
        json_object_object_add(o, "pattern_age_days", age_days(r, 11));
        json_object_object_add(o, "posture_at", console_json_time(cdb_row_int(r, 12)));
        if (cdb_row_columns(r) > 13) {
                json_object_object_add(o, "first_seen", console_json_time(cdb_row_int(r, 13)));
                json_object_object_add(o, "last_event_time", console_json_time(cdb_row_int(r, 14)));
                add_int(o, "max_seq", cdb_row_int(r, 15));
                add_int(o, "events", cdb_row_int(r, 16));
                add_int(o, "spool_depth", cdb_row_int(r, 17));
        }
        return o;
}

#define HOST_COLUMNS \
        "h.machine_id, h.host_name, h.agent_version, h.policy_hash, h.last_seen, h.silent, h.stopped, " \
        "h.fail_closed, c.department, c.verdict, c.av_state, c.av_age_tenths, c.posture_at"

static int hosts_row(const CdbRow *r, void *userdata) {
        HostRows *h = userdata;
        json_object *o = host_json(r, h->hashes);
        if (!o)
                return -ENOMEM;
        json_object_array_add(h->rows, o);
        snprintf(h->last, sizeof h->last, "%s", cdb_row_text(r, 0) ?: "");
        h->n++;
        return 0;
}

/* s with LIKE's wildcards escaped by '\', then '%'. */
static char *like_prefix(const char *s) {
        char *o = malloc(2 * strlen(s) + 2), *p = o;
        if (!o)
                return NULL;
        for (; *s; s++) {
                if (*s == '%' || *s == '_' || *s == '\\')
                        *p++ = '\\';
                *p++ = *s;
        }
        *p++ = '%';
        *p = 0;
        return o;
}

static const char *const hosts_csv_header[] = {
        "machine_id", "host_name", "department",  "agent_version",   "policy_hash", "policy_current",   "last_seen",
        "silent",     "stopped",   "fail_closed", "posture_verdict", "av_state",    "pattern_age_days", "posture_at",
};

static int fleet_hosts(const ConsoleRequest *rq, ConsoleReply *rp) {
        char qbuf[256], depbuf[256], after[64], flag[8];
        bool invalid = false;
        const char *q = console_arg(rq, "q", qbuf, sizeof qbuf, &invalid);
        const char *dep = console_arg(rq, "department", depbuf, sizeof depbuf, &invalid);
        const char *aft = console_arg(rq, "after", after, sizeof after, &invalid);
        const char *stale = console_arg(rq, "stale_av", flag, sizeof flag, &invalid);
        bool want_stale = stale && streq(stale, "1");
        const char *silent = console_arg(rq, "silent", flag, sizeof flag, &invalid);
        bool want_silent = silent && streq(silent, "1");
        int64_t limit;
        int k, csv = arg_csv(rq);

        if (invalid)
                return reply_bad(rp, "arguments", "an argument is too long or not valid text");
        if (csv < 0)
                return reply_bad(rp, "format", "csv or json");
        if (arg_limit(rq, &limit) < 0)
                return reply_bad(rp, "limit", "a number from 1 to 500");
        if (aft && !is_hex(aft, 32))
                return reply_bad(rp, "after", "not a cursor of this list");
        if (csv) {
                /* an export holds every page */
                limit = CONSOLE_CSV_MAX_ROWS;
                aft = NULL;
        }

        _cleanup_free_ char *like = q ? like_prefix(q) : NULL;
        if (q && !like)
                return -ENOMEM;
        char sql[1024];
        CdbValue p[4];
        size_t n = 0;
        int len = snprintf(sql, sizeof sql,
                           "SELECT " HOST_COLUMNS " FROM hosts h LEFT JOIN console_hosts c ON c.machine_id = h.machine_id "
                           "WHERE 1 = 1");
        if (aft) {
                p[n++] = cdb_text(aft);
                len += snprintf(sql + len, sizeof sql - (size_t) len, " AND h.machine_id > ?%zu", n);
        }
        if (like) {
                p[n++] = cdb_text(like);
                len += snprintf(sql + len, sizeof sql - (size_t) len,
                                " AND (h.machine_id LIKE ?%zu ESCAPE '\\' OR h.host_name LIKE ?%zu ESCAPE '\\')", n, n);
        }
        if (dep) {
                p[n++] = cdb_text(dep);
                len += snprintf(sql + len, sizeof sql - (size_t) len, " AND c.department = ?%zu", n);
        }
        if (want_stale)
                len += snprintf(sql + len, sizeof sql - (size_t) len, " AND c.av_stale = 1");
        if (want_silent)
                len += snprintf(sql + len, sizeof sql - (size_t) len, " AND h.silent = 1");
        p[n++] = cdb_int(limit + 1);
        len += snprintf(sql + len, sizeof sql - (size_t) len, " ORDER BY h.machine_id LIMIT CAST(?%zu AS BIGINT)", n);
        if (len <= 0 || (size_t) len >= sizeof sql)
                return -ENOBUFS;

        _cleanup_(json_object_putp) json_object *hashes = NULL;
        k = fleet_policy_hashes(rq->db, &hashes);
        if (k < 0)
                return fleet_reply_db_error(rp, k);
        HostRows h = { .rows = json_object_new_array(), .hashes = hashes };
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        if (!h.rows || !o) {
                json_object_put(h.rows);
                return -ENOMEM;
        }
        json_object_object_add(o, "rows", h.rows);
        int64_t r = cdb_exec(rq->db, sql, p, n, hosts_row, &h);
        if (r < 0)
                return fleet_reply_db_error(rp, (int) r);
        if (csv)
                return reply_rows_csv(rq, rp, h.rows, h.n > limit, hosts_csv_header, ELEMENTSOF(hosts_csv_header),
                                      "hosts", "mamori-hosts.csv");
        json_object *next = NULL;
        if (h.n > limit) {
                /* the extra row only tells that there is a next page */
                json_object_array_del_idx(h.rows, (size_t) limit, 1);
                json_object *last = json_object_array_get_idx(h.rows, (size_t) limit - 1), *mid = NULL;
                if (json_object_object_get_ex(last, "machine_id", &mid))
                        next = json_object_new_string(json_object_get_string(mid));
        }
        json_object_object_add(o, "next", next);
        return console_reply_json(rp, 200, TAKE_PTR(o));
}

/* ---- GET /hosts/{machine_id} ---- */

static int one_host_row(const CdbRow *r, void *userdata) {
        HostRows *h = userdata;
        json_object *o = host_json(r, h->hashes);
        if (!o)
                return -ENOMEM;
        h->rows = o;
        h->n++;
        return 0;
}

static int gap_row(const CdbRow *r, void *userdata) {
        json_object *a = userdata, *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        add_int(o, "first_seq", cdb_row_int(r, 0));
        add_int(o, "last_seq", cdb_row_int(r, 1));
        json_object_object_add(o, "seen_at", console_json_time(cdb_row_int(r, 2)));
        json_object_object_add(o, "explained", json_object_new_boolean(cdb_row_int(r, 3) != 0));
        json_object_array_add(a, o);
        return 0;
}

static int finding_row(const CdbRow *r, void *userdata) {
        json_object *a = userdata, *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        add_int(o, "id", cdb_row_int(r, 0));
        json_object_object_add(o, "kind", fleet_json_text(cdb_row_text(r, 1)));
        json_object_object_add(o, "severity", fleet_json_text(cdb_row_text(r, 2)));
        json_object_object_add(o, "state", fleet_json_text(cdb_row_text(r, 3)));
        json_object_object_add(o, "first_at", console_json_time(cdb_row_int(r, 4)));
        json_object_object_add(o, "last_at", console_json_time(cdb_row_int(r, 5)));
        json_object_object_add(o, "closed_at", cdb_row_is_null(r, 6) ? NULL : console_json_time(cdb_row_int(r, 6)));
        add_int(o, "count", cdb_row_int(r, 7));
        json_object_object_add(o, "message", fleet_json_text(cdb_row_text(r, 8)));
        json_object_array_add(a, o);
        return 0;
}

static json_object *device_of(const CdbRow *r, size_t col) {
        if (cdb_row_is_null(r, col))
                return NULL;
        json_object *d = json_object_new_object();
        if (!d)
                return NULL;
        /* outside USB: the bus in the vendor column, NULL product (event-check.c), as /events says */
        const char *vendor = cdb_row_text(r, col);
        bool other = cdb_row_is_null(r, col + 1) && device_bus_from_string(vendor) > 0;
        json_object_object_add(d, "bus", json_object_new_string(other ? vendor : "usb"));
        json_object_object_add(d, "vendor", other ? NULL : fleet_json_text(vendor));
        json_object_object_add(d, "product", other ? NULL : fleet_json_text(cdb_row_text(r, col + 1)));
        json_object_object_add(d, "serial", other ? NULL : fleet_json_text(cdb_row_text(r, col + 2)));
        json_object_object_add(d, "identity", other ? fleet_json_text(cdb_row_text(r, col + 2)) : NULL);
        return d;
}

/* id, seq, time, received_at, kind, severity, policy_ref, user_name, vendor, product, serial, row_id */
static int timeline_row(const CdbRow *r, void *userdata) {
        json_object *a = userdata, *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "id", fleet_json_text(cdb_row_text(r, 0)));
        add_int(o, "seq", cdb_row_int(r, 1));
        json_object_object_add(o, "time", console_json_time(cdb_row_int(r, 2)));
        json_object_object_add(o, "received_at", console_json_time(cdb_row_int(r, 3)));
        json_object_object_add(o, "kind", fleet_json_text(cdb_row_text(r, 4)));
        json_object_object_add(o, "severity", fleet_json_text(cdb_row_text(r, 5)));
        json_object_object_add(o, "policy_ref", fleet_json_text(cdb_row_text(r, 6)));
        json_object_object_add(o, "user", fleet_json_text(cdb_row_text(r, 7)));
        json_object_object_add(o, "device", device_of(r, 8));
        json_object_array_add(a, o);
        return 0;
}

static int fleet_host(const ConsoleRequest *rq, ConsoleReply *rp) {
        char mid[64];
        if (!console_path_segment(rq, 1, mid, sizeof mid) || !is_hex(mid, 32))
                return console_reply_error(rp, 404, "not_found", "no such host");

        _cleanup_(json_object_putp) json_object *hashes = NULL;
        int k = fleet_policy_hashes(rq->db, &hashes);
        if (k < 0)
                return fleet_reply_db_error(rp, k);
        HostRows h = { .hashes = hashes };
        CdbValue p[] = { cdb_text(mid) };
        int64_t r = cdb_exec(rq->db,
                             "SELECT " HOST_COLUMNS ", h.first_seen, h.last_event_time, h.max_seq, h.events, "
                             "h.spool_depth FROM hosts h LEFT JOIN console_hosts c ON c.machine_id = h.machine_id "
                             "WHERE h.machine_id = ?1",
                             p, 1, one_host_row, &h);
        if (r < 0)
                return fleet_reply_db_error(rp, (int) r);
        if (!h.rows)
                return console_reply_error(rp, 404, "not_found", "no such host");

        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(h.rows);
                return -ENOMEM;
        }
        json_object *cur = NULL;
        json_object_object_get_ex(h.rows, "policy_current", &cur);
        json_object_object_add(o, "policy_current", json_object_get(cur));
        json_object_object_add(o, "host", h.rows);

        /* the posture: the last agent.posture event itself, whatever the rollup holds */
        _cleanup_free_ char *pj = NULL;
        r = cdb_exec(rq->db,
                     "SELECT json FROM events WHERE machine_id = ?1 AND kind = 'agent.posture' "
                     "ORDER BY seq DESC LIMIT 1",
                     p, 1, first_text, &pj);
        if (r < 0)
                return fleet_reply_db_error(rp, (int) r);
        json_object *posture = NULL;
        if (pj) {
                _cleanup_(json_object_putp) json_object *ev = json_tokener_parse(pj);
                json_object *po = NULL, *t = NULL;
                if (json_object_object_get_ex(ev, "posture", &po) && json_object_is_type(po, json_type_object)) {
                        posture = json_object_get(po);
                        if (json_object_object_get_ex(ev, "time", &t))
                                json_object_object_add(posture, "time", json_object_get(t));
                }
        }
        json_object_object_add(o, "posture", posture);

        json_object *gaps = json_object_new_array(), *findings = json_object_new_array(),
                    *timeline = json_object_new_array();
        json_object_object_add(o, "gaps", gaps);
        json_object_object_add(o, "findings", findings);
        json_object_object_add(o, "timeline", timeline);
        if (!gaps || !findings || !timeline)
                return -ENOMEM;
        r = cdb_exec(rq->db,
                     "SELECT first_seq, last_seq, seen_at, explained FROM gaps WHERE machine_id = ?1 "
                     "ORDER BY first_seq DESC LIMIT 100",
                     p, 1, gap_row, gaps);
        if (r >= 0)
                r = cdb_exec(rq->db,
                             "SELECT id, kind, severity, state, first_at, last_at, closed_at, count, message "
                             "FROM findings WHERE machine_id = ?1 ORDER BY id DESC LIMIT 100",
                             p, 1, finding_row, findings);
        if (r >= 0)
                r = cdb_exec(rq->db,
                             "SELECT id, seq, time, received_at, kind, severity, policy_ref, user_name, "
                             "device_vendor, device_product, device_serial FROM events WHERE machine_id = ?1 "
                             "ORDER BY seq DESC LIMIT 100",
                             p, 1, timeline_row, timeline);
        if (r < 0)
                return fleet_reply_db_error(rp, (int) r);
        return console_reply_json(rp, 200, TAKE_PTR(o));
}

/* ---- GET /devices ---- */

typedef struct DeviceRows {
        json_object *rows;
        int64_t n;
} DeviceRows;

/* A device outside USB is keyed (bus, '', identity) in the rollups
 * (event-check.c): a USB vendor is 4 hex digits, a bus name never is. */
static bool device_key_is_usb(const char *vendor) {
        return vendor && is_hex(vendor, 4);
}

/* The rollups' key of a row object of /devices. */
static void device_key(json_object *o, const char **vendor, const char **product, const char **serial) {
        json_object *v = NULL, *p = NULL, *s = NULL, *b = NULL, *i = NULL;
        json_object_object_get_ex(o, "bus", &b);
        if (b && !streq_ptr(json_object_get_string(b), "usb")) {
                json_object_object_get_ex(o, "identity", &i);
                *vendor = json_object_get_string(b);
                *product = "";
                *serial = i ? json_object_get_string(i) : "";
                return;
        }
        json_object_object_get_ex(o, "vendor", &v);
        json_object_object_get_ex(o, "product", &p);
        json_object_object_get_ex(o, "serial", &s);
        *vendor = json_object_get_string(v);
        *product = json_object_get_string(p);
        *serial = s ? json_object_get_string(s) : "";
}

/* vendor, product, serial ('' for none), count */
static int device_row(const CdbRow *r, void *userdata) {
        DeviceRows *d = userdata;
        json_object *o = json_object_new_object();
        const char *vendor = cdb_row_text(r, 0);
        bool usb = device_key_is_usb(vendor);
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "bus", json_object_new_string(usb ? "usb" : strempty(vendor)));
        json_object_object_add(o, "vendor", usb ? fleet_json_text(vendor) : NULL);
        json_object_object_add(o, "product", usb ? fleet_json_text(cdb_row_text(r, 1)) : NULL);
        const char *serial = cdb_row_text(r, 2);
        json_object_object_add(o, "serial", !usb || isempty(serial) ? NULL : json_object_new_string(serial));
        json_object_object_add(o, "identity", usb || isempty(serial) ? NULL : json_object_new_string(serial));
        add_int(o, "count", cdb_row_int(r, 3));
        json_object_array_add(d->rows, o);
        d->n++;
        return 0;
}

/* first_at, last_at, last_row of console_devices */
static int device_span_row(const CdbRow *r, void *userdata) {
        json_object *o = userdata;
        json_object_object_add(o, "first", console_json_time(cdb_row_int(r, 0)));
        json_object_object_add(o, "last", console_json_time(cdb_row_int(r, 1)));
        add_int(o, "_row", cdb_row_int(r, 2));
        return 0;
}

/* hosts and users: those whose blocks of the device (first to last) meet
 * [from, to); exact when to is now, the page's default. */
static int device_details(Cdb *db, json_object *o, int64_t from, int64_t to) {
        const char *v, *pr, *s;
        device_key(o, &v, &pr, &s);
        CdbValue p[] = { cdb_text(v), cdb_text(pr), cdb_text(s), cdb_int(from), cdb_int(to), cdb_text("host") };
        static const char *const dims[] = { "host", "user" };
        for (size_t i = 0; i < 2; i++) {
                int64_t n = 0;
                p[5] = cdb_text(dims[i]);
                int k = cdb_query_int(db,
                                      "SELECT COUNT(*) FROM console_device_seen WHERE vendor = ?1 AND product = ?2 "
                                      "AND serial = ?3 AND dim = ?6 AND last_at >= CAST(?4 AS BIGINT) "
                                      "AND first_at < CAST(?5 AS BIGINT)",
                                      p, 6, &n);
                if (k < 0)
                        return k;
                add_int(o, i == 0 ? "hosts" : "users", n);
        }
        int64_t r = cdb_exec(db,
                             "SELECT first_at, last_at, last_row FROM console_devices WHERE vendor = ?1 "
                             "AND product = ?2 AND serial = ?3",
                             p, 3, device_span_row, o);
        return r < 0 ? (int) r : 0;
}

/* The device strings of the group's last event (they are attacker-controlled:
 * the page shows them as text, never as HTML). */
static int device_names(Cdb *db, json_object *o) {
        json_object *row = NULL;
        json_object_object_get_ex(o, "_row", &row);
        CdbValue p[] = { cdb_int(json_object_get_int64(row)) };
        _cleanup_free_ char *text = NULL;
        int64_t r = cdb_exec(db, "SELECT json FROM events WHERE row_id = CAST(?1 AS BIGINT)", p, 1, first_text, &text);
        json_object_object_del(o, "_row");
        if (r < 0)
                return (int) r;
        _cleanup_(json_object_putp) json_object *ev = text ? json_tokener_parse(text) : NULL;
        json_object *dev = NULL, *v = NULL;
        json_object_object_get_ex(ev, "device", &dev);
        static const char *const keys[][2] = {
                { "product", "product_name" },
                { "manufacturer", "manufacturer" },
                { "category", "category" },
                { "serial_hex", "serial_hex" },
        };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                v = NULL;
                json_object_object_get_ex(dev, keys[i][0], &v);
                json_object_object_add(o, keys[i][1],
                                       json_object_is_type(v, json_type_string) ? json_object_get(v) : NULL);
        }
        return 0;
}

static int device_approved(Cdb *db, json_object *o, const char *today) {
        const char *v, *p, *s;
        device_key(o, &v, &p, &s);
        if (!device_key_is_usb(v)) {
                /* the console approves USB devices only: allow.d says for the others */
                json_object_object_add(o, "approved", NULL);
                return 0;
        }
        CdbValue q[] = { cdb_text(v), cdb_text(p), cdb_text(s), cdb_text(today) };
        int64_t n = 0;
        int r = cdb_query_int(db,
                              "SELECT COUNT(*) FROM approvals WHERE vendor = ?1 AND product = ?2 "
                              "AND (any_serial = 1 OR serial = ?3) "
                              "AND (expires IS NULL OR substr(expires, 1, 10) >= ?4)",
                              q, ELEMENTSOF(q), &n);
        if (r < 0)
                return r;
        json_object_object_add(o, "approved", json_object_new_boolean(n > 0));
        return 0;
}

static void today_iso(int64_t now_us, char buf[static 16]) {
        int64_t d = fleet_day_of(now_us);
        snprintf(buf, 16, "%04d-%02d-%02d", (int) (d / 10000), (int) (d / 100 % 100), (int) (d % 100));
}

/* "0781", "0781:5581" or "0781:5581:SERIAL"; or a bus outside USB: "mmc" */
static int parse_device_q(char *q, const char **vendor, const char **product, const char **serial) {
        char *c1 = strchr(q, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        for (DeviceBus b = DEVICE_BUS_USB + 1; b < _DEVICE_BUS_MAX; b++)
                if (streq(q, device_bus_to_string(b))) {
                        *vendor = device_bus_to_string(b);
                        *product = "";
                        return 0;
                }
        if (c1)
                *c1 = 0;
        if (c2)
                *c2 = 0;
        for (char *p = q; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
        if (!is_hex(q, 4))
                return -EINVAL;
        *vendor = q;
        if (c1) {
                for (char *p = c1 + 1; *p; p++)
                        *p = (char) (*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
                if (!is_hex(c1 + 1, 4))
                        return -EINVAL;
                *product = c1 + 1;
        }
        if (c2) {
                if (!*(c2 + 1))
                        return -EINVAL;
                *serial = c2 + 1;
        }
        return 0;
}

static const char *const devices_csv_header[] = {
        "vendor", "product", "serial", "product_name", "manufacturer", "category", "count",
        "hosts",  "users",   "first",  "last",         "approved",     "bus",      "identity",
};

static int fleet_devices(const ConsoleRequest *rq, ConsoleReply *rp) {
        char fbuf[64], tbuf[64], qbuf[600], abuf[32];
        bool invalid = false;
        const char *from = console_arg(rq, "from", fbuf, sizeof fbuf, &invalid);
        const char *to = console_arg(rq, "to", tbuf, sizeof tbuf, &invalid);
        char *q = (char *) console_arg(rq, "q", qbuf, sizeof qbuf, &invalid);
        const char *aft = console_arg(rq, "after", abuf, sizeof abuf, &invalid);
        const char *vendor = NULL, *product = NULL, *serial = NULL;
        int64_t t_from = rq->now_us - 30LL * 86400 * 1000000, t_to = rq->now_us + 1, limit, offset = 0;

        if (invalid)
                return reply_bad(rp, "arguments", "an argument is too long or not valid text");
        if (from && console_parse_time(from, rq->zone, &t_from) < 0)
                return reply_bad(rp, "from", "a time (2026-12-04T05:06:07Z) or a date (2026-12-04)");
        if (to && console_parse_time(to, rq->zone, &t_to) < 0)
                return reply_bad(rp, "to", "a time (2026-12-04T05:06:07Z) or a date (2026-12-04)");
        if (q && *q && parse_device_q(q, &vendor, &product, &serial) < 0)
                return reply_bad(rp, "q", "vendor[:product[:serial]], in hex: 0781:5581; or a bus: mmc");
        if (arg_limit(rq, &limit) < 0)
                return reply_bad(rp, "limit", "a number from 1 to 500");
        if (aft && (store_cursor_parse(aft, &offset) < 0 || offset > 1000000))
                return reply_bad(rp, "after", "not a cursor of this list");
        int csv = arg_csv(rq);
        if (csv < 0)
                return reply_bad(rp, "format", "csv or json");
        if (csv) {
                /* an export holds every page */
                limit = CONSOLE_CSV_MAX_ROWS;
                offset = 0;
        }

        if (t_to <= t_from)
                return reply_bad(rp, "to", "must be after from");

        /* what arrived lately counts too, when it is little */
        int64_t behind = 0;
        if (console_fleet_behind(rq->db, &behind) >= 0 && behind > 0 && behind <= CONSOLE_FLEET_OVERVIEW_CATCHUP)
                (void) console_fleet_refresh(rq->db, rq->now_us, CONSOLE_FLEET_OVERVIEW_CATCHUP);

        /* counts per received day in the console's zone: from's day to the day before to */
        char sql[1024];
        CdbValue p[8];
        size_t n = 0;
        p[n++] = cdb_int(fleet_day_of(t_from));
        p[n++] = cdb_int(fleet_day_of(t_to - 1));
        int len = snprintf(sql, sizeof sql,
                           "SELECT vendor, product, serial, SUM(n) FROM console_device_daily "
                           "WHERE day >= CAST(?1 AS BIGINT) AND day <= CAST(?2 AS BIGINT)");
        if (vendor) {
                p[n++] = cdb_text(vendor);
                len += snprintf(sql + len, sizeof sql - (size_t) len, " AND vendor = ?%zu", n);
        }
        if (product) {
                p[n++] = cdb_text(product);
                len += snprintf(sql + len, sizeof sql - (size_t) len, " AND product = ?%zu", n);
        }
        if (serial) {
                p[n++] = cdb_text(serial);
                len += snprintf(sql + len, sizeof sql - (size_t) len, " AND serial = ?%zu", n);
        }
        p[n++] = cdb_int(limit + 1);
        p[n++] = cdb_int(offset);
        len += snprintf(sql + len, sizeof sql - (size_t) len,
                        " GROUP BY vendor, product, serial ORDER BY SUM(n) DESC, vendor, product, serial "
                        "LIMIT CAST(?%zu AS BIGINT) OFFSET CAST(?%zu AS BIGINT)",
                        n - 1, n);
        if (len <= 0 || (size_t) len >= sizeof sql)
                return -ENOBUFS;

        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        DeviceRows d = { .rows = json_object_new_array() };
        if (!o || !d.rows) {
                json_object_put(d.rows);
                return -ENOMEM;
        }
        json_object_object_add(o, "rows", d.rows);
        int64_t r = cdb_exec(rq->db, sql, p, n, device_row, &d);
        if (r < 0)
                return fleet_reply_db_error(rp, (int) r);
        json_object *next = NULL;
        if (d.n > limit) {
                json_object_array_del_idx(d.rows, (size_t) limit, 1);
                char c[24];
                snprintf(c, sizeof c, "%" PRId64, offset + limit);
                next = json_object_new_string(c);
        }
        json_object_object_add(o, "next", next);
        if (csv && next) /* before the details of 10^5 groups */
                return console_reply_error(rp, 413, "too_large", "more than 100000 rows: narrow the filter");
        char today[16];
        today_iso(rq->now_us, today);
        for (size_t i = 0; i < json_object_array_length(d.rows); i++) {
                json_object *row = json_object_array_get_idx(d.rows, i);
                int k = device_details(rq->db, row, t_from, t_to);
                if (k >= 0)
                        k = device_names(rq->db, row);
                if (k >= 0)
                        k = device_approved(rq->db, row, today);
                if (k < 0)
                        return fleet_reply_db_error(rp, k);
        }
        if (csv)
                return reply_rows_csv(rq, rp, d.rows, false, devices_csv_header, ELEMENTSOF(devices_csv_header),
                                      "devices", "mamori-devices.csv");
        return console_reply_json(rp, 200, TAKE_PTR(o));
}

/* ---- POST /approvals ---- */

typedef struct ApprovalIn {
        char vendor[5], product[5];
        const char *serial; /* as the event shows it (escaped) */
        bool any_serial;
        const char *label, *approved_by, *approved_on, *expires, *ticket, *access;
} ApprovalIn;

/* A member that is a string, absent, or null; anything else is an error. */
static int get_opt_string(json_object *o, const char *key, const char **ret) {
        json_object *v = NULL;
        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !v)
                return 0;
        if (!json_object_is_type(v, json_type_string))
                return -EINVAL;
        *ret = json_object_get_string(v);
        return 0;
}

static int approval_parse(json_object *body, ApprovalIn *in, const char **bad_field, const char **why) {
        static const char *const known[] = { "vendor",      "product",     "serial",  "any_serial", "label",
                                             "approved_by", "approved_on", "expires", "ticket",     "access" };
        json_object_object_foreach(body, key, val) {
                (void) val;
                bool ok = false;
                for (size_t i = 0; i < ELEMENTSOF(known); i++)
                        ok = ok || streq(key, known[i]);
                if (!ok) {
                        *bad_field = "body";
                        *why = "an unknown member";
                        return -EINVAL;
                }
        }
        const char *s[ELEMENTSOF(known)] = { 0 };
        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                if (i == 3)
                        continue;
                if (get_opt_string(body, known[i], &s[i]) < 0) {
                        *bad_field = known[i];
                        *why = "must be a string or null";
                        return -EINVAL;
                }
        }
        for (size_t i = 0; i < 2; i++) {
                char *dst = i == 0 ? in->vendor : in->product;
                if (!s[i] || strlen(s[i]) != 4 || strspn(s[i], "0123456789abcdefABCDEF") != 4) {
                        *bad_field = known[i];
                        *why = "must be 4 hex digits, e.g. \"0781\"";
                        return -EINVAL;
                }
                for (size_t j = 0; j < 5; j++)
                        dst[j] = (char) (s[i][j] >= 'A' && s[i][j] <= 'F' ? s[i][j] + 32 : s[i][j]);
        }
        json_object *any = NULL;
        if (json_object_object_get_ex(body, "any_serial", &any) && any) {
                if (!json_object_is_type(any, json_type_boolean)) {
                        *bad_field = "any_serial";
                        *why = "must be true or false";
                        return -EINVAL;
                }
                in->any_serial = json_object_get_boolean(any);
        }
        in->serial = s[2];
        in->label = s[4];
        in->approved_by = s[5];
        in->approved_on = s[6];
        in->expires = s[7];
        in->ticket = s[8];
        in->access = s[9] ?: "read-write";
        return 0;
}

static int approval_validate(const ApprovalIn *in, const char **field, const char **why, char **serial_bytes,
                             size_t *serial_len) {
        int y, m, d;
        usec_t exp = 0;

        if (!in->any_serial && isempty(in->serial)) {
                *field = "serial";
                *why = "give the device's serial, or any_serial = true to allow every device of this model";
                return -EINVAL;
        }
        if (in->serial && *in->serial) {
                /* the escaped form of an event: clean one-line text, whose escapes give the exact bytes */
                if (strlen(in->serial) > 4 * 512 || !text_is_clean(in->serial, strlen(in->serial)) ||
                    allow_serial_unescape(in->serial, 512, serial_bytes, serial_len) < 0) {
                        *field = "serial";
                        *why = "not a serial as events show it (docs/events.md 3.1): at most 512 bytes, no NUL";
                        return -EINVAL;
                }
        }
        if (in->label && !is_clean_line(in->label, 256)) {
                *field = "label";
                *why = "one line of text, at most 256 bytes, without control, bidi or invisible characters";
                return -EINVAL;
        }
        if (!is_clean_line(in->approved_by, 128)) {
                *field = "approved_by";
                *why = "required: one line of text, at most 128 bytes, without control, bidi or invisible characters";
                return -EINVAL;
        }
        if (!in->approved_on || parse_date(in->approved_on, &y, &m, &d) < 0) {
                *field = "approved_on";
                *why = "required: a date written YYYY-MM-DD that exists";
                return -EINVAL;
        }
        if (in->expires && (strlen(in->expires) > 64 || parse_expiry(in->expires, &exp) < 0)) {
                *field = "expires";
                *why = "a date YYYY-MM-DD or an RFC 3339 date-time with its offset";
                return -EINVAL;
        }
        if (in->expires && exp <= date_start_local(y, m, d)) {
                *field = "expires";
                *why = "is before approved_on";
                return -EINVAL;
        }
        if (in->ticket && !is_clean_line(in->ticket, 128)) {
                *field = "ticket";
                *why = "one line of text, at most 128 bytes, without control, bidi or invisible characters";
                return -EINVAL;
        }
        if (streq(in->access, "read-only")) {
                /* mamorid's allow entries have no read-only mode yet: an entry that
                 * the agent would read as read-write must not be issued as read-only */
                *field = "access";
                *why = "read-only entries are not supported by mamorid yet: approve read-write or not at all";
                return -EINVAL;
        }
        if (!streq(in->access, "read-write")) {
                *field = "access";
                *why = "\"read-write\" or \"read-only\"";
                return -EINVAL;
        }
        return 0;
}

/* The daemon's own parser is the judge, as for mamorictl allow. */
static int approval_roundtrip(const char *text, const AllowDraft *d) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        ConfigErrors errs = { 0 };
        int r = config_load_strings("", text, &p, &errs);
        config_errors_done(&errs);
        if (r < 0)
                return -EBADMSG;
        const AllowEntry *a = p->usb.n_entries == 1 ? &p->usb.entries[0] : NULL;
        if (!a || a->vendor != d->vendor || a->product != d->product || a->any_serial != d->any_serial ||
            (!d->any_serial && (a->serial_len != d->serial_len || memcmp(a->serial, d->serial, d->serial_len) != 0)) ||
            !streq_ptr(a->label, d->label) || !streq_ptr(a->approved_by, d->approved_by) ||
            !streq_ptr(a->ticket, d->ticket))
                return -EBADMSG;
        return 0;
}

static int approval_json_row(const CdbRow *r, void *userdata) {
        json_object *a = userdata, *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        add_int(o, "id", cdb_row_int(r, 0));
        json_object_object_add(o, "created_at", console_json_time(cdb_row_int(r, 1)));
        json_object_object_add(o, "created_by", fleet_json_text(cdb_row_text(r, 2)));
        json_object_object_add(o, "vendor", fleet_json_text(cdb_row_text(r, 3)));
        json_object_object_add(o, "product", fleet_json_text(cdb_row_text(r, 4)));
        json_object_object_add(o, "serial", fleet_json_text(cdb_row_text(r, 5)));
        json_object_object_add(o, "any_serial", json_object_new_boolean(cdb_row_int(r, 6) != 0));
        json_object_object_add(o, "label", fleet_json_text(cdb_row_text(r, 7)));
        json_object_object_add(o, "approved_by", fleet_json_text(cdb_row_text(r, 8)));
        json_object_object_add(o, "approved_on", fleet_json_text(cdb_row_text(r, 9)));
        json_object_object_add(o, "expires", fleet_json_text(cdb_row_text(r, 10)));
        json_object_object_add(o, "ticket", fleet_json_text(cdb_row_text(r, 11)));
        json_object_object_add(o, "access", fleet_json_text(cdb_row_text(r, 12)));
        json_object_object_add(o, "allow_text", fleet_json_text(cdb_row_text(r, 13)));
        json_object_array_add(a, o);
        return 0;
}

#define APPROVAL_COLUMNS \
        "id, created_at, created_by, vendor, product, serial, any_serial, label, approved_by, approved_on, " \
        "expires, ticket, access, allow_text"

static json_object *parse_body(const ConsoleRequest *rq) {
        if (!rq->body || rq->body_len == 0 || rq->body_len > CONSOLE_BODY_MAX || memchr(rq->body, 0, rq->body_len))
                return NULL;
        json_tokener *tok = json_tokener_new_ex(16);
        if (!tok)
                return NULL;
        json_object *o = json_tokener_parse_ex(tok, rq->body, (int) rq->body_len);
        bool ok = o && json_tokener_get_error(tok) == json_tokener_success &&
                  json_tokener_get_parse_end(tok) == rq->body_len && json_object_is_type(o, json_type_object);
        json_tokener_free(tok);
        if (!ok) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static int fleet_approve(const ConsoleRequest *rq, ConsoleReply *rp) {
        _cleanup_(json_object_putp) json_object *body = parse_body(rq);
        ApprovalIn in = { 0 };
        const char *field = NULL, *why = NULL;
        _cleanup_free_ char *serial = NULL, *text = NULL, *c1 = NULL, *c2 = NULL;
        size_t serial_len = 0;
        int k;

        if (!body)
                return reply_bad(rp, "body", "not a JSON object");
        if (approval_parse(body, &in, &field, &why) < 0 || approval_validate(&in, &field, &why, &serial, &serial_len) < 0)
                return reply_bad(rp, field, why);

        unsigned vid = 0, pid = 0;
        sscanf(in.vendor, "%4x", &vid);
        sscanf(in.product, "%4x", &pid);
        /* only checked text in the comments: the escaped serial is clean, one line */
        if (asprintf(&c1, "%s:%s, serial %s, approved in the mamori console by %s", in.vendor, in.product,
                     serial && !in.any_serial ? in.serial : "(any)", rq->session ? rq->session->user : "?") < 0 ||
            asprintf(&c2, "Save it as /etc/mamori/allow.d/NAME.conf (mode 0600), check it with 'mamorictl "
                          "check-config', apply it with 'systemctl reload mamori'.") < 0)
                return -ENOMEM;
        const char *comments[] = { c1, c2, NULL };
        AllowDraft d = { .vendor = (uint16_t) vid,
                         .product = (uint16_t) pid,
                         .serial = serial,
                         .serial_len = serial_len,
                         .any_serial = in.any_serial || !serial,
                         .label = in.label,
                         .approved_by = in.approved_by,
                         .approved_on = in.approved_on,
                         .expires = in.expires,
                         .ticket = in.ticket,
                         .comments = comments };
        text = allow_draft_format(&d);
        if (!text)
                return -ENOMEM;
        if (approval_roundtrip(text, &d) < 0)
                return console_reply_error(rp, 500, "internal", "the allow entry does not read back (a bug)");

        k = cdb_begin(rq->db);
        if (k < 0)
                return fleet_reply_db_error(rp, k);
        CdbValue p[] = { cdb_int(rq->now_us),
                         cdb_text(rq->session ? rq->session->user : ""),
                         cdb_text(in.vendor),
                         cdb_text(in.product),
                         cdb_text(d.any_serial ? NULL : in.serial),
                         cdb_int(d.any_serial),
                         cdb_text(in.label),
                         cdb_text(in.approved_by),
                         cdb_text(in.approved_on),
                         cdb_text(in.expires),
                         cdb_text(in.ticket),
                         cdb_text(in.access),
                         cdb_text(text) };
        json_object *rows = json_object_new_array();
        if (!rows)
                return cdb_end(rq->db, -ENOMEM);
        _cleanup_(json_object_putp) json_object *rows_ref = rows;
        /* no RETURNING: SQLite before 3.35 (RHEL 9) lacks it; the same connection reads its row back */
        int64_t r = cdb_exec(rq->db,
                             "INSERT INTO approvals (created_at, created_by, vendor, product, serial, any_serial, "
                             "label, approved_by, approved_on, expires, ticket, access, allow_text) VALUES "
                             "(CAST(?1 AS BIGINT), ?2, ?3, ?4, ?5, CAST(?6 AS BIGINT), ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                             p, ELEMENTSOF(p), NULL, NULL);
        if (r >= 0)
                r = cdb_exec(rq->db,
                             cdb_sql(rq->db, "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id = last_insert_rowid()",
                                     "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id = "
                                     "currval(pg_get_serial_sequence('approvals', 'id'))"),
                             NULL, 0, approval_json_row, rows);
        if (r == 0)
                r = -EIO;
        k = r < 0 ? (int) r : 0;
        if (k >= 0) {
                json_object *a = json_object_array_get_idx(rows, 0), *id = NULL;
                char target[32];
                json_object_object_get_ex(a, "id", &id);
                snprintf(target, sizeof target, "approval/%" PRId64, json_object_get_int64(id));
                json_object *detail = json_object_new_object();
                if (!detail)
                        k = -ENOMEM;
                else {
                        json_object_object_add(detail, "vendor", json_object_new_string(in.vendor));
                        json_object_object_add(detail, "product", json_object_new_string(in.product));
                        json_object_object_add(detail, "serial", fleet_json_text(d.any_serial ? NULL : in.serial));
                        json_object_object_add(detail, "any_serial", json_object_new_boolean(d.any_serial));
                        json_object_object_add(detail, "expires", fleet_json_text(in.expires));
                        k = console_audit(rq, "approve", target,
                                          json_object_to_json_string_ext(detail, JSON_C_TO_STRING_PLAIN));
                        json_object_put(detail);
                        if (k == -EOPNOTSUPP)
                                k = 0; /* the audit helper is not there (yet): the approval row is the record */
                }
        }
        k = cdb_end(rq->db, k);
        if (k < 0)
                return fleet_reply_db_error(rp, k);
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "approval", json_object_get(json_object_array_get_idx(rows, 0)));
        return console_reply_json(rp, 201, TAKE_PTR(o));
}

/* ---- GET /approvals ---- */

static const char *const approvals_csv_header[] = {
        "id",    "created_at",  "created_by",  "vendor",  "product", "serial", "any_serial",
        "label", "approved_by", "approved_on", "expires", "ticket",  "access", "allow_text",
};

static int fleet_approvals(const ConsoleRequest *rq, ConsoleReply *rp) {
        char ebuf[16], abuf[32];
        bool invalid = false;
        const char *exp = console_arg(rq, "expiring_days", ebuf, sizeof ebuf, &invalid);
        const char *aft = console_arg(rq, "after", abuf, sizeof abuf, &invalid);
        int64_t limit, days = -1, after = 0;

        if (invalid)
                return reply_bad(rp, "arguments", "an argument is too long or not valid text");
        if (arg_limit(rq, &limit) < 0)
                return reply_bad(rp, "limit", "a number from 1 to 500");
        if (exp && (store_cursor_parse(exp, &days) < 0 || days > 3660))
                return reply_bad(rp, "expiring_days", "a number of days from 0 to 3660");
        if (aft && (store_cursor_parse(aft, &after) < 0 || after < 1))
                return reply_bad(rp, "after", "not a cursor of this list");
        int csv = arg_csv(rq);
        if (csv < 0)
                return reply_bad(rp, "format", "csv or json");
        if (csv) {
                /* an export holds every page */
                limit = CONSOLE_CSV_MAX_ROWS;
                after = 0;
        }

        char today[16], until[16];
        today_iso(rq->now_us, today);
        int64_t u = fleet_day_minus(rq->now_us, -(int) (days < 0 ? 0 : days));
        snprintf(until, sizeof until, "%04d-%02d-%02d", (int) (u / 10000), (int) (u / 100 % 100), (int) (u % 100));
        CdbValue p[] = { cdb_int(after > 0 ? after : INT64_MAX), cdb_int(limit + 1), cdb_text(today), cdb_text(until) };
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *rows = json_object_new_array();
        if (!o || !rows) {
                json_object_put(rows);
                return -ENOMEM;
        }
        json_object_object_add(o, "rows", rows);
        int64_t r = cdb_exec(rq->db,
                             days >= 0 ? "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id < CAST(?1 AS BIGINT) "
                                         "AND expires IS NOT NULL AND substr(expires, 1, 10) >= ?3 "
                                         "AND substr(expires, 1, 10) <= ?4 ORDER BY id DESC LIMIT CAST(?2 AS BIGINT)"
                                       : "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id < CAST(?1 AS BIGINT) "
                                         "ORDER BY id DESC LIMIT CAST(?2 AS BIGINT)",
                             p, days >= 0 ? 4 : 2, approval_json_row, rows);
        if (r < 0)
                return fleet_reply_db_error(rp, (int) r);
        if (csv)
                return reply_rows_csv(rq, rp, rows, (int64_t) json_object_array_length(rows) > limit,
                                      approvals_csv_header, ELEMENTSOF(approvals_csv_header), "approvals",
                                      "mamori-approvals.csv");
        json_object *next = NULL;
        if ((int64_t) json_object_array_length(rows) > limit) {
                json_object_array_del_idx(rows, (size_t) limit, 1);
                json_object *id = NULL;
                json_object_object_get_ex(json_object_array_get_idx(rows, (size_t) limit - 1), "id", &id);
                next = json_object_new_string(json_object_get_string(id));
        }
        json_object_object_add(o, "next", next);
        return console_reply_json(rp, 200, TAKE_PTR(o));
}

/* ---- /settings/policy-hashes ---- */

#define POLICY_HASHES_MAX 64

static int fleet_hashes_get(const ConsoleRequest *rq, ConsoleReply *rp) {
        json_object *hashes = NULL;
        int k = fleet_policy_hashes(rq->db, &hashes);
        if (k < 0)
                return fleet_reply_db_error(rp, k);
        json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(hashes);
                return -ENOMEM;
        }
        json_object_object_add(o, "hashes", hashes);
        return console_reply_json(rp, 200, o);
}

static int fleet_hashes_set(const ConsoleRequest *rq, ConsoleReply *rp) {
        _cleanup_(json_object_putp) json_object *body = parse_body(rq);
        json_object *list = NULL;
        if (!body || !json_object_object_get_ex(body, "hashes", &list) || !json_object_is_type(list, json_type_array) ||
            json_object_object_length(body) != 1)
                return reply_bad(rp, "hashes", "the body must be {\"hashes\": [{\"hash\", \"label\"}]}");
        size_t n = json_object_array_length(list);
        if (n > POLICY_HASHES_MAX)
                return reply_bad(rp, "hashes", "at most 64");
        _cleanup_(json_object_putp) json_object *out = json_object_new_array();
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(list, i), *h = NULL, *l = NULL;
                char hash[65];
                if (!json_object_is_type(e, json_type_object) || !json_object_object_get_ex(e, "hash", &h) ||
                    !json_object_is_type(h, json_type_string) || json_object_get_string_len(h) != 64)
                        return reply_bad(rp, "hash", "64 hex digits, as agent.policy_hash shows it");
                memcpy(hash, json_object_get_string(h), 65);
                for (char *p = hash; *p; p++)
                        *p = (char) (*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
                if (!is_hex(hash, 64))
                        return reply_bad(rp, "hash", "64 hex digits, as agent.policy_hash shows it");
                if (json_object_object_get_ex(e, "label", &l) && l &&
                    (!json_object_is_type(l, json_type_string) || !is_clean_line(json_object_get_string(l), 128)))
                        return reply_bad(rp, "label", "one line of text, at most 128 bytes");
                json_object *o = json_object_new_object();
                if (!o)
                        return -ENOMEM;
                json_object_object_add(o, "hash", json_object_new_string(hash));
                json_object_object_add(o, "label", l ? json_object_new_string(json_object_get_string(l)) : NULL);
                json_object_object_add(o, "set_at", console_json_time(rq->now_us));
                json_object_object_add(o, "set_by", json_object_new_string(rq->session ? rq->session->user : ""));
                json_object_array_add(out, o);
        }
        const char *text = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN);
        int k = cdb_begin(rq->db);
        if (k < 0)
                return fleet_reply_db_error(rp, k);
        CdbValue p[] = { cdb_text(text), cdb_int(rq->now_us), cdb_text(rq->session ? rq->session->user : "") };
        int64_t r = cdb_exec(rq->db,
                             "INSERT INTO settings (key, value, updated_at, updated_by) VALUES "
                             "('policy_hashes', ?1, CAST(?2 AS BIGINT), ?3) ON CONFLICT (key) DO UPDATE SET "
                             "value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                             p, ELEMENTSOF(p), NULL, NULL);
        k = r < 0 ? (int) r : 0;
        if (k >= 0) {
                k = console_audit(rq, "settings", "policy_hashes", text);
                if (k == -EOPNOTSUPP)
                        k = 0;
        }
        k = cdb_end(rq->db, k);
        if (k < 0)
                return fleet_reply_db_error(rp, k);
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "hashes", TAKE_PTR(out));
        return console_reply_json(rp, 200, o);
}

const ConsoleRoute console_routes_fleet[] = {
        { "GET", "/overview", CONSOLE_ROLE_VIEWER, fleet_overview },
        { "GET", "/hosts", CONSOLE_ROLE_VIEWER, fleet_hosts },
        { "GET", "/hosts/*", CONSOLE_ROLE_VIEWER, fleet_host },
        { "GET", "/devices", CONSOLE_ROLE_VIEWER, fleet_devices },
        { "POST", "/approvals", CONSOLE_ROLE_ADMIN, fleet_approve },
        { "GET", "/approvals", CONSOLE_ROLE_VIEWER, fleet_approvals },
        { "GET", "/reports/monthly", CONSOLE_ROLE_VIEWER, fleet_report_monthly },
        { "GET", "/settings/policy-hashes", CONSOLE_ROLE_VIEWER, fleet_hashes_get },
        { "POST", "/settings/policy-hashes", CONSOLE_ROLE_ADMIN, fleet_hashes_set },
        { NULL },
};
