/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <sys/sysmacros.h>

#include "mountinfo.h"

/* A stick (8:16) with two partitions (8:17, 8:18), the root disk (254:1),
 * and lines the kernel would never write. */
static const char info[] = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
                           "40 22 8:17 / /media/user/STICK rw,nosuid,nodev shared:30 - vfat /dev/sdb1 rw,fmask=0022\n"
                           "41 22 8:18 / /mnt/a\\040b\\134c rw master:2 - ext4 /dev/sdb2 rw\n"
                           "42 22 8:17 /sub /srv/bind rw - vfat /dev/sdb1 rw\n" /* a bind mount of the same fs */
                           "43 22 8:16 / /mnt/disk rw -\n"                      /* no fstype after "-" */
                           "44 22 8:16 / /mnt/../etc rw - ext4 /dev/sdb rw\n"   /* not a plain path */
                           "45 22 8:16 / relative rw - ext4 /dev/sdb rw\n"
                           "46 22 8:16 / /mnt/bad\\08 rw - ext4 /dev/sdb rw\n" /* not an octal escape */
                           "47 22 8:16 / /mnt/nul\\000 rw - ext4 /dev/sdb rw\n"
                           "x 22 8:16 / /mnt/x rw - ext4 /dev/sdb rw\n"
                           "48 22 8:99999999999 / /mnt/y rw - ext4 /dev/sdb rw\n"
                           "49 22 8:16 / /mnt/no-separator rw shared:1\n"
                           "\n"
                           "50 22 8:16 / /mnt/whole rw - ext4 /dev/sdb rw"; /* no newline at the end */

static void test_find(void **state) {
        dev_t devs[] = { makedev(8, 16), makedev(8, 17), makedev(8, 18) };
        MountList l;

        assert_int_equal(mountinfo_find(info, sizeof info - 1, devs, 3, &l), 0);
        assert_int_equal(l.n, 4);
        assert_string_equal(l.paths[0], "/media/user/STICK");
        assert_string_equal(l.paths[1], "/mnt/a b\\c");
        assert_string_equal(l.paths[2], "/srv/bind");
        assert_string_equal(l.paths[3], "/mnt/whole");
        assert_int_equal(l.skipped, 8);
        mount_list_done(&l);

        /* the root disk only */
        devs[0] = makedev(254, 1);
        assert_int_equal(mountinfo_find(info, sizeof info - 1, devs, 1, &l), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.paths[0], "/");
        mount_list_done(&l);

        /* nothing */
        assert_int_equal(mountinfo_find("", 0, devs, 1, &l), 0);
        assert_int_equal(l.n, 0);
        mount_list_done(&l);
        assert_int_equal(mountinfo_find(info, sizeof info - 1, devs, 0, &l), 0);
        assert_int_equal(l.n, 0);
        mount_list_done(&l);
}

/* issue 14: whether each mount's file system is writable, from its super
 * options ("rw" as a whole option; "rwx" or "norw" are not it), and taken
 * as writable when the line does not say. */
static void test_read_write(void **state) {
        static const char ro_info[] = "40 22 8:17 / /media/a ro,nosuid shared:30 - vfat /dev/sdb1 ro,fmask=0022\n"
                                      "41 22 8:17 / /media/b ro - vfat /dev/sdb1 fmask=0022,rw\n" /* per mount ro, fs rw */
                                      "42 22 8:17 / /media/c rw - vfat /dev/sdb1 ro\n" /* per mount rw, fs ro */
                                      "43 22 8:17 / /media/d rw - vfat /dev/sdb1 rwx,norw,errors=rw\n"
                                      "44 22 8:17 / /media/e rw - vfat /dev/sdb1\n" /* no super options */
                                      "45 22 8:17 / /media/f rw - vfat /dev/sdb1 ro,rw\n";
        static const bool want[] = { false, true, false, false, true, true };
        dev_t dev = makedev(8, 17);
        MountList l;

        assert_int_equal(mountinfo_find(ro_info, sizeof ro_info - 1, &dev, 1, &l), 0);
        assert_int_equal(l.n, ELEMENTSOF(want));
        for (size_t i = 0; i < l.n; i++) {
                if (l.rw[i] != want[i])
                        fprintf(stderr, "%s: rw %d\n", l.paths[i], l.rw[i]);
                assert_int_equal(l.rw[i], want[i]);
        }
        mount_list_done(&l);
        (void) state;
}

static void test_bounds(void **state) {
        dev_t dev = makedev(8, 1);
        size_t n = MOUNTINFO_MOUNTS_MAX + 5, len = 0;
        char *buf = malloc(n * 64), *line;
        MountList l;

        assert_non_null(buf);
        for (size_t i = 0; i < n; i++)
                len += (size_t) sprintf(buf + len, "%zu 1 8:1 / /m/%zu rw - ext4 /dev/sda1 rw\n", i + 2, i);
        assert_int_equal(mountinfo_find(buf, len, &dev, 1, &l), 0);
        assert_int_equal(l.n, MOUNTINFO_MOUNTS_MAX);
        assert_int_equal(l.dropped, 5);
        mount_list_done(&l);
        free(buf);

        /* a line longer than the limit is skipped, the next one still read */
        line = malloc(MOUNTINFO_LINE_MAX + 200);
        assert_non_null(line);
        len = (size_t) sprintf(line, "2 1 8:1 / /");
        memset(line + len, 'a', MOUNTINFO_LINE_MAX);
        len += MOUNTINFO_LINE_MAX;
        len += (size_t) sprintf(line + len, " rw - ext4 x rw\n3 1 8:1 / /ok rw - ext4 x rw\n");
        assert_int_equal(mountinfo_find(line, len, &dev, 1, &l), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.paths[0], "/ok");
        assert_int_equal(l.skipped, 1);
        mount_list_done(&l);

        /* a NUL inside a line */
        assert_int_equal(mountinfo_find("2 1 8:1 / /a\0b rw - ext4 x rw\n", 30, &dev, 1, &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(l.skipped, 1);
        mount_list_done(&l);
        free(line);
}

static void unit_name_is(const char *path, const char *want) {
        char *name = NULL;
        assert_int_equal(mount_unit_name_from_path(path, &name), 0);
        assert_string_equal(name, want);
        free(name);
}

static void test_unit_name(void **state) {
        char *name = NULL;
        char longpath[300];

        /* as `systemd-escape --path --suffix=mount` */
        unit_name_is("/", "-.mount");
        unit_name_is("/media/user/STICK", "media-user-STICK.mount");
        unit_name_is("/mnt/a b\\c", "mnt-a\\x20b\\x5cc.mount");
        unit_name_is("//mnt//x/", "mnt-x.mount");
        unit_name_is("/mnt/my-stick", "mnt-my\\x2dstick.mount");
        unit_name_is("/.hidden/x.y", "\\x2ehidden-x.y.mount");
        unit_name_is("/media/\xe3\x83\x86", "media-\\xe3\\x83\\x86.mount");
        assert_int_equal(mount_unit_name_from_path("relative", &name), -EINVAL);
        assert_int_equal(mount_unit_name_from_path("/a/../b", &name), -EINVAL);
        assert_int_equal(mount_unit_name_from_path("/a/./b", &name), -EINVAL);
        memset(longpath, 'a', sizeof longpath);
        longpath[0] = '/';
        longpath[sizeof longpath - 1] = 0;
        assert_int_equal(mount_unit_name_from_path(longpath, &name), -ENAMETOOLONG);
        assert_null(name);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_find),
                cmocka_unit_test(test_read_write),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_unit_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
