/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ctl.h"

#define CTL_REPLY_LINE_MAX (64u * 1024 * 1024)
#define CTL_TIMEOUT_MS 15000

struct CtlConnection {
        int fd;
        bool quiet;
        const char *path;
        char *buf;
        size_t len, cap;
        bool eof;
};

void ctl_connection_free(CtlConnection *c) {
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        free(c->buf);
        free(c);
}

static int report_connect_error(const char *path, int err, bool quiet) {
        if (quiet)
                return err == EACCES || err == EPERM ? CTL_EXIT_PERMISSION
                       : err == ENOENT || err == ECONNREFUSED ? CTL_EXIT_NOT_RUNNING : CTL_EXIT_FAILURE;
        switch (err) {
        case EACCES:
        case EPERM:
                fprintf(stderr,
                        "mamorictl: permission denied: %s belongs to root; run mamorictl as root (sudo mamorictl ...).\n",
                        path);
                return CTL_EXIT_PERMISSION;
        case ENOENT:
        case ECONNREFUSED:
                fprintf(stderr, "mamorictl: mamorid is not running (cannot connect to %s: %s).\n", path, strerror(err));
                return CTL_EXIT_NOT_RUNNING;
        default:
                fprintf(stderr, "mamorictl: cannot connect to mamorid at %s: %s\n", path, strerror(err));
                return CTL_EXIT_FAILURE;
        }
}

int ctl_connect(const CtlOptions *o, const char *request, CtlConnection **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        CtlConnection *c;
        size_t len = strlen(request);

        if (strlen(o->socket_path) >= sizeof sa.sun_path) {
                fprintf(stderr, "mamorictl: socket path too long: %s\n", o->socket_path);
                return CTL_EXIT_USAGE;
        }
        strcpy(sa.sun_path, o->socket_path);
        c = calloc(1, sizeof *c);
        if (!c)
                return CTL_EXIT_FAILURE;
        c->path = o->socket_path;
        c->quiet = o->quiet;
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int err = errno;
                ctl_connection_free(c);
                return report_connect_error(o->socket_path, err, o->quiet);
        }
        /* The request and its newline in one write: the daemon reads one line. */
        char *line = malloc(len + 2);
        if (!line) {
                ctl_connection_free(c);
                return CTL_EXIT_FAILURE;
        }
        memcpy(line, request, len);
        line[len] = '\n';
        ssize_t l = send(c->fd, line, len + 1, MSG_NOSIGNAL);
        free(line);
        /* A daemon that refuses us may close before reading: its answer is still there to read. */
        if (l != (ssize_t) (len + 1) && !(l < 0 && (errno == EPIPE || errno == ECONNRESET))) {
                fprintf(stderr, "mamorictl: cannot send the request to mamorid: %s\n",
                        l < 0 ? strerror(errno) : "short write");
                ctl_connection_free(c);
                return CTL_EXIT_FAILURE;
        }
        *ret = c;
        return 0;
}

/* Fills the buffer until it holds a whole line or the daemon closed. */
static int fill(CtlConnection *c, int timeout_ms) {
        while (!c->eof && !memchr(c->buf ? c->buf : "", '\n', c->len)) {
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                int r = poll(&p, 1, timeout_ms);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        return -ETIMEDOUT;
                if (c->cap - c->len < 65536) {
                        if (c->cap >= CTL_REPLY_LINE_MAX)
                                return -EMSGSIZE;
                        size_t ncap = c->cap ? c->cap * 2 : 65536 * 2;
                        char *n = realloc(c->buf, ncap);
                        if (!n)
                                return -ENOMEM;
                        c->buf = n;
                        c->cap = ncap;
                }
                ssize_t l = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (l == 0)
                        c->eof = true;
                c->len += (size_t) l;
        }
        return 0;
}

int ctl_read(CtlConnection *c, int timeout_ms, json_object **ret, char **raw) {
        char *nl;
        size_t linelen;
        int r;

        *ret = NULL;
        if (raw)
                *raw = NULL;
        r = fill(c, timeout_ms);
        if (r < 0) {
                if (!c->quiet)
                        fprintf(stderr, "mamorictl: no answer from mamorid: %s\n",
                                r == -ETIMEDOUT ? "timed out" : strerror(-r));
                return -CTL_EXIT_FAILURE;
        }
        nl = c->buf ? memchr(c->buf, '\n', c->len) : NULL;
        if (!nl) {
                if (c->len > 0 && !c->quiet)
                        fprintf(stderr, "mamorictl: mamorid's answer was cut short.\n");
                return c->len > 0 ? -CTL_EXIT_FAILURE : 0;
        }
        linelen = (size_t) (nl - c->buf);

        json_tokener *tok = json_tokener_new_ex(64);
        json_object *o = tok ? json_tokener_parse_ex(tok, c->buf, (int) linelen) : NULL;
        bool complete = tok && json_tokener_get_error(tok) == json_tokener_success &&
                        json_tokener_get_parse_end(tok) == linelen;
        if (tok)
                json_tokener_free(tok);
        if (!o || !complete) {
                if (o)
                        json_object_put(o);
                if (!c->quiet)
                        fprintf(stderr, "mamorictl: mamorid sent something that is not JSON.\n");
                return -CTL_EXIT_FAILURE;
        }
        if (raw) {
                *raw = strndup(c->buf, linelen);
                if (!*raw) {
                        json_object_put(o);
                        return -CTL_EXIT_FAILURE;
                }
        }
        memmove(c->buf, nl + 1, c->len - linelen - 1);
        c->len -= linelen + 1;

        const char *err = json_object_get_type(o) == json_type_object ? jstr(o, "error") : NULL;
        if (err) {
                int e = (int) jint(o, "errno", 0);
                if (!c->quiet)
                        fprintf(stderr, "mamorictl: %s\n", err);
                json_object_put(o);
                if (raw)
                        *raw = mfree(*raw);
                return e == EACCES || e == EPERM ? -CTL_EXIT_PERMISSION : -CTL_EXIT_FAILURE;
        }
        *ret = o;
        return 1;
}

int ctl_call(const CtlOptions *o, const char *request, json_object **ret) {
        _cleanup_(ctl_connection_freep) CtlConnection *c = NULL;
        int r;

        r = ctl_connect(o, request, &c);
        if (r > 0)
                return r;
        r = ctl_read(c, CTL_TIMEOUT_MS, ret, NULL);
        if (r < 0)
                return -r;
        if (r == 0) {
                if (!o->quiet)
                        fprintf(stderr, "mamorictl: mamorid closed the connection without an answer.\n");
                return CTL_EXIT_FAILURE;
        }
        return 0;
}

/* ---- json helpers ---- */

json_object *jget(json_object *o, const char *key) {
        json_object *v = NULL;
        if (!o || json_object_get_type(o) != json_type_object)
                return NULL;
        return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

const char *jstr(json_object *o, const char *key) {
        json_object *v = jget(o, key);
        return v && json_object_get_type(v) == json_type_string ? json_object_get_string(v) : NULL;
}

long long jint(json_object *o, const char *key, long long def) {
        json_object *v = jget(o, key);
        return v && json_object_get_type(v) == json_type_int ? (long long) json_object_get_int64(v) : def;
}

bool jbool(json_object *o, const char *key, bool def) {
        json_object *v = jget(o, key);
        return v && json_object_get_type(v) == json_type_boolean ? json_object_get_boolean(v) : def;
}
