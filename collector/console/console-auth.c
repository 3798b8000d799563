/* SPDX-License-Identifier: MIT */
/* console-auth.h: accounts, passwords, sessions, login throttling. */

#include "console-auth.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "macro.h"
#include "sha256.h"
#include "text.h"

#define USEC 1000000LL
#define LAST_SEEN_GRANULARITY_US (10 * USEC) /* last_seen is written at most this often */
#define STRIKES 1024
#define STRIKE_PROBE 8

bool console_user_name_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > CONSOLE_USER_MAX)
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int console_password_check(const char *password, const char **why) {
        size_t n = password ? strlen(password) : 0;
        const char *w = NULL;
        if (n < CONSOLE_PASSWORD_MIN)
                w = "shorter than 10 bytes";
        else if (n > CONSOLE_PASSWORD_MAX)
                w = "longer than 1024 bytes";
        for (size_t i = 0; !w && i < n;) {
                const unsigned char *u = (const unsigned char *) password + i;
                size_t l = utf8_sequence_len(u, n - i);
                if (l == 0)
                        w = "not valid UTF-8";
                else if (*u < 0x20 || *u == 0x7f)
                        w = "holds a control character";
                i += l ? l : 1;
        }
        if (why)
                *why = w;
        return w ? -EINVAL : 0;
}

static int random_bytes(void *buf, size_t len) {
        size_t done = 0;
        while (done < len) {
                ssize_t n = getrandom((char *) buf + done, len - done, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) n;
        }
        return 0;
}

static void hex(const uint8_t *b, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[b[i] >> 4];
                out[2 * i + 1] = digits[b[i] & 15];
        }
        out[2 * n] = 0;
}

int console_password_hash(const char *password, char **ret) {
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        uint8_t rnd[32];
        int r;

        if (console_password_check(password, NULL) < 0)
                return -EINVAL;
        r = random_bytes(rnd, sizeof rnd);
        if (r < 0)
                return r;
        /* count 0: libxcrypt's default cost for yescrypt */
        if (!crypt_gensalt_rn("$y$", 0, (const char *) rnd, sizeof rnd, salt, sizeof salt))
                return errno > 0 ? -errno : -EINVAL;
        struct crypt_data *cd = calloc(1, sizeof *cd);
        if (!cd)
                return -ENOMEM;
        const char *h = crypt_r(password, salt, cd);
        if (!h || h[0] == '*') {
                free(cd);
                return -EINVAL;
        }
        *ret = strdup(h);
        explicit_bzero(cd, sizeof *cd);
        free(cd);
        return *ret ? 0 : -ENOMEM;
}

bool console_token_equal(const char *presented, const char *expected) {
        size_t a = presented ? strlen(presented) : 0, b = strlen(expected);
        unsigned char d = a != b;
        for (size_t i = 0; i < b; i++)
                d |= (unsigned char) (expected[i] ^ (i < a ? presented[i] : 0));
        return d == 0;
}

bool console_password_verify(const char *password, const char *hash) {
        if (!password || !hash || strncmp(hash, "$y$", 3) != 0 || strlen(password) > CONSOLE_PASSWORD_MAX)
                return false;
        struct crypt_data *cd = calloc(1, sizeof *cd);
        if (!cd)
                return false;
        const char *h = crypt_r(password, hash, cd);
        bool ok = h && h[0] != '*' && console_token_equal(h, hash);
        explicit_bzero(cd, sizeof *cd);
        free(cd);
        return ok;
}

/* A hash to check against when the user is unknown: the answer takes as
 * long as for a known one. Made once. */
static char dummy_hash[CRYPT_OUTPUT_SIZE];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_make(void) {
        _cleanup_free_ char *h = NULL;
        if (console_password_hash("not a password of anyone", &h) >= 0)
                snprintf(dummy_hash, sizeof dummy_hash, "%s", h);
}

/* ---- accounts ---- */

int console_user_add(Cdb *db, const char *name, ConsoleRole role, const char *password, int64_t now_us) {
        _cleanup_free_ char *hash = NULL;
        int r;
        if (!console_user_name_valid(name) || role == CONSOLE_ROLE_NONE)
                return -EINVAL;
        r = console_password_hash(password, &hash);
        if (r < 0)
                return r;
        CdbValue p[] = { cdb_text(name), cdb_text(console_role_to_string(role)), cdb_text(hash), cdb_int(now_us) };
        int64_t n = cdb_exec(db,
                             "INSERT INTO users (name, role, password_hash, created_at, updated_at) "
                             "VALUES (?1, ?2, ?3, ?4, ?4)",
                             p, ELEMENTSOF(p), NULL, NULL);
        return n < 0 ? (int) n : 0;
}

int console_user_passwd(Cdb *db, const char *name, const char *password, int64_t now_us) {
        _cleanup_free_ char *hash = NULL;
        int r;
        if (!console_user_name_valid(name))
                return -EINVAL;
        r = console_password_hash(password, &hash);
        if (r < 0)
                return r;
        CdbValue p[] = { cdb_text(name), cdb_text(hash), cdb_int(now_us) };
        r = cdb_begin(db);
        if (r < 0)
                return r;
        int64_t n = cdb_exec(db,
                             "UPDATE users SET password_hash = ?2, updated_at = ?3, failed_logins = 0, "
                             "locked_until = 0 WHERE name = ?1",
                             p, ELEMENTSOF(p), NULL, NULL);
        if (n == 0)
                n = -ENOENT;
        if (n >= 0)
                n = cdb_exec(db, "DELETE FROM sessions WHERE user_name = ?1", p, 1, NULL, NULL);
        return cdb_end(db, n < 0 ? (int) n : 0);
}

int console_user_set_disabled(Cdb *db, const char *name, bool disabled, int64_t now_us) {
        int r;
        if (!console_user_name_valid(name))
                return -EINVAL;
        CdbValue p[] = { cdb_text(name), cdb_int(disabled), cdb_int(now_us) };
        r = cdb_begin(db);
        if (r < 0)
                return r;
        int64_t n = cdb_exec(db,
                             cdb_sql(db, "UPDATE users SET disabled = ?2, updated_at = ?3 WHERE name = ?1",
                                     "UPDATE users SET disabled = CAST(?2 AS BIGINT), updated_at = CAST(?3 AS "
                                     "BIGINT) WHERE name = ?1"),
                             p, ELEMENTSOF(p), NULL, NULL);
        if (n == 0)
                n = -ENOENT;
        if (n >= 0 && disabled)
                n = cdb_exec(db, "DELETE FROM sessions WHERE user_name = ?1", p, 1, NULL, NULL);
        if (n >= 0 && !disabled)
                n = cdb_exec(db, "UPDATE users SET failed_logins = 0, locked_until = 0 WHERE name = ?1", p, 1, NULL,
                             NULL);
        return cdb_end(db, n < 0 ? (int) n : 0);
}

static int list_row(const CdbRow *r, void *userdata) {
        json_object *a = userdata, *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "name", json_object_new_string(cdb_row_text(r, 0) ?: ""));
        json_object_object_add(o, "role", json_object_new_string(cdb_row_text(r, 1) ?: ""));
        json_object_object_add(o, "disabled", json_object_new_boolean(cdb_row_int(r, 2) != 0));
        json_object_object_add(o, "last_login", console_json_time(cdb_row_int(r, 3)));
        return json_object_array_add(a, o) < 0 ? -ENOMEM : 0;
}

int console_user_list(Cdb *db, json_object **ret) {
        json_object *a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        int64_t n = cdb_exec(db, "SELECT name, role, disabled, last_login FROM users ORDER BY name", NULL, 0, list_row,
                             a);
        if (n < 0) {
                json_object_put(a);
                return (int) n;
        }
        *ret = a;
        return 0;
}

/* ---- throttling in memory: addresses, and names nobody has ---- */

typedef struct Strike {
        char key[CONSOLE_USER_MAX + 8];
        unsigned count;
        int64_t first_us, last_us, until_us;
} Strike;

/* Two tables: a flood of names never pushes an address out, nor the reverse. */
typedef struct StrikeTable {
        Strike slots[STRIKES];
} StrikeTable;

static StrikeTable addr_strikes, name_strikes;
static pthread_mutex_t strikes_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t strike_hash(const char *key) {
        size_t h = 5381;
        for (const unsigned char *p = (const unsigned char *) key; *p; p++)
                h = h * 33 + *p;
        return h;
}

/* The slot of key; a new one replaces the least recently used of its probe
 * range, a locked one only when every one there is locked. */
static Strike *strike_find(StrikeTable *t, const char *key, int64_t now_us, bool create) {
        size_t h = strike_hash(key);
        Strike *victim = NULL;
        int64_t victim_score = 0;
        for (size_t i = 0; i < STRIKE_PROBE; i++) {
                Strike *s = &t->slots[(h + i) % STRIKES];
                if (s->key[0] && streq(s->key, key))
                        return s;
                int64_t score = !s->key[0] ? INT64_MIN : s->until_us > now_us ? INT64_MAX / 2 + s->last_us : s->last_us;
                if (!victim || score < victim_score) {
                        victim = s;
                        victim_score = score;
                }
        }
        if (!create)
                return NULL;
        *victim = (Strike){ .first_us = now_us };
        snprintf(victim->key, sizeof victim->key, "%s", key);
        return victim;
}

/* Seconds to wait, or 0. */
static unsigned strike_blocked(StrikeTable *t, const char *key, int64_t now_us) {
        unsigned wait = 0;
        pthread_mutex_lock(&strikes_lock);
        Strike *s = strike_find(t, key, now_us, false);
        if (s && s->until_us > now_us)
                wait = (unsigned) ((s->until_us - now_us + USEC - 1) / USEC);
        pthread_mutex_unlock(&strikes_lock);
        return wait;
}

static void strike_add(StrikeTable *t, const char *key, unsigned max, int64_t now_us) {
        pthread_mutex_lock(&strikes_lock);
        Strike *s = strike_find(t, key, now_us, true);
        if (now_us - s->first_us > CONSOLE_ADDR_WINDOW_SEC * USEC && s->until_us <= now_us) {
                s->count = 0;
                s->first_us = now_us;
        }
        s->last_us = now_us;
        if (++s->count >= max) {
                s->until_us = now_us + CONSOLE_LOGIN_LOCK_SEC * USEC;
                s->count = 0;
                s->first_us = now_us;
        }
        pthread_mutex_unlock(&strikes_lock);
}

void console_auth_throttle_reset(void) {
        pthread_mutex_lock(&strikes_lock);
        memset(&addr_strikes, 0, sizeof addr_strikes);
        memset(&name_strikes, 0, sizeof name_strikes);
        pthread_mutex_unlock(&strikes_lock);
}

/* The key of an address: an IPv6 one by its /64, which one host usually
 * holds whole (counting its every address apart would count nothing). */
static void addr_key(const char *peer, char *buf, size_t size) {
        struct in6_addr a;
        char text[INET6_ADDRSTRLEN];
        if (peer && inet_pton(AF_INET6, peer, &a) == 1 && !IN6_IS_ADDR_V4MAPPED(&a)) {
                memset(a.s6_addr + 8, 0, 8);
                if (inet_ntop(AF_INET6, &a, text, sizeof text)) {
                        snprintf(buf, size, "%s/64", text);
                        return;
                }
        }
        snprintf(buf, size, "%s", peer ? peer : "");
}

/* ---- sessions ---- */

static void id_hash(const char *id, char out[2 * SHA256_DIGEST_SIZE + 1]) {
        uint8_t d[SHA256_DIGEST_SIZE];
        sha256(id, strlen(id), d);
        sha256_to_hex(d, out);
}

typedef struct UserRow {
        bool found;
        char role[16];
        char hash[CRYPT_OUTPUT_SIZE];
        bool disabled;
        int64_t locked_until;
} UserRow;

static int user_row(const CdbRow *r, void *userdata) {
        UserRow *u = userdata;
        u->found = true;
        snprintf(u->role, sizeof u->role, "%s", cdb_row_text(r, 0) ?: "");
        snprintf(u->hash, sizeof u->hash, "%s", cdb_row_text(r, 1) ?: "");
        u->disabled = cdb_row_int(r, 2) != 0;
        u->locked_until = cdb_row_int(r, 3);
        return 0;
}

static int session_create(Cdb *db, const ConsoleSessionLimits *lim, const char *user, const char *peer, int64_t now_us,
                          char id[CONSOLE_SESSION_ID_HEX + 1], char csrf[65]) {
        uint8_t rnd[64];
        char h[2 * SHA256_DIGEST_SIZE + 1];
        int r = random_bytes(rnd, sizeof rnd);
        if (r < 0)
                return r;
        hex(rnd, 32, id);
        hex(rnd + 32, 32, csrf);
        explicit_bzero(rnd, sizeof rnd);
        id_hash(id, h);
        CdbValue p[] = {
                cdb_text(h),         cdb_text(user), cdb_text(csrf), cdb_int(now_us), cdb_int(now_us + lim->max_us),
                cdb_text(peer ?: "")
        };
        int64_t n = cdb_exec(db,
                             "INSERT INTO sessions (id_hash, user_name, csrf, created_at, last_seen, expires_at, peer) "
                             "VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
                             p, ELEMENTSOF(p), NULL, NULL);
        return n < 0 ? (int) n : 0;
}

int console_login(Cdb *db, const ConsoleSessionLimits *lim, const char *user, const char *password, const char *peer,
                  int64_t now_us, ConsoleSession *session, char id[CONSOLE_SESSION_ID_HEX + 1],
                  unsigned *retry_after_sec) {
        char akey[80], ukey[CONSOLE_USER_MAX + 8];
        UserRow u = { 0 };
        bool name_ok = console_user_name_valid(user);
        unsigned wait;
        int64_t n;

        (void) pthread_once(&dummy_once, dummy_make);
        addr_key(peer, akey, sizeof akey);
        snprintf(ukey, sizeof ukey, "%s", name_ok ? user : "");
        wait = strike_blocked(&addr_strikes, akey, now_us);
        if (wait > 0) {
                *retry_after_sec = wait;
                return CONSOLE_LOGIN_THROTTLED;
        }
        if (name_ok) {
                CdbValue p[] = { cdb_text(user) };
                n = cdb_exec(db, "SELECT role, password_hash, disabled, locked_until FROM users WHERE name = ?1", p, 1,
                             user_row, &u);
                if (n < 0)
                        return (int) n;
        }
        /* a locked account and a name nobody has answer alike */
        if (u.found && u.locked_until > now_us)
                wait = (unsigned) ((u.locked_until - now_us + USEC - 1) / USEC);
        else if (!u.found)
                wait = strike_blocked(&name_strikes, ukey, now_us);
        if (wait > 0) {
                *retry_after_sec = wait;
                return CONSOLE_LOGIN_THROTTLED;
        }

        /* a name that cannot be one tells nothing by its speed: no crypt for it */
        bool ok = name_ok && console_password_verify(password, u.found ? u.hash : dummy_hash) && u.found &&
                  !u.disabled && console_role_from_string(u.role) != CONSOLE_ROLE_NONE;
        if (!ok) {
                strike_add(&addr_strikes, akey, CONSOLE_ADDR_FAILURES, now_us);
                if (!u.found) {
                        if (name_ok)
                                strike_add(&name_strikes, ukey, CONSOLE_LOGIN_FAILURES, now_us);
                        return CONSOLE_LOGIN_BAD;
                }
                CdbValue p[] = { cdb_text(user), cdb_int(CONSOLE_LOGIN_FAILURES),
                                 cdb_int(now_us + CONSOLE_LOGIN_LOCK_SEC * USEC) };
                n = cdb_exec(db,
                             "UPDATE users SET "
                             "locked_until = CASE WHEN failed_logins + 1 >= CAST(?2 AS BIGINT) "
                             "THEN CAST(?3 AS BIGINT) ELSE locked_until END, "
                             "failed_logins = CASE WHEN failed_logins + 1 >= CAST(?2 AS BIGINT) "
                             "THEN 0 ELSE failed_logins + 1 END WHERE name = ?1",
                             p, ELEMENTSOF(p), NULL, NULL);
                return n < 0 ? (int) n : CONSOLE_LOGIN_BAD;
        }

        int r = cdb_begin(db);
        if (r < 0)
                return r;
        CdbValue p[] = { cdb_text(user), cdb_int(now_us) };
        n = cdb_exec(db,
                     cdb_sql(db, "UPDATE users SET failed_logins = 0, locked_until = 0, last_login = ?2 WHERE name = ?1",
                             "UPDATE users SET failed_logins = 0, locked_until = 0, last_login = CAST(?2 AS BIGINT) "
                             "WHERE name = ?1"),
                     p, ELEMENTSOF(p), NULL, NULL);
        /* the sessions gone stale are swept at each login: the table stays small */
        if (n >= 0) {
                CdbValue q[] = { cdb_int(now_us), cdb_int(now_us - lim->idle_us) };
                n = cdb_exec(db, "DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen < ?2", q, ELEMENTSOF(q),
                             NULL, NULL);
        }
        if (n >= 0)
                n = session_create(db, lim, user, peer, now_us, id, session->csrf);
        r = cdb_end(db, n < 0 ? (int) n : 0);
        if (r < 0) {
                explicit_bzero(id, CONSOLE_SESSION_ID_HEX + 1);
                return r;
        }
        snprintf(session->user, sizeof session->user, "%s", user);
        session->role = console_role_from_string(u.role);
        return CONSOLE_LOGIN_OK;
}

typedef struct SessionRow {
        bool found;
        ConsoleSession s;
        int64_t created, last_seen, expires;
        bool disabled;
} SessionRow;

static int session_row(const CdbRow *r, void *userdata) {
        SessionRow *sr = userdata;
        sr->found = true;
        snprintf(sr->s.user, sizeof sr->s.user, "%s", cdb_row_text(r, 0) ?: "");
        snprintf(sr->s.csrf, sizeof sr->s.csrf, "%s", cdb_row_text(r, 1) ?: "");
        sr->created = cdb_row_int(r, 2);
        sr->last_seen = cdb_row_int(r, 3);
        sr->expires = cdb_row_int(r, 4);
        sr->s.role = console_role_from_string(cdb_row_text(r, 5));
        sr->disabled = cdb_row_int(r, 6) != 0;
        return 0;
}

static bool id_valid(const char *id) {
        return id && strlen(id) == CONSOLE_SESSION_ID_HEX && strspn(id, "0123456789abcdef") == CONSOLE_SESSION_ID_HEX;
}

int console_session_get(Cdb *db, const ConsoleSessionLimits *lim, const char *id, int64_t now_us, ConsoleSession *ret) {
        char h[2 * SHA256_DIGEST_SIZE + 1];
        SessionRow sr = { 0 };
        int64_t n;

        if (!id_valid(id))
                return -ENOENT;
        id_hash(id, h);
        CdbValue p[] = { cdb_text(h) };
        n = cdb_exec(db,
                     "SELECT s.user_name, s.csrf, s.created_at, s.last_seen, s.expires_at, u.role, u.disabled "
                     "FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.id_hash = ?1",
                     p, 1, session_row, &sr);
        if (n < 0)
                return (int) n;
        if (!sr.found)
                return -ENOENT;
        if (now_us - sr.last_seen > lim->idle_us || now_us >= sr.expires || now_us - sr.created >= lim->max_us ||
            sr.disabled || sr.s.role == CONSOLE_ROLE_NONE) {
                n = cdb_exec(db, "DELETE FROM sessions WHERE id_hash = ?1", p, 1, NULL, NULL);
                return n < 0 ? (int) n : -ENOENT;
        }
        if (now_us - sr.last_seen >= LAST_SEEN_GRANULARITY_US) {
                CdbValue q[] = { cdb_text(h), cdb_int(now_us) };
                n = cdb_exec(db,
                             cdb_sql(db, "UPDATE sessions SET last_seen = ?2 WHERE id_hash = ?1",
                                     "UPDATE sessions SET last_seen = CAST(?2 AS BIGINT) WHERE id_hash = ?1"),
                             q, ELEMENTSOF(q), NULL, NULL);
                /* a database busy with the feed: the refresh waits for the next request */
                if (n < 0 && n != -EBUSY)
                        return (int) n;
        }
        *ret = sr.s;
        return 0;
}

int console_session_delete(Cdb *db, const char *id) {
        char h[2 * SHA256_DIGEST_SIZE + 1];
        if (!id_valid(id))
                return -ENOENT;
        id_hash(id, h);
        CdbValue p[] = { cdb_text(h) };
        int64_t n = cdb_exec(db, "DELETE FROM sessions WHERE id_hash = ?1", p, 1, NULL, NULL);
        return n < 0 ? (int) n : n == 0 ? -ENOENT : 0;
}
