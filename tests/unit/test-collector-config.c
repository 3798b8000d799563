/* SPDX-License-Identifier: MIT */
/* collector/collector-config.c's number keys: every default, a value read
 * into the right field (size_t or unsigned), and a value out of range or of
 * the wrong type refused with file:line and the key. */
#include "unit.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include "collector-config.h"
#include "macro.h"

static char dir[] = "/tmp/mamori-test-collector-config-XXXXXX";
static char cert[512], key[512];

static int setup(void **state) {
        const struct {
                char *path;
                const char *name, *text;
                mode_t mode;
        } files[] = {
                { cert, "server.crt", "-----BEGIN CERTIFICATE-----\n", 0644 },
                { key, "server.key", "-----BEGIN PRIVATE KEY-----\n", 0600 },
        };

        assert_non_null(mkdtemp(dir));
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(files[i].path, 512, "%s/%s", dir, files[i].name);
                FILE *f = fopen(files[i].path, "w");
                assert_non_null(f);
                assert_true(fputs(files[i].text, f) >= 0);
                assert_int_equal(fclose(f), 0);
                assert_int_equal(chmod(files[i].path, files[i].mode), 0);
        }
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

/* Every whole-number key, grouped as the file has them: its default and a
 * value other than the default (at a bound where one is interesting). */
#define NUM(group, key, field, def, set) \
        { group, key, offsetof(CollectorConfig, field), sizeof(((CollectorConfig *) 0)->field), def, set }
static const struct {
        const char *group, *key;
        size_t offset, size; /* an unsigned or a size_t */
        unsigned long long def, set;
} numbers[] = {
        NUM("storage", "busy_timeout_ms", store.busy_timeout_ms, 2000, 7),
        NUM("limits", "max_body_bytes", limits.max_body_bytes, 4194304, 2048),
        NUM("limits", "max_decompressed_bytes", limits.max_decompressed_bytes, 33554432, 4294967296ULL),
        NUM("limits", "max_ratio", limits.max_ratio, 200, 9),
        NUM("limits", "max_line_bytes", limits.max_line_bytes, 65536, 300),
        NUM("limits", "max_events", limits.max_events, 10000, 11),
        NUM("limits", "max_connections", limits.max_connections, 1024, 12),
        NUM("limits", "per_host_burst", limits.per_host_burst, 60, 13),
        NUM("limits", "connection_timeout_sec", limits.connection_timeout_sec, 15, 14),
        NUM("limits", "workers", limits.workers, 4, 5),
        NUM("findings", "silent_margin_sec", findings.silent_margin_sec, 300, 0),
        NUM("findings", "stopped_after_sec", findings.stopped_after_sec, 3600, 21),
        NUM("findings", "gap_grace_sec", findings.gap_grace_sec, 600, 22),
        NUM("findings", "late_heartbeat_sec", findings.late_heartbeat_sec, 900, 23),
        NUM("findings", "sweep_interval_sec", sweep_interval_sec, 60, 24),
        NUM("retention", "info_days", retention.info_days, 365, 0),
        NUM("retention", "low_days", retention.low_days, 365, 31),
        NUM("retention", "medium_days", retention.medium_days, 1095, 32),
        NUM("retention", "high_days", retention.high_days, 1825, 33),
        NUM("retention", "critical_days", retention.critical_days, 1825, 36500),
        NUM("retention", "findings_days", retention.findings_days, 3650, 35),
        NUM("retention", "hour", retention_hour, 3, 23),
        NUM("console", "port", console.port, 8444, 9444),
        NUM("console", "idle_timeout_min", console.idle_timeout_min, 30, 1),
        NUM("console", "session_max_hours", console.session_max_hours, 12, 168),
};

static unsigned long long number_get(const CollectorConfig *c, size_t i) {
        const void *p = (const char *) c + numbers[i].offset;
        if (numbers[i].size == sizeof(size_t))
                return *(const size_t *) p;
        assert_int_equal(numbers[i].size, sizeof(unsigned));
        return *(const unsigned *) p;
}

/* Each number as the table says: its default, or the value it was set to. */
static void assert_numbers(const CollectorConfig *c, bool set) {
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++) {
                unsigned long long want = set ? numbers[i].set : numbers[i].def;
                if (number_get(c, i) != want)
                        fail_msg("%s.%s: %llu, not %llu", numbers[i].group, numbers[i].key, number_get(c, i), want);
        }
}

static void test_defaults(void **state) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_collector_config_ CollectorConfig *c = NULL;

        assert_int_equal(load("", &c, &errors), 0);
        assert_numbers(c, false);
        assert_true(c->limits.per_host_rate == 20.0);
        assert_true(c->require_client_cert == false); /* no client_ca_file */
        assert_int_equal(c->store.backend, STORE_SQLITE);
}

static void test_values(void **state) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_collector_config_ CollectorConfig *c = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        /* "group = { key = value; ... };" for each group, in the table's order */
        assert_non_null(f);
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++) {
                const char *g = numbers[i].group;
                if (i == 0 || !streq(g, numbers[i - 1].group))
                        fprintf(f, "%s = {\n", g);
                fprintf(f, "  %s = %llu%s;\n", numbers[i].key, numbers[i].set, numbers[i].set > INT32_MAX ? "L" : "");
                if (i + 1 == ELEMENTSOF(numbers) || !streq(g, numbers[i + 1].group))
                        fputs(streq(g, "limits") ? "  per_host_rate = 1.5;\n};\n" : "};\n", f);
        }
        assert_int_equal(fclose(f), 0);

        assert_int_equal(load(text, &c, &errors), 0);
        assert_int_equal(errors.n, 0);
        assert_numbers(c, true);
        assert_true(c->limits.per_host_rate == 1.5);
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
                { "console = { enable = true; zone = \"../../etc/passwd\"; };", "zone", 2 },
                { "console = { enable = true; zone = \"Asia/Nowhere\"; };", "zone", 2 },
                { "console = { enable = true; zone = \"JST-9\"; };", "zone", 2 }, /* a POSIX rule, not a zone name */
                { "console = { listen = \"localhost\"; };", "listen", 2 },
                { "console = {\n enable = true;\n port = 8443; };", "ingest port", 4 },
                { "console = { idle_timeout_min = 0; };", "idle_timeout_min", 2 },
                { "console = { session_max_hours = 169; };", "session_max_hours", 2 },
                { "console = { enable = true; cert = \"/nonexistent/console.crt\"; };", "cert", 2 },
                { "console = { colour = \"red\"; };", "colour", 2 },
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

/* The console: off by default; on, it takes the ingest listener's
 * certificate unless it has its own; a zone change needs a restart. */
static void test_console(void **state) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_collector_config_ CollectorConfig *off = NULL, *on = NULL, *utc = NULL;

        assert_int_equal(load("", &off, &errors), 0);
        assert_false(off->console.enable);
        assert_string_equal(off->console.zone, "Asia/Tokyo");
        assert_string_equal(off->console.listen_text, "127.0.0.1");
        assert_string_equal(off->console.www_dir, "/usr/share/mamori-collector/www");
        assert_null(off->console.cert_pem);
        assert_int_equal(load("console = { enable = true; listen = \"::1\"; www_dir = \"/srv/www\"; };\n", &on, &errors),
                         0);
        assert_true(on->console.enable);
        assert_int_equal(on->console.addr.ss_family, AF_INET6);
        assert_string_equal(on->console.www_dir, "/srv/www");
        assert_string_equal(on->console.cert_pem, "-----BEGIN CERTIFICATE-----\n");
        assert_string_equal(on->console.key_pem, "-----BEGIN PRIVATE KEY-----\n");
        assert_true(collector_config_needs_restart(off, on));
        assert_int_equal(load("console = { zone = \"UTC\"; };\n", &utc, &errors), 0);
        assert_true(collector_config_needs_restart(off, utc));
        assert_false(collector_config_needs_restart(off, off));
        assert_int_equal(errors.n, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_console),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
