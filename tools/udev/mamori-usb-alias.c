/* SPDX-License-Identifier: MIT */
/* mamori-usb-alias: udev's IMPORT{program} helper of 70-mamori.rules. Prints
 * which category of driver (agent/usb-drivers.c's built-in table) the running
 * kernel would bind to a USB interface's modalias, so that the rule never
 * authorizes by class an interface that usb-storage, uas, a ums-* driver or a
 * card reader driver takes by vendor:product:
 *
 *   MAMORI_MODULE_ALIASES=1          (0: no alias index; class only)
 *   MAMORI_DRIVER_CATEGORY=storage   (only when one is found)
 *   MAMORI_DRIVER=usb_storage
 *
 * It reads the kernel's module indexes through libkmod and nothing else, writes
 * nothing, and always exits 0: a failure leaves the rule deciding by class. The
 * admin's additions (usb.drivers in mamori.conf) are mamorid's to apply.
 *
 * usage: mamori-usb-alias [--modules-dir DIR] MODALIAS */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "usb-drivers.h"
#include "usb-modalias.h"

int main(int argc, char **argv) {
        _cleanup_(usb_alias_resolver_freep) UsbAliasResolver *r = NULL;
        _cleanup_free_ char *modules = NULL;
        const char *dir = NULL, *modalias, *name = NULL;
        size_t len = 0;
        UsbCategory c;
        int i = 1;

        /* Only errors, to stderr: udev logs a helper's stderr at debug level. */
        log_open(LOG_TARGET_STDERR);
        log_set_max_level(LOG_ERR);

        if (argc >= 3 && streq(argv[1], "--modules-dir")) {
                dir = argv[2];
                i = 3;
        }
        if (argc != i + 1) {
                fprintf(stderr, "usage: %s [--modules-dir DIR] MODALIAS\n", argv[0]);
                return 0;
        }
        modalias = argv[i];

        if (usb_alias_resolver_new(dir, &r) < 0 || !usb_alias_resolver_available(r)) {
                puts("MAMORI_MODULE_ALIASES=0");
                return 0;
        }
        if (usb_alias_resolver_lookup(r, modalias, &modules) < 0) {
                puts("MAMORI_MODULE_ALIASES=0");
                return 0;
        }
        puts("MAMORI_MODULE_ALIASES=1");
        c = usb_driver_list_category(NULL, 0, modules, &name, &len);
        if (c != USB_CATEGORY_OTHER)
                printf("MAMORI_DRIVER_CATEGORY=%s\nMAMORI_DRIVER=%.*s\n", usb_category_to_string(c), (int) len, name);
        return 0;
}
