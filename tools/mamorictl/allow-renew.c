/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "allow-entry.h"
#include "allow-renew.h"
#include "macro.h"
#include "timeutil.h"

#define NOTE_DATE "allows through this day / この日まで有効"
#define NOTE_TIME "allows until this instant / この時刻まで有効"

static bool name_char(char c) {
        return isalnum((unsigned char) c) || c == '_' || c == '-' || c == '*';
}

/* Offsets of line n (1-based) in text: [*start, *end), end at its '\n' or NUL. */
static int line_span(const char *text, unsigned n, size_t *start, size_t *end) {
        const char *p = text;
        for (unsigned i = 1; i < n; i++) {
                p = strchr(p, '\n');
                if (!p)
                        return -ENOENT;
                p++;
        }
        *start = (size_t) (p - text);
        *end = *start + strcspn(p, "\n");
        return 0;
}

/* The end of the string literal opening at text[i] ('"'), past its closing
 * quote; 0 when it does not close on this line. */
static size_t literal_end(const char *text, size_t i, size_t end) {
        for (i++; i < end; i++) {
                if (text[i] == '\\')
                        i++;
                else if (text[i] == '"')
                        return i + 1;
        }
        return 0;
}

/* Finds `key = "..."` (or `key : "..."`) on the line [start, end), outside
 * strings and comments: exactly one, else -ENOTUNIQ (-ENOENT for none). The
 * literal is [*lit, *lit_end). */
static int find_value(const char *text, size_t start, size_t end, const char *key, size_t *lit, size_t *lit_end) {
        size_t klen = strlen(key), found = 0, i = start;

        while (i < end) {
                char c = text[i];
                if (c == '"') {
                        size_t e = literal_end(text, i, end);
                        if (e == 0)
                                return -ENOTUNIQ;
                        i = e;
                } else if (c == '#' || (c == '/' && i + 1 < end && text[i + 1] == '/'))
                        break;
                else if (c == '/' && i + 1 < end && text[i + 1] == '*') {
                        const char *close = strstr(text + i + 2, "*/");
                        if (!close || (size_t) (close - text) >= end)
                                break;
                        i = (size_t) (close - text) + 2;
                } else if (name_char(c) && (i == start || !name_char(text[i - 1]))) {
                        size_t n = i;
                        while (n < end && name_char(text[n]))
                                n++;
                        if (n - i == klen && strncmp(text + i, key, klen) == 0) {
                                size_t v = n;
                                while (v < end && (text[v] == ' ' || text[v] == '\t'))
                                        v++;
                                if (v < end && (text[v] == '=' || text[v] == ':')) {
                                        v++;
                                        while (v < end && (text[v] == ' ' || text[v] == '\t'))
                                                v++;
                                        if (v >= end || text[v] != '"')
                                                return -ENOTUNIQ;
                                        size_t e = literal_end(text, v, end);
                                        if (e == 0)
                                                return -ENOTUNIQ;
                                        /* "a" "b" is one value in libconfig: not ours to cut. */
                                        size_t after = e;
                                        while (after < end && (text[after] == ' ' || text[after] == '\t'))
                                                after++;
                                        if (after < end && text[after] == '"')
                                                return -ENOTUNIQ;
                                        found++;
                                        *lit = v;
                                        *lit_end = e;
                                        i = e;
                                        continue;
                                }
                        }
                        i = n;
                } else
                        i++;
        }
        return found == 1 ? 0 : found == 0 ? -ENOENT : -ENOTUNIQ;
}

/* text with [a, b) replaced by with. */
static char *splice(const char *text, size_t a, size_t b, const char *with) {
        char *out = NULL;
        if (asprintf(&out, "%.*s%s%s", (int) a, text, with, text + b) < 0)
                return NULL;
        return out;
}

static int replace_value(char **text, unsigned line, const char *key, const char *value) {
        _cleanup_free_ char *q = config_quote(value, strlen(value), false);
        size_t start, end, lit, lit_end;
        char *n;
        int r;

        if (!q)
                return -ENOMEM;
        r = line_span(*text, line, &start, &end);
        if (r < 0)
                return r;
        r = find_value(*text, start, end, key, &lit, &lit_end);
        if (r < 0)
                return r == -ENOENT ? -ENOTUNIQ : r; /* libconfig said it is on this line */
        n = splice(*text, lit, lit_end, q);
        if (!n)
                return -ENOMEM;
        free(*text);
        *text = n;

        /* mamorictl's own note after expires says what the value means. */
        if (streq(key, "expires")) {
                const char *want = expiry_is_date(value) ? NOTE_DATE : NOTE_TIME,
                           *other = expiry_is_date(value) ? NOTE_TIME : NOTE_DATE;
                size_t s2, e2;
                if (line_span(*text, line, &s2, &e2) < 0)
                        return 0;
                char *at = strstr(*text + s2, other);
                if (at && (size_t) (at - *text) + strlen(other) <= e2) {
                        n = splice(*text, (size_t) (at - *text), (size_t) (at - *text) + strlen(other), want);
                        if (!n)
                                return -ENOMEM;
                        free(*text);
                        *text = n;
                }
        }
        return 0;
}

/* Adds `key = "value";` after the anchor's value: on a line of its own when
 * nothing but a comment follows the anchor, else on the same line. */
static int add_after(char **text, unsigned line, const char *anchor, const char *key, const char *value) {
        _cleanup_free_ char *q = config_quote(value, strlen(value), false), *add = NULL;
        size_t start, end, lit, lit_end, pos, rest;
        bool terminated = false;
        char *n;
        int r;

        if (!q)
                return -ENOMEM;
        r = line_span(*text, line, &start, &end);
        if (r < 0)
                return r;
        r = find_value(*text, start, end, anchor, &lit, &lit_end);
        if (r < 0)
                return -ENOTUNIQ;
        pos = lit_end;
        while (pos < end && ((*text)[pos] == ' ' || (*text)[pos] == '\t'))
                pos++;
        if (pos < end && ((*text)[pos] == ';' || (*text)[pos] == ',')) {
                terminated = true;
                pos++;
        } else
                pos = lit_end;
        rest = pos;
        while (rest < end && ((*text)[rest] == ' ' || (*text)[rest] == '\t'))
                rest++;
        if (rest == end || (*text)[rest] == '#' || ((*text)[rest] == '/' && (*text)[rest + 1] == '/')) {
                /* A line of its own, indented as the anchor's (past the
                 * brace when the group opens on its line: "  { vendor = ..."). */
                size_t indent = strspn(*text + start, " \t");
                if ((*text)[start + indent] == '{')
                        indent += 1 + strspn(*text + start + indent + 1, " \t");
                if (asprintf(&add, "\n%*s%-11s = %s;", (int) indent, "", key, q) < 0)
                        return -ENOMEM;
                n = splice(*text, end, end, add);
                if (n && !terminated) {
                        char *t = splice(n, lit_end, lit_end, ";");
                        free(n);
                        n = t;
                }
        } else {
                if (asprintf(&add, "%s %s = %s;", terminated ? "" : ";", key, q) < 0)
                        return -ENOMEM;
                n = splice(*text, pos, pos, add);
        }
        if (!n)
                return -ENOMEM;
        free(*text);
        *text = n;
        return 0;
}

int allow_renew_text(const char *text, unsigned line, const AllowRenewal *r, char **ret) {
        static const char *const keys[] = { "approved_by", "approved_on", "expires", "ticket" };
        const char *values[] = { r->approved_by, r->approved_on, r->expires, r->ticket };
        int key_line[ELEMENTSOF(keys)] = { 0 }, anchor_line = 0, n_found = 0, k;
        _cleanup_free_ char *out = NULL;
        config_setting_t *list, *g = NULL;
        config_t cfg;

        for (size_t i = 0; i < ELEMENTSOF(values); i++)
                if (values[i] && strchr(values[i], '\n'))
                        return -EINVAL;
        if (strstr(text, "@include"))
                return -EINVAL;
        config_init(&cfg);
        if (config_read_string(&cfg, text) != CONFIG_TRUE) {
                config_destroy(&cfg);
                return -EINVAL;
        }
        list = config_setting_get_member(config_root_setting(&cfg), "allow");
        k = list ? config_setting_length(list) : 0;
        for (int i = 0; i < k; i++) {
                config_setting_t *s = config_setting_get_elem(list, (unsigned) i);
                if (config_setting_source_line(s) != line)
                        continue;
                n_found++;
                g = s;
        }
        if (n_found == 1 && config_setting_type(g) == CONFIG_TYPE_GROUP) {
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        config_setting_t *m = config_setting_get_member(g, keys[i]);
                        key_line[i] = m ? (int) config_setting_source_line(m) : 0;
                }
                anchor_line = key_line[0];
        }
        config_destroy(&cfg);
        if (n_found == 0)
                return -ENOENT;
        if (n_found > 1 || anchor_line <= 0)
                return -ENOTUNIQ;

        out = strdup(text);
        if (!out)
                return -ENOMEM;
        /* Replacements first: they change no line numbers. */
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (values[i] && key_line[i] > 0) {
                        int q = replace_value(&out, (unsigned) key_line[i], keys[i], values[i]);
                        if (q < 0)
                                return q;
                }
        /* Then what the entry lacks, after approved_by, last key first so
         * that they read in order. */
        for (size_t i = ELEMENTSOF(keys); i-- > 1;)
                if (values[i] && key_line[i] == 0) {
                        int q = add_after(&out, (unsigned) anchor_line, keys[0], keys[i], values[i]);
                        if (q < 0)
                                return q;
                }
        *ret = TAKE_PTR(out);
        return 0;
}
