/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include "quarantine-state.h"

static int parse(const char *text, QuarantineState *s, unsigned *line) {
        return quarantine_state_parse(text, strlen(text), s, line);
}

static void expect_bad(const char *text, unsigned want_line) {
        QuarantineState s;
        unsigned line = 99;
        if (parse(text, &s, &line) != -EBADMSG || line != want_line) {
                fprintf(stderr, "accepted or wrong line %u (want %u): '%s'\n", line, want_line, text);
                fail();
        }
}

static void test_good(void **state) {
        QuarantineState s;
        unsigned line;
        uint8_t a[16];

        assert_int_equal(parse("mamori-quarantine 1\n"
                               "# written by mamorid\n"
                               "\n"
                               "active yes\n"
                               "since 1796000000\n"
                               "reason av.detection: Eicar-Signature\n"
                               "allow 192.0.2.10/32\n"
                               "allow 198.51.100.0/24\n"
                               "allow 2001:db8::/64\n"
                               "allow 0.0.0.0/0",
                               &s, &line),
                         0);
        assert_true(s.active);
        assert_int_equal(s.since, 1796000000);
        assert_string_equal(s.reason, "av.detection: Eicar-Signature");
        assert_int_equal(s.n_allow, 4);
        assert_int_equal(s.allow[0].family, AF_INET);
        assert_int_equal(s.allow[0].prefixlen, 32);
        assert_int_equal(s.allow[2].family, AF_INET6);
        assert_int_equal(s.allow[2].prefixlen, 64);

        inet_pton(AF_INET, "198.51.100.77", a);
        assert_true(quarantine_cidr_contains(&s.allow[1], AF_INET, a));
        assert_false(quarantine_cidr_contains(&s.allow[0], AF_INET, a));
        assert_false(quarantine_cidr_contains(&s.allow[2], AF_INET, a)); /* other family */
        assert_true(quarantine_cidr_contains(&s.allow[3], AF_INET, a));  /* /0 */
        inet_pton(AF_INET6, "2001:db8::1234", a);
        assert_true(quarantine_cidr_contains(&s.allow[2], AF_INET6, a));
        inet_pton(AF_INET6, "2001:db9::1", a);
        assert_false(quarantine_cidr_contains(&s.allow[2], AF_INET6, a));

        assert_int_equal(parse("mamori-quarantine 1\nactive no\n", &s, &line), 0);
        assert_false(s.active);
        assert_int_equal(s.n_allow, 0);
        assert_int_equal(s.since, 0);
}

static void test_prefix_bits(void **state) {
        QuarantineCidr c;
        uint8_t a[4];

        assert_int_equal(quarantine_cidr_parse("10.1.2.0/24", &c), 0);
        assert_int_equal(quarantine_cidr_parse("10.1.3.0/23", &c), -EINVAL); /* .3: a host bit of /23 */
        assert_int_equal(quarantine_cidr_parse("10.1.2.0/23", &c), 0);
        assert_int_equal(quarantine_cidr_parse("10.1.0.0/23", &c), 0);
        assert_int_equal(quarantine_cidr_parse("10.1.0.0/33", &c), -EINVAL);
        assert_int_equal(quarantine_cidr_parse("10.1.0.0/", &c), -EINVAL);
        assert_int_equal(quarantine_cidr_parse("10.1.0.0/08", &c), -EINVAL);
        assert_int_equal(quarantine_cidr_parse("10.1.0.0/+8", &c), -EINVAL);
        assert_int_equal(quarantine_cidr_parse("10.1.0.0/ 8", &c), -EINVAL);
        assert_int_equal(quarantine_cidr_parse("10.1.0.0", &c), -EINVAL);
        assert_int_equal(quarantine_cidr_parse("/8", &c), -EINVAL);
        assert_int_equal(quarantine_cidr_parse("host.example/32", &c), -EINVAL);
        assert_int_equal(quarantine_cidr_parse("::/129", &c), -EINVAL);
        assert_int_equal(quarantine_cidr_parse("2001:db8::1/127", &c), -EINVAL);
        assert_int_equal(quarantine_cidr_parse("2001:db8::/127", &c), 0);
        assert_int_equal(quarantine_cidr_parse("10.0.0.0/9", &c), 0);
        inet_pton(AF_INET, "10.127.255.255", a);
        assert_true(quarantine_cidr_contains(&c, AF_INET, a));
        inet_pton(AF_INET, "10.128.0.0", a);
        assert_false(quarantine_cidr_contains(&c, AF_INET, a));
}

static void test_bad(void **state) {
        char big[QUARANTINE_STATE_MAX_SIZE + 64];
        char longreason[QUARANTINE_REASON_MAX + 64];
        char many[QUARANTINE_ALLOW_MAX * 32 + 64];
        size_t n;

        expect_bad("", 0);
        expect_bad("mamori-quarantine 1\n", 0);             /* no active */
        expect_bad("mamori-quarantine 2\nactive yes\n", 1); /* another version */
        expect_bad("mamori-quarantine 1 \nactive yes\n", 1);
        expect_bad("active yes\n", 1);
        expect_bad("mamori-quarantine 1\nactive yes\nactive no\n", 3);
        expect_bad("mamori-quarantine 1\nactive maybe\n", 2);
        expect_bad("mamori-quarantine 1\nactive  yes\n", 2);
        expect_bad("mamori-quarantine 1\nactive yes\nsince -1\n", 3);
        expect_bad("mamori-quarantine 1\nactive yes\nsince 99999999999999999999\n", 3);
        expect_bad("mamori-quarantine 1\nactive yes\nreason a\tb\n", 3);
        expect_bad("mamori-quarantine 1\nactive yes\nreason \xe6\x84\x9f\n", 3);
        expect_bad("mamori-quarantine 1\nactive yes\nallow 192.0.2.10/24\n", 3);
        expect_bad("mamori-quarantine 1\nactive yes\nallow collector.example\n", 3);
        expect_bad("mamori-quarantine 1\nactive yes\nport 443\n", 3);
        expect_bad("mamori-quarantine 1\nactive yes\nallow\n", 3);
        expect_bad("mamori-quarantine 1\r\nactive yes\n", 1);

        /* a NUL anywhere refuses the file */
        {
                QuarantineState s;
                unsigned line;
                static const char nul[] = "mamori-quarantine 1\nactive yes\0\n";
                assert_int_equal(quarantine_state_parse(nul, sizeof(nul) - 1, &s, &line), -EBADMSG);
        }

        n = (size_t) snprintf(longreason, sizeof(longreason), "mamori-quarantine 1\nactive yes\nreason ");
        memset(longreason + n, 'x', QUARANTINE_REASON_MAX + 1);
        longreason[n + QUARANTINE_REASON_MAX + 1] = '\0';
        expect_bad(longreason, 3);
        longreason[n + QUARANTINE_REASON_MAX] = '\0'; /* exactly the bound: fine */
        {
                QuarantineState s;
                unsigned line;
                assert_int_equal(parse(longreason, &s, &line), 0);
        }

        n = (size_t) snprintf(many, sizeof(many), "mamori-quarantine 1\nactive yes\n");
        for (int i = 0; i <= QUARANTINE_ALLOW_MAX; i++)
                n += (size_t) snprintf(many + n, sizeof(many) - n, "allow 10.0.%d.0/24\n", i);
        expect_bad(many, 2 + QUARANTINE_ALLOW_MAX + 1);

        memset(big, '#', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        memcpy(big, "mamori-quarantine 1\nactive yes\n", 31);
        expect_bad(big, 0);
}

static void test_roundtrip(void **state) {
        QuarantineState s, again;
        unsigned line;
        char buf[4096];
        int n;

        assert_int_equal(parse("mamori-quarantine 1\nactive yes\nsince 5\nreason r\nallow 192.0.2.0/24\nallow ::1/128\n",
                               &s, &line),
                         0);
        n = quarantine_state_format(&s, buf, sizeof(buf));
        assert_true(n > 0);
        assert_string_equal(buf,
                            "mamori-quarantine 1\nactive yes\nsince 5\nreason r\nallow 192.0.2.0/24\nallow ::1/128\n");
        assert_int_equal(quarantine_state_parse(buf, (size_t) n, &again, &line), 0);
        assert_memory_equal(&s, &again, sizeof(s));
        assert_int_equal(quarantine_state_format(&s, buf, 10), -ENOBUFS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_prefix_bits),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_roundtrip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
