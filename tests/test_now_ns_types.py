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
                np.array(float(T))):
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
