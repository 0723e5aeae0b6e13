"""A FeedHandler's ``now_ns`` is an int of epoch ns.  A float cannot hold today's epoch ns exactly (a double
is exact to ~256 ns there) and a bool is no time at all: both are a TypeError naming the argument, raised
before anything is merged (store, records, counters and journal unchanged).  Ints, numpy integer scalars and
(for process_batch) int arrays / lists of ints keep working."""
import numpy as np
import pytest

import vega
from vega import nse
from vega._core import pack_messages

T = 1_780_000_000_123_456_789                      # a receive time of 2026 (epoch ns), not a multiple of 256
STREAM = list(nse.sample_stream("FO", 20, seed=5))
MSGS = [m for dg in STREAM for m in vega.decode(dg, "FO") if m["records"]]
PACKED = pack_messages("FO", MSGS[:5])

ENTRY_POINTS = {
    "process": lambda h, t: h.process(STREAM[0], now_ns=t),
    "process_batch": lambda h, t: h.process_batch(STREAM[:5], now_ns=t),
    "merge_message": lambda h, t: h.merge_message(MSGS[0], now_ns=t),
    "merge_packed": lambda h, t: h.merge_packed(PACKED, now_ns=t),
}

BAD = {
    "float": float(T),
    "float-exact-looking": 1.7e18,
    "numpy-float64": np.float64(T),
    "True": True,
    "False": False,
    "numpy-bool": np.bool_(True),
}


def _state(h, store):
    return h.stats, len(store), store.snapshot().tobytes()


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("entry", ENTRY_POINTS.keys())
def test_a_float_or_bool_now_ns_is_a_type_error_and_merges_nothing(entry, bad):
    store = vega.Store(1000)
    h = vega.FeedHandler("FO", store)
    ENTRY_POINTS[entry](h, T)                      # something in the store and counters already
    before = _state(h, store)
    with pytest.raises(TypeError, match="now_ns"):
        ENTRY_POINTS[entry](h, bad)
    assert _state(h, store) == before
    h.close()


@pytest.mark.parametrize("entry", ENTRY_POINTS.keys())
def test_a_refused_now_ns_publishes_and_journals_nothing(tmp_path, entry):
    import datetime as dt
    ring = vega.Ring.create(str(tmp_path / "ring"))
    reader = ring.reader("NSE_FO")
    day = dt.datetime.fromtimestamp(T / 1e9, vega._journal.IST).date()
    jw = vega.JournalWriter(tmp_path / "j", "NSE_FO", day)
    store = vega.Store(1000)
    h = vega.FeedHandler("FO", store, ring=ring, journal=jw)
    for bad in (float(T), True):
        with pytest.raises(TypeError, match="now_ns"):
            ENTRY_POINTS[entry](h, bad)
    assert len(store) == 0 and h.stats["merge"]["merged"] == 0 and h.stats["records"] == 0
    assert len(reader.poll(100)) == 0 and jw.date == day
    h.close()
    jw.close()
    reader.close()
    ring.close()


def test_float_and_bool_arrays_of_times_are_a_type_error():
    store = vega.Store(1000)
    h = vega.FeedHandler("FO", store)
    n = 5
    for bad in (np.full(n, T, dtype=np.float64), [float(T)] * n, np.ones(n, dtype=bool), [T, T, 1.5, T, T],
                np.array(float(T)), [T, T, True, T, T], (T, np.bool_(True), T, T, T)):   # a bool among ints
        with pytest.raises(TypeError, match="now_ns"):
            h.process_batch(STREAM[:n], now_ns=bad)
    assert len(store) == 0 and h.stats["datagrams"] == 0
    h.close()


INT_FORMS = {
    "int": lambda: T,
    "numpy-int64": lambda: np.int64(T),
    "numpy-uint64": lambda: np.uint64(T),
}


@pytest.mark.parametrize("form", INT_FORMS.values(), ids=INT_FORMS.keys())
@pytest.mark.parametrize("entry", ENTRY_POINTS.keys())
def test_int_and_numpy_integer_now_ns_are_exact(entry, form):
    store = vega.Store(1000)
    h = vega.FeedHandler("FO", store)
    assert ENTRY_POINTS[entry](h, form()) > 0
    snap = store.snapshot()
    assert len(snap) > 0 and set(snap["last_update_ns"].tolist()) == {T}     # to the ns
    h.close()


def test_process_batch_takes_one_numpy_integer_for_every_datagram():
    store = vega.Store(1000)
    h = vega.FeedHandler("FO", store)
    h.process_batch(STREAM[:5], now_ns=np.int64(T))        # (was read as an array of one time for 5 datagrams)
    assert set(store.snapshot()["last_update_ns"].tolist()) == {T}
    h.close()


@pytest.mark.parametrize("times", [
    lambda n: T + np.arange(n, dtype=np.int64) * 1000,
    lambda n: [T + i * 1000 for i in range(n)],
    lambda n: (T + np.arange(n, dtype=np.int64) * 1000).astype(np.uint64),
], ids=["int64-array", "list-of-ints", "uint64-array"])
def test_process_batch_takes_per_datagram_int_times(times):
    n = len(STREAM)
    store = vega.Store(1000)
    h = vega.FeedHandler("FO", store)
    assert h.process_batch(STREAM, now_ns=times(n)) > 0
    got = set(store.snapshot()["last_update_ns"].tolist())
    assert got and got <= {T + i * 1000 for i in range(n)}
    h.close()


def test_no_datagrams_and_no_times_is_still_fine():
    h = vega.FeedHandler("FO", vega.Store(10))
    assert h.process_batch([], now_ns=[]) == 0
    assert h.process_batch([], now_ns=np.empty(0, dtype=np.int64)) == 0
    h.close()


@pytest.mark.parametrize("entry", ENTRY_POINTS.keys())
def test_a_time_beyond_int64_is_a_value_error_naming_now_ns(entry):
    store = vega.Store(1000)
    h = vega.FeedHandler("FO", store)
    for bad in (1 << 63, -1):
        with pytest.raises(ValueError, match="now_ns must be epoch ns"):
            ENTRY_POINTS[entry](h, bad)
    assert len(store) == 0
    h.close()


def test_the_staleness_reads_take_the_same_times():
    store = vega.Store(1000)
    h = vega.FeedHandler("FO", store)
    h.process(STREAM[0], now_ns=T)
    tok = next(iter(store))
    assert not store.is_stale(tok, now_ns=T) and store.is_stale(tok, now_ns=np.int64(T + 10 * 10**9))
    assert list(store.stale_tokens(now_ns=T)) == [] and len(store.stale_tokens(now_ns=T + 10 * 10**9)) == len(store)
    for bad in (float(T), True, np.float64(T)):
        with pytest.raises(TypeError, match="now_ns"):
            store.is_stale(tok, now_ns=bad)
        with pytest.raises(TypeError, match="now_ns"):
            store.stale_tokens(now_ns=bad)
    h.close()


IST_NS, DAY_NS = 19800 * 10**9, 86400 * 10**9


@pytest.mark.parametrize("t", [2**63 - 1, 2**63 - IST_NS, 2**63 - IST_NS - 1, 2**63 - DAY_NS])
@pytest.mark.parametrize("entry", ENTRY_POINTS.keys())
def test_a_time_at_the_int64_end_is_stamped_exactly(entry, t):
    """now_ns takes [0, 2**63): its ts48 (ns since 00:00 IST) was (t + 5.5 h) % 1 day in int64, which overflowed
    for a time within 5.5 hours of the end (undefined behaviour; a wrong stamp and day)."""
    got = []
    store = vega.Store(1000)
    h = vega.FeedHandler("FO", store, on_records=got.append)
    assert ENTRY_POINTS[entry](h, t) > 0
    ts48 = (t + IST_NS) % DAY_NS
    assert set(vega.records.timestamps(np.concatenate(got)).tolist()) == {ts48}
    assert store.header["day_base_ns"] == t - ts48
    assert set(store.snapshot()["last_update_ns"].tolist()) == {t}
    h.close()


def test_a_time_at_the_int64_end_for_a_1970_journal_is_refused(tmp_path):
    """A journal of 1970-01-01 has a day base before the epoch (00:00 IST is 18:30 UTC the day before): the check
    of a receive time against the journal's reach subtracted it in int64, which overflowed near 2**63 and let the
    time through to be stamped on that day.  It now asks for the day the time falls in, which no journal has."""
    import datetime as dt
    with vega.JournalWriter(tmp_path, "NSE_FO", dt.date(1970, 1, 1)) as jw:
        h = vega.FeedHandler("FO", vega.Store(1000), journal=jw)
        for entry in ENTRY_POINTS.values():
            with pytest.raises(ValueError, match="a journal's trading date is 1970-01-01 .. 2262-04-10"):
                entry(h, 2**63 - 1)
        assert jw.n_records == 0
        h.close()


def test_capture_times_at_the_int64_end_for_a_1970_journal_stamp_the_end_of_its_reach(tmp_path):
    """The capture's entry point (vg_feed_buffers, here through vega._pcap.feed_selected) stamps each datagram
    against its journal's day base, clamped to the 48 bits of a record's time; for a 1970-01-01 journal (a base
    < 0) that difference overflowed in int64 for a time near 2**63."""
    import datetime as dt
    from vega._pcap import feed_selected
    with vega.JournalWriter(tmp_path, "NSE_FO", dt.date(1970, 1, 1)) as jw:
        got = []
        h = vega.FeedHandler("FO", vega.Store(1000), journal=jw, on_records=got.append)
        buf = np.frombuffer(STREAM[0], np.uint8)
        one = np.zeros(1, np.int64)
        assert feed_selected(h, buf, np.array([2**63 - 1]), one, np.array([len(buf)], np.int32), one) > 0
        assert set(vega.records.timestamps(np.concatenate(got)).tolist()) == {2**48 - 1}
        h.close()
