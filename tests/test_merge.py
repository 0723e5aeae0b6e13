"""Every smart-merge rule (docs/FORMATS.md "Merge rules"), one or more tests each, through FeedHandler."""
import pytest

import vega._core as core
from vega.store import QUALITY_WEIGHTS, StoreFullError
from store_helpers import SEC, T0, changed_fields, decode_records, md, mbp, merge, mw, tick


@pytest.fixture
def st():
    return core.Store(1000)


# ---- 6013 ---------------------------------------------------------------------------------------------

def test_6013_sets_open_price_and_blank_identity(st):
    merge(st, "CM", md(5, open_price=1000))
    recs = merge(st, "CM", {"transaction_code": 6013,
                            "records": [{"token": 5, "symbol": "INFY", "series": "EQ", "opening_price": 1010}]})
    q = st[5]
    assert q.open_price == 1010                      # the exchange's open overrides the set-once MD open
    assert (q.symbol, q.series) == ("INFY", "EQ")
    assert changed_fields(recs)["open_price"] == 1010
    merge(st, "CM", {"transaction_code": 6013, "records": [{"token": 5, "symbol": "XXX", "opening_price": 0}]})
    assert st[5].open_price == 1010 and st[5].symbol == "INFY"   # 0 ignored; identity kept once set


# ---- 7200 / 7208 smart merge ----------------------------------------------------------------------------

def test_md_prices_only_when_positive(st):
    merge(st, "CM", md(1, last_traded_price=500, average_trade_price=490, last_trade_quantity=3,
                       last_trade_time=77, closing_price=480))
    recs = merge(st, "CM", md(1, last_traded_price=0, average_trade_price=-1, last_trade_quantity=0,
                              last_trade_time=0, closing_price=0))
    q = st[1]
    assert (q.last_traded_price, q.average_trade_price, q.last_trade_quantity, q.last_trade_time,
            q.close_price) == (500, 490, 3, 77, 480)
    assert len(recs) == 0                            # nothing changed -> no change records


def test_md_open_set_once_high_max_low_min_positive(st):
    merge(st, "CM", md(1, open_price=100, high_price=110, low_price=95))
    merge(st, "CM", md(1, open_price=105, high_price=108, low_price=0))
    q = st[1]
    assert (q.open_price, q.high_price, q.low_price) == (100, 110, 95)
    merge(st, "CM", md(1, high_price=120, low_price=90))
    q = st[1]
    assert (q.high_price, q.low_price) == (120, 90)
    merge(st, "CM", md(1, high_price=115, low_price=93))
    assert (st[1].high_price, st[1].low_price) == (120, 90)


@pytest.mark.parametrize("seg,code", [("CM", 7208), ("CM", 7200), ("FO", 7208)])
@pytest.mark.parametrize("preopen", [1, 4, 6])
def test_md_preopen_open_and_volume_are_indicative(st, seg, code, preopen):
    """PROTOCOL.md §3.3 (CM63 p.118-125): in pre-open OpenPrice is the indicative open ("final open once
    market opens") and VolumeTradedToday the indicative equilibrium quantity: both move either way until the
    market opens, and the first message after the pre-open carries the final open and the real volume.  The
    set-once open and the only-grows volume apply from then on."""
    merge(st, seg, md(1, code=code, trading_status=preopen, open_price=1000, volume_traded_today=5000))
    recs = merge(st, seg, md(1, code=code, trading_status=preopen, open_price=990, volume_traded_today=3000))
    assert (st[1].open_price, st[1].volume_traded_today) == (990, 3000)
    assert changed_fields(recs)["open_price"] == 990 and changed_fields(recs)["volume_traded_today"] == 3000
    merge(st, seg, md(1, code=code, trading_status=preopen, open_price=995, volume_traded_today=0))
    assert (st[1].open_price, st[1].volume_traded_today) == (995, 0)   # no equilibrium (yet): no volume
    merge(st, seg, md(1, code=code, trading_status=preopen, open_price=992, volume_traded_today=2800))
    recs = merge(st, seg, md(1, code=code, trading_status=2, open_price=993, volume_traded_today=2700))
    assert (st[1].open_price, st[1].volume_traded_today) == (993, 2700)   # the final open, the matched volume
    assert changed_fields(recs)["open_price"] == 993
    merge(st, seg, md(1, code=code, trading_status=2, open_price=1001, volume_traded_today=2600))
    assert (st[1].open_price, st[1].volume_traded_today) == (993, 2700)   # open: set once, volume only grows


def test_md_volume_only_grows(st):
    merge(st, "FO", md(1, volume_traded_today=1000))
    merge(st, "FO", md(1, volume_traded_today=900))
    assert st[1].volume_traded_today == 1000
    merge(st, "FO", md(1, volume_traded_today=(1 << 32) + 5))   # F&O overflow already applied by the decoder
    assert st[1].volume_traded_today == (1 << 32) + 5


def test_md_depth_replaced_as_whole_only_with_data(st):
    merge(st, "CM", md(1, mbp=mbp([(100, 10, 1), (99, 20, 2), (98, 30, 3)], [(101, 5, 1)])))
    q = st[1]
    assert q.bid_price == (100, 99, 98, 0, 0) and q.bid_quantity == (10, 20, 30, 0, 0)
    assert q.bid_orders == (1, 2, 3, 0, 0) and q.ask_price == (101, 0, 0, 0, 0)
    # an empty bid side keeps the old bids; the ask side is replaced as a whole (old level 0 gone)
    recs = merge(st, "CM", md(1, mbp=mbp([], [(102, 7, 2), (103, 8, 3)])))
    q = st[1]
    assert q.bid_price == (100, 99, 98, 0, 0)
    assert q.ask_price == (102, 103, 0, 0, 0) and q.ask_quantity == (7, 8, 0, 0, 0) and q.ask_orders == (2, 3, 0, 0, 0)
    groups = {g for _, g, _ in decode_records(recs)}
    assert groups == {"ask"}
    # fewer levels than before: the missing levels are cleared (whole replacement)
    merge(st, "CM", md(1, mbp=mbp([(97, 1, 1)], [])))
    assert st[1].bid_price == (97, 0, 0, 0, 0) and st[1].bid_quantity == (1, 0, 0, 0, 0)


def test_md_ato_row_price_minus_one_kept(st):
    merge(st, "CM", md(1, trading_status=1, mbp=mbp([(100, 5, 1), (0, 0, 0), (0, 0, 0), (0, 0, 0), (-1, 50, 4)])))
    assert st[1].bid_price[4] == -1 and st[1].bid_quantity[4] == 50


def test_md_totals_flags_net_change_indicator(st):
    recs = merge(st, "CM", md(1, code=7208, total_buy_quantity=1 << 40, total_sell_quantity=7,
                              bb_total_buy_flag=1, bb_total_sell_flag=3, net_price_change_from_closing_price=-25,
                              net_change_indicator="-", indicative_close_price=1234,
                              indicator={"last_trade_less": True, "sell": True}))
    q = st[1]
    assert (q.total_buy_quantity, q.total_sell_quantity) == (1 << 40, 7)
    assert (q.bb_total_buy_flag, q.bb_total_sell_flag) == (1, 3)
    assert (q.net_price_change, q.net_change_indicator) == (-25, "-")
    assert q.indicative_close_price == 1234
    assert q.indicator == 0x40 | 0x10
    f = changed_fields(recs)
    assert f["total_buy_quantity"] == 1 << 40 and f["net_price_change"] == -25
    # totals are absolute: they may fall to zero
    merge(st, "CM", md(1, code=7208, total_buy_quantity=0))
    assert st[1].total_buy_quantity == 0


@pytest.mark.parametrize("code", [7200, 7208])
def test_fo_md_net_price_change_is_ltp_minus_close(st, code):
    """PROTOCOL.md §3.9 (FO946 p.174 for 7200, p.178 for 7208): F&O's NetPriceChangeFromClosingPrice
    "presently contains the closing price", for the front end to compute the change: the store's
    net_price_change (paise from the previous close) is LTP - ClosingPrice.  CM's is copied as sent."""
    recs = merge(st, "FO", md(1, code=code, last_traded_price=2450050, closing_price=2440000,
                              net_price_change_from_closing_price=2440000, net_change_indicator="+"))
    assert (st[1].net_price_change, st[1].net_change_indicator) == (10050, "+")
    assert changed_fields(recs)["net_price_change"] == 10050
    recs = merge(st, "FO", md(1, code=code, last_traded_price=2430000, net_price_change_from_closing_price=2440000,
                              net_change_indicator="-"))
    assert (st[1].net_price_change, st[1].net_change_indicator) == (-10000, "-")   # the close held from before
    merge(st, "FO", md(3, code=code, closing_price=2440000, net_price_change_from_closing_price=2440000))
    assert st[3].net_price_change == 0                                              # no LTP yet: no change
    cm = core.Store(100)
    merge(cm, "CM", md(2, code=code, last_traded_price=2450050, closing_price=2440000,
                       net_price_change_from_closing_price=41))
    assert cm[2].net_price_change == 41


def test_md_indicative_close_only_cm_7208(st):
    fo = core.Store(100)
    merge(st, "CM", md(1, code=7200, indicative_close_price=500))
    merge(fo, "FO", md(2, code=7208, indicative_close_price=500))
    assert st[1].indicative_close_price == 0 and fo[2].indicative_close_price == 0
    merge(st, "CM", md(1, code=7208, indicative_close_price=500))
    assert st[1].indicative_close_price == 500


def test_md_book_type_filter(st):
    fh_recs = merge(st, "FO", md(1, book_type=3, last_traded_price=10))
    assert 1 not in st and len(fh_recs) == 0
    got = []
    fh = core.FeedHandler("FO", st, on_records=got.append)
    fh.merge_message(md(1, book_type=5, last_traded_price=10), now_ns=T0)
    fh.merge_message(md(1, book_type=2, last_traded_price=10), now_ns=T0)
    assert st[1].last_traded_price == 10 and st[1].book_type == 2
    assert fh.stats["merge"]["book_type"] == 1


def test_md_auction_fields_and_clear_when_auction_ends(st):
    merge(st, "CM", md(1, auction_number=7, auction_status=1, initiator_type=2, initiator_price=100,
                       initiator_quantity=10, auction_price=101, auction_quantity=11))
    q = st[1]
    assert (q.auction_number, q.auction_status, q.initiator_type, q.initiator_price, q.initiator_quantity,
            q.auction_price, q.auction_quantity) == (7, 1, 2, 100, 10, 101, 11)
    recs = merge(st, "CM", md(1))                    # no auction in the message: the auction ended
    q = st[1]
    assert (q.auction_number, q.auction_status, q.initiator_price, q.auction_price, q.auction_quantity) == (0,) * 5
    assert {g for _, g, _ in decode_records(recs)} == {"auction"}


def test_md_trading_status_book_type(st):
    merge(st, "CM", md(1, trading_status=1, book_type=1))
    assert st[1].trading_status == 1
    merge(st, "CM", md(1, trading_status=0))
    assert st[1].trading_status == 1                 # 0 is not a status
    merge(st, "CM", md(1, trading_status=3))
    assert st[1].trading_status == 3


# ---- 7201 / 17201 market watch ---------------------------------------------------------------------------

def test_mw_fields_and_indicator(st):
    recs = merge(st, "CM", mw(1, buy=(100, 1 << 33), sell=(101, 5), ltp=100, ltt=99,
                              indicator={"last_trade_more": True, "buy": True}))
    q = st[1]
    assert (q.mw_buy_price, q.mw_buy_volume, q.mw_sell_price, q.mw_sell_volume) == (100, 1 << 33, 101, 5)
    assert (q.mw_last_trade_price, q.mw_last_trade_time, q.mw_indicator) == (100, 99, 0x80 | 0x20)
    assert changed_fields(recs)["mw_buy_volume"] == 1 << 33


def test_mw_overwrites_in_preopen(st):
    merge(st, "CM", md(1, trading_status=1, last_traded_price=500,
                       mbp=mbp([(499, 10, 1)], [(501, 10, 1)])), now_ns=T0)
    merge(st, "CM", mw(1, buy=(0, 0), sell=(505, 3), ltp=503, ltt=7), now_ns=T0 + 1)   # MD is fresh
    q = st[1]
    assert q.bid_price[0] == 0 and q.bid_quantity[0] == 0       # overwritten, even with zero
    assert (q.ask_price[0], q.ask_quantity[0]) == (505, 3)
    assert (q.last_traded_price, q.mw_last_trade_price) == (500, 503)   # 503 is the indicative open: no trade


@pytest.mark.parametrize("seg,code", [("CM", 7201), ("FO", 7201), ("FO", 17201)])
def test_mw_preopen_indicative_open_is_no_last_trade(st, seg, code):
    """PROTOCOL.md §3.4 (CM63 p.128; FO946 p.183): in pre-open the market watch's LastTradePrice "contains the
    indicative open price", while 7208's LastTradedPrice is still the last trade (the previous day's, CM63
    p.121, FO946 p.178).  last_traded_price / last_trade_time keep the last trade, instead of flipping between
    the two as 7201 and 7208 arrive; mw_last_trade_price has the indicative open."""
    merge(st, seg, md(1, code=7208, trading_status=6, last_traded_price=500, last_trade_time=70, open_price=503),
          now_ns=T0)
    recs = merge(st, seg, mw(1, code=code, buy=(502, 5), sell=(504, 5), ltp=503, ltt=71), now_ns=T0 + 1)
    q = st[1]
    assert (q.last_traded_price, q.last_trade_time) == (500, 70)
    assert (q.mw_last_trade_price, q.open_price, q.bid_price[0], q.ask_price[0]) == (503, 503, 502, 504)
    assert "last_traded_price" not in changed_fields(recs) and "last_trade_time" not in changed_fields(recs)


def test_mw_supplements_only_when_md_stale(st):
    merge(st, "CM", md(1, trading_status=2, last_traded_price=500, mbp=mbp([(499, 10, 1)], [(501, 10, 1)])),
          now_ns=T0)
    merge(st, "CM", mw(1, buy=(480, 1), sell=(520, 1), ltp=481), now_ns=T0 + 1 * SEC)   # fresh MD: no effect
    q = st[1]
    assert (q.bid_price[0], q.ask_price[0], q.last_traded_price) == (499, 501, 500)
    assert q.mw_buy_price == 480
    merge(st, "CM", mw(1, buy=(0, 0), sell=(520, 2), ltp=0), now_ns=T0 + 6 * SEC)      # stale: supplement
    q = st[1]
    assert q.bid_price[0] == 499                      # a zero price never supplements
    assert (q.ask_price[0], q.ask_quantity[0], q.last_traded_price) == (520, 2, 500)


def test_mw_staleness_window_configurable(st):
    merge(st, "CM", md(1, last_traded_price=500), now_ns=T0)
    merge(st, "CM", mw(1, ltp=510), now_ns=T0 + 2 * SEC, md_stale_ns=1 * SEC)
    assert st[1].last_traded_price == 510
    merge(st, "CM", md(2, last_traded_price=500), now_ns=T0)
    merge(st, "CM", mw(2, ltp=510), now_ns=T0 + 2 * SEC, md_stale_ns=3 * SEC)
    assert st[2].last_traded_price == 500


def test_mw_never_seen_md_supplements(st):
    merge(st, "CM", mw(1, buy=(10, 1), sell=(11, 2), ltp=10))
    q = st[1]
    assert (q.bid_price[0], q.ask_price[0], q.last_traded_price) == (10, 11, 10)


def test_mw_fo_open_interest_day_high_low(st):
    merge(st, "FO", mw(1, code=17201, oi=1000))
    merge(st, "FO", mw(1, code=17201, oi=1500))
    merge(st, "FO", mw(1, code=7201, oi=800))
    q = st[1]
    assert (q.open_interest, q.oi_day_high, q.oi_day_low) == (800, 1500, 800)
    cm = core.Store(100)
    merge(cm, "CM", mw(2, oi=999))                   # CM has no OI
    assert cm[2].open_interest == 0


# ---- tickers -------------------------------------------------------------------------------------------

def test_ticker_fill_and_fast_ltp(st):
    recs = merge(st, "CM", tick(1, price=700, volume=25, market_type=1))
    q = st[1]
    assert (q.fill_price, q.fill_volume, q.market_type, q.last_traded_price) == (700, 25, 1, 700)
    assert changed_fields(recs)["last_traded_price"] == 700


def test_ticker_never_overwrites_fresher_md(st):
    merge(st, "CM", md(1, last_traded_price=500), now_ns=T0)
    merge(st, "CM", tick(1, price=505, volume=1), now_ns=T0 + SEC)
    assert st[1].last_traded_price == 500 and st[1].fill_price == 505
    merge(st, "CM", tick(1, price=506, volume=1), now_ns=T0 + 10 * SEC)
    assert st[1].last_traded_price == 506


@pytest.mark.parametrize("seg,code", [("CM", 18703), ("FO", 7202), ("FO", 17202)])
@pytest.mark.parametrize("market_type", [2, 3, 4, 5, 6])
def test_ticker_fill_outside_the_normal_market_is_no_ltp(st, seg, code, market_type):
    """An odd-lot, spot, auction or call-auction fill (MarketType 2-6) is the last fill, with its market type,
    but not the normal market's LTP, even with no fresh 7200/7208; the next normal-market fill is the LTP."""
    merge(st, seg, tick(1, code=code, price=700, volume=5), now_ns=T0)
    recs = merge(st, seg, tick(1, code=code, price=650, volume=3, market_type=market_type), now_ns=T0 + 10 * SEC)
    q = st[1]
    assert (q.fill_price, q.fill_volume, q.market_type, q.last_traded_price) == (650, 3, market_type, 700)
    f = changed_fields(recs)
    assert (f["fill_price"], f["fill_volume"], f["market_type"]) == (650, 3, market_type)
    assert "last_traded_price" not in f
    recs = merge(st, seg, tick(1, code=code, price=710, volume=1), now_ns=T0 + 20 * SEC)
    assert (st[1].last_traded_price, st[1].market_type) == (710, 1)
    assert changed_fields(recs)["last_traded_price"] == 710


@pytest.mark.parametrize("market_type", [0, 7, -1])
def test_ticker_market_type_the_protocol_does_not_name_counts_as_normal(st, market_type):
    """Only the markets the protocol names as other than normal (2-6) are kept off the LTP: an unnamed value
    does not silently stop the fast LTP."""
    recs = merge(st, "FO", tick(1, code=7202, price=700, volume=5, market_type=market_type), now_ns=T0)
    assert (st[1].last_traded_price, st[1].market_type) == (700, market_type)
    assert changed_fields(recs)["last_traded_price"] == 700


@pytest.mark.parametrize("code", [7202, 17202])
def test_fo_ticker_open_interest(st, code):
    merge(st, "FO", tick(1, code=code, price=100, volume=1, oi=5000, hi=6000, lo=4000))
    q = st[1]
    assert (q.open_interest, q.oi_day_high, q.oi_day_low) == (5000, 6000, 4000)
    merge(st, "FO", tick(1, code=code, oi=5100, hi=0, lo=0))
    assert (st[1].open_interest, st[1].oi_day_high, st[1].oi_day_low) == (5100, 6000, 4000)


def test_cm_ticker_leaves_open_interest_alone(st):
    """Open interest is F&O's: a CM 18703 ticker merges its fill and never the OI fields, even when the
    message it is handed carries some (the decoder zeroes them; the merge must not rely on that)."""
    recs = merge(st, "CM", tick(1, code=18703, price=100, volume=1, oi=5000, hi=6000, lo=4000))
    q = st[1]
    assert (q.fill_price, q.fill_volume) == (100, 1)
    assert (q.open_interest, q.oi_day_high, q.oi_day_low) == (0, 0, 0)
    assert "oi" not in {g for _, g, _ in decode_records(recs)}


# ---- 7210 ----------------------------------------------------------------------------------------------

def test_cm_7210_spos_statistics_and_reset(st):
    merge(st, "CM", md(1, trading_status=1))
    msg = {"transaction_code": 7210, "log_time": 1_400_000_000,
           "records": [{"token": 1, "buy_ord_cxl_count": 3, "buy_ord_cxl_vol": 300,
                        "sell_ord_cxl_count": 4, "sell_ord_cxl_vol": 1 << 35}]}
    recs = merge(st, "CM", msg)
    q = st[1]
    assert (q.buy_ord_cxl_count, q.buy_ord_cxl_vol, q.sell_ord_cxl_count, q.sell_ord_cxl_vol) == (3, 300, 4, 1 << 35)
    assert q.spos_update_time == 1_400_000_000
    assert {g for _, g, _ in decode_records(recs)} == {"spos"}
    recs = merge(st, "CM", md(1, trading_status=2))  # pre-open -> open: SPOS reset
    q = st[1]
    assert (q.buy_ord_cxl_count, q.sell_ord_cxl_vol, q.spos_update_time) == (0, 0, 0)
    assert changed_fields(recs)["sell_ord_cxl_vol"] == 0


@pytest.mark.parametrize("seg,code,status", [("FO", 7210, [2, 2, 3, 4]), ("FO", 7320, [2, 2, 3, 4]),
                                             ("CM", 18130, [2, 2, 2, 2, 0, 0]), ("CM", 18707, [2, 2, 2, 2, 0, 0])])
def test_status_leaving_preopen_drops_the_indicative_open_and_volume(seg, code, status):
    """A pre-open 7208's OpenPrice is the indicative open and its VolumeTradedToday the indicative equilibrium
    quantity (PROTOCOL.md §3.3; FO946 p.180, CM63 p.118-125): when a status message moves the security to open
    (2) before a 7208 brings the final open and the real volume, both indicative values are cleared, so that
    the next 7208 is taken: set-once would keep the indicative open all day, and "volume only grows" would keep
    an indicative quantity above the real volume until trading passed it."""
    st = core.Store(64)
    merge(st, seg, md(1, code=7208, trading_status=6, open_price=1000, volume_traded_today=5000))
    assert st[1].data_quality == QUALITY_WEIGHTS["volume"]
    recs = merge(st, seg, {"transaction_code": code, "records": [{"token": 1, "status": status}]})
    q = st[1]
    assert (q.trading_status, q.open_price, q.volume_traded_today) == (2, 0, 0)
    assert q.data_quality == 0                       # the score follows the volume it counts
    ch = changed_fields(recs)
    assert (ch["open_price"], ch["volume_traded_today"]) == (0, 0)
    merge(st, seg, md(1, code=7208, trading_status=2, open_price=1005, volume_traded_today=60))
    assert (st[1].open_price, st[1].volume_traded_today) == (1005, 60)   # the real volume, below the indicative
    merge(st, seg, {"transaction_code": code, "records": [{"token": 1, "status": [3] + status[1:]}]})
    merge(st, seg, {"transaction_code": code, "records": [{"token": 1, "status": status}]})
    assert (st[1].open_price, st[1].volume_traded_today) == (1005, 60)   # suspended -> open is no pre-open end


def test_fo_7210_trading_status(st):
    merge(st, "FO", {"transaction_code": 7210, "records": [{"token": 9, "status": [1, 2, 3, 4]}]})
    q = st[9]
    assert q.trading_status == 1 and q.market_status == (1, 2, 3, 4)
    merge(st, "FO", {"transaction_code": 7210, "records": [{"token": 9, "status": [2, 2, 3, 4]}]})
    assert st[9].trading_status == 2


# ---- 18708 ---------------------------------------------------------------------------------------------

def test_18708_buyback_overwrite(st):
    rec = {"token": 3, "symbol": "TCS", "series": "EQ", "pday_cum_vol": 1e6 + 0.4, "pday_high_price": 10,
           "pday_low_price": 9, "pday_wt_avg": 95, "cday_cum_vol": 2.6, "cday_high_price": 11,
           "cday_low_price": 8, "cday_wt_avg": 97, "start_date": 1000, "end_date": 2000}
    recs = merge(st, "CM", {"transaction_code": 18708, "log_time": 1500, "records": [rec]})
    q = st[3]
    assert (q.pday_cum_vol, q.cday_cum_vol) == (1_000_000, 3)
    assert (q.pday_high_price, q.pday_low_price, q.pday_wt_avg) == (10, 9, 95)
    assert (q.cday_high_price, q.cday_low_price, q.cday_wt_avg) == (11, 8, 97)
    assert (q.bb_start_date, q.bb_end_date, q.buyback_active) == (1000, 2000, 1)
    assert (q.symbol, q.series) == ("TCS", "EQ")
    assert {"buyback", "ident"} <= {g for _, g, _ in decode_records(recs)}
    rec2 = dict(rec, cday_cum_vol=1.0, cday_high_price=5)   # overwrite, not max
    merge(st, "CM", {"transaction_code": 18708, "log_time": 2500, "records": [rec2]})
    q = st[3]
    assert (q.cday_cum_vol, q.cday_high_price, q.buyback_active) == (1, 5, 0)   # past EndDate: inactive


def test_18708_nan_volume_is_zero(st):
    merge(st, "CM", {"transaction_code": 18708, "records": [{"token": 3, "pday_cum_vol": float("nan"),
                                                              "cday_cum_vol": float("inf")}]})
    assert (st[3].pday_cum_vol, st[3].cday_cum_vol) == (0, 0)


# ---- every update: time, source, count, quality, staleness ----------------------------------------------

def test_update_time_source_count(st):
    merge(st, "CM", md(1, last_traded_price=10), now_ns=T0)
    merge(st, "CM", tick(1, price=10), now_ns=T0 + 5)       # changes fill price only
    q = st[1]
    assert (q.last_update_ns, q.last_update_source, q.update_count) == (T0 + 5, 18703, 2)
    merge(st, "CM", tick(1, price=10), now_ns=T0 + 9)       # changes nothing: still an update
    q = st[1]
    assert (q.last_update_ns, q.update_count) == (T0 + 9, 3)


def test_quality_score_definition(st):
    w = QUALITY_WEIGHTS
    merge(st, "CM", md(1, last_traded_price=100))
    assert st[1].data_quality == w["ltp"]
    merge(st, "CM", md(1, mbp=mbp([(99, 1, 1)], [])))
    assert st[1].data_quality == w["ltp"] + w["book"]
    merge(st, "CM", md(1, mbp=mbp([], [(101, 1, 1)])))
    assert st[1].data_quality == w["ltp"] + w["book"] + w["two_sided"]
    merge(st, "CM", md(1, high_price=105, low_price=95, volume_traded_today=10, closing_price=98))
    assert st[1].data_quality == 100
    merge(st, "CM", md(2, mbp=mbp([(101, 1, 1)], [(100, 1, 1)])))     # crossed book: not two-sided
    assert st[2].data_quality == w["book"]


def test_staleness_visible_to_readers(st):
    merge(st, "CM", md(1, last_traded_price=100), now_ns=T0)
    assert not st.is_stale(1, now_ns=T0 + 4 * SEC)
    assert st.is_stale(1, now_ns=T0 + 6 * SEC)
    assert list(st.stale_tokens(now_ns=T0 + 6 * SEC)) == [1]
    assert st[1].stale                                 # T0 is in the past of the wall clock
    s2 = core.Store(10, stale_ns=10**18)
    merge(s2, "CM", md(1, last_traded_price=100), now_ns=T0)
    assert not s2[1].stale and s2.stale_ns == 10**18


# ---- subscription, master data, full store -------------------------------------------------------------

def test_subscription_flag_honoured(st):
    st.add(1, symbol="NIFTY", series="XX", segment="FO")
    st.add(2, subscribed=False)
    fh = core.FeedHandler("FO", st, subscribed_only=True)
    for t in (1, 2, 3):
        fh.merge_message(md(t, last_traded_price=50), now_ns=T0)
    assert st[1].last_traded_price == 50 and st[1].symbol == "NIFTY" and st[1].segment == 2
    assert st[2].last_traded_price == 0 and 3 not in st
    assert fh.stats["merge"]["unsubscribed"] == 2
    st.subscribe([2])
    fh.merge_message(md(2, last_traded_price=51), now_ns=T0)
    assert st[2].last_traded_price == 51
    st.subscribe(2, False)                      # one token works too
    assert st[2].subscribed == 0 and st[1].subscribed == 1
    fh.merge_message(md(2, last_traded_price=52), now_ns=T0)
    assert st[2].last_traded_price == 51
    with pytest.raises(KeyError):
        st.subscribe(3)


def test_full_store_is_counted_not_crashing():
    s = core.Store(2)
    fh = core.FeedHandler("CM", s)
    for t in (1, 2, 3):
        fh.merge_message(md(t, last_traded_price=5), now_ns=T0)
    assert len(s) == 2 and 3 not in s
    assert fh.stats["merge"]["store_full"] == 1
    with pytest.raises(StoreFullError):
        s.add(4)


def test_bad_token_counted(st):
    fh = core.FeedHandler("CM", st)
    fh.merge_message(md(0, last_traded_price=5), now_ns=T0)
    fh.merge_message(md(-5, last_traded_price=5), now_ns=T0)
    assert len(st) == 0 and fh.stats["merge"]["bad_token"] == 2


def test_merged_by_code_counters(st):
    fh = core.FeedHandler("FO", st)
    fh.merge_message(md(1, code=7208), now_ns=T0)
    fh.merge_message(tick(1, code=17202, price=3), now_ns=T0)
    fh.merge_message(tick(1, code=17202, price=4), now_ns=T0)
    s = fh.stats
    assert s["merged_by_code"][7208] == 1 and s["merged_by_code"][17202] == 2
    assert s["merge"]["merged"] == 3


def test_unknown_code_in_dict_is_an_error(st):
    with pytest.raises(ValueError):
        merge(st, "CM", {"transaction_code": 9999, "records": []})
    with pytest.raises(ValueError):
        merge(st, "CM", {"transaction_code": 7208, "records": [{"token": 1}] * 3})


@pytest.mark.parametrize("first,second", [("CM", "FO"), ("FO", "CM"), ("CM", "IDX"), ("IDX", "FO")])
def test_a_store_takes_one_segments_handlers(first, second):
    """Token numbers are per segment (CM 2885 and F&O 2885 are different instruments): the first handler sets
    the store's segment, and a handler of another segment on it is refused, so two feeds never merge into one
    record.  More handlers of the same segment are fine (one at a time drives the store)."""
    st = core.Store(16)
    core.FeedHandler(first, st).close()
    assert st.header["segment"] == {"CM": 4, "FO": 2, "IDX": 3}[first]
    with pytest.raises(ValueError, match=f"the store holds {first} records, not {second}: a store holds one feed"):
        core.FeedHandler(second, st)
    core.FeedHandler(first, st).close()
