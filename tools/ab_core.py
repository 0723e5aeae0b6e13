"""Compare the merge speed of two builds of ``vega._core`` in one process, alternating between them.

    python tools/ab_core.py OTHER.so [--codes FO:17202,CM:18703] [--rounds 15] [--repeat 10]

A is the ``vega._core`` this tree imports; B is another build's extension module (copy its
``vega/_core.cpython-*.so`` aside before rebuilding, or build a second worktree).  For each code both
builds merge the same pre-decoded messages (``FeedHandler.merge_packed``, as ``bench/bench_merge.py``),
with change records on and off, in rounds that alternate A, B / B, A.  Printed per code: each build's
median ns per message, B/A and how many rounds B was faster.

Why: on a shared host the same build's figures move by 20-30 % within minutes, so two separate pyperf
runs cannot show a 10 % change; rounds a few milliseconds apart in one process see the same host.  Give
B = a copy of A's own file for an A/A run, which shows the noise left (docs/PROFILING.md "Comparing two builds").
"""
import argparse
import importlib.machinery
import importlib.util
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench._cli import at_least, one_line_errors  # noqa: E402
from bench.bench_merge import T0, codes_arg, merged_messages, parse_codes  # noqa: E402
import vega._core as A  # noqa: E402


def load_other(path):
    """The extension module at path, loaded beside vega._core (its own copy of every C global)."""
    if not os.path.isfile(path):
        raise SystemExit(f"ab_core: {path}: no such file (the other build's vega/_core*.so)")
    # any file name: the loader is chosen here, not by the suffix (which spec_from_file_location would need)
    loader = importlib.machinery.ExtensionFileLoader("vega._core", path)
    spec = importlib.util.spec_from_file_location("vega._core", path, loader=loader)
    try:
        mod = importlib.util.module_from_spec(spec)
        loader.exec_module(mod)
    except ImportError as e:   # not a shared object, another module's, another Python's
        raise SystemExit(f"ab_core: {path}: not a build of vega._core ({e})")
    if mod.FeedHandler is A.FeedHandler:
        raise SystemExit("ab_core: the other build loaded as this tree's own module")
    return mod


def compare(B, seg, code, records, rounds, repeat):
    """(median ns/msg of A, of B, rounds B was faster) over the code's 1,000 messages."""
    msgs = merged_messages(seg, code)
    fhs, packed = {}, {}
    for name, mod in (("A", A), ("B", B)):
        packed[name] = mod.pack_messages(seg, msgs)   # each build's own vg_msg_t (its fields may differ)
        fh = mod.FeedHandler(seg, mod.Store(100_000), records=records)
        fh.merge_packed(packed[name], repeat=2, now_ns=T0)   # steady state: tokens inserted, pages touched
        fhs[name] = fh
    t = {"A": [], "B": []}
    for r in range(rounds):
        for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
            t0 = time.perf_counter_ns()
            fhs[name].merge_packed(packed[name], repeat=repeat, now_ns=T0)
            t[name].append((time.perf_counter_ns() - t0) / (repeat * len(msgs)))
    wins = sum(b < a for a, b in zip(t["A"], t["B"]))
    return statistics.median(t["A"]), statistics.median(t["B"]), wins


def main(argv=None):
    # a bad option or value: one line and status 2, as the benchmarks' (was argparse's usage and its line, or
    # status 1 for the values checked after it)
    ap = one_line_errors(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    ap.add_argument("other", help="the other build's vega/_core*.so (B)")
    ap.add_argument("--codes", default="FO:17202,CM:18703,FO:7201,FO:7208", type=codes_arg,
                    help="SEG:CODE,... as bench/bench_merge.py --codes (default: %(default)s)")
    ap.add_argument("--rounds", type=at_least(1), default=15, help="rounds per build and code (default: %(default)s)")
    ap.add_argument("--repeat", type=at_least(1), default=10,
                    help="passes over the 1,000 messages per round (default: %(default)s)")
    args = ap.parse_args(argv)
    chosen = parse_codes(args.codes)
    B = load_other(args.other)
    print(f"A = {A.__file__}\nB = {os.path.abspath(args.other)}\n"
          f"ns per message, median of {args.rounds} alternating rounds of {args.repeat} x 1,000 messages")
    for seg in ("FO", "CM"):
        for code in chosen[seg]:
            parts = []
            for records in (True, False):
                a, b, wins = compare(B, seg, code, records, args.rounds, args.repeat)
                parts.append(f"{'records on ' if records else 'records off'} A {a:7.1f}  B {b:7.1f}  "
                             f"B/A {b / a:5.3f}  B faster in {wins:2d}/{args.rounds}")
            print(f"{seg} {code or 'mix':>5}: " + " | ".join(parts), flush=True)


if __name__ == "__main__":
    main()
