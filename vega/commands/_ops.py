"""Shared helpers of the operator commands (watch, replay, dump, verify, stat, export).

Argument parsing that turns operator mistakes into one-line :class:`CliError` messages, opening rings,
stores and journals with readable errors, and decoding change records into named fields using the store's
change-record groups (docs/FORMATS.md, "Change records").
"""
from __future__ import annotations

import argparse
import datetime as _dt
import re
from pathlib import Path
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Callable, NoReturn, TypeVar

import numpy as np
import numpy.typing as npt

from vega.commands import CliError

if TYPE_CHECKING:
    from vega._core import Store
    from vega._journal import Journal
    from vega._ring import Ring
    from vega.instruments import Instruments

DAY_NS = 86_400_000_000_000
_T = TypeVar("_T")


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` report usage errors as one line ``vega NAME: message (see vega NAME --help)`` on
    stderr with exit status 2, instead of argparse's usage block (``parser.prog`` is ``vega NAME``)."""
    import sys

    def error(message: str) -> NoReturn:
        print(f"{parser.prog}: {message} (see {parser.prog} --help)", file=sys.stderr)
        raise SystemExit(2)
    # on purpose: this one parser's error method, which argparse calls as self.error, replaced by an attribute
    parser.error = error  # type: ignore[method-assign]
    return parser


_DIGITS_RE = re.compile(r"[0-9]+")
_TIME_RE = re.compile(r"^([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?$")   # ASCII digits only
_TOO_FINE_RE = re.compile(r"^[0-9]{1,2}:[0-9]{2}:[0-9]{2}\.[0-9]{10,}$")


def parse_tokens(text: str | None) -> npt.NDArray[np.uint32] | None:
    """``"26000,35001"`` -> uint32 array; None -> None.  Tokens are positive integers below 2**32."""
    if text is None:
        return None
    out = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if not _DIGITS_RE.fullmatch(part) or not 0 < int(part) < 1 << 32:   # ASCII digits ('²'.isdigit())
            raise CliError(f"bad token {part!r}: expected positive integers separated by commas")
        out.append(int(part))
    if not out:
        raise CliError(f"bad --tokens {text!r}: no token given")
    return np.asarray(sorted(set(out)), dtype=np.uint32)


#: what the commands take as a time of day, a date, and a replay bound (either, or a date and a time of day)
TIME_FORMS = "HH:MM[:SS[.fraction]] (IST)"
DATE_FORMS = "YYYY-MM-DD, YYYYMMDD, today or yesterday (IST)"
BOUND_FORMS = (f"a date, {DATE_FORMS}, or a date and IST time, YYYY-MM-DDTHH:MM[:SS[.fraction]] (a space or T "
               "between them)")


class _Malformed(ValueError):
    """Text that is not in the form asked for (the message names the forms); a plain ValueError is text in the
    form whose values are not (a 25th hour, a 30th of February): its message says which."""


def _clock_ns(text: str, hours: int) -> int:
    """``HH:MM[:SS[.fraction]]`` -> ns since 00:00; _Malformed, or ValueError for a value out of its range."""
    m = _TIME_RE.match(text.strip())
    if not m:
        if _TOO_FINE_RE.match(text.strip()):        # (was "expected HH:MM[:SS[.fraction]]", which it is)
            raise ValueError("its fraction of a second has more than 9 digits (nanoseconds)")
        raise _Malformed
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    frac = (m.group(4) or "").ljust(9, "0")
    if h >= hours or mi > 59 or s > 59:
        raise ValueError(f"time of day out of range (00:00 to {hours - 1}:59:59.999999999)")
    return ((h * 60 + mi) * 60 + s) * 1_000_000_000 + int(frac or 0)


def _day(text: str) -> _dt.date:
    """``YYYY-MM-DD``, ``YYYYMMDD``, ``today`` or ``yesterday`` (the IST day: the journals' trading day) -> date;
    _Malformed, or ValueError for a date the calendar has not.  Every command that takes a day parses it here."""
    from vega._journal import _DAY_WORDS, as_date
    t = text.strip()
    if t.lower() in _DAY_WORDS:
        return as_date(t)                       # (the library's words: vega.replay and vega.export take them too)
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return _dt.datetime.strptime(t, fmt).date()
        except ValueError:
            pass
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}", t):
        raise ValueError("not a calendar date")
    raise _Malformed


def _parsed(parse: Callable[[str], _T], text: str, what: str, forms: str) -> _T:
    """``parse(text)``, its errors as one line naming ``what`` and the whole ``text``: the ``forms`` it may take
    for text not in any of them, else what is wrong with its values."""
    try:
        return parse(text)
    except _Malformed:
        raise CliError(f"bad {what} {text!r}: expected {forms}") from None
    except ValueError as e:
        raise CliError(f"bad {what} {text!r}: {e}") from None


def parse_time(text: str, what: str = "time", hours: int = 24) -> int:
    """``HH:MM[:SS[.fraction]]`` (IST wall time of the trading day) -> ns since 00:00 IST.  ``hours``: HH is
    below it (48 for a time within a journal file, whose night past midnight, a rollover after 00:00, is
    24:00 to 47:59, as ``fmt_ts`` shows it)."""
    return _parsed(lambda t: _clock_ns(t, hours), text, what, TIME_FORMS)


def parse_date(text: str, what: str = "date") -> _dt.date:
    """``YYYY-MM-DD``, ``YYYYMMDD``, ``today`` or ``yesterday`` (IST) -> date."""
    return _parsed(_day, text, what, DATE_FORMS)


def parse_bound(text: str, what: str) -> _dt.date:
    """A replay bound: a trading date, or ``YYYY-MM-DDTHH:MM[:SS[.fraction]]`` / ``'YYYY-MM-DD HH:MM'`` (IST).
    An error names the whole bound and every form it may take."""
    from vega._journal import IST

    def bound(text: str) -> _dt.date:
        t = text.strip()
        if "T" not in t and " " not in t:
            return _day(t)
        day, _, clock = t.replace("T", " ").partition(" ")
        d = _day(day)
        ns = _clock_ns(clock, 24)
        if ns % 1000:                             # (a datetime holds microseconds: the rest was cut off unsaid)
            raise ValueError("a time bound is taken to the microsecond (at most 6 digits after the second)")
        return _dt.datetime(d.year, d.month, d.day, tzinfo=IST) + _dt.timedelta(microseconds=ns // 1000)
    return _parsed(bound, text, what, BOUND_FORMS)


def fmt_ts(ts_ns: int) -> str:
    """ts48 (ns since 00:00 IST) -> ``HH:MM:SS.nnnnnnnnn``."""
    ts_ns = int(ts_ns)
    s, ns = divmod(ts_ns, 1_000_000_000)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{ns:09d}"


def fmt_paise(p: int) -> str:
    """Paise -> rupees with two decimals."""
    return f"{int(p) / 100:,.2f}"


# ----------------------------------------------------------------------------------------------------------
# opening things with one-line errors
# ----------------------------------------------------------------------------------------------------------

def open_ring(name: str) -> Ring:
    """``Ring.open(name)`` read-only, errors as CliError."""
    from vega._ring import Ring, RingError, ring_path
    try:
        path = ring_path(name)
    except ValueError as e:
        raise CliError(str(e)) from None
    try:
        return Ring.open(name)
    except FileNotFoundError:
        raise CliError(f"no ring named {name!r} ({path}): is the capture running?") from None
    except PermissionError:
        raise CliError(f"{path}: permission denied (run as the capture's user)") from None
    except (RingError, ValueError, OSError) as e:
        raise CliError(f"cannot open ring {name!r}: {e}") from None


def store_class() -> type[Store]:
    """``vega.Store`` (imported on use: commands that do not need the store do not load it)."""
    from vega import Store
    return Store


def open_store(name: str) -> Store:
    """``Store.open(name)`` read-only, errors as CliError."""
    Store = store_class()
    try:
        return Store.open(name)
    except FileNotFoundError as e:
        raise CliError(str(e) if "<prefix>" in str(e) else f"{e}: is the capture running?") from None
    except PermissionError as e:
        raise CliError(f"cannot open store {name!r}: permission denied ({e})") from None
    except Exception as e:  # StoreFormatError, StoreError, OSError: one line for the operator
        raise CliError(f"cannot open store {name!r}: {e}") from None


def load_masters(contract: str | None, security: str | None) -> Instruments:
    """``Instruments.load`` of the NSE master files given (contract.txt, security.txt), errors as CliError."""
    from vega.instruments import InstrumentFileError, Instruments
    try:                                          # (a FIFO or a directory: InstrumentFileError, not a hang)
        return Instruments.load(contract, security)
    except (InstrumentFileError, OSError, UnicodeDecodeError) as e:
        raise CliError(f"instrument master: {e}") from None


def refuse_special_file(p: Path) -> None:
    """CliError for an existing path that is not a regular file or directory given as a journal file: reading a
    FIFO would block for ever."""
    if p.exists() and not p.is_file() and not p.is_dir():
        raise CliError(f"{p}: not a regular file (a FIFO, a device or a socket), expected a journal file "
                       f"(YYYYMMDD.bin)")


def open_journal(path: str | Path) -> Journal:
    """``Journal.open(path)``, errors as CliError."""
    from vega.journal import Journal, JournalError
    p = Path(path)
    if not p.exists():
        raise CliError(f"{p}: no such journal file")
    if p.is_dir():
        raise CliError(f"{p}: is a directory, expected a journal file (YYYYMMDD.bin)")
    refuse_special_file(p)
    try:
        return Journal.open(p)
    except PermissionError:
        raise CliError(f"{p}: permission denied") from None
    except (JournalError, OSError, ValueError) as e:
        raise CliError(f"{p}: cannot read journal: {e}{repair_hint(p)}") from None


def repair_hint(path: Path) -> str:
    """" (try: vega verify --repair PATH)" when a repair can mend the file (its header is intact), else ""
    (not a journal, a newer format, a damaged header: --repair would leave it as it is)."""
    from vega.journal import verify
    try:
        fixable = verify(path).repairable
    except (OSError, ValueError):
        return ""
    return f" (try: vega verify --repair {path})" if fixable else ""


def journal_root(path: str | Path) -> Path:
    """A journal root directory (holding ``<FEED>/YYYYMMDD.bin``), checked (``vega.journal.journal_root``),
    errors as CliError."""
    from vega.journal import journal_root as checked
    try:
        return checked(path)
    except FileNotFoundError as e:
        raise CliError(str(e)) from None


def _few(items: list[str] | list[_dt.date], n: int, what: str = "") -> str:
    """Of ``n`` items, ``items`` being every one when ``n`` is at most 7, else the first three and the last
    three: "a, b" or "N WHAT: a, b, c, ..., x, y, z" (a line stays short whatever the range)."""
    if n <= 7:
        return ", ".join(map(str, items))
    return f"{n:,}{what}: {', '.join(map(str, items[:3]))}, ..., {', '.join(map(str, items[-3:]))}"


def missing_text(missing: Iterable[tuple[_dt.date, str]], feeds: Sequence[str],
                 outside: Iterable[tuple[_dt.date, _dt.date]] = ()) -> str:
    """"no file: NSE_EQ 2026-11-24; no files on 2026-11-21, 2026-11-22" for (date, feed) pairs without a journal
    file (ReplayResult.missing): the days without a file for any of ``feeds`` (weekends, holidays) apart from a
    feed missing on a day the others have.  ``outside``: (first, last) ranges of days without any file, not in
    ``missing`` (an operator's range before the first file there and after the last).  More than 7 are
    summarised: their number, the first three and the last three."""
    by_day: dict[_dt.date, list[str]] = {}
    for d, f in missing:
        by_day.setdefault(d, []).append(f)
    some = [f"{f} {d}" for d, fs in sorted(by_day.items()) if len(fs) < len(feeds) for f in fs]
    ranges = sorted([(d, d) for d, fs in by_day.items() if len(fs) == len(feeds)] +
                    [(a, b) for a, b in outside if a <= b])
    n_none = sum((b - a).days + 1 for a, b in ranges)
    one = _dt.timedelta(days=1)
    if n_none <= 7:
        days = [a + i * one for a, b in ranges for i in range((b - a).days + 1)]
    else:                                         # the first three and the last three, without listing a range
        head = [a + i * one for a, b in ranges for i in range(min(3, (b - a).days + 1))][:3]
        tail = [b - i * one for a, b in reversed(ranges) for i in range(min(3, (b - a).days + 1))][:3]
        days = head + tail[::-1]
    some_text = _few(some, len(some), " feed days")
    return "; ".join(([f"no file: {some_text}"] if some else []) +
                     ([f"no files on {_few(days, n_none, ' days')}"] if n_none else []))


def parse_feeds(text: str | None) -> list[str] | None:
    """``"NSE_FO,NSE_EQ"`` -> names (checked), None -> None (every feed present)."""
    from vega.journal import FEEDS
    if text is None:
        return None
    out = []
    for f in text.split(","):
        name = f.strip().upper()
        if not name:
            continue
        if name not in FEEDS:
            raise CliError(f"unknown feed {f.strip()!r}: expected one of {', '.join(FEEDS)}")
        out.append(name)
    if not out:
        raise CliError("--feeds: no feed given")
    return out


# ----------------------------------------------------------------------------------------------------------
# change records (their fields by name: vega.records.field_values / group_name)
# ----------------------------------------------------------------------------------------------------------

def flags_text(flags: int) -> str:
    """``C`` CONTINUED, ``K`` KEYFRAME, ``E`` CHECKPOINT_END (vega.records), ``-`` none."""
    s = ("C" if flags & 0x01 else "") + ("K" if flags & 0x02 else "") + ("E" if flags & 0x04 else "")
    return s or "-"
