/* SPDX-License-Identifier: MIT */
#pragma once

/* One line of a batch -> a StoreEvent, or the reason it is not one (issue 12
 * item 2). PURE: bytes in, a result out; no I/O, no logging. The line is
 * hostile: every field is checked for type, form and bound, every string
 * for valid UTF-8 (json-c's validating tokener) and for an embedded NUL. */

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

typedef struct json_object json_object;

#define EVENT_CHECK_REASON_MAX 128
#define EVENT_CHECK_DEPTH 16 /* nesting of the line's JSON */

/* device_identity: 5 keys and short values, or optical's one of up to 256 bytes */
#define EVENT_CHECK_IDENTITY_MAX 320

typedef struct CheckedEvent {
        StoreEvent ev;       /* its strings point into root, id, machine_id */
        json_object *root;   /* owned: json_object_put() by event_check_done() */
        char id[37];         /* lower-cased */
        char machine_id[33]; /* lower-cased */
        /* a device outside USB (device.* events): its identity as
         * "key=value key=value" in device-bus.c's key order (docs/events.md 4.5) */
        char device_identity[EVENT_CHECK_IDENTITY_MAX];
} CheckedEvent;

typedef enum EventCheckResult {
        EVENT_CHECK_OK = 0,
        EVENT_CHECK_NOT_JSON = 1, /* not a JSON object at all */
        EVENT_CHECK_INVALID = 2,  /* a JSON object, but not a valid mamori event */
} EventCheckResult;

/* Checks line (len bytes, no newline; need not be NUL-terminated).
 * EVENT_CHECK_OK fills *ret (release it with event_check_done(); ev.json
 * points at line, which must outlive it); otherwise reason holds one line
 * for people and, when the line named a valid host.machine_id, ret->machine_id
 * holds it (else it is empty). -ENOMEM when memory ran out. */
int event_check(const char *line, size_t len, CheckedEvent *ret, char reason[static EVENT_CHECK_REASON_MAX]);
void event_check_done(CheckedEvent *c);

/* Forms of the envelope's fields, for the identity check and the tests. */
bool event_check_uuid(const char *s);
bool event_check_machine_id(const char *s);
bool event_check_kind(const char *s);
bool event_check_severity(const char *s);
bool event_check_utf8(const char *s, size_t len);
