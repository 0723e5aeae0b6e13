"""Journal benchmarks (pyperf), each beside its baselines measured in the same run.

    python bench/bench_journal.py            # full run
    python bench/bench_journal.py --fast     # well under a minute (pyperf's --fast, smaller data)

* append        JournalWriter.append to the page cache (fsync="never"), 4096-record batches
                baselines: numpy.memmap over the same records (no msync either), a pyarrow IPC file
* read          sequential read of a sealed day into numpy, 65,536-record chunks: read(copy=True) (pread) and
                read() views copied out; baselines: numpy.memmap chunks copied out, pyarrow IPC (memory-mapped,
                columns copied to numpy)
* seek          Journal.seek(t) for random t (index binary search + bounded scan)
                baseline: numpy.searchsorted over the day's timestamps already in memory
* snapshot_at   state of 5,000 instruments at a random time (nearest checkpoint + records after it)
                baseline: the same fold from the start of the day (no checkpoints)
* checkpoint    FeedHandler.checkpoint() of a store of simulated F&O instruments (the full run: ~58,000, the
                --fast run: ~11,600), written to the page cache: ns per instrument
                baseline: the same through Python, store.keyframe_records() then JournalWriter.checkpoint() (what
                the FeedHandler did until 2026-11-22)

Figures are ns per item (record, seek or snapshot); the summary prints medians, M items/s and the ratio to the
baseline.  Targets: append >= 20 M rec/s, read >= 50 M rec/s, seek <= 20 us.
"""
import datetime as dt
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import pyperf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench._cli import cleanup_on_sigterm, command_line, env_flag, parse_args, sigterm_held  # noqa: E402
from vega.journal import Journal, JournalWriter  # noqa: E402
from vega.records import CHANGE_RECORD_DTYPE, KEYFRAME, set_timestamps, timestamps  # noqa: E402

if "--fast" in sys.argv:     # smaller data, fewer processes; workers learn it from the environment (bench/_cli.py)
    sys.argv = [a for a in sys.argv if a != "--fast"]
    os.environ["VEGA_BENCH_FAST"] = "1"
FAST = env_flag("VEGA_BENCH_FAST")
N = 400_000 if FAST else 4_000_000
BATCH = 4096
N_TOKENS = 5000
DATE = dt.date(2026, 11, 20)
_TMP = []


def tmp(*parts):
    """A path in this run's scratch directory, made on first use (not at import: main() removes it); a worker's is
    inside the parent's (VEGA_BENCH_SCRATCH), which the parent removes: pyperf's parent, stopped, SIGKILLs the
    worker it waits for, whose own clean-up then never runs."""
    if not _TMP:
        with sigterm_held():
            _TMP.append(tempfile.mkdtemp(prefix="vega-bench-journal-", dir=os.environ.get("VEGA_BENCH_SCRATCH")))
    return os.path.join(_TMP[0], *parts)


def make_records(n, seed=0, ntok=N_TOKENS, max_step=200_000):
    """n records from 09:15 IST, on average max_step/2 ns apart (default ~10,000 records/s)."""
    rng = np.random.default_rng(seed)
    r = np.zeros(n, CHANGE_RECORD_DTYPE)
    set_timestamps(r, 33_300_000_000_000 + np.cumsum(rng.integers(0, max_step, n)))
    r["token"] = rng.integers(1, ntok + 1, n)
    r["group"] = rng.integers(0, 4, n)
    r["mask"] = 0xF
    r["source"] = 7200
    r["slots"] = rng.integers(-(2**31), 2**31, (n, 4))
    return r


RECS = make_records(N)


class ArrayStore:
    """A small vectorised stand-in for vega.Store: slots by (token, group)."""

    def __init__(self, capacity=N_TOKENS + 1):
        self.slots = np.zeros((capacity, 4, 4), np.int32)

    def apply_records(self, recs):
        self.slots[recs["token"], recs["group"]] = recs["slots"]

    def keyframe_records(self, ts):
        tok, grp = np.nonzero(np.any(self.slots != 0, axis=2))
        r = np.zeros(len(tok), CHANGE_RECORD_DTYPE)
        r["token"], r["group"], r["mask"], r["flags"] = tok, grp, 0xF, KEYFRAME
        r["slots"] = self.slots[tok, grp]
        set_timestamps(r, np.full(len(tok), ts))
        return r


# -- append ------------------------------------------------------------------------------------------------------

def t_append_journal(loops):
    total = 0.0
    for i in range(loops):
        root = tmp(f"app{i}")
        t0 = time.perf_counter()
        w = JournalWriter(root, "NSE_FO", DATE, fsync="never", flush_interval=None, checkpoint_interval=None)
        for a in range(0, N, BATCH):
            w.append(RECS[a:a + BATCH])
        w.close()
        total += time.perf_counter() - t0
        shutil.rmtree(root)
    return total


def t_append_memmap(loops):
    total = 0.0
    for i in range(loops):
        path = tmp(f"mm{i}.bin")
        t0 = time.perf_counter()
        mm = np.memmap(path, CHANGE_RECORD_DTYPE, "w+", shape=(N,))
        for a in range(0, N, BATCH):
            mm[a:a + BATCH] = RECS[a:a + BATCH]
        # no mm.flush(): that is msync(MS_SYNC), a wait for the disk, while the journal above runs with
        # fsync="never" (page cache only); unmapping leaves the dirty pages in the page cache, as close() does
        del mm
        total += time.perf_counter() - t0
        os.unlink(path)
    return total


def arrow_batch(pa, recs):
    cols = [pa.array(recs[n]) for n in ("token", "ts_lo", "ts_hi", "group", "flags", "mask", "source")]
    cols += [pa.array(np.ascontiguousarray(recs["slots"][:, i])) for i in range(4)]
    names = ["token", "ts_lo", "ts_hi", "group", "flags", "mask", "source", "s0", "s1", "s2", "s3"]
    return pa.RecordBatch.from_arrays(cols, names=names)


def t_append_arrow(loops):
    import pyarrow as pa
    total = 0.0
    for i in range(loops):
        path = tmp(f"ipc{i}.arrow")
        t0 = time.perf_counter()
        with pa.OSFile(path, "wb") as sink:
            first = arrow_batch(pa, RECS[:BATCH])
            with pa.ipc.new_file(sink, first.schema) as wr:
                wr.write_batch(first)
                for a in range(BATCH, N, BATCH):
                    wr.write_batch(arrow_batch(pa, RECS[a:a + BATCH]))
        total += time.perf_counter() - t0
        os.unlink(path)
    return total


# -- read --------------------------------------------------------------------------------------------------------

_LAZY = {}


def lazy(fn):
    """Build a benchmark's data once per process, only in the processes that run it."""
    def get():
        if fn.__name__ not in _LAZY:
            _LAZY[fn.__name__] = fn()
        return _LAZY[fn.__name__]
    return get


@lazy
def read_path():
    w = JournalWriter(tmp("read"), "NSE_FO", DATE, fsync="never", flush_interval=None,
                      checkpoint_interval=None)
    w.append(RECS)
    w.close()
    return w.path


@lazy
def mm_path():
    path = tmp("read.mm")
    RECS.tofile(path)
    return path


@lazy
def ipc_path():
    import pyarrow as pa
    path = tmp("read.arrow")
    with pa.OSFile(path, "wb") as sink:
        b = arrow_batch(pa, RECS)
        with pa.ipc.new_file(sink, b.schema) as wr:
            wr.write_batch(b)
    return path


CHUNK = 65536


def t_read_journal(loops):
    path = read_path()
    t0 = time.perf_counter()
    for _ in range(loops):
        with Journal.open(path) as j:
            n = 0
            while n < N:
                n += len(j.read(CHUNK, copy=True))
    return time.perf_counter() - t0


def t_read_journal_views(loops):
    path = read_path()
    t0 = time.perf_counter()
    for _ in range(loops):
        with Journal.open(path) as j:
            n = 0
            while n < N:
                n += len(np.array(j.read(CHUNK)))
    return time.perf_counter() - t0


def t_read_memmap(loops):
    path = mm_path()
    t0 = time.perf_counter()
    for _ in range(loops):
        mm = np.memmap(path, CHANGE_RECORD_DTYPE, "r")
        for a in range(0, N, CHUNK):
            np.array(mm[a:a + CHUNK])
        del mm
    return time.perf_counter() - t0


def t_read_arrow(loops):
    import pyarrow as pa
    path = ipc_path()
    t0 = time.perf_counter()
    for _ in range(loops):
        with pa.memory_map(path) as src:
            t = pa.ipc.open_file(src).read_all()
            cols = [c.to_numpy().copy() for c in t.columns]
        assert len(cols[0]) == N
    return time.perf_counter() - t0


# -- seek --------------------------------------------------------------------------------------------------------

seek_journal = lazy(lambda: Journal.open(read_path()))
seek_journal.__name__ = "seek_journal"
TS = timestamps(RECS)
QUERIES = np.random.default_rng(1).integers(int(TS[0]), int(TS[-1]), 4096).tolist()


def t_seek_journal(loops):
    seek = seek_journal().seek
    q = QUERIES
    m = len(q)
    t0 = time.perf_counter()
    for i in range(loops):
        seek(q[i % m])
    return time.perf_counter() - t0


def t_seek_searchsorted(loops):
    ts = TS
    q = QUERIES
    m = len(q)
    t0 = time.perf_counter()
    for i in range(loops):
        ts.searchsorted(q[i % m])
    return time.perf_counter() - t0


# -- snapshot_at -------------------------------------------------------------------------------------------------

@lazy
def snap_journal():
    """Half an hour of feed time over 5,000 instruments, a checkpoint every 60 s."""
    recs = make_records(N, seed=3, max_step=2 * 1800 * 10**9 // N)
    live = ArrayStore()
    w = JournalWriter(tmp("snap"), "NSE_FO", DATE, fsync="never", flush_interval=None, checkpoint_interval=60.0,
                      checkpoint_source=live.keyframe_records)
    for a in range(0, N, BATCH):
        live.apply_records(recs[a:a + BATCH])
        w.append(recs[a:a + BATCH])
    w.close()
    j = Journal.open(w.path)
    ts = j.timestamps()
    q = np.random.default_rng(2).integers(int(ts[0]) + 60 * 10**9, int(ts[-1]), 64).tolist()
    return j, q




def t_snapshot_journal(loops):
    j, q = snap_journal()
    t0 = time.perf_counter()
    for i in range(loops):
        j.snapshot_at(q[i % len(q)], into=ArrayStore())
    return time.perf_counter() - t0


def t_snapshot_full_fold(loops):
    j, q = snap_journal()
    recs = j.records
    t0 = time.perf_counter()
    for i in range(loops):
        p = j.position(q[i % len(q)] + 1)
        ArrayStore().apply_records(recs[:p])
    return time.perf_counter() - t0


# -- checkpoint --------------------------------------------------------------------------------------------------

CKPT_COPIES = 5 if FAST else 25
CKPT_TOKENS = 2324 * CKPT_COPIES      # instruments of the checkpoint store (ckpt_store checks it)


@lazy
def ckpt_store():
    """A store of 2,324 simulated F&O instruments copied 5x (--fast) or 25x under other tokens."""
    import vega
    from vega import nse
    seed = vega.Store(4096)
    h = vega.FeedHandler("FO", seed)
    for i, d in enumerate(nse.sample_stream("FO", 2000, seed=4)):
        h.process(d, now_ns=1_763_600_000_000_000_000 + i * 1000)
    kf = seed.keyframe_records(1000)
    big = vega.Store(CKPT_COPIES * 4096)
    for k in range(CKPT_COPIES):
        r = kf.copy()
        r["token"] += k * 200_000
        big.apply_records(r)
    if len(big) != CKPT_TOKENS:
        raise RuntimeError(f"the simulator's stream changed: {len(big)} instruments, not {CKPT_TOKENS}")
    return big


def _ckpt_run(loops, python_path):
    import vega
    store = ckpt_store()
    total = 0.0
    for i in range(loops):
        root = tmp(f"ck{i}")
        w = JournalWriter(root, "NSE_FO", DATE, fsync="never", flush_interval=None, checkpoint_interval=None)
        h = vega.FeedHandler("FO", store, journal=w)
        t0 = time.perf_counter()
        if python_path:
            w.checkpoint(store.keyframe_records(0), 0)
        else:
            h.checkpoint(0)
        w.flush()
        total += time.perf_counter() - t0
        h.close()
        w.close()
        shutil.rmtree(root)
    return total


def t_checkpoint_feedhandler(loops):
    return _ckpt_run(loops, False)


def t_checkpoint_python(loops):
    return _ckpt_run(loops, True)


def main():
    runner = pyperf.Runner(processes=2 if FAST else 6, values=2 if FAST else 3)   # (a -p, -n given win)
    command_line(runner.argparser, __doc__,
                 fast="ours, not pyperf's: 400,000 records instead of 4,000,000, a checkpoint store of ~11,600 "
                      "instruments instead of ~58,000, 2 processes x 2 values")
    args = parse_args(runner)            # a bad option is refused before any data is made
    if not args.worker:                  # the workers' scratch directories go in the parent's (tmp)
        os.environ["VEGA_BENCH_SCRATCH"] = tmp()
        args.inherit_environ.append("VEGA_BENCH_SCRATCH")
    runner.metadata["records"] = str(N)
    cases = [
        ("append journal", t_append_journal, N, "append"),
        ("append numpy.memmap", t_append_memmap, N, "append"),
        ("append pyarrow IPC", t_append_arrow, N, "append"),
        ("read journal (pread chunks)", t_read_journal, N, "read"),
        ("read journal (mmap views, copied)", t_read_journal_views, N, "read"),
        ("read numpy.memmap", t_read_memmap, N, "read"),
        ("read pyarrow IPC", t_read_arrow, N, "read"),
        ("seek journal", t_seek_journal, 1, "seek"),
        ("seek numpy.searchsorted (in memory)", t_seek_searchsorted, 1, "seek"),
        ("snapshot_at journal (5000 instruments)", t_snapshot_journal, 1, "snapshot"),
        ("snapshot full fold from 00:00", t_snapshot_full_fold, 1, "snapshot"),
        ("checkpoint FeedHandler (C), per instrument", t_checkpoint_feedhandler, CKPT_TOKENS, "checkpoint"),
        ("checkpoint keyframe_records + JournalWriter", t_checkpoint_python, CKPT_TOKENS, "checkpoint"),
    ]
    results = {}
    for name, fn, inner, group in cases:
        b = runner.bench_time_func(name, fn, inner_loops=inner)
        if b is not None and not runner.args.worker:
            results[name] = (group, b.median())
    if results:
        print("\nsummary (median ns per item; ratio = this / first line of the group)")
        base = {}
        for name, (group, med) in results.items():
            base.setdefault(group, med)
            rate = 1 / med
            rate_s = f"{rate / 1e6:9.2f} M/s" if rate >= 1e6 else f"{rate:11,.0f} /s"
            print(f"  {name:42s} {med * 1e9:14,.1f} ns  {rate_s:>14s}   ratio {med / base[group]:6.2f}")


if __name__ == "__main__":
    cleanup_on_sigterm()        # (a kill left this run's scratch journals, up to 4,000,000 records, in the temp dir)
    try:
        main()
    finally:
        with sigterm_held():
            for v in _LAZY.values():
                for x in v if isinstance(v, tuple) else (v,):
                    if isinstance(x, Journal):
                        x.close()
            for d in _TMP:
                shutil.rmtree(d, ignore_errors=True)
