/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "usb-alias-index.h"
#include "usb-drivers.h"
#include "usb-modalias.h"
#include "usb-modinfo.h"

/* Debian 12's is 45 KiB */
#define MODINFO_MAX (16u * 1024u * 1024u)
/* one modprobe.d file */
#define CONF_FILE_MAX (1024u * 1024u)
/* modprobe.d files read in all */
#define CONF_FILES_MAX 1024u

/* libkmod's default configuration paths (kmod 30, Debian 12), then RHEL 9's
 * /usr/lib: a name in an earlier directory masks the same name in later ones. */
static const char *const usb_alias_system_conf_dirs[] = {
        "/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/lib/modprobe.d", "/usr/lib/modprobe.d",
};
#define N_CONF_DIRS_MAX 8u

/* What a path looked like when it was read: a change means depmod or the
 * admin wrote it again. */
typedef struct UsbAliasStamp {
        bool present;
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtim;
} UsbAliasStamp;

/* Everything read at one time: swapped whole on a reload. */
typedef struct UsbAliasSet {
        void *map; /* modules.alias, read-only shared pages */
        size_t map_len;
        UsbAliasIndex index;
        UsbBuiltinAliases conf;                    /* modprobe.d's alias lines */
        UsbBuiltinAliases builtin;                 /* the USB aliases of built-in drivers */
        UsbAliasStamp stamps[1 + N_CONF_DIRS_MAX]; /* modules.alias, then each conf dir */
} UsbAliasSet;

struct UsbAliasResolver {
        char *dir;
        char *alias_path;
        char *conf_dirs[N_CONF_DIRS_MAX];
        size_t n_conf_dirs;
        UsbAliasSet *set; /* NULL: no alias index */
};

static UsbAliasSet *usb_alias_set_free(UsbAliasSet *s) {
        if (!s)
                return NULL;
        usb_alias_index_done(&s->index);
        usb_builtin_aliases_done(&s->conf);
        usb_builtin_aliases_done(&s->builtin);
        if (s->map)
                (void) munmap(s->map, s->map_len);
        free(s);
        return NULL;
}
DEFINE_POINTER_CLEANUP(UsbAliasSet, usb_alias_set_free);

UsbAliasResolver *usb_alias_resolver_free(UsbAliasResolver *r) {
        if (!r)
                return NULL;
        usb_alias_set_free(r->set);
        for (size_t i = 0; i < r->n_conf_dirs; i++)
                free(r->conf_dirs[i]);
        free(r->alias_path);
        free(r->dir);
        free(r);
        return NULL;
}

static void usb_alias_stamp(const char *path, UsbAliasStamp *ret) {
        struct stat st;
        if (stat(path, &st) < 0) {
                *ret = (UsbAliasStamp){ 0 };
                return;
        }
        *ret = (UsbAliasStamp){
                .present = true, .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size, .mtim = st.st_mtim
        };
}

static bool usb_alias_stamp_equal(const UsbAliasStamp *a, const UsbAliasStamp *b) {
        return a->present == b->present && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec;
}

/* Not a regular file (a FIFO, a device, a socket): an errno of its own, so
 * that the log says so rather than strerror()'s words for another case. */
#define EFTYPE_NOT_REGULAR EMEDIUMTYPE

static const char *usb_alias_strerror(int e) {
        switch (-e) {
        case EFTYPE_NOT_REGULAR:
                return "not a regular file";
        case EISDIR:
                return "a directory";
        case EFBIG:
                return "too large";
        default:
                return strerror(-e);
        }
}

/* A regular file of at most max bytes, opened without ever blocking (a FIFO
 * in its place is refused, not waited on). Symbolic links are followed:
 * /lib/modules may be a linked tree. */
static int usb_alias_open_regular(const char *path, size_t max, int *ret_fd, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return S_ISDIR(st.st_mode) ? -EISDIR : -EFTYPE_NOT_REGULAR;
        if (st.st_size < 0 || (uint64_t) st.st_size > max)
                return -EFBIG;
        *ret_size = (size_t) st.st_size;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The whole of a small file, read bounded (it may grow while read). */
static int usb_alias_read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size, len = 0;
        int r;

        r = usb_alias_open_regular(path, max, &fd, &size);
        if (r < 0)
                return r;
        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        while (len < size) {
                ssize_t l = read(fd, buf + len, size - len);
                if (l < 0)
                        return negative_errno();
                if (l == 0)
                        break;
                len += (size_t) l;
        }
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* modules.alias, mapped read-only: its pages are the page cache's, shared and
 * clean, not this process's memory. */
static int usb_alias_set_map(UsbAliasSet *s, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0;
        int r;

        r = usb_alias_open_regular(path, USB_ALIAS_FILE_MAX, &fd, &size);
        if (r < 0)
                return r;
        if (size > 0) {
                s->map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
                if (s->map == MAP_FAILED) {
                        s->map = NULL;
                        return negative_errno();
                }
                s->map_len = size;
        }
        r = usb_alias_index_parse(s->map ? s->map : "", s->map_len, &s->index);
        /* indexing read every page; lookups touch a few: let the others
         * leave this process's Rss (they stay in the page cache) */
        if (r >= 0 && s->map)
                (void) madvise(s->map, s->map_len, MADV_DONTNEED);
        return r;
}

typedef struct UsbAliasConfFile {
        char *name;
        const char *dir;
} UsbAliasConfFile;

static int usb_alias_conf_file_cmp(const void *a, const void *b) {
        return strcmp(((const UsbAliasConfFile *) a)->name, ((const UsbAliasConfFile *) b)->name);
}

static bool usb_alias_conf_name_wanted(const char *name) {
        size_t len = strlen(name);
        /* libkmod 30 reads *.conf and *.alias, no hidden file */
        return name[0] != '.' && len >= 6 && (endswith(name, ".conf") || endswith(name, ".alias"));
}

/* modprobe.d's alias lines, as libkmod reads them: the files of every
 * directory sorted by name, a name read from the first directory that has it,
 * and depmod's modules.softdep among them. */
static int usb_alias_set_load_conf(UsbAliasSet *s, const UsbAliasResolver *r) {
        UsbAliasConfFile *files = NULL;
        size_t n = 0, cap = 0;
        int ret = 0;

        if (GROW_ARRAY(files, cap, 1, 16) < 0)
                return -ENOMEM;
        files[n++] = (UsbAliasConfFile){ .name = strdup("modules.softdep"), .dir = r->dir };
        if (!files[0].name) {
                ret = -ENOMEM;
                goto finish;
        }
        for (size_t d = 0; d < r->n_conf_dirs && ret >= 0; d++) {
                _cleanup_(closedirp_) DIR *dir = opendir(r->conf_dirs[d]);
                struct dirent *de;
                if (!dir)
                        continue;
                while ((de = readdir(dir)) && n < CONF_FILES_MAX) {
                        bool seen = false;
                        struct stat st;
                        if (!usb_alias_conf_name_wanted(de->d_name))
                                continue;
                        if (fstatat(dirfd(dir), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode))
                                continue;
                        for (size_t i = 0; i < n && !seen; i++)
                                seen = streq(files[i].name, de->d_name);
                        if (seen)
                                continue;
                        if (GROW_ARRAY(files, cap, n + 1, 16) < 0) {
                                ret = -ENOMEM;
                                break;
                        }
                        files[n] = (UsbAliasConfFile){ .name = strdup(de->d_name), .dir = r->conf_dirs[d] };
                        if (!files[n].name) {
                                ret = -ENOMEM;
                                break;
                        }
                        n++;
                }
        }
        if (ret < 0)
                goto finish;
        qsort(files, n, sizeof *files, usb_alias_conf_file_cmp);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *buf = NULL;
                size_t len = 0;
                int k;
                if (asprintf(&path, "%s/%s", files[i].dir, files[i].name) < 0) {
                        ret = -ENOMEM;
                        break;
                }
                k = usb_alias_read_file(path, CONF_FILE_MAX, &buf, &len);
                if (k == -ENOMEM) {
                        ret = k;
                        break;
                }
                if (k < 0) {
                        if (k != -ENOENT)
                                log_warning("Ignoring the module aliases of %s: %s.", path, usb_alias_strerror(k));
                        continue;
                }
                ret = usb_alias_conf_parse(buf, len, &s->conf);
                if (ret < 0)
                        break;
        }
finish:
        for (size_t i = 0; i < n; i++)
                free(files[i].name);
        free(files);
        return ret;
}

/* modules.builtin.modinfo: the built-in drivers' aliases. Missing (kernels
 * before 5.2) or unreadable: none. Parsed from a mapping: the few aliases kept
 * are copied, the file leaves no heap behind. */
static int usb_alias_set_load_builtin(UsbAliasSet *s, const char *dir) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0;
        void *map;
        int r;

        if (asprintf(&path, "%s/modules.builtin.modinfo", dir) < 0)
                return -ENOMEM;
        r = usb_alias_open_regular(path, MODINFO_MAX, &fd, &size);
        if (r < 0) {
                if (r != -ENOENT)
                        log_warning("Ignoring the built-in drivers' aliases of %s: %s.", path, usb_alias_strerror(r));
                return 0;
        }
        if (size == 0)
                return 0;
        map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
                log_warning_errno(errno, "Ignoring the built-in drivers' aliases of %s: %m", path);
                return 0;
        }
        r = usb_modinfo_parse_usb_aliases(map, size, &s->builtin);
        (void) munmap(map, size);
        return r;
}

/* Reads everything. -ENOENT and the like when modules.alias cannot be used
 * (not logged), -ENOMEM. */
static int usb_alias_set_load(const UsbAliasResolver *r, UsbAliasSet **ret) {
        _cleanup_(usb_alias_set_freep) UsbAliasSet *s = NULL;
        int k;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        /* stamped first: a change while reading is seen at the next lookup */
        usb_alias_stamp(r->alias_path, &s->stamps[0]);
        for (size_t i = 0; i < r->n_conf_dirs; i++)
                usb_alias_stamp(r->conf_dirs[i], &s->stamps[1 + i]);
        k = usb_alias_set_map(s, r->alias_path);
        if (k < 0)
                return k;
        k = usb_alias_set_load_conf(s, r);
        if (k < 0)
                return k;
        k = usb_alias_set_load_builtin(s, r->dir);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(s);
        return 0;
}

int usb_alias_resolver_new(const char *dir, UsbAliasResolver **ret) {
        return usb_alias_resolver_new_full(dir, NULL, ret);
}

int usb_alias_resolver_new_full(const char *dir, const char *const *conf_dirs, UsbAliasResolver **ret) {
        _cleanup_(usb_alias_resolver_freep) UsbAliasResolver *r = NULL;
        struct utsname u;
        int k;

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
        if (asprintf(&r->alias_path, "%s/modules.alias", r->dir) < 0)
                return -ENOMEM;
        if (conf_dirs)
                for (size_t i = 0; conf_dirs[i] && i < N_CONF_DIRS_MAX; i++) {
                        r->conf_dirs[i] = strdup(conf_dirs[i]);
                        if (!r->conf_dirs[i])
                                return -ENOMEM;
                        r->n_conf_dirs++;
                }
        /* with dir (tests), only its own modprobe.d */
        else if (dir) {
                if (asprintf(&r->conf_dirs[0], "%s/modprobe.d", dir) < 0)
                        return -ENOMEM;
                r->n_conf_dirs = 1;
        } else
                for (size_t i = 0; i < ELEMENTSOF(usb_alias_system_conf_dirs); i++) {
                        r->conf_dirs[i] = strdup(usb_alias_system_conf_dirs[i]);
                        if (!r->conf_dirs[i])
                                return -ENOMEM;
                        r->n_conf_dirs++;
                }

        k = usb_alias_set_load(r, &r->set);
        if (k == -ENOMEM)
                return log_oom();
        if (k == -ENOENT) {
                log_warning("No module aliases at %s: USB interfaces are classified by their class and by the "
                            "drivers that bind, not by the drivers that would bind.",
                            r->dir);
        } else if (k < 0) {
                log_warning("Cannot use the module aliases of %s (%s): USB interfaces are classified by their class "
                            "and by the drivers that bind, not by the drivers that would bind.",
                            r->alias_path, usb_alias_strerror(k));
        } else {
                if (r->set->index.n_skipped > 0)
                        log_debug("Skipped %zu malformed or excess usb: lines of %s.", r->set->index.n_skipped,
                                  r->alias_path);
                log_info("Resolving USB interfaces against the module aliases of %s.", r->dir);
        }
        *ret = TAKE_PTR(r);
        return 0;
}

bool usb_alias_resolver_available(const UsbAliasResolver *r) {
        return r && r->set;
}

const char *usb_alias_resolver_dir(const UsbAliasResolver *r) {
        return r ? r->dir : NULL;
}

/* depmod (a new kernel module, DKMS) or the admin (modprobe.d) wrote the
 * files again: read the new ones. Unreadable: the old ones stay, and the next
 * lookup tries again. */
static void usb_alias_resolver_refresh(UsbAliasResolver *r) {
        UsbAliasSet *n = NULL;
        UsbAliasStamp st;
        bool changed;
        int k;

        usb_alias_stamp(r->alias_path, &st);
        changed = !usb_alias_stamp_equal(&st, &r->set->stamps[0]);
        for (size_t i = 0; i < r->n_conf_dirs && !changed; i++) {
                usb_alias_stamp(r->conf_dirs[i], &st);
                changed = !usb_alias_stamp_equal(&st, &r->set->stamps[1 + i]);
        }
        if (!changed)
                return;
        k = usb_alias_set_load(r, &n);
        if (k < 0) {
                log_debug_errno(k, "Cannot read the changed module aliases of %s, keeping the old ones: %m", r->dir);
                return;
        }
        usb_alias_set_free(r->set);
        r->set = n;
        log_debug("Read the changed module aliases of %s.", r->dir);
}

int usb_alias_resolver_lookup(UsbAliasResolver *r, const char *modalias, char **ret) {
        _cleanup_free_ char *s = NULL;
        char alias[USB_ALIAS_MODALIAS_MAX + 1];
        int k;

        assert(ret);

        if (!usb_alias_resolver_available(r))
                return -ENODATA;
        if (!modalias || !startswith(modalias, "usb:") || usb_alias_normalize(modalias, alias) < 0)
                return -EINVAL;
        usb_alias_resolver_refresh(r);

        /* libkmod's order: modprobe.d's aliases, and only when none matches
         * the modules' (modules.alias); then, unlike libkmod, which consults
         * them only when nothing else matched, every built-in driver that
         * takes the id too (a printer on usb-storage's list is usblp's for
         * libkmod, and usb_storage's as well for us). */
        k = usb_alias_conf_match(&r->set->conf, alias, &s);
        if (k == 0)
                k = usb_alias_index_match(&r->set->index, alias, &s);
        if (k >= 0)
                k = usb_builtin_aliases_match(&r->set->builtin, alias, &s);
        if (k < 0)
                return k;
        if (!s) {
                s = strdup("");
                if (!s)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(s);
        return 0;
}
