/* SPDX-License-Identifier: MIT */
#pragma once

/* SHA-256 (FIPS 180-4) without a crypto library: libmamori-common is linked
 * by programs that must not pull in OpenSSL (the root daemon of issue 11).
 * It hashes what mamori already trusts enough to read (the policy files);
 * it is not a MAC and not for secrets (nothing is wiped). */

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64

typedef struct Sha256 {
        uint32_t state[8];
        uint64_t length; /* bytes hashed so far */
        uint8_t buffer[SHA256_BLOCK_SIZE];
        size_t buffered;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
/* Writes the digest; s must be initialised again before reuse. */
void sha256_final(Sha256 *s, uint8_t ret[SHA256_DIGEST_SIZE]);

void sha256(const void *data, size_t len, uint8_t ret[SHA256_DIGEST_SIZE]);
/* The digest as 64 lower-case hex digits and a NUL. */
void sha256_to_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char ret[2 * SHA256_DIGEST_SIZE + 1]);
