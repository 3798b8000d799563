/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include <grp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "macro.h"
#include "trusted-file.h"

/* Another gid than root's and ours. */
#define SOME_GID 4242

static struct stat file_stat(uid_t uid, gid_t gid, mode_t mode) {
        return (struct stat){ .st_uid = uid, .st_gid = gid, .st_mode = S_IFREG | mode };
}

/* 0, or the error with its why checked to hold `want`. */
static int check(uid_t uid, gid_t gid, mode_t mode, TrustFlags flags, const char *want) {
        struct stat st = file_stat(uid, gid, mode);
        _cleanup_free_ char *why = NULL;
        int r = trust_check_stat(&st, false, flags, &why);

        if (r == 0)
                assert_null(why);
        else {
                assert_non_null(why);
                if (want && !strstr(why, want))
                        fail_msg("why \"%s\" does not say \"%s\"", why, want);
        }
        return r;
}

static void test_plain_file(void **state) {
        assert_int_equal(check(0, 0, 0644, 0, NULL), 0);
        assert_int_equal(check(0, SOME_GID, 0644, 0, NULL), 0);
        assert_int_equal(check(1000, 0, 0644, 0, "owned by uid 1000"), -EPERM);
        assert_int_equal(check(0, 0, 0664, 0, "writable by group"), -EPERM);
        assert_int_equal(check(0, 0, 0646, 0, "writable by everyone"), -EPERM);
}

static void test_secret_root_only(void **state) {
        assert_int_equal(check(0, 0, 0600, TRUST_SECRET, NULL), 0);
        assert_int_equal(check(0, 0, 0400, TRUST_SECRET, NULL), 0);
        assert_int_equal(check(0, 0, 0640, TRUST_SECRET, NULL), 0);        /* root's group */
        assert_int_equal(check(0, SOME_GID, 0600, TRUST_SECRET, NULL), 0); /* the group cannot read */
        assert_int_equal(check(0, 0, 0604, TRUST_SECRET, "readable by other users (mode 0604)"), -EPERM);
        assert_int_equal(check(0, 0, 0644, TRUST_SECRET, "readable by other users"), -EPERM);
        assert_int_equal(check(0, SOME_GID, 0640, TRUST_SECRET, "chgrp mamori-uplink"), -EPERM);
        assert_int_equal(check(1000, 0, 0600, TRUST_SECRET, "owned by uid 1000"), -EPERM);
}

/* mamori-uplink reads its key and token as root:mamori-uplink 0640: the
 * caller's own effective gid may read a secret; still never others, and never
 * a group that may write. */
static void test_secret_own_group(void **state) {
        gid_t saved = getegid(), own = saved;

        /* As root the own gid is 0, which proves nothing: take another one. */
        if (geteuid() == 0) {
                assert_int_equal(setegid(SOME_GID + 1), 0);
                own = SOME_GID + 1;
        }
        assert_int_equal(check(0, own, 0640, TRUST_SECRET, NULL), 0);
        assert_int_equal(check(0, own, 0440, TRUST_SECRET, NULL), 0);
        assert_int_equal(check(0, own, 0644, TRUST_SECRET, "readable by other users (mode 0644)"), -EPERM);
        assert_int_equal(check(0, own, 0641, TRUST_SECRET, "readable by other users"), -EPERM);
        assert_int_equal(check(0, own, 0660, TRUST_SECRET, "writable by group"), -EPERM);
        assert_int_equal(check(0, SOME_GID, 0640, TRUST_SECRET, "readable by other users"), -EPERM);
        assert_int_equal(check(1000, own, 0640, TRUST_SECRET, "owned by uid 1000"), -EPERM);
        if (geteuid() == 0)
                assert_int_equal(setegid(saved), 0);
}

/* mamorid checks the key it never reads as the uplink will: root:<the
 * uplink's group> 0640 is right for it too, any other group is not. */
static void test_secret_uplink_group(void **state) {
        _cleanup_free_ char *name = NULL;
        struct group *g;
        gid_t gid = 0;

        setgrent();
        while ((g = getgrent()))
                if (g->gr_gid != 0 && g->gr_gid != getegid() && g->gr_gid != SOME_GID) {
                        name = strdup(g->gr_name);
                        gid = g->gr_gid;
                        break;
                }
        endgrent();
        if (!name) {
                skip(); /* no other group on this machine */
                return;
        }
        assert_int_equal(setenv("MAMORI_UPLINK_GROUP", name, 1), 0);
        assert_int_equal(check(0, gid, 0640, TRUST_SECRET, NULL), 0);
        assert_int_equal(check(0, gid, 0644, TRUST_SECRET, "readable by other users"), -EPERM);
        assert_int_equal(check(0, SOME_GID, 0640, TRUST_SECRET, name), -EPERM);
        assert_int_equal(setenv("MAMORI_UPLINK_GROUP", "no-such-group-of-mamori", 1), 0);
        assert_int_equal(check(0, gid, 0640, TRUST_SECRET, "chgrp no-such-group-of-mamori"), -EPERM);
        assert_int_equal(unsetenv("MAMORI_UPLINK_GROUP"), 0);
}

static void test_not_a_file(void **state) {
        _cleanup_free_ char *why = NULL;
        struct stat st = { .st_mode = S_IFLNK | 0777 };

        assert_int_equal(trust_check_stat(&st, false, TRUST_SECRET, &why), -ELOOP);
        why = mfree(why);
        st = (struct stat){ .st_mode = S_IFDIR | 0755 };
        assert_int_equal(trust_check_stat(&st, false, 0, &why), -EINVAL);
        why = mfree(why);
        assert_int_equal(trust_check_stat(&st, true, 0, &why), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_file),       cmocka_unit_test(test_secret_root_only),
                cmocka_unit_test(test_secret_own_group), cmocka_unit_test(test_secret_uplink_group),
                cmocka_unit_test(test_not_a_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
