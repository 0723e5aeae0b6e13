"""The C helpers bench/bench_ring.py measures latency with: what they write, what they return, bad buffers.

No timing thresholds: only that the stamps are CLOCK_MONOTONIC values taken during the call, that every
message is accounted for, and that the samples are differences of the two processes' clocks (>= 0).
"""
import mmap
import time

import multiprocessing as mp
import numpy as np
import pytest

from vega import _ring
from vega._ring import Ring

from ring_worker import seqs

CTX = mp.get_context("fork")
MASK48 = (1 << 48) - 1



def ts48(recs):
    return recs["ts_lo"].astype(np.int64) | (recs["ts_hi"].astype(np.int64) << 32)


def test_latency_send_stamps_each_record_just_before_its_append(ring):
    rd = ring.reader(0)
    before = time.monotonic_ns() & MASK48
    assert ring._latency_send(0, 50, 1000) == 50
    after = time.monotonic_ns() & MASK48
    recs = rd.poll(100)
    assert np.array_equal(seqs(recs), np.arange(50))
    assert np.array_equal(recs["token"], np.arange(50))
    t = ts48(recs)
    assert before <= t[0] and t[-1] <= after                     # CLOCK_MONOTONIC, taken during the call
    assert np.all(np.diff(t) >= 1000)                             # one record per gap, stamped before it
    with pytest.raises(ValueError):
        ring._latency_send(0, -1, 0)
    with pytest.raises(ValueError):
        ring._latency_send(0, 1, -5)


def _c_reader(path, n, conn):
    ring = Ring.open(path)
    r = ring.reader(0)
    conn.send("ready")
    conn.send(r._latency_ns(n, timeout=30))


def _floor_reader(buf, n, conn):
    conn.send("ready")
    conn.send(_ring._latency_floor_recv(buf, n, timeout=30))


@pytest.mark.parametrize("kind", ["ring", "floor"])
def test_cross_process_samples(ring, kind):
    n = 200
    a, b = CTX.Pipe(duplex=False)
    buf = mmap.mmap(-1, 4096)
    target, arg = (_c_reader, ring.path) if kind == "ring" else (_floor_reader, buf)
    p = CTX.Process(target=target, args=(arg, n, b))
    p.start()
    try:
        assert a.poll(60) and a.recv() == "ready"
        time.sleep(0.05)
        if kind == "ring":
            ring._latency_send(0, n, 20_000)
        else:
            _ring._latency_floor_send(buf, n, 20_000)
        assert a.poll(60)
        out = a.recv()
    finally:
        p.join(60)
    assert p.exitcode == 0
    assert out.dtype == np.int64 and np.all(out >= 0)
    if kind == "ring":
        assert len(out) == n                                       # the ring never drops a message
    else:
        assert 1 <= len(out) <= n                                  # a word overwritten unseen gives none
        assert int.from_bytes(buf[:8], "little") == (1 << 64) - 1  # the done marker ends the reader


def test_floor_refuses_bad_buffers_and_clock_overhead():
    with pytest.raises(ValueError, match="64-byte aligned"):
        _ring._latency_floor_send(bytearray(8), 1, 0)
    with pytest.raises(BufferError):
        _ring._latency_floor_recv(b"\0" * 64, 1, 0.01)            # read-only buffer
    m = mmap.mmap(-1, 4096)
    with pytest.raises(ValueError, match="64-byte aligned"):
        _ring._latency_floor_recv(memoryview(m)[8:200], 1, 0.01)
    m[:8] = (5).to_bytes(8, "little")
    assert len(_ring._latency_floor_recv(m, 4, 0.01)) == 0         # nothing new before the timeout
    c = _ring._clock_overhead_ns(1000)
    assert c.shape == (1000,) and np.all(c >= 0)
