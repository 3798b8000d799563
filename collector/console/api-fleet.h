/* SPDX-License-Identifier: MIT */
#pragma once

/* The console's fleet slice (issue 13): /overview, /hosts, /devices,
 * /approvals, /settings/policy-hashes (api-fleet.c) and /reports/monthly
 * (api-reports.c), over the rollups of schema version 4. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cdb.h"
#include "console-api.h"
#include "macro.h"

DEFINE_POINTER_CLEANUP(json_object, json_object_put);

#define CONSOLE_FLEET_REFRESH_ROWS 20000 /* one call's default bound */
/* PostgreSQL: a row is rolled up only once it is this old, since row_ids
 * are handed out before commit and a slower transaction may commit a
 * smaller row_id after a larger one (SQLite has one writer: no lag). */
#define CONSOLE_FLEET_PG_LAG_US (30LL * 1000000)
/* A received_at further ahead of the clock than this is a clock's error,
 * not a young row. */
#define CONSOLE_FLEET_SKEW_US (60LL * 1000000)
/* /overview rolls up first when the rollups lack at most this many rows. */
#define CONSOLE_FLEET_OVERVIEW_CATCHUP 50000

/* Rolls the events after the stored high-water row_id into the rollups of
 * schema v4 (console_daily, console_monthly, console_hosts), at most
 * max_rows of them (0: CONSOLE_FLEET_REFRESH_ROWS), in one transaction, so
 * that each call's work is bounded; days are those of the process's zone
 * (collectord sets TZ to the console's). Returns the rows consumed (0:
 * caught up) or a negative errno. Safe to run from several connections. */
int64_t console_fleet_refresh(Cdb *db, int64_t now_us, size_t max_rows);
/* collectord's maintenance timer (every half second): opens *db on first
 * use (from the store's config); when rows are missing, refreshes until
 * caught up or budget_us has passed; on an
 * error *db is closed, to be opened again at the next tick. Returns the rows
 * consumed, or a negative errno. */
int64_t console_fleet_maintain(Cdb **db, const StoreConfig *cfg, int64_t budget_us);
/* How many rows the rollups lack (max(row_id) minus the high-water). */
int console_fleet_behind(Cdb *db, int64_t *ret);

/* ---- shared by api-fleet.c and api-reports.c ---- */

/* YYYYMMDD of the day that holds t, in the process's zone. */
int64_t fleet_day_of(int64_t t_us);
/* YYYYMMDD of the day n days before (n < 0: after) the day that holds t. */
int64_t fleet_day_minus(int64_t t_us, int n);
/* The current policy hashes from settings: a JSON array (never NULL on
 * success; empty when none is set). */
int fleet_policy_hashes(Cdb *db, json_object **ret);
/* Whether hash is among them; -1 when none is set. */
int fleet_policy_is_current(json_object *hashes, const char *hash);
/* An error reply for a database error r (503 busy or 500). */
int fleet_reply_db_error(ConsoleReply *rp, int r);
/* text as a JSON string, or JSON null. */
json_object *fleet_json_text(const char *s);

int fleet_report_monthly(const ConsoleRequest *rq, ConsoleReply *rp);
