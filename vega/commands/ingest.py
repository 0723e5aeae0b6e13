"""``vega ingest``: run recorded packet captures (pcap / pcapng) through the pipeline into store + ring + journal,
each datagram at the time it was captured."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vega._files import missing_dirs, remove_empty
from vega.commands import CliError
from vega.commands.capture import add_pipeline_options, stats_counts, stop_signals

if TYPE_CHECKING:
    from vega.commands import _Subparsers

HELP = "run recorded pcap/pcapng captures of the feeds through the pipeline into the journal (and store, ring)"


def register(sub: _Subparsers) -> None:
    p = sub.add_parser("ingest", help=HELP, description=HELP + ". Datagrams go to the feed configured for their "
                       "destination group and port (as `vega capture` would receive them) at their capture "
                       "times, which drive the journal's days and checkpoints, in capture order across the feeds.")
    p.add_argument("pcap", nargs="+", help="capture files, in time order: a file whose first datagrams are of a "
                   "day earlier than the one being ingested, or a file starting before what the files before it "
                   "journaled, stops the ingest (an earlier day's datagram after the file's datagrams of the day "
                   "is a corrupt time: counted, skipped) (tcpdump -w, dumpcap, vega simulate --out; gzip, xz, "
                   "bzip2 or zstd compressed too); - reads standard input")
    add_pipeline_options(p)
    p.add_argument("--json", action="store_true", help="the summary as one JSON object on stdout")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar on stderr (tqdm; default: when stderr is a terminal)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vega.capture import Capture, CaptureError, FeedConfig, load_config
    from vega.pcap import PcapError, PcapStats

    try:
        feeds = [FeedConfig(s, h, p) for s, h, p in args.feed] if args.feed else None
        cfg = load_config(args.config, feeds=feeds, journal_root=args.journal_root, ring=args.ring,
                          store=args.store, store_capacity=args.store_capacity, contract=args.contract,
                          security=args.security, iv_rate=args.iv_rate, index_master=args.index_master)
    except CaptureError as e:
        raise CliError(str(e)) from None
    pst = PcapStats()
    bar = _progress_bar(args)
    cap = Capture(cfg)                           # opens itself at the first datagram's capture time
    # the directories of the journal that are not there yet (the feeds', the root and its parents): those the
    # ingest leaves empty go again
    made = missing_dirs(Path(cfg.journal_root) / f.name for f in cap.all_feeds) if cfg.journal_root else []
    error = None
    interrupted = False
    old = _stop_as_interrupt()
    try:
        try:
            cap.ingest_pcap(args.pcap, pst, progress=bar.update if bar is not None else None)
        except (PcapError, CaptureError) as e:    # what came before is in; the journals are sealed below
            if not cap.opened:                    # refused at the opening: what it did that stays, then why
                for note in cap.start_notes():
                    print(f"vega ingest: {note}", file=sys.stderr)
                raise CliError(str(e)) from None
            error = str(e)
        except KeyboardInterrupt:                 # SIGINT, SIGTERM, SIGHUP: so is it; the summary, then status 130
            if not cap.opened:
                raise
            interrupted = True
        if not cap.opened:                        # (the skipped ones say why: all stamped in the future ...)
            skipped = ", ".join(f"{k} {v:,}" for k, v in pst.skipped().items())
            raise CliError(f"no UDP datagrams to ingest in {', '.join(args.pcap)} ({pst.packets:,} packets"
                           + (f"; skipped: {skipped})" if skipped else ")"))
        # every day file of the run, for the summary; what the files made, not how fast (rates over the wall clock)
        stats = stats_counts(cap.stats(earlier_days=None))
    finally:
        try:
            cap.close()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
        if bar is not None:
            bar.close()
        # the day files made for a feed that got nothing that day (a capture of other groups, or of one segment):
        # not kept, so that no day looks captured for it (replay lists such days as missing); and the directories
        # made for them, left empty.  On every end: an opening refused or stopped midway (a store that cannot be
        # made after the first feed's journal was) made them too, and left them behind
        removed = set(cap.remove_unused_day_files())
        remove_empty(made)
    for f in cap.all_feeds:                       # a journal that failed at its seal (close) failed after stats
        j = stats["feeds"].get(f.name, {}).get("journal")
        if j and f.journal_error is not None:
            j["failed"] = f.journal_error
        if j:
            j["removed"] = [p for p in [*(e["path"] for e in j["earlier_days"]), j["path"]] if p in removed]
            j["earlier_days"] = [e for e in j["earlier_days"] if e["path"] not in removed]
            if j["path"] in removed:
                j["path"] = None
    for note in cap.start_notes():                # what opening the journals and the ring found (on stderr)
        print(f"vega ingest: {note}", file=sys.stderr)
    summary = {"files": args.pcap, "packets": pst.packets, "udp_datagrams": pst.datagrams,
               "other_destination": cap.other_destination, "skipped": pst.skipped(),
               "link_types": pst.link_types, "feeds": stats["feeds"]}
    if args.json:
        print(json.dumps(summary))
    else:
        skipped = ", ".join(f"{k} {v:,}" for k, v in summary["skipped"].items()) or "none"
        print(f"{pst.packets:,} packets, {pst.datagrams:,} UDP datagrams ({cap.other_destination:,} to no "
              f"configured feed); skipped: {skipped}")
        for name, d in stats["feeds"].items():
            errs = ", ".join(f"{k} {v:,}" for k, v in d["errors"].items()) or "none"
            j = d.get("journal")
            jtxt = "".join(f"; journal {e['path']} ({_records(e['records'], e['checkpoint_records'])})"
                           for e in (j.get("earlier_days", []) if j else []))
            if j and j["removed"]:
                jtxt += f"; no journal: nothing came for it, its empty day file removed ({', '.join(j['removed'])})"
            if j and j["path"] is not None:       # a failed journal holds what it wrote, not what it took
                jtxt += (f"; journal FAILED: {j['failed']}" if j.get("failed")
                         else f"; journal {j['path']} ({_records(j['records'], j['checkpoint_records'])})")
            full = d.get("merge", {}).get("store_full", 0)
            ftxt = f"; STORE FULL: {full:,} updates dropped" if full else ""
            late = f", {d['out_of_order']:,} out of order" if d.get("out_of_order") else ""
            print(f"{name}: {d['datagrams']:,} datagrams, {d['messages']:,} messages, {d['records']:,} change "
                  f"records, {d['instruments']:,} instruments; errors {errs}; gaps {d['gaps']:,} "
                  f"(missed {d['missed']:,}{late}){ftxt}{jtxt}")
    early = summary["skipped"].get("earlier_day_timestamp", 0)
    if early:                                     # journaled without them: say so where a person looks
        print(f"vega ingest: {early:,} datagram{'s' if early > 1 else ''} stamped on an earlier day amid a file's "
              "own day skipped as corrupt times (a file of captures joined out of time order shows its earlier "
              "part so: ingest such parts as files in time order)", file=sys.stderr)
    if interrupted:
        raise KeyboardInterrupt
    if error is not None:
        raise CliError(f"{error} (what came before it was ingested and sealed)")
    if pst.datagrams and not any(d["datagrams"] for d in stats["feeds"].values()):
        routes = ", ".join(f"{f.segment}={f.group}:{f.port}" for f in cfg.feeds)
        raise CliError(f"none of the {pst.datagrams:,} UDP datagrams went to a configured feed ({routes}): "
                       "check --feed or the config's groups and ports against the capture's destinations")
    full = {name: n for name, d in stats["feeds"].items() if (n := d.get("merge", {}).get("store_full"))}
    if full:                                      # the journals lack those updates: not a whole ingest
        raise CliError(f"the store was full ({cfg.store_capacity:,} instruments a feed): the updates of tokens past "
                       "it were dropped, " + ", ".join(f"{name} {n:,}" for name, n in full.items())
                       + " (the store, ring and journal lack them); ingest again with a larger --store-capacity, "
                         "after removing the day files written")
    failed = cap.journal_failures()
    if failed:
        raise CliError("the journal failed: " + "; ".join(failed))
    return 0


def _records(records: int, checkpoint_records: int) -> str:
    """A day file's records as the stats line gives a journal's: its change records (which sum to the summary's
    change records over a run's files), and those of its checkpoints apart."""
    return (f"{records - checkpoint_records:,} change records + {checkpoint_records:,} in checkpoints"
            if checkpoint_records else f"{records:,} change records")


def _stop_as_interrupt() -> dict[signal.Signals, Any]:
    """SIGTERM and SIGHUP (a `timeout`, a closed ssh session; not under nohup) stop the ingest as SIGINT does:
    what came before is journaled and sealed, the unused day files removed, the summary printed, then one line,
    status 130.  They killed it with its journals unsealed.  Returns the handlers they had."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    return {s: signal.signal(s, interrupt) for s in stop_signals() if s != signal.SIGINT}


def _progress_bar(args: argparse.Namespace) -> Any:      # a tqdm bar (tqdm is untyped) or None
    """tqdm over the files' bytes, or None (not asked for, not a terminal, or tqdm not installed)."""
    import os
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    if not show:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    total = sum(os.path.getsize(p) for p in args.pcap if os.path.exists(p))
    return tqdm(total=total, unit="B", unit_scale=True, desc="ingest", file=sys.stderr)
