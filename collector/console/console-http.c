/* SPDX-License-Identifier: MIT */
/* console-http.h: the console's listener, static files and API routing. */

#include "console-http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cdb.h"
#include "console-api.h"
#include "console-auth.h"
#include "log.h"
#include "macro.h"
#include "timeutil.h"

#define CONSOLE_THREADS_MAX 4
#define CONSOLE_CONNECTIONS 256
#define CONSOLE_PER_IP_CONNECTIONS 32
#define CONSOLE_TIMEOUT_SEC 30
#define CONSOLE_URI_MAX 8192
#define STATIC_FILE_MAX (16u * 1024u * 1024u)
#define RETRY_AFTER_BUSY "5"

#define HDR_CSP \
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
#define COOKIE_CLEAR "mamori_session=; Max-Age=0; Secure; HttpOnly; SameSite=Strict; Path=/"

struct ConsoleServer {
        pthread_mutex_t lock; /* cfg, generation */
        CollectorConfig *cfg;
        unsigned generation;
        struct MHD_Daemon *daemon;
        pthread_key_t db_key;
        bool key_ok;
};

typedef struct ThreadDb {
        Cdb *db;
        unsigned generation;
} ThreadDb;

typedef struct Req {
        CollectorConfig *cfg;
        char *uri; /* raw, as sent: path and query still escaped */
        bool started, answered, too_big;
        char *body;
        size_t len;
} Req;

static CollectorConfig *server_config(ConsoleServer *s, unsigned *gen) {
        pthread_mutex_lock(&s->lock);
        CollectorConfig *c = collector_config_ref(s->cfg);
        if (gen)
                *gen = s->generation;
        pthread_mutex_unlock(&s->lock);
        return c;
}

void console_server_set_config(ConsoleServer *s, CollectorConfig *cfg) {
        pthread_mutex_lock(&s->lock);
        CollectorConfig *old = s->cfg;
        s->cfg = collector_config_ref(cfg);
        s->generation++;
        pthread_mutex_unlock(&s->lock);
        collector_config_unref(old);
}

int console_set_zone(const char *zone) {
        char tz[80];
        if (!zone || snprintf(tz, sizeof tz, ":%s", zone) >= (int) sizeof tz)
                return -EINVAL;
        if (setenv("TZ", tz, 1) < 0)
                return -errno;
        tzset();
        return 0;
}

/* ---- the per-thread database connection ---- */

static void thread_db_free(void *p) {
        ThreadDb *t = p;
        if (!t)
                return;
        cdb_free(t->db);
        free(t);
}

static bool db_busy(int r) {
        return r == -EBUSY || r == -EAGAIN || r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ENOTCONN;
}

static int thread_db(ConsoleServer *s, Cdb **ret) {
        ThreadDb *t = pthread_getspecific(s->db_key);
        unsigned gen;
        if (!t) {
                t = calloc(1, sizeof *t);
                if (!t)
                        return -ENOMEM;
                if (pthread_setspecific(s->db_key, t) != 0) {
                        free(t);
                        return -ENOMEM;
                }
        }
        _cleanup_collector_config_ CollectorConfig *cfg = server_config(s, &gen);
        if (t->db && t->generation == gen) {
                *ret = t->db;
                return 0;
        }
        t->db = cdb_free(t->db);
        int r = cdb_open(&cfg->store, &t->db);
        if (r < 0) {
                t->db = NULL;
                return r;
        }
        t->generation = gen;
        *ret = t->db;
        return 0;
}

static void thread_db_reset(ConsoleServer *s) {
        ThreadDb *t = pthread_getspecific(s->db_key);
        if (t)
                t->db = cdb_free(t->db);
}

/* ---- answers ---- */

static void add_security_headers(struct MHD_Response *resp, bool api) {
        (void) MHD_add_response_header(resp, "Content-Security-Policy", HDR_CSP);
        (void) MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        (void) MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        (void) MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        (void) MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
        (void) MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
        (void) MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
        (void) MHD_add_response_header(resp, "Cache-Control", api ? "no-store" : "no-cache");
}

static enum MHD_Result queue(struct MHD_Connection *mhd, Req *rq, unsigned status, struct MHD_Response *resp, bool api) {
        if (!resp)
                return MHD_NO;
        add_security_headers(resp, api);
        enum MHD_Result ret = MHD_queue_response(mhd, status, resp);
        MHD_destroy_response(resp);
        if (ret == MHD_YES)
                rq->answered = true;
        return ret;
}

static enum MHD_Result send_reply(struct MHD_Connection *mhd, Req *rq, ConsoleReply *rp, const char *retry_after) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(rp->len, rp->body ? rp->body : (void *) "",
                                                                    MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                       rp->content_type[0] ? rp->content_type : "application/json; charset=utf-8");
        if (rp->filename[0]) {
                char cd[192];
                snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", rp->filename);
                (void) MHD_add_response_header(resp, "Content-Disposition", cd);
        }
        if (rp->set_cookie[0])
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, rp->set_cookie);
        if (retry_after)
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
        return queue(mhd, rq, rp->status ? rp->status : 500, resp, true);
}

static enum MHD_Result send_error(struct MHD_Connection *mhd, Req *rq, unsigned status, const char *code,
                                  const char *message, const char *cookie, const char *retry_after) {
        ConsoleReply rp = { 0 };
        if (console_reply_error(&rp, status, code, message) < 0)
                return MHD_NO;
        if (cookie)
                snprintf(rp.set_cookie, sizeof rp.set_cookie, "%s", cookie);
        enum MHD_Result ret = send_reply(mhd, rq, &rp, retry_after);
        console_reply_done(&rp);
        return ret;
}

/* ---- static files ---- */

static const struct {
        const char *ext, *type;
} mime_types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".json", "application/json; charset=utf-8" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".woff2", "font/woff2" },
        { ".txt", "text/plain; charset=utf-8" },
};

static const char *mime_type(const char *path) {
        const char *dot = strrchr(path, '.');
        if (!dot || strchr(dot, '/'))
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(mime_types); i++)
                if (strcasecmp(dot, mime_types[i].ext) == 0)
                        return mime_types[i].type;
        return NULL;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* The raw path as a name relative to www_dir: decoded, and refused (false)
 * with an escape that is not one, a byte below 0x21, a backslash, or a
 * segment that is empty or begins with '.' (no "..", no hidden files). */
static bool static_name(const char *raw, size_t len, char *out, size_t size) {
        size_t o = 0;
        if (len == 0 || raw[0] != '/')
                return false;
        if (len == 1) {
                snprintf(out, size, "index.html");
                return true;
        }
        for (size_t i = 1; i < len; i++) {
                int c = (unsigned char) raw[i];
                if (c == '%') {
                        int h = i + 2 < len ? unhex(raw[i + 1]) : -1, l = i + 2 < len ? unhex(raw[i + 2]) : -1;
                        if (h < 0 || l < 0)
                                return false;
                        c = h * 16 + l;
                        i += 2;
                }
                if (c < 0x21 || c == 0x7f || c == '\\' || o + 1 >= size)
                        return false;
                out[o++] = (char) c;
        }
        out[o] = 0;
        for (const char *seg = out; seg;) {
                if (*seg == '.' || *seg == '/' || *seg == 0)
                        return false;
                seg = strchr(seg, '/');
                if (seg)
                        seg++;
        }
        return true;
}

/* Without openat2 (an old kernel, a seccomp filter that lacks it): one
 * component at a time, none followed if it is a symbolic link. static_name()
 * has refused "." and ".." already. */
static int open_walk(int dfd, const char *name) {
        char buf[PATH_MAX];
        int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        snprintf(buf, sizeof buf, "%s", name);
        for (char *comp = buf, *next; comp; comp = next) {
                next = strchr(comp, '/');
                if (next)
                        *next++ = 0;
                int nfd = openat(fd, comp,
                                 next ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
                                      : O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                int err = errno;
                close(fd);
                if (nfd < 0)
                        return -err;
                fd = nfd;
        }
        return fd;
}

static int open_beneath(const char *dir, const char *name) {
        int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        long fd = syscall(SYS_openat2, dfd, name, &how, sizeof how);
        int err = fd < 0 ? errno : 0;
        if (fd < 0 && (err == ENOSYS || err == EPERM)) {
                fd = open_walk(dfd, name);
                err = fd < 0 ? (int) -fd : 0;
        }
        close(dfd);
        return fd < 0 ? -err : (int) fd;
}

static enum MHD_Result serve_static(struct MHD_Connection *mhd, Req *rq, const char *method, const char *raw, size_t len) {
        char name[PATH_MAX];
        const char *type;
        struct stat st;

        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD)) {
                struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
                if (resp)
                        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
                return queue(mhd, rq, MHD_HTTP_METHOD_NOT_ALLOWED, resp, false);
        }
        if (!static_name(raw, len, name, sizeof name) || !(type = mime_type(name)))
                goto not_found;
        int fd = open_beneath(rq->cfg->console.www_dir, name);
        if (fd < 0) {
                log_debug("console: static '%s' refused: %s", name, strerror(-fd));
                goto not_found;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t) st.st_size > STATIC_FILE_MAX) {
                close(fd);
                goto not_found;
        }
        /* MHD owns fd from here */
        struct MHD_Response *resp = MHD_create_response_from_fd((size_t) st.st_size, fd);
        if (!resp) {
                close(fd);
                return MHD_NO;
        }
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        return queue(mhd, rq, MHD_HTTP_OK, resp, false);

not_found:;
        static const char body[] = "not found\n";
        struct MHD_Response *nf = MHD_create_response_from_buffer(sizeof body - 1, (void *) body, MHD_RESPMEM_PERSISTENT);
        if (nf)
                (void) MHD_add_response_header(nf, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        return queue(mhd, rq, MHD_HTTP_NOT_FOUND, nf, false);
}

/* ---- the API ---- */

static bool media_type_is(const char *v, const char *want) {
        size_t n = strlen(want);
        return v && strncasecmp(v, want, n) == 0 && (v[n] == 0 || v[n] == ';' || v[n] == ' ');
}

/* A request from a page of another origin: its Origin names another host
 * than the one it asked (a browser sets both; a script without Origin is
 * not a browser's cross-site request), or, lacking Origin, the browser says
 * cross-site. */
static bool foreign_origin(struct MHD_Connection *mhd) {
        const char *origin = MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, "Origin");
        const char *host = MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        if (origin) {
                if (!host || strncasecmp(origin, "https://", 8) != 0)
                        return true;
                return strcasecmp(origin + 8, host) != 0;
        }
        const char *site = MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, "Sec-Fetch-Site");
        return site && strcasecmp(site, "cross-site") == 0;
}

static void peer_address(struct MHD_Connection *mhd, char *buf, size_t size) {
        const union MHD_ConnectionInfo *ad = MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        snprintf(buf, size, "?");
        if (!ad || !ad->client_addr)
                return;
        if (ad->client_addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) (const void *) ad->client_addr)->sin_addr, buf,
                          (socklen_t) size);
        else if (ad->client_addr->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) (const void *) ad->client_addr)->sin6_addr, buf,
                          (socklen_t) size);
}

static const ConsoleRoute *const *route_tables(void) {
        static const ConsoleRoute *const tables[] = { console_routes_auth, console_routes_events, console_routes_fleet,
                                                      NULL };
        return tables;
}

/* The route for method and path; *path_known when another method has one. */
static const ConsoleRoute *route_find(const char *method, const char *path, bool *path_known) {
        *path_known = false;
        for (const ConsoleRoute *const *t = route_tables(); *t; t++)
                for (const ConsoleRoute *r = *t; r->method; r++)
                        if (console_route_match(r->pattern, path)) {
                                if (streq(r->method, method))
                                        return r;
                                *path_known = true;
                        }
        return NULL;
}

static enum MHD_Result serve_api(ConsoleServer *s, struct MHD_Connection *mhd, Req *rq, const char *method,
                                 const char *path, const char *query) {
        const CollectorConfig *cfg = rq->cfg;
        ConsoleSession session = { 0 };
        const char *cookie = NULL;
        char peer[INET6_ADDRSTRLEN];
        bool post = streq(method, MHD_HTTP_METHOD_POST), known;
        Cdb *db = NULL;
        int r;

        if (foreign_origin(mhd))
                return send_error(mhd, rq, MHD_HTTP_FORBIDDEN, "origin", "a request from another origin", NULL, NULL);
        if (rq->too_big)
                return send_error(mhd, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "the body is too large", NULL, NULL);
        const ConsoleRoute *route = route_find(method, path, &known);
        if (!route)
                return known ? send_error(mhd, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "method", "method not allowed", NULL, NULL)
                             : send_error(mhd, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such route", NULL, NULL);
        if (post && !media_type_is(MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
                                   "application/json"))
                return send_error(mhd, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "content_type",
                                  "Content-Type must be application/json", NULL, NULL);

        ConsoleSessionLimits lim = { .idle_us = (int64_t) cfg->console.idle_timeout_min * 60 * 1000000,
                                     .max_us = (int64_t) cfg->console.session_max_hours * 3600 * 1000000 };
        int64_t now = (int64_t) now_usec(CLOCK_REALTIME);
        r = thread_db(s, &db);
        if (r >= 0 && route->role != CONSOLE_ROLE_NONE) {
                cookie = MHD_lookup_connection_value(mhd, MHD_COOKIE_KIND, "mamori_session");
                r = cookie ? console_session_get(db, &lim, cookie, now, &session) : -ENOENT;
                if (r == -ENOENT)
                        return send_error(mhd, rq, MHD_HTTP_UNAUTHORIZED, "no_session", "log in first", COOKIE_CLEAR,
                                          NULL);
        }
        if (r < 0) {
                if (!db_busy(r))
                        thread_db_reset(s);
                log_warning_errno(r, "console: %s %s: the database: %m", method, path);
                return db_busy(r) ? send_error(mhd, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
                                               "the database is busy; try again", NULL, RETRY_AFTER_BUSY)
                                  : send_error(mhd, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                               "the database failed", NULL, NULL);
        }
        if (route->role != CONSOLE_ROLE_NONE && session.role < route->role)
                return send_error(mhd, rq, MHD_HTTP_FORBIDDEN, "forbidden", "your role may not do this", NULL, NULL);
        if (post && route->role != CONSOLE_ROLE_NONE &&
            !console_token_equal(MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, "X-CSRF-Token"), session.csrf))
                return send_error(mhd, rq, MHD_HTTP_FORBIDDEN, "csrf", "the X-CSRF-Token header is missing or wrong",
                                  NULL, NULL);

        peer_address(mhd, peer, sizeof peer);
        ConsoleRequest creq = {
                .method = method,
                .path = path,
                .query = query,
                .body = post ? (rq->body ? rq->body : "") : NULL,
                .body_len = post ? rq->len : 0,
                .session = route->role != CONSOLE_ROLE_NONE ? &session : NULL,
                .db = db,
                .zone = cfg->console.zone,
                .peer = peer,
                .now_us = now,
                .session_idle_us = lim.idle_us,
                .session_max_us = lim.max_us,
                .session_cookie = cookie,
        };
        ConsoleReply rp = { 0 };
        r = route->fn(&creq, &rp);
        if (r < 0 || rp.status == 0) {
                console_reply_done(&rp);
                if (r < 0 && !db_busy(r) && r != -ENOMEM)
                        thread_db_reset(s);
                log_warning_errno(r < 0 ? r : -EINVAL, "console: %s %s failed: %m", method, path);
                return db_busy(r) ? send_error(mhd, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
                                               "the database is busy; try again", NULL, RETRY_AFTER_BUSY)
                                  : send_error(mhd, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "internal error",
                                               NULL, NULL);
        }
        /* 429 and 503 from a handler: how long, from the body's retry_after if any */
        char retry[16] = "";
        if (rp.status == MHD_HTTP_TOO_MANY_REQUESTS || rp.status == MHD_HTTP_SERVICE_UNAVAILABLE) {
                json_object *o = rp.body ? json_tokener_parse(rp.body) : NULL, *e, *v;
                int64_t sec = 60;
                if (o && json_object_object_get_ex(o, "error", &e) && json_object_object_get_ex(e, "retry_after", &v))
                        sec = json_object_get_int64(v);
                json_object_put(o);
                snprintf(retry, sizeof retry, "%" PRId64, MIN(MAX(sec, (int64_t) 1), (int64_t) 86400));
        }
        enum MHD_Result ret = send_reply(mhd, rq, &rp, retry[0] ? retry : NULL);
        console_reply_done(&rp);
        return ret;
}

static enum MHD_Result dispatch(ConsoleServer *s, struct MHD_Connection *mhd, Req *rq, const char *method) {
        const char *raw = rq->uri ? rq->uri : "/";
        size_t plen = strcspn(raw, "?#");
        const char *query = raw[plen] == '?' ? raw + plen + 1 : NULL;

        if (plen >= 7 && strncmp(raw, "/api/v1", 7) == 0 && (plen == 7 || raw[7] == '/')) {
                char path[CONSOLE_URI_MAX];
                snprintf(path, sizeof path, "%.*s", (int) (plen - 7), raw + 7);
                if (!path[0])
                        snprintf(path, sizeof path, "/");
                return serve_api(s, mhd, rq, method, path, query);
        }
        return serve_static(mhd, rq, method, raw, plen);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mhd, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
        ConsoleServer *s = cls;
        Req *rq = *con_cls;
        (void) url;
        (void) version;

        if (!rq)
                return MHD_NO; /* the URI callback could not allocate */
        if (!rq->started) {
                rq->started = true;
                rq->cfg = server_config(s, NULL);
                if (!rq->uri || strlen(rq->uri) >= CONSOLE_URI_MAX)
                        return send_error(mhd, rq, MHD_HTTP_URI_TOO_LONG, "bad_request", "the URI is too long", NULL,
                                          NULL);
                if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD) &&
                    !streq(method, MHD_HTTP_METHOD_POST))
                        return send_error(mhd, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "method", "method not allowed", NULL,
                                          NULL);
                const char *cl = MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (cl && strtoull(cl, NULL, 10) > CONSOLE_BODY_MAX)
                        return send_error(mhd, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "the body is too large",
                                          NULL, NULL);
                return MHD_YES;
        }
        if (rq->answered) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                if (!rq->too_big && rq->len + *upload_data_size <= CONSOLE_BODY_MAX) {
                        char *b = realloc(rq->body, rq->len + *upload_data_size + 1);
                        if (!b)
                                return MHD_NO;
                        memcpy(b + rq->len, upload_data, *upload_data_size);
                        rq->len += *upload_data_size;
                        b[rq->len] = 0;
                        rq->body = b;
                } else
                        rq->too_big = true;
                *upload_data_size = 0;
                return MHD_YES;
        }
        return dispatch(s, mhd, rq, method);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mhd) {
        (void) cls;
        (void) mhd;
        Req *rq = calloc(1, sizeof *rq);
        if (rq)
                rq->uri = strndup(uri ? uri : "/", CONSOLE_URI_MAX);
        return rq;
}

static void on_completed(void *cls, struct MHD_Connection *mhd, void **con_cls, enum MHD_RequestTerminationCode toe) {
        (void) cls;
        (void) mhd;
        (void) toe;
        Req *rq = *con_cls;
        if (!rq)
                return;
        collector_config_unref(rq->cfg);
        free(rq->uri);
        if (rq->body) {
                explicit_bzero(rq->body, rq->len); /* a login's password */
                free(rq->body);
        }
        free(rq);
        *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
        (void) cls;
        char buf[512];
        vsnprintf(buf, sizeof buf, fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        log_debug("console: libmicrohttpd: %s", buf);
}

int console_server_start(CollectorConfig *cfg, ConsoleServer **ret) {
        const CollectorConsole *k = &cfg->console;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_TLS | MHD_USE_ERROR_LOG;
        struct MHD_OptionItem opts[16];
        size_t n = 0;

        if (!k->cert_pem || !k->key_pem)
                return log_error_errno(-EINVAL, "The console needs a certificate and a key (console.cert, .key).");
        ConsoleServer *s = calloc(1, sizeof *s);
        if (!s)
                return log_oom();
        pthread_mutex_init(&s->lock, NULL);
        s->cfg = collector_config_ref(cfg);
        if (pthread_key_create(&s->db_key, thread_db_free) != 0) {
                console_server_stop(s);
                return log_oom();
        }
        s->key_ok = true;
        if (k->addr.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
#define OPT(o, v, p) opts[n++] = (struct MHD_OptionItem){ o, (intptr_t) (v), (void *) (p) }
        OPT(MHD_OPTION_SOCK_ADDR, 0, &k->addr);
        OPT(MHD_OPTION_THREAD_POOL_SIZE, MIN(cfg->limits.workers, (unsigned) CONSOLE_THREADS_MAX), NULL);
        OPT(MHD_OPTION_CONNECTION_LIMIT, CONSOLE_CONNECTIONS, NULL);
        OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, CONSOLE_PER_IP_CONNECTIONS, NULL);
        OPT(MHD_OPTION_CONNECTION_TIMEOUT, CONSOLE_TIMEOUT_SEC, NULL);
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, k->cert_pem);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, k->key_pem);
        OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
        OPT(MHD_OPTION_URI_LOG_CALLBACK, on_uri, s);
        OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, s);
        OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s);
        OPT(MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL);
        OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
        s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!s->daemon) {
                console_server_stop(s);
                return log_error_errno(EADDRNOTAVAIL,
                                       "The console cannot listen on %s port %u (address in use, or the TLS files "
                                       "unusable).",
                                       k->listen_text, k->port);
        }
        log_info("Console listening on %s port %u (zone %s).", k->listen_text, k->port, k->zone);
        *ret = s;
        return 0;
}

ConsoleServer *console_server_stop(ConsoleServer *s) {
        if (!s)
                return NULL;
        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        if (s->key_ok) {
                thread_db_free(pthread_getspecific(s->db_key));
                pthread_key_delete(s->db_key);
        }
        collector_config_unref(s->cfg);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}
