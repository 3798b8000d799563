/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usb-authorize.h"
#include "usb-posture.h"

/* The rule's file name, in udev's order: the first directory that has it
 * wins, so a file of that name in /etc masks the packaged one. */
static const char *const usb_posture_rule_paths[] = {
        "/etc/udev/rules.d/70-mamori.rules",           "/run/udev/rules.d/70-mamori.rules",
        "/usr/local/lib/udev/rules.d/70-mamori.rules", "/usr/lib/udev/rules.d/70-mamori.rules",
        "/lib/udev/rules.d/70-mamori.rules",
};

/* initramfs-tools (Debian) and dracut (RHEL): either puts the rule into the initramfs. */
static const char *const usb_posture_hook_paths[] = {
        "/etc/initramfs-tools/hooks/mamori",
        "/usr/share/initramfs-tools/hooks/mamori",
        "/usr/lib/dracut/modules.d/90mamori/module-setup.sh",
};

/* What the rule must say: new interfaces on a root hub start unauthorized. */
#define USB_POSTURE_RULE_NEEDLE "ATTR{interface_authorized_default}=\"0\""
#define USB_POSTURE_RULE_MAX (64 * 1024)

static char *usb_posture_path(const char *root, const char *path) {
        char *p;
        if (asprintf(&p, "%s%s", strempty(root), path) < 0)
                return NULL;
        return p;
}

/* 1: the file is a regular file holding the rule; 0: it is something else
 * (empty, /dev/null: masked; edited); -ENOENT: not there. */
static int usb_posture_rule_at(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        ssize_t n;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? -ENOENT : 0;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > USB_POSTURE_RULE_MAX)
                return 0;
        buf = malloc(USB_POSTURE_RULE_MAX + 1);
        if (!buf)
                return 0;
        n = read(fd, buf, USB_POSTURE_RULE_MAX);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        return memmem(buf, (size_t) n, USB_POSTURE_RULE_NEEDLE, strlen(USB_POSTURE_RULE_NEEDLE)) != NULL;
}

static const char *usb_posture_find_rule(const char *root) {
        for (size_t i = 0; i < ELEMENTSOF(usb_posture_rule_paths); i++) {
                _cleanup_free_ char *p = usb_posture_path(root, usb_posture_rule_paths[i]);
                int r;
                if (!p)
                        return NULL;
                r = usb_posture_rule_at(p);
                if (r == -ENOENT)
                        continue;
                return r > 0 ? usb_posture_rule_paths[i] : NULL; /* the first one found is udev's */
        }
        return NULL;
}

static const char *usb_posture_find_hook(const char *root) {
        for (size_t i = 0; i < ELEMENTSOF(usb_posture_hook_paths); i++) {
                _cleanup_free_ char *p = usb_posture_path(root, usb_posture_hook_paths[i]);
                struct stat st;
                if (!p)
                        return NULL;
                /* initramfs-tools runs only executable hooks */
                if (stat(p, &st) >= 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) && st.st_size > 0)
                        return usb_posture_hook_paths[i];
        }
        return NULL;
}

static void usb_posture_visit(const UsbDevice *d, void *userdata) {
        PostureUsb *u = userdata;
        PostureRootHub *h;
        int r;

        if (!d->is_root_hub || !d->syspath || !d->sysname)
                return;
        if (u->n_root_hubs >= POSTURE_ROOT_HUBS_MAX) {
                u->root_hubs_not_shown++;
                return;
        }
        h = &u->root_hubs[u->n_root_hubs++];
        snprintf(h->name, sizeof h->name, "%s", d->sysname);
        r = usb_authorize_get_device_default(d->syspath, &h->authorized_default);
        if (r < 0)
                h->authorized_default = INT_MIN;
        h->interface_authorized_default = usb_authorize_get_interface_default(d->syspath);
}

/* In name order: the enforcer's list order is not the posture's. */
static int usb_posture_hub_cmp(const void *a, const void *b) {
        return strverscmp(((const PostureRootHub *) a)->name, ((const PostureRootHub *) b)->name);
}

void usb_enforcer_posture(UsbEnforcer *u, const Policy *p, bool monitoring, const char *root, PostureUsb *ret) {
        assert(p);
        assert(ret);

        ret->policy_ref = p->usb.policy_ref;
        ret->block_mask = p->usb.block_mask;
        ret->fail_closed = p->failsafe;
        ret->monitoring = monitoring;
        if (u)
                usb_enforcer_foreach(u, usb_posture_visit, ret);
        qsort(ret->root_hubs, ret->n_root_hubs, sizeof ret->root_hubs[0], usb_posture_hub_cmp);
        ret->udev_rule = usb_posture_find_rule(root);
        ret->initramfs_hook = usb_posture_find_hook(root);
}
