/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-snapshot.h"
#include "macro.h"
#include "trusted-file.h"

#define MAGIC "mamori-last-good 1\n"

void config_snapshot_done(ConfigSnapshot *s) {
        assert(s);

        for (size_t i = 0; i < s->n; i++) {
                free(s->paths[i]);
                free(s->texts[i]);
        }
        free(s->paths);
        free(s->texts);
        free(s->lens);
        free(s->allow_dir);
        *s = (ConfigSnapshot){ 0 };
}

int config_snapshot_format(const Policy *p, usec_t saved, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f;

        assert(ret);
        assert(ret_len);

        if (!p || p->failsafe || p->n_files == 0 || !p->texts || !p->allow_dir)
                return -EINVAL;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, MAGIC "hash %s\nsaved %" PRIu64 "\nallow_dir %zu\n%s\n", p->hash, (uint64_t) saved,
                strlen(p->allow_dir), p->allow_dir);
        for (size_t i = 0; i < p->n_files; i++) {
                fprintf(f, "file %zu %zu\n%s\n", strlen(p->files[i]), p->text_lens[i], p->files[i]);
                fwrite(p->texts[i], 1, p->text_lens[i], f);
                fputc('\n', f);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* ---- parsing (hostile input: the state directory is only as good as the disk) ---- */

typedef struct Cursor {
        const char *p, *end;
} Cursor;

/* One header line "<word> <numbers...>\n": returns how many numbers it read. */
static int config_snapshot_header(Cursor *c, const char *word, uint64_t *a, uint64_t *b) {
        const char *nl = memchr(c->p, '\n', (size_t) (c->end - c->p));
        char line[128], *q, *e;
        size_t l;
        int n = 0;

        if (!nl || (l = (size_t) (nl - c->p)) >= sizeof line)
                return -EINVAL;
        memcpy(line, c->p, l);
        line[l] = 0;
        if (strncmp(line, word, strlen(word)) != 0 || line[strlen(word)] != ' ')
                return -EINVAL;
        q = line + strlen(word) + 1;
        for (uint64_t *out = a; out && *q; out = (out == a ? b : NULL)) {
                if (*q < '0' || *q > '9')
                        return -EINVAL;
                errno = 0;
                *out = strtoull(q, &e, 10);
                if (errno != 0 || (*e != ' ' && *e != 0))
                        return -EINVAL;
                n++;
                q = *e ? e + 1 : e;
        }
        if (*q)
                return -EINVAL;
        c->p = nl + 1;
        return n;
}

/* len raw bytes, then "\n"; a NUL-terminated copy. */
static int config_snapshot_blob(Cursor *c, uint64_t len, bool nul_ok, char **ret) {
        char *s;
        if (len > (uint64_t) (c->end - c->p) || (uint64_t) (c->end - c->p) - len < 1 || c->p[len] != '\n')
                return -EINVAL;
        if (!nul_ok && memchr(c->p, 0, len))
                return -EINVAL;
        s = malloc(len + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, c->p, len);
        s[len] = 0;
        c->p += len + 1;
        *ret = s;
        return 0;
}

int config_snapshot_parse(const char *buf, size_t len, ConfigSnapshot *ret) {
        _cleanup_(config_snapshot_done) ConfigSnapshot s = { 0 };
        Cursor c = { buf, buf + len };
        uint64_t a = 0, b = 0;
        int r;

        assert(buf || len == 0);
        assert(ret);

        if (len > CONFIG_SNAPSHOT_MAX || len < strlen(MAGIC) || memcmp(buf, MAGIC, strlen(MAGIC)) != 0)
                return -EINVAL;
        c.p += strlen(MAGIC);
        {
                const char *nl = memchr(c.p, '\n', (size_t) (c.end - c.p));
                if (!nl || nl - c.p != 5 + 64 || memcmp(c.p, "hash ", 5) != 0)
                        return -EINVAL;
                for (int i = 0; i < 64; i++) {
                        char h = c.p[5 + i];
                        if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f')))
                                return -EINVAL;
                }
                memcpy(s.hash, c.p + 5, 64);
                s.hash[64] = 0;
                c.p = nl + 1;
        }
        if (config_snapshot_header(&c, "saved", &a, NULL) != 1)
                return -EINVAL;
        s.saved = a;
        if (config_snapshot_header(&c, "allow_dir", &a, NULL) != 1 || a == 0 || a > 4096)
                return -EINVAL;
        r = config_snapshot_blob(&c, a, false, &s.allow_dir);
        if (r < 0)
                return r;
        while (c.p < c.end) {
                size_t n = s.n;
                void *np, *nt, *nl;
                if (n >= CONFIG_SNAPSHOT_FILES_MAX)
                        return -EINVAL;
                if (config_snapshot_header(&c, "file", &a, &b) != 2 || a == 0 || a > 4096 || b > CONFIG_SNAPSHOT_MAX)
                        return -EINVAL;
                np = reallocarray(s.paths, n + 1, sizeof *s.paths);
                if (np)
                        s.paths = np;
                nt = reallocarray(s.texts, n + 1, sizeof *s.texts);
                if (nt)
                        s.texts = nt;
                nl = reallocarray(s.lens, n + 1, sizeof *s.lens);
                if (nl)
                        s.lens = nl;
                if (!np || !nt || !nl)
                        return -ENOMEM;
                s.paths[n] = s.texts[n] = NULL;
                s.lens[n] = (size_t) b;
                s.n++;
                r = config_snapshot_blob(&c, a, false, &s.paths[n]);
                if (r < 0)
                        return r;
                /* libconfig reads a NUL-terminated text: a NUL inside was never in a file it read */
                r = config_snapshot_blob(&c, b, false, &s.texts[n]);
                if (r < 0)
                        return r;
        }
        if (s.n == 0)
                return -EINVAL;
        *ret = TAKE_STRUCT(s);
        return 0;
}

/* ---- files ---- */

int config_snapshot_save(const Policy *p, const char *path) {
        _cleanup_free_ char *buf = NULL, *tmp = NULL, *dir = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF;
        size_t len = 0, done = 0;
        int r;

        assert(path);

        r = config_snapshot_format(p, now_usec(CLOCK_REALTIME), &buf, &len);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.tmp", path) < 0 || !(dir = strdup(path)))
                return -ENOMEM;
        (void) unlink(tmp); /* whatever was there (a link, a FIFO) is not written through */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        while (done < len) {
                ssize_t l = write(fd, buf + done, len - done);
                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        (void) unlink(tmp);
                        return r;
                }
                done += (size_t) l;
        }
        if (fsync(fd) < 0 || rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

int config_snapshot_load(const char *path, Policy **ret, usec_t *ret_saved, char **ret_why) {
        _cleanup_(config_snapshot_done) ConfigSnapshot s = { 0 };
        _cleanup_(policy_unrefp) Policy *p = NULL;
        _cleanup_free_ char *buf = NULL, *why = NULL;
        ConfigErrors errs = { 0 };
        size_t len = 0;
        int r;

        assert(path);
        assert(ret);
        assert(ret_saved);
        assert(ret_why);

        r = trust_read_file(path, CONFIG_SNAPSHOT_MAX, TRUST_SECRET, &buf, &len, &why);
        if (r == -ENOENT)
                return r;
        if (r < 0) {
                *ret_why = why ? TAKE_PTR(why) : strdup("cannot be read");
                return r == -ENOMEM ? r : -EINVAL;
        }
        r = config_snapshot_parse(buf, len, &s);
        if (r < 0) {
                *ret_why = strdup(r == -ENOMEM ? "out of memory" : "damaged (not a mamori snapshot)");
                return r == -ENOMEM ? r : -EINVAL;
        }
        r = config_load_texts(s.paths, s.texts, s.lens, s.n, &p, &errs);
        if (r < 0) {
                _cleanup_free_ char *sum = config_errors_summary(&errs);
                config_errors_done(&errs);
                if (asprintf(ret_why, "its files do not load: %s", sum ? sum : "?") < 0)
                        *ret_why = NULL;
                return r == -ENOMEM ? r : -EINVAL;
        }
        config_errors_done(&errs);
        if (!streq(p->hash, s.hash)) {
                *ret_why = strdup("damaged (its files do not give the recorded hash)");
                return -EINVAL;
        }
        p->config_path = strdup(s.paths[0]);
        p->allow_dir = TAKE_PTR(s.allow_dir);
        if (!p->config_path)
                return -ENOMEM;
        *ret_saved = s.saved;
        *ret = TAKE_PTR(p);
        return 0;
}
