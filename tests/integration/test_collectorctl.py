# SPDX-License-Identifier: MIT
"""mamori-collectorctl (issue 12): the town's certificate authority (init-ca,
enroll: what it signs is checked with openssl, the tool the PCs' side uses),
check-config, and the export of stored events as NDJSON and CSV (quoting, and
the cells a spreadsheet would run as a formula).

The database is filled through the store the tool was built with: the real
one through mamori-collectord (POST /v1/events), or, while collector/ is not
in the tree, the stand-in of tests/collectorctl-stub (an NDJSON file)."""

import csv
import grp
import io
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
import uuid

import pytest

CTL = os.environ["MAMORI_COLLECTORCTL"]
STUB = os.environ.get("MAMORI_COLLECTORCTL_STUB") == "1"
COLLECTORD = os.environ.get("MAMORI_COLLECTORD")
MID = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


def ctl(*args, check=True, conf=None):
    cmd = [CTL] + (["-c", str(conf)] if conf else []) + [str(a) for a in args]
    # bytes, decoded here: text=True would turn CSV's CRLF into LF
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    p.stdout, p.stderr = p.stdout.decode(), p.stderr.decode()
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def openssl(*args, check=True, **kw):
    kw.setdefault("text", True)
    p = subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True, timeout=60, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"openssl {args} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def ca(tmp_path):
    d = tmp_path / "tls"
    ctl("init-ca", "--dir", d, "--name", "Testtown", "--server-name", "collector.test", "--server-name", "127.0.0.1")
    return d


def csr(tmp_path, cn, key="ec", name="pc"):
    keyf, csrf = tmp_path / f"{name}.key", tmp_path / f"{name}.csr"
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec" else ["-newkey", key]
    openssl("req", "-new", *newkey, "-nodes", "-keyout", keyf, "-subj", f"/O=Testtown/CN={cn}", "-out", csrf)
    return keyf, csrf


def enroll(ca, csrf, out, mid=MID, *extra, check=True):
    return ctl("enroll", "--csr", csrf, "--machine-id", mid, "--ca-cert", ca / "clients-ca.crt",
               "--ca-key", ca / "clients-ca.key", "--out", out, *extra, check=check)


def test_init_ca_modes_and_server_certificate(ca):
    mode = lambda f: os.stat(ca / f).st_mode & 0o7777
    assert mode("clients-ca.key") == 0o600
    assert mode("server.key") in (0o600, 0o640)  # 0640 root:mamori-collector where the group exists
    assert mode("clients-ca.crt") == 0o644 and mode("server.crt") == 0o644
    # the server certificate is the CA's, for the names given, for a server
    openssl("verify", "-CAfile", ca / "clients-ca.crt", "-purpose", "sslserver", ca / "server.crt")
    text = openssl("x509", "-in", ca / "server.crt", "-noout", "-text").stdout
    assert "DNS:collector.test" in text and "IP Address:127.0.0.1" in text, text
    ca_text = openssl("x509", "-in", ca / "clients-ca.crt", "-noout", "-text").stdout
    assert "CA:TRUE" in ca_text and "Testtown mamori CA" in ca_text
    # the key matches its certificate
    assert (openssl("pkey", "-in", ca / "server.key", "-pubout").stdout ==
            openssl("x509", "-in", ca / "server.crt", "-noout", "-pubkey").stdout)


def test_init_ca_makes_the_directories_above(tmp_path):
    d = tmp_path / "etc" / "mamori-collector" / "tls"
    ctl("init-ca", "--dir", d)
    assert (d / "clients-ca.crt").exists() and os.stat(d.parent).st_mode & 0o777 == 0o755


def test_init_ca_never_overwrites(ca):
    before = (ca / "clients-ca.key").read_bytes()
    p = ctl("init-ca", "--dir", ca, check=False)
    assert p.returncode == 1 and "exists already" in p.stderr, p.stderr
    assert (ca / "clients-ca.key").read_bytes() == before


@pytest.mark.parametrize("key", ["ec", "rsa:2048"])
def test_enroll_signs_a_client_certificate(ca, tmp_path, key):
    keyf, csrf = csr(tmp_path, MID, key)
    out = tmp_path / "pc.crt"
    p = enroll(ca, csrf, out)
    assert f"CN={MID}" in p.stdout
    # verifies against the CA for client authentication, not for a server
    openssl("verify", "-CAfile", ca / "clients-ca.crt", "-purpose", "sslclient", out)
    bad = openssl("verify", "-CAfile", ca / "clients-ca.crt", "-purpose", "sslserver", out, check=False)
    assert bad.returncode != 0
    subject = openssl("x509", "-in", out, "-noout", "-subject", "-nameopt", "RFC2253").stdout.strip()
    assert subject == f"subject=CN={MID}", subject  # only the CN: nothing of the request's subject is copied
    ext = openssl("x509", "-in", out, "-noout", "-ext", "extendedKeyUsage,basicConstraints").stdout
    assert "TLS Web Client Authentication" in ext and "CA:FALSE" in ext and "Server" not in ext, ext
    # the certificate carries the request's key
    assert (openssl("x509", "-in", out, "-noout", "-pubkey").stdout ==
            openssl("pkey", "-in", keyf, "-pubout").stdout)
    assert os.stat(out).st_mode & 0o777 == 0o644


def test_enroll_days(ca, tmp_path):
    _, csrf = csr(tmp_path, MID)
    out = tmp_path / "pc.crt"
    enroll(ca, csrf, out, MID, "--days", "30")
    assert openssl("x509", "-in", out, "-noout", "-checkend", str(29 * 86400)).returncode == 0
    assert openssl("x509", "-in", out, "-noout", "-checkend", str(31 * 86400), check=False).returncode != 0


def test_enroll_refuses_another_machines_request(ca, tmp_path):
    _, csrf = csr(tmp_path, OTHER)
    out = tmp_path / "pc.crt"
    p = enroll(ca, csrf, out, check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"its CN is '{OTHER}', not the machine id {MID}: refused" in p.stderr, p.stderr
    assert not out.exists()
    # --force signs it, with the machine id as the CN
    enroll(ca, csrf, out, MID, "--force")
    subject = openssl("x509", "-in", out, "-noout", "-subject", "-nameopt", "RFC2253").stdout.strip()
    assert subject == f"subject=CN={MID}", subject


def test_enroll_refuses_bad_input(ca, tmp_path):
    out = tmp_path / "pc.crt"
    # a machine id that is not one
    assert enroll(ca, tmp_path / "none.csr", out, "0123", check=False).returncode == 2
    # a weak key
    _, weak = csr(tmp_path, MID, "rsa:1024", name="weak")
    p = enroll(ca, weak, out, check=False)
    assert p.returncode == 1 and "1024 bits" in p.stderr, p.stderr
    # a request whose signature does not match its key (a byte of the signature flipped)
    _, good = csr(tmp_path, MID, name="good")
    der = openssl("req", "-in", good, "-outform", "DER", text=False).stdout
    forged = tmp_path / "forged.csr"
    forged.write_bytes(der[:-3] + bytes([der[-3] ^ 0x55]) + der[-2:])
    p = enroll(ca, forged, out, check=False)
    assert p.returncode == 1 and "signature does not verify" in p.stderr, p.stderr
    # a CA key others may read
    os.chmod(ca / "clients-ca.key", 0o644)
    p = enroll(ca, good, out, check=False)
    assert p.returncode == 1 and "chmod 0600" in p.stderr, p.stderr
    os.chmod(ca / "clients-ca.key", 0o600)
    # the key of another CA
    other = tmp_path / "other"
    ctl("init-ca", "--dir", other)
    p = ctl("enroll", "--csr", good, "--machine-id", MID, "--ca-cert", ca / "clients-ca.crt",
            "--ca-key", other / "clients-ca.key", "--out", out, check=False)
    assert p.returncode == 1 and "is not the key of" in p.stderr, p.stderr
    assert not out.exists()
    # an existing certificate is not replaced without --force
    enroll(ca, good, out)
    before = out.read_bytes()
    p = enroll(ca, good, out, check=False)
    assert p.returncode == 1 and "exists already" in p.stderr and out.read_bytes() == before


# ---- collector.conf ----

def write_conf(tmp_path, db):
    """collector.conf with a server certificate of a CA made now and a token."""
    conf = tmp_path / "collector.conf"
    token = tmp_path / "token"
    token.write_text("s3cret-token-for-the-test\n")
    os.chmod(token, 0o600)
    os.chmod(tmp_path, 0o755)
    tls = tmp_path / "tls"
    if not tls.exists():
        ctl("init-ca", "--dir", tls, "--server-name", "127.0.0.1")
    conf.write_text(f"""
listen = [ "127.0.0.1:18443" ];
tls = {{ cert_file = "{tls}/server.crt"; key_file = "{tls}/server.key"; require_client_cert = false; }};
auth = {{ token_file = "{token}"; }};
storage = {{ backend = "sqlite"; path = "{db}"; busy_timeout_ms = 2000; }};
""")
    return conf


def test_check_config(tmp_path):
    conf = write_conf(tmp_path, tmp_path / "c.db")
    assert ctl("check-config", conf).stdout.strip() == f"{conf}: OK"
    assert ctl("check-config", conf=conf).returncode == 0
    shipped = os.path.join(os.environ["MAMORI_SOURCE_DIR"], "policy", "collector.conf")
    if os.path.exists(shipped):  # its files are not there: only the keys and types are looked at
        p = ctl("check-config", shipped, check=False)
        assert "unknown" not in p.stderr and "must be" not in p.stderr, p.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text('listen = [ "127.0.0.1:8443" ];\n'
                   'auth = { token_file = "%s"; };\n'
                   'storage = { backend = "mysql"; pathh = "/x"; };\n'
                   'limits = { workers = "four"; };\n' % (tmp_path / "token"))
    p = ctl("check-config", bad, check=False)
    assert p.returncode == 1 and "mamori-collectord would refuse it" in p.stderr, p.stderr

    def problem(line, *words):  # every problem as file:line, in the words of the collector's parser
        return any(l.startswith(f"{bad}:{line}: ") and all(w in l for w in words) for l in p.stderr.splitlines())
    assert problem(3, "backend", "'mysql'"), p.stderr
    assert problem(3, "unknown key 'pathh'"), p.stderr
    assert problem(4, "'workers' must be"), p.stderr
    syntax = tmp_path / "syntax.conf"
    syntax.write_text('listen = [ "127.0.0.1:8443" ];\nstorage = { backend = ; };\n')
    p = ctl("check-config", syntax, check=False)
    assert p.returncode == 1 and f"{syntax}:2:" in p.stderr, p.stderr
    # a token others may read is not trusted
    os.chmod(tmp_path / "token", 0o644)
    p = ctl("check-config", conf, check=False)
    assert p.returncode == 1 and str(tmp_path / "token") in p.stderr, p.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the key is given to another group")
def test_check_config_as_root_reads_the_collectors_group_files(tmp_path):
    """The server key as init-ca makes it on a server, root:mamori-collector
    0640: root's check-config accepts it as mamori-collectord does (with egid
    0 the trusted-file check refused it)."""
    group = next(g for g in ("nogroup", "nobody", "daemon") if _has_group(g))
    conf = write_conf(tmp_path, tmp_path / "c.db")
    key = tmp_path / "tls" / "server.key"
    os.chown(key, 0, grp.getgrnam(group).gr_gid)
    os.chmod(key, 0o640)
    env = dict(os.environ, MAMORI_COLLECTOR_GROUP=group)
    p = subprocess.run([CTL, "check-config", str(conf)], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0 and p.stdout.strip() == f"{conf}: OK", p.stderr
    # another group than the collector's is still refused
    env["MAMORI_COLLECTOR_GROUP"] = "no-such-group-of-mamori"
    p = subprocess.run([CTL, "check-config", str(conf)], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 1 and str(key) in p.stderr, p.stderr


def _has_group(name):
    try:
        return grp.getgrnam(name).gr_gid != 0
    except KeyError:
        return False


# ---- export ----

def event(seq, kind="usb.blocked", severity="high", product="Ultra", message="blocked", user="tanaka",
          time_="2026-11-22T00:26:05.669700Z", mid=MID):
    return {"id": str(uuid.uuid4()), "seq": seq, "time": time_, "kind": kind, "severity": severity,
            "host": {"name": "pc-01", "machine_id": mid},
            "agent": {"name": "mamori", "version": "0.1.0", "policy_hash": "ab" * 32},
            "policy_ref": "対策基準 第3-6", "user": {"name": user}, "message": message,
            "device": {"vendor_id": "0781", "product_id": "5581", "serial": "4C53", "product": product}}


def start_collectord(tmp_path, conf):
    """mamori-collectord on conf, on a free port; returns (process, port)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf.write_text(conf.read_text().replace("127.0.0.1:18443", f"127.0.0.1:{port}"))
    proc = subprocess.Popen([COLLECTORD, "-c", str(conf)], env=dict(os.environ, STATE_DIRECTORY=str(tmp_path)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("mamori-collectord did not listen within 20 s")


def fill(tmp_path, events, stored=None):
    """Stores events (stored: how many the collector must call new) and
    returns collector.conf naming the database."""
    db = tmp_path / "collector.db"
    if STUB:
        db.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
        return write_conf(tmp_path, db)
    ca_dir = tmp_path / "tls"
    conf = write_conf(tmp_path, db)
    proc, port = start_collectord(tmp_path, conf)
    try:
        ctx = ssl.create_default_context(cafile=str(ca_dir / "clients-ca.crt"))
        body = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode()
        req = urllib.request.Request(f"https://127.0.0.1:{port}/v1/events", data=body, method="POST",
                                     headers={"Content-Type": "application/x-ndjson",
                                              "Authorization": "Bearer s3cret-token-for-the-test"})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            answer = json.load(r)
        assert answer["stored"] == (len(events) if stored is None else stored), answer
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return conf


HOSTILE = [
    ("=HYPERLINK(\"http://evil.example/\",\"click\")", "'=HYPERLINK"),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd"),
    ("-2+3", "'-2+3"),
    ("@SUM(1,2)", "'@SUM(1,2)"),
    ("Ultra, \"Fit\"\nline two", None),
    ("普通の USB メモリ", None),
]


def export_csv(conf, *extra):
    out = ctl("export", "--since", "2026-11-01T00:00:00Z", "--format", "csv", *extra, conf=conf).stdout
    return out


def test_export_csv_quoting_and_formula_defense(tmp_path):
    events = [event(i + 1, product=p, message=p) for i, (p, _) in enumerate(HOSTILE)]
    conf = fill(tmp_path, events)
    out = export_csv(conf)
    rows = list(csv.reader(io.StringIO(out, newline="")))
    header, rows = rows[0], rows[1:]
    assert header[:5] == ["time", "kind", "severity", "host.name", "host.machine_id"], header
    assert len(rows) == len(HOSTILE), out
    col = {n: i for i, n in enumerate(header)}
    for row, (product, shown) in zip(rows, HOSTILE):
        for name in ("device.product", "message"):
            cell = row[col[name]]
            if shown:
                # the apostrophe makes it text; what follows is the whole value, unchanged
                assert cell == "'" + product, (cell, product)
            else:
                assert cell == product, (cell, product)
        assert row[col["host.machine_id"]] == MID and row[col["seq"]].isdigit()
        assert row[col["user.name"]] == "tanaka" and row[col["policy_ref"]] == "対策基準 第3-6"
    # RFC 4180: CRLF between records, the embedded newline kept inside its quotes
    assert out.count("\r\n") == len(HOSTILE) + 1
    # no raw cell starts with a formula character, in any column
    for line in out.split("\r\n"):
        for c in ("=", "+", "-", "@"):
            assert not line.startswith(c) and f",{c}" not in line, line


def test_export_ndjson_is_what_was_stored(tmp_path):
    events = [event(i + 1, product=p) for i, (p, _) in enumerate(HOSTILE)]
    conf = fill(tmp_path, events)
    out = ctl("export", "--since", "3650d", "--format", "ndjson", conf=conf).stdout
    got = [json.loads(l) for l in out.splitlines()]
    assert [e["id"] for e in got if e["kind"] == "usb.blocked"] == [e["id"] for e in events]
    assert [e["device"]["product"] for e in got if e["kind"] == "usb.blocked"] == [p for p, _ in HOSTILE]


def test_export_since_until_and_usage(tmp_path):
    events = [event(1, time_="2026-11-20T00:00:00Z"), event(2, time_="2026-11-21T00:00:00Z"),
              event(3, time_="2026-11-22T00:00:00Z")]
    conf = fill(tmp_path, events)
    out = ctl("export", "--since", "2026-11-21T09:00:00+09:00", "--until", "2026-11-22T00:00:00Z",
              "--format", "ndjson", conf=conf).stdout
    assert [json.loads(l)["seq"] for l in out.splitlines() if '"usb.blocked"' in l] == [2], out
    for bad in (["--since", "yesterday"], ["--since", "2026-11-21T00:00:00"], ["--since", "7d", "--format", "xml"],
                []):
        p = ctl("export", *bad, conf=conf, check=False)
        assert p.returncode == 2, (bad, p.stderr)
    # --out never replaces a file
    target = tmp_path / "out.csv"
    ctl("export", "--since", "3650d", "--format", "csv", "--out", target, conf=conf)
    assert target.read_text().startswith("time,kind,")
    assert ctl("export", "--since", "3650d", "--out", target, conf=conf, check=False).returncode == 1
    # a database that cannot be opened leaves no file behind
    other = tmp_path / "other"
    other.mkdir()
    broken = write_conf(other, other)  # a directory is no database
    p = ctl("export", "--since", "3650d", "--out", other / "x.csv", conf=broken, check=False)
    assert p.returncode == 1 and not (other / "x.csv").exists(), p.stderr


def test_hosts_and_findings(tmp_path):
    conf = fill(tmp_path, [event(1), event(2), event(1, mid=OTHER)])
    out = ctl("hosts", conf=conf).stdout
    assert MID in out and OTHER in out and "2 host(s)" in out, out
    out = ctl("findings", "--open", conf=conf).stdout
    assert "finding(s)" in out
    assert ctl("findings", "--bogus", conf=conf, check=False).returncode == 2


def test_status(tmp_path):
    clean = tmp_path / "clean"
    clean.mkdir()
    p = ctl("status", conf=fill(clean, [event(1), event(2)]))
    assert p.stdout.splitlines()[0] == "Hosts:     1 (0 silent, 0 stopped, 0 fail-closed)", p.stdout
    assert "Findings:  0 open\n" in p.stdout, p.stdout
    # an id used again with other content: host.tampered, critical, open
    first = event(1)
    again = dict(event(3), id=first["id"])
    events = [first, event(2), again]
    if STUB:  # the stand-in store concludes nothing: the finding as the real one writes it
        events.append(dict(event(0, kind="collector.host.tampered", severity="critical"), message="id reused"))
    p = ctl("status", conf=fill(tmp_path, events, stored=2), check=False)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "Findings:  1 open (critical 1)" in p.stdout, p.stdout
    assert "host.tampered" in ctl("findings", "--open", conf=tmp_path / "collector.conf").stdout


def test_tables_show_hostile_names_escaped(tmp_path):
    """A host name is whatever a PC (or someone with its certificate) sent:
    the tables never pass a terminal escape through."""
    e = event(1)
    e["host"]["name"] = "pc\x1b]0;owned\x07\x1b[2J-01"
    e["message"] = "\x1b[31mred\x1b[0m"
    events = [e]
    if STUB:  # a finding with a hostile message, as the stand-in store has no findings of its own
        events.append(dict(event(0, kind="collector.host.silent"), message="\x1b[2Jgone"))
    conf = fill(tmp_path, events)
    for verb in ("hosts", "findings", "status"):
        out = ctl(verb, conf=conf, check=False).stdout
        assert "\x1b" not in out and "\x07" not in out, (verb, out)
    if STUB:
        assert "pc\\x1b]0;owned\\x07\\x1b[2J-01" in ctl("hosts", conf=conf).stdout
