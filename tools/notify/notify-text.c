/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "notify-text.h"
#include "string-table.h"
#include "text-bidi.h"
#include "text.h"

static const char *const notify_language_table[_NOTIFY_LANGUAGE_MAX] = {
        [NOTIFY_LANGUAGE_AUTO] = "auto",
        [NOTIFY_LANGUAGE_JA] = "ja",
        [NOTIFY_LANGUAGE_EN] = "en",
        [NOTIFY_LANGUAGE_BOTH] = "both",
};

DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(notify_language);

static bool is_ja(const char *s) {
        return strncmp(s, "ja", 2) == 0 && (s[2] == 0 || s[2] == '_' || s[2] == '.' || s[2] == '@' || s[2] == ':');
}

static bool is_en(const char *s) {
        return strncmp(s, "en", 2) == 0 && (s[2] == 0 || s[2] == '_' || s[2] == '.' || s[2] == '@' || s[2] == ':');
}

NotifyLanguage notify_language_detect(const char *language, const char *lc_all, const char *lc_messages,
                                      const char *lang) {
        const char *locale = !isempty(lc_all) ? lc_all : !isempty(lc_messages) ? lc_messages : lang;

        if (isempty(locale) || streq(locale, "C") || streq(locale, "POSIX") || startswith(locale, "C."))
                return NOTIFY_LANGUAGE_EN; /* gettext ignores LANGUAGE under the C locale too */
        for (const char *p = language; !isempty(p);) {
                if (is_ja(p))
                        return NOTIFY_LANGUAGE_JA;
                if (is_en(p))
                        return NOTIFY_LANGUAGE_EN;
                p = strchr(p, ':');
                if (p)
                        p++;
        }
        return is_ja(locale) ? NOTIFY_LANGUAGE_JA : NOTIFY_LANGUAGE_EN;
}

char *notify_clean(const char *str, bool keep_newlines) {
        static const char replacement[] = "\xef\xbf\xbd";
        const unsigned char *s = (const unsigned char *) (str ? str : "");
        size_t len = strlen((const char *) s), o = 0;
        char *out = malloc(NOTIFY_TEXT_MAX + 1);

        if (!out)
                return NULL;
        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence_len(s + i, len - i);
                bool newline = n == 1 && s[i] == '\n';
                bool bad = n == 0 || (!newline && codepoint_is_deceptive(utf8_decode(s + i, n)));
                const char *piece = bad ? replacement : (const char *) s + i;
                size_t piece_len = bad ? 3 : n;

                if (newline && !keep_newlines) {
                        piece = " ";
                        piece_len = 1;
                }
                if (o + piece_len > NOTIFY_TEXT_MAX)
                        break;
                memcpy(out + o, piece, piece_len);
                o += piece_len;
                i += n ? n : 1;
        }
        out[o] = 0;
        return out;
}

char *notify_markup_escape(const char *s) {
        size_t len = strlen(s), o = 0;
        char *out = malloc(len * 6 + 1);

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                const char *e = NULL;
                switch (s[i]) {
                case '&':
                        e = "&amp;";
                        break;
                case '<':
                        e = "&lt;";
                        break;
                case '>':
                        e = "&gt;";
                        break;
                case '\'':
                        e = "&apos;";
                        break;
                case '"':
                        e = "&quot;";
                        break;
                }
                if (e) {
                        memcpy(out + o, e, strlen(e));
                        o += strlen(e);
                } else
                        out[o++] = s[i];
        }
        out[o] = 0;
        return out;
}

int notify_compose(NotifyLanguage lang, const char *summary_ja, const char *summary_en, const char *body_ja,
                   const char *body_en, char **ret_summary, char **ret_body) {
        _cleanup_free_ char *summary = NULL, *body = NULL, *joined = NULL;
        const char *sj = !isempty(summary_ja) ? summary_ja : summary_en;
        const char *se = !isempty(summary_en) ? summary_en : summary_ja;
        const char *bj = !isempty(body_ja) ? body_ja : body_en;
        const char *be = !isempty(body_en) ? body_en : body_ja;

        switch (lang) {
        case NOTIFY_LANGUAGE_JA:
                summary = notify_clean(sj, false);
                body = notify_clean(bj, true);
                break;
        case NOTIFY_LANGUAGE_BOTH:
                /* Japanese first; the English summary heads its part of the body. */
                if (asprintf(&joined, "%s\n\n%s\n%s", strempty(bj), strempty(se), strempty(be)) < 0)
                        return -ENOMEM;
                summary = notify_clean(sj, false);
                body = notify_clean(joined, true);
                break;
        default:
                summary = notify_clean(se, false);
                body = notify_clean(be, true);
        }
        if (!summary || !body)
                return -ENOMEM;
        *ret_summary = TAKE_PTR(summary);
        *ret_body = TAKE_PTR(body);
        return 0;
}

const char *notify_icon_name(const char *s, const char *fallback) {
        if (isempty(s) || strlen(s) > 64)
                return fallback;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
                        return fallback;
        return s;
}

char *notify_terminal_text(const char *summary, const char *body) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        fprintf(f, "mamori: %s\n", summary);
        for (const char *p = body; p && *p;) {
                size_t l = strcspn(p, "\n");
                fprintf(f, "  %.*s\n", (int) l, p);
                p += l;
                if (*p == '\n')
                        p++;
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
