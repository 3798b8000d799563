/* SPDX-License-Identifier: MIT */
/* An allow.d file: allow = ( { vendor = "0781"; product = "5567"; ... }, ... );
 * one exception per entry, each approved by someone. */
#include <assert.h>

#include "config-sections.h"

static int config_allow_parse_id(ConfigContext *c, const config_setting_t *entry, const char *key, uint16_t *ret) {
        config_setting_t *s = config_setting_get_member(entry, key);
        const char *v;
        unsigned x = 0;

        if (!s) {
                config_error(c->errors, c->file, config_setting_line(entry), "allow entry has no '%s'", key);
                return -EINVAL;
        }
        v = config_setting_get_string(s);
        if (!v || strlen(v) != 4 || strspn(v, "0123456789abcdefABCDEF") != 4) {
                config_error(c->errors, c->file, config_setting_line(s),
                             "'%s' must be 4 hex digits in quotes, e.g. %s = \"0781\"", key, key);
                return -EINVAL;
        }
        sscanf(v, "%x", &x);
        *ret = (uint16_t) x;
        return 0;
}

static int config_allow_parse_date(ConfigContext *c, const config_setting_t *entry, const char *key, char **ret,
                                   int ymd[3]) {
        int r = config_get_string(c, entry, key, ret);
        if (r <= 0)
                return r;
        r = parse_date(*ret, &ymd[0], &ymd[1], &ymd[2]);
        if (r == -ERANGE) {
                char why[DATE_REASON_MAX];
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(entry, key)),
                             "'%s' is %s, a date that does not exist (%s)", key, *ret,
                             date_nonexistent_reason(why, *ret));
                return -EINVAL;
        }
        if (r < 0) {
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(entry, key)),
                             "'%s' must be a date written YYYY-MM-DD, not '%s'", key, *ret);
                return -EINVAL;
        }
        return 1;
}

/* expires: a date ("2027-03-31": allows through that local day) or, to the
 * second, an RFC 3339 date-time with its offset ("2027-03-31T17:00:00+09:00"). */
static int config_allow_parse_expires(ConfigContext *c, const config_setting_t *entry, AllowEntry *e) {
        int r = config_get_string(c, entry, "expires", &e->expires);
        if (r <= 0)
                return r;
        r = parse_expiry(e->expires, &e->expires_at);
        if (r >= 0)
                return 1;
        if (r == -ERANGE) {
                char why[DATE_REASON_MAX];
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(entry, "expires")),
                             "'expires' is %s, whose date does not exist (%s)", e->expires,
                             date_nonexistent_reason(why, e->expires));
                return -EINVAL;
        }
        config_error(c->errors, c->file, config_setting_line(config_setting_get_member(entry, "expires")),
                     "'expires' must be a date written YYYY-MM-DD or an RFC 3339 date-time such as "
                     "2027-03-31T17:00:00+09:00, not '%s'",
                     e->expires);
        return -EINVAL;
}

static int config_allow_unhex(char h) {
        return h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10;
}

/* serial_hex: the serial's exact bytes in hex, as a usb.* event's serial_hex
 * shows them (a serial with bytes that events show escaped). At most 512
 * bytes, as in events; a 00 byte is refused, since no USB serial holds one. */
static int config_allow_parse_serial_hex(ConfigContext *c, const config_setting_t *entry, AllowEntry *e) {
        _cleanup_free_ char *hex = NULL;
        int line, r = config_get_string(c, entry, "serial_hex", &hex);
        size_t n;

        if (r <= 0)
                return r;
        line = config_setting_line(config_setting_get_member(entry, "serial_hex"));
        n = strlen(hex);
        if (n == 0 || n % 2 != 0 || n > 2 * 512 || strspn(hex, "0123456789abcdefABCDEF") != n) {
                config_error(c->errors, c->file, line,
                             "'serial_hex' must be an even number of hex digits (at most 1024), as the event's serial_hex shows them");
                return -EINVAL;
        }
        e->serial = malloc(n / 2 + 1);
        if (!e->serial)
                return -ENOMEM;
        for (size_t i = 0; i < n / 2; i++)
                e->serial[i] = (char) (config_allow_unhex(hex[2 * i]) << 4 | config_allow_unhex(hex[2 * i + 1]));
        e->serial[n / 2] = 0;
        e->serial_len = n / 2;
        if (memchr(e->serial, 0, e->serial_len)) {
                config_error(c->errors, c->file, line, "'serial_hex' holds a 00 byte, which no USB serial can");
                return -EINVAL;
        }
        return 1;
}

/* access = "read-only" | "read-write": what the device may do with its
 * storage once allowed. Read-write when left out. */
static int config_allow_parse_access(ConfigContext *c, const config_setting_t *entry, AllowEntry *e) {
        _cleanup_free_ char *v = NULL;
        int r = config_get_string(c, entry, "access", &v);

        e->access = ALLOW_ACCESS_READ_WRITE;
        if (r <= 0)
                return r;
        r = allow_access_from_string(v);
        if (r < 0) {
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(entry, "access")),
                             "'access' must be \"read-only\" or \"read-write\", not '%s'", v);
                return -EINVAL;
        }
        e->access = (AllowAccess) r;
        return 1;
}

/* The keys every entry may have, whatever its bus. */
#define CONFIG_ALLOW_COMMON_KEYS "bus", "label", "approved_by", "approved_on", "expires", "ticket"

/* bus = "...": which bus the entry's device is on; USB when not given. */
static int config_allow_parse_bus(ConfigContext *c, const config_setting_t *s, AllowEntry *e) {
        config_setting_t *b = config_setting_get_member(s, "bus");
        const char *v;
        int bus;

        e->bus = DEVICE_BUS_USB;
        if (!b)
                return 0;
        v = config_setting_get_string(b);
        bus = device_bus_from_string(v);
        if (bus < 0) {
                config_error(c->errors, c->file, config_setting_line(b),
                             "'bus' is '%s': use usb, mmc, optical, thunderbolt or firewire", v ? v : "(not a string)");
                return -EINVAL;
        }
        e->bus = (DeviceBus) bus;
        return 0;
}

/* An entry of a bus other than USB: every identity key of the bus, each
 * well-formed (common/device-bus.c); a partial identity would allow more
 * devices than the approver saw. */
static int config_allow_parse_device_id(ConfigContext *c, const config_setting_t *s, AllowEntry *e) {
        const char *const *names = device_bus_id_keys(e->bus);
        const char *keys[DEVICE_ID_MAX + 7] = { CONFIG_ALLOW_COMMON_KEYS };
        size_t n = device_bus_n_id_keys(e->bus), nk = 6;
        int line = config_setting_line(s), bad = 0;

        for (size_t k = 0; k < n; k++)
                keys[nk++] = names[k];
        keys[nk] = NULL;
        config_check_keys(c, s, keys);
        for (size_t k = 0; k < n; k++) {
                config_setting_t *v = config_setting_get_member(s, names[k]);
                const char *str = v ? config_setting_get_string(v) : NULL;

                if (!v) {
                        config_error(c->errors, c->file, line, "allow entry for bus %s has no '%s': %s",
                                     device_bus_to_string(e->bus), names[k], device_bus_id_format(e->bus, k));
                        bad = 1;
                        continue;
                }
                if (!device_bus_id_valid(e->bus, k, str)) {
                        config_error(c->errors, c->file, config_setting_line(v), "'%s' must be %s", names[k],
                                     device_bus_id_format(e->bus, k));
                        bad = 1;
                        continue;
                }
                e->id[k] = strdup(str);
                if (!e->id[k])
                        return -ENOMEM;
                /* the kernel prints hex in lower case: an entry typed in upper case names the same card */
                device_bus_id_normalize(e->bus, k, e->id[k]);
        }
        return bad ? -EINVAL : 0;
}

/* A USB entry: vendor, product and the serial (or any_serial). */
static int config_allow_parse_usb(ConfigContext *c, const config_setting_t *s, AllowEntry *e) {
        static const char *const keys[] = {
                "vendor", "product", "serial", "serial_hex", "any_serial", "access", CONFIG_ALLOW_COMMON_KEYS, NULL
        };
        int line = config_setting_line(s), r, bad = 0;
        bool any = false;

        config_check_keys(c, s, keys);
        bad |= config_allow_parse_id(c, s, "vendor", &e->vendor) < 0;
        bad |= config_allow_parse_id(c, s, "product", &e->product) < 0;

        r = config_get_bool(c, s, "any_serial", &any);
        bad |= r < 0;
        e->any_serial = any;
        r = config_get_string(c, s, "serial", &e->serial);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (r > 0) {
                e->serial_len = strlen(e->serial);
                if (e->serial_len == 0) {
                        config_error(c->errors, c->file, line,
                                     "'serial' is empty: a device without a serial needs any_serial = true");
                        bad = 1;
                }
        }
        if (config_setting_get_member(s, "serial_hex")) {
                if (e->serial) {
                        config_error(c->errors, c->file, line, "set either 'serial' or 'serial_hex', not both");
                        bad = 1;
                } else {
                        r = config_allow_parse_serial_hex(c, s, e);
                        if (r == -ENOMEM)
                                return r;
                        bad |= r < 0;
                }
        }
        if (e->any_serial && e->serial) {
                config_error(c->errors, c->file, line, "set either 'serial' or 'any_serial = true', not both");
                bad = 1;
        } else if (!e->any_serial && !e->serial && r >= 0) {
                config_error(c->errors, c->file, line,
                             "allow entry has no 'serial': give the device's serial (or its serial_hex), or write any_serial = true to allow every device of this model");
                bad = 1;
        }
        return bad ? -EINVAL : 0;
}

static int config_allow_parse_entry(ConfigContext *c, const config_setting_t *s, AllowEntry *e) {
        int line = config_setting_line(s), r, bad = 0;
        int on[3] = { 0 };

        e->line = (unsigned) line;
        e->expires_at = USEC_INFINITY;
        e->file = strdup(c->file);
        if (!e->file)
                return -ENOMEM;

        if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
                config_error(c->errors, c->file, line, "each allow entry must be a group: { vendor = \"...\"; ... }");
                return -EINVAL;
        }
        if (config_allow_parse_bus(c, s, e) < 0)
                return -EINVAL;
        r = e->bus == DEVICE_BUS_USB ? config_allow_parse_usb(c, s, e) : config_allow_parse_device_id(c, s, e);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;

        if (config_get_string(c, s, "label", &e->label) < 0 || config_get_string(c, s, "ticket", &e->ticket) < 0)
                bad = 1;
        r = config_get_string(c, s, "approved_by", &e->approved_by);
        if (r < 0)
                bad = 1;
        else if (r == 0 || isempty(e->approved_by)) {
                config_error(c->errors, c->file, line,
                             "allow entry has no 'approved_by': every exception needs the officer who approved it");
                bad = 1;
        }
        r = config_allow_parse_access(c, s, e);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        r = config_allow_parse_date(c, s, "approved_on", &e->approved_on, on);
        bad |= r < 0;
        r = config_allow_parse_expires(c, s, e);
        bad |= r < 0;
        if (r > 0 && e->approved_on && on[0] && e->expires_at <= date_start_local(on[0], on[1], on[2])) {
                config_error(c->errors, c->file, line, "'expires' (%s) is before 'approved_on' (%s)", e->expires,
                             e->approved_on);
                bad = 1;
        }
        return bad ? -EINVAL : 0;
}

int config_allow_parse_file(ConfigContext *c, const config_t *cfg) {
        config_setting_t *root, *list;
        static const char *const keys[] = { "allow", NULL };
        UsbPolicy *u;
        int n;

        assert(c);
        assert(cfg);

        root = config_root_setting(cfg);
        u = &c->policy->usb;
        config_check_keys(c, root, keys);
        list = config_setting_get_member(root, "allow");
        if (!list)
                return 0; /* an empty file allows nothing, which is fine */
        if (config_setting_type(list) != CONFIG_TYPE_LIST) {
                config_error(c->errors, c->file, config_setting_line(list),
                             "'allow' must be a list of entries: allow = ( { ... }, { ... } );");
                return -EINVAL;
        }
        n = config_setting_length(list);
        for (int i = 0; i < n; i++) {
                config_setting_t *s = config_setting_get_elem(list, (unsigned) i);
                AllowEntry *na, *e;
                int r;

                na = reallocarray(u->entries, u->n_entries + 1, sizeof *na);
                if (!na)
                        return -ENOMEM;
                u->entries = na;
                e = &u->entries[u->n_entries++];
                *e = (AllowEntry){ 0 };
                r = config_allow_parse_entry(c, s, e);
                if (r == -ENOMEM)
                        return r;
        }
        return 0;
}
