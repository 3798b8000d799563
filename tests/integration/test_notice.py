# SPDX-License-Identifier: MIT
"""Notices for the person at the seat: the real mamorid under umockdev, a
private system bus that runs Debian's system bus policy with the shipped
units/org.mamori.Notice1.conf, a private session bus with dbusmock's
notification server, and mamori-notify between them, as an unprivileged
user."""
import os
import signal
import subprocess
import time

import json

import dbus
import pytest

from bus_testlib import forge, name_owner_changed, unique_name_of_pid
from mamori_notice import USER_UID, NoticeWorld, as_user, clean_env, settle
from mamori_testlib import wait_for
from test_av import cvd, write_db  # the antivirus tests' ClamAV database files

if os.geteuid() != 0:
    pytest.skip("needs root: the user side runs as another user", allow_module_level=True)

BLOCK_ALL = 'usb = { block = [ "storage", "mtp", "ptp", "tethering" ]; };\n'
NOTICE_CONF = BLOCK_ALL + 'notice = { burst = 2; interval = 2; };\n'
STORAGE = (("08", "06", "50", None),)
KEYBOARD = (("03", "01", "01", None),)
MOUSE = (("03", "01", "02", None),)

# Kinds of characters that must never reach a notification as they are.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"


@pytest.fixture
def world():
    with NoticeWorld() as w:
        yield w


MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))


def notice_check(agent):
    """The "notices" entry of mamorictl status."""
    p = subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), "--json", "status"],
                       capture_output=True, text=True, timeout=20)
    checks = {c["name"]: c for c in json.loads(p.stdout)["checks"]}
    return checks["notices"]


def start(make_agent, world, conf=NOTICE_CONF, **kw):
    return make_agent(main_conf=conf, extra_env=world.agent_env(), **kw).start()


def no_controls(s, allow_newline=False):
    return all(ord(ch) >= 0x20 and not (0x7f <= ord(ch) <= 0x9f) or (allow_newline and ch == "\n") for ch in s)


def plug_raw(bed, vendor, product, serial, product_bytes, interfaces=STORAGE):
    """A device whose product string holds whatever bytes we like (written
    before its interfaces appear, so every snapshot after them has it)."""
    return bed.add_usb(vendor, product, serial=serial, interfaces=interfaces, product_name=product_bytes)


# ---- what staff read ----

def test_unlisted_stick_english(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    a = start(make_agent, world)
    c = notice_check(a)
    assert c["state"] == "ok" and c["sent"] == 0 and not c["bus_connected"], c  # connects on the first
    dev, ifs = bed.add_usb("0781", "5567", serial="4C530001", product_name="Cruzer Blade")
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ifs[0]) == "0"
    n = world.wait_notifications(1)[0]
    assert n["app_name"] == "mamori"
    assert n["summary"] == "USB device “Cruzer Blade” is blocked"
    body = n["body"]
    assert ("This device (USB memory or other removable media) has not been given permission for use, "
            "so it was blocked.") in body
    # no approver set in this config: neutral words, no role named by the code
    assert "ask your approver for permission" in body
    assert "Device: Cruzer Blade (ID 0781:5567)" in body
    assert "Policy: 対策基準 第3-6" in body
    assert f"Reference: {ev['id'][:8]}" in body
    assert n["app_icon"] == "drive-removable-media"
    assert n["hints"]["urgency"] == 1
    assert n["hints"]["category"] == "device.error"
    assert n["hints"]["desktop-entry"] == "mamori-notify"
    assert n["hints"]["x-mamori-notice-id"] == ev["id"]
    assert n["expire_timeout"] == -1
    # the serial is the officer's business, not the notice's
    assert "4C530001" not in body
    c = notice_check(a)
    assert c["state"] == "ok" and c["sent"] == 1 and c["bus_connected"], c
    assert c["detail"] == "1 sent, 0 held back, 0 repeats not shown"


def test_unlisted_stick_japanese(bed, make_agent, world):
    world.helper(lang="ja_JP.UTF-8").start()
    a = start(make_agent, world)
    bed.add_usb("0781", "5567", serial="4C530001", product_name="Cruzer Blade")
    ev = a.wait_events("usb.blocked")[0]
    n = world.wait_notifications(1)[0]
    assert n["summary"] == "USB機器「Cruzer Blade」は使用できません"
    body = n["body"]
    assert "この機器（USBメモリ等の外部記録媒体）は使用許可を受けていないため、使用できないようにしました。" in body
    assert "承認者に使用許可を申請してください。" in body
    assert "機器: Cruzer Blade（ID 0781:5567）" in body
    assert "根拠: 対策基準 第3-6" in body
    assert f"参照番号: {ev['id'][:8]}" in body
    assert "approved" not in body


@pytest.mark.parametrize("env,expect_ja", [
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "ja_JP.UTF-8"}, True),
    ({"LANG": "ja_JP.UTF-8", "LC_ALL": "C"}, False),
    ({"LANG": "de_DE.UTF-8", "LANGUAGE": "fr:ja:en"}, True),
    ({"LANG": "ja_JP.eucJP", "LANGUAGE": "en"}, False),
])
def test_language_from_locale(bed, make_agent, world, env, expect_ja):
    world.helper(lang=None, env=env).start()
    start(make_agent, world)
    bed.add_usb("0781", "5567", serial="S1", product_name="Stick")
    n = world.wait_notifications(1)[0]
    assert n["summary"] == ("USB機器「Stick」は使用できません" if expect_ja else "USB device “Stick” is blocked")


def test_both_languages(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8", args=["--language=both"]).start()
    start(make_agent, world)
    bed.add_usb("0781", "5567", serial="S1", product_name="Stick")
    n = world.wait_notifications(1)[0]
    assert n["summary"] == "USB機器「Stick」は使用できません"
    assert "使用許可を受けていない" in n["body"]
    assert "USB device “Stick” is blocked\nThis device (USB memory or other removable media) has not" in n["body"]


TOWN_NOTICE = ('notice = { approver = "所属の情報セキュリティ管理者（課長）";\n'
               ' approver_en = "the information security administrator of your section (section chief)";\n'
               ' contact = { section = "情報政策担当"; phone = "0123-45-6789"; extension = "1234";\n'
               '  section_en = "IT Policy Section"; }; };\n')


def test_contact_and_approver_from_config(bed, make_agent, world):
    world.helper(lang="ja_JP.UTF-8", args=["--language=both"]).start()
    start(make_agent, world, conf=BLOCK_ALL + TOWN_NOTICE)
    bed.add_usb("0781", "5567", serial="S1", product_name="Stick")
    body = world.wait_notifications(1)[0]["body"]
    assert "所属の情報セキュリティ管理者（課長）に使用許可を申請してください。" in body, body
    assert "連絡先: 情報政策担当（電話 0123-45-6789　内線 1234）" in body, body
    assert "ask the information security administrator of your section (section chief) for permission." in body
    assert "Contact: IT Policy Section (phone 0123-45-6789, ext. 1234)" in body, body


def test_contact_line_old_string(bed, make_agent, world):
    world.helper(lang="ja_JP.UTF-8").start()
    start(make_agent, world, conf=BLOCK_ALL + 'notice = { contact = "情報政策課（内線 1234）"; '
                                              'contact_en = "IT Policy Division (ext. 1234)"; };\n')
    bed.add_usb("0781", "5567", serial="S1", product_name="Stick")
    assert "連絡先: 情報政策課（内線 1234）" in world.wait_notifications(1)[0]["body"]


@pytest.mark.parametrize("allow,serial,ja,en", [
    ('allow = ( { vendor = "0781"; product = "5567"; serial = "S1"; label = "old"; approved_by = "officer"; expires = "2020-01-31"; } );',
     "S1", "この機器の使用許可の有効期限（2020年1月31日）が過ぎたため、使用できなくなりました。",
     "The permission to use this device expired (31 January 2020), so it can no longer be used."),
    ('allow = ( { vendor = "0781"; product = "5567"; serial = "OTHER"; label = "x"; approved_by = "officer"; } );',
     "S1", "使用許可を受けた機器と製造番号（シリアル番号）が一致しないため",
     "is not the unit that was given permission (its serial number does not match)"),
    # a model with allow entries, plugged without a serial
    ('allow = ( { vendor = "0781"; product = "5567"; serial = "S1"; label = "x"; approved_by = "officer"; } );',
     None, "製造番号（シリアル番号）がなく、1台ごとに使用許可を出せないため",
     "has no serial number, so permission cannot be given to this one unit"),
])
def test_reasons(bed, make_agent, world, allow, serial, ja, en):
    world.helper(lang="ja_JP.UTF-8", args=["--language=both"]).start()
    a = start(make_agent, world, allow={"10-test.conf": allow + "\n"} if allow else None)
    bed.add_usb("0781", "5567", serial=serial, product_name="Stick")
    a.wait_events("usb.blocked")
    body = world.wait_notifications(1)[0]["body"]
    assert ja in body, body
    assert en in body, body


@pytest.mark.parametrize("tz,ja,en", [
    ("Asia/Tokyo", "2020年1月31日 17:00", "31 January 2020 17:00"),
    ("America/New_York", "2020年1月31日 3:00", "31 January 2020 3:00"),
])
def test_expired_shown_in_local_time(bed, make_agent, world, tz, ja, en):
    """The expiry of a date-time entry, in the PC's own zone, never raw."""
    world.helper(lang="ja_JP.UTF-8", args=["--language=both"]).start()
    allow = ('allow = ( { vendor = "0781"; product = "5567"; serial = "S1"; label = "x"; approved_by = "officer"; '
             'expires = "2020-01-31T08:00:00Z"; } );\n')
    a = make_agent(main_conf=NOTICE_CONF, allow={"10-test.conf": allow},
                   extra_env={**world.agent_env(), "TZ": tz}).start()
    bed.add_usb("0781", "5567", serial="S1", product_name="Stick")
    a.wait_events("usb.blocked")
    body = world.wait_notifications(1)[0]["body"]
    assert f"この機器の使用許可の有効期限（{ja}）が過ぎたため、使用できなくなりました。" in body, body
    assert f"The permission to use this device expired ({en}), so it can no longer be used." in body, body
    assert "2020-01-31T08" not in body


def test_phone_in_mtp_mode(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    start(make_agent, world)
    bed.add_usb("18d1", "4ee1", serial="PHONE1", product_name="Pixel", interfaces=(("ff", "ff", "00", "MTP"),))
    n = world.wait_notifications(1)[0]
    assert "This device (smartphone, digital camera or similar) has not been given permission" in n["body"]
    assert "MTP" not in n["body"] and "PTP" not in n["body"]


def test_composite_keyboard_keeps_working(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    start(make_agent, world)
    dev, ifs = bed.add_usb("1234", "5678", serial="K1", product_name="Keyboard with storage",
                           interfaces=(("03", "01", "01", None), ("08", "06", "50", None)))
    n = world.wait_notifications(1)[0]
    assert bed.authorized(ifs[0]) == "1" and bed.authorized(ifs[1]) == "0"
    assert "Its keyboard and mouse functions keep working." in n["body"]


# ---- no notice where there is nothing to explain ----

def test_no_notice_for_allowed_stick_keyboard_mouse(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    a = start(make_agent, world, allow={"10-ok.conf": 'allow = ( { vendor = "0781"; product = "5567"; '
                                                      'serial = "OK1"; label = "approved"; approved_by = "officer"; } );\n'})
    bed.add_usb("0781", "5567", serial="OK1", product_name="Approved stick")
    bed.add_usb("046d", "c31c", serial=None, product_name="Keyboard", interfaces=KEYBOARD, bus=1)
    bed.add_usb("046d", "c077", serial=None, product_name="Mouse", interfaces=MOUSE, bus=1)
    a.wait_events("usb.allowed")
    settle(1.0)
    assert world.notifications() == []
    # and the path is alive: an unlisted stick now is told
    bed.add_usb("0781", "5567", serial="NOPE", product_name="Unlisted")
    assert world.wait_notifications(1)[0]["summary"] == "USB device “Unlisted” is blocked"


def test_notices_disabled(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    a = start(make_agent, world, conf=BLOCK_ALL + "notice = { enabled = false; };\n")
    dev, ifs = bed.add_usb("0781", "5567", serial="S1", product_name="Stick")
    a.wait_events("usb.blocked")
    assert bed.authorized(ifs[0]) == "0"
    settle(1.0)
    assert world.notifications() == []
    assert notice_check(a)["state"] == "disabled"


# ---- antivirus: off by default, on by notice.kinds ----

def av_conf(db, kinds=None):
    text = (BLOCK_ALL + 'lock = { tty = "ignore"; };\n'
            f'antivirus = {{ engine = "clamav"; database_dir = "{db}"; max_age_hours = 24; }};\n')
    if kinds:
        text += "notice = { kinds = [ " + ", ".join(f'"{k}"' for k in kinds) + " ]; };\n"
    return text


def test_antivirus_notices_when_configured(make_agent, world, tmp_path):
    db = str(tmp_path / "clamav")
    write_db(db, "daily.cvd", cvd(27100, 30))  # 30 hours old, 24 allowed
    world.helper(lang="ja_JP.UTF-8").start()
    a = start(make_agent, world, conf=av_conf(db, ["usb.blocked", "av.pattern_stale", "av.missing"]))
    ev = a.wait_events("av.pattern_stale")[0]
    n = world.wait_notifications(1)[0]
    assert n["summary"] == "ウイルス対策のパターンファイルが古くなっています"
    assert "端末はこのまま使えます。" in n["body"]
    assert "外部から届いたメールの添付ファイルや、外部から受け取ったファイルは開かないでください。" in n["body"]
    assert "この通知が出たことを、端末の管理を担当する部署に連絡してください。" in n["body"]
    assert f"根拠: 対策基準 第7-3ア　参照番号: {ev['id'][:8]}" in n["body"]
    assert n["app_icon"] == "security-low" and "category" not in n["hints"]
    # a broken database: the engine has nothing to load; it replaces the first on screen
    write_db(db, "daily.cvd", cvd(27100, 1)[:300])
    a.wait_events("av.missing")
    n2 = world.wait_notifications(2)[1]
    assert n2["summary"] == "ウイルス対策ソフトが動作していません"
    assert n2["replaces_id"] == 1


def test_antivirus_notices_off_by_default(make_agent, world, tmp_path):
    db = str(tmp_path / "clamav")
    write_db(db, "daily.cvd", cvd(27100, 30))
    world.helper(lang="ja_JP.UTF-8").start()
    a = start(make_agent, world, conf=av_conf(db))
    a.wait_events("av.pattern_stale")
    settle(1.0)
    assert world.notifications() == []


# ---- hostile device strings ----

HOSTILE = (b'Evil "Stick" <b>bold</b> & <a href="x">link</a> \x1b[31mred\x07 \xff\xfe'
           b' \xe2\x80\xaegnp.exe \xc2\x85end')


@pytest.mark.parametrize("caps,markup", [(None, True), (["body"], False)])
def test_hostile_strings(bed, make_agent, caps, markup):
    with NoticeWorld(capabilities=caps) as world:
        world.helper(lang="en_US.UTF-8").start()
        a = start(make_agent, world)
        plug_raw(bed, "0781", "5567", "H1", HOSTILE)
        a.wait_events("usb.blocked")
        n = world.wait_notifications(1)[0]
    summary, body = n["summary"], n["body"]
    for s in (summary, body):
        assert no_controls(s, allow_newline=(s is body)), repr(s)
        assert not any(ch in BIDI for ch in s), repr(s)
    # escaped and visible, as in events and mamorictl (docs/events.md §3.1):
    # the right-to-left override and the C1 control as \u escapes
    assert "\\x1b[31mred\\x07 \\xff\\xfe \\u202egnp.exe \\u0085end" in body, repr(body)
    # the summary is plain text by the spec: never escaped, never markup
    assert summary.startswith('USB device “Evil "Stick" <b>bold</b> & <a href=')
    assert len(summary) < 120 and "…" in summary
    assert "\n" not in summary
    if markup:
        # a server that renders markup gets no tag and no entity from the device
        assert "<" not in body and ">" not in body
        assert '&quot;Stick&quot; &lt;b&gt;bold&lt;/b&gt; &amp; &lt;a href=&quot;x&quot;&gt;' in body
    else:
        assert 'Evil "Stick" <b>bold</b> & <a href="x">' in body


def test_long_product_name(bed, make_agent, world):
    world.helper(lang="ja_JP.UTF-8").start()
    start(make_agent, world)
    plug_raw(bed, "0781", "5567", "L1", ("長" * 1500).encode())
    n = world.wait_notifications(1)[0]
    assert n["summary"] == "USB機器「" + "長" * 47 + "…」は使用できません"
    assert len(n["body"]) < 1000


# ---- rate limiting ----

def test_rate_limit_burst_then_summary(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    a = start(make_agent, world, conf=BLOCK_ALL + "notice = { burst = 2; interval = 3; };\n")
    t0 = time.monotonic()
    for k in range(5):
        bed.add_usb("0781", "5567", serial=f"R{k}", product_name=f"Stick {k}")
        time.sleep(0.05)
    a.wait_events("usb.blocked", count=5)
    first = world.wait_notifications(2)
    settle(0.5)
    assert len(world.notifications()) == 2  # the rest is held back...
    third = world.wait_notifications(3, timeout=8)[2]  # ...and told as one, with the count
    assert time.monotonic() - t0 >= 2.5
    assert "Notices came in quick succession, so 2 more were not shown (they are still recorded)." in third["body"]
    summaries = {n["summary"] for n in first + [third]}
    assert len(summaries) == 3 and all(s.startswith("USB device “Stick ") for s in summaries)
    settle(3.5)
    assert len(world.notifications()) == 3


def test_phone_flipping_modes_is_told_once(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    a = start(make_agent, world)
    modes = [("4ee1", (("06", "01", "01", "MTP"),)),      # MTP
             ("4ee5", (("06", "01", "01", None),)),       # PTP
             ("4ee3", (("e0", "01", "03", None),          # USB tethering (RNDIS)
                       ("0a", "00", "00", None)))]
    for k, (pid, ifaces) in enumerate(modes * 2):
        dev, ifs = bed.add_usb("18d1", pid, serial="PIXEL7", product_name="Pixel 7", interfaces=ifaces, port=7)
        # The second round repeats the first within usb.repeat_window: blocked
        # all the same, recorded once when the window closes.
        a.wait_events("usb.blocked", count=min(k + 1, len(modes)))
        wait_for(lambda: bed.authorized(ifs[0]) == "0", 5, what="the block")
        time.sleep(0.1)
        bed.remove(dev, ifs)
        time.sleep(0.1)
    settle(0.5)
    notes = world.notifications()
    assert len(notes) == 1, notes
    assert "Pixel 7" in notes[0]["summary"]
    # the same phone on the same port replaces, never stacks
    assert notes[0]["replaces_id"] == 0


def test_replug_after_a_while_replaces_the_notification(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    a = start(make_agent, world)
    dev, ifs = bed.add_usb("0781", "5567", serial="A", product_name="A", port=5)
    world.wait_notifications(1)
    bed.remove(dev, ifs)
    time.sleep(0.1)
    # another stick in the same port: a new notice that takes the old one's place
    bed.add_usb("0781", "5567", serial="B", product_name="B", port=5)
    second = world.wait_notifications(2)[1]
    first_id = 1  # dbusmock hands out ids from 1
    assert second["replaces_id"] == first_id
    assert second["summary"] == "USB device “B” is blocked"


def test_told_once_across_reloads_and_a_restart(bed, make_agent, world):
    """A notice on a plug and on usable -> blocked; not when a reload or a
    restart changes only the reason (issue 18: two sticks gave 8 notices)."""
    world.helper(lang="en_US.UTF-8").start()
    # repeat_window = 0: every block is its own event, for the test to count
    # (a reason that comes back within the window is one record, later).
    conf = ('usb = { block = [ "storage" ]; repeat_window = 0; };\n'
            "notice = { burst = 20; interval = 1; };\n")
    a = start(make_agent, world, conf=conf)
    bed.add_usb("0781", "5567", serial="S1", product_name="Stick One", port=3)
    bed.add_usb("0781", "5567", serial="S2", product_name="Stick Two", port=4)
    a.wait_events("usb.blocked", count=2)
    assert len(world.wait_notifications(2)) == 2

    def other_unit(label):  # the model is approved, but another unit: the reason changes
        return ('allow = ( { vendor = "0781"; product = "5567"; serial = "OTHER"; label = "%s"; '
                'approved_by = "officer"; } );\n' % label)

    def usable_then_blocked(serial, n_allowed, n_blocked):
        a.write_allow("20-one.conf", 'allow = ( { vendor = "0781"; product = "5567"; serial = "%s"; '
                      'label = "x"; approved_by = "officer"; } );\n' % serial)
        a.reload()
        a.wait_events("usb.allowed", count=n_allowed)
        os.unlink(os.path.join(a.allow_dir, "20-one.conf"))
        a.reload()
        a.wait_events("usb.blocked", count=n_blocked)

    a.write_allow("10-model.conf", other_unit("first"))
    a.reload()
    a.wait_events("usb.blocked", count=4)
    os.unlink(os.path.join(a.allow_dir, "10-model.conf"))
    a.reload()
    a.wait_events("usb.blocked", count=6)
    # usable -> blocked is something the person notices: told again, even
    # with the reason of a notice they got a moment ago
    usable_then_blocked("S1", 1, 7)
    third = world.wait_notifications(3)[2]
    assert third["summary"] == "USB device “Stick One” is blocked"

    a.stop()
    a.write_allow("10-model.conf", other_unit("second"))
    a.start()
    a.wait_events("usb.blocked", count=9)
    assert os.path.exists(os.path.join(a.runtime, "notified"))
    usable_then_blocked("S2", 2, 10)
    fourth = world.wait_notifications(4)[3]
    assert fourth["summary"] == "USB device “Stick Two” is blocked"
    settle(0.5)
    notes = world.notifications()
    assert len(notes) == 4, [n["summary"] for n in notes]


def test_told_record_is_checked(bed, make_agent, world):
    """/run/mamori/notified is read as hostile: junk is skipped (and said), a
    record of another plug does not silence this one."""
    world.helper(lang="en_US.UTF-8").start()
    a = make_agent(main_conf=NOTICE_CONF, extra_env=world.agent_env())
    os.makedirs(a.runtime, mode=0o755, exist_ok=True)
    dev, ifs = bed.add_usb("0781", "5567", serial="S1", product_name="Stick One", port=3)
    busnum, devnum = (bed.attr(dev, k).decode().strip() for k in ("busnum", "devnum"))
    with open(os.path.join(a.runtime, "notified"), "w") as f:
        f.write("junk\n" + "9" * 100 + "\n" + f"{busnum} {int(devnum) + 1} 0781 5567\n")
    a.start()
    a.wait_events("usb.blocked")
    world.wait_notifications(1)
    assert "Skipped 2 lines of" in a.log()
    with open(os.path.join(a.runtime, "notified")) as f:
        assert f.read() == f"{busnum} {devnum} 0781 5567\n"


# ---- trust: only mamorid's notices are shown ----

def test_only_root_owns_the_name_and_forged_signals_are_ignored(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    a = start(make_agent, world)
    bed.add_usb("0781", "5567", serial="S1", product_name="Real")
    world.wait_notifications(1)

    # an unprivileged user cannot take the name
    forge = subprocess.run(as_user(["/usr/bin/python3", "-c", (
        "import dbus, sys\n"
        f"b = dbus.bus.BusConnection('{world.system.address}')\n"
        "try:\n"
        "    b.request_name('org.mamori.Notice1')\n"
        "except dbus.exceptions.DBusException as e:\n"
        "    print(e.get_dbus_name()); sys.exit(3)\n"
        "sys.exit(0)\n")]), env=clean_env(), capture_output=True, text=True, timeout=60)
    assert forge.returncode == 3, forge.stdout + forge.stderr
    assert "AccessDenied" in forge.stdout

    # a signal that looks right but does not come from the name's owner
    bus = world.system.connect()
    msg = dbus.lowlevel.SignalMessage("/org/mamori/Notice1", "org.mamori.Notice1", "Notice")
    msg.append("00000000-0000-0000-0000-000000000000", "usb.blocked",
               dbus.Dictionary({"ja": "偽物", "en": "Forged"}, signature="ss"),
               dbus.Dictionary({"ja": "偽物", "en": "Forged"}, signature="ss"),
               dbus.Dictionary({}, signature="sv"), signature="ssa{ss}a{ss}a{sv}")
    bus.send_message(msg)
    bus.flush()
    settle(1.0)
    assert [n["summary"] for n in world.notifications()] == ["USB device “Real” is blocked"]
    bus.close()


def test_forged_notice_sent_to_the_helper_alone_is_ignored(bed, make_agent, world):
    """A signal sent to mamori-notify's connection alone is delivered whatever
    its match rules say: a notice from anyone but the owner of the name is not
    shown, even after a forged "the name is mine now" from the bus."""
    h = world.helper(lang="en_US.UTF-8").start()
    start(make_agent, world)
    bed.add_usb("0781", "5567", serial="S1", product_name="Real")
    world.wait_notifications(1)  # mamorid owns the name now
    bus = world.system.connect()
    helper = unique_name_of_pid(bus, h.proc.pid)
    owner = bus.get_name_owner("org.mamori.Notice1")
    bus.close()
    forged = {"ja": "偽物", "en": "Forged: call 0120-000-000 and give your password"}
    notice = dict(path="/org/mamori/Notice1", interface="org.mamori.Notice1", member="Notice",
                  signature="ssa{ss}a{ss}a{sv}", destination=helper,
                  args=["00000000-0000-0000-0000-000000000000", "usb.blocked", forged, forged, {}])
    forge(world.system.address, [notice], uid=USER_UID)
    forge(world.system.address, [dict(name_owner_changed("org.mamori.Notice1", owner, "$self"), destination=helper),
                                 notice], uid=USER_UID)
    settle(1.0)
    assert [n["summary"] for n in world.notifications()] == ["USB device “Real” is blocked"]
    assert "forged?" in h.log()
    # mamorid is still heard
    bed.add_usb("0781", "5567", serial="S2", product_name="After")
    assert world.wait_notifications(2)[1]["summary"] == "USB device “After” is blocked"


def fake_logind(tmp_path, session, uid):
    """logind's state files for seat0, for a mamorid in its own mount namespace."""
    run = tmp_path / "run"
    (run / "systemd/seats").mkdir(parents=True)
    (run / "systemd/users").mkdir(parents=True)
    seat = run / "systemd/seats/seat0"
    seat.write_text(f"ACTIVE={session}\nACTIVE_UID={uid}\n")
    (run / "systemd/users/1000").write_text("NAME=alice\n")
    (run / f"systemd/users/{USER_UID}").write_text("NAME=nobody\n")
    return run, seat


def start_with_logind(make_agent, world, run):
    a = make_agent(main_conf=NOTICE_CONF, extra_env=world.agent_env())
    a.start(wrapper=["unshare", "--mount", "--propagation", "private", "--",
                     "sh", "-c", f'mount --bind "{run}" /run && exec "$@"', "sh"])
    return a


def test_notice_for_another_user_is_not_shown(bed, make_agent, world, tmp_path):
    """The seat belongs to uid 1000; our helper runs as another user."""
    run, seat = fake_logind(tmp_path, "c7", 1000)
    world.helper(lang="en_US.UTF-8").start()
    a = start_with_logind(make_agent, world, run)
    bed.add_usb("0781", "5567", serial="U1", product_name="Alice's stick")
    ev = a.wait_events("usb.blocked")[0]
    assert ev["user"]["uid"] == 1000
    settle(1.0)
    assert world.notifications() == []
    assert "is for uid 1000, not us" in world.helpers[0].log()
    # the seat changes hands
    seat.write_text(f"ACTIVE=c8\nACTIVE_UID={USER_UID}\n")
    bed.add_usb("0781", "5567", serial="U2", product_name="Our stick")
    n = world.wait_notifications(1)[0]
    assert n["summary"] == "USB device “Our stick” is blocked"


def test_notice_for_another_session_of_ours_is_not_shown(bed, make_agent, world, tmp_path):
    """Same user, two sessions (say, one remote): only the one at the seat is told."""
    run, seat = fake_logind(tmp_path, "c8", USER_UID)
    h = world.helper(lang="en_US.UTF-8", env={"XDG_SESSION_ID": "c9"}).start()
    a = start_with_logind(make_agent, world, run)
    bed.add_usb("0781", "5567", serial="V1", product_name="First")
    a.wait_events("usb.blocked")
    settle(1.0)
    assert world.notifications() == []
    assert "is for session c8, not ours (c9)" in h.log()
    seat.write_text(f"ACTIVE=c9\nACTIVE_UID={USER_UID}\n")
    bed.add_usb("0781", "5567", serial="V2", product_name="Second")
    assert world.wait_notifications(1)[0]["summary"] == "USB device “Second” is blocked"


# ---- without a notification server, without a bus, with a bus that hangs ----

def test_no_notification_server_prints_to_terminal(bed, make_agent):
    with NoticeWorld(notification_server=False) as world:
        h = world.helper(lang="ja_JP.UTF-8").start()
        start(make_agent, world)
        bed.add_usb("0781", "5567", serial="S1", product_name="Stick <b>")
        text = wait_for(lambda: (lambda t: t if "mamori: " in t else None)(h.log()), 10, what="terminal notice")
    assert "mamori: USB機器「Stick <b>」は使用できません\n" in text
    assert "\n  この機器（USBメモリ等の外部記録媒体）は使用許可を受けていないため" in text
    assert "\n  根拠: 対策基準 第3-6" in text


def test_second_helper_in_a_session_steps_aside(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    second = world.helper(lang="en_US.UTF-8").start(wait_ready=False)
    assert second.proc.wait(10) == 0
    assert "Another mamori-notify already serves this session" in second.log()
    start(make_agent, world)
    bed.add_usb("0781", "5567", serial="S1", product_name="Stick")
    world.wait_notifications(1)
    settle(0.5)
    assert len(world.notifications()) == 1


def test_system_bus_restart(bed, make_agent, world):
    h = world.helper(lang="en_US.UTF-8").start()
    a = start(make_agent, world)
    bed.add_usb("0781", "5567", serial="B1", product_name="Before")
    world.wait_notifications(1)
    world.system.stop()
    h.wait_notify("STATUS=Waiting for the system bus")
    dev, ifs = bed.add_usb("0781", "5567", serial="B2", product_name="During")
    a.wait_events("usb.blocked", count=2)
    assert bed.authorized(ifs[0]) == "0"
    world.system.start()
    h.notify.clear()
    h.wait_notify("STATUS=Listening", timeout=15)
    bed.add_usb("0781", "5567", serial="B3", product_name="After")
    n = world.wait_notifications(2)
    assert n[1]["summary"] == "USB device “After” is blocked"


def test_no_system_bus_does_not_hold_up_blocking(bed, make_agent, tmp_path):
    a = make_agent(main_conf=NOTICE_CONF,
                   extra_env={"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/nothing.sock"}).start()
    ifaces = []
    for k in range(3):
        ifaces += bed.add_usb("0781", "5567", serial=f"N{k}", product_name="Stick")[1]
    a.wait_events("usb.blocked", count=3)
    assert all(bed.authorized(i) == "0" for i in ifaces)
    assert a.log().count("No system bus, staff are not shown notices") == 1
    c = notice_check(a)
    # not an error of this PC: without a system bus there is no desktop to tell
    assert c["state"] == "unavailable" and c["undelivered"] + c["held"] == 3, c  # burst 2: one waits
    assert c["detail"] == "no system bus (No such file or directory): notices wait for one"


def test_hung_system_bus_does_not_hold_up_blocking(bed, make_agent, world):
    a = start(make_agent, world)
    world.system.proc.send_signal(signal.SIGSTOP)
    try:
        for k in range(4):
            t0 = time.monotonic()
            dev, ifs = bed.add_usb("0781", "5567", serial=f"H{k}", product_name="Stick")
            wait_for(lambda: bed.authorized(ifs[0]) == "0", 5, interval=0.005, what="the block")
            assert time.monotonic() - t0 < 1.0
        a.wait_events("usb.blocked", count=4)
        a.reload()  # the loop answers
    finally:
        world.system.proc.send_signal(signal.SIGCONT)


# ---- devices outside USB (issue 14 item 6): one case per bus family ----

def dev_start(make_agent, world, conf, env=None, allow=None):
    extra = dict(world.agent_env(), **(env or {}))
    return make_agent(main_conf=conf, extra_env=extra, allow=allow).start()


def test_sd_card_notice_once_per_card(bed, make_agent, world):
    """A card put in again and again is one notice in the window; another
    card is another."""
    from test_mmc import CARD, OTHER, MmcBed
    mmc = MmcBed(bed)
    world.helper(lang="ja_JP.UTF-8").start()
    a = dev_start(make_agent, world, NOTICE_CONF)
    _dev, name = mmc.add_card(CARD)
    ev = a.wait_events("device.blocked")[0]
    n = world.wait_notifications(1)[0]
    assert n["summary"] == "SDカード「QEMU!」は使用できません", n
    assert n["body"].startswith("この機器（SDカード等の外部記録媒体）は使用許可を受けていないため、"
                                "使用できないようにしました。\n"), n["body"]
    assert ev["id"][:8] in n["body"]
    assert CARD["serial"] not in n["body"] and CARD["serial"] not in n["summary"]
    # the same card in other slots (the test bed's names): nothing new to say
    for _ in range(3):
        mmc.add_card(CARD)
    a.wait_events("device.blocked", count=4)
    mmc.add_card(OTHER)
    a.wait_events("device.blocked", count=5)
    wait_for(lambda: notice_check(a)["deduplicated"] >= 3, what="3 repeats deduplicated")
    time.sleep(0.5)
    notes = world.notifications()
    assert len(notes) == 2, notes
    c = notice_check(a)
    assert c["sent"] == 2 and c["deduplicated"] == 3, c


def test_optical_write_notice_says_reading_works(bed, make_agent, world):
    """A drive plugged in is told about (reading still works: it says so);
    one present at start is not: built-in drives would say it at every boot."""
    from test_optical import SERIAL, Drives
    drives = Drives(bed)
    drives.add("BUILTIN_DRIVE_0001")
    time.sleep(0.05)
    world.helper(lang="en_US.UTF-8").start()
    a = dev_start(make_agent, world, NOTICE_CONF, env={"MAMORI_DEV_ROOT": drives.dev})
    a.wait_events("device.blocked", pred=lambda e: e["device"].get("serial") == "BUILTIN_DRIVE_0001")
    drives.add(SERIAL)
    a.wait_events("device.blocked", pred=lambda e: e["device"].get("serial") == SERIAL)
    n = world.wait_notifications(1)[0]
    assert n["summary"] == "Writing to CD/DVD drive “HL-DT-ST DVDRAM GUD1N” is blocked", n
    assert "so writing was blocked. Reading discs keeps working.\n" in n["body"], n["body"]
    time.sleep(0.5)
    assert len(world.notifications()) == 1, world.notifications()


def test_thunderbolt_and_firewire_notices(bed, make_agent, world):
    """A dock: its keyboard and mouse stop too, and the notice says so
    plainly. A FireWire disk: blocked, told."""
    from test_thunderbolt import DEVICES_ALL, GUID_B, UID_B, Tb, make_tb
    t = Tb(bed)
    try:
        t.domain(0, "user")
        world.helper(lang="ja_JP.UTF-8").start()
        a = dev_start(make_agent, world, DEVICES_ALL + 'notice = { burst = 5; interval = 2; };\n')
        make_tb(t, 0, UID_B)
        a.wait_events("device.blocked", pred=lambda e: e["device"]["bus"] == "thunderbolt")
        n = world.wait_notifications(1)[0]
        assert n["summary"] == "Thunderbolt機器「Lenovo ThinkPad Thunderbolt 3 Dock」は使用できません", n
        assert "そこにつないだキーボード・マウス・ネットワーク等も使えなくなります（故障ではありません）。" in n["body"]
        assert UID_B not in n["body"]
        t.firewire(GUID_B)
        a.wait_events("device.blocked", pred=lambda e: e["device"]["bus"] == "firewire")
        n = world.wait_notifications(2)[1]
        assert n["summary"].startswith("FireWire機器"), n
        assert n["body"].startswith("この機器（FireWire機器）は使用許可を受けていないため、"), n["body"]
        assert "ドッキング" not in n["body"]
    finally:
        t.done()
