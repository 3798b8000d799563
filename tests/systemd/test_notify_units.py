# SPDX-License-Identifier: MIT
"""The files that put mamori-notify into sessions: the XDG autostart entry,
the systemd user unit, the system bus policy and the interface description
(docs/notices.md)."""
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

SOURCE = os.environ["MAMORI_SOURCE_DIR"]
BUILD = os.environ["MAMORI_BUILD_DIR"]
NOTIFY = os.environ["MAMORI_NOTIFY"]
USER_EXPOSURE_MAX = 6.5  # user units cannot use namespaces safely (see the unit)


def test_autostart_entry_validates():
    path = os.path.join(BUILD, "units/mamori-notify.desktop")
    if shutil.which("desktop-file-validate") is None:
        pytest.skip("desktop-file-utils missing")
    p = subprocess.run(["desktop-file-validate", path], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout == "", p.stdout + p.stderr
    text = open(path, encoding="utf-8").read()
    assert re.search(r"^Exec=/\S+/bin/mamori-notify$", text, re.M), text
    assert "NoDisplay=true" in text and "Name[ja]=" in text and "Comment[ja]=" in text


def test_user_unit_verifies(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze missing")
    unit = open(os.path.join(BUILD, "units/mamori-notify.service")).read()
    assert re.search(r"^ExecStart=/\S+/bin/mamori-notify$", unit, re.M)
    path = tmp_path / "mamori-notify.service"
    path.write_text(re.sub(r"^ExecStart=.*$", "ExecStart=" + NOTIFY, unit, flags=re.M))
    rt = tmp_path / "runtime"
    rt.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(rt))
    p = subprocess.run(["systemd-analyze", "verify", "--user", "--man=no", str(path)], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stderr == "" and p.stdout == "", p.stderr
    p = subprocess.run(["systemd-analyze", "security", "--user", "--offline=yes", str(path)], capture_output=True,
                       text=True, env=env, timeout=60)
    m = re.search(r"Overall exposure level for mamori-notify\.service: (\d+(?:\.\d+)?)", p.stdout + p.stderr)
    assert m, p.stdout + p.stderr
    print(f"mamori-notify.service (user) exposure: {m.group(1)}")
    assert float(m.group(1)) <= USER_EXPOSURE_MAX


def test_bus_policy_lets_only_root_own_the_name():
    root = ET.parse(os.path.join(SOURCE, "units/org.mamori.Notice1.conf")).getroot()
    owners = [(p.attrib, a.attrib) for p in root.iter("policy") for a in p if a.attrib.get("own")]
    assert owners == [({"user": "root"}, {"own": "org.mamori.Notice1"})]
    # no holes for method calls into mamorid: data flows one way
    for p in root.iter("policy"):
        for a in p:
            assert "send_destination" not in a.attrib, a.attrib


def test_interface_description_matches_the_code():
    node = ET.parse(os.path.join(SOURCE, "units/org.mamori.Notice1.xml")).getroot()
    iface = node.find("interface[@name='org.mamori.Notice1']")
    sig = iface.find("signal[@name='Notice']")
    signature = "".join(a.attrib["type"] for a in sig.findall("arg"))
    header = open(os.path.join(SOURCE, "common/notice-bus.h")).read()
    assert f'#define NOTICE_BUS_SIGNATURE "{signature}"' in header
    assert iface.find("method") is None
