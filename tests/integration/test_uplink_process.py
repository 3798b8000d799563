# SPDX-License-Identifier: MIT
"""mamori-uplink on its own (issue 11): the real program on a spool the real
mamorid writes, against a real HTTPS collector. mamorid has no collector
here, so whatever arrives was sent by mamori-uplink: woken by inotify (no
polling timer), its status file, the flush datagram and its credential
check, a SIGHUP with a broken configuration that keeps the running one.
The two programs together in every reporting test: test_privsep.py and the
reporting suites."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from mamori_testlib import NotifiedProcess, wait_for, SANITIZER_MARKERS
from reporting_lib import check_feed, collector_conf

MAMORI_UPLINK = os.environ.get(
    "MAMORI_UPLINK", os.path.join(os.path.dirname(__file__), "../../build/agent/uplink/mamori-uplink"))
BLOCK = 'usb = { block = [ "storage", "mtp", "ptp", "tethering" ]; };\n'


class UplinkProcess(NotifiedProcess):
    """mamori-uplink with its config, state and runtime directories in a temp dir."""

    program = "mamori-uplink"

    def __init__(self, spool_dir, conf_text, user=None):
        self.dir = tempfile.mkdtemp(prefix="mamori-uplink-it-")
        os.chmod(self.dir, 0o755)
        self.etc = os.path.join(self.dir, "etc")
        os.makedirs(self.etc, mode=0o755)
        self.conf = os.path.join(self.etc, "mamori.conf")
        self.state = os.path.join(self.dir, "state")
        self.runtime = os.path.join(self.dir, "run")
        self.spool_dir = spool_dir
        self.stderr_path = os.path.join(self.dir, "uplink.log")
        self.proc = None
        self.notify = []
        self.user = user  # (uid, gid): run as that user, as the unit does (User=mamori-uplink)
        for d in (self.state, self.runtime):
            os.makedirs(d, mode=0o755)
            if user:
                os.chown(d, *user)
        self.write_conf(conf_text)

    def write_conf(self, text):
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)

    def start(self):
        self.bind_notify(os.path.join(self.dir, "notify.sock"))
        env = dict(os.environ, NOTIFY_SOCKET=self.sock_path, STATE_DIRECTORY=self.state,
                   RUNTIME_DIRECTORY=self.runtime, MAMORI_SPOOL_DIR=self.spool_dir,
                   MAMORI_LOG_TARGET="stderr", MAMORI_LOG_LEVEL="debug")
        env.pop("LD_PRELOAD", None)  # umockdev's: the uplink has no business with sysfs
        self.stderr = open(self.stderr_path, "ab")
        setpriv = []
        if self.user:
            os.chmod(self.sock_path, 0o666)
            setpriv = ["setpriv", f"--reuid={self.user[0]}", f"--regid={self.user[1]}", "--clear-groups",
                       "--inh-caps=-all", "--bounding-set=-all"]
        # UMask=0077, as the unit has it: what mamorid must read is made readable on purpose.
        self.proc = subprocess.Popen([*setpriv, MAMORI_UPLINK, "--config", self.conf], env=env,
                                     stdout=self.stderr, stderr=self.stderr, preexec_fn=lambda: os.umask(0o077))
        self.wait_notify("READY=1")
        return self

    def status(self):
        with open(os.path.join(self.runtime, "status")) as f:
            return dict(line.split("=", 1) for line in f.read().splitlines() if line and not line.startswith("#"))

    def wait_status(self, pred, what, timeout=10):
        def ok():
            try:
                return pred(self.status())
            except FileNotFoundError:
                return False
        wait_for(ok, timeout, what=f"the status file: {what}\n--- log ---\n{self.log()[-3000:]}")

    def send(self, data, uid=None):
        """A datagram to the control socket, from root or (setpriv) from uid."""
        path = os.path.join(self.runtime, "control")
        if uid is None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(data, path)
            return
        code = ("import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
                "s.sendto(sys.argv[2].encode(), sys.argv[1])")
        subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                        "/usr/bin/python3", "-c", code, path, data.decode()], check=True, timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.close_notify()
        self.stderr.close()
        rc = self.proc.returncode
        out = self.log()
        assert rc == 0, f"mamori-uplink exited with {rc}:\n{out[-3000:]}"
        assert not any(m in out for m in SANITIZER_MARKERS), out[-6000:]
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def plug(bed, serial):
    return bed.add_usb("0781", "5567", serial=serial)


def caught_up(collector):
    """The status predicate "idle, and acked what the collector has", with
    the collector read at each poll: an agent.posture recorded after the
    count was taken (its settle time) is delivered too, and a top taken once
    would never be reached (CI 2026-12-05, pass 2)."""
    def pred(s):
        feed = check_feed(collector.events())
        if s["STATE"] == "idle" and feed and int(s["ACKED_SEQ"]) == max(feed):
            pred.top, pred.status = max(feed), s  # what matched, for the checks that follow
            return True
        return False
    return pred


def test_uplink_delivers_mamorid_spool(bed, make_agent, collector, pki):
    # mamorid records, and sends nothing: no collector in its configuration.
    a = make_agent(main_conf=BLOCK).start()
    a.wait_events("agent.started")
    spool = os.path.join(a.state, "spool")
    u = UplinkProcess(spool, collector_conf(collector, pki, backoff_min="20s", backoff_max="40s"))
    try:
        u.start()
        # What waited in the spool goes at once.
        collector.wait_events(1, timeout=10)
        # New events: inotify on the spool directory wakes the uplink.
        for i in range(3):
            plug(bed, f"UP{i:04d}")
        # (agent.posture may come once more after the start: count the blocks)
        wait_for(lambda: [e["kind"] for e in collector.events()].count("usb.blocked") >= 3, 10,
                 what="the three blocks delivered")
        by_seq = check_feed(collector.events())
        top = max(by_seq)
        assert sorted(by_seq) == list(range(1, top + 1))
        assert [by_seq[s]["kind"] for s in sorted(by_seq)].count("usb.blocked") == 3
        assert collector.requests[0]["client_cn"] == "agent-0001"  # the client key was read (mTLS)
        assert collector.requests[0]["headers"]["User-Agent"].startswith("mamori-uplink/")

        # The status file, for mamorid: every 2xx written down, atomically, 0644.
        done = caught_up(collector)
        u.wait_status(done, "idle, acked what the collector has")
        top, s = done.top, done.status
        assert int(s["PID"]) == u.proc.pid
        assert s["URL"] == collector.url and int(s["EVENTS_SENT"]) == top and "LAST_ERROR" not in s
        assert int(s["LAST_SUCCESS"]) > 0 and int(s["LAST_STATUS"]) // 100 == 2
        assert os.stat(os.path.join(u.runtime, "status")).st_mode & 0o777 == 0o644
        assert not [n for n in os.listdir(u.runtime) if n.endswith(".tmp")]
        # mamorid (root without CAP_DAC_OVERRIDE) sends to the socket; the credentials decide.
        assert os.stat(os.path.join(u.runtime, "control")).st_mode & 0o777 == 0o666
        # Its own cursor, in its own state directory, readable by mamorid.
        st = os.stat(os.path.join(u.state, "cursor"))
        assert st.st_size > 0 and st.st_mode & 0o777 == 0o644

        # Flush: the collector is down, the uplink waits out a long backoff ...
        collector.stop()
        plug(bed, "UP0100")
        u.wait_status(lambda s: s["STATE"] == "waiting" and "cannot connect" in s.get("LAST_ERROR", ""),
                      "waiting after a failed attempt")
        # ... a datagram from another user, and one that is not a flush, change nothing ...
        u.send(b"flush", uid=65534)
        u.send(b"flush now")
        wait_for(lambda: u.log().count("Ignored a datagram") >= 2, 10,
                 what="both datagrams ignored\n" + u.log()[-2000:])
        assert "from uid 65534" in u.log()
        assert u.status()["STATE"] == "waiting" and "Flush asked" not in u.log()
        # ... and root's flush sends now, well before the backoff (at least 10 s) ends.
        collector.start()
        u.send(b"flush\n")
        collector.wait_events(top + 1, timeout=8)
        u.wait_status(lambda s: s["STATE"] == "idle" and "LAST_ERROR" not in s, "idle again")

        # SIGHUP with a broken configuration: refused, file:line logged, the
        # running one stays and keeps delivering.
        u.write_conf(collector_conf(collector, pki) + "collector = { oops\n")
        u.notify.clear()
        u.proc.send_signal(signal.SIGHUP)
        u.wait_notify("READY=1")
        log = u.log()
        assert "Reload refused" in log and f"{u.conf}:" in log
        plug(bed, "UP0200")
        collector.wait_events(top + 2, timeout=10)
        by_seq = check_feed(collector.events())
        assert sorted(by_seq) == list(range(1, max(by_seq) + 1))
    finally:
        u.stop()


UID = GID = 64123  # no such user needed: setpriv takes numbers


def test_uplink_as_its_own_user(bed, make_agent, collector, pki):
    """The unit's setup by hand: the uplink's own uid and gid, no capability,
    mamorid's spool readable by that group only (02750, 0640: what mamorid and
    tmpfiles make), the client key root:<gid> 0640 (trusted-file's
    TRUST_SECRET). First the spool cannot be read: a clear error in the log
    and the status, nothing lost; a SIGHUP after the fix delivers."""
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) missing")
    a = make_agent(main_conf=BLOCK).start()
    a.wait_events("agent.started")
    spool = os.path.join(a.state, "spool")
    for d in (a.dir, a.state):
        os.chmod(d, 0o711)  # search only, as StateDirectoryMode=0711
    # The collector's files where that user can reach them; the key its group's.
    tls = tempfile.mkdtemp(prefix="mamori-uplink-tls-")
    os.chmod(tls, 0o755)
    keys = {}
    for k in ("ca", "client_cert", "client_key"):
        keys[k] = shutil.copy(pki[k], tls)
        os.chmod(keys[k], 0o644)
    os.chown(keys["client_key"], 0, GID)
    os.chmod(keys["client_key"], 0o640)
    conf = collector_conf(collector, dict(pki, **keys))
    u = UplinkProcess(spool, conf, user=(UID, GID))
    try:
        u.start()
        u.wait_status(lambda s: s["STATE"] == "off" and "Permission denied" in s.get("LAST_ERROR", ""),
                      "off: the spool cannot be read")
        assert f"cannot read the spool {spool}: Permission denied" in u.status()["LAST_ERROR"]
        assert "Events stay in mamorid's spool: cannot read the spool" in u.log()
        assert collector.requests == []

        # The fix an admin (or tmpfiles) makes; SIGHUP: delivery starts.
        os.chown(spool, 0, GID)
        os.chmod(spool, 0o2750)
        for n in os.listdir(spool):
            os.chown(os.path.join(spool, n), 0, GID)
            os.chmod(os.path.join(spool, n), 0o640)
        u.proc.send_signal(signal.SIGHUP)
        collector.wait_events(1, timeout=10)
        assert collector.requests[0]["client_cn"] == "agent-0001"  # it read the key
        for i in range(2):
            plug(bed, f"US{i:04d}")
        collector.wait_events(3, timeout=10)
        done = caught_up(collector)
        u.wait_status(done, "idle, acked what the collector has")
        top = done.top
        st = os.stat(os.path.join(u.state, "cursor"))
        assert (st.st_uid, st.st_gid) == (UID, GID)
        st = os.stat(os.path.join(u.runtime, "status"))
        assert (st.st_uid, st.st_mode & 0o777) == (UID, 0o644)
        # It wrote nothing in mamorid's spool.
        assert all(os.stat(os.path.join(spool, n)).st_uid == 0 for n in os.listdir(spool))

        # Watched now: access taken away and given back wakes it (IN_ATTRIB), no SIGHUP.
        os.chmod(spool, 0o2700)
        plug(bed, "US0100")
        u.wait_status(lambda s: s["STATE"] == "off" and "Permission denied" in s.get("LAST_ERROR", ""),
                      "off again: the spool cannot be read")
        assert len(collector.unique()) == top
        os.chmod(spool, 0o2750)
        collector.wait_events(top + 1, timeout=10)
        u.wait_status(lambda s: s["STATE"] == "idle" and "LAST_ERROR" not in s, "idle again")
        assert "The spool " in u.log() and "can be read again" in u.log()
    finally:
        u.stop()
        shutil.rmtree(tls, ignore_errors=True)


def test_refused_configuration_still_delivers_with_a_sound_collector(bed, make_agent, collector, pki):
    """As mamorid: a configuration refused at start whose collector section is
    sound still delivers (the central team must hear of the broken one)."""
    a = make_agent(main_conf=BLOCK).start()
    a.wait_events("agent.started")
    broken = 'usb = { block = [ "storage", "floppy" ]; };\n'
    u = UplinkProcess(os.path.join(a.state, "spool"), collector_conf(collector, pki, usb=broken))
    try:
        u.start()
        collector.wait_events(1, timeout=10)
        log = u.log()
        assert f"{u.conf}:1:" in log and "No valid configuration" in log
        assert "delivering with them" in log
    finally:
        u.stop()
