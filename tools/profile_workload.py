"""The workload profiled by tools/profile.sh: the capture's hot path over simulated NSE traffic.

Two steps, so that generating the traffic (pure Python) stays out of the profile:

* ``generate``: simulated, wire-exact NSE datagrams (``vega.nse.sample_stream``, LZO1Z-compressed like the
  exchange) for the F&O and CM segments, saved to one file.
* ``run``: the capture's decode + merge + publish loop: ``FeedHandler.process_batch`` over the datagrams
  into a fresh store each pass, with the change records published to a shared-memory ring from inside the
  nogil loop (``FeedHandler(..., ring=ring)``), as ``vega capture`` does; repeated for ``--seconds``.  Prints
  datagrams/s and ns/message so the profile can be related to throughput.
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path and not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, ROOT)   # the in-place build of this tree (profile.sh sets PYTHONPATH itself)


def _generate(args) -> int:
    from vega import nse
    streams = {}
    for seg in args.segments:
        t = time.perf_counter()
        streams[seg] = list(nse.sample_stream(seg, args.datagrams, seed=args.seed))
        print(f"generated {seg}: {len(streams[seg]):,} datagrams in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)
    with open(args.out, "wb") as f:
        pickle.dump(streams, f, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


def _run(args) -> int:
    from vega import FeedHandler, Ring, Store
    with open(args.stream, "rb") as f:
        streams = pickle.load(f)
    feed_of = {"FO": "NSE_FO", "CM": "NSE_EQ"}
    ring = None
    ring_name = f"vega-profile-{os.getpid()}"
    if not args.no_ring:
        ring = Ring.create(ring_name)
    n_dg = n_msg = n_rec = passes = 0
    t0 = time.perf_counter()
    try:
        while True:
            for seg, dgs in streams.items():
                store = Store(args.capacity)
                if ring is not None and args.on_records:
                    feed = feed_of[seg]
                    fh = FeedHandler(seg, store, on_records=lambda recs, feed=feed: ring.append(feed, recs))
                elif ring is not None:       # the capture's path: the ring is a C record sink (nogil)
                    fh = FeedHandler(seg, store, ring=ring)
                else:
                    fh = FeedHandler(seg, store, records=False)
                for a in range(0, len(dgs), args.batch):
                    n_msg += fh.process_batch(dgs[a:a + args.batch])
                n_dg += len(dgs)
                n_rec += fh.stats["records"]
                if hasattr(fh, "close"):
                    fh.close()               # gives the ring slot back
                store.close()
            passes += 1
            el = time.perf_counter() - t0
            if (args.passes and passes >= args.passes) or (not args.passes and el >= args.seconds):
                break
    finally:
        if ring is not None:
            ring.close()
            Ring.unlink(ring_name)
    el = time.perf_counter() - t0
    print(f"{passes} passes, {n_dg:,} datagrams, {n_msg:,} messages, {n_rec:,} change records in {el:.2f} s: "
          f"{n_dg / el:,.0f} datagrams/s, {el / max(n_msg, 1) * 1e9:.0f} ns/message", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="step", required=True)
    g = sub.add_parser("generate", help="write simulated datagrams to a file")
    g.add_argument("--out", required=True)
    g.add_argument("--datagrams", type=int, default=20000, help="per segment (default 20000)")
    g.add_argument("--segments", nargs="+", choices=["FO", "CM"], default=["FO", "CM"])
    g.add_argument("--seed", type=int, default=1)
    r = sub.add_parser("run", help="the decode + merge + publish loop over a generated file")
    r.add_argument("--stream", required=True)
    r.add_argument("--seconds", type=float, default=10.0, help="run at least this long (default 10)")
    r.add_argument("--passes", type=int, default=0, help="exactly N passes instead (callgrind)")
    r.add_argument("--batch", type=int, default=64, help="datagrams per process_batch call (default 64)")
    r.add_argument("--capacity", type=int, default=65536)
    r.add_argument("--no-ring", action="store_true", help="decode + merge only, no change records")
    r.add_argument("--on-records", action="store_true",
                   help="forward records through a Python on_records callback instead of the ring's C sink")
    a = p.parse_args(argv)
    return _generate(a) if a.step == "generate" else _run(a)


if __name__ == "__main__":
    sys.exit(main())
