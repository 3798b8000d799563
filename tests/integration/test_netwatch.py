# SPDX-License-Identifier: MIT
"""Network awareness in a network namespace of our own (unshare -n): the
collector is unreachable and the agent backs off for a long time; when a
link gets its carrier and a default route appears, it delivers at once.
mamori-uplink watches the network (agent/uplink/netwatch.c); both processes
run in the namespace, as the service's would in the host's."""
import json
import os
import subprocess
import sys
import time

import pytest

from collector import make_pki
from mamori_testlib import read_line, wait_for
from reporting_lib import collector_conf

HERE = os.path.dirname(__file__)
PORT = 18443


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    holder = subprocess.Popen(["unshare", "-n", "sleep", "3600"])
    ns = ["nsenter", "-t", str(holder.pid), "-n"]
    wait_for(lambda: os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"), 5,
             what="the namespace")
    subprocess.run([*ns, "ip", "link", "set", "lo", "up"], check=True, timeout=60)
    yield ns
    holder.kill()
    holder.wait(10)


def ip(ns, *args):
    subprocess.run([*ns, "ip", *args], check=True, timeout=60)


def test_flush_when_network_comes_back(bed, make_agent, netns, tmp_path):
    pki = make_pki(str(tmp_path / "pki"))
    record = tmp_path / "received.jsonl"
    url = f"https://127.0.0.1:{PORT}/v1/events"
    # A long backoff: after the first failure the next try is 30-60s away.
    conf = collector_conf(url, pki, backoff_min="60s", backoff_max="120s")
    a = make_agent(main_conf=conf).start(wrapper=netns)
    a.uplink.wait_log("retrying in", 10)
    failed_at = time.monotonic()

    server = subprocess.Popen([*netns, sys.executable, os.path.join(HERE, "collector.py"), pki["dir"], str(PORT),
                               str(record)], stdout=subprocess.PIPE, text=True)
    try:
        assert read_line(server.stdout, 10, what="the collector listening").startswith("listening")
        # The collector is up, but the agent has no reason to look yet.
        time.sleep(2)
        assert not record.exists() or record.read_text() == ""

        ip(netns, "link", "add", "vtest0", "type", "veth", "peer", "name", "vtest1")
        ip(netns, "addr", "add", "10.77.0.1/24", "dev", "vtest0")
        ip(netns, "link", "set", "vtest1", "up")
        ip(netns, "link", "set", "vtest0", "up")
        ip(netns, "route", "add", "default", "via", "10.77.0.2")
        up_at = time.monotonic()

        def delivered():
            if not record.exists():
                return None
            return [json.loads(x) for x in record.read_text().splitlines()]
        evs = wait_for(delivered, 10, interval=0.05, what="delivery after the network came back")
        took = time.monotonic() - up_at
        assert evs[0]["kind"] == "agent.started"
        assert took < 5, took
        assert time.monotonic() - failed_at < 30, "delivered no sooner than the backoff would have"
        assert "Network change (" in a.uplink.log()
        assert "retrying delivery now" in a.uplink.log()
    finally:
        server.terminate()
        server.wait(10)
