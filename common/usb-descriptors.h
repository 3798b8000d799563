/* SPDX-License-Identifier: MIT */
#pragma once

/* Parser for the raw `descriptors` sysfs file of a USB device: the device
 * descriptor followed by every configuration with its interfaces. It is what
 * we have when a device is not configured yet (authorized_default=0) and so
 * has no interface directories. Hostile input: every length is checked. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct UsbDescInterface {
        uint8_t configuration; /* bConfigurationValue of the configuration it belongs to */
        /* bConfigurationValue of a configuration descriptor inside that
         * configuration's span, before this interface, or 0. The kernel skips
         * such a descriptor, unless the span's wTotalLength is what the device
         * claimed and the kernel read less (it writes the bytes it read): then
         * it starts the next configuration. The file alone cannot tell, so an
         * interface here counts for both. */
        uint8_t configuration_nested;
        uint8_t number;
        uint8_t alternate;
        uint8_t cls, subclass, protocol;
        uint8_t iinterface;
} UsbDescInterface;

typedef struct UsbDescDevice {
        uint16_t vendor, product, bcd_device;
        uint8_t cls, subclass, protocol;
        uint8_t n_configurations;
} UsbDescDevice;

#define USB_DESC_MAX_INTERFACES 64

/* Returns the number of interfaces written to out (at most max), or -EBADMSG
 * when not even a device descriptor is there. Garbage after a good prefix is
 * ignored: the prefix is what the kernel would use. An interface belongs to the
 * configuration whose wTotalLength span it is in (and see configuration_nested). */

/* Whether d belongs to (or may belong to) configuration value. */
static inline bool usb_desc_interface_in_configuration(const UsbDescInterface *d, unsigned value) {
        return d->configuration == value || (d->configuration_nested != 0 && d->configuration_nested == value);
}
int usb_descriptors_parse(const uint8_t *buf, size_t len, UsbDescDevice *ret_device,
                          UsbDescInterface *out, size_t max);

/* The kernel's descriptors attribute is a few KiB at most (every configuration
 * of a device); more than this is not a USB device. */
#define USB_DESC_READ_MAX (64 * 1024)

/* The most the kernel's descriptors attribute can hold: the device descriptor
 * and USB_MAXCONFIG (8) configurations of at most 65535 bytes (wTotalLength)
 * each. Whatever reads every alternate setting of a configured device reads
 * this much: a device must not hide a setting behind padding past 64 KiB. */
#define USB_DESC_KERNEL_MAX (18 + 8 * 65535)

/* Reads fd to its end: sysfs (like a pipe) may hand a file over in several
 * read()s. *ret gets a newly allocated buffer of *ret_len bytes. -EFBIG when
 * the file holds more than max bytes; nothing is logged. */
int usb_descriptors_read(int fd, size_t max, uint8_t **ret, size_t *ret_len);
