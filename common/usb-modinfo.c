/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "usb-drivers.h"
#include "usb-modinfo.h"

#define PATTERN_MAX 256

void usb_builtin_aliases_done(UsbBuiltinAliases *a) {
        assert(a);

        for (size_t i = 0; i < a->n; i++) {
                free(a->items[i].module);
                free(a->items[i].pattern);
        }
        free(a->items);
        *a = (UsbBuiltinAliases){ 0 };
}

static bool usb_modinfo_pattern_valid(const char *p, size_t len) {
        if (len <= 4 || len > PATTERN_MAX || memcmp(p, "usb:", 4) != 0)
                return false;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) p[i] <= ' ' || (unsigned char) p[i] >= 0x7f)
                        return false;
        return true;
}

/* One record: "module.alias=pattern". */
static int usb_modinfo_parse_record(const char *r, size_t len, UsbBuiltinAliases *a, size_t *cap) {
        static const char key[] = ".alias=";
        const char *dot = NULL;
        char name[USB_DRIVER_NAME_MAX + 1];
        size_t nlen;

        for (size_t i = 0; i + sizeof key - 1 <= len; i++)
                if (memcmp(r + i, key, sizeof key - 1) == 0) {
                        dot = r + i;
                        break;
                }
        if (!dot)
                return 0;
        nlen = (size_t) (dot - r);
        if (nlen == 0 || nlen > USB_DRIVER_NAME_MAX)
                return 0;
        memcpy(name, r, nlen);
        name[nlen] = 0;
        if (!usb_driver_name_valid(name))
                return 0;
        r = dot + sizeof key - 1;
        len -= nlen + sizeof key - 1;
        if (!usb_modinfo_pattern_valid(r, len) || a->n >= USB_MODINFO_MAX_ALIASES)
                return 0;
        if (grow_array((void **) &a->items, cap, a->n + 1, sizeof *a->items, 64) < 0)
                return -ENOMEM;
        a->items[a->n] = (UsbBuiltinAlias){ .module = strdup(name), .pattern = strndup(r, len) };
        if (!a->items[a->n].module || !a->items[a->n].pattern) {
                free(a->items[a->n].module);
                free(a->items[a->n].pattern);
                return -ENOMEM;
        }
        a->n++;
        return 0;
}

int usb_modinfo_parse_usb_aliases(const char *buf, size_t len, UsbBuiltinAliases *ret) {
        UsbBuiltinAliases a = { 0 };
        size_t cap = 0;

        assert(buf || len == 0);
        assert(ret);

        for (size_t off = 0; off < len;) {
                const char *end = memchr(buf + off, 0, len - off);
                size_t rlen = end ? (size_t) (end - (buf + off)) : len - off;
                if (usb_modinfo_parse_record(buf + off, rlen, &a, &cap) < 0) {
                        usb_builtin_aliases_done(&a);
                        return -ENOMEM;
                }
                off += rlen + 1;
        }
        *ret = a;
        return 0;
}

int usb_builtin_aliases_match(const UsbBuiltinAliases *a, const char *modalias, char **list) {
        assert(a);
        assert(modalias);
        assert(list);

        for (size_t i = 0; i < a->n; i++)
                if (fnmatch(a->items[i].pattern, modalias, 0) == 0 && usb_driver_list_add(list, a->items[i].module) < 0)
                        return -ENOMEM;
        return 0;
}
