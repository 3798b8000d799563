/* SPDX-License-Identifier: MIT */
/* Benchmark of recording and delivery, in process, through the agent's own
 * code: a Manager with its policy, events built by usb_report_build() from
 * device snapshots (as a plug makes them), manager_emit() (envelope, seq,
 * spool append, group commit, journal line, mamorictl feed), and
 * mamori-uplink's code (agent/uplink/) the production way, only in the same
 * process and event loop: a second Spool opened read-only on the Manager's
 * spool directory (spool_open_reader(), its own cursor in DIR/uplink), woken
 * by inotify on that directory (uplink-wake.c) to spool_refresh() and kick
 * the Uplink, which posts NDJSON batches to a real HTTPS collector. The
 * Manager's spool pulls the reader's cursor (spool_set_delivered_source()) to
 * retire what was delivered. Left out: the sysfs reading of a plug, and the
 * two processes' scheduling. Prints figures; it is not a test.
 *
 *   mamori-bench-reporting --dir DIR --url URL --ca CA --cert CERT --key KEY [--events N] [--burst B] [--gzip]
 *
 * Phases: (1) spool N events, nothing delivered (collector not configured);
 * (2) drain them to the collector; (3) one event at a time, emit to 2xx. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "manager.h"
#include "reporting.h"
#include "uplink-wake.h"
#include "uplink.h"
#include "usb-report.h"

static const char *arg_dir, *arg_url, *arg_ca, *arg_cert, *arg_key;
static unsigned arg_events = 100000, arg_burst = 1000, arg_single = 200;
static bool arg_gzip;

static double cpu_seconds(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void) {
        return (double) now_usec(CLOCK_MONOTONIC) / 1e6;
}

static Policy *load(bool with_url) {
        _cleanup_free_ char *url = NULL, *text = NULL;
        Policy *p = NULL;
        ConfigErrors e = { 0 };

        if (with_url &&
            asprintf(&url, "  url = \"%s\";\n  ca_file = \"%s\";\n  client_cert = \"%s\";\n  client_key = \"%s\";\n",
                     arg_url, arg_ca, arg_cert, arg_key) < 0)
                return NULL;
        if (asprintf(&text,
                     /* 100,000 USB events take ~100 MiB: more than the default bound */
                     "spool = { max_size_mb = 512; };\n"
                     "collector = {\n%s  heartbeat_interval = 0;\n  gzip = %s;\n  backoff_min = \"100ms\";\n  backoff_max = \"1s\";\n};\n",
                     strempty(url), arg_gzip ? "true" : "false") < 0)
                return NULL;
        if (config_load_strings(text, NULL, &p, &e) < 0) {
                config_errors_print(&e, stderr);
                return NULL;
        }
        config_errors_done(&e);
        return p;
}

/* One usb.blocked event as a plug of an unlisted stick makes it. */
static void emit_one(Manager *m, unsigned i) {
        char serial[32], bus[16], intf[24];
        UsbDevice *d;
        Decision dec;
        Event *e = NULL;

        snprintf(serial, sizeof serial, "4C5300%014u", i);
        snprintf(bus, sizeof bus, "2-%u", 1 + i % 12);
        snprintf(intf, sizeof intf, "%s:1.0", bus);
        d = usb_device_new(bus, 0x0781, 0x5567, serial, strlen(serial));
        free(d->manufacturer);
        d->manufacturer = strdup("SanDisk");
        free(d->product_name);
        d->product_name = strdup("Cruzer Blade");
        d->busnum = 2;
        d->devnum = 100 + i % 27;
        usb_device_add_interface(d, intf, 0x08, 0x06, 0x50, NULL, 0);
        usb_device_classify(d);
        dec = policy_decide(m->policy, d, now_usec(CLOCK_REALTIME));
        if (usb_report_build(m->policy, d, &dec, &e) < 0)
                abort();
        (void) manager_emit(m, e);
        usb_device_free(d);
}

typedef struct Gen {
        Manager *m;
        unsigned done, total;
        sd_event_source *src;
} Gen;

/* A burst per loop iteration: what a hub full of sticks, or a scan, does. */
static int on_generate(sd_event_source *s, void *userdata) {
        Gen *g = userdata;
        for (unsigned k = 0; k < arg_burst && g->done < g->total; k++)
                emit_one(g->m, g->done++);
        if (g->done >= g->total)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

static SpoolStats stats_of(const Spool *s) {
        SpoolStats st;
        spool_get_stats(s, &st);
        return st;
}

static SpoolStats stats(Manager *m) {
        return stats_of(reporting_spool(m->reporting));
}

/* mamori-uplink's side: what agent/uplink/main.c does when inotify says the
 * spool directory changed (uplink_main_refresh_spool() once the spool is open). */
typedef struct Reader {
        Spool *spool;
        Uplink *uplink;
        unsigned wakes;
        int error;
} Reader;

static void reader_on_spool_changed(void *userdata) {
        Reader *rd = userdata;
        int r;

        rd->wakes++;
        r = spool_refresh(rd->spool);
        if (r < 0) {
                rd->error = r;
                return;
        }
        if (r > 0)
                uplink_kick(rd->uplink);
}

static void reader_on_damaged(const SpoolFinding *f, void *userdata) {
        fprintf(stderr, "reader: damage in the spool (%s in %s at offset %" PRIu64 ")\n",
                spool_damage_to_string(f->kind), f->file, f->offset);
        ((Reader *) userdata)->error = -EBADMSG;
}

/* Rss and Private_Dirty of this process (writer, reader and uplink together), in KiB. */
static void print_memory(const char *when) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/smaps_rollup", "re");
        char line[256];
        unsigned long v, rss = 0, dirty = 0;

        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                if (sscanf(line, "Rss: %lu kB", &v) == 1)
                        rss = v;
                else if (sscanf(line, "Private_Dirty: %lu kB", &v) == 1)
                        dirty = v;
        }
        printf("memory: %s: Rss %lu KiB, Private_Dirty %lu KiB\n", when, rss, dirty);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "dir", required_argument, NULL, 'd' },   { "url", required_argument, NULL, 'u' },
                { "ca", required_argument, NULL, 'c' },    { "cert", required_argument, NULL, 'C' },
                { "key", required_argument, NULL, 'k' },   { "events", required_argument, NULL, 'n' },
                { "burst", required_argument, NULL, 'b' }, { "single", required_argument, NULL, 's' },
                { "gzip", no_argument, NULL, 'z' },        {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        arg_dir = optarg;
                        break;
                case 'u':
                        arg_url = optarg;
                        break;
                case 'c':
                        arg_ca = optarg;
                        break;
                case 'C':
                        arg_cert = optarg;
                        break;
                case 'k':
                        arg_key = optarg;
                        break;
                case 'n':
                        arg_events = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'b':
                        arg_burst = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 's':
                        arg_single = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'z':
                        arg_gzip = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (!arg_dir || !arg_url || !arg_ca || !arg_cert || !arg_key || arg_burst == 0) {
                fprintf(stderr,
                        "usage: %s --dir DIR --url URL --ca CA --cert CERT --key KEY [--events N] [--burst B] [--single N] [--gzip]\n",
                        argv[0]);
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        static const UplinkWakeHandlers wake_handlers = { .spool_changed = reader_on_spool_changed };
        static const SpoolCallbacks reader_cb = { .damaged = reader_on_damaged };
        /* Freed in reverse: the wake and the uplink before the reader's spool, the Manager last. */
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(spool_freep) Spool *reader = NULL;
        _cleanup_(uplink_freep) Uplink *u = NULL;
        _cleanup_(uplink_wake_freep) UplinkWake *wake = NULL;
        _cleanup_free_ char *uplink_dir = NULL, *uplink_run = NULL, *cursor = NULL;
        Reader rd = { 0 };
        Gen gen = { 0 };
        SpoolStats a, b, ra, rb;
        double t0, c0, t_spool, c_spool, t_drain, c_drain, t_open;
        UplinkStatus us;
        int r;

        if (parse_argv(argc, argv) < 0)
                return 2;
        /* Events are journaled at their level (usb.blocked: warning); a bench
         * keeps stderr for its figures. */
        log_open(LOG_TARGET_STDERR);
        log_set_max_level(LOG_ERR);
        /* mamori-uplink's directories, as its unit's StateDirectory= and
         * RuntimeDirectory=: the Manager reads the cursor and status file there. */
        if (asprintf(&uplink_dir, "%s/uplink", arg_dir) < 0 || asprintf(&uplink_run, "%s/uplink-run", arg_dir) < 0 ||
            asprintf(&cursor, "%s/cursor", uplink_dir) < 0)
                return log_oom();
        (void) mkdir(arg_dir, 0755);
        if ((mkdir(uplink_dir, 0755) < 0 && errno != EEXIST) || (mkdir(uplink_run, 0755) < 0 && errno != EEXIST)) {
                fprintf(stderr, "cannot make %s or %s: %s\n", uplink_dir, uplink_run, strerror(errno));
                return 1;
        }
        setenv("STATE_DIRECTORY", arg_dir, 1);
        setenv("MAMORI_UPLINK_STATE_DIR", uplink_dir, 1);
        setenv("MAMORI_UPLINK_RUNTIME_DIR", uplink_run, 1);
        r = manager_new(&(ManagerOptions){ .config_path = "/nonexistent/mamori.conf", .runtime_dir = arg_dir }, &m);
        if (r < 0)
                return 1;
        m->started_at = now_usec(CLOCK_MONOTONIC);
        m->policy = load(false);
        if (!m->policy)
                return 1;
        /* Its spool reads DIR/uplink/cursor (spool_set_delivered_source()) at
         * open, before each commit and on spool_pull_delivered(). */
        r = manager_start_reporting(m);
        if (r < 0 || !reporting_spool(m->reporting)) {
                fprintf(stderr, "cannot open the spool in %s\n", arg_dir);
                return 1;
        }
        print_memory("at start (writer)");

        /* (1) spool */
        gen = (Gen){ .m = m, .total = arg_events };
        a = stats(m);
        if (sd_event_add_defer(m->event, &gen.src, on_generate, &gen) < 0)
                return 1;
        (void) sd_event_source_set_enabled(gen.src, SD_EVENT_ON);
        t0 = now_s();
        c0 = cpu_seconds();
        while (gen.done < gen.total || stats(m).queued > 0)
                if (sd_event_run(m->event, UINT64_MAX) < 0)
                        return 1;
        t_spool = now_s() - t0;
        c_spool = cpu_seconds() - c0;
        b = stats(m);
        printf("spool:  %u events in %.3fs = %.0f events/s; %" PRIu64 " commits, %" PRIu64 " fsyncs = %.4f fsyncs/event; "
               "%.3f CPU s = %.1f us/event; %.1f MiB on disk (%u B/event)\n",
               arg_events, t_spool, arg_events / t_spool, b.commits - a.commits, b.fsyncs - a.fsyncs,
               (double) (b.fsyncs - a.fsyncs) / arg_events, c_spool, c_spool * 1e6 / arg_events,
               (double) b.bytes / (1024 * 1024), (unsigned) (b.bytes / MAX(b.depth, 1)));
        if (b.depth != arg_events) {
                fprintf(stderr, "spool depth %" PRIu64 " != %u: events were dropped (spool too small?)\n", b.depth,
                        arg_events);
                return 1;
        }
        print_memory("after spool (writer)");

        /* (2) drain: mamori-uplink starts with the spool full. It opens the
         * spool read-only, watches its directory and is configured. */
        policy_unref(m->policy);
        m->policy = load(true);
        if (!m->policy)
                return 1;
        a = stats(m);
        t0 = now_s();
        c0 = cpu_seconds();
        r = spool_open_reader(spool_dir(reporting_spool(m->reporting)), cursor, &(SpoolReaderOptions){ 0 }, &reader);
        if (r < 0) {
                fprintf(stderr, "cannot open the spool read-only: %s\n", strerror(-r));
                return 1;
        }
        t_open = now_s() - t0;
        rd.spool = reader;
        spool_set_callbacks(reader, &reader_cb, &rd);
        if (spool_attach_event(reader, m->event, SD_EVENT_PRIORITY_NORMAL) < 0)
                return 1;
        ra = stats_of(reader);
        if (uplink_new(m->event, reader, uplink_dir, &u) < 0)
                return 1;
        rd.uplink = u;
        if (uplink_wake_new(m->event, &wake_handlers, &rd, &wake) < 0 ||
            uplink_wake_watch_spool(wake, spool_dir(reader)) < 0)
                return 1;
        if (uplink_configure(u, &m->policy->collector, m->policy->spool.max_bytes) < 0)
                return 1;
        while (stats_of(reader).depth > 0) {
                if (sd_event_run(m->event, UINT64_MAX) < 0 || rd.error < 0)
                        return 1;
                uplink_get_status(u, &us);
                if (us.failures > 3) {
                        fprintf(stderr, "delivery fails: %s\n", strna(us.last_error));
                        return 1;
                }
        }
        t_drain = now_s() - t0;
        c_drain = cpu_seconds() - c0;
        rb = stats_of(reader);
        uplink_get_status(u, &us);
        printf("drain:  %u events in %.3fs = %.0f events/s through the read-only reader; %" PRIu64
               " batches (%.0f events/batch), %.1f MiB posted%s (reader's open: %.0f ms); "
               "%" PRIu64 " fsyncs (reader's cursor) = %.4f fsyncs/event; %.3f CPU s = %.1f us/event\n",
               arg_events, t_drain, arg_events / t_drain, us.batches_sent,
               (double) us.events_sent / MAX(us.batches_sent, 1), (double) us.bytes_sent / (1024 * 1024),
               arg_gzip ? " (gzip)" : "", t_open * 1e3, rb.fsyncs - ra.fsyncs,
               (double) (rb.fsyncs - ra.fsyncs) / arg_events, c_drain, c_drain * 1e6 / arg_events);
        print_memory("after drain (writer + reader + uplink, one process)");

        /* The writer retires what the reader acknowledged at its next commit
         * or heartbeat: here the heartbeat's pull. */
        t0 = now_s();
        r = spool_pull_delivered(reporting_spool(m->reporting));
        b = stats(m);
        printf("reclaim: writer pulled the reader's cursor (%s) in %.2f ms: delivered up to %" PRIu64 ", depth %" PRIu64
               ", %.1f MiB left on disk in %u segment%s; %" PRIu64 " fsyncs\n",
               r > 0    ? "moved"
               : r == 0 ? "no change"
                        : "error",
               (now_s() - t0) * 1e3, b.acked_seq, b.depth, (double) b.bytes / (1024 * 1024), b.segments,
               b.segments == 1 ? "" : "s", b.fsyncs - a.fsyncs);
        if (r <= 0 || b.depth != 0)
                return 1;
        print_memory("after reclaim");

        /* (3) one event, from manager_emit() to the collector's 2xx and the
         * reader's cursor on disk, the uplink idle: the commit, the
         * `committed` mark, the inotify wakeup, spool_refresh(), the POST. */
        _cleanup_free_ double *lat = calloc(arg_single ? arg_single : 1, sizeof *lat);
        double c_single;
        unsigned wakes0 = rd.wakes;
        if (!lat)
                return log_oom();
        a = stats(m);
        ra = stats_of(reader);
        c0 = cpu_seconds();
        for (unsigned i = 0; i < arg_single; i++) {
                double s = now_s();
                uint64_t seq = stats(m).next_seq;
                emit_one(m, arg_events + i);
                while (stats_of(reader).acked_seq < seq)
                        if (sd_event_run(m->event, UINT64_MAX) < 0 || rd.error < 0)
                                return 1;
                lat[i] = now_s() - s;
        }
        c_single = cpu_seconds() - c0;
        b = stats(m);
        rb = stats_of(reader);
        qsort(lat, arg_single, sizeof *lat, cmp_double);
        if (arg_single)
                printf("single: %u events one at a time, emit to 2xx: p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
                       "%.2f fsyncs/event (writer %.2f, reader %.2f); %.1f inotify wakeups/event; "
                       "%.0f us CPU/event (record + commit + wakeup + refresh + TLS POST + ack)\n",
                       arg_single, lat[arg_single / 2] * 1e3, lat[(size_t) floor(arg_single * 0.99)] * 1e3,
                       lat[arg_single - 1] * 1e3, (double) (b.fsyncs - a.fsyncs + rb.fsyncs - ra.fsyncs) / arg_single,
                       (double) (b.fsyncs - a.fsyncs) / arg_single, (double) (rb.fsyncs - ra.fsyncs) / arg_single,
                       (double) (rd.wakes - wakes0) / arg_single, c_single * 1e6 / arg_single);
        print_memory("after single");
        printf("total:  %.3f CPU s for %u events spooled, drained and %u sent singly (%.1f us/event overall)\n",
               c_spool + c_drain + c_single, arg_events, arg_single,
               (c_spool + c_drain + c_single) * 1e6 / (arg_events + arg_single));
        printf("last seq %" PRIu64 ", delivered up to %" PRIu64 " (reader's cursor)\n", b.next_seq - 1, rb.acked_seq);
        return rb.acked_seq == b.next_seq - 1 ? 0 : 1;
}
