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

static bool name_start(char c) {
        return isalpha((unsigned char) c) || c == '*';
}

static bool name_char(char c) {
        return isalnum((unsigned char) c) || c == '_' || c == '-' || c == '*';
}

/* A `name = "string"` (or `name : "string"`) outside strings and comments. */
typedef struct KeyValue {
        unsigned line; /* of the name */
        size_t name, name_len, lit, lit_end;
        bool plain; /* one string on the name's line, no newline in it, no second string after it */
} KeyValue;

/* Past the string literal opening at text[i]; counts its newlines into *line. */
static size_t skip_string(const char *text, size_t i, unsigned *line) {
        for (i++; text[i] && text[i] != '"'; i++) {
                if (text[i] == '\\' && text[i + 1])
                        i++;
                if (text[i] == '\n')
                        (*line)++;
        }
        return text[i] ? i + 1 : i;
}

/* Lexes the whole text, the way libconfig does: strings (which may hold
 * newlines), comments (#, //, and / * * / across lines). */
static int scan(const char *text, KeyValue **ret, size_t *ret_n) {
        _cleanup_free_ KeyValue *kv = NULL;
        unsigned line = 1;
        size_t n = 0, i = 0;

        while (text[i]) {
                char c = text[i];
                if (c == '\n') {
                        line++;
                        i++;
                } else if (c == '"')
                        i = skip_string(text, i, &line);
                else if (c == '#' || (c == '/' && text[i + 1] == '/'))
                        i += strcspn(text + i, "\n");
                else if (c == '/' && text[i + 1] == '*') {
                        const char *close = strstr(text + i + 2, "*/");
                        size_t e = close ? (size_t) (close - text) + 2 : strlen(text);
                        for (size_t k = i; k < e; k++)
                                line += text[k] == '\n';
                        i = e;
                } else if (name_start(c) && (i == 0 || !name_char(text[i - 1]))) {
                        size_t name = i, v;
                        unsigned name_line = line;
                        while (name_char(text[i]))
                                i++;
                        size_t name_len = i - name;
                        v = i + strspn(text + i, " \t");
                        if (text[v] != '=' && text[v] != ':')
                                continue;
                        v++;
                        v += strspn(text + v, " \t");
                        bool same_line = text[v] != '\n' && text[v] != '\r';
                        while (text[v] == '\n' || text[v] == '\r' || text[v] == ' ' || text[v] == '\t')
                                line += text[v++] == '\n';
                        if (text[v] != '"') {
                                i = v; /* not a string: scan on, into a group or list */
                                continue;
                        }
                        KeyValue *a = reallocarray(kv, n + 1, sizeof *a);
                        if (!a)
                                return -ENOMEM;
                        kv = a;
                        unsigned l0 = line;
                        size_t e = skip_string(text, v, &line);
                        size_t after = e + strspn(text + e, " \t\r\n");
                        kv[n++] = (KeyValue){
                                .line = name_line,
                                .name = name,
                                .name_len = name_len,
                                .lit = v,
                                .lit_end = e,
                                .plain = same_line && line == l0 && e > v + 1 && text[e - 1] == '"' && text[after] != '"',
                        };
                        for (size_t k = e; k < after; k++)
                                line += text[k] == '\n';
                        i = after;
                } else
                        i++;
        }
        *ret = TAKE_PTR(kv);
        *ret_n = n;
        return 0;
}

/* The one plain `key = "..."` whose name is on line; NULL if none or several. */
static const KeyValue *find_key(const char *text, const KeyValue *kv, size_t n, const char *key, unsigned line) {
        const KeyValue *found = NULL;
        for (size_t i = 0; i < n; i++) {
                if (kv[i].line != line || kv[i].name_len != strlen(key) || strncmp(text + kv[i].name, key, kv[i].name_len) != 0)
                        continue;
                if (found || !kv[i].plain)
                        return NULL;
                found = &kv[i];
        }
        return found;
}

typedef struct Edit {
        size_t pos, end; /* [pos, end) replaced by text */
        char *text;
} Edit;

typedef struct Edits {
        Edit e[6]; /* four values, a note, the added keys */
        size_t n;
} Edits;

static void edits_done(Edits *e) {
        for (size_t i = 0; i < e->n; i++)
                free(e->e[i].text);
}

static int edit_order(const void *a, const void *b) {
        const Edit *x = a, *y = b;
        return x->pos < y->pos ? 1 : x->pos > y->pos ? -1 : 0; /* last first */
}

int allow_renew_text(const char *text, unsigned line, const AllowRenewal *r, char **ret) {
        static const char *const keys[] = { "approved_by", "approved_on", "expires", "ticket" };
        const char *values[] = { r->approved_by, r->approved_on, r->expires, r->ticket };
        int key_line[ELEMENTSOF(keys)] = { 0 }, n_found = 0, k;
        _cleanup_free_ KeyValue *kv = NULL;
        _cleanup_free_ char *out = NULL, *added = NULL;
        _cleanup_(edits_done) Edits ed = {};
        size_t n_kv = 0;
        config_setting_t *list, *g = NULL;
        config_t cfg;
        int q;

        for (size_t i = 0; i < ELEMENTSOF(values); i++)
                if (values[i] && strpbrk(values[i], "\n\r"))
                        return -EINVAL;
        /* libconfig would read the file an @include names: refused as the
         * daemon refuses it, at the start of a line. */
        for (const char *l = text; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (startswith(l + strspn(l, " \t"), "@include"))
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
        if (n_found == 1 && config_setting_type(g) == CONFIG_TYPE_GROUP)
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        config_setting_t *m = config_setting_get_member(g, keys[i]);
                        key_line[i] = m ? (int) config_setting_source_line(m) : 0;
                }
        config_destroy(&cfg);
        if (n_found == 0)
                return -ENOENT;
        if (n_found > 1 || key_line[0] <= 0)
                return -ENOTUNIQ;

        q = scan(text, &kv, &n_kv);
        if (q < 0)
                return q;

        /* Each value the entry has: replaced where it stands. */
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                if (!values[i] || key_line[i] == 0)
                        continue;
                const KeyValue *v = find_key(text, kv, n_kv, keys[i], (unsigned) key_line[i]);
                if (!v)
                        return -ENOTUNIQ;
                ed.e[ed.n] = (Edit){ v->lit, v->lit_end, config_quote(values[i], strlen(values[i]), false) };
                if (!ed.e[ed.n++].text)
                        return -ENOMEM;
                /* mamorictl's own note after expires says what the value means. */
                if (streq(keys[i], "expires")) {
                        const char *want = expiry_is_date(values[i]) ? NOTE_DATE : NOTE_TIME,
                                   *other = expiry_is_date(values[i]) ? NOTE_TIME : NOTE_DATE;
                        size_t eol = v->lit_end + strcspn(text + v->lit_end, "\n");
                        const char *at = strstr(text + v->lit_end, other);
                        if (at && (size_t) (at - text) + strlen(other) <= eol) {
                                size_t at_pos = (size_t) (at - text);
                                ed.e[ed.n] = (Edit){ at_pos, at_pos + strlen(other), strdup(want) };
                                if (!ed.e[ed.n++].text)
                                        return -ENOMEM;
                        }
                }
        }

        /* What the entry lacks: added after its approved_by, in one piece. */
        {
                const KeyValue *a = find_key(text, kv, n_kv, keys[0], (unsigned) key_line[0]);
                size_t pos, rest, eol;
                bool terminated = false, own_line;
                _cleanup_free_ char *indent = NULL;

                if (!a)
                        return -ENOTUNIQ;
                pos = a->lit_end + strspn(text + a->lit_end, " \t");
                if (text[pos] == ';' || text[pos] == ',') {
                        terminated = true;
                        pos++;
                } else
                        pos = a->lit_end;
                rest = pos + strspn(text + pos, " \t\r");
                eol = pos + strcspn(text + pos, "\n");
                own_line = terminated && (text[rest] == '\n' || !text[rest] || text[rest] == '#' ||
                                          (text[rest] == '/' && text[rest + 1] == '/'));
                if (own_line) {
                        /* Indented as the anchor's line (past the brace when
                         * the group opens on it: "  { vendor = ..."). */
                        size_t ls = a->name;
                        while (ls > 0 && text[ls - 1] != '\n')
                                ls--;
                        size_t w = strspn(text + ls, " \t");
                        if (text[ls + w] == '{')
                                w += 1 + strspn(text + ls + w + 1, " \t");
                        indent = strndup(text + ls, MIN(w, a->name - ls));
                        if (!indent)
                                return -ENOMEM;
                        for (char *c = indent; *c; c++)
                                if (*c == '{')
                                        *c = ' ';
                }
                for (size_t i = 1; i < ELEMENTSOF(keys); i++) {
                        if (!values[i] || key_line[i] != 0)
                                continue;
                        _cleanup_free_ char *qv = config_quote(values[i], strlen(values[i]), false), *more = NULL;
                        if (!qv)
                                return -ENOMEM;
                        /* On a line of its own; else on the anchor's line, where the
                         * anchor's own terminator, if it comes later, ends the last. */
                        if ((own_line ? asprintf(&more, "%s\n%s%-11s = %s;", strempty(added), indent, keys[i], qv)
                             : terminated ? asprintf(&more, "%s %s = %s;", strempty(added), keys[i], qv)
                                          : asprintf(&more, "%s; %s = %s", strempty(added), keys[i], qv)) < 0)
                                return -ENOMEM;
                        free(added);
                        added = TAKE_PTR(more);
                }
                if (added) {
                        size_t at = own_line ? eol : pos;
                        ed.e[ed.n++] = (Edit){ at, at, TAKE_PTR(added) };
                }
        }

        /* Applied last first, so that each position still holds. */
        qsort(ed.e, ed.n, sizeof ed.e[0], edit_order);
        for (size_t i = 1; i < ed.n; i++)
                if (ed.e[i].end > ed.e[i - 1].pos)
                        return -ENOTUNIQ; /* overlapping edits */
        out = strdup(text);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < ed.n; i++) {
                char *n = NULL;
                if (asprintf(&n, "%.*s%s%s", (int) ed.e[i].pos, out, ed.e[i].text, out + ed.e[i].end) < 0)
                        return -ENOMEM;
                free(out);
                out = n;
        }
        *ret = TAKE_PTR(out);
        return 0;
}
