"""What a quant using VEGA from strategy code tripped over (the thirty-fifth review, second part): the IV status
codes named only in the private vega._iv; no array form of time_to_expiry for a chain of mixed expiries; time and
keyword errors of the journal and the ring that named neither the argument nor the value; Journal.read(copy=True)
moving its cursor before a read that failed; replay's "is neither ... or", a token beyond 64 bits called "not
object", a 2-D token array told to be wrapped in [..]; a float taken as a store's segment; and an option chain of
an expiry that is not listed answered with an empty array, without a word."""
import datetime as dt
import os
import re
import sys
import uuid

import numpy as np
import pytest

import vega
from vega import _iv

sys.path.insert(0, os.path.dirname(__file__))  # journal_helpers, mypy_helpers
from journal_helpers import make_records  # noqa: E402

DATE = dt.date(2026, 11, 20)


# -- 1. the IV status codes by name, from vega itself ---------------------------------------------------------------

IV_NAMES = ("IV_STATUS_OK", "IV_STATUS_INPUT", "IV_STATUS_BELOW", "IV_STATUS_ABOVE", "IV_STATUS_NOCONV",
            "IV_STATUS_NAMES", "implied_volatility_status")


@pytest.mark.parametrize("name", IV_NAMES)
def test_the_iv_status_codes_and_the_scalar_status_function_are_public(name):
    assert getattr(vega, name) is getattr(_iv, name) and name in vega.__all__


def test_codes_compare_by_name():
    sigma, why = vega.implied_volatility_array([5.0, 5.0, 200.0, 5.0], 100.0, [100.0, 90.0, 100.0, 100.0],
                                               [0.5, 0.5, 0.5, 0.0], 0.0, status=True)
    assert why.tolist() == [vega.IV_STATUS_OK, vega.IV_STATUS_BELOW, vega.IV_STATUS_ABOVE, vega.IV_STATUS_INPUT]
    assert [vega.IV_STATUS_NAMES[c] for c in why.tolist()] == ["ok", "below intrinsic", "above upper bound",
                                                               "invalid input"]
    assert vega.implied_volatility_status(5.0, 100.0, 90.0, 0.5, 0.0)[1] == vega.IV_STATUS_BELOW
    assert vega.implied_volatility_status(5.0, 100.0, 100.0, 0.5, 0.0) == (sigma[0], vega.IV_STATUS_OK)


# -- 2. time_to_expiry_array ----------------------------------------------------------------------------------------

RAW = 1481898600                     # 2026-12-16 14:30 IST in seconds since 1980 (the simulator's NIFTY expiry)
NOW = 1_795_000_000 * 10 ** 9        # 2026-11-18, ns since the Unix epoch


def test_time_to_expiry_array_is_the_scalar_function_per_element_broadcast():
    raws = np.array([RAW, RAW + 28 * 86400, RAW - 35 * 86400], np.int64)       # a chain of mixed expiries
    nows = np.array([[NOW], [NOW + 86400 * 10 ** 9]])
    got = vega.time_to_expiry_array(raws, nows)
    assert got.shape == (2, 3) and got.dtype == np.float64
    want = [[vega.time_to_expiry(int(r), int(n)) for r in raws] for n in nows.ravel()]
    assert got.tolist() == want and (got[:, 2] < 0).all() and (got[:, :2] > 0).all()
    assert vega.time_to_expiry_array(RAW, NOW).shape == () and float(vega.time_to_expiry_array(RAW, NOW)) == \
        vega.time_to_expiry(RAW, NOW)
    assert vega.time_to_expiry_array([RAW, RAW], np.uint64(NOW)).tolist() == [vega.time_to_expiry(RAW, NOW)] * 2
    objs = np.array([RAW, np.int32(5)], dtype=object)                         # a pandas object column of ints
    assert vega.time_to_expiry_array(objs, NOW).tolist() == [vega.time_to_expiry(RAW, NOW),
                                                             vega.time_to_expiry(5, NOW)]


@pytest.mark.parametrize("args, error, says", [
    (([float(RAW)], NOW), TypeError, "expiry_raw must be ints (seconds since 1980), not an array of float64"),
    (([RAW], [1.7e18]), TypeError, "now_ns must be ints (ns since the Unix epoch), not an array of float64"),
    (([True], NOW), TypeError, "expiry_raw must be ints (seconds since 1980), not an array of bool"),
    ((["x"], NOW), TypeError, "expiry_raw must be ints (seconds since 1980), not an array of <U1"),
    ((np.array([RAW, 1.5], dtype=object), NOW), TypeError,
     "expiry_raw must be an int (seconds since 1980), not float: 1.5"),
    (([RAW, 2 ** 62 + 1], NOW), ValueError, f"expiry_raw {2 ** 62 + 1} is out of range: seconds since 1980 "
                                            f"within +-2**62"),
    (([-(2 ** 63)], NOW), ValueError, f"expiry_raw {-(2 ** 63)} is out of range"),
    (([RAW], [2 ** 70]), ValueError, f"now_ns {2 ** 70} is out of range: ns since the Unix epoch within int64"),
    (([RAW], np.array([2 ** 63], np.uint64)), ValueError, f"now_ns {2 ** 63} is out of range"),
    (([RAW, RAW], [NOW, NOW, NOW]), ValueError, "the arguments' shapes do not broadcast together: expiry_raw (2,), "
                                                "now_ns (3,)"),
])
def test_time_to_expiry_array_refuses_what_the_scalar_function_refuses_naming_the_argument(args, error, says):
    with pytest.raises(error, match="^" + re.escape("time_to_expiry_array: " + says)):
        vega.time_to_expiry_array(*args)


TYPED_USER = """
import numpy as np
import numpy.typing as npt

import vega

t: npt.NDArray[np.float64] = vega.time_to_expiry_array(np.array([1481898600]), 1_795_000_000 * 10 ** 9)
sigma, why = vega.implied_volatility_array([5.0], 100.0, 100.0, 0.5, status=True)
below: npt.NDArray[np.bool_] = why == vega.IV_STATUS_BELOW
words: str = vega.IV_STATUS_NAMES[vega.IV_STATUS_OK]
one: tuple[float, int] = vega.implied_volatility_status(5.0, 100.0, 100.0, 0.5)
"""


def test_the_new_names_are_typed(tmp_path):
    from mypy_helpers import mypy_strict
    mypy_strict(tmp_path, TYPED_USER)


# -- 3. the journal's time errors name the argument; the ring's keyword errors show the value ------------------------

@pytest.fixture
def journal(tmp_path):
    with vega.JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None) as w:
        w.append(make_records(200, seed=4))
    with vega.Journal.open(w.path) as j:
        yield j


def _calls(j):
    return {"seek: t": j.seek, "position: t": j.position, "snapshot_at: t": j.snapshot_at,
            "state_records: t": j.state_records, "between: t0": lambda t: j.between(t, "23:00"),
            "between: t1": lambda t: j.between("09:00", t)}


@pytest.mark.parametrize("bad, error, says", [
    ("25:00", ValueError, "not a time: '25:00' (HH:MM"),
    ("10:00:00.1234567891", ValueError, "not a time: '10:00:00.1234567891'"),
    (dt.datetime(2026, 11, 23, 9, 0), ValueError, "(2026-11-23 09:00:00) is not within this journal's trading day"),
    (1 << 48, ValueError, "a time is 0 .. 2**48 - 1 ns after 00:00 IST of the trading day, not 281474976710656"),
    (1.5, TypeError, "a time is ts48 ns (int), a datetime.time, a datetime, a numpy datetime64 or an ISO string, "
                     "not float"),
])
def test_every_journal_time_error_names_its_argument(journal, bad, error, says):
    pos = journal.tell()
    for what, call in _calls(journal).items():
        with pytest.raises(error) as e:
            call(bad)
        assert str(e.value).startswith(what) and says in str(e.value), (what, str(e.value))
    assert journal.tell() == pos


@pytest.fixture
def ring():
    name = f"vega-test-{uuid.uuid4().hex[:12]}"
    r = vega.Ring.create(name)
    yield r
    r.close()
    os.unlink(os.path.join("/dev/shm", name))


@pytest.mark.parametrize("kw, says", [
    ({"start": "oldst"}, "start must be 'newest', 'oldest', 'resume' (in any case) or a sequence number, not 'oldst'"),
    ({"start": 1.5}, "start must be 'newest', 'oldest', 'resume' (in any case) or a sequence number, not 1.5"),
    ({"on_lap": "skip"}, "on_lap must be one of ('oldest', 'newest', 'raise') (in any case), not 'skip'"),
    ({"on_lap": None}, "on_lap must be one of ('oldest', 'newest', 'raise') (in any case), not None"),
])
def test_a_reader_keyword_error_shows_the_value_as_given(ring, kw, says):
    with pytest.raises(ValueError, match="^" + re.escape(says) + "$"):
        ring.reader("NSE_FO", **kw)


@pytest.mark.parametrize("bad", ["start", "Oldst", -1, 2.0, None])
def test_a_seek_error_shows_the_position_as_given(ring, bad):
    r = ring.reader("NSE_FO")
    ring.append("NSE_FO", make_records(3).tobytes())
    with pytest.raises(ValueError, match="^" + re.escape(f"position must be 'oldest', 'newest' (in any case) or a "
                                                         f"sequence number >= 0, not {bad!r}") + "$"):
        r.seek(bad)
    assert r.position == 0 and len(r.poll(10)) == 3                # where it was: nothing skipped


# -- 4. Journal.read(copy=True) that fails leaves the cursor ------------------------------------------------------

def test_a_copying_read_that_fails_leaves_the_cursor_where_it_was(tmp_path):
    recs = make_records(500, seed=6)
    with vega.JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None) as w:
        w.append(recs)
    with vega.Journal.open(w.path) as j:
        assert j.read(100, copy=True).tobytes() == recs[:100].tobytes() and j.tell() == 100
        os.truncate(w.path, 64 + 150 * 32)                        # the file shrinks under the reader
        with pytest.raises(vega.JournalError, match="file shrank while reading"):
            j.read(copy=True)
        assert j.tell() == 100                                     # nothing read, nothing skipped
        assert j.read(50, copy=True).tobytes() == recs[100:150].tobytes() and j.tell() == 150


# -- 5. replay's bad date, a token beyond 64 bits, a 2-D token array -------------------------------------------------

@pytest.mark.parametrize("bad, which", [("2026-13-45", "start"), ("2026-11-20T25:00", "start"),
                                        ("tomorrow", "end")])   # (today and yesterday are days)
def test_a_bad_replay_bound_names_the_bound_in_grammar(tmp_path, bad, which):
    args = (bad, "2026-11-20") if which == "start" else ("2026-11-20", bad)
    with pytest.raises(ValueError) as e:
        vega.replay(tmp_path, *args, into=lambda r, f: None)
    msg = str(e.value)
    assert msg.startswith(f"replay: {which}: {bad!r} is neither a trading date (") and ") nor a time (" in msg
    assert ") or a time (" not in msg


@pytest.mark.parametrize("big", [2 ** 64, 2 ** 70, -(2 ** 63) - 1])
def test_a_token_beyond_64_bits_is_out_of_range_not_of_type_object(journal, big):
    from vega.journal import token_array
    for call in (lambda: token_array([1, big]), lambda: journal.read(tokens=[big]),
                 lambda: journal.between("09:00", "23:00", tokens=[5, big])):
        with pytest.raises(ValueError, match=f"^a token is 0 .. 2\\*\\*32 - 1, not {big}$"):
            call()
    assert journal.tell() == 0
    with pytest.raises(TypeError, match="tokens must be integers, not object"):    # still: not all ints
        token_array([1.5, big])


def test_a_2d_token_array_is_refused_as_not_1d():
    store = vega.Store(16)
    for t in (5, 6, 7, 8):
        store.add(t, segment="FO")
    for call in (store.snapshot, store.subscribe):
        with pytest.raises(TypeError, match=re.escape("tokens must be a 1-D sequence or array of tokens, not an "
                                                      "array of shape (2, 2): flatten it (.ravel())")):
            call(np.array([[5, 6], [7, 8]]))
    assert store.snapshot(np.array([[5, 6], [7, 8]]).ravel())["token"].tolist() == [5, 6, 7, 8]
    with pytest.raises(TypeError, match="not one ndarray: wrap it in"):          # a 0-d one is one token
        store.snapshot(np.array(5))


# -- 6. a float is no segment for the store, as for Instruments -------------------------------------------------

@pytest.mark.parametrize("bad", [2.0, 4.0, np.float64(4.0), np.float32(2.0), True, np.bool_(False), b"FO"])
def test_the_store_refuses_a_segment_that_is_no_str_or_int(bad):
    store = vega.Store(16)
    says = f"segment must be 'CM' or 'FO' (a str) or its number (an int), not {type(bad).__name__}: {bad!r}"
    for call in (lambda: store.add(7, "X", "EQ", segment=bad),
                 lambda: store.load_instruments(vega.Instruments(), segment=bad),
                 lambda: vega.pack_messages(bad, [])):
        with pytest.raises(TypeError, match="^" + re.escape(says) + "$"):
            call()
    with pytest.raises(TypeError, match="^" + re.escape(says.replace("'CM' or 'FO'", "'CM', 'FO' or 'IDX'")) + "$"):
        vega.FeedHandler(bad, store)
    assert len(store) == 0 and store.snapshot().size == 0            # nothing added, no segment claimed
    with pytest.raises(TypeError, match="segment must be 'FO' \\(SEG_FO\\) or 'CM' \\(SEG_CM\\)"):
        vega.Instruments().tokens(bad)                               # as the masters refuse it
    store.add(7, "X", "EQ", segment=np.int64(2))                     # a number is still taken: F&O's
    assert vega.FeedHandler("FO", store).segment == "FO" and vega.FeedHandler(2, store).segment == "FO"


# -- 7. an option chain (and futures) of an expiry the symbol does not have ------------------------------------------

@pytest.fixture(scope="module")
def masters(tmp_path_factory):
    from vega.simulator import Simulator
    paths = Simulator(("FO",), n_datagrams=1, seed=3).write_master(tmp_path_factory.mktemp("masters"))
    return vega.Instruments.load(paths["contract"])


def test_an_unlisted_expiry_is_a_valueerror_naming_the_listed_ones(masters):
    listed = ", ".join(d.isoformat() for d in masters.expiries("NIFTY"))
    assert listed == "2026-12-16, 2027-01-13"
    for bad, day in (("2026-12-17", "2026-12-17"), (dt.date(2020, 1, 1), "2020-01-01"),
                     (dt.datetime(2026, 12, 17, 10, 0), "2026-12-17"), (RAW + 86400, "2026-12-17")):
        for func, call in (("option_chain", masters.option_chain), ("futures", masters.futures)):
            with pytest.raises(ValueError, match="^" + re.escape(f"{func}: NIFTY has no contract expiring on {day}: "
                                                                 f"its expiries are {listed}") + "$"):
                call("nifty", bad)
    with pytest.raises(ValueError, match="^" + re.escape("option_chain: NIFY has no contract expiring on "
                                                         "2026-12-16: it has no F&O contract in these masters")):
        masters.option_chain("NIFY", "2026-12-16")
    chain = masters.option_chain("NIFTY", "2026-12-16")              # a listed one: its chain, as before
    assert len(chain) and set(chain["option_type"].tolist()) == {"CE", "PE"}
    assert len(masters.futures("NIFTY", RAW)) == 1 and len(masters.futures("NIFTY")) == 2
