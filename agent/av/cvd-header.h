/* SPDX-License-Identifier: MIT */
#pragma once

/* The 512-byte header of a ClamAV database (daily.cvd, daily.cld):
 *   ClamAV-VDB:<build time>:<version>:<signatures>:<functionality level>:<md5>:<dsig>:<builder>:<stime>
 * padded with spaces. <stime> is the build time in seconds since the epoch:
 * the pattern's age is measured from it. Pure: no I/O, no allocation. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CVD_HEADER_SIZE 512

typedef struct CvdHeader {
        char build_time[64]; /* as written, e.g. "16 Sep 2023 07-37 +0000" (printable ASCII) */
        uint32_t version;
        uint32_t signatures;
        uint32_t functionality_level;
        char md5[65];        /* as written: 32 hex digits in a .cvd; a placeholder or empty in a .cld */
        bool has_dsig;
        char builder[64];
        uint64_t stime;      /* build time, seconds since 1970-01-01 UTC */
} CvdHeader;

/* Parses the first CVD_HEADER_SIZE bytes of data.
 * -EBADMSG: not a ClamAV database header (or a field is malformed);
 * -ENODATA: it starts like one but is shorter than a header (truncated file). */
int cvd_header_parse(const void *data, size_t size, CvdHeader *ret);

/* Of daily.cvd (a) and daily.cld (b), which one ClamAV loads: the higher
 * version; on a tie the later build, then the .cld. Returns 0 for a, 1 for b. */
int cvd_header_pick(const CvdHeader *a, const CvdHeader *b);
