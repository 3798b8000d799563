/* SPDX-License-Identifier: MIT */
/* The antivirus = { ... } section of mamori.conf (docs/lock-and-antivirus.md).
 * Each step reads some keys and reports what is wrong with them; what each
 * engine needs is checked once every key was read without an error. */
#include <assert.h>

#include "config-sections.h"
#include "trusted-file.h"

static int config_av_parse_engine(ConfigContext *c, const config_setting_t *av, AvPolicy *a) {
        _cleanup_free_ char *engine = NULL;
        int r, e;

        r = config_get_string(c, av, "engine", &engine);
        if (r <= 0)
                return r;
        e = av_engine_from_string(engine);
        if (e < 0) {
                config_error(c->errors, c->file, config_key_line(av, "engine"),
                             "unknown engine '%s': use clamav, generic or none", engine);
                return -EINVAL;
        }
        a->engine = (AvEngine) e;
        return 0;
}

/* Where clamav's databases are and how old they may be. */
static int config_av_parse_age(ConfigContext *c, const config_setting_t *av, AvPolicy *a) {
        long long hours;
        int r, bad = 0;

        r = config_get_path(c, av, "database_dir", &a->database_dir);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        r = config_get_int(c, av, "max_age_hours", 1, 24 * 366, &hours);
        bad |= r < 0;
        if (r > 0)
                a->max_age_hours = (unsigned) hours;
        return bad ? -EINVAL : 0;
}

static bool config_av_unit_name_ok(const char *u) {
        size_t l = strlen(u);
        return l > 0 && l < 256 && u[0] != '.' && u[0] != '-' &&
               strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@") == l;
}

/* units = [ "clamav-daemon", ... ]: systemd units that must be active; a
 * name without a suffix is a .service. */
static int config_av_parse_units(ConfigContext *c, const config_setting_t *av, AvPolicy *a) {
        int r, bad;

        r = config_get_strv(c, av, "units", 32, &a->units, &a->n_units);
        if (r == -ENOMEM)
                return r;
        bad = r < 0;
        for (size_t i = 0; i < a->n_units; i++) {
                if (!config_av_unit_name_ok(a->units[i])) {
                        config_error(c->errors, c->file, config_key_line(av, "units"),
                                     "'%s' is not a valid systemd unit name", a->units[i]);
                        bad = 1;
                } else if (!strchr(a->units[i], '.')) {
                        char *n;
                        if (asprintf(&n, "%s.service", a->units[i]) < 0)
                                return -ENOMEM;
                        free(a->units[i]);
                        a->units[i] = n;
                }
        }
        return bad ? -EINVAL : 0;
}

/* command = [ "/path", "arg", ... ]: it runs as root, so only root may be
 * able to change it (common/trusted-file.h). One that is not there (yet) is
 * reported when it is run: command_not_found. */
static int config_av_check_command(ConfigContext *c, const config_setting_t *av, const AvPolicy *a) {
        _cleanup_free_ char *why = NULL;
        int t;

        if (a->n_command == 0) {
                config_error(c->errors, c->file, config_key_line(av, "command"), "'command' is empty");
                return -EINVAL;
        }
        if (!config_path_ok(a->command[0])) {
                config_error(c->errors, c->file, config_key_line(av, "command"),
                             "'command' must start with an absolute path (no shell, no PATH search), not '%s'",
                             a->command[0]);
                return -EINVAL;
        }
        t = trust_check_executable(a->command[0], &why);
        if (t == -ENOMEM || (t < 0 && !why && t != -ENOENT && t != -ENOTDIR))
                return -ENOMEM;
        if (t < 0 && why) {
                config_error(c->errors, c->file, config_key_line(av, "command"),
                             "'command' %s is not trusted to run as root: %s", a->command[0], why);
                return -EINVAL;
        }
        return 0;
}

/* The generic engine's source of the pattern date: a file's mtime, or what
 * a command prints. */
static int config_av_parse_generic(ConfigContext *c, const config_setting_t *av, AvPolicy *a) {
        int r, bad;

        r = config_get_path(c, av, "pattern_file", &a->pattern_file);
        if (r == -ENOMEM)
                return r;
        bad = r < 0;
        r = config_get_strv(c, av, "command", 64, &a->command, &a->n_command);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (r > 0) {
                r = config_av_check_command(c, av, a);
                if (r == -ENOMEM)
                        return r;
                bad |= r < 0;
        }
        return bad ? -EINVAL : 0;
}

static int config_av_parse_command_output(ConfigContext *c, const config_setting_t *av, AvPolicy *a) {
        _cleanup_free_ char *output = NULL;
        int r, o, bad = 0;

        r = config_get_string(c, av, "command_output", &output);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (r > 0) {
                o = av_command_output_from_string(output);
                if (o < 0) {
                        config_error(c->errors, c->file, config_key_line(av, "command_output"),
                                     "unknown command_output '%s': use date, epoch or minutes_ago", output);
                        bad = 1;
                } else
                        a->command_output = (AvCommandOutput) o;
        }
        bad |= config_get_seconds(c, av, "command_timeout", 1, 600, &a->command_timeout) < 0;
        return bad ? -EINVAL : 0;
}

static bool config_av_user_ok(const char *u) {
        size_t l = strlen(u);
        /* What useradd takes (and a numeric uid): no ':' or space to confuse a lookup. */
        return l > 0 && l <= 32 && u[0] != '-' &&
               strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == l;
}

/* report_users = [ "clamav" ]: who may report a detection besides root
 * (agent/av/av-detect.c); looked up when the policy comes into force. */
static int config_av_parse_report_users(ConfigContext *c, const config_setting_t *av, AvPolicy *a) {
        int r, bad;

        r = config_get_strv(c, av, "report_users", 16, &a->report_users, &a->n_report_users);
        if (r == -ENOMEM)
                return r;
        bad = r < 0;
        a->report_users_set = r > 0;
        for (size_t i = 0; i < a->n_report_users; i++)
                if (!config_av_user_ok(a->report_users[i])) {
                        config_error(c->errors, c->file, config_key_line(av, "report_users"),
                                     "'%s' is not a user name or uid", a->report_users[i]);
                        bad = 1;
                } else if (streq(a->report_users[i], "root") || streq(a->report_users[i], "0")) {
                        config_error(c->errors, c->file, config_key_line(av, "report_users"),
                                     "root may always report: leave it out of 'report_users'");
                        bad = 1;
                }
        return bad ? -EINVAL : 0;
}

/* full_scan.unit: a service's full name, since that is what PID 1 logs as
 * UNIT= (no implied suffix: a timer or a scope never "ran a scan"). */
static bool config_av_service_name_ok(const char *u) {
        size_t l = strlen(u);
        return config_av_unit_name_ok(u) && l > strlen(".service") && endswith(u, ".service") &&
               u[l - strlen(".service") - 1] != '@';
}

/* full_scan.unit and journal_directory: which service's success is the last
 * full scan, and (for tests, or a journal kept elsewhere) where its journal
 * is. The directory is a trusted one, as mamori.conf's: root's and writable
 * by nobody else, since anyone who can put a journal file there can write
 * _PID=1 into it. */
static int config_av_parse_full_scan_unit(ConfigContext *c, const config_setting_t *fs, AvFullScanPolicy *f) {
        _cleanup_free_ char *why = NULL;
        int r, bad;

        r = config_get_string(c, fs, "unit", &f->unit);
        if (r == -ENOMEM)
                return r;
        bad = r < 0;
        if (r > 0 && !config_av_service_name_ok(f->unit)) {
                config_error(c->errors, c->file, config_key_line(fs, "unit"),
                             "full_scan.unit '%s' is not a service's name: letters, digits and \":-_.\\@\", "
                             "ending in .service, at most 255 characters",
                             f->unit);
                bad = 1;
        }
        r = config_get_path(c, fs, "journal_directory", &f->journal_directory);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (r > 0) {
                int fd = trust_open_dir(f->journal_directory, &why);
                if (fd >= 0)
                        close(fd);
                else if (!why)
                        return -ENOMEM;
                else {
                        config_error(c->errors, c->file, config_key_line(fs, "journal_directory"),
                                     "full_scan.journal_directory %s is not trusted: %s", f->journal_directory, why);
                        bad = 1;
                }
        }
        return bad ? -EINVAL : 0;
}

/* full_scan = { max_age_days = 7; file = "/path"; } or { command = [ ... ];
 * command_output = "epoch"; command_timeout = 30; } or { unit =
 * "clamav-fullscan.service"; }: exactly one source. */
static int config_av_parse_full_scan(ConfigContext *c, const config_setting_t *av, AvPolicy *a) {
        static const char *const keys[] = { "max_age_days",    "file", "command",           "command_output",
                                            "command_timeout", "unit", "journal_directory", NULL };
        const config_setting_t *fs = config_setting_get_member(av, "full_scan");
        AvFullScanPolicy *f = &a->full_scan;
        _cleanup_free_ char *output = NULL;
        long long days;
        int r, bad = 0;

        if (!fs)
                return 0;
        if (config_setting_type(fs) != CONFIG_TYPE_GROUP)
                return config_wrong_type(c, fs, "full_scan",
                                         "a group: full_scan = { max_age_days = 7; file = \"/path\"; };");
        config_check_keys(c, fs, keys);
        f->enabled = true;
        f->max_age_days = AV_FULL_SCAN_MAX_AGE_DAYS_DEFAULT;
        f->command_output = AV_OUTPUT_DATE;
        f->command_timeout = AV_COMMAND_TIMEOUT_DEFAULT;

        r = config_get_int(c, fs, "max_age_days", 1, 366, &days);
        bad |= r < 0;
        if (r > 0)
                f->max_age_days = (unsigned) days;
        r = config_get_path(c, fs, "file", &f->file);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        r = config_get_strv(c, fs, "command", 64, &f->command, &f->n_command);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (r > 0) {
                /* The same rules as the pattern's command: it runs as root. */
                AvPolicy view = { .command = f->command, .n_command = f->n_command };
                r = config_av_check_command(c, fs, &view);
                if (r == -ENOMEM)
                        return r;
                bad |= r < 0;
        }
        r = config_get_string(c, fs, "command_output", &output);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (r > 0) {
                int o = av_command_output_from_string(output);
                if (o < 0) {
                        config_error(c->errors, c->file, config_key_line(fs, "command_output"),
                                     "unknown command_output '%s': use date, epoch or minutes_ago", output);
                        bad = 1;
                } else
                        f->command_output = (AvCommandOutput) o;
        }
        bad |= config_get_seconds(c, fs, "command_timeout", 1, 600, &f->command_timeout) < 0;
        r = config_av_parse_full_scan_unit(c, fs, f);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (!bad && !!f->file + !!f->command + !!f->unit != 1) {
                config_error(c->errors, c->file, config_setting_line(fs),
                             "full_scan needs exactly one of 'file' (its mtime is the last full scan), 'command' "
                             "(prints its date) or 'unit' (the service whose success in the journal is the last full scan)");
                bad = 1;
        }
        if (!bad && !f->command &&
            (config_setting_get_member(fs, "command_output") || config_setting_get_member(fs, "command_timeout"))) {
                config_error(c->errors, c->file, config_setting_line(fs),
                             "full_scan: 'command_output' and 'command_timeout' are only used with 'command'");
                bad = 1;
        }
        if (!bad && !f->unit && f->journal_directory) {
                config_error(c->errors, c->file, config_key_line(fs, "journal_directory"),
                             "full_scan: 'journal_directory' is only used with 'unit'");
                bad = 1;
        }
        return bad ? -EINVAL : 0;
}

/* scan = { on_mount = true; socket = "/run/clamav/clamd.ctl"; timeout = 600; }:
 * media from outside scanned by clamd when mounted (agent/av/av-scan.c). */
static int config_av_parse_scan(ConfigContext *c, const config_setting_t *av, AvPolicy *a) {
        static const char *const keys[] = { "on_mount", "socket", "timeout", NULL };
        const config_setting_t *sc = config_setting_get_member(av, "scan");
        AvScanPolicy *p = &a->scan;
        int r, bad = 0;

        p->timeout = AV_SCAN_TIMEOUT_DEFAULT;
        if (sc && config_setting_type(sc) != CONFIG_TYPE_GROUP)
                return config_wrong_type(c, sc, "scan", "a group: scan = { on_mount = true; };");
        if (sc) {
                config_check_keys(c, sc, keys);
                bad |= config_get_bool(c, sc, "on_mount", &p->on_mount) < 0;
                r = config_get_path(c, sc, "socket", &p->socket);
                if (r == -ENOMEM)
                        return r;
                bad |= r < 0;
                /* sun_path holds 107 bytes and a NUL */
                if (r > 0 && strlen(p->socket) > 107) {
                        config_error(c->errors, c->file, config_key_line(sc, "socket"),
                                     "scan.socket is longer than a unix socket path can be (107 bytes)");
                        bad = 1;
                }
                bad |= config_get_seconds(c, sc, "timeout", 1, 86400, &p->timeout) < 0;
        }
        if (!p->socket) {
                p->socket = strdup(AV_SCAN_SOCKET_DEFAULT);
                if (!p->socket)
                        return -ENOMEM;
        }
        return bad ? -EINVAL : 0;
}

static int config_av_parse_policy_ref(ConfigContext *c, const config_setting_t *av, AvPolicy *a) {
        int r = config_get_policy_ref(c, av, &a->policy_ref);
        if (r < 0)
                return r;
        /* Staff are cited their own duty (職員等の遵守事項), admins the admin clause. */
        r = config_get_policy_ref_key(c, av, "staff_policy_ref", &a->staff_policy_ref);
        return r > 0 ? 0 : r;
}

/* What each engine needs, and nothing another engine uses. */
static int config_av_check_engine(ConfigContext *c, const config_setting_t *av, const AvPolicy *a) {
        static const char *const generic_only[] = { "pattern_file", "command", "command_output", "command_timeout", NULL };
        int bad = 0;

        if (a->engine == AV_ENGINE_GENERIC && !!a->pattern_file == !!a->command) {
                config_error(c->errors, c->file, config_setting_line(av),
                             "engine \"generic\" needs exactly one of 'pattern_file' (its mtime is the pattern date) or 'command' (prints the date)");
                return -EINVAL;
        }
        if (a->engine != AV_ENGINE_GENERIC)
                for (const char *const *k = generic_only; *k; k++)
                        if (config_setting_get_member(av, *k)) {
                                config_error(c->errors, c->file, config_key_line(av, *k),
                                             "'%s' is only used with engine = \"generic\"", *k);
                                bad = 1;
                        }
        if (a->engine == AV_ENGINE_GENERIC && a->pattern_file && config_setting_get_member(av, "command_output")) {
                config_error(c->errors, c->file, config_key_line(av, "command_output"),
                             "'command_output' is only used with 'command'");
                bad = 1;
        }
        return bad ? -EINVAL : 0;
}

int config_antivirus_parse(ConfigContext *c, const config_setting_t *av) {
        static const char *const keys[] = { "engine",
                                            "database_dir",
                                            "max_age_hours",
                                            "units",
                                            "policy_ref",
                                            "pattern_file",
                                            "staff_policy_ref",
                                            "command",
                                            "command_output",
                                            "command_timeout",
                                            "report_users",
                                            "full_scan",
                                            "scan",
                                            NULL };
        /* In the order of the errors they report. */
        static int (*const steps[])(ConfigContext *, const config_setting_t *, AvPolicy *) = {
                config_av_parse_engine,         config_av_parse_age,
                config_av_parse_units,          config_av_parse_generic,
                config_av_parse_command_output, config_av_parse_policy_ref,
                config_av_parse_report_users,   config_av_parse_full_scan,
                config_av_parse_scan,
        };
        AvPolicy *a;
        int bad = 0;

        assert(c);
        assert(av);

        if (config_setting_type(av) != CONFIG_TYPE_GROUP)
                return config_wrong_type(c, av, "antivirus", "a group: antivirus = { ... };");
        config_check_keys(c, av, keys);

        a = &c->policy->av;
        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                int r = steps[i](c, av, a);
                if (r == -ENOMEM)
                        return r;
                bad |= r < 0;
        }
        if (bad)
                return -EINVAL;
        return config_av_check_engine(c, av, a);
}
