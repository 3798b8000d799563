/* SPDX-License-Identifier: MIT */
#pragma once

/* Range arithmetic on a host's missing seqs (HostState.gaps): a pure module.
 * The ranges stay sorted by first, never overlap, and two touching ranges of
 * the same status are one. At most FINDINGS_MAX_GAPS are kept: beyond it the
 * two oldest adjacent ranges (of the same status when there are such) are
 * merged into one that also covers the seqs between them, so that a missing
 * seq is never dropped (a merge only ever claims more missing, never less). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "findings.h"

/* [first, last] is missing, seen now. Seqs already in a range keep their
 * status; first > last or first == 0 does nothing. */
void seq_gaps_add(SeqRange *gaps, size_t *n, uint64_t first, uint64_t last, int64_t seen_us);

/* seq arrived: it leaves the range holding it. true when it was in one. */
bool seq_gaps_fill(SeqRange *gaps, size_t *n, uint64_t seq);

/* An agent.events_dropped / agent.spool_corrupt says that [first, last] is
 * lost: the missing seqs in it become explained (others are not missing:
 * nothing to do). Returns how many ranges it touched. */
size_t seq_gaps_explain(SeqRange *gaps, size_t *n, uint64_t first, uint64_t last);

/* The unexplained ranges whose seen_us + grace_us <= now_us (all of them
 * with now_us = INT64_MAX), in order: their number; at most max written. */
size_t seq_gaps_overdue(const SeqRange *gaps, size_t n, int64_t grace_us, int64_t now_us, SeqRange *ret, size_t max);

/* When an unexplained range becomes overdue: seen_us + grace_us, saturated. */
int64_t seq_gaps_deadline(const SeqRange *r, int64_t grace_us);
