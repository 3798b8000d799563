/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <string.h>

#include "sha256.h"

/* FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the
 * cube roots of the first 64 primes. */
static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t sha256_rotr(uint32_t x, unsigned n) {
        return (x >> n) | (x << (32 - n));
}

static inline uint32_t sha256_load_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

static inline void sha256_store_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

static void sha256_block(uint32_t h[8], const uint8_t block[SHA256_BLOCK_SIZE]) {
        uint32_t w[64], a, b, c, d, e, f, g, hh;

        for (unsigned t = 0; t < 16; t++)
                w[t] = sha256_load_be32(block + 4 * t);
        for (unsigned t = 16; t < 64; t++) {
                uint32_t s0 = sha256_rotr(w[t - 15], 7) ^ sha256_rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
                uint32_t s1 = sha256_rotr(w[t - 2], 17) ^ sha256_rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
                w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (unsigned t = 0; t < 64; t++) {
                uint32_t S1 = sha256_rotr(e, 6) ^ sha256_rotr(e, 11) ^ sha256_rotr(e, 25);
                uint32_t ch = (e & f) ^ (~e & g);
                uint32_t t1 = hh + S1 + ch + K[t] + w[t];
                uint32_t S0 = sha256_rotr(a, 2) ^ sha256_rotr(a, 13) ^ sha256_rotr(a, 22);
                uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
                uint32_t t2 = S0 + maj;
                hh = g;
                g = f;
                f = e;
                e = d + t1;
                d = c;
                c = b;
                b = a;
                a = t1 + t2;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void sha256_init(Sha256 *s) {
        assert(s);

        /* FIPS 180-4 section 5.3.3 */
        *s = (Sha256){ .state = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                                  0x5be0cd19 } };
}

void sha256_update(Sha256 *s, const void *data, size_t len) {
        const uint8_t *p = data;

        assert(s);
        assert(data || len == 0);

        if (len == 0)
                return;
        s->length += len;
        if (s->buffered > 0) {
                size_t n = SHA256_BLOCK_SIZE - s->buffered;
                if (n > len)
                        n = len;
                memcpy(s->buffer + s->buffered, p, n);
                s->buffered += n;
                p += n;
                len -= n;
                if (s->buffered < SHA256_BLOCK_SIZE)
                        return;
                sha256_block(s->state, s->buffer);
                s->buffered = 0;
        }
        for (; len >= SHA256_BLOCK_SIZE; p += SHA256_BLOCK_SIZE, len -= SHA256_BLOCK_SIZE)
                sha256_block(s->state, p);
        memcpy(s->buffer, p, len);
        s->buffered = len;
}

void sha256_final(Sha256 *s, uint8_t ret[SHA256_DIGEST_SIZE]) {
        uint64_t bits;

        assert(s);
        assert(ret);

        bits = s->length * 8; /* the length modulo 2^64 bits, as 5.1.1 says */
        /* 5.1.1: a 1 bit, zeros up to 56 bytes into a block, the length. */
        s->buffer[s->buffered++] = 0x80;
        if (s->buffered > SHA256_BLOCK_SIZE - 8) {
                memset(s->buffer + s->buffered, 0, SHA256_BLOCK_SIZE - s->buffered);
                sha256_block(s->state, s->buffer);
                s->buffered = 0;
        }
        memset(s->buffer + s->buffered, 0, SHA256_BLOCK_SIZE - 8 - s->buffered);
        sha256_store_be32(s->buffer + 56, (uint32_t) (bits >> 32));
        sha256_store_be32(s->buffer + 60, (uint32_t) bits);
        sha256_block(s->state, s->buffer);
        for (unsigned i = 0; i < 8; i++)
                sha256_store_be32(ret + 4 * i, s->state[i]);
        *s = (Sha256){ 0 };
}

void sha256(const void *data, size_t len, uint8_t ret[SHA256_DIGEST_SIZE]) {
        Sha256 s;

        assert(data || len == 0);
        assert(ret);

        sha256_init(&s);
        sha256_update(&s, data, len);
        sha256_final(&s, ret);
}

void sha256_to_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char ret[2 * SHA256_DIGEST_SIZE + 1]) {
        static const char hex[] = "0123456789abcdef";

        assert(digest);
        assert(ret);

        for (unsigned i = 0; i < SHA256_DIGEST_SIZE; i++) {
                ret[2 * i] = hex[digest[i] >> 4];
                ret[2 * i + 1] = hex[digest[i] & 0xf];
        }
        ret[2 * SHA256_DIGEST_SIZE] = '\0';
}
