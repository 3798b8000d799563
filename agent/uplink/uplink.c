/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "config-paths.h"
#include "curl-event.h"
#include "dead-letter.h"
#include "json.h"
#include "log.h"
#include "retry.h"
#include "text.h"
#include "trusted-file.h"
#include "uplink.h"

/* A batch is at most this much NDJSON before compression. */
#define BATCH_MAX_BYTES (1024u * 1024u)
/* Of the collector's answer, this much is kept (dead-letter file, logs). */
#define RESPONSE_MAX 4096u
#define TOKEN_MAX 4096u
/* ca_file, client_cert, client_key, a pin's key file */
#define TLS_FILE_MAX (4u * 1024u * 1024u)
/* The collector may ask for a pause; not longer than this. */
#define RETRY_AFTER_MAX (3600 * USEC_PER_SEC)
/* The journal message of a change of the refused state (units/mamori.catalog). */
#define UPLINK_REFUSED_MESSAGE_ID "0f5906adbe5746879f308317c6bd129f"
/* Below everything that records events: delivery waits for recording. */
#define UPLINK_PRIORITY (SD_EVENT_PRIORITY_NORMAL + 10)

struct Uplink {
        sd_event *event;
        Spool *spool;
        CurlEvent *glue;
        CURL *easy;
        bool easy_stale; /* settings changed: build a new handle for the next request */
        struct curl_slist *headers;

        CollectorSettings cfg;
        bool configured;   /* a url, and every file it needs was read */
        char *spool_error; /* the spool cannot be read: why */
        UplinkChanged changed;
        void *changed_userdata;
        char *auth_header;
        /* The TLS files, read (and trusted) when configured, given to curl
         * from memory: curl never opens a file by name. */
        char *ca_pem, *cert_pem, *key_pem, *pin;
        size_t ca_len, cert_len, key_len;
        char *state_dir, *dead_letter_path;
        DeadLetter *dead; /* NULL: its directories cannot be opened (yet) */
        uint64_t dead_letter_max;
        /* The batch out came from resend/ (mamorictl dead-letter resend), not the spool. */
        char *resend_name;
        DeadLetterInfo resend_info;
        bool resend_check; /* resend/ may hold batches: look before the spool */

        UplinkState state;
        SpoolBatch batch; /* the batch out */
        uint8_t *body;    /* what is sent: the batch, or it gzipped */
        size_t body_len;
        char response[RESPONSE_MAX + 1];
        size_t response_len;
        char errbuf[CURL_ERROR_SIZE];
        unsigned batch_limit;

        sd_event_source *retry_timer;
        bool retry_asked; /* the wait comes from Retry-After */
        unsigned failures;
        usec_t last_success, last_attempt, next_attempt;
        long last_status;
        char *last_error;
        /* The collector refuses us (RETRY_REFUSED): batches wait. Ends at the
         * next HTTP answer of another class; no answer at all changes nothing. */
        long refused_status; /* 0: not refused */
        usec_t refused_since;
        char *refused_answer;
        uint64_t events_sent, batches_sent, batches_rejected, events_rejected, bytes_sent;
};

static void uplink_send_next(Uplink *u);

static void uplink_changed(Uplink *u) {
        if (u->changed)
                u->changed(u, u->changed_userdata);
}

/* ---- helpers ---- */

static void uplink_set_error(Uplink *u, const char *msg) {
        (void) free_and_strdup(&u->last_error, msg);
}

static void uplink_drop_body(Uplink *u) {
        if (u->body != (uint8_t *) u->batch.data)
                free(u->body);
        u->body = NULL;
        u->body_len = 0;
        spool_batch_done(&u->batch);
}

static int uplink_gzip_batch(const char *in, size_t len, uint8_t **ret, size_t *ret_len) {
        z_stream z = { 0 };
        _cleanup_free_ uint8_t *out = NULL;
        uLong bound;
        int r;

        /* windowBits 15 + 16: a gzip wrapper, as Content-Encoding: gzip means. */
        if (deflateInit2(&z, 3, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return -ENOMEM;
        bound = deflateBound(&z, (uLong) len);
        out = malloc(bound);
        if (!out) {
                deflateEnd(&z);
                return -ENOMEM;
        }
        z.next_in = (Bytef *) in;
        z.avail_in = (uInt) len;
        z.next_out = out;
        z.avail_out = (uInt) bound;
        r = deflate(&z, Z_FINISH);
        *ret_len = z.total_out;
        deflateEnd(&z);
        if (r != Z_STREAM_END)
                return -EIO;
        *ret = TAKE_PTR(out);
        return 0;
}

static size_t uplink_on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        Uplink *u = userdata;
        size_t n = size * nmemb, room = RESPONSE_MAX - u->response_len;
        memcpy(u->response + u->response_len, ptr, MIN(n, room));
        u->response_len += MIN(n, room);
        u->response[u->response_len] = 0;
        return n; /* the rest is read and forgotten */
}

/* Frees a buffer that held a secret. */
static void uplink_free_secret(char **p, size_t len) {
        if (*p) {
                explicit_bzero(*p, len);
                free(*p);
                *p = NULL;
        }
}

/* The bearer token: a trusted file only root may read, one line of visible ASCII. */
static int uplink_read_token(const char *path, char **ret, char **ret_why) {
        _cleanup_free_ char *why = NULL;
        char *buf = NULL;
        size_t n = 0, len;
        int r;

        r = trust_read_file(path, TOKEN_MAX + 2, TRUST_SECRET, &buf, &n, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return asprintf(ret_why, "token_file %s: %s", path, strna(why)) < 0 ? -ENOMEM : r;
        len = n;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
                n--;
        buf[n] = 0;
        r = 0;
        if (n > TOKEN_MAX)
                r = asprintf(ret_why, "token_file %s is longer than %u bytes", path, TOKEN_MAX) < 0 ? -ENOMEM : -E2BIG;
        else if (n == 0)
                r = asprintf(ret_why, "token_file %s is empty", path) < 0 ? -ENOMEM : -EINVAL;
        for (size_t i = 0; r == 0 && i < n; i++)
                if (buf[i] < 0x21 || buf[i] > 0x7e)
                        r = asprintf(ret_why, "token_file %s must hold one token of visible ASCII characters", path) < 0
                                    ? -ENOMEM
                                    : -EINVAL;
        if (r == 0 && asprintf(ret, "Authorization: Bearer %s", buf) < 0)
                r = -ENOMEM;
        uplink_free_secret(&buf, len);
        return r;
}

/* CURLOPT_PINNEDPUBLICKEY would read a key file by name: the file is read
 * here, as a trusted file, and turned into curl's "sha256//BASE64" form (the
 * SHA-256 of the key's DER SubjectPublicKeyInfo, what curl computes). */
static int uplink_pin_from_file(const char *path, char **ret, char **ret_why) {
        _cleanup_free_ char *text = NULL, *why = NULL;
        unsigned char *der = NULL, md[EVP_MAX_MD_SIZE], b64[4 * ((32 + 2) / 3) + 1];
        unsigned mdlen = 0;
        EVP_PKEY *key = NULL;
        size_t len = 0;
        BIO *bio;
        int r, n;

        r = trust_read_file(path, TLS_FILE_MAX, 0, &text, &len, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return asprintf(ret_why, "pin %s: %s", path, strna(why)) < 0 ? -ENOMEM : r;
        bio = BIO_new_mem_buf(text, (int) len);
        if (!bio)
                return -ENOMEM;
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!key) {
                const unsigned char *p = (const unsigned char *) text;
                key = d2i_PUBKEY(NULL, &p, (long) len);
        }
        if (!key)
                return asprintf(ret_why, "pin %s holds no public key (PEM \"PUBLIC KEY\" or DER)", path) < 0 ? -ENOMEM
                                                                                                             : -EINVAL;
        n = i2d_PUBKEY(key, &der);
        EVP_PKEY_free(key);
        if (n <= 0)
                return -ENOMEM;
        r = EVP_Digest(der, (size_t) n, md, &mdlen, EVP_sha256(), NULL) && mdlen == 32 ? 0 : -EIO;
        OPENSSL_free(der);
        if (r < 0)
                return r;
        EVP_EncodeBlock(b64, md, 32);
        return asprintf(ret, "sha256//%s", b64) < 0 ? -ENOMEM : 0;
}

/* Reads every file the TLS connection needs; on a problem nothing changes
 * and *ret_why says which. */
static int uplink_load_tls_files(Uplink *u, char **ret_why) {
        const CollectorSettings *c = &u->cfg;
        _cleanup_free_ char *ca = NULL, *cert = NULL, *pin = NULL, *why = NULL;
        char *key = NULL;
        size_t ca_len = 0, cert_len = 0, key_len = 0;
        const char *which = NULL, *path = NULL;
        int r = 0;

        if (c->ca_file) {
                which = "ca_file", path = c->ca_file;
                r = trust_read_file(c->ca_file, TLS_FILE_MAX, 0, &ca, &ca_len, &why);
        }
        if (r >= 0 && c->client_cert) {
                which = "client_cert", path = c->client_cert;
                r = trust_read_file(c->client_cert, TLS_FILE_MAX, 0, &cert, &cert_len, &why);
        }
        if (r >= 0 && c->client_key) {
                which = "client_key", path = c->client_key;
                r = trust_read_file(c->client_key, TLS_FILE_MAX, TRUST_SECRET, &key, &key_len, &why);
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return asprintf(ret_why, "%s %s: %s", which, path, strna(why)) < 0 ? -ENOMEM : r;
        if (c->pin && c->pin[0] == '/') {
                r = uplink_pin_from_file(c->pin, &pin, ret_why);
                if (r < 0) {
                        uplink_free_secret(&key, key_len);
                        return r;
                }
        }
        free(u->ca_pem);
        free(u->cert_pem);
        uplink_free_secret(&u->key_pem, u->key_len);
        free(u->pin);
        u->ca_pem = TAKE_PTR(ca), u->ca_len = ca_len;
        u->cert_pem = TAKE_PTR(cert), u->cert_len = cert_len;
        u->key_pem = key, u->key_len = key_len;
        u->pin = TAKE_PTR(pin);
        return 0;
}

static uint64_t uplink_random_u64(void) {
        uint64_t v = 0;
        if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
                v = now_usec(CLOCK_MONOTONIC) * 6364136223846793005ULL;
        return v;
}

static char *uplink_format_duration(char buf[static 32], usec_t d) {
        if (d < 10 * USEC_PER_SEC)
                snprintf(buf, 32, "%.1fs", (double) d / USEC_PER_SEC);
        else if (d < 120 * USEC_PER_SEC)
                snprintf(buf, 32, "%" PRIu64 "s", (d + USEC_PER_SEC / 2) / USEC_PER_SEC);
        else
                snprintf(buf, 32, "%" PRIu64 "min", (d + 30 * USEC_PER_SEC) / (60 * USEC_PER_SEC));
        return buf;
}

/* ---- the easy handle ---- */

static int uplink_build_easy(Uplink *u) {
        const CollectorSettings *c = &u->cfg;
        /* curl copies blobs (CURL_BLOB_COPY): they need not outlive the call. */
        struct curl_blob ca = { u->ca_pem, u->ca_len, CURL_BLOB_COPY },
                         cert = { u->cert_pem, u->cert_len, CURL_BLOB_COPY },
                         key = { u->key_pem, u->key_len, CURL_BLOB_COPY };
        const char *pin = c->pin && c->pin[0] == '/' ? u->pin : c->pin;
        CURL *e;
        bool ok;

        if (u->easy) {
                curl_easy_cleanup(u->easy);
                u->easy = NULL;
        }
        e = curl_easy_init();
        if (!e)
                return -ENOMEM;
        ok = curl_easy_setopt(e, CURLOPT_URL, c->url) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             /* https only, no redirects: events go where the admin said, over TLS. */
             curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
             /* With ca_file, that file is the whole trust: no CA path (Debian's
              * libcurl has /etc/ssl/certs built in, where a TLS-inspecting
              * proxy's CA may sit) and no bundle. Without it, the system's. */
             (!u->ca_pem || (curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca) == CURLE_OK &&
                             curl_easy_setopt(e, CURLOPT_CAINFO, NULL) == CURLE_OK &&
                             curl_easy_setopt(e, CURLOPT_CAPATH, NULL) == CURLE_OK)) &&
             (!pin || curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, pin) == CURLE_OK) &&
             (!u->cert_pem || (curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert) == CURLE_OK &&
                               curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM") == CURLE_OK)) &&
             (!u->key_pem || (curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key) == CURLE_OK &&
                              curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM") == CURLE_OK)) &&
             /* The proxy of mamori.conf or none: "" also shuts out http_proxy,
              * https_proxy and ALL_PROXY of the environment, and NOPROXY ""
              * no_proxy. */
             curl_easy_setopt(e, CURLOPT_PROXY, c->proxy ? c->proxy : "") == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_NOPROXY, "") == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) (c->timeout / USEC_PER_MSEC)) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                              (long) (MIN(c->timeout, 10 * USEC_PER_SEC) / USEC_PER_MSEC)) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_USERAGENT, "mamori-uplink/" MAMORI_VERSION) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, uplink_on_write) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_WRITEDATA, u) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_ERRORBUFFER, u->errbuf) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_PRIVATE, u) == CURLE_OK;
        if (!ok) {
                curl_easy_cleanup(e);
                return -EINVAL;
        }
        u->easy = e;
        u->easy_stale = false;
        return 0;
}

static int uplink_build_headers(Uplink *u) {
        struct curl_slist *h = NULL, *n;
        char batch[80];
        const char *lines[6];
        size_t k = 0;

        snprintf(batch, sizeof batch, "X-Mamori-Batch: %" PRIu64 "-%" PRIu64, u->batch.first_seq, u->batch.last_seq);
        lines[k++] = "Content-Type: application/x-ndjson";
        lines[k++] = "Expect:"; /* no 100-continue round trip */
        lines[k++] = batch;
        if (u->cfg.gzip)
                lines[k++] = "Content-Encoding: gzip";
        if (u->auth_header)
                lines[k++] = u->auth_header;
        for (size_t i = 0; i < k; i++) {
                n = curl_slist_append(h, lines[i]);
                if (!n) {
                        curl_slist_free_all(h);
                        return -ENOMEM;
                }
                h = n;
        }
        curl_slist_free_all(u->headers);
        u->headers = h;
        return 0;
}

/* ---- outcomes ---- */

static void uplink_schedule_retry(Uplink *u, usec_t delay, bool asked) {
        char d[32];
        int r;

        u->state = UPLINK_WAITING;
        u->retry_asked = asked;
        u->next_attempt = now_usec(CLOCK_REALTIME) + delay;
        if (u->retry_timer) {
                r = sd_event_source_set_time_relative(u->retry_timer, delay);
                if (r >= 0)
                        r = sd_event_source_set_enabled(u->retry_timer, SD_EVENT_ONESHOT);
        } else
                r = -ENOENT;
        if (r < 0)
                log_error_errno(r, "Cannot arm the retry timer, events wait for the next one: %m");
        log_debug("Next delivery attempt in %s.", uplink_format_duration(d, delay));
        uplink_changed(u);
}

static void uplink_failed(Uplink *u, const char *why, usec_t retry_after, bool asked) {
        char d[32];
        usec_t delay;

        u->failures++;
        delay = asked ? retry_after
                      : retry_backoff(u->failures, u->cfg.backoff_min, u->cfg.backoff_max, uplink_random_u64());
        /* Say it once, not at every retry. */
        if (!streq_ptr(u->last_error, why))
                log_warning("Cannot deliver events to the collector: %s; they stay in the spool, retrying in %s%s.",
                            why, uplink_format_duration(d, delay), asked ? " (as the collector asked)" : "");
        else
                log_debug("Delivery attempt %u failed: %s", u->failures, why);
        uplink_set_error(u, why);
        spool_release(u->spool);
        uplink_drop_body(u);
        uplink_schedule_retry(u, delay, asked);
}

static void uplink_describe_transport(Uplink *u, CURLcode rc, char *buf, size_t n) {
        const char *detail = u->errbuf[0] ? u->errbuf : curl_easy_strerror(rc);
        char d[32];

        switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
                snprintf(buf, n, "cannot resolve the collector's host name (%s)", detail);
                break;
        case CURLE_COULDNT_CONNECT:
                snprintf(buf, n, "cannot connect to the collector (%s)", detail);
                break;
        case CURLE_OPERATION_TIMEDOUT:
                snprintf(buf, n, "the collector did not answer within %s (%s)",
                         uplink_format_duration(d, u->cfg.timeout), detail);
                break;
        case CURLE_PEER_FAILED_VERIFICATION:
                snprintf(buf, n,
                         "TLS: the collector's certificate is not trusted: it is not signed by a CA in ca_file (%s) or does not name the host of the url (%s)",
                         u->cfg.ca_file ? u->cfg.ca_file : "the system store", detail);
                break;
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                snprintf(buf, n, "TLS: the collector's public key does not match collector.pin (%s)", detail);
                break;
        case CURLE_SSL_CERTPROBLEM:
                snprintf(buf, n, "TLS: the client certificate cannot be used (client_cert %s: %s)",
                         strna(u->cfg.client_cert), detail);
                break;
        case CURLE_SSL_CACERT_BADFILE:
                snprintf(buf, n, "TLS: cannot use ca_file %s (%s)", strna(u->cfg.ca_file), detail);
                break;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
                if (!u->cfg.client_cert)
                        snprintf(buf, n,
                                 "the TLS connection to the collector failed (%s); if the collector requires a client certificate, set collector.client_cert and client_key",
                                 detail);
                else
                        snprintf(buf, n, "the TLS connection to the collector failed (%s)", detail);
                break;
        default:
                snprintf(buf, n, "%s (curl error %d)", detail, (int) rc);
        }
}

/* The dead-letter directories, opened when first needed (a state directory
 * that cannot be used at start must not stop delivery). */
static int uplink_dead_letter_open(Uplink *u) {
        int r;

        if (u->dead)
                return 0;
        r = dead_letter_new(u->state_dir, &u->dead);
        if (r < 0)
                return r;
        dead_letter_set_max(u->dead, u->dead_letter_max);
        return 0;
}

/* The rejected batch, as sent, after one line that says why: durable
 * before the batch is acknowledged (dead-letter.h). */
static int uplink_dead_letter(Uplink *u, long status, const char *reason, char **ret_path) {
        DeadLetterInfo info = {
                .url = u->cfg.url,
                .first_seq = u->batch.first_seq,
                .last_seq = u->batch.last_seq,
                .count = u->batch.count,
                .reason = (char *) reason, /* borrowed */
        };
        int r;

        r = uplink_dead_letter_open(u);
        if (r < 0)
                return r;
        r = dead_letter_info_add_answer(&info, now_usec(CLOCK_REALTIME), status, u->response, u->response_len);
        if (r >= 0)
                r = dead_letter_write(u->dead, &info, u->batch.data, u->batch.len, false, ret_path);
        info.url = info.reason = NULL; /* borrowed */
        dead_letter_info_done(&info);
        return r;
}

static void uplink_delivered(Uplink *u, long status) {
        int r = spool_ack(u->spool, u->batch.last_seq);
        if (r < 0) {
                /* The collector has them; without the cursor they go again (same ids). */
                log_error_errno(r,
                                "Cannot record the delivery of events %" PRIu64 "-%" PRIu64
                                " in the spool; they will be sent again: %m",
                                u->batch.first_seq, u->batch.last_seq);
                uplink_failed(u, "cannot record the delivery in the spool", 0, false);
                return;
        }
        if (u->failures > 0)
                log_info("Delivery to the collector restored after %u failed attempt%s.", u->failures,
                         u->failures == 1 ? "" : "s");
        u->failures = 0;
        u->last_success = now_usec(CLOCK_REALTIME);
        u->events_sent += u->batch.count;
        u->batches_sent++;
        u->bytes_sent += u->body_len;
        u->last_error = mfree(u->last_error);
        log_debug("Delivered events %" PRIu64 "-%" PRIu64 " (%zu, HTTP %ld).", u->batch.first_seq, u->batch.last_seq,
                  u->batch.count, status);
        uplink_drop_body(u);
        u->state = UPLINK_IDLE;
        uplink_send_next(u);
}

/* reason: why beyond the status (NULL: the status says it). */
static void uplink_rejected(Uplink *u, long status, const char *reason) {
        _cleanup_free_ char *path = NULL, *answer = text_sanitize(u->response, u->response_len, 300, NULL);
        char why[512];
        int r;

        r = uplink_dead_letter(u, status, reason, &path);
        if (r < 0) {
                if (r == -EDQUOT)
                        snprintf(why, sizeof why,
                                 "HTTP %ld, and the batch cannot be moved to %s: the dead-letter directory is full (%" PRIu64
                                 " bytes; see mamorictl dead-letter list)",
                                 status, u->dead_letter_path, u->dead_letter_max);
                else
                        snprintf(why, sizeof why, "HTTP %ld, and the batch cannot be moved to %s: %s", status,
                                 u->dead_letter_path, strerror(-r));
                /* Keep it: the spool's bound decides what goes, and says so. */
                uplink_failed(u, why, u->cfg.backoff_max, true);
                return;
        }
        r = spool_ack(u->spool, u->batch.last_seq);
        if (r < 0)
                log_error_errno(r, "Cannot record the dead-lettered batch in the spool: %m");
        log_error("The collector rejected events %" PRIu64 "-%" PRIu64
                  " with HTTP %ld (%s%s%s); the batch of %zu was moved to %s.",
                  u->batch.first_seq, u->batch.last_seq, status, reason ? reason : "", reason ? ": " : "",
                  strempty(answer), u->batch.count, path);
        u->batches_rejected++;
        u->events_rejected += u->batch.count;
        snprintf(why, sizeof why, "HTTP %ld: batch moved to the dead-letter directory", status);
        uplink_set_error(u, why);
        uplink_drop_body(u);
        u->state = UPLINK_IDLE;
        uplink_send_next(u);
}

/* ---- batches sent again (mamorictl dead-letter resend) ---- */

static void uplink_resend_forget(Uplink *u) {
        u->resend_name = mfree(u->resend_name);
        dead_letter_info_done(&u->resend_info);
}

/* Loads the next batch of resend/ into u->batch: 1 when there is one, 0 when
 * none (the spool's turn). A damaged file is set aside and the next one tried. */
static int uplink_resend_load(Uplink *u) {
        _cleanup_free_ char *body = NULL, *name = NULL;
        const char *why = NULL;
        size_t len = 0;
        int r;

        if (!u->resend_check)
                return 0;
        if (uplink_dead_letter_open(u) < 0) {
                u->resend_check = false;
                return 0;
        }
        for (;;) {
                r = dead_letter_next_resend(u->dead, &u->resend_info, &body, &len, &name, &why);
                if (r != -EBADMSG)
                        break;
                log_error("Not sending %s/resend/%s again: %s; it is set aside as %s/%s.damaged.", u->state_dir,
                          strna(name), strna(why), u->dead_letter_path, strna(name));
                name = mfree(name);
                uplink_changed(u);
        }
        if (r == -ENODATA) {
                u->resend_check = false;
                return 0;
        }
        if (r < 0) {
                log_error_errno(r,
                                "Cannot read the batches to send again in %s/resend (tried again at the next flush): %m",
                                u->state_dir);
                u->resend_check = false;
                return 0;
        }
        u->resend_name = TAKE_PTR(name);
        u->batch = (SpoolBatch){
                .data = TAKE_PTR(body),
                .len = len,
                .count = u->resend_info.count,
                .first_seq = u->resend_info.first_seq,
                .last_seq = u->resend_info.last_seq,
        };
        log_info("Sending again the dead-lettered events %" PRIu64 "-%" PRIu64 " (%zu, same ids and seqs).",
                 u->batch.first_seq, u->batch.last_seq, u->batch.count);
        return 1;
}

/* The answer to a resent batch. Delivered: it leaves resend/. Refused for
 * good again: back to dead-letter/ with every answer it got. Anything else:
 * it stays in resend/ and goes again after the backoff, before the spool. */
static void uplink_resend_done(Uplink *u, long status, RetryVerdict v, const char *retry_why, usec_t wait, bool asked) {
        _cleanup_free_ char *path = NULL, *answer = NULL;
        char why[512];
        int r;

        if (v == RETRY_DELIVERED) {
                r = dead_letter_resend_done(u->dead, u->resend_name);
                if (r < 0)
                        log_warning_errno(r,
                                          "Cannot remove the resent batch %s from resend/, it goes again (same ids): %m",
                                          u->resend_name);
                log_info("The collector took the resent events %" PRIu64 "-%" PRIu64 " (HTTP %ld).", u->batch.first_seq,
                         u->batch.last_seq, status);
                u->failures = 0;
                u->last_success = now_usec(CLOCK_REALTIME);
                u->events_sent += u->batch.count;
                u->batches_sent++;
                u->bytes_sent += u->body_len;
                u->last_error = mfree(u->last_error);
        } else if (v == RETRY_REJECTED || v == RETRY_SPLIT) {
                /* A 413 on a batch once taken in one piece is dead-lettered too: its answers say why. */
                r = dead_letter_info_add_answer(&u->resend_info, now_usec(CLOCK_REALTIME), status, u->response,
                                                u->response_len);
                if (r >= 0)
                        r = dead_letter_write(u->dead, &u->resend_info, u->batch.data, u->batch.len, true, &path);
                if (r >= 0)
                        r = dead_letter_resend_done(u->dead, u->resend_name);
                if (r < 0) {
                        snprintf(why, sizeof why, "HTTP %ld for a resent batch, which cannot go back to %s: %s", status,
                                 u->dead_letter_path, strerror(-r));
                        uplink_resend_forget(u);
                        u->resend_check = true;
                        uplink_failed(u, why, u->cfg.backoff_max, true);
                        return;
                }
                answer = text_sanitize(u->response, u->response_len, 300, NULL);
                log_error("The collector refused the resent events %" PRIu64 "-%" PRIu64
                          " again with HTTP %ld (%s); the batch is back in %s with every answer it got.",
                          u->batch.first_seq, u->batch.last_seq, status, strempty(answer), path);
                snprintf(why, sizeof why, "HTTP %ld: a resent batch went back to the dead-letter directory", status);
                uplink_set_error(u, why);
        } else {
                uplink_resend_forget(u);
                u->resend_check = true;
                uplink_failed(u, retry_why, wait, asked);
                return;
        }
        uplink_resend_forget(u);
        u->resend_check = true;
        uplink_drop_body(u);
        u->state = UPLINK_IDLE;
        uplink_send_next(u);
}

/* An answer that is not final: why, and whether the collector said how long to wait. */
static bool uplink_describe_answer(Uplink *u, CURL *easy, long status, char *why, size_t n, usec_t *ret_wait) {
        _cleanup_free_ char *answer = text_sanitize(u->response, MIN(u->response_len, 200), 200, NULL);
        struct curl_header *h = NULL;
        bool asked = false;

        *ret_wait = 0;
        if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h &&
            retry_after_parse(h->value, now_usec(CLOCK_REALTIME), RETRY_AFTER_MAX, ret_wait) >= 0)
                asked = true;
        snprintf(why, n, "the collector answered HTTP %ld%s%s%s", status, answer && answer[0] ? " (" : "",
                 strempty(answer), answer && answer[0] ? ")" : "");
        return asked;
}

/* Retry-After of the answer, when it says a valid wait. */
static bool uplink_retry_after(CURL *easy, usec_t *ret) {
        struct curl_header *h = NULL;

        return curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h &&
               retry_after_parse(h->value, now_usec(CLOCK_REALTIME), RETRY_AFTER_MAX, ret) >= 0;
}

/* The collector's answer on one line, for the status file and mamorid's
 * event: blanks and line breaks (a proxy's HTML page, pretty JSON) become one
 * space, then the one sanitizing policy, bounded. */
static char *uplink_answer_line(const Uplink *u) {
        _cleanup_free_ char *flat = malloc(u->response_len + 1);
        size_t n = 0;

        if (!flat)
                return NULL;
        for (size_t i = 0; i < u->response_len; i++) {
                char c = u->response[i];
                if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
                        if (n > 0 && flat[n - 1] != ' ')
                                flat[n++] = ' ';
                } else
                        flat[n++] = c;
        }
        while (n > 0 && flat[n - 1] == ' ')
                n--;
        return text_sanitize(flat, n, UPLINK_STATUS_ANSWER_MAX, NULL);
}

/* A 4xx of the refused class (issue 16): a token, a certificate, a path or a
 * proxy to fix. The batch stays and waits as after a 5xx, but the uplink says
 * so once per change of the status, in the journal (its own MESSAGE_ID) and
 * in its status file (STATE=refused), which mamorid turns into the event
 * agent.delivery_refused. */
static void uplink_refused(Uplink *u, CURL *easy, long status) {
        _cleanup_free_ char *answer = uplink_answer_line(u);
        char why[256], code[8];
        usec_t wait = 0;
        bool asked = uplink_retry_after(easy, &wait);

        if (!answer)
                (void) log_oom();
        if (u->refused_status != status) {
                char ts[RFC3339_MAX];
                LogField fields[] = {
                        { "MAMORI_HTTP_STATUS", code },
                        { "MAMORI_COLLECTOR_URL", u->cfg.url },
                        { "MAMORI_COLLECTOR_ANSWER", answer },
                };
                u->refused_status = status;
                u->refused_since = now_usec(CLOCK_REALTIME);
                snprintf(code, sizeof code, "%ld", status);
                log_struct(LOG_ERR, UPLINK_REFUSED_MESSAGE_ID, fields, ELEMENTSOF(fields),
                           "The collector %s refuses this PC's events with HTTP %ld since %s (%s): %s. Every event "
                           "stays in the spool and is sent once this is fixed; retrying with backoff.",
                           u->cfg.url, status, format_rfc3339(ts, u->refused_since), strempty(answer),
                           uplink_refused_meaning(status));
        }
        (void) free_and_strdup(&u->refused_answer, answer ? answer : "");
        snprintf(why, sizeof why, "the collector refuses us: HTTP %ld; events wait in the spool", status);
        /* Said above, once per change of status; not again at every retry. */
        uplink_set_error(u, why);
        uplink_failed(u, why, wait, asked);
}

/* An answer of another class than refused: the refused state, if any, is over. */
static void uplink_refused_end(Uplink *u, long status) {
        char ts[RFC3339_MAX];

        if (u->refused_status == 0)
                return;
        log_notice("The collector %s no longer refuses this PC (HTTP %ld, refused with HTTP %ld since %s).",
                   strna(u->cfg.url), status, u->refused_status, format_rfc3339(ts, u->refused_since));
        u->refused_status = 0;
        u->refused_since = 0;
        u->refused_answer = mfree(u->refused_answer);
}

static void uplink_on_done(CurlEvent *g, CURL *easy, CURLcode rc, void *userdata) {
        Uplink *u = userdata;
        char why[CURL_ERROR_SIZE + 512];
        long status = 0;
        RetryVerdict v;
        usec_t wait = 0;
        bool asked = false;

        curl_event_remove(g, easy);
        if (rc == CURLE_OK)
                (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        u->last_status = status;
        if (!u->configured) {
                /* the url went away with a reload while this was out */
                if (u->resend_name) {
                        uplink_resend_forget(u);
                        u->resend_check = true;
                }
                spool_release(u->spool);
                uplink_drop_body(u);
                u->state = UPLINK_OFF;
                uplink_changed(u);
                return;
        }
        if (rc != CURLE_OK) {
                uplink_describe_transport(u, rc, why, sizeof why);
                if (u->resend_name)
                        uplink_resend_done(u, 0, RETRY_LATER, why, 0, false);
                else
                        uplink_failed(u, why, 0, false);
                return;
        }
        v = retry_classify(status);
        if (v != RETRY_REFUSED)
                uplink_refused_end(u, status);
        if (u->resend_name) {
                if (v == RETRY_REFUSED) {
                        /* It stays in resend/ and goes first again; the alarm as for any batch. */
                        uplink_resend_forget(u);
                        u->resend_check = true;
                        uplink_refused(u, easy, status);
                        return;
                }
                if (v != RETRY_DELIVERED && v != RETRY_REJECTED && v != RETRY_SPLIT)
                        asked = uplink_describe_answer(u, easy, status, why, sizeof why, &wait);
                uplink_resend_done(u, status, v, why, wait, asked);
                return;
        }
        switch (v) {
        case RETRY_DELIVERED:
                uplink_delivered(u, status);
                return;
        case RETRY_REJECTED:
                uplink_rejected(u, status, NULL);
                return;
        case RETRY_REFUSED:
                uplink_refused(u, easy, status);
                return;
        case RETRY_SPLIT:
                if (u->batch.count > 1) {
                        u->batch_limit = MAX(1u, (unsigned) u->batch.count / 2);
                        log_warning("The collector refused a batch of %zu events as too large (HTTP 413); sending at most %u per batch now.",
                                    u->batch.count, u->batch_limit);
                        spool_release(u->spool);
                        uplink_drop_body(u);
                        u->state = UPLINK_IDLE;
                        uplink_send_next(u);
                } else
                        uplink_rejected(u, status, "a single event larger than the collector accepts");
                return;
        case RETRY_LATER:
        default:
                asked = uplink_describe_answer(u, easy, status, why, sizeof why, &wait);
                uplink_failed(u, why, wait, asked);
                return;
        }
}

/* ---- sending ---- */

static void uplink_send_next(Uplink *u) {
        int r;

        if (u->state == UPLINK_SENDING || u->state == UPLINK_WAITING)
                return;
        if (!u->configured || !u->spool || u->spool_error) {
                u->state = UPLINK_OFF;
                uplink_changed(u);
                return;
        }
        /* Batches an administrator asked to send again go first. */
        r = uplink_resend_load(u);
        if (r == 0)
                r = spool_read_batch(u->spool, u->batch_limit, BATCH_MAX_BYTES, &u->batch);
        else
                r = 0;
        if (r == -ENODATA) {
                u->state = UPLINK_IDLE;
                uplink_changed(u);
                return;
        }
        if (r < 0) {
                log_error_errno(r, "Cannot read events from the spool: %m");
                u->failures++;
                uplink_schedule_retry(u,
                                      retry_backoff(u->failures, u->cfg.backoff_min, u->cfg.backoff_max,
                                                    uplink_random_u64()),
                                      false);
                return;
        }
        if (u->cfg.gzip) {
                r = uplink_gzip_batch(u->batch.data, u->batch.len, &u->body, &u->body_len);
                if (r < 0) {
                        log_warning_errno(r, "Cannot compress a batch, sending it as it is: %m");
                        u->body = NULL;
                }
        }
        if (!u->body) {
                u->body = (uint8_t *) u->batch.data;
                u->body_len = u->batch.len;
        }
        if (!u->easy || u->easy_stale)
                r = uplink_build_easy(u);
        else
                r = 0;
        if (r >= 0)
                r = uplink_build_headers(u);
        if (r >= 0) {
                u->response_len = 0;
                u->response[0] = 0;
                u->errbuf[0] = 0;
                if (curl_easy_setopt(u->easy, CURLOPT_HTTPHEADER, u->headers) != CURLE_OK ||
                    curl_easy_setopt(u->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) u->body_len) != CURLE_OK ||
                    curl_easy_setopt(u->easy, CURLOPT_POSTFIELDS, u->body) != CURLE_OK)
                        r = -EINVAL;
        }
        if (r >= 0)
                r = curl_event_add(u->glue, u->easy);
        if (r < 0) {
                log_error_errno(r, "Cannot start a request to the collector: %m");
                if (u->resend_name) {
                        uplink_resend_forget(u);
                        u->resend_check = true;
                }
                spool_release(u->spool);
                uplink_drop_body(u);
                u->failures++;
                u->state = UPLINK_IDLE;
                uplink_schedule_retry(u,
                                      retry_backoff(u->failures, u->cfg.backoff_min, u->cfg.backoff_max,
                                                    uplink_random_u64()),
                                      false);
                return;
        }
        u->state = UPLINK_SENDING;
        u->last_attempt = now_usec(CLOCK_REALTIME);
        u->next_attempt = 0;
        uplink_changed(u);
}

static int uplink_on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Uplink *u = userdata;
        if (u->state == UPLINK_WAITING)
                u->state = UPLINK_IDLE;
        uplink_send_next(u);
        uplink_changed(u);
        return 0;
}

/* ---- public ---- */

/* spool may be NULL (it could not be opened): then no collector is ever configured. */
int uplink_new(sd_event *e, Spool *spool, const char *state_dir, Uplink **ret) {
        _cleanup_(uplink_freep) Uplink *u = NULL;
        int r;

        assert(e);
        assert(state_dir);
        assert(ret);

        u = calloc(1, sizeof *u);
        if (!u)
                return -ENOMEM;
        u->event = sd_event_ref(e);
        u->spool = spool;
        collector_settings_init(&u->cfg);
        u->batch_limit = u->cfg.batch_max_events;
        u->state_dir = strdup(state_dir);
        if (!u->state_dir)
                return -ENOMEM;
        if (asprintf(&u->dead_letter_path, "%s/dead-letter", state_dir) < 0) {
                u->dead_letter_path = NULL;
                return -ENOMEM;
        }
        u->dead_letter_max = UINT64_MAX;
        /* What an earlier run left in resend/ goes first. */
        u->resend_check = true;
        r = uplink_dead_letter_open(u);
        if (r < 0)
                log_warning_errno(r, "Cannot open the dead-letter directory %s, tried again when needed: %m",
                                  u->dead_letter_path);
        r = curl_event_new(e, UPLINK_PRIORITY, uplink_on_done, u, &u->glue);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &u->retry_timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC * 10, uplink_on_retry_timer, u);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(u->retry_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(u->retry_timer, UPLINK_PRIORITY);
        (void) sd_event_source_set_description(u->retry_timer, "uplink-retry");
        *ret = TAKE_PTR(u);
        return 0;
}

Uplink *uplink_free(Uplink *u) {
        if (!u)
                return NULL;
        if (u->easy && u->glue)
                curl_event_remove(u->glue, u->easy);
        if (u->easy)
                curl_easy_cleanup(u->easy);
        curl_event_free(u->glue);
        curl_slist_free_all(u->headers);
        uplink_drop_body(u);
        sd_event_source_disable_unref(u->retry_timer);
        sd_event_unref(u->event);
        collector_settings_done(&u->cfg);
        uplink_free_secret(&u->auth_header, u->auth_header ? strlen(u->auth_header) : 0);
        free(u->ca_pem);
        free(u->cert_pem);
        uplink_free_secret(&u->key_pem, u->key_len);
        free(u->pin);
        uplink_resend_forget(u);
        dead_letter_free(u->dead);
        free(u->state_dir);
        free(u->dead_letter_path);
        free(u->last_error);
        free(u->spool_error);
        free(u->refused_answer);
        free(u);
        return NULL;
}

static int uplink_dup_settings(CollectorSettings *dst, const CollectorSettings *src) {
        CollectorSettings n = *src;
        n.url = n.ca_file = n.pin = n.client_cert = n.client_key = n.token_file = n.proxy = NULL;
        if (free_and_strdup(&n.url, src->url) < 0 || free_and_strdup(&n.ca_file, src->ca_file) < 0 ||
            free_and_strdup(&n.pin, src->pin) < 0 || free_and_strdup(&n.client_cert, src->client_cert) < 0 ||
            free_and_strdup(&n.client_key, src->client_key) < 0 ||
            free_and_strdup(&n.token_file, src->token_file) < 0 || free_and_strdup(&n.proxy, src->proxy) < 0) {
                collector_settings_done(&n);
                return -ENOMEM;
        }
        collector_settings_done(dst);
        *dst = n;
        return 0;
}

int uplink_configure(Uplink *u, const CollectorSettings *c, uint64_t dead_letter_max) {
        _cleanup_free_ char *auth = NULL, *why = NULL;
        int r;

        assert(u);
        assert(c);

        r = uplink_dup_settings(&u->cfg, c);
        if (r < 0)
                return r;
        u->dead_letter_max = dead_letter_max;
        if (u->dead)
                dead_letter_set_max(u->dead, dead_letter_max);
        u->batch_limit = u->cfg.batch_max_events;
        u->easy_stale = true;
        u->configured = false;
        uplink_free_secret(&u->auth_header, u->auth_header ? strlen(u->auth_header) : 0);
        if (!u->cfg.url) {
                if (u->state != UPLINK_SENDING)
                        u->state = UPLINK_OFF;
                (void) sd_event_source_set_enabled(u->retry_timer, SD_EVENT_OFF);
                log_info("No collector.url: events stay in the spool and the journal.");
                uplink_changed(u);
                return 0;
        }
        r = uplink_load_tls_files(u, &why);
        if (r >= 0 && u->cfg.token_file)
                r = uplink_read_token(u->cfg.token_file, &auth, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_error("Not sending events: %s", strna(why));
                uplink_set_error(u, why);
                if (u->state != UPLINK_SENDING)
                        u->state = UPLINK_OFF;
                (void) sd_event_source_set_enabled(u->retry_timer, SD_EVENT_OFF);
                uplink_changed(u);
                return 0;
        }
        u->auth_header = TAKE_PTR(auth);
        u->configured = true;
        log_info("Events are delivered to %s%s.", u->cfg.url, u->cfg.gzip ? " (gzip)" : "");
        /* New settings may be the fix: try again now. */
        u->failures = 0;
        (void) free_and_strdup(&u->last_error, u->spool_error);
        if (u->state == UPLINK_SENDING) {
                uplink_changed(u);
                return 0;
        }
        (void) sd_event_source_set_enabled(u->retry_timer, SD_EVENT_OFF);
        u->state = UPLINK_IDLE;
        uplink_send_next(u);
        return 0;
}

void uplink_kick(Uplink *u) {
        if (u && u->state == UPLINK_IDLE)
                uplink_send_next(u);
}

int uplink_flush(Uplink *u) {
        if (!u)
                return -ENOTCONN;
        /* mamorictl dead-letter resend moves files into resend/, then asks for a flush. */
        u->resend_check = true;
        if (u->dead) {
                (void) dead_letter_rescan(u->dead);
                uplink_changed(u);
        }
        if (!u->configured || !u->spool || u->spool_error)
                return -ENOTCONN;
        if (u->state == UPLINK_WAITING) {
                (void) sd_event_source_set_enabled(u->retry_timer, SD_EVENT_OFF);
                u->state = UPLINK_IDLE;
        }
        uplink_send_next(u);
        return 0;
}

void uplink_network_up(Uplink *u, const char *why) {
        if (!u || u->state != UPLINK_WAITING)
                return;
        if (u->retry_asked) {
                log_debug("Network change (%s), but the collector asked us to wait; waiting.", why);
                return;
        }
        log_info("Network change (%s): retrying delivery now instead of waiting out the backoff.", why);
        (void) sd_event_source_set_enabled(u->retry_timer, SD_EVENT_OFF);
        u->state = UPLINK_IDLE;
        uplink_send_next(u);
}

void uplink_set_changed(Uplink *u, UplinkChanged changed, void *userdata) {
        assert(u);
        u->changed = changed;
        u->changed_userdata = userdata;
}

void uplink_set_spool(Uplink *u, Spool *s) {
        assert(u);
        assert(s);
        assert(!u->spool);
        u->spool = s;
}

void uplink_set_config_error(Uplink *u, const char *why) {
        assert(u);
        assert(why);

        u->configured = false;
        uplink_set_error(u, why);
        if (u->state != UPLINK_SENDING) {
                (void) sd_event_source_set_enabled(u->retry_timer, SD_EVENT_OFF);
                u->state = UPLINK_OFF;
        }
        uplink_changed(u);
}

void uplink_set_spool_error(Uplink *u, const char *why) {
        assert(u);

        if (streq_ptr(u->spool_error, why))
                return;
        if (why) {
                (void) free_and_strdup(&u->spool_error, why);
                uplink_set_error(u, why);
                /* A request out finishes (its ack is our own cursor); nothing new goes. */
                if (u->state != UPLINK_SENDING) {
                        (void) sd_event_source_set_enabled(u->retry_timer, SD_EVENT_OFF);
                        u->state = UPLINK_OFF;
                }
                uplink_changed(u);
                return;
        }
        if (streq_ptr(u->last_error, u->spool_error))
                u->last_error = mfree(u->last_error);
        u->spool_error = mfree(u->spool_error);
        if (u->state == UPLINK_OFF)
                u->state = UPLINK_IDLE;
        uplink_send_next(u);
        uplink_changed(u);
}

void uplink_get_status(const Uplink *u, UplinkStatus *ret) {
        SpoolStats st = { 0 };

        assert(u);
        assert(ret);

        if (u->spool)
                spool_get_stats(u->spool, &st);
        *ret = (UplinkStatus){
                /* Refused overrides waiting and sending: until another kind of
                 * answer comes, a retry changes nothing for the admin. */
                .state = u->refused_status && u->state != UPLINK_OFF ? UPLINK_REFUSED : u->state,
                .url = u->cfg.url,
                .last_success = u->last_success,
                .last_attempt = u->last_attempt,
                .next_attempt = u->state == UPLINK_WAITING ? u->next_attempt : 0,
                .failures = u->failures,
                .last_status = u->last_status,
                .last_error = u->last_error,
                .events_sent = u->events_sent,
                .batches_sent = u->batches_sent,
                .batches_rejected = u->batches_rejected,
                .events_rejected = u->events_rejected,
                .bytes_sent = u->bytes_sent,
                .acked_seq = st.acked_seq,
        };
        if (u->dead)
                dead_letter_usage(u->dead, &ret->dead_letter_count, &ret->dead_letter_bytes);
        if (ret->state == UPLINK_REFUSED) {
                ret->refused_status = u->refused_status;
                ret->refused_since = u->refused_since;
                ret->refused_answer = u->refused_answer ? u->refused_answer : (char *) "";
        }
}
