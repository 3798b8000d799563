/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "log.h"
#include "usb-monitor.h"

struct UsbMonitor {
        sd_event *event;
        sd_device_monitor *monitor;
        UsbMonitorHandler handler;
        void *userdata;
};

UsbMonitor *usb_monitor_free(UsbMonitor *m) {
        if (!m)
                return NULL;
        if (m->monitor) {
                (void) sd_device_monitor_stop(m->monitor);
                sd_device_monitor_unref(m->monitor);
        }
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

int usb_monitor_new(sd_event *event, UsbMonitorHandler handler, void *userdata, UsbMonitor **ret) {
        _cleanup_(usb_monitor_freep) UsbMonitor *m = NULL;

        assert(event);
        assert(handler);
        assert(ret);

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->handler = handler;
        m->userdata = userdata;
        *ret = TAKE_PTR(m);
        return 0;
}

static int usb_monitor_on_uevent(sd_device_monitor *mon, sd_device *dev, void *userdata) {
        UsbMonitor *m = userdata;
        sd_device_action_t action;

        if (sd_device_get_action(dev, &action) < 0)
                return 0;
        m->handler(dev, action, false, m->userdata);
        return 0;
}

int usb_monitor_scan(UsbMonitor *m) {
        _cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
        int r;

        assert(m);

        r = sd_device_enumerator_new(&e);
        if (r < 0)
                return log_error_errno(r, "Cannot enumerate USB devices: %m");
        r = sd_device_enumerator_add_match_subsystem(e, "usb", true);
        if (r < 0)
                return log_error_errno(r, "Cannot enumerate USB devices: %m");
        /* At boot we may run before udev has seen a device; we want it anyway. */
        (void) sd_device_enumerator_allow_uninitialized(e);

        /* Sorted by syspath: a root hub comes before its devices, a device
         * before its interfaces. */
        for (sd_device *d = sd_device_enumerator_get_device_first(e); d; d = sd_device_enumerator_get_device_next(e))
                m->handler(d, SD_DEVICE_ADD, true, m->userdata);
        return 0;
}

int usb_monitor_start(UsbMonitor *m) {
        int r;

        assert(m);

        r = sd_device_monitor_new(&m->monitor);
        if (r < 0)
                return log_error_errno(r, "Cannot open the udev monitor: %m");
        /* A burst of uevents (a hub full of devices, boot) must not overflow. */
        (void) sd_device_monitor_set_receive_buffer_size(m->monitor, 128 * 1024 * 1024);
        r = sd_device_monitor_filter_add_match_subsystem_devtype(m->monitor, "usb", NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot filter the udev monitor: %m");
        /* issue 14: block devices, for the verification of read-only approvals */
        r = sd_device_monitor_filter_add_match_subsystem_devtype(m->monitor, "block", NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot filter the udev monitor: %m");
        r = sd_device_monitor_attach_event(m->monitor, m->event);
        if (r < 0)
                return log_error_errno(r, "Cannot attach the udev monitor: %m");
        r = sd_device_monitor_start(m->monitor, usb_monitor_on_uevent, m);
        if (r < 0)
                return log_error_errno(r, "Cannot start the udev monitor: %m");
        /* Blocking a device comes before any reporting or uploading work. */
        (void) sd_event_source_set_priority(sd_device_monitor_get_event_source(m->monitor), SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_device_monitor_set_description(m->monitor, "usb-monitor");

        return usb_monitor_scan(m);
}
