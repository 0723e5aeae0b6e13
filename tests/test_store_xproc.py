"""Cross-process: a writer process merges flat out into a named store while reader processes check, on every
read, that fields written together are consistent (no torn record), over millions of record reads.

The readers also count the chances they had to read a torn record: rows of copies of the records made
without the lock (``Store.array``, every 16th read) that were torn, and records whose sequence lock they saw
odd (the writer inside them).  The test asserts torn copies were seen, so it cannot pass with reads that never
met a write (a writer that did not run meanwhile, or one that ran only while the readers did not: that passed
before, with the values moving between reads)."""
import multiprocessing as mp
import time
import uuid

import numpy as np

import vega._core as core
from store_helpers import md, mbp

N_TOKENS = 256
TARGET_READS = 2_000_000          # record reads per reader
TIME_LIMIT = 25.0                 # seconds, a bound for a loaded machine (not a performance threshold)
SAMPLE = 16                       # every 16th snapshot, the records are also looked at without the lock


def _msgs(n_versions):
    out = []
    for v in range(1, n_versions + 1):
        for t in range(1, N_TOKENS + 1):
            p = 1000 + v + t
            out.append(md(t, last_traded_price=p, total_buy_quantity=v * 7, net_price_change_from_closing_price=-v,
                          total_sell_quantity=t,
                          mbp=mbp([(p - i, v * 10 + i, (v + i) % 30000) for i in range(5)],
                                  [(p + 1 + i, v * 20 + i, (v + 2 * i) % 30000) for i in range(5)])))
    return out


def _writer(name, ready, stop, out):
    s = core.Store.create(name, N_TOKENS)
    fh = core.FeedHandler("CM", s, records=False)
    packed = core.pack_messages("CM", _msgs(30))
    fh.merge_packed(packed)
    ready.set()
    merges = 0
    while not stop.is_set():
        merges += fh.merge_packed(packed, repeat=10)
    out.put(("writer", merges))
    s.close()


def _consistent(snap):
    """Per row: are the fields one merge writes together those of one version (see _msgs)?"""
    v = snap["total_buy_quantity"] // 7
    t = snap["total_sell_quantity"]
    p = 1000 + v + t
    lv = np.arange(5)
    return ((v > 0) & (snap["total_buy_quantity"] % 7 == 0) & (snap["last_traded_price"] == p)
            & (snap["net_price_change"] == -v)
            & np.all(snap["bid_price"] == p[:, None] - lv, axis=1)
            & np.all(snap["ask_price"] == p[:, None] + 1 + lv, axis=1)
            & np.all(snap["bid_quantity"] == v[:, None] * 10 + lv, axis=1)
            & np.all(snap["ask_quantity"] == v[:, None] * 20 + lv, axis=1)
            & np.all(snap["bid_orders"] == (v[:, None] + lv) % 30000, axis=1)
            & np.all(snap["ask_orders"] == (v[:, None] + 2 * lv) % 30000, axis=1))


def _check(snap):
    ok = _consistent(snap)
    assert ok.all(), f"torn rows {np.flatnonzero(~ok)[:10]} of a consistent read"


def _reader(name, out):
    try:
        s = core.Store.open(name)
        raw = s.array                                          # the records as they are: no lock
        reads = versions_seen = locked_seen = torn_raw = polls = 0
        last_v = None
        t0 = time.monotonic()
        while reads < TARGET_READS and time.monotonic() - t0 < TIME_LIMIT:
            snap = s.snapshot()
            _check(snap)
            reads += len(snap)
            if polls % SAMPLE == 0:
                locked_seen += int(np.count_nonzero(raw["seq"] & 1))        # the writer inside a record now
                torn_raw += int(np.count_nonzero(~_consistent(raw.copy())))  # a read without the lock got
            polls += 1
            for tok in (1, 17, N_TOKENS):                      # the object API under the same lock
                q = s[tok]
                v = q.total_buy_quantity // 7
                assert q.last_traded_price == 1000 + v + tok and q.bid_quantity[4] == v * 10 + 4
                assert q.ask_price[3] == q.last_traded_price + 4
                reads += 1
            v0 = int(snap["total_buy_quantity"][0])
            versions_seen += v0 != last_v
            last_v = v0
        out.put(("reader", reads, versions_seen, locked_seen, torn_raw))
    except BaseException as e:                           # report, never hang the parent
        out.put(("error", repr(e)))


def test_writer_and_reader_processes_never_see_torn_records():
    ctx = mp.get_context("fork")
    name = f"xproc-{uuid.uuid4().hex[:10]}"
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    w = ctx.Process(target=_writer, args=(name, ready, stop, out))
    w.start()
    readers = []
    try:
        assert ready.wait(30), "writer did not start"
        readers = [ctx.Process(target=_reader, args=(name, out)) for _ in range(2)]
        for r in readers:
            r.start()
        results = [out.get(timeout=TIME_LIMIT + 60) for _ in readers]
        stop.set()
        results.append(out.get(timeout=60))
    finally:
        stop.set()
        for p in readers + [w]:
            p.join(30)
            if p.is_alive():
                p.kill()
        core.Store.remove(name)
    errors = [r for r in results if r[0] == "error"]
    assert not errors, errors
    reader_results = [r for r in results if r[0] == "reader"]
    assert len(reader_results) == 2
    for _, reads, versions, locked_seen, torn_raw in reader_results:
        assert reads >= 1_000_000 or versions > 100, (reads, versions)   # many reads while values moved
        assert versions > 10                                              # the writer really ran meanwhile
        # and wrote while this reader read: copies of the records made without the lock were torn (the
        # locked reads above never were); records seen locked (the writer inside them) are said alongside
        assert torn_raw > 0, f"no read met a write: (reads, versions, locked seen, torn) {reader_results}"
    assert [r for r in results if r[0] == "writer"][0][1] > 0
