/* SPDX-License-Identifier: MIT */
#pragma once

/* Logging: to the journal with structured fields when running under systemd,
 * to stderr otherwise. Every log_*_errno() returns the negative errno it was
 * given, so the place that handles an error can log and return in one line. */

#include <stddef.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
} LogTarget;

typedef struct LogField {
        const char *key;   /* upper case journal field name, e.g. "MAMORI_DEVICE" */
        const char *value; /* already sanitized text; NULL fields are skipped */
} LogField;

void log_open(LogTarget target);
void log_set_max_level(int level);
int log_get_max_level(void);
/* The program's name in every line (default "mamorid"); name must outlive the program. */
void log_set_identifier(const char *name);
int log_level_from_string(const char *s);
LogTarget log_get_target(void);

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...)
        _printf_(6, 7);

/* A log line with a MESSAGE_ID (see log-ids.h) and extra journal fields. */
int log_struct_internal(int level, int error, const char *message_id, const LogField *fields, size_t n_fields,
                        const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) log_internal(level, error, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_crit(...) log_full(LOG_CRIT, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_crit_errno(e, ...) log_full_errno(LOG_CRIT, e, __VA_ARGS__)
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

#define log_struct(level, message_id, fields, n_fields, ...) \
        (void) log_struct_internal(level, 0, message_id, fields, n_fields, __VA_ARGS__)
