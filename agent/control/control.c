/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <systemd/sd-event.h>

#include "control.h"
#include "log.h"
#include "string-table.h"

/* Every client holds a slot for a bounded time, so that no set of stuck
 * clients locks mamorictl out: the request must come within
 * CONTROL_REQUEST_TIMEOUT_USEC of the connect, the whole reply must be
 * read within CONTROL_REPLY_TIMEOUT_USEC of the request, and a follower
 * whose events wait must read some of them every
 * CONTROL_REPLY_TIMEOUT_USEC. Followers, whose slots are held for as long
 * as they read, take at most half of the slots. */
#define CONTROL_CLIENTS_MAX 32
#define CONTROL_FOLLOWERS_MAX (CONTROL_CLIENTS_MAX / 2)
#define CONTROL_REQUEST_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define CONTROL_REPLY_TIMEOUT_USEC (5 * USEC_PER_SEC)
/* A follower that does not read falls behind; past this it is dropped
 * rather than let the daemon's memory grow. */
#define CONTROL_FOLLOW_BACKLOG_MAX (1024 * 1024)
/* `events N` sends the newest events that fit in this. */
#define CONTROL_REPLY_MAX (4 * 1024 * 1024)
#define CONTROL_EVENTS_DEFAULT 50
/* After a reply, what the peer still sends is read and dropped (closing
 * with unread data would reset the connection and lose the reply), but only
 * this much and this long. */
#define CONTROL_DRAIN_MAX (64 * 1024)
#define CONTROL_DRAIN_TIMEOUT_USEC (2 * USEC_PER_SEC)

typedef struct ControlClient ControlClient;
struct ControlClient {
        ControlClient *next, *prev;
        Control *control;
        int fd;
        sd_event_source *io, *timeout;
        char in[CONTROL_REQUEST_MAX + 1];
        size_t in_len;
        char *out;
        size_t out_len, out_pos;
        bool got_request;
        bool follow;
        bool close_when_written;
        bool draining; /* reply sent and our side shut down: reading the peer's rest until it closes */
        size_t drained;
};

typedef struct RecentEvent {
        char *json;
        size_t len;
} RecentEvent;

struct Control {
        sd_event *event;
        ControlReplyFn reply; /* status, devices, flush, reload */
        void *userdata;
        char *path;
        int fd;
        sd_event_source *listen;
        ControlClient *clients;
        unsigned n_clients;
        unsigned n_followers;
        RecentEvent recent[CONTROL_EVENTS_KEPT];
        size_t recent_start, recent_n;
};

/* ---- requests ---- */

static const char *const control_verb_table[_CONTROL_VERB_MAX] = {
        [CONTROL_STATUS] = "status",   [CONTROL_DEVICES] = "devices",       [CONTROL_EVENTS] = "events",
        [CONTROL_FOLLOW] = "follow",   [CONTROL_FLUSH] = "flush",           [CONTROL_RELOAD] = "reload",
        [CONTROL_INSPECT] = "inspect", [CONTROL_QUARANTINE] = "quarantine",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(control_verb, ControlVerb);

int control_request_parse(const char *line, size_t len, ControlRequest *ret) {
        char buf[CONTROL_REQUEST_MAX + 1], *arg, *end;
        unsigned long n;

        assert(line || len == 0);
        assert(ret);

        if (len > CONTROL_REQUEST_MAX || memchr(line, 0, len))
                return -EBADMSG;
        memcpy(buf, line, len);
        buf[len] = 0;
        if (len > 0 && buf[len - 1] == '\r')
                buf[--len] = 0;

        arg = strchr(buf, ' ');
        if (arg)
                *arg++ = 0;
        for (unsigned v = 0; v < _CONTROL_VERB_MAX; v++) {
                if (!streq(buf, control_verb_table[v]))
                        continue;
                *ret = (ControlRequest){ .verb = (ControlVerb) v, .peer_uid = -1, .peer_login_uid = -1 };
                if (v == CONTROL_QUARANTINE) {
                        /* "engage REASON" or "release REASON"; the reason is the module's to judge */
                        char *reason = arg ? strchr(arg, ' ') : NULL;
                        if (!reason || reason[1] == 0)
                                return -EINVAL;
                        *reason++ = 0;
                        /* Text only: a control byte (a trailing CR among them) would not
                         * survive the request's own framing, so it is refused here. */
                        for (const char *c = reason; *c; c++)
                                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                                        return -EINVAL;
                        if (streq(arg, "release"))
                                ret->release = true;
                        else if (!streq(arg, "engage"))
                                return -EINVAL;
                        strcpy(ret->arg, reason); /* shorter than buf, which has the same size */
                        return 0;
                }
                if (v != CONTROL_EVENTS && v != CONTROL_FOLLOW)
                        return arg ? -EINVAL : 0;
                ret->count = v == CONTROL_EVENTS ? CONTROL_EVENTS_DEFAULT : 0;
                if (!arg)
                        return 0;
                if (arg[0] < '0' || arg[0] > '9')
                        return -EINVAL;
                errno = 0;
                n = strtoul(arg, &end, 10);
                if (errno != 0 || *end != 0)
                        return -EINVAL;
                ret->count = (unsigned) MIN(n, (unsigned long) CONTROL_EVENTS_KEPT);
                return 0;
        }
        return -EINVAL;
}

/* ---- clients ---- */

static ControlClient *control_client_free(ControlClient *cl) {
        Control *c;

        if (!cl)
                return NULL;
        c = cl->control;
        if (cl->prev)
                cl->prev->next = cl->next;
        else if (c->clients == cl)
                c->clients = cl->next;
        if (cl->next)
                cl->next->prev = cl->prev;
        if (c->n_clients-- == CONTROL_CLIENTS_MAX && c->listen)
                (void) sd_event_source_set_enabled(c->listen, SD_EVENT_ON);
        if (cl->follow)
                c->n_followers--;
        sd_event_source_disable_unref(cl->io);
        sd_event_source_disable_unref(cl->timeout);
        if (cl->fd >= 0)
                close(cl->fd);
        free(cl->out);
        free(cl);
        return NULL;
}

static int control_client_update_events(ControlClient *cl) {
        uint32_t ev = 0;
        if (cl->draining)
                ev |= EPOLLIN;
        else if (cl->out_pos < cl->out_len)
                ev |= EPOLLOUT;
        else if (!cl->got_request || cl->follow)
                ev |= EPOLLIN; /* a follower's EOF tells us it went away */
        return sd_event_source_set_io_events(cl->io, ev);
}

/* (Re)arms the client's one timer: it then closes the client after usec. */
static int control_client_arm_timeout(ControlClient *cl, usec_t usec) {
        int r = sd_event_source_set_time_relative(cl->timeout, usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(cl->timeout, SD_EVENT_ONESHOT);
        return r;
}

static int control_client_queue(ControlClient *cl, const char *data, size_t len) {
        size_t pending = cl->out_len - cl->out_pos;
        char *n;

        if (cl->out_pos > 0) {
                memmove(cl->out, cl->out + cl->out_pos, pending);
                cl->out_len = pending;
                cl->out_pos = 0;
        }
        n = realloc(cl->out, cl->out_len + len + 1);
        if (!n)
                return -ENOMEM;
        cl->out = n;
        memcpy(cl->out + cl->out_len, data, len);
        cl->out_len += len;
        cl->out[cl->out_len++] = '\n';
        return 0;
}

static void control_client_queue_json(ControlClient *cl, JsonWriter *w) {
        _cleanup_free_ char *s = NULL;
        size_t len = 0;

        s = json_steal(w, &len);
        if (!s) {
                log_oom();
                cl->close_when_written = true;
                return;
        }
        if (control_client_queue(cl, s, len) < 0)
                log_oom();
}

static void control_client_queue_error(ControlClient *cl, int error, const char *message) {
        JsonWriter w = JSON_WRITER_INIT;
        json_object_begin(&w);
        json_kv_string(&w, "error", message);
        json_kv_int(&w, "errno", error);
        json_object_end(&w);
        control_client_queue_json(cl, &w);
        cl->close_when_written = true;
}

static void control_client_queue_recent(ControlClient *cl, unsigned count) {
        Control *c = cl->control;
        size_t n = 0, bytes = 0;

        /* The newest `count` events, as many as fit in CONTROL_REPLY_MAX. */
        while (n < MIN((size_t) count, c->recent_n)) {
                const RecentEvent *e = &c->recent[(c->recent_start + c->recent_n - 1 - n) % CONTROL_EVENTS_KEPT];
                if (bytes + e->len + 1 > CONTROL_REPLY_MAX)
                        break;
                bytes += e->len + 1;
                n++;
        }
        for (size_t i = c->recent_n - n; i < c->recent_n; i++) {
                const RecentEvent *e = &c->recent[(c->recent_start + i) % CONTROL_EVENTS_KEPT];
                if (control_client_queue(cl, e->json, e->len) < 0) {
                        log_oom();
                        return;
                }
        }
}

static void control_client_handle(ControlClient *cl, const ControlRequest *req) {
        Control *c = cl->control;
        JsonWriter w = JSON_WRITER_INIT;

        log_debug("Control request: %s", control_verb_to_string(req->verb));
        switch (req->verb) {
        case CONTROL_STATUS:
        case CONTROL_DEVICES:
        case CONTROL_FLUSH:
        case CONTROL_RELOAD:
        case CONTROL_INSPECT:
        case CONTROL_QUARANTINE:
                c->reply(c->userdata, req, &w);
                control_client_queue_json(cl, &w);
                break;
        case CONTROL_EVENTS:
                control_client_queue_recent(cl, req->count);
                break;
        case CONTROL_FOLLOW:
                if (cl->control->n_followers >= CONTROL_FOLLOWERS_MAX) {
                        log_notice("Control socket: refused a follower, %u follow already.", cl->control->n_followers);
                        control_client_queue_error(cl, EBUSY, "too many followers: try again later");
                        return;
                }
                control_client_queue_recent(cl, req->count);
                cl->follow = true;
                cl->control->n_followers++;
                return;
        default:
                break;
        }
        cl->close_when_written = true;
}

/* Who asks: the kernel's uid, and the login uid of its process (the admin
 * behind sudo), both recorded with a quarantine's release. */
static void control_peer_ids(int fd, ControlRequest *req) {
        struct ucred cred;
        socklen_t l = sizeof cred;
        char path[64], buf[16];
        ssize_t n;
        int pfd;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0 || l != sizeof cred)
                return;
        req->peer_uid = cred.uid;
        (void) snprintf(path, sizeof path, "/proc/%d/loginuid", (int) cred.pid);
        pfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (pfd < 0)
                return;
        n = read(pfd, buf, sizeof buf - 1);
        close(pfd);
        if (n > 0) {
                unsigned long v;
                char *end;
                buf[n] = 0;
                errno = 0;
                v = strtoul(buf, &end, 10);
                /* 4294967295: no login uid (not set) */
                if (errno == 0 && end != buf && (*end == 0 || *end == '\n') && v < UINT32_MAX)
                        req->peer_login_uid = (int64_t) v;
        }
}

static int control_client_read(ControlClient *cl) {
        ssize_t l;
        char *nl;

        if (cl->got_request) {
                /* After the request only EOF matters (followers, draining). */
                char sink[4096];
                l = recv(cl->fd, sink, sizeof sink, MSG_DONTWAIT);
                if (l == 0 || (l < 0 && errno != EAGAIN && errno != EINTR))
                        return -ECONNRESET;
                if (l > 0 && cl->draining && (cl->drained += (size_t) l) > CONTROL_DRAIN_MAX) {
                        log_notice("Control socket: dropping a client that sent more than %u bytes after its reply.",
                                   (unsigned) CONTROL_DRAIN_MAX);
                        return -EMSGSIZE;
                }
                if (l > 0 && !cl->draining) {
                        /* One request a connection: a follower that keeps sending would
                         * only keep the loop busy reading it. */
                        log_notice("Control socket: dropping a follower that sends after its request.");
                        return -EPROTO;
                }
                return 0;
        }

        l = recv(cl->fd, cl->in + cl->in_len, CONTROL_REQUEST_MAX + 1 - cl->in_len, MSG_DONTWAIT);
        if (l < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (l == 0)
                return -ECONNRESET; /* closed before a whole request */
        cl->in_len += (size_t) l;

        nl = memchr(cl->in, '\n', cl->in_len);
        if (!nl) {
                if (cl->in_len > CONTROL_REQUEST_MAX) {
                        cl->got_request = true;
                        control_client_queue_error(cl, EMSGSIZE, "request too long");
                }
                return 0;
        }

        ControlRequest req;
        int r = control_request_parse(cl->in, (size_t) (nl - cl->in), &req);
        cl->got_request = true;
        if (r >= 0)
                control_peer_ids(cl->fd, &req);
        if (r < 0)
                control_client_queue_error(cl, -r,
                                           "unknown request: use status, devices, events [N], follow [N] or flush");
        else
                control_client_handle(cl, &req);
        /* From now on the clock runs for the reply (a follower's: for its backlog). */
        if (cl->follow && cl->out_pos >= cl->out_len)
                return sd_event_source_set_enabled(cl->timeout, SD_EVENT_OFF);
        return control_client_arm_timeout(cl, CONTROL_REPLY_TIMEOUT_USEC);
}

static int control_client_write(ControlClient *cl) {
        size_t before = cl->out_pos;
        int r = 0;

        while (cl->out_pos < cl->out_len) {
                ssize_t l = send(cl->fd, cl->out + cl->out_pos, cl->out_len - cl->out_pos, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (l < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                return -errno;
                        break;
                }
                cl->out_pos += (size_t) l;
        }
        if (cl->out_pos >= cl->out_len)
                cl->out_pos = cl->out_len = 0;
        /* A follower that reads gets a new term; a one-shot reply has one term
         * for all of it, however slowly it is read. */
        if (cl->follow && cl->out_pos != before)
                r = cl->out_len > 0 ? control_client_arm_timeout(cl, CONTROL_REPLY_TIMEOUT_USEC)
                                    : sd_event_source_set_enabled(cl->timeout, SD_EVENT_OFF);
        return r;
}

static int control_on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ControlClient *cl = userdata;
        int r = 0;

        if (revents & EPOLLIN)
                r = control_client_read(cl);
        if (r >= 0 && cl->out_pos < cl->out_len)
                r = control_client_write(cl);
        if (r >= 0 && (revents & (EPOLLERR | EPOLLHUP)) && !(revents & EPOLLIN))
                r = -ECONNRESET;
        if (r < 0) {
                control_client_free(cl);
                return 0;
        }
        if (cl->close_when_written && !cl->draining && cl->out_pos >= cl->out_len) {
                /* The reply is out: EOF to the peer, then wait for its close. */
                cl->draining = true;
                if (shutdown(cl->fd, SHUT_WR) < 0 || control_client_arm_timeout(cl, CONTROL_DRAIN_TIMEOUT_USEC) < 0) {
                        control_client_free(cl);
                        return 0;
                }
        }
        if (control_client_update_events(cl) < 0)
                control_client_free(cl);
        return 0;
}

static int control_on_client_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ControlClient *cl = userdata;

        if (!cl->got_request)
                log_debug("Control client sent no request in time, closing.");
        else if (cl->follow)
                log_notice("Control socket: dropping a follower that read none of its %zu waiting bytes in %llus.",
                           cl->out_len - cl->out_pos, (unsigned long long) (CONTROL_REPLY_TIMEOUT_USEC / USEC_PER_SEC));
        else if (!cl->draining)
                log_notice("Control socket: dropping a client that did not read its reply in %llus (%zu of %zu bytes unread).",
                           (unsigned long long) (CONTROL_REPLY_TIMEOUT_USEC / USEC_PER_SEC), cl->out_len - cl->out_pos,
                           cl->out_len);
        else
                log_debug("Control client did not close in %llus after its reply, closing.",
                          (unsigned long long) (CONTROL_DRAIN_TIMEOUT_USEC / USEC_PER_SEC));
        control_client_free(cl);
        return 0;
}

/* Only root may ask: the socket is 0600, and the kernel's word on the peer
 * is checked too, in case the file mode is ever loosened. */
static bool control_peer_is_root(int fd) {
        struct ucred cred;
        socklen_t l = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0 || l != sizeof cred)
                return false;
        return cred.uid == 0;
}

static int control_on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Control *c = userdata;
        _cleanup_close_ int cfd = -EBADF;
        ControlClient *cl;
        int r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(errno, "Control socket: accept failed: %m");
                return 0;
        }
        cl = calloc(1, sizeof *cl);
        if (!cl)
                return log_oom(), 0;
        cl->control = c;
        cl->fd = TAKE_FD(cfd);
        cl->next = c->clients;
        if (c->clients)
                c->clients->prev = cl;
        c->clients = cl;
        /* At the limit, stop accepting: later clients wait in the backlog
         * (mamorictl gives up after its timeout) until a slot frees. */
        if (++c->n_clients >= CONTROL_CLIENTS_MAX)
                (void) sd_event_source_set_enabled(c->listen, SD_EVENT_OFF);

        r = sd_event_add_io(sd_event_source_get_event(s), &cl->io, cl->fd, EPOLLIN, control_on_client_io, cl);
        if (r >= 0)
                r = sd_event_add_time_relative(sd_event_source_get_event(s), &cl->timeout, CLOCK_MONOTONIC,
                                               CONTROL_REQUEST_TIMEOUT_USEC, USEC_PER_SEC, control_on_client_timeout, cl);
        if (r < 0) {
                log_warning_errno(r, "Control socket: cannot watch a client: %m");
                control_client_free(cl);
                return 0;
        }
        (void) sd_event_source_set_description(cl->io, "control-client");

        if (!control_peer_is_root(cl->fd)) {
                log_notice("Control socket: refused a client that is not root.");
                cl->got_request = true;
                control_client_queue_error(cl, EACCES, "permission denied: only root may talk to mamorid");
                if (control_client_update_events(cl) < 0)
                        control_client_free(cl);
        }
        return 0;
}

/* ---- events ---- */

static char *control_memdup_nul(const char *p, size_t len) {
        char *d = malloc(len + 1);
        if (!d)
                return NULL;
        memcpy(d, p, len);
        d[len] = 0;
        return d;
}

static int control_recorded(void *userdata, const EventRecord *rec) {
        Control *c = userdata;
        const char *json = rec->json;
        size_t len = rec->len;
        RecentEvent *slot;
        char *copy;

        copy = control_memdup_nul(json, len);
        if (!copy)
                return -ENOMEM;
        if (c->recent_n == CONTROL_EVENTS_KEPT) {
                slot = &c->recent[c->recent_start];
                free(slot->json);
                c->recent_start = (c->recent_start + 1) % CONTROL_EVENTS_KEPT;
        } else
                slot = &c->recent[(c->recent_start + c->recent_n++) % CONTROL_EVENTS_KEPT];
        *slot = (RecentEvent){ copy, len };

        for (ControlClient *cl = c->clients, *next; cl; cl = next) {
                next = cl->next;
                if (!cl->follow)
                        continue;
                if (cl->out_len - cl->out_pos > CONTROL_FOLLOW_BACKLOG_MAX) {
                        log_notice("Control socket: dropping a follower that does not read its events.");
                        control_client_free(cl);
                        continue;
                }
                bool was_idle = cl->out_pos >= cl->out_len;
                if (control_client_queue(cl, json, len) < 0 || control_client_update_events(cl) < 0 ||
                    (was_idle && control_client_arm_timeout(cl, CONTROL_REPLY_TIMEOUT_USEC) < 0))
                        control_client_free(cl);
        }
        return 0;
}

EventSink control_sink(Control *c) {
        assert(c);

        return (EventSink){ .name = "control", .recorded = control_recorded, .userdata = c };
}

/* ---- the socket ---- */

Control *control_free(Control *c) {
        if (!c)
                return NULL;
        while (c->clients)
                control_client_free(c->clients);
        sd_event_source_disable_unref(c->listen);
        if (c->fd >= 0) {
                close(c->fd);
                (void) unlink(c->path);
        }
        for (size_t i = 0; i < c->recent_n; i++)
                free(c->recent[(c->recent_start + i) % CONTROL_EVENTS_KEPT].json);
        free(c->path);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

int control_new(sd_event *event, const char *runtime_dir, ControlReplyFn reply, void *userdata, Control **ret) {
        _cleanup_(control_freep) Control *c = calloc(1, sizeof *c);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        mode_t old;
        int r;

        assert(event);
        assert(runtime_dir);
        assert(reply);
        assert(ret);

        if (!c)
                return -ENOMEM;
        c->fd = -EBADF;
        c->event = sd_event_ref(event);
        c->reply = reply;
        c->userdata = userdata;
        if (asprintf(&c->path, "%s/%s", runtime_dir, CONTROL_SOCKET_NAME) < 0)
                return -ENOMEM;
        if (strlen(c->path) >= sizeof sa.sun_path)
                return log_error_errno(ENAMETOOLONG, "Control socket path %s is too long.", c->path);
        strcpy(sa.sun_path, c->path);

        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return log_error_errno(errno, "Cannot create the control socket: %m");
        (void) unlink(c->path); /* a previous run's */
        /* Created 0600 from the start: no moment in which anyone else may connect. */
        old = umask(0177);
        r = bind(c->fd, (struct sockaddr *) &sa, sizeof sa);
        umask(old);
        if (r < 0) {
                r = -errno;
                close(c->fd);
                c->fd = -EBADF;
                return log_error_errno(r, "Cannot bind the control socket %s: %m", c->path);
        }
        if (listen(c->fd, 16) < 0)
                return log_error_errno(errno, "Cannot listen on the control socket: %m");
        r = sd_event_add_io(c->event, &c->listen, c->fd, EPOLLIN, control_on_accept, c);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the control socket: %m");
        (void) sd_event_source_set_description(c->listen, "control-listen");
        log_debug("Control socket listening on %s", c->path);
        *ret = TAKE_PTR(c);
        return 0;
}
