/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <libgen.h>
#include <stdarg.h>
#include <unistd.h>

#include "config-paths.h"
#include "macro.h"
#include "trusted-file.h"

static int trust_why(char **ret_why, int r, const char *format, ...) _printf_(3, 4);
static int trust_why(char **ret_why, int r, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        if (vasprintf(ret_why, format, ap) < 0) {
                *ret_why = NULL;
                r = -ENOMEM;
        }
        va_end(ap);
        return r;
}

static const char *trust_kind_of(mode_t m) {
        /* clang-format off */
        switch (m & S_IFMT) {
        case S_IFREG: return "a regular file";
        case S_IFDIR: return "a directory";
        case S_IFLNK: return "a symbolic link";
        case S_IFIFO: return "a FIFO";
        case S_IFSOCK: return "a socket";
        case S_IFCHR: return "a character device";
        case S_IFBLK: return "a block device";
        default: return "of an unknown type";
        }
        /* clang-format on */
}

/* The group mamori-uplink runs as (sysusers.d); MAMORI_UPLINK_GROUP names
 * another one for tests. */
static const char *trust_uplink_group_name(void) {
        const char *e = getenv("MAMORI_UPLINK_GROUP");
        return e && *e ? e : MAMORI_UPLINK_GROUP;
}

static bool trust_secret_group_ok(gid_t gid) {
        struct group grp, *found = NULL;
        char buf[4096];

        if (gid == 0 || gid == getegid())
                return true;
        /* Looked up only for a group-readable secret: /etc/group (sysusers). */
        if (getgrnam_r(trust_uplink_group_name(), &grp, buf, sizeof buf, &found) != 0 || !found)
                return false;
        return found->gr_gid == gid;
}

int trust_check_stat(const struct stat *st, bool dir, TrustFlags flags, char **ret_why) {
        unsigned mode;

        assert(st);
        assert(ret_why);

        mode = (unsigned) (st->st_mode & 07777);
        *ret_why = NULL;
        if (S_ISLNK(st->st_mode))
                return trust_why(ret_why, -ELOOP,
                                 "a symbolic link: mamorid follows no link to a file it trusts; put the %s itself there",
                                 dir ? "directory" : "file");
        if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
                return trust_why(ret_why, -EINVAL, "not a %s but %s", dir ? "directory" : "regular file",
                                 trust_kind_of(st->st_mode));
        if (st->st_uid != 0)
                return trust_why(ret_why, -EPERM, "owned by uid %u: it must belong to root (chown root:root)",
                                 (unsigned) st->st_uid);
        if (st->st_mode & S_IWOTH)
                return trust_why(ret_why, -EPERM,
                                 "writable by everyone (mode %04o): only root may be able to change it (chmod go-w)",
                                 mode);
        if (st->st_mode & S_IWGRP)
                return trust_why(ret_why, -EPERM,
                                 "writable by group (gid %u, mode %04o): only root may be able to change it (chmod g-w)",
                                 (unsigned) st->st_gid, mode);
        /* A secret: never other-readable; group-readable only by root's group,
         * the caller's own (mamori-uplink reads root:mamori-uplink 0640), or,
         * for mamorid and check-config, the uplink's group, which it is meant for. */
        if ((flags & TRUST_SECRET) &&
            ((st->st_mode & 0007) || ((st->st_mode & 0070) && !trust_secret_group_ok(st->st_gid))))
                return trust_why(ret_why, -EPERM,
                                 "readable by other users (mode %04o): it must be readable by root only (chmod 600), "
                                 "or by root and the group of mamori-uplink (chgrp %s, chmod 640), not gid %u",
                                 mode, trust_uplink_group_name(), (unsigned) st->st_gid);
        return 0;
}

int trust_open_dir(const char *path, char **ret_why) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        assert(path);
        assert(ret_why);

        *ret_why = NULL;
        /* O_PATH would not do: the directory is read (scandirat) through this fd. */
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                if (r == -ELOOP || r == -ENOTDIR) {
                        /* Say what is there instead. */
                        if (lstat(path, &st) >= 0)
                                return trust_check_stat(&st, true, 0, ret_why)
                                               ?: trust_why(ret_why, r, "cannot open: %s", strerror(-r));
                }
                return trust_why(ret_why, r, "cannot open: %s", strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                return trust_why(ret_why, r, "cannot stat: %s", strerror(-r));
        }
        r = trust_check_stat(&st, true, 0, ret_why);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

int trust_read_at(int dir_fd, const char *name, size_t max, TrustFlags flags, char **ret, size_t *ret_len,
                  char **ret_why) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0, size;
        int r;

        assert(name);
        assert(ret);
        assert(ret_why);

        *ret_why = NULL;
        /* Look before opening: a FIFO or a device is never even opened. */
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                r = negative_errno();
                return trust_why(ret_why, r, "cannot open: %s", strerror(-r));
        }
        r = trust_check_stat(&st, false, flags, ret_why);
        if (r < 0)
                return r;
        /* It may have been swapped since: O_NOFOLLOW refuses a link, O_NONBLOCK
         * keeps a FIFO from blocking, and fstat() below decides. */
        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
                r = negative_errno();
                if (r == -ELOOP)
                        return trust_why(
                                ret_why, r,
                                "a symbolic link: mamorid follows no link to a file it trusts; put the file itself there");
                return trust_why(ret_why, r, "cannot open: %s", strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                return trust_why(ret_why, r, "cannot stat: %s", strerror(-r));
        }
        r = trust_check_stat(&st, false, flags, ret_why);
        if (r < 0)
                return r;
        if ((uint64_t) st.st_size > max)
                return trust_why(ret_why, -EFBIG, "larger than %zu bytes", max);

        /* st_size is a hint: the file may grow while it is read. Read one byte
         * more than allowed to tell. */
        size = (size_t) st.st_size + 1;
        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t l;
                if (len == size) {
                        char *n;
                        if (size > max)
                                return trust_why(ret_why, -EFBIG, "larger than %zu bytes", max);
                        size = MIN(max + 1, size * 2);
                        n = realloc(buf, size + 1);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                }
                l = read(fd, buf + len, size - len);
                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        return trust_why(ret_why, r, "cannot read: %s", strerror(-r));
                }
                if (l == 0)
                        break;
                len += (size_t) l;
        }
        if (len > max)
                return trust_why(ret_why, -EFBIG, "larger than %zu bytes", max);
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int trust_read_file(const char *path, size_t max, TrustFlags flags, char **ret, size_t *ret_len, char **ret_why) {
        _cleanup_free_ char *d = NULL, *b = NULL, *w = NULL;
        _cleanup_close_ int dfd = -EBADF;
        const char *name, *dir;

        assert(path);
        assert(ret);
        assert(ret_why);

        *ret_why = NULL;
        d = strdup(path);
        b = strdup(path);
        if (!d || !b)
                return -ENOMEM;
        name = basename(b);
        if (isempty(name) || streq(name, "/") || streq(name, ".") || streq(name, ".."))
                return trust_why(ret_why, -EINVAL, "not a file name");
        dir = dirname(d);
        dfd = trust_open_dir(dir, &w);
        if (dfd < 0) {
                if (!w)
                        return dfd;
                return trust_why(ret_why, dfd, "directory %s: %s", dir, w);
        }
        return trust_read_at(dfd, name, max, flags, ret, ret_len, ret_why);
}

int trust_check_executable(const char *path, char **ret_why) {
        _cleanup_free_ char *real = NULL, *w = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        char *slash;
        int r;

        assert(ret_why);

        *ret_why = NULL;
        if (!path || path[0] != '/')
                return trust_why(ret_why, -EINVAL, "not an absolute path");
        real = realpath(path, NULL);
        if (!real) {
                r = negative_errno();
                if (r == -ENOENT || r == -ENOTDIR)
                        return r;
                return trust_why(ret_why, r, "cannot resolve: %s", strerror(-r));
        }
        /* realpath() leaves no link in it; O_NOFOLLOW refuses one swapped in since. */
        fd = open(real, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                if (r == -ENOENT || r == -ENOTDIR)
                        return r;
                return trust_why(ret_why, r, "%s: cannot open: %s", real, strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                return trust_why(ret_why, r, "%s: cannot stat: %s", real, strerror(-r));
        }
        r = trust_check_stat(&st, false, 0, &w);
        if (r < 0)
                return trust_why(ret_why, r, "%s%s: %s", streq(real, path) ? "" : "its target ", real, w);
        if (!(st.st_mode & S_IXUSR))
                return trust_why(ret_why, -EACCES, "%s%s: not executable (mode %04o)",
                                 streq(real, path) ? "" : "its target ", real, (unsigned) (st.st_mode & 07777));

        /* Every directory from the program's own up to /. */
        for (bool own = true; (slash = strrchr(real, '/')); own = false) {
                if (slash == real)
                        slash[1] = 0; /* "/" */
                else
                        *slash = 0;
                if (lstat(real, &st) < 0) {
                        r = negative_errno();
                        return trust_why(ret_why, r, "directory %s: cannot stat: %s", real, strerror(-r));
                }
                /* Above the program's own: a sticky directory of root's (/tmp). */
                if (!(!own && S_ISDIR(st.st_mode) && st.st_uid == 0 && (st.st_mode & S_ISVTX))) {
                        free(w);
                        w = NULL;
                        r = trust_check_stat(&st, true, 0, &w);
                        if (r < 0)
                                return trust_why(ret_why, r, "directory %s: %s", real, w);
                }
                if (streq(real, "/"))
                        break;
        }
        return 0;
}
