#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz-spool: segment files in the format of
common/spool-record.h, intact and damaged in the ways a crash or a disk does."""
import os
import struct
import sys
import zlib

MAGIC = 0x3152534D


def record(seq, json, severity=1, aux=b"", tombstone=False, t=1700000000000000):
    payload = json + aux
    head = struct.pack("<IIQQHBB", MAGIC, len(payload), seq, t, len(aux), severity, 1 if tombstone else 0)
    crc = zlib.crc32(head + payload) & 0xFFFFFFFF
    return head + struct.pack("<I", crc) + payload


def ev(seq, pad=40):
    return b'{"seq":%d,"kind":"usb.blocked","pad":"%s"}' % (seq, b"x" * pad)


out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "spool")
os.makedirs(out, exist_ok=True)
good = b"".join(record(i, ev(i)) for i in range(1, 8))
tomb = record(8, b'{"seq":8,"kind":"agent.events_dropped"}', 3, struct.pack("<QQQQ", 2, 3, 5, 5), True)
seeds = {
    "good": good,
    "tombstone": good + tomb,
    "torn-header": good + record(8, ev(8))[:20],
    "torn-payload": good + record(8, ev(8))[:60],
    "zero-tail": good + b"\0" * 300,
    "flipped-tail": good[:-5] + bytes([good[-5] ^ 0x40]) + good[-4:],
    "flipped-middle": good[:100] + bytes([good[100] ^ 1]) + good[101:],
    "garbage-tail": good + os.urandom(0) + b"\x17garbage that is not a record" * 3,
    "out-of-order": record(5, ev(5)) + record(3, ev(3)) + record(6, ev(6)),
    "duplicate": record(1, ev(1)) + record(1, ev(1)) + record(2, ev(2)),
    "bad-lengths": struct.pack("<IIQQHBB", MAGIC, 0xFFFFFFFF, 1, 1, 0, 1, 0) + b"\0" * 4 + b"{}",
    "empty": b"",
    # seqs outside 1..2^53-1 are corrupt; past 2^52 intact but not believed
    "seq-zero": good + record(0, ev(0)),
    "seq-huge": record(2**64 - 1, ev(1)) + good,
    "seq-past-floor": good + record(2**52 + 5, ev(9)) + record(8, ev(8)),
    # a tail past the records (the segment bound itself is 32 MiB, beyond this target's inputs)
    "zeros-after-good": good + b"\0" * 4096 + record(8, ev(8)),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
