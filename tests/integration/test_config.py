# SPDX-License-Identifier: MIT
import os
import subprocess

from mamori_testlib import MAMORID


def check(conf):
    return subprocess.run([MAMORID, "--config", conf, "--check-config"], capture_output=True, text=True)


def test_check_config_good_and_bad(tmp_path):
    conf = tmp_path / "mamori.conf"
    conf.write_text('usb = { block = [ "storage" ]; };\n')
    r = check(str(conf))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout

    (tmp_path / "allow.d").mkdir()
    (tmp_path / "allow.d" / "10-x.conf").write_text('allow = (\n  { vendor = "zz"; product = "5567"; serial = "S"; approved_by = "Y"; }\n);\n')
    r = check(str(conf))
    assert r.returncode == 1
    assert f"{tmp_path}/allow.d/10-x.conf:2: 'vendor' must be 4 hex digits" in r.stdout


def test_check_config_missing_file(tmp_path):
    r = check(str(tmp_path / "nope.conf"))
    assert r.returncode == 1
    assert "cannot open" in r.stdout
