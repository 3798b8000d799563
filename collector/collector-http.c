/* SPDX-License-Identifier: MIT */
#include "collector-http.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "export.h"
#if HAVE_CONSOLE_FLEET
#include "api-fleet.h"
#else
typedef struct Cdb Cdb;
#endif
#include "ingest.h"
#include "log.h"
#include "macro.h"
#include "ratelimit.h"
#include "sha256.h"
#include "timeutil.h"

#define CONN_NAMES_MAX 16
#define CONN_NAME_MAX 256
#define CONNECTION_HEADROOM 16  /* past max_connections: answered 503 by us, beyond that MHD refuses */
#define RATELIMIT_SENDERS 65536 /* senders remembered by the rate limit */
#define RETRY_AFTER_BUSY "5"
#define RETRY_AFTER_CONNECTIONS "2"
/* TLS session tickets: an agent reconnecting every 15 minutes resumes. GnuTLS
 * derives the key that seals tickets from the master key and moves to a new
 * one every lifetime (accepting the previous one's tickets); the master key
 * itself is made at start, lives in memory only and is replaced daily. */
#define TICKET_LIFETIME_SEC 3600
#define TICKET_MASTER_KEY_MAX_AGE_SEC (24 * 3600)

typedef enum ConnTrust {
        CONN_UNCHECKED,
        CONN_NO_CERT,
        CONN_VERIFIED,
        CONN_REFUSED,
} ConnTrust;

typedef struct Conn {
        struct Conn *prev, *next;
        int fd;
        int64_t since_us; /* the current request's deadline runs from here */
        ConnTrust trust;
        char why[160];
        char fingerprint[2 * SHA256_DIGEST_SIZE + 1];
        char cn[CONN_NAME_MAX];
        char names[CONN_NAMES_MAX][CONN_NAME_MAX];
        const char *name_ptrs[CONN_NAMES_MAX + 1];
        char peer[INET6_ADDRSTRLEN + 8];
        char peer_addr[INET6_ADDRSTRLEN];
} Conn;

struct CollectorServer {
        pthread_mutex_t lock; /* cfg, generation, rl, conns */
        CollectorConfig *cfg;
        unsigned generation;
        RateLimit rl;
        Conn *conns;
        atomic_uint n_conns;
        struct MHD_Daemon *daemons[COLLECTOR_MAX_LISTEN];
        size_t n_daemons;
        pthread_key_t store_key;
        bool key_ok;
        pthread_t maint;
        bool maint_started;
        pthread_cond_t cond;
        bool stopping;
        StoreGroup *group;          /* the worker Stores' group commit (lock) */
        CollectorConfig *group_cfg; /* whose storage config made it */
        gnutls_datum_t ticket_key;  /* under lock; empty: no tickets */
        int64_t ticket_key_born_us;
};

typedef struct ThreadStore {
        Store *store;
        CollectorConfig *cfg; /* the store borrows cfg->findings */
        unsigned generation;
} ThreadStore;

typedef struct Request {
        CollectorConfig *cfg;
        Conn *conn;
        bool events; /* POST /v1/events with its body to come */
        bool answered;
        Ingest in;
        int error; /* -ENOMEM while reading the body */
        int64_t received_us;
} Request;

static int64_t now_us(void) {
        return (int64_t) now_usec(CLOCK_REALTIME);
}

static int64_t mono_us(void) {
        return (int64_t) now_usec(CLOCK_MONOTONIC);
}

static CollectorConfig *server_config(CollectorServer *s, unsigned *ret_generation) {
        CollectorConfig *c;
        pthread_mutex_lock(&s->lock);
        c = collector_config_ref(s->cfg);
        if (ret_generation)
                *ret_generation = s->generation;
        pthread_mutex_unlock(&s->lock);
        return c;
}

CollectorConfig *collector_server_get_config(CollectorServer *s) {
        return server_config(s, NULL);
}

void collector_server_set_config(CollectorServer *s, CollectorConfig *cfg) {
        CollectorConfig *old;
        pthread_mutex_lock(&s->lock);
        old = s->cfg;
        s->cfg = collector_config_ref(cfg);
        s->generation++;
        ratelimit_set(&s->rl, cfg->limits.per_host_rate, cfg->limits.per_host_burst);
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        collector_config_unref(old);
}

/* ---- the per-thread Store ---- */

static void thread_store_free(void *p) {
        ThreadStore *ts = p;
        if (!ts)
                return;
        if (ts->store)
                store_free(ts->store);
        collector_config_unref(ts->cfg);
        free(ts);
}

static bool store_busy(int r) {
        return r == -EBUSY || r == -EAGAIN || r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ENOTCONN;
}

/* The group of the worker Stores of cfg's storage (group commit); a reload
 * that changes the storage config starts a new one. NULL without memory:
 * then the Store commits alone. */
static StoreGroup *server_store_group(CollectorServer *s, CollectorConfig *cfg) {
        const StoreConfig *a, *b = &cfg->store;
        pthread_mutex_lock(&s->lock);
        a = s->group_cfg ? &s->group_cfg->store : NULL;
        if (!s->group || !a || a->backend != b->backend || !streq_ptr(a->sqlite_path, b->sqlite_path) ||
            !streq_ptr(a->pg_conninfo, b->pg_conninfo) || a->busy_timeout_ms != b->busy_timeout_ms) {
                StoreGroup *g = NULL;
                if (store_group_new(&g) >= 0) {
                        store_group_unref(s->group);
                        collector_config_unref(s->group_cfg);
                        s->group = g;
                        s->group_cfg = collector_config_ref(cfg);
                }
        }
        StoreGroup *g = store_group_ref(s->group);
        pthread_mutex_unlock(&s->lock);
        return g;
}

/* This thread's Store, (re)opened when the configuration changed. */
static int thread_store(CollectorServer *s, Store **ret) {
        ThreadStore *ts = pthread_getspecific(s->store_key);
        unsigned gen;
        int r;

        if (!ts) {
                ts = calloc(1, sizeof *ts);
                if (!ts)
                        return -ENOMEM;
                if (pthread_setspecific(s->store_key, ts) != 0) {
                        free(ts);
                        return -ENOMEM;
                }
        }
        _cleanup_collector_config_ CollectorConfig *cfg = server_config(s, &gen);
        if (ts->store && ts->generation == gen) {
                *ret = ts->store;
                return 0;
        }
        if (ts->store)
                ts->store = store_free(ts->store);
        ts->cfg = collector_config_unref(ts->cfg);
        r = store_open(&cfg->store, &cfg->findings, &ts->store);
        if (r < 0) {
                ts->store = NULL;
                return r;
        }
        _cleanup_store_group_ StoreGroup *g = server_store_group(s, cfg);
        if (g)
                (void) store_join_group(ts->store, g);
        ts->cfg = TAKE_PTR(cfg);
        ts->generation = gen;
        *ret = ts->store;
        return 0;
}

/* A store error this thread cannot recover from in place: drop the
 * connection so that the next request opens a fresh one. */
static void thread_store_reset(CollectorServer *s) {
        ThreadStore *ts = pthread_getspecific(s->store_key);
        if (ts && ts->store)
                ts->store = store_free(ts->store);
}

/* ---- answers ---- */

static enum MHD_Result respond(struct MHD_Connection *mhd, Request *rq, unsigned status, const char *content_type,
                               const char *body, size_t len, const char *const *headers) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(len, (void *) body, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        for (const char *const *h = headers; h && h[0]; h += 2)
                (void) MHD_add_response_header(resp, h[0], h[1]);
        ret = MHD_queue_response(mhd, status, resp);
        MHD_destroy_response(resp);
        if (rq && ret == MHD_YES)
                rq->answered = true;
        return ret;
}

/* {"error":"why"}: the agent keeps the answer of a refused batch (issue 16). */
static enum MHD_Result respond_error(struct MHD_Connection *mhd, Request *rq, unsigned status, const char *why,
                                     const char *const *headers) {
        char body[256];
        size_t n = 0;
        n += (size_t) snprintf(body, sizeof body, "{\"error\":\"");
        for (const char *p = why; *p && n < sizeof body - 4; p++)
                if (*p != '"' && *p != '\\' && (unsigned char) *p >= 0x20 && (unsigned char) *p < 0x7f)
                        body[n++] = *p;
        n += (size_t) snprintf(body + n, sizeof body - n, "\"}\n");
        log_debug("%s: answered %u: %s", rq && rq->conn ? rq->conn->peer : "?", status, why);
        return respond(mhd, rq, status, "application/json", body, MIN(n, sizeof body - 1), headers);
}

/* ---- the client certificate, verified through the TLS session ---- */

static void name_add(Conn *c, size_t *n, const char *s, size_t len) {
        if (*n >= CONN_NAMES_MAX || len == 0 || len >= CONN_NAME_MAX)
                return;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] >= 0x7f)
                        return; /* a name with other bytes never equals a machine_id or a host name */
        memcpy(c->names[*n], s, len);
        c->names[*n][len] = 0;
        c->name_ptrs[*n] = c->names[*n];
        (*n)++;
        c->name_ptrs[*n] = NULL;
}

static void conn_read_names(Conn *c, const gnutls_datum_t *der) {
        gnutls_x509_crt_t crt;
        char buf[CONN_NAME_MAX];
        size_t size, n = 0;

        if (gnutls_x509_crt_init(&crt) < 0)
                return;
        if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) >= 0) {
                size = sizeof buf;
                if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) >= 0 &&
                    size < sizeof buf) {
                        buf[size] = 0;
                        /* size, not strlen: a CN with a NUL inside ("id\0x") is
                         * refused whole, never read as its first part */
                        name_add(c, &n, buf, size);
                        if (n > 0)
                                snprintf(c->cn, sizeof c->cn, "%s", c->names[0]);
                }
                for (unsigned i = 0; i < 64; i++) {
                        unsigned critical;
                        int t;
                        size = sizeof buf - 1;
                        t = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, &critical);
                        if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                                break;
                        if (t == GNUTLS_SAN_DNSNAME || t == GNUTLS_SAN_OTHERNAME || t == GNUTLS_SAN_URI)
                                name_add(c, &n, buf, MIN(size, sizeof buf - 1));
                }
        }
        gnutls_x509_crt_deinit(crt);
}

static void conn_verify(Conn *c, struct MHD_Connection *mhd) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        gnutls_typed_vdata_st purpose = { .type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (void *) GNUTLS_KP_TLS_WWW_CLIENT };
        const gnutls_datum_t *certs;
        gnutls_session_t session;
        unsigned n = 0, status = 0;
        uint8_t digest[SHA256_DIGEST_SIZE];
        int r;

        if (!ci || !ci->tls_session) {
                c->trust = CONN_REFUSED;
                snprintf(c->why, sizeof c->why, "no TLS session");
                return;
        }
        session = ci->tls_session;
        certs = gnutls_certificate_get_peers(session, &n);
        if (!certs || n == 0) {
                c->trust = CONN_NO_CERT;
                snprintf(c->why, sizeof c->why, "no client certificate");
                return;
        }
        r = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
        if (r < 0 || status != 0) {
                gnutls_datum_t out = { 0 };
                c->trust = CONN_REFUSED;
                if (r >= 0 && gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) >= 0) {
                        snprintf(c->why, sizeof c->why, "client certificate not allowed: %s", (const char *) out.data);
                        gnutls_free(out.data);
                } else
                        snprintf(c->why, sizeof c->why, "client certificate not allowed: %s",
                                 r < 0 ? gnutls_strerror(r) : "?");
                return;
        }
        sha256(certs[0].data, certs[0].size, digest);
        sha256_to_hex(digest, c->fingerprint);
        conn_read_names(c, &certs[0]);
        c->trust = CONN_VERIFIED;
        if (gnutls_session_is_resumed(session))
                log_debug("%s: TLS session resumed, client certificate %s verified again.", c->peer, c->cn);
}

/* ---- TLS session tickets ---- */

static void ticket_key_drop(CollectorServer *s) {
        if (s->ticket_key.data) {
                gnutls_memset(s->ticket_key.data, 0, s->ticket_key.size);
                gnutls_free(s->ticket_key.data);
        }
        s->ticket_key = (gnutls_datum_t){ 0 };
}

/* Under s->lock. A new master key once the current one is a day old: the
 * tickets it sealed stop resuming and their clients make one full handshake. */
static int ticket_key_refresh(CollectorServer *s) {
        int64_t now = mono_us();
        gnutls_datum_t key = { 0 };
        int r;

        if (s->ticket_key.data && now - s->ticket_key_born_us < TICKET_MASTER_KEY_MAX_AGE_SEC * (int64_t) USEC_PER_SEC)
                return 0;
        r = gnutls_session_ticket_key_generate(&key);
        if (r < 0) /* keep the old key rather than none */
                return log_warning_errno(EIO, "Cannot make a TLS session ticket key: %s", gnutls_strerror(r));
        ticket_key_drop(s);
        s->ticket_key = key;
        s->ticket_key_born_us = now;
        return 0;
}

/* Under s->lock, before the handshake (MHD made the session, not run it).
 * Resumption does not skip the client certificate's checks: the ticket carries
 * the certificate, and conn_verify() verifies it against the CA again on every
 * connection, resumed or not. Without a ticket key the handshake is a full one. */
static void conn_enable_tickets(CollectorServer *s, struct MHD_Connection *mhd) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        int r;

        if (!ci || !ci->tls_session || ticket_key_refresh(s) < 0 || !s->ticket_key.data)
                return;
        gnutls_db_set_cache_expiration(ci->tls_session, TICKET_LIFETIME_SEC);
        r = gnutls_session_ticket_enable_server(ci->tls_session, &s->ticket_key);
        if (r < 0)
                log_debug("TLS session tickets not enabled: %s", gnutls_strerror(r));
}

/* ---- connections: the list the maintenance thread cuts slow ones from ---- */

static void on_connection(void *cls, struct MHD_Connection *mhd, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
        CollectorServer *s = cls;
        Conn *c = *socket_context;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *fd = MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
                const union MHD_ConnectionInfo *ad = MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                c = calloc(1, sizeof *c);
                if (!c)
                        return; /* answered 500 by the handler */
                c->fd = fd ? fd->connect_fd : -1;
                c->since_us = mono_us();
                snprintf(c->peer, sizeof c->peer, "?");
                if (ad && ad->client_addr) {
                        const struct sockaddr *sa = ad->client_addr;
                        if (sa->sa_family == AF_INET) {
                                const struct sockaddr_in *a = (const void *) sa;
                                inet_ntop(AF_INET, &a->sin_addr, c->peer_addr, sizeof c->peer_addr);
                                snprintf(c->peer, sizeof c->peer, "%s:%u", c->peer_addr, ntohs(a->sin_port));
                        } else if (sa->sa_family == AF_INET6) {
                                const struct sockaddr_in6 *a = (const void *) sa;
                                inet_ntop(AF_INET6, &a->sin6_addr, c->peer_addr, sizeof c->peer_addr);
                                snprintf(c->peer, sizeof c->peer, "[%s]:%u", c->peer_addr, ntohs(a->sin6_port));
                        }
                }
                pthread_mutex_lock(&s->lock);
                conn_enable_tickets(s, mhd);
                c->next = s->conns;
                if (s->conns)
                        s->conns->prev = c;
                s->conns = c;
                pthread_mutex_unlock(&s->lock);
                atomic_fetch_add(&s->n_conns, 1);
                *socket_context = c;
        } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && c) {
                /* under the lock: the maintenance thread never shuts down an fd that was closed */
                pthread_mutex_lock(&s->lock);
                if (c->prev)
                        c->prev->next = c->next;
                else
                        s->conns = c->next;
                if (c->next)
                        c->next->prev = c->prev;
                pthread_mutex_unlock(&s->lock);
                atomic_fetch_sub(&s->n_conns, 1);
                free(c);
                *socket_context = NULL;
        }
}

static void conn_touch(CollectorServer *s, Conn *c) {
        if (!c)
                return;
        pthread_mutex_lock(&s->lock);
        c->since_us = mono_us();
        pthread_mutex_unlock(&s->lock);
}

/* Connections whose request (or TLS handshake, or idle wait) runs past
 * connection_timeout_sec are cut: MHD's own timeout is an idle timeout, which
 * a client trickling a byte now and then never reaches. */
static void reap_slow(CollectorServer *s, unsigned timeout_sec) {
        int64_t now = mono_us(), limit = (int64_t) timeout_sec * (int64_t) USEC_PER_SEC;
        size_t cut = 0;
        pthread_mutex_lock(&s->lock);
        for (Conn *c = s->conns; c; c = c->next)
                if (c->fd >= 0 && c->since_us != INT64_MAX && now - c->since_us > limit) {
                        (void) shutdown(c->fd, SHUT_RDWR);
                        c->since_us = INT64_MAX; /* once */
                        cut++;
                }
        pthread_mutex_unlock(&s->lock);
        if (cut > 0)
                log_info("Cut %zu connection(s) that ran past connection_timeout_sec=%u.", cut, timeout_sec);
}

static void on_completed(void *cls, struct MHD_Connection *mhd, void **con_cls, enum MHD_RequestTerminationCode toe) {
        CollectorServer *s = cls;
        Request *rq = *con_cls;
        if (!rq)
                return;
        conn_touch(s, rq->conn);
        ingest_done(&rq->in);
        collector_config_unref(rq->cfg);
        free(rq);
        *con_cls = NULL;
}

/* ---- the checks before the body ---- */

static bool token_equal(const char *a, size_t alen, const char *b) {
        size_t blen = strlen(b);
        unsigned char d = alen != blen;
        /* constant time in the token's content: every byte of b is compared */
        for (size_t i = 0; i < blen; i++)
                d |= (unsigned char) (b[i] ^ (i < alen ? a[i] : 0));
        return d == 0;
}

static bool bearer_ok(struct MHD_Connection *mhd, char *const *tokens) {
        const char *h = MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        bool ok = false;
        size_t n;
        if (!h || strncasecmp(h, "Bearer ", 7) != 0)
                return false;
        h += 7;
        h += strspn(h, " ");
        n = strcspn(h, " \t");
        for (char *const *t = tokens; t && *t; t++)
                ok |= token_equal(h, n, *t); /* no early exit: which token matched is no signal either */
        return ok;
}

static bool media_type_is(const char *v, const char *want) {
        size_t n = strlen(want);
        return strncasecmp(v, want, n) == 0 && (v[n] == 0 || v[n] == ';' || v[n] == ' ');
}

static void header_sanitize(const char *in, char *out, size_t size) {
        size_t n = 0;
        for (; in && *in && n + 1 < size; in++)
                if ((unsigned char) *in >= 0x20 && (unsigned char) *in < 0x7f)
                        out[n++] = *in;
        out[n] = 0;
}

static enum MHD_Result handle_export(CollectorServer *s, struct MHD_Connection *mhd, Request *rq) {
        const char *after = MHD_lookup_connection_value(mhd, MHD_GET_ARGUMENT_KIND, "after");
        const char *limit_s = MHD_lookup_connection_value(mhd, MHD_GET_ARGUMENT_KIND, "limit");
        ExportPage page;
        size_t limit;
        Store *st;
        int r;

        if (export_parse_limit(limit_s, &limit) < 0)
                return respond_error(mhd, rq, MHD_HTTP_BAD_REQUEST, "limit must be 1..10000", NULL);
        if (after && !export_cursor_ok(after))
                return respond_error(mhd, rq, MHD_HTTP_BAD_REQUEST, "after is not a cursor", NULL);
        r = thread_store(s, &st);
        if (r >= 0)
                r = export_page(st, after, limit, &page);
        if (r < 0) {
                const char *const retry[] = { MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_BUSY, NULL };
                if (!store_busy(r))
                        thread_store_reset(s);
                log_warning_errno(r, "Export after '%s' failed: %m", strempty(after));
                return store_busy(r) ? respond_error(mhd, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "database busy", retry)
                                     : respond_error(mhd, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "export failed", NULL);
        }
        const char *const headers[] = { "X-Mamori-Cursor", page.cursor, NULL };
        enum MHD_Result ret = respond(mhd, rq, MHD_HTTP_OK, "application/x-ndjson", page.buf ? page.buf : "", page.len,
                                      headers);
        export_page_done(&page);
        return ret;
}

/* Everything that can be decided from the headers. Returns MHD_YES with
 * rq->answered when it answered, MHD_YES otherwise to read the body. */
static enum MHD_Result preflight(CollectorServer *s, struct MHD_Connection *mhd, Request *rq, const char *url,
                                 const char *method) {
        const CollectorConfig *cfg = rq->cfg;
        Conn *c = rq->conn;
        const char *v;
        bool is_events = streq(url, "/v1/events"), is_export = streq(url, "/v1/export");

        if (!c)
                return respond_error(mhd, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
        if (atomic_load(&s->n_conns) > cfg->limits.max_connections) {
                const char *const retry[] = { MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_CONNECTIONS, NULL };
                return respond_error(mhd, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "too many connections", retry);
        }
        if (c->trust == CONN_UNCHECKED && cfg->client_ca_pem)
                conn_verify(c, mhd);
        if (c->trust == CONN_REFUSED || (cfg->require_client_cert && c->trust != CONN_VERIFIED))
                return respond_error(mhd, rq, MHD_HTTP_FORBIDDEN, c->why[0] ? c->why : "no client certificate", NULL);

        if (!is_events && !is_export)
                return respond_error(mhd, rq, MHD_HTTP_NOT_FOUND, "no such path", NULL);
        if (is_export) {
                const char *const allow[] = { MHD_HTTP_HEADER_ALLOW, "GET", NULL };
                const char *const auth[] = { MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"mamori-export\"", NULL };
                if (!streq(method, MHD_HTTP_METHOD_GET))
                        return respond_error(mhd, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET", allow);
                /* The export token only: every PC holds a client certificate of the
                 * CA, and the root user of one PC must not read the whole fleet's feed. */
                if (cfg->n_export_tokens == 0)
                        return respond_error(mhd, rq, MHD_HTTP_FORBIDDEN,
                                             "the export is off: no export.token_file in collector.conf", NULL);
                if (!bearer_ok(mhd, cfg->export_tokens))
                        return respond_error(mhd, rq, MHD_HTTP_UNAUTHORIZED, "export token missing or wrong", auth);
                return handle_export(s, mhd, rq);
        }
        if (!streq(method, MHD_HTTP_METHOD_POST)) {
                const char *const allow[] = { MHD_HTTP_HEADER_ALLOW, "POST", NULL };
                return respond_error(mhd, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", allow);
        }
        if (cfg->n_tokens > 0 && !bearer_ok(mhd, cfg->tokens)) {
                const char *const auth[] = { MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"mamori\"", NULL };
                return respond_error(mhd, rq, MHD_HTTP_UNAUTHORIZED, "token missing or wrong", auth);
        }
        {
                unsigned wait;
                char retry_s[16];
                pthread_mutex_lock(&s->lock);
                wait = ratelimit_take(&s->rl, c->fingerprint[0] ? c->fingerprint : c->peer_addr, mono_us());
                pthread_mutex_unlock(&s->lock);
                if (wait > 0) {
                        snprintf(retry_s, sizeof retry_s, "%u", wait);
                        const char *const retry[] = { MHD_HTTP_HEADER_RETRY_AFTER, retry_s, NULL };
                        return respond_error(mhd, rq, MHD_HTTP_TOO_MANY_REQUESTS, "rate limit", retry);
                }
        }
        v = MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
        bool gzip = v && strcasecmp(v, "gzip") == 0;
        if (v && !gzip && strcasecmp(v, "identity") != 0)
                return respond_error(mhd, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Content-Encoding must be gzip or none",
                                     NULL);
        v = MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (v && !media_type_is(v, "application/x-ndjson") && !media_type_is(v, "application/ndjson") &&
            !media_type_is(v, "application/jsonl"))
                return respond_error(mhd, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "Content-Type must be application/x-ndjson", NULL);
        v = MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (v) {
                unsigned long long n = strtoull(v, NULL, 10);
                if (n > cfg->limits.max_body_bytes)
                        return respond_error(mhd, rq, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than max_body_bytes",
                                             NULL);
        }
        ingest_init(&rq->in, &cfg->limits, gzip);
        rq->events = true;
        return MHD_YES;
}

/* ---- the batch ---- */

static enum MHD_Result finish_batch(CollectorServer *s, struct MHD_Connection *mhd, Request *rq) {
        const CollectorConfig *cfg = rq->cfg;
        Conn *c = rq->conn;
        _cleanup_(ingest_batch_done) IngestBatch b = { 0 };
        StoreIngestResult res = { 0 };
        IngestIdentity id = { .require_name_match = cfg->require_name_match,
                              .cert_names = c->trust == CONN_VERIFIED ? c->name_ptrs : NULL };
        char header[128], body[160];
        Store *st;
        int r;

        if (rq->error == -ENOMEM)
                return respond_error(mhd, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
        r = rq->in.status ? -ECANCELED : ingest_finish(&rq->in);
        if (r == -ENOMEM)
                return respond_error(mhd, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
        if (rq->in.status)
                return respond_error(mhd, rq, (unsigned) rq->in.status, rq->in.reason, NULL);
        r = ingest_check(&rq->in, &id, &b);
        if (r < 0)
                return respond_error(mhd, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
        if (b.n_events == 0 && b.n_objects == 0)
                return respond_error(mhd, rq, MHD_HTTP_BAD_REQUEST, "not NDJSON: no line is a JSON object", NULL);

        header_sanitize(MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, "X-Mamori-Batch"), header, sizeof header);
        StoreBatch batch = {
                .received_us = rq->received_us,
                .peer = c->peer,
                .cert_fingerprint = c->trust == CONN_VERIFIED ? c->fingerprint : NULL,
                .cert_name = c->trust == CONN_VERIFIED && c->cn[0] ? c->cn : NULL,
                .batch_header = header[0] ? header : NULL,
                .events = b.events,
                .n_events = b.n_events,
                .rejected = b.rejected,
                .n_rejected = b.n_rejected,
        };
        r = thread_store(s, &st);
        if (r >= 0)
                r = store_ingest(st, &batch, &res);
        if (r < 0) {
                const char *const retry[] = { MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_BUSY, NULL };
                if (store_busy(r)) {
                        log_warning_errno(r, "Batch of %s not stored, answered 503: %m", c->peer);
                        return respond_error(mhd, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "database cannot store now", retry);
                }
                thread_store_reset(s);
                log_error_errno(r, "Batch of %s not stored, answered 500: %m", c->peer);
                return respond_error(mhd, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "storage failed", NULL);
        }
        log_debug("Batch %s of %s: %zu stored, %zu duplicates, %zu conflicts, %zu rejected.", header, c->peer,
                  res.stored, res.duplicates, res.conflicts, b.n_rejected);
        if (b.n_events == 0) /* the rejected lines are kept; the batch can never be stored */
                return respond_error(mhd, rq, MHD_HTTP_UNPROCESSABLE_CONTENT, "no line is a valid mamori event", NULL);
        snprintf(body, sizeof body, "{\"stored\":%zu,\"duplicates\":%zu,\"rejected\":%zu}\n", res.stored,
                 res.duplicates + res.conflicts, b.n_rejected);
        return respond(mhd, rq, MHD_HTTP_OK, "application/json", body, strlen(body), NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mhd, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
        CollectorServer *s = cls;
        Request *rq = *con_cls;

        if (!rq) {
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mhd, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
                rq = calloc(1, sizeof *rq);
                if (!rq)
                        return MHD_NO;
                *con_cls = rq;
                rq->cfg = server_config(s, NULL);
                rq->conn = ci ? ci->socket_context : NULL;
                rq->received_us = now_us();
                conn_touch(s, rq->conn);
                return preflight(s, mhd, rq, url, method);
        }
        if (rq->answered) { /* answered from the headers: the body is not read */
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                if (rq->events && rq->in.status == 0 && rq->error == 0) {
                        int r = ingest_feed(&rq->in, upload_data, *upload_data_size);
                        if (r == -ENOMEM)
                                rq->error = r;
                        else if (r < 0 && rq->in.status) {
                                /* a bomb or an oversized body: answer at once, the rest is not read */
                                *upload_data_size = 0;
                                (void) respond_error(mhd, rq, (unsigned) rq->in.status, rq->in.reason, NULL);
                                return MHD_YES; /* not queued (MHD's state): answered at the end instead */
                        }
                }
                *upload_data_size = 0;
                return MHD_YES;
        }
        conn_touch(s, rq->conn); /* storing and answering get a deadline of their own */
        if (!rq->events)
                return respond_error(mhd, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "unexpected request state", NULL);
        return finish_batch(s, mhd, rq);
}

/* ---- maintenance: slow connections, the sweep, retention ---- */

static void maintenance_run(CollectorServer *s, Store **st, CollectorConfig **st_cfg, unsigned *st_gen,
                            int64_t *next_sweep, int *retention_day, Cdb **fleet) {
        unsigned gen;
        _cleanup_collector_config_ CollectorConfig *cfg = server_config(s, &gen);
        int64_t mono = mono_us(), now = now_us();
        time_t t = (time_t) (now / (int64_t) USEC_PER_SEC);
        struct tm tm;
        int r;

        reap_slow(s, cfg->limits.connection_timeout_sec);
#if HAVE_CONSOLE_FLEET
        /* the console's rollups (api-fleet.c): a bounded share of every
         * tick, and none without a console to read them (turning it on is a
         * restart; the ticks then catch up from the stored high-water row) */
        if (cfg->console.enable) {
                int64_t rolled = console_fleet_maintain(fleet, &cfg->store, 250 * (int64_t) USEC_PER_MSEC);
                if (rolled < 0)
                        log_warning_errno((int) rolled, "Console rollups: %m");
        }
#else
        (void) fleet;
#endif

        if (mono < *next_sweep)
                return;
        *next_sweep = mono + (int64_t) cfg->sweep_interval_sec * (int64_t) USEC_PER_SEC;
        if (!*st || *st_gen != gen) {
                if (*st)
                        *st = store_free(*st);
#if HAVE_CONSOLE_FLEET
                if (*fleet) /* a new config may name another database */
                        *fleet = cdb_free(*fleet);
#endif
                *st_cfg = collector_config_unref(*st_cfg);
                r = store_open(&cfg->store, &cfg->findings, st);
                if (r < 0) {
                        *st = NULL;
                        log_warning_errno(r, "Sweep: cannot open the database: %m");
                        return;
                }
                *st_cfg = collector_config_ref(cfg);
                *st_gen = gen;
        }
        size_t changed = 0;
        r = store_sweep(*st, now, &changed);
        if (r < 0) {
                log_warning_errno(r, "Sweep failed: %m");
                *st = store_free(*st);
                return;
        }
        if (changed > 0)
                log_info("Sweep: %zu finding change(s).", changed);
        localtime_r(&t, &tm);
        if (tm.tm_hour == (int) cfg->retention_hour && tm.tm_yday != *retention_day) {
                uint64_t removed = 0;
                r = store_retention(*st, now, &cfg->retention, &removed);
                if (r < 0)
                        log_warning_errno(r, "Retention failed (tried again at the next sweep): %m");
                else {
                        *retention_day = tm.tm_yday;
                        log_info("Retention removed %" PRIu64 " row(s).", removed);
                }
        }
}

static void *maintenance_thread(void *userdata) {
        CollectorServer *s = userdata;
        Store *st = NULL;
        CollectorConfig *st_cfg = NULL;
        unsigned st_gen = 0;
        int64_t next_sweep = 0;
        int retention_day = -1;
        Cdb *fleet = NULL;

        pthread_mutex_lock(&s->lock);
        while (!s->stopping) {
                struct timespec ts;
                pthread_mutex_unlock(&s->lock);
                maintenance_run(s, &st, &st_cfg, &st_gen, &next_sweep, &retention_day, &fleet);
                pthread_mutex_lock(&s->lock);
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 500 * 1000 * 1000; /* slow connections are cut within half a second of their deadline */
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                if (!s->stopping)
                        (void) pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
        pthread_mutex_unlock(&s->lock);
        if (st)
                store_free(st);
#if HAVE_CONSOLE_FLEET
        if (fleet)
                cdb_free(fleet);
#endif
        collector_config_unref(st_cfg);
        return NULL;
}

/* ---- start and stop ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap) {
        char buf[512];
        vsnprintf(buf, sizeof buf, fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        log_debug("libmicrohttpd: %s", buf);
}

static int start_daemon(CollectorServer *s, const CollectorConfig *cfg, const CollectorListen *l,
                        struct MHD_Daemon **ret) {
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_TLS | MHD_USE_ERROR_LOG;
        struct MHD_OptionItem opts[24];
        size_t n = 0;

        if (l->addr.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
#define OPT(o, v, p) opts[n++] = (struct MHD_OptionItem){ o, (intptr_t) (v), (void *) (p) }
        OPT(MHD_OPTION_SOCK_ADDR, 0, &l->addr);
        OPT(MHD_OPTION_THREAD_POOL_SIZE, cfg->limits.workers, NULL);
        OPT(MHD_OPTION_CONNECTION_LIMIT, cfg->limits.max_connections + CONNECTION_HEADROOM, NULL);
        OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->limits.connection_timeout_sec, NULL);
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, cfg->cert_pem);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, cfg->key_pem);
        OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
        if (cfg->client_ca_pem)
                OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, cfg->client_ca_pem);
        OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, s);
        OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, s);
        OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s);
        OPT(MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL);
        OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
        *ret = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!*ret)
                return log_error_errno(EADDRNOTAVAIL,
                                       "Cannot listen on %s (address in use, or the TLS files unusable).", l->text);
        log_info("Listening on %s%s.", l->text, cfg->client_ca_pem ? " (client certificates verified)" : "");
        return 0;
}

int collector_server_start(CollectorConfig *cfg, CollectorServer **ret) {
        CollectorServer *s = calloc(1, sizeof *s);
        int r;

        if (!s)
                return log_oom();
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        s->cfg = collector_config_ref(cfg);
        atomic_init(&s->n_conns, 0);
        if (ratelimit_init(&s->rl, cfg->limits.per_host_rate, cfg->limits.per_host_burst, RATELIMIT_SENDERS) < 0) {
                collector_server_stop(s);
                return log_oom();
        }
        if (pthread_key_create(&s->store_key, thread_store_free) != 0) {
                collector_server_stop(s);
                return log_oom();
        }
        s->key_ok = true;
        for (size_t i = 0; i < cfg->n_listen; i++) {
                r = start_daemon(s, cfg, &cfg->listen[i], &s->daemons[s->n_daemons]);
                if (r < 0) {
                        collector_server_stop(s);
                        return r;
                }
                s->n_daemons++;
        }
        r = -pthread_create(&s->maint, NULL, maintenance_thread, s);
        if (r < 0) {
                collector_server_stop(s);
                return log_error_errno(r, "Cannot start the maintenance thread: %m");
        }
        s->maint_started = true;
        *ret = s;
        return 0;
}

CollectorServer *collector_server_stop(CollectorServer *s) {
        if (!s)
                return NULL;
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        if (s->maint_started)
                pthread_join(s->maint, NULL);
        /* the workers exit here: each one's Store is closed by the key's destructor */
        for (size_t i = 0; i < s->n_daemons; i++)
                MHD_stop_daemon(s->daemons[i]);
        if (s->key_ok) {
                thread_store_free(pthread_getspecific(s->store_key));
                pthread_key_delete(s->store_key);
        }
        ratelimit_done(&s->rl);
        store_group_unref(s->group);
        collector_config_unref(s->group_cfg);
        ticket_key_drop(s);
        collector_config_unref(s->cfg);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}
