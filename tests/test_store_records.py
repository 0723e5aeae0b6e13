"""Change records: the live store equals the store rebuilt from its emitted records, field by field
(hypothesis over random message sequences of both segments); keyframes; apply_records on bad input."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import vega._core as core
from vega.records import CHANGE_RECORD_DTYPE, CONTINUED, KEYFRAME, timestamps
from store_helpers import SEC, T0, by_token, market_equal, md, mbp, merge, tick

TOKENS = st.sampled_from([1, 2, 3, 40, 63, 64, 65, 1000, 35000, 2_000_000])   # dense (< 64) and overflow
PRICE = st.sampled_from([0, 0, -1, 1, 95, 100, 105, 2_000_000_000])
QTY = st.sampled_from([0, 1, 7, 1 << 20, 1 << 40])
SMALL = st.integers(-3, 7)


@st.composite
def md_msg(draw, seg):
    level = st.tuples(PRICE, QTY, st.integers(0, 50))
    code = draw(st.sampled_from([7200, 7208]))
    rec = {"token": draw(TOKENS), "book_type": draw(st.sampled_from([1, 1, 2, 3])),
           "trading_status": draw(st.sampled_from([0, 1, 2, 2, 3, 4, 6])),
           "volume_traded_today": draw(QTY), "last_traded_price": draw(PRICE),
           "net_change_indicator": draw(st.sampled_from(["", "+", "-", " "])),
           "net_price_change_from_closing_price": draw(SMALL), "last_trade_quantity": draw(SMALL),
           "last_trade_time": draw(SMALL), "average_trade_price": draw(PRICE),
           "auction_number": draw(st.sampled_from([0, 0, 3])), "auction_status": draw(SMALL),
           "initiator_type": draw(SMALL), "initiator_price": draw(PRICE), "initiator_quantity": draw(SMALL),
           "auction_price": draw(PRICE), "auction_quantity": draw(SMALL),
           "bb_total_buy_flag": draw(st.integers(0, 3)), "bb_total_sell_flag": draw(st.integers(0, 3)),
           "total_buy_quantity": draw(QTY), "total_sell_quantity": draw(QTY),
           "indicator": {"last_trade_more": draw(st.booleans()), "sell": draw(st.booleans())},
           "closing_price": draw(PRICE), "open_price": draw(PRICE), "high_price": draw(PRICE),
           "low_price": draw(PRICE), "indicative_close_price": draw(PRICE),
           "mbp": mbp(draw(st.lists(level, max_size=5)), draw(st.lists(level, max_size=5)))}
    return {"transaction_code": code, "records": [rec]}


@st.composite
def mw_msg(draw, seg):
    info = {"buy_price": draw(PRICE), "buy_volume": draw(QTY), "sell_price": draw(PRICE),
            "sell_volume": draw(QTY), "last_trade_price": draw(PRICE), "last_trade_time": draw(SMALL),
            "indicator": {"buy": draw(st.booleans())}}
    code = 7201 if seg == "CM" else draw(st.sampled_from([7201, 17201]))
    return {"transaction_code": code, "records": [{"token": draw(TOKENS), "market_wise_info": [info],
                                                   "open_interest": draw(QTY)}]}


@st.composite
def tick_msg(draw, seg):
    code = 18703 if seg == "CM" else draw(st.sampled_from([7202, 17202]))
    recs = [{"token": draw(TOKENS), "market_type": draw(st.integers(0, 4)), "fill_price": draw(PRICE),
             "fill_volume": draw(SMALL), "open_interest": draw(QTY), "day_hi_oi": draw(QTY),
             "day_lo_oi": draw(QTY)} for _ in range(draw(st.integers(1, 3)))]
    return {"transaction_code": code, "records": recs}


@st.composite
def other_msg(draw, seg):
    tok = draw(TOKENS)
    if seg == "FO":
        return {"transaction_code": 7210, "records": [{"token": tok, "status": draw(st.lists(
            st.integers(0, 6), min_size=4, max_size=4))}]}
    kind = draw(st.sampled_from(["spos", "buyback", "open"]))
    if kind == "spos":
        return {"transaction_code": 7210, "log_time": draw(SMALL), "records": [
            {"token": tok, "buy_ord_cxl_count": draw(QTY), "buy_ord_cxl_vol": draw(QTY),
             "sell_ord_cxl_count": draw(QTY), "sell_ord_cxl_vol": draw(QTY)}]}
    if kind == "buyback":
        return {"transaction_code": 18708, "log_time": draw(st.integers(0, 3000)), "records": [
            {"token": tok, "symbol": draw(st.sampled_from(["", "TCS", "RELIANCE"])), "series": "EQ",
             "pday_cum_vol": float(draw(QTY)), "pday_high_price": draw(PRICE), "cday_cum_vol": float(draw(QTY)),
             "cday_low_price": draw(PRICE), "start_date": draw(st.integers(0, 2000)),
             "end_date": draw(st.integers(0, 3000))}]}
    return {"transaction_code": 6013, "records": [{"token": tok, "symbol": draw(st.sampled_from(["", "INFY"])),
                                                   "series": "EQ", "opening_price": draw(PRICE)}]}


def messages(seg):
    one = st.one_of(md_msg(seg), md_msg(seg), mw_msg(seg), tick_msg(seg), other_msg(seg))
    return st.lists(st.tuples(one, st.sampled_from([0, 1, SEC, 7 * SEC])), min_size=1, max_size=60)


def run_live(seg, msgs, capacity=64):
    live = core.Store(capacity, dense_tokens=64)
    got = []
    fh = core.FeedHandler(seg, live, on_records=got.append)
    now = T0
    for msg, dt in msgs:
        now += dt
        fh.merge_message(msg, now_ns=now)
    recs = np.concatenate(got) if got else np.empty(0, CHANGE_RECORD_DTYPE)
    return live, recs


@pytest.mark.parametrize("seg", ["CM", "FO"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rebuilt_store_equals_live_store(seg, data):
    msgs = data.draw(messages(seg))
    live, recs = run_live(seg, msgs)
    rebuilt = core.Store(64, dense_tokens=0)            # other lookup path: everything in the overflow table
    rebuilt.apply_records(recs, day_base_ns=live.header["day_base_ns"])
    market_equal(by_token(live.snapshot()), by_token(rebuilt.snapshot()))
    assert rebuilt.header["segment"] == (live.header["segment"] if len(recs) else 0)     # the feed's store
    # keyframes of the live store, applied over a store holding other state, reproduce it too
    dirty = core.Store(64)
    for t in live:
        merge(dirty, seg, md(t, last_traded_price=7, high_price=999, auction_number=4,
                             mbp=mbp([(1, 2, 3)] * 5, [(4, 5, 6)] * 5)))
    dirty.apply_records(live.keyframe_records(123))
    market_equal(by_token(live.snapshot()), by_token(dirty.snapshot()))


def _without_seq(snap):
    out = snap.copy()
    out["seq"] = 0
    return out


def test_a_store_rebuilt_from_records_is_their_segment_s_store():
    """A store rebuilt by apply_records (vega.replay, Journal.snapshot_at) takes the segment its records carry,
    as a FeedHandler names the store it merges into: its header said 0 (no segment), so a FeedHandler of another
    segment merged into it, and load_instruments without a segment asked for one."""
    live, recs = run_live("FO", [(md(35001, last_traded_price=100), SEC), (tick(35002, 7202, price=5, volume=3), SEC)])
    rebuilt = core.Store(64)
    assert rebuilt.header["segment"] == 0
    first = int(np.argmax((recs["flags"] & CONTINUED) == 0)) + 1      # the first update's records
    rebuilt.apply_records(recs[:first])
    assert rebuilt.header["segment"] == live.header["segment"] == 2
    rebuilt.apply_records(recs[first:])
    market_equal(by_token(live.snapshot()), by_token(rebuilt.snapshot()))
    with pytest.raises(ValueError, match="holds FO records, not CM"):
        core.FeedHandler("CM", rebuilt)
    core.FeedHandler("FO", rebuilt)
    cm = core.Store(64)
    cm.apply_records(run_live("CM", [(md(11, last_traded_price=100), SEC)])[1])
    assert cm.header["segment"] == 4                    # (VG_SEG_CM: the wire value)


@pytest.mark.parametrize("seg", ["CM", "FO"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_checkpoint_between_the_records_changes_nothing(seg, data):
    """Records, a checkpoint of the state they built, then more records (a journal's day): applied, they
    give the store the records alone give, byte for byte but the sequence locks -- last update times and
    sources, counts and last_md_ns included.  Before, the checkpoint stamped every token with its own time
    and source, and reset counts and last_md_ns, so a replayed day disagreed with the live store."""
    first, second = data.draw(messages(seg)), data.draw(messages(seg))
    live, recs = run_live(seg, first + second)
    n_first = len(run_live(seg, first)[1])             # the merge is deterministic: the first part's records
    head = core.Store(64)
    head.apply_records(recs[:n_first], day_base_ns=live.header["day_base_ns"])
    kf = head.keyframe_records(ts_ns=(T0 + 86400 * SEC) % (86400 * SEC))    # stamped apart from every record
    plain, with_kf = core.Store(64), core.Store(64)
    plain.apply_records(recs, day_base_ns=live.header["day_base_ns"])
    with_kf.apply_records(np.concatenate([recs[:n_first], kf, recs[n_first:]]),
                          day_base_ns=live.header["day_base_ns"])
    assert (by_token(_without_seq(with_kf.snapshot())) == by_token(_without_seq(plain.snapshot()))).all()


def test_a_keyframe_that_changes_a_token_stamps_it_and_counts_on():
    """Over other state, a keyframe update is an update: the checkpoint's time and source, the count one
    more than before, last_md_ns kept; tokens it leaves as they were keep their own metadata."""
    s = core.Store(10)
    merge(s, "CM", md(1, last_traded_price=100), now_ns=T0)
    merge(s, "CM", md(2, last_traded_price=200), now_ns=T0 + SEC)
    kf = s.keyframe_records(ts_ns=5 * SEC)
    other = core.Store(10)
    base = s.header["day_base_ns"]
    other.apply_records(s.keyframe_records(ts_ns=1), day_base_ns=base)
    merge(other, "CM", md(2, code=7208, last_traded_price=201), now_ns=T0 + 2 * SEC)
    merge(other, "CM", tick(2, price=202, volume=1), now_ns=T0 + 3 * SEC)
    before = by_token(other.snapshot())
    other.apply_records(kf, day_base_ns=base)
    after = by_token(other.snapshot())
    one, two = after[after["token"] == 1][0], after[after["token"] == 2][0]
    assert (one["last_update_ns"], one["update_count"]) == (before[before["token"] == 1][0]["last_update_ns"], 1)
    b2 = before[before["token"] == 2][0]
    assert two["last_traded_price"] == 200
    assert (two["last_update_ns"], two["last_update_source"]) == (base + 5 * SEC, 7200)
    assert two["update_count"] == b2["update_count"] + 1 == 4
    assert two["last_md_ns"] == base + 5 * SEC          # a 7200-sourced update, as every 7200/7208 update
    assert b2["last_md_ns"] == T0 + 2 * SEC             # (the 7208 merge's)


@pytest.mark.parametrize("seg", ["CM", "FO"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_keyframes_name_exactly_the_non_zero_fields(seg, data):
    """Each keyframe update carries every non-zero field of its record (and the segment), nothing else, with
    its value: checked against the snapshot through the group table of vega.store, not the C code."""
    from vega.records import explode
    from vega.store import GROUPS
    live, _ = run_live(seg, data.draw(messages(seg)))
    snap = live.snapshot()
    rows = explode(live.keyframe_records(123))
    got = {(int(r["token"]), str(r["field"])): int(r["value"]) for r in rows}
    assert len(got) == len(rows)                        # no field twice
    want = {}
    for rec in snap:
        tok = int(rec["token"])
        for g, (gname, fields) in GROUPS.items():
            if gname in ("index", "ident"):             # index: index records only; ident: raw symbol chunks
                continue
            for f in fields:
                name, _, idx = f.partition("[")
                v = rec[name][int(idx[:-1])] if idx else rec[name]
                v = int(v) if not isinstance(v, bytes) else (v[0] if v else 0)     # net_change_indicator: S1
                if v:
                    want[tok, f] = v
        want[tok, "segment"] = int(rec["segment"])
    got_market = {k: v for k, v in got.items() if not k[1].startswith(("symbol", "subscribed"))}
    assert got_market == want


def test_records_name_exactly_the_changed_fields():
    s = core.Store(10)
    merge(s, "CM", md(1, last_traded_price=100, volume_traded_today=5))
    recs = merge(s, "CM", md(1, last_traded_price=101, volume_traded_today=5), now_ns=T0 + 7)
    assert len(recs) == 1
    r = recs[0]
    assert (r["token"], r["group"], r["mask"], r["source"], r["flags"]) == (1, 1, 1, 7200, 0)
    assert list(r["slots"]) == [101, 0, 0, 0]
    assert timestamps(recs)[0] == (T0 + 7 + 19800 * SEC) % (86400 * SEC)


def test_continued_flag_on_all_but_last_record_of_an_update():
    s = core.Store(10)
    recs = merge(s, "CM", md(1, last_traded_price=100, mbp=mbp([(1, 2, 3)] * 5, [(4, 5, 6)] * 5)))
    assert len(recs) > 5
    assert all(r["flags"] & CONTINUED for r in recs[:-1]) and not recs[-1]["flags"] & CONTINUED
    assert len({int(r["token"]) for r in recs}) == 1


def test_eight_byte_fields_take_two_slots_low_word_first():
    s = core.Store(10)
    recs = merge(s, "CM", md(1, volume_traded_today=(5 << 32) | 7))
    trade = [r for r in recs if r["group"] == 1][0]
    assert trade["mask"] == 1 << 3 and list(trade["slots"][:2]) == [7, 5]


def test_keyframe_records_flagged_and_apply_resets_token():
    s = core.Store(10)
    merge(s, "CM", md(1, last_traded_price=100, mbp=mbp([(99, 1, 1)], [(101, 1, 1)])))
    kf = s.keyframe_records(ts_ns=55)
    assert all(r["flags"] & KEYFRAME for r in kf) and set(timestamps(kf)) == {55}
    other = core.Store(10)
    merge(other, "CM", md(1, last_traded_price=7, high_price=900, mbp=mbp([(1, 1, 1)] * 5, [])))
    other.apply_records(kf)
    market_equal(s.snapshot(), other.snapshot())      # high_price and the old depth were reset


def test_apply_records_rejects_bad_records_clearly():
    s = core.Store(10)
    good = merge(core.Store(10), "CM", md(1, last_traded_price=100))
    bad = good.copy()
    bad[0]["group"] = 99
    with pytest.raises(ValueError, match="record 0: unknown group"):
        s.apply_records(bad)
    bad = good.copy()
    bad[0]["mask"] = 0xFFFF
    with pytest.raises(ValueError, match="mask"):
        s.apply_records(bad)
    bad = good.copy()
    bad[0]["token"] = 0
    with pytest.raises(ValueError, match="bad token"):
        s.apply_records(bad)
    with pytest.raises(ValueError, match="32-byte"):
        s.apply_records(b"\0" * 33)
    with pytest.raises(TypeError):
        s.apply_records(np.zeros(3, dtype=np.int64))
    two = np.concatenate([good, good])
    two[0]["flags"] |= CONTINUED
    two[1]["token"] = 2
    with pytest.raises(ValueError, match="CONTINUED"):
        s.apply_records(two)
    full = core.Store(1)
    many = np.concatenate([merge(core.Store(10), "CM", md(t, last_traded_price=1)) for t in (1, 2)])
    from vega.store import StoreFullError
    with pytest.raises(StoreFullError):
        full.apply_records(many)
    assert s.apply_records(good) == 1 and s.ltp(1) == 100
    assert s.apply_records(good.tobytes()) == 1


def test_apply_records_needs_the_writer():
    s = core.Store(10)
    ro = core.Store.__new__(core.Store)
    with pytest.raises(ValueError):
        ro.apply_records(np.empty(0, CHANGE_RECORD_DTYPE))
    assert s.apply_records(np.empty(0, CHANGE_RECORD_DTYPE)) == 0


def test_a_day_base_given_to_apply_records_is_the_store_s_day_and_the_default_of_later_calls():
    """docs/FORMATS.md 3.4: ``day_base_ns`` given becomes the store's trading day (``header["day_base_ns"]``;
    the docstring named an ``info()`` that Store does not have), and a later call without it stamps on that day,
    not on today's 00:00 IST."""
    base = 1_763_577_000_000_000_000                     # 2025-11-20 00:00 IST
    recs = np.zeros(2, CHANGE_RECORD_DTYPE)
    recs["token"], recs["group"], recs["mask"], recs["source"] = 5, 1, 1, 7208     # trade group: LTP only
    recs["slots"][:, 0] = [100, 101]
    recs["ts_lo"] = [1_000, 2_000]
    s = core.Store(8)
    assert s.apply_records(recs[:1], day_base_ns=base) == 1
    assert s.header["day_base_ns"] == base and s[5].last_update_ns == base + 1_000
    assert s.apply_records(recs[1:]) == 1
    assert s[5].last_traded_price == 101 and s[5].last_update_ns == base + 2_000
