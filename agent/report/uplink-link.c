/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"
#include "text.h"
#include "uplink-link.h"

struct UplinkLink {
        char *cursor_path;
        char *status_path;
        char *control_path;
        /* The bad status file last complained about: one log line per change. */
        struct stat bad_st;
        int bad_error;
        /* The refused state last told as an event (status 0: none). */
        long refused_status;
        usec_t refused_since;
};

int uplink_link_new(const char *state_dir, const char *runtime_dir, UplinkLink **ret) {
        _cleanup_(uplink_link_freep) UplinkLink *l = calloc(1, sizeof *l);

        assert(state_dir && runtime_dir && ret);

        if (!l)
                return -ENOMEM;
        if (asprintf(&l->cursor_path, "%s/cursor", state_dir) < 0)
                l->cursor_path = NULL;
        if (asprintf(&l->status_path, "%s/status", runtime_dir) < 0)
                l->status_path = NULL;
        if (asprintf(&l->control_path, "%s/control", runtime_dir) < 0)
                l->control_path = NULL;
        if (!l->cursor_path || !l->status_path || !l->control_path)
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

UplinkLink *uplink_link_free(UplinkLink *l) {
        if (!l)
                return NULL;
        free(l->cursor_path);
        free(l->status_path);
        free(l->control_path);
        free(l);
        return NULL;
}

const char *uplink_link_cursor_path(const UplinkLink *l) {
        assert(l);
        return l->cursor_path;
}

/* The file is the uplink user's, hostile until parsed: no link (O_NOFOLLOW),
 * a regular file only (O_NONBLOCK: a FIFO put in its place cannot hang the
 * open), bounded. */
static int uplink_link_read_file(const char *path, UplinkStatus *ret, struct stat *ret_st) {
        _cleanup_close_ int fd = -EBADF;
        char buf[UPLINK_STATUS_FILE_MAX + 1];
        size_t len = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, ret_st) < 0)
                return -errno;
        if (!S_ISREG(ret_st->st_mode))
                return -EBADFD;
        if (ret_st->st_size > (off_t) UPLINK_STATUS_FILE_MAX)
                return -EFBIG;
        while (len < sizeof buf) {
                ssize_t n = read(fd, buf + len, sizeof buf - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        return uplink_status_parse(buf, len, ret);
}

/* The PID of a status file left by a crash may be anyone's by now. */
static bool uplink_link_pid_is_uplink(pid_t pid) {
        _cleanup_close_ int fd = -EBADF;
        char path[64], comm[32];
        ssize_t n;

        if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
                return false;
        snprintf(path, sizeof path, "/proc/%d/comm", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return false;
        n = read(fd, comm, sizeof comm - 1);
        if (n <= 0)
                return false;
        comm[n] = '\0';
        return streq(comm, "mamori-uplink\n");
}

void uplink_link_read(UplinkLink *l, UplinkLinkStatus *ret) {
        struct stat st = {};
        int r;

        assert(l && ret);

        *ret = (UplinkLinkStatus){};
        r = uplink_link_read_file(l->status_path, &ret->status, &st);
        if (r == -ENOENT) {
                ret->detail = "mamori-uplink is not running (no status file)";
                return;
        }
        if (r < 0) {
                /* Not the uplink's own doing (it writes atomically): a bug, or
                 * someone writing there. Said once per change of the file. */
                if (r != l->bad_error || st.st_ino != l->bad_st.st_ino || st.st_size != l->bad_st.st_size ||
                    st.st_mtim.tv_sec != l->bad_st.st_mtim.tv_sec || st.st_mtim.tv_nsec != l->bad_st.st_mtim.tv_nsec)
                        log_warning_errno(r, "Ignoring the status file of mamori-uplink %s: %s", l->status_path,
                                          r == -EBADMSG  ? "not in its format"
                                          : r == -EFBIG  ? "too large"
                                          : r == -EBADFD ? "not a regular file"
                                                         : "cannot be read");
                l->bad_error = r;
                l->bad_st = st;
                ret->detail = "the status file of mamori-uplink cannot be used";
                return;
        }
        l->bad_error = 0;
        ret->present = true;
        ret->running = uplink_link_pid_is_uplink(ret->status.pid);
        if (!ret->running)
                ret->detail = "mamori-uplink is not running (its status file is left from an earlier run)";
}

void uplink_link_status_done(UplinkLinkStatus *s) {
        if (!s)
                return;
        uplink_status_done(&s->status);
        *s = (UplinkLinkStatus){};
}

/* The collector's answer as the uplink wrote it: sanitized there, but the
 * file is another user's, so once more here (its escapes kept as they are). */
static char *uplink_link_answer(const char *answer) {
        return text_sanitize_flags(answer ? answer : "", answer ? strlen(answer) : 0, UPLINK_STATUS_ANSWER_MAX,
                                   TEXT_KEEP_BACKSLASH, NULL);
}

static void uplink_link_kv_time(JsonWriter *w, const char *key, usec_t t) {
        char ts[RFC3339_MAX];
        json_key(w, key);
        if (t)
                json_string(w, format_rfc3339(ts, t));
        else
                json_null(w);
}

void uplink_link_status_json(const UplinkLinkStatus *s, const char *configured_url, JsonWriter *w) {
        const UplinkStatus *us = &s->status;
        usec_t now = now_usec(CLOCK_REALTIME);

        assert(s && w);

        json_kv_string(w, "state", s->running ? uplink_state_to_string(us->state) : "not-running");
        json_kv_bool(w, "running", s->running);
        json_key(w, "status_age_s");
        if (s->present)
                json_uint(w, now > us->updated ? (now - us->updated) / USEC_PER_SEC : 0);
        else
                json_null(w);
        if (s->detail)
                json_kv_string(w, "detail", s->detail);
        /* The uplink's word when it runs; the policy's otherwise, so that
         * mamorictl still says where events should go. */
        json_kv_string(w, "url", s->running ? us->url : configured_url);
        uplink_link_kv_time(w, "last_success", us->last_success);
        uplink_link_kv_time(w, "last_attempt", us->last_attempt);
        uplink_link_kv_time(w, "next_attempt",
                            s->running && (us->state == UPLINK_WAITING || us->state == UPLINK_REFUSED) ? us->next_attempt
                                                                                                       : 0);
        json_kv_uint(w, "failures", us->failures);
        if (us->last_status)
                json_kv_int(w, "last_status", us->last_status);
        json_kv_string(w, "last_error", us->last_error);
        json_kv_uint(w, "events_sent", us->events_sent);
        json_kv_uint(w, "batches_sent", us->batches_sent);
        json_kv_uint(w, "batches_rejected", us->batches_rejected);
        json_kv_uint(w, "events_rejected", us->events_rejected);
        /* Stranded until an administrator resends them: the central team sees them here. */
        json_key(w, "dead_letter");
        json_object_begin(w);
        json_kv_uint(w, "batches", us->dead_letter_count);
        json_kv_uint(w, "bytes", us->dead_letter_bytes);
        json_object_end(w);
        if (s->running && us->state == UPLINK_REFUSED) {
                _cleanup_free_ char *answer = uplink_link_answer(us->refused_answer);
                json_key(w, "refused");
                json_object_begin(w);
                json_kv_int(w, "status", us->refused_status);
                uplink_link_kv_time(w, "since", us->refused_since);
                json_kv_string(w, "answer", answer ? answer : "");
                json_kv_string(w, "meaning", uplink_refused_meaning(us->refused_status));
                json_object_end(w);
        }
}

int uplink_link_refused_event(UplinkLink *l, const UplinkLinkStatus *s, Event **ret) {
        const UplinkStatus *us = &s->status;
        _cleanup_(event_freep) Event *e = NULL;
        char ts[RFC3339_MAX];
        JsonWriter *w;

        assert(l && s && ret);

        *ret = NULL;
        if (!s->running)
                return 0;
        if (us->state == UPLINK_REFUSED) {
                _cleanup_free_ char *answer = NULL;

                if (us->refused_status == l->refused_status && us->refused_since == l->refused_since)
                        return 0;
                answer = uplink_link_answer(us->refused_answer);
                e = event_new(EVENT_AGENT_DELIVERY_REFUSED);
                if (!e || !answer)
                        return -ENOMEM;
                (void) event_set_message(e,
                                         "The collector refuses this PC's events with HTTP %ld since %s; they wait "
                                         "in the spool: %s",
                                         us->refused_status, format_rfc3339(ts, us->refused_since),
                                         uplink_refused_meaning(us->refused_status));
                w = event_body(e);
                json_key(w, "refused");
                json_object_begin(w);
                json_kv_int(w, "status", us->refused_status);
                json_kv_string(w, "since", format_rfc3339(ts, us->refused_since));
                json_kv_string(w, "answer", answer);
                json_kv_string(w, "url", us->url);
                json_object_end(w);
                l->refused_status = us->refused_status;
                l->refused_since = us->refused_since;
                *ret = TAKE_PTR(e);
                return 0;
        }
        /* An answer of another class ended it; a fresh uplink that has not
         * had one yet (last_status 0) proves nothing. */
        if (l->refused_status == 0 || us->state == UPLINK_OFF || us->last_status == 0)
                return 0;
        e = event_new(EVENT_AGENT_DELIVERY_RESUMED);
        if (!e)
                return -ENOMEM;
        (void) event_set_message(e,
                                 "The collector no longer refuses this PC's events (HTTP %ld; it refused them with HTTP "
                                 "%ld since %s)",
                                 us->last_status, l->refused_status, format_rfc3339(ts, l->refused_since));
        w = event_body(e);
        json_key(w, "resumed");
        json_object_begin(w);
        json_kv_int(w, "status", us->last_status);
        json_kv_int(w, "refused_status", l->refused_status);
        json_kv_string(w, "refused_since", format_rfc3339(ts, l->refused_since));
        json_object_end(w);
        l->refused_status = 0;
        l->refused_since = 0;
        *ret = TAKE_PTR(e);
        return 0;
}

int uplink_link_flush(UplinkLink *l) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        static const char msg[] = "flush\n";

        assert(l);

        if (strlen(l->control_path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, l->control_path, strlen(l->control_path) + 1);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (sendto(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        return 0;
}
