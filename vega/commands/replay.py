"""``vega replay``: a date range of a journal root into a new shared-memory ring and/or store."""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import numpy.typing as npt

from vega.commands import CliError, ascii_int, float_upto
from vega.commands._ops import (BOUND_FORMS, journal_root, missing_text, parse_bound, parse_feeds, parse_tokens,
                                store_class)

if TYPE_CHECKING:
    from vega.commands import _Subparsers

HELP = "replay journals into a new shared-memory ring and/or store, paced or flat out"


def register(sub: _Subparsers) -> None:
    p = sub.add_parser("replay", help=HELP, description=(
        "Replay the journals under ROOT from START to END in time order across days and feeds into a new "
        "shared-memory ring (every feed to its slot) and/or a new store (one feed), flat out or paced by "
        "the recorded timestamps. Bounds are trading dates (END inclusive) or IST times "
        "YYYY-MM-DDTHH:MM[:SS[.fraction]] (END exclusive). A progress line goes to stderr."))
    p.add_argument("root", help="journal root (holding <FEED>/YYYYMMDD.bin)")
    p.add_argument("start", help=BOUND_FORMS)
    p.add_argument("end", nargs="?", help="as START (default: the whole START day)")
    p.add_argument("--ring", help="create this ring (/dev/shm/<name>) and publish every feed's live records "
                   "into it (checkpoints go to --store only, as in a capture); its positions are the journal's "
                   "sequence numbers, from the first record replayed")
    p.add_argument("--store", help="create this store (/dev/shm/vega.store.<name>) and apply one feed to it; from "
                   "a START time it first gets the state at START (nearest checkpoint and the records after it)")
    p.add_argument("--capacity", type=ascii_int, default=262144,
                   help="store capacity in instruments (default 262144)")
    p.add_argument("--replace", action="store_true", help="replace an existing ring or store of that name (a "
                   "stale one, e.g. a stopped capture's: never one a running process writes, nor a file that is "
                   "not a VEGA ring or store); without it an existing one is left as it is and the replay refused")
    p.add_argument("--feeds", help="comma-separated feeds (default: every feed directory present)")
    p.add_argument("--tokens", help="only these tokens (comma separated)")
    p.add_argument("--speed", type=float_upto(1e6, 1e-3), default=None,
                   help="pace by the recorded timestamps, SPEED times real time (1 = real time, 0.001 to "
                        "1,000,000); default flat out")
    p.add_argument("--max-gap", type=float_upto(1e9, 1e-6, " seconds"), default=5.0,
                   help="when paced, shorten recorded gaps longer than this many seconds (default 5)")
    p.add_argument("--no-progress", action="store_true", help="no progress line")
    p.set_defaults(func=run)


class _Progress:
    """A progress line on stderr, rewritten in place at most every 0.2 s: records replayed of ``total`` (those the
    replay delivers; 0 when not known, as with --tokens: no percentage).  Once more are replayed, a file grew since
    it was counted (today's, a capture writing it: the replay reads what a file holds when it gets to it, and
    ``next_seq`` hands over to the live ring from there): ``recount`` gives the total again."""

    def __init__(self, enabled: bool, total: int, recount: Callable[[], int] | None = None):
        self.enabled = enabled and sys.stderr.isatty()
        self.total = total
        self.recount = recount
        self.n = 0
        self.t0 = time.monotonic()
        self.last = 0.0

    def add(self, n: int, feed: str) -> None:
        self.n += n
        now = time.monotonic()
        if self.enabled and now - self.last >= 0.2:
            self.last = now
            if self.total and self.n > self.total and self.recount is not None:
                self.total = max(self.n, self.recount())
            of = f"/{self.total:,}" if self.total else ""
            pct = f" {min(100.0, 100 * self.n / self.total):5.1f}%" if self.total else ""
            rate = self.n / max(now - self.t0, 1e-9)
            sys.stderr.write(f"\rreplay: {self.n:,}{of} records{pct}, {rate:,.0f} rec/s, {feed}   ")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _days(start: _dt.date, end: _dt.date | None) -> tuple[_dt.date, _dt.date]:
    d0 = start if isinstance(start, _dt.date) and not isinstance(start, _dt.datetime) else start.date()
    if end is None:
        return d0, d0
    d1 = end if isinstance(end, _dt.date) and not isinstance(end, _dt.datetime) else end.date()
    return d0, d1


def _has_records(path: Path) -> bool:
    """Whether the journal file at ``path`` holds a record (by its size: a damaged one is the replay's to
    refuse, with the file named)."""
    try:
        return path.stat().st_size >= 64 + 32
    except OSError:
        return False


def _first_seqs(start: _dt.date, files: list[tuple[_dt.date, str, Path]]) -> dict[str, int]:
    """Per feed, the sequence number of the first live record a replay from ``start`` publishes (its journal's
    number for it), so that the ring's positions are the journal's numbers, as in a capture's ring: in the
    day before's file when its night past midnight reaches ``start`` (a time), else in the first file of the
    range.  ``files``: the range's (day, feed, path) from journal_files, the day before's first when read."""
    from vega._journal import day_epoch_ns
    from vega.journal import Journal, _bound
    d0, lo = _bound(start, False)
    out: dict[str, int] = {}
    for day, f, p in files:
        if f in out:
            continue
        with Journal.open(p, feed=f) as j:
            pos = 0 if lo is None else j.position(max(0, lo - day_epoch_ns(day)))
            if day >= d0 or pos < len(j):
                out[f] = j.seq_at(pos)
    return out


def _check_store(name: str, replace: bool) -> None:
    """CliError unless ``--store NAME`` may be created: nothing at its path, or with ``--replace`` a store
    ``Store.create`` replaces (its writer gone, e.g. a stopped capture's store left for readers).  Never a live
    writer's store nor a file that is not a VEGA store, with or without --replace."""
    import os
    from vega._core import _clear_stale, _shm_path
    from vega.store import StoreBusyError, StoreFormatError
    try:
        path = _shm_path(name)
    except ValueError as e:
        raise CliError(f"--store {name!r}: {e}") from None
    if not os.path.lexists(path):
        return
    try:
        _clear_stale(name, path, check_only=True)  # would Store.create refuse it? then say why
    except StoreBusyError:
        raise CliError(f"store {name!r} is being written by another process (a running capture?); refusing to "
                       f"replace it ({path})") from None
    except StoreFormatError as e:
        raise CliError(f"store {str(e).replace('refusing to remove it', 'refusing to replace it')}") from None
    except OSError as e:
        raise CliError(f"store {name!r}: cannot check {path}: {e.strerror or e}") from None
    if not replace:
        raise CliError(f"store {name!r} exists ({path}): --replace to replace it")


def run(args: argparse.Namespace) -> int:
    """Replay; print a summary line (records, next sequence number per feed, elapsed)."""
    from vega.journal import FEEDS, JournalError, _replay_count, _to_ring, journal_files, replay
    from vega.store import StoreFullError
    if not args.ring and not args.store:
        raise CliError("nothing to replay into: give --ring NAME and/or --store NAME")
    root = journal_root(args.root)
    start = parse_bound(args.start, "start")
    end = None if args.end is None else parse_bound(args.end, "end")
    d0, d1 = _days(start, end)
    if d1 < d0 or (isinstance(start, _dt.datetime) and isinstance(end, _dt.datetime) and end <= start):
        raise CliError(f"end {args.end} is not after start {args.start}")
    if args.speed is not None and not args.speed > 0:
        raise CliError("--speed must be positive (leave it out to replay flat out)")
    if args.max_gap is not None and args.max_gap <= 0:
        raise CliError("--max-gap must be positive")
    if args.capacity <= 0:
        raise CliError("--capacity must be positive")
    feeds = parse_feeds(args.feeds) or [f for f in FEEDS if (root / f).is_dir()]
    tokens = parse_tokens(args.tokens)
    if args.store and len(feeds) > 1:
        raise CliError(f"--store takes one feed (tokens of different feeds collide): add --feeds, "
                       f"one of {', '.join(feeds)}")
    # from a time, the day before's night past midnight may hold records at or after START
    files = journal_files(root, feeds, d0 - _dt.timedelta(days=1) if isinstance(start, _dt.datetime) and
                          d0 > _dt.date.min else d0, d1)
    if not any(_has_records(p) for _, _, p in files):
        raise CliError(f"no journal records under {root} for {d0}..{d1} ({', '.join(feeds)})")
    # the records the replay delivers, for the percentage: within the bounds, up to where an unsealed file's
    # records end on a whole update (the files' sizes counted index tables and the day before's whole file, so
    # a replay from a time never got near 100 %); unknown with --tokens, which the files' indexes do not tell
    total = 0 if tokens is not None else _replay_count(files, start, end)
    if args.store:                                # before anything is made: an existing store needs --replace
        _check_store(args.store, args.replace)

    ring = store = None
    done = False                                  # else the ring and store made here are removed again
    prog = _Progress(not args.no_progress, total, lambda: _replay_count(files, start, end))
    try:
        if args.ring:
            from vega._ring import Ring, RingBusyError, RingError, _check_replace, ring_path
            # positions = the journal's numbers (replay, then read the ring from next_seq, as with a capture),
            # unless --tokens leaves records out; across days as far as the days' numbering continues
            firsts = _first_seqs(start, files) if tokens is None else None
            try:
                try:
                    ring = Ring.create(args.ring, replace=args.replace, first_seq=firsts)
                except FileExistsError:
                    _check_replace(ring_path(args.ring))   # would --replace refuse it too? then say why
                    raise CliError(f"ring {args.ring!r} exists: --replace to replace it") from None
            except RingBusyError as e:                  # Ring.create(replace=True) replaces no live writer's ring
                who = f"pid {e.pid}" if getattr(e, "pid", None) else "another process"
                raise CliError(f"ring {args.ring!r} is being written by {who} (a running capture?); refusing to "
                               "replace it") from None
            except RingError as e:                      # not a ring (the message names the path): left alone
                raise CliError(f"ring {e}") from None
            except (OSError, ValueError) as e:
                raise CliError(f"cannot create ring {args.ring!r}: {e}") from None
        if args.store:
            Store = store_class()
            try:
                store = Store.create(args.store, args.capacity)
            except Exception as e:  # StoreBusyError, PermissionError, ...
                raise CliError(f"cannot create store {args.store!r}: {e}") from None

        t0 = time.monotonic()
        n_state = 0
        if store is not None and isinstance(start, _dt.datetime):
            # the store starts from the state at START (the nearest checkpoint and the records after it), so
            # that it ends holding the state at END; the ring gets the range only, as a capture's ring
            n_state = replay(root, start, start, feeds=feeds, into=store, state=True,
                             tokens=None if tokens is None else tokens.tolist()).state_records
        published = [0]                               # records into the ring

        class Target:
            """One feed's target: the ring (live records only, as the capture's ring) and the store, which takes
            each journal's day as the base of its last-update times."""

            def __init__(self, feed: str):
                self.feed = feed

            def apply_records(self, recs: npt.NDArray[np.void], day_base_ns: int) -> None:
                if ring is not None:              # (a damaged record refused, as the store refuses it)
                    published[0] += _to_ring(ring, self.feed, recs)
                if store is not None:
                    store.apply_records(recs, day_base_ns=day_base_ns)
                prog.add(len(recs), self.feed)

        # one replay of the whole range: its bounds cut a day's night past midnight where END says, and pacing
        # runs on across days (nights shortened to --max-gap)
        res = replay(root, start, end, feeds=feeds, speed=args.speed, into={f: Target(f) for f in feeds},
                     tokens=None if tokens is None else tokens.tolist(),
                     max_gap=args.max_gap if args.speed else None, state=False)
        n_total, next_seq, missing, outside = res.records, res.next_seq, res.missing, res.outside
        prog.done()
        done = True
    except KeyboardInterrupt:                     # stopped: what was replayed so far stays
        prog.done()
        done = True
        raise
    except StoreFullError:
        raise CliError(f"store {args.store!r} is full at {args.capacity:,} instruments: give a larger "
                       f"--capacity") from None
    except PermissionError as e:
        raise CliError(f"permission denied: {e.filename or e}") from None
    except JournalError as e:
        raise CliError(f"{e} (vega verify {root} tells which files are damaged and which --repair can mend)") \
            from None
    except ValueError as e:                       # (the arguments were checked above): a damaged record the store
        raise CliError(str(e)) from None          # or the ring refused; the message names the file and the record
    finally:
        if ring is not None:
            ring.close()
            if not done:
                Ring.unlink(args.ring)
        if store is not None:
            if not done:
                store.unlink()
            store.close()
    el = time.monotonic() - t0
    where = " and ".join(x for x in (f"ring {args.ring}" if args.ring else "",
                                     f"store {args.store}" if args.store else "") if x)
    seqs = ", ".join(f"{f} next_seq={s}" for f, s in sorted(next_seq.items()))
    state = f", the store from the state at {args.start} ({n_state:,} records)" if n_state else ""
    if ring is not None and published[0] != n_total:   # checkpoints go to a store only, as in a capture
        where += f" ({published[0]:,} live records into the ring; the checkpoints' {n_total - published[0]:,} not)"
    gaps = f"; {missing_text(missing, feeds, outside)}" if missing or outside else ""
    print(f"replayed {n_total:,} records into {where}{state} in {el:.2f} s ({seqs}){gaps}", file=sys.stdout)
    return 0
