/* SPDX-License-Identifier: MIT */
/* mamorid's side of the quarantine (issue 15): the quarantine = { ... }
 * section (common/config-quarantine.c), the state file's writer
 * (agent/quarantine/quarantine.c) read back by netguard's own parser, the
 * events (quarantine-report.c) and netguard's status file. */
#include "unit.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include "config-case.h"
#include "config.h"
#include "notice-text.h"
#include "quarantine-report.h"
#include "quarantine.h"

static Policy *load(const char *text) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        int r = config_load_strings(text, NULL, &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        assert_int_equal(r, 0);
        config_errors_done(&e);
        return p;
}

static void test_config_good(void **state) {
        Policy *p = load("quarantine = {\n on = [ \"av.detection\" ];\n"
                         " allow = [ \"192.0.2.10/32\", \"2001:db8::/64\", \"198.51.100.0/24\" ];\n};\n");
        uint8_t a[4];

        assert_true(p->quarantine.configured);
        assert_int_equal(p->quarantine.on, QUARANTINE_ON_AV_DETECTION);
        assert_int_equal(p->quarantine.n_allow, 3);
        assert_int_equal(p->quarantine.allow[0].family, AF_INET);
        assert_int_equal(p->quarantine.allow[0].prefixlen, 32);
        assert_int_equal(inet_pton(AF_INET, "192.0.2.10", a), 1);
        assert_memory_equal(p->quarantine.allow[0].addr, a, 4);
        assert_int_equal(p->quarantine.allow[1].family, AF_INET6);
        assert_int_equal(p->quarantine.allow[1].prefixlen, 64);
        policy_unref(p);

        /* no section: nothing engages it by itself, nothing is allowed */
        p = load("");
        assert_false(p->quarantine.configured);
        assert_int_equal(p->quarantine.on, 0);
        assert_int_equal(p->quarantine.n_allow, 0);
        policy_unref(p);
}

static void test_config_bad(void **state) {
        check_config_error("name", "quarantine = {\n allow = [ \"collector.example.jp\" ];\n};\n", NULL, "mamori.conf",
                           2, "no host names");
        check_config_error("host bits", "quarantine = {\n allow = [ \"192.0.2.10/24\" ];\n};\n", NULL, "mamori.conf", 2,
                           "host bits 0");
        check_config_error("no prefix", "quarantine = {\n allow = [ \"192.0.2.10\" ];\n};\n", NULL, "mamori.conf", 2,
                           "prefix length");
        check_config_error("twice", "quarantine = {\n allow = [ \"192.0.2.10/32\",\n \"192.0.2.10/32\" ];\n};\n", NULL,
                           "mamori.conf", 3, "listed twice");
        check_config_error("on", "quarantine = {\n on = [ \"usb.blocked\" ];\n};\n", NULL, "mamori.conf", 2,
                           "can engage the quarantine");
        check_config_error("on type", "quarantine = {\n on = \"av.detection\";\n};\n", NULL, "mamori.conf", 2, "on");
        check_config_error("group", "quarantine = 1;\n", NULL, "mamori.conf", 1, "must be a group");
        check_config_error("key", "quarantine = {\n alow = [ ];\n};\n", NULL, "mamori.conf", 2, "alow");
}

static void test_config_too_many(void **state) {
        char text[8192];
        size_t l = (size_t) snprintf(text, sizeof text, "quarantine = {\n allow = [ ");
        for (int i = 0; i <= QUARANTINE_ALLOW_MAX; i++)
                l += (size_t) snprintf(text + l, sizeof text - l, "%s\"10.0.%d.0/24\"", i ? ", " : "", i);
        snprintf(text + l, sizeof text - l, " ];\n};\n");
        check_config_error("too many", text, NULL, "mamori.conf", 2, "at most");
}

static void test_state_write(void **state) {
        char dir[] = "/tmp/test-quarantine-XXXXXX", path[64], buf[QUARANTINE_STATE_MAX_SIZE];
        QuarantineState s = { .active = true, .since = 1796000000 }, back;
        struct stat st;
        unsigned line;
        FILE *f;
        size_t n;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/quarantine", dir);
        assert_int_equal(quarantine_state_reason("av.detection", "0f1e2d3c-0000-4000-8000-000000000001", s.reason,
                                                 sizeof s.reason),
                         0);
        assert_int_equal(quarantine_cidr_parse("192.0.2.10/32", &s.allow[0]), 0);
        assert_int_equal(quarantine_cidr_parse("2001:db8::/64", &s.allow[1]), 0);
        s.n_allow = 2;
        umask(022);
        assert_int_equal(quarantine_state_write(path, &s), 0);

        /* root-only, whatever the umask, and no temporary file left */
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        snprintf(buf, sizeof buf, "%s.tmp", path);
        assert_int_equal(access(buf, F_OK), -1);

        /* netguard's own parser takes it, and finds what was written */
        f = fopen(path, "r");
        assert_non_null(f);
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        assert_int_equal(quarantine_state_parse(buf, n, &back, &line), 0);
        assert_true(back.active);
        assert_int_equal(back.since, 1796000000);
        assert_string_equal(back.reason, "av.detection 0f1e2d3c-0000-4000-8000-000000000001");
        assert_int_equal(back.n_allow, 2);
        assert_memory_equal(&back.allow[1], &s.allow[1], sizeof s.allow[1]);

        /* released: a new file replaces it, inactive */
        s = (QuarantineState){};
        assert_int_equal(quarantine_state_write(path, &s), 0);
        f = fopen(path, "r");
        assert_non_null(f);
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        assert_int_equal(quarantine_state_parse(buf, n, &back, &line), 0);
        assert_false(back.active);
        assert_int_equal(back.n_allow, 0);

        /* a leftover temporary file (a crash) does not stop the next write */
        snprintf(buf, sizeof buf, "%s.tmp", path);
        f = fopen(buf, "w");
        assert_non_null(f);
        fclose(f);
        assert_int_equal(quarantine_state_write(path, &s), 0);
        assert_int_equal(access(buf, F_OK), -1);

        /* a directory that is not there: an error, not a crash */
        assert_true(quarantine_state_write("/nonexistent-mamori-dir/quarantine", &s) < 0);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

static void test_reasons(void **state) {
        char buf[QUARANTINE_REASON_MAX + 1], big[300];

        assert_true(quarantine_reason_ok("感染の疑いが晴れたため (INC-2027-031)"));
        assert_true(quarantine_reason_ok("x"));
        assert_false(quarantine_reason_ok(NULL));
        assert_false(quarantine_reason_ok(""));
        assert_false(quarantine_reason_ok("   "));
        assert_false(quarantine_reason_ok("two\nlines"));
        assert_false(quarantine_reason_ok("bell\a"));
        assert_false(quarantine_reason_ok("bidi \xe2\x80\xae evil"));
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = 0;
        assert_false(quarantine_reason_ok(big));
        big[QUARANTINE_ADMIN_REASON_MAX] = 0;
        assert_true(quarantine_reason_ok(big));

        assert_int_equal(quarantine_state_reason("manual", NULL, buf, sizeof buf), 0);
        assert_string_equal(buf, "manual");
        assert_int_equal(quarantine_state_reason("", NULL, buf, sizeof buf), -EINVAL);
        /* only printable ASCII reaches the state file */
        assert_int_equal(quarantine_state_reason("av.detection", "\xe3\x81\x82", buf, sizeof buf), -EINVAL);
        assert_int_equal(quarantine_state_reason("av.detection", big, buf, sizeof buf), -ENOBUFS);
}

static void test_events(void **state) {
        QuarantineState s = { .active = true, .since = 1796000000 };
        _cleanup_free_ char *json = NULL;
        EventEnvelope env = { .host_name = "pc1", .machine_id = "0123", .agent_version = "t", .user_uid = -1 };
        size_t len;
        Event *e;

        assert_int_equal(quarantine_cidr_parse("192.0.2.10/32", &s.allow[0]), 0);
        s.n_allow = 1;
        e = quarantine_event_engaged(&s, "av.detection", "ev-1", NULL, -1, -1);
        assert_non_null(e);
        assert_int_equal(e->kind, EVENT_NET_QUARANTINED);
        assert_int_equal(e->severity, EVENT_SEVERITY_CRITICAL);
        assert_int_equal(event_render(e, &env, &json, &len), 0);
        assert_non_null(strstr(json, "\"kind\":\"net.quarantined\""));
        assert_non_null(strstr(json, "\"trigger\":\"av.detection\""));
        assert_non_null(strstr(json, "\"cause_event\":\"ev-1\""));
        assert_non_null(strstr(json, "\"allow\":[\"192.0.2.10/32\"]"));
        assert_null(strstr(json, "\"uid\""));
        event_free(e);
        json = mfree(json);

        e = quarantine_event_released(&s, "調査終了 \"done\"", 0, 1000);
        assert_non_null(e);
        assert_int_equal(e->kind, EVENT_NET_QUARANTINE_RELEASED);
        assert_int_equal(event_render(e, &env, &json, &len), 0);
        assert_non_null(strstr(json, "\"reason\":\"調査終了 \\\"done\\\"\""));
        assert_non_null(strstr(json, "\"uid\":0"));
        assert_non_null(strstr(json, "\"login_uid\":1000"));
        event_free(e);
        json = mfree(json);

        e = quarantine_event_tampered("rules_repaired", 2, 5);
        assert_non_null(e);
        assert_int_equal(e->severity, EVENT_SEVERITY_HIGH);
        assert_int_equal(event_render(e, &env, &json, &len), 0);
        assert_non_null(strstr(json, "\"what\":\"rules_repaired\",\"count\":2,\"total\":5"));
        event_free(e);
        json = mfree(json);
        e = quarantine_event_tampered("netguard_stopped", 0, 0);
        assert_non_null(e);
        assert_int_equal(event_render(e, &env, &json, &len), 0);
        assert_null(strstr(json, "\"count\""));
        event_free(e);
}

static void test_netguard_status(void **state) {
        static const char good[] = "active yes\nsince 1796000000\nreason av.detection\nallow 2\nrules 6\ntampered 3\n"
                                   "last_tampered 1796000100\nkilled 1\nkill unsupported\nstate_errors 0\nbad_line 0\n"
                                   "future_key whatever\n";
        NetguardStatus s;

        assert_int_equal(netguard_status_parse(good, strlen(good), &s), 0);
        assert_true(s.active);
        assert_int_equal(s.rules, 6);
        assert_int_equal(s.tampered, 3);
        assert_int_equal(s.killed, 1);
        assert_string_equal(s.kill, "unsupported");
        assert_int_equal(netguard_status_parse("", 0, &s), 0);
        assert_false(s.active);

        assert_int_equal(netguard_status_parse("tampered -1\n", 12, &s), -EBADMSG);
        assert_int_equal(netguard_status_parse("tampered 1x\n", 12, &s), -EBADMSG);
        assert_int_equal(netguard_status_parse("tampered 99999999999999999999999\n", 33, &s), -EBADMSG);
        assert_int_equal(netguard_status_parse("active maybe\n", 13, &s), -EBADMSG);
        assert_int_equal(netguard_status_parse("kill \xff\n", 7, &s), -EBADMSG);
        assert_int_equal(netguard_status_parse("novalue\n", 8, &s), -EBADMSG);
        assert_int_equal(netguard_status_parse("rules 1\0\n", 9, &s), -EBADMSG);
        {
                char big[NETGUARD_STATUS_MAX + 2];
                memset(big, '\n', sizeof big);
                assert_int_equal(netguard_status_parse(big, sizeof big, &s), -EBADMSG);
                memset(big, 'a', 300);
                assert_int_equal(netguard_status_parse(big, 300, &s), -EBADMSG);
        }
}

/* The hook an av.detection calls: engages only when quarantine.on lists it;
 * a second detection is the same quarantine. */
typedef struct Emitted {
        unsigned n;
        EventKind kinds[8];
} Emitted;

static int emitted_cb(void *userdata, Event *e, const EventContext *ctx) {
        Emitted *em = userdata;
        if (e && em->n < ELEMENTSOF(em->kinds))
                em->kinds[em->n++] = e->kind;
        event_free(e);
        return 0;
}

static void test_on_detection(void **state) {
        char dir[] = "/tmp/test-quarantine-XXXXXX", path[96], status[96], buf[QUARANTINE_STATE_MAX_SIZE];
        Policy *on = load("quarantine = {\n on = [ \"av.detection\" ];\n allow = [ \"192.0.2.10/32\" ];\n};\n");
        Policy *off = load("quarantine = {\n allow = [ \"192.0.2.10/32\" ];\n};\n");
        Emitted em = {};
        sd_event *ev = NULL;
        Quarantine *q = NULL;
        QuarantineState back;
        unsigned line;
        FILE *f;
        size_t n;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/quarantine", dir);
        snprintf(status, sizeof status, "%s/status", dir);
        assert_int_equal(sd_event_new(&ev), 0);
        assert_int_equal(quarantine_new(&(QuarantineOptions){ .event = ev,
                                                              .state_dir = dir,
                                                              .netguard_status = status,
                                                              .emitter = { .emit = emitted_cb, .userdata = &em } },
                                        &q),
                         0);
        assert_false(quarantine_is_active(q));

        quarantine_set_policy(q, off);
        assert_int_equal(quarantine_on_detection(q, "ev-1"), 0);
        assert_false(quarantine_is_active(q));
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(em.n, 0);

        quarantine_set_policy(q, on);
        assert_int_equal(quarantine_on_detection(q, "ev-2"), 1);
        assert_true(quarantine_is_active(q));
        /* net.quarantined, then netguard_stopped: its status file is not there */
        assert_int_equal(em.n, 2);
        assert_int_equal(em.kinds[0], EVENT_NET_QUARANTINED);
        assert_int_equal(em.kinds[1], EVENT_NET_QUARANTINE_TAMPERED);
        f = fopen(path, "r");
        assert_non_null(f);
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        assert_int_equal(quarantine_state_parse(buf, n, &back, &line), 0);
        assert_true(back.active);
        assert_string_equal(back.reason, "av.detection ev-2");
        assert_int_equal(back.n_allow, 1);

        /* twice: one quarantine, nothing new */
        assert_int_equal(quarantine_on_detection(q, "ev-3"), 0);
        assert_int_equal(em.n, 2);

        /* a reload that changes quarantine.allow rewrites the active state */
        {
                Policy *more = load("quarantine = {\n on = [ \"av.detection\" ];\n"
                                    " allow = [ \"192.0.2.10/32\", \"2001:db8::/64\" ];\n};\n");
                quarantine_set_policy(q, more);
                policy_unref(more);
                f = fopen(path, "r");
                assert_non_null(f);
                n = fread(buf, 1, sizeof buf, f);
                fclose(f);
                assert_int_equal(quarantine_state_parse(buf, n, &back, &line), 0);
                assert_true(back.active);
                assert_int_equal(back.n_allow, 2);
                assert_string_equal(back.reason, "av.detection ev-2");
                assert_int_equal(em.n, 2);
        }

        /* release needs a reason */
        assert_int_equal(quarantine_release(q, "", 0, -1), -EINVAL);
        assert_int_equal(quarantine_release(q, "clean again", 0, 1000), 0);
        assert_false(quarantine_is_active(q));
        assert_int_equal(em.kinds[2], EVENT_NET_QUARANTINE_RELEASED);
        assert_int_equal(quarantine_release(q, "clean again", 0, 1000), -EALREADY);

        /* a new Quarantine (mamorid restarted) reads the file back */
        assert_int_equal(quarantine_on_detection(q, "ev-4"), 1);
        q = quarantine_free(q);
        em.n = 0;
        assert_int_equal(quarantine_new(&(QuarantineOptions){ .event = ev,
                                                              .state_dir = dir,
                                                              .netguard_status = status,
                                                              .emitter = { .emit = emitted_cb, .userdata = &em } },
                                        &q),
                         0);
        assert_true(quarantine_is_active(q));
        assert_string_equal(quarantine_state(q)->reason, "av.detection ev-4");
        q = quarantine_free(q);

        policy_unref(on);
        policy_unref(off);
        sd_event_unref(ev);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

/* The notice of net.quarantined: both languages, the glossary's words, the
 * contact of notice.contact (or the officer when none is set). */
static void test_notice(void **state) {
        Policy *p = load("notice = { contact = \"情報政策課 内線 1234\"; contact_en = \"IT section, ext. 1234\"; };\n");
        Notice *n = NULL;

        assert_true(notice_kind_supported(EVENT_NET_QUARANTINED));
        assert_int_equal(notice_build_event(&p->notice, EVENT_NET_QUARANTINED, "対策基準 第7-3オ", "ev-1", &n), 0);
        assert_string_equal(n->summary[NOTICE_LANG_JA], "端末をネットワークから切り離しました");
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "連絡先: 情報政策課 内線 1234"));
        assert_null(strstr(n->body[NOTICE_LANG_JA], "パソコン"));
        assert_non_null(strstr(n->summary[NOTICE_LANG_EN], "disconnected from the network"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "Contact: IT section, ext. 1234"));
        assert_int_equal(n->urgency, NOTICE_URGENCY_CRITICAL);
        n = notice_free(n);
        policy_unref(p);

        p = load("");
        assert_int_equal(notice_build_event(&p->notice, EVENT_NET_QUARANTINED, NULL, "ev-2", &n), 0);
        /* whom to call comes from the config: without it, neutral words, never a role */
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "すぐに端末の管理を担当する部署に電話してください"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "call the section that manages this PC at once"));
        assert_null(strstr(n->body[NOTICE_LANG_JA], "情報セキュリティ管理者"));
        n = notice_free(n);
        policy_unref(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_good),     cmocka_unit_test(test_config_bad),
                cmocka_unit_test(test_config_too_many), cmocka_unit_test(test_state_write),
                cmocka_unit_test(test_reasons),         cmocka_unit_test(test_events),
                cmocka_unit_test(test_netguard_status), cmocka_unit_test(test_on_detection),
                cmocka_unit_test(test_notice),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
