/* SPDX-License-Identifier: MIT */
/* A stand-in for collector/store-sqlite.c, for mamori-collectorctl's tests
 * while the real store is not in this tree (tests/meson.build uses it only
 * then). The "database" is an NDJSON file at storage.path, in arrival order;
 * the cursor is the number of lines read. Hosts are the distinct
 * host.machine_id, findings the collector.host.* lines. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "macro.h"
#include "store.h"

struct Store {
        char **lines;
        size_t n;
};

int store_open(const StoreConfig *cfg, const FindingsConfig *fc, Store **ret) {
        _cleanup_fclose_ FILE *f = NULL;
        struct stat st;
        Store *s;
        char *line = NULL;
        size_t cap = 0;
        ssize_t k;

        if (cfg->backend != STORE_SQLITE || !cfg->sqlite_path)
                return -EOPNOTSUPP;
        f = fopen(cfg->sqlite_path, "re");
        if (!f)
                return -errno;
        if (fstat(fileno(f), &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode)) /* as SQLite refuses a directory */
                return -EISDIR;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        while ((k = getline(&line, &cap, f)) > 0) {
                char **n = realloc(s->lines, (s->n + 1) * sizeof(char *));
                if (!n)
                        break;
                s->lines = n;
                if (line[k - 1] == '\n')
                        line[k - 1] = 0;
                s->lines[s->n++] = strdup(line);
        }
        free(line);
        *ret = s;
        return 0;
}

Store *store_free(Store *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->lines[i]);
        free(s->lines);
        free(s);
        return NULL;
}

int store_ingest(Store *s, const StoreBatch *b, StoreIngestResult *ret) {
        return -EOPNOTSUPP;
}

int store_sweep(Store *s, int64_t now_us, size_t *changed) {
        return -EOPNOTSUPP;
}

int store_retention(Store *s, int64_t now_us, const RetentionConfig *rc, uint64_t *removed) {
        return -EOPNOTSUPP;
}

int store_export(Store *s, const char *after, int64_t since_us, size_t max, StoreExportFn fn, void *userdata) {
        size_t i = after && *after ? strtoull(after, NULL, 10) : 0;

        for (size_t done = 0; i < s->n && done < max; i++, done++) {
                char cursor[32];
                int r;

                snprintf(cursor, sizeof(cursor), "%zu", i + 1);
                r = fn(s->lines[i], strlen(s->lines[i]), cursor, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const char *jpath(json_object *o, const char *a, const char *b) {
        json_object *v;

        if (!json_object_object_get_ex(o, a, &v))
                return NULL;
        if (b && !json_object_object_get_ex(v, b, &v))
                return NULL;
        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int store_hosts(Store *s, StoreHostFn fn, void *userdata) {
        for (size_t i = 0; i < s->n; i++) {
                json_object *o = json_tokener_parse(s->lines[i]), *seq;
                const char *id = o ? jpath(o, "host", "machine_id") : NULL;
                bool seen = false;
                HostState h = {};
                int r = 0;

                for (size_t j = 0; id && j < i && !seen; j++)
                        seen = strstr(s->lines[j], id) != NULL;
                if (id && !seen) {
                        snprintf(h.machine_id, sizeof(h.machine_id), "%s", id);
                        snprintf(h.host_name, sizeof(h.host_name), "%s", jpath(o, "host", "name") ?: "");
                        snprintf(h.agent_version, sizeof(h.agent_version), "%s", jpath(o, "agent", "version") ?: "");
                        h.events = 1;
                        if (json_object_object_get_ex(o, "seq", &seq))
                                h.max_seq = (uint64_t) json_object_get_int64(seq);
                        r = fn(&h, userdata);
                }
                if (o)
                        json_object_put(o);
                if (r < 0)
                        return r;
        }
        return 0;
}

int store_findings(Store *s, bool open_only, StoreFindingFn fn, void *userdata) {
        for (size_t i = 0; i < s->n; i++) {
                json_object *o = json_tokener_parse(s->lines[i]);
                const char *kind = o ? jpath(o, "kind", NULL) : NULL;
                int r = 0;

                if (kind && strncmp(kind, "collector.host.", 15) == 0) {
                        FindingRow f = { .id = (int64_t) i + 1,
                                         .count = 1,
                                         .message = jpath(o, "message", NULL) ?: "",
                                         .detail = "{}" };
                        snprintf(f.machine_id, sizeof(f.machine_id), "%s", jpath(o, "host", "machine_id") ?: "");
                        snprintf(f.host_name, sizeof(f.host_name), "%s", jpath(o, "host", "name") ?: "");
                        snprintf(f.kind, sizeof(f.kind), "%s", kind + 10);
                        snprintf(f.severity, sizeof(f.severity), "%s", jpath(o, "severity", NULL) ?: "");
                        snprintf(f.state, sizeof(f.state), "open");
                        r = fn(&f, userdata);
                }
                if (o)
                        json_object_put(o);
                if (r < 0)
                        return r;
        }
        return 0;
}
