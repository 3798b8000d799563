/* SPDX-License-Identifier: MIT */
/* bench-usb: how fast the real mamorid blocks a USB stick, and whether its
 * memory stays flat, measured against a umockdev testbed.
 *
 * Run it under umockdev-wrapper, like mamorid. The benchmark sends every
 * uevent itself, in the kernel's order and at a known instant: umockdev adds
 * an "add" uevent to each device it creates only when it believes it runs
 * under the preload, a belief it forms once, on its first check; the check is
 * made before the testbed exists (so /sys is still the real one), and it says
 * no. Were that ever to change, every plug would count as blocked before its
 * uevent and the benchmark would stop with an error rather than lie.
 *
 * Latency: for each plug the device's "add" is sent and handled first (no
 * interfaces yet, as on a real kernel); then its storage interface appears,
 * an inotify watch is put on the interface's `authorized` file and the
 * interface's "add" uevent is sent. The latency runs from the sendmsg() that
 * puts the uevent on mamorid's socket (this program wraps sendmsg() to read
 * the clock right before it: umockdev's own work to build the uevent is not
 * mamorid's) until inotify reports that mamorid closed the file after
 * writing authorized=0.
 *
 * It is measured twice: at normal priority, as the service runs, and with
 * mamorid and this program at real-time priority (SCHED_FIFO), which leaves
 * out the time spent waiting for a CPU that other work holds. Also printed:
 * mamorid's CPU time per plug, which no other load changes.
 *
 * Memory: Rss and Private_Dirty of mamorid from /proc/PID/smaps_rollup, after
 * start, after the latency plugs, and every 1000 of N plug/unplug cycles. */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <dlfcn.h>

#include <umockdev.h>

#include "spool-record.h"

#define HUB "/sys/devices/0000:00:14.0/usb2"
#define N_PORTS 16

typedef struct Bench {
        UMockdevTestbed *tb;
        const char *root;
        char dir[64];
        const char *mamorid;
        pid_t pid;
        int notify_fd;
        int inotify_fd;
        unsigned serial;
} Bench;

static _Noreturn void die(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("bench-usb: ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(1);
}

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The instant of the last sendmsg() of this process: umockdev's uevent sender
 * calls it once per listening process, and mamorid is the only one. */
static int64_t last_sendmsg_ns;

__attribute__((visibility("default"))) ssize_t sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
        static ssize_t (*real)(int, const struct msghdr *, int);
        if (!real)
                real = (ssize_t(*)(int, const struct msghdr *, int)) dlsym(RTLD_NEXT, "sendmsg");
        last_sendmsg_ns = now_ns();
        return real(fd, msg, flags);
}

static void sleep_us(long us) {
        struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void add_from_string(Bench *b, const char *text) {
        GError *error = NULL;
        if (!umockdev_testbed_add_from_string(b->tb, text, &error))
                die("umockdev: %s", error ? error->message : "?");
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                die("cannot write %s: %m", path);
}

/* sysfs lives in memory; a testbed on a disk file system would make every
 * write of `authorized` wait for that file system's journal now and then,
 * which says nothing about mamorid. As root, put the testbed on a tmpfs in a
 * mount namespace of our own (mamorid inherits it); the state directory, like
 * /var/lib/mamori, stays on disk. */
static const char *private_tmpfs(void) {
        static char dir[] = "/tmp/mamori-bench-tmpfs.XXXXXX";
        if (!mkdtemp(dir))
                return NULL;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=512m,mode=0700") < 0) {
                (void) rmdir(dir);
                return NULL;
        }
        return dir;
}

static void build_testbed(Bench *b) {
        char p[512];

        b->tb = umockdev_testbed_new();
        b->root = umockdev_testbed_get_root_dir(b->tb);
        add_from_string(b, "P: /devices/0000:00:14.0\nE: SUBSYSTEM=pci\nA: vendor=0x8086\n");
        add_from_string(b, "P: /devices/0000:00:14.0/usb2\n"
                           "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: BUSNUM=002\nE: DEVNUM=001\n"
                           "A: idVendor=1d6b\nA: idProduct=0003\nA: bDeviceClass=09\nA: authorized=1\n"
                           "A: authorized_default=1\nA: interface_authorized_default=1\nA: busnum=2\nA: devnum=1\n"
                           "A: bConfigurationValue=1\nA: product=xHCI Host Controller\n");
        snprintf(p, sizeof p, "%s/sys/bus/usb", b->root);
        if (g_mkdir_with_parents(p, 0755) < 0)
                die("mkdir %s: %m", p);
        snprintf(p, sizeof p, "%s/sys/bus/usb/drivers_probe", b->root);
        write_file(p, "");
}

static void start_mamorid(Bench *b, const char *conf_extra) {
        char conf[128], allow[128], state[128], run[128], sock[128], log[128], buf[4096];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int64_t deadline;

        if (!mkdtemp(b->dir))
                die("mkdtemp: %m");
        snprintf(conf, sizeof conf, "%s/mamori.conf", b->dir);
        snprintf(allow, sizeof allow, "%s/allow.d", b->dir);
        snprintf(state, sizeof state, "%s/state", b->dir);
        snprintf(run, sizeof run, "%s/run", b->dir);
        snprintf(sock, sizeof sock, "%s/notify", b->dir);
        snprintf(log, sizeof log, "%s/mamorid.log", b->dir);
        if (mkdir(allow, 0755) < 0)
                die("mkdir: %m");
        /* USB only: the antivirus pattern check (on by default) would add its own event. */
        write_file(conf, "usb = { block = [ \"storage\", \"mtp\", \"ptp\", \"tethering\" ]; };\n"
                         "antivirus = { engine = \"none\"; };\n");
        if (conf_extra) {
                /* e.g. a collector section (bench_usb_collector.py): the spool drains as in service */
                FILE *in = fopen(conf_extra, "re"), *out = fopen(conf, "ae");
                size_t n;
                if (!in || !out)
                        die("%s: %m", in ? conf : conf_extra);
                while ((n = fread(buf, 1, sizeof buf, in)) > 0)
                        if (fwrite(buf, 1, n, out) != n)
                                die("%s: %m", conf);
                fclose(in);
                if (fclose(out) != 0)
                        die("%s: %m", conf);
        }

        b->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (strlen(sock) >= sizeof sa.sun_path)
                die("socket path too long: %s", sock);
        memcpy(sa.sun_path, sock, strlen(sock) + 1);
        if (b->notify_fd < 0 || bind(b->notify_fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                die("notify socket: %m");

        b->pid = fork();
        if (b->pid < 0)
                die("fork: %m");
        if (b->pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                /* LD_PRELOAD (the umockdev preload) is inherited */
                setenv("UMOCKDEV_DIR", b->root, 1);
                setenv("NOTIFY_SOCKET", sock, 1);
                setenv("STATE_DIRECTORY", state, 1);
                setenv("RUNTIME_DIRECTORY", run, 1);
                setenv("MAMORI_LOG_TARGET", "stderr", 1);
                setenv("MAMORI_LOG_LEVEL", "debug", 1); /* "Blocked interface ... in N us" */
                execl(b->mamorid, "mamorid", "--config", conf, (char *) NULL);
                _exit(127);
        }

        deadline = now_ns() + 10 * 1000000000LL;
        for (;;) {
                struct pollfd pfd = { b->notify_fd, POLLIN, 0 };
                ssize_t n;
                int status;
                if (waitpid(b->pid, &status, WNOHANG) == b->pid)
                        die("mamorid exited at start; see %s", log);
                if (now_ns() > deadline)
                        die("mamorid did not report READY=1; see %s", log);
                if (poll(&pfd, 1, 100) <= 0)
                        continue;
                n = recv(b->notify_fd, buf, sizeof buf - 1, 0);
                if (n <= 0)
                        continue;
                buf[n] = 0;
                if (strstr(buf, "READY=1"))
                        break;
        }
}

static bool stop_mamorid(Bench *b) {
        int status = 0;
        if (b->pid <= 0)
                return true;
        kill(b->pid, SIGTERM);
        if (waitpid(b->pid, &status, 0) != b->pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench-usb: mamorid did not stop cleanly (status %d); see %s/mamorid.log\n", status,
                        b->dir);
                b->pid = 0;
                return false;
        }
        b->pid = 0;
        return true;
}

typedef struct Mem {
        long rss_kib, private_dirty_kib;
} Mem;

static Mem read_mem(pid_t pid) {
        char path[64], line[256];
        Mem m = { -1, -1 };
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int) pid);
        f = fopen(path, "re");
        if (!f)
                die("cannot read %s: %m", path);
        while (fgets(line, sizeof line, f)) {
                long v;
                if (sscanf(line, "Rss: %ld kB", &v) == 1)
                        m.rss_kib = v;
                else if (sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
                        m.private_dirty_kib = v;
        }
        fclose(f);
        return m;
}

/* Waits until the writer closes the file (after O_TRUNC and write); returns when that was seen. */
static int64_t wait_write(Bench *b, int wd) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        int64_t deadline = now_ns() + 5 * 1000000000LL;

        for (;;) {
                struct pollfd pfd = { b->inotify_fd, POLLIN, 0 };
                ssize_t n;
                if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
                        die("poll: %m");
                n = read(b->inotify_fd, buf, sizeof buf);
                if (n > 0) {
                        int64_t t = now_ns();
                        for (char *p = buf; p < buf + n;) {
                                struct inotify_event *ev = (struct inotify_event *) p;
                                if (ev->wd == wd && (ev->mask & IN_CLOSE_WRITE))
                                        return t;
                                p += sizeof *ev + ev->len;
                        }
                }
                if (now_ns() > deadline)
                        die("mamorid did not block the interface within 5 s (see %s/mamorid.log)", b->dir);
        }
}

static bool authorized_is_zero(const char *path) {
        char c = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (read(fd, &c, 1) != 1)
                c = 0;
        close(fd);
        return c == '0';
}

/* One plug of a USB stick, in the kernel's order, then its removal. Returns
 * the uevent-to-authorized=0 latency in ns, or -1 when the interface was
 * blocked before its own uevent was sent. */
static int64_t plug_and_pull(Bench *b, unsigned n, bool settle) {
        unsigned port = n % N_PORTS + 1;
        char dev[128], iface[192], text[1024], auth[1024];
        int64_t t0, t1;
        bool early;
        int wd;

        b->serial++;
        snprintf(dev, sizeof dev, HUB "/2-%u", port);
        snprintf(iface, sizeof iface, "%s/2-%u:1.0", dev, port);
        snprintf(text, sizeof text,
                 "P: %s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: PRODUCT=930/6545/100\n"
                 "A: idVendor=0930\nA: idProduct=6545\nA: serial=BENCH%08u\nA: manufacturer=TOSHIBA\n"
                 "A: product=TransMemory\nA: bDeviceClass=00\nA: authorized=1\nA: busnum=2\nA: devnum=%u\n"
                 "A: bConfigurationValue=1\n",
                 dev + 4, b->serial, port + 1);
        add_from_string(b, text);
        umockdev_testbed_uevent(b->tb, dev, "add");
        if (settle)
                sleep_us(2000); /* let the device's own add be handled first, as udev would */

        snprintf(text, sizeof text,
                 "P: %s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\nE: INTERFACE=8/6/80\n"
                 "A: bInterfaceClass=08\nA: bInterfaceSubClass=06\nA: bInterfaceProtocol=50\n"
                 "A: bInterfaceNumber=00\nA: bAlternateSetting= 0\nA: authorized=1\n"
                 /* resolved against MAMORI_MODULES_DIR (or the running kernel's aliases) */
                 "A: modalias=usb:v0930p6545d0100dc00dsc00dp00ic08isc06ip50in00\n",
                 iface + 4);
        add_from_string(b, text);
        snprintf(auth, sizeof auth, "%s%s/authorized", b->root, iface);
        wd = inotify_add_watch(b->inotify_fd, auth, IN_CLOSE_WRITE);
        if (wd < 0)
                die("inotify_add_watch %s: %m", auth);

        /* Blocked already: the device's own add was handled after the
         * interface appeared (its uevent was late). Not a sample. */
        early = authorized_is_zero(auth);
        last_sendmsg_ns = 0;
        umockdev_testbed_uevent(b->tb, iface, "add");
        t0 = last_sendmsg_ns;
        if (t0 == 0)
                die("umockdev sent no uevent (is mamorid listening?)");
        t1 = early ? -1 : wait_write(b, wd);
        if (!authorized_is_zero(auth))
                die("authorized was written, but not 0");
        umockdev_testbed_uevent(b->tb, dev, "bind");

        inotify_rm_watch(b->inotify_fd, wd);
        umockdev_testbed_uevent(b->tb, iface, "remove");
        umockdev_testbed_uevent(b->tb, dev, "remove");
        umockdev_testbed_remove_device(b->tb, iface); /* children first: each has its bus link */
        umockdev_testbed_remove_device(b->tb, dev);
        return early ? -1 : t1 - t0;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return x < y ? -1 : x > y;
}

static double pct_ms(const int64_t *sorted, size_t n, double p) {
        size_t i = (size_t) (p / 100.0 * (double) (n - 1) + 0.5);
        return (double) sorted[i] / 1e6;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

/* Events mamorid recorded: every intact record in its spool's segments
 * (common/spool-record.h). */
static size_t count_spooled(const char *spool_dir) {
        DIR *d = opendir(spool_dir);
        struct dirent *de;
        size_t n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                char path[4096];
                size_t len = strlen(de->d_name), off = 0, got = 0;
                uint8_t *buf;
                FILE *f;
                long sz;

                if (len < 5 || strcmp(de->d_name + len - 4, ".seg") != 0)
                        continue;
                snprintf(path, sizeof path, "%s/%s", spool_dir, de->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                fseek(f, 0, SEEK_END);
                sz = ftell(f);
                rewind(f);
                buf = malloc(sz > 0 ? (size_t) sz : 1);
                if (buf)
                        got = fread(buf, 1, sz > 0 ? (size_t) sz : 0, f);
                fclose(f);
                while (buf && off < got) {
                        SpoolRecord r;
                        size_t rsz;
                        if (spool_record_decode(buf + off, got - off, &r, &rsz) != SPOOL_DECODE_OK)
                                break;
                        /* agent.posture comes at start and again once the modules' first
                         * readings are in: not a plug's event, so not counted. */
                        if (!memmem(r.json, r.json_len, "\"kind\":\"agent.posture\"",
                                    strlen("\"kind\":\"agent.posture\"")))
                                n++;
                        off += rsz;
                }
                free(buf);
        }
        closedir(d);
        return n;
}

static void print_mem(const char *what, Mem m) {
        printf("  %-28s Rss %6ld KiB   Private_Dirty %6ld KiB\n", what, m.rss_kib, m.private_dirty_kib);
}

/* utime + stime of a process, in clock ticks */
static long cpu_ticks(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long ut = 0, st = 0;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f || !fgets(buf, sizeof buf, f))
                die("cannot read %s", path);
        fclose(f);
        p = strrchr(buf, ')'); /* the command name may hold spaces */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
                die("cannot parse %s", path);
        return (long) (ut + st);
}

static int set_fifo(pid_t pid, bool on) {
        struct sched_param sp = { .sched_priority = on ? 10 : 0 };
        return sched_setscheduler(pid, on ? SCHED_FIFO : SCHED_OTHER, &sp);
}

/* plugs samples of the interface-add path; returns how many plugs did not count */
static unsigned measure(Bench *b, int64_t *lat, unsigned plugs, unsigned *next) {
        unsigned early = 0;
        for (unsigned i = 0; i < plugs;) {
                int64_t l = plug_and_pull(b, (*next)++, true);
                if (l >= 0)
                        lat[i++] = l;
                else if (++early > plugs)
                        die("too many plugs blocked before their interface's uevent");
        }
        return early;
}

/* mamorid's own figure: "Blocked interface X (storage) in N us", from taking
 * up the uevent to the write. Reads the log from *offset on. */
static void report_processing(Bench *b, long *offset) {
        char path[128], line[8192];
        int64_t *us = NULL;
        size_t n = 0, cap = 0;
        FILE *f;

        snprintf(path, sizeof path, "%s/mamorid.log", b->dir);
        f = fopen(path, "re");
        if (!f || fseek(f, *offset, SEEK_SET) < 0)
                die("cannot read %s", path);
        while (fgets(line, sizeof line, f)) {
                const char *p = strstr(line, "> Blocked interface ");
                long long v;
                if (!p || !(p = strstr(p, ") in ")) || sscanf(p, ") in %lld us", &v) != 1)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 1024;
                        us = realloc(us, cap * sizeof *us);
                        if (!us)
                                die("out of memory");
                }
                us[n++] = v * 1000;
        }
        *offset = ftell(f);
        fclose(f);
        if (n < 2) {
                free(us);
                return;
        }
        qsort(us, n, sizeof *us, cmp_i64);
        printf("  inside mamorid (its log: uevent taken up -> authorized=0 written), %zu blocks:\n"
               "  p50 %.3f ms   p90 %.3f ms   p99 %.3f ms   max %.3f ms\n",
               n, pct_ms(us, n, 50), pct_ms(us, n, 90), pct_ms(us, n, 99), (double) us[n - 1] / 1e6);
        free(us);
}

static double report_latency(const char *what, int64_t *lat, unsigned plugs) {
        double sum = 0;
        qsort(lat, plugs, sizeof *lat, cmp_i64);
        for (unsigned i = 0; i < plugs; i++)
                sum += (double) lat[i];
        printf("\nuevent -> authorized=0 over %u plugs, %s:\n"
               "  p50 %.3f ms   p90 %.3f ms   p99 %.3f ms   max %.3f ms   mean %.3f ms\n",
               plugs, what, pct_ms(lat, plugs, 50), pct_ms(lat, plugs, 90), pct_ms(lat, plugs, 99),
               (double) lat[plugs - 1] / 1e6, sum / plugs / 1e6);
        return pct_ms(lat, plugs, 99);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "mamorid", required_argument, NULL, 'm' },
                { "plugs", required_argument, NULL, 'p' },
                { "cycles", required_argument, NULL, 'c' },
                { "keep", no_argument, NULL, 'k' },
                { "smoke", no_argument, NULL, 's' },
                { "no-tmpfs", no_argument, NULL, 'T' },
                { "conf-extra", required_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        Bench b = { .dir = "/tmp/mamori-bench-XXXXXX", .mamorid = MAMORID_PATH, .notify_fd = -1 };
        unsigned plugs = 1000, cycles = 10000, n_early = 0, next = 0;
        size_t n_events;
        bool stopped;
        long cpu0, cpu1, log_offset = 0;
        double p99_normal, p99_rt = -1;
        bool keep = false, ok = true, smoke = false, use_tmpfs = true;
        const char *tmpfs, *conf_extra = NULL;
        int64_t *lat;
        Mem m_start, m_warm, m_end, m_max, m_1000;
        char events[128];
        int c;

        while ((c = getopt_long(argc, argv, "m:p:c:ksh", options, NULL)) >= 0)
                switch (c) {
                case 'm':
                        b.mamorid = optarg;
                        break;
                case 'p':
                        plugs = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'c':
                        cycles = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'k':
                        keep = true;
                        break;
                case 's':
                        smoke = true;
                        break;
                case 'T':
                        use_tmpfs = false;
                        break;
                case 'C':
                        conf_extra = optarg;
                        break;
                case 'h':
                        printf("Usage: %s [--mamorid PATH] [--plugs N] [--cycles N] [--keep] [--smoke] [--no-tmpfs]\n"
                               "          [--conf-extra FILE]\n"
                               "Run it under umockdev-wrapper. --smoke: a quick run that checks the\n"
                               "benchmark works (no real-time run, no targets). --conf-extra: appended\n"
                               "to mamorid's configuration (bench_usb_collector.py gives a collector).\n",
                               argv[0]);
                        return 0;
                default:
                        return 2;
                }
        if (plugs < 2)
                die("--plugs must be at least 2");
        const char *preload = getenv("LD_PRELOAD");
        if (!preload || !strstr(preload, "umockdev-preload")) {
                fprintf(stderr, "bench-usb: run me under umockdev-wrapper\n");
                return 77;
        }
        /* See the top of this file: no automatic uevents. */
        unsetenv("UMOCKDEV_DIR");
        if (umockdev_in_mock_environment())
                die("umockdev believes it is in a testbed before there is one");

        signal(SIGPIPE, SIG_IGN);
        tmpfs = use_tmpfs ? private_tmpfs() : NULL;
        if (tmpfs)
                setenv("TMPDIR", tmpfs, 1); /* where umockdev makes the testbed */
        build_testbed(&b);
        if (tmpfs)
                unsetenv("TMPDIR");
        b.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (b.inotify_fd < 0)
                die("inotify: %m");
        start_mamorid(&b, conf_extra);
        m_start = read_mem(b.pid);

        {
                char la[64] = "?";
                FILE *f = fopen("/proc/loadavg", "re");
                if (f) {
                        if (!fgets(la, sizeof la, f))
                                strcpy(la, "?");
                        fclose(f);
                        la[strcspn(la, "\n")] = 0;
                }
                printf("mamori USB benchmark: %s under umockdev %s\n"
                       "machine: %ld CPUs, load average %s\n"
                       "testbed: %s%s\n",
                       b.mamorid, UMOCKDEV_VERSION_STR, sysconf(_SC_NPROCESSORS_ONLN), la, b.root,
                       tmpfs ? " (a private tmpfs)" : " (not a tmpfs: writes may wait for its journal)");
        }

        /* 1. Normal scheduling, as the service runs. */
        lat = calloc(plugs, sizeof *lat);
        if (!lat)
                die("out of memory");
        report_processing(&b, &log_offset); /* skips the start */
        cpu0 = cpu_ticks(b.pid);
        n_early += measure(&b, lat, plugs, &next);
        cpu1 = cpu_ticks(b.pid);
        p99_normal = report_latency("normal scheduling (SCHED_OTHER)", lat, plugs);
        report_processing(&b, &log_offset);
        printf("  mamorid CPU time: %.3f ms per plug (user+system over the %u plugs: add, bind, remove, report)\n",
               (double) (cpu1 - cpu0) * 1000.0 / (double) sysconf(_SC_CLK_TCK) / plugs, plugs);

        /* 2. The same with mamorid and this program at real-time priority: what
         * is left is mamorid's own work, without waiting for a busy CPU. */
        if (smoke)
                printf("\n(smoke run: no real-time run)\n");
        else if (set_fifo(0, true) >= 0 && set_fifo(b.pid, true) >= 0) {
                n_early += measure(&b, lat, plugs, &next);
                p99_rt = report_latency("real-time scheduling (SCHED_FIFO) for mamorid and the benchmark", lat, plugs);
                report_processing(&b, &log_offset);
                (void) set_fifo(b.pid, false);
                (void) set_fifo(0, false);
        } else
                printf("\n(no real-time run: SCHED_FIFO not permitted: %m)\n");
        if (n_early)
                printf("  (%u more plugs were blocked on the device's add, before the interface's uevent; not counted)\n",
                       n_early);
        m_warm = read_mem(b.pid);

        /* 3. Memory over many plug/unplug cycles. */
        printf("\nmemory of mamorid (/proc/%d/smaps_rollup):\n", (int) b.pid);
        print_mem("after start", m_start);
        print_mem("after the latency plugs", m_warm);
        m_max = m_warm;
        m_1000 = m_warm;
        for (unsigned i = 0; i < cycles; i++) {
                (void) plug_and_pull(&b, next++, false);
                if ((i + 1) % 1000 == 0 || i + 1 == cycles) {
                        Mem m;
                        if (conf_extra)
                                usleep(1000 * 1000); /* the uplink catches up, as between real plugs */
                        m = read_mem(b.pid);
                        char what[64];
                        m_max.rss_kib = m.rss_kib > m_max.rss_kib ? m.rss_kib : m_max.rss_kib;
                        m_max.private_dirty_kib = m.private_dirty_kib > m_max.private_dirty_kib
                                                          ? m.private_dirty_kib
                                                          : m_max.private_dirty_kib;
                        if (i + 1 == 1000)
                                m_1000 = m;
                        snprintf(what, sizeof what, "after %u cycles", i + 1);
                        print_mem(what, m);
                }
        }
        m_end = read_mem(b.pid);
        printf("  growth over all %u plug/unplug cycles: Rss %+ld KiB, Private_Dirty %+ld KiB\n", cycles,
               m_end.rss_kib - m_warm.rss_kib, m_end.private_dirty_kib - m_warm.private_dirty_kib);
        if (cycles > 1000)
                printf("  growth over the last %u cycles (after 1000 of warm-up): Rss %+ld KiB, Private_Dirty %+ld KiB\n",
                       cycles - 1000, m_end.rss_kib - m_1000.rss_kib, m_end.private_dirty_kib - m_1000.private_dirty_kib);

        stopped = stop_mamorid(&b);
        snprintf(events, sizeof events, "%s/state/spool", b.dir);
        n_events = count_spooled(events);
        if (conf_extra) /* delivered ones leave the spool: the wrapper counts what the collector got */
                printf("\nevents still in the spool at stop: %zu of %u usb.blocked + agent.started + agent.stopping\n",
                       n_events, next + 2);
        else
                printf("\nevents recorded: %zu (expected %u usb.blocked + agent.started + agent.stopping; agent.posture not counted)\n",
                       n_events, next + 2);
        if (!stopped || (!conf_extra && n_events != next + 2)) {
                keep = true;
                ok = false;
        }

        if (smoke)
                printf("\n(smoke run: targets not judged)\n");
        else {
                bool mem_ok = m_max.private_dirty_kib <= 4096;
                bool flat = m_end.private_dirty_kib - m_1000.private_dirty_kib <= 16;
                printf("\ntargets: p99 <= 1 ms: %s at normal priority (%.3f ms), %s at real-time priority (%.3f ms);\n"
                       "         Private_Dirty <= 4 MiB: %s (max %ld KiB); flat after warm-up (<= 16 KiB): %s\n",
                       p99_normal <= 1.0 ? "met" : "MISSED", p99_normal,
                       p99_rt < 0      ? "not run"
                       : p99_rt <= 1.0 ? "met"
                                       : "MISSED",
                       p99_rt, mem_ok ? "met" : "MISSED", m_max.private_dirty_kib, flat ? "met" : "MISSED");
                ok = ok && (p99_normal <= 1.0 || (p99_rt >= 0 && p99_rt <= 1.0)) && mem_ok && flat;
        }
        if (keep)
                printf("kept %s and %s\n", b.dir, b.root);
        else if (tmpfs) {
                g_object_unref(b.tb);
                b.tb = NULL;
                (void) umount2(tmpfs, MNT_DETACH);
                (void) rmdir(tmpfs);
        } else
                (void) nftw(b.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(lat);
        if (!keep && b.tb)
                g_object_unref(b.tb); /* removes the testbed */
        return ok ? 0 : 1;
}
