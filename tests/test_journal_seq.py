"""Journal sequence numbers (format 2): live records are numbered one after the other, a checkpoint's records
take no number, so that a ring which never carries checkpoints keeps the journal's numbers as its positions.
Against a reference that numbers the records from their flags; format-1 files keep numbering every record."""
import datetime as dt
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))  # journal_helpers, whether or not tests/ is a package
from journal_helpers import make_records  # noqa: E402

import vega  # noqa: E402
from vega import nse  # noqa: E402
from vega._journal import VERSION, checkpoint_records  # noqa: E402
from vega.journal import Journal, JournalWriter, replay  # noqa: E402
from vega.records import CHECKPOINT_END, CONTINUED, KEYFRAME, timestamps  # noqa: E402

DATE = dt.date(2026, 11, 20)
HYP = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def reference_seqs(flags, first_seq, open_file=False):
    """Numbers from the flags alone: a record of a complete checkpoint (a KEYFRAME run ended by CHECKPOINT_END
    and not cut by a live record) or of a KEYFRAME run still open at the end of an unsealed file takes no
    number and carries the next live record's."""
    n = len(flags)
    numbered = [True] * n
    i = 0
    while i < n:
        if flags[i] & KEYFRAME:
            j = i
            while j < n and flags[j] & KEYFRAME and not flags[j] & CHECKPOINT_END:
                j += 1
            if j < n and flags[j] & KEYFRAME:          # ended by CHECKPOINT_END: a complete checkpoint
                numbered[i:j + 1] = [False] * (j + 1 - i)
                i = j + 1
                continue
            if j == n and open_file:                   # still being written
                numbered[i:j] = [False] * (j - i)
            i = j
        else:
            i += 1
    out, s = [], first_seq
    for k in range(n):
        out.append(s)
        s += numbered[k]
    return out, s


def kf(n, seed):
    r = make_records(n, seed=seed)
    i = np.arange(n)
    r["flags"] = CONTINUED * ((i % 2 == 0) & (i < n - 1))      # two-record updates (and a lone last one)
    r["token"][1::2] = r["token"][0:n - 1:2]
    return r


ops = st.lists(st.one_of(st.tuples(st.just("live"), st.integers(1, 40)),
                         st.tuples(st.just("ckpt"), st.integers(0, 30)),
                         st.tuples(st.just("roll"), st.just(0))), min_size=1, max_size=12)


@HYP
@given(ops=ops, first=st.integers(0, 2**40), stride=st.sampled_from([1, 3, 16, 1024]))
def test_live_records_are_numbered_and_checkpoints_are_not(tmp_path_factory, ops, first, stride):
    root = tmp_path_factory.mktemp("j")
    w = JournalWriter(root, "NSE_FO", DATE, first_seq=first, flush_interval=None, index_stride=stride,
                      checkpoint_interval=None)
    assert w.version == VERSION == 2
    live_seq = first
    days = [DATE]
    for k, (op, n) in enumerate(ops):
        if op == "live":
            seq0 = w.next_seq
            assert seq0 == live_seq
            w.append(make_records(n, seed=k))
            live_seq += n
        elif op == "ckpt":
            w.checkpoint(kf(n, k), ts_ns=max(w.max_ts, 0))
        else:
            w.rollover()
            days.append(days[-1] + dt.timedelta(days=1))
            assert w.first_seq == live_seq
        assert w.next_seq == live_seq
    w.close()
    seq = first
    for d in days:
        with Journal.open(root / "NSE_FO" / f"{d:%Y%m%d}.bin") as j:
            assert j.first_seq == seq
            want, nxt = reference_seqs(j.records["flags"].tolist(), seq)
            assert j.seqs().tolist() == want
            assert [j.seq_at(p) for p in range(len(j) + 1)] == want + [nxt]
            assert j.next_seq == nxt
            pos = np.arange(len(j) + 1)[::-1]
            assert j.seq_of(pos).tolist() == (want + [nxt])[::-1]
            seq = nxt
    assert seq == live_seq


def test_a_checkpoint_in_progress_takes_no_numbers_in_an_open_file(tmp_path):
    """A file being written can end inside a checkpoint (one append of many buffers): a reader maps it up to the
    checkpoint (its partial KEYFRAME chains zeroed tokens in snapshot_at, and a restarted writer's recovery cuts
    a torn one off the file), so a replay that stops there hands over to the ring at the right position, and
    the checkpoint appears with the refresh after it is complete."""
    w = JournalWriter(tmp_path, "NSE_FO", DATE, first_seq=100, flush_interval=None)
    w.append(make_records(10))
    part = checkpoint_records(kf(6, 1))[:4]                   # the first 4 of 6: no CHECKPOINT_END yet
    w.append(part)
    w.flush()
    with Journal.open(w.path) as j:
        assert not j.sealed and len(j) == 10
        assert j.next_seq == 110 and j.seq_at(10) == 110
        assert j.seqs().tolist() == list(range(100, 110))
        res = replay(tmp_path, DATE, into=lambda recs, feed: None, feeds="NSE_FO")
        assert res.next_seq["NSE_FO"] == 110
    w.close()
    with Journal.open(w.path) as j:            # sealed: a run nobody finished is live records like any other
        assert j.sealed and j.next_seq == 114 and j.seqs().tolist() == list(range(100, 114))
    with JournalWriter(tmp_path / "b", "NSE_FO", DATE, first_seq=100, flush_interval=None) as w:
        w.append(make_records(10))
        w.append(checkpoint_records(kf(6, 1))[:4])
        w.flush()
        with Journal.open(w.path) as j:
            assert len(j) == 10
            w.append(checkpoint_records(kf(6, 1))[4:])        # complete: mapped by the next refresh
            w.flush()
            assert j.refresh() == 16 and len(j.checkpoints) == 1 and j.next_seq == 110
            assert j.seqs().tolist() == list(range(100, 110)) + [110] * 6


def test_recovery_cuts_a_checkpoint_the_crash_cut_short(tmp_path):
    w = JournalWriter(tmp_path, "NSE_FO", DATE, first_seq=7, flush_interval=None)
    live = make_records(20, seed=3)
    w.append(live[:10])
    w.checkpoint(kf(5, 4))
    w.append(live[10:])
    w.append(checkpoint_records(kf(8, 5))[:6])                # torn: the process dies while writing it
    w.flush()
    image = w.path.read_bytes()
    w.close()
    w.path.write_bytes(image)                                 # the file as the crash left it
    w2 = JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None)
    assert w2.recovered["torn_checkpoint_records"] == 6 and w2.recovered["records"] == 25
    assert w2.next_seq == 7 + 20
    w2.append(make_records(3, seed=6))
    w2.close()
    with Journal.open(w2.path) as j:
        assert len(j) == 28 and len(j.checkpoints) == 1
        assert j.seqs().tolist() == list(range(7, 17)) + [17] * 5 + list(range(17, 30))


def test_export_and_dump_carry_the_same_numbers(tmp_path):
    w = JournalWriter(tmp_path, "NSE_EQ", DATE, first_seq=50, flush_interval=None)
    w.append(make_records(30, seed=1))
    w.checkpoint(kf(12, 2))
    w.append(make_records(25, seed=3))
    w.checkpoint(kf(7, 4))
    w.close()
    with Journal.open(w.path) as j:
        want, _ = reference_seqs(j.records["flags"].tolist(), 50)
    pq = pytest.importorskip("pyarrow.parquet")
    paths = vega.journal.export(tmp_path, tmp_path / "pq", DATE, progress=False, row_group_size=9)
    assert pq.read_table(paths[0]).column("seq").to_pylist() == want
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-m", "vega.cli", "dump", str(w.path), "--json"], capture_output=True,
                       text=True, timeout=60, cwd=root, env=dict(os.environ, PYTHONPATH=root))
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["seq"] for x in r.stdout.splitlines()] == want


def _as_version_1(path):
    b = bytearray(path.read_bytes())
    b[8:10] = struct.pack("<H", 1)
    b[60:64] = struct.pack("<I", zlib.crc32(bytes(b[:60])))
    path.write_bytes(bytes(b))


def test_a_format_1_file_keeps_numbering_every_record(tmp_path, ring):
    """A day begun by an older VEGA: reading numbers every record, and reopening it to continue keeps its
    version and numbering; its checkpoints still go to the ring, where they were counted."""
    w = JournalWriter(tmp_path, "NSE_FO", DATE, first_seq=5, flush_interval=None)
    w.append(make_records(10))
    w.checkpoint(kf(4, 1))
    w.close()
    _as_version_1(w.path)
    with Journal.open(w.path) as j:
        assert j.header["version"] == 1
        assert j.seqs().tolist() == list(range(5, 19)) and j.next_seq == 19
    ring.append("NSE_FO", np.zeros(19, dtype=vega.records.CHANGE_RECORD_DTYPE))     # the ring it fed
    w = JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None)
    assert w.version == 1 and w.next_seq == 19 == ring.tail("NSE_FO")
    h = vega.FeedHandler("FO", vega.Store(5000), ring=ring, journal=w)
    t0 = int(dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))).timestamp())
    h.process_batch(list(nse.sample_stream("FO", 20, seed=2)), now_ns=t0 * 10**9)
    n = h.checkpoint()
    assert n > 0 and w.next_seq == ring.tail("NSE_FO")
    h.close()
    w.close()
    with Journal.open(w.path) as j:
        assert j.header["version"] == 1 and j.next_seq == 5 + len(j) == ring.tail("NSE_FO")
        assert (timestamps(j.records) >= 0).all()


def test_next_seq_stays_after_the_close_of_a_file_with_checkpoints(tmp_path):
    """A closed writer's next_seq counted its checkpoints' records (its index, which says which records take
    no number, is freed at the close): 57,498 instead of 19,229 in the audit."""
    w = JournalWriter(tmp_path, "NSE_FO", "2026-11-20", checkpoint_interval=None)
    w.append(make_records(30, seed=1))
    w.checkpoint(kf(8, 2), ts_ns=w.max_ts)
    w.append(make_records(5, seed=3, t0=int(timestamps(make_records(30, seed=1)).max()) + 1))
    want = w.next_seq
    assert want == 35
    w.close()
    assert w.next_seq == want
    with Journal.open(w.path) as j:
        assert j.next_seq == want
