"""vm test: a read-only approval on the real kernel (issue 14, item 1).

Run by test_e2e.py after the mount scenario, on its shared guest. A third
stick is approved read-write first: partitioned and formatted in the guest, it
takes a file (a read-write stick still writes). Unplugged, its entry says
access = "read-only", and plugged again:

  * usb.allowed says decision.access = read-only;
  * `blockdev --getro` is 1 for the disk and for its partition, before
    anything mounted it (mamori-block-access ran from udev);
  * mount gives a read-only mount; the file reads back; a write fails with
    EROFS;
  * no usb.readonly_violated so far. Then root clears the flag on the disk and
    the partition and mounts it read-write: usb.readonly_violated (high), and
    the stick's storage interface is de-authorized (its block devices go).

The stick and its entry are removed at the end."""
import json
import time

SERIAL = "MAMORI-VM-READONLY-5"
MNT = "/mnt/vmtest-ro"
FILE = "/etc/mamori/allow.d/60-vmtest-ro.conf"

ENTRY = """\
# written by tests/vm/e2e_readonly.py
allow = (
  {
    vendor = "46f4";
    product = "0001";
    serial = "%s";
    label = "vm test: the read-only stick";
    approved_by = "tests/vm";
    approved_on = "2026-01-01";
    ticket = "VM-RO";
    access = "%s";
  }
);
"""

# One partition from sector 2048 to the end, type 83, written by python3 in the guest.
MBR = ("import struct,sys; d=sys.argv[1]; f=open(d,'r+b'); n=int(open('/sys/class/block/%s/size' % d[5:]).read()); "
       "f.seek(446); f.write(struct.pack('<B3sB3sII',0,b'\\0\\0\\0',0x83,b'\\0\\0\\0',2048,n-2048)); "
       "f.seek(510); f.write(b'\\x55\\xaa'); f.close()")


def write_entry(t, access):
    return t.g("printf '%%s' '%s' >%s && systemctl reload mamori.service" % (ENTRY % (SERIAL, access), FILE))


def wait_block(t, n, timeout=60):
    """The stick's disks (usbstate.py lists /sys/block: no partitions)."""
    st = t.wait("the read-only stick's block device", lambda s: len((t.dev(s, SERIAL) or {}).get("block") or []) >= n,
                timeout)
    return (t.dev(st, SERIAL) or {}).get("block") or []


def run(t, c, vm):
    try:
        scenario(t, c, vm)
    finally:
        # whatever happened: the stick and its entry gone, for what follows
        t.g("umount -l %s; rm -f %s; systemctl reload mamori.service" % (MNT, FILE))
        try:
            vm.unplug("rostick", is_stick=True)
        except Exception as e:  # not plugged (any more)
            print("      readonly: unplug at the end: %s" % e, flush=True)


def scenario(t, c, vm):
    rc, out, err = write_entry(t, "read-write")
    if not c("readonly: a read-write entry for the third stick loads", rc == 0, out + err):
        return
    vm.add_stick("rostick", serial=SERIAL)
    blocks = wait_block(t, 1)
    if not c("readonly: the stick, approved read-write, has its block device", blocks, blocks):
        return
    disk = "/dev/" + sorted(blocks)[0]
    rc, out, err = t.g("python3 -c \"%s\" %s && blockdev --rereadpt %s && udevadm settle -t 30 && "
                       "mkfs.ext4 -q -F -L vmtest-ro %s1 && mkdir -p %s && mount %s1 %s && "
                       "echo from-the-read-write-stick >%s/hello && umount %s && blockdev --getro %s"
                       % (MBR, disk, disk, disk, MNT, disk, MNT, MNT, MNT, disk), timeout=120)
    c("readonly: approved read-write, the stick is partitioned, formatted and written (getro %s)" % out.strip(),
      rc == 0 and out.strip() == "0", out + err)

    vm.unplug("rostick", is_stick=True)  # its drive too: plugged again below
    t.wait("the stick gone", lambda s: not t.dev(s, SERIAL), 30)
    rc, out, err = write_entry(t, "read-only")
    c("readonly: the entry now says access = read-only (reload)", rc == 0, out + err)
    t0 = time.monotonic()
    vm.add_stick("rostick", serial=SERIAL)
    allowed = t.wait_event("usb.allowed read-only", lambda e: e["kind"] == "usb.allowed"
                           and (e.get("device") or {}).get("serial") == SERIAL
                           and e["decision"].get("access") == "read-only", timeout=60)
    c("readonly: usb.allowed with decision.access read-only", allowed, allowed)
    blocks = wait_block(t, 1)
    print("      read-only stick plugged, block device %s after %.1f s" % (blocks, time.monotonic() - t0), flush=True)
    if not c("readonly: the stick has its disk", blocks, blocks):
        return
    name = blocks[0]
    disk, part = "/dev/" + name, "/dev/" + name + "1"
    rc, out, _ = t.g("for i in $(seq 60); do test -b %s && break; sleep 0.5; done; test -b %s" % (part, part))
    if not c("readonly: and its partition %s" % part, rc == 0, out):
        return
    blocks = [name, name + "1"]
    rc, out, _ = t.g("udevadm settle -t 30; blockdev --getro %s %s; cat /sys/class/block/%s/ro /sys/class/block/%s/ro; "
                     "udevadm info -q property %s | grep -E '^(MAMORI_ACCESS|UDISKS_MOUNT_OPTIONS)'"
                     % (disk, part, blocks[0], blocks[1], part))
    lines = out.split()
    print("      " + out.replace("\n", "\n      "), flush=True)
    c("readonly: blockdev --getro is 1 for the disk and the partition, /sys/.../ro too",
      lines[:4] == ["1", "1", "1", "1"], out)
    c("readonly: udev's properties: MAMORI_ACCESS=read-only, udisks options without rw",
      "MAMORI_ACCESS=read-only" in out and "UDISKS_MOUNT_OPTIONS_DEFAULTS=ro" in out
      and ",rw" not in out, out)
    rc, out, err = t.g("mount %s %s; findmnt -n -o OPTIONS %s; cat %s/hello" % (part, MNT, MNT, MNT))
    opts = out.splitlines()[0].split(",") if out.strip() else []
    c("readonly: mount gives a read-only mount (%s)" % ",".join(opts[:2]), "ro" in opts, out + err)
    c("readonly: reading works", "from-the-read-write-stick" in out, out + err)
    rc, out, err = t.g("echo x >%s/new" % MNT)
    c("readonly: writing fails with EROFS", rc != 0 and "Read-only file system" in (out + err), (rc, out, err))
    rc, out, err = t.g("dd if=/dev/zero of=%s bs=512 count=1 oflag=direct conv=notrunc 2>&1" % part)
    c("readonly: writing to the partition's node fails too", rc != 0, (rc, out, err))
    c("readonly: no usb.readonly_violated for the read-only mount", not t.usb_events(SERIAL, "usb.readonly_violated"),
      t.usb_events(SERIAL, "usb.readonly_violated"))

    # Root clears the flag and mounts it read-write: mamorid sees the mount.
    t1 = time.monotonic()
    t.g("umount %s; blockdev --setrw %s; blockdev --setrw %s; mount -o rw %s %s" % (MNT, disk, part, part, MNT))
    v = t.wait_event("usb.readonly_violated", lambda e: e["kind"] == "usb.readonly_violated"
                     and (e.get("device") or {}).get("serial") == SERIAL, timeout=30)
    print("      usb.readonly_violated after %.1f s: %s" % (time.monotonic() - t1, json.dumps(
        (v[-1] if v else {}).get("violation"))), flush=True)
    c("readonly: a read-write mount after blockdev --setrw is usb.readonly_violated, severity high",
      v and v[-1]["severity"] == "high", v)
    st = t.wait("the stick blocked", lambda s: not (t.dev(s, SERIAL) or {}).get("block"), 30)
    a = t.dev(st, SERIAL)
    stor = [i for i in (a or {}).get("interfaces", []) if i["class"] == "08"]
    c("readonly: its storage interface is de-authorized, its block devices gone",
      stor and all(i["authorized"] == "0" for i in stor) and not a["block"], a)

