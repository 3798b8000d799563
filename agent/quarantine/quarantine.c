/* SPDX-License-Identifier: MIT */
#include "quarantine.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirwatch.h"
#include "log.h"
#include "quarantine-report.h"
#include "trusted-file.h"

/* netguard writes its status at once after a change; a short settle folds a
 * burst of repairs into one event. */
#define QUARANTINE_STATUS_SETTLE (50 * USEC_PER_MSEC)

struct Quarantine {
        sd_event *event;
        char *state_path;
        char *status_path;
        EventEmitter emitter;
        Policy *policy;
        QuarantineState state; /* what the state file says (or will say) */
        DirWatch *watch;
        bool status_seen;      /* a status of netguard's was read since start */
        uint64_t tampered;     /* netguard's counter when last looked at */
        bool netguard_missing; /* told already: netguard_stopped */
        NetguardStatus ng;
        bool ng_ok;
};

int quarantine_state_write(const char *path, const QuarantineState *s) {
        _cleanup_free_ char *tmp = NULL, *dirbuf = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF;
        char buf[QUARANTINE_STATE_MAX_SIZE];
        int n, r = 0;
        ssize_t l;

        assert(path);
        assert(s);

        n = quarantine_state_format(s, buf, sizeof buf);
        if (n < 0)
                return n;
        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        dirbuf = strdup(path);
        if (!dirbuf)
                return -ENOMEM;
        (void) unlink(tmp); /* a leftover of a crash */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        /* root-only, whatever the umask; the owner is ours (root in production) */
        if (fchmod(fd, 0600) < 0)
                r = -errno;
        for (size_t done = 0; r == 0 && done < (size_t) n; done += (size_t) l) {
                l = write(fd, buf + done, (size_t) n - done);
                if (l < 0 && errno == EINTR) {
                        l = 0;
                        continue;
                }
                if (l <= 0)
                        r = l < 0 ? -errno : -EIO;
        }
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        /* the rename itself durable: the quarantine must survive a power cut */
        dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

static void quarantine_fill_allow(Quarantine *q, QuarantineState *s) {
        const QuarantinePolicy *p = q->policy ? &q->policy->quarantine : NULL;

        s->n_allow = p ? p->n_allow : 0;
        if (p)
                memcpy(s->allow, p->allow, p->n_allow * sizeof p->allow[0]);
}

static bool quarantine_netguard_running(Quarantine *q) {
        return access(q->status_path, F_OK) == 0;
}

/* netguard's status file changed (or we look at start, or after engaging). */
static void quarantine_check_netguard(Quarantine *q) {
        _cleanup_free_ char *data = NULL, *why = NULL;
        NetguardStatus ng;
        size_t len;
        int r;

        r = trust_read_file(q->status_path, NETGUARD_STATUS_MAX, 0, &data, &len, &why);
        if (r == -ENOENT) {
                q->ng_ok = false;
                if (q->state.active && !q->netguard_missing) {
                        log_warning("The PC is quarantined but mamori-netguard is not running (%s missing).",
                                    q->status_path);
                        q->netguard_missing = true;
                        (void) q->emitter.emit(q->emitter.userdata, quarantine_event_tampered("netguard_stopped", 0, 0),
                                               NULL);
                }
                return;
        }
        if (r < 0 || netguard_status_parse(data, len, &ng) < 0) {
                log_warning("Cannot read mamori-netguard's status %s: %s", q->status_path,
                            why     ? why
                            : r < 0 ? strerror(-r)
                                    : "not in its format");
                q->ng_ok = false;
                return;
        }
        q->netguard_missing = false;
        q->ng = ng;
        q->ng_ok = true;
        /* A counter below the last one: netguard started again from 0. */
        if (q->status_seen && ng.tampered > q->tampered && q->state.active) {
                log_warning("mamori-netguard put the quarantine's rules back (%llu time%s).",
                            (unsigned long long) (ng.tampered - q->tampered), ng.tampered - q->tampered == 1 ? "" : "s");
                (void) q->emitter.emit(q->emitter.userdata,
                                       quarantine_event_tampered("rules_repaired", ng.tampered - q->tampered, ng.tampered),
                                       NULL);
        }
        q->tampered = ng.tampered;
        q->status_seen = true;
}

static void quarantine_on_status(DirWatch *w, void *userdata) {
        quarantine_check_netguard(userdata);
}

/* The state file as it is on disk, read as hostile input all the same. */
static void quarantine_load(Quarantine *q) {
        _cleanup_free_ char *data = NULL, *why = NULL;
        unsigned line = 0;
        size_t len;
        int r;

        r = trust_read_file(q->state_path, QUARANTINE_STATE_MAX_SIZE, TRUST_SECRET, &data, &len, &why);
        if (r == -ENOENT)
                return;
        if (r < 0 || quarantine_state_parse(data, len, &q->state, &line) < 0) {
                /* netguard keeps what it applied; we say so and start from "active":
                 * a broken file must not lift a quarantine. */
                log_error("The quarantine state %s cannot be read (%s, line %u); treating the PC as quarantined.",
                          q->state_path,
                          why     ? why
                          : r < 0 ? strerror(-r)
                                  : "bad format",
                          line);
                q->state = (QuarantineState){ .active = true };
                snprintf(q->state.reason, sizeof q->state.reason, "unreadable");
                return;
        }
        if (q->state.active)
                log_notice("The PC is quarantined since %llu (%s): kept.", (unsigned long long) q->state.since,
                           q->state.reason);
}

int quarantine_new(const QuarantineOptions *o, Quarantine **ret) {
        _cleanup_(quarantine_freep) Quarantine *q = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        assert(o);
        assert(o->state_dir);
        assert(ret);

        q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        q->event = sd_event_ref(o->event);
        q->emitter = o->emitter;
        if (asprintf(&q->state_path, "%s/" QUARANTINE_STATE_NAME, o->state_dir) < 0)
                return -ENOMEM;
        q->status_path = strdup(o->netguard_status ?: QUARANTINE_NETGUARD_STATUS_DEFAULT);
        dir = q->status_path ? strdup(q->status_path) : NULL;
        if (!dir)
                return -ENOMEM;
        quarantine_load(q);
        {
                _cleanup_free_ char *base = strdup(q->status_path);
                if (!base)
                        return -ENOMEM;
                const char *names[] = { basename(base), NULL };
                r = dirwatch_new(q->event, dirname(dir), names, QUARANTINE_STATUS_SETTLE, quarantine_on_status, q,
                                 &q->watch);
        }
        if (r < 0)
                return log_error_errno(r, "Cannot watch mamori-netguard's status: %m");
        quarantine_check_netguard(q);
        *ret = TAKE_PTR(q);
        return 0;
}

Quarantine *quarantine_free(Quarantine *q) {
        if (!q)
                return NULL;
        dirwatch_free(q->watch);
        policy_unref(q->policy);
        sd_event_unref(q->event);
        free(q->state_path);
        free(q->status_path);
        free(q);
        return NULL;
}

void quarantine_set_policy(Quarantine *q, Policy *p) {
        Policy *old;
        QuarantineState s;
        int r;

        assert(q);

        old = q->policy;
        q->policy = policy_ref(p);
        policy_unref(old);
        if (!q->state.active || !p || streq(q->state.reason, "unreadable"))
                return;
        s = q->state;
        quarantine_fill_allow(q, &s);
        if (s.n_allow == q->state.n_allow && memcmp(s.allow, q->state.allow, s.n_allow * sizeof s.allow[0]) == 0)
                return;
        r = quarantine_state_write(q->state_path, &s);
        if (r < 0)
                return (void) log_error_errno(r, "Cannot write the quarantine's new allow list to %s: %m", q->state_path);
        log_notice("The quarantine's allowed destinations changed: %zu now.", s.n_allow);
        q->state = s;
}

int quarantine_engage(Quarantine *q, const char *trigger, const char *cause_event_id, const char *admin_reason,
                      int64_t uid, int64_t login_uid) {
        QuarantineState s = { .active = true };
        Event *e;
        int r;

        assert(q);
        assert(trigger);

        if (q->state.active) {
                log_info("Quarantine asked for (%s) while the PC is quarantined already: one quarantine.", trigger);
                return 0;
        }
        r = quarantine_state_reason(trigger, cause_event_id, s.reason, sizeof s.reason);
        if (r < 0)
                return log_error_errno(r, "Cannot engage the quarantine: bad trigger: %m");
        s.since = (uint64_t) (now_usec(CLOCK_REALTIME) / USEC_PER_SEC);
        quarantine_fill_allow(q, &s);
        if (s.n_allow == 0)
                log_warning("Quarantine with no allowed destination: the collector cannot be reached until release.");
        r = quarantine_state_write(q->state_path, &s);
        if (r < 0)
                return log_error_errno(r, "Cannot write the quarantine state %s: %m", q->state_path);
        q->state = s;
        q->netguard_missing = false;
        log_warning("Quarantine engaged (%s): the PC is cut off the network but %zu destination%s.", s.reason,
                    s.n_allow, s.n_allow == 1 ? "" : "s");
        e = quarantine_event_engaged(&s, trigger, cause_event_id, admin_reason, uid, login_uid);
        if (!e)
                return log_oom();
        (void) q->emitter.emit(q->emitter.userdata, e, NULL);
        if (!quarantine_netguard_running(q))
                quarantine_check_netguard(q);
        return 1;
}

int quarantine_on_detection(Quarantine *q, const char *event_id) {
        if (!q || !q->policy || !(q->policy->quarantine.on & QUARANTINE_ON_AV_DETECTION))
                return 0;
        return quarantine_engage(q, "av.detection", event_id, NULL, -1, -1);
}

int quarantine_release(Quarantine *q, const char *admin_reason, int64_t uid, int64_t login_uid) {
        QuarantineState was, s = {};
        Event *e;
        int r;

        assert(q);

        if (!quarantine_reason_ok(admin_reason))
                return -EINVAL;
        if (!q->state.active)
                return -EALREADY;
        r = quarantine_state_write(q->state_path, &s);
        if (r < 0)
                return log_error_errno(r, "Cannot write the quarantine state %s: %m", q->state_path);
        was = q->state;
        q->state = s;
        q->netguard_missing = false;
        log_notice("Quarantine released by uid %lld.", (long long) uid);
        e = quarantine_event_released(&was, admin_reason, uid, login_uid);
        if (!e)
                return log_oom();
        (void) q->emitter.emit(q->emitter.userdata, e, NULL);
        return 0;
}

bool quarantine_is_active(const Quarantine *q) {
        return q && q->state.active;
}

const QuarantineState *quarantine_state(const Quarantine *q) {
        return q ? &q->state : NULL;
}

void quarantine_write_status(Quarantine *q, JsonWriter *w) {
        json_key(w, "quarantine");
        json_object_begin(w);
        json_kv_bool(w, "active", q && q->state.active);
        if (q && q->state.active) {
                json_kv_uint(w, "since", q->state.since);
                json_kv_string(w, "reason", q->state.reason);
                json_kv_uint(w, "allow", q->state.n_allow);
        }
        json_kv_bool(w, "configured", q && q->policy && q->policy->quarantine.configured);
        json_key(w, "netguard");
        json_object_begin(w);
        json_kv_bool(w, "running", q && q->ng_ok);
        if (q && q->ng_ok) {
                json_kv_bool(w, "active", q->ng.active);
                json_kv_uint(w, "rules", q->ng.rules);
                json_kv_uint(w, "tampered", q->ng.tampered);
                json_kv_uint(w, "killed", q->ng.killed);
                json_kv_string(w, "kill", q->ng.kill[0] ? q->ng.kill : NULL);
        }
        json_object_end(w);
        json_object_end(w);
}
