"""Typing stubs for vega._iv (Black-76 implied volatility; the nogil kernel lives in _iv.pxd)."""
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

IV_STATUS_OK: int
IV_STATUS_INPUT: int
IV_STATUS_BELOW: int
IV_STATUS_ABOVE: int
IV_STATUS_NOCONV: int
IV_STATUS_NAMES: dict[int, str]
FORWARD_SOURCES: dict[int, str]
IV_SENTINEL: float
IV_SENTINEL_E4: int
DEFAULT_RATE: float

_ArrayLike = float | npt.ArrayLike

def implied_volatility(price: float, forward: float, strike: float, t_years: float, rate: float = ...,
                       is_call: bool = ...) -> float:
    """Black-76 implied volatility; nan outside the no-arbitrage bounds or for invalid input.  One number per
    argument (an array is a TypeError: implied_volatility_array takes arrays; a bool but is_call too)."""

def implied_volatility_status(price: float, forward: float, strike: float, t_years: float,
                              rate: float = ..., is_call: bool = ...) -> tuple[float, int]: ...
def black76_price(forward: float, strike: float, t_years: float, sigma: float, rate: float = ...,
                  is_call: bool = ...) -> float: ...
@overload
def implied_volatility_array(price: _ArrayLike, forward: _ArrayLike, strike: _ArrayLike, t_years: _ArrayLike,
                             rate: _ArrayLike = ..., is_call: _ArrayLike = ..., *,
                             status: Literal[False] = ...) -> npt.NDArray[np.float64]: ...
@overload
def implied_volatility_array(price: _ArrayLike, forward: _ArrayLike, strike: _ArrayLike, t_years: _ArrayLike,
                             rate: _ArrayLike = ..., is_call: _ArrayLike = ..., *,
                             status: Literal[True]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]: ...
def black76_price_array(forward: _ArrayLike, strike: _ArrayLike, t_years: _ArrayLike, sigma: _ArrayLike,
                        rate: _ArrayLike = ..., is_call: _ArrayLike = ...) -> npt.NDArray[np.float64]: ...
def iv_to_e4_py(sigma: float) -> int: ...
def select_forward(fut_ltp: float = ..., parity_strike: float = ..., parity_call: float = ...,
                   parity_put: float = ..., spot: float = ..., t_years: float = ...,
                   rate: float = ...) -> tuple[float, str]: ...
def parity_forward(strikes: npt.ArrayLike, calls: npt.ArrayLike, puts: npt.ArrayLike, ref: float,
                   t_years: float, rate: float = ...) -> tuple[float, float]: ...
def expiry_to_unix(expiry_raw: int) -> int: ...
def time_to_expiry(expiry_raw: int, now_ns: int) -> float: ...
def time_to_expiry_array(expiry_raw: npt.ArrayLike, now_ns: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Vectorised time_to_expiry (broadcast; nogil loop): float64 years to the 15:30 IST close of each expiry
    (two ints give a 0-d array, as implied_volatility_array's numbers do; an empty list an empty array)."""
def _solver_iterations(price: float, forward: float, strike: float, t_years: float, rate: float = ...,
                       is_call: bool = ...) -> int: ...
def _bench_iv_loop(price: npt.NDArray[np.float64], forward: npt.NDArray[np.float64],
                   strike: npt.NDArray[np.float64], t_years: npt.NDArray[np.float64], rate: float,
                   is_call: npt.NDArray[np.uint8], rounds: int = 1) -> float: ...
