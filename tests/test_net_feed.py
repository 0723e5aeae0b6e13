"""BatchReceiver.feed: recvmmsg slots handed straight to a FeedHandler (vega._net + vega._core.vg_feed_buffers).

feed() must do exactly what process_batch does with the same datagrams and receive times: the same store, the
same change records in the same order, the same statistics.  With ``timestamps`` the times are the kernel's
receive stamps (SO_TIMESTAMPNS).  Tests that count datagrams per call use an AF_UNIX datagram pair: its
delivery is synchronous, where loopback UDP may be finished by the softirq daemon after the send returns."""
import socket
import time

import numpy as np
import pytest

import vega
from vega import nse
from vega._net import BatchReceiver, send_batch
from vega.capture import compare_stores

from net_helpers import a_clock_reading_between_sends


def _pair(rcvbuf=8 << 20):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    r.bind(("127.0.0.1", 0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(r.getsockname())
    return r, s


@pytest.fixture
def pair():
    r, s = _pair()
    yield r, s
    r.close()
    s.close()


@pytest.fixture
def upair():
    r, s = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    yield r, s
    r.close()
    s.close()


def _handler(seg, seen):
    return vega.FeedHandler(seg, vega.Store(20000), on_records=seen.append)


@pytest.mark.parametrize("seg", ["FO", "CM"])
def test_feed_equals_process_batch_with_the_kernel_receive_times(pair, seg):
    r, s = pair
    stream = list(nse.sample_stream(seg, 120, seed=11))
    br = BatchReceiver(r.fileno(), batch=256, size=2048, timestamps=True)
    t0 = time.time_ns()
    assert send_batch(s.fileno(), stream) == len(stream)     # loopback: queued before sendmmsg returns (or
    seen_a, seen_b = [], []                                   # by the softirq daemon right after, under load)
    a, b = _handler(seg, seen_a), _handler(seg, seen_b)
    times = []
    while len(times) < len(stream):                           # normally one call; more if delivery lags
        k = br.feed(a, 1000, max_calls=1)
        assert k > 0
        times += br.recv_times()
        assert len(br.recv_times()) == k
    t1 = time.time_ns()
    assert len(times) == len(stream)
    assert all(t0 <= t <= t1 for t in times) and times == sorted(times)   # kernel stamps of this send
    msgs = b.process_batch(stream, now_ns=np.array(times, dtype=np.int64))
    assert br.messages == msgs == a.stats["messages"] > 0
    ra, rb = np.concatenate(seen_a), np.concatenate(seen_b)
    assert len(ra) == a.stats["records"] > 0
    assert ra.tobytes() == rb.tobytes()                       # same records, same order, same stamps
    n, bad = compare_stores(a.store, b.store)
    assert n > 0 and bad == []
    sa, sb = a.store.snapshot(), b.store.snapshot()
    assert np.array_equal(np.sort(sa["last_update_ns"]), np.sort(sb["last_update_ns"]))
    assert set(np.unique(sa["last_update_ns"])) <= set(times)
    sta, stb = a.stats, b.stats
    for k in ("datagrams", "packets", "messages", "errors", "by_code", "merge", "records", "streams"):
        assert sta[k] == stb[k], k


def test_feed_without_timestamps_reads_the_clock_per_datagram(upair):
    r, s = upair
    stream = list(nse.sample_stream("FO", 50, seed=3))
    br = BatchReceiver(r.fileno(), batch=64)
    assert not br.timestamps and br.recv_times() == []
    send_batch(s.fileno(), stream)
    seen, other = [], []
    h, ref = _handler("FO", seen), _handler("FO", other)
    t0 = time.time_ns()
    assert br.feed(h, 1000) == 50
    t1 = time.time_ns()
    ref.process_batch(stream, now_ns=t0)
    snap = h.store.snapshot()
    stamped = snap["last_update_ns"][snap["update_count"] > 0]
    assert len(stamped) and ((stamped >= t0) & (stamped <= t1)).all()      # processing time, this call
    assert compare_stores(h.store, ref.store)[1] == []
    assert len(np.concatenate(seen)) == len(np.concatenate(other))


def test_feed_batches_stop_at_a_short_batch_and_at_max_calls(upair):
    r, s = upair
    stream = list(nse.sample_stream("FO", 40, seed=4))
    br = BatchReceiver(r.fileno(), batch=16)
    h = _handler("FO", [])
    send_batch(s.fileno(), stream)
    assert br.feed(h, 0, max_calls=1) == 16 and br.calls == 1
    assert br.feed(h, 0) == 24 and br.calls == 3              # 16 + 8: the short batch ends the call
    assert br.feed(h, 0) == 0 and br.calls == 3               # drained: one recvmmsg (EAGAIN), nothing fed
    assert br.feed(h, 20) == 0                                # waits 20 ms, nothing comes
    assert h.stats["datagrams"] == br.datagrams == 40
    send_batch(s.fileno(), stream[:32])
    assert br.feed(h, 0) == 32 and br.calls == 5              # two full batches, then an empty call
    with pytest.raises(ValueError):
        br.feed(h, 0, max_calls=0)
    for bad in (object(), None, "FO"):
        with pytest.raises(TypeError):
            br.feed(bad, 0)


def test_feed_counts_bad_and_truncated_datagrams_and_goes_on(upair):
    r, s = upair
    good = list(nse.sample_stream("CM", 10, seed=8))
    junk = [b"", b"\x00", b"\xff" * 7, bytes(range(256)) * 4, b"\x00\x04" + b"\xff" * 300]
    big = [good[0] + b"\x00" * 3000]                          # cut to the 2048-byte slot
    br = BatchReceiver(r.fileno(), batch=64, size=2048)
    h = _handler("CM", [])
    ref = _handler("CM", [])
    dgs = junk[:2] + good[:5] + junk[2:] + big + good[5:]
    send_batch(s.fileno(), dgs)
    assert br.feed(h, 1000) == len(dgs)
    assert br.truncated == 1
    ref.process_batch([d[:2048] for d in dgs], now_ns=time.time_ns())
    st, rs = h.stats, ref.stats
    assert st["datagrams"] == len(dgs) and sum(st["errors"].values()) >= len(junk)
    assert st["errors"] == rs["errors"] and st["messages"] == rs["messages"] > 0
    assert compare_stores(h.store, ref.store)[1] == []


def test_feed_raises_on_a_closed_store_and_counts_nothing_twice(upair):
    r, s = upair
    store = vega.Store(100)
    h = vega.FeedHandler("FO", store)
    br = BatchReceiver(r.fileno(), batch=8)
    send_batch(s.fileno(), list(nse.sample_stream("FO", 3, seed=1)))
    store.close()
    with pytest.raises(Exception):
        br.feed(h, 1000)
    assert br.datagrams == 3 and br.messages == 0             # received, then refused by the handler


def _index_datagram(name, value):
    r = nse.blank_record("CM", 7207)
    r.update(index_name=name, index_value=value, wire_stride=72)
    return nse.build_datagram("CM", [nse.blank_message("CM", 7207, 1, log_time=1_000, records=[r])],
                              compress=False)


def test_feed_routes_index_messages_to_the_linked_index_handler_and_frees_it(upair):
    r, s = upair
    idx_seen = []
    idx = vega.FeedHandler("IDX", vega.Store(64), on_records=idx_seen.append)
    cm = vega.FeedHandler("CM", vega.Store(20000), indices=idx)
    stream = list(nse.sample_stream("CM", 30, seed=4))
    stream.insert(7, _index_datagram("Nifty 50", 2400500))
    stream.append(_index_datagram("Nifty 50", 2400700))
    br = BatchReceiver(r.fileno(), batch=64)
    send_batch(s.fileno(), stream)
    assert br.feed(cm, 1000) == len(stream)
    assert idx.store.ltp(26000) == 2400700 and 26000 not in cm.store
    assert set(np.concatenate(idx_seen)["token"].tolist()) == {26000}
    idx.process(_index_datagram("Nifty 50", 2400900))          # no longer busy after the feed
    assert idx.store.ltp(26000) == 2400900


def test_feed_inside_a_linked_handlers_call_is_refused_and_leaves_it_usable(upair):
    r, s = upair
    idx = vega.FeedHandler("IDX", vega.Store(64))
    errors = []
    br = BatchReceiver(r.fileno(), batch=8)

    def reenter(recs):                                        # runs inside cm's call: idx is busy
        try:
            br.feed(idx, 0)
        except RuntimeError as e:
            errors.append(str(e))

    cm = vega.FeedHandler("CM", vega.Store(100), indices=idx, on_records=reenter)
    send_batch(s.fileno(), [_index_datagram("Nifty 50", 5)])
    cm.process(nse.build_datagram("CM", [nse.blank_message("CM", 6013, 1, records=[
        {"symbol": "ABC", "series": "EQ", "token": 5, "opening_price": 100}])]))
    assert errors and "one thread" in errors[0]
    assert br.datagrams == 1 and br.messages == 0             # taken from the socket, refused by the handler
    send_batch(s.fileno(), [_index_datagram("Nifty 50", 7)])
    assert br.feed(idx, 1000) == 1 and idx.store.ltp(26000) == 7


def test_a_receiver_serves_one_call_at_a_time(upair):
    """Two threads on one receiver would recvmmsg into the same slots while the other reads them: the second
    call is refused (before, it went ahead)."""
    import threading

    r, s = upair
    br = BatchReceiver(r.fileno(), batch=8)
    fh = vega.FeedHandler("FO", vega.Store(1000))
    got = []
    # waits in poll(), without the GIL, until the datagram sent below (a deadline, not reached: the test fails)
    t = threading.Thread(target=lambda: got.append(br.recv(60_000)))
    t.start()
    refusals = []
    deadline = time.monotonic() + 60                  # for the thread to get inside its call
    while not refusals and time.monotonic() < deadline:
        for call in (lambda: br.recv(0), lambda: br.feed(fh, 0)):
            try:
                assert call() in ([], 0)      # only before the thread is inside its call: nothing queued yet
            except RuntimeError as e:
                refusals.append(str(e))
        time.sleep(0.001)
    dgs = list(nse.sample_stream("FO", 3, seed=1))
    send_batch(s.fileno(), dgs[:1])
    t.join()
    assert refusals and all("in use by a call in another thread" in e for e in refusals)
    assert got == [dgs[:1]]
    send_batch(s.fileno(), dgs[1:])
    assert br.feed(fh, 1000) == 2             # usable again, from this thread


def test_feed_holds_the_datagrams_from_stop_ns_for_the_next_call(upair):
    """feed(stop_ns=) processes the datagrams received before ``stop_ns`` (the next trading day's start) and holds
    the rest in the slots, unprocessed, saying when the first came (``held_ns``): the capture turns the day over
    before they go in.  The next call (or recv) takes the held ones first, before the slots refill.

    An AF_UNIX datagram pair: the kernel stamps a datagram (SO_TIMESTAMPNS) and queues it in the send itself,
    so the datagrams sent before ``stop`` is read are stamped and queued before it, those sent after it
    after it, with no wait (loopback UDP stamps on receipt only once a deferred kernel switch is on, and may
    queue after the send returns: the test slept 50 ms after each send).  The capture's test of the same
    over UDP: test_capture_units' test_a_live_capture_turns_the_day_over_at_the_first_datagram_past_midnight."""
    r, s = upair
    stream = list(nse.sample_stream("FO", 60, seed=12))
    br = BatchReceiver(r.fileno(), batch=256, size=2048, timestamps=True)
    a = _handler("FO", [])
    assert send_batch(s.fileno(), stream[:20]) == 20
    stop = a_clock_reading_between_sends()
    assert send_batch(s.fileno(), stream[20:40]) == 20
    assert br.held_ns == -1
    assert br.feed(a, 0, stop_ns=stop) == 20 and br.held_ns >= stop
    assert br.feed(a, 0, stop_ns=stop) == 0 and br.held_ns >= stop       # still held: still the next day's
    assert a.stats["datagrams"] == 20 and a.store.snapshot()["last_update_ns"].max() < stop
    held = br.held_ns
    assert send_batch(s.fileno(), stream[40:]) == 20                       # queued behind the held ones
    assert br.feed(a, 0) == 40                                              # the day turned: no stop
    assert br.held_ns == -1 and a.stats["datagrams"] == 60
    assert a.store.snapshot()["last_update_ns"].max() >= held
    # recv() takes held datagrams first too
    assert send_batch(s.fileno(), stream[:3]) == 3
    assert br.feed(a, 1000, stop_ns=0) == 0 and br.held_ns > 0
    assert br.recv(0) == stream[:3] and br.held_ns == -1
