"""A message the decoder counts as an error after a sound header (MessageLength within the data) is still numbered
in its stream: an undocumented code, or a documented one whose body does not fit its layout, between two tracked
messages is no sequence gap, live or across a restart (resume_streams).  A message whose header is not sound is not
tracked: its numbers are not to be trusted.  docs/FORMATS.md §3.3 "Sequence gaps"."""
import struct

import numpy as np
import pytest

import vega
from vega import nse
from vega._pcap import feed_runs, feed_selected

T = 1_790_000_000_000_000_000                               # a receive time (epoch ns)
STREAM, N = 7, 5000                                         # the stream and its first BCSeqNo in these tests
HOW = ["process", "process_batch", "feed_selected", "feed_runs"]


def tick(seq, token=1001):
    """F&O 17202 (merged: one tick of ``token``) numbered ``seq`` on STREAM."""
    m = nse.blank_message("FO", 17202, 1, bc_seq_no=seq, stream=STREAM)
    m["records"][0].update(token=token, fill_price=10_000 + seq, fill_volume=1)
    return nse.encode_message(m)


def undocumented(seq, code=7999):
    """A message of a code no document names, numbered ``seq`` on STREAM (a 6541's header, its code replaced)."""
    raw = nse.encode_message(nse.blank_message("FO", 6541, bc_seq_no=seq, stream=STREAM))
    return raw[:10] + struct.pack(">H", code) + raw[12:]


def dgram(*messages, compress=True, market_type=2):
    return nse.encode_datagram([nse.encode_packet(m, compress, market_type) for m in messages], 2)


def feed(handler, datagrams, how):
    """Through process, process_batch, or the C-buffer entry points a pcap ingest and the receiver use
    (feed_selected: vg_feed_buffers; feed_runs: vg_feed_mixed)."""
    if how == "process":
        return sum(handler.process(d, now_ns=T) for d in datagrams)
    if how == "process_batch":
        return handler.process_batch(datagrams, now_ns=T)
    buffer = np.frombuffer(b"".join(datagrams), np.uint8)
    length = np.array([len(d) for d in datagrams], np.int32)
    offset = np.concatenate(([0], np.cumsum(length[:-1]))).astype(np.int64)
    ts = np.full(len(datagrams), T, np.int64)
    if how == "feed_selected":
        return feed_selected(handler, buffer, ts, offset, length, np.arange(len(datagrams), dtype=np.int64))
    return feed_runs([handler], buffer, ts, offset, length, np.zeros(len(datagrams), np.int16))


def stream(handler):
    return handler.stats["streams"][STREAM]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("compress", [True, False])
def test_an_undocumented_code_between_two_tracked_messages_is_no_gap(how, compress):
    h = vega.FeedHandler("FO", vega.Store(100))
    assert feed(h, [dgram(tick(N), compress=compress), dgram(undocumented(N + 1), compress=compress),
                    dgram(tick(N + 2), compress=compress)], how) == 2
    assert stream(h) == {"messages": 3, "last_seq": N + 2, "gaps": 0, "missed": 0, "out_of_order": 0}
    st = h.stats
    assert st["errors"]["unknown_code"] == 1 and sum(st["errors"].values()) == 1
    assert st["messages"] == 2 and sum(st["by_code"].values()) == 2 and st["by_code"][17202] == 2
    assert st["merged_by_code"][17202] == 2 and sum(st["merged_by_code"].values()) == 2

    # what it merged and recorded is what the two ticks alone give
    alone = vega.FeedHandler("FO", vega.Store(100))
    feed(alone, [dgram(tick(N), compress=compress), dgram(tick(N + 2), compress=compress)], how)
    assert (st["merge"], st["records"]) == (alone.stats["merge"], alone.stats["records"])
    assert h.store[1001] == alone.store[1001]


def test_one_datagram_with_the_undocumented_code_between_its_neighbours_is_no_gap():
    h = vega.FeedHandler("FO", vega.Store(100))
    h.process(dgram(tick(N), undocumented(N + 1), undocumented(N + 2, code=1), tick(N + 3)), now_ns=T)
    assert stream(h) == {"messages": 4, "last_seq": N + 3, "gaps": 0, "missed": 0, "out_of_order": 0}
    assert h.stats["errors"]["unknown_code"] == 2


def test_a_documented_code_whose_body_does_not_fit_its_layout_is_numbered_too():
    # NoOfRecords says 12 where MessageLength holds 1 (records); a CM-only code on the F&O decoder (unknown_code)
    lying = nse.encode_message(nse.blank_message("FO", 17202, 1, bc_seq_no=N + 1, stream=STREAM), no_of_records=12)
    cm_code = undocumented(N + 2, code=18703)
    h = vega.FeedHandler("FO", vega.Store(100))
    h.process_batch([dgram(tick(N)), dgram(lying), dgram(cm_code), dgram(tick(N + 3))], now_ns=T)
    assert stream(h) == {"messages": 4, "last_seq": N + 3, "gaps": 0, "missed": 0, "out_of_order": 0}
    assert (h.stats["errors"]["records"], h.stats["errors"]["unknown_code"]) == (1, 1)


@pytest.mark.parametrize("how", HOW)
def test_a_restart_counts_an_undocumented_code_as_heard(how):
    # the first message after the restart is the undocumented one: nothing was missed while down
    before = vega.FeedHandler("FO", vega.Store(100))
    feed(before, [dgram(tick(N))], how)
    after = vega.FeedHandler("FO", vega.Store(100))
    after.resume_streams(before.stream_seqs())
    feed(after, [dgram(undocumented(N + 1)), dgram(tick(N + 2))], how)
    assert stream(after) == {"messages": 2, "last_seq": N + 2, "gaps": 0, "missed": 0, "out_of_order": 0,
                             "resumed_from": N, "first_after": N + 1, "missed_while_down": 0}

    # the last message before the restart is the undocumented one: the stream's number is its
    before = vega.FeedHandler("FO", vega.Store(100))
    feed(before, [dgram(tick(N)), dgram(undocumented(N + 1))], how)
    assert before.stream_seqs() == {STREAM: N + 1}
    after = vega.FeedHandler("FO", vega.Store(100))
    after.resume_streams(before.stream_seqs())
    feed(after, [dgram(tick(N + 2))], how)
    assert stream(after)["missed_while_down"] == 0 and stream(after)["first_after"] == N + 2


def test_a_message_whose_length_runs_past_the_data_is_not_numbered():
    # MessageLength past the decompressed sub-packet (msg_length): the header is not sound, so neither is its
    # BCSeqNo; its number counts as missed, as for a message lost on the way
    beyond = nse.encode_message(nse.blank_message("FO", 6541, bc_seq_no=N + 1, stream=STREAM), message_length=400)
    beyond_unknown = undocumented(N + 2)
    beyond_unknown = beyond_unknown[:38] + struct.pack(">H", 400) + beyond_unknown[40:]
    h = vega.FeedHandler("FO", vega.Store(100))
    h.process_batch([dgram(tick(N)), dgram(beyond), dgram(beyond_unknown), dgram(tick(N + 3))], now_ns=T)
    assert stream(h) == {"messages": 2, "last_seq": N + 3, "gaps": 1, "missed": 2, "out_of_order": 0}
    assert h.stats["errors"]["msg_length"] == 2


def test_a_message_of_the_other_segment_is_not_numbered_in_this_ones_streams():
    h = vega.FeedHandler("FO", vega.Store(100))
    h.process_batch([dgram(tick(N)), dgram(undocumented(N + 1), market_type=4), dgram(tick(N + 2))], now_ns=T)
    assert stream(h) == {"messages": 2, "last_seq": N + 2, "gaps": 1, "missed": 1, "out_of_order": 0}
    assert h.stats["errors"]["segment"] == 1
