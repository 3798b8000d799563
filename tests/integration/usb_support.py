# SPDX-License-Identifier: MIT
"""Helpers shared by the USB integration tests: allow entries, the device
shapes of issue 2, a barrier that proves mamorid has handled every earlier
uevent, and the checks every usb.* event must pass."""

import itertools
import re
import time

from mamori_testlib import wait_for

POLICY_REF = "対策基準 第3-6"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

# interface triples (class, subclass, protocol, iInterface)
STORAGE = ("08", "06", "50", None)
KEYBOARD = ("03", "01", "01", None)
MOUSE = ("03", "01", "02", None)
HUB = ("09", "00", "00", None)
MTP = ("ff", "ff", "00", "MTP")
ADB = ("ff", "42", "01", "ADB Interface")
PTP = ("06", "01", "01", None)
RNDIS = ("e0", "01", "03", "RNDIS Communications Control")
CDC_DATA = ("0a", "00", "00", "RNDIS Ethernet Data")
NCM = ("02", "0d", "00", "CDC Network Control Model (NCM)")
NCM_DATA = ("0a", "00", "01", "CDC Network Data")


def entry(vendor, product, serial=None, any_serial=False, label=None, expires=None,
          approved_by="情報セキュリティ管理者 山田", approved_on="2019-04-01"):
    """One allow entry in libconfig syntax."""
    parts = [f'vendor = "{vendor}";', f'product = "{product}";']
    if any_serial:
        parts.append("any_serial = true;")
    if serial is not None:
        parts.append(f'serial = "{serial}";')
    if label is not None:
        parts.append(f'label = "{label}";')
    parts.append(f'approved_by = "{approved_by}";')
    parts.append(f'approved_on = "{approved_on}";')
    if expires is not None:
        parts.append(f'expires = "{expires}";')
    parts.append('ticket = "SEC-2026-0042";')
    return "{ " + " ".join(parts) + " }"


def allow_file(*entries):
    return "allow = (\n  " + ",\n  ".join(entries) + "\n);\n"


_barrier_serials = itertools.count(1)


# Two sticks that the config and trust tests approve (A) or not (B).
A = entry("0781", "5567", serial="AAAA0001", label="stick A")
B = entry("0930", "6545", serial="BBBB0001", label="stick B")


def plug_a(bed, **kw):
    return bed.add_usb("0781", "5567", serial="AAAA0001", iface_authorized=None, **kw)


def plug_b(bed, **kw):
    return bed.add_usb("0930", "6545", serial="BBBB0001", iface_authorized=None, **kw)


def barrier(bed, agent):
    """Plugs a stick nobody listed and waits for its usb.blocked event. mamorid
    handles uevents in order, so after this every earlier uevent has been
    handled and every earlier report has been written."""
    serial = f"BARRIER{next(_barrier_serials):05d}"
    dev, ifs = bed.add_usb("dead", "beef", serial=serial, product_name="barrier", iface_authorized="1")
    agent.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == serial)
    return dev, ifs


def usb_events(agent, kind=None, vendor=None, product=None):
    """usb.* events, without the barrier sticks."""
    out = []
    for e in agent.events(kind):
        if not e["kind"].startswith("usb."):
            continue
        d = e["device"]
        if d["vendor_id"] == "dead" and d["product_id"] == "beef":
            continue
        if vendor and d["vendor_id"] != vendor:
            continue
        if product and d["product_id"] != product:
            continue
        out.append(e)
    return out


def check_usb_event(ev, kind, reason, vendor, product, bus_path=None, category=None):
    """The fields issue 2 item 5 asks of every decision event."""
    assert ev["kind"] == kind, ev
    assert RFC3339.match(ev["time"]), ev["time"]
    assert ev["host"]["name"], ev
    assert re.fullmatch(r"[0-9a-f]{32}", ev["host"]["machine_id"]), ev["host"]
    assert ev["policy_ref"] == POLICY_REF, ev
    d = ev["device"]
    assert (d["vendor_id"], d["product_id"]) == (vendor, product), d
    if bus_path is not None:
        assert d["bus_path"] == bus_path, d
    if category is not None:
        assert d["category"] == category, d
    assert d["interfaces"], d
    for i in d["interfaces"]:
        assert re.fullmatch(r"[0-9a-f]{2}", i["class"]) and re.fullmatch(r"[0-9a-f]{2}", i["subclass"]), i
    dec = ev["decision"]
    assert dec["action"] == ("blocked" if kind == "usb.blocked" else "allowed"), dec
    assert dec["reason"] == reason, dec
    assert dec["explanation"], dec
    return ev


def iface_actions(ev):
    return {i["id"]: i["action"] for i in ev["device"]["interfaces"]}


def sysname(syspath):
    return syspath.rstrip("/").rsplit("/", 1)[-1]


def wait_authorized(bed, syspath, value, timeout=10):
    wait_for(lambda: bed.authorized(syspath) == value, timeout, what=f"{syspath} authorized={value}")


def settle(seconds=0.2):
    """Lets the 50 ms report settle pass (only where a test asserts that
    nothing more happens; every positive assertion waits for its event)."""
    time.sleep(seconds)


# Raw descriptors (the usb_device's "descriptors" attribute)
DEVICE_DESC = bytes([18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x81, 0x07, 0x67, 0x55, 0x00, 0x01, 1, 2, 3, 1])


def config_desc(*ifaces, value=1):
    """A configuration descriptor with interface descriptors given as
    (number, alternate, class, subclass, protocol)."""
    body = b"".join(bytes([9, 4, n, alt, 0, c, s, p, 0]) for n, alt, c, s, p in ifaces)
    total = 9 + len(body)
    return bytes([9, 2, total & 0xff, total >> 8, len({i[0] for i in ifaces}), value, 0, 0x80, 50]) + body
