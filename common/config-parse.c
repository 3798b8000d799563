/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "config-hint.h"
#include "config-parse.h"

int config_setting_line(const config_setting_t *s) {
        return s ? (int) config_setting_source_line(s) : 0;
}

int config_key_line(const config_setting_t *group, const char *key) {
        assert(group);
        assert(key);

        config_setting_t *s = config_setting_get_member(group, key);
        return config_setting_line(s ?: group);
}

static const char *config_type_name(int t) {
        switch (t) {
        case CONFIG_TYPE_GROUP:
                return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                return "an integer";
        case CONFIG_TYPE_FLOAT:
                return "a number";
        case CONFIG_TYPE_STRING:
                return "a string";
        case CONFIG_TYPE_BOOL:
                return "a boolean";
        case CONFIG_TYPE_ARRAY:
                return "an array";
        case CONFIG_TYPE_LIST:
                return "a list";
        default:
                return "something else";
        }
}

void config_check_keys(ConfigContext *c, const config_setting_t *group, const char *const *allowed) {
        assert(c);
        assert(group);
        assert(allowed);

        int n = config_setting_length(group);
        for (int i = 0; i < n; i++) {
                config_setting_t *s = config_setting_get_elem(group, (unsigned) i);
                const char *name = config_setting_name(s);
                bool ok = false;
                if (!name)
                        continue;
                for (const char *const *a = allowed; *a; a++)
                        if (streq(*a, name)) {
                                ok = true;
                                break;
                        }
                if (!ok) {
                        const char *parent = config_setting_name(group);
                        const char *near = config_hint_key(name, allowed);
                        config_error(c->errors, c->file, config_setting_line(s), "unknown key '%s'%s%s%s%s%s", name,
                                     parent ? " in " : "", parent ? parent : "", near ? ": did you mean '" : "",
                                     strempty(near), near ? "'?" : "");
                }
        }
}

int config_wrong_type(ConfigContext *c, const config_setting_t *s, const char *key, const char *want) {
        assert(c);
        assert(s);
        assert(key);
        assert(want);

        config_error(c->errors, c->file, config_setting_line(s), "'%s' must be %s, not %s", key, want,
                     config_type_name(config_setting_type(s)));
        return -EINVAL;
}

int config_get_string(ConfigContext *c, const config_setting_t *group, const char *key, char **ret) {
        assert(c);
        assert(group);
        assert(key);
        assert(ret);

        config_setting_t *s = config_setting_get_member(group, key);
        const char *v;
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return config_wrong_type(c, s, key, "a string");
        v = config_setting_get_string(s);
        if (!v) /* not for a string setting: a NULL here would read as "unset" to the caller */
                return config_wrong_type(c, s, key, "a string");
        if (free_and_strdup(ret, v) < 0)
                return -ENOMEM;
        return 1;
}

int config_get_bool(ConfigContext *c, const config_setting_t *group, const char *key, bool *ret) {
        assert(c);
        assert(group);
        assert(key);
        assert(ret);

        config_setting_t *s = config_setting_get_member(group, key);
        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return config_wrong_type(c, s, key, "true or false");
        *ret = config_setting_get_bool(s);
        return 1;
}

int config_get_int(ConfigContext *c, const config_setting_t *group, const char *key, long long min, long long max,
                   long long *ret) {
        assert(c);
        assert(group);
        assert(key);
        assert(ret);

        config_setting_t *s = config_setting_get_member(group, key);
        long long v;
        if (!s)
                return 0;
        if (config_setting_type(s) == CONFIG_TYPE_INT)
                v = config_setting_get_int(s);
        else if (config_setting_type(s) == CONFIG_TYPE_INT64)
                v = config_setting_get_int64(s);
        else
                return config_wrong_type(c, s, key, "an integer");
        if (v < min || v > max) {
                config_error(c->errors, c->file, config_setting_line(s), "'%s' must be between %lld and %lld, not %lld",
                             key, min, max, v);
                return -ERANGE;
        }
        *ret = v;
        return 1;
}


int config_get_seconds(ConfigContext *c, const config_setting_t *group, const char *key, long long min, long long max,
                       usec_t *ret) {
        long long v;
        int r;

        assert(ret);

        r = config_get_int(c, group, key, min, max, &v);
        if (r > 0)
                *ret = (usec_t) v * USEC_PER_SEC;
        return r;
}

static int config_parse_duration(const config_setting_t *s, usec_t *ret) {
        static const struct {
                const char *suffix;
                usec_t mult;
        } units[] = {
                { "ms", USEC_PER_MSEC },      { "s", USEC_PER_SEC },      { "sec", USEC_PER_SEC },
                { "min", 60 * USEC_PER_SEC }, { "m", 60 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC },
        };
        const char *t;
        char *end = NULL;
        long long n;

        if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64) {
                n = config_setting_get_int64(s);
                if (n < 0)
                        return -EINVAL;
                /* a count too large for microseconds is read as 0: the range check says so */
                *ret = (unsigned long long) n < UINT64_MAX / USEC_PER_SEC ? (usec_t) n * USEC_PER_SEC : 0;
                return 0;
        }
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return -EINVAL;
        t = config_setting_get_string(s);
        errno = 0;
        n = strtoll(t, &end, 10);
        if (errno || end == t || n < 0 || !(t[0] >= '0' && t[0] <= '9'))
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (streq(end, units[i].suffix)) {
                        if ((unsigned long long) n >= UINT64_MAX / units[i].mult)
                                return -EINVAL;
                        *ret = (usec_t) n * units[i].mult;
                        return 0;
                }
        return -EINVAL;
}

int config_get_duration(ConfigContext *c, const config_setting_t *group, const char *key, usec_t min, usec_t max,
                        bool zero_ok, usec_t *ret) {
        config_setting_t *s;
        usec_t v = 0;

        assert(c);
        assert(group);
        assert(key);
        assert(ret);

        s = config_setting_get_member(group, key);
        if (!s)
                return 0;
        if (config_parse_duration(s, &v) < 0) {
                config_error(c->errors, c->file, config_setting_line(s),
                             "'%s' must be a duration: a number of seconds, or a string such as \"30s\", \"15min\" or \"1h\"",
                             key);
                return -EINVAL;
        }
        if ((v == 0 && zero_ok) || (v >= min && v <= max)) {
                *ret = v;
                return 1;
        }
        config_error(c->errors, c->file, config_setting_line(s), "'%s' must be between %llus and %llus%s", key,
                     (unsigned long long) (min / USEC_PER_SEC), (unsigned long long) (max / USEC_PER_SEC),
                     zero_ok ? " (or 0 for never)" : "");
        return -ERANGE;
}

int config_get_policy_ref_key(ConfigContext *c, const config_setting_t *group, const char *key, char **ret) {
        int r;

        assert(key);
        assert(ret);

        r = config_get_string(c, group, key, ret);
        if (r > 0 && isempty(*ret)) {
                config_error(c->errors, c->file, config_key_line(group, key), "'%s' must not be empty", key);
                return -EINVAL;
        }
        return r;
}

int config_get_policy_ref(ConfigContext *c, const config_setting_t *group, char **ret) {
        return config_get_policy_ref_key(c, group, "policy_ref", ret);
}

bool config_path_ok(const char *p) {
        if (!p || p[0] != '/' || strlen(p) >= 4096)
                return false;
        for (const char *s = p; *s;) {
                size_t n;
                s += strspn(s, "/");
                n = strcspn(s, "/");
                if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                s += n;
        }
        return true;
}

int config_get_path(ConfigContext *c, const config_setting_t *group, const char *key, char **ret) {
        int r;

        assert(ret);

        r = config_get_string(c, group, key, ret);
        if (r > 0 && !config_path_ok(*ret)) {
                config_error(c->errors, c->file, config_key_line(group, key),
                             "'%s' must be an absolute path without '.' or '..', not '%s'", key, *ret);
                return -EINVAL;
        }
        return r;
}

static char **config_strv_free_n(char **v, size_t n) {
        for (size_t k = 0; k < n; k++)
                free(v[k]);
        free(v);
        return NULL;
}

int config_get_strv(ConfigContext *c, const config_setting_t *group, const char *key, size_t max, char ***ret,
                    size_t *ret_n) {
        config_setting_t *s;
        char **v;
        int n, t;

        assert(c);
        assert(group);
        assert(key);
        assert(ret);
        assert(ret_n);

        s = config_setting_get_member(group, key);
        if (!s)
                return 0;
        t = config_setting_type(s);
        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
                return config_wrong_type(c, s, key, "a list of strings, e.g. [ \"a\", \"b\" ]");
        n = config_setting_length(s);
        if ((size_t) n > max) {
                config_error(c->errors, c->file, config_setting_line(s), "'%s' has %d items, at most %zu are allowed",
                             key, n, max);
                return -EINVAL;
        }
        v = calloc((size_t) n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                const char *str = config_setting_get_string(e);
                if (isempty(str)) {
                        config_error(c->errors, c->file, config_setting_line(e) ?: config_setting_line(s),
                                     "'%s' must hold non-empty strings only (item %d)", key, i + 1);
                        config_strv_free_n(v, (size_t) i);
                        return -EINVAL;
                }
                v[i] = strdup(str);
                if (!v[i]) {
                        config_strv_free_n(v, (size_t) i);
                        return -ENOMEM;
                }
        }
        *ret = v;
        *ret_n = (size_t) n;
        return 1;
}
