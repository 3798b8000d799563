/* SPDX-License-Identifier: MIT */
#pragma once

/* inotify on one directory, for pattern sources: tells (after a short settle
 * time, so that an update that writes several files is one notice) that an
 * entry of interest was created, written, renamed, removed or touched (a
 * burst of changes that goes on is told every DIRWATCH_SETTLE_MAX). It
 * survives the directory itself: when it is missing, the nearest existing
 * parent is watched until it appears; when it is removed or replaced, the
 * watch follows. Nothing happens while nothing changes. */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "macro.h"
#include "timeutil.h"

typedef struct DirWatch DirWatch;

typedef void (*DirWatchHandler)(DirWatch *w, void *userdata);

/* However long the changes go on, a notice comes at most this long after the
 * first change of a burst (or after settle, if that is longer). */
#define DIRWATCH_SETTLE_MAX (3 * USEC_PER_SEC)

/* names: the entries that matter (NULL-terminated, copied), or NULL for any. */
int dirwatch_new(sd_event *event, const char *dir, const char *const *names, usec_t settle, DirWatchHandler handler,
                 void *userdata, DirWatch **ret);
DirWatch *dirwatch_free(DirWatch *w);
DEFINE_POINTER_CLEANUP(DirWatch, dirwatch_free);

/* Whether the directory itself is being watched (false: it does not exist yet). */
bool dirwatch_has_dir(DirWatch *w);
