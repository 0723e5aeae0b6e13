"""What a quant using VEGA from strategy code tripped over (the thirty-sixth review of the Python API): the array
IV functions' messages for one bad value called it "an array of float64" (now_ns=time.time() * 1e9), and an empty
list of expiries was refused; a memoryview of bytes walked as a collection of tokens (its byte values looked up);
vega.index_token given the derivatives' symbol ("NIFTY") answered a hashed token no feed carries; a replay bound
with more than 9 fractional digits said only that it was "neither" a date nor a time."""
import re

import numpy as np
import pytest

import vega

RAW = 1481898600                     # 2026-12-16 14:30 IST in seconds since 1980 (the simulator's NIFTY expiry)
NOW = 1_795_000_000 * 10 ** 9        # 2026-11-18, ns since the Unix epoch


# -- 1. the array functions name one bad value by its type, as the scalar functions do; [] is no expiry ----------

@pytest.mark.parametrize("args, says", [
    ((RAW, float(NOW)), f"now_ns must be an int (ns since the Unix epoch), not float: {float(NOW)!r}"),
    ((float(RAW), NOW), f"expiry_raw must be an int (seconds since 1980), not float: {float(RAW)!r}"),
    (("2026-12-16", NOW), "expiry_raw must be an int (seconds since 1980), not str: '2026-12-16'"),
    ((True, NOW), "expiry_raw must be an int (seconds since 1980), not bool: True"),
])
def test_time_to_expiry_array_names_one_bad_value_as_time_to_expiry_does(args, says):
    """One value was "not an array of float64: 1.795e+18": the float the quant gave is no array."""
    with pytest.raises(TypeError, match="^" + re.escape("time_to_expiry_array: " + says) + "$"):
        vega.time_to_expiry_array(*args)
    with pytest.raises(TypeError, match="^" + re.escape("time_to_expiry: " + says) + "$"):
        vega.time_to_expiry(*args)


def test_time_to_expiry_array_of_scalars_is_0d_and_of_an_empty_list_empty():
    one = vega.time_to_expiry_array(RAW, NOW)
    assert isinstance(one, np.ndarray) and one.shape == () and float(one) == vega.time_to_expiry(RAW, NOW) > 0
    for empty in ([], ()):                 # np.asarray([]) is float64: "not an array of float64: []"
        got = vega.time_to_expiry_array(empty, NOW)
        assert got.shape == (0,) and got.dtype == np.float64
    assert vega.time_to_expiry_array([], [NOW]).shape == (0,)
    with pytest.raises(TypeError, match=re.escape("expiry_raw must be ints (seconds since 1980), not an array of "
                                                  "float64")):
        vega.time_to_expiry_array(np.array([], np.float64), NOW)     # a float array is still refused


@pytest.mark.parametrize("bad, says", [("x", "not str: 'x'"), (1j, "not complex: 1j"), (None, "not NoneType: None")])
def test_iv_array_functions_name_one_bad_number_by_its_type(bad, says):
    with pytest.raises(TypeError, match="^" + re.escape(f"implied_volatility_array: price must be a number, {says}")):
        vega.implied_volatility_array(bad, 100.0, 100.0, 0.5)
    with pytest.raises(TypeError, match="^" + re.escape(f"black76_price_array: sigma must be a number, {says}")):
        vega.black76_price_array(100.0, 100.0, 0.5, bad)
    assert vega.implied_volatility_array([], 100.0, 100.0, 0.5).shape == (0,)
