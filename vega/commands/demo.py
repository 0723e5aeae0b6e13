"""``vega demo``: a simulator and a capture on loopback for a few seconds, then what landed.

Works on a fresh machine with nothing configured: shared-memory names are unique per run, the journal goes to
a temporary directory (unless ``--journal-root``), multicast on loopback is probed first and unicast on
127.0.0.1 used (with a note) where the kernel does not loop multicast back.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import numpy.typing as npt

from vega.commands import CliError, ascii_int, float_upto
from vega.commands._ops import fmt_paise
from vega.commands.simulate import NO_BROADCASTS_HELP
from vega.records import CHANGE_RECORD_DTYPE

if TYPE_CHECKING:
    from vega.commands import _Subparsers
    from vega._core import Store
    from vega.capture import Capture, _Feed
    from vega.instruments import Instruments

HELP = "run a simulated NSE market through the whole pipeline on loopback and show what landed"


def register(sub: _Subparsers) -> None:
    d = sub.add_parser("demo", help=HELP,
                       description="Start a simulator (CM and F&O, wire-exact, LZO1Z-compressed like the exchange) "
                                   "and a capture on loopback for a few seconds, then show the busiest instruments, "
                                   "the ring, the journal, and that replaying the journal reproduces the store.")
    d.add_argument("--seconds", type=float_upto(86400, unit=" seconds"), default=3.0,
                   help="seconds of simulated traffic (default 3)")
    d.add_argument("--rate", type=float_upto(1e7), default=3000.0,
                   help="datagrams per second over all segments (default 3000)")
    d.add_argument("--datagrams", type=ascii_int, default=None,
                   help="datagrams per segment (default: rate x seconds / segments)")
    d.add_argument("--seed", type=ascii_int, default=1, help="random seed (default 1)")
    d.add_argument("--segments", nargs="+", choices=["CM", "FO"], default=["FO", "CM"])
    d.add_argument("--top", type=ascii_int, default=8, help="instruments to show per segment (default 8)")
    d.add_argument("--journal-root", help="keep the journal here (default: a temporary directory, removed)")
    d.add_argument("--unicast", action="store_true", help="use unicast 127.0.0.1 instead of multicast")
    d.add_argument("--no-broadcasts", action="store_true", help=NO_BROADCASTS_HELP)
    d.set_defaults(func=run)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]           # (an AF_INET address: (host, port))
        return port


def run(args: argparse.Namespace) -> int:
    """Simulator -> loopback -> capture -> store, ring, journal; then the summary.  0 when all landed."""
    from vega import Journal, verify
    from vega.capture import (Capture, CaptureConfig, CaptureError, FeedConfig, compare_stores, multicast_works,
                              replay_journal_into)
    from vega.nse import COUNTED_ONLY
    from vega.simulator import DEFAULT_FEEDS, Simulator
    from vega._ring import CAPACITY as RING_CAPACITY

    if args.seconds <= 0 or args.rate <= 0:
        raise CliError("--seconds and --rate must be positive")
    if args.top < 0:
        raise CliError("--top must be >= 0")
    n = args.datagrams if args.datagrams is not None else max(1, int(args.rate * args.seconds / len(args.segments)))
    if n <= 0:
        raise CliError("--datagrams must be positive")
    out = sys.stdout
    pid = os.getpid()
    multicast = not args.unicast and multicast_works()
    if not args.unicast and not multicast:
        print("note: multicast is not looped back on this host's loopback; using unicast UDP on 127.0.0.1",
              file=out)
    targets = {}
    for s in args.segments:
        port = _free_port()
        targets[s] = (DEFAULT_FEEDS[s][0] if multicast else "127.0.0.1", port)

    tmp = mdir = None
    try:                                           # (interrupted while generating: no directories left behind)
        root = args.journal_root
        if root is None:
            tmp = tempfile.mkdtemp(prefix="vega-demo-")
            root = tmp
        sim = Simulator(args.segments, n, seed=args.seed, targets=targets, broadcasts=not args.no_broadcasts)
        mdir = tempfile.mkdtemp(prefix="vega-demo-master-")
        masters = sim.write_master(mdir)               # contract.txt / security.txt of the simulated instruments
        from vega.instruments import Instruments
        instruments = Instruments.load(masters.get("contract"), masters.get("security"))
        cfg = CaptureConfig(feeds=[FeedConfig(s, *targets[s]) for s in args.segments], journal_root=root,
                            ring=f"vega-demo-{pid}", store=None, store_capacity=16384, stats_interval=3600.0,
                            checkpoint_interval=5.0, contract=masters.get("contract"), security=masters.get("security"))
        print(f"VEGA demo: {n:,} simulated datagrams per segment ({', '.join(args.segments)}, seed {args.seed}) "
              f"at {args.rate:,.0f}/s over {'multicast' if multicast else 'unicast'} loopback", file=out)
        t0 = time.perf_counter()
        sim.generate()
        t_gen = time.perf_counter() - t0
        cap = Capture(cfg)
    except BaseException:
        for d in (tmp, mdir):
            if d is not None:
                shutil.rmtree(d, ignore_errors=True)
        raise
    try:
        try:
            cap.open()
        except CaptureError as e:
            raise CliError(str(e)) from None
        ring = cap.ring
        assert ring is not None                    # (the demo's config names a ring)
        ring_reader = ring.reader("NSE_FO" if "FO" in args.segments else "NSE_EQ", name="demo-reader",
                                      start="oldest")
        errors = []

        def send() -> None:
            try:
                sim.send(args.rate)
            except BaseException as e:          # reported below, never a traceback from a thread
                errors.append(e)

        th = threading.Thread(target=send, name="vega-demo-simulator", daemon=True)
        total = sum(e.datagrams for e in sim.expected.values())
        t0 = time.perf_counter()
        th.start()
        deadline = args.seconds * 3 + 5.0
        consumed = 0
        reading = threading.Event()

        def read() -> None:                   # a live ring reader on its own thread, as a terminal would be
            nonlocal consumed
            buf = np.empty(1 << 16, dtype=CHANGE_RECORD_DTYPE)
            while not reading.is_set():
                consumed += ring_reader.poll_into(buf, timeout=0.05, wait="sleep")   # waits without the GIL

        def done(c: Capture) -> bool:
            return c.datagrams >= total or (not th.is_alive() and c.datagrams >= sum(sim.sent.values()))

        rd = threading.Thread(target=read, name="vega-demo-reader", daemon=True)
        rd.start()
        try:
            cap.run(deadline, until=done)
        finally:
            reading.set()
            rd.join(5.0)
        th.join(5.0)
        t_run = time.perf_counter() - t0
        if errors:
            raise CliError(f"simulator failed: {errors[0]}")
        consumed += len(ring_reader.poll(1 << 16))
        stats = cap.stats()
        readers = ring.readers()
        tails = {f.name: ring.tail(f.name) for f in cap.all_feeds}
        index_handler = cap.index_feed.handler if cap.index_feed is not None else None
        index_names = index_handler.index_names() if index_handler is not None else {}
        ring_reader.close()
        cap.close()

        print(f"generated in {t_gen:.2f} s; sent and captured in {t_run:.2f} s", file=out)
        ok = True
        for f in cap.feeds:
            # (an opened capture's feed: its config, and its store)
            assert f.cfg is not None and f.store is not None
            d = stats["feeds"][f.name]
            exp = sim.expected[f.segment]
            print(f"\n== {f.segment} ({f.name}) on {f.cfg.group}:{f.cfg.port}", file=out)
            print(f"   sent {sim.sent[f.segment]:,} datagrams / {exp.messages:,} messages; received {d['datagrams']:,} "
                  f"datagrams, {d['messages']:,} messages, {d['records']:,} change records", file=out)
            counted = set(COUNTED_ONLY[f.segment]) | {6541}      # (the circuit check: a header, nothing to merge)
            for what, mine in (("merged", False), ("counted, not merged", True)):
                codes = sorted(((c, v) for c, v in d["by_code"].items() if (int(c) in counted) == mine),
                               key=lambda cv: int(cv[0]))
                print(f"   messages by code, {what}: " + (", ".join(f"{c}:{v:,}" for c, v in codes) or "none"),
                      file=out)
            print(f"   errors: {d['errors'] or 'none'}; sequence gaps: {d['gaps']} over {len(d['streams'])} streams",
                  file=out)
            if d["datagrams"] != sim.sent[f.segment] or d["messages"] != exp.messages:
                ok = False
            st = f.store
            snap = st.snapshot()
            order = snap[(-snap["update_count"].astype("int64")).argsort(kind="stable")][:args.top]
            print(f"   busiest of {len(st):,} instruments:", file=out)
            print(f"   {'token':>7} {'symbol':<10} {'updates':>7} {'LTP':>10} {'change':>8} {'bid':>10} {'ask':>10} "
                  f"{'volume':>11} {'OI':>11}", file=out)
            for r in order:
                q = st[int(r["token"])]
                chg = q.last_traded_price - q.close_price if q.close_price and q.last_traded_price else 0
                print(f"   {q.token:>7} {q.symbol[:10]:<10} {q.update_count:>7,} {fmt_paise(q.last_traded_price):>10} "
                      f"{chg / 100:>+8.2f} {fmt_paise(q.bid_price[0]):>10} {fmt_paise(q.ask_price[0]):>10} "
                      f"{q.volume_traded_today:>11,} {q.open_interest:>11,}", file=out)
            if f.segment == "FO" and args.top:
                _show_options(st, snap, instruments, args.top, out)
        if cap.index_feed is not None:
            _show_indices(cap.index_feed, stats["feeds"][cap.index_feed.name], index_names, out)
        print(f"\n== ring {cfg.ring}: " + ", ".join(f"{k} {v:,} records" for k, v in tails.items()), file=out)
        for r in readers:
            print(f"   reader {r.name} ({r.feed}, pid {r.pid}): read {consumed:,} records live; lag {r.lag:,}, "
                  f"laps {r.laps}, lost {r.lost}", file=out)
            if r.laps:
                print(f"   (this reader fell more than the ring's {RING_CAPACITY:,} records behind the writer: "
                      "what it lost is counted; the store holds the state)", file=out)
        print(f"\n== journal under {root}", file=out)
        for f in cap.all_feeds:
            assert f.writer is not None and f.store is not None    # (the demo's config names a journal root)
            rep = verify(f.writer.path)
            size = f.writer.path.stat().st_size
            with Journal.open(f.writer.path) as j:
                live = j.next_seq - j.first_seq              # the live records: the ring's numbers
            cks = (f", and {rep.records - live:,} in {rep.checkpoints} checkpoint" + "s" * (rep.checkpoints != 1)
                   if rep.checkpoints else ", no checkpoint")
            print(f"   {f.writer.path.name} {f.name}: {rep.records:,} records ({live:,} live, the ring's{cks}), "
                  f"{size / 1e6:.2f} MB, {rep.state}, verify {'OK' if rep.ok else 'FAILED'}", file=out)
            replayed = replay_journal_into(f.writer.path, 16384, f.store.header["day_base_ns"])
            n_tok, bad = compare_stores(f.store, replayed)
            print(f"   replaying it into a fresh store: {n_tok:,} tokens compared, "
                  + ("identical to the live store" if not bad else f"DIFFERENT: {'; '.join(bad[:3])}"), file=out)
            ok = ok and rep.ok and not bad
        if not ok:
            raise CliError("the captured data does not match what was sent (see above)")
        print("\nall simulated messages landed in the store, the ring and the journal", file=out)
        return 0
    finally:
        cap.close()
        cap.unlink()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(mdir, ignore_errors=True)


def _show_indices(feed: _Feed, d: dict[str, Any], names: dict[int, str], out: TextIO) -> None:
    """The index feed: every index with its value, change and range (values are x 100 on the wire)."""
    from vega.indices import INDEX_DTYPE
    assert feed.store is not None                  # (an opened capture's feed)
    a = feed.store.snapshot().view(INDEX_DTYPE)
    a = a[a["index_value"] > 0]
    codes = ", ".join(f"{c}:{v:,}" for c, v in sorted(d["by_code"].items())) or "none"
    print(f"\n== indices ({feed.name}, ring slot 2): {len(a)} indices from the CM feed's {codes} messages, "
          f"{d['records']:,} change records", file=out)
    if not len(a):
        return
    print(f"   {'token':>10} {'index':<20} {'value':>10} {'change':>9} {'open':>10} {'high':>10} {'low':>10}",
          file=out)
    for r in a[a["token"].argsort()]:
        name = names.get(int(r["token"]), r["symbol"].decode("latin-1").strip())
        print(f"   {int(r['token']):>10} {name[:20]:<20} {fmt_paise(int(r['index_value'])):>10} "
              f"{int(r['net_change']) / 100:>+9.2f} {fmt_paise(int(r['open'])):>10} {fmt_paise(int(r['high'])):>10} "
              f"{fmt_paise(int(r['low'])):>10}", file=out)


def _show_options(st: Store, snap: npt.NDArray[np.void], instruments: Instruments, top: int,
                  out: TextIO) -> None:
    """The busiest options with their implied volatility (computed in the merge from the master files)."""
    import numpy as np
    meta = instruments.option_meta()
    rows = snap[np.isin(snap["token"], meta["token"]) & (snap["update_count"] > 0)]
    rows = rows[(-rows["update_count"].astype("int64")).argsort(kind="stable")][:top]
    with_iv = int((snap["implied_volatility"][np.isin(snap["token"], meta["token"])] >= 0).sum())
    print(f"   busiest options ({with_iv:,} of {len(meta):,} with an implied volatility):", file=out)
    print(f"   {'token':>7} {'symbol':<10} {'expiry':>10} {'strike':>10} {'type':>4} {'LTP':>10} {'IV':>8}", file=out)
    for r in rows:
        q = st[int(r["token"])]
        ins = instruments.get(q.token)
        iv = f"{q.implied_volatility / 100:.2f}%" if q.implied_volatility >= 0 else "-"
        exp = ins.expiry.date().isoformat() if ins is not None and ins.expiry else "?"
        strike = fmt_paise(ins.strike) if ins is not None else "?"
        print(f"   {q.token:>7} {q.symbol[:10]:<10} {exp:>10} {strike:>10} {ins.option_type if ins else '?':>4} "
              f"{fmt_paise(q.last_traded_price):>10} {iv:>8}", file=out)
