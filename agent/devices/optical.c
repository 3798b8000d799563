/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <systemd/sd-device.h>

#include "device-report.h"
#include "log.h"
#include "optical.h"
#include "timeutil.h"

#define ACL_XATTR "system.posix_acl_access"
#define ACL_XATTR_VERSION 2
/* Tags of the xattr form (linux/posix_acl_xattr.h). */
#define ACL_TAG_USER_OBJ 0x01
#define ACL_PERM_WRITE 0x02
/* Far more than uaccess ever adds (one entry per seat user). */
#define ACL_XATTR_MAX 4096

typedef enum OpticalAction {
        OPTICAL_OPEN,  /* nothing taken away */
        OPTICAL_WRITE, /* nodes read-only for everyone but root */
        OPTICAL_DRIVE, /* unbound from sr; sg node root's alone */
} OpticalAction;

typedef struct OpticalDrive {
        char *scsi_syspath; /* the SCSI device: the drive, whether sr is bound or not */
        char *scsi_sysname; /* "0:0:0:0", what sr's bind/unbind take */
        RemovableDevice *dev;
        OpticalAction action;
        bool reported;
        /* The last decision (mamorictl devices); its entry points into the
         * policy held, and every new policy decides the drives again. */
        Decision dec;
        bool decided;
} OpticalDrive;

/* A node being kept restricted: logind gives the seat user an ACL again
 * (rw, mask recomputed) at every session switch, and on systemd 252 udev's
 * TAG-="uaccess" does not stop it (see docs/devices-optical.md), so every
 * change of a restricted node's attributes is undone at once. */
/* The node's directory is watched, not the node: inotify on a device node
 * needs read permission, which the unit's device cgroup (DevicePolicy=closed)
 * refuses for drives that appear after the start; a directory's IN_ATTRIB
 * names the child that changed. Several nodes share their directory's wd. */
typedef struct OpticalWatch {
        int wd;
        char *name; /* the node's name in its directory: "sr0" */
        char *scsi_syspath;
} OpticalWatch;

/* Drives that appear this early after boot are the PC's own (docs/notices.md). */
#define OPTICAL_BOOT_QUIET_USEC (120 * USEC_PER_SEC)

struct OpticalEnforcer {
        sd_event *event;
        int inotify_fd;
        sd_event_source *inotify_source;
        OpticalWatch *watches;
        size_t n_watches, cap_watches;
        char *runtime_dir;
        EventEmitter emitter;
        Policy *policy;
        sd_device_monitor *monitor;
        sd_event_source *expiry; /* the next allow entry of a known drive to end */
        OpticalDrive **drives;
        size_t n_drives, cap_drives;
        bool started;
        bool enumerating; /* the drives present at start: no notices */
};

static int optical_write_udev_files(OpticalEnforcer *o);
static void optical_arm_expiry(OpticalEnforcer *o);

/* ---- the node permissions ---- */

int optical_acl_drop_write(void *buf, size_t size) {
        uint8_t *p = buf;
        uint32_t version;
        int n = 0;

        assert(buf || size == 0);
        if (size < 4 || (size - 4) % 8 != 0)
                return -EINVAL;
        memcpy(&version, p, 4);
        if (le32toh(version) != ACL_XATTR_VERSION)
                return -EINVAL;
        for (size_t off = 4; off < size; off += 8) {
                uint16_t tag, perm;

                memcpy(&tag, p + off, 2);
                memcpy(&perm, p + off + 2, 2);
                tag = le16toh(tag);
                perm = le16toh(perm);
                /* The owner (root) keeps its rights; everyone else, named or
                 * not, and the mask that caps them, lose write. */
                if (tag == ACL_TAG_USER_OBJ || !(perm & ACL_PERM_WRITE))
                        continue;
                perm = htole16(perm & ~ACL_PERM_WRITE);
                memcpy(p + off + 2, &perm, 2);
                n++;
        }
        return n;
}

/* The node of devname, checked to still be that device. MAMORI_DEV_ROOT (tests
 * only) puts /dev somewhere else, with plain files for nodes. */
static int optical_node_path(sd_device *d, char **ret_path, dev_t *ret_devnum) {
        const char *devname, *root = getenv("MAMORI_DEV_ROOT");
        dev_t devnum;
        int r;

        r = sd_device_get_devname(d, &devname);
        if (r < 0)
                return r;
        r = sd_device_get_devnum(d, &devnum);
        if (r < 0)
                return r;
        /* A hostile udev database must not point us at another file. */
        if (!startswith(devname, "/dev/") || strstr(devname, "/.") || strlen(devname) > 255)
                return -EINVAL;
        if (asprintf(ret_path, "%s%s", root ? root : "", devname) < 0)
                return -ENOMEM;
        *ret_devnum = devnum;
        return 0;
}

static int optical_node_restrict(const char *path, dev_t devnum, OpticalAction action) {
        uint8_t acl[ACL_XATTR_MAX];
        struct stat st;
        mode_t mode;
        ssize_t n;
        int r;

        if (lstat(path, &st) < 0)
                return negative_errno();
        if (getenv("MAMORI_DEV_ROOT") ? !S_ISREG(st.st_mode)
                                      : (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) || st.st_rdev != devnum)
                return -ESTALE;
        /* On a node with an ACL, chmod sets the mask, which caps every named
         * entry at once; the ACL's own entries are cleared below as well, so a
         * mask that someone recomputes later still gives nobody write. */
        mode = action == OPTICAL_DRIVE ? (st.st_mode & 0600) : (st.st_mode & 07755);
        if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
                return negative_errno();
        /* Only what changes is written: every write is an IN_ATTRIB that
         * brings us back here (removing an absent ACL still succeeds). */
        n = lgetxattr(path, ACL_XATTR, acl, sizeof acl);
        if (n < 0)
                return errno == ENODATA || errno == EOPNOTSUPP ? 0 : negative_errno();
        if (action == OPTICAL_DRIVE)
                return lremovexattr(path, ACL_XATTR) < 0 && errno != ENODATA ? negative_errno() : 0;
        r = optical_acl_drop_write(acl, (size_t) n);
        if (r <= 0)
                return r;
        if (lsetxattr(path, ACL_XATTR, acl, (size_t) n, 0) < 0)
                return negative_errno();
        return 0;
}

/* ---- sysfs ---- */

static int optical_write_file(const char *path, const char *value) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(value);
        ssize_t l;

        /* O_APPEND is ignored by sysfs and turns a plain-file mock into a log. */
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        l = write(fd, value, len);
        if (l < 0)
                return negative_errno();
        return (size_t) l == len ? 0 : -EIO;
}

static int optical_sr_bind(const OpticalDrive *drive, bool bind) {
        _cleanup_free_ char *line = NULL;
        int r;

        if (asprintf(&line, "%s\n", drive->scsi_sysname) < 0)
                return -ENOMEM;
        r = optical_write_file(bind ? "/sys/bus/scsi/drivers/sr/bind" : "/sys/bus/scsi/drivers/sr/unbind", line);
        /* ENODEV: not bound (unbind) or gone; EBUSY: already bound (bind) */
        return (r == -ENODEV && !bind) || (r == -EBUSY && bind) ? 0 : r;
}

/* Asks udev to run its rules again (uaccess ACL, MODE) on the drive's nodes. */
static void optical_trigger_change(sd_device *d) {
        (void) sd_device_set_sysattr_value(d, "uevent", "change");
}

/* Applies fn to the sr and sg devices under the drive's SCSI device. */
static void optical_foreach_node(const OpticalDrive *drive, void (*fn)(sd_device *d, void *userdata), void *userdata) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
        _cleanup_(sd_device_unrefp) sd_device *scsi = NULL;

        if (sd_device_new_from_syspath(&scsi, drive->scsi_syspath) < 0 || sd_device_enumerator_new(&e) < 0 ||
            sd_device_enumerator_add_match_parent(e, scsi) < 0 ||
            sd_device_enumerator_add_match_subsystem(e, "block", true) < 0 ||
            sd_device_enumerator_add_match_subsystem(e, "scsi_generic", true) < 0)
                return;
        (void) sd_device_enumerator_allow_uninitialized(e);
        for (sd_device *d = sd_device_enumerator_get_device_first(e); d; d = sd_device_enumerator_get_device_next(e))
                fn(d, userdata);
}

typedef struct RestrictCtx {
        OpticalEnforcer *o;
        const char *scsi_syspath;
        OpticalAction action;
        int error;
} RestrictCtx;

static bool optical_wd_in_use(const OpticalEnforcer *o, int wd) {
        for (size_t i = 0; i < o->n_watches; i++)
                if (o->watches[i].wd == wd)
                        return true;
        return false;
}

static void optical_watch_node(OpticalEnforcer *o, const char *path, const char *scsi_syspath) {
        _cleanup_free_ char *dir = NULL;
        const char *name;
        OpticalWatch *w;
        int wd;

        if (o->inotify_fd < 0)
                return;
        name = strrchr(path, '/');
        if (!name || isempty(name + 1))
                return;
        dir = strndup(path, name == path ? 1 : (size_t) (name - path));
        if (!dir)
                return (void) log_oom();
        name++;
        wd = inotify_add_watch(o->inotify_fd, dir, IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW);
        if (wd < 0) {
                log_warning_errno(negative_errno(), "Cannot watch %s for %s: %m", dir, name);
                return;
        }
        for (size_t i = 0; i < o->n_watches; i++)
                if (o->watches[i].wd == wd && streq(o->watches[i].name, name)) {
                        if (free_and_strdup(&o->watches[i].scsi_syspath, scsi_syspath) < 0)
                                (void) log_oom();
                        return;
                }
        if (GROW_ARRAY(o->watches, o->cap_watches, o->n_watches + 1, 4) < 0) {
                if (!optical_wd_in_use(o, wd))
                        (void) inotify_rm_watch(o->inotify_fd, wd);
                (void) log_oom();
                return;
        }
        w = &o->watches[o->n_watches];
        *w = (OpticalWatch){ .wd = wd, .name = strdup(name), .scsi_syspath = strdup(scsi_syspath) };
        if (!w->name || !w->scsi_syspath) {
                free(w->name);
                free(w->scsi_syspath);
                if (!optical_wd_in_use(o, wd))
                        (void) inotify_rm_watch(o->inotify_fd, wd);
                (void) log_oom();
                return;
        }
        o->n_watches++;
}

static void optical_restrict_one(sd_device *d, void *userdata) {
        _cleanup_free_ char *path = NULL;
        RestrictCtx *c = userdata;
        const char *sysname = NULL;
        dev_t devnum;
        int r;

        (void) sd_device_get_sysname(d, &sysname);
        r = optical_node_path(d, &path, &devnum);
        if (r >= 0)
                r = optical_node_restrict(path, devnum, c->action);
        if (r < 0 && r != -ENOENT) {
                log_warning_errno(r, "Cannot restrict the node of %s: %m", strna(sysname));
                if (c->error == 0)
                        c->error = r;
        }
        if (r >= 0 && c->o)
                optical_watch_node(c->o, path, c->scsi_syspath);
}

static void optical_change_one(sd_device *d, void *userdata) {
        optical_trigger_change(d);
}

/* ---- the drives ---- */

static OpticalDrive *optical_drive_free(OpticalDrive *drive) {
        if (!drive)
                return NULL;
        free(drive->scsi_syspath);
        free(drive->scsi_sysname);
        removable_device_free(drive->dev);
        free(drive);
        return NULL;
}
DEFINE_POINTER_CLEANUP(OpticalDrive, optical_drive_free);

static OpticalDrive *optical_find(OpticalEnforcer *o, const char *scsi_syspath, size_t *ret_index) {
        for (size_t i = 0; i < o->n_drives; i++)
                if (streq(o->drives[i]->scsi_syspath, scsi_syspath)) {
                        if (ret_index)
                                *ret_index = i;
                        return o->drives[i];
                }
        return NULL;
}

static void optical_unwatch(OpticalEnforcer *o, const char *scsi_syspath, int wd) {
        for (size_t i = 0; i < o->n_watches;) {
                OpticalWatch *w = &o->watches[i];
                int gone;

                if (scsi_syspath ? !streq(w->scsi_syspath, scsi_syspath) : w->wd != wd) {
                        i++;
                        continue;
                }
                gone = w->wd;
                free(w->name);
                free(w->scsi_syspath);
                memmove(w, w + 1, (o->n_watches - i - 1) * sizeof *w);
                o->n_watches--;
                /* the directory stays watched while another node in it is */
                if (scsi_syspath && o->inotify_fd >= 0 && !optical_wd_in_use(o, gone))
                        (void) inotify_rm_watch(o->inotify_fd, gone);
        }
}

static void optical_forget(OpticalEnforcer *o, const char *scsi_syspath) {
        size_t i;

        if (!optical_find(o, scsi_syspath, &i))
                return;
        optical_unwatch(o, scsi_syspath, -1);
        optical_drive_free(o->drives[i]);
        memmove(o->drives + i, o->drives + i + 1, (o->n_drives - i - 1) * sizeof *o->drives);
        o->n_drives--;
}

static void optical_report(OpticalEnforcer *o, OpticalDrive *drive, const Decision *dec) {
        _cleanup_(event_freep) Event *e = NULL;
        NoticeDevice nd;
        int r;

        r = device_report_build(o->policy, drive->dev, dec, &e);
        if (r < 0) {
                log_error_errno(r, "Cannot build the event of optical drive %s: %m", drive->dev->sysname);
                return;
        }
        device_report_notice_device(drive->dev, &nd);
        /* A drive found at start, or while the PC still boots (sr may probe
         * after mamorid starts), is built in and was there yesterday: its
         * block is not news to the person at the seat (every boot would say
         * it). One plugged in later, or blocked by a reload, is. */
        (void) event_emit(&o->emitter, TAKE_PTR(e),
                          &(EventContext){ .decision = dec,
                                           .removable = o->enumerating || now_usec(CLOCK_BOOTTIME) < OPTICAL_BOOT_QUIET_USEC
                                                                ? NULL
                                                                : &nd,
                                           .now = now_usec(CLOCK_REALTIME) });
}

/* Decides the drive and brings its nodes and binding in line; reports a
 * decision that is new (first sight, or changed by a reload). */
static void optical_apply(OpticalEnforcer *o, OpticalDrive *drive, bool sr_present) {
        const char *const *id = (const char *const *) drive->dev->id;
        usec_t now = now_usec(CLOCK_REALTIME);
        Decision dec, dec_write;
        OpticalAction action, was = drive->action;
        RestrictCtx ctx;

        dec = policy_decide_device(o->policy, DEVICE_CATEGORY_OPTICAL, id, now);
        dec_write = policy_decide_device(o->policy, DEVICE_CATEGORY_OPTICAL_WRITE, id, now);
        if (dec.relevant && !dec.allow)
                action = OPTICAL_DRIVE;
        else if (dec_write.relevant && !dec_write.allow)
                action = OPTICAL_WRITE;
        else
                action = OPTICAL_OPEN;
        /* What the event names: the level that acts, or (allowed) the
         * strongest level the entry lifted. */
        if (action == OPTICAL_WRITE || (action == OPTICAL_OPEN && !dec.relevant)) {
                dec = dec_write;
                drive->dev->category = DEVICE_CATEGORY_OPTICAL_WRITE;
        } else
                drive->dev->category = DEVICE_CATEGORY_OPTICAL;

        ctx = (RestrictCtx){ .o = o, .scsi_syspath = drive->scsi_syspath, .action = action };
        if (action != OPTICAL_OPEN)
                optical_foreach_node(drive, optical_restrict_one, &ctx);
        if (action == OPTICAL_DRIVE && sr_present) {
                int r = optical_sr_bind(drive, false);
                if (r < 0) {
                        log_error_errno(r, "Cannot unbind optical drive %s from sr: %m", drive->scsi_sysname);
                        ctx.error = r;
                }
        } else if (was == OPTICAL_DRIVE && action != OPTICAL_DRIVE && !sr_present) {
                /* sr's add then brings the block device, and udev its rules. */
                int r = optical_sr_bind(drive, true);
                if (r < 0)
                        log_error_errno(r, "Cannot bind optical drive %s to sr again: %m", drive->scsi_sysname);
        }
        if (action < was)
                /* udev gives back what its rules give (uaccess, MODE) */
                optical_foreach_node(drive, optical_change_one, NULL);
        drive->action = action;
        drive->dec = dec;
        drive->decided = true;
        /* Only a block that was meant and failed is reported as failed. */
        drive->dev->block_error = ctx.error;
        if ((!drive->reported || action != was) && (dec.relevant || drive->reported)) {
                drive->reported = true;
                optical_report(o, drive, &dec);
        }
}

static int optical_snapshot(sd_device *block, sd_device *scsi, RemovableDevice **ret) {
        _cleanup_(removable_device_freep) RemovableDevice *d = NULL;
        const char *syspath, *sysname = NULL, *v;

        if (sd_device_get_syspath(scsi, &syspath) < 0)
                return -EINVAL;
        (void) sd_device_get_sysname(block, &sysname);
        d = removable_device_new(DEVICE_BUS_OPTICAL, DEVICE_CATEGORY_OPTICAL_WRITE, syspath, sysname);
        if (!d)
                return -ENOMEM;
        /* A missing or malformed ID_SERIAL leaves id[0] NULL: nothing allows it. */
        if (sd_device_get_property_value(block, "ID_SERIAL", &v) >= 0 && removable_device_set_id(d, 0, v) == -ENOMEM)
                return -ENOMEM;
        if (sd_device_get_property_value(block, "ID_VENDOR", &v) >= 0 ||
            sd_device_get_sysattr_value(scsi, "vendor", &v) >= 0)
                if (removable_device_set_text(&d->vendor, v) < 0)
                        return -ENOMEM;
        if (sd_device_get_property_value(block, "ID_MODEL", &v) >= 0 ||
            sd_device_get_sysattr_value(scsi, "model", &v) >= 0)
                if (removable_device_set_text(&d->model, v) < 0)
                        return -ENOMEM;
        if (removable_device_set_text(&d->driver, "sr") < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(d);
        return 0;
}

static void optical_handle_sr(OpticalEnforcer *o, sd_device *block, sd_device_action_t action) {
        _cleanup_(optical_drive_freep) OpticalDrive *fresh = NULL;
        _cleanup_(removable_device_freep) RemovableDevice *snap = NULL;
        const char *scsi_syspath, *scsi_sysname;
        OpticalDrive *drive;
        sd_device *scsi;

        if (sd_device_get_parent_with_subsystem_devtype(block, "scsi", "scsi_device", &scsi) < 0 ||
            sd_device_get_syspath(scsi, &scsi_syspath) < 0 || sd_device_get_sysname(scsi, &scsi_sysname) < 0)
                return;
        drive = optical_find(o, scsi_syspath, NULL);
        if (action == SD_DEVICE_REMOVE) {
                /* Our own unbind removes sr; the drive stays known to be let back. */
                if (drive && drive->action != OPTICAL_DRIVE)
                        optical_forget(o, scsi_syspath);
                return;
        }
        if (drive && drive->action == OPTICAL_DRIVE) {
                /* The uevents of an sr we unbound (its teardown: change,
                 * remove) say nothing new and lack udev's properties; only an
                 * add (sr bound again, by someone) is decided afresh. */
                if (action != SD_DEVICE_ADD)
                        return;
                drive->action = OPTICAL_OPEN;
        }
        if (optical_snapshot(block, scsi, &snap) < 0) {
                log_oom();
                return;
        }
        if (!drive) {
                fresh = calloc(1, sizeof *fresh);
                if (!fresh || !(fresh->scsi_syspath = strdup(scsi_syspath)) ||
                    !(fresh->scsi_sysname = strdup(scsi_sysname)) ||
                    GROW_ARRAY(o->drives, o->cap_drives, o->n_drives + 1, 4) < 0) {
                        log_oom();
                        return;
                }
                fresh->action = OPTICAL_OPEN;
                drive = o->drives[o->n_drives++] = TAKE_PTR(fresh);
        } else if (drive->dev && !streq_ptr(drive->dev->id[0], snap->id[0]))
                drive->reported = false; /* another drive under the same name: a new decision */
        removable_device_free(drive->dev);
        drive->dev = TAKE_PTR(snap);
        optical_apply(o, drive, true);
        optical_arm_expiry(o);
}

static void optical_handle_sg(OpticalEnforcer *o, sd_device *sg) {
        const char *scsi_syspath;
        OpticalDrive *drive;
        sd_device *scsi;
        RestrictCtx ctx;

        if (sd_device_get_parent_with_subsystem_devtype(sg, "scsi", "scsi_device", &scsi) < 0 ||
            sd_device_get_syspath(scsi, &scsi_syspath) < 0)
                return;
        drive = optical_find(o, scsi_syspath, NULL);
        if (!drive || drive->action == OPTICAL_OPEN)
                return;
        /* udev ran its rules again (a change, a trigger): restrict again. */
        ctx = (RestrictCtx){ .o = o, .scsi_syspath = drive->scsi_syspath, .action = drive->action };
        optical_restrict_one(sg, &ctx);
}

static void optical_handle(OpticalEnforcer *o, sd_device *d, sd_device_action_t action) {
        const char *subsystem, *sysname;

        if (!o->policy || sd_device_get_subsystem(d, &subsystem) < 0 || sd_device_get_sysname(d, &sysname) < 0)
                return;
        if (streq(subsystem, "block") && startswith(sysname, "sr"))
                optical_handle_sr(o, d, action);
        else if (streq(subsystem, "scsi_generic") && action != SD_DEVICE_REMOVE)
                optical_handle_sg(o, d);
        else if (streq(subsystem, "scsi") && action == SD_DEVICE_REMOVE) {
                const char *syspath;
                if (sd_device_get_syspath(d, &syspath) >= 0)
                        optical_forget(o, syspath);
        }
}

static int optical_on_uevent(sd_device_monitor *mon, sd_device *d, void *userdata) {
        sd_device_action_t action;

        if (sd_device_get_action(d, &action) >= 0)
                optical_handle(userdata, d, action);
        return 0;
}

static int optical_on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        OpticalEnforcer *o = userdata;
        union {
                struct inotify_event ev;
                uint8_t raw[4096];
        } buf;
        ssize_t n;

        n = read(fd, &buf, sizeof buf);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : log_error_errno(negative_errno(), "inotify: %m");
        for (uint8_t *p = buf.raw; p + sizeof(struct inotify_event) <= buf.raw + n;) {
                struct inotify_event *ev = (struct inotify_event *) p;
                OpticalDrive *drive = NULL;

                p += sizeof *ev + ev->len;
                if (ev->mask & IN_IGNORED) {
                        optical_unwatch(o, NULL, ev->wd);
                        continue;
                }
                if (ev->len == 0)
                        continue; /* the directory itself */
                for (size_t i = 0; i < o->n_watches && !drive; i++)
                        if (o->watches[i].wd == ev->wd && streq(o->watches[i].name, ev->name))
                                drive = optical_find(o, o->watches[i].scsi_syspath, NULL);
                if (drive && drive->action != OPTICAL_OPEN) {
                        RestrictCtx ctx = { .o = o, .scsi_syspath = drive->scsi_syspath, .action = drive->action };
                        /* Idempotent: our own change brings one more event, then none. */
                        optical_foreach_node(drive, optical_restrict_one, &ctx);
                }
        }
        return 0;
}

/* ---- expiry ---- */

static int optical_on_expiry(sd_event_source *s, uint64_t usec, void *userdata) {
        OpticalEnforcer *o = userdata;

        /* The ended entry leaves udev's files and its drive is decided again. */
        (void) optical_write_udev_files(o);
        for (size_t i = 0; i < o->n_drives; i++)
                optical_apply(o, o->drives[i], o->drives[i]->action != OPTICAL_DRIVE);
        optical_arm_expiry(o);
        return 0;
}

/* A drive allowed by an entry with an end is decided again at that end. */
static void optical_arm_expiry(OpticalEnforcer *o) {
        usec_t next = USEC_INFINITY;
        int r;

        for (size_t i = 0; i < o->n_drives; i++)
                if (o->drives[i]->decided && o->drives[i]->dec.changes_at < next)
                        next = o->drives[i]->dec.changes_at;
        if (next == USEC_INFINITY) {
                if (o->expiry)
                        (void) sd_event_source_set_enabled(o->expiry, SD_EVENT_OFF);
                return;
        }
        if (o->expiry) {
                r = sd_event_source_set_time(o->expiry, next);
                if (r >= 0)
                        r = sd_event_source_set_enabled(o->expiry, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(o->event, &o->expiry, CLOCK_REALTIME, next, USEC_PER_SEC / 10, optical_on_expiry,
                                      o);
        if (r < 0)
                log_error_errno(r, "Cannot arm the expiry of optical drive approvals: %m");
}

/* ---- mamorictl devices ---- */

void optical_enforcer_write_devices(OpticalEnforcer *o, JsonWriter *w) {
        assert(w);

        for (size_t i = 0; o && i < o->n_drives; i++) {
                const OpticalDrive *d = o->drives[i];
                const Decision *dec = &d->dec;
                bool blocked = dec->relevant && !dec->allow;

                if (!d->decided || !d->dev)
                        continue;
                json_object_begin(w);
                device_report_write_device(w, d->dev);
                json_key(w, "decision");
                json_object_begin(w);
                json_kv_string(w, "action", !dec->relevant ? "none" : blocked ? "blocked" : "allowed");
                json_kv_string(w, "reason",
                               dec->relevant ? decision_reason_to_string(dec->reason) : "category_not_blocked");
                json_kv_string(w, "explanation", device_report_explanation(d->dev, dec));
                json_kv_string(w, "level",
                               d->action == OPTICAL_DRIVE   ? "drive"
                               : d->action == OPTICAL_WRITE ? "write"
                                                            : "none");
                if (dec->entry) {
                        json_key(w, "rule");
                        json_object_begin(w);
                        json_kv_string(w, "file", dec->entry->file);
                        json_kv_uint(w, "line", dec->entry->line);
                        if (dec->entry->label)
                                json_kv_string(w, "label", dec->entry->label);
                        json_object_end(w);
                }
                json_object_end(w);
                json_object_end(w);
        }
}

/* ---- udev's decision files ---- */

/* A name udev can look up as it is: what udev itself leaves in ID_SERIAL
 * (alphanumerics and "#+-.:=@_"), never "." or "..". */
static bool optical_serial_is_filename(const char *s) {
        if (!s || s[0] == '.' || strlen(s) > DEVICE_ID_VALUE_MAX)
                return false;
        for (const char *c = s; *c; c++)
                if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      strchr("#+-.:=@_", *c)))
                        return false;
        return true;
}

static int optical_flag(const char *dir, const char *name, bool on) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        if (!on)
                return unlink(p) < 0 && errno != ENOENT ? negative_errno() : 0;
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        return fd < 0 ? negative_errno() : 0;
}

static int optical_write_udev_files(OpticalEnforcer *o) {
        _cleanup_free_ char *dir = NULL, *allow = NULL;
        _cleanup_(closedirp_) DIR *dd = NULL;
        unsigned mask = o->policy->devices.block_mask;
        usec_t now = now_usec(CLOCK_REALTIME);
        int r;

        if (asprintf(&dir, "%s/optical", o->runtime_dir) < 0 || asprintf(&allow, "%s/allow", dir) < 0)
                return -ENOMEM;
        /* Root's alone: the names are the serials of approved drives (udev runs as root). */
        (void) mkdir(dir, 0700);
        (void) chmod(dir, 0700);
        (void) mkdir(allow, 0700);
        /* Entries first: a drive plugged meanwhile is blocked, never let through. */
        r = optical_flag(dir, "block-drive", mask & DEVICE_CATEGORY_BIT(DEVICE_CATEGORY_OPTICAL));
        if (r >= 0)
                r = optical_flag(dir, "block-write", mask & DEVICE_CATEGORY_BIT(DEVICE_CATEGORY_OPTICAL_WRITE));
        if (r < 0)
                return r;
        dd = opendir(allow);
        if (!dd)
                return negative_errno();
        for (struct dirent *de = readdir(dd); de; de = readdir(dd))
                if (de->d_name[0] != '.')
                        (void) unlinkat(dirfd(dd), de->d_name, 0);
        for (size_t k = 0; !o->policy->failsafe && k < o->policy->usb.n_entries; k++) {
                const AllowEntry *e = &o->policy->usb.entries[k];

                if (e->bus != DEVICE_BUS_OPTICAL || (e->expires_at != USEC_INFINITY && now >= e->expires_at))
                        continue;
                /* Other serials cannot come from udev; mamorid still decides them. */
                if (!optical_serial_is_filename(e->id[0]))
                        continue;
                r = optical_flag(allow, e->id[0], true);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- lifecycle ---- */

int optical_enforcer_new(sd_event *event, const char *runtime_dir, EventEmitter emitter, OpticalEnforcer **ret) {
        _cleanup_(optical_enforcer_freep) OpticalEnforcer *o = NULL;

        assert(event);
        assert(runtime_dir);
        assert(ret);

        o = calloc(1, sizeof *o);
        if (!o)
                return -ENOMEM;
        o->event = sd_event_ref(event);
        o->inotify_fd = -EBADF;
        o->emitter = emitter;
        o->runtime_dir = strdup(runtime_dir);
        if (!o->runtime_dir)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

OpticalEnforcer *optical_enforcer_free(OpticalEnforcer *o) {
        if (!o)
                return NULL;
        if (o->monitor) {
                (void) sd_device_monitor_stop(o->monitor);
                sd_device_monitor_unref(o->monitor);
        }
        for (size_t i = 0; i < o->n_drives; i++)
                optical_drive_free(o->drives[i]);
        free(o->drives);
        for (size_t i = 0; i < o->n_watches; i++) {
                free(o->watches[i].name);
                free(o->watches[i].scsi_syspath);
        }
        free(o->watches);
        sd_event_source_disable_unref(o->inotify_source);
        sd_event_source_disable_unref(o->expiry);
        if (o->inotify_fd >= 0)
                (void) close(o->inotify_fd);
        policy_unref(o->policy);
        free(o->runtime_dir);
        sd_event_unref(o->event);
        free(o);
        return NULL;
}

void optical_enforcer_set_policy(OpticalEnforcer *o, Policy *p) {
        int r;

        assert(o);
        assert(p);

        policy_unref(o->policy);
        o->policy = policy_ref(p);
        r = optical_write_udev_files(o);
        if (r < 0)
                log_error_errno(r, "Cannot write udev's optical drive decisions under %s: %m", o->runtime_dir);
        if (!o->started)
                return;
        for (size_t i = 0; i < o->n_drives; i++)
                optical_apply(o, o->drives[i], o->drives[i]->action != OPTICAL_DRIVE);
        optical_arm_expiry(o);
}

/* Drives left unbound from sr (by an earlier mamorid) are probed again, so
 * that their identity is seen and decided under the policy in force. */
static void optical_probe_unbound(void) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;

        if (sd_device_enumerator_new(&e) < 0 || sd_device_enumerator_add_match_subsystem(e, "scsi", true) < 0 ||
            sd_device_enumerator_add_match_property(e, "DEVTYPE", "scsi_device") < 0)
                return;
        for (sd_device *d = sd_device_enumerator_get_device_first(e); d; d = sd_device_enumerator_get_device_next(e)) {
                _cleanup_free_ char *line = NULL;
                const char *type, *driver, *sysname;

                if (sd_device_get_sysattr_value(d, "type", &type) < 0 || !(streq(type, "5") || streq(type, "4")) ||
                    sd_device_get_driver(d, &driver) >= 0 || sd_device_get_sysname(d, &sysname) < 0)
                        continue;
                if (asprintf(&line, "%s\n", sysname) >= 0)
                        (void) optical_write_file("/sys/bus/scsi/drivers_probe", line);
        }
}

int optical_enforcer_start(OpticalEnforcer *o) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
        int r;

        assert(o);
        assert(o->policy);

        r = sd_device_monitor_new(&o->monitor);
        if (r < 0)
                return log_error_errno(r, "Cannot open the udev monitor for optical drives: %m");
        r = sd_device_monitor_filter_add_match_subsystem_devtype(o->monitor, "block", "disk");
        if (r >= 0)
                r = sd_device_monitor_filter_add_match_subsystem_devtype(o->monitor, "scsi_generic", NULL);
        if (r >= 0)
                r = sd_device_monitor_filter_add_match_subsystem_devtype(o->monitor, "scsi", "scsi_device");
        if (r >= 0)
                r = sd_device_monitor_attach_event(o->monitor, o->event);
        if (r >= 0)
                r = sd_device_monitor_start(o->monitor, optical_on_uevent, o);
        if (r < 0)
                return log_error_errno(r, "Cannot start the udev monitor for optical drives: %m");
        (void) sd_event_source_set_priority(sd_device_monitor_get_event_source(o->monitor), SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_device_monitor_set_description(o->monitor, "optical-monitor");
        o->started = true;

        /* Without it the nodes are still restricted at every uevent. */
        o->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        r = o->inotify_fd < 0
                    ? negative_errno()
                    : sd_event_add_io(o->event, &o->inotify_source, o->inotify_fd, EPOLLIN, optical_on_inotify, o);
        if (r < 0) {
                log_warning_errno(r, "Cannot watch optical drive nodes: %m");
                if (o->inotify_fd >= 0)
                        (void) close(o->inotify_fd);
                o->inotify_fd = -EBADF;
        } else
                (void) sd_event_source_set_priority(o->inotify_source, SD_EVENT_PRIORITY_IMPORTANT);

        r = sd_device_enumerator_new(&e);
        if (r >= 0)
                r = sd_device_enumerator_add_match_subsystem(e, "block", true);
        if (r >= 0)
                r = sd_device_enumerator_add_match_sysname(e, "sr*");
        if (r < 0)
                return log_error_errno(r, "Cannot enumerate optical drives: %m");
        (void) sd_device_enumerator_allow_uninitialized(e);
        o->enumerating = true;
        for (sd_device *d = sd_device_enumerator_get_device_first(e); d; d = sd_device_enumerator_get_device_next(e))
                optical_handle(o, d, SD_DEVICE_ADD);
        o->enumerating = false;
        optical_probe_unbound();
        return 0;
}
