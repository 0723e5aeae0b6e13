"""``vega stat``: the slots and registered readers of a shared-memory ring (tail, lag, laps, heartbeats)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from typing import TYPE_CHECKING, Any

from vega._text import fmt_age
from vega.commands._ops import open_ring

if TYPE_CHECKING:
    from vega.commands import _Subparsers
    from vega._ring import Ring

HELP = "show a ring's slots (tail, records) and readers (position, lag, laps, heartbeat age)"


def register(sub: _Subparsers) -> None:
    p = sub.add_parser("stat", help=HELP, description=(
        "Show the state of a shared-memory ring of a running capture: per feed slot its first sequence number "
        "(a capture restarted during the day starts its ring at the journal's next number), the tail (the "
        "sequence number of the next record), the records published to this ring and those it still holds (at "
        "most its capacity: readers further behind have lost the rest), writer pid and creation "
        "time; per registered reader its name, pid, feed, position, "
        "lag (records behind the tail), laps, records lost, heartbeat age and whether its process lives."))
    p.add_argument("ring", help="ring name (/dev/shm/<name>) or absolute path")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def collect(ring: Ring) -> dict[str, Any]:
    """The ring's state as plain data (what --json prints)."""
    from vega._ring import FEEDS, _pid_alive
    now = time.time_ns()
    slots = []
    for f in FEEDS:
        i = ring.info(f)
        slots.append({"feed": f, "first_seq": int(i["first_seq"]), "tail": int(i["tail"]),
                      "records": int(i["tail"]) - int(i["first_seq"]),
                      "held": min(int(i["tail"]) - int(i["first_seq"]), int(i["capacity"])),
                      "record_count": int(i["record_count"]),
                      "capacity": int(i["capacity"]), "writer_pid": int(i["writer_pid"]),
                      "writer_alive": bool(i["writer_pid"]) and _pid_alive(int(i["writer_pid"])),
                      "created_ns": int(i["created_ns"])})
    readers = []
    for r in ring.readers():
        hb = int(r.heartbeat_ns)
        readers.append({"line": r.line, "name": r.name, "pid": r.pid, "feed": r.feed, "position": int(r.position),
                        "lag": int(r.lag), "laps": int(r.laps), "lost": int(r.lost), "heartbeat_ns": hb,
                        "heartbeat_age_s": (now - hb) / 1e9 if hb else None, "alive": bool(r.alive)})
    return {"ring": ring.path, "now_ns": now, "slots": slots, "readers": readers}


def run(args: argparse.Namespace) -> int:
    """Print the ring's slots and readers."""
    with open_ring(args.ring) as ring:
        st = collect(ring)
    out = sys.stdout
    if args.json:
        print(json.dumps(st), file=out)
        return 0
    print(f"ring {st['ring']}", file=out)
    print(f"  {'feed':<8} {'first seq':>14} {'tail':>14} {'published':>14} {'held':>9} {'capacity':>9} "
          f"{'writer pid':>16}", file=out)
    for s in st["slots"]:
        pid = "-" if not s["writer_pid"] else f"{s['writer_pid']}" + ("" if s["writer_alive"] else " (exited)")
        print(f"  {s['feed']:<8} {s['first_seq']:>14,} {s['tail']:>14,} {s['records']:>14,} {s['held']:>9,} "
              f"{s['capacity']:>9,} {pid:>16}", file=out)
    if not st["readers"]:
        print("  no registered readers", file=out)
        return 0
    print(f"  {'reader':<24} {'pid':>8} {'feed':<8} {'position':>14} {'lag':>10} {'laps':>6} {'lost':>10} "
          f"{'heartbeat':>9}  state", file=out)
    for r in st["readers"]:
        age = fmt_age(int(r["heartbeat_age_s"] * 1e9)) if r["heartbeat_age_s"] is not None else "-"
        print(f"  {r['name'] or '(unnamed)':<24} {r['pid']:>8} {r['feed']:<8} {r['position']:>14,} "
              f"{r['lag']:>10,} {r['laps']:>6,} {r['lost']:>10,} {age:>9}  "
              f"{'alive' if r['alive'] else 'dead'}", file=out)
    return 0
