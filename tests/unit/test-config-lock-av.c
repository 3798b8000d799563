/* SPDX-License-Identifier: MIT */
/* The lock = { } and antivirus = { } sections: the defaults and a full valid
 * configuration (every error class: tests/data/config/bad/{lock,antivirus}-*.conf). */
#include "unit.h"

#include "config.h"

static void test_defaults(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        assert_int_equal(config_load_strings("usb = { };\n", NULL, &p, &e), 0);
        assert_int_equal(p->lock.idle_timeout, 300 * USEC_PER_SEC);
        assert_int_equal(p->lock.verify_timeout, 10 * USEC_PER_SEC);
        assert_int_equal(p->lock.tty, LOCK_TTY_REPORT);
        assert_int_equal(p->lock.tty_idle_timeout, 1800 * USEC_PER_SEC);
        assert_string_equal(p->lock.policy_ref, "対策基準 第3-2エ");
        assert_int_equal(p->av.engine, AV_ENGINE_CLAMAV);
        assert_string_equal(p->av.database_dir, "/var/lib/clamav");
        assert_int_equal(p->av.max_age_hours, 24);
        assert_int_equal(p->av.n_units, 0);
        assert_string_equal(p->av.policy_ref, "対策基準 第7-2イ");
        assert_string_equal(p->av.staff_policy_ref, "対策基準 第7-3ア");
        policy_unref(p);

        /* The fail-safe policy checks on the same defaults. */
        assert_int_equal(policy_new_failsafe("/nonexistent", &p), 0);
        assert_int_equal(p->lock.idle_timeout, 300 * USEC_PER_SEC);
        assert_string_equal(p->av.database_dir, "/var/lib/clamav");
        assert_string_equal(p->av.policy_ref, "対策基準 第7-2イ");
        policy_unref(p);
}

static void test_good(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        int r = config_load_strings(
                "lock = {\n  idle_timeout = 600;\n  verify_timeout = 5;\n"
                "  tty = { action = \"terminate\"; idle_timeout = 3600; };\n  policy_ref = \"第3-2エ\";\n};\n"
                "antivirus = {\n  engine = \"clamav\";\n  database_dir = \"/srv/clamav/\";\n  max_age_hours = 48;\n"
                "  units = [ \"clamav-daemon\", \"clamav-freshclam.service\", \"x@y.timer\" ];\n  policy_ref = \"第7-2イ\";\n"
                "  staff_policy_ref = \"第7-3ア\";\n};\n",
                NULL, &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        assert_int_equal(r, 0);
        assert_int_equal(p->lock.idle_timeout, 600 * USEC_PER_SEC);
        assert_int_equal(p->lock.verify_timeout, 5 * USEC_PER_SEC);
        assert_int_equal(p->lock.tty, LOCK_TTY_TERMINATE);
        assert_int_equal(p->lock.tty_idle_timeout, 3600 * USEC_PER_SEC);
        assert_string_equal(p->lock.policy_ref, "第3-2エ");
        assert_string_equal(p->av.database_dir, "/srv/clamav/");
        assert_int_equal(p->av.max_age_hours, 48);
        assert_string_equal(p->av.staff_policy_ref, "第7-3ア");
        assert_int_equal(p->av.n_units, 3);
        assert_string_equal(p->av.units[0], "clamav-daemon.service"); /* the suffix is implied */
        assert_string_equal(p->av.units[1], "clamav-freshclam.service");
        assert_string_equal(p->av.units[2], "x@y.timer");
        assert_string_equal(p->av.policy_ref, "第7-2イ");
        policy_unref(p);

        r = config_load_strings(
                "lock = { tty = \"ignore\"; idle_timeout = 60; };\n"
                "antivirus = { engine = \"generic\";\n"
                "  command = [ \"/opt/microsoft/mdatp/sbin/wdavdaemonclient\", \"health\", \"--field\", \"definitions_updated\" ];\n"
                "  command_output = \"date\"; command_timeout = 20; database_dir = \"/var/opt/x\"; };\n",
                NULL, &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        assert_int_equal(r, 0);
        assert_int_equal(p->lock.tty, LOCK_TTY_IGNORE);
        assert_int_equal(p->lock.tty_idle_timeout, 360 * USEC_PER_SEC);
        assert_int_equal(p->av.engine, AV_ENGINE_GENERIC);
        assert_int_equal(p->av.n_command, 4);
        assert_string_equal(p->av.command[3], "definitions_updated");
        assert_null(p->av.command[4]);
        assert_int_equal(p->av.command_timeout, 20 * USEC_PER_SEC);
        assert_string_equal(p->av.database_dir, "/var/opt/x");
        policy_unref(p);

        r = config_load_strings(
                "antivirus = { engine = \"generic\"; pattern_file = \"/var/lib/x/defs.dat\"; max_age_hours = 72; };\n",
                NULL, &p, &e);
        assert_int_equal(r, 0);
        assert_string_equal(p->av.pattern_file, "/var/lib/x/defs.dat");
        assert_null(p->av.database_dir);
        policy_unref(p);

        r = config_load_strings("antivirus = { engine = \"none\"; units = [ \"edr-agent\" ]; };\n", NULL, &p, &e);
        assert_int_equal(r, 0);
        assert_int_equal(p->av.engine, AV_ENGINE_NONE);
        policy_unref(p);
}

/* Who may report detections (issue 15): unset, a list, an empty list. */
static void test_report_users(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };

        assert_int_equal(config_load_strings("usb = { };\n", NULL, &p, &e), 0);
        assert_false(p->av.report_users_set);
        assert_int_equal(p->av.n_report_users, 0);
        policy_unref(p);
        assert_int_equal(config_load_strings("antivirus = { engine = \"none\"; report_users = [ \"clamav\", \"1234\", "
                                             "\"av_user.2\" ]; };\n",
                                             NULL, &p, &e),
                         0);
        assert_true(p->av.report_users_set);
        assert_int_equal(p->av.n_report_users, 3);
        assert_string_equal(p->av.report_users[1], "1234");
        policy_unref(p);
        assert_int_equal(config_load_strings("antivirus = { report_users = [ ]; };\n", NULL, &p, &e), 0);
        assert_true(p->av.report_users_set);
        assert_int_equal(p->av.n_report_users, 0);
        policy_unref(p);
        assert_true(config_load_strings("antivirus = { report_users = [ \"0\" ]; };\n", NULL, &p, &e) < 0);
        config_errors_done(&e);
        assert_true(config_load_strings("antivirus = { report_users = [ \"-x\" ]; };\n", NULL, &p, &e) < 0);
        config_errors_done(&e);
        assert_true(config_load_strings("antivirus = { report_users = \"clamav\"; };\n", NULL, &p, &e) < 0);
        config_errors_done(&e);
}

/* antivirus.full_scan (issue 15): a file, a command, the bounds. */
static void test_full_scan(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };

        assert_int_equal(config_load_strings("usb = { };\n", NULL, &p, &e), 0);
        assert_false(p->av.full_scan.enabled);
        policy_unref(p);
        assert_int_equal(config_load_strings("antivirus = { full_scan = { file = \"/var/lib/clamav/last-full-scan\"; }; };\n",
                                             NULL, &p, &e),
                         0);
        assert_true(p->av.full_scan.enabled);
        assert_int_equal(p->av.full_scan.max_age_days, 7);
        assert_string_equal(p->av.full_scan.file, "/var/lib/clamav/last-full-scan");
        assert_null(p->av.full_scan.command);
        policy_unref(p);
        assert_int_equal(config_load_strings("antivirus = { engine = \"none\"; full_scan = { max_age_days = 30; "
                                             "command = [ \"/bin/date\", \"+%s\" ]; command_output = \"epoch\"; "
                                             "command_timeout = 5; }; };\n",
                                             NULL, &p, &e),
                         0);
        assert_int_equal(p->av.full_scan.max_age_days, 30);
        assert_int_equal(p->av.full_scan.n_command, 2);
        assert_int_equal(p->av.full_scan.command_output, AV_OUTPUT_EPOCH);
        assert_int_equal(p->av.full_scan.command_timeout, 5 * USEC_PER_SEC);
        policy_unref(p);
        /* The journal: a service's full name; a root directory of journal files (tests). */
        assert_int_equal(config_load_strings("antivirus = { full_scan = { unit = \"clamav-fullscan.service\"; }; };\n",
                                             NULL, &p, &e),
                         0);
        assert_string_equal(p->av.full_scan.unit, "clamav-fullscan.service");
        assert_null(p->av.full_scan.journal_directory);
        assert_null(p->av.full_scan.file);
        policy_unref(p);
        assert_int_equal(config_load_strings("antivirus = { full_scan = { unit = \"scan@root\\\\x2dfs:1_a.service\"; "
                                             "journal_directory = \"/etc\"; }; };\n",
                                             NULL, &p, &e),
                         0);
        assert_string_equal(p->av.full_scan.unit, "scan@root\\x2dfs:1_a.service");
        assert_string_equal(p->av.full_scan.journal_directory, "/etc");
        policy_unref(p);

        static const char *const bad[] = {
                "antivirus = { full_scan = { }; };\n",                                             /* no source */
                "antivirus = { full_scan = { file = \"/a\"; command = [ \"/bin/true\" ]; }; };\n", /* both */
                "antivirus = { full_scan = { file = \"/a\"; max_age_days = 0; }; };\n",
                "antivirus = { full_scan = { file = \"/a\"; max_age_days = 367; }; };\n",
                "antivirus = { full_scan = { file = \"rel\"; }; };\n",
                "antivirus = { full_scan = { command = [ \"date\" ]; }; };\n",
                "antivirus = { full_scan = { file = \"/a\"; command_output = \"epoch\"; }; };\n",
                "antivirus = { full_scan = { command = [ \"/bin/date\" ]; command_output = \"weeks\"; }; };\n",
                "antivirus = { full_scan = { file = \"/a\"; max_days = 3; }; };\n",
                "antivirus = { full_scan = \"/a\"; };\n",
                "antivirus = { full_scan = { unit = \"clamav-fullscan\"; }; };\n", /* no implied suffix */
                "antivirus = { full_scan = { unit = \"clamav-fullscan.timer\"; }; };\n",
                "antivirus = { full_scan = { unit = \".service\"; }; };\n",
                "antivirus = { full_scan = { unit = \"scan@.service\"; }; };\n", /* a template never runs */
                "antivirus = { full_scan = { unit = \"-x.service\"; }; };\n",
                "antivirus = { full_scan = { unit = \"a b.service\"; }; };\n",
                "antivirus = { full_scan = { unit = \"a/b.service\"; }; };\n",
                "antivirus = { full_scan = { unit = \"a\\nb.service\"; }; };\n",
                "antivirus = { full_scan = { unit = \"\"; }; };\n",
                "antivirus = { full_scan = { unit = 1; }; };\n",
                "antivirus = { full_scan = { unit = \"a.service\"; file = \"/a\"; }; };\n",
                "antivirus = { full_scan = { unit = \"a.service\"; command = [ \"/bin/true\" ]; }; };\n",
                "antivirus = { full_scan = { unit = \"a.service\"; command_timeout = 5; }; };\n",
                "antivirus = { full_scan = { file = \"/a\"; journal_directory = \"/etc\"; }; };\n",
                "antivirus = { full_scan = { unit = \"a.service\"; journal_directory = \"etc\"; }; };\n",
                "antivirus = { full_scan = { unit = \"a.service\"; journal_directory = \"/nonexistent-mamori\"; }; };\n",
                "antivirus = { full_scan = { unit = \"a.service\"; journal_directory = \"/tmp\"; }; };\n", /* 1777 */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (config_load_strings(bad[i], NULL, &p, &e) >= 0)
                        fail_msg("accepted: %s", bad[i]);
                config_errors_done(&e);
        }
}

/* antivirus.scan (issue 15 item 3): media scanned by clamd when mounted. */
static void test_media_scan(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };

        assert_int_equal(config_load_strings("antivirus = { engine = \"clamav\"; };\n", NULL, &p, &e), 0);
        assert_false(p->av.scan.on_mount);
        assert_string_equal(p->av.scan.socket, AV_SCAN_SOCKET_DEFAULT);
        assert_int_equal(p->av.scan.timeout, AV_SCAN_TIMEOUT_DEFAULT);
        policy_unref(p);
        assert_int_equal(config_load_strings("antivirus = { scan = { on_mount = true; socket = \"/run/c.ctl\"; "
                                             "timeout = 30; }; };\n",
                                             NULL, &p, &e),
                         0);
        assert_true(p->av.scan.on_mount);
        assert_string_equal(p->av.scan.socket, "/run/c.ctl");
        assert_int_equal(p->av.scan.timeout, 30 * USEC_PER_SEC);
        policy_unref(p);

        static const char *const bad[] = {
                "antivirus = { scan = true; };\n",
                "antivirus = { scan = { on_mount = \"yes\"; }; };\n",
                "antivirus = { scan = { socket = \"clamd.ctl\"; }; };\n", /* relative */
                "antivirus = { scan = { timeout = 0; }; };\n",
                "antivirus = { scan = { timeout = 86401; }; };\n",
                "antivirus = { scan = { max_files = 10; }; };\n", /* unknown key */
                "antivirus = { scan = { socket = \"/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"; }; };\n", /* past sun_path */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (config_load_strings(bad[i], NULL, &p, &e) >= 0)
                        fail_msg("accepted: %s", bad[i]);
                config_errors_done(&e);
        }
}

static void test_names(void **state) {
        for (int i = 0; i < _LOCK_TTY_ACTION_MAX; i++)
                assert_int_equal(lock_tty_action_from_string(lock_tty_action_to_string(i)), i);
        for (int i = 0; i < _AV_ENGINE_MAX; i++)
                assert_int_equal(av_engine_from_string(av_engine_to_string(i)), i);
        for (int i = 0; i < _AV_OUTPUT_MAX; i++)
                assert_int_equal(av_command_output_from_string(av_command_output_to_string(i)), i);
        assert_true(av_engine_from_string("ClamAV") < 0);
        assert_true(lock_tty_action_from_string(NULL) < 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),     cmocka_unit_test(test_good),
                cmocka_unit_test(test_report_users), cmocka_unit_test(test_full_scan),
                cmocka_unit_test(test_media_scan),   cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
