"""The daily journal: public API.

* :class:`JournalWriter` appends change records to ``<root>/<FEED>/YYYYMMDD.bin`` (the capture's copy of the day).
* :class:`Journal` opens one file read-only: ``seek(t)``, ``read(n)``, ``snapshot_at(t)``.
* :func:`replay` replays a date range of several feeds in time order, flat out or paced, into stores, rings or a
  callback.
* :func:`verify` checks a file and can repair a torn tail or a damaged index.
* :func:`export` writes Parquet (or CSV) partitioned by date and feed (needs the ``export`` extra: pyarrow, tqdm).

Times inside a day are ts48: int ns since 00:00 IST of the trading day.  Across days, replay orders records by
the absolute time ``00:00 IST of the trading date + ts48``.  The layout is in docs/FORMATS.md ("Journal").
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import inspect
import math
import numbers
import os
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from vega._journal import (
    cut_header,
    cut_updates,
    _applier,
    _datetime64_epoch_ns,
    _datetime64_scalar,
    _feed_type,
    _index,
    _regular_file,
    _split_ns,
    CHECKPOINT_DTYPE,
    FEEDS,
    HEADER_DTYPE,
    INDEX_ENTRY_DTYPE,
    IST,
    Journal,
    JournalError,
    JournalWriter,
    OPEN,
    SEALED,
    SEALING,
    as_date,
    build_index,
    date_int,
    day_epoch_ns,
    parse_header,
    read_index,
    token_array,
)

from vega._core import _bad_records
from vega._files import StrPath, missing_dirs, remove_empty
from vega.records import CHANGE_RECORD_DTYPE, CONTINUED, KEYFRAME, DayLike, _not_records, timestamps

if TYPE_CHECKING:
    from vega._core import _Tokens       # (the stubs' type: an Iterable[int] takes bytes, which replay refuses)

__all__ = [
    "Journal", "JournalWriter", "JournalError", "replay", "ReplayResult", "verify", "VerifyReport", "export",
    "journal_path", "live_records", "FEEDS", "HEADER_DTYPE", "INDEX_ENTRY_DTYPE", "CHECKPOINT_DTYPE",
]




def journal_path(root: StrPath, feed: str, date: DayLike) -> Path:
    """``<root>/<FEED>/YYYYMMDD.bin``: ``feed`` a feed name in any case (ValueError for another, such as "FO",
    whose path no journal has: Journal.open of it said only that no such file exists)."""
    return Path(root) / _feed_type(feed)[0] / f"{date_int(as_date(date)):08d}.bin"


# ----------------------------------------------------------------------------------------------------------
# verify
# ----------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class VerifyReport:
    """What :func:`verify` found.  ``ok`` is False when anything in ``problems`` is wrong with the file."""

    path: Path
    ok: bool = True
    problems: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    state: str = "?"
    records: int = 0
    torn_bytes: int = 0
    checkpoints: int = 0
    repaired: bool = False
    #: not sealed and no writer holds it: its writer stopped without closing (a crash, a kill, its disk full); a
    #: repair seals it
    abandoned: bool = False
    #: record numbers i whose record is of another token than record i - 1, flagged CONTINUED: an update cut
    #: short (a store replaying the file refuses record i: "a CONTINUED update changes token")
    cut_updates: list[int] = dataclasses.field(default_factory=list)
    #: records that no store applies (an unknown group, a mask naming a field its group lacks, a bad token:
    #: damaged bytes); a repair keeps them, so it cannot make such a file sound
    bad_records: int = 0
    #: the header names another trading date (or feed) than the file's name and directory: replay and export
    #: refuse it (their times count from the header's day); a repair does not rename files, so not repairable
    misnamed: bool = False
    #: shorter than its 64-byte header and the start of one (state "cut header"): its writer stopped before writing
    #: the header whole (a kill, a full disk); no record in it.  A repair writes it again as an empty journal of
    #: the feed and day its path names (``<FEED>/YYYYMMDD.bin``); of another path it is not repairable
    cut_header: bool = False

    @property
    def repairable(self) -> bool:
        """True when ``verify(path, repair=True)`` can mend the damage: the header is intact, so a torn
        tail, a torn seal or a damaged index is rebuilt from the records.  A file whose header is bad (not a
        journal at all, a newer format version, a damaged header) is left alone by a repair.  A cut update
        (``cut_updates``) is closed where it was cut (the CONTINUED flag of its last record written cleared).
        Damaged records (``bad_records``) are not mended, nor a name that disagrees with the header
        (``misnamed``): a file with either is not repairable.  A cut header (``cut_header``) is written again
        as an empty journal when the file's path names its feed and day."""
        return (not self.ok and self.state != "?" and not self.bad_records and not self.misnamed
                and not (self.cut_header and _named_day(self.path) is None))

    def __str__(self) -> str:
        head = f"{self.path}: {'OK' if self.ok else 'DAMAGED'} ({self.state}, {self.records} records, " \
               f"{self.checkpoints} checkpoints{', repaired' if self.repaired else ''})"
        return "\n".join([head] + [f"  problem: {p}" for p in self.problems] + [f"  note: {n}" for n in self.notes])


#: how a VerifyReport's problem about a cut update starts (followed by the record number)
_CUT_UPDATE = "cut update at record "


def _inspect(path: Path) -> VerifyReport:
    rep = VerifyReport(path)
    _regular_file(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(64)
        try:
            hdr = parse_header(head, path)
        except JournalError as e:
            rep.ok = False
            _cut_header(rep, path, head)
            if not rep.cut_header:
                rep.problems.append(str(e))
            return rep
        import mmap
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        rep.state = {OPEN: "open", SEALED: "sealed", SEALING: "sealing"}[hdr["sealed"]]
        _check_name(rep, path, hdr)
        stride = hdr["index_stride"]
        stored = None
        if hdr["sealed"] == SEALED:
            try:
                stored = read_index(mm, hdr, size, path)
                n = hdr["record_count"]
            except JournalError as e:
                rep.problems.append(str(e))
                n = min(hdr["record_count"], (size - 64) // 32)
        else:
            end = size
            if hdr["sealed"] == SEALING:
                rep.problems.append("the seal was interrupted (index table may be torn)")
                if 64 <= hdr["index_offset"] <= size:
                    end = hdr["index_offset"]
            elif held_by_writer(path):
                rep.notes.append("not sealed: being written (its writer holds it)")
            else:
                rep.abandoned = True
                rep.notes.append("not sealed and no writer holds it: its writer stopped without closing (a crash, a "
                                 "kill, or its disk full); vega verify --repair seals it, keeping every whole record")
            n = (end - 64) // 32
            if hdr["sealed"] == OPEN:
                rep.torn_bytes = end - 64 - n * 32
                if rep.torn_bytes:
                    rep.problems.append(f"torn tail: {rep.torn_bytes} bytes after the last whole record")
        rep.records = n
        recs = np.frombuffer(mm, CHANGE_RECORD_DTYPE, n, 64)
        ent, ck = build_index(recs, stride)
        rep.checkpoints = len(ck)
        if stored is not None and not (np.array_equal(stored[0], ent) and np.array_equal(stored[1], ck)):
            rep.problems.append("stored index or checkpoint table does not match the records")
        if n:
            ts = timestamps(recs)
            back = int(np.count_nonzero(np.diff(ts) < 0))
            if back:
                rep.notes.append(f"{back:,} record{'s' if back != 1 else ''} stamped earlier than "
                                 f"{'their predecessors' if back != 1 else 'its predecessor'}")
            flags = recs["flags"]
            cut = cut_updates(recs)
            if len(cut):
                i = int(cut[0])
                a, b = int(recs["token"][i - 1]), int(recs["token"][i])
                more = "" if len(cut) == 1 else (
                    f"; {len(cut)} records in all follow a CONTINUED record of another token: "
                    + ", ".join(str(int(k)) for k in cut[:10]) + (", ..." if len(cut) > 10 else ""))
                rep.problems.append(
                    f"{_CUT_UPDATE}{i}: a CONTINUED update changes token (record {i - 1}, token {a}, is flagged "
                    f"CONTINUED: more records of its update should follow, but record {i} is token {b}); replay "
                    f"into a store or a ring fails there with ValueError (a repair closes the update at record "
                    f"{i - 1}){more}")
                rep.cut_updates = cut.tolist()
            nbad, bad = _bad_records(recs, 10)
            if nbad:
                i, why = bad[0]
                more = "" if nbad == 1 else (f"; {nbad:,} damaged records in all: "
                                             + ", ".join(str(k) for k, _ in bad) + (", ..." if nbad > 10 else ""))
                rep.problems.append(f"damaged record {i}: {why}; replay into a store or a ring fails there with "
                                    f"ValueError, and a repair cannot mend it{more}")
                rep.bad_records = nbad
            if flags[-1] & CONTINUED:
                s = _update_end(flags, 0, n)
                t = int(recs["token"][-1])
                if hdr["sealed"] == SEALED:
                    how = ("the update's last record was never written (its writer was closed, or the file "
                           "repaired, mid-update): replay applies them as they are")
                else:
                    how = ("the update's last record is not in the file (a writer still appending, or one that "
                           f"stopped mid-update): replay stops before record {s}, and so does export")
                rep.notes.append(f"ends inside an update: records {s}..{n - 1} (token {t}) are flagged CONTINUED "
                                 f"and {how}" + ("" if flags[-1] & KEYFRAME else
                                                 "; a writer reopening the file (or a repair) closes the update "
                                                 "there, keeping its records"))
            last_kf = flags[-1] & 0x02
            if last_kf and flags[-1] & 0x01:
                rep.notes.append("ends inside a checkpoint (incomplete; ignored by snapshot_at)")
        del recs
    finally:
        try:
            mm.close()
        except BufferError:  # pragma: no cover - arrays are released above
            pass
    rep.ok = not rep.problems
    return rep


def _named_day(path: Path) -> tuple[str, _dt.date] | None:
    """The feed and trading date a journal's path names (``<FEED>/YYYYMMDD.bin``), or None."""
    feed, day = path.parent.name.upper(), _file_day(path.name)
    return (feed, day) if feed in FEEDS and day is not None else None


def _cut_header(rep: VerifyReport, path: Path, data: bytes) -> None:
    """Say a file cut inside its header as such: whether a repair can write it again (its path names its feed
    and day, and the header bytes it holds do not name others)."""
    if not cut_header(data):
        return
    rep.cut_header = True
    rep.state = "cut header"
    head = (f"truncated header ({len(data)} of its 64 bytes): a cut header, no record (its writer stopped before "
            f"writing the header whole: a kill, a full disk); replay and export refuse the day")
    named = _named_day(path)
    if named and cut_header(data, FEEDS[named[0]], date_int(named[1])):
        rep.problems.append(f"{head}; vega verify --repair writes it again as an empty journal of {named[0]} "
                            f"{named[1]}, as its path names")
    elif named:
        rep.misnamed = True
        rep.problems.append(f"{head}; the bytes it holds name another feed or day than its path: a repair does "
                            f"not write it again")
    else:
        rep.problems.append(f"{head}; a repair cannot write it again: its path does not name its feed and day "
                            f"(<FEED>/YYYYMMDD.bin)")


def _check_name(rep: VerifyReport, path: Path, hdr: dict[str, Any]) -> None:
    """A problem when the name of a journal's file (``YYYYMMDD.bin``) or its directory (a feed's) says
    another day or feed than its header: replay and export take the file by its name and refuse it (a file
    copied under another date, or a header damaged with a consistent checksum).  Other names are not checked
    (a file verified outside a journal root)."""
    said = []
    day = _file_day(path.name)
    if day is not None and day != hdr["trading_date"]:
        said.append(f"trading date {hdr['trading_date']}, not {day}")
    feed = path.parent.name.upper()
    if feed in FEEDS and feed != hdr["feed"]:
        said.append(f"feed {hdr['feed']}, not {feed}")
    if said:
        rep.misnamed = True
        rep.problems.append(f"its header says {' and '.join(said)} as its name says: replay and export refuse "
                            f"it (a file copied under another name, or a damaged header); a repair does not "
                            f"rename files")


def held_by_writer(path: StrPath) -> bool:
    """True when a running writer holds the file's lock (a JournalWriter, a Store.create writer: both take
    an exclusive flock); False for a file that is free or cannot be opened."""
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)     # a FIFO would block the open
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)                               # also drops the lock taken here
    return False


def verify(path: StrPath, repair: bool = False) -> VerifyReport:
    """Check a journal file: header, torn tail, index and checkpoint table against the records, and that no
    update is cut (a record of another token after one flagged CONTINUED, which replay into a store refuses:
    a problem naming the record, listed in ``cut_updates``; a repair closes the update where it was cut).
    Records that end inside an update are a note: replay (and export) stops before them in a file not sealed,
    and applies them in a sealed one; a writer reopening the file closes that update.  Records no store applies
    are problems too ("damaged record N", ``bad_records``), and so is a header that names another date or feed than the
    file's name and directory (``misnamed``); a repair mends neither (``repairable`` is False), though it seals
    such a file when it is unsealed.

    With ``repair=True`` a damaged file whose header is intact is repaired by reopening it as a writer (which
    cuts a torn tail, drops a damaged index and rebuilds it from the records) and sealing it; every whole
    record is kept.  So is an undamaged file left unsealed by a writer that is gone (a crash, a full disk).  A
    file cut inside its header (``cut_header``: no record) is written again as the empty, sealed journal of the
    feed and day its path names (``<FEED>/YYYYMMDD.bin``).
    A file locked by its running writer is not touched: left as it is when undamaged, else JournalError."""
    path = Path(path)
    rep = _inspect(path)
    if repair and (rep.repairable or rep.state in ("open", "sealing")):   # damaged, or left unsealed
        if rep.ok and held_by_writer(path):               # a running writer's open file: nothing to repair
            return rep
        named = _named_day(path)
        if rep.cut_header and named:                       # no header to say its feed and day: its path does
            w = JournalWriter._reopen_cut(path, *named)
        else:
            w = JournalWriter.reopen(path)                 # this very file, wherever it lies
        w.close()
        after = _inspect(path)
        left = after.problems                              # what the repair did not mend
        after.problems = rep.problems + [p for p in left if p not in rep.problems]
        after.torn_bytes = rep.torn_bytes
        after.repaired = True
        after.ok = not left
        return after
    return rep


# ----------------------------------------------------------------------------------------------------------
# replay
# ----------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class ReplayResult:
    """Outcome of :func:`replay`.  ``next_seq[feed]`` is the feed sequence number of the first record NOT
    replayed: a live ring reader started at that position continues without a gap or a repeat."""

    #: records of the range read from its files and handed to the targets, checkpoints' KEYFRAME records
    #: included; a ``vega.Ring`` target gets only the live ones among them (``live_records``: checkpoints take no
    #: ring position), so a ring reader sees fewer than this when the range holds a checkpoint
    records: int = 0
    next_seq: dict[str, int] = dataclasses.field(default_factory=dict)
    last_ts: dict[str, int] = dataclasses.field(default_factory=dict)   # feed -> absolute ns since the epoch
    last_date: dict[str, _dt.date] = dataclasses.field(default_factory=dict)  # feed -> trading date of its last file
    #: (trading date, feed) of every day from the range's first file to its last without a file for a feed
    #: replayed, in order: a weekend, a holiday, or a day the capture missed
    missing: list[tuple[_dt.date, str]] = dataclasses.field(default_factory=list)
    #: (first, last) date ranges of the range's days before its first file and after its last, where no feed
    #: replayed has a file (the whole range when it has none: a replay of only a weekend delivers nothing, and
    #: says so here); ranges, not days, so that a range of centuries costs what its files cost
    outside: list[tuple[_dt.date, _dt.date]] = dataclasses.field(default_factory=list)
    #: the journal files read, in order
    files: list[Path] = dataclasses.field(default_factory=list)
    #: records delivered before the range as the state at a start time (``state=``): the nearest checkpoint
    #: before it and the records after that checkpoint up to it; not counted in ``records``
    state_records: int = 0


_BOUND_FORMS = ("a trading date (datetime.date, 'YYYY-MM-DD', 'YYYYMMDD', YYYYMMDD, 'today', 'yesterday') nor a "
                "time (datetime, or an ISO date and time such as '2026-11-20T09:16:44' or '2026-11-20 09:16:44+05:30'; "
                "IST when naive; or a numpy datetime64 with a time unit, UTC)")

#: numpy datetime64 units of a date without a time: no instant a bound could mean (see _datetime64_bound)
_DATE_UNITS = ("Y", "M", "W", "D")


#: ts48 is 48 bits of ns since 00:00 IST of a file's trading date: no record of a day is stamped this late
_TS48_END = 1 << 48
_DAY_NS = 86_400_000_000_000

#: a change record as one opaque 32-byte item, for moving records without their fields
_RAW_RECORD = np.dtype((np.void, CHANGE_RECORD_DTYPE.itemsize))


_UNIX_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

#: a numpy datetime64 with a time unit (UTC, numpy's one zone), or a 0-d array of one (records.datetimes of a record)
Datetime64: TypeAlias = np.datetime64 | npt.NDArray[np.datetime64]

#: a replay bound: a trading date, or a time (a datetime, an ISO date and time string, or a numpy datetime64)
ReplayBound: TypeAlias = DayLike | _dt.datetime | Datetime64


def _datetime64_bound(value: object, what: str) -> int | None:
    """ns since the Unix epoch of a bound (the argument ``what``) that is a numpy datetime64 or a 0-d array of one,
    exactly, converted as the Journal's times are; None for any other value.  ValueError for NaT, one without a
    unit, and one of a date unit (D, W, M, Y): numpy counts ``datetime64('2026-11-20')`` from 00:00 UTC, 05:30
    IST, where the same date given as a string or a datetime.date is the whole trading day, so it means neither
    and the message says what to pass."""
    v = _datetime64_scalar(value)
    if v is None:
        return None
    ns: int = _datetime64_epoch_ns(v, what)
    unit = np.datetime_data(v.dtype)[0]
    if unit in _DATE_UNITS:
        raise ValueError(f"{what} is a numpy datetime64[{unit}] ({v}), a date without a time: for the trading day "
                         f"pass a datetime.date or 'YYYY-MM-DD' (its .item() or str()), for an instant a datetime64 "
                         f"with a time unit, e.g. datetime64[ns] (UTC)")
    return ns


def _one_value(value: ReplayBound, what: str) -> DayLike | _dt.datetime:
    """A bound that _datetime64_bound did not take: TypeError for an array (of more dimensions than 0, or of
    numbers), which as_date read as "not a trading date: array([...])"."""
    if isinstance(value, (np.ndarray, np.datetime64)):
        raise TypeError(f"{what} is a numpy array of {value.dtype}, shape {np.shape(value)}: give one date or time")
    return value


def _ist_date(ns: int, what: str) -> _dt.date:
    """The IST date of ``ns`` since the Unix epoch (the bound ``what``): ValueError naming it outside the years
    1 to 9999 (a datetime's; an OverflowError "date value out of range" named nothing)."""
    try:
        return as_date(_UNIX_EPOCH + _dt.timedelta(microseconds=ns // 1000))
    except OverflowError:
        raise ValueError(f"{what} ({ns} ns since 1970 UTC) is outside the dates a journal can have, the years 1 "
                         f"to 9999") from None


def _bound(value: ReplayBound, is_end: bool) -> tuple[_dt.date, int | None]:
    """(date, absolute-ns bound or None) of a replay bound: a trading date, or a datetime / ISO date-time
    string (IST when naive; the Journal methods' time arguments take the same strings), or a numpy datetime64
    with a time unit (UTC, exact to the ns, as the Journal's times take it)."""
    what = "replay: end" if is_end else "replay: start"
    ns = _datetime64_bound(value, what)
    if ns is not None:
        return _ist_date(ns, what), ns
    value = _one_value(value, what)
    sub_us = 0                                                 # a string's nanoseconds past the microsecond
    if isinstance(value, str) and len(value) > 10:            # 'YYYY-MM-DD' and 'YYYYMMDD' are dates
        try:
            text, sub_us = _split_ns(value)
        except ValueError:                                     # a fraction past the ns: say that, not the forms
            raise ValueError(f"{what}: {value!r} is neither a trading date nor a time: its fraction of a second "
                             f"has more than 9 digits (nanoseconds)") from None
        try:
            value = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what}: {value!r} is neither {_BOUND_FORMS}") from None
    if isinstance(value, _dt.datetime):
        v = value if value.tzinfo is not None else value.replace(tzinfo=IST)
        # in integers, as Journal.between takes a time: a float timestamp() holds a day's microseconds exactly
        # only until the 2030s, and int(v.timestamp() * 1e6) was then a microsecond early
        return as_date(v), (v - _UNIX_EPOCH) // _dt.timedelta(microseconds=1) * 1000 + sub_us
    try:
        return as_date(value), None
    except ValueError:
        raise ValueError(f"{what}: {value!r} is neither {_BOUND_FORMS}") from None


def _export_day(value: DayLike | Datetime64, what: str) -> _dt.date:
    """The trading date of an export bound: as_date's, or the IST date of a numpy datetime64 with a time unit
    (as of a datetime; a date unit is refused, as a replay bound: _datetime64_bound)."""
    ns = _datetime64_bound(value, what)
    if ns is not None:
        return _ist_date(ns, what)
    return as_date(_one_value(value, what))


def _count_arg(value: int | np.integer[Any], what: str) -> int:
    """``value`` (an argument named ``what``, e.g. "replay: batch") as an int >= 1: an int or a numpy integer
    (``_journal._index``: TypeError for a bool, True being no count of 1, a float or anything else), ValueError
    below 1 (a negative batch failed deep in the replay with an IndexError, a negative row group size wrote an
    empty Parquet file)."""
    n = _index(value, what)
    if n < 1:
        raise ValueError(f"{what} must be an int >= 1, not {n}")
    return n


def _targets_by_feed(into: Mapping[Any, Any]) -> dict[str, Any]:
    """replay's ``into={feed: target}`` keyed by the feeds' names, its keys matched as ``feeds=`` matches names
    (any case): ValueError for a key that names no feed (``"FO"``, ``"NSE-FO"``), which used to replay nothing
    without a word, and for two keys of one feed (``"nse_fo"`` and ``"NSE_FO"``: which target?)."""
    out: dict[str, Any] = {}
    for key, target in into.items():
        name = str(key).upper()
        if name not in FEEDS:
            raise ValueError(f"replay: into={{{key!r}: ...}} names no feed; expected one of {', '.join(FEEDS)} "
                             f"(in any case, as feeds= takes them)")
        if name in out:
            keys = ", ".join(repr(k) for k in into if str(k).upper() == name)
            raise ValueError(f"replay: into names feed {name} twice ({keys}): give it one target")
        out[name] = target
    return out


#: how replay delivers to a target: f(records, feed, day_base_ns)
_Sink: TypeAlias = Callable[[npt.NDArray[Any], str, int], object]


def _sink(into: Any, feed: str) -> _Sink | None:
    """f(records, feed, day_base_ns) delivering to the replay target of ``feed``, or None (no target)."""
    target = into.get(feed) if isinstance(into, Mapping) else into
    if target is None:
        return None
    from vega._ring import Ring
    if isinstance(target, Ring):                       # a vega.Ring: each feed to its own slot, live records only
        return lambda recs, feed, base: _to_ring(target, feed, recs)
    if callable(getattr(target, "apply_records", None)):
        apply = _applier(target)                       # a Store: last update times from the journal's own day
        return lambda recs, feed, base: apply(recs, base)
    for name in ("publish", "append"):
        m = getattr(target, name, None)
        if callable(m):
            method = m                                 # (returned at once: the loop binds m no more)
            return lambda recs, feed, base: method(recs)
    if callable(target):
        return _callback_sink(target)
    raise TypeError(f"replay target {target!r} has no apply_records/publish/append and is not callable")


def _callback_sink(target: Callable[..., object]) -> _Sink:
    """The sink of a callback target: ``target(records, feed)``; a TypeError of the call that is the callback's
    signature's (``lambda recs: ...``, ``a_list.append``) raised as :func:`_check_callback` words it, instead of
    "<lambda>() takes 1 positional argument but 2 were given".  (Checked at the call, not before: a replay that
    delivers nothing calls no callback.)"""
    def deliver(recs: npt.NDArray[Any], feed: str, base: int) -> object:
        try:
            return target(recs, feed)
        except TypeError:
            _check_callback(target)                    # raises when the signature is what is wrong
            raise
    return deliver


def _check_callback(target: Callable[..., object]) -> None:
    """TypeError saying what to pass when ``target`` cannot be called as ``into(records, feed)``; None when it
    can, or when it has no signature to read (a C callable)."""
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(None, None)
    except TypeError as e:
        name = str(getattr(target, "__qualname__", type(target).__name__)).rpartition("<locals>.")[2]
        raise TypeError(f"replay: a callback target is called as into(records, feed), and {name} cannot be "
                        f"({e}): take both, e.g. lambda recs, feed: ...; an object with append(records), such "
                        f"as a list, is given as itself") from None


def _wants_state(state: bool | None, into: Any, feed: str) -> bool:
    """Whether ``replay(..., state=state)`` hands ``feed``'s target the state at a start time: by default a
    target with ``apply_records`` (a store); with True every target but a ring (a ring carries live records at
    the journal's numbers, no state); with False none."""
    target = into.get(feed) if isinstance(into, Mapping) else into
    from vega._ring import Ring
    if target is None or isinstance(target, Ring):
        return False
    return callable(getattr(target, "apply_records", None)) if state is None else bool(state)


def _state_before(root: Path, feed: str, lo: int, d0: _dt.date) -> tuple[Journal, int, int, int] | None:
    """(journal, first, stop, day_base_ns) of the records whose application gives ``feed``'s state just before
    ``lo`` (absolute ns, within trading day ``d0``): records [first, stop) of the file of ``d0`` (its nearest
    complete checkpoint before ``lo`` and the records after it), or of the day before when ``lo`` falls in
    that day's run past midnight (before ``d0``'s file starts); None when no file holds a record before ``lo``
    (the day's state then starts empty, as a capture's store starts each day).  The caller closes the journal."""
    for day in (d0, d0 - _dt.timedelta(days=1)) if d0 > _dt.date.min else (d0,):
        p = root / feed / f"{date_int(day):08d}.bin"
        if not p.exists():
            continue
        j = _day_file(p, feed, day)
        base = day_epoch_ns(day)
        stop = j.position(max(0, lo - base))
        if day < d0 and j.position(_DAY_NS) >= stop:  # the day before: only a night past midnight counts
            stop = 0
        if stop == 0:
            j.close()
            continue
        c = j.checkpoint_before(stop)
        first = 0 if c < 0 else int((int(j.checkpoints["offset"][c]) - 64) // 32)
        return j, first, stop, base
    return None


def _day_file(path: Path, feed: str, day: _dt.date) -> Journal:
    """``<root>/<FEED>/YYYYMMDD.bin`` opened, JournalError unless its header says that feed and that day: the
    records' times count from the header's day, which a replay or an export would otherwise shift to the
    name's (a file copied under another date)."""
    j = Journal.open(path, feed=feed)
    if j.date != day:
        j.close()
        raise JournalError(f"{path}: a file of trading date {j.date}, not {day} as its name says")
    return j


def _check_day_file(path: Path, feed: str, day: _dt.date) -> None:
    """JournalError unless ``path`` is a journal file whose header reads (a journal, a known version, its
    checksum) and says ``feed`` and ``day``: what ``_day_file`` checks, from the header alone (no index read, no
    scan of an open file), so that a replay refuses a damaged day before delivering anything."""
    _regular_file(path)
    with open(path, "rb") as fh:
        hdr = parse_header(fh.read(64), path)
    if hdr["feed"] != feed:
        raise JournalError(f"{path}: a file of feed {hdr['feed']}, not {feed}")
    if hdr["trading_date"] != day:
        raise JournalError(f"{path}: a file of trading date {hdr['trading_date']}, not {day} as its name says")


def _first_refused(recs: npt.NDArray[Any]) -> tuple[int, str] | None:
    """(k, why) of the first of ``recs`` that a store refuses: a record no store applies (_bad_records) or one
    that cuts an update (cut_updates: a record of another token after one flagged CONTINUED); None when it
    takes them all."""
    k, why = len(recs), ""
    bad = _bad_records(recs, 1)[1]
    if bad:
        k, why = bad[0][0], bad[0][1] + ": replay stops there (a damaged record; vega verify names every one)"
    cut = cut_updates(recs[:k + 1])                    # (record k + 1 of a cut after record k: not before k)
    if len(cut) and int(cut[0]) < k:
        k, why = int(cut[0]), ("a CONTINUED update changes token: replay stops there (an update cut short; vega "
                               "verify names every one, and --repair closes them)")
    return (k, why) if why else None


def _to_ring(ring: Any, feed: str, recs: npt.NDArray[Any]) -> int:
    """Publish the live records of ``recs`` (replayed from ``feed``'s journal) in ``ring``; returns how many.
    Refused as a store refuses them: the whole updates before the first damaged record or cut update go in,
    then a ValueError naming it (within ``recs``; replay names the file's record).  Readers of a ring apply its
    records to their stores: such a record went to them without a word, where a replay into a store stopped."""
    found = _first_refused(recs)
    live = live_records(recs if found is None else recs[:_update_end(recs["flags"], 0, found[0])])
    ring.append(feed, live)
    if found is not None:
        raise ValueError(f"record {found[0]}: {found[1]}")
    return len(live)


def _refused(j: Journal, start: int, stop: int, piece: npt.NDArray[Any]) -> ValueError | None:
    """When the batch ``piece`` of journal ``j``'s records [start, stop) (those replayed so far) holds a
    record no store applies (_bad_records) or one that cuts an update (cut_updates: a record of another token
    after one flagged CONTINUED), the ValueError naming the file and the file's record number (the one a Store
    raised counts within the batch); else None (the target's error stands)."""
    found = _first_refused(piece)
    if found is None:
        return None
    k, why = found
    at = np.flatnonzero(j.records[start:stop] == piece[k])       # the first such record replayed
    where = f"record {start + int(at[0])}" if len(at) else f"a record (token {int(piece['token'][k])})"
    return ValueError(f"{j.path}: {where}: {why}")


def _update_end(flags: npt.NDArray[Any], a: int, b: int) -> int:
    """The end of the last whole update in records [a, b): the largest e in a..b with e == a or record e - 1
    not CONTINUED (more records of the same update follow it), so that [a, e) holds only whole updates."""
    hi, step = b, 256
    while hi > a:
        lo = max(a, hi - step)
        whole = np.flatnonzero((flags[lo:hi] & CONTINUED) == 0)
        if len(whole):
            return lo + int(whole[-1]) + 1
        hi = lo
        step *= 4
    return a


def _slice_end(flags: npt.NDArray[Any], a: int, end: int, batch: int) -> int:
    """End of the next slice of at most ``batch`` records from ``a`` (< ``end``) that ends on an update: cut
    after its last record without CONTINUED; when one update is longer than ``batch`` the slice runs to that
    update's end (or to ``end``, should the records end inside it: only a sealed file's last update can)."""
    b = min(end, a + batch)
    e = _update_end(flags, a, b)
    if e > a:
        return e
    lo, step = b, 256                                  # no update ends in [a, b): extend to where the first does
    while lo < end:
        hi = min(end, lo + step)
        whole = np.flatnonzero((flags[lo:hi] & CONTINUED) == 0)
        if len(whole):
            return lo + int(whole[0]) + 1
        lo = hi
        step *= 4
    return end


def live_records(recs: np.ndarray[Any, np.dtype[Any]]) -> np.ndarray[Any, np.dtype[Any]]:
    """The records of ``recs`` that a live ring carries: all but checkpoint (KEYFRAME) records, which stay in
    the journal (they take no sequence numbers: docs/FORMATS.md, "Sequence numbers")."""
    if not isinstance(recs, np.ndarray) or recs.dtype != CHANGE_RECORD_DTYPE:
        raise _not_records("live_records", recs, "a CHANGE_RECORD_DTYPE array")
    kf = (recs["flags"] & KEYFRAME) != 0
    return recs[~kf] if kf.any() else recs


def journal_root(path: StrPath) -> Path:
    """``path`` as a journal root (the directory holding ``<FEED>/YYYYMMDD.bin``), checked: FileNotFoundError
    for a path that is no directory or holds no feed directory (a mistyped path would otherwise read as an
    empty journal)."""
    root = Path(path)
    if not root.is_dir():
        if root.exists():
            hint = " (a journal file: vega dump / verify read one file)" if root.suffix == ".bin" else ""
            raise FileNotFoundError(f"{root}: is not a directory; a journal root is the directory holding "
                                    f"<FEED>/YYYYMMDD.bin{hint}")
        raise FileNotFoundError(f"{root}: no such journal root directory")
    if not any((root / f).is_dir() for f in FEEDS):
        raise FileNotFoundError(f"{root}: not a journal root (no {'/, '.join(FEEDS)}/ directory)")
    return root


def _file_day(name: str) -> _dt.date | None:
    """The day a journal file's name ``YYYYMMDD.bin`` says, or None for any other name (20260230.bin too)."""
    stem = name.removesuffix(".bin")
    if stem == name or len(stem) != 8 or not stem.isascii() or not stem.isdigit():
        return None
    try:
        return _dt.date(int(stem[:4]), int(stem[4:6]), int(stem[6:8]))
    except ValueError:
        return None


def journal_files(root: StrPath, feeds: Iterable[str], d0: _dt.date,
                  d1: _dt.date) -> list[tuple[_dt.date, str, Path]]:
    """(day, feed, path) of the journal files ``<root>/<FEED>/YYYYMMDD.bin`` of ``feeds`` for days ``d0`` to ``d1``
    (inclusive) that exist, by day, then in the order of ``feeds``: read from the feed directories' listings,
    not looked up day by day, so that a range of centuries costs what the files there cost (a feed without its
    directory has none)."""
    root = Path(root)
    found: list[tuple[_dt.date, int, str, Path]] = []
    for i, f in enumerate(feeds):
        try:
            entries = os.scandir(root / f)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for e in entries:
                day = _file_day(e.name)
                if day is not None and d0 <= day <= d1:
                    found.append((day, i, f, root / f / e.name))
    found.sort(key=lambda x: (x[0], x[1]))
    return [(day, f, p) for day, _, f, p in found]


def _feeds(root: Path, feeds: Iterable[str] | str | None) -> list[str]:
    """The feeds to read under journal root ``root`` (checked, journal_root): those named (FileNotFoundError
    for one without its directory), else every feed directory present."""
    journal_root(root)
    present = [f for f in FEEDS if (root / f).is_dir()]
    if feeds is None:
        return present
    if isinstance(feeds, str):
        feeds = [feeds]
    out = []
    for f in feeds:
        name = _feed_type(f)[0]
        if name not in present:
            raise FileNotFoundError(f"{root}: no {name}/ directory (feeds there: {', '.join(present) or 'none'})")
        out.append(name)
    return out


def _pieces(recs: npt.NDArray[Any], keys: npt.NDArray[np.int64],
            tick_ns: int) -> list[tuple[int, npt.NDArray[Any]]]:
    """Split (recs, keys) where the key crosses a tick boundary -> [(first key, recs slice)]."""
    if tick_ns <= 0 or len(keys) == 0:
        return [(int(keys[0]), recs)] if len(keys) else []
    g = (keys - keys[0]) // tick_ns
    cuts = np.flatnonzero(np.diff(g)) + 1
    cuts = cuts[(recs["flags"][cuts - 1] & CONTINUED) == 0]     # never inside an update
    bounds = np.concatenate(([0], cuts, [len(keys)]))
    return [(int(keys[a]), recs[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def replay(root: StrPath, start: ReplayBound, end: ReplayBound | None = None,
           feeds: Iterable[str] | str | None = None, speed: float | None = None,
           into: Any = None, *, tokens: _Tokens | None = None, batch: int = 65536,
           max_gap: float | None = 5.0, tick: float = 0.001, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep, state: bool | None = None) -> ReplayResult:
    """Replay the journals under ``root`` from ``start`` to ``end`` in time order across days and feeds.

    ``start``/``end``: trading dates (date, 'YYYY-MM-DD', 'YYYYMMDD', YYYYMMDD, 'today' / 'yesterday' (IST);
    ``end`` inclusive) or times:
    datetimes or ISO date-time strings such as '2026-11-20T09:16:44' (IST when naive; ``end`` exclusive; a
    string's fraction of a second to the nanosecond, up to 9 digits), or numpy datetime64 of a time unit (h
    down to ns; UTC, as ``records.datetimes`` gives, a 0-d array of one too; exact to the ns, as the Journal
    takes them).  A datetime64 of a date unit (``datetime64('2026-11-20')``: numpy's 00:00 UTC, no trading day)
    is a ValueError saying to pass a date or 'YYYY-MM-DD' for the day, or a datetime64[ns] for an instant.
    Without ``end``, the replay runs to the end of ``start``'s trading day (from a time: the rest of that
    day).  From a time, the file of the day before is read too: a day whose rollover time is after 00:00 keeps
    its records past midnight (up to 24 h + rollover) in its own file.  ``feeds``: names (default every feed
    directory present; FileNotFoundError for a root, or a named feed, without its directory).
    ``into``: where records go, called with read-only arrays in time order --
    an object with ``apply_records(records)`` (a Store: given ``day_base_ns`` = 00:00 IST of each journal's
    trading date when its method takes it, so last update times are the journal day's, as in the live store),
    a ``vega.Ring`` (each feed to its own slot: its live records), an object with ``publish(records)`` or
    ``append(records)``, a callable ``into(records, feed)`` (one that cannot take the two is a TypeError saying
    so at its first call), or a mapping feed -> any of those (keys: feed names
    as ``feeds`` takes them, in any case, a key naming no feed a ValueError; feeds it lacks are skipped).  One
    target with
    ``apply_records`` for several feeds is a ValueError (each feed numbers its tokens apart: they would collide
    in it): give ``feeds=[one]`` or a store per feed.
    Each array holds whole updates of one feed: at most ``batch`` records, cut after a record without
    CONTINUED (an update longer than ``batch``, e.g. a big checkpoint chain, comes whole).  An unsealed file
    (still being written) that ends inside an update is replayed up to that update, which ``next_seq`` then
    points at; a sealed file is replayed to its end.  A record a store refuses (damaged: an unknown group, a bad
    mask or token; or an update cut short) stops the replay into a store or a ring with a ValueError naming the
    file and record (a ring publishes the whole updates before it); other targets get records as they are.
    ``speed``: None replays flat out; otherwise the recorded gaps are kept, divided by ``speed`` (1.0 real
    time, 10.0 ten times faster), with records delivered in groups of ``tick`` seconds of wall time; gaps longer
    than ``max_gap`` seconds of feed time (default 5, as ``vega replay --max-gap``: a night between two days
    is not slept through) are shortened to it, or kept as recorded with ``max_gap=None``.  ``tokens`` keeps
    only those.
    ``batch`` is an int >= 1 and ``tick`` a number of seconds > 0: anything else is a TypeError or ValueError
    naming it, before anything is read.
    ``state``: from a start time, a store target first gets the state at ``start`` (as ``Journal.snapshot_at``
    builds it: the nearest checkpoint before ``start`` and the records after it up to ``start``, unpaced,
    counted in ``state_records``), so that at the end it holds the state at ``end``, as the live store did;
    every other target gets exactly the records stamped in [start, end).  ``state=True`` gives the state to
    every target but a ring (a callback too), ``False`` to none.  A start that is a trading date needs none.
    Records of several feeds stamped alike keep the order of ``feeds``; each file is replayed in file order
    (ordered by its running-maximum timestamp).  Returns a :class:`ReplayResult` (next_seq for the handover to
    a live ring: the number of the first record not replayed, in the file where the replay of the feed
    stopped; ``missing``: the (date, feed) of each day from the range's first file to its last without a file;
    ``outside``: the (first, last) ranges of days before the first file and after the last)."""
    if into is None:
        raise TypeError("replay needs a target: into=store | ring | callback | {feed: target}")
    if isinstance(into, Mapping):
        into = _targets_by_feed(into)                  # keyed by feed name (any case, as feeds=), checked
    for name, v in (("speed", speed), ("max_gap", max_gap)):
        if v is not None and (isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real)):
            raise TypeError(f"replay: {name} must be a number (or None), not {type(v).__name__}")
    if speed is not None and not (speed > 0 and math.isfinite(speed)):
        raise ValueError(f"speed must be a finite number > 0 (or None for flat out), not {speed!r}")
    if speed is not None and not 1e-6 <= speed <= 1e9:        # (1e308 overflowed the tick, 1e-300 the clock)
        raise ValueError(f"speed must be a finite number > 0 in 1e-6 .. 1e9 (or None for flat out), not {speed!r}")
    if max_gap is not None and not (max_gap > 0 and math.isfinite(max_gap)):
        raise ValueError(f"max_gap must be a finite number of seconds > 0 (or None: gaps as recorded), not "
                         f"{max_gap!r}")
    batch = _count_arg(batch, "replay: batch (records per array)")
    if isinstance(tick, (bool, np.bool_)) or not isinstance(tick, numbers.Real):
        raise TypeError(f"replay: tick must be a number of seconds > 0, not {type(tick).__name__}")
    if not (tick > 0 and math.isfinite(tick)):
        raise ValueError(f"replay: tick must be a finite number of seconds > 0, not {tick!r}")
    root = Path(root)
    d0, lo = _bound(start, False)
    d1, hi = (d0, None) if end is None else _bound(end, True)      # no end: to the end of start's day
    if d1 < d0 or (lo is not None and hi is not None and hi < lo):
        raise ValueError(f"replay: end ({end}) is before start ({start})")
    if hi is not None and d1 > d0 and hi <= day_epoch_ns(d1):
        d1 -= _dt.timedelta(days=1)                    # an end at 00:00 IST: its day holds nothing before it
    names = _feeds(root, feeds)
    sinks = {f: _sink(into, f) for f in names}
    shared: dict[int, list[str]] = {}
    for f in names:
        t = into.get(f) if isinstance(into, Mapping) else into
        if t is not None and callable(getattr(t, "apply_records", None)):
            shared.setdefault(id(t), []).append(f)
    for fs in shared.values():
        if len(fs) > 1:                                # a store of one feed's tokens: the feeds' numberings collide
            raise ValueError(f"replay: one store for the feeds {', '.join(fs)}, whose tokens are numbered apart "
                             f"and collide in it: give feeds=[one of them], or into={{feed: store}} with a store "
                             f"each")
    tok = None if tokens is None else token_array(tokens)
    res = ReplayResult()
    # at least 1 ns of feed time (a tick below it delivered whole batches at their first record's time), at
    # most past any day's stamps (one group per array)
    tick_ns = max(1, int(min(tick * 1e9 * speed, float(1 << 62)))) if speed else 0
    gap_ns = None if max_gap is None else int(max_gap * 1e9)
    pace = {"t0": None, "k_prev": None, "virtual": 0}

    def deliver(feed, recs, keys, base):
        for k, piece in (_pieces(recs, keys, tick_ns) if speed else [(int(keys[0]), recs)]):
            if speed:
                if pace["t0"] is None:
                    pace["t0"] = clock()
                else:
                    gap = k - pace["k_prev"]
                    pace["virtual"] += gap if gap_ns is None else min(gap, gap_ns)
                pace["k_prev"] = k
                due = pace["t0"] + pace["virtual"] / speed / 1e9
                now = clock()
                if due > now:
                    sleep(due - now)
            try:
                sinks[feed](piece, feed, base)
            except ValueError as e:                    # a store refusing a damaged record: name file and record
                named = _refused(js[feed], start_pos[feed], pos[feed], piece)
                if named is None:
                    raise
                raise named from e
            res.records += len(piece)

    # every file of the range has a sound header before anything is delivered: a damaged day (not a journal, a
    # newer format, a damaged header, a file under another date's name) is refused up front, as export does,
    # not after the days before it went into the target (hours into a paced replay)
    # the files of the range, from the feed directories' listings (a range of centuries costs what its files do)
    read = [f for f in names if sinks[f] is not None]
    files = journal_files(root, read, d0 if lo is None or d0 == _dt.date.min else d0 - _dt.timedelta(days=1), d1)
    for day, f, p in files:
        try:
            _check_day_file(p, f, day)
        except JournalError as e:
            if day >= d0:
                raise
            raise JournalError(f"{e} (the day before the start's: read for its records past midnight, "
                               f"which a rollover after 00:00 keeps there)") from None
    res.missing, res.outside = _absent(files, read, d0, d1)

    if lo is not None:                                 # the state at a start time, before the range
        for f in names:
            if sinks[f] is None or not _wants_state(state, into, f):
                continue
            found = _state_before(root, f, lo, d0)
            if found is None:
                continue
            j, a, stop, base = found
            try:
                recs, flags = j.records, j.records["flags"]
                while a < stop:
                    b = _slice_end(flags, a, stop, batch)
                    piece = recs[a:b] if tok is None else recs[a:b][np.isin(recs["token"][a:b], tok)]
                    if len(piece):
                        try:
                            sinks[f](piece, f, base)
                        except ValueError as e:        # a damaged record: name the file and the record
                            named = _refused(j, a, b, piece)
                            if named is None:
                                raise
                            raise named from e
                    res.state_records += len(piece)
                    a = b
                    j._release(a)                      # what is delivered leaves this process's memory
            finally:
                j.close()

    # from a time: the day before's file too, whose records run past midnight up to its rollover time (a file
    # of day d holds stamps up to 24 h + rollover): those at or after start are replayed first
    by_day: dict[_dt.date, list[tuple[str, Path]]] = {}
    for day, f, p in files:                            # (in the order of feeds within a day)
        by_day.setdefault(day, []).append((f, p))
    stopped = set()                                    # feeds whose replay ended before the end of a file
    for day, day_files in by_day.items():
        base = day_epoch_ns(day)
        js, pos, end_pos, carry, start_pos = {}, {}, {}, {}, {}
        for f, p in day_files:
            j = _day_file(p, f, day)
            first, end_pos[f] = _span(j, base, lo, hi)
            if day < d0 and first == len(j):           # the day before start's ended before start
                j.close()
                continue
            js[f] = j
            res.files.append(p)
            pos[f] = start_pos[f] = first
            carry[f] = int(timestamps(j.records[pos[f] - 1:pos[f]])[0]) if pos[f] else -1
        try:
            while True:
                live = [f for f in js if pos[f] < end_pos[f]]
                if not live:
                    break
                chunk = {}
                horizon = None
                for f in live:
                    # whole updates only: a slice that ended inside one (a checkpoint's KEYFRAME chain of a
                    # token, ~17 records) made the next slice's part of it zero the token again
                    stop = _slice_end(js[f].records["flags"], pos[f], end_pos[f], batch)
                    recs = js[f].records[pos[f]:stop]
                    keys = np.maximum.accumulate(np.maximum(timestamps(recs), carry[f]))
                    chunk[f] = (recs, keys)
                    if stop < end_pos[f]:
                        horizon = keys[-1] if horizon is None else min(horizon, keys[-1])
                taken, moved = [], []
                for f in live:
                    recs, keys = chunk[f]
                    m = len(keys) if horizon is None else int(np.searchsorted(keys, horizon, side="right"))
                    # the records of an update share their stamp, so m ends one; should stamps within an
                    # update differ, end on the update before it (the feed ending at the horizon moves on)
                    if m < len(keys):
                        m = _update_end(recs["flags"], 0, m)
                    if m:
                        moved.append(f)
                        pos[f] += m
                        carry[f] = int(keys[m - 1])
                        recs, keys = recs[:m], keys[:m]
                        if tok is not None:
                            # each feed's records filtered before the merge: after it, records of other feeds
                            # left out cut a feed's run into arrays of a few records, each its own delivery
                            # (a replay of three feeds for a few tokens took 3000x as long as of one)
                            keep = np.isin(recs["token"], tok)
                            recs, keys = recs[keep], keys[keep]
                            recs.flags.writeable = False      # read-only, as the map's slices are
                        if len(recs):
                            taken.append((f, recs, keys))
                if len(taken) == 1:
                    f, recs, keys = taken[0]
                    deliver(f, recs, keys + base, base)
                elif taken:
                    keys = np.concatenate([k for _, _, k in taken])
                    label = np.concatenate([np.full(len(k), i, np.int8) for i, (_, _, k) in enumerate(taken)])
                    # joined and reordered as plain 32-byte items: numpy copies a structured array field by
                    # field, which made a replay of several feeds ~8x slower than of one
                    recs = np.concatenate([r.view(_RAW_RECORD) for _, r, _ in taken])
                    order = np.argsort(keys, kind="stable")
                    keys, label = keys[order], label[order]
                    recs = recs[order].view(CHANGE_RECORD_DTYPE)
                    recs.flags.writeable = False       # read-only, as a single feed's slices of the map are
                    cuts = np.concatenate(([0], np.flatnonzero(np.diff(label)) + 1, [len(label)]))
                    for a, b in zip(cuts[:-1], cuts[1:]):
                        deliver(taken[label[a]][0], recs[a:b], keys[a:b] + base, base)
                for f in moved:
                    # the pages of the map delivered leave this process's memory (a day's file is gigabytes;
                    # arrays a target kept stay valid, read again from the file when touched)
                    js[f]._release(pos[f])
            for f, j in js.items():
                if end_pos[f] > start_pos[f]:
                    res.last_ts[f] = max(res.last_ts.get(f, base + int(carry[f])), base + int(carry[f]))
                if f in stopped:                       # an earlier file still holds the first record not replayed
                    continue
                res.next_seq[f] = j.seq_at(end_pos[f])
                res.last_date[f] = day
                if end_pos[f] < len(j):                # the end time (or an update still being written) cut it
                    stopped.add(f)
        finally:
            for j in js.values():
                j.close()
    return res


def _span(j: Journal, base: int, lo: int | None, hi: int | None) -> tuple[int, int]:
    """[first, end) of the records of a day's file ``j`` (whose day starts at ``base``, epoch ns) that replay
    delivers between the absolute bounds ``lo`` and ``hi`` (epoch ns, None: unbounded)."""
    first = 0 if lo is None else j.position(max(0, lo - base))
    # a bound past every stamp a day's file can hold (2**48 ns, 3.26 days) ends it at its end
    end = len(j) if hi is None or hi - base >= _TS48_END else j.position(max(0, hi - base))
    end = max(end, first)
    if end < len(j) or not j.sealed:
        # a file being written (or left by a crash) can end inside an update, its other records still in the
        # writer's buffer: that update waits (next_seq is its first record's number, so a ring reader started
        # there gets it whole).  A sealed file is replayed to its end
        end = _update_end(j.records["flags"], first, end)
    return first, end


def _replay_count(files: list[tuple[_dt.date, str, Path]], start: ReplayBound, end: ReplayBound | None) -> int:
    """The records ``replay(root, start, end)`` hands its targets (``ReplayResult.records`` without ``tokens``)
    from ``files``, the (day, feed, path) of its range (journal_files; from a time the day before's too), found
    by the files' indexes, not read: for a progress percentage.  A file that does not open counts none (the
    replay refuses it)."""
    lo = _bound(start, False)[1]
    hi = None if end is None else _bound(end, True)[1]
    n = 0
    for day, f, p in files:
        try:
            with _day_file(p, f, day) as j:
                a, b = _span(j, day_epoch_ns(day), lo, hi)
                n += b - a
        except (JournalError, OSError):
            pass
    return n


def _absent(files: list[tuple[_dt.date, str, Path]], feeds: list[str], d0: _dt.date,
            d1: _dt.date) -> tuple[list[tuple[_dt.date, str]], list[tuple[_dt.date, _dt.date]]]:
    """(missing, outside) of a replay of days ``d0`` to ``d1`` whose journal files are ``files`` (journal_files'
    (day, feed, path), by day; a file of the day before ``d0`` is not the range's): the (day, feed) without a
    file from the range's first file to its last, and the (first, last) ranges of days before the first file
    and after the last (ReplayResult)."""
    one = _dt.timedelta(days=1)
    days = [day for day, _, _ in files if day >= d0]
    if not days:
        return [], [(d0, d1)]
    have = {(day, f) for day, f, _ in files}
    first, last = days[0], days[-1]
    missing = [(first + i * one, f) for i in range((last - first).days + 1) for f in feeds
               if (first + i * one, f) not in have]
    outside = ([(d0, first - one)] if first > d0 else []) + ([(last + one, d1)] if last < d1 else [])
    return missing, outside


# ----------------------------------------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------------------------------------

def _export_schema(pa: types.ModuleType) -> Any:          # a pyarrow.Schema (pyarrow is untyped)
    return pa.schema([
        ("ts", pa.timestamp("ns", tz="Asia/Kolkata")),
        ("seq", pa.uint64()),
        ("token", pa.uint32()),
        ("group", pa.uint8()),
        ("flags", pa.uint8()),
        ("mask", pa.uint16()),
        ("source", pa.uint16()),
        ("slot0", pa.int32()),
        ("slot1", pa.int32()),
        ("slot2", pa.int32()),
        ("slot3", pa.int32()),
    ])


def _import_pyarrow() -> tuple[types.ModuleType, types.ModuleType]:
    """(pyarrow, pyarrow.parquet), or an ImportError saying why not: not installed (the ``export`` extra), or
    installed but refusing to import, e.g. pyarrow 26, which the ``export`` extra picks beside numpy 1.26
    (``numpy>=1.26`` allows it) and which refuses any numpy before 2.0: its own message then says so."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != "pyarrow":
            raise ImportError(f"vega.export needs pyarrow, which does not import: {e}") from e
        raise ImportError("vega.export needs pyarrow, which is not installed: pip install 'vega[export]'") from e
    except ImportError as e:
        raise ImportError(f"vega.export needs pyarrow, which does not import: {e}") from e
    return pa, pq


def _check_export_dir(out: Path) -> None:
    """ValueError unless pyarrow's file system can take paths under ``out``: UTF-8 ones only (a directory
    named in another encoding, which Python holds with surrogate escapes, failed deep in the export)."""
    try:
        os.fspath(out.absolute()).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"export: the output directory {os.fsencode(out)!r} is not UTF-8, which pyarrow's paths "
                         f"must be: choose another") from None


#: the Parquet codecs export writes (vega export --compression offers the same): "none" (or None) for none
_COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "brotli", "none")
#: export's formats (vega export --format), and the compressions of a CSV file: gzip, which pandas, polars,
#: DuckDB, R and pyarrow read as it is, or none, for a spreadsheet
_FORMATS = ("parquet", "csv")
_CSV_COMPRESSIONS = ("gzip", "none")
#: zlib's level for a CSV file: gzip's own default.  pyarrow's gzip stream has no level and takes 9, which on a
#: simulated day's CSV (182 MB) took 3.4 times the CPU of level 6 for a file 5% smaller
_CSV_GZIP_LEVEL = 6


def _export_format(fmt: str) -> str:
    """``export``'s ``format`` checked: one of _FORMATS in any case, lower-cased; a TypeError or ValueError
    naming them otherwise."""
    if not isinstance(fmt, str):
        raise TypeError(f"export: format must be one of {', '.join(_FORMATS)}, not {type(fmt).__name__}")
    if fmt.lower() not in _FORMATS:
        raise ValueError(f"export: format must be one of {', '.join(_FORMATS)}, not {fmt!r}")
    return fmt.lower()


def _export_compression(compression: str | None, fmt: str = "parquet") -> str | None:
    """``export``'s ``compression`` checked for the format ``fmt`` (_export_format's): "auto" (zstd for
    Parquet, none for CSV), one of _COMPRESSIONS (Parquet) or _CSV_COMPRESSIONS (CSV) in any case (pyarrow's
    names), or None; a TypeError or ValueError naming them otherwise (an unknown name was pyarrow's bare
    ArrowException, raised with the output directory already made)."""
    names = _COMPRESSIONS if fmt == "parquet" else _CSV_COMPRESSIONS
    choices = f"{'' if fmt == 'parquet' else 'for CSV '}must be one of {', '.join(names)} (or None)"
    if compression is None:
        return None
    if not isinstance(compression, str):
        raise TypeError(f"export: compression {choices}, not {type(compression).__name__}")
    name = compression.lower()
    if name == "auto":
        return "zstd" if fmt == "parquet" else None
    if name not in names:
        raise ValueError(f"export: compression {choices}, not {compression!r}")
    return None if name == "none" else name


def _export_name(fmt: str, compression: str | None) -> str:
    """The name of a day's file: part-0.parquet, part-0.csv, or part-0.csv.gz (gzip)."""
    return "part-0.parquet" if fmt == "parquet" else "part-0.csv.gz" if compression else "part-0.csv"


@contextlib.contextmanager
def _table_writer(fmt: str, path: str, schema: Any, compression: str | None) -> Iterator[Any]:
    """A pyarrow writer of ``fmt`` (checked) into ``path`` (absolute), closed on leaving: tables go in with its
    ``write_table``.  The local file system is named: pyarrow reads a bare string as a URI, and a relative
    directory with a ':' in its name (export-15:30) was "Unrecognized filesystem type"."""
    import pyarrow.fs as pafs
    if fmt == "parquet":
        import pyarrow.parquet as pq
        with pq.ParquetWriter(path, schema, compression=compression, filesystem=pafs.LocalFileSystem()) as pw:
            yield pw
        return
    import gzip

    import pyarrow.csv as pacsv
    with pafs.LocalFileSystem().open_output_stream(path, compression=None) as raw:
        with (gzip.GzipFile(filename="", mode="wb", compresslevel=_CSV_GZIP_LEVEL, fileobj=raw) if compression
              else contextlib.nullcontext(raw)) as sink, pacsv.CSVWriter(sink, schema) as cw:
            yield cw


def _export_end(j: Journal) -> int:
    """The records of ``j`` that export writes: those a replay of its whole day delivers (_span): all of a
    sealed file; of one not sealed (being written, or left by a writer that stopped) those up to the update it
    ends inside, which replay holds back, so an export and a later one of the sealed day agree on every record
    the first wrote."""
    return _span(j, 0, None, None)[1]


def export(root: StrPath, out: StrPath, start: DayLike | Datetime64, end: DayLike | Datetime64 | None = None,
           feeds: Iterable[str] | str | None = None, *, progress: bool = True, format: str = "parquet",
           compression: str | None = "auto", row_group_size: int = 1 << 20,
           on_file: Callable[[Path], object] | None = None) -> list[Path]:
    """Export journals to Parquet (or CSV), one row per change record, hive-partitioned as
    ``<out>/date=YYYY-MM-DD/feed=<FEED>/part-0.parquet``.  Columns: ``ts`` (timestamp[ns, Asia/Kolkata]),
    ``seq``, ``token``, ``group``, ``flags``, ``mask``, ``source``, ``slot0``..``slot3``.  Readable as one
    dataset by pyarrow.dataset, DuckDB (``read_parquet('<out>/**/*.parquet', hive_partitioning=true)``) and
    polars.  Shows a progress bar (tqdm) when ``progress``.  Needs the ``export`` extra.  Returns the files.
    ``start``/``end`` (inclusive; default ``end``: ``start``): trading dates as ``replay`` takes them, a datetime
    or a numpy datetime64 of a time unit (UTC) being its IST date (a datetime64 of a date unit is a ValueError,
    as in ``replay``).
    A day's file that is not sealed (being written) is exported as far as it goes, up to the update it ends
    inside (whose other records are not written yet), as replay holds that update back.
    ``format``: "parquet" (default) or "csv", any case: ``part-0.csv``, written by pyarrow's CSV writer with
    the same columns and rows, a header line, the integers as they are and ``ts`` as text to the nanosecond
    with its UTC offset, ``2026-11-20 09:15:00.123456789+0530`` (the same bytes from pyarrow 15.0.0, the oldest
    the ``export`` extra allows, as from 26.0.1).
    ``compression``: "auto" (default: zstd for Parquet, none for CSV); for Parquet "zstd", "snappy", "gzip",
    "lz4", "brotli" or "none" (or None), for CSV "gzip" (``part-0.csv.gz``) or "none" (or None), any case;
    ``row_group_size``: records per Parquet row group (CSV: per write), an int >= 1 (the records are read a row
    group at a time: what the export holds in memory, whatever the range).  Anything else is a TypeError or
    ValueError naming the argument, before anything is written.  A day that fails while written (a full disk,
    Ctrl-C) leaves nothing of its own: neither its temporary file nor the directories made for it; the days
    before it stay whole.  ``on_file``: called with each file once it is whole in place (so a caller can say which
    days an export that then failed wrote)."""
    fmt = _export_format(format)
    compression = _export_compression(compression, fmt)
    row_group_size = _count_arg(row_group_size, "export: row_group_size (records per row group)")
    pa, _ = _import_pyarrow()
    root, out = Path(root), Path(out)
    _check_export_dir(out)
    d0 = _export_day(start, "export: start")
    d1 = d0 if end is None else _export_day(end, "export: end")
    if d1 < d0:
        raise ValueError(f"export: end date {d1} is before start date {d0}")
    names = _feeds(root, feeds)
    files = journal_files(root, names, d0, d1)
    counted = []
    for d, f, p in files:
        # every day is checked before anything is written, and opened again when written, one at a time: a
        # journal holds two file descriptors, and a year of days held open ran out of them ("Too many open files"
        # past ~500 days under the common limit of 1024)
        with _day_file(p, f, d) as j:
            counted.append(_export_end(j))
    total = sum(counted)
    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=total, unit="rec", unit_scale=True, desc="export")
        except ImportError:  # pragma: no cover
            bar = None
    schema = _export_schema(pa)
    name = _export_name(fmt, compression)
    written = []
    try:
        for (d, f, p), was in zip(files, counted):
            dest_dir = out / f"date={d.isoformat()}" / f"feed={f}"
            dest = dest_dir / name
            tmp = dest_dir / f".{name}.tmp"
            made = missing_dirs([dest_dir])                                     # this day's directories
            base = day_epoch_ns(d)
            j = _day_file(p, f, d)
            try:
                dest_dir.mkdir(parents=True, exist_ok=True)
                with _table_writer(fmt, os.path.abspath(tmp), schema, compression) as tw:
                    n = _export_end(j)
                    if bar is not None and n != was:   # today's file, grown since it was counted: the bar's total too
                        bar.total += n - was
                        bar.refresh()
                    for a in range(0, max(n, 1), row_group_size):
                        # read (pread) a row group at a time, not through the map: pages of the map stay in
                        # the process once touched, and an export held every day of the range in memory
                        j.rewind(a)
                        r = j.read(min(row_group_size, n - a), copy=True)
                        slots = r["slots"]
                        cols = [
                            pa.array(timestamps(r) + base, pa.int64()).cast(schema.field("ts").type),
                            pa.array(j.seqs(a, a + len(r))),
                            pa.array(r["token"]), pa.array(r["group"]), pa.array(r["flags"]),
                            pa.array(r["mask"]), pa.array(r["source"]),
                        ] + [pa.array(np.ascontiguousarray(slots[:, i])) for i in range(4)]
                        tw.write_table(pa.Table.from_arrays(cols, schema=schema))
                        if bar is not None:
                            bar.update(len(r))
                os.replace(tmp, dest)
            except BaseException as e:
                # a full disk, Ctrl-C, anything: no temporary file left, nor a directory made for this day (an
                # empty date=.../feed=... looked like a day exported without records); one that was there stays
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                remove_empty(made)
                if isinstance(e, OSError) and not e.filename:   # name the file that could not be written
                    if e.errno:
                        raise OSError(e.errno, f"cannot write {dest}: {e.strerror or e}") from e
                    raise OSError(f"cannot write {dest}: {e}") from e
                raise
            finally:
                j.close()
            written.append(dest)
            if on_file is not None:
                with bar.external_write_mode() if bar is not None else contextlib.nullcontext():
                    on_file(dest)                # (a line printed under the bar: the bar drawn again after it)
    finally:
        if bar is not None:
            bar.close()
    return written
