# SPDX-License-Identifier: MIT
"""How long a person waits for the explanation of a blocked stick: from the
uevent to the block (authorized=0) and to the Notify call at the session's
notification server, through the real mamorid (under umockdev), the private
system bus with the shipped policy, and mamori-notify. Also the RSS of both
programs before and after. Prints figures; not a pass/fail test.

Run by tools/bench/notice-latency.sh (root, umockdev-wrapper)."""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../tests/integration"))

from mamori_notice import NoticeWorld  # noqa: E402
from mamori_testlib import Agent, UsbBed, wait_for  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugs", type=int, default=100)
    args = ap.parse_args()

    bed = UsbBed()
    with NoticeWorld() as world:
        helper = world.helper(lang="ja_JP.UTF-8").start()
        agent = Agent(bed, main_conf='notice = { burst = 100; interval = 1; };\n', extra_env=world.agent_env())
        agent.start()
        try:
            rss0 = (rss_kib(agent.proc.pid), rss_kib(helper.proc.pid))
            to_block, to_notice = [], []
            for k in range(args.plugs):
                before = len(world.notifications())
                t0 = time.monotonic()
                dev, ifs = bed.add_usb("0781", "5567", serial=f"BENCH{k:05d}", product_name=f"Stick {k}", port=2)
                wait_for(lambda: bed.authorized(ifs[0]) == "0", 10, interval=0.001, what="block")
                t1 = time.monotonic()
                wait_for(lambda: len(world.notifications()) > before, 10, interval=0.002, what="notification")
                t2 = time.monotonic()
                to_block.append((t1 - t0) * 1000)
                to_notice.append((t2 - t0) * 1000)
                bed.remove(dev, ifs)
                # A new serial on the same port each time: no repeat. Pace the
                # plugs to the rate limit's refill (1 s), so that it holds none back.
                time.sleep(max(0.01, 1.02 - (time.monotonic() - t0)))
            rss1 = (rss_kib(agent.proc.pid), rss_kib(helper.proc.pid))
        finally:
            agent.cleanup()

    print(f"notice latency over {args.plugs} plugs (uevent -> ...), ms:")
    for name, xs in (("authorized=0", to_block), ("Notify at the server", to_notice)):
        print(f"  {name:22s} p50 {pct(xs, 50):7.1f}  p90 {pct(xs, 90):7.1f}  p99 {pct(xs, 99):7.1f}  max {max(xs):7.1f}  "
              f"mean {statistics.mean(xs):7.1f}")
    print("  (the notice waits for the per-device report settle of usb-enforce, 50 ms, by design)")
    print(f"RSS KiB: mamorid {rss0[0]} -> {rss1[0]}, mamori-notify {rss0[1]} -> {rss1[1]}")


if __name__ == "__main__":
    main()
