# SPDX-License-Identifier: MIT
"""The review console's HTTPS listener and its auth routes (issue 13,
docs/console-api.md) against the real mamori-collectord with the console
enabled, over TLS with a CA made at test time: login (good, bad, throttled),
the cookie's attributes, /me, CSRF, Origin, expiry, roles, the security
headers, static files that must not leave www_dir, logout, the audit log."""

import http.client
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import time

import pytest

from collector import make_pki
from collectord_lib import PG_CONNINFO, Collectord, conf_text, free_port

COLLECTORCTL = os.environ.get("MAMORI_COLLECTORCTL", "build/collector/ctl/mamori-collectorctl")
SECRET = "the secret outside www_dir"
PASSWORDS = {"admin1": "admin password 1", "viewer1": "viewer password 1", "locked1": "locked password 1"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
IDLE_MIN = 30


def make_www(d):
    www = os.path.join(d, "www")
    os.makedirs(os.path.join(www, "js", "sub"))
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<!doctype html><title>mamori</title>")
    with open(os.path.join(www, "js", "app.js"), "w") as f:
        f.write("export const x = 1;\n")
    with open(os.path.join(www, ".hidden.txt"), "w") as f:
        f.write("hidden\n")
    with open(os.path.join(www, "x.exe"), "w") as f:
        f.write("MZ\n")
    with open(os.path.join(d, "secret.txt"), "w") as f:
        f.write(SECRET)
    os.symlink(os.path.join(d, "secret.txt"), os.path.join(www, "link.txt"))
    os.symlink(os.path.join(d), os.path.join(www, "js", "up"))
    return www


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    d = tmp_path_factory.mktemp("console")
    os.chmod(d, 0o755)
    pki = make_pki(str(d / "pki"))
    c = Collectord(d / "c", pki)
    c.console_port = free_port()
    www = make_www(c.d)
    text = conf_text(c.d, pki, c.port) + (
        "console = {\n  enable = true;\n  listen = \"127.0.0.1\";\n"
        f"  port = {c.console_port};\n  cert = \"{pki['server_cert']}\";\n  key = \"{pki['server_key']}\";\n"
        f"  zone = \"Asia/Tokyo\";\n  idle_timeout_min = {IDLE_MIN};\n  session_max_hours = 2;\n"
        f"  www_dir = \"{www}\";\n}};\n")
    c.write_conf(text=text)
    c.conf_text = text
    for name, role in (("admin1", "admin"), ("viewer1", "viewer"), ("locked1", "reviewer")):
        r = subprocess.run([COLLECTORCTL, "-c", c.conf_path, "user", "add", name, "--role", role],
                           input=PASSWORDS[name] + "\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    c.start()
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", c.console_port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the console does not listen: " + c.log_text()
            time.sleep(0.05)
    yield c
    c.stop()


def request(c, method, path, body=None, headers=None, cookie=None):
    ctx = ssl.create_default_context(cafile=c.pki["ca"])
    conn = http.client.HTTPSConnection("127.0.0.1", c.console_port, context=ctx, timeout=30)
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = f"mamori_session={cookie}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def api(c, method, path, body=None, **kw):
    st, h, b = request(c, method, "/api/v1" + path, body, **kw)
    return st, h, (json.loads(b) if h.get("content-type", "").startswith("application/json") else b)


def login(c, user):
    st, h, b = api(c, "POST", "/login", {"user": user, "password": PASSWORDS[user]})
    assert st == 200, (st, b)
    cookie = h["set-cookie"].split(";")[0].split("=", 1)[1]
    return cookie, b["csrf"], h


def db_exec(c, sql):
    if PG_CONNINFO:
        with open(os.path.join(c.d, "pg.conninfo")) as f:
            subprocess.run(["psql", f.read().strip(), "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True,
                           capture_output=True, timeout=60)
        return
    with sqlite3.connect(os.path.join(c.d, "state", "collector.db"), timeout=10) as db:
        db.execute(sql)


def test_security_headers(console):
    st, h, body = request(console, "GET", "/")
    assert st == 200 and body.startswith(b"<!doctype html>")
    assert h["content-type"] == "text/html; charset=utf-8"
    st2, h2, _ = api(console, "GET", "/me")
    for hh in (h, h2):
        assert hh["content-security-policy"] == CSP
        assert hh["x-content-type-options"] == "nosniff"
        assert hh["referrer-policy"] == "no-referrer"
        assert hh["strict-transport-security"].startswith("max-age=")
    assert h2["cache-control"] == "no-store"
    st, h, body = request(console, "GET", "/js/app.js")
    assert st == 200 and h["content-type"] == "text/javascript; charset=utf-8"


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/js/..%2f..%2fsecret.txt",
    "/js/%2e%2e/%2e%2e/secret.txt", "/link.txt", "/js/up/secret.txt", "/js/sub", "/js/sub/", "/js/",
    "/.hidden.txt", "/x.exe", "/index.html%00.js", "/js\\app.js", "//etc/passwd", "/%zz",
])
def test_static_refused(console, path):
    st, h, body = request(console, "GET", path)
    assert st == 404, (path, st, body)
    assert SECRET.encode() not in body and b"root:" not in body
    assert h["content-security-policy"] == CSP


def test_static_methods(console):
    st, h, _ = request(console, "POST", "/index.html", body=b"x", headers={"Content-Type": "text/plain"})
    assert st == 405
    st, h, _ = request(console, "PUT", "/api/v1/me", body=b"x")
    assert st == 405


def test_login_cookie_me_logout(console):
    cookie, csrf, h = login(console, "admin1")
    attrs = [a.strip() for a in h["set-cookie"].split(";")]
    assert attrs[0].startswith("mamori_session=") and len(cookie) == 64
    assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= set(attrs)
    st, _, me = api(console, "GET", "/me", cookie=cookie)
    assert st == 200
    assert me["user"] == "admin1" and me["role"] == "admin" and me["zone"] == "Asia/Tokyo"
    assert me["csrf"] == csrf and me["version"]
    # POST without the CSRF header, with a wrong one: 403 csrf; the session stays
    st, _, b = api(console, "POST", "/logout", {}, cookie=cookie)
    assert st == 403 and b["error"]["code"] == "csrf"
    st, _, b = api(console, "POST", "/logout", {}, cookie=cookie, headers={"X-CSRF-Token": "0" * 64})
    assert st == 403 and b["error"]["code"] == "csrf"
    # a POST that is not JSON
    st, _, b = api(console, "POST", "/logout", "{}", cookie=cookie,
                   headers={"X-CSRF-Token": csrf, "Content-Type": "text/plain"})
    assert st == 415
    # from another origin: refused, even with the right token
    for hdr in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                {"Origin": f"http://127.0.0.1:{console.console_port}"}):
        st, _, b = api(console, "POST", "/logout", {}, cookie=cookie, headers=dict(hdr, **{"X-CSRF-Token": csrf}))
        assert st == 403 and b["error"]["code"] == "origin", hdr
        st, _, b = api(console, "GET", "/me", cookie=cookie, headers=hdr)
        assert st == 403 and b["error"]["code"] == "origin", hdr
    # the same origin is fine
    st, _, _ = api(console, "GET", "/me", cookie=cookie,
                   headers={"Origin": f"https://127.0.0.1:{console.console_port}", "Sec-Fetch-Site": "same-origin"})
    assert st == 200
    st, h, b = api(console, "POST", "/logout", {}, cookie=cookie, headers={"X-CSRF-Token": csrf})
    assert st == 200 and b == {}
    assert "Max-Age=0" in h["set-cookie"]
    st, _, b = api(console, "GET", "/me", cookie=cookie)
    assert st == 401 and b["error"]["code"] == "no_session"


def test_no_session(console):
    for cookie in (None, "0" * 64, "zz", "' OR 1=1 --"):
        st, h, b = api(console, "GET", "/me", cookie=cookie)
        assert st == 401 and b["error"]["code"] == "no_session", cookie
    st, _, b = api(console, "GET", "/nothing-here")
    assert st == 404


def test_bad_login_and_throttle(console):
    st, h, bad = api(console, "POST", "/login", {"user": "admin1", "password": "wrong password"})
    assert st == 401 and bad["error"]["code"] == "bad_login" and "set-cookie" not in h
    st, _, unknown = api(console, "POST", "/login", {"user": "nobody1", "password": "wrong password"})
    assert st == 401 and unknown == bad  # the same answer: whether the user exists is not told
    st, _, b = api(console, "POST", "/login", {"user": "admin1"})
    assert st == 400
    # a body above CONSOLE_BODY_MAX: refused from its Content-Length, before it is sent
    ctx = ssl.create_default_context(cafile=console.pki["ca"])
    conn = http.client.HTTPSConnection("127.0.0.1", console.console_port, context=ctx, timeout=30)
    conn.putrequest("POST", "/api/v1/login")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(70 * 1024))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["error"]["code"] == "too_large"
    conn.close()
    for user in ("locked1", "nobody2"):
        for _ in range(5):
            st, _, b = api(console, "POST", "/login", {"user": user, "password": "wrong password"})
            assert st == 401, b
        st, h, b = api(console, "POST", "/login", {"user": user, "password": PASSWORDS.get(user, "x" * 12)})
        assert st == 429 and b["error"]["code"] == "throttled", user
        assert 800 <= int(h["retry-after"]) <= 900
    # the other accounts are not locked by it
    login(console, "viewer1")


def test_roles(console):
    cookie, csrf, _ = login(console, "viewer1")
    for path in ("/users", "/audit", "/audit?format=csv"):
        st, _, b = api(console, "GET", path, cookie=cookie)
        assert st == 403 and b["error"]["code"] == "forbidden", path
    st, _, _ = api(console, "GET", "/me", cookie=cookie)
    assert st == 200
    admin, _, _ = login(console, "admin1")
    st, _, users = api(console, "GET", "/users", cookie=admin)
    assert st == 200
    assert {u["name"]: u["role"] for u in users} == {"admin1": "admin", "viewer1": "viewer", "locked1": "reviewer"}
    st, _, audit = api(console, "GET", "/audit?limit=500", cookie=admin)
    assert st == 200
    actions = {(r["action"], r["target"]) for r in audit["rows"]}
    assert ("login", "viewer1") in actions and ("login", "admin1") in actions
    st, h, body = request(console, "GET", "/api/v1/audit?format=csv", cookie=admin)
    assert st == 200 and h["content-type"] == "text/csv; charset=utf-8"
    assert h["content-disposition"].startswith("attachment")
    assert body.startswith(b"\xef\xbb\xbfid,at,user,action,target,detail,peer\r\n")
    st, _, audit = api(console, "GET", "/audit?action=export", cookie=admin)
    assert audit["rows"] and audit["rows"][0]["user"] == "admin1"


def test_failed_logins_audited(console):
    admin, _, _ = login(console, "admin1")
    api(console, "POST", "/login", {"user": "viewer1", "password": "wrong password"})
    st, _, audit = api(console, "GET", "/audit?action=login_failed", cookie=admin)
    assert st == 200 and audit["rows"][0]["target"] == "viewer1"
    assert audit["rows"][0]["peer"] == "127.0.0.1"


def test_expiry(console):
    cookie, _, _ = login(console, "viewer1")
    assert api(console, "GET", "/me", cookie=cookie)[0] == 200
    # unused for longer than idle_timeout_min: gone, server-side
    us = (IDLE_MIN + 1) * 60 * 1000000
    db_exec(console, f"UPDATE sessions SET last_seen = last_seen - {us}, created_at = created_at - {us}")
    st, h, b = api(console, "GET", "/me", cookie=cookie)
    assert st == 401 and b["error"]["code"] == "no_session"
    assert "Max-Age=0" in h["set-cookie"]
    # older than session_max_hours, although in use: gone too
    cookie, _, _ = login(console, "viewer1")
    us = 2 * 3600 * 1000000
    db_exec(console, f"UPDATE sessions SET created_at = created_at - {us}")
    st, _, b = api(console, "GET", "/me", cookie=cookie)
    assert st == 401


def test_disabled_user_sessions_end(console):
    cookie, _, _ = login(console, "viewer1")
    r = subprocess.run([COLLECTORCTL, "-c", console.conf_path, "user", "disable", "viewer1"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        assert api(console, "GET", "/me", cookie=cookie)[0] == 401
        st, _, _ = api(console, "POST", "/login", {"user": "viewer1", "password": PASSWORDS["viewer1"]})
        assert st == 401
    finally:
        subprocess.run([COLLECTORCTL, "-c", console.conf_path, "user", "enable", "viewer1"], check=True,
                       capture_output=True, timeout=60)
    login(console, "viewer1")


def test_ctl_user(console):
    ctl = [COLLECTORCTL, "-c", console.conf_path, "user"]
    r = subprocess.run(ctl + ["list", "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "admin1" in {u["name"] for u in json.loads(r.stdout)}
    assert "$y$" not in r.stdout
    r = subprocess.run(ctl + ["add", "Bad Name", "--role", "viewer"], input="long enough pw\n", capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    r = subprocess.run(ctl + ["add", "shortpw", "--role", "viewer"], input="short\n", capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "shorter" in r.stderr
    r = subprocess.run(ctl + ["add", "norole"], input="long enough pw\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    # a new password ends the sessions and works at once
    cookie, _, _ = login(console, "admin1")
    r = subprocess.run(ctl + ["passwd", "admin1"], input="a newer admin password\n", capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    PASSWORDS["admin1"] = "a newer admin password"
    assert api(console, "GET", "/me", cookie=cookie)[0] == 401
    login(console, "admin1")


def test_reload_applies_session_times(console):
    """A reload (SIGHUP) changes idle_timeout_min for the sessions at once."""
    aged = 90 * 1000000
    cookie, _, _ = login(console, "viewer1")
    db_exec(console, f"UPDATE sessions SET last_seen = last_seen - {aged}, created_at = created_at - {aged}")
    assert api(console, "GET", "/me", cookie=cookie)[0] == 200  # 90 s of 30 min
    reloads = console.log_text().count("Reloaded")
    console.write_conf(text=console.conf_text.replace(f"idle_timeout_min = {IDLE_MIN};", "idle_timeout_min = 1;"))
    try:
        console.signal(signal.SIGHUP)
        console.wait_log("Reloaded", count=reloads + 1)
        cookie, _, _ = login(console, "viewer1")
        db_exec(console, f"UPDATE sessions SET last_seen = last_seen - {aged}, created_at = created_at - {aged}")
        assert api(console, "GET", "/me", cookie=cookie)[0] == 401  # 90 s of 1 min
    finally:
        console.write_conf(text=console.conf_text)
        console.signal(signal.SIGHUP)
        console.wait_log("Reloaded", count=reloads + 2)
    cookie, _, _ = login(console, "viewer1")
    db_exec(console, f"UPDATE sessions SET last_seen = last_seen - {aged}, created_at = created_at - {aged}")
    assert api(console, "GET", "/me", cookie=cookie)[0] == 200
