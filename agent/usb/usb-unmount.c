/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "log.h"
#include "sysbus.h"
#include "text.h"
#include "timeutil.h"
#include "usb-unmount.h"

/* mountinfo is re-read this often while a job runs (and only then). */
#define TICK_USEC (250 * USEC_PER_MSEC)
/* A mount still there after its stop job: asked again this long after
 * (a writer between two appends held it busy for a moment). */
#define RETRY_USEC (1 * USEC_PER_SEC)
/* Bounds the read of /proc/self/mountinfo (a host with thousands of mounts
 * stays far below). */
#define MOUNTINFO_MAX (4u << 20)
/* Block devices below one USB device: a disk and its partitions. */
#define BLOCK_DEVS_MAX 64

/* A mount leaves mountinfo when it is detached, before its file system is
 * shut down (the journal flushed, the device released): that happens when
 * umount(8) returns, which is when systemd's stop job ends. So a mount is
 * done when it is gone from mountinfo and its job is gone from systemd. */
typedef struct MountJob {
        char *path, *unit;
        sd_bus_slot *slot;     /* the StopUnit call in flight */
        usec_t asked_at;       /* CLOCK_MONOTONIC of the last StopUnit */
        char *error;           /* the last call's D-Bus error name; NULL when it was taken */
        char *job;             /* the stop job's object path, while it runs */
        sd_bus_slot *job_slot; /* asking whether it still runs */
} MountJob;

struct UsbUnmount {
        SysBus *sysbus; /* not ours */
        MountJob *mounts;
        size_t n_mounts;
        dev_t *devs;
        size_t n_devs;
        MountList still; /* what was still mounted at the last look */
        bool looked;     /* mountinfo was read at least once since the start */
        sd_event_source *tick;
        usec_t started, deadline, finished_at;
        char *result; /* NULL until finished */
        UsbUnmountDone done;
        void *userdata;
};

static int usb_unmount_read_mountinfo(char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        if (fd < 0)
                return negative_errno();
        for (;;) {
                ssize_t l;
                if (len == cap) {
                        char *b;
                        if (cap >= MOUNTINFO_MAX)
                                break; /* what fits is all that is believed */
                        cap = cap ? cap * 2 : 16384;
                        b = realloc(buf, cap);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                l = read(fd, buf + len, cap - len);
                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (l == 0)
                        break;
                len += (size_t) l;
        }
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

static int usb_unmount_find_mounts(const dev_t *devs, size_t n_devs, MountList *ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = usb_unmount_read_mountinfo(&buf, &len);
        if (r < 0)
                return r;
        return mountinfo_find(buf, len, devs, n_devs, ret);
}

int usb_unmount_find(sd_device *usbdev, MountList *ret, dev_t **ret_devs, size_t *ret_n_devs) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
        _cleanup_free_ dev_t *devs = NULL;
        size_t n = 0;
        int r;

        assert(usbdev);
        assert(ret);
        assert(ret_devs);
        assert(ret_n_devs);

        *ret = (MountList){ 0 };
        r = sd_device_enumerator_new(&e);
        if (r < 0)
                return r;
        /* Only the numbers are needed: a disk udev has not finished with yet
         * (no database entry) can be mounted all the same. */
        r = sd_device_enumerator_allow_uninitialized(e);
        if (r >= 0)
                r = sd_device_enumerator_add_match_parent(e, usbdev);
        if (r >= 0)
                r = sd_device_enumerator_add_match_subsystem(e, "block", true);
        if (r < 0)
                return r;
        for (sd_device *b = sd_device_enumerator_get_device_first(e); b; b = sd_device_enumerator_get_device_next(e)) {
                dev_t d;
                if (sd_device_get_devnum(b, &d) < 0 || n >= BLOCK_DEVS_MAX)
                        continue;
                if (!devs && !(devs = calloc(BLOCK_DEVS_MAX, sizeof *devs)))
                        return -ENOMEM;
                devs[n++] = d;
        }
        if (n == 0)
                return 0; /* no block device: nothing can be mounted */
        r = usb_unmount_find_mounts(devs, n, ret);
        if (r < 0)
                return r;
        *ret_devs = TAKE_PTR(devs);
        *ret_n_devs = n;
        return (int) MIN(ret->n, (size_t) INT32_MAX);
}

UsbUnmount *usb_unmount_free(UsbUnmount *j) {
        if (!j)
                return NULL;
        for (size_t i = 0; i < j->n_mounts; i++) {
                sd_bus_slot_unref(j->mounts[i].slot);
                sd_bus_slot_unref(j->mounts[i].job_slot);
                free(j->mounts[i].job);
                free(j->mounts[i].path);
                free(j->mounts[i].unit);
                free(j->mounts[i].error);
        }
        free(j->mounts);
        free(j->devs);
        mount_list_done(&j->still);
        sd_event_source_disable_unref(j->tick);
        free(j->result);
        free(j);
        return NULL;
}

bool usb_unmount_finished(const UsbUnmount *j) {
        return j && j->result;
}

const char *usb_unmount_result(const UsbUnmount *j) {
        return j ? j->result : NULL;
}

static bool usb_unmount_still_mounted(const UsbUnmount *j, const char *path) {
        for (size_t i = 0; i < j->still.n; i++)
                if (streq(j->still.paths[i], path))
                        return true;
        return false;
}

static int usb_unmount_on_stop_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        MountJob *mj = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        mj->slot = sd_bus_slot_unref(mj->slot);
        free(mj->error);
        mj->error = NULL;
        if (e) {
                /* systemd's own error names; the message may name the path */
                mj->error = text_sanitize(e->name, strlen(e->name), 128, NULL);
                log_warning("systemd did not take the unmount of %s (%s): %s", mj->unit, e->name,
                            e->message ? e->message : "no message");
        } else {
                const char *job = NULL;
                if (sd_bus_message_read(reply, "o", &job) >= 0 && free_and_strdup(&mj->job, job) >= 0)
                        log_debug("systemd is unmounting %s (%s).", mj->unit, job);
        }
        return 0;
}

static int usb_unmount_on_job_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        MountJob *mj = userdata;

        mj->job_slot = sd_bus_slot_unref(mj->job_slot);
        /* no such object: the job has ended (umount returned) */
        if (sd_bus_message_is_method_error(reply, NULL))
                mj->job = mfree(mj->job);
        return 0;
}

static int usb_unmount_ask_job(MountJob *mj, sd_bus *bus) {
        return sd_bus_call_method_async(bus, &mj->job_slot, "org.freedesktop.systemd1", mj->job,
                                        "org.freedesktop.DBus.Properties", "Get", usb_unmount_on_job_reply, mj, "ss",
                                        "org.freedesktop.systemd1.Job", "State");
}

static int usb_unmount_ask_stop(UsbUnmount *j, MountJob *mj, sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", "StopUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", mj->unit, "replace");
        if (r >= 0)
                r = sd_bus_call_async(bus, &mj->slot, m, usb_unmount_on_stop_reply, mj, USB_UNMOUNT_TIMEOUT_USEC);
        if (r < 0)
                return r;
        mj->asked_at = now_usec(CLOCK_MONOTONIC);
        return 0;
}

static void usb_unmount_finish(UsbUnmount *j, const char *result) {
        j->result = strdup(result);
        if (!j->result)
                (void) log_oom();
        j->finished_at = now_usec(CLOCK_MONOTONIC);
        (void) sd_event_source_set_enabled(j->tick, SD_EVENT_OFF);
        for (size_t i = 0; i < j->n_mounts; i++) {
                j->mounts[i].slot = sd_bus_slot_unref(j->mounts[i].slot);
                j->mounts[i].job_slot = sd_bus_slot_unref(j->mounts[i].job_slot);
        }
        log_info("Unmounting before blocking: %s after %.1f s (%zu of %zu mounts left).", strna(j->result),
                 (double) (j->finished_at - j->started) / USEC_PER_SEC, j->still.n, j->n_mounts);
        j->done(j, j->userdata); /* may free j */
}

/* Returns true when it finished (j may be gone). */
static bool usb_unmount_step(UsbUnmount *j) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        sd_bus *bus = sysbus_get(j->sysbus);
        const char *error = NULL;
        bool all_refused = true;
        MountList l = { 0 };
        int r;

        r = usb_unmount_find_mounts(j->devs, j->n_devs, &l);
        if (r < 0) {
                log_warning_errno(r, "Cannot read /proc/self/mountinfo: %m");
                /* keep the last look; the bound still holds */
        } else {
                mount_list_done(&j->still);
                j->still = l;
                j->looked = true;
        }
        if (j->looked && j->still.n == 0) {
                bool running = false;
                for (size_t i = 0; i < j->n_mounts; i++) {
                        MountJob *mj = &j->mounts[i];
                        if (!mj->slot && !mj->job)
                                continue;
                        running = true;
                        if (mj->job && !mj->job_slot && bus && usb_unmount_ask_job(mj, bus) < 0)
                                mj->job = mfree(mj->job); /* cannot tell: mountinfo has to do */
                }
                if (!running) {
                        usb_unmount_finish(j, "unmounted");
                        return true;
                }
        }
        for (size_t i = 0; i < j->n_mounts; i++) {
                MountJob *mj = &j->mounts[i];
                if (!usb_unmount_still_mounted(j, mj->path))
                        continue;
                if (!mj->error || mj->slot)
                        all_refused = false;
                else
                        error = mj->error;
                if (mj->job && !mj->job_slot && bus && usb_unmount_ask_job(mj, bus) < 0)
                        mj->job = mfree(mj->job);
                if (mj->slot || mj->job || !mj->unit || now < mj->asked_at + RETRY_USEC || now >= j->deadline)
                        continue;
                if (!bus)
                        continue; /* at start, its Hello may still be on the way */
                r = usb_unmount_ask_stop(j, mj, bus);
                if (r < 0)
                        log_warning_errno(r, "Cannot ask systemd to unmount %s: %m", mj->unit);
        }
        if (all_refused && error) {
                /* every mount left was refused: waiting longer changes nothing */
                _cleanup_free_ char *s = NULL;
                if (asprintf(&s, "failed: %s", error) < 0)
                        s = NULL;
                usb_unmount_finish(j, s ? s : "failed");
                return true;
        }
        if (now >= j->deadline) {
                usb_unmount_finish(j, bus ? "timeout" : "failed: no system bus");
                return true;
        }
        return false;
}

static int usb_unmount_on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        UsbUnmount *j = userdata;
        if (j->result || usb_unmount_step(j))
                return 0;
        (void) sd_event_source_set_time_relative(s, TICK_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

int usb_unmount_start(sd_event *event, SysBus *sysbus, MountList *mounts, dev_t *devs, size_t n_devs,
                      UsbUnmountDone done, void *userdata, UsbUnmount **ret) {
        _cleanup_(usb_unmount_freep) UsbUnmount *j = calloc(1, sizeof *j);
        sd_bus *bus = sysbus_get(sysbus);
        int r;

        assert(event);
        assert(mounts);
        assert(devs || n_devs == 0);
        assert(done);
        assert(ret);

        if (!j) {
                free(devs);
                return -ENOMEM;
        }
        j->sysbus = sysbus;
        j->done = done;
        j->userdata = userdata;
        j->devs = devs;
        j->n_devs = n_devs;
        j->mounts = calloc(mounts->n ? mounts->n : 1, sizeof *j->mounts);
        if (!j->mounts)
                return -ENOMEM;
        j->started = now_usec(CLOCK_MONOTONIC);
        j->deadline = j->started + USB_UNMOUNT_TIMEOUT_USEC;
        for (size_t i = 0; i < mounts->n; i++) {
                MountJob *mj = &j->mounts[j->n_mounts++];
                mj->path = TAKE_PTR(mounts->paths[i]);
                r = mount_unit_name_from_path(mj->path, &mj->unit);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        mj->error = strdup("no unit name for this mount point");
                        continue;
                }
                if (!bus)
                        continue; /* asked from usb_unmount_step() once the bus is up */
                r = usb_unmount_ask_stop(j, mj, bus);
                if (r < 0)
                        log_warning_errno(r, "Cannot ask systemd to unmount %s: %m", mj->unit);
                else {
                        /* a mount point may carry a file system label: device text */
                        _cleanup_free_ char *clean = text_sanitize(mj->path, strlen(mj->path), 1024, NULL);
                        log_info("Asked systemd to unmount %s (%s) before blocking its device.", mj->unit, strna(clean));
                }
        }
        mount_list_done(mounts);
        r = sd_event_add_time_relative(event, &j->tick, CLOCK_MONOTONIC, TICK_USEC, 50 * USEC_PER_MSEC,
                                       usb_unmount_on_tick, j);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(j);
        return 0;
}

static void usb_unmount_write_path(JsonWriter *w, const char *p) {
        /* a mount point may carry a file system label: device text */
        _cleanup_free_ char *clean = text_sanitize(p, strlen(p), 1024, NULL);
        json_string(w, clean);
}

void usb_unmount_write(const UsbUnmount *j, JsonWriter *w) {
        usec_t end;

        assert(j);
        assert(w);

        end = j->result ? j->finished_at : now_usec(CLOCK_MONOTONIC);

        json_key(w, "unmount");
        json_object_begin(w);
        json_key(w, "mounts");
        json_array_begin(w);
        for (size_t i = 0; i < j->n_mounts; i++)
                usb_unmount_write_path(w, j->mounts[i].path);
        json_array_end(w);
        json_kv_string(w, "result", j->result ? j->result : "running");
        json_kv_uint(w, "duration_ms", (end - j->started) / USEC_PER_MSEC);
        if (j->still.n > 0) {
                json_key(w, "still_mounted");
                json_array_begin(w);
                for (size_t i = 0; i < j->still.n; i++)
                        usb_unmount_write_path(w, j->still.paths[i]);
                json_array_end(w);
        }
        json_object_end(w);
}

/* /sys/dev/block/M:m's target made absolute by hand ("../../devices/..." ->
 * "/sys/devices/..."), not through sd_device_new_from_devnum(): its
 * canonicalization refuses a sysfs that is not mounted at /sys (umockdev's in
 * the tests). */
int usb_unmount_block_syspath(dev_t devnum, char **ret) {
        char link[64], target[4096], base[4096] = "/sys/dev/block";
        const char *rest = target;
        ssize_t k;

        (void) snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(devnum), minor(devnum));
        k = readlink(link, target, sizeof target - 1);
        if (k < 0)
                return -errno;
        target[k] = 0;
        if (target[0] == '/') /* sysfs links are relative: not one of the kernel's */
                return -EINVAL;
        while (startswith(rest, "../")) {
                char *slash = strrchr(base, '/');
                if (!slash || slash == base)
                        return -EINVAL; /* above /sys: not sysfs */
                *slash = 0;
                rest += 3;
        }
        /* what is left names a path below /sys, not a way out of it */
        if (isempty(rest) || startswith(rest, "./") || startswith(rest, "..") || strstr(rest, "/../") ||
            strstr(rest, "/./") || endswith(rest, "/..") || endswith(rest, "/."))
                return -EINVAL;
        if (asprintf(ret, "%s/%s", base, rest) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}
