"""Shared helpers of the operator commands (watch, replay, dump, verify, stat, export).

Argument parsing that turns operator mistakes into one-line :class:`CliError` messages, opening rings,
stores and journals with readable errors, and decoding change records into named fields using the store's
change-record groups (docs/FORMATS.md, "Change records").
"""
from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

import numpy as np

from vega.commands import CliError

DAY_NS = 86_400_000_000_000


def one_line_errors(parser, name: str):
    """Make ``parser`` report usage errors as one line ``vega NAME: message (see vega NAME --help)`` on
    stderr with exit status 2, instead of argparse's usage block."""
    import sys

    def error(message):
        print(f"vega {name}: {message} (see vega {name} --help)", file=sys.stderr)
        raise SystemExit(2)
    parser.error = error
    return parser
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$")


def parse_tokens(text: str | None) -> np.ndarray | None:
    """``"26000,35001"`` -> uint32 array; None -> None.  Tokens are positive integers below 2**32."""
    if text is None:
        return None
    out = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit() or not 0 < int(part) < 1 << 32:
            raise CliError(f"bad token {part!r}: expected positive integers separated by commas")
        out.append(int(part))
    if not out:
        raise CliError(f"bad --tokens {text!r}: no token given")
    return np.asarray(sorted(set(out)), dtype=np.uint32)


def parse_time(text: str, what: str = "time") -> int:
    """``HH:MM[:SS[.fraction]]`` (IST wall time of the trading day) -> ns since 00:00 IST."""
    m = _TIME_RE.match(text.strip())
    if not m:
        raise CliError(f"bad {what} {text!r}: expected HH:MM[:SS[.fraction]] (IST)")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    frac = (m.group(4) or "").ljust(9, "0")
    if h > 23 or mi > 59 or s > 59:
        raise CliError(f"bad {what} {text!r}: out of range")
    return ((h * 60 + mi) * 60 + s) * 1_000_000_000 + int(frac or 0)


def parse_date(text: str, what: str = "date") -> _dt.date:
    """``YYYY-MM-DD`` or ``YYYYMMDD`` -> date."""
    t = text.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return _dt.datetime.strptime(t, fmt).date()
        except ValueError:
            pass
    raise CliError(f"bad {what} {text!r}: expected YYYY-MM-DD or YYYYMMDD")


def parse_bound(text: str, what: str):
    """A replay bound: a trading date, or ``YYYY-MM-DDTHH:MM[:SS]`` / ``'YYYY-MM-DD HH:MM'`` (IST)."""
    from vega.journal import IST
    t = text.strip()
    if "T" in t or " " in t:
        day, _, clock = t.replace("T", " ").partition(" ")
        d = parse_date(day, what)
        ns = parse_time(clock, what)
        base = _dt.datetime(d.year, d.month, d.day, tzinfo=IST)
        return base + _dt.timedelta(microseconds=ns // 1000)
    return parse_date(t, what)


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


def fmt_age(ns: int) -> str:
    """A duration in ns, short and human."""
    if ns < 0:
        return "-"
    s = ns / 1e9
    if s < 1:
        return f"{s * 1e3:.0f}ms"
    if s < 120:
        return f"{s:.1f}s"
    if s < 7200:
        return f"{s / 60:.0f}m"
    if s < 172800:
        return f"{s / 3600:.1f}h"
    return f"{s / 86400:.0f}d"


# ----------------------------------------------------------------------------------------------------------
# opening things with one-line errors
# ----------------------------------------------------------------------------------------------------------

def open_ring(name: str):
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


def store_class():
    """``vega.Store`` (imported on use: commands that do not need the store do not load it)."""
    from vega import Store
    return Store


def open_store(name: str):
    """``Store.open(name)`` read-only, errors as CliError."""
    Store = store_class()
    try:
        return Store.open(name)
    except FileNotFoundError as e:
        raise CliError(f"{e}: is the capture running?") from None
    except PermissionError as e:
        raise CliError(f"cannot open store {name!r}: permission denied ({e})") from None
    except Exception as e:  # StoreFormatError, StoreError, OSError: one line for the operator
        raise CliError(f"cannot open store {name!r}: {e}") from None


def open_journal(path: str | Path):
    """``Journal.open(path)``, errors as CliError."""
    from vega.journal import Journal, JournalError
    p = Path(path)
    if not p.exists():
        raise CliError(f"{p}: no such journal file")
    if p.is_dir():
        raise CliError(f"{p}: is a directory, expected a journal file (YYYYMMDD.bin)")
    try:
        return Journal.open(p)
    except PermissionError:
        raise CliError(f"{p}: permission denied") from None
    except (JournalError, OSError, ValueError) as e:
        raise CliError(f"{p}: cannot read journal: {e} (try: vega verify --repair {p})") from None


def journal_root(path: str | Path) -> Path:
    """A journal root directory (holding ``<FEED>/YYYYMMDD.bin``), checked."""
    from vega.journal import FEEDS
    root = Path(path)
    if not root.is_dir():
        raise CliError(f"{root}: no such journal root directory")
    if not any((root / f).is_dir() for f in FEEDS):
        raise CliError(f"{root}: not a journal root (no {'/, '.join(FEEDS)}/ directory)")
    return root


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
# change records -> named fields (docs/FORMATS.md "Change records")
# ----------------------------------------------------------------------------------------------------------

_GROUP_TABLE: dict | None = None


def group_table() -> dict[int, tuple[str, tuple[tuple[str, int, bool], ...]]]:
    """group id -> (name, ((field, slots, signed), ... in mask-bit order)) from vega.store.GROUPS."""
    global _GROUP_TABLE
    if _GROUP_TABLE is not None:
        return _GROUP_TABLE
    try:
        from vega.store import GROUPS, INDEX_UNION_FIELDS, STORE_DTYPE
    except ImportError:  # pragma: no cover - only before the store is merged
        _GROUP_TABLE = {}
        return _GROUP_TABLE
    table = {}
    union = {n: np.dtype(t) for n, t, _ in INDEX_UNION_FIELDS}
    for gid, (gname, fields) in GROUPS.items():
        out = []
        for f in fields:
            base = f.split("[", 1)[0]
            if base in union:
                dt = union[base]
                out.append((f, 2 if dt.itemsize == 8 else 1, dt.kind in "if"))
            elif base in STORE_DTYPE.names:
                dt = STORE_DTYPE.fields[base][0]
                dt = dt.base if dt.subdtype else dt
                out.append((f, 2 if dt.itemsize == 8 else 1, dt.kind == "i"))
            else:  # symbol0/1/2: raw bytes as int32
                out.append((f, 1, True))
        table[gid] = (gname, tuple(out))
    _GROUP_TABLE = table
    return table


def group_name(gid: int) -> str:
    """The group's name, or ``group<N>`` when unknown."""
    g = group_table().get(int(gid))
    return g[0] if g else f"group{int(gid)}"


def decode_fields(group: int, mask: int, slots) -> dict[str, int | str]:
    """The named field values of one change record (absolute values; 8-byte fields from two slots).

    Unknown groups or masks that need more than four slots give ``{"slot0": ..}`` raw values."""
    g = group_table().get(int(group))
    raw = [int(s) for s in slots]
    if g is None:
        return {f"slot{i}": v for i, v in enumerate(raw)}
    out: dict[str, int | str] = {}
    k = 0
    fields = g[1]
    for bit in range(16):
        if not mask >> bit & 1:
            continue
        if bit >= len(fields) or k >= 4:
            return {f"slot{i}": v for i, v in enumerate(raw)} | {"bad_mask": f"0x{mask:04x}"}
        name, width, signed = fields[bit]
        if width == 2:
            if k + 1 >= 4:
                return {f"slot{i}": v for i, v in enumerate(raw)} | {"bad_mask": f"0x{mask:04x}"}
            lo, hi = raw[k] & 0xFFFFFFFF, raw[k + 1] & 0xFFFFFFFF
            v = lo | hi << 32
            if name == "idx_market_cap":                  # the DOUBLE's IEEE bits
                out[name] = float(np.array([v], dtype=np.uint64).view(np.float64)[0])
                k += 2
                continue
            if signed and v >= 1 << 63:
                v -= 1 << 64
            out[name] = v
            k += 2
        else:
            v = raw[k]
            if name.startswith("symbol"):
                out[name] = (v & 0xFFFFFFFF).to_bytes(4, "little").decode("latin-1")
            elif name == "net_change_indicator":
                out[name] = chr(v & 0xFF) if v else ""
            else:
                out[name] = v
            k += 1
    return out


def flags_text(flags: int) -> str:
    """``C`` CONTINUED, ``K`` KEYFRAME, ``E`` CHECKPOINT_END (vega.records), ``-`` none."""
    s = ("C" if flags & 0x01 else "") + ("K" if flags & 0x02 else "") + ("E" if flags & 0x04 else "")
    return s or "-"
