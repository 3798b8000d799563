/* SPDX-License-Identifier: MIT */
/* INTERIM (h-uplink): stubs until h-spool's reader mode is merged. */
#include <errno.h>

#include "spool-reader-interim.h"

int spool_open_reader(const char *dir, const char *cursor_path, const SpoolReaderOptions *opt, Spool **ret) {
        return -EOPNOTSUPP;
}

int spool_refresh(Spool *s) {
        return -EOPNOTSUPP;
}

const char *spool_dir(const Spool *s) {
        return NULL;
}
