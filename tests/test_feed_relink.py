"""A handler linked by another (``indices=`` on a CM handler, ``underlying=`` on an F&O one) is free to be
linked again once the handler that linked it is closed or freed: restarting one feed's handler in a
long-running process does not need a new index or CM handler.  While that handler is open, the link is
refused."""
import gc

import pytest

import vega
from test_index_feed import SEC, T_OPEN, index_datagram, index_rec, oi_datagram


def test_a_closed_cm_handler_lets_its_index_handler_be_linked_again():
    idx = vega.FeedHandler("IDX", vega.Store(16))
    cm1 = vega.FeedHandler("CM", vega.Store(16), indices=idx)
    with pytest.raises(ValueError, match="already linked to another handler .close that one first"):
        vega.FeedHandler("CM", vega.Store(16), indices=idx)
    cm1.process(index_datagram([index_rec("Nifty 50", 100)]), now_ns=T_OPEN)
    cm1.close()
    cm2 = vega.FeedHandler("CM", vega.Store(16), indices=idx)
    cm2.process(index_datagram([index_rec("Nifty 50", 200)]), now_ns=T_OPEN + SEC)
    assert idx.store.ltp(26000) == 200                       # routed through the new link
    with pytest.raises(ValueError, match="is closed"):
        cm1.process(index_datagram([index_rec("Nifty 50", 300)]), now_ns=T_OPEN + 2 * SEC)
    assert idx.store.ltp(26000) == 200


def test_a_closed_fo_handler_lets_its_cm_handler_be_linked_again():
    cm = vega.FeedHandler("CM", vega.Store(16))
    fo1 = vega.FeedHandler("FO", vega.Store(16), underlying=cm)
    with pytest.raises(ValueError, match="already linked"):
        vega.FeedHandler("FO", vega.Store(16), underlying=cm)
    fo1.process(oi_datagram([(2885, 1_000)]), now_ns=T_OPEN)
    fo1.close()
    fo2 = vega.FeedHandler("FO", vega.Store(16), underlying=cm)
    fo2.process(oi_datagram([(2885, 2_000)]), now_ns=T_OPEN + SEC)
    q = cm.store[2885]
    assert (q.open_interest, q.oi_day_high, q.oi_day_low) == (2_000, 2_000, 1_000)


def _link_in_a_cycle(idx):
    """A CM handler linking idx, reachable only from a reference cycle once this returns."""
    box = {}
    box["handler"] = vega.FeedHandler("CM", vega.Store(16), indices=idx, on_records=lambda recs: box)


def test_a_freed_handler_lets_go_even_from_a_reference_cycle():
    idx = vega.FeedHandler("IDX", vega.Store(16))
    gc.disable()                                            # the cycle lives until the collect below
    try:
        _link_in_a_cycle(idx)
        with pytest.raises(ValueError, match="already linked"):
            vega.FeedHandler("CM", vega.Store(16), indices=idx)
    finally:
        gc.enable()
    gc.collect()
    cm2 = vega.FeedHandler("CM", vega.Store(16), indices=idx)
    cm2.process(index_datagram([index_rec("Nifty 50", 7)]), now_ns=T_OPEN)
    assert idx.store.ltp(26000) == 7


def test_a_closed_linked_handler_cannot_be_linked():
    idx = vega.FeedHandler("IDX", vega.Store(16))
    idx.close()
    with pytest.raises(ValueError, match="that index FeedHandler is closed"):
        vega.FeedHandler("CM", vega.Store(16), indices=idx)
