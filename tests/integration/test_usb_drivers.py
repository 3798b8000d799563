# SPDX-License-Identifier: MIT
"""Storage that hides behind another interface class, and the iPhone's file
access: the real mamorid under umockdev, with a modules directory that depmod
built from fake modules declaring the kernel's aliases (mamori_testlib
KERNEL_ALIASES), given to mamorid through MAMORI_MODULES_DIR."""

import os
import subprocess

import pytest

from mamori_testlib import KERNEL_ALIASES, make_modules_dir, wait_for
from usb_support import (ADB, MTP, PTP, barrier, check_usb_event, iface_actions, settle, sysname, usb_events,
                         wait_authorized)

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))

PRINTER = ("07", "01", "02", None)
REALTEK_READER = ("ff", "06", "50", None)  # RTS5129: vendor-specific, rtsx_usb binds by id
USBMUX = ("ff", "fe", "02", "Apple Mobile Device")
IPHONE_PTP = ("06", "01", "01", "PTP")


@pytest.fixture(scope="module")
def modules_dir(tmp_path_factory):
    return make_modules_dir(str(tmp_path_factory.mktemp("modules")))


@pytest.fixture
def agent_with_aliases(make_agent, modules_dir):
    def make(**kw):
        env = dict({"MAMORI_MODULES_DIR": modules_dir}, **kw.pop("extra_env", {}))
        return make_agent(extra_env=env, **kw)
    return make


def iface(ev, syspath):
    (i,) = [i for i in ev["device"]["interfaces"] if i["id"] == sysname(syspath)]
    return i


def assert_truthful(bed, ev):
    """An event never describes an interface differently from what mamorid did
    to it: "blocked" is unauthorized, "authorized"/"allowed" are authorized, and
    "untouched" was never written."""
    for i in ev["device"]["interfaces"]:
        path = [p for p in truthful_paths(bed) if sysname(p) == i["id"]]
        if not path:
            continue
        state = bed.authorized(path[0])
        if i["action"] == "blocked":
            assert state == "0", i
        elif i["action"] in ("authorized", "allowed"):
            assert state == "1", i
        else:
            assert i["action"] == "untouched", i
            assert bed.never_written(path[0]), f"{i['id']} is said untouched but mamorid wrote it"


def truthful_paths(bed):
    out = []
    for dirpath, dirnames, _ in os.walk(os.path.join(bed.root, "sys/devices")):
        for d in dirnames:
            if ":" in d:
                out.append(os.path.join(dirpath, d)[len(bed.root):])
    return out


# ---- before any driver binds: the module aliases ----

def test_interface_seen_before_its_modalias_is_not_authorized(bed, agent_with_aliases):
    """mamorid reads every interface directory of a device whatever uevent it
    handles, and may find one half made by the kernel: its class is there, its
    modalias not yet. Such an interface is not let in by its class before the
    device's bind (the Epson on usb-storage's list would have been)."""
    a = agent_with_aliases().start()
    dev, (prn,) = bed.add_usb("04b8", "0602", serial="EPXHALF1", interfaces=(PRINTER,), iface_authorized="0",
                              bcd_device="0110", uevent=False)
    modalias = bed.attr(prn, "modalias")
    os.unlink(bed.sys(prn, "modalias"))
    bed.tb.uevent(dev, "change")
    barrier(bed, a)
    assert bed.authorized(prn) == "0"
    assert sysname(prn) not in bed.drivers_probe(), "authorized before its modalias could be read"
    bed.write_raw(prn, "modalias", modalias)
    bed.tb.uevent(dev, "bind")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "EPXHALF1")[0]
    assert iface(ev, prn)["category"] == "storage"
    assert bed.authorized(prn) == "0" and sysname(prn) not in bed.drivers_probe()


def test_printer_interface_on_a_usb_storage_id_is_not_authorized(bed, agent_with_aliases):
    """Epson 785EPX (04b8:0602 rev 1.10) is in usb-storage's unusual_devs: the
    driver takes it whatever the interface says. Announced as a printer (07), it
    must not be authorized (and probed) as a printer."""
    a = agent_with_aliases().start()
    dev, (prn,) = bed.add_usb("04b8", "0602", serial="EPX0001", interfaces=(PRINTER,), iface_authorized=None,
                              bcd_device="0110")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "EPX0001")[0]
    assert bed.authorized(prn) == "0"
    assert sysname(prn) not in bed.drivers_probe(), "probed: usb-storage would have bound"
    check_usb_event(ev, "usb.blocked", "unknown", "04b8", "0602", category="storage")
    i = iface(ev, prn)
    assert (i["class"], i["category"], i["action"]) == ("07", "storage", "blocked")
    assert (i["category_from"], i["category_by"]) == ("modalias", "usb_storage")
    assert "usb_storage" in ev["message"]
    assert_truthful(bed, ev)


def test_printer_of_another_revision_is_a_printer(bed, agent_with_aliases):
    """The same id outside the unusual_devs revision range is just a printer:
    authorized and probed, no event (the lookup is the kernel's, not a guess)."""
    a = agent_with_aliases().start()
    dev, (prn,) = bed.add_usb("04b8", "0602", serial="EPX0002", interfaces=(PRINTER,), iface_authorized=None,
                              bcd_device="0200")
    wait_authorized(bed, prn, "1")
    assert sysname(prn) in bed.drivers_probe()
    barrier(bed, a)
    assert usb_events(a) == []


def test_vendor_class_card_reader_is_blocked(bed, agent_with_aliases):
    """A Realtek RTS5129 card reader: one vendor-specific interface (ff/06/50)
    that rtsx_usb takes by id and that gives an SD card a block device."""
    a = agent_with_aliases().start()
    dev, (rdr,) = bed.add_usb("0bda", "0129", serial="20100201396000000", interfaces=(REALTEK_READER,),
                              iface_authorized=None, product_name="USB2.0-CRW")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"]["product_id"] == "0129")[0]
    assert bed.authorized(rdr) == "0"
    assert sysname(rdr) not in bed.drivers_probe()
    check_usb_event(ev, "usb.blocked", "unknown", "0bda", "0129", category="storage")
    i = iface(ev, rdr)
    assert (i["category"], i["category_from"], i["category_by"]) == ("storage", "modalias", "rtsx_usb")
    barrier(bed, a)
    assert bed.authorized(rdr) == "0"


def test_storage_driver_built_into_the_kernel(bed, make_agent, tmp_path):
    """CONFIG_USB_STORAGE=y: no module, its aliases are in
    modules.builtin.modinfo. The id is storage all the same."""
    mods = dict(KERNEL_ALIASES)
    storage = mods.pop("usb_storage")
    d = make_modules_dir(str(tmp_path), mods, builtin={"usb_storage": storage})
    a = make_agent(extra_env={"MAMORI_MODULES_DIR": d}).start()
    dev, (prn,) = bed.add_usb("04b8", "0602", serial="EPX0003", interfaces=(PRINTER,), iface_authorized=None,
                              bcd_device="0110")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "EPX0003")[0]
    assert bed.authorized(prn) == "0"
    assert iface(ev, prn)["category_by"] == "usb_storage"
    assert "Cannot map every module index" not in a.log()


def test_keyboard_on_a_plain_id_still_comes_up(bed, agent_with_aliases):
    """The aliases say usbhid for a keyboard: not a category, nothing changes."""
    a = agent_with_aliases().start()
    kd, (kbd,) = bed.add_usb("046d", "c31c", interfaces=(("03", "01", "01", None),), iface_authorized=None)
    wait_authorized(bed, kbd, "1")
    barrier(bed, a)
    assert usb_events(a) == []


def test_admin_adds_a_driver_in_mamori_conf(bed, agent_with_aliases, tmp_path):
    """usb.drivers: a driver the built-in table does not know (here a vendor's
    out-of-tree card reader module) counts as storage."""
    mods = make_modules_dir(str(tmp_path), dict(KERNEL_ALIASES, acme_sd=["usb:v1234pABCDd*dc*dsc*dp*ic*isc*ip*in*"]))
    conf = ('usb = { block = [ "storage", "mtp", "ptp", "tethering" ];\n'
            '        drivers = { storage = [ "acme-sd" ]; }; };\n')
    a = agent_with_aliases(main_conf=conf, extra_env={"MAMORI_MODULES_DIR": mods}).start()
    dev, (rdr,) = bed.add_usb("1234", "abcd", serial="ACME1", interfaces=(("ff", "00", "00", None),),
                              iface_authorized=None)
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "ACME1")[0]
    assert bed.authorized(rdr) == "0"
    i = iface(ev, rdr)
    assert (i["category"], i["category_from"], i["category_by"]) == ("storage", "modalias", "acme_sd")



def test_a_new_depmod_is_read_without_a_restart(bed, make_agent, tmp_path):
    """DKMS installs a vendor's driver and runs depmod: mamorid reads the new
    modules.alias at its next lookup, without a restart or a reload."""
    base = str(tmp_path)
    d = make_modules_dir(base)
    conf = ('usb = { block = [ "storage", "mtp", "ptp", "tethering" ];\n'
            '        drivers = { storage = [ "acme-sd" ]; }; };\n')
    a = make_agent(main_conf=conf, extra_env={"MAMORI_MODULES_DIR": d}).start()
    dev, (prn,) = bed.add_usb("1234", "abcd", serial="DKMS0", interfaces=(PRINTER,), iface_authorized=None)
    wait_authorized(bed, prn, "1")
    barrier(bed, a)
    assert usb_events(a) == []

    assert make_modules_dir(base, dict(KERNEL_ALIASES, acme_sd=["usb:v1234pABCDd*dc*dsc*dp*ic*isc*ip*in*"])) == d
    dev, (prn,) = bed.add_usb("1234", "abcd", serial="DKMS1", interfaces=(PRINTER,), iface_authorized=None)
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "DKMS1")[0]
    assert bed.authorized(prn) == "0"
    assert iface(ev, prn)["category_by"] == "acme_sd"

def test_an_allowed_reader_comes_up(bed, agent_with_aliases):
    """An allow entry for the reader lets it in, as for any stick."""
    allow = ('allow = ( { vendor = "0bda"; product = "0129"; serial = "READER1"; label = "reader";'
             ' approved_by = "x"; approved_on = "2026-01-01"; } );\n')
    a = agent_with_aliases(allow={"10-r.conf": allow}).start()
    dev, (rdr,) = bed.add_usb("0bda", "0129", serial="READER1", interfaces=(REALTEK_READER,), iface_authorized=None)
    ev = a.wait_events("usb.allowed")[0]
    assert bed.authorized(rdr) == "1" and sysname(rdr) in bed.drivers_probe()
    assert iface(ev, rdr)["action"] == "allowed"


# ---- when a driver binds anyway ----

@pytest.mark.parametrize("aliases", [False, True], ids=["class-only", "aliases-without-this-id"])
def test_storage_driver_bound_to_a_harmless_interface_is_blocked(bed, make_agent, tmp_path, aliases):
    """No module alias says so (no modules dir; or an id added to usb-storage
    later through new_id), so mamorid takes the printer for a printer and lets
    it in. Then usb-storage binds: mamorid de-authorizes it at once, keeps it
    so after the unbind, and records the driver's name."""
    env = {"MAMORI_MODULES_DIR": make_modules_dir(str(tmp_path))} if aliases else {}
    a = make_agent(extra_env=env).start()
    dev, (prn,) = bed.add_usb("1a2b", "3c4d", serial="SNEAKY1", interfaces=(PRINTER,), iface_authorized=None)
    wait_authorized(bed, prn, "1")
    # mamorid writes authorized, then drivers_probe: wait for the second too
    # (read at once after the first, CI 2026-12-05 saw [] under load)
    barrier(bed, a)
    assert bed.drivers_probe() == [sysname(prn)]
    assert usb_events(a) == []

    bed.bind_driver(prn, "usb-storage")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "SNEAKY1")[0]
    assert bed.authorized(prn) == "0"
    check_usb_event(ev, "usb.blocked", "unknown", "1a2b", "3c4d", category="storage")
    i = iface(ev, prn)
    assert (i["category"], i["category_from"], i["category_by"], i["action"]) == \
        ("storage", "driver", "usb-storage", "blocked")
    assert "usb-storage" in ev["message"]
    assert "driver usb-storage" in a.log()

    # authorized=0 unbinds the driver; the interface must stay blocked.
    bed.unbind_driver(prn)
    barrier(bed, a)
    assert bed.authorized(prn) == "0"
    assert bed.drivers_probe().count(sysname(prn)) == 1, "authorized and probed again after the unbind"
    assert len([e for e in usb_events(a) if e["device"].get("serial") == "SNEAKY1"]) == 1


def test_tethering_driver_bound_to_a_vendor_interface_is_blocked(bed, make_agent):
    a = make_agent().start()
    dev, (ifc,) = bed.add_usb("2c7c", "0125", serial="MODEM1", interfaces=(("ff", "ff", "ff", None),),
                              iface_authorized=None)
    wait_authorized(bed, ifc, "1")
    bed.bind_driver(ifc, "qmi_wwan")
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "MODEM1")[0]
    assert bed.authorized(ifc) == "0"
    assert iface(ev, ifc)["category"] == "tethering" and iface(ev, ifc)["category_by"] == "qmi_wwan"


def test_a_harmless_driver_binding_changes_nothing(bed, make_agent):
    a = make_agent().start()
    kd, (kbd,) = bed.add_usb("046d", "c31c", interfaces=(("03", "01", "01", None),), iface_authorized=None)
    wait_authorized(bed, kbd, "1")
    bed.bind_driver(kbd, "usbhid")
    barrier(bed, a)
    assert bed.authorized(kbd) == "1"
    assert usb_events(a) == []


def test_storage_driver_on_an_allowed_stick_is_fine(bed, make_agent):
    allow = ('allow = ( { vendor = "0781"; product = "5567"; serial = "OK1"; label = "ok";'
             ' approved_by = "x"; approved_on = "2026-01-01"; } );\n')
    a = make_agent(allow={"10-ok.conf": allow}).start()
    dev, (st,) = bed.add_usb("0781", "5567", serial="OK1", iface_authorized=None)
    a.wait_events("usb.allowed")
    bed.bind_driver(st, "usb-storage")
    barrier(bed, a)
    assert bed.authorized(st) == "1"
    assert usb_events(a, "usb.blocked") == []


# ---- the iPhone ----

def test_iphone_usbmux_is_blocked_and_reported_truthfully(bed, make_agent):
    """usbmux (ff/fe/02) gives the desktop the phone's files (usbmuxd, gvfs
    AFC): it is phone file transfer, blocked like MTP, and the event says so."""
    a = make_agent().start()
    dev, (ptp, mux) = bed.add_usb("05ac", "12a8", serial="00008030001A2B3C4D5E6F70", manufacturer="Apple Inc.",
                                  product_name="iPhone", interfaces=(IPHONE_PTP, USBMUX), iface_authorized=None)
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"]["vendor_id"] == "05ac")[0]
    barrier(bed, a)
    assert bed.authorized(mux) == "0" and bed.authorized(ptp) == "0"
    assert sysname(mux) not in bed.drivers_probe()
    assert iface_actions(ev) == {sysname(ptp): "blocked", sysname(mux): "blocked"}
    assert iface(ev, mux)["category"] == "mtp"
    assert sorted(ev["decision"]["blocked_categories"]) == ["mtp", "ptp"]
    assert_truthful(bed, ev)


def test_usbmux_not_blocked_when_mtp_is_not(bed, make_agent):
    a = make_agent(main_conf='usb = { block = [ "storage" ]; };\n').start()
    dev, (mux,) = bed.add_usb("05ac", "12a8", serial="IPHONE2", interfaces=(USBMUX,), iface_authorized=None)
    wait_authorized(bed, mux, "1")


def test_event_says_authorized_for_what_mamorid_authorized(bed, make_agent):
    """The ADB interface beside MTP is not blocked: mamorid writes
    authorized=1, and the event must say so (not "untouched")."""
    a = make_agent().start()
    dev, (mtp, adb) = bed.add_usb("18d1", "4ee2", serial="TRUTH1", interfaces=(MTP, ADB), iface_authorized=None)
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "TRUTH1")[0]
    barrier(bed, a)
    assert bed.authorized(adb) == "1"
    assert iface_actions(ev) == {sysname(mtp): "blocked", sysname(adb): "authorized"}
    assert_truthful(bed, ev)


def test_keyboard_already_authorized_is_untouched(bed, make_agent):
    a = make_agent().start()
    dev, (kbd, st) = bed.add_usb("04d9", "1603", serial="KS1", interfaces=(("03", "01", "01", None),
                                                                          ("08", "06", "50", None)))
    ev = a.wait_events("usb.blocked", pred=lambda e: e["device"].get("serial") == "KS1")[0]
    assert iface_actions(ev) == {sysname(kbd): "untouched", sysname(st): "blocked"}
    assert_truthful(bed, ev)


# ---- status ----

def status(agent):
    import json
    r = subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), "--json", "status"],
                       capture_output=True, text=True, timeout=20)
    st = json.loads(r.stdout)
    (usb,) = [c for c in st["checks"] if c["name"] == "usb"]
    text = subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), "status"],
                          capture_output=True, text=True, timeout=20).stdout
    return usb, text


def test_status_says_whether_module_aliases_are_used(bed, make_agent, modules_dir):
    a = make_agent(extra_env={"MAMORI_MODULES_DIR": modules_dir}).start()
    usb, text = status(a)
    assert usb["module_aliases"] is True and usb["modules_dir"] == modules_dir
    assert f"by the module aliases of {modules_dir}" in text
    a.stop()

    missing = os.path.join(os.path.dirname(modules_dir), "no-such-kernel")
    b = make_agent(extra_env={"MAMORI_MODULES_DIR": missing}).start()
    usb, text = status(b)
    assert usb["module_aliases"] is False
    assert "by class only: no module aliases at " + missing in text
    assert "No module aliases at " + missing in b.log()
