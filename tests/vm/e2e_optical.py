"""vm test: an optical drive with a disc, on the real kernel (issue 14 item 3).

Run by test_e2e.py on its shared guest, which has a virtio-scsi controller
(QEMU_ARGS). A disc image is made on the host at test time (random data, in
2048-byte sectors; the check is byte for byte, so no file system is needed)
and a `scsi-cd` drive with it is plugged over QMP. The guest has no desktop
session, so the scenario gives a test user the ACL that udev's uaccess and
logind give the person at the seat (user:<them>:rw-), as they would. Then:

  * optical-write (the default): device.blocked; the user's ACL entry and the
    mask lose write (mamorid, within a second of the ACL being set); as that
    user, reading the disc through /dev/srN works and gives the image's
    bytes; open(O_RDWR) fails with EACCES; SG_IO WRITE(10) and BLANK on a
    read-only file fail with EPERM on sr and on sg, while SG_IO READ(10)
    on the same file works (the command filter, not a dead path);
  * an allow entry for the drive's ID_SERIAL and a reload: device.allowed;
    the ACL given again stays rw and the user opens the drive O_RDWR;
  * the optical level, the entry removed, reload: device.blocked with
    category optical, /dev/srN gone (unbound from sr), the sg node 0600
    without ACL: the user opens nothing;
  * the policy restored and the drive unplugged.

test_e2e.py adds QEMU_ARGS to the VM's arguments and calls run(t, c, vm)
after the mount scenario. Standalone (no package: the build's mamorid, the
rule and policy/mamori.conf copied in), see main():

    python3 tests/vm/e2e_optical.py --image /var/tmp/mamori-vmtest-cache/img-<tag>"""
import hashlib
import json
import os
import time

# The controller the drive is plugged into (added to the VM's -device args).
QEMU_ARGS = ["-device", "virtio-scsi-pci,id=optscsi"]
NODE = "vmoptical"
SERIAL_PROP = "MAMORI-VM-OPTICAL-1"
SECTORS = 1024  # a 2 MiB "disc"
USER = "vmoptical"
ALLOW = "/etc/mamori/allow.d/60-vmtest-optical.conf"

ENTRY = """\
# written by tests/vm/e2e_optical.py
allow = (
  { bus = "optical"; serial = "%s"; label = "vm test: the DVD drive";
    approved_by = "tests/vm"; approved_on = "2026-01-01"; ticket = "VM-OPT-1"; }
);
"""

# Runs in the guest as USER: reads, opens for writing, and sends SCSI
# commands through SG_IO on a read-only file. Prints one JSON object.
PROBE = r'''
import errno, fcntl, hashlib, json, os, struct, sys
SG_IO = 0x2285
def sg(path, cdb, data_len=2048, to_dev=False, flags=os.O_RDONLY):
    import ctypes
    try:
        fd = os.open(path, flags | os.O_NONBLOCK)
    except OSError as e:
        return "open:" + errno.errorcode[e.errno]
    buf = ctypes.create_string_buffer(max(data_len, 1))
    sense = ctypes.create_string_buffer(32)
    ccdb = ctypes.create_string_buffer(bytes(cdb), len(cdb))
    direction = -1 if data_len == 0 else (-2 if to_dev else -3)  # SG_DXFER_NONE, _TO_DEV, _FROM_DEV
    # struct sg_io_hdr on x86_64 (88 bytes): interface_id, dxfer_direction,
    # cmd_len, mx_sb_len, iovec_count, dxfer_len, dxferp, cmdp, sbp, timeout,
    # flags, pack_id, usr_ptr, status, masked_status, msg_status, sb_len_wr,
    # host_status, driver_status, resid, duration, info
    hdr = struct.pack("@iiBBHIPPPIIiPBBBBHHiII4x", ord("S"), direction, len(cdb), 32, 0, data_len,
                      ctypes.addressof(buf) if data_len else 0, ctypes.addressof(ccdb), ctypes.addressof(sense),
                      10000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert len(hdr) == 88
    try:
        fcntl.ioctl(fd, SG_IO, bytearray(hdr))
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
    finally:
        os.close(fd)
out = {}
sr, sgn = sys.argv[1], sys.argv[2]
try:
    with open(sr, "rb") as f:
        out["read_sha256"] = hashlib.sha256(f.read(int(sys.argv[3]))).hexdigest()
except OSError as e:
    out["read_sha256"] = "error:" + errno.errorcode[e.errno]
for name, path in (("sr", sr), ("sg", sgn)):
    try:
        os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK))
        out[name + "_rdwr"] = "ok"
    except OSError as e:
        out[name + "_rdwr"] = errno.errorcode[e.errno]
    out[name + "_sgio_read10"] = sg(path, [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0])
    out[name + "_sgio_write10"] = sg(path, [0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0], to_dev=True)
    out[name + "_sgio_blank"] = sg(path, [0xA1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], data_len=0)
    # the control: the same WRITE(10) on a file opened for writing passes
    # the filter (the read-only disc then fails it in the drive: still "ok")
    out[name + "_sgio_write10_rdwr"] = sg(path, [0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0], to_dev=True, flags=os.O_RDWR)
print(json.dumps(out))
'''

# Sets on a node the ACL that udev's uaccess builtin / logind set.
SET_ACL = r'''
import os, pwd, struct, sys
uid = pwd.getpwnam(sys.argv[2]).pw_uid
e = [(1, 6, 0xFFFFFFFF), (2, 6, uid), (4, 6, 0xFFFFFFFF), (0x10, 6, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
os.setxattr(sys.argv[1], "system.posix_acl_access", struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *x) for x in e))
'''

# Gives the ACL back as logind would and measures how long until mamorid
# has taken write away again (polling every 0.2 ms).
MEASURE = r'''
import os, pwd, struct, sys, time
uid = pwd.getpwnam(sys.argv[2]).pw_uid
e = [(1, 6, 0xFFFFFFFF), (2, 6, uid), (4, 6, 0xFFFFFFFF), (0x10, 6, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
out = []
for i in range(20):
    t0 = time.monotonic()
    os.setxattr(sys.argv[1], "system.posix_acl_access", struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *x) for x in e))
    while time.monotonic() - t0 < 5:
        raw = os.getxattr(sys.argv[1], "system.posix_acl_access")
        if dict(((t, i), p) for t, p, i in struct.iter_unpack("<HHI", raw[4:])).get((2, uid)) == 4:
            break
        time.sleep(0.0002)
    out.append((time.monotonic() - t0) * 1000)
    time.sleep(0.05)
out.sort()
print("%.2f %.2f %.2f" % (out[0], out[len(out) // 2], out[-1]))
'''

GET_ACL = r'''
import json, os, struct, sys
try:
    raw = os.getxattr(sys.argv[1], "system.posix_acl_access")
    acl = {"%d:%d" % (t, i if i != 0xFFFFFFFF else -1): p for t, p, i in struct.iter_unpack("<HHI", raw[4:])}
except OSError:
    acl = None
print(json.dumps({"acl": acl, "mode": "%o" % (os.stat(sys.argv[1]).st_mode & 0o7777)}))
'''


def make_disc(rundir):
    path = os.path.join(rundir, "optical-disc.img")
    data = os.urandom(SECTORS * 2048)  # made here, at test time
    with open(path, "wb") as f:
        f.write(data)
    return path, hashlib.sha256(data[:64 * 2048]).hexdigest()


def py(t, script, *args, user=None, timeout=60):
    quoted = " ".join("'%s'" % a for a in args)
    prefix = ""
    if user:
        prefix = "setpriv --reuid=%s --regid=%s --clear-groups " % (user, user)
    return t.g("cat >/run/vmtest-opt.py <<'PYEOF'\n%s\nPYEOF\n%s/usr/bin/python3 /run/vmtest-opt.py %s"
               % (script, prefix, quoted), timeout=timeout)


def node_state(t, path):
    rc, out, err = py(t, GET_ACL, path)
    try:
        return json.loads(out)
    except ValueError:
        return {"error": out + err}


def probe(t, sr, sg):
    rc, out, err = py(t, PROBE, sr, sg, str(64 * 2048), user=USER)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": out + err}


def optical_events(t, kind):
    return [e for e in t.events() if e["kind"] == kind and (e.get("device") or {}).get("bus") == "optical"]


def run(t, c, vm):
    disc, want = make_disc(vm.rundir)
    t.g("id %s >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin %s" % (USER, USER), check=True)
    rc, out, _ = t.g("id -u %s" % USER, check=True)
    uid = out.strip()
    # sg is a module that nothing loads on a guest without a desktop
    t.g("modprobe sg")
    vm.qmp.cmd("blockdev-add", driver="raw", **{"node-name": NODE, "read-only": True},
               file={"driver": "file", "filename": disc, "read-only": True})
    vm.qmp.cmd("device_add", driver="scsi-cd", id=NODE, bus="optscsi.0", drive=NODE, serial=SERIAL_PROP)
    # -nodefaults: the guest has no other optical drive
    rc, out, err = t.g("for i in $(seq 150); do ls -d /sys/block/sr* >/dev/null 2>&1 && break; sleep 0.2; done; "
                       "cd /sys/block && ls -d sr*", timeout=60)
    names = out.split()
    if not c("optical: the scsi-cd drive appears as an sr block device", rc == 0 and names, out + err):
        return
    sr_name = names[0]
    t.g("udevadm settle -t 30")
    sr = "/dev/" + sr_name
    rc, out, _ = t.g("ls /sys/block/%s/device/scsi_generic/" % sr_name)
    sg = "/dev/" + out.split()[0] if out.split() else "/dev/sg-missing"
    rc, out, _ = t.g("udevadm info --query=property --name=%s | sed -n 's/^ID_SERIAL=//p'" % sr)
    serial = out.strip()
    c("optical: udev gives the drive an ID_SERIAL (%r)" % serial, serial != "", serial)

    # 1. optical-write, the default
    blocked = t.wait_event("device.blocked (optical)", lambda e: e["kind"] == "device.blocked"
                           and (e.get("device") or {}).get("bus") == "optical"
                           and e["device"].get("serial") == serial, timeout=30)
    c("optical: device.blocked, category optical-write",
      blocked and blocked[-1]["device"]["category"] == "optical-write", blocked)
    for node in (sr, sg):
        py(t, SET_ACL, node, USER)  # what uaccess/logind do for the seat user
    time.sleep(1)
    st = {n: node_state(t, n) for n in (sr, sg)}
    ok = all((s.get("acl") or {}).get("2:%s" % uid) == 4 and (s.get("acl") or {}).get("16:-1") == 4
             and (s.get("acl") or {}).get("1:-1") == 6 for s in st.values())
    if not ok:
        # what mamorid said about the drive, to tell a sandbox from a logic fault
        _, log, _ = t.g("journalctl -b -o cat -u mamori.service | grep -iE 'optical|restrict|node|sr0|sg' | tail -20; "
                        "systemctl show mamori.service -p PrivateDevices -p DevicePolicy -p ProtectSystem; "
                        "ls -l %s %s" % (sr, sg))
        print(log, flush=True)
    c("optical: the seat user's ACL entry and the mask lose write (r--), root keeps rw", ok, st)
    rc, out, err = py(t, MEASURE, sr, USER)
    try:
        lo, med, hi = (float(x) for x in out.split())
    except ValueError:
        lo = med = hi = 1e9
    c("optical: an ACL given back is write-less again after %.2f / %.2f / %.2f ms (min / median / max of 20)"
      % (lo, med, hi), hi < 1000, out + err)
    p = probe(t, sr, sg)
    c("optical: as the user, reading the disc works and gives the image's bytes", p.get("read_sha256") == want, p)
    c("optical: as the user, open(O_RDWR) of sr and sg fails with EACCES",
      p.get("sr_rdwr") == "EACCES" and p.get("sg_rdwr") == "EACCES", p)
    c("optical: as the user, SG_IO READ(10) on a read-only sr works (the path is alive)",
      p.get("sr_sgio_read10") == "ok", p)
    c("optical: as the user, SG_IO WRITE(10) and BLANK on read-only sr and sg fail with EPERM",
      all(p.get(k) == "EPERM" for k in ("sr_sgio_write10", "sr_sgio_blank", "sg_sgio_write10", "sg_sgio_blank")),
      p)

    # 2. allowed by an entry
    rc, out, err = t.g("printf '%%s' '%s' >%s && systemctl reload mamori.service" % (ENTRY % serial, ALLOW))
    allowed = t.wait_event("device.allowed (optical)", lambda e: e["kind"] == "device.allowed"
                           and (e.get("device") or {}).get("serial") == serial, timeout=30)
    c("optical: an allow entry and a reload: device.allowed", rc == 0 and allowed, out + err)
    time.sleep(1)
    for node in (sr, sg):
        py(t, SET_ACL, node, USER)
    time.sleep(1)
    st = node_state(t, sr)
    p = probe(t, sr, sg)
    c("optical: allowed, the ACL given again stays rw and the user opens sr O_RDWR",
      (st.get("acl") or {}).get("2:%s" % uid) == 6 and p.get("sr_rdwr") == "ok", (st, p))
    c("optical: allowed, SG_IO WRITE(10) on sr opened O_RDWR passes the kernel's filter (not EPERM)",
      p.get("sr_sgio_write10_rdwr") == "ok", p)

    # 3. the optical level, no entry
    rc, out, err = t.g(
        "cp /etc/mamori/mamori.conf /run/vmtest-mamori.conf.opt && rm -f %s && "
        "sed -i 's/^  block = \\[ \"storage\"/  # (vmtest-optical) &/' /etc/mamori/mamori.conf && "
        "printf '%%s\\n' 'devices = { block = [ \"storage\", \"mtp\", \"ptp\", \"tethering\", \"optical-write\", "
        "\"optical\" ]; };' >>/etc/mamori/mamori.conf && systemctl reload mamori.service" % ALLOW)
    drive = t.wait_event("device.blocked (optical level)", lambda e: e["kind"] == "device.blocked"
                         and (e.get("device") or {}).get("serial") == serial
                         and e["device"].get("category") == "optical", timeout=30)
    ok1 = c("optical: the optical level and no entry: device.blocked, category optical", rc == 0 and drive,
            out + err)
    rc, out, _ = t.g("for i in $(seq 50); do [ -e %s ] || exit 0; sleep 0.2; done; exit 1" % sr)
    ok2 = c("optical: the drive is unbound from sr (%s is gone)" % sr, rc == 0, out)
    if not (ok1 and ok2):
        # what mamorid said and did (a failure here was seen once, 2026-12-04,
        # and could not be explained from the check alone)
        evs = [e for e in t.events() if (e.get("device") or {}).get("serial") == serial]
        print("      the drive's events: %s" % json.dumps([(e["kind"], (e.get("decision") or {}).get("reason"),
                                                            e["device"].get("category")) for e in evs[-6:]]),
              flush=True)
        _, jl, _ = t.g("journalctl -b -o short-monotonic --no-pager -n 40 -u mamori.service; "
                       "ls -l /sys/bus/scsi/drivers/sr/ 2>&1 | tail -5; fuser -v %s 2>&1 | tail -5" % sr)
        print("      " + jl.replace("\n", "\n      "), flush=True)
    py(t, SET_ACL, sg, USER)
    time.sleep(1)
    st = node_state(t, sg)
    p = probe(t, sr, sg)
    c("optical: the sg node is root's alone (0600, no ACL) and the user opens nothing",
      st.get("mode") == "600" and st.get("acl") is None and p.get("sg_rdwr") == "EACCES"
      and p.get("read_sha256", "").startswith("error:"), (st, p))

    # 4. restore: the policy as it was, the drive bound again, unplugged
    rc, out, err = t.g("cp /run/vmtest-mamori.conf.opt /etc/mamori/mamori.conf && systemctl reload mamori.service")
    rc2, out2, _ = t.g("for i in $(seq 50); do [ -e %s ] && exit 0; sleep 0.2; done; exit 1" % sr)
    c("optical: the policy restored; the drive bound to sr again", rc == 0 and rc2 == 0, out + err + out2)
    vm.unplug(NODE)
    vm.qmp.cmd("blockdev-del", **{"node-name": NODE})
    t.g("userdel %s" % USER)


# ---- standalone: this scenario alone, with the mamorid of a build tree ----

UNIT = """\
[Unit]
Description=mamorid (tests/vm/e2e_optical.py, standalone)
[Service]
Type=notify
ExecStart=/usr/local/sbin/mamorid --config /etc/mamori/mamori.conf
ExecReload=/bin/kill -HUP $MAINPID
StateDirectory=mamori
RuntimeDirectory=mamori
RuntimeDirectoryPreserve=yes
"""


def main():
    """python3 tests/vm/e2e_optical.py --image /var/tmp/mamori-vmtest-cache/img-<tag> [--build build]:
    boots the cached guest image with the virtio-scsi controller, installs the
    build's mamorid, units/71-mamori-optical.rules and policy/mamori.conf
    (no package needed), and runs the scenario."""
    import argparse
    import shutil
    import sys
    import tempfile

    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.dirname(os.path.dirname(here))
    sys.path.insert(0, here)
    from test_e2e import E2E
    from vmtest import VM

    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--build", default=os.path.join(src, "build"))
    a = ap.parse_args()
    share = tempfile.mkdtemp(prefix="mamori-vmtest-optical.")
    shutil.copy(os.path.join(a.build, "agent/mamorid"), share)
    shutil.copy(os.path.join(src, "units/71-mamori-optical.rules"), share)
    shutil.copy(os.path.join(src, "policy/mamori.conf"), share)
    with open(os.path.join(share, "mamori.service"), "w") as f:
        f.write(UNIT)
    results = []

    def check(what, ok, detail=None):
        results.append(bool(ok))
        print("CHECK %s: %s%s" % ("PASS" if ok else "FAIL", what, "" if ok else " -- %r" % (detail,)), flush=True)
        return ok

    vm = VM(a.image, share=share, extra_args=QEMU_ARGS)
    try:
        vm.start()
        vm.wait_ready()
        t = E2E(vm, check, share)
        rc, out, err = t.g("install -m 0755 /mnt/host/mamorid /usr/local/sbin/mamorid && "
                           "mkdir -p /etc/mamori/allow.d && install -m 0644 /mnt/host/mamori.conf /etc/mamori/ && "
                           "install -m 0644 /mnt/host/71-mamori-optical.rules /etc/udev/rules.d/ && "
                           "install -m 0644 /mnt/host/mamori.service /etc/systemd/system/ && "
                           "systemctl daemon-reload && udevadm control --reload && "
                           "systemctl start mamori.service && systemctl is-active mamori.service", timeout=120)
        if check("standalone: mamorid runs in the guest", rc == 0, out + err):
            run(t, check, vm)
        rc, out, _ = t.g("journalctl -b -o cat -u mamori.service | tail -40")
        print(out, flush=True)
    except Exception as e:  # noqa: BLE001 -- reported as a failed check
        import traceback
        traceback.print_exc()
        check("the scenario ran to its end", False, "%s: %s (console: %s)" % (type(e).__name__, e, vm.console))
    finally:
        vm.stop()
    print("%d checks, %d failed" % (len(results), results.count(False)), flush=True)
    sys.exit(0 if results and all(results) else 1)


if __name__ == "__main__":
    main()
