/* SPDX-License-Identifier: MIT */
#pragma once

/* What mamorictl hears of recording and delivery beyond the status's "spool"
 * and "uplink" (reporting_status_json()): the answer to a flush. */

#include "json.h"
#include "reporting.h"

/* Asks mamori-uplink to send now (reporting_flush()) and writes the members
 * of the answer: "uplink" (whether the request went out) and "detail" (what
 * happened, or why not). r may be NULL. */
void reporting_write_flush(Reporting *r, JsonWriter *w);
