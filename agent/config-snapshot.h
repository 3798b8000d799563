/* SPDX-License-Identifier: MIT */
#pragma once

/* The last good configuration: every file of the last policy that loaded,
 * as it was read, kept in the state directory. When the files on disk are
 * refused at start (a typo left by a refused reload, found at the next
 * boot), mamorid enforces this policy, the one that was in force, instead of
 * failing closed: a typo never turns into a lock-out of every approved
 * device, and never weakens the policy either.
 *
 * Format (text headers, raw bytes after each, every blob followed by "\n"):
 *   mamori-last-good 1\n
 *   hash <sha256 of the policy>\n
 *   saved <usec since the epoch>\n
 *   allow_dir <len>\n<bytes>\n
 *   file <path len> <text len>\n<path>\n<text>\n     (mamori.conf first)
 * The hash is checked again by loading the files: a damaged snapshot is
 * refused as a whole. */

#include <stddef.h>

#include "config.h"
#include "timeutil.h"

#define CONFIG_SNAPSHOT_FILES_MAX 1024
#define CONFIG_SNAPSHOT_MAX (32u * 1024 * 1024)

typedef struct ConfigSnapshot {
        char hash[65];
        usec_t saved;
        char *allow_dir;
        char **paths, **texts;
        size_t *lens;
        size_t n;
} ConfigSnapshot;

void config_snapshot_done(ConfigSnapshot *s);

/* Pure: the snapshot of p (a policy that loaded from files), and back. */
int config_snapshot_format(const Policy *p, usec_t saved, char **ret, size_t *ret_len);
int config_snapshot_parse(const char *buf, size_t len, ConfigSnapshot *ret);

/* Writes p's snapshot to path atomically (a temporary file, fsync, rename). */
int config_snapshot_save(const Policy *p, const char *path);

/* Reads path (a trusted file: root's, mode 0600), parses it and loads its
 * files as a policy whose hash must be the one recorded. -ENOENT when there
 * is none; -EINVAL with *ret_why when it is unusable. */
int config_snapshot_load(const char *path, Policy **ret, usec_t *ret_saved, char **ret_why);
