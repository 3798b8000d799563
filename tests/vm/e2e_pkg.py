"""Scenarios of tests/vm/test_e2e.py about the package's life: a broken file
at boot (the last good policy is enforced) and removal and purge (the devices
are given back, the configuration goes). Each takes the shared E2E `t` and
its `check`, and runs in the one guest boot of test_e2e.main()."""
import json
import time

from vmtest import log

BROKEN = "/etc/mamori/allow.d/60-half-written.conf"
AFTER_REMOVAL = "MAMORI-VM-AFTER-REMOVAL-6"


def broken_boot(t, check):
    """Before the reboot: a file that does not parse (an entry cut off midway,
    as a copy interrupted by a power cut leaves it) goes into allow.d. The
    reboot happens as always; broken_boot_after() checks the result."""
    rc, out, err = t.g("printf 'allow = (\\n  { vendor = \"46f4\"; product = \"0001\";\\n' >%s && "
                       "chmod 600 %s && ! mamorid --check-config" % (BROKEN, BROKEN))
    check("broken file: written into allow.d, check-config refuses it", rc == 0, out + err)


def broken_boot_after(t, check):
    """After the reboot: mamorid started on the last good policy (the approved
    stick kept working, mamori.service active), said so loudly (a critical
    agent.config_error) and in `mamorictl status`; fixed, the files on disk
    rule again."""
    from test_e2e import ALLOWED  # (test_e2e imports this module)
    st = t.state()
    a = t.dev(st, ALLOWED)
    check("broken file at boot: the approved stick still has its block device (last good policy)",
          a and len(a["block"]) == 1, a)
    rc, out, _ = t.g("systemctl is-active mamori.service")
    check("broken file at boot: mamori.service active", out.strip() == "active", out)
    evs = t.wait_event("config_error", lambda e: e["kind"] == "agent.config_error")
    ok = [e for e in evs if e.get("severity") == "critical"
          and (e.get("config") or {}).get("outcome") == "last_good_policy"
          and any(x.get("file", "").endswith("60-half-written.conf") for x in e["config"].get("errors", []))]
    check("broken file at boot: a critical agent.config_error naming the file, outcome last_good_policy",
          ok, json.dumps(evs)[:2000])
    rc, out, err = t.g("mamorictl status")
    check("broken file at boot: status says the last good policy is in force (exit 3)",
          rc == 3 and "Last good:    YES" in out and "running on the last good policy" in out, out + err)

    rc, out, err = t.g("rm %s && systemctl reload mamori.service; echo RELOAD=$?; mamorictl status; "
                       "echo STATUS=$?" % BROKEN)
    check("broken file removed: reload succeeds, status no longer on the last good policy",
          "RELOAD=0" in out and "Last good" not in out and "STATUS=3" not in out, out + err)
    a = t.dev(t.state(), ALLOWED)
    check("broken file removed: the approved stick still has its block device", a and len(a["block"]) == 1, a)


def _storage_up(d):
    return (d and d["block"] and any(i["class"] == "08" and i["authorized"] == "1" and i["driver"] == "usb-storage"
                                     for i in d["interfaces"]))


def remove_purge(t, check):
    """The very last step. With the unlisted stick blocked, `apt-get remove`
    gives the devices back and says so: the stick's storage interface is
    authorized and bound, it gets a block device; the root hubs start new
    interfaces authorized again; the udev rule is gone from udev and from the
    initramfs, so a stick plugged in now works; /etc/mamori stays. Then
    `dpkg --purge` deletes /etc/mamori, /var/lib/mamori, /var/lib/mamori-uplink
    and the autostart file."""
    from test_e2e import UNLISTED  # (test_e2e imports this module)
    st = t.state()
    u = t.dev(st, UNLISTED)
    check("before removal: the unlisted stick is blocked",
          u and not u["block"] and any(i["class"] == "08" and i["authorized"] == "0" for i in u["interfaces"]), u)

    # The guest boots the image's initrd from the host: give it one of its
    # own in /boot, made by initramfs-tools with the package's hook, for
    # the removal to update.
    rc, out, err = t.g("update-initramfs -c -k $(uname -r) >/dev/null 2>&1; "
                       "lsinitramfs /boot/initrd.img-$(uname -r) | grep -c 70-mamori.rules", timeout=300)
    check("before removal: the guest's own initramfs holds the udev rule", out.strip() not in ("", "0"), out + err)

    t0 = time.monotonic()
    rc, out, err = t.g("apt-get remove -y mamori 2>&1", timeout=600)
    log("apt-get remove took %.1fs" % (time.monotonic() - t0))
    print(out.rstrip(), flush=True)
    check("remove: apt-get remove -y mamori succeeds offline", rc == 0, out + err)
    check("remove: says what it gave back (the unlisted stick's interface, driver usb-storage)",
          u and any(("mamori: %s " % i["name"]) in out and "driver usb-storage" in out
                    for i in u["interfaces"] if i["class"] == "08"), out)
    check("remove: says that a purge deletes /etc/mamori, listing the admin's allow.d file",
          "a purge" in out and "/etc/mamori/allow.d/50-vmtest.conf" in out, out)

    st = t.wait("the unlisted stick's block device after removal", lambda s: _storage_up(t.dev(s, UNLISTED)), 60)
    u = t.dev(st, UNLISTED)
    check("remove: the blocked stick's storage interface is authorized, bound to usb-storage, with a block device",
          _storage_up(u), u)
    check("remove: every root hub starts new interfaces authorized again",
          st["root_hubs"] and all(h.get("interface_authorized_default") == "1" for h in st["root_hubs"].values()),
          st["root_hubs"])
    rc, out, _ = t.g("systemctl is-active mamori.service; ls /lib/udev/rules.d/70-mamori.rules "
                     "/usr/lib/udev/rules.d/70-mamori.rules /etc/udev/rules.d/70-mamori.rules 2>/dev/null; "
                     "cat /sys/module/usbcore/parameters/authorized_default")
    lines = out.split()
    check("remove: mamori.service stopped, the udev rule gone, usbcore's default back to -1",
          lines[:1] != ["active"] and "70-mamori.rules" not in out and lines[-1:] == ["-1"], out)
    rc, out, _ = t.g("systemctl is-active mamori-uplink.service; test -e /lib/systemd/system/mamori-uplink.service "
                     "&& echo UNIT-LEFT; test -d /var/lib/mamori-uplink && echo STATE-KEPT")
    check("remove: mamori-uplink.service stopped and gone, its state kept until the purge",
          out.split() in (["inactive", "STATE-KEPT"], ["failed", "STATE-KEPT"]), out)
    rc, out, err = t.g("test -s /boot/initrd.img-$(uname -r) && "
                       "lsinitramfs /boot/initrd.img-$(uname -r) | grep -c 70-mamori.rules", timeout=120)
    check("remove: the initramfs (rebuilt by the trigger) no longer holds the udev rule", out.strip() == "0",
          out + err)
    rc, out, _ = t.g("test -d /etc/mamori && test -e /etc/mamori/allow.d/50-vmtest.conf && echo KEPT; "
                     "grep -c '^TryExec=/usr/bin/mamori-notify$' /etc/xdg/autostart/mamori-notify.desktop")
    check("remove: /etc/mamori stays until the purge; the autostart file left has TryExec",
          out.split() == ["KEPT", "1"], out)

    # A stick plugged in now is not held back by anything.
    for bus in ("xhci.0", "xhci2.0"):
        try:
            t.vm.add_stick("afterremoval", serial=AFTER_REMOVAL, bus=bus)
            break
        except Exception as e:  # no free port on this controller
            log("plugging on %s: %s" % (bus, e))
    st = t.wait("a stick plugged in after removal", lambda s: _storage_up(t.dev(s, AFTER_REMOVAL)), 60)
    check("remove: a stick plugged in after the removal gets its block device", _storage_up(t.dev(st, AFTER_REMOVAL)),
          t.dev(st, AFTER_REMOVAL))

    rc, out, err = t.g("dpkg --purge mamori 2>&1", timeout=300)
    print(out.rstrip(), flush=True)
    check("purge: dpkg --purge mamori succeeds", rc == 0, out + err)
    rc, out, _ = t.g("for p in /etc/mamori /var/lib/mamori /var/lib/mamori-uplink /etc/xdg/autostart/mamori-notify.desktop; do "
                     "test -e $p && echo LEFT $p; done; dpkg-query -W -f='${Status}' mamori 2>&1; true")
    check("purge: /etc/mamori, /var/lib/mamori, /var/lib/mamori-uplink and the autostart file are gone, "
          "the package forgotten",
          "LEFT" not in out and "install ok" not in out and "config-files" not in out, out)
