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
# The in-place build of the tree this file is in, always first: with PYTHONPATH set, to another tree or to
# other directories, this used to profile whatever vega came first there, an installed one included.
# profile.sh --no-inline runs the copy of this file inside its -fno-inline tree, so that tree is profiled.
while ROOT in sys.path:
    sys.path.remove(ROOT)
sys.path.insert(0, ROOT)

from bench._cli import at_least as _at_least, one_line_errors  # noqa: E402


def _fail(msg: str) -> SystemExit:
    """One line on stderr and exit status 1 (what profile.sh shows the user)."""
    return SystemExit(f"profile_workload: {msg}")


def _import_vega():
    """This tree's vega package, or exit with one line (an unbuilt tree must not fall back to another vega)."""
    try:
        import vega
    except ImportError as e:
        raise _fail(f"cannot import vega from {ROOT} (build it there: python setup.py build_ext --inplace): "
                    f"{e}") from None
    return vega


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text}")
    return v


def _generate(args) -> int:
    nse = _import_vega().nse
    part = f"{args.out}.part"           # renamed when complete: a stopped run leaves no stream file half written
    try:                                # before minutes of generating: the file must be writable
        out = open(part, "wb")
    except OSError as e:
        raise _fail(f"cannot write {args.out}: {e.strerror}") from None
    try:
        with out:
            streams = {}
            for seg in args.segments:
                t = time.perf_counter()
                streams[seg] = list(nse.sample_stream(seg, args.datagrams, seed=args.seed))
                print(f"generated {seg}: {len(streams[seg]):,} datagrams in {time.perf_counter() - t:.1f} s",
                      file=sys.stderr)
            pickle.dump(streams, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(part, args.out)
    except BaseException:               # (Ctrl-C included)
        os.unlink(part)
        raise
    return 0


def _load(path: str) -> dict:
    """The streams a ``generate`` wrote to path, or exit with one line saying what is wrong with the file."""
    try:
        with open(path, "rb") as f:
            streams = pickle.load(f)
    except OSError as e:
        raise _fail(f"cannot read {path}: {e.strerror}") from None
    except Exception:   # (pickle raises many kinds on a file that is not one)
        raise _fail(f"{path} is not a stream file written by `profile_workload.py generate`") from None
    if (not isinstance(streams, dict) or not streams or not set(streams) <= {"FO", "CM"}
            or not all(isinstance(d, list) and all(isinstance(x, bytes) for x in d) for d in streams.values())):
        raise _fail(f"{path} is not a stream file written by `profile_workload.py generate`")
    if not any(streams.values()):
        raise _fail(f"{path} holds no datagrams")
    return streams


def _run(args) -> int:
    vega = _import_vega()
    FeedHandler, Ring, Store = vega.FeedHandler, vega.Ring, vega.Store
    streams = _load(args.stream)
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
                try:
                    for a in range(0, len(dgs), args.batch):
                        n_msg += fh.process_batch(dgs[a:a + args.batch])
                finally:
                    fh.close()               # gives the ring slot back (else the ring cannot be closed)
                    store.close()
                n_dg += len(dgs)
                n_rec += fh.stats["records"]
                full = fh.stats["merge"]["store_full"]
                if full:                     # the profile would be of refused merges, not of the workload
                    raise _fail(f"--capacity {args.capacity} is too small for {seg}'s instruments: {full:,} "
                                "updates found the store full (merge.store_full; use the default)")
            passes += 1
            el = time.perf_counter() - t0
            if (args.passes and passes >= args.passes) or (not args.passes and el >= args.seconds):
                break
    finally:
        if ring is not None:
            try:
                ring.close()
            finally:
                Ring.unlink(ring_name)   # never left in /dev/shm
    el = time.perf_counter() - t0
    print(f"{passes} passes, {n_dg:,} datagrams, {n_msg:,} messages, {n_rec:,} change records in {el:.2f} s: "
          f"{n_dg / el:,.0f} datagrams/s, {el / max(n_msg, 1) * 1e9:.0f} ns/message; vega from "
          f"{os.path.dirname(vega.__file__)}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    # a bad option or value: one line and status 2 (was argparse's usage, then its line)
    p = one_line_errors(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    sub = p.add_subparsers(dest="step", required=True)
    g = one_line_errors(sub.add_parser("generate", help="write simulated datagrams to a file"))
    g.add_argument("--out", required=True, help="the file to write (a pickle of the datagrams)")
    g.add_argument("--datagrams", type=_at_least(1), default=20000, help="per segment (default 20000)")
    g.add_argument("--segments", nargs="+", choices=["FO", "CM"], default=["FO", "CM"])
    g.add_argument("--seed", type=int, default=1)
    r = one_line_errors(sub.add_parser("run", help="the decode + merge + publish loop over a generated file"))
    r.add_argument("--stream", required=True, help="a file written by generate")
    r.add_argument("--seconds", type=_positive_float, default=10.0, help="run at least this long (default 10)")
    r.add_argument("--passes", type=_at_least(0), default=0, help="exactly N passes instead (callgrind; 0: --seconds)")
    r.add_argument("--batch", type=_at_least(1), default=64, help="datagrams per process_batch call (default 64)")
    r.add_argument("--capacity", type=_at_least(1), default=65536, help="store records (default 65536)")
    r.add_argument("--no-ring", action="store_true", help="decode + merge only, no change records")
    r.add_argument("--on-records", action="store_true",
                   help="forward records through a Python on_records callback instead of the ring's C sink")
    a = p.parse_args(argv)
    return _generate(a) if a.step == "generate" else _run(a)


if __name__ == "__main__":
    sys.exit(main())
