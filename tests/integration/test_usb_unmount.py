# SPDX-License-Identifier: MIT
"""Blocking a stick in use (agent/usb/usb-unmount.c): its file systems are
unmounted first, through systemd, and only then is it de-authorized.

Real parts: mamorid runs in a mount namespace of its own (unshare -m), where
the test mounts an ext4 image through a loop device that stands for the
stick's file system; the stick's block device in umockdev's sysfs carries
that loop device's major:minor. systemd
is python3-dbusmock on a private system bus; its StopUnit really unmounts,
inside mamorid's namespace (nsenter), as systemd's umount(8) would on the
host. The approval is withdrawn by a reload."""
import json
import os
import subprocess
import time

import dbus
import pytest

from bus_testlib import MOCK, SystemBus, Systemd
from usb_support import allow_file, entry

MAIN_OBJ = "/org/freedesktop/systemd1"
MAIN_IFACE = "org.freedesktop.systemd1.Manager"
SERIAL = "MOUNTED01"
# The real /dev for mount and losetup: umockdev's preload would show them its own.
HOST_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}

# StopUnit of the mock: answers a job, and unmounts the path the test put in
# the map file for that unit (in mamorid's namespace); "fail" in the map is a
# D-Bus error instead, "busy" a job that leaves the mount where it is.
STOP_UNIT = """
import json, os, subprocess, time
m = json.load(open(%(map)r))
name = args[0]
with open(%(log)r, "a") as f:
    f.write(json.dumps({"unit": name, "mode": args[1], "time": time.time()}) + "\\n")
what = m.get(name)
if what is None:
    raise dbus.exceptions.DBusException("Unit %%s not loaded." %% name, name="org.freedesktop.systemd1.NoSuchUnit")
if what == "fail":
    raise dbus.exceptions.DBusException("Access denied", name="org.freedesktop.DBus.Error.AccessDenied")
if what != "busy":
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    subprocess.run(["nsenter", "-t", str(m["pid"]), "-m", "umount", what], check=True, timeout=10, env=env)
ret = dbus.ObjectPath("/org/freedesktop/systemd1/job/%%d" %% (int(time.time() * 1000) %% 100000))
"""


@pytest.fixture
def bus():
    b = SystemBus()
    yield b
    b.stop()


def mountinfo(pid):
    with open(f"/proc/{pid}/mountinfo") as f:
        return f.read()


def mount_of(pid, path):
    """major:minor of the mount at path in pid's namespace, or None."""
    for line in mountinfo(pid).splitlines():
        fields = line.split()
        if fields[4] == path:
            return fields[2]
    return None


def unit_name(path):
    return subprocess.run(["systemd-escape", "--path", "--suffix=mount", path], check=True,
                          capture_output=True, text=True, timeout=10).stdout.strip()


def mounted_stick(bed, make_agent, bus, tmp_path, what):
    """An approved stick, bound, with a block device whose file system is
    mounted in mamorid's namespace; StopUnit does `what` ("umount", "fail",
    "busy"). Returns (agent, dev, mount point, unit, stop log)."""
    Systemd(bus)
    a = make_agent(allow={"10-loan.conf": allow_file(entry("0781", "5567", serial=SERIAL, label="loan"))},
                   extra_env=bus.env())
    a.start(wrapper=["unshare", "--mount", "--propagation", "private"])
    pid = a.proc.pid
    mnt = os.path.join(a.dir, "stick")
    os.mkdir(mnt)
    # A real file system on a loop device (sd-device gives no devnum of major
    # 0, so a tmpfs would not do); mount sets autoclear: the loop device goes
    # with the last mount, at the latest with mamorid's namespace.
    img = os.path.join(a.dir, "stick.img")
    with open(img, "wb") as f:
        f.truncate(4 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True, timeout=60)
    subprocess.run(["nsenter", "-t", str(pid), "-m", "mount", "-o", "loop", img, mnt], check=True, timeout=30,
                   env=HOST_ENV)
    majmin = mount_of(pid, mnt)
    assert majmin and mount_of(os.getpid(), mnt) is None, "the mount is mamorid's alone"
    unit = unit_name(mnt)
    stops = str(tmp_path / "stops.ndjson")
    umap = str(tmp_path / "units.json")
    with open(umap, "w") as f:
        json.dump({"pid": pid, unit: mnt if what == "umount" else what}, f)
    bus_obj = dbus.Interface(bus.conn().get_object("org.freedesktop.systemd1", MAIN_OBJ), MOCK)
    bus_obj.AddMethod(MAIN_IFACE, "StopUnit", "ss", "o", STOP_UNIT % {"map": umap, "log": stops})

    dev, ifaces = bed.add_usb("0781", "5567", serial=SERIAL)
    a.wait_events("usb.allowed")
    bed.bind_driver(ifaces[0], "usb-storage")
    major, minor = majmin.split(":")
    host = bed.tb.add_device("scsi", "host7", ifaces[0], [], ["DEVTYPE", "scsi_host"])
    bed.tb.add_device("block", "sdz", host, ["dev", majmin, "size", "128"],
                      ["MAJOR", major, "MINOR", minor, "DEVNAME", "/dev/sdz", "DEVTYPE", "disk"])
    return a, pid, dev, ifaces, mnt, unit, stops


def withdraw(a):
    """The approval ends: the allow file goes, and a reload."""
    os.unlink(os.path.join(a.allow_dir, "10-loan.conf"))
    a.reload()


def stop_calls(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(x) for x in f]


def test_a_mounted_stick_is_unmounted_through_systemd_then_blocked(bed, make_agent, bus, tmp_path):
    a, pid, dev, ifaces, mnt, unit, stops = mounted_stick(bed, make_agent, bus, tmp_path, "umount")
    withdraw(a)
    ev = a.wait_events("usb.blocked", timeout=15)[0]
    calls = stop_calls(stops)
    assert [c["unit"] for c in calls] == [unit], a.log()
    assert mount_of(pid, mnt) is None, "the file system was unmounted"
    assert bed.authorized(ifaces[0]) == "0", "blocked after the unmount"
    um = ev["unmount"]
    assert um["result"] == "unmounted", um
    assert [m["path"] if isinstance(m, dict) else m for m in um["mounts"]] == [mnt], um
    assert not um.get("still_mounted"), um
    assert "its file systems were unmounted first: unmounted" in ev["message"]
    assert "unmounting them first" in a.log()


def test_a_stop_refused_by_systemd_still_blocks_within_the_bound(bed, make_agent, bus, tmp_path):
    a, pid, dev, ifaces, mnt, unit, stops = mounted_stick(bed, make_agent, bus, tmp_path, "fail")
    t0 = time.monotonic()
    withdraw(a)
    ev = a.wait_events("usb.blocked", timeout=25)[0]
    took = time.monotonic() - t0
    assert took < 15, f"blocked after {took:.1f} s: the wait is bounded (10 s)"
    assert bed.authorized(ifaces[0]) == "0"
    assert mount_of(pid, mnt) is not None, "nothing unmounted it"
    calls = stop_calls(stops)
    assert calls and all(c["unit"] == unit for c in calls), calls
    um = ev["unmount"]
    assert um["result"] != "unmounted", um
    assert mnt in json.dumps(um.get("still_mounted")), um


def test_a_mount_that_stays_busy_is_asked_again_then_the_stick_is_blocked(bed, make_agent, bus, tmp_path):
    a, pid, dev, ifaces, mnt, unit, stops = mounted_stick(bed, make_agent, bus, tmp_path, "busy")
    withdraw(a)
    ev = a.wait_events("usb.blocked", timeout=25)[0]
    assert bed.authorized(ifaces[0]) == "0"
    calls = stop_calls(stops)
    assert len(calls) >= 2, f"a mount still there is asked again: {calls}"
    assert ev["unmount"]["result"] == "timeout", ev["unmount"]
