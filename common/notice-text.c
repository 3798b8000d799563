/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

#include "notice-text.h"
#include "text-bidi.h"
#include "text.h"

#include "timeutil.h"

Notice *notice_free(Notice *n) {
        if (!n)
                return NULL;
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++) {
                free(n->summary[l]);
                free(n->body[l]);
        }
        free(n->replace_key);
        free(n->dedup_key);
        for (size_t i = 0; i < n->n_facts; i++)
                free(n->facts[i].value);
        free(n);
        return NULL;
}

bool notice_kind_supported(EventKind k) {
        return k == EVENT_USB_BLOCKED || k == EVENT_DEVICE_BLOCKED || k == EVENT_DEVICE_BLOCK_FAILED ||
               k == EVENT_USB_EXPIRING || k == EVENT_AV_PATTERN_STALE || k == EVENT_AV_MISSING ||
               k == EVENT_AV_ENGINE_INACTIVE || k == EVENT_USB_READONLY_VIOLATED || k == EVENT_NET_QUARANTINED ||
               k == EVENT_AV_DETECTION;
}

uint64_t notice_kinds(const NoticePolicy *p) {
        return p && p->kinds_set ? p->kinds : NOTICE_DEFAULT_KINDS;
}

const char *notice_fact(const Notice *n, const char *key) {
        assert(n);
        assert(key);

        for (size_t i = 0; i < n->n_facts; i++)
                if (streq(n->facts[i].key, key))
                        return n->facts[i].value;
        return NULL;
}

/* ---- display text ---- */

char *notice_display_text(const char *str, size_t max_chars) {
        static const char replacement[] = "\xef\xbf\xbd", ellipsis[] = "\xe2\x80\xa6";
        const unsigned char *s = (const unsigned char *) str;
        size_t len, start = 0, end, o = 0, chars = 0, total = 0;
        char *out;

        if (!str)
                return NULL;
        len = strlen(str);
        while (start < len && (s[start] == ' ' || s[start] == '\t'))
                start++;
        end = len;
        while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
                end--;
        if (end == start || max_chars < 2)
                return NULL;

        /* Count first, so that a cut leaves room for the ellipsis. */
        for (size_t i = start; i < end; total++) {
                size_t n = utf8_sequence_len(s + i, end - i);
                i += n ? n : 1;
        }

        out = malloc((end - start) * 3 + sizeof ellipsis);
        if (!out)
                return NULL;
        for (size_t i = start; i < end; chars++) {
                size_t n = utf8_sequence_len(s + i, end - i);
                if (total > max_chars && chars == max_chars - 1) {
                        memcpy(out + o, ellipsis, 3);
                        o += 3;
                        break;
                }
                if (n == 0 || codepoint_is_deceptive(utf8_decode(s + i, n))) {
                        memcpy(out + o, replacement, 3);
                        o += 3;
                        i += n ? n : 1;
                        continue;
                }
                memcpy(out + o, s + i, n);
                o += n;
                i += n;
        }
        out[o] = 0;
        return out;
}

/* ---- building ---- */

static int notice_add_fact(Notice *n, const char *key, const char *value) {
        if (!value)
                return 0;
        if (n->n_facts >= NOTICE_FACTS_MAX)
                return -E2BIG;
        n->facts[n->n_facts].value = strdup(value);
        if (!n->facts[n->n_facts].value)
                return -ENOMEM;
        n->facts[n->n_facts++].key = key;
        return 0;
}

static Notice *notice_new(EventKind kind, const char *event_id) {
        Notice *n = calloc(1, sizeof *n);
        if (!n)
                return NULL;
        n->kind = kind;
        snprintf(n->id, sizeof n->id, "%s", strempty(event_id));
        n->urgency = NOTICE_URGENCY_NORMAL;
        return n;
}

/* Whom staff ask for a permission and whom they tell: both from the
 * config (notice.approver, notice.contact). Unset, the text says it in words
 * that name no role: a town's own role is for its config to give. */
static const char *notice_approver(const NoticePolicy *p, NoticeLang lang) {
        if (p && lang == NOTICE_LANG_EN && p->approver_en)
                return p->approver_en;
        if (p && p->approver)
                return p->approver;
        return lang == NOTICE_LANG_JA ? "承認者" : "your approver";
}

static const char *notice_contact_section(const NoticePolicy *p, NoticeLang lang) {
        if (p && lang == NOTICE_LANG_EN && p->contact_en)
                return p->contact_en;
        return p ? p->contact : NULL;
}

/* "連絡先に…" in a sentence: the section, or neutral words when none is set. */
static const char *notice_contact_words(const NoticePolicy *p, NoticeLang lang) {
        const char *s = notice_contact_section(p, lang);
        if (s)
                return s;
        return lang == NOTICE_LANG_JA ? "端末の管理を担当する部署" : "the section that manages this PC";
}

/* "根拠: 対策基準 第3-6　参照番号: 7f3a9c12" and the contact line:
 * 「連絡先: 情報政策担当（電話 0123-45-6789　内線 1234）」. */
static void notice_write_footer(FILE *f, const NoticePolicy *p, NoticeLang lang, const char *ref, const char *id) {
        const char *section = notice_contact_section(p, lang);
        const char *phone = p ? p->contact_phone : NULL, *ext = p ? p->contact_extension : NULL;
        bool ja = lang == NOTICE_LANG_JA;

        if (ref)
                fprintf(f, ja ? "\n根拠: %s" : "\nPolicy: %s", ref);
        if (!isempty(id))
                fprintf(f, "%s%s: %.8s", ref ? (ja ? "　" : " · ") : "\n", ja ? "参照番号" : "Reference", id);
        if (!section && !phone && !ext)
                return;
        fputs(ja ? "\n連絡先: " : "\nContact: ", f);
        if (section)
                fputs(section, f);
        if (!phone && !ext)
                return;
        fputs(section ? (ja ? "（" : " (") : "", f);
        if (phone)
                fprintf(f, ja ? "電話 %s" : "phone %s", phone);
        if (ext)
                fprintf(f, ja ? "%s内線 %s" : "%sext. %s", phone ? (ja ? "　" : ", ") : "", ext);
        fputs(section ? (ja ? "）" : ")") : "", f);
}

/* How staff know the device's kind: words of the office, not of the USB
 * specification (no MTP, PTP). OTHER has none: "this device" says it all. */
static const char *notice_category_words(UsbCategory c, NoticeLang lang) {
        static const char *const words[_USB_CATEGORY_MAX][_NOTICE_LANG_MAX] = {
                [USB_CATEGORY_OTHER] = { NULL, NULL },
                [USB_CATEGORY_STORAGE] = { "USBメモリ等の外部記録媒体", "USB memory or other removable media" },
                [USB_CATEGORY_MTP] = { "スマートフォン・デジタルカメラ等", "smartphone, digital camera or similar" },
                [USB_CATEGORY_PTP] = { "スマートフォン・デジタルカメラ等", "smartphone, digital camera or similar" },
                [USB_CATEGORY_TETHERING] = { "スマートフォン等によるUSBテザリング",
                                             "USB tethering from a smartphone or similar" },
        };
        return words[(unsigned) c < _USB_CATEGORY_MAX ? c : USB_CATEGORY_OTHER][lang];
}

/* 「この機器（USBメモリ等の外部記録媒体）」 / "this device (USB memory or other removable media)" */
static void notice_write_this_words(FILE *f, NoticeLang lang, const char *cat, bool capital) {
        if (lang == NOTICE_LANG_JA)
                fprintf(f, "この機器%s%s%s", cat ? "（" : "", strempty(cat), cat ? "）" : "");
        else
                fprintf(f, "%s device%s%s%s", capital ? "This" : "this", cat ? " (" : "", strempty(cat), cat ? ")" : "");
}

static void notice_write_this_device(FILE *f, NoticeLang lang, UsbCategory c, bool capital) {
        notice_write_this_words(f, lang, notice_category_words(c, lang), capital);
}

static const char *const notice_month_en[12] = { "January", "February", "March",     "April",   "May",      "June",
                                                 "July",    "August",   "September", "October", "November", "December" };

int notice_format_expiry(const char *expires, usec_t expires_at, NoticeLang lang, char buf[static NOTICE_WHEN_MAX]) {
        int y, mo, d, h = -1, mi = 0;

        assert(buf);

        if (expires && expiry_is_date(expires)) {
                /* through that local day: the date as written, no time */
                if (parse_date(expires, &y, &mo, &d) < 0)
                        return -EINVAL;
        } else {
                struct tm tm;
                time_t t;
                if (expires_at == 0 || expires_at == USEC_INFINITY)
                        return -EINVAL;
                t = (time_t) (expires_at / USEC_PER_SEC);
                if (!localtime_r(&t, &tm))
                        return -EINVAL;
                y = tm.tm_year + 1900;
                mo = tm.tm_mon + 1;
                d = tm.tm_mday;
                h = tm.tm_hour;
                mi = tm.tm_min;
        }
        if (mo < 1 || mo > 12 || y < 1 || y > 9999)
                return -EINVAL;
        if (lang == NOTICE_LANG_JA)
                snprintf(buf, NOTICE_WHEN_MAX, h < 0 ? "%d年%d月%d日" : "%d年%d月%d日 %d:%02d", y, mo, d, h, mi);
        else if (h < 0)
                snprintf(buf, NOTICE_WHEN_MAX, "%d %s %d", d, notice_month_en[mo - 1], y);
        else
                snprintf(buf, NOTICE_WHEN_MAX, "%d %s %d %d:%02d", d, notice_month_en[mo - 1], y, h, mi);
        return 0;
}

static void notice_write_usb_reason(FILE *f, NoticeLang lang, const NoticePolicy *p, DecisionReason reason,
                                    UsbCategory cat, const char *when) {
        const char *approver = notice_approver(p, lang);
        bool ja = lang == NOTICE_LANG_JA;

        switch (reason) {
        case DECISION_EXPIRED:
                if (ja)
                        fprintf(f,
                                "この機器の使用許可の有効期限%s%s%sが過ぎたため、使用できなくなりました。\n"
                                "引き続き使う場合は、%sに使用許可の更新を申請してください。",
                                when ? "（" : "", strempty(when), when ? "）" : "", approver);
                else
                        fprintf(f,
                                "The permission to use this device expired%s%s%s, so it can no longer be used.\n"
                                "To keep using it, ask %s to renew the permission.",
                                when ? " (" : "", strempty(when), when ? ")" : "", approver);
                break;
        case DECISION_SERIAL_MISMATCH:
                notice_write_this_device(f, lang, cat, true);
                if (ja)
                        fprintf(f,
                                "は、使用許可を受けた機器と製造番号（シリアル番号）が一致しないため、"
                                "使用できないようにしました。\n"
                                "業務で使う必要がある場合は、%sに使用許可を申請してください。",
                                approver);
                else
                        fprintf(f,
                                " is not the unit that was given permission (its serial number does not match), "
                                "so it was blocked.\n"
                                "If you need it for work, ask %s for permission.",
                                approver);
                break;
        case DECISION_NO_SERIAL:
                notice_write_this_device(f, lang, cat, true);
                if (ja)
                        fprintf(f,
                                "には製造番号（シリアル番号）がなく、1台ごとに使用許可を出せないため、"
                                "使用できないようにしました。\n"
                                "業務で使う必要がある場合は、%sに相談してください。",
                                approver);
                else
                        fprintf(f,
                                " has no serial number, so permission cannot be given to this one unit; "
                                "it was blocked.\n"
                                "If you need it for work, talk to %s.",
                                approver);
                break;
        case DECISION_NO_POLICY:
                /* a setup fault, not the staff's doing: the contact fixes it */
                if (ja) {
                        fputs("セキュリティ設定を読み込めないため、", f);
                        notice_write_this_device(f, lang, cat, false);
                        fprintf(f,
                                "を一時的に使用できないようにしています。\n"
                                "この状態が続く場合は、%sに連絡してください。",
                                notice_contact_words(p, lang));
                } else {
                        fputs("The security settings could not be loaded, so ", f);
                        notice_write_this_device(f, lang, cat, false);
                        fprintf(f, " is blocked for now.\nIf this continues, contact %s.", notice_contact_words(p, lang));
                }
                break;
        case DECISION_READONLY_VIOLATED:
        case DECISION_READONLY_UNAVAILABLE:
                notice_write_this_device(f, lang, cat, true);
                if (ja)
                        fprintf(f,
                                "は読み取り専用での使用を許可されていますが、読み取り専用にできなかったため、"
                                "使用できないようにしました。\n"
                                "この状態が続く場合は、%sに連絡してください。",
                                notice_contact_words(p, lang));
                else
                        fprintf(f,
                                " is permitted for reading only, but it could not be made read-only, so it "
                                "was blocked.\n"
                                "If this continues, contact %s.",
                                notice_contact_words(p, lang));
                break;
        case DECISION_INFECTED:
                /* 第7-3ア: found by the scan of media from outside; the
                 * person must not plug it in elsewhere, and must call */
                notice_write_this_device(f, lang, cat, true);
                if (ja)
                        fprintf(f,
                                "からコンピュータウイルス等の不正プログラムが見つかったため、"
                                "使用できないようにしました。\n"
                                "この機器をほかの端末に接続せず、すぐに%sに連絡してください。",
                                notice_contact_words(p, lang));
                else
                        fprintf(f,
                                " was found to carry malware (a computer virus or similar), so it was "
                                "blocked.\n"
                                "Do not plug it into any other PC, and tell %s at once.",
                                notice_contact_words(p, lang));
                break;
        default:
                notice_write_this_device(f, lang, cat, true);
                if (ja)
                        fprintf(f,
                                "は使用許可を受けていないため、使用できないようにしました。\n"
                                "業務で使う必要がある場合は、%sに使用許可を申請してください。",
                                approver);
                else
                        fprintf(f,
                                " has not been given permission for use, so it was blocked.\n"
                                "If you need it for work, ask %s for permission.",
                                approver);
        }
}

static bool notice_keeps_hid(const UsbDevice *d, const Decision *dec) {
        for (size_t k = 0; k < d->n_interfaces; k++)
                if (d->interfaces[k].cls == 0x03 && !decision_blocks_interface(dec, &d->interfaces[k]))
                        return true;
        return false;
}

/* Runs write() into a memstream for each language. */
static int notice_render(char *out[_NOTICE_LANG_MAX], void (*write)(FILE *f, NoticeLang lang, const void *ctx),
                         const void *ctx) {
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++) {
                char *buf = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&buf, &len);
                if (!f)
                        return -ENOMEM;
                write(f, (NoticeLang) l, ctx);
                if (fclose(f) != 0 || !buf) {
                        free(buf);
                        return -ENOMEM;
                }
                free(out[l]);
                out[l] = buf;
        }
        return 0;
}

/* How a notice names a USB device: its strings made fit for display, its
 * ID, the policy reference and the expiry. Shared by every USB notice. */
typedef struct UsbNames {
        char *product, *manufacturer, *ref, *expires, *short_name;
        const char *full_name, *name;
        char idbuf[10];
        char when[_NOTICE_LANG_MAX][NOTICE_WHEN_MAX]; /* the expiry for people, local time; "" if none */
} UsbNames;

static void notice_usb_names_done(UsbNames *u) {
        free(u->product);
        free(u->manufacturer);
        free(u->ref);
        free(u->expires);
        free(u->short_name);
}

static void notice_usb_names_init(UsbNames *u, const char *policy_ref, const UsbDevice *d, const AllowEntry *e) {
        const char *expires = e ? e->expires : NULL;

        u->product = notice_display_text(d->product_name, NOTICE_DEVICE_MAX_CHARS);
        u->manufacturer = notice_display_text(d->manufacturer, NOTICE_DEVICE_MAX_CHARS);
        u->ref = notice_display_text(policy_ref ? policy_ref : POLICY_REF_USB_DEFAULT, 80);
        u->expires = expires ? notice_display_text(expires, 32) : NULL;
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                if (!expires || notice_format_expiry(expires, e->expires_at, (NoticeLang) l, u->when[l]) < 0)
                        u->when[l][0] = 0;
        usb_device_id(d, u->idbuf);
        u->full_name = u->product ?: u->manufacturer ?: u->idbuf;
        u->short_name = notice_display_text(u->full_name, NOTICE_NAME_MAX_CHARS);
        u->name = u->short_name ?: u->full_name;
}

/* The facts every USB notice carries, for mamori-notify and its tests. */
static int notice_add_usb_facts(Notice *n, const UsbNames *u, const UsbDevice *d, UsbCategory category) {
        char vid[5], pid[5];
        int r;

        snprintf(vid, sizeof vid, "%04x", d->vendor);
        snprintf(pid, sizeof pid, "%04x", d->product);
        r = notice_add_fact(n, "policy_ref", u->ref);
        if (r >= 0)
                r = notice_add_fact(n, "device_category", usb_category_to_string(category));
        if (r >= 0)
                r = notice_add_fact(n, "vendor_id", vid);
        if (r >= 0)
                r = notice_add_fact(n, "product_id", pid);
        if (r >= 0)
                r = notice_add_fact(n, "product", u->product);
        if (r >= 0)
                r = notice_add_fact(n, "manufacturer", u->manufacturer);
        if (r >= 0 && d->sysname)
                r = notice_add_fact(n, "bus_path", d->sysname);
        if (r >= 0)
                r = notice_add_fact(n, "expires", u->expires);
        return r;
}

typedef struct UsbCtx {
        const NoticePolicy *policy;
        const UsbDevice *d;
        const Decision *dec;
        const char *name, *full_name, *ref, *id;
        const char *when[_NOTICE_LANG_MAX];
        char idbuf[10];
        UsbCategory category;
} UsbCtx;

/* 「機器: Cruzer Blade（ID 0781:5567）」 */
static void notice_write_device_line(FILE *f, NoticeLang lang, const char *name, const char *id) {
        if (lang == NOTICE_LANG_JA)
                fprintf(f, "\n機器: %s（ID %s）", name, id);
        else
                fprintf(f, "\nDevice: %s (ID %s)", name, id);
}

static void notice_write_usb_summary(FILE *f, NoticeLang lang, const void *ctx) {
        const UsbCtx *c = ctx;
        if (lang == NOTICE_LANG_JA)
                fprintf(f, "USB機器「%s」は使用できません", c->name);
        else
                fprintf(f, "USB device “%s” is blocked", c->name);
}

static void notice_write_usb_body(FILE *f, NoticeLang lang, const void *ctx) {
        const UsbCtx *c = ctx;

        notice_write_usb_reason(f, lang, c->policy, c->dec->reason, c->category, c->when[lang]);
        if (notice_keeps_hid(c->d, c->dec))
                fputs(lang == NOTICE_LANG_JA ? "\nこの機器のキーボード・マウス機能はそのまま使えます。"
                                             : "\nIts keyboard and mouse functions keep working.",
                      f);
        notice_write_device_line(f, lang, c->full_name, c->idbuf);
        notice_write_footer(f, c->policy, lang, c->ref, c->id);
}

int notice_build_usb(const NoticePolicy *p, const char *policy_ref, const UsbDevice *d, const Decision *dec,
                     const char *event_id, Notice **ret) {
        _cleanup_(notice_freep) Notice *n = NULL;
        _cleanup_(notice_usb_names_done) UsbNames names = {};
        UsbCtx c = { .policy = p, .d = d, .dec = dec, .id = event_id };
        int r;

        assert(d);
        assert(dec);
        assert(ret);

        n = notice_new(EVENT_USB_BLOCKED, event_id);
        if (!n)
                return -ENOMEM;
        notice_usb_names_init(&names, policy_ref, d, dec->reason == DECISION_EXPIRED ? dec->entry : NULL);
        memcpy(c.idbuf, names.idbuf, sizeof c.idbuf);
        c.full_name = names.full_name;
        c.name = names.name;
        c.ref = names.ref;
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                c.when[l] = names.when[l][0] ? names.when[l] : NULL;
        c.category = usb_category_primary(dec->blocked_categories ?: d->categories);

        r = notice_render(n->summary, notice_write_usb_summary, &c);
        if (r >= 0)
                r = notice_render(n->body, notice_write_usb_body, &c);
        if (r < 0)
                return r;

        n->icon = "drive-removable-media";
        n->category = "device.error";
        n->dedup_usec = NOTICE_USB_DEDUP_USEC;
        /* A phone that changes mode comes back with another product id but the
         * same vendor and serial: one notice says it all. */
        if (d->has_serial)
                r = asprintf(&n->dedup_key, "usb|%04x|%s|%s", d->vendor, strempty(d->serial),
                             decision_reason_to_string(dec->reason));
        else
                r = asprintf(&n->dedup_key, "usb|%s|-|%s|%s", c.idbuf, strempty(d->sysname),
                             decision_reason_to_string(dec->reason));
        if (r < 0)
                return -ENOMEM;
        if (asprintf(&n->replace_key, "usb:%s", strempty(d->sysname)) < 0)
                return -ENOMEM;

        r = notice_add_fact(n, "reason", decision_reason_to_string(dec->reason));
        if (r >= 0)
                r = notice_add_usb_facts(n, &names, d, c.category);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

/* ---- a read-only approval found writable (issue 14) ---- */

typedef struct ReadonlyCtx {
        const NoticePolicy *policy;
        const char *name, *full_name, *ref, *id;
        char idbuf[10];
} ReadonlyCtx;

static void notice_write_readonly_summary(FILE *f, NoticeLang lang, const void *ctx) {
        const ReadonlyCtx *c = ctx;
        if (lang == NOTICE_LANG_JA)
                fprintf(f, "USB機器「%s」を遮断しました（読み取り専用の承認）", c->name);
        else
                fprintf(f, "USB device “%s” was blocked (approved read-only)", c->name);
}

static void notice_write_readonly_body(FILE *f, NoticeLang lang, const void *ctx) {
        const ReadonlyCtx *c = ctx;

        if (lang == NOTICE_LANG_JA)
                fprintf(f,
                        "この機器（USBメモリ等の外部記録媒体）は読み取り専用での使用を許可されていますが、"
                        "書き込みができる状態になっていたため、使用できないようにしました。\n"
                        "再び読み取るには、機器を取り外してから接続し直してください。"
                        "心当たりがない場合は、%sに連絡してください。",
                        notice_contact_words(c->policy, lang));
        else
                fprintf(f,
                        "This device (USB memory or other removable media) is permitted for reading only, but it "
                        "had become writable, so it was blocked.\n"
                        "To read it again, remove it and plug it in again. If you did not expect this, contact %s.",
                        notice_contact_words(c->policy, lang));
        fprintf(f, "\n%s: %s (ID %s)", lang == NOTICE_LANG_JA ? "機器" : "Device", c->full_name, c->idbuf);
        notice_write_footer(f, c->policy, lang, c->ref, c->id);
}

int notice_build_usb_readonly_violated(const NoticePolicy *p, const char *policy_ref, const UsbDevice *d,
                                       const Decision *dec, const char *event_id, Notice **ret) {
        _cleanup_(notice_freep) Notice *n = NULL;
        _cleanup_(notice_usb_names_done) UsbNames names = {};
        ReadonlyCtx c = { .policy = p, .id = event_id };
        UsbCategory category;
        int r;

        assert(d);
        assert(dec);
        assert(ret);

        n = notice_new(EVENT_USB_READONLY_VIOLATED, event_id);
        if (!n)
                return -ENOMEM;
        notice_usb_names_init(&names, policy_ref, d, NULL);
        memcpy(c.idbuf, names.idbuf, sizeof c.idbuf);
        c.full_name = names.full_name;
        c.name = names.name;
        c.ref = names.ref;
        category = usb_category_primary(dec->blocked_categories ?: d->categories);
        r = notice_render(n->summary, notice_write_readonly_summary, &c);
        if (r >= 0)
                r = notice_render(n->body, notice_write_readonly_body, &c);
        if (r < 0)
                return r;
        n->icon = "drive-removable-media";
        n->category = "device";
        n->urgency = NOTICE_URGENCY_CRITICAL;
        n->dedup_usec = NOTICE_USB_DEDUP_USEC;
        if (asprintf(&n->dedup_key, "usb-readonly|%04x|%s|%s", d->vendor, strempty(d->serial), strempty(d->sysname)) < 0)
                return -ENOMEM;
        /* the usb.blocked that follows tells nothing new: this stays on screen */
        if (asprintf(&n->replace_key, "usb:%s", strempty(d->sysname)) < 0)
                return -ENOMEM;
        r = notice_add_usb_facts(n, &names, d, category);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

/* ---- an approval that ends soon ---- */

typedef struct ExpiringCtx {
        const NoticePolicy *policy;
        const char *name, *full_name, *ref, *id;
        const char *when[_NOTICE_LANG_MAX];
        char idbuf[10];
        UsbCategory category;
        unsigned minutes;
} ExpiringCtx;

static void notice_write_expiring_summary(FILE *f, NoticeLang lang, const void *ctx) {
        const ExpiringCtx *c = ctx;
        if (lang == NOTICE_LANG_JA)
                fprintf(f, "USB機器「%s」の使用許可がまもなく期限を迎えます", c->name);
        else
                fprintf(f, "The permission to use USB device “%s” ends soon", c->name);
}

static void notice_write_expiring_body(FILE *f, NoticeLang lang, const void *ctx) {
        const ExpiringCtx *c = ctx;
        const char *when = c->when[lang], *approver = notice_approver(c->policy, lang);

        if (lang == NOTICE_LANG_JA) {
                notice_write_this_device(f, lang, c->category, true);
                fprintf(f,
                        "の使用許可は、あと約%u分で有効期限%s%s%sを迎え、使用できなくなります。\n"
                        "作業中のファイルを保存し、それまでに機器を取り外してください。"
                        "その時点で使用中の場合は、自動的に安全な取り外しを行ってから使用できなくします。\n"
                        "引き続き使う場合は、%sに使用許可の更新を申請してください。",
                        c->minutes, when ? "（" : "", strempty(when), when ? "）" : "", approver);
        } else {
                fputs("The permission to use ", f);
                notice_write_this_device(f, lang, c->category, false);
                fprintf(f,
                        " expires in about %u minute%s%s%s%s, and it can no longer be used then.\n"
                        "Save your work and remove the device before then. If it is still in use then, it is "
                        "first safely removed, then blocked.\n"
                        "To keep using it, ask %s to renew the permission.",
                        c->minutes, c->minutes == 1 ? "" : "s", when ? " (" : "", strempty(when), when ? ")" : "",
                        approver);
        }
        notice_write_device_line(f, lang, c->full_name, c->idbuf);
        notice_write_footer(f, c->policy, lang, c->ref, c->id);
}

int notice_build_usb_expiring(const NoticePolicy *p, const char *policy_ref, const UsbDevice *d, const Decision *dec,
                              usec_t now, const char *event_id, Notice **ret) {
        _cleanup_(notice_freep) Notice *n = NULL;
        _cleanup_(notice_usb_names_done) UsbNames names = {};
        ExpiringCtx c = { .policy = p, .id = event_id };
        usec_t left;
        int r;

        assert(d);
        assert(dec);
        assert(ret);

        left = dec->changes_at > now ? dec->changes_at - now : 0;
        n = notice_new(EVENT_USB_EXPIRING, event_id);
        if (!n)
                return -ENOMEM;
        notice_usb_names_init(&names, policy_ref, d, dec->entry);
        memcpy(c.idbuf, names.idbuf, sizeof c.idbuf);
        c.full_name = names.full_name;
        c.name = names.name;
        c.ref = names.ref;
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                c.when[l] = names.when[l][0] ? names.when[l] : NULL;
        c.category = usb_category_primary(dec->blocked_categories ?: d->categories);
        /* rounded up: "in about 1 minute" until it is over */
        c.minutes = (unsigned) MIN((left + 60 * USEC_PER_SEC - 1) / (60 * USEC_PER_SEC), (usec_t) UINT32_MAX);

        r = notice_render(n->summary, notice_write_expiring_summary, &c);
        if (r >= 0)
                r = notice_render(n->body, notice_write_expiring_body, &c);
        if (r < 0)
                return r;
        n->icon = "drive-removable-media";
        n->category = "device";
        n->urgency = NOTICE_URGENCY_CRITICAL;
        n->dedup_usec = NOTICE_USB_DEDUP_USEC;
        if (asprintf(&n->dedup_key, "usb-expiring|%04x|%s|%s|%llu", d->vendor, strempty(d->serial),
                     strempty(d->sysname), (unsigned long long) dec->changes_at) < 0)
                return -ENOMEM;
        /* the block at expiry replaces it on screen */
        if (asprintf(&n->replace_key, "usb:%s", strempty(d->sysname)) < 0)
                return -ENOMEM;
        r = notice_add_usb_facts(n, &names, d, c.category);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

/* ---- devices outside USB (issue 14) ---- */

/* The category in the words of the office (docs/glossary.md): the brackets
 * of 「この機器（…）」 and the summary's noun. */
static const char *notice_device_words(DeviceCategory c, NoticeLang lang) {
        static const char *const words[_DEVICE_CATEGORY_MAX][_NOTICE_LANG_MAX] = {
                [DEVICE_CATEGORY_MMC] = { "SDカード等の外部記録媒体", "SD card or other memory card" },
                [DEVICE_CATEGORY_OPTICAL_WRITE] = { "CD・DVD等の光学ドライブ", "CD or DVD drive" },
                [DEVICE_CATEGORY_OPTICAL] = { "CD・DVD等の光学ドライブ", "CD or DVD drive" },
                [DEVICE_CATEGORY_THUNDERBOLT] = { "Thunderbolt機器", "Thunderbolt device" },
                [DEVICE_CATEGORY_FIREWIRE] = { "FireWire機器", "FireWire device" },
        };
        return (unsigned) c < _DEVICE_CATEGORY_MAX ? words[c][lang] : NULL;
}

static const char *notice_device_noun(DeviceCategory c, NoticeLang lang) {
        static const char *const nouns[_DEVICE_CATEGORY_MAX][_NOTICE_LANG_MAX] = {
                [DEVICE_CATEGORY_MMC] = { "SDカード", "SD card" },
                [DEVICE_CATEGORY_OPTICAL_WRITE] = { "光学ドライブ", "CD/DVD drive" },
                [DEVICE_CATEGORY_OPTICAL] = { "光学ドライブ", "CD/DVD drive" },
                [DEVICE_CATEGORY_THUNDERBOLT] = { "Thunderbolt機器", "Thunderbolt device" },
                [DEVICE_CATEGORY_FIREWIRE] = { "FireWire機器", "FireWire device" },
        };
        return (unsigned) c < _DEVICE_CATEGORY_MAX ? nouns[c][lang] : (lang == NOTICE_LANG_JA ? "機器" : "Device");
}

typedef struct DeviceCtx {
        const NoticePolicy *policy;
        const NoticeDevice *d;
        const Decision *dec;
        const char *name, *ref, *id; /* name: NULL when the device gives none (a card often) */
        const char *when[_NOTICE_LANG_MAX];
        bool incomplete; /* an identity value is missing: no entry can name it */
} DeviceCtx;

static void notice_write_device_summary(FILE *f, NoticeLang lang, const void *ctx) {
        const DeviceCtx *c = ctx;
        const char *noun = notice_device_noun(c->d->category, lang);
        bool ja = lang == NOTICE_LANG_JA;

        /* only writing is blocked: the drive itself is not "unusable" */
        if (c->d->category == DEVICE_CATEGORY_OPTICAL_WRITE && !c->d->block_failed) {
                if (ja)
                        fprintf(f, "%s%s%s%sへの書き込みはできません", noun, c->name ? "「" : "", strempty(c->name),
                                c->name ? "」" : "");
                else
                        fprintf(f, "Writing to %s%s%s%s is blocked", noun, c->name ? " “" : "", strempty(c->name),
                                c->name ? "”" : "");
                return;
        }
        if (ja)
                fprintf(f, "%s%s%s%sは使用できません", noun, c->name ? "「" : "", strempty(c->name), c->name ? "」" : "");
        else
                fprintf(f, "%s%s%s%s is %s", noun, c->name ? " “" : "", strempty(c->name), c->name ? "”" : "",
                        c->d->block_failed ? "not approved" : "blocked");
}

static void notice_write_device_reason(FILE *f, NoticeLang lang, const DeviceCtx *c) {
        const char *cat = notice_device_words(c->d->category, lang), *approver = notice_approver(c->policy, lang);
        const char *when = c->when[lang];
        bool ja = lang == NOTICE_LANG_JA, write_only = c->d->category == DEVICE_CATEGORY_OPTICAL_WRITE;

        if (c->d->block_failed) {
                /* the device still works: the person is the one who can stop it */
                notice_write_this_words(f, lang, cat, true);
                if (ja)
                        fprintf(f,
                                "は使用許可を受けていませんが、自動で使用できないようにすることができませんでした。\n"
                                "この機器は使わずに取り外し、%sに連絡してください。",
                                notice_contact_words(c->policy, lang));
                else
                        fprintf(f,
                                " has not been given permission for use, but it could not be blocked "
                                "automatically.\n"
                                "Do not use it: remove it and contact %s.",
                                notice_contact_words(c->policy, lang));
                return;
        }
        switch (c->dec->reason) {
        case DECISION_EXPIRED:
                if (ja)
                        fprintf(f,
                                "この機器の%s使用許可の有効期限%s%s%sが過ぎたため、%sできなくなりました。\n"
                                "引き続き使う場合は、%sに使用許可の更新を申請してください。",
                                write_only ? "書き込みの" : "", when ? "（" : "", strempty(when), when ? "）" : "",
                                write_only ? "書き込みが" : "使用", approver);
                else
                        fprintf(f,
                                "The permission to %s this device expired%s%s%s, so %s.\n"
                                "To keep using it, ask %s to renew the permission.",
                                write_only ? "write with" : "use", when ? " (" : "", strempty(when), when ? ")" : "",
                                write_only ? "it can no longer write" : "it can no longer be used", approver);
                break;
        case DECISION_NO_POLICY:
                /* a setup fault, not the staff's doing: the contact fixes it */
                if (ja) {
                        fputs("セキュリティ設定を読み込めないため、", f);
                        notice_write_this_words(f, lang, cat, false);
                        fprintf(f,
                                "を一時的に使用できないようにしています。\nこの状態が続く場合は、%sに連絡してください。",
                                notice_contact_words(c->policy, lang));
                } else {
                        fputs("The security settings could not be loaded, so ", f);
                        notice_write_this_words(f, lang, cat, false);
                        fprintf(f, " is blocked for now.\nIf this continues, contact %s.",
                                notice_contact_words(c->policy, lang));
                }
                break;
        case DECISION_INFECTED:
                /* 第7-3ア: an SD card on which the media scan found malware */
                notice_write_this_words(f, lang, cat, true);
                if (ja)
                        fprintf(f,
                                "からコンピュータウイルス等の不正プログラムが見つかったため、"
                                "使用できないようにしました。\n"
                                "この機器をほかの端末に接続せず、すぐに%sに連絡してください。",
                                notice_contact_words(c->policy, lang));
                else
                        fprintf(f,
                                " was found to carry malware (a computer virus or similar), so it was "
                                "blocked.\n"
                                "Do not plug it into any other PC, and tell %s at once.",
                                notice_contact_words(c->policy, lang));
                break;
        default:
                notice_write_this_words(f, lang, cat, true);
                if (c->incomplete) {
                        if (ja)
                                fprintf(f,
                                        "は機器を見分ける情報（製造番号等）を読み取れず、1台ごとに使用許可を出せないため、"
                                        "%sようにしました。\n業務で使う必要がある場合は、%sに相談してください。",
                                        write_only ? "書き込みができない" : "使用できない", approver);
                        else
                                fprintf(f,
                                        " does not give the details that tell it apart (such as a serial number), "
                                        "so permission cannot be given to this one unit; %s.\n"
                                        "If you need it for work, talk to %s.",
                                        write_only ? "writing to it was blocked" : "it was blocked", approver);
                } else if (write_only) {
                        if (ja)
                                fprintf(f,
                                        "での書き込みは使用許可を受けていないため、できないようにしました。"
                                        "ディスクの読み取りはそのまま使えます。\n"
                                        "業務で書き込む必要がある場合は、%sに使用許可を申請してください。",
                                        approver);
                        else
                                fprintf(f,
                                        " has not been given permission for writing, so writing was blocked. "
                                        "Reading discs keeps working.\n"
                                        "If you need to write discs for work, ask %s for permission.",
                                        approver);
                } else if (ja)
                        fprintf(f,
                                "は使用許可を受けていないため、使用できないようにしました。\n"
                                "業務で使う必要がある場合は、%sに使用許可を申請してください。",
                                approver);
                else
                        fprintf(f,
                                " has not been given permission for use, so it was blocked.\n"
                                "If you need it for work, ask %s for permission.",
                                approver);
        }
        /* A dock stops as a whole: the keyboard on it is not broken. */
        if (c->d->category == DEVICE_CATEGORY_THUNDERBOLT)
                fputs(ja ? "\nドッキングステーション等の場合、そこにつないだキーボード・マウス・ネットワーク等も"
                           "使えなくなります（故障ではありません）。"
                         : "\nIf it is a docking station, the keyboard, mouse, network and anything else connected "
                           "to it stop working too (they are not broken).",
                      f);
}

static void notice_write_device_body(FILE *f, NoticeLang lang, const void *ctx) {
        const DeviceCtx *c = ctx;

        notice_write_device_reason(f, lang, c);
        if (c->name)
                fprintf(f, lang == NOTICE_LANG_JA ? "\n機器: %s" : "\nDevice: %s", c->name);
        notice_write_footer(f, c->policy, lang, c->ref, c->id);
}

int notice_build_device(const NoticePolicy *p, const char *policy_ref, const NoticeDevice *d, const Decision *dec,
                        const char *event_id, Notice **ret) {
        _cleanup_(notice_freep) Notice *n = NULL;
        _cleanup_free_ char *vendor = NULL, *model = NULL, *full = NULL, *name = NULL, *ref = NULL, *expires = NULL,
                            *where = NULL;
        char when[_NOTICE_LANG_MAX][NOTICE_WHEN_MAX] = {};
        DeviceCtx c = { .policy = p, .d = d, .dec = dec, .id = event_id };
        const AllowEntry *e = dec->reason == DECISION_EXPIRED ? dec->entry : NULL;
        size_t n_keys;
        FILE *f;
        char *key = NULL;
        size_t key_len = 0;
        int r;

        assert(d);
        assert(dec);
        assert(ret);

        if ((unsigned) d->category >= _DEVICE_CATEGORY_MAX)
                return -EINVAL;
        n = notice_new(d->block_failed ? EVENT_DEVICE_BLOCK_FAILED : EVENT_DEVICE_BLOCKED, event_id);
        if (!n)
                return -ENOMEM;

        /* the name people know it by: vendor and model; a card's own name
         * (its vendor is its type, "SD", which the noun says already) */
        vendor = notice_display_text(d->vendor, NOTICE_DEVICE_MAX_CHARS);
        model = notice_display_text(d->model ?: (d->category == DEVICE_CATEGORY_MMC ? d->id[2] : NULL),
                                    NOTICE_DEVICE_MAX_CHARS);
        if (d->category == DEVICE_CATEGORY_MMC)
                full = TAKE_PTR(model);
        else if (vendor && model && asprintf(&full, "%s %s", vendor, model) < 0)
                return -ENOMEM;
        else if (!full)
                full = TAKE_PTR(model) ?: TAKE_PTR(vendor);
        name = notice_display_text(full, NOTICE_NAME_MAX_CHARS);
        c.name = name;
        ref = notice_display_text(policy_ref ? policy_ref : POLICY_REF_USB_DEFAULT, 80);
        c.ref = ref;
        expires = e && e->expires ? notice_display_text(e->expires, 32) : NULL;
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                c.when[l] = e && e->expires &&
                                            notice_format_expiry(e->expires, e->expires_at, (NoticeLang) l, when[l]) >= 0
                                    ? when[l]
                                    : NULL;
        n_keys = device_bus_n_id_keys(device_category_bus(d->category));
        for (size_t k = 0; k < n_keys; k++)
                if (!d->id[k])
                        c.incomplete = true;

        r = notice_render(n->summary, notice_write_device_summary, &c);
        if (r >= 0)
                r = notice_render(n->body, notice_write_device_body, &c);
        if (r < 0)
                return r;
        n->icon = d->category == DEVICE_CATEGORY_OPTICAL || d->category == DEVICE_CATEGORY_OPTICAL_WRITE
                          ? "drive-optical"
                          : "drive-removable-media";
        n->category = "device.error";
        n->urgency = d->block_failed ? NOTICE_URGENCY_CRITICAL : NOTICE_URGENCY_NORMAL;
        n->dedup_usec = NOTICE_USB_DEDUP_USEC;

        /* One notice per device and reason within the window: a card put in
         * ten times is told once. Its whole identity, or where it sits when
         * it gives none (then only that slot's repeats fold). */
        f = open_memstream(&key, &key_len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "device|%s|%s", device_category_to_string(d->category),
                d->block_failed ? "block_failed" : decision_reason_to_string(dec->reason));
        for (size_t k = 0; k < n_keys; k++)
                fprintf(f, "|%s", d->id[k] ?: "-");
        if (c.incomplete)
                fprintf(f, "|@%s", strempty(d->sysname));
        if (fclose(f) != 0 || !key) {
                free(key);
                return -ENOMEM;
        }
        n->dedup_key = key;
        if (asprintf(&n->replace_key, "device:%s", strempty(d->sysname)) < 0)
                return -ENOMEM;

        r = notice_add_fact(n, "reason", d->block_failed ? "block_failed" : decision_reason_to_string(dec->reason));
        if (r >= 0)
                r = notice_add_fact(n, "policy_ref", ref);
        if (r >= 0)
                r = notice_add_fact(n, "device_bus", device_bus_to_string(device_category_bus(d->category)));
        if (r >= 0)
                r = notice_add_fact(n, "device_category", device_category_to_string(d->category));
        if (r >= 0)
                r = notice_add_fact(n, "product", full);
        if (r >= 0 && d->sysname)
                r = (where = notice_display_text(d->sysname, 64)) ? notice_add_fact(n, "bus_path", where) : 0;
        if (r >= 0)
                r = notice_add_fact(n, "expires", expires);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

/* ---- the network quarantine (issue 15, docs/quarantine.md) ---- */

typedef struct QuarantineCtx {
        const NoticePolicy *policy;
        const char *ref, *id;
} QuarantineCtx;

static void notice_write_quarantined_summary(FILE *f, NoticeLang lang, const void *ctx) {
        fputs(lang == NOTICE_LANG_JA ? "端末をネットワークから切り離しました"
                                     : "This PC was disconnected from the network",
              f);
}

static void notice_write_quarantined_body(FILE *f, NoticeLang lang, const void *ctx) {
        const QuarantineCtx *c = ctx;
        bool ja = lang == NOTICE_LANG_JA;
        if (ja)
                fprintf(f,
                        "不正プログラムへの対策として、この端末をネットワークから切り離しました。\n"
                        "端末の電源は切らずにそのままにして、すぐに%sに電話してください。"
                        "ケーブルの抜き差しや再起動では元に戻りません。",
                        notice_contact_words(c->policy, lang));
        else
                fprintf(f,
                        "To contain malicious software, this PC was disconnected from the network.\n"
                        "Leave it switched on as it is and call %s at once. "
                        "Unplugging cables or restarting does not bring the network back.",
                        notice_contact_words(c->policy, lang));
        notice_write_footer(f, c->policy, lang, c->ref, c->id);
}

static int notice_build_quarantined(const NoticePolicy *p, const char *policy_ref, const char *event_id, Notice **ret) {
        _cleanup_(notice_freep) Notice *n = notice_new(EVENT_NET_QUARANTINED, event_id);
        _cleanup_free_ char *ref = NULL;
        QuarantineCtx c = { .policy = p, .id = event_id };
        int r;

        if (!n)
                return -ENOMEM;
        ref = notice_display_text(policy_ref, 80);
        c.ref = ref;
        r = notice_render(n->summary, notice_write_quarantined_summary, &c);
        if (r >= 0)
                r = notice_render(n->body, notice_write_quarantined_body, &c);
        if (r < 0)
                return r;
        n->icon = "network-offline";
        n->urgency = NOTICE_URGENCY_CRITICAL;
        n->dedup_usec = NOTICE_AV_DEDUP_USEC;
        n->dedup_key = strdup("net.quarantined");
        n->replace_key = strdup("quarantine");
        if (!n->dedup_key || !n->replace_key)
                return -ENOMEM;
        *ret = TAKE_PTR(n);
        return 0;
}

/* ---- antivirus ---- */

typedef struct AvCtx {
        const NoticePolicy *policy;
        EventKind kind;
        const char *ref, *id;
} AvCtx;

static void notice_write_av_summary(FILE *f, NoticeLang lang, const void *ctx) {
        const AvCtx *c = ctx;
        bool ja = lang == NOTICE_LANG_JA;
        if (c->kind == EVENT_AV_PATTERN_STALE)
                fputs(ja ? "ウイルス対策のパターンファイルが古くなっています"
                         : "The antivirus pattern file is out of date",
                      f);
        else
                fputs(ja ? "ウイルス対策ソフトが動作していません" : "Antivirus protection is not running", f);
}

/* The PC stays usable: say so, say what not to do until it is fixed, and
 * whom to tell. */
static void notice_write_av_body(FILE *f, NoticeLang lang, const void *ctx) {
        const AvCtx *c = ctx;
        const char *contact = notice_contact_words(c->policy, lang);
        bool stale = c->kind == EVENT_AV_PATTERN_STALE;

        if (lang == NOTICE_LANG_JA)
                fprintf(f,
                        "%s端末はこのまま使えます。\n"
                        "%sまで、外部から届いたメールの添付ファイルや、外部から受け取ったファイルは開かないでください。\n"
                        "この通知が出たことを、%sに連絡してください。",
                        stale ? "この端末のウイルス対策ソフトのパターンファイルが更新されていません。"
                              : "この端末でウイルス対策ソフトが見つからないか、動作していません。",
                        stale ? "パターンファイルが更新される" : "ウイルス対策ソフトが動作する", contact);
        else
                fprintf(f,
                        "%s You can keep using the PC.\n"
                        "Until %s, do not open attachments of mail from outside or files received from outside.\n"
                        "Please tell %s that you saw this notice.",
                        stale ? "The antivirus pattern file (virus definitions) on this PC has not been updated."
                              : "Antivirus software is missing or not running on this PC.",
                        stale ? "it is updated" : "it is running again", contact);
        notice_write_footer(f, c->policy, lang, c->ref, c->id);
}

int notice_build_event(const NoticePolicy *p, EventKind kind, const char *policy_ref, const char *event_id, Notice **ret) {
        _cleanup_(notice_freep) Notice *n = NULL;
        _cleanup_free_ char *ref = NULL;
        AvCtx c = { .policy = p, .kind = kind, .id = event_id };
        int r;

        assert(ret);

        if (kind == EVENT_NET_QUARANTINED)
                return notice_build_quarantined(p, policy_ref, event_id, ret);
        if (kind == EVENT_AV_DETECTION)
                return notice_build_detection(p, policy_ref, event_id, ret);
        if (kind != EVENT_AV_PATTERN_STALE && kind != EVENT_AV_MISSING && kind != EVENT_AV_ENGINE_INACTIVE)
                return -EOPNOTSUPP;
        n = notice_new(kind, event_id);
        if (!n)
                return -ENOMEM;
        ref = notice_display_text(policy_ref, 80);
        c.ref = ref;
        r = notice_render(n->summary, notice_write_av_summary, &c);
        if (r >= 0)
                r = notice_render(n->body, notice_write_av_body, &c);
        if (r < 0)
                return r;
        n->icon = "security-low";
        n->category = NULL;
        n->dedup_usec = NOTICE_AV_DEDUP_USEC;
        n->dedup_key = strdup(event_kind_info(kind)->name);
        n->replace_key = strdup("antivirus");
        if (!n->dedup_key || !n->replace_key)
                return -ENOMEM;
        r = notice_add_fact(n, "policy_ref", ref);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

int notice_set_also(Notice *n, unsigned also) {
        assert(n);

        for (unsigned l = 0; l < _NOTICE_LANG_MAX && also > 0; l++) {
                char *b = NULL;
                int r;
                if (l == NOTICE_LANG_JA)
                        r = asprintf(&b,
                                     "%s\n短時間に通知が続いたため、ほかに%u件の表示を省略しました（記録は残っています）。",
                                     n->body[l], also);
                else
                        r = asprintf(&b,
                                     "%s\nNotices came in quick succession, so %u more %s not shown (%s still "
                                     "recorded).",
                                     n->body[l], also, also == 1 ? "was" : "were", also == 1 ? "it is" : "they are");
                if (r < 0)
                        return -ENOMEM;
                free(n->body[l]);
                n->body[l] = b;
        }
        n->also = also;
        return 0;
}

/* ---- av.detection (issue 15): one block, texts per the glossary of issue 17 ---- */


static void notice_write_detection_summary(FILE *f, NoticeLang lang, const void *ctx) {
        fputs(lang == NOTICE_LANG_JA ? "この端末で不正プログラムが見つかりました" : "Malware was found on this PC", f);
}

static void notice_write_detection_body(FILE *f, NoticeLang lang, const void *ctx) {
        const AvCtx *c = ctx;
        const char *contact = notice_contact_words(c->policy, lang);

        if (lang == NOTICE_LANG_JA)
                fprintf(f,
                        "ウイルス対策ソフトがこの端末で不正プログラムを検知しました。\n"
                        "作業を止め、ファイルを開いたり外部記録媒体を抜き差ししたりせず、すぐに%sに連絡してください。",
                        contact);
        else
                fprintf(f,
                        "The antivirus software found malware on this PC.\n"
                        "Stop working, do not open files or plug or unplug removable media, and tell %s at once.",
                        contact);
        notice_write_footer(f, c->policy, lang, c->ref, c->id);
}

int notice_build_detection(const NoticePolicy *p, const char *policy_ref, const char *event_id, Notice **ret) {
        _cleanup_(notice_freep) Notice *n = NULL;
        _cleanup_free_ char *ref = NULL;
        AvCtx c = { .policy = p, .kind = EVENT_AV_DETECTION, .id = event_id };
        int r;

        assert(ret);

        n = notice_new(EVENT_AV_DETECTION, event_id);
        if (!n)
                return -ENOMEM;
        ref = notice_display_text(policy_ref, 80);
        c.ref = ref;
        r = notice_render(n->summary, notice_write_detection_summary, &c);
        if (r >= 0)
                r = notice_render(n->body, notice_write_detection_body, &c);
        if (r < 0)
                return r;
        n->icon = "security-low";
        n->category = NULL;
        /* Each detection is news, but a burst of them is one notice a minute. */
        n->dedup_usec = NOTICE_USB_DEDUP_USEC;
        n->dedup_key = strdup("av.detection");
        n->replace_key = strdup("antivirus-detection");
        if (!n->dedup_key || !n->replace_key)
                return -ENOMEM;
        r = notice_add_fact(n, "policy_ref", ref);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}
