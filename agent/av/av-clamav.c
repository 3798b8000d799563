/* SPDX-License-Identifier: MIT */
/* ClamAV: the age of daily.cvd / daily.cld in antivirus.database_dir, from the
 * header's build time in seconds (cvd-header.c). With both files, the one
 * ClamAV loads wins: the higher version. Re-read on inotify changes of the
 * directory (freshclam replaces files by rename) and when the monitor asks. */
#include <fcntl.h>
#include <sys/stat.h>

#include "av.h"
#include "cvd-header.h"
#include "dirwatch.h"
#include "json.h"
#include "log.h"
#include "text.h"

/* freshclam writes several files per update: one look once it is quiet. */
#define CLAMAV_SETTLE (500 * USEC_PER_MSEC)

static const char *const daily_names[] = { "daily.cvd", "daily.cld", NULL };

typedef struct Clam {
        DirWatch *watch;
} Clam;

typedef enum FileState {
        FILE_OK,
        FILE_ABSENT,
        FILE_TRUNCATED,
        FILE_INVALID,
        FILE_UNREADABLE,
} FileState;

typedef struct DailyFile {
        const char *name;
        char *path;
        FileState state;
        int error;
        size_t size;
        CvdHeader h;
} DailyFile;

static void av_clamav_read_daily(const char *dir, DailyFile *f) {
        _cleanup_close_ int fd = -EBADF;
        char buf[CVD_HEADER_SIZE];
        struct stat st = { 0 };
        size_t n = 0;
        int r;

        if (asprintf(&f->path, "%s/%s", dir, f->name) < 0) {
                f->path = NULL;
                f->state = FILE_UNREADABLE;
                f->error = -ENOMEM;
                return;
        }
        /* The database is the engine's updater's (the clamav user's), not
         * root's: no ownership check, but a link is not followed, a FIFO
         * never blocks, and only a regular file is read. */
        fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
        if (fd < 0) {
                f->error = negative_errno();
                f->state = f->error == -ENOENT ? FILE_ABSENT : FILE_UNREADABLE;
                return;
        }
        if (fstat(fd, &st) < 0) {
                f->error = negative_errno();
                f->state = FILE_UNREADABLE;
                return;
        }
        if (!S_ISREG(st.st_mode)) {
                f->error = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
                f->state = FILE_UNREADABLE;
                return;
        }
        while (n < sizeof buf) {
                ssize_t l = read(fd, buf + n, sizeof buf - n);
                if (l < 0 && errno == EINTR)
                        continue;
                if (l < 0) {
                        f->error = negative_errno();
                        f->state = FILE_UNREADABLE;
                        return;
                }
                if (l == 0)
                        break;
                n += (size_t) l;
        }
        f->size = n;
        r = cvd_header_parse(buf, n, &f->h);
        f->state = r == 0 ? FILE_OK : r == -ENODATA ? FILE_TRUNCATED : FILE_INVALID;
}

static char *av_clamav_clean(const char *s) {
        return s ? text_sanitize(s, strlen(s), 512, NULL) : NULL;
}

static const char *av_clamav_file_state_str(const DailyFile *f) {
        switch (f->state) {
        case FILE_OK:
                return "ok";
        case FILE_ABSENT:
                return "absent";
        case FILE_TRUNCATED:
                return "truncated";
        case FILE_INVALID:
                return "invalid_header";
        default:
                return "unreadable";
        }
}

static void av_clamav_describe(const DailyFile *f, char *buf, size_t size) {
        switch (f->state) {
        case FILE_TRUNCATED:
                snprintf(buf, size, "%s: truncated, %zu bytes where a %u-byte header is needed", f->name, f->size,
                         CVD_HEADER_SIZE);
                break;
        case FILE_INVALID:
                snprintf(buf, size, "%s: not a ClamAV database header", f->name);
                break;
        case FILE_UNREADABLE:
                snprintf(buf, size, "%s: %s", f->name, strerror(-f->error));
                break;
        default:
                snprintf(buf, size, "%s: %s", f->name, av_clamav_file_state_str(f));
        }
}

static char *av_clamav_render_extra(const DailyFile *use, const DailyFile *other) {
        JsonWriter w = JSON_WRITER_INIT;
        _cleanup_free_ char *build = av_clamav_clean(use->h.build_time), *builder = av_clamav_clean(use->h.builder);
        char *out;

        json_object_begin(&w);
        json_kv_string(&w, "build_time", build);
        json_kv_uint(&w, "signatures", use->h.signatures);
        json_kv_uint(&w, "functionality_level", use->h.functionality_level);
        json_kv_string(&w, "builder", builder);
        if (other->state != FILE_ABSENT) {
                _cleanup_free_ char *p = av_clamav_clean(other->path);
                json_key(&w, "other_file");
                json_object_begin(&w);
                json_kv_string(&w, "file", p);
                json_kv_string(&w, "state", av_clamav_file_state_str(other));
                if (other->state == FILE_OK)
                        json_kv_uint(&w, "version", other->h.version);
                json_object_end(&w);
        }
        json_object_end(&w);
        out = json_steal(&w, NULL);
        json_writer_free(&w);
        return out;
}

static int av_clamav_read(AvSource *s) {
        const char *dir = s->policy->database_dir;
        DailyFile files[2] = { { .name = daily_names[0] }, { .name = daily_names[1] } };
        AvReading r = { 0 };
        struct stat st;
        char detail[512] = "";
        int pick = -1;

        for (size_t i = 0; i < 2; i++)
                av_clamav_read_daily(dir, &files[i]);
        if (files[0].state == FILE_OK && files[1].state == FILE_OK)
                pick = cvd_header_pick(&files[0].h, &files[1].h);
        else if (files[0].state == FILE_OK)
                pick = 0;
        else if (files[1].state == FILE_OK)
                pick = 1;

        if (pick >= 0) {
                const DailyFile *use = &files[pick], *other = &files[1 - pick];
                char v[16];
                snprintf(v, sizeof v, "%u", use->h.version);
                r.found = true;
                r.built_at = use->h.stime * USEC_PER_SEC;
                r.version = strdup(v);
                r.file = av_clamav_clean(use->path);
                r.extra = av_clamav_render_extra(use, other);
                if (other->state != FILE_OK && other->state != FILE_ABSENT) {
                        av_clamav_describe(other, detail, sizeof detail);
                        log_warning("ClamAV database %s is not usable (%s); using %s.", strna(other->path), detail,
                                    use->name);
                }
        } else {
                r.file = av_clamav_clean(dir);
                if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        r.reason = strdup("no_database_dir");
                        snprintf(detail, sizeof detail, "%s does not exist: is ClamAV installed?", dir);
                } else if (files[0].state == FILE_ABSENT && files[1].state == FILE_ABSENT) {
                        r.reason = strdup("no_database");
                        snprintf(detail, sizeof detail, "neither daily.cvd nor daily.cld in %s", dir);
                } else {
                        char a[256] = "", b[256] = "";
                        bool unreadable = files[0].state == FILE_UNREADABLE || files[1].state == FILE_UNREADABLE;
                        r.reason = strdup(unreadable ? "unreadable" : "invalid_header");
                        if (files[0].state != FILE_ABSENT)
                                av_clamav_describe(&files[0], a, sizeof a);
                        if (files[1].state != FILE_ABSENT)
                                av_clamav_describe(&files[1], b, sizeof b);
                        snprintf(detail, sizeof detail, "%s%s%s", a, *a && *b ? "; " : "", b);
                }
        }
        if (*detail)
                r.detail = av_clamav_clean(detail);
        av_source_report(s, &r);
        av_reading_done(&r);
        for (size_t i = 0; i < 2; i++)
                free(files[i].path);
        return 0;
}

static void av_clamav_on_dir_changed(DirWatch *w, void *userdata) {
        (void) av_clamav_read(userdata);
}

static int av_clamav_start(AvSource *s) {
        Clam *c = calloc(1, sizeof *c);
        int r;

        if (!c)
                return -ENOMEM;
        s->data = c;
        r = dirwatch_new(s->event, s->policy->database_dir, daily_names, CLAMAV_SETTLE, av_clamav_on_dir_changed, s,
                         &c->watch);
        if (r < 0)
                log_warning_errno(r, "Cannot watch %s; the pattern is read at start and when it may turn stale only: %m",
                                  s->policy->database_dir);
        return av_clamav_read(s);
}

static void av_clamav_stop(AvSource *s) {
        Clam *c = s->data;
        if (!c)
                return;
        dirwatch_free(c->watch);
        free(c);
        s->data = NULL;
}

const AvSourceOps av_clamav_ops = {
        .engine = "clamav",
        .start = av_clamav_start,
        .refresh = av_clamav_read,
        .stop = av_clamav_stop,
};
