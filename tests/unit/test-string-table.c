/* SPDX-License-Identifier: MIT */
/* Every enum's names (common/string-table.h): they are config values and fields of the
 * events and the control socket's replies, so the exact spelling of each is checked here,
 * with what comes back for a value out of range and for a name that is not in the table. */
#include "unit.h"

#include <ctype.h>
#include <limits.h>
#include <syslog.h>

#include "av.h"
#include "control.h"
#include "event.h"
#include "log.h"
#include "policy.h"
#include "posture.h"
#include "retry.h"
#include "spool.h"
#include "string-table.h"
#include "uplink-status.h"
#include "usb-classify.h"

static void assert_string_or_null(const char *got, const char *want) {
        if (want)
                assert_string_equal(got, want);
        else
                assert_null(got);
}

static void upcase(char *buf, size_t n, const char *s) {
        size_t i = 0;
        for (; s[i] && i + 1 < n; i++)
                buf[i] = (char) toupper((unsigned char) s[i]);
        buf[i] = 0;
}

/* Names that are almost one in the table: none of them may match, nor NULL. */
static void check_unknown(int (*from_string)(const char *), const char *name) {
        char buf[64];

        assert_int_equal(from_string(NULL), -EINVAL);
        assert_int_equal(from_string(""), -EINVAL);
        assert_int_equal(from_string(" "), -EINVAL);
        assert_int_equal(from_string("bogus"), -EINVAL);
        snprintf(buf, sizeof buf, "%s ", name);
        assert_int_equal(from_string(buf), -EINVAL);
        snprintf(buf, sizeof buf, " %s", name);
        assert_int_equal(from_string(buf), -EINVAL);
        snprintf(buf, sizeof buf, "%sx", name);
        assert_int_equal(from_string(buf), -EINVAL);
        snprintf(buf, sizeof buf, "%.*s", (int) strlen(name) - 1, name);
        assert_int_equal(from_string(buf), -EINVAL);
}

/* A round trip for each name; upper case is another name (the tables compare case-sensitively). */
static void check_round_trip(int (*from_string)(const char *), const char *const *names, size_t n) {
        char buf[64];

        for (size_t i = 0; i < n; i++) {
                assert_int_equal(from_string(names[i]), (int) i);
                upcase(buf, sizeof buf, names[i]);
                assert_int_equal(from_string(buf), -EINVAL);
                check_unknown(from_string, names[i]);
        }
}

/* Distinct names, so that every name reads back as one value. */
static void check_distinct(const char *const *names, size_t n) {
        for (size_t i = 0; i < n; i++) {
                assert_non_null(names[i]);
                assert_true(names[i][0]);
                for (size_t j = i + 1; j < n; j++)
                        assert_false(streq(names[i], names[j]));
        }
}

/* Every value's name, in order (want[]); then values past both ends of the table. */
#define CHECK_TO_STRING(name, type, max, want, fallback) \
        do { \
                assert_int_equal(ELEMENTSOF(want), max); \
                check_distinct(want, ELEMENTSOF(want)); \
                for (size_t i = 0; i < ELEMENTSOF(want); i++) \
                        assert_string_equal(name##_to_string((type) i), want[i]); \
                assert_string_or_null(name##_to_string((type) (max)), fallback); \
                assert_string_or_null(name##_to_string((type) ((max) + 1)), fallback); \
                assert_string_or_null(name##_to_string((type) -1), fallback); \
                assert_string_or_null(name##_to_string((type) INT_MIN), fallback); \
                assert_string_or_null(name##_to_string((type) INT_MAX), fallback); \
                assert_string_or_null(name##_to_string((type) UINT_MAX), fallback); \
        } while (0)

static void test_lock_tty_action(void **state) {
        static const char *const want[] = { "ignore", "report", "terminate" };
        CHECK_TO_STRING(lock_tty_action, LockTtyAction, _LOCK_TTY_ACTION_MAX, want, "ignore");
        check_round_trip(lock_tty_action_from_string, want, ELEMENTSOF(want));
}

static void test_av_engine(void **state) {
        static const char *const want[] = { "clamav", "generic", "none" };
        CHECK_TO_STRING(av_engine, AvEngine, _AV_ENGINE_MAX, want, "none");
        check_round_trip(av_engine_from_string, want, ELEMENTSOF(want));
        assert_int_equal(av_engine_from_string("ClamAV"), -EINVAL);
}

static void test_av_command_output(void **state) {
        static const char *const want[] = { "date", "epoch", "minutes_ago" };
        CHECK_TO_STRING(av_command_output, AvCommandOutput, _AV_OUTPUT_MAX, want, "date");
        check_round_trip(av_command_output_from_string, want, ELEMENTSOF(want));
}

static void test_usb_category(void **state) {
        static const char *const want[] = { "other", "storage", "mtp", "ptp", "tethering" };
        CHECK_TO_STRING(usb_category, UsbCategory, _USB_CATEGORY_MAX, want, "other");
        check_round_trip(usb_category_from_string, want, ELEMENTSOF(want));
}

/* The tables below have no _from_string(): nothing reads their names back. */

static void test_decision_reason(void **state) {
        static const char *const want[] = { "allowed",   "unknown",         "expired",           "serial_mismatch",
                                            "no_serial", "no_valid_policy", "readonly_violated", "readonly_unavailable",
                                            "infected" };
        CHECK_TO_STRING(decision_reason, DecisionReason, _DECISION_REASON_MAX, want, "unknown");
}

/* issue 14: an allow entry's access */
static void test_allow_access(void **state) {
        static const char *const want[] = { "read-write", "read-only" };
        CHECK_TO_STRING(allow_access, AllowAccess, _ALLOW_ACCESS_MAX, want, NULL);
        check_round_trip(allow_access_from_string, want, ELEMENTSOF(want));
}

static void test_retry_verdict(void **state) {
        static const char *const want[] = { "delivered", "retry", "split", "rejected", "refused" };
        CHECK_TO_STRING(retry_verdict, RetryVerdict, _RETRY_VERDICT_MAX, want, "unknown");
}

static void test_uplink_state(void **state) {
        static const char *const want[] = { "off", "idle", "sending", "waiting", "refused" };
        CHECK_TO_STRING(uplink_state, UplinkState, _UPLINK_STATE_MAX, want, "unknown");
}

static void test_event_severity(void **state) {
        static const char *const want[] = { "info", "low", "medium", "high", "critical" };
        CHECK_TO_STRING(event_severity, EventSeverity, _EVENT_SEVERITY_MAX, want, "info");
}

static void test_av_state(void **state) {
        static const char *const want[] = { "unknown", "ok", "stale", "future", "missing" };
        CHECK_TO_STRING(av_state, AvState, _AV_STATE_MAX, want, "unknown");
}

static void test_spool_damage(void **state) {
        static const char *const want[] = { "torn_write",       "corrupt",   "cursor_unreadable",
                                            "seq_out_of_range", "oversized", "foreign_file" };
        CHECK_TO_STRING(spool_damage, SpoolDamage, _SPOOL_DAMAGE_MAX, want, "unknown");
}

static void test_posture(void **state) {
        static const char *const verdicts[] = { "ok", "check", "ng" };
        static const char *const delivery[] = { "not_configured", "not_running", "ok", "failing", "starting" };
        CHECK_TO_STRING(posture_verdict, PostureVerdict, _POSTURE_VERDICT_MAX, verdicts, NULL);
        check_round_trip(posture_verdict_from_string, verdicts, ELEMENTSOF(verdicts));
        CHECK_TO_STRING(posture_delivery_state, PostureDeliveryState, _POSTURE_DELIVERY_MAX, delivery, NULL);
}

/* The one table without a fallback name: its callers pass only verbs the parser made. */
static void test_control_verb(void **state) {
        static const char *const want[] = { "status", "devices", "events",  "follow",
                                            "flush",  "reload",  "inspect", "quarantine" };
        CHECK_TO_STRING(control_verb, ControlVerb, _CONTROL_VERB_MAX, want, NULL);
}

/* The kinds' names live in a table of structs (with MESSAGE_ID and severity). */
static void test_event_kind(void **state) {
        const char *names[_EVENT_KIND_MAX];

        for (int k = 0; k < _EVENT_KIND_MAX; k++) {
                const EventKindInfo *info = event_kind_info((EventKind) k);
                assert_non_null(info);
                names[k] = info->name;
        }
        check_distinct(names, _EVENT_KIND_MAX);
        check_round_trip(event_kind_from_string, names, _EVENT_KIND_MAX);
        assert_null(event_kind_info(_EVENT_KIND_MAX));
        assert_null(event_kind_info((EventKind) -1));
}

/* Log levels are typed by hand (--log-level=, $MAMORI_LOG_LEVEL): any case, and "error". */
static void test_log_level(void **state) {
        static const char *const want[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
        char buf[64];

        assert_int_equal(LOG_EMERG, 0);
        assert_int_equal(LOG_DEBUG, ELEMENTSOF(want) - 1);
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                assert_int_equal(log_level_from_string(want[i]), (int) i);
                upcase(buf, sizeof buf, want[i]);
                assert_int_equal(log_level_from_string(buf), (int) i);
                check_unknown(log_level_from_string, want[i]);
        }
        assert_int_equal(log_level_from_string("error"), LOG_ERR);
        assert_int_equal(log_level_from_string("Error"), LOG_ERR);
        assert_int_equal(log_level_from_string("ERROR"), LOG_ERR);
        check_unknown(log_level_from_string, "error");
        assert_int_equal(log_level_from_string("warn"), -EINVAL);
        assert_int_equal(log_level_from_string("7"), -EINVAL);
}

/* The helpers themselves: holes never match, NULL never matches, case only where asked. */
static void test_lookup(void **state) {
        static const char *const table[] = { "a", NULL, "c" };

        assert_int_equal(string_table_lookup(table, ELEMENTSOF(table), "a"), 0);
        assert_int_equal(string_table_lookup(table, ELEMENTSOF(table), "c"), 2);
        assert_int_equal(string_table_lookup(table, ELEMENTSOF(table), "C"), -EINVAL);
        assert_int_equal(string_table_lookup(table, ELEMENTSOF(table), NULL), -EINVAL);
        assert_int_equal(string_table_lookup(table, ELEMENTSOF(table), ""), -EINVAL);
        assert_int_equal(string_table_lookup(table, 0, "a"), -EINVAL);
        assert_int_equal(string_table_lookup_case(table, ELEMENTSOF(table), "C"), 2);
        assert_int_equal(string_table_lookup_case(table, ELEMENTSOF(table), NULL), -EINVAL);
        assert_int_equal(string_table_lookup_case(table, ELEMENTSOF(table), "b"), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lookup),       cmocka_unit_test(test_lock_tty_action),
                cmocka_unit_test(test_av_engine),    cmocka_unit_test(test_av_command_output),
                cmocka_unit_test(test_usb_category), cmocka_unit_test(test_decision_reason),
                cmocka_unit_test(test_posture),      cmocka_unit_test(test_retry_verdict),
                cmocka_unit_test(test_uplink_state), cmocka_unit_test(test_event_severity),
                cmocka_unit_test(test_av_state),     cmocka_unit_test(test_spool_damage),
                cmocka_unit_test(test_control_verb), cmocka_unit_test(test_event_kind),
                cmocka_unit_test(test_log_level),    cmocka_unit_test(test_allow_access),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
