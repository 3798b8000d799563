/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "local-midnight.h"
#include "config.h"

/* The error cases are data: tests/data/config/bad (test-config-bad.c). */

#define E(...) "allow = (\n" __VA_ARGS__ "\n);\n"

static void test_all_errors_reported(void **state) {
        /* Two bad entries in one file and a bad category: three errors, not one. */
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        int r = config_load_strings("usb = { block = [ \"nope\" ]; };",
                                    E("  { vendor = \"xyz\"; product = \"5567\"; serial = \"S\"; approved_by = \"Y\"; },\n"
                                      "  { vendor = \"0781\"; product = \"5567\"; serial = \"S\"; }"),
                                    &p, &e);
        assert_true(r < 0);
        assert_null(p);
        assert_int_equal(e.n, 3);
        config_errors_done(&e);
}

static void test_good(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        int r = config_load_strings(
                "# comment\nusb = {\n  block = [ \"storage\", \"tethering\" ];\n  policy_ref = \"基本方針 6(3)①\";\n};\n",
                E("  { vendor = \"0781\"; product = \"5567\"; serial = \"4C53\\x01\"; label = \"総務課\";\n"
                  "    approved_by = \"情報セキュリティ管理者\"; approved_on = \"2026-04-01\"; expires = \"2027-03-31\"; ticket = \"SEC-1\"; },\n"
                  "  { vendor = \"046D\"; product = \"C52B\"; any_serial = true; approved_by = \"Y\"; }"),
                &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        assert_int_equal(r, 0);
        assert_int_equal(p->usb.block_mask,
                         USB_CATEGORY_BIT(USB_CATEGORY_STORAGE) | USB_CATEGORY_BIT(USB_CATEGORY_TETHERING));
        assert_string_equal(p->usb.policy_ref, "基本方針 6(3)①");
        assert_int_equal(p->usb.n_entries, 2);
        assert_int_equal(p->usb.entries[0].vendor, 0x0781);
        assert_int_equal(p->usb.entries[0].line, 2);
        assert_int_equal(p->usb.entries[0].serial_len, 5); /* \x01 is unescaped by libconfig */
        assert_memory_equal(p->usb.entries[0].serial, "4C53\x01", 5);
        assert_string_equal(p->usb.entries[0].label, "総務課");
        /* through 2027-03-31: until the local midnight that starts 2027-04-01 */
        assert_int_equal(p->usb.entries[0].expires_at, local_midnight(1806505200, 1806537600, 1806552000));
        assert_int_equal(p->usb.entries[1].vendor, 0x046d); /* upper case hex is fine */
        assert_true(p->usb.entries[1].any_serial);
        assert_int_equal(strlen(p->hash), 64);
        policy_unref(p);
}

/* serial_hex: an entry for a serial that events show escaped, copied from the
 * event's serial_hex; exactly the same entry as the serial with \x escapes
 * (its errors: tests/data/config/bad/allow-serial-hex-*.conf). */
static void test_serial_hex(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        int r;

        r = config_load_strings(
                "",
                E("  { vendor = \"0781\"; product = \"5567\"; serial_hex = \"e280ae41E281A642\"; approved_by = \"Y\"; }"),
                &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        assert_int_equal(r, 0);
        assert_int_equal(p->usb.entries[0].serial_len, 8);
        assert_memory_equal(p->usb.entries[0].serial,
                            "\xe2\x80\xae"
                            "A\xe2\x81\xa6"
                            "B",
                            8);
        assert_false(p->usb.entries[0].any_serial);
        policy_unref(p);
}

static bool has_note(const ConfigErrors *n, int line, const char *words) {
        for (size_t i = 0; i < n->n; i++)
                if (n->items[i].line == line && strstr(n->items[i].message, words))
                        return true;
        config_errors_print(n, stderr);
        return false;
}

/* Two entries for one device are two grants: loaded, the longer one applies,
 * and each later one is noted with both places. So are entries that expired
 * or expire within 30 days. */
static void test_duplicates_and_expiry_notes(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 }, n = { 0 };
        usec_t now = date_start_local(2026, 12, 3);
        int r = config_load_strings(
                "usb = { block = [ \"storage\" ]; };\n",
                E("  { vendor = \"0781\"; product = \"5567\"; serial = \"S1\"; approved_by = \"A\"; expires = \"2025-01-01\"; },\n"
                  "  { vendor = \"0781\"; product = \"5567\"; serial = \"S1\"; approved_by = \"B\"; expires = \"2027-06-30\"; },\n"
                  "  { vendor = \"0781\"; product = \"5567\"; serial = \"S2\"; approved_by = \"C\"; expires = \"2026-12-20\"; },\n"
                  "  { vendor = \"0781\"; product = \"5567\"; serial = \"\\xe2\\x80\\xaeAB\"; approved_by = \"Y\"; },\n"
                  "  { vendor = \"0781\"; product = \"5567\"; serial_hex = \"E280AE4142\"; approved_by = \"Y\"; },\n"
                  "  { vendor = \"046d\"; product = \"c52b\"; any_serial = true; approved_by = \"A\"; },\n"
                  "  { vendor = \"046d\"; product = \"c52b\"; any_serial = true; approved_by = \"B\"; expires = \"2027-01-31T17:00:00+09:00\"; }"),
                &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        assert_int_equal(r, 0);
        assert_int_equal(p->usb.n_entries, 7);

        config_policy_notes(p, now, &n);
        assert_true(has_note(&n, 2, "expired (expires = \"2025-01-01\")"));
        assert_true(has_note(&n, 3, "another allow entry for 0781:5567 serial 'S1' is at allow.d/00-test.conf:2"));
        assert_true(has_note(&n, 4, "expires within 30 days (expires = \"2026-12-20\")"));
        assert_true(has_note(&n, 6, "another allow entry for 0781:5567 serial"));
        assert_true(has_note(&n, 6, "allow.d/00-test.conf:5"));
        assert_true(has_note(&n, 8, "another allow entry for 046d:c52b any serial is at allow.d/00-test.conf:7"));
        assert_int_equal(n.n, 5);
        for (size_t i = 0; i < n.n; i++) /* the serial's hidden code point is shown escaped */
                assert_null(strstr(n.items[i].message, "\xe2\x80\xae"));
        config_errors_done(&n);

        /* The longest-lasting of the two entries for S1 decides. */
        UsbDevice d = { .vendor = 0x0781,
                        .product = 0x5567,
                        .has_serial = true,
                        .serial_raw = (char *) "S1",
                        .serial_raw_len = 2,
                        .categories = USB_CATEGORY_BIT(USB_CATEGORY_STORAGE) };
        Decision dec = policy_decide(p, &d, now);
        assert_true(dec.allow);
        assert_int_equal(dec.entry->line, 3);
        policy_unref(p);
}

static void test_drivers(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        assert_int_equal(config_load_strings("usb = { drivers = { storage = [ \"acme_sd\", \"vendor-reader\" ];\n"
                                             "  tethering = [ \"my_modem\" ]; mtp = [ ]; }; };\n",
                                             NULL, &p, &e),
                         0);
        assert_int_equal(p->usb.n_drivers, 3);
        assert_int_equal(usb_driver_category(p->usb.drivers, p->usb.n_drivers, "vendor_reader"), USB_CATEGORY_STORAGE);
        assert_int_equal(usb_driver_category(p->usb.drivers, p->usb.n_drivers, "my-modem"), USB_CATEGORY_TETHERING);
        assert_int_equal(usb_driver_category(p->usb.drivers, p->usb.n_drivers, "usb-storage"), USB_CATEGORY_STORAGE);
        policy_unref(p);
        config_errors_done(&e);
}

static void test_expires_date_time(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        int r = config_load_strings(
                "",
                E("  { vendor = \"0781\"; product = \"5567\"; serial = \"A\"; approved_by = \"Y\"; approved_on = \"2026-11-21\";\n"
                  "    expires = \"2026-11-21T18:00:00+09:00\"; },\n"
                  "  { vendor = \"0781\"; product = \"5567\"; serial = \"B\"; approved_by = \"Y\"; expires = \"2026-11-21T09:00:00.5Z\"; }"),
                &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        assert_int_equal(r, 0);
        /* 2026-11-21T09:00:00Z */
        assert_int_equal(p->usb.entries[0].expires_at, 1795251600ULL * USEC_PER_SEC);
        assert_int_equal(p->usb.entries[1].expires_at, 1795251600ULL * USEC_PER_SEC + 500000);
        assert_string_equal(p->usb.entries[0].expires, "2026-11-21T18:00:00+09:00");
        policy_unref(p);
}

static void test_defaults(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        assert_int_equal(config_load_strings("", NULL, &p, &e), 0);
        assert_int_equal(p->usb.block_mask, USB_CATEGORIES_BLOCKABLE);
        assert_string_equal(p->usb.policy_ref, "対策基準 第3-6");
        assert_int_equal(p->usb.repeat_window, 60 * USEC_PER_SEC);
        policy_unref(p);
        assert_int_equal(config_load_strings("usb = { repeat_window = \"90s\"; };\n", NULL, &p, &e), 0);
        assert_int_equal(p->usb.repeat_window, 90 * USEC_PER_SEC);
        policy_unref(p);
        assert_int_equal(config_load_strings("usb = { repeat_window = 0; };\n", NULL, &p, &e), 0);
        assert_int_equal(p->usb.repeat_window, 0);
        policy_unref(p);
}

/* ---- on disk ---- */

static char dir[] = "/tmp/mamori-test-config-XXXXXX";

static void write_file(const char *name, const char *text, mode_t mode) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        assert_int_equal(chmod(p, mode), 0);
}

static int load_dir(Policy **p, ConfigErrors *e) {
        char c[512], a[512];
        snprintf(c, sizeof c, "%s/mamori.conf", dir);
        snprintf(a, sizeof a, "%s/allow.d", dir);
        return config_load(c, a, p, e);
}

/* The load fails, with the first error on a file or directory whose name
 * ends in file, saying words. */
static void expect_refused(ConfigErrors *e, const char *file, const char *words) {
        Policy *p = NULL;
        assert_true(load_dir(&p, e) < 0);
        assert_null(p);
        assert_true(e->n >= 1);
        if (!endswith(e->items[0].file, file) || !strstr(e->items[0].message, words)) {
                config_errors_print(e, stderr);
                fail();
        }
        config_errors_done(e);
}

static void test_files(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        char hash[65];

        if (geteuid() != 0)
                skip(); /* mamorid trusts root's files only */
        assert_non_null(mkdtemp(dir));
        /* missing main file */
        assert_int_equal(load_dir(&p, &e), -ENOENT);
        assert_true(strstr(e.items[0].message, "cannot open") != NULL);
        config_errors_done(&e);

        write_file("mamori.conf", "usb = { };\n", 0644);
        assert_int_equal(load_dir(&p, &e), 0); /* no allow.d at all is fine */
        assert_int_equal(p->n_files, 1);
        strcpy(hash, p->hash);
        p = policy_unref(p);

        char d[512];
        snprintf(d, sizeof d, "%s/allow.d", dir);
        assert_int_equal(mkdir(d, 0755), 0);
        write_file("allow.d/20-b.conf",
                   E("  { vendor = \"0781\"; product = \"0002\"; serial = \"B\"; approved_by = \"Y\"; }"), 0644);
        write_file("allow.d/10-a.conf",
                   E("  { vendor = \"0781\"; product = \"0001\"; serial = \"A\"; approved_by = \"Y\"; }"), 0644);
        write_file("allow.d/.30-hidden.conf", "garbage", 0644);
        write_file("allow.d/40-backup.conf~", "garbage", 0644);
        write_file("allow.d/50-notes.txt", "garbage", 0644);
        assert_int_equal(load_dir(&p, &e), 0);
        assert_int_equal(p->n_files, 3);
        assert_int_equal(p->usb.n_entries, 2);
        assert_int_equal(p->usb.entries[0].product, 1); /* name order */
        assert_true(strstr(p->usb.entries[0].file, "10-a.conf") != NULL);
        assert_string_not_equal(p->hash, hash);
        p = policy_unref(p);

        /* a file anyone may write is refused */
        write_file("allow.d/60-open.conf", "allow = ();\n", 0666);
        assert_true(load_dir(&p, &e) < 0);
        assert_null(p);
        assert_true(strstr(e.items[0].message, "writable by everyone") != NULL);
        assert_true(strstr(e.items[0].file, "60-open.conf") != NULL);
        config_errors_done(&e);

        /* a file owned by another user is refused */
        snprintf(d, sizeof d, "%s/allow.d/60-open.conf", dir);
        assert_int_equal(chmod(d, 0644), 0);
        assert_int_equal(chown(d, 65534, 65534), 0);
        assert_true(load_dir(&p, &e) < 0);
        assert_true(strstr(e.items[0].message, "owned by uid 65534") != NULL);
        config_errors_done(&e);
        unlink(d);
        assert_int_equal(load_dir(&p, &e), 0);
        p = policy_unref(p);

        /* group-writable, a link, a FIFO: each refused on the file, at once */
        write_file("allow.d/60-group.conf", "allow = ();\n", 0664);
        expect_refused(&e, "60-group.conf", "writable by group");
        snprintf(d, sizeof d, "%s/allow.d/60-group.conf", dir);
        unlink(d);
        write_file("elsewhere.conf", "allow = ();\n", 0644);
        assert_int_equal(symlink("../elsewhere.conf", d), 0);
        expect_refused(&e, "60-group.conf", "symbolic link");
        unlink(d);
        assert_int_equal(mkfifo(d, 0600), 0);
        expect_refused(&e, "60-group.conf", "not a regular file but a FIFO");
        unlink(d);

        /* the directories: allow.d, and the one of mamori.conf */
        snprintf(d, sizeof d, "%s/allow.d", dir);
        assert_int_equal(chmod(d, 0777), 0);
        expect_refused(&e, "allow.d", "writable by everyone (mode 0777)");
        assert_int_equal(chmod(d, 0755), 0);
        assert_int_equal(chown(d, 1000, 1000), 0);
        expect_refused(&e, "allow.d", "owned by uid 1000");
        assert_int_equal(chown(d, 0, 0), 0);
        assert_int_equal(chmod(dir, 0770), 0);
        expect_refused(&e, dir, "writable by group");
        assert_int_equal(chmod(dir, 0700), 0);
        assert_int_equal(load_dir(&p, &e), 0);
        p = policy_unref(p);

        /* mamori.conf larger than the bound */
        {
                char big[512];
                int fd;
                snprintf(big, sizeof big, "%s/mamori.conf", dir);
                fd = open(big, O_WRONLY | O_APPEND);
                assert_true(fd >= 0);
                assert_int_equal(ftruncate(fd, 4 * 1024 * 1024 + 1), 0);
                close(fd);
                expect_refused(&e, "mamori.conf", "larger than");
        }
        {
                char cmd[600];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
                assert_int_equal(system(cmd), 0);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_all_errors_reported),
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_serial_hex),
                cmocka_unit_test(test_expires_date_time),
                cmocka_unit_test(test_duplicates_and_expiry_notes),
                cmocka_unit_test(test_drivers),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
