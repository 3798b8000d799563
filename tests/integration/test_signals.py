# SPDX-License-Identifier: MIT
"""Signals while mamorid starts: from the first line of main() on, SIGHUP,
SIGUSR1 and SIGUSR2 wait for the event loop (a reload, or a note in the log)
instead of killing the agent, which systemd would count as a clean stop
(mamorid(8), units/mamori.service.in: Restart=always)."""

import os
import random
import signal
import time

from mamori_testlib import wait_for

STARTING = b"starting; signals wait for the event loop"


def wait_starting(agent, offset):
    """Until main() has begun (its first log line)."""
    def seen():
        if agent.proc.poll() is not None:
            raise AssertionError(f"mamorid exited with {agent.proc.returncode} before main():\n{agent.log()}")
        with open(agent.stderr_path, "rb") as f:
            f.seek(offset)
            return STARTING in f.read()
    wait_for(seen, 10, interval=0.0005, what="mamorid's first log line")


def test_early_signals_do_not_kill_it(bed, make_agent):
    rng = random.Random(int(os.environ.get("MAMORI_TEST_SEED", "8")))
    a = make_agent()
    for rnd in range(20):
        offset = os.path.getsize(a.stderr_path) if os.path.exists(a.stderr_path) else 0
        a.start(wait_ready=False)
        wait_starting(a, offset)
        time.sleep(rng.uniform(0.0, 0.03))
        sigs = [signal.SIGHUP] if rnd % 2 == 0 else [signal.SIGUSR1, signal.SIGHUP, signal.SIGUSR2]
        for sig in sigs:
            a.proc.send_signal(sig)
        a.wait_notify("READY=1")
        # The SIGHUP was a reload once the loop ran: RELOADING=1, then READY=1 again.
        wait_for(lambda: any("RELOADING=1" in n for n in a.poll_notify()), 10, what=f"round {rnd}: the reload")
        assert a.proc.poll() is None, f"round {rnd}: mamorid died:\n{a.log()}"
        rc = a.stop()
        assert rc == 0, f"round {rnd}: rc {rc}\n{a.log()}"
    log = a.log()
    assert log.count("Ignoring signal USR1") == 10 and log.count("Ignoring signal USR2") == 10
    # Every run started, reloaded once and stopped cleanly.
    assert len(a.events("agent.started")) == 20
    assert len(a.events("agent.stopping")) == 20


def test_usr1_later_is_ignored_too(bed, make_agent):
    a = make_agent().start()
    a.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: "Ignoring signal USR1" in a.log(), 10, what="the note")
    assert a.proc.poll() is None
    assert a.stop() == 0
