"""Implied volatility in the nogil merge (docs/FORMATS.md §9 "In the merge"): store pre-population from an
instrument master, the forward picked per option tick (same-expiry future, put-call parity, spot carry),
the -1 sentinel, non-options untouched, change records carrying the IV (live == rebuilt)."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import vega._core as core
from vega import _iv
from vega.instruments import INSTRUMENT_DTYPE, SEG_CM, SEG_FO, Instruments, expiry_unix
from vega.records import CHANGE_RECORD_DTYPE
from store_helpers import MARKET_FIELDS, SEC, T0, by_token, changed_fields, md, mw, tick

R = 0.10
EXP_RAW = (T0 // SEC) + 30 * 86400 - 315532800 + 19800      # 30 days after T0, read as IST wall clock
EXP = expiry_unix(EXP_RAW)
CLOSE = EXP + 3600                                          # 15:30 IST, the close: the IV's time runs to it
K1, K2 = 2_000_000, 2_010_000                               # 20000.00, 20100.00 in paise


def row(token, seg, symbol, instrument="", strike=-1, otype="", asset=0, series=""):
    fo = seg == SEG_FO
    return (token, seg, symbol, series, instrument, EXP_RAW if fo else 0, EXP if fo else 0, strike, otype,
            50 if fo else 1, 5, asset or token, symbol, "")


def universe():
    rows = [
        row(100, SEG_FO, "NIFTY", "FUTIDX", otype="XX", asset=26000),
        row(101, SEG_FO, "NIFTY", "OPTIDX", K1, "CE", 26000),
        row(102, SEG_FO, "NIFTY", "OPTIDX", K1, "PE", 26000),
        row(103, SEG_FO, "NIFTY", "OPTIDX", K2, "CE", 26000),
        # BANKNIFTY: no future -> parity; two strikes with calls and puts
        row(201, SEG_FO, "BANKNIFTY", "OPTIDX", 4_500_000, "CE", 26009),
        row(202, SEG_FO, "BANKNIFTY", "OPTIDX", 4_500_000, "PE", 26009),
        row(203, SEG_FO, "BANKNIFTY", "OPTIDX", 4_600_000, "CE", 26009),
        row(204, SEG_FO, "BANKNIFTY", "OPTIDX", 4_600_000, "PE", 26009),
        # FINNIFTY: one call, no future, no put -> spot carry (spot in the CM store)
        row(301, SEG_FO, "FINNIFTY", "OPTIDX", 2_100_000, "CE", 26037),
        row(401, SEG_FO, "LONELY", "OPTSTK", 100_000, "PE", 9999),       # no forward at all
        row(26037, SEG_CM, "FINNIFTY", series="EQ"),
        row(26009, SEG_CM, "BANKNIFTY", series="EQ"),
        row(7, SEG_CM, "RELIANCE", series="EQ"),
    ]
    return Instruments(np.array(rows, INSTRUMENT_DTYPE))


def T(now=T0):
    return (CLOSE * SEC - now) / (365 * 86400 * SEC)


def expected(price, fwd, strike, is_call, now=T0):
    return _iv.iv_to_e4_py(_iv.implied_volatility(price, fwd, strike, T(now), R, is_call))


@pytest.fixture
def env():
    ins = universe()
    cm = core.Store(64)
    assert cm.load_instruments(ins, "CM") == 3
    fo = core.Store(64)
    assert fo.load_instruments(ins, "FO", spot_store=cm) == 10
    got = []
    fh = core.FeedHandler("FO", fo, on_records=got.append, rate=R)
    cfh = core.FeedHandler("CM", cm)
    yield fo, cm, fh, cfh, got
    fh.close()
    fo.close()
    cm.close()


def test_prepopulation_symbols_and_sentinel(env):
    fo, cm, *_ = env
    assert len(fo) == 10 and len(cm) == 3
    assert fo[101].symbol == "NIFTY" and fo[301].symbol == "FINNIFTY"
    assert cm[7].symbol == "RELIANCE" and cm[7].series == "EQ"
    assert fo.n_options == 9 and cm.n_options == 0
    assert (fo.snapshot()["implied_volatility"] == -1).all()
    assert (cm.snapshot()["implied_volatility"] == -1).all()
    assert core.Store(4).snapshot()["implied_volatility"].size == 0


def test_iv_on_the_same_expiry_future(env):
    fo, cm, fh, _, got = env
    fh.merge_message(md(100, last_traded_price=2_010_000), now_ns=T0)
    fh.merge_message(md(101, last_traded_price=30_000), now_ns=T0)
    want = expected(30_000, 2_010_000, K1, True)
    assert want > 0 and fo[101].implied_volatility == want
    assert changed_fields(got[-1])["implied_volatility"] == want
    # a put at the same strike, later in the day (T from the datagram's time)
    t1 = T0 + 3600 * SEC
    fh.merge_message(md(102, last_traded_price=21_000), now_ns=t1)
    assert fo[102].implied_volatility == expected(21_000, 2_010_000, K1, False, t1) > 0
    # the future itself is no option: no IV
    assert fo[100].implied_volatility == -1


def test_ticker_and_market_watch_ltp_also_drive_iv(env):
    fo, _, fh, _, _ = env
    fh.merge_message(md(100, last_traded_price=2_010_000), now_ns=T0)
    fh.merge_message(tick(101, code=7202, price=31_000, volume=50), now_ns=T0)
    assert fo[101].last_traded_price == 31_000
    assert fo[101].implied_volatility == expected(31_000, 2_010_000, K1, True)
    fh.merge_message(mw(103, code=7201, ltp=12_000), now_ns=T0)
    assert fo[103].last_traded_price == 12_000
    assert fo[103].implied_volatility == expected(12_000, 2_010_000, K2, True)


def test_parity_forward_without_a_future(env):
    fo, cm, fh, cfh, _ = env
    fh.merge_message(md(201, last_traded_price=90_000), now_ns=T0)
    assert fo[201].implied_volatility == -1                 # no put price, no spot: nothing to use
    fh.merge_message(md(202, last_traded_price=60_000), now_ns=T0)
    F = 4_500_000 + math.exp(R * T()) * (90_000 - 60_000)
    assert fo[202].implied_volatility == expected(60_000, F, 4_500_000, False) > 0
    # the second strike trades too; with the spot near it the nearer pair is used
    fh.merge_message(md(203, last_traded_price=50_000), now_ns=T0)
    fh.merge_message(md(204, last_traded_price=110_000), now_ns=T0)
    cfh.merge_message(md(26009, code=7200, last_traded_price=4_590_000), now_ns=T0)
    fh.merge_message(md(201, last_traded_price=91_000), now_ns=T0)
    f_py, k_py = _iv.parity_forward([4_500_000, 4_600_000], [91_000, 50_000], [60_000, 110_000],
                                    4_590_000 * math.exp(R * T()), T(), R)
    assert k_py == 4_600_000
    assert fo[201].implied_volatility == expected(91_000, f_py, 4_500_000, True) > 0


def test_spot_carry_and_missing_inputs(env):
    fo, cm, fh, cfh, _ = env
    fh.merge_message(md(301, last_traded_price=40_000), now_ns=T0)
    assert fo[301].implied_volatility == -1                 # spot not traded yet
    cfh.merge_message(md(26037, code=7200, last_traded_price=2_090_000), now_ns=T0)
    fh.merge_message(md(301, last_traded_price=41_000), now_ns=T0)
    F = 2_090_000 * math.exp(R * T())
    assert fo[301].implied_volatility == expected(41_000, F, 2_100_000, True) > 0
    fh.merge_message(md(401, last_traded_price=500), now_ns=T0)
    assert fo[401].implied_volatility == -1                 # no future, no chain pair, no spot
    # above the no-arbitrage bound (a call worth more than the discounted forward): back to -1
    fh.merge_message(md(301, last_traded_price=2_500_000), now_ns=T0)
    assert fo[301].implied_volatility == -1
    # the expiry day's last hour, after the master's 14:30 stamp and before the 15:30 close: an IV, to the close
    # (to 14:30 there was none, and the hours before it had too high a one)
    fh.merge_message(md(301, last_traded_price=41_000), now_ns=EXP * SEC + 1800 * SEC)
    assert fo[301].implied_volatility == expected(41_000, 2_090_000 * math.exp(R * T(EXP * SEC + 1800 * SEC)),
                                                  2_100_000, True, now=EXP * SEC + 1800 * SEC) > 0
    # expired: T <= 0
    fh.merge_message(md(301, last_traded_price=42_000), now_ns=CLOSE * SEC + SEC)
    assert fo[301].implied_volatility == -1


def test_index_options_take_their_spot_from_the_index_feed():
    """OPTIDX options look their underlying up in the index store (by asset token = index token), also when
    the index first appears after load_instruments; stock options keep the CM store."""
    ins = universe()
    cm, fo, ix = core.Store(64), core.Store(64), core.Store(16)
    cm.load_instruments(ins, "CM")
    idx = core.FeedHandler("IDX", ix)
    fo.load_instruments(ins, "FO", spot_store=cm, index_store=ix)
    fh = core.FeedHandler("FO", fo, rate=R)
    cfh = core.FeedHandler("CM", cm)
    cfh.merge_message(md(26037, code=7200, last_traded_price=1_000_000), now_ns=T0)   # CM's 26037: not used
    fh.merge_message(md(301, last_traded_price=41_000), now_ns=T0)
    assert fo[301].implied_volatility == -1                 # the index has not been broadcast yet
    rec = {"index_name": "Nifty Fin Service", "index_value": 2_090_000, "closing_index": 2_080_000}
    idx.merge_message({"transaction_code": 7207, "records": [rec]}, now_ns=T0)
    assert ix.ltp(26037) == 2_090_000
    fh.merge_message(md(301, last_traded_price=41_500), now_ns=T0)     # IV is computed on an LTP change
    F = 2_090_000 * math.exp(R * T())
    assert fo[301].implied_volatility == expected(41_500, F, 2_100_000, True) > 0


def test_store_closed_spot_is_ignored(env):
    fo, cm, fh, cfh, _ = env
    cfh.merge_message(md(26037, code=7200, last_traded_price=2_090_000), now_ns=T0)
    cm.close()
    fh.merge_message(md(301, last_traded_price=41_000), now_ns=T0)
    assert fo[301].implied_volatility == -1


_STUCK_SPOT = """
import math, sys
sys.path.insert(0, {tests!r})
import vega._core as core
from test_iv_merge import R, T, universe, expected
from store_helpers import T0, bump_seq, md
name = {name!r}
cm = core.Store.create(name, 64)                    # the CM capture, another process in production
try:
    cm.load_instruments(universe(), "CM")
    core.FeedHandler("CM", cm).merge_message(md(26037, code=7200, last_traded_price=2_090_000), now_ns=T0)
    spot = core.Store.open(name)
    fo = core.Store(64)
    fo.load_instruments(universe(), "FO", spot_store=spot)
    fh = core.FeedHandler("FO", fo, rate=R)
    bump_seq(name, cm, 26037, +1)                   # the CM writer dies inside an update of the spot
    for i in range(50):                             # 50 option ticks that need the spot (FINNIFTY: no future)
        fh.merge_message(md(301, last_traded_price=40_000 + i), now_ns=T0)
    print(fo[301].implied_volatility)               # computed without the spot: none
    bump_seq(name, cm, 26037, +1)                   # the update completes: the spot reads again
    fh.merge_message(md(301, last_traded_price=41_000), now_ns=T0)
    F = 2_090_000 * math.exp(R * T())
    print(fo[301].implied_volatility == expected(41_000, F, 2_100_000, True) > 0)
    spot.close()
finally:
    cm.close()
    core.Store.remove(name)
"""


def test_a_spot_left_locked_by_a_dead_writer_does_not_stall_the_merge():
    """An option's IV reads its spot from another writer's store.  A record that writer left locked (it died
    inside an update) is taken as no spot after a few tries: the merge once waited 2**26 tries (~2 s) per
    option tick, so these 50 ticks took ~90 s and the child is given 60."""
    import os
    import subprocess
    import sys
    import uuid
    name = f"test-spot-{uuid.uuid4().hex[:10]}"
    code = _STUCK_SPOT.format(tests=os.path.dirname(os.path.abspath(__file__)), name=name)
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    finally:
        try:
            core.Store.remove(name)                 # the child's, should it not get to remove it
        except FileNotFoundError:
            pass
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["-1", "True"]


def fo_stream(rng, n):
    toks = [100, 101, 102, 103, 201, 202, 203, 204, 301, 401, 555]
    out = []
    for _ in range(n):
        t = int(rng.choice(toks))
        kind = rng.integers(3)
        p = int(rng.integers(1, 3_000_000)) if t == 100 else int(rng.integers(1, 200_000))
        if kind == 0:
            out.append(md(t, last_traded_price=p, volume_traded_today=int(rng.integers(1, 10**6))))
        elif kind == 1:
            out.append(tick(t, code=7202, price=p, volume=5, oi=int(rng.integers(0, 1000))))
        else:
            out.append(mw(t, code=7201, ltp=p, oi=int(rng.integers(0, 1000))))
    return out


def run(msgs, instruments):
    s = core.Store(64)
    if instruments:
        s.load_instruments(universe(), "FO")
    got = []
    fh = core.FeedHandler("FO", s, on_records=got.append, rate=R)
    for i, m in enumerate(msgs):
        fh.merge_message(m, now_ns=T0 + i * SEC)
    return s, (np.concatenate(got) if got else np.empty(0, CHANGE_RECORD_DTYPE))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 80))
def test_records_rebuild_the_live_store_and_non_options_are_untouched(seed, n):
    msgs = fo_stream(np.random.default_rng(seed), n)
    live, recs = run(msgs, True)
    rebuilt = core.Store(64, dense_tokens=0)
    rebuilt.apply_records(recs, day_base_ns=live.header["day_base_ns"])
    a, b = by_token(live.snapshot()), by_token(rebuilt.snapshot())
    # pre-populated tokens that never traded emit no records; symbols come from the master, not the feed
    a = a[np.isin(a["token"], b["token"])]
    fields = [f for f in MARKET_FIELDS if f not in ("symbol", "series", "subscribed", "segment")]
    for f in fields:
        assert np.array_equal(a[f], b[f]), f
    assert np.array_equal(a["implied_volatility"], b["implied_volatility"])
    # keyframes carry the IV (and the -1 sentinel) too
    kf = core.Store(64)
    kf.apply_records(live.keyframe_records(5))
    assert np.array_equal(by_token(kf.snapshot())["implied_volatility"],
                          by_token(live.snapshot())["implied_volatility"])
    # without instruments: every non-option record merges identically, IV stays -1 everywhere
    bare, _ = run(msgs, False)
    c = by_token(bare.snapshot())
    assert (c["implied_volatility"] == -1).all()
    options = {101, 102, 103, 201, 202, 203, 204, 301, 401}
    for name in ("last_traded_price", "volume_traded_today", "open_interest", "fill_price", "implied_volatility"):
        for tok in set(c["token"].tolist()) - options:
            assert a[name][a["token"] == tok].tolist() == c[name][c["token"] == tok].tolist()


def test_load_instruments_rejects_bad_input():
    s = core.Store(4)
    with pytest.raises(TypeError):
        s.load_instruments([1, 2, 3], "FO")
    with pytest.raises(ValueError):
        s.load_instruments(universe(), "XX")
    with pytest.raises(core.StoreFullError if hasattr(core, "StoreFullError") else Exception):
        s.load_instruments(universe(), "FO")                   # 10 instruments, capacity 4
    with pytest.raises(TypeError):
        core.Store(64).load_instruments(universe(), "FO", spot_store=object())
    with pytest.raises(ValueError):
        core.FeedHandler("FO", core.Store(4), rate=float("nan"))
    ro = core.Store(4)
    ro.close()
    with pytest.raises(ValueError):
        ro.load_instruments(universe(), "FO")


def test_load_instruments_and_add_keep_one_segment_per_store():
    """A store holds one segment's tokens (CM token 7 and F&O token 7 are two instruments): loading a master
    names the store's segment as a FeedHandler does, and loading or adding another segment's tokens, or
    handing an F&O load a spot store of F&O records, is a ValueError that changes nothing."""
    ins = universe()
    fo = core.Store(64)
    assert fo.load_instruments(ins, "FO") == 10
    with pytest.raises(ValueError, match="holds FO records, not CM"):
        core.FeedHandler("CM", fo)                             # the load named the store F&O
    with pytest.raises(ValueError, match="cannot load CM instruments: the store holds FO records"):
        fo.load_instruments(ins, "CM")
    with pytest.raises(ValueError, match="cannot add token 7 as CM"):
        fo.add(7, "RELIANCE", "EQ", "CM")
    assert len(fo) == 10 and 7 not in fo
    fo.add(7, "SEVEN")                                          # no segment given: the store's
    assert fo[7].segment == fo[100].segment == 2
    with pytest.raises(ValueError, match="spot_store: the store holds FO records, not CM"):
        core.Store(64).load_instruments(ins, "FO", spot_store=fo)
    for fresh in (fo, core.Store(64)):                          # not its own spot store, named yet or not
        with pytest.raises(ValueError, match="not its own spot_store or index_store"):
            fresh.load_instruments(ins, "FO", spot_store=fresh)
        with pytest.raises(ValueError, match="not its own spot_store or index_store"):
            fresh.load_instruments(ins, "FO", index_store=fresh)
    cm = core.Store(64)
    core.FeedHandler("CM", cm)
    with pytest.raises(ValueError, match="index_store: the store holds CM records, not IDX"):
        core.Store(64).load_instruments(ins, "FO", spot_store=cm, index_store=cm)
    ix = core.Store(64)
    core.FeedHandler("IDX", ix)
    with pytest.raises(ValueError, match="index feed"):
        ix.load_instruments(ins)                                # the IDX store's own segment: no contracts
    full = core.Store(4)
    with pytest.raises(core.StoreFullError):
        full.load_instruments(ins, "FO")
    core.FeedHandler("CM", full)                                # a refused load named nothing
    assert core.Store(64).load_instruments(ins, "FO", spot_store=cm) == 10
    blank = core.Store(64)
    with pytest.raises(ValueError, match=r"give the segment \('CM' or 'FO'\)"):
        blank.load_instruments(ins)                             # no segment given, and the store has none
    assert len(blank) == 0
    core.FeedHandler("CM", blank)
    assert blank.load_instruments(ins) == 3                     # the store's own: CM


@pytest.mark.parametrize("name", ["handler", "load", "add"])
def test_tokens_added_before_the_store_has_a_segment_take_it(name):
    """Store.add(token) without a segment (subscribing before the handler exists) leaves the record's segment
    unknown (0); when the store is then named, by a FeedHandler, a load of the masters or an add with a segment,
    those records take the store's segment, as records added afterwards do: one store, one segment."""
    st = core.Store(64)
    st.add(35001, subscribed=False)
    st.add(35002, "NIFTY")
    assert (st[35001].segment, st[35002].segment, st.snapshot()["segment"].tolist()) == (0, 0, [0, 0])
    if name == "handler":
        core.FeedHandler("FO", st, subscribed_only=True)
    elif name == "load":
        st.load_instruments(universe(), "FO")
    else:
        st.add(35003, segment="FO")
    assert set(st.snapshot()["segment"].tolist()) == {2}
    assert (st[35001].subscribed, st[35002].symbol) == (False, "NIFTY")     # nothing else changed
    with pytest.raises(ValueError, match="holds FO records, not CM"):
        core.FeedHandler("CM", st)


# ---------------------------------------------------------------------------------------------------------
# The simulator's master files and the capture's pre-population
# ---------------------------------------------------------------------------------------------------------

def test_simulator_master_matches_its_streams(tmp_path):
    import datetime as dt

    from vega import _streams, instruments
    from vega.simulator import Simulator
    sim = Simulator(["FO", "CM"], 300, seed=3, n_tokens=400)
    paths = sim.write_master(tmp_path, expiry_base=dt.date(2025, 11, 20))
    ins = Instruments.load(paths["contract"], paths["security"])
    assert not ins.errors
    fo, cm = ins.tokens(SEG_FO), ins.tokens(SEG_CM)
    assert len(fo) == 400 and len(cm) == 400
    sim.generate()
    for seg, toks, k in (("FO", set(fo.tolist()), 0), ("CM", set(cm.tolist()), 1)):
        seen = {r["token"] for _, m in _streams.sample_messages(seg, 300, 3 + 1000 * k, n_tokens=400)
                for r in m.get("records", []) if "token" in r}
        assert seen and seen <= toks
    t = ins.table
    opt = t[np.isin(t["option_type"], ["CE", "PE"])]
    fut = t[t["option_type"] == "XX"]
    assert len(fut) and len(opt) and set(opt["instrument"]) <= {"OPTIDX", "OPTSTK"}
    assert (opt["strike"] > 0).all() and (t["lot_size"] > 0).all() and (t["tick_size"] > 0).all()
    assert {dt.datetime.fromtimestamp(e, instruments.IST).date()
            for e in t["expiry_unix"][t["segment"] == SEG_FO]} == {dt.date(2025, 12, 10), dt.date(2026, 1, 7)}
    meta = ins.option_meta()
    assert (meta["future_token"] >= 0).all()          # every symbol has a near and a next future


def test_simulated_options_get_ivs_from_the_master(tmp_path):
    import datetime as dt

    from vega import _streams, instruments
    from vega.simulator import Simulator
    base = dt.date(2025, 11, 20)
    sim = Simulator(["FO"], 2000, seed=5, n_tokens=600)
    ins = Instruments.load(sim.write_master(tmp_path, expiry_base=base)["contract"])
    store = core.Store(1024)
    store.load_instruments(ins, "FO")
    fh = core.FeedHandler("FO", store)
    now = int(dt.datetime(2025, 11, 28, 10, 0, tzinfo=instruments.IST).timestamp()) * SEC
    fh.process_batch(list(_streams.sample_stream("FO", 2000, 5, n_tokens=600)), now_ns=now)
    snap = store.snapshot()
    meta = ins.option_meta()
    traded = snap[np.isin(snap["token"], meta["token"]) & (snap["last_traded_price"] > 0)]
    assert len(traded) > 50
    assert (traded["implied_volatility"] >= 0).mean() > 0.8
    # one more tick of a traded option (the IV uses the future's LTP at the time of the option's tick)
    tok = int(traded[traded["implied_volatility"] > 0][0]["token"])
    m = meta[meta["token"] == tok][0]
    price = store[tok].last_traded_price + 5
    fh.merge_message(md(tok, last_traded_price=price), now_ns=now + SEC)
    f = store[int(m["future_token"])].last_traded_price
    t_years = ((int(m["expiry_unix"]) + 3600) * SEC - now - SEC) / (365 * 86400 * SEC)     # to the 15:30 close
    want = _iv.iv_to_e4_py(_iv.implied_volatility(price, f, int(m["strike"]), t_years, 0.10, bool(m["is_call"])))
    assert f > 0 and want > 0 and store[tok].implied_volatility == want
    assert store[tok].symbol == ins.get(tok).symbol


def test_capture_config_takes_master_files(tmp_path):
    from vega.capture import CaptureError, load_config
    from vega.simulator import Simulator
    paths = Simulator(["FO", "CM"], 10, seed=1, n_tokens=50).write_master(tmp_path)
    toml = tmp_path / "c.toml"
    toml.write_text(f'[capture]\ncontract = "{paths["contract"]}"\nsecurity = "{paths["security"]}"\n'
                    'iv_rate = 0.07\n')
    cfg = load_config(toml)
    assert cfg.contract == str(paths["contract"]) and cfg.security == str(paths["security"]) and cfg.iv_rate == 0.07
    with pytest.raises(CaptureError, match="contract master file .*missing.txt: no such file"):
        load_config(None, contract=str(tmp_path / "missing.txt"))
    with pytest.raises(CaptureError, match=f"security master file {tmp_path}: is a directory"):
        load_config(None, security=str(tmp_path))
    with pytest.raises(CaptureError, match=f"^index master file {tmp_path}: is a directory"):
        load_config(None, index_master=str(tmp_path))
    with pytest.raises(CaptureError, match="iv_rate"):
        load_config(None, iv_rate=3.0)


def test_demo_shows_symbols_and_ivs_and_replays_identically(capsys):
    from vega.cli import main
    assert main(["demo", "--datagrams", "600", "--segments", "FO", "CM", "--top", "4", "--unicast"]) == 0
    out = capsys.readouterr().out
    assert "busiest options (" in out and "with an implied volatility" in out
    opt_lines = out.split("busiest options (")[1].split("\n\n")[0].splitlines()[2:]
    assert len(opt_lines) == 4 and any(line.rstrip().endswith("%") for line in opt_lines)
    assert "SYM" in out or "NIFTY" in out or "RELIANCE" in out
    assert out.count("identical to the live store") == 3
    # the ring carries the journal's live records; the checkpoints (the symbols one taken after loading the
    # masters, and the periodic ones) stay in the journal
    import re
    ring = dict(re.findall(r"(NSE_FO|NSE_EQ) ([\d,]+) records", out))
    journal = {f: (int(n.replace(",", "")), int(live.replace(",", "")), int(ck.replace(",", "")))
               for f, n, live, ck in re.findall(r"\.bin (NSE_FO|NSE_EQ): ([\d,]+) records \(([\d,]+) live, the "
                                                r"ring's, and ([\d,]+) in \d+ checkpoints?\)", out)}
    assert len(ring) == len(journal) == 2
    for f, (n, live, ck) in journal.items():
        assert int(ring[f].replace(",", "")) == live and n == live + ck and ck > 0


def test_the_master_lines_a_capture_skips_are_said_at_start(tmp_path):
    """Bad master lines are skipped (Instruments.errors); the capture says how many, per file, at start."""
    import time

    from vega.capture import Capture, load_config
    from vega.simulator import Simulator
    paths = Simulator(["FO", "CM"], 10, seed=1, n_tokens=50).write_master(tmp_path)
    lines = paths["contract"].read_text().splitlines()
    good = lines[1].split("|")
    big = "|".join(["3000000000"] + good[1:])                    # a token outside int32
    paths["contract"].write_text("\n".join(lines + ["1|2", big]) + "\n")
    cap = Capture(load_config(None, contract=str(paths["contract"]), security=str(paths["security"])))
    try:
        cap.open(offline_ns=time.time_ns())
        notes = [n for n in cap.start_notes() if n.startswith("instrument master")]
        assert notes == [f"instrument master {paths['contract']}: 2 bad line(s) skipped (line {len(lines) + 1}: "
                         f"2 fields, at least 33 expected; 1 more)"], notes
        assert len(cap._feed("FO").store) == len(lines) - 1            # the good lines loaded
    finally:
        cap.close()
