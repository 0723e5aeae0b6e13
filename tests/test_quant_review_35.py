"""What a quant using VEGA from strategy code tripped over (the thirty-fifth review of the Python API): is_call's
errors that named neither the function nor (for arrays) the value refused, and an object array of bools refused;
a bytearray taken as a collection of tokens (its byte values looked up as tokens); Journal.read moving its cursor
before refusing its tokens; expiries and master files the lookups and Instruments.load took or refused without
saying why; a FeedHandler given the journal of the other token numbering, or a rate that is no number."""
import os
import re

import numpy as np
import pytest

import vega
from vega import _iv


# -- 1. is_call's TypeError names the function, and the array functions' the value refused -----------------------

@pytest.mark.parametrize("func, args", [
    ("implied_volatility", (5.0, 100.0, 100.0, 0.5, 0.0)),
    ("implied_volatility_status", (5.0, 100.0, 100.0, 0.5, 0.0)),
    ("black76_price", (100.0, 100.0, 0.5, 0.2, 0.0)),
])
@pytest.mark.parametrize("bad", ["PE", 2, None, 0.5])
def test_scalar_is_call_error_names_the_function_and_the_value(func, args, bad):
    """As "black76_price: sigma must be a finite number >= 0, not -1": the function, the argument, the value."""
    with pytest.raises(TypeError) as e:
        getattr(_iv, func)(*args, bad)
    assert str(e.value).startswith(f"{func}: is_call must be a bool (True: a call, False: a put), not {bad!r}:")


@pytest.mark.parametrize("func, args", [
    ("implied_volatility_array", ([5.0, 5.0, 5.0], 100.0, 100.0, 0.5, 0.0)),
    ("black76_price_array", (100.0, [90.0, 100.0, 110.0], 0.5, 0.2, 0.0)),
])
def test_array_is_call_error_names_the_function_and_the_value_refused(func, args):
    f = getattr(_iv, func)
    # an int array: the first value that is not 0 / 1
    with pytest.raises(TypeError, match=f"^{func}: is_call must be bools .* or 1 / 0, not 2 \\(an array of int64\\)"):
        f(*args, np.array([1, 2, 5], np.int64))
    with pytest.raises(TypeError, match=f"^{func}: is_call must be bools .*, not -1 \\(an array of int8\\)"):
        f(*args, np.array([0, -1, 1], np.int8))
    # an array of another kind: shown
    with pytest.raises(TypeError, match=re.escape(f"{func}: is_call must be bools (True: a call, False: a put) or "
                                                  "1 / 0, not an array of <U2 (['CE' 'PE' 'CE'])")):
        f(*args, ["CE", "PE", "CE"])
    with pytest.raises(TypeError, match=re.escape("not an array of float64 ([1. 0. 1.])")):
        f(*args, np.array([1.0, 0.0, 1.0]))
    # what is a flag still is: bools and 0 / 1 of any integer type, broadcast
    want = f(*args, np.array([True, False, True]))
    assert np.array_equal(f(*args, np.array([1, 0, 1], np.uint8)), want, equal_nan=True)
    assert np.array_equal(f(*args, [1, 0, 1]), want, equal_nan=True)
    assert not np.isnan(want).all()


# -- 2. a bytearray is no collection of tokens: the TypeError bytes gets, wherever tokens are taken -------------

def _store_of(tokens):
    store = vega.Store(16)
    for t in tokens:
        store.add(t, "NIFTY", "", "FO")
    return store


@pytest.mark.parametrize("call", ["snapshot", "subscribe"])
def test_store_refuses_a_bytearray_of_tokens_as_it_refuses_bytes(call):
    """The stubs' _Tokens refuses a bytearray; the run time walked it as its byte values (token 97 for "a"): a
    KeyError, or with tokens 97 and 98 in the store their records, without a word."""
    store = _store_of([97, 98])
    before = store.snapshot()
    with pytest.raises(TypeError, match="^tokens is a sequence or array of tokens, not one bytes: "):
        getattr(store, call)(b"ab")
    with pytest.raises(TypeError, match="^tokens is a sequence or array of tokens, not one bytearray: "):
        getattr(store, call)(bytearray(b"ab"), *(() if call == "snapshot" else (False,)))
    assert store.snapshot().tobytes() == before.tobytes()          # nothing unsubscribed
    assert store.snapshot([97, 98]).tobytes() == before.tobytes()  # a list of the same ints is tokens


def test_token_array_journal_reads_and_replay_refuse_a_bytearray_of_tokens(tmp_path):
    import datetime as dt
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from journal_helpers import T0, make_records
    from vega._journal import token_array
    from vega.journal import Journal, JournalWriter

    with pytest.raises(TypeError, match="^tokens must be a collection of tokens, not bytearray"):
        token_array(bytearray(b"\x01\x02"))
    assert token_array([1, 2]).tolist() == [1, 2]
    recs = make_records(500, seed=3, ntok=3)
    day = dt.date(2026, 11, 20)
    with JournalWriter(tmp_path, "NSE_FO", day, flush_interval=None) as w:
        w.append(recs)
    with Journal.open(w.path) as j:
        for call in (lambda t: j.read(tokens=t), lambda t: j.between(T0, T0 + 10**12, tokens=t)):
            with pytest.raises(TypeError, match="not bytearray"):
                call(bytearray(b"\x01\x02"))
            j.rewind()                  # (a read with bad tokens moved the cursor: the test below)
            assert len(call([1, 2])) == int(np.isin(recs["token"], [1, 2]).sum())
            j.rewind()
    got = []
    with pytest.raises(TypeError, match="not bytearray"):
        vega.replay(tmp_path, day, feeds=["NSE_FO"], tokens=bytearray(b"\x01"), into=lambda r, f: got.append(r))
    assert got == []
    vega.replay(tmp_path, day, feeds=["NSE_FO"], tokens=[1], into=lambda r, f: got.append(np.array(r)))
    assert sum(len(r) for r in got) == int((recs["token"] == 1).sum()) > 0


JOURNAL_TOKENS_USER = """
import numpy as np

import vega

j = vega.Journal.open("/j/NSE_FO/20261120.bin")
j.read(tokens=[1, 2]); j.read(10, tokens=np.arange(3), copy=True); j.read(tokens={1: 0}.keys())
j.between("09:15", "09:16", tokens=(t for t in (1, 2)))
j.read(tokens=b"ab")  # type: ignore[arg-type]                   # TypeError at run time
j.read(tokens=bytearray(b"ab"))  # type: ignore[arg-type]
j.between("09:15", "09:16", tokens=b"ab")  # type: ignore[arg-type]
j.between("09:15", "09:16", tokens="12")  # type: ignore[arg-type]
"""


def test_the_journal_reads_stubs_refuse_bytes_as_tokens_as_the_run_time_does(tmp_path):
    """Journal.read / between were typed tokens: Iterable[int] | ArrayLike, which takes bytes, a bytearray and a
    str, all TypeErrors at run time: now the tokens type of Store.snapshot and replay.  Each ignore must meet an
    error (--strict warns of an unused one), each other call none."""
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from mypy_helpers import mypy_strict
    mypy_strict(tmp_path, JOURNAL_TOKENS_USER)


def test_journal_read_with_bad_tokens_moves_no_cursor(tmp_path):
    """read(tokens=...) moved the cursor past the records it was to read before it checked the tokens: after the
    TypeError, the next read (of the right tokens) found nothing, the records lost to the reader."""
    import datetime as dt
    from vega.journal import Journal, JournalWriter
    from vega.records import CHANGE_RECORD_DTYPE

    recs = np.zeros(100, CHANGE_RECORD_DTYPE)
    recs["token"] = np.arange(100) % 4 + 1
    recs["group"], recs["mask"] = 1, 1
    with JournalWriter(tmp_path, "NSE_FO", dt.date(2026, 11, 20), flush_interval=None) as w:
        w.append(recs)
    with Journal.open(w.path) as j:
        j.rewind(10)
        for bad in (bytearray(b"\x01"), b"\x01", 1, ["1"], np.array([1.0]), [-1]):
            for copy in (False, True):
                with pytest.raises((TypeError, ValueError), match="token"):
                    j.read(50, tokens=bad, copy=copy)
                assert j.tell() == 10
        assert j.read(50, tokens=[1]).tobytes() == recs[10:60][recs["token"][10:60] == 1].tobytes()
        assert j.tell() == 60


# -- 4. an expiry in a form the lookups do not take: an error naming the forms, not an empty answer ---------------

@pytest.fixture(scope="module")
def masters(tmp_path_factory):
    from vega.simulator import Simulator
    paths = Simulator(("FO",), n_datagrams=1, seed=3).write_master(tmp_path_factory.mktemp("masters"))
    return vega.Instruments.load(paths["contract"])


def test_an_expiry_string_of_another_form_is_a_valueerror_naming_the_forms(masters):
    """date.fromisoformat's "Invalid isoformat string: '16DEC2026'" named neither the argument nor the forms."""
    first = masters.expiries("NIFTY")[0]
    for call in (lambda e: masters.option_chain("NIFTY", e), lambda e: masters.futures("NIFTY", e)):
        for bad in (first.strftime("%d%b%Y").upper(), "2026-12-32", "next week"):
            with pytest.raises(ValueError, match=re.escape(f"expiry must be raw seconds since 1980, a date, a "
                                                           f"datetime or 'YYYY-MM-DD', not {bad!r}")):
                call(bad)
        got = call(first)
        assert len(got) and (got["expiry_unix"] == got["expiry_unix"][0]).all()
        assert call(first.isoformat()).tobytes() == got.tobytes() == call(int(got["expiry_raw"][0])).tobytes()


@pytest.mark.parametrize("bad", [True, False, np.bool_(True)])
def test_a_bool_expiry_is_a_typeerror_not_the_raw_second_one(masters, bad):
    """True was taken as raw second 1 (1980-01-01): an empty chain, without a word."""
    with pytest.raises(TypeError, match=r"^expiry must be raw seconds since 1980, .* not (np\.)?(True|False)_?$"):
        masters.option_chain("NIFTY", bad)
    with pytest.raises(TypeError, match="^expiry must be raw seconds since 1980"):
        masters.futures("NIFTY", bad)


EXPIRY_USER = """
import datetime as dt

import numpy as np

import vega

m = vega.Instruments()
m.option_chain("NIFTY", np.int64(1481898600)); m.futures("NIFTY", np.int32(1481898600))
m.option_chain("NIFTY", dt.date(2026, 12, 16)); m.option_chain("NIFTY", "2026-12-16"); m.futures("NIFTY")
m.option_chain("NIFTY", 1.5)  # type: ignore[arg-type]
"""


def test_the_expiry_lookups_are_typed_to_take_a_numpy_integer_as_the_run_time_does(tmp_path, masters):
    """expiry was typed int | date | str: a raw expiry read from the table as a numpy integer (which the run time
    takes) was a type error."""
    import os
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from mypy_helpers import mypy_strict
    raw = masters.option_chain("NIFTY", masters.expiries("NIFTY")[0])["expiry_raw"]
    assert masters.option_chain("NIFTY", raw[0]).tobytes() == masters.option_chain("NIFTY", int(raw[0])).tobytes()
    mypy_strict(tmp_path, EXPIRY_USER)


# -- 5. a FeedHandler refuses the journal of another feed, and a rate that is no number -------------------------

@pytest.mark.parametrize("segment, feed, other, want", [
    ("FO", "NSE_FO", "NSE_EQ", "NSE_FO's"), ("FO", "NSE_FO", "NFO_IDX", "NSE_FO's"),
    ("CM", "NSE_EQ", "NSE_FO", "NSE_EQ's"), ("IDX", "NFO_IDX", "NSE_FO", "NFO_IDX's (or NSE_EQ's"),
])
def test_a_feedhandler_refuses_a_journal_of_the_other_numbering(tmp_path, segment, feed, other, want):
    """FeedHandler("FO", store, journal=<the NSE_EQ writer>) (three journals, one mixed up) was taken: F&O
    records went into the CM day file, and its replay applied them to the CM tokens of the same numbers."""
    import datetime as dt
    from vega.journal import JournalWriter
    day = dt.date(2026, 11, 20)
    with JournalWriter(tmp_path, other, day, flush_interval=None) as wrong, \
            JournalWriter(tmp_path, feed, day, flush_interval=None) as right:
        with pytest.raises(ValueError, match=f"^the journal .*{other}.* is of the feed {other}, and this {segment} "
                                             f"handler's records are {re.escape(want)}.*: F&O and CM tokens are "
                                             f"numbered apart"):
            vega.FeedHandler(segment, vega.Store(64), journal=wrong)
        h = vega.FeedHandler(segment, vega.Store(64), records=True)
        with pytest.raises(ValueError, match=f"is of the feed {other}"):
            h.attach_journal(wrong)
        assert h.journal is None
        h.attach_journal(right)
        assert h.journal is right
        assert vega.FeedHandler(segment, vega.Store(64), journal=right).journal is right
    assert wrong.n_records == 0


def test_the_index_handler_still_shares_its_cm_handlers_journal(tmp_path):
    """Linked handlers may share one writer (test_journal_days): the index feed arrives on the CM broadcast."""
    import datetime as dt
    from vega.journal import JournalWriter
    with JournalWriter(tmp_path, "NSE_EQ", dt.date(2026, 11, 20), flush_interval=None) as eq:
        idx = vega.FeedHandler("IDX", vega.Store(64), journal=eq)
        assert vega.FeedHandler("CM", vega.Store(64), journal=eq, indices=idx).journal is eq is idx.journal


def test_a_feedhandler_with_a_ring_refuses_the_journal_of_another_feed_before_claiming_the_slot(tmp_path):
    import datetime as dt
    import uuid
    from vega.journal import JournalWriter
    name = f"h105-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    ring = vega.Ring.create(name)
    try:
        with JournalWriter(tmp_path, "NSE_EQ", dt.date(2026, 11, 20), flush_interval=None) as eq:
            with pytest.raises(ValueError, match="is of the feed NSE_EQ, and this FO handler's records are NSE_FO"):
                vega.FeedHandler("FO", vega.Store(64), ring=ring, journal=eq)
            h = vega.FeedHandler("CM", vega.Store(64), ring=ring, journal=eq)   # the right one, on the same ring
            h.close()
        vega.FeedHandler("FO", vega.Store(64), ring=ring).close()              # the FO slot was let go
    finally:
        ring.close()
        vega.Ring.unlink(name)


@pytest.mark.parametrize("bad", ["0.1", "x", None, True, [0.1], b"0.1"])
def test_a_feedhandler_rate_that_is_no_number_is_a_typeerror_naming_it(bad):
    """rate="x" said "could not convert string to float: 'x'", naming no argument; rate="0.1" was taken."""
    with pytest.raises(TypeError, match=f"^rate must be a number \\(an annual rate such as 0.10\\), not "
                                        f"{type(bad).__name__}: {re.escape(repr(bad))}$"):
        vega.FeedHandler("FO", vega.Store(64), rate=bad)


@pytest.mark.parametrize("ok", [0.07, 0, np.float32(0.05), np.int64(0), -0.5])
def test_a_feedhandler_rate_of_any_real_number_type_is_taken(ok):
    with vega.FeedHandler("FO", vega.Store(64), rate=ok) as h:
        assert h.segment == "FO"


# -- 6. an object array of bools is is_call's flags, as an object array of numbers is prices ----------------------

@pytest.mark.parametrize("func, args", [
    ("implied_volatility_array", ([5.0, 5.0, 5.0], 100.0, 100.0, 0.5, 0.0)),
    ("black76_price_array", (100.0, [90.0, 100.0, 110.0], 0.5, 0.2, 0.0)),
])
def test_an_object_array_of_bools_is_taken_as_is_call_and_its_bad_element_named(func, args):
    """A pandas column of dtype object holding bools (np.asarray gives an object array) was refused with "not an
    array of object ([True False True])", values that are bools; prices of an object array were already taken
    element by element."""
    f = getattr(_iv, func)
    want = f(*args, np.array([True, False, True]))
    assert np.array_equal(f(*args, np.array([True, False, True], dtype=object)), want, equal_nan=True)
    assert np.array_equal(f(*args, np.array([np.bool_(True), 0, 1], dtype=object)), want, equal_nan=True)
    for bad in ("CE", None, 2, 0.5):
        with pytest.raises(TypeError, match=f"^{func}: is_call must be a bool .*, not {re.escape(repr(bad))}:"):
            f(*args, np.array([True, bad, False], dtype=object))


# -- 7. a segment that is none: the error names the segments taken and the value (checked; it already did) -------

@pytest.mark.parametrize("bad", [5, 0, "EQ", "NSE_FO", "IDX"])
def test_load_instruments_names_the_segments_it_takes_and_the_bad_one(bad):
    store = vega.Store(16)
    with pytest.raises(ValueError, match=f"^segment must be 'CM' or 'FO', not {re.escape(repr(bad))}$"):
        store.load_instruments(vega.Instruments(), segment=bad)
    with pytest.raises(ValueError, match=f"^segment must be 'FO' \\(SEG_FO\\) or 'CM' \\(SEG_CM\\), not "
                                         f"{re.escape(repr(bad))}$"):
        vega.Instruments().tokens(bad)
    assert len(store) == 0 and store.load_instruments(vega.Instruments(), "fo") == 0


# -- 8. a master file given as the other one: the error says which it is and where it goes ----------------------

def test_a_master_file_given_as_the_other_kind_says_which_argument_takes_it(tmp_path):
    """Instruments.load("security.txt") (its first argument is the F&O contract file) said only that the header
    NEATFO was expected."""
    from vega.instruments import InstrumentFileError
    from vega.simulator import Simulator
    paths = Simulator(("FO", "CM"), n_datagrams=1, seed=3).write_master(tmp_path)
    with pytest.raises(InstrumentFileError, match=re.escape(
            "header NEATFO|<version>|... expected, got 'NEATCM|6.3|0': a CM security file, which is security_path "
            "(Instruments.load(security_path=...))")):
        vega.Instruments.load(paths["security"])
    with pytest.raises(InstrumentFileError, match=re.escape(
            "header NEATCM|<version>|... expected, got 'NEATFO|9.46|': an F&O contract file, which is "
            "contract_path (the first argument)")):
        vega.Instruments.load(security_path=paths["contract"])
    (tmp_path / "other.txt").write_text("garbage\n")
    with pytest.raises(InstrumentFileError, match=r"header NEATFO\|<version>\|\.\.\. expected, got 'garbage'$"):
        vega.Instruments.load(tmp_path / "other.txt")
    both = vega.Instruments.load(paths["contract"], paths["security"])
    assert len(both) == len(vega.Instruments.load(paths["contract"])) + len(vega.Instruments.load(
        security_path=paths["security"])) > 0
