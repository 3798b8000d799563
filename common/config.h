/* SPDX-License-Identifier: MIT */
#pragma once

/* libconfig -> Policy. Every problem is collected as "file:line: message";
 * a configuration with any error yields no Policy at all, so a bad file can
 * never replace a good one. */

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

typedef struct ConfigError {
        char *file;
        int line; /* 0 when the problem is the file as a whole */
        char *message;
} ConfigError;

typedef struct ConfigErrors {
        ConfigError *items;
        size_t n;
        size_t n_warnings; /* notes logged at load, not errors (e.g. any_serial) */
} ConfigErrors;

void config_errors_done(ConfigErrors *e);
void config_error(ConfigErrors *e, const char *file, int line, const char *format, ...) _printf_(4, 5);
/* Writes "file:line: message\n" for each error. */
void config_errors_print(const ConfigErrors *e, FILE *f);
/* One line summary: the first error and how many more. Newly allocated. */
char *config_errors_summary(const ConfigErrors *e);

/* What `mamorid --check-config` and `mamorictl check-config` say: every error
 * and "path: N errors; ... would not be loaded", or for a loaded policy the
 * "path: OK, ..." line and a note per any_serial entry. */
void config_errors_print_verdict(const ConfigErrors *e, const char *path, FILE *f);
void config_print_summary(const Policy *p, const char *path, FILE *f);

/* Whether two entries allow the same device (same model, same serial or both any_serial). */
bool allow_entry_same_device(const AllowEntry *a, const AllowEntry *b);
/* What a loaded policy deserves a note for, as "file:line: message" items:
 * an entry for a device another entry already allows (with both places), an
 * entry that has expired or expires within 30 days of now. */
void config_policy_notes(const Policy *p, usec_t now, ConfigErrors *notes);
/* What allow.d holds that is never read (not NAME.conf, or hidden), as
 * escaped "dir/name" paths: check-config lists them, mamorid logs them, so
 * that "10-new.conf.txt" is not silently without effect. allow_dir NULL: the
 * config's. Returns how many, or a negative errno (-ENOENT: no allow.d). */
int config_ignored_files(const char *config_path, const char *allow_dir, char ***ret);
/* Why one of them is ignored, for an admin. */
const char *config_ignored_why(const char *path);
/* "path: ignored: ...\n" for each; the same to the log. */
void config_print_ignored(const char *config_path, const char *allow_dir, FILE *f);
void config_log_ignored(const char *allow_dir);

/* The allow.d directory that belongs to a config file: "<dirname>/allow.d". */
char *config_allow_dir_for(const char *config_path);

/* Parses config_path and every allow_dir/NAME.conf (name order). On success
 * *ret holds the new Policy and 0 is returned; otherwise -EINVAL (or
 * -ENOENT when the main file is missing) and errors explain why. */
int config_load(const char *config_path, const char *allow_dir, Policy **ret, ConfigErrors *errors);

/* Like config_load but from memory, for tests and fuzzing. The allow text
 * (may be NULL) is parsed as if read from "allow.d/00-test.conf". */
/* Loads a policy from files already read: paths[0] is mamori.conf, the rest
 * its allow.d files, each text NUL-terminated (the last-good snapshot). */
int config_load_texts(char *const *paths, char *const *texts, const size_t *lens, size_t n, Policy **ret,
                      ConfigErrors *errors);
int config_load_strings(const char *main_text, const char *allow_text, Policy **ret, ConfigErrors *errors);

/* When the configuration is broken at start, its collector and spool
 * sections may still be sound: then the fail-closed policy uses them, so
 * that the central team hears about the broken configuration. Returns 1 when
 * a collector was taken over into p, 0 when nothing could be. */
int config_salvage_reporting(const char *config_path, Policy *p);
