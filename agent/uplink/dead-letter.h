/* SPDX-License-Identifier: MIT */
#pragma once

/* Dead letters: batches the collector refused for good (400, 415, 422, a
 * single event still too large for a 413), kept by mamori-uplink in its state
 * directory until an administrator sends them again (`mamorictl dead-letter
 * resend`), so that no event leaves the PC without reaching the collector or
 * being reported.
 *
 *   <state>/dead-letter/<first>-<last>.ndjson   (0700 directory, 0600 files)
 *   <state>/resend/<first>-<last>.ndjson        moved there by mamorictl (root,
 *                                               a rename only), sent before the spool
 *
 * <first> and <last> are the batch's seqs, 20 decimal digits each. A file is
 * one header line, then the batch exactly as it was sent (NDJSON, the
 * original ids and seqs):
 *
 *   {"mamori_dead_letter":{"time":"<RFC 3339>","url":"...","status":400,
 *     "response":"<the collector's answer, sanitized>","first_seq":1,
 *     "last_seq":5,"count":5,"answers":[{"time":..,"status":..,"response":..}, ...]}}
 *
 * time, status and response are the newest answer; answers holds every answer
 * the batch got, oldest first (a resent batch refused again keeps both), at
 * most DEAD_LETTER_ANSWERS_MAX (the oldest goes first).
 *
 * Bound: the bytes of both directories together stay under the uplink's
 * dead_letter_max (spool.max_size_mb, mamori.conf(5)). A batch refused when it
 * is full is not acknowledged: it stays in the spool and delivery waits
 * (backoff_max), so the spool's own bound decides what goes and says so
 * (agent.events_dropped). A resent batch refused again replaces its own file
 * and is never refused by the bound.
 *
 * The files are the uplink's own, but the directory belongs to a user that
 * mamorictl (root) also reads: whatever is read back is checked byte by byte
 * (dead_letter_parse()). The parser is pure; the rest does file I/O on
 * directory fds, O_NOFOLLOW, and never logs (the caller does, once). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "timeutil.h"

#define DEAD_LETTER_ANSWERS_MAX 8
#define DEAD_LETTER_RESPONSE_MAX 2048u          /* bytes of one sanitized answer */
#define DEAD_LETTER_HEADER_MAX (64u * 1024u)    /* bytes of the header line */
#define DEAD_LETTER_BODY_MAX (1024u * 1024u)    /* a batch: BATCH_MAX_BYTES of uplink.c */
#define DEAD_LETTER_ID_MAX 128u                 /* bytes of an event's id */
#define DEAD_LETTER_SEQ_MAX (UINT64_C(1) << 52) /* what the spool believes */
#define DEAD_LETTER_NAME_LEN (20 + 1 + 20 + 7)  /* "%020-%020.ndjson" */

typedef struct DeadLetterAnswer {
        char time[RFC3339_MAX]; /* when it came; RFC 3339 */
        long status;            /* 100..999 */
        char *response;         /* sanitized, at most DEAD_LETTER_RESPONSE_MAX bytes */
} DeadLetterAnswer;

typedef struct DeadLetterInfo {
        char *url;    /* where it was sent; may be NULL */
        char *reason; /* why it is here beyond the answer (a single event too large); may be NULL */
        uint64_t first_seq, last_seq;
        size_t count;
        DeadLetterAnswer answers[DEAD_LETTER_ANSWERS_MAX]; /* oldest first */
        size_t n_answers;                                  /* >= 1 in a parsed file */
} DeadLetterInfo;

void dead_letter_info_done(DeadLetterInfo *i);

/* Appends an answer (the oldest one goes when full); response: the raw
 * answer, len bytes, sanitized here. -ENOMEM. */
int dead_letter_info_add_answer(DeadLetterInfo *i, usec_t when, long status, const char *response, size_t len);

/* "<first 20 digits>-<last 20 digits>.ndjson" into buf. */
void dead_letter_name(uint64_t first_seq, uint64_t last_seq, char buf[static DEAD_LETTER_NAME_LEN + 1]);
/* Whether name is exactly such a name (first <= last); its seqs. Pure. */
bool dead_letter_name_parse(const char *name, uint64_t *ret_first, uint64_t *ret_last);

/* The header line (no newline), newly allocated. -EINVAL without an answer. -ENOMEM. Pure. */
int dead_letter_format_header(const DeadLetterInfo *i, char **ret, size_t *ret_len);

/* A whole file's bytes: the header parsed into *ret, and the body (the batch
 * as sent) checked: every line a JSON object with a string "id" (1..
 * DEAD_LETTER_ID_MAX bytes) and an integer "seq", seqs strictly increasing
 * from first_seq to last_seq, count lines, every line ending in \n, no NUL.
 * *ret_body points into buf. -EBADMSG (and *ret_why, static text) for any
 * flaw, -EFBIG over the bounds, -ENOMEM. Pure. */
int dead_letter_parse(const char *buf, size_t len, DeadLetterInfo *ret, const char **ret_body, size_t *ret_body_len,
                      const char **ret_why);

/* ---- the directories (I/O) ---- */

typedef struct DeadLetter DeadLetter;

/* state_dir: the uplink's; dead-letter/ and resend/ are made there (0700) when missing. */
int dead_letter_new(const char *state_dir, DeadLetter **ret);
DeadLetter *dead_letter_free(DeadLetter *d);
DEFINE_POINTER_CLEANUP(DeadLetter, dead_letter_free);

const char *dead_letter_dir(const DeadLetter *d);
void dead_letter_set_max(DeadLetter *d, uint64_t max_bytes);

/* Counts the files and bytes of both directories again (after every change
 * and when mamorictl may have moved some). */
int dead_letter_rescan(DeadLetter *d);
/* The counts of the last rescan. */
void dead_letter_usage(const DeadLetter *d, uint64_t *ret_batches, uint64_t *ret_bytes);

/* Writes a batch (its header from info, then body exactly as sent), durable
 * (fsync of the file and the directory) before it returns. replacing: a
 * resent batch coming back, which the bound does not refuse. -EDQUOT when
 * the bound is reached. *ret_path: where it went. */
int dead_letter_write(DeadLetter *d, const DeadLetterInfo *info, const char *body, size_t len, bool replacing,
                      char **ret_path);

/* The next batch to resend: the lowest name in resend/. -ENODATA when none.
 * A file that fails dead_letter_parse() (or is not a regular file, or too
 * large) is set aside as dead-letter/<name>.damaged and -EBADMSG returned
 * with *ret_name and *ret_why (static text) set, so the caller logs it and
 * asks again. *ret_body is newly allocated (the batch, as sent). */
int dead_letter_next_resend(DeadLetter *d, DeadLetterInfo *ret, char **ret_body, size_t *ret_len, char **ret_name,
                            const char **ret_why);
/* The resent batch name reached the collector (or went back to dead-letter/): removed from resend/. */
int dead_letter_resend_done(DeadLetter *d, const char *name);
