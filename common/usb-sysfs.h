/* SPDX-License-Identifier: MIT */
#pragma once

/* Reading a UsbDevice from sysfs (sd-device): mamorid's enforcer and
 * `mamorictl allow` read devices the same way. The UsbDevice itself, its
 * builders and its classification are pure (common/usb-device.h). */

#include <systemd/sd-device.h>

#include "usb-device.h"

/* Reads a usb_device (not an interface) and its interfaces: the interface
 * directories, or the raw descriptors when there are none (an unconfigured
 * device), with the other alternate settings from the descriptors; then
 * classifies it by class and the built-in driver table. -errno when the
 * device's own idVendor or idProduct cannot be read; an interface that cannot
 * be read is left out. */
int usb_device_new_from_sd_device(sd_device *dev, UsbDevice **ret);
