/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <string.h>

#include <zlib.h>

#include "spool-record.h"

uint32_t spool_le32(const uint8_t *p) {
        assert(p);
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

uint64_t spool_le64(const uint8_t *p) {
        assert(p);
        return (uint64_t) spool_le32(p) | (uint64_t) spool_le32(p + 4) << 32;
}

void spool_put_le32(uint8_t *p, uint32_t v) {
        assert(p);

        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 24);
}

void spool_put_le64(uint8_t *p, uint64_t v) {
        assert(p);

        spool_put_le32(p, (uint32_t) v);
        spool_put_le32(p + 4, (uint32_t) (v >> 32));
}

size_t spool_record_size(size_t json_len, size_t aux_len) {
        if (json_len == 0 || aux_len > SPOOL_RECORD_MAX_AUX || json_len > SPOOL_RECORD_MAX_PAYLOAD ||
            json_len + aux_len > SPOOL_RECORD_MAX_PAYLOAD)
                return 0;
        return SPOOL_RECORD_HEADER_SIZE + json_len + aux_len;
}

static uint32_t spool_record_crc(const uint8_t *header, const uint8_t *payload, size_t payload_len) {
        uLong c = crc32(0L, Z_NULL, 0);
        c = crc32(c, header, 28);
        /* zlib takes uInt lengths; payloads are at most 1 MiB. */
        c = crc32(c, payload, (uInt) payload_len);
        return (uint32_t) c;
}

void spool_record_encode(uint8_t *buf, const SpoolRecord *r) {
        size_t payload;

        assert(buf);
        assert(r);

        payload = r->json_len + r->aux_len;
        spool_put_le32(buf, SPOOL_RECORD_MAGIC);
        spool_put_le32(buf + 4, (uint32_t) payload);
        spool_put_le64(buf + 8, r->seq);
        spool_put_le64(buf + 16, r->time);
        buf[24] = (uint8_t) r->aux_len;
        buf[25] = (uint8_t) (r->aux_len >> 8);
        buf[26] = r->severity;
        buf[27] = r->flags;
        memcpy(buf + SPOOL_RECORD_HEADER_SIZE, r->json, r->json_len);
        if (r->aux_len)
                memcpy(buf + SPOOL_RECORD_HEADER_SIZE + r->json_len, r->aux, r->aux_len);
        spool_put_le32(buf + 28, spool_record_crc(buf, buf + SPOOL_RECORD_HEADER_SIZE, payload));
}

uint64_t spool_record_header_time(const uint8_t *header) {
        assert(header);
        return spool_le64(header + 16);
}

static bool spool_record_all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

SpoolDecode spool_record_decode(const uint8_t *buf, size_t len, SpoolRecord *ret, size_t *ret_size) {
        uint8_t magic[4];
        uint32_t payload;
        size_t aux;

        assert(buf || len == 0);
        assert(ret);
        assert(ret_size);

        if (len == 0)
                return SPOOL_DECODE_END;
        /* A file extended but never written (a power cut on some file
         * systems) reads as zeros: that write never completed. */
        if (spool_record_all_zero(buf, len))
                return SPOOL_DECODE_TORN;
        spool_put_le32(magic, SPOOL_RECORD_MAGIC);
        if (len < SPOOL_RECORD_HEADER_SIZE) {
                /* Only the start of a header made it. */
                size_t k = len < 4 ? len : 4;
                return memcmp(buf, magic, k) == 0 ? SPOOL_DECODE_TORN : SPOOL_DECODE_CORRUPT;
        }
        if (memcmp(buf, magic, 4) != 0)
                return SPOOL_DECODE_CORRUPT;
        payload = spool_le32(buf + 4);
        aux = (size_t) buf[24] | (size_t) buf[25] << 8;
        if (payload > SPOOL_RECORD_MAX_PAYLOAD || aux >= payload || buf[26] > SPOOL_RECORD_MAX_SEVERITY ||
            (buf[27] & ~_SPOOL_RECORD_FLAGS_ALL) != 0)
                return SPOOL_DECODE_CORRUPT;
        if ((buf[27] & SPOOL_RECORD_TOMBSTONE) ? aux % 16 != 0 : aux != 0)
                return SPOOL_DECODE_CORRUPT;
        if (spool_le64(buf + 8) == 0 || spool_le64(buf + 8) > SPOOL_RECORD_SEQ_MAX)
                return SPOOL_DECODE_CORRUPT;
        if (len - SPOOL_RECORD_HEADER_SIZE < payload)
                return SPOOL_DECODE_TORN;
        if (spool_le32(buf + 28) != spool_record_crc(buf, buf + SPOOL_RECORD_HEADER_SIZE, payload))
                return SPOOL_DECODE_CORRUPT;

        *ret = (SpoolRecord){
                .seq = spool_le64(buf + 8),
                .time = spool_le64(buf + 16),
                .severity = buf[26],
                .flags = buf[27],
                .json = buf + SPOOL_RECORD_HEADER_SIZE,
                .json_len = payload - aux,
                .aux = aux ? buf + SPOOL_RECORD_HEADER_SIZE + payload - aux : NULL,
                .aux_len = aux,
        };
        *ret_size = SPOOL_RECORD_HEADER_SIZE + payload;
        return SPOOL_DECODE_OK;
}

size_t spool_record_resync(const uint8_t *buf, size_t len) {
        uint8_t magic[4];

        assert(buf || len == 0);

        spool_put_le32(magic, SPOOL_RECORD_MAGIC);
        for (size_t off = 1; off + SPOOL_RECORD_HEADER_SIZE <= len; off++) {
                const uint8_t *p = memchr(buf + off, magic[0], len - off);
                SpoolRecord r;
                size_t sz;

                if (!p)
                        break;
                off = (size_t) (p - buf);
                if (off + SPOOL_RECORD_HEADER_SIZE > len)
                        break;
                if (memcmp(p, magic, 4) == 0 && spool_record_decode(p, len - off, &r, &sz) == SPOOL_DECODE_OK)
                        return off;
        }
        return len;
}

void spool_tombstone_get(const SpoolRecord *r, size_t i, uint64_t *ret_first, uint64_t *ret_last) {
        assert(r);
        assert(ret_first);
        assert(ret_last);

        *ret_first = spool_le64(r->aux + 16 * i);
        *ret_last = spool_le64(r->aux + 16 * i + 8);
}

void spool_tombstone_put(uint8_t *aux, size_t i, uint64_t first, uint64_t last) {
        assert(aux);

        spool_put_le64(aux + 16 * i, first);
        spool_put_le64(aux + 16 * i + 8, last);
}
