/* SPDX-License-Identifier: MIT */
/* The configuration's paths that only a bad file on disk reaches, each with
 * real files in a temporary /etc/mamori: a NUL byte, a socket, a device or
 * a directory where a .conf file belongs, a file too large, a list over its
 * cap, an allow.d that is not a directory and one that cannot be listed
 * (the disk's EIO, through a seccomp filter).
 * Every file must be root's (common/trusted-file.c): the tests need root. */
#include "unit.h"
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "config.h"
#include "log.h"

typedef struct Env {
        char dir[64];
        char conf[96];
        char allow[96];
        Policy *policy;
        ConfigErrors errors;
} Env;

static int setup(void **state) {
        Env *env = calloc(1, sizeof *env);
        strcpy(env->dir, "/tmp/mamori-config-faults-XXXXXX");
        assert_non_null(mkdtemp(env->dir));
        assert_int_equal(chmod(env->dir, 0755), 0);
        snprintf(env->conf, sizeof env->conf, "%s/mamori.conf", env->dir);
        snprintf(env->allow, sizeof env->allow, "%s/allow.d", env->dir);
        *state = env;
        return 0;
}

static int teardown(void **state) {
        Env *env = *state;
        char cmd[128];
        policy_unref(env->policy);
        config_errors_done(&env->errors);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", env->dir);
        assert_int_equal(system(cmd), 0);
        free(env);
        return 0;
}

static void need_root(void) {
        if (geteuid() != 0) {
                print_message("skipped: the policy files must be root's, so must the test be\n");
                skip();
        }
}

static void write_file(const char *path, const void *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        assert_int_equal(close(fd), 0);
}

static void write_text(const char *path, const char *text) {
        write_file(path, text, strlen(text));
}

static void make_allow_dir(Env *env) {
        assert_int_equal(mkdir(env->allow, 0755), 0);
}

static char *allow_file(Env *env, const char *name) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", env->allow, name) > 0);
        return p;
}

/* The load is refused, and one error names file:line and holds words. */
static void assert_refused(Env *env, const char *allow_dir, const char *file, int line, const char *words) {
        int r = config_load(env->conf, allow_dir, &env->policy, &env->errors);
        bool found = false;

        assert_int_equal(r, -EINVAL);
        assert_null(env->policy);
        for (size_t k = 0; k < env->errors.n; k++)
                if (streq(env->errors.items[k].file, file) && env->errors.items[k].line == line &&
                    strstr(env->errors.items[k].message, words))
                        found = true;
        if (!found) {
                fprintf(stderr, "wanted %s:%d: ...%s...; got:\n", file, line, words);
                config_errors_print(&env->errors, stderr);
                fail();
        }
}

static void assert_loads(Env *env) {
        int r = config_load(env->conf, NULL, &env->policy, &env->errors);
        if (r != 0)
                config_errors_print(&env->errors, stderr);
        assert_int_equal(r, 0);
        assert_non_null(env->policy);
        env->policy = policy_unref(env->policy);
}

#define GOOD_MAIN "usb = { block = [ \"storage\" ]; };\n"
#define GOOD_ALLOW "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"S1\"; approved_by = \"Yamada\"; } );\n"

/* ---- a NUL byte ---- */

/* libconfig stops at a NUL: the block list after it would count for nothing. */
static void test_nul_byte_main(void **state) {
        Env *env = *state;
        static const char text[] = "# mamori\nusb = {\n  # x\0\n  block = [ \"storage\" ];\n};\n";

        need_root();
        write_file(env->conf, text, sizeof text - 1);
        assert_refused(env, NULL, env->conf, 3, "contains a NUL byte (column 6)");
        assert_int_equal(env->errors.n, 1);
}

static void test_nul_byte_allow(void **state) {
        Env *env = *state;
        static const char text[] = "allow = (\n  { vendor = \"0781\"; product = \"5567\"; serial = \"S1\0X\"; approved_by = \"Y\"; }\n);\n";
        _cleanup_free_ char *p = NULL;

        need_root();
        write_text(env->conf, GOOD_MAIN);
        make_allow_dir(env);
        p = allow_file(env, "10-nul.conf");
        write_file(p, text, sizeof text - 1);
        assert_refused(env, NULL, p, 2, "contains a NUL byte (column 52)");
}

/* ---- what is not a regular file ---- */

/* A character and a block device (as a crash or someone with a shell may
 * leave): refused by their type, never opened. (A FIFO: test-config.c.) */
static void test_devices_in_allow_dir(void **state) {
        Env *env = *state;
        _cleanup_free_ char *chr = NULL, *blk = NULL;

        need_root();
        write_text(env->conf, GOOD_MAIN);
        make_allow_dir(env);
        chr = allow_file(env, "10-chr.conf");
        if (mknod(chr, S_IFCHR | 0644, makedev(1, 3)) < 0) {
                print_message("skipped: mknod: %s\n", strerror(errno));
                skip();
        }
        assert_refused(env, NULL, chr, 0, "not a regular file but a character device");
        assert_int_equal(unlink(chr), 0);
        config_errors_done(&env->errors);
        blk = allow_file(env, "10-blk.conf");
        assert_int_equal(mknod(blk, S_IFBLK | 0644, makedev(7, 0)), 0);
        assert_refused(env, NULL, blk, 0, "not a regular file but a block device");
}

static void test_socket_in_allow_dir(void **state) {
        Env *env = *state;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *p = NULL;
        int fd;

        need_root();
        write_text(env->conf, GOOD_MAIN);
        make_allow_dir(env);
        p = allow_file(env, "20-sock.conf");
        assert_true(strlen(p) < sizeof sa.sun_path);
        strcpy(sa.sun_path, p);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_refused(env, NULL, p, 0, "not a regular file but a socket");
        close(fd);
}

static void test_main_is_a_directory(void **state) {
        Env *env = *state;

        need_root();
        assert_int_equal(mkdir(env->conf, 0755), 0);
        assert_refused(env, NULL, env->conf, 0, "not a regular file but a directory");
}

/* ---- a file too large ---- */

static void test_allow_file_too_large(void **state) {
        Env *env = *state;
        _cleanup_free_ char *p = NULL, *good = NULL;
        int fd;

        need_root();
        write_text(env->conf, GOOD_MAIN);
        make_allow_dir(env);
        good = allow_file(env, "00-good.conf");
        write_text(good, GOOD_ALLOW);
        assert_loads(env);

        /* One byte past the 4 MiB bound: a comment, so only its size is wrong. */
        p = allow_file(env, "10-big.conf");
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "#", 1), 1);
        assert_int_equal(ftruncate(fd, 4 * 1024 * 1024 + 1), 0);
        close(fd);
        assert_refused(env, NULL, p, 0, "larger than 4194304 bytes");
        assert_int_equal(env->errors.n, 1);
}

/* ---- a list over its cap ---- */

static char *units_list(unsigned n) {
        char *s = strdup("antivirus = {\n  engine = \"none\";\n  units = [");
        for (unsigned i = 0; i < n; i++) {
                char *t;
                assert_true(asprintf(&t, "%s%s \"edr-%u\"", s, i ? "," : "", i) > 0);
                free(s);
                s = t;
        }
        char *t;
        assert_true(asprintf(&t, "%s ];\n};\n", s) > 0);
        free(s);
        return t;
}

static void test_list_over_cap(void **state) {
        Env *env = *state;
        _cleanup_free_ char *at_cap = units_list(32), *over = units_list(33);

        need_root();
        write_text(env->conf, at_cap);
        assert_loads(env);
        write_text(env->conf, over);
        assert_refused(env, NULL, env->conf, 3, "'units' has 33 items, at most 32 are allowed");
}

/* ---- an allow.d that cannot be read ---- */

/* Root reads any directory whatever its mode: a file where allow.d belongs
 * is what really fails to open. */
static void test_allow_dir_is_a_file(void **state) {
        Env *env = *state;

        need_root();
        write_text(env->conf, GOOD_MAIN);
        write_text(env->allow, GOOD_ALLOW);
        assert_refused(env, NULL, env->allow, 0, "not a directory but a regular file");
}

/* A directory that opens but cannot be listed. Root lists any directory
 * whatever its mode, and glibc takes ENOENT from a removed one for its end,
 * so the disk's answer is made: in a child, a seccomp filter makes every
 * getdents64() fail with EIO (the load lists no other directory). */
#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static void test_allow_dir_unlistable(void **state) {
#ifdef TEST_AUDIT_ARCH
        Env *env = *state;
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getdents64, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EIO),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof filter / sizeof filter[0], .filter = filter };
        _cleanup_free_ char *good = NULL;
        int status;
        pid_t pid;

        need_root();
        write_text(env->conf, GOOD_MAIN);
        make_allow_dir(env);
        good = allow_file(env, "00-good.conf");
        write_text(good, GOOD_ALLOW);
        assert_loads(env);

        fflush(NULL); /* the child exits through exit(): nothing buffered twice */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                ConfigErrors e = { 0 };
                Policy *p = NULL;
                bool found = false;
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
                        _exit(2);
                if (config_load(env->conf, NULL, &p, &e) != -EINVAL || p)
                        _exit(3);
                for (size_t k = 0; k < e.n; k++)
                        if (streq(e.items[k].file, env->allow) && e.items[k].line == 0 &&
                            streq(e.items[k].message, "cannot read directory: Input/output error"))
                                found = true;
                if (!found)
                        config_errors_print(&e, stderr);
                config_errors_done(&e);
                /* exit(), not _exit(): a coverage build writes the child's counters at exit. */
                exit(found ? 0 : 4);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
#else
        print_message("skipped: no seccomp filter for this architecture\n");
        skip();
#endif
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_nul_byte_main, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nul_byte_allow, setup, teardown),
                cmocka_unit_test_setup_teardown(test_devices_in_allow_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_socket_in_allow_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_main_is_a_directory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_allow_file_too_large, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_over_cap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_allow_dir_is_a_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_allow_dir_unlistable, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
