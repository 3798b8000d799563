/* SPDX-License-Identifier: MIT */
/* The quarantine = { ... } section of mamori.conf (docs/quarantine.md):
 *
 *   quarantine = {
 *     on = [ "av.detection" ];                  what engages it by itself
 *     allow = [ "192.0.2.10/32", "2001:db8::/64" ];   kept reachable
 *   };
 *
 * The allowed destinations are CIDRs (quarantine-state.c's parser, the one
 * mamori-netguard reads the state file with): mamorid does no DNS, so the
 * collector's, the DNS servers' and the AV mirror's addresses are listed. */
#include <assert.h>
#include <string.h>

#include "config-sections.h"

typedef struct QuarantineTrigger {
        const char *name;
        uint32_t bit;
} QuarantineTrigger;

static const QuarantineTrigger quarantine_triggers[] = {
        { "av.detection", QUARANTINE_ON_AV_DETECTION },
};

static bool config_is_list(const config_setting_t *s) {
        int t = config_setting_type(s);
        return t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST;
}

static int config_quarantine_parse_on(ConfigContext *c, const config_setting_t *on) {
        QuarantinePolicy *p = &c->policy->quarantine;
        int n;

        if (!config_is_list(on))
                return config_wrong_type(c, on, "on", "an array of event kinds, e.g. [ \"av.detection\" ]");
        n = config_setting_length(on);
        for (int i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(on, (unsigned) i);
                const char *v = config_setting_get_string(e);
                uint32_t bit = 0;

                for (size_t k = 0; v && k < ELEMENTSOF(quarantine_triggers); k++)
                        if (streq(v, quarantine_triggers[k].name))
                                bit = quarantine_triggers[k].bit;
                if (bit == 0) {
                        config_error(c->errors, c->file, config_setting_line(e) ?: config_setting_line(on),
                                     "'%s' in quarantine.on is not a kind that can engage the quarantine: use av.detection",
                                     v ? v : "(not a string)");
                        continue;
                }
                if (p->on & bit)
                        config_error(c->errors, c->file, config_setting_line(e) ?: config_setting_line(on),
                                     "'%s' is listed twice in quarantine.on", v);
                p->on |= bit;
        }
        return 0;
}

static int config_quarantine_parse_allow(ConfigContext *c, const config_setting_t *allow) {
        QuarantinePolicy *p = &c->policy->quarantine;
        int n;

        if (!config_is_list(allow))
                return config_wrong_type(c, allow, "allow", "an array of addresses, e.g. [ \"192.0.2.10/32\" ]");
        n = config_setting_length(allow);
        if (n > QUARANTINE_ALLOW_MAX) {
                config_error(c->errors, c->file, config_setting_line(allow),
                             "quarantine.allow has %d entries; at most %d", n, QUARANTINE_ALLOW_MAX);
                return -EINVAL;
        }
        for (int i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(allow, (unsigned) i);
                const char *v = config_setting_get_string(e);
                QuarantineCidr cidr;
                bool dup = false;

                if (!v || quarantine_cidr_parse(v, &cidr) < 0) {
                        /* A name is refused: mamorid does no DNS (docs/quarantine.md). */
                        config_error(c->errors, c->file, config_setting_line(e) ?: config_setting_line(allow),
                                     "'%s' in quarantine.allow is not an address with its prefix length and host bits 0, "
                                     "e.g. \"192.0.2.10/32\" or \"2001:db8::/64\" (no host names: mamorid does no DNS)",
                                     v ? v : "(not a string)");
                        continue;
                }
                for (size_t k = 0; k < p->n_allow; k++)
                        if (p->allow[k].family == cidr.family && p->allow[k].prefixlen == cidr.prefixlen &&
                            memcmp(p->allow[k].addr, cidr.addr, sizeof cidr.addr) == 0)
                                dup = true;
                if (dup) {
                        config_error(c->errors, c->file, config_setting_line(e) ?: config_setting_line(allow),
                                     "'%s' is listed twice in quarantine.allow", v);
                        continue;
                }
                p->allow[p->n_allow++] = cidr;
        }
        return 0;
}

int config_quarantine_parse(ConfigContext *c, const config_setting_t *group) {
        static const char *const keys[] = { "on", "allow", NULL };
        QuarantinePolicy *p = &c->policy->quarantine;
        config_setting_t *s;

        assert(c);
        assert(group);

        if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
                config_error(c->errors, c->file, config_setting_line(group),
                             "'quarantine' must be a group: quarantine = { ... };");
                return -EINVAL;
        }
        config_check_keys(c, group, keys);
        p->configured = true;
        s = config_setting_get_member(group, "on");
        if (s)
                (void) config_quarantine_parse_on(c, s);
        s = config_setting_get_member(group, "allow");
        if (s)
                (void) config_quarantine_parse_allow(c, s);
        return 0;
}
