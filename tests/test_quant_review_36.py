"""What a quant using VEGA from strategy code tripped over (the thirty-sixth review of the Python API): the array
IV functions' messages for one bad value called it "an array of float64" (now_ns=time.time() * 1e9), and an empty
list of expiries was refused; a memoryview of bytes walked as a collection of tokens (its byte values looked up);
vega.index_token given the derivatives' symbol ("NIFTY") answered a hashed token no feed carries; a replay bound
with more than 9 fractional digits said only that it was "neither" a date nor a time."""
import datetime as dt
import re

import numpy as np
import pytest

import vega

RAW = 1481898600                     # 2026-12-16 14:30 IST in seconds since 1980 (the simulator's NIFTY expiry)
NOW = 1_795_000_000 * 10 ** 9        # 2026-11-18, ns since the Unix epoch


# -- 1. the array functions name one bad value by its type, as the scalar functions do; [] is no expiry ----------

@pytest.mark.parametrize("args, says", [
    ((RAW, float(NOW)), f"now_ns must be an int (ns since the Unix epoch), not float: {float(NOW)!r}"),
    ((float(RAW), NOW), f"expiry_raw must be an int (seconds since 1980), not float: {float(RAW)!r}"),
    (("2026-12-16", NOW), "expiry_raw must be an int (seconds since 1980), not str: '2026-12-16'"),
    ((True, NOW), "expiry_raw must be an int (seconds since 1980), not bool: True"),
])
def test_time_to_expiry_array_names_one_bad_value_as_time_to_expiry_does(args, says):
    """One value was "not an array of float64: 1.795e+18": the float the quant gave is no array."""
    with pytest.raises(TypeError, match="^" + re.escape("time_to_expiry_array: " + says) + "$"):
        vega.time_to_expiry_array(*args)
    with pytest.raises(TypeError, match="^" + re.escape("time_to_expiry: " + says) + "$"):
        vega.time_to_expiry(*args)


def test_time_to_expiry_array_of_scalars_is_0d_and_of_an_empty_list_empty():
    one = vega.time_to_expiry_array(RAW, NOW)
    assert isinstance(one, np.ndarray) and one.shape == () and float(one) == vega.time_to_expiry(RAW, NOW) > 0
    for empty in ([], ()):                 # np.asarray([]) is float64: "not an array of float64: []"
        got = vega.time_to_expiry_array(empty, NOW)
        assert got.shape == (0,) and got.dtype == np.float64
    assert vega.time_to_expiry_array([], [NOW]).shape == (0,)
    with pytest.raises(TypeError, match=re.escape("expiry_raw must be ints (seconds since 1980), not an array of "
                                                  "float64")):
        vega.time_to_expiry_array(np.array([], np.float64), NOW)     # a float array is still refused


@pytest.mark.parametrize("bad, says", [("x", "not str: 'x'"), (1j, "not complex: 1j"), (None, "not NoneType: None")])
def test_iv_array_functions_name_one_bad_number_by_its_type(bad, says):
    with pytest.raises(TypeError, match="^" + re.escape(f"implied_volatility_array: price must be a number, {says}")):
        vega.implied_volatility_array(bad, 100.0, 100.0, 0.5)
    with pytest.raises(TypeError, match="^" + re.escape(f"black76_price_array: sigma must be a number, {says}")):
        vega.black76_price_array(100.0, 100.0, 0.5, bad)
    assert vega.implied_volatility_array([], 100.0, 100.0, 0.5).shape == (0,)


# -- 2. a memoryview of bytes is no collection of tokens, as bytes and a bytearray are not ----------------------

def _store_of(tokens):
    store = vega.Store(16)
    for t in tokens:
        store.add(t, "NIFTY", "", "FO")
    return store


@pytest.mark.parametrize("view", [memoryview(b"ab"), memoryview(bytearray(b"ab")), memoryview(b"ab").cast("c")])
def test_store_refuses_a_memoryview_of_bytes_as_tokens(view):
    """snapshot(memoryview(b"ab")) gave the records of tokens 97 and 98, and subscribe() changed theirs."""
    store = _store_of([97, 98])
    store.subscribe([97, 98], False)
    with pytest.raises(TypeError, match="^tokens is a sequence or array of tokens, not one memoryview: "):
        store.snapshot(view)
    with pytest.raises(TypeError, match="^tokens is a sequence or array of tokens, not one memoryview: "):
        store.subscribe(view)
    assert not store[97].subscribed and not store[98].subscribed          # nothing subscribed


def test_a_memoryview_of_ints_and_a_uint8_array_are_still_tokens():
    store = _store_of([97, 98])
    assert store.snapshot(memoryview(np.array([98, 97], np.int32)))["token"].tolist() == [98, 97]
    assert store.snapshot(np.frombuffer(b"ab", np.uint8))["token"].tolist() == [97, 98]
    # one token: `in` answers False for what is no int (str, float, bytes, memoryview), a lookup raises
    assert memoryview(b"a") not in store and b"a" not in store and "97" not in store and 97 in store
    with pytest.raises(TypeError, match="^a token is an int, not memoryview$"):
        store.ltp(memoryview(b"a"))


def test_replay_refuses_a_memoryview_of_bytes_as_tokens(tmp_path):
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from journal_helpers import make_records
    from vega.journal import JournalWriter

    recs = make_records(300, seed=5, ntok=3)
    day = dt.date(2026, 11, 20)
    with JournalWriter(tmp_path, "NSE_FO", day, flush_interval=None) as w:
        w.append(recs)
    got = []
    with pytest.raises(TypeError, match=re.escape("tokens must be a collection of tokens, not memoryview (of bytes")):
        vega.replay(tmp_path, day, feeds=["NSE_FO"], tokens=memoryview(b"\x01"), into=lambda r, f: got.append(r))
    assert got == []
    vega.replay(tmp_path, day, feeds=["NSE_FO"], tokens=memoryview(np.array([1], np.int32)),
                into=lambda r, f: got.append(np.array(r)))
    assert sum(len(r) for r in got) == int((recs["token"] == 1).sum()) > 0


# -- 3. a replay bound with a fraction past the nanosecond says so --------------------------------------------

@pytest.mark.parametrize("bound", ["2026-11-20T11:30:00.1234567891", "2026-11-20 11:30:00.123456789123+05:30"])
@pytest.mark.parametrize("which", ["start", "end"])
def test_replay_bound_of_more_than_9_fractional_digits_says_what_is_wrong(tmp_path, bound, which):
    """It said "replay: start: '...' is neither a trading date (...) nor a time (...)": 300 characters of the forms
    that did not name the fraction."""
    args = (bound, None) if which == "start" else ("2026-11-20", bound)
    with pytest.raises(ValueError, match="^" + re.escape(f"replay: {which}: {bound!r} is neither a trading date nor a "
                                                         f"time: its fraction of a second has more than 9 digits "
                                                         f"(nanoseconds)") + "$"):
        vega.replay(tmp_path, *args, into=lambda r, f: None)
    # nine digits are a time: the replay of a root without files replays nothing
    (tmp_path / "NSE_FO").mkdir()
    assert vega.replay(tmp_path, *(a if a is None else a[:29] for a in args), into=lambda r, f: None).records == 0


# -- 4. vega.index_token of a derivatives' symbol points at the index's name ---------------------------------

@pytest.mark.parametrize("symbol, name, token", [("NIFTY", "Nifty 50", 26000), (" banknifty ", "Nifty Bank", 26009),
                                                 (b"FINNIFTY", "Nifty Fin Service", 26037)])
def test_index_token_of_a_derivatives_symbol_names_the_index(symbol, name, token):
    """index_token("NIFTY") was 1474004377, the hashed token of a name no feed carries: store.ltp() of it a
    KeyError, or a record of nothing, where the quant meant Nifty 50."""
    with pytest.raises(ValueError, match="^" + re.escape(f"index_token: {symbol!r} is the derivatives' symbol of the "
                                                         f"index {name!r}, which the exchange broadcasts under that "
                                                         f"name: index_token({name!r}) is {token}") + "$"):
        vega.index_token(symbol)
    assert vega.index_token(name) == token
    # with a table of one's own: the index's token in it, or the symbol itself when the table names it
    with pytest.raises(ValueError, match=re.escape(f"index_token({name!r}) is 77")):
        vega.index_token(symbol, {name: 77})
    assert vega.index_token(symbol, {symbol.decode() if isinstance(symbol, bytes) else symbol: 88}) == 88


def test_index_token_still_hashes_other_names_and_the_handler_merges_names_as_received():
    from vega.indices import HASH_TOKEN_BASE, INDEX_SYMBOLS, index_key
    assert vega.index_token("NIFTY 50") == 26000 and vega.index_token("MIDCPNIFTY") & HASH_TOKEN_BASE
    assert {index_key(s) for s in INDEX_SYMBOLS} == {b"NIFTY", b"BANKNIFTY", b"FINNIFTY"}
    h = vega.FeedHandler("IDX", vega.Store(8))
    assert h.index_token("Nifty 50") == 26000
    with pytest.raises(ValueError, match="'Nifty 50'"):     # the handler says what vega.index_token says
        h.index_token("NIFTY")                                # (a wire name "NIFTY": tests/test_lead_37.py)


# -- 5. an expiry as a numpy datetime64 (a pandas column's value) is its date; expiry_unix given for it says so ---

@pytest.fixture(scope="module")
def masters(tmp_path_factory):
    from vega.simulator import Simulator
    paths = Simulator(("FO", "CM"), 10, seed=3).write_master(tmp_path_factory.mktemp("masters"))
    return vega.Instruments.load(paths["contract"], paths["security"])


def test_option_chain_takes_a_numpy_datetime64_expiry(masters):
    """It was a TypeError "expiry must be raw seconds since 1980, a date, a datetime or 'YYYY-MM-DD', not
    np.datetime64('2026-12-16')", where a pandas Timestamp (a datetime) of the same day was taken."""
    day = masters.expiries("NIFTY")[0]
    want = masters.option_chain("NIFTY", day)
    assert len(want) > 0
    for e in (np.datetime64(day), np.datetime64(day, "ns"), np.datetime64(f"{day}T18:29:59", "s")):
        assert masters.option_chain("NIFTY", e).tobytes() == want.tobytes()
        assert masters.futures("NIFTY", e).tobytes() == masters.futures("NIFTY", day).tobytes()
    # UTC, as numpy's times are in the rest of the API: 18:30 UTC is 00:00 IST of the next day
    with pytest.raises(ValueError, match=f"no contract expiring on {day + dt.timedelta(days=1)}:"):
        masters.option_chain("NIFTY", np.datetime64(f"{day}T18:30:00", "s"))
    with pytest.raises(ValueError, match=re.escape("expiry is NaT (numpy's not-a-time): give a date")):
        masters.option_chain("NIFTY", np.datetime64("NaT"))


def test_an_expiry_unix_given_as_the_expiry_is_named_as_one(masters):
    """It said "no contract expiring on 2036-12-15": the int was read as seconds since 1980, without a word."""
    row = masters.option_chain("NIFTY", masters.expiries("NIFTY")[0])[0]
    assert len(masters.option_chain("NIFTY", row["expiry_raw"])) > 0
    day = masters.expiries("NIFTY")[0].isoformat()
    with pytest.raises(ValueError, match=re.escape(f"({int(row['expiry_unix'])} is the expiry_unix of {day}: an int "
                                                   f"expiry is expiry_raw, seconds since 1980)")):
        masters.option_chain("NIFTY", row["expiry_unix"])
    with pytest.raises(ValueError, match=r"its expiries are [0-9-, ]+$"):      # another int: no such words
        masters.option_chain("NIFTY", int(row["expiry_raw"]) + 86400)


# -- 6. an empty list of times is no floats: the time functions give an empty answer ---------------------------

@pytest.mark.parametrize("call", [
    lambda v: vega.records.epoch_ns(v, "2026-11-20"),
    lambda v: vega.records.datetimes(v, "2026-11-20"),
    lambda v: vega.store.exchange_epoch_s(v),
    lambda v: vega.time_to_expiry_array(v, NOW),
])
def test_time_functions_of_an_empty_list_are_empty(call):
    """numpy makes [] float64: "epoch_ns takes integer ts48 values (ns since 00:00 IST), not float64" when a
    filter (``[r["ts48"] for r in rows if ...]``) left nothing."""
    got = call([])
    assert isinstance(got, np.ndarray) and got.shape == (0,)
    with pytest.raises(TypeError, match="float64"):
        call(np.array([], np.float64))         # a float array stays refused: its values would be floats
    with pytest.raises(TypeError, match="float"):
        call([1.5])


def test_set_timestamps_of_no_records_takes_an_empty_list():
    recs = np.zeros(0, vega.records.CHANGE_RECORD_DTYPE)
    vega.records.set_timestamps(recs, [])
    one = np.zeros(2, vega.records.CHANGE_RECORD_DTYPE)
    vega.records.set_timestamps(one, [5, 2 ** 40])
    assert vega.records.timestamps(one).tolist() == [5, 2 ** 40]


# -- 7. journal_path refuses a feed name no journal has; replay says what a callback it cannot call lacks ------

def test_journal_path_refuses_an_unknown_feed_as_replay_does(tmp_path):
    """journal_path(root, "FO", day) was root/FO/20261120.bin: Journal.open of it then said only "No such file"."""
    from vega.journal import journal_path
    assert journal_path(tmp_path, "nse_fo", "2026-11-20") == tmp_path / "NSE_FO" / "20261120.bin"
    with pytest.raises(ValueError, match="^unknown feed 'FO'; expected one of NSE_FO, NSE_EQ, NFO_IDX$"):
        journal_path(tmp_path, "FO", "2026-11-20")
    (tmp_path / "NSE_FO").mkdir()
    with pytest.raises(ValueError, match="^unknown feed 'FO'; expected one of NSE_FO, NSE_EQ, NFO_IDX$"):
        vega.replay(tmp_path, "2026-11-20", feeds=["FO"], into=lambda r, f: None)


@pytest.fixture
def journal_root(tmp_path):
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from journal_helpers import make_records
    from vega.journal import JournalWriter

    with JournalWriter(tmp_path, "NSE_FO", dt.date(2026, 11, 20), flush_interval=None) as w:
        w.append(make_records(200, seed=7, ntok=3))
    return tmp_path


def test_replay_says_a_callback_of_one_argument_is_called_with_two(journal_root, tmp_path_factory):
    """into=lambda recs: ... raised "<lambda>() takes 1 positional argument but 2 were given" from the first
    delivery, in the lambda's words; into=a_list.append likewise ("append() takes exactly one argument")."""
    seen = []

    def one(recs):
        seen.append(recs)

    for bad, name in ((one, "one"), (seen.append, "list.append"), (lambda recs, feed, extra: None, "<lambda>")):
        with pytest.raises(TypeError, match="^" + re.escape(f"replay: a callback target is called as "
                                                            f"into(records, feed), and {name} cannot be (")):
            vega.replay(journal_root, "2026-11-20", into=bad)
        with pytest.raises(TypeError, match=re.escape("is called as into(records, feed)")):
            vega.replay(journal_root, "2026-11-20", into={"NSE_FO": bad})
    assert seen == []
    # a replay that delivers nothing calls no callback; a TypeError of the callback's own is its own
    empty = tmp_path_factory.mktemp("empty")
    (empty / "NSE_FO").mkdir()
    assert vega.replay(empty, "2026-11-20", into=one).records == 0

    def raises(recs, feed):
        raise TypeError("the strategy's own")
    with pytest.raises(TypeError, match="^the strategy's own$"):
        vega.replay(journal_root, "2026-11-20", into=raises)
    # what takes two arguments is called with them; a list is given as itself
    assert vega.replay(journal_root, "2026-11-20", into=lambda recs, feed: seen.append(feed)).records == 200
    assert vega.replay(journal_root, "2026-11-20", into=lambda *a: None).records == 200
    assert set(seen) == {"NSE_FO"}
    got = []
    assert vega.replay(journal_root, "2026-11-20", into=got).records == sum(len(r) for r in got) == 200
