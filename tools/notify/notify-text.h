/* SPDX-License-Identifier: MIT */
#pragma once

/* mamori-notify's pure part: which language the user reads, and the text
 * that goes to the notification server or the terminal. No I/O. */

#include <stdbool.h>
#include <stddef.h>

typedef enum NotifyLanguage {
        NOTIFY_LANGUAGE_AUTO,
        NOTIFY_LANGUAGE_JA,
        NOTIFY_LANGUAGE_EN,
        NOTIFY_LANGUAGE_BOTH,
        _NOTIFY_LANGUAGE_MAX,
} NotifyLanguage;

#define NOTIFY_TEXT_MAX 4096 /* bytes kept of a summary or body */

int notify_language_from_string(const char *s); /* "auto", "ja", "en", "both"; -EINVAL otherwise */

/* The language of messages as POSIX and gettext choose it: LC_ALL, then
 * LC_MESSAGES, then LANG; a C/POSIX locale is English; otherwise the first
 * of LANGUAGE's entries that is "ja" or "en" wins; otherwise the locale.
 * Never returns AUTO or BOTH. Arguments may be NULL (unset). */
NotifyLanguage notify_language_detect(const char *language, const char *lc_all, const char *lc_messages,
                                      const char *lang);

/* Clean text for display: valid UTF-8, no control, bidi or invisible
 * formatting characters (they become U+FFFD; newlines stay when
 * keep_newlines, else become spaces), at most NOTIFY_TEXT_MAX bytes.
 * Newly allocated. */
char *notify_clean(const char *s, bool keep_newlines);

/* Escapes &, <, >, ' and " for a server that renders body markup. */
char *notify_markup_escape(const char *s);

/* Picks or joins the texts of a notice for a language (JA, EN or BOTH);
 * a missing language falls back to the other. Returns newly allocated,
 * cleaned texts; summary is one line. */
int notify_compose(NotifyLanguage lang, const char *summary_ja, const char *summary_en, const char *body_ja,
                   const char *body_en, char **ret_summary, char **ret_body);

/* A freedesktop icon name is [a-z0-9-]+; anything else gives the fallback. */
const char *notify_icon_name(const char *s, const char *fallback);

/* The text for a terminal or the journal: "mamori: summary" and the body,
 * indented. Newly allocated. */
char *notify_terminal_text(const char *summary, const char *body);
