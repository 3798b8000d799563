/* SPDX-License-Identifier: MIT */
#pragma once

/* The uplink: takes batches from the spool and POSTs them as NDJSON to
 * collector.url over verified TLS, one batch at a time and in seq order, on
 * the event loop (agent/uplink/curl-event.c): nothing blocks, no thread.
 *
 * - 2xx: the batch leaves the spool (spool_ack) and the next one goes at once.
 * - transport error, timeout, 408, 429, 5xx: the batch stays; exponential
 *   backoff with jitter, or Retry-After when the collector says how long.
 * - 413: the batch is halved and sent again; a single event still too large
 *   is dead-lettered with the reason.
 * - 400, 415, 422 (the content can never be stored): the batch is written to
 *   the dead-letter directory with the status and the answer, acknowledged,
 *   and the rest keeps flowing.
 * - any other 4xx (401, 403, 404, 405, 407, 421, 426, ...: the collector
 *   refuses us, a configuration to fix): the batch stays and waits as after a
 *   5xx; the state is "refused" (status, since, answer) until an answer of
 *   another class, said once per change in the journal and the status file.
 * - batches that `mamorictl dead-letter resend` moved to resend/ go before
 *   the spool, with their original ids and seqs (dead-letter.h; when the
 *   dead-letter directory is full, a rejected batch stays in the spool and
 *   delivery waits).
 * Without a url nothing is sent: events stay in the spool and the journal.
 *
 * It runs in mamori-uplink (agent/uplink/main.c), on the spool that mamorid
 * writes, opened read-only (spool_open_reader()). */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "macro.h"
#include "policy.h"
#include "spool.h"
#include "timeutil.h"
#include "uplink-status.h"

typedef struct Uplink Uplink;

/* UplinkState and UplinkStatus: common/uplink-status.h (the status file's format). */

/* state_dir: the uplink's own; its dead-letter/ and resend/ directories are
 * there. spool may be NULL (it cannot be read yet): the state is off until
 * uplink_set_spool(). */
int uplink_new(sd_event *e, Spool *spool, const char *state_dir, Uplink **ret);
Uplink *uplink_free(Uplink *u);
DEFINE_POINTER_CLEANUP(Uplink, uplink_free);

/* Applies collector settings (at start and on reload). */
int uplink_configure(Uplink *u, const CollectorSettings *c, uint64_t dead_letter_max);

/* New events are durable: send them when nothing is out. */
void uplink_kick(Uplink *u);
/* mamorictl flush: try now, even in the middle of a backoff. -ENOTCONN without a url. */
int uplink_flush(Uplink *u);
/* netwatch: a carrier or a default route appeared; retry now unless the
 * collector itself asked us to wait (Retry-After). */
void uplink_network_up(Uplink *u, const char *why);

/* The spool opened at last (u has none). */
void uplink_set_spool(Uplink *u, Spool *s);
/* The spool cannot be read (why: the error, for the log and the status file:
 * the state is off), or can be again (why NULL: delivery resumes). */
void uplink_set_spool_error(Uplink *u, const char *why);

/* No configuration could be loaded (why: the first error): the state is off. */
void uplink_set_config_error(Uplink *u, const char *why);

/* Called (from the loop, maybe often) after every change of the state or of
 * a counter: the status file is written again. */
typedef void (*UplinkChanged)(Uplink *u, void *userdata);
void uplink_set_changed(Uplink *u, UplinkChanged changed, void *userdata);

/* The strings of *ret are borrowed from u: valid until its next change, and
 * not to be given to uplink_status_done(). pid and updated are left 0. */
void uplink_get_status(const Uplink *u, UplinkStatus *ret);
