"""The simulated market's index broadcasts (CM 7207 / 7216 / 8207) and open interest per underlying (F&O 7130 /
17130): present, decoded by vega without errors, consistent with the F&O universe and with the per-contract open
interest of the same stream, deterministic, and accounted for in the simulator's Expected."""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import pytest

import vega
from vega import _streams
from vega.instruments import SEG_CM, SEG_FO
from vega.simulator import Simulator

N = 3000                                  # datagrams per segment: a 40 minutes' slice of the session per ~300
SEED = 21
INDEX_CODES = set(_streams.INDEX_CODES)
OI_CODES = set(_streams.OI_CODES)
SUMMARY = INDEX_CODES | OI_CODES
F_AND_O_INDICES = {"Nifty 50": "NIFTY", "Nifty Bank": "BANKNIFTY", "Nifty Fin Service": "FINNIFTY"}
ALL_INDEX_NAMES = ["Nifty 50", "Nifty Bank", "Nifty Fin Service", "Nifty Next 50", "Nifty IT", "Nifty Midcap 50"]


def _decode_all(segment, datagrams):
    """Decode every datagram with vega; (messages per datagram, decoder stats)."""
    dec = vega.Decoder(segment)
    out = [dec.decode(d) for d in datagrams]
    return out, dec.stats


@pytest.fixture(scope="module")
def sim():
    s = Simulator(["FO", "CM"], N, seed=SEED, phases=True)
    s.generate()
    decoded = {}
    for seg in s.segments:
        per_dgram, stats = _decode_all(seg, s.datagrams[seg])
        assert not any(stats["errors"].values()), stats["errors"]
        decoded[seg] = [m for ms in per_dgram for m in ms]
    return s, decoded


def _ist_1980(hh, mm):
    return int((dt.datetime.combine(_streams._DEFAULT_DATE, dt.time(hh, mm)) - _streams.EPOCH_1980).total_seconds())


# ---------------------------------------------------------------------------------------------------------
# CM: 7207 / 7216 / 8207
# ---------------------------------------------------------------------------------------------------------

def test_index_messages_present_and_well_formed(sim):
    s, dec = sim
    msgs = dec["CM"]
    codes = Counter(m["transaction_code"] for m in msgs)
    # 7207 about every INDEX_EVERY datagrams, 7216 every VIX_EVERY, 8207 only near the close
    assert N // _streams.INDEX_EVERY - 3 <= codes[7207] <= N // _streams.INDEX_EVERY + 1
    assert N // _streams.VIX_EVERY - 2 <= codes[7216] <= N // _streams.VIX_EVERY + 1
    assert 1 <= codes[8207] < codes[7207] // 5
    for m in msgs:
        code = m["transaction_code"]
        if code not in INDEX_CODES:
            continue
        assert m["compressed"] is False                          # not in the CM compressed list: sent plain
        assert m["stream"] == _streams.INDEX_STREAM and m["bc_seq_no"] > 0
        names = [r["index_name"] for r in m["records"]]
        assert names == (["India VIX"] if code == 7216 else ALL_INDEX_NAMES)
        assert all(r["wire_stride"] == 72 for r in m["records"])          # the exchange's 72-byte record
        assert m["message_length"] == 42 + 72 * len(names)                 # 474 for a full 7207 / 8207
        assert m["time_stamp2"] >> 16 == m["log_time"]


def test_index_stream_sequence_numbers_have_no_gaps(sim):
    s, dec = sim
    last = {}
    for m in dec["CM"]:
        st = m["stream"]
        if st in last:
            assert m["bc_seq_no"] == last[st] + 1, (m["transaction_code"], st)
        last[st] = m["bc_seq_no"]
    assert len(last) == _streams.N_STREAMS["CM"]


def test_index_values_follow_the_f_and_o_universe_spot(sim):
    s, dec = sim
    prev, last = {}, {}
    seen = Counter()
    band = _streams.INDEX_BAND
    for m in dec["CM"]:
        if m["transaction_code"] not in (7207, 7216):
            continue
        for r in m["records"]:
            name, v = r["index_name"], r["index_value"]
            seen[name] += 1
            if name in F_AND_O_INDICES:
                spot = _streams._INDICES[F_AND_O_INDICES[name]][0] * 100          # index x 100
                assert abs(v / spot - 1) <= band + 1e-6, (name, v, spot)
            if name == "India VIX":
                assert 1300 <= v <= 1600 and r["market_capitalisation"] == 0.0
                assert r["no_of_upmoves"] == r["no_of_downmoves"] == 0
            else:
                n = _streams._CONSTITUENTS.get(name, 50 if "50" in name else 10)
                assert r["no_of_upmoves"] + r["no_of_downmoves"] <= n
                # market capitalisation moves with the index (a constant per point)
                assert r["market_capitalisation"] == pytest.approx(v / 100 * _streams._MCAP_PER_POINT[name])
            close = r["closing_index"]
            assert r["yearly_low"] < r["low_index_value"] <= v <= r["high_index_value"] < r["yearly_high"]
            assert r["low_index_value"] <= r["opening_index"] <= r["high_index_value"]
            assert abs(r["percent_change"] - (v - close) * 10000 / close) <= 0.5   # percent x 100 vs close
            # NetChangeIndicator: vs the previous value broadcast (the previous close for the first)
            p = prev.get(name, close)
            assert r["net_change_indicator"] == ("+" if v > p else "-" if v < p else " ")
            # the day's high and low only widen; the closing index (yesterday's) and the year's range are fixed
            if name in prev:
                q = last[name]
                assert r["high_index_value"] >= q["high_index_value"] and r["low_index_value"] <= q["low_index_value"]
                assert (r["closing_index"], r["yearly_high"], r["yearly_low"]) == \
                       (q["closing_index"], q["yearly_high"], q["yearly_low"])
            prev[name] = v
            last[name] = r
    assert set(seen) == set(ALL_INDEX_NAMES) | {"India VIX"}
    # the values do move, both ways
    moves = Counter(r["net_change_indicator"] for m in dec["CM"] if m["transaction_code"] == 7207 for r in m["records"])
    assert moves["+"] > 10 and moves["-"] > 10


def test_opening_index_is_indicative_in_the_pre_open_then_fixed(sim):
    s, dec = sim
    pre, post = [], []
    opened = False                      # the market is open from the first 7208 with TradingStatus 2 on
    for m in dec["CM"]:
        code = m["transaction_code"]
        if code == 7208 and not opened:
            opened = any(r["trading_status"] == _streams.TRADING_STATUS["open"] for r in m["records"])
        if code == 7207:
            (post if opened else pre).append(m["records"][0])
    assert len(pre) >= 3 and len(post) >= 3
    # in the pre-open the opening index is the indicative value itself
    assert all(r["opening_index"] == r["index_value"] for r in pre)
    # once open it stays at the last indicative value (the pre-open equilibrium)
    assert all(r["opening_index"] == pre[-1]["index_value"] for r in post)
    assert len({r["index_value"] for r in post}) > 3


def test_indicative_indices_only_in_the_last_half_hour(sim):
    s, dec = sim
    msgs = dec["CM"]
    start = _ist_1980(15, 0)                   # the session closes at 15:30 IST; 8207 in its last half hour
    i8207 = [k for k, m in enumerate(msgs) if m["transaction_code"] == 8207]
    assert i8207
    assert all(msgs[k]["log_time"] >= start for k in i8207)
    assert any(m["log_time"] >= start for m in msgs if m["transaction_code"] == 7207)
    assert any(m["log_time"] < start for m in msgs if m["transaction_code"] == 7207)
    for k in i8207:
        # sent right after a 7207 and indicative of the same values
        prev = next(m for m in reversed(msgs[:k]) if m["transaction_code"] == 7207)
        assert prev["log_time"] == msgs[k]["log_time"]
        for r, x in zip(msgs[k]["records"], prev["records"]):
            assert r["index_name"] == x["index_name"] and r["indicative_close_value"] == x["index_value"]
            assert r["closing_index"] == 0                        # the market is still open
            assert r["change"] == abs(x["index_value"] - x["closing_index"])
            assert r["percent_change"] == x["percent_change"]
            c = x["closing_index"]
            assert r["net_change_indicator"] == ("+" if x["index_value"] > c else "-" if x["index_value"] < c else " ")


def _last_ltp(fo_msgs):
    ltp = {}
    for m in fo_msgs:
        code = m["transaction_code"]
        for r in m["records"]:
            if code in (7200, 7208) and r["last_traded_price"] > 0:
                ltp[r["token"]] = r["last_traded_price"]
            elif code in (7202, 17202):
                ltp[r["token"]] = r["fill_price"]
    return ltp


def test_spot_carry_agrees_with_the_streamed_futures_and_options(sim):
    s, dec = sim
    fo = s.universe("FO", expiry_base=_streams._DEFAULT_DATE)
    ltp = _last_ltp(dec["FO"])
    last = s.expected["CM"].indices
    T = _streams.EXPIRY_DAYS[0] / 365.0
    r = _streams.UNIVERSE_RATE
    checked = 0
    for name, sym in F_AND_O_INDICES.items():
        spot = last[name]["index_value"]                       # rupees x 100 = paise
        fwd = spot * math.exp(r * T)
        fut = fo[(fo["symbol"] == sym) & (fo["instrument"] == "FUTIDX")]
        near = fut[fut["expiry_raw"] == fut["expiry_raw"].min()][0]
        f_ltp = ltp.get(int(near["token"]), 0) or None
        if f_ltp is not None:
            assert abs(f_ltp / fwd - 1) < 0.003, (sym, f_ltp, fwd)
        # near-month options a few strikes around the money: the spot-carry forward gives an implied volatility
        # close to the one the future's price gives
        opts = fo[(fo["symbol"] == sym) & (fo["instrument"] == "OPTIDX") & (fo["expiry_raw"] == near["expiry_raw"])]
        for o in opts:
            tok, k = int(o["token"]), float(o["strike"])
            if tok not in ltp or abs(k / fwd - 1) > 0.02:
                continue
            call = o["option_type"] == "CE"
            iv_spot = vega.implied_volatility(ltp[tok], fwd, k, T, r, call)
            iv_fut = vega.implied_volatility(ltp[tok], f_ltp or fwd, k, T, r, call)
            if math.isnan(iv_fut):
                continue
            assert 0.05 < iv_spot < 1.5, (sym, k, ltp[tok], iv_spot)
            assert abs(iv_spot / iv_fut - 1) < 0.15, (sym, k, iv_spot, iv_fut)
            checked += 1
    assert checked >= 3


# ---------------------------------------------------------------------------------------------------------
# F&O: 7130 / 17130
# ---------------------------------------------------------------------------------------------------------

def test_open_interest_per_underlying_is_the_sum_of_the_contracts(sim, tmp_path):
    s, dec = sim
    masters = s.write_master(tmp_path, expiry_base=_streams._DEFAULT_DATE)
    t = vega.Instruments.load(masters["contract"], masters["security"]).table
    fo, cm = t[t["segment"] == SEG_FO], t[t["segment"] == SEG_CM]
    asset_of = dict(zip(fo["token"].tolist(), fo["asset_token"].tolist()))
    assert len(asset_of) == len(s.universe("FO")) and set(asset_of.values()) >= {26000, 26009, 26037}
    cm_tokens = set(cm["token"].tolist())
    reported = {}
    bursts = Counter()
    last_17130 = {}
    for m in dec["FO"]:
        code = m["transaction_code"]
        if code in (7201, 17201, 7202, 17202):
            for r in m["records"]:
                reported[r["token"]] = r["open_interest"]
        elif code in OI_CODES:
            assert m["compressed"] is False
            assert m["bc_seq_no"] == 0 and m["stream"] == 0 and m["error_code"] == 0     # re-defined header
            assert 1 <= len(m["records"]) <= (58 if code == 7130 else 39)
            bursts[code] += 1
            sums = Counter()
            for tok, oi in reported.items():
                sums[asset_of[tok]] += oi
            for r in m["records"]:
                # keyed by the underlying's token: the AssetToken of contract.txt (an index or a CM stock token)
                assert r["token"] in set(asset_of.values())
                assert r["current_oi"] == sums[r["token"]] > 0
                if code == 7130:
                    assert r["current_oi"] <= 0xFFFFFFFF
                else:
                    last_17130[r["token"]] = r["current_oi"]
            if code == 17130:
                # every underlying with reported contracts is in the burst (39 fit one message here)
                assert {r["token"] for r in m["records"]} == {a for a, v in sums.items() if v > 0}
    assert _streams.OI_BURSTS - 1 <= bursts[17130] <= _streams.OI_BURSTS
    assert bursts[7130] >= 2                    # co-existence: some 7130 too
    assert {26000, 26009, 26037} <= set(last_17130)
    stocks = set(last_17130) - {26000, 26009, 26037}
    assert stocks & cm_tokens                   # stock underlyings point at CM tokens of the same symbol
    assert s.expected["FO"].underlying_oi == last_17130


def test_asset_tokens_are_those_of_contract_txt(sim, tmp_path):
    s, _ = sim
    masters = s.write_master(tmp_path, expiry_base=_streams._DEFAULT_DATE)
    t = vega.Instruments.load(masters["contract"], masters["security"]).table
    fo = t[t["segment"] == SEG_FO]
    from_file = dict(zip(fo["symbol"].tolist(), fo["asset_token"].tolist()))
    assert s.asset_tokens() == from_file
    assert from_file["NIFTY"] == 26000 and from_file["BANKNIFTY"] == 26009 and from_file["FINNIFTY"] == 26037
    only_fo = Simulator(["FO"], 10, seed=SEED).asset_tokens()
    assert only_fo["NIFTY"] == 26000 and only_fo["TCS"] == _streams.asset_token("TCS")


# ---------------------------------------------------------------------------------------------------------
# Accounting, determinism, the rest of the stream untouched
# ---------------------------------------------------------------------------------------------------------

def test_expected_counts_and_last_values_match_what_decodes(sim):
    s, dec = sim
    for seg in s.segments:
        exp = s.expected[seg]
        got = Counter(m["transaction_code"] for m in dec[seg])
        assert exp.by_code == got and exp.messages == len(dec[seg]) and exp.datagrams == N
        assert exp.bytes == sum(map(len, s.datagrams[seg]))
        assert (set(got) & SUMMARY) == (INDEX_CODES if seg == "CM" else OI_CODES)
    idx, ind, oi = {}, {}, {}
    for m in dec["CM"]:
        for r in m["records"]:
            if m["transaction_code"] in (7207, 7216):
                idx[r["index_name"]] = r
            elif m["transaction_code"] == 8207:
                ind[r["index_name"]] = r
    for m in dec["FO"]:
        if m["transaction_code"] in OI_CODES:
            oi.update((r["token"], r["current_oi"]) for r in m["records"])
    cm, fo = s.expected["CM"], s.expected["FO"]
    assert cm.indices == idx and cm.indicative == ind and fo.underlying_oi == oi
    assert set(cm.indices) == set(ALL_INDEX_NAMES) | {"India VIX"}
    assert not cm.underlying_oi and not fo.indices and not fo.indicative


def test_deterministic_per_seed():
    a = Simulator(["CM", "FO"], 400, seed=5)
    b = Simulator(["CM", "FO"], 400, seed=5)
    c = Simulator(["CM", "FO"], 400, seed=6)
    for s in (a, b, c):
        s.generate()
    assert a.datagrams == b.datagrams
    assert a.expected["CM"].indices == b.expected["CM"].indices
    assert a.expected["CM"].indices != c.expected["CM"].indices
    assert a.expected["FO"].underlying_oi != c.expected["FO"].underlying_oi


def test_index_oi_off_leaves_the_streams_as_they_were():
    s = Simulator(["CM", "FO"], 300, seed=5, index_oi=False, broadcasts=False)
    s.generate()
    for k, seg in enumerate(s.segments):
        plain = list(_streams.sample_stream(seg, 300, 5 + 1000 * k, phases=True))
        assert s.datagrams[seg] == plain
        assert not set(s.expected[seg].by_code) & SUMMARY
        assert not (s.expected[seg].indices or s.expected[seg].underlying_oi)


@pytest.mark.parametrize("seg", ["CM", "FO"])
def test_other_messages_unchanged_by_the_summaries(seg):
    """The summaries draw from their own RNG: every other message is the same, only the index stream's BCSeqNo
    moves (and the stream ends a few messages earlier where a summary needed a datagram of its own)."""
    kw = dict(phases=True, asset_tokens=None)
    plain = [m for _, m in _streams.sample_messages(seg, 1500, 9, **kw)]
    extra = [m for _, m in _streams.sample_messages(seg, 1500, 9, index_oi=True, **kw)]
    rest = [m for m in extra if m["transaction_code"] not in SUMMARY]
    assert len(extra) > len(rest) and len(rest) > 0.97 * len(plain)

    def key(m):
        return {k: v for k, v in m.items() if k != "bc_seq_no"} if m["stream"] == _streams.INDEX_STREAM else m
    assert [key(m) for m in rest] == [key(m) for m in plain[:len(rest)]]
    # and the generator's dicts are exactly what the datagrams decode to
    dgrams = list(_streams.sample_stream(seg, 1500, 9, index_oi=True, **kw))
    decoded, stats = _decode_all(seg, dgrams)
    assert not any(stats["errors"].values())
    assert [m for ms in decoded for m in ms] == extra


def test_short_clock_puts_indicative_indices_in_the_last_tenth():
    # a 10-minute stream: the last half hour would be all of it, so 8207 is in the last 10 % only
    msgs = [m for _, m in _streams.sample_messages("CM", 2000, 3, duration_s=600.0, index_oi=True)]
    t0 = _streams.session_start_1980(_streams._DEFAULT_DATE)
    i8207 = [m["log_time"] for m in msgs if m["transaction_code"] == 8207]
    assert i8207 and min(i8207) >= t0 + 540
    # index broadcasts at most once per simulated second
    t7207 = [m["time_stamp2"] / 65536 for m in msgs if m["transaction_code"] == 7207]
    assert len(t7207) > 5 and all(b - a >= _streams.INDEX_SECONDS for a, b in zip(t7207, t7207[1:]))


def test_docs_state_the_cadence_the_generator_uses():
    import pathlib
    doc = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "FORMATS.md").read_text(encoding="utf-8")
    sec = doc[doc.index("### Index broadcasts and open interest per underlying"):]
    for text in (f"`INDEX_EVERY` = {_streams.INDEX_EVERY} datagrams", f"`VIX_EVERY` = {_streams.VIX_EVERY} datagrams",
                 f"`OI_BURSTS` = {_streams.OI_BURSTS} bursts", f"`INDEX_STREAM` = {_streams.INDEX_STREAM}",
                 f"|d| ≤ {_streams.INDEX_BAND * 1e4:.0f} bp", f"d ← {_streams.INDEX_REVERT} d"):
        assert text in sec, text
    for name in ALL_INDEX_NAMES + ["India VIX"]:
        assert f"`{name}`" in sec


def test_free_of_moves_only_reserved_tokens():
    assert _streams._free_of([5, 7, 9], frozenset({8}), 1, 10) == [5, 7, 9]
    assert _streams._free_of([5, 8, 9], frozenset({8}), 1, 10) == [5, 10, 9]
    assert _streams._free_of([10, 1, 2], frozenset({10}), 1, 10) == [3, 1, 2]          # wraps, skips taken
    out = _streams._free_of(list(range(1, 9)), frozenset({2, 3}), 1, 10)
    assert sorted(out) == [1, 4, 5, 6, 7, 8, 9, 10] and len(set(out)) == len(out)


def test_no_equity_shares_a_token_with_an_underlying():
    """The OI per underlying lands on the underlying's token of the CM store: no simulated equity may hold an
    index token, and a stock without a CM security of its own gets a token no equity holds."""
    moved = 0
    for seed in range(1, 25):
        s = Simulator(["FO", "CM"], 10, seed=seed)
        cm = s.universe("CM")
        sym_of = dict(zip(cm["token"].tolist(), cm["symbol"].tolist()))
        assert len(sym_of) == len(cm) and not _streams.RESERVED_CM_TOKENS & set(sym_of)
        assets = s.asset_tokens()
        assert len(set(assets.values())) == len(assets)                   # one token per underlying
        for sym, tok in assets.items():
            assert sym_of.get(tok, sym) == sym, (seed, sym, tok, sym_of.get(tok))
            moved += sym not in sym_of.values() and sym not in _streams._INDICES and tok != _streams.asset_token(sym)
    assert moved >= 1                            # the draw does hit the hashed tokens now and then


# ---------------------------------------------------------------------------------------------------------
# Through the handlers (IDX <- CM <- FO, as the capture links them): the stores end with Expected's values
# ---------------------------------------------------------------------------------------------------------

def test_linked_handlers_end_with_the_expected_index_values_and_open_interest(sim):
    from vega.indices import INDEX_DTYPE, index_token

    s, _ = sim
    idx_store, cm_store, fo_store = vega.Store(64), vega.Store(8192), vega.Store(8192)
    idx = vega.FeedHandler("IDX", idx_store)
    cm = vega.FeedHandler("CM", cm_store, indices=idx)
    fo = vega.FeedHandler("FO", fo_store, underlying=cm)
    now = 1_764_300_000 * 10**9
    cm.process_batch(s.datagrams["CM"], now_ns=now)
    fo.process_batch(s.datagrams["FO"], now_ns=now)
    for h, seg in ((cm, "CM"), (fo, "FO")):
        st = h.stats
        assert not any(st["errors"].values()) and st["merge"]["unrouted"] == 0
        assert {c: v for c, v in st["by_code"].items() if v} == dict(s.expected[seg].by_code)
    exp = s.expected["CM"]
    rows = {int(r["token"]): r for r in idx_store.snapshot().view(INDEX_DTYPE)}
    assert len(rows) == len(exp.indices)
    for name, r in exp.indices.items():
        tok = index_token(name)
        if name in F_AND_O_INDICES:
            assert tok == _streams._INDICES[F_AND_O_INDICES[name]][1]
        got = rows[tok]
        assert (got["index_value"], got["close"], got["high"], got["low"], got["open"]) == \
            (r["index_value"], r["closing_index"], r["high_index_value"], r["low_index_value"], r["opening_index"])
        assert (got["percent_change"], got["yearly_high"], got["yearly_low"], got["upmoves"], got["downmoves"]) == \
            (r["percent_change"], r["yearly_high"], r["yearly_low"], r["no_of_upmoves"], r["no_of_downmoves"])
        assert got["market_cap"] == r["market_capitalisation"]
        assert got["net_change_indicator"] == r["net_change_indicator"].encode()
        if name in exp.indicative:
            i = exp.indicative[name]
            assert (got["indicative_close"], got["indicative_change"], got["indicative_percent_change"]) == \
                (i["indicative_close_value"], i["change"], i["percent_change"])
    # open interest per underlying: on the underlying's CM record, with the day's high and low of the figure
    sent = {}
    per_dgram, _ = _decode_all("FO", s.datagrams["FO"])
    for ms in per_dgram:
        for m in ms:
            if m["transaction_code"] in OI_CODES:
                for r in m["records"]:
                    sent.setdefault(r["token"], []).append(r["current_oi"])
    oi = s.expected["FO"].underlying_oi
    assert oi and set(oi) == set(sent)
    for tok, v in oi.items():
        q = cm_store[tok]
        assert (q.open_interest, q.oi_day_high, q.oi_day_low) == (v, max(sent[tok]), min(sent[tok]))
