/* SPDX-License-Identifier: MIT */
/* The raw USB descriptors parser, and classification of what it finds. */
#include <stdint.h>
#include <stdlib.h>

#include "usb-classify.h"
#include "usb-descriptors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        UsbDescInterface ifs[USB_DESC_MAX_INTERFACES];
        UsbDescDevice dev;
        int n = usb_descriptors_parse(data, size, &dev, ifs, USB_DESC_MAX_INTERFACES);
        if (n > USB_DESC_MAX_INTERFACES)
                abort();
        for (int i = 0; i < n; i++)
                (void) usb_classify_interface(ifs[i].cls, ifs[i].subclass, ifs[i].protocol, NULL);
        return 0;
}
