/* SPDX-License-Identifier: MIT */
/* mamorictl inspect: the self-inspection sheet (対策基準 第8-3, 第9) of this
 * PC, from mamorid's "inspect" answer: the same posture, checks and verdicts
 * as the event agent.posture. Japanese under a ja locale, English otherwise. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

typedef enum CtlLang {
        CTL_LANG_EN,
        CTL_LANG_JA,
} CtlLang;

static bool ctl_inspect_is_ja(const char *s) {
        return s && strncmp(s, "ja", 2) == 0 && (s[2] == 0 || s[2] == '_' || s[2] == '.' || s[2] == '@');
}

/* As gettext would pick the messages' language: LC_ALL, LC_MESSAGES, LANG. */
static CtlLang ctl_inspect_language(void) {
        const char *names[] = { "LC_ALL", "LC_MESSAGES", "LANG" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const char *v = getenv(names[i]);
                if (!isempty(v))
                        return ctl_inspect_is_ja(v) ? CTL_LANG_JA : CTL_LANG_EN;
        }
        return CTL_LANG_EN;
}

static const struct {
        const char *id, *ja, *en;
} ctl_inspect_items[] = {
        { "usb.blocked_categories", "遮断する USB の種類", "USB categories blocked" },
        { "usb.fail_closed", "設定不備による全遮断 (fail-closed)", "Fail-closed (no valid configuration)" },
        { "usb.monitor", "USB の監視 (udev)", "USB monitoring (udev)" },
        { "usb.root_hubs", "ルートハブ: 新しいインターフェースを許可しない (0)",
          "Root hubs: new interfaces start unauthorized (0)" },
        { "usb.udev_rule", "udev ルール", "udev rule" },
        { "usb.initramfs_hook", "initramfs フック (起動時の保護)", "initramfs hook (protection at boot)" },
        { "thunderbolt.security", "Thunderbolt のセキュリティレベル", "Thunderbolt security level" },
        { "firewire.host_driver", "FireWire ホストドライバー (DMA の危険)", "FireWire host driver (DMA risk)" },
        { "lock.idle_timeout", "無操作でロックするまでの時間", "Idle time before the screen locks" },
        { "lock.confirmed_last_day", "過去 24 時間にロックを確認", "A lock confirmed in the last 24 h" },
        { "av.engine", "ウイルス対策ソフト", "Antivirus engine" },
        { "av.pattern_age", "パターンファイルの経過時間", "Pattern age" },
        { "av.units", "ウイルス対策サービスの稼働", "Antivirus services active" },
        { "av.full_scan", "最後のフルスキャンからの日数", "Days since the last full scan" },
        { "delivery.collector", "ログの送付先", "Collector" },
        { "delivery.state", "ログの送付状態", "Delivery state" },
        { "allow.expiring", "30 日以内に期限が切れる許可", "Approvals that end within 30 days" },
};

static const char *ctl_inspect_item(const char *id, CtlLang lang) {
        for (size_t i = 0; i < ELEMENTSOF(ctl_inspect_items); i++)
                if (streq_ptr(id, ctl_inspect_items[i].id))
                        return lang == CTL_LANG_JA ? ctl_inspect_items[i].ja : ctl_inspect_items[i].en;
        return id; /* a newer mamorid's check: its id says what it is */
}

static const char *ctl_inspect_verdict(const char *v, CtlLang lang) {
        if (streq_ptr(v, "ok"))
                return "OK";
        if (streq_ptr(v, "ng"))
                return "NG";
        return lang == CTL_LANG_JA ? "要確認" : "CHECK";
}

static void ctl_inspect_print_expiring(json_object *posture, CtlLang lang) {
        json_object *arr = jget(posture, "allow_expiring");
        size_t n = arr && json_object_get_type(arr) == json_type_array ? json_object_array_length(arr) : 0;

        if (n == 0)
                return;
        printf("\n%s\n", lang == CTL_LANG_JA ? "30 日以内に期限が切れる許可:" : "Approvals that end within 30 days:");
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(arr, i);
                _cleanup_free_ char *dev = ctl_safe_text(strna(jstr(e, "device"))),
                                    *serial = ctl_safe_text(jstr(e, "serial") ?: "*"),
                                    *label = ctl_safe_text(strempty(jstr(e, "label"))),
                                    *expires = ctl_safe_text(strna(jstr(e, "expires"))),
                                    *file = ctl_safe_text(strna(jstr(e, "file")));
                printf("  %s %s %s %s %s (%s:%lld)\n", strna(dev), strna(serial),
                       lang == CTL_LANG_JA ? "期限" : "expires", strna(expires), strempty(label), strna(file),
                       jint(e, "line", 0));
        }
}

static int ctl_inspect_print(json_object *rep, CtlLang lang) {
        static const char *const headers_ja[] = { "条項", "点検項目", "確認した値", "判定" };
        static const char *const headers_en[] = { "CLAUSE", "CHECK", "VALUE FOUND", "VERDICT" };
        json_object *posture = jget(rep, "posture"), *site = jget(rep, "site"), *checks = jget(posture, "checks");
        size_t n = checks && json_object_get_type(checks) == json_type_array ? json_object_array_length(checks) : 0;
        _cleanup_(ctl_table_freep) CtlTable *t = ctl_table_new(4, lang == CTL_LANG_JA ? headers_ja : headers_en);
        _cleanup_free_ char *host = ctl_safe_text(strna(jstr(rep, "host"))),
                            *dept = ctl_safe_text(jstr(site, "department") ?: "-"),
                            *loc = ctl_safe_text(jstr(site, "location") ?: "-");
        size_t ng = 0, check = 0;

        if (!t)
                return CTL_EXIT_FAILURE;
        if (lang == CTL_LANG_JA) {
                printf("自己点検シート (対策基準 第8-3・第9): mamori %s\n", strna(jstr(rep, "version")));
                printf("端末: %s  所属: %s  設置場所: %s\n", strna(host), strna(dept), strna(loc));
                printf("点検日時: %s  ポリシー: %.12s\n\n", strna(jstr(rep, "time")), strna(jstr(rep, "policy_hash")));
        } else {
                printf("Self-inspection sheet (対策基準 第8-3, 第9): mamori %s\n", strna(jstr(rep, "version")));
                printf("Host: %s  Department: %s  Location: %s\n", strna(host), strna(dept), strna(loc));
                printf("Inspected at: %s  Policy: %.12s\n\n", strna(jstr(rep, "time")), strna(jstr(rep, "policy_hash")));
        }
        for (size_t i = 0; i < n; i++) {
                json_object *c = json_object_array_get_idx(checks, i);
                const char *v = jstr(c, "verdict");
                const char *cells[4] = { jstr(c, "clause"), ctl_inspect_item(jstr(c, "id"), lang), jstr(c, "value"),
                                         ctl_inspect_verdict(v, lang) };
                ng += streq_ptr(v, "ng");
                check += !streq_ptr(v, "ok") && !streq_ptr(v, "ng");
                if (ctl_table_add_row(t, cells) < 0)
                        return CTL_EXIT_FAILURE;
        }
        ctl_table_print(t, true);
        ctl_inspect_print_expiring(posture, lang);
        if (lang == CTL_LANG_JA)
                printf("\n総合判定: %s (NG %zu 件、要確認 %zu 件)\n", ng ? "NG" : check ? "要確認" : "OK", ng, check);
        else
                printf("\nOverall: %s (%zu NG, %zu to check)\n", ng ? "NG" : check ? "CHECK" : "OK", ng, check);
        return ng ? CTL_EXIT_FINDINGS : CTL_EXIT_OK;
}

int verb_inspect(const CtlOptions *o_, int argc, char **argv) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                {},
        };
        _cleanup_(jputp) json_object *rep = NULL;
        CtlOptions o = *o_;
        json_object *checks;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'j':
                        o.json = true;
                        break;
                default:
                        return CTL_EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "mamorictl inspect: unexpected argument '%s'\n", argv[optind]);
                return CTL_EXIT_USAGE;
        }

        r = ctl_call(&o, "inspect", &rep);
        if (r != 0)
                return r;
        checks = jget(jget(rep, "posture"), "checks");
        if (!checks || json_object_get_type(checks) != json_type_array) {
                fputs("mamorictl inspect: mamorid's answer has no checks (an older mamorid?)\n", stderr);
                return CTL_EXIT_FAILURE;
        }
        if (o.json) {
                puts(json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                return streq_ptr(jstr(jget(rep, "posture"), "verdict"), "ng") ? CTL_EXIT_FINDINGS : CTL_EXIT_OK;
        }
        return ctl_inspect_print(rep, ctl_inspect_language());
}
