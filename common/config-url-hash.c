/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "config-url-hash.h"

int config_check_url(ConfigContext *c, const config_setting_t *group, const char *url) {
        int line;
        CURLU *h;
        char *scheme = NULL, *host = NULL;
        bool ok;

        assert(c);
        assert(group);
        assert(url);

        line = config_setting_line(config_setting_get_member(group, "url"));
        for (const char *p = url; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f) {
                        config_error(c->errors, c->file, line, "'url' contains a space or a control character");
                        return -EINVAL;
                }
        h = curl_url();
        if (!h)
                return -ENOMEM;
        ok = curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK && !isempty(host);
        if (!ok)
                config_error(c->errors, c->file, line, "'url' is not a valid URL: '%s'", url);
        else if (strcasecmp(scheme, "https") != 0) {
                config_error(c->errors, c->file, line,
                             "'url' must be an https:// URL (events are only ever sent over verified TLS), not '%s'",
                             url);
                ok = false;
        }
        curl_free(scheme);
        curl_free(host);
        curl_url_cleanup(h);
        return ok ? 0 : -EINVAL;
}

int config_check_proxy(ConfigContext *c, const config_setting_t *group, const char *proxy) {
        int line;
        char *scheme = NULL, *host = NULL, *path = NULL;
        CURLU *h;
        bool ok;

        assert(c);
        assert(group);
        assert(proxy);

        line = config_setting_line(config_setting_get_member(group, "proxy"));
        for (const char *p = proxy; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f) {
                        config_error(c->errors, c->file, line, "'proxy' contains a space or a control character");
                        return -EINVAL;
                }
        h = curl_url();
        if (!h)
                return -ENOMEM;
        ok = curl_url_set(h, CURLUPART_URL, proxy, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK && !isempty(host) &&
             curl_url_get(h, CURLUPART_PATH, &path, 0) == CURLUE_OK && (isempty(path) || streq(path, "/")) &&
             (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0);
        if (!ok)
                config_error(c->errors, c->file, line,
                             "'proxy' must be the URL of an HTTP proxy such as \"http://proxy.example:8080\", not '%s'",
                             proxy);
        curl_free(scheme);
        curl_free(host);
        curl_free(path);
        curl_url_cleanup(h);
        return ok ? 0 : -EINVAL;
}

int config_hash_sources(const ConfigSource *srcs, size_t n, char ret[static 65]) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        int ok;

        assert(srcs || n == 0);

        if (!ctx)
                return -ENOMEM;
        ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        for (size_t i = 0; ok && i < n; i++) {
                ok = EVP_DigestUpdate(ctx, srcs[i].path, strlen(srcs[i].path) + 1) &&
                     EVP_DigestUpdate(ctx, srcs[i].text, srcs[i].len) && EVP_DigestUpdate(ctx, "", 1);
        }
        ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen);
        EVP_MD_CTX_free(ctx);
        if (!ok || mdlen != 32)
                return -EIO;
        for (unsigned i = 0; i < 32; i++)
                sprintf(ret + 2 * i, "%02x", md[i]);
        return 0;
}
