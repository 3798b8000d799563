/* SPDX-License-Identifier: MIT */
/* The collector = { ... } and spool = { ... } sections of mamori.conf: where
 * and how events are sent (agent/report/uplink.c), and how much of them is
 * kept until they are (agent/report/spool.c). */
#include <assert.h>

#include "config-sections.h"
#include "config-url-hash.h"
#include "trusted-file.h"

/* The collector's files are trusted as the policy is (common/trusted-file.c):
 * root's, writable by nobody else, no link, in a directory of root's; a
 * secret is also readable by root only. agent/report/uplink.c reads them again,
 * the same way, when it uses them. */
static int config_collector_check_file(ConfigContext *c, const config_setting_t *group, const char *key,
                                       const char *path, bool secret) {
        int line = config_setting_line(config_setting_get_member(group, key));
        _cleanup_free_ char *text = NULL, *why = NULL;
        size_t len = 0;
        int r;

        if (path[0] != '/') {
                config_error(c->errors, c->file, line, "'%s' must be an absolute path, not '%s'", key, path);
                return -EINVAL;
        }
        r = trust_read_file(path, CONFIG_FILE_MAX, secret ? TRUST_SECRET : 0, &text, &len, &why);
        if (text && secret)
                explicit_bzero(text, len);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* Not trusted, or not there at all. */
                if (r != -EPERM && r != -ELOOP && r != -EINVAL && r != -EFBIG)
                        config_error(c->errors, c->file, line, "cannot read %s '%s': %s", key, path, strna(why));
                else
                        config_error(c->errors, c->file, line, "%s '%s': %s", key, path, strna(why));
                return r;
        }
        return 0;
}

static bool config_collector_pin_valid(const char *pin) {
        /* "sha256//BASE64[;sha256//BASE64...]" (curl's form), or a key file */
        const char *p = pin;
        if (pin[0] == '/')
                return true;
        while (*p) {
                size_t n;
                if (!startswith(p, "sha256//"))
                        return false;
                p += 8;
                n = strcspn(p, ";");
                if (n != 44 || strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") < n ||
                    p[43] != '=')
                        return false;
                p += n;
                if (*p == ';')
                        p++;
        }
        return p != pin;
}

/* The TLS files and the token: each trusted as the policy is, and each
 * without effect unless there is a url. */
static int config_collector_parse_files(ConfigContext *c, const config_setting_t *g, CollectorSettings *k) {
        const struct {
                const char *key;
                char **dst;
                bool secret;
        } files[] = {
                { "ca_file", &k->ca_file, false },
                { "client_cert", &k->client_cert, false },
                { "client_key", &k->client_key, true },
                { "token_file", &k->token_file, true },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                r = config_get_string(c, g, files[i].key, files[i].dst);
                if (r == -ENOMEM)
                        return r;
                if (r > 0 && config_collector_check_file(c, g, files[i].key, *files[i].dst, files[i].secret) == -ENOMEM)
                        return -ENOMEM;
                if (r > 0 && !k->url)
                        config_error(c->errors, c->file, config_setting_line(config_setting_get_member(g, files[i].key)),
                                     "'%s' is set but 'url' is not: without a url nothing is sent", files[i].key);
        }
        return 0;
}

int config_collector_parse(ConfigContext *c, const config_setting_t *g) {
        static const char *const keys[] = { "url",
                                            "ca_file",
                                            "pin",
                                            "client_cert",
                                            "client_key",
                                            "token_file",
                                            "heartbeat_interval",
                                            "timeout",
                                            "gzip",
                                            "batch_max_events",
                                            "backoff_min",
                                            "backoff_max",
                                            "proxy",
                                            NULL };
        CollectorSettings *k;
        long long n;
        int r, line;

        assert(c);
        assert(g);

        k = &c->policy->collector;
        line = config_setting_line(g);
        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
                return config_wrong_type(c, g, "collector", "a group: collector = { url = \"https://...\"; ... };");
        config_check_keys(c, g, keys);

        r = config_get_string(c, g, "url", &k->url);
        if (r == -ENOMEM)
                return r;
        if (r > 0 && config_check_url(c, g, k->url) == -ENOMEM)
                return -ENOMEM;
        r = config_collector_parse_files(c, g, k);
        if (r == -ENOMEM)
                return r;
        r = config_get_string(c, g, "pin", &k->pin);
        if (r == -ENOMEM)
                return r;
        if (r > 0 && !config_collector_pin_valid(k->pin))
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(g, "pin")),
                             "'pin' must be sha256// and the base64 SHA-256 of the collector's public key (several separated by ';'), or the path of the key file");
        else if (r > 0 && k->pin[0] == '/' && config_collector_check_file(c, g, "pin", k->pin, false) == -ENOMEM)
                return -ENOMEM;
        r = config_get_string(c, g, "proxy", &k->proxy);
        if (r == -ENOMEM)
                return r;
        if (r > 0 && config_check_proxy(c, g, k->proxy) == -ENOMEM)
                return -ENOMEM;
        if (k->client_key && !k->client_cert)
                config_error(c->errors, c->file, line, "'client_key' is set but 'client_cert' is not");

        (void) config_get_duration(c, g, "heartbeat_interval", USEC_PER_SEC, 7 * 24 * 3600 * USEC_PER_SEC, true,
                                   &k->heartbeat_interval);
        (void) config_get_duration(c, g, "timeout", USEC_PER_SEC, 600 * USEC_PER_SEC, false, &k->timeout);
        (void) config_get_duration(c, g, "backoff_min", 100 * USEC_PER_MSEC, 3600 * USEC_PER_SEC, false, &k->backoff_min);
        (void) config_get_duration(c, g, "backoff_max", 100 * USEC_PER_MSEC, 24 * 3600 * USEC_PER_SEC, false,
                                   &k->backoff_max);
        if (k->backoff_max < k->backoff_min)
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(g, "backoff_max")) ?: line,
                             "'backoff_max' must not be shorter than 'backoff_min'");
        (void) config_get_bool(c, g, "gzip", &k->gzip);
        if (config_get_int(c, g, "batch_max_events", 1, 10000, &n) > 0)
                k->batch_max_events = (unsigned) n;
        return 0;
}

int config_spool_parse(ConfigContext *c, const config_setting_t *g) {
        static const char *const keys[] = { "max_size_mb", NULL };
        long long n;

        assert(c);
        assert(g);

        if (config_setting_type(g) != CONFIG_TYPE_GROUP)
                return config_wrong_type(c, g, "spool", "a group: spool = { max_size_mb = 64; };");
        config_check_keys(c, g, keys);
        if (config_get_int(c, g, "max_size_mb", 1, 65536, &n) > 0)
                c->policy->spool.max_bytes = (uint64_t) n * 1024 * 1024;
        return 0;
}
