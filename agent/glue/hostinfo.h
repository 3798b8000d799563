/* SPDX-License-Identifier: MIT */
#pragma once

/* Who we are, for the envelope of every event. */

typedef struct HostInfo {
        char *name;       /* sanitized host name */
        char machine_id[33];
} HostInfo;

int hostinfo_read(HostInfo *h);
void hostinfo_done(HostInfo *h);
