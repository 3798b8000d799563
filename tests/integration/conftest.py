# SPDX-License-Identifier: MIT
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from collector import Collector, make_pki  # noqa: E402
from mamori_testlib import Agent, UsbBed  # noqa: E402


@pytest.fixture
def bed():
    return UsbBed()


@pytest.fixture
def make_agent(bed):
    agents = []

    def make(**kw):
        a = Agent(bed, **kw)
        agents.append(a)
        return a

    yield make
    # Every agent is cleaned up; the first failure (a crash, a sanitizer
    # report: mamori_testlib.Agent.check_run) fails the test.
    failures = []
    for a in agents:
        try:
            a.cleanup()
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """CA, server and client certificates for the test collector, one set per test file."""
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def collector(pki):
    """A real HTTPS collector (collector.py), up for the test."""
    c = Collector(pki).start()
    yield c
    c.release()
    c.stop()


@pytest.fixture
def dgram_qlen():
    """umockdev queues uevents on datagram sockets; a burst needs a long queue
    (tools/dev/test.sh raises it; as root we raise it here too)."""
    path = "/proc/sys/net/unix/max_dgram_qlen"
    with open(path) as f:
        cur = int(f.read())
    if cur < 512:
        try:
            with open(path, "w") as f:
                f.write("512")
        except OSError:
            pytest.skip("net.unix.max_dgram_qlen is below 512 and cannot be raised")
    return 512


def pytest_sessionfinish(session, exitstatus):
    """Everything skipped (no root, a tool missing) is a skip for meson: 77."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter and exitstatus in (0, 5) and reporter.stats.get("skipped") and not reporter.stats.get("passed") \
            and not reporter.stats.get("failed") and not reporter.stats.get("error"):
        session.exitstatus = 77
