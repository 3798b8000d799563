/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "av-media.h"
#include "macro.h"

static const char MI[] = "21 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
                         "22 21 0:5 / /dev rw - devtmpfs udev rw\n"
                         "90 21 8:17 / /media/taro/USB\\040STICK rw,nosuid shared:7 - vfat /dev/sdb1 rw\n"
                         "91 90 259:3 / /media/taro/USB\\040STICK/inner rw - ext4 /dev/nvme0n1p3 rw\n"
                         "garbage line\n"
                         "92 21 x:1 / /home rw - ext4 /dev/x rw\n"
                         "93 21 8:33 / /home/bad\\999 rw - ext4 /dev/sdc1 rw\n"
                         "94 21 259:4 / /home rw - ext4 /dev/nvme0n1p4 rw\n"
                         "95 21 259:5 / /home rw - ext4 /dev/nvme0n1p5 rw"; /* no final newline */

static void check(const char *path, int want, unsigned major, unsigned minor, const char *mp, const char *fstype) {
        AvMount m = { 0 };
        int r = av_media_mount_of(MI, sizeof MI - 1, path, &m);

        assert_int_equal(r, want);
        if (r < 0)
                return;
        assert_int_equal(m.major, major);
        assert_int_equal(m.minor, minor);
        assert_string_equal(m.mount_point, mp);
        if (fstype)
                assert_string_equal(m.fstype, fstype);
        av_mount_done(&m);
}

static void test_mount_of(void **state) {
        check("/media/taro/USB STICK/setup.exe", 0, 8, 17, "/media/taro/USB STICK", "vfat");
        check("/media/taro/USB STICK", 0, 8, 17, "/media/taro/USB STICK", "vfat");
        check("/media/taro/USB STICKY/x", 0, 259, 2, "/", "ext4"); /* a whole component only */
        check("/media/taro/USB STICK/inner/a", 0, 259, 3, "/media/taro/USB STICK/inner", "ext4");
        /* The last of two mounts on one point hides the first; bad lines are skipped. */
        check("/home/taro/x", 0, 259, 5, "/home", "ext4");
        check("/home/bad\\999/x", 0, 259, 5, "/home", NULL);
        check("/dev/sda", 0, 0, 5, "/dev", "devtmpfs");
        check("relative/x", -ENOENT, 0, 0, NULL, NULL);
        {
                AvMount m = { 0 };
                assert_int_equal(av_media_mount_of("", 0, "/x", &m), -ENOENT);
                assert_int_equal(av_media_mount_of(MI, 14, "/x", &m), -ENOENT); /* cut before the mount point */
        }
}

static void test_bus_of(void **state) {
        assert_string_equal(
                av_media_bus_of(
                        "../../devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1"),
                "usb");
        assert_string_equal(
                av_media_bus_of("../../devices/pci0000:00/0000:00:14.0/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0/mmcblk0p1"),
                "mmc");
        assert_string_equal(av_media_bus_of(
                                    "../../devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0/block/sr0"),
                            "optical");
        assert_string_equal(av_media_bus_of("../../devices/pci0000:00/0000:03:00.0/fw1/fw1.0/host9/block/sdd"),
                            "firewire");
        assert_null(av_media_bus_of("../../devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1/nvme0n1p2"));
        assert_null(av_media_bus_of("../../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda"));
        assert_null(av_media_bus_of("../../devices/virtual/block/dm-0"));
        assert_null(av_media_bus_of("../../devices/virtual/block/srx"));
        assert_null(av_media_bus_of(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mount_of),
                cmocka_unit_test(test_bus_of),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
