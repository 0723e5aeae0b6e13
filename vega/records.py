"""The 32-byte change record carried by the ring and the journal, as a numpy dtype.

Mirrors ``vg_rec_t`` in ``vega/_core.pxd`` (little-endian, packed, 32 bytes); docs/FORMATS.md is normative.
``ts48`` (ns since 00:00 IST of the trading day) is split in two little-endian words so numpy can read it
without unaligned 6-byte arithmetic: ``ts = ts_lo | ts_hi << 32`` (see :func:`timestamps`).
"""
from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any, SupportsInt, overload

import numpy as np
import numpy.typing as npt

CHANGE_RECORD_DTYPE = np.dtype(
    {
        "names": ["token", "ts_lo", "ts_hi", "group", "flags", "mask", "source", "slots"],
        "formats": ["<u4", "<u4", "<u2", "u1", "u1", "<u2", "<u2", ("<i4", (4,))],
        "offsets": [0, 4, 8, 10, 11, 12, 14, 16],
        "itemsize": 32,
    }
)

#: flags bits
CONTINUED = 0x01   # more records of the same store update follow
KEYFRAME = 0x02    # part of a full-state checkpoint, not a live change
CHECKPOINT_END = 0x04   # the last record of a journal checkpoint (a run of KEYFRAME records)

RECORD_SIZE = 32


def raw_or_record_dtype(dtype: np.dtype) -> bool:
    """True for the numpy dtypes a ring or journal append takes as records: CHANGE_RECORD_DTYPE, or raw bytes
    taken as they are (uint8, int8, or a void dtype without fields such as "V32").  Any other dtype (float64,
    int64, another structured dtype) is no array of records."""
    return (dtype == CHANGE_RECORD_DTYPE or (dtype.kind in "ui" and dtype.itemsize == 1)
            or (dtype.kind == "V" and dtype.fields is None))


#: what the functions taking change records take
_RECORDS = "change records (a CHANGE_RECORD_DTYPE array, or one record such as recs[0])"


def _not_records(func: str, value: Any, takes: str = _RECORDS) -> TypeError:
    """The TypeError of ``func`` given ``value``, which is not what it ``takes`` (numpy's own errors, an
    IndexError about valid indices or "no field of name ts_lo", said nothing of records).  Raw bytes (bytes, a
    uint8 or void array) get a hint: viewed as CHANGE_RECORD_DTYPE they are records."""
    if isinstance(value, np.ndarray):
        what = f"an array of {value.dtype}"
    elif isinstance(value, np.generic):
        what = f"a numpy {value.dtype} scalar"
    else:
        what = type(value).__name__
    raw = isinstance(value, (bytes, bytearray, memoryview)) or (
        isinstance(value, (np.ndarray, np.generic)) and raw_or_record_dtype(value.dtype))
    hint = ("; raw 32-byte records: view them as records, np.frombuffer(buf, CHANGE_RECORD_DTYPE) or "
            "arr.view(CHANGE_RECORD_DTYPE)") if raw else ""
    return TypeError(f"{func} takes {takes}, not {what}{hint}")


def _ts_fields(func: str, records: Any) -> tuple[Any, Any]:
    """(ts_lo, ts_hi) of change records, or _not_records' TypeError for anything without those fields."""
    try:
        return records["ts_lo"], records["ts_hi"]
    except (IndexError, KeyError, TypeError, ValueError):
        raise _not_records(func, records) from None


@overload
def timestamps(records: np.void) -> np.int64: ...
@overload
def timestamps(records: npt.NDArray[Any]) -> npt.NDArray[np.int64]: ...


def timestamps(records: npt.NDArray[Any] | np.void) -> npt.NDArray[np.int64] | np.int64:
    """ts48 of each record as int64 nanoseconds since 00:00 IST of the trading day: ``records`` a
    CHANGE_RECORD_DTYPE array or one record (``recs[0]``).  Anything else is a TypeError (raw 32-byte records:
    view them as CHANGE_RECORD_DTYPE first)."""
    lo, hi = _ts_fields("timestamps", records)
    ts: npt.NDArray[np.int64] | np.int64 = lo.astype(np.int64) | (hi.astype(np.int64) << 32)
    return ts


#: the trading day of ``epoch_ns`` / ``datetimes``: a ``datetime.date``, "YYYY-MM-DD" / "YYYYMMDD" or YYYYMMDD
DayLike = _dt.date | str | int


@overload
def epoch_ns(records_or_ts48: int | np.integer[Any], day: DayLike) -> int: ...
@overload
def epoch_ns(records_or_ts48: np.void, day: DayLike) -> np.int64: ...
@overload
def epoch_ns(records_or_ts48: npt.NDArray[Any] | Sequence[int], day: DayLike) -> npt.NDArray[np.int64]: ...


def epoch_ns(records_or_ts48: Any, day: DayLike) -> Any:
    """ns since the Unix epoch of change records' times: ``records_or_ts48`` a CHANGE_RECORD_DTYPE array (or one
    record), or ts48 values (an int or an integer array: ns since 00:00 IST of the trading day, as ``explode``
    gives them); ``day`` the trading day they belong to (a ``datetime.date`` or "YYYY-MM-DD": the ring's and the
    journal's day, e.g. ``Journal.date``).  An int for an int, a numpy int64 for one record, else an int64
    array."""
    from vega._journal import as_date, day_epoch_ns       # lazily: vega._journal imports this module
    base = day_epoch_ns(as_date(day))
    if isinstance(records_or_ts48, (np.ndarray, np.void)) and records_or_ts48.dtype == CHANGE_RECORD_DTYPE:
        return timestamps(records_or_ts48) + np.int64(base)
    if isinstance(records_or_ts48, (int, np.integer)) and not isinstance(records_or_ts48, (bool, np.bool_)):
        return base + int(_ts48_ints("epoch_ns", int(records_or_ts48)))
    return _ts48_ints("epoch_ns", records_or_ts48) + np.int64(base)


def _int_values(values: Any) -> npt.NDArray[Any]:
    """``values`` as a numpy array, an empty list (or tuple ...) as an empty int64 one: numpy makes it float64,
    which the functions taking integers refused ("not float64") when a filter left no value."""
    a = np.asarray(values)
    return a.astype(np.int64) if a.size == 0 and not isinstance(values, np.ndarray) else a


def _ts48_ints(func: str, values: Any) -> npt.NDArray[np.int64]:
    """``values`` as an int64 array of ts48 (ns since 00:00 IST of the trading day): TypeError for anything but
    ints or integers (a bool too), ValueError for one outside [0, 2**48)."""
    ts = _int_values(values)
    if ts.dtype.kind not in "iu":
        raise TypeError(f"{func} takes integer ts48 values (ns since 00:00 IST), not {ts.dtype}")
    if ts.size and (ts.min() < 0 or ts.max() >= 1 << 48):
        raise ValueError(f"{func}: ts48 must be in [0, 2**48) ns, not {ts.min() if ts.min() < 0 else ts.max()}")
    return ts.astype(np.int64)


def datetimes(records_or_ts48: int | np.integer[Any] | np.void | npt.NDArray[Any] | Sequence[int],
              day: DayLike) -> npt.NDArray[np.datetime64]:
    """:func:`epoch_ns` as numpy ``datetime64[ns]`` (UTC, numpy's one zone; pandas:
    ``pd.to_datetime(a, utc=True).tz_convert("Asia/Kolkata")``): a 0-d array for one record or one ts48, which
    the Journal's times and replay's and export's bounds take as they take a datetime64 scalar."""
    return np.asarray(epoch_ns(records_or_ts48, day), dtype=np.int64).view("datetime64[ns]")


def set_timestamps(records: npt.NDArray[Any] | np.void, ts_ns: npt.ArrayLike) -> None:
    """Store int64 ns timestamps (0 <= ts < 2**48) into ``records`` (a CHANGE_RECORD_DTYPE array or one
    record: TypeError for anything else) in place.  ``ts_ns`` is an int or integers: floats, bools or strings
    are a TypeError (a float array was cut to whole ns without a word)."""
    _ts_fields("set_timestamps", records)
    ts = _ts48_ints("set_timestamps", ts_ns)
    records["ts_lo"] = (ts & 0xFFFFFFFF).astype(np.uint32)
    records["ts_hi"] = (ts >> 32).astype(np.uint16)


# ---- what a record says: its fields by name (docs/FORMATS.md "Change records") ----------------------------

#: how a record of a group lays out one changed field: (field name, slots it takes (1 or 2), signed)
FieldLayout = tuple[str, int, bool]

#: the value of one field of a change record (:func:`field_values`): an int, the index's market cap as a float,
#: a symbol chunk or the net-change indicator as a str (and ``bad_mask`` as its hex)
FieldValue = int | float | str


@functools.lru_cache(maxsize=None)
def group_fields() -> dict[int, tuple[str, tuple[FieldLayout, ...]]]:
    """group id -> (group name, ((field, slots, signed), ...) in mask-bit order): how a record of that group
    lays its changed fields out in ``slots`` (an 8-byte field takes two slots, low word first)."""
    from vega.store import GROUPS, INDEX_UNION_FIELDS, STORE_DTYPE        # lazily: vega.store imports this
    union = {n: np.dtype(t) for n, t, _ in INDEX_UNION_FIELDS}
    fields = STORE_DTYPE.fields
    assert fields is not None                             # a structured dtype
    table: dict[int, tuple[str, tuple[FieldLayout, ...]]] = {}
    for gid, (gname, names) in GROUPS.items():
        out: list[FieldLayout] = []
        for f in names:
            base = f.split("[", 1)[0]
            if base in union:
                dt = union[base]
                out.append((f, 2 if dt.itemsize == 8 else 1, dt.kind in "if"))
            elif base in fields:
                dt = fields[base][0]
                dt = dt.base if dt.subdtype else dt
                out.append((f, 2 if dt.itemsize == 8 else 1, dt.kind == "i"))
            else:                                         # symbol0/1/2: 4 raw bytes of the symbol each
                out.append((f, 1, True))
        table[gid] = (gname, tuple(out))
    return table


def group_name(group: int) -> str:
    """A group id's name (``trade``, ``bid``, ...), or ``group<N>`` when unknown."""
    g = group_fields().get(int(group))
    return g[0] if g else f"group{int(group)}"


@functools.lru_cache(maxsize=None)
def _layout(group: int, mask: int) -> tuple[tuple[str, int, bool, int], ...] | None:
    """((field, slots, signed, first slot), ...) of a (group, mask) pair in mask-bit order; None for an
    unknown group or a mask beyond the group or needing more than four slots."""
    g = group_fields().get(group)
    if g is None:
        return None
    out: list[tuple[str, int, bool, int]] = []
    k = 0
    for bit in range(16):
        if mask >> bit & 1:
            if bit >= len(g[1]) or k + g[1][bit][1] > 4:
                return None
            name, width, signed = g[1][bit]
            out.append((name, width, signed, k))
            k += width
    return tuple(out)


def field_values(group: SupportsInt, mask: SupportsInt, slots: Iterable[SupportsInt]) -> dict[str, FieldValue]:
    """The named values of one change record's fields (absolute values).  Symbol chunks come back as their
    4 characters, the net-change indicator as its character, the index's market cap as a float.  An unknown
    group gives its raw ``slot0`` .. ``slot3``; a mask that needs more than four slots adds ``bad_mask``."""
    raw = [int(s) for s in slots]
    group, mask = int(group), int(mask)
    layout = _layout(group, mask)
    if layout is None:
        bad: dict[str, FieldValue] = {"bad_mask": f"0x{mask:04x}"} if group in group_fields() else {}
        return {f"slot{i}": v for i, v in enumerate(raw)} | bad
    out: dict[str, FieldValue] = {}
    for name, width, signed, k in layout:
        if width == 2:
            v = (raw[k] & 0xFFFFFFFF) | (raw[k + 1] & 0xFFFFFFFF) << 32
            if name == "idx_market_cap":                  # the DOUBLE's IEEE bits
                out[name] = float(np.array([v], dtype=np.uint64).view(np.float64)[0])
            else:
                out[name] = v - (1 << 64) if signed and v >= 1 << 63 else v
        elif name.startswith("symbol"):
            out[name] = (raw[k] & 0xFFFFFFFF).to_bytes(4, "little").decode("latin-1").rstrip("\x00")
        elif name == "net_change_indicator":
            out[name] = chr(raw[k] & 0xFF) if raw[k] & 0xFF else ""
        else:
            out[name] = raw[k]
    return out


def fields(record: np.void | npt.NDArray[Any] | bytes | bytearray | memoryview) -> dict[str, FieldValue]:
    """The named values of one change record (a row of a CHANGE_RECORD_DTYPE array, ``recs[0]``, or its 32
    bytes): see field_values.  An array of records is a TypeError: :func:`explode` takes those."""
    rec: np.void | npt.NDArray[Any]
    if isinstance(record, (bytes, bytearray, memoryview)):
        if len(memoryview(record).cast("B")) != RECORD_SIZE:
            raise TypeError(f"fields takes one change record: {RECORD_SIZE} bytes, not "
                            f"{len(memoryview(record).cast('B'))}")
        rec = np.frombuffer(record, CHANGE_RECORD_DTYPE)[0]
    elif isinstance(record, np.ndarray) and record.ndim:
        raise TypeError(f"fields takes one change record (e.g. recs[0]), not an array of shape {record.shape}: "
                        "explode(recs) gives the fields of every record")
    else:
        rec = record
    try:
        group, mask, slots = rec["group"], rec["mask"], rec["slots"]
    except (IndexError, KeyError, TypeError, ValueError):
        raise _not_records("fields", rec, "one change record (a row of a CHANGE_RECORD_DTYPE array such as "
                                             "recs[0], or its 32 bytes)") from None
    return field_values(group, mask, slots)


#: one row per field a change record carries (explode)
FIELD_ROW_DTYPE = np.dtype([("record", "<i8"), ("token", "<u4"), ("ts48", "<i8"), ("source", "<u2"),
                            ("flags", "u1"), ("group", "u1"), ("field", "U32"), ("value", "<i8")])


@functools.lru_cache(maxsize=None)
def _field_names() -> tuple[npt.NDArray[np.str_], dict[str, int]]:
    """(every field name of the group table as a U32 array, name -> its index there): explode gathers
    indices, then names once."""
    names = [f for _, fs in group_fields().values() for f, _, _ in fs]
    return np.array(names, "U32"), {n: i for i, n in enumerate(names)}


def explode(records: npt.ArrayLike) -> npt.NDArray[np.void]:
    """One row per changed field of ``records`` (a CHANGE_RECORD_DTYPE array), in record order:
    ``record`` (its index in ``records``), token, ts48, source, flags, group, ``field`` (its name) and
    ``value`` (int64; 8-byte fields joined from their two slots).  Three fields are not integers and keep
    their raw bits there: the symbol's 4-byte chunks and the net-change indicator (their characters' codes)
    and the index's market cap (the float's IEEE bits); :func:`fields` decodes them.  Records of an unknown
    group or with an impossible mask give no rows.  Vectorised per (group, mask) pair: a ring poll or a day's
    journal at numpy speed; ``pandas.DataFrame(explode(recs))`` gives a long table."""
    recs = np.asarray(records)
    if recs.dtype != CHANGE_RECORD_DTYPE:
        raise _not_records("explode", records if isinstance(records, (bytes, bytearray, memoryview)) else recs,
                           "a CHANGE_RECORD_DTYPE array")
    recs = recs.reshape(-1)
    names, code = _field_names()
    parts: list[tuple[npt.NDArray[np.intp], int, int, npt.NDArray[np.int64]]] = []
    if len(recs):
        key = recs["group"].astype(np.int64) << 16 | recs["mask"].astype(np.int64)
        uniq, inverse = np.unique(key, return_inverse=True)
        by_key = np.argsort(inverse, kind="stable")                 # the records of each pair, in order
        starts = np.concatenate(([0], np.cumsum(np.bincount(inverse, minlength=len(uniq)))))
        slots = recs["slots"].astype(np.int64) & 0xFFFFFFFF          # each slot's 32 bits, unsigned
        signed32 = recs["slots"].astype(np.int64)
        for j, kv in enumerate(uniq.tolist()):
            layout = _layout(kv >> 16, kv & 0xFFFF)
            if not layout:
                continue
            idx = by_key[starts[j]:starts[j + 1]]
            for order, (name, width, signed, k) in enumerate(layout):
                if width == 2:                                       # wraps to the int64 it is
                    v = slots[idx, k] | slots[idx, k + 1] << 32
                else:
                    v = signed32[idx, k] if signed else slots[idx, k]
                parts.append((idx, order, code[name], v))
    n = sum(len(p[0]) for p in parts)
    out = np.empty(n, FIELD_ROW_DTYPE)
    if n:
        rec_i = np.concatenate([p[0] for p in parts])
        bit_order = np.concatenate([np.full(len(p[0]), p[1], np.int64) for p in parts])
        sort = np.lexsort((bit_order, rec_i))                          # record order, then mask-bit order
        rec_i = rec_i[sort]
        out["record"] = rec_i
        out["token"] = recs["token"][rec_i]
        out["ts48"] = timestamps(recs)[rec_i]
        out["source"] = recs["source"][rec_i]
        out["flags"] = recs["flags"][rec_i]
        out["group"] = recs["group"][rec_i]
        out["field"] = names[np.concatenate([np.full(len(p[0]), p[2], np.int16) for p in parts])[sort]]
        out["value"] = np.concatenate([p[3] for p in parts])[sort]
    return out
