"""Merge rules of docs/FORMATS.md ("Merge rules", "Change records", "Sequence gaps") that tests/test_merge.py
left unpinned: each test here failed against a small mutation of vega/_store.pxi that the rest of the suite
let through (a boundary, a dropped condition, a status left out of a set).  Expected values come from the
documented rule, never from a run of the code."""
import numpy as np
import pytest

import vega._core as core
from vega import nse
from vega.store import QUALITY_WEIGHTS
from store_helpers import SEC, T0, by_token, changed_fields, decode_records, market_equal, md, mbp, merge, mw, tick

STALE = 5 * SEC                       # the default md_stale_ns and stale_ns


@pytest.fixture
def st():
    return core.Store(1000)


def groups(recs):
    return {g for _, g, _ in decode_records(recs)}


# ---- 7200 / 7208 ---------------------------------------------------------------------------------------

def test_md_low_ignores_non_positive_values(st):
    """Low is the minimum of the positive values: a negative low in a message is not a price."""
    merge(st, "CM", md(1, low_price=95, high_price=105))
    recs = merge(st, "CM", md(1, low_price=-5))
    assert st[1].low_price == 95
    assert "low_price" not in changed_fields(recs)


def test_md_indicative_close_zero_keeps_the_last_one(st):
    """CM 7208's indicative close is taken only when > 0 (as LTP and close are)."""
    merge(st, "CM", md(1, code=7208, indicative_close_price=1234))
    recs = merge(st, "CM", md(1, code=7208, indicative_close_price=0))
    assert st[1].indicative_close_price == 1234
    assert "indicative_close_price" not in changed_fields(recs)


def test_md_net_change_and_indicator_are_copied_as_sent(st):
    """Net price change and its indicator are absolute: a blank indicator replaces '-'."""
    merge(st, "CM", md(1, net_price_change_from_closing_price=-25, net_change_indicator="-"))
    recs = merge(st, "CM", md(1, net_price_change_from_closing_price=0, net_change_indicator=" "))
    assert (st[1].net_price_change, st[1].net_change_indicator) == (0, " ")
    f = changed_fields(recs)
    assert f["net_price_change"] == 0 and f["net_change_indicator"] == ord(" ")


def test_md_side_with_only_order_counts_is_data(st):
    """A depth side is replaced when one of its levels carries data: price, quantity *or* order count.  A
    side whose only non-zero field is an order count replaces the old side (and a zero one does not)."""
    merge(st, "CM", md(1, mbp=mbp([(100, 10, 1), (99, 20, 2)], [(101, 5, 1)])))
    recs = merge(st, "CM", md(1, mbp=mbp([(0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 4)], [])))
    q = st[1]
    assert (q.bid_price, q.bid_quantity, q.bid_orders) == ((0,) * 5, (0,) * 5, (0, 0, 0, 0, 4))
    assert (q.ask_price, q.ask_quantity, q.ask_orders) == ((101, 0, 0, 0, 0), (5, 0, 0, 0, 0), (1, 0, 0, 0, 0))
    assert groups(recs) == {"bid"}
    merge(st, "CM", md(1, mbp=mbp([(0, 0, 7)], [])))
    assert st[1].bid_orders == (7, 0, 0, 0, 0)


AUCTION = dict(auction_number=7, auction_status=1, initiator_type=2, initiator_price=100, initiator_quantity=10,
               auction_price=101, auction_quantity=11)


def test_md_auction_end_clears_every_auction_field(st):
    """A message without an auction clears all seven auction fields, and the change records name all seven
    with value 0."""
    merge(st, "CM", md(1, **AUCTION))
    recs = merge(st, "CM", md(1))
    q = st[1]
    assert {k: getattr(q, k) for k in AUCTION} == dict.fromkeys(AUCTION, 0)
    assert changed_fields(recs) == dict.fromkeys(AUCTION, 0)


@pytest.mark.parametrize("field", list(AUCTION))
def test_md_auction_one_field_changed_is_stored_and_recorded(st, field):
    """The merge compares the seven auction fields as one block before storing them (vg_auction_same): a
    change of any single one of them, every other field as before, is still stored and recorded alone."""
    merge(st, "CM", md(1, **AUCTION))
    changed = dict(AUCTION, **{field: AUCTION[field] + 1000})
    recs = merge(st, "CM", md(1, **changed))
    q = st[1]
    assert {k: getattr(q, k) for k in AUCTION} == changed
    assert changed_fields(recs) == {field: changed[field]}
    again = merge(st, "CM", md(1, **changed))        # the same block again: nothing to record
    assert not set(changed_fields(again)) & set(AUCTION)


SPOS_FIELDS = ("buy_ord_cxl_count", "buy_ord_cxl_vol", "sell_ord_cxl_count", "sell_ord_cxl_vol", "spos_update_time")


def _spos(token, log_time=1_400_000_000):
    return {"transaction_code": 7210, "log_time": log_time,
            "records": [{"token": token, "buy_ord_cxl_count": 3, "buy_ord_cxl_vol": 300,
                         "sell_ord_cxl_count": 4, "sell_ord_cxl_vol": 400}]}


@pytest.mark.parametrize("preopen", [1, 4, 6])
def test_spos_reset_from_every_preopen_status(st, preopen):
    """Pre-open is status 1, 4 (extended) or 6 (price discovery): leaving any of them for open (2) clears
    the SPOS statistics."""
    merge(st, "CM", md(1, trading_status=preopen))
    merge(st, "CM", _spos(1))
    assert st[1].buy_ord_cxl_count == 3
    recs = merge(st, "CM", md(1, trading_status=2))
    q = st[1]
    assert {k: getattr(q, k) for k in SPOS_FIELDS} == dict.fromkeys(SPOS_FIELDS, 0)
    assert "spos" in groups(recs)


def test_spos_kept_when_open_is_not_left_from_preopen(st):
    """Suspended (3) -> open (2) is no pre-open end: the statistics stay."""
    merge(st, "CM", md(1, trading_status=3))
    merge(st, "CM", _spos(1))
    recs = merge(st, "CM", md(1, trading_status=2))
    assert st[1].buy_ord_cxl_count == 3 and st[1].spos_update_time == 1_400_000_000
    assert "spos" not in groups(recs)


@pytest.mark.parametrize("preopen", [1, 4, 6])
@pytest.mark.parametrize("code", [18130, 18707])
def test_spos_reset_by_a_cm_security_status_change(preopen, code):
    """The SPOS reset through CM 18130 / 18707 (BCAST_SECURITY_STATUS_CHG(_PREOPEN)), not a 7200/7208: a status
    message whose normal-market status moves the token from pre-open to open (2) clears the five SPOS fields
    and the indicative open, and its change records (source = its code) say so, with the four market statuses
    and the trading status it set.  The store rebuilt from every change record of the handler equals the live
    one, so a ring or journal reader sees the statistics cleared too."""
    live, got = core.Store(100), []
    fh = core.FeedHandler("CM", live, on_records=got.append)
    fh.merge_message(md(1, trading_status=preopen, open_price=480, last_traded_price=0), now_ns=T0)
    fh.merge_message(_spos(1), now_ns=T0 + SEC)
    assert live[1].buy_ord_cxl_count == 3 and live[1].open_price == 480
    n = len(got)
    fh.merge_message({"transaction_code": code, "records": [{"token": 1, "status": [2, 3, 2, 1, 2, 2]}]},
                     now_ns=T0 + 2 * SEC)
    assert len(got) == n + 1
    q = live[1]
    assert {k: getattr(q, k) for k in SPOS_FIELDS} == dict.fromkeys(SPOS_FIELDS, 0)
    assert (q.open_price, q.trading_status, q.market_status) == (0, 2, (2, 3, 2, 1))
    assert set(got[-1]["source"].tolist()) == {code}
    assert changed_fields(got[-1]) == {**dict.fromkeys(SPOS_FIELDS, 0), "open_price": 0, "trading_status": 2,
                                       "market_status[0]": 2, "market_status[1]": 3, "market_status[2]": 2,
                                       "market_status[3]": 1}
    rebuilt = core.Store(100)
    rebuilt.apply_records(np.concatenate(got), day_base_ns=live.header["day_base_ns"])
    market_equal(by_token(live.snapshot()), by_token(rebuilt.snapshot()))


# ---- 7201 / 17201 market watch -------------------------------------------------------------------------

@pytest.mark.parametrize("preopen", [1, 4, 6])
def test_mw_overwrites_best_bid_ask_in_every_preopen_status(st, preopen):
    """In pre-open (1, 4, 6) the market watch overwrites best bid/ask price and quantity, zeros included,
    even while the 7200/7208 data is fresh; its LastTradePrice (the indicative open) is no trade."""
    merge(st, "CM", md(1, trading_status=preopen, mbp=mbp([(499, 10, 1)], [(501, 10, 1)])), now_ns=T0)
    recs = merge(st, "CM", mw(1, buy=(0, 0), sell=(505, 3), ltp=503, ltt=7), now_ns=T0 + 1)
    q = st[1]
    assert (q.bid_price[0], q.bid_quantity[0], q.ask_price[0], q.ask_quantity[0]) == (0, 0, 505, 3)
    assert (q.last_traded_price, q.last_trade_time) == (0, 0)
    f = changed_fields(recs)
    assert {k: f.get(k) for k in ("bid_price[0]", "bid_quantity[0]", "ask_price[0]", "ask_quantity[0]",
                                  "last_traded_price", "last_trade_time")} == {
        "bid_price[0]": 0, "bid_quantity[0]": 0, "ask_price[0]": 505, "ask_quantity[0]": 3,
        "last_traded_price": None, "last_trade_time": None}


@pytest.mark.parametrize("ltp,ltt", [(0, 0), (503, 71)])
def test_mw_preopen_leaves_ltp_and_time(st, ltp, ltt):
    merge(st, "CM", md(1, trading_status=1, last_traded_price=500, last_trade_time=70), now_ns=T0)
    recs = merge(st, "CM", mw(1, buy=(499, 1), sell=(501, 1), ltp=ltp, ltt=ltt), now_ns=T0 + 1)
    assert (st[1].last_traded_price, st[1].last_trade_time) == (500, 70)
    assert "trade" not in groups(recs)


def test_mw_open_market_with_fresh_md_changes_only_market_watch_fields(st):
    merge(st, "CM", md(1, trading_status=2, last_traded_price=500, mbp=mbp([(499, 10, 1)], [(501, 10, 1)])),
          now_ns=T0)
    recs = merge(st, "CM", mw(1, buy=(480, 1), sell=(520, 1), ltp=481, ltt=9), now_ns=T0 + SEC)
    assert groups(recs) == {"market_watch"}


def test_mw_stale_supplement_takes_positive_values_only(st):
    """When the 7200/7208 data is stale, only positive prices supplement (a zero sell price keeps the ask,
    a zero trade time keeps the time); a positive buy price brings its quantity with it."""
    merge(st, "CM", md(1, trading_status=2, last_traded_price=500, last_trade_time=70,
                       mbp=mbp([(499, 10, 1)], [(501, 10, 1)])), now_ns=T0)
    recs = merge(st, "CM", mw(1, buy=(498, 4), sell=(0, 9), ltp=502, ltt=0), now_ns=T0 + STALE + SEC)
    q = st[1]
    assert (q.bid_price[0], q.bid_quantity[0]) == (498, 4)
    assert (q.ask_price[0], q.ask_quantity[0]) == (501, 10)
    assert (q.last_traded_price, q.last_trade_time) == (502, 70)
    f = changed_fields(recs)
    assert f["bid_price[0]"] == 498 and f["bid_quantity[0]"] == 4 and f["last_traded_price"] == 502
    assert not {"ask_price[0]", "ask_quantity[0]", "last_trade_time"} & set(f)


def test_md_staleness_is_strictly_older_than_the_window(st):
    """7200/7208 data is stale when older than md_stale_ns: at exactly the window it is still fresh (no
    supplement, no fast LTP), a nanosecond later it is stale."""
    for t in (1, 2):
        merge(st, "CM", md(t, trading_status=2, last_traded_price=500), now_ns=T0)
    merge(st, "CM", mw(1, ltp=510), now_ns=T0 + STALE)
    merge(st, "CM", tick(2, price=520, volume=1), now_ns=T0 + STALE)
    assert st[1].last_traded_price == 500 and st[2].last_traded_price == 500
    merge(st, "CM", mw(1, ltp=511), now_ns=T0 + STALE + 1)
    merge(st, "CM", tick(2, price=521, volume=1), now_ns=T0 + STALE + 1)
    assert st[1].last_traded_price == 511 and st[2].last_traded_price == 521


@pytest.mark.parametrize("window", [1 * SEC, 30 * SEC])
@pytest.mark.parametrize("seg,code", [("CM", 7201), ("FO", 7201), ("FO", 17201)])
def test_mw_staleness_boundary_moves_with_md_stale_ns(window, seg, code):
    """``FeedHandler(md_stale_ns=window)`` moves the boundary of the previous test with it: a market watch at
    exactly ``window`` after the last 7200/7208 leaves the LTP alone, one a nanosecond later supplements it.
    Either window is on the other side of the 5 s default from its own boundary: at 1 s + 1 ns the default
    would still call the data fresh, at 30 s long since stale."""
    st = core.Store(100)
    fh = core.FeedHandler(seg, st, md_stale_ns=window)
    fh.merge_message(md(1, trading_status=2, last_traded_price=500), now_ns=T0)
    fh.merge_message(mw(1, code=code, ltp=510), now_ns=T0 + window)
    assert st[1].last_traded_price == 500
    fh.merge_message(mw(1, code=code, ltp=511), now_ns=T0 + window + 1)
    assert st[1].last_traded_price == 511

def test_mw_open_interest_zero_leaves_the_day_range(st):
    """F&O open interest is taken as sent (0 too); the day high/low widen to positive values only."""
    merge(st, "FO", mw(1, code=17201, oi=1000))
    merge(st, "FO", mw(1, code=17201, oi=1500))
    recs = merge(st, "FO", mw(1, code=17201, oi=0))
    q = st[1]
    assert (q.open_interest, q.oi_day_high, q.oi_day_low) == (0, 1500, 1000)
    assert changed_fields(recs) == {"open_interest": 0}


# ---- tickers ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seg,code", [("CM", 18703), ("FO", 7202), ("FO", 17202)])
def test_ticker_zero_fill_keeps_fill_and_ltp(st, seg, code):
    """Fill price and volume only when > 0, and a zero fill price is no fast LTP (the 7200/7208 data being
    stale or absent)."""
    recs = merge(st, seg, tick(1, code=code, price=700, volume=25), now_ns=T0)
    f = changed_fields(recs)
    assert (f["fill_price"], f["fill_volume"], f["last_traded_price"]) == (700, 25, 700)
    recs = merge(st, seg, tick(1, code=code, price=0, volume=0), now_ns=T0 + 10 * STALE)
    q = st[1]
    assert (q.fill_price, q.fill_volume, q.last_traded_price) == (700, 25, 700)
    assert not {"fill_price", "fill_volume", "last_traded_price"} & set(changed_fields(recs))


@pytest.mark.parametrize("code", [7202, 17202])
def test_fo_ticker_open_interest_records(st, code):
    """The F&O ticker's open interest and the exchange's day high/low OI reach the change records under
    their own names."""
    recs = merge(st, "FO", tick(1, code=code, price=100, volume=1, oi=5000, hi=6000, lo=4000))
    f = changed_fields(recs)
    assert (f["open_interest"], f["oi_day_high"], f["oi_day_low"]) == (5000, 6000, 4000)
    recs = merge(st, "FO", tick(1, code=code, oi=5000, hi=6100, lo=3900))
    assert changed_fields(recs) == {"oi_day_high": 6100, "oi_day_low": 3900}


# ---- F&O 7210 --------------------------------------------------------------------------------------------

def test_fo_7210_status_zero_is_not_a_trading_status(st):
    """market_status[0..3] as sent; trading_status = status[0] only when > 0."""
    merge(st, "FO", {"transaction_code": 7210, "records": [{"token": 9, "status": [2, 2, 3, 4]}]})
    recs = merge(st, "FO", {"transaction_code": 7210, "records": [{"token": 9, "status": [0, 1, 3, 5]}]})
    q = st[9]
    assert q.trading_status == 2 and q.market_status == (0, 1, 3, 5)
    f = changed_fields(recs)
    assert f == {"market_status[0]": 0, "market_status[1]": 1, "market_status[3]": 5}


# ---- 18708 -----------------------------------------------------------------------------------------------

def _bb(token, log_time, start, end, symbol="TCS", series="EQ"):
    return {"transaction_code": 18708, "log_time": log_time,
            "records": [{"token": token, "symbol": symbol, "series": series, "pday_cum_vol": 1.0,
                         "start_date": start, "end_date": end}]}


@pytest.mark.parametrize("log_time,start,end,active", [
    (1000, 1000, 2000, 1),            # the bounds are inclusive
    (2000, 1000, 2000, 1),
    (2001, 1000, 2000, 0),
    (999, 1000, 2000, 0),
    (5000, 1000, 0, 1),               # a 0 bound is open
    (5, 0, 2000, 1),
    (5, 0, 0, 1),
])
def test_18708_active_window(st, log_time, start, end, active):
    recs = merge(st, "CM", _bb(3, log_time, start, end))
    assert st[3].buyback_active == active
    assert changed_fields(recs).get("buyback_active", 0) == active


@pytest.mark.parametrize("vol,want", [(2.6, 3), (2.4, 2), (-2.6, -3), (-2.4, -2), (-0.6, -1)])
def test_18708_volumes_are_rounded_to_the_nearest(st, vol, want):
    """The DOUBLE cumulative volumes are rounded to the nearest integer, negative ones too (not truncated
    toward zero)."""
    merge(st, "CM", {"transaction_code": 18708, "records": [{"token": 3, "pday_cum_vol": vol, "cday_cum_vol": vol}]})
    assert (st[3].pday_cum_vol, st[3].cday_cum_vol) == (want, want)


def test_18708_blank_symbol_keeps_the_identity(st):
    merge(st, "CM", _bb(3, 1500, 1000, 2000))
    recs = merge(st, "CM", _bb(3, 1500, 1000, 2000, symbol="", series=""))
    assert (st[3].symbol, st[3].series) == ("TCS", "EQ")
    assert "ident" not in groups(recs)


# ---- subscriptions, on the per-message paths (tickers, market watch, 7210) --------------------------------

@pytest.mark.parametrize("seg,msg", [
    ("CM", tick(2, price=700, volume=5)),
    ("FO", tick(2, code=17202, price=700, volume=5, oi=10)),
    ("CM", mw(2, buy=(10, 1), sell=(11, 1), ltp=10)),
    ("FO", mw(2, code=17201, buy=(10, 1), ltp=10, oi=10)),
    ("CM", _spos(2)),
    ("FO", {"transaction_code": 7210, "records": [{"token": 2, "status": [2, 2, 2, 2]}]}),
])
def test_subscribed_only_skips_unsubscribed_tokens_of_every_family(st, seg, msg):
    """subscribed_only: a token whose flag is 0 is skipped by every message family, and so is a token not
    in the store; a subscribed token merges."""
    st.add(1, segment=seg)
    st.add(2, segment=seg, subscribed=False)
    got = []
    fh = core.FeedHandler(seg, st, subscribed_only=True, on_records=got.append)
    before = st.snapshot().tobytes()
    fh.merge_message(msg, now_ns=T0)
    assert st.snapshot().tobytes() == before and not got
    assert fh.stats["merge"]["unsubscribed"] == 1
    other = dict(msg, records=[dict(msg["records"][0], token=3)])
    fh.merge_message(other, now_ns=T0)
    assert 3 not in st and fh.stats["merge"]["unsubscribed"] == 2
    st.subscribe(2)
    fh.merge_message(msg, now_ns=T0)
    assert st[2].update_count == 1 and st[2].last_update_ns == T0


# ---- apply_records: the rebuilt store's 7200/7208 freshness -----------------------------------------------

@pytest.mark.parametrize("code", [7200, 7208])
def test_rebuilt_store_knows_when_md_was_last_merged(code):
    """apply_records sets last_md_ns for a 7200 or 7208 source, so a store rebuilt from records keeps
    merging as the live one: a market watch within the window does not overwrite the book's LTP."""
    live = core.Store(10)
    recs = merge(live, "CM", md(1, code=code, trading_status=2, last_traded_price=500), now_ns=T0)
    rebuilt = core.Store(10)
    rebuilt.apply_records(recs, day_base_ns=live.header["day_base_ns"])
    assert rebuilt[1].last_update_ns == T0 and rebuilt[1].last_update_source == code
    merge(rebuilt, "CM", mw(1, ltp=510), now_ns=T0 + SEC)
    merge(live, "CM", mw(1, ltp=510), now_ns=T0 + SEC)
    assert rebuilt[1].last_traded_price == live[1].last_traded_price == 500


# ---- every update: time, source code and count ---------------------------------------------------------------

_BB = {"transaction_code": 18708, "log_time": 1500,
       "records": [{"token": 1, "symbol": "TCS", "series": "EQ", "pday_cum_vol": 1.0}]}
_OPEN = {"transaction_code": 6013, "records": [{"token": 1, "symbol": "TCS", "series": "EQ", "opening_price": 9}]}


@pytest.mark.parametrize("seg,msg,code", [
    ("CM", md(1, code=7200, last_traded_price=5), 7200),
    ("CM", md(1, code=7208, last_traded_price=5), 7208),
    ("FO", md(1, code=7200, last_traded_price=5), 7200),
    ("FO", md(1, code=7208, last_traded_price=5), 7208),
    ("CM", mw(1, buy=(4, 1)), 7201),
    ("FO", mw(1, code=7201, buy=(4, 1), oi=3), 7201),
    ("FO", mw(1, code=17201, buy=(4, 1), oi=3), 17201),
    ("CM", tick(1, price=5, volume=1), 18703),
    ("FO", tick(1, code=7202, price=5, volume=1, oi=3), 7202),
    ("FO", tick(1, code=17202, price=5, volume=1, oi=3), 17202),
    ("CM", _spos(1), 7210),
    ("FO", {"transaction_code": 7210, "records": [{"token": 1, "status": [2, 2, 2, 2]}]}, 7210),
    ("CM", _BB, 18708),
    ("CM", _OPEN, 6013),
])
def test_every_code_stamps_update_time_source_and_count(st, seg, msg, code):
    """Every merge sets last_update_ns (receive time), last_update_source (its message code) and
    update_count += 1, whether it changed a field or not; the change records carry the same source.  The
    suite checked this for 7200 and 18703 only, so a merge function stamping another code's number (18708's
    vg_merge_buyback passing VG_OPEN_PRICE, say) passed it."""
    got = []
    fh = core.FeedHandler(seg, st, on_records=got.append)
    fh.merge_message(md(1, code=7200, trading_status=2), now_ns=T0)
    fh.merge_message(msg, now_ns=T0 + 3)
    q = st[1]
    assert (q.last_update_ns, q.last_update_source, q.update_count) == (T0 + 3, code, 2)
    assert {int(s) for s in got[-1]["source"]} == {code}
    fh.merge_message(msg, now_ns=T0 + 7)                          # the same again changes nothing: still stamped
    q = st[1]
    assert (q.last_update_ns, q.last_update_source, q.update_count) == (T0 + 7, code, 3)


# ---- quality score -------------------------------------------------------------------------------------------

def test_quality_locked_book_is_not_two_sided(st):
    """The two-sided weight needs 0 < bid < ask: a locked book (bid == ask) has a book but is not
    two-sided, live and in a store rebuilt from the records."""
    w = QUALITY_WEIGHTS
    recs = merge(st, "CM", md(1, mbp=mbp([(100, 1, 1)], [(100, 2, 1)])))
    assert st[1].data_quality == w["book"]
    rebuilt = core.Store(10)
    rebuilt.apply_records(recs, day_base_ns=st.header["day_base_ns"])
    assert rebuilt[1].data_quality == w["book"]
    merge(st, "CM", md(1, mbp=mbp([], [(101, 2, 1)])))
    assert st[1].data_quality == w["book"] + w["two_sided"]


def test_quality_an_ask_only_book_is_a_book_but_not_two_sided(st):
    """"A book is present" is bid_price[0] > 0 *or* ask_price[0] > 0: offers without bids (a stock locked at
    its upper band, a deep option strike) earn the book weight; two-sided needs 0 < bid, so ask > bid with
    no bid does not earn it.  Every other quality test has a bid whenever it has an ask."""
    w = QUALITY_WEIGHTS
    recs = merge(st, "CM", md(1, mbp=mbp([], [(101, 2, 1)])))
    assert st[1].data_quality == w["book"]
    rebuilt = core.Store(10)
    rebuilt.apply_records(recs, day_base_ns=st.header["day_base_ns"])
    assert rebuilt[1].data_quality == w["book"]
    merge(st, "CM", mw(2, sell=(101, 2)))                    # market watch (no 7200/7208 yet) supplements the ask
    assert st[2].ask_price[0] == 101 and st[2].data_quality == w["book"]


# ---- staleness seen by readers -----------------------------------------------------------------------------

def test_record_staleness_is_strictly_older_than_the_window(st):
    merge(st, "CM", md(1, last_traded_price=100), now_ns=T0)
    assert not st.is_stale(1, now_ns=T0 + STALE)
    assert list(st.stale_tokens(now_ns=T0 + STALE)) == []
    assert st.is_stale(1, now_ns=T0 + STALE + 1)
    assert list(st.stale_tokens(now_ns=T0 + STALE + 1)) == [1]


# ---- sequence gaps per stream ------------------------------------------------------------------------------

def _dg(seq, stream=1):
    m = nse.blank_message("CM", 7200, 1)
    m["records"][0].update(token=1, book_type=1, trading_status=2, last_traded_price=seq)
    m.update(stream=stream, bc_seq_no=seq)
    return nse.build_datagram("CM", [m], compress=False)


def test_a_drop_of_more_than_100000_is_a_restart():
    """A number more than 100000 below the last restarts the stream's count (one out-of-order message):
    the numbers after it are in order."""
    fh = core.FeedHandler("CM", core.Store(10))
    fh.process_batch([_dg(200_000), _dg(99_999), _dg(100_000), _dg(100_001)], now_ns=T0)
    assert fh.stats["streams"][1] == {"messages": 4, "last_seq": 100_001, "gaps": 0, "missed": 0,
                                      "out_of_order": 1}


def test_sequence_numbers_at_the_int32_end_neither_overflow_nor_count_billions_missed():
    """BCSeqNo is a wire LONG: at 2**31 - 1 the next number in order cannot be the last + 1 in int32 (that
    overflowed, undefined behaviour, and in practice wrapped: 5 after 2**31 - 1 became a gap of -2**31
    numbers, counted as 18446744071562067973 missed).  The comparisons are in 64 bits: a drop from there is a
    restart, a rise to there a gap of the numbers between."""
    top = 2**31 - 1
    fh = core.FeedHandler("CM", core.Store(10))
    fh.process_batch([_dg(top), _dg(5), _dg(6)], now_ns=T0)
    assert fh.stats["streams"][1] == {"messages": 3, "last_seq": 6, "gaps": 0, "missed": 0, "out_of_order": 1}
    fh = core.FeedHandler("CM", core.Store(10))
    fh.process_batch([_dg(1), _dg(top)], now_ns=T0)
    assert fh.stats["streams"][1] == {"messages": 2, "last_seq": top, "gaps": 1, "missed": top - 2,
                                      "out_of_order": 0}


def test_a_drop_of_exactly_100000_is_out_of_order_not_a_restart():
    fh = core.FeedHandler("CM", core.Store(10))
    fh.process_batch([_dg(200_000), _dg(100_000), _dg(100_001)], now_ns=T0)
    assert fh.stats["streams"][1] == {"messages": 3, "last_seq": 200_000, "gaps": 0, "missed": 0,
                                      "out_of_order": 2}
