/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <string.h>

#include "config-hint.h"
#include "macro.h"
#include "text.h"

/* More of a line than this is not needed to find the spot. */
#define LINE_TEXT_MAX 160
#define KEY_MAX 64

void config_syntax_hint_done(ConfigSyntaxHint *h) {
        assert(h);

        free(h->line_text);
        *h = (ConfigSyntaxHint){ 0 };
}

static bool config_hint_is_blank(const char *p, const char *end) {
        for (; p < end; p++)
                if (!strchr(" \t\r\v\f", *p))
                        return false;
        return true;
}

/* What a scan of the file up to the error's line found. */
typedef struct Scan {
        bool in_string;       /* the file ends inside "..." */
        int depth;            /* open { ( [ not closed */
        int open_line;        /* where the innermost still open one was opened */
        char last;            /* the last significant character before the error's line */
        char first;           /* the first significant character on the error's line */
        bool equals_then_end; /* "name = ;" or "name =" at the end of the line */
        bool adjacent;        /* two values side by side on the error's line: "} {", "\" \"", "1 2" */
        bool extra_close;     /* a '}', ')' or ']' with nothing open, up to the error's line */
} Scan;

#define OPEN_MAX 64

static bool config_hint_value_end(char c) {
        return c == '}' || c == ')' || c == ']' || c == '"' || (c >= '0' && c <= '9');
}

static bool config_hint_value_start(char c) {
        return c == '{' || c == '(' || c == '[' || c == '"' || (c >= '0' && c <= '9') || c == '-' || c == '+';
}

/* A small tokenizer, enough to tell strings and comments from the rest. */
static void config_hint_scan(const char *text, size_t len, int err_line, Scan *s) {
        int opened[OPEN_MAX];
        int line = 1;
        char prev = 0;    /* the last significant character, across lines */
        bool gap = false; /* white space since prev, on this line */
        bool equals = false;

        *s = (Scan){ 0 };
        for (const char *p = text, *end = text + len; p < end; p++) {
                char c = *p;
                if (c == '\n') {
                        if (line == err_line && equals)
                                s->equals_then_end = true;
                        line++;
                        gap = false;
                        if (line == err_line)
                                s->last = prev;
                        continue;
                }
                if (c == ' ' || c == '\t' || c == '\r') {
                        gap = true;
                        continue;
                }
                if (c == '#' || (c == '/' && p + 1 < end && p[1] == '/')) {
                        const char *nl = memchr(p, '\n', (size_t) (end - p));
                        p = (nl ? nl : end) - 1;
                        continue;
                }
                if (c == '/' && p + 1 < end && p[1] == '*') {
                        for (p += 2; p + 1 < end && !(p[0] == '*' && p[1] == '/'); p++)
                                if (*p == '\n' && ++line == err_line)
                                        s->last = prev;
                        p++;
                        continue;
                }
                if (line == err_line) {
                        if (!s->first)
                                s->first = c;
                        else if (gap && config_hint_value_end(prev) && config_hint_value_start(c))
                                s->adjacent = true;
                        if (c == '=' || c == ':')
                                equals = true;
                        else if (c != ';')
                                equals = false;
                        if (c == ';' && prev == '=')
                                s->equals_then_end = true;
                }
                gap = false;
                if (c == '"') {
                        for (p++; p < end && *p != '"'; p++)
                                if (*p == '\\' && p + 1 < end)
                                        p++;
                                else if (*p == '\n' && ++line == err_line)
                                        s->last = '"';
                        if (p >= end) {
                                s->in_string = true;
                                break;
                        }
                } else if (c == '{' || c == '(' || c == '[') {
                        if (s->depth < OPEN_MAX)
                                opened[s->depth] = line;
                        s->depth++;
                } else if (c == '}' || c == ')' || c == ']') {
                        if (s->depth > 0)
                                s->depth--;
                        else if (line <= err_line)
                                s->extra_close = true;
                }
                prev = c;
        }
        if (line == err_line && equals)
                s->equals_then_end = true;
        if (s->depth > 0)
                s->open_line = opened[MIN(s->depth, OPEN_MAX) - 1];
}

int config_hint_syntax(const char *text, size_t len, int line, ConfigSyntaxHint *ret) {
        const char *p = text, *end = text + len, *start = NULL, *stop = NULL;
        int n = 0, last_nonblank = 0;
        bool past_end;
        Scan s;

        assert(text);
        assert(ret);

        *ret = (ConfigSyntaxHint){ 0 };
        /* the lines that exist: a final newline starts none */
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *eol = nl ? nl : end;
                n++;
                if (!config_hint_is_blank(p, eol))
                        last_nonblank = n;
                p = nl ? nl + 1 : end;
        }
        past_end = line > n || line < 1;
        if (past_end || (line > last_nonblank && last_nonblank > 0))
                line = last_nonblank; /* where the text ends, not the blank lines after it */
        ret->line = line;

        p = text;
        for (int k = 1; p < end; k++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                if (k == line) {
                        start = p;
                        stop = nl ? nl : end;
                        break;
                }
                p = nl ? nl + 1 : end;
        }
        if (start && !config_hint_is_blank(start, stop)) {
                bool cut = false;
                while (start < stop && (*start == ' ' || *start == '\t'))
                        start++;
                ret->line_text = text_sanitize(start, (size_t) (stop - start), LINE_TEXT_MAX, &cut);
                if (!ret->line_text)
                        return -ENOMEM;
                if (cut) {
                        char *t = NULL;
                        if (asprintf(&t, "%s…", ret->line_text) < 0)
                                return -ENOMEM;
                        free(ret->line_text);
                        ret->line_text = t;
                }
        }

        config_hint_scan(text, len, line, &s);
        if (s.in_string)
                ret->hint = "a string is not closed: a missing '\"'?";
        else if (past_end && s.depth > 0)
                ret->hint = "the file ends before a '}', ')' or ']' closes what is open: one is missing?";
        else if (s.equals_then_end)
                ret->hint = "a setting without a value?";
        else if (s.adjacent || (config_hint_value_end(s.last) && config_hint_value_start(s.first)))
                ret->hint = "a missing ',' between entries or ';' after a setting?";
        else if (s.extra_close)
                ret->hint = "a '}', ')' or ']' too many?";
        else
                ret->hint = "libconfig expected a setting (name = value;) here, or inside ( ) and [ ] values "
                            "separated by ','";
        return 0;
}

unsigned config_hint_distance(const char *a, const char *b, unsigned max) {
        unsigned d[KEY_MAX + 1][KEY_MAX + 1];
        size_t la, lb;

        assert(a);
        assert(b);

        la = strlen(a);
        lb = strlen(b);
        if (la > KEY_MAX || lb > KEY_MAX)
                return max + 1;
        if ((la > lb ? la - lb : lb - la) > max)
                return max + 1;
        for (size_t i = 0; i <= la; i++)
                d[i][0] = (unsigned) i;
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = (unsigned) j;
        for (size_t i = 1; i <= la; i++) {
                unsigned row_min = UINT32_MAX;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
                        unsigned v = MIN(MIN(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                                v = MIN(v, d[i - 2][j - 2] + 1);
                        d[i][j] = v;
                        row_min = MIN(row_min, v);
                }
                if (row_min > max)
                        return max + 1;
        }
        return MIN(d[la][lb], max + 1);
}

const char *config_hint_key(const char *name, const char *const *allowed) {
        const char *best = NULL;
        unsigned max, best_d;
        size_t len;

        assert(name);
        assert(allowed);

        len = strlen(name);
        /* short names: one edit; longer: two (expiry -> expires) */
        max = len <= 3 ? 1 : len <= 5 ? 1 : 2;
        best_d = max + 1;
        for (const char *const *a = allowed; *a; a++) {
                unsigned d = config_hint_distance(name, *a, max);
                /* a prefix of an allowed key ("approved" for "approved_by") */
                if (d > max && len >= 4 && strncmp(name, *a, len) == 0)
                        d = max;
                if (d < best_d) {
                        best_d = d;
                        best = *a;
                }
        }
        return best;
}
