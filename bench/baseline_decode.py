"""The pure-Python NSE broadcast decoder a Python user would write: ``struct`` + python-lzo.

It is the baseline of the decode benchmarks and an independent reference decoder for the tests: its struct
formats are written here from ``shared/nse/PROTOCOL.md`` by hand, not taken from ``vega.nse``'s layout
tables, so the encoder and this decoder cross-check each other.

``decode(datagram, segment)`` returns the same message dicts as ``vega.decode`` (docs/FORMATS.md, "Decoded
message dictionaries").  By default malformed input raises :class:`DecodeError` (a ``ValueError`` whose
``reason`` is one of the decoder's error names) and sub-packets with a transaction code the segment has no
layout for are skipped.  With ``errors=<dict>`` it behaves like ``vega.Decoder`` instead (docs/FORMATS.md
§1.3): every error is counted in the dict by reason and the damaged part skipped, the rest of the datagram
kept (``unknown_code`` counted too).  The F&O 6013 SECURITY_OPEN_PRICE comes with an interactive
MESSAGE_HEADER, recognised as vega's decoder does: TransactionCode 6013 in its first two bytes and not at
offset 10 (a BCAST_HEADER's first four bytes are Reserved zeros).
"""
from __future__ import annotations

import math
import struct

import lzo

__all__ = ["decode", "decode_message", "DecodeError"]

LZO_OUT_MAX = 65536
MARKET_TYPE = {"CM": 4, "FO": 2}


class DecodeError(ValueError):
    """A malformed datagram; ``reason`` is one of the decoder's error names (``"truncated"``, ...)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


# --- framing and headers -----------------------------------------------------------------------------------
DGRAM_HEAD = struct.Struct(">2sh")                  # cNetId[2], iNoPackets
SHORT = struct.Struct(">h")
USHORT = struct.Struct(">H")
BCAST_HEADER = struct.Struct(">4xi2sHhi4xqB7xH")    # LogTime, AlphaChar, TransCode, ErrorCode, BCSeqNo,
                                                    # TimeStamp2, Filler2[0], MessageLength
MESSAGE_HEADER = struct.Struct(">Hi2sihq8xqH")      # TransactionCode, LogTime, AlphaChar, TraderId,
                                                    # ErrorCode, Timestamp, TimeStamp2, MessageLength

# --- CM structures (CM63) ----------------------------------------------------------------------------------
CM_MD_HEAD = struct.Struct(">ihhqicxiiiihhhiiii")   # 60 B: Token .. AuctionQuantity (Filler after the CHAR)
CM_MBP = struct.Struct(">qihh")                     # 16 B: Quantity, Price, NumberOfOrders, BbBuySellFlag
CM_7200_TAIL = struct.Struct(">hhqqBxiiii")         # @440: bb flags, totals, indicator, OHLC (+4 reserved)
CM_7208_TAIL = struct.Struct(">hhqqBxiiiii")        # rel 220: ... + IndicativeClosePrice
CM_MW = struct.Struct(">i")                         # MARKETWATCHBROADCAST: Token, then 3 x MW_INFO_CM
CM_MW_INFO = struct.Struct(">Bxqiqiii")             # 34 B
CM_TICK = struct.Struct(">ihiii")                   # 18 B
CM_SPOS = struct.Struct(">i4xqqqq16x")              # 56 B
CM_BUYBACK = struct.Struct(">i10s2sdiiidiiiii")     # 64 B
CM_OPEN = struct.Struct(">10s2shi")                 # @40: 18 B
CM_STATUS = struct.Struct(">ihhhhhh")               # 18130 / 18707: 16 B

# --- F&O structures (FO946) --------------------------------------------------------------------------------
MBO = struct.Struct(">iiiBxi")                      # 18 B, CM and FO: TraderId, Qty, Price, terms, MinFillQty
FO_7200_HEAD = struct.Struct(">ihhIiciiiihhhiiii")  # 55 B at 40 (no filler: odd offsets)
FO_7200_MBP = struct.Struct(">iih")                 # 10 B
FO_7200_TAIL = struct.Struct(">ddBxiiii")           # @375: DOUBLE totals, indicator, OHLC
FO_7208_HEAD = struct.Struct(">ihhIicciiiihhhiiii")  # 56 B: ... NetChangeIndicator, VolTrdTodayExcdIndc ...
FO_7208_MBP = struct.Struct(">iihh")                # 12 B
FO_7208_TAIL = struct.Struct(">hhddBxiiii")         # rel 176
FO_MW_INFO = struct.Struct(">Bxiiiiii")             # 26 B
FO_TICK = struct.Struct(">ihiiIII")                 # 7202: 26 B
FO_TICK_ENH = struct.Struct(">ihiiqqq")             # 17202: 38 B
FO_STATUS = struct.Struct(">ihhhh")                 # 7210: 12 B
FO_OPEN = struct.Struct(">10s2sii")                 # @40: 20 B (+2 reserved)

# --- PROTOCOL_MORE.md §1 (CM index broadcasts) and §2.1 (F&O open interest per underlying) -----------------
# INDICES record: IndexName CHAR[21], then (wire, 72 B) a pad byte or (document, 71 B) none, 10 LONGs,
# MarketCapitalisation DOUBLE, NetChangeIndicator CHAR, Filler CHAR.  8207 uses the same slots.
INDEX_72 = struct.Struct(">21sxiiiiiiiiiidcx")
INDEX_71 = struct.Struct(">21siiiiiiiiiidcx")
INDEX_KEYS = ("index_value", "high_index_value", "low_index_value", "opening_index", "closing_index",
              "percent_change", "yearly_high", "yearly_low", "no_of_upmoves", "no_of_downmoves")
FO_OI = struct.Struct(">iI")                        # 7130: 8 B
FO_OI_ENH = struct.Struct(">iq")                    # 17130: 12 B
OI_CODES = (7130, 17130)

MD_KEYS = ("token", "book_type", "trading_status", "volume_traded_today", "last_traded_price",
           "net_change_indicator", "net_price_change_from_closing_price", "last_trade_quantity",
           "last_trade_time", "average_trade_price", "auction_number", "auction_status", "initiator_type",
           "initiator_price", "initiator_quantity", "auction_price", "auction_quantity")


def _char(b: bytes) -> str:
    return "" if b == b"\x00" else b.decode("latin-1")


def _text(b: bytes) -> str:
    return b.rstrip(b" \x00").decode("latin-1")


def _indicator(b: int) -> dict:
    return {"last_trade_more": bool(b & 0x80), "last_trade_less": bool(b & 0x40),
            "buy": bool(b & 0x20), "sell": bool(b & 0x10)}


def _double_qty(x: float) -> int:
    """F&O DOUBLE quantity -> int, rounding half away from zero (C llround); NaN, inf, |x| >= 2**63 -> 0."""
    if not math.isfinite(x) or abs(x) >= 2.0 ** 63:
        return 0
    a = abs(x)
    f = math.floor(a)                      # a - f is exact, unlike a + 0.5 near 2**52
    r = int(f) + (1 if a - f >= 0.5 else 0)
    return r if x >= 0 else -r


def _md_head(vals) -> dict:
    rec = dict(zip(MD_KEYS, vals))
    rec["net_change_indicator"] = _char(rec["net_change_indicator"])
    return rec


def _mbo(data: bytes, off: int) -> list:
    return [{"trader_id": t, "qty": q, "price": p, "mf": bool(terms & 0x80), "aon": bool(terms & 0x40),
             "min_fill_qty": m} for t, q, p, terms, m in MBO.iter_unpack(data[off:off + 180])]


def _mbp(st: struct.Struct, data: bytes, off: int) -> list:
    rows = st.iter_unpack(data[off:off + 10 * st.size])
    if st.size == 10:
        return [{"quantity": q, "price": p, "number_of_orders": n} for q, p, n in rows]
    return [{"quantity": q, "price": p, "number_of_orders": n, "bb_buy_sell_flag": f} for q, p, n, f in rows]


def _ohlc(rec: dict, vals) -> None:
    rec["closing_price"], rec["open_price"], rec["high_price"], rec["low_price"] = vals[:4]


# --- per-code body decoders: (data, base) -> list of records; data[base] is the first header byte ---------

def _records(data, base, size, max_records, mlen):
    (n,) = SHORT.unpack_from(data, base + 40)
    if n < 0 or n > max_records or 42 + n * size > mlen:
        raise DecodeError("records", f"NoOfRecords {n} (max {max_records}, MessageLength {mlen})")
    return n


def cm_7200(data, b, mlen):
    rec = _md_head(CM_MD_HEAD.unpack_from(data, b + 40))
    rec["mbo"] = _mbo(data, b + 100)
    rec["mbp"] = _mbp(CM_MBP, data, b + 280)
    bbb, bbs, tb, ts, ind, *ohlc = CM_7200_TAIL.unpack_from(data, b + 440)
    rec.update(bb_total_buy_flag=bbb, bb_total_sell_flag=bbs, total_buy_quantity=tb, total_sell_quantity=ts,
               indicator=_indicator(ind))
    _ohlc(rec, ohlc)
    return [rec]


def cm_7208(data, b, mlen):
    out = []
    for i in range(_records(data, b, 262, 2, mlen)):
        r = b + 42 + 262 * i
        rec = _md_head(CM_MD_HEAD.unpack_from(data, r))
        rec["mbp"] = _mbp(CM_MBP, data, r + 60)
        bbb, bbs, tb, ts, ind, *ohlc = CM_7208_TAIL.unpack_from(data, r + 220)
        rec.update(bb_total_buy_flag=bbb, bb_total_sell_flag=bbs, total_buy_quantity=tb,
                   total_sell_quantity=ts, indicator=_indicator(ind), indicative_close_price=ohlc[4])
        _ohlc(rec, ohlc)
        out.append(rec)
    return out


def _mw_info(st, data, off):
    out = []
    for k in range(3):
        ind, bv, bp, sv, sp, ltp, ltt = st.unpack_from(data, off + k * st.size)
        out.append({"indicator": _indicator(ind), "buy_volume": bv, "buy_price": bp, "sell_volume": sv,
                    "sell_price": sp, "last_trade_price": ltp, "last_trade_time": ltt})
    return out


def cm_7201(data, b, mlen):
    out = []
    for i in range(_records(data, b, 106, 4, mlen)):
        r = b + 42 + 106 * i
        out.append({"token": CM_MW.unpack_from(data, r)[0], "market_wise_info": _mw_info(CM_MW_INFO, data, r + 4)})
    return out


def cm_18703(data, b, mlen):
    n = _records(data, b, 18, 28, mlen)
    keys = ("token", "market_type", "fill_price", "fill_volume", "market_index_value")
    return [dict(zip(keys, CM_TICK.unpack_from(data, b + 42 + 18 * i))) for i in range(n)]


def cm_7210(data, b, mlen):
    n = _records(data, b, 56, 8, mlen)
    keys = ("token", "buy_ord_cxl_count", "buy_ord_cxl_vol", "sell_ord_cxl_count", "sell_ord_cxl_vol")
    return [dict(zip(keys, CM_SPOS.unpack_from(data, b + 42 + 56 * i))) for i in range(n)]


def cm_status(data, b, mlen):
    n = _records(data, b, 16, 25, mlen)
    return [{"token": t, "status": list(s)} for t, *s in (CM_STATUS.unpack_from(data, b + 42 + 16 * i)
                                                          for i in range(n))]


def cm_18708(data, b, mlen):
    n = _records(data, b, 64, 6, mlen)
    keys = ("token", "symbol", "series", "pday_cum_vol", "pday_high_price", "pday_low_price", "pday_wt_avg",
            "cday_cum_vol", "cday_high_price", "cday_low_price", "cday_wt_avg", "start_date", "end_date")
    out = []
    for i in range(n):
        rec = dict(zip(keys, CM_BUYBACK.unpack_from(data, b + 42 + 64 * i)))
        rec["symbol"], rec["series"] = _text(rec["symbol"]), _text(rec["series"])
        out.append(rec)
    return out


def _open_price(st, data, b):
    sym, ser, token, price = st.unpack_from(data, b + 40)
    return [{"symbol": _text(sym), "series": _text(ser), "token": token, "opening_price": price}]


def cm_6013(data, b, mlen):
    return _open_price(CM_OPEN, data, b)


def header_only(data, b, mlen):
    return []


def fo_7200(data, b, mlen):
    rec = _md_head(FO_7200_HEAD.unpack_from(data, b + 40))
    rec["mbo"] = _mbo(data, b + 95)
    rec["mbp"] = _mbp(FO_7200_MBP, data, b + 275)
    tb, ts, ind, *ohlc = FO_7200_TAIL.unpack_from(data, b + 375)
    rec.update(total_buy_quantity=_double_qty(tb), total_sell_quantity=_double_qty(ts), indicator=_indicator(ind))
    _ohlc(rec, ohlc)
    return [rec]


def fo_7208(data, b, mlen):
    out = []
    for i in range(_records(data, b, 214, 2, mlen)):
        r = b + 42 + 214 * i
        vals = FO_7208_HEAD.unpack_from(data, r)
        excd = vals[6]
        rec = _md_head(vals[:6] + vals[7:])
        rec["vol_trd_today_excd_indc"] = _char(excd)
        if excd == b"1":
            rec["volume_traded_today"] += 1 << 32
        rec["mbp"] = _mbp(FO_7208_MBP, data, r + 56)
        bbb, bbs, tb, ts, ind, *ohlc = FO_7208_TAIL.unpack_from(data, r + 176)
        rec.update(bb_total_buy_flag=bbb, bb_total_sell_flag=bbs, total_buy_quantity=_double_qty(tb),
                   total_sell_quantity=_double_qty(ts), indicator=_indicator(ind))
        _ohlc(rec, ohlc)
        out.append(rec)
    return out


def _fo_mw(size, oi_fmt):
    oi = struct.Struct(oi_fmt)

    def fo_mw(data, b, mlen):
        out = []
        for i in range(_records(data, b, size, 5, mlen)):
            r = b + 42 + size * i
            out.append({"token": CM_MW.unpack_from(data, r)[0],
                        "market_wise_info": _mw_info(FO_MW_INFO, data, r + 4),
                        "open_interest": oi.unpack_from(data, r + 82)[0]})
        return out
    return fo_mw


def _fo_tick(st, max_records):
    keys = ("token", "market_type", "fill_price", "fill_volume", "open_interest", "day_hi_oi", "day_lo_oi")

    def fo_tick(data, b, mlen):
        n = _records(data, b, st.size, max_records, mlen)
        return [dict(zip(keys, st.unpack_from(data, b + 42 + st.size * i))) for i in range(n)]
    return fo_tick


def fo_7210(data, b, mlen):
    n = _records(data, b, 12, 35, mlen)
    return [{"token": t, "status": list(s)} for t, *s in (FO_STATUS.unpack_from(data, b + 42 + 12 * i)
                                                          for i in range(n))]


def fo_6013(data, b, mlen):
    return _open_price(FO_OPEN, data, b)


def _cm_index(code):
    def cm_index(data, b, mlen):
        (n,) = SHORT.unpack_from(data, b + 40)
        if n < 0 or n > 6:
            raise DecodeError("records", f"NumberOfRecords {n} (max 6)")
        # the stride from MessageLength: the nominal 474 / 468 name it, else exactly (MessageLength - 42) / n
        stride = {474: 72, 468: 71}.get(mlen, (mlen - 42) // n if n else 72)
        if stride not in (71, 72) or (n and mlen not in (474, 468) and 42 + n * stride != mlen):
            raise DecodeError("records", f"record stride {stride} (MessageLength {mlen}, {n} records)")
        st = INDEX_72 if stride == 72 else INDEX_71
        out = []
        for i in range(n):
            name, *nums, mcap, nci = st.unpack_from(data, b + 42 + stride * i)
            rec = {"index_name": _text(name)}
            if code == 8207:
                rec.update(indicative_close_value=nums[0], closing_index=nums[4], percent_change=nums[5],
                           change=nums[8])
            else:
                rec.update(zip(INDEX_KEYS, nums))
            rec.update(market_capitalisation=mcap, net_change_indicator=_char(nci), wire_stride=stride)
            out.append(rec)
        return out
    return cm_index


def _fo_oi(st, max_records):
    def fo_oi(data, b, mlen):
        (n,) = SHORT.unpack_from(data, b + 12)            # NoOfRecords in the re-defined header
        if n < 0 or n > max_records or 40 + n * st.size > mlen:
            raise DecodeError("records", f"NoOfRecords {n} (max {max_records}, MessageLength {mlen})")
        return [{"token": t, "current_oi": oi} for t, oi in (st.unpack_from(data, b + 40 + st.size * i)
                                                           for i in range(n))]
    return fo_oi


# (code) -> (decoder, minimum MessageLength: where the layout's fixed fields end)
DECODERS = {
    "CM": {7200: (cm_7200, 482), 7208: (cm_7208, 42), 7201: (cm_7201, 42), 18703: (cm_18703, 42),
           7210: (cm_7210, 42), 18130: (cm_status, 42), 18707: (cm_status, 42), 18708: (cm_18708, 42),
           6013: (cm_6013, 58), 6541: (header_only, 40),
           7207: (_cm_index(7207), 42), 7216: (_cm_index(7216), 42), 8207: (_cm_index(8207), 42)},
    "FO": {7200: (fo_7200, 409), 7208: (fo_7208, 42), 7201: (_fo_mw(86, ">I"), 42),
           17201: (_fo_mw(90, ">q"), 42), 7202: (_fo_tick(FO_TICK, 17), 42),
           17202: (_fo_tick(FO_TICK_ENH, 12), 42), 7210: (fo_7210, 42), 7320: (fo_7210, 42), 6013: (fo_6013, 60),
           6541: (header_only, 40), 7130: (_fo_oi(FO_OI, 58), 40), 17130: (_fo_oi(FO_OI_ENH, 39), 40)},
}


def cm_vct(data, b, mlen):
    """CM BCAST_VCT_MESSAGES (PROTOCOL_MORE §3.2): Symbol @40, Series @50, MarketType @52,
    BroadcastMessageLength @56, BroadcastMessage CHAR[240] @58 (what MessageLength holds of it)."""
    sym, ser, mt, n = struct.unpack_from(">10s2sh2xh", data, b + 40)
    return [{"symbol": _text(sym), "series": _text(ser), "market_type": mt, "broadcast_message_length": n,
             "broadcast_message": _text(data[b + 58:b + min(mlen, 298)])}]


def fo_vct(data, b, mlen):
    """F&O MS_BCAST_VCT_MSGS (PROTOCOL_MORE §3.6): Token @40, SEC_INFO @44 (Symbol @50, Series @60),
    MarketType @74, BroadcastMessageLength @78, BroadcastMessage CHAR[239] @80."""
    tok, sym, ser, mt, n = struct.unpack_from(">i6x10s2s12xh2xh", data, b + 40)
    return [{"token": tok, "symbol": _text(sym), "series": _text(ser), "market_type": mt,
             "broadcast_message_length": n, "broadcast_message": _text(data[b + 80:b + min(mlen, 319)])}]


def cm_7206(data, b, mlen):
    """CM system information (PROTOCOL_MORE §3.5): 6 market statuses @40."""
    return [{"market_status": list(struct.unpack_from(">6h", data, b + 40))}]


def fo_7206(data, b, mlen):
    """F&O MS_SYSTEM_INFO_DATA: ST_MARKET_STATUS @40, ST_EX_MARKET_STATUS @48, ST_PL_MARKET_STATUS @56."""
    v = struct.unpack_from(">12h", data, b + 40)
    return [{"market_status": list(v[0:4]), "ex_market_status": list(v[4:8]), "pl_market_status": list(v[8:12])}]


# Documented broadcasts counted and not merged (PROTOCOL_MORE.md §3.1 code map, §1.5, §2.2-§2.4; PROTOCOL.md
# §3.0 compressed lists): header only, whatever their MessageLength, but for the market-state messages' few fields
COUNTED = {"CM": (6501, 6511, 6521, 6531, 6571, 6583, 6584, 6581, 7764, 7206, 18720, 7306, 9010, 9011, 7214, 7215,
                  7203),
           "FO": (6501, 6511, 6521, 6522, 6531, 6571, 7206, 7305, 7340, 7324, 7341, 7306, 9010, 9011, 7211, 7220)}
for _seg, _codes in COUNTED.items():
    DECODERS[_seg].update((c, (header_only, 40)) for c in _codes)
DECODERS["CM"].update({c: (cm_vct, 58) for c in (6511, 6521, 6531, 6571, 6583, 6584)})
DECODERS["FO"].update({c: (fo_vct, 80) for c in (6511, 6521, 6522, 6531, 6571)})
DECODERS["CM"][7206] = (cm_7206, 52)
DECODERS["FO"][7206] = (fo_7206, 64)
KNOWN_MARKET_TYPES = (2, 4, 6)                     # F&O, CM, currency derivatives


class _Unknown(Exception):
    pass


def decode_message(data: bytes, segment: str, compressed: bool) -> dict | None:
    """Decode one message from ``data`` = the 8-byte prefix + message (a decompressed sub-packet).

    Returns the message dict, or None for a transaction code without a layout in this segment.
    """
    try:
        return _decode_message(data, segment, compressed)
    except _Unknown:
        return None


def _decode_message(data: bytes, segment: str, compressed: bool) -> dict:
    if len(data) < 48:
        raise DecodeError("msg_length" if compressed else "truncated",
                          f"{len(data)} bytes cannot hold the prefix and header")
    market_type = data[0]
    if market_type != MARKET_TYPE[segment] and market_type in KNOWN_MARKET_TYPES:
        raise DecodeError("segment", f"market type {market_type} in a {segment} stream")
    if segment == "FO" and SHORT.unpack_from(data, 18)[0] != 6013 and SHORT.unpack_from(data, 8)[0] == 6013:
        code, log_time, alpha, trader_id, error_code, _ts, ts2, mlen = MESSAGE_HEADER.unpack_from(data, 8)
        seq, stream, message_header = 0, 0, True
    else:
        log_time, alpha, code, error_code, seq, ts2, stream, mlen = BCAST_HEADER.unpack_from(data, 8)
        trader_id, message_header = 0, False
    if mlen < 40 or 8 + mlen > len(data):
        raise DecodeError("msg_length", f"MessageLength {mlen} with {len(data) - 8} bytes of message")
    entry = DECODERS[segment].get(code)
    if entry is None:
        raise _Unknown(code)
    fn, min_len = entry
    if segment == "FO" and code in OI_CODES:
        error_code, seq, stream = 0, 0, 0               # NoOfRecords / Reserved in the re-defined header
    if mlen < min_len:
        raise DecodeError("msg_length", f"MessageLength {mlen} < {min_len} for {segment} {code}")
    return {"segment": segment, "compressed": compressed, "market_type": market_type,
            "message_header": message_header, "log_time": log_time, "alpha_char": _text(alpha),
            "transaction_code": code, "error_code": error_code, "bc_seq_no": seq, "trader_id": trader_id,
            "time_stamp2": ts2, "stream": stream, "message_length": mlen,
            "records": fn(data, 8, mlen)}


def decode(datagram: bytes, segment: str, errors: dict | None = None) -> list[dict]:
    """Decode every sub-packet of one datagram of ``segment`` ("CM" / "FO") into message dicts.

    ``errors=None``: raise :class:`DecodeError` on the first malformed part.  ``errors=<dict>``: count each
    error by reason in it, skip what it damaged and keep the rest, as ``vega.Decoder`` does.
    """
    if segment not in MARKET_TYPE:
        raise ValueError(f"unknown segment {segment!r}")
    d = bytes(datagram)
    out: list = []

    def fail(reason: str, detail: str) -> None:
        if errors is None:
            raise DecodeError(reason, detail)
        errors[reason] = errors.get(reason, 0) + 1

    if len(d) < 4:
        fail("empty", f"{len(d)}-byte datagram")
        return out
    _net_id, n = DGRAM_HEAD.unpack_from(d, 0)
    if n <= 0:
        fail("empty", f"iNoPackets = {n}")
        return out
    pos = 4
    for k in range(n):
        if pos + 2 > len(d):
            fail("packet_count", f"iNoPackets = {n} but the datagram ends after {k} packets")
            break
        (clen,) = USHORT.unpack_from(d, pos)
        if clen > 0:
            if pos + 2 + clen > len(d):
                fail("comp_len", f"iCompLen {clen} past the end of the datagram")
                break
            try:
                data = lzo.decompress(d[pos + 2:pos + 2 + clen], False, LZO_OUT_MAX, algorithm="LZO1Z")
            except lzo.error as e:
                fail("lzo", str(e))
                pos += 2 + clen
                continue
            pos += 2 + clen
        else:
            if pos + 2 + 48 > len(d):
                fail("truncated", "uncompressed sub-packet shorter than prefix + header")
                break
            (mlen,) = USHORT.unpack_from(d, pos + 2 + 8 + 38)
            if mlen < 40:
                fail("msg_length", f"MessageLength {mlen}")
                break
            if pos + 2 + 8 + mlen > len(d):
                fail("truncated", f"MessageLength {mlen} runs past the datagram")
                break
            data = d[pos + 2:pos + 2 + 8 + mlen]
            pos += 2 + 8 + mlen
        try:
            out.append(_decode_message(data, segment, clen > 0))
        except _Unknown:
            if errors is not None:
                errors["unknown_code"] = errors.get("unknown_code", 0) + 1
        except DecodeError as e:
            fail(e.reason, str(e))
    return out
