/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "mountinfo.h"

void mount_list_done(MountList *l) {
        assert(l);

        for (size_t i = 0; i < l->n; i++)
                free(l->paths[i]);
        free(l->paths);
        free(l->rw);
        *l = (MountList){ 0 };
}

/* The next space-separated field of [*p, end); NULL when there is none. */
static const char *mountinfo_next_field(const char **p, const char *end, size_t *ret_len) {
        const char *s = *p, *e;
        while (s < end && *s == ' ')
                s++;
        if (s >= end)
                return NULL;
        e = s;
        while (e < end && *e != ' ')
                e++;
        *ret_len = (size_t) (e - s);
        *p = e;
        return s;
}

/* A decimal number of at most 10 digits that fits in unsigned. */
static int mountinfo_parse_uint(const char *s, size_t len, unsigned *ret) {
        unsigned long long v = 0;
        if (len == 0 || len > 10)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        if (v > UINT32_MAX)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* The kernel escapes space, tab, newline and backslash as \ooo
 * (seq_path's mangle); any other backslash, a NUL or a control character
 * makes the field bad (-EINVAL). */
static int mountinfo_unescape_path(const char *s, size_t len, char **ret) {
        _cleanup_free_ char *out = malloc(len + 1);
        size_t o = 0;
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c == '\\') {
                        unsigned v = 0;
                        if (len - i < 4)
                                return -EINVAL;
                        for (size_t k = 1; k <= 3; k++) {
                                if (s[i + k] < '0' || s[i + k] > '7')
                                        return -EINVAL;
                                v = v * 8 + (unsigned) (s[i + k] - '0');
                        }
                        if (v == 0 || v > 0xff)
                                return -EINVAL;
                        c = (unsigned char) v;
                        i += 3;
                } else if (c < 0x20 || c == 0x7f)
                        return -EINVAL;
                out[o++] = (char) c;
        }
        out[o] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

/* Absolute, and no "." or ".." component: a path that cannot mean another. */
static bool mountinfo_path_is_plain(const char *p) {
        if (p[0] != '/')
                return false;
        for (const char *c = p; *c;) {
                const char *e;
                size_t n;
                while (*c == '/')
                        c++;
                e = strchrnul(c, '/');
                n = (size_t) (e - c);
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c = e;
        }
        return true;
}

/* "id parent major:minor root mountpoint options [optional...] - fstype source superopts":
 * the device and the mount point, from a line that has all of that. */
/* Is "rw" one of the comma-separated options in [s, s + len)? */
static bool mountinfo_has_rw(const char *s, size_t len) {
        for (size_t i = 0; i < len;) {
                const char *c = memchr(s + i, ',', len - i);
                size_t n = c ? (size_t) (c - s) - i : len - i;
                if (n == 2 && s[i] == 'r' && s[i + 1] == 'w')
                        return true;
                i += n + 1;
        }
        return false;
}

static int mountinfo_parse_line(const char *s, const char *end, dev_t *ret_dev, const char **ret_mp, size_t *ret_mp_len,
                                bool *ret_rw) {
        const char *p = s, *f, *colon, *mp = NULL;
        unsigned maj = 0, min = 0, n;
        size_t len, mp_len = 0;
        bool sep = false;

        for (unsigned field = 0; (f = mountinfo_next_field(&p, end, &len)); field++) {
                switch (field) {
                case 0:
                case 1:
                        if (mountinfo_parse_uint(f, len, &n) < 0)
                                return -EINVAL;
                        break;
                case 2:
                        colon = memchr(f, ':', len);
                        if (!colon || mountinfo_parse_uint(f, (size_t) (colon - f), &maj) < 0 ||
                            mountinfo_parse_uint(colon + 1, len - (size_t) (colon - f) - 1, &min) < 0)
                                return -EINVAL;
                        break;
                case 3:
                        break;
                case 4:
                        mp = f;
                        mp_len = len;
                        break;
                default:
                        if (field >= 6 && len == 1 && f[0] == '-')
                                sep = true;
                        break;
                }
                if (sep)
                        break;
        }
        /* the separator and the file system type after it */
        if (!sep || !mountinfo_next_field(&p, end, &len))
                return -EINVAL;
        /* the source, then the super options: read-only or not is the file system's */
        if (mountinfo_next_field(&p, end, &len) && (f = mountinfo_next_field(&p, end, &len)))
                *ret_rw = mountinfo_has_rw(f, len);
        else
                *ret_rw = true; /* not said: writable, for whoever asks whether it is */
        if (maj > 0xfff || min > 0xfffff)
                return -EINVAL;
        *ret_dev = makedev(maj, min);
        *ret_mp = mp;
        *ret_mp_len = mp_len;
        return 0;
}

int mountinfo_find(const char *buf, size_t len, const dev_t *devs, size_t n_devs, MountList *ret) {
        MountList l = { 0 };
        const char *end;

        assert(buf || len == 0);
        assert(devs || n_devs == 0);
        assert(ret);

        end = buf + len;
        for (const char *s = buf; s < end;) {
                const char *nl = memchr(s, '\n', (size_t) (end - s)), *mp;
                const char *e = nl ? nl : end;
                size_t mp_len;
                bool match = false, rw = true;
                dev_t dev;

                if (e == s) {
                        s = e + 1;
                        continue;
                }
                if ((size_t) (e - s) > MOUNTINFO_LINE_MAX || memchr(s, 0, (size_t) (e - s)) ||
                    mountinfo_parse_line(s, e, &dev, &mp, &mp_len, &rw) < 0) {
                        l.skipped++;
                        s = e + 1;
                        continue;
                }
                for (size_t i = 0; i < n_devs && !match; i++)
                        match = devs[i] == dev;
                if (match) {
                        _cleanup_free_ char *path = NULL;
                        int r = mountinfo_unescape_path(mp, mp_len, &path);
                        if (r == -ENOMEM) {
                                mount_list_done(&l);
                                return r;
                        }
                        if (r < 0 || !mountinfo_path_is_plain(path))
                                l.skipped++;
                        else if (l.n >= MOUNTINFO_MOUNTS_MAX)
                                l.dropped++;
                        else {
                                char **a = realloc(l.paths, (l.n + 1) * sizeof *a);
                                bool *w;
                                if (!a) {
                                        mount_list_done(&l);
                                        return -ENOMEM;
                                }
                                l.paths = a;
                                w = realloc(l.rw, (l.n + 1) * sizeof *w);
                                if (!w) {
                                        mount_list_done(&l);
                                        return -ENOMEM;
                                }
                                l.rw = w;
                                l.rw[l.n] = rw;
                                l.paths[l.n++] = TAKE_PTR(path);
                        }
                }
                s = e + 1;
        }
        *ret = l;
        return 0;
}

int mount_unit_name_from_path(const char *path, char **ret) {
        static const char hex[] = "0123456789abcdef";
        _cleanup_free_ char *out = NULL;
        size_t o = 0, len;
        const char *p;

        assert(ret);

        if (!path || !mountinfo_path_is_plain(path))
                return -EINVAL;
        len = strlen(path);
        /* every byte at most "\xNN", and ".mount" */
        out = malloc(len * 4 + sizeof ".mount");
        if (!out)
                return -ENOMEM;
        p = path;
        while (*p == '/')
                p++;
        if (!*p)
                out[o++] = '-'; /* "/" is "-.mount" */
        for (bool slash = false; *p; p++) {
                unsigned char c = (unsigned char) *p;
                if (c == '/') {
                        slash = true; /* runs of '/' are one, a trailing one none */
                        continue;
                }
                if (slash) {
                        out[o++] = '-';
                        slash = false;
                }
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
                    c == '_' || (c == '.' && o > 0))
                        out[o++] = (char) c;
                else {
                        out[o++] = '\\';
                        out[o++] = 'x';
                        out[o++] = hex[c >> 4];
                        out[o++] = hex[c & 15];
                }
        }
        memcpy(out + o, ".mount", sizeof ".mount");
        if (o + strlen(".mount") >= 256)
                return -ENAMETOOLONG;
        *ret = TAKE_PTR(out);
        return 0;
}
