/* SPDX-License-Identifier: MIT */
/* mamori-block-access: udev's IMPORT{program} helper of 70-mamori.rules for
 * block devices ("add" and "change"). A block device on a USB device that
 * mamorid let in read-only (an allow entry's access = "read-only") is made
 * read-only here, before udisks or anyone else can open it for writing:
 *
 *   1. the USB device is found in DEVPATH (its interface's parent);
 *   2. its decision, <run dir>/readonly/<device> (common/readonly-decision.h),
 *      written by mamorid before it authorized the storage interface, is read
 *      as a trusted file (root's, no link, common/trusted-file.c);
 *   3. read-only: BLKROSET on DEVNAME (what `blockdev --setro` does), checked
 *      with BLKROGET, and udisks' mount options without rw are printed:
 *
 *        MAMORI_ACCESS=read-only
 *        UDISKS_MOUNT_OPTIONS_DEFAULTS=ro,nosuid,nodev
 *        UDISKS_MOUNT_OPTIONS_ALLOW=ro,nosuid,nodev,noexec,...
 *
 * Nothing is printed for a block device without a decision (not on USB, or
 * a device mamorid did not decide read-only), or with a decision left from an
 * earlier device on the same port (devnum differs). It fails closed: a
 * decision that exists but cannot be trusted or read counts as read-only, and
 * when read-only cannot be set the device is made unusable: its interface is
 * de-authorized (which removes the block device), udisks is told to ignore
 * it, and MAMORI_ACCESS=read-only-failed says so. It always exits 0: udev
 * drops the output of a program that fails.
 *
 * usage: mamori-block-access [--run-dir DIR] [--sys-root DIR]
 *   (environment from udev: ACTION, DEVPATH, DEVNAME, MAJOR, MINOR) */
#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config-paths.h"
#include "macro.h"
#include "readonly-decision.h"
#include "trusted-file.h"

#define MOUNT_DEFAULTS "ro,nosuid,nodev"
#define MOUNT_ALLOW "ro,nosuid,nodev,noexec,noatime,nodiratime,relatime,sync,dirsync,noload"

static const char *arg_run_dir = MAMORI_RUNTIME_DIR "/" READONLY_DECISION_SUBDIR;
static const char *arg_sys_root = "/sys";

/* The decision for device, or a negative errno: -ENOENT none; -ESTALE an
 * earlier device's; any other: there is one, but it cannot be trusted. */
static int read_decision(const char *device, const char *devpath_device, ReadonlyDecision *ret) {
        _cleanup_free_ char *why = NULL, *text = NULL, *devnum_path = NULL;
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        struct stat st;
        size_t len = 0;
        char buf[16];
        ssize_t l;
        unsigned devnum;
        int r;

        dfd = trust_open_dir(arg_run_dir, &why);
        if (dfd == -ENOENT)
                return -ENOENT;
        if (dfd < 0) {
                /* Whoever could write there could take a decision away: one
                 * that is there counts, as read-only. */
                if (lstat(arg_run_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
                        _cleanup_free_ char *p = NULL;
                        if (asprintf(&p, "%s/%s", arg_run_dir, device) < 0)
                                return -ENOMEM;
                        if (lstat(p, &st) < 0 && errno == ENOENT)
                                return -ENOENT;
                }
                fprintf(stderr, "mamori-block-access: %s: %s\n", arg_run_dir, strna(why));
                return -EPERM;
        }
        r = trust_read_at(dfd, device, READONLY_DECISION_MAX + 1, TRUST_SECRET, &text, &len, &why);
        if (r == -ENOENT)
                return -ENOENT;
        if (r < 0) {
                fprintf(stderr, "mamori-block-access: decision %s: %s\n", device, why ? why : strerror(-r));
                return r;
        }
        r = readonly_decision_parse(text, len, ret);
        if (r < 0) {
                fprintf(stderr, "mamori-block-access: decision %s is malformed\n", device);
                return r;
        }
        /* The device's devnum now: another device on the port has another one. */
        if (asprintf(&devnum_path, "%s%s/devnum", arg_sys_root, devpath_device) < 0)
                return -ENOMEM;
        fd = open(devnum_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || (l = read(fd, buf, sizeof buf - 1)) <= 0) {
                fprintf(stderr, "mamori-block-access: cannot read %s\n", devnum_path);
                return -EIO;
        }
        buf[l] = 0;
        if (sscanf(buf, "%u", &devnum) != 1) /* a kernel attribute: a number */
                return -EIO;
        if (devnum != ret->devnum)
                return -ESTALE;
        return 0;
}

/* BLKROSET on the node, checked: 0, or a negative errno. */
static int set_read_only(const char *node) {
        _cleanup_close_ int fd = -EBADF;
        const char *maj = getenv("MAJOR"), *min = getenv("MINOR");
        struct stat st;
        int one = 1, ro = 0;

        if (!node || !startswith(node, "/dev/") || strstr(node, "/../"))
                return -EINVAL;
        fd = open(node, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        /* The node is the device udev handles, not something put in its place. */
        if (maj && min && (strtoul(maj, NULL, 10) != major(st.st_rdev) || strtoul(min, NULL, 10) != minor(st.st_rdev)))
                return -EXDEV;
        if (ioctl(fd, BLKROSET, &one) < 0)
                return -errno;
        if (ioctl(fd, BLKROGET, &ro) < 0)
                return -errno;
        return ro == 1 ? 0 : -EIO;
}

/* Fail closed: the interface de-authorized, which takes its block devices away. */
static int deauthorize(const char *devpath_interface) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&p, "%s%s/authorized", arg_sys_root, devpath_interface) < 0)
                return -ENOMEM;
        fd = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        return write(fd, "0", 1) == 1 ? 0 : -errno;
}

static int parse_argv(int argc, char **argv) {
        static const struct option options[] = {
                { "run-dir", required_argument, NULL, 'r' },
                { "sys-root", required_argument, NULL, 's' },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'r':
                        arg_run_dir = optarg;
                        break;
                case 's':
                        arg_sys_root = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        return optind == argc ? 0 : -EINVAL;
}

int main(int argc, char **argv) {
        _cleanup_free_ char *device = NULL, *interface = NULL, *dp_device = NULL, *dp_interface = NULL;
        const char *devpath = getenv("DEVPATH"), *action = getenv("ACTION"), *node = getenv("DEVNAME");
        ReadonlyDecision dec = { 0 };
        const char *at;
        int r;

        if (parse_argv(argc, argv) < 0) {
                fprintf(stderr, "usage: mamori-block-access [--run-dir DIR] [--sys-root DIR]\n");
                return 0;
        }
        if (action && !streq(action, "add") && !streq(action, "change"))
                return 0;
        r = readonly_usb_of_devpath(devpath, &device, &interface);
        if (r < 0) {
                if (r != -ENXIO)
                        fprintf(stderr, "mamori-block-access: DEVPATH: %s\n", strerror(-r));
                return 0;
        }
        if (!devpath || !interface)
                return 0;
        /* The device's and the interface's own directories in DEVPATH. */
        at = strstr(devpath, interface);
        while (at && !(at[-1] == '/' && (at[strlen(interface)] == '/' || !at[strlen(interface)])))
                at = strstr(at + 1, interface);
        if (!at)
                return 0;
        dp_interface = strndup(devpath, (size_t) (at - devpath) + strlen(interface));
        dp_device = strndup(devpath, (size_t) (at - devpath) - 1);
        if (!dp_interface || !dp_device)
                return 0;

        r = read_decision(device, dp_device, &dec);
        if (r == -ENOENT || r == -ESTALE)
                return 0;
        if (r >= 0 && dec.access == ALLOW_ACCESS_READ_WRITE) {
                printf("MAMORI_ACCESS=read-write\n");
                return 0;
        }
        /* read-only, or a decision that cannot be trusted: read-only too */
        r = set_read_only(node);
        if (r >= 0) {
                printf("MAMORI_ACCESS=read-only\n"
                       "UDISKS_MOUNT_OPTIONS_DEFAULTS=" MOUNT_DEFAULTS "\n"
                       "UDISKS_MOUNT_OPTIONS_ALLOW=" MOUNT_ALLOW "\n");
                return 0;
        }
        fprintf(stderr, "mamori-block-access: cannot make %s of USB device %s read-only (%s): de-authorizing %s\n",
                strna(node), device, strerror(-r), interface);
        r = deauthorize(dp_interface);
        if (r < 0)
                fprintf(stderr, "mamori-block-access: cannot de-authorize %s: %s\n", interface, strerror(-r));
        printf("MAMORI_ACCESS=read-only-failed\n"
               "UDISKS_IGNORE=1\n"
               "UDISKS_AUTO=0\n"
               "UDISKS_MOUNT_OPTIONS_DEFAULTS=ro\n"
               "UDISKS_MOUNT_OPTIONS_ALLOW=ro\n");
        return 0;
}
