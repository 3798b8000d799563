/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

#include "notice-text.h"
#include "text-bidi.h"
#include "text.h"

#define OFFICER_JA "情報セキュリティ管理者"
#define OFFICER_EN "the information security officer"

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
        return k == EVENT_USB_BLOCKED || k == EVENT_USB_EXPIRING || k == EVENT_AV_PATTERN_STALE ||
               k == EVENT_AV_MISSING || k == EVENT_AV_ENGINE_INACTIVE || k == EVENT_AV_DETECTION;
}

uint32_t notice_kinds(const NoticePolicy *p) {
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

/* "根拠: 対策基準 第3-6　参照番号: 7f3a9c12" and the contact line. */
static void notice_write_footer(FILE *f, const NoticePolicy *p, NoticeLang lang, const char *ref, const char *id) {
        const char *contact = lang == NOTICE_LANG_EN && p && p->contact_en ? p->contact_en : p ? p->contact : NULL;

        if (lang == NOTICE_LANG_JA) {
                if (ref)
                        fprintf(f, "\n根拠: %s", ref);
                if (!isempty(id))
                        fprintf(f, "%s参照番号: %.8s", ref ? "　" : "\n", id);
                if (contact)
                        fprintf(f, "\n連絡先: %s", contact);
        } else {
                if (ref)
                        fprintf(f, "\nPolicy: %s", ref);
                if (!isempty(id))
                        fprintf(f, "%sReference: %.8s", ref ? " · " : "\n", id);
                if (contact)
                        fprintf(f, "\nContact: %s", contact);
        }
}

static const char *notice_category_words(UsbCategory c, NoticeLang lang) {
        static const char *const words[_USB_CATEGORY_MAX][_NOTICE_LANG_MAX] = {
                [USB_CATEGORY_OTHER] = { "USB機器", "USB device" },
                [USB_CATEGORY_STORAGE] = { "USBメモリ等の記録媒体", "USB storage device" },
                [USB_CATEGORY_MTP] = { "スマートフォン等のモバイル端末 (MTP)", "phone or media player (MTP)" },
                [USB_CATEGORY_PTP] = { "カメラ・スマートフォン (PTP)", "camera or phone (PTP)" },
                [USB_CATEGORY_TETHERING] = { "USBテザリング (ネットワーク接続)", "USB tethering (network connection)" },
        };
        return words[(unsigned) c < _USB_CATEGORY_MAX ? c : USB_CATEGORY_OTHER][lang];
}

static void notice_write_usb_reason(FILE *f, NoticeLang lang, DecisionReason reason, const char *cat,
                                    const char *expires) {
        bool ja = lang == NOTICE_LANG_JA;

        switch (reason) {
        case DECISION_EXPIRED:
                if (ja)
                        fprintf(f,
                                "この%sの使用許可は%s%s%s期限が切れたため、使用できないようにしました。\n"
                                "引き続き使う場合は、" OFFICER_JA "に許可の更新を申請してください。",
                                cat, expires ? "期限 (" : "", strempty(expires), expires ? ") を過ぎて" : "");
                else
                        fprintf(f,
                                "The approval for this %s %s%s, so it was blocked.\n"
                                "To keep using it, ask " OFFICER_EN " to renew the approval.",
                                cat, expires ? "expired on " : "has expired", strempty(expires));
                break;
        case DECISION_SERIAL_MISMATCH:
                if (ja)
                        fprintf(f,
                                "この%sは、許可を受けた機器と製造番号 (シリアル番号) が一致しないため、"
                                "使用できないようにしました。\n"
                                "業務で使う必要がある場合は、" OFFICER_JA "に許可を申請してください。",
                                cat);
                else
                        fprintf(f,
                                "This %s is not the approved unit (its serial number does not match), "
                                "so it was blocked.\n"
                                "If you need it for work, ask " OFFICER_EN " for approval.",
                                cat);
                break;
        case DECISION_NO_SERIAL:
                if (ja)
                        fprintf(f,
                                "この%sには製造番号 (シリアル番号) がなく、個別に許可できないため、"
                                "使用できないようにしました。\n"
                                "業務で使う必要がある場合は、" OFFICER_JA "に相談してください。",
                                cat);
                else
                        fprintf(f,
                                "This %s has no serial number and cannot be approved individually, "
                                "so it was blocked.\n"
                                "If you need it for work, ask " OFFICER_EN ".",
                                cat);
                break;
        case DECISION_NO_POLICY:
                if (ja)
                        fprintf(f,
                                "セキュリティ設定を読み込めないため、すべての%sを使用できないようにしています。\n"
                                "この状態が続く場合は、" OFFICER_JA "に連絡してください。",
                                cat);
                else
                        fprintf(f,
                                "The security policy could not be loaded, so every %s is blocked.\n"
                                "If this persists, contact " OFFICER_EN ".",
                                cat);
                break;
        default:
                if (ja)
                        fprintf(f,
                                "この%sは使用の許可を受けていないため、使用できないようにしました。\n"
                                "業務で使う必要がある場合は、" OFFICER_JA "に許可を申請してください。",
                                cat);
                else
                        fprintf(f,
                                "This %s has not been approved for use, so it was blocked.\n"
                                "If you need it for work, ask " OFFICER_EN " for approval.",
                                cat);
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
} UsbNames;

static void notice_usb_names_done(UsbNames *u) {
        free(u->product);
        free(u->manufacturer);
        free(u->ref);
        free(u->expires);
        free(u->short_name);
}

static void notice_usb_names_init(UsbNames *u, const char *policy_ref, const UsbDevice *d, const char *expires) {
        u->product = notice_display_text(d->product_name, NOTICE_DEVICE_MAX_CHARS);
        u->manufacturer = notice_display_text(d->manufacturer, NOTICE_DEVICE_MAX_CHARS);
        u->ref = notice_display_text(policy_ref ? policy_ref : POLICY_REF_USB_DEFAULT, 80);
        u->expires = expires ? notice_display_text(expires, 32) : NULL;
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
        const char *name, *full_name, *ref, *expires, *id;
        char idbuf[10];
        UsbCategory category;
} UsbCtx;

static void notice_write_usb_summary(FILE *f, NoticeLang lang, const void *ctx) {
        const UsbCtx *c = ctx;
        if (lang == NOTICE_LANG_JA)
                fprintf(f, "USB機器「%s」は使用できません", c->name);
        else
                fprintf(f, "USB device “%s” is blocked", c->name);
}

static void notice_write_usb_body(FILE *f, NoticeLang lang, const void *ctx) {
        const UsbCtx *c = ctx;

        notice_write_usb_reason(f, lang, c->dec->reason, notice_category_words(c->category, lang), c->expires);
        if (notice_keeps_hid(c->d, c->dec))
                fputs(lang == NOTICE_LANG_JA ? "\nこの機器のキーボード・マウス機能はそのまま使えます。"
                                             : "\nIts keyboard and mouse functions keep working.",
                      f);
        fprintf(f, "\n%s: %s (ID %s)", lang == NOTICE_LANG_JA ? "機器" : "Device", c->full_name, c->idbuf);
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
        notice_usb_names_init(&names, policy_ref, d,
                              dec->reason == DECISION_EXPIRED && dec->entry ? dec->entry->expires : NULL);
        memcpy(c.idbuf, names.idbuf, sizeof c.idbuf);
        c.full_name = names.full_name;
        c.name = names.name;
        c.ref = names.ref;
        c.expires = names.expires;
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

/* ---- an approval that ends soon ---- */

typedef struct ExpiringCtx {
        const NoticePolicy *policy;
        const char *name, *full_name, *ref, *expires, *id;
        char idbuf[10];
        UsbCategory category;
        unsigned minutes;
} ExpiringCtx;

static void notice_write_expiring_summary(FILE *f, NoticeLang lang, const void *ctx) {
        const ExpiringCtx *c = ctx;
        if (lang == NOTICE_LANG_JA)
                fprintf(f, "USB機器「%s」の使用許可がまもなく切れます", c->name);
        else
                fprintf(f, "The approval for USB device “%s” ends soon", c->name);
}

static void notice_write_expiring_body(FILE *f, NoticeLang lang, const void *ctx) {
        const ExpiringCtx *c = ctx;
        const char *cat = notice_category_words(c->category, lang);

        if (lang == NOTICE_LANG_JA)
                fprintf(f,
                        "この%sの使用許可は%s%s%sあと約%u分で切れ、その時点で使用できなくなります。\n"
                        "作業中のファイルを保存し、それまでに機器を取り外してください。"
                        "期限の時点で使用中のドライブは、自動的にマウントを解除してから使用できなくします。\n"
                        "引き続き使う場合は、" OFFICER_JA "に許可の更新を申請してください。",
                        cat, c->expires ? "期限 (" : "", strempty(c->expires), c->expires ? ") まで、" : "", c->minutes);
        else
                fprintf(f,
                        "The approval for this %s ends in about %u minute%s%s%s%s; it will be blocked then.\n"
                        "Save your work and remove it before that. A drive still in use then is unmounted "
                        "first, then blocked.\n"
                        "To keep using it, ask " OFFICER_EN " to renew the approval.",
                        cat, c->minutes, c->minutes == 1 ? "" : "s", c->expires ? " (" : "", strempty(c->expires),
                        c->expires ? ")" : "");
        fprintf(f, "\n%s: %s (ID %s)", lang == NOTICE_LANG_JA ? "機器" : "Device", c->full_name, c->idbuf);
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
        notice_usb_names_init(&names, policy_ref, d, dec->entry ? dec->entry->expires : NULL);
        memcpy(c.idbuf, names.idbuf, sizeof c.idbuf);
        c.full_name = names.full_name;
        c.name = names.name;
        c.ref = names.ref;
        c.expires = names.expires;
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
                fputs(ja ? "ウイルス対策のパターンファイルが古くなっています" : "Antivirus signatures are out of date",
                      f);
        else
                fputs(ja ? "ウイルス対策ソフトが動作していません" : "Antivirus protection is not running", f);
}

static void notice_write_av_body(FILE *f, NoticeLang lang, const void *ctx) {
        const AvCtx *c = ctx;
        bool ja = lang == NOTICE_LANG_JA;
        if (c->kind == EVENT_AV_PATTERN_STALE)
                fputs(ja ? "このPCのウイルス対策ソフトのパターンファイルが更新されていません。\n"
                           "外部から受け取ったファイルを開く前に、" OFFICER_JA "に連絡してください。"
                         : "The antivirus signatures on this PC have not been updated.\n"
                           "Before you open files from outside, contact " OFFICER_EN ".",
                      f);
        else
                fputs(ja ? "このPCでウイルス対策ソフトが見つからないか、動作していません。\n"
                           "外部から受け取ったファイルを開く前に、" OFFICER_JA "に連絡してください。"
                         : "Antivirus software is missing or not running on this PC.\n"
                           "Before you open files from outside, contact " OFFICER_EN ".",
                      f);
        notice_write_footer(f, c->policy, lang, c->ref, c->id);
}

int notice_build_event(const NoticePolicy *p, EventKind kind, const char *policy_ref, const char *event_id, Notice **ret) {
        _cleanup_(notice_freep) Notice *n = NULL;
        _cleanup_free_ char *ref = NULL;
        AvCtx c = { .policy = p, .kind = kind, .id = event_id };
        int r;

        assert(ret);

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
                        r = asprintf(&b, "%s\nほかに%u件の通知を省略しました (同じ時間帯に続いたため)。", n->body[l],
                                     also);
                else
                        r = asprintf(&b, "%s\n%u more notice%s held back (too many at once).", n->body[l], also,
                                     also == 1 ? " was" : "s were");
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
        fputs(lang == NOTICE_LANG_JA ? "ウイルス対策ソフトがこの端末で不正プログラムを検知しました。\n"
                                       "作業を止め、ファイルを開いたり外部記録媒体を抜き差ししたりせず、"
                                       "すぐに" OFFICER_JA "に連絡してください。"
                                     : "The antivirus software found malware on this PC.\n"
                                       "Stop working, do not open files or plug or unplug removable media, "
                                       "and contact " OFFICER_EN " at once.",
              f);
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
