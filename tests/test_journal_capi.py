"""The C contract of _journal.pxd, used as the FeedHandler will: a separately compiled Cython module cimports
vega._journal, takes the writer struct with the GIL and appends from a nogil loop."""
import os
import sys
import textwrap

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # journal_helpers, whether or not tests/ is a package
from capi_probe import build_probe
from journal_helpers import make_records
from vega.journal import Journal, JournalWriter
from vega.records import timestamps

SRC = textwrap.dedent(
    """
    # cython: language_level=3
    from libc.stdint cimport uint8_t
    from vega._journal cimport JournalWriter, jrnl_writer_t, jrnl_append, jrnl_poll

    def feed(JournalWriter writer, const uint8_t[::1] raw, Py_ssize_t batch):
        cdef jrnl_writer_t* w = writer.c_writer()
        cdef Py_ssize_t n = raw.shape[0] // 32, a = 0, k = 0, got = 0, m
        with nogil:
            while a < n:
                m = batch if n - a > batch else n - a
                k = jrnl_append(w, &raw[a * 32], m)
                if k < 0:
                    break
                got += k
                if k < m:
                    break
                a += m
            jrnl_poll(w)
        return got, w.day_over, w.ckpt_due, w.err
    """
)


@pytest.fixture(scope="module")
def capi(tmp_path_factory):
    return build_probe(tmp_path_factory.mktemp("capi"), "jrnl_capi_probe", SRC)


def test_nogil_append_through_the_pxd_contract(capi, tmp_path):
    recs = make_records(10_000, seed=1, max_step=20_000_000)     # ~100 s of feed time
    w = JournalWriter(tmp_path, "NSE_FO", "2026-11-20", flush_interval=None, checkpoint_interval=60.0)
    got, day_over, ckpt_due, err = capi.feed(w, recs.view(np.uint8), 333)
    assert (got, day_over, err) == (10_000, 0, 0)
    minute = timestamps(recs) // 60_000_000_000
    assert ckpt_due == int(minute[-1] > minute[0]) == w.checkpoint_due
    w.close()
    with Journal.open(w.path) as j:
        assert j.records.tobytes() == recs.tobytes()


def test_nogil_append_stops_at_the_rollover(capi, tmp_path):
    recs = make_records(100, seed=2)
    ts = timestamps(recs)
    ts[60:] += 86_400 * 10**9 - int(ts[0])
    from vega.records import set_timestamps
    set_timestamps(recs, ts)
    w = JournalWriter(tmp_path, "NSE_FO", "2026-11-20", flush_interval=None)
    got, day_over, _, err = capi.feed(w, recs.view(np.uint8), 1000)
    assert (got, day_over, err) == (60, 1, 0)
    assert w.append(recs[60:]) == 40                 # with the GIL: seal, next day, re-stamp
    assert str(w.date) == "2026-11-21"
    w.close()
    with pytest.raises(ValueError, match="closed"):
        capi.feed(w, recs.view(np.uint8), 10)
