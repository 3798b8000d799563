/* SPDX-License-Identifier: MIT */
/* The usb = { ... } section of mamori.conf. */
#include <assert.h>

#include "config-sections.h"
#include "usb-drivers.h"

/* usb.drivers = { storage = [ "name", ... ]; tethering = [ ... ]; ... }: drivers
 * (or modules) that make an interface of that category, added to the built-in
 * table of common/usb-drivers.c. */
static int config_usb_parse_drivers(ConfigContext *c, const config_setting_t *drivers) {
        static const char *const keys[] = { "storage", "mtp", "ptp", "tethering", NULL };
        UsbPolicy *u = &c->policy->usb;

        if (config_setting_type(drivers) != CONFIG_TYPE_GROUP)
                return config_wrong_type(c, drivers, "drivers", "a group: drivers = { storage = [ \"name\" ]; };");
        config_check_keys(c, drivers, keys);
        for (const char *const *k = keys; *k; k++) {
                config_setting_t *list = config_setting_get_member(drivers, *k);
                int t, n;
                if (!list)
                        continue;
                t = config_setting_type(list);
                if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
                        (void) config_wrong_type(c, list, *k, "an array of driver names, e.g. [ \"rtsx_usb\" ]");
                        continue;
                }
                n = config_setting_length(list);
                for (int i = 0; i < n; i++) {
                        config_setting_t *e = config_setting_get_elem(list, (unsigned) i);
                        const char *v = config_setting_get_string(e);
                        int line = config_setting_line(e) ?: config_setting_line(list);
                        UsbDriverEntry *grown;
                        if (!usb_driver_name_valid(v)) {
                                config_error(c->errors, c->file, line,
                                             "'%s' in drivers.%s is not a driver name (letters, digits, '_' and "
                                             "'-', at most %d)",
                                             v ? v : "(not a string)", *k, USB_DRIVER_NAME_MAX);
                                continue;
                        }
                        for (size_t j = 0; j < u->n_drivers; j++)
                                if (usb_driver_name_equal(u->drivers[j].name, v)) {
                                        config_error(c->errors, c->file, line, "driver '%s' is listed twice in drivers",
                                                     v);
                                        v = NULL;
                                        break;
                                }
                        if (!v)
                                continue;
                        grown = reallocarray(u->drivers, u->n_drivers + 1, sizeof *grown);
                        if (!grown)
                                return -ENOMEM;
                        u->drivers = grown;
                        grown[u->n_drivers].name = strdup(v);
                        if (!grown[u->n_drivers].name)
                                return -ENOMEM;
                        grown[u->n_drivers++].category = (UsbCategory) usb_category_from_string(*k);
                }
        }
        return 0;
}

/* usb.block = [ "storage", ... ]: the categories blocked. Returns -EINVAL
 * only when it is not a list at all: then the rest of usb is not read. */
static int config_usb_parse_block(ConfigContext *c, const config_setting_t *block) {
        int t = config_setting_type(block), n;
        unsigned mask = 0;

        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
                return config_wrong_type(c, block, "block", "an array of categories, e.g. [ \"storage\", \"mtp\" ]");
        n = config_setting_length(block);
        for (int i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(block, (unsigned) i);
                const char *v = config_setting_get_string(e);
                int cat = usb_category_from_string(v);
                if (!v || cat <= USB_CATEGORY_OTHER) {
                        config_error(c->errors, c->file, config_setting_line(e) ?: config_setting_line(block),
                                     "unknown category '%s' in block: use storage, mtp, ptp or tethering",
                                     v ? v : "(not a string)");
                        continue;
                }
                if (mask & USB_CATEGORY_BIT(cat))
                        config_error(c->errors, c->file, config_setting_line(block),
                                     "category '%s' is listed twice in block", v);
                mask |= USB_CATEGORY_BIT(cat);
        }
        c->policy->usb.block_mask = mask;
        c->usb_block_line = config_setting_line(block) ?: 1;
        return 0;
}

int config_usb_parse(ConfigContext *c, const config_setting_t *usb) {
        static const char *const keys[] = { "block", "policy_ref", "drivers", "repeat_window", "expiry_warning", NULL };
        config_setting_t *s;
        int r;

        assert(c);
        assert(usb);

        if (config_setting_type(usb) != CONFIG_TYPE_GROUP)
                return config_wrong_type(c, usb, "usb", "a group: usb = { ... };");
        config_check_keys(c, usb, keys);

        r = config_get_policy_ref(c, usb, &c->policy->usb.policy_ref);
        if (r == -ENOMEM)
                return r;
        s = config_setting_get_member(usb, "block");
        if (s) {
                r = config_usb_parse_block(c, s);
                if (r < 0)
                        return r;
        }
        s = config_setting_get_member(usb, "drivers");
        if (s) {
                r = config_usb_parse_drivers(c, s);
                if (r == -ENOMEM)
                        return r;
        }
        /* Blocks of one device within this long of each other are one record
         * (common/usb-repeat.h); 0 turns that off. */
        (void) config_get_duration(c, usb, "repeat_window", USEC_PER_SEC, 3600 * USEC_PER_SEC, true,
                                   &c->policy->usb.repeat_window);
        /* The person at the seat is told this long before a plugged
         * device's approval ends; 0 turns that off. */
        (void) config_get_duration(c, usb, "expiry_warning", USEC_PER_SEC, 7 * 24 * 3600 * USEC_PER_SEC, true,
                                   &c->policy->usb.expiry_warning);
        return 0;
}
