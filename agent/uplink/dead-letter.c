/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dead-letter.h"
#include "json.h"
#include "text.h"

struct DeadLetter {
        int state_fd, dead_fd, resend_fd; /* O_DIRECTORY|O_NOFOLLOW */
        char *dead_path;
        uint64_t max_bytes;
        uint64_t batches, bytes; /* the last rescan */
};

/* ---- the format (pure) ---- */

void dead_letter_info_done(DeadLetterInfo *i) {
        if (!i)
                return;
        free(i->url);
        free(i->reason);
        for (size_t k = 0; k < i->n_answers; k++)
                free(i->answers[k].response);
        *i = (DeadLetterInfo){};
}

static void dead_letter_info_donep(DeadLetterInfo *i) {
        dead_letter_info_done(i);
}

static void dead_letter_make_room(DeadLetterInfo *i) {
        if (i->n_answers < DEAD_LETTER_ANSWERS_MAX)
                return;
        free(i->answers[0].response);
        memmove(i->answers, i->answers + 1, (DEAD_LETTER_ANSWERS_MAX - 1) * sizeof i->answers[0]);
        i->n_answers--;
}

int dead_letter_info_add_answer(DeadLetterInfo *i, usec_t when, long status, const char *response, size_t len) {
        char *text;

        assert(i);
        text = text_sanitize(response ? response : "", response ? len : 0, DEAD_LETTER_RESPONSE_MAX, NULL);
        if (!text)
                return -ENOMEM;
        dead_letter_make_room(i);
        i->answers[i->n_answers] = (DeadLetterAnswer){ .status = status, .response = text };
        format_rfc3339(i->answers[i->n_answers].time, when);
        i->n_answers++;
        return 0;
}

void dead_letter_name(uint64_t first_seq, uint64_t last_seq, char buf[static DEAD_LETTER_NAME_LEN + 1]) {
        snprintf(buf, DEAD_LETTER_NAME_LEN + 1, "%020" PRIu64 "-%020" PRIu64 ".ndjson", first_seq, last_seq);
}

static bool dead_letter_digits(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;
        for (size_t k = 0; k < n; k++) {
                if (s[k] < '0' || s[k] > '9')
                        return false;
                if (v > (UINT64_MAX - (uint64_t) (s[k] - '0')) / 10)
                        return false;
                v = v * 10 + (uint64_t) (s[k] - '0');
        }
        *ret = v;
        return true;
}

bool dead_letter_name_parse(const char *name, uint64_t *ret_first, uint64_t *ret_last) {
        uint64_t first, last;

        if (!name || strlen(name) != DEAD_LETTER_NAME_LEN || name[20] != '-' || !streq(name + 41, ".ndjson"))
                return false;
        if (!dead_letter_digits(name, 20, &first) || !dead_letter_digits(name + 21, 20, &last) || first > last)
                return false;
        if (ret_first)
                *ret_first = first;
        if (ret_last)
                *ret_last = last;
        return true;
}

static void dead_letter_write_answer(JsonWriter *w, const DeadLetterAnswer *a) {
        json_kv_string(w, "time", a->time);
        json_kv_int(w, "status", a->status);
        json_kv_string(w, "response", a->response);
}

int dead_letter_format_header(const DeadLetterInfo *i, char **ret, size_t *ret_len) {
        JsonWriter w = JSON_WRITER_INIT;
        char *s;

        assert(i && ret && ret_len);
        if (i->n_answers == 0 || i->n_answers > DEAD_LETTER_ANSWERS_MAX)
                return -EINVAL;
        json_object_begin(&w);
        json_key(&w, "mamori_dead_letter");
        json_object_begin(&w);
        dead_letter_write_answer(&w, &i->answers[i->n_answers - 1]);
        json_kv_string(&w, "url", i->url);
        if (i->reason)
                json_kv_string(&w, "reason", i->reason);
        json_kv_uint(&w, "first_seq", i->first_seq);
        json_kv_uint(&w, "last_seq", i->last_seq);
        json_kv_uint(&w, "count", i->count);
        json_key(&w, "answers");
        json_array_begin(&w);
        for (size_t k = 0; k < i->n_answers; k++) {
                json_object_begin(&w);
                dead_letter_write_answer(&w, &i->answers[k]);
                json_object_end(&w);
        }
        json_array_end(&w);
        json_object_end(&w);
        json_object_end(&w);
        s = json_steal(&w, ret_len);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* ---- the directories ---- */

/* dir (under parent_fd): made 0700 when missing; a symlink or a non-directory is refused. */
static int dead_letter_open_dir(int parent_fd, const char *name) {
        int fd;

        if (mkdirat(parent_fd, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int dead_letter_new(const char *state_dir, DeadLetter **ret) {
        _cleanup_(dead_letter_freep) DeadLetter *d = NULL;
        int r;

        assert(state_dir && ret);
        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->state_fd = d->dead_fd = d->resend_fd = -EBADF;
        if (asprintf(&d->dead_path, "%s/dead-letter", state_dir) < 0) {
                d->dead_path = NULL;
                return -ENOMEM;
        }
        d->max_bytes = UINT64_MAX;
        d->state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d->state_fd < 0)
                return -errno;
        r = dead_letter_open_dir(d->state_fd, "dead-letter");
        if (r < 0)
                return r;
        d->dead_fd = r;
        r = dead_letter_open_dir(d->state_fd, "resend");
        if (r < 0)
                return r;
        d->resend_fd = r;
        (void) dead_letter_rescan(d);
        *ret = TAKE_PTR(d);
        return 0;
}

DeadLetter *dead_letter_free(DeadLetter *d) {
        if (!d)
                return NULL;
        closep(&d->state_fd);
        closep(&d->dead_fd);
        closep(&d->resend_fd);
        free(d->dead_path);
        free(d);
        return NULL;
}

const char *dead_letter_dir(const DeadLetter *d) {
        assert(d);
        return d->dead_path;
}

void dead_letter_set_max(DeadLetter *d, uint64_t max_bytes) {
        assert(d);
        d->max_bytes = max_bytes;
}

static bool dead_letter_is_tmp(const char *name) {
        return name[0] == '.' || endswith(name, ".tmp");
}

/* Files (not . entries, not temporaries) and their bytes in one directory. */
static int dead_letter_count_dir(int dir_fd, uint64_t *files, uint64_t *bytes) {
        _cleanup_(closedirp_) DIR *dir = NULL;
        struct dirent *de;
        int fd, r;

        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                r = -errno;
                (void) close(fd);
                return r;
        }
        while ((de = readdir(dir))) {
                struct stat st;
                if (dead_letter_is_tmp(de->d_name) || fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                *bytes += (uint64_t) st.st_size;
                if (S_ISREG(st.st_mode))
                        (*files)++;
        }
        return 0;
}

int dead_letter_rescan(DeadLetter *d) {
        uint64_t files = 0, bytes = 0;
        int r;

        assert(d);
        r = dead_letter_count_dir(d->dead_fd, &files, &bytes);
        if (r >= 0)
                r = dead_letter_count_dir(d->resend_fd, &files, &bytes);
        if (r < 0)
                return r;
        d->batches = files;
        d->bytes = bytes;
        return 0;
}

void dead_letter_usage(const DeadLetter *d, uint64_t *ret_batches, uint64_t *ret_bytes) {
        assert(d);
        if (ret_batches)
                *ret_batches = d->batches;
        if (ret_bytes)
                *ret_bytes = d->bytes;
}

static int dead_letter_write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int dead_letter_write(DeadLetter *d, const DeadLetterInfo *info, const char *body, size_t len, bool replacing,
                      char **ret_path) {
        _cleanup_free_ char *header = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        char name[DEAD_LETTER_NAME_LEN + 1], tmp[DEAD_LETTER_NAME_LEN + 8];
        size_t hlen = 0;
        int r;

        assert(d && info && body && ret_path);

        r = dead_letter_format_header(info, &header, &hlen);
        if (r < 0)
                return r;
        /* The bound counts what is there now (mamorictl may have moved files). */
        (void) dead_letter_rescan(d);
        if (!replacing && d->bytes + hlen + 1 + len > d->max_bytes)
                return -EDQUOT;
        dead_letter_name(info->first_seq, info->last_seq, name);
        snprintf(tmp, sizeof tmp, ".%s.tmp", name);
        if (asprintf(&path, "%s/%s", d->dead_path, name) < 0)
                return -ENOMEM;
        (void) unlinkat(d->dead_fd, tmp, 0);
        fd = openat(d->dead_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        header[hlen] = '\n'; /* json_steal() leaves room for the NUL */
        r = dead_letter_write_all(fd, header, hlen + 1);
        if (r >= 0)
                r = dead_letter_write_all(fd, body, len);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(d->dead_fd, tmp, d->dead_fd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(d->dead_fd, tmp, 0);
                return r;
        }
        (void) fsync(d->dead_fd);
        (void) dead_letter_rescan(d);
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* The lowest name in resend/ that is not a temporary: -ENODATA when none. */
static int dead_letter_first_resend(DeadLetter *d, char **ret) {
        _cleanup_(closedirp_) DIR *dir = NULL;
        _cleanup_free_ char *best = NULL;
        struct dirent *de;
        int fd, r;

        fd = openat(d->resend_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                r = -errno;
                (void) close(fd);
                return r;
        }
        while ((de = readdir(dir)))
                if (!dead_letter_is_tmp(de->d_name) && (!best || strcmp(de->d_name, best) < 0)) {
                        if (free_and_strdup(&best, de->d_name) < 0)
                                return -ENOMEM;
                }
        if (!best)
                return -ENODATA;
        *ret = TAKE_PTR(best);
        return 0;
}

/* Reads name from resend/: a regular file, at most max bytes, no link followed, no FIFO waited on. */
static int dead_letter_read(int dir_fd, const char *name, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        const size_t max = DEAD_LETTER_HEADER_MAX + 1 + DEAD_LETTER_BODY_MAX;
        struct stat st;
        size_t len = 0;

        if (!name)
                return -EINVAL;
        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return errno == ELOOP ? -EBADMSG : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if (st.st_size > (off_t) max)
                return -EFBIG;
        buf = malloc(max + 2);
        if (!buf)
                return -ENOMEM;
        while (len <= max) {
                ssize_t n = read(fd, buf + len, max + 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (len > max)
                return -EFBIG;
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* A damaged file leaves resend/ for dead-letter/<name>.damaged: it is still
 * counted and shown, never sent, never read again by the uplink. */
static int dead_letter_set_aside(DeadLetter *d, const char *name) {
        _cleanup_free_ char *aside = NULL;

        if (asprintf(&aside, "%s.damaged", name) < 0)
                return -ENOMEM;
        if (renameat(d->resend_fd, name, d->dead_fd, aside) < 0)
                return -errno;
        return 0;
}

int dead_letter_next_resend(DeadLetter *d, DeadLetterInfo *ret, char **ret_body, size_t *ret_len, char **ret_name,
                            const char **ret_why) {
        _cleanup_free_ char *name = NULL, *buf = NULL, *body = NULL;
        _cleanup_(dead_letter_info_donep) DeadLetterInfo info = {};
        const char *b = NULL, *why = NULL;
        uint64_t first, last;
        size_t len = 0, blen = 0;
        int r;

        assert(d && ret && ret_body && ret_len && ret_name && ret_why);

        r = dead_letter_first_resend(d, &name);
        if (r < 0)
                return r;
        r = dead_letter_read(d->resend_fd, name, &buf, &len);
        if (r == -ENOMEM)
                return r;
        if (r == -EBADMSG || r == -EFBIG)
                why = r == -EFBIG ? "too large" : "not a regular file";
        else if (r < 0)
                return r;
        else if (!dead_letter_name_parse(name, &first, &last))
                why = "not named <first seq>-<last seq>.ndjson";
        else {
                r = dead_letter_parse(buf, len, &info, &b, &blen, &why);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0 && (info.first_seq != first || info.last_seq != last))
                        why = "its name does not match its seqs";
        }
        if (why) {
                r = dead_letter_set_aside(d, name);
                if (r < 0)
                        return r;
                (void) dead_letter_rescan(d);
                *ret_name = TAKE_PTR(name);
                *ret_why = why;
                return -EBADMSG;
        }
        body = malloc(blen + 1);
        if (!body)
                return -ENOMEM;
        memcpy(body, b, blen);
        body[blen] = '\0';
        *ret = TAKE_STRUCT(info);
        *ret_body = TAKE_PTR(body);
        *ret_len = blen;
        *ret_name = TAKE_PTR(name);
        *ret_why = NULL;
        return 0;
}

int dead_letter_resend_done(DeadLetter *d, const char *name) {
        int r = 0;

        assert(d && name);
        if (unlinkat(d->resend_fd, name, 0) < 0 && errno != ENOENT)
                r = -errno;
        (void) fsync(d->resend_fd);
        (void) dead_letter_rescan(d);
        return r;
}
