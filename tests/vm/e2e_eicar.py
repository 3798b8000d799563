"""vm test: an EICAR file found by the real clamav-daemon isolates the guest
(issue 15 item 5, second bullet).

Run by test_e2e.py after the optical scenario, on its shared guest, with
clamav-daemon, clamdscan, iproute2 and apparmor in the image (prepare.sh).

The guest has no network device (tests/vm/README.md), so "the outside" is a
network namespace inside the guest joined by a veth pair: real kernel
routing, and mamori's policy rules in the guest's own namespace decide.
10.213.0.2 is a host outside, 10.213.0.3 the address quarantine.allow keeps
(the collector's stand-in; the real vmtest collector is on the guest's
loopback, which the rules never cut, and must receive the events).

The guest cannot fetch ClamAV's database: the test writes one at test time
with the EICAR signature only (a .hdb line: the md5 and size of the EICAR
file, computed here) and starts clamd on it. clamd.conf gets the VirusEvent
line. clamonacc (on-access, fanotify and inotify) runs with the lines of ONACC in
clamd.conf: the seat user writing the file into its home is enough, no scan
request. The time from the write's end to av.detection is measured. If
clamonacc cannot run (not installed, no fanotify), the test says so loudly
and falls back to asking clamd itself (clamdscan's SCAN request on clamd's
socket, timed: the finding lies between the request and the answer).

  * before: both addresses answer; a TCP connection to each is held open;
  * the seat user writes EICAR to its home; clamonacc has clamd scan it, clamd
    reports it FOUND;
  * av.detection (engine clamav, Eicar-Test-Signature, the path, not
    removable) within a second of clamd's finding; net.quarantined;
  * the outside address: the held connection is cut and a new connect() fails
    at once (EACCES) within a second of the detection; the allowed address
    still connects and its held connection stays open;
  * the collector on the loopback has av.detection and net.quarantined;
  * mamorictl quarantine release --reason brings the outside back.

AppArmor: Debian's clamd profile (enforcing) lets clamd neither run /bin/sh
(VirusEvent goes through "sh -c") nor the helper, nor send to mamorid's
socket. The test first tries as shipped; when no av.detection comes and the
kernel logged denials for clamd, it adds policy/apparmor-clamd-mamori (the
lines mamori ships as an example for /etc/apparmor.d/local/usr.sbin.clamd),
reloads the profile and scans again, and says which of the two it was."""
import hashlib
import os
import time

EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
OUTSIDE = "10.213.0.2"
ALLOWED = "10.213.0.3"
PORT = 7070
USER = "vmseat"
FILE = "/home/%s/vmtest-eicar.com" % USER  # below clamonacc's OnAccessIncludePath
SIG = "Eicar-Test-Signature"
SIGS = (SIG, SIG + ".UNOFFICIAL")  # clamd marks a signature of an unsigned database
HERE = os.path.dirname(os.path.abspath(__file__))
APPARMOR_LOCAL = os.path.join(HERE, "..", "..", "policy", "apparmor-clamd-mamori")

# Runs in the guest: a listener (in the outside namespace), one connect, a held
# connection, a watcher that notes when connect() starts to fail.
NET_PY = r'''
import errno, socket, sys, threading, time

def echo(c):
    try:
        while True:
            d = c.recv(4096)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()

def connect(addr, timeout=2.0):
    s = socket.socket()
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((addr, %d))
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise OSError(errno.EPROTO, "no echo")
        return s, "ok %%.1f" %% ((time.monotonic() - t0) * 1000)
    except OSError as e:
        s.close()
        return None, "err %%s %%.1f" %% (errno.errorcode.get(e.errno, e.errno), (time.monotonic() - t0) * 1000)

def out(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")

mode = sys.argv[1]
if mode == "listen":
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", %d))
    ls.listen(64)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()
elif mode == "connect":
    s, r = connect(sys.argv[2])
    print(r)
elif mode == "hold":
    s, r = connect(sys.argv[2])
    out(sys.argv[3], "open" if s else r)
    if s:
        s.settimeout(None)
        try:
            d = s.recv(1)
            r = "eof"
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno))
        out(sys.argv[3], "cut %%s %%.6f" %% (r, time.time()))
elif mode == "scan":
    # clamdscan's request on clamd's socket, timed: the finding lies between
    # the request sent and the answer (a 68-byte file takes clamd a few ms)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    sock = "/run/clamav/clamd.ctl"
    for line in open("/etc/clamav/clamd.conf"):
        if line.startswith("LocalSocket "):
            sock = line.split()[1]
    s.connect(sock)
    t0 = time.time()
    s.sendall(b"zSCAN " + sys.argv[2].encode() + b"\0")
    r = b""
    while not r.endswith(b"\0"):
        d = s.recv(4096)
        if not d:
            break
        r += d
    t1 = time.time()
    print("%%.6f" %% t0)
    print(r.rstrip(b"\0").decode(errors="replace"))
    print("%%.6f" %% t1)
elif mode == "watch":
    end = time.monotonic() + 300
    out(sys.argv[3], "watching")
    while time.monotonic() < end:
        s = socket.socket()
        s.settimeout(1.0)
        try:
            s.connect((sys.argv[2], %d))
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EPERM, errno.ENETUNREACH):
                out(sys.argv[3], "prohibited %%s %%.6f" %% (errno.errorcode[e.errno], time.time()))
                break
        finally:
            s.close()
        time.sleep(0.005)
''' % (PORT, PORT, PORT)

QUARANTINE_CONF = """
# added by tests/vm/e2e_eicar.py
quarantine = {
  on = [ "av.detection" ];
  allow = [ "%s/32" ];
};
""" % ALLOWED

NETNS = """
set -e
ip netns add vmout
ip link add mq0 type veth peer name mq1
ip link set mq1 netns vmout
ip addr add 10.213.0.1/24 dev mq0
ip link set mq0 up
ip -n vmout addr add %s/24 dev mq1
ip -n vmout addr add %s/24 dev mq1
ip -n vmout link set mq1 up
ip -n vmout link set lo up
ip netns exec vmout setsid python3 /mnt/host/eicar-net.py listen </dev/null >/run/vmtest-listen.log 2>&1 &
echo $! >>/run/vmtest-eicar.pids
""" % (OUTSIDE, ALLOWED)

CLAMD = """
set -e
install -o clamav -g clamav -m 0644 /mnt/host/eicar.hdb /var/lib/clamav/vmtest-eicar.hdb
test -f /etc/clamav/clamd.conf
grep -q '^VirusEvent ' /etc/clamav/clamd.conf || echo 'VirusEvent /usr/libexec/mamori/mamori-av-report' >>/etc/clamav/clamd.conf
grep -q '^OnAccessIncludePath ' /etc/clamav/clamd.conf || cat /mnt/host/clamd-onacc.conf >>/etc/clamav/clamd.conf
mkdir -p /run/systemd/system/clamav-daemon.service.d
# Debian's unit wants main and daily databases from freshclam: this one has neither
printf '[Unit]\\nConditionPathExistsGlob=\\n' >/run/systemd/system/clamav-daemon.service.d/vmtest.conf
systemctl daemon-reload
systemctl stop clamav-freshclam.service 2>/dev/null || true
systemctl restart clamav-daemon.service
for i in $(seq 240); do clamdscan --ping 1 >/dev/null 2>&1 && exit 0; sleep 0.5; done
exit 1
"""


# clamonacc: on-access scanning of /home, without blocking access
# (OnAccessPrevention no); ExtraScanning scans files also when they are
# created or moved (clamd.conf(5)), so that the write alone is enough. clamd's own user
# is excluded (its reads of the files must not trigger scans).
ONACC = """
OnAccessIncludePath /home
OnAccessExcludeUname clamav
OnAccessPrevention no
OnAccessExtraScanning yes
"""

ONACC_START = """
test -x /usr/sbin/clamonacc || { echo 'no /usr/sbin/clamonacc'; exit 1; }
test -s /run/vmtest-clamonacc.pid && kill $(cat /run/vmtest-clamonacc.pid) 2>/dev/null
rm -f /run/vmtest-clamonacc.log
setsid /usr/sbin/clamonacc -F --fdpass --log=/run/vmtest-clamonacc.log -v </dev/null >/run/vmtest-clamonacc.out 2>&1 &
echo $! >/run/vmtest-clamonacc.pid; echo $! >>/run/vmtest-eicar.pids
for i in $(seq 120); do
  grep -q "watching '/home'" /run/vmtest-clamonacc.log 2>/dev/null && grep -q 'fanotify event loop' /run/vmtest-clamonacc.log && exit 0
  kill -0 $(cat /run/vmtest-clamonacc.pid) 2>/dev/null || break
  sleep 0.5
done
cat /run/vmtest-clamonacc.out /run/vmtest-clamonacc.log; exit 1
"""


def start_clamonacc(t, c):
    t0 = time.monotonic()
    rc, out, err = t.g(ONACC_START, timeout=90)
    if rc != 0:
        print("      !!!!!! clamonacc CANNOT RUN in the guest: the test falls back to a SCAN request on clamd's "
              "socket (on-demand, not on-access)\n        " + "\n        ".join((out + err).splitlines()[-15:]),
              flush=True)
        return False
    c("eicar: clamonacc runs (fanotify and inotify on /home) (%.1f s)" % (time.monotonic() - t0), True)
    return True


def write(t):
    """The seat user writes the file; returns the guest's times before and after, and stat's output."""
    rc, out, err = t.g("rm -f %s; date +%%s.%%N; runuser -u %s -- sh -c 'cat /mnt/host/eicar.com >%s'; date +%%s.%%N; "
                       "stat -c '%%U %%a %%s' %s" % (FILE, USER, FILE, FILE))
    lines = out.split("\n")
    try:
        return float(lines[0]), float(lines[1]), "\n".join(lines[2:]) + err
    except (ValueError, IndexError):
        return 0.0, 0.0, out + err


def find(t, c, onacc, n_before, again=""):
    """The finding: by clamonacc on the write alone, or by a SCAN request."""
    if onacc:
        start, end, out = write(t)
        c("eicar: the seat user (%s) wrote the EICAR file %s%s" % (USER, FILE, again),
          out.strip() == "%s 644 %d" % (USER, len(EICAR)), out)
        det = t.wait_event("av.detection", lambda e: e["kind"] == "av.detection", timeout=10)
        log = t.g("cat /run/vmtest-clamonacc.log")[1]
        c("eicar: clamonacc had clamd scan the written file: %s FOUND, no scan request%s" % (SIG, again),
          any("%s: %s FOUND" % (FILE, x) in log for x in SIGS), log[-2000:])
        return start, end, det
    start, end, out = scan(t)
    c("eicar: clamd (SCAN on its socket, as clamdscan) reports %s FOUND%s" % (SIG, again),
      any("%s FOUND" % x in out for x in SIGS), out)
    return start, end, t.wait_event("av.detection", lambda e: e["kind"] == "av.detection", timeout=10)


def ts(e):
    """An event's time (ISO 8601, UTC, microseconds) as seconds since the epoch."""
    import datetime
    return datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def read(t, path):
    rc, out, _ = t.g("cat %s 2>/dev/null" % path)
    return out


def scan(t):
    rc, out, err = t.g("python3 /mnt/host/eicar-net.py scan %s" % FILE, timeout=120)
    lines = out.split()
    try:
        return float(lines[0]), float(lines[-1]), out + err
    except (ValueError, IndexError):
        return 0.0, 0.0, out + err


def run(t, c):
    with open(os.path.join(t.share, "eicar-net.py"), "w") as f:
        f.write(NET_PY)
    with open(os.path.join(t.share, "eicar.com"), "wb") as f:
        f.write(EICAR)
    with open(os.path.join(t.share, "clamd-onacc.conf"), "w") as f:
        f.write(ONACC)
    with open(os.path.join(t.share, "eicar.hdb"), "w") as f:
        f.write("%s:%d:%s\n" % (hashlib.md5(EICAR).hexdigest(), len(EICAR), SIG))
    rc, out, err = t.g("command -v clamd clamdscan ip")
    if not c("eicar: clamd, clamdscan and ip are in the guest", rc == 0, out + err):
        return

    # the outside
    rc, out, err = t.g(NETNS)
    c("eicar: an outside namespace behind a veth pair with %s and %s" % (OUTSIDE, ALLOWED), rc == 0, out + err)
    r = {}
    for _ in range(40):
        r = {a: t.g("python3 /mnt/host/eicar-net.py connect %s" % a)[1].strip() for a in (OUTSIDE, ALLOWED)}
        if all(v.startswith("ok") for v in r.values()):
            break
        time.sleep(0.5)
    if not c("eicar: before: the outside host and the allowed address both answer", all(
            v.startswith("ok") for v in r.values()), r):
        return

    rc, out, err = t.g("cp /etc/mamori/mamori.conf /run/vmtest-mamori.conf.orig && cat >>/etc/mamori/mamori.conf "
                       "<<'EOF'\n%s\nEOF\nsystemctl reload mamori.service && systemctl is-active mamori-netguard.service"
                       % QUARANTINE_CONF)
    c("eicar: quarantine.on av.detection, allow %s: reload accepted, netguard active" % ALLOWED, rc == 0, out + err)

    # clamd on an EICAR-only database
    t0 = time.monotonic()
    rc, out, err = t.g(CLAMD, timeout=180)
    c("eicar: clamd runs on the EICAR-only database with the VirusEvent line (%.1f s)" % (time.monotonic() - t0),
      rc == 0, out + err + t.g("journalctl -b -o cat -u clamav-daemon.service | tail -20")[1])
    rc, out, err = t.g("echo clean >/tmp/vmtest-clean.txt && chmod 644 /tmp/vmtest-clean.txt && "
                       "clamdscan --no-summary /tmp/vmtest-clean.txt")
    c("eicar: clamdscan finds a clean file clean", rc == 0 and "OK" in out, out + err)
    rc, out, _ = t.g("cat /sys/module/apparmor/parameters/enabled; "
                     "grep clamd /sys/kernel/security/apparmor/profiles || echo 'no clamd profile loaded'")
    print("      AppArmor: %s" % " / ".join(out.split("\n")), flush=True)
    enforcing = "clamd (enforce)" in out

    # the held connections and the watcher
    t.g("rm -f /run/vmtest-hold-*.out /run/vmtest-watch.out; "
        "for a in %s %s; do setsid python3 /mnt/host/eicar-net.py hold $a /run/vmtest-hold-$a.out "
        "</dev/null >/dev/null 2>&1 & echo $! >>/run/vmtest-eicar.pids; done; "
        "setsid python3 /mnt/host/eicar-net.py watch %s /run/vmtest-watch.out </dev/null >/dev/null 2>&1 & "
        "echo $! >>/run/vmtest-eicar.pids"
        % (OUTSIDE, ALLOWED, OUTSIDE), check=True)
    held = {}
    for _ in range(40):  # python's start-up on a loaded TCG guest: seconds
        held = {a: read(t, "/run/vmtest-hold-%s.out" % a) for a in (OUTSIDE, ALLOWED)}
        if all(held.values()) and "watching" in read(t, "/run/vmtest-watch.out"):
            break
        time.sleep(0.5)
    c("eicar: before: a connection to each address is held open", all(v.strip() == "open" for v in held.values()),
      held)

    # the seat user writes the file into its home, where clamonacc watches
    rc, out, err = t.g("id %s >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin %s; "
                       "install -d -m 0755 -o %s /home/%s" % (USER, USER, USER, USER))
    c("eicar: the seat user %s with a home directory" % USER, rc == 0, out + err)
    onacc = start_clamonacc(t, c)
    n_before = len([e for e in t.events() if e["kind"] == "av.detection"])
    start, end, det = find(t, c, onacc, n_before)
    apparmor_fix = False
    if len(det) <= n_before:
        rc, denials, _ = t.g("journalctl -k -b -o cat | grep 'apparmor=\"DENIED\"' | grep clamd | tail -10")
        print("      no av.detection with the profile as shipped; AppArmor denials for clamd:\n        "
              + "\n        ".join(denials.splitlines() or ["none"]), flush=True)
        if enforcing and os.path.exists(APPARMOR_LOCAL):
            with open(APPARMOR_LOCAL) as f, open(os.path.join(t.share, "apparmor-clamd-mamori"), "w") as g:
                g.write(f.read())
            rc, out, err = t.g("cat /mnt/host/apparmor-clamd-mamori >>/etc/apparmor.d/local/usr.sbin.clamd && "
                               "apparmor_parser -r /etc/apparmor.d/usr.sbin.clamd && "
                               "systemctl restart clamav-daemon.service && "
                               "for i in $(seq 240); do clamdscan --ping 1 >/dev/null 2>&1 && exit 0; sleep 0.5; "
                               "done; exit 1", timeout=180)
            c("eicar: policy/apparmor-clamd-mamori added to clamd's local profile, clamd restarted", rc == 0,
              out + err)
            apparmor_fix = True
            if onacc:
                onacc = start_clamonacc(t, c)  # (it lost clamd with the restart)
            start, end, det = find(t, c, onacc, n_before, " (again)")
    print("      AppArmor: %s" % ("clamd's profile needed policy/apparmor-clamd-mamori" if apparmor_fix else
                                  "clamd ran the helper with its profile as shipped (%s)"
                                  % ("enforcing" if enforcing else "no profile enforced")), flush=True)
    d = det[-1] if len(det) > n_before else {}
    c("eicar: av.detection: engine clamav, %s, %s, not removable" % (SIG, FILE),
      d and d.get("antivirus", {}).get("engine") == "clamav" and d["antivirus"].get("signature") in SIGS
      and d["antivirus"].get("path") == FILE and d["antivirus"].get("removable") is False, d)
    if not d:
        print("      clamd's log:\n        " + "\n        ".join(
            t.g("journalctl -b -o cat -u clamav-daemon.service | tail -15")[1].splitlines()), flush=True)
        return
    t_det = ts(d)
    if onacc:
        ms = (t_det - end) * 1000
        print("      MEASURED the seat user's write -> av.detection through clamonacc: %.0f ms after the write ended "
              "(%.0f ms after it began)" % (ms, (t_det - start) * 1000), flush=True)
        c("eicar: av.detection within a second of the write, through clamonacc (%.0f ms)" % ms,
          t_det >= start and ms < 1000, (start, end, t_det))
    else:
        ms = (t_det - start) * 1000
        print("      MEASURED clamd's finding -> av.detection: at most %.0f ms (the scan request sent -> the event; "
              "clamd answered after %.0f ms)" % (ms, (end - start) * 1000), flush=True)
        c("eicar: av.detection within a second of clamd's finding (at most %.0f ms after the request)" % ms,
          0 <= ms < 1000, (start, t_det, end))
    q = t.wait_event("net.quarantined", lambda e: e["kind"] == "net.quarantined", timeout=10)
    qq = (q[-1].get("quarantine") or {}) if q else {}
    c("eicar: net.quarantined, triggered by this av.detection",
      qq.get("trigger") == "av.detection" and qq.get("cause_event") == d["id"], q[-1:])

    # the outside is cut, the allowed address is not
    w = ""
    for _ in range(20):
        w = read(t, "/run/vmtest-watch.out")
        if "prohibited" in w:
            break
        time.sleep(0.25)
    t_rules = float(w.split()[-1]) if "prohibited" in w else None
    ms = (t_rules - t_det) * 1000 if t_rules else -1
    print("      MEASURED detection -> rules in place (first connect() refused): %.0f ms" % ms, flush=True)
    c("eicar: connect() to the outside refused within a second of av.detection (%.0f ms, %s)"
      % (ms, w.split()[1] if t_rules else "-"), t_rules is not None and ms < 1000, w)
    rc, out, _ = t.g("python3 /mnt/host/eicar-net.py connect %s; python3 /mnt/host/eicar-net.py connect %s"
                     % (OUTSIDE, ALLOWED))
    r = out.split("\n")
    c("eicar: a new connection to the outside fails at once (%s)" % r[0],
      r[0].startswith("err EACCES") and float(r[0].split()[-1]) < 100, out)
    c("eicar: a new connection to the allowed address works (%s)" % (r[1] if len(r) > 1 else ""),
      len(r) > 1 and r[1].startswith("ok"), out)
    held = {}
    for _ in range(20):
        held = {a: read(t, "/run/vmtest-hold-%s.out" % a) for a in (OUTSIDE, ALLOWED)}
        if "cut" in held[OUTSIDE]:
            break
        time.sleep(0.25)
    cut = (held[OUTSIDE].strip().splitlines() or [""])[-1].split()  # "open", then "cut ERRNO TIME"
    c("eicar: the connection held to the outside was cut (%s, %.0f ms after av.detection)"
      % (" ".join(cut[1:2]), ((float(cut[-1]) - t_det) * 1000) if "cut" in cut else -1),
      # The held connection's end is seen when the guest's reader wakes from
      # recv(): under TCG on a loaded CI host that has taken 1.03-1.2 s
      # (2026-12-04). The one-second bound on the cut is checked at the
      # kernel's own speed in network namespaces (integration-netguard,
      # integration-quarantine); here: cut, within two seconds.
      "cut" in cut and float(cut[-1]) - t_det < 2.0, held)
    c("eicar: the connection held to the allowed address is still open", held[ALLOWED].strip() == "open", held)
    rc, out, _ = t.g("mamorictl status")
    c("eicar: mamorictl status shows the quarantine", "Quarantine:   YES" in out, out)
    if t.collector:
        ids = {d["id"], q[-1]["id"] if q else None}
        got = {}
        for _ in range(60):
            got, _bad = t.received()
            if ids <= set(got):
                break
            time.sleep(0.5)
        c("eicar: the collector on the loopback received av.detection and net.quarantined", ids <= set(got),
          sorted(ids - set(got), key=str))

    # release
    rc, out, err = t.g("mamorictl quarantine release --reason 'vm test: EICAR removed, full scan clean'")
    c("eicar: mamorictl quarantine release --reason", rc == 0, out + err)
    r = ""
    for _ in range(20):
        r = t.g("python3 /mnt/host/eicar-net.py connect %s" % OUTSIDE)[1].strip()
        if r.startswith("ok"):
            break
        time.sleep(0.25)
    c("eicar: after release the outside host answers again (%s)" % r, r.startswith("ok"), r)
    rel = t.wait_event("net.quarantine_released", lambda e: e["kind"] == "net.quarantine_released", timeout=10)
    c("eicar: net.quarantine_released with the reason", rel and "EICAR removed" in str(rel[-1]), rel[-1:])

    # back to the shared guest as it was
    t.g("kill $(cat /run/vmtest-eicar.pids); rm -f /run/vmtest-eicar.pids; ip netns del vmout; ip link del mq0; rm -f %s /tmp/vmtest-clean.txt; "
        "systemctl stop clamav-daemon.service; rm -f /var/lib/clamav/vmtest-eicar.hdb; "
        "cp /run/vmtest-mamori.conf.orig /etc/mamori/mamori.conf && systemctl reload mamori.service" % FILE)
