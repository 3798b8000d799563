/* SPDX-License-Identifier: MIT */
/* The text indexes of common/usb-alias-index.c: the input read both as
 * depmod's modules.alias and as a modprobe.d file, then a few lookups. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usb-alias-index.h"
#include "usb-drivers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* every name once, none empty */
static void check_list(const char *list) {
        if (!list)
                return;
        if (list[0] == ' ' || strstr(list, "  ") || (strlen(list) && list[strlen(list) - 1] == ' '))
                abort();
        for (const char *p = list; *p;) {
                size_t l = strcspn(p, " ");
                char name[USB_DRIVER_NAME_MAX + 1];
                if (l > USB_DRIVER_NAME_MAX)
                        abort();
                memcpy(name, p, l);
                name[l] = 0;
                if (!usb_driver_name_valid(name))
                        abort();
                p += l;
                p += strspn(p, " ");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const modaliases[] = {
                "usb:v04B8p0602d0110dc00dsc00dp00ic07isc01ip02in00",
                "usb:v0BDAp0129d3960dcFFdscFFdpFFicFFisc06ip50in00",
                "usb:v19D2p0031d0000dc00dsc00dp00icFFiscFFipFFin03",
                "usb:v",
        };
        UsbAliasIndex idx;
        UsbBuiltinAliases rules = { 0 };

        if (size > 1024 * 1024)
                return 0;
        if (usb_alias_index_parse((const char *) data, size, &idx) == 0) {
                for (size_t i = 0; i < idx.n_other; i++)
                        if (idx.other[i] >= size)
                                abort();
                for (size_t k = 0; k < sizeof modaliases / sizeof *modaliases; k++) {
                        char *list = NULL;
                        if (usb_alias_index_match(&idx, modaliases[k], &list) == 0)
                                check_list(list);
                        free(list);
                }
                usb_alias_index_done(&idx);
        }
        if (usb_alias_conf_parse((const char *) data, size, &rules) == 0) {
                for (size_t k = 0; k < sizeof modaliases / sizeof *modaliases; k++) {
                        char *list = NULL;
                        if (usb_alias_conf_match(&rules, modaliases[k], &list) >= 0)
                                check_list(list);
                        free(list);
                }
        }
        usb_builtin_aliases_done(&rules);
        return 0;
}
