/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-device.h>

#include "allow-entry.h"
#include "allow-renew.h"
#include "config-paths.h"
#include "config.h"
#include "ctl.h"
#include "timeutil.h"
#include "usb-sysfs.h"

/* "1-2" or "1-2.4": a bus path. */
static bool is_bus_path(const char *s) {
        size_t n = strspn(s, "0123456789");
        if (n == 0 || s[n] != '-')
                return false;
        s += n + 1;
        return s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789.") == strlen(s) && s[strlen(s) - 1] != '.';
}

/* "0781:5567" */
static bool parse_vid_pid(const char *s, unsigned *vid, unsigned *pid) {
        return strlen(s) == 9 && s[4] == ':' && strspn(s, "0123456789abcdefABCDEF") == 4 &&
               strspn(s + 5, "0123456789abcdefABCDEF") == 4 && sscanf(s, "%4x:%4x", vid, pid) == 2;
}

static unsigned hex_sysattr(sd_device *d, const char *attr) {
        const char *v = NULL;
        unsigned x = 0;
        if (sd_device_get_sysattr_value(d, attr, &v) < 0 || sscanf(v, "%x", &x) != 1)
                return 0x10000; /* matches no id */
        return x;
}

/* Finds the plugged usb_device that arg names; prints why not. */
static int find_device(const char *arg, sd_device **ret) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
        sd_device *found = NULL;
        unsigned vid = 0, pid = 0, matches = 0;
        bool by_path = is_bus_path(arg);

        if (!by_path && !parse_vid_pid(arg, &vid, &pid)) {
                fprintf(stderr,
                        "mamorictl allow: '%s' is neither a bus path (1-2, 1-2.4) nor vendor:product (0781:5567).\n",
                        arg);
                return CTL_EXIT_USAGE;
        }
        if (sd_device_enumerator_new(&e) < 0 || sd_device_enumerator_add_match_subsystem(e, "usb", true) < 0 ||
            sd_device_enumerator_add_match_property(e, "DEVTYPE", "usb_device") < 0) {
                fprintf(stderr, "mamorictl allow: cannot enumerate USB devices.\n");
                return CTL_EXIT_FAILURE;
        }
        (void) sd_device_enumerator_allow_uninitialized(e);
        for (sd_device *d = sd_device_enumerator_get_device_first(e); d; d = sd_device_enumerator_get_device_next(e)) {
                const char *name = NULL;
                if (sd_device_get_sysname(d, &name) < 0 || startswith(name, "usb"))
                        continue;
                if (by_path ? !streq(name, arg)
                            : (hex_sysattr(d, "idVendor") != vid || hex_sysattr(d, "idProduct") != pid))
                        continue;
                if (matches++ == 0)
                        found = d;
                else {
                        if (matches == 2) {
                                const char *n0 = NULL;
                                (void) sd_device_get_sysname(found, &n0);
                                fprintf(stderr,
                                        "mamorictl allow: several %s devices are plugged in; name one by its bus path:\n  %s\n",
                                        arg, strna(n0));
                        }
                        fprintf(stderr, "  %s\n", name);
                }
        }
        if (matches == 0) {
                fprintf(stderr, "mamorictl allow: no USB device %s is plugged in (see mamorictl devices).\n", arg);
                return CTL_EXIT_FAILURE;
        }
        if (matches > 1)
                return CTL_EXIT_FAILURE;
        *ret = sd_device_ref(found);
        return 0;
}

/* The text must read back as exactly this device: the daemon's own parser
 * is the judge. */
static int verify_roundtrip(const char *text, const AllowDraft *d) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        ConfigErrors errs = { 0 };
        int r = config_load_strings("", text, &p, &errs);

        if (r < 0) {
                fprintf(stderr, "mamorictl allow: the entry does not parse (a bug):\n");
                config_errors_print(&errs, stderr);
                config_errors_done(&errs);
                return CTL_EXIT_FAILURE;
        }
        config_errors_done(&errs);
        const AllowEntry *a = p->usb.n_entries == 1 ? &p->usb.entries[0] : NULL;
        if (!a || a->vendor != d->vendor || a->product != d->product || a->any_serial != d->any_serial ||
            a->access != (d->read_only ? ALLOW_ACCESS_READ_ONLY : ALLOW_ACCESS_READ_WRITE) ||
            (!d->any_serial && (a->serial_len != d->serial_len || memcmp(a->serial, d->serial, d->serial_len) != 0))) {
                fprintf(stderr, "mamorictl allow: the entry does not read back as this device (a bug).\n");
                return CTL_EXIT_FAILURE;
        }
        return 0;
}

/* Creates path with text, root-only, all at once: written to a temporary
 * file, synced, then linked into place, which fails if path exists. */
static int write_atomic(const char *path, const char *text) {
        _cleanup_free_ char *copy = strdup(path), *tmp = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF;
        size_t len = strlen(text);
        const char *dir;

        if (!copy)
                return -ENOMEM;
        dir = dirname(copy);
        if (asprintf(&tmp, "%s/.#mamorictl.XXXXXX", dir) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* What mamorid trusts (common/trusted-file.c): root's, 0600 (allow.d
         * holds serials, which is what it takes to clone a stick). The group
         * is set too, in case the directory hands down another one. */
        if ((geteuid() == 0 && fchown(fd, 0, 0) < 0) || fchmod(fd, 0600) < 0 || write(fd, text, len) != (ssize_t) len ||
            fsync(fd) < 0) {
                int r = errno ? -errno : -EIO;
                (void) unlink(tmp);
                return r;
        }
        if (link(tmp, path) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                return r;
        }
        (void) unlink(tmp);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

static bool check_date(const char *opt, const char *v) {
        char why[DATE_REASON_MAX];
        int r;
        if (!v)
                return true;
        r = parse_date(v, NULL, NULL, NULL);
        if (r >= 0)
                return true;
        if (r == -ERANGE)
                fprintf(stderr, "mamorictl allow: %s %s is not a date that exists (%s).\n", opt, v,
                        date_nonexistent_reason(why, v));
        else
                fprintf(stderr, "mamorictl allow: %s must be a date written YYYY-MM-DD, not '%s'.\n", opt, v);
        return false;
}

/* --expires takes what the config takes (a date, or an RFC 3339 date-time),
 * and a moment already past only with --force: such an entry allows nothing. */
static bool check_expires(const char *v, bool force) {
        char why[DATE_REASON_MAX];
        usec_t at = 0, now = now_usec(CLOCK_REALTIME);
        int r;

        if (!v)
                return true;
        r = parse_expiry(v, &at);
        if (r == -ERANGE) {
                fprintf(stderr, "mamorictl allow: --expires %s is not a date that exists (%s).\n", v,
                        date_nonexistent_reason(why, v));
                return false;
        }
        if (r < 0) {
                fprintf(stderr,
                        "mamorictl allow: --expires must be a date written YYYY-MM-DD or an RFC 3339 date-time "
                        "such as 2027-03-31T17:00:00+09:00, not '%s'.\n",
                        v);
                return false;
        }
        if (at <= now && !force) {
                char buf[RFC3339_MAX];
                fprintf(stderr,
                        "mamorictl allow: --expires %s is in the past (now is %.19sZ): the entry would allow nothing.\n"
                        "Give a later date, or add --force to write it anyway.\n",
                        v, format_rfc3339(buf, now));
                return false;
        }
        return true;
}

/* The files mamorid reads: --config/--allow-dir, else the running daemon's,
 * else the default. */
static int resolve_paths(const CtlOptions *o, const char *config_opt, const char *allow_opt, char **ret_config,
                         char **ret_allow_dir) {
        _cleanup_(jputp) json_object *st = NULL;
        _cleanup_free_ char *config = NULL, *allow_dir = NULL;
        CtlOptions q = *o;

        q.quiet = true;
        if (!config_opt && !allow_opt && ctl_call(&q, "status", &st) == 0) {
                const char *c = jstr(jget(st, "policy"), "config_path"), *a = jstr(jget(st, "policy"), "allow_dir");
                config_opt = c;
                allow_opt = a;
        }
        config = strdup(config_opt ?: MAMORI_CONFIG_PATH);
        allow_dir = allow_opt ? strdup(allow_opt) : config ? config_allow_dir_for(config) : NULL;
        if (!config || !allow_dir)
                return -ENOMEM;
        *ret_config = TAKE_PTR(config);
        *ret_allow_dir = TAKE_PTR(allow_dir);
        return 0;
}

/* Whether path names a file directly in dir (both resolved). */
static bool in_dir(const char *path, const char *dir) {
        _cleanup_free_ char *copy = strdup(path), *rd = NULL, *rp = NULL;
        if (!copy)
                return false;
        rp = realpath(dirname(copy), NULL);
        rd = realpath(dir, NULL);
        return rp && rd && streq(rp, rd);
}

static bool entry_is_device(const AllowEntry *a, const AllowDraft *d) {
        if (a->bus != DEVICE_BUS_USB)
                return false;
        if (a->vendor != d->vendor || a->product != d->product || a->any_serial != d->any_serial)
                return false;
        return a->any_serial ||
               (a->serial && a->serial_len == d->serial_len && memcmp(a->serial, d->serial, d->serial_len) == 0);
}

static const char *entry_state(const AllowEntry *a, usec_t now) {
        return a->expires_at == USEC_INFINITY ? "never expires" : a->expires_at <= now ? "expired" : "in force";
}

/* Tells which entries already allow this device (or its whole model); the
 * one for this very device, if there is exactly one, in *ret_same. Returns
 * how many entries are for this very device. */
static size_t report_existing(const Policy *p, const AllowDraft *d, const AllowEntry **ret_same) {
        usec_t now = now_usec(CLOCK_REALTIME);
        size_t same = 0;

        *ret_same = NULL;
        for (size_t i = 0; i < p->usb.n_entries; i++) {
                const AllowEntry *a = &p->usb.entries[i];
                bool exact = entry_is_device(a, d);
                if (!exact && !(a->any_serial && a->vendor == d->vendor && a->product == d->product))
                        continue;
                _cleanup_free_ char *file = ctl_safe_text(a->file);
                fprintf(stderr, "mamorictl allow: %s by %s:%u (expires %s, %s).\n",
                        exact ? "already allowed" : "every device of this model is already allowed", strna(file),
                        a->line, a->expires ? a->expires : "never", entry_state(a, now));
                if (exact) {
                        same++;
                        *ret_same = a;
                }
        }
        if (same != 1)
                *ret_same = NULL;
        return same;
}

/* Replaces path's text, which must still be expected, by text: a temporary
 * file with the same owner and mode, synced, then renamed over it. */
static int replace_atomic(const char *path, const char *expected, size_t expected_len, const char *text) {
        _cleanup_free_ char *copy = strdup(path), *tmp = NULL, *now_text = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF, cur = -EBADF;
        size_t len = strlen(text);
        struct stat st;
        const char *dir;

        if (!copy)
                return -ENOMEM;
        dir = dirname(copy);
        cur = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (cur < 0 || fstat(cur, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        /* Changed since it was read and checked? Then nothing is written. */
        now_text = malloc(expected_len + 2);
        if (!now_text)
                return -ENOMEM;
        ssize_t n = read(cur, now_text, expected_len + 1);
        if (n < 0)
                return -errno;
        if ((size_t) n != expected_len || memcmp(now_text, expected, expected_len) != 0)
                return -ESTALE;
        if (asprintf(&tmp, "%s/.#mamorictl.XXXXXX", dir) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchown(fd, st.st_uid, st.st_gid) < 0 || fchmod(fd, st.st_mode & 07777) < 0 ||
            write(fd, text, len) != (ssize_t) len || fsync(fd) < 0 || rename(tmp, path) < 0) {
                int r = errno ? -errno : -EIO;
                (void) unlink(tmp);
                return r;
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

static bool same_grant(const AllowEntry *a, const AllowEntry *b) {
        return allow_entry_same_device(a, b) && a->expires_at == b->expires_at &&
               streq_ptr(a->approved_by, b->approved_by) && streq_ptr(a->ticket, b->ticket) &&
               streq_ptr(a->label, b->label) && streq_ptr(a->approved_on, b->approved_on) && a->access == b->access;
}

/* --renew: the entry's expires, approver (and approval date and ticket, when
 * given) rewritten in place, checked with the daemon's parser first: the
 * whole configuration must load, with this entry changed and no other. */
static int renew_entry(const Policy *p, const AllowEntry *a, const AllowDraft *d) {
        AllowRenewal ren = {
                .expires = d->expires, .approved_by = d->approved_by, .approved_on = d->approved_on, .ticket = d->ticket
        };
        _cleanup_(policy_unrefp) Policy *np = NULL;
        _cleanup_free_ char *text = NULL, *file = ctl_safe_text(a->file);
        _cleanup_free_ char **texts = NULL;
        _cleanup_free_ size_t *lens = NULL;
        ConfigErrors errs = { 0 };
        size_t fi = p->n_files, line = a->line;
        int r;

        for (size_t i = 1; i < p->n_files; i++)
                if (streq(p->files[i], a->file))
                        fi = i;
        if (fi == p->n_files) { /* every entry comes from one of its files */
                fprintf(stderr, "mamorictl allow: %s is not among the files read (a bug).\n", strna(file));
                return CTL_EXIT_FAILURE;
        }
        r = allow_renew_text(p->texts[fi], a->line, &ren, &text);
        if (r == -ENOTUNIQ) {
                fprintf(stderr,
                        "mamorictl allow: %s:%zu is laid out so that it cannot be renewed safely in place "
                        "(several entries or values on one line); edit it by hand.\n",
                        strna(file), line);
                return CTL_EXIT_FAILURE;
        }
        if (r < 0) {
                fprintf(stderr, "mamorictl allow: cannot renew %s:%zu: %s\n", strna(file), line, strerror(-r));
                return CTL_EXIT_FAILURE;
        }

        texts = calloc(p->n_files, sizeof(char *));
        lens = calloc(p->n_files, sizeof(size_t));
        if (!texts || !lens)
                return CTL_EXIT_FAILURE;
        for (size_t i = 0; i < p->n_files; i++) {
                texts[i] = i == fi ? text : p->texts[i];
                lens[i] = i == fi ? strlen(text) : p->text_lens[i];
        }
        r = config_load_texts(p->files, texts, lens, p->n_files, &np, &errs);
        if (r < 0) {
                fprintf(stderr, "mamorictl allow: the renewed file would not load; nothing was written:\n");
                config_errors_print(&errs, stderr);
                config_errors_done(&errs);
                return CTL_EXIT_FAILURE;
        }
        config_errors_done(&errs);
        bool ok = np->usb.n_entries == p->usb.n_entries;
        for (size_t i = 0; ok && i < p->usb.n_entries; i++) {
                const AllowEntry *o = &p->usb.entries[i], *n = &np->usb.entries[i];
                if (o != a) {
                        ok = same_grant(o, n);
                        continue;
                }
                usec_t want = 0;
                ok = allow_entry_same_device(o, n) && n->line == o->line && streq(n->file, o->file) &&
                     n->access == o->access && parse_expiry(d->expires, &want) >= 0 && n->expires_at == want &&
                     streq_ptr(n->approved_by, d->approved_by) &&
                     /* a value not given must read back unchanged, not merely be present */
                     streq_ptr(n->ticket, d->ticket ?: o->ticket) &&
                     streq_ptr(n->approved_on, d->approved_on ?: o->approved_on) && streq_ptr(n->label, o->label);
        }
        if (!ok) {
                fprintf(stderr,
                        "mamorictl allow: the renewed file does not read back as this one change (a bug); nothing was written.\n");
                return CTL_EXIT_FAILURE;
        }

        r = replace_atomic(a->file, p->texts[fi], p->text_lens[fi], text);
        if (r == -ESTALE) {
                fprintf(stderr,
                        "mamorictl allow: %s changed while it was being renewed; nothing was written. Try again.\n",
                        strna(file));
                return CTL_EXIT_FAILURE;
        }
        if (r < 0) {
                fprintf(stderr, "mamorictl allow: cannot write %s: %s\n", strna(file), strerror(-r));
                return r == -EACCES || r == -EPERM ? CTL_EXIT_PERMISSION : CTL_EXIT_FAILURE;
        }
        printf("Renewed %s:%zu: expires %s (was %s), approved by %s. Apply it with: systemctl reload mamori\n",
               strna(file), line, d->expires, a->expires ? a->expires : "never", d->approved_by);
        return CTL_EXIT_OK;
}

int verb_allow(const CtlOptions *o, int argc, char **argv) {
        enum {
                ARG_LABEL = 0x100,
                ARG_BY,
                ARG_ON,
                ARG_EXPIRES,
                ARG_TICKET,
                ARG_WRITE,
                ARG_ANY,
                ARG_RENEW,
                ARG_FORCE,
                ARG_CONFIG,
                ARG_ALLOW_DIR,
                ARG_READ_ONLY
        };
        static const struct option options[] = {
                { "label", required_argument, NULL, ARG_LABEL },
                { "approved-by", required_argument, NULL, ARG_BY },
                { "approved-on", required_argument, NULL, ARG_ON },
                { "expires", required_argument, NULL, ARG_EXPIRES },
                { "ticket", required_argument, NULL, ARG_TICKET },
                { "any-serial", no_argument, NULL, ARG_ANY },
                { "read-only", no_argument, NULL, ARG_READ_ONLY },
                { "write", required_argument, NULL, ARG_WRITE },
                { "renew", no_argument, NULL, ARG_RENEW },
                { "force", no_argument, NULL, ARG_FORCE },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "allow-dir", required_argument, NULL, ARG_ALLOW_DIR },
                {},
        };
        _cleanup_(sd_device_unrefp) sd_device *dev = NULL;
        _cleanup_(usb_device_freep) UsbDevice *u = NULL;
        _cleanup_free_ char *text = NULL, *c1 = NULL, *c2 = NULL, *c3 = NULL, *config = NULL, *allow_dir = NULL;
        _cleanup_(policy_unrefp) Policy *p = NULL;
        const AllowEntry *same = NULL;
        AllowDraft d = { 0 };
        const char *write_path = NULL, *config_opt = NULL, *allow_opt = NULL;
        bool renew = false, force = false;
        size_t n_same = 0;
        char id[10];
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case ARG_LABEL:
                        d.label = optarg;
                        break;
                case ARG_BY:
                        d.approved_by = optarg;
                        break;
                case ARG_ON:
                        d.approved_on = optarg;
                        break;
                case ARG_EXPIRES:
                        d.expires = optarg;
                        break;
                case ARG_TICKET:
                        d.ticket = optarg;
                        break;
                case ARG_ANY:
                        d.any_serial = true;
                        break;
                case ARG_READ_ONLY:
                        d.read_only = true;
                        break;
                case ARG_WRITE:
                        write_path = optarg;
                        break;
                case ARG_RENEW:
                        renew = true;
                        break;
                case ARG_FORCE:
                        force = true;
                        break;
                case ARG_CONFIG:
                        config_opt = optarg;
                        break;
                case ARG_ALLOW_DIR:
                        allow_opt = optarg;
                        break;
                default:
                        return CTL_EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                fprintf(stderr, "Usage: mamorictl allow DEVICE [--label TEXT] [--approved-by NAME] [--approved-on DATE]\n"
                                "                       [--expires DATE] [--ticket REF] [--any-serial] [--read-only]\n"
                                "                       [--write FILE | --renew]\n"
                                "                       [--force] [--config FILE] [--allow-dir DIR]\n");
                return CTL_EXIT_USAGE;
        }
        if (!check_date("--approved-on", d.approved_on) || !check_expires(d.expires, force))
                return CTL_EXIT_USAGE;
        if (d.approved_by && isempty(d.approved_by)) {
                fprintf(stderr, "mamorictl allow: --approved-by must name someone.\n");
                return CTL_EXIT_USAGE;
        }
        if (renew) {
                if (write_path || d.label || d.read_only) {
                        fprintf(stderr,
                                "mamorictl allow: --renew changes the existing entry in place; it takes no --write, --label or --read-only.\n");
                        return CTL_EXIT_USAGE;
                }
                if (!d.approved_by || !d.expires) {
                        fprintf(stderr,
                                "mamorictl allow: --renew needs --expires and --approved-by: who approved it, until when.\n");
                        return CTL_EXIT_USAGE;
                }
        }
        r = resolve_paths(o, config_opt, allow_opt, &config, &allow_dir);
        if (r < 0)
                return CTL_EXIT_FAILURE;
        if (write_path) {
                if (!d.approved_by) {
                        fprintf(stderr,
                                "mamorictl allow: --write needs --approved-by: every exception names the officer who approved it.\n");
                        return CTL_EXIT_USAGE;
                }
                if (!endswith(write_path, ".conf")) {
                        fprintf(stderr, "mamorictl allow: %s does not end in .conf; mamorid would never read it.\n",
                                write_path);
                        return CTL_EXIT_USAGE;
                }
                if (!in_dir(write_path, allow_dir) && !force) {
                        fprintf(stderr,
                                "mamorictl allow: %s is not in %s, the directory mamorid reads; it would never be applied.\n"
                                "Write it there, or add --force to write it here anyway.\n",
                                write_path, allow_dir);
                        return CTL_EXIT_USAGE;
                }
        }

        r = find_device(argv[optind], &dev);
        if (r != 0)
                return r;
        r = usb_device_new_from_sd_device(dev, &u);
        if (r < 0) {
                fprintf(stderr, "mamorictl allow: cannot read the device: %s\n", strerror(-r));
                return CTL_EXIT_FAILURE;
        }
        if (!u->has_serial && !d.any_serial && write_path) {
                fprintf(stderr,
                        "mamorictl allow: %s has no serial number, so only an entry that allows every %s can match it.\n"
                        "Add --any-serial if that is what was approved.\n",
                        u->sysname, usb_device_id(u, id));
                return CTL_EXIT_USAGE;
        }

        d.vendor = u->vendor;
        d.product = u->product;
        if (u->has_serial) {
                d.serial = u->serial_raw;
                d.serial_len = u->serial_raw_len;
        } else
                d.any_serial = true;

        /* Does an entry allow it already? The daemon's parser reads the files. */
        {
                ConfigErrors errs = { 0 };
                if (config_load(config, allow_dir, &p, &errs) >= 0)
                        n_same = report_existing(p, &d, &same);
                else if (renew) {
                        fprintf(stderr, "mamorictl allow: the configuration has errors, so nothing is renewed:\n");
                        config_errors_print(&errs, stderr);
                        if (geteuid() != 0)
                                fprintf(stderr, "Note: not root; allow.d and its entries are readable by root only.\n");
                        config_errors_done(&errs);
                        return CTL_EXIT_FAILURE;
                } else
                        fprintf(stderr,
                                "mamorictl allow: note: cannot look for an entry that allows this device already: "
                                "%s does not load (see mamorictl check-config).\n",
                                config);
                config_errors_done(&errs);
        }
        if (renew) {
                if (n_same == 0) {
                        fprintf(stderr,
                                "mamorictl allow: no entry allows %s %s yet; there is nothing to renew. Write one with --write%s.\n",
                                u->sysname, d.any_serial ? "(any serial)" : "by its serial",
                                d.any_serial ? "" : " (or, to renew an entry with any_serial = true, add --any-serial)");
                        return CTL_EXIT_FAILURE;
                }
                if (!same) {
                        fprintf(stderr,
                                "mamorictl allow: %zu entries allow this device; remove all but one, then renew it.\n",
                                n_same);
                        return CTL_EXIT_FAILURE;
                }
                return renew_entry(p, same, &d);
        }
        if (write_path && n_same > 0 && !force) {
                fprintf(stderr,
                        "mamorictl allow: a second entry for the device is not written. To extend the one above, run\n"
                        "  mamorictl allow %s --renew --expires DATE --approved-by NAME\n"
                        "or add --force to write a second entry anyway (the one that lasts longest applies).\n",
                        argv[optind]);
                return CTL_EXIT_FAILURE;
        }

        /* Device strings are sanitized: one line each, nothing that could end the comment. */
        _cleanup_free_ char *shown_dir = ctl_safe_text(allow_dir);
        if (asprintf(&c1, "%s %s%s%s, serial %s, plugged in at %s", usb_device_id(u, id), strempty(u->manufacturer),
                     u->manufacturer && u->product_name ? " " : "", strempty(u->product_name),
                     u->has_serial ? u->serial : "(none)", u->sysname) < 0 ||
            (write_path
                     ? asprintf(&c2, "Written by mamorictl allow.") < 0
                     : asprintf(&c2, "Written by mamorictl allow. Save it as %s/NAME.conf (mode 0600),",
                                strna(shown_dir)) < 0 ||
                               asprintf(&c3,
                                        "check it with 'mamorictl check-config', apply it with 'systemctl reload mamori'.") <
                                       0))
                return CTL_EXIT_FAILURE;
        const char *comments[] = { c1, c2, c3, NULL };
        d.comments = comments;

        text = allow_draft_format(&d);
        if (!text)
                return CTL_EXIT_FAILURE;
        {
                AllowDraft check = d;
                if (!check.approved_by)
                        check.approved_by = "x"; /* a template without an approver is meant to fail check-config */
                _cleanup_free_ char *t = allow_draft_format(&check);
                if (!t)
                        return CTL_EXIT_FAILURE;
                r = verify_roundtrip(t, &d);
                if (r != 0)
                        return r;
        }

        if (!write_path) {
                fputs(text, stdout);
                return CTL_EXIT_OK;
        }
        r = write_atomic(write_path, text);
        if (r == -EEXIST) {
                fprintf(stderr, "mamorictl allow: %s exists; it is not overwritten. Choose another name.\n", write_path);
                return CTL_EXIT_FAILURE;
        }
        if (r < 0) {
                fprintf(stderr, "mamorictl allow: cannot write %s: %s\n", write_path, strerror(-r));
                return r == -EACCES || r == -EPERM ? CTL_EXIT_PERMISSION : CTL_EXIT_FAILURE;
        }
        if (in_dir(write_path, allow_dir))
                printf("Wrote %s. Apply it with: systemctl reload mamori\n", write_path);
        else
                printf("Wrote %s. It is not in %s: mamorid does not read it until it is moved there.\n", write_path,
                       allow_dir);
        if (geteuid() != 0)
                printf("Note: not root, so the file is yours: mamorid reads only root's files (chown root:root %s).\n",
                       write_path);
        return CTL_EXIT_OK;
}
