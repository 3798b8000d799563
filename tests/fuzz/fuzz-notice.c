/* SPDX-License-Identifier: MIT */
/* A device's product string, whatever its bytes, through the notice path:
 * the daemon's texts (common/notice-text.c) and mamori-notify's (cleaning,
 * language, markup escaping) stay valid UTF-8, free of control and bidi
 * characters, bounded, and carry no markup to a server that renders it.
 * The same bytes as the notice section's approver and contact, and as an
 * allow entry's expiry shown to people. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "notice-text.h"
#include "notify-text.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *s, bool newlines, size_t max) {
        size_t len = strlen(s);
        if (len > max)
                abort();
        for (size_t i = 0; i < len;) {
                const unsigned char *p = (const unsigned char *) s + i;
                size_t n = utf8_sequence_len(p, len - i);
                if (n == 0)
                        abort();
                if (n == 1 && (p[0] < 0x20 || p[0] == 0x7f) && !(newlines && p[0] == '\n'))
                        abort();
                if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
                        abort();
                if (n == 3 && p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xa8 && p[2] <= 0xae)
                        abort(); /* U+2028..U+202E */
                if (n == 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
                        abort(); /* U+2066..U+2069 */
                i += n;
        }
}

/* Whatever the notice section accepts comes out in a notice as clean text. */
static void fuzz_notice_config(const char *raw, const UsbDevice *d) {
        _cleanup_free_ char *conf = NULL;
        ConfigErrors e = { 0 };
        Policy *q = NULL;
        Notice *n = NULL;

        if (strchr(raw, '"') || strchr(raw, '\\'))
                return; /* libconfig's own escapes: fuzz-config covers them */
        if (asprintf(&conf, "notice = { approver = \"%s\"; approver_en = \"%s\"; contact = { section = \"%s\"; }; };",
                     raw, raw, raw) < 0)
                return;
        if (config_load_strings(conf, NULL, &q, &e) == 0) {
                Decision dec = policy_decide(q, d, 0);
                if (notice_build_usb(&q->notice, "ref", d, &dec, "id", &n) == 0)
                        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                                check(n->body[l], true, 8192);
                n = notice_free(n);
                if (notice_build_event(&q->notice, EVENT_AV_MISSING, "ref", "id", &n) == 0)
                        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                                check(n->body[l], true, 8192);
                notice_free(n);
        }
        config_errors_done(&e);
        policy_unref(q);
}

/* A device outside USB whose vendor, model and slot name are the bytes
 * (sanitized as device-report.c does), on every category, blocked or not. */
static void fuzz_device(const char *raw, const Policy *p) {
        _cleanup_free_ char *clean = text_sanitize(raw, strlen(raw), TEXT_DEVICE_MAX, NULL);
        const char *card[DEVICE_ID_MAX] = { "0x000003", "0x5344", clean, "0x1a2b3c4d", "06/2021" };

        if (!clean)
                return;
        for (int c = 0; c < _DEVICE_CATEGORY_MAX; c++)
                for (int failed = 0; failed <= 1; failed++) {
                        NoticeDevice nd = { .category = (DeviceCategory) c,
                                            .vendor = clean,
                                            .model = clean,
                                            .sysname = clean,
                                            .block_failed = failed };
                        Decision dec = policy_decide_device(p, (DeviceCategory) c, card, 0);
                        Notice *n = NULL;
                        for (size_t k = 0; k < DEVICE_ID_MAX; k++)
                                nd.id[k] = card[k];
                        if (notice_build_device(&p->notice, clean, &nd, &dec, "id", &n) < 0)
                                continue;
                        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++) {
                                check(n->summary[l], false, 1024);
                                check(n->body[l], true, 4096);
                        }
                        for (size_t i = 0; i < n->n_facts; i++)
                                check(n->facts[i].value, false, 1024);
                        notice_free(n);
                }
}

static void fuzz_expiry(const char *raw) {
        char buf[NOTICE_WHEN_MAX];
        usec_t t;

        if (parse_expiry(raw, &t) < 0)
                return;
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                if (notice_format_expiry(raw, t, (NoticeLang) l, buf) == 0)
                        check(buf, false, NOTICE_WHEN_MAX - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *raw = malloc(size + 1), *shown;
        Policy *p = policy_alloc();
        UsbDevice *d = usb_device_new("1-1", 0x0781, 0x5567, "S", 1);
        Notice *n = NULL;

        if (!raw || !p || !d)
                goto out;
        memcpy(raw, data, size);
        raw[size] = 0;

        shown = notice_display_text(raw, 16);
        if (shown) {
                check(shown, false, 16 * 4);
                free(shown);
        }

        /* as usb-device.c reads it: sanitized, then into a notice */
        d->product_name = text_sanitize(raw, strlen(raw), TEXT_DEVICE_MAX, NULL);
        usb_device_add_interface(d, "1-1:1.0", 0x08, 0x06, 0x50, raw, 0);
        usb_device_classify(d);
        Decision dec = policy_decide(p, d, 0);
        if (notice_build_usb(&p->notice, "ref", d, &dec, "id", &n) < 0)
                goto out;
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++) {
                check(n->summary[l], false, 1024);
                check(n->body[l], true, 4096);
        }
        for (size_t i = 0; i < n->n_facts; i++)
                check(n->facts[i].value, false, 1024);

        for (int lang = NOTIFY_LANGUAGE_JA; lang <= NOTIFY_LANGUAGE_BOTH; lang++) {
                char *s = NULL, *b = NULL, *e;
                if (notify_compose((NotifyLanguage) lang, n->summary[0], n->summary[1], n->body[0], n->body[1], &s, &b) <
                    0)
                        continue;
                check(s, false, NOTIFY_TEXT_MAX);
                check(b, true, NOTIFY_TEXT_MAX);
                e = notify_markup_escape(b);
                if (e && (strchr(e, '<') || strchr(e, '>')))
                        abort();
                free(e);
                free(s);
                free(b);
        }
        fuzz_notice_config(raw, d);
        fuzz_device(raw, p);
        fuzz_expiry(raw);

        /* and raw bytes straight into mamori-notify's cleaner */
        shown = notify_clean(raw, true);
        if (shown) {
                check(shown, true, NOTIFY_TEXT_MAX);
                free(shown);
        }
out:
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
        free(raw);
        return 0;
}
