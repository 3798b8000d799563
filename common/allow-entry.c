/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allow-entry.h"
#include "macro.h"
#include "text.h"
#include "timeutil.h"

char *config_quote(const char *s, size_t len, bool ascii_only) {
        const unsigned char *u = (const unsigned char *) s;
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        fputc('"', f);
        for (size_t i = 0; i < len;) {
                unsigned char c = u[i];
                size_t l;
                if (c == '"' || c == '\\') {
                        fputc('\\', f);
                        fputc(c, f);
                        i++;
                } else if (c >= 0x20 && c < 0x7f) {
                        fputc(c, f);
                        i++;
                } else if (!ascii_only && c >= 0x80 && (l = utf8_sequence_len(u + i, len - i)) > 1 &&
                           !text_codepoint_is_hidden(utf8_decode(u + i, l))) {
                        fwrite(u + i, 1, l, f);
                        i += l;
                } else {
                        fprintf(f, "\\x%02x", c);
                        i++;
                }
        }
        fputc('"', f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static bool put_key(FILE *f, const char *key, const char *value, const char *note) {
        _cleanup_free_ char *q = NULL;
        if (!value)
                return true;
        q = config_quote(value, strlen(value), false);
        if (!q)
                return false;
        fprintf(f, "    %-11s = %s;%s%s\n", key, q, note ? "  # " : "", note ? note : "");
        return true;
}

char *allow_draft_format(const AllowDraft *d) {
        _cleanup_free_ char *serial = NULL;
        char *buf = NULL;
        size_t size = 0;
        bool ok = true;
        FILE *f;

        if (d->serial && !d->any_serial) {
                serial = config_quote(d->serial, d->serial_len, true);
                if (!serial)
                        return NULL;
        }
        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        for (const char *const *c = d->comments; c && *c; c++)
                fprintf(f, "# %s\n", *c);
        fputs("allow = (\n  {\n", f);
        fprintf(f, "    %-11s = \"%04x\";\n", "vendor", d->vendor);
        fprintf(f, "    %-11s = \"%04x\";\n", "product", d->product);
        if (serial)
                fprintf(f, "    %-11s = %s;\n", "serial", serial);
        else
                fprintf(f, "    %-11s = true;  # %s\n", "any_serial",
                        d->serial ? "every device of this model, whatever its serial"
                                  : "the device has no serial: this allows every device of this model");
        if (d->read_only)
                fprintf(f, "    %-11s = \"read-only\";  # %s\n", "access",
                        "storage set read-only before it can be mounted / 読み取り専用");
        ok = ok && put_key(f, "label", d->label, NULL);
        ok = ok && put_key(f, "approved_by", d->approved_by ? d->approved_by : "",
                           d->approved_by ? NULL : "REQUIRED: who approved this device / 承認者 (必須)");
        ok = ok && put_key(f, "approved_on", d->approved_on, NULL);
        ok = ok && put_key(f, "expires", d->expires,
                           !d->expires                  ? NULL
                           : expiry_is_date(d->expires) ? "allows through this day / この日まで有効"
                                                        : "allows until this instant / この時刻まで有効");
        ok = ok && put_key(f, "ticket", d->ticket, NULL);
        fputs("  }\n);\n", f);
        if (fclose(f) != 0 || !ok) {
                free(buf);
                return NULL;
        }
        return buf;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* n hex digits at s, or -1. */
static long unhex_n(const char *s, size_t n) {
        long v = 0;
        for (size_t i = 0; i < n; i++) {
                int h = unhex(s[i]);
                if (h < 0)
                        return -1;
                v = v * 16 + h;
        }
        return v;
}

static size_t utf8_put(uint32_t c, unsigned char *o) {
        if (c < 0x80) {
                o[0] = (unsigned char) c;
                return 1;
        }
        if (c < 0x800) {
                o[0] = (unsigned char) (0xc0 | c >> 6);
                o[1] = (unsigned char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                o[0] = (unsigned char) (0xe0 | c >> 12);
                o[1] = (unsigned char) (0x80 | ((c >> 6) & 0x3f));
                o[2] = (unsigned char) (0x80 | (c & 0x3f));
                return 3;
        }
        o[0] = (unsigned char) (0xf0 | c >> 18);
        o[1] = (unsigned char) (0x80 | ((c >> 12) & 0x3f));
        o[2] = (unsigned char) (0x80 | ((c >> 6) & 0x3f));
        o[3] = (unsigned char) (0x80 | (c & 0x3f));
        return 4;
}

int allow_serial_unescape(const char *escaped, size_t max, char **ret, size_t *ret_len) {
        size_t len = strlen(escaped), o = 0;
        /* an escape never yields more bytes than it takes */
        _cleanup_free_ unsigned char *buf = malloc(len + 1);

        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < len;) {
                if (escaped[i] != '\\') {
                        buf[o++] = (unsigned char) escaped[i++];
                        continue;
                }
                char e = i + 1 < len ? escaped[i + 1] : 0;
                long v;
                if (e == '\\') {
                        buf[o++] = '\\';
                        i += 2;
                } else if (e == 'x' && i + 4 <= len && (v = unhex_n(escaped + i + 2, 2)) >= 0) {
                        buf[o++] = (unsigned char) v;
                        i += 4;
                } else if (e == 'u' && i + 6 <= len && (v = unhex_n(escaped + i + 2, 4)) >= 0 &&
                           !(v >= 0xd800 && v <= 0xdfff)) {
                        o += utf8_put((uint32_t) v, buf + o);
                        i += 6;
                } else if (e == 'U' && i + 10 <= len && (v = unhex_n(escaped + i + 2, 8)) >= 0 && v <= 0x10ffff &&
                           !(v >= 0xd800 && v <= 0xdfff)) {
                        o += utf8_put((uint32_t) v, buf + o);
                        i += 10;
                } else
                        return -EINVAL;
        }
        if (o == 0 || o > max || memchr(buf, 0, o))
                return -EINVAL;
        buf[o] = 0;
        *ret = (char *) TAKE_PTR(buf);
        *ret_len = o;
        return 0;
}
