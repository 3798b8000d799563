# SPDX-License-Identifier: MIT
"""Reads mamori's spool (common/spool-record.h) the way the agent does, for
tests and for people: segments in seq order, every record checked, drop
records (tombstones) applied, and the ack cursor."""

import json
import os
import struct
import zlib

MAGIC = 0x3152534D
CURSOR_MAGIC = 0x3143534D
HEADER = struct.Struct("<IIQQHBBI")  # magic, payload, seq, time, aux, severity, flags, crc
TOMBSTONE = 1


def records(spool_dir):
    """Yields (seq, time, severity, flags, json_bytes, aux_bytes) of every intact
    record, in file order; stops reading a segment at the first bad byte (the
    agent repairs what it finds at its next start)."""
    try:
        names = sorted(n for n in os.listdir(spool_dir) if n.endswith(".seg") and len(n) == 20)
    except FileNotFoundError:
        return
    for name in names:
        try:
            with open(os.path.join(spool_dir, name), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue  # removed once delivered
        off = 0
        while off + HEADER.size <= len(data):
            magic, plen, seq, t, aux, sev, flags, crc = HEADER.unpack_from(data, off)
            end = off + HEADER.size + plen
            if magic != MAGIC or end > len(data) or aux >= plen:
                break
            payload = data[off + HEADER.size:end]
            if zlib.crc32(data[off:off + 28] + payload) & 0xFFFFFFFF != crc:
                break
            yield seq, t, sev, flags, payload[:plen - aux], payload[plen - aux:]
            off = end


def acked(spool_dir):
    """The highest seq up to which everything was delivered (or dropped), as
    mamorid last stored it in the spool (its copy of the uplink's cursor)."""
    return acked_file(os.path.join(spool_dir, "cursor"))


def acked_file(path):
    """The value of a cursor file (the spool's, or mamori-uplink's own, same
    format): two checksummed slots, the newer generation wins; 0 if none."""
    try:
        with open(path, "rb") as f:
            data = f.read(1024)  # the two slots (a hostile file may be a sparse terabyte)
    except FileNotFoundError:
        return 0
    best = (-1, 0)
    for slot in (0, 512):
        b = data[slot:slot + 32]
        if len(b) < 32:
            continue
        magic, _, gen, ack, crc = struct.unpack_from("<IIQQI", b)
        if magic == CURSOR_MAGIC and zlib.crc32(b[:24]) & 0xFFFFFFFF == crc and gen > best[0]:
            best = (gen, ack)
    return best[1]


def write_cursor(path, gen, acked, slot=None):
    """Writes one checksummed slot of a cursor file (agent/report/spool-cursor.c),
    in the slot the generation goes to (or the one given)."""
    b = struct.pack("<IIQQ", CURSOR_MAGIC, 0, gen, acked)
    b += struct.pack("<I", zlib.crc32(b) & 0xFFFFFFFF) + b"\0" * 4
    with open(path, "r+b" if os.path.exists(path) else "wb") as f:
        f.seek((gen % 2 if slot is None else slot) * 512)
        f.write(b)


def cursor_generation(path):
    """The newest valid generation in a cursor file (-1: none)."""
    try:
        with open(path, "rb") as f:
            data = f.read(1024)
    except FileNotFoundError:
        return -1
    best = -1
    for slot in (0, 512):
        b = data[slot:slot + 32]
        if len(b) < 32:
            continue
        magic, _, gen, _, crc = struct.unpack_from("<IIQQI", b)
        if magic == CURSOR_MAGIC and zlib.crc32(b[:24]) & 0xFFFFFFFF == crc:
            best = max(best, gen)
    return best


def dropped_seqs(spool_dir):
    gone = set()
    for seq, _, _, flags, _, aux in records(spool_dir):
        if flags & TOMBSTONE:
            for i in range(0, len(aux), 16):
                a, b = struct.unpack_from("<QQ", aux, i)
                gone.update(range(a, b + 1))
    return gone


def events(spool_dir, undelivered_only=False, cursor=None):
    """The events in the spool as dicts, oldest first, without the dropped
    ones; undelivered_only: only those past the cursor (the spool's own, or
    the file cursor names: mamori-uplink's)."""
    gone = dropped_seqs(spool_dir)
    if not undelivered_only:
        floor = 0
    else:
        floor = acked_file(cursor) if cursor else acked(spool_dir)
    seen = set()
    out = []
    for seq, _, _, _, js, _ in records(spool_dir):
        if seq in gone or seq <= floor or seq in seen:
            continue
        seen.add(seq)
        out.append(json.loads(js))  # every record must be valid JSON
    return out
