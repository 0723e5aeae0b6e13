"""``vega export``: journals to Parquet or CSV (one row per change record, partitioned by date and feed)."""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vega._files import missing_dirs, remove_empty
from vega.commands import CliError
from vega.commands._ops import DATE_FORMS, journal_root, missing_text, parse_date, parse_feeds
from vega.journal import _COMPRESSIONS, _FORMATS

if TYPE_CHECKING:
    from vega.commands import _Subparsers

HELP = "export journals to Parquet or CSV, partitioned date=YYYY-MM-DD/feed=FEED (needs the export extra)"


def register(sub: _Subparsers) -> None:
    p = sub.add_parser("export", help=HELP, description=(
        "Write the change records of a date range of journals as Parquet (or CSV), one row per record (ts as "
        "timestamp[ns, Asia/Kolkata], seq, token, group, flags, mask, source, slot0..slot3), hive-"
        "partitioned <out>/date=YYYY-MM-DD/feed=<FEED>/part-0.parquet (part-0.csv, part-0.csv.gz). Needs "
        "pyarrow: pip install 'vega[export]'."))
    p.add_argument("root", help="journal root (holding <FEED>/YYYYMMDD.bin)")
    p.add_argument("out", help="output directory")
    p.add_argument("start", help=f"first trading date ({DATE_FORMS})")
    p.add_argument("end", nargs="?", help="last trading date, inclusive (default: start)")
    p.add_argument("--feeds", help="comma-separated feeds (default: every feed directory present)")
    p.add_argument("--format", default="parquet", choices=list(_FORMATS),
                   help="parquet (default), or csv: the same columns and rows as text, ts to the nanosecond")
    p.add_argument("--compression", choices=list(_COMPRESSIONS),
                   help="Parquet: zstd (default), snappy, gzip, lz4, brotli or none; CSV: none (default) or gzip "
                        "(part-0.csv.gz)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export; print one line per file written."""
    from vega.journal import (FEEDS, JournalError, _absent, _check_export_dir, _export_compression,
                              _import_pyarrow, export, journal_files)
    try:
        _import_pyarrow()                                 # checked here: the export imports it later
    except ImportError as e:
        raise CliError(str(e).removeprefix("vega.export ")) from None
    root = journal_root(args.root)
    d0 = parse_date(args.start, "start date")
    d1 = d0 if args.end is None else parse_date(args.end, "end date")
    if d1 < d0:
        raise CliError(f"end date {d1} is before start date {d0}")
    feeds = parse_feeds(args.feeds)
    compression = args.compression or "auto"
    try:
        _export_compression(compression, args.format)     # checked before the output directory is made
    except ValueError:
        raise CliError(f"--format csv takes --compression none or gzip, not {args.compression}") from None
    out = Path(args.out)
    try:
        _check_export_dir(out)
    except ValueError as e:
        raise CliError(str(e).removeprefix("export: ")) from None
    if out.exists() and not out.is_dir():
        raise CliError(f"{out}: exists and is not a directory")
    names = feeds or [f for f in FEEDS if (root / f).is_dir()]
    files = journal_files(root, names, d0, d1)       # listed: a range of centuries is no slower than a week
    if not files:
        raise CliError(f"no journal files under {root} for {d0}..{d1} ({', '.join(names)})")
    made = missing_dirs([out])                                    # the directories this export makes
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"output directory {out}: cannot create it ({e.strerror or e})") from None
    try:
        try:
            # each file as it lands: an export that fails on a later day has said which days it wrote
            export(root, out, d0, d1, feeds, progress=not args.no_progress and sys.stderr.isatty(),
                   format=args.format, compression=compression, on_file=lambda p: print(p, flush=True))
        except BaseException:
            # refused (a damaged day: every day is checked before anything is written), failed or stopped: the
            # directories made here go again when nothing was written in them (an empty one was left behind)
            remove_empty(made)
            raise
    except PermissionError as e:
        raise CliError(f"permission denied: {e.filename or e}") from None
    except JournalError as e:
        raise CliError(str(e)) from None
    except OSError as e:                          # "[Errno 28] cannot write PATH: No space left on device"
        raise CliError(e.strerror if e.errno and e.strerror else str(e)) from None
    unsealed = _unsealed(files)
    if unsealed:                                  # a note: the export holds those files as far as they go now
        print(f"vega export: not sealed, exported as far as they were written: {', '.join(unsealed)}",
              file=sys.stderr)
    # days left out: those between the first file and the last without one, and the range's ends before and
    # after them (a note: the paths above are the output)
    missing, outside = _absent(files, names, d0, d1)
    if missing or outside:
        print(f"vega export: {missing_text(missing, names, outside)}", file=sys.stderr)
    return 0


def _unsealed(files: list[tuple[_dt.date, str, Path]]) -> list[str]:
    """"NSE_FO 2026-11-25 (being written)" for each (day, feed, path) whose file is not sealed: being written by
    a running capture, or left unsealed by one that stopped (vega verify --repair seals it)."""
    from vega.journal import Journal, JournalError, held_by_writer
    out = []
    for d, f, p in files:
        try:
            with Journal.open(p) as j:
                if j.sealed:
                    continue
        except (JournalError, OSError):
            continue
        out.append(f"{f} {d} ({'being written' if held_by_writer(p) else 'its writer gone: vega verify --repair'})")
    return out
