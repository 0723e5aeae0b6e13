"""A reader of a ring that a restarted capture replaced (``Ring.create(name, replace=True)``, as README says):
nothing is published to its mapping any more.  A waiting poll used to wait on it forever (``timeout=None``
never returned); now it notices on its periodic wake-ups (at most one ``stat`` per 50 ms, never in the spinning
loop) and, once the records published before are read, raises RingReplaced with the reader's position, so the
strategy reopens the name and goes on from there (docs/FORMATS.md §4 "Readers of a replaced ring").

The hang is tested in a spawned child with a timeout, so a regression fails instead of hanging the suite.
"""
import multiprocessing
import os
import pickle
import queue
import resource
import time

import numpy as np
import pytest

import vega
from vega._ring import Ring, RingError, RingReplaced

from ring_worker import seqs

SPAWN = multiprocessing.get_context("spawn")
WAIT = 60          # seconds: a deadline only, so that a regression fails instead of hanging (never reached)


def _voluntary_switches():
    """This thread's voluntary context switches so far: a poll that waits with wait="sleep" makes one at
    least per nanosleep; one that returns (or raises) without waiting makes none."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw


@pytest.fixture
def name(shm_file_name):
    return shm_file_name


def _strategy(name, wait, q):
    """In a spawned child: a strategy blocked in poll(timeout=None) on the ring named ``name``."""
    ring = Ring.open(name)
    rd = ring.reader("NSE_FO", name="strategy")
    q.put(("waiting", rd.position))
    try:
        got = rd.poll(100, timeout=None, wait=wait)
        q.put(("returned", len(got)))
    except RingReplaced as e:
        q.put(("replaced", e.position, e.feed, e.path, ring.replaced))


@pytest.mark.parametrize("wait", ["sleep", "spin"])
def test_a_poll_waiting_without_timeout_raises_once_the_capture_replaced_the_ring(name, wait):
    """The reproduction: the capture stops, a new one replaces the ring and publishes for seconds; the strategy
    waiting in poll(timeout=None) on the old ring never returned."""
    w = Ring.create(name)
    w._write_test_records("NSE_FO", 10)
    q = SPAWN.Queue()
    p = SPAWN.Process(target=_strategy, args=(name, wait, q), daemon=True)
    p.start()
    try:
        assert q.get(timeout=60) == ("waiting", 10)
        w.close()                                            # the capture stops ...
        w = Ring.create(name, replace=True, first_seq=10)    # ... and a restarted one replaces the ring
        deadline = time.monotonic() + WAIT                   # (only so that a regression fails, not hangs)
        got = None
        while got is None and time.monotonic() < deadline:
            w._write_test_records("NSE_FO", 10)             # live records, on the new ring only
            try:
                got = q.get(timeout=0.1)
            except queue.Empty:
                pass
        # the poll has no timeout: only the replacement can end it, whatever the machine's speed
        assert got == ("replaced", 10, "NSE_FO", os.path.join("/dev/shm", name), True), \
            f"the waiting poll did not end in {WAIT} s ({got}; child alive: {p.is_alive()})"
        p.join(timeout=30)
        assert p.exitcode == 0
    finally:
        if p.is_alive():
            p.kill()
            p.join(timeout=30)
        w.close()


@pytest.mark.parametrize("method", ["poll", "poll_into"])
def test_records_published_before_come_first_then_ring_replaced_and_the_reader_goes_on(name, method):
    """What was published to the old ring is returned as usual; then the waiting poll raises RingReplaced with
    the reader's position, and a reader of the new ring started there (a capture starts the new ring at its
    journal's next_seq, here the old tail) misses nothing and repeats nothing."""
    w = Ring.create(name)
    w._write_test_records("NSE_FO", 30)
    ring = Ring.open(name)
    rd = ring.reader("NSE_FO", name="strategy", start=0)
    out = np.empty(100, dtype=vega.records.CHANGE_RECORD_DTYPE)

    def poll(timeout):
        if method == "poll":
            return rd.poll(100, timeout=timeout, wait="sleep")
        return out[:rd.poll_into(out, timeout=timeout, wait="sleep")]

    try:
        assert seqs(poll(None)).tolist() == list(range(30))
        rd.seek(20)                                          # read 20..29 again below
        w._write_test_records("NSE_FO", 5)                  # 30..34, then the writer stops
        w.close()
        w = Ring.create(name, replace=True, first_seq=35)
        w._write_test_records("NSE_FO", 3)                  # 35..37 on the new ring
        assert ring.replaced
        assert seqs(poll(WAIT)).tolist() == list(range(20, 35))     # the old ring's, up to its end
        t0 = time.monotonic()
        with pytest.raises(RingReplaced, match="the ring was replaced .* open the name again") as e:
            poll(WAIT)
        assert time.monotonic() - t0 < WAIT                  # ended by the replacement, not by its deadline
        assert isinstance(e.value, RingError)
        assert (e.value.path, e.value.feed, e.value.position) == (ring.path, "NSE_FO", 35)
        assert "stopped at position 35" in str(e.value)
        assert rd.position == 35 and rd.lost == 0
        # known now: raised at once, without waiting for a wake-up.  A wait="sleep" poll that waits at all
        # sleeps (a voluntary context switch); the best of 5, in case another thread took the GIL meanwhile
        switches = []
        for _ in range(5):
            before = _voluntary_switches()
            with pytest.raises(RingReplaced):
                poll(WAIT)
            switches.append(_voluntary_switches() - before)
        assert min(switches) == 0, switches
        with pytest.raises(RingReplaced):                    # so does a poll that does not wait
            poll(0)
        again = Ring.open(name)
        on = again.reader("NSE_FO", name="strategy-2", start=e.value.position)
        assert seqs(on.poll(100)).tolist() == [35, 36, 37] and on.lost == 0
        before = _voluntary_switches()                       # (the measure sees a wait: 1 ms with nothing to
        assert len(on.poll(10, timeout=0.001, wait="sleep")) == 0                    # read on the live ring)
        assert _voluntary_switches() > before
        on.close()
        again.close()
    finally:
        rd.close()
        ring.close()
        w.close()


def test_a_loop_of_short_polls_notices_too_and_so_does_a_removed_ring(name):
    """Polls shorter than the 50 ms wake-up check too (at most once per 50 ms per reader, across polls);
    a ring removed with Ring.unlink counts as replaced (``Ring.replaced``)."""
    w = Ring.create(name)
    ring = Ring.open(name)
    rd = ring.reader("NSE_EQ")
    try:
        w.close()
        Ring.unlink(name)
        deadline = time.monotonic() + WAIT                   # (only so that a regression fails, not hangs)
        with pytest.raises(RingReplaced) as e:
            while time.monotonic() < deadline:
                assert len(rd.poll(10, timeout=0.005, wait="yield")) == 0
        assert e.value.feed == "NSE_EQ" and e.value.position == 0
    finally:
        rd.close()
        ring.close()


def test_the_spinning_wait_makes_no_system_call_per_spin(name, monkeypatch):
    """The replacement check is one stat per 50 ms wake-up at most, never in the loop: a 0.3 s spinning poll
    of a live ring stats its path a handful of times, not millions."""
    w = Ring.create(name)
    ring = Ring.open(name)
    rd = ring.reader("NSE_FO")
    calls = []
    real_stat = os.stat

    def counting_stat(*a, **k):
        calls.append(a[0] if a else None)
        return real_stat(*a, **k)

    try:
        monkeypatch.setattr(os, "stat", counting_stat)
        t0 = time.monotonic()
        assert len(rd.poll(10, timeout=0.3, wait="spin")) == 0
        elapsed = time.monotonic() - t0
        monkeypatch.undo()
        assert 1 <= len(calls) <= elapsed / 0.05 + 2, calls
        assert set(calls) == {ring.path}
    finally:
        monkeypatch.undo()
        rd.close()
        ring.close()
        w.close()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_ring_replaced_pickles_with_message_and_attributes(protocol):
    e = RingReplaced("/dev/shm/vega", "NSE_EQ", 1234)
    got = pickle.loads(pickle.dumps(e, protocol))
    assert type(got) is RingReplaced and str(got) == str(e) and got.args == e.args
    assert (got.path, got.feed, got.position) == ("/dev/shm/vega", "NSE_EQ", 1234)
    assert vega.RingReplaced is RingReplaced and "RingReplaced" in vega.__all__


@pytest.mark.parametrize("method", ["poll", "poll_into"])
def test_a_loop_of_polls_that_do_not_wait_notices_too_after_reading_what_came_before(name, method):
    """A strategy's event loop polls with timeout=0 between other work.  Such polls used to return nothing
    forever once a restarted capture had replaced the ring; now they check too (at most once per 50 ms per
    reader), and raise RingReplaced only once the records published before are all read."""
    w = Ring.create(name)
    ring = Ring.open(name)
    rd = ring.reader("NSE_FO", name="strategy")
    out = np.empty(4, dtype=vega.records.CHANGE_RECORD_DTYPE)

    def poll():
        if method == "poll":
            return seqs(rd.poll(4)).tolist()
        return seqs(out[:rd.poll_into(out)]).tolist()

    try:
        assert poll() == []                                  # the reader has looked at the ring once
        w._write_test_records("NSE_FO", 6)                  # 0..5, then the capture stops
        w.close()
        w = Ring.create(name, replace=True, first_seq=6)
        w._write_test_records("NSE_FO", 2)
        got = []
        deadline = time.monotonic() + WAIT                   # (only so that a regression fails, not hangs)
        with pytest.raises(RingReplaced) as e:
            while time.monotonic() < deadline:
                got += poll()
        assert got == list(range(6))                         # everything published before, nothing twice
        assert (e.value.feed, e.value.position) == ("NSE_FO", 6) and rd.lost == 0
    finally:
        rd.close()
        ring.close()
        w.close()


def test_a_reader_of_the_writers_own_ring_object_goes_on_whatever_its_path_names(name):
    """The writer's process publishes to its mapping whatever the path names now (the capture's private ring
    is unlinked as soon as it is made, and a failed journal's records are held through a reader of it), so a
    reader of a writable Ring never takes it as replaced."""
    w = Ring.create(name)
    rd = w.reader("NSE_FO", None, start=0)
    try:
        Ring.unlink(name)
        assert w.replaced
        deadline = time.monotonic() + 0.2                   # past the 50 ms between checks
        while time.monotonic() < deadline:
            assert len(rd.poll(10)) == 0
        assert len(rd.poll(10, timeout=0.06, wait="sleep")) == 0
        w._write_test_records("NSE_FO", 3)
        assert seqs(rd.poll(10)).tolist() == [0, 1, 2]
    finally:
        rd.close()
        w.close()
