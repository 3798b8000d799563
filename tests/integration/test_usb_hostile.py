# SPDX-License-Identifier: MIT
"""Hostile descriptor strings: a USB device says whatever bytes it likes in its
manufacturer, product, serial and interface strings. Whatever it says, every
spooled event parses as JSON, has no raw control character and stays
bounded; no stderr or journal line is split or forged; and the allow list
still matches the exact bytes."""

import json
import os
import re
import socket
import struct
import subprocess
import threading

import pytest

import spool_reader
from mamori_testlib import wait_for
from usb_support import KEYBOARD, STORAGE, allow_file, barrier, config_desc, usb_events

FORGED_LOG = b"Evil\nmamorid[1] <crit> FORGED LINE\n"
HOSTILE = {
    "quotes": b'He said "hi" \'x\' \\back\\slash "},"kind":"agent.started","x":"',
    "newlines": FORGED_LOG + b"\r\nSECOND=1\n",
    "controls": b"\x1b[31mRED\x1b[0m\x07\x08\x7f\x01\x02\x1f tab\there",
    "c1_and_separators": "NEL\u0085 LS\u2028 PS\u2029 CSI\u009b".encode(),
    "invalid_utf8": b"bad \xff\xfe \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf \xe3\x81",
    "long_ascii": b"A" * 4096,
    "long_multibyte": "あ".encode() * 1365 + b"\xe3",  # 4 KiB, cut inside a character
    "json_escape": b'\\u0000 \\n \\" </script> \x00hidden',
    # text that reads differently from its bytes: bidi overrides and isolates,
    # zero-width and other invisible characters, tags, ESC sequences
    "invisible": ("Photo\u202egpj.exe \u2066iso\u2069 z\u200bw\u200c\u200dj \ufeffbom \u00adsh \u2060wj "
                  "\u061c\u200e\u200f vs\ufe0f \U000e0041\U000e007f \x1b[2J\x1b]0;title\x07").encode(),
}
# Code points that must never stand raw in an event, a log line or a table
# (text.h): controls, separators, bidi controls, default-ignorables.
HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
                    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
                    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
MAX_LINE = 64 * 1024  # 64 interfaces at most, each string at most 256 bytes before JSON escaping


def hostile_device(bed, n, name, value):
    """Every string of the device, and its interface name, carries the value."""
    return bed.add_usb(f"{0x1000 + n:04x}", "0001", serial=value + b"-S", manufacturer=value + b"-M",
                       product_name=value + b"-P", interfaces=(("08", "06", "50", value + b"-I"),),
                       iface_authorized="1")


def check_events_file(agent):
    # the raw JSON of every record in the spool, exactly as it will be sent
    lines = [r[4] for r in spool_reader.records(os.path.join(agent.state, "spool"))]
    assert lines
    for line in lines:
        assert len(line) <= MAX_LINE, f"event line of {len(line)} bytes"
        assert not re.search(rb"[\x00-\x1f\x7f]", line), line[:200]
        text = line.decode("utf-8")  # strict: valid UTF-8
        assert not HIDDEN.search(text), f"a raw hidden code point in an event line: {text[:300]!r}"
        ev = json.loads(text)
        # nor in any string the JSON holds
        assert not HIDDEN.search(json.dumps(ev, ensure_ascii=False)), text[:300]
        assert ev["kind"] in ("usb.blocked", "usb.allowed", "agent.started", "agent.posture", "agent.stopping"), ev["kind"]
    return [json.loads(line) for line in lines]


def check_log_lines(agent, pid):
    prefix = f"mamorid[{pid}] <".encode()
    lines = agent.log_lines()
    assert lines
    for line in lines:
        assert line.startswith(prefix), f"a log line was split or forged: {line[:200]!r}"
        assert not HIDDEN.search(line.decode("utf-8")), line[:200]
    assert not any(b"FORGED" in line and not line.startswith(prefix) for line in lines)


def test_hostile_strings_in_events_and_log(bed, make_agent):
    a = make_agent().start()
    devs = {}
    for n, (name, value) in enumerate(HOSTILE.items()):
        devs[name] = hostile_device(bed, n, name, value)
    barrier(bed, a)
    for name, (dev, (i,)) in devs.items():
        assert bed.authorized(i) == "0", f"{name}: not blocked"

    evs = check_events_file(a)
    blocked = [e for e in usb_events(a, "usb.blocked")]
    assert len(blocked) == len(HOSTILE), "one event per device, none forged"
    by_vendor = {e["device"]["vendor_id"]: e for e in blocked}
    for n, (name, value) in enumerate(HOSTILE.items()):
        d = by_vendor[f"{0x1000 + n:04x}"]["device"]
        for key in ("manufacturer", "product", "serial"):
            assert len(d[key].encode()) <= 256, (name, key)
        assert len(d["interfaces"][0]["name"].encode()) <= 256, name
        if name.startswith("long"):
            assert d["strings_truncated"] is True, name
        if name in ("newlines", "controls", "invalid_utf8", "invisible"):
            # The exact bytes stay recoverable for an admin writing an allow entry.
            assert bytes.fromhex(d["serial_hex"]) == (value + b"-S")[:512], name
            assert "\\x" in d["serial"], (name, d["serial"])
    assert len([e for e in evs if e["kind"] == "agent.started"]) == 1

    rc = a.stop()
    assert rc == 0
    check_log_lines(a, a.proc.pid)


def test_many_interfaces_with_long_names(bed, make_agent):
    """32 storage interfaces, each named with 4 KiB of multibyte text: the event
    stays one bounded line with every interface, and the log lines (cut at their
    limit; three devices whose product strings move the cut to each byte of a
    three-byte character) stay valid UTF-8."""
    name = "名".encode() * 1365 + b"\n<crit> FORGED"
    a = make_agent().start()
    for k in range(3):
        dev, ifs = bed.add_usb("1999", f"000{k}", serial=b"MANY", interfaces=[("08", "06", "50", name)] * 32,
                               manufacturer=name, product_name=b"P" * (k + 1), iface_authorized="1")
        wait_for(lambda: all(bed.authorized(i) == "0" for i in ifs), 10, what="32 interfaces blocked")
    barrier(bed, a)
    evs = [e for e in check_events_file(a) if e["kind"] == "usb.blocked" and e["device"]["vendor_id"] == "1999"]
    # (On a loaded machine an interface may come after the 50 ms settle; it then
    # gets an event of its own, which names it.)
    last = {e["device"]["product_id"]: e for e in evs}
    assert sorted(last) == ["0000", "0001", "0002"]
    assert [len(e["device"]["interfaces"]) for e in last.values()] == [32, 32, 32]
    assert max(len(line) for line in a.log_lines()) >= 8000, "the log line limit was not reached"
    rc = a.stop()
    assert rc == 0
    check_log_lines(a, a.proc.pid)


def test_long_multibyte_values_in_config_errors(bed, make_agent):
    """A config error quoting a 6 KiB multibyte value is cut to the log's limit
    on a character boundary: three files shift the cut across a character."""
    value = "期限" * 1000
    a = make_agent(allow={f"1{k}-long.conf": allow_file(
        '{ vendor = "0781"; product = "5567"; serial = "S%d"; approved_by = "x"; expires = "%s%s"; }'
        % (k, "x" * k, value)) for k in range(3)})
    a.start()
    assert a.events("agent.config_error")[0]["config"]["outcome"] == "fail_closed"
    rc = a.stop()
    assert rc == 0
    long_lines = [line for line in a.log_lines() if b"long.conf" in line and len(line) > 3000]
    assert len(long_lines) >= 3, a.log()[:2000]
    check_log_lines(a, a.proc.pid)


def test_allow_entry_matches_the_exact_serial_bytes(bed, make_agent):
    """A serial with a quote, a backslash and a tab is written in the allow entry
    with libconfig escapes and matches byte for byte; one byte off does not."""
    entry = ('{ vendor = "0781"; product = "5567"; serial = "Q\\"\\\\\\tZ"; approved_by = "x"; '
             'label = "escaped serial"; }')
    a = make_agent(allow={"10-odd.conf": allow_file(entry)}).start()
    dev, (i,) = bed.add_usb("0781", "5567", serial=b'Q"\\\tZ', iface_authorized="1")
    ev = a.wait_events("usb.allowed")[0]
    assert bed.authorized(i) == "1"
    assert ev["decision"]["rule"]["label"] == "escaped serial"
    dev2, (i2,) = bed.add_usb("0781", "5567", serial=b'Q"\\ Z', iface_authorized="1")
    ev2 = a.wait_events("usb.blocked")[0]
    assert ev2["decision"]["reason"] == "serial_mismatch"
    assert bed.authorized(i2) == "0"


def test_an_admins_label_cannot_split_a_log_line(bed, make_agent):
    """Log lines quote allow entries' labels: a label with a newline or a bidi
    override (libconfig escapes) stays within its one line, escaped."""
    label = 'x\\nmamorid[1] <crit> FORGED \\xe2\\x80\\xae end'
    a = make_agent(allow={"10-label.conf": allow_file(
        '{ vendor = "0781"; product = "5567"; any_serial = true; approved_by = "x"; label = "%s"; }' % label)})
    a.start()
    rc = a.stop()
    assert rc == 0
    check_log_lines(a, a.proc.pid)
    assert any(b"FORGED \\u202e end" in line and b"x\\x0amamorid[1]" in line for line in a.log_lines()), a.log()


# ---- the raw descriptors ----

DEVICE_DESC = bytes([18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x81, 0x07, 0x67, 0x55, 0x00, 0x01, 1, 2, 3, 1])
STORAGE_CONFIG = bytes([9, 2, 18, 0, 1, 1, 0, 0x80, 50, 9, 4, 0, 0, 2, 8, 6, 0x50, 0])


def test_descriptors_read_whole_and_bounded(bed, make_agent):
    """A device with no interface directories is classified from its raw
    descriptors, read to the end; a descriptors file past 64 KiB is not read
    into memory, and says so once in the log."""
    a = make_agent().start()
    dev, _ = bed.add_usb("0781", "5567", serial=b"DESC1", interfaces=(), port=6)
    # 8 KiB of padding first: one read() of the old 8 KiB buffer never saw the interface
    bed.write_raw(dev, "descriptors", DEVICE_DESC + bytes([4, 0x24, 0, 0]) * 2048 + STORAGE_CONFIG)
    bed.tb.uevent(dev, "bind")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"]["bus_path"] == "2-6")[0]
    assert ev["device"]["interfaces_source"] == "descriptors"
    assert [i["class"] for i in ev["device"]["interfaces"]] == ["08"]

    big, _ = bed.add_usb("0781", "5567", serial=b"DESC2", interfaces=(), port=7)
    bed.write_raw(big, "descriptors", DEVICE_DESC + bytes([4, 0x24, 0, 0]) * 16384 + STORAGE_CONFIG)
    bed.tb.uevent(big, "bind")
    wait_for(lambda: b"holds more than 65536 bytes" in a.log().encode(), what="the warning")
    barrier(bed, a)
    assert not [e for e in a.events("usb.blocked") if e["device"]["bus_path"] == "2-7"]
    rc = a.stop()
    assert rc == 0
    check_log_lines(a, a.proc.pid)


# ---- alternate settings: what the device can switch an interface to ----

def plug_with_descriptors(bed, vendor, serial, interfaces, descs, port):
    """A configured device whose sysfs shows the current settings (interfaces)
    and whose raw descriptors hold every alternate setting (descs)."""
    dev, ifs = bed.add_usb(vendor, "0001", serial=serial, interfaces=interfaces, iface_authorized="1",
                           uevent=False, port=port)
    bed.write_raw(dev, "descriptors", DEVICE_DESC + config_desc(*descs))
    bed.tb.uevent(dev, "bind")
    return dev, ifs


def test_keyboard_whose_alternate_setting_is_storage(bed, make_agent):
    """Interface 0 is a keyboard at alternate setting 0 (the udev rule lets it in)
    and mass storage at alternate setting 1: whoever holds the device through
    usbfs can switch to it and talk storage from user space. mamorid blocks the
    interface, and the event says which setting made it storage."""
    a = make_agent().start()
    dev, (kbd,) = plug_with_descriptors(bed, "1a2b", "ALTSTOR1", (KEYBOARD,),
                                        [(0, 0, 3, 1, 1), (0, 1, 8, 6, 0x50)], port=8)
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "ALTSTOR1")[0]
    wait_for(lambda: bed.authorized(kbd) == "0", what="interface 0 blocked")
    i = ev["device"]["interfaces"][0]
    assert (i["class"], i["category"], i["category_from"], i["category_by"]) == \
        ("03", "storage", "alternate", "alt 1 08/06/50")
    assert i["action"] == "blocked"
    assert "by its alternate setting alt 1 08/06/50" in ev["message"]

    # a keyboard with one setting, and a composite keyboard+stick, with their
    # descriptors readable: the keyboards are never written
    kdev, (k1,) = plug_with_descriptors(bed, "1a2c", "ALTKBD1", (KEYBOARD,), [(0, 0, 3, 1, 1)], port=9)
    cdev, (k2, stor) = plug_with_descriptors(bed, "1a2d", "ALTCOMP1", (KEYBOARD, STORAGE),
                                             [(0, 0, 3, 1, 1), (1, 0, 8, 6, 0x50)], port=10)
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "ALTCOMP1")[0]
    barrier(bed, a)
    assert bed.authorized(stor) == "0"
    assert bed.never_written(k1) and bed.never_written(k2)
    assert [i["category"] for i in ev["device"]["interfaces"]] == ["other", "storage"]
    assert not [e for e in a.events("usb.blocked") if e["device"].get("serial") == "ALTKBD1"]
    rc = a.stop()
    assert rc == 0


def test_alternate_setting_behind_padding_past_64_kib(bed, make_agent):
    """A configuration may be 65535 bytes long and a device may have 8: an
    alternate setting behind 100 KiB of padding (other configurations full of
    class-specific descriptors) is still read."""
    a = make_agent().start()
    pad = bytes([4, 0x24, 0, 0]) * 16000  # 64,000 bytes a configuration
    filler = b"".join(bytes([9, 2, (9 + len(pad)) & 0xff, (9 + len(pad)) >> 8, 0, v, 0, 0x80, 50]) + pad
                      for v in (2, 3))
    dev, (kbd,) = bed.add_usb("1a30", "0001", serial="ALTPAD1", interfaces=(KEYBOARD,), iface_authorized="1",
                              uevent=False, port=13)
    bed.write_raw(dev, "descriptors", DEVICE_DESC + filler + config_desc((0, 0, 3, 1, 1), (0, 1, 8, 6, 0x50)))
    bed.tb.uevent(dev, "bind")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "ALTPAD1")[0]
    assert ev["device"]["interfaces"][0]["category_by"] == "alt 1 08/06/50"
    wait_for(lambda: bed.authorized(kbd) == "0", what="interface 0 blocked")
    rc = a.stop()
    assert rc == 0


def test_alternate_setting_behind_a_nested_configuration_descriptor(bed, make_agent):
    """A configuration descriptor inside configuration 1's wTotalLength is one
    the kernel skips: the storage setting after it is still configuration 1's."""
    a = make_agent().start()
    body = (bytes([9, 4, 0, 0, 0, 3, 1, 1, 0]) + bytes([9, 2, 9, 0, 1, 2, 0, 0x80, 50]) +
            bytes([9, 4, 0, 1, 0, 8, 6, 0x50, 0]))
    cfg = bytes([9, 2, 9 + len(body), 0, 1, 1, 0, 0x80, 50]) + body
    dev, (kbd,) = bed.add_usb("1a31", "0001", serial="ALTNEST1", interfaces=(KEYBOARD,), iface_authorized="1",
                              uevent=False, port=14)
    bed.write_raw(dev, "descriptors", DEVICE_DESC + cfg)
    bed.tb.uevent(dev, "bind")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "ALTNEST1")[0]
    assert ev["device"]["interfaces"][0]["category_by"] == "alt 1 08/06/50"
    wait_for(lambda: bed.authorized(kbd) == "0", what="interface 0 blocked")
    rc = a.stop()
    assert rc == 0


def test_alternate_settings_of_another_configuration_do_not_count(bed, make_agent):
    """Only the active configuration's settings: a keyboard whose second
    configuration (not the one in use) has storage is a keyboard now; a
    first configuration full of interface descriptors hides nothing of the
    active one."""
    a = make_agent().start()
    other = config_desc((0, 0, 3, 1, 1), (0, 1, 8, 6, 0x50), value=2)
    dev, (kbd,) = bed.add_usb("1a2e", "0001", serial="ALTCFG1", interfaces=(KEYBOARD,), iface_authorized="1",
                              uevent=False, port=11)
    bed.write_raw(dev, "descriptors", DEVICE_DESC + config_desc((0, 0, 3, 1, 1)) + other)
    bed.tb.uevent(dev, "bind")
    filler = config_desc(*[(n % 32, n // 32, 3, 1, 1) for n in range(200)], value=2)
    dev2, (kbd2,) = bed.add_usb("1a2f", "0001", serial="ALTCFG2", interfaces=(KEYBOARD,), iface_authorized="1",
                                uevent=False, port=12)
    bed.write_raw(dev2, "descriptors", DEVICE_DESC + filler + config_desc((0, 0, 3, 1, 1), (0, 3, 8, 6, 0x50)))
    bed.tb.uevent(dev2, "bind")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "ALTCFG2")[0]
    assert ev["device"]["interfaces"][0]["category_by"] == "alt 3 08/06/50"
    barrier(bed, a)
    assert bed.never_written(kbd)
    assert not [e for e in a.events("usb.blocked") if e["device"].get("serial") == "ALTCFG1"]
    rc = a.stop()
    assert rc == 0


# ---- mamorictl: the table, the JSON, and an allow entry for such a device ----

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))


def ctl(agent, *args):
    env = dict(os.environ)
    env["UMOCKDEV_DIR"] = agent.bed.root
    p = subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), *args],
                       capture_output=True, env=env, timeout=20)
    assert p.returncode == 0, f"rc={p.returncode}\n{p.stdout!r}\n{p.stderr!r}"
    return p.stdout.decode("utf-8")  # strict


def test_invisible_strings_in_mamorictl_and_allow(bed, make_agent):
    """A stick whose every string holds bidi overrides, isolates, zero-width
    characters and ESC sequences: the event shows them as visible escapes and
    carries the serial's bytes as serial_hex; `mamorictl devices` (table and
    JSON) and `mamorictl allow` show no raw one; the entry that `mamorictl
    allow` writes is accepted and authorizes exactly this stick."""
    value = HOSTILE["invisible"]
    a = make_agent().start()
    dev, (i,) = bed.add_usb("0781", "5567", serial=value + b"-S", manufacturer=value + b"-M",
                            product_name=value + b"-P", interfaces=(("08", "06", "50", value + b"-I"),),
                            iface_authorized="1", port=6)
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(i) == "0"
    d = ev["device"]
    assert bytes.fromhex(d["serial_hex"]) == value + b"-S"
    for text in (d["serial"], d["manufacturer"], d["product"], d["interfaces"][0]["name"]):
        assert "Photo\\u202egpj.exe \\u2066iso\\u2069 z\\u200bw\\u200c\\u200dj \\ufeffbom" in text, text
        assert "\\U000e0041\\U000e007f \\x1b[2J\\x1b]0;title\\x07" in text, text
    assert "Photo\\u202egpj.exe" in ev["message"] and "\\\\" not in ev["message"], ev["message"]
    check_events_file(a)

    table = ctl(a, "devices")
    assert not HIDDEN.search(table.replace("\n", "")), table
    assert "Photo\\u202egpj" in table
    js = ctl(a, "devices", "--json")
    assert not HIDDEN.search(js.replace("\n", "")), js
    shown = {x["device"]["bus_path"]: x for x in json.loads(js)}["2-6"]["device"]
    assert shown["serial"] == d["serial"] and shown["serial_hex"] == d["serial_hex"]

    entry = ctl(a, "allow", "2-6", "--approved-by", "CISO Yamada", "--label", "bidi \u202e label")
    assert not HIDDEN.search(entry.replace("\n", "")), entry
    with open(os.path.join(a.allow_dir, "50-invisible.conf"), "w") as f:
        f.write(entry)
    a.reload()
    allowed = a.wait_events("usb.allowed")[0]
    wait_for(lambda: bed.authorized(i) == "1", what="authorized after reload")
    assert allowed["device"]["serial_hex"] == d["serial_hex"]
    # The admin's own label, byte for byte: written as \\x escapes in the file, and
    # \\u202e in the JSON text (json.c), which reads back as the same string.
    assert "label       = \"bidi \\xe2\\x80\\xae label\";" in entry, entry
    assert allowed["decision"]["rule"]["label"] == "bidi \u202e label"
    for line in (r[4] for r in spool_reader.records(os.path.join(a.state, "spool"))):
        assert not HIDDEN.search(line.decode("utf-8")), line[:300]


def test_an_entry_from_the_events_serial_hex(bed, make_agent):
    """Without the device at hand, the admin copies the event's serial_hex into
    the entry: it allows exactly that stick, and not one whose serial only
    looks the same."""
    serial = "SN\u202e1234\u200b".encode()
    a = make_agent().start()
    dev, (i,) = bed.add_usb("0781", "5567", serial=serial, iface_authorized="1", port=6)
    ev = a.wait_events("usb.blocked")[0]
    assert ev["device"]["serial"] == "SN\\u202e1234\\u200b"
    hexs = ev["device"]["serial_hex"]
    assert bytes.fromhex(hexs) == serial
    a.write_allow("50-hex.conf", allow_file(
        '{ vendor = "0781"; product = "5567"; serial_hex = "%s"; approved_by = "CISO"; label = "from the event"; }'
        % hexs.upper()))
    a.reload()
    allowed = a.wait_events("usb.allowed")[0]
    assert allowed["decision"]["rule"]["label"] == "from the event"
    # agent.config_changed names the new entry's serial the same way
    (added,) = a.wait_events("agent.config_changed")[0]["config"]["allow_entries_added"]
    assert (added["serial"], added["serial_hex"]) == (ev["device"]["serial"], hexs)
    wait_for(lambda: bed.authorized(i) == "1", what="authorized after reload")
    # the same text, without the invisible characters: a different serial
    dev2, (i2,) = bed.add_usb("0781", "5567", serial=b"SN1234", iface_authorized="1", port=7)
    ev2 = a.wait_events("usb.blocked", pred=lambda e: e["device"]["bus_path"] == "2-7")[0]
    assert ev2["decision"]["reason"] == "serial_mismatch" and "serial_hex" not in ev2["device"]
    assert bed.authorized(i2) == "0"


# ---- the journal ----

def parse_native(buf):
    """systemd's native journal protocol: KEY=VALUE\\n, or KEY\\n<le64 size><bytes>\\n."""
    fields, i = [], 0
    while i < len(buf):
        nl = buf.index(b"\n", i)
        line = buf[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (size,) = struct.unpack_from("<Q", buf, nl + 1)
            v = buf[nl + 9:nl + 9 + size]
            assert buf[nl + 9 + size:nl + 10 + size] == b"\n"
            i = nl + 10 + size
        fields.append((k.decode(), v))
    return fields


class JournalSink:
    """A stand-in for journald's socket, in a private mount of /run."""

    def __init__(self, base):
        self.run = os.path.join(base, "fake-run")
        os.makedirs(os.path.join(self.run, "systemd/journal"))
        self.path = os.path.join(self.run, "systemd/journal/socket")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.datagrams = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(4 * 4))
            except socket.timeout:
                continue
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fd = struct.unpack("i", cdata[:4])[0]
                    with os.fdopen(fd, "rb") as f:  # a large entry comes as a memfd
                        data = f.read()
            self.datagrams.append(data)

    def wrapper(self):
        return ["unshare", "-m", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /run && exec "$@"', self.run]

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def test_hostile_strings_in_the_journal(bed, make_agent):
    if os.geteuid() != 0 or subprocess.run(["unshare", "-m", "true"], timeout=60).returncode != 0:
        pytest.skip("needs root for a private mount namespace")
    a = make_agent(extra_env={"MAMORI_LOG_TARGET": "journal", "MAMORI_LOG_LEVEL": "debug"})
    sink = JournalSink(a.dir)
    try:
        a.start(wrapper=sink.wrapper())
        for n, (name, value) in enumerate(HOSTILE.items()):
            hostile_device(bed, n, name, value)
        barrier(bed, a)
        a.stop()
    finally:
        sink.close()

    assert sink.datagrams, "nothing reached the journal socket:\n" + a.log()
    kinds = []
    for dg in sink.datagrams:
        fields = parse_native(dg)
        keys = [k for k, _ in fields]
        for k in keys:
            assert re.fullmatch(r"[A-Z0-9][A-Z0-9_]*", k), f"bad field name {k!r}"
        assert len(keys) == len(set(keys)), f"a field was forged or repeated: {keys}"
        f = dict(fields)
        assert f["SYSLOG_IDENTIFIER"] == b"mamorid"
        assert f["PRIORITY"] in [str(p).encode() for p in range(8)]
        msg = f["MESSAGE"]
        assert not HIDDEN.search(msg.decode("utf-8")), msg[:200]
        if "MAMORI_EVENT" in f:
            assert not HIDDEN.search(f["MAMORI_EVENT"].decode("utf-8")), f["MAMORI_EVENT"][:200]
            ev = json.loads(f["MAMORI_EVENT"])
            assert not HIDDEN.search(json.dumps(ev, ensure_ascii=False)), f["MAMORI_EVENT"][:200]
            assert f["MAMORI_EVENT_KIND"].decode() == ev["kind"]
            kinds.append(ev["kind"])
    assert kinds.count("usb.blocked") == len(HOSTILE) + 1  # and the barrier
    # stderr stayed silent: everything went to the journal
    assert a.log_lines() == [], a.log()[:500]
