"""Wire-exact encoder for the NSE NNF multicast broadcast (CM and F&O).

The inverse of :func:`vega.decode`: it turns the decoded message dictionaries back into the exchange's
big-endian bytes, frames them as sub-packets (LZO1Z-compressed or not) and packs sub-packets into UDP
datagrams.  Tests, benchmarks, the demo and the stream generator (:mod:`vega._streams`) all build their
input through this module.  The byte layouts follow ``shared/nse/PROTOCOL.md`` (CM v6.3, F&O v9.46); every
offset below is absolute from the start of BCAST_HEADER unless it is marked relative.  docs/FORMATS.md lists
the dictionary keys per (segment, code) and the wire fields they come from.

The message dictionary (the shape the decoder returns) has these header keys::

    segment            "CM" / "FO"
    compressed         bool: the sub-packet carrying it is LZO1Z-compressed (used by build_datagram)
    market_type        prefix byte 0 (4 CM, 2 FO)
    message_header     bool: True only for F&O 6013 (interactive MESSAGE_HEADER)
    log_time           LONG, s since 1980-01-01
    alpha_char         str, 2 chars blank-padded on the wire
    transaction_code   7200, 7208, ...
    error_code         SHORT (0 for F&O 7130/17130, whose header has NoOfRecords there)
    bc_seq_no          LONG (0 with MESSAGE_HEADER and for F&O 7130/17130: Reserved)
    trader_id          LONG (MESSAGE_HEADER only, else 0)
    time_stamp2        the 8 bytes of TimeStamp2 as a signed big-endian int64
    stream             Filler2[0], 0..255 (0 with MESSAGE_HEADER and 7130/17130); Filler2[1:8] are written as blanks
    message_length     MessageLength (output of the decoder; the encoder computes it, see encode_message)
    records            list of per-security dicts (7200 and 6013: exactly one; 6541, COUNTED_ONLY codes: none)

and the record keys listed per layout in :data:`LAYOUTS` (``Layout.keys``).  CM 7207/7216/8207 records carry a
``wire_stride`` key (72 = the exchange's 72-byte record, the default; 71 = the document's byte-packed form,
written through :data:`DOCUMENT_FORMS` when every record of the message says 71).

Public API
----------
* :func:`encode_message` -- one message dict -> the message bytes (header first).
* :func:`encode_packet` -- message bytes -> one sub-packet (iCompLen + [LZO1Z] prefix + message).
* :func:`encode_datagram` -- sub-packets -> one datagram (cNetId, iNoPackets, packets).
* :func:`build_datagram` -- message dicts -> datagram, the three above in one call.
* :func:`layout`, :data:`LAYOUTS`, :func:`message_length`, :func:`blank_record`, :func:`blank_message`.
* :data:`COUNTED_ONLY` -- per segment, the documented codes the decoder counts and does not decode: their
  layouts are the header and a zero body of the document's size (docs/FORMATS.md §1.5).
* :func:`sample_stream` -- a deterministic, realistic stream of datagrams (implemented in vega._streams).

Every bad input (unknown code, too many records, a value out of its wire type's range, a missing field, a
wrong-length depth list) raises ``ValueError`` naming the field.  Keyword overrides let tests write a lying
MessageLength (``message_length=``), NoOfRecords (``no_of_records=``) or iNoPackets (``no_packets=``).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Final, Iterable, Iterator, Literal, Mapping, Sequence, TypeAlias

__all__ = [
    "SEGMENTS", "MARKET_TYPE", "HEADER_LEN", "PREFIX_LEN", "Layout", "Leaf", "LAYOUTS", "CODES", "COUNTED_ONLY",
    "layout", "message_length", "blank_record", "blank_message", "DOCUMENT_FORMS",
    "encode_message", "encode_packet", "encode_datagram", "build_datagram",
    "compress", "sample_stream", "markdown_tables",
]

# ----------------------------------------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------------------------------------

SEGMENTS = ("CM", "FO")
MARKET_TYPE = {"CM": 4, "FO": 2}   #: cNetId[0] / prefix byte 0 per segment (PROTOCOL.md §1.1, §1.2)
HEADER_LEN = 40                    #: BCAST_HEADER and MESSAGE_HEADER
PREFIX_LEN = 8                     #: bytes before the header in every sub-packet (byte 0 = market type)
COUNT_OFFSET = 40                  #: NoOfRecords / NumberOfRecords SHORT, in every multi-record layout
RECORDS_OFFSET = 42                #: first record of every multi-record layout

#: Filler2[1:8] and the default 7 ignored prefix bytes and cNetId[1] are blanks, as in the real capture
#: (PROTOCOL.md §5.1: Filler2 = 05 20 20 20 20 20 20 20, cNetId = 02 20).
BLANKS7 = b"       "
NET_ID_FILLER = 0x20

# struct codes -> (name in the NSE documents, min, max) for range messages
_INT_RANGES = {
    "B": ("CHAR (unsigned byte)", 0, 0xFF),
    "h": ("SHORT", -(1 << 15), (1 << 15) - 1),
    "H": ("UNSIGNED SHORT", 0, 0xFFFF),
    "i": ("LONG", -(1 << 31), (1 << 31) - 1),
    "I": ("UNSIGNED LONG", 0, 0xFFFFFFFF),
    "q": ("LONG LONG", -(1 << 63), (1 << 63) - 1),
}
DOUBLE_INT_MAX = 1 << 53           #: F&O DOUBLE totals are ints within +-2**53 (exactly representable)
FO_VOLUME_MAX = (1 << 33) - 1      #: F&O 7208 true volume: UNSIGNED LONG + VolTrdTodayExcdIndc bit


# ----------------------------------------------------------------------------------------------------------
# Layout description language: fields with offsets, copied from PROTOCOL.md §3, compiled to struct formats
# ----------------------------------------------------------------------------------------------------------
#
# A field is (offset, name, kind, fmt).  kinds:
#   int    integer, struct code fmt (h, H, i, I, q)
#   float  Python float packed as DOUBLE ('d')
#   dint   F&O DOUBLE total quantity: an int within +-2**53 packed as DOUBLE
#   char   1-char str ('' = 0 byte) packed as CHAR ('c')
#   str    ASCII str blank-padded to n bytes ('<n>s')
#   ind    ST_INDICATOR dict {last_trade_more, last_trade_less, buy, sell} -> byte 0 bits 0x80..0x10, byte 1 0
#   terms  ST_MBO_MBP_TERMS from the MBO entry's mf/aon bools -> byte 0 bits 0x80/0x40, byte 1 0
#   vol33  F&O 7208 VolumeTradedToday: true volume 0..2**33-1, written modulo 2**32 (UNSIGNED LONG)
#   excd   F&O 7208 VolTrdTodayExcdIndc: '1' when the true volume >= 2**32 else '0' (derived, CHAR)
#   stride CM 7207/7216/8207 `wire_stride` key: not a wire field but the record stride (72 wire form, 71 the
#          document's byte-packed form); offset and fmt are None, the encoder picks the layout from it
# An array is (offset, name, count, stride, fields): a list of `count` dicts at offset + i * stride.

#: a wire field (offset, name, kind, struct code), of the kinds above but stride; name None: the value is the
#: array entry itself (an array of scalars), or for terms the entry's mf and aon keys
_Wire: TypeAlias = tuple[int, str | None, Literal["int", "float", "dint", "char", "str", "ind", "terms", "vol33",
                                                  "excd"], str]
#: the `wire_stride` key (offset and struct code None: not on the wire)
_Stride: TypeAlias = tuple[None, str, Literal["stride"], None]


@dataclass(frozen=True)
class Array:
    off: int
    name: str
    count: int
    stride: int
    fields: tuple[_Field, ...]


#: one entry of a layout's (or an array's) fields
_Field: TypeAlias = _Wire | _Stride | Array


def _i(off: int, name: str, fmt: str = "i") -> _Wire:
    return (off, name, "int", fmt)


_IND: Final = "ind"

# --- shared sub-structures ------------------------------------------------------------------------------

_MBO: tuple[_Field, ...] = (  # MBO_INFORMATION / ST_MBO_INFO, 18 bytes (CM table 37.4, FO table 76)
    _i(0, "trader_id"), _i(4, "qty"), _i(8, "price"), (12, None, "terms", "B"), _i(14, "min_fill_qty"),
)
_MBP_CM: tuple[_Field, ...] = (  # CM MBP_INFORMATION, 16 bytes
    _i(0, "quantity", "q"), _i(8, "price"), _i(12, "number_of_orders", "h"), _i(14, "bb_buy_sell_flag", "h"),
)
_MBP_FO7200: tuple[_Field, ...] = (  # F&O 7200 ST_MBP_INFO, 10 bytes
    _i(0, "quantity"), _i(4, "price"), _i(8, "number_of_orders", "h"),
)
_MBP_FO7208: tuple[_Field, ...] = (  # F&O 7208 MBP_INFORMATION, 12 bytes
    _i(0, "quantity"), _i(4, "price"), _i(8, "number_of_orders", "h"), _i(10, "bb_buy_sell_flag", "h"),
)
_MW_INFO_CM: tuple[_Field, ...] = (  # CM MARKET WISE INFORMATION, 34 bytes (64-bit volumes)
    (0, "indicator", _IND, "B"), _i(2, "buy_volume", "q"), _i(10, "buy_price"), _i(14, "sell_volume", "q"),
    _i(22, "sell_price"), _i(26, "last_trade_price"), _i(30, "last_trade_time"),
)
_MW_INFO_FO: tuple[_Field, ...] = (  # F&O ST_MKT_WISE_INFO, 26 bytes (32-bit volumes)
    (0, "indicator", _IND, "B"), _i(2, "buy_volume"), _i(6, "buy_price"), _i(10, "sell_volume"),
    _i(14, "sell_price"), _i(18, "last_trade_price"), _i(22, "last_trade_time"),
)
_MD_CM_HEAD: tuple[_Field, ...] = (  # CM INTERACTIVE MBO DATA head / 7208 record head, relative 0..59
    _i(0, "token"), _i(4, "book_type", "h"), _i(6, "trading_status", "h"), _i(8, "volume_traded_today", "q"),
    _i(16, "last_traded_price"), (20, "net_change_indicator", "char", "c"),   # 21: Filler
    _i(22, "net_price_change_from_closing_price"), _i(26, "last_trade_quantity"), _i(30, "last_trade_time"),
    _i(34, "average_trade_price"), _i(38, "auction_number", "h"), _i(40, "auction_status", "h"),
    _i(42, "initiator_type", "h"), _i(44, "initiator_price"), _i(48, "initiator_quantity"),
    _i(52, "auction_price"), _i(56, "auction_quantity"),
)


@dataclass(frozen=True)
class Leaf:
    """One wire field of a record: where it sits and how its value is converted.

    ``path`` leads from the record dict to the value (``("mbp", 3, "price")``); for ``terms`` it ends at the
    MBO entry dict (mf and aon share one byte).  ``offset`` is relative to the record start.
    """
    path: tuple[str | int, ...]
    offset: int
    kind: str
    fmt: str

    @property
    def size(self) -> int:
        return struct.calcsize(">" + self.fmt)

    @property
    def label(self) -> str:
        out = ""
        for p in self.path:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
        return out + (".mf/aon" if self.kind == "terms" else "")


def _leaves(fields: Iterable[_Field], base: int = 0, prefix: tuple[str | int, ...] = ()) -> list[Leaf]:
    out: list[Leaf] = []
    for f in fields:
        if isinstance(f, Array):
            for k in range(f.count):
                out += _leaves(f.fields, base + f.off + k * f.stride, prefix + (f.name, k))
        elif f[2] != "stride":
            off, name, kind, fmt = f
            out.append(Leaf(prefix if name is None else prefix + (name,), base + off, kind, fmt))
    return out


def _top_keys(fields: Iterable[_Field]) -> tuple[str, ...]:
    keys: list[str] = []
    for f in fields:
        name = f.name if isinstance(f, Array) else f[1]
        if name is not None and name not in keys:
            keys.append(name)
    return tuple(keys)


# --- value converters used by the compiled packers --------------------------------------------------------

def _chr(v: object) -> bytes:
    if v == "":
        return b"\x00"
    if not isinstance(v, str) or len(v) != 1 or ord(v) > 0xFF:
        raise ValueError(f"expected a 1-character str or '', got {v!r}")
    return v.encode("latin-1")


def _str(v: object, n: int) -> bytes:
    if not isinstance(v, str):
        raise ValueError(f"expected a str, got {v!r}")
    b = v.encode("ascii")          # UnicodeEncodeError is a ValueError
    if len(b) > n:
        raise ValueError(f"{v!r} is longer than {n} bytes")
    return b.ljust(n, b" ")


def _ind(d: Mapping[str, object]) -> int:
    return ((0x80 if d["last_trade_more"] else 0) | (0x40 if d["last_trade_less"] else 0)
            | (0x20 if d["buy"] else 0) | (0x10 if d["sell"] else 0))


def _terms(e: Mapping[str, object]) -> int:
    return (0x80 if e["mf"] else 0) | (0x40 if e["aon"] else 0)


def _dint(v: object) -> float:
    if not isinstance(v, int) or isinstance(v, bool) or not -DOUBLE_INT_MAX <= v <= DOUBLE_INT_MAX:
        raise ValueError(f"expected an int within +-2**53 (sent as DOUBLE), got {v!r}")
    return float(v)


def _vol33(v: object) -> int:
    if not isinstance(v, int) or not 0 <= v <= FO_VOLUME_MAX:
        raise ValueError(f"expected an int in 0..2**33-1 (UNSIGNED LONG + VolTrdTodayExcdIndc), got {v!r}")
    return v & 0xFFFFFFFF


def _excd(r: Mapping[str, Any]) -> bytes:
    derived = b"1" if r["volume_traded_today"] >= (1 << 32) else b"0"
    given = r.get("vol_trd_today_excd_indc")
    if given is not None and given.encode("latin-1") != derived:
        raise ValueError(f"vol_trd_today_excd_indc={given!r} contradicts volume_traded_today="
                         f"{r['volume_traded_today']} (the encoder derives it: '1' iff volume >= 2**32)")
    return derived


#: the converters by name, as the compiled packers call them (_str takes the width too)
_CONVERTERS: dict[str, Callable[..., bytes | int | float]] = {
    "_chr": _chr, "_str": _str, "_ind": _ind, "_terms": _terms, "_dint": _dint, "_vol33": _vol33, "_excd": _excd}


_CONV_NAME = {"char": "_chr", "ind": "_ind", "terms": "_terms", "dint": "_dint", "vol33": "_vol33"}


def _leaf_expr(leaf: Leaf) -> str:
    ref = "r" + "".join(f"[{p!r}]" for p in leaf.path)
    k = leaf.kind
    if k in ("int", "float"):
        return ref
    if k == "str":
        return f"_str({ref}, {int(leaf.fmt[:-1])})"
    if k == "excd":
        return "_excd(r)"
    return f"{_CONV_NAME[k]}({ref})"


def _leaf_value(leaf: Leaf, r: Mapping[str, Any]) -> bytes | int | float:
    """Slow twin of the compiled expression of one leaf (used to name the field behind an error)."""
    v: Any = r                     # the record, then the values along leaf.path
    for p in leaf.path:
        v = v[p]
    k = leaf.kind
    if k == "int":
        if not isinstance(v, int):
            raise ValueError(f"expected an int, got {v!r}")
        return v
    if k == "float":
        if not isinstance(v, (int, float)):
            raise ValueError(f"expected a float, got {v!r}")
        return v
    if k == "str":
        return _str(v, int(leaf.fmt[:-1]))
    if k == "excd":
        return _excd(r)
    return _CONVERTERS[_CONV_NAME[k]](v)


# ----------------------------------------------------------------------------------------------------------
# Layouts
# ----------------------------------------------------------------------------------------------------------

#: a layout's compiled record packer (Layout._compile): (record dict, buffer, offset) -> None
_Packer: TypeAlias = Callable[[Mapping[str, Any], bytearray, int], None]


@dataclass(frozen=True)
class Layout:
    """The wire layout of one (segment, transaction code).

    ``size`` is the document's nominal MessageLength; a message with ``n`` records is
    ``records_offset + n * record_size`` bytes long (= ``size`` for the single-record and header-only codes).
    ``count_offset`` is the NoOfRecords SHORT (None for 7200, 6013, 6541).  ``leaves`` are the record's
    wire fields, offsets relative to the record start; ``keys`` the record dict's top-level keys.
    """
    segment: str
    code: int
    name: str
    size: int
    max_records: int
    record_size: int
    records_offset: int
    count_offset: int | None
    message_header: bool
    fields: tuple[_Field, ...] = field(repr=False)
    oi_header: bool = False      #: F&O 7130/17130 re-defined header: NoOfRecords @12, Reserved for BCSeqNo
    #: "" for a decoded layout; for a documented code counted and not decoded (header only, the body zeros up to
    #: ``size``, records ``[]``) the document page it is on, e.g. "FO946 p.191-194"
    counted_only: str = ""
    leaves: tuple[Leaf, ...] = field(init=False, repr=False)
    keys: tuple[str, ...] = field(init=False)
    record_struct: struct.Struct = field(init=False, repr=False)
    _pack: _Packer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        leaves = tuple(sorted(_leaves(self.fields), key=lambda lf: lf.offset))
        fmt, pos = ">", 0
        for lf in leaves:
            if lf.offset < pos:
                raise AssertionError(f"{self.segment} {self.code}: {lf.label} overlaps the previous field")
            fmt += "x" * (lf.offset - pos) + lf.fmt
            pos = lf.offset + lf.size
        if pos > self.record_size:
            raise AssertionError(f"{self.segment} {self.code}: fields end at {pos} > record size")
        fmt += "x" * (self.record_size - pos)
        st = struct.Struct(fmt)
        assert st.size == self.record_size
        end = self.records_offset + self.max_records * self.record_size
        assert end == self.size, (self.segment, self.code, end, self.size)
        object.__setattr__(self, "leaves", leaves)
        object.__setattr__(self, "keys", _top_keys(self.fields))
        object.__setattr__(self, "record_struct", st)
        object.__setattr__(self, "_pack", self._compile())

    def _compile(self) -> _Packer:
        # One generated function per layout packs a record dict with a single struct call (the stream
        # generator encodes ~10^5 messages per second through it).  Errors are re-diagnosed field by field by
        # Layout.pack_record, so the generated code carries no checks beyond list lengths.
        arrays: dict[tuple[str | int, ...], int] = {}       # path of a list -> its length
        for lf in self.leaves:
            for depth, p in enumerate(lf.path):
                if isinstance(p, int):
                    arrays.setdefault(lf.path[:depth], 0)
                    arrays[lf.path[:depth]] = max(arrays[lf.path[:depth]], p + 1)
        lines = ["def pack(r, buf, off):"]
        for path, n in arrays.items():
            ref = "r" + "".join(f"[{p!r}]" for p in path)
            lines.append(f"    if len({ref}) != {n}: raise ValueError('{path[-1]}: expected {n} entries')")
        args = ", ".join(_leaf_expr(lf) for lf in self.leaves)
        lines.append(f"    _pack_into(buf, off{', ' if args else ''}{args})")
        ns: dict[str, Any] = dict(_CONVERTERS, _pack_into=self.record_struct.pack_into)
        exec(compile("\n".join(lines), f"<vega.nse {self.segment} {self.code} packer>", "exec"), ns)
        pack: _Packer = ns["pack"]                   # the function the lines above define
        return pack

    def message_length(self, n_records: int) -> int:
        """MessageLength of this code with ``n_records`` records (the header included)."""
        return self.records_offset + n_records * self.record_size

    @property
    def min_records(self) -> int:
        """1 for the single-record codes (7200, 6013), else 0."""
        return 0 if self.count_offset is not None else self.max_records

    def pack_record(self, rec: Mapping[str, Any], buf: bytearray, offset: int, where: str = "record") -> None:
        """Write one record dict at ``buf[offset:]``; ValueError naming the field on bad input."""
        try:
            self._pack(rec, buf, offset)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, struct.error) as exc:
            raise self._diagnose(rec, where, exc) from None

    def _diagnose(self, rec: object, where: str, exc: Exception) -> ValueError:
        head = f"{self.segment} {self.code} {where}"
        if not isinstance(rec, Mapping):
            return ValueError(f"{head}: expected a dict, got {type(rec).__name__}")
        if isinstance(exc, ValueError) and "expected" in str(exc) and "entries" in str(exc):
            return ValueError(f"{head}: {exc}")
        for lf in self.leaves:
            try:
                v = _leaf_value(lf, rec)
            except KeyError as e:
                return ValueError(f"{head}: missing field {e.args[0]!r} (at {lf.label})")
            except IndexError:
                return ValueError(f"{head}: {lf.label}: list too short")
            except (TypeError, ValueError, AttributeError) as e:
                return ValueError(f"{head}: {lf.label}: {e}")
            try:
                struct.pack(">" + lf.fmt, v)
            except struct.error:
                name, lo, hi = _INT_RANGES.get(lf.fmt, (lf.fmt, None, None))
                return ValueError(f"{head}: {lf.label} = {v!r} is out of range for {name} ({lo}..{hi})")
        return ValueError(f"{head}: {type(exc).__name__}: {exc}")


def _md_tail_cm(off: int, with_indicative_close: bool) -> tuple[_Field, ...]:
    t: tuple[_Field, ...] = (
        _i(off, "bb_total_buy_flag", "h"), _i(off + 2, "bb_total_sell_flag", "h"),
        _i(off + 4, "total_buy_quantity", "q"), _i(off + 12, "total_sell_quantity", "q"),
        (off + 20, "indicator", _IND, "B"), _i(off + 22, "closing_price"), _i(off + 26, "open_price"),
        _i(off + 30, "high_price"), _i(off + 34, "low_price"),
    )
    return t + ((_i(off + 38, "indicative_close_price"),) if with_indicative_close else ())


def _index_fields(code: int, pad: int) -> tuple[_Field, ...]:
    """INDICES (7207/7216) / INDICATIVE INDICES (8207) record, PROTOCOL_MORE §1.2-§1.4.  ``pad`` = 1: the
    72-byte wire form (a pad byte after the 21-byte name, numbers from relative 22); 0: the document's
    71-byte byte-packed form (numbers from 21)."""
    o = 21 + pad
    nums: tuple[_Field, ...]
    if code == 8207:
        nums = (_i(o, "indicative_close_value"), _i(o + 16, "closing_index"), _i(o + 20, "percent_change"),
                _i(o + 32, "change"))                   # the other LONG slots are Reserved
    else:
        nums = tuple(_i(o + 4 * k, name) for k, name in enumerate((
            "index_value", "high_index_value", "low_index_value", "opening_index", "closing_index",
            "percent_change", "yearly_high", "yearly_low", "no_of_upmoves", "no_of_downmoves")))
    return (((0, "index_name", "str", "21s"),) + nums
            + ((o + 40, "market_capitalisation", "float", "d"), (o + 48, "net_change_indicator", "char", "c"),
               (None, "wire_stride", "stride", None)))      # o + 49: Filler


# Offsets below are relative to the record start; a record starts at Layout.records_offset (40 for the
# single-record codes, whose "record" is everything after the header; 42 after NoOfRecords otherwise).
_SPECS: list[Layout] = [
    # ---- CM (CM63) ---------------------------------------------------------------------------------------
    Layout(segment="CM", code=7200, name="BCAST_MBO_MBP_UPDATE", size=482, max_records=1, record_size=442,
           records_offset=40, count_offset=None, message_header=False,
           fields=_MD_CM_HEAD + (Array(60, "mbo", 10, 18, _MBO), Array(240, "mbp", 10, 16, _MBP_CM))
           + _md_tail_cm(400, False)),                                    # 438..441: Reserved[4]
    Layout(segment="CM", code=7208, name="BCAST_ONLY_MBP", size=566, max_records=2, record_size=262,
           records_offset=42, count_offset=40, message_header=False,
           fields=_MD_CM_HEAD + (Array(60, "mbp", 10, 16, _MBP_CM),) + _md_tail_cm(220, True)),
    Layout(segment="CM", code=7201, name="BCAST_MW_ROUND_ROBIN", size=466, max_records=4, record_size=106,
           records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), Array(4, "market_wise_info", 3, 34, _MW_INFO_CM))),
    Layout(segment="CM", code=18703, name="BCAST_TICKER_AND_MKT_INDEX", size=546, max_records=28, record_size=18,
           records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), _i(4, "market_type", "h"), _i(6, "fill_price"), _i(10, "fill_volume"),
                   _i(14, "market_index_value"))),
    Layout(segment="CM", code=7210, name="BCAST_CALL_AUCTION_ORD_CXL_UPDATE", size=490, max_records=8,
           record_size=56, records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), _i(8, "buy_ord_cxl_count", "q"), _i(16, "buy_ord_cxl_vol", "q"),
                   _i(24, "sell_ord_cxl_count", "q"), _i(32, "sell_ord_cxl_vol", "q"))),  # 4..7 Filler, 40..55 Reserved
    Layout(segment="CM", code=18130, name="BCAST_SECURITY_STATUS_CHG", size=442, max_records=25, record_size=16,
           records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), Array(4, "status", 6, 2, ((0, None, "int", "h"),)))),
    Layout(segment="CM", code=18707, name="BCAST_SECURITY_STATUS_CHG_PREOPEN", size=442, max_records=25,
           record_size=16, records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), Array(4, "status", 6, 2, ((0, None, "int", "h"),)))),
    Layout(segment="CM", code=18708, name="BCAST_BUY_BACK", size=426, max_records=6, record_size=64,
           records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), (4, "symbol", "str", "10s"), (14, "series", "str", "2s"),
                   (16, "pday_cum_vol", "float", "d"), _i(24, "pday_high_price"), _i(28, "pday_low_price"),
                   _i(32, "pday_wt_avg"), (36, "cday_cum_vol", "float", "d"), _i(44, "cday_high_price"),
                   _i(48, "cday_low_price"), _i(52, "cday_wt_avg"), _i(56, "start_date"), _i(60, "end_date"))),
    Layout(segment="CM", code=6013, name="SECURITY_OPEN_PRICE", size=58, max_records=1, record_size=18,
           records_offset=40, count_offset=None, message_header=False,
           fields=((0, "symbol", "str", "10s"), (10, "series", "str", "2s"), _i(12, "token", "h"),
                   _i(14, "opening_price"))),
    Layout(segment="CM", code=6541, name="BC_CIRCUIT_CHECK", size=40, max_records=0, record_size=0,
           records_offset=40, count_offset=None, message_header=False, fields=()),
    # ---- F&O (FO946) -------------------------------------------------------------------------------------
    Layout(segment="FO", code=7200, name="BCAST_MBO_MBP_UPDATE", size=410, max_records=1, record_size=370,
           records_offset=40, count_offset=None, message_header=False,
           fields=(_i(0, "token"), _i(4, "book_type", "h"), _i(6, "trading_status", "h"),
                   _i(8, "volume_traded_today", "I"), _i(12, "last_traded_price"),
                   (16, "net_change_indicator", "char", "c"), _i(17, "net_price_change_from_closing_price"),
                   _i(21, "last_trade_quantity"), _i(25, "last_trade_time"), _i(29, "average_trade_price"),
                   _i(33, "auction_number", "h"), _i(35, "auction_status", "h"), _i(37, "initiator_type", "h"),
                   _i(39, "initiator_price"), _i(43, "initiator_quantity"), _i(47, "auction_price"),
                   _i(51, "auction_quantity"), Array(55, "mbo", 10, 18, _MBO), Array(235, "mbp", 10, 10, _MBP_FO7200),
                   (335, "total_buy_quantity", "dint", "d"), (343, "total_sell_quantity", "dint", "d"),
                   (351, "indicator", _IND, "B"), _i(353, "closing_price"), _i(357, "open_price"),
                   _i(361, "high_price"), _i(365, "low_price"))),           # 369: pad to 410
    Layout(segment="FO", code=7208, name="BCAST_ONLY_MBP", size=470, max_records=2, record_size=214,
           records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), _i(4, "book_type", "h"), _i(6, "trading_status", "h"),
                   (8, "volume_traded_today", "vol33", "I"), _i(12, "last_traded_price"),
                   (16, "net_change_indicator", "char", "c"), (17, "vol_trd_today_excd_indc", "excd", "c"),
                   _i(18, "net_price_change_from_closing_price"), _i(22, "last_trade_quantity"),
                   _i(26, "last_trade_time"), _i(30, "average_trade_price"), _i(34, "auction_number", "h"),
                   _i(36, "auction_status", "h"), _i(38, "initiator_type", "h"), _i(40, "initiator_price"),
                   _i(44, "initiator_quantity"), _i(48, "auction_price"), _i(52, "auction_quantity"),
                   Array(56, "mbp", 10, 12, _MBP_FO7208), _i(176, "bb_total_buy_flag", "h"),
                   _i(178, "bb_total_sell_flag", "h"), (180, "total_buy_quantity", "dint", "d"),
                   (188, "total_sell_quantity", "dint", "d"), (196, "indicator", _IND, "B"),
                   _i(198, "closing_price"), _i(202, "open_price"), _i(206, "high_price"), _i(210, "low_price"))),
    Layout(segment="FO", code=7201, name="MS_BCAST_INQ_RESP_2", size=472, max_records=5, record_size=86,
           records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), Array(4, "market_wise_info", 3, 26, _MW_INFO_FO), _i(82, "open_interest", "I"))),
    Layout(segment="FO", code=17201, name="MS_BCAST_INQ_RESP_2 (enhanced)", size=492, max_records=5,
           record_size=90, records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), Array(4, "market_wise_info", 3, 26, _MW_INFO_FO), _i(82, "open_interest", "q"))),
    Layout(segment="FO", code=7202, name="MS_TICKER_TRADE_DATA", size=484, max_records=17, record_size=26,
           records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), _i(4, "market_type", "h"), _i(6, "fill_price"), _i(10, "fill_volume"),
                   _i(14, "open_interest", "I"), _i(18, "day_hi_oi", "I"), _i(22, "day_lo_oi", "I"))),
    Layout(segment="FO", code=17202, name="MS_TICKER_TRADE_DATA (enhanced)", size=498, max_records=12,
           record_size=38, records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), _i(4, "market_type", "h"), _i(6, "fill_price"), _i(10, "fill_volume"),
                   _i(14, "open_interest", "q"), _i(22, "day_hi_oi", "q"), _i(30, "day_lo_oi", "q"))),
    Layout(segment="FO", code=7210, name="BCAST_SECURITY_STATUS_CHG_PREOPEN", size=462, max_records=35,
           record_size=12, records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), Array(4, "status", 4, 2, ((0, None, "int", "h"),)))),
    Layout(segment="FO", code=7320, name="BCAST_STOCK_STATUS_CHG", size=462, max_records=35,
           record_size=12, records_offset=42, count_offset=40, message_header=False,
           fields=(_i(0, "token"), Array(4, "status", 4, 2, ((0, None, "int", "h"),)))),
    Layout(segment="FO", code=6013, name="SECURITY_OPEN_PRICE", size=62, max_records=1, record_size=22,
           records_offset=40, count_offset=None, message_header=True,
           fields=((0, "symbol", "str", "10s"), (10, "series", "str", "2s"), _i(12, "token"),
                   _i(16, "opening_price"))),                               # 20..21: Reserved bits + pad
    Layout(segment="FO", code=6541, name="BCAST_CIRCUIT_MSG", size=40, max_records=0, record_size=0,
           records_offset=40, count_offset=None, message_header=False, fields=()),
    # ---- PROTOCOL_MORE.md: index broadcasts (CM), open interest per underlying (F&O) -----------------------
    Layout(segment="CM", code=7207, name="BCAST_INDICES", size=474, max_records=6, record_size=72,
           records_offset=42, count_offset=40, message_header=False, fields=_index_fields(7207, 1)),
    Layout(segment="CM", code=7216, name="BCAST_INDICES_VIX", size=474, max_records=6, record_size=72,
           records_offset=42, count_offset=40, message_header=False, fields=_index_fields(7216, 1)),
    Layout(segment="CM", code=8207, name="BCAST_INDICATIVE_INDICES", size=474, max_records=6, record_size=72,
           records_offset=42, count_offset=40, message_header=False, fields=_index_fields(8207, 1)),
    Layout(segment="FO", code=7130, name="MKT_MVMT_CM_OI_IN", size=504, max_records=58, record_size=8,
           records_offset=40, count_offset=12, message_header=False, oi_header=True,
           fields=(_i(0, "token"), _i(4, "current_oi", "I"))),
    Layout(segment="FO", code=17130, name="ENHNCD_MKT_MVMT_CM_OI_IN", size=508, max_records=39, record_size=12,
           records_offset=40, count_offset=12, message_header=False, oi_header=True,
           fields=(_i(0, "token"), _i(4, "current_oi", "q"))),
]



def _counted(segment: str, code: int, name: str, size: int, page: str, fields: tuple[_Field, ...] = ()) -> Layout:
    """A documented code the decoder counts and does not merge: its header and ``size - 40`` zero bytes, or with
    ``fields`` one record of the few fields it decodes (the market-state messages), the rest zeros."""
    if fields:
        return Layout(segment=segment, code=code, name=name, size=size, max_records=1, record_size=size - 40,
                      records_offset=40, count_offset=None, message_header=False, fields=fields, counted_only=page)
    return Layout(segment=segment, code=code, name=name, size=size, max_records=0, record_size=0,
                  records_offset=size, count_offset=None, message_header=False, fields=(), counted_only=page)


def _vct(text_at: int, text_len: int) -> tuple[_Field, ...]:
    """BCAST_VCT_MESSAGES (CM, text @18 of the body) / MS_BCAST_VCT_MSGS (F&O: Token, SEC_INFO, text @40):
    MarketType 6 bytes before the text, BroadcastMessageLength 2 before it (PROTOCOL_MORE §3.2, §3.6)."""
    head: tuple[_Field, ...] = ((0, "symbol", "str", "10s"), (10, "series", "str", "2s"))
    if text_at == 40:                                       # F&O: Token @0, SEC_INFO @4 (Symbol @10, Series @20)
        head = (_i(0, "token"), (10, "symbol", "str", "10s"), (20, "series", "str", "2s"))
    return head + (_i(text_at - 6, "market_type", "h"), _i(text_at - 2, "broadcast_message_length", "h"),
                   (text_at, "broadcast_message", "str", f"{text_len}s"))


def _statuses(*names: str) -> tuple[_Field, ...]:
    """7206's market statuses: 6 SHORTs (CM), or 4 per market (F&O normal, exercise, PL), from the body start."""
    n = 6 if len(names) == 1 else 4
    return tuple(Array(8 * k, name, n, 2, ((0, None, "int", "h"),)) for k, name in enumerate(names))


# Documented broadcasts VEGA counts under their own code and does not decode (docs/FORMATS.md §1.5; PROTOCOL.md
# §3.0, PROTOCOL_MORE.md §1.5, §2.2-§2.4, §3.1).  Sizes are the documents'; 40 where they give none.
_VCT = {6511: "BC_OPEN_MESSAGE", 6521: "BC_CLOSE_MESSAGE", 6531: "BC_PREOPEN_SHUTDOWN_MSG",
        6571: "BC_NORMAL_MKT_PREOPEN_ENDED", 6583: "BC_CLOSING_START", 6584: "BC_CLOSING_END"}
_VCT_FO = {6511: "BC_OPEN_MSG", 6521: "BC_CLOSE_MSG", 6522: "BC_POSTCLOSE_MSG", 6531: "BC_PRE_OR_POST_DAY_MSG",
           6571: "BC_PRE_OPEN_ENDED"}
_SPECS += [
    _counted("CM", 6501, "BCAST_JRNL_VCT_MSG", 298, "CM63 p.92-93"),
    *(_counted("CM", c, n, 298, "CM63 p.107-109", _vct(18, 240)) for c, n in _VCT.items()),
    _counted("CM", 6581, "BC_AUCTION_STATUS_CHANGE", 302, "CM63 p.106-107"),
    _counted("CM", 7764, "BC_SYMBOL_STATUS_CHANGE_ACTION", 58, "CM63 p.109-110"),
    _counted("CM", 7206, "BCAST_SYSTEM_INFORMATION_OUT", 94, "CM63 p.93, p.34-37", _statuses("market_status")),
    _counted("CM", 18720, "BCAST_SECURITY_MSTR_CHG", 260, "CM63 p.93-100"),
    _counted("CM", 7306, "participant change", 84, "CM63 p.100-101"),
    _counted("CM", 9010, "turnover limit", 77, "CM63 p.102-104"),
    _counted("CM", 9011, "broker reactivated", 77, "CM63 p.102-104"),
    _counted("CM", 7214, "call-auction MBP", 40, "CM63 p.88, compressed list only"),
    _counted("CM", 7215, "call-auction market watch", 40, "CM63 p.88, compressed list only"),
    _counted("CM", 7203, "BCAST_IND_INDICES", 484, "CM63 p.144-145"),
    _counted("FO", 6501, "BCAST_JRNL_VCT_MSG (MS_TRADER_INT_MSG)", 290, "FO946 appendix p.268"),
    *(_counted("FO", c, n, 320, "FO946 p.166-168", _vct(40, 239)) for c, n in _VCT_FO.items()),
    _counted("FO", 7206, "BCAST_SYSTEM_INFORMATION_OUT", 106, "FO946 p.154, p.38-42",
             _statuses("market_status", "ex_market_status", "pl_market_status")),
    _counted("FO", 7305, "MS_SECURITY_UPDATE_INFO", 298, "FO946 p.154-160"),
    _counted("FO", 7340, "BCAST_SEC_MSTR_CHNG_PERIODIC", 298, "FO946 p.160, appendix p.270"),
    _counted("FO", 7324, "BCAST_INSTR_MSTR_CHG", 80, "FO946 p.160-161"),
    _counted("FO", 7341, "spread master change, periodic", 132, "FO946 p.107, appendix p.270"),
    _counted("FO", 7306, "participant change", 84, "FO946 p.161-162"),
    _counted("FO", 9010, "turnover limit", 98, "FO946 p.164-166"),
    _counted("FO", 9011, "broker reactivated", 98, "FO946 p.164-166"),
    _counted("FO", 7211, "BCAST_SPD_MBP_DELTA", 204, "FO946 p.191-194"),
    _counted("FO", 7220, "BCAST_LIMIT_PRICE_PROTECTION_RANGE", 344, "FO946 p.196-197"),
]

#: every supported layout, keyed by (segment, transaction code)
LAYOUTS: dict[tuple[str, int], Layout] = {(lay.segment, lay.code): lay for lay in _SPECS}
#: per segment, the documented codes the decoder counts under their own code and does not decode (header only)
COUNTED_ONLY: dict[str, tuple[int, ...]] = {
    seg: tuple(c for (s, c), lay in LAYOUTS.items() if s == seg and lay.counted_only) for seg in SEGMENTS}
#: the document's 71-byte (byte-packed, 468-byte message) form of the index layouts, chosen by the encoder when
#: the records say ``wire_stride=71``; the exchange sends the 72-byte form of :data:`LAYOUTS` (PROTOCOL_MORE §1.2)
DOCUMENT_FORMS: dict[tuple[str, int], Layout] = {
    ("CM", c): Layout(segment="CM", code=c, name=LAYOUTS[("CM", c)].name + " (document form)", size=468,
                      max_records=6, record_size=71, records_offset=42, count_offset=40, message_header=False,
                      fields=_index_fields(c, 0))
    for c in (7207, 7216, 8207)}
#: transaction codes per segment, in a stable order
CODES: dict[str, tuple[int, ...]] = {seg: tuple(c for (s, c) in LAYOUTS if s == seg) for seg in SEGMENTS}


def layout(segment: str, code: int) -> Layout:
    """The :class:`Layout` of ``(segment, code)``; ValueError for an unknown segment or code."""
    try:
        return LAYOUTS[(segment, code)]
    except (KeyError, TypeError):
        if segment not in SEGMENTS:
            raise ValueError(f"unknown segment {segment!r} (expected 'CM' or 'FO')") from None
        raise ValueError(f"no {segment} layout for transaction code {code!r}; "
                         f"known: {', '.join(map(str, CODES[segment]))}") from None


def message_length(segment: str, code: int, n_records: int) -> int:
    """MessageLength the encoder writes for ``n_records`` records of ``(segment, code)``."""
    return layout(segment, code).message_length(n_records)


# ----------------------------------------------------------------------------------------------------------
# Blank dicts (all zeros) to start a test message from
# ----------------------------------------------------------------------------------------------------------

_BLANK: dict[str, int | float | str] = {"int": 0, "float": 0.0, "dint": 0, "char": "", "str": "", "vol33": 0,
                                        "excd": "0", "stride": 72}


def _scalar_entry(a: Array) -> _Wire | None:
    """The one nameless field of an array of scalars (F&O 7210 status: a list of ints); None for an array of
    dicts."""
    if len(a.fields) == 1:
        f = a.fields[0]
        if not isinstance(f, Array) and f[1] is None:
            return f
    return None


def _blank_fields(fields: Iterable[_Field]) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for f in fields:
        if isinstance(f, Array):
            entry = _scalar_entry(f)
            if entry is not None:                                     # array of scalars (F&O 7210 status)
                rec[f.name] = [_BLANK[entry[2]]] * f.count
            else:
                rec[f.name] = [_blank_fields(f.fields) for _ in range(f.count)]
        else:
            _, name, kind, _ = f
            if kind == "terms":
                rec.update(mf=False, aon=False)
                continue
            assert name is not None          # (only a terms field and an array's scalar entry have no name)
            if kind == "ind":
                rec[name] = dict(last_trade_more=False, last_trade_less=False, buy=False, sell=False)
            else:
                rec[name] = _BLANK[kind]
    return rec


def blank_record(segment: str, code: int) -> dict[str, Any]:
    """A record dict of ``(segment, code)`` with every field zero / empty (indicators and terms False)."""
    return _blank_fields(layout(segment, code).fields)


def blank_message(segment: str, code: int, n_records: int | None = None, **header: Any) -> dict[str, Any]:
    """A complete message dict (header keys + ``n_records`` blank records) as the decoder would return it.

    ``n_records`` defaults to the layout's minimum (1 for 7200 and 6013, else 0); ``header`` overrides keys.
    """
    lay = layout(segment, code)
    n = lay.min_records if n_records is None else n_records
    msg: dict[str, Any] = dict(
        segment=segment, compressed=False, market_type=MARKET_TYPE[segment], message_header=lay.message_header,
        log_time=0, alpha_char="", transaction_code=code, error_code=0, bc_seq_no=0, trader_id=0, time_stamp2=0,
        stream=0, message_length=lay.message_length(n), records=[blank_record(segment, code) for _ in range(n)])
    msg.update(header)
    return msg


# ----------------------------------------------------------------------------------------------------------
# Message encoder
# ----------------------------------------------------------------------------------------------------------

_BCAST_HEADER = struct.Struct(">4xi2sHhi4xqB7sH")   # PROTOCOL.md §2
_MESSAGE_HEADER = struct.Struct(">Hi2sihq8xqH")      # F&O 6013 (TransactionCode @0, TraderId @8, ...)
_SHORT = struct.Struct(">h")
assert _BCAST_HEADER.size == _MESSAGE_HEADER.size == HEADER_LEN


def _check_int(name: str, v: object, fmt: str) -> int:
    tname, lo, hi = _INT_RANGES[fmt]
    if not isinstance(v, int):
        raise ValueError(f"{name}: expected an int, got {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} = {v} is out of range for {tname} ({lo}..{hi})")
    return v


def encode_message(msg: Mapping[str, Any], *, message_length: int | None = None,
                   no_of_records: int | None = None, pad_to_nominal: bool = False) -> bytes:
    """Encode one message dict into its wire bytes, from the 40-byte header on.

    The layout is chosen by ``msg["segment"]`` and ``msg["transaction_code"]``.  Missing header keys default
    to 0 / '' (records must be complete: start from :func:`blank_record`).  ``msg["message_length"]``,
    ``msg["compressed"]`` and ``msg["market_type"]`` are decoder outputs and ignored here; MessageLength is
    computed as ``layout.message_length(len(records))``.

    Keyword overrides for tests:

    * ``message_length``: write this MessageLength (0..65535) instead; the bytes are not changed.
    * ``no_of_records``: write this NoOfRecords (any SHORT, negative too) instead of ``len(records)``.
    * ``pad_to_nominal``: zero-fill the unused record slots so the message has the document's nominal size
      (and MessageLength says so), as a sender that always sends full structures would.

    Raises ValueError naming the field for any value outside its wire type, a missing field, too many or
    too few records, or an override on a layout that has no such field.
    """
    seg = msg.get("segment")
    code = msg.get("transaction_code")
    # whatever the dict holds (None for a missing key): layout() raises ValueError for any value it has no layout of
    lay = layout(seg, code)  # type: ignore[arg-type]
    recs = msg.get("records", [])
    if not isinstance(recs, Sequence) or isinstance(recs, (str, bytes)):
        raise ValueError(f"{seg} {code}: records must be a list of dicts")
    if (seg, code) in DOCUMENT_FORMS:
        lay = _index_form(lay, recs)
    n = len(recs)
    if not lay.min_records <= n <= lay.max_records:
        raise ValueError(f"{seg} {code}: {n} records, the layout holds "
                         + (f"exactly {lay.max_records}" if lay.count_offset is None
                            else f"0..{lay.max_records}"))
    if "message_header" in msg and bool(msg["message_header"]) != lay.message_header:
        raise ValueError(f"{seg} {code}: message_header={msg['message_header']!r} but this code is sent with "
                         + ("MESSAGE_HEADER" if lay.message_header else "BCAST_HEADER"))
    size = lay.size if pad_to_nominal else lay.message_length(n)
    length = size if message_length is None else _check_int("message_length override", message_length, "H")
    buf = bytearray(size)
    _encode_header(msg, lay, length, buf)
    if no_of_records is not None:
        if lay.count_offset is None:
            raise ValueError(f"{seg} {code} has no NoOfRecords field")
        _SHORT.pack_into(buf, lay.count_offset, _check_int("no_of_records override", no_of_records, "h"))
    elif lay.count_offset is not None:
        _SHORT.pack_into(buf, lay.count_offset, n)
    off, step = lay.records_offset, lay.record_size
    for i, rec in enumerate(recs):
        lay.pack_record(rec, buf, off + i * step, f"record {i}")
    return bytes(buf)


def _index_form(lay: Layout, recs: Sequence[object]) -> Layout:
    """The 72-byte wire layout, or the 71-byte document form when every record says ``wire_stride=71``."""
    strides = {r.get("wire_stride", 72) if isinstance(r, Mapping) else 72 for r in recs}
    if not strides <= {71, 72}:
        raise ValueError(f"{lay.segment} {lay.code}: wire_stride must be 72 (wire) or 71 (document form), "
                         f"got {sorted(strides, key=repr)}")
    if len(strides) > 1:
        raise ValueError(f"{lay.segment} {lay.code}: all records of a message share one wire_stride")
    return DOCUMENT_FORMS[(lay.segment, lay.code)] if strides == {71} else lay


_HEADER_FMT = dict(log_time="i", error_code="h", bc_seq_no="i", trader_id="i", time_stamp2="q", stream="B")
_OI_HEADER = struct.Struct(">4xi2sHh8xq8xH")         # F&O 7130/17130: LogTime, MarketType, code, NoOfRecords,
                                                     # TimeStamp @22, MessageLength (Reserved: zeros)


def _encode_header(msg: Mapping[str, Any], lay: Layout, length: int, buf: bytearray) -> None:
    g = msg.get
    log_time, error_code, bc_seq_no = g("log_time", 0), g("error_code", 0), g("bc_seq_no", 0)
    trader_id, time_stamp2, stream = g("trader_id", 0), g("time_stamp2", 0), g("stream", 0)
    where = f"{lay.segment} {lay.code} header"
    if lay.message_header and (bc_seq_no or stream):
        raise ValueError(f"{where}: MESSAGE_HEADER has no BCSeqNo / stream (both must be 0)")
    if not lay.message_header and trader_id:
        raise ValueError(f"{where}: trader_id is a MESSAGE_HEADER field (must be 0 with BCAST_HEADER)")
    if lay.oi_header and (error_code or bc_seq_no or stream):
        raise ValueError(f"{where}: the re-defined header has NoOfRecords where ErrorCode is and no BCSeqNo / "
                         f"stream (error_code, bc_seq_no and stream must be 0)")
    try:
        alpha = _str(g("alpha_char", ""), 2)
        if lay.oi_header:
            _OI_HEADER.pack_into(buf, 0, log_time, alpha, lay.code, 0, time_stamp2, length)
        elif lay.message_header:
            _MESSAGE_HEADER.pack_into(buf, 0, lay.code, log_time, alpha, trader_id, error_code, 0,
                                      time_stamp2, length)
        else:
            _BCAST_HEADER.pack_into(buf, 0, log_time, alpha, lay.code, error_code, bc_seq_no, time_stamp2,
                                    stream, BLANKS7, length)
    except (ValueError, TypeError, struct.error) as exc:
        try:
            _str(g("alpha_char", ""), 2)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{where}: alpha_char: {e}") from None
        for k, fmt in _HEADER_FMT.items():
            _check_int(f"{where}: {k}", g(k, 0), fmt)
        raise ValueError(f"{where}: {exc}") from None


# ----------------------------------------------------------------------------------------------------------
# Sub-packets and datagrams
# ----------------------------------------------------------------------------------------------------------

def _default_compressor() -> Callable[[bytes], bytes]:
    from vega._lzo import lzo1z_compress   # our own LZO1Z codec: no GPL library at run time
    return lzo1z_compress


_compressor: Callable[[bytes], bytes] | None = None


def compress(data: bytes) -> bytes:
    """LZO1Z-compress ``data`` (no header) with the default compressor (vega._lzo, else python-lzo)."""
    global _compressor
    if _compressor is None:
        _compressor = _default_compressor()
    return _compressor(data)


_compress = compress      # encode_packet's `compress` argument shadows the function name


def encode_packet(message: bytes, compress: bool, market_type: int,
                  compressor: Callable[[bytes], bytes] | None = None, *, filler: bytes = BLANKS7) -> bytes:
    """One sub-packet: ``iCompLen`` SHORT, then the 8-byte prefix + ``message``, LZO1Z-compressed or not.

    Compressed: ``iCompLen = len(LZO1Z(prefix + message))`` followed by the stream.  Uncompressed:
    ``iCompLen = 0`` followed by prefix + message (the reader steps ``2 + 8 + MessageLength``).  The prefix is
    ``market_type`` then the 7 ``filler`` bytes the receiver ignores.
    """
    _check_int("market_type", market_type, "B")
    if not isinstance(filler, (bytes, bytearray)) or len(filler) != 7:
        raise ValueError("filler must be exactly 7 bytes")
    body = bytes((market_type,)) + bytes(filler) + bytes(message)
    if not compress:
        return b"\x00\x00" + body
    comp = (compressor or _compress)(body)
    if not 0 < len(comp) <= 0x7FFF:
        raise ValueError(f"compressed sub-packet of {len(comp)} bytes does not fit iCompLen (1..32767)")
    return _SHORT.pack(len(comp)) + comp


_DGRAM_HEAD = struct.Struct(">BBh")


def encode_datagram(packets: Iterable[bytes], net_id: int, *, no_packets: int | None = None,
                    net_id_filler: int = NET_ID_FILLER) -> bytes:
    """One UDP datagram: ``cNetId[2]`` (``net_id``, ``net_id_filler``), ``iNoPackets`` SHORT, the packets.

    ``no_packets`` overrides iNoPackets (any SHORT) to build lying datagrams for tests.
    """
    packets = [bytes(p) for p in packets]
    n = len(packets) if no_packets is None else _check_int("no_packets override", no_packets, "h")
    _check_int("net_id", net_id, "B")
    _check_int("net_id_filler", net_id_filler, "B")
    if no_packets is None and n > 0x7FFF:
        raise ValueError("too many packets for iNoPackets")
    return _DGRAM_HEAD.pack(net_id, net_id_filler, n) + b"".join(packets)


def build_datagram(segment: str, msgs: Iterable[Mapping[str, Any]], compress: bool | None = None,
                   compressor: Callable[[bytes], bytes] | None = None) -> bytes:
    """Encode message dicts into one datagram of ``segment``.

    Each message becomes one sub-packet, compressed when ``compress`` is True, uncompressed when False, and
    as ``msg["compressed"]`` says (default False) when ``compress`` is None.  The prefix byte 0 is
    ``msg["market_type"]`` if given (tests may lie), else the segment's market type; cNetId[0] is the
    segment's.  Each message's ``segment`` (if present) must equal ``segment``.
    """
    if segment not in SEGMENTS:
        raise ValueError(f"unknown segment {segment!r} (expected 'CM' or 'FO')")
    packets = []
    for m in msgs:
        if m.get("segment", segment) != segment:
            raise ValueError(f"a {m.get('segment')} message in a {segment} datagram")
        if "segment" not in m:
            m = dict(m, segment=segment)
        c = bool(m.get("compressed", False)) if compress is None else compress
        packets.append(encode_packet(encode_message(m), c, m.get("market_type", MARKET_TYPE[segment]),
                                     compressor))
    return encode_datagram(packets, MARKET_TYPE[segment])


# ----------------------------------------------------------------------------------------------------------
# Documentation tables (docs/FORMATS.md "Decoded message dictionaries" is generated from, and tested against,
# these layouts)
# ----------------------------------------------------------------------------------------------------------

_TYPE_NAMES = {"h": "SHORT", "H": "UNSIGNED SHORT", "i": "LONG", "I": "UNSIGNED LONG", "q": "LONG LONG"}


def _type_name(kind: str, fmt: str = "") -> str:
    if kind == "int":
        return _TYPE_NAMES[fmt]
    if kind == "stride":
        return "not on the wire: the record stride read, 72 (wire) or 71 (document form)"
    return {"float": "DOUBLE -> float", "dint": "DOUBLE -> int", "char": "CHAR -> 1-char str",
            "str": f"CHAR[{fmt[:-1]}] -> str", "ind": "ST_INDICATOR (2) -> dict",
            "terms": "ST_MBO_MBP_TERMS (2) -> 2 bools", "vol33": "UNSIGNED LONG (+2^32 if excd '1')",
            "excd": "CHAR, '1' iff volume >= 2^32"}[kind]


def _doc_rows(fields: Iterable[_Field], base: int = 0, stride: int = 0,
              prefix: str = "") -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for f in fields:
        if isinstance(f, Array):
            entry = _scalar_entry(f)
            if entry is not None:
                _, _, kind, fmt = entry
                rows.append((f"{prefix}{f.name}[0..{f.count - 1}]", f"{base + f.off} + {f.stride}·i",
                             _type_name(kind, fmt)))
            else:
                rows += _doc_rows(f.fields, base + f.off, f.stride, f"{prefix}{f.name}[0..{f.count - 1}].")
            continue
        if f[2] == "stride":
            rows.append((f"{prefix}{f[1]}", "—", _type_name("stride")))
            continue
        off, name, kind, fmt = f
        key = f"{prefix}mf, {prefix}aon" if kind == "terms" else f"{prefix}{name}"
        where = f"{base + off} + {stride}·i" if stride else f"{base + off}"
        rows.append((key, where, _type_name(kind, fmt)))
    return rows


def markdown_tables() -> str:
    """The per-(segment, code) record tables of docs/FORMATS.md, generated from :data:`LAYOUTS`."""
    out = []
    for (seg, code), lay in LAYOUTS.items():
        if lay.count_offset is not None:
            r0 = lay.records_offset
            shape = (f"NoOfRecords SHORT @{lay.count_offset}, 0..{lay.max_records} records of {lay.record_size} B "
                     f"from @{r0} (record k at {r0} + {lay.record_size}·k)")
            if (seg, code) in DOCUMENT_FORMS:
                shape += ("; the stride is read from MessageLength: 72 (this table) or 71 (the document's "
                          "byte-packed form: every number one byte earlier, 468 B)")
        elif lay.counted_only and lay.max_records:
            shape = (f"known, not merged ({lay.counted_only}): one record of the fields below, the body from @40 "
                     f"({lay.record_size} B)")
        elif lay.max_records:
            shape = f"one record, the body from @40 ({lay.record_size} B)"
        elif lay.counted_only:
            shape = f"known, not decoded ({lay.counted_only}): header only, `records` is `[]`"
        else:
            shape = "header only, `records` is `[]`"
        hdr = ("MESSAGE_HEADER" if lay.message_header else
               "re-defined BCAST_HEADER (NoOfRecords @12; error_code, bc_seq_no, stream read as 0)"
               if lay.oi_header else "BCAST_HEADER")
        out.append(f"#### {seg} {code} {lay.name}: {lay.size} B, {hdr}, {shape}\n")
        rows = _doc_rows(lay.fields)
        if rows:
            out.append("| key | offset in the record | wire type -> value |\n|---|---|---|")
            out += [f"| `{k}` | {w} | {t} |" for k, w, t in rows]
        out.append("")
    return "\n".join(out)


def sample_stream(segment: str, n_datagrams: int, seed: int = 0, **kwargs: Any) -> Iterator[bytes]:
    """A deterministic, realistic stream of ``n_datagrams`` datagrams; see :func:`vega._streams.sample_stream`."""
    from vega._streams import sample_stream as _sample_stream
    return _sample_stream(segment, n_datagrams, seed=seed, **kwargs)
