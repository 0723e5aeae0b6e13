"""``vega capture``: join the feeds, run the pipeline into store + ring + journal, report stats."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable

from vega.commands import CliError, ascii_int, finite_float, took_stop_signals

if TYPE_CHECKING:
    from vega.capture import Capture
    from vega.commands import _Subparsers

HELP = "capture the NSE multicast feeds into the store, the ring and the daily journal"


def _feed(text: str) -> tuple[str, str, int]:
    seg, _, rest = text.partition("=")
    host, sep, port = rest.rpartition(":")
    if seg.upper() not in ("FO", "CM") or not sep or not (port.isascii() and port.isdigit()):   # ASCII digits
        raise argparse.ArgumentTypeError(f"{text!r} is not SEGMENT=GROUP:PORT (e.g. FO=239.70.2.1:34302)")
    return seg.upper(), host, int(port)


def add_pipeline_options(p: argparse.ArgumentParser) -> None:
    """The options `vega capture` and `vega ingest` share: config, feeds, outputs, master files."""
    p.add_argument("--config", "-c", metavar="FILE.toml", help="TOML config (every key: vega capture --example-config)")
    p.add_argument("--feed", type=_feed, action="append", metavar="SEG=GROUP:PORT",
                   help="a feed (repeatable; replaces the configured feeds), e.g. FO=239.70.2.1:34302")
    p.add_argument("--journal-root", help="journal directory (<root>/<FEED>/YYYYMMDD.bin); '' for none, "
                   "overriding the config")
    p.add_argument("--ring", help="shared-memory ring name; '' for none, overriding the config")
    p.add_argument("--store", help="shared-memory store name prefix (<name>-fo, <name>-cm, <name>-idx); '' for "
                   "stores in this process only, overriding the config")
    p.add_argument("--store-capacity", type=ascii_int, metavar="N",
                   help="instruments per segment (default 262144; a named store reserves all of it in /dev/shm: "
                        "117 MiB at the default)")
    p.add_argument("--contract", metavar="FILE", help="NSE contract.txt: F&O symbols and the options' IV metadata")
    p.add_argument("--security", metavar="FILE", help="NSE security.txt: CM symbols")
    p.add_argument("--index-master", metavar="FILE",
                   help="index name,token lines for the NFO_IDX feed (default: vega.indices.DEFAULT_INDEX_TOKENS)")
    p.add_argument("--iv-rate", type=finite_float, help="rate of the implied volatility (default 0.10)")


def example_config() -> str:
    """The example capture config that ships with VEGA (vega/capture.example.toml): every key, commented."""
    from importlib.resources import files
    return files("vega").joinpath("capture.example.toml").read_text(encoding="utf-8")


def register(sub: _Subparsers) -> None:
    p = sub.add_parser("capture", help=HELP, description=HELP + ". Stops cleanly on SIGINT, SIGTERM or SIGHUP "
                       "(journal sealed; SIGQUIT and SIGKILL leave it unsealed: the next start recovers it). The "
                       "ring and the stores stay in /dev/shm after a stop, for readers (the next capture replaces "
                       "them; --remove-shm removes them). Flags override the config file.")
    add_pipeline_options(p)
    p.add_argument("--interface", help="interface address to join the groups on (default 127.0.0.1)")
    p.add_argument("--stats-interval", type=finite_float, help="seconds between stats lines (default 5)")
    p.add_argument("--duration", type=finite_float, help="stop after this many seconds")
    p.add_argument("--silence-alarm", type=finite_float, metavar="S",
                   help="seconds without a datagram before a feed is said silent and its group joined again "
                        "(default 30; 0: off)")
    p.add_argument("--json", action="store_true", help="stats as JSON lines on stdout")
    p.add_argument("--example-config", action="store_true",
                   help="capture nothing: print an example config with every key, commented, and exit")
    p.add_argument("--remove-shm", action="store_true",
                   help="capture nothing: remove the ring and stores this config names from /dev/shm (what a "
                        "stopped capture leaves for its readers), refused while a capture writes them or while "
                        "the ring holds records its journal lacks (after a kill: a start adds them)")
    p.set_defaults(func=run)


def _now_ist() -> str:
    """The wall-clock time in IST, to the second, as a stats line shows it."""
    import time
    from vega.capture import clock_ist
    return clock_ist(time.time_ns())


def _say(msg: str) -> None:
    """One line on standard error.  A day-long capture outlives its log: a stderr that cannot be written (the
    reader of `vega capture 2>&1 | tee capture.log` gone, a full disk) is pointed at /dev/null and the capture
    goes on (it stopped at the next warning, with status 0 when stdout was the same closed pipe)."""
    try:
        print(msg, file=sys.stderr, flush=True)
    except OSError:
        from vega.cli import stdout_to_devnull
        stdout_to_devnull(sys.stderr)


def run(args: argparse.Namespace) -> int:
    from vega.capture import Capture, CaptureError, FeedConfig, format_stats, load_config

    if args.example_config:
        sys.stdout.write(example_config())
        return 0
    try:
        feeds = None
        if args.feed:
            feeds = [FeedConfig(s, h, p, args.interface or "127.0.0.1") for s, h, p in args.feed]
        cfg = load_config(args.config, feeds=feeds, journal_root=args.journal_root, ring=args.ring,
                          store=args.store, store_capacity=args.store_capacity,
                          stats_interval=args.stats_interval, contract=args.contract, security=args.security,
                          iv_rate=args.iv_rate, index_master=args.index_master,
                          silence_alarm=args.silence_alarm)
        if args.interface and not args.feed:
            for f in cfg.feeds:
                f.interface = args.interface
            cfg.validate()
        if args.duration is not None and args.duration <= 0:
            raise CaptureError("--duration must be positive")
        cap = Capture(cfg)
        if args.remove_shm:
            done = cap.remove_shared_memory()
            none = ("nothing: the config names no ring and no store (give the capture's: -c FILE)"
                    if not cfg.ring and not cfg.store else "nothing (none of them was there)")
            print("vega capture: removed " + (", ".join(done) if done else none), file=sys.stderr)
            return 0
    except CaptureError as e:
        raise CliError(str(e)) from None

    last: dict[str, dict[str, Any]] = {}
    gone: list[int] = []                          # standard output's reader went away: the stats stop, not the capture

    def report(s: dict[str, Any]) -> None:
        last["stats"] = stats_counts(s)
        if gone:
            return
        try:
            if args.json:
                print(json.dumps(s), flush=True)
            else:
                print(format_stats(s), flush=True)
        except OSError as e:
            # (`vega capture | head`, a log pipe that died, a full disk): a day-long capture goes on capturing,
            # and says so once on stderr; it stopped (quietly and with status 0 for a closed pipe, which no
            # supervisor restarts; for a full disk the trading path stopped where a failing journal does not)
            from vega.cli import stdout_to_devnull
            gone.append(1)
            stdout_to_devnull()
            why = ("the stats output's reader has gone (a closed pipe)" if isinstance(e, BrokenPipeError)
                   else f"cannot write the stats output ({e.strerror or e})")
            _say(f"vega capture: {_now_ist()} {why}; capturing on without stats lines")

    cap.on_warning = lambda msg: _say(f"vega capture: {msg}")
    stopping: list[int] = []
    opening = [1]

    def stop(*_: object) -> None:
        stopping.append(1)
        if opening and len(stopping) > 1:         # asked again while it starts (a start that hangs): given up now
            raise KeyboardInterrupt

    # SIGHUP too: the terminal or ssh session that started the capture closing stops it cleanly (journal
    # sealed), as SIGINT and SIGTERM do, instead of killing it with the journal's buffer unwritten; unless it
    # was started to ignore SIGHUP (nohup): then it goes on.  Caught from before the opening, which makes the
    # day's journals and may take seconds (a restart reads the day's journal): a stop asked meanwhile killed
    # the capture there, its journals unsealed; now it stops once it is open, before receiving
    old = {s: signal.signal(s, stop) for s in stop_signals()}
    took_stop_signals()
    try:
        try:
            cap.open()
        except CaptureError as e:
            # refused late (a feed that cannot join its group): what it did that stays is said before why, each
            # on its line (records a killed capture left in its ring are in the journal now)
            for msg in cap.start_notes():
                _say(f"vega capture: {msg}")
            raise CliError(str(e)) from None
        finally:
            opening.clear()
        final = _capture(args, cap, report, stopping)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    # the final stats: always a last JSON line (what scripts read), but not the same text block twice
    if args.json or last.get("stats") != stats_counts(final):
        report(final)
    if cap.journal_failures():
        # each failure was said in a warning when it happened (the file, why, what became of its records): the
        # last line only names the feeds, where it repeated all of that on one very long line
        names = [f.name for f in cap.all_feeds if f.failed_days or f.journal_error is not None]
        which = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        raise CliError(f"stopped; the journal{'s' if len(names) > 1 else ''} of {which} failed, as the warnings "
                       f"above say (vega verify {cfg.journal_root} checks the files)")
    _say("vega capture: stopped" + (", journal sealed" if cfg.journal_root else "") + f" at {_now_ist()} IST")
    return 0


def stop_signals() -> list[signal.Signals]:
    """The signals that stop a capture or an ingest cleanly (journals sealed): SIGINT, SIGTERM, and SIGHUP unless
    the command was started to ignore it (nohup)."""
    return [signal.SIGINT, signal.SIGTERM] + (
        [signal.SIGHUP] if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN else [])


def stats_counts(s: dict[str, Any]) -> dict[str, Any]:
    """Capture stats without their clock and rates: what tells whether anything happened since other stats (and
    an ingest's summary, which is the same for the same files)."""
    rates = ("datagrams_per_s", "messages_per_s", "rate_s")
    return {k: v if k != "feeds" else {n: {x: y for x, y in d.items() if x not in rates} for n, d in v.items()}
            for k, v in s.items() if k not in ("uptime_s", "time_ns")}


def _capture(args: argparse.Namespace, cap: Capture, report: Callable[[dict[str, Any]], None],
             stopping: list[int]) -> dict[str, Any]:
    """Run the opened capture ``cap`` until its duration, or a stop signal (``stopping``); close it; its final
    stats."""
    cfg = cap.config
    try:
        where = ", ".join(f"{f.segment} {f.group}:{f.port}" for f in cfg.feeds)
        from vega.capture import store_name
        stores = (", ".join(store_name(cfg.store, f.segment) for f in cap.all_feeds) if cfg.store
                  else "private (no store prefix in the config)")
        _say(f"vega capture: receiving {where}; journal {cfg.journal_root or 'off'}; ring {cfg.ring or 'off'}; "
             f"stores {stores}")
        for msg in cap.start_notes() + cap.receive_buffer_warnings():
            _say(f"vega capture: {msg}")
        # from here on what happens is said with the time it happened (IST): a day-long log is read by it
        cap.on_warning = lambda msg: _say(f"vega capture: {_now_ist()} {msg}")
        if not stopping:
            cap.run(args.duration, stop=lambda: bool(stopping), on_stats=report)
        return cap.stats()
    finally:
        cap.close()
