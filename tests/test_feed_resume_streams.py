"""FeedHandler.resume_streams / stream_seqs: a restarted capture's handler counts each stream's first BCSeqNo
against the stream's last one before the restart, by the live gap rule but apart from the live gaps
(``missed_while_down``).  The capture's use of it: tests/test_capture_restart.py."""
import pytest

import vega
from store_helpers import sequence_numbers
from vega import nse

STREAM = list(nse.sample_stream("FO", 300, seed=11))


def test_the_handler_counts_a_resumed_streams_first_number_apart_from_the_live_gaps():
    h = vega.FeedHandler("FO", vega.Store(10_000))
    h.process_batch(STREAM[:150])
    last = h.stream_seqs()
    assert last == {k: v["last_seq"] for k, v in h.stats["streams"].items()} and len(last) > 1
    quiet = 200                                             # a stream that is not heard after the restart
    assert quiet not in last

    again = vega.FeedHandler("FO", vega.Store(10_000))
    again.resume_streams(last | {quiet: 77})
    assert again.stream_seqs() == last | {quiet: 77}        # not heard yet: what they resumed from
    again.process_batch(STREAM[200:])
    st = again.stats["streams"]
    assert all(st[k]["missed"] == 0 and st[k]["gaps"] == 0 and st[k]["out_of_order"] == 0 for k in st)
    assert st[quiet] == {"messages": 0, "last_seq": 0, "gaps": 0, "missed": 0, "out_of_order": 0,
                         "resumed_from": 77, "first_after": 0, "missed_while_down": 0}
    whole = vega.FeedHandler("FO", vega.Store(10_000))
    whole.process_batch(STREAM[:150])
    whole.process_batch(STREAM[200:])
    assert {k: st[k]["missed_while_down"] for k in last} == {k: v["missed"] for k, v in whole.stats["streams"].items()}
    assert again.stream_seqs() == whole.stream_seqs() | {quiet: 77}


def test_a_stream_that_numbers_afresh_after_the_restart_counts_nothing_as_missed_and_says_unknown():
    h = vega.FeedHandler("FO", vega.Store(10_000))
    seqs = sequence_numbers(STREAM[:10])
    h.resume_streams({k: v[0] + 500_000 for k, v in seqs.items()})     # the exchange restarted the streams
    h.process_batch(STREAM[:10])
    st = h.stats["streams"]
    # (missed_while_down None: what a renumbered stream sent while the capture was down is unknown, not 0)
    assert all(st[k]["missed_while_down"] is None and st[k]["first_after"] == v[0] for k, v in seqs.items())
    assert all(st[k]["missed"] == 0 for k in seqs)
    assert h.stream_seqs() == {k: v[-1] for k, v in seqs.items()}


def test_resume_streams_refuses_what_is_no_stream_number_setting_nothing():
    h = vega.FeedHandler("FO", vega.Store(100))
    for bad in ({256: 5}, {-1: 5}, {1: 0}, {1: 2**31}, {True: 5}, {1: 5.0}, {1: 5, 2: -3}):
        with pytest.raises(ValueError):
            h.resume_streams(bad)
        assert h.stream_seqs() == {}
    h.process_batch(STREAM[:5])
    heard = next(iter(h.stream_seqs()))
    with pytest.raises(ValueError, match="heard already"):
        h.resume_streams({heard: 1})
    h.new_day()
    assert h.stream_seqs() == {}


def test_after_new_day_a_stream_heard_only_the_day_before_may_be_resumed():
    # new_day() forgets the streams' numbers (stream_seqs() is empty); a stream heard the day before (resumed
    # then, or not) is not "heard already" on the new day, and counts against what it is given from then on
    h = vega.FeedHandler("FO", vega.Store(10_000))
    h.resume_streams({k: v[0] - 1 for k, v in sequence_numbers(STREAM[:10]).items()})
    h.process_batch(STREAM[:150])
    before = {k: (v["resumed_from"], v["first_after"], v["missed_while_down"])
              for k, v in h.stats["streams"].items()}
    h.new_day()
    assert h.stream_seqs() == {}
    # the day before's restart stays in the stats as it was (resumed_from was 0 once new_day had run)
    assert {k: (v["resumed_from"], v["first_after"], v["missed_while_down"])
            for k, v in h.stats["streams"].items()} == before
    assert all(v[0] and v[1] for v in before.values())
    seqs = sequence_numbers(STREAM[200:])
    h.resume_streams({k: v[0] - 4 for k, v in seqs.items()})
    h.process_batch(STREAM[200:])
    st = h.stats["streams"]
    assert {k: (st[k]["resumed_from"], st[k]["first_after"]) for k in seqs} == {
        k: (v[0] - 4, v[0]) for k, v in seqs.items()}
    h.process_batch(STREAM[:1])                 # a stream heard on the new day is heard already
    heard = sequence_numbers(STREAM[:1])
    with pytest.raises(ValueError, match="heard already"):
        h.resume_streams({next(iter(heard)): 1})
