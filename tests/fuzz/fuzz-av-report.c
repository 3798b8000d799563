/* SPDX-License-Identifier: MIT */
/* A datagram on mamorid's detection report socket (common/av-report.c):
 * what parses is clean and bounded, and the writer gives the same report
 * back; the same bytes as a mount table for the media lookup
 * (agent/av/av-media.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "av-media.h"
#include "av-report.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        AvReport r = { 0 }, again = { 0 };
        AvMount m = { 0 };
        const char *reason = NULL;
        char *msg = NULL;
        size_t n;

        if (size > 2 * AV_REPORT_MAX)
                return 0;
        if (av_report_parse(data, size, &r, &reason) < 0) {
                if (!reason || r.engine || r.signature || r.path)
                        abort();
        } else {
                if (!av_report_engine_ok(r.engine) || !text_is_clean(r.signature, strlen(r.signature)) ||
                    strlen(r.signature) > TEXT_DEVICE_MAX || !!r.path != !!r.raw_path)
                        abort();
                if (r.raw_path && (r.raw_path[0] != '/' || strlen(r.raw_path) > AV_REPORT_PATH_MAX ||
                                   !text_is_clean(r.path, strlen(r.path))))
                        abort();
                /* The writer's message of the same report parses to the same path. */
                if (av_report_format(r.engine, r.signature, r.raw_path, &msg, &n) == 0) {
                        if (av_report_parse(msg, n, &again, &reason) < 0 || strcmp(again.engine, r.engine) != 0 ||
                            (r.raw_path && strcmp(again.raw_path, r.raw_path) != 0))
                                abort();
                        av_report_done(&again);
                        free(msg);
                }
        }
        av_report_done(&r);

        if (av_media_mount_of((const char *) data, size, "/media/user/STICK/a", &m) == 0) {
                if (!m.mount_point || m.mount_point[0] != '/')
                        abort();
                av_mount_done(&m);
        }
        return 0;
}
