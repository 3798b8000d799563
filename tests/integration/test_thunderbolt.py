# SPDX-License-Identifier: MIT
"""Issue 14 item 4: Thunderbolt/USB4 and FireWire SBP-2 under umockdev. The
real mamorid decides; every assertion reads the sysfs files it wrote
(authorized, firewire_sbp2/unbind, drivers_probe) and the events it
recorded. No QEMU machine emulates either bus: docs/devices-thunderbolt.md."""

import os
import subprocess
import threading

import pytest

from mamori_testlib import wait_for
from usb_support import settle

UID_A = "d1a3c8f0-5b2e-4c1a-9e77-0a1b2c3d4e5f"  # listed dock
UID_B = "77e2b9a4-0c3d-4e5f-8a9b-1c2d3e4f5a6b"  # not listed
GUID_A = "0x0001020304050607"  # listed FireWire disk
GUID_B = "0x00d04b0e11223344"  # not listed
SBP2 = ("0x00609e", "0x010483")
AUDIO = ("0x00a02d", "0x010001")  # an IEC 61883 unit: never storage

DEVICES_ALL = 'devices = { block = [ "storage", "mtp", "ptp", "tethering", "thunderbolt", "firewire" ]; };\n'


def entry(bus, key, value, label):
    return (f'{{ bus = "{bus}"; {key} = "{value}"; label = "{label}"; '
            'approved_by = "情報セキュリティ管理者 山田"; approved_on = "2026-04-01"; ticket = "SEC-2026-0142"; }')


def allow(*entries):
    return "allow = (\n  " + ",\n  ".join(entries) + "\n);\n"


TB_A = entry("thunderbolt", "unique_id", UID_A, "総務課 ドック 1")
FW_A = entry("firewire", "guid", GUID_A, "広報課 FireWire ディスク")


class Tb:
    """Thunderbolt domains and routers, and FireWire nodes and units, in the
    UsbBed's testbed."""

    def __init__(self, bed):
        self.bed = bed
        self.tb = bed.tb
        self.pci = self.tb.add_device("pci", "0000:00:0d.2", None, ["vendor", "0x8086"], [])
        self.domains = {}
        self.routes = {}
        root = bed.root
        drv = os.path.join(root, "sys/bus/firewire/drivers/firewire_sbp2")
        os.makedirs(drv, exist_ok=True)
        for f in (os.path.join(drv, "bind"), os.path.join(root, "sys/bus/firewire/drivers_probe")):
            open(f, "w").close()
        with open(os.path.join(root, "sys/bus/firewire/drivers_autoprobe"), "w") as f:
            f.write("1")  # the kernel's default
        # unbind does what the kernel's does: the unit's driver link goes.
        self.unbound_names = []
        os.mkfifo(os.path.join(drv, "unbind"))
        self.immutable = []
        threading.Thread(target=self._unbinder, args=(os.path.join(drv, "unbind"),), daemon=True).start()
        self.fw_pci = self.tb.add_device("pci", "0000:03:00.0", None, ["vendor", "0x104c"], [])
        self.next_node = 1

    def domain(self, n, security, deauthorization="1"):
        d = self.tb.add_device("thunderbolt", f"domain{n}", self.pci,
                               ["security", security, "deauthorization", deauthorization,
                                "iommu_dma_protection", "1"], ["DEVTYPE", "thunderbolt_domain"])
        host = self.tb.add_device("thunderbolt", f"{n}-0", d,
                                  ["unique_id", "00000000-0000-0000-ffff-ffffffffffff", "authorized", "1",
                                   "vendor_name", "Intel", "device_name", "Host"],
                                  ["DEVTYPE", "thunderbolt_device"])
        self.domains[n] = (d, host)
        self.routes[n] = 1
        return d

    def write(self, path, name, value):
        self.bed.write_raw(path, name, value if isinstance(value, bytes) else value.encode())

    def firewire(self, guid, spec=SBP2, bound=True, vendor="LaCie", model="d2 Quadra"):
        """A node fwN (guid) with one unit fwN.0; bound: firewire_sbp2 took it."""
        n = self.next_node
        self.next_node += 1
        node = self.tb.add_device("firewire", f"fw{n}", self.fw_pci, ["guid", "0x0", "vendor_name", "x"], [])
        self.write(node, "guid", guid)
        self.write(node, "vendor_name", vendor)
        unit = self.tb.add_device("firewire", f"fw{n}.0", node,
                                  ["specifier_id", spec[0], "version", spec[1], "model_name", model], [])
        if bound:
            self.bind(unit)
        return node, unit

    def bind(self, unit):
        drv = os.path.join(self.bed.root, "sys/bus/firewire/drivers/firewire_sbp2")
        link = self.bed.sys(unit, "driver")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(drv, link)
        self.tb.set_property(unit, "DRIVER", "firewire_sbp2")
        self.tb.uevent(unit, "bind")

    def _unbinder(self, fifo):
        fd = os.open(fifo, os.O_RDWR)
        buf = b""
        while True:
            buf += os.read(fd, 4096)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                n = line.decode()
                link = os.path.join(self.bed.root, "sys/bus/firewire/devices", n, "driver")
                if os.path.lexists(link):
                    os.unlink(link)
                self.unbound_names.append(n)

    def unbound(self):
        return list(self.unbound_names)

    def refuse_writes(self, path, attr):
        """chattr +i: even root's open for writing fails (EPERM), as the kernel
        refuses a de-authorization it does not support."""
        f = self.bed.sys(path, attr)
        if subprocess.run(["chattr", "+i", f], capture_output=True).returncode != 0:
            pytest.skip("chattr +i does not work on this file system")
        self.immutable.append(f)

    def done(self):
        for f in self.immutable:
            subprocess.run(["chattr", "-i", f], capture_output=True)

    def probed(self):
        return self.bed.attr("/sys/bus/firewire", "drivers_probe").decode().split()


def name(path):
    return path.rstrip("/").rsplit("/", 1)[-1]


def dev_events(agent, kind=None, bus=None):
    return [e for e in agent.events(kind) if e["kind"].startswith("device.")
            and (bus is None or e["device"]["bus"] == bus)]


def wait_dev(agent, kind, path, count=1):
    return agent.wait_events(kind, count=count, pred=lambda e: e["device"].get("bus_path") == name(path))


def make_tb(t, domain, uid, authorized="0", vendor="Lenovo", devname="ThinkPad Thunderbolt 3 Dock"):
    """Plugs a router: attributes first, then the "add" the kernel would send."""
    route = t.routes[domain]
    t.routes[domain] += 1
    attrs = ["authorized", authorized, "vendor_name", vendor, "device_name", devname]
    if isinstance(uid, str):
        attrs += ["unique_id", uid]
    path = t.tb.add_device("thunderbolt", f"{domain}-{route}", t.domains[domain][1], attrs,
                           ["DEVTYPE", "thunderbolt_device"])
    if isinstance(uid, bytes):
        t.write(path, "unique_id", uid)
        t.tb.uevent(path, "change")
    return path


@pytest.fixture
def t(bed):
    t = Tb(bed)
    yield t
    t.done()


# ---- Thunderbolt, boltd absent ----

def test_tb_listed_authorized_unlisted_stays_out(bed, t, make_agent):
    t.domain(0, "user")
    a = make_agent(main_conf=DEVICES_ALL, allow={"20-tb.conf": allow(TB_A)}).start()
    pa = make_tb(t, 0, UID_A)
    ev = wait_dev(a, "device.allowed", pa)[0]
    assert bed.attr(pa, "authorized") == b"1\n"  # mamorid's write: no boltd to do it
    d = ev["device"]
    assert (d["bus"], d["category"], d["unique_id"]) == ("thunderbolt", "thunderbolt", UID_A)
    assert (d["manufacturer"], d["product"]) == ("Lenovo", "ThinkPad Thunderbolt 3 Dock")
    assert ev["decision"]["rule"]["label"] == "総務課 ドック 1"
    assert ev["thunderbolt"] == {"security": "user", "boltd": None, "done": "authorized"}

    pb = make_tb(t, 0, UID_B)
    ev = wait_dev(a, "device.blocked", pb)[0]
    assert bed.attr(pb, "authorized") == b"0"  # never written: it stays out
    assert ev["decision"]["reason"] == "unknown" and "rule" not in ev["decision"]
    assert ev["thunderbolt"]["done"] == "none"
    # Admins read that a dock's keyboard may be behind the block.
    a.wait_log(f"keyboard and mouse, its network) does not work until an allow entry names unique_id {UID_B}")
    # A change uevent (the kernel's, after an authorize) is no new decision.
    t.tb.uevent(pb, "change")
    t.tb.uevent(pa, "change")
    pc = make_tb(t, 0, "00000000-0000-0000-0000-00000000000c")
    wait_dev(a, "device.blocked", pc)
    assert len(dev_events(a, bus="thunderbolt")) == 3


def test_tb_authorized_unlisted_is_deauthorized(bed, t, make_agent):
    """Authorized already (a domain in "none", or someone approved it): taken back."""
    t.domain(0, "none")
    a = make_agent(main_conf=DEVICES_ALL).start()
    p = make_tb(t, 0, UID_B, authorized="1")
    ev = wait_dev(a, "device.blocked", p)[0]
    assert bed.attr(p, "authorized") == b"0\n"
    assert ev["thunderbolt"] == {"security": "none", "boltd": None, "done": "deauthorized"}


def test_tb_deauthorize_refused_is_block_failed(bed, t, make_agent):
    """A kernel without de-authorization (deauthorization=0) refuses the write:
    device.block_failed, said so, not device.blocked."""
    t.domain(0, "user")
    route = t.routes[0]
    t.routes[0] += 1
    p = t.tb.add_device("thunderbolt", f"0-{route}", t.domains[0][1], ["authorized", "1", "unique_id", UID_B],
                        ["DEVTYPE", "thunderbolt_device"])
    t.refuse_writes(p, "authorized")
    a = make_agent(main_conf=DEVICES_ALL).start()  # found by the start's scan
    ev = wait_dev(a, "device.block_failed", p)[0]
    assert bed.attr(p, "authorized") == b"1"
    assert ev["decision"]["action"] == "block_failed" and ev["decision"]["error"]
    assert ev["thunderbolt"]["done"] == "deauthorize_refused"


@pytest.mark.parametrize("security", ["dponly", "usbonly", "nopcie"])
def test_tb_no_pcie_levels_are_not_decided(bed, t, make_agent, security):
    """Without PCIe tunnels there is nothing to authorize: USB devices behind
    the dock meet the USB rules. No event, nothing written."""
    t.domain(0, security)
    t.domain(1, "user")
    a = make_agent(main_conf=DEVICES_ALL).start()
    p = make_tb(t, 0, UID_B, authorized="1")
    q = make_tb(t, 1, UID_B)
    wait_dev(a, "device.blocked", q)  # the barrier: domain 0's uevent came first
    assert bed.attr(p, "authorized") == b"1"
    assert [e["device"]["bus_path"] for e in dev_events(a, bus="thunderbolt")] == [name(q)]


def test_tb_not_blocked_category_left_alone(bed, t, make_agent):
    t.domain(0, "user")
    a = make_agent(main_conf='devices = { block = [ "storage", "firewire" ]; };\n').start()
    p = make_tb(t, 0, UID_B)
    _, unit = t.firewire(GUID_B)
    wait_dev(a, "device.blocked", unit)
    assert bed.attr(p, "authorized") == b"0"
    assert dev_events(a, bus="thunderbolt") == []


# ---- Thunderbolt with boltd ----

def test_tb_with_boltd(bed, t, make_agent):
    """boltd owns org.freedesktop.bolt: mamorid leaves authorizing to it, takes
    back what no entry allows once, and when it is authorized again reports
    device.block_failed instead of fighting."""
    from bus_testlib import SystemBus
    bus = SystemBus()
    try:
        bus.conn().request_name("org.freedesktop.bolt")
        t.domain(0, "secure")
        a = make_agent(main_conf=DEVICES_ALL, allow={"20-tb.conf": allow(TB_A)}, extra_env=bus.env()).start()
        a.wait_log("Connected to the system bus")
        pa = make_tb(t, 0, UID_A)
        ev = wait_dev(a, "device.allowed", pa)[0]
        assert bed.attr(pa, "authorized") == b"0"  # boltd's to do, with its key
        assert ev["thunderbolt"] == {"security": "secure", "boltd": True, "done": "left_to_boltd"}

        pb = make_tb(t, 0, UID_B, authorized="2")  # boltd authorized it, with a key
        ev = wait_dev(a, "device.blocked", pb)[0]
        assert bed.attr(pb, "authorized") == b"0\n"
        assert ev["thunderbolt"]["done"] == "deauthorized" and ev["thunderbolt"]["boltd"] is True

        t.write(pb, "authorized", "1")  # boltd (or a person) again
        t.tb.uevent(pb, "change")
        ev = wait_dev(a, "device.block_failed", pb)[0]
        assert ev["thunderbolt"]["done"] == "reauthorized_by_other"
        t.tb.uevent(pb, "change")
        make_tb(t, 0, "00000000-0000-0000-0000-0000000000b2")
        a.wait_events("device.blocked", count=2)
        assert bed.attr(pb, "authorized") == b"1"  # not fought over
        assert len(dev_events(a, "device.block_failed")) == 1

        # Posture: boltd seen
        inspect = a.wait_events("agent.posture")[-1]["posture"]["thunderbolt"]
        assert inspect["domains"][0]["security"] == "secure"
    finally:
        bus.stop()


# ---- reload ----

def test_tb_reload(bed, t, make_agent):
    t.domain(0, "user")
    a = make_agent(main_conf=DEVICES_ALL, allow={"20-tb.conf": allow(TB_A)}).start()
    p = make_tb(t, 0, UID_A)
    wait_dev(a, "device.allowed", p)
    assert bed.attr(p, "authorized") == b"1\n"
    a.write_allow("20-tb.conf", allow(entry("thunderbolt", "unique_id", UID_B, "other")))
    a.reload()
    wait_dev(a, "device.blocked", p)
    assert bed.attr(p, "authorized") == b"0\n"
    a.write_allow("20-tb.conf", allow(TB_A))
    a.reload()
    wait_dev(a, "device.allowed", p, count=2)
    assert bed.attr(p, "authorized") == b"1\n"


# ---- hostile identities ----

@pytest.mark.parametrize("uid", [
    b"d1a3c8f0-5b2e-4c1a-9e77-0a1b2c3d4e5\x07",
    b"d1a3c8f0-5b2e-4c1a-9e77-0a1b2c3d4e5f" + b"0" * 5000,
    b'd1a3c8f0-5b2e-4c1a-9e77-"a1b2c3d4e5f',
    b"d1a3c8f0-5b2e-4c1a-9e77-0a1b2c3d4\xff\xfe",
    b"",
    None,
])
def test_tb_hostile_unique_id(bed, t, make_agent, uid):
    t.domain(0, "user")
    a = make_agent(main_conf=DEVICES_ALL, allow={"20-tb.conf": allow(TB_A)}).start()
    route = t.routes[0]
    t.routes[0] += 1
    attrs = ["authorized", "0", "vendor_name", "x", "device_name", "x"]
    p = t.tb.add_device("thunderbolt", f"0-{route}", t.domains[0][1], attrs, ["DEVTYPE", "thunderbolt_device"])
    if uid is not None:
        t.write(p, "unique_id", uid)
    t.write(p, "vendor_name", b'Evil"\x1b[31m\xff\nVendor')
    t.tb.uevent(p, "change")
    ev = wait_dev(a, "device.blocked", p)[0]
    assert ev["device"]["unique_id"] is None
    assert "full identity" in ev["decision"]["explanation"]
    assert "\x1b" not in ev["device"]["manufacturer"] and "\n" not in ev["device"]["manufacturer"]
    assert bed.attr(p, "authorized") == b"0"
    assert a.running()


# ---- FireWire ----

def test_fw_listed_kept_unlisted_unbound(bed, t, make_agent):
    a = make_agent(main_conf=DEVICES_ALL, allow={"30-fw.conf": allow(FW_A)}).start()
    _, ua = t.firewire(GUID_A)
    ev = wait_dev(a, "device.allowed", ua)[0]
    d = ev["device"]
    assert (d["bus"], d["category"], d["guid"]) == ("firewire", "firewire", GUID_A)
    assert (d["manufacturer"], d["product"]) == ("LaCie", "d2 Quadra")
    assert ev["decision"]["rule"]["label"] == "広報課 FireWire ディスク"
    assert name(ua) not in t.unbound()

    _, audio = t.firewire(GUID_B, spec=AUDIO, bound=False)
    _, ub = t.firewire(GUID_B)
    ev = wait_dev(a, "device.blocked", ub)[0]
    wait_for(lambda: name(ub) in t.unbound(), what="unbind")
    settle()
    assert set(t.unbound()) == {name(ub)}, t.unbound()  # twice at most: see test_fw_hostile_guid
    assert ev["firewire"]["done"] in ("unbound", "none")  # the add may come before the bind
    assert [e["device"]["bus_path"] for e in dev_events(a, bus="firewire")] == [name(ua), name(ub)]


def test_fw_unbound_before_bind(bed, t, make_agent):
    """The unit seen before its driver binds: blocked with nothing to undo,
    then unbound when firewire_sbp2 takes it (its "bind")."""
    a = make_agent(main_conf=DEVICES_ALL).start()
    _, u = t.firewire(GUID_B, bound=False)
    wait_dev(a, "device.blocked", u)
    assert t.unbound() == []
    t.bind(u)
    wait_for(lambda: t.unbound() == [name(u)], what="unbind")  # bound after the add: once
    settle()
    assert len(dev_events(a, bus="firewire")) == 1


def test_fw_reload(bed, t, make_agent):
    a = make_agent(main_conf=DEVICES_ALL, allow={"30-fw.conf": allow(FW_A)}).start()
    _, u = t.firewire(GUID_A)
    wait_dev(a, "device.allowed", u)
    a.write_allow("30-fw.conf", "allow = ( );\n")
    a.reload()
    wait_dev(a, "device.blocked", u)
    assert t.unbound() == [name(u)]
    t.tb.set_property(u, "DRIVER", "")
    probes = len(t.probed())  # the add, before its bind, probed already
    a.write_allow("30-fw.conf", allow(FW_A))
    a.reload()
    wait_dev(a, "device.allowed", u, count=2)
    assert t.probed()[probes:] == [name(u)]


def test_fw_autoprobe_off_while_blocked(bed, t, make_agent):
    """While FireWire storage is blocked the bus binds nothing by itself:
    mamorid probes what it lets in (audio units, allowed disks), a blocked
    disk never gets its driver. A reload that stops blocking turns autoprobe
    back on and probes the disk."""
    a = make_agent(main_conf=DEVICES_ALL, allow={"30-fw.conf": allow(FW_A)}).start()
    assert bed.attr("/sys/bus/firewire", "drivers_autoprobe") == b"0\n"
    _, audio = t.firewire(GUID_B, spec=AUDIO, bound=False)
    _, ok = t.firewire(GUID_A, bound=False)
    _, bad = t.firewire(GUID_B, bound=False)
    wait_dev(a, "device.allowed", ok)
    wait_dev(a, "device.blocked", bad)
    assert t.probed() == [name(audio), name(ok)]
    assert t.unbound() == []
    a.write_conf('devices = { block = [ "storage", "mtp", "ptp", "tethering", "thunderbolt" ]; };\n')
    a.reload()
    wait_for(lambda: bed.attr("/sys/bus/firewire", "drivers_autoprobe") == b"1\n", what="autoprobe on")
    wait_for(lambda: name(bad) in t.probed(), what="the disk probed")


def test_fw_autoprobe_untouched_when_not_blocked(bed, t, make_agent):
    a = make_agent(main_conf='devices = { block = [ "storage", "thunderbolt" ]; };\n').start()
    _, u = t.firewire(GUID_B)
    t.domain(0, "user")
    p = make_tb(t, 0, UID_B)
    wait_dev(a, "device.blocked", p)  # the barrier: the FireWire uevents came first
    assert bed.attr("/sys/bus/firewire", "drivers_autoprobe") == b"1"
    assert t.unbound() == [] and dev_events(a, bus="firewire") == []


@pytest.mark.parametrize("guid", [
    b"0x00010203040506\x07\x08",
    b"0x0001020304050607" + b"7" * 3000,
    b'0x"001020304050607',
    b"0x0001020304050\xff\xfe",
    b"0x0001020304050607\n0x0001020304050607",
])
def test_fw_hostile_guid(bed, t, make_agent, guid):
    a = make_agent(main_conf=DEVICES_ALL, allow={"30-fw.conf": allow(FW_A)}).start()
    _, u = t.firewire(guid)
    ev = wait_dev(a, "device.blocked", u)[0]
    assert ev["device"]["guid"] is None
    # (twice at most: the fake unbind drops the link a moment after the write)
    wait_for(lambda: name(u) in t.unbound(), what="unbind")
    settle()
    assert set(t.unbound()) == {name(u)}
    assert a.running()


# ---- posture ----

def test_posture_security_and_firewire_host(bed, t, make_agent):
    t.domain(0, "none")
    t.domain(1, "user")
    os.makedirs(os.path.join(bed.root, "sys/module/firewire_ohci"), exist_ok=True)
    a = make_agent(main_conf=DEVICES_ALL).start()
    p = a.wait_events("agent.posture")[0]["posture"]
    doms = {d["name"]: d for d in p["thunderbolt"]["domains"]}
    assert doms["domain0"]["security"] == "none" and doms["domain1"]["security"] == "user"
    assert doms["domain0"]["iommu_dma_protection"] is True
    assert p["thunderbolt"]["boltd"] is None
    assert p["firewire"]["host_drivers"] == ["firewire_ohci"]
    c = {x["id"]: x for x in p["checks"]}
    assert c["thunderbolt.security"]["verdict"] == "ng"
    assert c["thunderbolt.security"]["value"] == "domain0=none domain1=user"
    assert c["firewire.host_driver"]["verdict"] == "check"
    assert p["verdict"] == "ng"


def test_posture_secure_level_ok(bed, t, make_agent):
    t.domain(0, "secure")
    a = make_agent(main_conf=DEVICES_ALL).start()
    p = a.wait_events("agent.posture")[0]["posture"]
    c = {x["id"]: x for x in p["checks"]}
    assert c["thunderbolt.security"]["verdict"] == "ok", c["thunderbolt.security"]


# ---- expiry ----

def test_entry_ends_while_plugged(bed, t, make_agent):
    """An entry with an RFC 3339 end: the dock authorized under it is taken
    back at that moment, without any uevent, and the FireWire disk unbound."""
    import datetime
    import time
    tz = datetime.timezone(datetime.timedelta(hours=9))
    at = (datetime.datetime.now(tz) + datetime.timedelta(seconds=3)).replace(microsecond=0)
    t.domain(0, "user")
    a = make_agent(main_conf=DEVICES_ALL, allow={"20-loan.conf": allow(
        entry("thunderbolt", "unique_id", UID_A, "一時貸出").replace("}", f'expires = "{at.isoformat()}"; }}'),
        entry("firewire", "guid", GUID_A, "一時貸出").replace("}", f'expires = "{at.isoformat()}"; }}'))}).start()
    p = make_tb(t, 0, UID_A)
    _, u = t.firewire(GUID_A)
    wait_dev(a, "device.allowed", p)
    wait_dev(a, "device.allowed", u)
    assert bed.attr(p, "authorized") == b"1\n" and t.unbound() == []
    ev = wait_dev(a, "device.blocked", p)[0]
    assert time.time() >= at.timestamp() - 0.01
    assert ev["decision"]["reason"] == "expired" and ev["decision"]["rule"]["expires"] == at.isoformat()
    assert bed.attr(p, "authorized") == b"0\n"
    wait_dev(a, "device.blocked", u)
    wait_for(lambda: t.unbound() == [name(u)], what="unbind at expiry")


# ---- mamorictl devices ----

def test_mamorictl_devices_lists_both_buses(bed, t, make_agent):
    import json
    from test_mamorictl import ctl
    t.domain(0, "user")
    a = make_agent(main_conf=DEVICES_ALL, allow={"20-tb.conf": allow(TB_A)}).start()
    pa = make_tb(t, 0, UID_A)
    pb = make_tb(t, 0, UID_B)
    _, u = t.firewire(GUID_B)
    wait_dev(a, "device.allowed", pa)
    wait_dev(a, "device.blocked", pb)
    wait_dev(a, "device.blocked", u)
    r = ctl(a, "devices", "--json")
    assert r.returncode == 0, r.stderr
    devs = {d["device"]["bus_path"]: d for d in json.loads(r.stdout) if d["device"].get("bus") != "usb"
            and "bus" in d["device"]}
    assert devs[name(pa)]["device"]["unique_id"] == UID_A
    assert devs[name(pa)]["decision"]["action"] == "allowed"
    assert devs[name(pa)]["decision"]["rule"]["label"] == "総務課 ドック 1"
    assert devs[name(pb)]["decision"]["action"] == "blocked"
    assert devs[name(pb)]["decision"]["reason"] == "unknown"
    assert devs[name(u)]["device"]["guid"] == GUID_B and devs[name(u)]["decision"]["action"] == "blocked"
    r = ctl(a, "devices", "--wide")
    assert r.returncode == 0, r.stderr
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln.strip()}
    assert UID_A in lines[name(pa)] and "allowed" in lines[name(pa)] and "20-tb.conf:2" in lines[name(pa)]
    assert GUID_B in lines[name(u)] and "blocked" in lines[name(u)]
