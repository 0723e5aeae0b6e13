"""Reading change records by name: ``vega.records.explode`` (vectorised per (group, mask) pair) against the
per-record ``vega.records.fields`` loop, in the same run.

    python bench/bench_records.py --fast       # rough figures, quickly
    python bench/bench_records.py              # pyperf's default number of runs

The records are what a FeedHandler emits over ``bench_merge``'s F&O stream (4,000 datagrams, seed 7) merged
three times: a first pass (every field new) and two steady-state passes.  Both benchmarks print ns per change
record; the ratio is printed at the end.
"""
import os
import sys

import numpy as np
import pyperf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._cli import command_line, parse_args  # noqa: E402
from bench.bench_merge import T0, stream  # noqa: E402
from vega import records  # noqa: E402
from vega._core import FeedHandler, Store  # noqa: E402

FAST = "--fast" in sys.argv
N_FIELDS_LOOP = 20_000            # the per-record loop runs over a sample of this many records only (it is slow)


def change_records():
    got = []
    fh = FeedHandler("FO", Store(100_000), on_records=lambda a: got.append(a.copy()))
    fo = stream("FO", 7)
    for _ in range(3):
        fh.process_batch(fo, now_ns=T0)
    return np.concatenate(got)


def main():
    if FAST and not any(a.startswith(("-l", "--loops")) for a in sys.argv):
        sys.argv.append("--loops=3")
    runner = pyperf.Runner(add_cmdline_args=lambda cmd, args: cmd.append("--fast") if FAST else None,
                           **({"processes": 6} if FAST else {}))
    command_line(runner.argparser, __doc__,
                 fast="pyperf's (3 processes x 2 values) with 3 loops per value, no calibration")
    parse_args(runner)
    recs = change_records()
    # an evenly spaced sample, not the first records: those are the first pass's (every field new, more fields
    # per record), and ns per record depends on the mix
    head = recs[::max(1, len(recs) // N_FIELDS_LOOP)]

    def t_explode(loops):
        t0 = pyperf.perf_counter()
        for _ in range(loops):
            records.explode(recs)
        return pyperf.perf_counter() - t0

    def t_fields(loops):
        t0 = pyperf.perf_counter()
        for _ in range(loops):
            for r in head:
                records.fields(r)
        return pyperf.perf_counter() - t0

    a = runner.bench_time_func("records-explode", t_explode, inner_loops=len(recs))
    b = runner.bench_time_func("records-fields-loop", t_fields, inner_loops=len(head))
    if not runner.args.worker and a is not None and b is not None:
        ea, eb = a.median() * 1e9, b.median() * 1e9
        rows = len(records.explode(recs))
        rows_head = sum(len(records.fields(r)) for r in head)
        print(f"explode: {len(recs):,} records -> {rows:,} field rows ({rows / len(recs):.2f} per record), "
              f"{ea:.0f} ns/record; per-record fields() loop over {len(head):,} of them, evenly spaced "
              f"({rows_head / len(head):.2f} fields per record), {eb:.0f} ns/record -> {eb / ea:.1f}x")


if __name__ == "__main__":
    main()
