# SPDX-License-Identifier: MIT
"""USB enforcement when the kernel says no (agent/usb-enforce.c): a block
whose write to `authorized` fails (the file read-only: EROFS), and a device
that came up unconfigured, known only by its raw descriptors. Faults are
made in the test's own mount namespace (fault_lib.py)."""
import os

import fault_lib
from mamori_testlib import wait_for


def test_a_block_the_kernel_refuses_is_reported_as_failed_not_blocked(bed, make_agent):
    dev, (iface,) = bed.add_usb("0781", "5567", serial="ROFS0001", uevent=False)
    attr = bed.sys(iface, "authorized")
    fault_lib.bind_ro(attr)
    mounted = True
    try:
        a = make_agent().start()  # the start's scan finds it
        ev = a.wait_events("usb.block_failed")[0]
        assert ev["severity"] == "critical"
        assert ev["decision"]["action"] == "block_failed"
        (i,) = ev["device"]["interfaces"]
        assert (i["id"], i["action"], i["authorized"], i["error"]) == \
            (os.path.basename(iface), "block_failed", True, "Read-only file system")
        assert ev["message"].startswith("FAILED to block USB storage 0781:5567")
        assert "the kernel refused to block 2-2:1.0 (Read-only file system): it stays usable" in ev["message"]
        assert "Failed to block interface 2-2:1.0 (storage) of 0781:5567: Read-only file system" in a.log()
        assert bed.authorized(iface) == "1"
        # Never reported blocked while it is not.
        assert a.events("usb.blocked") == []
        # The file writable again: the next uevent blocks it, and that is a new event.
        fault_lib.umount(attr)
        mounted = False
        bed.tb.uevent(dev, "change")
        ev = a.wait_events("usb.blocked")[0]
        wait_for(lambda: bed.authorized(iface) == "0", 5, what="the stick blocked")
        (i,) = ev["device"]["interfaces"]
        assert i["action"] == "blocked" and i["authorized"] is False and "error" not in i
        assert ev["decision"]["action"] == "blocked"
    finally:
        if mounted:
            fault_lib.umount(attr)
