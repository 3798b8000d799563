# SPDX-License-Identifier: MIT
"""Real faults for the tests, in a mount namespace of the test's own (so
nothing leaks to the machine): a full filesystem (a small tmpfs, filled), a
read-only file (a read-only bind mount of it). mamorid, started by the test,
inherits the namespace and meets the fault as it would on a real disk."""
import ctypes
import errno
import os
import subprocess

import pytest

CLONE_NEWNS = 0x00020000
_private = False


def private_mounts():
    """The test process gets a mount namespace of its own, its mounts
    private: what is mounted from here on stays in it."""
    global _private
    if _private:
        return
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        pytest.skip(f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    _private = True


def mount_tmpfs(path, size="64k", mode="0700", ro=False):
    private_mounts()
    os.makedirs(path, exist_ok=True)
    opts = f"size={size},mode={mode}" + (",ro" if ro else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], check=True)
    return path


def bind_ro(path):
    """path (a file or a directory) read-only from now on: a write fails with EROFS."""
    private_mounts()
    subprocess.run(["mount", "--bind", path, path], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", path], check=True)


def umount(path):
    subprocess.run(["umount", path], check=True)


def fill(directory, name="filler"):
    """Writes into directory until its filesystem is full; returns the file."""
    path = os.path.join(directory, name)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(b"\0" * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
    # and the last bytes of a page too
    with open(path, "ab", buffering=0) as f:
        try:
            while f.write(b"\0"):
                pass
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return path
