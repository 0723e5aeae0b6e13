"""How much of a merge's time is the store's memory: each code's messages merged as bench/bench_merge.py
merges them, then the same messages with their tokens folded onto the first K of their distinct tokens.

    python tools/working_set.py [--codes FO:7202,CM:18703,FO:6013] [--tokens 50,200,600] [--best 5]

Folding keeps everything but the store records touched: the same 1,000 messages (``merged_messages``),
the same values in the same order, the same code path (every folded token is one of the code's own, so
already in the dense table).  Only the number of records, and so of cache lines, the merge cycles over
shrinks.  Printed per code and K: ns per instrument record, change records on (and how many each instrument
record emitted) and off, the best of ``--best`` runs of about 20,000 messages each.  A code whose time falls
with K waits on the store's cache lines; one whose time stays put is bound by its instructions
(docs/PROFILING.md "What the store's memory costs, and the 100x budget").  Without hardware counters this is
how the two are told apart.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench._cli import at_least, one_line_errors  # noqa: E402
from bench.bench_merge import T0, codes_arg, merged_messages, parse_codes  # noqa: E402
from vega._core import FeedHandler, Store, pack_messages  # noqa: E402

MESSAGES_PER_RUN = 20_000


def distinct_tokens(msgs):
    """The tokens of the messages' instrument records, ascending."""
    return sorted({r["token"] for m in msgs for r in m["records"]})


def fold(msgs, k):
    """Copies of msgs whose tokens are folded onto the first k distinct tokens: the i-th distinct token
    (ascending) becomes the (i mod k)-th.  Everything else is left as it was."""
    if k < 1:
        raise ValueError("k must be at least 1")
    toks = distinct_tokens(msgs)
    to = {t: toks[i % k] for i, t in enumerate(toks)}
    return [dict(m, records=[dict(r, token=to[r["token"]]) for r in m["records"]]) for m in msgs]


def ns_per_instrument(seg, msgs, records, best):
    """(best of ``best`` runs: ns per instrument record of merge_packed over msgs, change records emitted
    per instrument record), in the steady state (one pass first: every token inserted, every page
    touched).  Folding changes the second: values of several tokens now meet in one record."""
    packed = pack_messages(seg, msgs)
    n_inst = sum(len(m["records"]) for m in msgs)
    repeat = max(1, MESSAGES_PER_RUN // len(msgs))
    out = float("inf")
    for _ in range(best):
        fh = FeedHandler(seg, Store(100_000), records=records)
        fh.merge_packed(packed, repeat=1, now_ns=T0)
        first = fh.stats["records"]
        t0 = time.perf_counter_ns()
        fh.merge_packed(packed, repeat=repeat, now_ns=T0)
        out = min(out, (time.perf_counter_ns() - t0) / (repeat * n_inst))
    return out, (fh.stats["records"] - first) / (repeat * n_inst)


def _tokens_arg(text):
    """--tokens K,...: whole numbers of at least 1 (``x`` was int()'s message, naming no option)."""
    ks = [k.strip() for k in text.split(",") if k.strip()]
    if not ks or not all(k.isascii() and k.isdigit() and int(k) >= 1 for k in ks):
        raise argparse.ArgumentTypeError(f"needs whole numbers of at least 1, K,..., not {text!r}")
    return [int(k) for k in ks]


def main(argv=None):
    # a bad option or value: one line and status 2, as the benchmarks' (was argparse's usage and its line, or
    # status 1 for the values checked after it)
    ap = one_line_errors(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    ap.add_argument("--codes", default="FO:7202,CM:18703,FO:6013", type=codes_arg,
                    help="SEG:CODE,... as bench/bench_merge.py --codes (default: %(default)s)")
    ap.add_argument("--tokens", default="50,200,600", type=_tokens_arg,
                    help="K,...: the numbers of tokens to fold onto (default: %(default)s)")
    ap.add_argument("--best", type=at_least(1), default=5, help="runs per figure, the best kept (default: %(default)s)")
    args = ap.parse_args(argv)
    chosen = parse_codes(args.codes)
    ks = args.tokens
    print(f"ns per instrument record, best of {args.best} runs of ~{MESSAGES_PER_RUN:,} messages; "
          "records on = change records emitted, off = the merge alone")
    for seg in ("FO", "CM"):
        for code in chosen[seg]:
            msgs = merged_messages(seg, code)
            n_tok = len(distinct_tokens(msgs))
            n_inst = sum(len(m["records"]) for m in msgs)
            print(f"{seg} {code or 'mix':>5}: {len(msgs)} messages, {n_inst} instrument records, "
                  f"{n_tok} distinct tokens", flush=True)
            for k in [n_tok] + sorted(k for k in set(ks) if k < n_tok):
                folded = msgs if k == n_tok else fold(msgs, k)
                on, chg = ns_per_instrument(seg, folded, True, args.best)
                off, _ = ns_per_instrument(seg, folded, False, args.best)
                label = f"all {k}" if k == n_tok else f"{k}"
                print(f"  {label:>9} tokens: records on {on:6.1f} ({chg:4.2f} change records each) | "
                      f"records off {off:6.1f}", flush=True)


if __name__ == "__main__":
    main()
