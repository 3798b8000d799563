/* SPDX-License-Identifier: MIT */
#pragma once

/* TEMPORARY, dropped when branch h-spool is merged: the prototypes of
 * DESIGN-11.md ("Acks") that spool.h will have, so that reporting.c codes
 * against them now. */

#include "spool.h"

int spool_set_delivered_source(Spool *s, const char *cursor_path);
int spool_pull_delivered(Spool *s);
