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


@pytest.mark.parametrize("raiser", ["FO", "CM"])
def test_a_linked_handlers_records_reach_its_callback_though_the_other_ones_raises(raiser):
    """One call can make records for two handlers (F&O 7200s for the F&O one, 17130 open interest for its
    underlying CM one).  When one handler's end-of-call work raises (here its ``on_records``; a failed
    journal does the same), the other still hands its records to its callback and empties its buffer: its
    next call delivers only that call's records, none twice."""
    from vega import nse
    got = {"FO": [], "CM": []}
    raising = [True]

    def sink(seg):
        def f(recs):
            got[seg].append(recs)
            if seg == raiser and raising[0]:
                raise ValueError(f"{seg} callback")
        return f
    cm = vega.FeedHandler("CM", vega.Store(64), on_records=sink("CM"))
    fo = vega.FeedHandler("FO", vega.Store(64), underlying=cm, on_records=sink("FO"))
    def md(ltp):
        return nse.build_datagram("FO", [nse.blank_message("FO", 7200, 1, records=[
            dict(nse.blank_record("FO", 7200), token=40001, book_type=1, last_traded_price=ltp)])])
    with pytest.raises(ValueError, match=f"{raiser} callback"):
        fo.process_batch([md(12_345), oi_datagram([(2885, 1_000)])], now_ns=T_OPEN)
    other = "CM" if raiser == "FO" else "FO"
    assert len(got[other]) == 1 and len(got[raiser]) == 1
    first = {seg: set(got[seg][0]["token"].tolist()) for seg in got}
    assert first == {"FO": {40001}, "CM": {2885}}
    for seg in got:
        got[seg].clear()
    raising[0] = False
    fo.process_batch([md(12_350), oi_datagram([(2886, 2_000)], log_time=3_000)], now_ns=T_OPEN + SEC)
    assert got["CM"][0]["token"].tolist() == [2886] * len(got["CM"][0])   # not 2885's records again
    assert got["FO"][0]["token"].tolist() == [40001] * len(got["FO"][0])
