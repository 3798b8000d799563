"""vm test: a stick mounted and being written when its approval expires.

Run by test_e2e.py after the dock scenario, on its shared guest (the allowed
stick is plugged and has its block device). The allow entry of that stick is
rewritten to expire 90 s from now, with usb.expiry_warning = 60 s, and an ext4
file system on it is mounted and written to. Then:

  * about 60 s before the expiry: a usb.expiring event and its notice;
  * at the expiry: the file system unmounted (systemd stops its mount unit at
    mamorid's request), then the stick blocked; the usb.blocked event records
    the unmount;
  * the kernel logs no ext4 error and no I/O error: the stick was not
    de-authorized under a mounted file system.

The policy is restored at the end (the stick allowed again, unmounted)."""
import json
import time

SERIAL = "MAMORI-VM-ALLOWED-1"  # test_e2e.ALLOWED
MNT = "/mnt/vmtest-stick"
LEAD = 90     # seconds from the reload to the expiry
WARNING = 60  # usb.expiry_warning

ENTRY = """\
# written by tests/vm/e2e_mount.py: the approval ends %s
allow = (
  {
    vendor = "46f4";
    product = "0001";
    serial = "%s";
    label = "vm test: the approved stick, expiring";
    approved_by = "tests/vm";
    approved_on = "2026-01-01";
    ticket = "VM-1";
    expires = "%s";
  }
);
"""

ERRORS = ("EXT4-fs error", "I/O error", "Buffer I/O", "EXT4-fs warning", "lost async page write",
          "Remounting filesystem read-only")


def run(t, c):
    st = t.state()
    a = t.dev(st, SERIAL)
    if not c("mount: the allowed stick is plugged with its block device", a and a["block"], a):
        return
    disk = "/dev/" + a["block"][0]
    klog_before = len(t.kernel_log().splitlines())
    rc, out, err = t.g("mkfs.ext4 -q -F -L vmtest %s && mkdir -p %s && mount %s %s; findmnt -n -o SOURCE %s"
                       % (disk, MNT, disk, MNT, MNT), timeout=120)
    if not c("mount: an ext4 file system on the stick is mounted", out.strip() == disk, out + err):
        return
    # A writer that appends twice a second while the mount is there: dirty
    # pages in flight at the expiry.
    t.g("setsid sh -c 'i=0; while mountpoint -q %s && echo line $i >>%s/log; do i=$((i+1)); sleep 0.5; done; "
        "echo stopped after $i lines >/run/vmtest-writer.end' </dev/null >/dev/null 2>&1 &" % (MNT, MNT), check=True)

    # The entry ends LEAD s from the guest's now; the warning comes WARNING s ahead.
    rc, out, _ = t.g("date -u -d @$(( $(date +%%s) + %d )) +%%Y-%%m-%%dT%%H:%%M:%%S+00:00" % LEAD, check=True)
    expires = out.strip()
    entry = ENTRY % (expires, SERIAL, expires)
    rc, out, err = t.g("printf '%%s' '%s' >/etc/mamori/allow.d/50-vmtest.conf && "
                       "sed -i 's/^  expiry_warning = .*/  expiry_warning = %d;/' /etc/mamori/mamori.conf && "
                       "grep -q '^  expiry_warning = %d;' /etc/mamori/mamori.conf && "
                       "systemctl reload mamori.service" % (entry, WARNING, WARNING))
    t0 = time.monotonic()
    c("mount: the expiring entry and usb.expiry_warning = 60 load (reload)", rc == 0, out + err)

    warned = t.wait_event("usb.expiring", lambda e: e["kind"] == "usb.expiring"
                          and (e.get("device") or {}).get("serial") == SERIAL, timeout=LEAD)
    t_warn = time.monotonic() - t0
    w = warned[-1] if warned else {}
    c("mount: usb.expiring event about %d s ahead of the expiry (after %.0f s; expires_in_sec %s)"
      % (WARNING, t_warn, w.get("expires_in_sec")),
      warned and WARNING - 5 <= w.get("expires_in_sec", -1) <= WARNING and w["decision"]["rule"]["expires"] == expires,
      warned)
    rc, out, _ = t.g("journalctl -b -o cat -u mamori.service | grep -c 'for the seat: The permission to use USB device' "
                     "|| true")
    c("mount: a notice told the seat that the approval ends soon", out.strip() not in ("", "0"), out)
    rc, out, _ = t.g("mountpoint -q %s && wc -l <%s/log" % (MNT, MNT))
    c("mount: still mounted and being written after the warning (%s lines)" % out.strip(), rc == 0, out)

    blocked = t.wait_event("usb.blocked at expiry", lambda e: e["kind"] == "usb.blocked"
                           and (e.get("device") or {}).get("serial") == SERIAL, timeout=LEAD - t_warn + 40)
    b = blocked[-1] if blocked else {}
    print("      usb.blocked at expiry: %s" % json.dumps({k: b.get(k) for k in ("message", "unmount")},
                                                          ensure_ascii=False), flush=True)
    c("mount: usb.blocked at the expiry, reason expired", b and b["decision"]["reason"] == "expired", blocked)
    um = b.get("unmount") or {}
    c("mount: the event records the unmount: %s, result unmounted" % MNT,
      um.get("mounts") == [MNT] and um.get("result") == "unmounted" and not um.get("still_mounted"), um)
    rc, out, _ = t.g("findmnt -n %s; cat /run/vmtest-writer.end" % MNT)
    c("mount: the file system is unmounted and the writer stopped", "stopped after" in out and disk not in out, out)
    st = t.wait("the stick blocked", lambda s: not (t.dev(s, SERIAL) or {}).get("block"), 30)
    a = t.dev(st, SERIAL)
    stor = [i for i in (a or {}).get("interfaces", []) if i["class"] == "08"]
    c("mount: the stick's storage interface is unauthorized, no driver, no block device",
      stor and all(i["authorized"] == "0" and i["driver"] is None for i in stor) and not a["block"], a)
    klog = t.kernel_log().splitlines()[klog_before:]
    bad = [line for line in klog if any(e in line for e in ERRORS)]
    print("      kernel log since the mount:\n        " + "\n        ".join(klog[-15:]), flush=True)
    c("mount: the kernel logged no ext4 error and no I/O error", not bad, bad)
    c("mount: the kernel saw the file system unmounted cleanly",
      any("EXT4-fs" in line and "unmounting filesystem" in line for line in klog), klog[-20:])

    # Back to the test's policy: the stick allowed again, for what follows.
    t.g("cp /mnt/host/50-vmtest.conf /etc/mamori/allow.d/50-vmtest.conf && "
        "sed -i 's/^  expiry_warning = .*/  expiry_warning = \"15min\";/' /etc/mamori/mamori.conf && "
        "systemctl reload mamori.service", check=True)
    st = t.wait("the stick allowed again", lambda s: (t.dev(s, SERIAL) or {}).get("block"), 60)
    c("mount: restored policy: the stick is allowed again", (t.dev(st, SERIAL) or {}).get("block"), st)
