# SPDX-License-Identifier: MIT
"""Helpers for the reporting tests: configs that point mamorid at the test
collector, what the agent journaled, and the strict checks of a feed."""

import os
import re

import spool_reader

BLOCK_ALL = 'usb = { block = [ "storage", "mtp", "ptp", "tethering" ]; };\n'


def conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def collector_conf(collector=None, pki=None, spool_mb=None, usb=BLOCK_ALL, **keys):
    """mamori.conf with a collector section. Defaults suit tests: short
    backoff, no heartbeat unless asked. A key set to None is left out."""
    c = {}
    if collector is not None:
        c["url"] = collector.url if hasattr(collector, "url") else collector
    if pki is not None:
        c.update(ca_file=pki["ca"], client_cert=pki["client_cert"], client_key=pki["client_key"])
    c.update(backoff_min="200ms", backoff_max="1s", heartbeat_interval=0, timeout=10)
    c.update(keys)
    body = "".join(f"  {k} = {conf_value(v)};\n" for k, v in c.items() if v is not None)
    text = usb + "collector = {\n" + body + "};\n"
    if spool_mb is not None:
        text += f"spool = {{ max_size_mb = {spool_mb}; }};\n"
    return text


# Whole fields only: a kill -9 can cut a log line short, and the next run's
# line then continues on the same line of the file.
JOURNAL_RE = re.compile(r"MAMORI_EVENT_KIND=([a-z_.]+) "
                        r"MAMORI_EVENT_ID=([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                        r"(?: MAMORI_EVENT_SEQ=(\d+))? ")


def journaled(log_text):
    """(kind, id, seq) of every event the agent journaled as recorded: the
    journal line is written only once the event is durable in the spool."""
    out = []
    for line in log_text.splitlines():
        m = JOURNAL_RE.search(line)
        if m and "MAMORI_EVENT_NOT_SPOOLED" not in line:
            if m.group(3) is None and not line.rstrip().endswith("}"):
                continue  # a line a kill -9 cut short in the log (not the journal): no seq yet
            out.append((m.group(1), m.group(2), int(m.group(3) or 0)))
    return out


def spool_dir(agent):
    return os.path.join(agent.state, "spool")


def spool_max_seq(agent):
    seqs = [r[0] for r in spool_reader.records(spool_dir(agent))]
    return max(seqs) if seqs else 0


def check_feed(events, allow_gaps=()):
    """The strict checks of what a collector holds: one event per id (copies
    identical), one id per seq, and seq contiguous from 1 (except seqs in
    allow_gaps, e.g. named by a drop). Returns {seq: event}."""
    by_id, by_seq = {}, {}
    for e in events:
        if e["id"] in by_id:
            assert by_id[e["id"]] == e, f"two different events share the id {e['id']}"
            continue
        by_id[e["id"]] = e
        assert e["seq"] not in by_seq, f"seq {e['seq']} was given to two events: {by_seq.get(e['seq'], {}).get('id')} and {e['id']}"
        by_seq[e["seq"]] = e
    if by_seq:
        top = max(by_seq)
        missing = [s for s in range(1, top + 1) if s not in by_seq and s not in allow_gaps]
        assert not missing, f"seqs missing from the feed: {missing[:20]} ({len(missing)} in all, top {top})"
    return by_seq
