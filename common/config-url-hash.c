/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <string.h>

#include "config-url-hash.h"
#include "macro.h"
#include "sha256.h"
#include "url.h"

/* The rules (and where they are stricter than curl_url(), which checked
 * these before) are in url.h. */
int config_check_url(ConfigContext *c, const config_setting_t *group, const char *url) {
        _cleanup_free_ char *why = NULL;
        int r;

        assert(c);
        assert(group);
        assert(url);

        r = url_check_collector(url, NULL, &why);
        if (r == -EINVAL)
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(group, "url")), "%s", why);
        return r;
}

int config_check_proxy(ConfigContext *c, const config_setting_t *group, const char *proxy) {
        _cleanup_free_ char *why = NULL;
        int r;

        assert(c);
        assert(group);
        assert(proxy);

        r = url_check_proxy(proxy, NULL, &why);
        if (r == -EINVAL)
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(group, "proxy")), "%s",
                             why);
        return r;
}

int config_hash_sources(const ConfigSource *srcs, size_t n, char ret[static 65]) {
        uint8_t md[SHA256_DIGEST_SIZE];
        Sha256 h;

        assert(srcs || n == 0);

        sha256_init(&h);
        for (size_t i = 0; i < n; i++) {
                sha256_update(&h, srcs[i].path, strlen(srcs[i].path) + 1);
                sha256_update(&h, srcs[i].text, srcs[i].len);
                sha256_update(&h, "", 1);
        }
        sha256_final(&h, md);
        sha256_to_hex(md, ret);
        return 0;
}
