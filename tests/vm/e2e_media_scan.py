"""vm test: a stick with EICAR on it is scanned by the real clamd when mounted
(issue 15 item 3 and item 5, second bullet: "media.scanned with one detection").

Run by test_e2e.py right after e2e_eicar.run(), on its shared guest: the
allowed stick is plugged with its block device (e2e_mount left an ext4 file
system on it, unmounted); e2e_eicar put the EICAR file and the EICAR-only
database (eicar.hdb) in the share and stopped clamd again at its end.

  * clamd is started again on the EICAR-only database (e2e_eicar.CLAMD);
    mamori.conf gets antivirus.scan.on_mount and quarantine.on av.detection,
    and is reloaded;
  * the EICAR file is written into the stick's file system as root while it
    is unmounted (debugfs: no mount that mamorid could see before the test's);
  * the stick is mounted as a PC does it (udisksctl as the seat user when the
    image has udisks2, else mount(8) as root under /media/<user>/);
  * media.scanned: complete, exactly one detection naming the file, bus usb;
    av.detection (engine clamav, removable, the mount point); the collector on
    the loopback has both; the finding engaged the quarantine;
  * the stick found infected is unmounted and de-authorized: usb.blocked
    (critical, reason "infected", the av.detection as its cause), its storage
    interface authorized=0 without a block device; plugged in again it is
    blocked at once (mamorid remembers it until it restarts);
  * a clean file system made on the stick and mounted: media.scanned with 0.

Mount -> media.scanned is measured in the guest's clock (the time just before
mount(8) -> the event's time) and printed as a MEASURED line.

The guest is left as found: quarantine released, the stick unmounted and
allowed (unplugged, mamori.service restarted, plugged in again), its file
system clean,
mamori.conf restored, clamd stopped."""
import json
import os
import time

import e2e_eicar

SERIAL = "MAMORI-VM-ALLOWED-1"  # test_e2e.ALLOWED
USER = e2e_eicar.USER
MNT = "/media/%s/MAMORI-EICAR" % USER
MNT_CLEAN = "/media/%s/MAMORI-CLEAN" % USER
NAME = "eicar.com"
SIGS = e2e_eicar.SIGS

# mkfs.ext4's lost+found is root's, 0700: clamd (user clamav) cannot enter it
# and counts an error. A stick from outside has none (FAT); the test's ext4
# has it removed, so that errors must be 0.
NO_LOST_FOUND = "debugfs -w -R 'rmdir lost+found' %s >/dev/null 2>&1; ! debugfs -R 'ls -l' %s 2>/dev/null | grep -q lost+found"

MOUNTED = []  # what the test mounted, unmounted at its end

SCAN_CONF = "  scan = { on_mount = true; timeout = 120; };  # added by the vm test e2e_media_scan"


def now(t):
    rc, out, _ = t.g("date +%s.%N", check=True)
    return float(out.strip())


def stick(t):
    return t.dev(t.state(), SERIAL)


def mount(t, disk, mnt):
    """Mounts disk the way the seat's desktop would: udisksctl as the seat
    user when the image has udisks2 (then udisks picks the mount point), else
    mount(8) at mnt. Returns (guest time just before the mount, rc, output,
    the mount point)."""
    rc, _, _ = t.g("command -v udisksctl")
    t0 = now(t)
    if rc == 0:
        rc, out, err = t.g("runuser -u %s -- udisksctl mount --no-user-interaction -b %s" % (USER, disk),
                           timeout=60)
    else:
        rc, out, err = t.g("install -d -m 0755 /media/%s && mkdir -p %s && mount -o nosuid,nodev %s %s"
                           % (USER, mnt, disk, mnt), timeout=60)
    target = t.g("findmnt -n -o TARGET -S %s" % disk)[1].strip().split("\n")[0]
    if target:
        MOUNTED.append(target)
    return t0, rc, out + err + target, target


def umount(t, mnt):
    t.g("umount %s 2>/dev/null || umount -l %s 2>/dev/null; rmdir %s 2>/dev/null" % (mnt, mnt, mnt))


def scanned(t, mnt, timeout=60):
    evs = t.wait_event("media.scanned of " + mnt, lambda e: e["kind"] == "media.scanned"
                       and (e.get("scan") or {}).get("mount_point") == mnt, timeout=timeout)
    return evs[-1] if evs else {}


def run(t, c, vm):
    a = stick(t)
    if not c("media: the allowed stick is plugged with its block device", a and a["block"], a):
        return
    disk = "/dev/" + a["block"][0]
    rc, out, _ = t.g("findmnt -n -S %s" % disk)
    if out.strip():
        c("media: the stick is not mounted before the test", False, out)
        return
    rc, out, err = t.g("id %s >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin %s" % (USER, USER))

    # clamd again, on e2e_eicar's database (it stopped clamd at its end)
    t0 = time.monotonic()
    rc, out, err = t.g(e2e_eicar.CLAMD, timeout=180)
    if not c("media: clamd runs on the EICAR-only database again (%.1f s)" % (time.monotonic() - t0), rc == 0,
             out + err + t.g("journalctl -b -o cat -u clamav-daemon.service | tail -20")[1]):
        return

    # on_mount and the quarantine
    rc, out, err = t.g("cp /etc/mamori/mamori.conf /run/vmtest-media.conf.orig && "
                       "sed -i '0,/^antivirus = {/s|^antivirus = {|antivirus = {\\n%s|' /etc/mamori/mamori.conf && "
                       "cat >>/etc/mamori/mamori.conf <<'EOF'\n%s\nEOF\n"
                       "mamorid --check-config && systemctl reload mamori.service" % (SCAN_CONF, e2e_eicar.QUARANTINE_CONF))
    st = t.g("mamorictl --json status")[1]
    try:
        ms = json.loads(st).get("media_scans") or {}
    except ValueError:
        ms = {}
    c("media: antivirus.scan.on_mount and quarantine.on av.detection: reload accepted, status on_mount true",
      rc == 0 and ms.get("on_mount") is True, out + err + st)
    try:
        _run(t, c, vm, disk)
    finally:
        restore(t, c, vm)


def _run(t, c, vm, disk):
    # the file, written as root into the unmounted file system
    rc, out, err = t.g("%s && debugfs -w -R 'write /mnt/host/eicar.com %s' %s && debugfs -R 'stat %s' %s | head -3"
                       % (NO_LOST_FOUND % (disk, disk), NAME, disk, NAME, disk))
    c("media: EICAR written into the unmounted stick's file system (debugfs)",
      rc == 0 and "Size: %d" % len(e2e_eicar.EICAR) in out, out + err)

    n_det = len([e for e in t.events() if e["kind"] == "av.detection"])
    t_mount, rc, out, mnt = mount(t, disk, MNT)
    if not c("media: the stick mounted (%s)" % mnt, rc == 0 and mnt, out):
        return
    ev = scanned(t, mnt)
    sc = ev.get("scan") or {}
    print("      media.scanned: %s" % json.dumps(sc, ensure_ascii=False), flush=True)
    f = (sc.get("findings") or [{}])[0]
    c("media: media.scanned, complete, exactly one detection: %s/%s" % (mnt, NAME),
      sc.get("complete") is True and sc.get("detections") == 1 and len(sc.get("findings") or []) == 1
      and f.get("path") == "%s/%s" % (mnt, NAME) and f.get("signature") in SIGS and sc.get("bus") == "usb"
      and sc.get("errors") == 0, ev)
    if sc.get("errors"):
        rc, out, _ = t.g("journalctl -k -b -o cat | grep 'apparmor=\"DENIED\"' | grep clamd | tail -5; "
                         "grep -c media /etc/apparmor.d/local/usr.sbin.clamd")
        print("      clamd could not read the media; AppArmor denials for clamd:\n        "
              + "\n        ".join(out.splitlines() or ["none"]), flush=True)
    c("media: media.scanned is high (a detection)", ev.get("severity") == "high", ev.get("severity"))
    if ev:
        ms = (e2e_eicar.ts(ev) - t_mount) * 1000
        print("      MEASURED mount -> media.scanned (real clamd, one EICAR file): %.0f ms "
              "(mount(8) included; clamd took %s ms)" % (ms, sc.get("duration_ms")), flush=True)
        c("media: mount -> media.scanned %.0f ms (bounded: < 30 s)" % ms, 0 < ms < 30000, (t_mount, ev["time"]))

    path = "%s/%s" % (mnt, NAME)
    t.wait_event("av.detection", lambda e: e["kind"] == "av.detection"
                 and (e.get("antivirus") or {}).get("path") == path, timeout=10)
    time.sleep(2)  # clamd's VirusEvent too, if it reports the same finding
    det = [e for e in t.events() if e["kind"] == "av.detection"][n_det:]
    d = (det[-1].get("antivirus") or {}) if det else {}
    # clamd's VirusEvent reports it first (clamd waits for it before its
    # FOUND line); mamorid's own finding of the same file is not recorded again
    print("      av.detection for the one file: %d (reporters: %s)" % (
        len(det), ", ".join("uid %s" % (e.get("antivirus") or {}).get("reporter_uid") for e in det)), flush=True)
    c("media: exactly one av.detection: engine clamav, the file, removable, bus usb, mount point %s" % mnt,
      len(det) == 1 and d.get("engine") == "clamav" and d.get("signature") in SIGS and d.get("path") == path
      and d.get("removable") is True and d.get("bus") == "usb" and d.get("mount_point") == mnt, det)
    own = det
    ids = [e["id"] for e in det]
    q = t.wait_event("net.quarantined", lambda e: e["kind"] == "net.quarantined"
                     and (e.get("quarantine") or {}).get("cause_event") in ids, timeout=10)
    c("media: the finding engaged the quarantine (net.quarantined caused by it)", q, q)
    infected(t, c, det[-1] if det else None, mnt)
    if t.collector and ev and own:
        ids = {ev["id"], own[-1]["id"]}
        got = {}
        for _ in range(60):
            got, _bad = t.received()
            if ids <= set(got):
                break
            time.sleep(0.5)
        c("media: the collector on the loopback received media.scanned and av.detection", ids <= set(got),
          sorted(ids - set(got)))


def blocked_infected(t, after_seq=0):
    return [e for e in t.events() if e["kind"] == "usb.blocked" and e.get("seq", 0) > after_seq
            and (e.get("device") or {}).get("serial") == SERIAL
            and (e.get("decision") or {}).get("reason") == "infected"]


def storage_out(a):
    stor = [i for i in (a or {}).get("interfaces", []) if i["class"] == "08"]
    return bool(stor) and all(i["authorized"] == "0" and i["driver"] is None for i in stor) and not a["block"]


def infected(t, c, det, mnt):
    """The stick found infected is unmounted and de-authorized (usb.blocked,
    reason infected, the av.detection as its cause)."""
    b = t.wait_event("usb.blocked infected", lambda e: e["kind"] == "usb.blocked"
                     and (e.get("device") or {}).get("serial") == SERIAL
                     and (e.get("decision") or {}).get("reason") == "infected", timeout=30)
    e = b[-1] if b else {}
    c("media: usb.blocked, reason infected, critical, its cause the av.detection",
      e and e.get("severity") == "critical" and det and e.get("cause") == det["id"], b)
    if e and det:
        print("      MEASURED av.detection -> usb.blocked (infected; the unmount included): %.0f ms"
              % ((e2e_eicar.ts(e) - e2e_eicar.ts(det)) * 1000), flush=True)
    st = t.wait("the infected stick de-authorized", lambda s: storage_out(t.dev(s, SERIAL)), 30)
    a = t.dev(st, SERIAL)
    c("media: the infected stick's storage interface is authorized=0, no driver, no block device",
      storage_out(a), a)
    rc, out, _ = t.g("findmnt -n %s" % mnt)
    c("media: the infected stick's file system was unmounted", not out.strip(), out)


def restore(t, c, vm):
    """Everything back as the later scenarios expect it."""
    rc, out, _ = t.g("mamorictl status")
    if "Quarantine:   YES" in out:
        rc, out, err = t.g("mamorictl quarantine release --reason 'vm test: EICAR stick removed'")
        c("media: mamorictl quarantine release --reason", rc == 0, out + err)
        rel = t.wait_event("released", lambda e: e["kind"] == "net.quarantine_released"
                           and "EICAR stick removed" in str(e), timeout=10)
        c("media: net.quarantine_released with the reason", rel, rel)
    for m in MOUNTED:
        umount(t, m)
    del MOUNTED[:]
    a = stick(t)
    if not (a and a["block"]):
        # blocked as infected: plugged in again it stays out (mamorid
        # remembers it); unplugged, mamorid restarted (what clears that
        # memory, docs/lock-and-antivirus.md) and plugged in: allowed again
        seq = max([e.get("seq", 0) for e in t.events()] or [0])
        print("      the stick has no block device: plugged in again over QMP", flush=True)
        vm.unplug("allowed", is_stick=True)
        time.sleep(1)
        vm.add_stick("allowed", serial=SERIAL)
        if blocked_infected(t):
            b = []
            for _ in range(60):
                b = blocked_infected(t, seq)
                if b:
                    break
                time.sleep(0.5)
            st = t.wait("the stick enumerated", lambda s: (t.dev(s, SERIAL) or {}).get("interfaces"), 30)
            a = t.dev(st, SERIAL)
            c("media: plugged in again, the infected stick is blocked at once (reason infected, no block device)",
              b and storage_out(a), (b, a))
            vm.unplug("allowed", is_stick=True)
            rc, out, err = t.g("systemctl restart mamori.service && systemctl is-active mamori.service")
            c("media: mamori.service restarted (clears the infected stick's memory)", rc == 0, out + err)
            time.sleep(1)
            vm.add_stick("allowed", serial=SERIAL)
        st = t.wait("the stick back", lambda s: (t.dev(s, SERIAL) or {}).get("block"), 60)
        a = t.dev(st, SERIAL)
    ok = bool(a and a["block"])
    c("media: the stick is allowed with its block device again", ok, a)
    if ok:
        disk = "/dev/" + a["block"][0]
        # a clean file system: the EICAR file gone with the old one
        rc, out, err = t.g("mkfs.ext4 -q -F -L vmclean %s && %s" % (disk, NO_LOST_FOUND % (disk, disk)), timeout=120)
        c("media: a clean ext4 file system made on the stick", rc == 0, out + err)
        t_mount, rc, out, mnt = mount(t, disk, MNT_CLEAN)
        if c("media: the clean stick mounted (%s)" % mnt, rc == 0 and mnt, out):
            ev = scanned(t, mnt)
            sc = ev.get("scan") or {}
            print("      media.scanned (clean): %s" % json.dumps(sc, ensure_ascii=False), flush=True)
            c("media: a clean mount gives media.scanned, complete, 0 detections, info",
              sc.get("complete") is True and sc.get("detections") == 0 and sc.get("errors") == 0
              and not sc.get("findings")
              and ev.get("severity") == "info", ev)
            if ev:
                print("      MEASURED mount -> media.scanned (clean stick): %.0f ms"
                      % ((e2e_eicar.ts(ev) - t_mount) * 1000), flush=True)
        for m in MOUNTED:
            umount(t, m)
        del MOUNTED[:]
    t.g("systemctl stop clamav-daemon.service; rm -f /var/lib/clamav/vmtest-eicar.hdb; "
        "test -f /run/vmtest-media.conf.orig && cp /run/vmtest-media.conf.orig /etc/mamori/mamori.conf && "
        "systemctl reload mamori.service")
    rc, out, _ = t.g("mamorictl status; findmnt -n -S /dev/%s" % ((a or {}).get("block") or ["none"])[0])
    c("media: after: no quarantine, the stick not mounted, mamori.conf as before",
      "Quarantine:   YES" not in out and "/media/" not in out, out)
