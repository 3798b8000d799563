/* SPDX-License-Identifier: MIT */
/* The collector and spool sections of mamori.conf: every class of error
 * names the file and line, and the good form gives the settings. */
#include "unit.h"
#include <sys/stat.h>

#include "config-case.h"
#include "config.h"

static char dir[] = "/tmp/mamori-test-collector-XXXXXX";
static char ca[512], cert[512], key[512], token[512], token_open[512], token_group[512];

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
        write_file(ca, "ca.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
        write_file(cert, "client.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
        write_file(key, "client.key", "-----BEGIN PRIVATE KEY-----\n", 0600);
        write_file(token, "token", "s3cret\n", 0600);
        write_file(token_open, "token-open", "s3cret\n", 0644);
        write_file(token_group, "token-group", "s3cret\n", 0640);
        if (geteuid() == 0)
                assert_int_equal(chown(token_group, 0, 100), 0);
        return 0;
}

static int teardown(void **state) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        return system(cmd);
}

typedef struct Case {
        const char *name;
        const char *text; /* @CA@, @KEY@, @OPEN@ (a world-readable token), @GROUP@ (a group-readable one) */
        int line;
        const char *words;
} Case;

/* The rest are data: tests/data/config/bad/{collector,spool}-*.conf. */
static const Case cases[] = {
        { "ca_file missing", "collector = {\n  url = \"https://c.example\";\n  ca_file = \"/nonexistent/ca.pem\";\n};\n",
          3, "cannot read ca_file '/nonexistent/ca.pem'" },
        { "ca_file relative", "collector = {\n  url = \"https://c.example\";\n  ca_file = \"ca.pem\";\n};\n", 3,
          "must be an absolute path" },
        { "ca_file is a directory", "collector = {\n  url = \"https://c.example\";\n  ca_file = \"/tmp\";\n};\n", 3,
          "not a regular file" },
        { "tls without url", "collector = {\n  ca_file = \"@CA@\";\n};\n", 2, "'ca_file' is set but 'url' is not" },
        { "key without cert", "collector = {\n  url = \"https://c.example\";\n  client_key = \"@KEY@\";\n};\n", 1,
          "'client_key' is set but 'client_cert' is not" },
        { "world-readable token", "collector = {\n  url = \"https://c.example\";\n  token_file = \"@OPEN@\";\n};\n", 3,
          "readable by other users (mode 0644)" },
        { "group-readable token", "collector = {\n  url = \"https://c.example\";\n  token_file = \"@GROUP@\";\n};\n", 3,
          "readable by root only" },
        { "token missing", "collector = {\n  url = \"https://c.example\";\n  token_file = \"/nonexistent/token\";\n};\n",
          3, "cannot read token_file" },
};

/* Replaces each @NAME@ with its path. */
static char *expand(const char *t) {
        static const struct {
                const char *tag;
                const char *path;
        } subst[] = {
                { "@CA@", ca },
                { "@KEY@", key },
                { "@OPEN@", token_open },
                { "@GROUP@", token_group },
        };
        char *out = calloc(1, strlen(t) + 4 * 512 + 1), *o = out;
        assert_non_null(out);
        while (*t) {
                bool done = false;
                for (size_t i = 0; i < ELEMENTSOF(subst) && !done; i++)
                        if (startswith(t, subst[i].tag)) {
                                o = stpcpy(o, subst[i].path);
                                t += strlen(subst[i].tag);
                                done = true;
                        }
                if (!done)
                        *o++ = *t++;
        }
        return out;
}

static void test_errors(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                _cleanup_free_ char *text = expand(c->text);

                if (geteuid() != 0 && strchr(c->text, '@'))
                        continue; /* mamorid trusts root's files only: these need root */
                check_config_error(c->name, text, NULL, "mamori.conf", c->line, c->words);
        }
}

static void test_good(void **state) {
        _cleanup_free_ char *text = NULL;
        Policy *p = NULL;
        ConfigErrors e = { 0 };

        if (geteuid() != 0)
                skip(); /* mamorid trusts root's files only */
        assert_true(asprintf(&text,
                             "collector = {\n"
                             "  url = \"https://collector.example.lg.jp:8443/v1/events\";\n"
                             "  ca_file = \"%s\";\n"
                             "  pin = \"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;sha256//BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=\";\n"
                             "  client_cert = \"%s\";\n"
                             "  client_key = \"%s\";\n"
                             "  token_file = \"%s\";\n"
                             "  heartbeat_interval = \"5min\";\n"
                             "  timeout = 20;\n"
                             "  backoff_min = \"500ms\";\n"
                             "  backoff_max = \"10min\";\n"
                             "  batch_max_events = 250;\n"
                             "  gzip = true;\n"
                             "  proxy = \"http://proxy.example.lg.jp:8080\";\n"
                             "};\n"
                             "spool = { max_size_mb = 16; };\n",
                             ca, cert, key, token) > 0);
        if (config_load_strings(text, NULL, &p, &e) < 0) {
                config_errors_print(&e, stderr);
                fail();
        }
        assert_string_equal(p->collector.url, "https://collector.example.lg.jp:8443/v1/events");
        assert_string_equal(p->collector.ca_file, ca);
        assert_string_equal(p->collector.client_key, key);
        assert_string_equal(p->collector.token_file, token);
        assert_int_equal(p->collector.heartbeat_interval, 300 * USEC_PER_SEC);
        assert_int_equal(p->collector.timeout, 20 * USEC_PER_SEC);
        assert_int_equal(p->collector.backoff_min, 500 * USEC_PER_MSEC);
        assert_int_equal(p->collector.backoff_max, 600 * USEC_PER_SEC);
        assert_int_equal(p->collector.batch_max_events, 250);
        assert_true(p->collector.gzip);
        assert_string_equal(p->collector.proxy, "http://proxy.example.lg.jp:8080");
        assert_int_equal(p->spool.max_bytes, 16ull * 1024 * 1024);
        policy_unref(p);
}

static void test_defaults(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };

        assert_int_equal(config_load_strings("usb = { };\n", NULL, &p, &e), 0);
        assert_null(p->collector.url);   /* the embedded default: spool and journal only */
        assert_null(p->collector.proxy); /* and no proxy, whatever the environment says */
        assert_int_equal(p->collector.heartbeat_interval, COLLECTOR_HEARTBEAT_DEFAULT);
        assert_int_equal(p->collector.timeout, COLLECTOR_TIMEOUT_DEFAULT);
        assert_false(p->collector.gzip);
        assert_int_equal(p->spool.max_bytes, 64ull * 1024 * 1024);
        policy_unref(p);

        /* heartbeat off, and a collector section with only a url */
        assert_int_equal(config_load_strings("collector = { url = \"https://127.0.0.1:8443/\"; heartbeat_interval = 0; };\n",
                                             NULL, &p, &e),
                         0);
        assert_int_equal(p->collector.heartbeat_interval, 0);
        policy_unref(p);

        /* the failsafe policy has the defaults too */
        assert_int_equal(policy_new_failsafe("/nonexistent", &p), 0);
        assert_int_equal(p->spool.max_bytes, 64ull * 1024 * 1024);
        policy_unref(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_defaults),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
