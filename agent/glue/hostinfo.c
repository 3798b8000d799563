/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <limits.h>
#include <string.h>

#include <systemd/sd-id128.h>

#include "hostinfo.h"
#include "macro.h"
#include "text.h"

int hostinfo_read(HostInfo *h) {
        assert(h);
        char name[HOST_NAME_MAX + 1] = { 0 };
        sd_id128_t id;

        if (gethostname(name, sizeof name - 1) < 0 || !name[0])
                strcpy(name, "localhost");
        free(h->name);
        h->name = text_sanitize(name, strlen(name), 256, NULL);
        if (!h->name)
                return -ENOMEM;
        if (sd_id128_get_machine(&id) >= 0)
                sd_id128_to_string(id, h->machine_id);
        else
                strcpy(h->machine_id, "00000000000000000000000000000000");
        return 0;
}

void hostinfo_done(HostInfo *h) {
        assert(h);
        free(h->name);
        h->name = NULL;
}
