"""A ring slot that starts at a sequence number other than 0 (``Ring.create(..., first_seq=)``): a capture
restarted during the day starts its new ring at the journal's ``next_seq``.  Positions below it were never in
the slot: readers never return them (they would be zeroed bytes), "oldest" is first_seq, and a reader asking
for one is told how many it lost.  Version-1 rings (no first_seq) read as before."""
import os
import struct
import uuid

import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from vega._ring import Ring, RingFormatError, RingLapped

from ring_worker import seqs

CAP = 32768
SLOT = 0x200000
TRAILER = 0x1FFFF0


@pytest.fixture
def name():
    n = f"vega-test-first-{uuid.uuid4().hex[:12]}"
    yield n
    try:
        os.unlink(os.path.join("/dev/shm", n))
    except FileNotFoundError:
        pass


def _raw(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def test_a_slot_created_at_first_seq_has_its_counters_there(name):
    n = 5 * CAP + 17
    ring = Ring.create(name, first_seq={"NSE_EQ": n})
    try:
        info = ring.info("NSE_EQ")
        assert (info["first_seq"], info["tail"], info["tail_intent"], info["record_count"]) == (n, n, n, n)
        assert ring.tail("NSE_EQ") == n
        for other in ("NSE_FO", "NFO_IDX"):
            assert (ring.info(other)["first_seq"], ring.tail(other)) == (0, 0)
        # the bytes: header field at 0x38, both trailer counters
        assert struct.unpack("<Q", _raw(ring.path, SLOT + 0x38, 8)) == (n,)
        assert struct.unpack("<QQ", _raw(ring.path, SLOT + TRAILER, 16)) == (n, n)
        ring._write_test_records("NSE_EQ", 10)
        assert ring.tail("NSE_EQ") == n + 10
    finally:
        ring.close()
    again = Ring.open(name)                     # validated and read back by another open
    try:
        assert again.info("NSE_EQ")["first_seq"] == n and again.tail("NSE_EQ") == n + 10
    finally:
        again.close()


def test_one_int_sets_every_slot(name):
    ring = Ring.create(name, first_seq=7)
    try:
        assert [ring.tail(f) for f in ("NSE_FO", "NSE_EQ", "NFO_IDX")] == [7, 7, 7]
    finally:
        ring.close()


@pytest.mark.parametrize("bad", [-1, 1 << 62, True, 1.5, "3", {"NSE_XX": 3}, {"NSE_FO": -2}])
def test_bad_first_seq_is_a_value_error_and_creates_nothing(name, bad):
    with pytest.raises(ValueError):
        Ring.create(name, first_seq=bad)
    assert not os.path.exists(os.path.join("/dev/shm", name))


def test_readers_start_at_first_seq_and_never_see_the_zeroed_records_below(name):
    n = 3 * CAP + 5
    ring = Ring.create(name, first_seq={"NSE_FO": n})
    try:
        oldest, newest, exact = (ring.reader(0, start=s) for s in ("oldest", "newest", n))
        assert oldest.position == newest.position == exact.position == n
        assert len(oldest.poll()) == 0 and oldest.lost == 0          # nothing yet, nothing lost
        ring._write_test_records(0, 100)
        for r in (oldest, newest, exact):
            got = r.poll()
            assert np.array_equal(seqs(got), np.arange(n, n + 100)) and r.lost == 0 and r.laps == 0
        # positions below first_seq were never in this slot: a reader there is told it lost them
        low = ring.reader(0, start=n - 40)
        got = low.poll()
        assert np.array_equal(seqs(got), np.arange(n, n + 100))
        assert (low.last_lost, low.lost, low.laps) == (40, 40, 1)
        zero = ring.reader(0, start=0, on_lap="newest")
        assert len(zero.poll()) == 0 and zero.position == n + 100 and zero.lost == n + 100
        raising = ring.reader(0, start=n - 1, on_lap="raise")
        with pytest.raises(RingLapped) as e:
            raising.poll()
        assert e.value.lost == 1 and np.array_equal(seqs(raising.poll()), np.arange(n, n + 100))
        # "oldest" stays at first_seq until the slot wraps, then follows the tail
        oldest.seek("oldest")
        assert oldest.position == n
        ring._write_test_records(0, CAP, batch=4096)
        oldest.seek("oldest")
        assert oldest.position == n + 100
        assert np.array_equal(seqs(oldest.poll(CAP)), np.arange(n + 100, n + 100 + CAP))
    finally:
        ring.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.sampled_from([0, 1, CAP - 1, CAP, 2 * CAP + 3, 1 << 40]),
       writes=st.lists(st.integers(0, 3 * CAP), min_size=1, max_size=4),
       start=st.integers(-CAP - 5, 2 * CAP), policy=st.sampled_from(["oldest", "newest"]))
def test_what_a_reader_gets_is_exactly_what_the_slot_holds(name, first, writes, start, policy):
    """Model: the slot holds the last min(written, CAP) records, numbered from first + written - held.  A reader
    started anywhere (relative to first_seq) up to the tail, after the first writes, gets exactly those at or
    after its start, and the count of the others it asked for as lost; one started past the tail is refused
    (the records between would be skipped uncounted)."""
    ring = Ring.create(name, first_seq={"NFO_IDX": first}, replace=True)
    try:
        pos = max(0, first + start)
        ring._write_test_records("NFO_IDX", writes[0], batch=4096)
        if pos > first + writes[0]:
            with pytest.raises(ValueError, match=rf"start {pos:,} is past the NFO_IDX slot's tail "
                                                 rf"{first + writes[0]:,}"):
                ring.reader("NFO_IDX", start=pos, on_lap=policy)
            return
        r = ring.reader("NFO_IDX", start=pos, on_lap=policy)
        total = sum(writes)
        for n in writes[1:]:
            ring._write_test_records("NFO_IDX", n, batch=4096)
        tail = first + total
        got = r.poll(CAP)
        held_from = max(first, tail - CAP)
        if pos >= tail:
            assert len(got) == 0 and r.lost == 0
        elif pos >= held_from:
            assert np.array_equal(seqs(got), np.arange(pos, tail)) and r.lost == 0
        elif policy == "oldest":
            assert np.array_equal(seqs(got), np.arange(held_from, tail)) and r.lost == held_from - pos
        else:
            assert len(got) == 0 and r.lost == tail - pos and r.position == tail
        assert ring.info("NFO_IDX")["first_seq"] == first
    finally:
        ring.close()


def test_a_version_1_slot_reads_as_before(name):
    """Version-1 files had the field reserved (zero): read as first_seq 0, whatever the bytes say."""
    Ring.create(name).close()
    path = os.path.join("/dev/shm", name)
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, struct.pack("<H", 1), 0x08)
        os.pwrite(fd, struct.pack("<Q", 99), 0x38)         # not a first_seq in version 1
    finally:
        os.close(fd)
    ring = Ring.open(name, writable=True)
    try:
        assert ring.info(0)["version"] == 1 and ring.info(0)["first_seq"] == 0
        ring._write_test_records(0, 5)
        r = ring.reader(0, start="oldest")
        assert r.position == 0 and np.array_equal(seqs(r.poll()), np.arange(5))
    finally:
        ring.close()


def test_first_seq_beyond_the_tail_is_damage(name):
    Ring.create(name, first_seq=10).close()
    fd = os.open(os.path.join("/dev/shm", name), os.O_RDWR)
    try:
        os.pwrite(fd, struct.pack("<Q", 11), 2 * SLOT + 0x38)
    finally:
        os.close(fd)
    with pytest.raises(RingFormatError, match="NFO_IDX.*first_seq 11 is past the tail 10"):
        Ring.open(name)


def test_a_handler_refuses_a_ring_and_journal_whose_numbers_differ(name, tmp_path):
    """A writer restarted the same day: its reopened journal goes on at next_seq N; a ring created at 0 would
    break "journal sequence numbers are ring positions" (a reader replaying the journal, then reading the
    ring from the replay's next_seq, would wait at a number the ring reaches only later, and lose nothing it
    could see).  The handler refuses the pair, and takes the ring created at the journal's next_seq."""
    import datetime as dt

    import vega
    from vega import nse
    from vega.journal import replay
    day = dt.date(2026, 11, 20)
    t0 = int(dt.datetime(2026, 11, 20, 10, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))).timestamp()
             * 1e9)
    dgs = list(nse.sample_stream("FO", 300, seed=3))
    ring = Ring.create(name)
    with vega.JournalWriter(tmp_path, "NSE_FO", day) as jw:
        with vega.FeedHandler("FO", vega.Store(8192), ring=ring, journal=jw) as h:
            h.process_batch(dgs[:100], now_ns=t0)
    ring.close()
    ring = Ring.create(name, replace=True)                       # restarted: a new ring at 0
    jw = vega.JournalWriter(tmp_path, "NSE_FO", day)
    try:
        assert jw.next_seq > 0 and ring.tail("NSE_FO") == 0
        with pytest.raises(ValueError, match=rf"the ring's NSE_FO slot is at record 0 but the journal .* goes on "
                                             rf"at {jw.next_seq:,}: journal sequence numbers are ring positions"):
            vega.FeedHandler("FO", vega.Store(8192), ring=ring, journal=jw)
        h = vega.FeedHandler("FO", vega.Store(8192), ring=ring)  # attached later: refused the same way
        with pytest.raises(ValueError, match="journal sequence numbers are ring positions"):
            h.attach_journal(jw)
        h.close()
        ring.close()
        ring = Ring.create(name, replace=True, first_seq={"NSE_FO": jw.next_seq})
        with vega.FeedHandler("FO", vega.Store(8192), ring=ring, journal=jw) as h:
            h.process_batch(dgs[100:200], now_ns=t0 + 10**9)
            jw.flush()
            res = replay(tmp_path, day, feeds=["NSE_FO"], into=lambda recs, feed: None)
            rd = Ring.open(name).reader("NSE_FO", start=res.next_seq["NSE_FO"])
            h.process_batch(dgs[200:], now_ns=t0 + 2 * 10**9)
            got = rd.poll(1 << 15)
            assert len(got) == ring.tail("NSE_FO") - res.next_seq["NSE_FO"] > 0 and rd.lost == 0
            rd.close()
    finally:
        jw.close()
        ring.close()


def test_a_reader_started_past_the_tail_is_refused_and_takes_no_bus_line(name):
    ring = Ring.create(name, first_seq={"NSE_FO": 100})
    try:
        with pytest.raises(ValueError, match=r"start 150 is past the NSE_FO slot's tail 100"):
            ring.reader("NSE_FO", name="late", start=150)
        assert ring.readers() == []
        r = ring.reader("NSE_FO", name="late", start=100)       # at the tail: the next record published
        ring._write_test_records("NSE_FO", 3)
        assert seqs(r.poll(10)).tolist() == [100, 101, 102] and r.lost == 0
        r.close()
    finally:
        ring.close()


def test_seek_past_the_tail_is_refused_like_a_start_past_it(name):
    """Reader.seek(n) past the tail was accepted, and the records between the tail and n were then skipped
    without a word: lost, laps, last_lost and rewinds stayed 0.  It is refused now, with the error (one check)
    Ring.reader(start=n) gives for the same n, and the reader stays where it was."""
    ring = Ring.create(name, first_seq={"NSE_FO": 100})
    try:
        with pytest.raises(ValueError) as by_start:
            ring.reader("NSE_FO", start=500)
        r = ring.reader("NSE_FO", name="strategy", start=100)
        for n in (500, np.int64(500)):
            with pytest.raises(ValueError, match=r"position 500 is past the NSE_FO slot's tail 100") as by_seek:
                r.seek(n)
            assert str(by_seek.value) == str(by_start.value).replace("start", "position", 1)
        with pytest.raises(ValueError, match=r"position 101 is past the NSE_FO slot's tail 100"):
            r.seek(101)                                         # one past the tail: the record not yet published
        assert r.position == 100 and ring.readers()[0].position == 100
        ring._write_test_records("NSE_FO", 1000)                # records 100..1099: none is skipped
        got = r.poll(2000)
        assert seqs(got).tolist() == list(range(100, 1100))
        assert (r.lost, r.laps, r.last_lost, r.rewinds) == (0, 0, 0, 0)
        r.seek(1100)                                            # at the tail: allowed, as for start=
        r.seek(np.uint64(600))
        assert seqs(r.poll(2000)).tolist() == list(range(600, 1100)) and r.lost == 0
        with pytest.raises(ValueError, match="sequence number"):
            r.seek(1 << 63)
        r.close()
    finally:
        ring.close()


@pytest.mark.parametrize("first_seq, want", [
    (np.int64(5), [5, 5, 5]), (np.uint64(5), [5, 5, 5]), (np.int32(7), [7, 7, 7]),
    ({"NSE_EQ": np.uint64(5)}, [0, 5, 0]), ({np.int8(2): np.int64(9), "NSE_FO": 3}, [3, 0, 9]),
])
def test_create_takes_numpy_integers_for_first_seq(name, first_seq, want):
    """Ring.reader(start=) and Reader.seek took numpy integers, Ring.create(first_seq=) refused them ("must be an
    int"), e.g. a journal's next_seq read from its numpy header."""
    ring = Ring.create(name, first_seq=first_seq)
    try:
        assert [ring.info(f)["first_seq"] for f in range(3)] == want
        assert [ring.tail(f) for f in range(3)] == want
        assert all(type(ring.info(f)["first_seq"]) is int for f in range(3))
    finally:
        ring.close()


@pytest.mark.parametrize("bad", [np.bool_(True), np.float64(5.0), 5.0, {"NSE_FO": np.bool_(False)},
                                 {"NSE_FO": np.float32(1)}, np.int64(-1), np.uint64(1 << 62)])
def test_create_refuses_numpy_bools_floats_and_out_of_range_first_seq(name, bad):
    with pytest.raises(ValueError, match=r"first_seq must be an int in \[0, 2\*\*62\)"):
        Ring.create(name, first_seq=bad)
    assert not os.path.exists(os.path.join("/dev/shm", name))
