"""Implied volatility in the merge: what it costs, and that it costs nothing for non-option messages.

    python bench/bench_iv_merge.py [--fast] [-o result.json]

The simulator's F&O stream (its 7208 messages, decoded once, merged with ``FeedHandler.merge_packed``: the
merge alone, change records on), with the simulator's own instrument master:

* ``nonopt-bare`` / ``nonopt-iv``  the 7208 records re-pointed at the futures only, merged into a store
  holding every instrument of the master (``Store.add`` of each token, in the master's order) / loaded with
  ``Store.load_instruments`` (the same records in the same places, and the options' metadata): the price of
  the one extra test for non-options (ratio ~1)
* ``opt-bare`` / ``opt-iv``  the same records re-pointed at the options (futures trading), without / with
  instruments: the difference is the cost of the IV per option record (forward, time, Black-76 solve)

ns per message and per record are printed with the ratios of the same run.
"""
import os
import sys

import pyperf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._cli import command_line, parse_args  # noqa: E402
from vega import Instruments, nse  # noqa: E402
from vega._core import Decoder, FeedHandler, Store, pack_messages  # noqa: E402
from vega.simulator import Simulator  # noqa: E402

FAST = "--fast" in sys.argv
N_DATAGRAMS = 600 if FAST else 3000
SEED = 1
T0 = 1_700_000_000_000_000_000
_CACHE = {}


def data():
    """Instruments, the 7208 messages re-pointed at futures and at options, and a warm-up of the futures."""
    if _CACHE:
        return _CACHE
    import datetime as dt
    sim = Simulator(["FO"], N_DATAGRAMS, seed=SEED)
    ins = Instruments(sim.universe("FO", dt.date(2023, 11, 1)))        # expiries after T0
    t = ins.table
    futs = t["token"][t["option_type"] == "XX"].tolist()
    opts = t["token"][t["option_type"] != "XX"].tolist()
    opts = opts[::max(1, len(opts) // len(futs))][:len(futs)]     # as many options as futures: every record
                                                                 # moves its token's LTP (a real IV update)
    dec = Decoder("FO")
    msgs = [m for dg in nse.sample_stream("FO", N_DATAGRAMS, seed=SEED) for m in dec.decode(dg)
            if m["transaction_code"] == 7208 and m["records"]]

    def repoint(tokens):
        out, k = [], 0
        for m in msgs:
            recs = []
            for r in m["records"]:
                recs.append(dict(r, token=tokens[k % len(tokens)]))
                k += 1
            out.append(dict(m, records=recs))
        return out

    fut_msgs = repoint(futs)
    _CACHE.update(ins=ins, n_msgs=len(msgs), n_recs=sum(len(m["records"]) for m in msgs),
                  fut=pack_messages("FO", fut_msgs), opt=pack_messages("FO", repoint(opts)),
                  warm=pack_messages("FO", fut_msgs[:len(futs)]))
    return _CACHE


def timer(kind, with_iv):
    def run(loops):
        d = data()
        s = Store(10_000)
        if with_iv:
            s.load_instruments(d["ins"], "FO")
        else:       # the same records in the same places, without the option metadata: only the IV work differs
            for token in d["ins"].table["token"].tolist():
                s.add(token)
        fh = FeedHandler("FO", s)
        fh.merge_packed(d["warm"], now_ns=T0)                 # futures trading: the forward of the options
        t0 = pyperf.perf_counter()
        fh.merge_packed(d[kind], repeat=loops, now_ns=T0)
        dt = pyperf.perf_counter() - t0
        s.close()
        return dt
    return run


def main():
    if FAST and not any(a.startswith(("-l", "--loops")) for a in sys.argv):
        sys.argv.append("--loops=20")

    def worker_args(cmd, args):
        if FAST:
            cmd.append("--fast")

    runner = pyperf.Runner(add_cmdline_args=worker_args)
    command_line(runner.argparser, __doc__,
                 fast="600 datagrams instead of 3000, 20 loops per value (unless --loops) and pyperf's --fast: 10 "
                      "processes x 2 values")
    parse_args(runner)
    d = data()
    n, nrec = d["n_msgs"], d["n_recs"]
    res = {}
    for kind in ("fut", "opt"):
        for iv in (False, True):
            name = f"{'nonopt' if kind == 'fut' else 'opt'}-{'iv' if iv else 'bare'}"
            res[name] = runner.bench_time_func(name, timer(kind, iv), inner_loops=n)
    if runner.args.worker or any(v is None for v in res.values()):
        return
    med = {k: v.median() * 1e9 for k, v in res.items()}
    per_rec = nrec / n
    print(f"\n{n} 7208 messages, {per_rec:.2f} records each (medians, ns per message)")
    print(f"non-options: bare {med['nonopt-bare']:.0f}, with instruments {med['nonopt-iv']:.0f} "
          f"-> ratio {med['nonopt-iv'] / med['nonopt-bare']:.3f}")
    print(f"options:     bare {med['opt-bare']:.0f}, with IV {med['opt-iv']:.0f} -> ratio "
          f"{med['opt-iv'] / med['opt-bare']:.2f}; IV costs {(med['opt-iv'] - med['opt-bare']) / per_rec:.0f} ns "
          f"per option record")


if __name__ == "__main__":
    main()
