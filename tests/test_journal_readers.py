"""A reader of a day's journal (a notebook, a strategy's Journal.open) while a writer goes on with the day: the
writer reopening the sealed day, a restarted writer cutting a checkpoint its crash left torn, and a checkpoint
still being written.  A reader used to die of SIGBUS in the first two (its index, or records, were views of
bytes the writer cut off the file), and snapshot_at zeroed a token in the third.  The crashes run in a child
process, so that a regression fails the test instead of killing the test run."""
import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import vega
from vega._journal import checkpoint_records
from vega.journal import Journal, JournalWriter
from vega.records import CHANGE_RECORD_DTYPE, CONTINUED, KEYFRAME, set_timestamps

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 11, 20)
T0 = (9 * 3600 + 15 * 60) * 10**9


def run_child(code: str, *args, status=0) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)    # -7: SIGBUS
    return r.stdout


def live(n, first_token=1, t0=T0):
    r = np.zeros(n, CHANGE_RECORD_DTYPE)
    r["token"] = np.arange(first_token, first_token + n)
    r["group"] = 1
    r["mask"] = 1
    r["slots"][:, 0] = np.arange(n)
    set_timestamps(r, t0 + np.arange(n, dtype=np.int64) * 1000)
    return r


def test_a_reader_of_the_sealed_day_survives_its_writer_reopening_it(tmp_path):
    """The capture stops (sealing the day) and starts again the same day: the writer cuts the index table off
    and appends where it began.  A Journal opened before read its index and checkpoints from the cut bytes."""
    out = run_child("""
        import sys, numpy as np
        sys.path.insert(0, sys.argv[2])
        from test_journal_readers import live, DAY
        from vega.journal import Journal, JournalWriter
        root = sys.argv[1]
        with JournalWriter(root, "NSE_FO", DAY, index_stride=64, flush_interval=None) as w:
            w.append(live(50_000))
            w.checkpoint(live(2_000, first_token=100_000))
            w.append(live(50_000, t0=10**13))
        j = Journal.open(w.path)
        before = (j.index.copy(), j.checkpoints.copy(), j.state_records(10**13).copy())
        w = JournalWriter(root, "NSE_FO", DAY)             # the same day again: the table is cut off
        w.append(live(100_000, t0=2 * 10**13))
        w.flush()
        assert (j.index == before[0]).all() and (j.checkpoints == before[1]).all()
        assert (j.state_records(10**13) == before[2]).all() and j.snapshot_at(10**13) is not None
        w.close()
        print(len(j), len(Journal.open(w.path)))
        """, tmp_path, Path(__file__).parent)
    assert out.split() == ["102000", "202000"]


def test_a_reader_survives_a_restarted_writer_cutting_a_torn_checkpoint(tmp_path):
    """A capture killed while it wrote a checkpoint leaves the file ending in a KEYFRAME run without its
    CHECKPOINT_END; the restarted writer cuts that run off the file.  A reader that opened the file between the
    two maps it up to the run (the run is no state yet), so none of its arrays point at the bytes cut."""
    run_child("""
        import os, sys, numpy as np
        sys.path.insert(0, sys.argv[2])
        from test_journal_readers import live, DAY
        from vega.journal import JournalWriter
        from vega.records import KEYFRAME
        w = JournalWriter(sys.argv[1], "NSE_FO", DAY, flush_interval=None, checkpoint_interval=None)
        w.append(live(1000))
        ck = live(100_000, first_token=5000)
        ck["flags"] = KEYFRAME                       # a checkpoint being written: no CHECKPOINT_END yet
        w.append(ck)
        w.flush()
        os._exit(9)                                  # killed
        """, tmp_path, Path(__file__).parent, status=9)
    path = tmp_path / "NSE_FO" / f"{DAY:%Y%m%d}.bin"
    assert path.stat().st_size == 64 + 101_000 * 32
    out = run_child("""
        import sys
        from vega.journal import Journal, JournalWriter
        j = Journal.open(sys.argv[1])
        tail, recs = j.records[-5:], j.records
        w = JournalWriter(sys.argv[2], "NSE_FO", "2026-11-20")      # recovery cuts the torn checkpoint
        print(w.recovered["torn_checkpoint_records"], len(j), int(tail["token"][-1]), int(recs["token"].sum()))
        w.close()
        """, path, tmp_path)
    assert out.split() == ["100000", "1000", "1000", str(sum(range(1, 1001)))]


def test_snapshot_at_a_checkpoint_still_being_written_is_the_state_before_it(tmp_path):
    """The writer's buffer-full writes can leave today's file ending inside a checkpoint, in the middle of one
    token's KEYFRAME update, until its next flush.  snapshot_at applied that partial update (a keyframe first
    zeroes the token) and returned the token with its other fields zeroed; vega.replay held it back."""
    store = vega.Store(64)
    h = vega.FeedHandler("FO", store, records=False)
    h.merge_message({"transaction_code": 7200, "records": [{
        "token": 35001, "book_type": 1, "trading_status": 2, "last_traded_price": 24400, "open_price": 24000,
        "high_price": 24500, "low_price": 23900, "close_price": 23800, "volume_traded_today": 700}]},
        now_ns=vega.journal.day_epoch_ns(DAY) + T0)
    state = store.keyframe_records(T0)
    assert len(state) > 3 and (state["flags"][:-1] & CONTINUED).all()
    with JournalWriter(tmp_path, "NSE_FO", DAY, flush_interval=None) as w:
        w.checkpoint(state)
        later = store.keyframe_records(T0 + 10**9)
        w.append(checkpoint_records(later)[:2])    # the next checkpoint, cut inside the token's update
        w.flush()
        with Journal.open(w.path) as j:
            assert len(j) == len(state)
            got = j.snapshot_at(T0 + 10**9)[35001]
        want = store[35001]
        fields = ("last_traded_price", "open_price", "high_price", "low_price", "volume_traded_today",
                  "trading_status", "book_type")
        assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields]
        assert got.last_traded_price == 24400 and got.trading_status == 2
        assert (checkpoint_records(later)["flags"][:2] & KEYFRAME).all()


def test_a_closed_journal_holds_no_mapping_nor_file(tmp_path):
    """close() kept the map and its file open while the Journal object lived: its index and checkpoint tables
    were views of it (40 journals opened and closed in a list kept 40 descriptors and maps)."""
    with JournalWriter(tmp_path, "NSE_FO", DAY) as w:
        w.append(live(1000))
        w.checkpoint(live(10, first_token=5000))
    kept = []
    for _ in range(5):
        with Journal.open(w.path) as j:
            assert len(j.checkpoints) == 1
        kept.append(j)
    maps = Path("/proc/self/maps").read_text()
    assert str(w.path) not in maps
    fds = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
           if os.path.exists(f"/proc/self/fd/{fd}")]
    assert str(w.path) not in fds
    assert len(kept[0].checkpoints) == 1        # the tables stay readable after close (copies)


def _same_as_a_fresh_open(j, path):
    fresh = Journal.open(path)
    try:
        assert j.n_records == fresh.n_records
        assert j.index.tobytes() == fresh.index.tobytes()
        assert j.checkpoints.tobytes() == fresh.checkpoints.tobytes()
        assert np.array_equal(j.seqs(), fresh.seqs())
        assert j.records.tobytes() == fresh.records.tobytes()
    finally:
        fresh.close()


def test_refresh_of_a_day_being_written_scans_on_and_reads_as_a_fresh_open(tmp_path):
    """refresh() feeds its kept scan only the records appended since (a long day's refresh re-scanned the whole
    file).  Whatever the writer appends between refreshes (live records, checkpoints, a checkpoint half written
    at a refresh), the journal reads exactly as the file opened afresh."""
    rng = np.random.default_rng(5)
    with JournalWriter(tmp_path, "NSE_FO", DAY, index_stride=64, flush_interval=None,
                       checkpoint_interval=None) as w:
        w.append(live(10))
        w.flush()
        j = Journal.open(w.path)
        t = T0 + 10**9
        for step in range(40):
            kind = rng.integers(4)
            if kind == 0:
                w.checkpoint(live(int(rng.integers(1, 300)), first_token=100_000, t0=t))
            elif kind == 1:                                   # a checkpoint half written when the reader looks
                ck = checkpoint_records(live(int(rng.integers(2, 300)), first_token=200_000, t0=t))
                w.append(ck[:len(ck) // 2])
                w.flush()
                j.refresh()
                _same_as_a_fresh_open(j, w.path)
            w.append(live(int(rng.integers(1, 500)), t0=t))
            t += 10**9
            w.flush()
            assert j.refresh() == j.n_records
            _same_as_a_fresh_open(j, w.path)
        path = w.path
    j.refresh()                                               # sealed now: the file's own index
    _same_as_a_fresh_open(j, path)
    j.close()


def test_refresh_of_an_open_file_cut_and_written_again_scans_it_afresh(tmp_path):
    """A file cut back and written on with other records (a restarted writer cutting what its crash left) is not
    scanned on from the old scan: the last record that scan fed is no longer there."""
    with JournalWriter(tmp_path, "NSE_FO", DAY, index_stride=16, flush_interval=None,
                       checkpoint_interval=None) as w:
        w.append(live(300))
        w.checkpoint(live(40, first_token=100_000, t0=T0 + 10**9))
        w.append(live(300, t0=T0 + 2 * 10**9))
        w.flush()
        copy = tmp_path / "copy.bin"                        # an open (unsealed) file of its own
        copy.write_bytes(w.path.read_bytes())
    j = Journal.open(copy)
    n = j.n_records
    data = bytearray(copy.read_bytes())
    header, body = data[:len(data) - n * 32], data[len(data) - n * 32:]
    recs = np.frombuffer(bytes(body), CHANGE_RECORD_DTYPE).copy()
    other = recs[:n - 250].copy()                            # cut back into the live records ...
    more = live(400, first_token=5_000, t0=T0 + 3 * 10**9)  # ... and written on: past the old end
    copy.write_bytes(bytes(header) + other.tobytes() + more.tobytes())
    assert j.refresh() == n - 250 + 400
    _same_as_a_fresh_open(j, copy)
    copy.write_bytes(bytes(header) + other[:100].tobytes())  # and cut below: fewer records than scanned
    assert j.refresh() == 100
    _same_as_a_fresh_open(j, copy)
    j.close()
