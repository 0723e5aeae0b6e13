"""``Reader.poll(..., min_records=N)`` and ``poll_into``: a waiting poll that batches.

A strategy reading with ``wait="sleep"`` used to wake and return on the first record of a burst, so a busy feed
cost it one wake-up (and one Python round trip) per record or two.  With ``min_records`` the poll waits until
that many records are available or its timeout passes, then returns what there is.  The writer here is a thread
publishing one record at a time, so the batch size is decided by the reader, not by how the writer batched.
"""
import threading
import time

import numpy as np
import pytest

from vega._ring import Ring, RingReplaced
from vega.records import CHANGE_RECORD_DTYPE

from ring_worker import seqs


@pytest.fixture
def ring(shm_file_name):
    with Ring.create(shm_file_name) as r:
        yield r


def _trickle(ring, n, gap_s):
    """A writer thread publishing n records one at a time, gap_s apart."""
    def run():
        for _ in range(n):
            ring._write_test_records("NSE_FO", 1)
            time.sleep(gap_s)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _poll(reader, method, most, **kw):
    if method == "poll":
        return reader.poll(most, **kw)
    out = np.empty(most, dtype=CHANGE_RECORD_DTYPE)
    return out[:reader.poll_into(out, **kw)]


@pytest.mark.parametrize("method", ["poll", "poll_into"])
@pytest.mark.parametrize("wait", ["spin", "yield", "sleep"])
def test_a_waiting_poll_returns_once_min_records_are_there_not_at_the_first(ring, method, wait):
    rd = ring.reader("NSE_FO", start=0)
    t = _trickle(ring, 40, 0.002)
    try:
        got = _poll(rd, method, 100, timeout=60, wait=wait, min_records=12)
        assert len(got) >= 12                                # without min_records: 1 or 2
        assert seqs(got).tolist() == list(range(len(got)))
    finally:
        t.join()
    rest = _poll(rd, method, 100)
    assert seqs(rest).tolist() == list(range(len(got), 40)) and rd.lost == 0


@pytest.mark.parametrize("method", ["poll", "poll_into"])
def test_at_the_timeout_it_returns_what_there_is(ring, method):
    rd = ring.reader("NSE_FO", start=0)
    ring._write_test_records("NSE_FO", 3)
    t0 = time.monotonic()
    got = _poll(rd, method, 100, timeout=0.2, wait="sleep", min_records=10)
    assert time.monotonic() - t0 >= 0.2                    # it waited for more (the deadline is a lower bound)
    assert seqs(got).tolist() == [0, 1, 2]
    assert len(_poll(rd, method, 100, timeout=0.01, wait="sleep", min_records=10)) == 0   # none came: empty


@pytest.mark.parametrize("method", ["poll", "poll_into"])
def test_enough_already_there_and_a_poll_that_does_not_wait_return_at_once(ring, method):
    rd = ring.reader("NSE_FO", start=0)
    ring._write_test_records("NSE_FO", 5)
    assert seqs(_poll(rd, method, 100, timeout=0, min_records=50)).tolist() == list(range(5))   # no wait
    ring._write_test_records("NSE_FO", 20)
    assert seqs(_poll(rd, method, 100, timeout=None, min_records=20)).tolist() == list(range(5, 25))


@pytest.mark.parametrize("method", ["poll", "poll_into"])
def test_a_replaced_ring_returns_its_last_records_then_raises(shm_file_name, method):
    """A reader batching with timeout=None on a ring a restarted capture replaced does not wait forever for a
    batch that cannot come: it returns the old ring's last records, then raises RingReplaced."""
    name = shm_file_name
    w = Ring.create(name)
    ring = Ring.open(name)
    rd = ring.reader("NSE_FO", start=0)
    try:
        w._write_test_records("NSE_FO", 4)
        w.close()
        w = Ring.create(name, replace=True, first_seq=4)
        got = []

        def read():
            got.append(seqs(_poll(rd, method, 100, timeout=None, wait="sleep", min_records=50)).tolist())
            with pytest.raises(RingReplaced) as e:
                _poll(rd, method, 100, timeout=None, wait="sleep", min_records=50)
            got.append(e.value.position)
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout=30)
        assert not t.is_alive(), "the batching poll waited on a replaced ring"
        assert got == [[0, 1, 2, 3], 4]
    finally:
        rd.close()
        ring.close()
        w.close()


def test_min_records_out_of_range_is_refused(ring):
    rd = ring.reader("NSE_FO")
    with pytest.raises(ValueError, match="min_records must lie between 1 and max_records .100., not 0"):
        rd.poll(100, timeout=1, min_records=0)
    with pytest.raises(ValueError, match="min_records must lie between 1 and max_records .100., not 101"):
        rd.poll(100, timeout=1, min_records=101)
    with pytest.raises(ValueError, match="min_records must lie between 1 and the buffer's 8 records, not 9"):
        rd.poll_into(np.empty(8, dtype=CHANGE_RECORD_DTYPE), timeout=1, min_records=9)
    with pytest.raises(TypeError):
        rd.poll(100, min_records="10")


@pytest.mark.parametrize("method", ["poll", "poll_into"])
def test_counts_are_ints_as_in_the_store_and_journal_a_bool_is_refused(ring, method):
    """True is no count of 1 (the store refuses it as a token, the journal as a position); a numpy integer is
    an int, as the int32 values the package hands out."""
    rd = ring.reader("NSE_FO", start=0)
    ring._write_test_records("NSE_FO", 3)
    with pytest.raises(TypeError, match="min_records must be an int, not bool"):
        _poll(rd, method, 8, min_records=True)
    if method == "poll":
        for bad in (True, np.bool_(True), 2.0):
            with pytest.raises(TypeError, match=f"max_records must be an int, not {type(bad).__name__}"):
                rd.poll(bad)
        assert seqs(rd.poll(np.int32(2), min_records=np.int64(1))).tolist() == [0, 1]
    else:
        assert seqs(_poll(rd, method, 2, min_records=np.int64(1))).tolist() == [0, 1]
    assert seqs(_poll(rd, method, 8)).tolist() == [2] and rd.lost == 0     # the refused polls read nothing


@pytest.mark.parametrize("method", ["poll", "poll_into"])
def test_wait_and_the_reader_keywords_are_taken_in_any_case(ring, method):
    """As feed names ("nse_fo") and segment names: "Sleep" is "sleep"; an unknown one is refused naming the
    ones there are."""
    rd = ring.reader("nse_fo", start="Oldest", on_lap="RAISE")
    ring._write_test_records("NSE_FO", 2)
    assert seqs(_poll(rd, method, 8, timeout=5, wait="Sleep")).tolist() == [0, 1]
    for wait in ("SPIN", "Yield"):
        assert len(_poll(rd, method, 8, timeout=0.001, wait=wait)) == 0
    with pytest.raises(ValueError, match=r"wait must be one of \('spin', 'yield', 'sleep'\) \(in any case\), "
                                         r"not 'nap'"):
        _poll(rd, method, 8, wait="nap")
    rd.seek("OLDEST")
    assert seqs(_poll(rd, method, 8)).tolist() == [0, 1]
