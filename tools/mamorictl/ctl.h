/* SPDX-License-Identifier: MIT */
#pragma once

/* mamorictl: one file per verb. Shared here: the options every verb sees,
 * the client of mamorid's control socket, JSON helpers over json-c, and a
 * table printer that measures UTF-8 text in terminal columns. */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "macro.h"

#define CTL_DEFAULT_SOCKET "/run/mamori/control"

/* Exit codes (mamorictl(8)). */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILURE 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_NOT_OK 3 /* status: mamori does not work as configured */
#define CTL_EXIT_PERMISSION 4
#define CTL_EXIT_NOT_RUNNING 5
#define CTL_EXIT_FINDINGS 6 /* status: mamori works; this PC has compliance findings */

typedef struct CtlOptions {
        const char *socket_path;
        bool json;
        bool quiet; /* no messages about the connection (check-config's optional look) */
} CtlOptions;

/* ---- the control socket ---- */

typedef struct CtlConnection CtlConnection;

/* Connects and sends one request line. On failure prints why (permission
 * denied, mamorid not running) and returns a CTL_EXIT_* code > 0. */
int ctl_connect(const CtlOptions *o, const char *request, CtlConnection **ret);
void ctl_connection_free(CtlConnection *c);
DEFINE_POINTER_CLEANUP(CtlConnection, ctl_connection_free);

/* The next reply line, parsed (timeout_ms < 0: wait forever). 1 with *ret set,
 * 0 at the end of the reply, or a CTL_EXIT_* code (negated) after printing
 * the error. With raw, the line itself is also handed out. A reply of the
 * form {"error": ...} is reported and turned into an error here. */
int ctl_read(CtlConnection *c, int timeout_ms, json_object **ret, char **raw);

/* Sends request, reads exactly one object. Returns 0 or a CTL_EXIT_* code. */
int ctl_call(const CtlOptions *o, const char *request, json_object **ret);

/* ---- json-c helpers: NULL-safe lookups ---- */

json_object *jget(json_object *o, const char *key);
const char *jstr(json_object *o, const char *key); /* NULL if absent or not a string */
long long jint(json_object *o, const char *key, long long def);
bool jbool(json_object *o, const char *key, bool def);
static inline void jputp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

/* ---- tables ---- */

/* Text from the daemon made safe for a terminal (text.h's policy; device
 * strings come escaped already, so backslashes stay as they are): what an
 * older daemon or an admin's label may still hold raw shows as an escape.
 * Newly allocated; NULL on OOM. */
char *ctl_safe_text(const char *s);

/* Columns of a terminal that text takes (UTF-8; East Asian wide = 2). */
size_t ctl_text_width(const char *s);

typedef struct CtlTable CtlTable;
CtlTable *ctl_table_new(size_t n_columns, const char *const *headers);
/* Adds a row of n_columns cells (NULL shows as "-"). Cells are copied, through ctl_safe_text(). */
int ctl_table_add_row(CtlTable *t, const char *const *cells);
/* Caps a column's width; longer cells end in "…". 0 = no cap. */
void ctl_table_set_max_width(CtlTable *t, size_t column, size_t width);
void ctl_table_print(CtlTable *t, bool legend);
void ctl_table_free(CtlTable *t);
DEFINE_POINTER_CLEANUP(CtlTable, ctl_table_free);

/* ---- verbs ---- */

int verb_status(const CtlOptions *o, int argc, char **argv);
int verb_devices(const CtlOptions *o, int argc, char **argv);
int verb_allow(const CtlOptions *o, int argc, char **argv);
int verb_check_config(const CtlOptions *o, int argc, char **argv);
int verb_events(const CtlOptions *o, int argc, char **argv);
int verb_flush(const CtlOptions *o, int argc, char **argv);
int verb_reload(const CtlOptions *o, int argc, char **argv);
int verb_dead_letter(const CtlOptions *o, int argc, char **argv);
int verb_inspect(const CtlOptions *o, int argc, char **argv);
int verb_quarantine(const CtlOptions *o, int argc, char **argv);
/* check-config: the collector's (and proxy's) host against quarantine.allow
 * (ctl-quarantine.c). */
typedef struct Policy Policy;
void ctl_check_quarantine(const Policy *p, FILE *f);
/* Prints a refused configuration's errors ("refused" of status and reload),
 * one "indent file:line: message" line each. */
void ctl_print_refused(FILE *f, json_object *refused, const char *indent);
