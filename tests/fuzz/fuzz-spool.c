/* SPDX-License-Identifier: MIT */
/* The spool record format, and recovery of a spool from damaged files: the
 * input is taken as a segment file. Properties checked:
 *  - decoding never reads out of bounds; a decoded record re-encodes to the
 *    same bytes; resync always moves forward;
 *  - spool_open() of any segment succeeds, and after its repair the spool is
 *    clean: opened again it finds no damage, and seq only goes up;
 *  - the uplink's reader (spool_open_reader()) of the same damaged segment,
 *    with the input also as its cursor and as the `committed` mark, succeeds,
 *    yields seqs in order, and leaves every byte and name of the spool as it
 *    was; mamorid pulling the input as the uplink's cursor retires nothing
 *    it has not recorded. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "log.h"
#include "macro.h"
#include "spool-record.h"
#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void scan(const uint8_t *data, size_t size) {
        size_t off = 0;
        while (off < size) {
                SpoolRecord r;
                size_t sz = 0;
                SpoolDecode d = spool_record_decode(data + off, size - off, &r, &sz);
                if (d == SPOOL_DECODE_OK) {
                        uint8_t *again;
                        if (sz > size - off || sz != spool_record_size(r.json_len, r.aux_len))
                                abort();
                        again = malloc(sz);
                        if (!again)
                                return;
                        spool_record_encode(again, &r);
                        if (memcmp(again, data + off, sz) != 0)
                                abort();
                        free(again);
                        for (size_t i = 0; i < spool_tombstone_count(&r); i++) {
                                uint64_t a, b;
                                spool_tombstone_get(&r, i, &a, &b);
                        }
                        off += sz;
                        continue;
                }
                if (d != SPOOL_DECODE_CORRUPT)
                        break;
                size_t next = spool_record_resync(data + off, size - off);
                if (next == 0 || next > size - off)
                        abort();
                off += next;
        }
}

static unsigned n_findings;

static void on_damaged(const SpoolFinding *f, void *userdata) {
        n_findings++;
}

static int render_drop(const SpoolDrop *d, uint64_t seq, uint8_t *sev, usec_t *t, char **json, size_t *len,
                       void *userdata) {
        *json = strdup("{\"kind\":\"agent.events_dropped\"}");
        *len = strlen(*json);
        *sev = 3;
        *t = 1;
        return *json ? 0 : -ENOMEM;
}

static int visit(uint64_t seq, const char *json, size_t len, void *userdata) {
        uint64_t *prev = userdata;
        if (seq <= *prev || len == 0)
                abort();
        *prev = seq;
        return 0;
}

static unsigned open_count(const char *dir, const char *uplink_cursor, uint64_t *ret_next) {
        static const SpoolCallbacks cb = { .render_drop = render_drop, .damaged = on_damaged };
        Spool *s = NULL;
        sd_event *e = NULL;
        uint64_t prev = 0;

        n_findings = 0;
        if (spool_open(dir, &(SpoolOptions){ .no_sync = true }, &s) < 0)
                abort();
        spool_set_callbacks(s, &cb, NULL);
        if (uplink_cursor && spool_set_delivered_source(s, uplink_cursor) < 0)
                abort();
        if (sd_event_new(&e) < 0 || spool_attach_event(s, e, 0) < 0)
                abort();
        (void) sd_event_run(e, 0);
        if (spool_foreach(s, visit, &prev) < 0)
                abort();
        *ret_next = spool_next_seq(s);
        if (prev >= *ret_next)
                abort();
        SpoolStats st;
        spool_get_stats(s, &st);
        if (st.acked_seq >= *ret_next)
                abort();
        /* a little traffic on top of whatever was recovered */
        if (spool_append(s, "{\"x\":1}", 7, 1, 5) < 0 || spool_commit(s) < 0)
                abort();
        SpoolBatch b;
        if (spool_read_batch(s, 2, 4096, &b) == 0) {
                (void) spool_ack(s, b.last_seq);
                spool_batch_done(&b);
        }
        spool_free(s);
        sd_event_unref(e);
        return n_findings;
}

static void put_file(const char *path, const void *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data, size) != (ssize_t) size)
                abort();
        close(fd);
}

static void put_committed(const char *dir, uint64_t seq) {
        /* "MSK1", pad, seq, crc32 of 0..15: what mamorid writes */
        uint8_t b[20] = { 0 };
        char path[512];
        spool_put_le32(b, UINT32_C(0x314b534d));
        spool_put_le64(b + 8, seq);
        spool_put_le32(b + 16, (uint32_t) crc32(0L, b, 16));
        snprintf(path, sizeof path, "%s/committed", dir);
        put_file(path, b, sizeof b);
}

/* Every name in dir and every byte under it, to see that the reader changed nothing. */
static uint32_t dir_digest(const char *dir) {
        struct dirent **names;
        uint32_t crc = 0;
        int n = scandir(dir, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                char path[512];
                uint8_t buf[4096];
                ssize_t k;
                int fd;
                crc = (uint32_t) crc32(crc, (const uint8_t *) names[i]->d_name, (unsigned) strlen(names[i]->d_name));
                snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
                fd = names[i]->d_name[0] == '.' ? -1 : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                while (fd >= 0 && (k = read(fd, buf, sizeof buf)) > 0)
                        crc = (uint32_t) crc32(crc, buf, (unsigned) k);
                if (fd >= 0)
                        close(fd);
                free(names[i]);
        }
        if (n >= 0)
                free(names);
        return crc;
}

static void read_all(const char *dir, const char *cursor) {
        static const SpoolCallbacks cb = { .render_drop = render_drop, .damaged = on_damaged };
        uint32_t before = dir_digest(dir);
        Spool *s = NULL;
        sd_event *e = NULL;
        uint64_t prev = 0;
        SpoolBatch b;

        if (spool_open_reader(dir, cursor, &(SpoolReaderOptions){ .no_sync = true }, &s) < 0)
                abort();
        spool_set_callbacks(s, &cb, NULL);
        if (sd_event_new(&e) < 0 || spool_attach_event(s, e, 0) < 0)
                abort();
        (void) sd_event_run(e, 0);
        if (spool_refresh(s) < 0 || spool_foreach(s, visit, &prev) < 0)
                abort();
        if (spool_append(s, "{}", 2, 1, 1) != -EROFS)
                abort();
        while (spool_read_batch(s, 3, 4096, &b) == 0) {
                if (b.first_seq > b.last_seq || spool_ack(s, b.last_seq) < 0)
                        abort();
                spool_batch_done(&b);
        }
        if (spool_refresh(s) != 0)
                abort();
        spool_free(s);
        sd_event_unref(e);
        if (dir_digest(dir) != before)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char dir[64] = "/tmp/mamori-fuzz-spool-XXXXXX", path[512], cursor[96];
        uint64_t next1, next2;
        struct dirent **names;
        int fd, n;

        if (size > 256 * 1024)
                return 0;
        log_set_max_level(LOG_CRIT);
        scan(data, size);

        if (!mkdtemp(dir))
                abort();
        snprintf(path, sizeof path, "%s/0000000000000001.seg", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data, size) != (ssize_t) size)
                abort();
        close(fd);

        /* The uplink reads the damaged spool before mamorid repairs it: all of
         * it committed, then the input as the mark and as its own cursor. */
        snprintf(cursor, sizeof cursor, "%s.cursor", dir);
        put_committed(dir, SPOOL_SEQ_FLOOR_MAX);
        read_all(dir, cursor);
        (void) unlink(cursor);
        snprintf(path, sizeof path, "%s/committed", dir);
        put_file(path, data, MIN(size, (size_t) 20));
        put_file(cursor, data, size);
        read_all(dir, cursor);

        (void) open_count(dir, cursor, &next1);
        /* After the repair, nothing is wrong any more. */
        if (open_count(dir, NULL, &next2) != 0)
                abort();
        if (next2 <= next1)
                abort();

        n = scandir(dir, &names, NULL, NULL);
        for (int i = 0; i < n; i++) {
                if (names[i]->d_name[0] != '.') {
                        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
                        (void) unlink(path);
                }
                free(names[i]);
        }
        if (n >= 0)
                free(names);
        (void) rmdir(dir);
        (void) unlink(cursor);
        return 0;
}
