/* SPDX-License-Identifier: MIT */
/* common/url.c against what it replaces: curl_url() (flags 0, libcurl 7.88)
 * and config.c's checks around it. Whatever those reject, url.c must reject;
 * where both accept, scheme, host, port, path and query must agree. Only this
 * target links libcurl; libmamori-common does not. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "macro.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct CurlParts {
        char *scheme, *host, *port, *path, *query;
} CurlParts;

static void curl_parts_done(CurlParts *c) {
        curl_free(c->scheme);
        curl_free(c->host);
        curl_free(c->port);
        curl_free(c->path);
        curl_free(c->query);
}

/* curl_url() as config.c calls it, with the parts it would use. */
static bool curl_parse(const char *s, CurlParts *ret) {
        CURLU *h = curl_url();
        bool ok;

        if (!h)
                abort();
        *ret = (CurlParts){ 0 };
        ok = curl_url_set(h, CURLUPART_URL, s, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_SCHEME, &ret->scheme, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_HOST, &ret->host, 0) == CURLUE_OK && !isempty(ret->host) &&
             curl_url_get(h, CURLUPART_PATH, &ret->path, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_PORT, &ret->port, CURLU_DEFAULT_PORT) == CURLUE_OK;
        if (ok && curl_url_get(h, CURLUPART_QUERY, &ret->query, 0) != CURLUE_OK)
                ret->query = NULL;
        curl_url_cleanup(h);
        return ok;
}

static bool junk(const char *s) {
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f)
                        return true;
        return false;
}

/* check_url() of config.c before url.c */
static bool config_accepts_url(const char *s, const CurlParts *c, bool parsed) {
        return !junk(s) && parsed && strcasecmp(c->scheme, "https") == 0;
}

/* check_proxy() of config.c before url.c */
static bool config_accepts_proxy(const char *s, const CurlParts *c, bool parsed) {
        return !junk(s) && parsed && (isempty(c->path) || streq(c->path, "/")) &&
               (strcasecmp(c->scheme, "http") == 0 || strcasecmp(c->scheme, "https") == 0);
}

static bool same_host(const char *ours, const char *theirs) {
        struct in6_addr a, b;
        char x[64], y[64];
        size_t n = strlen(ours), m = strlen(theirs);

        if (ours[0] != '[')
                return streq(ours, theirs);
        if (theirs[0] != '[' || n < 2 || m < 2 || n - 2 >= sizeof(x) || m - 2 >= sizeof(y))
                return false;
        snprintf(x, sizeof(x), "%.*s", (int) (n - 2), ours + 1);
        snprintf(y, sizeof(y), "%.*s", (int) (m - 2), theirs + 1);
        return inet_pton(AF_INET6, x, &a) == 1 && inet_pton(AF_INET6, y, &b) == 1 && memcmp(&a, &b, sizeof(a)) == 0;
}

static void agree(const char *s, const UrlParts *u, const CurlParts *c) {
        if (!streq(u->scheme, c->scheme) || !same_host(u->host, c->host) || u->port != strtoul(c->port, NULL, 10) ||
            !streq(u->path, c->path) || !streq_ptr(u->query, c->query)) {
                fprintf(stderr, "'%s': url.c %s %s %u %s %s, curl %s %s %s %s %s\n", s, u->scheme, u->host, u->port,
                        u->path, strna(u->query), c->scheme, c->host, c->port, c->path, strna(c->query));
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL, *err = NULL;
        UrlParts u = { 0 };
        CurlParts c;
        const char *why = NULL;
        bool parsed;
        int r;

        if (size > URL_MAX + 16 || memchr(data, 0, size))
                return 0; /* a libconfig string has no NUL */
        s = strndup((const char *) data, size);
        if (!s)
                return 0;
        parsed = curl_parse(s, &c);

        /* The parser itself, for the schemes mamori uses. */
        r = url_parse(s, &u, &why);
        if (r != 0 && (r != -EINVAL || !why))
                abort();
        if (r == 0 && (streq(u.scheme, "http") || streq(u.scheme, "https"))) {
                if (!parsed) {
                        fprintf(stderr, "'%s': url.c accepts, curl does not\n", s);
                        abort();
                }
                agree(s, &u, &c);
        }
        url_parts_done(&u);

        /* collector.url */
        r = url_check_collector(s, &u, &err);
        if (r == 0) {
                if (!config_accepts_url(s, &c, parsed)) {
                        fprintf(stderr, "'%s': url.c accepts as collector.url, config.c did not\n", s);
                        abort();
                }
                agree(s, &u, &c);
        } else if (r != -EINVAL || !err || !startswith(err, "'url' "))
                abort();
        url_parts_done(&u);
        err = mfree(err);

        /* collector.proxy */
        r = url_check_proxy(s, &u, &err);
        if (r == 0) {
                if (!config_accepts_proxy(s, &c, parsed)) {
                        fprintf(stderr, "'%s': url.c accepts as collector.proxy, config.c did not\n", s);
                        abort();
                }
                agree(s, &u, &c);
        } else if (r != -EINVAL || !err || !startswith(err, "'proxy' "))
                abort();
        url_parts_done(&u);
        curl_parts_done(&c);
        return 0;
}
