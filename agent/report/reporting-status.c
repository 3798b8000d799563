/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdio.h>

#include "reporting-status.h"

void reporting_write_flush(Reporting *r, JsonWriter *w) {
        _cleanup_free_ char *detail = NULL;
        int q;

        assert(w);

        q = reporting_flush(r);
        json_kv_bool(w, "uplink", q >= 0);
        if (q >= 0) {
                UplinkStatus us;
                uplink_get_status(reporting_uplink(r), &us);
                if (asprintf(&detail, "delivery to %s started now (%s)", us.url, uplink_state_to_string(us.state)) < 0)
                        detail = NULL;
        }
        json_kv_string(w, "detail",
                       detail   ? detail
                       : q >= 0 ? "delivery started now"
                                : "events stay in the spool and the journal: no collector.url is configured");
}
