#!/usr/bin/python3
"""End-to-end test of mamori on the real kernel USB stack, in a QEMU guest.

The built .deb is installed in a Debian 12 guest (offline, dpkg -i: its
dependencies must be complete) with a policy that allows one stick. Then an
allowed stick, an unlisted stick and a keyboard are hot-plugged over QMP:

  * the unlisted stick never gets a block device, not even for a moment: a
    udevadm monitor on the block subsystem, started and proven live before the
    plug, must never show a device below it, and the kernel log must never show
    usb-storage probing it;
  * the allowed stick gets its block device; the keyboard stays bound (usbhid);
  * every decision holds across a restart of mamorid (no block uevent at all
    meanwhile) and across a reboot with the sticks still plugged (checked right
    after boot too);
  * the events are in the journal and reach a collector on the guest's loopback,
    through mamori-uplink (its own user) while mamorid has no network, no TLS
    library mapped and no capability (e2e_uplink.privsep);
  * with --old-deb, the guest starts on the one-process version, which records
    events while the collector is down, and is upgraded: nothing lost, nothing
    repeated, seq goes on (e2e_uplink.upgrade);
  * with --collector-deb, a fresh install of mamori-collector in the same
    guest: the agent delivers to it over mutual TLS into SQLite and into
    PostgreSQL, a stopped agent becomes host.stopped and a silent one
    host.silent (e2e_collector.run).

The guest has no network device: no test traffic can leave it.
Prints one CHECK line per check and ends with "N passed, N failed".
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmtest import VM, log  # noqa: E402
import e2e_collector  # noqa: E402
import e2e_eicar  # noqa: E402
import e2e_media_scan  # noqa: E402
import e2e_mount  # noqa: E402
import e2e_readonly  # noqa: E402
import e2e_optical  # noqa: E402
import e2e_pkg  # noqa: E402
import e2e_quarantine_reboot  # noqa: E402
import e2e_uplink  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTOR = os.path.join(HERE, "..", "integration", "collector.py")  # the reporting tests' HTTPS collector
COLLECTOR_PORT = 8443
ALLOWED = "MAMORI-VM-ALLOWED-1"
UNLISTED = "MAMORI-VM-UNLISTED-2"
KBD = "MAMORI-VM-KBD-3"

# The collector runs in the guest, on its loopback (the guest has no network
# device), from boot on, and appends every event it accepts to the share.
COLLECTOR_UNIT = """\
[Unit]
Description=vm test: HTTPS collector on 127.0.0.1:%d
RequiresMountsFor=/mnt/host
Before=mamori.service

[Service]
ExecStart=/usr/bin/python3 /mnt/host/collector.py /mnt/host/pki %d /mnt/host/received.jsonl

[Install]
WantedBy=multi-user.target
""" % (COLLECTOR_PORT, COLLECTOR_PORT)

COLLECTOR_CONF = """\

# added by tests/vm/test_e2e.py: the collector on the guest's loopback
collector = {
  url = "https://127.0.0.1:%d/ingest";
  ca_file = "/etc/mamori/vmtest/ca.pem";
  client_cert = "/etc/mamori/vmtest/client.pem";
  client_key = "/etc/mamori/vmtest/client.key";
};
""" % COLLECTOR_PORT

# A stick plugged in at power-on is enumerated before udev runs, with the
# kernel's default interface_authorized_default=1. The udev rule takes its
# storage interface back at coldplug, before the usb-storage module is loaded
# (docs/device-enforcement.md, "At boot"): the unlisted stick must never be probed
# nor get a block device during boot, not even before mamori.service starts.

# A USB controller that appears at run time (a dock, a PCI rescan) has a new
# root hub, whose interface_authorized_default is the kernel's 1 until udev has
# handled its "add": a stick already behind it is enumerated at once and its
# interface may get usb-storage before the rule runs. The VM has a hot-plug
# PCIe root port for that controller; a test-only rule makes udev 0.7 s slower
# on a root hub's "add" (a loaded machine, a dock that brings many devices), so
# that the kernel always wins that race without the rule's fix.
DOCK_ROOT_PORT = ["-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1"]
DOCK_UNLISTED = "MAMORI-VM-DOCK-UNLISTED-4"
DOCK_KBD = "MAMORI-VM-DOCK-KBD-5"
SLOW_ROOT_HUB_RULE = ('ACTION=="add", SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", '
                      'TEST=="interface_authorized_default", PROGRAM="/bin/sleep 0.7"\n')

ALLOW_CONF = """\
# written by tests/vm/test_e2e.py
allow = (
  {
    vendor = "46f4";
    product = "0001";
    serial = "%s";
    label = "vm test: the approved stick";
    approved_by = "tests/vm";
    approved_on = "2026-01-01";
    ticket = "VM-1";
  }
);
""" % ALLOWED

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def __call__(self, name, ok, detail=""):
        ok = bool(ok)
        print("CHECK %-74s %s" % (name, "OK" if ok else "FAILED"), flush=True)
        if not ok:
            if detail:
                print("      " + str(detail).replace("\n", "\n      "), flush=True)
            self.failed.append(name)
        else:
            self.passed += 1
        return ok


class E2E:
    def __init__(self, vm, check, share):
        self.vm = vm
        self.check = check
        self.share = share
        self.block_lines_seen = 0
        self.seen = {}
        self.collector = os.path.exists(os.path.join(share, "collector.py"))

    def g(self, script, timeout=60, check=False):
        rc, out, err = self.vm.sh(script, timeout=timeout, check=check)
        return rc, out, err

    def state(self):
        rc, out, err = self.g("/usr/bin/python3 /mnt/host/usbstate.py", check=True)
        return json.loads(out)

    def dev(self, st, serial):
        for d in st["devices"]:
            if d["serial"] == serial:
                return d
        return None

    def wait(self, what, pred, timeout=60):
        end = time.monotonic() + timeout
        while True:
            st = self.state()
            if pred(st):
                return st
            if time.monotonic() > end:
                log("timed out waiting for %s; state: %s" % (what, json.dumps(st)))
                return st
            time.sleep(0.5)

    def events(self):
        """Every mamori event of this boot, from the journal (MAMORI_EVENT carries the JSON)."""
        rc, out, err = self.g("journalctl -b -o json --output-fields=MAMORI_EVENT _COMM=mamorid", check=True)
        evs, ids = [], set()
        for line in out.splitlines():
            try:
                j = json.loads(line)
                e = json.loads(j["MAMORI_EVENT"]) if j.get("MAMORI_EVENT") else None
            except (ValueError, KeyError, TypeError):
                continue
            if e and e.get("id") not in ids:
                ids.add(e.get("id"))
                evs.append(e)
        evs.sort(key=lambda e: e.get("seq", 0))
        self.seen.update((e["id"], e) for e in evs)  # the guest's journal does not outlive a boot
        return evs

    def usb_events(self, serial, kind=None):
        return [e for e in self.events() if (e.get("device") or {}).get("serial") == serial
                and (kind is None or e["kind"] == kind)]

    def wait_event(self, what, pred, timeout=30):
        end = time.monotonic() + timeout
        while True:
            evs = [e for e in self.events() if pred(e)]
            if evs or time.monotonic() > end:
                return evs
            time.sleep(0.5)

    # -- the block uevent monitor
    def start_block_monitor(self):
        self.g("setsid udevadm monitor --kernel --subsystem-match=block >/run/mon-block.log 2>&1 "
               "</dev/null & echo $! >/run/mon-block.pid; "
               "setsid udevadm monitor --kernel --udev --subsystem-match=usb >/run/mon-usb.log 2>&1 "
               "</dev/null &", check=True)
        # Proof that it receives: a synthetic change uevent of the root disk must show up.
        rc, out, _ = self.g("for i in $(seq 100); do echo change >/sys/block/vda/uevent; sleep 0.1; "
                            "grep -q 'change.*/block/vda ' /run/mon-block.log && exit 0; done; exit 1")
        self.check("block uevent monitor is live before any plug (saw a vda change)", rc == 0)

    def block_events(self):
        rc, out, _ = self.g("cat /run/mon-block.log; kill -0 $(cat /run/mon-block.pid) && echo MONITOR-ALIVE")
        evs = []
        for line in out.splitlines():
            if line.startswith("KERNEL["):
                parts = line.split()
                if len(parts) >= 3:
                    evs.append((parts[1], parts[2]))
        return evs, "MONITOR-ALIVE" in out

    def check_unbinds(self, when, a, k):
        """The usb monitor (started with the block one) must show no unbind below the
        keyboard or the allowed stick: neither lost its driver, even briefly."""
        rc, out, _ = self.g("cat /run/mon-usb.log")
        unbinds = [line for line in out.splitlines() if line.startswith("KERNEL[") and " unbind " in line
                   and any((d["devpath"] + "/") in line or line.rstrip().endswith(d["devpath"] + " (usb)")
                           for d in (a, k))]
        self.check("%s: keyboard and allowed stick never unbound (usb uevent monitor)" % when, not unbinds, unbinds)

    def kernel_log(self):
        rc, out, _ = self.g("journalctl -k -b -o cat", check=True)
        return out

    # -- the scenario
    def install(self, deb, collector_up=True, what="the .deb"):
        name = os.path.basename(deb) if os.path.isabs(deb) else deb  # (relative: below the share's pkg/)
        rc, out, err = self.g("dpkg -i /mnt/host/pkg/%s 2>&1" % name, timeout=180)
        print(out.rstrip())
        self.check("%s installs offline with dpkg -i (dependencies complete)" % what, rc == 0, out + err)
        rc, out, _ = self.g("systemctl is-enabled mamori.service; systemctl is-active mamori.service")
        self.check("installing enabled and started mamori.service", out.split() == ["enabled", "active"], out)
        if self.collector:
            # The key as the one-process version's man page asked (root only);
            # with the uplink, the administrator gives it to its group.
            self.g("cp /mnt/host/vmtest-collector.service /etc/systemd/system/ && systemctl daemon-reload && "
                   "systemctl enable %s vmtest-collector.service && "
                   "install -d -m 700 /etc/mamori/vmtest && "
                   "install -m 644 /mnt/host/pki/ca.pem /mnt/host/pki/client.pem /etc/mamori/vmtest/ && "
                   "install -m 600 /mnt/host/pki/client.key /etc/mamori/vmtest/ && "
                   "cat /mnt/host/collector.conf >>/etc/mamori/mamori.conf" % ("--now" if collector_up else ""),
                   check=True)
            if self.uplink_unit():
                rc, out, err = e2e_uplink.give_key_to_uplink(self)
                self.check("the client key given to the uplink's group (root:mamori-uplink 0640)", rc == 0, out + err)
        rc, out, _ = self.g("cp /mnt/host/50-vmtest.conf /etc/mamori/allow.d/ && "
                            "mamorid --check-config && systemctl reload mamori.service")
        self.check("policy with one allowed stick loads (check-config, reload)", rc == 0, out)
        evs = self.wait_event("config_changed", lambda e: e["kind"] == "agent.config_changed")
        self.check("reload recorded agent.config_changed", evs, self.events())

    def uplink_unit(self):
        rc, _, _ = self.g("test -e /lib/systemd/system/mamori-uplink.service")
        return rc == 0

    def received(self):
        """Events the collector accepted, by id (the share is the host's directory), and
        the lines that were not JSON objects."""
        got, bad = {}, []
        try:
            with open(os.path.join(self.share, "received.jsonl"), "rb") as f:
                for line in f:
                    try:
                        e = json.loads(line)
                        got[e["id"]] = e
                    except (ValueError, KeyError, TypeError):
                        bad.append(line)
        except FileNotFoundError:
            pass
        return got, bad

    def check_collector(self, when):
        if not self.collector:
            print("collector: tests/integration/collector.py is not in this tree yet; "
                  "events were read from the journal only", flush=True)
            return
        self.events()
        want = dict(self.seen)
        end = time.monotonic() + 90
        while time.monotonic() < end:
            got, bad = self.received()
            if set(want) <= set(got):
                break
            time.sleep(1)
        missing = [want[i] for i in set(want) - set(got)]
        self.check("%s: the collector on the guest's loopback received every event so far (%d)"
                   % (when, len(want)), not missing, missing)
        self.check("%s: every line the collector received is one JSON event" % when, not bad, bad[:3])
        self.check("%s: the received events are identical to the journal's" % when,
                   all(got[i] == want[i] for i in set(want) & set(got)))
        self.check("%s: the collector has the unlisted stick's usb.blocked" % when,
                   any(e["kind"] == "usb.blocked" and (e.get("device") or {}).get("serial") == UNLISTED
                       for e in got.values()))
        if when == "after reboot":
            # SIGTERM at shutdown: recorded then, delivered from the spool after the boot
            stops = [e for e in got.values() if e["kind"] == "agent.stopping"]
            self.check("%s: the agent.stopping events of the restart and of the shutdown arrived" % when,
                       len(stops) >= 2, stops)
        rc, out, _ = self.g("ls /sys/class/net")
        self.check("%s: the guest has no network device but lo" % when, out.split() == ["lo"], out)

    def plug(self):
        vm = self.vm
        self.start_block_monitor()
        vm.add_stick("allowed", serial=ALLOWED)
        vm.add_stick("unlisted", serial=UNLISTED)
        vm.add_kbd("kbd", serial=KBD)

        def settled(st):
            a, u, k = (self.dev(st, s) for s in (ALLOWED, UNLISTED, KBD))
            return (a and a["block"] and u and u["interfaces"] and k and k["interfaces"]
                    and k["interfaces"][0]["driver"] == "usbhid")
        self.wait("all three plugged", settled, 90)
        self.wait_event("unlisted blocked", lambda e: e["kind"] == "usb.blocked"
                        and (e.get("device") or {}).get("serial") == UNLISTED)
        # leave any late probe of the unlisted stick time to show up
        time.sleep(3)
        self.g("udevadm settle -t 30")
        self.verify("after hot-plug")

    def verify(self, when, block_events_expected=None):
        st = self.state()
        a, u, k = (self.dev(st, s) for s in (ALLOWED, UNLISTED, KBD))
        c = self.check
        c("%s: all three devices present" % when, a and u and k, st)
        if not (a and u and k):
            return
        stor = [i for i in u["interfaces"] if i["class"] == "08"]
        c("%s: unlisted stick's storage interface is unauthorized, no driver" % when,
          stor and all(i["authorized"] == "0" and i["driver"] is None for i in stor), u)
        c("%s: unlisted stick has no block device" % when, not u["block"], u)
        c("%s: allowed stick has its block device" % when, len(a["block"]) == 1, a)
        c("%s: allowed stick's interface is bound to usb-storage" % when,
          any(i["driver"] == "usb-storage" and i["authorized"] == "1" for i in a["interfaces"]), a)
        c("%s: keyboard bound to usbhid" % when,
          k["interfaces"] and all(i["driver"] == "usbhid" for i in k["interfaces"]), k)
        c("%s: the allowed stick's is the only sdX in the guest" % when,
          [b for b in st["block"] if b.startswith("sd")] == a["block"], st["block"])
        self.last = (a, u, k)
        return a, u, k

    def check_block_monitor(self, when, a, u, expect_new):
        evs, alive = self.block_events()
        c = self.check
        c("%s: block monitor still running" % when, alive)
        under_u = [e for e in evs if e[1].startswith(u["devpath"] + "/")]
        c("%s: no block uevent ever below the unlisted stick" % when, not under_u, under_u)
        new = evs[self.block_lines_seen:]
        self.block_lines_seen = len(evs)
        stick_evs = [e for e in new if "/block/vda" not in e[1]]
        if expect_new:
            c("%s: the allowed stick's block device was added (seen by the monitor)" % when,
              any(act == "add" and dp.startswith(a["devpath"] + "/") for act, dp in stick_evs), stick_evs)
        else:
            c("%s: no block uevent at all (nothing removed, nothing added)" % when, not stick_evs, stick_evs)

    def check_kernel_log(self, when, a, u):
        klog = self.kernel_log()
        ui = [i["name"] for i in u["interfaces"]]
        ai = [i["name"] for i in a["interfaces"]]
        # usb-storage logs "usb-storage 2-1:1.0: USB Mass Storage device detected" on every probe
        probed_u = [line for line in klog.splitlines() if "Mass Storage device detected" in line
                    and any(("%s:" % n) in line for n in ui)]
        probed_a = [line for line in klog.splitlines() if "Mass Storage device detected" in line
                    and any(("%s:" % n) in line for n in ai)]
        self.check("%s: kernel log: usb-storage never probed the unlisted stick" % when, not probed_u, probed_u)
        self.check("%s: kernel log: usb-storage probed the allowed stick" % when, probed_a)

    def boot_timeline(self, ifaces):
        """This boot's journal lines about the interfaces, their SCSI hosts and disks, and mamori's start."""
        rc, out, _ = self.g("journalctl -b -o short-monotonic --no-hostname", timeout=60)
        iface_re = re.compile(r"(%s)(\b|$)" % "|".join(re.escape(n) for n in ifaces))
        hosts = set(m.group(1) for m in re.finditer(r"scsi host(\d+): usb-storage (\S+)", out)
                    if iface_re.match(m.group(2)))
        disk_re = re.compile(r"sd (%s):\d+:\d+:\d+: \[(sd\w+)\]" % "|".join(hosts)) if hosts else None
        disks = sorted(set(m.group(2) for m in disk_re.finditer(out))) if disk_re else []
        keep = [line for line in out.splitlines()
                if iface_re.search(line) or (disk_re and disk_re.search(line) and "Attached" in line)
                or "Started mamori" in line or "mamorid" in line and "enforcing" in line
                or "Blocked USB" in line]
        keep.append("=> SCSI host(s) of the unlisted stick: %s; its block device(s) during boot: %s"
                    % (", ".join(sorted(hosts)) or "none", ", ".join(disks) or "none"))
        return keep[-40:]

    def save_logs(self, tag):
        self.g("mkdir -p /mnt/host/logs && journalctl -b -o short-monotonic >/mnt/host/logs/journal-%s.txt; "
               "cp /run/mon-*.log /mnt/host/logs/ 2>/dev/null; true" % tag, timeout=60)

    # -- a controller that appears at run time
    def dock(self):
        """Hot-adds a second xHCI controller with the unlisted stick and a keyboard
        already behind it, then removes the controller and finds it again with a
        PCI rescan (the devices stay plugged: "a stick already in the dock"). The
        stick's storage interface must never get a driver nor a block device; the
        keyboard must work."""
        vm, c = self.vm, self.check
        self.g("printf '%s' '" + SLOW_ROOT_HUB_RULE + "' >/etc/udev/rules.d/69-vmtest-slow-root-hub.rules && "
               "udevadm control --reload && "
               "setsid udevadm monitor --kernel --subsystem-match=usb --subsystem-match=scsi_host "
               "--subsystem-match=block >/run/mon-dock.log 2>&1 </dev/null &", check=True)
        rc, out, _ = self.g("for i in $(seq 100); do echo change >/sys/block/vda/uevent; sleep 0.1; "
                            "grep -q 'change.*/block/vda ' /run/mon-dock.log && exit 0; done; exit 1")
        c("dock: uevent monitor is live before the controller appears", rc == 0)
        t0 = time.monotonic()
        vm.qmp.cmd("device_add", driver="qemu-xhci", id="xhci2", bus="rp1", p2=4, p3=4)
        vm.add_stick("dockstick", serial=DOCK_UNLISTED, bus="xhci2.0")
        vm.add_kbd("dockkbd", serial=DOCK_KBD, bus="xhci2.0")
        st = self.dock_settled(t0, 0)
        u = self.dev(st, DOCK_UNLISTED)
        if not c("dock: the stick behind the new controller is there", u, st):
            return
        # .../0000:01:00.0/usb4/4-1 -> the controller's PCI device
        pci = "/sys" + u["devpath"].rsplit("/usb", 1)[0]
        self.check_dock("new controller", st, 0)
        self.g(": >/run/mon-dock.log", check=True)
        n = len(self.usb_events(DOCK_UNLISTED, "usb.blocked"))
        t0 = time.monotonic()
        self.g("echo 1 >%s/remove && sleep 1 && echo 1 >/sys/bus/pci/rescan" % pci, timeout=120, check=True)
        st = self.dock_settled(t0, n)
        self.check_dock("controller found again by a PCI rescan", st, n)
        self.g("rm -f /etc/udev/rules.d/69-vmtest-slow-root-hub.rules; udevadm control --reload; "
               "cp /run/mon-dock.log /mnt/host/logs/ 2>/dev/null; true")

    def dock_settled(self, t0, n_blocked):
        def settled(st):
            u, k = self.dev(st, DOCK_UNLISTED), self.dev(st, DOCK_KBD)
            return (u and u["interfaces"] and k and k["interfaces"]
                    and k["interfaces"][0]["driver"] == "usbhid")
        st = self.wait("the stick and the keyboard behind the new controller", settled, 90)
        log("dock: devices up %.1fs after the controller" % (time.monotonic() - t0))
        # mamorid blocks it (its event), and any late probe has time to show.
        # Found again (n_blocked > 0), it is blocked at once, but its record
        # waits for usb.repeat_window (60 s) to close: one usb.blocked with
        # repeats (docs/events.md §4.2.1).
        end = time.monotonic() + (30 if n_blocked == 0 else 100)
        while len(self.usb_events(DOCK_UNLISTED, "usb.blocked")) <= n_blocked and time.monotonic() < end:
            time.sleep(0.5)
        time.sleep(3)
        self.g("udevadm settle -t 30")
        return self.state()

    def check_dock(self, when, st, n_blocked):
        c = self.check
        u, k = self.dev(st, DOCK_UNLISTED), self.dev(st, DOCK_KBD)
        if not c("%s: the stick and the keyboard behind it are there" % when, u and k, st):
            return
        rc, out, _ = self.g("cat /run/mon-dock.log")
        below = []
        for line in out.splitlines():
            p = line.split()
            if line.startswith("KERNEL[") and len(p) >= 4 and (p[2] == u["devpath"] or p[2].startswith(u["devpath"] + "/")):
                below.append((p[1], p[2][len(u["devpath"]):] or "(device)", p[3]))
        binds = [e for e in below if e[0] == "bind" and e[2] == "(usb)" and e[1].startswith("/") and ":" in e[1]]
        print("      uevents below the stick: %s" % " ".join("%s %s %s" % e for e in below), flush=True)
        c("%s: no driver ever bound to the stick's interface (no bind uevent)" % when, not binds, below)
        c("%s: the stick never got a SCSI host nor a block device (no uevent)" % when,
          not [e for e in below if e[2] in ("(scsi_host)", "(block)")], below)
        klog = self.kernel_log()
        names = [i["name"] for i in u["interfaces"]]
        probed = [line for line in klog.splitlines() if "Mass Storage device detected" in line
                  and any(("%s:" % n) in line for n in names)]
        c("%s: kernel log: usb-storage never probed the stick" % when, not probed, probed)
        stor = [i for i in u["interfaces"] if i["class"] == "08"]
        c("%s: the stick's storage interface is unauthorized, no driver, no block device" % when,
          stor and all(i["authorized"] == "0" and i["driver"] is None for i in stor) and not u["block"], u)
        c("%s: the keyboard behind it is bound to usbhid" % when,
          k["interfaces"] and all(i["driver"] == "usbhid" for i in k["interfaces"]), k)
        hub = "usb" + u["sysname"].split("-")[0]
        c("%s: the new root hub's new interfaces start unauthorized" % when,
          st["root_hubs"].get(hub, {}).get("interface_authorized_default") == "0", st["root_hubs"])
        # the rule's part 4: usbcore's authorized_default was 0 when the controller came
        c("%s: the new controller held its devices back until udev ran (authorized_default=0)" % when,
          st["root_hubs"].get(hub, {}).get("authorized_default") == "0", st["root_hubs"])
        c("%s: usb.blocked event for the stick" % when,
          len(self.usb_events(DOCK_UNLISTED, "usb.blocked")) > n_blocked, self.usb_events(DOCK_UNLISTED))
        if n_blocked:
            c("%s: the stick's second block within the window is one record with repeats" % when,
              any(e.get("repeats", 0) >= 1 for e in self.usb_events(DOCK_UNLISTED, "usb.blocked")),
              self.usb_events(DOCK_UNLISTED))

    def check_events(self, when):
        c = self.check
        ub = self.usb_events(UNLISTED, "usb.blocked")
        ua = self.usb_events(UNLISTED, "usb.allowed")
        aa = self.usb_events(ALLOWED, "usb.allowed")
        ab = self.usb_events(ALLOWED, "usb.blocked")
        # serial_mismatch: an entry exists for this model, not for this serial
        c("%s: usb.blocked event for the unlisted stick (serial_mismatch)" % when,
          ub and ub[-1]["decision"]["reason"] == "serial_mismatch", self.events())
        c("%s: usb.allowed event for the allowed stick, naming its allow entry" % when,
          aa and "50-vmtest.conf" in json.dumps(aa[-1]["decision"]), aa)
        c("%s: no allow for the unlisted stick, no block of the allowed one" % when, not ua and not ab, ua + ab)
        c("%s: no event about the keyboard" % when, not self.usb_events(KBD))
        return ub, aa


    def check_notice(self, when):
        """The block was explained to the seat (docs/notices.md): under the
        hardened unit, mamorid reached the guest's real system bus and, by the
        installed bus policy, owns the name that mamori-notify listens to."""
        c = self.check
        rc, out, _ = self.g("busctl --system --no-pager status org.mamori.Notice1 | sed -n 's/^PID=//p'; "
                            "systemctl show -P MainPID mamori.service")
        pids = out.split()
        c("%s: mamorid owns org.mamori.Notice1 on the system bus" % when, len(pids) == 2 and pids[0] == pids[1], out)
        rc, out, _ = self.g("journalctl -b -o cat -u mamori.service | grep -c 'for the seat: USB device' || true")
        c("%s: a notice was sent for the unlisted stick" % when, out.strip() not in ("", "0"), out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", required=True, help="image directory made by vmtest.sh build")
    ap.add_argument("--deb", required=True, help="the mamori .deb to install")
    ap.add_argument("--old-deb", help="a package to install first and upgrade from (the one-process version)")
    ap.add_argument("--collector-deb", help="the mamori-collector .deb (the collector scenario)")
    ap.add_argument("--keep", action="store_true", help="keep the share directory")
    a = ap.parse_args()

    t_start = time.monotonic()
    share = tempfile.mkdtemp(prefix="mamori-vmtest-share.")
    os.chmod(share, 0o755)
    shutil.copy(os.path.join(HERE, "guest", "usbstate.py"), share)
    with open(os.path.join(share, "50-vmtest.conf"), "w") as f:
        f.write(ALLOW_CONF)
    os.makedirs(os.path.join(share, "pkg"))
    shutil.copy(a.deb, os.path.join(share, "pkg"))
    if a.old_deb:
        os.makedirs(os.path.join(share, "pkg", "old"))
        shutil.copy(a.old_deb, os.path.join(share, "pkg", "old"))
    if a.collector_deb:
        os.makedirs(os.path.join(share, "pkg", "collector"))
        shutil.copy(a.collector_deb, os.path.join(share, "pkg", "collector"))
    if os.path.exists(COLLECTOR):
        sys.path.insert(0, os.path.dirname(COLLECTOR))
        from collector import make_pki
        make_pki(os.path.join(share, "pki"))  # made here, on the host, at test time
        shutil.copy(COLLECTOR, share)
        with open(os.path.join(share, "vmtest-collector.service"), "w") as f:
            f.write(COLLECTOR_UNIT)
        with open(os.path.join(share, "collector.conf"), "w") as f:
            f.write(COLLECTOR_CONF)

    check = Checks()
    vm = VM(a.image, share=share, extra_args=DOCK_ROOT_PORT)
    vm.extra_args += e2e_optical.QEMU_ARGS  # the optical scenario's virtio-scsi controller
    log("run dir %s, share %s" % (vm.rundir, share))
    t = None
    try:
        vm.start()
        state = vm.wait_ready()
        log("guest ready (%s) after %.1fs" % (state, vm.times["ready"]))
        t = E2E(vm, check, share)
        if a.old_deb:
            # (the old package was set up as install() does: the policy is there)
            e2e_uplink.upgrade(t, check, "old/" + os.path.basename(a.old_deb), a.deb)
        else:
            print("--- no package to upgrade from (--old-deb): the upgrade scenario is SKIPPED", flush=True)
            t.install(a.deb)

        print("--- hot-plug: allowed stick, unlisted stick, keyboard", flush=True)
        t.plug()
        a_, u_, _ = t.last
        t.check_block_monitor("after hot-plug", a_, u_, expect_new=True)
        t.check_kernel_log("after hot-plug", a_, u_)
        ub, aa = t.check_events("after hot-plug")
        t.check_collector("after hot-plug")
        t.check_notice("after hot-plug")
        e2e_uplink.privsep(t, check, "after hot-plug")

        # Under its hardened unit mamorid must still read the kernel's module
        # aliases (ProtectKernelModules= would hide /lib/modules from it).
        rc, out, err = t.g("mamorictl status")
        check("status: USB drivers decided by the kernel's module aliases, not by class only",
              "by the module aliases of /lib/modules/" in out, out + err)

        # A refused reload fails where the admin looks: systemctl's exit code.
        rc, out, err = t.g("printf 'allow = ( { vendor = \"0781\"; expiry = 1; } );\\n' "
                           ">/etc/mamori/allow.d/99-typo.conf && systemctl reload mamori.service")
        check("reload of a broken file: systemctl reload fails", rc != 0, out + err)
        # (exit 3: mamori does not work as configured, whatever the PC's findings)
        rc, out, err = t.g("mamorictl status")
        check("reload of a broken file: status says the files on disk are refused (exit 3)",
              rc == 3 and "REFUSED" in out and "99-typo.conf" in out, out + err)
        rc, out, err = t.g("rm /etc/mamori/allow.d/99-typo.conf && systemctl reload mamori.service; "
                           "echo RELOAD=$?; mamorictl status; echo STATUS=$?")
        check("reload after the fix: systemctl reload succeeds, status no longer says refused",
              "RELOAD=0" in out and "REFUSED" not in out and "Config:" not in out, out + err)
        # The guest has no ClamAV: mamori works, the PC has findings (exit 6).
        check("status: mamori works, no ClamAV in the guest is this PC's finding (exit 6)",
              "STATUS=6" in out and "State:        mamori works" in out and "antivirus (" in out, out + err)

        print("--- systemctl restart mamori", flush=True)
        n_started = len([e for e in t.events() if e["kind"] == "agent.started"])
        rc, out, err = t.g("systemctl restart mamori.service && systemctl is-active mamori.service")
        check("restart: mamori.service active again", rc == 0, out + err)
        evs = t.wait_event("started", lambda e: e["kind"] == "agent.started")
        check("restart: a new agent.started event", len(evs) > n_started, evs)
        time.sleep(3)
        t.g("udevadm settle -t 30")
        if t.verify("after restart"):
            t.check_block_monitor("during restart", a_, u_, expect_new=False)
            t.check_unbinds("during restart", t.last[0], t.last[2])
            t.check_kernel_log("after restart", a_, u_)
        # Told on the plug, not again for the reloads and the restart (issue 18).
        rc, out, _ = t.g("journalctl -b -o cat -u mamori.service | grep -c 'for the seat: USB device' || true")
        check("after restart: the unlisted stick's notice was sent once, not again for reloads or the restart",
              out.strip() == "1", out)
        # systemd's status line and mamorictl status count the same devices
        rc, out, _ = t.g("systemctl show -P StatusText mamori.service; mamorictl status")
        counts = re.findall(r"(\d+ USB devices?, \d+ blocked)", out)
        check("after restart: systemd's status line and mamorictl status say the same USB count",
              len(counts) == 2 and counts[0] == counts[1], out)

        t.events()  # remember this boot's events
        t.save_logs("boot1")
        e2e_pkg.broken_boot(t, check)
        print("--- reboot with the sticks plugged", flush=True)
        state = vm.reboot()
        log("rebooted (%s) in %.1fs" % (state, vm.times["reboot"]))
        # right after boot, before anything else touches the devices
        st = t.state()
        u = t.dev(st, UNLISTED)
        print("right after boot, the unlisted stick: %s" % json.dumps(u), flush=True)
        print("right after boot, root hubs: %s" % json.dumps(st["root_hubs"]), flush=True)
        check("after boot: unlisted stick's storage interface unauthorized, no driver, no block device",
              u and u["interfaces"] and all(i["authorized"] == "0" and i["driver"] is None
                                              for i in u["interfaces"] if i["class"] == "08") and not u["block"], u)
        rc, out, _ = t.g("systemctl is-active mamori.service")
        check("after boot: mamori.service active", out.strip() == "active", out)
        # mamorid decides every present device before it reports READY
        rc, out, _ = t.g("systemctl show -P ActiveEnterTimestampMonotonic mamori.service; "
                         "systemctl show -P InactiveExitTimestampMonotonic systemd-user-sessions.service")
        ts = [int(x) for x in out.split() if x.isdigit()]
        check("during boot: mamori.service was enforcing before user sessions were permitted",
              len(ts) == 2 and 0 < ts[0] <= ts[1], out)
        t.wait("allowed stick's block device after boot", lambda s: (t.dev(s, ALLOWED) or {}).get("block"), 60)
        t.wait_event("unlisted blocked after boot", lambda e: e["kind"] == "usb.blocked"
                     and (e.get("device") or {}).get("serial") == UNLISTED)
        time.sleep(2)
        t.g("udevadm settle -t 30")
        r = t.verify("after reboot")
        if r:
            t.check_kernel_log("during boot", r[0], r[1])
            timeline = t.boot_timeline([i["name"] for i in r[1]["interfaces"]])
            print("      " + "\n      ".join(timeline), flush=True)
            check("during boot: the unlisted stick never had a block device",
                  timeline[-1].endswith("its block device(s) during boot: none"), timeline[-1])
            t.check_events("after reboot")
            t.check_collector("after reboot")
        e2e_pkg.broken_boot_after(t, check)

        print("--- a USB controller appears at run time with a stick and a keyboard behind it", flush=True)
        t.dock()
        e2e_mount.run(t, check)
        # issue 14: a read-only approval on the real kernel
        e2e_readonly.run(t, check, vm)
        print("--- an optical drive with a disc: write level, allowed, drive level (issue 14)", flush=True)
        e2e_optical.run(t, check, vm)
        print("--- EICAR found by the real clamd: the guest quarantined, then released (issue 15)", flush=True)
        e2e_eicar.run(t, check)
        e2e_media_scan.run(t, check, vm)  # a stick with EICAR scanned when mounted (issue 15)
        e2e_quarantine_reboot.run(t, check, vm)
        if a.collector_deb:
            e2e_collector.run(t, check, a.collector_deb)
        else:
            print("--- no mamori-collector package (--collector-deb): the collector scenario is SKIPPED", flush=True)
        print("--- remove and purge the package", flush=True)
        e2e_pkg.remove_purge(t, check)
    except Exception as e:
        import traceback
        traceback.print_exc()
        check("the scenario ran to its end", False, "%s: %s (console: %s)" % (type(e).__name__, e, vm.console))
        try:
            print(vm.sh("journalctl -b --no-pager -n 60 -u mamori.service", timeout=30)[1])
        except Exception:
            pass
    finally:
        try:
            if t:
                t.save_logs("last")
        except Exception:
            pass
        vm.stop()
        if os.path.isdir(os.path.join(share, "logs")):
            shutil.copytree(os.path.join(share, "logs"), os.path.join(vm.rundir, "guest-logs"), dirs_exist_ok=True)
        if not a.keep:
            shutil.rmtree(share, ignore_errors=True)
    log("vm test took %.1fs; logs in %s" % (time.monotonic() - t_start, vm.rundir))
    print("%d passed, %d failed" % (check.passed, len(check.failed)))
    if check.failed:
        print("failed: " + "; ".join(check.failed))
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
