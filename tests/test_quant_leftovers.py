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
    (np.datetime64("9999-12-31T23:59", "m"), r"\(253402300740000000000 ns since 1970 UTC\) is outside the dates a "
                                             r"journal can have, the years 1 to 9999"),
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


# -- 5. the IV functions' errors name the argument at fault and its value ---------------------------------------

def _iv_error(call):
    with pytest.raises((TypeError, ValueError)) as e:
        call()
    assert "\n" not in str(e.value)
    return type(e.value), str(e.value)


@pytest.mark.parametrize("name, args", [
    ("price", ("x", 100.0, 100.0, 0.1)), ("forward", (5.0, None, 100.0, 0.1)), ("strike", (5.0, 100.0, b"1", 0.1)),
    ("t_years", (5.0, 100.0, 100.0, "0.1")), ("rate", (5.0, 100.0, 100.0, 0.1, object())),
])
def test_an_iv_argument_that_is_no_number_is_named_with_its_value(name, args):
    """Cython's "must be real number, not str" named neither the argument nor the value."""
    import vega
    from vega import _iv
    bad = args[("price", "forward", "strike", "t_years", "rate").index(name)]
    for func, call in (("implied_volatility", vega.implied_volatility),
                       ("implied_volatility_status", _iv.implied_volatility_status)):
        assert _iv_error(lambda: call(*args)) == (
            TypeError, f"{func}: {name} must be a number, not {type(bad).__name__}: {bad!r}")
    price_args = args[1:4] + (0.2,) + args[4:]                     # forward, strike, t_years, sigma, rate
    if name != "price":
        assert _iv_error(lambda: vega.black76_price(*price_args)) == (
            TypeError, f"black76_price: {name} must be a number, not {type(bad).__name__}: {bad!r}")


def test_iv_inputs_with_no_solution_keep_their_nan_and_status():
    """What implied_volatility documents as no IV (nan; status IV_STATUS_INPUT) stays so: only errors changed."""
    import vega
    from vega import _iv
    for args, status in [((-5.0, 100.0, 100.0, 0.1), _iv.IV_STATUS_BELOW),
                         ((float("nan"), 100.0, 100.0, 0.1), _iv.IV_STATUS_INPUT),
                         ((5.0, 100.0, 100.0, 0.0), _iv.IV_STATUS_INPUT),
                         ((5.0, 100.0, 100.0, -1.0), _iv.IV_STATUS_INPUT),
                         ((5.0, -100.0, 100.0, 0.1), _iv.IV_STATUS_INPUT)]:
        assert np.isnan(vega.implied_volatility(*args))
        v, st = _iv.implied_volatility_status(*args)
        assert np.isnan(v) and st == status
        assert np.isnan(vega.implied_volatility_array(*args)).all()


@pytest.mark.parametrize("args, says", [
    ((100.0, 100.0, -1, 0.2), "t_years must be a finite number >= 0, not -1"),
    ((100.0, 100.0, 1.0, float("nan")), "sigma must be a finite number >= 0, not nan"),
    ((100.0, 100.0, 1.0, -0.2), "sigma must be a finite number >= 0, not -0.2"),
    ((0, 100.0, 1.0, 0.2), "forward must be a finite number > 0, not 0"),
    ((100.0, float("inf"), 1.0, 0.2), "strike must be a finite number > 0, not inf"),
    ((100.0, 100.0, 1.0, 0.2, float("-inf")), "rate must be a finite number, not -inf"),
])
def test_black76_price_names_the_input_it_refuses(args, says):
    """It said "invalid input (forward=..., strike=..., t_years=..., sigma=..., rate=...)": every argument, not
    which one was wrong."""
    import vega
    assert _iv_error(lambda: vega.black76_price(*args)) == (ValueError, f"black76_price: {says}")
    assert np.isnan(vega.black76_price_array(*args))                # the array form's documented nan stays


def test_the_iv_array_functions_name_an_argument_that_is_no_numbers_or_does_not_broadcast():
    """numpy said "could not convert string to float" and "arg 0 with shape (2,) and arg 2 with shape (3,)";
    None in an object array was priced as nan without a word."""
    import vega
    assert _iv_error(lambda: vega.implied_volatility_array(["a"], 100.0, 100.0, 0.1)) == (
        TypeError, "implied_volatility_array: price must be numbers, not an array of <U1: ['a']")
    assert _iv_error(lambda: vega.implied_volatility_array([1.0], [None], 100.0, 0.1)) == (
        TypeError, "implied_volatility_array: forward must be a number, not NoneType: None")
    assert _iv_error(lambda: vega.black76_price_array(100.0, 100.0, np.array([1 + 2j]), 0.2)) == (
        TypeError, "black76_price_array: t_years must be numbers, not an array of complex128: [1.+2.j]")
    assert _iv_error(lambda: vega.implied_volatility_array([1.0, 2.0], 100.0, [90.0, 100.0, 110.0], 0.1)) == (
        ValueError, "implied_volatility_array: the arguments' shapes do not broadcast together: price (2,), "
                    "strike (3,)")
    # numbers in an object array (a pandas object column) are still taken
    got = vega.implied_volatility_array(np.array([5.0, 6], dtype=object), 100.0, 100.0, 0.1)
    assert got.tolist() == vega.implied_volatility_array([5.0, 6.0], 100.0, 100.0, 0.1).tolist()


def test_the_expiry_and_forward_helpers_name_an_argument_of_the_wrong_type():
    """expiry_raw and now_ns said "an integer is required" for a str and cut a float to a whole number without a
    word; select_forward, parity_forward and iv_to_e4_py said "must be real number"."""
    import vega
    from vega import _iv
    raw = 1475159400
    assert _iv_error(lambda: vega.time_to_expiry(float(raw), 0)) == (
        TypeError, f"time_to_expiry: expiry_raw must be an int (seconds since 1980), not float: {float(raw)!r}")
    assert _iv_error(lambda: vega.time_to_expiry(raw, 1.7e18)) == (
        TypeError, "time_to_expiry: now_ns must be an int (ns since the Unix epoch), not float: 1.7e+18")
    assert _iv_error(lambda: vega.expiry_to_unix("1475159400")) == (
        TypeError, "expiry_to_unix: expiry_raw must be an int (seconds since 1980), not str: '1475159400'")
    assert _iv_error(lambda: vega.expiry_to_unix(True))[0] is TypeError
    assert _iv_error(lambda: vega.time_to_expiry(raw, 2 ** 70)) == (
        ValueError, f"time_to_expiry: now_ns {2 ** 70} is out of range: ns since the Unix epoch within int64")
    assert vega.time_to_expiry(np.int64(raw), np.int64(0)) == vega.time_to_expiry(raw, 0) > 0
    assert _iv_error(lambda: vega.select_forward(spot="22400")) == (
        TypeError, "select_forward: spot must be a number, not str: '22400'")
    assert _iv_error(lambda: vega.parity_forward([100.0], [5.0], [5.0], 100.0, None)) == (
        TypeError, "parity_forward: t_years must be a number, not NoneType: None")
    assert _iv_error(lambda: vega.parity_forward(["100"], [5.0], [5.0], 100.0, 0.1)) == (
        TypeError, "parity_forward: strikes must be numbers, not an array of <U3: ['100']")
    assert _iv_error(lambda: _iv.iv_to_e4_py("0.25")) == (
        TypeError, "iv_to_e4_py: sigma must be a number, not str: '0.25'")


# -- 6. the stubs refuse bytes as tokens, as the run time does ----------------------------------------------------

TOKENS_USER = """
from typing import Any, assert_type

import numpy as np
import numpy.typing as npt

import vega

store = vega.Store(10)
assert_type(store.snapshot([1, 2]), npt.NDArray[Any])
store.snapshot((1, np.int32(2)))
store.snapshot({1, 2})
store.snapshot(range(5))
store.snapshot({1: "a"}.keys())
store.snapshot(t for t in (1, 2))
store.snapshot(iter([1, 2]))
store.snapshot(np.arange(3))
store.snapshot(store.tokens()[:10])
store.snapshot(None)
store.subscribe([1, 2])
store.subscribe(1)
store.snapshot(b"ab")  # type: ignore[arg-type]            # TypeError at run time: "not one bytes"
store.snapshot(bytearray(b"ab"))  # type: ignore[arg-type]
store.snapshot("12")  # type: ignore[arg-type]
store.subscribe(b"ab")  # type: ignore[arg-type]
vega.replay("/j", "2026-11-20", tokens=[1, 2])
vega.replay("/j", "2026-11-20", tokens=np.arange(3))
vega.replay("/j", "2026-11-20", tokens=b"ab")  # type: ignore[arg-type]   # TypeError at run time: not bytes
vega._journal.token_array(b"ab")  # type: ignore[arg-type]
"""


def test_the_stubs_refuse_bytes_as_tokens_and_take_the_collections_the_runtime_takes(tmp_path):
    """_Tokens was Iterable[int]: bytes is one, so mypy took store.snapshot(b"ab"), which raises TypeError.  Each
    ignore above must meet an error (--strict warns of an unused one), each other call none."""
    from mypy_helpers import mypy_strict
    import vega
    store = vega.Store(10)
    with pytest.raises(TypeError, match="not one bytes"):
        store.snapshot(b"ab")
    mypy_strict(tmp_path, TOKENS_USER)


@pytest.mark.parametrize("name", [5, None, 1.5, ["vega"]])
def test_a_ring_name_of_the_wrong_type_is_a_typeerror_naming_it(name):
    """Ring.create(5) said "expected str, bytes or os.PathLike object, not int": os.fspath's words, no argument."""
    import vega
    for call in (vega.Ring.create, vega.Ring.open):
        with pytest.raises(TypeError, match=r"ring name must be a str .* not (int|NoneType|float|list)"):
            call(name)
