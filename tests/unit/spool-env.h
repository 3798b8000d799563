/* SPDX-License-Identifier: MIT */
#pragma once
/* What the spool's unit tests share: a spool in a fresh directory, callbacks
 * that record what the spool reports, and events that carry their own seq.
 * Include after unit.h. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "log.h"
#include "spool-record.h"
#include "spool.h"

typedef struct Env {
        char dir[64];
        uint64_t last_committed;
        int commit_error;
        unsigned n_commits;
        SpoolFinding findings[16];
        unsigned n_findings;
        uint64_t dropped;
        unsigned n_drops;
        uint64_t drop_ranges_total;
} Env;

static inline int render_drop(const SpoolDrop *d, uint64_t seq, uint8_t *sev, usec_t *t, char **json, size_t *len,
                              void *userdata) {
        Env *env = userdata;
        uint64_t in_ranges = 0;
        int n;

        for (size_t i = 0; i < d->n_ranges; i++)
                in_ranges += d->ranges[i][1] - d->ranges[i][0] + 1;
        /* The ranges name exactly the events counted. */
        assert_int_equal(in_ranges, d->count);
        /* append_n() dates every event 1000 + seq µs: the times come from the records */
        assert_int_equal(d->oldest_time, 1000 + d->ranges[0][0]);
        assert_int_equal(d->newest_time, 1000 + d->ranges[d->n_ranges - 1][1]);
        env->drop_ranges_total += in_ranges;
        env->dropped += d->count;
        env->n_drops++;
        n = asprintf(json, "{\"seq\":%" PRIu64 ",\"kind\":\"agent.events_dropped\",\"count\":%" PRIu64 "}", seq,
                     d->count);
        assert_true(n > 0);
        *len = (size_t) n;
        *sev = 3;
        *t = 0;
        return 0;
}

static inline void committed(uint64_t last, int error, void *userdata) {
        Env *env = userdata;
        env->n_commits++;
        if (error < 0)
                env->commit_error = error;
        else
                env->last_committed = last;
}

static inline void damaged(const SpoolFinding *f, void *userdata) {
        Env *env = userdata;
        if (env->n_findings < 16)
                env->findings[env->n_findings++] = *f;
}

static const SpoolCallbacks callbacks = { render_drop, committed, damaged };

static inline Spool *open_spool(Env *env, uint64_t max) {
        Spool *s = NULL;
        int r = spool_open(env->dir, &(SpoolOptions){ .max_bytes = max }, &s);
        assert_int_equal(r, 0);
        spool_set_callbacks(s, &callbacks, env);
        return s;
}

/* Findings are handed out from the event loop; here, run it once. */
static inline void deliver_findings(Env *env, Spool *s) {
        sd_event *e = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(spool_attach_event(s, e, 0), 0);
        for (int i = 0; i < 3; i++)
                (void) sd_event_run(e, 0);
        /* detach: the spool keeps its source; drop the loop at free time */
        sd_event_unref(e);
}

static inline int setup(void **state) {
        Env *env = calloc(1, sizeof *env);
        strcpy(env->dir, "/tmp/mamori-spool-XXXXXX");
        assert_non_null(mkdtemp(env->dir));
        *state = env;
        return 0;
}

static inline int teardown(void **state) {
        Env *env = *state;
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", env->dir);
        assert_int_equal(system(cmd), 0);
        free(env);
        return 0;
}

static inline void append_n(Spool *s, unsigned n, uint8_t sev, size_t pad) {
        for (unsigned i = 0; i < n; i++) {
                char buf[8192];
                uint64_t seq = spool_next_seq(s);
                int len = snprintf(buf, sizeof buf, "{\"seq\":%" PRIu64 ",\"sev\":%u,\"pad\":\"%*s\"}", seq, sev,
                                   (int) pad, "");
                assert_int_equal(spool_append(s, buf, (size_t) len, sev, 1000 + seq), 0);
        }
}

typedef struct Collected {
        uint64_t seqs[20000];
        size_t n;
} Collected;

static inline int collect(uint64_t seq, const char *json, size_t len, void *userdata) {
        Collected *c = userdata;
        char want[40];
        /* each line carries its own seq first */
        snprintf(want, sizeof want, "{\"seq\":%" PRIu64 ",", seq);
        assert_true(len > strlen(want));
        assert_memory_equal(json, want, strlen(want));
        if (c->n < 20000)
                c->seqs[c->n++] = seq;
        return 0;
}

static inline char *last_segment(Env *env) {
        struct dirent **names;
        char *path = NULL;
        int n = scandir(env->dir, &names, NULL, alphasort);
        for (int i = n - 1; i >= 0; i--) {
                if (!path && endswith(names[i]->d_name, ".seg"))
                        assert_true(asprintf(&path, "%s/%s", env->dir, names[i]->d_name) > 0);
                free(names[i]);
        }
        free(names);
        assert_non_null(path);
        return path;
}

static inline off_t file_size(const char *path) {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        return st.st_size;
}

static inline const SpoolFinding *find_kind(Env *env, SpoolDamage kind, unsigned nth) {
        for (unsigned i = 0; i < env->n_findings; i++)
                if (env->findings[i].kind == kind && nth-- == 0)
                        return &env->findings[i];
        return NULL;
}

static inline unsigned count_segments(Env *env) {
        struct dirent **names;
        unsigned c = 0;
        int n = scandir(env->dir, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                if (endswith(names[i]->d_name, ".seg"))
                        c++;
                free(names[i]);
        }
        free(names);
        return c;
}
