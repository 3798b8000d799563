"""Boot the guest that vmtest.sh builds, and drive it from the host.

Adapted from the team's shared vmtest harness (../shared/vmtest, vmtest.py);
the project carries its own copy so that it does not depend on ../shared.
Changes: the guest may reboot inside one QEMU process (no -no-reboot; devices
stay plugged across the reset); monitors and clocks for the benchmark; no demo
scenario.

Host <-> guest channels:
  * QMP (RUNDIR/qmp.sock): hot-plug and unplug, reset events, quit
  * QGA (qemu-guest-agent over virtio-serial, RUNDIR/qga.sock): run commands in
    the guest, get rc/stdout/stderr back (guest-exec), the guest's clock
  * 9p: the host directory SHARE is mounted at /mnt/host in the guest
  * serial console -> RUNDIR/console.log
The guest has no network device at all. Only the Python standard library is used.
"""
import base64
import json
import os
import platform
import random
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-x86_64"
KERNEL_APPEND = ("console=ttyS0,115200 root=/dev/vda rw rootfstype=ext4 panic=-1 "
                 "net.ifnames=0 systemd.show_status=1 loglevel=6")
STICK_ID = "46f4:0001"   # QEMU USB HARDDRIVE (usb-storage)
KBD_ID = "0627:0001"     # QEMU USB Keyboard (usb-kbd)


class VMError(Exception):
    pass


class Timeout(VMError):
    pass


def log(msg):
    sys.stderr.write("[vmtest %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class JsonChannel:
    """Line-oriented JSON over a unix socket (QMP and QGA both speak it)."""

    def __init__(self, path, timeout):
        end = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError as e:
                s.close()
                if time.monotonic() > end:
                    raise Timeout("connect %s: %s" % (path, e))
                time.sleep(0.05)
        self.sock = s
        self.buf = b""

    def send(self, obj, prefix=b""):
        self.sock.sendall(prefix + json.dumps(obj).encode() + b"\n")

    def recv(self, timeout):
        end = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                line = line.strip()
                if line:
                    try:
                        return json.loads(line)
                    except ValueError:
                        continue  # a half line from an agent that died mid-reply
            rem = end - time.monotonic()
            if rem <= 0:
                raise Timeout("no reply within %.1fs" % timeout)
            r, _, _ = select.select([self.sock], [], [], rem)
            if r:
                d = self.sock.recv(1 << 20)
                if not d:
                    raise VMError("connection closed")
                # 0xff is the QGA guest-sync-delimited marker: the agent sends it
                # before its reply to a sync, so it ends any half line before it
                self.buf += d.replace(b"\xff", b"\n")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class QMP:
    """QMP client. Every command carries an id and only the reply with that id is
    its answer: a late reply to a command that timed out is dropped, never taken
    for the answer of the next one. Events are kept for wait_event()."""

    def __init__(self, path, timeout=10):
        self.ch = JsonChannel(path, timeout)
        self.greeting = self.ch.recv(timeout)
        self.events = []
        self.next_id = 1
        self.cmd("qmp_capabilities")

    def cmd(self, name, timeout=10, **args):
        cid = "mamori-%d" % self.next_id
        self.next_id += 1
        msg = {"execute": name, "id": cid}
        if args:
            msg["arguments"] = args
        self.ch.send(msg)
        end = time.monotonic() + timeout
        while True:
            rem = end - time.monotonic()
            if rem <= 0:
                raise Timeout("QMP %s: no reply within %ss" % (name, timeout))
            r = self.ch.recv(rem)
            if not isinstance(r, dict):
                continue
            if "event" in r:
                self.events.append(r)
                continue
            if r.get("id") != cid:
                continue  # the late reply to an earlier command that timed out
            if "error" in r:
                raise VMError("QMP %s: %s" % (name, r["error"]))
            return r.get("return")

    def wait_event(self, name, timeout=10, match=None):
        end = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] == name and (match is None or match(ev.get("data", {}))):
                    return self.events.pop(i)
            r = self.ch.recv(max(0.01, end - time.monotonic()))
            if isinstance(r, dict) and "event" in r:
                self.events.append(r)

    def drop_events(self, name):
        self.events = [e for e in self.events if e["event"] != name]


class QGA:
    """qemu-guest-agent client. QGA replies carry no id: the agent answers its
    requests one by one, in order. So the client gets in step with it first
    (sync(): guest-sync-delimited with a fresh random id, everything before the
    reply with that id is thrown away), and from then on the next message is the
    answer to the next command. A command that got no answer (timeout, broken
    reply) leaves the channel out of step, since its answer may still come: the
    next command syncs again first. No reply is ever taken for the answer to
    another request."""

    resync_interval = 2.0  # a sync unanswered for this long is sent again (new id)

    def __init__(self, path):
        self.path = path
        self.ch = None
        self.synced = False
        self.used_ids = set()
        self.dropped = []  # messages thrown away while syncing (for debugging and the tests)

    def _new_id(self):
        while True:
            sid = random.randint(1, 2 ** 62)
            if sid not in self.used_ids:
                self.used_ids.add(sid)
                return sid

    def sync(self, timeout):
        """Get in step with the agent (see the class docstring).

        While no reply to any of our syncs comes, a new sync with a new id is sent
        every resync_interval seconds (the agent may not be up yet, or lost the
        request). Once a reply to any of them arrives the agent is alive, and the
        client waits for the reply to the newest one without sending more: the
        replies come in order, so after it nothing older can arrive. (Sending a
        new sync each interval regardless would never catch up with an agent
        slower than the interval.)"""
        end = time.monotonic() + timeout
        if self.ch is None:
            self.ch = JsonChannel(self.path, timeout)
        self.synced = False
        sent = []
        while True:
            if time.monotonic() >= end:
                raise Timeout("guest agent not answering guest-sync-delimited after %ss" % timeout)
            sid = self._new_id()
            sent.append(sid)
            # 0xff resets the agent's JSON parser after any garbage or half request
            self.ch.send({"execute": "guest-sync-delimited", "arguments": {"id": sid}},
                         prefix=b"\xff")
            step_end = min(end, time.monotonic() + self.resync_interval)
            try:
                while True:
                    r = self.ch.recv(max(0.01, step_end - time.monotonic()))
                    ret = r.get("return") if isinstance(r, dict) else None
                    if type(ret) is int and ret == sent[-1]:
                        self.synced = True
                        return
                    self.dropped.append(r)
                    if type(ret) is int and ret in sent:
                        # an older sync of ours: the agent is alive, the newest is on its way
                        step_end = min(end, time.monotonic() + max(self.resync_interval, 10))
            except Timeout:
                pass

    wait = sync  # wait until the guest agent answers

    def cmd(self, name, timeout=10, **args):
        if not self.synced:
            self.sync(max(timeout, 10))
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.synced = False  # until this command's answer is in
        self.ch.send(msg)
        r = self.ch.recv(timeout)
        if not isinstance(r, dict) or not ("return" in r or "error" in r):
            raise VMError("QGA %s: not an answer: %.200r" % (name, r))
        self.synced = True
        if "error" in r:
            raise VMError("QGA %s: %s" % (name, r["error"]))
        return r["return"]

    def spawn(self, argv):
        """Start argv in the guest without waiting for it (no output captured)."""
        return self.cmd("guest-exec", path=argv[0], arg=list(argv[1:]))["pid"]

    def exec(self, argv, timeout=60, stdin=None):
        """Run argv in the guest (wrapped in coreutils timeout); return (rc, out, err)."""
        full = ["/usr/bin/timeout", "-k", "2", str(int(timeout))] + list(argv)
        args = {"path": full[0], "arg": full[1:], "capture-output": True}
        if stdin is not None:
            args["input-data"] = base64.b64encode(stdin.encode()).decode()
        pid = self.cmd("guest-exec", **args)["pid"]
        end = time.monotonic() + timeout + 10
        delay = 0.01
        while True:
            st = self.cmd("guest-exec-status", timeout=30, pid=pid)
            if st.get("exited"):
                out = base64.b64decode(st.get("out-data", "")).decode(errors="replace")
                err = base64.b64decode(st.get("err-data", "")).decode(errors="replace")
                rc = st.get("exitcode", 128 + st.get("signal", 0))
                return rc, out, err
            if time.monotonic() > end:
                raise Timeout("guest command did not finish: %s" % argv)
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)


class VM:
    def __init__(self, image, share=None, rundir=None, accel="auto", mem=1024, smp=2, extra_args=()):
        self.image = os.path.abspath(image)
        for f in ("vmlinuz", "initrd.img", "rootfs.img"):
            if not os.path.exists(os.path.join(self.image, f)):
                raise VMError("%s lacks %s; run vmtest.sh build first" % (self.image, f))
        self.rundir = rundir or tempfile.mkdtemp(prefix="mamori-vmtest-run.", dir="/tmp")
        os.makedirs(self.rundir, exist_ok=True)
        self.share = os.path.abspath(share) if share else None
        self.accel_req = os.environ.get("VMTEST_ACCEL", accel)
        self.accel = None
        self.mem, self.smp = mem, smp
        self.extra_args = list(extra_args)  # more QEMU arguments (devices)
        self.proc = None
        self.qmp = None
        self.qga = None
        self.times = {}
        self.console = os.path.join(self.rundir, "console.log")

    def _cmdline(self, accel):
        r = self.rundir
        cmd = [QEMU, "-name", "mamori-vmtest", "-nodefaults", "-no-user-config",
               "-display", "none",
               "-machine", "q35", "-accel", accel if accel == "kvm" else "tcg,thread=multi",
               # -cpu host/max fail on some nested KVM hosts (MSR 0x10a); qemu64 always works
               "-cpu", os.environ.get("VMTEST_CPU", "qemu64"),
               "-smp", str(self.smp), "-m", str(self.mem),
               "-kernel", os.path.join(self.image, "vmlinuz"),
               "-initrd", os.path.join(self.image, "initrd.img"),
               "-append", KERNEL_APPEND,
               "-drive", "file=%s/overlay.qcow2,if=virtio,format=qcow2,cache=unsafe" % r,
               "-serial", "file:" + self.console,
               "-qmp", "unix:%s/qmp.sock,server=on,wait=off" % r,
               "-chardev", "socket,id=qga0,path=%s/qga.sock,server=on,wait=off" % r,
               "-device", "virtio-serial-pci,id=vser0",
               "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
               "-device", "virtio-rng-pci",
               "-device", "qemu-xhci,id=xhci,p2=8,p3=8"]
        if self.share:
            cmd += ["-virtfs", "local,path=%s,mount_tag=hostshare,security_model=none,id=share0"
                    % self.share]
        return cmd + self.extra_args

    def _launch(self, accel):
        for f in ("qmp.sock", "qga.sock", "console.log", "overlay.qcow2"):
            try:
                os.unlink(os.path.join(self.rundir, f))
            except FileNotFoundError:
                pass
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        os.path.join(self.image, "rootfs.img"),
                        os.path.join(self.rundir, "overlay.qcow2")], check=True, timeout=30)
        cmd = self._cmdline(accel)
        with open(os.path.join(self.rundir, "qemu.cmdline"), "w") as f:
            f.write(" ".join(shlex.quote(c) for c in cmd) + "\n")
        self.qemu_log = open(os.path.join(self.rundir, "qemu.log"), "ab")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.qemu_log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.accel = accel

    def _wait_console(self, needle, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            try:
                with open(self.console, "rb") as f:
                    if needle in f.read():
                        return True
            except FileNotFoundError:
                pass
            time.sleep(0.1)
        return False

    def _verdict_file(self):
        # next to the images, shared by all of them
        return os.path.join(os.path.dirname(self.image), "accel-verdict.%s" % platform.release())

    def start(self, kvm_probe_timeout=15):
        """Start QEMU. accel=auto: KVM if it really runs the guest kernel, else TCG.

        Some nested hypervisors expose a /dev/kvm on which an unmodified kernel
        crawls; KVM counts only if the kernel prints its banner within
        kvm_probe_timeout seconds. The verdict is kept per host kernel."""
        accel = self.accel_req
        if accel == "auto":
            try:
                with open(self._verdict_file()) as f:
                    accel = f.read().strip()
            except FileNotFoundError:
                pass
        if accel == "auto":
            accel = "tcg"
            if os.access("/dev/kvm", os.R_OK | os.W_OK):
                self._launch("kvm")
                if self._wait_console(b"Linux version", kvm_probe_timeout):
                    accel = "kvm"
                else:
                    log("KVM probe failed (no kernel banner within %ss); using TCG" % kvm_probe_timeout)
                    self._kill()
            try:
                with open(self._verdict_file(), "w") as f:
                    f.write(accel + "\n")
            except OSError:
                pass
            if accel == "kvm":
                return
        self._launch(accel)

    def wait_ready(self, timeout=240):
        """Wait for QMP, the guest agent and the end of systemd's boot."""
        end = time.monotonic() + timeout
        if self.qmp is None:
            self.qmp = QMP(os.path.join(self.rundir, "qmp.sock"), timeout=10)
            if not self._wait_console(b"Linux version", min(60, max(1, end - time.monotonic()))):
                raise VMError("kernel did not print its banner within 60s (accel=%s, qemu rc=%s); see %s"
                              % (self.accel, self.proc.poll(), self.console))
        if self.qga is None:
            self.qga = QGA(os.path.join(self.rundir, "qga.sock"))
        self.qga.wait(max(1, end - time.monotonic()))
        rc, out, err = self.qga.exec(["systemctl", "is-system-running", "--wait"],
                                     timeout=max(1, end - time.monotonic()))
        self.state = out.strip()
        self.times["ready"] = time.monotonic() - self.t0
        return self.state

    def reboot(self, timeout=300):
        """Reboot the guest inside the same QEMU: plugged devices stay plugged."""
        t = time.monotonic()
        self.qmp.drop_events("RESET")
        self.qga.spawn(["/bin/systemctl", "reboot"])
        self.qmp.wait_event("RESET", timeout=120)
        self.t0 = time.monotonic()
        state = self.wait_ready(timeout)
        self.times["reboot"] = time.monotonic() - t
        return state

    def sh(self, script, timeout=60, check=False):
        rc, out, err = self.qga.exec(["/bin/sh", "-c", script], timeout=timeout)
        if check and rc != 0:
            raise VMError("guest command failed rc=%s: %s\n%s%s" % (rc, script, out, err))
        return rc, out, err

    def guest_realtime_offset(self, samples=15):
        """(offset, uncertainty) in seconds: guest CLOCK_REALTIME - host CLOCK_REALTIME,
        from the guest-get-time round trip with the smallest delay."""
        best = None
        for _ in range(samples):
            a = time.time()
            g = self.qga.cmd("guest-get-time") / 1e9
            b = time.time()
            if best is None or b - a < best[1] * 2:
                best = (g - (a + b) / 2, (b - a) / 2)
        return best

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)

    def stop(self):
        """Quit QEMU; the root overlay is thrown away."""
        if self.proc and self.proc.poll() is None and self.qmp:
            try:
                self.qmp.cmd("quit", timeout=5)
                self.proc.wait(5)
            except Exception:
                pass
        self._kill()
        for f in ("overlay.qcow2",):
            try:
                os.unlink(os.path.join(self.rundir, f))
            except FileNotFoundError:
                pass

    # -- USB over QMP. blockdev-add rather than -drive: a -drive backend is
    # deleted with its device and could not be plugged a second time.
    def add_stick(self, name, serial, size_mb=16, bus="xhci.0"):
        img = os.path.join(self.rundir, name + ".img")
        if not os.path.exists(img):
            with open(img, "wb") as f:
                f.truncate(size_mb << 20)
        self.qmp.cmd("blockdev-add", driver="raw", **{"node-name": name},
                     file={"driver": "file", "filename": img})
        self.qmp.cmd("device_add", driver="usb-storage", id=name, bus=bus, drive=name,
                     serial=serial)

    def add_kbd(self, name, serial, bus="xhci.0"):
        self.qmp.cmd("device_add", driver="usb-kbd", id=name, bus=bus, serial=serial)

    def unplug(self, name, is_stick=False, timeout=30):
        self.qmp.cmd("device_del", id=name)
        self.qmp.wait_event("DEVICE_DELETED", timeout, lambda d: d.get("device") == name)
        if is_stick:
            self.qmp.cmd("blockdev-del", **{"node-name": name})


def main():
    """vmtest.py IMAGE [SHARE] -- CMD: boot, run CMD with /bin/sh -c, quit (for debugging)."""
    argv = sys.argv[1:]
    if "--" not in argv or not argv[0:1]:
        print(main.__doc__, file=sys.stderr)
        sys.exit(2)
    i = argv.index("--")
    image, share = argv[0], (argv[1] if i > 1 else None)
    vm = VM(image, share=share)
    rc = 1
    try:
        vm.start()
        log("ready: %s (accel %s, %.1fs)" % (vm.wait_ready(), vm.accel, time.monotonic() - vm.t0))
        rc, out, err = vm.sh(" ".join(argv[i + 1:]) or "true", timeout=600)
        sys.stdout.write(out)
        sys.stderr.write(err)
    finally:
        vm.stop()
        log("run dir %s" % vm.rundir)
    sys.exit(rc)


if __name__ == "__main__":
    main()
