# SPDX-License-Identifier: MIT
"""mamori-collectord's TLS session resumption (issue 12 item 10: an agent
reconnecting every 15 minutes resumes its session instead of a full
handshake) without weakening the client certificate's checks: a resumed
connection carries the certificate of its first handshake, which the
collector verifies against the CA again and reads the names from, on every
connection. CA made at test time; traffic on 127.0.0.1 only."""

import json
import socket
import ssl

import pytest

from collectord_lib import MACHINE_ID, TOKEN, collectord_factory, collectord_pki, event, ndjson

VERSIONS = {"tls1.3": ssl.TLSVersion.TLSv1_3, "tls1.2": ssl.TLSVersion.TLSv1_2}


@pytest.fixture(scope="module")
def cpki(tmp_path_factory):
    # other_client: from a CA the collector does not trust; named_client: CN the
    # machine id, DNS SAN the host name
    return collectord_pki(tmp_path_factory, "tlspki", {
        "other_client": dict(name="other-client", cn="agent-0001", ca="other-ca"),
        "named_client": dict(name="named-client", cn=MACHINE_ID, san="pc-0001"),
    })


@pytest.fixture
def daemon(tmp_path, cpki):
    yield from collectord_factory(tmp_path, cpki)


def context(c, cert="client", version="tls1.3"):
    ctx = c.context(cert)
    ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    return ctx


class Answer:
    def __init__(self, status, body, reused, session, version):
        self.status, self.body, self.reused, self.session, self.version = status, body, reused, session, version


def post(c, ctx, events, session=None):
    """One POST on a new connection, resuming session if given; the session
    to resume next (read after the answer: a TLS 1.3 ticket comes after the
    handshake). None when the handshake itself was refused."""
    body = ndjson(events)
    raw = socket.create_connection(("127.0.0.1", c.port), timeout=30)
    try:
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session)
    except (ssl.SSLError, ConnectionError, OSError):
        raw.close()
        return None
    with s:
        try:
            s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode() +
                      b"\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n" +
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (ssl.SSLError, ConnectionError, OSError):
            return None  # refused in the handshake's last flight (TLS 1.3 reports it at the first read)
        head, _, payload = out.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
        return Answer(status, payload, s.session_reused, s.session, s.version())


def stored(c):
    return sorted(e["seq"] for e in c.export_all() if not e["kind"].startswith("collector."))


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_session_resumed(daemon, version):
    c = daemon()
    ctx = context(c, version=version)
    a = post(c, ctx, [event(1)])
    assert a and a.status == 200 and not a.reused and a.session is not None, vars(a) if a else a
    assert a.version == ("TLSv1.3" if version == "tls1.3" else "TLSv1.2")
    last = a
    for seq in (2, 3):  # each heartbeat on a new connection, resuming the last session
        b = post(c, ctx, [event(seq)], session=last.session)
        assert b and b.status == 200, vars(b) if b else b
        assert b.reused, f"{version}: connection {seq} made a full handshake"
        last = b
    assert stored(c) == [1, 2, 3]


def test_restart_forgets_the_ticket_key(daemon):
    """The master key lives in memory only: after a restart an old ticket
    does not resume, and the client gets a full handshake, not an error."""
    c = daemon()
    ctx = context(c)
    a = post(c, ctx, [event(1)])
    assert a and a.status == 200
    assert post(c, ctx, [event(2)], session=a.session).reused
    c.stop()
    c.start()
    b = post(c, ctx, [event(3)], session=a.session)
    assert b and b.status == 200 and not b.reused
    assert stored(c) == [1, 2, 3]


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_resumed_connection_keeps_machine_identity(daemon, cpki, version):
    """require_name_match on a resumed session: the names come from the
    certificate the ticket carries, as on the first connection."""
    c = daemon(tls={"require_name_match": True})
    named = context(c, cpki["named_client"], version)
    # CN = the machine_id, SAN = the host name
    a = post(c, named, [event(1)])
    assert a and a.status == 200 and json.loads(a.body)["stored"] == 1, vars(a)
    b = post(c, named, [event(2), event(3, machine_id="f" * 32, host_name="pc-0001"),
                        event(4, machine_id="e" * 32, host_name="other")], session=a.session)
    assert b and b.reused and b.status == 200, vars(b) if b else b
    assert json.loads(b.body) == {"stored": 2, "duplicates": 0, "rejected": 1}, b.body
    # the default client's CN (agent-0001) names neither machine_id nor host: still refused when resumed
    plain = context(c, version=version)
    x = post(c, plain, [event(5, machine_id="d" * 32, host_name="pc-0005")])
    assert x and x.status == 422, vars(x)
    y = post(c, plain, [event(6, machine_id="d" * 32, host_name="pc-0005")], session=x.session)
    assert y and y.reused and y.status == 422, vars(y) if y else y
    assert stored(c) == [1, 2, 3]


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_foreign_ca_refused_resumed_or_not(daemon, cpki, version):
    c = daemon()
    ctx = context(c, cpki["other_client"], version)
    # the handshake completes (the certificate is requested, not required by
    # TLS) and the request is answered 403 after the collector's own check
    a = post(c, ctx, [event(1)])
    assert a and a.status == 403, vars(a) if a else a
    # the refused connection got a ticket too: resumed, it is refused the same
    b = post(c, ctx, [event(2)], session=a.session)
    assert b and b.reused and b.status == 403, vars(b) if b else b
    assert stored(c) == []


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_no_client_certificate_refused_resumed_or_not(daemon, cpki, version):
    c = daemon()
    ctx = context(c, cert=None, version=version)
    a = post(c, ctx, [event(1)])
    assert a and a.status == 403, vars(a) if a else a
    b = post(c, ctx, [event(2)], session=a.session)
    assert b and b.reused and b.status == 403, vars(b) if b else b
    # and a client with its certificate is served as before
    good = post(c, context(c, version=version), [event(3)])
    assert good and good.status == 200
    assert stored(c) == [3]
