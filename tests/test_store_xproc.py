"""Cross-process: a writer process merges flat out into a named store while reader processes check, on every
read, that fields written together are consistent (no torn record), over millions of record reads."""
import multiprocessing as mp
import time
import uuid

import numpy as np

import vega._core as core
from store_helpers import md, mbp

N_TOKENS = 256
TARGET_READS = 2_000_000          # record reads per reader
TIME_LIMIT = 25.0                 # seconds, a bound for a loaded machine (not a performance threshold)


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


def _check(snap):
    v = snap["total_buy_quantity"] // 7
    t = snap["total_sell_quantity"]
    p = 1000 + v + t
    assert np.all(v > 0)
    assert np.array_equal(snap["last_traded_price"], p)
    assert np.array_equal(snap["net_price_change"], -v)
    lv = np.arange(5)
    assert np.array_equal(snap["bid_price"], p[:, None] - lv)
    assert np.array_equal(snap["ask_price"], p[:, None] + 1 + lv)
    assert np.array_equal(snap["bid_quantity"], v[:, None] * 10 + lv)
    assert np.array_equal(snap["ask_quantity"], v[:, None] * 20 + lv)
    assert np.array_equal(snap["bid_orders"], (v[:, None] + lv) % 30000)
    assert np.array_equal(snap["ask_orders"], (v[:, None] + 2 * lv) % 30000)


def _reader(name, out):
    try:
        s = core.Store.open(name)
        reads = versions_seen = 0
        last_v = None
        t0 = time.monotonic()
        while reads < TARGET_READS and time.monotonic() - t0 < TIME_LIMIT:
            snap = s.snapshot()
            _check(snap)
            reads += len(snap)
            for tok in (1, 17, N_TOKENS):                      # the object API under the same lock
                q = s[tok]
                v = q.total_buy_quantity // 7
                assert q.last_traded_price == 1000 + v + tok and q.bid_quantity[4] == v * 10 + 4
                assert q.ask_price[3] == q.last_traded_price + 4
                reads += 1
            v0 = int(snap["total_buy_quantity"][0])
            versions_seen += v0 != last_v
            last_v = v0
        out.put(("reader", reads, versions_seen))
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
    for _, reads, versions in reader_results:
        assert reads >= 1_000_000 or versions > 100, (reads, versions)   # many reads while values moved
        assert versions > 10                                              # the writer really ran meanwhile
    assert [r for r in results if r[0] == "writer"][0][1] > 0
