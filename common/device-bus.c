/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <string.h>

#include "device-bus.h"
#include "macro.h"
#include "string-table.h"

static const char *const device_bus_table[_DEVICE_BUS_MAX] = {
        [DEVICE_BUS_USB] = "usb",           [DEVICE_BUS_MMC] = "mmc",
        [DEVICE_BUS_OPTICAL] = "optical",   [DEVICE_BUS_THUNDERBOLT] = "thunderbolt",
        [DEVICE_BUS_FIREWIRE] = "firewire",
};
DEFINE_STRING_TABLE_LOOKUP_FALLBACK(device_bus, DeviceBus, "usb");

static const char *const device_category_table[_DEVICE_CATEGORY_MAX] = {
        [DEVICE_CATEGORY_MMC] = "mmc",           [DEVICE_CATEGORY_OPTICAL_WRITE] = "optical-write",
        [DEVICE_CATEGORY_OPTICAL] = "optical",   [DEVICE_CATEGORY_THUNDERBOLT] = "thunderbolt",
        [DEVICE_CATEGORY_FIREWIRE] = "firewire",
};
DEFINE_STRING_TABLE_LOOKUP_FALLBACK(device_category, DeviceCategory, "mmc");

DeviceBus device_category_bus(DeviceCategory c) {
        switch (c) {
        case DEVICE_CATEGORY_MMC:
                return DEVICE_BUS_MMC;
        case DEVICE_CATEGORY_OPTICAL_WRITE:
        case DEVICE_CATEGORY_OPTICAL:
                return DEVICE_BUS_OPTICAL;
        case DEVICE_CATEGORY_THUNDERBOLT:
                return DEVICE_BUS_THUNDERBOLT;
        case DEVICE_CATEGORY_FIREWIRE:
                return DEVICE_BUS_FIREWIRE;
        default:
                return DEVICE_BUS_USB;
        }
}

typedef enum IdFormat {
        ID_HEX,      /* "0x" and exactly width lowercase or uppercase hex digits */
        ID_TEXT,     /* 1..width printable ASCII, no space, quote or backslash */
        ID_MMC_DATE, /* "MM/YYYY", as the mmc core prints a card's date */
        ID_UUID,     /* 8-4-4-4-12 hex digits */
} IdFormat;

typedef struct IdKey {
        const char *name;
        IdFormat format;
        unsigned width;
        const char *help;
} IdKey;

/* Each value as the kernel prints it in sysfs (drivers/mmc/core/bus.c and
 * mmc.c/sd.c, drivers/thunderbolt/switch.c, drivers/firewire/core-device.c)
 * or udev sets it (ID_SERIAL of an sr drive). */
static const IdKey id_keys[_DEVICE_BUS_MAX][DEVICE_ID_MAX] = {
        [DEVICE_BUS_MMC] = {
                { "manfid", ID_HEX, 6, "\"0x\" and 6 hex digits, e.g. \"0x000003\"" },
                { "oemid", ID_HEX, 4, "\"0x\" and 4 hex digits, e.g. \"0x5344\"" },
                { "name", ID_TEXT, 8, "the card's product name, e.g. \"SU08G\"" },
                { "serial", ID_HEX, 8, "\"0x\" and 8 hex digits, e.g. \"0x1a2b3c4d\"" },
                { "date", ID_MMC_DATE, 7, "month/year as in sysfs, e.g. \"06/2021\"" },
        },
        [DEVICE_BUS_OPTICAL] = {
                { "serial", ID_TEXT, DEVICE_ID_VALUE_MAX, "the drive's ID_SERIAL, e.g. \"HL-DT-ST_DVDRAM_GUD1N_KZ8J1234\"" },
        },
        [DEVICE_BUS_THUNDERBOLT] = {
                { "unique_id", ID_UUID, 36, "the device's unique_id, a UUID" },
        },
        [DEVICE_BUS_FIREWIRE] = {
                { "guid", ID_HEX, 16, "\"0x\" and 16 hex digits, e.g. \"0x0001020304050607\"" },
        },
};

/* The same names, NULL-terminated, for callers that walk them. */
static const char *const id_key_names[_DEVICE_BUS_MAX][DEVICE_ID_MAX + 1] = {
        [DEVICE_BUS_MMC] = { "manfid", "oemid", "name", "serial", "date", NULL },
        [DEVICE_BUS_OPTICAL] = { "serial", NULL },
        [DEVICE_BUS_THUNDERBOLT] = { "unique_id", NULL },
        [DEVICE_BUS_FIREWIRE] = { "guid", NULL },
};

const char *const *device_bus_id_keys(DeviceBus b) {
        assert(b < _DEVICE_BUS_MAX);
        return id_key_names[b];
}

size_t device_bus_n_id_keys(DeviceBus b) {
        size_t n = 0;

        assert(b < _DEVICE_BUS_MAX);
        while (n < DEVICE_ID_MAX && id_keys[b][n].name)
                n++;
        return n;
}

const char *device_bus_id_format(DeviceBus b, size_t k) {
        if (b >= _DEVICE_BUS_MAX || k >= DEVICE_ID_MAX || !id_keys[b][k].name)
                return NULL;
        return id_keys[b][k].help;
}

static bool id_hex_digits(const char *v, size_t n) {
        return strlen(v) == n && strspn(v, "0123456789abcdefABCDEF") == n;
}

void device_bus_id_normalize(DeviceBus b, size_t k, char *v) {
        if (!v || b >= _DEVICE_BUS_MAX || k >= DEVICE_ID_MAX || !id_keys[b][k].name)
                return;
        if (id_keys[b][k].format != ID_HEX && id_keys[b][k].format != ID_UUID)
                return;
        /* ASCII only: the values are checked to be hex digits, "x" and "-" */
        for (; *v; v++)
                if (*v >= 'A' && *v <= 'Z')
                        *v = (char) (*v - 'A' + 'a');
}

bool device_bus_id_valid(DeviceBus b, size_t k, const char *v) {
        const IdKey *key;
        size_t n;

        if (!v || b >= _DEVICE_BUS_MAX || k >= DEVICE_ID_MAX)
                return false;
        key = &id_keys[b][k];
        if (!key->name)
                return false;
        n = strlen(v);
        switch (key->format) {
        case ID_HEX:
                return n == 2 + key->width && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') &&
                       id_hex_digits(v + 2, key->width);
        case ID_TEXT:
                if (n == 0 || n > key->width)
                        return false;
                for (size_t i = 0; i < n; i++)
                        if (v[i] <= ' ' || v[i] > '~' || v[i] == '"' || v[i] == '\\')
                                return false;
                return true;
        case ID_MMC_DATE:
                return n == 7 && v[2] == '/' && strspn(v, "0123456789") == 2 && strspn(v + 3, "0123456789") == 4 &&
                       ((v[0] == '0' && v[1] >= '1') || (v[0] == '1' && v[1] <= '2'));
        case ID_UUID:
                if (n != 36)
                        return false;
                for (size_t i = 0; i < n; i++) {
                        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                        if (dash ? v[i] != '-' : !strchr("0123456789abcdefABCDEF", v[i]) || !v[i])
                                return false;
                }
                return true;
        }
        return false;
}
