# SPDX-License-Identifier: MIT
"""Issue 14, item 1: read-only approvals in mamorid under umockdev. Before it
authorizes the storage interface of an allowed stick, mamorid writes the
decision mamori-block-access reads (<runtime>/readonly/<bus path>, root's,
0600); the event's decision says the access; the file goes with the device
or with the approval; a decision that cannot be written keeps a read-only
stick blocked."""

import os
import stat
import time

from mamori_testlib import wait_for
from usb_support import allow_file, entry, sysname, wait_authorized

RO = entry("0781", "5567", serial="RO0001", label="外部提出物 読取用").replace(" }", ' access = "read-only"; }')
RW = entry("0781", "5567", serial="RW0001")


def decision_path(a, dev):
    return os.path.join(a.runtime, "readonly", sysname(dev))


def read_decision(path):
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600
    with open(path) as f:
        return f.read()


def test_read_only_stick(bed, make_agent):
    a = make_agent(allow={"10-ro.conf": allow_file(RO, RW)}).start()
    dev, ifs = bed.add_usb("0781", "5567", serial="RO0001", iface_authorized=None)
    ev = a.wait_events("usb.allowed")[0]
    assert ev["decision"]["access"] == "read-only"
    assert ev["decision"]["rule"]["label"] == "外部提出物 読取用"
    wait_authorized(bed, ifs[0], "1")
    devnum = bed.attr(dev, "devnum").decode().strip()
    assert read_decision(decision_path(a, dev)) == f"access=read-only\ndevnum={devnum}\n"
    st = os.stat(os.path.join(a.runtime, "readonly"))
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0

    # a read-write stick on the next port: its decision says so
    dev2, ifs2 = bed.add_usb("0781", "5567", serial="RW0001", iface_authorized=None)
    ev = a.wait_events("usb.allowed", count=2)[1]
    assert ev["decision"]["access"] == "read-write"
    assert read_decision(decision_path(a, dev2)).startswith("access=read-write\n")

    # unplugged: its decision goes with it
    bed.remove(dev, ifs)
    wait_for(lambda: not os.path.exists(decision_path(a, dev)), 10, what="the decision removed")
    assert os.path.exists(decision_path(a, dev2))


def test_unknown_stick_has_no_decision(bed, make_agent):
    a = make_agent(allow={"10-ro.conf": allow_file(RO)}).start()
    dev, ifs = bed.add_usb("0781", "5567", serial="OTHER", iface_authorized=None)
    ev = a.wait_events("usb.blocked")[0]
    assert "access" not in ev["decision"]
    assert not os.path.exists(decision_path(a, dev))
    assert bed.authorized(ifs[0]) == "0"


def test_withdrawn_approval_removes_the_decision(bed, make_agent):
    a = make_agent(allow={"10-ro.conf": allow_file(RO)}).start()
    dev, ifs = bed.add_usb("0781", "5567", serial="RO0001", iface_authorized=None)
    a.wait_events("usb.allowed")
    assert os.path.exists(decision_path(a, dev))
    # read-only -> read-write by a reload: rewritten
    a.write_allow("10-ro.conf", allow_file(RO.replace("read-only", "read-write")))
    a.reload()
    wait_for(lambda: read_decision(decision_path(a, dev)).startswith("access=read-write\n"), 10,
             what="the decision rewritten")
    # withdrawn: gone
    a.write_allow("10-ro.conf", allow_file(RW))
    a.reload()
    wait_for(lambda: not os.path.exists(decision_path(a, dev)), 10, what="the decision removed")


def test_unwritable_decision_keeps_it_blocked(bed, make_agent):
    """The decision cannot be written (a file where its directory should be):
    the read-only stick is not let in; a read-write one still is."""
    a = make_agent(allow={"10-ro.conf": allow_file(RO, RW)})
    os.makedirs(a.runtime, exist_ok=True)
    with open(os.path.join(a.runtime, "readonly"), "w") as f:
        f.write("in the way\n")
    a.start()
    dev, ifs = bed.add_usb("0781", "5567", serial="RO0001", iface_authorized=None)
    ev = a.wait_events("usb.blocked")[0]
    assert ev["decision"]["reason"] == "readonly_unavailable"
    assert bed.authorized(ifs[0]) == "0"
    assert "Cannot write the read-only decision" in a.log()
    dev2, ifs2 = bed.add_usb("0781", "5567", serial="RW0001", iface_authorized=None)
    a.wait_events("usb.allowed")
    wait_authorized(bed, ifs2[0], "1")


def add_block(bed, parent, name, devtype, ro, devnum):
    return bed.tb.add_device("block", name, parent, ["ro", ro, "dev", devnum, "size", "2048"],
                             ["DEVTYPE", devtype, "DEVNAME", "/dev/" + name])


def test_writable_block_device_is_a_violation(bed, make_agent):
    """A partition of a read-only stick says ro=0 (the udev helper did not
    run, or someone cleared the flag): usb.readonly_violated, and the storage
    interface is de-authorized."""
    a = make_agent(allow={"10-ro.conf": allow_file(RO)}).start()
    dev, ifs = bed.add_usb("0781", "5567", serial="RO0001", iface_authorized=None)
    a.wait_events("usb.allowed")
    wait_authorized(bed, ifs[0], "1")
    disk = add_block(bed, ifs[0], "sdx", "disk", "1", "8:96")
    add_block(bed, disk, "sdx1", "partition", "0", "8:97")
    ev = a.wait_events("usb.readonly_violated")[0]
    assert ev["severity"] == "high"
    assert ev["violation"] == {"what": "not_read_only", "block_device": "sdx1"}
    assert ev["decision"]["access"] == "read-only"
    assert ev["decision"]["reason"] == "readonly_violated"
    wait_authorized(bed, ifs[0], "0")
    # it stays blocked while plugged, whatever uevents come
    bed.tb.uevent(dev, "change")
    ev = a.wait_events("usb.blocked")[0]
    assert ev["decision"]["reason"] == "readonly_violated"
    assert bed.authorized(ifs[0]) == "0"
    assert len(a.events("usb.readonly_violated")) == 1


def test_read_only_block_devices_are_fine(bed, make_agent):
    a = make_agent(allow={"10-ro.conf": allow_file(RO, RW)}).start()
    dev, ifs = bed.add_usb("0781", "5567", serial="RO0001", iface_authorized=None)
    a.wait_events("usb.allowed")
    disk = add_block(bed, ifs[0], "sdy", "disk", "1", "8:112")
    add_block(bed, disk, "sdy1", "partition", "1", "8:113")
    # a read-write stick's writable disk is no violation either
    dev2, ifs2 = bed.add_usb("0781", "5567", serial="RW0001", iface_authorized=None)
    a.wait_events("usb.allowed", count=2)
    add_block(bed, ifs2[0], "sdz", "disk", "0", "8:128")
    # a barrier: one more stick, its event comes after the block uevents were handled
    bed.add_usb("0781", "5567", serial="OTHER", iface_authorized=None)
    a.wait_events("usb.blocked")
    assert a.events("usb.readonly_violated") == []
    assert bed.authorized(ifs[0]) == "1"


def test_mamorictl_allow_read_only(bed, make_agent):
    """`mamorictl allow DEVICE --read-only --write FILE`: the entry says
    access = "read-only", the daemon takes it, and the stick comes up
    read-only; --renew refuses --read-only (it keeps the entry's access)."""
    import subprocess
    a = make_agent().start()
    dev, ifs = bed.add_usb("0781", "5567", serial="CTL0001", port=7, iface_authorized=None)
    a.wait_events("usb.blocked")
    path = os.path.join(a.allow_dir, "70-ro.conf")
    env = dict(os.environ, UMOCKDEV_DIR=bed.root)

    def ctl(*args):
        return subprocess.run([os.environ["MAMORICTL"], "--socket", os.path.join(a.runtime, "control"), *args],
                              capture_output=True, text=True, env=env, timeout=20)

    p = ctl("allow", "2-7", "--approved-by", "CISO", "--read-only", "--write", path)
    assert p.returncode == 0, p.stderr
    text = open(path).read()
    assert 'access      = "read-only";' in text, text
    a.reload()
    ev = a.wait_events("usb.allowed")[0]
    assert ev["decision"]["access"] == "read-only"
    assert read_decision(decision_path(a, dev)).startswith("access=read-only\n")
    p = ctl("allow", "2-7", "--renew", "--read-only", "--approved-by", "CISO", "--expires", "2099-01-01")
    assert p.returncode == 2 and "--read-only" in p.stderr, p.stderr
    p = ctl("devices", "--json")
    assert p.returncode == 0, p.stderr
    assert '"access":"read-only"' in p.stdout.replace(" ", ""), p.stdout


def test_made_read_only_while_plugged(bed, make_agent):
    """A reload turns a plugged read-write stick read-only: its block devices
    go to udev again ("change"), and are verified at the next block uevent,
    not at the reload: read-only by then is fine; writable is a violation."""
    a = make_agent(allow={"10-ro.conf": allow_file(RW)}).start()
    dev, ifs = bed.add_usb("0781", "5567", serial="RW0001", iface_authorized=None)
    a.wait_events("usb.allowed")
    wait_authorized(bed, ifs[0], "1")
    disk = add_block(bed, ifs[0], "sdv", "disk", "0", "8:80")
    a.write_allow("10-ro.conf", allow_file(RW.replace(" }", ' access = "read-only"; }')))
    a.reload()
    wait_for(lambda: read_decision(decision_path(a, dev)).startswith("access=read-only\n"), 10,
             what="the read-only decision")
    # not judged before udev had its turn
    bed.add_usb("0781", "5567", serial="BARRIER", iface_authorized=None)
    a.wait_events("usb.blocked")
    assert a.events("usb.readonly_violated") == []
    assert bed.authorized(ifs[0]) == "1"
    # udev's helper set it read-only: the next block uevent finds it so
    # (umockdev passes on no "change" of a block device: a partition's "add")
    bed.write_raw(disk, "ro", b"1\n")
    add_block(bed, disk, "sdv1", "partition", "1", "8:81")
    bed.add_usb("0781", "5567", serial="BARRIER2", iface_authorized=None)
    a.wait_events("usb.blocked", count=2)
    assert a.events("usb.readonly_violated") == []
    # a writable one: a violation
    add_block(bed, disk, "sdv2", "partition", "0", "8:82")
    ev = a.wait_events("usb.readonly_violated")[0]
    assert ev["violation"] == {"what": "not_read_only", "block_device": "sdv2"}
    wait_authorized(bed, ifs[0], "0")


def test_read_write_mount_is_a_violation(bed, make_agent, tmp_path):
    """The mount table, for real: mamorid in a mount namespace of its own, an
    ext4 on a loop device standing for the stick's disk (its major:minor).
    Mounted read-only: fine. Remounted read-write: usb.readonly_violated
    (mounted_read_write, the mount point), the interface de-authorized."""
    import subprocess
    host_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    a = make_agent(allow={"10-ro.conf": allow_file(RO)})
    a.start(wrapper=["unshare", "--mount", "--propagation", "private"])
    pid = a.proc.pid
    img, mnt = str(tmp_path / "stick.img"), str(tmp_path / "mnt")
    os.mkdir(mnt)
    with open(img, "wb") as f:
        f.truncate(4 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True, timeout=60, env=host_env)
    loop = subprocess.run(["losetup", "-f", "--show", img], check=True, capture_output=True, text=True,
                          timeout=30, env=host_env).stdout.strip()
    try:
        rdev = subprocess.run(["stat", "-c", "%t:%T", loop], check=True, capture_output=True, text=True,
                              env=host_env).stdout.strip()
        major, minor = (str(int(x, 16)) for x in rdev.split(":"))
        dev, ifs = bed.add_usb("0781", "5567", serial="RO0001", iface_authorized=None)
        a.wait_events("usb.allowed")
        wait_authorized(bed, ifs[0], "1")
        bed.tb.add_device("block", "sdz", ifs[0], ["ro", "1", "dev", f"{major}:{minor}", "size", "8192"],
                          ["MAJOR", major, "MINOR", minor, "DEVNAME", "/dev/sdz", "DEVTYPE", "disk"])
        subprocess.run(["nsenter", "-t", str(pid), "-m", "mount", "-o", "ro", loop, mnt], check=True, timeout=30,
                       env=host_env)
        bed.add_usb("0781", "5567", serial="BARRIER", iface_authorized=None)
        a.wait_events("usb.blocked")
        time.sleep(0.3)
        assert a.events("usb.readonly_violated") == []
        subprocess.run(["nsenter", "-t", str(pid), "-m", "mount", "-o", "remount,rw", mnt], check=True, timeout=30,
                       env=host_env)
        ev = a.wait_events("usb.readonly_violated")[0]
        assert ev["violation"] == {"what": "mounted_read_write", "mount_point": mnt}
        wait_authorized(bed, ifs[0], "0")
    finally:
        subprocess.run(["nsenter", "-t", str(pid), "-m", "umount", "-l", mnt], check=False, timeout=30,
                       env=host_env)
        subprocess.run(["losetup", "-d", loop], check=False, timeout=30, env=host_env)
