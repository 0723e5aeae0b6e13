"""The instrument master: NSE's F&O ``contract.txt`` and CM ``security.txt`` as one table.

Both files are pipe-delimited text, a header line then one line per instrument (field positions:
NSE's documents' upload-file appendices, FO946 p.277-291 and CM63 p.211-224, and docs/FORMATS.md "Instrument
master"):

* ``contract.txt`` (F&O): header ``NEATFO|<version>|``; fields 0 token, 1 asset token, 2 instrument name,
  3 symbol, 4 series, 6 expiry (seconds since 1980-01-01 read as IST), 7 strike (paise; -1 for futures),
  8 option type (CE / PE; futures XX), 30 minimum lot, 32 tick (paise), 53 name, 65 asset symbol,
  68 delete flag.
* ``security.txt`` (CM): header ``NEATCM|<version>|<date>``; fields 0 token, 1 symbol, 2 series,
  19 board lot, 20 tick (paise), 21 name, 51 delete flag.

A line that cannot be read (too few fields, a number that is not a number or does not fit its table column,
a text longer than its column, a symbol, series, instrument or asset symbol that is not ASCII, a bad option type,
a repeated token, a NUL character) is skipped and reported in ``Instruments.errors`` as ``(path, line number,
reason)``; the rest loads.  Unknown trailing fields are ignored.  Lines whose delete flag is ``Y`` are skipped
and counted in ``Instruments.deleted``.

``Instruments.table`` is a numpy structured array (``INSTRUMENT_DTYPE``).  Expiry: ``expiry_raw`` as in the
file, ``expiry_unix`` = unix seconds of 14:30 IST on the IST date of ``expiry_raw`` (0 for CM securities).
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from vega._files import StrPath, open_regular, quote as _quote


__all__ = ["INSTRUMENT_DTYPE", "Instrument", "Instruments", "InstrumentFileError", "SEG_FO", "SEG_CM",
           "expiry_unix", "write_contract_file", "write_security_file"]

SEG_FO = 2                             # = VG_SEG_FO in vega/_core.pxd
SEG_CM = 4                             # = VG_SEG_CM

EPOCH_1980 = 315532800                 # unix seconds of 1980-01-01 00:00 UTC
IST_OFFSET = 19800                     # IST = UTC + 5:30
EXPIRY_CLOCK = 14 * 3600 + 30 * 60     # expiry time of day, IST (PROTOCOL_MORE.md §4.3)
IST = _dt.timezone(_dt.timedelta(seconds=IST_OFFSET), "IST")

CONTRACT_FIELDS = 69                   # fields of a contract.txt detail line as written by write_contract_file
SECURITY_FIELDS = 54                   # fields of a security.txt detail line
CONTRACT_MIN_FIELDS = 33               # through the tick size (index 32)
SECURITY_MIN_FIELDS = 21               # through the tick size (index 20)

INSTRUMENT_DTYPE = np.dtype([
    ("token", "<i4"),                  # broadcast token (unique within a segment)
    ("segment", "u1"),                 # SEG_FO (2) or SEG_CM (4)
    ("symbol", "U10"),                 # e.g. NIFTY, RELIANCE
    ("series", "U2"),                  # CM series (EQ, BE, ...); F&O series field (often blank)
    ("instrument", "U6"),              # FUTIDX, FUTSTK, OPTIDX, OPTSTK, ...; "" for CM
    ("expiry_raw", "<i8"),             # seconds since 1980-01-01 as in the file (IST reading); 0 for CM
    ("expiry_unix", "<i8"),            # unix seconds of 14:30 IST on the expiry date; 0 for CM
    ("strike", "<i8"),                 # paise; -1 for futures and CM securities
    ("option_type", "U2"),             # CE, PE, XX (futures); "" for CM
    ("lot_size", "<i4"),               # F&O minimum lot (field 30); CM board lot (field 19)
    ("tick_size", "<i4"),              # paise
    ("asset_token", "<i4"),            # F&O: token of the underlying (field 1); CM: the token itself
    ("asset_symbol", "U10"),           # F&O: SymbolForAsset (field 65, else the symbol); CM: the symbol
    ("name", "U25"),                   # security / contract name when the file carries one
])


#: (min, max) of each integer column: a number of the file outside it is a bad line, not an OverflowError that
#: fails the whole table when the rows become INSTRUMENT_DTYPE
_RANGE = {n: (int(np.iinfo(INSTRUMENT_DTYPE[n]).min), int(np.iinfo(INSTRUMENT_DTYPE[n]).max))
          for n in INSTRUMENT_DTYPE.names or () if INSTRUMENT_DTYPE[n].kind in "iu"}
#: the latest expiry_raw whose date a datetime can hold (9999-12-31 IST): Instrument.expiry and
#: Instruments.expiries() turn expiries into dates
EXPIRY_RAW_MAX = int((_dt.datetime(9999, 12, 31, 23, 59, 59) - _dt.datetime(1980, 1, 1)).total_seconds())
#: a master file's numbers: ASCII digits with an optional sign.  int() takes more ('35_006' is 35006, and
#: non-ASCII digits), which would read a damaged field as some other number.
_INTEGER = re.compile(r"[-+]?[0-9]+")


class InstrumentFileError(ValueError):
    """A master file that cannot be read at all (missing or wrong header)."""


class Instrument(NamedTuple):
    """One row of the instrument table (see ``INSTRUMENT_DTYPE`` for units)."""
    token: int
    segment: int
    symbol: str
    series: str
    instrument: str
    expiry_raw: int
    expiry_unix: int
    strike: int
    option_type: str
    lot_size: int
    tick_size: int
    asset_token: int
    asset_symbol: str
    name: str

    @property
    def is_option(self) -> bool:
        return self.option_type in ("CE", "PE")

    @property
    def is_future(self) -> bool:
        return self.segment == SEG_FO and self.option_type == "XX"

    @property
    def expiry(self) -> _dt.datetime | None:
        """The expiry as an aware datetime (14:30 IST), None for CM securities."""
        if self.segment != SEG_FO or self.expiry_raw <= 0:
            return None
        return _dt.datetime.fromtimestamp(self.expiry_unix, IST)


def expiry_unix(expiry_raw: int) -> int:
    """Unix seconds of 14:30 IST on the IST date of a master-file expiry (seconds since 1980, IST reading).

    ``raw + 315532800`` is the IST wall-clock time; the date is kept and the clock set to 14:30 IST
    (the same rule as ``vega._iv.expiry_to_unix``)."""
    wall = int(expiry_raw) + EPOCH_1980
    return (wall // 86400) * 86400 + EXPIRY_CLOCK - IST_OFFSET


_EXPIRY_FORMS = "raw seconds since 1980, a date, a datetime or 'YYYY-MM-DD'"      # (for a str of another form)
_EXPIRY_TYPES = "raw seconds since 1980, a date, a datetime, a numpy datetime64 or 'YYYY-MM-DD'"
#: an expiry argument of the lookups: raw seconds since 1980 (an int or a numpy integer: the table's expiry_raw),
#: a date or datetime, a numpy datetime64 (a pandas column's value), or 'YYYY-MM-DD'
Expiry: TypeAlias = int | np.integer[Any] | _dt.date | str | np.datetime64


def _expiry_key(expiry: Expiry) -> int:
    """expiry_unix of an expiry given as raw seconds since 1980, a date, a datetime, a numpy datetime64 (UTC, as
    numpy's times are in the rest of the API: its IST date; a date's 00:00 is that date) or 'YYYY-MM-DD'.
    ValueError naming the forms for a str of another form (date.fromisoformat's "Invalid isoformat string" named
    neither the argument nor them), and for NaT; TypeError for a bool (True was the raw second 1: an empty answer)
    or another type."""
    if isinstance(expiry, np.datetime64):           # (was "expiry must be ..., not np.datetime64('2026-12-16')")
        if np.isnat(expiry):
            raise ValueError("expiry is NaT (numpy's not-a-time): give a date")
        days = (int(expiry.astype("datetime64[s]").astype(np.int64)) + IST_OFFSET) // 86400
        return days * 86400 + EXPIRY_CLOCK - IST_OFFSET
    if isinstance(expiry, str):
        try:
            expiry = _dt.date.fromisoformat(expiry)
        except ValueError:
            raise ValueError(f"expiry must be {_EXPIRY_FORMS}, not {expiry!r}") from None
    if isinstance(expiry, _dt.datetime):
        if expiry.tzinfo is not None:
            expiry = expiry.astimezone(IST)
        expiry = expiry.date()
    if isinstance(expiry, _dt.date):
        days = (expiry - _dt.date(1970, 1, 1)).days
        return days * 86400 + EXPIRY_CLOCK - IST_OFFSET
    if isinstance(expiry, (int, np.integer)) and not isinstance(expiry, (bool, np.bool_)):
        return expiry_unix(int(expiry))
    raise TypeError(f"expiry must be {_EXPIRY_TYPES}, not {expiry!r}")


def _expiry_day(expiry_unix: int) -> str:
    """The IST date of an expiry (Unix seconds) as 'YYYY-MM-DD', or the seconds where no date holds them."""
    try:
        return _dt.datetime.fromtimestamp(expiry_unix, IST).date().isoformat()
    except (OverflowError, OSError, ValueError):
        return f"{expiry_unix} s since 1970"


#: a segment argument of the lookups: "FO" / "CM" (any case, as ``Store.load_instruments`` takes them) or
#: SEG_FO / SEG_CM (an int or a numpy integer)
Segment: TypeAlias = str | int | np.integer[Any]
_SEGMENTS = {"FO": SEG_FO, "CM": SEG_CM}


def _segment(segment: Segment) -> int:
    """SEG_FO or SEG_CM of a segment argument; ValueError for another name or number, TypeError for a bool, a
    float or another type (the table's column compared with "FO" matched nothing: an empty answer, no error)."""
    if isinstance(segment, str):
        seg = _SEGMENTS.get(segment.upper())
    elif isinstance(segment, (int, np.integer)) and not isinstance(segment, (bool, np.bool_)):
        seg = int(segment) if int(segment) in (SEG_FO, SEG_CM) else None
    else:
        raise TypeError(f"segment must be 'FO' (SEG_FO) or 'CM' (SEG_CM), not {type(segment).__name__}")
    if seg is None:
        raise ValueError(f"segment must be 'FO' (SEG_FO) or 'CM' (SEG_CM), not {segment!r}")
    return seg


def _symbol_key(symbol: str, what: str = "symbol") -> str:
    """A symbol as the lookups match it: blanks around it trimmed, upper case (str.upper, as the table's).
    NSE's symbols are upper case, and "nifty" finding nothing (no error) looked like an empty chain;
    ``vega.index_token`` takes index names in any case too.  TypeError for anything but a str (a token compared
    with the symbols found nothing)."""
    if not isinstance(symbol, str):
        raise TypeError(f"{what} must be a str (an NSE symbol such as 'NIFTY'), not {type(symbol).__name__}")
    return symbol.strip().upper()


def _token(token: int | np.integer[Any]) -> int:
    """A token as an int, as the store takes it: an int or a numpy integer; TypeError for a bool, a float, a str
    (int() of 1.7 looked up token 1)."""
    if isinstance(token, (bool, np.bool_)) or not isinstance(token, (int, np.integer)):
        raise TypeError(f"a token is an int, not {type(token).__name__}")
    return int(token)


def _int(fields: list[str], i: int, what: str, column: str) -> int:
    """Field ``i`` as an integer that fits table column ``column`` (ValueError naming the field if not)."""
    s = fields[i].strip()
    if _INTEGER.fullmatch(s) is None:
        raise ValueError(f"field {i} ({what}) is not an integer: {_quote(s)}")
    lo, hi = _RANGE[column]
    # (more than 19 digits fits no column, and int() would refuse over 4300 with a ValueError of its own)
    if len(s.lstrip("+-").lstrip("0")) > 19 or not lo <= int(s) <= hi:
        raise ValueError(f"field {i} ({what}) {_quote(s)} is outside {lo}..{hi}")
    return int(s)


def _size(fields: list[str], i: int, what: str, column: str) -> int:
    """A lot or tick size: an integer of its column, not negative (0: not given)."""
    v = _int(fields, i, what, column)
    if v < 0:
        raise ValueError(f"field {i} ({what}) {v} is negative")
    return v


def _text(fields: list[str], i: int, what: str) -> str:
    """Text field ``i`` stripped; ValueError when it is not ASCII.  NSE's symbols, series and instrument names
    are, and the store's record keeps ASCII: a latin-1 'É' (a damaged or re-encoded file, read as latin-1) was
    written into the store as '?' without a word."""
    s = fields[i].strip()
    if not s.isascii():
        raise ValueError(f"field {i} ({what}) {_quote(s)} is not ASCII")
    return s


def _opt(fields: list[str], i: int, what: str, width: int, ascii: bool = False) -> str:
    """Optional text field ``i`` ("" when the line ends before it); ValueError when longer than its column (the
    file's CHAR width): a value cut to fit would load as another one than the file's; with ``ascii``, ValueError
    when it is not ASCII (as _text)."""
    if i >= len(fields):
        return ""
    s = _text(fields, i, what) if ascii else fields[i].strip()
    if len(s) > width:
        raise ValueError(f"field {i} ({what}) {_quote(s)} is longer than {width} characters")
    return s


#: a UTF-8 byte order mark as the latin-1 text the files are read as: an editor that saved a copy may add it
_UTF8_BOM = "\xef\xbb\xbf"

#: the longest line a master file may have (NSE's are a few hundred characters): a longer one is no master
#: file's, and a file of binary data without a newline is refused after this much, not read into memory whole
MAX_LINE = 1 << 16


def _read_lines(path: str) -> Iterable[tuple[int, str]]:
    with open_regular(path, InstrumentFileError, "an NSE master file") as fh:
        no = 0
        while True:
            line = fh.readline(MAX_LINE + 1)
            if not line:
                return
            no += 1
            if len(line) > MAX_LINE and not line.endswith("\n"):
                raise InstrumentFileError(f"{path}:{no}: a line longer than {MAX_LINE:,} characters: not an NSE "
                                          "master file")
            yield no, line.rstrip("\r\n")


#: one instrument's values, in INSTRUMENT_DTYPE's (and Instrument's) field order
_Row = tuple[int, int, str, str, str, int, int, int, str, int, int, int, str, str]


def _parse_contract_line(f: list[str]) -> _Row:
    if len(f) < CONTRACT_MIN_FIELDS:
        raise ValueError(f"{len(f)} fields, at least {CONTRACT_MIN_FIELDS} expected")
    token = _int(f, 0, "token", "token")
    if token <= 0:
        raise ValueError(f"token {token} <= 0")
    asset_token = _int(f, 1, "asset token", "asset_token")
    instrument = _text(f, 2, "instrument")
    symbol = _text(f, 3, "symbol")
    if not symbol:
        raise ValueError("empty symbol")
    series = _text(f, 4, "series")
    expiry_raw = _int(f, 6, "expiry", "expiry_raw")
    strike = _int(f, 7, "strike", "strike")
    opt = f[8].strip().upper()
    if opt not in ("CE", "PE", "XX"):
        raise ValueError(f"field 8 (option type) {_quote(opt)} is not CE, PE or XX")
    if opt != "XX" and strike <= 0:
        raise ValueError(f"option with strike {strike}")
    kind = instrument.upper()[:3]                 # FUTIDX, FUTSTK, FUTIVX ... / OPTIDX, OPTSTK ...
    if (kind == "FUT" and opt != "XX") or (kind == "OPT" and opt == "XX"):
        raise ValueError(f"instrument {_quote(instrument)} with option type {opt}")
    if expiry_raw <= 0:
        raise ValueError(f"field 6 (expiry) {expiry_raw} <= 0")
    if expiry_raw > EXPIRY_RAW_MAX:
        raise ValueError(f"field 6 (expiry) {expiry_raw} is after 9999-12-31")
    lot = _size(f, 30, "minimum lot", "lot_size")
    tick = _size(f, 32, "tick size", "tick_size")
    if len(symbol) > 10 or len(instrument) > 6 or len(series) > 2:
        raise ValueError("symbol, instrument or series longer than the file's maximum")
    asset_symbol = _opt(f, 65, "asset symbol", 10, ascii=True) or symbol
    return (token, SEG_FO, symbol, series, instrument, expiry_raw, expiry_unix(expiry_raw), strike, opt,
            lot, tick, asset_token, asset_symbol, _opt(f, 53, "name", 25))


def _parse_security_line(f: list[str]) -> _Row:
    if len(f) < SECURITY_MIN_FIELDS:
        raise ValueError(f"{len(f)} fields, at least {SECURITY_MIN_FIELDS} expected")
    token = _int(f, 0, "token", "token")
    if token <= 0:
        raise ValueError(f"token {token} <= 0")
    symbol = _text(f, 1, "symbol")
    if not symbol:
        raise ValueError("empty symbol")
    series = _text(f, 2, "series")
    if len(symbol) > 10 or len(series) > 2:
        raise ValueError("symbol or series longer than the file's maximum")
    lot = _size(f, 19, "board lot", "lot_size")
    tick = _size(f, 20, "tick size", "tick_size")
    return (token, SEG_CM, symbol, series, "", 0, 0, -1, "", lot, tick, token, symbol, _opt(f, 21, "name", 25))


#: each master file's header and what the error says of a file with the other one's
_OTHER_MASTER = {
    "NEATFO": ("NEATCM", ": a CM security file, which is security_path (Instruments.load(security_path=...))"),
    "NEATCM": ("NEATFO", ": an F&O contract file, which is contract_path (the first argument)"),
}


class Instruments:
    """The instrument table loaded from contract.txt (F&O) and/or security.txt (CM).

    ``table`` (numpy structured array of ``INSTRUMENT_DTYPE``), ``errors`` (list of ``(path, line number,
    reason)`` for lines that were skipped), ``deleted`` (lines skipped for DeleteFlag ``Y``).
    """

    def __init__(self, table: npt.ArrayLike | None = None, errors: Iterable[tuple[str, int, str]] | None = None,
                 deleted: int = 0):
        self.table: npt.NDArray[np.void] = (np.zeros(0, INSTRUMENT_DTYPE) if table is None
                                            else np.asarray(table, INSTRUMENT_DTYPE))
        self.errors: list[tuple[str, int, str]] = list(errors or [])
        self.deleted = deleted
        self._index()

    # ---------------------------------------------------------------------------------------- loading
    @classmethod
    def load(cls, contract_path: StrPath | None = None, security_path: StrPath | None = None) -> "Instruments":
        """Load either or both master files; bad lines are skipped and listed in ``errors``.

        Raises InstrumentFileError when a file's header line is missing or of the wrong kind (a file of the other
        kind says which argument takes it) or the path is not a regular file (a FIFO, a device, a directory:
        refused, not read), FileNotFoundError when a path does not exist."""
        rows: list[_Row] = []
        errors: list[tuple[str, int, str]] = []
        deleted = 0
        for path, magic, parse, del_idx in ((contract_path, "NEATFO", _parse_contract_line, 68),
                                            (security_path, "NEATCM", _parse_security_line, 51)):
            if path is None:
                continue
            path = os.fspath(path)
            seen: dict[int, int] = {}
            header = False
            for no, line in _read_lines(path):
                if not header:
                    if no == 1 and line.startswith(_UTF8_BOM):     # a copy saved by a Windows editor
                        line = line[len(_UTF8_BOM):]
                    if not line.startswith(magic + "|"):
                        other, hint = _OTHER_MASTER[magic]       # the other kind of master file, given here
                        hint = hint if line.startswith(other + "|") else ""
                        raise InstrumentFileError(f"{path}:{no}: header {magic}|<version>|... expected, "
                                                  f"got {_quote(line)}{hint}")
                    header = True
                    continue
                if not line.strip():
                    continue
                if "\0" in line:              # zeroed bytes: a NUL symbol read as an empty one (numpy drops them)
                    errors.append((path, no, f"a NUL character at column {line.index(chr(0)) + 1} (damaged)"))
                    continue
                f = line.split("|")
                if len(f) > del_idx and f[del_idx].strip().upper() == "Y":
                    deleted += 1
                    continue
                try:
                    row = parse(f)
                except ValueError as e:
                    errors.append((path, no, str(e)))
                    continue
                if row[0] in seen:
                    errors.append((path, no, f"duplicate token {row[0]} (first at line {seen[row[0]]})"))
                    continue
                seen[row[0]] = no
                rows.append(row)
            if not header:
                raise InstrumentFileError(f"{path}: empty file (no {magic} header)")
        return cls(np.array(rows, dtype=INSTRUMENT_DTYPE), errors, deleted)

    def _index(self) -> None:
        t = self.table
        self._by_key = {(int(seg), int(tok)): i for i, (seg, tok) in enumerate(zip(t["segment"], t["token"]))}
        self._keys_of: tuple[npt.NDArray[np.void], npt.NDArray[np.str_]] | None = None

    def _is_symbol(self, symbol: str, what: str = "symbol") -> npt.NDArray[np.bool_]:
        """The rows of ``symbol`` in any case (_symbol_key), as a mask of ``table``.  The table's symbols as keys
        are made once per table (a table assigned since gets its own)."""
        key = _symbol_key(symbol, what)
        if self._keys_of is None or self._keys_of[0] is not self.table:
            self._keys_of = (self.table, np.char.upper(self.table["symbol"]))
        is_symbol: npt.NDArray[np.bool_] = self._keys_of[1] == key
        return is_symbol

    # ---------------------------------------------------------------------------------------- lookups
    def __len__(self) -> int:
        return len(self.table)

    def __iter__(self) -> Iterator[Instrument]:
        for i in range(len(self.table)):
            yield self._row(i)

    def __contains__(self, item: object) -> bool:
        """``token in masters``: a token (an int or a numpy integer) of either segment, as ``token in store``;
        an :class:`Instrument`: that row.  Anything else (a float, a str, a bool) is in no master: False."""
        if isinstance(item, Instrument):
            i = self._by_key.get((item.segment, item.token))
            return i is not None and self._row(i) == item
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            return False
        return (SEG_FO, int(item)) in self._by_key or (SEG_CM, int(item)) in self._by_key

    def __repr__(self) -> str:
        fo = int((self.table["segment"] == SEG_FO).sum())
        return f"<Instruments {len(self)} ({fo} F&O, {len(self) - fo} CM), {len(self.errors)} errors>"

    def _row(self, i: int) -> Instrument:
        return Instrument(*(v.item() if hasattr(v, "item") else v for v in self.table[i].tolist()))

    def get(self, token: int | np.integer[Any], segment: Segment | None = None) -> Instrument | None:
        """The instrument of ``token`` (in ``segment`` when given), or None."""
        try:
            return self.by_token(token, segment)
        except KeyError:
            return None

    def by_token(self, token: int | np.integer[Any], segment: Segment | None = None) -> Instrument:
        """The instrument of ``token`` (an int or a numpy integer; TypeError for a float, a bool or a str, as in
        the store).  F&O and CM tokens are separate number spaces: when the token exists in both, ``segment``
        ("FO" / "CM", or SEG_FO / SEG_CM; another value is a ValueError) must say which (else LookupError).
        KeyError if unknown."""
        token = _token(token)
        if segment is not None:
            segment = _segment(segment)
            i = self._by_key.get((segment, token))
            if i is None:
                raise KeyError(f"token {token} not in segment {segment}")
            return self._row(i)
        fo = self._by_key.get((SEG_FO, token))
        cm = self._by_key.get((SEG_CM, token))
        if fo is not None and cm is not None:
            raise LookupError(f"token {token} exists in both F&O and CM: pass segment=SEG_FO or SEG_CM")
        i = fo if fo is not None else cm
        if i is None:
            raise KeyError(f"token {token} not found")
        return self._row(i)

    def by_symbol(self, symbol: str, segment: Segment | None = None) -> npt.NDArray[np.void]:
        """All instruments of ``symbol`` (structured array), F&O by expiry, strike and type, then CM; only those
        of ``segment`` ("FO" / "CM", or SEG_FO / SEG_CM) when given.  A symbol is taken in any case, blanks
        around it ignored ("nifty" is NIFTY), as in every lookup by symbol here."""
        m = self._is_symbol(symbol)
        if segment is not None:
            m &= self.table["segment"] == _segment(segment)
        return self._sorted(self.table[m])

    @staticmethod
    def _sorted(a: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
        return a[np.lexsort((a["option_type"], a["strike"], a["expiry_unix"], a["segment"]))]

    def expiries(self, symbol: str) -> list[_dt.date]:
        """The F&O expiry dates (IST) of ``symbol`` (any case), ascending."""
        t = self.table
        u = np.unique(t["expiry_unix"][self._is_symbol(symbol) & (t["segment"] == SEG_FO)])
        return [_dt.datetime.fromtimestamp(int(x), IST).date() for x in u]

    def _of_expiry(self, fo: npt.NDArray[np.bool_], symbol: str, expiry: Expiry, func: str) -> npt.NDArray[np.bool_]:
        """The rows of mask ``fo`` (``symbol``'s F&O contracts) expiring on ``expiry``: ValueError naming the
        listed expiries when ``symbol`` has no contract of that expiry (a mistyped or past date, a weekly taken
        for a monthly gave an empty answer, without a word, as a symbol with no F&O contract did)."""
        expiry_unix, key = self.table["expiry_unix"], _expiry_key(expiry)
        m: npt.NDArray[np.bool_] = fo & (expiry_unix == key)
        if not m.any():
            listed = [_expiry_day(int(x)) for x in np.unique(expiry_unix[fo])]
            n = int(expiry) if isinstance(expiry, (int, np.integer)) else None    # an expiry_unix given for it?
            unix = n is not None and bool((expiry_unix[fo] == n).any())
            raise ValueError(f"{func}: {_symbol_key(symbol)} has no contract expiring on {_expiry_day(key)}: "
                             + (f"its expiries are {', '.join(listed)}" if listed else
                                "it has no F&O contract in these masters")
                             + (f" ({n} is the expiry_unix of {_expiry_day(n)}: an int expiry is expiry_raw, "
                                f"seconds since 1980)" if unix and n is not None else ""))
        return m

    def option_chain(self, symbol: str, expiry: Expiry) -> npt.NDArray[np.void]:
        """Options (CE and PE) of ``symbol`` (any case) expiring on ``expiry`` (raw seconds since 1980, a date, a
        datetime, a numpy datetime64 or 'YYYY-MM-DD'), sorted by strike then CE before PE.  ValueError naming the
        symbol's expiries (``expiries(symbol)``) when it has no contract of ``expiry``; an expiry of its futures
        alone has an empty chain."""
        t = self.table
        m = (self._of_expiry(self._is_symbol(symbol) & (t["segment"] == SEG_FO), symbol, expiry, "option_chain")
             & np.isin(t["option_type"], ["CE", "PE"]))
        a: npt.NDArray[np.void] = t[m]
        return a[np.lexsort((a["option_type"], a["strike"]))]

    def futures(self, underlying: str, expiry: Expiry | None = None) -> npt.NDArray[np.void]:
        """Futures (option type XX) on ``underlying`` (the symbol, any case), optionally of one expiry, by
        expiry.  ValueError naming the expiries of ``underlying`` when it has no contract of ``expiry``, as
        ``option_chain`` (an expiry of its options alone, a weekly, has no future: an empty answer)."""
        t = self.table
        fo = self._is_symbol(underlying, "underlying") & (t["segment"] == SEG_FO)
        if expiry is not None:
            fo = self._of_expiry(fo, underlying, expiry, "futures")
        m = fo & (t["option_type"] == "XX")
        a: npt.NDArray[np.void] = t[m]
        return a[np.argsort(a["expiry_unix"], kind="stable")]

    def tokens(self, segment: Segment) -> npt.NDArray[np.int32]:
        """Tokens of one segment ("FO" / "CM", or SEG_FO / SEG_CM) as int32, e.g. to pre-populate the store
        before the open."""
        seg = _segment(segment)
        tokens: npt.NDArray[np.int32] = self.table["token"][self.table["segment"] == seg].copy()   # ("<i4")
        return tokens

    def option_meta(self) -> np.ndarray:
        """Per F&O option what the IV computation needs (structured array ``OPTION_META_DTYPE``): strike,
        expiry, call/put, the underlying's token and the token of the same-symbol future of the same expiry
        (-1 when there is none, e.g. weekly expiries)."""
        t = self.table
        fut = t[(t["segment"] == SEG_FO) & (t["option_type"] == "XX")]
        fut_of = {(s, int(e)): int(tok) for s, e, tok in zip(fut["symbol"], fut["expiry_unix"], fut["token"])}
        opt = t[(t["segment"] == SEG_FO) & np.isin(t["option_type"], ["CE", "PE"])]
        out = np.zeros(len(opt), OPTION_META_DTYPE)
        out["token"] = opt["token"]
        out["strike"] = opt["strike"]
        out["expiry_unix"] = opt["expiry_unix"]
        out["is_call"] = opt["option_type"] == "CE"
        out["asset_token"] = opt["asset_token"]
        out["future_token"] = [fut_of.get((s, int(e)), -1) for s, e in zip(opt["symbol"], opt["expiry_unix"])]
        return out


OPTION_META_DTYPE = np.dtype([
    ("token", "<i4"),                  # the option's F&O token
    ("future_token", "<i4"),           # same-symbol, same-expiry future (F&O token), -1 if none
    ("asset_token", "<i4"),            # underlying (contract.txt field 1: CM token of the stock / index)
    ("is_call", "u1"),                 # 1 CE, 0 PE
    ("strike", "<i8"),                 # paise
    ("expiry_unix", "<i8"),            # unix seconds of 14:30 IST on the expiry date
])


# ---------------------------------------------------------------------------------------------------- writers
#: what the writers take: Instruments, a structured array, or rows (Instrument tuples, or dicts by field name)
_Instruments: TypeAlias = Instruments | npt.NDArray[Any] | Iterable[Iterable[Any] | dict[str, Any]]


def _rows(instruments: _Instruments) -> npt.NDArray[np.void]:
    if isinstance(instruments, Instruments):
        return instruments.table
    if isinstance(instruments, np.ndarray):
        return instruments.astype(INSTRUMENT_DTYPE)
    return np.array([tuple(r) if not isinstance(r, dict) else tuple(r[n] for n in INSTRUMENT_DTYPE.names or ())
                     for r in instruments], dtype=INSTRUMENT_DTYPE)


def write_contract_file(path: StrPath, instruments: _Instruments, version: str = "9.46") -> int:
    """Write the F&O rows of ``instruments`` (Instruments, a structured array or Instrument tuples) as an
    NSE contract.txt (69 fields per line, §4.1 positions; fields VEGA does not model are written empty or 0,
    permitted-to-trade 1, delete flag N).  Returns the number of lines written after the header."""
    rows = _rows(instruments)
    rows = rows[rows["segment"] == SEG_FO]
    with open(path, "w", encoding="latin-1", newline="\n") as fh:
        fh.write(f"NEATFO|{version}|\n")
        for r in rows:
            f = [""] * CONTRACT_FIELDS
            f[0] = str(int(r["token"]))
            f[1] = str(int(r["asset_token"]))
            f[2] = str(r["instrument"])
            f[3] = str(r["symbol"])
            f[4] = str(r["series"])
            f[6] = str(int(r["expiry_raw"]))
            f[7] = str(int(r["strike"]))
            f[8] = str(r["option_type"])
            f[9] = "1"                              # category: regular market hours
            f[10] = "0"
            f[11] = "0"
            f[12] = "1"                              # permitted to trade
            f[13] = "0"
            for m in range(4):                       # (status, eligibility, empty) per market
                f[14 + 3 * m] = "2"
                f[15 + 3 * m] = "1"
            f[30] = str(int(r["lot_size"]))
            f[31] = str(int(r["lot_size"]))
            f[32] = str(int(r["tick_size"]))
            f[53] = str(r["name"])
            f[59] = "E"
            f[63] = "C"
            f[65] = str(r["asset_symbol"])
            f[68] = "N"
            fh.write("|".join(f) + "\n")
    return len(rows)


def write_security_file(path: StrPath, instruments: _Instruments, version: str = "6.3", date: int = 0) -> int:
    """Write the CM rows of ``instruments`` as an NSE security.txt (54 fields per line, §4.2 positions;
    delete flag N).  Returns the number of lines written after the header."""
    rows = _rows(instruments)
    rows = rows[rows["segment"] == SEG_CM]
    with open(path, "w", encoding="latin-1", newline="\n") as fh:
        fh.write(f"NEATCM|{version}|{int(date)}\n")
        for r in rows:
            f = [""] * SECURITY_FIELDS
            f[0] = str(int(r["token"]))
            f[1] = str(r["symbol"])
            f[2] = str(r["series"])
            f[3] = "0"                               # instrument type: equities
            f[5] = "1"                               # permitted to trade
            for m in range(6):                       # (status, eligibility) per market
                f[7 + 2 * m] = "2"
                f[8 + 2 * m] = "1"
            f[19] = str(int(r["lot_size"]))
            f[20] = str(int(r["tick_size"]))
            f[21] = str(r["name"])
            f[51] = "N"
            fh.write("|".join(f) + "\n")
    return len(rows)
