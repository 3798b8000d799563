/* SPDX-License-Identifier: MIT */
/* The site = { ... } section of mamori.conf: labels the central team groups
 * PCs by (docs/events.md §3: the envelope's "site"). Optional; each label is
 * one line of clean UTF-8 text. */
#include <assert.h>

#include "config-sections.h"
#include "text.h"

static int config_site_parse_label(ConfigContext *c, const config_setting_t *site, const char *key, char **ret) {
        int r = config_get_string(c, site, key, ret);
        if (r <= 0)
                return r;
        if (isempty(*ret) || strlen(*ret) > SITE_LABEL_MAX || !text_is_clean(*ret, strlen(*ret))) {
                config_error(c->errors, c->file, config_key_line(site, key),
                             "site.%s must be one line of printable UTF-8 text, 1 to %d bytes", key, SITE_LABEL_MAX);
                *ret = mfree(*ret);
                return -EINVAL;
        }
        return 1;
}

int config_site_parse(ConfigContext *c, const config_setting_t *site) {
        static const char *const keys[] = { "department", "location", NULL };
        SiteLabels *s = &c->policy->site;
        int r, bad = 0;

        assert(c);
        assert(site);

        if (config_setting_type(site) != CONFIG_TYPE_GROUP)
                return config_wrong_type(c, site, "site",
                                         "a group: site = { department = \"...\"; location = \"...\"; };");
        config_check_keys(c, site, keys);
        r = config_site_parse_label(c, site, "department", &s->department);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        r = config_site_parse_label(c, site, "location", &s->location);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        return bad ? -EINVAL : 0;
}
