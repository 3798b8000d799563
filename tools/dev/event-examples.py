#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Produces a real example of every event kind with the real mamorid (under
umockdev, with the test collector) and writes them into docs/events.md
between the markers. Run from the source tree after a build:

    umockdev-wrapper /usr/bin/python3 tools/dev/event-examples.py [--update]

Without --update it prints the examples."""
import json
import os
import re
import sys
import tempfile
import time

top = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(top, "tests", "integration"))
os.environ.setdefault("MAMORID", os.path.join(top, "build", "agent", "mamorid"))

import spool_reader  # noqa: E402
from collector import Collector, make_pki  # noqa: E402
from mamori_testlib import Agent, UsbBed, wait_for  # noqa: E402
from reporting_lib import collector_conf  # noqa: E402

ALLOW = ('allow = (\n  { vendor = "0781"; product = "5581"; serial = "4C530001231120115313"; label = "総務課 USB 001";\n'
         '    approved_by = "情報セキュリティ管理者 山田"; approved_on = "2026-04-01"; expires = "2027-03-31"; ticket = "SEC-2026-014"; }\n);\n')


def main():
    tmp = tempfile.mkdtemp(prefix="mamori-examples-")
    pki = make_pki(os.path.join(tmp, "pki"))
    c = Collector(pki).start()
    bed = UsbBed()
    got = {}

    a = Agent(bed, main_conf=collector_conf(c, pki, heartbeat_interval=1), allow={"10-soumu.conf": ALLOW})
    a.start()
    bed.add_usb("0781", "5581", serial="4C530001231120115313", manufacturer="SanDisk", product_name="Ultra")
    bed.add_usb("0781", "5567", serial="20060266531E2A90D7C9", manufacturer="SanDisk", product_name="Cruzer Blade")
    # a phone in file-transfer mode, with a hostile product string
    bed.add_usb("18d1", "4ee1", serial="0A1B2C3D", manufacturer="Google",
                product_name='Pixel "7"\nrm -rf /\x01', interfaces=(("ff", "ff", "00", "MTP"),))
    # a "printer" that usb-storage takes once let in (no module alias said so)
    _, (prn,) = bed.add_usb("04b8", "0602", serial="EPX785A1B2", manufacturer="EPSON", product_name="USB Printer",
                            interfaces=(("07", "01", "02", None),), iface_authorized=None)
    wait_for(lambda: bed.authorized(prn) == "1", 10, what="the printer let in")
    bed.bind_driver(prn, "usb-storage")
    c.wait_events(1, kind="agent.heartbeat", timeout=10)
    a.write_conf(collector_conf(c, pki, heartbeat_interval=0))
    a.write_allow("20-jinji.conf", 'allow = ( { vendor = "0951"; product = "1666"; serial = "E0D55EA57311F4A1"; '
                  'label = "人事課 USB 002"; approved_by = "情報セキュリティ管理者 山田"; expires = "2026-12-31"; } );\n')
    a.reload()
    # issue 14: a stick approved read-only whose partition turns up writable
    a.write_allow("40-ro.conf", 'allow = ( { vendor = "0930"; product = "6545"; serial = "RO20270401"; '
                  'label = "外部提出物 読取用"; approved_by = "情報セキュリティ管理者 山田"; access = "read-only"; } );\n')
    a.reload()
    _, (roi,) = bed.add_usb("0930", "6545", serial="RO20270401", manufacturer="TOSHIBA", product_name="TransMemory",
                            iface_authorized=None)
    wait_for(lambda: bed.authorized(roi) == "1", 10, what="the read-only stick let in")
    disk = bed.tb.add_device("block", "sdc", roi, ["ro", "1", "dev", "8:32"], ["DEVTYPE", "disk"])
    bed.tb.add_device("block", "sdc1", disk, ["ro", "0", "dev", "8:33"], ["DEVTYPE", "partition"])
    c.wait_events(1, kind="usb.readonly_violated")
    a.write_allow("30-broken.conf", 'allow = ( { vendor = "0951"; product = "16666"; serial = "X"; } );\n')
    a.reload()
    os.unlink(os.path.join(a.allow_dir, "30-broken.conf"))
    c.wait_events(1, kind="agent.config_error")
    a.stop()
    # a damaged spool: a flipped bit in its newest record
    d = os.path.join(a.state, "spool")
    seg = sorted(f for f in os.listdir(d) if f.endswith(".seg"))[-1]
    with open(os.path.join(d, seg), "r+b") as f:
        data = f.read()
        f.seek(len(data) - 30)
        f.write(bytes([data[-30] ^ 1]))
    a.start()
    c.wait_events(1, kind="agent.spool_corrupt")
    a.stop()
    a.start()  # delivers the agent.stopping of the run before
    c.wait_events(1, kind="agent.stopping")
    a.stop()

    # a full spool: 1,200 approved sticks (info) into 1 MiB, delivered after a reload
    b = Agent(bed, main_conf=collector_conf(spool_mb=1),
              allow={"10-model.conf": 'allow = ( { vendor = "1234"; product = "5678"; any_serial = true; '
                                      'approved_by = "山田"; label = "支給品 (全台許可)"; } );\n'})
    for i in range(1200):
        bed.add_usb("1234", "5678", serial=f"P{i:05d}", uevent=False)
    b.start()
    wait_for(lambda: any(e["kind"] == "agent.events_dropped" for e in spool_reader.events(os.path.join(b.state, "spool"))),
             60, what="a drop")
    b.write_conf(collector_conf(c, pki, spool_mb=1))
    b.reload()
    c.wait_events(1, kind="agent.events_dropped", timeout=30)
    b.stop()

    # a collector that refuses this PC (its token rotated), then takes it again
    c.rule = lambda path, headers, events: (401, {"WWW-Authenticate": 'Bearer realm="mamori"'})
    r = Agent(bed, main_conf=collector_conf(c, pki))
    r.start()
    wait_for(lambda: any(e["kind"] == "agent.delivery_refused" for e in spool_reader.events(os.path.join(r.state, "spool"))),
             15, what="a refusal")
    c.rule = None
    c.wait_events(1, kind="agent.delivery_resumed", timeout=30)
    r.stop()

    for e in c.events():
        got.setdefault(e["kind"], e)
        if e["kind"] == "usb.blocked" and e.get("device", {}).get("category") == "mtp":
            got["usb.blocked (MTP phone, hostile strings)"] = e
        if e["kind"] == "usb.blocked" and any(i.get("category_from") == "driver" for i in e["device"]["interfaces"]):
            got["usb.blocked (storage driver bound to a printer interface)"] = e
        if e["kind"] == "agent.events_dropped" and len(json.dumps(e)) < len(json.dumps(got[e["kind"]])):
            got[e["kind"]] = e
    c.stop()
    return got


def render(got):
    out = ["<!-- examples:begin (tools/dev/event-examples.py --update) -->"]
    for kind in sorted(got):
        e = got[kind]
        if e["kind"] == "agent.events_dropped" and len(e["dropped"]["seq_ranges"]) > 3:
            e = dict(e, dropped=dict(e["dropped"], seq_ranges=e["dropped"]["seq_ranges"][:3] + [["…"]]))
        text = json.dumps(e, indent=2, ensure_ascii=False)
        # the test's temporary /etc, shown where it is installed
        text = re.sub(r"/tmp/mamori-it-[A-Za-z0-9_]+/etc", "/etc/mamori", text)
        out.append(f"\n#### `{kind}`\n\n```json\n{text}\n```")
    out.append("\n<!-- examples:end -->")
    return "\n".join(out)


if __name__ == "__main__":
    text = render(main())
    if "--update" in sys.argv:
        path = os.path.join(top, "docs", "events.md")
        with open(path) as f:
            doc = f.read()
        doc = re.sub(r"<!-- examples:begin.*?<!-- examples:end -->", lambda m: text, doc, flags=re.S)
        with open(path, "w") as f:
            f.write(doc)
        print(f"updated {path}")
    else:
        print(text)
