/* SPDX-License-Identifier: MIT */
#include "ingest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"

#define RATIO_FLOOR (1024u * 1024u) /* below this much output the ratio says nothing */

void ingest_init(Ingest *in, const CollectorLimits *limits, bool gzip) {
        *in = (Ingest){ .limits = *limits, .gzip = gzip };
}

void ingest_done(Ingest *in) {
        if (in->z_ready)
                inflateEnd(&in->z);
        free(in->arena);
        free(in->lines);
        *in = (Ingest){ 0 };
}

static int _printf_(4, 5) fail(Ingest *in, int status, int err, const char *fmt, ...) {
        if (in->status == 0) {
                va_list ap;
                va_start(ap, fmt);
                in->status = status;
                vsnprintf(in->reason, sizeof in->reason, fmt, ap);
                va_end(ap);
        }
        return err;
}

static int arena_append(Ingest *in, const char *p, size_t n) {
        if (in->arena_len + n + 1 > in->arena_cap) {
                size_t cap = MAX(in->arena_cap * 2, in->arena_len + n + 1);
                char *a = realloc(in->arena, MAX(cap, (size_t) 65536));
                if (!a)
                        return -ENOMEM;
                in->arena = a;
                in->arena_cap = MAX(cap, (size_t) 65536);
        }
        memcpy(in->arena + in->arena_len, p, n);
        in->arena_len += n;
        return 0;
}

static int line_end(Ingest *in) {
        IngestLine *l = &in->cur;
        int r;

        /* a CRLF line, and trailing blanks, end where the text does */
        while (l->kept > 0 && l->len == l->kept && strchr("\r \t", in->arena[l->off + l->kept - 1])) {
                l->kept--;
                l->len--;
        }
        in->in_line = false;
        if (l->len == 0) { /* a blank line: nothing to store, nothing to reject */
                in->arena_len = l->off;
                return 0;
        }
        in->arena_len = l->off + l->kept;
        r = arena_append(in, "", 1); /* NUL-terminated: StoreEvent's strings are */
        if (r < 0)
                return r;
        if (in->n_lines >= in->limits.max_events)
                return fail(in, 413, -E2BIG, "more than %zu lines", in->limits.max_events);
        if (GROW_ARRAY(in->lines, in->lines_cap, in->n_lines + 1, 256) < 0)
                return -ENOMEM;
        in->lines[in->n_lines++] = *l;
        return 0;
}

/* Decompressed (or plain) bytes: split into lines, keeping of each line at
 * most max_line_bytes (of a longer one, its first INGEST_RAW_MAX). */
static int take_text(Ingest *in, const char *p, size_t n) {
        while (n > 0) {
                const char *nl = memchr(p, '\n', n);
                size_t k = nl ? (size_t) (nl - p) : n, keep_max, room;
                int r;

                if (!in->in_line) {
                        in->cur = (IngestLine){ .off = in->arena_len };
                        in->in_line = true;
                }
                keep_max = in->cur.len + k > in->limits.max_line_bytes ? INGEST_RAW_MAX : in->limits.max_line_bytes;
                if (in->cur.len + k > in->limits.max_line_bytes && in->cur.kept > INGEST_RAW_MAX) {
                        /* it just became too long: drop what was kept beyond the raw prefix */
                        in->cur.kept = INGEST_RAW_MAX;
                        in->arena_len = in->cur.off + INGEST_RAW_MAX;
                }
                room = in->cur.kept < keep_max ? keep_max - in->cur.kept : 0;
                if (room > 0) {
                        r = arena_append(in, p, MIN(room, k));
                        if (r < 0)
                                return r;
                        in->cur.kept += MIN(room, k);
                }
                in->cur.len += k;
                if (nl) {
                        r = line_end(in);
                        if (r < 0)
                                return r;
                        k++;
                }
                p += k;
                n -= k;
        }
        return 0;
}

static int take_out(Ingest *in, const char *p, size_t n) {
        in->out_bytes += n;
        if (in->out_bytes > in->limits.max_decompressed_bytes)
                return fail(in, 413, -E2BIG, "decompressed body larger than %zu bytes",
                            in->limits.max_decompressed_bytes);
        if (in->gzip && in->out_bytes > RATIO_FLOOR &&
            in->out_bytes / MAX(in->z.total_in, (uLong) 1) >= in->limits.max_ratio)
                return fail(in, 413, -E2BIG, "compression ratio above %zu", (size_t) in->limits.max_ratio);
        return take_text(in, p, n);
}

static int inflate_some(Ingest *in, const void *data, size_t len) {
        char out[65536];
        int r, zr;

        if (!in->z_ready) {
                if (inflateInit2(&in->z, 16 + MAX_WBITS) != Z_OK)
                        return -ENOMEM;
                in->z_ready = true;
        }
        in->z.next_in = (Bytef *) data;
        in->z.avail_in = (uInt) len;
        while (in->z.avail_in > 0) {
                if (in->z_ended) {
                        /* another gzip member may follow (concatenated streams) */
                        uLong total = in->z.total_in;
                        if (inflateReset(&in->z) != Z_OK)
                                return -ENOMEM;
                        in->z.total_in = total;
                        in->z_ended = false;
                }
                in->z.next_out = (Bytef *) out;
                in->z.avail_out = sizeof out;
                zr = inflate(&in->z, Z_NO_FLUSH);
                if (zr == Z_MEM_ERROR)
                        return -ENOMEM;
                if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                        return fail(in, 400, -EBADMSG, "bad gzip stream");
                r = take_out(in, out, sizeof out - in->z.avail_out);
                if (r < 0)
                        return r;
                if (zr == Z_STREAM_END)
                        in->z_ended = true;
                else if (zr == Z_BUF_ERROR && in->z.avail_out > 0)
                        break;
        }
        return 0;
}

int ingest_feed(Ingest *in, const void *data, size_t len) {
        if (in->status != 0)
                return -ECANCELED;
        in->body_bytes += len;
        if (in->body_bytes > in->limits.max_body_bytes)
                return fail(in, 413, -E2BIG, "body larger than %zu bytes", in->limits.max_body_bytes);
        if (len == 0)
                return 0;
        return in->gzip ? inflate_some(in, data, len) : take_out(in, data, len);
}

int ingest_finish(Ingest *in) {
        int r;
        if (in->status != 0)
                return -ECANCELED;
        if (in->gzip) {
                /* an empty gzip body is no gzip stream either */
                if (!in->z_ready || !in->z_ended)
                        return fail(in, 400, -EBADMSG, "gzip stream cut short");
        }
        if (in->in_line) {
                r = line_end(in);
                if (r < 0)
                        return r;
        }
        if (in->n_lines == 0)
                return fail(in, 400, -EBADMSG, "empty body: no line");
        return 0;
}

bool ingest_name_matches(const char *const *names, const char *machine_id, const char *host_name) {
        for (const char *const *n = names; n && *n; n++)
                if ((machine_id && strcasecmp(*n, machine_id) == 0) || (host_name && strcasecmp(*n, host_name) == 0))
                        return true;
        return false;
}

void ingest_batch_done(IngestBatch *b) {
        for (size_t i = 0; i < b->n_events; i++)
                event_check_done(&b->checked[i]);
        free(b->checked);
        free(b->events);
        free(b->rejected);
        free(b->reasons);
        free(b->machine_ids);
        *b = (IngestBatch){ 0 };
}

int ingest_check(Ingest *in, const IngestIdentity *id, IngestBatch *ret) {
        IngestBatch b = { 0 };
        size_t n = in->n_lines;

        b.checked = calloc(MAX(n, (size_t) 1), sizeof *b.checked);
        b.events = calloc(MAX(n, (size_t) 1), sizeof *b.events);
        b.rejected = calloc(MAX(n, (size_t) 1), sizeof *b.rejected);
        b.reasons = calloc(MAX(n, (size_t) 1), sizeof *b.reasons);
        b.machine_ids = calloc(MAX(n, (size_t) 1), sizeof *b.machine_ids);
        if (!b.checked || !b.events || !b.rejected || !b.reasons || !b.machine_ids) {
                ingest_batch_done(&b);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                const IngestLine *l = &in->lines[i];
                const char *text = in->arena + l->off;
                CheckedEvent *c = &b.checked[b.n_events];
                StoreRejected *rj = &b.rejected[b.n_rejected];
                char *reason = b.reasons[b.n_rejected];
                int r;

                *rj = (StoreRejected){ .line_no = i + 1,
                                       .reason = reason,
                                       .raw = text,
                                       .raw_len = MIN(l->kept, (size_t) INGEST_RAW_MAX),
                                       .line_len = l->len };
                if (l->len > in->limits.max_line_bytes) {
                        snprintf(reason, EVENT_CHECK_REASON_MAX, "line longer than %zu bytes", in->limits.max_line_bytes);
                        b.n_rejected++;
                        continue;
                }
                r = event_check(text, l->len, c, reason);
                if (r < 0) {
                        ingest_batch_done(&b);
                        return r;
                }
                if (r != EVENT_CHECK_NOT_JSON)
                        b.n_objects++;
                if (r == EVENT_CHECK_OK && id && id->require_name_match &&
                    !ingest_name_matches(id->cert_names, c->ev.machine_id, c->ev.host_name)) {
                        memcpy(b.machine_ids[b.n_rejected], c->machine_id, 33);
                        event_check_done(c);
                        snprintf(reason, EVENT_CHECK_REASON_MAX, "machine_id not named by the client certificate");
                        rj->machine_id = b.machine_ids[b.n_rejected];
                        b.n_rejected++;
                        continue;
                }
                if (r != EVENT_CHECK_OK) {
                        if (c->machine_id[0]) {
                                memcpy(b.machine_ids[b.n_rejected], c->machine_id, 33);
                                rj->machine_id = b.machine_ids[b.n_rejected];
                        }
                        *c = (CheckedEvent){ 0 };
                        b.n_rejected++;
                        continue;
                }
                b.n_events++;
        }
        /* the checked events do not move any more: point StoreEvent at their copies */
        for (size_t i = 0; i < b.n_events; i++) {
                b.events[i] = b.checked[i].ev;
                b.events[i].id = b.checked[i].id;
                b.events[i].machine_id = b.checked[i].machine_id;
        }
        *ret = b;
        return 0;
}
