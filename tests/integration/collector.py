# SPDX-License-Identifier: MIT
"""A real HTTPS collector for the tests: TLS with a CA made at test time,
client certificates required (mTLS), and a record of everything it was sent.
It can be told to misbehave: answer 500s, 429 with Retry-After, 400 for one
batch, accept a request and hang (or hold it, then take it), or be down.

    pki = make_pki(tmpdir)            # CA, server and client certs (openssl)
    c = Collector(pki).start()        # c.url, c.events(), c.requests ...
    c.script(500, 500)                # the next two requests get 500
    c.rule = lambda path, headers, events: 401 if ... else None   # a standing answer
    c.stop(); c.start()               # down, then up on the same port

Also a program (for a network namespace, a VM, the benchmark):
collector.py PKI_DIR PORT RECORD_FILE [--parse] appends every event it accepts
to RECORD_FILE as one line, as received; with --parse it also parses each."""

import base64
import gzip
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)


def make_pki(d):
    """CA, server (localhost, 127.0.0.1), client (CN=agent-0001) and a second,
    unrelated CA; EC P-256. Returns a dict of paths and the server key's pin."""
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
                 "-subj", f"/CN=mamori test {ca}", cwd=d)
    exts = {
        "server": "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        "client": "extendedKeyUsage=clientAuth\n",
    }
    for name, cn in (("server", "localhost"), ("client", "agent-0001")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(exts[name])
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    for f in os.listdir(d):
        if f.endswith(".key"):
            os.chmod(os.path.join(d, f), 0o600)
    der = subprocess.run(["openssl", "pkey", "-in", os.path.join(d, "server.key"), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True, timeout=60).stdout
    pin = "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()
    return {
        "dir": d,
        "ca": os.path.join(d, "ca.pem"),
        "other_ca": os.path.join(d, "other-ca.pem"),
        "server_cert": os.path.join(d, "server.pem"),
        "server_key": os.path.join(d, "server.key"),
        "client_cert": os.path.join(d, "client.pem"),
        "client_key": os.path.join(d, "client.key"),
        "pin": pin,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        # The TLS handshake happens here, in the request's thread, so that a
        # client that stalls or fails it never blocks the accept loop.
        c = self.server.collector
        self.request.settimeout(60)
        with c.lock:
            c._conns.add(self.request)
        if c._take_hang("connect"):
            c.hanging += 1
            c._released.wait(120)
            raise ConnectionAbortedError("hung up by the test")
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError) as e:
            with c.lock:
                c.tls_errors.append(str(e))
            raise
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, OSError, ValueError):
            pass

    def finish(self):
        with self.server.collector.lock:
            self.server.collector._conns.discard(self.request)
        try:
            super().finish()
        except (ConnectionError, ssl.SSLError, OSError, ValueError):
            pass

    def do_POST(self):
        c = self.server.collector
        t = time.monotonic()
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        raw = body
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        peer = self.request.getpeercert() or {}
        cn = dict(x[0] for x in peer.get("subject", ())).get("commonName")
        raw_lines = [line for line in body.split(b"\n") if line]
        # NDJSON, every line JSON (a program that only records leaves the check to its reader)
        lines = [json.loads(line) for line in raw_lines] if c.parse else []
        with c.lock:
            n = len(c.requests)
            # A standing rule (a token, a path, a size the collector refuses)
            # first; the script's next answer, or 200, for what it lets through.
            ruled = c.rule(self.path, self.headers, lines) if c.rule else None
            if ruled is not None:
                action = ruled
            else:
                action = c._script.pop(0) if c._script else 200
            c.requests.append({
                "n": n, "time": t, "path": self.path, "headers": dict(self.headers), "client_cn": cn,
                "events": lines, "count": len(raw_lines), "status": action if isinstance(action, int) else (action[0] if isinstance(action, tuple) else None),
                "raw_len": len(raw),
            })
            # A request and what it delivered become visible together: a test that
            # saw a 2xx in requests must find its events in accepted too.
            early = isinstance(action, int) and 200 <= action < 300
            if early:
                self._accept(c, lines, raw_lines)
        if action == "hang":
            c.hanging += 1
            c._released.wait(120)
            self.close_connection = True
            return
        if action == "hold":  # the request is out until the test releases it; then a 200
            c.hanging += 1
            c._released.wait(120)
            action = 200
        status, headers = (action, {}) if isinstance(action, int) else action
        answer = b"" if 200 <= status < 300 else json.dumps({"error": f"test says {status}"}).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        with c.lock:
            if 200 <= status < 300:
                if not early:
                    self._accept(c, lines, raw_lines)
            elif status in (400, 415, 422):  # the content can never be stored (issue 16)
                c.rejected.append(lines)

    @staticmethod
    def _accept(c, lines, raw_lines):
        c.accepted.extend(lines)
        if c.record_file:
            with open(c.record_file, "ab") as f:
                f.write(b"".join(x + b"\n" for x in raw_lines))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # TLS failures and hang-ups are recorded, not printed


class Collector:
    def __init__(self, pki, port=0, record_file=None, parse=True):
        self.pki = pki
        self.port = port
        self.record_file = record_file
        self.parse = parse
        self.lock = threading.Lock()
        self.requests = []   # every POST, whatever the answer
        self.accepted = []   # events of batches answered 2xx (duplicates included)
        self.rejected = []   # batches answered 400, 415 or 422: never to be stored
        # rule(path, headers, events) -> an action as script() takes, or None:
        # an answer that stands until the test changes it (a rotated token, a
        # path that moved), evaluated before the script.
        self.rule = None
        self.tls_errors = []
        self.hanging = 0
        self._script = []
        self._hangs = {"connect": 0}
        self._released = threading.Event()
        self._conns = set()
        self.httpd = None

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}/v1/events"

    def start(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki["server_cert"], self.pki["server_key"])
        ctx.load_verify_locations(self.pki["ca"])
        ctx.verify_mode = ssl.CERT_REQUIRED  # mTLS
        httpd = _Server(("127.0.0.1", self.port), _Handler)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        httpd.collector = self
        self.port = httpd.server_address[1]
        self.httpd = httpd
        self._released.clear()
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Down: nothing listens on the port any more."""
        if self.httpd:
            self._released.set()
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
            # and the connections kept alive: down is down
            with self.lock:
                conns, self._conns = list(self._conns), set()
            for sock in conns:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # ---- misbehaviour ----
    def script(self, *actions):
        """Answers for the next requests, in order: a status (500), (status,
        {header: value}) such as (429, {"Retry-After": "3"}), "hang" (no answer
        until release(), then the connection is closed) or "hold" (until
        release(), then 200)."""
        with self.lock:
            self._script.extend(actions)

    def hang_connections(self, n):
        """The next n connections are accepted and then nothing happens: no TLS, no answer."""
        with self.lock:
            self._hangs["connect"] += n

    def _take_hang(self, what):
        with self.lock:
            if self._hangs[what] > 0:
                self._hangs[what] -= 1
                return True
            return False

    def release(self):
        self._released.set()

    # ---- what arrived ----
    def events(self, kind=None):
        with self.lock:
            return [e for e in self.accepted if kind is None or e["kind"] == kind]

    def unique(self):
        """Accepted events by id; a duplicate must be the very same event."""
        out = {}
        with self.lock:
            for e in self.accepted:
                if e["id"] in out:
                    assert out[e["id"]] == e, f"two different events with id {e['id']}"
                out[e["id"]] = e
        return out

    def wait_events(self, count, kind=None, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [e for e in self.unique().values() if kind is None or e["kind"] == kind]
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"collector: wanted {count} {kind or 'events'}, has {len(self.unique())}; "
                             f"{len(self.requests)} requests, TLS errors: {self.tls_errors[-3:]}")


def main():
    pki_dir, port, record = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    d = pki_dir
    pki = {"ca": f"{d}/ca.pem", "server_cert": f"{d}/server.pem", "server_key": f"{d}/server.key"}
    c = Collector(pki, port=port, record_file=record, parse="--parse" in sys.argv[4:]).start()
    print("listening", c.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        c.stop()


if __name__ == "__main__":
    main()
