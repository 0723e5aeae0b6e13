"""An ingest's hand-over of capture datagrams to the feeds (pyperf): in capture order, beside per feed, same run.

    python bench/bench_ingest.py [--fast]

The datagrams: the simulator's F&O and CM streams (``--fast`` 5,000 per segment, else 50,000) interleaved as a
day's capture interleaves them, in runs of 1-3 of one feed, in one buffer with the arrays a pcap scan fills
(time, payload offset and length).  The handlers: F&O linked to CM (``underlying=``: its 7130/17130 open
interest goes to the CM store), in-process stores, no journal; every timing merges the whole stream again
into the same stores (steady state).

* ``ingest-order``    ``vega._pcap.feed_runs``: one nogil loop in capture order, switching handlers where the
                      capture does (``vg_feed_mixed``: what ``vega ingest`` does)
* ``ingest-per-feed`` ``vega._pcap.feed_selected`` once per feed: all of a feed's datagrams, then the next
                      feed's (how ``vega ingest`` fed a batch before capture order: the CM journal's time
                      stepped back within a batch)

Figures are ns per datagram; the summary prints the medians and the ratio (above 1: capture order costs more).
"""
import os
import sys

import numpy as np
import pyperf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import vega  # noqa: E402
from bench._cli import command_line, env_flag, parse_args  # noqa: E402
from vega._pcap import feed_runs, feed_selected  # noqa: E402
from vega.simulator import Simulator  # noqa: E402

if "--fast" in sys.argv:          # ours: the workers learn it from the environment (bench/_cli.py hands it on)
    sys.argv = [a for a in sys.argv if a != "--fast"]
    os.environ["VEGA_BENCH_FAST"] = "1"
FAST = env_flag("VEGA_BENCH_FAST")
N = 5_000 if FAST else 50_000
_STATE = {}


def setup():
    """(handlers [FO, CM], buffer, ts, offset, length, which, [each feed's datagram indexes]), built once per
    worker."""
    if _STATE:
        return _STATE["args"]
    sim = Simulator(["FO", "CM"], N, seed=3, broadcasts=False)      # the workload as measured before them
    sim.generate()
    rng = np.random.default_rng(3)
    pos = {"FO": 0, "CM": 0}
    order = []
    while any(pos[s] < N for s in pos):
        for k, s in enumerate(("FO", "CM")):
            run = int(rng.integers(1, 4))
            order += [(k, dg) for dg in sim.datagrams[s][pos[s]:pos[s] + run]]
            pos[s] += run
    lengths = np.array([len(dg) for _, dg in order], np.int32)
    offsets = np.zeros(len(order), np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    buffer = np.frombuffer(b"".join(dg for _, dg in order), np.uint8)
    ts = 1_763_600_000_000_000_000 + np.arange(len(order), dtype=np.int64) * 20_000
    which = np.array([k for k, _ in order], np.int16)
    cm = vega.FeedHandler("CM", vega.Store(20_000))
    fo = vega.FeedHandler("FO", vega.Store(20_000), underlying=cm)
    sel = [np.flatnonzero(which == k) for k in (0, 1)]
    _STATE["args"] = ([fo, cm], buffer, ts, offsets, lengths, which, sel)
    return _STATE["args"]


def t_order(loops):
    hs, buffer, ts, off, ln, which, _ = setup()
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        feed_runs(hs, buffer, ts, off, ln, which)
    return pyperf.perf_counter() - t0


def t_per_feed(loops):
    hs, buffer, ts, off, ln, _, sel = setup()
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        for h, s in zip(hs, sel):
            feed_selected(h, buffer, ts, off, ln, s)
    return pyperf.perf_counter() - t0


def main():
    runner = pyperf.Runner(**({"processes": 3, "values": 3} if FAST else {}))   # (a -p, -n given win)
    command_line(runner.argparser, __doc__,
                 fast="ours, not pyperf's: 5,000 datagrams per segment instead of 50,000, 3 processes x 3 values")
    parse_args(runner)                   # a bad option is refused before any data is made
    runner.metadata["datagrams"] = str(2 * N)
    res = {}
    for name, fn in (("ingest-order", t_order), ("ingest-per-feed", t_per_feed)):
        b = runner.bench_time_func(name, fn, inner_loops=2 * N)
        if b is not None and not runner.args.worker:
            res[name] = b.median()
    if len(res) == 2:
        o, p = res["ingest-order"], res["ingest-per-feed"]
        print(f"\nper datagram (median): in capture order {o * 1e9:,.1f} ns, per feed {p * 1e9:,.1f} ns -> "
              f"{o / p:.3f}x")


if __name__ == "__main__":
    main()
