"""The writer's index (entries every `stride` records, checkpoint runs) against a pure-Python reference, for
streams that mix plain records (the fast path: no KEYFRAME flag outside a run) with KEYFRAME runs complete,
torn and interrupted, appended in any batching: the index table of the sealed file and build_index() over the
same records must both equal the reference."""
import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journal_helpers import make_records
from vega.journal import JournalWriter, build_index
from vega.records import CHECKPOINT_END, KEYFRAME, timestamps

DATE = "2026-11-20"


def reference_index(recs, stride):
    """(entries [(max ts of records 0..j*stride, byte offset)], checkpoints [(ts, offset, n)]) record by record."""
    ts = timestamps(recs).tolist()
    flags = recs["flags"].tolist()
    ent, ck, run = [], [], None
    mx = -1
    for i, (t, f) in enumerate(zip(ts, flags)):
        mx = max(mx, t)
        if i % stride == 0:
            ent.append((mx, 64 + 32 * i))
        if f & KEYFRAME:
            if run is None:
                run = (i, t)
            if f & CHECKPOINT_END:
                ck.append((run[1], 64 + 32 * run[0], i - run[0] + 1))
                run = None
        else:
            run = None
    return ent, ck


def _stream(draw_segments, seed):
    """Plain stretches and KEYFRAME runs (complete, or torn: no CHECKPOINT_END, or cut by a plain record)."""
    parts = []
    for k, (kind, n) in enumerate(draw_segments):
        r = make_records(n, seed=seed + k, ordered=False)
        r["flags"] &= ~np.uint8(KEYFRAME | CHECKPOINT_END)
        if kind != "plain":
            r["flags"] |= KEYFRAME
            if kind == "run" and n:
                r["flags"][-1] |= CHECKPOINT_END
        parts.append(r)
    return np.concatenate(parts) if parts else make_records(0)


def _file_index(path):
    b = open(path, "rb").read()
    ioff = struct.unpack_from("<Q", b, 40)[0]
    _, n_ent, n_ck, _, _ = struct.unpack_from("<8sQQII", b, ioff)
    e = np.frombuffer(b, np.dtype([("ts", "<i8"), ("off", "<u8")]), n_ent, ioff + 32)
    c = np.frombuffer(b, np.dtype([("ts", "<i8"), ("off", "<u8"), ("n", "<u8"), ("r", "<u8")]), n_ck,
                      ioff + 32 + 16 * n_ent)
    return [tuple(x) for x in e.tolist()], [tuple(x)[:3] for x in c.tolist()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segments=st.lists(st.tuples(st.sampled_from(["plain", "plain", "run", "torn"]), st.integers(0, 400)),
                         max_size=8),
       batch=st.integers(1, 900), stride=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_index_equals_reference_in_any_batching(tmp_path_factory, segments, batch, stride, seed):
    recs = _stream(segments, seed)
    ent, ck = reference_index(recs, stride)
    e2, c2 = build_index(recs, stride)
    assert [tuple(x) for x in e2.tolist()] == ent
    assert [tuple(x)[:3] for x in c2.tolist()] == ck
    root = tmp_path_factory.mktemp("ix")
    with JournalWriter(root, "NSE_FO", DATE, buffer_records=97, index_stride=stride, flush_interval=None,
                       checkpoint_interval=0) as w:
        for a in range(0, len(recs), batch):
            w.append(recs[a:a + batch])
    assert _file_index(w.path) == (ent, ck)
