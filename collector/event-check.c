/* SPDX-License-Identifier: MIT */
#include "event-check.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <json-c/json.h>

#include "device-bus.h"
#include "macro.h"
#include "sha256.h"
#include "timeutil.h"

#define SEQ_MAX (UINT64_C(1) << 53) /* what a JSON number carries exactly */

static bool is_lower_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool event_check_uuid(const char *s) {
        if (!s || strlen(s) != 36)
                return false;
        for (size_t i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!is_lower_hex((char) tolower((unsigned char) s[i])))
                        return false;
        }
        return true;
}

bool event_check_machine_id(const char *s) {
        if (!s || strlen(s) != 32)
                return false;
        for (size_t i = 0; i < 32; i++)
                if (!is_lower_hex((char) tolower((unsigned char) s[i])))
                        return false;
        /* systemd's rule: an all-zero id is no id */
        return strspn(s, "0") != 32;
}

bool event_check_kind(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n < 1 || n > 64)
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.") == n;
}

bool event_check_severity(const char *s) {
        static const char *const names[] = { "info", "low", "medium", "high", "critical" };
        if (!s)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return true;
        return false;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF, no NUL. */
bool event_check_utf8(const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *) s, *end = p + len;
        while (p < end) {
                unsigned c = *p, need;
                uint32_t cp;
                if (c == 0)
                        return false;
                if (c < 0x80) {
                        p++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        need = 1, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        need = 2, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        need = 3, cp = c & 0x07;
                else
                        return false;
                if ((size_t) (end - p) <= need)
                        return false;
                for (unsigned i = 1; i <= need; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += need + 1;
        }
        return true;
}

/* A member that must be a string of at most max bytes (valid UTF-8, no NUL).
 * 1 with *ret, 0 when absent (or null), -EINVAL with reason. */
static int get_string(json_object *o, const char *key, size_t max, bool required, const char **ret,
                      char reason[static EVENT_CHECK_REASON_MAX]) {
        json_object *v = NULL;
        const char *s;
        size_t n;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
                if (required) {
                        snprintf(reason, EVENT_CHECK_REASON_MAX, "%s missing", key);
                        return -EINVAL;
                }
                return 0;
        }
        if (!json_object_is_type(v, json_type_string)) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "%s is not a string", key);
                return -EINVAL;
        }
        s = json_object_get_string(v);
        n = (size_t) json_object_get_string_len(v);
        if (n > max) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "%s longer than %zu bytes", key, max);
                return -EINVAL;
        }
        if (!event_check_utf8(s, n)) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "%s is not valid UTF-8 text", key);
                return -EINVAL;
        }
        *ret = s;
        return 1;
}

/* An optional object member: NULL when absent; -EINVAL when not an object. */
static int get_object(json_object *o, const char *key, json_object **ret, char reason[static EVENT_CHECK_REASON_MAX]) {
        json_object *v = NULL;
        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return 0;
        if (!json_object_is_type(v, json_type_object)) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "%s is not an object", key);
                return -EINVAL;
        }
        *ret = v;
        return 1;
}

static void lower_copy(char *dst, const char *src, size_t n) {
        for (size_t i = 0; i < n; i++)
                dst[i] = (char) tolower((unsigned char) src[i]);
        dst[n] = 0;
}

void event_check_done(CheckedEvent *c) {
        if (c->root)
                json_object_put(c->root);
        c->root = NULL;
}

/* A device outside USB (device.* events): the key columns hold the bus
 * (device_vendor) and the identity (device_serial), device_product is NULL:
 * a bus name is never 4 hex digits, so no USB device shares its key. Only
 * the buses device-bus.c knows, and identities of valid values only: an
 * event with a malformed one is stored, its device without identity.
 * 1: a bus outside USB, 0: not one, -EINVAL: "bus" is not a string. */
static int check_device_bus(json_object *device, CheckedEvent *c, char reason[static EVENT_CHECK_REASON_MAX]) {
        const char *bus = NULL;
        DeviceBus b;
        size_t len = 0;
        int r;

        r = get_string(device, "bus", 16, false, &bus, reason);
        if (r <= 0)
                return r;
        for (b = DEVICE_BUS_USB + 1; b < _DEVICE_BUS_MAX; b++)
                if (streq(bus, device_bus_to_string(b)))
                        break;
        if (b >= _DEVICE_BUS_MAX)
                return 0; /* "usb" without vendor_id, or a bus this collector does not know */
        c->ev.device_vendor = device_bus_to_string(b);
        r = 1;
        const char *const *keys = device_bus_id_keys(b);
        for (size_t k = 0; keys[k]; k++) {
                json_object *v = NULL;
                /* an embedded NUL would cut the value short: not valid either */
                if (!json_object_object_get_ex(device, keys[k], &v) || !json_object_is_type(v, json_type_string) ||
                    strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v) ||
                    !device_bus_id_valid(b, k, json_object_get_string(v)))
                        return r;
                int n = snprintf(c->device_identity + len, sizeof c->device_identity - len, "%s%s=%s", k > 0 ? " " : "",
                                 keys[k], json_object_get_string(v));
                if (n < 0 || (size_t) n >= sizeof c->device_identity - len) {
                        c->device_identity[0] = 0;
                        return r;
                }
                len += (size_t) n;
        }
        if (len > 0)
                c->ev.device_serial = c->device_identity;
        return r;
}

static int check_fields(CheckedEvent *c, char reason[static EVENT_CHECK_REASON_MAX]) {
        json_object *o = c->root, *v = NULL, *host, *agent, *user, *device;
        const char *s = NULL, *id = NULL, *mid = NULL;
        usec_t t;
        int64_t seq;
        int r;

        /* host first: a line that names a valid machine_id is kept with it */
        r = get_object(o, "host", &host, reason);
        if (r < 0)
                return r;
        if (!host) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "host missing");
                return -EINVAL;
        }
        r = get_string(host, "machine_id", 32, true, &mid, reason);
        if (r < 0)
                return r;
        if (!event_check_machine_id(mid)) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "host.machine_id is not 32 hex digits");
                return -EINVAL;
        }
        lower_copy(c->machine_id, mid, 32);
        c->ev.machine_id = c->machine_id;
        r = get_string(host, "name", 255, false, &c->ev.host_name, reason);
        if (r < 0)
                return r;

        r = get_string(o, "id", 36, true, &id, reason);
        if (r < 0)
                return r;
        if (!event_check_uuid(id)) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "id is not a UUID");
                return -EINVAL;
        }
        lower_copy(c->id, id, 36);
        c->ev.id = c->id;

        if (!json_object_object_get_ex(o, "seq", &v)) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "seq missing");
                return -EINVAL;
        }
        if (!json_object_is_type(v, json_type_int)) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "seq is not an integer");
                return -EINVAL;
        }
        errno = 0;
        seq = json_object_get_int64(v);
        /* json-c saturates out-of-range numbers: a uint64 past INT64_MAX reads as INT64_MAX */
        if (seq < 1 || (uint64_t) seq > SEQ_MAX) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "seq out of range 1..2^53");
                return -EINVAL;
        }
        c->ev.seq = (uint64_t) seq;

        r = get_string(o, "time", 40, true, &s, reason);
        if (r < 0)
                return r;
        if (!endswith(s, "Z") && !endswith(s, "z")) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "time is not in UTC (Z)");
                return -EINVAL;
        }
        if (parse_rfc3339(s, &t) < 0 || t > (usec_t) INT64_MAX) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "time is not an RFC 3339 date-time");
                return -EINVAL;
        }
        c->ev.time_us = (int64_t) t;

        r = get_string(o, "kind", 64, true, &c->ev.kind, reason);
        if (r < 0)
                return r;
        if (!event_check_kind(c->ev.kind)) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "kind is not [a-z0-9_.]{1,64}");
                return -EINVAL;
        }
        r = get_string(o, "severity", 16, true, &c->ev.severity, reason);
        if (r < 0)
                return r;
        if (!event_check_severity(c->ev.severity)) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "severity is not info, low, medium, high or critical");
                return -EINVAL;
        }

        r = get_object(o, "agent", &agent, reason);
        if (r < 0)
                return r;
        if (agent) {
                r = get_string(agent, "version", 63, false, &c->ev.agent_version, reason);
                if (r < 0)
                        return r;
                r = get_string(agent, "policy_hash", 64, false, &c->ev.policy_hash, reason);
                if (r < 0)
                        return r;
        }
        r = get_string(o, "policy_ref", 256, false, &c->ev.policy_ref, reason);
        if (r < 0)
                return r;
        r = get_object(o, "user", &user, reason);
        if (r < 0)
                return r;
        if (user) {
                r = get_string(user, "name", 256, false, &c->ev.user_name, reason);
                if (r < 0)
                        return r;
        }
        r = get_object(o, "device", &device, reason);
        if (r < 0)
                return r;
        if (device) {
                r = get_string(device, "vendor_id", 16, false, &c->ev.device_vendor, reason);
                if (r >= 0)
                        r = get_string(device, "product_id", 16, false, &c->ev.device_product, reason);
                bool other_bus = false;
                if (r >= 0 && !c->ev.device_vendor) {
                        r = check_device_bus(device, c, reason);
                        other_bus = r > 0;
                }
                if (r >= 0 && !other_bus)
                        r = get_string(device, "serial", 1024, false, &c->ev.device_serial, reason);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A \u0000 anywhere, in a member the checks above never read too: PostgreSQL's
 * jsonb (events.department is generated from it) refuses the whole batch
 * for it, which would hold the agent's spool back for good. line is valid
 * JSON here: a backslash is always an escape inside a string. */
static bool has_nul_escape(const char *line, size_t len) {
        if (memchr(line, 0, len))
                return true;
        for (size_t i = 0; i + 1 < len; i++) {
                if (line[i] != '\\')
                        continue;
                if (line[i + 1] == 'u' && i + 5 < len && memcmp(line + i + 2, "0000", 4) == 0)
                        return true;
                i++; /* the escaped character */
        }
        return false;
}

int event_check(const char *line, size_t len, CheckedEvent *ret, char reason[static EVENT_CHECK_REASON_MAX]) {
        json_tokener *tok;
        json_object *root;
        enum json_tokener_error jerr;
        int r;

        *ret = (CheckedEvent){ 0 };
        reason[0] = 0;

        if (len > INT32_MAX) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "line too long");
                return EVENT_CHECK_NOT_JSON;
        }
        tok = json_tokener_new_ex(EVENT_CHECK_DEPTH);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        root = json_tokener_parse_ex(tok, line, (int) len);
        jerr = json_tokener_get_error(tok);
        /* the whole line is one value: nothing may follow it but blanks */
        if (root && jerr == json_tokener_success) {
                size_t used = json_tokener_get_parse_end(tok);
                for (; used < len; used++)
                        if (!strchr(" \t\r", line[used])) {
                                jerr = json_tokener_error_parse_unexpected;
                                break;
                        }
        } else if (jerr == json_tokener_continue)
                jerr = json_tokener_error_parse_eof;
        json_tokener_free(tok);
        if (jerr != json_tokener_success) {
                if (root)
                        json_object_put(root);
                snprintf(reason, EVENT_CHECK_REASON_MAX, "not JSON (%s)", json_tokener_error_desc(jerr));
                return EVENT_CHECK_NOT_JSON;
        }
        if (!json_object_is_type(root, json_type_object)) {
                json_object_put(root);
                snprintf(reason, EVENT_CHECK_REASON_MAX, "not a JSON object");
                return EVENT_CHECK_NOT_JSON;
        }
        ret->root = root;
        r = check_fields(ret, reason);
        if (r >= 0 && has_nul_escape(line, len)) {
                snprintf(reason, EVENT_CHECK_REASON_MAX, "a string holds U+0000 (\\u0000)");
                r = -EINVAL;
        }
        if (r < 0) {
                char mid[33];
                memcpy(mid, ret->machine_id, sizeof mid);
                event_check_done(ret);
                *ret = (CheckedEvent){ 0 };
                memcpy(ret->machine_id, mid, sizeof mid);
                return EVENT_CHECK_INVALID;
        }
        ret->ev.json = line;
        ret->ev.json_len = len;
        /* GnuTLS's SHA-256 (nettle uses the CPU's SHA instructions where there
         * are some) is 8-10 times faster than common/sha256.c on a 1 KiB line:
         * every stored event pays it (tools/bench/README.md, the profile). */
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, line, len, ret->ev.content_hash) < 0)
                sha256(line, len, ret->ev.content_hash);
        return EVENT_CHECK_OK;
}
