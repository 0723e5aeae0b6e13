"""Black-76 implied volatility: VEGA's kernel (vega._iv) against scipy brentq and py_vollib, same run (pyperf).

Inputs: 1000 NIFTY-like options (forward 22 500, strikes 0.8-1.25 x F, 1-90 days, vol 8-60 %, calls and puts,
r 10 %; deep-ITM ones whose price has no time value at double precision are left out by the rule of
tests/test_iv.py), priced with Black-76; every method must recover the vol (checked before timing).  A second set, the
"grid", is every informative point of the accuracy grid of tests/test_iv.py (moneyness 0.5-2, 1 day-2 years,
vol 1-300 %), which is harder (deep out of the money, tiny and huge total volatility).

Benchmarks (each value is per implied volatility):
  iv/vega C loop            vega._iv._bench_iv_loop: the nogil kernel over the arrays, as vega._core runs it
  iv/vega C loop (grid)     the same on the grid set
  iv/vega numpy             vega.implied_volatility_array (argument broadcasting + the nogil loop)
  iv/vega per call          vega.implied_volatility(...) called from Python per option
  iv/scipy brentq           scipy.optimize.brentq on a math.erfc Black-76 per option, bracket [1e-6, 10],
                            xtol 1e-12, rtol 1e-10 (our solver stops at a Halley step below 1e-4 relative,
                            which leaves an error ~1e-12; both are far inside the 1e-6 target)
  (the three pure-Python baselines below run on the first 200 of the 1000 options)
  iv/py_vollib              py_vollib.black.implied_volatility (Jaeckel's "Let's Be Rational" in Python)
  iv/lets_be_rational       lets_be_rational.implied_volatility_from_a_transformed_rational_guess (the same
                            algorithm without py_vollib's wrapper), on undiscounted prices
py_vollib / lets_be_rational are skipped (and the run says so) if they are not installed.

Run:  python bench/bench_iv.py [--fast] [pyperf options]   (pyperf's --fast: fewer runs, well under a minute)
"""
from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
import warnings

import numpy as np
import pyperf
from scipy.optimize import brentq
from scipy.special import ndtr

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench._cli import command_line, parse_args  # noqa: E402
from vega import _iv  # noqa: E402

def _load_vollib():
    """py_vollib's Black implied volatility, or None (imported lazily: it pulls in pandas)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from py_vollib.black.implied_volatility import implied_volatility
        return implied_volatility
    except Exception:                               # not installed or broken
        return None


def _load_lbr():
    try:
        from lets_be_rational import implied_volatility_from_a_transformed_rational_guess
        return implied_volatility_from_a_transformed_rational_guess
    except Exception:
        return None


R = 0.10


def _informative(p, f, k, t, v, call):
    """The accuracy rule of tests/test_iv.py: no underflow, condition number <= 1e8."""
    s = v * np.sqrt(t)
    d1 = np.log(f / k) / s + 0.5 * s
    th = np.where(call, 1.0, -1.0)
    df = np.exp(-R * t)
    terms = df * (f * ndtr(th * d1) + k * ndtr(th * (d1 - s)))
    vega = df * f * np.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) * np.sqrt(t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return (p > 1e-300 * f) & (terms / (v * vega) <= 1e8)


def _market(n):
    rng = np.random.default_rng(2026)
    m = 3 * n
    f = np.full(m, 22500.0)
    k = f * rng.uniform(0.8, 1.25, m)
    t = rng.uniform(1, 90, m) / 365
    v = rng.uniform(0.08, 0.60, m)
    c = rng.integers(0, 2, m).astype(bool)
    p = _iv.black76_price_array(f, k, t, v, R, c)
    ok = np.nonzero(_informative(p, f, k, t, v, c))[0][:n]   # drops deep-ITM options with no time value
    return p[ok], f[ok], k[ok], t[ok], v[ok], c[ok]


N = 1000
P, F, K, T, SIG, CALL = _market(N)
CALL_U8 = CALL.view(np.uint8).copy()
ROWS = list(zip(P.tolist(), F.tolist(), K.tolist(), T.tolist(), CALL.tolist()))


def _grid():
    m = np.geomspace(0.5, 2.0, 41)
    t = np.geomspace(1 / 365, 2.0, 25)
    v = np.geomspace(0.01, 3.0, 41)
    M, TT, V, C = np.meshgrid(m, t, v, [True, False], indexing="ij")
    k = M * 100.0
    p = _iv.black76_price_array(100.0, k, TT, V, R, C)
    ok = _informative(p, 100.0, k, TT, V, C)
    return (p[ok].copy(), np.full(ok.sum(), 100.0), k[ok].copy(), TT[ok].copy(),
            C[ok].view(np.uint8).copy(), V[ok].copy())


_GRID = []


def grid():
    if not _GRID:
        _GRID.extend(_grid())
    return _GRID


def black76(f, k, t, r, v, call):
    s = v * math.sqrt(t)
    d1 = math.log(f / k) / s + 0.5 * s
    d2 = d1 - s
    df = math.exp(-r * t)
    if call:
        return df * (f * 0.5 * math.erfc(-d1 * 0.7071067811865476) - k * 0.5 * math.erfc(-d2 * 0.7071067811865476))
    return df * (k * 0.5 * math.erfc(d2 * 0.7071067811865476) - f * 0.5 * math.erfc(d1 * 0.7071067811865476))


def brentq_iv(p, f, k, t, r, call):
    return brentq(lambda v: black76(f, k, t, r, v, call) - p, 1e-6, 10.0, xtol=1e-12, rtol=1e-10)


def _check(vollib_iv, lbr_iv):
    GP, GF, GK, GT, GC, GV = grid()
    ours = _iv.implied_volatility_array(P, F, K, T, R, CALL)
    assert np.allclose(ours, SIG, rtol=1e-6, atol=0), np.abs(ours / SIG - 1).max()
    assert np.allclose(_iv.implied_volatility_array(GP, GF, GK, GT, R, GC.astype(bool)), GV, rtol=1e-6, atol=0)
    for i in range(0, N, 97):
        p, f, k, t, c = ROWS[i]
        assert abs(brentq_iv(p, f, k, t, R, c) / SIG[i] - 1) < 1e-6
        if vollib_iv is not None:
            assert abs(vollib_iv(p, f, k, R, t, "c" if c else "p") / SIG[i] - 1) < 1e-6
        if lbr_iv is not None:
            assert abs(lbr_iv(p * math.exp(R * t), f, k, t, 1 if c else -1) / SIG[i] - 1) < 1e-6


def t_vega_c_loop(loops: int) -> float:
    t0 = time.perf_counter()
    _iv._bench_iv_loop(P, F, K, T, R, CALL_U8, loops)
    return time.perf_counter() - t0


def t_vega_c_loop_grid(loops: int) -> float:
    GP, GF, GK, GT, GC, _ = grid()
    t0 = time.perf_counter()
    _iv._bench_iv_loop(GP, GF, GK, GT, R, GC, loops)
    return time.perf_counter() - t0


def t_vega_numpy(loops: int) -> float:
    fn = _iv.implied_volatility_array
    t0 = time.perf_counter()
    for _ in range(loops):
        fn(P, F, K, T, R, CALL)
    return time.perf_counter() - t0


def t_vega_per_call(loops: int) -> float:
    fn = _iv.implied_volatility
    rows = ROWS
    t0 = time.perf_counter()
    for _ in range(loops):
        for p, f, k, t, c in rows:
            fn(p, f, k, t, R, c)
    return time.perf_counter() - t0


N_SLOW = 200                           # the pure-Python baselines run on the first 200 options (same mix)


def t_brentq(loops: int) -> float:
    rows = ROWS[:N_SLOW]
    t0 = time.perf_counter()
    for _ in range(loops):
        for p, f, k, t, c in rows:
            brentq_iv(p, f, k, t, R, c)
    return time.perf_counter() - t0


def t_vollib(loops: int) -> float:
    rows = [(p, f, k, t, "c" if c else "p") for p, f, k, t, c in ROWS[:N_SLOW]]
    fn = _load_vollib()
    t0 = time.perf_counter()
    for _ in range(loops):
        for p, f, k, t, c in rows:
            fn(p, f, k, R, t, c)
    return time.perf_counter() - t0


def t_lbr(loops: int) -> float:
    rows = [(p * math.exp(R * t), f, k, t, 1 if c else -1) for p, f, k, t, c in ROWS[:N_SLOW]]
    fn = _load_lbr()
    t0 = time.perf_counter()
    for _ in range(loops):
        for p, f, k, t, c in rows:
            fn(p, f, k, t, c)
    return time.perf_counter() - t0


def main() -> None:
    runner = pyperf.Runner(processes=4, min_time=0.05)      # --fast: 3 processes (pyperf's at least 3)
    command_line(runner.argparser, __doc__,
                 fast="pyperf's: 3 processes instead of 4, 2 values each (well under a minute)")
    args = parse_args(runner)
    has_vollib = importlib.util.find_spec("py_vollib") is not None   # imported only where it is timed
    has_lbr = importlib.util.find_spec("lets_be_rational") is not None
    ng = len(grid()[0])
    if not args.worker:                                     # every method recovers the vols (master only)
        vollib_iv, lbr_iv = _load_vollib(), _load_lbr()
        has_vollib, has_lbr = vollib_iv is not None, lbr_iv is not None
        _check(vollib_iv, lbr_iv)
    runner.metadata["iv_inputs"] = f"{N} NIFTY-like options; grid set {ng} points"
    benches = [
        ("iv/vega C loop", t_vega_c_loop, N),
        ("iv/vega C loop (grid)", t_vega_c_loop_grid, ng),
        ("iv/vega numpy", t_vega_numpy, N),
        ("iv/vega per call", t_vega_per_call, N),
        ("iv/scipy brentq", t_brentq, N_SLOW),
    ]
    if has_vollib:
        benches.append(("iv/py_vollib", t_vollib, N_SLOW))
    if has_lbr:
        benches.append(("iv/lets_be_rational", t_lbr, N_SLOW))
    res = {name: runner.bench_time_func(name, fn, inner_loops=n) for name, fn, n in benches}
    if any(b is None for b in res.values()):
        return                                   # a pyperf worker process: the master prints the summary
    med = {k: b.median() for k, b in res.items()}
    base = med["iv/scipy brentq"]
    print()
    print(f"Black-76 implied volatility, ns per IV (medians; machine shared, 2 cores; {N} NIFTY-like options,"
          f" grid {ng} points):")
    for name in med:
        s = med[name]
        # brentq runs on the 1000 options only: a ratio to it for the grid set would compare different inputs
        ratio = "(grid set: no baseline ran on it)" if name.endswith("(grid)") else f"{base / s:9.1f}x scipy brentq"
        print(f"  {name:26s} {s * 1e9:11.0f} ns/IV   {ratio}")
    if not has_vollib:
        print("  iv/py_vollib: skipped (py_vollib not installed: pip install py_vollib)")
    if not has_lbr:
        print("  iv/lets_be_rational: skipped (not installed)")
    if "iv/py_vollib" in med:
        print(f"  vega C loop vs py_vollib: {med['iv/py_vollib'] / med['iv/vega C loop']:.0f}x; "
              f"vega per call vs py_vollib: {med['iv/py_vollib'] / med['iv/vega per call']:.1f}x")


if __name__ == "__main__":
    main()
