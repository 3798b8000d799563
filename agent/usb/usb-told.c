/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>

#include "log.h"
#include "macro.h"
#include "trusted-file.h"
#include "usb-told.h"

/* One entry per line; a longer line is not one. */
#define LINE_MAX_LEN 32

/* Digits of base, at least one, at most max_digits, value <= max. */
static const char *usb_told_parse_num(const char *p, const char *end, int base, unsigned max_digits, unsigned long max,
                                      unsigned long *ret) {
        unsigned long v = 0;
        unsigned n = 0;
        for (; p < end && n < max_digits; p++, n++) {
                int d;
                if (*p >= '0' && *p <= '9')
                        d = *p - '0';
                else if (base == 16 && *p >= 'a' && *p <= 'f')
                        d = *p - 'a' + 10;
                else
                        break;
                v = v * (unsigned long) base + (unsigned long) d;
        }
        if (n == 0 || v > max || (p < end && *p != ' '))
                return NULL;
        *ret = v;
        return p;
}

static bool usb_told_parse_line(const char *p, const char *end, UsbTold *ret) {
        unsigned long bus, dev, vid, pid;

        if (end - p > LINE_MAX_LEN)
                return false;
        if (!(p = usb_told_parse_num(p, end, 10, 5, 65535, &bus)) || p == end ||
            !(p = usb_told_parse_num(p + 1, end, 10, 5, 65535, &dev)) || p == end ||
            !(p = usb_told_parse_num(p + 1, end, 16, 4, 0xffff, &vid)) || p == end ||
            !(p = usb_told_parse_num(p + 1, end, 16, 4, 0xffff, &pid)) || p != end)
                return false;
        *ret = (UsbTold){
                .busnum = (unsigned) bus, .devnum = (unsigned) dev, .vendor = (uint16_t) vid, .product = (uint16_t) pid
        };
        return true;
}

int usb_told_parse(const char *buf, size_t len, UsbTold **ret, size_t *ret_n, size_t *ret_bad) {
        _cleanup_free_ UsbTold *e = NULL;
        size_t n = 0, bad = 0;
        const char *p = buf, *end = buf + len;

        assert(buf || len == 0);
        assert(ret);
        assert(ret_n);
        assert(ret_bad);

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *eol = nl ? nl : end;
                UsbTold t;

                if (eol > p) {
                        if (n >= USB_TOLD_MAX || !usb_told_parse_line(p, eol, &t))
                                bad++;
                        else {
                                UsbTold *ne = reallocarray(e, n + 1, sizeof *e);
                                if (!ne)
                                        return -ENOMEM;
                                e = ne;
                                e[n++] = t;
                        }
                }
                p = nl ? nl + 1 : end;
        }
        *ret = TAKE_PTR(e);
        *ret_n = n;
        *ret_bad = bad;
        return 0;
}

int usb_told_format(const UsbTold *e, size_t n, char **ret, size_t *ret_len) {
        _cleanup_free_ char *s = NULL;
        size_t len = 0;
        FILE *f;

        assert(e || n == 0);
        assert(ret);
        assert(ret_len);

        f = open_memstream(&s, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%u %u %04x %04x\n", e[i].busnum, e[i].devnum, e[i].vendor, e[i].product);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        *ret_len = len;
        return 0;
}

int usb_told_load(const char *path, UsbTold **ret, size_t *ret_n) {
        _cleanup_free_ char *buf = NULL, *why = NULL;
        size_t len = 0, bad = 0;
        int r;

        assert(path);
        assert(ret);
        assert(ret_n);

        r = trust_read_file(path, USB_TOLD_MAX * (LINE_MAX_LEN + 1), 0, &buf, &len, &why);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return log_warning_errno(r, "Ignoring %s, staff may be told again about plugged devices: %s", path,
                                         why ? why : strerror(-r));
        r = usb_told_parse(buf, len, ret, ret_n, &bad);
        if (r < 0)
                return log_oom();
        if (bad > 0)
                log_warning("Skipped %zu line%s of %s that %s not a device (\"BUS DEV VVVV PPPP\").", bad,
                            bad == 1 ? "" : "s", path, bad == 1 ? "is" : "are");
        return 0;
}

int usb_told_save(const char *path, const UsbTold *e, size_t n) {
        _cleanup_free_ char *buf = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0, done = 0;
        int r;

        assert(path);
        assert(e || n == 0);

        r = usb_told_format(e, n, &buf, &len);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        (void) unlink(tmp); /* whatever was there (a link, a FIFO) is not written through */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        while (done < len) {
                ssize_t l = write(fd, buf + done, len - done);
                if (l < 0 && errno == EINTR)
                        continue;
                if (l < 0) {
                        r = -errno;
                        (void) unlink(tmp);
                        return r;
                }
                done += (size_t) l;
        }
        /* /run is tmpfs, and a lost record costs one repeated notice: no fsync. */
        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}
