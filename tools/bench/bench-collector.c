/* SPDX-License-Identifier: MIT */
/* bench-collector: simulated mamori agents posting to a collector over the
 * HTTP contract of docs/events.md (POST NDJSON, X-Mamori-Batch, optional
 * gzip, bearer token, mutual TLS), on libcurl's multi interface in one
 * thread. It knows nothing of collector/: only the wire.
 *
 *   sustained: --agents N --events-per-batch B --duration S
 *     every agent posts its next batch as soon as the previous one got its
 *     2xx (retryable answers are retried with the same batch, as the agent
 *     does); prints events/s, batches/s, time to 2xx per batch.
 *   heartbeats: --heartbeats N --interval S [--duration S]
 *     a fleet of N PCs sending one agent.heartbeat each per interval, spread
 *     evenly, over at most --max-connections connections at once.
 *
 * With --pid P (the collector) and --pid-tree P (e.g. PostgreSQL's
 * postmaster and its backends) it samples /proc at the start and the end of
 * the measured window: CPU % of one core, CPU µs per event, Rss and
 * Private_Dirty. See tools/bench/README.md, "bench-collector". */
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "macro.h"
#include "timeutil.h"

#define EVENT_MAX 2048 /* every event of the templates below fits */
#define MAX_PIDS 8
#define HIST_SUB_BITS 7 /* 128 sub-buckets per power of two: < 1 % error */
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (HIST_SUB + 40 * HIST_SUB)
#define STATUS_MAX 600

/* A latency histogram in µs: bounded memory, whatever the run's length. */
typedef struct Hist {
        uint64_t count, max;
        uint32_t b[HIST_BUCKETS];
} Hist;

typedef struct Blob {
        char *data;
        size_t len;
} Blob;

typedef struct ProcSample {
        bool ok;
        uint64_t cpu_ticks; /* utime + stime (+ reaped children's for a tree) */
        long rss_kib, dirty_kib;
        unsigned nproc;
} ProcSample;

typedef struct Watched {
        pid_t pid;
        bool tree;
        ProcSample before, after;
        long rss_max_kib, dirty_max_kib;
} Watched;

/* One simulated agent (sustained) or one slot of the connection pool (heartbeats). */
typedef struct Slot {
        CURL *easy;
        struct curl_slist *headers;
        char *body, *gz;
        size_t body_len, body_cap, gz_len, gz_cap;
        uint32_t agent;               /* whose batch is in flight */
        uint64_t next_seq;            /* sustained: the agent's next seq */
        uint64_t first_seq, last_seq; /* of the batch in flight */
        uint64_t n_events;            /* of the batch in flight */
        usec_t batch_start, attempt_start;
        usec_t retry_at; /* 0: not waiting */
        usec_t next_at;  /* --rate: when the next batch is due; 0: none waits */
        uint64_t batches_started;
        unsigned attempts;
        bool busy;
        char errbuf[CURL_ERROR_SIZE];
} Slot;

typedef struct Stats {
        Hist latency;                     /* time to 2xx per batch, completed in the window */
        Hist start_delay;                 /* heartbeats and --rate: send - due */
        uint64_t events_2xx, batches_2xx; /* in the window */
        uint64_t status[STATUS_MAX];      /* every non-2xx answer, whole run */
        uint64_t transport[CURL_LAST];    /* transport errors by CURLcode, whole run */
        uint64_t requests, requests_2xx, events_sent_2xx, retries, given_up; /* whole run */
        uint64_t bytes_body, bytes_wire;                                     /* whole run */
        uint64_t unfinished;                                                 /* batches without a 2xx at the end */
} Stats;

typedef struct Options {
        const char *url, *ca, *cert, *key, *cert_dir, *token_file;
        unsigned agents, events_per_batch, heartbeats, max_connections, warmup, cert_count;
        double duration, interval, rate;
        bool gzip, reuse, resume, print_ids;
        uint64_t seed;
        pid_t pids[MAX_PIDS];
        bool pid_tree[MAX_PIDS];
        unsigned n_pids;
} Options;

typedef struct Bench {
        Options o;
        CURLM *multi;
        Slot *slots;
        unsigned n_slots;
        uint32_t *hb_seq; /* heartbeats: next seq per PC (4 bytes a PC) */
        Blob ca;
        Blob *certs, *keys;
        CURLSH **shares; /* --resume: a TLS session cache per certificate */
        unsigned n_shares;
        char *auth_header;
        uint64_t rng[4];
        char policy_hash[65];
        Stats st;
        Watched watched[MAX_PIDS];
        usec_t t_start, t_window, t_end;
        bool sampled_before, sampled_after;
        struct rusage ru_before, ru_after; /* this program's, over the window */
        unsigned in_flight, waiting;       /* waiting: slots with retry_at or next_at */
        double period;                     /* --rate: µs between two batches of one agent */
        uint64_t hb_next;                  /* heartbeats: index of the next one due */
        double hb_spacing;                 /* µs between two heartbeats of the fleet */
        uint64_t hb_total;                 /* heartbeats due before t_end */
        z_stream z;
        bool z_ready;
} Bench;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
        (void) sig;
        interrupted = 1;
}

/* ---- numbers ---- */

static uint64_t mix64(uint64_t x) { /* splitmix64's finalizer: a bijection */
        x ^= x >> 30;
        x *= UINT64_C(0xbf58476d1ce4e5b9);
        x ^= x >> 27;
        x *= UINT64_C(0x94d049bb133111eb);
        x ^= x >> 31;
        return x;
}

static uint64_t rotl(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
}

static uint64_t bench_rand(Bench *b) { /* xoshiro256** */
        uint64_t *s = b->rng, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return r;
}

static void hex_into(char *out, uint64_t v, unsigned digits) {
        static const char hx[] = "0123456789abcdef";
        for (unsigned i = 0; i < digits; i++)
                out[i] = hx[(v >> (4 * (digits - 1 - i))) & 15];
}

/* 32 hex digits, distinct for every agent: the low half is a bijection of the index. */
static void machine_id(const Bench *b, uint32_t agent, char out[static 33]) {
        uint64_t lo = mix64(b->o.seed ^ (uint64_t) agent), hi = mix64(lo + mix64(b->o.seed + 1));
        hex_into(out, hi, 16);
        hex_into(out + 16, lo, 16);
        out[32] = 0;
}

static void uuid4(Bench *b, char out[static 37]) {
        uint64_t a = bench_rand(b), c = bench_rand(b);
        a = (a & ~UINT64_C(0xf000)) | UINT64_C(0x4000);           /* version 4 */
        c = (c & ~(UINT64_C(0xc) << 60)) | (UINT64_C(0x8) << 60); /* variant 10 */
        hex_into(out, a >> 32, 8);
        out[8] = '-';
        hex_into(out + 9, (a >> 16) & 0xffff, 4);
        out[13] = '-';
        hex_into(out + 14, a & 0xffff, 4);
        out[18] = '-';
        hex_into(out + 19, c >> 48, 4);
        out[23] = '-';
        hex_into(out + 24, c & UINT64_C(0xffffffffffff), 12);
        out[36] = 0;
}

static void hist_add(Hist *h, uint64_t us) {
        unsigned i;
        if (us < HIST_SUB)
                i = (unsigned) us;
        else {
                unsigned e = 63 - (unsigned) __builtin_clzll(us); /* >= HIST_SUB_BITS */
                i = HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB + (unsigned) ((us >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
                if (i >= HIST_BUCKETS)
                        i = HIST_BUCKETS - 1;
        }
        h->b[i]++;
        h->count++;
        h->max = MAX(h->max, us);
}

/* The middle of the bucket holding the p-quantile (at most the maximum), in µs. */
static double hist_quantile(const Hist *h, double p) {
        uint64_t want = (uint64_t) ceil(p * (double) h->count), seen = 0;
        if (h->count == 0)
                return NAN;
        if (want == 0)
                want = 1;
        for (unsigned i = 0; i < HIST_BUCKETS; i++) {
                seen += h->b[i];
                if (seen < want)
                        continue;
                if (i < HIST_SUB)
                        return i;
                unsigned e = (i - HIST_SUB) / HIST_SUB + HIST_SUB_BITS, sub = (i - HIST_SUB) % HIST_SUB;
                double lo = (double) ((uint64_t) (HIST_SUB + sub) << (e - HIST_SUB_BITS)),
                       width = (double) (UINT64_C(1) << (e - HIST_SUB_BITS));
                return MIN(lo + width / 2, (double) h->max);
        }
        return (double) h->max;
}

/* ---- /proc ---- */

static bool proc_stat(pid_t pid, pid_t *ret_ppid, uint64_t *ret_self, uint64_t *ret_children) {
        char path[64], buf[1024];
        _cleanup_fclose_ FILE *f = NULL;
        unsigned long long ut, st, cut, cst;
        int ppid;
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f || !fgets(buf, sizeof buf, f))
                return false;
        /* after the command name, which may hold spaces and parentheses */
        char *p = strrchr(buf, ')');
        if (!p || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &ppid, &ut, &st, &cut,
                         &cst) != 5)
                return false;
        if (ret_ppid)
                *ret_ppid = ppid;
        *ret_self = ut + st;
        *ret_children = cut + cst;
        return true;
}

static void proc_memory(pid_t pid, long *rss, long *dirty) {
        char path[64], line[256];
        _cleanup_fclose_ FILE *f = NULL;
        long r = 0, d = 0;
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                (void) sscanf(line, "Rss: %ld kB", &r);
                (void) sscanf(line, "Private_Dirty: %ld kB", &d);
        }
        *rss += r;
        *dirty += d;
}

static bool pid_in_tree(pid_t pid, pid_t root) {
        for (unsigned depth = 0; pid > 1 && depth < 64; depth++) {
                uint64_t a, c;
                if (pid == root)
                        return true;
                if (!proc_stat(pid, &pid, &a, &c))
                        return false;
        }
        return pid == root;
}

/* A tree's CPU: every live member's own time plus the root's reaped
 * children's (a backend that exited between the samples is then counted
 * whole, minus what the first sample already saw of it). */
static ProcSample proc_sample(pid_t pid, bool tree) {
        ProcSample s = { 0 };
        uint64_t self, children;
        if (!proc_stat(pid, NULL, &self, &children))
                return s;
        s.ok = true;
        s.cpu_ticks = self + (tree ? children : 0);
        s.nproc = 1;
        proc_memory(pid, &s.rss_kib, &s.dirty_kib);
        if (!tree)
                return s;
        _cleanup_(closedirp_) DIR *d = opendir("/proc");
        struct dirent *de;
        while (d && (de = readdir(d))) {
                pid_t p = (pid_t) strtol(de->d_name, NULL, 10);
                if (p <= 0 || p == pid || !pid_in_tree(p, pid))
                        continue;
                if (!proc_stat(p, NULL, &self, &children))
                        continue;
                s.cpu_ticks += self;
                s.nproc++;
                proc_memory(p, &s.rss_kib, &s.dirty_kib);
        }
        return s;
}

static void bench_sample(Bench *b, bool after) {
        (void) getrusage(RUSAGE_SELF, after ? &b->ru_after : &b->ru_before);
        for (unsigned i = 0; i < b->o.n_pids; i++) {
                Watched *w = &b->watched[i];
                ProcSample s = proc_sample(w->pid, w->tree);
                if (after)
                        w->after = s;
                else
                        w->before = s;
                w->rss_max_kib = MAX(w->rss_max_kib, s.rss_kib);
                w->dirty_max_kib = MAX(w->dirty_max_kib, s.dirty_kib);
        }
}

static void bench_sample_memory(Bench *b) {
        for (unsigned i = 0; i < b->o.n_pids; i++) {
                Watched *w = &b->watched[i];
                long rss = 0, dirty = 0;
                if (w->tree) {
                        ProcSample s = proc_sample(w->pid, true);
                        rss = s.rss_kib, dirty = s.dirty_kib;
                } else
                        proc_memory(w->pid, &rss, &dirty);
                w->rss_max_kib = MAX(w->rss_max_kib, rss);
                w->dirty_max_kib = MAX(w->dirty_max_kib, dirty);
        }
}

/* ---- events (docs/events.md §3, §4, §7) ---- */

#define ENVELOPE \
        "{\"id\":\"%s\",\"seq\":%" PRIu64 ",\"time\":\"%s\",\"kind\":\"%s\",\"severity\":\"%s\"," \
        "\"host\":{\"name\":\"bench-%05" PRIu32 "\",\"machine_id\":\"%s\"}," \
        "\"agent\":{\"name\":\"mamori\",\"version\":\"0.1.0\",\"policy_hash\":\"%s\"},"

static int event_usb(char *out, size_t cap, const char *env_head, bool blocked, uint64_t seq) {
        unsigned devnum = 2 + (unsigned) (seq % 120);
        return snprintf(
                out, cap,
                "%s\"policy_ref\":\"対策基準 第3-6\","
                "\"message\":\"%s USB storage 0781:5581 \\\"SanDisk Ultra\\\" serial \\\"4C5300012311%08" PRIX64
                "\\\" at 2-2: %s\","
                "\"device\":{\"vendor_id\":\"0781\",\"product_id\":\"5581\",\"has_serial\":true,"
                "\"serial\":\"4C5300012311%08" PRIX64 "\",\"manufacturer\":\"SanDisk\",\"product\":\"Ultra\","
                "\"bus_path\":\"2-2\",\"busnum\":2,\"devnum\":%u,\"category\":\"storage\",\"categories\":[\"storage\"],"
                "\"interfaces\":[{\"id\":\"2-2:1.0\",\"number\":0,\"class\":\"08\",\"subclass\":\"06\",\"protocol\":"
                "\"50\",\"category\":\"storage\",\"action\":\"%s\",\"authorized\":%s}]},"
                "\"decision\":{\"action\":\"%s\",\"reason\":\"%s\",\"explanation\":\"%s\",\"blocked_categories\":[%s],"
                "%s\"fail_closed\":false}}\n",
                env_head, blocked ? "Blocked" : "Allowed", seq % 977,
                blocked ? "no allow entry for this device" : "allowed by an allow entry", seq % 977, devnum,
                blocked ? "blocked" : "allowed", blocked ? "false" : "true", blocked ? "blocked" : "allowed",
                blocked ? "unknown" : "allowed",
                blocked ? "no allow entry for this device" : "allowed by an allow entry", blocked ? "\"storage\"" : "",
                blocked ? ""
                        : "\"rule\":{\"file\":\"/etc/mamori/allow.d/10-soumu.conf\",\"line\":2,\"label\":\"総務課 USB "
                          "001\",\"approved_by\":\"情報セキュリティ管理者 山田\",\"approved_on\":\"2026-04-01\","
                          "\"expires\":\"2027-03-31\",\"ticket\":\"SEC-2026-014\",\"any_serial\":false},");
}

static int event_heartbeat(char *out, size_t cap, const char *env_head, const char *now, uint64_t seq,
                           unsigned interval, const char *url) {
        return snprintf(out, cap,
                        "%s\"message\":\"mamorid 0.1.0 alive; 0 events waiting; last delivery %s\","
                        "\"heartbeat\":{\"interval_sec\":%u,\"uptime_sec\":%" PRIu64 ",\"events_since_start\":%" PRIu64
                        ",\"fail_closed\":false,"
                        "\"spool\":{\"depth\":0,\"bytes\":3982,\"max_bytes\":67108864,\"oldest_unsent\":null,"
                        "\"oldest_unsent_age_sec\":null,\"next_seq\":%" PRIu64 ",\"delivered_seq\":%" PRIu64
                        ",\"dropped_since_start\":0},"
                        "\"uplink\":{\"state\":\"idle\",\"running\":true,\"status_age_s\":1,\"url\":\"%s\","
                        "\"last_success\":\"%s\",\"last_attempt\":\"%s\",\"next_attempt\":null,\"failures\":0,"
                        "\"last_status\":200,\"last_error\":null,\"events_sent\":%" PRIu64 ",\"batches_sent\":%" PRIu64
                        ",\"batches_rejected\":0,\"events_rejected\":0}}}\n",
                        env_head, now, interval, seq * interval, seq - 1, seq, seq - 1, url, now, now, seq - 1, seq - 1);
}

static int event_started(char *out, size_t cap, const char *env_head) {
        return snprintf(out, cap,
                        "%s\"message\":\"mamorid 0.1.0 started\",\"config\":{\"path\":\"/etc/mamori/mamori.conf\","
                        "\"fail_closed\":false,\"allow_entries\":1,"
                        "\"blocked_categories\":[\"storage\",\"mtp\",\"ptp\",\"tethering\"]}}\n",
                        env_head);
}

static int slot_reserve(Slot *s, size_t more) {
        if (s->body_len + more <= s->body_cap)
                return 0;
        size_t cap = MAX(s->body_cap * 2, s->body_len + more);
        char *p = realloc(s->body, cap);
        if (!p)
                return -ENOMEM;
        s->body = p;
        s->body_cap = cap;
        return 0;
}

/* Appends one event: seq 1 is agent.started; then a mix of usb.blocked,
 * usb.allowed and, every 20th, agent.heartbeat (heartbeat_only: only those). */
static int bench_append_event(Bench *b, Slot *s, uint32_t agent, uint64_t seq, const char *now, bool heartbeat_only) {
        char head[512], id[37], mid[33];
        const char *kind, *severity;
        int n;
        enum { STARTED, BLOCKED, ALLOWED, HEARTBEAT } k;

        if (heartbeat_only || seq % 20 == 0)
                k = HEARTBEAT;
        else if (seq == 1)
                k = STARTED;
        else if (seq % 5 == 1)
                k = ALLOWED;
        else
                k = BLOCKED;
        kind = (const char *[]){ "agent.started", "usb.blocked", "usb.allowed", "agent.heartbeat" }[k];
        severity = (const char *[]){ "info", "high", "info", "info" }[k];
        uuid4(b, id);
        machine_id(b, agent, mid);
        n = snprintf(head, sizeof head, ENVELOPE, id, seq, now, kind, severity, agent, mid, b->policy_hash);
        if (n < 0 || (size_t) n >= sizeof head)
                return -EOVERFLOW;
        if (slot_reserve(s, EVENT_MAX) < 0)
                return -ENOMEM;
        char *out = s->body + s->body_len;
        switch (k) {
        case STARTED:
                n = event_started(out, EVENT_MAX, head);
                break;
        case HEARTBEAT:
                n = event_heartbeat(out, EVENT_MAX, head, now, seq,
                                    heartbeat_only ? (unsigned) MAX(b->o.interval, 1) : 900, b->o.url);
                break;
        default:
                n = event_usb(out, EVENT_MAX, head, k == BLOCKED, seq);
        }
        if (n < 0 || n >= EVENT_MAX)
                return -EOVERFLOW;
        s->body_len += (size_t) n;
        return 0;
}

/* gzip as mamori-uplink does it (level 3), into s->gz. */
static int bench_gzip(Bench *b, Slot *s) {
        if (!b->z_ready) {
                if (deflateInit2(&b->z, 3, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                        return -ENOMEM;
                b->z_ready = true;
        } else if (deflateReset(&b->z) != Z_OK)
                return -EIO;
        size_t bound = deflateBound(&b->z, (uLong) s->body_len);
        if (bound > s->gz_cap) {
                char *p = realloc(s->gz, bound);
                if (!p)
                        return -ENOMEM;
                s->gz = p;
                s->gz_cap = bound;
        }
        b->z.next_in = (Bytef *) s->body;
        b->z.avail_in = (uInt) s->body_len;
        b->z.next_out = (Bytef *) s->gz;
        b->z.avail_out = (uInt) s->gz_cap;
        if (deflate(&b->z, Z_FINISH) != Z_STREAM_END)
                return -EIO;
        s->gz_len = s->gz_cap - b->z.avail_out;
        return 0;
}

/* ---- requests ---- */

static size_t discard_body(char *p, size_t size, size_t n, void *userdata) {
        (void) p;
        (void) userdata;
        return size * n;
}

static int bench_load_file(const char *path, Blob *ret) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char *data = NULL;
        size_t cap = 0, len = 0;
        if (!f)
                return errno > 0 ? -errno : -EIO;
        for (;;) {
                if (len + 4096 > cap) {
                        char *p = realloc(data, cap = cap * 2 + 8192);
                        if (!p) {
                                free(data);
                                return -ENOMEM;
                        }
                        data = p;
                }
                size_t n = fread(data + len, 1, cap - len - 1, f);
                len += n;
                if (n == 0 || len > 1 << 20)
                        break;
        }
        data[len] = 0;
        *ret = (Blob){ data, len };
        return 0;
}

static int bench_setup_slot(Bench *b, Slot *s) {
        struct curl_blob ca = { b->ca.data, b->ca.len, CURL_BLOB_NOCOPY };
        s->easy = curl_easy_init();
        if (!s->easy)
                return -ENOMEM;
        bool ok = curl_easy_setopt(s->easy, CURLOPT_URL, b->o.url) == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1) == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
                  (!b->ca.data || (curl_easy_setopt(s->easy, CURLOPT_CAINFO_BLOB, &ca) == CURLE_OK &&
                                   curl_easy_setopt(s->easy, CURLOPT_CAINFO, NULL) == CURLE_OK &&
                                   curl_easy_setopt(s->easy, CURLOPT_CAPATH, NULL) == CURLE_OK)) &&
                  curl_easy_setopt(s->easy, CURLOPT_PROXY, "") == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 60000L) == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 30000L) == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_USERAGENT, "mamori-bench-collector") == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_POST, 1L) == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard_body) == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf) == CURLE_OK &&
                  curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s) == CURLE_OK;
        if (ok && !b->o.reuse && b->o.heartbeats > 0)
                /* a PC's heartbeat 15 minutes after its last post: a new connection, a full handshake */
                ok = curl_easy_setopt(s->easy, CURLOPT_FRESH_CONNECT, 1L) == CURLE_OK &&
                     curl_easy_setopt(s->easy, CURLOPT_FORBID_REUSE, 1L) == CURLE_OK &&
                     curl_easy_setopt(s->easy, CURLOPT_SSL_SESSIONID_CACHE, b->o.resume ? 1L : 0L) == CURLE_OK;
        return ok ? 0 : -EINVAL;
}

/* The agent's client certificate: one shared, or agent % count of --cert-dir. */
static int bench_set_cert(Bench *b, Slot *s, uint32_t agent) {
        if (b->o.cert_count == 0)
                return 0;
        unsigned i = agent % b->o.cert_count;
        /* A PC resumes the session of its own certificate: curl keys a cached
         * session by the client certificate too, and a pool slot serves PCs of
         * every certificate in turn, so its own cache would never match. */
        if (b->shares && curl_easy_setopt(s->easy, CURLOPT_SHARE, b->shares[i % b->n_shares]) != CURLE_OK)
                return -EINVAL;
        struct curl_blob cert = { b->certs[i].data, b->certs[i].len, CURL_BLOB_NOCOPY },
                         key = { b->keys[i].data, b->keys[i].len, CURL_BLOB_NOCOPY };
        return curl_easy_setopt(s->easy, CURLOPT_SSLCERT_BLOB, &cert) == CURLE_OK &&
                               curl_easy_setopt(s->easy, CURLOPT_SSLCERTTYPE, "PEM") == CURLE_OK &&
                               curl_easy_setopt(s->easy, CURLOPT_SSLKEY_BLOB, &key) == CURLE_OK &&
                               curl_easy_setopt(s->easy, CURLOPT_SSLKEYTYPE, "PEM") == CURLE_OK
                       ? 0
                       : -EINVAL;
}

/* Builds the next batch of the agent on this slot (n events from s->next_seq). */
static int bench_build(Bench *b, Slot *s, uint32_t agent, uint64_t first_seq, unsigned n, bool heartbeat_only) {
        char now[RFC3339_MAX], batch[96];
        int r;

        format_rfc3339(now, now_usec(CLOCK_REALTIME));
        s->body_len = 0;
        for (unsigned i = 0; i < n; i++)
                if ((r = bench_append_event(b, s, agent, first_seq + i, now, heartbeat_only)) < 0)
                        return r;
        if (b->o.gzip && (r = bench_gzip(b, s)) < 0)
                return r;
        s->agent = agent;
        s->first_seq = first_seq;
        s->last_seq = first_seq + n - 1;
        s->n_events = n;
        s->attempts = 0;

        curl_slist_free_all(s->headers);
        s->headers = NULL;
        snprintf(batch, sizeof batch, "X-Mamori-Batch: %" PRIu64 "-%" PRIu64, s->first_seq, s->last_seq);
        const char *h[] = { "Content-Type: application/x-ndjson", "Expect:", batch,
                            b->o.gzip ? "Content-Encoding: gzip" : NULL, b->auth_header };
        for (size_t i = 0; i < ELEMENTSOF(h); i++) {
                if (!h[i])
                        continue;
                struct curl_slist *l = curl_slist_append(s->headers, h[i]);
                if (!l)
                        return -ENOMEM;
                s->headers = l;
        }
        const char *body = b->o.gzip ? s->gz : s->body;
        size_t len = b->o.gzip ? s->gz_len : s->body_len;
        if (curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers) != CURLE_OK ||
            curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len) != CURLE_OK ||
            curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body) != CURLE_OK)
                return -EINVAL;
        return bench_set_cert(b, s, agent);
}

static int bench_send(Bench *b, Slot *s, usec_t now) {
        if (s->attempts == 0)
                s->batch_start = now;
        s->attempts++;
        s->attempt_start = now;
        s->retry_at = 0;
        s->busy = true;
        if (curl_multi_add_handle(b->multi, s->easy) != CURLM_OK)
                return -EIO;
        b->in_flight++;
        b->st.requests++;
        b->st.bytes_body += s->body_len;
        b->st.bytes_wire += b->o.gzip ? s->gz_len : s->body_len;
        return 0;
}

/* Sustained: the agent's next batch, at once. */
static int bench_next_batch(Bench *b, Slot *s, usec_t now) {
        int r = bench_build(b, s, (uint32_t) (s - b->slots), s->next_seq, b->o.events_per_batch, false);
        if (r < 0)
                return r;
        s->next_seq += b->o.events_per_batch;
        s->batches_started++;
        return bench_send(b, s, now);
}

/* --rate: the agents' batches are spread evenly over the period. */
static usec_t paced_due(const Bench *b, const Slot *s) {
        double offset = (double) (s - b->slots) * b->period / b->n_slots;
        return b->t_start + (usec_t) (offset + (double) s->batches_started * b->period);
}

/* Sustained: the agent posts its next batch while the window lasts: at
 * once, or with --rate when it is due (at once when it is already late). */
static void bench_continue(Bench *b, Slot *s, usec_t now) {
        if (b->o.heartbeats > 0 || now >= b->t_end || interrupted)
                return;
        if (b->o.rate > 0) {
                usec_t due = paced_due(b, s);
                if (due > now) {
                        s->next_at = due;
                        b->waiting++;
                        return;
                }
                if (now >= b->t_window)
                        hist_add(&b->st.start_delay, now - due);
        }
        if (bench_next_batch(b, s, now) < 0) {
                fprintf(stderr, "bench-collector: cannot build or send a batch, stopping\n");
                interrupted = 1;
        }
}

static bool status_retryable(long status) {
        return status == 0 || status == 408 || status == 429 || status >= 500;
}

static void bench_done(Bench *b, Slot *s, CURLcode result, usec_t now) {
        long status = 0;
        bool in_window = now >= b->t_window && now <= b->t_end;

        curl_multi_remove_handle(b->multi, s->easy);
        b->in_flight--;
        s->busy = false;
        if (result == CURLE_OK)
                (void) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        if (result != CURLE_OK) {
                if (b->st.transport[result]++ == 0)
                        fprintf(stderr, "bench-collector: transport error (first of its kind): %s: %s\n",
                                curl_easy_strerror(result), s->errbuf);
        } else if (status < 200 || status >= 300) {
                if (b->st.status[MIN(status, STATUS_MAX - 1)]++ == 0)
                        fprintf(stderr, "bench-collector: HTTP %ld (first of its kind)\n", status);
        }
        if (result == CURLE_OK && status >= 200 && status < 300) {
                b->st.requests_2xx++;
                b->st.events_sent_2xx += s->n_events;
                if (in_window) {
                        b->st.batches_2xx++;
                        b->st.events_2xx += s->n_events;
                        hist_add(&b->st.latency, now - s->batch_start);
                }
                s->attempts = 0;
                bench_continue(b, s, now);
                return;
        }
        if (b->o.heartbeats == 0 && status_retryable(status) && now < b->t_end && !interrupted) {
                /* as the agent: Retry-After when given, else exponential backoff */
                curl_off_t after = 0;
                (void) curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &after);
                usec_t wait = after > 0 ? (usec_t) MIN(after, 30) * USEC_PER_SEC
                                        : MIN((usec_t) 50 * USEC_PER_MSEC << MIN(s->attempts, 7u), 5 * USEC_PER_SEC);
                s->retry_at = now + wait;
                b->waiting++;
                b->st.retries++;
                return;
        }
        if (result == CURLE_OK && !status_retryable(status))
                b->st.given_up++; /* a final 4xx: the agent would dead-letter (or keep) it */
        else
                b->st.unfinished++;
        s->attempts = 0;
        bench_continue(b, s, now);
}

/* ---- the loops ---- */

/* Retries and paced batches that are due go out; returns when the next one is due. */
static usec_t bench_timers(Bench *b, usec_t now) {
        usec_t next = USEC_INFINITY;
        if (b->waiting == 0)
                return next;
        for (unsigned i = 0; i < b->n_slots; i++) {
                Slot *s = &b->slots[i];
                if (s->retry_at != 0) {
                        if (now >= b->t_end || interrupted) {
                                s->retry_at = 0;
                                b->waiting--;
                                b->st.unfinished++;
                        } else if (now >= s->retry_at) {
                                b->waiting--;
                                (void) bench_send(b, s, now);
                        } else
                                next = MIN(next, s->retry_at);
                } else if (s->next_at != 0) {
                        if (now >= b->t_end || interrupted) {
                                s->next_at = 0; /* never started: nothing unfinished */
                                b->waiting--;
                        } else if (now >= s->next_at) {
                                s->next_at = 0;
                                b->waiting--;
                                bench_continue(b, s, now);
                        } else
                                next = MIN(next, s->next_at);
                }
        }
        return next;
}

static usec_t hb_due(const Bench *b, uint64_t k) {
        return b->t_start + (usec_t) ((double) k * b->hb_spacing);
}

/* Heartbeats that are due go out on free slots; one late for want of a slot waits. */
static void bench_heartbeats(Bench *b, usec_t now) {
        while (b->hb_next < b->hb_total && hb_due(b, b->hb_next) <= now && !interrupted) {
                Slot *s = NULL;
                for (unsigned i = 0; i < b->n_slots && !s; i++)
                        if (!b->slots[i].busy)
                                s = &b->slots[i];
                if (!s)
                        return;
                uint32_t pc = (uint32_t) (b->hb_next % b->o.heartbeats);
                if (bench_build(b, s, pc, ++b->hb_seq[pc], 1, true) < 0 || bench_send(b, s, now) < 0) {
                        fprintf(stderr, "bench-collector: cannot send a heartbeat\n");
                        interrupted = 1;
                        return;
                }
                if (now >= b->t_window)
                        hist_add(&b->st.start_delay, now - hb_due(b, b->hb_next));
                b->hb_next++;
        }
}

static int bench_run(Bench *b) {
        usec_t last_mem = 0;

        b->t_start = now_usec(CLOCK_MONOTONIC);
        b->t_window = b->t_start + (usec_t) b->o.warmup * USEC_PER_SEC;
        b->t_end = b->t_window + (usec_t) (b->o.duration * (double) USEC_PER_SEC);
        if (b->o.heartbeats > 0) {
                b->hb_spacing = b->o.interval * (double) USEC_PER_SEC / b->o.heartbeats;
                b->hb_total = (uint64_t) ((double) (b->t_end - b->t_start) / b->hb_spacing);
        } else {
                b->period = b->o.rate > 0 ? (double) b->n_slots * b->o.events_per_batch * USEC_PER_SEC / b->o.rate : 0;
                for (unsigned i = 0; i < b->n_slots; i++)
                        bench_continue(b, &b->slots[i], b->t_start);
        }

        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                int running = 0, left;
                CURLMsg *m;

                if (!b->sampled_before && now >= b->t_window) {
                        bench_sample(b, false);
                        b->sampled_before = true;
                }
                if (!b->sampled_after && now >= b->t_end) {
                        bench_sample(b, true);
                        b->sampled_after = true;
                }
                if (b->o.n_pids > 0 && now - last_mem >= USEC_PER_SEC) {
                        bench_sample_memory(b);
                        last_mem = now;
                }
                if (b->o.heartbeats > 0)
                        bench_heartbeats(b, now);
                usec_t timer;
                (void) bench_timers(b, now); /* what is due now goes before the transfers run */
                if (curl_multi_perform(b->multi, &running) != CURLM_OK)
                        return -EIO;
                while ((m = curl_multi_info_read(b->multi, &left)))
                        if (m->msg == CURLMSG_DONE) {
                                Slot *s;
                                (void) curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &s);
                                bench_done(b, s, m->data.result, now_usec(CLOCK_MONOTONIC));
                        }
                now = now_usec(CLOCK_MONOTONIC);
                timer = bench_timers(b, now); /* and the batches the answers just paced */
                bool sending = now < b->t_end && !interrupted;
                if (!sending && b->in_flight == 0 && b->waiting == 0)
                        break;
                if (now > b->t_end + 60 * USEC_PER_SEC) {
                        fprintf(stderr, "bench-collector: %u requests still open 60 s after the end\n", b->in_flight);
                        b->st.unfinished += b->in_flight;
                        break;
                }
                /* wake for the next heartbeat, retry, sample or the end */
                usec_t wake = now + 100 * USEC_PER_MSEC;
                if (b->o.heartbeats > 0 && b->hb_next < b->hb_total)
                        wake = MIN(wake, MAX(hb_due(b, b->hb_next), now));
                wake = MIN(wake, MAX(timer, now));
                if (!b->sampled_before)
                        wake = MIN(wake, b->t_window);
                if (sending)
                        wake = MIN(wake, b->t_end);
                int timeout_ms = wake > now ? (int) ((wake - now + 999) / 1000) : 0;
                if (curl_multi_poll(b->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
                        return -EIO;
        }
        if (!b->sampled_after)
                bench_sample(b, true); /* interrupted before the end */
        return 0;
}

/* ---- output ---- */

static double rusage_cpu_s(const struct rusage *a, const struct rusage *z) {
        return (double) (z->ru_utime.tv_sec - a->ru_utime.tv_sec + z->ru_stime.tv_sec - a->ru_stime.tv_sec) +
               (double) (z->ru_utime.tv_usec - a->ru_utime.tv_usec + z->ru_stime.tv_usec - a->ru_stime.tv_usec) / 1e6;
}

static void print_latency(const char *what, const Hist *h) {
        if (h->count == 0) {
                printf("%-28s none\n", what);
                return;
        }
        printf("%-28s p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms  (%" PRIu64 ")\n", what,
               hist_quantile(h, 0.50) / 1000, hist_quantile(h, 0.90) / 1000, hist_quantile(h, 0.99) / 1000,
               (double) h->max / 1000, h->count);
}

static void bench_report(Bench *b, double client_cpu_s, long client_rss) {
        const Stats *st = &b->st;
        double window = (double) (b->t_end - b->t_window) / USEC_PER_SEC;
        long tck = sysconf(_SC_CLK_TCK);

        printf("\n== bench-collector: %s ==\n", b->o.heartbeats > 0 ? "heartbeat fleet" : "sustained");
        printf("url                          %s\n", b->o.url);
        if (b->o.heartbeats > 0) {
                printf("fleet                        %u PCs, one agent.heartbeat each per %.0f s: %.1f heartbeats/s due\n",
                       b->o.heartbeats, b->o.interval, b->o.heartbeats / b->o.interval);
                printf("connections                  at most %u at once, %s\n", b->o.max_connections,
                       b->o.reuse    ? "kept alive and shared between PCs (--reuse)"
                       : b->o.resume ? "a new one per heartbeat, resuming a TLS session when the server allows (--resume)"
                                     : "a new one with a full TLS handshake per heartbeat");
                printf("                             (a real PC has its own; one client machine cannot hold %u: a\n"
                       "                             heartbeat due while every connection is busy waits, see 'send delay')\n",
                       b->o.heartbeats);
        } else {
                printf("agents                       %u, %u events per batch, one batch in flight each, %u connections at most\n",
                       b->o.agents, b->o.events_per_batch, b->o.max_connections);
                if (b->o.rate > 0)
                        printf("pace                         %.0f events/s offered: each agent one batch per %.3f s "
                               "(late: at once after its 2xx)\n",
                               b->o.rate, b->period / USEC_PER_SEC);
                else
                        printf("pace                         none: each agent's next batch right after its 2xx\n");
        }
        printf("client certificates          %s\n", b->o.cert_count == 0 ? "none"
                                                    : b->o.cert_count == 1
                                                            ? "one, shared"
                                                            : "one per agent (agent % count of --cert-dir)");
        if (b->o.cert_count > 1)
                printf("                             %u certificates\n", b->o.cert_count);
        printf("gzip                         %s\n", b->o.gzip ? "yes (level 3, as mamori-uplink)" : "no");
        printf("window                       %.1f s measured after %u s of warm-up\n", window, b->o.warmup);
        printf("events/s                     %.0f\n", st->events_2xx / window);
        printf("batches/s                    %.1f\n", st->batches_2xx / window);
        print_latency("time to 2xx per batch", &st->latency);
        if (b->o.rate > 0)
                print_latency("send delay (due -> sent)", &st->start_delay);
        if (b->o.heartbeats > 0) {
                print_latency("send delay (due -> sent)", &st->start_delay);
                printf("heartbeats due in window     %.0f, answered 2xx %" PRIu64 "\n",
                       window * b->o.heartbeats / b->o.interval, st->batches_2xx);
        }
        printf("requests (whole run)         %" PRIu64 " sent, %" PRIu64 " 2xx carrying %" PRIu64 " events, %" PRIu64
               " retried, %" PRIu64 " given up (final 4xx), %" PRIu64 " unfinished\n",
               st->requests, st->requests_2xx, st->events_sent_2xx, st->retries, st->given_up, st->unfinished);
        printf("bytes (whole run)            %" PRIu64 " NDJSON, %" PRIu64 " on the wire\n", st->bytes_body,
               st->bytes_wire);
        bool any = false;
        for (unsigned i = 0; i < STATUS_MAX; i++)
                if (st->status[i]) {
                        printf("%s HTTP %u: %" PRIu64, any ? "," : "non-2xx answers             ", i, st->status[i]);
                        any = true;
                }
        for (unsigned i = 0; i < CURL_LAST; i++)
                if (st->transport[i]) {
                        printf("%s %s: %" PRIu64, any ? "," : "non-2xx answers             ",
                               curl_easy_strerror((CURLcode) i), st->transport[i]);
                        any = true;
                }
        printf("%s\n", any ? "" : "non-2xx answers              none");
        double own = rusage_cpu_s(&b->ru_before, &b->ru_after);
        printf("client (this program)        window: CPU %.1f %% of one core, %.1f µs per event, %.0f µs per request\n",
               100.0 * own / window, st->events_2xx ? own * 1e6 / st->events_2xx : 0.0,
               st->batches_2xx ? own * 1e6 / st->batches_2xx : 0.0);
        printf("                             whole run (TLS handshakes of the warm-up too): CPU %.1f %% of one core, "
               "%.1f µs per event; Rss %ld KiB\n",
               100.0 * client_cpu_s / ((double) (now_usec(CLOCK_MONOTONIC) - b->t_start) / USEC_PER_SEC),
               st->events_sent_2xx ? client_cpu_s * 1e6 / st->events_sent_2xx : 0.0, client_rss);
        for (unsigned i = 0; i < b->o.n_pids; i++) {
                const Watched *w = &b->watched[i];
                if (!w->before.ok || !w->after.ok) {
                        printf("pid %-8d                 could not be read (gone, or no permission)\n", (int) w->pid);
                        continue;
                }
                double cpu = (double) (w->after.cpu_ticks - w->before.cpu_ticks) / (double) tck;
                printf("%s %d%s\n", w->tree ? "process tree" : "collector pid", (int) w->pid,
                       w->tree ? " (and every descendant)" : "");
                printf("  CPU                        %.2f %% of one core, %.1f µs per event (%.2f s in %.1f s; "
                       "%ld ticks/s)\n",
                       100.0 * cpu / window, st->events_2xx ? cpu * 1e6 / st->events_2xx : 0.0, cpu, window, tck);
                printf("  Rss                        %ld KiB before, %ld KiB after, %ld KiB max%s\n", w->before.rss_kib,
                       w->after.rss_kib, w->rss_max_kib, w->tree ? " (summed: shared pages counted per process)" : "");
                printf("  Private_Dirty              %ld KiB before, %ld KiB after, %ld KiB max\n", w->before.dirty_kib,
                       w->after.dirty_kib, w->dirty_max_kib);
                if (w->tree)
                        printf("  processes                  %u before, %u after\n", w->before.nproc, w->after.nproc);
        }
        /* one line for scripts */
        printf("RESULT mode=%s events_per_s=%.1f batches_per_s=%.2f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
               "requests=%" PRIu64 " requests_2xx=%" PRIu64 " events_2xx_total=%" PRIu64 " non2xx=%" PRIu64 "\n",
               b->o.heartbeats > 0 ? "heartbeats" : "sustained", st->events_2xx / window, st->batches_2xx / window,
               hist_quantile(&st->latency, 0.5) / 1000, hist_quantile(&st->latency, 0.9) / 1000,
               hist_quantile(&st->latency, 0.99) / 1000, (double) st->latency.max / 1000, st->requests,
               st->requests_2xx, st->events_sent_2xx, st->requests - st->requests_2xx);
        for (unsigned i = 0; i < b->o.n_pids; i++) {
                const Watched *w = &b->watched[i];
                double cpu = w->before.ok && w->after.ok
                                     ? (double) (w->after.cpu_ticks - w->before.cpu_ticks) / (double) tck
                                     : NAN;
                printf("RESULT pid%u=%d tree=%d cpu_pct=%.2f cpu_us_per_event=%.2f rss_kib=%ld dirty_kib=%ld "
                       "rss_max_kib=%ld dirty_max_kib=%ld\n",
                       i, (int) w->pid, w->tree, 100.0 * cpu / window, st->events_2xx ? cpu * 1e6 / st->events_2xx : NAN,
                       w->after.rss_kib, w->after.dirty_kib, w->rss_max_kib, w->dirty_max_kib);
        }
}

/* ---- setup ---- */

static void usage(FILE *f, const char *argv0) {
        fprintf(f,
                "usage: %s --url URL [TLS and auth] MODE [--pid P]... [--pid-tree P]...\n"
                "modes:\n"
                "  --agents N --events-per-batch B --duration S      sustained load\n"
                "      [--rate R]            paced: R events/s over all agents, spread evenly\n"
                "  --heartbeats N --interval S [--duration S]        a fleet sending heartbeats only\n"
                "TLS and auth:\n"
                "  --ca FILE                 the collector's CA (the only trust, as the agent's ca_file)\n"
                "  --cert FILE --key FILE    one client certificate shared by every agent\n"
                "  --cert-dir DIR            DIR/client-<i>.pem and .key, i = 0..: agent a uses a %% count\n"
                "  --token-file FILE         bearer token (its first line)\n"
                "other:\n"
                "  --gzip                    Content-Encoding: gzip\n"
                "  --max-connections M       bound on open connections (default: agents; 256 for heartbeats)\n"
                "  --reuse                   heartbeats: keep connections alive and share them between PCs\n"
                "  --resume                  heartbeats: a new connection each, resuming the slot's TLS session\n"
                "  --warmup S                seconds before the measured window (default 2)\n"
                "  --seed X                  machine ids derive from it (default: random)\n"
                "  --print-machine-ids N     print the first N machine ids of --seed and exit\n"
                "  --pid P, --pid-tree P     sample the collector (P and, for a tree, every descendant)\n",
                argv0);
}

static int parse_args(Options *o, int argc, char **argv) {
        static const struct option opts[] = {
                { "url", required_argument, NULL, 'u' },
                { "ca", required_argument, NULL, 'C' },
                { "cert", required_argument, NULL, 'c' },
                { "key", required_argument, NULL, 'k' },
                { "cert-dir", required_argument, NULL, 'D' },
                { "token-file", required_argument, NULL, 't' },
                { "agents", required_argument, NULL, 'a' },
                { "events-per-batch", required_argument, NULL, 'b' },
                { "duration", required_argument, NULL, 'd' },
                { "heartbeats", required_argument, NULL, 'H' },
                { "interval", required_argument, NULL, 'i' },
                { "rate", required_argument, NULL, 'R' },
                { "max-connections", required_argument, NULL, 'm' },
                { "gzip", no_argument, NULL, 'z' },
                { "reuse", no_argument, NULL, 'r' },
                { "resume", no_argument, NULL, 'S' },
                { "warmup", required_argument, NULL, 'w' },
                { "seed", required_argument, NULL, 's' },
                { "print-machine-ids", required_argument, NULL, 'P' },
                { "pid", required_argument, NULL, 'p' },
                { "pid-tree", required_argument, NULL, 'T' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;
        bool seeded = false;

        *o = (Options){ .url = "https://127.0.0.1:8443/v1/events", .warmup = 2, .events_per_batch = 100 };
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                char *end = NULL;
                unsigned long v = 0;
                if (strchr("abHmwPpT", c)) {
                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno || !end || *end || v > 10000000) {
                                fprintf(stderr, "bench-collector: not a number: %s\n", optarg);
                                return -EINVAL;
                        }
                }
                switch (c) {
                case 'u':
                        o->url = optarg;
                        break;
                case 'C':
                        o->ca = optarg;
                        break;
                case 'c':
                        o->cert = optarg;
                        break;
                case 'k':
                        o->key = optarg;
                        break;
                case 'D':
                        o->cert_dir = optarg;
                        break;
                case 't':
                        o->token_file = optarg;
                        break;
                case 'a':
                        o->agents = (unsigned) v;
                        break;
                case 'b':
                        o->events_per_batch = (unsigned) v;
                        break;
                case 'H':
                        o->heartbeats = (unsigned) v;
                        break;
                case 'm':
                        o->max_connections = (unsigned) v;
                        break;
                case 'w':
                        o->warmup = (unsigned) v;
                        break;
                case 'z':
                        o->gzip = true;
                        break;
                case 'r':
                        o->reuse = true;
                        break;
                case 'S':
                        o->resume = true;
                        break;
                case 'P':
                        o->print_ids = true;
                        o->agents = (unsigned) v;
                        break;
                case 'd':
                case 'i':
                case 'R': {
                        double d = strtod(optarg, &end);
                        if (!end || *end || !(d > 0) || d > 1e7) {
                                fprintf(stderr, "bench-collector: not a positive number: %s\n", optarg);
                                return -EINVAL;
                        }
                        if (c == 'd')
                                o->duration = d;
                        else if (c == 'i')
                                o->interval = d;
                        else
                                o->rate = d;
                        break;
                }
                case 's':
                        o->seed = strtoull(optarg, NULL, 0);
                        seeded = true;
                        break;
                case 'p':
                case 'T':
                        if (o->n_pids >= MAX_PIDS || v == 0) {
                                fprintf(stderr, "bench-collector: bad or too many --pid\n");
                                return -EINVAL;
                        }
                        o->pid_tree[o->n_pids] = c == 'T';
                        o->pids[o->n_pids++] = (pid_t) v;
                        break;
                case 'h':
                        usage(stdout, argv[0]);
                        exit(0);
                default:
                        return -EINVAL;
                }
        }
        if (!seeded && getrandom(&o->seed, sizeof o->seed, 0) != sizeof o->seed)
                o->seed = (uint64_t) now_usec(CLOCK_REALTIME) ^ ((uint64_t) getpid() << 32);
        if (o->print_ids)
                return 0;
        if (optind < argc || (o->agents > 0) == (o->heartbeats > 0)) {
                fprintf(stderr, "bench-collector: give either --agents N or --heartbeats N\n");
                return -EINVAL;
        }
        if (o->heartbeats > 0 && o->interval <= 0) {
                fprintf(stderr, "bench-collector: --heartbeats needs --interval S\n");
                return -EINVAL;
        }
        if (o->agents > 0 && (o->duration <= 0 || o->events_per_batch == 0 || o->events_per_batch > 100000)) {
                fprintf(stderr, "bench-collector: --agents needs --duration S and --events-per-batch B, 1..100000\n");
                return -EINVAL;
        }
        if (o->heartbeats > 0 && o->duration <= 0)
                o->duration = o->interval;
        if (!!o->cert != !!o->key || (o->cert && o->cert_dir)) {
                fprintf(stderr, "bench-collector: --cert and --key go together; or --cert-dir\n");
                return -EINVAL;
        }
        if (o->max_connections == 0)
                o->max_connections = o->heartbeats > 0 ? 256 : o->agents;
        return 0;
}

static int bench_load_credentials(Bench *b) {
        const Options *o = &b->o;
        char path[4096];
        int r;

        if (o->ca && (r = bench_load_file(o->ca, &b->ca)) < 0) {
                fprintf(stderr, "bench-collector: %s: %s\n", o->ca, strerror(-r));
                return r;
        }
        if (o->token_file) {
                Blob t = {};
                if ((r = bench_load_file(o->token_file, &t)) < 0 || !t.data) {
                        fprintf(stderr, "bench-collector: %s: %s\n", o->token_file, strerror(r < 0 ? -r : EIO));
                        return r < 0 ? r : -EIO;
                }
                t.data[strcspn(t.data, "\r\n")] = 0;
                if (asprintf(&b->auth_header, "Authorization: Bearer %s", t.data) < 0)
                        b->auth_header = NULL;
                free(t.data);
                if (!b->auth_header)
                        return -ENOMEM;
        }
        if (o->cert) {
                b->certs = calloc(1, sizeof(Blob));
                b->keys = calloc(1, sizeof(Blob));
                if (!b->certs || !b->keys)
                        return -ENOMEM;
                if ((r = bench_load_file(o->cert, &b->certs[0])) < 0 || (r = bench_load_file(o->key, &b->keys[0])) < 0) {
                        fprintf(stderr, "bench-collector: client certificate or key: %s\n", strerror(-r));
                        return r;
                }
                b->o.cert_count = 1;
        } else if (o->cert_dir) {
                unsigned n = 0;
                for (;; n++) {
                        snprintf(path, sizeof path, "%s/client-%u.pem", o->cert_dir, n);
                        if (access(path, R_OK) < 0)
                                break;
                }
                if (n == 0) {
                        fprintf(stderr, "bench-collector: no %s/client-0.pem\n", o->cert_dir);
                        return -ENOENT;
                }
                b->certs = calloc(n, sizeof(Blob));
                b->keys = calloc(n, sizeof(Blob));
                if (!b->certs || !b->keys)
                        return -ENOMEM;
                for (unsigned i = 0; i < n; i++) {
                        snprintf(path, sizeof path, "%s/client-%u.pem", o->cert_dir, i);
                        if ((r = bench_load_file(path, &b->certs[i])) < 0)
                                return r;
                        snprintf(path, sizeof path, "%s/client-%u.key", o->cert_dir, i);
                        if ((r = bench_load_file(path, &b->keys[i])) < 0) {
                                fprintf(stderr, "bench-collector: %s: %s\n", path, strerror(-r));
                                return r;
                        }
                }
                b->o.cert_count = n;
        }
        return 0;
}

static void bench_free(Bench *b) {
        if (!b)
                return;
        for (unsigned i = 0; b->slots && i < b->n_slots; i++) {
                Slot *s = &b->slots[i];
                if (s->easy) {
                        if (s->busy)
                                curl_multi_remove_handle(b->multi, s->easy);
                        curl_easy_cleanup(s->easy);
                }
                curl_slist_free_all(s->headers);
                free(s->body);
                free(s->gz);
        }
        free(b->slots);
        if (b->multi)
                curl_multi_cleanup(b->multi);
        for (unsigned i = 0; b->shares && i < b->n_shares; i++)
                if (b->shares[i])
                        curl_share_cleanup(b->shares[i]);
        free(b->shares);
        for (unsigned i = 0; i < b->o.cert_count; i++) {
                free(b->certs[i].data);
                free(b->keys[i].data);
        }
        free(b->certs);
        free(b->keys);
        free(b->ca.data);
        free(b->auth_header);
        free(b->hb_seq);
        if (b->z_ready)
                deflateEnd(&b->z);
        free(b);
}
DEFINE_POINTER_CLEANUP(Bench, bench_free)

static int bench_main(int argc, char **argv) {
        _cleanup_(bench_freep) Bench *b = calloc(1, sizeof(Bench));
        struct rusage ru0, ru1;
        long rss = 0, dirty = 0;
        int r;

        if (!b || parse_args(&b->o, argc, argv) < 0) {
                usage(stderr, argv[0]);
                return 2;
        }
        if (b->o.print_ids) {
                char mid[33];
                for (unsigned i = 0; i < b->o.agents; i++) {
                        machine_id(b, i, mid);
                        printf("%s\n", mid);
                }
                return 0;
        }
        if (getrandom(b->rng, sizeof b->rng, 0) != sizeof b->rng)
                for (unsigned i = 0; i < 4; i++)
                        b->rng[i] = mix64(b->o.seed + i + 1);
        for (unsigned i = 0; i < 4; i++) /* one policy for the whole fleet: no drift */
                hex_into(b->policy_hash + 16 * i, mix64(b->o.seed ^ (i + 1)), 16);
        for (unsigned i = 0; i < b->o.n_pids; i++)
                b->watched[i] = (Watched){ .pid = b->o.pids[i], .tree = b->o.pid_tree[i] };
        if (bench_load_credentials(b) < 0)
                return 1;

        if (b->o.resume && b->o.heartbeats > 0 && b->o.cert_count > 0) {
                b->n_shares = b->o.cert_count;
                b->shares = calloc(b->n_shares, sizeof(CURLSH *));
                for (unsigned i = 0; b->shares && i < b->n_shares; i++)
                        if (!(b->shares[i] = curl_share_init()) ||
                            curl_share_setopt(b->shares[i], CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
                                fprintf(stderr, "bench-collector: cannot share TLS sessions (libcurl)\n");
                                return 1;
                        }
                if (!b->shares) {
                        fprintf(stderr, "bench-collector: out of memory\n");
                        return 1;
                }
        }
        b->multi = curl_multi_init();
        b->n_slots = b->o.heartbeats > 0 ? b->o.max_connections : b->o.agents;
        b->slots = calloc(b->n_slots, sizeof(Slot));
        if (b->o.heartbeats > 0)
                b->hb_seq = calloc(b->o.heartbeats, sizeof(uint32_t));
        if (!b->multi || !b->slots || (b->o.heartbeats > 0 && !b->hb_seq)) {
                fprintf(stderr, "bench-collector: out of memory\n");
                return 1;
        }
        /* the bound: requests beyond it wait in curl's queue for a connection */
        (void) curl_multi_setopt(b->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) b->o.max_connections);
        (void) curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS, (long) b->o.max_connections);
        for (unsigned i = 0; i < b->n_slots; i++) {
                b->slots[i].next_seq = 1;
                if (bench_setup_slot(b, &b->slots[i]) < 0) {
                        fprintf(stderr, "bench-collector: libcurl refused an option (too old?)\n");
                        return 1;
                }
        }

        getrusage(RUSAGE_SELF, &ru0);
        r = bench_run(b);
        getrusage(RUSAGE_SELF, &ru1);
        if (r < 0) {
                fprintf(stderr, "bench-collector: libcurl failed: %s\n", strerror(-r));
                return 1;
        }
        proc_memory(getpid(), &rss, &dirty);
        bench_report(b, rusage_cpu_s(&ru0, &ru1), rss);
        return interrupted ? 130 : 0;
}

int main(int argc, char **argv) {
        int r;

        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGPIPE, SIG_IGN);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return 1;
        r = bench_main(argc, argv);
        curl_global_cleanup();
        return r;
}
