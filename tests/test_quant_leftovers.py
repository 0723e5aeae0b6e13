"""Faults a review of the Python API left open for quants: times of one record (a 0-d datetime64 array), numpy
datetime64 bounds of replay / export, len() of a closed Journal, argument types of Store's and the IV functions'
entry points, and the stubs' tokens type."""
import datetime as dt
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # journal_helpers, whether or not tests/ is a package
from journal_helpers import T0, linear_seek, make_records
from vega.journal import Journal, JournalWriter
from vega.records import datetimes, timestamps

DATE = dt.date(2026, 11, 20)


def write_day(root, recs, feed="NSE_FO", date=DATE):
    with JournalWriter(root, feed, date, flush_interval=None) as w:
        w.append(recs)
    return w.path


# -- 1. records.datetimes of one record is a 0-d array: a time wherever a datetime64 scalar is ----------------

def test_datetimes_of_one_record_seeks_as_the_scalar_of_the_array_does(tmp_path):
    """datetimes(record) is a 0-d array, datetimes(array)[i] a scalar: both name the same record (the 0-d array
    was a TypeError "not ndarray")."""
    recs = make_records(2000, seed=5)
    ts = timestamps(recs)
    with Journal.open(write_day(tmp_path, recs)) as j:
        for i in (0, 999, 1999):
            one = datetimes(j.records[i], j.date)
            assert isinstance(one, np.ndarray) and one.ndim == 0 and one.dtype == np.dtype("datetime64[ns]")
            want = linear_seek(recs, int(ts[i]))
            assert j.position(one) == want == j.position(datetimes(j.records, j.date)[i])
            assert j.seek(one) == want and j.tell() == want
            assert j.state_records(one).tobytes() == j.state_records(int(ts[i])).tobytes()
            assert j.between(one, datetimes(j.records[-1], j.date)).tobytes() == j.between(int(ts[i]),
                                                                                         int(ts[-1])).tobytes()
        # a 0-d array of another unit, and of NaT: as its scalar
        assert j.position(np.array(np.datetime64("2026-11-20T03:45", "m"))) == 0 == linear_seek(recs, T0)
        with pytest.raises(ValueError, match="^seek: t is NaT"):
            j.seek(np.array(np.datetime64("NaT", "ns")))
        # an array of one element is still no time: one of more dimensions says so
        with pytest.raises(TypeError, match="not ndarray"):
            j.seek(datetimes(j.records[:1], j.date))


# -- 2. replay and export bounds take a numpy datetime64 of a time unit, and refuse one of a date unit ------------

def _replayed(root, start, end=None):
    from vega.journal import replay
    got = []
    replay(root, start, end, feeds=["NSE_FO"], into=lambda recs, feed: got.append(np.array(recs)))
    return timestamps(np.concatenate(got)).tolist() if got else []


def test_replay_bounds_take_a_datetime64_exactly_to_the_ns_and_on_the_ist_day(tmp_path):
    """A datetime64 bound (scalar or 0-d array) is the instant it counts from 1970 UTC, to the ns (a datetime
    holds only microseconds): a record 1 ns before it is out, the one at it in.  Its day is the IST one: 20:00 UTC
    on the 19th is 01:30 IST on the 20th.  These were "not a trading date" ValueErrors."""
    from vega.journal import day_epoch_ns
    at = 5_400_000_000_000 + 123_456_789                  # 01:30:00.123456789 IST on DATE
    recs = make_records(3, seed=1)
    recs["flags"] = 0
    from vega.records import set_timestamps
    set_timestamps(recs, [at - 1, at, at + 1])
    write_day(tmp_path, recs)
    base = day_epoch_ns(DATE)
    bound = np.datetime64(base + at, "ns")
    assert str(bound) == "2026-11-19T20:00:00.123456789"          # a UTC date the day before the IST one
    assert _replayed(tmp_path, bound) == [at, at + 1]             # no end: the rest of the IST day
    assert _replayed(tmp_path, DATE, bound) == [at - 1]           # end exclusive
    one = datetimes(recs[1], DATE)                                # one record's: a 0-d array
    assert one.ndim == 0 and _replayed(tmp_path, one, datetimes(recs[2], DATE)) == [at]
    assert _replayed(tmp_path, np.datetime64(base + at, "ns").astype("datetime64[us]")) == [at - 1, at, at + 1]
    assert _replayed(tmp_path, np.datetime64("2026-11-19T20:00", "m"), np.datetime64("2026-11-19T21", "h")) == [
        at - 1, at, at + 1]


@pytest.mark.parametrize("bad, says", [
    (np.datetime64("2026-11-20"), r"is a numpy datetime64\[D\] \(2026-11-20\), a date without a time: for the "
                                  r"trading day pass a datetime.date or 'YYYY-MM-DD'"),
    (np.array(np.datetime64("2026-11", "M")), r"is a numpy datetime64\[M\]"),
    (np.datetime64("2026-11-19", "W"), r"is a numpy datetime64\[W\]"),
    (np.datetime64("NaT", "ns"), "is NaT"),
    (np.array([5]).astype("datetime64")[0], "is a numpy datetime64 without a unit"),
])
def test_a_datetime64_bound_of_a_date_unit_or_no_instant_is_refused_saying_what_to_pass(tmp_path, bad, says):
    """numpy counts datetime64('2026-11-20') from 00:00 UTC, 05:30 IST, where '2026-11-20' is the whole trading
    day: as an end it would have cut the day's session off, as a start taken the day from 00:00: refused, for
    both functions, naming the argument."""
    from vega.journal import export
    write_day(tmp_path, make_records(10, seed=2))
    out = tmp_path / "out"
    calls = [("replay: start", lambda b: _replayed(tmp_path, b)),
             ("replay: end", lambda b: _replayed(tmp_path, DATE, b)),
             ("export: start", lambda b: export(tmp_path, out, b, progress=False)),
             ("export: end", lambda b: export(tmp_path, out, DATE, b, progress=False))]
    for name, call in calls:
        with pytest.raises(ValueError, match=f"^{name} {says}") as e:
            call(bad)
        assert "\n" not in str(e.value)
    assert not out.exists()


def test_export_bounds_take_a_datetime64_as_its_ist_date(tmp_path):
    pytest.importorskip("pyarrow")
    from vega.journal import export
    write_day(tmp_path, make_records(10, seed=3))
    write_day(tmp_path, make_records(10, seed=4), date=DATE + dt.timedelta(days=1))
    files = export(tmp_path, tmp_path / "out", np.datetime64("2026-11-19T20:00", "s"), progress=False)
    assert [p.parent.parent.name for p in files] == ["date=2026-11-20"]
    files = export(tmp_path, tmp_path / "out2", np.array(np.datetime64("2026-11-19T18:30:00.000000001", "ns")),
                   np.datetime64("2026-11-21T18:29:59", "s"), progress=False)
    assert [p.parent.parent.name for p in files] == ["date=2026-11-20", "date=2026-11-21"]
    with pytest.raises(TypeError, match=r"^export: start is a numpy array of int64, shape \(1,\)"):
        export(tmp_path, tmp_path / "out3", np.array([20261120]), progress=False)


# -- 3. len() of a closed Journal raises as its other calls do -------------------------------------------------

def test_len_of_a_closed_journal_raises_the_closed_error_of_its_other_calls(tmp_path):
    """len() of a closed Journal answered the count of records it no longer reads (a file still being written:
    a stale one); it now raises what records, read and seek raise.  n_records and next_seq stay."""
    j = Journal.open(write_day(tmp_path, make_records(7, seed=9)))
    assert len(j) == 7
    j.close()
    for call in (len, lambda j: j.records, lambda j: j.seek(0), lambda j: j.read(1)):
        with pytest.raises(ValueError, match="^journal is closed$"):
            call(j)
    assert j.n_records == 7 == j.next_seq and j.closed


# -- 4. a Store name or an index name of the wrong type is a TypeError naming it ---------------------------------

@pytest.mark.parametrize("bad", [5, b"nse-fo", None, 2.5])
def test_a_store_name_that_is_no_str_is_a_type_error_naming_the_argument(bad):
    """Store.create(5, ...) said ValueError "a store name is 1-101 characters ..., not 5": a wrong type, and now
    a TypeError saying the name must be a str, in create, open and remove alike; no file is made."""
    import vega
    from vega._core import SHM_DIR
    before = set(os.listdir(SHM_DIR))
    for call in (lambda: vega.Store.create(bad, 10), lambda: vega.Store.open(bad), lambda: vega.Store.remove(bad)):
        with pytest.raises(TypeError, match=rf"^name \(a store name\) must be a str of 1-101 characters of "
                                            rf"\[A-Za-z0-9_.-\], not {type(bad).__name__}: "):
            call()
    assert set(os.listdir(SHM_DIR)) == before
    with pytest.raises(ValueError, match="a store name is 1-101 characters"):      # a str: its value is wrong
        vega.Store.create("a/b", 10)


def test_an_index_name_that_is_no_str_is_a_type_error_not_a_hashed_token():
    """FeedHandler.index_token(5) hashed str(5), "5", and index_token(b"Nifty 50") the text "b'Nifty 50'": a
    token, silently, of no index; vega.index_token(5) said ValueError "5 is not an index name"."""
    import vega
    h = vega.FeedHandler("IDX", vega.Store(64))
    assert h.index_token("Nifty 50") == 26000 == vega.index_token(b"Nifty 50")
    names = h.index_names()
    for bad in (5, b"Nifty 50", None):
        with pytest.raises(TypeError, match=rf"^index_token: name must be a str \(an index name such as "
                                            rf"'Nifty 50'\), not {type(bad).__name__}: "):
            h.index_token(bad)
    assert h.index_names() == names                         # nothing was added to the handler's table
    for bad in (5, None, 26000.0):
        with pytest.raises(TypeError, match=rf"^index_token: name must be a str \(or bytes\), not "
                                            rf"{type(bad).__name__}: "):
            vega.index_token(bad)
