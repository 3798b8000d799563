/* SPDX-License-Identifier: MIT */
#pragma once

/* The console's accounts and sessions (issue 13): passwords hashed with
 * yescrypt through libxcrypt's crypt_r, sessions whose cookie carries a
 * 256-bit random id of which only the SHA-256 is stored, idle and absolute
 * expiry checked here (server-side), and login throttling per account (in
 * the users table: it survives a restart and holds across collectors on
 * one PostgreSQL) and per address (in memory). Used by console-http.c,
 * api-auth.c and mamori-collectorctl user. */

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cdb.h"
#include "console-api.h"

#define CONSOLE_SESSION_ID_HEX 64   /* 256 bits as hex: the cookie's value */
#define CONSOLE_PASSWORD_MIN 10     /* bytes */
#define CONSOLE_PASSWORD_MAX 1024   /* bytes: crypt's work is bounded */
#define CONSOLE_LOGIN_FAILURES 5    /* an account is locked after this many failures in a row */
#define CONSOLE_LOGIN_LOCK_SEC 900  /* for this long */
#define CONSOLE_ADDR_FAILURES 20    /* an address is refused after this many failures ... */
#define CONSOLE_ADDR_WINDOW_SEC 900 /* ... within this window, for this long */

typedef struct ConsoleSessionLimits {
        int64_t idle_us; /* a session unused this long is gone */
        int64_t max_us;  /* and every session ends this long after its login */
} ConsoleSessionLimits;

/* [a-z0-9._-], 1..CONSOLE_USER_MAX bytes. */
bool console_user_name_valid(const char *s);
/* Length bounds, valid UTF-8, no control character. 0 or -EINVAL with why. */
int console_password_check(const char *password, const char **why);

/* A new yescrypt hash ("$y$...") of password, malloc'd. */
int console_password_hash(const char *password, char **ret);
/* Whether password matches hash (crypt_r, compared in constant time). */
bool console_password_verify(const char *password, const char *hash);

/* Accounts (mamori-collectorctl user). -EEXIST, -ENOENT, -EINVAL. */
int console_user_add(Cdb *db, const char *name, ConsoleRole role, const char *password, int64_t now_us);
/* A new password; every session of the account ends, its lock is lifted. */
int console_user_passwd(Cdb *db, const char *name, const char *password, int64_t now_us);
/* Disabling ends every session of the account. */
int console_user_set_disabled(Cdb *db, const char *name, bool disabled, int64_t now_us);
/* [{"name","role","disabled","last_login"}] by name. */
int console_user_list(Cdb *db, json_object **ret);

typedef enum ConsoleLoginResult {
        CONSOLE_LOGIN_OK,
        CONSOLE_LOGIN_BAD,       /* unknown user, wrong password, disabled: one answer for all */
        CONSOLE_LOGIN_THROTTLED, /* *retry_after_sec set */
} ConsoleLoginResult;

/* Checks the password (always running crypt, known user or not, so that
 * the time tells nothing), counts a failure, creates a session. On
 * CONSOLE_LOGIN_OK, session and id (the cookie's value) are filled. The
 * caller audits. Returns the result, or a negative errno. */
int console_login(Cdb *db, const ConsoleSessionLimits *lim, const char *user, const char *password, const char *peer,
                  int64_t now_us, ConsoleSession *session, char id[CONSOLE_SESSION_ID_HEX + 1],
                  unsigned *retry_after_sec);

/* The session of the cookie value id, valid now (idle and absolute expiry;
 * an expired one is deleted; the account must still exist and be enabled).
 * Refreshes last_seen. 0, -ENOENT (no such valid session), or an error. */
int console_session_get(Cdb *db, const ConsoleSessionLimits *lim, const char *id, int64_t now_us, ConsoleSession *ret);
/* Deletes the session of id (logout). */
int console_session_delete(Cdb *db, const char *id);

/* Constant-time comparison of a presented token with the expected one. */
bool console_token_equal(const char *presented, const char *expected);

/* Forgets the in-memory address throttle (tests). */
void console_auth_throttle_reset(void);
