# SPDX-License-Identifier: MIT
"""Checks bench-collector against the project's TLS test collector
(tests/integration/collector.py, mutual TLS, a CA made here): what it sent is
what it says it sent, and what it sent is the contract of docs/events.md.

    bench_collector_check.py BENCH_COLLECTOR SOURCE_DIR

The figures it prints are not checked (a loaded CI machine); the counts are:
requests and 2xx as the server saw them, every event once per 2xx, UUID v4
ids, contiguous seq per machine_id from 1, X-Mamori-Batch = first-last seq,
retries after 429/500 resend the same batch, gzip, token, one certificate
per agent."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
MID = re.compile(r"^[0-9a-f]{32}$")
KINDS = {"agent.started", "usb.blocked", "usb.allowed", "agent.heartbeat"}


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def result_of(out):
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return {k: v for k, v in (x.split("=", 1) for x in line.split()[1:])}
    fail(f"no RESULT line in:\n{out}")


def run(bench, c, *args, timeout=120):
    before = len(c.requests)
    p = subprocess.run([bench, "--url", c.url, *args], capture_output=True, text=True, timeout=timeout)
    print(p.stdout, end="")
    if p.returncode != 0:
        fail(f"bench-collector exited {p.returncode}: {p.stderr}")
    return result_of(p.stdout), c.requests[before:], p.stdout


def check_run(name, res, reqs, expect_non2xx=0):
    ok = [r for r in reqs if 200 <= (r["status"] or 0) < 300]
    if int(res["requests"]) != len(reqs):
        fail(f"{name}: client says {res['requests']} requests, the server saw {len(reqs)}")
    if int(res["requests_2xx"]) != len(ok):
        fail(f"{name}: client says {res['requests_2xx']} 2xx, the server answered {len(ok)}")
    if int(res["events_2xx_total"]) != sum(r["count"] for r in ok):
        fail(f"{name}: client says {res['events_2xx_total']} events in 2xx batches, "
             f"the server took {sum(r['count'] for r in ok)}")
    if int(res["non2xx"]) != expect_non2xx:
        fail(f"{name}: {res['non2xx']} non-2xx answers, expected {expect_non2xx}")
    by_host, ids = {}, {}
    for r in reqs:
        evs = r["events"]
        if not evs:
            fail(f"{name}: an empty batch")
        first, last = evs[0]["seq"], evs[-1]["seq"]
        hdr = {k.lower(): v for k, v in r["headers"].items()}
        if hdr.get("x-mamori-batch") != f"{first}-{last}":
            fail(f"{name}: X-Mamori-Batch {hdr.get('x-mamori-batch')} for seq {first}-{last}")
        if hdr.get("content-type") != "application/x-ndjson":
            fail(f"{name}: Content-Type {hdr.get('content-type')}")
        if len({e["host"]["machine_id"] for e in evs}) != 1:
            fail(f"{name}: one batch, several hosts")
        for e in evs:
            if not UUID4.match(e["id"]) or not TIME.match(e["time"]) or not MID.match(e["host"]["machine_id"]):
                fail(f"{name}: malformed envelope {e['id']} {e['time']} {e['host']}")
            if e["kind"] not in KINDS or e["agent"]["name"] != "mamori" or len(e["agent"]["policy_hash"]) != 64:
                fail(f"{name}: unexpected event {e['kind']}")
            if e["id"] in ids and ids[e["id"]] != e:
                fail(f"{name}: id {e['id']} reused with other content")
            ids[e["id"]] = e
        if 200 <= (r["status"] or 0) < 300:
            for e in evs:
                by_host.setdefault(e["host"]["machine_id"], set()).add(e["seq"])
    for mid, seqs in by_host.items():
        if seqs != set(range(1, max(seqs) + 1)):
            fail(f"{name}: seq of {mid} not contiguous from 1: {sorted(set(range(1, max(seqs) + 1)) - seqs)[:5]} missing")
    return by_host


def make_client_certs(pki, d, n):
    os.makedirs(d)
    for i in range(n):
        subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", f"{d}/client-{i}.key", "-out", f"{d}/client-{i}.csr", "-subj", f"/CN=bench-{i}"],
                       check=True, capture_output=True, timeout=60)
        subprocess.run(["openssl", "x509", "-req", "-in", f"{d}/client-{i}.csr", "-CA", pki["ca"], "-CAkey",
                        os.path.join(pki["dir"], "ca.key"), "-CAcreateserial", "-out", f"{d}/client-{i}.pem",
                        "-days", "2"], check=True, capture_output=True, timeout=60)


def main():
    bench, src = sys.argv[1], sys.argv[2]
    sys.path.insert(0, os.path.join(src, "tests", "integration"))
    import collector  # noqa: E402

    with tempfile.TemporaryDirectory(prefix="bench-collector-check-") as tmp:
        pki = collector.make_pki(os.path.join(tmp, "pki"))
        make_client_certs(pki, os.path.join(tmp, "certs"), 3)
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write("s3cret-token\n")
        c = collector.Collector(pki, parse=True).start()
        tls = ["--ca", pki["ca"], "--cert", pki["client_cert"], "--key", pki["client_key"]]
        try:
            # 1. sustained, shared certificate, the collector's pid sampled
            res, reqs, out = run(bench, c, *tls, "--agents", "5", "--events-per-batch", "20", "--duration", "2",
                                 "--warmup", "0", "--seed", "42", "--pid", str(os.getpid()))
            hosts = check_run("sustained", res, reqs)
            ids = subprocess.run([bench, "--seed", "42", "--print-machine-ids", "5"], capture_output=True,
                                 text=True, check=True).stdout.split()
            if set(hosts) != set(ids):
                fail(f"machine ids {sorted(hosts)} are not --print-machine-ids' {sorted(ids)}")
            if not re.search(r"collector pid \d+\n  CPU +[0-9.]+ % of one core", out):
                fail("no CPU figure for --pid")
            if float(res["events_per_s"]) <= 0 or float(res["p99_ms"]) <= 0:
                fail("no rate or latency")

            # 2. gzip, a token, one certificate per agent
            res, reqs, _ = run(bench, c, "--ca", pki["ca"], "--cert-dir", os.path.join(tmp, "certs"),
                               "--token-file", token, "--gzip", "--agents", "6", "--events-per-batch", "10",
                               "--duration", "1", "--warmup", "0")
            check_run("gzip", res, reqs)
            for r in reqs:
                hdr = {k.lower(): v for k, v in r["headers"].items()}
                if hdr.get("content-encoding") != "gzip" or hdr.get("authorization") != "Bearer s3cret-token":
                    fail(f"gzip/token headers missing: {hdr}")
            cns = {r["client_cn"] for r in reqs}
            if cns != {"bench-0", "bench-1", "bench-2"}:
                fail(f"client certificates seen: {cns}")
            per_host_cn = {}
            for r in reqs:
                per_host_cn.setdefault(r["events"][0]["host"]["machine_id"], set()).add(r["client_cn"])
            if any(len(v) != 1 for v in per_host_cn.values()):
                fail("a machine_id spoke with two certificates")

            # 3. 429 with Retry-After and a 500: the same batch again, nothing lost
            c.script((429, {"Retry-After": "1"}), 500)
            t = time.monotonic()
            res, reqs, out = run(bench, c, *tls, "--agents", "2", "--events-per-batch", "5", "--duration", "2",
                                 "--warmup", "0")
            check_run("retry", res, reqs, expect_non2xx=2)
            if "HTTP 429: 1, HTTP 500: 1" not in out:
                fail("the non-2xx answers are not counted by status")
            retried = [r for r in reqs if r["status"] in (429, 500)]
            for r in retried:
                again = [q for q in reqs if q["n"] > r["n"] and q["events"] == r["events"]]
                if not again or not 200 <= again[0]["status"] < 300:
                    fail(f"batch answered {r['status']} was not sent again as it was")
            if time.monotonic() - t < 1:
                fail("Retry-After not honoured")

            # 4. paced: 400 events/s offered by 4 agents in batches of 10 for 2 s: 80 batches
            res, reqs, out = run(bench, c, *tls, "--agents", "4", "--events-per-batch", "10", "--rate", "400",
                                 "--duration", "2", "--warmup", "0")
            check_run("paced", res, reqs)
            if not 76 <= len(reqs) <= 81 or "one batch per 0.100 s" not in out:
                fail(f"paced: {len(reqs)} requests for 80 due")

            # 5. a heartbeat fleet over 4 connections
            res, reqs, out = run(bench, c, *tls, "--heartbeats", "50", "--interval", "1", "--duration", "3",
                                 "--warmup", "0", "--max-connections", "4")
            hosts = check_run("heartbeats", res, reqs)
            if len(hosts) != 50 or not 140 <= len(reqs) <= 151:
                fail(f"heartbeats: {len(hosts)} hosts, {len(reqs)} requests (expected 50 and ~150)")
            if any(e["kind"] != "agent.heartbeat" or e["heartbeat"]["interval_sec"] != 1
                   for r in reqs for e in r["events"]):
                fail("heartbeats: not only heartbeats of interval 1")
            if "at most 4 at once" not in out:
                fail("the connection bound is not stated")
            for how in ("--resume", "--reuse"):
                res, reqs, out = run(bench, c, *tls, "--heartbeats", "20", "--interval", "1", "--duration", "1",
                                     "--warmup", "0", how)
                check_run(f"heartbeats {how}", res, reqs)
                if f"({how})" not in out or len(reqs) != 20:
                    fail(f"heartbeats {how}: {len(reqs)} requests for 20 due")
        finally:
            c.stop()
    print("bench-collector-check: OK")


if __name__ == "__main__":
    main()
