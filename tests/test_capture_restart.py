"""A capture restarted during the day (after a crash, a deploy, a reboot that emptied /dev/shm) continues the
day's journal, and its new ring starts at the journal's next_seq: ring positions stay the journal's sequence
numbers, so a consumer started afterwards replays the journal up to next_seq and reads the ring from there,
and sees every live record of the day exactly once.  (Before, the new ring started at 0: such a reader asked
for a position past the tail, was moved back to the tail without a word, and lost whatever the capture
published between the replay and the reader's start.)"""
import datetime as dt
import uuid

import numpy as np
import pytest

import vega
from vega import nse
from vega.capture import Capture, CaptureError, load_config
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
        assert cap.ring.info("NSE_FO")["writer_pid"] == os.getpid() and cap.ring.tail("NSE_EQ") == cap.feeds[1].writer.next_seq
        _feed(cap, list(nse.sample_stream("FO", 50, seed=12)), T0 + HOUR)
        assert cap.ring.tail("NSE_FO") == fo.writer.next_seq > n_journal
    finally:
        cap.close()
