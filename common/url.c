/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "url.h"

#define URL_SCHEME_MAX 40 /* curl's MAX_SCHEME_LEN */
#define URL_HOST_MAX 253
#define URL_LABEL_MAX 63
#define URL_V6_BUF (INET6_ADDRSTRLEN + 4)

static bool url_is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool url_is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool url_is_hex(char c) {
        return url_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 pchar without '%' (checked apart): unreserved, sub-delims, ':', '@'. */
static bool url_is_pchar(char c) {
        return url_is_alpha(c) || url_is_digit(c) || (c != '\0' && strchr("-._~!$&'()*+,;=:@", c));
}

/* A dotted quad as inet_ntop() writes it: four decimal numbers 0..255 without
 * leading zeros. */
static bool url_is_dotted_quad(const char *h, size_t len) {
        unsigned parts = 0;
        size_t i = 0;

        while (i < len) {
                unsigned v = 0;
                size_t start = i;
                while (i < len && url_is_digit(h[i]) && i - start < 3)
                        v = v * 10 + (unsigned) (h[i++] - '0');
                if (i == start || v > 255 || (h[start] == '0' && i - start > 1))
                        return false;
                parts++;
                if (i == len)
                        break;
                if (h[i] != '.' || parts == 4)
                        return false;
                i++;
                if (i == len)
                        return false;
        }
        return parts == 4;
}

/* A last label curl (and browsers) would read as a number: all digits, or 0x
 * and hex digits. */
static bool url_label_is_numeric(const char *l, size_t len) {
        bool hex = len >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X');

        if (len == 0)
                return false;
        for (size_t i = hex ? 2 : 0; i < len; i++)
                if (hex ? !url_is_hex(l[i]) : !url_is_digit(l[i]))
                        return false;
        return true;
}

static int url_check_name(const char *h, size_t len, const char **ret_reason) {
        size_t label = 0, last = 0;

        if (len == 0) {
                *ret_reason = "no host";
                return -EINVAL;
        }
        if (len > URL_HOST_MAX) {
                *ret_reason = "the host is longer than 253 bytes";
                return -EINVAL;
        }
        for (size_t i = 0; i <= len; i++) {
                char c = i < len ? h[i] : '.';
                if (c == '.') {
                        if (i == label) {
                                *ret_reason = "the host has an empty label (two dots, or a dot at either end)";
                                return -EINVAL;
                        }
                        if (i - label > URL_LABEL_MAX) {
                                *ret_reason = "a label of the host is longer than 63 bytes";
                                return -EINVAL;
                        }
                        if (h[label] == '-' || h[i - 1] == '-') {
                                *ret_reason = "a label of the host begins or ends with '-'";
                                return -EINVAL;
                        }
                        last = label;
                        label = i + 1;
                } else if (c == '%') {
                        *ret_reason = "percent-encoding in the host is not allowed";
                        return -EINVAL;
                } else if (!url_is_alpha(c) && !url_is_digit(c) && c != '-' && c != '_') {
                        *ret_reason = "the host may only have letters, digits, '-', '_' and dots";
                        return -EINVAL;
                }
        }
        if (url_label_is_numeric(h + last, len - last) && !url_is_dotted_quad(h, len)) {
                *ret_reason = "a numeric host must be an IPv4 address a.b.c.d (0-255, no leading zeros)";
                return -EINVAL;
        }
        return 0;
}

/* "[v6]" in h (len bytes with the brackets): 0 and the inet_ntop() form in ret. */
static int url_check_ipv6(const char *h, size_t len, char ret[URL_V6_BUF], const char **ret_reason) {
        char buf[INET6_ADDRSTRLEN + 1];
        struct in6_addr a;

        if (memchr(h, '%', len)) {
                *ret_reason = "an IPv6 zone is not allowed";
                return -EINVAL;
        }
        if (len - 2 > INET6_ADDRSTRLEN) {
                *ret_reason = "not an IPv6 address in the brackets";
                return -EINVAL;
        }
        /* inet_pton() alone would not refuse what follows its address */
        for (size_t i = 1; i < len - 1; i++)
                if (!url_is_hex(h[i]) && h[i] != ':' && h[i] != '.') {
                        *ret_reason = "not an IPv6 address in the brackets";
                        return -EINVAL;
                }
        memcpy(buf, h + 1, len - 2);
        buf[len - 2] = '\0';
        if (inet_pton(AF_INET6, buf, &a) != 1 || !inet_ntop(AF_INET6, &a, buf, sizeof(buf))) {
                *ret_reason = "not an IPv6 address in the brackets";
                return -EINVAL;
        }
        snprintf(ret, URL_V6_BUF, "[%s]", buf);
        return 0;
}

static int url_check_port(const char *p, size_t len, uint16_t *ret, const char **ret_reason) {
        unsigned v = 0;
        bool ok;

        if (len == 0) {
                *ret_reason = "an empty port";
                return -EINVAL;
        }
        /* no leading zero: "08080" is 8080 to curl, and to a reader maybe not */
        ok = len <= 5 && p[0] != '0';
        for (size_t i = 0; ok && i < len; i++) {
                ok = url_is_digit(p[i]);
                v = v * 10 + (unsigned) (p[i] - '0');
        }
        if (!ok || v > 65535) {
                *ret_reason = "the port must be a number from 1 to 65535";
                return -EINVAL;
        }
        *ret = (uint16_t) v;
        return 0;
}

/* The path (with the leading '/') or the query: pchar, '/', '%XX', and '?'
 * in the query. */
static int url_check_chars(const char *p, size_t len, bool query, const char **ret_reason) {
        for (size_t i = 0; i < len; i++) {
                if (p[i] == '%') {
                        if (i + 2 >= len || !url_is_hex(p[i + 1]) || !url_is_hex(p[i + 2])) {
                                *ret_reason = "a '%' that is not followed by two hex digits";
                                return -EINVAL;
                        }
                        i += 2;
                } else if (!url_is_pchar(p[i]) && p[i] != '/' && !(query && p[i] == '?')) {
                        *ret_reason = query ? "the query has a character that must be percent-encoded"
                                            : "the path has a character that must be percent-encoded";
                        return -EINVAL;
                }
        }
        return 0;
}

/* "." or ".." (also as %2e) as a whole segment. */
static bool url_segment_is_dots(const char *s, size_t len) {
        size_t dots = 0;
        for (size_t i = 0; i < len; dots++) {
                if (s[i] == '.')
                        i++;
                else if (len - i >= 3 && s[i] == '%' && s[i + 1] == '2' && (s[i + 2] == 'e' || s[i + 2] == 'E'))
                        i += 3;
                else
                        return false;
        }
        return dots == 1 || dots == 2;
}

void url_parts_done(UrlParts *p) {
        free(p->scheme);
        free(p->host);
        free(p->path);
        free(p->query);
        *p = (UrlParts){ 0 };
}

static inline void url_parts_donep(UrlParts *p) {
        url_parts_done(p);
}

int url_parse(const char *s, UrlParts *ret, const char **ret_reason) {
        _cleanup_(url_parts_donep) UrlParts parts = { 0 };
        char v6[URL_V6_BUF];
        const char *p, *auth, *host_end, *path, *query;
        size_t n, scheme_len, host_len;
        int r;

        n = strnlen(s, URL_MAX + 1);
        if (n > URL_MAX) {
                *ret_reason = "longer than 4096 bytes";
                return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c <= ' ' || c == 0x7f) {
                        *ret_reason = "a space or a control character";
                        return -EINVAL;
                }
                if (c >= 0x80) {
                        *ret_reason = "a byte outside ASCII (a host in punycode, a path percent-encoded)";
                        return -EINVAL;
                }
        }
        if (strchr(s, '#')) {
                *ret_reason = "a fragment ('#') is not allowed";
                return -EINVAL;
        }

        /* scheme ":" "//" */
        for (scheme_len = 0; scheme_len < n && scheme_len <= URL_SCHEME_MAX; scheme_len++) {
                char c = s[scheme_len];
                if (!(url_is_alpha(c) || (scheme_len > 0 && (url_is_digit(c) || c == '+' || c == '-' || c == '.'))))
                        break;
        }
        /* "proxy.example:8080" has no scheme, although it looks like one */
        if (scheme_len == 0 || scheme_len > URL_SCHEME_MAX || s[scheme_len] != ':' || s[scheme_len + 1] != '/') {
                *ret_reason = "no scheme such as https://";
                return -EINVAL;
        }
        if (s[scheme_len + 2] != '/' || s[scheme_len + 3] == '/') {
                *ret_reason = "the scheme must be followed by exactly two slashes";
                return -EINVAL;
        }
        auth = s + scheme_len + 3;

        /* authority: host [":" port], up to the path or the query */
        path = auth + strcspn(auth, "/?");
        if (memchr(auth, '@', (size_t) (path - auth))) {
                *ret_reason = "a user name or password is not allowed";
                return -EINVAL;
        }
        if (auth[0] == '[') {
                host_end = memchr(auth, ']', (size_t) (path - auth));
                if (!host_end) {
                        *ret_reason = "an IPv6 address without its ']'";
                        return -EINVAL;
                }
                host_end++;
                if (host_end < path && *host_end != ':') {
                        *ret_reason = "only a port may follow an IPv6 address";
                        return -EINVAL;
                }
                r = url_check_ipv6(auth, (size_t) (host_end - auth), v6, ret_reason);
                if (r < 0)
                        return r;
        } else {
                host_end = memchr(auth, ':', (size_t) (path - auth));
                if (!host_end)
                        host_end = path;
                r = url_check_name(auth, (size_t) (host_end - auth), ret_reason);
                if (r < 0)
                        return r;
        }
        host_len = (size_t) (host_end - auth);
        if (host_end < path) {
                r = url_check_port(host_end + 1, (size_t) (path - host_end - 1), &parts.port, ret_reason);
                if (r < 0)
                        return r;
                parts.port_explicit = true;
        }

        /* path, query */
        query = strchr(path, '?');
        if (!query)
                query = s + n;
        r = url_check_chars(path, (size_t) (query - path), false, ret_reason);
        if (r < 0)
                return r;
        if (*query) {
                r = url_check_chars(query + 1, strlen(query + 1), true, ret_reason);
                if (r < 0)
                        return r;
        }
        for (p = path; p < query;) {
                size_t seg = strcspn(p + 1, "/?");
                if (url_segment_is_dots(p + 1, MIN(seg, (size_t) (query - p - 1)))) {
                        *ret_reason = "a '.' or '..' segment in the path is not allowed";
                        return -EINVAL;
                }
                p += 1 + seg;
        }

        if (!ret)
                return 0;
        parts.scheme = strndup(s, scheme_len);
        parts.host = auth[0] == '[' ? strdup(v6) : strndup(auth, host_len);
        parts.path = path < query ? strndup(path, (size_t) (query - path)) : strdup("/");
        if (*query)
                parts.query = strdup(query + 1);
        if (!parts.scheme || !parts.host || !parts.path || (*query && !parts.query))
                return -ENOMEM;
        for (char *c = parts.scheme; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char) (*c - 'A' + 'a');
        if (!parts.port_explicit)
                parts.port = streq(parts.scheme, "https") ? 443 : streq(parts.scheme, "http") ? 80 : 0;
        *ret = TAKE_STRUCT(parts);
        return 0;
}

static bool url_has_junk(const char *s) {
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f)
                        return true;
        return false;
}

/* -EINVAL with the text in *ret_error, or -ENOMEM with NULL there (asprintf()
 * leaves it undefined). */
_printf_(2, 3) static int url_error(char **ret_error, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(ret_error, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *ret_error = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}

int url_check_collector(const char *url, UrlParts *ret, char **ret_error) {
        _cleanup_(url_parts_donep) UrlParts parts = { 0 };
        const char *why = NULL;
        int r;

        *ret_error = NULL;
        if (url_has_junk(url))
                return url_error(ret_error, "'url' contains a space or a control character");
        r = url_parse(url, &parts, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return url_error(ret_error, "'url' is not a valid URL: '%s' (%s)", url, why);
        if (!streq(parts.scheme, "https"))
                return url_error(ret_error,
                                 "'url' must be an https:// URL (events are only ever sent over verified TLS), not '%s'",
                                 url);
        if (ret)
                *ret = TAKE_STRUCT(parts);
        return 0;
}

int url_check_proxy(const char *proxy, UrlParts *ret, char **ret_error) {
        _cleanup_(url_parts_donep) UrlParts parts = { 0 };
        const char *why = NULL;
        int r;

        *ret_error = NULL;
        if (url_has_junk(proxy))
                return url_error(ret_error, "'proxy' contains a space or a control character");
        r = url_parse(proxy, &parts, &why);
        if (r == -ENOMEM)
                return r;
        if (r == 0) {
                if (!streq(parts.scheme, "http") && !streq(parts.scheme, "https"))
                        why = "the scheme must be http:// or https://";
                else if (!streq(parts.path, "/"))
                        why = "a proxy has no path";
                else if (parts.query)
                        why = "a proxy has no query";
                else if (!parts.port_explicit)
                        why = "the port is missing (without one, 1080 would be used)";
        }
        if (why)
                return url_error(
                        ret_error,
                        "'proxy' must be the URL of an HTTP proxy such as \"http://proxy.example:8080\", not '%s' (%s)",
                        proxy, why);
        if (ret)
                *ret = TAKE_STRUCT(parts);
        return 0;
}
