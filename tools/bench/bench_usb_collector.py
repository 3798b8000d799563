#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench-usb as in service: mamorid delivers its events to a collector
(tests/integration/collector.py over mutual TLS on 127.0.0.1), so the spool
drains while the plugs go on. Without a collector every event stays in the
spool, and the spool's index (16 bytes per unsent event, bounded by
spool.max_size_mb) shows up as memory growth; with one, growth is what
mamorid itself keeps. Prints bench-usb's figures and what the collector got.

    sudo tools/bench/bench_usb_collector.py [--build build] [-- bench-usb options]
"""
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(top, "build"))
    ap.add_argument("rest", nargs="*", help="options for bench-usb (after --)")
    args = ap.parse_args()

    d = tempfile.mkdtemp(prefix="mamori-bench-usb-")
    os.chmod(d, 0o755)
    pki = make_pki(os.path.join(d, "pki"))
    record = os.path.join(d, "received.jsonl")
    port = 19000 + os.getpid() % 1000
    coll = subprocess.Popen([sys.executable, os.path.join(top, "tests", "integration", "collector.py"), pki["dir"],
                             str(port), record], stdout=subprocess.PIPE, text=True)
    extra = os.path.join(d, "collector.conf")
    with open(extra, "w") as f:
        f.write(f'collector = {{ url = "https://127.0.0.1:{port}/v1/events"; ca_file = "{pki["ca"]}";\n'
                f'  client_cert = "{pki["client_cert"]}"; client_key = "{pki["client_key"]}"; }};\n')
    try:
        assert coll.stdout.readline().startswith("listening")
        bench = os.path.join(args.build, "tools", "bench", "bench-usb")
        r = subprocess.run(["umockdev-wrapper", bench, "--conf-extra", extra] + args.rest)
        time.sleep(0.5)  # the last batch's lines reach the record file
    finally:
        coll.terminate()
        coll.wait()

    kinds, ids, n = {}, set(), 0
    with open(record) as f:
        for line in f:
            e = json.loads(line)
            n += 1
            if e["id"] in ids:
                continue
            ids.add(e["id"])
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    print(f"\ncollector: {n} events received, {len(ids)} unique: "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    shutil.rmtree(d, ignore_errors=True)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
