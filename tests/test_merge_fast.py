"""The merge's fast paths (vega/_store.pxi, vega/_store.h): per-family change-record emitters, the quality
score recomputed only when a field it reads changed, the prefetching merge loop and the per-code counts
taken from the message's code slot.  Each is checked against an independent definition: the reference
emitter, a store rebuilt from the records, the quality formula of docs/FORMATS.md, one-record-per-message
merges, the codes of the messages merged."""
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from store_helpers import T0, SEC, MARKET_FIELDS
from vega import _core as core
from vega import nse
from vega.records import CHANGE_RECORD_DTYPE


def quality(a):
    """docs/FORMATS.md "Quality score", vectorised over a store snapshot."""
    ltp, bid, ask = a["last_traded_price"], a["bid_price"][:, 0], a["ask_price"][:, 0]
    low, high = a["low_price"], a["high_price"]
    return (25 * (ltp > 0) + 25 * ((bid > 0) | (ask > 0)) + 15 * ((bid > 0) & (ask > bid))
            + 15 * ((low > 0) & (low <= ltp) & (ltp <= high)) + 10 * (a["volume_traded_today"] > 0)
            + 10 * (a["close_price"] > 0))


def by_code(seg, n_datagrams=500, seed=5):
    out = defaultdict(list)
    dec = core.Decoder(seg)
    for dg in nse.sample_stream(seg, n_datagrams, seed=seed):
        for m in dec.decode(dg):
            if m["records"]:
                out[m["transaction_code"]].append(m)
    return out


def merge_packed(seg, msgs, reference=False, passes=3, capacity=20_000):
    """merge_packed over msgs `passes` times (a new receive time each pass): the records, the store and the
    merge counters.  reference=True takes the one-record merge functions and the reference emitter."""
    core._use_reference_emit(reference)
    try:
        store = core.Store(capacity)
        got = []
        fh = core.FeedHandler(seg, store, on_records=got.append)
        packed = core.pack_messages(seg, msgs)
        for p in range(passes):
            fh.merge_packed(packed, now_ns=T0 + p * 7 * SEC)
        recs = np.concatenate(got) if got else np.empty(0, CHANGE_RECORD_DTYPE)
        return recs, store, fh.stats["merge"]
    finally:
        core._use_reference_emit(False)


def market(store):
    snap = store.snapshot()
    return snap[np.argsort(snap["token"], kind="stable")][MARKET_FIELDS]


ROUTED = {7207, 7216, 8207, 7130, 17130}      # index and OI messages: another handler's merge (unrouted here)


@pytest.mark.parametrize("seg", ["FO", "CM"])
def test_merged_by_code_counts_each_merged_message_once(seg):
    """The merge counts a message under the code slot the decoder (process_batch) or pack_messages
    (merge_packed) stored in it: one count per merged message of each code, by either path."""
    stream = list(nse.sample_stream(seg, 400, seed=9))
    dec = core.Decoder(seg)
    msgs = [m for dg in stream for m in dec.decode(dg)]
    want = Counter(m["transaction_code"] for m in msgs if m["transaction_code"] not in ROUTED)
    assert len(want) >= (7 if seg == "FO" else 6)

    def counted(fh):
        return {c: n for c, n in fh.stats["merged_by_code"].items() if n}

    fh = core.FeedHandler(seg, core.Store(20_000))
    fh.process_batch(stream, now_ns=T0)
    assert counted(fh) == want
    fh = core.FeedHandler(seg, core.Store(20_000))
    fh.merge_packed(core.pack_messages(seg, msgs), repeat=2, now_ns=T0)
    assert counted(fh) == {c: 2 * n for c, n in want.items()}


@pytest.mark.parametrize("slot", [-1, 0, 16, 127])
def test_merge_packed_refuses_a_message_whose_code_slot_is_not_its_codes(slot):
    """merge_packed takes bytes: a message whose stored code slot is not its code's (the merge would count
    it in the wrong counter, or index past the last) is refused before anything is merged."""
    size, off, body = core._msg_layout()
    assert size % 8 == 0 and off < body
    msg = dict(nse.blank_message("FO", 7208, 1),
               records=[dict(nse.blank_record("FO", 7208), token=40_001, last_traded_price=100)])
    good = core.pack_messages("FO", [msg, msg])
    assert good[off] == 5 and good[size + off] == 5          # 7208's slot, in both messages
    bad = bytearray(good)
    bad[size + off] = slot & 0xFF
    store = core.Store(100)
    fh = core.FeedHandler("FO", store)
    with pytest.raises(ValueError, match=f"packed message 1 .* code slot {slot} does not belong to code 7208"):
        fh.merge_packed(bytes(bad), now_ns=T0)
    assert len(store) == 0 and fh.stats["merge"]["merged"] == 0
    assert fh.merge_packed(good, now_ns=T0) == 2 and fh.stats["merged_by_code"][7208] == 2


@pytest.mark.parametrize("seg", ["FO", "CM"])
def test_every_code_records_rebuild_the_store_and_equal_the_reference(seg):
    groups = by_code(seg)
    assert {7200, 7201, 7208, 7210, 6013} <= set(groups)
    for code, msgs in sorted(groups.items()):
        recs, live, _ = merge_packed(seg, msgs)
        ref, ref_store, _ = merge_packed(seg, msgs, reference=True)
        assert len(recs) > 0, code
        assert recs.tobytes() == ref.tobytes(), code
        snap = live.snapshot()
        assert (snap["data_quality"] == quality(snap)).all(), code
        rebuilt = core.Store(20_000)
        rebuilt.apply_records(recs, day_base_ns=live.header["day_base_ns"])
        assert (market(rebuilt) == market(live)).all(), code       # data_quality included (apply recomputes)
        assert (market(ref_store) == market(live)).all(), code


@pytest.mark.parametrize("seg", ["FO", "CM"])
def test_mixed_feed_quality_is_always_current(seg):
    """Every code interleaved, with receive times that make 7200/7208 go stale and fresh again: the score
    the merge keeps equals the formula for every token, and the rebuilt store agrees."""
    msgs = [m for ms in by_code(seg, 400, seed=9).values() for m in ms]
    rng = np.random.default_rng(1)
    order = rng.permutation(len(msgs))
    store = core.Store(20_000)
    got = []
    fh = core.FeedHandler(seg, store, on_records=got.append)
    for j, i in enumerate(order):
        fh.merge_message(msgs[i], now_ns=T0 + j * (SEC // 2))
    snap = store.snapshot()
    assert len(snap) > 100
    assert (snap["data_quality"] == quality(snap)).all()
    rebuilt = core.Store(20_000)
    rebuilt.apply_records(np.concatenate(got), day_base_ns=store.header["day_base_ns"])
    assert (market(rebuilt) == market(store)).all()


def _tick_record(tok, i):
    return {"token": tok, "market_type": 1 + i % 2, "fill_price": 1000 + 7 * i, "fill_volume": 10 + i,
            "open_interest": 500 + i, "day_hi_oi": 900 + i, "day_lo_oi": 100 + (i % 3)}


@pytest.mark.parametrize("seg,code,n_max", [("CM", 18703, 28), ("FO", 7202, 17), ("FO", 17202, 12)])
def test_many_record_message_equals_one_record_messages(seg, code, n_max):
    """The merge loop prefetches records ahead within a message: tokens not yet in the store, repeated
    tokens, tokens past the dense table (hash lookup) and bad tokens must merge exactly as when each
    record comes in its own message."""
    toks = [5, 5, 7, 300_000, 0, -3, 5, 12, 300_000, 7, 2**31 - 1, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
            24, 25, 26, 27, 28, 29][:n_max]
    recs = [_tick_record(t, i) for i, t in enumerate(toks)]
    many = [{"transaction_code": code, "records": recs}]
    one = [{"transaction_code": code, "records": [r]} for r in recs]
    a_recs, a, _ = merge_packed(seg, many, passes=2)
    b_recs, b, _ = merge_packed(seg, one, passes=2)
    assert a_recs.tobytes() == b_recs.tobytes()
    assert (market(a) == market(b)).all()
    assert sorted(set(t for t in toks if t > 0)) == sorted(int(t) for t in a.snapshot()["token"])


def _mw_record(tok, i):
    info = {"buy_price": 100 + i, "buy_volume": 5 + i, "sell_price": 110 + 2 * i, "sell_volume": 7,
            "last_trade_price": 105 + (i % 4), "last_trade_time": 1000 + i, "indicator": {"buy": i % 2}}
    return {"token": tok, "market_wise_info": [info, {}, {}], "open_interest": 40 + 3 * i}


def _spos_record(tok, i):
    return {"token": tok, "buy_ord_cxl_count": i, "buy_ord_cxl_vol": 10 * i, "sell_ord_cxl_count": 2 * i,
            "sell_ord_cxl_vol": 1 << (30 + i % 5)}


def _status_record(tok, i):
    return {"token": tok, "status": [(1, 2, 4, 6)[i % 4], i % 3, 0, 2]}


TOKENS = [5, 5, 7, 300_000, 0, -3, 5, 12, 300_000, 7, 2**31 - 1, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
          25, 26, 27, 28, 29]


@pytest.mark.parametrize("seg,code,make,n_max", [
    ("CM", 18703, _tick_record, 28), ("FO", 7202, _tick_record, 17), ("FO", 17202, _tick_record, 12),
    ("CM", 7201, _mw_record, 5), ("FO", 7201, _mw_record, 5), ("FO", 17201, _mw_record, 5),
    ("CM", 7210, _spos_record, 8), ("FO", 7210, _status_record, 25)])
@pytest.mark.parametrize("capacity", [20_000, 3])
def test_per_message_loop_equals_the_one_record_merges(seg, code, make, n_max, capacity):
    """_batch_loop (one loop per ticker, market-watch or 7210 message) against the one-record merge
    functions with the reference emitter: bad, repeated, new and sparse tokens, several messages over the
    same tokens, and a store that fills up part way through a message.  Same records, stores, counters."""
    msgs = [{"transaction_code": code, "log_time": 1_300_000_000 + j,
             "records": [make(TOKENS[(j + i) % len(TOKENS)], 3 * j + i) for i in range(n_max)]}
            for j in range(4)]
    a_recs, a, a_count = merge_packed(seg, msgs, passes=2, capacity=capacity)
    b_recs, b, b_count = merge_packed(seg, msgs, reference=True, passes=2, capacity=capacity)
    assert len(a_recs) > 0
    assert a_recs.tobytes() == b_recs.tobytes()
    assert (market(a) == market(b)).all()
    assert a_count == b_count
    assert a_count["bad_token"] > 0 and (a_count["store_full"] > 0) == (capacity == 3)


I64 = st.one_of(st.integers(-2**63, 2**63 - 1), st.sampled_from([0, 1, 2**32, 2**32 + 1, -1, 1 << 40]))
I32 = st.one_of(st.integers(-2**31, 2**31 - 1), st.sampled_from([0, 1, -1]))
I16 = st.one_of(st.integers(-2**15, 2**15 - 1), st.sampled_from([0, 1, -1]))
LEVEL = st.tuples(I64, I32, I16, I16)                # quantity, price, orders, buy-back flag (not merged)


def test_mbp_layout_is_what_vg_set_side_assumes():
    assert core._mbp_layout() == (16, 0, 8, 12)


@settings(max_examples=400, deadline=None)
@given(old=st.tuples(st.lists(I32, min_size=5, max_size=5), st.lists(I64, min_size=5, max_size=5),
                     st.lists(I16, min_size=5, max_size=5)),
       new=st.lists(LEVEL, min_size=5, max_size=5), same=st.lists(st.booleans(), min_size=15, max_size=15),
       zero=st.booleans())
def test_simd_side_replacement_equals_scalar(old, new, same, zero):
    """vg_set_side / vg_side_has_data (SSE2) against the scalar _set_side / _side_has_data: the stored
    side, the changed-field mask and the has-data test, for values that partly equal the old ones."""
    if zero:
        new = [(0, 0, 0, flag) for _, _, _, flag in new]   # only the (ignored) buy-back flag may be set
    new = [(old[1][i] if same[5 + i] else q, old[0][i] if same[i] else p, old[2][i] if same[10 + i] else o, f)
           for i, (q, p, o, f) in enumerate(new)]
    fast, scalar = core._set_side_pair(old, new)
    assert fast == scalar
    assert fast[2] == any(q or p or o for q, p, o, _ in new)
