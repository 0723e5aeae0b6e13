"""Leftovers of the thirty-sixth quant review, in the journal module and the CLI: Journal.read / between took a
memoryview of bytes as tokens (its byte values), which the store and vega.replay refuse; Journal.seek / between and
the CLI's times said a time of more than 9 fractional digits was "not a time" in the form it has."""
import datetime as dt
import os
import re
import sys

import numpy as np
import pytest

from vega.cli import main
from vega.journal import Journal, JournalWriter

sys.path.insert(0, os.path.dirname(__file__))
from journal_helpers import make_records  # noqa: E402

DAY = dt.date(2026, 11, 20)


@pytest.fixture
def journal(tmp_path):
    recs = make_records(300, seed=5, ntok=3)
    with JournalWriter(tmp_path, "NSE_FO", DAY, flush_interval=None) as w:
        w.append(recs)
        path = w.path
    return path, recs


@pytest.mark.parametrize("view", [memoryview(b"\x01"), memoryview(bytearray(b"\x01\x02")),
                                  memoryview(b"\x01").cast("c"), b"\x01", bytearray(b"\x01")])
def test_journal_reads_refuse_bytes_as_tokens(journal, view):
    """Journal.read(tokens=memoryview(b"\\x01")) kept token 1's records: the byte values taken as tokens."""
    path, _ = journal
    says = f"tokens must be a collection of tokens, not {type(view).__name__} (of bytes: its byte values are no tokens)"
    with Journal.open(path) as j:
        with pytest.raises(TypeError, match="^" + re.escape(says) + "$"):
            j.read(10, tokens=view)
        assert j.tell() == 0                       # refused before the cursor moved
        with pytest.raises(TypeError, match="^" + re.escape(says) + "$"):
            j.between(0, 2**47, tokens=view)


def test_journal_reads_take_a_memoryview_of_ints_as_tokens(journal):
    path, recs = journal
    with Journal.open(path) as j:
        got = j.read(len(recs), tokens=memoryview(np.array([1], np.int32)))
    assert len(got) == int((recs["token"] == 1).sum()) > 0 and set(got["token"].tolist()) == {1}


@pytest.mark.parametrize("t", ["10:00:00.1234567890", "2026-11-20T10:00:00.0000000001"])
def test_journal_time_of_more_than_9_fractional_digits_says_so(journal, t):
    """It said "not a time: '10:00:00.1234567890' (HH:MM[:SS[.fffffffff]], or an ISO date and time)": the form
    the text has."""
    path, _ = journal
    says = f"seek: t: not a time: {t!r}: its fraction of a second has more than 9 digits (nanoseconds)"
    with Journal.open(path) as j:
        with pytest.raises(ValueError, match="^" + re.escape(says) + "$"):
            j.seek(t)
        assert j.seek(t[:-1]) >= 0                 # nine digits are a time


def test_cli_time_of_more_than_9_fractional_digits_says_so(journal, capsys):
    """`vega dump --from 10:00:00.1234567890` said "expected HH:MM[:SS[.fraction]] (IST)", which it is."""
    path, _ = journal
    assert main(["dump", str(path), "--from", "10:00:00.1234567890"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vega dump: bad --from time '10:00:00.1234567890': its fraction of a second has more than 9 "
                   "digits (nanoseconds)"]
    assert main(["dump", str(path), "--from", "10:00:00.123456789", "--to", "10:00:01"]) == 0


# -- Store.add's symbol, series and subscribed; subscribe's and load_instruments' subscribed --------------------

@pytest.mark.parametrize("kw, exc, says", [
    ({"symbol": 5}, TypeError, "add: symbol must be a str, not int: 5"),
    ({"series": b"EQ"}, TypeError, "add: series must be a str, not bytes: b'EQ'"),
    ({"symbol": "NIFTÝ"}, ValueError, "add: symbol 'NIFTÝ' is not ASCII (NSE's are, and the store keeps ASCII)"),
    ({"subscribed": "no"}, TypeError, "add: subscribed must be a bool, not str: 'no'"),
    ({"subscribed": None}, TypeError, "add: subscribed must be a bool, not NoneType: None"),
    ({"subscribed": 2}, TypeError, "add: subscribed must be a bool, not int: 2"),
])
def test_store_add_refuses_what_is_no_symbol_series_or_flag(kw, exc, says):
    """add(1, 5) raised AttributeError "'int' object has no attribute 'encode'", a non-ASCII symbol a bare
    UnicodeEncodeError, and subscribed="no" subscribed the token (its truth)."""
    import vega
    s = vega.Store(4)
    with pytest.raises(exc, match="^" + re.escape(says) + "$"):
        s.add(7, **{"symbol": "NIFTY", "series": "", **kw})
    assert 7 not in s                               # refused before the token was added


def test_store_subscribed_flags_take_bools_and_0_1():
    import vega
    s = vega.Store(4)
    for tok, flag in ((1, False), (2, np.bool_(True)), (3, 0), (4, np.int64(1))):
        s.add(tok, "X", "", "FO", subscribed=flag)
    assert [s[t].subscribed for t in (1, 2, 3, 4)] == [0, 1, 0, 1]
    with pytest.raises(TypeError, match="^" + re.escape("subscribe: subscribed must be a bool, not str: 'no'") + "$"):
        s.subscribe([2], "no")
    assert s[2].subscribed == 1
    s.subscribe([2], False)
    assert s[2].subscribed == 0


def test_load_instruments_refuses_a_subscribed_that_is_no_bool(tmp_path):
    import vega
    from vega.simulator import Simulator
    paths = Simulator(["FO", "CM"], 10, seed=1, n_tokens=50).write_master(tmp_path)
    ins = vega.Instruments.load(paths["contract"], paths["security"])
    s = vega.Store(20_000)
    with pytest.raises(TypeError, match="^" + re.escape("load_instruments: subscribed must be a bool, not str: "
                                                        "'no'") + "$"):
        s.load_instruments(ins, "FO", subscribed="no")
    assert len(s) == 0
