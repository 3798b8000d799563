/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "cvd-header.h"
#include "macro.h"

#define CVD_MAGIC "ClamAV-VDB:"
#define CVD_FIELDS 9
/* Year 9999: anything later is not a build time. */
#define CVD_STIME_MAX UINT64_C(253402300799)

typedef struct Span {
        const char *p;
        size_t n;
} Span;

static int cvd_header_parse_uint(Span s, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;
        if (s.n == 0 || s.n > 20)
                return -EBADMSG;
        for (size_t i = 0; i < s.n; i++) {
                unsigned d;
                if (s.p[i] < '0' || s.p[i] > '9')
                        return -EBADMSG;
                d = (unsigned) (s.p[i] - '0');
                if (v > (max - d) / 10)
                        return -EBADMSG;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

static int cvd_header_copy_text(Span s, char *dst, size_t dst_size) {
        if (s.n >= dst_size)
                return -EBADMSG;
        memcpy(dst, s.p, s.n);
        dst[s.n] = 0;
        return 0;
}

int cvd_header_parse(const void *data, size_t size, CvdHeader *ret) {
        const char *h = data;
        Span f[CVD_FIELDS];
        size_t len, n_fields = 0, start = 0;
        uint64_t v;
        CvdHeader c = { 0 };

        if (!data || !ret)
                return -EINVAL;
        if (memcmp(h, CVD_MAGIC, MIN(size, sizeof CVD_MAGIC - 1)) != 0)
                return -EBADMSG;
        if (size < CVD_HEADER_SIZE)
                return -ENODATA; /* libclamav refuses a header it cannot read whole */

        /* The header ends at the first NUL or line break, then the space padding. */
        for (len = 0; len < CVD_HEADER_SIZE; len++)
                if (h[len] == 0 || h[len] == '\n' || h[len] == '\r')
                        break;
        while (len > 0 && h[len - 1] == ' ')
                len--;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) h[i] < 0x20 || (unsigned char) h[i] > 0x7e)
                        return -EBADMSG;

        for (size_t i = 0; i <= len && n_fields < CVD_FIELDS; i++)
                if (i == len || h[i] == ':') {
                        f[n_fields++] = (Span){ h + start, i - start };
                        start = i + 1;
                }
        /* Fewer than nine fields: an old header without <stime>, or garbage.
         * Fields after the ninth (a later format) are ignored. */
        if (n_fields < CVD_FIELDS)
                return -EBADMSG;

        if (cvd_header_copy_text(f[1], c.build_time, sizeof c.build_time) < 0 || f[1].n == 0)
                return -EBADMSG;
        if (cvd_header_parse_uint(f[2], UINT32_MAX, &v) < 0)
                return -EBADMSG;
        c.version = (uint32_t) v;
        if (cvd_header_parse_uint(f[3], UINT32_MAX, &v) < 0)
                return -EBADMSG;
        c.signatures = (uint32_t) v;
        if (cvd_header_parse_uint(f[4], UINT32_MAX, &v) < 0)
                return -EBADMSG;
        c.functionality_level = (uint32_t) v;
        /* Not checked: libclamav verifies it, a .cld carries a placeholder. */
        if (cvd_header_copy_text(f[5], c.md5, sizeof c.md5) < 0)
                return -EBADMSG;
        c.has_dsig = f[6].n > 0;
        if (cvd_header_copy_text(f[7], c.builder, sizeof c.builder) < 0)
                return -EBADMSG;
        if (cvd_header_parse_uint(f[8], CVD_STIME_MAX, &c.stime) < 0 || c.stime == 0)
                return -EBADMSG;

        *ret = c;
        return 0;
}

int cvd_header_pick(const CvdHeader *a, const CvdHeader *b) {
        assert(a);
        assert(b);
        if (a->version != b->version)
                return a->version > b->version ? 0 : 1;
        if (a->stime != b->stime)
                return a->stime > b->stime ? 0 : 1;
        return 1;
}
