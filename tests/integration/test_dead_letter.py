# SPDX-License-Identifier: MIT
"""Dead letters are not the end (issue 16): batches the real TLS collector
refused for good (400) are kept by mamori-uplink, listed by `mamorictl
dead-letter list`, counted in the status file and the heartbeat, and sent
again by `mamorictl dead-letter resend` before anything else, with their
original ids and seqs; a batch refused again goes back with both answers;
the dead-letter directory stays bounded without losing anything; what
mamorictl (root) and the uplink read there is checked, never trusted."""
import glob
import json
import os
import shutil
import subprocess

import pytest

from mamori_testlib import wait_for
from reporting_lib import check_feed, collector_conf

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))


def ctl(a, *args, check=True):
    env = dict(os.environ, UMOCKDEV_DIR=a.bed.root, MAMORI_UPLINK_STATE_DIR=a.uplink.state,
               MAMORI_UPLINK_RUNTIME_DIR=a.uplink.runtime)
    p = subprocess.run([MAMORICTL, "--socket", os.path.join(a.runtime, "control"), *args],
                       capture_output=True, text=True, env=env, timeout=20)
    assert p.returncode >= 0, f"mamorictl crashed: {p.stderr}"
    if check:
        assert p.returncode == 0, f"mamorictl {' '.join(args)}: rc {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def dl_list(a):
    return json.loads(ctl(a, "--json", "dead-letter", "list").stdout)


def dead_files(a):
    return sorted(glob.glob(os.path.join(a.uplink.dead_letter, "*.ndjson")))


def status_counts(a):
    st = a.uplink.status() or {}
    return int(st.get("DEAD_LETTER_COUNT", -1)), int(st.get("DEAD_LETTER_BYTES", -1))


def plug(bed, n, start):
    for i in range(n):
        bed.add_usb("0781", "5567", serial=f"D{start + i:05d}")


def refused(collector):
    """The batches the collector answered 400, in order: [(ids, seqs)]."""
    return [([e["id"] for e in r["events"]], [e["seq"] for e in r["events"]])
            for r in collector.requests if r["status"] == 400]


def test_dead_letters_listed_then_resent_arrive_once_in_place(bed, make_agent, collector, pki):
    collector.script(400)
    a = make_agent(main_conf=collector_conf(collector, pki)).start()
    wait_for(lambda: len(refused(collector)) == 1, 10, what="the first 400")
    plug(bed, 2, 0)
    wait_for(lambda: collector.events(), 10, what="a delivered batch after the dead letter")
    collector.script(400)
    plug(bed, 3, 2)
    wait_for(lambda: len(refused(collector)) == 2, 10, what="the second 400")
    plug(bed, 1, 5)
    wait_for(lambda: any(e["device"]["serial"] == "D00005" for e in collector.events() if "device" in e), 10,
             what="the last stick delivered")
    bad = refused(collector)
    bad_seqs = {s for _, seqs in bad for s in seqs}
    # The rest flowed; the refused ones are the feed's only gaps.
    check_feed(collector.events(), allow_gaps=bad_seqs)
    assert not bad_seqs & {e["seq"] for e in collector.events()}

    # Listed: batches, seq ranges, status, the collector's answer, time.
    assert len(dead_files(a)) == 2
    wait_for(lambda: status_counts(a)[0] == 2, 5, what="DEAD_LETTER_COUNT=2 in the status file")
    assert status_counts(a)[1] == sum(os.path.getsize(f) for f in dead_files(a))
    js = dl_list(a)
    assert js["count"] == 2 and js["bytes"] == status_counts(a)[1]
    for b, (ids, seqs) in zip(js["batches"], bad):
        assert b["state"] == "dead-letter" and b["status"] == 400 and "test says 400" in b["response"]
        assert (b["first_seq"], b["last_seq"], b["count"]) == (seqs[0], seqs[-1], len(seqs))
        assert b["time"].endswith("Z") and [x["status"] for x in b["answers"]] == [400]
    human = ctl(a, "dead-letter", "list").stdout
    for _, seqs in bad:
        assert f"{seqs[0]}-{seqs[-1]}" in human
    assert "400" in human and "test says 400" in human and "2 batches" in human
    st = ctl(a, "status", check=False)
    assert st.returncode == 3 and "Dead letters: 2 batches" in st.stdout, st.stdout

    # The collector is fixed (no more 400 scripted): resend puts them back, first.
    n = len(collector.requests)
    out = ctl(a, "dead-letter", "resend", "--all").stdout
    assert "Queued 2 batches" in out, out
    wait_for(lambda: bad_seqs <= {e["seq"] for e in collector.events()}, 10, what="the resent events delivered")
    resent = collector.requests[n:n + 2]
    assert [[e["id"] for e in r["events"]] for r in resent] == [ids for ids, _ in bad]
    assert [[e["seq"] for e in r["events"]] for r in resent] == [seqs for _, seqs in bad]
    # The feed: no gap, and (de-duplicated by id, as the collector does) no event twice.
    by_seq = check_feed(collector.events())
    ids = [e["id"] for e in collector.events()]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert sorted(by_seq) == list(range(1, max(by_seq) + 1))
    wait_for(lambda: status_counts(a) == (0, 0), 5, what="DEAD_LETTER_COUNT=0 after the resend")
    assert dead_files(a) == [] and dl_list(a)["batches"] == []
    assert "No dead letters" in ctl(a, "dead-letter", "list").stdout
    assert "Dead letters" not in ctl(a, "status", check=False).stdout
    a.uplink.wait_log("The collector took the resent events", 5)


def test_a_resent_batch_refused_again_goes_back_with_both_answers(bed, make_agent, collector, pki):
    collector.script(400)
    a = make_agent(main_conf=collector_conf(collector, pki)).start()
    wait_for(lambda: len(dead_files(a)) == 1, 10, what="a dead letter")
    [(ids, seqs)] = refused(collector)
    collector.script(400)
    ctl(a, "dead-letter", "resend", f"{seqs[0]}-{seqs[-1]}")
    wait_for(lambda: len(refused(collector)) == 2, 10, what="the resent batch refused again")
    a.uplink.wait_log("refused the resent events", 5)
    wait_for(lambda: dl_list(a)["count"] == 1 and dl_list(a)["batches"][0]["state"] == "dead-letter", 5,
             what="the batch back in dead-letter/")
    b = dl_list(a)["batches"][0]
    assert [x["status"] for x in b["answers"]] == [400, 400]
    assert all("test says 400" in x["response"] for x in b["answers"])
    assert (b["first_seq"], b["last_seq"], b["count"]) == (seqs[0], seqs[-1], len(seqs))
    assert "2 answers" in ctl(a, "dead-letter", "list").stdout
    # Same events, same bytes: the file holds the batch exactly as it was sent.
    with open(dead_files(a)[0]) as f:
        assert [json.loads(x)["id"] for x in f.read().splitlines()[1:]] == ids
    # The third time, the collector takes it.
    ctl(a, "dead-letter", "resend", os.path.basename(dead_files(a)[0]))
    wait_for(lambda: set(ids) <= {e["id"] for e in collector.events()}, 10, what="the batch delivered at last")
    check_feed(collector.events())
    wait_for(lambda: status_counts(a)[0] == 0, 5, what="no dead letter left")


def test_the_bound_keeps_the_batch_in_the_spool_until_there_is_room(bed, make_agent, collector, pki):
    # spool.max_size_mb bounds the dead letters too: 1 MiB here, nearly all of it taken.
    a = make_agent(main_conf=collector_conf(collector, pki, spool_mb=1, backoff_max="1s"))
    os.makedirs(a.uplink.dead_letter, exist_ok=True)
    filler = os.path.join(a.uplink.dead_letter, "filler")
    with open(filler, "wb") as f:
        f.write(b"x" * (1024 * 1024 - 100))
    collector.script(400, 400, 400)
    a.start()
    wait_for(lambda: len(refused(collector)) >= 2, 15, what="the 400 and its retry")
    a.uplink.wait_log("the dead-letter directory is full", 5, count=2)
    # Kept, not acknowledged: the same batch went again.
    first, second = refused(collector)[:2]
    assert first == second
    assert dead_files(a) == []
    assert "dead-letter directory is full" in a.uplink.status()["LAST_ERROR"]
    # The filler is listed (as damaged: not a dead letter) and counted in the bound's bytes.
    js = dl_list(a)
    assert [b["state"] for b in js["batches"]] == ["damaged"] and js["bytes"] >= 1024 * 1024 - 100
    # Room again: the next 400 is dead-lettered, nothing was lost on the way.
    os.unlink(filler)
    ctl(a, "flush")
    wait_for(lambda: len(dead_files(a)) == 1, 15, what="the dead letter written once there is room")
    with open(dead_files(a)[0]) as f:
        assert [json.loads(x)["id"] for x in f.read().splitlines()[1:]] == first[0]


def test_heartbeat_carries_the_dead_letter_counts(bed, make_agent, collector, pki):
    collector.script(400)
    a = make_agent(main_conf=collector_conf(collector, pki, heartbeat_interval=1)).start()
    wait_for(lambda: len(dead_files(a)) == 1, 10, what="a dead letter")
    size = os.path.getsize(dead_files(a)[0])

    def hb(pred):
        return [e for e in collector.events() if e["kind"] == "agent.heartbeat"
                and pred(e["heartbeat"]["uplink"]["dead_letter"])]
    wait_for(lambda: hb(lambda d: d == {"batches": 1, "bytes": size}), 10, what="a heartbeat with the dead letter")
    ctl(a, "dead-letter", "resend", "--all")
    wait_for(lambda: hb(lambda d: d == {"batches": 0, "bytes": 0})
             and max(e["seq"] for e in hb(lambda d: d["batches"] == 0))
             > max(e["seq"] for e in hb(lambda d: d["batches"] == 1)), 10, what="a later heartbeat without it")


def test_hostile_files_are_set_aside_and_never_followed(bed, make_agent, collector, pki, tmp_path):
    a = make_agent(main_conf=collector_conf(collector, pki)).start()
    collector.wait_events(1)
    resend = os.path.join(a.uplink.state, "resend")
    secret = tmp_path / "secret"
    secret.write_text("not for the collector\n")
    # A damaged file, a symlink and a file too large in resend/: each set aside, none sent, the uplink lives.
    name = f"{1:020d}-{2:020d}.ndjson"
    with open(os.path.join(resend, name), "w") as f:
        f.write('{"mamori_dead_letter":{"first_seq":1,"last_seq":2,"count":2,"status":400,"response":"x",'
                '"time":"2026-01-01T00:00:00Z"}}\n{"id":"a","seq":1}\nnot json\n')
    link = f"{3:020d}-{3:020d}.ndjson"
    os.symlink(str(secret), os.path.join(resend, link))
    big = f"{4:020d}-{4:020d}.ndjson"
    with open(os.path.join(resend, big), "wb") as f:
        f.write(b"{" * (3 * 1024 * 1024))
    n = len(collector.requests)
    ctl(a, "flush")
    for x in (name, link, big):
        wait_for(lambda: os.path.lexists(os.path.join(a.uplink.dead_letter, x + ".damaged")), 10,
                 what=f"{x} set aside")
    assert os.listdir(resend) == []
    a.uplink.wait_log("is set aside as", 5, count=3)
    assert all("not for the collector" not in json.dumps(r["events"]) for r in collector.requests[n:])
    assert a.uplink.running()
    # mamorictl lists them as damaged and resends none of them; a symlink in
    # dead-letter/ named as a batch is refused, not followed.
    os.symlink(str(secret), os.path.join(a.uplink.dead_letter, link))
    js = dl_list(a)
    assert {b["state"] for b in js["batches"]} == {"damaged"}
    p = ctl(a, "dead-letter", "resend", "3-3", check=False)
    assert p.returncode != 0 and "no dead letter" in p.stderr
    assert os.path.islink(os.path.join(a.uplink.dead_letter, link)) and secret.read_text() == "not for the collector\n"
    # Still delivering.
    plug(bed, 1, 0)
    collector.wait_events(1, kind="usb.blocked")


NOBODY = 65534


def test_resend_as_root_into_the_directories_of_the_uplink_user(bed, make_agent, collector, pki):
    """As installed: the uplink its own user (nobody here), its state
    directory and dead letters its own; mamorictl root. The resend is a rename
    inside that user's directories: the files stay the uplink's (no chown),
    the uplink reads them back and delivers them."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv")
    a = make_agent()
    os.chmod(a.dir, 0o711)
    # the client key readable by the uplink's group alone, as packaging installs it (root:<group> 0640)
    d = os.path.join(a.dir, "pki")
    os.makedirs(d, mode=0o755)
    mine = dict(pki)
    for key, mode in (("ca", 0o644), ("client_cert", 0o644), ("client_key", 0o640)):
        mine[key] = os.path.join(d, os.path.basename(pki[key]))
        shutil.copyfile(pki[key], mine[key])
        os.chown(mine[key], 0, NOBODY if key == "client_key" else 0)
        os.chmod(mine[key], mode)
    a.write_conf(collector_conf(collector, mine))
    os.makedirs(a.state, mode=0o711)
    os.chmod(a.state, 0o711)
    spool = os.path.join(a.state, "spool")
    os.mkdir(spool)
    os.chown(spool, 0, NOBODY)
    os.chmod(spool, 0o2750)
    a.uplink.user = (NOBODY, NOBODY)
    collector.script(400)
    a.start()
    wait_for(lambda: len(dead_files(a)) == 1, 10, what="a dead letter written by the uplink's user")
    [(ids, _)] = refused(collector)
    st = os.stat(dead_files(a)[0])
    assert (st.st_uid, st.st_mode & 0o777) == (NOBODY, 0o600)
    assert os.stat(os.path.join(a.uplink.state, "resend")).st_uid == NOBODY
    assert dl_list(a)["count"] == 1
    ctl(a, "dead-letter", "resend", "--all")
    wait_for(lambda: set(ids) <= {e["id"] for e in collector.events()}, 10, what="the resent batch delivered")
    check_feed(collector.events())
    wait_for(lambda: status_counts(a)[0] == 0, 5, what="no dead letter left")
    assert os.listdir(os.path.join(a.uplink.state, "resend")) == []
