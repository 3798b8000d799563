/* SPDX-License-Identifier: MIT */
/* bench-usb-alias: what one module alias lookup of common/usb-modalias.c
 * costs (mamorid makes one per interface that is not mass storage, inside the
 * uevent-to-block budget of 1 ms), and what the resolver's index costs in
 * memory (Private_Dirty and Rss of this process, /proc/self/smaps_rollup).
 *
 *   bench-usb-alias [--modules-dir DIR] [--rounds N] [MODALIAS...]
 *   bench-usb-alias [--modules-dir DIR] [--conf-dir DIR]... --print MODALIAS...
 *
 * Without MODALIAS: a mix of a printer, a keyboard, a ZTE modem (the largest
 * vendor of Debian's index), a card reader and an unknown vendor. --print
 * writes "MODALIAS<TAB>modules" per modalias, the result as the resolver
 * gives it (tests/integration/test_usb_alias_kmod.py compares it with
 * libkmod's); --conf-dir replaces the modprobe.d directories, in their order
 * of precedence. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "usb-modalias.h"

static const char *const default_modaliases[] = {
        "usb:v04B8p0602d0110dc00dsc00dp00ic07isc01ip02in00", /* Epson printer on usb-storage's list */
        "usb:v046DpC31Cd6400dc00dsc00dp00ic03isc01ip01in00", /* keyboard */
        "usb:v19D2p0031d0000dc00dsc00dp00icFFiscFFipFFin03", /* ZTE modem interface */
        "usb:v0BDAp0129d3960dcFFdscFFdpFFicFFisc06ip50in00", /* Realtek card reader */
        "usb:v1A2Bp3C4Dd0100dc00dsc00dp00ic07isc01ip02in00", /* unknown vendor, printer class */
};

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return x < y ? -1 : x > y;
}

/* Rss and Private_Dirty of this process, KiB. */
static void memory_kib(long *rss, long *dirty) {
        char line[256];
        FILE *f = fopen("/proc/self/smaps_rollup", "re");
        *rss = *dirty = -1;
        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                (void) sscanf(line, "Rss: %ld kB", rss);
                (void) sscanf(line, "Private_Dirty: %ld kB", dirty);
        }
        fclose(f);
}

int main(int argc, char **argv) {
        _cleanup_(usb_alias_resolver_freep) UsbAliasResolver *r = NULL;
        const char *const *modaliases = default_modaliases;
        size_t n_modaliases = sizeof default_modaliases / sizeof *default_modaliases;
        const char *dir = NULL, *conf_dirs[9] = { 0 };
        size_t n_conf = 0;
        unsigned long rounds = 10000;
        bool print = false;
        long rss0, dirty0, rss1, dirty1, rss2, dirty2;
        int64_t t0, t1;
        int i = 1;

        log_open(LOG_TARGET_STDERR);
        log_set_max_level(LOG_WARNING);
        for (; i < argc && argv[i][0] == '-'; i++) {
                if (streq(argv[i], "--modules-dir") && i + 1 < argc)
                        dir = argv[++i];
                else if (streq(argv[i], "--conf-dir") && i + 1 < argc && n_conf < 8)
                        conf_dirs[n_conf++] = argv[++i];
                else if (streq(argv[i], "--rounds") && i + 1 < argc)
                        rounds = strtoul(argv[++i], NULL, 10);
                else if (streq(argv[i], "--print"))
                        print = true;
                else {
                        fprintf(stderr,
                                "usage: %s [--modules-dir DIR] [--conf-dir DIR]... [--rounds N] [--print] [MODALIAS...]\n",
                                argv[0]);
                        return 2;
                }
        }
        if (i < argc) {
                modaliases = (const char *const *) argv + i;
                n_modaliases = (size_t) (argc - i);
        }
        if (rounds == 0)
                rounds = 1;

        memory_kib(&rss0, &dirty0);
        t0 = now_ns();
        if (usb_alias_resolver_new_full(dir, n_conf > 0 ? conf_dirs : NULL, &r) < 0) {
                fprintf(stderr, "out of memory\n");
                return 1;
        }
        t1 = now_ns();
        if (!usb_alias_resolver_available(r)) {
                fprintf(stderr, "no module aliases at %s\n", usb_alias_resolver_dir(r));
                return 1;
        }

        if (print) {
                for (size_t k = 0; k < n_modaliases; k++) {
                        _cleanup_free_ char *s = NULL;
                        int e = usb_alias_resolver_lookup(r, modaliases[k], &s);
                        if (e < 0)
                                printf("%s\terror %d\n", modaliases[k], e);
                        else
                                printf("%s\t%s\n", modaliases[k], s);
                }
                return 0;
        }

        memory_kib(&rss1, &dirty1);
        printf("modules dir: %s\n", usb_alias_resolver_dir(r));
        printf("resolver_new: %.3f ms; Rss %+ld KiB, Private_Dirty %+ld KiB\n", (double) (t1 - t0) / 1e6, rss1 - rss0,
               dirty1 - dirty0);
        for (size_t k = 0; k < n_modaliases; k++) {
                _cleanup_free_ int64_t *ns = calloc(rounds, sizeof *ns);
                _cleanup_free_ char *first = NULL;
                if (!ns)
                        return 1;
                if (usb_alias_resolver_lookup(r, modaliases[k], &first) < 0) {
                        printf("%s: lookup failed\n", modaliases[k]);
                        continue;
                }
                for (unsigned long n = 0; n < rounds; n++) {
                        char *s = NULL;
                        int64_t a = now_ns();
                        (void) usb_alias_resolver_lookup(r, modaliases[k], &s);
                        ns[n] = now_ns() - a;
                        free(s);
                }
                qsort(ns, rounds, sizeof *ns, cmp_i64);
                printf("%s [%s]: p50 %.1f us, p99 %.1f us, max %.1f us (%lu lookups)\n", modaliases[k], first,
                       (double) ns[rounds / 2] / 1e3, (double) ns[rounds * 99 / 100] / 1e3,
                       (double) ns[rounds - 1] / 1e3, rounds);
        }
        memory_kib(&rss2, &dirty2);
        printf("after the lookups: Rss %+ld KiB, Private_Dirty %+ld KiB (from before resolver_new)\n", rss2 - rss0,
               dirty2 - dirty0);
        return 0;
}
