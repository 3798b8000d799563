/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>

#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "log.h"
#include "string-table.h"
#include "text.h"

static LogTarget log_target = LOG_TARGET_STDERR;
static int log_max_level = LOG_INFO;
/* Which program speaks: stderr's "NAME[pid]" and the journal's SYSLOG_IDENTIFIER. */
static const char *log_identifier = "mamorid";

static const char *const log_level_table[] = {
        [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* Any case, as --log-level= and $MAMORI_LOG_LEVEL are typed by hand; "error" as a name people use for "err". */
int log_level_from_string(const char *s) {
        if (s && strcasecmp(s, "error") == 0)
                return LOG_ERR;
        return string_table_lookup_case(log_level_table, ELEMENTSOF(log_level_table), s);
}

void log_set_max_level(int level) {
        log_max_level = level;
}

void log_set_identifier(const char *name) {
        log_identifier = name;
}

int log_get_max_level(void) {
        return log_max_level;
}

LogTarget log_get_target(void) {
        return log_target;
}

void log_open(LogTarget target) {
        const char *e = getenv("MAMORI_LOG_TARGET");
        if (e) {
                if (streq(e, "journal"))
                        target = LOG_TARGET_JOURNAL;
                else if (streq(e, "stderr"))
                        target = LOG_TARGET_STDERR;
        }
        e = getenv("MAMORI_LOG_LEVEL");
        if (e && log_level_from_string(e) >= 0)
                log_max_level = log_level_from_string(e);

        if (target == LOG_TARGET_AUTO) {
                /* sd_journal_send() succeeds silently when journald is absent,
                 * so only pick the journal when systemd started us and the
                 * socket is really there. */
                bool under_systemd = getenv("JOURNAL_STREAM") || getenv("INVOCATION_ID");
                bool journal_up = access("/run/systemd/journal/socket", W_OK) == 0;
                target = under_systemd && journal_up ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
        }
        log_target = target;
}

/* A line cut at a buffer's end must not end inside a UTF-8 character: returns
 * the length to keep of the n bytes that fitted. */
static size_t log_utf8_clip(const char *s, size_t n) {
        size_t i = n, cont = 0, need;
        unsigned char c;

        while (i > 0 && cont < 3 && ((unsigned char) s[i - 1] & 0xc0) == 0x80) {
                i--;
                cont++;
        }
        if (i == 0)
                return n;
        c = (unsigned char) s[i - 1];
        need = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
        return need > cont + 1 ? i - 1 : n;
}

static void log_to_stderr(int level, const char *message_id, const LogField *fields, size_t n_fields, const char *msg) {
        char line[8192];
        size_t n = 0;
        int r;

        r = snprintf(line, sizeof line, "%s[%d] <%s> %s", log_identifier, (int) getpid(),
                     log_level_table[level & LOG_PRIMASK], msg);
        n = r < 0 ? 0 : MIN((size_t) r, sizeof line - 1);
        if (message_id && n < sizeof line - 1) {
                r = snprintf(line + n, sizeof line - n, " MESSAGE_ID=%s", message_id);
                n = r < 0 ? n : MIN(n + (size_t) r, sizeof line - 1);
        }
        for (size_t i = 0; i < n_fields && n < sizeof line - 1; i++) {
                if (!fields[i].value)
                        continue;
                r = snprintf(line + n, sizeof line - n, " %s=%s", fields[i].key, fields[i].value);
                n = r < 0 ? n : MIN(n + (size_t) r, sizeof line - 1);
        }
        if (n == sizeof line - 1)
                n = log_utf8_clip(line, n);
        line[n++] = '\n';
        /* One write() per line so concurrent writers do not interleave. */
        (void) !write(STDERR_FILENO, line, n);
}

static void log_dispatch(int level, int error, const char *file, int line, const char *func, const char *message_id,
                         const LogField *fields, size_t n_fields, const char *msg) {
        if (log_target == LOG_TARGET_STDERR) {
                log_to_stderr(level, message_id, fields, n_fields, msg);
                return;
        }

        /* MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, MESSAGE_ID, ERRNO, CODE_* and fields */
        size_t n_iov = 0, max = 8 + n_fields;
        struct iovec iov[max];
        char buf_msg[8192], buf_prio[32], buf_ident[64], buf_id[64], buf_errno[32], buf_file[512], buf_line[32],
                buf_func[256];
        char *field_bufs[n_fields + 1]; /* + 1: a VLA may not be empty */
        size_t n_alloc = 0;

#define ADD(buf, ...) \
        do { \
                int _r = snprintf(buf, sizeof buf, __VA_ARGS__); \
                if (_r > 0) \
                        iov[n_iov++] = (struct iovec){ buf, MIN((size_t) _r, sizeof buf - 1) }; \
        } while (0)

        ADD(buf_msg, "MESSAGE=%s", msg);
        ADD(buf_prio, "PRIORITY=%d", level & LOG_PRIMASK);
        ADD(buf_ident, "SYSLOG_IDENTIFIER=%s", log_identifier);
        if (message_id)
                ADD(buf_id, "MESSAGE_ID=%s", message_id);
        if (error != 0)
                ADD(buf_errno, "ERRNO=%d", abs(error));
        if (file) {
                ADD(buf_file, "CODE_FILE=%s", file);
                ADD(buf_line, "CODE_LINE=%d", line);
                ADD(buf_func, "CODE_FUNC=%s", func);
        }
#undef ADD
        for (size_t i = 0; i < n_fields; i++) {
                char *f;
                if (!fields[i].value)
                        continue;
                if (asprintf(&f, "%s=%s", fields[i].key, fields[i].value) < 0)
                        continue;
                field_bufs[n_alloc++] = f;
                iov[n_iov++] = (struct iovec){ f, strlen(f) };
        }
        if (sd_journal_sendv(iov, (int) n_iov) < 0)
                log_to_stderr(level, message_id, fields, n_fields, msg);
        for (size_t i = 0; i < n_alloc; i++)
                free(field_bufs[i]);
}

static int log_vformat(int level, int error, const char *file, int line, const char *func, const char *message_id,
                       const LogField *fields, size_t n_fields, const char *format, va_list ap) {
        char msg[4096];
        int saved = errno;

        if ((level & LOG_PRIMASK) > log_max_level)
                return -abs(error);

        /* Let %m print the error we were handed. */
        errno = abs(error);
        if ((size_t) vsnprintf(msg, sizeof msg, format, ap) >= sizeof msg)
                msg[log_utf8_clip(msg, sizeof msg - 1)] = 0;
        /* One line, nothing hidden, whatever a format's arguments held (device
         * strings come escaped already; an admin's label or a path may not). */
        if (!text_is_clean(msg, strlen(msg))) {
                char *clean = text_sanitize_flags(msg, strlen(msg), 4 * sizeof msg, TEXT_KEEP_BACKSLASH, NULL);
                log_dispatch(level & LOG_PRIMASK, error, file, line, func, message_id, fields, n_fields,
                             clean ? clean : "(a log message that could not be escaped: out of memory)");
                free(clean);
        } else
                log_dispatch(level & LOG_PRIMASK, error, file, line, func, message_id, fields, n_fields, msg);
        errno = saved;
        return -abs(error);
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...) {
        va_list ap;
        int r;

        assert(format);

        va_start(ap, format);
        r = log_vformat(level, error, file, line, func, NULL, NULL, 0, format, ap);
        va_end(ap);
        return r;
}

int log_struct_internal(int level, int error, const char *message_id, const LogField *fields, size_t n_fields,
                        const char *format, ...) {
        va_list ap;
        int r;

        assert(fields || n_fields == 0);
        assert(format);

        va_start(ap, format);
        r = log_vformat(level, error, NULL, 0, NULL, message_id, fields, n_fields, format, ap);
        va_end(ap);
        return r;
}
