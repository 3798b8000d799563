/* SPDX-License-Identifier: MIT */
/* collector/collector-config.c's number keys: every default, a value read
 * into the right field (size_t or unsigned), and a value out of range or of
 * the wrong type refused with file:line and the key. */
#include "unit.h"

#include <sys/stat.h>

#include "collector-config.h"
#include "macro.h"

static char dir[] = "/tmp/mamori-test-collector-config-XXXXXX";
static char cert[512], key[512];

static void write_file(char *path, const char *name, const char *text, mode_t mode) {
        snprintf(path, 512, "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state) {
        assert_non_null(mkdtemp(dir));
        write_file(cert, "server.crt", "-----BEGIN CERTIFICATE-----\n", 0644);
        write_file(key, "server.key", "-----BEGIN PRIVATE KEY-----\n", 0600);
        return 0;
}

static int teardown(void **state) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        return system(cmd);
}

/* The tls group every config needs, then extra. */
static int load(const char *extra, CollectorConfig **ret, ConfigErrors *errors) {
        char text[4096];
        int n = snprintf(text, sizeof text, "tls = { cert_file = \"%s\"; key_file = \"%s\"; };\n%s", cert, key, extra);
        assert_true(n > 0 && (size_t) n < sizeof text);
        return collector_config_load_string("test.conf", text, (size_t) n, ret, errors);
}

static void test_defaults(void **state) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_collector_config_ CollectorConfig *c = NULL;

        assert_int_equal(load("", &c, &errors), 0);
        assert_int_equal(c->store.busy_timeout_ms, 2000);
        assert_int_equal(c->limits.max_body_bytes, 4194304);
        assert_int_equal(c->limits.max_decompressed_bytes, 33554432);
        assert_int_equal(c->limits.max_ratio, 200);
        assert_int_equal(c->limits.max_line_bytes, 65536);
        assert_int_equal(c->limits.max_events, 10000);
        assert_int_equal(c->limits.max_connections, 1024);
        assert_true(c->limits.per_host_rate == 20.0);
        assert_int_equal(c->limits.per_host_burst, 60);
        assert_int_equal(c->limits.connection_timeout_sec, 15);
        assert_int_equal(c->limits.workers, 4);
        assert_int_equal(c->findings.silent_margin_sec, 300);
        assert_int_equal(c->findings.stopped_after_sec, 3600);
        assert_int_equal(c->findings.gap_grace_sec, 600);
        assert_int_equal(c->findings.late_heartbeat_sec, 900);
        assert_int_equal(c->sweep_interval_sec, 60);
        assert_int_equal(c->retention.info_days, 365);
        assert_int_equal(c->retention.low_days, 365);
        assert_int_equal(c->retention.medium_days, 1095);
        assert_int_equal(c->retention.high_days, 1825);
        assert_int_equal(c->retention.critical_days, 1825);
        assert_int_equal(c->retention.findings_days, 3650);
        assert_int_equal(c->retention_hour, 3);
        assert_true(c->require_client_cert == false); /* no client_ca_file */
        assert_int_equal(c->store.backend, STORE_SQLITE);
}

static void test_values(void **state) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_collector_config_ CollectorConfig *c = NULL;

        assert_int_equal(load("storage = { busy_timeout_ms = 7; };\n"
                              "limits = { max_body_bytes = 2048; max_decompressed_bytes = 4294967296L;\n"
                              "  max_ratio = 9; max_line_bytes = 300; max_events = 11; max_connections = 12;\n"
                              "  per_host_rate = 1.5; per_host_burst = 13; connection_timeout_sec = 14; workers = 5; };\n"
                              "findings = { silent_margin_sec = 0; stopped_after_sec = 21; gap_grace_sec = 22;\n"
                              "  late_heartbeat_sec = 23; sweep_interval_sec = 24; };\n"
                              "retention = { info_days = 0; low_days = 31; medium_days = 32; high_days = 33;\n"
                              "  critical_days = 36500; findings_days = 35; hour = 23; };\n",
                              &c, &errors),
                         0);
        assert_int_equal(errors.n, 0);
        assert_int_equal(c->store.busy_timeout_ms, 7);
        assert_int_equal(c->limits.max_body_bytes, 2048);
        assert_true(c->limits.max_decompressed_bytes == 4294967296ULL);
        assert_int_equal(c->limits.max_ratio, 9);
        assert_int_equal(c->limits.max_line_bytes, 300);
        assert_int_equal(c->limits.max_events, 11);
        assert_int_equal(c->limits.max_connections, 12);
        assert_true(c->limits.per_host_rate == 1.5);
        assert_int_equal(c->limits.per_host_burst, 13);
        assert_int_equal(c->limits.connection_timeout_sec, 14);
        assert_int_equal(c->limits.workers, 5);
        assert_int_equal(c->findings.silent_margin_sec, 0);
        assert_int_equal(c->findings.stopped_after_sec, 21);
        assert_int_equal(c->findings.gap_grace_sec, 22);
        assert_int_equal(c->findings.late_heartbeat_sec, 23);
        assert_int_equal(c->sweep_interval_sec, 24);
        assert_int_equal(c->retention.info_days, 0);
        assert_int_equal(c->retention.low_days, 31);
        assert_int_equal(c->retention.medium_days, 32);
        assert_int_equal(c->retention.high_days, 33);
        assert_int_equal(c->retention.critical_days, 36500);
        assert_int_equal(c->retention.findings_days, 35);
        assert_int_equal(c->retention_hour, 23);
}

/* Each bad key is reported, on its line, and the others still are. */
static void test_bad(void **state) {
        static const struct {
                const char *text, *words;
                int line;
        } cases[] = {
                { "storage = { busy_timeout_ms = 0; };", "busy_timeout_ms", 2 },
                { "limits = { max_body_bytes = 1023; };", "max_body_bytes", 2 },
                { "limits = {\n workers = 257; };", "workers", 3 },
                { "limits = { per_host_rate = -1.0; };", "per_host_rate", 2 },
                { "findings = { late_heartbeat_sec = 0; };", "late_heartbeat_sec", 2 },
                { "findings = { sweep_interval_sec = 86401; };", "sweep_interval_sec", 2 },
                { "retention = { medium_days = 36501; };", "medium_days", 2 },
                { "retention = { hour = 24; };", "hour", 2 },
                { "retention = { low_days = \"7\"; };", "low_days", 2 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(config_errors_done) ConfigErrors errors = {};
                _cleanup_collector_config_ CollectorConfig *c = NULL;
                char text[256];
                int r;

                snprintf(text, sizeof text, "%s\n", cases[i].text);
                print_message("%s\n", cases[i].text);
                r = load(text, &c, &errors);
                assert_true(r < 0);
                assert_int_not_equal(r, -ENOMEM); /* a bad value is not a lack of memory */
                assert_null(c);
                assert_int_equal(errors.n, 1);
                assert_int_equal(errors.items[0].line, cases[i].line);
                assert_non_null(strstr(errors.items[0].message, cases[i].words));
        }

        /* two bad keys in one group: both said */
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_collector_config_ CollectorConfig *c = NULL;
        assert_true(load("limits = { max_ratio = 0;\n workers = 0; };\n", &c, &errors) < 0);
        assert_int_equal(errors.n, 2);
        assert_int_equal(errors.items[0].line, 2);
        assert_int_equal(errors.items[1].line, 3);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_bad),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
