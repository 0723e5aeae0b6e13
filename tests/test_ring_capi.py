"""The C contract of vega._ring for nogil writers (what vega._core's FeedHandler uses), exercised from a
separately compiled extension module that cimports vega._ring exactly as _core will."""
import os
import uuid

import numpy as np
import pytest

from capi_probe import build_probe
from vega._ring import Ring, RingBusyError, RingError
from vega.records import CHANGE_RECORD_DTYPE


@pytest.fixture
def name():
    n = f"vega-test-{uuid.uuid4().hex[:12]}"
    yield n
    if os.path.exists(f"/dev/shm/{n}"):
        os.unlink(f"/dev/shm/{n}")


@pytest.fixture
def ring(name):
    r = Ring.create(name)
    yield r
    r.close()


def records(n, seed=0):
    rng = np.random.default_rng(seed)
    a = np.zeros(n, dtype=CHANGE_RECORD_DTYPE)
    a.view(np.uint8)[:] = rng.integers(0, 256, size=n * 32, dtype=np.uint8)
    return a

C_WRITER = '''
# cython: language_level=3
from vega._ring cimport Ring, ring_slot_t, ring_append, RING_NSE_EQ

def publish(Ring ring, const unsigned char[::1] data, int times):
    cdef ring_slot_t* slot = ring._slot_ptr(RING_NSE_EQ)
    cdef Py_ssize_t n = data.shape[0] // 32
    cdef unsigned long long end = 0
    cdef int i
    try:
        with nogil:
            for i in range(times):
                end = ring_append(slot, &data[0], n)
    finally:
        ring._slot_release(RING_NSE_EQ)
    return end

def hold(Ring ring):
    ring._slot_ptr(RING_NSE_EQ)

def release(Ring ring):
    ring._slot_release(RING_NSE_EQ)
'''

def test_c_writer_contract_from_another_extension(ring, name, tmp_path):
    ring_cwriter = build_probe(tmp_path, "ring_cwriter", C_WRITER)
    r = ring.reader("NSE_EQ", start="oldest")
    batch = records(5, seed=3)
    assert ring_cwriter.publish(ring, batch.view(np.uint8), 3) == 15
    got = r.poll()
    assert got.tobytes() == batch.tobytes() * 3
    other = Ring.open(name)
    with pytest.raises(RingError, match="writable"):           # a read-only ring has no writer role
        ring_cwriter.hold(other)
    other.close()
    ring_cwriter.hold(ring)
    with pytest.raises(RingBusyError, match="C writer"):        # the C writer is the slot's only writer
        ring.append("NSE_EQ", batch)
    with pytest.raises(BufferError):                            # the slot pointer is still exported
        ring.close()
    ring_cwriter.release(ring)
    ring.close()
