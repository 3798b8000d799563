/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "usb-alias-index.h"
#include "usb-drivers.h"

/* depmod writes "alias <glob> <module>" in well under this */
#define LINE_MAX_BYTES 4096u
/* file2alias writes at most 10 '*' in a USB alias; more makes fnmatch's
 * backtracking the cost of a lookup */
#define PATTERN_MAX_STARS 12u
/* modprobe.d: a logical line (backslash-joined) longer than this is skipped */
#define CONF_LINE_MAX 65536u

/* libkmod's alias_normalize() and underscores(), on len bytes into out (len + 1). */
static int usb_alias_normalize_n(const char *in, size_t len, char *out) {
        for (size_t i = 0; i < len; i++) {
                char c = in[i];
                if (c == 0 || c == ']')
                        return -EINVAL;
                if (c == '[') {
                        for (; i < len && in[i] != ']'; i++) {
                                if (in[i] == 0)
                                        return -EINVAL;
                                out[i] = in[i];
                        }
                        if (i == len)
                                return -EINVAL;
                        out[i] = ']';
                        continue;
                }
                out[i] = c == '-' ? '_' : c;
        }
        out[len] = 0;
        return 0;
}

int usb_alias_normalize(const char *in, char out[static USB_ALIAS_MODALIAS_MAX + 1]) {
        size_t len;

        assert(in);
        len = strnlen(in, USB_ALIAS_MODALIAS_MAX + 1);
        if (len > USB_ALIAS_MODALIAS_MAX)
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) in[i] <= ' ' || (unsigned char) in[i] >= 0x7f)
                        return -EINVAL;
        return usb_alias_normalize_n(in, len, out);
}

/* Can the pattern match a string that starts with "usb:"? Its literal
 * prefix, up to the first special character, must agree with "usb:". */
static bool usb_alias_pattern_may_match_usb(const char *p, size_t len) {
        static const char usb[] = "usb:";
        for (size_t i = 0; i < 4; i++) {
                if (i == len)
                        return false;
                if (strchr("*?[\\", p[i]))
                        return true;
                if (p[i] != usb[i])
                        return false;
        }
        return true;
}

static bool usb_alias_pattern_bounded(const char *p, size_t len) {
        size_t stars = 0;
        if (len == 0 || len > USB_ALIAS_PATTERN_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if (p[i] == '*' && ++stars > PATTERN_MAX_STARS)
                        return false;
        return true;
}

static bool usb_alias_is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* The next token of [*p, end): spaces and tabs between tokens. */
static bool usb_alias_token(const char **p, const char *end, const char **ret, size_t *ret_len) {
        const char *s = *p;
        while (s < end && usb_alias_is_blank(*s))
                s++;
        if (s == end)
                return false;
        *ret = s;
        while (s < end && !usb_alias_is_blank(*s))
                s++;
        *ret_len = (size_t) (s - *ret);
        *p = s;
        return true;
}

/* "alias <pattern> <module>" and nothing more. */
static bool usb_alias_line_split(const char *l, size_t len, const char **pat, size_t *pat_len, const char **mod,
                                 size_t *mod_len) {
        const char *p = l, *end = l + len, *cmd, *extra;
        size_t cmd_len, extra_len;

        if (len == 0 || len > LINE_MAX_BYTES || l[0] == '#')
                return false;
        return usb_alias_token(&p, end, &cmd, &cmd_len) && cmd_len == 5 && memcmp(cmd, "alias", 5) == 0 &&
               usb_alias_token(&p, end, pat, pat_len) && usb_alias_token(&p, end, mod, mod_len) &&
               !usb_alias_token(&p, end, &extra, &extra_len);
}

/* One line of modules.alias as it is indexed: split, printable ASCII, the
 * pattern bounded and normalized into pattern (USB_ALIAS_PATTERN_MAX + 1
 * bytes), the module into module (USB_DRIVER_NAME_MAX + 1), a valid name. */
static bool usb_alias_line_parse(const char *l, size_t len, char *pattern, char *module) {
        const char *pat, *mod;
        size_t pat_len, mod_len;

        if (!usb_alias_line_split(l, len, &pat, &pat_len, &mod, &mod_len))
                return false;
        for (const char *c = l; c < l + len; c++)
                if ((unsigned char) *c < ' ' ? *c != '\t' : (unsigned char) *c >= 0x7f)
                        return false;
        if (!usb_alias_pattern_bounded(pat, pat_len) || !usb_alias_pattern_may_match_usb(pat, pat_len) ||
            mod_len > USB_DRIVER_NAME_MAX)
                return false;
        return usb_alias_normalize_n(pat, pat_len, pattern) >= 0 && usb_alias_normalize_n(mod, mod_len, module) >= 0 &&
               usb_driver_name_valid(module);
}

/* Four uppercase hex digits (as file2alias and the kernel's modalias write them). */
static bool usb_alias_hex4(const char *p, uint32_t *ret) {
        uint32_t v = 0;
        for (size_t i = 0; i < 4; i++) {
                char c = p[i];
                if (c >= '0' && c <= '9')
                        v = v << 4 | (uint32_t) (c - '0');
                else if (c >= 'A' && c <= 'F')
                        v = v << 4 | (uint32_t) (c - 'A' + 10);
                else
                        return false;
        }
        *ret = v;
        return true;
}

/* "usb:vVVVVpPPPP...": 2 (both literal), 1 (the vendor only), 0. */
static int usb_alias_ids(const char *s, size_t len, uint32_t *vendor, uint32_t *product) {
        if (len < 9 || memcmp(s, "usb:v", 5) != 0 || !usb_alias_hex4(s + 5, vendor))
                return 0;
        if (len < 14 || s[9] != 'p' || !usb_alias_hex4(s + 10, product))
                return 1;
        return 2;
}

void usb_alias_index_done(UsbAliasIndex *idx) {
        assert(idx);
        free(idx->product);
        free(idx->vendor);
        free(idx->other);
        *idx = (UsbAliasIndex){ 0 };
}

/* In place (glibc's qsort() mallocs a copy: dirty heap a daemon keeps). */
static void usb_alias_sift_down(uint64_t *a, size_t root, size_t n) {
        for (size_t child; (child = 2 * root + 1) < n; root = child) {
                if (child + 1 < n && a[child + 1] > a[child])
                        child++;
                if (a[root] >= a[child])
                        return;
                uint64_t t = a[root];
                a[root] = a[child];
                a[child] = t;
        }
}

static void usb_alias_heapsort(uint64_t *a, size_t n) {
        for (size_t i = n / 2; i-- > 0;)
                usb_alias_sift_down(a, i, n);
        for (size_t end = n; end-- > 1;) {
                uint64_t t = a[0];
                a[0] = a[end];
                a[end] = t;
                usb_alias_sift_down(a, 0, end);
        }
}

/* One pass over the lines: counts (fill false) or fills the arrays sized by
 * the count (fill true). Two passes, so that the arrays are exactly their
 * size: no doubling that leaves dirty heap behind in a long-lived daemon. */
static void usb_alias_index_scan(UsbAliasIndex *idx, bool fill) {
        char pattern[USB_ALIAS_PATTERN_MAX + 1], module[USB_DRIVER_NAME_MAX + 1];
        const char *buf = idx->buf;
        size_t len = idx->len;

        idx->n_product = idx->n_vendor = idx->n_other = idx->n_skipped = 0;
        for (size_t off = 0; off < len;) {
                const char *l = buf + off, *nl = memchr(l, '\n', len - off);
                size_t llen = nl ? (size_t) (nl - l) : len - off;
                uint32_t v, p;

                if (!usb_alias_line_parse(l, llen, pattern, module)) {
                        if (llen > 10 && memcmp(l, "alias usb:", 10) == 0)
                                idx->n_skipped++;
                } else if (idx->n_product + idx->n_vendor + idx->n_other >= USB_ALIAS_INDEX_MAX)
                        idx->n_skipped++;
                else
                        switch (usb_alias_ids(pattern, strlen(pattern), &v, &p)) {
                        case 2:
                                if (fill)
                                        idx->product[idx->n_product] = (uint64_t) (v << 16 | p) << 32 | off;
                                idx->n_product++;
                                break;
                        case 1:
                                if (fill)
                                        idx->vendor[idx->n_vendor] = (uint64_t) v << 32 | off;
                                idx->n_vendor++;
                                break;
                        default:
                                if (fill)
                                        idx->other[idx->n_other] = (uint32_t) off;
                                idx->n_other++;
                        }
                off += llen + 1;
        }
}

int usb_alias_index_parse(const char *buf, size_t len, UsbAliasIndex *ret) {
        _cleanup_(usb_alias_index_done) UsbAliasIndex idx = { .buf = buf, .len = len };

        assert(buf || len == 0);
        assert(ret);

        if (len > USB_ALIAS_FILE_MAX)
                return -EFBIG;
        usb_alias_index_scan(&idx, false);
        idx.product = calloc(MAX(idx.n_product, 1u), sizeof *idx.product);
        idx.vendor = calloc(MAX(idx.n_vendor, 1u), sizeof *idx.vendor);
        idx.other = calloc(MAX(idx.n_other, 1u), sizeof *idx.other);
        if (!idx.product || !idx.vendor || !idx.other)
                return -ENOMEM;
        usb_alias_index_scan(&idx, true);
        /* the offsets grow with the line: sorted by key, then in the file's order */
        usb_alias_heapsort(idx.product, idx.n_product);
        usb_alias_heapsort(idx.vendor, idx.n_vendor);
        *ret = TAKE_STRUCT(idx);
        return 0;
}

/* The first entry of a (n sorted) whose key (the upper 32 bits) is >= key. */
static size_t usb_alias_lower_bound(const uint64_t *a, size_t n, uint64_t key) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (a[mid] >> 32 < key)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* A line the index points at, checked again only as far as memory safety
 * and the result need (a lookup's cost is mostly here): the buffer is the
 * file's mapping, which someone may have written since. */
static int usb_alias_index_try(const UsbAliasIndex *idx, uint32_t off, const char *modalias, char **list) {
        char pattern[USB_ALIAS_PATTERN_MAX + 1], module[USB_DRIVER_NAME_MAX + 1];
        const char *l, *nl, *pat, *mod;
        size_t max, pat_len, mod_len;

        if (off >= idx->len)
                return 0;
        l = idx->buf + off;
        max = MIN(idx->len - off, (size_t) LINE_MAX_BYTES + 1);
        nl = memchr(l, '\n', max);
        if (!usb_alias_line_split(l, nl ? (size_t) (nl - l) : max, &pat, &pat_len, &mod, &mod_len) ||
            !usb_alias_pattern_bounded(pat, pat_len) || usb_alias_normalize_n(pat, pat_len, pattern) < 0 ||
            fnmatch(pattern, modalias, 0) != 0)
                return 0;
        if (mod_len > USB_DRIVER_NAME_MAX || usb_alias_normalize_n(mod, mod_len, module) < 0 ||
            !usb_driver_name_valid(module))
                return 0;
        return usb_driver_list_add(list, module);
}

int usb_alias_index_match(const UsbAliasIndex *idx, const char *modalias, char **list) {
        size_t pa = 0, pb = 0, va = 0, vb = 0, o = 0;
        uint32_t v, p;
        int k;

        assert(idx);
        assert(modalias);
        assert(list);

        k = usb_alias_ids(modalias, strlen(modalias), &v, &p);
        if (k >= 1) {
                va = usb_alias_lower_bound(idx->vendor, idx->n_vendor, v);
                vb = usb_alias_lower_bound(idx->vendor, idx->n_vendor, (uint64_t) v + 1);
        }
        if (k == 2) {
                pa = usb_alias_lower_bound(idx->product, idx->n_product, v << 16 | p);
                pb = usb_alias_lower_bound(idx->product, idx->n_product, (uint64_t) (v << 16 | p) + 1);
        }
        /* three runs, each in the file's order: merged, so that the result
         * lists the modules as the file (libkmod's priority) does */
        for (;;) {
                uint64_t best = UINT64_MAX;
                int which = -1, r;
                if (pa < pb && (uint32_t) idx->product[pa] < best)
                        best = (uint32_t) idx->product[pa], which = 0;
                if (va < vb && (uint32_t) idx->vendor[va] < best)
                        best = (uint32_t) idx->vendor[va], which = 1;
                if (o < idx->n_other && idx->other[o] < best)
                        best = idx->other[o], which = 2;
                if (which < 0)
                        return 0;
                if (which == 0)
                        pa++;
                else if (which == 1)
                        va++;
                else
                        o++;
                r = usb_alias_index_try(idx, (uint32_t) best, modalias, list);
                if (r < 0)
                        return r;
        }
}

/* One logical line of a modprobe.d file, NUL-terminated (a NUL inside ends
 * it, as for libkmod). */
static int usb_alias_conf_line(char *line, UsbBuiltinAliases *rules) {
        char *save = NULL, *cmd, *alias, *module;
        char pattern[USB_ALIAS_PATTERN_MAX + 1];
        size_t plen, cap = rules->n;

        if (line[0] == 0 || line[0] == '#')
                return 0;
        cmd = strtok_r(line, "\t ", &save);
        if (!cmd || !streq(cmd, "alias"))
                return 0;
        alias = strtok_r(NULL, "\t ", &save);
        module = strtok_r(NULL, "\t ", &save);
        if (!alias || !module)
                return 0;
        plen = strlen(alias);
        if (!usb_alias_pattern_bounded(alias, plen) || !usb_alias_pattern_may_match_usb(alias, plen) ||
            usb_alias_normalize_n(alias, plen, pattern) < 0 || strlen(module) > LINE_MAX_BYTES ||
            usb_alias_normalize_n(module, strlen(module), module) < 0)
                return 0;
        if (rules->n >= USB_MODINFO_MAX_ALIASES)
                return 0;
        if (GROW_ARRAY(rules->items, cap, rules->n + 1, 16) < 0)
                return -ENOMEM;
        /* the module is kept whatever its name: a match on a name we cannot
         * use still ends libkmod's lookup before modules.alias */
        rules->items[rules->n] = (UsbBuiltinAlias){ .module = strdup(module), .pattern = strdup(pattern) };
        if (!rules->items[rules->n].module || !rules->items[rules->n].pattern) {
                free(rules->items[rules->n].module);
                free(rules->items[rules->n].pattern);
                return -ENOMEM;
        }
        rules->n++;
        return 0;
}

int usb_alias_conf_parse(const char *buf, size_t len, UsbBuiltinAliases *rules) {
        _cleanup_free_ char *line = NULL;

        assert(buf || len == 0);
        assert(rules);

        line = malloc(MIN(len, (size_t) CONF_LINE_MAX) + 1);
        if (!line)
                return -ENOMEM;
        for (size_t i = 0; i < len;) {
                size_t n = 0;
                bool too_long = false;
                int r;

                /* libkmod's freadline_wrapped(): "\\\n" joins, "\\c" is c */
                for (; i < len; i++) {
                        char c = buf[i];
                        if (c == '\n') {
                                i++;
                                break;
                        }
                        if (c == '\\') {
                                if (i + 1 < len && buf[i + 1] == '\n') {
                                        i++;
                                        continue;
                                }
                                c = i + 1 < len ? buf[++i] : (char) 0xff; /* getc()'s EOF, stored */
                        }
                        if (n < MIN(len, (size_t) CONF_LINE_MAX))
                                line[n++] = c;
                        else
                                too_long = true;
                }
                if (too_long)
                        continue;
                line[n] = 0;
                r = usb_alias_conf_line(line, rules);
                if (r < 0)
                        return r;
        }
        return 0;
}

int usb_alias_conf_match(const UsbBuiltinAliases *rules, const char *modalias, char **list) {
        int n = 0;

        assert(rules);
        assert(modalias);
        assert(list);

        for (size_t i = 0; i < rules->n; i++) {
                if (fnmatch(rules->items[i].pattern, modalias, 0) != 0)
                        continue;
                n++;
                if (usb_driver_name_valid(rules->items[i].module) && usb_driver_list_add(list, rules->items[i].module) < 0)
                        return -ENOMEM;
        }
        return n;
}
