"""The index feed NFO_IDX and open interest per underlying (issue 7): CM 7207 / 7216 / 8207 merged into an
index store under stable tokens per index name, published to ring slot 2 and journaled under NFO_IDX; F&O
7130 / 17130 merged into the underlying's CM record (with the day's high and low)."""
import datetime as dt
import os
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import vega
from vega import nse
from vega.indices import (DEFAULT_INDEX_TOKENS, HASH_TOKEN_BASE, INDEX_DTYPE, IndexMasterError, index_key,
                          index_table, index_token, load_index_master)
from vega.records import KEYFRAME
from vega.store import GROUPS, flat

from store_helpers import by_token, market_equal

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
DAY = dt.date(2026, 11, 20)
T_OPEN = int(dt.datetime(2026, 11, 20, 9, 15, tzinfo=IST).timestamp()) * 10**9
SEC = 10**9


def index_rec(name, value, *, close=0, high=0, low=0, open_=0, pct=0, yh=0, yl=0, up=0, down=0, cap=0.0,
              ind=" "):
    r = nse.blank_record("CM", 7207)
    r.update(index_name=name, index_value=value, closing_index=close, high_index_value=high,
             low_index_value=low, opening_index=open_, percent_change=pct, yearly_high=yh, yearly_low=yl,
             no_of_upmoves=up, no_of_downmoves=down, market_capitalisation=cap, net_change_indicator=ind)
    return r


def index_datagram(recs, code=7207, log_time=1_000, stride=72):
    for r in recs:
        r["wire_stride"] = stride
    msg = nse.blank_message("CM", code, len(recs), log_time=log_time, records=recs)
    return nse.build_datagram("CM", [msg], compress=False)


def indicative_datagram(name, ind_close, close, change, pct, cap=0.0):
    r = nse.blank_record("CM", 8207)
    r.update(index_name=name, indicative_close_value=ind_close, closing_index=close, change=change,
             percent_change=pct, market_capitalisation=cap)
    return nse.build_datagram("CM", [nse.blank_message("CM", 8207, 1, records=[r])], compress=True)


def oi_datagram(pairs, code=17130, log_time=2_000):
    recs = [{"token": t, "current_oi": oi} for t, oi in pairs]
    msg = nse.blank_message("FO", code, len(recs), log_time=log_time, records=recs)
    return nse.build_datagram("FO", [msg], compress=True)



# ---------------------------------------------------------------------------------------------------------
# Index tokens
# ---------------------------------------------------------------------------------------------------------

def test_configured_and_hashed_tokens():
    h = vega.FeedHandler("IDX", vega.Store(16))
    assert h.segment == "IDX"
    for name, tok in DEFAULT_INDEX_TOKENS.items():
        assert h.index_token(name) == tok == index_token(name)
    vix = h.index_token("India VIX")
    assert vix == index_token("India VIX") and vix & HASH_TOKEN_BASE and vix < 2**31
    # the key: case, blanks around and inside do not matter
    assert h.index_token("  india   vix ") == vix == index_token(b"INDIA VIX\0\0junk")
    assert index_key("Nifty\t 50 ") == b"NIFTY 50"
    assert h.index_names()[26000] == "Nifty 50"


def test_a_hashed_token_another_name_holds_moves_to_the_next_free_one():
    """docs/FORMATS.md 3.5: a new name whose hashed token another name holds takes the next free one (here the
    holder is a configured name; two hashed names collide about once in 2**30 pairs), in the table and in the
    merge alike, and keeps it."""
    held = index_token("Nifty Smallcap 250")
    store = vega.Store(16)
    h = vega.FeedHandler("IDX", store, index_tokens={"Custom Basket": held})
    moved = HASH_TOKEN_BASE | ((held + 1) & 0x3FFFFFFF)
    assert h.index_token("Nifty Smallcap 250") == moved
    assert h.index_names()[held] == "Custom Basket" and h.index_names()[moved] == "Nifty Smallcap 250"
    h.process(index_datagram([index_rec("NIFTY SMALLCAP 250", 1_500_000), index_rec("Custom Basket", 9_000)]),
              now_ns=T_OPEN)
    assert store.ltp(moved) == 1_500_000 and store.ltp(held) == 9_000
    assert h.index_token("nifty  smallcap 250") == moved


def test_past_768_names_a_new_name_is_merged_under_its_hashed_token_without_a_table_entry():
    """docs/FORMATS.md 3.5: the handler's table has 1024 slots and names at most 768 (the configured ones
    included); a name after that gets its hashed token every time, and index_names() does not list it."""
    store = vega.Store(1024)
    h = vega.FeedHandler("IDX", store)
    n0 = len(h.index_names())
    names = [f"Basket {i:03d}" for i in range(800)]
    assert len({index_token(n) for n in names}) == len(names)           # (no two of these collide)
    toks = [h.index_token(n) for n in names]
    assert toks == [index_token(n) for n in names]
    kept = 768 - n0
    named = h.index_names()
    assert len(named) == 768
    assert [named.get(t) for t in toks[:kept]] == names[:kept]
    assert not any(t in named for t in toks[kept:])
    assert h.index_token(names[-1]) == toks[-1] and h.index_token(names[0]) == toks[0]
    h.process(index_datagram([index_rec(names[-1], 4_242), index_rec(names[0], 4_343)]), now_ns=T_OPEN)
    assert store.ltp(toks[-1]) == 4_242 and store.ltp(toks[0]) == 4_343
    assert toks[-1] not in h.index_names()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), min_size=1, max_size=21))
def test_python_and_c_tokens_agree(name):
    h = vega.FeedHandler("IDX", vega.Store(4))
    if not index_key(name):
        with pytest.raises(ValueError):
            h.index_token(name)
        return
    assert h.index_token(name) == index_token(name)


def test_index_tokens_override_and_validation(tmp_path):
    h = vega.FeedHandler("IDX", vega.Store(4), index_tokens={"India VIX": 26017, "NIFTY 50": 99})
    assert h.index_token("india vix") == 26017 and h.index_token("Nifty 50") == 99
    for bad in ({"": 5}, {"X": 0}, {"X": 2**31}, {"A": 7, "B": 7}, {"Nifty 50": 1, "NIFTY 50": 2}):
        with pytest.raises(ValueError):
            vega.FeedHandler("IDX", vega.Store(4), index_tokens=bad)
    with pytest.raises(ValueError):
        vega.FeedHandler("CM", vega.Store(4), index_tokens={"X": 1})
    p = tmp_path / "indices.csv"
    p.write_text("name,token\n# comment\nIndia VIX,26017\nNifty Midcap 50,26014\n")
    assert load_index_master(p) == {"India VIX": 26017, "Nifty Midcap 50": 26014}
    p.write_text("India VIX,26017\nNifty Bank,abc\n")
    with pytest.raises(IndexMasterError, match=r"indices.csv:2"):
        load_index_master(p)
    fifo = tmp_path / "fifo.csv"                     # read, it would block for ever: refused
    os.mkfifo(fifo)
    with pytest.raises(IndexMasterError, match="is a FIFO, not a regular file: not an index master file"):
        load_index_master(fifo)
    with pytest.raises(IndexMasterError, match="is a directory"):
        load_index_master(tmp_path)
    # not a master file at all: one short message naming the file, whatever the bytes
    rng = np.random.default_rng(5)
    for junk in (rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes().replace(b"\n", b"").replace(b"\r", b""),
                 b"x" * 5000 + b"\n" + b"7" * 5000 + b"," + b"y" * 5000 + b"\n",
                 b"a,b\nIndex," + b"9z" * 3000 + b"\n"):
        p.write_bytes(junk)
        with pytest.raises(IndexMasterError) as e:
            load_index_master(p)
        assert str(e.value).startswith(str(p)) and len(str(e.value)) < len(str(p)) + 120, str(e.value)[:300]


@pytest.mark.parametrize("text, where, said", [
    ("India VIX,26_017\n", 1, "token '26_017' is not an integer (ASCII digits)"),       # int() took it: 26017
    ("India VIX,26017\nNifty Bank,\u0662\u0666\u0660\u0660\u0669\n", 2, "is not an integer"),  # (UTF-8 read
    ("India VIX,26017\nNifty Bank,\uff12\uff16\uff10\uff10\uff19\n", 2, "is not an integer"),  # as latin-1)
    ("Nifty 50,2600O\nIndia VIX,26017\n", 1, "token '2600O' is not an integer"),   # was skipped as a header
    ("India VIX,+26017\n", 1, "token '+26017' is not an integer"),
    ("India VIX,0x65A1\n", 1, "token '0x65A1' is not an integer"),
    ("India VIX,99999999999999999999\n", 1, "token '99999999999999999999' is not in 1 .. 2**31 - 1"),
    ("India VIX,0\n", 1, "token '0' is not in 1 .. 2**31 - 1"),
    ("name,token\nIndia VIX,26017\nNifty IT,26008\nIndia VIX,26017\n", 4,
     "index 'India VIX' is the index of line 2 ('India VIX'): a name is given once (names match as 'INDIA VIX')"),
    ("India VIX,26017\n# spelt otherwise\n india  vix\t,26018\n", 3,
     "index 'india  vix' is the index of line 1 ('India VIX')"),
    ("India VIX,26017\nNifty IT,26017\n", 2,
     "token 26017 of 'Nifty IT' is given on line 1 to 'India VIX' too: two indices would merge into one record"),
    ("India VIX,26017\n \t,26018\n", 2, "name ' \\t' is not an index name"),
])
def test_index_master_tokens_are_digits_and_names_and_tokens_come_once(tmp_path, text, where, said):
    """A token int() reads ('26_017', '+26017') was read as some number, and of a name given twice the last
    line won, silently; a token or a name (as the handler matches names) given twice, a token out of range or
    a blank name was refused without the line.  Now each is refused naming the file, the line, and the line it
    repeats.  (Non-ASCII digits never were digits here: the file is read as latin-1, which has none.)"""
    p = tmp_path / "indices.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(IndexMasterError) as e:
        load_index_master(p)
    assert str(e.value).startswith(f"{p}:{where}: ") and said in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def test_an_index_master_is_refused_at_its_first_bad_line_without_reading_it_whole(tmp_path):
    """Fuzz finding: every row was read into a list before the first was looked at, so a wrong file given as
    the index master (a log, a dump: 3 million lines of 'x' took 620 MB and 4 s) was read whole into memory
    before its line 1 was refused.  The rows are looked at as they are read: what comes after the first bad
    line (here a field past the csv module's limit, which reading it whole met first) is never read."""
    import csv
    p = tmp_path / "indices.csv"
    p.write_text("name,token\nIndia VIX,26017\nnot an index master\n" + "x" * (csv.field_size_limit() + 1) + "\n")
    with pytest.raises(IndexMasterError) as e:
        load_index_master(p)
    assert str(e.value) == f"{p}:3: expected 'name,token', got 'not an index master'"
    p.write_text("India VIX,26017\n" + "x" * (csv.field_size_limit() + 1) + "\n")      # (still refused there)
    with pytest.raises(IndexMasterError, match=r"not a name,token text file \(field larger than field limit"):
        load_index_master(p)


def test_index_master_blanks_around_a_token_and_a_header_line_are_fine(tmp_path):
    p = tmp_path / "indices.csv"
    p.write_text("name,token\n  India VIX ,\t26017 \nNifty IT,026008\n")
    assert load_index_master(p) == {"India VIX": 26017, "Nifty IT": 26008}


def test_index_tokens_never_give_a_default_token_to_another_index():
    """index_tokens= updates DEFAULT_INDEX_TOKENS: a token the defaults hold for another index is refused (two
    indices would merge into one record: Nifty 50 would read India VIX's value), unless that index gets a
    token of its own in the same mapping; an entry for a default index, however spelt, replaces its default."""
    with pytest.raises(ValueError, match=r"26000 of 'India VIX' is the default token of 'Nifty 50'"):
        vega.FeedHandler("IDX", vega.Store(8), index_tokens={"India VIX": 26000})
    store = vega.Store(8)
    h = vega.FeedHandler("IDX", store, index_tokens={"India VIX": 26000, "nifty  50": 26017})
    assert (h.index_token("India VIX"), h.index_token("Nifty 50"), h.index_token("Nifty Bank")) == (26000, 26017, 26009)
    assert index_table({"India VIX": 26000, "nifty  50": 26017}) == {
        "Nifty Bank": 26009, "Nifty Fin Service": 26037, "India VIX": 26000, "nifty  50": 26017}
    assert index_table() == DEFAULT_INDEX_TOKENS
    h.process_batch([index_datagram([index_rec("Nifty 50", 2450000)]),
                     index_datagram([index_rec("India VIX", 1325)], code=7216)], now_ns=T_OPEN)
    assert (store.ltp(26017), store.ltp(26000)) == (2450000, 1325)


# ---------------------------------------------------------------------------------------------------------
# The index merge
# ---------------------------------------------------------------------------------------------------------

def test_7207_7216_8207_merge_into_the_index_store():
    store = vega.Store(64)
    seen = []
    h = vega.FeedHandler("IDX", store, on_records=seen.append)
    assert h.process(index_datagram([
        index_rec("Nifty 50", 2412345, close=2400000, high=2415000, low=2398000, open_=2401000, pct=51,
                  yh=2650000, yl=2150000, up=31, down=19, cap=1.234567890123e14, ind="+"),
        index_rec("Nifty Bank", 5198700, close=5200000, ind="-")]), now_ns=T_OPEN) == 1
    h.process(index_datagram([index_rec("India VIX", 1432, close=1390)], code=7216), now_ns=T_OPEN + SEC)
    a = store.snapshot().view(INDEX_DTYPE)
    rows = {int(r["token"]): r for r in a}
    n50 = rows[26000]
    assert n50["index_value"] == 2412345 and n50["close"] == 2400000 and n50["net_change"] == 12345
    assert (n50["open"], n50["high"], n50["low"]) == (2401000, 2415000, 2398000)
    assert (n50["percent_change"], n50["yearly_high"], n50["yearly_low"]) == (51, 2650000, 2150000)
    assert (n50["upmoves"], n50["downmoves"], n50["wire_stride"]) == (31, 19, 72)
    assert n50["market_cap"] == 1.234567890123e14 and n50["net_change_indicator"] == b"+"
    assert n50["value_time"] == 1_000 and n50["segment"] == 3 and n50["symbol"] == b"Nifty 50  "
    assert rows[26009]["net_change"] == -1300
    vix = rows[index_token("India VIX")]
    assert vix["index_value"] == 1432 and vix["last_update_source"] == 7216
    assert len(store) == 3 and h.stats["merged_by_code"][7207] == 1 and h.stats["merged_by_code"][7216] == 1

    # 8207: the indicative close, its change and percentage; the value itself is left alone
    h.process(indicative_datagram("Nifty 50", 2410000, 2400000, 10000, 42), now_ns=T_OPEN + 2 * SEC)
    n50 = store.snapshot([26000]).view(INDEX_DTYPE)[0]
    assert (n50["indicative_close"], n50["indicative_change"], n50["indicative_percent_change"]) == \
        (2410000, 10000, 42)
    assert n50["index_value"] == 2412345
    # an unchanged repeat changes nothing and emits nothing
    before = sum(len(s) for s in seen)
    h.process(indicative_datagram("Nifty 50", 2410000, 2400000, 10000, 42), now_ns=T_OPEN + 3 * SEC)
    assert sum(len(s) for s in seen) == before


def _nifty_store():
    store = vega.Store(64)
    vega.FeedHandler("IDX", store).process(index_datagram([
        index_rec("Nifty 50", 2412345, close=2400000, high=2415000, low=2398000, open_=2401000, pct=51,
                  yh=2650000, yl=2150000, up=31, down=19, cap=1.234567890123e14, ind="+")]), now_ns=T_OPEN)
    vega.FeedHandler("IDX", store).process(indicative_datagram("Nifty 50", 2410000, 2400000, 10000, 42,
                                                               cap=1.234567890123e14), now_ns=T_OPEN + SEC)
    return store


def test_an_index_quote_has_the_index_names_of_index_dtype():
    """store[26000] showed the percent change as auction_number, the yearly high as initiator_price and the
    market cap's bits as buy_ord_cxl_count: an index record's Quote has INDEX_DTYPE's names, with its values."""
    store = _nifty_store()
    q = store[26000]
    assert q.is_index and q.segment == 3
    assert (q.index_value, q.net_change, q.value_time) == (2412345, 12345, 1_000)
    assert (q.open, q.high, q.low, q.close, q.indicative_close) == (2401000, 2415000, 2398000, 2400000, 2410000)
    assert (q.percent_change, q.yearly_high, q.yearly_low, q.upmoves, q.downmoves) == (51, 2650000, 2150000, 31, 19)
    assert (q.indicative_change, q.indicative_percent_change, q.wire_stride) == (10000, 42, 72)
    assert q.market_cap == 1.234567890123e14 and isinstance(q.market_cap, float)
    assert (q.last_traded_price, q.open_price, q.close_price) == (q.index_value, q.open, q.close)   # the same fields
    row = flat(store.snapshot([26000]).view(INDEX_DTYPE))[0]
    d = q.to_dict()
    assert {n: row[n].item() for n in row.dtype.names} == {n: d[n] for n in row.dtype.names}
    assert {n: getattr(q, n) for n in row.dtype.names} == {n: d[n] for n in row.dtype.names}
    assert "Quote(token=26000, symbol='Nifty 50', index_value=2412345, net_change=12345, percent_change=51" in repr(q)
    assert pickle.loads(pickle.dumps(q)) == q and pickle.loads(pickle.dumps(q)).percent_change == 51


def test_an_index_quote_has_no_auction_or_spos_names_and_another_quote_no_index_names():
    q = _nifty_store()[26000]
    d = q.to_dict()
    for group in (7, 8):                                 # the bytes of these are the index's (a C union)
        for name in GROUPS[group][1]:
            with pytest.raises(AttributeError, match=rf"token 26000 is an index record .segment 3.: it has no "
                                                     rf"{name} .*percent_change, yearly_high"):
                getattr(q, name)
            assert not hasattr(q, name) and name not in d and name not in dir(q)
    assert {"index_value", "open", "percent_change", "market_cap", "last_traded_price"} <= set(dir(q))
    assert "last_traded_price" not in d                  # every value once: under its index name
    cm = vega.Store(8)
    cm.add(2885, symbol="RELIANCE", series="EQ", segment="CM")
    e = cm[2885]
    assert not e.is_index and e.auction_number == 0 and "auction_number" in e.to_dict()
    for name in ("index_value", "open", "percent_change", "market_cap", "wire_stride"):
        with pytest.raises(AttributeError, match=rf"{name} is a field of index records .segment 3, the NFO_IDX "
                                                 rf"feed; vega.INDEX_DTYPE.; token 2885 is of segment 4"):
            getattr(e, name)
        assert name not in e.to_dict() and name not in dir(e)


def test_document_stride_and_a_blank_name():
    store = vega.Store(8)
    h = vega.FeedHandler("IDX", store)
    h.process(index_datagram([index_rec("Nifty 50", 2400100, close=2400000)], stride=71), now_ns=T_OPEN)
    assert store.snapshot().view(INDEX_DTYPE)[0]["wire_stride"] == 71
    h.process(index_datagram([index_rec("", 5)]), now_ns=T_OPEN)
    assert h.stats["merge"]["blank_index_name"] == 1 and len(store) == 1


@pytest.mark.parametrize("name", [b"Nifty\x0150", b"Nifty 50\xe9", b"\x7fNifty 50", b"Nifty\n50"])
def test_a_damaged_index_name_is_counted_and_skipped_not_taken_for_a_new_index(name):
    """A byte no exchange index name has (outside printable ASCII and tab) made a new index of a damaged name:
    a table entry, a hashed token and a store record each time.  Now counted as bad_index_name and skipped;
    the Python side (index_key, index_token, the index master) refuses such a name too."""
    store = vega.Store(8)
    h = vega.FeedHandler("IDX", store)
    d = index_datagram([index_rec("Nifty 50", 2400100, close=2400000), index_rec("Q" * 21, 2400200, close=2400000)])
    assert d.count(b"Q" * 21) == 1                       # (uncompressed: the second name is patched in place)
    h.process(d.replace(b"Q" * 21, name.ljust(21, b" ")), now_ns=T_OPEN)
    assert h.stats["merge"]["bad_index_name"] == 1 and h.stats["merge"]["blank_index_name"] == 0
    assert list(store) == [26000] and list(h.index_names().values()).count("Nifty 50") == 1
    assert len(h.index_names()) == len(vega.indices.DEFAULT_INDEX_TOKENS)
    assert index_key(name) == b""
    with pytest.raises(ValueError, match="not an index name"):
        vega.index_token(name)
    with pytest.raises(ValueError, match="printable ASCII"):
        h.index_token(name.decode("latin-1"))
    # a tab is a blank, as before; a clean name still maps
    assert index_key(b"Nifty\t50") == b"NIFTY 50" and h.index_token("Nifty\t 50") == 26000


def test_index_feed_ignores_everything_else_and_cm_counts_unrouted():
    idx_store, cm_store = vega.Store(64), vega.Store(20000)
    idx = vega.FeedHandler("IDX", idx_store)
    stream = list(nse.sample_stream("CM", 50, seed=3))
    idx.process_batch(stream, now_ns=T_OPEN)
    assert len(idx_store) == 0 and idx.stats["merge"]["merged"] == 0
    cm = vega.FeedHandler("CM", cm_store)
    cm.process(index_datagram([index_rec("Nifty 50", 1)]), now_ns=T_OPEN)
    assert cm.stats["merge"]["unrouted"] == 1 and len(cm_store) == 0


def test_an_index_feed_given_cm_datagrams_itself_counts_what_it_skips_as_not_index():
    """Wired wrongly (fed the CM datagrams, not linked through a CM handler's indices=), an index feed dropped
    every other message without counting it anywhere: the user saw nothing.  It merges the index messages and
    counts the rest as not_index; linked, it is given index messages only and counts none."""
    stream = list(nse.sample_stream("CM", 50, seed=3)) + [index_datagram([index_rec("Nifty 50", 2_400_000)])]
    idx = vega.FeedHandler("IDX", vega.Store(64))
    idx.process_batch(stream, now_ns=T_OPEN)
    st = idx.stats
    index_msgs = sum(st["by_code"][c] for c in (7207, 7216, 8207))
    assert index_msgs == 1 and st["messages"] > 100
    assert st["merge"]["not_index"] == st["messages"] - index_msgs
    assert st["merge"]["merged"] == 1 and idx.store.ltp(26000) == 2_400_000 and len(idx.store) == 1
    linked = vega.FeedHandler("IDX", vega.Store(64))
    cm = vega.FeedHandler("CM", vega.Store(20000), indices=linked)
    cm.process_batch(stream, now_ns=T_OPEN)
    assert linked.stats["merge"]["not_index"] == 0 and cm.stats["merge"]["not_index"] == 0
    assert linked.store.ltp(26000) == 2_400_000


def test_cm_handler_routes_index_messages_to_the_index_feed():
    idx_store, cm_store = vega.Store(64), vega.Store(20000)
    idx_seen, cm_seen = [], []
    idx = vega.FeedHandler("IDX", idx_store, on_records=idx_seen.append)
    cm = vega.FeedHandler("CM", cm_store, indices=idx, on_records=cm_seen.append)
    assert cm.indices is idx
    stream = list(nse.sample_stream("CM", 40, seed=4))
    stream.insert(10, index_datagram([index_rec("Nifty 50", 2400500, close=2400000)]))
    stream.append(index_datagram([index_rec("Nifty 50", 2400700, close=2400000)]))
    cm.process_batch(stream, now_ns=T_OPEN)
    assert idx_store.ltp(26000) == 2400700
    assert 26000 not in cm_store and len(cm_store) > 0
    idx_recs, cm_recs = np.concatenate(idx_seen), np.concatenate(cm_seen)
    assert set(idx_recs["token"].tolist()) == {26000}
    assert 26000 not in set(cm_recs["token"].tolist())
    assert set(idx_recs["source"].tolist()) == {7207}


def test_linking_rules():
    idx, cm, fo = (vega.FeedHandler(s, vega.Store(8)) for s in ("IDX", "CM", "FO"))
    with pytest.raises(TypeError):
        vega.FeedHandler("CM", vega.Store(8), indices=fo)
    with pytest.raises(ValueError):
        vega.FeedHandler("FO", vega.Store(8), indices=idx)
    with pytest.raises(TypeError):
        vega.FeedHandler("FO", vega.Store(8), underlying=idx)
    cm_linking = vega.FeedHandler("CM", vega.Store(8), indices=idx)
    with pytest.raises(ValueError, match="already linked"):
        vega.FeedHandler("CM", vega.Store(8), indices=idx)
    fo_linking = vega.FeedHandler("FO", vega.Store(8), underlying=cm)
    with pytest.raises(ValueError, match="already linked"):
        vega.FeedHandler("FO", vega.Store(8), underlying=cm)
    del cm_linking, fo_linking
    s = vega.Store(8)
    vega.FeedHandler("IDX", s)
    with pytest.raises(ValueError, match="IDX records"):
        vega.FeedHandler("CM", s)


def test_a_linked_handler_busy_in_another_call_is_refused():
    idx = vega.FeedHandler("IDX", vega.Store(8))
    calls = []

    def reenter(recs):
        calls.append(len(recs))
        with pytest.raises(RuntimeError, match="one thread"):
            idx.process(index_datagram([index_rec("Nifty 50", 3)]), now_ns=T_OPEN)

    cm = vega.FeedHandler("CM", vega.Store(8), indices=idx, on_records=reenter)
    cm.process(nse.build_datagram("CM", [nse.blank_message("CM", 6013, 1, records=[
        {"symbol": "ABC", "series": "EQ", "token": 5, "opening_price": 100}])]), now_ns=T_OPEN)
    assert calls                                                   # the callback ran inside the call
    idx.process(index_datagram([index_rec("Nifty 50", 3)]), now_ns=T_OPEN)   # and afterwards it is free
    assert idx.store.ltp(26000) == 3


# ---------------------------------------------------------------------------------------------------------
# Open interest per underlying
# ---------------------------------------------------------------------------------------------------------

def test_7130_17130_merge_into_the_underlying_cm_record_with_day_high_low():
    cm_store, fo_store = vega.Store(64), vega.Store(64)
    cm_seen = []
    cm = vega.FeedHandler("CM", cm_store, on_records=cm_seen.append)
    fo = vega.FeedHandler("FO", fo_store, underlying=cm)
    fo.process(oi_datagram([(2885, 1_000_000), (26000, 5_000_000_000)]), now_ns=T_OPEN)
    fo.process(oi_datagram([(2885, 1_200_000)], code=7130), now_ns=T_OPEN + SEC)
    fo.process(oi_datagram([(2885, 900_000)]), now_ns=T_OPEN + 2 * SEC)
    q = cm_store[2885]
    assert (q.open_interest, q.oi_day_high, q.oi_day_low) == (900_000, 1_200_000, 900_000)
    assert cm_store[26000].open_interest == 5_000_000_000               # 64-bit OI of 17130
    assert len(fo_store) == 0
    recs = np.concatenate(cm_seen)
    assert set(recs["source"].tolist()) == {7130, 17130}
    assert cm.stats["merged_by_code"][17130] == 2 and cm.stats["merged_by_code"][7130] == 1
    # without a CM handler, counted and skipped
    fo2 = vega.FeedHandler("FO", vega.Store(8))
    fo2.process(oi_datagram([(2885, 1)]), now_ns=T_OPEN)
    assert fo2.stats["merge"]["unrouted"] == 1 and len(fo2.store) == 0


# ---------------------------------------------------------------------------------------------------------
# Ring slot 2, NFO_IDX journal, replay, checkpoints
# ---------------------------------------------------------------------------------------------------------

def test_index_feed_publishes_to_slot_2_and_journals_nfo_idx(tmp_path, ring):
    idx_store, cm_store = vega.Store(64), vega.Store(20000)
    r_idx = ring.reader("NFO_IDX", start="oldest")
    r_eq = ring.reader("NSE_EQ", start="oldest")
    w_idx = vega.JournalWriter(tmp_path, "NFO_IDX", DAY, first_seq=ring.tail("NFO_IDX"))
    w_eq = vega.JournalWriter(tmp_path, "NSE_EQ", DAY, first_seq=ring.tail("NSE_EQ"))
    idx_seen = []
    idx = vega.FeedHandler("IDX", idx_store, ring=ring, journal=w_idx, on_records=idx_seen.append)
    cm = vega.FeedHandler("CM", cm_store, ring=ring, journal=w_eq, indices=idx)
    stream = list(nse.sample_stream("CM", 60, seed=8))
    for i in range(0, 60, 6):
        stream.insert(i, index_datagram([index_rec("Nifty 50", 2400000 + i, close=2400000, cap=1e13 + i),
                                         index_rec("India VIX", 1400 + i, close=1390)],
                                        code=7207 if i % 12 else 7216))
    ts = T_OPEN + np.arange(len(stream), dtype=np.int64) * 10_000_000
    cm.process_batch(stream, now_ns=ts)
    cb = np.concatenate(idx_seen)
    got = r_idx.poll(100000)
    assert got.tobytes() == cb.tobytes()                    # slot 2 carries exactly the index records
    eq = r_eq.poll(100000)
    assert len(eq) and not ({7207, 7216, 8207} & set(eq["source"].tolist()))
    idx.checkpoint()
    cm.close(), idx.close()
    w_idx.close(), w_eq.close()
    j = vega.Journal.open(w_idx.path)
    assert j.header["feed_type"] == 2 and w_idx.path.parent.name == "NFO_IDX"
    live = j.read()
    assert live[(live["flags"] & KEYFRAME) == 0].tobytes() == cb.tobytes()
    assert vega.verify(w_idx.path).ok
    # the journal rebuilds the index store, market cap DOUBLE bits and all
    end = int(vega.records.timestamps(cb).max())
    snap = j.snapshot_at(end + 1).snapshot()
    market_equal(by_token(snap), by_token(idx_store.snapshot()))
    assert (snap.view(INDEX_DTYPE)["market_cap"].tolist()
            == idx_store.snapshot().view(INDEX_DTYPE)["market_cap"].tolist())
    rebuilt = vega.Store(64)
    rebuilt.apply_records(cb)
    market_equal(by_token(rebuilt.snapshot()), by_token(idx_store.snapshot()))


def test_keyframes_carry_index_fields_only_for_index_records():
    idx_store = vega.Store(8)
    idx = vega.FeedHandler("IDX", idx_store)
    idx.process(index_datagram([index_rec("Nifty 50", 2400100, close=2400000, pct=4, up=3, cap=5.5)]),
                now_ns=T_OPEN)
    kf = idx_store.keyframe_records()
    assert 12 in set(kf["group"].tolist()) and not ({7, 8} & set(kf["group"].tolist()))
    cm_store = vega.Store(8)
    cm = vega.FeedHandler("CM", cm_store)
    cm.process(nse.build_datagram("CM", [nse.blank_message("CM", 6013, 1, records=[
        {"symbol": "ABC", "series": "EQ", "token": 5, "opening_price": 100}])]), now_ns=T_OPEN)
    assert 12 not in set(cm_store.keyframe_records()["group"].tolist())
    rebuilt = vega.Store(8)
    rebuilt.apply_records(kf)
    fields = ["token", "segment", "index_value", "close", "percent_change", "upmoves", "market_cap", "symbol"]
    assert rebuilt.snapshot().view(INDEX_DTYPE)[fields].tolist() == \
        idx_store.snapshot().view(INDEX_DTYPE)[fields].tolist() == [(26000, 3, 2400100, 2400000, 4, 3, 5.5,
                                                                     b"Nifty 50  ")]


_names = st.sampled_from(["Nifty 50", "Nifty Bank", "India VIX", "Nifty IT", "NIFTY MID SELECT"])
_i32 = st.integers(0, 2**31 - 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([7207, 7216, 8207]), _names, _i32, _i32, _i32,
                          st.floats(allow_nan=False, allow_infinity=False)), min_size=1, max_size=25))
def test_index_records_rebuild_the_index_store(msgs):
    store = vega.Store(16)
    seen = []
    h = vega.FeedHandler("IDX", store, on_records=seen.append)
    for i, (code, name, v, close, pct, cap) in enumerate(msgs):
        if code == 8207:
            r = nse.blank_record("CM", 8207)
            r.update(index_name=name, indicative_close_value=v, closing_index=close, change=v - close,
                     percent_change=pct, market_capitalisation=cap)
        else:
            r = index_rec(name, v, close=close, high=v, low=close, pct=pct, cap=cap)
        h.process(nse.build_datagram("CM", [nse.blank_message("CM", code, 1, records=[r])]),
                  now_ns=T_OPEN + i * SEC)
    if not seen:
        return
    rebuilt = vega.Store(16)
    rebuilt.apply_records(np.concatenate(seen))
    market_equal(by_token(rebuilt.snapshot()), by_token(store.snapshot()))
    fields = [n for n in INDEX_DTYPE.names if n not in ("last_update_ns", "update_count", "last_update_source")]
    a = by_token(rebuilt.snapshot()).view(INDEX_DTYPE)[fields]
    b = by_token(store.snapshot()).view(INDEX_DTYPE)[fields]
    assert [struct.pack("<d", r["market_cap"]) for r in a] == [struct.pack("<d", r["market_cap"]) for r in b]
    assert a.tolist() == b.tolist() or np.isnan(b["market_cap"]).any()


def test_capture_refuses_a_bad_index_master_in_one_line(tmp_path):
    import socket
    from vega.capture import Capture, CaptureConfig, CaptureError, FeedConfig
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bad = tmp_path / "indices.csv"
    bad.write_text("Nifty 50,26000\nIndia VIX,notanumber\n")
    cap = Capture(CaptureConfig(feeds=[FeedConfig("CM", "127.0.0.1", port)], index_master=str(bad)))
    with pytest.raises(CaptureError, match=r"^index master: .*indices.csv:2: token 'notanumber'") as e:
        cap.open()
    assert "\n" not in str(e.value)
    good = tmp_path / "good.csv"
    good.write_text("India VIX,26017\n")
    cap = Capture(CaptureConfig(feeds=[FeedConfig("CM", "127.0.0.1", port)], index_master=str(good)))
    cap.open()
    try:
        assert cap.index_feed.handler.index_token("INDIA VIX") == 26017
        assert cap.feeds[0].handler.indices is cap.index_feed.handler
    finally:
        cap.close()
        cap.unlink()
