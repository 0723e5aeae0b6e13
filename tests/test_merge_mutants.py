"""Merge rules of docs/FORMATS.md ("Merge rules", "Change records", "Sequence gaps") that tests/test_merge.py
left unpinned: each test here failed against a small mutation of vega/_store.pxi that the rest of the suite
let through (a boundary, a dropped condition, a status left out of a set).  Expected values come from the
documented rule, never from a run of the code."""
import pytest

import vega._core as core
from store_helpers import SEC, changed_fields, decode_records, md, merge

STALE = 5 * SEC                       # the default md_stale_ns and stale_ns


@pytest.fixture
def st():
    return core.Store(1000)


def groups(recs):
    return {g for _, g, _ in decode_records(recs)}


# ---- 7200 / 7208 ---------------------------------------------------------------------------------------

def test_md_low_ignores_non_positive_values(st):
    """Low is the minimum of the positive values: a negative low in a message is not a price."""
    merge(st, "CM", md(1, low_price=95, high_price=105))
    recs = merge(st, "CM", md(1, low_price=-5))
    assert st[1].low_price == 95
    assert "low_price" not in changed_fields(recs)


def test_md_indicative_close_zero_keeps_the_last_one(st):
    """CM 7208's indicative close is taken only when > 0 (as LTP and close are)."""
    merge(st, "CM", md(1, code=7208, indicative_close_price=1234))
    recs = merge(st, "CM", md(1, code=7208, indicative_close_price=0))
    assert st[1].indicative_close_price == 1234
    assert "indicative_close_price" not in changed_fields(recs)


def test_md_net_change_and_indicator_are_copied_as_sent(st):
    """Net price change and its indicator are absolute: a blank indicator replaces '-'."""
    merge(st, "CM", md(1, net_price_change_from_closing_price=-25, net_change_indicator="-"))
    recs = merge(st, "CM", md(1, net_price_change_from_closing_price=0, net_change_indicator=" "))
    assert (st[1].net_price_change, st[1].net_change_indicator) == (0, " ")
    f = changed_fields(recs)
    assert f["net_price_change"] == 0 and f["net_change_indicator"] == ord(" ")


AUCTION = dict(auction_number=7, auction_status=1, initiator_type=2, initiator_price=100, initiator_quantity=10,
               auction_price=101, auction_quantity=11)


def test_md_auction_end_clears_every_auction_field(st):
    """A message without an auction clears all seven auction fields, and the change records name all seven
    with value 0."""
    merge(st, "CM", md(1, **AUCTION))
    recs = merge(st, "CM", md(1))
    q = st[1]
    assert {k: getattr(q, k) for k in AUCTION} == dict.fromkeys(AUCTION, 0)
    assert changed_fields(recs) == dict.fromkeys(AUCTION, 0)


SPOS_FIELDS = ("buy_ord_cxl_count", "buy_ord_cxl_vol", "sell_ord_cxl_count", "sell_ord_cxl_vol", "spos_update_time")


def _spos(token, log_time=1_400_000_000):
    return {"transaction_code": 7210, "log_time": log_time,
            "records": [{"token": token, "buy_ord_cxl_count": 3, "buy_ord_cxl_vol": 300,
                         "sell_ord_cxl_count": 4, "sell_ord_cxl_vol": 400}]}


@pytest.mark.parametrize("preopen", [1, 4, 6])
def test_spos_reset_from_every_preopen_status(st, preopen):
    """Pre-open is status 1, 4 (extended) or 6 (price discovery): leaving any of them for open (2) clears
    the SPOS statistics."""
    merge(st, "CM", md(1, trading_status=preopen))
    merge(st, "CM", _spos(1))
    assert st[1].buy_ord_cxl_count == 3
    recs = merge(st, "CM", md(1, trading_status=2))
    q = st[1]
    assert {k: getattr(q, k) for k in SPOS_FIELDS} == dict.fromkeys(SPOS_FIELDS, 0)
    assert "spos" in groups(recs)


def test_spos_kept_when_open_is_not_left_from_preopen(st):
    """Suspended (3) -> open (2) is no pre-open end: the statistics stay."""
    merge(st, "CM", md(1, trading_status=3))
    merge(st, "CM", _spos(1))
    recs = merge(st, "CM", md(1, trading_status=2))
    assert st[1].buy_ord_cxl_count == 3 and st[1].spos_update_time == 1_400_000_000
    assert "spos" not in groups(recs)
