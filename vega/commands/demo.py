"""``vega demo``: a simulated NSE feed through the pipeline, then what landed."""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from vega.commands import CliError

HELP = "run a simulated NSE feed through the pipeline and show what landed"


def register(sub) -> None:
    d = sub.add_parser("demo", help=HELP,
                       description="Generate a realistic simulated NSE stream (CM and F&O, wire-exact, "
                                   "LZO1Z-compressed like the exchange), decode it and summarise.")
    d.add_argument("--datagrams", type=int, default=20000, help="datagrams per segment (default 20000)")
    d.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    d.add_argument("--segments", nargs="+", choices=["CM", "FO"], default=["FO", "CM"])
    d.add_argument("--top", type=int, default=8, help="instruments to show (default 8)")
    d.set_defaults(func=run)


def _fmt_paise(p: int) -> str:
    return f"{p / 100:,.2f}"


def run(args: argparse.Namespace) -> int:
    """Simulated NSE feed through the pipeline that exists so far: encode -> decode -> summary."""
    from vega import Decoder
    from vega import nse

    if args.datagrams <= 0:
        raise CliError("--datagrams must be positive")
    out = sys.stdout
    print(f"VEGA demo: {args.datagrams:,} simulated datagrams per segment (seed {args.seed})", file=out)
    for segment in args.segments:
        t0 = time.perf_counter()
        stream = list(nse.sample_stream(segment, args.datagrams, seed=args.seed))
        t_gen = time.perf_counter() - t0

        # 1. the hot path: one nogil loop over the whole batch
        fast = Decoder(segment)
        t0 = time.perf_counter()
        n_fast = fast.decode_batch(stream)
        t_fast = time.perf_counter() - t0

        # 2. the Python view of the same datagrams, to show what landed
        dec = Decoder(segment)
        ltp: dict[int, int] = {}
        trades: Counter[int] = Counter()
        oi: dict[int, int] = {}
        depth: dict[int, tuple[int, int, int, int]] = {}
        codes: Counter[int] = Counter()
        seq_last: dict[int, int] = {}
        seq_gaps = 0
        for dg in stream:
            for m in dec.decode(dg):
                code = m["transaction_code"]
                codes[code] += 1
                s = m["stream"]
                if m["bc_seq_no"] and s in seq_last and m["bc_seq_no"] != seq_last[s] + 1:
                    seq_gaps += 1
                if m["bc_seq_no"]:
                    seq_last[s] = m["bc_seq_no"]
                for r in m["records"]:
                    tok = r.get("token")
                    if tok is None:
                        continue
                    if "last_traded_price" in r and r["last_traded_price"] > 0:
                        ltp[tok] = r["last_traded_price"]
                        trades[tok] += 1
                        mbp = r["mbp"]
                        depth[tok] = (mbp[0]["price"], mbp[0]["quantity"], mbp[5]["price"], mbp[5]["quantity"])
                    elif "fill_price" in r and r["fill_price"] > 0:
                        ltp[tok] = r["fill_price"]
                        trades[tok] += 1
                    if r.get("open_interest"):
                        oi[tok] = r["open_interest"]
        st = dec.stats
        if n_fast != st["messages"]:
            raise CliError(f"batch and per-datagram decode disagree: {n_fast} vs {st['messages']}")
        total_bytes = sum(len(d) for d in stream)
        print(f"\n== {segment}: {len(stream):,} datagrams, {total_bytes / 1e6:.2f} MB, "
              f"{st['packets']:,} sub-packets ({st['compressed']:,} LZO1Z-compressed), "
              f"{st['messages']:,} messages; generated in {t_gen:.2f} s", file=out)
        print(f"   decode (nogil batch): {t_fast * 1e3:.1f} ms = "
              f"{t_fast / max(n_fast, 1) * 1e9:.0f} ns/message, {len(stream) / t_fast:,.0f} datagrams/s",
              file=out)
        errors = {k: v for k, v in st["errors"].items() if v}
        print(f"   messages by code: " + ", ".join(f"{c}:{n:,}" for c, n in sorted(codes.items())), file=out)
        print(f"   errors: {errors or 'none'}; sequence gaps per stream: {seq_gaps}; "
              f"LZO1Z output {st['bytes_decompressed'] / 1e6:.2f} MB", file=out)
        print(f"   busiest instruments:", file=out)
        print(f"   {'token':>8} {'updates':>8} {'LTP':>12} {'bid':>12} {'bid qty':>9} {'ask':>12} "
              f"{'ask qty':>9} {'OI':>10}", file=out)
        for tok, n in trades.most_common(args.top):
            b, bq, a, aq = depth.get(tok, (0, 0, 0, 0))
            print(f"   {tok:>8} {n:>8,} {_fmt_paise(ltp[tok]):>12} {_fmt_paise(b):>12} {bq:>9,} "
                  f"{_fmt_paise(a):>12} {aq:>9,} {oi.get(tok, 0):>10,}", file=out)
    return 0


