# SPDX-License-Identifier: MIT
"""mamori-netguard (issue 15 item 2) in network namespaces of our own: a
"PC" namespace where netguard runs, joined by a veth pair to an "outside"
namespace holding a host outside and a collector (IPv4 and IPv6). Real kernel
routing, only the addresses made here. A connection to the host outside is
open before; after the state file turns active, it is cut and new ones fail
at once; the collector, on the allow list, keeps working."""
import os
import subprocess
import sys
import time

import pytest

from mamori_testlib import wait_for

BUILD = os.environ.get("MAMORI_BUILD_DIR", "build")
NETGUARD = os.path.join(BUILD, "agent", "netguard", "mamori-netguard")
PORT = 17001
PROTO = "212"

ADDR = {
    4: {"pc": "10.199.0.1", "outside": "10.199.0.2", "collector": "10.199.0.3", "plen": 24},
    6: {"pc": "fd99::1", "outside": "fd99::2", "collector": "fd99::3", "plen": 64},
}

# An echo server on every address of the outside namespace.
SERVER = r"""
import socket, sys, threading
def serve(conn):
    try:
        while True:
            d = conn.recv(4096)
            if not d:
                break
            conn.sendall(d)
    except OSError:
        pass
    conn.close()
def listen(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(sys.argv[1])))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
def udp(family, addr):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((addr, int(sys.argv[1])))
    while True:
        d, peer = s.recvfrom(4096)
        s.sendto(d, peer)
for a in sys.argv[2:]:
    fam = socket.AF_INET6 if ":" in a else socket.AF_INET
    threading.Thread(target=listen, args=(fam, a), daemon=True).start()
    threading.Thread(target=udp, args=(fam, a), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""

# In the PC namespace: commands on stdin, one answer line each.
#   connect NAME ADDR  -> "ok" | "err ERRNO SECONDS"
#   echo NAME          -> "ok" | "err ERRNO"
#   uconnect NAME ADDR -> a connected UDP socket: "ok" | "err ERRNO"
CLIENT = r"""
import errno, socket, sys, time
conns = {}
for line in sys.stdin:
    cmd = line.split()
    try:
        if cmd[0] == "connect":
            t = time.monotonic()
            s = socket.socket(socket.AF_INET6 if ":" in cmd[2] else socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect((cmd[2], int(cmd[3])))
            except OSError as e:
                print("err", e.errno or 0, round(time.monotonic() - t, 3), flush=True)
                s.close()
                continue
            conns[cmd[1]] = s
            print("ok", flush=True)
        elif cmd[0] == "uconnect":
            s = socket.socket(socket.AF_INET6 if ":" in cmd[2] else socket.AF_INET, socket.SOCK_DGRAM)
            s.connect((cmd[2], int(cmd[3])))
            conns[cmd[1]] = s
            print("ok", flush=True)
        elif cmd[0] == "echo":
            s = conns[cmd[1]]
            s.settimeout(2)
            try:
                s.sendall(b"ping")
                d = s.recv(16)
                print("ok" if d == b"ping" else "err 0 closed", flush=True)
            except socket.timeout:
                print("err", errno.ETIMEDOUT, flush=True)
            except OSError as e:
                print("err", e.errno or 0, flush=True)
    except Exception as e:
        print("err -1", repr(e), flush=True)
"""


class Ns:
    def __init__(self):
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", "3600"])
        wait_for(lambda: os.readlink(f"/proc/{self.holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"), 5,
                 what="the namespace")
        self.pid = self.holder.pid
        self.enter = ["nsenter", "-t", str(self.pid), "-n"]
        self.ip("link", "set", "lo", "up")

    def ip(self, *args, check=True):
        return subprocess.run([*self.enter, "ip", *args], check=check, timeout=60, capture_output=True, text=True)

    def close(self):
        self.holder.kill()
        self.holder.wait(10)


class Client:
    def __init__(self, ns):
        self.p = subprocess.Popen([*ns.enter, sys.executable, "-u", "-c", CLIENT], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().split()

    def connect(self, name, addr):
        return self.ask(f"connect {name} {addr} {PORT}")

    def uconnect(self, name, addr):
        return self.ask(f"uconnect {name} {addr} {PORT}")

    def echo(self, name):
        return self.ask(f"echo {name}")

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


class World:
    def __init__(self, tmp):
        self.tmp = tmp
        self.pc, self.out = Ns(), Ns()
        subprocess.run([*self.pc.enter, "ip", "link", "add", "pc0", "type", "veth", "peer", "name", "out0", "netns",
                        str(self.out.pid)], check=True, timeout=60)
        for fam, a in ADDR.items():
            extra = ["nodad"] if fam == 6 else []
            self.pc.ip("addr", "add", f"{a['pc']}/{a['plen']}", "dev", "pc0", *extra)
            self.out.ip("addr", "add", f"{a['outside']}/{a['plen']}", "dev", "out0", *extra)
            self.out.ip("addr", "add", f"{a['collector']}/{a['plen']}", "dev", "out0", *extra)
        self.pc.ip("link", "set", "pc0", "up")
        self.out.ip("link", "set", "out0", "up")
        addrs = [a[k] for a in ADDR.values() for k in ("outside", "collector")]
        self.server = subprocess.Popen([*self.out.enter, sys.executable, "-u", "-c", SERVER, str(PORT), *addrs],
                                       stdout=subprocess.PIPE, text=True)
        assert self.server.stdout.readline().strip() == "ready"
        self.client = Client(self.pc)
        self.state_dir = os.path.join(tmp, "state")
        os.mkdir(self.state_dir, 0o700)
        self.state = os.path.join(self.state_dir, "quarantine")
        self.status = os.path.join(tmp, "status")
        self.log = open(os.path.join(tmp, "netguard.log"), "w")
        self.netguard = None

    def start(self):
        if os.path.exists(self.status):
            os.unlink(self.status)
        self.netguard = subprocess.Popen([*self.pc.enter, NETGUARD, "--state-file", self.state, "--status-file",
                                          self.status, "--log-level", "debug"], stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.status), 5, what="netguard's first status")

    def stop(self):
        if self.netguard:
            self.netguard.terminate()
            assert self.netguard.wait(10) == 0
            self.netguard = None

    def write_state(self, active, allow=(), mode=0o600, text=None):
        if text is None:
            lines = ["mamori-quarantine 1", f"active {'yes' if active else 'no'}", "since 1796000000",
                     "reason av.detection"]
            lines += [f"allow {c}" for c in allow]
            text = "\n".join(lines) + "\n"
        tmp = self.state + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        os.fchmod(fd, mode)
        os.write(fd, text.encode())
        os.close(fd)
        os.rename(tmp, self.state)

    def quarantine(self):
        self.write_state(True, [f"{ADDR[4]['collector']}/32", f"{ADDR[6]['collector']}/128"])

    def status_dict(self):
        out = {}
        with open(self.status) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition(" ")
                out[k] = v
        return out

    def our_rules(self):
        rules = []
        for fam in ("-4", "-6"):
            for line in self.pc.ip(fam, "rule", "show").stdout.splitlines():
                if f"proto {PROTO}" in line:
                    rules.append(f"{fam} {line.strip()}")
        return sorted(rules)

    def close(self):
        try:
            self.stop()
        finally:
            self.client.close()
            self.server.kill()
            self.server.wait(10)
            self.log.close()
            self.pc.close()
            self.out.close()


@pytest.fixture
def world(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    os.chmod(tmp_path, 0o700)
    w = World(str(tmp_path))
    yield w
    w.close()
    with open(os.path.join(str(tmp_path), "netguard.log")) as f:
        print(f.read())


def wait_rules(w, n, timeout=5):
    wait_for(lambda: len(w.our_rules()) == n, timeout, what=f"{n} rules of ours ({w.our_rules()})")


# the holes for both collectors (one a family) and a prohibit for each family
ACTIVE_RULES = 4


def assert_isolated(w, fam, name):
    a = ADDR[fam]
    t = time.monotonic()
    r = w.client.connect(name, a["outside"])
    took = time.monotonic() - t
    # prohibit: EACCES at once, not a timeout
    assert r[0] == "err" and int(r[1]) in (13, 101, 113), r
    assert took < 1.0, f"connect failed only after {took:.3f} s"
    assert w.client.connect(name + "-c", a["collector"]) == ["ok"]
    assert w.client.echo(name + "-c") == ["ok"]


@pytest.mark.parametrize("fam", [4, 6])
def test_quarantine_cuts_outside_keeps_collector(world, fam):
    w = world
    a = ADDR[fam]
    w.start()
    assert w.our_rules() == []
    assert w.client.connect("out", a["outside"]) == ["ok"]
    assert w.client.connect("col", a["collector"]) == ["ok"]
    assert w.client.echo("out") == ["ok"] and w.client.echo("col") == ["ok"]
    assert w.client.uconnect("uout", a["outside"]) == ["ok"] and w.client.echo("uout") == ["ok"]
    assert w.client.uconnect("ucol", a["collector"]) == ["ok"] and w.client.echo("ucol") == ["ok"]

    t0 = time.monotonic()
    w.quarantine()
    wait_for(lambda: w.status_dict().get("active") == "yes", 1.0, what="the quarantine within a second")
    took = time.monotonic() - t0
    st = w.status_dict()
    assert st["rules"] == str(ACTIVE_RULES) and len(w.our_rules()) == ACTIVE_RULES, (st, w.our_rules())
    print(f"state written -> rules in place and connections cut: {took * 1000:.1f} ms")

    # The open connection is cut (SOCK_DESTROY), the collector's is not.
    assert st["kill"] == "ok", st
    assert int(st["killed"]) == 2, st  # the TCP connection and the connected UDP socket
    r = w.client.echo("out")
    assert r[0] == "err" and int(r[1]) in (103, 104), r  # ECONNABORTED (or a reset)
    r = w.client.echo("uout")
    # udp_abort(): ECONNABORTED once, then the socket is disconnected (EDESTADDRREQ)
    assert r[0] == "err" and int(r[1]) in (103, 89), r
    assert w.client.echo("col") == ["ok"]
    assert w.client.echo("ucol") == ["ok"]
    assert_isolated(w, fam, "new")


def test_foreign_rules_untouched_and_release(world):
    w = world
    w.pc.ip("rule", "add", "prio", "1000", "to", "10.250.0.0/16", "lookup", "main")
    w.pc.ip("-6", "rule", "add", "prio", "1000", "to", "fd98::/64", "lookup", "main")
    w.start()
    w.quarantine()
    wait_rules(w, ACTIVE_RULES)
    for fam in (4, 6):
        assert_isolated(w, fam, f"q{fam}")
    w.write_state(False)
    wait_rules(w, 0)
    assert w.status_dict()["active"] == "no"
    for fam in (4, 6):
        assert w.client.connect(f"rel{fam}", ADDR[fam]["outside"]) == ["ok"]
        assert w.client.echo(f"rel{fam}") == ["ok"]
    assert "10.250.0.0/16" in w.pc.ip("-4", "rule", "show").stdout
    assert "fd98::/64" in w.pc.ip("-6", "rule", "show").stdout
    # Released by removing the file as well: nothing of ours comes back.
    w.quarantine()
    wait_rules(w, ACTIVE_RULES)
    os.unlink(w.state)
    wait_rules(w, 0)


def test_rules_deleted_by_hand_are_put_back(world):
    w = world
    w.start()
    w.quarantine()
    wait_rules(w, ACTIVE_RULES)
    before = w.our_rules()
    w.pc.ip("-4", "rule", "del", "prio", "6")
    w.pc.ip("-6", "rule", "del", "prio", "6")
    wait_for(lambda: w.our_rules() == before, 1.0, what="the rules put back within a second")
    wait_for(lambda: int(w.status_dict()["tampered"]) >= 1, 2, what="the tampering counted")
    assert int(w.status_dict()["last_tampered"]) > 0
    for fam in (4, 6):
        assert_isolated(w, fam, f"t{fam}")
    # A flush of everything: the same.
    n = int(w.status_dict()["tampered"])
    w.pc.ip("-4", "rule", "flush")
    wait_for(lambda: w.our_rules() == before, 1.0, what="the rules put back after a flush")
    wait_for(lambda: int(w.status_dict()["tampered"]) > n, 2, what="the flush counted")
    # A rule of ours someone added goes.
    w.pc.ip("-4", "rule", "add", "prio", "5", "to", "10.199.0.2/32", "lookup", "main", "proto", PROTO)
    wait_for(lambda: w.our_rules() == before, 1.0, what="the foreign copy of our rule removed")
    assert_isolated(w, 4, "t4b")


def test_links_down_and_up(world):
    w = world
    w.start()
    w.quarantine()
    wait_rules(w, ACTIVE_RULES)
    before = w.our_rules()
    for _ in range(3):
        w.pc.ip("link", "set", "pc0", "down")
        w.pc.ip("link", "set", "pc0", "up")
    # The kernel drops IPv6 addresses on link down; NetworkManager or
    # systemd-networkd puts them back, as here.
    w.pc.ip("addr", "add", f"{ADDR[6]['pc']}/{ADDR[6]['plen']}", "dev", "pc0", "nodad", check=False)
    wait_for(lambda: "10.199.0.0/24" in w.pc.ip("-4", "route", "show").stdout, 5, what="the link's route")
    wait_for(lambda: "fd99::/64" in w.pc.ip("-6", "route", "show").stdout, 5, what="the link's v6 route")
    assert w.our_rules() == before
    for fam in (4, 6):
        wait_for(lambda: w.client.connect(f"l{fam}-probe-c", ADDR[fam]["collector"]) == ["ok"], 5,
                 what="the collector again")
        assert_isolated(w, fam, f"l{fam}")


def test_restart_keeps_quarantine(world):
    w = world
    w.start()
    w.quarantine()
    wait_rules(w, ACTIVE_RULES)
    before = w.our_rules()
    w.stop()
    assert w.our_rules() == before  # a stop keeps the PC isolated
    assert_isolated(w, 4, "r4")
    w.start()
    assert w.status_dict()["active"] == "yes"
    assert w.our_rules() == before  # no copies
    assert w.status_dict()["tampered"] == "0"
    # Rules removed while netguard was down come back when it starts.
    w.stop()
    w.pc.ip("-4", "rule", "del", "prio", "6")
    w.start()
    assert w.our_rules() == before
    assert_isolated(w, 4, "r4b")
    assert_isolated(w, 6, "r6b")


@pytest.mark.parametrize("text,mode", [
    ("garbage\n", 0o600),
    ("mamori-quarantine 1\nactive no\nallow 10.0.0.1/8\n", 0o600),
    ("mamori-quarantine 1\nactive no\n", 0o644),  # readable by others: not root's file alone
    ("mamori-quarantine 1\nactive no\n" + "#" * 20000 + "\n", 0o600),
], ids=["garbage", "host-bits", "world-readable", "oversized"])
def test_hostile_state_keeps_quarantine(world, text, mode):
    w = world
    w.start()
    w.quarantine()
    wait_rules(w, ACTIVE_RULES)
    before = w.our_rules()
    w.write_state(False, text=text, mode=mode)
    wait_for(lambda: w.status_dict()["state_errors"] == "1", 2, what="the refusal")
    assert w.status_dict()["active"] == "yes"
    assert w.our_rules() == before
    assert_isolated(w, 4, "h4")


def context_switches(pid):
    n = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if "ctxt_switches" in line:
                n += int(line.split(":")[1])
    return n


def test_idle_quarantine_does_not_wake(world):
    # No timer: nothing happening, netguard is not scheduled at all.
    w = world
    w.start()
    w.quarantine()
    wait_rules(w, ACTIVE_RULES)
    time.sleep(0.5)
    before = context_switches(w.netguard.pid)
    time.sleep(3)
    assert context_switches(w.netguard.pid) == before
    # ... and it is the netguard process that is watched: a rule event wakes it.
    w.pc.ip("-4", "rule", "del", "prio", "6")
    wait_for(lambda: len(w.our_rules()) == ACTIVE_RULES, 1.0, what="the rule put back")
    assert context_switches(w.netguard.pid) > before
