/* SPDX-License-Identifier: MIT */
/* mamori-usb-alias: udev's IMPORT{program} helper of 70-mamori.rules. Prints
 * which category of driver (common/usb-drivers.c's built-in table) the running
 * kernel would bind to a USB interface's modalias, so that the rule never
 * authorizes by class an interface that usb-storage, uas, a ums-* driver or a
 * card reader driver takes by vendor:product:
 *
 *   MAMORI_MODULE_ALIASES=1          (0: no alias index; class only)
 *   MAMORI_DRIVER_CATEGORY=storage   (only when one is found)
 *   MAMORI_DRIVER=usb_storage
 *   MAMORI_ALTERNATE_CLASS=08        (an alternate setting of the interface is of
 *                                     a class the rule leaves to mamorid)
 *
 * The alternate settings come from the device's raw descriptors (sysfs shows
 * only the current setting): a "keyboard" whose interface can be switched to
 * mass storage through usbfs is not one for the rule to bring up. The
 * interface is the one in DEVPATH (udev gives IMPORT{program} the device's
 * properties as its environment); --sys-root DIR is for tests.
 *
 * It reads the kernel's module aliases (common/usb-modalias.c) and nothing else, writes
 * nothing, and always exits 0: a failure leaves the rule deciding by class. The
 * admin's additions (usb.drivers in mamori.conf) are mamorid's to apply.
 *
 * usage: mamori-usb-alias [--modules-dir DIR] [--sys-root DIR] MODALIAS */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "usb-descriptors.h"
#include "usb-drivers.h"
#include "usb-modalias.h"

/* The classes 70-mamori.rules leaves to mamorid (keep in step with it). */
static bool class_left_to_mamorid(uint8_t c) {
        return c == 0x08 || c == 0x06 || c == 0xff || c == 0xe0 || c == 0xef || c == 0x02 || c == 0x0a;
}

static int read_uint(const char *path, int base, unsigned long *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        char buf[32];
        char *end;
        ssize_t l;
        if (fd < 0)
                return -errno;
        l = read(fd, buf, sizeof buf - 1);
        if (l <= 0)
                return -EIO;
        buf[l] = 0;
        errno = 0;
        *ret = strtoul(buf, &end, base);
        if (errno || end == buf || (*end && *end != '\n'))
                return -EINVAL;
        return 0;
}

/* Prints MAMORI_ALTERNATE_CLASS= when a setting of the interface in DEVPATH,
 * in the device's active configuration, is of a class left to mamorid. */
static void print_alternates(const char *root) {
        _cleanup_free_ char *ifnum = NULL, *cfg = NULL, *desc = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ UsbDescInterface *ifs = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *devpath = getenv("DEVPATH");
        unsigned long number = 0, config = 0; /* read_uint() sets them when it returns 0 */
        size_t len = 0, max;
        int n;

        if (!devpath || strstr(devpath, "/.."))
                return;
        if (asprintf(&ifnum, "%s/sys%s/bInterfaceNumber", root, devpath) < 0 ||
            asprintf(&cfg, "%s/sys%s/../bConfigurationValue", root, devpath) < 0 ||
            asprintf(&desc, "%s/sys%s/../descriptors", root, devpath) < 0)
                return;
        if (read_uint(ifnum, 16, &number) < 0 || read_uint(cfg, 10, &config) < 0)
                return;
        fd = open(desc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || usb_descriptors_read(fd, USB_DESC_KERNEL_MAX, &buf, &len) < 0)
                return;
        max = len / 9 + 1;
        ifs = calloc(max, sizeof *ifs);
        if (!ifs)
                return;
        n = usb_descriptors_parse(buf, len, NULL, ifs, max);
        for (int k = 0; k < n; k++)
                if (usb_desc_interface_in_configuration(&ifs[k], config) && ifs[k].number == number &&
                    class_left_to_mamorid(ifs[k].cls)) {
                        printf("MAMORI_ALTERNATE_CLASS=%02x\n", ifs[k].cls);
                        return;
                }
}

int main(int argc, char **argv) {
        _cleanup_(usb_alias_resolver_freep) UsbAliasResolver *r = NULL;
        _cleanup_free_ char *modules = NULL;
        const char *dir = NULL, *root = "", *modalias, *name = NULL;
        size_t len = 0;
        UsbCategory c;
        int i = 1;

        /* Only errors, to stderr: udev logs a helper's stderr at debug level. */
        log_open(LOG_TARGET_STDERR);
        log_set_max_level(LOG_ERR);

        if (argc >= i + 2 && streq(argv[i], "--modules-dir")) {
                dir = argv[i + 1];
                i += 2;
        }
        if (argc >= i + 2 && streq(argv[i], "--sys-root")) {
                root = argv[i + 1];
                i += 2;
        }
        if (argc != i + 1) {
                fprintf(stderr, "usage: %s [--modules-dir DIR] [--sys-root DIR] MODALIAS\n", argv[0]);
                return 0;
        }
        modalias = argv[i];

        print_alternates(root);

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
