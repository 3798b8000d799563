/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "usb-descriptors.h"

#define DT_DEVICE 0x01
#define DT_CONFIG 0x02
#define DT_INTERFACE 0x04

static uint16_t usb_descriptors_le16(const uint8_t *p) {
        return (uint16_t) (p[0] | (p[1] << 8));
}

int usb_descriptors_parse(const uint8_t *buf, size_t len, UsbDescDevice *ret_device, UsbDescInterface *out, size_t max) {
        size_t off, n = 0, config_end = 0;
        uint8_t config_value = 0, nested_value = 0;

        if (!buf || len < 18 || buf[0] < 18 || buf[1] != DT_DEVICE)
                return -EBADMSG;
        if (ret_device)
                *ret_device = (UsbDescDevice){
                        .vendor = usb_descriptors_le16(buf + 8),
                        .product = usb_descriptors_le16(buf + 10),
                        .bcd_device = usb_descriptors_le16(buf + 12),
                        .cls = buf[4],
                        .subclass = buf[5],
                        .protocol = buf[6],
                        .n_configurations = buf[17],
                };

        /* Walk descriptor by descriptor; a bLength below 2 or past the end stops. */
        for (off = buf[0]; off + 2 <= len;) {
                uint8_t blen = buf[off], type = buf[off + 1];
                if (blen < 2 || off + blen > len)
                        break;
                /* A configuration spans its wTotalLength bytes, as the kernel
                 * writes it to the file. A configuration descriptor inside that
                 * span is one the kernel skips ("unexpected descriptor"), or,
                 * when the kernel read less than the device claimed, the next
                 * configuration: what follows counts for both. So a device
                 * cannot move an alternate setting out of its configuration. */
                if (type == DT_CONFIG && blen >= 9 && off >= config_end) {
                        config_value = buf[off + 5];
                        nested_value = 0;
                        config_end = off + MAX((size_t) usb_descriptors_le16(buf + off + 2), (size_t) blen);
                } else if (type == DT_CONFIG && blen >= 9)
                        nested_value = buf[off + 5];
                else if (type == DT_INTERFACE && blen >= 9 && n < max && out)
                        out[n++] = (UsbDescInterface){
                                .configuration = config_value,
                                .configuration_nested = nested_value,
                                .number = buf[off + 2],
                                .alternate = buf[off + 3],
                                .cls = buf[off + 5],
                                .subclass = buf[off + 6],
                                .protocol = buf[off + 7],
                                .iinterface = buf[off + 8],
                        };
                off += blen;
        }
        return (int) n;
}

int usb_descriptors_read(int fd, size_t max, uint8_t **ret, size_t *ret_len) {
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;

        assert(ret);
        assert(ret_len);

        for (;;) {
                ssize_t l;
                if (len == cap) {
                        /* One byte past max tells a file of exactly max bytes from a longer one. */
                        size_t ncap = cap ? MIN(cap * 2, max + 1) : MIN((size_t) 4096, max + 1);
                        uint8_t *n;
                        if (ncap <= cap) {
                                free(buf);
                                return -EFBIG;
                        }
                        n = realloc(buf, ncap);
                        if (!n) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = n;
                        cap = ncap;
                }
                l = read(fd, buf + len, cap - len);
                if (l < 0) {
                        int r = errno;
                        if (r == EINTR)
                                continue;
                        free(buf);
                        return -r;
                }
                if (l == 0)
                        break;
                len += (size_t) l;
        }
        if (len > max) {
                free(buf);
                return -EFBIG;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}
