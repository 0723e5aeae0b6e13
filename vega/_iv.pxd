# cython: language_level=3
#
# vega._iv — the Black-76 implied-volatility kernel (contract + inline bodies).
#
# Everything here is `cdef inline ... noexcept nogil` with its body in this .pxd so that vega/_core (the store
# and its merge) can
#     from vega._iv cimport iv_black76_implied, iv_select_forward, iv_expiry_unix, iv_year_fraction, iv_to_e4
# and have the kernel inlined into the nogil merge of an option tick.  vega/_iv.pyx only wraps it for Python.
#
# Model (PROTOCOL_MORE.md §5): Black-76 on the forward F of the option's own expiry,
#     C = e^(-rT) [F N(d1) - K N(d2)],   P = e^(-rT) [K N(-d2) - F N(-d1)],
#     d1 = (ln(F/K) + s^2/2) / s,  d2 = d1 - s,  s = sigma * sqrt(T)  (the "total volatility").
# T in years of 365 calendar days, r continuously compounded (only discounts), sigma annualised.
#
# Solver (our own; the idea of working on the normalised out-of-the-money price and of switching objective
# at the inflection point follows P. Jaeckel, "Let's Be Rational" (2013) / "By Implication" (2006), but the
# scheme is simpler):
#   1. normalise: x = ln(F/K), beta = price e^(rT) / sqrt(F K); subtract the normalised intrinsic
#      2 sinh(x/2) when in the money (put-call symmetry), so the problem is always an out-of-the-money call
#      b(x, s) = e^(x/2) N(x/s + s/2) - e^(-x/2) N(x/s - s/2) with x <= 0, 0 < beta < e^(x/2).
#   2. b is convex in s below the inflection point s_c = sqrt(-2x) and concave above it.  Below b(s_c) solve
#      1/ln b(s) = 1/ln beta (that function of s is close to -2 s^2 / x^2, nearly quadratic); above it solve
#      ln(e^(x/2) - b(s)) = ln(e^(x/2) - beta) where e^(x/2) - b = e^(x/2) N(-d1) + e^(-x/2) N(d2) is computed
#      without cancellation.  Initial guesses: below, Corrado-Miller on the normalised prices near the money
#      and the small-s asymptote s ~ |x| / sqrt(-2 ln beta) (one Mills-ratio refinement) far from it; above,
#      the large-s form e^(x/2) - b ~ 2 cosh(x/2) N(-s/2) (exact at the money).
#   3. Halley steps (analytic first and second derivatives) inside a bracket that every evaluation narrows;
#      a step that leaves the bracket is replaced by bisection.  Stop when the step is below 1e-4 relative
#      (the error left after a step of cubic convergence is then ~1e-12).
# The normal CDF is erfc-based (relative accuracy in the far tails, where N(z) ~ 1e-300 is still exact to a
# few ulps).  Accuracy: relative error of sigma <= 1e-6 wherever the double-precision price carries that
# information; see docs/FORMATS.md "Implied volatility" for the exclusion rule of the tests.
#
# "No IV" is IV_NONE = -1.0 (never NaN, never 0); the reason is an iv_status through the out-parameter of
# iv_black76_implied_ex.  The store keeps IV as int32 in units of 1e-4 (iv_to_e4), "no IV" = IV_NONE_E4 = -1.

from libc.float cimport DBL_EPSILON
from libc.math cimport erfc, exp, log, sqrt, fabs, sinh, cosh, isfinite, INFINITY
from libc.stdint cimport int32_t, int64_t


cdef extern from *:
    """
    #define IV_NONE (-1.0)
    """
    const double IV_NONE               # "no implied volatility": sentinel returned by iv_black76_implied


cdef enum iv_status:                   # why iv_black76_implied_ex returned IV_NONE (or IV_OK)
    IV_OK = 0                          # sigma found
    IV_E_INPUT = 1                     # price, F, K, T or r not finite, or F <= 0, K <= 0, T <= 0
    IV_E_BELOW = 2                     # price <= discounted intrinsic value (no time value left)
    IV_E_ABOVE = 3                     # price >= discounted upper bound (F e^-rT for a call, K e^-rT for a put)
    IV_E_NOCONV = 4                    # the solver ran out of iterations (not seen on the test grid)

cdef enum iv_fwd_source:               # where iv_select_forward took the forward from
    IV_FWD_NONE = 0                    # no usable input: the forward is -1 (then there is no IV)
    IV_FWD_FUTURE = 1                  # the same-expiry future's last traded price
    IV_FWD_PARITY = 2                  # put-call parity F = K + e^(rT) (C - P) at one strike
    IV_FWD_SPOT = 3                    # spot (index or underlying) carried: S e^(rT)

cdef enum:
    IV_NONE_E4 = -1                    # "no IV" in the store's int32 field implied_volatility (1e-4 units)
    IV_MAX_ITER = 64                   # solver iteration cap (a handful are used; see the tests)
    IV_EPOCH_1980 = 315532800          # unix seconds of 1980-01-01 00:00 UTC
    IV_IST_OFFSET = 19800              # IST = UTC + 5:30
    IV_EXPIRY_CLOCK = 52200            # 14:30:00 as seconds after midnight (IST): the master file's stamp
    IV_CLOSE_CLOCK = 55800             # 15:30:00 IST, the close: an option's time to expiry runs to it
    IV_YEAR_SECONDS = 31536000         # 365 days: T is a calendar-year fraction


# ------------------------------------------------------------------------------------------------------
# Normal distribution
# ------------------------------------------------------------------------------------------------------

cdef inline double iv_norm_cdf(double z) noexcept nogil:
    """N(z) through erfc: relative accuracy in the lower tail (z down to about -37.5 before underflow)."""
    return 0.5 * erfc(-0.7071067811865476 * z)


cdef inline double iv_norm_inv(double p) noexcept nogil:
    """Inverse normal CDF for 0 < p < 1 (rational approximation, relative error ~1e-9; used for a guess only)."""
    cdef double q, r
    if p < 0.02425:
        q = sqrt(-2.0 * log(p))
        return (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e+00) * q
                  - 2.549732539343734e+00) * q + 4.374664141464968e+00) * q + 2.938163982698783e+00) / \
               ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e+00) * q
                 + 3.754408661907416e+00) * q + 1.0)
    if p > 0.97575:
        q = sqrt(-2.0 * log(1.0 - p))
        return -(((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e+00) * q
                   - 2.549732539343734e+00) * q + 4.374664141464968e+00) * q + 2.938163982698783e+00) / \
               ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e+00) * q
                 + 3.754408661907416e+00) * q + 1.0)
    q = p - 0.5
    r = q * q
    return (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r
              + 1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q / \
           (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r
              + 6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1.0)


# ------------------------------------------------------------------------------------------------------
# Black-76 price
# ------------------------------------------------------------------------------------------------------

cdef inline double iv_black76_price(double F, double K, double T, double r, double sigma,
                                    bint is_call) noexcept nogil:
    """Black-76 price of a European option on the forward F (same units as F and K; T in years, r continuous,
    sigma annualised).  Returns IV_NONE for F <= 0, K <= 0, T < 0, sigma < 0 or non-finite input; T == 0 or
    sigma == 0 give the discounted intrinsic value."""
    cdef double s, x, d1, df
    if not (isfinite(F) and isfinite(K) and isfinite(T) and isfinite(r) and isfinite(sigma)):
        return IV_NONE
    if F <= 0.0 or K <= 0.0 or T < 0.0 or sigma < 0.0:
        return IV_NONE
    df = exp(-r * T)
    s = sigma * sqrt(T)
    if s == 0.0:
        if is_call:
            return df * (F - K if F > K else 0.0)
        return df * (K - F if K > F else 0.0)
    x = log(F / K)
    d1 = x / s + 0.5 * s
    if is_call:
        return df * (F * iv_norm_cdf(d1) - K * iv_norm_cdf(d1 - s))
    return df * (K * iv_norm_cdf(s - d1) - F * iv_norm_cdf(-d1))


# ------------------------------------------------------------------------------------------------------
# Implied volatility
# ------------------------------------------------------------------------------------------------------

cdef inline double iv_otm_b(double x, double s, double ex2, double emx2) noexcept nogil:
    """Normalised out-of-the-money call b(x, s), x <= 0, s > 0; ex2 = e^(x/2), emx2 = e^(-x/2)."""
    cdef double d1 = x / s + 0.5 * s
    return ex2 * iv_norm_cdf(d1) - emx2 * iv_norm_cdf(d1 - s)


cdef inline double iv_otm_gap(double x, double s, double ex2, double emx2) noexcept nogil:
    """e^(x/2) - b(x, s) = e^(x/2) N(-d1) + e^(-x/2) N(d2): the distance to the upper bound, no cancellation."""
    cdef double d1 = x / s + 0.5 * s
    return ex2 * iv_norm_cdf(-d1) + emx2 * iv_norm_cdf(d1 - s)


cdef inline double iv_otm_vega(double x, double s) noexcept nogil:
    """db/ds = e^(x/2) phi(d1) = exp(-(x^2/s^2 + s^2/4) / 2) / sqrt(2 pi)."""
    return 0.3989422804014327 * exp(-0.5 * (x * x / (s * s) + 0.25 * s * s))


cdef inline double iv_normalised_vol(double beta, double x, double ex2, double emx2,
                                     int* iters) noexcept nogil:
    """Total volatility s with b(x, s) == beta for x <= 0 and 0 < beta < e^(x/2) = ex2 (emx2 = 1 / ex2);
    -1.0 if not converged.  iters receives the number of price evaluations after the initial guess."""
    cdef double sc = sqrt(-2.0 * x)
    cdef double lo = 0.0, hi = INFINITY, s, ds, f, f1, f2, b, v, v2, L, L1, L2, g, gt, lt, den, h, t, u
    cdef bint lower
    cdef int i
    # b at the inflection point s_c: d1 = 0 there, so b_c = e^(x/2) / 2 - e^(-x/2) N(-s_c)
    cdef double bc = 0.5 * ex2 - emx2 * iv_norm_cdf(-sc) if sc > 0.0 else 0.0
    lower = beta < bc
    if lower:
        # 1 / ln b(s) = 1 / ln beta on (0, s_c)
        hi = sc
        lt = log(beta)
        # Corrado-Miller on the normalised prices (forward e^(x/2), strike e^(-x/2)): good near the money,
        # where the discriminant is positive; else the small-s asymptote s ~ |x| / sqrt(-2 ln beta), refined
        # once (when |x/s| > 4, where it holds; in between, Corrado-Miller's linear term) with the Mills ratio
        # of both tails:
        # b ~ exp(-(h^2 + t^2)/2) / sqrt(2 pi) * 2t / (h^2 - t^2), h = x/s, t = s/2
        t = 0.5 * (ex2 - emx2)
        u = beta - t
        h = u * u - 4.0 * t * t * 0.3183098861837907
        if h > 0.0:
            s = 2.5066282746310002 / (ex2 + emx2) * (u + sqrt(h))
        else:
            s = fabs(x) / sqrt(-2.0 * lt)
            h = x / s
            t = 0.5 * s
            if h * h > 16.0:
                u = lt + 0.5 * t * t - log(0.7978845608028654 * t / (h * h - t * t))
                if u < 0.0:
                    s = fabs(x) / sqrt(-2.0 * u)
            else:
                # between the two (|x/s| <= 4, negative discriminant): Corrado-Miller's linear term alone
                s = 2.5066282746310002 / (ex2 + emx2) * u
        if not (s > 0.0):
            s = 0.5 * hi
        if s >= hi:
            s = 0.5 * hi
    else:
        lo = sc
        gt = ex2 - beta                 # target distance to the upper bound (> 0)
        s = -2.0 * iv_norm_inv(0.5 * gt / cosh(0.5 * x))
        if not (s > lo):
            s = lo + 0.5 * (lo if lo > 0.0 else 1.0)
        lt = log(gt)
    for i in range(IV_MAX_ITER):
        iters[0] = i + 1
        v = iv_otm_vega(x, s)
        v2 = v * (x * x / (s * s * s) - 0.25 * s)
        if lower:
            b = iv_otm_b(x, s, ex2, emx2)
            if not (b > 0.0):           # underflow: far below the target
                lo = s
                s = 0.5 * (lo + hi)
                continue
            L = log(b)
            if L < lt:
                lo = s
            else:
                hi = s
            L1 = v / b
            L2 = v2 / b - L1 * L1
            f = 1.0 / L - 1.0 / lt
            f1 = -L1 / (L * L)
            f2 = (2.0 * L1 * L1 - L * L2) / (L * L * L)
        else:
            g = iv_otm_gap(x, s, ex2, emx2)
            if not (g > 0.0):           # b(s) rounds to the upper bound: far above the target
                hi = s
                s = 0.5 * (lo + hi)
                continue
            if g > gt:
                lo = s
            else:
                hi = s
            f = log(g) - lt
            f1 = -v / g
            f2 = -v2 / g - f1 * f1
        if f == 0.0:
            return s
        if f1 == 0.0 or not isfinite(f1):
            ds = INFINITY
        else:
            ds = -f / f1
            den = 1.0 - 0.5 * ds * f2 / f1     # Halley: ds_newton / (1 - f f'' / (2 f'^2))
            if den > 0.5:
                ds = ds / den
        if fabs(ds) <= 1e-4 * s:                # converged: the error left after this (Halley) step is ~1e-12
            if s + ds >= lo and s + ds <= hi:
                return s + ds
            return s
        if s + ds > lo and s + ds < hi:
            s = s + ds
        else:
            if hi == INFINITY:
                s = 2.0 * s
            else:
                s = 0.5 * (lo + hi)
            if hi - lo <= 1e-15 * hi:
                return s
    return -1.0


cdef inline double iv_black76_implied_ex(double price, double F, double K, double T, double r, bint is_call,
                                         int* status) noexcept nogil:
    """Black-76 implied volatility (annualised) of an option price; IV_NONE with status[0] != IV_OK when the
    price is outside the no-arbitrage bounds (discounted intrinsic, discounted F for a call / K for a put)
    or an input is invalid.  price, F and K in the same units (paise are fine); T years; r continuous."""
    cdef double x, beta, s, e, ie, u, tv
    cdef int iters = 0
    if not (isfinite(price) and isfinite(F) and isfinite(K) and isfinite(T) and isfinite(r)):
        status[0] = IV_E_INPUT
        return IV_NONE
    if F <= 0.0 or K <= 0.0 or T <= 0.0:
        status[0] = IV_E_INPUT
        return IV_NONE
    u = price * exp(r * T)                      # undiscounted
    x = log(F / K)
    e = exp(0.5 * fabs(x))
    ie = 1.0 / e
    if (F > K) == (is_call != 0) and F != K:
        # in the money: the time value, taken in price space (exact there: u and |F - K| are close when it is
        # small), above a few rounding steps of u.  Normalised first, u / sqrt(F K) - (e - 1/e) left +-1 ulp
        # of a price at its intrinsic value, which inverted to a large volatility
        tv = u - fabs(F - K)
        if not (tv > 4.0 * DBL_EPSILON * u):
            status[0] = IV_E_BELOW
            return IV_NONE
        beta = tv / sqrt(F * K)                 # normalised by sqrt(F K)
    else:
        beta = u / sqrt(F * K)
    if not (beta > 0.0):
        status[0] = IV_E_BELOW
        return IV_NONE
    if beta >= ie:                              # upper bound of the out-of-the-money call, e^(-|x|/2)
        status[0] = IV_E_ABOVE
        return IV_NONE
    s = iv_normalised_vol(beta, -fabs(x), ie, e, &iters)
    if s <= 0.0:
        status[0] = IV_E_NOCONV
        return IV_NONE
    status[0] = IV_OK
    return s / sqrt(T)


cdef inline double iv_black76_implied(double price, double F, double K, double T, double r,
                                      bint is_call) noexcept nogil:
    """iv_black76_implied_ex without the status: the volatility, or IV_NONE (-1.0)."""
    cdef int status
    return iv_black76_implied_ex(price, F, K, T, r, is_call, &status)


cdef inline int32_t iv_to_e4(double sigma) noexcept nogil:
    """The store's encoding of a volatility: int32 in 1e-4 units (0.2534 -> 2534, rounded half up);
    IV_NONE (or any negative / non-finite sigma) -> IV_NONE_E4 (-1); saturates at 2^31 - 1."""
    if not (sigma >= 0.0) or not isfinite(sigma):
        return IV_NONE_E4
    if sigma >= 214748.3647:
        return 2147483647
    return <int32_t>(sigma * 1e4 + 0.5)


# ------------------------------------------------------------------------------------------------------
# Forward and time to expiry
# ------------------------------------------------------------------------------------------------------

cdef inline double iv_select_forward(double fut_ltp, double parity_strike, double parity_call,
                                     double parity_put, double spot, double T, double r,
                                     int* source) noexcept nogil:
    """The forward of one expiry, by preference: the same-expiry future's LTP if > 0; else put-call parity
    F = K + e^(rT) (C - P) at parity_strike (the store passes the strike nearest the money with both a call and
    a put price > 0; any argument <= 0 means "none") when that F is > 0; else spot e^(rT) if spot > 0.
    All prices in one unit.  Returns -1.0 and source IV_FWD_NONE when nothing is usable."""
    cdef double f
    if fut_ltp > 0.0 and isfinite(fut_ltp):
        source[0] = IV_FWD_FUTURE
        return fut_ltp
    if isfinite(T) and isfinite(r) and T >= 0.0:
        if parity_strike > 0.0 and parity_call > 0.0 and parity_put > 0.0:
            f = parity_strike + exp(r * T) * (parity_call - parity_put)
            if f > 0.0 and isfinite(f):
                source[0] = IV_FWD_PARITY
                return f
        if spot > 0.0 and isfinite(spot):
            source[0] = IV_FWD_SPOT
            return spot * exp(r * T)
    source[0] = IV_FWD_NONE
    return -1.0


cdef inline Py_ssize_t iv_parity_pick(const double* strikes, const double* calls, const double* puts,
                                      Py_ssize_t n, double ref) noexcept nogil:
    """Index of the strike nearest ref (e.g. spot, or the option's own strike) among those with both a call
    and a put price > 0; -1 if there is none.  Ties go to the lower index."""
    cdef Py_ssize_t i, best = -1
    cdef double d, bd = INFINITY
    for i in range(n):
        if strikes[i] > 0.0 and calls[i] > 0.0 and puts[i] > 0.0:
            d = fabs(strikes[i] - ref)
            if d < bd:
                bd = d
                best = i
    return best


cdef inline int64_t iv_expiry_unix(int64_t expiry_raw) noexcept nogil:
    """Unix seconds of 14:30 IST on the expiry date of a master-file expiry (seconds since 1980-01-01 read as
    IST wall-clock, PROTOCOL_MORE.md §4.3): the IST date of raw, clock set to 14:30."""
    cdef int64_t wall = expiry_raw + IV_EPOCH_1980          # naive IST wall-clock seconds since 1970
    cdef int64_t day = wall // 86400 if wall >= 0 else -((-wall + 86399) // 86400)
    return day * 86400 + IV_EXPIRY_CLOCK - IV_IST_OFFSET


cdef inline int64_t iv_close_unix(int64_t expiry_unix_s) noexcept nogil:
    """Unix seconds of the close (15:30 IST) on the expiry date of ``expiry_unix_s`` (14:30 IST, the master
    file's stamp, iv_expiry_unix): options trade, and settle on prices, up to the close, so the time to expiry
    runs to it (to 14:30, expiry day's last hour had no IV and the hours before it too high a one)."""
    return expiry_unix_s + (IV_CLOSE_CLOCK - IV_EXPIRY_CLOCK)


cdef inline double iv_year_fraction(int64_t expiry_unix_s, int64_t now_ns) noexcept nogil:
    """Time to expiry in years of 365 calendar days from now_ns (unix epoch ns); <= 0 once expired.  In seconds
    and a fraction: expiry_unix_s * 10^9 overflows an int64 past the year 2262, and the master file's expiries
    go to 9999 (one in 2611 wrapped to a month away)."""
    cdef int64_t now_s = now_ns // 1000000000            # (cdivision: truncated; the remainder has its sign)
    cdef int64_t rem = now_ns - now_s * 1000000000
    return (<double>expiry_unix_s - <double>now_s - <double>rem * 1e-9) / <double>IV_YEAR_SECONDS
