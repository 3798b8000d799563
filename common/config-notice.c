/* SPDX-License-Identifier: MIT */
/* The notice = { ... } section of mamori.conf (docs/notices.md). */
#include <assert.h>

#include "config-sections.h"
#include "notice-text.h"
#include "text.h"

#define CONTACT_MAX 200

/* A contact line is shown to staff as it is: one line of clean text. */
static int config_notice_parse_contact(ConfigContext *c, const config_setting_t *group, const char *key, char **ret) {
        config_setting_t *s = config_setting_get_member(group, key);
        int r = config_get_string(c, group, key, ret);
        if (r <= 0)
                return r;
        if (isempty(*ret) || strlen(*ret) > CONTACT_MAX || !text_is_clean(*ret, strlen(*ret))) {
                config_error(c->errors, c->file, config_setting_line(s),
                             "'%s' must be one line of printable text, 1 to %d bytes", key, CONTACT_MAX);
                *ret = mfree(*ret);
                return -EINVAL;
        }
        return 1;
}

static int config_notice_parse_kinds(ConfigContext *c, const config_setting_t *kinds) {
        NoticePolicy *p = &c->policy->notice;
        int t = config_setting_type(kinds), n;

        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
                config_error(c->errors, c->file, config_setting_line(kinds),
                             "'kinds' must be an array of event kinds, e.g. [ \"usb.blocked\" ]");
                return -EINVAL;
        }
        p->kinds_set = true;
        p->kinds = 0;
        n = config_setting_length(kinds);
        for (int i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(kinds, (unsigned) i);
                const char *v = config_setting_get_string(e);
                int k = v ? event_kind_from_string(v) : -EINVAL;
                if (k < 0 || !notice_kind_supported((EventKind) k)) {
                        config_error(c->errors, c->file, config_setting_line(e) ?: config_setting_line(kinds),
                                     "'%s' in notice.kinds is not a kind staff are told about: use usb.blocked, usb.expiring, "
                                     "av.pattern_stale, av.missing, av.engine_inactive or av.detection",
                                     v ? v : "(not a string)");
                        continue;
                }
                if (p->kinds & (UINT32_C(1) << k))
                        config_error(c->errors, c->file, config_setting_line(kinds),
                                     "'%s' is listed twice in notice.kinds", v);
                p->kinds |= UINT32_C(1) << k;
        }
        return 0;
}

int config_notice_parse(ConfigContext *c, const config_setting_t *group) {
        static const char *const keys[] = { "enabled", "kinds", "contact", "contact_en", "burst", "interval", NULL };
        NoticePolicy *p = &c->policy->notice;
        config_setting_t *kinds;
        bool enabled = true;
        long long v;
        int r;

        assert(c);
        assert(group);

        if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
                config_error(c->errors, c->file, config_setting_line(group),
                             "'notice' must be a group: notice = { ... };");
                return -EINVAL;
        }
        config_check_keys(c, group, keys);

        r = config_get_bool(c, group, "enabled", &enabled);
        if (r > 0)
                p->disabled = !enabled;
        r = config_notice_parse_contact(c, group, "contact", &p->contact);
        if (r == -ENOMEM)
                return r;
        r = config_notice_parse_contact(c, group, "contact_en", &p->contact_en);
        if (r == -ENOMEM)
                return r;
        if (config_get_int(c, group, "burst", 1, 100, &v) > 0)
                p->burst = (unsigned) v;
        if (config_get_int(c, group, "interval", 1, 86400, &v) > 0)
                p->interval_sec = (unsigned) v;
        kinds = config_setting_get_member(group, "kinds");
        if (kinds)
                (void) config_notice_parse_kinds(c, kinds);
        return 0;
}
