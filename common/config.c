/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "config.h"
#include "config-hint.h"
#include "log.h"
#include "notice-config.h"
#include "text.h"
#include "trusted-file.h"

#define CONFIG_FILE_MAX (4u * 1024u * 1024u)

/* ---- errors ---- */

void config_errors_done(ConfigErrors *e) {
        for (size_t i = 0; i < e->n; i++) {
                free(e->items[i].file);
                free(e->items[i].message);
        }
        free(e->items);
        *e = (ConfigErrors){ 0 };
}

void config_error(ConfigErrors *e, const char *file, int line, const char *format, ...) {
        ConfigError *n;
        va_list ap;
        char *msg = NULL;

        va_start(ap, format);
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        va_end(ap);

        n = reallocarray(e->items, e->n + 1, sizeof *n);
        if (!n) {
                free(msg);
                return;
        }
        e->items = n;
        /* Whatever came from a file (names, values) is shown sanitized. */
        e->items[e->n++] = (ConfigError){
                .file = file ? text_sanitize(file, strlen(file), 4096, NULL) : NULL,
                .line = line,
                .message = msg ? text_sanitize(msg, strlen(msg), 4096, NULL) : NULL,
        };
        free(msg);
}

void config_errors_print(const ConfigErrors *e, FILE *f) {
        for (size_t i = 0; i < e->n; i++) {
                if (e->items[i].line > 0)
                        fprintf(f, "%s:%d: %s\n", strna(e->items[i].file), e->items[i].line,
                                strna(e->items[i].message));
                else
                        fprintf(f, "%s: %s\n", strna(e->items[i].file), strna(e->items[i].message));
        }
}

void config_errors_print_verdict(const ConfigErrors *e, const char *path, FILE *f) {
        config_errors_print(e, f);
        fprintf(f, "%s: %zu error%s; this configuration would not be loaded.\n", path, e->n, e->n == 1 ? "" : "s");
}

void config_print_summary(const Policy *p, const char *path, FILE *f) {
        fprintf(f, "%s: OK, %zu allow entr%s from %zu file%s, policy hash %s\n", path, p->usb.n_entries,
                p->usb.n_entries == 1 ? "y" : "ies", p->n_files, p->n_files == 1 ? "" : "s", p->hash);
        for (size_t i = 0; i < p->usb.n_entries; i++) {
                const AllowEntry *a = &p->usb.entries[i];
                if (a->any_serial)
                        fprintf(f, "%s:%u: note: any_serial = true allows every %04x:%04x device\n", a->file, a->line,
                                a->vendor, a->product);
        }
        ConfigErrors notes = { 0 };
        config_policy_notes(p, now_usec(CLOCK_REALTIME), &notes);
        for (size_t i = 0; i < notes.n; i++)
                fprintf(f, "%s:%d: note: %s\n", strna(notes.items[i].file), notes.items[i].line,
                        strna(notes.items[i].message));
        config_errors_done(&notes);
}

char *config_errors_summary(const ConfigErrors *e) {
        char *s = NULL;
        int r;
        if (e->n == 0)
                return strdup("no error");
        if (e->items[0].line > 0)
                r = asprintf(&s, "%s:%d: %s%s", strna(e->items[0].file), e->items[0].line,
                             strna(e->items[0].message), e->n > 1 ? " (and more)" : "");
        else
                r = asprintf(&s, "%s: %s%s", strna(e->items[0].file), strna(e->items[0].message),
                             e->n > 1 ? " (and more)" : "");
        return r < 0 ? NULL : s;
}

char *config_allow_dir_for(const char *config_path) {
        _cleanup_free_ char *copy = strdup(config_path);
        char *r;
        if (!copy)
                return NULL;
        if (asprintf(&r, "%s/allow.d", dirname(copy)) < 0)
                return NULL;
        return r;
}

/* ---- typed getters ---- */

int config_setting_line(const config_setting_t *s) {
        return s ? (int) config_setting_source_line(s) : 0;
}

static const char *type_name(int t) {
        switch (t) {
        case CONFIG_TYPE_GROUP: return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: return "an integer";
        case CONFIG_TYPE_FLOAT: return "a number";
        case CONFIG_TYPE_STRING: return "a string";
        case CONFIG_TYPE_BOOL: return "a boolean";
        case CONFIG_TYPE_ARRAY: return "an array";
        case CONFIG_TYPE_LIST: return "a list";
        default: return "something else";
        }
}

void config_check_keys(ConfigContext *c, const config_setting_t *group, const char *const *allowed) {
        int n = config_setting_length(group);
        for (int i = 0; i < n; i++) {
                config_setting_t *s = config_setting_get_elem(group, (unsigned) i);
                const char *name = config_setting_name(s);
                bool ok = false;
                if (!name)
                        continue;
                for (const char *const *a = allowed; *a; a++)
                        if (streq(*a, name)) {
                                ok = true;
                                break;
                        }
                if (!ok) {
                        const char *parent = config_setting_name(group);
                        const char *near = config_hint_key(name, allowed);
                        config_error(c->errors, c->file, config_setting_line(s),
                                     "unknown key '%s'%s%s%s%s%s", name, parent ? " in " : "",
                                     parent ? parent : "", near ? ": did you mean '" : "", strempty(near),
                                     near ? "'?" : "");
                }
        }
}

static int wrong_type(ConfigContext *c, const config_setting_t *s, const char *key, const char *want) {
        config_error(c->errors, c->file, config_setting_line(s), "'%s' must be %s, not %s", key, want,
                     type_name(config_setting_type(s)));
        return -EINVAL;
}

int config_get_string(ConfigContext *c, const config_setting_t *group, const char *key, char **ret) {
        config_setting_t *s = config_setting_get_member(group, key);
        const char *v;
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return wrong_type(c, s, key, "a string");
        v = config_setting_get_string(s);
        if (!v) /* not for a string setting: a NULL here would read as "unset" to the caller */
                return wrong_type(c, s, key, "a string");
        if (free_and_strdup(ret, v) < 0)
                return -ENOMEM;
        return 1;
}

int config_get_bool(ConfigContext *c, const config_setting_t *group, const char *key, bool *ret) {
        config_setting_t *s = config_setting_get_member(group, key);
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return wrong_type(c, s, key, "true or false");
        *ret = config_setting_get_bool(s);
        return 1;
}

int config_get_int(ConfigContext *c, const config_setting_t *group, const char *key, long long min,
                   long long max, long long *ret) {
        config_setting_t *s = config_setting_get_member(group, key);
        long long v;
        if (!s)
                return 0;
        if (config_setting_type(s) == CONFIG_TYPE_INT)
                v = config_setting_get_int(s);
        else if (config_setting_type(s) == CONFIG_TYPE_INT64)
                v = config_setting_get_int64(s);
        else
                return wrong_type(c, s, key, "an integer");
        if (v < min || v > max) {
                config_error(c->errors, c->file, config_setting_line(s),
                             "'%s' must be between %lld and %lld, not %lld", key, min, max, v);
                return -ERANGE;
        }
        *ret = v;
        return 1;
}

/* ---- reading files ---- */

typedef struct Source {
        char *path;
        char *text;
        size_t len;
} Source;

static void source_done(Source *s) {
        free(s->path);
        free(s->text);
}

/* A policy file that someone other than root can change is a way around the
 * policy: every file is read through common/trusted-file.c (root's, writable by
 * nobody else, no link, no FIFO, bounded), and so is the directory that holds
 * it. Problems are reported on the file (or the directory) as a whole. */
static int read_source_at(ConfigErrors *errors, int dir_fd, const char *path, const char *name, Source *ret) {
        _cleanup_free_ char *why = NULL;
        int r;

        r = trust_read_at(dir_fd, name, CONFIG_FILE_MAX, 0, &ret->text, &ret->len, &why);
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                config_error(errors, path, 0, "%s", strna(why));
                return r;
        }
        ret->path = strdup(path);
        if (!ret->path) {
                ret->text = mfree(ret->text);
                return -ENOMEM;
        }
        return 0;
}

/* Opens a directory of policy files; reports a problem on it, but for
 * -ENOENT (the caller knows what a missing directory means). */
static int open_source_dir(ConfigErrors *errors, const char *dir) {
        _cleanup_free_ char *why = NULL;
        int fd = trust_open_dir(dir, &why);

        if (fd < 0 && fd != -ENOMEM && fd != -ENOENT)
                config_error(errors, dir, 0, "%s", strna(why));
        return fd;
}

static int read_source(ConfigErrors *errors, const char *path, Source *ret) {
        _cleanup_free_ char *d = strdup(path), *b = strdup(path);
        _cleanup_close_ int dfd = -EBADF;

        if (!d || !b)
                return -ENOMEM;
        dfd = open_source_dir(errors, dirname(d));
        if (dfd == -ENOENT) {
                config_error(errors, path, 0, "cannot open: %s", strerror(ENOENT));
                return -ENOENT;
        }
        if (dfd < 0)
                return dfd;
        return read_source_at(errors, dfd, path, basename(b), ret);
}

/* libconfig would follow @include to files nobody checked or hashed, and
 * would stop reading at a NUL byte: what follows it would silently count for
 * nothing (it is still hashed), so such a file is refused where the NUL is. */
static int refuse_include(ConfigErrors *errors, const Source *s) {
        const char *nul = memchr(s->text, 0, s->len);
        int line = 1;

        if (nul) {
                const char *bol = s->text;
                for (const char *p = s->text; p < nul; p++)
                        if (*p == '\n') {
                                line++;
                                bol = p + 1;
                        }
                config_error(errors, s->path, line, "contains a NUL byte (column %zu): a configuration file is text",
                             (size_t) (nul - bol) + 1);
                return -EINVAL;
        }
        for (const char *p = s->text; p < s->text + s->len; p++) {
                const char *q = p;
                while (q < s->text + s->len && (*q == ' ' || *q == '\t'))
                        q++;
                if (startswith(q, "@include")) {
                        config_error(errors, s->path, line,
                                     "@include is not supported: put allow entries in allow.d/");
                        return -EINVAL;
                }
                p = memchr(p, '\n', (size_t) (s->text + s->len - p));
                if (!p)
                        break;
                line++;
        }
        return 0;
}

static int parse_source(ConfigErrors *errors, const Source *s, config_t *cfg) {
        config_init(cfg);
        if (refuse_include(errors, s) < 0)
                return -EINVAL;
        if (config_read_string(cfg, s->text) != CONFIG_TRUE) {
                const char *t = config_error_text(cfg);
                _cleanup_(config_syntax_hint_done) ConfigSyntaxHint h = { 0 };
                /* libconfig's text is mostly just "syntax error", and its line
                 * one past the end when the file ends early: say more. */
                if (config_hint_syntax(s->text, s->len, config_error_line(cfg), &h) < 0)
                        return -ENOMEM;
                config_error(errors, s->path, h.line, "%s%s%s%s%s%s%s", t && startswith(t, "syntax error") ? "" : "syntax error: ",
                             t ? t : "?", h.hint ? " (" : "", strempty(h.hint), h.hint ? ")" : "",
                             h.line_text ? "; the line reads: " : "", strempty(h.line_text));
                return -EINVAL;
        }
        return 0;
}

/* ---- the usb section ---- */

/* usb.drivers = { storage = [ "name", ... ]; tethering = [ ... ]; ... }: drivers
 * (or modules) that make an interface of that category, added to the built-in
 * table of agent/usb-drivers.c. */
static int parse_usb_drivers(ConfigContext *c, const config_setting_t *drivers) {
        static const char *const keys[] = { "storage", "mtp", "ptp", "tethering", NULL };
        UsbPolicy *u = &c->policy->usb;

        if (config_setting_type(drivers) != CONFIG_TYPE_GROUP)
                return wrong_type(c, drivers, "drivers", "a group: drivers = { storage = [ \"name\" ]; };");
        config_check_keys(c, drivers, keys);
        for (const char *const *k = keys; *k; k++) {
                config_setting_t *list = config_setting_get_member(drivers, *k);
                int t, n;
                if (!list)
                        continue;
                t = config_setting_type(list);
                if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
                        (void) wrong_type(c, list, *k, "an array of driver names, e.g. [ \"rtsx_usb\" ]");
                        continue;
                }
                n = config_setting_length(list);
                for (int i = 0; i < n; i++) {
                        config_setting_t *e = config_setting_get_elem(list, (unsigned) i);
                        const char *v = config_setting_get_string(e);
                        int line = config_setting_line(e) ?: config_setting_line(list);
                        UsbDriverEntry *grown;
                        if (!usb_driver_name_valid(v)) {
                                config_error(c->errors, c->file, line,
                                             "'%s' in drivers.%s is not a driver name (letters, digits, '_' and "
                                             "'-', at most %d)",
                                             v ? v : "(not a string)", *k, USB_DRIVER_NAME_MAX);
                                continue;
                        }
                        for (size_t j = 0; j < u->n_drivers; j++)
                                if (usb_driver_name_equal(u->drivers[j].name, v)) {
                                        config_error(c->errors, c->file, line, "driver '%s' is listed twice in drivers", v);
                                        v = NULL;
                                        break;
                                }
                        if (!v)
                                continue;
                        grown = reallocarray(u->drivers, u->n_drivers + 1, sizeof *grown);
                        if (!grown)
                                return -ENOMEM;
                        u->drivers = grown;
                        grown[u->n_drivers].name = strdup(v);
                        if (!grown[u->n_drivers].name)
                                return -ENOMEM;
                        grown[u->n_drivers++].category = (UsbCategory) usb_category_from_string(*k);
                }
        }
        return 0;
}

static int config_get_duration(ConfigContext *c, const config_setting_t *group, const char *key, usec_t min,
                               usec_t max, bool zero_ok, usec_t *ret);

static int parse_usb(ConfigContext *c, const config_setting_t *usb) {
        static const char *const keys[] = { "block", "policy_ref", "drivers", "repeat_window", "expiry_warning", NULL };
        config_setting_t *block;
        int r;

        if (config_setting_type(usb) != CONFIG_TYPE_GROUP)
                return wrong_type(c, usb, "usb", "a group: usb = { ... };");
        config_check_keys(c, usb, keys);

        r = config_get_string(c, usb, "policy_ref", &c->policy->usb.policy_ref);
        if (r == -ENOMEM)
                return r;
        if (r > 0 && isempty(c->policy->usb.policy_ref))
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(usb, "policy_ref")),
                             "'policy_ref' must not be empty");

        block = config_setting_get_member(usb, "block");
        if (block) {
                int t = config_setting_type(block), n;
                unsigned mask = 0;
                if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
                        return wrong_type(c, block, "block", "an array of categories, e.g. [ \"storage\", \"mtp\" ]");
                n = config_setting_length(block);
                for (int i = 0; i < n; i++) {
                        config_setting_t *e = config_setting_get_elem(block, (unsigned) i);
                        const char *v = config_setting_get_string(e);
                        int cat = usb_category_from_string(v);
                        if (!v || cat <= USB_CATEGORY_OTHER) {
                                config_error(c->errors, c->file, config_setting_line(e) ?: config_setting_line(block),
                                             "unknown category '%s' in block: use storage, mtp, ptp or tethering",
                                             v ? v : "(not a string)");
                                continue;
                        }
                        if (mask & USB_CATEGORY_BIT(cat))
                                config_error(c->errors, c->file, config_setting_line(block),
                                             "category '%s' is listed twice in block", v);
                        mask |= USB_CATEGORY_BIT(cat);
                }
                c->policy->usb.block_mask = mask;
        }
        block = config_setting_get_member(usb, "drivers");
        if (block) {
                r = parse_usb_drivers(c, block);
                if (r == -ENOMEM)
                        return r;
        }
        /* Blocks of one device within this long of each other are one record
         * (common/usb-repeat.h); 0 turns that off. */
        (void) config_get_duration(c, usb, "repeat_window", USEC_PER_SEC, 3600 * USEC_PER_SEC, true,
                                   &c->policy->usb.repeat_window);
        /* The person at the seat is told this long before a plugged
         * device's approval ends; 0 turns that off. */
        (void) config_get_duration(c, usb, "expiry_warning", USEC_PER_SEC, 7 * 24 * 3600 * USEC_PER_SEC, true,
                                   &c->policy->usb.expiry_warning);
        return 0;
}

/* ---- lock and antivirus sections ---- */

static int line_of(const config_setting_t *group, const char *key) {
        config_setting_t *s = config_setting_get_member(group, key);
        return config_setting_line(s ?: group);
}

static int get_seconds(ConfigContext *c, const config_setting_t *g, const char *key, long long min, long long max,
                       usec_t *ret) {
        long long v;
        int r = config_get_int(c, g, key, min, max, &v);
        if (r > 0)
                *ret = (usec_t) v * USEC_PER_SEC;
        return r;
}

static int get_policy_ref(ConfigContext *c, const config_setting_t *g, char **ref) {
        int r = config_get_string(c, g, "policy_ref", ref);
        if (r > 0 && isempty(*ref)) {
                config_error(c->errors, c->file, line_of(g, "policy_ref"), "'policy_ref' must not be empty");
                return -EINVAL;
        }
        return r;
}

/* An absolute, normalised-enough path: no empty name, no "." or ".." component. */
static bool path_ok(const char *p) {
        if (!p || p[0] != '/' || strlen(p) >= 4096)
                return false;
        for (const char *s = p; *s;) {
                size_t n;
                s += strspn(s, "/");
                n = strcspn(s, "/");
                if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                s += n;
        }
        return true;
}

static int get_path(ConfigContext *c, const config_setting_t *g, const char *key, char **ret) {
        int r = config_get_string(c, g, key, ret);
        if (r > 0 && !path_ok(*ret)) {
                config_error(c->errors, c->file, line_of(g, key),
                             "'%s' must be an absolute path without '.' or '..', not '%s'", key, *ret);
                return -EINVAL;
        }
        return r;
}

/* A list of non-empty strings. */
static int get_strv(ConfigContext *c, const config_setting_t *g, const char *key, size_t max, char ***ret,
                    size_t *ret_n) {
        config_setting_t *s = config_setting_get_member(g, key);
        char **v;
        int n, t;

        if (!s)
                return 0;
        t = config_setting_type(s);
        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
                return wrong_type(c, s, key, "a list of strings, e.g. [ \"a\", \"b\" ]");
        n = config_setting_length(s);
        if ((size_t) n > max) {
                config_error(c->errors, c->file, config_setting_line(s), "'%s' has %d items, at most %zu are allowed",
                             key, n, max);
                return -EINVAL;
        }
        v = calloc((size_t) n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                const char *str = config_setting_get_string(e);
                if (isempty(str)) {
                        config_error(c->errors, c->file, config_setting_line(e) ?: config_setting_line(s),
                                     "'%s' must hold non-empty strings only (item %d)", key, i + 1);
                        for (int k = 0; k < i; k++)
                                free(v[k]);
                        free(v);
                        return -EINVAL;
                }
                v[i] = strdup(str);
                if (!v[i]) {
                        for (int k = 0; k < i; k++)
                                free(v[k]);
                        free(v);
                        return -ENOMEM;
                }
        }
        *ret = v;
        *ret_n = (size_t) n;
        return 1;
}

static bool unit_name_ok(const char *u) {
        size_t l = strlen(u);
        return l > 0 && l < 256 && u[0] != '.' && u[0] != '-' &&
               strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@") == l;
}

static int parse_tty(ConfigContext *c, const config_setting_t *lock, bool *ret_explicit_timeout) {
        static const char *const keys[] = { "action", "idle_timeout", NULL };
        config_setting_t *s = config_setting_get_member(lock, "tty");
        _cleanup_free_ char *action = NULL;
        int r, a;

        *ret_explicit_timeout = false;
        if (!s)
                return 0;
        if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                r = config_get_string(c, lock, "tty", &action);
        } else if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
                config_check_keys(c, s, keys);
                r = get_seconds(c, s, "idle_timeout", 1, 7 * 86400, &c->policy->lock.tty_idle_timeout);
                if (r < 0)
                        return r;
                *ret_explicit_timeout = r > 0;
                r = config_get_string(c, s, "action", &action);
                if (r == 0) {
                        config_error(c->errors, c->file, config_setting_line(s),
                                     "'tty' has no 'action': write action = \"ignore\", \"report\" or \"terminate\"");
                        return -EINVAL;
                }
        } else
                return wrong_type(c, s, "tty", "\"ignore\", \"report\", \"terminate\" or a group { action = ...; idle_timeout = ...; }");
        if (r < 0)
                return r;
        a = lock_tty_action_from_string(action);
        if (a < 0) {
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(s, "action") ?: s),
                             "unknown tty action '%s': use ignore, report or terminate", action);
                return -EINVAL;
        }
        c->policy->lock.tty = (LockTtyAction) a;
        return 1;
}

static int parse_lock(ConfigContext *c, const config_setting_t *lock) {
        static const char *const keys[] = { "idle_timeout", "verify_timeout", "tty", "policy_ref", NULL };
        LockPolicy *l = &c->policy->lock;
        bool explicit_tty_timeout = false;
        int r, bad = 0;

        if (config_setting_type(lock) != CONFIG_TYPE_GROUP)
                return wrong_type(c, lock, "lock", "a group: lock = { ... };");
        config_check_keys(c, lock, keys);
        bad |= get_seconds(c, lock, "idle_timeout", 1, 86400, &l->idle_timeout) < 0;
        bad |= get_seconds(c, lock, "verify_timeout", 1, 600, &l->verify_timeout) < 0;
        r = parse_tty(c, lock, &explicit_tty_timeout);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        r = get_policy_ref(c, lock, &l->policy_ref);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (!bad && explicit_tty_timeout && l->tty_idle_timeout < l->idle_timeout) {
                config_error(c->errors, c->file, line_of(config_setting_get_member(lock, "tty"), "idle_timeout"),
                             "tty idle_timeout (%llu s) is shorter than lock.idle_timeout (%llu s): a tty session would be ended before a screen is locked",
                             (unsigned long long) (l->tty_idle_timeout / USEC_PER_SEC),
                             (unsigned long long) (l->idle_timeout / USEC_PER_SEC));
                bad = 1;
        }
        return bad ? -EINVAL : 0;
}

static int parse_antivirus(ConfigContext *c, const config_setting_t *av) {
        static const char *const keys[] = { "engine", "database_dir", "max_age_hours", "units", "policy_ref",
                                            "pattern_file", "command", "command_output", "command_timeout", NULL };
        AvPolicy *a = &c->policy->av;
        _cleanup_free_ char *engine = NULL, *output = NULL;
        long long hours;
        int r, bad = 0;

        if (config_setting_type(av) != CONFIG_TYPE_GROUP)
                return wrong_type(c, av, "antivirus", "a group: antivirus = { ... };");
        config_check_keys(c, av, keys);

        r = config_get_string(c, av, "engine", &engine);
        if (r == -ENOMEM)
                return r;
        if (r > 0) {
                int e = av_engine_from_string(engine);
                if (e < 0) {
                        config_error(c->errors, c->file, line_of(av, "engine"),
                                     "unknown engine '%s': use clamav, generic or none", engine);
                        bad = 1;
                } else
                        a->engine = (AvEngine) e;
        } else
                bad |= r < 0;

        r = get_path(c, av, "database_dir", &a->database_dir);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        r = config_get_int(c, av, "max_age_hours", 1, 24 * 366, &hours);
        bad |= r < 0;
        if (r > 0)
                a->max_age_hours = (unsigned) hours;

        r = get_strv(c, av, "units", 32, &a->units, &a->n_units);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        for (size_t i = 0; i < a->n_units; i++) {
                if (!unit_name_ok(a->units[i])) {
                        config_error(c->errors, c->file, line_of(av, "units"), "'%s' is not a valid systemd unit name",
                                     a->units[i]);
                        bad = 1;
                } else if (!strchr(a->units[i], '.')) {
                        char *n;
                        if (asprintf(&n, "%s.service", a->units[i]) < 0)
                                return -ENOMEM;
                        free(a->units[i]);
                        a->units[i] = n;
                }
        }

        r = get_path(c, av, "pattern_file", &a->pattern_file);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        r = get_strv(c, av, "command", 64, &a->command, &a->n_command);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (r > 0 && a->n_command == 0) {
                config_error(c->errors, c->file, line_of(av, "command"), "'command' is empty");
                bad = 1;
        } else if (r > 0 && !path_ok(a->command[0])) {
                config_error(c->errors, c->file, line_of(av, "command"),
                             "'command' must start with an absolute path (no shell, no PATH search), not '%s'",
                             a->command[0]);
                bad = 1;
        } else if (r > 0) {
                /* It runs as root: only root may be able to change it (common/trusted-file.h).
                 * One that is not there (yet) is reported when it is run: command_not_found. */
                _cleanup_free_ char *why = NULL;
                int t = trust_check_executable(a->command[0], &why);
                if (t == -ENOMEM || (t < 0 && !why && t != -ENOENT && t != -ENOTDIR))
                        return -ENOMEM;
                if (t < 0 && why) {
                        config_error(c->errors, c->file, line_of(av, "command"),
                                     "'command' %s is not trusted to run as root: %s", a->command[0], why);
                        bad = 1;
                }
        }
        r = config_get_string(c, av, "command_output", &output);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (r > 0) {
                int o = av_command_output_from_string(output);
                if (o < 0) {
                        config_error(c->errors, c->file, line_of(av, "command_output"),
                                     "unknown command_output '%s': use date, epoch or minutes_ago", output);
                        bad = 1;
                } else
                        a->command_output = (AvCommandOutput) o;
        }
        bad |= get_seconds(c, av, "command_timeout", 1, 600, &a->command_timeout) < 0;

        r = get_policy_ref(c, av, &a->policy_ref);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (bad)
                return -EINVAL;

        /* What each engine needs, and nothing another engine uses. */
        if (a->engine == AV_ENGINE_GENERIC && !!a->pattern_file == !!a->command) {
                config_error(c->errors, c->file, config_setting_line(av),
                             "engine \"generic\" needs exactly one of 'pattern_file' (its mtime is the pattern date) or 'command' (prints the date)");
                return -EINVAL;
        }
        if (a->engine != AV_ENGINE_GENERIC) {
                static const char *const generic_only[] = { "pattern_file", "command", "command_output",
                                                            "command_timeout", NULL };
                for (const char *const *k = generic_only; *k; k++)
                        if (config_setting_get_member(av, *k)) {
                                config_error(c->errors, c->file, line_of(av, *k),
                                             "'%s' is only used with engine = \"generic\"", *k);
                                bad = 1;
                        }
        }
        if (a->engine == AV_ENGINE_GENERIC && a->pattern_file && config_setting_get_member(av, "command_output")) {
                config_error(c->errors, c->file, line_of(av, "command_output"),
                             "'command_output' is only used with 'command'");
                bad = 1;
        }
        return bad ? -EINVAL : 0;
}

/* ---- collector and spool (agent/report/uplink.c, agent/report/spool.c) ---- */

/* A duration: an integer number of seconds, or a string with a unit
 * ("500ms", "30s", "15min", "2h"). */
static int config_get_duration(ConfigContext *c, const config_setting_t *group, const char *key, usec_t min,
                               usec_t max, bool zero_ok, usec_t *ret) {
        config_setting_t *s = config_setting_get_member(group, key);
        static const struct { const char *suffix; usec_t mult; } units[] = {
                { "ms", USEC_PER_MSEC }, { "s", USEC_PER_SEC }, { "sec", USEC_PER_SEC }, { "min", 60 * USEC_PER_SEC },
                { "m", 60 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC },
        };
        long long n = -1;
        usec_t v = 0;

        if (!s)
                return 0;
        if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64) {
                n = config_setting_get_int64(s);
                if (n >= 0 && (unsigned long long) n < UINT64_MAX / USEC_PER_SEC)
                        v = (usec_t) n * USEC_PER_SEC;
        } else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                const char *t = config_setting_get_string(s);
                char *end = NULL;
                errno = 0;
                n = strtoll(t, &end, 10);
                if (errno || end == t || n < 0 || !(t[0] >= '0' && t[0] <= '9'))
                        n = -1;
                else {
                        bool found = false;
                        for (size_t i = 0; i < ELEMENTSOF(units) && !found; i++)
                                if (streq(end, units[i].suffix)) {
                                        found = true;
                                        if ((unsigned long long) n < UINT64_MAX / units[i].mult)
                                                v = (usec_t) n * units[i].mult;
                                        else
                                                n = -1;
                                }
                        if (!found)
                                n = -1;
                }
        }
        if (n < 0) {
                config_error(c->errors, c->file, config_setting_line(s),
                             "'%s' must be a duration: a number of seconds, or a string such as \"30s\", \"15min\" or \"1h\"",
                             key);
                return -EINVAL;
        }
        if ((v == 0 && zero_ok) || (v >= min && v <= max)) {
                *ret = v;
                return 1;
        }
        config_error(c->errors, c->file, config_setting_line(s), "'%s' must be between %llus and %llus%s", key,
                     (unsigned long long) (min / USEC_PER_SEC), (unsigned long long) (max / USEC_PER_SEC),
                     zero_ok ? " (or 0 for never)" : "");
        return -ERANGE;
}

/* The collector's files are trusted as the policy is (common/trusted-file.c):
 * root's, writable by nobody else, no link, in a directory of root's; a
 * secret is also readable by root only. agent/report/uplink.c reads them again,
 * the same way, when it uses them. */
static int check_file_key(ConfigContext *c, const config_setting_t *group, const char *key, const char *path,
                          bool secret) {
        int line = config_setting_line(config_setting_get_member(group, key));
        _cleanup_free_ char *text = NULL, *why = NULL;
        size_t len = 0;
        int r;

        if (path[0] != '/') {
                config_error(c->errors, c->file, line, "'%s' must be an absolute path, not '%s'", key, path);
                return -EINVAL;
        }
        r = trust_read_file(path, CONFIG_FILE_MAX, secret ? TRUST_SECRET : 0, &text, &len, &why);
        if (text && secret)
                explicit_bzero(text, len);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* Not trusted, or not there at all. */
                if (r != -EPERM && r != -ELOOP && r != -EINVAL && r != -EFBIG)
                        config_error(c->errors, c->file, line, "cannot read %s '%s': %s", key, path, strna(why));
                else
                        config_error(c->errors, c->file, line, "%s '%s': %s", key, path, strna(why));
                return r;
        }
        return 0;
}

static bool pin_valid(const char *pin) {
        /* "sha256//BASE64[;sha256//BASE64...]" (curl's form), or a key file */
        const char *p = pin;
        if (pin[0] == '/')
                return true;
        while (*p) {
                size_t n;
                if (!startswith(p, "sha256//"))
                        return false;
                p += 8;
                n = strcspn(p, ";");
                if (n != 44 || strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") < n ||
                    p[43] != '=')
                        return false;
                p += n;
                if (*p == ';')
                        p++;
        }
        return p != pin;
}

static int check_url(ConfigContext *c, const config_setting_t *group, const char *url) {
        int line = config_setting_line(config_setting_get_member(group, "url"));
        CURLU *h;
        char *scheme = NULL, *host = NULL;
        bool ok;

        for (const char *p = url; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f) {
                        config_error(c->errors, c->file, line, "'url' contains a space or a control character");
                        return -EINVAL;
                }
        h = curl_url();
        if (!h)
                return -ENOMEM;
        ok = curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK && !isempty(host);
        if (!ok)
                config_error(c->errors, c->file, line, "'url' is not a valid URL: '%s'", url);
        else if (strcasecmp(scheme, "https") != 0) {
                config_error(c->errors, c->file, line,
                             "'url' must be an https:// URL (events are only ever sent over verified TLS), not '%s'", url);
                ok = false;
        }
        curl_free(scheme);
        curl_free(host);
        curl_url_cleanup(h);
        return ok ? 0 : -EINVAL;
}

/* The one proxy mamorid uses: http://host:port (or https://), a CONNECT
 * tunnel that TLS to the collector goes through end to end. The proxy
 * variables of the environment are never used (agent/report/uplink.c). */
static int check_proxy(ConfigContext *c, const config_setting_t *group, const char *proxy) {
        int line = config_setting_line(config_setting_get_member(group, "proxy"));
        char *scheme = NULL, *host = NULL, *path = NULL;
        CURLU *h;
        bool ok;

        for (const char *p = proxy; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f) {
                        config_error(c->errors, c->file, line, "'proxy' contains a space or a control character");
                        return -EINVAL;
                }
        h = curl_url();
        if (!h)
                return -ENOMEM;
        ok = curl_url_set(h, CURLUPART_URL, proxy, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK && !isempty(host) &&
             curl_url_get(h, CURLUPART_PATH, &path, 0) == CURLUE_OK && (isempty(path) || streq(path, "/")) &&
             (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0);
        if (!ok)
                config_error(c->errors, c->file, line,
                             "'proxy' must be the URL of an HTTP proxy such as \"http://proxy.example:8080\", not '%s'", proxy);
        curl_free(scheme);
        curl_free(host);
        curl_free(path);
        curl_url_cleanup(h);
        return ok ? 0 : -EINVAL;
}

static int parse_collector(ConfigContext *c, const config_setting_t *g) {
        static const char *const keys[] = { "url",     "ca_file",   "pin",         "client_cert",      "client_key",
                                            "token_file", "heartbeat_interval", "timeout", "gzip", "batch_max_events",
                                            "backoff_min", "backoff_max", "proxy", NULL };
        CollectorSettings *k = &c->policy->collector;
        struct { const char *key; char **dst; bool secret; } files[] = {
                { "ca_file", &k->ca_file, false },       { "client_cert", &k->client_cert, false },
                { "client_key", &k->client_key, true },  { "token_file", &k->token_file, true },
        };
        long long n;
        int r, line = config_setting_line(g);

        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
                return wrong_type(c, g, "collector", "a group: collector = { url = \"https://...\"; ... };");
        config_check_keys(c, g, keys);

        r = config_get_string(c, g, "url", &k->url);
        if (r == -ENOMEM)
                return r;
        if (r > 0 && check_url(c, g, k->url) == -ENOMEM)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                r = config_get_string(c, g, files[i].key, files[i].dst);
                if (r == -ENOMEM)
                        return r;
                if (r > 0 && check_file_key(c, g, files[i].key, *files[i].dst, files[i].secret) == -ENOMEM)
                        return -ENOMEM;
                if (r > 0 && !k->url)
                        config_error(c->errors, c->file, config_setting_line(config_setting_get_member(g, files[i].key)),
                                     "'%s' is set but 'url' is not: without a url nothing is sent", files[i].key);
        }
        r = config_get_string(c, g, "pin", &k->pin);
        if (r == -ENOMEM)
                return r;
        if (r > 0 && !pin_valid(k->pin))
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(g, "pin")),
                             "'pin' must be sha256// and the base64 SHA-256 of the collector's public key (several separated by ';'), or the path of the key file");
        else if (r > 0 && k->pin[0] == '/' && check_file_key(c, g, "pin", k->pin, false) == -ENOMEM)
                return -ENOMEM;
        r = config_get_string(c, g, "proxy", &k->proxy);
        if (r == -ENOMEM)
                return r;
        if (r > 0 && check_proxy(c, g, k->proxy) == -ENOMEM)
                return -ENOMEM;
        if (k->client_key && !k->client_cert)
                config_error(c->errors, c->file, line, "'client_key' is set but 'client_cert' is not");

        (void) config_get_duration(c, g, "heartbeat_interval", USEC_PER_SEC, 7 * 24 * 3600 * USEC_PER_SEC, true,
                                   &k->heartbeat_interval);
        (void) config_get_duration(c, g, "timeout", USEC_PER_SEC, 600 * USEC_PER_SEC, false, &k->timeout);
        (void) config_get_duration(c, g, "backoff_min", 100 * USEC_PER_MSEC, 3600 * USEC_PER_SEC, false, &k->backoff_min);
        (void) config_get_duration(c, g, "backoff_max", 100 * USEC_PER_MSEC, 24 * 3600 * USEC_PER_SEC, false,
                                   &k->backoff_max);
        if (k->backoff_max < k->backoff_min)
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(g, "backoff_max")) ?: line,
                             "'backoff_max' must not be shorter than 'backoff_min'");
        (void) config_get_bool(c, g, "gzip", &k->gzip);
        if (config_get_int(c, g, "batch_max_events", 1, 10000, &n) > 0)
                k->batch_max_events = (unsigned) n;
        return 0;
}

static int parse_spool(ConfigContext *c, const config_setting_t *g) {
        static const char *const keys[] = { "max_size_mb", NULL };
        long long n;

        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
                return wrong_type(c, g, "spool", "a group: spool = { max_size_mb = 64; };");
        config_check_keys(c, g, keys);
        if (config_get_int(c, g, "max_size_mb", 1, 65536, &n) > 0)
                c->policy->spool.max_bytes = (uint64_t) n * 1024 * 1024;
        return 0;
}

/* ---- allow entries ---- */

static int parse_id(ConfigContext *c, const config_setting_t *entry, const char *key, uint16_t *ret) {
        config_setting_t *s = config_setting_get_member(entry, key);
        const char *v;
        unsigned x = 0;

        if (!s) {
                config_error(c->errors, c->file, config_setting_line(entry), "allow entry has no '%s'", key);
                return -EINVAL;
        }
        v = config_setting_get_string(s);
        if (!v || strlen(v) != 4 || strspn(v, "0123456789abcdefABCDEF") != 4) {
                config_error(c->errors, c->file, config_setting_line(s),
                             "'%s' must be 4 hex digits in quotes, e.g. %s = \"0781\"", key, key);
                return -EINVAL;
        }
        sscanf(v, "%x", &x);
        *ret = (uint16_t) x;
        return 0;
}

static int parse_date_key(ConfigContext *c, const config_setting_t *entry, const char *key, char **ret,
                          int ymd[3]) {
        int r = config_get_string(c, entry, key, ret);
        if (r <= 0)
                return r;
        r = parse_date(*ret, &ymd[0], &ymd[1], &ymd[2]);
        if (r == -ERANGE) {
                char why[DATE_REASON_MAX];
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(entry, key)),
                             "'%s' is %s, a date that does not exist (%s)", key, *ret,
                             date_nonexistent_reason(why, *ret));
                return -EINVAL;
        }
        if (r < 0) {
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(entry, key)),
                             "'%s' must be a date written YYYY-MM-DD, not '%s'", key, *ret);
                return -EINVAL;
        }
        return 1;
}

/* expires: a date ("2027-03-31": allows through that local day) or, to the
 * second, an RFC 3339 date-time with its offset ("2027-03-31T17:00:00+09:00"). */
static int parse_expires(ConfigContext *c, const config_setting_t *entry, AllowEntry *e) {
        int r = config_get_string(c, entry, "expires", &e->expires);
        if (r <= 0)
                return r;
        r = parse_expiry(e->expires, &e->expires_at);
        if (r >= 0)
                return 1;
        if (r == -ERANGE) {
                char why[DATE_REASON_MAX];
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(entry, "expires")),
                             "'expires' is %s, whose date does not exist (%s)", e->expires,
                             date_nonexistent_reason(why, e->expires));
                return -EINVAL;
        }
        config_error(c->errors, c->file, config_setting_line(config_setting_get_member(entry, "expires")),
                     "'expires' must be a date written YYYY-MM-DD or an RFC 3339 date-time such as "
                     "2027-03-31T17:00:00+09:00, not '%s'", e->expires);
        return -EINVAL;
}

static int unhex(char h) {
        return h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10;
}

/* serial_hex: the serial's exact bytes in hex, as a usb.* event's serial_hex
 * shows them (a serial with bytes that events show escaped). At most 512
 * bytes, as in events; a 00 byte is refused, since no USB serial holds one. */
static int parse_serial_hex(ConfigContext *c, const config_setting_t *entry, AllowEntry *e) {
        _cleanup_free_ char *hex = NULL;
        int line, r = config_get_string(c, entry, "serial_hex", &hex);
        size_t n;

        if (r <= 0)
                return r;
        line = config_setting_line(config_setting_get_member(entry, "serial_hex"));
        n = strlen(hex);
        if (n == 0 || n % 2 != 0 || n > 2 * 512 || strspn(hex, "0123456789abcdefABCDEF") != n) {
                config_error(c->errors, c->file, line,
                             "'serial_hex' must be an even number of hex digits (at most 1024), as the event's serial_hex shows them");
                return -EINVAL;
        }
        e->serial = malloc(n / 2 + 1);
        if (!e->serial)
                return -ENOMEM;
        for (size_t i = 0; i < n / 2; i++)
                e->serial[i] = (char) (unhex(hex[2 * i]) << 4 | unhex(hex[2 * i + 1]));
        e->serial[n / 2] = 0;
        e->serial_len = n / 2;
        if (memchr(e->serial, 0, e->serial_len)) {
                config_error(c->errors, c->file, line, "'serial_hex' holds a 00 byte, which no USB serial can");
                return -EINVAL;
        }
        return 1;
}

static int parse_entry(ConfigContext *c, const config_setting_t *s, AllowEntry *e) {
        static const char *const keys[] = { "vendor",      "product",     "serial",  "serial_hex", "any_serial",
                                            "label",       "approved_by", "approved_on", "expires", "ticket", NULL };
        int line = config_setting_line(s), r, bad = 0;
        int on[3] = { 0 };
        bool any = false;

        e->line = (unsigned) line;
        e->expires_at = USEC_INFINITY;
        e->file = strdup(c->file);
        if (!e->file)
                return -ENOMEM;

        if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
                config_error(c->errors, c->file, line, "each allow entry must be a group: { vendor = \"...\"; ... }");
                return -EINVAL;
        }
        config_check_keys(c, s, keys);
        bad |= parse_id(c, s, "vendor", &e->vendor) < 0;
        bad |= parse_id(c, s, "product", &e->product) < 0;

        r = config_get_bool(c, s, "any_serial", &any);
        bad |= r < 0;
        e->any_serial = any;
        r = config_get_string(c, s, "serial", &e->serial);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (r > 0) {
                e->serial_len = strlen(e->serial);
                if (e->serial_len == 0) {
                        config_error(c->errors, c->file, line, "'serial' is empty: a device without a serial needs any_serial = true");
                        bad = 1;
                }
        }
        if (config_setting_get_member(s, "serial_hex")) {
                if (e->serial) {
                        config_error(c->errors, c->file, line, "set either 'serial' or 'serial_hex', not both");
                        bad = 1;
                } else {
                        r = parse_serial_hex(c, s, e);
                        if (r == -ENOMEM)
                                return r;
                        bad |= r < 0;
                }
        }
        if (e->any_serial && e->serial) {
                config_error(c->errors, c->file, line, "set either 'serial' or 'any_serial = true', not both");
                bad = 1;
        } else if (!e->any_serial && !e->serial && r >= 0) {
                config_error(c->errors, c->file, line,
                             "allow entry has no 'serial': give the device's serial (or its serial_hex), or write any_serial = true to allow every device of this model");
                bad = 1;
        }

        if (config_get_string(c, s, "label", &e->label) < 0 ||
            config_get_string(c, s, "ticket", &e->ticket) < 0)
                bad = 1;
        r = config_get_string(c, s, "approved_by", &e->approved_by);
        if (r < 0)
                bad = 1;
        else if (r == 0 || isempty(e->approved_by)) {
                config_error(c->errors, c->file, line,
                             "allow entry has no 'approved_by': every exception needs the officer who approved it");
                bad = 1;
        }
        r = parse_date_key(c, s, "approved_on", &e->approved_on, on);
        bad |= r < 0;
        r = parse_expires(c, s, e);
        bad |= r < 0;
        if (r > 0 && e->approved_on && on[0] && e->expires_at <= date_start_local(on[0], on[1], on[2])) {
                config_error(c->errors, c->file, line, "'expires' (%s) is before 'approved_on' (%s)",
                             e->expires, e->approved_on);
                bad = 1;
        }
        return bad ? -EINVAL : 0;
}

static int parse_allow_file(ConfigContext *c, const config_t *cfg) {
        config_setting_t *root = config_root_setting(cfg), *list;
        static const char *const keys[] = { "allow", NULL };
        UsbPolicy *u = &c->policy->usb;
        int n;

        config_check_keys(c, root, keys);
        list = config_setting_get_member(root, "allow");
        if (!list)
                return 0; /* an empty file allows nothing, which is fine */
        if (config_setting_type(list) != CONFIG_TYPE_LIST) {
                config_error(c->errors, c->file, config_setting_line(list),
                             "'allow' must be a list of entries: allow = ( { ... }, { ... } );");
                return -EINVAL;
        }
        n = config_setting_length(list);
        for (int i = 0; i < n; i++) {
                config_setting_t *s = config_setting_get_elem(list, (unsigned) i);
                AllowEntry *na, *e;
                int r;

                na = reallocarray(u->entries, u->n_entries + 1, sizeof *na);
                if (!na)
                        return -ENOMEM;
                u->entries = na;
                e = &u->entries[u->n_entries++];
                *e = (AllowEntry){ 0 };
                r = parse_entry(c, s, e);
                if (r == -ENOMEM)
                        return r;
        }
        return 0;
}

bool allow_entry_same_device(const AllowEntry *a, const AllowEntry *b) {
        if (a->vendor != b->vendor || a->product != b->product || a->any_serial != b->any_serial)
                return false;
        return a->any_serial || (a->serial && b->serial && a->serial_len == b->serial_len &&
                                 memcmp(a->serial, b->serial, a->serial_len) == 0);
}

/* Notes, not errors: an approval is a grant and two grants are their union
 * (policy_decide() takes the one that lasts longest), and a reload is all or
 * nothing, so refusing a redundant or stale entry would withhold every other
 * change with it. The admin is told, to tidy up. */
void config_policy_notes(const Policy *p, usec_t now, ConfigErrors *notes) {
        const UsbPolicy *u = &p->usb;

        for (size_t i = 0; i < u->n_entries; i++) {
                const AllowEntry *b = &u->entries[i];
                for (size_t k = 0; k < i; k++) {
                        const AllowEntry *a = &u->entries[k];
                        if (!allow_entry_same_device(a, b))
                                continue;
                        /* a serial is device text: never raw into the journal or a terminal */
                        _cleanup_free_ char *serial = b->any_serial ? NULL
                                                                    : text_sanitize(b->serial, b->serial_len, 512, NULL);
                        config_error(notes, b->file, (int) b->line,
                                     "another allow entry for %04x:%04x %s%s%s is at %s:%u; the one that lasts longest applies",
                                     b->vendor, b->product, b->any_serial ? "any serial" : "serial '",
                                     b->any_serial ? "" : strempty(serial), b->any_serial ? "" : "'", a->file, a->line);
                        break;
                }
                if (b->expires_at == USEC_INFINITY)
                        continue;
                if (b->expires_at <= now)
                        config_error(notes, b->file, (int) b->line,
                                     "this entry expired (expires = \"%s\") and allows nothing; renew it with 'mamorictl allow DEVICE --renew' or remove it",
                                     b->expires);
                else if (b->expires_at - now <= 30 * USEC_PER_DAY)
                        config_error(notes, b->file, (int) b->line,
                                     "this entry expires within 30 days (expires = \"%s\")", b->expires);
        }
}

/* ---- the main file ---- */

static int parse_main(ConfigContext *c, const config_t *cfg) {
        static const char *const sections[] = { "usb", "notice", "lock", "antivirus", "collector", "spool", NULL };
        config_setting_t *root = config_root_setting(cfg), *s;
        int r;

        config_check_keys(c, root, sections);
        s = config_setting_get_member(root, "usb");
        if (s) {
                r = parse_usb(c, s);
                if (r == -ENOMEM)
                        return r;
        }
        s = config_setting_get_member(root, "notice");
        if (s) {
                r = notice_config_parse(c, s);
                if (r == -ENOMEM)
                        return r;
        }
        s = config_setting_get_member(root, "lock");
        if (s && parse_lock(c, s) == -ENOMEM)
                return -ENOMEM;
        s = config_setting_get_member(root, "antivirus");
        if (s && parse_antivirus(c, s) == -ENOMEM)
                return -ENOMEM;
        s = config_setting_get_member(root, "collector");
        if (s) {
                r = parse_collector(c, s);
                if (r == -ENOMEM)
                        return r;
        }
        s = config_setting_get_member(root, "spool");
        if (s) {
                r = parse_spool(c, s);
                if (r == -ENOMEM)
                        return r;
        }
        return 0;
}

static int set_defaults(Policy *p) {
        if (!p->usb.policy_ref) {
                p->usb.policy_ref = strdup(POLICY_REF_USB_DEFAULT);
                if (!p->usb.policy_ref)
                        return -ENOMEM;
        }
        return policy_set_lock_av_defaults(p);
}

/* ---- hashing ---- */

static int hash_sources(const Source *srcs, size_t n, char ret[65]) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        int ok;

        if (!ctx)
                return -ENOMEM;
        ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        for (size_t i = 0; ok && i < n; i++) {
                ok = EVP_DigestUpdate(ctx, srcs[i].path, strlen(srcs[i].path) + 1) &&
                     EVP_DigestUpdate(ctx, srcs[i].text, srcs[i].len) && EVP_DigestUpdate(ctx, "", 1);
        }
        ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen);
        EVP_MD_CTX_free(ctx);
        if (!ok || mdlen != 32)
                return -EIO;
        for (unsigned i = 0; i < 32; i++)
                sprintf(ret + 2 * i, "%02x", md[i]);
        return 0;
}

/* ---- putting it together ---- */

static int conf_name_filter(const struct dirent *de) {
        return de->d_name[0] != '.' && endswith(de->d_name, ".conf");
}

static int name_order(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static char **strv_free(char **v) {
        for (char **i = v; v && *i; i++)
                free(*i);
        free(v);
        return NULL;
}

static void strv_freep(char ***v) {
        strv_free(*v);
}

static int ignored_name_filter(const struct dirent *de) {
        return !streq(de->d_name, ".") && !streq(de->d_name, "..") && !conf_name_filter(de);
}

int config_ignored_files(const char *config_path, const char *allow_dir, char ***ret) {
        _cleanup_free_ char *dir_default = NULL;
        struct dirent **names = NULL;
        char **v;
        int n;

        if (!allow_dir) {
                dir_default = config_allow_dir_for(config_path);
                if (!dir_default)
                        return -ENOMEM;
                allow_dir = dir_default;
        }
        n = scandir(allow_dir, &names, ignored_name_filter, name_order);
        if (n < 0)
                return negative_errno();
        v = calloc((size_t) n + 1, sizeof(char *));
        for (int i = 0; i < n; i++) {
                char *path = NULL;
                /* a name is anything but '/' and NUL: escaped for the terminal and the journal */
                _cleanup_free_ char *name = text_sanitize(names[i]->d_name, strlen(names[i]->d_name), 256, NULL);
                if (v && name && asprintf(&path, "%s/%s", allow_dir, name) >= 0)
                        v[i] = path;
                else
                        v = strv_free(v);
                free(names[i]);
        }
        free(names);
        if (!v)
                return -ENOMEM;
        *ret = v;
        return n;
}

const char *config_ignored_why(const char *path) {
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        if (b[0] == '.')
                return "ignored: a hidden file (its name starts with '.'); only NAME.conf files are read";
        return "ignored: only files whose name ends in .conf are read";
}

void config_print_ignored(const char *config_path, const char *allow_dir, FILE *f) {
        _cleanup_(strv_freep) char **v = NULL;
        if (config_ignored_files(config_path, allow_dir, &v) <= 0)
                return;
        for (char **i = v; i && *i; i++) /* a NULL list is empty, as for strv_free() */
                fprintf(f, "%s: %s\n", *i, config_ignored_why(*i));
}

void config_log_ignored(const char *allow_dir) {
        _cleanup_(strv_freep) char **v = NULL;
        if (!allow_dir || config_ignored_files(NULL, allow_dir, &v) <= 0)
                return;
        for (char **i = v; i && *i; i++)
                log_warning("%s: %s", *i, config_ignored_why(*i));
}

static int load_sources(Source *srcs, size_t n_srcs, Policy **ret, ConfigErrors *errors) {
        _cleanup_(policy_unrefp) Policy *p = policy_alloc();
        size_t before = errors->n;
        int r;

        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < n_srcs; i++) {
                ConfigContext c = { .errors = errors, .file = srcs[i].path, .policy = p };
                config_t cfg;
                r = parse_source(errors, &srcs[i], &cfg);
                if (r == 0)
                        r = i == 0 ? parse_main(&c, &cfg) : parse_allow_file(&c, &cfg);
                config_destroy(&cfg);
                if (r == -ENOMEM)
                        return r;
        }
        if (errors->n > before)
                return -EINVAL;

        r = set_defaults(p);
        if (r < 0)
                return r;
        r = hash_sources(srcs, n_srcs, p->hash);
        if (r < 0)
                return r;
        p->files = calloc(n_srcs, sizeof(char *));
        p->texts = calloc(n_srcs, sizeof(char *));
        p->text_lens = calloc(n_srcs, sizeof(size_t));
        if (!p->files || !p->texts || !p->text_lens)
                return -ENOMEM;
        for (size_t i = 0; i < n_srcs; i++) {
                p->files[i] = strdup(srcs[i].path);
                p->texts[i] = malloc(srcs[i].len + 1);
                p->n_files++;
                if (!p->files[i] || !p->texts[i])
                        return -ENOMEM;
                memcpy(p->texts[i], srcs[i].text, srcs[i].len);
                p->texts[i][srcs[i].len] = 0;
                p->text_lens[i] = srcs[i].len;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

int config_load(const char *config_path, const char *allow_dir, Policy **ret, ConfigErrors *errors) {
        _cleanup_free_ char *dir_default = NULL;
        _cleanup_close_ int adfd = -EBADF;
        struct dirent **names = NULL;
        Source *srcs = NULL;
        size_t n_srcs = 0, before = errors->n;
        int n = 0, r;

        if (!allow_dir) {
                dir_default = config_allow_dir_for(config_path);
                if (!dir_default)
                        return -ENOMEM;
                allow_dir = dir_default;
        }

        srcs = calloc(1, sizeof *srcs);
        if (!srcs)
                return -ENOMEM;
        r = read_source(errors, config_path, &srcs[0]);
        if (r < 0) {
                free(srcs);
                return r == -ENOMEM ? r : (r == -ENOENT ? -ENOENT : -EINVAL);
        }
        n_srcs = 1;

        /* No allow.d is fine (no exception); one that is not root's alone is not. */
        adfd = open_source_dir(errors, allow_dir);
        if (adfd == -ENOMEM) {
                r = -ENOMEM;
                goto finish;
        }
        if (adfd >= 0) {
                n = scandirat(adfd, ".", &names, conf_name_filter, name_order);
                if (n < 0) {
                        config_error(errors, allow_dir, 0, "cannot read directory: %m");
                        n = 0;
                }
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                Source *ns;
                if (asprintf(&path, "%s/%s", allow_dir, names[i]->d_name) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
                ns = reallocarray(srcs, n_srcs + 1, sizeof *ns);
                if (!ns) {
                        r = -ENOMEM;
                        goto finish;
                }
                srcs = ns;
                srcs[n_srcs] = (Source){ 0 };
                r = read_source_at(errors, adfd, path, names[i]->d_name, &srcs[n_srcs]);
                if (r == -ENOMEM)
                        goto finish;
                if (r == 0)
                        n_srcs++;
        }

        r = load_sources(srcs, n_srcs, ret, errors);
        if (r == 0 && errors->n > before) {
                /* an allow.d file that could not be read or trusted */
                *ret = policy_unref(*ret);
                r = -EINVAL;
        }
        if (r == 0) {
                (*ret)->config_path = strdup(config_path);
                (*ret)->allow_dir = strdup(allow_dir);
                if (!(*ret)->config_path || !(*ret)->allow_dir) {
                        *ret = policy_unref(*ret);
                        r = -ENOMEM;
                }
        } else if (r != -ENOMEM)
                r = -EINVAL;
finish:
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        for (size_t i = 0; i < n_srcs; i++)
                source_done(&srcs[i]);
        free(srcs);
        return r;
}

int config_load_texts(char *const *paths, char *const *texts, const size_t *lens, size_t n, Policy **ret,
                      ConfigErrors *errors) {
        _cleanup_free_ Source *srcs = NULL;
        int r;

        if (n == 0)
                return -EINVAL;
        srcs = calloc(n, sizeof *srcs);
        if (!srcs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                srcs[i] = (Source){ .path = paths[i], .text = texts[i], .len = lens[i] };
        r = load_sources(srcs, n, ret, errors);
        return r == -ENOMEM ? r : r < 0 ? -EINVAL : 0;
}

int config_load_strings(const char *main_text, const char *allow_text, Policy **ret, ConfigErrors *errors) {
        Source srcs[2] = {
                { .path = (char *) "mamori.conf", .text = (char *) main_text, .len = strlen(main_text) },
                { .path = (char *) "allow.d/00-test.conf", .text = (char *) allow_text,
                  .len = allow_text ? strlen(allow_text) : 0 },
        };
        return load_sources(srcs, allow_text ? 2 : 1, ret, errors);
}

int config_salvage_reporting(const char *config_path, Policy *p) {
        _cleanup_(policy_unrefp) Policy *tmp = policy_alloc();
        ConfigErrors errs = { 0 };
        Source src = { 0 };
        config_t cfg;
        int r;

        if (!tmp)
                return -ENOMEM;
        /* The same trust and syntax rules as a real load: an untrusted or
         * unreadable file gives nothing. */
        r = read_source(&errs, config_path, &src);
        if (r >= 0) {
                ConfigContext c = { .errors = &errs, .file = src.path, .policy = tmp };
                config_setting_t *s;

                r = parse_source(&errs, &src, &cfg);
                if (r >= 0) {
                        s = config_setting_get_member(config_root_setting(&cfg), "collector");
                        if (s && parse_collector(&c, s) == -ENOMEM)
                                r = -ENOMEM;
                        s = config_setting_get_member(config_root_setting(&cfg), "spool");
                        if (s && r >= 0 && parse_spool(&c, s) == -ENOMEM)
                                r = -ENOMEM;
                }
                config_destroy(&cfg);
        }
        source_done(&src);
        if (r == -ENOMEM) {
                config_errors_done(&errs);
                return r;
        }
        r = r >= 0 && errs.n == 0 && tmp->collector.url ? 1 : 0;
        config_errors_done(&errs);
        if (r > 0) {
                collector_settings_done(&p->collector);
                p->collector = tmp->collector;
                collector_settings_init(&tmp->collector);
                p->spool = tmp->spool;
        }
        return r;
}
