/* SPDX-License-Identifier: MIT */
/* av-media.h: the mount of a path and whether its device is removable. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av-media.h"
#include "macro.h"

void av_mount_done(AvMount *m) {
        if (!m)
                return;
        free(m->mount_point);
        free(m->fstype);
        *m = (AvMount){ 0 };
}

/* mountinfo's octal escapes (\040 for a space, \011, \012, \134); anything
 * else after a backslash makes the field bad. */
static char *av_media_unescape(const char *s, size_t n) {
        _cleanup_free_ char *out = malloc(n + 1);
        size_t o = 0;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] != '\\') {
                        out[o++] = s[i];
                        continue;
                }
                if (n - i < 4 || s[i + 1] < '0' || s[i + 1] > '3' || s[i + 2] < '0' || s[i + 2] > '7' ||
                    s[i + 3] < '0' || s[i + 3] > '7')
                        return NULL;
                out[o] = (char) ((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
                if (out[o] == 0)
                        return NULL;
                o++;
                i += 3;
        }
        out[o] = 0;
        return TAKE_PTR(out);
}

/* Is mount point m a whole-component prefix of path p? */
static bool av_media_under(const char *m, const char *p) {
        size_t l = strlen(m);

        if (streq(m, "/"))
                return true;
        return strncmp(m, p, l) == 0 && (p[l] == 0 || p[l] == '/');
}

/* Splits line[0..n) at spaces into at most max fields; returns the count. */
static size_t av_media_fields(const char *line, size_t n, const char *f[], size_t fl[], size_t max) {
        size_t k = 0, i = 0;

        while (i < n && k < max) {
                size_t s = i;
                while (i < n && line[i] != ' ')
                        i++;
                f[k] = line + s;
                fl[k] = i - s;
                k++;
                i++; /* the space */
        }
        return k;
}

int av_media_mount_of(const char *buf, size_t len, const char *path, AvMount *ret) {
        AvMount best = { 0 };
        size_t best_len = 0;
        bool found = false;

        assert(buf || len == 0);
        assert(path);
        assert(ret);

        if (path[0] != '/')
                return -ENOENT;
        for (size_t pos = 0; pos < len;) {
                const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - line) : len - pos, k, l, sep;
                const char *f[12];
                size_t fl[12];
                unsigned ma, mi;
                char num[32];
                _cleanup_free_ char *mp = NULL;

                pos += n + 1;
                k = av_media_fields(line, n, f, fl, ELEMENTSOF(f));
                /* id parent maj:min root mount-point options [optional...] - fstype source super */
                if (k < 7 || fl[2] >= sizeof num)
                        continue;
                memcpy(num, f[2], fl[2]);
                num[fl[2]] = 0;
                if (sscanf(num, "%u:%u", &ma, &mi) != 2 || strspn(num, "0123456789:") != fl[2])
                        continue;
                mp = av_media_unescape(f[4], fl[4]);
                if (!mp || mp[0] != '/')
                        continue;
                if (!av_media_under(mp, path))
                        continue;
                l = strlen(mp);
                /* A later mount on the same point hides the earlier one: >=. */
                if (found && l < best_len)
                        continue;
                for (sep = 6; sep < k && !(fl[sep] == 1 && f[sep][0] == '-'); sep++)
                        ;
                av_mount_done(&best);
                best.major = ma;
                best.minor = mi;
                best.mount_point = TAKE_PTR(mp);
                if (sep + 1 < k)
                        best.fstype = strndup(f[sep + 1], fl[sep + 1]);
                best_len = l;
                found = true;
        }
        if (!found)
                return -ENOENT;
        *ret = best;
        return 0;
}

const char *av_media_bus_of(const char *syspath) {
        const char *base;

        if (!syspath)
                return NULL;
        base = strrchr(syspath, '/');
        base = base ? base + 1 : syspath;
        if (strstr(syspath, "/usb"))
                return "usb";
        if (strstr(syspath, "/mmc_host/") || strncmp(base, "mmcblk", 6) == 0)
                return "mmc";
        for (const char *p = strstr(syspath, "/fw"); p; p = strstr(p + 1, "/fw"))
                if (p[3] >= '0' && p[3] <= '9')
                        return "firewire";
        if (strncmp(base, "sr", 2) == 0 && base[2] >= '0' && base[2] <= '9')
                return "optical";
        return NULL;
}
