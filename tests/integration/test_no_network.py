# SPDX-License-Identifier: MIT
"""Issue 11: the root daemon never touches the network. mamorid, with a
collector configured, runs through a plug, a flush, a reload and a heartbeat;
at each point every socket it holds is AF_UNIX or AF_NETLINK (none of its
inodes is in /proc/PID/net/{tcp,tcp6,udp,udp6,raw,raw6,...}) and no TLS,
HTTP, libnl or OpenSSL library is mapped into it (/proc/PID/maps), libcrypto
included: that is why the modalias lookup no longer uses libkmod, which links
it on Debian 12 and RHEL 9."""

import json
import os
import socket
import subprocess

from reporting_lib import collector_conf
from usb_support import STORAGE, barrier

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))

# Where a socket of each family shows (in the process's network namespace).
LOCAL_TABLES = ["unix", "netlink"]
IP_TABLES = ["tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6", "packet"]
# Libraries the root daemon must never have mapped.
FORBIDDEN_MAPS = ["libssl", "libcrypto", "libcurl", "libnl-", "libgnutls", "libnss3", "libkmod"]


def table_inodes(pid, name):
    """The socket inodes of /proc/PID/net/<name>."""
    try:
        with open(f"/proc/{pid}/net/{name}") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return set()
    if not lines:
        return set()
    if name in IP_TABLES and name != "packet":
        # "sl local rem st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode":
        # the header splits words the rows do not; a row's inode is its 10th field
        col = 9
    else:
        head = lines[0].split()
        col = head.index("Inode")
    out = set()
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit():
            out.add(int(fields[col]))
    return out


def socket_inodes(pid):
    """The inodes of every socket fd of the process."""
    out = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            out.add(int(target[len("socket:["):-1]))
    return out


def network_problems(pid):
    """What is wrong with the process's sockets and maps: [] when it has only
    AF_UNIX and AF_NETLINK sockets and no TLS/HTTP/libnl library mapped."""
    problems = []
    socks = socket_inodes(pid)
    local = set().union(*(table_inodes(pid, t) for t in LOCAL_TABLES))
    seen = set()
    for t in IP_TABLES:
        for ino in socks & table_inodes(pid, t):
            problems.append(f"a {t} socket (inode {ino})")
            seen.add(ino)
    for ino in socks - local - seen:
        problems.append(f"a socket neither AF_UNIX nor AF_NETLINK (inode {ino})")
    mapped = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[5].startswith("/"):
                mapped.add(fields[5])
    for path in sorted(mapped):
        base = os.path.basename(path)
        if any(base.startswith(lib) for lib in FORBIDDEN_MAPS):
            problems.append(f"maps {path}")
    return sorted(set(problems))


def needed(path):
    p = subprocess.run(["readelf", "-d", "-W", path], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, LC_ALL="C"))
    return [line[line.index("[") + 1:line.rindex("]")] for line in p.stdout.splitlines()
            if "(NEEDED)" in line and "[" in line]


def ctl(agent, *args, timeout=20):
    e = dict(os.environ, UMOCKDEV_DIR=agent.bed.root)
    p = subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), *args],
                       capture_output=True, text=True, env=e, timeout=timeout)
    assert p.returncode in (0, 3), p.stderr  # 3: "not working as configured" (no uplink runs)
    return p.stdout


def test_checker_sees_an_ip_socket_and_a_tls_library():
    """The check can fail: this test's own process, with a TCP and a UDP
    socket open and python's ssl module loaded, is caught."""
    import ssl  # noqa: F401  (maps libssl and libcrypto)

    me = os.getpid()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
        t.bind(("127.0.0.1", 0))
        t.listen()
        u.bind(("::1", 0))
        got = network_problems(me)
        assert any("a tcp socket" in p for p in got), got
        assert any("a udp6 socket" in p for p in got), got
        assert any("libssl" in p for p in got), got
    # and an AF_UNIX one alone is fine
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM):
        assert not [p for p in network_problems(me) if "socket" in p]


def test_mamorid_has_no_ip_socket(bed, make_agent, tmp_path):
    up_state, up_run = tmp_path / "uplink-state", tmp_path / "uplink-run"
    up_state.mkdir()
    up_run.mkdir()
    conf = collector_conf("https://127.0.0.1:9/v1/events", heartbeat_interval=1)
    a = make_agent(main_conf=conf, extra_env={"MAMORI_UPLINK_STATE_DIR": str(up_state),
                                              "MAMORI_UPLINK_RUNTIME_DIR": str(up_run)}).start()
    pid = a.proc.pid
    # setpriv --pdeathsig execs mamorid: the same PID
    assert os.readlink(f"/proc/{pid}/exe").endswith("mamorid")
    checked = []

    def check(when):
        got = network_problems(pid)
        assert got == [], f"after {when}: {got}"
        checked.append(when)

    check("the start")
    # the control socket is there: the check sees mamorid's sockets at all
    assert socket_inodes(pid) & table_inodes(pid, "unix")

    # a stick, blocked
    dev, ifs = bed.add_usb("0930", "6545", serial="NONET0001", interfaces=(STORAGE,))
    a.wait_events("usb.blocked")
    assert bed.authorized(ifs[0]) == "0"
    check("a plug")

    # a flush with no uplink: mamorid says so, and opens nothing but AF_UNIX
    rep = json.loads(ctl(a, "--json", "flush"))
    assert rep["uplink"] is False and "not running" in rep["detail"], rep
    check("a flush without mamori-uplink")

    # a flush with one listening: the datagram reaches it
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(up_run / "control"))
        s.settimeout(10)
        rep = json.loads(ctl(a, "--json", "flush"))
        assert rep["uplink"] is True and rep["detail"].startswith("asked mamori-uplink to send to https://") and rep["detail"].endswith(" now"), rep
        assert s.recv(64) == b"flush\n"
        check("a flush")

    # a reload (the unit's ExecReload=)
    out = ctl(a, "reload")
    assert "refused" not in out.lower(), out
    check("a reload")
    a.reload()  # SIGHUP
    check("a SIGHUP")

    # a heartbeat: its uplink object says the uplink does not run
    hb = a.wait_events("agent.heartbeat", timeout=10)[-1]["heartbeat"]
    assert hb["uplink"]["state"] == "not-running" and hb["uplink"]["running"] is False, hb
    check("a heartbeat")

    # the stick goes; another one proves the unplug was handled
    bed.remove(dev, ifs)
    barrier(bed, a)
    check("an unplug")
    assert len(checked) == 8
