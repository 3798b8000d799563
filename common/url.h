/* SPDX-License-Identifier: MIT */
#pragma once

/* The URLs of mamori.conf (collector.url, collector.proxy), parsed without
 * libcurl: libmamori-common is linked by programs that must not link it (the
 * root daemon of issue 11). url_check_collector() and url_check_proxy() take
 * the decisions config.c took with curl_url() (libcurl 7.88, flags 0) and its
 * own checks, in the same words; tests/fuzz/fuzz-url.c holds them to that:
 * whatever those reject is rejected here, and where both accept, scheme,
 * host, port, path and query agree.
 *
 * Stricter than curl on purpose, because each of these is ambiguous (curl,
 * the proxy, the collector or an admin may read it differently) or is never
 * right in mamori.conf. Each is a config error now:
 *  - a user name or password ("https://user:pw@host/"): curl would send it
 *    as Basic auth (or proxy auth), and mamori.conf is world-readable; the
 *    collector's secret is token_file, and an authenticating proxy was never
 *    supported in the docs;
 *  - anything but exactly two slashes after the scheme (curl takes 1 to 3);
 *  - a fragment ('#'), an empty port ("host:"), port 0, a port with leading
 *    zeros, more than 5 digits;
 *  - any byte outside ASCII: an IDN host must be written in punycode
 *    ("xn--..."), a path percent-encoded;
 *  - percent-encoding in the host (curl decodes it: "c%2eexample");
 *  - a host that is not letters, digits, '-', '_' and dots in labels of 1 to
 *    63 bytes (no empty label, no trailing dot, no '-' at either end of a
 *    label), at most 253 bytes; curl takes most printable bytes;
 *  - a numeric host that is not a plain dotted quad: curl reads "127.1",
 *    "0x7f.0.0.1", "0177.0.0.1" and "2130706433" as 127.0.0.1; a host whose
 *    last label is a number (or 0x...) must be a.b.c.d, each 0..255 without
 *    leading zeros;
 *  - an IPv6 zone ("[fe80::1%25eth0]"); an IPv6 literal only in brackets, and
 *    the host given back is inet_ntop()'s form of it (as curl does when that
 *    is shorter);
 *  - "." or ".." segments in the path (curl removes them; also "%2e" forms),
 *    bytes in the path or query outside RFC 3986 (pchar, '/', '?'), a '%'
 *    not followed by two hex digits;
 *  - more than 4096 bytes;
 *  - collector.proxy: a query, and no port: curl uses 1080 for an http://
 *    proxy without one, which is never what "http://proxy.example" meant.
 * Differences in wording only: a scheme libcurl does not know ("foo://")
 * gets the "must be an https:// URL" error rather than "not a valid URL";
 * a URL with a refused part is "not a valid URL" whatever its scheme
 * ("http://user@host/" was "must be an https:// URL").
 * The "not a valid URL" and the proxy's error add the reason in parentheses
 * after config.c's text. */

#include <stdbool.h>
#include <stdint.h>

#define URL_MAX 4096

typedef struct UrlParts {
        char *scheme;  /* lower case */
        char *host;    /* as written; an IPv6 literal in brackets, as inet_ntop() writes it */
        uint16_t port; /* the URL's, or the scheme's (https 443, http 80, otherwise 0) */
        bool port_explicit;
        char *path;  /* "/" when the URL has none */
        char *query; /* without the '?'; NULL when there is no '?' */
} UrlParts;

/* Parses an absolute URL "scheme://host[:port][/path][?query]" of any
 * scheme. 0, -EINVAL with *ret_reason (a static text) set, or -ENOMEM.
 * ret may be NULL. */
int url_parse(const char *s, UrlParts *ret, const char **ret_reason);
void url_parts_done(UrlParts *p);

/* collector.url: https:// only. 0, or -EINVAL with *ret_error set to the
 * config error (to free; NULL otherwise), or -ENOMEM. ret may be NULL. */
int url_check_collector(const char *url, UrlParts *ret, char **ret_error);
/* collector.proxy: http:// or https://, a host and a port, no path but "/". */
int url_check_proxy(const char *proxy, UrlParts *ret, char **ret_error);
