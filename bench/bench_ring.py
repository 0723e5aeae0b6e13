"""Benchmark the shared-memory ring against multiprocessing.Queue and faster-fifo, in the same run.

    python bench/bench_ring.py --fast          # < 1 min: rough figures
    python bench/bench_ring.py                 # pyperf's default number of runs
    python bench/bench_ring.py --no-latency    # throughput only
    python bench/bench_ring.py --latency-only  # the latency section alone
    python bench/bench_ring.py --latency-only --fifo   # ... with writer and reader SCHED_FIFO (root)
    python bench/bench_ring.py --latency-only --writer spin    # only the busy-writer run (or: sleep)

Throughput (pyperf, ns per 32-byte record; lower is better):
  * writer: ``ring_append`` in a C loop (``Ring._bench_append``), batches of 1 and 16 records;
    baselines: ``multiprocessing.Queue.put`` (timed until its feeder thread has written the items into the
    pipe) and ``faster_fifo.Queue.put`` / ``put_many`` of 32-byte bytes.
  * reader: ``Reader.poll_into`` (no allocation) and ``Reader.poll(4096)`` (a new numpy array per call) over a
    full slot; baselines: ``Queue.get`` and ``faster_fifo.Queue.get_many`` of items already in the pipe / queue.

One-way latency writer -> reader in another process (not pyperf: the distribution of N paced messages).
Method: the writer (this process) and the reader (a forked child) are pinned to two different CPUs
(``--no-pin`` to let the scheduler place them); the writer publishes ONE message at a time and then waits
``--gap-us``, so latency is never queueing.  The section runs twice by default (``--writer both``): with a
busy writer (it spins through the gap, as a feed handler does under load or busy-polling its socket) and a
sleeping one (nanosleep through the gap: its core idles between messages, and a vCPU that halted comes back
with cold caches and, on a VM, through the hypervisor); ``--writer spin`` / ``--writer sleep`` run one. it takes a
CLOCK_MONOTONIC stamp immediately before the append and puts it in the message; the reader spins and takes
CLOCK_MONOTONIC immediately after its read returns; sample = reader's stamp - writer's stamp.  Messages go
in chunks of 500, the candidates taking turns chunk by chunk (so that a change of machine state during the
run, e.g. the hypervisor moving a vCPU, hits every candidate alike), with a 40 ms pause between chunks
during which every reader blocks (so a ``--fifo`` reader never spins into the kernel's RT throttling,
which would add a 50 ms-per-second artefact).  The first
1000 samples (10% when fewer) are discarded as warm-up.  Reported per candidate: p50, p90, p99, p99.9, max,
the count above 10 us, the hypervisor's steal time during the run, and a histogram by band, so that
scheduler or hypervisor preemptions (>10 us) show as their own mode instead of hiding in a percentile.
  * floor: a C loop stores the stamp into one shared 64-bit word; a C loop spins on it (one cache line
    crossing cores: the best any shared-memory transport can do on this machine);
  * ring, C reader: ``Ring._latency_send`` (C loop: build record, stamp, ``ring_append``) to a spinning
    ``Reader._latency_ns`` (C loop: ``ring_read`` of one record, then the stamp): no Python in the timed
    path on either side;
  * ring, Python reader: the same C writer; the reader is ``poll(1, wait="spin")`` then
    ``time.perf_counter_ns()`` (the same clock);
  * baselines: ``Queue.put(perf_counter_ns())`` -> ``Queue.get`` then ``perf_counter_ns()``, Python both
    sides, for ``multiprocessing.Queue`` and ``faster_fifo``.
The load average before and after the section is printed: quote it with the figures.
"""
import atexit
import mmap
import multiprocessing as mp
import os
import signal
import sys
import time
import uuid

import numpy as np
import pyperf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._cli import (at_least, cleanup_on_sigterm, command_line, number_at_least, parse_args,  # noqa: E402
                        sigterm_held)
from vega import _ring as ring_mod  # noqa: E402
from vega._ring import Ring  # noqa: E402
from vega.records import CHANGE_RECORD_DTYPE  # noqa: E402

try:
    import faster_fifo
except ImportError:          # pragma: no cover - optional baseline
    faster_fifo = None

CAP = 32768
MASK48 = (1 << 48) - 1
_state = {}


def _ring():
    if "ring" not in _state:
        name = f"vega-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        ring = Ring.create(name)
        _state["ring"] = ring
        atexit.register(lambda: (ring.close(), Ring.unlink(name)))
    return _state["ring"]


def _recs(n):
    a = np.zeros(n, dtype=CHANGE_RECORD_DTYPE)
    a["token"] = np.arange(n)
    return a


# ---------------------------------------------------------------------------------------------------------
# throughput
# ---------------------------------------------------------------------------------------------------------

def ring_append(batch, per_loop):
    recs = _recs(batch)

    def run(loops):
        ring = _ring()
        reps = loops * (per_loop // batch)
        t0 = time.perf_counter()
        ring._bench_append(0, recs, reps)
        return time.perf_counter() - t0
    return run


def ring_read(use_poll):
    def run(loops):
        ring = _ring()
        if ring.tail(1) < CAP:
            ring._write_test_records(1, CAP, batch=4096)
        if "reader" not in _state:
            _state["reader"] = ring.reader(1)
        r = _state["reader"]
        out = np.empty(CAP, dtype=CHANGE_RECORD_DTYPE)
        total = 0.0
        for _ in range(loops):
            r.seek(ring.tail(1) - CAP)
            t0 = time.perf_counter()
            if use_poll:
                n = 0
                while n < CAP:
                    n += len(r.poll(4096))
            else:
                n = r.poll_into(out)
            total += time.perf_counter() - t0
            assert n == CAP
        return total
    return run


ITEM = bytes(32)


def mpq_put(per_loop):
    # Queue.put only appends to a buffer: its feeder thread pickles each item and writes it to the pipe later.
    # Timing the puts alone left that work out (and moved it into whichever loop ran next, mostly get's), so
    # each loop puts into a fresh queue and is timed until close() + join_thread(): the feeder has written
    # every item into the pipe (per_loop small pickled items fit the pipe's buffer, so nothing blocks).
    def run(loops):
        total = 0.0
        for _ in range(loops):
            q = mp.Queue()
            q.put(ITEM)                      # start the feeder thread, untimed
            q.get()
            t0 = time.perf_counter()
            for _ in range(per_loop):
                q.put(ITEM)
            q.close()
            q.join_thread()
            total += time.perf_counter() - t0
            q.cancel_join_thread()
        return total
    return run


def _mpq_flushed(q):
    """Wait until q's feeder thread has written every buffered item into the pipe (q._buffer: CPython's)."""
    while q._buffer:
        time.sleep(0.0005)
    time.sleep(0.002)                        # the last item popped may still be on its way into the pipe


def mpq_get(per_loop):
    def run(loops):
        q = _state.setdefault("mpq", mp.Queue())
        total = 0.0
        for _ in range(loops):
            for _ in range(per_loop):
                q.put(ITEM)
            _mpq_flushed(q)                  # get's figure is the reads, not a wait for the feeder thread
            t0 = time.perf_counter()
            for _ in range(per_loop):
                q.get()
            total += time.perf_counter() - t0
        return total
    return run


def ff_queue():
    if "ff" not in _state:
        _state["ff"] = faster_fifo.Queue(max_size_bytes=64 * 1024 * 1024)
    return _state["ff"]


def ff_put(per_loop, many):
    items = [ITEM] * per_loop

    def run(loops):
        q = ff_queue()
        total = 0.0
        for _ in range(loops):
            t0 = time.perf_counter()
            if many:
                q.put_many(items)
            else:
                for it in items:
                    q.put(it)
            total += time.perf_counter() - t0
            got = 0
            while got < per_loop:            # drain, untimed
                got += len(q.get_many(max_messages_to_get=per_loop))
        return total
    return run


def ff_get(per_loop):
    items = [ITEM] * per_loop

    def run(loops):
        q = ff_queue()
        total = 0.0
        for _ in range(loops):
            q.put_many(items)
            t0 = time.perf_counter()
            got = 0
            while got < per_loop:
                got += len(q.get_many(max_messages_to_get=per_loop))
            total += time.perf_counter() - t0
        return total
    return run


# ---------------------------------------------------------------------------------------------------------
# latency
# ---------------------------------------------------------------------------------------------------------

LAT_LABELS = {
    "floor": "floor: u64 store -> spinning load (C)",
    "ring-c": "ring: C writer -> spinning C reader",
    "ring-py": "ring: C writer -> poll(1, 'spin') Python",
    "mp.Queue": "multiprocessing.Queue put -> get",
    "faster_fifo": "faster_fifo.Queue put -> get",
}
BUCKETS_NS = [500, 1000, 2000, 5000, 10_000, 100_000]        # histogram edges: modes are visible
PREEMPT_NS = 10_000             # above: the scheduler/hypervisor preemption mode (a writer or reader descheduled)


def _pace(gap_ns):
    # Python senders (the queue baselines) sleep rather than spin: a spinning sender would take the reader's
    # core on a small machine
    time.sleep(gap_ns / 1e9)


def _pin(cpu):
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _set_fifo(on):
    """SCHED_FIFO priority 1 (needs root or CAP_SYS_NICE); returns the previous (policy, priority)."""
    old = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
    if on:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    return old


def _restore_sched(old):
    os.sched_setscheduler(0, old[0], os.sched_param(old[1]))


def _steal_ticks():
    """(steal, total) jiffies of all CPUs from /proc/stat: the hypervisor's share of a VM's time."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[7] if len(v) > 7 else 0, sum(v[:8])
    except OSError:          # pragma: no cover - not Linux
        return 0, 0


def _lat_child(kind, shared, chunks, timeout, conn, cpu, fifo):
    """The reader, in its own process, on its own CPU.  For each chunk of messages: block until the writer
    says "go", then spin until the chunk is read; finally return all samples (int64 ns) through `conn`.
    Blocking between chunks keeps a SCHED_FIFO reader's spinning well under the kernel's RT budget (95% of
    each second by default), so RT throttling never stalls it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)      # (forked inside the parent's sigterm_held: it owns nothing)
    _pin(cpu)
    _set_fifo(fifo)
    out = []
    if kind.startswith("ring"):
        ring = Ring.open(shared)
        r = ring.reader(0)
    conn.send("ready")
    for n in chunks:
        if conn.recv() != "go":
            break
        if kind == "floor":
            out.append(ring_mod._latency_floor_recv(shared, n, timeout))
        elif kind == "ring-c":
            out.append(r._latency_ns(n, timeout=timeout))
        elif kind == "ring-py":
            o = np.empty(n, dtype=np.int64)
            for k in range(n):
                rec = r.poll(1, timeout=timeout, wait="spin")
                now = time.perf_counter_ns()                 # CLOCK_MONOTONIC on Linux, as the C stamp
                if len(rec) == 0:
                    o = o[:k]
                    break
                ts = int(rec["ts_lo"][0]) | (int(rec["ts_hi"][0]) << 32)
                o[k] = (now - ts) & MASK48
            out.append(o)
        else:
            o = np.empty(n, dtype=np.int64)
            for k in range(n):
                msg = shared.get(timeout=timeout)
                o[k] = time.perf_counter_ns() - msg
            out.append(o)
    conn.send(np.concatenate(out) if out else np.empty(0, dtype=np.int64))


CHUNK = 500                  # messages per chunk
PAUSE_S = 0.04               # between chunks: every reader is blocked


def latency(kinds, count, gap_ns, cpus, fifo, writer_spin):
    """Every candidate at once, interleaved: one reader process per candidate, all on CPU cpus[1], each
    blocked until its turn; the writer (this process, CPU cpus[0]) sends each candidate in turn a chunk of
    CHUNK stamped messages, one at a time, `gap_ns` apart, with PAUSE_S between chunks.  Interleaving
    makes a change of machine state during the run (the hypervisor moving vCPUs, other tenants' load) hit
    every candidate alike.  Returns {kind: (samples in ns, hypervisor steal fraction during its chunks)}."""
    ctx = mp.get_context("fork")
    w_cpu, r_cpu = cpus
    chunks = [min(CHUNK, count - k) for k in range(0, count, CHUNK)]
    timeout = 10.0 + 3 * CHUNK * (gap_ns + 100_000) / 1e9
    cand = {}
    done = False                                         # False in the finally: an error or a signal (SIGTERM)
    try:
        for kind in kinds:
            c = cand[kind] = {"steal": 0, "ticks": 0, "ring": None, "name": None, "proc": None}
            with sigterm_held():        # made and noted for the finally as one step (a SIGTERM between: left behind)
                if kind == "floor":
                    c["shared"] = mmap.mmap(-1, 4096)            # MAP_SHARED | MAP_ANONYMOUS, page-aligned
                elif kind.startswith("ring"):
                    c["name"] = f"vega-lat-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                    c["ring"] = Ring.create(c["name"])
                    c["shared"] = c["ring"].path
                elif kind == "mp.Queue":
                    c["shared"] = mp.Queue()
                else:
                    c["shared"] = faster_fifo.Queue(max_size_bytes=1 << 20)
                c["conn"], child_conn = ctx.Pipe()
                proc = ctx.Process(target=_lat_child,
                                   args=(kind, c["shared"], chunks, timeout, child_conn, r_cpu, fifo))
                proc.start()
                c["proc"] = proc
        for c in cand.values():
            assert c["conn"].poll(timeout) and c["conn"].recv() == "ready"
        old_aff = os.sched_getaffinity(0)
        _pin(w_cpu)
        old_sched = _set_fifo(fifo)
        try:
            for n in chunks:
                for kind, c in cand.items():
                    time.sleep(PAUSE_S)                      # every reader is blocked in recv()
                    c["conn"].send("go")
                    time.sleep(0.002)                        # this one wakes and enters its spin loop
                    st0 = _steal_ticks()
                    if kind == "floor":
                        ring_mod._latency_floor_send(c["shared"], n, gap_ns, writer_spin)
                    elif c["ring"] is not None:
                        c["ring"]._latency_send(0, n, gap_ns, writer_spin)
                    else:
                        for _ in range(n):
                            c["shared"].put(time.perf_counter_ns())
                            _pace(gap_ns)
                    st1 = _steal_ticks()
                    c["steal"] += st1[0] - st0[0]
                    c["ticks"] += st1[1] - st0[1]
        finally:
            _restore_sched(old_sched)
            os.sched_setaffinity(0, old_aff)
        out = {}
        for kind, c in cand.items():
            assert c["conn"].poll(timeout)
            out[kind] = (np.asarray(c["conn"].recv(), dtype=np.int64),
                         c["steal"] / c["ticks"] if c["ticks"] > 0 else 0.0)
        done = True
        return out
    finally:
        _end_candidates(cand.values(), timeout if done else 0)


def _end_candidates(cands, wait):
    """The latency readers joined (``wait`` seconds, then killed: a reader still waiting for its turn never ends by
    itself) and the rings closed and unlinked, every candidate's whatever fails for one (the first error is raised
    at the end).  A ring already gone is no error: its FileNotFoundError left the readers after it running, and
    multiprocessing's exit then joined one waiting for its turn, for ever."""
    errors = []
    for c in cands:
        for step in (_end_reader, _end_ring):
            try:
                step(c, wait)
            except Exception as e:      # (OSError of the unlink, multiprocessing's: go on with the rest)
                errors.append(e)
    if errors:
        raise errors[0]


def _end_reader(c, wait):
    if c["proc"] is not None:
        c["proc"].join(wait)
        if c["proc"].is_alive():
            c["proc"].kill()
            c["proc"].join()


def _end_ring(c, wait):
    if c["ring"] is not None:
        c["ring"].close()
        try:
            Ring.unlink(c["name"])
        except FileNotFoundError:       # (removed by another hand: what the unlink was for)
            pass


def lat_stats(ns):
    """p50/p90/p99/p99.9/max and the count above 10 us of a sample array (ns)."""
    p = np.percentile(ns, [50, 90, 99, 99.9]) if len(ns) else [float("nan")] * 4
    return {"n": len(ns), "p50": p[0], "p90": p[1], "p99": p[2], "p99.9": p[3],
            "max": float(ns.max()) if len(ns) else float("nan"), "over10us": int(np.count_nonzero(ns > PREEMPT_NS))}


def run_latency(args, writer_spin):
    """One latency section (busy or sleeping writer); returns the ring C reader's statistics."""
    count = args.samples or (3000 if args.fast else 30000)
    warmup = min(1000, count // 10)
    gap = int(args.gap_us * 1000)
    allowed = sorted(os.sched_getaffinity(0))
    cpus = (allowed[0], allowed[1]) if args.pin and len(allowed) >= 2 else (None, None)
    clock = ring_mod._clock_overhead_ns(200_000)
    load = os.getloadavg()
    where = (f"writer on CPU {cpus[0]}, reader on CPU {cpus[1]}" if cpus[0] is not None
             else "writer and reader not pinned")
    print(f"\none-way latency, writer -> reader in another process: {count} messages per candidate, one "
          f"at a time, {args.gap_us:g} us apart ({'busy' if writer_spin else 'sleeping'} writer), in chunks "
          f"of {CHUNK} taking turns between the candidates, {PAUSE_S * 1000:g} ms pause between chunks, "
          f"first {warmup} discarded as warm-up; {where}"
          f"{'; both SCHED_FIFO 1' if args.fifo else ''}")
    print(f"  stamp: CLOCK_MONOTONIC, taken by the writer right before the append/store/put and by the reader "
          f"right after the read returns; back-to-back clock reads cost {np.median(clock):.0f} ns "
          f"(median; min {clock.min()}, p99.9 {np.percentile(clock, 99.9):.0f})")
    print(f"  load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min) on "
          f"{os.cpu_count()} CPUs")
    kinds = ["floor", "ring-c", "ring-py", "mp.Queue"] + (["faster_fifo"] if faster_fifo else [])
    res = latency(kinds, count, gap, cpus, args.fifo, writer_spin)
    rows = [(kind, res[kind][0][warmup:], res[kind][1]) for kind in kinds]
    edges = [0] + BUCKETS_NS + [np.inf]
    hdr = "".join(f"{h:>11s}" for h in ("p50", "p90", "p99", "p99.9", "max"))
    print(f"  {'ns':40s} {'n':>6s}{hdr} {'>10us':>7s} {'steal':>6s}")
    stats = {}
    for kind, ns, steal in rows:
        st = stats[kind] = lat_stats(ns)
        vals = "".join(f"{st[k]:11.0f}" for k in ("p50", "p90", "p99", "p99.9", "max"))
        print(f"  {LAT_LABELS[kind]:40s} {st['n']:6d}{vals} {st['over10us']:7d} {100 * steal:5.1f}%")
    print("  histogram (samples per band; >10 us is the scheduler/hypervisor preemption mode):")
    bands = [f"<{edges[1] / 1000:g}us"] + [f"{lo / 1000:g}-{hi / 1000:g}us" for lo, hi in
                                          zip(edges[1:-2], edges[2:-1])] + [f">{edges[-2] / 1000:g}us"]
    print(f"  {'':40s} " + "".join(f"{b:>10s}" for b in bands))
    for kind, ns, _ in rows:
        h, _ = np.histogram(ns, bins=edges)
        print(f"  {LAT_LABELS[kind]:40s} " + "".join(f"{c:10d}" for c in h))
    print("  (floor: a value overwritten before the reader looked gives no sample, so its n falls below the "
          "others' when the reader is preempted)")
    fl, rc = stats["floor"], stats["ring-c"]
    if rc["p50"] > PREEMPT_NS:
        print(f"  WARNING: the ring C reader's median is in the preemption band (> {PREEMPT_NS / 1000:g} us): the "
              f"writer or the reader was descheduled for most samples (other work on the {os.cpu_count()} CPUs?), "
              f"so these figures and the ratios below compare scheduler time slices, not the transports")
    print(f"  ring C reader vs the floor: p50 x{rc['p50'] / fl['p50']:.2f}, p90 x{rc['p90'] / fl['p90']:.2f}; "
          f"multiprocessing.Queue p50 / ring C reader p50 = x{stats['mp.Queue']['p50'] / rc['p50']:.1f}")
    load = os.getloadavg()
    print(f"  load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return rc


# ---------------------------------------------------------------------------------------------------------

def add_cmdline_args(cmd, args):
    if args.no_latency:
        cmd.append("--no-latency")


def main():
    cleanup_on_sigterm()     # the finally blocks and atexit handlers run: the rings do not stay in /dev/shm
    # our --fast: pyperf's own --fast still spawns at least 3 worker processes per benchmark, too slow for a
    # 2-core machine shared by others; ours runs 2 processes x 2 values of >= 50 ms each.
    fast = "--fast" in sys.argv
    if fast:
        sys.argv.remove("--fast")
        runner = pyperf.Runner(processes=2, values=2, min_time=0.05, add_cmdline_args=add_cmdline_args)
    else:
        runner = pyperf.Runner(processes=6, add_cmdline_args=add_cmdline_args)
    command_line(runner.argparser, __doc__, fast="ours, not pyperf's: 2 processes x 2 values of at least 50 ms per "
                                                 "throughput benchmark, 3000 latency messages per candidate")
    sections = runner.argparser.add_mutually_exclusive_group()       # (both: nothing ran, silently)
    sections.add_argument("--no-latency", action="store_true", help="skip the latency section")
    sections.add_argument("--latency-only", action="store_true", help="skip the pyperf throughput part")
    runner.argparser.add_argument("--samples", type=at_least(1), default=None,   # (-1: nan figures, exit 0)
                                  help="latency messages per candidate (default 30000, 3000 with --fast)")
    runner.argparser.add_argument("--pin", dest="pin", action="store_true", default=True,
                                  help="latency: pin the writer and the reader to two different CPUs (default)")
    runner.argparser.add_argument("--no-pin", dest="pin", action="store_false",
                                  help="latency: let the scheduler place writer and reader")
    runner.argparser.add_argument("--fifo", action="store_true",
                                  help="latency: run writer and reader SCHED_FIFO priority 1 (root or "
                                       "CAP_SYS_NICE; separates CFS preemption from hypervisor jitter)")
    runner.argparser.add_argument("--writer", choices=("both", "spin", "sleep"), default="both",
                                  help="latency: the C writers busy-wait the gap (spin), nanosleep it (sleep), "
                                       "or one section of each (both, the default)")
    runner.argparser.add_argument("--writer-spin", dest="writer", action="store_const", const="spin",
                                  help="latency: same as --writer spin")
    runner.argparser.add_argument("--gap-us", type=number_at_least(0, 1e6), default=100.0,   # (< 0: a traceback
                                  help="latency: microseconds between messages (default 100)")   # 40 s later)
    args = parse_args(runner)
    args.fast = args.fast or fast
    runner.metadata["description"] = "vega ring vs multiprocessing.Queue / faster-fifo, ns per 32-byte record"

    groups = [
        ("writer", [
            ("ring append, batch 1 (C loop)", ring_append(1, 100_000), 100_000),
            ("ring append, batch 16 (C loop)", ring_append(16, 160_000), 160_000),
            ("mp.Queue.put", mpq_put(500), 500),
        ] + ([
            ("faster_fifo put", ff_put(2000, False), 2000),
            ("faster_fifo put_many(2000)", ff_put(2000, True), 2000),
        ] if faster_fifo else [])),
        ("reader", [
            ("ring poll_into (32768 records into numpy)", ring_read(False), CAP),
            ("ring poll(4096) (new numpy arrays)", ring_read(True), CAP),
            ("mp.Queue.get", mpq_get(500), 500),
        ] + ([("faster_fifo get_many", ff_get(2000), 2000)] if faster_fifo else [])),
    ]
    results = {}
    if args.latency_only:
        groups = []
    for _, benches in groups:
        for title, func, inner in benches:
            bench = runner.bench_time_func(title, func, inner_loops=inner)
            if bench is not None and not args.worker:
                results[title] = bench.median()
    if args.worker:
        return
    print()
    if faster_fifo is None:
        print("faster-fifo is not installed: only the multiprocessing.Queue baseline ran")
    for group, benches in groups:
        ref = results.get(benches[0][0])
        print(f"{group}: ns per record (median), records/s, ratio to '{benches[0][0]}'")
        for title, _, _ in benches:
            if title in results and ref:
                ns = results[title] * 1e9
                print(f"  {title:45s} {ns:10.2f} ns  {1e9 / ns / 1e6:9.2f} M/s  x{results[title] / ref:10.1f}")
    if args.no_latency:
        return
    modes = {"both": (True, False), "spin": (True,), "sleep": (False,)}[args.writer]
    p99 = {spin: run_latency(args, spin)["p99"] for spin in modes}
    print("\nring, C writer -> spinning C reader in another process, p99 (target <= 2 us): " +
          ", ".join(f"{'busy' if spin else 'sleeping'} writer {v / 1000:.2f} us" for spin, v in p99.items()))

if __name__ == "__main__":
    main()
