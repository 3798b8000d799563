/* SPDX-License-Identifier: MIT */
#pragma once

/* /etc/mamori-collector/collector.conf (libconfig), DESIGN-12 "Config".
 * Errors name file:line, like mamori.conf's (common/config-parse.h). The
 * files it names (certificate, key, client CA, tokens, conninfo) are read at
 * load, with the agent's trust rules (common/trusted-file.h), so that a
 * reload that cannot read them is refused as a whole and the running
 * configuration stays. A loaded config is immutable and reference counted:
 * a request holds the one it started with across a reload. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"
#include "findings.h"
#include "store.h"

#define COLLECTOR_CONFIG_PATH "/etc/mamori-collector/collector.conf"
#define COLLECTOR_MAX_LISTEN 16
#define COLLECTOR_MAX_TOKENS 16

typedef struct CollectorListen {
        char *text; /* as written: "0.0.0.0:8443", "[::]:8443" */
        struct sockaddr_storage addr;
        socklen_t addr_len;
} CollectorListen;

typedef struct CollectorLimits {
        size_t max_body_bytes, max_decompressed_bytes, max_line_bytes, max_events;
        unsigned max_ratio, max_connections, connection_timeout_sec, workers;
        double per_host_rate;
        unsigned per_host_burst;
} CollectorLimits;

/* The review console (issue 13): its own HTTPS listener, off by default. */
typedef struct CollectorConsole {
        bool enable;
        char *listen_text; /* the address as written: "0.0.0.0", "::" */
        struct sockaddr_storage addr;
        socklen_t addr_len;
        unsigned port;
        char *cert_file, *key_file; /* default: tls.cert_file, tls.key_file */
        char *cert_pem, *key_pem;
        size_t cert_len, key_len;
        char *zone; /* an IANA zone name, "Asia/Tokyo": the process's TZ when enabled */
        unsigned idle_timeout_min, session_max_hours;
        char *www_dir;
} CollectorConsole;

typedef struct CollectorConfig {
        atomic_uint refs;
        char *path;

        CollectorListen listen[COLLECTOR_MAX_LISTEN];
        size_t n_listen;

        char *cert_file, *key_file, *client_ca_file;
        char *cert_pem, *key_pem, *client_ca_pem; /* the files' contents */
        size_t cert_len, key_len, client_ca_len;
        bool require_client_cert, require_name_match;

        char **tokens; /* NULL-terminated; empty: no bearer token asked */
        size_t n_tokens;
        char **export_tokens;
        size_t n_export_tokens;

        StoreConfig store;
        CollectorLimits limits;
        FindingsConfig findings;
        unsigned sweep_interval_sec;
        RetentionConfig retention;
        unsigned retention_hour; /* local hour of the day retention runs */
        CollectorConsole console;
} CollectorConfig;

/* Loads path. 0, or a negative errno with the problems in errors (file:line). */
int collector_config_load(const char *path, CollectorConfig **ret, ConfigErrors *errors);
/* The same from text already read, for tests and the fuzzer: files it names
 * are still read from disk. */
int collector_config_load_string(const char *path, const char *text, size_t len, CollectorConfig **ret,
                                 ConfigErrors *errors);

CollectorConfig *collector_config_ref(CollectorConfig *c);
CollectorConfig *collector_config_unref(CollectorConfig *c);
static inline void collector_config_unrefp(CollectorConfig **c) {
        if (*c)
                collector_config_unref(*c);
}
#define _cleanup_collector_config_ __attribute__((cleanup(collector_config_unrefp)))

/* Whether a reload from a to b needs a restart to take full effect (listen
 * addresses, TLS files, storage, workers): the rest applies at once. */
bool collector_config_needs_restart(const CollectorConfig *a, const CollectorConfig *b);
