/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <libkmod.h>

#include "log.h"
#include "usb-drivers.h"
#include "usb-modalias.h"
#include "usb-modinfo.h"

/* Debian 12's is 0.5 MB */
#define MODINFO_MAX (16u * 1024u * 1024u)

struct UsbAliasResolver {
        struct kmod_ctx *ctx;
        char *dir;
        bool available;
        UsbBuiltinAliases builtin; /* the USB aliases of built-in drivers */
};

UsbAliasResolver *usb_alias_resolver_free(UsbAliasResolver *r) {
        if (!r)
                return NULL;
        if (r->ctx)
                kmod_unref(r->ctx);
        usb_builtin_aliases_done(&r->builtin);
        free(r->dir);
        free(r);
        return NULL;
}

static void usb_alias_resolver_log_quiet(void *data, int priority, const char *file, int line, const char *fn,
                                         const char *format, va_list args) {
        /* libkmod complains about every missing index file: one line of ours says it all. */
}

/* modules.builtin.modinfo: what libkmod's lookup leaves out when a module's
 * alias matches too. Missing (kernels before 5.2) or unreadable: nothing. */
static int usb_alias_resolver_load_builtin(UsbAliasResolver *r) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        size_t len;

        if (asprintf(&path, "%s/modules.builtin.modinfo", r->dir) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return 0;
        buf = malloc(MODINFO_MAX);
        if (!buf)
                return -ENOMEM;
        len = fread(buf, 1, MODINFO_MAX, f);
        if (ferror(f))
                return 0;
        return usb_modinfo_parse_usb_aliases(buf, len, &r->builtin);
}

int usb_alias_resolver_new(const char *dir, UsbAliasResolver **ret) {
        _cleanup_(usb_alias_resolver_freep) UsbAliasResolver *r = NULL;
        _cleanup_free_ char *index = NULL, *conf = NULL;
        struct utsname u;
        struct stat st;

        assert(ret);

        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        if (dir)
                r->dir = strdup(dir);
        else if (uname(&u) < 0 || asprintf(&r->dir, "/lib/modules/%s", u.release) < 0)
                r->dir = NULL;
        if (!r->dir)
                return -ENOMEM;
        if (asprintf(&index, "%s/modules.alias.bin", r->dir) < 0)
                return -ENOMEM;

        if (stat(index, &st) < 0 || !S_ISREG(st.st_mode)) {
                log_warning("No module aliases at %s: USB interfaces are classified by their class and by the "
                            "drivers that bind, not by the drivers that would bind.",
                            r->dir);
                *ret = TAKE_PTR(r);
                return 0;
        }
        if (dir) {
                if (asprintf(&conf, "%s/modprobe.d", dir) < 0)
                        return -ENOMEM;
                r->ctx = kmod_new(dir, (const char *const[]){ conf, NULL });
        } else
                r->ctx = kmod_new(NULL, NULL);
        if (!r->ctx)
                return log_oom();
        kmod_set_log_fn(r->ctx, usb_alias_resolver_log_quiet, NULL);
        /* mmap the indexes once: a lookup then touches no file. Without it
         * libkmod opens the index on each lookup, which works too. */
        if (kmod_load_resources(r->ctx) < 0)
                log_debug("Cannot map every module index of %s; looking aliases up file by file.", r->dir);
        if (usb_alias_resolver_load_builtin(r) < 0)
                return log_oom();
        r->available = true;
        log_info("Resolving USB interfaces against the module aliases of %s.", r->dir);
        *ret = TAKE_PTR(r);
        return 0;
}

bool usb_alias_resolver_available(const UsbAliasResolver *r) {
        return r && r->available;
}

const char *usb_alias_resolver_dir(const UsbAliasResolver *r) {
        return r ? r->dir : NULL;
}

int usb_alias_resolver_lookup(UsbAliasResolver *r, const char *modalias, char **ret) {
        struct kmod_list *list = NULL, *l;
        char *s = NULL;
        size_t len = 0;
        FILE *f;
        int k;

        assert(ret);

        if (!usb_alias_resolver_available(r))
                return -ENODATA;
        if (!modalias || !startswith(modalias, "usb:") || strlen(modalias) > 256 || strpbrk(modalias, " \t\n"))
                return -EINVAL;
        /* depmod (a new kernel module, DKMS) replaces the index files: map the new ones. */
        if (kmod_validate_resources(r->ctx) == KMOD_RESOURCES_MUST_RELOAD) {
                kmod_unload_resources(r->ctx);
                (void) kmod_load_resources(r->ctx);
        }
        k = kmod_module_new_from_lookup(r->ctx, modalias, &list);
        if (k < 0)
                return k;
        f = open_memstream(&s, &len);
        if (!f) {
                kmod_module_unref_list(list);
                return -ENOMEM;
        }
        kmod_list_foreach(l, list) {
                struct kmod_module *mod = kmod_module_get_module(l);
                const char *name = mod ? kmod_module_get_name(mod) : NULL;
                if (name && usb_driver_name_valid(name))
                        fprintf(f, "%s%s", ftell(f) > 0 ? " " : "", name);
                kmod_module_unref(mod);
        }
        kmod_module_unref_list(list);
        if (fclose(f) != 0) {
                free(s);
                return -ENOMEM;
        }
        if (usb_builtin_aliases_match(&r->builtin, modalias, &s) < 0) {
                free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}
