"""``vega dump``: the change records of one journal file, filtered by token and time, as a table or JSON lines."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from vega.commands import CliError, ascii_int
from vega.commands._ops import flags_text, fmt_ts, open_journal, parse_time, parse_tokens
from vega.records import FieldValue, field_values, group_name

if TYPE_CHECKING:
    from vega.commands import _Subparsers
    from vega._journal import Journal

HELP = "print the change records of a journal file (filter by token and time)"


def _show(v: FieldValue) -> FieldValue:
    """A field's value in the text listing: a string that is empty or has blanks at either end (the net
    change indicator's ' ', a padded symbol) is quoted, so the line still reads as key=value pairs."""
    if isinstance(v, str) and (not v or v != v.strip()):
        return repr(v)
    return v
def register(sub: _Subparsers) -> None:
    p = sub.add_parser("dump", help=HELP, description=(
        "Print the change records of one journal file <root>/<FEED>/YYYYMMDD.bin: sequence number, IST time "
        "(ts48 decoded), token, group, flags (C continued, K keyframe, E checkpoint end), source message code and "
        "the named field values of the record (docs/FORMATS.md, 'Change records')."))
    p.add_argument("path", help="journal file, e.g. /var/lib/vega/NSE_FO/20260123.bin")
    p.add_argument("--tokens", help="only these tokens (comma separated)")
    p.add_argument("--from", dest="start", metavar="HH:MM[:SS[.f]]", help="first time, IST (inclusive; 24:00 to "
                   "47:59 for a night past midnight kept in the day's file, as listed)")
    p.add_argument("--to", dest="end", metavar="HH:MM[:SS[.f]]", help="last time, IST (exclusive)")
    p.add_argument("--limit", type=ascii_int, default=None, help="print at most N records")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    p.add_argument("--no-keyframes", action="store_true", help="leave out checkpoint (keyframe) records")
    p.set_defaults(func=run)


def select(j: Journal, tokens: npt.NDArray[np.uint32] | None, t0: int | None, t1: int | None,
           keyframes: bool = True) -> npt.NDArray[np.intp]:
    """Record numbers of journal ``j`` in [t0, t1) (ns since 00:00 IST; None = open) with those tokens."""
    a = 0 if t0 is None else j.position(t0)
    b = len(j) if t1 is None else j.position(t1)
    b = max(a, b)
    recs = j.records[a:b]
    keep = np.ones(len(recs), dtype=bool)
    if tokens is not None:
        keep &= np.isin(recs["token"], tokens)
    if not keyframes:
        keep &= (recs["flags"] & 0x02) == 0
    return np.flatnonzero(keep) + a


def run(args: argparse.Namespace) -> int:
    """Print the selected records; exit 0 (also when none match)."""
    from vega.records import timestamps
    tokens = parse_tokens(args.tokens)
    # a day whose rollover is after 00:00 holds its night past midnight as 24:00 and on, as listed below
    t0 = None if args.start is None else parse_time(args.start, "--from time", hours=48)
    t1 = None if args.end is None else parse_time(args.end, "--to time", hours=48)
    if t0 is not None and t1 is not None and t1 <= t0:
        raise CliError(f"--to {args.end} is not after --from {args.start}")
    if args.limit is not None and args.limit <= 0:
        raise CliError("--limit must be positive")
    out = sys.stdout
    with open_journal(args.path) as j:
        pos = select(j, tokens, t0, t1, keyframes=not args.no_keyframes)
        if args.limit is not None:
            pos = pos[:args.limit]
        date = j.date.isoformat()
        feed = j.feed
        if not args.json:
            print(f"# {args.path}: {feed} {date}, {len(j):,} records, "
                  f"{'sealed' if j.sealed else 'open'}; {len(pos):,} selected", file=out)
            print(f"{'seq':>10} {'time (IST)':<18} {'token':>8} {'group':<12} {'fl':<3} {'src':>5}  fields",
                  file=out)
        for start in range(0, len(pos), 8192):
            chunk = pos[start:start + 8192]
            recs = j.records[chunk]
            ts = timestamps(recs)
            seqs = j.seq_of(chunk).tolist()
            lines = []
            for q, r, t in zip(seqs, recs, ts):
                g, mask, fl = int(r["group"]), int(r["mask"]), int(r["flags"])
                fields = field_values(g, mask, r["slots"])
                if args.json:
                    lines.append(json.dumps({
                        "seq": q, "date": date, "feed": feed, "time": fmt_ts(t), "ts48": int(t),
                        "token": int(r["token"]), "group": g, "group_name": group_name(g), "mask": mask,
                        "flags": fl, "source": int(r["source"]), "fields": fields,
                        "slots": [int(s) for s in r["slots"]]}))
                else:
                    text = " ".join(f"{k}={_show(v)}" for k, v in fields.items())
                    lines.append(f"{q:>10} {fmt_ts(t):<18} {int(r['token']):>8} "
                                 f"{group_name(g):<12} {flags_text(fl):<3} {int(r['source']):>5}  {text}")
            try:
                out.write("\n".join(lines) + ("\n" if lines else ""))
            except BrokenPipeError:  # `vega dump ... | head`: stop quietly
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                return 0
    return 0
