/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-device.h>

#include "allow-entry.h"
#include "config.h"
#include "ctl.h"
#include "timeutil.h"
#include "usb-device.h"

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
                fprintf(stderr, "mamorictl allow: '%s' is neither a bus path (1-2, 1-2.4) nor vendor:product (0781:5567).\n",
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
                if (by_path ? !streq(name, arg) : (hex_sysattr(d, "idVendor") != vid || hex_sysattr(d, "idProduct") != pid))
                        continue;
                if (matches++ == 0)
                        found = d;
                else {
                        if (matches == 2) {
                                const char *n0 = NULL;
                                (void) sd_device_get_sysname(found, &n0);
                                fprintf(stderr, "mamorictl allow: several %s devices are plugged in; name one by its bus path:\n  %s\n",
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
        /* What mamorid trusts (agent/trusted-file.c): root's, 0600 (allow.d
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
        int y, m, d;
        if (!v || parse_date(v, &y, &m, &d) >= 0)
                return true;
        fprintf(stderr, "mamorictl allow: %s must be a date written YYYY-MM-DD, not '%s'.\n", opt, v);
        return false;
}

int verb_allow(const CtlOptions *o, int argc, char **argv) {
        enum { ARG_LABEL = 0x100, ARG_BY, ARG_ON, ARG_EXPIRES, ARG_TICKET, ARG_WRITE, ARG_ANY };
        static const struct option options[] = {
                { "label", required_argument, NULL, ARG_LABEL },
                { "approved-by", required_argument, NULL, ARG_BY },
                { "approved-on", required_argument, NULL, ARG_ON },
                { "expires", required_argument, NULL, ARG_EXPIRES },
                { "ticket", required_argument, NULL, ARG_TICKET },
                { "any-serial", no_argument, NULL, ARG_ANY },
                { "write", required_argument, NULL, ARG_WRITE },
                {},
        };
        _cleanup_(sd_device_unrefp) sd_device *dev = NULL;
        _cleanup_(usb_device_freep) UsbDevice *u = NULL;
        _cleanup_free_ char *text = NULL, *c1 = NULL, *c2 = NULL, *c3 = NULL;
        AllowDraft d = { 0 };
        const char *write_path = NULL;
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
                case ARG_WRITE:
                        write_path = optarg;
                        break;
                default:
                        return CTL_EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                fprintf(stderr, "Usage: mamorictl allow DEVICE [--label TEXT] [--approved-by NAME] [--approved-on DATE]\n"
                                "                       [--expires DATE] [--ticket REF] [--any-serial] [--write FILE]\n");
                return CTL_EXIT_USAGE;
        }
        if (!check_date("--approved-on", d.approved_on) || !check_date("--expires", d.expires))
                return CTL_EXIT_USAGE;
        if (d.approved_by && isempty(d.approved_by)) {
                fprintf(stderr, "mamorictl allow: --approved-by must name someone.\n");
                return CTL_EXIT_USAGE;
        }
        if (write_path) {
                if (!d.approved_by) {
                        fprintf(stderr, "mamorictl allow: --write needs --approved-by: every exception names the officer who approved it.\n");
                        return CTL_EXIT_USAGE;
                }
                if (!endswith(write_path, ".conf")) {
                        fprintf(stderr, "mamorictl allow: %s does not end in .conf; mamorid would never read it.\n", write_path);
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
                fprintf(stderr, "mamorictl allow: %s has no serial number, so only an entry that allows every %s can match it.\n"
                                "Add --any-serial if that is what was approved.\n", u->sysname, usb_device_id(u, id));
                return CTL_EXIT_USAGE;
        }

        d.vendor = u->vendor;
        d.product = u->product;
        if (u->has_serial) {
                d.serial = u->serial_raw;
                d.serial_len = u->serial_raw_len;
        } else
                d.any_serial = true;

        /* Device strings are sanitized: one line each, nothing that could end the comment. */
        if (asprintf(&c1, "%s %s%s%s, serial %s, plugged in at %s", usb_device_id(u, id), strempty(u->manufacturer),
                     u->manufacturer && u->product_name ? " " : "", strempty(u->product_name),
                     u->has_serial ? u->serial : "(none)", u->sysname) < 0 ||
            asprintf(&c2, "Written by mamorictl allow. Save it as /etc/mamori/allow.d/NAME.conf (mode 0600),") < 0 ||
            asprintf(&c3, "check it with 'mamorictl check-config', apply it with 'systemctl reload mamori'.") < 0)
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
        printf("Wrote %s. Apply it with: systemctl reload mamori\n", write_path);
        if (geteuid() != 0)
                printf("Note: not root, so the file is yours: mamorid reads only root's files (chown root:root %s).\n",
                       write_path);
        return CTL_EXIT_OK;
}
