/* SPDX-License-Identifier: MIT */
/* mamori-collectorctl: the collector's admin tool (issue 12). Reads the
 * collector's database through store.h (hosts, findings, export), checks
 * collector.conf, and runs the town's small certificate authority with
 * gnutls in-process (init-ca, enroll): no openssl command line to get wrong. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <json-c/json.h>
#include <libconfig.h>

#include "config-paths.h"
#include "log.h"
#include "macro.h"
#include "store.h"
#include "text.h"
#include "timeutil.h"
#include "trusted-file.h"

/* The collector's own parser (collector/collector-config.c), when it is in
 * the tree: check-config and the database settings then come from exactly
 * what mamori-collectord reads. Without it (a tree with only the ctl and the
 * test store), the ctl's own check below stands in. */
#if __has_include("collector-config.h")
#include "collector-config.h"
#define CTL_COLLECTOR_CONFIG 1
#else
#define CTL_COLLECTOR_CONFIG 0
#endif
/* The console's accounts (user add|passwd|...): with collector/console. */
#if CTL_COLLECTOR_CONFIG && __has_include("console-auth.h")
#include <termios.h>

#include "cdb.h"
#include "console-auth.h"
#define CTL_CONSOLE 1
#else
#define CTL_CONSOLE 0
#endif

#ifndef CTL_CONFIG_PATH
#define CTL_CONFIG_PATH "/etc/mamori-collector/collector.conf"
#endif
#ifndef CTL_TLS_DIR
#define CTL_TLS_DIR "/etc/mamori-collector/tls"
#endif
#define COLLECTOR_GROUP "mamori-collector"

#define EXIT_USAGE 2
#define EXIT_FINDINGS 3 /* status: findings are open */

/* A file we read whole (a CSR, a certificate, a key, conninfo): bounded. */
#define CTL_FILE_MAX (1024 * 1024)
#define EXPORT_PAGE 1000

typedef struct CtlOptions {
        const char *config_path;
} CtlOptions;

_unused_ static void configp(config_t **c) {
        if (*c) {
                config_destroy(*c);
                free(*c);
        }
}

static void datum_freep(gnutls_datum_t *d) {
        gnutls_free(d->data);
}
#define _cleanup_datum_ _cleanup_(datum_freep)

static void crtp(gnutls_x509_crt_t *c) {
        if (*c)
                gnutls_x509_crt_deinit(*c);
}
static void crqp(gnutls_x509_crq_t *c) {
        if (*c)
                gnutls_x509_crq_deinit(*c);
}
static void privkeyp(gnutls_x509_privkey_t *k) {
        if (*k)
                gnutls_x509_privkey_deinit(*k);
}
static void pubkeyp(gnutls_pubkey_t *k) {
        if (*k)
                gnutls_pubkey_deinit(*k);
}
static void jsonp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

static const char *config_path(const CtlOptions *o) {
        const char *e;

        if (o->config_path)
                return o->config_path;
        e = getenv("MAMORI_COLLECTOR_CONFIG");
        return e && *e ? e : CTL_CONFIG_PATH;
}

/* Reads a whole regular file, at most CTL_FILE_MAX bytes. With secret, a
 * file that others may read or anyone but its owner may write is refused:
 * it is the CA's key. */
static int ctl_read_file(const char *path, bool secret, gnutls_datum_t *ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ unsigned char *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return log_error_errno(errno, "%s: %m", path);
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EINVAL, "%s: not a regular file.", path);
        if (secret && (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)))
                return log_error_errno(EPERM,
                                       "%s: readable by others or writable by the group (mode %04o): a CA key "
                                       "must be root's alone (chmod 0600).",
                                       path, (unsigned) (st.st_mode & 07777));
        if (st.st_size > CTL_FILE_MAX)
                return log_error_errno(EFBIG, "%s: larger than %d bytes.", path, CTL_FILE_MAX);
        buf = malloc(CTL_FILE_MAX + 1);
        if (!buf)
                return log_oom();
        for (;;) {
                ssize_t k = read(fd, buf + n, CTL_FILE_MAX + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "%s: %m", path);
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > CTL_FILE_MAX)
                        return log_error_errno(EFBIG, "%s: larger than %d bytes.", path, CTL_FILE_MAX);
        }
        buf[n] = 0;
        ret->data = gnutls_malloc(n + 1);
        if (!ret->data)
                return log_oom();
        memcpy(ret->data, buf, n + 1);
        ret->size = (unsigned) n;
        return 0;
}

/* Writes data to path through a temporary file in the same directory: the
 * file appears whole or not at all, with its mode and group from the start.
 * Without force an existing file is kept (link() refuses to replace). */
static int ctl_write_file(const char *path, const void *data, size_t len, mode_t mode, gid_t gid, bool force) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *p = data;
        int r;

        if (asprintf(&tmp, "%s.tmp.%ld", path, (long) getpid()) < 0)
                return log_oom();
        (void) unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return log_error_errno(errno, "%s: %m", tmp);
        if (fchmod(fd, mode) < 0 || (gid != (gid_t) -1 && fchown(fd, 0, gid) < 0)) {
                r = -errno;
                (void) unlink(tmp);
                return log_error_errno(r, "%s: %m", tmp);
        }
        while (len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        r = k < 0 ? -errno : -EIO;
                        (void) unlink(tmp);
                        return log_error_errno(r, "%s: %m", tmp);
                }
                p += k;
                len -= (size_t) k;
        }
        if (fsync(fd) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return log_error_errno(r, "%s: %m", tmp);
        }
        if (force)
                r = rename(tmp, path) < 0 ? -errno : 0;
        else {
                r = link(tmp, path) < 0 ? -errno : 0;
                (void) unlink(tmp);
        }
        if (r < 0) {
                if (force)
                        (void) unlink(tmp);
                if (r == -EEXIST)
                        return log_error_errno(r, "%s exists already; not replaced (--force replaces it).", path);
                return log_error_errno(r, "%s: %m", path);
        }
        return 0;
}

static bool machine_id_valid(const char *s) {
        size_t n = strlen(s);

        if (n != 32)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char) s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
                        return false;
        return true;
}

static int parse_days(const char *s, unsigned max, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v == 0 || v > max || !isdigit((unsigned char) *s))
                return log_error_errno(EINVAL, "--days: '%s' is not a number of days from 1 to %u.", s, max);
        *ret = (unsigned) v;
        return 0;
}

/* ---- the certificate authority (gnutls) ---- */

static int gnutls_err(int r, const char *what) {
        log_error("%s: %s", what, gnutls_strerror(r));
        return -EIO;
}

static int crt_common(gnutls_x509_crt_t crt, const char *cn, unsigned days) {
        unsigned char serial[16];
        time_t now = time(NULL);
        int r;

        /* Random, positive, no leading zero byte: unique without a counter file. */
        r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
        if (r < 0)
                return gnutls_err(r, "random serial");
        serial[0] = (serial[0] & 0x7f) | 0x40;
        if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
            (r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
            /* an hour back: a PC whose clock is a little behind accepts it at once */
            (r = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
            (r = gnutls_x509_crt_set_expiration_time(crt, now + (time_t) days * 86400)) < 0 ||
            (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn))) < 0)
                return gnutls_err(r, "certificate");
        return 0;
}

static int crt_set_ids(gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer) {
        unsigned char id[64];
        size_t n = sizeof(id);
        int r;

        r = gnutls_x509_crt_get_key_id(crt, 0, id, &n);
        if (r >= 0)
                r = gnutls_x509_crt_set_subject_key_id(crt, id, n);
        if (r < 0)
                return gnutls_err(r, "subject key id");
        n = sizeof(id);
        r = gnutls_x509_crt_get_subject_key_id(issuer, id, &n, NULL);
        if (r < 0) {
                n = sizeof(id);
                r = gnutls_x509_crt_get_key_id(issuer, 0, id, &n);
        }
        if (r >= 0)
                r = gnutls_x509_crt_set_authority_key_id(crt, id, n);
        if (r < 0)
                return gnutls_err(r, "authority key id");
        return 0;
}

static int key_generate(gnutls_x509_privkey_t *ret) {
        _cleanup_(privkeyp) gnutls_x509_privkey_t key = NULL;
        int r;

        if ((r = gnutls_x509_privkey_init(&key)) < 0 ||
            (r = gnutls_x509_privkey_generate2(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                               0, NULL, 0)) < 0)
                return gnutls_err(r, "key generation");
        *ret = TAKE_PTR(key);
        return 0;
}

/* A new key and a certificate for it, CN and validity set: the CA's, the server's. */
static int crt_new_keyed(const char *cn, unsigned days, gnutls_x509_privkey_t *ret_key, gnutls_x509_crt_t *ret_crt) {
        _cleanup_(privkeyp) gnutls_x509_privkey_t key = NULL;
        _cleanup_(crtp) gnutls_x509_crt_t crt = NULL;
        int r;

        r = key_generate(&key);
        if (r < 0)
                return r;
        if ((r = gnutls_x509_crt_init(&crt)) < 0)
                return gnutls_err(r, cn);
        r = crt_common(crt, cn, days);
        if (r < 0)
                return r;
        if ((r = gnutls_x509_crt_set_key(crt, key)) < 0)
                return gnutls_err(r, cn);
        *ret_key = TAKE_PTR(key);
        *ret_crt = TAKE_PTR(crt);
        return 0;
}

/* What every certificate we issue ends with, its key already set: what it
 * may be used for (a CA when purpose is NULL), the key ids, the issuer's
 * signature. */
static int crt_sign(gnutls_x509_crt_t crt, unsigned key_usage, const char *purpose, gnutls_x509_crt_t issuer,
                    gnutls_x509_privkey_t issuer_key, const char *what) {
        int r;

        if ((r = gnutls_x509_crt_set_basic_constraints(crt, !purpose, purpose ? -1 : 0)) < 0 ||
            (r = gnutls_x509_crt_set_key_usage(crt, key_usage)) < 0 ||
            (purpose && (r = gnutls_x509_crt_set_key_purpose_oid(crt, purpose, 0)) < 0))
                return gnutls_err(r, what);
        r = crt_set_ids(crt, issuer);
        if (r < 0)
                return r;
        if ((r = gnutls_x509_crt_sign2(crt, issuer, issuer_key, GNUTLS_DIG_SHA256, 0)) < 0)
                return gnutls_err(r, what);
        return 0;
}

static int write_key(const char *path, gnutls_x509_privkey_t key, mode_t mode, gid_t gid, bool force) {
        _cleanup_datum_ gnutls_datum_t d = {};
        int r;

        r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &d);
        if (r < 0)
                return gnutls_err(r, path);
        return ctl_write_file(path, d.data, d.size, mode, gid, force);
}

static int write_crt(const char *path, gnutls_x509_crt_t crt, bool force) {
        _cleanup_datum_ gnutls_datum_t d = {};
        int r;

        r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);
        if (r < 0)
                return gnutls_err(r, path);
        return ctl_write_file(path, d.data, d.size, 0644, (gid_t) -1, force);
}

static int load_ca(const char *cert_path, const char *key_path, gnutls_x509_crt_t *ret_crt,
                   gnutls_x509_privkey_t *ret_key) {
        _cleanup_(crtp) gnutls_x509_crt_t crt = NULL;
        _cleanup_(privkeyp) gnutls_x509_privkey_t key = NULL;
        _cleanup_datum_ gnutls_datum_t cd = {}, kd = {};
        unsigned char a[64], b[64];
        size_t an = sizeof(a), bn = sizeof(b);
        unsigned ca = 0;
        int r;

        r = ctl_read_file(cert_path, false, &cd);
        if (r < 0)
                return r;
        r = ctl_read_file(key_path, true, &kd);
        if (r < 0)
                return r;
        if ((r = gnutls_x509_crt_init(&crt)) < 0 || (r = gnutls_x509_crt_import(crt, &cd, GNUTLS_X509_FMT_PEM)) < 0)
                return gnutls_err(r, cert_path);
        if ((r = gnutls_x509_privkey_init(&key)) < 0 ||
            (r = gnutls_x509_privkey_import2(key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
                return gnutls_err(r, key_path);
        if (gnutls_x509_crt_get_basic_constraints(crt, NULL, &ca, NULL) < 0 || !ca)
                return log_error_errno(EINVAL, "%s: not a CA certificate (basicConstraints CA:TRUE missing).", cert_path);
        if ((r = gnutls_x509_crt_get_key_id(crt, 0, a, &an)) < 0 ||
            (r = gnutls_x509_privkey_get_key_id(key, 0, b, &bn)) < 0)
                return gnutls_err(r, "key id");
        if (an != bn || memcmp(a, b, an) != 0)
                return log_error_errno(EINVAL, "%s is not the key of %s.", key_path, cert_path);
        *ret_crt = TAKE_PTR(crt);
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* The collector's group, for the server key it reads; -1 when it does not
 * exist (a test, a checkout) or we are not root. */
static gid_t collector_gid(const char *group) {
        struct group *g;

        if (geteuid() != 0)
                return (gid_t) -1;
        g = getgrnam(group);
        if (!g) {
                log_warning("Group %s does not exist: the server key stays root's alone (0600).", group);
                return (gid_t) -1;
        }
        return g->gr_gid;
}

static int san_add(gnutls_x509_crt_t crt, const char *name) {
        unsigned char addr[16];
        int r;

        if (inet_pton(AF_INET, name, addr) == 1)
                r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr, 4, GNUTLS_FSAN_APPEND);
        else if (inet_pton(AF_INET6, name, addr) == 1)
                r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr, 16, GNUTLS_FSAN_APPEND);
        else {
                for (const char *p = name; *p; p++)
                        if (!isalnum((unsigned char) *p) && *p != '-' && *p != '.' && *p != '*')
                                return log_error_errno(EINVAL, "--server-name '%s': not a DNS name or address.", name);
                r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, strlen(name), GNUTLS_FSAN_APPEND);
        }
        if (r < 0)
                return gnutls_err(r, name);
        return 0;
}

/* The directories above dir, 0755 (root's /etc/mamori-collector when the
 * package has not made it yet). */
static int mkdir_parents(const char *dir) {
        _cleanup_free_ char *p = strdup(dir);

        if (!p)
                return log_oom();
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "%s: %m", p);
                *slash = '/';
        }
        return 0;
}

/* --days and --force mean the same to init-ca and enroll: how long the
 * certificates last, and whether files already there are replaced. */
enum { CERT_ARG_DAYS = 0x1000, CERT_ARG_FORCE };
/* clang-format off */
#define CERT_OPTIONS                                            \
        { "days", required_argument, NULL, CERT_ARG_DAYS },     \
        { "force", no_argument, NULL, CERT_ARG_FORCE }
/* clang-format on */

typedef struct CertOptions {
        unsigned days;
        bool force;
} CertOptions;

/* An option the verb does not handle itself: 0, or EXIT_USAGE. */
static int cert_option(int c, const char *arg, CertOptions *co) {
        switch (c) {
        case CERT_ARG_DAYS:
                return parse_days(arg, 3650, &co->days) < 0 ? EXIT_USAGE : 0;
        case CERT_ARG_FORCE:
                co->force = true;
                return 0;
        default:
                return EXIT_USAGE;
        }
}

static int verb_init_ca(const CtlOptions *o, int argc, char **argv) {
        enum { ARG_DIR = 0x100, ARG_NAME, ARG_SERVER_NAME, ARG_GROUP };
        static const struct option options[] = {
                { "dir", required_argument, NULL, ARG_DIR },
                { "name", required_argument, NULL, ARG_NAME },
                { "server-name", required_argument, NULL, ARG_SERVER_NAME },
                { "group", required_argument, NULL, ARG_GROUP },
                CERT_OPTIONS,
                {},
        };
        const char *dir = CTL_TLS_DIR, *name = NULL, *group = COLLECTOR_GROUP;
        const char *servers[16];
        size_t n_servers = 0;
        CertOptions co = { .days = 825 };
        char host[256] = "", cn[512];
        _cleanup_(privkeyp) gnutls_x509_privkey_t ca_key = NULL, srv_key = NULL;
        _cleanup_(crtp) gnutls_x509_crt_t ca = NULL, srv = NULL;
        _cleanup_free_ char *ca_crt_path = NULL, *ca_key_path = NULL, *srv_crt_path = NULL, *srv_key_path = NULL;
        gid_t gid;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case ARG_DIR:
                        dir = optarg;
                        break;
                case ARG_NAME:
                        name = optarg;
                        break;
                case ARG_SERVER_NAME:
                        if (n_servers >= ELEMENTSOF(servers)) {
                                log_error("At most %zu --server-name.", ELEMENTSOF(servers));
                                return EXIT_USAGE;
                        }
                        servers[n_servers++] = optarg;
                        break;
                case ARG_GROUP:
                        group = optarg;
                        break;
                default:
                        if (cert_option(c, optarg, &co) != 0)
                                return EXIT_USAGE;
                }
        if (optind < argc) {
                log_error("init-ca takes no arguments, only options.");
                return EXIT_USAGE;
        }
        if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
                strcpy(host, "localhost");
        if (n_servers == 0)
                servers[n_servers++] = host;
        if (!name)
                name = host;
        if (strlen(name) > 128) {
                log_error("--name: at most 128 bytes.");
                return EXIT_USAGE;
        }

        gid = collector_gid(group);
        if (mkdir_parents(dir) < 0)
                return EXIT_FAILURE;
        /* The directory: root's, the collector's group may enter it (its
         * server key); nobody else. */
        if (mkdir(dir, gid != (gid_t) -1 ? 0750 : 0755) < 0 && errno != EEXIST) {
                log_error_errno(errno, "%s: %m", dir);
                return EXIT_FAILURE;
        }
        if (gid != (gid_t) -1 && (chown(dir, 0, gid) < 0 || chmod(dir, 0750) < 0)) {
                log_error_errno(errno, "%s: %m", dir);
                return EXIT_FAILURE;
        }
        if (asprintf(&ca_crt_path, "%s/clients-ca.crt", dir) < 0 || asprintf(&ca_key_path, "%s/clients-ca.key", dir) < 0 ||
            asprintf(&srv_crt_path, "%s/server.crt", dir) < 0 || asprintf(&srv_key_path, "%s/server.key", dir) < 0) {
                log_oom();
                return EXIT_FAILURE;
        }
        if (!co.force)
                for (const char *const *p =
                             (const char *const[]){ ca_crt_path, ca_key_path, srv_crt_path, srv_key_path, NULL };
                     *p; p++)
                        if (access(*p, F_OK) == 0) {
                                log_error("%s exists already: nothing written (--force makes a new CA; every "
                                          "PC's certificate must then be issued again).",
                                          *p);
                                return EXIT_FAILURE;
                        }

        /* The CA: signs the server's certificate and every PC's. */
        snprintf(cn, sizeof(cn), "%s mamori CA", name);
        if (crt_new_keyed(cn, 3650, &ca_key, &ca) < 0 ||
            crt_sign(ca, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN | GNUTLS_KEY_DIGITAL_SIGNATURE, NULL, ca,
                     ca_key, "CA certificate") < 0)
                return EXIT_FAILURE;

        /* The server: its names as the agents' collector.url spells them. */
        if (crt_new_keyed(servers[0], co.days, &srv_key, &srv) < 0)
                return EXIT_FAILURE;
        for (size_t i = 0; i < n_servers; i++)
                if (san_add(srv, servers[i]) < 0)
                        return EXIT_FAILURE;
        if (crt_sign(srv, GNUTLS_KEY_DIGITAL_SIGNATURE, GNUTLS_KP_TLS_WWW_SERVER, ca, ca_key, "server certificate") < 0)
                return EXIT_FAILURE;

        /* The CA key: root's alone. The server key: the collector reads it through its group. */
        if (write_key(ca_key_path, ca_key, 0600, (gid_t) -1, co.force) < 0 || write_crt(ca_crt_path, ca, co.force) < 0 ||
            write_key(srv_key_path, srv_key, gid != (gid_t) -1 ? 0640 : 0600, gid, co.force) < 0 ||
            write_crt(srv_crt_path, srv, co.force) < 0)
                return EXIT_FAILURE;
        printf("CA:     %s (key %s, root only)\n"
               "server: %s (key %s) for",
               ca_crt_path, ca_key_path, srv_crt_path, srv_key_path);
        for (size_t i = 0; i < n_servers; i++)
                printf(" %s", servers[i]);
        printf("\nGive every PC %s as collector.ca_file; sign their requests with\n"
               "  mamori-collectorctl enroll --csr PC.csr --machine-id ID --out PC.crt\n",
               ca_crt_path);
        return EXIT_SUCCESS;
}

static int verb_enroll(const CtlOptions *o, int argc, char **argv) {
        enum { ARG_CSR = 0x100, ARG_MACHINE_ID, ARG_CA_CERT, ARG_CA_KEY, ARG_OUT };
        static const struct option options[] = {
                { "csr", required_argument, NULL, ARG_CSR },
                { "machine-id", required_argument, NULL, ARG_MACHINE_ID },
                { "ca-cert", required_argument, NULL, ARG_CA_CERT },
                { "ca-key", required_argument, NULL, ARG_CA_KEY },
                { "out", required_argument, NULL, ARG_OUT },
                CERT_OPTIONS,
                {},
        };
        const char *csr_path = NULL, *machine_id = NULL, *out = NULL;
        const char *ca_cert = CTL_TLS_DIR "/clients-ca.crt", *ca_key_path = CTL_TLS_DIR "/clients-ca.key";
        CertOptions co = { .days = 825 };
        unsigned bits = 0;
        _cleanup_(crtp) gnutls_x509_crt_t ca = NULL, crt = NULL;
        _cleanup_(privkeyp) gnutls_x509_privkey_t ca_key = NULL;
        _cleanup_(crqp) gnutls_x509_crq_t crq = NULL;
        _cleanup_(pubkeyp) gnutls_pubkey_t pk = NULL;
        _cleanup_datum_ gnutls_datum_t cd = {};
        char cn[256];
        size_t cn_len = sizeof(cn) - 1;
        int c, r, algo;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case ARG_CSR:
                        csr_path = optarg;
                        break;
                case ARG_MACHINE_ID:
                        machine_id = optarg;
                        break;
                case ARG_CA_CERT:
                        ca_cert = optarg;
                        break;
                case ARG_CA_KEY:
                        ca_key_path = optarg;
                        break;
                case ARG_OUT:
                        out = optarg;
                        break;
                default:
                        if (cert_option(c, optarg, &co) != 0)
                                return EXIT_USAGE;
                }
        if (!csr_path || !machine_id || !out || optind < argc) {
                log_error("Usage: enroll --csr FILE --machine-id ID --out FILE [--days N] [--ca-cert FILE] "
                          "[--ca-key FILE] [--force]");
                return EXIT_USAGE;
        }
        if (!machine_id_valid(machine_id)) {
                log_error("--machine-id: '%s' is not 32 lower-case hex digits (/etc/machine-id of the PC).", machine_id);
                return EXIT_USAGE;
        }
        if (load_ca(ca_cert, ca_key_path, &ca, &ca_key) < 0)
                return EXIT_FAILURE;
        if (ctl_read_file(csr_path, false, &cd) < 0)
                return EXIT_FAILURE;
        if ((r = gnutls_x509_crq_init(&crq)) < 0)
                return gnutls_err(r, csr_path), EXIT_FAILURE;
        r = gnutls_x509_crq_import(crq, &cd, GNUTLS_X509_FMT_PEM);
        if (r < 0)
                r = gnutls_x509_crq_import(crq, &cd, GNUTLS_X509_FMT_DER);
        if (r < 0)
                return gnutls_err(r, csr_path), EXIT_FAILURE;
        /* The request must be signed by the key it carries: whoever made it holds that key. */
        r = gnutls_x509_crq_verify(crq, 0);
        if (r < 0) {
                log_error("%s: its signature does not verify (%s): not signed by the key it carries.", csr_path,
                          gnutls_strerror(r));
                return EXIT_FAILURE;
        }
        r = gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_len);
        if (r < 0)
                cn[0] = 0;
        else
                cn[MIN(cn_len, sizeof(cn) - 1)] = 0;
        if (!streq(cn, machine_id)) {
                _cleanup_free_ char *shown = text_sanitize(cn, strlen(cn), 128, NULL);
                if (!co.force) {
                        log_error("%s: its CN is '%s', not the machine id %s: refused (was it made on another "
                                  "PC?). --force signs it with CN=%s all the same.",
                                  csr_path, shown ?: "", machine_id, machine_id);
                        return EXIT_FAILURE;
                }
                log_warning("%s: its CN '%s' is replaced by %s (--force).", csr_path, shown ?: "", machine_id);
        }
        if ((r = gnutls_pubkey_init(&pk)) < 0 || (r = gnutls_pubkey_import_x509_crq(pk, crq, 0)) < 0)
                return gnutls_err(r, csr_path), EXIT_FAILURE;
        algo = gnutls_pubkey_get_pk_algorithm(pk, &bits);
        if ((algo == GNUTLS_PK_RSA && bits < 2048) ||
            (algo != GNUTLS_PK_RSA && algo != GNUTLS_PK_ECDSA && algo != GNUTLS_PK_EDDSA_ED25519)) {
                log_error("%s: a %s key of %u bits: use RSA of 2048 bits or more, ECDSA or Ed25519.", csr_path,
                          gnutls_pk_algorithm_get_name(algo) ?: "unknown", bits);
                return EXIT_FAILURE;
        }

        /* Only what we decide goes in: the subject is CN=machine_id, the
         * extensions are ours; nothing the request asked for is copied. */
        if ((r = gnutls_x509_crt_init(&crt)) < 0)
                return gnutls_err(r, "certificate"), EXIT_FAILURE;
        if (crt_common(crt, machine_id, co.days) < 0)
                return EXIT_FAILURE;
        if ((r = gnutls_x509_crt_set_pubkey(crt, pk)) < 0)
                return gnutls_err(r, "certificate"), EXIT_FAILURE;
        if (crt_sign(crt, GNUTLS_KEY_DIGITAL_SIGNATURE | (algo == GNUTLS_PK_RSA ? GNUTLS_KEY_KEY_ENCIPHERMENT : 0),
                     GNUTLS_KP_TLS_WWW_CLIENT, ca, ca_key, "certificate") < 0)
                return EXIT_FAILURE;
        if (write_crt(out, crt, co.force) < 0)
                return EXIT_FAILURE;
        printf("%s: CN=%s, client authentication, valid %u days, signed by %s\n", out, machine_id, co.days, ca_cert);
        return EXIT_SUCCESS;
}

/* ---- collector.conf ---- */

#if CTL_COLLECTOR_CONFIG
/* mamori-collectord reads its key, tokens and conninfo (root:mamori-collector
 * 0640) as its group, and a trusted secret may be group-readable only by
 * root's group or the reader's own. Run as root (egid 0), this tool would
 * refuse the very files the collector accepts: it loads the configuration
 * with the collector's group as its effective group. MAMORI_COLLECTOR_GROUP
 * names another group (tests). */
static int load_config(const char *path, CollectorConfig **ret, ConfigErrors *errors) {
        const char *e = getenv("MAMORI_COLLECTOR_GROUP");
        const struct group *g = NULL;
        int r;

        if (geteuid() == 0 && getegid() == 0)
                g = getgrnam(e && *e ? e : COLLECTOR_GROUP);
        if (g && g->gr_gid != 0 && setegid(g->gr_gid) < 0)
                return log_error_errno(errno, "setegid(%u): %m", (unsigned) g->gr_gid);
        r = collector_config_load(path, ret, errors);
        if (g && g->gr_gid != 0 && setegid(0) < 0)
                return log_error_errno(errno, "setegid(0): %m");
        return r;
}

static int verb_check_config(const CtlOptions *o, int argc, char **argv) {
        const char *path = argc > 1 ? argv[1] : config_path(o);
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_collector_config_ CollectorConfig *c = NULL;
        int r;

        if (argc > 2) {
                log_error("Usage: check-config [FILE]");
                return EXIT_USAGE;
        }
        r = load_config(path, &c, &errors);
        for (size_t i = 0; i < errors.n; i++)
                fprintf(stderr, "%s:%d: %s\n", errors.items[i].file, errors.items[i].line, errors.items[i].message);
        if (r < 0 || errors.n > 0) {
                if (errors.n == 0)
                        log_error_errno(r, "%s: %m", path);
                fprintf(stderr, "%s: %zu problem(s); mamori-collectord would refuse it.\n", path,
                        MAX(errors.n, (size_t) 1));
                return EXIT_FAILURE;
        }
        printf("%s: OK\n", path);
        return EXIT_SUCCESS;
}

static int open_store(const CtlOptions *o, Store **ret) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_collector_config_ CollectorConfig *c = NULL;
        const char *path = config_path(o);
        int r;

        r = load_config(path, &c, &errors);
        for (size_t i = 0; i < errors.n; i++)
                fprintf(stderr, "%s:%d: %s\n", errors.items[i].file, errors.items[i].line, errors.items[i].message);
        if (r < 0 || errors.n > 0 || !c)
                return log_error_errno(r < 0 ? r : -EINVAL, "%s is refused (mamori-collectorctl check-config).", path);
        r = store_open(&c->store, &c->findings, ret);
        if (r < 0)
                return log_error_errno(r, "The database (%s) cannot be opened: %m",
                                       c->store.backend == STORE_SQLITE ? c->store.sqlite_path : "postgresql");
        return 0;
}
#else
typedef enum KeyType {
        KT_STRING,
        KT_INT,
        KT_NUMBER,
        KT_BOOL,
        KT_STRING_ARRAY,
} KeyType;

typedef struct KeySpec {
        const char *group; /* NULL: top level */
        const char *name;
        KeyType type;
} KeySpec;

/* The keys of collector.conf (DESIGN-12, collector.conf(5)). */
static const KeySpec config_keys[] = {
        { NULL, "listen", KT_STRING_ARRAY },
        { "tls", "cert_file", KT_STRING },
        { "tls", "key_file", KT_STRING },
        { "tls", "client_ca_file", KT_STRING },
        { "tls", "require_client_cert", KT_BOOL },
        { "tls", "require_name_match", KT_BOOL },
        { "auth", "token_file", KT_STRING },
        { "storage", "backend", KT_STRING },
        { "storage", "path", KT_STRING },
        { "storage", "conninfo_file", KT_STRING },
        { "storage", "busy_timeout_ms", KT_INT },
        { "limits", "max_body_bytes", KT_INT },
        { "limits", "max_decompressed_bytes", KT_INT },
        { "limits", "max_ratio", KT_INT },
        { "limits", "max_line_bytes", KT_INT },
        { "limits", "max_events", KT_INT },
        { "limits", "max_connections", KT_INT },
        { "limits", "per_host_rate", KT_NUMBER },
        { "limits", "per_host_burst", KT_INT },
        { "limits", "connection_timeout_sec", KT_INT },
        { "limits", "workers", KT_INT },
        { "findings", "silent_margin_sec", KT_INT },
        { "findings", "stopped_after_sec", KT_INT },
        { "findings", "gap_grace_sec", KT_INT },
        { "findings", "late_heartbeat_sec", KT_INT },
        { "findings", "sweep_interval_sec", KT_INT },
        { "findings", "current_policy_hashes", KT_STRING_ARRAY },
        { "findings", "current_agent_version", KT_STRING },
        { "retention", "info_days", KT_INT },
        { "retention", "low_days", KT_INT },
        { "retention", "medium_days", KT_INT },
        { "retention", "high_days", KT_INT },
        { "retention", "critical_days", KT_INT },
        { "retention", "findings_days", KT_INT },
        { "retention", "hour", KT_INT },
        { "export", "token_file", KT_STRING },
        { "console", "enable", KT_BOOL },
        { "console", "listen", KT_STRING },
        { "console", "port", KT_INT },
        { "console", "cert", KT_STRING },
        { "console", "key", KT_STRING },
        { "console", "zone", KT_STRING },
        { "console", "idle_timeout_min", KT_INT },
        { "console", "session_max_hours", KT_INT },
        { "console", "www_dir", KT_STRING },
};

_printf_(4, 5) static void config_problem(const char *path, const config_setting_t *s, unsigned *n, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s:%u: ", config_setting_source_file(s) ?: path, config_setting_source_line(s));
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        (*n)++;
}

static const KeySpec *key_find(const char *group, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (streq(config_keys[i].name, name) &&
                    (group ? config_keys[i].group && streq(config_keys[i].group, group) : !config_keys[i].group))
                        return &config_keys[i];
        return NULL;
}

static bool group_known(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (config_keys[i].group && streq(config_keys[i].group, name))
                        return true;
        return false;
}

static bool type_ok(const config_setting_t *s, KeyType t) {
        int ty = config_setting_type(s);

        switch (t) {
        case KT_STRING:
                return ty == CONFIG_TYPE_STRING;
        case KT_INT:
                return (ty == CONFIG_TYPE_INT || ty == CONFIG_TYPE_INT64) && config_setting_get_int64(s) >= 0;
        case KT_NUMBER:
                return ty == CONFIG_TYPE_INT || ty == CONFIG_TYPE_INT64 || ty == CONFIG_TYPE_FLOAT;
        case KT_BOOL:
                return ty == CONFIG_TYPE_BOOL;
        case KT_STRING_ARRAY:
                if (ty != CONFIG_TYPE_ARRAY && ty != CONFIG_TYPE_LIST)
                        return false;
                for (int i = 0; i < config_setting_length(s); i++)
                        if (config_setting_type(config_setting_get_elem(s, i)) != CONFIG_TYPE_STRING)
                                return false;
                return true;
        }
        return false;
}

static const char *const type_names[] = {
        [KT_STRING] = "a string in quotes",
        [KT_INT] = "a whole number, 0 or more",
        [KT_NUMBER] = "a number",
        [KT_BOOL] = "true or false",
        [KT_STRING_ARRAY] = "a list of strings, e.g. [ \"0.0.0.0:8443\" ]",
};

static bool listen_valid(const char *s) {
        const char *colon;
        char *end;
        unsigned long port;

        if (s[0] == '[') {
                colon = strstr(s, "]:");
                if (!colon)
                        return false;
                colon++;
        } else
                colon = strrchr(s, ':');
        if (!colon || colon == s)
                return false;
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        return !errno && *end == 0 && end != colon + 1 && port > 0 && port < 65536;
}

static int config_load(const char *path, config_t **ret) {
        _cleanup_(configp) config_t *cfg = calloc(1, sizeof(config_t));

        if (!cfg)
                return log_oom();
        config_init(cfg);
        if (config_read_file(cfg, path) != CONFIG_TRUE) {
                if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
                        return log_error_errno(errno ?: EIO, "%s: cannot be read: %m", path);
                fprintf(stderr, "%s:%d: %s\n", config_error_file(cfg) ?: path, config_error_line(cfg),
                        config_error_text(cfg));
                return -EINVAL;
        }
        *ret = TAKE_PTR(cfg);
        return 0;
}

/* The storage part of collector.conf: what hosts, findings and export need. */
static int config_store(const char *path, config_t *cfg, StoreConfig *sc, char **ret_conninfo) {
        const char *backend = "sqlite", *s;
        int v;

        *sc = (StoreConfig){ .backend = STORE_SQLITE, .busy_timeout_ms = 2000 };
        (void) config_lookup_string(cfg, "storage.backend", &backend);
        if (config_lookup_int(cfg, "storage.busy_timeout_ms", &v) == CONFIG_TRUE && v >= 0)
                sc->busy_timeout_ms = (unsigned) v;
        if (streq(backend, "sqlite")) {
                s = "/var/lib/mamori-collector/collector.db";
                (void) config_lookup_string(cfg, "storage.path", &s);
                sc->sqlite_path = (char *) s;
                return 0;
        }
        if (streq(backend, "postgresql")) {
                _cleanup_free_ char *why = NULL, *text = NULL;
                size_t len;
                int r;

                if (config_lookup_string(cfg, "storage.conninfo_file", &s) != CONFIG_TRUE)
                        return log_error_errno(EINVAL,
                                               "%s: storage.conninfo_file is needed with backend "
                                               "\"postgresql\".",
                                               path);
                r = trust_read_file(s, 64 * 1024, TRUST_SECRET, &text, &len, &why);
                if (r < 0)
                        return log_error_errno(r, "%s: %s", s, why ?: "cannot be read");
                /* one line: the conninfo; a trailing newline is not part of it */
                while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
                        text[--len] = 0;
                sc->backend = STORE_POSTGRES;
                sc->pg_conninfo = text;
                *ret_conninfo = TAKE_PTR(text);
                return 0;
        }
        return log_error_errno(EINVAL, "%s: storage.backend \"%s\" is neither \"sqlite\" nor \"postgresql\".", path,
                               backend);
}

/* check-config: the collector's own parser is collector/collector-config.c
 * (mamori-collectord); until the two share it, this checks the same file
 * with the same table of keys: syntax, unknown keys, types, the values that
 * have a fixed set, and the secret files' ownership. */
static int verb_check_config(const CtlOptions *o, int argc, char **argv) {
        const char *path = argc > 1 ? argv[1] : config_path(o);
        _cleanup_(configp) config_t *cfg = NULL;
        config_setting_t *root;
        unsigned problems = 0;
        const char *s;

        if (argc > 2) {
                log_error("Usage: check-config [FILE]");
                return EXIT_USAGE;
        }
        if (config_load(path, &cfg) < 0)
                return EXIT_FAILURE;
        root = config_root_setting(cfg);
        for (int i = 0; i < config_setting_length(root); i++) {
                config_setting_t *s1 = config_setting_get_elem(root, i);
                const char *n1 = config_setting_name(s1);
                const KeySpec *k;

                if (config_setting_is_group(s1)) {
                        if (!group_known(n1)) {
                                config_problem(path, s1, &problems, "unknown section '%s'", n1);
                                continue;
                        }
                        for (int j = 0; j < config_setting_length(s1); j++) {
                                config_setting_t *s2 = config_setting_get_elem(s1, j);
                                const char *n2 = config_setting_name(s2);

                                k = key_find(n1, n2);
                                if (!k)
                                        config_problem(path, s2, &problems, "unknown key '%s' in section '%s'", n2, n1);
                                else if (!type_ok(s2, k->type))
                                        config_problem(path, s2, &problems, "'%s' must be %s", n2, type_names[k->type]);
                        }
                        continue;
                }
                k = key_find(NULL, n1);
                if (!k)
                        config_problem(path, s1, &problems, "unknown key '%s'", n1);
                else if (!type_ok(s1, k->type))
                        config_problem(path, s1, &problems, "'%s' must be %s", n1, type_names[k->type]);
        }

        config_setting_t *listen = config_lookup(cfg, "listen");
        if (!listen)
                config_problem(path, root, &problems, "'listen' is missing: e.g. listen = [ \"0.0.0.0:8443\" ];");
        else if (type_ok(listen, KT_STRING_ARRAY))
                for (int i = 0; i < config_setting_length(listen); i++) {
                        const char *a = config_setting_get_string_elem(listen, i);
                        if (!listen_valid(a))
                                config_problem(path, listen, &problems, "listen: '%s' is not address:port or [v6]:port",
                                               a);
                }
        if (config_lookup_string(cfg, "storage.backend", &s) == CONFIG_TRUE && !streq(s, "sqlite") &&
            !streq(s, "postgresql"))
                config_problem(path, config_lookup(cfg, "storage.backend"), &problems,
                               "storage.backend: '%s' is neither \"sqlite\" nor \"postgresql\"", s);
        if (config_lookup_string(cfg, "storage.backend", &s) == CONFIG_TRUE && streq(s, "postgresql") &&
            !config_lookup(cfg, "storage.conninfo_file"))
                config_problem(path, config_lookup(cfg, "storage"), &problems,
                               "storage: backend \"postgresql\" needs conninfo_file");
        bool mtls = config_lookup(cfg, "tls.client_ca_file") != NULL;
        int require = 0;
        if (config_lookup_bool(cfg, "tls.require_client_cert", &require) == CONFIG_TRUE && require && !mtls)
                config_problem(path, config_lookup(cfg, "tls.require_client_cert"), &problems,
                               "require_client_cert = true needs tls.client_ca_file");
        if (!mtls && !config_lookup(cfg, "auth.token_file"))
                config_problem(path, root, &problems,
                               "neither tls.client_ca_file nor auth.token_file: anyone who reaches the port could "
                               "send events");
        int hour;
        if (config_lookup_int(cfg, "retention.hour", &hour) == CONFIG_TRUE && hour > 23)
                config_problem(path, config_lookup(cfg, "retention.hour"), &problems, "retention.hour must be 0 to 23");

        /* The secrets are trusted only as the agent trusts its own. */
        static const char *const secrets[] = { "tls.key_file", "auth.token_file", "storage.conninfo_file",
                                               "export.token_file" };
        for (size_t i = 0; i < ELEMENTSOF(secrets); i++) {
                _cleanup_free_ char *why = NULL, *text = NULL;
                size_t len;

                if (config_lookup_string(cfg, secrets[i], &s) != CONFIG_TRUE)
                        continue;
                if (trust_read_file(s, 1024 * 1024, TRUST_SECRET, &text, &len, &why) < 0)
                        config_problem(path, config_lookup(cfg, secrets[i]), &problems, "%s: %s", s,
                                       why ?: strerror(errno));
        }
        static const char *const files[] = { "tls.cert_file", "tls.client_ca_file" };
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (config_lookup_string(cfg, files[i], &s) == CONFIG_TRUE && access(s, R_OK) < 0)
                        config_problem(path, config_lookup(cfg, files[i]), &problems, "%s: %s", s, strerror(errno));

        if (problems > 0) {
                fprintf(stderr, "%s: %u problem(s); mamori-collectord would refuse it.\n", path, problems);
                return EXIT_FAILURE;
        }
        printf("%s: OK\n", path);
        return EXIT_SUCCESS;
}

static int open_store(const CtlOptions *o, Store **ret) {
        _cleanup_(configp) config_t *cfg = NULL;
        _cleanup_free_ char *conninfo = NULL;
        const char *path = config_path(o);
        FindingsConfig fc = {};
        StoreConfig sc;
        int r;

        r = config_load(path, &cfg);
        if (r < 0)
                return r;
        r = config_store(path, cfg, &sc, &conninfo);
        if (r < 0)
                return r;
        r = store_open(&sc, &fc, ret);
        if (r < 0)
                return log_error_errno(r, "The database (%s) cannot be opened: %m",
                                       sc.backend == STORE_SQLITE ? sc.sqlite_path : "postgresql");
        return 0;
}
#endif

/* ---- console accounts (issue 13) ---- */

#if CTL_CONSOLE
static int open_cdb(const CtlOptions *o, Cdb **ret) {
        _cleanup_(config_errors_done) ConfigErrors errors = {};
        _cleanup_collector_config_ CollectorConfig *c = NULL;
        const char *path = config_path(o);
        int r;

        r = collector_config_load(path, &c, &errors);
        for (size_t i = 0; i < errors.n; i++)
                fprintf(stderr, "%s:%d: %s\n", errors.items[i].file, errors.items[i].line, errors.items[i].message);
        if (r < 0 || errors.n > 0)
                return log_error_errno(r < 0 ? r : -EINVAL, "%s is refused (mamori-collectorctl check-config).", path);
        r = cdb_open(&c->store, ret);
        if (r < 0)
                return log_error_errno(r, "The database (%s) cannot be opened: %m",
                                       c->store.backend == STORE_SQLITE ? c->store.sqlite_path : "postgresql");
        return 0;
}

/* One line of stdin, without its newline; on a terminal without echo. */
static int read_secret_line(const char *prompt, char *buf, size_t size) {
        struct termios old, quiet;
        bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
        char *got;

        if (tty) {
                fprintf(stderr, "%s", prompt);
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t) (ECHO | ECHONL);
                quiet.c_lflag |= ICANON;
                if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
                        return -errno;
        }
        got = fgets(buf, (int) size, stdin);
        if (tty) {
                (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
                fputc('\n', stderr);
        }
        if (!got)
                return -ENODATA;
        size_t n = strlen(buf);
        if (n > 0 && buf[n - 1] != '\n' && !feof(stdin)) {
                explicit_bzero(buf, size);
                return -E2BIG;
        }
        buf[strcspn(buf, "\r\n")] = 0;
        return 0;
}

/* The new password: from stdin (a pipe), or typed twice on a terminal.
 * Never from the command line, which every user of the host can read. */
static int read_new_password(char *buf, size_t size) {
        char again[CONSOLE_PASSWORD_MAX + 2];
        const char *why = NULL;
        int r = read_secret_line("New password: ", buf, size);
        if (r < 0) {
                log_error_errno(r, "No password read from stdin: %m");
                return r;
        }
        if (console_password_check(buf, &why) < 0) {
                log_error("The password is refused: %s.", why);
                explicit_bzero(buf, size);
                return -EINVAL;
        }
        if (isatty(STDIN_FILENO)) {
                r = read_secret_line("Again: ", again, sizeof again);
                bool same = r >= 0 && streq(again, buf);
                explicit_bzero(again, sizeof again);
                if (!same) {
                        log_error("The two passwords differ.");
                        explicit_bzero(buf, size);
                        return -EINVAL;
                }
        }
        return 0;
}

static int user_error(int r, const char *name) {
        if (r == -EEXIST)
                log_error("The user '%s' exists already.", name);
        else if (r == -ENOENT)
                log_error("No user '%s'.", name);
        else
                log_error_errno(r, "%s: %m", name);
        return EXIT_FAILURE;
}

static int verb_user(const CtlOptions *o, int argc, char **argv) {
        enum { ARG_ROLE = 0x100, ARG_JSON };
        static const struct option options[] = {
                { "role", required_argument, NULL, ARG_ROLE },
                { "json", no_argument, NULL, ARG_JSON },
                {},
        };
        const char *role_s = NULL, *sub, *name = NULL;
        bool json = false;
        _cleanup_cdb_ Cdb *db = NULL;
        int64_t now = (int64_t) now_usec(CLOCK_REALTIME);
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case ARG_ROLE:
                        role_s = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                default:
                        return EXIT_USAGE;
                }
        sub = optind < argc ? argv[optind] : NULL;
        if (optind + 1 < argc)
                name = argv[optind + 1];
        if (!sub || (streq(sub, "list") ? optind + 1 != argc : optind + 2 != argc)) {
                log_error("Usage: user add NAME --role viewer|reviewer|admin | passwd NAME | disable NAME | "
                          "enable NAME | list [--json] (the password is read from stdin)");
                return EXIT_USAGE;
        }
        if (name && !console_user_name_valid(name)) {
                log_error("'%s' is not a user name: 1 to %d of a-z 0-9 . _ -.", name, CONSOLE_USER_MAX);
                return EXIT_USAGE;
        }
        if (streq(sub, "add")) {
                ConsoleRole role = console_role_from_string(role_s);
                char pw[CONSOLE_PASSWORD_MAX + 2];
                if (role == CONSOLE_ROLE_NONE) {
                        log_error("user add: --role viewer, reviewer or admin.");
                        return EXIT_USAGE;
                }
                if (open_cdb(o, &db) < 0)
                        return EXIT_FAILURE;
                if (read_new_password(pw, sizeof pw) < 0)
                        return EXIT_FAILURE;
                r = console_user_add(db, name, role, pw, now);
                explicit_bzero(pw, sizeof pw);
                if (r < 0)
                        return user_error(r, name);
                printf("User '%s' added with role %s.\n", name, console_role_to_string(role));
                return EXIT_SUCCESS;
        }
        if (role_s) {
                log_error("--role is for user add.");
                return EXIT_USAGE;
        }
        if (streq(sub, "passwd")) {
                char pw[CONSOLE_PASSWORD_MAX + 2];
                if (open_cdb(o, &db) < 0)
                        return EXIT_FAILURE;
                if (read_new_password(pw, sizeof pw) < 0)
                        return EXIT_FAILURE;
                r = console_user_passwd(db, name, pw, now);
                explicit_bzero(pw, sizeof pw);
                if (r < 0)
                        return user_error(r, name);
                printf("Password of '%s' changed; its sessions ended.\n", name);
                return EXIT_SUCCESS;
        }
        if (streq(sub, "disable") || streq(sub, "enable")) {
                bool off = streq(sub, "disable");
                if (open_cdb(o, &db) < 0)
                        return EXIT_FAILURE;
                r = console_user_set_disabled(db, name, off, now);
                if (r < 0)
                        return user_error(r, name);
                printf(off ? "User '%s' disabled; its sessions ended.\n" : "User '%s' enabled.\n", name);
                return EXIT_SUCCESS;
        }
        if (streq(sub, "list")) {
                _cleanup_(jsonp) json_object *a = NULL;
                if (open_cdb(o, &db) < 0)
                        return EXIT_FAILURE;
                r = console_user_list(db, &a);
                if (r < 0) {
                        log_error_errno(r, "Cannot list the users: %m");
                        return EXIT_FAILURE;
                }
                if (json) {
                        printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
                        return EXIT_SUCCESS;
                }
                printf("%-24s %-9s %-9s %s\n", "NAME", "ROLE", "STATE", "LAST LOGIN (UTC)");
                for (size_t i = 0; i < json_object_array_length(a); i++) {
                        json_object *u = json_object_array_get_idx(a, i), *v;
                        printf("%-24s %-9s %-9s %s\n", json_object_get_string(json_object_object_get(u, "name")),
                               json_object_get_string(json_object_object_get(u, "role")),
                               json_object_get_boolean(json_object_object_get(u, "disabled")) ? "disabled" : "enabled",
                               (v = json_object_object_get(u, "last_login")) ? json_object_get_string(v) : "-");
                }
                return EXIT_SUCCESS;
        }
        log_error("user: add, passwd, disable, enable or list, not '%s'.", sub);
        return EXIT_USAGE;
}
#endif

/* ---- hosts, findings ---- */

static void print_cell(const char *s, size_t width) {
        _cleanup_free_ char *t = s ? text_sanitize(s, strlen(s), 256, NULL) : NULL;

        printf("%-*s ", (int) width, t && *t ? t : "-");
}

static void print_time(int64_t us) {
        char buf[RFC3339_MAX];

        if (us <= 0)
                printf("%-20s ", "-");
        else {
                format_rfc3339(buf, (usec_t) us);
                buf[19] = 'Z'; /* to the second in a table */
                buf[20] = 0;
                printf("%-20s ", buf);
        }
}

static int host_row(const HostState *h, void *userdata) {
        unsigned *n = userdata;

        print_cell(h->machine_id, 32);
        print_cell(h->host_name, 20);
        print_cell(h->agent_version, 8);
        print_time(h->last_seen_us);
        printf("%10" PRIu64 " %10" PRIu64 " %s\n", h->events, h->max_seq,
               h->stopped       ? "stopped"
               : h->silent      ? "silent"
               : h->fail_closed ? "fail-closed"
                                : "ok");
        (*n)++;
        return 0;
}

/* status: the collector's view in three lines, for a daily look or a
 * monitoring check (exit 0 with nothing open, 3 with open findings). */
typedef struct StatusCounts {
        unsigned hosts, silent, stopped, fail_closed;
        int64_t last_seen_us;
        unsigned findings, by_severity[5];
} StatusCounts;

static const char *const severities[] = { "critical", "high", "medium", "low", "info" };

static int status_host(const HostState *h, void *userdata) {
        StatusCounts *c = userdata;

        c->hosts++;
        c->silent += h->silent;
        c->stopped += h->stopped;
        c->fail_closed += h->fail_closed;
        c->last_seen_us = MAX(c->last_seen_us, h->last_seen_us);
        return 0;
}

static int status_finding(const FindingRow *f, void *userdata) {
        StatusCounts *c = userdata;

        c->findings++;
        for (size_t i = 0; i < ELEMENTSOF(severities); i++)
                if (streq(f->severity, severities[i]))
                        c->by_severity[i]++;
        return 0;
}

static int verb_status(const CtlOptions *o, int argc, char **argv) {
        _cleanup_store_ Store *s = NULL;
        StatusCounts c = {};
        char buf[RFC3339_MAX];
        int r;

        if (argc > 1) {
                log_error("Usage: status");
                return EXIT_USAGE;
        }
        if (open_store(o, &s) < 0)
                return EXIT_FAILURE;
        r = store_hosts(s, status_host, &c);
        if (r >= 0)
                r = store_findings(s, true, status_finding, &c);
        if (r < 0) {
                log_error_errno(r, "Reading the database: %m");
                return EXIT_FAILURE;
        }
        printf("Hosts:     %u (%u silent, %u stopped, %u fail-closed)\n", c.hosts, c.silent, c.stopped, c.fail_closed);
        printf("Last seen: %s\n", c.last_seen_us > 0 ? format_rfc3339(buf, (usec_t) c.last_seen_us) : "never");
        printf("Findings:  %u open", c.findings);
        for (size_t i = 0, first = 1; i < ELEMENTSOF(severities); i++)
                if (c.by_severity[i] > 0) {
                        printf("%s%s %u", first ? " (" : ", ", severities[i], c.by_severity[i]);
                        first = 0;
                }
        printf("%s\n", c.findings > 0 ? ")" : "");
        return c.findings > 0 ? EXIT_FINDINGS : EXIT_SUCCESS;
}

static int verb_hosts(const CtlOptions *o, int argc, char **argv) {
        _cleanup_store_ Store *s = NULL;
        unsigned n = 0;
        int r;

        if (argc > 1) {
                log_error("Usage: hosts");
                return EXIT_USAGE;
        }
        if (open_store(o, &s) < 0)
                return EXIT_FAILURE;
        printf("%-32s %-20s %-8s %-20s %10s %10s %s\n", "MACHINE_ID", "HOST", "AGENT", "LAST_SEEN", "EVENTS", "MAX_SEQ",
               "STATE");
        r = store_hosts(s, host_row, &n);
        if (r < 0) {
                log_error_errno(r, "Reading the hosts: %m");
                return EXIT_FAILURE;
        }
        printf("%u host(s)\n", n);
        return EXIT_SUCCESS;
}

static int finding_row(const FindingRow *f, void *userdata) {
        unsigned *n = userdata;

        printf("%-6" PRId64 " ", f->id);
        print_cell(f->state, 12);
        print_cell(f->severity, 8);
        print_cell(f->kind, 20);
        print_cell(f->host_name[0] ? f->host_name : f->machine_id, 20);
        print_time(f->first_us);
        print_time(f->last_us);
        printf("%6" PRIu64 " ", f->count);
        print_cell(f->message, 0);
        putchar('\n');
        (*n)++;
        return 0;
}

static int verb_findings(const CtlOptions *o, int argc, char **argv) {
        _cleanup_store_ Store *s = NULL;
        bool open_only = false;
        unsigned n = 0;
        int r;

        for (int i = 1; i < argc; i++) {
                if (!streq(argv[i], "--open")) {
                        log_error("Usage: findings [--open]");
                        return EXIT_USAGE;
                }
                open_only = true;
        }
        if (open_store(o, &s) < 0)
                return EXIT_FAILURE;
        printf("%-6s %-12s %-8s %-20s %-20s %-20s %-20s %6s %s\n", "ID", "STATE", "SEVERITY", "KIND", "HOST", "FIRST",
               "LAST", "COUNT", "MESSAGE");
        r = store_findings(s, open_only, finding_row, &n);
        if (r < 0) {
                log_error_errno(r, "Reading the findings: %m");
                return EXIT_FAILURE;
        }
        printf("%u finding(s)\n", n);
        return EXIT_SUCCESS;
}

/* ---- export ---- */

/* "2026-12-01T00:00:00Z", "2026-12-01T09:00:00+09:00" or "7d" (days back from now). */
static int parse_when(const char *s, usec_t now, usec_t *ret) {
        size_t n = strlen(s);

        if (n >= 2 && s[n - 1] == 'd') {
                char *end;
                unsigned long d;

                errno = 0;
                d = strtoul(s, &end, 10);
                if (errno || end != s + n - 1 || !isdigit((unsigned char) s[0]) || d > 100000)
                        return -EINVAL;
                *ret = d * USEC_PER_DAY > now ? 0 : now - d * USEC_PER_DAY;
                return 0;
        }
        return parse_rfc3339(s, ret);
}

typedef enum ExportFormat {
        EXPORT_NDJSON,
        EXPORT_CSV,
} ExportFormat;

typedef struct ExportState {
        ExportFormat format;
        FILE *out;
        usec_t since, until; /* until 0: none */
        char cursor[512];
        size_t page, total;
} ExportState;

/* One CSV cell (RFC 4180). A cell a spreadsheet would take for a formula
 * (= + - @, and the tab and CR some of them strip first) gets a leading
 * apostrophe: a device name "=HYPERLINK(...)" stays text in Excel. */
static void csv_cell(FILE *f, const char *s, size_t len) {
        bool quote = false, formula = len > 0 && strchr("=+-@\t\r", s[0]);

        for (size_t i = 0; i < len && !quote; i++)
                quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
        if (formula)
                quote = true;
        if (quote)
                fputc('"', f);
        if (formula)
                fputc('\'', f);
        for (size_t i = 0; i < len; i++) {
                if (s[i] == 0) /* a \u0000 in the JSON: nothing a spreadsheet should see */
                        continue;
                if (s[i] == '"')
                        fputc('"', f);
                fputc(s[i], f);
        }
        if (quote)
                fputc('"', f);
}

static const char *const csv_columns[] = {
        "time",          "kind",           "severity",      "host.name",        "host.machine_id",
        "seq",           "user.name",      "policy_ref",    "device.vendor_id", "device.product_id",
        "device.serial", "device.product", "agent.version", "message",          "id",
};

static json_object *json_path(json_object *o, const char *path) {
        char key[64];
        const char *dot;

        while (o && (dot = strchr(path, '.'))) {
                size_t n = (size_t) (dot - path);
                if (n >= sizeof(key))
                        return NULL;
                memcpy(key, path, n);
                key[n] = 0;
                if (!json_object_object_get_ex(o, key, &o))
                        return NULL;
                path = dot + 1;
        }
        if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, path, &o))
                return NULL;
        return o;
}

static int export_line(const char *json, size_t len, const char *cursor, void *userdata) {
        ExportState *st = userdata;
        _cleanup_(jsonp) json_object *o = NULL;
        json_object *t;
        usec_t when;

        st->page++;
        snprintf(st->cursor, sizeof(st->cursor), "%s", cursor ?: "");
        o = json_tokener_parse(json); /* the store hands whole lines, NUL-terminated */
        if (!o || !json_object_is_type(o, json_type_object)) {
                log_warning("A stored line is not a JSON object (cursor %s); skipped.", st->cursor);
                return 0;
        }
        /* The store filtered on arrival; the range is the events' own time. */
        t = json_path(o, "time");
        if (t && json_object_is_type(t, json_type_string) && parse_rfc3339(json_object_get_string(t), &when) == 0 &&
            (when < st->since || (st->until && when >= st->until)))
                return 0;
        if (st->format == EXPORT_NDJSON) {
                fwrite(json, 1, len, st->out);
                fputc('\n', st->out);
        } else
                for (size_t i = 0; i < ELEMENTSOF(csv_columns); i++) {
                        json_object *v = json_path(o, csv_columns[i]);
                        if (i > 0)
                                fputc(',', st->out);
                        if (!v || json_object_is_type(v, json_type_null))
                                continue;
                        if (json_object_is_type(v, json_type_string))
                                csv_cell(st->out, json_object_get_string(v), (size_t) json_object_get_string_len(v));
                        else {
                                const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
                                csv_cell(st->out, s, strlen(s));
                        }
                }
        if (st->format == EXPORT_CSV)
                fputs("\r\n", st->out);
        st->total++;
        return ferror(st->out) ? -EIO : 0;
}

/* The header, then page by page through the cursor: the whole export is
 * never in memory. */
static int export_run(Store *s, ExportState *st) {
        int r;

        if (st->format == EXPORT_CSV) {
                for (size_t i = 0; i < ELEMENTSOF(csv_columns); i++)
                        fprintf(st->out, "%s%s", i ? "," : "", csv_columns[i]);
                fputs("\r\n", st->out);
        }
        do {
                char after[sizeof(st->cursor)];

                snprintf(after, sizeof(after), "%s", st->cursor);
                st->page = 0;
                r = store_export(s, after, (int64_t) st->since, EXPORT_PAGE, export_line, st);
                if (r < 0)
                        return log_error_errno(r, "Export after cursor '%s': %m", after);
        } while (st->page == EXPORT_PAGE);
        if (fflush(st->out) != 0 || ferror(st->out))
                return log_error_errno(errno ?: EIO, "Writing the export: %m");
        return 0;
}

static int verb_export(const CtlOptions *o, int argc, char **argv) {
        enum { ARG_SINCE = 0x100, ARG_UNTIL, ARG_FORMAT, ARG_OUT };
        static const struct option options[] = {
                { "since", required_argument, NULL, ARG_SINCE },
                { "until", required_argument, NULL, ARG_UNTIL },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "out", required_argument, NULL, ARG_OUT },
                {},
        };
        const char *since = NULL, *until = NULL, *out_path = NULL;
        ExportState st = { .format = EXPORT_NDJSON, .out = stdout };
        _cleanup_store_ Store *s = NULL;
        _cleanup_fclose_ FILE *outf = NULL;
        usec_t now = now_usec(CLOCK_REALTIME);
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case ARG_SINCE:
                        since = optarg;
                        break;
                case ARG_UNTIL:
                        until = optarg;
                        break;
                case ARG_FORMAT:
                        if (streq(optarg, "ndjson"))
                                st.format = EXPORT_NDJSON;
                        else if (streq(optarg, "csv"))
                                st.format = EXPORT_CSV;
                        else {
                                log_error("--format: ndjson or csv, not '%s'.", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_OUT:
                        out_path = optarg;
                        break;
                default:
                        return EXIT_USAGE;
                }
        if (!since || optind < argc) {
                log_error("Usage: export --since TIME|Nd [--until TIME|Nd] [--format ndjson|csv] [--out FILE]");
                return EXIT_USAGE;
        }
        if (parse_when(since, now, &st.since) < 0) {
                log_error("--since: '%s' is neither RFC 3339 with an offset (2026-12-01T00:00:00+09:00) nor a "
                          "number of days (7d).",
                          since);
                return EXIT_USAGE;
        }
        if (until && parse_when(until, now, &st.until) < 0) {
                log_error("--until: '%s' is neither RFC 3339 with an offset nor a number of days.", until);
                return EXIT_USAGE;
        }
        if (open_store(o, &s) < 0)
                return EXIT_FAILURE;
        if (out_path) {
                _cleanup_close_ int fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
                if (fd < 0) {
                        log_error_errno(errno, "%s: %m", out_path);
                        return EXIT_FAILURE;
                }
                outf = fdopen(fd, "w");
                if (!outf) {
                        log_oom();
                        return EXIT_FAILURE;
                }
                TAKE_FD(fd);
                st.out = outf;
        }
        r = export_run(s, &st);
        if (r < 0) {
                /* no half export left behind to be taken for a whole one */
                if (out_path)
                        (void) unlink(out_path);
                return EXIT_FAILURE;
        }
        if (out_path)
                fprintf(stderr, "%zu event(s) written to %s\n", st.total, out_path);
        return EXIT_SUCCESS;
}
static void help(void) {
        printf("mamori-collectorctl %s — administer the mamori collector\n\n"
               "Usage: mamori-collectorctl [-c FILE] COMMAND [ARGS]\n\n"
               "Commands:\n"
               "  check-config [FILE]    validate collector.conf (default: -c or %s)\n"
               "  status                 hosts (silent, stopped), the newest contact, open findings;\n"
               "                         exit 3 while findings are open\n"
               "  hosts                  every host the collector knows, its last contact and state\n"
               "  findings [--open]      what the collector concluded (silent, stopped, gaps, ...)\n"
               "  export --since TIME|Nd [--until TIME|Nd] [--format ndjson|csv] [--out FILE]\n"
               "                         the stored events and findings in arrival order\n"
               "  init-ca [--dir DIR] [--name NAME] [--server-name NAME]... [--days N] [--force]\n"
               "                         make the town's CA and the server certificate (%s)\n"
               "  enroll --csr FILE --machine-id ID --out FILE [--days N] [--ca-cert FILE]\n"
               "         [--ca-key FILE] [--force]\n"
               "                         sign a PC's certificate request: CN = its machine id,\n"
               "                         client authentication only\n"
               "  user add NAME --role viewer|reviewer|admin | passwd NAME | disable NAME |\n"
               "       enable NAME | list [--json]\n"
               "                         the review console's accounts; a password is read\n"
               "                         from stdin (typed twice, unechoed, on a terminal)\n\n"
               "Options:\n"
               "  -c --config FILE       collector.conf (default %s, or $MAMORI_COLLECTOR_CONFIG)\n"
               "  -h --help              this text\n"
               "     --version           print the version\n\n"
               "See mamori-collectorctl(8).\n",
               MAMORI_VERSION, CTL_CONFIG_PATH, CTL_TLS_DIR, CTL_CONFIG_PATH);
}

static const struct {
        const char *name;
        int (*run)(const CtlOptions *o, int argc, char **argv);
} verbs[] = {
        { "check-config", verb_check_config },
        { "status", verb_status },
        { "hosts", verb_hosts },
        { "findings", verb_findings },
        { "export", verb_export },
        { "init-ca", verb_init_ca },
        { "enroll", verb_enroll },
#if CTL_CONSOLE
        { "user", verb_user },
#endif
};

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        CtlOptions o = {};
        int c, r;

        setlocale(LC_ALL, "");
        log_set_identifier("mamori-collectorctl");
        log_open(LOG_TARGET_STDERR);
        while ((c = getopt_long(argc, argv, "+hc:", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        o.config_path = optarg;
                        break;
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case ARG_VERSION:
                        printf("mamori-collectorctl %s\n", MAMORI_VERSION);
                        return EXIT_SUCCESS;
                default:
                        return EXIT_USAGE;
                }
        if (optind >= argc) {
                help();
                return EXIT_USAGE;
        }
        r = gnutls_global_init();
        if (r < 0) {
                log_error("gnutls: %s", gnutls_strerror(r));
                return EXIT_FAILURE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[optind], verbs[i].name)) {
                        r = verbs[i].run(&o, argc - optind, argv + optind);
                        gnutls_global_deinit();
                        return r;
                }
        gnutls_global_deinit();
        fprintf(stderr, "mamori-collectorctl: unknown command '%s' (see mamori-collectorctl --help).\n", argv[optind]);
        return EXIT_USAGE;
}
