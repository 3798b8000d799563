/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "readonly-decision.h"

int readonly_decision_format(const ReadonlyDecision *d, char *buf, size_t size) {
        const char *a = allow_access_to_string(d->access);
        int n;

        if (!a)
                return -EINVAL;
        n = snprintf(buf, size, "access=%s\ndevnum=%u\n", a, d->devnum);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

/* A decimal of 1..999 without sign or leading zero, up to end. */
static int parse_devnum(const char *s, const char *end, unsigned *ret) {
        size_t n = (size_t) (end - s);
        unsigned v = 0;

        if (n == 0 || n > 3 || s[0] == '0')
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        *ret = v;
        return 0;
}

int readonly_decision_parse(const char *text, size_t len, ReadonlyDecision *ret) {
        const char *p = text, *end = text + len, *eol;
        char access[16];
        ReadonlyDecision d = { 0 };
        int r;

        if (!text || len == 0 || len > READONLY_DECISION_MAX || memchr(text, 0, len))
                return -EBADMSG;
        /* line 1: access=... */
        eol = memchr(p, '\n', (size_t) (end - p));
        if (!eol || (size_t) (eol - p) < strlen("access=") || strncmp(p, "access=", 7) != 0 ||
            (size_t) (eol - p - 7) >= sizeof access)
                return -EBADMSG;
        memcpy(access, p + 7, (size_t) (eol - p - 7));
        access[eol - p - 7] = 0;
        r = allow_access_from_string(access);
        if (r < 0)
                return -EBADMSG;
        d.access = (AllowAccess) r;
        /* line 2: devnum=N, then the end */
        p = eol + 1;
        eol = memchr(p, '\n', (size_t) (end - p));
        if (!eol || eol + 1 != end || (size_t) (eol - p) < 7 || strncmp(p, "devnum=", 7) != 0)
                return -EBADMSG;
        r = parse_devnum(p + 7, eol, &d.devnum);
        if (r < 0)
                return r;
        *ret = d;
        return 0;
}

/* "N-M" with ".K" parts: digits, no empty part, no leading zero. */
static bool usb_port_chain(const char *s, size_t n) {
        size_t i = 0, part = 0;
        bool dash = false;

        if (n == 0 || n > 64)
                return false;
        for (; i < n; i++) {
                char c = s[i];
                if (c >= '0' && c <= '9') {
                        if (part == 0 && c == '0' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
                                return false;
                        part++;
                } else if ((c == '-' && !dash) || (c == '.' && dash)) {
                        if (part == 0)
                                return false;
                        dash = dash || c == '-';
                        part = 0;
                } else
                        return false;
        }
        return dash && part > 0;
}

bool readonly_is_usb_device_name(const char *s) {
        return s && usb_port_chain(s, strlen(s));
}

/* "1-2.4:1.0": the device's name, ':', configuration '.' interface number. */
static bool usb_interface_name(const char *s, size_t n, size_t *ret_dev_len) {
        const char *colon = memchr(s, ':', n);
        size_t dl, rest, dot;

        if (!colon)
                return false;
        dl = (size_t) (colon - s);
        if (!usb_port_chain(s, dl))
                return false;
        rest = n - dl - 1;
        dot = strspn(colon + 1, "0123456789");
        if (dot == 0 || dot > 3 || dot >= rest || colon[1 + dot] != '.')
                return false;
        if (strspn(colon + 2 + dot, "0123456789") != rest - dot - 1 || rest - dot - 1 == 0 || rest - dot - 1 > 3)
                return false;
        *ret_dev_len = dl;
        return true;
}

int readonly_usb_of_devpath(const char *devpath, char **ret_device, char **ret_interface) {
        const char *p, *dev = NULL, *iface = NULL;
        size_t dev_len = 0, iface_len = 0, n;

        if (!devpath || devpath[0] != '/' || strlen(devpath) > 4096 || strstr(devpath, "/../") ||
            strstr(devpath, "/./") || strstr(devpath, "//"))
                return -EINVAL;
        /* The last interface component before "/block/" decides: a block
         * device is below its interface, which is below its device, whose name
         * the interface's begins with. */
        for (p = devpath + 1; *p; p += n + (p[n] == '/')) {
                size_t dl;
                n = strcspn(p, "/");
                if (n == 5 && strncmp(p, "block", 5) == 0)
                        break;
                if (usb_interface_name(p, n, &dl) && p - devpath >= (ptrdiff_t) dl + 2 &&
                    strncmp(p - dl - 1, p, dl) == 0 && p[-dl - 2] == '/') {
                        iface = p;
                        iface_len = n;
                        dev = p - dl - 1;
                        dev_len = dl;
                }
        }
        if (!iface)
                return -ENXIO;
        *ret_device = strndup(dev, dev_len);
        *ret_interface = strndup(iface, iface_len);
        if (!*ret_device || !*ret_interface) {
                free(*ret_device);
                free(*ret_interface);
                *ret_device = *ret_interface = NULL;
                return -ENOMEM;
        }
        return 0;
}
