/* SPDX-License-Identifier: MIT */
/* The notice = { ... } section of mamori.conf (docs/notices.md). */
#include <assert.h>

#include "config-sections.h"
#include "notice-text.h"
#include "text.h"

#define NOTICE_TEXT_MAX 200 /* bytes of a section or a role: about 60 Japanese characters */
#define NOTICE_PHONE_MAX 24

/* A section or a role is shown to staff as it is: one line of clean text
 * (text_is_clean() refuses controls, bidi overrides and invisible
 * formatting, which could make a notice name someone else). */
static int config_notice_check_text(ConfigContext *c, const config_setting_t *s, const char *key, char **v) {
        if (isempty(*v) || strlen(*v) > NOTICE_TEXT_MAX || !text_is_clean(*v, strlen(*v))) {
                config_error(c->errors, c->file, config_setting_line(s),
                             "'%s' must be one line of printable text, 1 to %d bytes", key, NOTICE_TEXT_MAX);
                *v = mfree(*v);
                return -EINVAL;
        }
        return 1;
}

static int config_notice_parse_text(ConfigContext *c, const config_setting_t *group, const char *key, char **ret) {
        int r = config_get_string(c, group, key, ret);
        if (r <= 0)
                return r;
        return config_notice_check_text(c, config_setting_get_member(group, key), key, ret);
}

/* A phone number or an extension as people dial it: digits and the few
 * separators written between them, never text that could pass for words. */
static int config_notice_parse_number(ConfigContext *c, const config_setting_t *group, const char *key,
                                      const char *allowed, char **ret) {
        config_setting_t *s = config_setting_get_member(group, key);
        bool digit = false;
        int r = config_get_string(c, group, key, ret);
        if (r <= 0)
                return r;
        for (const char *p = *ret; *p; p++) {
                if (*p >= '0' && *p <= '9')
                        digit = true;
                else if (!strchr(allowed, *p)) {
                        digit = false;
                        break;
                }
        }
        if (!digit || strlen(*ret) > NOTICE_PHONE_MAX) {
                config_error(c->errors, c->file, config_setting_line(s),
                             "'%s' must be 1 to %d characters of digits and \"%s\", e.g. \"%s\"", key, NOTICE_PHONE_MAX,
                             allowed, streq(key, "phone") ? "0123-45-6789" : "1234");
                *ret = mfree(*ret);
                return -EINVAL;
        }
        return 1;
}

/* contact = { section = "..."; phone = "..."; extension = "..."; section_en = "..."; };
 * or the older contact = "..." (the section) with contact_en. */
static int config_notice_parse_contact(ConfigContext *c, const config_setting_t *group) {
        static const char *const keys[] = { "section", "section_en", "phone", "extension", NULL };
        NoticePolicy *p = &c->policy->notice;
        config_setting_t *s = config_setting_get_member(group, "contact");
        int r;

        if (!s || config_setting_type(s) != CONFIG_TYPE_GROUP) {
                r = config_notice_parse_text(c, group, "contact", &p->contact);
                if (r == -ENOMEM)
                        return r;
                r = config_notice_parse_text(c, group, "contact_en", &p->contact_en);
                return r == -ENOMEM ? r : 0;
        }

        config_check_keys(c, s, keys);
        r = config_notice_parse_text(c, s, "section", &p->contact);
        if (r == -ENOMEM)
                return r;
        if (r == 0)
                config_error(c->errors, c->file, config_setting_line(s),
                             "'contact' needs a 'section': the section staff are told to contact, e.g. "
                             "contact = { section = \"情報政策担当\"; extension = \"1234\"; };");
        r = config_notice_parse_text(c, s, "section_en", &p->contact_en);
        if (r == -ENOMEM)
                return r;
        if (config_setting_get_member(group, "contact_en"))
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(group, "contact_en")),
                             "'contact_en' is for the one-string contact: with contact = { ... }, give section_en "
                             "inside it");
        r = config_notice_parse_number(c, s, "phone", "-+() ", &p->contact_phone);
        if (r == -ENOMEM)
                return r;
        r = config_notice_parse_number(c, s, "extension", "-", &p->contact_extension);
        return r == -ENOMEM ? r : 0;
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
                                     "usb.readonly_violated, device.blocked, device.block_failed, av.pattern_stale, "
                                     "av.missing, av.engine_inactive or av.detection",
                                     v ? v : "(not a string)");
                        continue;
                }
                if (p->kinds & NOTICE_KIND_BIT(k))
                        config_error(c->errors, c->file, config_setting_line(kinds),
                                     "'%s' is listed twice in notice.kinds", v);
                p->kinds |= NOTICE_KIND_BIT(k);
        }
        return 0;
}

int config_notice_parse(ConfigContext *c, const config_setting_t *group) {
        static const char *const keys[] = { "enabled",     "kinds", "contact",  "contact_en", "approver",
                                            "approver_en", "burst", "interval", NULL };
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
        r = config_notice_parse_contact(c, group);
        if (r == -ENOMEM)
                return r;
        r = config_notice_parse_text(c, group, "approver", &p->approver);
        if (r == -ENOMEM)
                return r;
        r = config_notice_parse_text(c, group, "approver_en", &p->approver_en);
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
