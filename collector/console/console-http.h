/* SPDX-License-Identifier: MIT */
#pragma once

/* The review console's HTTPS listener (issue 13, docs/console-api.md): a
 * libmicrohttpd daemon of its own beside the ingest listener, with its own
 * small thread pool and one Cdb (cdb.h) per thread. It serves the pages of
 * console.www_dir (regular files only, resolved beneath the directory, no
 * symlinks, a fixed MIME table, no listing) and routes /api/v1/... through
 * console_routes_auth, _events and _fleet after the checks every request
 * gets here, not in a handler: the Origin (or Sec-Fetch-Site), the body's
 * size and Content-Type, the session cookie (idle and absolute expiry), the
 * route's role and, on POST, the CSRF header. Every answer carries the
 * security headers (CSP, nosniff, Referrer-Policy, HSTS; no-store on /api). */

#include "collector-config.h"

typedef struct ConsoleServer ConsoleServer;

/* Listens on cfg->console (a reference is taken). 0 or a negative errno (logged). */
int console_server_start(CollectorConfig *cfg, ConsoleServer **ret);
/* A reloaded configuration: requests that start from now on use it. */
void console_server_set_config(ConsoleServer *s, CollectorConfig *cfg);
/* Stops listening, finishes what is in flight, frees everything. */
ConsoleServer *console_server_stop(ConsoleServer *s);

/* The TZ value for a zone name (":Asia/Tokyo"), set by collectord before
 * any thread starts so that localtime() and mktime() use the console's zone. */
int console_set_zone(const char *zone);
