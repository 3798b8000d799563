/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "uplink-state.h"

/* After the uplink's own sources: one write for everything an iteration changed. */
#define STATE_WRITE_PRIORITY (SD_EVENT_PRIORITY_IDLE - 10)

struct UplinkStateWriter {
        Uplink *uplink;
        char *path, *tmp;
        sd_event_source *defer;
        int last_error; /* said once until it changes */
};

static int uplink_state_write_file(const char *tmp, const char *path, const char *text, size_t len) {
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        (void) unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return negative_errno();
        /* Whatever the umask: mamorid reads it as another user's file. */
        if (fchmod(fd, 0644) < 0)
                return negative_errno();
        n = write(fd, text, len);
        if (n < 0 || (size_t) n != len) {
                int r = n < 0 ? negative_errno() : -EIO;
                (void) unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                int r = negative_errno();
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

/* The unit's status line: what `systemctl status mamori-uplink` shows. */
static void uplink_state_notify(const UplinkStatus *s) {
        char line[512];

        switch (s->state) {
        case UPLINK_OFF:
                snprintf(line, sizeof line, "STATUS=Not delivering: %s",
                         s->last_error ? s->last_error : "no collector.url");
                break;
        case UPLINK_WAITING:
                snprintf(line, sizeof line, "STATUS=Waiting to retry (%u failure%s): %s", s->failures,
                         s->failures == 1 ? "" : "s", strna(s->last_error));
                break;
        case UPLINK_REFUSED:
                snprintf(line, sizeof line, "STATUS=Refused by the collector with HTTP %ld: events wait (%u attempt%s)",
                         s->refused_status, s->failures, s->failures == 1 ? "" : "s");
                break;
        default:
                snprintf(line, sizeof line,
                         "STATUS=Delivering to %s: %" PRIu64 " events sent, delivered up to seq %" PRIu64,
                         strna(s->url), s->events_sent, s->acked_seq);
        }
        (void) sd_notify(false, line);
}

int uplink_state_writer_write(UplinkStateWriter *w) {
        _cleanup_free_ char *text = NULL;
        UplinkStatus s;
        size_t len = 0;
        int r;

        assert(w);

        uplink_get_status(w->uplink, &s);
        s.pid = getpid();
        s.updated = now_usec(CLOCK_REALTIME);
        r = uplink_status_format(&s, &text, &len);
        if (r == -EINVAL && s.last_error) {
                /* An error text the format refuses (too long, not UTF-8): the rest still goes. */
                s.last_error = (char *) "(an error that cannot be shown here: see the journal of mamori-uplink)";
                r = uplink_status_format(&s, &text, &len);
        }
        if (r >= 0)
                r = uplink_state_write_file(w->tmp, w->path, text, len);
        if (r < 0 && r != w->last_error)
                log_error_errno(r, "Cannot write the status file %s; mamorid shows an old state: %m", w->path);
        else if (r >= 0 && w->last_error < 0)
                log_info("The status file %s is written again.", w->path);
        w->last_error = r < 0 ? r : 0;
        uplink_state_notify(&s);
        return r;
}

static int uplink_state_on_defer(sd_event_source *src, void *userdata) {
        (void) uplink_state_writer_write(userdata);
        return 0;
}

void uplink_state_writer_schedule(UplinkStateWriter *w) {
        if (w)
                (void) sd_event_source_set_enabled(w->defer, SD_EVENT_ONESHOT);
}

int uplink_state_writer_new(sd_event *e, Uplink *u, const char *runtime_dir, UplinkStateWriter **ret) {
        _cleanup_(uplink_state_writer_freep) UplinkStateWriter *w = NULL;
        int r;

        assert(e);
        assert(u);
        assert(runtime_dir);
        assert(ret);

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->uplink = u;
        if (asprintf(&w->path, "%s/status", runtime_dir) < 0 || asprintf(&w->tmp, "%s/.status.tmp", runtime_dir) < 0)
                return -ENOMEM;
        r = sd_event_add_defer(e, &w->defer, uplink_state_on_defer, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(w->defer, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(w->defer, STATE_WRITE_PRIORITY);
        (void) sd_event_source_set_description(w->defer, "uplink-status");
        *ret = TAKE_PTR(w);
        return 0;
}

UplinkStateWriter *uplink_state_writer_free(UplinkStateWriter *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->defer);
        free(w->path);
        free(w->tmp);
        free(w);
        return NULL;
}
