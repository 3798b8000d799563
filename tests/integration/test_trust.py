# SPDX-License-Identifier: MIT
"""Whom mamorid trusts: the files of its policy (mamori.conf, allow.d and
their directories), the collector's files (ca_file, pin, token_file), the
CAs of the TLS connection and the proxy. The real mamorid under umockdev,
with a real HTTPS collector.

Tests run as root, and root passes every permission check: so "not owned by
root" is tested with files chowned to uid 1000, not by running as a user."""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from mamori_testlib import MAMORID, wait_for
from reporting_lib import collector_conf
from usb_support import A, B, allow_file, barrier, entry, plug_a, plug_b, usb_events, wait_authorized

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))


# ---- allow.d: a defect in a file or the directory refuses the reload ----

def _group_writable(a, name):
    a.write_allow(name, allow_file(B))
    os.chmod(os.path.join(a.allow_dir, name), 0o664)
    return "writable by group"


def _owned_by_a_user(a, name):
    a.write_allow(name, allow_file(B))
    os.chown(os.path.join(a.allow_dir, name), 1000, 1000)
    return "owned by uid 1000"


def _symlink(a, name):
    target = os.path.join(a.dir, "elsewhere.conf")  # root's, 0644: only the link is wrong
    with open(target, "w") as f:
        f.write(allow_file(B))
    os.chmod(target, 0o644)
    os.symlink(target, os.path.join(a.allow_dir, name))
    return "symbolic link"


def _dir_world_writable(a, name):
    a.write_allow(name, allow_file(B))
    os.chmod(a.allow_dir, 0o777)
    return "writable by"


def _dir_group_writable(a, name):
    a.write_allow(name, allow_file(B))
    os.chmod(a.allow_dir, 0o775)
    return "writable by group"


def _dir_owned_by_a_user(a, name):
    a.write_allow(name, allow_file(B))
    os.chown(a.allow_dir, 1000, 1000)
    return "owned by uid 1000"


DEFECTS = {
    "group-writable file": (_group_writable, True),
    "file owned by uid 1000": (_owned_by_a_user, True),
    "symlink": (_symlink, True),
    "allow.d mode 0777": (_dir_world_writable, False),
    "allow.d mode 0775": (_dir_group_writable, False),
    "allow.d owned by uid 1000": (_dir_owned_by_a_user, False),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_untrusted_allow_d_is_refused_at_reload(bed, make_agent, defect):
    make_defect, names_file = DEFECTS[defect]
    a = make_agent(allow={"10-soumu.conf": allow_file(A)}).start()
    da, (ia,) = plug_a(bed)
    a.wait_events("usb.allowed")
    old_hash = a.events("agent.started")[0]["agent"]["policy_hash"]

    # B would be allowed by the new file: it must not be.
    words = make_defect(a, "20-new.conf")
    a.reload()
    err = a.wait_events("agent.config_error")[0]
    c = err["config"]
    assert (c["phase"], c["outcome"]) == ("reload", "kept_running_policy")
    assert c["running_policy_hash"] == old_hash
    hits = [e for e in c["errors"] if words in e["message"]]
    assert hits, c["errors"]
    where = hits[0]["file"]
    if names_file:
        assert where.endswith("allow.d/20-new.conf"), hits
    else:
        assert where.endswith("allow.d"), hits
    assert f"{where}: " in a.log(), "the log names the file"

    # The running policy is unchanged: A stays allowed, B is blocked.
    db, (ib,) = plug_b(bed)
    a.wait_events("usb.blocked", pred=lambda e: e["device"]["vendor_id"] == "0930")
    assert bed.authorized(ia) == "1" and bed.authorized(ib) == "0"
    assert a.events("agent.config_changed") == []
    assert all(e["agent"]["policy_hash"] == old_hash for e in usb_events(a))


def _unblock_fifo(path):
    """Should mamorid hang opening the FIFO, a writer lets it go on."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


def test_fifo_in_allow_d_is_refused_without_a_hang(bed, make_agent):
    a = make_agent(allow={"10-soumu.conf": allow_file(A)}, extra_env={"WATCHDOG_USEC": "3000000"}).start()
    plug_a(bed)
    a.wait_events("usb.allowed")
    fifo = os.path.join(a.allow_dir, "20-fifo.conf")
    os.mkfifo(fifo, 0o600)
    try:
        a.notify.clear()
        t0 = time.monotonic()
        a.proc.send_signal(signal.SIGHUP)
        a.wait_notify("READY=1", timeout=1)
        assert time.monotonic() - t0 < 1
    finally:
        _unblock_fifo(fifo)
    err = a.wait_events("agent.config_error")[0]
    assert any(e["file"].endswith("20-fifo.conf") and "not a regular file" in e["message"]
               for e in err["config"]["errors"]), err["config"]["errors"]
    # The loop is alive: it still decides.
    barrier(bed, a)
    assert a.proc.poll() is None


def test_fifo_in_allow_d_at_start_fails_closed_quickly(bed, make_agent):
    a = make_agent(allow={"10-soumu.conf": allow_file(A)})
    fifo = os.path.join(a.allow_dir, "20-fifo.conf")
    os.mkfifo(fifo, 0o600)
    try:
        a.start(wait_ready=False)
        a.wait_notify("READY=1", timeout=3)
    finally:
        _unblock_fifo(fifo)
    err = a.wait_events("agent.config_error")[0]
    assert err["config"]["outcome"] == "fail_closed"
    assert any(e["file"].endswith("20-fifo.conf") and "not a regular file" in e["message"]
               for e in err["config"]["errors"]), err["config"]["errors"]


# ---- mamori.conf and its directory: mamorid --check-config and mamorictl check-config ----

def check_config(conf, timeout=10):
    return subprocess.run([MAMORID, "--config", conf, "--check-config"], capture_output=True, text=True,
                          timeout=timeout)


def _conf_dir(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir(mode=0o755)
    os.chmod(etc, 0o755)
    conf = etc / "mamori.conf"
    conf.write_text('usb = { block = [ "storage" ]; };\n')
    os.chmod(conf, 0o644)
    return etc, conf


@pytest.mark.parametrize("defect,words", [
    ("conf group-writable", "writable by group"),
    ("conf owned by uid 1000", "owned by uid 1000"),
    ("conf is a symlink", "symbolic link"),
    ("dir mode 0777", "writable by"),
    ("dir owned by uid 1000", "owned by uid 1000"),
])
def test_untrusted_mamori_conf_is_refused(tmp_path, defect, words):
    etc, conf = _conf_dir(tmp_path)
    r = check_config(str(conf))
    assert r.returncode == 0, r.stdout + r.stderr
    if defect == "conf group-writable":
        os.chmod(conf, 0o664)
    elif defect == "conf owned by uid 1000":
        os.chown(conf, 1000, 1000)
    elif defect == "conf is a symlink":
        real = tmp_path / "real.conf"
        os.rename(conf, real)
        os.symlink(real, conf)
    elif defect == "dir mode 0777":
        os.chmod(etc, 0o777)
    elif defect == "dir owned by uid 1000":
        os.chown(etc, 1000, 1000)
    r = check_config(str(conf))
    assert r.returncode == 1, r.stdout + r.stderr
    assert words in r.stdout, r.stdout
    assert "would not be loaded" in r.stdout


def test_mamorictl_check_config_reports_trust_errors(tmp_path):
    etc, conf = _conf_dir(tmp_path)
    allow = etc / "allow.d"
    allow.mkdir(mode=0o755)
    f = allow / "10-a.conf"
    f.write_text(allow_file(A))
    os.chmod(f, 0o660)
    r = subprocess.run([MAMORICTL, "--socket", str(tmp_path / "none"), "check-config", "--config", str(conf)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{f}: " in r.stdout and "writable by group" in r.stdout, r.stdout


# ---- the collector's files: ca_file, pin, token_file ----

def _pubkey(pki, path):
    subprocess.run(["openssl", "pkey", "-in", pki["server_key"], "-pubout", "-out", path], check=True, timeout=60)


FILE_DEFECTS = ["group-writable", "owned by uid 1000", "symlink", "fifo", "dir mode 0777"]


@pytest.mark.parametrize("key", ["ca_file", "pin", "token_file"])
@pytest.mark.parametrize("defect", FILE_DEFECTS)
def test_untrusted_collector_files_are_refused(tmp_path, pki, key, defect):
    etc, conf = _conf_dir(tmp_path)
    files = tmp_path / "files"
    files.mkdir(mode=0o755)
    os.chmod(files, 0o755)
    path = files / key
    if key == "ca_file":
        path.write_bytes(open(pki["ca"], "rb").read())
        mode = 0o644
    elif key == "pin":
        _pubkey(pki, str(path))
        mode = 0o644
    else:
        path.write_text("t0ken\n")
        mode = 0o600
    os.chmod(path, mode)
    conf.write_text(collector_conf("https://127.0.0.1:1/v1/events", **{key: str(path)}))
    r = check_config(str(conf))
    assert r.returncode == 0, r.stdout + r.stderr

    words = {"group-writable": "writable by group", "owned by uid 1000": "owned by uid 1000",
             "symlink": "symbolic link", "fifo": "not a regular file", "dir mode 0777": "writable by"}[defect]
    if defect == "group-writable":
        os.chmod(path, mode | 0o020)
    elif defect == "owned by uid 1000":
        os.chown(path, 1000, 1000)
    elif defect == "symlink":
        real = files / (key + ".real")
        os.rename(path, real)
        os.symlink(real, path)
    elif defect == "fifo":
        os.unlink(path)
        os.mkfifo(path, mode)
    elif defect == "dir mode 0777":
        os.chmod(files, 0o777)
    try:
        r = check_config(str(conf), timeout=5)
    finally:
        if defect == "fifo":
            _unblock_fifo(str(path))
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{conf}:" in r.stdout and key in r.stdout and words in r.stdout, r.stdout


def test_pin_file_is_read_by_the_uplink(bed, make_agent, collector, pki, tmp_path):
    # pin as a key file: mamori-uplink reads it (trusted) and pins its SHA-256, as
    # curl would; the right key delivers, another key sends nothing.
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    right, wrong = keys / "server.pub", keys / "other.pub"
    _pubkey(pki, str(right))
    subprocess.run(["openssl", "pkey", "-in", pki["client_key"], "-pubout", "-outform", "DER", "-out", str(wrong)],
                   check=True, timeout=60)
    a = make_agent(main_conf=collector_conf(collector, pki, pin=str(right))).start()
    collector.wait_events(1, kind="agent.started", timeout=15)
    a.stop()
    n = len(collector.requests)
    b = make_agent(main_conf=collector_conf(collector, pki, pin=str(wrong))).start()
    b.uplink.wait_log("does not match collector.pin", 10)
    assert len(collector.requests) == n


# ---- TLS: with ca_file, that file and nothing else ----

def _capath_with(tmp_path, ca_pem, bundle_pem):
    """A stand-in for /etc/ssl/certs: ca_pem in OpenSSL's hashed layout (what
    libcurl's CA path finds), and bundle_pem as ca-certificates.crt (libcurl's
    default CA file, which must exist for the default to work at all)."""
    d = tmp_path / "capath"
    d.mkdir()
    with open(ca_pem, "rb") as src, open(d / "test-ca.pem", "wb") as dst:
        dst.write(src.read())
    with open(bundle_pem, "rb") as src, open(d / "ca-certificates.crt", "wb") as dst:
        dst.write(src.read())
    subprocess.run(["openssl", "rehash", str(d)], check=True, capture_output=True, timeout=60)
    assert [n for n in os.listdir(d) if n.endswith(".0")], os.listdir(d)
    return d


def _with_system_capath(capath):
    """mamorid and mamori-uplink in a mount namespace of their own where /etc/ssl/certs (libcurl's
    built-in CA path on Debian) is capath: the host's is never touched."""
    return ["unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", 'mount --bind "$0" /etc/ssl/certs && exec "$@"', str(capath)]


def test_ca_file_is_the_only_trust(bed, make_agent, collector, pki, tmp_path):
    # The collector's certificate is signed by pki["ca"] (CA-B), which sits in
    # the CA path libcurl uses by default, as a TLS-inspecting proxy's CA would.
    # ca_file names another CA (CA-A): the connection must be refused.
    capath = _capath_with(tmp_path, pki["ca"], pki["other_ca"])
    conf = collector_conf(collector, pki, ca_file=pki["other_ca"])
    a = make_agent(main_conf=conf).start(wrapper=_with_system_capath(capath))
    wait_for(lambda: "certificate is not trusted" in a.uplink.log() or collector.requests, 10, what="a TLS error")
    time.sleep(0.5)
    assert collector.requests == [], "events were sent over a connection ca_file does not vouch for"
    assert "certificate is not trusted" in a.uplink.log()
    assert collector.tls_errors
    a.stop()

    # Control: without ca_file, the system store is the trust, and there the
    # collector's CA is found through the CA path alone (the bundle holds
    # only the unrelated CA): the namespace set-up does what it should.
    b = make_agent(main_conf=collector_conf(collector, pki, ca_file=None)).start(
        wrapper=_with_system_capath(capath))
    collector.wait_events(1, kind="agent.started", timeout=15)
    b.stop()


# ---- proxies: only the one in mamori.conf ----

class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1: records each request line and
    tunnels to the target."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                d = c.recv(4096)
                if not d:
                    return
                head += d
            line = head.split(b"\r\n", 1)[0].decode()
            self.seen.append(line)
            method, target, _ = line.split(" ", 2)
            if method != "CONNECT":
                c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            up = socket.create_connection((host, int(port)), timeout=10)
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                up.sendall(rest)

            def pipe(a, b):
                try:
                    while True:
                        d = a.recv(65536)
                        if not d:
                            break
                        b.sendall(d)
                except OSError:
                    pass
                finally:
                    for s in (a, b):
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
            threading.Thread(target=pipe, args=(up, c), daemon=True).start()
            pipe(c, up)
        except (OSError, ValueError):
            pass
        finally:
            c.close()

    def close(self):
        self._stop = True
        self.sock.close()


@pytest.fixture
def proxy():
    p = ConnectProxy()
    yield p
    p.close()


PROXY_ENV = ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]


def test_proxy_environment_is_ignored(bed, make_agent, collector, pki, proxy):
    env = {k: proxy.url for k in PROXY_ENV}
    env.update(no_proxy="", NO_PROXY="")
    make_agent(main_conf=collector_conf(collector, pki), extra_env=env).start()
    collector.wait_events(1, kind="agent.started", timeout=15)
    assert proxy.seen == [], "mamori-uplink used a proxy from its environment"


def test_proxy_from_mamori_conf(bed, make_agent, collector, pki, proxy):
    # TLS goes through the tunnel, end to end: the collector still sees the
    # agent's client certificate, and ca_file still decides.
    a = make_agent(main_conf=collector_conf(collector, pki, proxy=proxy.url)).start()
    collector.wait_events(1, kind="agent.started", timeout=15)
    assert proxy.seen and proxy.seen[0] == f"CONNECT 127.0.0.1:{collector.port} HTTP/1.1", proxy.seen
    assert collector.requests[0]["client_cn"] == "agent-0001"
    a.stop()


def test_proxy_must_be_a_url(tmp_path):
    etc, conf = _conf_dir(tmp_path)
    conf.write_text(collector_conf("https://127.0.0.1:1/v1/events", proxy="proxy.example:8080"))
    r = check_config(str(conf))
    assert r.returncode == 1 and "'proxy' must be the URL of an HTTP proxy" in r.stdout, r.stdout
