/* SPDX-License-Identifier: MIT */
/* The report socket of detections (av-detect.h). Every datagram is hostile:
 * its sender is known by the kernel's credentials only, its bytes go
 * through av_report_parse(), and nothing it sends can make mamorid keep more
 * than one datagram's buffer, one last detection and a few counters. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "av-detect.h"
#include "av-media.h"
#include "av-report.h"
#include "log.h"
#include "text.h"

/* Datagrams read per wakeup: a flood cannot hold the loop. */
#define AV_DETECT_PER_WAKEUP 64
/* A mount table larger than this is not read (the lookup says unknown). */
#define AV_DETECT_MOUNTINFO_MAX (8u << 20)
/* How long after an engine's report mamorid's own scan may name the same finding. */
#define AV_DETECT_SAME_USEC (10 * USEC_PER_SEC)

struct AvDetect {
        sd_event *event;
        sd_event_source *io, *drop_timer;
        int fd;
        char *path;
        EventEmitter emit;
        AvDetectHooks hooks;
        Policy *policy;
        uid_t users[AV_DETECT_USERS_MAX];
        size_t n_users;
        AvReportLimit limit;
        uint64_t n_detections, n_refused, n_malformed, n_dropped;
        uint64_t n_dropped_pending; /* not told yet */
        uint64_t n_duplicates;
        usec_t last_mono; /* CLOCK_MONOTONIC of the last record */
        AvDetection last;
        bool have_last;
        char buf[AV_REPORT_MAX + 1];
};

static void av_detection_done(AvDetection *d) {
        free(d->engine);
        free(d->signature);
        free(d->path);
        free(d->bus);
        free(d->mount_point);
        *d = (AvDetection){ 0 };
}

AvDetect *av_detect_free(AvDetect *d) {
        if (!d)
                return NULL;
        sd_event_source_disable_unref(d->io);
        sd_event_source_disable_unref(d->drop_timer);
        if (d->fd >= 0) {
                close(d->fd);
                (void) unlink(d->path);
        }
        free(d->path);
        av_detection_done(&d->last);
        policy_unref(d->policy);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}

/* ---- who may report ---- */

static int av_detect_lookup_user(const char *name, uid_t *ret) {
        struct passwd pw, *found = NULL;
        char buf[4096], *end;
        unsigned long u;

        errno = 0;
        u = strtoul(name, &end, 10);
        if (*name >= '0' && *name <= '9' && !*end && errno == 0 && u < (uid_t) -1) {
                *ret = (uid_t) u;
                return 0;
        }
        if (getpwnam_r(name, &pw, buf, sizeof buf, &found) != 0 || !found)
                return -ENOENT;
        *ret = found->pw_uid;
        return 0;
}

void av_detect_set_policy(AvDetect *d, Policy *p) {
        static const char *const clamav_default[] = { "clamav" };
        const char *const *names;
        size_t n;

        assert(d);
        assert(p);

        policy_unref(d->policy);
        d->policy = policy_ref(p);
        if (p->av.report_users_set) {
                names = (const char *const *) p->av.report_users;
                n = p->av.n_report_users;
        } else if (p->av.engine == AV_ENGINE_CLAMAV) {
                names = clamav_default;
                n = 1;
        } else
                n = 0, names = NULL;

        d->n_users = 0;
        for (size_t i = 0; i < n && d->n_users < AV_DETECT_USERS_MAX; i++) {
                uid_t u;
                if (av_detect_lookup_user(names[i], &u) < 0) {
                        /* clamav not installed (yet): root alone may report until a reload. */
                        if (p->av.report_users_set)
                                log_warning("antivirus.report_users: no user '%s'; it cannot report detections.",
                                            names[i]);
                        else
                                log_debug("No user '%s': only root may report detections.", names[i]);
                        continue;
                }
                d->users[d->n_users++] = u;
        }
}

static bool av_detect_allowed(const AvDetect *d, uid_t uid) {
        if (uid == 0)
                return true;
        for (size_t i = 0; i < d->n_users; i++)
                if (d->users[i] == uid)
                        return true;
        return false;
}

/* ---- where the file was ---- */

int av_read_mountinfo_fd(int fd, char **ret, size_t *ret_len) {
        _cleanup_free_ char *b = NULL;
        size_t n = 0, cap = 0;

        assert(fd >= 0);
        assert(ret);
        assert(ret_len);

        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        for (;;) {
                ssize_t k;
                if (cap - n < 4096) {
                        char *nb;
                        if (cap >= AV_DETECT_MOUNTINFO_MAX)
                                return -EFBIG;
                        cap = cap ? cap * 2 : 65536;
                        nb = realloc(b, cap);
                        if (!nb)
                                return -ENOMEM;
                        b = nb;
                }
                k = read(fd, b + n, cap - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        *ret_len = n;
        *ret = TAKE_PTR(b);
        return 0;
}

static int av_detect_read_mountinfo(char **ret, size_t *ret_len) {
        const char *path = secure_getenv("MAMORI_MOUNTINFO") ?: "/proc/self/mountinfo";
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return av_read_mountinfo_fd(fd, ret, ret_len);
}

/* The removable bus under the block device at the sysfs path dir
 * (/sys/dev/block/M:m, then its slaves/X...): a filesystem on device-mapper
 * or md (an encrypted stick, LVM) is on the disks listed in slaves/. */
static const char *av_detect_bus_of_block_at(const char *dir, unsigned depth) {
        _cleanup_free_ char *slaves = NULL;
        char target[4096];
        const char *bus = NULL;
        struct dirent *de;
        ssize_t k;
        DIR *d;

        k = readlink(dir, target, sizeof target - 1);
        if (k > 0) {
                target[k] = 0;
                bus = av_media_bus_of(target);
                if (bus)
                        return bus;
        } else if (depth == 0)
                log_debug_errno(errno, "Cannot resolve %s: %m", dir);
        if (depth >= 3 || asprintf(&slaves, "%s/slaves", dir) < 0)
                return NULL;
        d = opendir(slaves);
        if (!d)
                return NULL;
        while (!bus && (de = readdir(d))) {
                _cleanup_free_ char *sub = NULL;
                if (de->d_name[0] == '.' || asprintf(&sub, "%s/%s", slaves, de->d_name) < 0)
                        continue;
                bus = av_detect_bus_of_block_at(sub, depth + 1);
        }
        closedir(d);
        return bus;
}

const char *av_detect_bus_of_block(const char *syspath) {
        return av_detect_bus_of_block_at(syspath, 0);
}

/* Fills d's removable, bus and mount point from the mount that holds raw_path. */
static void av_detect_media(AvDetection *det, const char *raw_path) {
        _cleanup_free_ char *mi = NULL;
        AvMount m = { 0 };
        const char *bus;
        char link[64];
        size_t len = 0;
        int r;

        r = av_detect_read_mountinfo(&mi, &len);
        if (r < 0) {
                log_debug_errno(r, "Cannot read the mount table: %m");
                return;
        }
        if (av_media_mount_of(mi, len, raw_path, &m) < 0)
                return;
        det->mount_point = text_sanitize(m.mount_point, strlen(m.mount_point), TEXT_DEVICE_MAX, NULL);
        (void) snprintf(link, sizeof link, "/sys/dev/block/%u:%u", m.major, m.minor);
        bus = av_detect_bus_of_block_at(link, 0);
        det->removable = bus != NULL;
        if (bus)
                det->bus = strdup(bus);
        av_mount_done(&m);
}

/* ---- events ---- */

static void av_detect_emit_dropped(AvDetect *d) {
        Event *e;

        if (d->n_dropped_pending == 0)
                return;
        e = event_new(EVENT_AV_REPORTS_DROPPED);
        if (!e || (d->policy && event_set_policy_ref(e, d->policy->av.policy_ref) < 0)) {
                event_free(e);
                return (void) log_oom();
        }
        (void) event_set_message(e, "%" PRIu64 " detection reports were over the rate limit and dropped",
                                 d->n_dropped_pending);
        json_key(event_body(e), "antivirus");
        json_object_begin(event_body(e));
        json_kv_uint(event_body(e), "reports_dropped", d->n_dropped_pending);
        json_kv_uint(event_body(e), "reports_dropped_total", d->n_dropped);
        json_kv_uint(event_body(e), "burst", d->limit.burst);
        json_kv_uint(event_body(e), "interval_ms", d->limit.interval / 1000);
        json_object_end(event_body(e));
        d->n_dropped_pending = 0;
        (void) event_emit(&d->emit, e, NULL);
}

static int av_detect_on_drop_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        av_detect_emit_dropped(userdata);
        return 0;
}

static void av_detect_dropped(AvDetect *d) {
        int r;

        d->n_dropped++;
        if (d->n_dropped_pending++ > 0)
                return;
        log_warning("Detection reports come faster than %u at once and one a second: dropping and counting them.",
                    d->limit.burst);
        if (!d->drop_timer) {
                r = sd_event_add_time_relative(d->event, &d->drop_timer, CLOCK_MONOTONIC, AV_DETECT_DROP_WINDOW, 0,
                                               av_detect_on_drop_timer, d);
                if (r < 0)
                        return (void) log_warning_errno(r, "Cannot arm the timer of dropped reports: %m");
                (void) sd_event_source_set_description(d->drop_timer, "av-detect-dropped");
        } else {
                (void) sd_event_source_set_time_relative(d->drop_timer, AV_DETECT_DROP_WINDOW);
                (void) sd_event_source_set_enabled(d->drop_timer, SD_EVENT_ONESHOT);
        }
}

static void av_detect_record(AvDetect *d, AvReport *rep, uid_t uid) {
        AvDetection det = { .at = now_usec(CLOCK_REALTIME), .reporter = uid };
        JsonWriter *w;
        Event *e;

        det.engine = TAKE_PTR(rep->engine);
        det.signature = TAKE_PTR(rep->signature);
        det.path = TAKE_PTR(rep->path);
        if (rep->raw_path)
                av_detect_media(&det, rep->raw_path);

        e = event_new(EVENT_AV_DETECTION);
        if (!e || (d->policy && event_set_policy_ref(e, d->policy->av.policy_ref) < 0)) {
                event_free(e);
                av_detection_done(&det);
                return (void) log_oom();
        }
        (void) event_set_message(e, "%s found %s in %s%s", det.engine, det.signature, det.path ?: "(no path)",
                                 det.removable ? " on removable media" : "");
        w = event_body(e);
        json_key(w, "antivirus");
        json_object_begin(w);
        json_kv_string(w, "engine", det.engine);
        json_kv_string(w, "signature", det.signature);
        json_kv_string(w, "path", det.path);
        if (rep->path_truncated)
                json_kv_bool(w, "path_truncated", true);
        json_kv_uint(w, "reporter_uid", uid);
        json_kv_bool(w, "removable", det.removable);
        if (det.bus)
                json_kv_string(w, "bus", det.bus);
        if (det.mount_point)
                json_kv_string(w, "mount_point", det.mount_point);
        json_object_end(w);

        d->n_detections++;
        d->last_mono = now_usec(CLOCK_MONOTONIC);
        av_detection_done(&d->last);
        d->last = det;
        d->have_last = true;
        memcpy(d->last.event_id, e->id, sizeof d->last.event_id);
        (void) event_emit(&d->emit, e, NULL);
        if (d->hooks.on_detection)
                d->hooks.on_detection(d->hooks.userdata, &d->last);
}

int av_detect_record_local(AvDetect *d, const char *engine, const char *signature, const char *raw_path) {
        _cleanup_(av_report_done) AvReport rep = { 0 };
        bool truncated = false;

        assert(d);
        assert(engine);
        assert(signature);

        rep.engine = strdup(engine);
        rep.signature = text_sanitize(signature, strlen(signature), TEXT_DEVICE_MAX, NULL);
        if (raw_path) {
                rep.raw_path = strdup(raw_path);
                rep.path = text_sanitize(raw_path, strlen(raw_path), TEXT_DEVICE_MAX * 4, &truncated);
                rep.path_truncated = truncated;
        }
        if (!rep.engine || !rep.signature || (raw_path && (!rep.raw_path || !rep.path)))
                return -ENOMEM;
        /* clamd runs VirusEvent for the finding of mamorid's own scan too,
         * and waits for it before it sends the FOUND line: the engine's
         * report came just before. One file, one av.detection. */
        if (d->have_last && rep.path && d->last.path && d->last.engine && d->last.signature &&
            now_usec(CLOCK_MONOTONIC) - d->last_mono < AV_DETECT_SAME_USEC && strcmp(d->last.engine, rep.engine) == 0 &&
            strcmp(d->last.signature, rep.signature) == 0 && strcmp(d->last.path, rep.path) == 0) {
                d->n_duplicates++;
                log_info("%s in %s: already recorded from the engine's own report.", rep.signature, rep.path);
                return 0;
        }
        /* mamorid's own scan: the same limit as the engines' reports. */
        if (!av_report_limit_take(&d->limit, now_usec(CLOCK_MONOTONIC))) {
                av_detect_dropped(d);
                return -EBUSY;
        }
        av_detect_record(d, &rep, 0);
        return 0;
}

/* ---- the socket ---- */

static void av_detect_reply(AvDetect *d, const struct sockaddr_un *sa, socklen_t sa_len, const char *reason) {
        char msg[64];
        int n;

        /* Only a sender that bound an address can hear back; never wait for it. */
        if (sa_len <= offsetof(struct sockaddr_un, sun_path))
                return;
        n = snprintf(msg, sizeof msg, reason ? "refused %s\n" : "ok\n", reason);
        (void) sendto(d->fd, msg, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *) sa, sa_len);
}

static void av_detect_refuse(AvDetect *d, uint64_t *counter, uid_t uid, pid_t pid, const char *reason) {
        (*counter)++;
        /* A sender may try forever: the log gets the first ones, then every thousandth. */
        if (*counter <= 5 || *counter % 1000 == 0)
                log_notice("Detection report from uid %u pid %d refused (%s; %" PRIu64 " so far).", (unsigned) uid,
                           (int) pid, reason, *counter);
}

static void av_detect_one(AvDetect *d, ssize_t n, const struct msghdr *mh) {
        const struct sockaddr_un *sa = mh->msg_name;
        struct ucred cred = { .pid = 0, .uid = (uid_t) -1, .gid = (gid_t) -1 };
        bool have_cred = false;
        _cleanup_(av_report_done) AvReport rep = { 0 };
        const char *reason = NULL;
        int r;

        for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *) mh); c; c = CMSG_NXTHDR((struct msghdr *) mh, c)) {
                if (c->cmsg_level != SOL_SOCKET)
                        continue;
                if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof cred)) {
                        memcpy(&cred, CMSG_DATA(c), sizeof cred);
                        have_cred = true;
                } else if (c->cmsg_type == SCM_RIGHTS) {
                        /* Nobody passes us files: close what came. */
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < k; i++) {
                                int fd;
                                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                                (void) close(fd);
                        }
                }
        }
        if (!have_cred || !av_detect_allowed(d, cred.uid)) {
                av_detect_refuse(d, &d->n_refused, cred.uid, cred.pid, "not an engine's user");
                return av_detect_reply(d, sa, mh->msg_namelen, "not_allowed");
        }
        if (!av_report_limit_take(&d->limit, now_usec(CLOCK_MONOTONIC))) {
                av_detect_dropped(d);
                return av_detect_reply(d, sa, mh->msg_namelen, "rate_limited");
        }
        if (mh->msg_flags & MSG_TRUNC || (size_t) n > AV_REPORT_MAX) {
                av_detect_refuse(d, &d->n_malformed, cred.uid, cred.pid, "too long");
                return av_detect_reply(d, sa, mh->msg_namelen, "too_long");
        }
        r = av_report_parse(d->buf, (size_t) n, &rep, &reason);
        if (r == -ENOMEM) {
                log_oom();
                return av_detect_reply(d, sa, mh->msg_namelen, "oom");
        }
        if (r < 0) {
                av_detect_refuse(d, &d->n_malformed, cred.uid, cred.pid, reason);
                return av_detect_reply(d, sa, mh->msg_namelen, reason);
        }
        av_detect_record(d, &rep, cred.uid);
        av_detect_reply(d, sa, mh->msg_namelen, NULL);
}

static int av_detect_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        AvDetect *d = userdata;

        for (unsigned i = 0; i < AV_DETECT_PER_WAKEUP; i++) {
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
                } control;
                struct sockaddr_un sa = { 0 };
                struct iovec iov = { .iov_base = d->buf, .iov_len = sizeof d->buf };
                struct msghdr mh = {
                        .msg_name = &sa,
                        .msg_namelen = sizeof sa,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = &control,
                        .msg_controllen = sizeof control,
                };
                ssize_t n;

                n = recvmsg(d->fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        log_warning_errno(errno, "Cannot read the detection report socket: %m");
                        return 0;
                }
                av_detect_one(d, n, &mh);
        }
        return 0; /* the rest on the next turn of the loop */
}

int av_detect_new(sd_event *event, const char *runtime_dir, const EventEmitter *emit, const AvDetectHooks *hooks,
                  AvDetect **ret) {
        _cleanup_(av_detect_freep) AvDetect *d = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r;

        assert(event);
        assert(runtime_dir);
        assert(emit);
        assert(ret);

        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->fd = -EBADF;
        d->event = sd_event_ref(event);
        d->emit = *emit;
        if (hooks)
                d->hooks = *hooks;
        av_report_limit_init(&d->limit, AV_DETECT_BURST, AV_DETECT_INTERVAL);
        if (asprintf(&d->path, "%s/%s", runtime_dir, AV_DETECT_SOCKET_NAME) < 0)
                return -ENOMEM;
        if (strlen(d->path) >= sizeof sa.sun_path)
                return log_error_errno(ENAMETOOLONG, "Detection report socket path %s is too long.", d->path);
        strcpy(sa.sun_path, d->path);

        d->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (d->fd < 0)
                return log_error_errno(errno, "Cannot create the detection report socket: %m");
        /* The kernel's word on every sender, whatever it claims. */
        if (setsockopt(d->fd, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)) < 0)
                return log_error_errno(errno, "Cannot ask for the senders' credentials: %m");
        (void) unlink(d->path); /* a previous run's */
        if (bind(d->fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                r = -errno;
                close(d->fd);
                d->fd = -EBADF;
                return log_error_errno(r, "Cannot bind the detection report socket %s: %m", d->path);
        }
        /* Anyone may send (clamd runs as clamav); each datagram's sender is checked. */
        if (chmod(d->path, 0666) < 0)
                return log_error_errno(errno, "Cannot open the detection report socket to the engines: %m");
        r = sd_event_add_io(d->event, &d->io, d->fd, EPOLLIN, av_detect_on_io, d);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the detection report socket: %m");
        (void) sd_event_source_set_description(d->io, "av-detect");
        log_debug("Detection reports on %s", d->path);
        *ret = TAKE_PTR(d);
        return 0;
}

const AvDetection *av_detect_last(const AvDetect *d) {
        return d && d->have_last ? &d->last : NULL;
}

void av_detect_status(const AvDetect *d, JsonWriter *w) {
        char buf[RFC3339_MAX];

        assert(w);
        if (!d)
                return;
        json_key(w, "detections");
        json_object_begin(w);
        json_kv_uint(w, "count", d->n_detections);
        json_kv_uint(w, "refused", d->n_refused);
        json_kv_uint(w, "malformed", d->n_malformed);
        json_kv_uint(w, "dropped", d->n_dropped);
        json_kv_uint(w, "duplicates", d->n_duplicates);
        json_kv_string(w, "socket", d->path);
        if (d->have_last) {
                json_key(w, "last");
                json_object_begin(w);
                json_kv_string(w, "at", format_rfc3339(buf, d->last.at));
                json_kv_string(w, "engine", d->last.engine);
                json_kv_string(w, "signature", d->last.signature);
                json_kv_string(w, "path", d->last.path);
                json_kv_bool(w, "removable", d->last.removable);
                json_object_end(w);
        }
        json_object_end(w);
}
