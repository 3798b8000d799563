#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Benchmark of the spool and the uplink: 100,000 events recorded through
mamorid's own code (tools/bench/bench-reporting.c) and drained over mTLS, by
mamori-uplink's code reading the spool read-only in the same process, to
the local test collector (tests/integration/collector.py), which checks what
it received. Prints figures; not a test.

    tools/bench/reporting_bench.py [--build build] [--events 100000] [--burst 1000] [--gzip] [--parse]

The spool goes to a directory under /var/tmp (a real disk, like /var/lib)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

top = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(top, "tests", "integration"))
from collector import make_pki  # noqa: E402


def cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(top, "build"))
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--single", type=int, default=200)
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--parse", action="store_true", help="the collector parses every line as it arrives (as a SIEM would)")
    args = ap.parse_args()

    exe = os.path.join(args.build, "tools", "bench", "mamori-bench-reporting")
    d = tempfile.mkdtemp(prefix="mamori-bench-", dir="/var/tmp")
    pki = make_pki(os.path.join(d, "pki"))
    record = os.path.join(d, "received.jsonl")
    port = 18000 + os.getpid() % 1000
    coll = subprocess.Popen([sys.executable, os.path.join(top, "tests", "integration", "collector.py"), pki["dir"],
                             str(port), record] + (["--parse"] if args.parse else []), stdout=subprocess.PIPE, text=True)
    try:
        assert coll.stdout.readline().startswith("listening")
        cmd = [exe, "--dir", os.path.join(d, "state"), "--url", f"https://127.0.0.1:{port}/v1/events",
               "--ca", pki["ca"], "--cert", pki["client_cert"], "--key", pki["client_key"],
               "--events", str(args.events), "--burst", str(args.burst), "--single", str(args.single)]
        if args.gzip:
            cmd.append("--gzip")
        print("$", " ".join(cmd[:1] + ["..."] + cmd[-6:]), flush=True)
        t0 = time.monotonic()
        r = subprocess.run(cmd)
        wall = time.monotonic() - t0
        ccpu = cpu_of(coll.pid)
    finally:
        coll.terminate()
        coll.wait()

    # What the collector received: every event once, seq contiguous.
    ids, seqs, n = set(), [], 0
    with open(record) as f:
        for line in f:
            e = json.loads(line)
            n += 1
            if e["id"] not in ids:
                ids.add(e["id"])
                seqs.append(e["seq"])
    seqs.sort()
    want = args.events + args.single
    ok = len(ids) == want and seqs == list(range(seqs[0], seqs[0] + want))
    print(f"collector: {n} events received, {len(ids)} unique, seq {seqs[0]}..{seqs[-1]} "
          f"{'contiguous' if ok else 'NOT as expected'}; the collector (Python) used {ccpu:.2f} CPU s; "
          f"bench wall time {wall:.1f}s")
    if not args.keep:
        shutil.rmtree(d, ignore_errors=True)
    return 0 if r.returncode == 0 and ok else 1


if __name__ == "__main__":
    sys.exit(main())
