# SPDX-License-Identifier: MIT
"""Issue 2, item 6: the real mamorid under umockdev, one test per case. Every
assertion reads the `authorized` files (and drivers_probe) the daemon wrote,
and the events it recorded."""

import datetime
import json
import os
import threading
import time
from zoneinfo import ZoneInfo

import pytest

from mamori_testlib import Inotify, wait_for
from usb_support import (ADB, CDC_DATA, HUB, KEYBOARD, MOUSE, MTP, NCM, NCM_DATA, PTP, RNDIS, STORAGE,
                         allow_file, barrier, check_usb_event, entry, iface_actions, settle, sysname,
                         usb_events, wait_authorized)

LISTED = entry("0781", "5567", serial="4C530001230101", label="総務課 貸出用USBメモリ 1")


@pytest.fixture
def watcher():
    w = Inotify()
    yield w
    w.close()


# ---- sticks ----

@pytest.mark.parametrize("start", ["1", "kernel"])
def test_listed_stick_is_allowed(bed, make_agent, start):
    """Allowed by vendor:product:serial, on any port. "kernel": the interface starts
    unauthorized (interface_authorized_default=0), so mamorid must authorize it and
    write its name to drivers_probe, or no driver would ever bind."""
    a = make_agent(allow={"10-soumu.conf": allow_file(LISTED)}).start()
    init = None if start == "kernel" else "1"
    dev, ifs = bed.add_usb("0781", "5567", serial="4C530001230101", iface_authorized=init)
    ev = a.wait_events("usb.allowed")[0]
    if start == "kernel":
        assert bed.attr(ifs[0], "authorized") == b"1\n"  # mamorid's write
        assert sysname(ifs[0]) in bed.drivers_probe()
    else:
        # Authorized by the kernel already: left exactly as it was (no write,
        # so never blocked for a moment, and no second probe).
        assert bed.never_written(ifs[0]), bed.attr(ifs[0], "authorized")
        assert sysname(ifs[0]) not in bed.drivers_probe()
    check_usb_event(ev, "usb.allowed", "allowed", "0781", "5567", bus_path=sysname(dev), category="storage")
    assert ev["device"]["serial"] == "4C530001230101"
    assert ev["decision"]["rule"]["file"].endswith("allow.d/10-soumu.conf")
    assert ev["decision"]["rule"]["label"] == "総務課 貸出用USBメモリ 1"
    assert ev["decision"]["rule"]["line"] == 2
    assert iface_actions(ev) == {sysname(ifs[0]): "allowed"}

    # The identity is vendor:product:serial, never the port: the same stick on
    # the other bus, behind another port, is the same approved stick.
    dev2, ifs2 = bed.add_usb("0781", "5567", serial="4C530001230101", bus=1, iface_authorized=init)
    a.wait_events("usb.allowed", count=2)
    assert bed.authorized(ifs2[0]) == "1"
    barrier(bed, a)
    if start != "kernel":
        assert bed.never_written(ifs[0]) and bed.never_written(ifs2[0])
    assert usb_events(a, "usb.blocked") == []
    assert len(usb_events(a, "usb.allowed")) == 2


@pytest.mark.parametrize("start", ["1", "kernel"])
def test_unlisted_stick_is_blocked(bed, make_agent, start):
    a = make_agent(allow={"10-soumu.conf": allow_file(LISTED)}).start()
    init = None if start == "kernel" else "1"
    dev, ifs = bed.add_usb("0930", "6545", serial="C03FD5F7ABCD", manufacturer="TOSHIBA",
                           product_name="TransMemory", iface_authorized=init)
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ifs[0]) == "0"
    assert sysname(ifs[0]) not in bed.drivers_probe()
    check_usb_event(ev, "usb.blocked", "unknown", "0930", "6545", bus_path=sysname(dev), category="storage")
    d = ev["device"]
    assert (d["manufacturer"], d["product"], d["serial"]) == ("TOSHIBA", "TransMemory", "C03FD5F7ABCD")
    assert d["interfaces"][0]["class"] == "08" and d["interfaces"][0]["action"] == "blocked"
    assert ev["decision"]["blocked_categories"] == ["storage"]
    assert "rule" not in ev["decision"]
    barrier(bed, a)
    assert len(usb_events(a)) == 1, "one decision, one event"


def test_expired_entry(bed, make_agent):
    a = make_agent(allow={"10-old.conf": allow_file(
        entry("0781", "5567", serial="OLD0001", label="expired loan", expires="2020-01-31"))}).start()
    dev, ifs = bed.add_usb("0781", "5567", serial="OLD0001")
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ifs[0]) == "0"
    check_usb_event(ev, "usb.blocked", "expired", "0781", "5567")
    assert ev["decision"]["rule"]["label"] == "expired loan"
    assert ev["decision"]["rule"]["expires"] == "2020-01-31"


def test_date_only_expiry_ends_at_local_midnight(bed, make_agent):
    """expires = "<date>" allows through the last second of that date where the
    PC is (TZ=Asia/Tokyo), not of UTC's. Today's entry (Tokyo's date) allows and
    ends at the next Tokyo midnight; yesterday's blocks. The instants come from
    zoneinfo, never from mamorid's code. A date read as UTC moves every end 9
    hours later: changes_at shows it at any hour, yesterday's entry also
    between Tokyo's 00:00 and 09:00 (when it would still allow)."""
    from test_mamorictl import ctl
    tokyo = ZoneInfo("Asia/Tokyo")
    now = datetime.datetime.now(tokyo)
    midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(0), tokyo)
    if (midnight - now).total_seconds() < 60:
        # The date must not change under the test: start it in the new day.
        time.sleep((midnight - now).total_seconds() + 1)
        now = datetime.datetime.now(tokyo)
        midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(0), tokyo)
    today, yesterday = now.date(), now.date() - datetime.timedelta(days=1)
    a = make_agent(allow={"10-dates.conf": allow_file(
        entry("0781", "5567", serial="TODAY001", label="until tonight", expires=today.isoformat()),
        entry("0781", "5567", serial="YDAY0001", label="ended last night", expires=yesterday.isoformat()))},
        extra_env={"TZ": "Asia/Tokyo"}).start()

    _, ifs_t = bed.add_usb("0781", "5567", serial="TODAY001", port=5, iface_authorized="0")
    _, ifs_y = bed.add_usb("0781", "5567", serial="YDAY0001", port=6)
    ok_ev = a.wait_events("usb.allowed", pred=lambda e: e["device"].get("serial") == "TODAY001")[0]
    no_ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "YDAY0001")[0]
    assert bed.attr(ifs_t[0], "authorized") == b"1\n", "mamorid authorized today's stick"
    assert bed.authorized(ifs_y[0]) == "0"
    assert ok_ev["decision"]["rule"]["expires"] == today.isoformat()
    check_usb_event(no_ev, "usb.blocked", "expired", "0781", "5567")
    assert no_ev["decision"]["rule"]["expires"] == yesterday.isoformat()

    p = ctl(a, "devices", "--json")
    assert p.returncode == 0, p.stderr
    by = {d["device"].get("serial"): d["decision"] for d in json.loads(p.stdout)}
    assert by["TODAY001"]["action"] == "allowed"
    changes_at = datetime.datetime.fromisoformat(by["TODAY001"]["changes_at"])
    assert changes_at == midnight, f"today's entry ends at {changes_at}, not at Tokyo's midnight {midnight}"
    assert by["YDAY0001"]["action"] == "blocked" and by["YDAY0001"]["reason"] == "expired"


def test_serial_mismatch(bed, make_agent):
    a = make_agent(allow={"10-soumu.conf": allow_file(LISTED)}).start()
    dev, ifs = bed.add_usb("0781", "5567", serial="4C530009999999")
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ifs[0]) == "0"
    check_usb_event(ev, "usb.blocked", "serial_mismatch", "0781", "5567")
    assert ev["device"]["serial"] == "4C530009999999"
    assert ev["decision"]["rule"]["file"].endswith("10-soumu.conf")


def test_stick_without_serial_is_blocked(bed, make_agent):
    """A serial entry for the same model does not allow a stick without a serial."""
    a = make_agent(allow={"10-soumu.conf": allow_file(LISTED)}).start()
    dev, ifs = bed.add_usb("0781", "5567", serial=None)
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ifs[0]) == "0"
    check_usb_event(ev, "usb.blocked", "no_serial", "0781", "5567")
    assert ev["device"]["has_serial"] is False
    assert "serial" not in ev["device"]


def test_stick_without_serial_allowed_by_any_serial(bed, make_agent):
    a = make_agent(allow={"20-model.conf": allow_file(
        entry("058f", "6387", any_serial=True, label="配布用 (シリアルなし)"))}).start()
    # any_serial is a deliberate choice: logged at load.
    assert "any_serial" in a.log() and "058f:6387" in a.log()
    dev, ifs = bed.add_usb("058f", "6387", serial=None, iface_authorized=None)
    ev = a.wait_events("usb.allowed")[0]
    assert bed.authorized(ifs[0]) == "1"
    assert sysname(ifs[0]) in bed.drivers_probe()
    check_usb_event(ev, "usb.allowed", "allowed", "058f", "6387")
    assert ev["device"]["has_serial"] is False
    assert ev["decision"]["rule"]["any_serial"] is True
    # ...and a device of another model without a serial is still blocked
    dev2, ifs2 = bed.add_usb("0951", "1666", serial=None)
    ev2 = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ifs2[0]) == "0"
    check_usb_event(ev2, "usb.blocked", "unknown", "0951", "1666")


# ---- phones ----

def test_android_phone_mtp_mode(bed, make_agent):
    """MTP is a vendor-specific interface that names itself "MTP"; ADB beside it is
    not a blocked category and must come up (authorized and probed)."""
    a = make_agent().start()
    dev, (mtp, adb) = bed.add_usb("18d1", "4ee2", serial="0A1B2C3D4E5F", manufacturer="Google",
                                  product_name="Pixel 7", interfaces=(MTP, ADB), iface_authorized=None)
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(mtp) == "0"
    assert bed.authorized(adb) == "1"
    assert sysname(adb) in bed.drivers_probe() and sysname(mtp) not in bed.drivers_probe()
    check_usb_event(ev, "usb.blocked", "unknown", "18d1", "4ee2", category="mtp")
    # mamorid wrote authorized=1 for ADB: the event says so (issue item 3)
    assert iface_actions(ev) == {sysname(mtp): "blocked", sysname(adb): "authorized"}
    assert ev["device"]["interfaces"][0]["name"] == "MTP"


def test_mtp_name_that_comes_after_the_interface(bed, make_agent):
    """The kernel may make an interface's "interface" (name) file only after
    announcing the interface; the device's "bind" comes once every file is there. A
    vendor-specific interface without a name yet must not be let in before
    that: its name may say MTP. A nameless one (a serial adapter) comes up at
    the bind."""
    a = make_agent().start()
    dev, (mtp, serial) = bed.add_usb("18d1", "4ee2", serial="LATENAME1", iface_authorized=None, uevent=False,
                                     interfaces=(("ff", "ff", "00", None), ("ff", "ff", "ff", None)))
    barrier(bed, a)  # the adds are handled
    assert bed.authorized(mtp) == "0" and bed.authorized(serial) == "0"
    assert bed.drivers_probe() == [], "a vendor-specific interface was let in before its name could be read"
    bed.write_raw(mtp, "interface", b"MTP")
    bed.tb.uevent(dev, "bind")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "LATENAME1")[0]
    assert ev["device"]["category"] == "mtp"
    wait_authorized(bed, serial, "1")
    assert iface_actions(ev) == {sysname(mtp): "blocked", sysname(serial): "authorized"}
    assert bed.drivers_probe() == [sysname(serial)]
    assert bed.authorized(mtp) == "0"


UNNAMED_VENDOR = ("ff", "ff", "00", None)


@pytest.mark.parametrize("prop,name,category", [
    (("ID_MTP_DEVICE", "1"), None, "mtp"),
    (("ID_MEDIA_PLAYER", "sandisk_sansa-fuze"), "Media", "mtp"),
    (("ID_GPHOTO2", "1"), None, "ptp"),
])
def test_phone_known_to_udev_whatever_its_interface_says(bed, make_agent, prop, name, category):
    """A phone or player need not call its interface "MTP": libmtp's udev rules
    know it by its id (or mtp-probe by Microsoft's OS descriptor) and set
    ID_MTP_DEVICE=1 on the usb_device, media-player-info ID_MEDIA_PLAYER,
    libgphoto2 ID_GPHOTO2=1. Its vendor-specific interface is blocked, and the
    event says which property decided."""
    a = make_agent().start()
    dev, (vend, kbd) = bed.add_usb("0e8d", "201d", serial="UDEVPHONE1", iface_authorized="1",
                                   interfaces=(("ff", "ff", "00", name), KEYBOARD), extra_props=prop)
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "UDEVPHONE1")[0]
    assert bed.authorized(vend) == "0"
    assert bed.never_written(kbd)
    check_usb_event(ev, "usb.blocked", "unknown", "0e8d", "201d", category=category)
    i = ev["device"]["interfaces"][0]
    assert (i["category"], i["category_from"], i["category_by"]) == (category, "udev", prop[0])
    assert "category_from" not in ev["device"]["interfaces"][1]
    assert f"is {category} by the udev property {prop[0]}" in ev["message"]


def test_vendor_interface_without_udev_properties_is_unchanged(bed, make_agent):
    """Without those properties a nameless vendor-specific interface (a serial
    adapter) is let in as before."""
    a = make_agent().start()
    dev, (vend,) = bed.add_usb("0403", "6001", serial="FTDI1", iface_authorized="0",
                               interfaces=(UNNAMED_VENDOR,), extra_props=("ID_MTP_DEVICE", "0"))
    wait_authorized(bed, vend, "1")
    barrier(bed, a)
    assert usb_events(a) == []


def test_android_phone_ptp_mode(bed, make_agent):
    a = make_agent().start()
    dev, (ptp,) = bed.add_usb("18d1", "4ee6", serial="0A1B2C3D4E5F", interfaces=(PTP,), iface_authorized="1")
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ptp) == "0"
    check_usb_event(ev, "usb.blocked", "unknown", "18d1", "4ee6", category="ptp")


@pytest.mark.parametrize("mode", ["rndis", "ncm", "activesync"])
def test_android_phone_usb_tethering(bed, make_agent, mode):
    """Both the control and the data interface of the network function are blocked.
    activesync: RNDIS as ef/01/01, which rndis_host takes too."""
    a = make_agent().start()
    ifaces = {"rndis": (RNDIS, CDC_DATA), "ncm": (NCM, NCM_DATA),
              "activesync": (("ef", "01", "01", None), CDC_DATA)}[mode]
    dev, (ctl, data) = bed.add_usb("18d1", "4ee4", serial="0A1B2C3D4E5F", interfaces=ifaces, iface_authorized="1")
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ctl) == "0"
    assert bed.authorized(data) == "0"
    check_usb_event(ev, "usb.blocked", "unknown", "18d1", "4ee4", category="tethering")
    assert iface_actions(ev) == {sysname(ctl): "blocked", sysname(data): "blocked"}


def test_tethering_allowed_only_when_tethering_not_blocked(bed, make_agent):
    """usb.block is honoured: a policy that blocks only storage leaves tethering alone."""
    a = make_agent(main_conf='usb = { block = [ "storage" ]; };\n').start()
    dev, (ctl, data) = bed.add_usb("18d1", "4ee4", serial="X", interfaces=(RNDIS, CDC_DATA), iface_authorized="1")
    barrier(bed, a)
    assert bed.authorized(ctl) == "1" and bed.authorized(data) == "1"
    assert usb_events(a) == []


# ---- composite, HID, hubs ----

def test_composite_keyboard_and_storage(bed, make_agent):
    """Per interface: the keyboard keeps working, the storage is blocked."""
    a = make_agent().start()
    dev, (kbd, stor) = bed.add_usb("04d9", "1603", serial="KBDSTOR01", interfaces=(KEYBOARD, STORAGE))
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(stor) == "0"
    assert bed.never_written(kbd), "the keyboard's authorized file was written"
    check_usb_event(ev, "usb.blocked", "unknown", "04d9", "1603", category="storage")
    assert iface_actions(ev) == {sysname(kbd): "untouched", sysname(stor): "blocked"}


def test_keyboard_and_mouse_untouched(bed, make_agent):
    a = make_agent().start()
    kdev, (kbd,) = bed.add_usb("046d", "c31c", serial=None, interfaces=(KEYBOARD,))
    mdev, (mouse,) = bed.add_usb("046d", "c077", serial=None, interfaces=(MOUSE,))
    barrier(bed, a)
    for p in (kdev, kbd, mdev, mouse):
        assert bed.never_written(p), f"{p}/authorized was written"
    assert bed.drivers_probe() == []
    assert usb_events(a) == [], "a keyboard or mouse made an event"


def test_keyboard_that_starts_unauthorized_is_brought_up(bed, make_agent):
    """Without the udev rule, a keyboard on a bus with interface_authorized_default=0
    waits for mamorid: it must be authorized and probed, silently."""
    a = make_agent().start()
    assert bed.interface_default(2) == "0"
    kdev, (kbd,) = bed.add_usb("046d", "c31c", interfaces=(KEYBOARD,), iface_authorized=None)
    wait_authorized(bed, kbd, "1")
    assert sysname(kbd) in bed.drivers_probe()
    barrier(bed, a)
    assert usb_events(a) == []


def test_hub_with_stick_behind_it(bed, make_agent):
    a = make_agent().start()
    hub, (hubif,) = bed.add_usb("05e3", "0610", serial=None, interfaces=(HUB,), device_class="09",
                                product_name="USB2.1 Hub")
    dev, ifs = bed.add_usb("0781", "5567", serial="BEHINDHUB1", parent=hub, port=1)
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ifs[0]) == "0"
    assert bed.never_written(hubif) and bed.never_written(hub)
    check_usb_event(ev, "usb.blocked", "unknown", "0781", "5567", bus_path=f"{sysname(hub)}.1")
    barrier(bed, a)
    assert len(usb_events(a)) == 1, "the hub itself made an event"


# ---- start-up ----

def test_devices_present_before_start(bed, make_agent):
    """The start-up scan: root hubs get interface_authorized_default=0, every
    present device is decided, keyboards are left alone."""
    unlisted, (u_if,) = bed.add_usb("0930", "6545", serial="PRESENT1", uevent=False)
    listed, (l_if,) = bed.add_usb("0781", "5567", serial="4C530001230101", iface_authorized="0", uevent=False)
    kbd, (k_if,) = bed.add_usb("046d", "c31c", interfaces=(KEYBOARD,), uevent=False)
    hub, (h_if,) = bed.add_usb("05e3", "0610", interfaces=(HUB,), device_class="09", uevent=False)
    behind, (b_if,) = bed.add_usb("0951", "1666", serial="BEHIND1", parent=hub, port=1, uevent=False)
    phone, (p_mtp, p_adb) = bed.add_usb("18d1", "4ee2", serial="PHONE1", interfaces=(MTP, ADB), bus=1, uevent=False)
    assert bed.interface_default(1) == "1" and bed.interface_default(2) == "1"

    a = make_agent(allow={"10-soumu.conf": allow_file(LISTED)}).start()
    # READY comes after the scan has acted.
    assert bed.interface_default(1) == "0" and bed.interface_default(2) == "0"
    assert bed.authorized(u_if) == "0"
    assert bed.authorized(b_if) == "0"
    assert bed.authorized(p_mtp) == "0"
    assert bed.authorized(l_if) == "1"
    assert sysname(l_if) in bed.drivers_probe()
    for p in (k_if, h_if, p_adb):
        assert bed.never_written(p), f"{p}/authorized was written"

    a.wait_events("usb.blocked", count=3)
    a.wait_events("usb.allowed")
    barrier(bed, a)
    blocked = {e["device"]["serial"]: e for e in usb_events(a, "usb.blocked")}
    assert set(blocked) == {"PRESENT1", "BEHIND1", "PHONE1"}
    assert blocked["BEHIND1"]["device"]["bus_path"] == f"{sysname(hub)}.1"
    assert blocked["PHONE1"]["device"]["category"] == "mtp"
    assert [e["device"]["serial"] for e in usb_events(a, "usb.allowed")] == ["4C530001230101"]
    started = a.events("agent.started")
    assert len(started) == 1 and started[0]["config"]["fail_closed"] is False


def test_uevent_burst_during_startup_scan_is_not_lost(bed, make_agent, dgram_qlen):
    """Sticks plugged while mamorid starts (and scans 100 present devices) are
    all blocked: a uevent that arrives during the scan waits in the monitor."""
    for n in range(100):
        bed.add_usb("046d", "c31c", serial=None, interfaces=(KEYBOARD, MOUSE), port=n + 1, bus=1, uevent=False)
    a = make_agent()
    plugged, before_ready = [], []
    ready = threading.Event()
    stop = threading.Event()

    def plug():
        n = 0
        while not stop.is_set() and n < 80:
            dev, ifs = bed.add_usb("0930", "6545", serial=f"BURST{n:03d}", port=n + 1, bus=2)
            plugged.append(ifs[0])
            if not ready.is_set():
                before_ready.append(ifs[0])
            n += 1
            if ready.is_set() and len(plugged) >= len(before_ready) + 10:
                break

    t = threading.Thread(target=plug)
    a.start(wait_ready=False)
    t.start()
    try:
        a.wait_notify("READY=1", timeout=30)
        ready.set()
    finally:
        t.join(60)
        stop.set()
    assert before_ready, "no stick was plugged before mamorid was ready: the test did not test the race"
    wait_for(lambda: all(bed.authorized(i) == "0" for i in plugged), 10,
             what="every stick of the burst blocked")
    barrier(bed, a)
    serials = sorted(e["device"]["serial"] for e in usb_events(a, "usb.blocked"))
    assert serials == sorted(f"BURST{n:03d}" for n in range(len(plugged)))


def test_stick_pulled_right_after_plugging_is_reported(bed, make_agent):
    """Blocking happens at once; the report waits 50 ms for sibling interfaces.
    A stick pulled inside that window is reported all the same. (On a slow
    machine the report may beat the pull; then the stick is plugged again,
    until the daemon's log shows that the pull path was taken.)"""
    a = make_agent().start()
    seen_pull_path = False
    for n in range(10):
        serial = f"PULLED{n:02d}"
        dev, (i,) = bed.add_usb("0930", "6545", serial=serial, interfaces=(STORAGE,), uevent=False)
        wait_for(lambda: bed.authorized(i) == "0", 5, interval=0.0005, what="the block")
        bed.remove(dev, (i,))
        ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == serial)[0]
        check_usb_event(ev, "usb.blocked", "unknown", "0930", "6545", bus_path=sysname(dev))
        if f"USB device {sysname(dev)} was removed before its report was due" in a.log():
            seen_pull_path = True
            break
    assert seen_pull_path, "never pulled a stick inside the 50 ms settle"
    barrier(bed, a)
    serials = [e["device"]["serial"] for e in usb_events(a)]
    assert serials == [f"PULLED{k:02d}" for k in range(n + 1)], "each stick reported exactly once"


# ---- expiry while plugged ----

def test_entry_expires_while_plugged(bed, make_agent, watcher):
    """expires as an RFC 3339 date-time: the stick plugged under it is blocked
    at that moment, without any uevent, and the event says expired."""
    tz = datetime.timezone(datetime.timedelta(hours=9))
    at = (datetime.datetime.now(tz) + datetime.timedelta(seconds=3)).replace(microsecond=0)
    expires = at.isoformat()  # "2026-11-21T18:00:03+09:00"
    a = make_agent(allow={"10-loan.conf": allow_file(
        entry("0781", "5567", serial="LOAN0001", label="一時貸出", expires=expires))}).start()
    dev, (i,) = bed.add_usb("0781", "5567", serial="LOAN0001")
    ev = a.wait_events("usb.allowed")[0]
    assert ev["decision"]["rule"]["expires"] == expires
    assert bed.never_written(i)
    watcher.watch(bed.sys(i, "authorized"))

    assert watcher.writes() == []
    wall = time.time() - time.monotonic()
    writes = wait_for(lambda: watcher.writes(), 15, interval=0.001, what="the block at expiry")
    blocked_at = writes[0][0] + wall
    assert bed.authorized(i) == "0"
    # Not before the instant, and promptly after it.
    assert blocked_at >= at.timestamp() - 0.01, (blocked_at, at.timestamp())
    assert blocked_at - at.timestamp() < 0.5, blocked_at - at.timestamp()
    ev = a.wait_events("usb.blocked")[0]
    check_usb_event(ev, "usb.blocked", "expired", "0781", "5567")
    assert ev["decision"]["rule"]["label"] == "一時貸出"
    # approved for less than usb.expiry_warning (15 min): warned at once
    assert [e["kind"] for e in usb_events(a)] == ["usb.allowed", "usb.expiring", "usb.blocked"]
    warn = a.wait_events("usb.expiring")[0]
    assert warn["decision"]["rule"]["expires"] == expires
    assert 0 <= warn["expires_in_sec"] <= 3
    assert "unmount" not in ev  # no block device, nothing mounted


def test_expiry_warning_ahead(bed, make_agent, watcher):
    """usb.expiry_warning ahead of the expiry: usb.expiring (not at once, not
    late), then usb.blocked at the expiry; 0 turns the warning off."""
    tz = datetime.timezone(datetime.timedelta(hours=9))
    at = (datetime.datetime.now(tz) + datetime.timedelta(seconds=5)).replace(microsecond=0)
    expires = at.isoformat()
    a = make_agent(main_conf='usb = { block = [ "storage" ]; expiry_warning = "3s"; };\n',
                   allow={"10-loan.conf": allow_file(
                       entry("0781", "5567", serial="LOAN0002", label="loan", expires=expires))}).start()
    dev, (i,) = bed.add_usb("0781", "5567", serial="LOAN0002")
    a.wait_events("usb.allowed")
    warn = wait_for(lambda: a.events("usb.expiring"), 10, what="usb.expiring")[0]
    warned_at = time.time()
    assert at.timestamp() - 3.5 <= warned_at <= at.timestamp() - 1.5, (warned_at, at.timestamp())
    assert warn["device"]["serial"] == "LOAN0002"
    assert warn["decision"]["action"] == "allowed"
    assert 1 <= warn["expires_in_sec"] <= 3
    assert "ends at" in warn["message"]
    ev = a.wait_events("usb.blocked")[0]
    check_usb_event(ev, "usb.blocked", "expired", "0781", "5567")
    assert [e["kind"] for e in usb_events(a)] == ["usb.allowed", "usb.expiring", "usb.blocked"]
    a.stop()

    at = (datetime.datetime.now(tz) + datetime.timedelta(seconds=2)).replace(microsecond=0)
    a = make_agent(main_conf='usb = { block = [ "storage" ]; expiry_warning = 0; };\n',
                   allow={"10-loan.conf": allow_file(
                       entry("0781", "5567", serial="LOAN0002", label="loan", expires=at.isoformat()))}).start()
    a.wait_events("usb.blocked")
    assert a.events("usb.expiring") == []


def test_no_expiry_warning_when_a_longer_entry_takes_over(bed, make_agent):
    """An exact-serial entry ends while a model-wide (any_serial) entry lasts:
    the device stays usable, so no usb.expiring warns of a block that will
    not come (and no usb.blocked follows)."""
    tz = datetime.timezone(datetime.timedelta(hours=9))
    at = (datetime.datetime.now(tz) + datetime.timedelta(seconds=3)).replace(microsecond=0)
    a = make_agent(main_conf='usb = { block = [ "storage" ]; expiry_warning = "2s"; };\n',
                   allow={"10-loan.conf": allow_file(
                       entry("0781", "5567", serial="LOAN0003", label="loan", expires=at.isoformat()),
                       entry("0781", "5567", any_serial=True, label="model", expires="2099-12-31"))}).start()
    dev, (i,) = bed.add_usb("0781", "5567", serial="LOAN0003")
    a.wait_events("usb.allowed")
    # barrier: the exact entry's end has passed and the device was decided again
    wait_for(lambda: time.time() > at.timestamp() + 1.5, 10, what="the exact entry's end")
    barrier(bed, a)
    assert a.events("usb.expiring") == [], a.events("usb.expiring")
    assert [e for e in a.events("usb.blocked") if e["device"].get("serial") == "LOAN0003"] == []
    assert bed.authorized(i) == "1"

def test_replugged_stick_is_one_record_per_window(bed, make_agent):
    """A gadget that re-enumerates a few times a second must not flood the
    spool with usb.blocked (pushing out usb.allowed when it is full): every
    plug is blocked at once, the first one is recorded, the repeats within
    usb.repeat_window are one usb.blocked with repeats=N when it closes. A
    different stick in between gets its own event."""
    a = make_agent(main_conf='usb = { block = [ "storage", "mtp", "ptp", "tethering" ]; '
                             'repeat_window = "4s"; };\n').start()
    for n in range(50):
        dev, (i,) = bed.add_usb("0930", "6545", serial="FLOOD0001", interfaces=(STORAGE,))
        wait_for(lambda: bed.authorized(i) == "0", 5, interval=0.0005, what="the block")
        bed.remove(dev, (i,))
        if n == 0:
            a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "FLOOD0001")
        if n == 20:
            odev, (oi,) = bed.add_usb("0930", "6545", serial="OTHER0001", interfaces=(STORAGE,))
            wait_for(lambda: bed.authorized(oi) == "0", 5, interval=0.0005, what="the block")
            a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "OTHER0001")
    barrier(bed, a)
    flood = [e for e in usb_events(a, "usb.blocked") if e["device"]["serial"] == "FLOOD0001"]
    assert len(flood) == 1 and "repeats" not in flood[0], "the first plug is recorded at once, the repeats wait"
    ev = a.wait_events("usb.blocked", timeout=20, pred=lambda e: "repeats" in e)[0]
    check_usb_event(ev, "usb.blocked", "unknown", "0930", "6545", category="storage")
    assert ev["device"]["serial"] == "FLOOD0001"
    assert ev["repeats"] == 49
    assert ev["repeats_first"] <= ev["repeats_last"]
    assert "blocked 49 more times" in ev["message"]
    other = [e for e in usb_events(a, "usb.blocked") if e["device"]["serial"] == "OTHER0001"]
    assert len(other) == 1 and "repeats" not in other[0]
    barrier(bed, a)
    assert len([e for e in usb_events(a, "usb.blocked") if e["device"]["serial"] == "FLOOD0001"]) == 2


def test_repeats_still_open_are_recorded_when_mamorid_stops(bed, make_agent):
    a = make_agent().start()  # the default window, 60 s: still open at the stop
    for n in range(3):
        dev, (i,) = bed.add_usb("0930", "6545", serial="STOP0001", interfaces=(STORAGE,))
        wait_for(lambda: bed.authorized(i) == "0", 5, interval=0.0005, what="the block")
        bed.remove(dev, (i,))
        if n == 0:
            a.wait_events("usb.blocked")
    barrier(bed, a)
    assert len([e for e in usb_events(a, "usb.blocked") if e["device"]["serial"] == "STOP0001"]) == 1
    assert a.stop() == 0
    kinds = [(e["kind"], e.get("repeats")) for e in a.events() if e["kind"] in ("usb.blocked", "agent.stopping")
             and e.get("device", {}).get("vendor_id") != "dead"]
    assert kinds == [("usb.blocked", None), ("usb.blocked", 2), ("agent.stopping", None)], kinds
