# SPDX-License-Identifier: MIT
"""USB enforcement when the kernel says no (agent/usb/usb-enforce.c): a block
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


# A real stick's descriptors (SanDisk Cruzer Blade 0781:5567: one mass
# storage interface 08/06/50, two bulk endpoints), as the fuzz corpus has them.
STICK_DESCRIPTORS = os.path.join(os.environ.get("MAMORI_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../..")),
                                 "tests/fuzz/corpus/descriptors/stick")


def plug_unconfigured(bed, port):
    """A stick as the kernel shows it while the bus's authorized_default is 0:
    device-level authorized=0, no configuration (bConfigurationValue empty),
    no interface directories, strings not read ("n/a (unauthorized)", no
    serial); only the raw descriptors know its interfaces."""
    with open(STICK_DESCRIPTORS, "rb") as f:
        descriptors = f.read()
    dev = bed.tb.add_device(
        "usb", f"2-{port}", bed.hubs[2],
        ["idVendor", "0781", "idProduct", "5567", "bDeviceClass", "00", "authorized", "0",
         "busnum", "2", "devnum", str(100 + port), "bConfigurationValue", "",
         "manufacturer", "n/a (unauthorized)", "product", "n/a (unauthorized)"],
        ["DEVTYPE", "usb_device", "PRODUCT", "781/5567/100"])
    bed.write_raw(dev, "descriptors", descriptors)
    bed.tb.uevent(dev, "bind")
    return dev


def check_from_descriptors(ev, port):
    assert ev["device"]["bus_path"] == f"2-{port}"
    assert ev["device"]["interfaces_source"] == "descriptors"
    (i,) = ev["device"]["interfaces"]
    assert (i["id"], i["class"], i["subclass"], i["protocol"], i["category"]) == \
        (f"2-{port}:1.0", "08", "06", "50", "storage")
    assert ev["decision"]["action"] == "blocked" and ev["decision"]["blocked_categories"] == ["storage"]


def test_an_unconfigured_stick_is_classified_from_its_descriptors_and_configured_safely(bed, make_agent):
    """New interfaces on the bus start unauthorized (mamorid set
    interface_authorized_default=0 on the root hub): configuring the device
    is safe, each storage interface is then blocked on its own."""
    a = make_agent().start()
    assert bed.interface_default(2) == "0"
    dev = plug_unconfigured(bed, port=5)
    check_from_descriptors(a.wait_events("usb.blocked")[0], 5)
    wait_for(lambda: bed.attr(dev, "authorized") == b"1\n", 5, what="the device configured")


def test_an_unconfigured_stick_stays_unconfigured_when_its_interfaces_would_start_authorized(bed, make_agent):
    """The root hub's interface_authorized_default cannot be set to 0 (the
    file read-only): configuring the stick would let its storage interface
    in before anything could block it, so it is left unconfigured."""
    hub_default = bed.sys(bed.hubs[2], "interface_authorized_default")
    fault_lib.bind_ro(hub_default)
    try:
        a = make_agent().start()
        wait_for(lambda: "Cannot set interface_authorized_default=0 on usb2" in a.log(), 5, what="the refused write")
        dev = plug_unconfigured(bed, port=6)
        check_from_descriptors(a.wait_events("usb.blocked")[0], 6)
        assert bed.attr(dev, "authorized") == b"0"  # as the kernel made it: never written
        # A stick whose device-level authorize is then allowed (an allow entry) is configured.
        a.write_allow("stick.conf", 'allow = ( { vendor = "0781"; product = "5567"; any_serial = true; '
                                    'approved_by = "test"; } );\n')
        a.reload()
        a.wait_events("usb.allowed")
        wait_for(lambda: bed.attr(dev, "authorized") == b"1\n", 5, what="the allowed device configured")
    finally:
        fault_lib.umount(hub_default)
