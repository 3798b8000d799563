/* SPDX-License-Identifier: MIT */
#include "collector-config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "config-hint.h"
#include "config-parse.h"
#include "macro.h"
#include "trusted-file.h"

#define TLS_FILE_MAX (1024u * 1024u)
#define TOKEN_FILE_MAX (64u * 1024u)
#define TOKEN_MIN_LEN 16 /* a guessable token is no token */

static void strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static void collector_config_free(CollectorConfig *c) {
        for (size_t i = 0; i < c->n_listen; i++)
                free(c->listen[i].text);
        free(c->path);
        free(c->cert_file);
        free(c->key_file);
        free(c->client_ca_file);
        free(c->cert_pem);
        if (c->key_pem) {
                explicit_bzero(c->key_pem, c->key_len);
                free(c->key_pem);
        }
        free(c->client_ca_pem);
        for (char **p = c->tokens; p && *p; p++)
                explicit_bzero(*p, strlen(*p));
        strv_free(c->tokens);
        for (char **p = c->export_tokens; p && *p; p++)
                explicit_bzero(*p, strlen(*p));
        strv_free(c->export_tokens);
        free(c->store.sqlite_path);
        if (c->store.pg_conninfo) {
                explicit_bzero(c->store.pg_conninfo, strlen(c->store.pg_conninfo));
                free(c->store.pg_conninfo);
        }
        strv_free(c->findings.current_policy_hashes);
        free(c->findings.current_agent_version);
        free(c->console.listen_text);
        free(c->console.cert_file);
        free(c->console.key_file);
        free(c->console.cert_pem);
        if (c->console.key_pem) {
                explicit_bzero(c->console.key_pem, c->console.key_len);
                free(c->console.key_pem);
        }
        free(c->console.zone);
        free(c->console.www_dir);
        free(c);
}

CollectorConfig *collector_config_ref(CollectorConfig *c) {
        if (c)
                atomic_fetch_add(&c->refs, 1);
        return c;
}

CollectorConfig *collector_config_unref(CollectorConfig *c) {
        if (c && atomic_fetch_sub(&c->refs, 1) == 1)
                collector_config_free(c);
        return NULL;
}

static void config_free_wrap(config_t *c) {
        config_destroy(c);
}

/* "a.b.c.d:port" or "[v6]:port". */
static int parse_listen(const char *s, CollectorListen *l) {
        char host[64];
        const char *colon;
        char *end;
        unsigned long port;

        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':' || (size_t) (close - s - 1) >= sizeof host)
                        return -EINVAL;
                memcpy(host, s + 1, (size_t) (close - s - 1));
                host[close - s - 1] = 0;
                colon = close + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon || (size_t) (colon - s) >= sizeof host)
                        return -EINVAL;
                memcpy(host, s, (size_t) (colon - s));
                host[colon - s] = 0;
        }
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || port == 0 || port > 65535)
                return -EINVAL;
        if (s[0] == '[') {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &l->addr;
                *a = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons((uint16_t) port) };
                if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
                        return -EINVAL;
                l->addr_len = sizeof *a;
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *) &l->addr;
                *a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
                if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
                        return -EINVAL;
                l->addr_len = sizeof *a;
        }
        return 0;
}

/* Reads a file the config names, reporting on the key's line. */
static int read_named(ConfigContext *ctx, const config_setting_t *group, const char *key, const char *path, size_t max,
                      TrustFlags flags, char **ret, size_t *ret_len) {
        _cleanup_free_ char *why = NULL;
        int r = trust_read_file(path, max, flags, ret, ret_len, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                config_error(ctx->errors, ctx->file, config_key_line(group, key), "'%s' %s: %s", key, path,
                             why ? why : strerror(-r));
                return r;
        }
        return 0;
}

/* A token file: one token a line (rotation: old and new side by side);
 * blank lines and '#' comments skipped. */
static int read_tokens(ConfigContext *ctx, const config_setting_t *group, const char *key, char ***ret, size_t *ret_n) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len = 0, n = 0;
        char **v;
        int r;

        r = config_get_path(ctx, group, key, &path);
        if (r <= 0)
                return r;
        r = read_named(ctx, group, key, path, TOKEN_FILE_MAX, TRUST_SECRET, &text, &len);
        if (r < 0)
                return r;
        v = calloc(COLLECTOR_MAX_TOKENS + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (char *line = text, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                line[strcspn(line, "\r")] = 0;
                line += strspn(line, " \t");
                line[strcspn(line, " \t")] = 0;
                if (!*line || *line == '#')
                        continue;
                if (strlen(line) < TOKEN_MIN_LEN || n >= COLLECTOR_MAX_TOKENS) {
                        config_error(ctx->errors, ctx->file, config_key_line(group, key),
                                     strlen(line) < TOKEN_MIN_LEN ? "'%s' %s: a token shorter than %d characters"
                                                                  : "'%s' %s: more than %d tokens",
                                     key, path, strlen(line) < TOKEN_MIN_LEN ? TOKEN_MIN_LEN : COLLECTOR_MAX_TOKENS);
                        strv_free(v);
                        return -EINVAL;
                }
                v[n] = strdup(line);
                if (!v[n++]) {
                        strv_free(v);
                        return -ENOMEM;
                }
        }
        if (text)
                explicit_bzero(text, len);
        if (n == 0) {
                config_error(ctx->errors, ctx->file, config_key_line(group, key), "'%s' %s holds no token", key, path);
                strv_free(v);
                return -EINVAL;
        }
        *ret = v;
        *ret_n = n;
        return 1;
}

static config_setting_t *get_group(ConfigContext *ctx, config_setting_t *root, const char *name, int *err) {
        config_setting_t *g = config_setting_get_member(root, name);
        if (g && config_setting_type(g) != CONFIG_TYPE_GROUP) {
                config_wrong_type(ctx, g, name, "a group { ... }");
                *err = -EINVAL;
                return NULL;
        }
        return g;
}

/* r < 0 from a getter: remember the first error, go on to report the rest.
 * Only -ENOMEM stops the load (the assignment's value is not returned:
 * that made the first bad key stop its group and the load say -ENOMEM). */
#define KEEP(r, err) ((r) == -ENOMEM ? -ENOMEM : ((r) < 0 && (err) == 0 ? ((err) = (r), 0) : 0))

/* Every whole-number key: its range, its default and where it goes, on one
 * line; defaults() and the parse_*() of its group read them from here. */
typedef struct NumberKey {
        const char *group, *key;
        long long min, max, def;
        size_t offset; /* in CollectorConfig */
        bool is_size;  /* a size_t there, else an unsigned */
} NumberKey;

/* A field of another type than the macro says does not compile (a negative array size). */
#define FIELD_OFFSET(field, type) \
        (offsetof(CollectorConfig, field) + \
         0 * sizeof(char[__builtin_types_compatible_p(__typeof__(((CollectorConfig *) 0)->field), type) ? 1 : -1]))
#define UINT_KEY(group, key, field, min, max, def) \
        { group, key, min, max, def, FIELD_OFFSET(field, unsigned), false }
#define SIZE_KEY(group, key, field, min, max, def) \
        { group, key, min, max, def, FIELD_OFFSET(field, size_t), true }

static const NumberKey number_keys[] = {
        UINT_KEY("storage", "busy_timeout_ms", store.busy_timeout_ms, 1, 600000, 2000),

        SIZE_KEY("limits", "max_body_bytes", limits.max_body_bytes, 1024, 1LL << 30, 4194304),
        SIZE_KEY("limits", "max_decompressed_bytes", limits.max_decompressed_bytes, 1024, 1LL << 32, 33554432),
        UINT_KEY("limits", "max_ratio", limits.max_ratio, 1, 100000, 200),
        SIZE_KEY("limits", "max_line_bytes", limits.max_line_bytes, 256, 16LL << 20, 65536),
        SIZE_KEY("limits", "max_events", limits.max_events, 1, 1000000, 10000),
        UINT_KEY("limits", "max_connections", limits.max_connections, 1, 65536, 1024),
        UINT_KEY("limits", "per_host_burst", limits.per_host_burst, 1, 100000, 60),
        UINT_KEY("limits", "connection_timeout_sec", limits.connection_timeout_sec, 1, 3600, 15),
        UINT_KEY("limits", "workers", limits.workers, 1, 256, 4),

        UINT_KEY("findings", "silent_margin_sec", findings.silent_margin_sec, 0, 86400 * 30, 300),
        UINT_KEY("findings", "stopped_after_sec", findings.stopped_after_sec, 0, 86400 * 30, 3600),
        UINT_KEY("findings", "gap_grace_sec", findings.gap_grace_sec, 0, 86400 * 30, 600),
        UINT_KEY("findings", "late_heartbeat_sec", findings.late_heartbeat_sec, 1, 86400 * 30, 900),
        UINT_KEY("findings", "sweep_interval_sec", sweep_interval_sec, 1, 86400, 60),

        UINT_KEY("retention", "info_days", retention.info_days, 0, 36500, 365),
        UINT_KEY("retention", "low_days", retention.low_days, 0, 36500, 365),
        UINT_KEY("retention", "medium_days", retention.medium_days, 0, 36500, 1095),
        UINT_KEY("retention", "high_days", retention.high_days, 0, 36500, 1825),
        UINT_KEY("retention", "critical_days", retention.critical_days, 0, 36500, 1825),
        UINT_KEY("retention", "findings_days", retention.findings_days, 0, 36500, 3650),
        UINT_KEY("retention", "hour", retention_hour, 0, 23, 3),

        UINT_KEY("console", "port", console.port, 1, 65535, 8444),
        UINT_KEY("console", "idle_timeout_min", console.idle_timeout_min, 1, 1440, 30),
        UINT_KEY("console", "session_max_hours", console.session_max_hours, 1, 168, 12),
};

static void number_set(CollectorConfig *c, const NumberKey *k, long long v) {
        void *p = (char *) c + k->offset;
        if (k->is_size)
                *(size_t *) p = (size_t) v;
        else
                *(unsigned *) p = (unsigned) v;
}

/* The number keys of one group g (group named name): -ENOMEM, else 0 with
 * the first error kept in *err and every bad key reported. */
static int get_numbers(ConfigContext *ctx, config_setting_t *g, const char *name, CollectorConfig *c, int *err) {
        long long v;
        int r;

        if (!g)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(number_keys); i++) {
                const NumberKey *k = &number_keys[i];
                if (!streq(k->group, name))
                        continue;
                r = config_get_int(ctx, g, k->key, k->min, k->max, &v);
                if (r > 0)
                        number_set(c, k, v);
                if (KEEP(r, *err) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int get_rate(ConfigContext *ctx, config_setting_t *g, const char *key, double *ret, int *err) {
        config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;
        double v;
        if (!s)
                return 0;
        if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
                v = config_setting_get_float(s);
        else if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64)
                v = (double) config_setting_get_int64(s);
        else
                return KEEP(config_wrong_type(ctx, s, key, "a number"), *err);
        if (!(v >= 0 && v <= 100000)) {
                config_error(ctx->errors, ctx->file, config_setting_line(s), "'%s' must be between 0 and 100000", key);
                return KEEP(-ERANGE, *err);
        }
        *ret = v;
        return 0;
}

static void defaults(CollectorConfig *c) {
        c->require_client_cert = true;
        c->store.backend = STORE_SQLITE;
        c->limits.per_host_rate = 20.0;
        for (size_t i = 0; i < ELEMENTSOF(number_keys); i++)
                number_set(c, &number_keys[i], number_keys[i].def);
}

static int parse_listen_list(ConfigContext *ctx, config_setting_t *root, CollectorConfig *c, int *err) {
        char **v = NULL;
        size_t n = 0;
        int r = config_get_strv(ctx, root, "listen", COLLECTOR_MAX_LISTEN, &v, &n);
        if (r < 0)
                return KEEP(r, *err);
        if (r == 0) {
                v = calloc(2, sizeof(char *));
                if (!v || !(v[0] = strdup("0.0.0.0:8443"))) {
                        strv_free(v);
                        return -ENOMEM;
                }
                n = 1;
        }
        for (size_t i = 0; i < n; i++) {
                CollectorListen *l = &c->listen[c->n_listen];
                if (parse_listen(v[i], l) < 0) {
                        config_error(ctx->errors, ctx->file, config_key_line(root, "listen"),
                                     "'listen' item %zu '%s' is not ADDRESS:PORT or [IPV6]:PORT", i + 1, v[i]);
                        KEEP(-EINVAL, *err);
                        continue;
                }
                l->text = TAKE_PTR(v[i]);
                c->n_listen++;
        }
        strv_free(v);
        return 0;
}

static int parse_tls(ConfigContext *ctx, config_setting_t *root, CollectorConfig *c, int *err) {
        static const char *const keys[] = { "cert_file",           "key_file",           "client_ca_file",
                                            "require_client_cert", "require_name_match", NULL };
        config_setting_t *g = get_group(ctx, root, "tls", err);
        int r;

        if (!g) {
                if (*err == 0) {
                        config_error(ctx->errors, ctx->file, 1, "a 'tls' group with cert_file and key_file is required");
                        *err = -EINVAL;
                }
                return 0;
        }
        config_check_keys(ctx, g, keys);
        if ((r = config_get_path(ctx, g, "cert_file", &c->cert_file)) == 0) {
                config_error(ctx->errors, ctx->file, config_setting_line(g), "'cert_file' missing in tls");
                r = -EINVAL;
        }
        if (KEEP(r, *err) < 0)
                return -ENOMEM;
        if ((r = config_get_path(ctx, g, "key_file", &c->key_file)) == 0) {
                config_error(ctx->errors, ctx->file, config_setting_line(g), "'key_file' missing in tls");
                r = -EINVAL;
        }
        if (KEEP(r, *err) < 0)
                return -ENOMEM;
        if (KEEP(config_get_path(ctx, g, "client_ca_file", &c->client_ca_file), *err) < 0)
                return -ENOMEM;
        if (KEEP(config_get_bool(ctx, g, "require_client_cert", &c->require_client_cert), *err) < 0 ||
            KEEP(config_get_bool(ctx, g, "require_name_match", &c->require_name_match), *err) < 0)
                return -ENOMEM;
        if (!c->client_ca_file)
                c->require_client_cert = false;
        if (c->require_name_match && !c->client_ca_file) {
                config_error(ctx->errors, ctx->file, config_key_line(g, "require_name_match"),
                             "'require_name_match' needs 'client_ca_file' (client certificates)");
                KEEP(-EINVAL, *err);
        }
        if (c->cert_file &&
            (r = read_named(ctx, g, "cert_file", c->cert_file, TLS_FILE_MAX, 0, &c->cert_pem, &c->cert_len)) < 0)
                if (KEEP(r, *err) < 0)
                        return -ENOMEM;
        if (c->key_file &&
            (r = read_named(ctx, g, "key_file", c->key_file, TLS_FILE_MAX, TRUST_SECRET, &c->key_pem, &c->key_len)) < 0)
                if (KEEP(r, *err) < 0)
                        return -ENOMEM;
        if (c->client_ca_file && (r = read_named(ctx, g, "client_ca_file", c->client_ca_file, TLS_FILE_MAX, 0,
                                                 &c->client_ca_pem, &c->client_ca_len)) < 0)
                if (KEEP(r, *err) < 0)
                        return -ENOMEM;
        return 0;
}

static int parse_storage(ConfigContext *ctx, config_setting_t *root, CollectorConfig *c, int *err) {
        static const char *const keys[] = { "backend", "path", "conninfo_file", "busy_timeout_ms", NULL };
        config_setting_t *g = get_group(ctx, root, "storage", err);
        _cleanup_free_ char *backend = NULL, *conninfo_file = NULL;
        int r;

        if (g) {
                config_check_keys(ctx, g, keys);
                if (KEEP(config_get_string(ctx, g, "backend", &backend), *err) < 0 ||
                    KEEP(config_get_path(ctx, g, "path", &c->store.sqlite_path), *err) < 0 ||
                    KEEP(config_get_path(ctx, g, "conninfo_file", &conninfo_file), *err) < 0 ||
                    get_numbers(ctx, g, "storage", c, err) < 0)
                        return -ENOMEM;
        }
        if (!backend || streq(backend, "sqlite")) {
                c->store.backend = STORE_SQLITE;
                if (!c->store.sqlite_path) {
                        const char *dir = getenv("STATE_DIRECTORY");
                        char *p = NULL;
                        /* STATE_DIRECTORY may list several, colon-separated: the first is ours */
                        if (asprintf(&p, "%.*s/collector.db", dir ? (int) strcspn(dir, ":") : 26,
                                     dir ? dir : "/var/lib/mamori-collector") < 0)
                                return -ENOMEM;
                        c->store.sqlite_path = p;
                }
        } else if (streq(backend, "postgresql")) {
                c->store.backend = STORE_POSTGRES;
                if (!conninfo_file) {
                        config_error(ctx->errors, ctx->file, config_setting_line(g),
                                     "backend \"postgresql\" needs 'conninfo_file'");
                        KEEP(-EINVAL, *err);
                } else {
                        size_t len;
                        r = read_named(ctx, g, "conninfo_file", conninfo_file, TOKEN_FILE_MAX, TRUST_SECRET,
                                       &c->store.pg_conninfo, &len);
                        if (KEEP(r, *err) < 0)
                                return -ENOMEM;
                        if (r >= 0)
                                c->store.pg_conninfo[strcspn(c->store.pg_conninfo, "\n")] = 0;
                }
        } else {
                config_error(ctx->errors, ctx->file, config_key_line(g, "backend"),
                             "'backend' must be \"sqlite\" or \"postgresql\", not '%s'", backend);
                KEEP(-EINVAL, *err);
        }
        return 0;
}

static int parse_limits(ConfigContext *ctx, config_setting_t *root, CollectorConfig *c, int *err) {
        static const char *const keys[] = { "max_body_bytes",
                                            "max_decompressed_bytes",
                                            "max_ratio",
                                            "max_line_bytes",
                                            "max_events",
                                            "max_connections",
                                            "per_host_rate",
                                            "per_host_burst",
                                            "connection_timeout_sec",
                                            "workers",
                                            NULL };
        config_setting_t *g = get_group(ctx, root, "limits", err);
        if (!g)
                return 0;
        config_check_keys(ctx, g, keys);
        if (get_numbers(ctx, g, "limits", c, err) < 0 ||
            get_rate(ctx, g, "per_host_rate", &c->limits.per_host_rate, err) < 0)
                return -ENOMEM;
        return 0;
}

static int parse_findings(ConfigContext *ctx, config_setting_t *root, CollectorConfig *c, int *err) {
        static const char *const keys[] = { "silent_margin_sec",     "stopped_after_sec",
                                            "gap_grace_sec",         "late_heartbeat_sec",
                                            "sweep_interval_sec",    "current_policy_hashes",
                                            "current_agent_version", NULL };
        config_setting_t *g = get_group(ctx, root, "findings", err);
        FindingsConfig *f = &c->findings;
        size_t n = 0;
        int r;

        if (g) {
                config_check_keys(ctx, g, keys);
                if (get_numbers(ctx, g, "findings", c, err) < 0)
                        return -ENOMEM;
                r = config_get_strv(ctx, g, "current_policy_hashes", 256, &f->current_policy_hashes, &n);
                if (KEEP(r, *err) < 0)
                        return -ENOMEM;
                r = config_get_string(ctx, g, "current_agent_version", &f->current_agent_version);
                if (KEEP(r, *err) < 0)
                        return -ENOMEM;
        }
        if (!f->current_policy_hashes && !(f->current_policy_hashes = calloc(1, sizeof(char *))))
                return -ENOMEM;
        if (f->current_agent_version && !f->current_agent_version[0])
                f->current_agent_version = mfree(f->current_agent_version);
        return 0;
}

static int parse_retention(ConfigContext *ctx, config_setting_t *root, CollectorConfig *c, int *err) {
        static const char *const keys[] = { "info_days",     "low_days",      "medium_days", "high_days",
                                            "critical_days", "findings_days", "hour",        NULL };
        config_setting_t *g = get_group(ctx, root, "retention", err);
        if (!g)
                return 0;
        config_check_keys(ctx, g, keys);
        return get_numbers(ctx, g, "retention", c, err);
}

/* An IANA zone name whose file tzdata has: nothing that climbs out of
 * /usr/share/zoneinfo, nothing glibc would read as a POSIX TZ rule. */
static bool zone_valid(const char *z) {
        char path[128];
        struct stat st;
        if (streq(z, "UTC"))
                return true;
        if (!*z || strlen(z) > 64 || z[0] == '/' || strstr(z, "..") ||
            strspn(z, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != strlen(z))
                return false;
        snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", z);
        return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int parse_console(ConfigContext *ctx, config_setting_t *root, CollectorConfig *c, int *err) {
        static const char *const keys[] = {
                "enable",  "listen", "port", "cert", "key", "zone", "idle_timeout_min", "session_max_hours",
                "www_dir", NULL
        };
        config_setting_t *g = get_group(ctx, root, "console", err);
        CollectorConsole *k = &c->console;
        const char *cert, *key;
        char text[80];
        int r;

        if (g) {
                config_check_keys(ctx, g, keys);
                if (KEEP(config_get_bool(ctx, g, "enable", &k->enable), *err) < 0 ||
                    KEEP(config_get_string(ctx, g, "listen", &k->listen_text), *err) < 0 ||
                    KEEP(config_get_path(ctx, g, "cert", &k->cert_file), *err) < 0 ||
                    KEEP(config_get_path(ctx, g, "key", &k->key_file), *err) < 0 ||
                    KEEP(config_get_string(ctx, g, "zone", &k->zone), *err) < 0 ||
                    KEEP(config_get_path(ctx, g, "www_dir", &k->www_dir), *err) < 0 ||
                    get_numbers(ctx, g, "console", c, err) < 0)
                        return -ENOMEM;
        }
        if (!k->listen_text && !(k->listen_text = strdup("127.0.0.1")))
                return -ENOMEM;
        if (!k->zone && !(k->zone = strdup("Asia/Tokyo")))
                return -ENOMEM;
        if (!k->www_dir && !(k->www_dir = strdup("/usr/share/mamori-collector/www")))
                return -ENOMEM;
        /* checked when used: a host without tzdata still runs the ingest */
        if (k->enable && !zone_valid(k->zone)) {
                config_error(ctx->errors, ctx->file, g ? config_key_line(g, "zone") : 1,
                             "'zone' '%s' is not a time zone of /usr/share/zoneinfo (e.g. \"Asia/Tokyo\", \"UTC\")",
                             k->zone);
                KEEP(-EINVAL, *err);
        }
        snprintf(text, sizeof text, strchr(k->listen_text, ':') ? "[%s]:%u" : "%s:%u", k->listen_text, k->port);
        CollectorListen l = { 0 };
        if (strlen(k->listen_text) > 64 || parse_listen(text, &l) < 0) {
                config_error(ctx->errors, ctx->file, g ? config_key_line(g, "listen") : 1,
                             "'listen' '%s' is not an IPv4 or IPv6 address", k->listen_text);
                KEEP(-EINVAL, *err);
        } else {
                k->addr = l.addr;
                k->addr_len = l.addr_len;
        }
        if (!k->enable)
                return 0;
        if (c->n_listen > 0 && k->addr_len > 0)
                for (size_t i = 0; i < c->n_listen; i++)
                        if (ntohs(((struct sockaddr_in *) &c->listen[i].addr)->sin_port) == k->port) {
                                config_error(ctx->errors, ctx->file, config_key_line(g, "port"),
                                             "'port' %u is the ingest port of 'listen' %s: the console needs its own",
                                             k->port, c->listen[i].text);
                                KEEP(-EINVAL, *err);
                        }
        /* no certificate of its own: the ingest listener's */
        cert = k->cert_file ? k->cert_file : c->cert_file;
        key = k->key_file ? k->key_file : c->key_file;
        if (cert && (r = read_named(ctx, g, k->cert_file ? "cert" : "enable", cert, TLS_FILE_MAX, 0, &k->cert_pem,
                                    &k->cert_len)) < 0)
                if (KEEP(r, *err) < 0)
                        return -ENOMEM;
        if (key && (r = read_named(ctx, g, k->key_file ? "key" : "enable", key, TLS_FILE_MAX, TRUST_SECRET, &k->key_pem,
                                   &k->key_len)) < 0)
                if (KEEP(r, *err) < 0)
                        return -ENOMEM;
        return 0;
}

int collector_config_load_string(const char *path, const char *text, size_t len, CollectorConfig **ret,
                                 ConfigErrors *errors) {
        _cleanup_(config_free_wrap) config_t cfg;
        ConfigContext ctx = { .errors = errors, .file = path };
        static const char *const keys[] = { "listen",   "tls",       "auth",   "storage", "limits",
                                            "findings", "retention", "export", "console", NULL };
        CollectorConfig *c;
        config_setting_t *root, *g;
        int err = 0, r;

        config_init(&cfg);
        if (memchr(text, 0, len)) {
                config_error(errors, path, 1, "contains a NUL byte: a configuration file is text");
                return -EINVAL;
        }
        if (config_read_string(&cfg, text) != CONFIG_TRUE) {
                const char *t = config_error_text(&cfg);
                _cleanup_(config_syntax_hint_done) ConfigSyntaxHint h = { 0 };
                if (config_hint_syntax(text, len, config_error_line(&cfg), &h) < 0)
                        return -ENOMEM;
                config_error(errors, path, h.line, "%s%s%s%s%s%s%s",
                             t && startswith(t, "syntax error") ? "" : "syntax error: ", t ? t : "?",
                             h.hint ? " (" : "", strempty(h.hint), h.hint ? ")" : "",
                             h.line_text ? "; the line reads: " : "", strempty(h.line_text));
                return -EINVAL;
        }

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        atomic_init(&c->refs, 1);
        _cleanup_collector_config_ CollectorConfig *owned = c;
        defaults(c);
        if (!(c->path = strdup(path)))
                return -ENOMEM;

        root = config_root_setting(&cfg);
        config_check_keys(&ctx, root, keys);
        if (parse_listen_list(&ctx, root, c, &err) < 0 || parse_tls(&ctx, root, c, &err) < 0 ||
            parse_storage(&ctx, root, c, &err) < 0 || parse_limits(&ctx, root, c, &err) < 0 ||
            parse_findings(&ctx, root, c, &err) < 0 || parse_retention(&ctx, root, c, &err) < 0 ||
            parse_console(&ctx, root, c, &err) < 0)
                return -ENOMEM;
        g = get_group(&ctx, root, "auth", &err);
        if (g) {
                static const char *const akeys[] = { "token_file", NULL };
                config_check_keys(&ctx, g, akeys);
                r = read_tokens(&ctx, g, "token_file", &c->tokens, &c->n_tokens);
                if (KEEP(r, err) < 0)
                        return -ENOMEM;
        }
        g = get_group(&ctx, root, "export", &err);
        if (g) {
                static const char *const ekeys[] = { "token_file", NULL };
                config_check_keys(&ctx, g, ekeys);
                r = read_tokens(&ctx, g, "token_file", &c->export_tokens, &c->n_export_tokens);
                if (KEEP(r, err) < 0)
                        return -ENOMEM;
        }
        if (c->limits.max_decompressed_bytes < c->limits.max_line_bytes) {
                config_error(errors, path, config_key_line(root, "limits"),
                             "'max_decompressed_bytes' must be at least 'max_line_bytes'");
                KEEP(-EINVAL, err);
        }
        if (err == 0 && errors->n > 0)
                err = -EINVAL; /* an unknown key */
        if (err < 0)
                return err;
        *ret = TAKE_PTR(owned);
        return 0;
}

int collector_config_load(const char *path, CollectorConfig **ret, ConfigErrors *errors) {
        _cleanup_free_ char *text = NULL, *why = NULL;
        size_t len = 0;
        int r;

        r = trust_read_file(path, CONFIG_FILE_MAX, 0, &text, &len, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                config_error(errors, path, 0, "%s", why ? why : strerror(-r));
                return r;
        }
        return collector_config_load_string(path, text, len, ret, errors);
}

static bool str_eq(const char *a, const char *b) {
        return streq_ptr(a, b);
}

bool collector_config_needs_restart(const CollectorConfig *a, const CollectorConfig *b) {
        if (a->n_listen != b->n_listen)
                return true;
        for (size_t i = 0; i < a->n_listen; i++)
                if (!streq(a->listen[i].text, b->listen[i].text))
                        return true;
        return !str_eq(a->cert_pem, b->cert_pem) || !str_eq(a->key_pem, b->key_pem) ||
               !str_eq(a->client_ca_pem, b->client_ca_pem) || a->store.backend != b->store.backend ||
               !str_eq(a->store.sqlite_path, b->store.sqlite_path) ||
               !str_eq(a->store.pg_conninfo, b->store.pg_conninfo) || a->limits.workers != b->limits.workers ||
               a->limits.max_connections != b->limits.max_connections ||
               a->limits.connection_timeout_sec != b->limits.connection_timeout_sec ||
               a->console.enable != b->console.enable || !str_eq(a->console.listen_text, b->console.listen_text) ||
               a->console.port != b->console.port || !str_eq(a->console.cert_pem, b->console.cert_pem) ||
               !str_eq(a->console.key_pem, b->console.key_pem) || !str_eq(a->console.zone, b->console.zone);
}
