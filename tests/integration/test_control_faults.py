# SPDX-License-Identifier: MIT
"""The control socket's clients that misbehave after connecting: one that
never asks, one that never closes after its reply, one that keeps sending
after it (agent/control/control.c: the request and drain timeouts, the drain cap)."""
import os
import select
import socket
import time

from mamori_testlib import wait_for

REQUEST_TIMEOUT = 5  # CONTROL_REQUEST_TIMEOUT_USEC
DRAIN_TIMEOUT = 2    # CONTROL_DRAIN_TIMEOUT_USEC
DRAIN_MAX = 64 * 1024  # CONTROL_DRAIN_MAX


def connect(agent):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(agent.runtime, "control"))
    return s


def read_to_eof(s, timeout):
    """Everything the daemon sends until its EOF; fails past the deadline."""
    deadline = time.monotonic() + timeout
    out = b""
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no EOF from mamorid within {timeout}s (got {len(out)} bytes)"
        r, _, _ = select.select([s], [], [], left)
        if r:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def wait_hangup(s, timeout):
    """Seconds until the daemon has closed its end entirely (POLLHUP on a
    unix stream socket: both directions shut), or fails past the deadline."""
    p = select.poll()
    p.register(s, select.POLLHUP | select.POLLRDHUP)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        for _, ev in p.poll(max(1, int((timeout - (time.monotonic() - t0)) * 1000))):
            if ev & select.POLLHUP:
                return time.monotonic() - t0
        time.sleep(0.02)  # POLLRDHUP (its EOF) is set already: poll only the HUP
    raise AssertionError(f"mamorid did not close the connection within {timeout}s")


def test_a_client_that_never_asks_is_closed_after_the_request_timeout(bed, make_agent):
    a = make_agent().start()
    s = connect(a)
    try:
        t0 = time.monotonic()
        assert read_to_eof(s, REQUEST_TIMEOUT + 5) == b""  # nothing, then the close
        took = time.monotonic() - t0
        assert REQUEST_TIMEOUT - 0.5 <= took <= REQUEST_TIMEOUT + 3, took
        wait_for(lambda: "sent no request in time" in a.log(), 5, what="the idle client in the log")
    finally:
        s.close()


def test_a_client_that_never_closes_after_its_reply_is_closed_after_the_drain_timeout(bed, make_agent):
    a = make_agent().start()
    s = connect(a)
    try:
        s.sendall(b"status\n")
        reply = read_to_eof(s, 10)  # the whole reply, then mamorid's SHUT_WR
        assert b'"pid"' in reply
        took = wait_hangup(s, DRAIN_TIMEOUT + 5)  # we neither send nor close
        assert DRAIN_TIMEOUT - 0.5 <= took <= DRAIN_TIMEOUT + 3, took
        wait_for(lambda: "did not close in 2s after its reply" in a.log(), 5, what="the drain timeout in the log")
    finally:
        s.close()


def test_a_client_that_sends_more_than_64k_after_its_reply_is_dropped(bed, make_agent):
    a = make_agent().start()
    s = connect(a)
    try:
        s.sendall(b"status\n")
        assert b'"pid"' in read_to_eof(s, 10)
        # Keep sending: mamorid reads and drops it, up to 64 KiB, then closes,
        # well before the drain timeout would.
        s.settimeout(DRAIN_TIMEOUT + 3)
        sent, t0, chunk = 0, time.monotonic(), b"x" * 4096
        try:
            while time.monotonic() - t0 < DRAIN_TIMEOUT + 3:
                sent += s.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        took = time.monotonic() - t0
        assert sent > DRAIN_MAX, sent
        assert took < DRAIN_TIMEOUT - 0.5, f"closed after {took:.2f}s: the drain timeout, not the cap"
        wait_for(lambda: "sent more than 65536 bytes after its reply" in a.log(), 5, what="the cap in the log")
    finally:
        s.close()
    # and the socket serves the next client
    s = connect(a)
    try:
        s.sendall(b"status\n")
        assert b'"pid"' in read_to_eof(s, 10)
    finally:
        s.close()
