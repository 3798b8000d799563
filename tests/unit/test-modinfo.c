/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <string.h>

#include "usb-modinfo.h"

#define REC(s) s "\0"

static const char modinfo[] = REC("usbcore.alias=usb:v*p*d*dc09dsc*dp*ic*isc*ip*in*")
        REC("usbcore.file=drivers/usb/core/usbcore")
        REC("usb_storage.alias=usb:v04B8p0602d0110dc*dsc*dp*ic*isc*ip*in*")
        REC("usb_storage.alias=usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*")
        REC("ext4.alias=fs-ext4")
        REC("bad name.alias=usb:v*")
        REC("spaced.alias=usb:v* x")
        REC("empty.alias=usb:")
        "rtsx_usb.alias=usb:v0BDAp0129d*dc*dsc*dp*ic*isc*ip*in*"; /* no NUL at the end */

static void test_parse(void **state) {
        UsbBuiltinAliases a;
        assert_int_equal(usb_modinfo_parse_usb_aliases(modinfo, sizeof modinfo - 1, &a), 0);
        assert_int_equal(a.n, 4);
        assert_string_equal(a.items[0].module, "usbcore");
        assert_string_equal(a.items[1].module, "usb_storage");
        assert_string_equal(a.items[1].pattern, "usb:v04B8p0602d0110dc*dsc*dp*ic*isc*ip*in*");
        assert_string_equal(a.items[3].module, "rtsx_usb");
        usb_builtin_aliases_done(&a);

        assert_int_equal(usb_modinfo_parse_usb_aliases("", 0, &a), 0);
        assert_int_equal(a.n, 0);
        usb_builtin_aliases_done(&a);
}

static void test_match(void **state) {
        UsbBuiltinAliases a;
        char *list = NULL;
        assert_int_equal(usb_modinfo_parse_usb_aliases(modinfo, sizeof modinfo - 1, &a), 0);

        /* the printer that usb-storage's table takes, after libkmod found usblp */
        list = strdup("usblp");
        assert_int_equal(usb_builtin_aliases_match(&a, "usb:v04B8p0602d0110dc00dsc00dp00ic07isc01ip02in00", &list), 0);
        assert_string_equal(list, "usblp usb_storage");
        free(list);

        /* another revision: not */
        list = strdup("usblp");
        assert_int_equal(usb_builtin_aliases_match(&a, "usb:v04B8p0602d0200dc00dsc00dp00ic07isc01ip02in00", &list), 0);
        assert_string_equal(list, "usblp");
        free(list);

        /* nothing before; a module already named is not named twice */
        list = NULL;
        assert_int_equal(usb_builtin_aliases_match(&a, "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00", &list), 0);
        assert_string_equal(list, "usb_storage");
        assert_int_equal(usb_builtin_aliases_match(&a, "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00", &list), 0);
        assert_string_equal(list, "usb_storage");
        free(list);

        list = strdup("");
        assert_int_equal(usb_builtin_aliases_match(&a, "usb:v046DpC31Cd6400dc00dsc00dp00ic03isc01ip01in00", &list), 0);
        assert_string_equal(list, "");
        free(list);
        usb_builtin_aliases_done(&a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_match),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
