/* SPDX-License-Identifier: MIT */
/* The lock = { ... } section of mamori.conf (docs/lock-and-antivirus.md). */
#include <assert.h>

#include "config-sections.h"

/* tty = "ACTION" or tty = { action = "ACTION"; idle_timeout = N; }: what is done
 * with an idle text-console session, which cannot be locked. */
static int config_lock_parse_tty(ConfigContext *c, const config_setting_t *lock, bool *ret_explicit_timeout) {
        static const char *const keys[] = { "action", "idle_timeout", NULL };
        config_setting_t *s = config_setting_get_member(lock, "tty");
        _cleanup_free_ char *action = NULL;
        int r, a;

        *ret_explicit_timeout = false;
        if (!s)
                return 0;
        if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                r = config_get_string(c, lock, "tty", &action);
        } else if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
                config_check_keys(c, s, keys);
                r = config_get_seconds(c, s, "idle_timeout", 1, 7 * 86400, &c->policy->lock.tty_idle_timeout);
                if (r < 0)
                        return r;
                *ret_explicit_timeout = r > 0;
                r = config_get_string(c, s, "action", &action);
                if (r == 0) {
                        config_error(c->errors, c->file, config_setting_line(s),
                                     "'tty' has no 'action': write action = \"ignore\", \"report\" or \"terminate\"");
                        return -EINVAL;
                }
        } else
                return config_wrong_type(
                        c, s, "tty",
                        "\"ignore\", \"report\", \"terminate\" or a group { action = ...; idle_timeout = ...; }");
        if (r < 0)
                return r;
        a = lock_tty_action_from_string(action);
        if (a < 0) {
                config_error(c->errors, c->file, config_setting_line(config_setting_get_member(s, "action") ?: s),
                             "unknown tty action '%s': use ignore, report or terminate", action);
                return -EINVAL;
        }
        c->policy->lock.tty = (LockTtyAction) a;
        return 1;
}

int config_lock_parse(ConfigContext *c, const config_setting_t *lock) {
        static const char *const keys[] = { "idle_timeout", "verify_timeout", "tty", "policy_ref", NULL };
        LockPolicy *l = &c->policy->lock;
        bool explicit_tty_timeout = false;
        int r, bad = 0;

        assert(c);
        assert(lock);

        if (config_setting_type(lock) != CONFIG_TYPE_GROUP)
                return config_wrong_type(c, lock, "lock", "a group: lock = { ... };");
        config_check_keys(c, lock, keys);
        bad |= config_get_seconds(c, lock, "idle_timeout", 1, 86400, &l->idle_timeout) < 0;
        bad |= config_get_seconds(c, lock, "verify_timeout", 1, 600, &l->verify_timeout) < 0;
        r = config_lock_parse_tty(c, lock, &explicit_tty_timeout);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        r = config_get_policy_ref(c, lock, &l->policy_ref);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        if (!bad && explicit_tty_timeout && l->tty_idle_timeout < l->idle_timeout) {
                config_error(c->errors, c->file, config_key_line(config_setting_get_member(lock, "tty"), "idle_timeout"),
                             "tty idle_timeout (%llu s) is shorter than lock.idle_timeout (%llu s): a tty session would be ended before a screen is locked",
                             (unsigned long long) (l->tty_idle_timeout / USEC_PER_SEC),
                             (unsigned long long) (l->idle_timeout / USEC_PER_SEC));
                bad = 1;
        }
        return bad ? -EINVAL : 0;
}
