/* SPDX-License-Identifier: MIT */
/* modules.builtin.modinfo's USB aliases (common/usb-modinfo.c), then a match
 * of each kept pattern against a few modaliases. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usb-drivers.h"
#include "usb-modinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const modaliases[] = {
                "usb:v04B8p0602d0110dc00dsc00dp00ic07isc01ip02in00",
                "usb:v0BDAp0129d3960dcFFdscFFdpFFicFFisc06ip50in00",
                "usb:v046DpC31Cd6400dc00dsc00dp00ic03isc01ip01in00",
        };
        UsbBuiltinAliases a = { 0 };

        if (size > 1024 * 1024)
                return 0;
        if (usb_modinfo_parse_usb_aliases((const char *) data, size, &a) < 0)
                return 0;
        for (size_t i = 0; i < a.n; i++)
                if (!usb_driver_name_valid(a.items[i].module) || strncmp(a.items[i].pattern, "usb:", 4) != 0 ||
                    strlen(a.items[i].pattern) > 256 || strchr(a.items[i].pattern, ' '))
                        abort();
        for (size_t k = 0; k < sizeof modaliases / sizeof *modaliases; k++) {
                char *list = NULL;
                if (usb_builtin_aliases_match(&a, modaliases[k], &list) == 0 && list)
                        /* every name once, none empty */
                        if (list[0] == ' ' || strstr(list, "  ") || (strlen(list) && list[strlen(list) - 1] == ' '))
                                abort();
                free(list);
        }
        usb_builtin_aliases_done(&a);
        return 0;
}
