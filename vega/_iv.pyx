# cython: language_level=3
"""Black-76 implied volatility: Python wrappers around the nogil kernel of ``vega/_iv.pxd``.

The kernel itself is inlined into the store's merge (``vega._core`` cimports it); this module exposes the same
functions to Python: scalars (``implied_volatility``, ``black76_price``), numpy variants that loop nogil
(``implied_volatility_array``, ``black76_price_array``, ``time_to_expiry_array``), the forward selection and the
time-to-expiry helpers.

In Python "no IV" is ``nan`` (numpy-friendly); the C kernel returns ``IV_NONE`` (-1.0) instead and the store
keeps ``IV_NONE_E4`` (-1).  ``implied_volatility_array(..., status=True)`` also returns the reason per element.
"""

import numpy as np
cimport numpy as cnp

from vega.records import _int_values
from libc.math cimport NAN, isfinite
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t

cnp.import_array()

# reasons (iv_status) and forward sources (iv_fwd_source), for Python
IV_STATUS_OK = IV_OK
IV_STATUS_INPUT = IV_E_INPUT
IV_STATUS_BELOW = IV_E_BELOW
IV_STATUS_ABOVE = IV_E_ABOVE
IV_STATUS_NOCONV = IV_E_NOCONV
IV_STATUS_NAMES = {IV_OK: "ok", IV_E_INPUT: "invalid input", IV_E_BELOW: "below intrinsic",
                   IV_E_ABOVE: "above upper bound", IV_E_NOCONV: "no convergence"}
FORWARD_SOURCES = {IV_FWD_NONE: "none", IV_FWD_FUTURE: "future", IV_FWD_PARITY: "parity",
                   IV_FWD_SPOT: "spot"}
IV_SENTINEL = IV_NONE                  # the C kernel's "no IV"
IV_SENTINEL_E4 = IV_NONE_E4            # the store's "no IV" (int32, 1e-4 units)
DEFAULT_RATE = 0.10                    # NSE's option-chain convention (PROTOCOL_MORE.md §5)


def _call_flag(is_call, str func) -> bool:
    """``is_call`` of ``func`` checked: a bool (a numpy bool too) or 1 / 0.  Any other object was taken by its
    truth, so the master's option type 'PE' priced a put as a call."""
    if isinstance(is_call, (bool, np.bool_)) or (isinstance(is_call, (int, np.integer)) and is_call in (0, 1)):
        return bool(is_call)
    raise TypeError(f"{func}: is_call must be a bool (True: a call, False: a put), not {is_call!r}: for an option "
                    f"type, give option_type == 'CE'")


def _call_flags(is_call, shape, str func):
    """The array functions' ``is_call`` broadcast to ``shape`` as uint8, checked as _call_flag checks one (an
    object array's elements by _call_flag itself): the TypeError names ``func`` and the first value refused (an
    int array's, e.g. 2), or the array (of strings)."""
    a = np.asarray(is_call)
    if a.dtype.kind == "O":             # each as the scalar functions take one (a pandas object column of bools)
        a = np.array([_call_flag(e, func) for e in a.flat], dtype=np.bool_).reshape(a.shape)
    if a.dtype != np.bool_:
        bad = a[~np.isin(a, (0, 1))] if a.dtype.kind in "iu" else None
        if bad is None or bad.size:
            what = (f"{bad.flat[0].item()!r} (an array of {a.dtype})" if bad is not None else
                    f"an array of {a.dtype} ({np.array2string(a, threshold=6)})")
            raise TypeError(f"{func}: is_call must be bools (True: a call, False: a put) or 1 / 0, not {what}: "
                            f"for option types, give option_type == 'CE'")
    return np.ascontiguousarray(np.broadcast_to(a.astype(bool), shape)).ravel().view(np.uint8)


cdef str _ARRAY_FORMS = ("{func}: {name} is an array of shape {shape}, and {func} takes one number per "
                         "argument: for arrays use vega.{array}, which takes arrays (broadcast together) "
                         "and loops without the GIL")


cdef object _not_an_array(object v, str name, str func, bint number, str array):
    """TypeError when ``v`` (an argument of a scalar function) is an array or a sequence: numpy's own error
    ("only 0-dimensional arrays can be converted") does not say that the array form exists.  A 0-d array is one
    number, as before.  A ``number`` (every argument but ``is_call``) given as a bool is a TypeError too: a bool
    converts to 1.0 / 0.0 and was priced as one, where the rest of the API refuses bools as numbers."""
    if isinstance(v, float) or type(v) is int:    # the usual cases (np.float64 too, and is_call's bool):
        return None                               # pointer compares, no numpy call
    if type(v) is bool and not number:
        return None
    if number and (isinstance(v, (bool, np.bool_)) or (isinstance(v, np.ndarray) and v.ndim == 0
                                                        and v.dtype == np.bool_)):
        raise TypeError(f"{func}: {name} must be a number, not a bool ({v!r})")
    if np.ndim(v) > 0:
        raise TypeError(_ARRAY_FORMS.format(func=func, name=name, shape=np.shape(v), array=array))
    return None


cdef int _scalars(str func, tuple names, tuple values, str array=None) except -1:
    """_not_an_array over a scalar function's arguments (``is_call`` too, the last one: its arrays go to the array
    form, and it alone is a bool).  ``array``: the call to point an array to (default ``{func}_array(...)``)."""
    cdef Py_ssize_t i, last = len(values) - 1
    if array is None:
        array = f"{func}_array(...)"
    for i in range(len(values)):
        _not_an_array(values[i], names[i], func, i != last, array)
    return 0


cdef double _number(object v, str func, str name) except? -1:
    """``v`` (argument ``name`` of ``func``) as a C double, as Cython converts one (a float, an int, a numpy
    number, an object with __float__ or __index__): TypeError naming the argument, the type and the value for
    anything else (Cython's own "must be real number, not str" named none of them)."""
    try:
        return v
    except TypeError:
        raise TypeError(f"{func}: {name} must be a number, not {type(v).__name__}: {v!r}") from None


cdef int _name_the_number(str func, tuple names, tuple values) except -1:
    """After a scalar function's conversion failed with TypeError: raise the one naming the first argument of
    ``values`` (its numbers) that is no number (is_call's own TypeError says itself: then nothing here)."""
    cdef Py_ssize_t i
    for i in range(len(values)):
        _number(values[i], func, names[i])
    return 0


_IV_ARGS = ("price", "forward", "strike", "t_years", "rate", "is_call")
_PRICE_ARGS = ("forward", "strike", "t_years", "sigma", "rate", "is_call")


def implied_volatility(price, forward, strike, t_years, rate=DEFAULT_RATE, is_call=True):
    """Black-76 implied volatility (annualised, e.g. 0.25) of ``price`` for an option on ``forward``.

    ``price``, ``forward`` and ``strike`` in one unit (rupees or paise), ``t_years`` in years of 365 days,
    ``rate`` continuously compounded (only discounts), ``is_call`` a bool (TypeError for anything else, e.g.
    an option type: give ``option_type == 'CE'``).  Returns ``nan`` when the price is outside the
    no-arbitrage bounds (at or below the discounted intrinsic value, at or above the discounted forward for a
    call / strike for a put) or an input is invalid (non-finite, forward/strike/time <= 0).  One number per
    argument: an array is a TypeError pointing to ``implied_volatility_array``, and so is a bool but for
    ``is_call``.
    """
    cdef int status
    cdef double v
    _scalars("implied_volatility", _IV_ARGS, (price, forward, strike, t_years, rate, is_call))
    try:
        v = iv_black76_implied_ex(price, forward, strike, t_years, rate, _call_flag(is_call, "implied_volatility"),
                                  &status)
    except TypeError:                   # (a try costs nothing until it raises: the call stays as it was)
        _name_the_number("implied_volatility", _IV_ARGS, (price, forward, strike, t_years, rate))
        raise
    return v if status == IV_OK else NAN


def implied_volatility_status(price, forward, strike, t_years, rate=DEFAULT_RATE, is_call=True):
    """``(sigma, status)``: as ``implied_volatility`` plus the reason code (``IV_STATUS_*``; 0 = ok); for arrays
    ``implied_volatility_array(..., status=True)``."""
    cdef int status
    cdef double v
    _scalars("implied_volatility_status", _IV_ARGS, (price, forward, strike, t_years, rate, is_call),
             "implied_volatility_array(..., status=True)")
    try:
        v = iv_black76_implied_ex(price, forward, strike, t_years, rate,
                                  _call_flag(is_call, "implied_volatility_status"), &status)
    except TypeError:
        _name_the_number("implied_volatility_status", _IV_ARGS, (price, forward, strike, t_years, rate))
        raise
    return (v if status == IV_OK else NAN), status


def black76_price(forward, strike, t_years, sigma, rate=DEFAULT_RATE, is_call=True):
    """Black-76 price of a European option on ``forward`` (same unit as forward and strike).

    Raises ValueError naming the argument for forward/strike <= 0, negative time or volatility, or a non-finite
    input, TypeError for one that is no number; one number per argument: an array is a TypeError pointing to
    ``black76_price_array``.
    """
    cdef double p
    _scalars("black76_price", _PRICE_ARGS, (forward, strike, t_years, sigma, rate, is_call))
    try:
        p = iv_black76_price(forward, strike, t_years, rate, sigma, _call_flag(is_call, "black76_price"))
    except TypeError:
        _name_the_number("black76_price", _PRICE_ARGS, (forward, strike, t_years, sigma, rate))
        raise
    if p == IV_NONE:
        _bad_price_input(forward, strike, t_years, sigma, rate)
    return p


cdef int _bad_price_input(forward, strike, t_years, sigma, rate) except -1:
    """The ValueError of black76_price for the input the kernel refused (IV_NONE), naming the first argument at
    fault and its value (it listed every argument and left the reader to find which)."""
    cdef double x
    for name, v, low, strict in (("forward", forward, 0.0, True), ("strike", strike, 0.0, True),
                                 ("t_years", t_years, 0.0, False), ("sigma", sigma, 0.0, False),
                                 ("rate", rate, None, False)):
        x = v
        if not isfinite(x) or (low is not None and (x <= low if strict else x < low)):
            need = "a finite number" + ("" if low is None else " > 0" if strict else " >= 0")
            raise ValueError(f"black76_price: {name} must be {need}, not {v!r}")
    raise ValueError(f"black76_price: invalid input (forward={forward!r}, strike={strike!r}, "
                     f"t_years={t_years!r}, sigma={sigma!r}, rate={rate!r})")


def _as_f8(a, shape, str func, str name):
    """An array function's numeric argument as float64 broadcast to ``shape``; bools are refused as the scalar
    functions refuse them (True converts to 1.0)."""
    if np.ndim(a) == 0 and not isinstance(a, np.ndarray):
        _number(a, func, name)                      # one value: its type named, not "an array of <U1"
    x = np.asarray(a)
    if x.dtype == np.bool_:
        raise TypeError(f"{func}: {name} must be numbers, not bools")
    if x.dtype.kind == "O":             # each as the scalar functions take one (None was nan, without a word)
        x = np.array([_number(e, func, name) for e in x.flat], dtype=np.float64).reshape(x.shape)
    elif x.dtype.kind not in "iuf":     # strings failed in numpy ("could not convert string to float"), naming
        raise TypeError(f"{func}: {name} must be numbers, not an array of {x.dtype}: "   # nothing; complex lost
                        f"{np.array2string(x, threshold=6)}")                           # its imaginary part
    return np.ascontiguousarray(np.broadcast_to(x.astype(np.float64, copy=False), shape)).ravel()


def _broadcast_shape(str func, tuple names, tuple values):
    """The shape an array function's arguments broadcast to: ValueError naming each argument's shape when they do
    not (numpy's error numbered them: "arg 0 with shape (2,) and arg 2 with shape (3,)")."""
    shapes = [np.shape(v) for v in values]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        given = ", ".join(f"{n} {sh}" for n, sh in zip(names, shapes) if sh != ())
        raise ValueError(f"{func}: the arguments' shapes do not broadcast together: {given}") from None


def implied_volatility_array(price, forward, strike, t_years, rate=DEFAULT_RATE, is_call=True, *,
                             bint status=False):
    """Vectorised ``implied_volatility`` (numpy broadcasting over all arguments; the loop runs nogil).

    Returns a float64 array of the broadcast shape with ``nan`` where there is no IV; with ``status=True``
    returns ``(sigma, status)`` where ``status`` is an int8 array of ``IV_STATUS_*`` codes.
    """
    shape = _broadcast_shape("implied_volatility_array", _IV_ARGS, (price, forward, strike, t_years, rate, is_call))
    cdef const double[::1] p = _as_f8(price, shape, "implied_volatility_array", "price")
    cdef const double[::1] f = _as_f8(forward, shape, "implied_volatility_array", "forward")
    cdef const double[::1] k = _as_f8(strike, shape, "implied_volatility_array", "strike")
    cdef const double[::1] t = _as_f8(t_years, shape, "implied_volatility_array", "t_years")
    cdef const double[::1] r = _as_f8(rate, shape, "implied_volatility_array", "rate")
    cdef const uint8_t[::1] c = _call_flags(is_call, shape, "implied_volatility_array")
    n = p.shape[0]
    out = np.empty(n, dtype=np.float64)
    st = np.empty(n, dtype=np.int8)
    cdef double[::1] o = out
    cdef int8_t[::1] so = st
    cdef Py_ssize_t i, m = n
    cdef int s
    cdef double v
    with nogil:
        for i in range(m):
            v = iv_black76_implied_ex(p[i], f[i], k[i], t[i], r[i], c[i] != 0, &s)
            o[i] = v if s == IV_OK else NAN
            so[i] = <int8_t>s
    out = out.reshape(shape)
    if status:
        return out, st.reshape(shape)
    return out


def black76_price_array(forward, strike, t_years, sigma, rate=DEFAULT_RATE, is_call=True):
    """Vectorised ``black76_price`` (broadcasting; nogil loop); ``nan`` where an input is invalid."""
    shape = _broadcast_shape("black76_price_array", _PRICE_ARGS, (forward, strike, t_years, sigma, rate, is_call))
    cdef const double[::1] f = _as_f8(forward, shape, "black76_price_array", "forward")
    cdef const double[::1] k = _as_f8(strike, shape, "black76_price_array", "strike")
    cdef const double[::1] t = _as_f8(t_years, shape, "black76_price_array", "t_years")
    cdef const double[::1] v = _as_f8(sigma, shape, "black76_price_array", "sigma")
    cdef const double[::1] r = _as_f8(rate, shape, "black76_price_array", "rate")
    cdef const uint8_t[::1] c = _call_flags(is_call, shape, "black76_price_array")
    out = np.empty(f.shape[0], dtype=np.float64)
    cdef double[::1] o = out
    cdef Py_ssize_t i, m = f.shape[0]
    cdef double x
    with nogil:
        for i in range(m):
            x = iv_black76_price(f[i], k[i], t[i], r[i], v[i], c[i] != 0)
            o[i] = NAN if x == IV_NONE else x
    return out.reshape(shape)


def iv_to_e4_py(sigma):
    """The store's int32 encoding of a volatility (1e-4 units, -1 = no IV); ``nan`` maps to -1."""
    return iv_to_e4(_number(sigma, "iv_to_e4_py", "sigma"))


def select_forward(fut_ltp=0.0, parity_strike=0.0, parity_call=0.0, parity_put=0.0, spot=0.0, t_years=0.0,
                   rate=DEFAULT_RATE):
    """``(forward, source)`` by the store's rule: the same-expiry future's LTP if > 0, else put-call parity
    ``K + e^(rT) (C - P)`` at ``parity_strike``, else ``spot * e^(rT)``; ``(nan, "none")`` if nothing is usable.
    Arguments <= 0 (or nan) mean "not available"; all prices in one unit.  TypeError naming an argument that is
    no number."""
    cdef int src
    cdef double f = iv_select_forward(
        _number(fut_ltp, "select_forward", "fut_ltp"), _number(parity_strike, "select_forward", "parity_strike"),
        _number(parity_call, "select_forward", "parity_call"), _number(parity_put, "select_forward", "parity_put"),
        _number(spot, "select_forward", "spot"), _number(t_years, "select_forward", "t_years"),
        _number(rate, "select_forward", "rate"), &src)
    return (f if src != IV_FWD_NONE else NAN), FORWARD_SOURCES[src]


def parity_forward(strikes, calls, puts, ref, t_years, rate=DEFAULT_RATE):
    """Put-call-parity forward from an option chain: at the strike nearest ``ref`` among those with both a
    call and a put price > 0; ``(forward, strike)``, or ``(nan, nan)`` when no strike has both.  TypeError
    naming an argument that is no number (or no numbers)."""
    cdef double r_ef = _number(ref, "parity_forward", "ref")
    cdef double t = _number(t_years, "parity_forward", "t_years")
    cdef double r = _number(rate, "parity_forward", "rate")
    cdef const double[::1] k = _as_f8(strikes, np.shape(strikes), "parity_forward", "strikes")
    cdef const double[::1] c = _as_f8(calls, np.shape(calls), "parity_forward", "calls")
    cdef const double[::1] p = _as_f8(puts, np.shape(puts), "parity_forward", "puts")
    if not (k.shape[0] == c.shape[0] == p.shape[0]):
        raise ValueError("parity_forward: strikes, calls and puts must have the same length")
    cdef Py_ssize_t i
    cdef int src
    with nogil:
        i = iv_parity_pick(&k[0], &c[0], &p[0], k.shape[0], r_ef) if k.shape[0] else -1
    if i < 0:
        return NAN, NAN
    f = iv_select_forward(0.0, k[i], c[i], p[i], 0.0, t, r, &src)
    return (f if src == IV_FWD_PARITY else NAN), k[i]


_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


cdef int64_t _integer(object v, str func, str name, str what) except? -1:
    """``v`` (argument ``name`` of ``func``, ``what`` it counts) as an int64: TypeError naming it for anything but an
    int or a numpy integer (a float was cut to a whole number, a bool taken as 0 / 1; Cython's own "an integer
    is required" named nothing), ValueError beyond int64."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{func}: {name} must be an int ({what}), not {type(v).__name__}: {v!r}")
    if not _INT64_MIN <= v <= _INT64_MAX:
        raise ValueError(f"{func}: {name} {v} is out of range: {what} within int64")
    return v


cdef int64_t _expiry_raw(object expiry_raw, str func) except? -1:
    """A master-file expiry (s since 1980) checked: iv_expiry_unix's int64 arithmetic overflows (undefined
    behaviour) within 2**28 s of either end of the range: a raw expiry is refused beyond +-2**62 s (10**11
    years; the master files stop at 9999)."""
    cdef int64_t raw = _integer(expiry_raw, func, "expiry_raw", "seconds since 1980")
    if not -(1LL << 62) <= raw <= (1LL << 62):
        raise ValueError(f"{func}: expiry_raw {raw} is out of range: seconds since 1980 within +-2**62")
    return raw


def expiry_to_unix(expiry_raw):
    """Unix seconds of 14:30 IST on the expiry date of a master-file expiry (s since 1980, read as IST);
    ValueError beyond +-2**62 s, TypeError for anything but an int."""
    return iv_expiry_unix(_expiry_raw(expiry_raw, "expiry_to_unix"))


def time_to_expiry(expiry_raw, now_ns):
    """Years (365 days) from ``now_ns`` (unix epoch ns, an int: ``time.time_ns()``) to the close, 15:30 IST, of
    the expiry date (the time the store's implied volatility uses; the master file stamps 14:30); <= 0 once
    expired; ValueError for an ``expiry_raw`` beyond +-2**62 s, TypeError naming an argument that is no int."""
    cdef int64_t raw = _expiry_raw(expiry_raw, "time_to_expiry")
    cdef int64_t now = _integer(now_ns, "time_to_expiry", "now_ns", "ns since the Unix epoch")
    return iv_year_fraction(iv_close_unix(iv_expiry_unix(raw)), now)


def _int64s(a, shape, str func, str name, str what):
    """An array function's integer argument (``name`` of ``func``, ``what`` it counts) as int64 broadcast to
    ``shape``, checked as _integer checks one: TypeError naming it for bools, floats or anything else but ints (an
    object array's elements one by one), ValueError for a value beyond int64."""
    if np.ndim(a) == 0 and not isinstance(a, np.ndarray):
        _integer(a, func, name, what)               # one value: "not float: 1.7e+18", not "an array of float64"
    x = _int_values(a)                              # [] is no floats (numpy's float64): no expiry, an empty result
    if x.dtype.kind == "O":
        x = np.array([_integer(e, func, name, what) for e in x.flat], dtype=np.int64).reshape(x.shape)
    elif x.dtype.kind not in "iu":
        raise TypeError(f"{func}: {name} must be ints ({what}), not an array of {x.dtype}: "
                        f"{np.array2string(x, threshold=6)}")
    elif x.dtype.kind == "u" and x.size and int(x.max()) > _INT64_MAX:
        raise ValueError(f"{func}: {name} {int(x.max())} is out of range: {what} within int64")
    return np.ascontiguousarray(np.broadcast_to(x.astype(np.int64, copy=False), shape)).ravel()


def time_to_expiry_array(expiry_raw, now_ns):
    """Vectorised ``time_to_expiry`` (numpy broadcasting, e.g. a chain's ``expiry_raw`` column against one
    ``now_ns``; the loop runs nogil): a float64 array of the broadcast shape.  The arguments are checked as the
    scalar function checks them: TypeError naming one that is not ints, ValueError for an ``expiry_raw`` beyond
    +-2**62 s or a value beyond int64."""
    shape = _broadcast_shape("time_to_expiry_array", ("expiry_raw", "now_ns"), (expiry_raw, now_ns))
    raw_a = _int64s(expiry_raw, shape, "time_to_expiry_array", "expiry_raw", "seconds since 1980")
    far = (raw_a < -(1 << 62)) | (raw_a > (1 << 62))
    if far.any():
        _expiry_raw(int(raw_a[far][0]), "time_to_expiry_array")   # raises the scalar function's ValueError
    cdef const int64_t[::1] raw = raw_a
    cdef const int64_t[::1] now = _int64s(now_ns, shape, "time_to_expiry_array", "now_ns", "ns since the Unix epoch")
    out = np.empty(raw.shape[0], dtype=np.float64)
    cdef double[::1] o = out
    cdef Py_ssize_t i, m = raw.shape[0]
    with nogil:
        for i in range(m):
            o[i] = iv_year_fraction(iv_close_unix(iv_expiry_unix(raw[i])), now[i])
    return out.reshape(shape)


def _solver_iterations(double price, double forward, double strike, double t_years, double rate=DEFAULT_RATE,
                       bint is_call=True):
    """Diagnostics for the tests: iterations the solver used (0 when it was not run)."""
    cdef double beta, x, e
    cdef int iters = 0
    x = log(forward / strike)
    beta = price * exp(rate * t_years) / sqrt(forward * strike)
    e = exp(0.5 * fabs(x))
    if (x > 0.0) == is_call and x != 0.0:
        beta -= e - 1.0 / e
    if beta <= 0.0 or beta >= 1.0 / e:
        return 0
    iv_normalised_vol(beta, -fabs(x), 1.0 / e, e, &iters)
    return iters


def _bench_iv_loop(const double[::1] price, const double[::1] forward, const double[::1] strike,
                   const double[::1] t_years, double rate, const uint8_t[::1] is_call, int rounds=1):
    """Benchmark kernel: ``rounds`` passes of the nogil IV loop over the arrays; returns the sum of sigmas."""
    cdef Py_ssize_t i, n = price.shape[0]
    cdef int j
    cdef double acc = 0.0
    if forward.shape[0] != n or strike.shape[0] != n or t_years.shape[0] != n or is_call.shape[0] != n:
        raise ValueError("_bench_iv_loop: arrays must have the same length")
    with nogil:
        for j in range(rounds):
            for i in range(n):
                acc += iv_black76_implied(price[i], forward[i], strike[i], t_years[i], rate, is_call[i] != 0)
    return acc
