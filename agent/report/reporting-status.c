/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "reporting-status.h"

void reporting_write_flush(Reporting *r, JsonWriter *w) {
        _cleanup_free_ char *detail = NULL;
        const char *why;
        int q;

        assert(w);

        q = reporting_flush(r);
        json_kv_bool(w, "uplink", q >= 0);
        if (q >= 0) {
                if (asprintf(&detail, "asked mamori-uplink to send to %s now", strna(reporting_collector_url(r))) < 0)
                        detail = NULL;
                why = detail ?: "asked mamori-uplink to send now";
        } else if (q == -ENOTCONN)
                why = "events stay in the spool and the journal: no collector.url is configured";
        else if (q == -ENOENT || q == -ECONNREFUSED)
                why = "mamori-uplink is not running; events stay in the spool until it runs";
        else if (q == -EAGAIN)
                why = "mamori-uplink does not read its control socket (busy or hung); events stay in the spool";
        else {
                if (asprintf(&detail, "cannot reach mamori-uplink: %s; events stay in the spool", strerror(-q)) < 0)
                        detail = NULL;
                why = detail ?: "cannot reach mamori-uplink; events stay in the spool";
        }
        json_kv_string(w, "detail", why);
}
