/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "dirwatch.h"
#include "log.h"

#define DIR_MASK \
        (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | \
         IN_MOVE_SELF | IN_ONLYDIR)
#define PARENT_MASK (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct DirWatch {
        sd_event *event;
        char *dir;
        char **names;
        usec_t settle;
        DirWatchHandler handler;
        void *userdata;

        sd_event_source *watch; /* on dir, or on watched_path when dir is missing */
        char *watched_path;
        bool on_dir;
        sd_event_source *settle_timer;
        usec_t burst_start;       /* CLOCK_MONOTONIC of the first change not told yet; 0: none */
        sd_event_source *rewatch; /* defer: set the watch up again outside its own callback */
};

static int dirwatch_setup(DirWatch *w);

static bool dirwatch_name_matters(DirWatch *w, const char *name) {
        if (!w->names)
                return true;
        for (char **n = w->names; *n; n++)
                if (streq(*n, name))
                        return true;
        return false;
}

static int dirwatch_on_settled(sd_event_source *s, uint64_t usec, void *userdata) {
        DirWatch *w = userdata;
        w->burst_start = 0;
        w->handler(w, w->userdata);
        return 0;
}

static void dirwatch_changed(DirWatch *w) {
        usec_t now = now_usec(CLOCK_MONOTONIC), when = now + w->settle;
        int r;

        /* Each change pushes the notice back: one notice per burst. But not
         * past DIRWATCH_SETTLE_MAX after the burst began: whoever can write
         * to the directory without end (an update that never settles, the
         * engine's own user) must not put the notice off forever. */
        if (!w->burst_start)
                w->burst_start = now;
        when = MIN(when, w->burst_start + MAX(DIRWATCH_SETTLE_MAX, w->settle));
        if (w->settle_timer) {
                r = sd_event_source_set_time(w->settle_timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(w->settle_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(w->event, &w->settle_timer, CLOCK_MONOTONIC, when, 10 * USEC_PER_MSEC,
                                      dirwatch_on_settled, w);
        if (r < 0) {
                log_error_errno(r, "Cannot time a directory change of %s: %m", w->dir);
                w->burst_start = 0;
                w->handler(w, w->userdata);
        }
}

static int dirwatch_on_rewatch(sd_event_source *s, void *userdata) {
        DirWatch *w = userdata;
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        (void) dirwatch_setup(w);
        dirwatch_changed(w);
        return 0;
}

static void dirwatch_schedule_rewatch(DirWatch *w) {
        int r = 0;
        if (w->rewatch)
                r = sd_event_source_set_enabled(w->rewatch, SD_EVENT_ONESHOT);
        else
                r = sd_event_add_defer(w->event, &w->rewatch, dirwatch_on_rewatch, w);
        if (r < 0)
                log_error_errno(r, "Cannot follow %s: %m", w->dir);
}

/* w->dir below watched_path: is name its next component? */
static bool dirwatch_next_component_is(DirWatch *w, const char *name) {
        const char *rest = w->dir + strlen(w->watched_path ?: "");
        size_t n;
        rest += strspn(rest, "/");
        n = strcspn(rest, "/");
        return n > 0 && strlen(name) == n && strncmp(rest, name, n) == 0;
}

static int dirwatch_on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        DirWatch *w = userdata;

        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW)) {
                /* Gone or replaced (or events were lost): find it again. */
                dirwatch_schedule_rewatch(w);
                return 0;
        }
        if (!w->on_dir) {
                /* Watching a parent: did the next component of our path appear? */
                if (ev->len > 0 && dirwatch_next_component_is(w, ev->name))
                        dirwatch_schedule_rewatch(w);
                return 0;
        }
        if (ev->len == 0 || dirwatch_name_matters(w, ev->name))
                dirwatch_changed(w);
        return 0;
}

/* The longest existing prefix of dir (at least "/"). */
static char *dirwatch_existing_ancestor(const char *dir) {
        char *p = strdup(dir);
        struct stat st;
        if (!p)
                return NULL;
        for (;;) {
                char *slash;
                if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                        return p;
                slash = strrchr(p, '/');
                if (!slash || slash == p) {
                        strcpy(p, "/");
                        return p;
                }
                *slash = 0;
        }
}

static int dirwatch_setup(DirWatch *w) {
        _cleanup_free_ char *anc = NULL;
        int r;

        w->watch = sd_event_source_disable_unref(w->watch);
        w->on_dir = false;
        r = sd_event_add_inotify(w->event, &w->watch, w->dir, DIR_MASK, dirwatch_on_inotify, w);
        if (r >= 0) {
                w->on_dir = true;
                (void) free_and_strdup(&w->watched_path, w->dir);
                return 0;
        }
        if (r != -ENOENT && r != -ENOTDIR)
                return log_error_errno(r, "Cannot watch %s: %m", w->dir);
        /* Not there (yet): wait for it from the nearest parent that is. */
        anc = dirwatch_existing_ancestor(w->dir);
        if (!anc)
                return -ENOMEM;
        r = sd_event_add_inotify(w->event, &w->watch, anc, PARENT_MASK, dirwatch_on_inotify, w);
        if (r < 0)
                return log_error_errno(r, "Cannot watch %s for %s to appear: %m", anc, w->dir);
        /* It may have appeared between the two calls. */
        if (access(w->dir, F_OK) == 0)
                dirwatch_schedule_rewatch(w);
        (void) free_and_strdup(&w->watched_path, anc);
        return 0;
}

int dirwatch_new(sd_event *event, const char *dir, const char *const *names, usec_t settle, DirWatchHandler handler,
                 void *userdata, DirWatch **ret) {
        assert(event);
        assert(dir);
        assert(handler);
        assert(ret);
        _cleanup_(dirwatch_freep) DirWatch *w = calloc(1, sizeof *w);
        size_t n = 0;
        int r;

        if (!w)
                return -ENOMEM;
        w->event = sd_event_ref(event);
        w->settle = settle;
        w->handler = handler;
        w->userdata = userdata;
        w->dir = strdup(dir);
        if (!w->dir)
                return -ENOMEM;
        /* Trailing slashes would make parent lookups odd. */
        while (strlen(w->dir) > 1 && endswith(w->dir, "/"))
                w->dir[strlen(w->dir) - 1] = 0;
        if (names) {
                while (names[n])
                        n++;
                w->names = calloc(n + 1, sizeof(char *));
                if (!w->names)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        if (!(w->names[i] = strdup(names[i])))
                                return -ENOMEM;
        }
        r = dirwatch_setup(w);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}

DirWatch *dirwatch_free(DirWatch *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->watch);
        sd_event_source_disable_unref(w->settle_timer);
        sd_event_source_disable_unref(w->rewatch);
        sd_event_unref(w->event);
        for (char **n = w->names; n && *n; n++)
                free(*n);
        free(w->names);
        free(w->dir);
        free(w->watched_path);
        free(w);
        return NULL;
}

bool dirwatch_has_dir(DirWatch *w) {
        return w && w->on_dir;
}
