"""An independent reader of VEGA's files, written from docs/FORMATS.md alone (sections 3.1-3.5 store record, store
file and change records, 4 ring, 5 journal with its index table and the stream sequence sidecar), as another firm's
engineer would write it in C++: struct and numpy dtypes built from the doc's offsets, never vega's dtypes or code.
VEGA makes the files (the Python API and `vega demo`); the reader's results are compared with VEGA's own API on the
same files, field by field.  A layout test: it fails when the doc and the files part."""
import datetime as dt
import mmap
import os
import re
import struct
import subprocess
import sys
import uuid
import zlib

import numpy as np
import pytest

import vega
from vega import nse

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "FORMATS.md")
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
DAY = dt.date(2026, 11, 20)
T_OPEN = int(dt.datetime(2026, 11, 20, 9, 15, tzinfo=IST).timestamp()) * 10**9


# ---------------------------------------------------------------------------------------------------------------
# The doc's tables

def _doc_section(heading):
    text = open(DOC, encoding="utf-8").read()
    start = text.index(heading)
    nxt = re.search(r"^#{2,4} ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + (nxt.start() if nxt else len(text))]


_NP = {"uint8": "u1", "uint16": "<u2", "uint32": "<u4", "int16": "<i2", "int32": "<i4", "int64": "<i8",
       "double": "<f8", "char": "S1"}


def doc_record_table(heading):
    """(offset, size, numpy type, field) of every row of a store-record table (`| off | size | type | field |`)."""
    rows = []
    for m in re.finditer(r"^\| (\d+) \| (\d+) \| ([a-z0-9]+)(?:\[(\d+)\])? \| `(\w+)` \|", _doc_section(heading), re.M):
        off, size, base, count, name = int(m[1]), int(m[2]), m[3], m[4], m[5]
        assert off % np.dtype(_NP[base]).itemsize == 0, name     # natural alignment: no compiler padding
        if base == "char":
            typ = f"S{count or 1}"
        else:
            typ = (_NP[base], (int(count),)) if count else _NP[base]
        assert np.dtype(typ).itemsize == size, (name, size, typ)
        rows.append((off, size, typ, name))
    return rows


def doc_header_table(heading, first_field):
    """{field: (offset, size)} of the table, within a section, whose first row names `first_field` (offsets in
    decimal or 0x hex, the first column; the size the second)."""
    lines = _doc_section(heading).splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("|") and f"`{first_field}`" in line)
    out = {}
    for line in lines[i:]:
        if not line.startswith("|"):
            break
        m = re.match(r"^\|\s*(0x[0-9A-Fa-f]+|\d+)\s*\|\s*(\d+)\s*\|\s*(?:[a-z0-9]+ \|\s*)?`(\w+)`", line)
        if m:
            out[m[3]] = (int(m[1], 0), int(m[2]))
    return out


def check_struct_against_doc(fmt, names, table):
    """The offsets and sizes of a struct format (one name per item, None for padding) are the doc table's."""
    off = 0
    for code, name in zip(re.findall(r"\d*[a-zA-Z]", fmt.lstrip("<")), names):
        size = struct.calcsize("<" + code)
        if name is not None:
            assert table.get(name) == (off, size), (name, table.get(name), (off, size))
        off += size
    return off


def store_record_dtype(index=False):
    rows = doc_record_table("### 3.1 Store record")
    assert [r[0] for r in rows] == [0] + [r[0] + r[1] for r in rows[:-1]]      # no gap, no overlap
    assert rows[-1][0] + rows[-1][1] == 448
    if index:                                   # 3.5: line 5 of an index record is a union
        union = doc_record_table("### 3.5 Index records")
        lo, hi = union[0][0], union[-1][0] + union[-1][1]
        rows = [r for r in rows if not lo <= r[0] < hi] + union
    return np.dtype({"names": [r[3] for r in rows], "formats": [r[2] for r in rows],
                     "offsets": [r[0] for r in rows], "itemsize": 448})


# The 32-byte change record of 3.4, from its prose: token u32 @0, ts_lo u32 @4, ts_hi u16 @8, group u8 @10,
# flags u8 @11, mask u16 @12, source u16 @14, four int32 slots @16.
REC = np.dtype({"names": ["token", "ts_lo", "ts_hi", "group", "flags", "mask", "source", "slots"],
                "formats": ["<u4", "<u4", "<u2", "u1", "u1", "<u2", "<u2", ("<i4", (4,))],
                "offsets": [0, 4, 8, 10, 11, 12, 14, 16], "itemsize": 32})
CONTINUED, KEYFRAME, CHECKPOINT_END = 0x01, 0x02, 0x04


def ts48(recs):
    return recs["ts_lo"].astype(np.int64) | (recs["ts_hi"].astype(np.int64) << 32)


# 3.4's group table, transcribed: (field as named in 3.1 / 3.5 [with the element], size in bytes of its value)
def _fields(spec):
    out = []
    for item in spec.split():
        name, _, size = item.partition(":")
        out.append((name, int(size or 4)))
    return out


def _depth(side):
    return ([(f"{side}_price[{i}]", 4) for i in range(5)] + [(f"{side}_quantity[{i}]", 8) for i in range(5)]
            + [(f"{side}_orders[{i}]", 2) for i in range(5)])


GROUPS = {
    1: _fields("last_traded_price last_trade_quantity last_trade_time volume_traded_today:8 net_price_change "
               "net_change_indicator:1 average_trade_price fill_price fill_volume indicator:1 market_type:2"),
    2: _depth("bid"), 3: _depth("ask"),
    4: _fields("open_price high_price low_price close_price indicative_close_price total_buy_quantity:8 "
               "total_sell_quantity:8 bb_total_buy_flag:2 bb_total_sell_flag:2"),
    5: _fields("book_type:2 trading_status:2 market_status[0]:2 market_status[1]:2 market_status[2]:2 "
               "market_status[3]:2"),
    6: _fields("mw_buy_volume:8 mw_buy_price mw_sell_volume:8 mw_sell_price mw_last_trade_price mw_last_trade_time "
               "mw_indicator:1"),
    7: _fields("auction_number:2 auction_status:2 initiator_type:2 initiator_price initiator_quantity auction_price "
               "auction_quantity"),
    8: _fields("buy_ord_cxl_count:8 buy_ord_cxl_vol:8 sell_ord_cxl_count:8 sell_ord_cxl_vol:8 spos_update_time"),
    9: _fields("pday_cum_vol:8 pday_high_price pday_low_price pday_wt_avg cday_cum_vol:8 cday_high_price "
               "cday_low_price cday_wt_avg bb_start_date bb_end_date buyback_active:1"),
    10: _fields("open_interest:8 oi_day_high:8 oi_day_low:8 implied_volatility"),
    11: [("symbol[0:4]", 4), ("symbol[4:8]", 4), ("symbol[8:10]+series[0:2]", 4), ("segment", 1),
         ("subscribed", 1)],
    12: _fields("idx_percent_change idx_yearly_high idx_yearly_low idx_upmoves idx_downmoves idx_ind_change "
                "idx_market_cap:8 idx_ind_percent_change idx_wire_stride"),
}


def doc_groups():
    """{group id: [(field, value size)]} of the 3.4 table (a field's elements once), to hold GROUPS to the doc."""
    sec = _doc_section("### 3.4 Change records")
    out = {}
    for gid, spec in re.findall(r"^\| (\d+) \| \w+ \| (.*) \|$", sec[sec.index("| id | group |"):], re.M):
        fields = [(m[1], {None: 4, "8": 8, "u8": 1, "i16": 2}[m[2]])
                  for m in re.finditer(r"`(\w+)(?:\[[^\]]*\])?`(?:\s*\((8|u8|i16)\b)?", spec)]
        out[int(gid)] = _once(fields)
    return out


def _once(fields):
    """A list with runs of one item (an array's elements) made one."""
    return [f for k, f in enumerate(fields) if k == 0 or f != fields[k - 1]]


def field_places(index=False):
    """{field as named in GROUPS: (byte offset in the 448-byte record, size)} from the 3.1 / 3.5 tables."""
    places = {}
    for name, (typ, off) in store_record_dtype(index).fields.items():
        places[name] = (off, typ.itemsize)
        for i in range(typ.shape[0] if typ.shape else 0):
            places[f"{name}[{i}]"] = (off + i * typ.base.itemsize, typ.base.itemsize)
    sym = places["symbol"][0]
    assert places["series"][0] == sym + 10                   # the third ident chunk spans the two
    places.update({"symbol[0:4]": (sym, 4), "symbol[4:8]": (sym + 4, 4), "symbol[8:10]+series[0:2]": (sym + 8, 4)})
    return places


def decode_record(rec):
    """[(field, value)] of one change record: slots in ascending mask-bit order, 8-byte values low slot first."""
    fields = GROUPS.get(int(rec["group"]))
    assert fields is not None, f"unknown group {rec['group']}"
    slots = [int(s) for s in rec["slots"]]
    out, k, mask = [], 0, int(rec["mask"])
    for bit, (name, size) in enumerate(fields):
        if not mask & (1 << bit):
            continue
        if size == 8:
            v = (slots[k] & 0xFFFFFFFF) | (slots[k + 1] << 32)
            k += 2
        else:
            v = slots[k]
            k += 1
            # "signed fields sign-extended, uint8 fields zero-extended" (the one u16 field, `mask`, is no value)
            assert (0 <= v < 256) if size == 1 else (-32768 <= v < 32768) if size == 2 else True, (name, v)
        out.append((name, v))
    assert k <= 4 and mask >> len(fields) == 0
    return out


def _put(image, place, value):
    off, size = place
    image[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def apply_change_records(images, recs, index_tokens=()):
    """Apply change records to 448-byte record images {token: bytearray} as 3.4 says a store does: a new token's
    record is valid with no IV (-1); a KEYFRAME update first zeroes the record but for `seq` and `token`."""
    places, iplaces = field_places(), field_places(index=True)
    in_update = set()
    for rec in recs:
        tok = int(rec["token"])
        img = images.get(tok)
        if img is None:
            img = images[tok] = bytearray(448)
            _put(img, places["token"], tok)
            _put(img, places["implied_volatility"], -1)
            _put(img, places["valid"], 1)
        if rec["flags"] & KEYFRAME and tok not in in_update:
            img[8:] = bytes(440)
            _put(img, places["valid"], 1)
        p = iplaces if tok in index_tokens else places
        for name, v in decode_record(rec):
            _put(img, p[name], v)
        if rec["flags"] & CONTINUED:
            in_update.add(tok)
        else:
            in_update.discard(tok)
    return images


def assert_market_fields_equal(image, record):
    """Every field of a record image built from change records is the store record's (448 bytes), but for the
    metadata 3.4 "Lossless" leaves out; the quality score is the formula's."""
    mine, theirs = (np.frombuffer(bytes(b), store_record_dtype())[0] for b in (image, record))
    meta = {"seq", "last_md_ns", "last_update_ns", "update_count", "last_update_source", "data_quality"}
    for name in set(mine.dtype.names) - meta:
        assert _plain(mine[name]) == _plain(theirs[name]), (int(theirs["token"]), name)
    assert quality(mine) == theirs["data_quality"]


def quality(r):
    """3.1 "Quality score", from a record's fields."""
    ltp, b0, a0 = int(r["last_traded_price"]), int(r["bid_price"][0]), int(r["ask_price"][0])
    return (25 * (ltp > 0) + 25 * (b0 > 0 or a0 > 0) + 15 * (0 < b0 < a0)
            + 15 * (0 < int(r["low_price"]) <= ltp <= int(r["high_price"]))
            + 10 * (int(r["volume_traded_today"]) > 0) + 10 * (int(r["close_price"]) > 0))


# ---------------------------------------------------------------------------------------------------------------
# 3.2 The store file

STORE_HDR = "<8sIIIIIIQQQQIIqqqB"
STORE_HDR_NAMES = ["magic", "version", "header_size", "record_size", "capacity", "dense_size", "hash_size",
                   "dense_off", "hash_off", "records_off", "file_size", "n_records", "writer_pid", "stale_ns",
                   "day_base_ns", "created_ns", "segment"]


def _round_up(x, m):
    return (x + m - 1) // m * m


class StoreFile:
    """A named store file read as 3.2 describes it: header, dense and overflow lookup, the record array, and each
    record read under its sequence lock."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.map = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        self.h = dict(zip(STORE_HDR_NAMES, struct.unpack_from(STORE_HDR, self.map, 0)))
        h = self.h
        assert h["magic"] == b"VGASTOR1" == struct.pack("<Q", 0x31524f5453414756)
        assert (h["version"], h["header_size"], h["record_size"]) == (2, 128, 448)
        assert h["hash_size"] == 1 << (max(16, 2 * h["capacity"]) - 1).bit_length()
        assert h["dense_off"] == 4096
        assert h["hash_off"] == _round_up(h["dense_off"] + 4 * h["dense_size"], 64)
        assert h["records_off"] == _round_up(h["hash_off"] + 8 * h["hash_size"], 4096)
        assert h["file_size"] == _round_up(h["records_off"] + 448 * h["capacity"], 4096) == len(self.map)
        assert h["n_records"] <= h["capacity"]

    def spare_bytes(self):
        """The header's reserved bytes, the gaps between header and tables and the records not in use (all 0 by
        the doc) as one bytes object."""
        h, m = self.h, self.map
        dense_end, hash_end = h["dense_off"] + 4 * h["dense_size"], h["hash_off"] + 8 * h["hash_size"]
        return b"".join([m[97:h["dense_off"]], m[dense_end:h["hash_off"]], m[hash_end:h["records_off"]],
                         m[h["records_off"] + 448 * h["n_records"]:h["file_size"]]])

    def index_of(self, token):
        h = self.h
        if 0 <= token < h["dense_size"]:
            i = struct.unpack_from("<i", self.map, h["dense_off"] + 4 * token)[0]
        else:
            slot = (token * 2654435761) % h["hash_size"]
            while True:
                t, i = struct.unpack_from("<ii", self.map, h["hash_off"] + 8 * slot)
                if i < 0 or t == token:
                    break
                slot = (slot + 1) % h["hash_size"]
        return i if 0 <= i < h["capacity"] else None

    def record_bytes(self, i, tries=1 << 26):
        """One record's 448 bytes by the sequence-lock protocol: `seq` even, copy, `seq` unchanged."""
        off = self.h["records_off"] + 448 * i
        for _ in range(tries):
            s1 = struct.unpack_from("<I", self.map, off)[0]
            if s1 & 1:
                continue
            b = bytes(self.map[off:off + 448])
            if struct.unpack_from("<I", self.map, off)[0] == s1:
                return b
        raise RuntimeError(f"record {i}: seq stays odd")

    def records(self, index=False):
        """The records in use, each read under its lock, viewed with the doc's dtype."""
        buf = b"".join(self.record_bytes(i) for i in range(self.h["n_records"]))
        return np.frombuffer(buf, store_record_dtype(index))

    def close(self):
        self.map.close()


# ---------------------------------------------------------------------------------------------------------------
# 5. The journal

JRNL_HDR = "<8sHHHBBIIqqQQII"
JRNL_HDR_NAMES = ["magic", "version", "header_size", "record_size", "feed_type", "sealed", "trading_date",
                  "symbol_id", "record_count", "created_ns", "index_offset", "first_seq", "index_stride", "checksum"]
INDEX_HEAD = "<8sQQII"
ENTRY = np.dtype([("ts", "<i8"), ("offset", "<u8")])
CHECKPOINT = np.dtype([("ts", "<i8"), ("offset", "<u8"), ("n_records", "<u8"), ("reserved", "<u8")])


class JournalFile:
    """A day file read as section 5 describes it.  Sealed: the index table at `index_offset`.  Open: the records
    the file size holds (whole ones), but not a trailing KEYFRAME run without CHECKPOINT_END, indexed by a scan."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        self.h = dict(zip(JRNL_HDR_NAMES, struct.unpack_from(JRNL_HDR, d, 0)))
        h = self.h
        assert h["magic"] == b"VEGAJRNL" and h["version"] == 2 and (h["header_size"], h["record_size"]) == (64, 32)
        assert h["checksum"] == zlib.crc32(d[:60])
        self.stride = h["index_stride"]
        if h["sealed"] == 1:
            n = h["record_count"]
            assert h["index_offset"] == 64 + 32 * n
            magic, e, c, stride, crc = struct.unpack_from(INDEX_HEAD, d, h["index_offset"])
            assert magic == b"VGJINDEX" and stride == self.stride and e == -(-n // stride)
            at = h["index_offset"] + 32
            self.entries = np.frombuffer(d, ENTRY, e, at)
            self.checkpoints = np.frombuffer(d, CHECKPOINT, c, at + 16 * e)
            assert (self.checkpoints["reserved"] == 0).all()
            end = at + 16 * e + 32 * c
            assert len(d) == end                                   # "the file ends exactly at the end of the table"
            assert crc == zlib.crc32(d[at:end], zlib.crc32(d[h["index_offset"]:h["index_offset"] + 28]))
            self.records = np.frombuffer(d, REC, n, 64)
        elif h["sealed"] == 2:                                     # sealing: records up to index_offset
            n = h["record_count"]
            assert h["index_offset"] == 64 + 32 * n <= len(d)
            self.records = np.frombuffer(d, REC, n, 64)
            self.entries, self.checkpoints = scan_index(self.records, self.stride)
        else:
            assert h["sealed"] == 0 and h["index_offset"] == 0
            n = (len(d) - 64) // 32                                # whole records; a torn tail is not one
            assert h["record_count"] <= n
            recs = np.frombuffer(d, REC, n, 64)
            k = n                                                  # a trailing KEYFRAME run without its end
            while k and recs[k - 1]["flags"] & KEYFRAME and not recs[k - 1]["flags"] & CHECKPOINT_END:
                k -= 1
            self.records = recs[:k]
            self.entries, self.checkpoints = scan_index(self.records, self.stride)

    def seek(self, t):
        """First record whose stamp is >= t: the first entry with ts >= t, then at most S records before it."""
        j = int(np.searchsorted(self.entries["ts"], t, side="left"))
        if j == 0:
            return 0
        n, base = len(self.records), (j - 1) * self.stride
        m = int(self.entries["ts"][j - 1])
        for p in range(base + 1, min(j * self.stride, n - 1) + 1):
            m = max(m, int(ts48(self.records[p:p + 1])[0]))
            if m >= t:
                return p
        return n

    def seqs(self):
        """The sequence number of each record and the next one: live records count from `first_seq`; a record of a
        complete checkpoint takes none and carries the number of the first live record after it."""
        live = np.ones(len(self.records), bool)
        for c in self.checkpoints:
            i = (int(c["offset"]) - 64) // 32
            live[i:i + int(c["n_records"])] = False
        before = np.concatenate([[0], np.cumsum(live)])                # live records before position p
        return self.h["first_seq"] + before[:-1], self.h["first_seq"] + int(before[-1])


def scan_index(recs, stride):
    """The tables a seal writes, from the records: entry j = (running max of ts48 over records 0..jS, offset of
    record jS); checkpoint = (stamp, offset, length) of each KEYFRAME run up to its CHECKPOINT_END."""
    ts = np.maximum.accumulate(ts48(recs)) if len(recs) else np.zeros(0, np.int64)
    at = np.arange(0, len(recs), stride)
    entries = np.zeros(len(at), ENTRY)
    entries["ts"], entries["offset"] = ts[at], 64 + 32 * at
    cps, start = [], None
    for i, f in enumerate(recs["flags"]):
        if f & KEYFRAME:
            start = i if start is None else start
            if f & CHECKPOINT_END:
                cps.append((int(ts48(recs[start:start + 1])[0]), 64 + 32 * start, i + 1 - start, 0))
                start = None
        else:
            start = None
    return entries, np.array(cps, CHECKPOINT)


# ---------------------------------------------------------------------------------------------------------------
# 5. The stream sequence sidecar

SEQ_HDR = "<8sHHBBHIIqQq12sI"
SEQ_HDR_NAMES = ["magic", "version", "header_size", "feed_type", "sealed", None, "trading_date", None,
                 "journal_created_ns", "next_seq", "written_ns", None, "checksum"]


def read_seq_sidecar(path):
    d = open(path, "rb").read()
    assert len(d) == 1088
    h = {k: v for k, v in zip(SEQ_HDR_NAMES, struct.unpack_from(SEQ_HDR, d, 0)) if k}
    assert h["magic"] == b"VEGASEQS" and (h["version"], h["header_size"]) == (1, 64)
    assert d[14:16] == bytes(2) and d[20:24] == bytes(4) and d[48:60] == bytes(12)      # reserved, 0
    assert h["checksum"] == zlib.crc32(d[64:], zlib.crc32(d[:60]))
    streams = struct.unpack_from("<256i", d, 64)
    h["streams"] = {i: s for i, s in enumerate(streams) if s}
    return h


# ---------------------------------------------------------------------------------------------------------------
# 4. The ring

SLOT_SIZE, RING_SIZE, RING_CAP = 0x200000, 0x602000, 32768
SLOT_HDR = "<8sHHHHIIIIQQIIQ"
SLOT_HDR_NAMES = ["magic", "version", "header_size", "feed_type", "record_size", "symbol_id", "capacity",
                  "records_offset", "trailer_offset", "record_count", "created_ns", "slot_size", "writer_pid",
                  "first_seq"]
BUS_HDR = "<8sHHIQI36s"
BUS_HDR_NAMES = ["magic", "version", "line_size", "n_lines", "created_ns", "reg_pid", None]
CURSOR = "<IBBH24sQQQQ"
CURSOR_NAMES = ["pid", "state", "feed", None, "name", "position", "laps", "lost", "heartbeat_ns"]


class RingFile:
    """A ring file read as section 4 describes it, by a lock-free reader that never writes it."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.map = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        assert len(self.map) == RING_SIZE
        self.slots = []
        for feed in range(3):
            h = dict(zip(SLOT_HDR_NAMES, struct.unpack_from(SLOT_HDR, self.map, feed * SLOT_SIZE)))
            assert h["magic"] == b"VEGARING" and h["version"] == 2 and h["feed_type"] == feed
            assert (h["header_size"], h["record_size"], h["capacity"], h["records_offset"], h["trailer_offset"],
                    h["slot_size"]) == (64, 32, RING_CAP, 0x40, 0x1FFFF0, SLOT_SIZE)
            self.slots.append(h)
            base = feed * SLOT_SIZE                            # "+0x100040: reserved, zero" up to the trailer
            assert not bytes(self.map[base + 0x100040:base + 0x1FFFF0]).strip(b"\0")
        bus = dict(zip(BUS_HDR_NAMES, struct.unpack_from(BUS_HDR, self.map, 0x600000)))
        assert bus["magic"] == b"VEGARBUS" and (bus["version"], bus["line_size"], bus["n_lines"]) == (1, 64, 127)
        assert not bytes(self.map[0x60001C:0x600040]).strip(b"\0")
        self.bus = bus

    def trailer(self, feed):
        """(tail_intent, tail)"""
        return struct.unpack_from("<QQ", self.map, feed * SLOT_SIZE + 0x1FFFF0)

    def cursors(self):
        out = []
        for i in range(127):
            c = dict(zip(CURSOR_NAMES, struct.unpack_from(CURSOR, self.map, 0x600040 + 64 * i)))
            if c["state"] == 2:
                c["name"] = c["name"].rstrip(b"\0").decode()
                out.append({k: v for k, v in c.items() if k})
        return out

    def read(self, feed, p, n_max):
        """Reader at position p (section 4, "Reader"): (records, new position, lost)."""
        base, first = feed * SLOT_SIZE, self.slots[feed]["first_seq"]
        tail = self.trailer(feed)[1]
        if tail == p:
            return np.zeros(0, REC), p, 0
        start = max(p, tail - RING_CAP, first)
        n = min(tail - start, n_max)
        buf = bytearray(32 * n)
        for k in range(n):                                 # record of sequence s at index s mod 32768
            i = (start + k) % RING_CAP
            buf[32 * k:32 * k + 32] = self.map[base + 0x40 + 32 * i:base + 0x40 + 32 * i + 32]
        intent = self.trailer(feed)[0]
        valid_from = max(start, intent - RING_CAP, first)  # older ones may have been overwritten meanwhile
        keep = max(0, start + n - valid_from)
        recs = np.frombuffer(bytes(buf[32 * (n - keep):]), REC)
        return recs, start + n, (valid_from - p if valid_from > p else 0)

    def close(self):
        self.map.close()


# ---------------------------------------------------------------------------------------------------------------
# The tests

def _stream(seg, n, seed):
    dgs = list(nse.sample_stream(seg, n, seed=seed))
    return dgs, T_OPEN + np.arange(len(dgs), dtype=np.int64) * 1_000_000


@pytest.fixture
def store_name():
    name = f"test-indep-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield name
    try:
        vega.Store.remove(name)
    except FileNotFoundError:
        pass


def _shm(name):
    return os.path.join(os.environ.get("VEGA_SHM_DIR", "/dev/shm"), f"vega.store.{name}")


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return v.item() if isinstance(v, np.generic) else v


def test_the_readers_structs_are_the_docs_header_tables():
    assert check_struct_against_doc(STORE_HDR, STORE_HDR_NAMES, doc_header_table("### 3.2 Store file", "magic")) \
        == 97
    assert check_struct_against_doc(JRNL_HDR, JRNL_HDR_NAMES, doc_header_table("### Header (64 bytes", "magic")) \
        == 64
    assert check_struct_against_doc(SEQ_HDR, SEQ_HDR_NAMES, doc_header_table("### Stream sequence sidecar",
                                                                             "magic")) == 64
    assert check_struct_against_doc(SLOT_HDR, SLOT_HDR_NAMES, doc_header_table("### Slot (2 MiB)", "magic")) == 64
    bus = doc_header_table("### Client bus", "magic")
    assert check_struct_against_doc(BUS_HDR, BUS_HDR_NAMES, bus) == 64
    assert check_struct_against_doc(CURSOR, CURSOR_NAMES, doc_header_table("### Client bus", "pid")) == 64
    assert struct.calcsize(INDEX_HEAD) == 32 and REC.itemsize == 32
    mine = {gid: _once([(re.sub(r"\[.*", "", part), size) for name, size in fields for part in name.split("+")])
            for gid, fields in GROUPS.items()}
    assert mine == doc_groups()                              # the transcribed group table is the doc's


def test_a_named_store_file_read_from_the_doc_is_the_store_and_its_change_records(store_name, tmp_path):
    store = vega.Store.create(store_name, 3000)
    writer = vega.JournalWriter(tmp_path, "NSE_FO", DAY)
    seen = []
    h = vega.FeedHandler("FO", store, journal=writer, on_records=seen.append)
    dgs, now = _stream("FO", 250, 5)
    h.process_batch(dgs, now_ns=now)
    writer.close()
    sf = StoreFile(_shm(store_name))
    ro = vega.Store.open(store_name)
    try:
        hd = sf.h
        assert (hd["capacity"], hd["n_records"], hd["segment"], hd["writer_pid"]) == (3000, len(ro), 2, os.getpid())
        assert hd["day_base_ns"] == int(dt.datetime(2026, 11, 20, tzinfo=IST).timestamp()) * 10**9
        assert not sf.spare_bytes().strip(b"\0")
        recs = sf.records()
        assert (recs["seq"] % 2 == 0).all() and (recs["valid"] == 1).all()
        assert sorted(recs["token"].tolist()) == sorted(ro.tokens().tolist())
        for tok in ro.tokens().tolist():
            r = recs[sf.index_of(tok)]
            assert r["token"] == tok
            q = ro[tok].to_dict()
            for name in recs.dtype.names:
                if name in q:
                    got = _plain(r[name])
                    want = list(q[name]) if isinstance(q[name], tuple) else q[name]
                    assert (got.strip() if name in ("symbol", "series") else got) == want, (tok, name)
            assert r["data_quality"] == quality(r)
        assert sf.index_of(2**31 - 1) is None and sf.index_of(300_000) is None

        # The change records (from the handler and from the journal, read here) rebuild every market field.
        j = JournalFile(writer.path)
        live = np.concatenate(seen).view(np.uint8).reshape(-1, 32)
        assert j.records.view(np.uint8).reshape(-1, 32).tobytes() == live.tobytes()
        assert set(ts48(j.records).tolist()) <= set((now - hd["day_base_ns"]).tolist())     # receive - 00:00 IST
        images = apply_change_records({}, j.records)
        for tok, img in images.items():
            assert_market_fields_equal(img, sf.record_bytes(sf.index_of(tok)))
        assert len(images) == len(ro)
    finally:
        ro.close()
        sf.close()
        h.close()
        store.close()


def test_an_index_store_file_its_overflow_table_and_union_read_from_the_doc(store_name):
    from vega.simulator import Simulator
    sim = Simulator(["CM"], 300, seed=21, phases=True)
    sim.generate()
    store = vega.Store.create(store_name, 64)
    seen = []
    h = vega.FeedHandler("IDX", store, on_records=seen.append)
    h.process_batch(sim.datagrams["CM"])
    sf = StoreFile(_shm(store_name))
    ro = vega.Store.open(store_name)
    try:
        assert sf.h["segment"] == 3 and sf.h["hash_size"] == 128 and not sf.spare_bytes().strip(b"\0")
        tokens = ro.tokens().tolist()
        hashed = [t for t in tokens if t >= sf.h["dense_size"]]
        assert hashed and all(t == vega.index_token(ro[t].symbol) or t >= 0x40000000 for t in hashed)
        recs = sf.records(index=True)
        for tok in tokens:
            r = recs[sf.index_of(tok)]
            q = ro[tok].to_dict()
            assert r["token"] == tok
            for name in ("idx_percent_change", "idx_yearly_high", "idx_yearly_low", "idx_upmoves", "idx_downmoves",
                         "idx_ind_change", "idx_market_cap", "idx_ind_percent_change", "idx_wire_stride"):
                assert _plain(r[name]) == q[name.replace("idx_", "").replace("ind_change", "indicative_change")
                                             .replace("ind_percent", "indicative_percent")], (tok, name)
            assert r["last_traded_price"] == q["index_value"]
        images = apply_change_records({}, np.concatenate(seen).view(REC), index_tokens=set(tokens))
        for tok, img in images.items():
            assert img[320:360] == sf.record_bytes(sf.index_of(tok))[320:360]
    finally:
        ro.close()
        sf.close()
        h.close()
        store.close()


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """`vega demo`'s sealed journal and its sidecar: a real capture's files (about 1.5 s)."""
    root = tmp_path_factory.mktemp("demo")
    r = subprocess.run([sys.executable, "-m", "vega", "demo", "--seconds", "1", "--rate", "600", "--segments", "FO",
                        "--unicast", "--top", "1", "--journal-root", str(root)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return root / "NSE_FO"


def _compare_journal(mine, j):
    """My reader of a day file against vega.Journal on the same file."""
    assert len(mine.records) == len(j) == j.n_records
    assert mine.records.tobytes() == j.read().tobytes()
    assert (mine.h["first_seq"], mine.h["trading_date"]) == (j.first_seq, int(j.date.strftime("%Y%m%d")))
    assert mine.checkpoints[["ts", "offset", "n_records"]].tolist() == \
        [(int(c["ts"]), int(c["offset"]), int(c["n_records"])) for c in j.checkpoints]
    seqs, next_seq = mine.seqs()
    assert seqs.tolist() == j.seqs().tolist() and next_seq == j.next_seq
    ts = ts48(mine.records)
    probes = np.unique(np.concatenate([ts, ts + 1, ts - 1, [0, int(ts.max()) + 10**9]]))
    for t in probes[:: max(1, len(probes) // 400)].tolist() + [int(ts.max()), int(ts.max()) + 1]:
        assert mine.seek(t) == j.seek(t), t


def test_a_sealed_day_file_and_its_sidecar_read_from_the_doc(demo_root):
    (path,) = demo_root.glob("*.bin")
    mine = JournalFile(path)
    assert mine.h["sealed"] == 1 and mine.h["feed_type"] == 0 and len(mine.checkpoints) >= 1
    entries, cps = scan_index(mine.records, mine.stride)
    assert mine.entries.tobytes() == entries.tobytes()          # the table a seal wrote is the one the doc says
    assert mine.checkpoints.tobytes() == cps.tobytes()
    with vega.Journal.open(path) as j:
        _compare_journal(mine, j)
        created = j.header["created_ns"]
    # 3.4 / 5: an update is a run of one token, stamp and source up to a record without CONTINUED; a checkpoint is a
    # KEYFRAME run ending at CHECKPOINT_END, and no live record is a KEYFRAME.
    r = mine.records
    cont = (r["flags"] & CONTINUED) != 0
    assert not cont[-1]
    for name in ("token", "source"):
        assert (r[name][1:][cont[:-1]] == r[name][:-1][cont[:-1]]).all()
    assert (ts48(r)[1:][cont[:-1]] == ts48(r)[:-1][cont[:-1]]).all()
    kf = (r["flags"] & KEYFRAME) != 0
    ends = np.flatnonzero(r["flags"] & CHECKPOINT_END)
    assert kf.sum() == mine.checkpoints["n_records"].sum() and kf[ends].all()
    assert ends.tolist() == ((mine.checkpoints["offset"] - 64) // 32 + mine.checkpoints["n_records"] - 1).tolist()
    side = read_seq_sidecar(path.with_suffix(".seq"))
    assert (side["feed_type"], side["sealed"], side["trading_date"]) == (0, 1, mine.h["trading_date"])
    assert side["journal_created_ns"] == mine.h["created_ns"] == created
    assert side["next_seq"] == mine.seqs()[1]
    assert side["streams"] and all(0 < s < 2**31 for s in side["streams"].values())
    from vega import _seqfile                                     # the writer's own reading of it
    assert _seqfile.read(path.with_suffix(".seq")).last == side["streams"]


def test_a_ring_read_from_the_doc_by_a_lock_free_reader(ring_name):
    ring = vega.Ring.create(ring_name, first_seq={"NSE_FO": 40_000, "NSE_EQ": 7})
    store = vega.Store(3000)
    h = vega.FeedHandler("FO", store, ring=ring)
    theirs = ring.reader("NSE_FO", name="indep-37", start="oldest")
    mine = RingFile(ring.path)
    try:
        hd = mine.slots[0]
        assert (hd["first_seq"], hd["record_count"], hd["writer_pid"]) == (40_000, 40_000, os.getpid())
        assert mine.slots[1]["writer_pid"] == 0                          # the handler's slot only
        assert mine.trailer(0) == (40_000, 40_000) and mine.slots[1]["first_seq"] == 7
        assert mine.read(0, 40_000, 100)[0].size == 0
        dgs, now = _stream("FO", 120, 3)
        h.process_batch(dgs, now_ns=now)
        info = ring.info("NSE_FO")
        hd = dict(zip(SLOT_HDR_NAMES, struct.unpack_from(SLOT_HDR, mine.map, 0)))
        assert (hd["record_count"], hd["writer_pid"], hd["created_ns"]) == (info["tail"], os.getpid(),
                                                                             info["created_ns"])
        assert mine.trailer(0) == (info["tail_intent"], info["tail"])
        got, p, lost = mine.read(0, 40_000, 10**6)
        assert (p, lost) == (info["tail"], 0) and len(got) == info["tail"] - 40_000
        want = theirs.poll(10**6)
        assert got.tobytes() == want.tobytes()
        day = 86400 * 10**9                                  # 3.4: no journal, ts48 = (receive ns + 5:30) mod 24 h
        assert set(ts48(got).tolist()) <= set(((now + 19800 * 10**9) % day).tolist())
        (line,) = [c for c in mine.cursors() if c["name"] == "indep-37"]
        assert (line["pid"], line["feed"], line["position"], line["laps"], line["lost"]) == (os.getpid(), 0, p, 0, 0)

        # Lapped: more records than the slot holds are published; the oldest valid one is tail - 32768.
        recs = np.concatenate([got] * (RING_CAP // len(got) + 2))
        h.close()
        ring.append("NSE_FO", recs)
        tail = ring.info("NSE_FO")["tail"]
        assert mine.trailer(0) == (tail, tail) == (tail, struct.unpack_from("<Q", mine.map, 0x20)[0])  # record_count
        got2, p2, lost2 = mine.read(0, p, 10**6)
        want2 = theirs.poll(10**6)
        assert (p2, lost2, len(got2)) == (tail, tail - RING_CAP - p, RING_CAP)
        assert got2.tobytes() == want2.tobytes() and theirs.lost == lost2 and theirs.laps == 1
        assert got2.tobytes() == recs[-RING_CAP:].tobytes()
        theirs.close()
        ring.close()
        assert struct.unpack_from("<I", mine.map, 0x34)[0] == 0               # the writer role given back
        assert not mine.cursors()                                            # and the reader's line freed
    finally:
        mine.close()
        theirs.close()
        h.close()
        ring.close()
        vega.Ring.unlink(ring.path)


@pytest.fixture
def ring_name():
    return f"vega-test-indep-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def test_an_open_day_file_read_from_the_doc_while_its_writer_runs(tmp_path):
    store = vega.Store(3000)
    writer = vega.JournalWriter(tmp_path, "NSE_FO", DAY, first_seq=500, index_stride=64)
    h = vega.FeedHandler("FO", store, journal=writer)
    dgs, ts = _stream("FO", 160, 7)
    h.process_batch(dgs[:80], now_ns=ts[:80])
    h.checkpoint()
    h.checkpoint()                                               # two adjacent checkpoints: one KEYFRAME run
    h.process_batch(dgs[80:], now_ns=ts[80:])
    writer.flush()
    mine = JournalFile(writer.path)
    assert mine.h["sealed"] == 0 and mine.h["index_offset"] == 0 and mine.h["first_seq"] == 500
    assert len(mine.checkpoints) == 2 and mine.checkpoints["offset"][1] == \
        mine.checkpoints["offset"][0] + 32 * mine.checkpoints["n_records"][0]
    with vega.Journal.open(writer.path) as j:
        assert not j.sealed
        _compare_journal(mine, j)
    writer.close()
    sealed = JournalFile(writer.path)
    assert sealed.records.tobytes() == mine.records.tobytes()
    assert sealed.checkpoints.tobytes() == mine.checkpoints.tobytes()
    assert sealed.entries.tobytes() == mine.entries.tobytes()
    with vega.Journal.open(writer.path) as j:
        _compare_journal(sealed, j)

    # The state from the last checkpoint on (3.4 "Keyframes": a keyframe update first zeroes its record) is the
    # live store's, every market field of it, read from the snapshot's raw 448-byte records with the doc's dtype.
    first = (int(sealed.checkpoints["offset"][-1]) - 64) // 32
    images = apply_change_records({}, sealed.records[first:])
    live = {int(r["token"]): r for r in store.snapshot().view(np.uint8).reshape(-1, 448).copy().view(
        store_record_dtype()).ravel()}
    assert set(images) == set(live)
    for tok, img in images.items():
        assert_market_fields_equal(img, live[tok].tobytes())


def test_index_entries_are_a_running_maximum_and_seek_finds_the_first_record_at_or_after_t(tmp_path):
    """Stamps out of time order (the writer keeps them as given): entry j holds the largest stamp of records
    0 .. jS, and seek(t) is the first record stamped at or after t."""
    rng = np.random.default_rng(37)
    recs = np.zeros(300, REC)
    recs["token"], recs["group"], recs["mask"], recs["source"] = rng.integers(1, 50, 300), 1, 1, 7202
    stamps = np.sort(rng.integers(3600 * 10**9, 7200 * 10**9, 300)) + rng.integers(-10**9, 10**9, 300)
    recs["ts_lo"], recs["ts_hi"] = stamps & 0xFFFFFFFF, stamps >> 32
    recs["slots"][:, 0] = rng.integers(100, 10_000, 300)
    writer = vega.JournalWriter(tmp_path, "NSE_EQ", DAY, index_stride=16)
    writer.append(recs.tobytes())
    writer.close()
    mine = JournalFile(writer.path)
    assert mine.records.tobytes() == recs.tobytes()
    assert mine.entries["ts"].tolist() == np.maximum.accumulate(stamps)[::16].tolist() != stamps[::16].tolist()
    with vega.Journal.open(writer.path) as j:
        _compare_journal(mine, j)
        for t in stamps[::7].tolist():
            assert mine.seek(t) == j.seek(t) == int(np.argmax(stamps >= t))


@pytest.fixture(scope="module")
def day_file(tmp_path_factory):
    """A small sealed day file with a checkpoint between live records (stride 64)."""
    root = tmp_path_factory.mktemp("day")
    writer = vega.JournalWriter(root, "NSE_FO", DAY, first_seq=100, index_stride=64)
    with vega.FeedHandler("FO", vega.Store(3000), journal=writer) as h:
        dgs, ts = _stream("FO", 120, 9)
        h.process_batch(dgs[:60], now_ns=ts[:60])
        h.checkpoint()
        h.process_batch(dgs[60:], now_ns=ts[60:])
    writer.close()
    return writer.path


def _as_left_by_a_crash(sealed_bytes, cut):
    """The file a writer killed with `cut` bytes written leaves: open state, no index, a lower-bound count."""
    b = bytearray(sealed_bytes[:cut])
    b[15] = 0                                                          # open
    struct.pack_into("<q", b, 24, 0)                                   # record_count: a lower bound
    struct.pack_into("<Q", b, 40, 0)                                   # index_offset: 0 while open
    struct.pack_into("<I", b, 60, zlib.crc32(bytes(b[:60])))
    return bytes(b)


@pytest.mark.parametrize("where", ["whole", "torn tail", "inside the checkpoint", "torn inside the checkpoint",
                                   "right after the checkpoint"])
def test_an_open_file_a_crash_left_ends_as_the_doc_says(day_file, tmp_path, where):
    data = open(day_file, "rb").read()
    full = JournalFile(day_file)
    (c,) = full.checkpoints
    c_off, c_end = int(c["offset"]), int(c["offset"]) + 32 * int(c["n_records"])
    cut = {"whole": full.h["index_offset"], "torn tail": full.h["index_offset"] - 32 * 3 - 11,
           "inside the checkpoint": c_off + 32 * 5, "torn inside the checkpoint": c_off + 32 * 5 + 20,
           "right after the checkpoint": c_end}[where]
    path = tmp_path / "20261120.bin"
    path.write_bytes(_as_left_by_a_crash(data, cut))
    mine = JournalFile(path)
    expected = (c_off - 64) // 32 if "inside" in where else (cut - 64) // 32     # whole records, no torn run
    assert len(mine.records) == expected
    with vega.Journal.open(path) as j:
        _compare_journal(mine, j)


@pytest.mark.parametrize("table", ["whole", "cut", "none"])
def test_a_file_left_sealing_is_read_up_to_its_index_offset(day_file, tmp_path, table):
    """State 2 (sealing): the header's count and index_offset are final, the table after them may be partial."""
    data = bytearray(open(day_file, "rb").read())
    data[15] = 2
    struct.pack_into("<I", data, 60, zlib.crc32(bytes(data[:60])))
    end = {"whole": len(data), "cut": JournalFile(day_file).h["index_offset"] + 40,
           "none": JournalFile(day_file).h["index_offset"]}[table]
    path = tmp_path / "20261120.bin"
    path.write_bytes(bytes(data[:end]))
    mine = JournalFile(path)
    assert mine.records.tobytes() == JournalFile(day_file).records.tobytes()
    with vega.Journal.open(path) as j:
        assert not j.sealed
        _compare_journal(mine, j)


def test_what_a_store_header_and_record_hold_before_anything_sets_them(store_name):
    store = vega.Store.create(store_name, 16)
    sf = StoreFile(_shm(store_name))
    try:
        assert (sf.h["day_base_ns"], sf.h["segment"], sf.h["n_records"], sf.h["writer_pid"]) == (0, 0, 0, os.getpid())
        store.add(7)
        store.add(300_000)                                   # past dense_size: the overflow table
        raw = [sf.record_bytes(sf.index_of(t)) for t in (7, 300_000)]
        places = field_places()
        for b in raw:
            r = np.frombuffer(b, store_record_dtype())[0]
            assert (r["valid"], r["subscribed"], r["segment"], r["implied_volatility"]) == (1, 1, 0, -1)
            for name in ("symbol", "series", "net_change_indicator"):
                off, size = places[name]
                assert b[off:off + size] == bytes(size), name          # never set: NUL, not blanks
        with vega.Store.open(store_name) as ro:
            assert (ro[7].symbol, ro[7].series, ro[7].net_change_indicator) == ("", "", "")
        store.close()
        assert sf.h["writer_pid"] == struct.unpack_from("<I", sf.map, 68)[0] == os.getpid()   # kept after close
        again = vega.Store.create(store_name, 16)            # yet the name is free: the flock tells, not the pid
        again.close()
    finally:
        sf.close()
        store.close()
