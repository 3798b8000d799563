/* SPDX-License-Identifier: MIT */
/* common/posture.c: the posture object and the self-inspection lines built
 * from a Posture (each verdict and its bounds), the change hash that leaves
 * out what moves by itself; and the site = { } section with the envelope
 * that carries it (its error cases: tests/data/config/bad/site-*.conf). */
#include <limits.h>

#include "unit.h"

#include "config.h"
#include "event.h"
#include "posture.h"
#include "usb-classify.h"

#define NOW (1764800000ULL * USEC_PER_SEC)
#define HOUR (3600ULL * USEC_PER_SEC)

static const unsigned all_categories = USB_CATEGORY_BIT(USB_CATEGORY_STORAGE) | USB_CATEGORY_BIT(USB_CATEGORY_MTP) |
                                       USB_CATEGORY_BIT(USB_CATEGORY_PTP) | USB_CATEGORY_BIT(USB_CATEGORY_TETHERING);

/* Everything enforced: every line OK. */
static void posture_good(Posture *p) {
        *p = (Posture){
                .usb = { .policy_ref = "対策基準 第3-6",
                         .block_mask = all_categories,
                         .monitoring = true,
                         .root_hubs = { { "usb1", 1, 0 }, { "usb2", 1, 0 } },
                         .n_root_hubs = 2,
                         .udev_rule = "/usr/lib/udev/rules.d/70-mamori.rules",
                         .initramfs_hook = "/usr/share/initramfs-tools/hooks/mamori" },
                .lock = { .policy_ref = "対策基準 第3-2エ",
                          .available = true,
                          .idle_timeout = 300 * USEC_PER_SEC,
                          .last_confirmed = NOW - 2 * HOUR },
                .av = { .policy_ref = "対策基準 第7-2イ",
                        .engine = "clamav",
                        .state = "ok",
                        .built_at = NOW - 5 * HOUR,
                        .version = "27000",
                        .max_age_hours = 24,
                        .units = { { "clamav-freshclam.service", 1 } },
                        .n_units = 1 },
                .delivery = { .state = POSTURE_DELIVERY_OK, .url = "https://c.example/v1/events", .uplink = "idle" },
        };
}

static const PostureCheck *find(const PostureCheck *c, size_t n, const char *id) {
        for (size_t i = 0; i < n; i++)
                if (streq(c[i].id, id))
                        return &c[i];
        fail_msg("no check %s", id);
        abort(); /* not reached */
}

static PostureVerdict verdict_of(const Posture *p, const char *id) {
        PostureCheck c[POSTURE_CHECKS_MAX];
        size_t n = posture_checks(p, NOW, c);
        return find(c, n, id)->verdict;
}

/* antivirus.full_scan (issue 15): a line only when configured; its age moves,
 * so the stable form keeps its verdict, not its value. */
static void test_full_scan(void **state) {
        PostureCheck c[POSTURE_CHECKS_MAX];
        _cleanup_free_ char *j1 = NULL, *j2 = NULL;
        Posture p;
        size_t n;

        posture_good(&p);
        n = posture_checks(&p, NOW, c);
        for (size_t i = 0; i < n; i++)
                assert_string_not_equal(c[i].id, "av.full_scan");

        p.av.full_scan_max_age_days = 7;
        p.av.full_scan_state = "ok";
        p.av.full_scan_at = NOW - 48 * HOUR;
        n = posture_checks(&p, NOW, c);
        assert_string_equal(find(c, n, "av.full_scan")->value, "2.0 d (max 7 d)");
        assert_string_equal(find(c, n, "av.full_scan")->clause, "対策基準 第7-3エ");
        assert_int_equal(find(c, n, "av.full_scan")->verdict, POSTURE_OK);
        p.av.full_scan_state = "overdue";
        p.av.full_scan_at = NOW - 200 * HOUR;
        assert_int_equal(verdict_of(&p, "av.full_scan"), POSTURE_NG);
        p.av.full_scan_state = "missing";
        p.av.full_scan_at = 0;
        n = posture_checks(&p, NOW, c);
        assert_string_equal(find(c, n, "av.full_scan")->value, "missing (max 7 d)");
        assert_int_equal(find(c, n, "av.full_scan")->verdict, POSTURE_NG);
        p.av.full_scan_state = "unknown";
        assert_int_equal(verdict_of(&p, "av.full_scan"), POSTURE_CHECK);

        /* The object: the date, and the stable form the same an hour later. */
        p.av.full_scan_state = "ok";
        p.av.full_scan_at = NOW - 48 * HOUR;
        {
                JsonWriter w = JSON_WRITER_INIT;
                json_object_begin(&w);
                posture_write(&w, &p, NOW, true);
                json_object_end(&w);
                j1 = json_steal(&w, NULL);
                w = JSON_WRITER_INIT;
                json_object_begin(&w);
                posture_write(&w, &p, NOW + HOUR, true);
                json_object_end(&w);
                j2 = json_steal(&w, NULL);
        }
        assert_non_null(j1);
        assert_non_null(j2);
        assert_non_null(strstr(j1, "\"full_scan\":{\"state\":\"ok\",\"last_completed\":"));
        assert_string_equal(j1, j2);
}

static void test_all_ok(void **state) {
        PostureCheck c[POSTURE_CHECKS_MAX];
        Posture p;
        size_t n;

        posture_good(&p);
        n = posture_checks(&p, NOW, c);
        assert_int_equal(n, 16);
        for (size_t i = 0; i < n; i++) {
                if (c[i].verdict != POSTURE_OK)
                        fail_msg("%s: %s is %s", c[i].id, c[i].value, posture_verdict_to_string(c[i].verdict));
                assert_non_null(c[i].clause);
        }
        assert_int_equal(posture_verdict(&p, NOW), POSTURE_OK);
        assert_string_equal(find(c, n, "usb.blocked_categories")->value, "storage, mtp, ptp, tethering");
        assert_string_equal(find(c, n, "usb.root_hubs")->value, "usb1=0 usb2=0");
        assert_string_equal(find(c, n, "lock.idle_timeout")->value, "300 s");
        assert_string_equal(find(c, n, "av.pattern_age")->value, "5.0 h (max 24 h)");
        assert_string_equal(find(c, n, "av.units")->value, "clamav-freshclam.service=active");
        assert_string_equal(find(c, n, "delivery.state")->value, "ok");
        assert_string_equal(find(c, n, "delivery.collector")->clause, "対策基準 第3-8, 第5-8");
        assert_string_equal(find(c, n, "lock.confirmed_last_day")->clause, "対策基準 第3-2エ");
}

static void test_verdicts(void **state) {
        Posture p;

        posture_good(&p);
        p.usb.block_mask = USB_CATEGORY_BIT(USB_CATEGORY_STORAGE);
        assert_int_equal(verdict_of(&p, "usb.blocked_categories"), POSTURE_CHECK);
        p.usb.block_mask = USB_CATEGORY_BIT(USB_CATEGORY_MTP);
        assert_int_equal(verdict_of(&p, "usb.blocked_categories"), POSTURE_NG);
        p.usb.block_mask = 0;
        assert_int_equal(verdict_of(&p, "usb.blocked_categories"), POSTURE_NG);

        posture_good(&p);
        p.usb.root_hubs[1].interface_authorized_default = 1;
        assert_int_equal(verdict_of(&p, "usb.root_hubs"), POSTURE_NG);
        p.usb.root_hubs[1].interface_authorized_default = -ENOENT;
        assert_int_equal(verdict_of(&p, "usb.root_hubs"), POSTURE_CHECK);
        p.usb.n_root_hubs = 0;
        assert_int_equal(verdict_of(&p, "usb.root_hubs"), POSTURE_CHECK);

        posture_good(&p);
        p.usb.udev_rule = NULL;
        assert_int_equal(verdict_of(&p, "usb.udev_rule"), POSTURE_NG);
        p.usb.initramfs_hook = NULL;
        assert_int_equal(verdict_of(&p, "usb.initramfs_hook"), POSTURE_CHECK);
        p.usb.fail_closed = true;
        assert_int_equal(verdict_of(&p, "usb.fail_closed"), POSTURE_CHECK);
        p.usb.monitoring = false;
        assert_int_equal(verdict_of(&p, "usb.monitor"), POSTURE_NG);
        assert_int_equal(posture_verdict(&p, NOW), POSTURE_NG);

        /* The lock: none in a day is to look at; one that failed after the last success is NG. */
        posture_good(&p);
        p.lock.last_confirmed = NOW - 25 * HOUR;
        assert_int_equal(verdict_of(&p, "lock.confirmed_last_day"), POSTURE_CHECK);
        p.lock.last_confirmed = 0;
        assert_int_equal(verdict_of(&p, "lock.confirmed_last_day"), POSTURE_CHECK);
        p.lock.last_failed = NOW - HOUR;
        assert_int_equal(verdict_of(&p, "lock.confirmed_last_day"), POSTURE_NG);
        p.lock.last_confirmed = NOW - HOUR / 2; /* a later success */
        assert_int_equal(verdict_of(&p, "lock.confirmed_last_day"), POSTURE_OK);
        p.lock.available = false;
        assert_int_equal(verdict_of(&p, "lock.idle_timeout"), POSTURE_NG);

        posture_good(&p);
        p.av.state = "stale";
        assert_int_equal(verdict_of(&p, "av.pattern_age"), POSTURE_NG);
        p.av.state = "unknown";
        p.av.built_at = 0;
        assert_int_equal(verdict_of(&p, "av.pattern_age"), POSTURE_CHECK);
        p.av.units[0].active = 0;
        assert_int_equal(verdict_of(&p, "av.units"), POSTURE_NG);
        p.av.units[0].active = -1;
        assert_int_equal(verdict_of(&p, "av.units"), POSTURE_CHECK);
        p.av.engine = "none";
        assert_int_equal(verdict_of(&p, "av.engine"), POSTURE_CHECK);

        posture_good(&p);
        p.delivery.state = POSTURE_DELIVERY_FAILING;
        assert_int_equal(verdict_of(&p, "delivery.state"), POSTURE_NG);
        p.delivery.state = POSTURE_DELIVERY_NOT_RUNNING;
        assert_int_equal(verdict_of(&p, "delivery.state"), POSTURE_NG);
        p.delivery.state = POSTURE_DELIVERY_STARTING;
        assert_int_equal(verdict_of(&p, "delivery.state"), POSTURE_CHECK);
        p.delivery.state = POSTURE_DELIVERY_NOT_CONFIGURED;
        p.delivery.url = NULL;
        assert_int_equal(verdict_of(&p, "delivery.state"), POSTURE_CHECK);
        assert_int_equal(verdict_of(&p, "delivery.collector"), POSTURE_CHECK);
}

static void test_expiring(void **state) {
        PostureExpiring e = { .vendor = 0x0781,
                              .product = 0x5567,
                              .serial = "A\x01",
                              .serial_len = 2,
                              .label = "総務課",
                              .expires = "2026-01-01",
                              .file = "/etc/mamori/allow.d/10.conf",
                              .line = 3 };
        JsonWriter w = JSON_WRITER_INIT;
        _cleanup_free_ char *out = NULL;
        Posture p;

        posture_good(&p);
        e.expires_at = NOW; /* ended: no longer an approval */
        assert_false(posture_add_expiring(&p, &e, NOW));
        e.expires_at = USEC_INFINITY;
        assert_false(posture_add_expiring(&p, &e, NOW));
        e.expires_at = NOW + POSTURE_EXPIRING_WINDOW + 1;
        assert_false(posture_add_expiring(&p, &e, NOW));
        e.expires_at = NOW + POSTURE_EXPIRING_WINDOW;
        assert_true(posture_add_expiring(&p, &e, NOW));
        assert_int_equal(verdict_of(&p, "allow.expiring"), POSTURE_CHECK);
        for (size_t i = 1; i < POSTURE_EXPIRING_MAX + 5; i++)
                (void) posture_add_expiring(&p, &e, NOW);
        assert_int_equal(p.n_expiring, POSTURE_EXPIRING_MAX);
        assert_int_equal(p.expiring_not_shown, 5);

        json_object_begin(&w);
        posture_write(&w, &p, NOW, false);
        json_object_end(&w);
        out = json_steal(&w, NULL);
        assert_non_null(out);
        /* the serial escaped as in usb.* events, the rest as given */
        assert_non_null(strstr(out, "\"device\":\"0781:5567\",\"serial\":\"A\\\\x01\",\"label\":\"総務課\""));
        assert_non_null(strstr(out, "\"allow_expiring_not_shown\":5"));
        assert_non_null(strstr(out, "{\"id\":\"allow.expiring\",\"clause\":\"対策基準 第3-6\",\"value\":\"37\""));
}

static void test_object(void **state) {
        JsonWriter w = JSON_WRITER_INIT;
        _cleanup_free_ char *out = NULL;
        Posture p;

        posture_good(&p);
        p.usb.root_hubs[0].authorized_default = INT_MIN; /* unreadable */
        json_object_begin(&w);
        posture_write(&w, &p, NOW, false);
        json_object_end(&w);
        out = json_steal(&w, NULL);
        assert_non_null(out);
        assert_non_null(
                strstr(out, "\"usb\":{\"policy_ref\":\"対策基準 第3-6\",\"blocked_categories\":[\"storage\",\"mtp\","
                            "\"ptp\",\"tethering\"],\"fail_closed\":false,\"monitoring\":true,\"root_hubs\":[{\"name\":"
                            "\"usb1\",\"authorized_default\":null,\"interface_authorized_default\":0},"));
        assert_non_null(strstr(out, "\"udev_rule\":\"/usr/lib/udev/rules.d/70-mamori.rules\""));
        assert_non_null(strstr(out, "\"confirmed_last_day\":true"));
        assert_non_null(strstr(out, "\"last_confirmed\":\"2025-12-03T20:13:20.000000Z\""));
        assert_non_null(strstr(out, "\"pattern_age_hours\":5"));
        assert_non_null(strstr(out, "\"units\":[{\"name\":\"clamav-freshclam.service\",\"state\":\"active\"}]"));
        assert_non_null(strstr(out, "\"delivery\":{\"policy_ref\":\"対策基準 第3-8, 第5-8\",\"state\":\"ok\""));
        assert_non_null(strstr(out, "\"allow_expiring\":[]"));
        assert_non_null(strstr(out, "\"verdict\":\"ok\"}"));
}

static void test_hash(void **state) {
        char a[65], b[65];
        Posture p;

        posture_good(&p);
        assert_int_equal(posture_hash(&p, NOW, a), 0);
        assert_int_equal(strlen(a), 64);

        /* What moves by itself changes nothing: age, times, failures. */
        assert_int_equal(posture_hash(&p, NOW + HOUR, b), 0);
        assert_string_equal(a, b);
        p.lock.last_confirmed -= HOUR;
        p.delivery.last_success = NOW - 1;
        p.delivery.uplink = "sending";
        assert_int_equal(posture_hash(&p, NOW, b), 0);
        assert_string_equal(a, b);

        /* What the team must hear of does. */
        posture_good(&p);
        p.usb.udev_rule = NULL;
        assert_int_equal(posture_hash(&p, NOW, b), 0);
        assert_string_not_equal(a, b);
        posture_good(&p);
        p.av.state = "stale";
        assert_int_equal(posture_hash(&p, NOW, b), 0);
        assert_string_not_equal(a, b);
        posture_good(&p);
        p.lock.last_confirmed = NOW - 25 * HOUR; /* the day passed without a lock */
        assert_int_equal(posture_hash(&p, NOW, b), 0);
        assert_string_not_equal(a, b);
        posture_good(&p);
        p.delivery.url = NULL; /* the collector removed */
        p.delivery.state = POSTURE_DELIVERY_NOT_CONFIGURED;
        assert_int_equal(posture_hash(&p, NOW, b), 0);
        assert_string_not_equal(a, b);

        /* Delivery failing, or the uplink not started yet: the heartbeat's
         * and the delivery events' to tell, not a change of posture. */
        posture_good(&p);
        p.delivery.state = POSTURE_DELIVERY_FAILING;
        p.delivery.failures = 3;
        assert_int_equal(posture_hash(&p, NOW, b), 0);
        assert_string_equal(a, b);
        p.delivery.state = POSTURE_DELIVERY_NOT_RUNNING;
        assert_int_equal(posture_hash(&p, NOW, b), 0);
        assert_string_equal(a, b);
}

static void test_bounds(void **state) {
        PostureCheck c[POSTURE_CHECKS_MAX];
        Posture p;
        size_t n;

        /* A full table of long names: every value stays within its buffer. */
        posture_good(&p);
        for (size_t i = 0; i < POSTURE_ROOT_HUBS_MAX; i++) {
                memset(p.usb.root_hubs[i].name, 'h', POSTURE_NAME_MAX - 1);
                p.usb.root_hubs[i].name[POSTURE_NAME_MAX - 1] = 0;
        }
        p.usb.n_root_hubs = POSTURE_ROOT_HUBS_MAX;
        p.usb.root_hubs_not_shown = 3;
        for (size_t i = 0; i < POSTURE_UNITS_MAX; i++)
                p.av.units[i] = (PostureUnit){ "a-rather-long-antivirus-unit-name.service", 1 };
        p.av.n_units = POSTURE_UNITS_MAX;
        n = posture_checks(&p, NOW, c);
        assert_true(strnlen(find(c, n, "usb.root_hubs")->value, sizeof c[0].value) < sizeof c[0].value);
        assert_true(strnlen(find(c, n, "av.units")->value, sizeof c[0].value) < sizeof c[0].value);
        assert_int_equal(find(c, n, "usb.root_hubs")->verdict, POSTURE_OK);

        assert_string_equal(posture_verdict_to_string(POSTURE_CHECK), "check");
        assert_int_equal(posture_verdict_from_string("ng"), POSTURE_NG);
        assert_int_equal(posture_verdict_from_string("要確認"), -EINVAL);
        assert_string_equal(posture_delivery_state_to_string(POSTURE_DELIVERY_NOT_RUNNING), "not_running");
}

/* ---- site ---- */

static void test_site(void **state) {
        static const EventEnvelope base = { .host_name = "pc1", .machine_id = "m", .agent_version = "1", .user_uid = -1 };
        EventEnvelope env = base;
        ConfigErrors e = { 0 };
        Policy *p = NULL;
        _cleanup_free_ char *line = NULL, *bare = NULL;
        Event *ev;
        size_t len;

        assert_int_equal(config_load_strings("site = { department = \"総務課\"; location = \"本庁舎 2F\"; };\n", NULL,
                                             &p, &e),
                         0);
        assert_string_equal(p->site.department, "総務課");
        assert_string_equal(p->site.location, "本庁舎 2F");

        ev = event_new(EVENT_AGENT_TEST);
        assert_non_null(ev);
        env.site_department = p->site.department;
        env.site_location = p->site.location;
        assert_int_equal(event_render(ev, &env, &line, &len), 0);
        assert_non_null(strstr(line, ",\"site\":{\"department\":\"総務課\",\"location\":\"本庁舎 2F\"}"));
        /* Not configured: no member at all; one label alone: the other null. */
        assert_int_equal(event_render(ev, &base, &bare, &len), 0);
        assert_null(strstr(bare, "\"site\""));
        free(line);
        env.site_department = NULL;
        assert_int_equal(event_render(ev, &env, &line, &len), 0);
        assert_non_null(strstr(line, "\"site\":{\"department\":null,\"location\":\"本庁舎 2F\"}"));
        event_free(ev);
        policy_unref(p);

        /* Optional: none given, none set. */
        p = NULL;
        assert_int_equal(config_load_strings("usb = { };\n", NULL, &p, &e), 0);
        assert_null(p->site.department);
        assert_null(p->site.location);
        policy_unref(p);
}

/* Thunderbolt: "none" is NG (PCIe without asking), an unreadable level is
 * looked at; a loaded FireWire host driver is looked at (DMA). */
static void test_dma_buses(void **state) {
        PostureCheck c[POSTURE_CHECKS_MAX];
        Posture p;
        size_t n;

        posture_good(&p);
        n = posture_checks(&p, NOW, c);
        assert_string_equal(find(c, n, "thunderbolt.security")->value, "no domain");
        assert_string_equal(find(c, n, "firewire.host_driver")->value, "none");

        p.thunderbolt = (PostureThunderbolt){ .domains = { { "domain0", "user", 1 }, { "domain1", "secure", 0 } },
                                              .n_domains = 2,
                                              .boltd = 1 };
        n = posture_checks(&p, NOW, c);
        assert_int_equal(find(c, n, "thunderbolt.security")->verdict, POSTURE_OK);
        assert_string_equal(find(c, n, "thunderbolt.security")->value, "domain0=user domain1=secure (boltd running)");
        snprintf(p.thunderbolt.domains[1].security, sizeof p.thunderbolt.domains[1].security, "none");
        p.thunderbolt.boltd = -1;
        n = posture_checks(&p, NOW, c);
        assert_int_equal(find(c, n, "thunderbolt.security")->verdict, POSTURE_NG);
        assert_string_equal(find(c, n, "thunderbolt.security")->value, "domain0=user domain1=none");
        assert_int_equal(posture_verdict(&p, NOW), POSTURE_NG);
        p.thunderbolt.domains[1].security[0] = 0;
        assert_int_equal(verdict_of(&p, "thunderbolt.security"), POSTURE_CHECK);
        snprintf(p.thunderbolt.domains[1].security, sizeof p.thunderbolt.domains[1].security, "dponly");
        assert_int_equal(verdict_of(&p, "thunderbolt.security"), POSTURE_OK);

        p.firewire.ohci_loaded = true;
        assert_int_equal(verdict_of(&p, "firewire.host_driver"), POSTURE_CHECK);
        assert_int_equal(posture_verdict(&p, NOW), POSTURE_CHECK);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_all_ok), cmocka_unit_test(test_verdicts),  cmocka_unit_test(test_expiring),
                cmocka_unit_test(test_object), cmocka_unit_test(test_hash),      cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_site),   cmocka_unit_test(test_dma_buses), cmocka_unit_test(test_full_scan),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
