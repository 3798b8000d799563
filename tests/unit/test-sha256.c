/* SPDX-License-Identifier: MIT */
/* common/sha256.c against the NIST examples and against OpenSSL's SHA-256
 * (only this test links libcrypto; the library does not). */
#include "unit.h"

#include <openssl/evp.h>

#include "macro.h"
#include "sha256.h"

static void hex_of(const void *data, size_t len, char ret[65]) {
        uint8_t md[SHA256_DIGEST_SIZE];
        sha256(data, len, md);
        sha256_to_hex(md, ret);
}

static void openssl_sha256(const void *data, size_t len, uint8_t ret[SHA256_DIGEST_SIZE]) {
        unsigned n = 0;
        assert_int_equal(EVP_Digest(data, len, ret, &n, EVP_sha256(), NULL), 1);
        assert_int_equal(n, SHA256_DIGEST_SIZE);
}

/* FIPS 180-4 examples (csrc.nist.gov, "Examples with intermediate values"). */
static void test_nist_vectors(void **state) {
        char hex[65];
        (void) state;

        hex_of("", 0, hex);
        assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        hex_of("abc", 3, hex);
        assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        /* 448 bits: the padding no longer fits the first block */
        hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
        assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        /* 896 bits */
        hex_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrst"
               "nopqrstu",
               112, hex);
        assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state) {
        static const size_t chunks[] = { 1000000, 1, 63, 64, 65, 1000 };
        _cleanup_free_ char *a = malloc(1000000);
        (void) state;

        assert_non_null(a);
        memset(a, 'a', 1000000);
        for (size_t c = 0; c < ELEMENTSOF(chunks); c++) {
                uint8_t md[SHA256_DIGEST_SIZE];
                char hex[65];
                Sha256 s;

                sha256_init(&s);
                for (size_t off = 0; off < 1000000; off += chunks[c])
                        sha256_update(&s, a + off, MIN(chunks[c], 1000000 - off));
                sha256_final(&s, md);
                sha256_to_hex(md, hex);
                assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
        }
}

/* Every length from 0 to 200 (all the padding cases around 55, 56, 63, 64,
 * 119, 120, 128 bytes), hashed whole, split at every point, and byte by byte. */
static void test_lengths_and_splits(void **state) {
        uint8_t data[200], want[SHA256_DIGEST_SIZE], got[SHA256_DIGEST_SIZE];
        uint32_t x = 0x9e3779b9;
        (void) state;

        for (size_t i = 0; i < sizeof(data); i++) {
                x = x * 1103515245u + 12345u;
                data[i] = (uint8_t) (x >> 16);
        }
        for (size_t len = 0; len <= sizeof(data); len++) {
                Sha256 s;

                openssl_sha256(data, len, want);
                sha256(data, len, got);
                assert_memory_equal(got, want, sizeof(want));

                for (size_t cut = 0; cut <= len; cut++) {
                        sha256_init(&s);
                        sha256_update(&s, data, cut);
                        sha256_update(&s, NULL, 0);
                        sha256_update(&s, data + cut, len - cut);
                        sha256_final(&s, got);
                        assert_memory_equal(got, want, sizeof(want));
                }
                /* three pieces: a short one, then across a block boundary */
                for (size_t cut = 0; cut + 7 <= len; cut += 5) {
                        sha256_init(&s);
                        sha256_update(&s, data, cut);
                        sha256_update(&s, data + cut, 7);
                        sha256_update(&s, data + cut + 7, len - cut - 7);
                        sha256_final(&s, got);
                        assert_memory_equal(got, want, sizeof(want));
                }
                sha256_init(&s);
                for (size_t i = 0; i < len; i++)
                        sha256_update(&s, data + i, 1);
                sha256_final(&s, got);
                assert_memory_equal(got, want, sizeof(want));
        }
}

/* All 256 byte values, and the exact sequence config.c hashes (path, NUL,
 * text, NUL, per file). */
static void test_binary_and_sources(void **state) {
        static const char *const parts[][2] = { { "/etc/mamori/mamori.conf", "usb = { policy = \"block\"; };\n" },
                                                { "/etc/mamori/allow.d/10-a.conf", "" } };
        uint8_t all[256], want[SHA256_DIGEST_SIZE], got[SHA256_DIGEST_SIZE];
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned n = 0;
        Sha256 s;
        (void) state;

        for (unsigned i = 0; i < 256; i++)
                all[i] = (uint8_t) i;
        openssl_sha256(all, sizeof(all), want);
        sha256(all, sizeof(all), got);
        assert_memory_equal(got, want, sizeof(want));

        assert_non_null(ctx);
        assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        sha256_init(&s);
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                assert_int_equal(EVP_DigestUpdate(ctx, parts[i][0], strlen(parts[i][0]) + 1), 1);
                assert_int_equal(EVP_DigestUpdate(ctx, parts[i][1], strlen(parts[i][1])), 1);
                assert_int_equal(EVP_DigestUpdate(ctx, "", 1), 1);
                sha256_update(&s, parts[i][0], strlen(parts[i][0]) + 1);
                sha256_update(&s, parts[i][1], strlen(parts[i][1]));
                sha256_update(&s, "", 1);
        }
        assert_int_equal(EVP_DigestFinal_ex(ctx, want, &n), 1);
        EVP_MD_CTX_free(ctx);
        sha256_final(&s, got);
        assert_memory_equal(got, want, sizeof(want));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nist_vectors),
                cmocka_unit_test(test_million_a),
                cmocka_unit_test(test_lengths_and_splits),
                cmocka_unit_test(test_binary_and_sources),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
