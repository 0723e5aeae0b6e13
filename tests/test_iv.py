"""Black-76 implied volatility (vega._iv): accuracy grid, sentinels, scipy agreement, forward, time to expiry.

Accuracy rule (docs/FORMATS.md "Implied volatility"): sigma is recovered to 1e-6 relative wherever the
double-precision price determines it.  A point is excluded when
  * the price underflows (P < 1e-300 F: deep out of the money at tiny total volatility), or
  * its condition number kappa = e^-rT (F N(th d1) + K N(th d2)) / (sigma * dP/dsigma) exceeds 1e8: the
    price is a difference of two terms whose sum is the numerator, so its rounding error is ~1e-16 times that
    sum and moves sigma by ~1e-16 * kappa (deep in the money with vega ~ 0, where the time value is lost
    against the intrinsic value, is the typical case).
"""
import datetime as dt
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import brentq
from scipy.special import ndtr

from vega import _iv
from vega.instruments import EXPIRY_RAW_MAX, expiry_unix

R = 0.10
F0 = 100.0


def condition(F, K, T, sigma, r, is_call):
    """kappa of the module docstring and the price itself (numpy, broadcasting)."""
    s = sigma * np.sqrt(T)
    d1 = np.log(F / K) / s + 0.5 * s
    th = np.where(is_call, 1.0, -1.0)
    df = np.exp(-r * T)
    terms = df * (F * ndtr(th * d1) + K * ndtr(th * (d1 - s)))
    vega = df * F * np.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) * np.sqrt(T)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return terms / (sigma * vega)


def informative(P, F, K, T, sigma, r, is_call):
    return (P > 1e-300 * F) & (condition(F, K, T, sigma, r, is_call) <= 1e8)


def ref_price(F, K, T, sigma, r, is_call):
    """Independent Black-76 (scipy's ndtr), for checking our price."""
    s = sigma * math.sqrt(T)
    d1 = math.log(F / K) / s + 0.5 * s
    d2 = d1 - s
    df = math.exp(-r * T)
    if is_call:
        return df * (F * ndtr(d1) - K * ndtr(d2))
    return df * (K * ndtr(-d2) - F * ndtr(-d1))


# ---------------------------------------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------------------------------------

def test_dense_grid_recovers_sigma():
    """41 moneyness x 25 expiries x 41 vols x call/put: every informative point to 1e-6 relative."""
    m = np.geomspace(0.5, 2.0, 41)
    T = np.geomspace(1 / 365, 2.0, 25)
    v = np.geomspace(0.01, 3.0, 41)
    M, TT, V, C = np.meshgrid(m, T, v, [True, False], indexing="ij")
    K = M * F0
    P = _iv.black76_price_array(F0, K, TT, V, R, C)
    iv, status = _iv.implied_volatility_array(P, F0, K, TT, R, C, status=True)
    ok = informative(P, F0, K, TT, V, R, C)
    assert ok.sum() > 0.6 * ok.size            # the exclusion rule leaves most of the grid
    assert (status[ok] == _iv.IV_STATUS_OK).all()
    rel = np.abs(iv[ok] / V[ok] - 1.0)
    assert rel.max() <= 1e-6, rel.max()
    # outside the rule: either a clear "no IV" (never 0, never a garbage number silently) or a finite sigma
    bad = ~ok
    assert np.isin(status[bad], [_iv.IV_STATUS_OK, _iv.IV_STATUS_BELOW]).all()
    assert (np.isnan(iv[bad]) == (status[bad] != _iv.IV_STATUS_OK)).all()
    assert (iv[status == _iv.IV_STATUS_OK] > 0).all()


@settings(max_examples=400, deadline=None)
@given(m=st.floats(0.5, 2.0), T=st.floats(1 / 365, 2.0), sigma=st.floats(0.01, 3.0), is_call=st.booleans(),
       F=st.floats(1.0, 1e7), r=st.floats(0.0, 0.15))
def test_property_round_trip(m, T, sigma, is_call, F, r):
    K = m * F
    P = _iv.black76_price(F, K, T, sigma, r, is_call)
    if not informative(np.float64(P), F, K, T, sigma, r, is_call):
        return                                   # the price does not carry sigma to 1e-6 (see module doc)
    iv = _iv.implied_volatility(P, F, K, T, r, is_call)
    assert abs(iv / sigma - 1.0) <= 1e-6, (iv, sigma)


@pytest.mark.parametrize("is_call", [True, False])
def test_price_matches_independent_formula(is_call):
    rng = np.random.default_rng(7)
    for _ in range(500):
        F = rng.uniform(10, 1e5)
        K = F * rng.uniform(0.5, 2.0)
        T = rng.uniform(1 / 365, 2.0)
        sigma = rng.uniform(0.01, 3.0)
        ours = _iv.black76_price(F, K, T, sigma, R, is_call)
        ref = ref_price(F, K, T, sigma, R, is_call)
        assert ours == pytest.approx(ref, rel=1e-12, abs=1e-12 * F)


def test_price_edges():
    # zero time or zero volatility: discounted intrinsic value
    assert _iv.black76_price(110.0, 100.0, 0.0, 0.2, R, True) == pytest.approx(10.0)
    assert _iv.black76_price(110.0, 100.0, 1.0, 0.0, R, False) == 0.0
    assert _iv.black76_price(90.0, 100.0, 1.0, 0.0, R, False) == pytest.approx(10.0 * math.exp(-R))
    # put-call parity of the price itself
    c = _iv.black76_price(105.0, 100.0, 0.5, 0.3, R, True)
    p = _iv.black76_price(105.0, 100.0, 0.5, 0.3, R, False)
    assert c - p == pytest.approx(math.exp(-R * 0.5) * 5.0, rel=1e-12)
    for bad in [(0.0, 100.0, 1.0, 0.2), (100.0, -1.0, 1.0, 0.2), (100.0, 100.0, -1.0, 0.2),
                (100.0, 100.0, 1.0, -0.2), (math.nan, 100.0, 1.0, 0.2), (100.0, 100.0, math.inf, 0.2)]:
        with pytest.raises(ValueError):
            _iv.black76_price(*bad, rate=R)
    assert np.isnan(_iv.black76_price_array([100.0, -1.0], 100.0, 1.0, 0.2)).tolist() == [False, True]


def test_agrees_with_scipy_brentq():
    """Random market-like cases: ours vs brentq on the price (xtol 1e-14)."""
    rng = np.random.default_rng(11)
    n = 0
    for _ in range(300):
        F = rng.uniform(1000, 60000)
        K = F * rng.uniform(0.7, 1.4)
        T = rng.uniform(2 / 365, 1.0)
        sigma = rng.uniform(0.05, 1.0)
        is_call = bool(rng.integers(2))
        P = ref_price(F, K, T, sigma, R, is_call)
        if not informative(np.float64(P), F, K, T, sigma, R, is_call):
            continue
        ref = brentq(lambda v: ref_price(F, K, T, v, R, is_call) - P, 1e-6, 10.0, xtol=1e-14, rtol=1e-14)
        ours = _iv.implied_volatility(P, F, K, T, R, is_call)
        assert ours == pytest.approx(ref, rel=1e-6)
        n += 1
    assert n > 200


def test_solver_iterations_are_few():
    """A handful of Halley steps on the whole grid (never the 64-iteration cap)."""
    worst = 0
    total = 0
    count = 0
    for m in np.geomspace(0.5, 2.0, 13):
        for T in np.geomspace(1 / 365, 2.0, 9):
            for v in np.geomspace(0.01, 3.0, 13):
                for c in (True, False):
                    P = _iv.black76_price(F0, m * F0, T, v, R, c)
                    it = _iv._solver_iterations(P, F0, m * F0, T, R, c)
                    worst = max(worst, it)
                    total += it
                    count += it > 0
    assert 0 < worst <= 8                        # measured: 5
    assert total / count < 3                     # measured: 2.3


# ---------------------------------------------------------------------------------------------------------
# Sentinels
# ---------------------------------------------------------------------------------------------------------

def test_sentinel_values():
    assert _iv.IV_SENTINEL == -1.0
    assert _iv.IV_SENTINEL_E4 == -1


@pytest.mark.parametrize("args,status", [
    ((9.0, 110.0, 100.0, 1.0, 0.0, True), "below"),           # call below intrinsic 10
    ((10.0, 110.0, 100.0, 1.0, 0.0, True), "below"),          # exactly intrinsic: no time value
    ((10.0 * math.exp(-0.1), 110.0, 100.0, 1.0, 0.1, True), "below"),   # discounted intrinsic
    ((0.0, 100.0, 120.0, 1.0, 0.1, True), "below"),           # zero price
    ((-1.0, 100.0, 120.0, 1.0, 0.1, False), "below"),         # negative price
    ((100.0, 100.0, 90.0, 1.0, 0.0, True), "above"),          # call at F
    ((150.0, 100.0, 90.0, 1.0, 0.0, True), "above"),          # call above F
    ((90.0 * math.exp(-0.1), 100.0, 90.0, 1.0, 0.1, False), "above"),   # put at discounted K
    ((5.0, 100.0, 100.0, 0.0, 0.1, True), "input"),           # T = 0
    ((5.0, 100.0, 100.0, -0.1, 0.1, True), "input"),          # T < 0
    ((5.0, 0.0, 100.0, 0.5, 0.1, True), "input"),             # F = 0
    ((5.0, -100.0, 100.0, 0.5, 0.1, True), "input"),          # F < 0
    ((5.0, 100.0, 0.0, 0.5, 0.1, True), "input"),             # K = 0
    ((5.0, 100.0, -5.0, 0.5, 0.1, True), "input"),            # K < 0
    ((math.nan, 100.0, 100.0, 0.5, 0.1, True), "input"),
    ((5.0, math.inf, 100.0, 0.5, 0.1, True), "input"),
    ((5.0, 100.0, 100.0, 0.5, math.nan, True), "input"),
])
def test_no_iv_cases(args, status):
    iv, code = _iv.implied_volatility_status(*args)
    assert math.isnan(iv)
    assert math.isnan(_iv.implied_volatility(*args))
    assert code == {"below": _iv.IV_STATUS_BELOW, "above": _iv.IV_STATUS_ABOVE,
                    "input": _iv.IV_STATUS_INPUT}[status]
    assert _iv.iv_to_e4_py(iv) == -1


def test_just_inside_the_bounds_gives_an_iv():
    # a hair above the intrinsic value and a hair below the upper bound both have a (small / large) sigma
    lo = _iv.implied_volatility(10.0 + 1e-6, 110.0, 100.0, 1.0, 0.0, True)
    hi = _iv.implied_volatility(110.0 - 1e-6, 110.0, 100.0, 1.0, 0.0, True)
    assert 0 < lo < 0.05
    assert hi > 5.0
    assert _iv.black76_price(110.0, 100.0, 1.0, lo, 0.0, True) == pytest.approx(10.0 + 1e-6, rel=1e-12)


def test_array_shapes_and_status():
    P = np.array([[5.0, 200.0], [0.0, 5.0]])
    iv, status = _iv.implied_volatility_array(P, 100.0, 100.0, 0.5, 0.1, [True, False], status=True)
    assert iv.shape == (2, 2) and status.dtype == np.int8
    assert status.tolist() == [[0, _iv.IV_STATUS_ABOVE], [_iv.IV_STATUS_BELOW, 0]]
    assert iv[0, 0] == pytest.approx(_iv.implied_volatility(5.0, 100.0, 100.0, 0.5, 0.1, True))
    assert iv[1, 1] == pytest.approx(_iv.implied_volatility(5.0, 100.0, 100.0, 0.5, 0.1, False))
    assert np.isnan(iv[0, 1]) and np.isnan(iv[1, 0])
    assert _iv.implied_volatility_array(5.0, 100.0, 100.0, 0.5).shape == ()


def test_store_encoding():
    assert _iv.iv_to_e4_py(0.2534) == 2534
    assert _iv.iv_to_e4_py(0.25345) == 2535          # half up
    assert _iv.iv_to_e4_py(0.0) == 0
    assert _iv.iv_to_e4_py(3.0) == 30000
    assert _iv.iv_to_e4_py(-1.0) == -1
    assert _iv.iv_to_e4_py(math.nan) == -1
    assert _iv.iv_to_e4_py(math.inf) == -1
    assert _iv.iv_to_e4_py(1e12) == 2**31 - 1


# ---------------------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------------------

def test_forward_preference():
    T = 30 / 365
    assert _iv.select_forward(fut_ltp=22510.0, parity_strike=22500.0, parity_call=200.0, parity_put=180.0,
                              spot=22400.0, t_years=T) == (22510.0, "future")
    f, src = _iv.select_forward(parity_strike=22500.0, parity_call=200.0, parity_put=180.0, spot=22400.0,
                                t_years=T)
    assert src == "parity" and f == pytest.approx(22500.0 + math.exp(0.1 * T) * 20.0)
    f, src = _iv.select_forward(parity_strike=22500.0, parity_call=200.0, parity_put=0.0, spot=22400.0,
                                t_years=T)
    assert src == "spot" and f == pytest.approx(22400.0 * math.exp(0.1 * T))
    f, src = _iv.select_forward(spot=22400.0, t_years=T, rate=0.07)
    assert src == "spot" and f == pytest.approx(22400.0 * math.exp(0.07 * T))
    f, src = _iv.select_forward()
    assert src == "none" and math.isnan(f)
    f, src = _iv.select_forward(fut_ltp=math.nan, parity_strike=100.0, parity_call=1.0, parity_put=500.0)
    assert src == "none"                         # parity forward <= 0 is rejected, no spot


def test_parity_forward_round_trip():
    """Prices from a known forward: parity gives it back, at the strike nearest ref with both prices."""
    F, T, sig = 22537.0, 12 / 365, 0.14
    strikes = np.arange(22000.0, 23100.0, 100.0)
    calls = np.array([_iv.black76_price(F, k, T, sig, R, True) for k in strikes])
    puts = np.array([_iv.black76_price(F, k, T, sig, R, False) for k in strikes])
    puts[5] = 0.0                                # 22500 has no put: next nearest with both is 22600
    f, k = _iv.parity_forward(strikes, calls, puts, ref=22480.0, t_years=T)
    assert k == 22400.0 and f == pytest.approx(F, rel=1e-12)
    f, k = _iv.parity_forward(strikes, calls, puts, ref=22560.0, t_years=T)
    assert k == 22600.0 and f == pytest.approx(F, rel=1e-12)
    parity_f = f
    f, k = _iv.parity_forward(strikes, np.zeros_like(calls), puts, ref=22500.0, t_years=T)
    assert math.isnan(f) and math.isnan(k)
    f, k = _iv.parity_forward([], [], [], ref=1.0, t_years=T)
    assert math.isnan(f)
    with pytest.raises(ValueError):
        _iv.parity_forward(strikes, calls[:-1], puts, ref=1.0, t_years=T)
    # the IV on the parity forward recovers sigma
    iv = _iv.implied_volatility(calls[7], parity_f, strikes[7], T, R, True)
    assert iv == pytest.approx(sig, rel=1e-6)


# ---------------------------------------------------------------------------------------------------------
# Time to expiry
# ---------------------------------------------------------------------------------------------------------

IST = 19800


def test_expiry_epoch_rule_brk_ct_example():
    """PROTOCOL_MORE §4.3: 1475159400 s since 1980 (IST) = 2026-09-29 14:30 IST = 09:00 UTC."""
    import datetime as dt
    raw = 1475159400
    unix = _iv.expiry_to_unix(raw)
    assert unix == raw + 315532800 - 19800
    assert dt.datetime.fromtimestamp(unix, dt.timezone.utc) == dt.datetime(2026, 9, 29, 9, 0, tzinfo=dt.timezone.utc)


def test_time_to_expiry_of_an_expiry_past_2262_does_not_wrap():
    """The master-file loader takes expiries up to 9999; expiry * 10^9 ns overflowed an int64 past 2262, so an
    option expiring in 2611 had a month to go (and got that month's IV), one in 2555 was expired."""
    now = int(dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc).timestamp()) * 10**9
    for year in (2263, 2555, 2611, 9999):
        raw = int((dt.datetime(year, 7, 10, 14, 30) - dt.datetime(1980, 1, 1)).total_seconds())
        assert raw <= EXPIRY_RAW_MAX
        t = _iv.time_to_expiry(raw, now)
        assert t == pytest.approx((expiry_unix(raw) + 3600 - now / 1e9) / (365 * 86400), rel=1e-12) and t > 236


def test_expiry_clock_is_1430_ist_of_the_date():
    """A stamp at any clock time of the day (e.g. midnight) means 14:30 IST of that IST date."""
    raw_1430 = 1475159400
    midnight = raw_1430 - (14 * 3600 + 30 * 60)
    assert _iv.expiry_to_unix(midnight) == _iv.expiry_to_unix(raw_1430)
    assert _iv.expiry_to_unix(midnight + 86399) == _iv.expiry_to_unix(raw_1430)
    assert _iv.expiry_to_unix(midnight + 86400) == _iv.expiry_to_unix(raw_1430) + 86400
    assert _iv.expiry_to_unix(0) == 315532800 - IST + 52200 - 0  # 1980-01-01 14:30 IST
    assert _iv.expiry_to_unix(-1) == _iv.expiry_to_unix(0) - 86400  # before 1980: floor, not truncation


def test_time_to_expiry_year_fraction():
    """To the close, 15:30 IST, of the expiry date: the master's 14:30 stamp left expiry day's last hour with
    no time (no IV) and the hours before it short."""
    raw = 1475159400
    expiry_ns = (raw + 315532800 - IST + 3600) * 10**9      # 2026-09-29 15:30 IST
    assert _iv.time_to_expiry(raw, expiry_ns) == 0.0
    assert _iv.time_to_expiry(raw, expiry_ns - 365 * 86400 * 10**9) == pytest.approx(1.0, rel=1e-15)
    assert _iv.time_to_expiry(raw, expiry_ns - 86400 * 10**9) == pytest.approx(1 / 365, rel=1e-12)
    assert _iv.time_to_expiry(raw, expiry_ns + 10**9) < 0
    # 09:15 IST on expiry day: 6h15m left; 15:00, after the stamp: half an hour
    assert _iv.time_to_expiry(raw, expiry_ns - (6 * 3600 + 15 * 60) * 10**9) == pytest.approx(
        (6.25 / 24) / 365, rel=1e-12)
    assert _iv.time_to_expiry(raw, expiry_ns - 1800 * 10**9) == pytest.approx((0.5 / 24) / 365, rel=1e-12)
    # expired option: no IV
    t = _iv.time_to_expiry(raw, expiry_ns + 10**9)
    assert math.isnan(_iv.implied_volatility(5.0, 100.0, 100.0, t, 0.1, True))


def test_an_expiry_beyond_the_int64_reach_is_a_value_error():
    """expiry_to_unix / time_to_expiry add 315532800 s and round to the day in int64: near either end of the range
    that overflowed (undefined behaviour, a wrapped answer).  Beyond +-2**62 s it is a ValueError; up to it the
    kernel agrees with the Python rule."""
    for raw in (2**63 - 1, 2**63 - 315532800, 2**62 + 1, -2**62 - 1, -2**63):
        with pytest.raises(ValueError, match="expiry_raw .* is out of range"):
            _iv.expiry_to_unix(raw)
        with pytest.raises(ValueError, match="expiry_raw .* is out of range"):
            _iv.time_to_expiry(raw, 0)
    for raw in (2**62, -2**62):
        assert _iv.expiry_to_unix(raw) == expiry_unix(raw)
        assert _iv.time_to_expiry(raw, 0) == pytest.approx(expiry_unix(raw) / (365 * 86400), rel=1e-12)


def test_an_in_the_money_price_at_its_intrinsic_value_has_no_iv():
    """At rate 0 a call priced at exactly F - K (a put at K - F) has no time value: no IV.  The kernel
    normalised the price first and subtracted the normalised intrinsic value, which left +-1 ulp that inverted
    to volatilities of 22 % to 222 % (and 8240 in the store)."""
    F = 2_400_000.0
    for K in (1_000_000.0, 1_800_000.0, 2_000_000.0, 2_200_000.0, 2_399_995.0):
        for T in (1 / 365, 30 / 365, 2.0):
            assert math.isnan(_iv.implied_volatility(F - K, F, K, T, 0.0, True)), (K, T)
            assert _iv.implied_volatility_status(F - K, F, K, T, 0.0, True)[1] == _iv.IV_STATUS_BELOW
            assert math.isnan(_iv.implied_volatility(F - K, K, F, T, 0.0, False)), (K, T)   # a put struck at F
    # the discounted intrinsic at a positive rate, as close as a double holds it: none either
    for r in (0.05, 0.10):
        for K in (1_000_000.0, 2_000_000.0):
            p = (F - K) * math.exp(-r * 0.5)
            assert math.isnan(_iv.implied_volatility(p, F, K, 0.5, r, True))
    # a paisa of time value is a real (small) volatility, found and repriced
    v = _iv.implied_volatility(F - 2_000_000.0 + 1.0, F, 2_000_000.0, 30 / 365, 0.0, True)
    assert 0 < v < 0.2
    assert _iv.black76_price(F, 2_000_000.0, 30 / 365, v, 0.0, True) == pytest.approx(400_001.0, abs=1e-6)


def test_is_call_takes_bools_not_option_types():
    """Any object was taken by its truth: the master's option type 'PE' priced a put as a call."""
    put = _iv.black76_price(100.0, 100.0, 0.5, 0.2, 0.0, False)
    for bad in ("PE", "CE", None, 2, 0.5):
        with pytest.raises(TypeError, match="is_call must be a bool"):
            _iv.implied_volatility(put, 100.0, 100.0, 0.5, 0.0, bad)
        with pytest.raises(TypeError, match="is_call must be a bool"):
            _iv.black76_price(100.0, 100.0, 0.5, 0.2, 0.0, bad)
    for bad in (["PE"], np.array([2, 0]), np.array([0.0])):
        with pytest.raises(TypeError, match="is_call must be bools"):
            _iv.implied_volatility_array([put], 100.0, 100.0, 0.5, 0.0, bad)
        with pytest.raises(TypeError, match="is_call must be bools"):
            _iv.black76_price_array(100.0, 100.0, 0.5, 0.2, 0.0, bad)
    for ok in (False, 0, np.bool_(False), np.int64(0)):
        assert _iv.implied_volatility(put, 100.0, 100.0, 0.5, 0.0, ok) == pytest.approx(0.2, rel=1e-9)
    got = _iv.implied_volatility_array([put, put], 100.0, 100.0, 0.5, 0.0, np.array([0, 0], np.uint8))
    assert got == pytest.approx([0.2, 0.2], rel=1e-9)


@pytest.mark.parametrize("func, array_form, args, arg", [
    ("implied_volatility", "implied_volatility_array", (np.array([5.0, 6.0]), 100.0, 100.0, 0.1), "price"),
    ("implied_volatility", "implied_volatility_array", (5.0, 100.0, [100.0, 90.0], 0.1), "strike"),
    ("implied_volatility", "implied_volatility_array", (5.0, 100.0, 100.0, np.array([0.1])), "t_years"),
    ("implied_volatility", "implied_volatility_array", (5.0, 100.0, 100.0, 0.1, 0.1, np.array([True])),
     "is_call"),
    ("implied_volatility_status", "implied_volatility_array", (np.zeros((2, 3)), 100.0, 100.0, 0.1), "price"),
    ("black76_price", "black76_price_array", (100.0, 100.0, 0.1, np.array([0.2, 0.3])), "sigma"),
])
def test_a_scalar_function_given_an_array_names_the_array_form(func, array_form, args, arg):
    """numpy's "only 0-dimensional arrays can be converted to Python scalars" said nothing of the array form
    (a 1-element array was taken with a DeprecationWarning).  The message names the function called, and the
    array call that does its work (implied_volatility_status's is implied_volatility_array's status=True)."""
    call = f"{array_form}(..., status=True)" if func == "implied_volatility_status" else f"{array_form}(...)"
    with pytest.raises(TypeError, match=rf"^{func}: {arg} is an array of shape \(.*\), and {func} takes one number "
                                        rf"per argument: for arrays use vega\.{re.escape(call)}, "):
        getattr(_iv, func)(*args)
    np.asarray(getattr(_iv, array_form)(*args))       # which takes them


def test_a_scalar_function_takes_one_number_in_any_form():
    want = _iv.implied_volatility(5.0, 100.0, 100.0, 0.1)
    assert 0 < want < 1
    assert _iv.implied_volatility(np.array(5.0), np.float64(100.0), 100, np.float32(0.1)) == \
        pytest.approx(want, rel=1e-6)
    with pytest.raises(TypeError, match="^implied_volatility: price must be a number, not str: '5'$"):
        _iv.implied_volatility("5", 100.0, 100.0, 0.1)


@pytest.mark.parametrize("func, args, arg", [
    ("implied_volatility", (True, 100.0, 100.0, 0.1), "price"),
    ("implied_volatility", (5.0, 100.0, 100.0, True), "t_years"),
    ("implied_volatility", (5.0, 100, np.True_, 0.1), "strike"),
    ("implied_volatility_status", (5.0, False, 100.0, 0.1), "forward"),
    ("implied_volatility_status", (5.0, 100.0, 100.0, 0.1, np.array(False)), "rate"),
    ("black76_price", (100.0, 100.0, 0.1, True), "sigma"),
    ("black76_price", (100.0, 100.0, True, 0.2, 0.0, False), "t_years"),
])
def test_a_scalar_function_refuses_a_bool_as_a_number(func, args, arg):
    """price=True was taken as 1.0 (a volatility came back), where the rest of the API refuses bools as numbers;
    is_call alone is a bool."""
    with pytest.raises(TypeError, match=rf"^{func}: {arg} must be a number, not a bool"):
        getattr(_iv, func)(*args)


@pytest.mark.parametrize("func, args, arg", [
    ("implied_volatility_array", ([True, False], 100.0, 100.0, 0.1), "price"),
    ("implied_volatility_array", (5.0, 100.0, 100.0, np.ones(2, bool)), "t_years"),
    ("black76_price_array", (100.0, 100.0, 0.1, 0.2, np.False_), "rate"),
])
def test_an_array_function_refuses_bools_as_numbers(func, args, arg):
    with pytest.raises(TypeError, match=rf"^{func}: {arg} must be numbers, not bools"):
        getattr(_iv, func)(*args)
