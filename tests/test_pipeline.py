"""The whole pipeline in one process: datagrams -> FeedHandler (decode, merge, change records) -> the ring and
the journal, published from inside the nogil loop.  What the ring carries, what the journal keeps and what
the Python callback sees must be the same records; the journal must reproduce the live store."""
import datetime as dt

import numpy as np
import pytest

import vega
from vega import nse
from vega._ring import CAPACITY
from vega.records import KEYFRAME, timestamps

from store_helpers import by_token, market_equal

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
DAY = dt.date(2026, 11, 20)
T_OPEN = int(dt.datetime(2026, 11, 20, 9, 15, tzinfo=IST).timestamp()) * 10**9



def _feed(handler, stream, t0, step_ns, chunk=64):
    ts = t0 + np.arange(len(stream), dtype=np.int64) * step_ns
    n = 0
    for i in range(0, len(stream), chunk):
        n += handler.process_batch(stream[i:i + chunk], now_ns=ts[i:i + chunk])
    return n


def _drain(reader, expected):
    got, total = [], 0
    while total < expected:
        recs = reader.poll(4096, timeout=1.0)
        if len(recs) == 0:
            break
        got.append(recs)
        total += len(recs)
    return np.concatenate(got) if got else np.empty(0, dtype=vega.records.CHANGE_RECORD_DTYPE)


@pytest.mark.parametrize("seg,feed", [("FO", "NSE_FO"), ("CM", "NSE_EQ")])
def test_ring_journal_and_callback_carry_the_same_records(tmp_path, ring, seg, feed):
    store = vega.Store(20000)
    reader = ring.reader(feed, start="oldest")
    other = ring.reader("NSE_EQ" if feed == "NSE_FO" else "NSE_FO", start="oldest")
    writer = vega.JournalWriter(tmp_path, feed, DAY)
    seen = []
    h = vega.FeedHandler(seg, store, ring=ring, journal=writer, on_records=seen.append)
    stream = list(nse.sample_stream(seg, 300, seed=5))
    n_msgs = _feed(h, stream, T_OPEN, 1_000_000)
    assert n_msgs == h.stats["messages"] > 0
    cb = np.concatenate(seen)
    assert len(cb) == h.stats["records"] > n_msgs          # change records, several per message

    assert _drain(reader, len(cb)).tobytes() == cb.tobytes()   # the ring: every record, in order
    assert len(other.poll(16)) == 0                            # and only on this segment's slot

    h.close()
    writer.close()
    j = vega.Journal.open(writer.path)
    recs = j.read()
    live = recs[(recs["flags"] & KEYFRAME) == 0]
    assert live.tobytes() == cb.tobytes()                      # the journal: the same records
    assert vega.verify(writer.path).ok


def test_live_store_equals_snapshot_at_end_of_day_and_checkpoints(tmp_path):
    """The journal's checkpoints come from the live store (keyframes every 0.2 s of feed time here); a
    snapshot at any time decodes from the nearest checkpoint and equals the state rebuilt from all records
    up to that time; at the end it equals the live store field by field."""
    store = vega.Store(20000)
    writer = vega.JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=0.2)
    seen = []
    h = vega.FeedHandler("FO", store, journal=writer, on_records=seen.append)
    stream = list(nse.sample_stream("FO", 600, seed=9))
    _feed(h, stream, T_OPEN, 2_000_000)                          # 1.2 s of feed time
    writer.close()
    cb = np.concatenate(seen)

    j = vega.Journal.open(writer.path)
    assert len(j.checkpoints) >= 4
    end = int(timestamps(cb).max())
    market_equal(by_token(j.snapshot_at(end).snapshot()), by_token(store.snapshot()))

    ts = timestamps(cb)
    for frac in (0.3, 0.55, 0.8):
        t = int(ts.min() + frac * (ts.max() - ts.min()))
        rebuilt = vega.Store(20000)
        rebuilt.apply_records(cb[ts <= t])
        market_equal(by_token(j.snapshot_at(t).snapshot()), by_token(rebuilt.snapshot()))


def test_trading_day_rollover_through_the_handler(tmp_path):
    store = vega.Store(20000)
    writer = vega.JournalWriter(tmp_path, "NSE_FO", DAY)
    seen = []
    h = vega.FeedHandler("FO", store, journal=writer, on_records=seen.append)
    stream = list(nse.sample_stream("FO", 200, seed=2))
    midnight = int(dt.datetime(2026, 11, 21, 0, 0, tzinfo=IST).timestamp()) * 10**9
    _feed(h, stream, midnight - 100 * 1_000_000, 1_000_000)      # half before 00:00 IST, half after
    writer.close()
    files = sorted(p.name for p in (tmp_path / "NSE_FO").iterdir())
    assert files == ["20261120.bin", "20261121.bin"]
    total = sum(len(vega.Journal.open(tmp_path / "NSE_FO" / f).read()) for f in files)
    assert total == sum(len(s) for s in seen)


def test_ring_slot_is_released_on_close(ring):
    h = vega.FeedHandler("FO", vega.Store(100), ring=ring)
    with pytest.raises(vega.RingBusyError, match="slot NSE_FO is written by a FeedHandler"):
        ring.append("NSE_FO", np.zeros(1, dtype=vega.records.CHANGE_RECORD_DTYPE))
    with pytest.raises(BufferError, match="NSE_FO is still written by a FeedHandler .*close that first"):
        ring.close()
    h.close()
    ring.append("NSE_FO", np.zeros(1, dtype=vega.records.CHANGE_RECORD_DTYPE))
    ring.close()


def test_feed_handler_is_a_context_manager(ring):
    """``with`` closes the handler like Store, Ring and Journal: the slot is free after the block, even when
    the block raised."""
    with vega.FeedHandler("FO", vega.Store(100), ring=ring) as h:
        assert h.process_batch(list(vega.nse.sample_stream("FO", 5, seed=1))) > 0
    assert h.ring is None
    ring.append("NSE_FO", np.zeros(1, dtype=vega.records.CHANGE_RECORD_DTYPE))
    with pytest.raises(ZeroDivisionError):
        with vega.FeedHandler("CM", vega.Store(100), ring=ring):
            1 / 0
    ring.append("NSE_EQ", np.zeros(1, dtype=vega.records.CHANGE_RECORD_DTYPE))
    ring.close()


def test_wrong_sink_types_are_refused():
    with pytest.raises(TypeError, match="vega.Ring"):
        vega.FeedHandler("FO", vega.Store(10), ring=object())
    with pytest.raises(TypeError, match="JournalWriter"):
        vega.FeedHandler("FO", vega.Store(10), journal="journal")


def test_replay_then_go_live_from_the_ring(tmp_path, ring):
    """A late consumer replays the journal written so far, then continues from the live ring at exactly the
    next live record: journal sequence numbers are ring positions (the journal starts at the ring's tail, and
    both number only the live records: a checkpoint stays in the journal and takes no number), so nothing
    is lost or repeated."""
    ring.append("NSE_FO", np.zeros(7, dtype=vega.records.CHANGE_RECORD_DTYPE))      # the ring is not at 0
    store = vega.Store(20000)
    writer = vega.JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=0.15,
                                first_seq=ring.tail("NSE_FO"))
    h = vega.FeedHandler("FO", store, ring=ring, journal=writer)
    stream = list(nse.sample_stream("FO", 200, seed=4))
    _feed(h, stream[:100], T_OPEN, 2_000_000)
    writer.flush()

    got = []
    res = vega.replay(tmp_path, DAY, DAY, feeds=["NSE_FO"], into=lambda recs, feed: got.append(np.array(recs)))
    nxt = res.next_seq["NSE_FO"]
    assert nxt == ring.tail("NSE_FO") == writer.next_seq
    reader = ring.reader("NSE_FO", start=nxt)
    _feed(h, stream[100:], T_OPEN + 100 * 2_000_000, 2_000_000)
    after = _drain(reader, ring.tail("NSE_FO") - nxt)
    assert reader.lost == 0 and reader.laps == 0
    assert len(after) == ring.tail("NSE_FO") - nxt > 0
    h.close()
    writer.close()

    replayed = np.concatenate(got)
    with vega.Journal.open(writer.path) as j:
        journal = np.array(j.records)
        m = len(replayed)
        assert replayed.tobytes() == journal[:m].tobytes()           # the replay: the file as it was
        assert (replayed["flags"] & KEYFRAME).any()                 # with a checkpoint before the switch
        rest = journal[m:]
        kf = (rest["flags"] & KEYFRAME) != 0
        assert kf.any()                                             # and after it
        assert after.tobytes() == rest[~kf].tobytes()               # the ring: every live record after it
        # the journal's own numbers for those records are the ring positions they were read at
        assert list(j.seq_of(m + np.flatnonzero(~kf))) == list(range(nxt, nxt + len(after)))
        assert j.next_seq == ring.tail("NSE_FO") == nxt + len(after)


def test_a_checkpoint_larger_than_the_ring_laps_no_reader(tmp_path, ring):
    """A checkpoint writes the whole store (~17 records per F&O token) into the journal.  Here that is more
    than the ring holds (32,768 records); published there too, it would lap every reader and overwrite the
    live records they had not read yet."""
    store = vega.Store(20000)
    writer = vega.JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None)
    h = vega.FeedHandler("FO", store, ring=ring, journal=writer)
    stream = list(nse.sample_stream("FO", 2000, seed=4))
    _feed(h, stream[:1900], T_OPEN, 1_000_000)
    start = ring.tail("NSE_FO")
    reader = ring.reader("NSE_FO", start=start)
    _feed(h, stream[1900:1950], T_OPEN + 1900 * 1_000_000, 1_000_000)   # unread when the checkpoint comes
    tail = ring.tail("NSE_FO")
    assert tail > start
    n = h.checkpoint()
    assert n > CAPACITY
    assert ring.tail("NSE_FO") == tail == writer.next_seq
    _feed(h, stream[1950:], T_OPEN + 1950 * 1_000_000, 1_000_000)
    got = _drain(reader, ring.tail("NSE_FO") - start)
    assert reader.laps == 0 and reader.lost == 0
    reader.close()
    h.close()
    writer.close()
    with vega.Journal.open(writer.path) as j:
        assert len(j.checkpoints) == 1 and int(j.checkpoints["n_records"][0]) == n
        live = np.array(j.records[(j.records["flags"] & KEYFRAME) == 0])
        assert got.tobytes() == live[start:].tobytes()
        assert j.next_seq == len(live) == len(j) - n


def test_replay_into_a_ring_publishes_each_feed_to_its_slot(tmp_path, ring):
    stores = {"FO": vega.Store(20000), "CM": vega.Store(20000)}
    seen = {"NSE_FO": [], "NSE_EQ": []}
    for seg, feed in (("FO", "NSE_FO"), ("CM", "NSE_EQ")):
        w = vega.JournalWriter(tmp_path, feed, DAY)
        h = vega.FeedHandler(seg, stores[seg], journal=w, on_records=seen[feed].append)
        _feed(h, list(nse.sample_stream(seg, 60, seed=1)), T_OPEN, 1_000_000)
        w.close()
    readers = {f: ring.reader(f, start="oldest") for f in seen}
    vega.replay(tmp_path, DAY, DAY, feeds=list(seen), into=ring)
    for feed, recs in seen.items():
        want = np.concatenate(recs)
        assert _drain(readers[feed], len(want)).tobytes() == want.tobytes()


def test_the_handler_checkpoint_is_the_store_keyframes_flagged_as_a_checkpoint(tmp_path):
    """FeedHandler.checkpoint() makes the records in C; they must be exactly what the Python path writes:
    checkpoint_records(store.keyframe_records(ts)), every record KEYFRAME, the last one CHECKPOINT_END."""
    from vega._journal import checkpoint_records
    store = vega.Store(20000)
    writer = vega.JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None)
    h = vega.FeedHandler("FO", store, journal=writer)
    _feed(h, list(nse.sample_stream("FO", 300, seed=9)), T_OPEN, 1_000_000)
    live = writer.n_records
    ts = writer.max_ts
    n = h.checkpoint()
    want = checkpoint_records(store.keyframe_records(ts), ts)
    assert n == len(want) > 1000
    h.close()
    writer.close()
    with vega.Journal.open(writer.path) as j:
        got = np.array(j.records[live:])
        assert got.tobytes() == want.tobytes()
        assert (got["flags"] & KEYFRAME).all() and list(j.checkpoints["n_records"]) == [n]


def test_replay_into_a_ring_carries_the_live_records_only(tmp_path, ring):
    """A replay into a ring is the capture's ring again: the live records, numbered as the journal numbers
    them; the checkpoints stay in the journal."""
    store = vega.Store(20000)
    writer = vega.JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None)
    h = vega.FeedHandler("FO", store, journal=writer)
    stream = list(nse.sample_stream("FO", 400, seed=6))
    _feed(h, stream[:200], T_OPEN, 1_000_000)
    assert h.checkpoint() > 0
    _feed(h, stream[200:], T_OPEN + 200 * 1_000_000, 1_000_000)
    h.close()
    writer.close()
    reader = ring.reader("NSE_FO", start="oldest")
    res = vega.replay(tmp_path, DAY, into=ring, feeds="NSE_FO")
    with vega.Journal.open(writer.path) as j:
        live = np.array(j.records[(j.records["flags"] & KEYFRAME) == 0])
        assert len(j) > len(live) and res.next_seq["NSE_FO"] == j.next_seq == len(live)
    assert ring.tail("NSE_FO") == len(live)
    got = _drain(reader, len(live))
    assert reader.laps == 0 and got.tobytes() == live.tobytes()
