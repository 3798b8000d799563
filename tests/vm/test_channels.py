#!/usr/bin/python3
"""Unit test of vmtest.py's QGA and QMP clients against fake agents on a unix
socket: every reply must be matched to its own request, whatever arrives late.

The regression: the guest agent of a slow TCG guest answered an early
guest-sync-delimited after the client had stopped waiting for it, and the
client took that int for the answer to guest-exec (`TypeError: 'int' object is
not subscriptable` in exec()). Needs no root, no QEMU: part of the vm suite.
"""
import base64
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmtest  # noqa: E402


class FakeAgent(threading.Thread):
    """Answers like qemu-ga: one request after the other, in order, each after
    `delay(request)` seconds; `extra(request)` is sent before the answer."""

    def __init__(self, path, delay=None, extra=None):
        super().__init__(daemon=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.delay = delay or (lambda req, n: 0)
        self.extra = extra or (lambda req, n: b"")
        self.requests = []
        self.pid = 100
        self.start()

    def answer(self, req):
        name = req.get("execute")
        args = req.get("arguments", {})
        if name == "guest-sync-delimited":
            return b"\xff" + json.dumps({"return": args["id"]}).encode() + b"\n"
        if name == "guest-exec":
            self.pid += 1
            self.argv = getattr(self, "argv", {})
            self.argv[self.pid] = [args["path"]] + args.get("arg", [])
            ret = {"pid": self.pid}
        elif name == "guest-exec-status":
            # the output names the command, so a mixed-up answer shows
            out = " ".join(self.argv[args["pid"]]).encode()
            ret = {"exited": True, "exitcode": 0, "out-data": base64.b64encode(out).decode()}
        elif name == "guest-get-time":
            ret = 1234567890
        else:
            return json.dumps({"error": {"class": "CommandNotFound", "desc": name}}).encode() + b"\n"
        return json.dumps({"return": ret}).encode() + b"\n"

    def run(self):
        # every read has a deadline: a client that never comes ends the fake, not the test
        self.srv.settimeout(60)
        try:
            conn, _ = self.srv.accept()
        except OSError:
            return
        finally:
            self.srv.close()
        conn.settimeout(60)
        with conn:
            try:
                self.serve(conn)
            except OSError:
                return

    def serve(self, conn):
        buf = b""
        n = 0
        while True:
            d = conn.recv(65536)
            if not d:
                return
            buf += d.replace(b"\xff", b"\n")
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                req = json.loads(line)
                self.requests.append(req)
                time.sleep(self.delay(req, n))
                conn.sendall(self.extra(req, n) + self.answer(req))
                n += 1


def is_sync(req):
    return req.get("execute") == "guest-sync-delimited"


class QGATest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mamori-test-channels.")
        self.path = os.path.join(self.dir, "qga.sock")
        self.clients = []

    def tearDown(self):
        for q in self.clients:
            if q.ch:
                q.ch.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self):
        q = vmtest.QGA(self.path)
        q.resync_interval = 0.2
        self.clients.append(q)
        return q

    def test_slow_agent_late_sync_reply(self):
        """The reported failure: every sync takes the agent longer than the
        client's resync interval, so the reply to the first sync arrives while a
        second one is outstanding; its reply must not be read as guest-exec's."""
        FakeAgent(self.path, delay=lambda req, n: 0.35 if is_sync(req) else 0)
        q = self.client()
        q.wait(10)
        rc, out, err = q.exec(["echo", "one"], timeout=5)
        self.assertEqual(out, "/usr/bin/timeout -k 2 5 echo one")
        rc, out, err = q.exec(["echo", "two"], timeout=5)
        self.assertEqual(out, "/usr/bin/timeout -k 2 5 echo two")
        self.assertGreaterEqual(sum(1 for r in q.dropped if isinstance(r, dict)
                                    and type(r.get("return")) is int), 1,
                                "the scenario did not produce a late sync reply")

    def test_stale_int_and_half_line_before_sync_reply(self):
        """Leftovers before the sync reply (an int answer to an older sync, a half
        reply of an agent that died mid-write) are dropped."""
        FakeAgent(self.path, extra=lambda req, n: (b'{"return": 424242}\n{"return": {"pi'
                                                   if is_sync(req) else b""))
        q = self.client()
        q.wait(10)
        self.assertEqual(q.cmd("guest-get-time"), 1234567890)
        rc, out, err = q.exec(["true"], timeout=5)
        self.assertEqual((rc, out), (0, "/usr/bin/timeout -k 2 5 true"))
        self.assertIn({"return": 424242}, q.dropped)

    def test_timed_out_command_resyncs(self):
        """A command that timed out gets its answer late; the next command must
        not read it: it syncs again first."""
        FakeAgent(self.path, delay=lambda req, n: 0.6 if req.get("execute") == "guest-get-time" else 0)
        q = self.client()
        q.wait(10)
        with self.assertRaises(vmtest.Timeout):
            q.cmd("guest-get-time", timeout=0.2)
        rc, out, err = q.exec(["echo", "after"], timeout=5)
        self.assertEqual(out, "/usr/bin/timeout -k 2 5 echo after")
        self.assertIn({"return": 1234567890}, q.dropped)

    def test_error_answer_keeps_step(self):
        """An error is the command's answer: no resync needed after it."""
        agent = FakeAgent(self.path)
        q = self.client()
        q.wait(10)
        with self.assertRaises(vmtest.VMError):
            q.cmd("guest-no-such-command")
        self.assertEqual(q.cmd("guest-get-time"), 1234567890)
        self.assertEqual(sum(1 for r in agent.requests if is_sync(r)), 1)

    def test_agent_not_up_yet(self):
        """Syncs sent before the agent reads its port (lost) are repeated."""
        lost = []
        FakeAgent(self.path, extra=lambda req, n: b"", delay=lambda req, n: 0)
        q = self.client()
        # the first two syncs vanish: the agent reads but never answers them
        real_send = vmtest.JsonChannel.send

        def send(ch, obj, prefix=b""):
            if obj.get("execute") == "guest-sync-delimited" and len(lost) < 2:
                lost.append(obj)
                return
            real_send(ch, obj, prefix)
        vmtest.JsonChannel.send = send
        try:
            q.wait(10)
        finally:
            vmtest.JsonChannel.send = real_send
        self.assertEqual(len(lost), 2)
        self.assertEqual(q.cmd("guest-get-time"), 1234567890)


class FakeQMP(threading.Thread):
    """Greets, then answers each command with an event and a stale reply (another
    id) before its own reply."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.start()

    def run(self):
        # every read has a deadline: a client that never comes ends the fake, not the test
        self.srv.settimeout(60)
        try:
            conn, _ = self.srv.accept()
        except OSError:
            return
        finally:
            self.srv.close()
        conn.settimeout(60)
        with conn:
            try:
                self.serve(conn)
            except OSError:
                return

    def serve(self, conn):
        conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\n')
        buf = b""
        while True:
            d = conn.recv(65536)
            if not d:
                return
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                out = [{"event": "DEVICE_DELETED", "data": {"device": "x"}},
                       {"return": "stale", "id": "someone-else"}]
                if req["execute"] == "query-name":
                    out.append({"return": {"name": req["id"]}, "id": req["id"]})
                else:
                    out.append({"return": {}, "id": req["id"]})
                conn.sendall(b"".join(json.dumps(o).encode() + b"\n" for o in out))


class QMPTest(unittest.TestCase):
    def test_reply_matched_by_id(self):
        d = tempfile.mkdtemp(prefix="mamori-test-channels.")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "qmp.sock")
        FakeQMP(path)
        q = vmtest.QMP(path)
        self.addCleanup(q.ch.close)
        r = q.cmd("query-name")
        self.assertTrue(r["name"].startswith("mamori-"))
        self.assertEqual(q.cmd("query-name")["name"], "mamori-%d" % (q.next_id - 1))
        q.wait_event("DEVICE_DELETED", timeout=1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
