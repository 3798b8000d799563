/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "readonly-decision.h"
#include "usb-readonly.h"

char *usb_readonly_dir(const char *runtime_dir) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s", runtime_dir, READONLY_DECISION_SUBDIR) < 0)
                return NULL;
        /* Only root writes decisions; the helper refuses a directory others can write. */
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return p; /* writing fails later, loudly */
        return p;
}

int usb_readonly_write(const char *dir, const UsbDevice *d, AllowAccess access) {
        ReadonlyDecision dec = { .access = access, .devnum = d->devnum };
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        char text[READONLY_DECISION_MAX], old[READONLY_DECISION_MAX];
        size_t len;
        int r;

        if (!readonly_is_usb_device_name(d->sysname))
                return -EINVAL; /* the name is a file name here */
        r = readonly_decision_format(&dec, text, sizeof text);
        if (r < 0)
                return r;
        len = strlen(text);
        if (asprintf(&path, "%s/%s", dir, d->sysname) < 0 || asprintf(&tmp, "%s/.#%s.XXXXXX", dir, d->sysname) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd >= 0 && read(fd, old, sizeof old) == (ssize_t) len && memcmp(old, text, len) == 0)
                return 0;
        if (fd >= 0)
                (void) close(fd);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0600) < 0 || write(fd, text, len) != (ssize_t) len || rename(tmp, path) < 0) {
                r = errno ? -errno : -EIO;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

int usb_readonly_remove(const char *dir, const char *sysname) {
        _cleanup_free_ char *path = NULL;

        if (!readonly_is_usb_device_name(sysname))
                return 0; /* never written */
        if (asprintf(&path, "%s/%s", dir, sysname) < 0)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
