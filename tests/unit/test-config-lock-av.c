/* SPDX-License-Identifier: MIT */
/* The lock = { } and antivirus = { } sections: every error class with the
 * file:line it must point at, the defaults, and a full valid configuration. */
#include "unit.h"

#include "config-case.h"
#include "config.h"

typedef struct ErrorCase {
        const char *name;
        const char *text;
        int line;
        const char *words;
} ErrorCase;

static const ErrorCase cases[] = {
        /* lock */
        { "lock not a group", "lock = \"on\";\n", 1, "'lock' must be a group" },
        { "unknown key in lock", "lock = {\n  idle_timout = 300;\n};\n", 2, "unknown key 'idle_timout' in lock" },
        { "idle_timeout not an integer", "lock = {\n  idle_timeout = \"5m\";\n};\n", 2, "'idle_timeout' must be an integer" },
        { "idle_timeout zero", "lock = {\n  idle_timeout = 0;\n};\n", 2, "'idle_timeout' must be between 1 and 86400" },
        { "idle_timeout too long", "lock = {\n  idle_timeout = 100000;\n};\n", 2, "between 1 and 86400" },
        { "verify_timeout out of range", "lock = {\n\n  verify_timeout = 601;\n};\n", 3, "'verify_timeout' must be between 1 and 600" },
        { "unknown tty action", "lock = {\n  tty = \"kill\";\n};\n", 2, "unknown tty action 'kill'" },
        { "tty wrong type", "lock = {\n  tty = 3;\n};\n", 2, "'tty' must be \"ignore\"" },
        { "tty group without action", "lock = {\n  tty = {\n    idle_timeout = 3600; };\n};\n", 2, "'tty' has no 'action'" },
        { "tty group unknown key", "lock = {\n  tty = { action = \"report\";\n    idle = 3; };\n};\n", 3, "unknown key 'idle' in tty" },
        { "tty group bad action", "lock = {\n  tty = {\n    action = \"logout\"; };\n};\n", 3, "unknown tty action 'logout'" },
        { "tty timeout shorter than lock", "lock = {\n  idle_timeout = 600;\n  tty = { action = \"terminate\";\n    idle_timeout = 300; };\n};\n",
          4, "shorter than lock.idle_timeout" },
        { "lock policy_ref empty", "lock = {\n  policy_ref = \"\";\n};\n", 2, "'policy_ref' must not be empty" },
        { "lock policy_ref wrong type", "lock = {\n  policy_ref = 32;\n};\n", 2, "'policy_ref' must be a string" },
        /* antivirus */
        { "antivirus not a group", "antivirus = [ \"clamav\" ];\n", 1, "'antivirus' must be a group" },
        { "unknown key in antivirus", "antivirus = {\n  max_age = 24;\n};\n", 2, "unknown key 'max_age' in antivirus" },
        { "unknown engine", "antivirus = {\n  engine = \"sophos\";\n};\n", 2, "unknown engine 'sophos'" },
        { "engine wrong type", "antivirus = {\n  engine = true;\n};\n", 2, "'engine' must be a string" },
        { "database_dir relative", "antivirus = {\n  database_dir = \"var/lib/clamav\";\n};\n", 2, "'database_dir' must be an absolute path" },
        { "database_dir with dotdot", "antivirus = {\n  database_dir = \"/var/lib/../tmp\";\n};\n", 2, "without '.' or '..'" },
        { "max_age_hours zero", "antivirus = {\n  max_age_hours = 0;\n};\n", 2, "'max_age_hours' must be between 1" },
        { "max_age_hours float", "antivirus = {\n  max_age_hours = 1.5;\n};\n", 2, "'max_age_hours' must be an integer" },
        { "units not a list", "antivirus = {\n  units = \"clamav-daemon\";\n};\n", 2, "'units' must be a list of strings" },
        { "units empty string", "antivirus = {\n  units = [ \"clamav-daemon\", \"\" ];\n};\n", 2, "non-empty strings" },
        { "unit name invalid", "antivirus = {\n  units = [ \"clamav daemon\" ];\n};\n", 2, "not a valid systemd unit name" },
        { "generic without source", "antivirus = {\n  engine = \"generic\";\n};\n", 1, "needs exactly one of 'pattern_file'" },
        { "generic with both sources", "antivirus = {\n  engine = \"generic\"; pattern_file = \"/a\";\n  command = [ \"/bin/echo\" ];\n};\n", 1,
          "needs exactly one of" },
        { "command relative", "antivirus = {\n  engine = \"generic\";\n  command = [ \"mdatp\", \"health\" ];\n};\n", 3,
          "'command' must start with an absolute path" },
        { "command empty", "antivirus = {\n  engine = \"generic\";\n  command = [ ];\n};\n", 3, "'command' is empty" },
        { "command item not a string", "antivirus = {\n  engine = \"generic\";\n  command = ( \"/bin/x\", 3 );\n};\n", 3, "non-empty strings" },
        { "pattern_file with clamav", "antivirus = {\n  engine = \"clamav\";\n  pattern_file = \"/x\";\n};\n", 3,
          "'pattern_file' is only used with engine = \"generic\"" },
        { "command with default engine", "antivirus = {\n\n  command = [ \"/bin/date\" ];\n};\n", 3, "'command' is only used with engine" },
        { "unknown command_output", "antivirus = {\n  engine = \"generic\"; command = [ \"/bin/date\" ];\n  command_output = \"hours\";\n};\n", 3,
          "unknown command_output 'hours'" },
        { "command_output with pattern_file", "antivirus = {\n  engine = \"generic\"; pattern_file = \"/x\";\n  command_output = \"epoch\";\n};\n",
          3, "only used with 'command'" },
        { "command_timeout out of range", "antivirus = {\n  engine = \"generic\"; command = [ \"/bin/date\" ];\n  command_timeout = 0;\n};\n", 3,
          "'command_timeout' must be between 1 and 600" },
        { "av policy_ref empty", "antivirus = {\n  policy_ref = \"\";\n};\n", 2, "'policy_ref' must not be empty" },
};

static void test_error_cases(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check_config_error(cases[i].name, cases[i].text, NULL, "mamori.conf", cases[i].line, cases[i].words);
}

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
                "  units = [ \"clamav-daemon\", \"clamav-freshclam.service\", \"x@y.timer\" ];\n  policy_ref = \"第7-2イ\";\n};\n",
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
        assert_int_equal(p->av.n_units, 3);
        assert_string_equal(p->av.units[0], "clamav-daemon.service"); /* the suffix is implied */
        assert_string_equal(p->av.units[1], "clamav-freshclam.service");
        assert_string_equal(p->av.units[2], "x@y.timer");
        assert_string_equal(p->av.policy_ref, "第7-2イ");
        policy_unref(p);

        r = config_load_strings("lock = { tty = \"ignore\"; idle_timeout = 60; };\n"
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

        r = config_load_strings("antivirus = { engine = \"generic\"; pattern_file = \"/var/lib/x/defs.dat\"; max_age_hours = 72; };\n",
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
                cmocka_unit_test(test_error_cases),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
