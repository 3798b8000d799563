# SPDX-License-Identifier: MIT
"""Configuration files no editor should produce, under the real mamorid: a
NUL byte (libconfig would stop reading there and take the text before it), an
allow.d file past 4 MiB, a list over its cap, and an allow.d that is a file. A reload
keeps the running policy; --check-config names file:line."""

import os
import re

from usb_support import A, B, allow_file, barrier, plug_a, plug_b


def refused_reload(a):
    a.reload()
    err = a.wait_events("agent.config_error")[-1]["config"]
    assert (err["phase"], err["outcome"]) == ("reload", "kept_running_policy")
    return err["errors"]


def test_reload_refuses_a_nul_byte(bed, make_agent):
    """The text before the NUL approves stick B: read as far as libconfig
    reads, the file would weaken the policy."""
    a = make_agent(allow={"10-soumu.conf": allow_file(A)}).start()
    old_hash = a.events("agent.started")[0]["agent"]["policy_hash"]
    a.write_allow("20-nul.conf", allow_file(B) + "\0 the rest of a file the editor broke\n")
    nul_line = allow_file(B).count("\n") + 1
    errors = refused_reload(a)
    assert [(os.path.basename(e["file"]), e["line"]) for e in errors] == [("20-nul.conf", nul_line)], errors
    assert errors[0]["message"].startswith("contains a NUL byte (column 1)")
    assert re.search(rf"20-nul\.conf:{nul_line}: contains a NUL byte", a.log()), "the log names file:line"

    # B stays blocked, A allowed: the running policy is in force.
    _, (ib,) = plug_b(bed)
    _, (ia,) = plug_a(bed)
    a.wait_events("usb.blocked")
    a.wait_events("usb.allowed")
    barrier(bed, a)
    assert bed.authorized(ib) == "0" and bed.authorized(ia) == "1"
    assert a.events("agent.config_changed") == []
    assert all(e["agent"]["policy_hash"] == old_hash for e in a.events("usb.blocked"))


def test_check_config_file_too_large(bed, make_agent):
    a = make_agent(allow={"10-soumu.conf": allow_file(A)})
    big = os.path.join(a.allow_dir, "30-big.conf")
    with open(big, "w") as f:
        f.write("# " + "x" * (4 * 1024 * 1024 - 2) + "\n")  # 4 MiB + 1
    os.chmod(big, 0o644)
    rc, out, err = a.check_config()
    assert rc == 1, out + err
    assert f"{big}: larger than 4194304 bytes" in out.splitlines(), out


def test_check_config_list_over_cap(bed, make_agent):
    units = ", ".join(f'"edr-{i}"' for i in range(33))
    a = make_agent(main_conf=f'usb = {{ block = [ "storage" ]; }};\nantivirus = {{\n  engine = "none";\n  units = [ {units} ];\n}};\n')
    rc, out, err = a.check_config()
    assert rc == 1, out + err
    assert f"{a.conf}:4: 'units' has 33 items, at most 32 are allowed" in out.splitlines(), out


def test_check_config_allow_d_is_a_file(bed, make_agent):
    a = make_agent()
    os.rmdir(a.allow_dir)
    with open(a.allow_dir, "w") as f:
        f.write(allow_file(A))
    os.chmod(a.allow_dir, 0o644)
    rc, out, err = a.check_config()
    assert rc == 1, out + err
    assert f"{a.allow_dir}: not a directory but a regular file" in out.splitlines(), out
