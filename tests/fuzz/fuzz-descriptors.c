/* SPDX-License-Identifier: MIT */
/* The raw USB descriptors parser, and classification of what it finds; and
 * the reader, which must get every byte however the file is handed over (the
 * first input byte picks the size of the pieces). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usb-classify.h"
#include "usb-descriptors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Hands data over one packet of chunk bytes a read(); the same bytes must come back. */
static void check_read(const uint8_t *data, size_t size, size_t chunk) {
        uint8_t *got = NULL;
        size_t got_len = 0;
        int sv[2], r;

        /* at most ~100 packets: the socket's buffer holds them all */
        if (chunk < size / 100 + 1)
                chunk = size / 100 + 1;
        if (size > 64 * 1024 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                return;
        for (size_t o = 0; o < size; o += chunk) {
                size_t n = size - o < chunk ? size - o : chunk;
                if (write(sv[1], data + o, n) != (ssize_t) n) {
                        close(sv[0]);
                        close(sv[1]);
                        return; /* the socket's buffer is full: not the reader's business */
                }
        }
        close(sv[1]);
        r = usb_descriptors_read(sv[0], USB_DESC_READ_MAX, &got, &got_len);
        close(sv[0]);
        if (r < 0 || got_len != size || (size && memcmp(got, data, size) != 0))
                abort();
        free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        UsbDescInterface ifs[USB_DESC_MAX_INTERFACES];
        UsbDescDevice dev;
        int n = usb_descriptors_parse(data, size, &dev, ifs, USB_DESC_MAX_INTERFACES);
        if (n > USB_DESC_MAX_INTERFACES)
                abort();
        for (int i = 0; i < n; i++)
                (void) usb_classify_interface_udev(ifs[i].cls, ifs[i].subclass, ifs[i].protocol, NULL,
                                                   size ? data[0] & 7 : 0, NULL);
        /* every interface descriptor, as usb-device.c reads the alternate settings */
        if (size >= 18) {
                size_t max = size / 9 + 1;
                UsbDescInterface *all = calloc(max, sizeof *all);
                if (all) {
                        int m = usb_descriptors_parse(data, size, NULL, all, max);
                        if ((m < 0) != (n < 0) || (m >= 0 && (m < n || (size_t) m > max)))
                                abort();
                        /* the first interfaces are the same whatever the room */
                        for (int i = 0; i < n; i++)
                                if (memcmp(&all[i], &ifs[i], sizeof all[i]) != 0)
                                        abort();
                        free(all);
                }
        }
        /* the data as an interface name: the MTP word match (hidden code points taken out) */
        if (size <= 4096) {
                char *name = malloc(size + 1);
                if (name) {
                        UsbCategory c;
                        memcpy(name, data, size);
                        name[size] = 0;
                        c = usb_classify_interface(0xff, 0xff, 0x00, name);
                        if (c != USB_CATEGORY_MTP && c != USB_CATEGORY_OTHER)
                                abort();
                        free(name);
                }
        }
        if (size > 0)
                check_read(data, size, (size_t) data[0] % 64 + 1);
        return 0;
}
