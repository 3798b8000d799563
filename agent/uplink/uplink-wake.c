/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "uplink-wake.h"

/* Datagrams handled per wakeup: a flood waits for the next iteration. */
#define WAKE_DATAGRAMS_PER_RUN 16

struct UplinkWake {
        sd_event *event;
        UplinkWakeHandlers handlers;
        void *userdata;

        int inotify_fd;
        int watch; /* -1: none */
        char *spool_dir;
        sd_event_source *inotify_source;

        int control_fd;
        char *control_path;
        sd_event_source *control_source;
};

bool uplink_wake_is_flush(const char *text, size_t len, uid_t sender, uid_t self) {
        if (sender != 0 && sender != self)
                return false;
        if (len > 0 && text[len - 1] == '\n')
                len--;
        return len == 5 && memcmp(text, "flush", 5) == 0;
}

static int uplink_wake_on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        UplinkWake *w = userdata;
        /* Aligned as struct inotify_event needs it. */
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;
        bool changed = false, gone = false;
        ssize_t n;

        /* Bounded: at most a few buffers per wakeup; what is left wakes us again. */
        for (int round = 0; round < 8; round++) {
                n = read(fd, u.buf, sizeof u.buf);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                log_warning_errno(errno, "Cannot read inotify events of the spool: %m");
                        break;
                }
                for (char *p = u.buf; p < u.buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;
                        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
                                gone = gone || ev->wd == w->watch;
                        /* A segment being written holds nothing to send until
                         * the committed mark moves: that write wakes us. Half
                         * the wakeups of a commit. */
                        if (!(ev->mask == IN_MODIFY && ev->len > 0 && !streq(ev->name, "committed")))
                                changed = true; /* IN_Q_OVERFLOW included: something changed */
                        p += sizeof *ev + ev->len;
                }
        }
        if (gone) {
                log_warning("The spool directory %s was moved or removed; watching it again.", strna(w->spool_dir));
                if (w->watch >= 0)
                        (void) inotify_rm_watch(w->inotify_fd, w->watch);
                w->watch = -1;
                (void) uplink_wake_watch_spool(w, w->spool_dir);
        }
        if (changed && w->handlers.spool_changed)
                w->handlers.spool_changed(w->userdata);
        return 0;
}

static int uplink_wake_on_control(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        UplinkWake *w = userdata;

        for (int i = 0; i < WAKE_DATAGRAMS_PER_RUN; i++) {
                char buf[UPLINK_WAKE_DATAGRAM_MAX];
                /* Room for the credentials and for a few descriptors, which are closed. */
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(8 * sizeof(int))];
                } control;
                struct iovec iov = { buf, sizeof buf };
                struct msghdr mh = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = &control,
                        .msg_controllen = sizeof control,
                };
                const struct ucred *cred = NULL;
                ssize_t n;

                n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                log_warning_errno(errno, "Cannot read the control socket: %m");
                        return 0;
                }
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                        if (c->cmsg_level != SOL_SOCKET)
                                continue;
                        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
                                cred = (const struct ucred *) (void *) CMSG_DATA(c);
                        else if (c->cmsg_type == SCM_RIGHTS) {
                                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                                for (size_t j = 0; j < k; j++) {
                                        int pass;
                                        memcpy(&pass, CMSG_DATA(c) + j * sizeof(int), sizeof pass);
                                        (void) close(pass);
                                }
                        }
                }
                if (!cred || (size_t) n > sizeof buf || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
                    !uplink_wake_is_flush(buf, (size_t) n, cred->uid, geteuid())) {
                        log_debug("Ignored a datagram of %zd bytes on the control socket from uid %ld.", n,
                                  cred ? (long) cred->uid : -1L);
                        continue;
                }
                log_debug("Flush asked by pid %ld (uid %ld).", (long) cred->pid, (long) cred->uid);
                if (w->handlers.flush)
                        w->handlers.flush(w->userdata);
        }
        return 0;
}

int uplink_wake_new(sd_event *e, const UplinkWakeHandlers *h, void *userdata, UplinkWake **ret) {
        _cleanup_(uplink_wake_freep) UplinkWake *w = NULL;
        int r;

        assert(e);
        assert(h);
        assert(ret);

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->event = sd_event_ref(e);
        w->handlers = *h;
        w->userdata = userdata;
        w->watch = -1;
        w->control_fd = -EBADF;
        w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->inotify_fd < 0)
                return negative_errno();
        r = sd_event_add_io(e, &w->inotify_source, w->inotify_fd, EPOLLIN, uplink_wake_on_inotify, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->inotify_source, "uplink-spool-inotify");
        *ret = TAKE_PTR(w);
        return 0;
}

UplinkWake *uplink_wake_free(UplinkWake *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->inotify_source);
        sd_event_source_disable_unref(w->control_source);
        closep(&w->inotify_fd);
        closep(&w->control_fd);
        if (w->control_path)
                (void) unlink(w->control_path);
        free(w->control_path);
        free(w->spool_dir);
        sd_event_unref(w->event);
        free(w);
        return NULL;
}

int uplink_wake_watch_spool(UplinkWake *w, const char *dir) {
        int wd;

        assert(w);
        assert(dir);

        if (!streq_ptr(w->spool_dir, dir) && free_and_strdup(&w->spool_dir, dir) < 0)
                return log_oom();
        if (w->watch >= 0)
                return 0;
        wd = inotify_add_watch(w->inotify_fd, dir, UPLINK_WAKE_SPOOL_MASK | IN_ONLYDIR | IN_DONT_FOLLOW);
        if (wd < 0)
                return log_error_errno(
                        errno,
                        "Cannot watch the spool directory %s: %m; events are picked up by a retry while the spool cannot be read, and at once at a flush or at SIGHUP (mamorictl flush, systemctl reload mamori-uplink).",
                        dir);
        w->watch = wd;
        log_debug("Watching the spool directory %s.", dir);
        return 0;
}

bool uplink_wake_watching(const UplinkWake *w) {
        return w && w->watch >= 0;
}

int uplink_wake_listen(UplinkWake *w, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int one = 1, r;

        assert(w);
        assert(path);
        assert(w->control_fd < 0);

        if (strlen(path) >= sizeof sa.sun_path)
                return log_error_errno(ENAMETOOLONG, "The control socket path %s is too long.", path);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create the control socket: %m");
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
                return log_error_errno(errno, "Cannot ask for the senders' credentials on the control socket: %m");
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return log_error_errno(errno, "Cannot bind the control socket %s: %m", path);
        /* mamorid (root, but without CAP_DAC_OVERRIDE) must be able to send:
         * who may flush is decided by the sender's credentials, not the mode. */
        if (chmod(path, 0666) < 0)
                return log_error_errno(errno, "Cannot set the mode of the control socket %s: %m", path);
        r = sd_event_add_io(w->event, &w->control_source, fd, EPOLLIN, uplink_wake_on_control, w);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the control socket: %m");
        (void) sd_event_source_set_description(w->control_source, "uplink-control");
        w->control_path = strdup(path);
        if (!w->control_path)
                return log_oom();
        w->control_fd = TAKE_FD(fd);
        return 0;
}
