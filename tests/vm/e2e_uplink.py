"""Scenarios of tests/vm/test_e2e.py about the two processes of issue 11:
mamorid (root, no network) and mamori-uplink (its own user, the network).

  upgrade(t, check, old_deb, deb)  the first step instead of a fresh install:
      the one-process version (mamorid delivered itself) is installed, records
      events while the collector is down, and is upgraded to the built .deb;
      the uplink then delivers every one of them, once, and seq goes on;
  privsep(t, check)  mamorid maps no TLS library and has no IP socket, the
      uplink runs as its own user, and `systemd-analyze security` rates both
      units in the guest (printed).

Each takes the shared E2E `t` and its `check`, in the one guest boot of
test_e2e.main()."""
import collections
import json
import os
import re
import time

from vmtest import log

# as tests/systemd/test_units.py
EXPOSURE_MAX = {"mamori.service": 1.6, "mamori-uplink.service": 2.0}  # 1.6: see tests/systemd
# TLS, crypto, HTTP and the uplink's netlink library
TLS_LIBS = ("libssl", "libcrypto", "libcurl", "libnghttp", "libnl-", "libgnutls")


def received_lines(t):
    """Every event line the collector accepted, in order (duplicates kept)."""
    out = []
    try:
        with open(os.path.join(t.share, "received.jsonl"), "rb") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return out


# Is anyone listening on the collector's port? (the guest may have no ss)
LISTENING = ("python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(2); "
             "sys.exit(s.connect_ex((\"127.0.0.1\", %d)) != 0)'")
# The IP sockets a process holds: its socket inodes found in /proc/net/{tcp,udp,raw}{,6}
IP_SOCKETS = r"""python3 - %s <<'PY'
import os, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir("/proc/%%s/fd" %% pid):
    try:
        link = os.readlink("/proc/%%s/fd/%%s" %% (pid, fd))
    except OSError:
        continue
    if link.startswith("socket:["):
        inodes.add(link[8:-1])
found = []
for t in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite", "udplite6"):
    try:
        lines = open("/proc/%%s/net/%%s" %% (pid, t)).read().splitlines()[1:]
    except OSError:
        continue
    for l in lines:
        f = l.split()
        if len(f) > 9 and f[9] in inodes:
            found.append("%%s %%s" %% (t, l.strip()))
print("SOCKETS=%%d IP=%%d" %% (len(inodes), len(found)))
print("\n".join(found))
PY"""


def give_key_to_uplink(t):
    """The administrator's step that the upgrade asks for: the client key
    readable by mamori-uplink (root:mamori-uplink 0640), its directory
    searchable by it."""
    return t.g("chgrp mamori-uplink /etc/mamori/vmtest /etc/mamori/vmtest/client.key && "
               "chmod 0750 /etc/mamori/vmtest && chmod 0640 /etc/mamori/vmtest/client.key")


def upgrade(t, check, old_deb, deb):
    from test_e2e import COLLECTOR_PORT  # (test_e2e imports this module)
    listening = LISTENING % COLLECTOR_PORT
    t0 = time.monotonic()
    print("--- upgrade: the one-process version records events while the collector is down", flush=True)
    # the old package, set up as before: collector configured but not running
    t.install(old_deb, collector_up=False, what="the one-process package")
    rc, out, _ = t.g("systemctl restart mamori.service && systemctl restart mamori.service && "
                     "systemctl is-active mamori.service; systemctl is-active vmtest-collector.service; "
                     "test -e /lib/systemd/system/mamori-uplink.service && echo HAS-UPLINK; "
                     "%s || echo COLLECTOR-DOWN" % listening)
    check("upgrade: the old version runs, no uplink unit, the collector is down",
          out.split()[:2] == ["active", "inactive"] and "HAS-UPLINK" not in out and "COLLECTOR-DOWN" in out, out)
    end = time.monotonic() + 60
    while len([e for e in t.events() if e["kind"] == "agent.started"]) < 3 and time.monotonic() < end:
        time.sleep(0.5)
    old = t.events()
    old_ids = {e["id"] for e in old}
    rc, status, _ = t.g("mamorictl status")
    print("      the old version's status while the collector is down:\n      " +
          status.rstrip().replace("\n", "\n      "), flush=True)
    check("upgrade: the old version recorded events offline (config change, 2 restarts), none delivered",
          len(old) >= 5 and len([e for e in old if e["kind"] == "agent.started"]) >= 3 and not received_lines(t),
          [(e["seq"], e["kind"]) for e in old])
    print("      offline before the upgrade: %d events, seq %d..%d"
          % (len(old), min(e["seq"] for e in old), max(e["seq"] for e in old)), flush=True)

    print("--- upgrade: dpkg -i the new package", flush=True)
    # as unattended-upgrades does: the administrator's mamori.conf (collector
    # added) is kept whatever changed in the shipped one, no prompt
    rc, out, err = t.g("dpkg --force-confdef --force-confold -i /mnt/host/pkg/%s 2>&1" % os.path.basename(deb),
                       timeout=300)
    print(out.rstrip(), flush=True)
    check("upgrade: dpkg -i of the new package succeeds offline", rc == 0, out + err)
    check("upgrade: the postinst names the client key the uplink cannot read, with the fix",
          "/etc/mamori/vmtest/client.key must be readable by mamori-uplink" in out
          and "chown root:mamori-uplink /etc/mamori/vmtest/client.key" in out, out)
    rc, out, _ = t.g("systemctl is-enabled mamori.service mamori-uplink.service; "
                     "systemctl is-active mamori.service mamori-uplink.service; "
                     "getent passwd mamori-uplink | cut -d: -f1,7; "
                     "stat -c '%a %U:%G %n' /var/lib/mamori /var/lib/mamori/spool /var/lib/mamori/spool/*")
    print("      " + out.rstrip().replace("\n", "\n      "), flush=True)
    lines = out.splitlines()
    check("upgrade: both units enabled and active, the user mamori-uplink exists",
          lines[:4] == ["enabled", "enabled", "active", "active"] and
          re.match(r"^mamori-uplink:/(usr/)?s?bin/(nologin|false)$", lines[4] if len(lines) > 4 else ""), out)
    spool = [l for l in lines if "/var/lib/mamori/spool/" in l]
    check("upgrade: the spool is the uplink's group's to read (2750, files 0640), never others'",
          "711 root:root /var/lib/mamori" in lines and "2750 root:mamori-uplink /var/lib/mamori/spool" in lines
          and spool and all(l.startswith("640 root:mamori-uplink ") for l in spool), out)

    # The administrator's step, then the collector comes up; flush delivers at once.
    rc, out, err = give_key_to_uplink(t)
    check("upgrade: the client key given to the uplink's group", rc == 0, out + err)
    # mamorid reads the configuration too: the key given to the uplink's
    # group must not make it refuse it (the reload reaches the uplink:
    # PropagatesReloadTo=)
    rc, out, err = t.g("systemctl reload mamori.service")
    check("upgrade: mamorid accepts the key given to the uplink's group (systemctl reload mamori)", rc == 0,
          out + err)
    rc, out, err = t.g("systemctl reload mamori-uplink.service && systemctl start vmtest-collector.service && "
                       "for i in $(seq 150); do %s && break; sleep 0.2; done; "
                       "for i in $(seq 150); do systemctl is-active -q mamori-uplink.service && "
                       "grep -q '^URL=' /run/mamori-uplink/status 2>/dev/null && break; sleep 0.2; done; "
                       "cat /run/mamori-uplink/status; mamorictl flush" % listening, timeout=120)
    print("      mamorictl flush: " + (out + err).strip(), flush=True)
    check("upgrade: mamorictl flush asks the uplink (exit 0)", rc == 0, out + err)
    end = time.monotonic() + 60
    while time.monotonic() < end and not old_ids <= {e["id"] for e in received_lines(t)}:
        time.sleep(0.5)
    dt = 60 - (end - time.monotonic())
    got = received_lines(t)
    missing = old_ids - {e["id"] for e in got}
    log("upgrade: the offline events were at the collector %.1fs after the flush" % dt)
    check("upgrade: every event recorded offline by the old version reached the collector (%d)" % len(old_ids),
          not missing, sorted(missing))
    check("upgrade: delivered at once after the flush (< 20 s, not at the next retry)", dt < 20, "%.1fs" % dt)
    counts = collections.Counter(e["id"] for e in got)
    check("upgrade: none of them twice (none was delivered before: at-least-once allows no repeat here)",
          all(counts[i] == 1 for i in old_ids), {i: n for i, n in counts.items() if n > 1})
    evs = t.events()
    seqs = [e["seq"] for e in evs]
    new_started = [e for e in evs if e["kind"] == "agent.started" and e["id"] not in old_ids]
    check("upgrade: seq goes on across the upgrade: one event per seq, no gap",
          seqs and seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs)
    check("upgrade: the new mamorid's agent.started continues the old seq",
          new_started and new_started[0]["seq"] > max(e["seq"] for e in old), new_started[:1])
    by_id = {e["id"]: e for e in got}
    check("upgrade: the delivered events are identical to the journal's",
          all(by_id[e["id"]] == e for e in old if e["id"] in by_id))
    rc, out, _ = t.g("ls /var/lib/mamori-uplink/; stat -c '%a %U %n' /var/lib/mamori-uplink/cursor")
    check("upgrade: the uplink keeps its own cursor in its state directory (0644, its user's)",
          "644 mamori-uplink /var/lib/mamori-uplink/cursor" in out, out)
    log("upgrade scenario took %.1fs" % (time.monotonic() - t0))


def pid_of(t, unit):
    rc, out, _ = t.g("systemctl show -P MainPID %s" % unit)
    return out.strip()


def privsep(t, check, when):
    c = check
    mp, up = pid_of(t, "mamori.service"), pid_of(t, "mamori-uplink.service")
    c("%s: mamorid and mamori-uplink are running" % when, mp not in ("", "0") and up not in ("", "0"), (mp, up))
    rc, out, _ = t.g("cat /proc/%s/maps" % mp)
    libs = sorted({l.split()[-1] for l in out.splitlines() if ".so" in l})
    bad = [l for l in libs if any(x in os.path.basename(l) for x in TLS_LIBS)]
    c("%s: mamorid's /proc/PID/maps has no libssl, libcrypto, libcurl, libnghttp2 (nor libnl)" % when,
      out and not bad, bad or out[:300])
    print("      mamorid maps: %s" % " ".join(os.path.basename(l) for l in libs), flush=True)
    # the same check sees them where they are: in the uplink
    rc, out, _ = t.g("cat /proc/%s/maps" % up)
    c("%s: the check above can see TLS: mamori-uplink maps libcurl and libssl" % when,
      "libcurl" in out and "libssl" in out, out[:300])
    rc, out, _ = t.g(IP_SOCKETS % mp)
    c("%s: mamorid holds no IP socket (its socket inodes are in no /proc/PID/net/{tcp,udp,raw}*)" % when,
      re.search(r"^SOCKETS=[1-9]\d* IP=0$", out, re.M), out)
    rc, out, _ = t.g(IP_SOCKETS % up)
    print("      the same count for mamori-uplink (a connection to the collector, if one is open): %s"
          % out.strip().splitlines()[:1], flush=True)
    rc, out, _ = t.g("ps -o user:32=,group:32=,comm= -p %s; grep -E '^(Cap(Eff|Prm|Bnd)|NoNewPrivs)' /proc/%s/status"
                     % (up, up))
    c("%s: mamori-uplink runs as its own user, no capability" % when,
      out.split()[:3] == ["mamori-uplink", "mamori-uplink", "mamori-uplink"]
      and re.search(r"CapEff:\s+0+\n", out) and re.search(r"CapBnd:\s+0+\n", out), out)
    rc, out, _ = t.g("grep -E '^Cap(Eff|Bnd)' /proc/%s/status" % mp)
    c("%s: mamorid (root) has no capability at all" % when,
      re.search(r"CapEff:\s+0+\n", out + "\n") and re.search(r"CapBnd:\s+0+\n", out + "\n"), out)
    rc, out, _ = t.g("systemd-analyze security --no-pager mamori.service mamori-uplink.service 2>&1 | "
                     "grep -E 'Overall exposure|✗'", timeout=120)
    print("      " + out.rstrip().replace("\n", "\n      "), flush=True)
    for unit, limit in EXPOSURE_MAX.items():
        m = re.search(r"Overall exposure level for %s: (\d+(?:\.\d+)?)" % re.escape(unit), out)
        print("SECURITY EXPOSURE in the guest %s: %s" % (unit, m.group(1) if m else "?"), flush=True)
        c("%s: systemd-analyze security in the guest rates %s at or below %.1f" % (when, unit, limit),
          m and float(m.group(1)) <= limit, out)
    rc, out, _ = t.g("mamorictl status")
    print("      " + out.rstrip().replace("\n", "\n      "), flush=True)
