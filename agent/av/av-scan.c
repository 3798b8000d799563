/* SPDX-License-Identifier: MIT */
/* Media from outside scanned by clamd when mounted (av-scan.h). clamd is
 * asked over its AF_UNIX socket only (the layer rule: no IP socket in
 * mamorid), never waited for: connect, write and read are io events, a timer
 * ends a scan that takes too long, and what clamd sends is bounded. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "av-detect.h"
#include "av-scan.h"
#include "log.h"
#include "text.h"
#include "timeutil.h"

/* A mount table larger than this is not read (no scan is started from it). */
/* Mount ids remembered (the table's present mounts). */
#define AV_SCAN_KNOWN_MAX 4096

/* ---- clamd's reply ---- */

void av_scan_reply_done(AvScanReply *r) {
        if (!r)
                return;
        free(r->path);
        free(r->signature);
        free(r->message);
        free(r->raw_path);
        *r = (AvScanReply){ 0 };
}

static bool av_scan_ends_with(const char *s, size_t len, const char *suffix) {
        size_t k = strlen(suffix);
        return len >= k && memcmp(s + len - k, suffix, k) == 0;
}

int av_scan_parse_reply(const char *line, size_t len, AvScanReply *ret) {
        _cleanup_(av_scan_reply_done) AvScanReply r = { 0 };

        assert(line || len == 0);
        assert(ret);

        if (len == 0 || len > AV_SCAN_LINE_MAX || memchr(line, 0, len))
                return -EBADMSG;
        if (av_scan_ends_with(line, len, " FOUND")) {
                size_t end = len - strlen(" FOUND"), sep = end;
                /* The signature is the last ": "-separated part: a path may hold ": ". */
                while (sep >= 2 && !(line[sep - 2] == ':' && line[sep - 1] == ' '))
                        sep--;
                if (sep < 2 || sep == end || sep - 2 == 0 || memchr(line + sep, ' ', end - sep))
                        return -EBADMSG;
                r.kind = AV_SCAN_REPLY_FOUND;
                r.signature = text_sanitize(line + sep, end - sep, TEXT_DEVICE_MAX, NULL);
                r.path = text_sanitize(line, sep - 2, TEXT_DEVICE_MAX * 4, NULL);
                r.raw_path = strndup(line, sep - 2);
                if (!r.signature || !r.path || !r.raw_path)
                        return -ENOMEM;
        } else if (av_scan_ends_with(line, len, ": OK")) {
                if (len == strlen(": OK"))
                        return -EBADMSG;
                r.kind = AV_SCAN_REPLY_OK;
                r.path = text_sanitize(line, len - strlen(": OK"), TEXT_DEVICE_MAX * 4, NULL);
                if (!r.path)
                        return -ENOMEM;
        } else if (av_scan_ends_with(line, len, " ERROR") || (len == 5 && memcmp(line, "ERROR", 5) == 0)) {
                r.kind = AV_SCAN_REPLY_ERROR;
                r.message = text_sanitize(line, len, TEXT_DEVICE_MAX, NULL);
                if (!r.message)
                        return -ENOMEM;
        } else
                return -EBADMSG;
        *ret = r;
        memset(&r, 0, sizeof r); /* now *ret's: the cleanup frees nothing */
        return 0;
}

/* ---- one scan ---- */

typedef struct AvScanFinding {
        char *signature, *path;
} AvScanFinding;

typedef struct AvScanJob {
        struct AvScanJob *next;
        struct AvScan *scan;
        char *mount_point; /* raw bytes, NUL-free, absolute */
        char *mount_point_shown;
        dev_t dev;
        char *bus;
        int fd;
        sd_event_source *io, *timer;
        usec_t started; /* CLOCK_MONOTONIC */
        char *cmd;
        size_t cmd_len, cmd_sent;
        char line[AV_SCAN_LINE_MAX + 1];
        size_t line_len;
        bool line_too_long;
        bool root_error; /* an ERROR on the mount point itself: the tree was not walked */
        size_t total;
        uint64_t n_ok, n_found, n_errors, n_malformed;
        AvScanFinding findings[AV_SCAN_FINDINGS_MAX];
        size_t n_findings;
        char *first_error;
        const char *incomplete; /* why it was cut short; NULL when complete */
} AvScanJob;

struct AvScan {
        sd_event *event;
        EventEmitter emit;
        AvScanHooks hooks;
        Policy *policy;
        sd_event_source *mount_src;
        unsigned *known; /* mount ids in the table */
        size_t n_known;
        bool have_known;
        AvScanJob *running, *queue;
        size_t n_queue;
        uint64_t n_scans, n_incomplete, n_findings, n_skipped;
};

static void av_scan_job_free(AvScanJob *j) {
        if (!j)
                return;
        sd_event_source_disable_unref(j->io);
        sd_event_source_disable_unref(j->timer);
        if (j->fd >= 0)
                close(j->fd);
        free(j->mount_point);
        free(j->mount_point_shown);
        free(j->bus);
        free(j->cmd);
        free(j->first_error);
        for (size_t i = 0; i < j->n_findings; i++) {
                free(j->findings[i].signature);
                free(j->findings[i].path);
        }
        free(j);
}

static void av_scan_start_next(AvScan *s);

static void av_scan_emit(AvScan *s, AvScanJob *j) {
        usec_t took = now_usec(CLOCK_MONOTONIC) - j->started;
        char devno[32];
        JsonWriter *w;
        Event *e;

        e = event_new(EVENT_MEDIA_SCANNED);
        if (!e || (s->policy && event_set_policy_ref(e, s->policy->av.policy_ref) < 0)) {
                event_free(e);
                return (void) log_oom();
        }
        if (j->n_found > 0)
                e->severity = EVENT_SEVERITY_HIGH;
        (void) event_set_message(e, "Media at %s (%s) scanned by clamd: %" PRIu64 " detection(s)%s%s",
                                 j->mount_point_shown, j->bus, j->n_found, j->incomplete ? ", incomplete: " : "",
                                 j->incomplete ?: "");
        w = event_body(e);
        json_key(w, "scan");
        json_object_begin(w);
        json_kv_string(w, "engine", "clamav");
        json_kv_string(w, "mount_point", j->mount_point_shown);
        json_kv_string(w, "bus", j->bus);
        (void) snprintf(devno, sizeof devno, "%u:%u", major(j->dev), minor(j->dev));
        json_kv_string(w, "device", devno);
        /* CONTSCAN names the infected and the unreadable files only: the
         * number of files and bytes is clamd's and is not told. */
        json_key(w, "files");
        json_null(w);
        json_key(w, "bytes");
        json_null(w);
        json_kv_uint(w, "duration_ms", took / 1000);
        json_kv_uint(w, "detections", j->n_found);
        json_kv_uint(w, "errors", j->n_errors);
        if (j->n_malformed)
                json_kv_uint(w, "malformed_replies", j->n_malformed);
        if (j->first_error)
                json_kv_string(w, "first_error", j->first_error);
        json_key(w, "findings");
        json_array_begin(w);
        for (size_t i = 0; i < j->n_findings; i++) {
                json_object_begin(w);
                json_kv_string(w, "signature", j->findings[i].signature);
                json_kv_string(w, "path", j->findings[i].path);
                json_object_end(w);
        }
        json_array_end(w);
        if (j->n_found > j->n_findings)
                json_kv_uint(w, "findings_not_listed", j->n_found - j->n_findings);
        json_kv_bool(w, "complete", !j->incomplete);
        if (j->incomplete)
                json_kv_string(w, "incomplete_reason", j->incomplete);
        json_object_end(w);
        (void) event_emit(&s->emit, e, NULL);
}

/* A scan that never started: told as incomplete, counted as not scanned. */
static void av_scan_drop(AvScan *s, AvScanJob *j, const char *why) {
        j->incomplete = why;
        j->started = now_usec(CLOCK_MONOTONIC);
        s->n_skipped++;
        av_scan_emit(s, j);
        av_scan_job_free(j);
}

/* The scan is over (done, cut short or failed): told, and the next starts. */
static void av_scan_finish(AvScan *s, AvScanJob *j, const char *incomplete) {
        if (incomplete && !j->incomplete)
                j->incomplete = incomplete;
        j->io = sd_event_source_disable_unref(j->io);
        j->timer = sd_event_source_disable_unref(j->timer);
        if (j->fd >= 0)
                j->fd = (close(j->fd), -EBADF);
        s->n_scans++;
        if (j->incomplete)
                s->n_incomplete++;
        log_full(j->n_found ? LOG_WARNING : LOG_INFO,
                 "Scan of %s by clamd: %" PRIu64 " detection(s), %" PRIu64 " error(s)%s%s.", j->mount_point_shown,
                 j->n_found, j->n_errors, j->incomplete ? ", incomplete: " : "", j->incomplete ?: "");
        av_scan_emit(s, j);
        if (s->running == j)
                s->running = NULL;
        av_scan_job_free(j);
        av_scan_start_next(s);
}

static void av_scan_line(AvScan *s, AvScanJob *j, const char *line, size_t len) {
        _cleanup_(av_scan_reply_done) AvScanReply r = { 0 };
        int k = av_scan_parse_reply(line, len, &r);

        if (k == -ENOMEM)
                return (void) log_oom();
        if (k < 0) {
                j->n_malformed++;
                return;
        }
        switch (r.kind) {
        case AV_SCAN_REPLY_OK:
                j->n_ok++;
                break;
        case AV_SCAN_REPLY_ERROR:
                j->n_errors++;
                /* clamd ends with "<mount point>: OK" even when it could not
                 * enter the mount point (AppArmor, permissions): not complete. */
                if (len > strlen(j->mount_point) + 2 && memcmp(line, j->mount_point, strlen(j->mount_point)) == 0 &&
                    memcmp(line + strlen(j->mount_point), ": ", 2) == 0)
                        j->root_error = true;
                if (!j->first_error)
                        j->first_error = TAKE_PTR(r.message);
                break;
        case AV_SCAN_REPLY_FOUND:
                j->n_found++;
                s->n_findings++;
                if (j->n_findings < AV_SCAN_FINDINGS_MAX) {
                        j->findings[j->n_findings].signature = strdup(r.signature);
                        j->findings[j->n_findings].path = strdup(r.path);
                        j->n_findings++;
                }
                /* Every finding goes the way of av.detection (its own rate limit is the reply's bound). */
                if (s->hooks.on_finding)
                        s->hooks.on_finding(s->hooks.userdata, r.signature, r.raw_path, j->mount_point_shown, j->dev,
                                            j->bus);
                break;
        }
}

/* Splits what came at NULs (the z-form of the command). */
static void av_scan_feed(AvScan *s, AvScanJob *j, const char *buf, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (buf[i] == 0) {
                        if (!j->line_too_long && j->line_len > 0)
                                av_scan_line(s, j, j->line, j->line_len);
                        else if (j->line_too_long)
                                j->n_malformed++;
                        j->line_len = 0;
                        j->line_too_long = false;
                } else if (j->line_len < AV_SCAN_LINE_MAX)
                        j->line[j->line_len++] = buf[i];
                else
                        j->line_too_long = true;
        }
}

static int av_scan_on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        AvScanJob *j = userdata;
        AvScan *s = j->scan;
        char buf[16384];
        ssize_t n;

        if (j->cmd_sent < j->cmd_len) {
                n = send(fd, j->cmd + j->cmd_sent, j->cmd_len - j->cmd_sent, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        log_warning_errno(errno, "Cannot send the scan of %s to clamd: %m", j->mount_point_shown);
                        av_scan_finish(s, j, "engine_unavailable");
                        return 0;
                }
                j->cmd_sent += (size_t) n;
                if (j->cmd_sent == j->cmd_len)
                        (void) sd_event_source_set_io_events(src, EPOLLIN);
                return 0;
        }
        /* At most a few reads per wakeup: a fast clamd cannot hold the loop. */
        for (unsigned i = 0; i < 8; i++) {
                n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        log_warning_errno(errno, "Cannot read clamd's reply for %s: %m", j->mount_point_shown);
                        av_scan_finish(s, j, "engine_error");
                        return 0;
                }
                if (n == 0) {
                        if (j->line_len > 0) /* an unterminated last line: cut off */
                                j->n_malformed++;
                        /* Neither "OK" nor a finding: clamd did not walk the tree
                         * (the mount point unreadable, clamd overloaded). */
                        av_scan_finish(s, j,
                                       j->root_error                      ? "engine_error"
                                       : j->n_ok + j->n_found > 0         ? NULL
                                       : j->n_errors + j->n_malformed > 0 ? "engine_error"
                                                                          : "no_reply");
                        return 0;
                }
                if (j->total + (size_t) n > AV_SCAN_REPLY_MAX) {
                        av_scan_finish(s, j, "reply_too_large");
                        return 0;
                }
                j->total += (size_t) n;
                av_scan_feed(s, j, buf, (size_t) n);
        }
        return 0;
}

static int av_scan_on_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        AvScan *s = userdata;

        if (s->running)
                av_scan_finish(s, s->running, "timeout");
        return 0;
}

static int av_scan_connect(AvScan *s, AvScanJob *j) {
        const AvScanPolicy *p = &s->policy->av.scan;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r;

        if (!p->on_mount || !p->socket)
                return -ECANCELED; /* turned off by a reload while it waited */
        if (strlen(p->socket) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, p->socket);
        j->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (j->fd < 0)
                return -errno;
        /* AF_UNIX connects at once or fails at once (EAGAIN: clamd's backlog is full). */
        if (connect(j->fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        r = sd_event_add_io(s->event, &j->io, j->fd, EPOLLOUT, av_scan_on_io, j);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(j->io, "av-scan");
        return 0;
}

static void av_scan_start_next(AvScan *s) {
        AvScanJob *j;
        int r;

        while (!s->running && s->queue) {
                j = s->queue;
                s->queue = j->next;
                s->n_queue--;
                j->next = NULL;
                s->running = j;
                j->started = now_usec(CLOCK_MONOTONIC);
                r = sd_event_add_time_relative(s->event, &j->timer, CLOCK_MONOTONIC, s->policy->av.scan.timeout, 0,
                                               av_scan_on_timeout, s);
                if (r < 0) {
                        log_warning_errno(r, "Cannot arm the timer of the scan of %s: %m", j->mount_point_shown);
                        av_scan_finish(s, j, "internal_error");
                        continue;
                }
                r = av_scan_connect(s, j);
                if (r < 0) {
                        log_warning_errno(r, "Cannot reach clamd at %s to scan %s: %m", s->policy->av.scan.socket,
                                          j->mount_point_shown);
                        av_scan_finish(s, j, "engine_unavailable");
                        continue;
                }
                log_info("Media at %s (%s) mounted: clamd scans it.", j->mount_point_shown, j->bus);
        }
}

static void av_scan_enqueue(AvScan *s, const char *mp, dev_t dev, const char *bus) {
        AvScanJob *j, **tail;

        j = calloc(1, sizeof *j);
        if (!j)
                return (void) log_oom();
        j->fd = -EBADF;
        j->scan = s;
        j->dev = dev;
        j->mount_point = strdup(mp);
        j->mount_point_shown = text_sanitize(mp, strlen(mp), TEXT_DEVICE_MAX, NULL);
        j->bus = strdup(bus);
        /* "z": the path ends at a NUL, so a newline in a mount point stays the path's. */
        if (!j->mount_point || !j->mount_point_shown || !j->bus || asprintf(&j->cmd, "zCONTSCAN %s%c", mp, 0) < 0) {
                j->cmd = NULL;
                av_scan_job_free(j);
                return (void) log_oom();
        }
        j->cmd_len = strlen("zCONTSCAN ") + strlen(mp) + 1;
        if (s->n_queue >= AV_SCAN_QUEUE_MAX) {
                /* Not scanned, and told so: media.scanned with complete false. */
                log_warning("Too many media mounted at once: %s is not scanned.", j->mount_point_shown);
                av_scan_drop(s, j, "queue_full");
                return;
        }
        for (tail = &s->queue; *tail; tail = &(*tail)->next)
                ;
        *tail = j;
        s->n_queue++;
        av_scan_start_next(s); /* at once: the queue's bound is of the ones that wait */
}

/* ---- the mount table ---- */


/* mountinfo's \ooo escapes; NULL for a bad one or a NUL. */
static char *av_scan_unescape(const char *p, size_t n) {
        _cleanup_free_ char *o = malloc(n + 1);
        size_t k = 0;

        if (!o)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (p[i] != '\\') {
                        o[k++] = p[i];
                        continue;
                }
                if (n - i < 4 || p[i + 1] < '0' || p[i + 1] > '3' || p[i + 2] < '0' || p[i + 2] > '7' ||
                    p[i + 3] < '0' || p[i + 3] > '7')
                        return NULL;
                o[k] = (char) ((p[i + 1] - '0') << 6 | (p[i + 2] - '0') << 3 | (p[i + 3] - '0'));
                if (!o[k])
                        return NULL;
                k++;
                i += 3;
        }
        o[k] = 0;
        return TAKE_PTR(o);
}

static bool av_scan_known(const unsigned *ids, size_t n, unsigned id) {
        for (size_t i = 0; i < n; i++)
                if (ids[i] == id)
                        return true;
        return false;
}

/* The removable bus of a device from sysfs (umockdev's in tests), or NULL. */
static const char *av_scan_bus_of(dev_t dev) {
        char link[64];

        (void) snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(dev), minor(dev));
        return av_detect_bus_of_block(link);
}

/* The mounts new since the last read are scanned when on removable media;
 * the first read only learns the table (what was mounted before mamorid
 * started is not scanned again at every restart). */
static void av_scan_check_mounts(AvScan *s, int fd) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ unsigned *ids = NULL;
        size_t len = 0, n = 0;
        int r;

        r = av_read_mountinfo_fd(fd, &buf, &len);
        if (r < 0)
                return (void) log_warning_errno(r, "Cannot read the mount table: %m");
        ids = calloc(AV_SCAN_KNOWN_MAX, sizeof *ids);
        if (!ids)
                return (void) log_oom();
        for (size_t pos = 0; pos < len;) {
                const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
                size_t ln = nl ? (size_t) (nl - line) : len - pos;
                const char *f[5];
                size_t fl[5], k = 0, i = 0;
                unsigned id, ma, mi;
                char num[32];
                _cleanup_free_ char *mp = NULL;
                const char *bus;

                pos += ln + 1;
                while (i < ln && k < 5) {
                        size_t st = i;
                        while (i < ln && line[i] != ' ')
                                i++;
                        f[k] = line + st;
                        fl[k++] = i - st;
                        i++;
                }
                if (k < 5 || fl[0] >= 12 || fl[2] >= sizeof num)
                        continue;
                memcpy(num, f[0], fl[0]);
                num[fl[0]] = 0;
                if (strspn(num, "0123456789") != fl[0] || sscanf(num, "%u", &id) != 1)
                        continue;
                memcpy(num, f[2], fl[2]);
                num[fl[2]] = 0;
                if (strspn(num, "0123456789:") != fl[2] || sscanf(num, "%u:%u", &ma, &mi) != 2)
                        continue;
                if (n < AV_SCAN_KNOWN_MAX)
                        ids[n++] = id;
                if (!s->have_known || av_scan_known(s->known, s->n_known, id))
                        continue;
                mp = av_scan_unescape(f[4], fl[4]);
                if (!mp || mp[0] != '/')
                        continue;
                bus = av_scan_bus_of(makedev(ma, mi));
                if (!bus)
                        continue;
                av_scan_enqueue(s, mp, makedev(ma, mi), bus);
        }
        free(s->known);
        s->known = TAKE_PTR(ids);
        s->n_known = n;
        s->have_known = true;
        av_scan_start_next(s);
}

static int av_scan_on_mounts(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        av_scan_check_mounts(userdata, fd);
        return 0;
}

static void av_scan_unwatch(AvScan *s) {
        if (!s->mount_src)
                return;
        (void) close(sd_event_source_get_io_fd(s->mount_src));
        s->mount_src = sd_event_source_disable_unref(s->mount_src);
        s->have_known = false;
}

static void av_scan_watch(AvScan *s) {
        const char *path = secure_getenv("MAMORI_MOUNTINFO") ?: "/proc/self/mountinfo";
        int fd, r;

        if (s->mount_src)
                return;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return (void) log_warning_errno(errno, "Cannot watch the mount table %s: %m", path);
        /* The kernel flags a change of the table with POLLPRI. */
        r = sd_event_add_io(s->event, &s->mount_src, fd, EPOLLPRI, av_scan_on_mounts, s);
        if (r < 0) {
                (void) close(fd);
                return (void) log_warning_errno(r, "Cannot watch the mount table: %m");
        }
        (void) sd_event_source_set_description(s->mount_src, "av-scan-mounts");
        av_scan_check_mounts(s, fd); /* learns what is mounted now */
}

/* ---- the object ---- */

int av_scan_new(sd_event *event, const EventEmitter *emit, const AvScanHooks *hooks, AvScan **ret) {
        AvScan *s;

        assert(event);
        assert(emit);
        assert(ret);

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->emit = *emit;
        if (hooks)
                s->hooks = *hooks;
        *ret = s;
        return 0;
}

AvScan *av_scan_free(AvScan *s) {
        AvScanJob *j;

        if (!s)
                return NULL;
        av_scan_unwatch(s);
        av_scan_job_free(s->running);
        while ((j = s->queue)) {
                s->queue = j->next;
                av_scan_job_free(j);
        }
        free(s->known);
        policy_unref(s->policy);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

void av_scan_set_policy(AvScan *s, Policy *p) {
        assert(s);
        assert(p);

        policy_unref(s->policy);
        s->policy = policy_ref(p);
        if (p->av.scan.on_mount)
                av_scan_watch(s);
        else {
                AvScanJob *j;
                av_scan_unwatch(s);
                /* What waits is dropped (counted); a running scan ends by itself. */
                while ((j = s->queue)) {
                        s->queue = j->next;
                        s->n_queue--;
                        av_scan_drop(s, j, "scan_disabled");
                }
        }
}

void av_scan_status(const AvScan *s, JsonWriter *w) {
        assert(w);
        if (!s)
                return;
        json_key(w, "media_scans");
        json_object_begin(w);
        json_kv_bool(w, "on_mount", s->policy && s->policy->av.scan.on_mount);
        json_kv_uint(w, "count", s->n_scans);
        json_kv_uint(w, "incomplete", s->n_incomplete);
        json_kv_uint(w, "detections", s->n_findings);
        json_kv_uint(w, "not_scanned", s->n_skipped);
        json_kv_bool(w, "running", s->running != NULL);
        json_object_end(w);
}
