/* SPDX-License-Identifier: MIT */
/* The last completed full scan from the journal (antivirus.full_scan.unit):
 * the last time systemd (PID 1) logged that the scan's service finished
 * successfully, SD_MESSAGE_UNIT_SUCCESS ("Deactivated successfully") with
 * UNIT=<the service>.
 *
 * Anyone can log any MESSAGE_ID and UNIT. What they cannot forge are the
 * fields journald itself adds from the sender's credentials: _PID=1 and
 * _UID=0 are matched and checked again on the entry read (every occurrence
 * of each field). Only the system journal is opened (no user's journal, no
 * files journal-remote received from elsewhere), or a trusted directory
 * (full_scan.journal_directory: root's, writable by nobody else).
 *
 * The journal's fd is not watched: it would wake mamorid on every log line
 * of the PC. It is read at start (and so on reload), when the full scan's
 * due timer fires (av-fullscan.c), and once an hour while the scan is not
 * current, then closed again (no rotated file is held open). A read steps
 * through at most JOURNAL_STEPS_MAX matching entries. */
#include <fcntl.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-messages.h>
#include <unistd.h>

#include "av.h"
#include "log.h"
#include "text.h"
#include "trusted-file.h"

/* "Deactivated successfully", 7ad2d189f7e94e70a38c781354912448 (systemd v248 and later); PID 1
 * logs it, mamorid never does (so not in units/mamori.catalog). */
#define JOURNAL_UNIT_SUCCESS SD_MESSAGE_UNIT_SUCCESS_STR
#define JOURNAL_RECHECK (3600 * USEC_PER_SEC)
#define JOURNAL_STEPS_MAX 64

typedef struct Journal {
        AvSource *source;
        sd_event_source *recheck; /* while not current */
} Journal;

static void journal_closep(sd_journal **j) {
        if (*j)
                sd_journal_close(*j);
}

/* 1 when the current entry has FIELD= and every FIELD= in it is want; 0
 * when not; a negative errno when it cannot be read whole. */
static int av_journal_field_is(sd_journal *j, const char *field, const char *want) {
        size_t fl = strlen(field), wl = strlen(want), n = 0, l;
        const void *d;
        int r;

        sd_journal_restart_data(j);
        while ((r = sd_journal_enumerate_data(j, &d, &l)) > 0) {
                if (l <= fl || memcmp(d, field, fl) != 0 || ((const char *) d)[fl] != '=')
                        continue;
                if (l - fl - 1 != wl || memcmp((const char *) d + fl + 1, want, wl) != 0)
                        return 0;
                n++;
        }
        return r < 0 ? r : n > 0;
}

static int av_journal_trusted(sd_journal *j, const char *unit) {
        int r = av_journal_field_is(j, "_PID", "1");
        if (r > 0)
                r = av_journal_field_is(j, "_UID", "0");
        if (r > 0)
                r = av_journal_field_is(j, "MESSAGE_ID", JOURNAL_UNIT_SUCCESS);
        if (r > 0)
                r = av_journal_field_is(j, "UNIT", unit);
        return r;
}

static int av_journal_open(const char *dir, int *ret_dir_fd, sd_journal **ret, char **ret_why) {
        int fd, r;

        if (!dir)
                /* The system journal of this machine: no user's, no remote machine's. */
                return sd_journal_open(ret, SD_JOURNAL_SYSTEM | SD_JOURNAL_LOCAL_ONLY);
        /* Checked at load; again here, since it may have changed since. */
        fd = trust_open_dir(dir, ret_why);
        if (fd < 0)
                return fd;
        r = sd_journal_open_directory_fd(ret, fd, SD_JOURNAL_SYSTEM);
        if (r < 0) {
                close(fd);
                return r;
        }
        *ret_dir_fd = fd;
        return 0;
}

/* Fills r: found and the date of the last success, or why not. */
static int av_journal_search(const AvFullScanPolicy *f, AvReading *reading) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_(journal_closep) sd_journal *j = NULL;
        _cleanup_free_ char *why = NULL, *m_unit = NULL;
        char detail[600];
        size_t steps = 0;
        int r;

        r = av_journal_open(f->journal_directory, &dir_fd, &j, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                reading->reason = strdup("journal_unreadable");
                snprintf(detail, sizeof detail, "cannot open the journal%s%s: %s", f->journal_directory ? " in " : "",
                         strempty(f->journal_directory), why ?: strerror(-r));
                goto fail;
        }
        if (asprintf(&m_unit, "UNIT=%s", f->unit) < 0)
                return -ENOMEM;
        r = sd_journal_add_match(j, "MESSAGE_ID=" JOURNAL_UNIT_SUCCESS, 0);
        if (r >= 0)
                r = sd_journal_add_match(j, m_unit, 0);
        if (r >= 0)
                r = sd_journal_add_match(j, "_PID=1", 0);
        if (r >= 0)
                r = sd_journal_add_match(j, "_UID=0", 0);
        if (r >= 0)
                r = sd_journal_seek_tail(j);
        while (r >= 0 && steps < JOURNAL_STEPS_MAX) {
                uint64_t t = 0;

                r = sd_journal_previous(j);
                if (r <= 0)
                        break;
                steps++;
                /* A match the fields do not bear out, or an entry that cannot
                 * be read whole (corrupt): not counted, and not the end. */
                if (av_journal_trusted(j, f->unit) <= 0 || sd_journal_get_realtime_usec(j, &t) < 0 || t == 0)
                        continue;
                reading->found = true;
                reading->built_at = (usec_t) t;
                return 0;
        }
        if (r < 0) {
                reading->reason = strdup("journal_unreadable");
                snprintf(detail, sizeof detail, "cannot read the journal: %s", strerror(-r));
        } else {
                reading->reason = strdup("no_full_scan");
                snprintf(detail, sizeof detail, "systemd logged no successful run of %s in the journal%s", f->unit,
                         steps >= JOURNAL_STEPS_MAX ? " (within the last entries looked at)" : "");
        }
fail:
        reading->detail = text_sanitize(detail, strlen(detail), 512, NULL);
        return 0;
}

static int av_journal_read(AvSource *s) {
        const AvFullScanPolicy *f = &s->policy->full_scan;
        Journal *jr = s->data;
        _cleanup_free_ char *where = NULL;
        AvReading reading = { 0 };
        AvState st;
        usec_t t0;
        int r;

        if (asprintf(&where, "journal: %s%s%s", f->unit, f->journal_directory ? " in " : "",
                     strempty(f->journal_directory)) < 0)
                return log_oom();
        reading.file = text_sanitize(where, strlen(where), 512, NULL);
        t0 = now_usec(CLOCK_MONOTONIC);
        r = av_journal_search(f, &reading);
        if (r < 0) {
                av_reading_done(&reading);
                return log_oom();
        }
        log_debug("Read the journal for %s in %.1f ms.", f->unit,
                  (double) (now_usec(CLOCK_MONOTONIC) - t0) / (double) USEC_PER_MSEC);
        if (!reading.found)
                log_debug("No successful run of %s in the journal: %s", f->unit, strna(reading.detail));
        av_source_report(s, &reading);
        av_reading_done(&reading);

        /* Nothing wakes us when the scan completes: while not current, look once an hour. */
        st = av_source_state(s);
        if (st != AV_STATE_OK && st != AV_STATE_UNKNOWN) {
                (void) sd_event_source_set_time(jr->recheck, now_usec(CLOCK_MONOTONIC) + JOURNAL_RECHECK);
                (void) sd_event_source_set_enabled(jr->recheck, SD_EVENT_ONESHOT);
        } else
                (void) sd_event_source_set_enabled(jr->recheck, SD_EVENT_OFF);
        return 0;
}

static int av_journal_on_recheck(sd_event_source *src, uint64_t usec, void *userdata) {
        (void) av_journal_read(userdata);
        return 0;
}

static int av_journal_start(AvSource *s) {
        Journal *jr = calloc(1, sizeof *jr);
        int r;

        if (!jr)
                return -ENOMEM;
        jr->source = s;
        s->data = jr;
        r = sd_event_add_time(s->event, &jr->recheck, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_SEC,
                              av_journal_on_recheck, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(jr->recheck, SD_EVENT_OFF);
        if (r >= 0)
                (void) sd_event_source_set_description(jr->recheck, "av-full-scan-journal");
        if (r < 0)
                return r;
        return av_journal_read(s);
}

static void av_journal_stop(AvSource *s) {
        Journal *jr = s->data;

        if (!jr)
                return;
        sd_event_source_disable_unref(jr->recheck);
        free(jr);
        s->data = NULL;
}

const AvSourceOps av_journal_ops = {
        .engine = "journal",
        .start = av_journal_start,
        .refresh = av_journal_read,
        .stop = av_journal_stop,
};
