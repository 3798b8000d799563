/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "usb-authorize.h"

static int usb_authorize_write_attr(const char *dir, const char *attr, const char *value) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(value);
        ssize_t l;

        if (asprintf(&p, "%s/%s", dir, attr) < 0)
                return -ENOMEM;
        /* O_TRUNC is a no-op on sysfs and keeps plain-file mocks exact. */
        fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        l = write(fd, value, len);
        if (l < 0)
                return negative_errno();
        if ((size_t) l != len)
                return -EIO;
        return 0;
}

static int usb_authorize_read_bool_attr(const char *dir, const char *attr) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        char c[4];
        ssize_t l;

        if (asprintf(&p, "%s/%s", dir, attr) < 0)
                return -ENOMEM;
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        l = read(fd, c, sizeof c);
        if (l < 0)
                return negative_errno();
        if (l == 0)
                return -ENODATA;
        return c[0] == '0' ? 0 : 1;
}

int usb_authorize_read(const char *syspath) {
        assert(syspath);
        return usb_authorize_read_bool_attr(syspath, "authorized");
}

int usb_authorize_interface(const char *syspath, const char *sysname, bool authorize) {
        int r;

        assert(syspath);
        assert(sysname);

        r = usb_authorize_write_attr(syspath, "authorized", authorize ? "1\n" : "0\n");
        if (r < 0 || !authorize)
                return r;
        /* Authorizing does not bind a driver; drivers_probe does. Failure here
         * (no matching driver loaded yet) is harmless: a driver that loads
         * later probes every authorized interface itself. */
        (void) usb_authorize_probe(sysname);
        return 0;
}

int usb_authorize_probe(const char *sysname) {
        _cleanup_free_ char *line = NULL;
        _cleanup_close_ int fd = -EBADF;
        ssize_t l;
        int n;

        assert(sysname);

        /* The kernel compares the name with sysfs_streq(), so a trailing newline
         * is fine; O_APPEND is ignored by sysfs and turns a plain-file mock into
         * a log of every name written. */
        n = asprintf(&line, "%s\n", sysname);
        if (n < 0)
                return -ENOMEM;
        fd = open("/sys/bus/usb/drivers_probe", O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        l = write(fd, line, (size_t) n);
        if (l < 0)
                return negative_errno();
        return (size_t) l == (size_t) n ? 0 : -EIO;
}

int usb_authorize_device(const char *syspath, bool authorize) {
        assert(syspath);
        return usb_authorize_write_attr(syspath, "authorized", authorize ? "1\n" : "0\n");
}

int usb_authorize_set_interface_default(const char *roothub_syspath, bool authorize) {
        assert(roothub_syspath);
        return usb_authorize_write_attr(roothub_syspath, "interface_authorized_default", authorize ? "1\n" : "0\n");
}

int usb_authorize_get_interface_default(const char *roothub_syspath) {
        assert(roothub_syspath);
        return usb_authorize_read_bool_attr(roothub_syspath, "interface_authorized_default");
}

int usb_authorize_get_device_default(const char *roothub_syspath, int *ret) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        char buf[9];
        ssize_t l;

        assert(roothub_syspath);
        assert(ret);

        if (asprintf(&p, "%s/authorized_default", roothub_syspath) < 0)
                return -ENOMEM;
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        /* sysfs writes "%d\n": a longer file, or a NUL in it, is not that */
        l = read(fd, buf, sizeof buf - 1);
        if (l < 0)
                return negative_errno();
        if ((size_t) l >= sizeof buf - 1 || memchr(buf, 0, (size_t) l))
                return -EBADMSG;
        buf[l] = 0;
        if (l > 0 && buf[l - 1] == '\n')
                buf[--l] = 0;
        if (streq(buf, "-1") || streq(buf, "0") || streq(buf, "1") || streq(buf, "2")) {
                *ret = atoi(buf);
                return 0;
        }
        return -EBADMSG;
}
