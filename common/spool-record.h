/* SPDX-License-Identifier: MIT */
#pragma once

/* The on-disk record of the spool: a fixed 32-byte header and a payload,
 * little-endian, one CRC-32 over both, so that a torn write or a flipped bit
 * is always found. Pure functions: no I/O (spool.c does the files).
 *
 *   0  u32 magic "MSR1"       16 u64 time (CLOCK_REALTIME usec of the event)
 *   4  u32 payload length      24 u16 aux length   26 u8 severity   27 u8 flags
 *   8  u64 seq                 28 u32 crc32 of bytes 0..27 and the payload
 *
 * The payload is the event's JSON line (no newline) followed by aux bytes.
 * A record flagged SPOOL_RECORD_TOMBSTONE carries, as aux, the seq ranges
 * (pairs of u64: first, last) that it drops: the drop and the event that
 * reports it are one record, so a crash cannot separate them. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_RECORD_MAGIC UINT32_C(0x3152534d) /* "MSR1" */
#define SPOOL_RECORD_HEADER_SIZE 32u
#define SPOOL_RECORD_MAX_PAYLOAD (1024u * 1024u)
#define SPOOL_RECORD_MAX_AUX 65535u
#define SPOOL_RECORD_MAX_SEVERITY 4u
/* seq is 1..2^53-1: every seq is exact as a JSON number (a double). A record
 * outside that range is corrupt. */
#define SPOOL_RECORD_SEQ_MAX ((UINT64_C(1) << 53) - 1)

enum {
        SPOOL_RECORD_TOMBSTONE = 1u << 0,
        _SPOOL_RECORD_FLAGS_ALL = SPOOL_RECORD_TOMBSTONE,
};

typedef struct SpoolRecord {
        uint64_t seq;
        uint64_t time;
        uint8_t severity;
        uint8_t flags;
        const uint8_t *json; /* not NUL-terminated */
        size_t json_len;
        const uint8_t *aux;
        size_t aux_len;
} SpoolRecord;

typedef enum SpoolDecode {
        SPOOL_DECODE_OK,
        SPOOL_DECODE_END,       /* no bytes left */
        SPOOL_DECODE_TORN,      /* the bytes end inside a record, or only zeros follow: a write that never completed */
        SPOOL_DECODE_CORRUPT,   /* bad magic, length, field or checksum */
} SpoolDecode;

/* Bytes a record with this payload takes on disk; 0 when it would not fit the format. */
size_t spool_record_size(size_t json_len, size_t aux_len);

/* Writes the record into buf, which holds spool_record_size() bytes. */
void spool_record_encode(uint8_t *buf, const SpoolRecord *r);
/* The time field of an encoded header (not verified: for the spool's own index). */
uint64_t spool_record_header_time(const uint8_t *header);

/* Decodes the record at the start of buf. On OK, *ret points into buf and
 * *ret_size is the record's size on disk. */
SpoolDecode spool_record_decode(const uint8_t *buf, size_t len, SpoolRecord *ret, size_t *ret_size);

/* The first offset after 0 at which a valid record starts, or len if none:
 * how far a corrupt stretch reaches. */
size_t spool_record_resync(const uint8_t *buf, size_t len);

/* Tombstone aux: n ranges of (first, last) seq. */
static inline size_t spool_tombstone_count(const SpoolRecord *r) {
        return (r->flags & SPOOL_RECORD_TOMBSTONE) ? r->aux_len / 16 : 0;
}
void spool_tombstone_get(const SpoolRecord *r, size_t i, uint64_t *ret_first, uint64_t *ret_last);
void spool_tombstone_put(uint8_t *aux, size_t i, uint64_t first, uint64_t last);

uint32_t spool_le32(const uint8_t *p);
uint64_t spool_le64(const uint8_t *p);
void spool_put_le32(uint8_t *p, uint32_t v);
void spool_put_le64(uint8_t *p, uint64_t v);
