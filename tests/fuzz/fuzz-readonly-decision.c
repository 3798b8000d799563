/* SPDX-License-Identifier: MIT */
/* The read-only decision file and a block device's DEVPATH
 * (common/readonly-decision.c, read by mamori-block-access as root from
 * udev): what parses formats back to the same bytes; a USB device found in
 * a path is a well-formed name that the path holds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "readonly-decision.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ReadonlyDecision d;
        char buf[READONLY_DECISION_MAX], *path, *dev = NULL, *iface = NULL;

        if (size > 65536)
                return 0;
        if (readonly_decision_parse((const char *) data, size, &d) == 0) {
                if (readonly_decision_format(&d, buf, sizeof buf) < 0 || strlen(buf) != size ||
                    memcmp(buf, data, size) != 0)
                        abort();
        }
        path = strndup((const char *) data, size);
        if (!path)
                return 0;
        if (readonly_usb_of_devpath(path, &dev, &iface) == 0) {
                if (!readonly_is_usb_device_name(dev) || strncmp(iface, dev, strlen(dev)) != 0 ||
                    iface[strlen(dev)] != ':' || !strstr(path, iface))
                        abort();
                free(dev);
                free(iface);
        }
        free(path);
        return 0;
}
