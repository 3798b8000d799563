/* SPDX-License-Identifier: MIT */
#pragma once

/* The pattern date that an engine's command prints (generic source), e.g.
 *   mdatp health --field definitions_updated           -> Sept 08, 2022 at 01:57:03 PM
 *   mdatp health --field definitions_updated_minutes_ago -> 1234
 *   date -u -r FILE +%FT%TZ                             -> 2026-11-21T08:12:00Z
 * Pure: the text in, a CLOCK_REALTIME instant out. Dates without a zone are
 * local time (mktime, TZ). */

#include <stddef.h>

#include "policy.h"
#include "timeutil.h"

#define AV_DATE_TEXT_MAX 4096

/* Understands, for AV_OUTPUT_DATE:
 *   YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|UTC|GMT|(+|-)HH[:]MM]
 *   Mon[th] D[D], YYYY [at] H[H]:MM[:SS] [AM|PM]       (mdatp; "Sept" too)
 *   @SECONDS
 * for AV_OUTPUT_EPOCH: SECONDS[.frac]; for AV_OUTPUT_MINUTES_AGO: MINUTES
 * (counted back from now). Surrounding blanks, double quotes, a "name :"
 * prefix and a trailing "[managed]" are ignored; only the first non-empty
 * line counts. -EBADMSG when the text is not one of these. */
int av_date_parse(const char *text, size_t len, AvCommandOutput format, usec_t now, usec_t *ret);
