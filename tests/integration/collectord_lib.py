# SPDX-License-Identifier: MIT
"""The real mamori-collectord for the tests: a config written at test time,
a CA made with openssl (collector.make_pki), and an HTTPS client with or
without a client certificate. Every wait has a deadline."""

import gzip  # noqa: F401  (re-exported for the tests)
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import uuid

from collector import _openssl, make_pki

COLLECTORD = os.environ.get("MAMORI_COLLECTORD", "build/collector/mamori-collectord")
TOKEN = "ingest-token-0123456789abcdef"
EXPORT_TOKEN = "export-token-0123456789abcdef"
MACHINE_ID = "0123456789abcdef0123456789abcdef"
# Set by tests/unit/with-postgres.sh: the same tests on a PostgreSQL of their own
PG_CONNINFO = os.environ.get("MAMORI_TEST_PG_CONNINFO")
PG_CTL = os.environ.get("MAMORI_TEST_PG_CTL")


def pg_database(d):
    """A database of its own for one daemon; the conninfo file naming it."""
    name = "c_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", PG_CONNINFO, "-v", "ON_ERROR_STOP=1", "-q", "-c", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True, timeout=60)
    path = os.path.join(d, "pg.conninfo")
    with open(path, "w") as f:
        f.write(PG_CONNINFO.replace("dbname=postgres", f"dbname={name}") + "\n")
    os.chmod(path, 0o600)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_client(pki, name, cn, ca="ca", san=None):
    """Another client certificate (CN, optional DNS SAN) signed by ca."""
    d = pki["dir"]
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n" + (f"subjectAltName=DNS:{san}\n" if san else ""))
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    os.chmod(os.path.join(d, f"{name}.key"), 0o600)
    return (os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key"))


def collectord_pki(tmp_path_factory, name, extra=()):
    """A module's CA (collector.make_pki) in a directory of its own, plus the
    extra client certificates it needs: extra maps each key of the returned
    dict to add_client's keyword arguments."""
    d = tmp_path_factory.mktemp(name)
    os.chmod(d, 0o755)
    p = make_pki(str(d))
    for key, kw in dict(extra).items():
        p[key] = add_client(p, **kw)
    return p


def collectord_factory(tmp_path, pki):
    """For a pytest generator fixture: yields make(**conf), which starts one
    more daemon (a directory of its own under tmp_path) and returns it; every
    daemon started is stopped when the test ends."""
    started = []

    def make(**conf):
        c = Collectord(tmp_path / f"c{len(started)}", pki, **conf)
        started.append(c)
        return c.start()

    yield make
    for c in started:
        c.stop()


def event(seq, machine_id=MACHINE_ID, kind="agent.heartbeat", host_name="pc-0001", **extra):
    e = {
        "id": str(uuid.uuid4()),
        "seq": seq,
        "time": "2026-12-04T01:02:03.123456Z",
        "kind": kind,
        "severity": "info",
        "host": {"name": host_name, "machine_id": machine_id},
        "agent": {"name": "mamori", "version": "0.1.0", "policy_hash": "ab" * 32},
    }
    e.update(extra)
    return e


def ndjson(events):
    return b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in events)


def conf_text(d, pki, port, limits=None, tls=None, tokens=True, export=True, findings=None, listen=None):
    lim = {"max_connections": 64, "connection_timeout_sec": 15, "workers": 2, "per_host_rate": 1000.0,
           "per_host_burst": 1000}
    lim.update(limits or {})
    t = {"cert_file": pki["server_cert"], "key_file": pki["server_key"], "client_ca_file": pki["ca"],
         "require_client_cert": True, "require_name_match": False}
    t.update(tls or {})

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        return repr(v)

    addrs = listen or [f"127.0.0.1:{port}"]
    out = ["listen = [ " + ", ".join(json.dumps(a) for a in addrs) + " ];", "tls = {"]
    out += [f"  {k} = {val(v)};" for k, v in t.items() if v is not None]
    out.append("};")
    if tokens:
        out.append(f'auth = {{ token_file = "{d}/token"; }};')
    if export:
        out.append(f'export = {{ token_file = "{d}/export-token"; }};')
    if PG_CONNINFO:
        conninfo = os.path.join(d, "pg.conninfo")
        if not os.path.exists(conninfo):
            pg_database(d)
        out.append(f'storage = {{ backend = "postgresql"; conninfo_file = "{conninfo}"; busy_timeout_ms = 500; }};')
    else:
        out.append(f'storage = {{ backend = "sqlite"; path = "{d}/state/collector.db"; busy_timeout_ms = 500; }};')
    out.append("limits = {")
    out += [f"  {k} = {val(v)};" for k, v in lim.items()]
    out.append("};")
    if findings:
        out.append("findings = { " + " ".join(f"{k} = {val(v)};" for k, v in findings.items()) + " };")
    return "\n".join(out) + "\n"


class Collectord:
    def __init__(self, d, pki, **conf):
        self.d = str(d)
        self.pki = pki
        self.port = free_port()
        os.makedirs(os.path.join(self.d, "state"), exist_ok=True)
        os.chmod(self.d, 0o755)
        if PG_CONNINFO:
            pg_database(self.d)
        for name, tok in (("token", TOKEN), ("export-token", EXPORT_TOKEN)):
            p = os.path.join(self.d, name)
            with open(p, "w") as f:
                f.write(tok + "\n")
            os.chmod(p, 0o600)
        self.conf_path = os.path.join(self.d, "collector.conf")
        self.write_conf(**conf)
        self.proc = None
        self.log_path = os.path.join(self.d, "collectord.log")

    def write_conf(self, text=None, **conf):
        with open(self.conf_path, "w") as f:
            f.write(text if text is not None else conf_text(self.d, self.pki, self.port, **conf))
        os.chmod(self.conf_path, 0o644)

    def start(self, wait=True):
        env = dict(os.environ, MAMORI_COLLECTOR_CONFIG=self.conf_path,
                   STATE_DIRECTORY=os.path.join(self.d, "state"))
        env.pop("NOTIFY_SOCKET", None)
        env.pop("JOURNAL_STREAM", None)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([COLLECTORD, "--log-level=debug"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if wait:
            deadline = time.monotonic() + 15
            while True:
                assert self.proc.poll() is None, f"collectord exited {self.proc.returncode}: {self.log_text()}"
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "collectord does not listen: " + self.log_text()
                    time.sleep(0.05)
        return self

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, needle, timeout=10, count=1):
        deadline = time.monotonic() + timeout
        while self.log_text().count(needle) < count:
            assert time.monotonic() < deadline, f"no {needle!r} in the log:\n{self.log_text()}"
            time.sleep(0.02)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("collectord did not stop on SIGTERM")
            assert rc == 0, f"collectord exited {rc}: {self.log_text()}"
        if self.proc:
            self.log.close()
        self.proc = None

    def context(self, cert="client"):
        ctx = ssl.create_default_context(cafile=self.pki["ca"])
        if cert == "client":
            ctx.load_cert_chain(self.pki["client_cert"], self.pki["client_key"])
        elif cert:
            ctx.load_cert_chain(*cert)
        return ctx

    def connect(self, cert="client", timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context(cert), timeout=timeout)

    def request(self, method, path, body=None, headers=None, cert="client", token=TOKEN, timeout=60):
        h = {"Content-Type": "application/x-ndjson"} if body is not None else {}
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        c = self.connect(cert, timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def post(self, body, headers=None, **kw):
        return self.request("POST", "/v1/events", body, headers, **kw)

    def export(self, after=None, limit=None, token=EXPORT_TOKEN, cert="client"):
        q = []
        if after is not None:
            q.append(f"after={after}")
        if limit is not None:
            q.append(f"limit={limit}")
        path = "/v1/export" + ("?" + "&".join(q) if q else "")
        st, h, body = self.request("GET", path, token=token, cert=cert)
        lines = [json.loads(x) for x in body.decode().splitlines() if x]
        return st, h, lines

    def export_all(self):
        out, cursor = [], None
        for _ in range(1000):
            st, h, lines = self.export(after=cursor)
            assert st == 200, (st, lines)
            if not lines:
                return out
            out += lines
            cursor = h["X-Mamori-Cursor"]
        raise AssertionError("export does not end")
