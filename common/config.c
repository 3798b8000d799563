/* SPDX-License-Identifier: MIT */
/* Loading a configuration: mamori.conf and allow.d read as trusted files,
 * each parsed by libconfig, mamori.conf's sections through the table below
 * (one file each, common/config-NAME.c), and the allow.d files merged into
 * one Policy; what check-config prints about it; and the errors. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "config-hint.h"
#include "config-sections.h"
#include "config-url-hash.h"
#include "config.h"
#include "log.h"
#include "text.h"
#include "trusted-file.h"

/* ---- errors ---- */

void config_errors_done(ConfigErrors *e) {
        assert(e);

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

        assert(e);
        assert(format);

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
        assert(e);
        assert(f);

        for (size_t i = 0; i < e->n; i++) {
                if (e->items[i].line > 0)
                        fprintf(f, "%s:%d: %s\n", strna(e->items[i].file), e->items[i].line, strna(e->items[i].message));
                else
                        fprintf(f, "%s: %s\n", strna(e->items[i].file), strna(e->items[i].message));
        }
}

void config_errors_print_verdict(const ConfigErrors *e, const char *path, FILE *f) {
        assert(e);
        assert(path);
        assert(f);

        config_errors_print(e, f);
        fprintf(f, "%s: %zu error%s; this configuration would not be loaded.\n", path, e->n, e->n == 1 ? "" : "s");
}

void config_print_summary(const Policy *p, const char *path, FILE *f) {
        assert(p);
        assert(path);
        assert(f);

        fprintf(f, "%s: OK, %zu allow entr%s from %zu file%s, policy hash %s\n", path, p->usb.n_entries,
                p->usb.n_entries == 1 ? "y" : "ies", p->n_files, p->n_files == 1 ? "" : "s", p->hash);
        for (size_t i = 0; i < p->usb.n_entries; i++) {
                const AllowEntry *a = &p->usb.entries[i];
                if (a->bus == DEVICE_BUS_USB && a->any_serial)
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

        assert(e);

        if (e->n == 0)
                return strdup("no error");
        if (e->items[0].line > 0)
                r = asprintf(&s, "%s:%d: %s%s", strna(e->items[0].file), e->items[0].line, strna(e->items[0].message),
                             e->n > 1 ? " (and more)" : "");
        else
                r = asprintf(&s, "%s: %s%s", strna(e->items[0].file), strna(e->items[0].message),
                             e->n > 1 ? " (and more)" : "");
        return r < 0 ? NULL : s;
}

char *config_allow_dir_for(const char *config_path) {
        _cleanup_free_ char *copy = NULL;
        char *r;

        assert(config_path);

        copy = strdup(config_path);
        if (!copy)
                return NULL;
        if (asprintf(&r, "%s/allow.d", dirname(copy)) < 0)
                return NULL;
        return r;
}

/* ---- reading files ---- */

static void config_source_done(ConfigSource *s) {
        free(s->path);
        free(s->text);
}

/* A policy file that someone other than root can change is a way around the
 * policy: every file is read through common/trusted-file.c (root's, writable by
 * nobody else, no link, no FIFO, bounded), and so is the directory that holds
 * it. Problems are reported on the file (or the directory) as a whole. */
static int config_read_source_at(ConfigErrors *errors, int dir_fd, const char *path, const char *name, ConfigSource *ret) {
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
static int config_open_source_dir(ConfigErrors *errors, const char *dir) {
        _cleanup_free_ char *why = NULL;
        int fd = trust_open_dir(dir, &why);

        if (fd < 0 && fd != -ENOMEM && fd != -ENOENT)
                config_error(errors, dir, 0, "%s", strna(why));
        return fd;
}

static int config_read_source(ConfigErrors *errors, const char *path, ConfigSource *ret) {
        _cleanup_free_ char *d = strdup(path), *b = strdup(path);
        _cleanup_close_ int dfd = -EBADF;

        if (!d || !b)
                return -ENOMEM;
        dfd = config_open_source_dir(errors, dirname(d));
        if (dfd == -ENOENT) {
                config_error(errors, path, 0, "cannot open: %s", strerror(ENOENT));
                return -ENOENT;
        }
        if (dfd < 0)
                return dfd;
        return config_read_source_at(errors, dfd, path, basename(b), ret);
}

/* libconfig would follow @include to files nobody checked or hashed, and
 * would stop reading at a NUL byte: what follows it would silently count for
 * nothing (it is still hashed), so such a file is refused where the NUL is. */
static int config_refuse_include(ConfigErrors *errors, const ConfigSource *s) {
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
                        config_error(errors, s->path, line, "@include is not supported: put allow entries in allow.d/");
                        return -EINVAL;
                }
                p = memchr(p, '\n', (size_t) (s->text + s->len - p));
                if (!p)
                        break;
                line++;
        }
        return 0;
}

static int config_parse_source(ConfigErrors *errors, const ConfigSource *s, config_t *cfg) {
        config_init(cfg);
        if (config_refuse_include(errors, s) < 0)
                return -EINVAL;
        if (config_read_string(cfg, s->text) != CONFIG_TRUE) {
                const char *t = config_error_text(cfg);
                _cleanup_(config_syntax_hint_done) ConfigSyntaxHint h = { 0 };
                /* libconfig's text is mostly just "syntax error", and its line
                 * one past the end when the file ends early: say more. */
                if (config_hint_syntax(s->text, s->len, config_error_line(cfg), &h) < 0)
                        return -ENOMEM;
                config_error(errors, s->path, h.line, "%s%s%s%s%s%s%s",
                             t && startswith(t, "syntax error") ? "" : "syntax error: ", t ? t : "?",
                             h.hint ? " (" : "", strempty(h.hint), h.hint ? ")" : "",
                             h.line_text ? "; the line reads: " : "", strempty(h.line_text));
                return -EINVAL;
        }
        return 0;
}

/* ---- notes on a loaded policy ---- */

bool allow_entry_same_device(const AllowEntry *a, const AllowEntry *b) {
        assert(a);
        assert(b);

        if (a->bus != b->bus)
                return false;
        if (a->bus != DEVICE_BUS_USB) {
                for (size_t k = 0; k < DEVICE_ID_MAX; k++)
                        if (!streq_ptr(a->id[k], b->id[k]))
                                return false;
                return true;
        }
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
        const UsbPolicy *u;

        assert(p);
        assert(notes);

        u = &p->usb;
        for (size_t i = 0; i < u->n_entries; i++) {
                const AllowEntry *b = &u->entries[i];
                for (size_t k = 0; k < i; k++) {
                        const AllowEntry *a = &u->entries[k];
                        if (!allow_entry_same_device(a, b))
                                continue;
                        if (b->bus != DEVICE_BUS_USB) {
                                config_error(notes, b->file, (int) b->line,
                                             "another allow entry for this %s device is at %s:%u; the one that lasts longest applies",
                                             device_bus_to_string(b->bus), a->file, a->line);
                                break;
                        }
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

/* The sections of mamori.conf, in the order they are parsed (and their
 * errors reported). Those marked salvage are also what a configuration
 * broken at start still gives the fail-closed policy, so that the central
 * team hears of it (config_salvage_reporting()). */
typedef struct ConfigSection {
        const char *name;
        int (*parse)(ConfigContext *c, const config_setting_t *s);
        bool salvage;
} ConfigSection;

static const ConfigSection config_sections[] = {
        { "usb", config_usb_parse, false },
        { "devices", config_devices_parse, false }, /* after usb: it checks usb.block */
        { "notice", config_notice_parse, false },
        { "lock", config_lock_parse, false },
        { "antivirus", config_antivirus_parse, false },
        { "collector", config_collector_parse, true },
        { "spool", config_spool_parse, true },
        { "site", config_site_parse, false },
        { "quarantine", config_quarantine_parse, false },
};

/* Parses each section of root that the table holds (those marked salvage
 * only, when salvage_only): a section's errors do not stop the next one,
 * only -ENOMEM does. */
static int config_parse_sections(ConfigContext *c, const config_setting_t *root, bool salvage_only) {
        for (size_t i = 0; i < ELEMENTSOF(config_sections); i++) {
                const ConfigSection *t = &config_sections[i];
                config_setting_t *s;

                if (salvage_only && !t->salvage)
                        continue;
                s = config_setting_get_member(root, t->name);
                if (s && t->parse(c, s) == -ENOMEM)
                        return -ENOMEM;
        }
        return 0;
}

static int config_parse_main(ConfigContext *c, const config_t *cfg) {
        const char *names[ELEMENTSOF(config_sections) + 1] = { 0 };
        config_setting_t *root = config_root_setting(cfg);

        for (size_t i = 0; i < ELEMENTSOF(config_sections); i++)
                names[i] = config_sections[i].name;
        config_check_keys(c, root, names);
        return config_parse_sections(c, root, false);
}

static int config_set_defaults(Policy *p) {
        if (!p->usb.policy_ref) {
                p->usb.policy_ref = strdup(POLICY_REF_USB_DEFAULT);
                if (!p->usb.policy_ref)
                        return -ENOMEM;
        }
        return policy_set_lock_av_defaults(p);
}

/* ---- putting it together ---- */

static int config_conf_name_filter(const struct dirent *de) {
        return de->d_name[0] != '.' && endswith(de->d_name, ".conf");
}

static int config_name_order(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static char **config_strv_free(char **v) {
        for (char **i = v; v && *i; i++)
                free(*i);
        free(v);
        return NULL;
}

static void config_strv_freep(char ***v) {
        config_strv_free(*v);
}

static int config_ignored_name_filter(const struct dirent *de) {
        return !streq(de->d_name, ".") && !streq(de->d_name, "..") && !config_conf_name_filter(de);
}

int config_ignored_files(const char *config_path, const char *allow_dir, char ***ret) {
        _cleanup_free_ char *dir_default = NULL;
        struct dirent **names = NULL;
        char **v;
        int n;

        assert(config_path || allow_dir);
        assert(ret);

        if (!allow_dir) {
                dir_default = config_allow_dir_for(config_path);
                if (!dir_default)
                        return -ENOMEM;
                allow_dir = dir_default;
        }
        n = scandir(allow_dir, &names, config_ignored_name_filter, config_name_order);
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
                        v = config_strv_free(v);
                free(names[i]);
        }
        free(names);
        if (!v)
                return -ENOMEM;
        *ret = v;
        return n;
}

const char *config_ignored_why(const char *path) {
        const char *b;

        assert(path);

        b = strrchr(path, '/');
        b = b ? b + 1 : path;
        if (b[0] == '.')
                return "ignored: a hidden file (its name starts with '.'); only NAME.conf files are read";
        return "ignored: only files whose name ends in .conf are read";
}

void config_print_ignored(const char *config_path, const char *allow_dir, FILE *f) {
        _cleanup_(config_strv_freep) char **v = NULL;

        assert(config_path || allow_dir);
        assert(f);

        if (config_ignored_files(config_path, allow_dir, &v) <= 0)
                return;
        for (char **i = v; i && *i; i++) /* a NULL list is empty, as for config_strv_free() */
                fprintf(f, "%s: %s\n", *i, config_ignored_why(*i));
}

void config_log_ignored(const char *allow_dir) {
        _cleanup_(config_strv_freep) char **v = NULL;
        if (!allow_dir || config_ignored_files(NULL, allow_dir, &v) <= 0)
                return;
        for (char **i = v; i && *i; i++)
                log_warning("%s: %s", *i, config_ignored_why(*i));
}

static int config_load_sources(ConfigSource *srcs, size_t n_srcs, Policy **ret, ConfigErrors *errors) {
        _cleanup_(policy_unrefp) Policy *p = policy_alloc();
        size_t before = errors->n;
        int r;

        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < n_srcs; i++) {
                ConfigContext c = { .errors = errors, .file = srcs[i].path, .policy = p };
                config_t cfg;
                r = config_parse_source(errors, &srcs[i], &cfg);
                if (r == 0)
                        r = i == 0 ? config_parse_main(&c, &cfg) : config_allow_parse_file(&c, &cfg);
                config_destroy(&cfg);
                if (r == -ENOMEM)
                        return r;
        }
        if (errors->n > before)
                return -EINVAL;

        r = config_set_defaults(p);
        if (r < 0)
                return r;
        r = config_hash_sources(srcs, n_srcs, p->hash);
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

typedef struct ConfigSources {
        ConfigSource *items;
        size_t n;
} ConfigSources;

static void config_sources_done(ConfigSources *v) {
        for (size_t i = 0; i < v->n; i++)
                config_source_done(&v->items[i]);
        free(v->items);
        *v = (ConfigSources){ 0 };
}

/* Room for one more source past the n that count, zeroed; NULL on ENOMEM. */
static ConfigSource *config_sources_grow(ConfigSources *v) {
        ConfigSource *n = reallocarray(v->items, v->n + 1, sizeof *n);

        if (!n)
                return NULL;
        v->items = n;
        n[v->n] = (ConfigSource){ 0 };
        return &n[v->n];
}

typedef struct ConfigDirents {
        struct dirent **names;
        int n;
} ConfigDirents;

static void config_dirents_done(ConfigDirents *d) {
        for (int i = 0; i < d->n; i++)
                free(d->names[i]);
        free(d->names);
}

/* Adds every allow_dir/NAME.conf to srcs, in name order. No allow.d is fine
 * (no exception); one that is not root's alone is not. Every problem is
 * reported; only -ENOMEM is returned. */
static int config_read_allow_dir(ConfigErrors *errors, const char *allow_dir, ConfigSources *srcs) {
        _cleanup_(config_dirents_done) ConfigDirents d = { 0 };
        _cleanup_close_ int fd = config_open_source_dir(errors, allow_dir);

        if (fd == -ENOMEM)
                return fd;
        if (fd < 0)
                return 0;
        d.n = scandirat(fd, ".", &d.names, config_conf_name_filter, config_name_order);
        if (d.n < 0) {
                config_error(errors, allow_dir, 0, "cannot read directory: %m");
                d.n = 0;
                return 0;
        }
        for (int i = 0; i < d.n; i++) {
                _cleanup_free_ char *path = NULL;
                ConfigSource *s;
                int r;

                if (asprintf(&path, "%s/%s", allow_dir, d.names[i]->d_name) < 0)
                        return -ENOMEM;
                s = config_sources_grow(srcs);
                if (!s)
                        return -ENOMEM;
                r = config_read_source_at(errors, fd, path, d.names[i]->d_name, s);
                if (r == -ENOMEM)
                        return r;
                if (r == 0)
                        srcs->n++;
        }
        return 0;
}

int config_load(const char *config_path, const char *allow_dir, Policy **ret, ConfigErrors *errors) {
        _cleanup_(config_sources_done) ConfigSources srcs = { 0 };
        _cleanup_free_ char *dir_default = NULL;
        ConfigSource *main_src;
        size_t before;
        int r;

        assert(config_path);
        assert(ret);
        assert(errors);

        before = errors->n;
        if (!allow_dir) {
                dir_default = config_allow_dir_for(config_path);
                if (!dir_default)
                        return -ENOMEM;
                allow_dir = dir_default;
        }

        main_src = config_sources_grow(&srcs);
        if (!main_src)
                return -ENOMEM;
        r = config_read_source(errors, config_path, main_src);
        if (r < 0)
                return r == -ENOMEM || r == -ENOENT ? r : -EINVAL;
        srcs.n = 1;

        r = config_read_allow_dir(errors, allow_dir, &srcs);
        if (r < 0)
                return r;
        r = config_load_sources(srcs.items, srcs.n, ret, errors);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        if (errors->n > before) {
                /* an allow.d file that could not be read or trusted */
                *ret = policy_unref(*ret);
                return -EINVAL;
        }
        (*ret)->config_path = strdup(config_path);
        (*ret)->allow_dir = strdup(allow_dir);
        if (!(*ret)->config_path || !(*ret)->allow_dir) {
                *ret = policy_unref(*ret);
                return -ENOMEM;
        }
        return 0;
}

int config_load_texts(char *const *paths, char *const *texts, const size_t *lens, size_t n, Policy **ret,
                      ConfigErrors *errors) {
        _cleanup_free_ ConfigSource *srcs = NULL;
        int r;

        assert(paths);
        assert(texts);
        assert(lens);
        assert(ret);
        assert(errors);

        if (n == 0)
                return -EINVAL;
        srcs = calloc(n, sizeof *srcs);
        if (!srcs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                srcs[i] = (ConfigSource){ .path = paths[i], .text = texts[i], .len = lens[i] };
        r = config_load_sources(srcs, n, ret, errors);
        return r == -ENOMEM ? r : r < 0 ? -EINVAL : 0;
}

int config_load_strings(const char *main_text, const char *allow_text, Policy **ret, ConfigErrors *errors) {
        assert(main_text);
        assert(ret);
        assert(errors);

        ConfigSource srcs[2] = {
                { .path = (char *) "mamori.conf", .text = (char *) main_text, .len = strlen(main_text) },
                { .path = (char *) "allow.d/00-test.conf",
                  .text = (char *) allow_text,
                  .len = allow_text ? strlen(allow_text) : 0 },
        };
        return config_load_sources(srcs, allow_text ? 2 : 1, ret, errors);
}

int config_salvage_reporting(const char *config_path, Policy *p) {
        _cleanup_(policy_unrefp) Policy *tmp = NULL;
        _cleanup_(config_errors_done) ConfigErrors errs = { 0 };
        _cleanup_(config_source_done) ConfigSource src = { 0 };
        config_t cfg;
        int r;

        assert(config_path);
        assert(p);

        tmp = policy_alloc();
        if (!tmp)
                return -ENOMEM;
        /* The same trust and syntax rules as a real load: an untrusted or
         * unreadable file gives nothing. */
        r = config_read_source(&errs, config_path, &src);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        ConfigContext c = { .errors = &errs, .file = src.path, .policy = tmp };
        r = config_parse_source(&errs, &src, &cfg);
        if (r >= 0)
                r = config_parse_sections(&c, config_root_setting(&cfg), true);
        config_destroy(&cfg);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || errs.n > 0 || !tmp->collector.url)
                return 0;
        collector_settings_done(&p->collector);
        p->collector = tmp->collector;
        collector_settings_init(&tmp->collector);
        p->spool = tmp->spool;
        return 1;
}
