"""What a quant using VEGA from strategy code tripped over (the thirty-fifth review, second part): the IV status
codes named only in the private vega._iv; no array form of time_to_expiry for a chain of mixed expiries; time and
keyword errors of the journal and the ring that named neither the argument nor the value; Journal.read(copy=True)
moving its cursor before a read that failed; replay's "is neither ... or", a token beyond 64 bits called "not
object", a 2-D token array told to be wrapped in [..]; a float taken as a store's segment; and an option chain of
an expiry that is not listed answered with an empty array, without a word."""
import datetime as dt
import os
import re
import sys
import uuid

import numpy as np
import pytest

import vega
from vega import _iv

sys.path.insert(0, os.path.dirname(__file__))  # journal_helpers, mypy_helpers
from journal_helpers import make_records  # noqa: E402

DATE = dt.date(2026, 11, 20)


# -- 1. the IV status codes by name, from vega itself ---------------------------------------------------------------

IV_NAMES = ("IV_STATUS_OK", "IV_STATUS_INPUT", "IV_STATUS_BELOW", "IV_STATUS_ABOVE", "IV_STATUS_NOCONV",
            "IV_STATUS_NAMES", "implied_volatility_status")


@pytest.mark.parametrize("name", IV_NAMES)
def test_the_iv_status_codes_and_the_scalar_status_function_are_public(name):
    assert getattr(vega, name) is getattr(_iv, name) and name in vega.__all__


def test_codes_compare_by_name():
    sigma, why = vega.implied_volatility_array([5.0, 5.0, 200.0, 5.0], 100.0, [100.0, 90.0, 100.0, 100.0],
                                               [0.5, 0.5, 0.5, 0.0], 0.0, status=True)
    assert why.tolist() == [vega.IV_STATUS_OK, vega.IV_STATUS_BELOW, vega.IV_STATUS_ABOVE, vega.IV_STATUS_INPUT]
    assert [vega.IV_STATUS_NAMES[c] for c in why.tolist()] == ["ok", "below intrinsic", "above upper bound",
                                                               "invalid input"]
    assert vega.implied_volatility_status(5.0, 100.0, 90.0, 0.5, 0.0)[1] == vega.IV_STATUS_BELOW
    assert vega.implied_volatility_status(5.0, 100.0, 100.0, 0.5, 0.0) == (sigma[0], vega.IV_STATUS_OK)
