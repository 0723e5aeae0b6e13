"""vega.nse: byte-exact layouts against PROTOCOL.md, framing, validation, round trips through the
pure-Python reference decoder (bench/baseline_decode.py), and the realistic stream generator.

The offset tables in this file are copied from shared/nse/PROTOCOL.md §2-§3 by hand (a third statement of
every layout besides vega.nse's tables and the baseline decoder's struct formats).
"""
from __future__ import annotations

import os
import struct
import sys
from collections import Counter, defaultdict

import lzo
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # repo root: bench/

from bench import baseline_decode as bd  # noqa: E402
from vega import _streams, nse  # noqa: E402

import nse_strategies as ns  # noqa: E402

ALL_CODES = [(seg, code) for seg in nse.SEGMENTS for code in nse.CODES[seg]]


# ----------------------------------------------------------------------------------------------------------
# PROTOCOL.md offset tables (relative to the record start; records start at `base`, `size` bytes apart)
# ----------------------------------------------------------------------------------------------------------

def arr(name, count, stride, fields, at):
    return [((name, k) + ((f,) if f is not None else ()), at + k * stride + off, kind)
            for k in range(count) for f, off, kind in fields]


MBO = [("trader_id", 0, "i"), ("qty", 4, "i"), ("price", 8, "i"), (None, 12, "terms"), ("min_fill_qty", 14, "i")]
MBP_CM = [("quantity", 0, "q"), ("price", 8, "i"), ("number_of_orders", 12, "h"), ("bb_buy_sell_flag", 14, "h")]
MW_CM = [("indicator", 0, "ind"), ("buy_volume", 2, "q"), ("buy_price", 10, "i"), ("sell_volume", 14, "q"),
         ("sell_price", 22, "i"), ("last_trade_price", 26, "i"), ("last_trade_time", 30, "i")]
MW_FO = [("indicator", 0, "ind"), ("buy_volume", 2, "i"), ("buy_price", 6, "i"), ("sell_volume", 10, "i"),
         ("sell_price", 14, "i"), ("last_trade_price", 18, "i"), ("last_trade_time", 22, "i")]


def md_cm_head():   # CM 7200 (absolute 40..99) / CM 7208 record 0..59, PROTOCOL §3.2 / §3.3
    return [(("token",), 0, "i"), (("book_type",), 4, "h"), (("trading_status",), 6, "h"),
            (("volume_traded_today",), 8, "q"), (("last_traded_price",), 16, "i"),
            (("net_change_indicator",), 20, "c"), (("net_price_change_from_closing_price",), 22, "i"),
            (("last_trade_quantity",), 26, "i"), (("last_trade_time",), 30, "i"),
            (("average_trade_price",), 34, "i"), (("auction_number",), 38, "h"), (("auction_status",), 40, "h"),
            (("initiator_type",), 42, "h"), (("initiator_price",), 44, "i"), (("initiator_quantity",), 48, "i"),
            (("auction_price",), 52, "i"), (("auction_quantity",), 56, "i")]


def P(*rows):
    return [((name,), off, kind) for name, off, kind in rows]


INDEX_7207 = P(("index_name", 0, "21s"), ("index_value", 22, "i"), ("high_index_value", 26, "i"),
               ("low_index_value", 30, "i"), ("opening_index", 34, "i"), ("closing_index", 38, "i"),
               ("percent_change", 42, "i"), ("yearly_high", 46, "i"), ("yearly_low", 50, "i"),
               ("no_of_upmoves", 54, "i"), ("no_of_downmoves", 58, "i"), ("market_capitalisation", 62, "d"),
               ("net_change_indicator", 70, "c"))

DOC = {
    # CM 7200: absolute offsets minus 40
    ("CM", 7200): (40, 442, md_cm_head() + arr("mbo", 10, 18, MBO, 60) + arr("mbp", 10, 16, MBP_CM, 240) + P(
        ("bb_total_buy_flag", 400, "h"), ("bb_total_sell_flag", 402, "h"), ("total_buy_quantity", 404, "q"),
        ("total_sell_quantity", 412, "q"), ("indicator", 420, "ind"), ("closing_price", 422, "i"),
        ("open_price", 426, "i"), ("high_price", 430, "i"), ("low_price", 434, "i"))),
    ("CM", 7208): (42, 262, md_cm_head() + arr("mbp", 10, 16, MBP_CM, 60) + P(
        ("bb_total_buy_flag", 220, "h"), ("bb_total_sell_flag", 222, "h"), ("total_buy_quantity", 224, "q"),
        ("total_sell_quantity", 232, "q"), ("indicator", 240, "ind"), ("closing_price", 242, "i"),
        ("open_price", 246, "i"), ("high_price", 250, "i"), ("low_price", 254, "i"),
        ("indicative_close_price", 258, "i"))),
    ("CM", 7201): (42, 106, P(("token", 0, "i")) + arr("market_wise_info", 3, 34, MW_CM, 4)),
    ("CM", 18703): (42, 18, P(("token", 0, "i"), ("market_type", 4, "h"), ("fill_price", 6, "i"),
                              ("fill_volume", 10, "i"), ("market_index_value", 14, "i"))),
    ("CM", 7210): (42, 56, P(("token", 0, "i"), ("buy_ord_cxl_count", 8, "q"), ("buy_ord_cxl_vol", 16, "q"),
                             ("sell_ord_cxl_count", 24, "q"), ("sell_ord_cxl_vol", 32, "q"))),
    ("CM", 18708): (42, 64, P(("token", 0, "i"), ("symbol", 4, "10s"), ("series", 14, "2s"),
                              ("pday_cum_vol", 16, "d"), ("pday_high_price", 24, "i"), ("pday_low_price", 28, "i"),
                              ("pday_wt_avg", 32, "i"), ("cday_cum_vol", 36, "d"), ("cday_high_price", 44, "i"),
                              ("cday_low_price", 48, "i"), ("cday_wt_avg", 52, "i"), ("start_date", 56, "i"),
                              ("end_date", 60, "i"))),
    ("CM", 6013): (40, 18, P(("symbol", 0, "10s"), ("series", 10, "2s"), ("token", 12, "h"),
                             ("opening_price", 14, "i"))),
    ("CM", 6541): (40, 0, []),
    # FO 7200: absolute offsets minus 40 (PROTOCOL §3.9)
    ("FO", 7200): (40, 370, P(
        ("token", 0, "i"), ("book_type", 4, "h"), ("trading_status", 6, "h"), ("volume_traded_today", 8, "I"),
        ("last_traded_price", 12, "i"), ("net_change_indicator", 16, "c"),
        ("net_price_change_from_closing_price", 17, "i"), ("last_trade_quantity", 21, "i"),
        ("last_trade_time", 25, "i"), ("average_trade_price", 29, "i"), ("auction_number", 33, "h"),
        ("auction_status", 35, "h"), ("initiator_type", 37, "h"), ("initiator_price", 39, "i"),
        ("initiator_quantity", 43, "i"), ("auction_price", 47, "i"), ("auction_quantity", 51, "i"))
        + arr("mbo", 10, 18, MBO, 55)
        + arr("mbp", 10, 10, [("quantity", 0, "i"), ("price", 4, "i"), ("number_of_orders", 8, "h")], 235)
        + P(("total_buy_quantity", 335, "D"), ("total_sell_quantity", 343, "D"), ("indicator", 351, "ind"),
            ("closing_price", 353, "i"), ("open_price", 357, "i"), ("high_price", 361, "i"),
            ("low_price", 365, "i"))),
    ("FO", 7208): (42, 214, P(
        ("token", 0, "i"), ("book_type", 4, "h"), ("trading_status", 6, "h"), ("volume_traded_today", 8, "vol"),
        ("last_traded_price", 12, "i"), ("net_change_indicator", 16, "c"), ("vol_trd_today_excd_indc", 17, "excd"),
        ("net_price_change_from_closing_price", 18, "i"), ("last_trade_quantity", 22, "i"),
        ("last_trade_time", 26, "i"), ("average_trade_price", 30, "i"), ("auction_number", 34, "h"),
        ("auction_status", 36, "h"), ("initiator_type", 38, "h"), ("initiator_price", 40, "i"),
        ("initiator_quantity", 44, "i"), ("auction_price", 48, "i"), ("auction_quantity", 52, "i"))
        + arr("mbp", 10, 12, [("quantity", 0, "i"), ("price", 4, "i"), ("number_of_orders", 8, "h"),
                              ("bb_buy_sell_flag", 10, "h")], 56)
        + P(("bb_total_buy_flag", 176, "h"), ("bb_total_sell_flag", 178, "h"), ("total_buy_quantity", 180, "D"),
            ("total_sell_quantity", 188, "D"), ("indicator", 196, "ind"), ("closing_price", 198, "i"),
            ("open_price", 202, "i"), ("high_price", 206, "i"), ("low_price", 210, "i"))),
    ("FO", 7201): (42, 86, P(("token", 0, "i")) + arr("market_wise_info", 3, 26, MW_FO, 4)
                   + P(("open_interest", 82, "I"))),
    ("FO", 17201): (42, 90, P(("token", 0, "i")) + arr("market_wise_info", 3, 26, MW_FO, 4)
                    + P(("open_interest", 82, "q"))),
    ("FO", 7202): (42, 26, P(("token", 0, "i"), ("market_type", 4, "h"), ("fill_price", 6, "i"),
                             ("fill_volume", 10, "i"), ("open_interest", 14, "I"), ("day_hi_oi", 18, "I"),
                             ("day_lo_oi", 22, "I"))),
    ("FO", 17202): (42, 38, P(("token", 0, "i"), ("market_type", 4, "h"), ("fill_price", 6, "i"),
                              ("fill_volume", 10, "i"), ("open_interest", 14, "q"), ("day_hi_oi", 22, "q"),
                              ("day_lo_oi", 30, "q"))),
    ("FO", 7210): (42, 12, P(("token", 0, "i")) + arr("status", 4, 2, [(None, 0, "h")], 4)),
    ("FO", 7320): (42, 12, P(("token", 0, "i")) + arr("status", 4, 2, [(None, 0, "h")], 4)),   # PROTOCOL_MORE §3.4
    ("CM", 18130): (42, 16, P(("token", 0, "i")) + arr("status", 6, 2, [(None, 0, "h")], 4)),  # PROTOCOL_MORE §3.4
    ("CM", 18707): (42, 16, P(("token", 0, "i")) + arr("status", 6, 2, [(None, 0, "h")], 4)),
    ("FO", 6013): (40, 22, P(("symbol", 0, "10s"), ("series", 10, "2s"), ("token", 12, "i"),
                             ("opening_price", 16, "i"))),
    ("FO", 6541): (40, 0, []),
    # PROTOCOL_MORE.md §1.2-§1.4: INDICES wire record (72 B: pad byte @21, numbers from 22) and §2.1
    ("CM", 7207): (42, 72, INDEX_7207),
    ("CM", 7216): (42, 72, INDEX_7207),
    ("CM", 8207): (42, 72, P(("index_name", 0, "21s"), ("indicative_close_value", 22, "i"),
                             ("closing_index", 38, "i"), ("percent_change", 42, "i"), ("change", 54, "i"),
                             ("market_capitalisation", 62, "d"), ("net_change_indicator", 70, "c"))),
    ("FO", 7130): (40, 8, P(("token", 0, "i"), ("current_oi", 4, "I"))),
    ("FO", 17130): (40, 12, P(("token", 0, "i"), ("current_oi", 4, "q"))),
}
# PROTOCOL.md §3.13 (17202: the table's 498 = 40 + 2 + 12 * 38)
NOMINAL = {("CM", 6013): 58, ("CM", 6541): 40, ("CM", 7200): 482, ("CM", 7201): 466, ("CM", 7208): 566,
           ("CM", 7210): 490, ("CM", 18703): 546, ("CM", 18708): 426, ("FO", 6013): 62, ("FO", 6541): 40,
           ("FO", 7200): 410, ("FO", 7201): 472, ("FO", 17201): 492, ("FO", 7202): 484, ("FO", 17202): 498,
           ("FO", 7208): 470, ("FO", 7210): 462, ("FO", 7320): 462, ("CM", 7207): 474, ("CM", 7216): 474,
           ("CM", 8207): 474, ("FO", 7130): 504, ("FO", 17130): 508, ("CM", 18130): 442, ("CM", 18707): 442}
# Documented codes counted, not decoded (PROTOCOL_MORE.md §3.1-§3.7, §1.5, §2.2-§2.4; PROTOCOL.md §3.0): header
# only, the document's size (CM 7206: the table's 94; CM 7214/7215: no size given, 40)
COUNTED = {("CM", 6501): 298, ("CM", 6511): 298, ("CM", 6521): 298, ("CM", 6531): 298, ("CM", 6571): 298,
           ("CM", 6583): 298, ("CM", 6584): 298, ("CM", 6581): 302, ("CM", 7764): 58, ("CM", 7206): 94,
           ("CM", 18720): 260, ("CM", 7306): 84, ("CM", 9010): 77, ("CM", 9011): 77, ("CM", 7214): 40,
           ("CM", 7215): 40, ("CM", 7203): 484,
           ("FO", 6501): 290, ("FO", 6511): 320, ("FO", 6521): 320, ("FO", 6522): 320, ("FO", 6531): 320,
           ("FO", 6571): 320, ("FO", 7206): 106, ("FO", 7305): 298, ("FO", 7340): 298, ("FO", 7324): 80,
           ("FO", 7341): 132, ("FO", 7306): 84, ("FO", 9010): 98, ("FO", 9011): 98, ("FO", 7211): 204,
           ("FO", 7220): 344}
DOC.update({key: (size, 0, []) for key, size in COUNTED.items()})
# ... of which the market-state messages decode a few fields (PROTOCOL_MORE §3.2, §3.5, §3.6), body-relative
_CM_VCT = P(("symbol", 0, "10s"), ("series", 10, "2s"), ("market_type", 12, "h"),
            ("broadcast_message_length", 16, "h"), ("broadcast_message", 18, "240s"))          # text @58
_FO_VCT = P(("token", 0, "i"), ("symbol", 10, "10s"), ("series", 20, "2s"), ("market_type", 34, "h"),
            ("broadcast_message_length", 38, "h"), ("broadcast_message", 40, "239s"))           # text @80
DOC.update({("CM", c): (40, 258, _CM_VCT) for c in (6511, 6521, 6531, 6571, 6583, 6584)})
DOC.update({("FO", c): (40, 280, _FO_VCT) for c in (6511, 6521, 6522, 6531, 6571)})
DOC[("CM", 7206)] = (40, 54, arr("market_status", 6, 2, [(None, 0, "h")], 0))
DOC[("FO", 7206)] = (40, 66, arr("market_status", 4, 2, [(None, 0, "h")], 0)
                     + arr("ex_market_status", 4, 2, [(None, 0, "h")], 8)
                     + arr("pl_market_status", 4, 2, [(None, 0, "h")], 16))
NOMINAL.update(COUNTED)
MAX_RECORDS = {("CM", 7208): 2, ("CM", 7201): 4, ("CM", 18703): 28, ("CM", 7210): 8, ("CM", 18708): 6,
               ("FO", 7208): 2, ("FO", 7201): 5, ("FO", 17201): 5, ("FO", 7202): 17, ("FO", 17202): 12,
               ("FO", 7210): 35, ("FO", 7320): 35, ("CM", 18130): 25, ("CM", 18707): 25, ("CM", 7207): 6,
               ("CM", 7216): 6, ("CM", 8207): 6, ("FO", 7130): 58, ("FO", 17130): 39}
COUNT_OFFSET = {k: 12 if k in (("FO", 7130), ("FO", 17130)) else 40 for k in MAX_RECORDS}


class Filler:
    """Distinct, type-filling values for the fields of a record (so a misplaced field shows)."""

    def __init__(self, seed: int):
        self.n = seed * 1000

    def value(self, kind):
        self.n += 1
        n = self.n
        return {
            "h": -(n % 30000) - 1 if n % 2 else 20000 + n % 10000,
            "i": -(0x01020304 + n * 7919) if n % 3 == 0 else 0x11223344 + n * 7919,
            "I": 0xF0000000 + n,
            "q": -(0x0102030405060708 + n) if n % 2 else 0x7102030405060708 + n,
            "D": (1 << 52) + n if n % 2 else -(1 << 50) - n,
            "d": n * 1.25e9 + 0.5,
            "c": chr(33 + n % 90),
            "10s": f"S{n % 1000:03d} X",
            "21s": f"Nifty {n % 1000:03d} Idx",
            "2s": "Q" + chr(65 + n % 26),
            "240s": f"Normal market has opened {n}",
            "239s": f"Market closed {n}",
            "ind": {"last_trade_more": bool(n & 1), "last_trade_less": bool(n & 2), "buy": bool(n & 4),
                    "sell": True},
            "terms": {"mf": bool(n & 1), "aon": not (n & 1)},
            "vol": (1 << 32) + n if n % 2 else n * 1000,
            "excd": None,
        }[kind]


def expected_bytes(kind, value, rec):
    if kind in ("h", "i", "I", "q", "d"):
        return struct.pack(">" + kind, value)
    if kind == "D":
        return struct.pack(">d", float(value))
    if kind == "c":
        return value.encode()
    if kind in ("10s", "2s", "21s", "240s", "239s"):
        return value.encode().ljust(int(kind[:-1]), b" ")
    if kind == "ind":
        return bytes([(0x80 * value["last_trade_more"]) | (0x40 * value["last_trade_less"])
                      | (0x20 * value["buy"]) | (0x10 * value["sell"]), 0])
    if kind == "terms":
        return bytes([(0x80 * value["mf"]) | (0x40 * value["aon"]), 0])
    if kind == "vol":
        return struct.pack(">I", value % (1 << 32))
    if kind == "excd":
        return b"1" if rec["volume_traded_today"] >= 1 << 32 else b"0"
    raise AssertionError(kind)


def set_path(rec, path, value):
    for p in path[:-1]:
        rec = rec[p]
    if isinstance(value, dict) and path[-1] not in ("indicator",) and isinstance(rec[path[-1]], dict):
        rec[path[-1]].update(value)           # terms: mf/aon into the MBO entry
    else:
        rec[path[-1]] = value


def filled_record(seg, code, seed):
    """A record with a distinct value in every documented field, and the per-field expected bytes."""
    base, size, fields = DOC[(seg, code)]
    rec = nse.blank_record(seg, code)
    fill = Filler(seed)
    vals = []
    for path, off, kind in fields:
        v = fill.value(kind)
        if kind != "excd":
            set_path(rec, path, v)
        vals.append((path, off, kind, v))
    if (seg, code) == ("FO", 7208):
        rec["vol_trd_today_excd_indc"] = "1" if rec["volume_traded_today"] >= 1 << 32 else "0"
    return rec, vals


# ----------------------------------------------------------------------------------------------------------
# Layout constants
# ----------------------------------------------------------------------------------------------------------

def test_every_documented_code_has_a_layout():
    assert set(nse.LAYOUTS) == set(DOC) == set(NOMINAL)
    for key, lay in nse.LAYOUTS.items():
        base, size, _ = DOC[key]
        assert lay.size == NOMINAL[key]
        assert lay.records_offset == base and lay.record_size == size
        assert lay.max_records == MAX_RECORDS.get(key, 1 if size else 0)
        assert lay.count_offset == COUNT_OFFSET.get(key)
        assert lay.message_header == (key == ("FO", 6013))
        assert lay.record_struct.size == size


@pytest.mark.parametrize("seg,code", [k for k in ALL_CODES if DOC[k][2]])
def test_layout_leaves_match_protocol_offsets(seg, code):
    # every wire field of vega.nse's table sits where PROTOCOL.md says, with the documented width
    _, _, fields = DOC[(seg, code)]
    width = {"h": 2, "i": 4, "I": 4, "q": 8, "d": 8, "D": 8, "c": 1, "10s": 10, "2s": 2, "21s": 21, "240s": 240,
             "239s": 239, "ind": 1, "terms": 1, "vol": 4, "excd": 1}
    doc = {(path, off, width[kind]) for path, off, kind in fields}
    mine = {(lf.path, lf.offset, lf.size) for lf in nse.layout(seg, code).leaves}
    assert mine == doc


def test_formats_md_tables_match_the_layouts():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "FORMATS.md"), encoding="utf-8") as f:
        text = f.read()
    begin, end = "<!-- BEGIN nse.markdown_tables -->\n", "<!-- END nse.markdown_tables -->"
    assert text[text.index(begin) + len(begin):text.index(end)] == nse.markdown_tables()


# ----------------------------------------------------------------------------------------------------------
# Byte-exact encoding
# ----------------------------------------------------------------------------------------------------------

def test_bcast_header_bytes():
    m = nse.blank_message("CM", 7208, 0, log_time=0x01020304, alpha_char="RE", error_code=-2,
                          bc_seq_no=0x0A0B0C0D, time_stamp2=-0x0102030405060708, stream=0x7F)
    b = nse.encode_message(m)
    assert len(b) == 42
    assert b[0:4] == bytes(4)                                             # Reserved
    assert b[4:8] == bytes.fromhex("01020304")                            # LogTime
    assert b[8:10] == b"RE"                                               # AlphaChar
    assert b[10:12] == struct.pack(">h", 7208)                            # TransCode
    assert b[12:14] == struct.pack(">h", -2)                              # ErrorCode
    assert b[14:18] == bytes.fromhex("0A0B0C0D")                          # BCSeqNo
    assert b[18:22] == bytes(4)                                           # Reserved
    assert b[22:30] == struct.pack(">q", -0x0102030405060708)             # TimeStamp2
    assert b[30:38] == b"\x7f" + b" " * 7                                 # Filler2: stream + blanks
    assert b[38:40] == struct.pack(">h", 42)                              # MessageLength
    assert b[40:42] == b"\x00\x00"                                        # NoOfRecords
    assert nse.encode_message(dict(m, alpha_char=""))[8:10] == b"  "      # blank-padded


def test_message_header_bytes_for_fo_6013():
    m = nse.blank_message("FO", 6013, log_time=0x11223344, alpha_char="NI", trader_id=-5, error_code=7,
                          time_stamp2=0x0102030405060708)
    m["records"][0].update(symbol="NIFTY", series="XX", token=123456, opening_price=2450000)
    b = nse.encode_message(m)
    assert len(b) == 62
    assert b[0:2] == struct.pack(">h", 6013)                              # TransactionCode @0
    assert b[2:6] == bytes.fromhex("11223344")                            # LogTime @2
    assert b[6:8] == b"NI"                                                # AlphaChar @6
    assert b[8:12] == struct.pack(">i", -5)                               # TraderId @8
    assert b[12:14] == struct.pack(">h", 7)                               # ErrorCode @12
    assert b[14:30] == bytes(16)                                          # Timestamp @14, TimeStamp1 @22
    assert b[30:38] == bytes.fromhex("0102030405060708")                  # TimeStamp2 @30
    assert b[38:40] == struct.pack(">h", 62)                              # MessageLength @38
    assert b[40:50] == b"NIFTY     " and b[50:52] == b"XX"
    assert b[52:56] == struct.pack(">i", 123456) and b[56:60] == struct.pack(">i", 2450000)
    assert b[60:62] == b"\x00\x00"


@pytest.mark.parametrize("seg,code", ALL_CODES)
def test_records_are_byte_exact_at_protocol_offsets(seg, code):
    lay = nse.layout(seg, code)
    base, size, fields = DOC[(seg, code)]
    n = lay.max_records
    recs, expect = [], []
    for i in range(n):
        rec, vals = filled_record(seg, code, i + 1)
        recs.append(rec)
        expect.append((rec, vals))
    m = nse.blank_message(seg, code, 0)
    m["records"] = recs
    b = nse.encode_message(m)
    assert len(b) == NOMINAL[(seg, code)] == base + n * size
    covered = set(range(40))
    if lay.count_offset is not None:
        c = lay.count_offset
        assert b[c:c + 2] == struct.pack(">h", n)
        covered |= {c, c + 1}
    for i, (rec, vals) in enumerate(expect):
        for path, off, kind, v in vals:
            want = expected_bytes(kind, v, rec)
            at = base + i * size + off
            assert b[at:at + len(want)] == want, (path, off)
            covered |= set(range(at, at + len(want)))
    # reserved, filler and pad bytes are zeros
    assert all(b[k] == 0 for k in range(len(b)) if k not in covered), [k for k in range(len(b))
                                                                       if k not in covered and b[k]]


def test_fo_7208_real_capture_prefix_reproduced():
    # PROTOCOL.md §5.1: the first 64 bytes of a real decompressed F&O 7208 (478 bytes)
    real = bytes.fromhex("02 59 5A 2A 2A 31 32 33 00 00 00 00 56 5A DB CE"
                         "00 00 1C 28 00 00 00 08 FC CD 4A 00 00 00 00 00"
                         "56 5A DB CE 8D 39 05 20 20 20 20 20 20 20 01 D6"
                         "00 02 00 00 DE C6 00 01 00 02 00 00 0D C5 00 00")
    m = nse.blank_message("FO", 7208, 2, log_time=0x565ADBCE, bc_seq_no=589005, time_stamp2=0x565ADBCE8D39,
                          stream=5)
    r0 = m["records"][0]
    r0.update(token=57030, book_type=1, trading_status=2, volume_traded_today=3525, last_traded_price=41235)
    msg = nse.encode_message(m)
    for compress in (False, True):
        pkt = nse.encode_packet(msg, compress, 2, filler=bytes.fromhex("595A2A2A313233"))
        data = pkt[2:] if not compress else lzo.decompress(pkt[2:], False, 4096, algorithm="LZO1Z")
        assert len(data) == 478
        # AlphaChar (bytes 16-17) is 00 00 in the capture and blanks per the document; bytes 26-29 are the
        # Reserved[4] that the capture has 4A 00 00 00 in and we write as zeros: all other bytes are equal.
        differ = [k for k in range(64) if data[k] != real[k]]
        assert differ == [16, 17, 26], differ
        assert data[16:18] == b"  " and data[26] == 0
    # and the reference decoder reads the real bytes' known fields back
    decoded = bd.decode_message(real + bytes(478 - 64), "FO", True)
    assert decoded["log_time"] == 1448795086 and decoded["bc_seq_no"] == 589005 and decoded["stream"] == 5
    assert decoded["message_length"] == 470 and len(decoded["records"]) == 2
    assert decoded["records"][0]["token"] == 57030 and decoded["records"][0]["volume_traded_today"] == 3525


def test_fo_7208_volume_above_32_bits():
    m = nse.blank_message("FO", 7208, 1)
    m["records"][0].update(volume_traded_today=(1 << 32) + 77, vol_trd_today_excd_indc="1")
    b = nse.encode_message(m)
    assert b[42 + 8:42 + 12] == struct.pack(">I", 77) and b[42 + 17:42 + 18] == b"1"
    m["records"][0].update(volume_traded_today=(1 << 32) - 1, vol_trd_today_excd_indc="0")
    b = nse.encode_message(m)
    assert b[42 + 8:42 + 12] == b"\xff" * 4 and b[42 + 17:42 + 18] == b"0"
    del m["records"][0]["vol_trd_today_excd_indc"]                       # derived when absent
    assert nse.encode_message(m) == b


# ----------------------------------------------------------------------------------------------------------
# Framing
# ----------------------------------------------------------------------------------------------------------

def test_uncompressed_packet_and_stride_rule():
    msgs = [nse.blank_message("CM", 7200), nse.blank_message("CM", 18703, 3), nse.blank_message("CM", 6541)]
    d = nse.build_datagram("CM", msgs, compress=False)
    assert d[:4] == bytes([4, 0x20]) + struct.pack(">h", 3)
    pos, lengths = 4, []
    for _ in range(3):
        assert d[pos:pos + 2] == b"\x00\x00"                            # iCompLen 0
        assert d[pos + 2] == 4 and d[pos + 3:pos + 10] == b" " * 7       # prefix
        (mlen,) = struct.unpack_from(">h", d, pos + 2 + 8 + 38)
        lengths.append(mlen)
        pos += 2 + 8 + mlen                                              # the stride rule
    assert pos == len(d) and lengths == [482, 42 + 3 * 18, 40]


def test_compressed_packet_framing():
    msg = nse.encode_message(nse.blank_message("FO", 7208, 2))
    pkt = nse.encode_packet(msg, True, 2, filler=b"ABCDEFG")
    (clen,) = struct.unpack_from(">h", pkt, 0)
    assert clen == len(pkt) - 2 > 0
    assert lzo.decompress(pkt[2:], False, 65536, algorithm="LZO1Z") == b"\x02ABCDEFG" + msg
    seen = []
    assert nse.encode_packet(msg, True, 2, compressor=lambda b: seen.append(b) or b"xyz") == b"\x00\x03xyz"
    assert seen == [b"\x02" + b" " * 7 + msg]


def test_datagram_header_and_overrides():
    pkts = [b"\x00\x00abc", b"\x00\x01z"]
    assert nse.encode_datagram(pkts, 2) == b"\x02\x20\x00\x02" + b"".join(pkts)
    assert nse.encode_datagram(pkts, 4, no_packets=-3, net_id_filler=0)[:4] == b"\x04\x00\xff\xfd"
    assert nse.encode_datagram([], 2) == b"\x02\x20\x00\x00"


def test_build_datagram_mixes_compression_per_message():
    a = nse.blank_message("FO", 7208, 1, compressed=True)
    b = nse.blank_message("FO", 7210, 3, compressed=False)
    d = nse.build_datagram("FO", [a, b])
    assert bd.decode(d, "FO") == [a, b]
    assert [m["compressed"] for m in bd.decode(nse.build_datagram("FO", [a, b], compress=True), "FO")] == [True] * 2
    with pytest.raises(ValueError, match="CM message in a FO datagram"):
        nse.build_datagram("FO", [nse.blank_message("CM", 6541)])
    lie = nse.build_datagram("FO", [dict(a, market_type=4)])
    with pytest.raises(bd.DecodeError, match="segment"):
        bd.decode(lie, "FO")


def test_message_length_and_record_count_overrides():
    m = nse.blank_message("CM", 18703, 2)
    b = nse.encode_message(m, message_length=9999, no_of_records=-1)
    assert len(b) == 42 + 2 * 18
    assert struct.unpack_from(">Hh", b, 38) == (9999, -1)
    p = nse.encode_message(m, pad_to_nominal=True)
    assert len(p) == 546 and struct.unpack_from(">Hh", p, 38) == (546, 2) and p[42 + 36:] == bytes(546 - 78)
    assert bd.decode(nse.encode_datagram([nse.encode_packet(p, False, 4)], 4), "CM")[0]["records"] == m["records"]
    with pytest.raises(ValueError, match="no NoOfRecords"):
        nse.encode_message(nse.blank_message("CM", 7200), no_of_records=1)
    with pytest.raises(ValueError, match="out of range"):
        nse.encode_message(m, message_length=70000)


# ----------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------

def _mutated(seg, code, n, fn):
    m = nse.blank_message(seg, code, n)
    fn(m)
    return m


@pytest.mark.parametrize("seg,code,n,fn,match", [
    ("CM", 7201, 5, lambda m: None, "5 records, the layout holds 0..4"),
    ("CM", 7200, 0, lambda m: None, "exactly 1"),
    ("FO", 6541, 0, lambda m: m["records"].append({}), "exactly 0"),
    ("CM", 7208, 1, lambda m: m["records"][0].update(book_type=1 << 15), r"book_type = 32768 .* SHORT"),
    ("CM", 7208, 1, lambda m: m["records"][0]["mbp"][9].update(quantity=1 << 63), r"mbp\[9\]\.quantity .* LONG LONG"),
    ("FO", 7200, 1, lambda m: m["records"][0].update(volume_traded_today=-1),
     r"volume_traded_today = -1 .* UNSIGNED LONG"),
    ("FO", 7201, 1, lambda m: m["records"][0].update(open_interest=1 << 32), "open_interest .* UNSIGNED LONG"),
    ("FO", 7208, 1, lambda m: m["records"][0].update(volume_traded_today=1 << 33), r"0\.\.2\*\*33-1"),
    ("FO", 7208, 1, lambda m: m["records"][0].update(volume_traded_today=1 << 32), "contradicts"),
    ("FO", 7208, 1, lambda m: m["records"][0].update(total_buy_quantity=(1 << 53) + 1), r"2\*\*53"),
    ("FO", 7208, 1, lambda m: m["records"][0].update(total_buy_quantity=1.5), r"2\*\*53"),
    ("FO", 7208, 1, lambda m: m["records"][0].update(net_change_indicator="+-"), "net_change_indicator"),
    ("FO", 7208, 1, lambda m: m["records"][0].update(last_traded_price=1.0), "last_traded_price: expected an int"),
    ("FO", 7208, 1, lambda m: m["records"][0]["mbp"].pop(), "mbp: expected 10 entries"),
    ("FO", 7208, 1, lambda m: m["records"][0].pop("low_price"), "missing field 'low_price'"),
    ("FO", 7200, 1, lambda m: m["records"][0]["mbo"][4].pop("aon"), r"missing field 'aon' \(at mbo\[4\]"),
    ("FO", 7210, 1, lambda m: m["records"][0]["status"].__setitem__(2, 40000), r"status\[2\] = 40000"),
    ("CM", 18708, 1, lambda m: m["records"][0].update(symbol="ABCDEFGHIJK"), "longer than 10"),
    ("CM", 18708, 1, lambda m: m["records"][0].update(series="\u20ac"), "series"),
    ("CM", 18708, 1, lambda m: m["records"][0].update(pday_cum_vol="1"), "pday_cum_vol: expected a float"),
    ("CM", 6013, 1, lambda m: m["records"][0].update(token=40000), "token = 40000 .* SHORT"),
    ("CM", 6541, 0, lambda m: m.update(stream=256), "stream = 256"),
    ("CM", 6541, 0, lambda m: m.update(log_time=1 << 31), "log_time"),
    ("CM", 6541, 0, lambda m: m.update(trader_id=1), "trader_id is a MESSAGE_HEADER field"),
    ("FO", 6013, 1, lambda m: m.update(bc_seq_no=1), "MESSAGE_HEADER has no BCSeqNo"),
    ("FO", 6013, 1, lambda m: m.update(message_header=False), "MESSAGE_HEADER"),
    ("CM", 6541, 0, lambda m: m.update(alpha_char="ABC"), "alpha_char"),
])
def test_bad_values_raise_value_error_naming_the_field(seg, code, n, fn, match):
    with pytest.raises(ValueError, match=match):
        nse.encode_message(_mutated(seg, code, n, fn))


def test_unknown_segment_and_code():
    with pytest.raises(ValueError, match="no FO layout for transaction code 18703"):
        nse.encode_message({"segment": "FO", "transaction_code": 18703})
    with pytest.raises(ValueError, match="unknown segment"):
        nse.encode_message({"segment": "XX", "transaction_code": 7208})
    with pytest.raises(ValueError, match="market_type"):
        nse.encode_packet(b"", False, 256)
    with pytest.raises(ValueError, match="filler"):
        nse.encode_packet(b"", False, 2, filler=b"x")


def test_blank_message_round_trips_for_every_code():
    for seg, code in ALL_CODES:
        lay = nse.layout(seg, code)
        for n in {lay.min_records, lay.max_records}:
            m = nse.blank_message(seg, code, n)
            if n:
                assert set(m["records"][0]) == set(lay.keys)
            for comp in (False, True):
                m["compressed"] = comp
                assert bd.decode(nse.build_datagram(seg, [m]), seg) == [m]


# ----------------------------------------------------------------------------------------------------------
# Hypothesis round trips: encode -> baseline decode is the identity, for every code of both segments
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seg,code", ALL_CODES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_round_trip_every_code(seg, code, data):
    m = data.draw(ns.messages(seg, code))
    assert bd.decode(nse.build_datagram(seg, [m]), seg) == [m]


@pytest.mark.parametrize("seg", nse.SEGMENTS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_round_trip_datagrams(seg, data):
    dgram, msgs = data.draw(ns.datagrams(seg))
    assert bd.decode(dgram, seg) == msgs
    assert struct.unpack_from(">h", dgram, 2)[0] == len(msgs) and dgram[0] == nse.MARKET_TYPE[seg]


def test_round_trip_extremes():
    m = nse.blank_message("FO", 7208, 2)
    r0, r1 = m["records"]
    r0.update(volume_traded_today=nse.FO_VOLUME_MAX, vol_trd_today_excd_indc="1",
              total_buy_quantity=-(1 << 53), total_sell_quantity=1 << 53, net_change_indicator="\x7f")
    r1["mbp"][0].update(quantity=-(1 << 31), price=(1 << 31) - 1, number_of_orders=-(1 << 15))
    c = nse.blank_message("CM", 7200, 1)
    c["records"][0].update(volume_traded_today=-(1 << 63), total_buy_quantity=(1 << 63) - 1)
    assert bd.decode(nse.build_datagram("FO", [m]), "FO") == [m]
    assert bd.decode(nse.build_datagram("CM", [c]), "CM") == [c]


# ----------------------------------------------------------------------------------------------------------
# The reference decoder rejects malformed input
# ----------------------------------------------------------------------------------------------------------

def test_baseline_decoder_rejects_malformed_datagrams():
    good = nse.build_datagram("CM", [nse.blank_message("CM", 18703, 2, compressed=True),
                                     nse.blank_message("CM", 7200)])
    cases = {
        "empty": [b"", b"\x04\x20\x00\x00", b"\x04\x20\xff\xff"],
        "packet_count": [good[:2] + b"\x00\x05" + good[4:]],
        "comp_len": [good[:4] + b"\x7f\xff" + good[6:], good[:4] + b"\xff\x00" + good[6:]],
        "lzo": [good[:6] + b"\xff" * (len(good) - 6)],
        "truncated": [good[:-100]],
    }
    for reason, datagrams in cases.items():
        for d in datagrams:
            with pytest.raises(bd.DecodeError) as ei:
                bd.decode(d, "CM")
            assert ei.value.reason in (reason, "msg_length", "truncated"), (reason, ei.value)
    lie = nse.encode_message(nse.blank_message("CM", 18703, 2), no_of_records=3)
    with pytest.raises(bd.DecodeError, match="records"):
        bd.decode(nse.encode_datagram([nse.encode_packet(lie, True, 4)], 4), "CM")
    short = nse.encode_message(nse.blank_message("CM", 7200), message_length=400)
    with pytest.raises(bd.DecodeError, match="msg_length"):
        bd.decode(nse.encode_datagram([nse.encode_packet(short, True, 4)], 4), "CM")
    unknown = nse.encode_message(nse.blank_message("FO", 6541))
    unknown = unknown[:10] + struct.pack(">h", 7764) + unknown[12:]   # a code F&O has no layout for
    assert bd.decode(nse.encode_datagram([nse.encode_packet(unknown, False, 2)], 2), "FO") == []


def test_baseline_decoder_counts_and_skips_like_the_decoder():
    def pkt(code, seq, compressed=True, seg="CM", **kw):
        m = nse.blank_message(seg, code, None, bc_seq_no=seq)
        return nse.encode_packet(nse.encode_message(m, **kw), compressed, nse.MARKET_TYPE[seg])

    def run(packets, **kw):
        errors = {}
        out = bd.decode(nse.encode_datagram(packets, 4, **kw), "CM", errors=errors)
        return [m["bc_seq_no"] for m in out], errors

    good1, good3 = pkt(7208, 1), pkt(6541, 3, compressed=False)
    bad_lzo = b"\x00\x05" + b"\xff" * 5
    assert run([good1, bad_lzo, good3]) == ([1, 3], {"lzo": 1})
    assert run([good1, pkt(18703, 2, no_of_records=29), good3]) == ([1, 3], {"records": 1})
    assert run([good1, pkt(7200, 2, message_length=481), good3]) == ([1, 3], {"msg_length": 1})
    fo_code = nse.encode_packet(nse.encode_message(nse.blank_message("FO", 7202, 1, bc_seq_no=2)), True, 4)
    assert run([good1, fo_code, good3]) == ([1, 3], {"unknown_code": 1})     # an F&O-only code on CM
    wrong = nse.encode_packet(nse.encode_message(nse.blank_message("CM", 6541)), True, 2)
    assert run([good1, wrong, good3]) == ([1, 3], {"segment": 1})
    other = nse.encode_packet(nse.encode_message(nse.blank_message("CM", 6541, bc_seq_no=2)), True, 9)
    assert run([good1, other, good3]) == ([1, 2, 3], {})                      # unknown market types pass
    # an uncompressed message running past the datagram stops the walk, the earlier ones stay
    assert run([good1, pkt(7200, 2, compressed=False)[:-1]]) == ([1], {"truncated": 1})
    assert run([good1, pkt(6541, 2, compressed=False, message_length=39), good3]) == ([1], {"msg_length": 1})
    assert run([good1], no_packets=3) == ([1], {"packet_count": 1})
    assert run([good1, b"\x7f\xff" + b"\x00" * 10]) == ([1], {"comp_len": 1})
    assert run([], no_packets=0) == ([], {"empty": 1})


# ----------------------------------------------------------------------------------------------------------
# The stream generator
# ----------------------------------------------------------------------------------------------------------

N_STREAM = 1500


@pytest.fixture(scope="module", params=nse.SEGMENTS)
def stream(request):
    seg = request.param
    dgrams = list(nse.sample_stream(seg, N_STREAM, seed=7))
    return seg, dgrams, [bd.decode(d, seg) for d in dgrams]


def test_stream_is_deterministic(stream):
    seg, dgrams, _ = stream
    assert list(nse.sample_stream(seg, 200, seed=7)) == list(nse.sample_stream(seg, 200, seed=7))
    assert list(nse.sample_stream(seg, 50, seed=8)) != list(nse.sample_stream(seg, 50, seed=7))
    assert len(dgrams) == N_STREAM


def test_stream_messages_match_sample_messages(stream):
    seg, dgrams, decoded = stream
    pairs = list(_streams.sample_messages(seg, N_STREAM, seed=7))
    assert [m for _, m in pairs] == [m for ms in decoded for m in ms]
    assert [i for i, _ in pairs] == [i for i, ms in enumerate(decoded) for _ in ms]
    # and re-encoding what was decoded gives back the very same datagrams
    for d, ms in list(zip(dgrams, decoded))[:300]:
        assert nse.build_datagram(seg, ms) == d


def test_stream_shape(stream):
    seg, dgrams, decoded = stream
    assert all(len(d) <= _streams.MAX_DATAGRAM for d in dgrams)
    assert all(d[0] == nse.MARKET_TYPE[seg] for d in dgrams)
    npk = Counter(len(ms) for ms in decoded)
    assert set(npk) == {1, 2, 3, 4}
    codes = Counter(m["transaction_code"] for ms in decoded for m in ms)
    assert set(codes) == set(_streams.MIX[seg])                          # every code of the mix shows up
    assert codes.most_common(1)[0][0] == 7208
    total = sum(codes.values())
    for code, share in _streams.MIX[seg].items():
        assert abs(codes[code] / total - share) < 0.05 + share / 2, (code, codes[code] / total, share)
    for ms in decoded:
        for m in ms:
            listed = m["transaction_code"] in _streams.COMPRESSED_CODES[seg]
            assert m["compressed"] <= listed                             # never compress an unlisted code
    comp = Counter(m["compressed"] for ms in decoded for m in ms if m["transaction_code"] == 7208)
    assert comp[True] > 10 * comp[False]
    md7208 = [len(m["records"]) for ms in decoded for m in ms if m["transaction_code"] == 7208]
    assert Counter(md7208).most_common(1)[0][0] == 2


def test_stream_sequence_numbers_and_clock(stream):
    seg, _, decoded = stream
    last_seq, last_time = {}, 0
    t0 = _streams.session_start_1980(_streams._DEFAULT_DATE)
    for ms in decoded:
        for m in ms:
            assert t0 <= m["log_time"] <= t0 + _streams.SESSION_SECONDS + 60
            assert m["log_time"] >= last_time
            last_time = m["log_time"]
            assert m["time_stamp2"] >> 16 == m["log_time"]
            if m["message_header"]:
                assert m["stream"] == 0 and m["bc_seq_no"] == 0
                continue
            s = m["stream"]
            assert 1 <= s <= _streams.N_STREAMS[seg]
            if s in last_seq:
                assert m["bc_seq_no"] == last_seq[s] + 1
            last_seq[s] = m["bc_seq_no"]
    assert len(last_seq) == _streams.N_STREAMS[seg]
    assert last_time > t0 + _streams.SESSION_SECONDS * 0.9                # the session is covered


def test_stream_market_values(stream):
    seg, _, decoded = stream
    lo, hi = (1, 30000) if seg == "CM" else (35000, 150000)
    volume = defaultdict(int)
    for ms in decoded:
        for m in ms:
            for r in m["records"]:
                if "token" in r:
                    assert lo <= r["token"] <= hi
            if m["transaction_code"] in (7200, 7208):
                for r in m["records"]:
                    assert r["last_traded_price"] % 5 == 0 and r["last_traded_price"] > 0
                    bids, asks = r["mbp"][:5], r["mbp"][5:]
                    assert all(b["price"] % 5 == 0 and b["quantity"] > 0 for b in r["mbp"])
                    assert [b["price"] for b in bids] == sorted((b["price"] for b in bids), reverse=True)
                    assert [a["price"] for a in asks] == sorted(a["price"] for a in asks)
                    assert bids[0]["price"] < asks[0]["price"]
                    assert abs(bids[0]["price"] - r["last_traded_price"]) <= 50
                    assert r["volume_traded_today"] >= volume[r["token"]]      # volumes only grow
                    volume[r["token"]] = r["volume_traded_today"]
                    if r["volume_traded_today"]:
                        assert r["low_price"] <= r["last_traded_price"] <= r["high_price"]
            if m["transaction_code"] in (7201, 17201) and seg == "FO":
                assert all(r["open_interest"] > 0 for r in m["records"])
    assert len(volume) > 100


def test_stream_rejects_bad_arguments():
    with pytest.raises(ValueError):
        list(nse.sample_stream("XX", 1))
    with pytest.raises(ValueError):
        list(nse.sample_stream("CM", -1))
    with pytest.raises(ValueError):
        list(nse.sample_stream("CM", 1, n_tokens=40000))
