# SPDX-License-Identifier: MIT
"""tools/udev/mamori-block-access (issue 14, read-only approvals) against a
real block device: a loop device over a file with one partition. The helper
runs as udev would run it (ACTION, DEVPATH, DEVNAME, MAJOR, MINOR) with a
DEVPATH under a USB interface; the USB device's directory (devnum, the
interface's authorized) is a fake sysfs tree (--sys-root), the decision
directory a temporary one (--run-dir). `blockdev --getro` is the judge."""

import os
import stat
import struct
import subprocess
import tempfile

import pytest

HELPER = os.path.join(os.environ.get("MAMORI_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build")),
                      "tools/udev/mamori-block-access")
USB_DEV = "/devices/pci0000:00/0000:00:14.0/usb1/1-2"
IFACE = USB_DEV + "/1-2:1.0"
DISK_PATH = IFACE + "/host6/target6:0:0/6:0:0:0/block/sdb"
PART_PATH = DISK_PATH + "/sdb1"


def mbr_image(path, size=8 << 20):
    """A file with an MBR holding one partition from sector 2048 on."""
    with open(path, "wb") as f:
        f.truncate(size)
        entry = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x0c, b"\0\0\0", 2048, size // 512 - 2048)
        f.seek(446)
        f.write(entry)
        f.seek(510)
        f.write(b"\x55\xaa")


def attach(img, partscan):
    return subprocess.run(["losetup", "-f", "--show"] + (["-P"] if partscan else []) + [img], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def loop():
    """The disk and its partition. Where the kernel scans no partitions of
    loop devices (some containers), a second loop device stands in for the
    partition: the helper acts on DEVNAME, the partition's being one is in
    DEVPATH. The VM scenario (tests/vm/e2e_readonly.py) has real ones."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a loop device")
    if not os.path.exists(HELPER):
        pytest.skip("mamori-block-access not built")
    tmp = tempfile.mkdtemp(prefix="mamori-blk-")
    img = os.path.join(tmp, "stick.img")
    mbr_image(img)
    devs = []
    try:
        try:
            devs.append(attach(img, True))
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            pytest.skip("no loop device: %s" % e)
        part = devs[0] + "p1"
        subprocess.run(["udevadm", "settle", "-t", "2"], check=False, capture_output=True)
        if not os.path.exists(part):
            with open(os.path.join(tmp, "part.img"), "wb") as f:
                f.truncate(1 << 20)
            devs.append(attach(os.path.join(tmp, "part.img"), False))
            part = devs[1]
        yield devs[0], part
    finally:
        for d in devs:
            subprocess.run(["blockdev", "--setrw", d], check=False)
            subprocess.run(["losetup", "-d", d], check=False)


@pytest.fixture
def bed(loop):
    """A root-owned 0700 run directory and a fake sysfs with the USB device."""
    d = tempfile.mkdtemp(prefix="mamori-blk-bed-")
    run = os.path.join(d, "readonly")
    os.mkdir(run, 0o700)
    sysroot = os.path.join(d, "sys")
    os.makedirs(sysroot + IFACE)
    with open(sysroot + USB_DEV + "/devnum", "w") as f:
        f.write("7\n")
    with open(sysroot + IFACE + "/authorized", "w") as f:
        f.write("1\n")
    for n in loop:
        subprocess.run(["blockdev", "--setrw", n], check=True)
    return {"run": run, "sys": sysroot, "disk": loop[0], "part": loop[1]}


def decide(bed, text, mode=0o600):
    p = os.path.join(bed["run"], "1-2")
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, mode)
    return p


def helper(bed, node, devpath, env_extra=None):
    st = os.stat(node)
    env = {"ACTION": "add", "DEVPATH": devpath, "DEVNAME": node, "MAJOR": str(os.major(st.st_rdev)),
           "MINOR": str(os.minor(st.st_rdev)), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(env_extra or {})
    r = subprocess.run([HELPER, "--run-dir", bed["run"], "--sys-root", bed["sys"]], env=env, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr  # udev drops the output of a failing program
    props = dict(line.split("=", 1) for line in r.stdout.splitlines())
    return props, r.stderr


def getro(node):
    return subprocess.run(["blockdev", "--getro", node], check=True, capture_output=True, text=True).stdout.strip()


def both(bed):
    return [helper(bed, bed["disk"], DISK_PATH)[0], helper(bed, bed["part"], PART_PATH)[0]]


def assert_read_only(bed, props):
    for p in props:
        assert p["MAMORI_ACCESS"] == "read-only"
        for key in ("UDISKS_MOUNT_OPTIONS_DEFAULTS", "UDISKS_MOUNT_OPTIONS_ALLOW"):
            opts = p[key].split(",")
            assert "ro" in opts and "rw" not in opts, p
    assert getro(bed["disk"]) == "1"
    assert getro(bed["part"]) == "1"
    with open(bed["sys"] + IFACE + "/authorized") as f:
        assert f.read().strip() == "1"  # usable, read-only


def test_read_only_decision(bed):
    decide(bed, "access=read-only\ndevnum=7\n")
    assert getro(bed["disk"]) == "0"
    assert_read_only(bed, both(bed))
    # the kernel agrees: a write through the node is refused (at open or at write)
    for n in (bed["disk"], bed["part"]):
        with pytest.raises(OSError):
            fd = os.open(n, os.O_WRONLY)
            try:
                os.write(fd, b"x" * 512)
                os.fsync(fd)
            finally:
                os.close(fd)


def test_read_write_decision(bed):
    decide(bed, "access=read-write\ndevnum=7\n")
    for p in both(bed):
        assert p == {"MAMORI_ACCESS": "read-write"}
    assert getro(bed["disk"]) == "0" and getro(bed["part"]) == "0"


def test_no_decision(bed):
    assert both(bed) == [{}, {}]
    assert getro(bed["disk"]) == "0"


def test_earlier_device_on_the_port(bed):
    """devnum differs: the file is an earlier plug's, not this device's."""
    decide(bed, "access=read-only\ndevnum=6\n")
    assert both(bed) == [{}, {}]
    assert getro(bed["disk"]) == "0"


def test_not_on_usb(bed):
    decide(bed, "access=read-only\ndevnum=7\n")
    props, _ = helper(bed, bed["disk"], "/devices/virtual/block/loop0")
    assert props == {}
    assert getro(bed["disk"]) == "0"


def test_remove_does_nothing(bed):
    decide(bed, "access=read-only\ndevnum=7\n")
    props, _ = helper(bed, bed["disk"], DISK_PATH, {"ACTION": "remove"})
    assert props == {} and getro(bed["disk"]) == "0"


@pytest.mark.parametrize("how", ["symlink", "not-root", "group-writable", "garbage", "read-write-garbage",
                                 "trailing", "nul", "fifo", "huge", "directory"])
def test_hostile_decision_fails_closed(bed, how):
    """A decision that exists but cannot be trusted or read counts as read-only."""
    p = os.path.join(bed["run"], "1-2")
    if how == "symlink":
        other = os.path.join(os.path.dirname(bed["run"]), "elsewhere")
        with open(other, "w") as f:
            f.write("access=read-write\ndevnum=7\n")
        os.symlink(other, p)
    elif how == "not-root":
        decide(bed, "access=read-write\ndevnum=7\n")
        os.chown(p, 65534, 65534)
    elif how == "group-writable":
        decide(bed, "access=read-write\ndevnum=7\n", 0o620)
    elif how == "garbage":
        decide(bed, "rm -rf /\n")
    elif how == "read-write-garbage":
        decide(bed, "access=read-write\ndevnum=07\n")
    elif how == "trailing":
        decide(bed, "access=read-write\ndevnum=7\naccess=read-write\n")
    elif how == "nul":
        decide(bed, "access=read-write\0\ndevnum=7\n")
    elif how == "fifo":
        os.mkfifo(p, 0o600)
    elif how == "huge":
        decide(bed, "access=read-write\ndevnum=7\n" + "#" * 100000)
    elif how == "directory":
        os.mkdir(p, 0o700)
    assert_read_only(bed, both(bed))


def test_untrusted_directory_fails_closed(bed):
    decide(bed, "access=read-write\ndevnum=7\n")
    os.chmod(bed["run"], 0o777)
    try:
        assert_read_only(bed, both(bed))
    finally:
        os.chmod(bed["run"], 0o700)


def test_cannot_set_read_only_makes_it_unusable(bed):
    """BLKROSET impossible (the node is not the block device udev named):
    the interface is de-authorized and udisks told to keep away."""
    decide(bed, "access=read-only\ndevnum=7\n")
    st = os.stat(bed["disk"])
    props, err = helper(bed, bed["disk"], DISK_PATH, {"MINOR": str(os.minor(st.st_rdev) + 1000)})
    assert props["MAMORI_ACCESS"] == "read-only-failed"
    assert props["UDISKS_IGNORE"] == "1"
    assert "rw" not in props["UDISKS_MOUNT_OPTIONS_ALLOW"].split(",")
    assert "de-authorizing 1-2:1.0" in err
    with open(bed["sys"] + IFACE + "/authorized") as f:
        assert f.read().strip() == "0"
    assert getro(bed["disk"]) == "0"
    # a node that is no block device at all
    with open(bed["sys"] + IFACE + "/authorized", "w") as f:
        f.write("1\n")
    props, _ = helper(bed, "/dev/null", DISK_PATH)
    assert props["MAMORI_ACCESS"] == "read-only-failed"


@pytest.mark.parametrize("devpath", [USB_DEV + "/../1-2/1-2:1.0/block/sdb", "relative/1-2/1-2:1.0/block/sdb",
                                     "/devices/usb1/1-2/1-3:1.0/block/sdb", "/devices/usb1/1-2/1-2:x.0/block/sdb",
                                     "/devices/usb1/1-2/1-2:1.0" + "/x" * 3000],
                         ids=["dotdot", "relative", "other-device", "bad-interface", "too-long"])
def test_hostile_devpath(bed, devpath):
    decide(bed, "access=read-only\ndevnum=7\n")
    props, _ = helper(bed, bed["disk"], devpath)
    assert props == {}
