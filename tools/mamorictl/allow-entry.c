/* SPDX-License-Identifier: MIT */
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
        ok = ok && put_key(f, "label", d->label, NULL);
        ok = ok && put_key(f, "approved_by", d->approved_by ? d->approved_by : "",
                           d->approved_by ? NULL : "REQUIRED: who approved this device / 承認者 (必須)");
        ok = ok && put_key(f, "approved_on", d->approved_on, NULL);
        ok = ok && put_key(f, "expires", d->expires,
                           !d->expires              ? NULL
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
