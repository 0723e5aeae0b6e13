"""A stream resumed at a restart (``FeedHandler.resume_streams``) whose first number is below its last one before
the restart was numbered afresh while the capture was down, by however little: the live counters go on from that
first number, and its ``missed_while_down`` is None, unknown.  (Before, a drop of up to 100,000 was taken for late
datagrams, as in a running capture: the stream kept its old number, every datagram until the new numbering passed
it counted as out of order, the gaps in between went uncounted, and ``stream_seqs`` gave the next restart the old
number.)"""
import pytest

import vega
from vega import nse


def _heard(h, stream, seqs):
    for q in seqs:
        h.process(nse.build_datagram("FO", [nse.blank_message("FO", 6541, stream=stream, bc_seq_no=q)]),
                  now_ns=10**18)


@pytest.mark.parametrize("last", [1001, 100_005, 300_000])
def test_a_stream_renumbered_while_down_is_counted_live_from_its_first_number(last):
    h = vega.FeedHandler("FO", vega.Store(100))
    h.resume_streams({3: last})
    _heard(h, 3, [5, 6, 8, 9])                     # 7 never arrives
    st = h.stats["streams"][3]
    assert (st["last_seq"], st["out_of_order"], st["gaps"], st["missed"]) == (9, 0, 1, 1)
    assert (st["resumed_from"], st["first_after"], st["missed_while_down"]) == (last, 5, None)   # unknown
    assert h.stream_seqs() == {3: 9}


def test_a_stream_resumed_in_order_or_repeating_its_last_number_is_counted_as_before():
    h = vega.FeedHandler("FO", vega.Store(100))
    h.resume_streams({3: 1001, 4: 50})
    _heard(h, 3, [1004, 1005])
    _heard(h, 4, [50, 51])
    s = h.stats["streams"]
    assert (s[3]["last_seq"], s[3]["missed_while_down"], s[3]["missed"], s[3]["out_of_order"]) == (1005, 2, 0, 0)
    assert (s[4]["last_seq"], s[4]["missed_while_down"], s[4]["missed"], s[4]["out_of_order"]) == (51, 0, 0, 0)
    assert h.stream_seqs() == {3: 1005, 4: 51}
