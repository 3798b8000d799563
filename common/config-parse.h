/* SPDX-License-Identifier: MIT */
#pragma once

/* What every section parser of mamori.conf and allow.d uses (common/config-*.c):
 * the file being parsed, typed getters that report "file:line: message", and
 * the unknown-key check with its "did you mean" (common/config-hint.h).
 *
 * Each config_get_*() returns 1 when the key was set and valid, 0 when it is
 * absent (*ret untouched), or a negative errno after reporting the problem
 * (-ENOMEM is not reported: it stops the load). */

#include <stdbool.h>
#include <stddef.h>

#include <libconfig.h>

#include "config.h"

/* The bound on a policy file, and on a file a policy names (ca_file ...). */
#define CONFIG_FILE_MAX (4u * 1024u * 1024u)

typedef struct ConfigContext {
        ConfigErrors *errors;
        const char *file;   /* the name errors are reported on */
        Policy *policy;     /* what the sections fill in */
        int usb_block_line; /* usb.block was given, on this line (devices.block replaces it) */
} ConfigContext;

/* One policy file as read: text is NUL-terminated past len. */
typedef struct ConfigSource {
        char *path;
        char *text;
        size_t len;
} ConfigSource;

/* The line of a setting, 0 for none; of group's member key, or of group
 * itself when there is no such member. */
int config_setting_line(const config_setting_t *s);
int config_key_line(const config_setting_t *group, const char *key);

/* Reports every member of group whose name is not in allowed (NULL-terminated). */
void config_check_keys(ConfigContext *c, const config_setting_t *group, const char *const *allowed);
/* Reports "'key' must be WANT, not TYPE" on s; returns -EINVAL. */
int config_wrong_type(ConfigContext *c, const config_setting_t *s, const char *key, const char *want);

int config_get_string(ConfigContext *c, const config_setting_t *group, const char *key, char **ret);
int config_get_bool(ConfigContext *c, const config_setting_t *group, const char *key, bool *ret);
int config_get_int(ConfigContext *c, const config_setting_t *group, const char *key, long long min, long long max,
                   long long *ret);
/* An integer number of seconds in [min, max]. */
int config_get_seconds(ConfigContext *c, const config_setting_t *group, const char *key, long long min, long long max,
                       usec_t *ret);
/* A duration: an integer number of seconds, or a string with a unit ("500ms",
 * "30s", "15min", "2h"), in [min, max], or 0 when zero_ok. */
int config_get_duration(ConfigContext *c, const config_setting_t *group, const char *key, usec_t min, usec_t max,
                        bool zero_ok, usec_t *ret);
/* "policy_ref": a non-empty string. */
int config_get_policy_ref(ConfigContext *c, const config_setting_t *group, char **ret);
/* The same for another key naming a clause (antivirus.staff_policy_ref). */
int config_get_policy_ref_key(ConfigContext *c, const config_setting_t *group, const char *key, char **ret);
/* An absolute path without an empty name, "." or ".." component. */
bool config_path_ok(const char *p);
int config_get_path(ConfigContext *c, const config_setting_t *group, const char *key, char **ret);
/* A list of at most max non-empty strings, as a NULL-terminated vector. */
int config_get_strv(ConfigContext *c, const config_setting_t *group, const char *key, size_t max, char ***ret,
                    size_t *ret_n);
