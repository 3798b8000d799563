/* SPDX-License-Identifier: MIT */
/* mamorictl dead-letter list|resend: the batches the collector refused for
 * good, kept by mamori-uplink in <its state dir>/dead-letter/ (DEAD-LETTER in
 * mamorictl(8); the format: agent/uplink/dead-letter.h).
 *
 * mamorictl runs as root; the directory is the mamori-uplink user's. Whoever
 * holds that user must gain nothing as root from what is done here: the
 * directories are opened O_NOFOLLOW from the state directory's fd, files
 * O_NOFOLLOW|O_NONBLOCK and only when regular, bounded, and resend only
 * renames a regular file from one of its directories to another (no chown, no
 * chmod, no copy, never replacing a file): nothing its owner could not do. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config-paths.h"
#include "ctl.h"

#define DL_HEADER_MAX (64u * 1024u) /* dead-letter.h's DEAD_LETTER_HEADER_MAX */
#define DL_NAME_LEN (20 + 1 + 20 + 7)

typedef enum DlPlace { DL_DEAD, DL_RESEND, DL_DAMAGED } DlPlace;

static const char *const dl_place_name[] = {
        [DL_DEAD] = "dead-letter",
        [DL_RESEND] = "queued to resend",
        [DL_DAMAGED] = "damaged",
};

typedef struct DlEntry {
        char name[256];
        DlPlace place;
        uint64_t first_seq, last_seq;
        uint64_t bytes;
        json_object *header; /* the "mamori_dead_letter" object; NULL when it cannot be read */
} DlEntry;

typedef struct DlDirs {
        char *state_dir;
        int state_fd, dead_fd, resend_fd;
} DlDirs;

static void dl_dirs_done(DlDirs *d) {
        free(d->state_dir);
        closep(&d->state_fd);
        closep(&d->dead_fd);
        closep(&d->resend_fd);
}

static int dl_open_dirs(DlDirs *d) {
        const char *env = getenv("MAMORI_UPLINK_STATE_DIR");

        *d = (DlDirs){ .state_fd = -EBADF, .dead_fd = -EBADF, .resend_fd = -EBADF };
        d->state_dir = strdup(env && env[0] ? env : MAMORI_UPLINK_STATE_DIR);
        if (!d->state_dir)
                return -ENOMEM;
        d->state_fd = open(d->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d->state_fd < 0)
                return -errno;
        d->dead_fd = openat(d->state_fd, "dead-letter", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d->dead_fd < 0 && errno != ENOENT)
                return -errno;
        d->resend_fd = openat(d->state_fd, "resend", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d->resend_fd < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static bool dl_digits(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;
        if (n == 0)
                return false;
        for (size_t k = 0; k < n; k++) {
                if (s[k] < '0' || s[k] > '9' || v > (UINT64_MAX - (uint64_t) (s[k] - '0')) / 10)
                        return false;
                v = v * 10 + (uint64_t) (s[k] - '0');
        }
        *ret = v;
        return true;
}

/* "<20 digits>-<20 digits>.ndjson", first <= last. */
static bool dl_name_parse(const char *name, uint64_t *first, uint64_t *last) {
        return strlen(name) == DL_NAME_LEN && name[20] == '-' && streq(name + 41, ".ndjson") &&
               dl_digits(name, 20, first) && dl_digits(name + 21, 20, last) && *first <= *last;
}

/* The header line of a file: bounded, a regular file, no link followed. */
static json_object *dl_read_header(int dir_fd, const char *name, uint64_t *ret_bytes) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        json_object *root = NULL, *h = NULL;
        struct stat st;
        size_t len = 0;
        char *nl;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return NULL;
        *ret_bytes = (uint64_t) st.st_size;
        buf = malloc(DL_HEADER_MAX + 1);
        if (!buf)
                return NULL;
        while (len < DL_HEADER_MAX) {
                ssize_t n = read(fd, buf + len, DL_HEADER_MAX - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
                if (memchr(buf + len - n, '\n', (size_t) n))
                        break;
        }
        nl = memchr(buf, '\n', len);
        if (!nl || memchr(buf, '\0', (size_t) (nl - buf)))
                return NULL;
        *nl = '\0';
        root = json_tokener_parse(buf);
        if (root && json_object_is_type(root, json_type_object) &&
            json_object_object_get_ex(root, "mamori_dead_letter", &h) && json_object_is_type(h, json_type_object))
                json_object_get(h);
        else
                h = NULL;
        if (root)
                json_object_put(root);
        return h;
}

static int dl_entry_cmp(const void *a, const void *b) {
        const DlEntry *x = a, *y = b;
        return strcmp(x->name, y->name);
}

static void dl_entries_free(DlEntry *e, size_t n) {
        for (size_t k = 0; k < n; k++)
                if (e[k].header)
                        json_object_put(e[k].header);
        free(e);
}

/* Every file of one directory (temporaries and dot files aside). */
static int dl_scan(int dir_fd, DlPlace place, DlEntry **entries, size_t *n) {
        _cleanup_(closedirp_) DIR *dir = NULL;
        struct dirent *de;
        int fd;

        if (dir_fd < 0)
                return 0;
        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                int r = -errno;
                (void) close(fd);
                return r;
        }
        while ((de = readdir(dir))) {
                DlEntry *e, *m;
                struct stat st;

                if (de->d_name[0] == '.' || endswith(de->d_name, ".tmp") || strlen(de->d_name) >= sizeof e->name)
                        continue;
                if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                m = realloc(*entries, (*n + 1) * sizeof **entries);
                if (!m)
                        return -ENOMEM;
                *entries = m;
                e = &m[(*n)++];
                *e = (DlEntry){ .place = place, .bytes = (uint64_t) st.st_size };
                strcpy(e->name, de->d_name);
                if (!dl_name_parse(e->name, &e->first_seq, &e->last_seq)) {
                        e->place = DL_DAMAGED;
                        continue;
                }
                e->header = dl_read_header(dirfd(dir), e->name, &e->bytes);
                if (!e->header)
                        e->place = DL_DAMAGED;
        }
        return 0;
}

static int dl_list_all(const DlDirs *d, DlEntry **ret, size_t *ret_n) {
        DlEntry *e = NULL;
        size_t n = 0;
        int r;

        r = dl_scan(d->dead_fd, DL_DEAD, &e, &n);
        if (r >= 0)
                r = dl_scan(d->resend_fd, DL_RESEND, &e, &n);
        if (r < 0) {
                dl_entries_free(e, n);
                return r;
        }
        if (n > 1)
                qsort(e, n, sizeof *e, dl_entry_cmp);
        *ret = e;
        *ret_n = n;
        return 0;
}

static int dl_fail(const DlDirs *d, int r, const char *what) {
        if (r == -ENOMEM)
                fprintf(stderr, "mamorictl dead-letter: out of memory\n");
        else
                fprintf(stderr, "mamorictl dead-letter: cannot %s in %s: %s\n", what,
                        d->state_dir ? d->state_dir : MAMORI_UPLINK_STATE_DIR, strerror(-r));
        return r == -EACCES || r == -EPERM ? CTL_EXIT_PERMISSION : CTL_EXIT_FAILURE;
}

static int dl_list(const CtlOptions *o, const DlDirs *d) {
        static const char *const headers[] = { "BATCH", "EVENTS", "STATUS", "TIME", "STATE", "ANSWER" };
        _cleanup_(ctl_table_freep) CtlTable *t = NULL;
        DlEntry *e = NULL;
        uint64_t bytes = 0;
        size_t n = 0, damaged = 0, waiting = 0;
        int r;

        r = dl_list_all(d, &e, &n);
        if (r < 0)
                return dl_fail(d, r, "read the dead-letter directory");
        for (size_t k = 0; k < n; k++)
                bytes += e[k].bytes;

        if (o->json) {
                json_object *root = json_object_new_object(), *arr = json_object_new_array();
                for (size_t k = 0; k < n; k++) {
                        json_object *b = json_object_new_object();
                        /* the file's header first: what this program says (file, state, bytes) wins */
                        if (e[k].header) {
                                json_object_object_foreach(e[k].header, key, val)
                                        json_object_object_add(b, key, json_object_get(val));
                        }
                        json_object_object_add(b, "file", json_object_new_string(e[k].name));
                        json_object_object_add(b, "state",
                                               json_object_new_string(e[k].place == DL_DEAD     ? "dead-letter"
                                                                      : e[k].place == DL_RESEND ? "resend"
                                                                                                : "damaged"));
                        json_object_object_add(b, "bytes", json_object_new_uint64(e[k].bytes));
                        json_object_array_add(arr, b);
                }
                json_object_object_add(root, "directory", json_object_new_string(d->state_dir));
                json_object_object_add(root, "batches", arr);
                json_object_object_add(root, "count", json_object_new_uint64(n));
                json_object_object_add(root, "bytes", json_object_new_uint64(bytes));
                puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(root);
                dl_entries_free(e, n);
                return CTL_EXIT_OK;
        }

        if (n == 0) {
                printf("No dead letters in %s/dead-letter.\n", d->state_dir);
                dl_entries_free(e, n);
                return CTL_EXIT_OK;
        }
        t = ctl_table_new(ELEMENTSOF(headers), headers);
        if (!t) {
                dl_entries_free(e, n);
                return dl_fail(d, -ENOMEM, "list");
        }
        ctl_table_set_max_width(t, 5, 60);
        for (size_t k = 0; k < n; k++) {
                json_object *h = e[k].header, *answers = jget(h, "answers");
                char batch[64], events[32], status[32], answer[128];
                const char *cells[6];

                snprintf(batch, sizeof batch, "%" PRIu64 "-%" PRIu64, e[k].first_seq, e[k].last_seq);
                snprintf(events, sizeof events, "%lld", jint(h, "count", 0));
                snprintf(status, sizeof status, "%lld", jint(h, "status", 0));
                if (answers && json_object_is_type(answers, json_type_array) && json_object_array_length(answers) > 1)
                        snprintf(answer, sizeof answer, "(%zu answers, the last:) %.80s",
                                 json_object_array_length(answers), strempty(jstr(h, "response")));
                else
                        snprintf(answer, sizeof answer, "%.100s", strempty(jstr(h, "response")));
                cells[0] = e[k].place == DL_DAMAGED ? e[k].name : batch;
                cells[1] = h ? events : NULL;
                cells[2] = h ? status : NULL;
                cells[3] = jstr(h, "time");
                cells[4] = dl_place_name[e[k].place];
                cells[5] = h ? answer : NULL;
                if (ctl_table_add_row(t, cells) < 0) {
                        dl_entries_free(e, n);
                        return dl_fail(d, -ENOMEM, "list");
                }
        }
        ctl_table_print(t, true);
        for (size_t k = 0; k < n; k++) {
                damaged += e[k].place == DL_DAMAGED;
                waiting += e[k].place == DL_DEAD;
        }
        printf("\n%zu batch%s", n - damaged, n - damaged == 1 ? "" : "es");
        if (damaged > 0)
                printf(" and %zu damaged file%s", damaged, damaged == 1 ? "" : "s");
        printf(", %" PRIu64 " bytes in %s.\n", bytes, d->state_dir);
        if (waiting > 0)
                printf("Send them again once the collector takes them: mamorictl dead-letter resend --all\n");
        dl_entries_free(e, n);
        return CTL_EXIT_OK;
}

/* BATCH as the list shows it ("12-15"), or the file's name with or without .ndjson. */
static bool dl_matches(const DlEntry *e, const char *want) {
        char range[64];
        size_t n = strlen(want);

        if (streq(want, e->name) || (n == DL_NAME_LEN - 7 && strncmp(want, e->name, n) == 0))
                return true;
        snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, e->first_seq, e->last_seq);
        return streq(want, range);
}

/* The uplink looks into resend/ when it gets "flush" (from root or itself). */
static int dl_send_flush(void) {
        const char *env = getenv("MAMORI_UPLINK_RUNTIME_DIR");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        static const char msg[] = "flush\n";
        _cleanup_close_ int fd = -EBADF;
        int n;

        n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/control", env && env[0] ? env : MAMORI_UPLINK_RUNTIME_DIR);
        if (n < 0 || (size_t) n >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (sendto(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        return 0;
}

static int dl_resend(const CtlOptions *o, const DlDirs *d, bool all, char **want, int n_want) {
        DlEntry *e = NULL;
        size_t n = 0, moved = 0, events = 0;
        int r, ret = CTL_EXIT_OK;

        if (d->resend_fd < 0 || d->dead_fd < 0) {
                fprintf(stderr, "mamorictl dead-letter: %s/%s is missing: is this version of mamori-uplink running?\n",
                        d->state_dir, d->resend_fd < 0 ? "resend" : "dead-letter");
                return CTL_EXIT_FAILURE;
        }
        r = dl_list_all(d, &e, &n);
        if (r < 0)
                return dl_fail(d, r, "read the dead-letter directory");
        for (int w = 0; w < n_want; w++) {
                bool found = false;
                for (size_t k = 0; k < n; k++)
                        found = found || (e[k].place != DL_DAMAGED && dl_matches(&e[k], want[w]));
                if (!found) {
                        fprintf(stderr, "mamorictl dead-letter: no dead letter '%s' (see mamorictl dead-letter list)\n",
                                want[w]);
                        ret = CTL_EXIT_FAILURE;
                }
        }
        for (size_t k = 0; k < n; k++) {
                struct stat st;
                bool chosen = all && e[k].place == DL_DEAD;

                for (int w = 0; !chosen && w < n_want; w++)
                        chosen = e[k].place == DL_DEAD && dl_matches(&e[k], want[w]);
                if (!chosen)
                        continue;
                /* Regular files only, and moved, never replacing one: nothing a link could turn into another file. */
                if (fstatat(d->dead_fd, e[k].name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
                        fprintf(stderr, "mamorictl dead-letter: %s is not a regular file; left alone\n", e[k].name);
                        ret = CTL_EXIT_FAILURE;
                        continue;
                }
                if (renameat2(d->dead_fd, e[k].name, d->resend_fd, e[k].name, RENAME_NOREPLACE) < 0) {
                        fprintf(stderr, "mamorictl dead-letter: cannot queue %s: %s\n", e[k].name, strerror(errno));
                        ret = CTL_EXIT_FAILURE;
                        continue;
                }
                moved++;
                events += (size_t) jint(e[k].header, "count", 0);
        }
        dl_entries_free(e, n);
        if (moved > 0) {
                (void) fsync(d->resend_fd);
                (void) fsync(d->dead_fd);
        }
        r = moved > 0 ? dl_send_flush() : 0;
        if (o->json)
                printf("{\"queued\":%zu,\"events\":%zu,\"uplink_told\":%s}\n", moved, events, r >= 0 ? "true" : "false");
        else if (moved == 0)
                printf("Nothing to send again.\n");
        else if (r >= 0)
                printf("Queued %zu batch%s (%zu events) to be sent again, before anything else; mamori-uplink sends them now.\n",
                       moved, moved == 1 ? "" : "es", events);
        else
                printf("Queued %zu batch%s (%zu events) to be sent again; mamori-uplink cannot be told now (%s): "
                       "it sends them when it runs.\n",
                       moved, moved == 1 ? "" : "es", events, strerror(-r));
        return ret;
}

int verb_dead_letter(const CtlOptions *o_, int argc, char **argv) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "all", no_argument, NULL, 'a' },
                {},
        };
        _cleanup_(dl_dirs_done) DlDirs d = { .state_fd = -EBADF, .dead_fd = -EBADF, .resend_fd = -EBADF };
        CtlOptions o = *o_;
        const char *what;
        bool all = false;
        int c, r;

        if (argc < 2) {
                fprintf(stderr, "mamorictl dead-letter: list or resend [--all | BATCH...]\n");
                return CTL_EXIT_USAGE;
        }
        what = argv[1];
        optind = 0;
        while ((c = getopt_long(argc - 1, argv + 1, "", options, NULL)) >= 0)
                switch (c) {
                case 'j':
                        o.json = true;
                        break;
                case 'a':
                        all = true;
                        break;
                default:
                        return CTL_EXIT_USAGE;
                }
        if (!streq(what, "list") && !streq(what, "resend")) {
                fprintf(stderr, "mamorictl dead-letter: unknown command '%s' (list, resend)\n", what);
                return CTL_EXIT_USAGE;
        }
        if (streq(what, "list") && optind < argc - 1) {
                fprintf(stderr, "mamorictl dead-letter list: unexpected argument '%s'\n", argv[optind + 1]);
                return CTL_EXIT_USAGE;
        }
        if (streq(what, "resend") && all == (optind < argc - 1)) {
                fprintf(stderr, "mamorictl dead-letter resend: --all or BATCH (as dead-letter list shows it)\n");
                return CTL_EXIT_USAGE;
        }
        r = dl_open_dirs(&d);
        if (r == -ENOENT && streq(what, "list")) {
                if (o.json)
                        printf("{\"directory\":null,\"batches\":[],\"count\":0,\"bytes\":0}\n");
                else
                        printf("No dead letters (%s does not exist).\n", d.state_dir);
                return CTL_EXIT_OK;
        }
        if (r < 0)
                return dl_fail(&d, r, "open the dead-letter directories");
        if (streq(what, "list"))
                return dl_list(&o, &d);
        return dl_resend(&o, &d, all, argv + 1 + optind, argc - 1 - optind);
}
