# SPDX-License-Identifier: MIT
"""agent.posture and `mamorictl inspect` against the real mamorid under
umockdev: the posture at start, a new one when the policy or the installed
files change and none when nothing did, the self-inspection sheet in English,
Japanese and JSON saying what the event says, the site labels in every
event's envelope, and a bad site value refused with its file:line."""

import datetime
import json
import os
import shutil
import stat
import subprocess

from mamori_testlib import wait_for

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))
SOURCE = os.environ.get("MAMORI_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
ALL = 'usb = { block = [ "storage", "mtp", "ptp", "tethering" ]; };\n'
SITE = 'site = { department = "総務課"; location = "本庁舎 2F"; };\n'


def posture_root(agent):
    """A root with the udev rule and the initramfs hook where the package puts them."""
    root = os.path.join(agent.dir, "root")
    rules = os.path.join(root, "usr/lib/udev/rules.d")
    hooks = os.path.join(root, "usr/share/initramfs-tools/hooks")
    os.makedirs(rules)
    os.makedirs(hooks)
    shutil.copy(os.path.join(SOURCE, "units/70-mamori.rules"), os.path.join(rules, "70-mamori.rules"))
    hook = os.path.join(hooks, "mamori")
    shutil.copy(os.path.join(SOURCE, "units/initramfs/mamori-hook"), hook)
    os.chmod(hook, 0o755)
    return root


def make(make_agent, conf=ALL, allow=None):
    a = make_agent(main_conf=conf, allow=allow)
    a.extra_env["MAMORI_POSTURE_ROOT"] = posture_root(a)
    return a


def ctl(agent, *args, lang="C.UTF-8", timeout=20):
    env = dict(os.environ, UMOCKDEV_DIR=agent.bed.root, LANG=lang)
    env.pop("LC_ALL", None)
    env.pop("LC_MESSAGES", None)
    return subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def checks(posture):
    return {c["id"]: c for c in posture["checks"]}


def test_posture_at_start(bed, make_agent):
    a = make(make_agent).start()
    ev = a.wait_events("agent.posture")[0]
    p = ev["posture"]
    # No logind on this test's bus: the idle lock cannot work, so one clause is NG.
    assert ev["severity"] == "medium", ev
    assert p["reason"] == "start"
    assert len(p["hash"]) == 64
    usb = p["usb"]
    assert usb["blocked_categories"] == ["storage", "mtp", "ptp", "tethering"]
    assert usb["fail_closed"] is False and usb["monitoring"] is True
    hubs = {h["name"]: h for h in usb["root_hubs"]}
    assert set(hubs) == {"usb1", "usb2"}
    for h in hubs.values():
        assert h["authorized_default"] == 1
        assert h["interface_authorized_default"] == 0  # mamorid set it at start
    assert usb["udev_rule"] == "/usr/lib/udev/rules.d/70-mamori.rules"
    assert usb["initramfs_hook"] == "/usr/share/initramfs-tools/hooks/mamori"
    assert p["lock"]["idle_timeout_sec"] == 300 and p["lock"]["confirmed_last_day"] is False
    assert p["antivirus"]["engine"] == "none"
    assert p["delivery"]["state"] == "not_configured"
    assert p["allow_expiring"] == []
    c = checks(p)
    for ok in ("usb.blocked_categories", "usb.root_hubs", "usb.udev_rule", "usb.initramfs_hook", "usb.monitor",
               "allow.expiring"):
        assert c[ok]["verdict"] == "ok", c[ok]
    assert c["usb.blocked_categories"]["clause"] == "対策基準 第3-6"
    assert c["usb.root_hubs"]["value"] == "usb1=0 usb2=0"
    assert c["lock.idle_timeout"]["verdict"] == "ng"
    assert c["lock.idle_timeout"]["value"] == "300 s (logind not reachable)"
    assert c["lock.confirmed_last_day"]["verdict"] == "check"
    assert c["av.engine"]["verdict"] == "check"
    assert c["delivery.state"]["verdict"] == "check"
    assert p["verdict"] == "ng"


def test_lock_confirmed_shows(make_agent):
    """With logind (dbusmock) a lock a locker confirmed changes the posture:
    the lock lines turn OK and a new agent.posture says so."""
    from bus_testlib import Logind, SystemBus
    bus = SystemBus()
    logind = Logind(bus)
    try:
        logind.add_session("c1", Type="x11")
        logind.idle("c1", 0.5)
        a = make_agent(main_conf=ALL + "lock = { idle_timeout = 2; verify_timeout = 1; };\n",
                       extra_env=bus.env())
        a.extra_env["MAMORI_POSTURE_ROOT"] = posture_root(a)
        a.start()
        a.wait_events("lock.enforced")
        ev = a.wait_events("agent.posture", pred=lambda e: e["posture"]["lock"]["confirmed_last_day"])[0]
        lock = ev["posture"]["lock"]
        assert lock["logind"] is True and lock["idle_timeout_sec"] == 2 and lock["last_confirmed"]
        c = checks(ev["posture"])
        assert c["lock.idle_timeout"]["verdict"] == "ok"
        assert c["lock.confirmed_last_day"]["verdict"] == "ok"
        assert ev["severity"] == "info"  # nothing NG: USB in place, lock confirmed
    finally:
        logind.stop()
        bus.stop()


def test_posture_on_change_only(bed, make_agent):
    a = make(make_agent).start()
    first = a.wait_events("agent.posture")[0]
    # A reload that changes the policy: a new posture, the weaker blocking flagged.
    a.write_conf('usb = { block = [ "storage" ]; };\n')
    a.reload()
    ev = a.wait_events("agent.posture", count=2)[1]
    assert ev["posture"]["reason"] == "change"
    assert ev["posture"]["hash"] != first["posture"]["hash"]
    assert ev["posture"]["usb"]["blocked_categories"] == ["storage"]
    assert checks(ev["posture"])["usb.blocked_categories"]["verdict"] == "check"

    # A reload of the same files, then an event (a stick blocked): the posture
    # is looked at again (the log says so) and nothing new is recorded.
    since = a.log_size()
    a.reload()
    a.wait_log("Configuration unchanged", since=since)
    bed.add_usb("0781", "5567", "S1")
    a.wait_events("usb.blocked")
    a.wait_log("Posture unchanged", since=since)
    assert len(a.events("agent.posture")) == 2

    # The udev rule masked in /etc: not enforced any more, seen by inspect,
    # which records the change before it answers.
    etc = os.path.join(a.extra_env["MAMORI_POSTURE_ROOT"], "etc/udev/rules.d")
    os.makedirs(etc)
    os.symlink("/dev/null", os.path.join(etc, "70-mamori.rules"))
    r = ctl(a, "inspect", "--json")
    assert r.returncode == 6, r.stderr  # an NG line
    rep = json.loads(r.stdout)
    assert checks(rep["posture"])["usb.udev_rule"]["verdict"] == "ng"
    evs = a.wait_events("agent.posture", count=3)
    assert evs[2]["severity"] == "medium"
    assert evs[2]["posture"]["usb"]["udev_rule"] is None
    assert rep["posture_hash"] == evs[2]["posture"]["hash"]


def test_inspect_sheet(bed, make_agent):
    soon = (datetime.date.today() + datetime.timedelta(days=10)).isoformat()
    allow = {"10-soon.conf": 'allow = (\n  { vendor = "0781"; product = "5567"; serial = "SOON1";\n'
                             f'    label = "総務課 貸出用"; approved_by = "CISO"; expires = "{soon}"; }}\n);\n'}
    a = make(make_agent, conf=ALL + SITE, allow=allow).start()
    ev = a.wait_events("agent.posture")[0]
    r = ctl(a, "inspect", "--json")
    assert r.returncode == 6, r.stdout + r.stderr  # no logind here: the lock is NG
    rep = json.loads(r.stdout)
    assert rep["site"] == {"department": "総務課", "location": "本庁舎 2F"}
    # The sheet and the event say the same.
    assert rep["posture_hash"] == ev["posture"]["hash"]
    assert [(c["id"], c["verdict"]) for c in rep["posture"]["checks"]] == \
        [(c["id"], c["verdict"]) for c in ev["posture"]["checks"]]
    exp = rep["posture"]["allow_expiring"]
    assert len(exp) == 1 and exp[0]["device"] == "0781:5567" and exp[0]["serial"] == "SOON1"
    assert exp[0]["expires"] == soon and exp[0]["line"] == 2
    assert checks(rep["posture"])["allow.expiring"]["verdict"] == "check"

    en = ctl(a, "inspect", lang="C.UTF-8")
    assert en.returncode == 6, en.stderr
    assert "Self-inspection sheet" in en.stdout
    assert "Department: 総務課" in en.stdout
    assert "udev rule" in en.stdout and "CHECK" in en.stdout
    assert "Overall: NG (1 NG, 6 to check)" in en.stdout
    assert "0781:5567 SOON1" in en.stdout

    ja = ctl(a, "inspect", lang="ja_JP.UTF-8")
    assert ja.returncode == 6, ja.stderr
    assert "自己点検シート" in ja.stdout
    assert "所属: 総務課" in ja.stdout and "設置場所: 本庁舎 2F" in ja.stdout
    assert "要確認" in ja.stdout and "総合判定: NG (NG 1 件、要確認 6 件)" in ja.stdout
    assert "無操作でロックするまでの時間" in ja.stdout and "udev ルール" in ja.stdout
    assert "対策基準 第3-2エ" in ja.stdout and "対策基準 第7-2イ" in ja.stdout


def test_site_in_every_envelope(bed, make_agent):
    a = make(make_agent, conf=ALL + SITE).start()
    a.wait_events("agent.posture")
    bed.add_usb("0781", "5567", "S2")
    a.wait_events("usb.blocked")
    evs = a.events()
    assert len(evs) >= 3
    for ev in evs:
        assert ev["site"] == {"department": "総務課", "location": "本庁舎 2F"}, ev


def test_no_site_no_member(bed, make_agent):
    a = make(make_agent).start()
    a.wait_events("agent.posture")
    assert all("site" not in ev for ev in a.events())


def test_bad_site_refused(bed, make_agent):
    a = make(make_agent, conf=ALL + SITE).start()
    a.wait_events("agent.posture")
    # A control character in a label: refused with file:line, the old policy stays.
    a.write_conf(ALL + 'site = {\n  department = "総務課";\n  location = "2F\\n";\n};\n')
    rc, out, err = a.check_config()
    assert rc != 0
    assert f"{a.conf}:4: site.location must be one line of printable UTF-8 text" in out + err
    a.reload()
    ev = a.wait_events("agent.config_error")[0]
    errs = ev["config"]["errors"]
    assert any(e["line"] == 4 and "site.location" in e["message"] for e in errs), errs
    # The events still carry the labels of the policy in force.
    assert ev["site"] == {"department": "総務課", "location": "本庁舎 2F"}
    # Too long a label, and an unknown key.
    a.write_conf(ALL + 'site = { department = "' + "x" * 129 + '"; floor = "2"; };\n')
    rc, out, err = a.check_config()
    assert rc != 0
    assert f"{a.conf}:2: site.department must be one line" in out + err
    assert "floor" in out + err
    wait_for(lambda: a.running(), what="mamorid still running")


def test_hostile_sysfs_values(bed, make_agent):
    """authorized_default is read bounded and strictly: anything but the
    kernel's -1..2 is null, never a number made up from the bytes."""
    a = make(make_agent).start()
    a.wait_events("agent.posture")
    bed.write_raw(bed.hubs[1], "authorized_default", b"1\x00" + b"9" * 4096)
    bed.write_raw(bed.hubs[2], "authorized_default", b"-2\n")
    r = ctl(a, "inspect", "--json")
    assert r.returncode == 6, r.stderr  # no logind here
    hubs = {h["name"]: h for h in json.loads(r.stdout)["posture"]["usb"]["root_hubs"]}
    assert hubs["usb1"]["authorized_default"] is None
    assert hubs["usb2"]["authorized_default"] is None
    ev = a.wait_events("agent.posture", count=2)[1]
    assert ev["posture"]["reason"] == "change"
    assert [h["authorized_default"] for h in ev["posture"]["usb"]["root_hubs"]] == [None, None]
    bed.write_raw(bed.hubs[2], "authorized_default", b"2\n")
    r = ctl(a, "inspect", "--json")
    hubs = {h["name"]: h for h in json.loads(r.stdout)["posture"]["usb"]["root_hubs"]}
    assert hubs["usb2"]["authorized_default"] == 2


def test_delivery_in_the_posture(bed, make_agent, collector, pki):
    """The delivery state shows in the posture and the sheet, but whether it
    works right now (the uplink starting after mamorid, the collector down)
    is no change of posture: the heartbeat and the delivery events tell that."""
    from reporting_lib import collector_conf
    a = make(make_agent, conf=collector_conf(collector, pki)).start()
    ev = a.wait_events("agent.posture")[0]
    d = ev["posture"]["delivery"]
    assert d["url"] == collector.url and d["state"] in ("starting", "ok"), d
    assert checks(ev["posture"])["delivery.collector"]["verdict"] == "ok"
    collector.wait_events(2)  # agent.started, agent.posture

    def sheet():
        return json.loads(ctl(a, "inspect", "--json").stdout)["posture"]
    p = wait_for(lambda: (lambda p: p if p["delivery"]["state"] == "ok" and p["delivery"]["last_success"]
                          else None)(sheet()), 10, what="delivery ok in the sheet, with its last success")
    assert checks(p)["delivery.state"]["verdict"] == "ok"
    assert p["delivery"]["last_success"] and p["delivery"]["uplink"] in ("idle", "sending")

    collector.stop()
    bed.add_usb("0781", "5567", "S3")  # something to send
    p = wait_for(lambda: (lambda p: p if p["delivery"]["state"] == "failing" else None)(sheet()), 15,
                 what="delivery failing in the sheet")
    assert checks(p)["delivery.state"]["verdict"] == "ng"
    assert len(a.events("agent.posture")) == 1
