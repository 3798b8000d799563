# SPDX-License-Identifier: MIT
"""The spool under the real mamorid on a disk that fills up: the state
directory is a small tmpfs in a private mount namespace. While it is full,
commits fail, the events go to the journal marked "not yet durable" and wait
in memory; once space is freed the retry commits them and every one reaches
the collector, seqs contiguous (agent/report/spool.c, commit and on_retry)."""
import ctypes
import errno
import os
import subprocess

import pytest

from mamori_testlib import wait_for
from reporting_lib import check_feed, collector_conf

CLONE_NEWNS = 0x00020000


@pytest.fixture(scope="module")
def private_mounts():
    """This test process (and the mamorid it starts) in its own mount
    namespace: the tmpfs is seen by nobody else and goes with the process."""
    if os.geteuid() != 0:
        pytest.skip("needs root: a tmpfs in a private mount namespace")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        pytest.skip(f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", path], check=True)


def fill(path):
    """Writes until the file system says ENOSPC."""
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * 4096
        while True:
            try:
                f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
    # A last byte would not fit either: the file system is full. (No
    # pytest.raises: its ExceptionInfo in this frame would keep the frames, and
    # with them the test's UsbBed, alive until some later garbage collection
    # finalizes that testbed in the middle of the next test.)
    try:
        with open(path, "ab", buffering=0) as f:
            f.write(b"\0")
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    else:
        raise AssertionError("the file system is not full")


def delivered(collector, serials):
    got = [e["device"]["serial"] for e in collector.unique().values() if e["kind"] == "usb.blocked"]
    return all(s in got for s in serials)


def test_disk_full_then_freed(bed, make_agent, collector, pki, private_mounts):
    a = make_agent(main_conf=collector_conf(collector, pki))
    mount_tmpfs(a.state, "1m")
    try:
        a.start()
        bed.add_usb("0781", "5567", serial="BEFORE")
        wait_for(lambda: delivered(collector, ["BEFORE"]), 15, what="BEFORE delivered")

        filler = os.path.join(a.state, "filler")
        fill(filler)
        # More than the page the newest segment has left on the tmpfs.
        full = [f"FULL{i}" for i in range(8)]
        for s in full:
            bed.add_usb("0781", "5567", serial=s)
        wait_for(lambda: "Cannot write events to the spool" in a.log(), 15, what="the failed commit logged")
        assert "No space left on device" in a.log()

        def journaled_blocked():
            lines = [line for line in a.log().splitlines() if "MAMORI_EVENT_KIND=usb.blocked" in line]
            return {s: line for s in full for line in lines if f'serial "{s}"' in line}
        wait_for(lambda: len(journaled_blocked()) == len(full), 15, what="every stick journaled")
        # What could not be made durable is journaled now, marked, and has not
        # reached the collector (it was never in the spool).
        not_durable = [s for s, line in journaled_blocked().items() if "MAMORI_EVENT_NOT_SPOOLED" in line]
        assert not_durable, "no event met the full disk"
        assert not any(e["device"]["serial"] in not_durable for e in collector.events("usb.blocked"))

        # Space comes back: no new event is needed, the retry commits the queue.
        os.unlink(filler)
        wait_for(lambda: delivered(collector, full), 30, what="the queued events delivered after the retry")
        wait_for(lambda: "Events are written to the spool again." in a.log(), 5, what="the recovery logged")
        feed = check_feed(collector.events())  # seqs contiguous from 1: nothing lost
        serials = [e["device"]["serial"] for e in feed.values() if e["kind"] == "usb.blocked"]
        assert sorted(serials) == sorted(["BEFORE", *full])
        assert a.proc.poll() is None
    finally:
        a.stop()
        subprocess.run(["umount", "-l", a.state], check=False)
