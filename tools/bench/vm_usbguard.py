#!/usr/bin/python3
"""Benchmark in the QEMU guest: mamori and USBGuard blocking the same stick.

Both daemons are installed in the same guest (mamori from the built .deb,
USBGuard from Debian's usbguard package) with equivalent policies: one stick
(46f4:0001, serial ALLOWED) is allowed, HID and hubs are left alone, every
other storage device is blocked. Only one daemon runs at a time. For each
repetition an unlisted stick is hot-plugged over QMP, watched from inside the
guest (tools/bench/guest/watch-plug.py), and unplugged again.

What is measured, from the moment the host sends QMP device_add (host clock
mapped onto the guest's CLOCK_REALTIME through qemu-guest-agent's
guest-get-time, the round trip with the least delay; its half-width is printed
as the clock error):

  enumerated  the kernel's `add` uevent of the new USB device reaches a netlink
              listener in the guest (QEMU + TCG + the kernel's enumeration: the
              same for both daemons);
  blocked     the stick's storage is blocked as seen from the kernel: mamori
              has the kernel create the storage interface with authorized=0
              (root hubs' interface_authorized_default=0), USBGuard has it
              create the device unconfigured (authorized_default=0, its
              AuthorizedDefault=none); the moment is the uevent of the
              interface (mamori) or of the device (USBGuard), and `authorized`
              read from sysfs right then must be 0;
  udev        udevd has processed the stick's first `add` (the device's) and
              broadcast it: the moment a libudev/sd-device listener such as
              mamorid hears of the stick (it reads the interfaces from sysfs
              then). USBGuard reads the kernel's uevents itself and does not
              wait for udevd;
  recorded    the daemon's record of its block decision is written: the first
              write to mamori's state directory that holds the usb.blocked
              event for that serial, or to USBGuard's audit log holding the
              block target for it (inotify in the guest). mamori gathers the
              interfaces of one plug for 50 ms before it writes one event.
  delivered   (mamori) the collector in the guest (tests/integration/collector.py,
              HTTPS with mutual TLS on 127.0.0.1) has accepted the batch that
              holds the usb.blocked event: the first write of it to the
              collector's record file, made right before its 2xx goes out.
              mamorid commits the event to the spool; mamori-uplink, woken by
              inotify on the spool, reads it and posts it.

mamori records every plug here (usb.repeat_window = 0: the same stick comes
back every few seconds, which would otherwise be one record per minute).

Every repetition also checks that no driver bound to the stick and no block
device appeared. RSS and Private_Dirty come from /proc/PID/smaps_rollup of the
running daemon (for mamori: mamorid and mamori-uplink, each), right after
its start and again after all its plugs.
Prints medians and spreads (min, max); it is not a pass/fail test.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from vmtest import VM, log  # noqa: E402
from collector import make_pki  # noqa: E402

COLLECTOR_PORT = 8443
# the collector's record file in the guest (local: inotify sees its writes)
DELIVERED_DIR = "/run/bench-collector"
COLLECTOR_UNIT = """\
[Unit]
Description=bench: HTTPS collector on 127.0.0.1:%d
RequiresMountsFor=/mnt/host

[Service]
RuntimeDirectory=bench-collector
ExecStart=/usr/bin/python3 /mnt/host/collector.py /mnt/host/pki %d %s/received.jsonl
""" % (COLLECTOR_PORT, COLLECTOR_PORT, DELIVERED_DIR)
COLLECTOR_CONF = """\

# added by tools/bench/vm_usbguard.py
collector = {
  url = "https://127.0.0.1:%d/ingest";
  ca_file = "/etc/mamori/bench/ca.pem";
  client_cert = "/etc/mamori/bench/client.pem";
  client_key = "/etc/mamori/bench/client.key";
};
""" % COLLECTOR_PORT

ALLOWED = "MAMORI-BENCH-ALLOWED"
UNLISTED = "MAMORI-BENCH-UNLISTED"

MAMORI_ALLOW = """\
allow = ( { vendor = "46f4"; product = "0001"; serial = "%s";
            label = "bench: the approved stick"; approved_by = "tools/bench"; } );
""" % ALLOWED

# The same policy in USBGuard's language: the approved stick, HID and hubs
# allowed; everything else falls to ImplicitPolicyTarget=block.
USBGUARD_RULES = """\
allow id 46f4:0001 serial "%s"
allow with-interface one-of { 03:*:* 09:*:* }
""" % ALLOWED

DAEMONS = {
    "mamori": {"unit": "mamori.service", "verdict_dir": "/var/lib/mamori", "delivered_dir": DELIVERED_DIR,
               "also": ["mamori-uplink.service"]},
    "usbguard": {"unit": "usbguard.service", "verdict_dir": "/var/log/usbguard"},
}


def pct(values, p):
    """The p-th percentile (nearest rank)."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


def ms(x):
    return "%7.1f" % (x * 1000)


def summary(values):
    if not values:
        return "   (none)"
    return "%s ms  (min %s, max %s, n=%d)" % (ms(statistics.median(values)), ms(min(values)).strip(),
                                              ms(max(values)).strip(), len(values))


class Bench:
    def __init__(self, vm, reps):
        self.vm = vm
        self.reps = reps

    def sh(self, script, timeout=120):
        return self.vm.sh(script, timeout=timeout, check=True)[1]

    def memory(self, unit):
        out = self.sh("pid=$(systemctl show -P MainPID %s); cat /proc/$pid/smaps_rollup; "
                      "grep -E '^(VmHWM|VmRSS)' /proc/$pid/status; cat /proc/$pid/comm" % unit)
        mem = {}
        for line in out.splitlines():
            parts = line.replace(":", " ").split()
            if len(parts) >= 2 and parts[1].isdigit():
                mem[parts[0]] = int(parts[1])
        mem["comm"] = out.strip().splitlines()[-1]
        return mem

    def activate(self, name):
        if name == "mamori":
            self.sh("systemctl stop usbguard.service 2>/dev/null || true; "
                    "systemctl start mamori.service; systemctl is-active mamori.service")
        else:
            # USBGuard's own setting of the root hubs: undo what mamori set
            self.sh("systemctl stop mamori.service; "
                    "for h in /sys/bus/usb/devices/usb*; do echo 1 >$h/interface_authorized_default; done; "
                    "systemctl unmask usbguard.service; systemctl start usbguard.service; "
                    "systemctl is-active usbguard.service; sleep 1; usbguard list-rules")
        time.sleep(2)

    def one_plug(self, name, i):
        vm = self.vm
        d = DAEMONS[name]
        ready = "/run/watch-ready-%s-%d" % (name, i)
        out = "/run/watch-%s-%d.json" % (name, i)
        self.sh("rm -f %s; setsid /usr/bin/python3 /mnt/host/watch-plug.py %s %s %s 30 %s >%s 2>&1 </dev/null & "
                "for n in $(seq 200); do [ -e %s ] && exit 0; sleep 0.05; done; exit 1"
                % (ready, d["verdict_dir"], UNLISTED, ready, d.get("delivered_dir", ""), out, ready))
        offset, err = vm.guest_realtime_offset()
        node = "b%s%d" % (name[0], i)
        t_send = time.time()
        vm.add_stick(node, serial=UNLISTED)
        t_ret = time.time()
        rc, res, _ = vm.sh("for n in $(seq 600); do grep -q '^{' %s 2>/dev/null && break; sleep 0.05; done; cat %s"
                           % (out, out), timeout=60)
        vm.unplug(node, is_stick=True)
        self.sh("udevadm settle -t 30; sleep 0.5")
        try:
            r = json.loads(res)
        except ValueError:
            log("%s #%d: watcher said: %s" % (name, i, res))
            return None
        t0 = t_send + offset  # device_add, on the guest's clock
        row = {"qmp": t_ret - t_send, "clock_err": err, "binds": r["binds"], "block": r["block"]}
        if r["device"]:
            row["enumerated"] = r["device"]["t"] - t0
        if r.get("udev"):
            row["udev"] = min(x["t"] for x in r["udev"]) - t0
        if name == "mamori":
            stor = [x for x in r["interfaces"] if (x["class"] or "").startswith("8/")]
            if stor:
                row["blocked"] = stor[0]["t"] - t0
                row["blocked_ok"] = stor[0]["authorized"] == "0"
        elif r["device"]:
            row["blocked"] = r["device"]["t"] - t0
            row["blocked_ok"] = r["device"]["authorized"] == "0" and not r["interfaces"]
        if r["verdict"]:
            row["recorded"] = r["verdict"]["t"] - t0
        if r.get("delivered"):
            row["delivered"] = r["delivered"]["t"] - t0
        return row

    def run(self, name):
        unit = DAEMONS[name]["unit"]
        self.activate(name)
        mem0 = self.memory(unit)
        also0 = {u: self.memory(u) for u in DAEMONS[name].get("also", [])}
        rows = []
        for i in range(self.reps):
            row = self.one_plug(name, i)
            if row:
                rows.append(row)
                log("%s #%d: enumerated %s, blocked %s, udev %s, recorded %s ms (clock +-%.1f ms)%s" % (
                    name, i, ms(row.get("enumerated", float("nan"))), ms(row.get("blocked", float("nan"))),
                    ms(row.get("udev", float("nan"))),
                    ms(row.get("recorded", float("nan"))) + (", delivered %s" % ms(row["delivered"]) if "delivered" in row else ""),
                    row["clock_err"] * 1000,
                    "" if row.get("blocked_ok") and not row["binds"] and not row["block"] else "  NOT BLOCKED?"))
        mem1 = self.memory(unit)
        also1 = {u: self.memory(u) for u in DAEMONS[name].get("also", [])}
        return {"rows": rows, "mem_start": mem0, "mem_end": mem1, "also_start": also0, "also_end": also1}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", required=True)
    ap.add_argument("--deb", required=True)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--json", help="also write the raw figures here")
    a = ap.parse_args()

    share = tempfile.mkdtemp(prefix="mamori-bench-share.")
    os.chmod(share, 0o755)
    shutil.copy(os.path.join(TOP, "tools", "bench", "guest", "watch-plug.py"), share)
    shutil.copy(a.deb, share)
    with open(os.path.join(share, "50-bench.conf"), "w") as f:
        f.write(MAMORI_ALLOW)
    with open(os.path.join(share, "rules.conf"), "w") as f:
        f.write(USBGUARD_RULES)
    make_pki(os.path.join(share, "pki"))
    shutil.copy(os.path.join(TOP, "tests", "integration", "collector.py"), share)
    with open(os.path.join(share, "bench-collector.service"), "w") as f:
        f.write(COLLECTOR_UNIT)
    with open(os.path.join(share, "collector.conf"), "w") as f:
        f.write(COLLECTOR_CONF)

    vm = VM(a.image, share=share)
    results = {}
    try:
        vm.start()
        vm.wait_ready()
        b = Bench(vm, a.reps)
        b.sh("dpkg -i /mnt/host/%s >/dev/null && cp /mnt/host/50-bench.conf /etc/mamori/allow.d/ && "
             "install -m 600 /mnt/host/rules.conf /etc/usbguard/rules.conf" % os.path.basename(a.deb), timeout=300)
        # the collector, and mamori delivering to it (the key is the uplink's group's to read)
        b.sh("cp /mnt/host/bench-collector.service /etc/systemd/system/ && systemctl daemon-reload && "
             "systemctl start bench-collector.service && "
             "install -d -m 750 -g mamori-uplink /etc/mamori/bench && "
             "install -m 644 /mnt/host/pki/ca.pem /mnt/host/pki/client.pem /etc/mamori/bench/ && "
             "install -m 640 -g mamori-uplink /mnt/host/pki/client.key /etc/mamori/bench/ && "
             "cat /mnt/host/collector.conf >>/etc/mamori/mamori.conf && "
             "sed -i 's/^usb = {$/usb = {\\n  repeat_window = 0;/' /etc/mamori/mamori.conf && "
             "mamorid --check-config && systemctl restart mamori-uplink.service && "
             "systemctl stop mamori.service", timeout=120)
        versions = b.sh("dpkg-query -W -f='${Package} ${Version}\\n' mamori usbguard; uname -r; nproc")
        for name in ("mamori", "usbguard"):
            results[name] = b.run(name)
    finally:
        vm.stop()
        shutil.rmtree(share, ignore_errors=True)

    print("\n=== USB block benchmark in a QEMU guest (accel %s, %d vCPU; host: %d CPUs, load %.2f)"
          % (vm.accel, vm.smp, os.cpu_count(), os.getloadavg()[0]))
    print(versions.strip())
    print("unlisted stick hot-plugged %d times per daemon; times from QMP device_add, median (min, max):" % a.reps)
    for name in ("mamori", "usbguard"):
        r = results[name]
        rows = r["rows"]
        bad = [x for x in rows if not x.get("blocked_ok") or x["binds"] or x["block"]]
        print("\n%s:" % name)
        for key in ("enumerated", "blocked", "udev", "recorded", "delivered"):
            if any(key in x for x in rows):
                print("  %-16s %s" % (key, summary([x[key] for x in rows if key in x])))
        dl = [x["delivered"] for x in rows if "delivered" in x]
        if dl:
            print("  %-16s p50 %s ms, p90 %s ms (n=%d of %d plugs)" % ("delivered", ms(pct(dl, 50)).strip(),
                                                                   ms(pct(dl, 90)).strip(), len(dl), len(rows)))
            print("  %-16s %s" % ("recorded..delivered", summary([x["delivered"] - x["recorded"] for x in rows
                                                                  if "delivered" in x and "recorded" in x])))
        for a_, b_ in (("blocked", "recorded"), ("udev", "recorded")):
            print("  %-16s %s" % ("%s..%s" % (a_, b_), summary([x[b_] - x[a_] for x in rows if a_ in x and b_ in x])))
        print("  QMP device_add round trip %s; clock error +-%s ms (max)" % (
            summary([x["qmp"] for x in rows]), ms(max(x["clock_err"] for x in rows)).strip() if rows else "-"))
        print("  never bound, no block device, unauthorized at birth: %d of %d plugs%s" % (
            len(rows) - len(bad), len(rows), "" if not bad else "  <-- %s" % json.dumps(bad)))
        for when in ("start", "end"):
            for m in [r["mem_" + when]] + list(r.get("also_" + when, {}).values()):
                print("  %-9s %s: Rss %d KiB, Pss %d KiB, Private_Dirty %d KiB, Private_Clean %d KiB; VmRSS %d KiB, VmHWM %d KiB" % (
                    "memory at " + when, m.get("comm"), m.get("Rss", 0),
                    m.get("Pss", 0), m.get("Private_Dirty", 0), m.get("Private_Clean", 0), m.get("VmRSS", 0),
                    m.get("VmHWM", 0)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
