"""The C contract of vega._iv as vega._core will use it: a separately compiled extension module cimports the
inline nogil kernel from vega/_iv.pxd and calls it without the GIL; results equal the Python wrappers."""
import math

import numpy as np

from capi_probe import build_probe
from vega import _iv

PROBE = '''
# cython: language_level=3
from libc.stdint cimport int32_t, int64_t
from vega._iv cimport (iv_black76_implied, iv_black76_implied_ex, iv_black76_price, iv_select_forward,
                       iv_expiry_unix, iv_year_fraction, iv_to_e4, IV_NONE, IV_NONE_E4, IV_OK, IV_FWD_FUTURE)

def merge_like(const double[::1] price, const double[::1] strike, double fut_ltp, int64_t expiry_raw,
               int64_t now_ns, double rate):
    """What the store's merge will do per option tick: forward, T, IV, int32 1e-4 encoding, all nogil."""
    cdef Py_ssize_t i, n = price.shape[0]
    out = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] o = out
    cdef int src
    cdef double F, T
    with nogil:
        F = iv_select_forward(fut_ltp, 0.0, 0.0, 0.0, 0.0, 0.0, rate, &src)
        T = iv_year_fraction(iv_expiry_unix(expiry_raw), now_ns)
        for i in range(n):
            o[i] = iv_to_e4(iv_black76_implied(price[i], F, strike[i], T, rate, True))
    return out, T, F, src == IV_FWD_FUTURE

def consts():
    return IV_NONE, IV_NONE_E4, IV_OK
'''

def test_kernel_cimported_from_another_extension(tmp_path):
    iv_probe = build_probe(tmp_path, "iv_probe", "import numpy as np\n" + PROBE)
    assert iv_probe.consts() == (-1.0, -1, 0)
    raw = 1475159400
    now_ns = (raw + 315532800 - 19800 - 20 * 86400) * 10**9          # 20 days before expiry
    strikes = np.array([2200000.0, 2250000.0, 2300000.0, 2350000.0])  # paise
    F = 2251000.0
    T = 20 / 365
    prices = np.array([_iv.black76_price(F, k, T, 0.15, 0.1, True) for k in strikes])
    prices[3] = 0.0                                                   # no trade: no IV
    out, t, f, from_future = iv_probe.merge_like(prices, strikes, F, raw, now_ns, 0.1)
    assert f == F and from_future and math.isclose(t, T, rel_tol=1e-12)
    assert out.tolist() == [1500, 1500, 1500, -1]
