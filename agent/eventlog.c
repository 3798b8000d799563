/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "eventlog.h"
#include "macro.h"

#define SEQ_RESERVE 1024

struct EventLog {
        int dir_fd;
        int fd;
        uint64_t next_seq;
        uint64_t reserved; /* numbers below this are safe to hand out */
};

EventLog *eventlog_free(EventLog *l) {
        if (!l)
                return NULL;
        if (l->fd >= 0)
                close(l->fd);
        if (l->dir_fd >= 0)
                close(l->dir_fd);
        free(l);
        return NULL;
}

/* Writes "reserved" durably: tmp file, fsync, rename, fsync dir. */
static int seq_persist(EventLog *l, uint64_t reserved) {
        _cleanup_close_ int fd = -EBADF;
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", reserved);

        fd = openat(l->dir_fd, "seq.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        if (write(fd, buf, (size_t) n) != n || fsync(fd) < 0)
                return negative_errno();
        if (renameat(l->dir_fd, "seq.tmp", l->dir_fd, "seq") < 0)
                return negative_errno();
        (void) fsync(l->dir_fd);
        l->reserved = reserved;
        return 0;
}

static uint64_t seq_load(int dir_fd) {
        _cleanup_close_ int fd = openat(dir_fd, "seq", O_RDONLY | O_CLOEXEC);
        char buf[32] = { 0 };
        if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
                return 1;
        return strtoull(buf, NULL, 10) ?: 1;
}

int eventlog_open(const char *state_dir, EventLog **ret) {
        _cleanup_(eventlog_freep) EventLog *l = calloc(1, sizeof *l);
        int r;

        if (!l)
                return -ENOMEM;
        l->fd = l->dir_fd = -EBADF;
        (void) mkdir(state_dir, 0700);
        l->dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (l->dir_fd < 0)
                return negative_errno();
        l->fd = openat(l->dir_fd, "events.jsonl", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (l->fd < 0)
                return negative_errno();
        /* Start past everything a previous run may have handed out. */
        l->next_seq = seq_load(l->dir_fd);
        r = seq_persist(l, l->next_seq + SEQ_RESERVE);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

int eventlog_next_seq(EventLog *l, uint64_t *ret) {
        if (l->next_seq >= l->reserved) {
                int r = seq_persist(l, l->next_seq + SEQ_RESERVE);
                if (r < 0)
                        return r;
        }
        *ret = l->next_seq++;
        return 0;
}

int eventlog_append(EventLog *l, const char *json, size_t len) {
        struct iovec iov[2] = { { (void *) json, len }, { (void *) "\n", 1 } };
        ssize_t n = writev(l->fd, iov, 2);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != len + 1)
                return -EIO;
        return 0;
}
