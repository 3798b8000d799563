/* SPDX-License-Identifier: MIT */
/* /proc/self/mountinfo (agent/usb/mountinfo.c): the mounts of a few block
 * devices, and systemd's unit name of each mount point found. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "mountinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const dev_t devs[] = { makedev(8, 16), makedev(8, 17), makedev(8, 18), makedev(259, 1) };
        MountList l;

        if (size > 1024 * 1024)
                return 0;
        if (mountinfo_find((const char *) data, size, devs, 4, &l) < 0)
                return 0;
        if (l.n > MOUNTINFO_MOUNTS_MAX)
                abort();
        for (size_t i = 0; i < l.n; i++) {
                char *unit = NULL;
                int r;
                /* absolute, no ".." component (an escaped tab or newline is the
                 * kernel's own and stays: the unit name escapes it) */
                if (l.paths[i][0] != '/' || strstr(l.paths[i], "/../"))
                        abort();
                r = mount_unit_name_from_path(l.paths[i], &unit);
                if (r == 0 && (strlen(unit) >= 256 || strchr(unit, '/') || !strstr(unit, ".mount")))
                        abort();
                if (r < 0 && r != -ENAMETOOLONG)
                        abort();
                free(unit);
        }
        mount_list_done(&l);
        return 0;
}
