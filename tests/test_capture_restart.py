"""A capture restarted during the day (after a crash, a deploy, a reboot that emptied /dev/shm) continues the
day's journal, and its new ring starts at the journal's next_seq: ring positions stay the journal's sequence
numbers, so a consumer started afterwards replays the journal up to next_seq and reads the ring from there,
and sees every live record of the day exactly once.  (Before, the new ring started at 0: such a reader asked
for a position past the tail, was moved back to the tail without a word, and lost whatever the capture
published between the replay and the reader's start.)"""
import contextlib
import datetime as dt
import os
import re
import subprocess
import sys
import uuid

import numpy as np
import pytest

import vega
from store_helpers import sequence_numbers
from vega import _seqfile, nse
from vega.capture import Capture, CaptureError, FeedConfig, format_stats, load_config
from vega.journal import KEYFRAME

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
T0 = int(dt.datetime(2026, 11, 20, 10, 0, tzinfo=IST).timestamp()) * 10**9
HOUR = 3600 * 10**9


@pytest.fixture
def cfg(tmp_path):
    c = load_config(None, ring=f"vega-restart-{uuid.uuid4().hex[:10]}", journal_root=str(tmp_path / "j"))
    yield c
    try:
        vega.Ring.unlink(c.ring)
    except FileNotFoundError:
        pass


def _feed(cap, datagrams, t):
    fo = cap.feeds[0]
    assert fo.name == "NSE_FO"
    for i in range(0, len(datagrams), 50):
        fo.handler.process_batch(datagrams[i:i + 50], now_ns=t + i * 1_000_000)
    return fo


def _drain(reader, n):
    out = []
    while n > 0:
        got = reader.poll(n)
        assert len(got) or reader.last_lost == 0
        out.append(np.array(got))
        n -= len(got)
    return np.concatenate(out)


def test_the_ring_of_a_restarted_capture_continues_the_journal_numbers(cfg):
    stream = list(nse.sample_stream("FO", 600, seed=8))
    first = Capture(cfg).open(offline_ns=T0)
    try:
        fo = _feed(first, stream[:200], T0)
        n1 = fo.writer.next_seq
        assert n1 > 0 and first.ring.tail("NSE_FO") == n1 and first.ring.info("NSE_FO")["first_seq"] == 0
    finally:
        first.close()                                 # the first run stops

    second = Capture(cfg).open(offline_ns=T0 + HOUR)
    try:
        ring = second.ring
        assert ring.info("NSE_FO")["first_seq"] == ring.tail("NSE_FO") == n1
        assert ring.reader("NSE_FO", start="oldest").position == n1
        fo = _feed(second, stream[200:400], T0 + HOUR)
        fo.writer.flush()

        # a consumer starting now: replay the day so far, then go live from the ring at next_seq
        got = []
        res = vega.replay(cfg.journal_root, dt.date(2026, 11, 20), dt.date(2026, 11, 20), feeds=["NSE_FO"],
                          into=lambda recs, feed: got.append(np.array(recs)))
        nxt = res.next_seq["NSE_FO"]
        assert nxt == fo.writer.next_seq == ring.tail("NSE_FO") > n1
        reader = ring.reader("NSE_FO", start=nxt)
        _feed(second, stream[400:], T0 + 2 * HOUR)         # published after the replay ended
        after = _drain(reader, ring.tail("NSE_FO") - nxt)
        assert reader.lost == 0 and reader.laps == 0 and reader.rewinds == 0 and len(after) > 0
        end = fo.writer.next_seq
    finally:
        second.close()

    replayed = np.concatenate(got)
    path = fo.writer.path
    with vega.Journal.open(path) as j:
        journal = np.array(j.records)
        m = len(replayed)
        assert replayed.tobytes() == journal[:m].tobytes()
        rest = journal[m:]
        live = np.flatnonzero((rest["flags"] & KEYFRAME) == 0)
        assert after.tobytes() == rest[live].tobytes()           # replay + ring = the whole day, once
        assert list(j.seq_of(m + live)) == list(range(nxt, end))
        # and what the second run's ring held from its start is the journal's records numbered from n1
        seqs = j.seq_of(np.arange(len(journal)))
        second_live = np.flatnonzero(((journal["flags"] & KEYFRAME) == 0) & (seqs >= n1))
        assert len(second_live) == end - n1
    again = vega.Ring.open(cfg.ring)
    try:
        r = again.reader("NSE_FO", start="oldest")
        assert r.position == n1
        assert _drain(r, end - n1).tobytes() == journal[second_live].tobytes()
    finally:
        again.close()


def test_an_overlapping_ingest_is_refused_before_the_ring_is_replaced(cfg):
    first = Capture(cfg).open(offline_ns=T0)
    try:
        _feed(first, list(nse.sample_stream("FO", 50, seed=9)), T0)
    finally:
        first.close()
    before = vega.Ring.open(cfg.ring)
    try:
        with pytest.raises(CaptureError, match="already holds records"):
            Capture(cfg).open(offline_ns=T0)
        assert not before.replaced
    finally:
        before.close()


CRASHING = """
import sys
from vega import nse
from vega.capture import Capture, load_config
cap = Capture(load_config(None, ring=sys.argv[1], journal_root=sys.argv[2]))
cap.open(offline_ns=int(sys.argv[3]))
fo = cap.feeds[0]
fo.handler.process_batch(list(nse.sample_stream("FO", 300, seed=11)), now_ns=int(sys.argv[3]))
fo.writer.flush()
print(fo.writer.next_seq, cap.ring.tail("NSE_FO"), flush=True)
import os; os._exit(0)                       # dies holding everything: no seal, no close
"""


def test_after_a_crash_the_new_ring_starts_where_the_recovered_journal_ends(cfg):
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, "-c", CRASHING, cfg.ring, cfg.journal_root, str(T0)], capture_output=True,
                       text=True, timeout=60, cwd=root, env=dict(os.environ, PYTHONPATH=root))
    assert p.returncode == 0, p.stderr
    n_journal, n_ring = map(int, p.stdout.split())
    assert n_journal == n_ring > 0
    cap = Capture(cfg).open(offline_ns=T0 + HOUR)            # takes over the dead capture's ring and journal
    try:
        fo = cap.feeds[0]
        assert fo.writer.next_seq == n_journal                # the flushed records survived the crash
        assert cap.ring.info("NSE_FO")["first_seq"] == cap.ring.tail("NSE_FO") == n_journal
        assert cap.ring.info("NSE_FO")["writer_pid"] == os.getpid()
        assert cap.ring.tail("NSE_EQ") == cap.feeds[1].writer.next_seq
        _feed(cap, list(nse.sample_stream("FO", 50, seed=12)), T0 + HOUR)
        assert cap.ring.tail("NSE_FO") == fo.writer.next_seq > n_journal
    finally:
        cap.close()


KILLED_UNFLUSHED = """
import sys
import numpy as np
import vega.journal
from vega import nse
from vega.capture import Capture, load_config
_writer = vega.journal.JournalWriter        # no time-driven flush: what is buffered stays buffered, however slow
vega.journal.JournalWriter = lambda *a, **k: _writer(*a, **dict(k, flush_interval=None))
cap = Capture(load_config(None, ring=sys.argv[1], journal_root=sys.argv[2]))
cap.open(offline_ns=int(sys.argv[3]))
fo = cap.feeds[0]
h = fo.handler
if int(sys.argv[5]):                         # a first part, written to the file
    h.process_batch(list(nse.sample_stream("FO", 200, seed=11)), now_ns=int(sys.argv[3]))
    fo.writer.flush()
n_flushed = fo.writer.next_seq
h.process_batch(list(nse.sample_stream("FO", 100, seed=13 + int(sys.argv[6]))),
                now_ns=int(sys.argv[3]) + 10**9)                          # buffered only
extra = int(sys.argv[4])
if extra:                                    # more than the ring holds, published but never journaled
    h.close()                                # (hands the slot back)
    from vega.records import CHANGE_RECORD_DTYPE
    recs = np.zeros(extra, dtype=CHANGE_RECORD_DTYPE)
    recs["token"] = 7
    recs["group"] = 1
    cap.ring.append("NSE_FO", recs)
print(n_flushed, cap.ring.tail("NSE_FO"), flush=True)
import os; os._exit(0)                       # killed: the journal's buffer is lost, the ring has it all
"""


def _ring_records(name, start, end):
    """The NSE_FO records numbered start .. end - 1 in ring ``name``."""
    ring = vega.Ring.open(name)
    try:
        return _drain(ring.reader("NSE_FO", start=start), end - start)
    finally:
        ring.close()


def _killed(cfg, extra=0, flushed_first=True, seed=0, t=T0):
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, "-c", KILLED_UNFLUSHED, cfg.ring, cfg.journal_root, str(t), str(extra),
                        str(int(flushed_first)), str(seed)],
                       capture_output=True, text=True, timeout=120, cwd=root, env=dict(os.environ, PYTHONPATH=root))
    assert p.returncode == 0, p.stderr
    return tuple(map(int, p.stdout.split()))


def test_records_a_killed_capture_published_but_never_journaled_are_taken_from_its_ring(cfg):
    """The journal buffers (flush_interval), the ring publishes at once: a capture killed in between leaves
    records in the ring that the journal never got.  The restarted capture appends them to the journal before
    it replaces the ring, so its new ring starts after them: no number a reader saw means another record."""
    n_flushed, n_ring = _killed(cfg)
    assert n_ring > n_flushed > 0
    published = _ring_records(cfg.ring, n_flushed, n_ring)
    cap = Capture(cfg).open(offline_ns=T0 + HOUR)
    try:
        fo = cap.feeds[0]
        assert fo.writer.next_seq == n_ring
        assert cap.ring.info("NSE_FO")["first_seq"] == cap.ring.tail("NSE_FO") == n_ring
        with vega.Journal.open(fo.writer.path) as j:          # in the file already: the old ring is gone
            assert j.next_seq == n_ring
        notes = cap.start_notes()
        assert any(f"NSE_FO: {n_ring - n_flushed:,} records the killed capture had published" in m
                   and f"numbers {n_flushed:,}..{n_ring - 1:,}" in m for m in notes), notes
        _feed(cap, list(nse.sample_stream("FO", 50, seed=12)), T0 + HOUR)
        path = fo.writer.path
    finally:
        cap.close()
    rep = vega.verify(path)
    assert rep.ok, rep
    with vega.Journal.open(path) as j:
        recs = np.array(j.records)
        seqs = j.seq_of(np.arange(len(recs)))
    live = (recs["flags"] & KEYFRAME) == 0
    got = recs[live & (seqs >= n_flushed) & (seqs < n_ring)]
    got["flags"] &= ~vega.records.CONTINUED & 0xFF
    published["flags"] &= ~vega.records.CONTINUED & 0xFF
    assert got.tobytes() == published.tobytes()              # the very records the ring had published
    vega.replay(cfg.journal_root, dt.date(2026, 11, 20),                     # and the day replays
                into={f: vega.Store(8192) for f in vega.journal.FEEDS})      # a store per feed


def test_records_the_ring_overwrote_are_said_lost_and_nothing_is_appended(cfg):
    n_flushed, n_ring = _killed(cfg, extra=40_000)            # more than the 32,768-record slot holds
    assert n_ring - n_flushed > 32_768
    cap = Capture(cfg).open(offline_ns=T0 + HOUR)
    try:
        assert cap.feeds[0].writer.next_seq == n_flushed
        notes = cap.start_notes()
        assert any(f"NSE_FO: ring {cfg.ring}, whose writer was killed, holds records {n_flushed:,}..{n_ring - 1:,}"
                   f" past this journal's end but has overwritten" in m and "none added" in m for m in notes), notes
    finally:
        cap.close()


def test_a_ring_that_does_not_continue_the_journal_is_left_out(cfg, tmp_path):
    """A ring of another journal (another root, or another day) is not taken for this one's continuation."""
    _killed(cfg)
    other = load_config(None, ring=cfg.ring, journal_root=str(tmp_path / "other"))
    with vega.JournalWriter(tmp_path / "other", "NSE_FO", dt.date(2026, 11, 20), checkpoint_interval=None) as w:
        r = np.zeros(3, vega.records.CHANGE_RECORD_DTYPE)
        r["token"] = 99
        r["group"] = 1
        w.append(r)                                           # 3 records of its own: the ring's 3rd is not its
    cap = Capture(other).open(offline_ns=T0 + HOUR)
    try:
        assert cap.feeds[0].writer.next_seq == 3
        # (nothing from the ring: the store starts from the journal's own state alone; the ring's readers are
        # told to start again)
        tail = cap.feeds[0].writer.next_seq
        notes = cap.start_notes()
        assert len(notes) == 2 and notes[1] == ("NSE_FO: the store starts from the day's journal so far "
                                                "(20261120.bin): 1 instruments; its latest record is stamped "
                                                "00:00:00.000 IST, 11.0h before this start: what the feed sent in "
                                                "between is not in it")
        assert notes[0].startswith(f"NSE_FO: ring {cfg.ring} has published records up to ")
        assert notes[0].endswith(", but this journal ends at 3 (the ring was another journal's: another root, "
                                 "another day): the new ring numbers its records from 3 again, so its readers "
                                 "must start again, not go on at their positions"), notes[0]
        assert tail == 3
        assert cap.ring.info("NSE_FO")["first_seq"] == 3
    finally:
        cap.close()


def test_a_capture_killed_twice_keeps_every_record(cfg):
    """The second run's ring starts at the journal's end (first_seq == next_seq): it holds none of the
    journal's records to compare with, and what it published unjournaled is still taken."""
    n1, t1 = _killed(cfg)
    assert t1 > n1
    n2, t2 = _killed(cfg, flushed_first=False, seed=1, t=T0 + HOUR)   # recovers t1 - n1, killed unflushed
    assert n2 == t1 and t2 > t1
    cap = Capture(cfg).open(offline_ns=T0 + 2 * HOUR)
    try:
        assert cap.feeds[0].writer.next_seq == t2
        assert any(f"numbers {t1:,}..{t2 - 1:,}" in m for m in cap.start_notes()), cap.start_notes()
        path = cap.feeds[0].writer.path
    finally:
        cap.close()
    assert vega.verify(path).ok


def test_a_cleanly_stopped_captures_ring_is_not_taken(cfg, tmp_path):
    """A clean stop leaves no writer in the ring (its journal has every record): another capture with the same
    ring name and another journal root, even an empty one, takes nothing from it.  Its ring numbers records
    from 0 again, so the start notes tell the operator that the ring's readers must start again."""
    first = Capture(cfg).open(offline_ns=T0)
    try:
        _feed(first, list(nse.sample_stream("FO", 100, seed=8)), T0)
        tail = first.ring.tail("NSE_FO")
    finally:
        first.close()
    other = load_config(None, ring=cfg.ring, journal_root=str(tmp_path / "other"))
    cap = Capture(other).open(offline_ns=T0 + HOUR)
    try:
        assert cap.feeds[0].writer.next_seq == 0
        assert cap.start_notes() == [f"NSE_FO: ring {cfg.ring} has published records up to {tail - 1:,}, but this "
                                     "journal ends at 0 (its day file was removed, or the ring was another "
                                     "journal's): the new ring numbers its records from 0 again, so its readers "
                                     "must start again, not go on at their positions"]
    finally:
        cap.close()


def test_a_restart_after_the_days_journal_was_removed_says_the_ring_numbers_start_again(cfg):
    """The operator removed the day's journal while the capture was stopped: the restarted capture's journal
    starts at 0, and so does its new ring, so a reader that went on at its position (RingReplaced.position)
    would skip the records numbered below it.  The start notes say so; with the journal kept, they say nothing
    of the ring."""
    for remove in (False, True):
        first = Capture(cfg).open(offline_ns=T0)
        try:
            _feed(first, list(nse.sample_stream("FO", 50, seed=3)), T0)
            tail, path = first.ring.tail("NSE_FO"), first.feeds[0].writer.path
        finally:
            first.close()
        if remove:
            path.unlink()
        cap = Capture(cfg).open(offline_ns=T0 + HOUR)
        try:
            notes = [m for m in cap.start_notes() if "ring" in m]
            if remove:
                assert cap.feeds[0].writer.next_seq == 0 and cap.ring.info("NSE_FO")["first_seq"] == 0
                assert notes == [f"NSE_FO: ring {cfg.ring} has published records up to {tail - 1:,}, but this "
                                 "journal ends at 0 (its day file was removed, or the ring was another journal's): "
                                 "the new ring numbers its records from 0 again, so its readers must start again, "
                                 "not go on at their positions"]
            else:
                assert cap.feeds[0].writer.next_seq == tail and notes == []
        finally:
            cap.close()
        path.unlink()


def test_an_ingest_overlapping_the_recovered_records_is_refused(cfg):
    """The overlap check sees the records recovered from the killed capture's ring (stamped up to T0 + 1 s):
    an ingest starting before them would write earlier records after them."""
    n_flushed, n_ring = _killed(cfg)
    with pytest.raises(CaptureError, match="already holds records"):
        Capture(cfg).open(offline_ns=T0 + 5 * 10**8)
    with vega.Journal.open(f"{cfg.journal_root}/NSE_FO/20261120.bin") as j:
        assert j.next_seq == n_ring                            # recovered, and kept


def test_an_update_the_killed_journal_ended_inside_is_one_update_again(cfg):
    """A size-driven write can end the file inside an update; the reopen closes it there, and the recovery, which
    appends the rest of it from the ring, flags that record CONTINUED again: the journal's records are the
    ring's, byte for byte, one update as published."""
    n_flushed, n_ring = _killed(cfg)
    path = f"{cfg.journal_root}/NSE_FO/20261120.bin"
    with vega.Journal.open(path) as j:
        recs = np.array(j.records)
    live = (recs["flags"] & KEYFRAME) == 0
    inside = np.flatnonzero(live & ((recs["flags"] & vega.records.CONTINUED) != 0))
    k = int(inside[len(inside) // 2])                        # a record inside a multi-record update
    assert recs["token"][k + 1] == recs["token"][k]
    with open(path, "r+b") as f:                             # the file as a write that stopped there leaves it
        f.truncate(64 + 32 * (k + 1))
    seq_k = k - int(np.count_nonzero(~live[:k]))             # its sequence number (checkpoints take none)
    published = _ring_records(cfg.ring, seq_k, n_ring)
    cap = Capture(cfg).open(offline_ns=T0 + HOUR)
    try:
        w = cap.feeds[0].writer
        assert w.recovered["closed_updates"] == [k] and w.next_seq == n_ring
    finally:
        cap.close()
    with vega.Journal.open(path) as j:
        got = np.array(j.records)[k:]
        got = got[(got["flags"] & KEYFRAME) == 0][:len(published)]
    assert got.tobytes() == published.tobytes()              # record k flagged CONTINUED again, as the ring has it
    assert vega.verify(path).ok
    vega.replay(cfg.journal_root, dt.date(2026, 11, 20), into={f: vega.Store(8192) for f in vega.journal.FEEDS})


def test_an_earlier_days_file_left_unsealed_is_named_at_start(cfg):
    """A capture killed on an earlier day and not restarted that day left its file unsealed: the next start
    seals it and names it (tests/test_operator_review_37.py has more); sealed files are not named."""
    root = f"{cfg.journal_root}/NSE_FO"
    day1 = vega.JournalWriter(cfg.journal_root, "NSE_FO", dt.date(2026, 11, 18), checkpoint_interval=None)
    day1.append(np.zeros(2, vega.records.CHANGE_RECORD_DTYPE))
    day1.close()                                              # sealed
    w = vega.JournalWriter(cfg.journal_root, "NSE_FO", dt.date(2026, 11, 19), checkpoint_interval=None,
                           flush_interval=0)
    w.append(np.zeros(3, vega.records.CHANGE_RECORD_DTYPE))
    image = w.path.read_bytes()
    w.close()
    w.path.write_bytes(image)                                 # as the kill left it: open, no writer
    cap = Capture(cfg).open(offline_ns=T0)
    try:
        notes = cap.start_notes()
    finally:
        cap.close()
    assert [m for m in notes if "sealed" in m] == [
        f"{root}/20261119.bin: left unsealed by a killed capture (no writer holds it); sealed now: its 3 records kept "
        "(3 change records); but record 0 is damaged (unknown group), 3 damaged record(s) in all: replay "
        f"stops before the first, and vega verify {root}/20261119.bin names them"]
    assert vega.verify(f"{root}/20261119.bin").state == "sealed"


def test_a_restarted_captures_store_starts_from_the_days_journal(cfg):
    """A capture restarted during the day used to start with empty stores: `vega watch` and every
    `Store.open` reader lost the instruments that had not ticked since, and its first checkpoint held only
    what came after the restart, so `Journal.snapshot_at` after it (the nearest checkpoint on) disagreed with a
    replay of the whole file.  Now each store starts from the journal's state, and says so."""
    from vega.capture import compare_stores, replay_journal_into
    stream = list(nse.sample_stream("FO", 600, seed=8))
    first = Capture(cfg).open(offline_ns=T0)
    try:
        fo = _feed(first, stream[:400], T0)
        before = len(fo.store)
        fo.handler.checkpoint(10 * HOUR)
    finally:
        first.close()

    second = Capture(cfg).open(offline_ns=T0 + HOUR)
    try:
        fo = second.feeds[0]
        path, base = fo.writer.path, fo.store.header["day_base_ns"]
        assert len(fo.store) == before > 0
        # and when the journal stops (the last batch merged at T0 + 350 ms), which the restart's sequence gaps
        # (counted afresh) never show
        assert (f"NSE_FO: the store starts from the day's journal so far ({path.name}): {before:,} instruments; its "
                f"latest record is stamped 10:00:00.350 IST, 60m before this start: what the feed sent in between "
                f"is not in it") in second.start_notes()
        _feed(second, stream[400:430], T0 + HOUR)                  # a few of the instruments tick again
        fo.handler.checkpoint(11 * HOUR)
        fo.writer.flush()
        replayed = replay_journal_into(path, 65536, base)
        assert compare_stores(fo.store, replayed) == (len(replayed), []) and len(replayed) >= before
        with vega.Journal.open(path) as j:
            assert compare_stores(j.snapshot_at(11 * HOUR), replayed) == (len(replayed), [])
    finally:
        second.close()


def test_a_store_too_small_for_the_days_journal_starts_with_its_instruments_up_to_date(cfg):
    """A restarted capture whose store holds fewer instruments than the day's journal applied the journal until
    the store was full: the instruments it took stayed at their state of that point (their later updates were
    never applied), though the note said the store starts with them.  Now it takes the first instruments with
    all their records, as the live store does once full (it drops only the others' updates)."""
    from vega.capture import META_FIELDS, replay_journal_into
    stream = list(nse.sample_stream("FO", 600, seed=8))
    first = Capture(cfg).open(offline_ns=T0)
    try:
        fo = _feed(first, stream, T0)
        n, path, base = len(fo.store), fo.writer.path, fo.store.header["day_base_ns"]
    finally:
        first.close()
    small = load_config(None, ring=cfg.ring, journal_root=cfg.journal_root, store_capacity=n // 2)
    second = Capture(small).open(offline_ns=T0 + HOUR)
    try:
        st = second.feeds[0].store
        assert len(st) == n // 2
        a = st.snapshot()
        b = replay_journal_into(path, 65536, base).snapshot()
        a = a[np.argsort(a["token"])]
        b = b[np.isin(b["token"], a["token"])]
        b = b[np.argsort(b["token"])]
        assert np.array_equal(a["token"], b["token"])
        stale = {f: int(np.count_nonzero((a[f] != b[f]).reshape(len(a), -1).any(axis=1)))
                 for f in a.dtype.names if f not in META_FIELDS}
        assert {f: k for f, k in stale.items() if k} == {}
        assert [m for m in second.start_notes() if "more than the store's" in m] == [
            f"NSE_FO: the day's journal holds {n:,} instruments, more than the store's {n // 2:,}: it starts with "
            f"the first {n // 2:,} of them (the others' updates dropped, as a full store drops them); raise "
            "store_capacity"]
    finally:
        second.close()


def test_a_damaged_record_in_the_days_journal_does_not_stop_a_restart(cfg):
    """Seeding the store from the day's journal raised the store's ValueError out of open() on a damaged record
    (zeroed records, as a power loss leaves a file's tail): `vega capture: ValueError: record 5838: unknown
    group`, no file named, and the capture, which started before the seeding, did not start at all.  Now the
    store starts from the records before it and the start notes name the file and the record."""
    from vega.capture import compare_stores
    from vega.journal import JournalWriter
    stream = list(nse.sample_stream("FO", 300, seed=8))
    first = Capture(cfg).open(offline_ns=T0)
    try:
        fo = _feed(first, stream, T0)
        path, n = fo.writer.path, fo.writer.n_records
    finally:
        first.close()
    w = JournalWriter.reopen(path)
    w.append(bytes(32 * 3))                                   # three zeroed records
    w.close()
    second = Capture(cfg).open(offline_ns=T0 + HOUR)
    try:
        assert f"{path}: record {n:,}: unknown group: 3 damaged record(s) from there (vega verify names them); " \
               "NSE_FO's store starts from the records before it" in second.start_notes()
        assert compare_stores(second.feeds[0].store, fo.store) == (len(fo.store), [])
    finally:
        second.close()
        fo.store.close()


def _remove(cap, cfg):
    """Close the capture and remove its stores and ring."""
    cap.close()
    cap.unlink()
    with contextlib.suppress(FileNotFoundError):
        vega.Ring.unlink(cfg.ring)


def test_one_capture_opened_again_after_close_reopens_its_named_stores(tmp_path):
    """``close()`` leaves the stores open (their state can still be read there); the same Capture opened
    again (``run()`` twice: each run opens and closes it) was refused, its own stores taken for "being
    written by another process (a running capture?)", and kept the old stores mapped.  Now open() lets go of
    the stores a closed capture still held and takes them up again from the day's journal."""
    tag = uuid.uuid4().hex[:10]
    cfg = load_config(None, ring=f"vega-reopen-{tag}", store=f"vega-reopen-{tag}", journal_root=str(tmp_path / "j"))
    stream = list(nse.sample_stream("FO", 200, seed=3))
    cap = Capture(cfg)
    try:
        cap.open(offline_ns=T0)
        first = _feed(cap, stream, T0)
        old_store, n = first.store, len(first.store)
        cap.close()
        assert n > 0 and not old_store.closed              # its state can still be read after close()
        cap.open(offline_ns=T0 + HOUR)                       # refused before: "another process"
        assert old_store.closed and cap.feeds[0].store is not old_store
        assert len(cap.feeds[0].store) == n                  # the day's journal so far
        cap.close()
        cap.open(offline_ns=T0 + 2 * HOUR)
        cap.close()
        assert sorted(cap._owned_stores) == sorted(set(cap._owned_stores))    # each name once, not per open
    finally:
        _remove(cap, cfg)


def test_start_notes_are_the_last_openings_not_every_openings(tmp_path):
    """start_notes() says what opening found; a Capture opened again appended each opening's notes to the
    earlier ones, so the list (and its memory) grew with every open and repeated stale lines."""
    tag = uuid.uuid4().hex[:10]
    cfg = load_config(None, ring=f"vega-notes-{tag}", store="", journal_root=str(tmp_path / "j"))
    stream = list(nse.sample_stream("FO", 100, seed=4))
    cap = Capture(cfg)
    try:
        cap.open(offline_ns=T0)
        _feed(cap, stream, T0)
        cap.close()
        for k in range(1, 4):
            cap.open(offline_ns=T0 + k * HOUR)
            notes = cap.start_notes()
            cap.close()
            assert len([n for n in notes if "NSE_FO: the store starts from the day's journal so far" in n]) == 1, notes
    finally:
        _remove(cap, cfg)


def test_a_killed_captures_ring_removed_while_it_is_read_gives_nothing_to_recover(shm_file_name):
    """The recovery reads the killed capture's ring; a poll of a ring removed meanwhile that finds nothing
    raises RingReplaced, which the recovery takes as nothing more to read, as an empty poll, not a crash."""
    from vega._ring import Ring
    from vega.capture import _poll_old
    w = Ring.create(shm_file_name)
    w._write_test_records("NSE_FO", 3)
    old = Ring.open(shm_file_name)
    r = old.reader("NSE_FO", None, start=0, on_lap="oldest")
    try:
        w.close()
        Ring.unlink(shm_file_name)
        assert old.replaced
        assert [len(_poll_old(r, 2)), len(_poll_old(r, 2))] == [2, 1]     # what it holds, as before
        got = _poll_old(r, 2)
        assert len(got) == 0 and got.dtype == vega.records.CHANGE_RECORD_DTYPE
        with pytest.raises(vega.RingReplaced):
            r.poll(2)
    finally:
        r.close()
        old.close()


# -- what the feed sent while the capture was down --------------------------------------------------------------
# Each stream's last BCSeqNo is kept beside the day's journal (YYYYMMDD.seq, vega._seqfile) at the journal's seal
# and after each checkpoint, and the restarted handler counts each stream's first number against it
# (missed_while_down), apart from the live gaps: exact after a clean stop, after a kill an upper bound that
# holds.  A missing, damaged or foreign sidecar is said once at start and the capture goes on as before.
# (Before, the gap counters started afresh and the stop's loss showed nowhere.)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the capture's day is today's (IST), so that housekeeping (which writes the sidecar) starts no new day
DAY0 = int(dt.datetime.combine(dt.datetime.now(IST).date(), dt.time(), IST).timestamp()) * 10**9
T1 = DAY0 + 60 * 10**9
T2 = DAY0 + 120 * 10**9
STREAM = list(nse.sample_stream("FO", 300, seed=11))


@pytest.fixture
def live(cfg):
    """A live capture's config (what keeps the sidecar; an ingest does not): one FO feed on a loopback port."""
    from net_helpers import free_udp_port
    return load_config(None, ring=cfg.ring, journal_root=cfg.journal_root,
                       feeds=[FeedConfig("FO", "127.0.0.1", free_udp_port())])


def _live_missed(*parts):
    """The live gap counter's count over the datagrams of ``parts`` in one run (the same rule, one handler)."""
    h = vega.FeedHandler("FO", vega.Store(10_000))
    for p in parts:
        h.process_batch(p)
    return sum(v["missed"] for v in h.stats["streams"].values())


def _run(cfg, datagrams, t):
    cap = Capture(cfg).open()
    try:
        _feed(cap, datagrams, t)
    finally:
        cap.close()
    return cap


def test_a_clean_stop_and_restart_counts_exactly_what_was_dropped_in_between(live):
    dropped = STREAM[150:200]
    expected = sum(len(v) for v in sequence_numbers(dropped).values())
    assert expected > 0 and _live_missed(STREAM[:150], STREAM[200:]) == expected
    first = _run(live, STREAM[:150], T1)
    assert first.stats()["feeds"]["NSE_FO"]["missed_while_down"] is None      # (no restart: nothing to count)
    seq = os.path.join(live.journal_root, "NSE_FO", f"{dt.datetime.now(IST).date():%Y%m%d}.seq")
    assert _seqfile.read(seq).sealed

    said = []
    cap = Capture(live).open()
    cap.on_warning = said.append
    try:
        note = [n for n in cap.start_notes() if ".seq" in n]
        assert len(note) == 1 and "exact" in note[0] and "NSE_FO" in note[0]
        fo = _feed(cap, STREAM[200:], T2)
        d = cap.stats()["feeds"]["NSE_FO"]
        assert d["missed_while_down"] == expected and not d["missed_while_down_is_bound"]
        assert d["missed"] == 0 and d["gaps"] == 0 and d["streams_not_heard_since_restart"] == 0
        per_stream = {int(k): v["missed_while_down"] for k, v in d["streams"].items()}
        assert per_stream == {k: len(v) for k, v in sequence_numbers(dropped).items()}
        assert f"missed 0 missed while down {expected:,} " in format_stats(cap.stats())
        cap.housekeeping()                                 # the restart note's follow-up, once the streams spoke
        assert [w for w in said if "while the capture was down" in w] == [
            f"NSE_FO: the feed sent exactly {expected:,} sequence numbers while the capture was down ("
            + ", ".join(f"stream {k}: {n:,}" for k, n in sorted(per_stream.items())) + ")"]
        assert fo.writer.next_seq > 0
    finally:
        cap.close()


def test_a_new_day_forgets_the_resumed_streams_not_heard(live):
    """The handler's new_day forgets the streams resumed from the sidecar; the capture kept awaiting them, and read
    the handler's stats at every housekeeping pass for the rest of its run."""
    _run(live, STREAM[:150], T1)
    cap = Capture(live).open()
    try:
        fo = cap.feeds[0]
        assert fo.seqs.pending and cap.stats()["feeds"]["NSE_FO"]["streams_not_heard_since_restart"]
        cap.new_day(dt.datetime.now(IST).date() + dt.timedelta(days=1), DAY0 + 86_400 * 10**9)
        assert fo.seqs.pending == set() and fo.handler.stream_seqs() == {}
        assert cap.stats()["feeds"]["NSE_FO"]["streams_not_heard_since_restart"] == 0
    finally:
        cap.close()


KILLED = """
import os, signal, sys
from vega import nse
from vega.capture import Capture, FeedConfig, load_config
cap = Capture(load_config(None, ring=sys.argv[1], journal_root=sys.argv[2],
                          feeds=[FeedConfig("FO", "127.0.0.1", int(sys.argv[4]))]))
t = int(sys.argv[3])
cap.open()
fo = cap.feeds[0]
s = list(nse.sample_stream("FO", 300, seed=11))
fo.handler.process_batch(s[:100], now_ns=t)
cap.housekeeping()
fo.handler.checkpoint(10**9)                 # a checkpoint: the next housekeeping writes the sidecar
cap.housekeeping()
fo.handler.process_batch(s[100:150], now_ns=t + 10**6)      # journaled after the sidecar
fo.writer.flush()
print(fo.writer.next_seq, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_after_a_kill_the_count_is_an_upper_bound_that_holds(live):
    p = subprocess.run([sys.executable, "-c", KILLED, live.ring, str(live.journal_root), str(T1),
                        str(live.feeds[0].port)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert p.returncode == -9, p.stderr
    journaled = int(p.stdout.split()[0])
    true_loss = _live_missed(STREAM[:150], STREAM[200:])          # what the feed sent while it was down
    counted_from_sidecar = _live_missed(STREAM[:100], STREAM[200:])
    assert counted_from_sidecar > true_loss > 0

    cap = Capture(live).open()
    try:
        fo = cap.feeds[0]
        assert fo.writer.next_seq == journaled                    # the killed run's journal, all of it
        note = [n for n in cap.start_notes() if ".seq" in n]
        assert len(note) == 1 and "upper bound" in note[0] and "not at a seal" in note[0]
        _feed(cap, STREAM[200:], T2)
        d = cap.stats()["feeds"]["NSE_FO"]
        assert d["missed_while_down_is_bound"] and d["missed"] == 0
        assert d["missed_while_down"] == counted_from_sidecar >= true_loss
        assert f"missed while down <= {counted_from_sidecar:,}" in format_stats(cap.stats())
    finally:
        cap.close()
    # stopped cleanly this time: the sidecar is the seal's again, and a restart is exact
    assert _seqfile.read(_seqfile.seq_path(fo.writer.path)).sealed


def _restart_with(cfg, damage):
    """A clean first run, ``damage(path of the sidecar)``, then a restart: its notes and stats after the rest
    of the stream."""
    _run(cfg, STREAM[:150], T1)
    path = _seqfile.seq_path(os.path.join(cfg.journal_root, "NSE_FO",
                                          f"{dt.datetime.now(IST).date():%Y%m%d}.bin"))
    damage(path)
    cap = Capture(cfg).open()
    try:
        fo = _feed(cap, STREAM[200:], T2)
        notes = [n for n in cap.start_notes() if ".seq" in n]
        d = cap.stats()["feeds"]["NSE_FO"]
        before = fo.writer.next_seq
    finally:
        cap.close()
    assert before > 0 and d["datagrams"] == 0 and d["messages"] > 0      # (fed through the handler)
    # the capture went on as before: its live counters start afresh, and nothing is counted for the stop
    assert d["missed_while_down"] is None and d["missed"] == 0
    assert "missed while down" not in format_stats(cap.stats())
    assert _seqfile.read(path).sealed                        # its own stop wrote a good one again
    return notes


def test_a_damaged_sidecar_is_said_once_and_the_capture_goes_on(live):
    def damage(path):
        b = bytearray(path.read_bytes())
        b[100] ^= 1
        path.write_bytes(bytes(b))
    notes = _restart_with(live, damage)
    assert len(notes) == 1 and "checksum mismatch" in notes[0] and "ignored" in notes[0]


def test_a_sidecar_of_another_day_is_said_once_and_the_capture_goes_on(live):
    def other_day(path):
        s = _seqfile.read(path)
        _seqfile.write(path, _seqfile.SeqFile(s.feed, s.date - dt.timedelta(days=1), s.journal_created_ns,
                                              s.next_seq, s.written_ns, True, s.last))
    notes = _restart_with(live, other_day)
    assert len(notes) == 1 and "NSE_FO's of " in notes[0] and "ignored" in notes[0]


def test_a_missing_sidecar_is_said_once_and_the_capture_goes_on(live):
    notes = _restart_with(live, os.unlink)
    assert len(notes) == 1 and "no stream sequence file" in notes[0]


def _cli_run(root, datagrams):
    """``vega capture --json`` (one FO feed on a loopback port, a journal under ``root``) sent ``datagrams``, then
    stopped with SIGTERM once it has them: its last JSON stats line (NSE_FO's) and its standard error."""
    import json
    import signal
    import socket
    import time
    from net_helpers import free_udp_port
    port = free_udp_port()
    log = root.parent / "stderr.txt"
    with open(log, "w") as stderr:
        p = subprocess.Popen([sys.executable, "-m", "vega.cli", "capture", "--feed", f"FO=127.0.0.1:{port}",
                              "--journal-root", str(root), "--ring=", "--store=", "--json", "--stats-interval",
                              "0.05"], stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT,
                             env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        json.loads(p.stdout.readline())                      # a stats line: the socket is bound, it receives
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for d in datagrams:
                s.sendto(d, ("127.0.0.1", port))
        deadline = time.monotonic() + 60
        while json.loads(p.stdout.readline())["feeds"]["NSE_FO"]["datagrams"] < len(datagrams):
            assert time.monotonic() < deadline, "the capture did not get the datagrams in 60 s"
        time.sleep(0.2)                                      # a housekeeping pass or more after the last one
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = log.read_text()
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])["feeds"]["NSE_FO"], err


def test_vega_capture_restarted_says_what_the_feed_sent_while_it_was_down(tmp_path):
    _cli_run(tmp_path / "j", STREAM[:150])
    fo, err = _cli_run(tmp_path / "j", STREAM[200:])
    expected = _live_missed(STREAM[:150], STREAM[200:])
    assert fo["missed_while_down"] == expected > 0 and fo["missed"] == 0 and not fo["missed_while_down_is_bound"]
    assert "the count is exact" in err and "Traceback" not in err
    said = [x for x in err.splitlines() if "sequence numbers while the capture was down" in x]
    assert said and all("the feed sent exactly" in x for x in said)
    assert sum(int(n.replace(",", "")) for x in said for n in re.findall(r"stream \d+: ([\d,]+)", x)) == expected


def _no_record(seqs):
    """Datagrams that change no record (a circuit check, 6541, per ``(stream, BCSeqNo)``): the stream is heard,
    the journal gets no live record."""
    return [nse.build_datagram("FO", [nse.blank_message("FO", 6541, stream=s, bc_seq_no=q)]) for s, q in seqs]


def test_a_restart_of_a_day_whose_journal_holds_no_live_record_yet_reads_the_sidecar(live):
    # a capture that heard only messages that change no record (before the market opens) and stopped cleanly:
    # its sealed sidecar holds the streams' numbers, and its journal no live record.  The restart skipped the
    # sidecar without a word (and its first write then dropped those streams): nothing was counted
    first = _run(live, _no_record([(3, 1000), (3, 1001), (5, 70)]), T1)
    assert first.feeds[0].writer.next_seq == first.feeds[0].writer.first_seq
    path = _seqfile.seq_path(first.feeds[0].writer.path)
    assert _seqfile.read(path).last == {3: 1001, 5: 70}
    cap = Capture(live).open()
    try:
        note = [n for n in cap.start_notes() if ".seq" in n]
        assert len(note) == 1 and "exact" in note[0]
        _feed(cap, _no_record([(3, 1005)]), T2)
        d = cap.stats()["feeds"]["NSE_FO"]
        assert (d["missed_while_down"], d["missed_while_down_is_bound"], d["missed"]) == (3, False, 0)
        assert d["streams_not_heard_since_restart"] == 1
    finally:
        cap.close()
    assert _seqfile.read(path).last == {3: 1005, 5: 70}       # stream 5, not heard since, keeps its number


KILLED_QUIET = """
import os, signal, sys
from vega import nse
from vega.capture import Capture, FeedConfig, load_config
cap = Capture(load_config(None, ring=sys.argv[1], journal_root=sys.argv[2],
                          feeds=[FeedConfig("FO", "127.0.0.1", int(sys.argv[4]))]))
cap.open()
fo = cap.feeds[0]
for q in (1003, 1004):                       # heard, and no record made: the journal is as the last run left it
    fo.handler.process(nse.build_datagram("FO", [nse.blank_message("FO", 6541, stream=3, bc_seq_no=q)]),
                       now_ns=int(sys.argv[3]))
cap.housekeeping()
print(fo.writer.next_seq, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_restart_killed_before_it_wrote_a_sidecar_makes_the_next_count_an_upper_bound(live):
    # run 1 stops cleanly (a sealed sidecar); run 2 resumes from it, hears stream 3's 1003 and 1004 but makes no
    # record, and is killed before any checkpoint: run 3 found run 1's sealed sidecar and a journal with nothing
    # after it, and called its count (1005 - 1001 - 1 = 3, of which run 2 heard 2) exact
    _run(live, _no_record([(3, 1000), (3, 1001)]), T1)
    p = subprocess.run([sys.executable, "-c", KILLED_QUIET, live.ring, str(live.journal_root), str(T1 + 10**9),
                        str(live.feeds[0].port)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert p.returncode == -9, p.stderr
    cap = Capture(live).open()
    try:
        assert cap.feeds[0].writer.next_seq == int(p.stdout.split()[0])       # nothing journaled by run 2
        note = [n for n in cap.start_notes() if ".seq" in n]
        assert len(note) == 1 and "upper bound" in note[0] and "not at a seal" in note[0], note
        _feed(cap, _no_record([(3, 1005)]), T2)
        d = cap.stats()["feeds"]["NSE_FO"]
        assert (d["missed_while_down"], d["missed_while_down_is_bound"]) == (3, True)
    finally:
        cap.close()


def test_a_clean_stop_that_did_not_hear_every_resumed_stream_keeps_the_count_an_upper_bound(live):
    """Killed, restarted, and stopped cleanly before the feed spoke again (a restart stopped at once, or refused
    after its journals were open): the seal wrote the sidecar it had resumed from, the killed run's checkpoint
    numbers, flagged as the seal's, and the next restart called its count exact although the killed run had
    journaled more of those streams after that checkpoint.  It stays an upper bound, and says so."""
    p = subprocess.run([sys.executable, "-c", KILLED, live.ring, str(live.journal_root), str(T1),
                        str(live.feeds[0].port)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert p.returncode == -9, p.stderr
    counted_from_sidecar = _live_missed(STREAM[:100], STREAM[200:])
    assert counted_from_sidecar > _live_missed(STREAM[:150], STREAM[200:]) > 0
    quiet = _run(live, [], T2)                                    # restarted, stopped, nothing heard
    assert quiet.feeds[0].seqs.bound and quiet.feeds[0].seqs.pending
    cap = Capture(live).open()
    try:
        note = [n for n in cap.start_notes() if ".seq" in n]
        assert len(note) == 1 and "upper bound" in note[0] and "did not hear every stream" in note[0], note
        _feed(cap, STREAM[200:], T2)
        d = cap.stats()["feeds"]["NSE_FO"]
        assert (d["missed_while_down"], d["missed_while_down_is_bound"]) == (counted_from_sidecar, True)
    finally:
        cap.close()
    # every stream heard this time: the seal's sidecar holds live numbers, and says the next count is exact
    assert _seqfile.read(_seqfile.seq_path(cap.feeds[0].writer.path)).sealed
