/* SPDX-License-Identifier: MIT */
#pragma once

/* Before a USB device in use is blocked: its mounted file systems are
 * unmounted first (docs/device-enforcement.md, "Blocking a device in use").
 * De-authorizing a stick under a mounted file system loses what was being
 * written and leaves a stale mount; an unmount syncs and detaches it.
 *
 * mamorid cannot unmount by itself: its unit gives it no CAP_SYS_ADMIN,
 * filters the mount system calls and runs it in its own mount namespace. It
 * asks systemd instead (StopUnit of the mount unit, over the system bus,
 * asynchronously), which unmounts in the host's namespace with umount(8):
 * that works whoever mounted it (udisks2, fstab, an admin). Progress is read
 * from /proc/self/mountinfo, whose mounts are the host's (slave
 * propagation), and from the stop jobs (a detached mount leaves mountinfo
 * before umount has shut its file system down). The wait is bounded (USB_UNMOUNT_TIMEOUT_USEC): then the
 * device is blocked whatever happened, and the event says what did. */

#include <stdbool.h>

#include <systemd/sd-device.h>
#include <systemd/sd-event.h>

#include "json.h"
#include "macro.h"
#include "mountinfo.h"
#include "sysbus.h"

#define USB_UNMOUNT_TIMEOUT_USEC (10 * USEC_PER_SEC)

typedef struct UsbUnmount UsbUnmount;
typedef void (*UsbUnmountDone)(UsbUnmount *j, void *userdata);

/* The mounts of the block devices below the USB device (disks and
 * partitions, matched by major:minor). 0 with ret->n == 0 when none. */
int usb_unmount_find(sd_device *usbdev, MountList *ret, dev_t **ret_devs, size_t *ret_n_devs);

/* The sysfs path of block device devnum ("/sys/devices/.../block/sdb"), read
 * from /sys/dev/block/M:m: what a media scan's mount is on. -ENOENT when no
 * such block device. */
int usb_unmount_block_syspath(dev_t devnum, char **ret);

/* Starts unmounting mounts (taken) of devs (taken), asking systemd over
 * sysbus (not taken: it outlives the job). done is called once, from event,
 * when they are all gone or the bound has passed; the job stays valid until
 * freed. */
int usb_unmount_start(sd_event *event, SysBus *sysbus, MountList *mounts, dev_t *devs, size_t n_devs,
                      UsbUnmountDone done, void *userdata, UsbUnmount **ret);
UsbUnmount *usb_unmount_free(UsbUnmount *j);
DEFINE_POINTER_CLEANUP(UsbUnmount, usb_unmount_free);

bool usb_unmount_finished(const UsbUnmount *j);
/* "unmounted", "timeout" or "failed: ..." once finished. */
const char *usb_unmount_result(const UsbUnmount *j);
/* "unmount": { "mounts": [...], "result": ..., "seconds": ..., "still_mounted": [...] } */
void usb_unmount_write(const UsbUnmount *j, JsonWriter *w);
