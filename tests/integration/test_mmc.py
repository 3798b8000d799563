# SPDX-License-Identifier: MIT
"""Issue 14 item 2: SD/MMC cards in built-in readers, the real mamorid under
umockdev. The mmc bus has no `authorized`: every assertion reads the bus files
mamorid wrote (drivers_autoprobe, drivers_probe, drivers/mmcblk/unbind) and
the device.* events it recorded (docs/devices-mmc.md)."""

import itertools
import os
import re
import shutil

import pytest

from mamori_testlib import wait_for
from usb_support import settle

# What QEMU's sd-card says of itself (hw/sd/sd.c: MID 0xaa, OID "XY", PNM "QEMU!").
CARD = {"type": "SD", "manfid": "0x0000aa", "oemid": "0x5859", "name": "QEMU!",
        "serial": "0xdeadbeef", "date": "02/2006"}
OTHER = dict(CARD, serial="0x12345678")

_cards = itertools.count(1)


def mmc_entry(card, label="総務課 SDカード 1", expires=None):
    keys = ("manfid", "oemid", "name", "serial", "date")
    parts = ['bus = "mmc";'] + [f'{k} = "{card[k]}";' for k in keys]
    parts += [f'label = "{label}";', 'approved_by = "情報セキュリティ管理者 山田";',
              'approved_on = "2026-04-01";', 'ticket = "SEC-2026-0101";']
    if expires:
        parts.append(f'expires = "{expires}";')
    return "allow = (\n  { " + " ".join(parts) + " }\n);\n"


class MmcBed:
    """An sdhci controller with one host on the UsbBed's testbed, and the mmc
    bus's files as plain files (drivers_probe and unbind opened O_APPEND: a
    log of every name written)."""

    def __init__(self, bed):
        self.bed = bed
        self.bus = os.path.join(bed.root, "sys/bus/mmc")
        os.makedirs(os.path.join(self.bus, "drivers/mmcblk"), exist_ok=True)
        with open(os.path.join(self.bus, "drivers_autoprobe"), "w") as f:
            f.write("1\n")
        for p in ("drivers_probe", "drivers/mmcblk/unbind", "drivers/mmcblk/bind"):
            open(os.path.join(self.bus, p), "w").close()
        self.pci = bed.tb.add_device("pci", "0000:00:1e.6", None, ["vendor", "0x8086", "class", "0x080501"], [])
        self.host = bed.tb.add_device("mmc_host", "mmc0", self.pci, [], [])

    def file(self, name):
        with open(os.path.join(self.bus, name), "rb") as f:
            return f.read()

    def autoprobe(self):
        return self.file("drivers_autoprobe")

    def probed(self):
        return self.file("drivers_probe").decode().split()

    def unbound(self):
        return self.file("drivers/mmcblk/unbind").decode().split()

    def add_card(self, card, bound=False, raw=()):
        """A card as the mmc core adds it; raw: (attr, bytes) written byte for
        byte after (hostile CIDs). bound: mmcblk bound already (no hold)."""
        name = f"mmc0:{next(_cards):04x}"
        attrs = []
        for k in ("type", "manfid", "oemid", "name", "serial", "date"):
            if card.get(k) is not None:
                attrs += [k, card[k]]
        props = ["MMC_TYPE", card.get("type") or "", "MODALIAS", "mmc:block"]
        if bound:
            props += ["DRIVER", "mmcblk"]
        dev = self.bed.tb.add_device("mmc", name, self.host, attrs, props)
        for k, v in raw:
            self.bed.write_raw(dev, k, v)
        if bound:
            os.symlink(os.path.join(self.bus, "drivers/mmcblk"), self.bed.sys(dev, "driver"))
        if raw or bound:
            self.bed.tb.uevent(dev, "change")  # the attributes now read as written
        return dev, name

    def bind(self, dev):
        """What the kernel does after a drivers_probe that binds mmcblk."""
        link = self.bed.sys(dev, "driver")
        if not os.path.lexists(link):
            os.symlink(os.path.join(self.bus, "drivers/mmcblk"), link)
        self.bed.tb.set_property(dev, "DRIVER", "mmcblk")
        self.bed.tb.uevent(dev, "bind")

    def remove(self, dev):
        self.bed.tb.uevent(dev, "remove")
        self.bed.tb.remove_device(dev)


@pytest.fixture
def mmc(bed):
    return MmcBed(bed)


def dev_events(agent, kind=None, name=None):
    return [e for e in agent.events(kind) if e["kind"].startswith("device.") and e["device"]["bus"] == "mmc"
            and (name is None or e["device"]["bus_path"] == name)]


def check_card_event(ev, kind, card, name):
    assert ev["kind"] == kind, ev
    d = ev["device"]
    assert d["bus"] == "mmc" and d["category"] == "mmc", d
    assert d["bus_path"] == name, d
    for k in ("manfid", "oemid", "name", "serial", "date"):
        assert d[k] == card[k], (k, d)
    assert ev["decision"]["action"] == kind.split(".")[1], ev
    assert ev["decision"]["explanation"], ev


def test_unlisted_card_is_held_and_blocked(bed, mmc, make_agent):
    a = make_agent().start()
    # mamorid holds every card back from its driver from the start.
    assert mmc.autoprobe() == b"0\n"
    dev, name = mmc.add_card(CARD)
    ev = a.wait_events("device.blocked")[0]
    check_card_event(ev, "device.blocked", CARD, name)
    assert ev["decision"]["reason"] == "unknown"
    assert name not in mmc.probed() and mmc.unbound() == []


def test_listed_card_is_bound(bed, mmc, make_agent):
    a = make_agent(allow={"20-sd.conf": mmc_entry(CARD)}).start()
    dev, name = mmc.add_card(CARD)
    ev = a.wait_events("device.allowed")[0]
    check_card_event(ev, "device.allowed", CARD, name)
    assert ev["decision"]["rule"]["file"].endswith("allow.d/20-sd.conf")
    assert ev["decision"]["rule"]["label"] == "総務課 SDカード 1"
    assert mmc.probed() == [name]
    # The kernel binds it: nothing more to do, nothing more to say.
    mmc.bind(dev)
    # Another card, same model, another serial: blocked.
    dev2, name2 = mmc.add_card(OTHER)
    ev2 = a.wait_events("device.blocked")[0]
    check_card_event(ev2, "device.blocked", OTHER, name2)
    assert mmc.probed() == [name] and mmc.unbound() == []
    assert len(dev_events(a, "device.allowed")) == 1


def test_sdio_card_is_never_touched(bed, mmc, make_agent):
    a = make_agent().start()
    sdio = dict(CARD, type="SDIO", manfid=None, oemid=None, name=None, serial=None, date=None)
    mmc.add_card(sdio, bound=True)
    # A storage card after it: once its event is in, the SDIO card was handled.
    dev, name = mmc.add_card(CARD)
    a.wait_events("device.blocked", pred=lambda e: e["device"]["bus_path"] == name)
    assert len(dev_events(a)) == 1, dev_events(a)
    assert mmc.unbound() == [] and mmc.probed() == []


def test_emmc_is_bound_not_decided(bed, mmc, make_agent):
    """type MMC: the eMMC on the board (docs/devices-mmc.md), never held."""
    emmc = dict(CARD, type="MMC", name="BJTD4R", oemid="0x0100", manfid="0x000015")
    dev0, name0 = mmc.add_card(emmc)  # at boot, left unbound
    a = make_agent().start()
    dev1, name1 = mmc.add_card(emmc)  # plugged later (a hot-plugged eMMC reader)
    dev, name = mmc.add_card(CARD)
    a.wait_events("device.blocked", pred=lambda e: e["device"]["bus_path"] == name)
    assert sorted(mmc.probed()) == sorted([name0, name1]), mmc.probed()
    assert [e["device"]["bus_path"] for e in dev_events(a)] == [name]
    # A reload does not bind it again (an admin's unbind stays).
    a.reload()
    settle()
    assert sorted(mmc.probed()) == sorted([name0, name1])


def test_card_bound_before_the_hold_is_unbound(bed, mmc, make_agent):
    """A card the driver took before mamorid started (or before the hold)."""
    dev, name = mmc.add_card(CARD, bound=True)
    a = make_agent().start()
    ev = a.wait_events("device.blocked")[0]
    check_card_event(ev, "device.blocked", CARD, name)
    assert mmc.unbound() == [name]
    assert ev["device"]["driver"] == "mmcblk"


def test_reload_both_ways(bed, mmc, make_agent):
    a = make_agent().start()
    dev, name = mmc.add_card(CARD)
    a.wait_events("device.blocked")
    assert mmc.probed() == []

    # An entry added: the plugged card is bound, one event.
    a.write_allow("20-sd.conf", mmc_entry(CARD))
    a.reload()
    ev = a.wait_events("device.allowed")[0]
    check_card_event(ev, "device.allowed", CARD, name)
    assert mmc.probed() == [name]
    mmc.bind(dev)
    kinds = [e["kind"] for e in a.events() if e["kind"] in ("agent.config_changed", "device.allowed")]
    assert kinds.index("agent.config_changed") < kinds.index("device.allowed"), kinds

    # The same policy again: nothing changes, nothing is said.
    a.reload()
    settle()
    assert len(dev_events(a, "device.allowed")) == 1

    # The entry removed: the card is unbound, one event.
    os.unlink(os.path.join(a.allow_dir, "20-sd.conf"))
    a.reload()
    ev = a.wait_events("device.blocked", count=2)[1]
    check_card_event(ev, "device.blocked", CARD, name)
    assert mmc.unbound() == [name]


def test_category_not_blocked(bed, mmc, make_agent):
    a = make_agent(main_conf='devices = { block = [ "optical-write" ]; };\n').start()
    dev, name = mmc.add_card(CARD)
    ev = a.wait_events("device.allowed")[0]
    assert ev["decision"]["reason"] == "category_not_blocked", ev
    assert mmc.probed() == [name]


def test_removed_card_is_forgotten(bed, mmc, make_agent):
    a = make_agent(allow={"20-sd.conf": mmc_entry(CARD)}).start()
    dev, name = mmc.add_card(CARD)
    a.wait_events("device.allowed")
    mmc.bind(dev)
    mmc.remove(dev)
    # Removing the entry now changes nothing for a card that is gone.
    os.unlink(os.path.join(a.allow_dir, "20-sd.conf"))
    a.reload()
    dev2, name2 = mmc.add_card(OTHER)
    a.wait_events("device.blocked", pred=lambda e: e["device"]["bus_path"] == name2)
    assert mmc.unbound() == []
    assert [e["device"]["bus_path"] for e in dev_events(a, "device.blocked")] == [name2]


HOSTILE = [
    ("control", "name", b"SD\x1b[2J\x07"),
    ("newline", "serial", b"0xdeadbeef\n0x00000000"),
    ("overlong", "name", b"A" * 5000),
    ("quote", "name", b'QE"MU!'),
    ("utf8", "name", b"\xff\xfe\xc3("),
    ("manfid-text", "manfid", b"0x0000aa; rm -rf /"),
    ("empty", "oemid", b""),
]


@pytest.mark.parametrize("label,attr,value", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_cid_is_blocked(bed, mmc, make_agent, label, attr, value):
    """A card whose CID is malformed has no identity: even an entry for the
    card it imitates does not match, and its event carries null, never the
    raw bytes."""
    # Plugged before mamorid starts, so that the only reading is the hostile
    # one (umockdev's own "add" would carry the well-formed value first).
    dev, name = mmc.add_card(CARD, raw=[(attr, value)])
    a = make_agent(allow={"20-sd.conf": mmc_entry(CARD)}).start()
    ev = a.wait_events("device.blocked", pred=lambda e: e["device"]["bus_path"] == name)[0]
    d = ev["device"]
    assert d[attr] is None, d
    assert ev["decision"]["explanation"].startswith("the device does not give its full identity"), ev
    assert name not in mmc.probed()
    if attr == "name" and d.get("product") is not None:
        p = d["product"]
        assert len(p) <= 256 and "\x1b" not in p and "\x07" not in p, p
    # mamorid's own log stays one line per message.
    wait_for(lambda: a.running(), 1, what="mamorid running")


def test_autoprobe_not_writable_is_reported(bed, mmc, make_agent):
    os.unlink(os.path.join(mmc.bus, "drivers_autoprobe"))
    os.mkdir(os.path.join(mmc.bus, "drivers_autoprobe"))  # write fails: EISDIR
    a = make_agent().start()
    a.wait_log("Cannot write /sys/bus/mmc/drivers_autoprobe")
    # A card that bound by itself meanwhile is unbound when seen.
    dev, name = mmc.add_card(CARD, bound=True)
    a.wait_events("device.blocked", pred=lambda e: e["device"]["bus_path"] == name)
    # (umockdev keeps the driver link: each later uevent unbinds once more)
    wait_for(lambda: name in mmc.unbound(), 5, what="unbind")


# ---- the udev rule (units/70-mamori.rules, block 5), by udev's own engine ----

@pytest.fixture
def udev_rule():
    if os.geteuid() != 0 or not shutil.which("udevadm") or not os.path.isdir("/etc/udev/rules.d"):
        pytest.skip("needs root and udev")
    from test_udev_rule import rule_problems, udevadm_test
    return udevadm_test, rule_problems


@pytest.mark.parametrize("what", ["host", "card"])
def test_udev_rule_holds_cards(bed, mmc, udev_rule, what):
    udevadm_test, rule_problems = udev_rule
    target = mmc.host if what == "host" else mmc.add_card(CARD)[0]
    assert mmc.autoprobe() == b"1\n"
    out = udevadm_test(bed, target)
    assert rule_problems(out) == [], out
    assert re.search(r"70-mamori\.rules:\d+ ATTR '.*/bus/mmc/drivers_autoprobe' writing '0'", out), out
    assert mmc.autoprobe()[:1] == b"0"
    # Nothing else: no card is bound or unbound by the rule.
    assert mmc.probed() == [] and mmc.unbound() == []


def test_udev_rule_binds_emmc(bed, mmc, udev_rule):
    """The board's eMMC (type MMC) may hold the root file system: bound at
    once, in the initramfs too, whatever the hold."""
    udevadm_test, rule_problems = udev_rule
    dev, name = mmc.add_card(dict(CARD, type="MMC", name="BJTD4R", oemid="0x0100", manfid="0x000015"))
    out = udevadm_test(bed, dev)
    assert rule_problems(out) == [], out
    assert mmc.autoprobe()[:1] == b"0"
    assert mmc.probed() == [name], out


def test_udev_rule_change_does_nothing(bed, mmc, udev_rule):
    udevadm_test, _ = udev_rule
    udevadm_test(bed, mmc.host, action="change")
    assert mmc.autoprobe() == b"1\n"


# ---- a card in use: unmounted through systemd first (agent/usb/usb-unmount.c) ----

@pytest.fixture
def sysbus():
    from bus_testlib import SystemBus
    b = SystemBus()
    yield b
    b.stop()


def mounted_card(bed, mmc, make_agent, sysbus, tmp_path, what):
    """An allowed card, bound, whose block device (a loop device standing for
    mmcblk) is mounted in mamorid's namespace; StopUnit does `what`."""
    import json
    import subprocess

    import dbus
    from bus_testlib import MOCK, Systemd
    from test_usb_unmount import HOST_ENV, MAIN_IFACE, MAIN_OBJ, STOP_UNIT, mount_of, unit_name

    Systemd(sysbus)
    a = make_agent(allow={"20-sd.conf": mmc_entry(CARD)}, extra_env=sysbus.env())
    a.start(wrapper=["unshare", "--mount", "--propagation", "private"])
    pid = a.proc.pid
    mnt = os.path.join(a.dir, "card")
    os.mkdir(mnt)
    img = os.path.join(a.dir, "card.img")
    with open(img, "wb") as f:
        f.truncate(4 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True, timeout=60)
    subprocess.run(["nsenter", "-t", str(pid), "-m", "mount", "-o", "loop", img, mnt], check=True, timeout=30,
                   env=HOST_ENV)
    majmin = mount_of(pid, mnt)
    assert majmin, "mounted"
    unit = unit_name(mnt)
    stops = str(tmp_path / "stops.ndjson")
    umap = str(tmp_path / "units.json")
    with open(umap, "w") as f:
        json.dump({"pid": pid, unit: mnt if what == "umount" else what}, f)
    bus_obj = dbus.Interface(sysbus.conn().get_object("org.freedesktop.systemd1", MAIN_OBJ), MOCK)
    bus_obj.AddMethod(MAIN_IFACE, "StopUnit", "ss", "o", STOP_UNIT % {"map": umap, "log": stops})

    dev, name = mmc.add_card(CARD)
    a.wait_events("device.allowed")
    mmc.bind(dev)
    major, minor = majmin.split(":")
    bed.tb.add_device("block", "mmcblk9", dev, ["dev", majmin, "size", "8192"],
                      ["MAJOR", major, "MINOR", minor, "DEVNAME", "/dev/mmcblk9", "DEVTYPE", "disk"])
    return a, pid, dev, name, mnt, unit, stops


def stop_calls(path):
    import json
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(x) for x in f]


def test_mounted_card_is_unmounted_then_unbound(bed, mmc, make_agent, sysbus, tmp_path):
    from test_usb_unmount import mount_of
    a, pid, dev, name, mnt, unit, stops = mounted_card(bed, mmc, make_agent, sysbus, tmp_path, "umount")
    os.unlink(os.path.join(a.allow_dir, "20-sd.conf"))
    a.reload()
    ev = a.wait_events("device.blocked", timeout=15)[0]
    assert [c["unit"] for c in stop_calls(stops)] == [unit], a.log()
    assert mount_of(pid, mnt) is None, "the file system was unmounted"
    assert mmc.unbound() == [name], "unbound after the unmount"
    um = ev["unmount"]
    assert um["result"] == "unmounted", um
    assert "its file systems were unmounted first: unmounted" in ev["message"]
    assert "unmounting them first" in a.log()


def test_mounted_card_refused_unmount_is_unbound_within_the_bound(bed, mmc, make_agent, sysbus, tmp_path):
    import time
    from test_usb_unmount import mount_of
    a, pid, dev, name, mnt, unit, stops = mounted_card(bed, mmc, make_agent, sysbus, tmp_path, "fail")
    t0 = time.monotonic()
    os.unlink(os.path.join(a.allow_dir, "20-sd.conf"))
    a.reload()
    ev = a.wait_events("device.blocked", timeout=25)[0]
    assert time.monotonic() - t0 < 15, "the wait is bounded (10 s)"
    assert mmc.unbound() == [name]
    assert mount_of(pid, mnt) is not None, "nothing unmounted it"
    assert ev["unmount"]["result"] != "unmounted", ev["unmount"]


# ---- mamorictl devices ----

def test_mamorictl_lists_cards(bed, mmc, make_agent):
    import json
    import subprocess
    ctl = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))
    a = make_agent(allow={"20-sd.conf": mmc_entry(CARD)}).start()
    dev, name = mmc.add_card(CARD)
    dev2, name2 = mmc.add_card(OTHER)
    mmc.add_card(dict(CARD, type="MMC", name="BJTD4R"))  # the eMMC: not listed
    a.wait_events("device.blocked", pred=lambda e: e["device"]["bus_path"] == name2)
    sock = os.path.join(a.runtime, "control")
    out = subprocess.run([ctl, "--socket", sock, "--json", "devices"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    cards = {d["device"]["bus_path"]: d for d in json.loads(out.stdout) if d["device"].get("bus") == "mmc"}
    assert set(cards) == {name, name2}, cards
    assert cards[name]["decision"]["action"] == "allowed"
    assert cards[name]["decision"]["rule"]["label"] == "総務課 SDカード 1"
    assert cards[name2]["decision"]["action"] == "blocked"
    assert cards[name2]["device"]["serial"] == OTHER["serial"]
    out = subprocess.run([ctl, "--socket", sock, "devices", "--wide"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    row = [line for line in out.stdout.splitlines() if line.startswith(name2)]
    assert row and "0x0000aa:0x5859:QEMU!" in row[0] and OTHER["serial"] in row[0] and "blocked" in row[0], out.stdout


def test_approval_expiry_unbinds_the_card(bed, mmc, make_agent):
    """An approval that ends at a given second: the plugged card is unbound
    then, without a reload (the expiry timer)."""
    import datetime
    end = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)).replace(microsecond=0)
    a = make_agent(allow={"20-sd.conf": mmc_entry(CARD, expires=end.isoformat())}).start()
    dev, name = mmc.add_card(CARD)
    a.wait_events("device.allowed")
    assert mmc.probed() == [name]
    mmc.bind(dev)
    ev = a.wait_events("device.blocked", timeout=15)[0]
    assert ev["decision"]["reason"] == "expired", ev
    assert datetime.datetime.now(datetime.timezone.utc) >= end
    assert mmc.unbound() == [name]


def test_fail_closed_blocks_every_card(bed, mmc, make_agent):
    """No valid configuration: every category is blocked, entries or not."""
    a = make_agent(main_conf='devices = { block = [ "no-such-category" ]; };\n',
                   allow={"20-sd.conf": mmc_entry(CARD)}).start()
    dev, name = mmc.add_card(CARD)
    ev = a.wait_events("device.blocked")[0]
    assert ev["decision"]["fail_closed"] is True, ev
    assert ev["decision"]["reason"] == "no_valid_policy", ev
    assert mmc.probed() == []


def test_unbind_refused_is_block_failed(bed, mmc, make_agent):
    """The kernel refuses the unbind (here: the file cannot be written): the
    event says the card could not be blocked."""
    unbind = os.path.join(mmc.bus, "drivers/mmcblk/unbind")
    os.unlink(unbind)
    os.mkdir(unbind)
    dev, name = mmc.add_card(CARD, bound=True)
    a = make_agent().start()
    ev = a.wait_events("device.block_failed")[0]
    assert ev["decision"]["action"] == "block_failed", ev
    assert ev["decision"]["error"], ev
    assert ev["device"]["bus_path"] == name
    assert "Cannot unbind SD/MMC card" in a.log()
