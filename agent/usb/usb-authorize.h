/* SPDX-License-Identifier: MIT */
#pragma once

/* The only writer of USB sysfs attributes. Each call returns a negative errno
 * and logs nothing: the caller decides how loud a failure is. */

#include <stdbool.h>

/* Reads <syspath>/authorized: 1, 0, or a negative errno. */
int usb_authorize_read(const char *syspath);

/* Writes <syspath>/authorized of an interface. When authorizing, also asks the
 * bus to probe drivers for it: the kernel does not bind a driver to an
 * interface that was authorized after it appeared. */
int usb_authorize_interface(const char *syspath, const char *sysname, bool authorize);

/* Writes sysname to /sys/bus/usb/drivers_probe: binds a driver to an
 * authorized interface that has none. */
int usb_authorize_probe(const char *sysname);

/* Device-level authorized (used only for devices that came up unconfigured). */
int usb_authorize_device(const char *syspath, bool authorize);

/* A root hub's interface_authorized_default: 0 makes every new interface on
 * that bus start unauthorized, so no driver can bind before mamorid decides. */
int usb_authorize_set_interface_default(const char *roothub_syspath, bool authorize);
int usb_authorize_get_interface_default(const char *roothub_syspath);

/* A root hub's authorized_default (usbcore: -1 all but wireless, 0 none, 1
 * all, 2 internal ports only), read bounded and strictly: -EBADMSG for
 * anything but such a number. */
int usb_authorize_get_device_default(const char *roothub_syspath, int *ret);
