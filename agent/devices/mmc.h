/* SPDX-License-Identifier: MIT */
#pragma once

/* SD/MMC cards in built-in readers (sdhci, rtsx_pci): docs/devices-mmc.md.
 *
 * The mmc bus has no `authorized` attribute, so cards are held back from
 * their driver instead: the bus's drivers_autoprobe is 0 (the udev rule sets
 * it when mmc_core appears, mamorid again at start), so a new card binds to
 * no driver by itself. mamorid binds an allowed card by writing its name to
 * /sys/bus/mmc/drivers_probe, and unbinds a card the policy blocks (a reload
 * that removed its entry, a card that bound before the hold was in place).
 * A card is named by its CID (manfid, oemid, name, serial, date). SDIO cards
 * (wifi, bluetooth) are never touched: their functions live on the sdio bus.
 * Cards of type "MMC" are bound, never decided: that is the eMMC soldered on
 * the board, and a PC whose system disk is an eMMC must boot (the udev rule
 * binds it in the initramfs already).
 * A card in a USB card reader is the USB enforcer's business. */

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-device.h>
#include <systemd/sd-event.h>

#include "device-report.h"
#include "event-sink.h"
#include "macro.h"
#include "policy.h"
#include "usb-unmount.h"

/* The mmc bus in sysfs: the tests (umockdev) and the bench see the same. */
#define MMC_BUS_DIR "/sys/bus/mmc"

typedef struct MmcEnforcer MmcEnforcer;

/* What a card's sysfs attributes say, as read (any of them may be NULL). */
typedef struct MmcCardAttrs {
        const char *type;              /* "SD", "MMC", "SDIO", "SDcombo" */
        const char *id[DEVICE_ID_MAX]; /* manfid, oemid, name, serial, date */
        const char *driver;
} MmcCardAttrs;

typedef enum MmcCardKind {
        MMC_CARD_DECIDED, /* "SD", "SDcombo", and a missing or unknown type (fail closed) */
        MMC_CARD_BUILTIN, /* "MMC": an eMMC on the board, often the system disk; never held */
        MMC_CARD_SDIO,    /* "SDIO": wifi, bluetooth; never touched */
} MmcCardKind;

/* What mamorid does with a card of this type (the `type` attribute). */
MmcCardKind mmc_card_kind(const char *type);

/* The snapshot of a card from its attributes: identity values kept only when
 * well-formed (device_bus_id_valid()), text sanitized. Pure. */
int mmc_card_snapshot(const char *syspath, const char *sysname, const MmcCardAttrs *a, RemovableDevice **ret);

/* usb_unmount_start() on the system bus (the Manager's): a card in use is
 * unmounted before it is unbound. NULL: it is unbound at once, and its event
 * lists what was mounted. */
typedef int (*MmcUnmountStart)(void *userdata, MountList *mounts, dev_t *devs, size_t n_devs, UsbUnmountDone done,
                               void *done_userdata, UsbUnmount **ret);

/* emitter takes device.blocked / device.allowed / device.block_failed.
 * Nothing is decided before mmc_enforcer_set_policy(). */
int mmc_enforcer_new(sd_event *event, EventEmitter emitter, MmcUnmountStart unmount_start, void *userdata,
                     MmcEnforcer **ret);
MmcEnforcer *mmc_enforcer_free(MmcEnforcer *m);
DEFINE_POINTER_CLEANUP(MmcEnforcer, mmc_enforcer_free);

/* Holds cards back (drivers_autoprobe = 0), starts listening, then decides
 * every card present. A failure to hold cards back is logged and reported by
 * mmc_enforcer_autoprobe_error(); enforcement goes on. */
int mmc_enforcer_start(MmcEnforcer *m);

/* The policy in force (takes a reference). Once started, every card present
 * is decided again: a card that lost its entry is unbound, one that gained
 * one is bound; each change is one event. */
void mmc_enforcer_set_policy(MmcEnforcer *m, Policy *p);

/* Malware was found on a file system of block device devnum (the media scan,
 * issue 15 item 3; told by the manager). The SD card it is on is unbound
 * (its file systems unmounted first) whatever allows it, device.blocked
 * with reason "infected" and cause (the finding's event id; may be NULL);
 * inserted again, a card with a serial is unbound again until mamorid
 * exits. -ENODEV when devnum is on no SD card, -EPERM for the built-in
 * eMMC (never unbound). */
int mmc_enforcer_block_infected(MmcEnforcer *m, dev_t devnum, const char *cause);

/* One uevent of the mmc or module subsystem (the monitor's handler; the
 * bench calls it directly). */
void mmc_enforcer_handle(MmcEnforcer *m, sd_device *dev, sd_device_action_t action);

/* The cards present, each as { syspath, device, decision } (mamorictl
 * devices), decided now from what sysfs says. The eMMC is not listed. */
void mmc_enforcer_write_devices(MmcEnforcer *m, JsonWriter *w);

/* 0 when drivers_autoprobe was last written as 0; -errno when it could not
 * be (then a new card may bind by itself and is unbound when seen);
 * -ENOENT: no mmc bus (mmc_core not loaded) yet. */
int mmc_enforcer_autoprobe_error(const MmcEnforcer *m);
