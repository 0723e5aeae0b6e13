"""The simulated order book of vega._streams evolves like a real one.

Each instrument keeps a five-level book per side that changes by events (an order added, modified or
cancelled at a level, a new best price inside the spread, a trade taking the best level(s) of the other side),
not by a new random book at every broadcast.  These tests check the book invariants over long streams of both
segments (and the pre-open / auction phases), what each kind of event does to the book, the statistics of
what changes between two depth broadcasts of a token, and determinism.
"""
import collections
import copy
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vega import _streams as S
from vega import nse

DEPTH_CODES = (7200, 7208)


def check_book(bids, asks, lot, tick):
    """The invariants of a book given as ``[quantity, price, orders]`` levels."""
    assert len(bids) == len(asks) == S.LEVELS
    for q, p, n in bids + asks:
        assert p > 0 and p % tick == 0, (p, tick)
        assert q > 0 and q % lot == 0, (q, lot)
        assert 1 <= n <= q // lot, (n, q, lot)
    bp = [p for _, p, _ in bids]
    ap = [p for _, p, _ in asks]
    assert all(a > b for a, b in zip(bp, bp[1:])), bp              # bids strictly descending
    assert all(a < b for a, b in zip(ap, ap[1:])), ap              # asks strictly ascending
    assert bp[0] < ap[0], (bp, ap)                                  # never crossed nor locked


def record_book(rec):
    return [[x["quantity"], x["price"], x["number_of_orders"]] for x in rec["mbp"]]


def run_generator(seg, n_datagrams, seed, n_tokens=None, phases=False, index_oi=False, check_every=1):
    """Drive a _Generator datagram by datagram, checking every depth record and (every ``check_every``
    datagrams) every built book; returns the generator and the depth records seen ``(code, phase, rec)``."""
    gen = S._Generator(seg, seed, n_tokens, S._DEFAULT_DATE, S.SESSION_SECONDS, n_datagrams, 0.02, phases,
                       index_oi)
    by_token = {i.token: i for i in gen.instruments}
    seen = []
    for k in range(n_datagrams):
        for m in gen.datagram_messages():
            if m["transaction_code"] not in DEPTH_CODES:
                continue
            for r in m["records"]:
                ins = by_token[r["token"]]
                book = record_book(r)
                check_book(book[:5], book[5:], ins.lot, ins.tick)
                ltp = r["last_traded_price"]
                assert ltp > 0 and ltp % ins.tick == 0
                assert abs(book[0][1] - ltp) <= 10 * ins.tick, (book[0][1], ltp)   # the book is near the price
                seen.append((m["transaction_code"], gen.phase, r))
        if k % check_every == 0:
            for ins in gen.instruments:
                if not ins.dirty:
                    check_book(ins.bids, ins.asks, ins.lot, ins.tick)
    return gen, seen


@pytest.mark.parametrize("seg", nse.SEGMENTS)
def test_book_invariants_over_a_long_stream(seg):
    gen, seen = run_generator(seg, 3000, seed=21, check_every=50)
    assert len(seen) > 3000
    assert sum(not i.dirty for i in gen.instruments) > 300          # many books were built and evolved


@pytest.mark.parametrize("seg", nse.SEGMENTS)
def test_book_invariants_with_few_hot_tokens_phases_and_summaries(seg):
    # few tokens: each book goes through thousands of events (sweeps, rebuilds, the price floor)
    gen, seen = run_generator(seg, 2500, seed=5, n_tokens=12, phases=True, index_oi=True)
    phases = collections.Counter(p for _, p, _ in seen)
    assert phases["preopen"] > 50 and phases["auction"] > 20 and phases["open"] > 1000
    status = {p: {r["trading_status"] for _, q, r in seen if q == p} for p in phases}
    assert status == {"preopen": {1}, "auction": {6}, "open": {2}}
    assert all(r["auction_price"] == r["last_traded_price"] for _, p, r in seen if p == "auction")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seg=st.sampled_from(nse.SEGMENTS), seed=st.integers(0, 2**32 - 1), n_tokens=st.integers(1, 40),
       n_datagrams=st.integers(1, 300), phases=st.booleans())
def test_hypothesis_book_invariants(seg, seed, n_tokens, n_datagrams, phases):
    run_generator(seg, n_datagrams, seed, n_tokens=n_tokens, phases=phases)


def cheap_instrument(rng, seg="FO"):
    """An instrument at the price floor (deep out-of-the-money option-like: MIN_TICKS ticks)."""
    ins = S._Instrument(rng, seg, 40001, 1)
    ins.close = ins.ltp = ins.prev_ltp = S.MIN_TICKS * ins.tick
    return ins


def test_book_at_the_price_floor_stays_valid():
    rng = random.Random(3)
    for _ in range(40):
        ins = cheap_instrument(rng)
        ins.depth(rng)
        for _ in range(300):
            u = rng.random()
            if u < 0.5:
                ins.trade(rng, 0)
                ins.buyer = rng.random() < 0.2                  # mostly sellers: the price presses the floor
            elif u < 0.9:
                ins.requote(rng)
            else:
                ins.indicate(rng)
            check_book(ins.bids, ins.asks, ins.lot, ins.tick)
            assert ins.ltp > 0 and ins.ltp % ins.tick == 0


def test_price_away_from_the_book_rebuilds_it_around_the_price():
    rng, instruments = evolved_instruments(14, n=20)
    for ins in instruments:
        t = ins.tick
        ins.ltp = ins.asks[-1][1] + 40 * t                      # the indicative price jumped beyond the book
        ins.indicate(rng)
        check_book(ins.bids, ins.asks, ins.lot, ins.tick)
        assert ins.bids[-1][1] < ins.ltp < ins.asks[-1][1] and abs(ins.bids[0][1] - ins.ltp) <= 3 * t


def test_a_trade_sweeping_a_whole_side_rebuilds_the_book_at_its_price():
    rng, instruments = evolved_instruments(15, n=20)
    swept = 0
    for ins in instruments:
        for lv in ins.bids + ins.asks:                          # a thin book: one lot a level
            lv[0], lv[2] = ins.lot, 1
        bids, asks = snapshot(ins)
        vol = ins.volume
        ins.trade(rng, 0)
        taken = asks if ins.buyer else bids
        check_book(ins.bids, ins.asks, ins.lot, ins.tick)
        if ins.volume - vol >= 5 * ins.lot:                           # all five levels went
            swept += 1
            assert ins.ltp == taken[-1][1] and ins.ltq == ins.lot
            assert abs(ins.bids[0][1] - ins.ltp) <= ins.tick
    assert swept > 5


def snapshot(ins):
    return copy.deepcopy(ins.bids), copy.deepcopy(ins.asks)


def evolved_instruments(seed, n=60, events=40):
    """Instruments whose books went through some events already (not fresh books)."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        ins = S._Instrument(rng, "FO" if k % 2 else "CM", 40000 + k, 1)
        ins.depth(rng)
        for _ in range(events):
            ins.trade(rng, 0) if rng.random() < 0.5 else ins.requote(rng)
        out.append(ins)
    return rng, out


def test_trade_takes_its_quantity_from_the_best_levels_of_the_other_side():
    rng, instruments = evolved_instruments(11)
    checked = swept = 0
    for _ in range(60):
        for ins in instruments:
            bids, asks = snapshot(ins)
            vol = ins.volume
            ins.trade(rng, 0)
            qty = ins.volume - vol
            assert qty > 0 and qty % ins.lot == 0
            buy = ins.buyer
            taken, kept = (asks, bids) if buy else (bids, asks)
            side, other = (ins.asks, ins.bids) if buy else (ins.bids, ins.asks)
            price = ins.ltp
            assert price in [p for _, p, _ in taken]                # the last fill is at a price of the book
            assert 0 < ins.ltq <= qty
            if qty >= sum(q for q, _, _ in taken):
                swept += 1                                          # the whole side went: a new book
                continue
            checked += 1
            beyond = (lambda p: p <= price) if buy else (lambda p: p >= price)
            # the quantity taken is the trade's, all at or better than the last fill's price
            assert sum(q for q, p, _ in taken if beyond(p)) - sum(q for q, p, _ in side if beyond(p)) == qty
            # levels worse than the last fill's price are untouched and keep their order
            rest = [lv for lv in taken if not beyond(lv[1])]
            assert [lv for lv in side if lv in rest] == rest
            # the best level after the trade is the partly filled one, or the next one when it was emptied
            assert side[0][1] == price or all(lv[1] != price for lv in side)
            # the taker's side is unchanged, or makers step in with a new best between the book and the price
            if other != kept:
                assert (other[0][1] < price) if buy else (other[0][1] > price)
                assert (other[0][1] > kept[0][1]) if buy else (other[0][1] < kept[0][1])
    assert checked > 3000 and swept < checked / 100


def level_changes(before, after):
    """(levels whose quantity/price/orders changed, whether any price changed) between two books."""
    b = before[0] + before[1]
    a = after[0] + after[1]
    return sum(x != y for x, y in zip(b, a)), any(x[1] != y[1] for x, y in zip(b, a))


def test_requote_is_one_or_two_order_events_or_a_new_best():
    rng, instruments = evolved_instruments(12)
    kinds = collections.Counter()
    for _ in range(50):
        for ins in instruments:
            before = snapshot(ins)
            ltp, vol = ins.ltp, ins.volume
            ins.requote(rng)
            after = snapshot(ins)
            assert (ins.ltp, ins.volume) == (ltp, vol)              # nothing trades
            n, shift = level_changes(before, after)
            if shift:
                kinds["shift"] += 1
                for old, new in zip(before, after):                 # the levels still there are the old ones
                    prices = {p for _, p, _ in new}
                    kept = [lv for lv in old if lv[1] in prices]
                    assert len(kept) >= S.LEVELS - 2
                    changed = sum(lv not in old for lv in new)
                    assert changed <= 3                              # new levels and at most two order events
                continue
            assert n <= 2                                            # (two events may cancel out)
            kinds[n] += 1
            for old, new in zip(before, after):
                for (q0, _, n0), (q1, _, n1) in zip(old, new):
                    assert abs(n1 - n0) <= 2                         # an order (or two) more or less
    total = sum(kinds.values())
    assert kinds[0] / total < 0.02
    assert kinds[1] / total > 0.55                                  # usually one level
    assert 0.05 < kinds[2] / total < 0.35                           # sometimes two
    assert 0.03 < kinds["shift"] / total < 0.30                     # now and then the prices move


def test_a_new_best_price_appears_inside_a_wide_spread():
    rng, instruments = evolved_instruments(13)
    wide = inside = 0
    for ins in instruments:
        if ins.asks[0][1] - ins.bids[0][1] < 2 * ins.tick:
            continue
        wide += 1
        for _ in range(30):
            (bids, asks), b, a = snapshot(ins), ins.bids[0][1], ins.asks[0][1]
            ins.requote(rng)
            if b < ins.bids[0][1] < a and ins.bids[1:] == bids[:4] and ins.asks == asks:
                inside += 1
            elif b < ins.asks[0][1] < a and ins.asks[1:] == asks[:4] and ins.bids == bids:
                inside += 1
            else:
                continue
            break
    assert wide > 10 and inside > wide / 2


def depth_changes(seg, n_datagrams, seed):
    """Per 7208 record: (depth fields changed, levels changed, a price shifted) against the token's previous
    depth broadcast (7200 or 7208), as the store sees them."""
    prev, out = {}, []
    for _, m in S.sample_messages(seg, n_datagrams, seed=seed):
        if m["transaction_code"] not in DEPTH_CODES:
            continue
        for r in m["records"]:
            book = [(x["quantity"], x["price"], x["number_of_orders"]) for x in r["mbp"]]
            p = prev.get(r["token"])
            prev[r["token"]] = book
            if p is None or m["transaction_code"] != 7208:
                continue
            fields = sum(x[i] != y[i] for x, y in zip(p, book) for i in range(3))
            levels = sum(x != y for x, y in zip(p, book))
            out.append((fields, levels, any(x[1] != y[1] for x, y in zip(p, book))))
    return out


@pytest.mark.parametrize("seg", nse.SEGMENTS)
def test_depth_changes_between_broadcasts_are_realistic(seg):
    ch = depth_changes(seg, 3000, seed=7)
    n = len(ch)
    assert n > 3000
    mean_fields = sum(f for f, _, _ in ch) / n
    levels = collections.Counter(min(lv, 3) for _, lv, _ in ch)
    shift = sum(s for _, _, s in ch) / n
    # between two broadcasts of a token (order events, and the trades of the tickers in between): mostly
    # one or two levels; a price shift now and then, not every time (the old generator: ~27 fields, 100 %)
    assert mean_fields < 12
    assert (levels[1] + levels[2]) / n > 0.5
    assert levels[1] > levels[2] > levels[0]
    assert 0.05 < shift < 0.5


def test_stream_is_deterministic_and_versioned():
    assert S.STREAM_VERSION == 4 and "STREAM_VERSION" in S.__all__
    for seg in nse.SEGMENTS:
        kw = dict(seed=9, phases=True, index_oi=True, n_tokens=200)
        a = list(nse.sample_stream(seg, 400, **kw))
        assert a == list(nse.sample_stream(seg, 400, **kw))
        assert a != list(nse.sample_stream(seg, 400, **dict(kw, seed=10)))


def test_formats_md_names_the_current_stream_version():
    """docs/FORMATS.md describes the generator of one STREAM_VERSION: a new version updates it (it said 2 of the
    version-3 generator, whose pre-open 7200/7208 carry the indicative open and quantity)."""
    import pathlib
    import re
    doc = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "FORMATS.md").read_text()
    m = re.search(r"^### The simulated order book \(vega/_streams\.py, `STREAM_VERSION` = (\d+)\)$", doc, re.M)
    assert m, "FORMATS.md no longer has the simulated order book's heading"
    assert int(m.group(1)) == S.STREAM_VERSION


@pytest.mark.parametrize("seg", nse.SEGMENTS)
def test_preopen_carries_the_indicative_open_and_the_day_opens_at_the_equilibrium(seg):
    """PROTOCOL.md §3.3: in the pre-open (and the auction) a 7200/7208's OpenPrice is the indicative open and its
    VolumeTradedToday the indicative quantity; the market opens at the last equilibrium price.  Merged by VEGA
    (the pre-open rule takes the indicative open as it moves), every token that took part in the pre-open and
    traded after it holds that price as its open."""
    from vega import Decoder, FeedHandler, Store
    dec = Decoder(seg)
    dgs = list(nse.sample_stream(seg, 1500, seed=3, phases=True))
    equilibrium, first_open = {}, {}
    for dg in dgs:
        for m in dec.decode(dg):
            if m["transaction_code"] not in DEPTH_CODES:
                continue
            for r in m["records"]:
                if r["trading_status"] in (1, 6):
                    assert r["open_price"] == r["last_traded_price"] > 0 and r["volume_traded_today"] > 0
                    assert r["token"] not in first_open          # no pre-open after the open
                    equilibrium[r["token"]] = r["open_price"]
                elif r["open_price"] > 0:
                    first_open.setdefault(r["token"], r["open_price"])
    opened = [t for t in equilibrium if t in first_open]
    assert len(opened) > 100
    assert all(first_open[t] == equilibrium[t] for t in opened)
    store = Store(10_000)
    FeedHandler(seg, store).process_batch(dgs)
    assert [t for t in opened if store[t].open_price != equilibrium[t]] == []


@pytest.mark.parametrize("seg", nse.SEGMENTS)
@pytest.mark.parametrize("n,duration_s", [(2000, S.SESSION_SECONDS), (500, 600.0)])
def test_the_phases_keep_the_exchange_clock(seg, n, duration_s):
    """With phases the pre-open's 7208s fall in 09:00-09:08, the price discovery's in 09:08-09:15, and the open's
    from 09:15 to 09:15 + duration_s, whatever share of the datagrams each phase takes (version 3 spread every
    datagram over the whole clock: a session's pre-open ran until ~09:31)."""
    t915 = S.session_start_1980(S._DEFAULT_DATE)
    spans = {1: (t915 - 900, t915 - 420), 6: (t915 - 420, t915), 2: (t915, t915 + duration_s)}
    seen: dict[int, list[int]] = {1: [], 6: [], 2: []}
    last = 0
    for _, m in S.sample_messages(seg, n, 5, phases=True, duration_s=duration_s):
        last = max(last, m["log_time"])
        if m["transaction_code"] == 7208:
            for r in m["records"]:
                seen[r["trading_status"]].append(m["log_time"])
    for status, (lo, hi) in spans.items():
        ts = seen[status]
        assert ts and lo <= min(ts) and max(ts) < hi, (status, min(ts) - lo, hi - max(ts))
    # each phase fills its span: its first datagram near the span's start, its last near the end
    assert min(seen[1]) - spans[1][0] < 60 and spans[1][1] - max(seen[1]) < 60
    assert spans[6][1] - max(seen[6]) < 60 and spans[2][1] - duration_s / 20 < last < spans[2][1]
