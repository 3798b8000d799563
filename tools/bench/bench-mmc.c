/* SPDX-License-Identifier: MIT */
/* bench-mmc: how long mamorid's SD/MMC enforcer takes from a card's "add" to
 * its decision acted on (agent/devices/mmc.c), in process, against a umockdev
 * testbed. Run it under umockdev-wrapper.
 *
 * For each card: the card appears in the testbed (a CID, half of them listed
 * in the policy); the clock runs from sd_device_new_from_syspath() (what the
 * monitor hands over, read from sysfs here) through mmc_enforcer_handle(add):
 * the CID read and checked, policy_decide_device(), drivers_probe written for
 * a listed card, the event built and handed to the emitter (which counts and
 * frees it: the spool is bench-usb's business). Then the card is removed.
 * Printed: p50, p99 and max, for a policy with a few entries and one with
 * many (entries are matched one by one). */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "mmc.h"

/* after ours: glib defines MIN and MAX too */
#undef MIN
#undef MAX
#include <umockdev.h>

static unsigned n_events, n_blocked;

static int count_event(void *userdata, Event *e, const EventContext *ctx) {
        n_events++;
        if (e->kind == EVENT_DEVICE_BLOCKED)
                n_blocked++;
        event_free(e);
        return 0;
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* n entries, for serials 0, 2, ..., 2(n-1): card i has serial i when i is
 * even (listed when i < 2n), an unlisted one when it is odd. */
static char *allow_text(unsigned n) {
        size_t cap = 64 + (size_t) n * 256, len = 0;
        char *s = malloc(cap);

        if (!s)
                return NULL;
        len += (size_t) snprintf(s + len, cap - len, "allow = (\n");
        for (unsigned i = 0; i < n; i++)
                len += (size_t) snprintf(s + len, cap - len,
                                         "{ bus = \"mmc\"; manfid = \"0x000003\"; oemid = \"0x5344\"; name = \"SU08G\"; "
                                         "serial = \"0x%08x\"; date = \"06/2021\"; approved_by = \"bench\"; "
                                         "approved_on = \"2026-01-01\"; }%s\n",
                                         i * 2, i + 1 < n ? "," : "");
        snprintf(s + len, cap - len, ");\n");
        return s;
}

static void run(UMockdevTestbed *tb, const char *host, unsigned entries, unsigned cards) {
        _cleanup_free_ char *allow = allow_text(entries);
        _cleanup_free_ uint64_t *lat = calloc(cards, sizeof *lat);
        _cleanup_(mmc_enforcer_freep) MmcEnforcer *m = NULL;
        _cleanup_(policy_unrefp) Policy *p = NULL;
        ConfigErrors errs = { 0 };
        sd_event *ev = NULL;
        unsigned ev0 = n_events, bl0 = n_blocked;

        if (!allow || !lat || sd_event_default(&ev) < 0)
                exit(1);
        if (config_load_strings("devices = { block = [ \"mmc\" ]; };\n", allow, &p, &errs) < 0) {
                fprintf(stderr, "bench-mmc: the bench's policy does not load\n");
                exit(1);
        }
        config_errors_done(&errs);
        if (mmc_enforcer_new(ev, (EventEmitter){ .emit = count_event }, NULL, NULL, &m) < 0)
                exit(1);
        mmc_enforcer_set_policy(m, p); /* not started: no monitor, no scan */

        for (unsigned i = 0; i < cards; i++) {
                char name[32], serial[16];
                sd_device *dev = NULL;
                uint64_t t0;

                snprintf(name, sizeof name, "mmc0:%04x", i + 1);
                snprintf(serial, sizeof serial, "0x%08x", i % 2 == 0 ? i : i + 0x10000000u);
                char *path = umockdev_testbed_add_device(tb, "mmc", name, host, "type", "SD", "manfid", "0x000003",
                                                         "oemid", "0x5344", "name", "SU08G", "serial", serial, "date",
                                                         "06/2021", NULL, "MMC_TYPE", "SD", NULL);
                if (!path) {
                        fprintf(stderr, "bench-mmc: umockdev cannot add %s\n", name);
                        exit(1);
                }
                t0 = now_ns();
                if (sd_device_new_from_syspath(&dev, path) < 0) {
                        fprintf(stderr, "bench-mmc: %s not found: not under umockdev-wrapper?\n", path);
                        exit(1);
                }
                mmc_enforcer_handle(m, dev, SD_DEVICE_ADD);
                lat[i] = now_ns() - t0;
                mmc_enforcer_handle(m, dev, SD_DEVICE_REMOVE);
                sd_device_unref(dev);
                umockdev_testbed_remove_device(tb, path);
                g_free(path);
        }
        qsort(lat, cards, sizeof *lat, cmp_u64);
        printf("%6u entries, %6u cards: %u events (%u blocked); add -> decision acted on: p50 %.1f us, p99 %.1f us, "
               "max %.1f us\n",
               entries, cards, n_events - ev0, n_blocked - bl0, lat[cards / 2] / 1e3, lat[cards * 99 / 100] / 1e3,
               lat[cards - 1] / 1e3);
        if (n_events - ev0 != cards) {
                fprintf(stderr, "bench-mmc: %u events for %u cards\n", n_events - ev0, cards);
                exit(1);
        }
        sd_event_unref(ev);
}

int main(int argc, char **argv) {
        unsigned cards = 2000;
        int c;
        static const struct option opts[] = { { "cards", required_argument, NULL, 'n' }, {} };

        while ((c = getopt_long(argc, argv, "n:", opts, NULL)) >= 0) {
                if (c != 'n')
                        return 2;
                cards = (unsigned) strtoul(optarg, NULL, 10);
        }
        if (cards < 10) {
                fprintf(stderr, "bench-mmc: --cards of at least 10\n");
                return 2;
        }

        UMockdevTestbed *tb = umockdev_testbed_new();
        const char *root = umockdev_testbed_get_root_dir(tb);
        char *pci, *host, bus[4096];
        FILE *f;

        snprintf(bus, sizeof bus, "%s/sys/bus/mmc/drivers/mmcblk", root);
        if (g_mkdir_with_parents(bus, 0755) < 0)
                return 1;
        for (size_t i = 0; i < 2; i++) {
                /* the hold (drivers_autoprobe) works, as on a kernel with mmc_core */
                snprintf(bus, sizeof bus, "%s/sys/bus/mmc/%s", root, i == 0 ? "drivers_probe" : "drivers_autoprobe");
                f = fopen(bus, "w");
                if (!f)
                        return 1;
                fclose(f);
        }
        pci = umockdev_testbed_add_device(tb, "pci", "0000:00:1e.6", NULL, "vendor", "0x8086", NULL, NULL);
        host = umockdev_testbed_add_device(tb, "mmc_host", "mmc0", pci, NULL, NULL);
        if (!host)
                return 1;

        run(tb, host, 1, cards);
        run(tb, host, 100, cards);
        run(tb, host, 1000, cards);
        g_free(host);
        g_free(pci);
        g_object_unref(tb);
        return 0;
}
