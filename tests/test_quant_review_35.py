"""What a quant using VEGA from strategy code tripped over (the thirty-fifth review of the Python API): is_call's
errors that named neither the function nor (for arrays) the value refused, and a bytearray taken as a collection
of tokens (its byte values looked up as tokens)."""
import re

import numpy as np
import pytest

import vega
from vega import _iv


# -- 1. is_call's TypeError names the function, and the array functions' the value refused -----------------------

@pytest.mark.parametrize("func, args", [
    ("implied_volatility", (5.0, 100.0, 100.0, 0.5, 0.0)),
    ("implied_volatility_status", (5.0, 100.0, 100.0, 0.5, 0.0)),
    ("black76_price", (100.0, 100.0, 0.5, 0.2, 0.0)),
])
@pytest.mark.parametrize("bad", ["PE", 2, None, 0.5])
def test_scalar_is_call_error_names_the_function_and_the_value(func, args, bad):
    """As "black76_price: sigma must be a finite number >= 0, not -1": the function, the argument, the value."""
    with pytest.raises(TypeError) as e:
        getattr(_iv, func)(*args, bad)
    assert str(e.value).startswith(f"{func}: is_call must be a bool (True: a call, False: a put), not {bad!r}:")


@pytest.mark.parametrize("func, args", [
    ("implied_volatility_array", ([5.0, 5.0, 5.0], 100.0, 100.0, 0.5, 0.0)),
    ("black76_price_array", (100.0, [90.0, 100.0, 110.0], 0.5, 0.2, 0.0)),
])
def test_array_is_call_error_names_the_function_and_the_value_refused(func, args):
    f = getattr(_iv, func)
    # an int array: the first value that is not 0 / 1
    with pytest.raises(TypeError, match=f"^{func}: is_call must be bools .* or 1 / 0, not 2 \\(an array of int64\\)"):
        f(*args, np.array([1, 2, 5], np.int64))
    with pytest.raises(TypeError, match=f"^{func}: is_call must be bools .*, not -1 \\(an array of int8\\)"):
        f(*args, np.array([0, -1, 1], np.int8))
    # an array of another kind: shown
    with pytest.raises(TypeError, match=re.escape(f"{func}: is_call must be bools (True: a call, False: a put) or "
                                                  "1 / 0, not an array of <U2 (['CE' 'PE' 'CE'])")):
        f(*args, ["CE", "PE", "CE"])
    with pytest.raises(TypeError, match=re.escape("not an array of float64 ([1. 0. 1.])")):
        f(*args, np.array([1.0, 0.0, 1.0]))
    # what is a flag still is: bools and 0 / 1 of any integer type, broadcast
    want = f(*args, np.array([True, False, True]))
    assert np.array_equal(f(*args, np.array([1, 0, 1], np.uint8)), want, equal_nan=True)
    assert np.array_equal(f(*args, [1, 0, 1]), want, equal_nan=True)
    assert not np.isnan(want).all()
