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


def _run(*cmd, check=True):
    """mount and friends without umockdev's preload: it would send their
    /dev (loop devices) into the testbed."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    r = subprocess.run(list(cmd), capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


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
    _run("mount", "--make-rprivate", "/")
    _private = True


def mount_tmpfs(path, size="64k", mode="0700", ro=False):
    private_mounts()
    os.makedirs(path, exist_ok=True)
    opts = f"size={size},mode={mode}" + (",ro" if ro else "")
    _run("mount", "-t", "tmpfs", "-o", opts, "tmpfs", path)
    return path


def bind_ro(path):
    """path (a file or a directory) read-only from now on: a write fails with EROFS."""
    private_mounts()
    _run("mount", "--bind", path, path)
    _run("mount", "-o", "remount,bind,ro", path)


def bind_file(path, source):
    """source mounted over path (a file or a directory): what is read at
    path is source's, for this namespace alone."""
    private_mounts()
    _run("mount", "--bind", source, path)


def umount(path):
    _run("umount", path)


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


def mount_ext4(image, path, size_mb=16):
    """A small ext4 on a loop device at path (made on first use): a real
    disk filesystem, for shutdown_fs(). Skips where loop devices are not allowed."""
    private_mounts()
    if not os.path.exists(image):
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        _run("mkfs.ext4", "-q", "-F", image)
    os.makedirs(path, exist_ok=True)
    r = _run("mount", "-o", "loop", image, path, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a loop device: {r.stderr.strip()}")
    os.chmod(path, 0o700)
    return path


EXT4_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_NOLOGFLUSH = 2


def shutdown_fs(path):
    """The filesystem at path shuts down as on a fatal disk error: from now
    on every write and sync on it fails with EIO (until it is mounted again)."""
    import fcntl
    import struct
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
    finally:
        os.close(fd)
