/* SPDX-License-Identifier: MIT */
/* agent/devices/mmc.c, its pure part: which cards are decided, and a card's
 * snapshot from what sysfs says (hostile CIDs refused, text sanitized). */
#include "unit.h"
#include <string.h>

#include "mmc.h"

static void test_kind(void **state) {
        assert_int_equal(mmc_card_kind("SD"), MMC_CARD_DECIDED);
        assert_int_equal(mmc_card_kind("SDcombo"), MMC_CARD_DECIDED);
        assert_int_equal(mmc_card_kind("SDIO"), MMC_CARD_SDIO);
        assert_int_equal(mmc_card_kind("MMC"), MMC_CARD_BUILTIN);
        /* fail closed: what is not known to be SDIO or the board's eMMC is decided */
        assert_int_equal(mmc_card_kind(NULL), MMC_CARD_DECIDED);
        assert_int_equal(mmc_card_kind(""), MMC_CARD_DECIDED);
        assert_int_equal(mmc_card_kind("sdio"), MMC_CARD_DECIDED);
        assert_int_equal(mmc_card_kind("SDIO\n"), MMC_CARD_DECIDED);
        assert_int_equal(mmc_card_kind("MMC "), MMC_CARD_DECIDED);
}

static void test_snapshot(void **state) {
        /* QEMU's sd-card, as the guest kernel prints it (tests/vm/e2e_mmc.py) */
        MmcCardAttrs a = { .type = "SD", .id = { "0x0000aa", "0x5859", "QEMU!", "0xdeadbeef", "02/2006" } };
        RemovableDevice *d = NULL;

        assert_int_equal(mmc_card_snapshot("/sys/devices/x/mmc0:4567", "mmc0:4567", &a, &d), 0);
        assert_int_equal(d->bus, DEVICE_BUS_MMC);
        assert_int_equal(d->category, DEVICE_CATEGORY_MMC);
        for (size_t k = 0; k < 5; k++)
                assert_string_equal(d->id[k], a.id[k]);
        assert_string_equal(d->vendor, "SD");
        assert_string_equal(d->model, "QEMU!");
        assert_null(d->driver);
        removable_device_free(d);
}

static void test_snapshot_hostile(void **state) {
        char overlong[5000];
        RemovableDevice *d = NULL;

        memset(overlong, 'A', sizeof overlong - 1);
        overlong[sizeof overlong - 1] = 0;
        MmcCardAttrs a = {
                .type = "SD\x1b[2J",
                .id = { "0x0000aa; rm", "0x58", overlong, "0xdeadbeef\n0x0", "13/2006" },
                .driver = "mmcblk\x07",
        };
        assert_int_equal(mmc_card_snapshot(NULL, "mmc0:0001", &a, &d), 0);
        for (size_t k = 0; k < 5; k++)
                assert_null(d->id[k]);
        /* people still see what the card said, bounded and printable */
        assert_non_null(d->model);
        assert_true(strlen(d->model) <= 256 * 4);
        assert_null(strchr(d->vendor, '\x1b'));
        assert_null(strchr(d->driver, '\x07'));
        removable_device_free(d);

        /* invalid UTF-8 and a quote in the name: refused as identity */
        MmcCardAttrs b = { .type = "SD", .id = { "0x0000aa", "0x5859", "QE\"MU", "0xdeadbeef", "02/2006" } };
        assert_int_equal(mmc_card_snapshot(NULL, "mmc0:0002", &b, &d), 0);
        assert_null(d->id[2]);
        assert_non_null(d->id[0]);
        removable_device_free(d);
        b.id[2] = "\xff\xfe";
        assert_int_equal(mmc_card_snapshot(NULL, "mmc0:0003", &b, &d), 0);
        assert_null(d->id[2]);
        removable_device_free(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kind),
                cmocka_unit_test(test_snapshot),
                cmocka_unit_test(test_snapshot_hostile),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
