/* SPDX-License-Identifier: MIT */
/* The devices = { ... } section of mamori.conf: the one list of blocked
 * categories, USB and the other buses alike (common/device-bus.h). The older
 * usb.block still works for USB alone; the two together are refused, since
 * an admin could not tell which one rules. */
#include <assert.h>

#include "config-sections.h"
#include "device-bus.h"
#include "usb-classify.h"

static int config_devices_parse_block(ConfigContext *c, const config_setting_t *block) {
        int t = config_setting_type(block), n;
        unsigned usb_mask = 0, dev_mask = 0;

        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
                return config_wrong_type(c, block, "block",
                                         "an array of categories, e.g. [ \"storage\", \"mmc\", \"optical-write\" ]");
        if (c->usb_block_line > 0) {
                config_error(c->errors, c->file, config_setting_line(block),
                             "devices.block and usb.block (line %d) are both set: keep devices.block only",
                             c->usb_block_line);
                return -EINVAL;
        }
        n = config_setting_length(block);
        for (int i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(block, (unsigned) i);
                const char *v = config_setting_get_string(e);
                int line = config_setting_line(e) ?: config_setting_line(block);
                int ucat = usb_category_from_string(v), dcat = device_category_from_string(v);
                bool twice;

                if (ucat > USB_CATEGORY_OTHER) {
                        twice = usb_mask & USB_CATEGORY_BIT(ucat);
                        usb_mask |= USB_CATEGORY_BIT(ucat);
                } else if (dcat >= 0) {
                        twice = dev_mask & DEVICE_CATEGORY_BIT(dcat);
                        dev_mask |= DEVICE_CATEGORY_BIT(dcat);
                } else {
                        config_error(c->errors, c->file, line,
                                     "unknown category '%s' in devices.block: use storage, mtp, ptp, tethering, mmc, "
                                     "optical-write, optical, thunderbolt or firewire",
                                     v ? v : "(not a string)");
                        continue;
                }
                if (twice)
                        config_error(c->errors, c->file, line, "category '%s' is listed twice in devices.block", v);
        }
        c->policy->usb.block_mask = usb_mask;
        c->policy->devices.block_mask = dev_mask;
        return 0;
}

int config_devices_parse(ConfigContext *c, const config_setting_t *devices) {
        static const char *const keys[] = { "block", NULL };
        config_setting_t *s;

        assert(c);
        assert(devices);

        if (config_setting_type(devices) != CONFIG_TYPE_GROUP)
                return config_wrong_type(c, devices, "devices", "a group: devices = { block = [ ... ]; };");
        config_check_keys(c, devices, keys);
        s = config_setting_get_member(devices, "block");
        if (s)
                return config_devices_parse_block(c, s);
        return 0;
}
