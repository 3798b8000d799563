# SPDX-License-Identifier: MIT
"""The sections of `status` that each module writes of itself (issue 10):
the USB enforcer's root hubs that it could not close, kept from when it saw
them rather than read from sysfs on the control path, and the lock and
antivirus checks, which hold the policy pushed to them, and keep it when a
reload is refused."""

import json
import os
import socket
import tempfile

import fault_lib
from mamori_testlib import wait_for


def ask(agent, verb, timeout=10):
    """One request on the control socket; the reply as JSON."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(os.path.join(agent.runtime, "control"))
        s.sendall(verb.encode() + b"\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    return json.loads(out.decode().splitlines()[0])


def check(status, name):
    return [c for c in status["checks"] if c["name"] == name][0]


def test_a_root_hub_that_stays_open_makes_usb_degraded(bed, make_agent):
    """usb2's interface_authorized_default cannot be set to 0 (read-only): a
    driver could bind on that bus before mamorid decides, and status says so."""
    hub_default = bed.sys(bed.hubs[2], "interface_authorized_default")
    fault_lib.bind_ro(hub_default)
    try:
        a = make_agent().start()
        wait_for(lambda: "Cannot set interface_authorized_default=0 on usb2" in a.log(), 5, what="the refused write")
        usb = check(ask(a, "status"), "usb")
        assert usb["state"] == "degraded", usb
        assert usb["root_hubs"] == 2 and usb["root_hubs_open"] == 1, usb
        assert "some start new interfaces authorized" in usb["detail"], usb
    finally:
        fault_lib.umount(hub_default)


def test_every_root_hub_closed_is_ok(bed, make_agent):
    a = make_agent().start()
    wait_for(lambda: bed.interface_default(1) == "0" and bed.interface_default(2) == "0", 5, what="both hubs closed")
    usb = check(ask(a, "status"), "usb")
    assert usb["state"] == "ok" and usb["root_hubs"] == 2 and usb["root_hubs_open"] == 0, usb


def test_a_refused_reload_leaves_lock_and_antivirus_on_the_old_policy(bed, make_agent):
    avdir = tempfile.mkdtemp(prefix="mamori-av-")
    os.chmod(avdir, 0o755)
    usb = 'usb = { block = [ "storage", "mtp", "ptp", "tethering" ]; };\n'
    a = make_agent(main_conf=usb + 'lock = { idle_timeout = 600; tty = "ignore"; };\n'
                   f'antivirus = {{ engine = "clamav"; database_dir = "{avdir}"; max_age_hours = 48; }};\n').start()
    a.wait_events("av.missing")
    st = ask(a, "status")
    first = st["policy"]["hash"]
    assert check(st, "lock")["idle_timeout_sec"] == 600 and check(st, "lock")["tty"] == "ignore"
    av = check(st, "antivirus")
    assert av["state"] == "missing" and av["antivirus"]["max_age_hours"] == 48, av

    # Refused: every module stays on the policy in force.
    a.write_conf(usb + 'lock = { idle_timeout = 900; tty = "report"; ;;\n')
    r = ask(a, "reload")
    assert r["reloaded"] is False and r["policy"] == first, r
    st = ask(a, "status")
    assert st["policy"]["hash"] == first and st["policy"]["refused"] is not None
    assert check(st, "lock")["idle_timeout_sec"] == 600 and check(st, "lock")["tty"] == "ignore"
    av = check(st, "antivirus")
    assert av["state"] == "missing" and av["antivirus"]["engine"] == "clamav" and av["antivirus"]["max_age_hours"] == 48, av

    # Accepted: each module takes the new one.
    a.write_conf(usb + 'lock = { idle_timeout = 900; tty = "report"; };\nantivirus = { engine = "none"; };\n')
    r = ask(a, "reload")
    assert r["reloaded"] is True and r["policy"] != first, r
    st = ask(a, "status")
    assert check(st, "lock")["idle_timeout_sec"] == 900 and check(st, "lock")["tty"] == "report"
    assert check(st, "antivirus")["state"] == "disabled"
    assert len(a.events("av.missing")) == 1  # nothing said again of the old check
    os.rmdir(avdir)
