"""vega.decode / vega.Decoder: framing, every (segment, code), bad input counted by reason."""
import struct

import numpy as np
import pytest

import vega
from vega import nse

CODES = {
    "CM": [7200, 7208, 7201, 18703, 7210, 18130, 18707, 18708, 6013, 6541],
    "FO": [7200, 7208, 7201, 17201, 7202, 17202, 7210, 7320, 6013, 6541],
}
ALL = [(seg, code) for seg, codes in CODES.items() for code in codes]

# PROTOCOL.md §5.1: the first 64 bytes of a real F&O 7208 after LZO1Z decompression (478 bytes in all)
REAL_FO_7208_HEAD = bytes.fromhex(
    "02 59 5A 2A 2A 31 32 33 00 00 00 00 56 5A DB CE"
    "00 00 1C 28 00 00 00 08 FC CD 4A 00 00 00 00 00"
    "56 5A DB CE 8D 39 05 20 20 20 20 20 20 20 01 D6"
    "00 02 00 00 DE C6 00 01 00 02 00 00 0D C5 00 00"
)


def _full(seg, code, **fields):
    """A message with the layout's maximum of records, tokens 1000+i, every record a little different."""
    lay = nse.layout(seg, code)
    m = nse.blank_message(seg, code, lay.max_records if lay.count_offset is not None else None)
    for i, r in enumerate(m["records"]):
        if "token" in r:
            r["token"] = 1000 + i
        for k in ("last_traded_price", "fill_price", "opening_price"):
            if k in r:
                r[k] = 250000 + 5 * i
    m.update(fields)
    return m


def _stats(dec):
    return {k: v for k, v in dec.stats["errors"].items() if v}


# ---------------------------------------------------------------------------------------------------------
# Real bytes
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("compressed", [False, True])
def test_real_fo_7208_sample(compressed):
    body = REAL_FO_7208_HEAD + bytes(478 - len(REAL_FO_7208_HEAD))
    if compressed:
        z = vega.lzo1z_compress(body)
        packet = struct.pack(">H", len(z)) + z
    else:
        packet = b"\x00\x00" + body
    dg = bytes([2, 0x20]) + struct.pack(">h", 1) + packet
    (m,) = vega.decode(dg, "FO")
    assert m["compressed"] is compressed
    assert (m["market_type"], m["transaction_code"], m["log_time"]) == (2, 7208, 1448795086)
    assert (m["bc_seq_no"], m["stream"], m["message_length"]) == (589005, 5, 470)
    assert m["time_stamp2"] == 0x0000565ADBCE8D39
    assert len(m["records"]) == 2
    r = m["records"][0]
    assert (r["token"], r["book_type"], r["trading_status"], r["volume_traded_today"]) == (57030, 1, 2, 3525)


# ---------------------------------------------------------------------------------------------------------
# Every code, both segments, compressed or not
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seg,code", ALL)
@pytest.mark.parametrize("compressed", [False, True])
def test_every_code_roundtrips(seg, code, compressed):
    hdr = {} if nse.layout(seg, code).message_header else {"bc_seq_no": 77, "stream": 3}
    m = _full(seg, code, compressed=compressed, log_time=1448795086, **hdr)
    dec = vega.Decoder(seg)
    out = dec.decode(nse.build_datagram(seg, [m]))
    assert out == [m]
    st = dec.stats
    assert st["messages"] == 1 and st["compressed"] == int(compressed)
    assert st["by_code"][code] == 1
    assert not _stats(dec)


def test_fo_6013_uses_message_header():
    m = _full("FO", 6013, trader_id=123456, log_time=99)
    assert m["message_header"] is True
    wire = nse.encode_message(m)
    assert struct.unpack_from(">H", wire, 0)[0] == 6013          # TransactionCode @0 of MESSAGE_HEADER
    (out,) = vega.decode(nse.build_datagram("FO", [m]), "FO")
    assert out["trader_id"] == 123456 and out["records"][0]["token"] == 1000


def test_fo_7208_volume_overflow_flag_applied():
    m = _full("FO", 7208)
    m["records"][0]["volume_traded_today"] = (1 << 32) + 17
    m["records"][0]["vol_trd_today_excd_indc"] = "1"
    m["records"][1]["volume_traded_today"] = 4294967295
    m["records"][1]["vol_trd_today_excd_indc"] = "0"
    wire = nse.encode_message(m)
    assert struct.unpack_from(">I", wire, 42 + 8)[0] == 17 and wire[42 + 17:42 + 18] == b"1"
    (out,) = vega.decode(nse.build_datagram("FO", [m]), "FO")
    assert [r["volume_traded_today"] for r in out["records"]] == [(1 << 32) + 17, 4294967295]


def test_fo_double_totals():
    m = _full("FO", 7200)
    r = m["records"][0]
    r["total_buy_quantity"], r["total_sell_quantity"] = 123456789012, 2**53
    wire = nse.encode_message(m)
    assert struct.unpack_from(">d", wire, 375)[0] == 123456789012.0
    (out,) = vega.decode(nse.build_datagram("FO", [m]), "FO")
    assert out["records"][0]["total_buy_quantity"] == 123456789012
    assert out["records"][0]["total_sell_quantity"] == 2**53


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 1e300])
def test_fo_double_totals_not_a_quantity_become_zero(bad):
    wire = bytearray(nse.encode_message(_full("FO", 7200)))
    struct.pack_into(">d", wire, 375, bad)
    dg = nse.encode_datagram([nse.encode_packet(bytes(wire), False, 2)], 2)
    (out,) = vega.decode(dg, "FO")
    assert out["records"][0]["total_buy_quantity"] == 0


def test_several_subpackets_mixed_in_order():
    msgs = [_full("FO", 7208, compressed=True, bc_seq_no=1), _full("FO", 7200, compressed=False, bc_seq_no=2),
            _full("FO", 17202, compressed=True, bc_seq_no=3), _full("FO", 6541, compressed=False, bc_seq_no=4)]
    out = vega.decode(nse.build_datagram("FO", msgs), "FO")
    assert out == msgs


def test_fewer_records_than_the_maximum_and_nominal_padding():
    m = _full("CM", 18703)
    m["records"] = m["records"][:3]
    short = nse.build_datagram("CM", [m])
    (out,) = vega.decode(short, "CM")
    assert out["message_length"] == 42 + 3 * 18 and len(out["records"]) == 3
    padded = nse.encode_packet(nse.encode_message(m, pad_to_nominal=True), True, 4)
    (out,) = vega.decode(nse.encode_datagram([padded], 4), "CM")
    assert out["message_length"] == 546 and [r["token"] for r in out["records"]] == [1000, 1001, 1002]


def test_accepts_any_bytes_like():
    dg = nse.build_datagram("CM", [_full("CM", 7201)])
    ref = vega.decode(dg, "CM")
    assert vega.decode(bytearray(dg), "CM") == ref
    assert vega.decode(memoryview(dg), "CM") == ref
    assert vega.decode(np.frombuffer(dg, np.uint8), "CM") == ref
    with pytest.raises(TypeError):
        vega.decode("not bytes", "CM")
    with pytest.raises(TypeError, match="bytes-like object, not int"):
        vega.decode(7, "CM")
    strided = np.repeat(np.frombuffer(dg, np.uint8), 2)[::2]   # dg's bytes, but not in one block
    with pytest.raises(TypeError, match="contiguous block of bytes; this ndarray is strided"):
        vega.decode(strided, "CM")
    assert vega.decode(bytes(strided), "CM") == ref          # what the message advises works
    with pytest.raises(ValueError, match="segment"):
        vega.decode(dg, "NSE")


def test_decode_batch_counts_like_decode():
    dgs = [nse.build_datagram(seg, [_full(seg, c, compressed=i % 2 == 0)])
           for i, (seg, c) in enumerate(ALL) if seg == "FO"]
    a, b = vega.Decoder("FO"), vega.Decoder("FO")
    n = a.decode_batch(dgs)
    assert n == sum(len(b.decode(d)) for d in dgs) == len(dgs)
    assert a.stats == b.stats
    a.reset_stats()
    assert a.stats["messages"] == 0 and a.stats["datagrams"] == 0
    with pytest.raises(TypeError):
        a.decode_batch([bytearray(dgs[0])])


# ---------------------------------------------------------------------------------------------------------
# Bad input: counted by reason, skipped, the rest of the datagram still decoded
# ---------------------------------------------------------------------------------------------------------

def _good(seg="FO", code=7208, compressed=True, seq=1):
    return nse.encode_packet(nse.encode_message(_full(seg, code, bc_seq_no=seq)), compressed,
                             nse.MARKET_TYPE[seg])


def _decode(packets, seg="FO", **kw):
    dec = vega.Decoder(seg)
    out = dec.decode(nse.encode_datagram(packets, nse.MARKET_TYPE[seg], **kw))
    return out, _stats(dec), dec.stats


@pytest.mark.parametrize("dg", [b"", b"\x02", b"\x02\x20\x00"])
def test_empty_or_tiny_datagram(dg):
    dec = vega.Decoder("FO")
    assert dec.decode(dg) == []
    assert _stats(dec) == {"empty": 1}


@pytest.mark.parametrize("n", [0, -1, -32768])
def test_no_packets_not_positive(n):
    out, errs, _ = _decode([_good()], no_packets=n)
    assert out == [] and errs == {"empty": 1}


def test_more_packets_promised_than_present():
    out, errs, _ = _decode([_good(seq=1), _good(seq=2)], no_packets=5)
    assert [m["bc_seq_no"] for m in out] == [1, 2] and errs == {"packet_count": 1}


def test_comp_len_past_the_end_keeps_earlier_packets():
    bad = struct.pack(">H", 5000) + b"\x11\x00\x00"
    out, errs, _ = _decode([_good(seq=1), bad])
    assert [m["bc_seq_no"] for m in out] == [1] and errs == {"comp_len": 1}


@pytest.mark.parametrize("cut", [1, 2, 10, 47, 100])
def test_truncated_uncompressed_tail(cut):
    p = _good(compressed=False, seq=2)
    out, errs, _ = _decode([_good(seq=1), p[:-cut]])
    assert [m["bc_seq_no"] for m in out] == [1] and errs == {"truncated": 1}


def test_corrupt_lzo_stream_skips_only_that_packet():
    p = bytearray(_good(seq=2))
    p[2:] = bytes([0x00, 0x00, 0x00, 0xFF]) + bytes(len(p) - 6)      # a literal run running past the input
    out, errs, st = _decode([_good(seq=1), bytes(p), _good(seq=3)])
    assert [m["bc_seq_no"] for m in out] == [1, 3] and errs == {"lzo": 1}
    assert st["packets"] == 3


def test_compressed_message_length_lies():
    m = nse.encode_message(_full("FO", 7208, bc_seq_no=2), message_length=600)    # longer than the data
    bad = nse.encode_packet(m, True, 2)
    out, errs, _ = _decode([_good(seq=1), bad, _good(seq=3)])
    assert [m["bc_seq_no"] for m in out] == [1, 3] and errs == {"msg_length": 1}


@pytest.mark.parametrize("ml", [0, 39])
def test_uncompressed_message_length_below_header_stops_walk(ml):
    m = nse.encode_message(_full("FO", 7200, bc_seq_no=2), message_length=ml)
    out, errs, _ = _decode([_good(seq=1), nse.encode_packet(m, False, 2), _good(seq=3)])
    assert [m["bc_seq_no"] for m in out] == [1] and errs == {"msg_length": 1}


def test_message_shorter_than_its_fixed_part():
    m = nse.encode_message(_full("CM", 7200, bc_seq_no=2))[:300]
    m = m[:38] + struct.pack(">H", 300) + m[40:]
    out, errs, _ = _decode([_good("CM", 7208, seq=1), nse.encode_packet(m, True, 4), _good("CM", 7201, seq=3)],
                           "CM")
    assert [m["bc_seq_no"] for m in out] == [1, 3] and errs == {"msg_length": 1}


@pytest.mark.parametrize("seg,code", [(s, c) for s, c in ALL if nse.layout(s, c).count_offset is not None])
@pytest.mark.parametrize("lie", ["over_max", "negative", "over_length"])
def test_no_of_records_too_large(seg, code, lie):
    lay = nse.layout(seg, code)
    m = _full(seg, code, bc_seq_no=2)
    if lie == "over_max":
        wire = nse.encode_message(m, no_of_records=lay.max_records + 1, pad_to_nominal=True)
    elif lie == "negative":
        wire = nse.encode_message(m, no_of_records=-1)
    else:
        m["records"] = m["records"][:1]
        wire = nse.encode_message(m, no_of_records=2)                  # MessageLength holds one record
    out, errs, _ = _decode([_good(seg, 6541, seq=1), nse.encode_packet(wire, True, nse.MARKET_TYPE[seg]),
                            _good(seg, 6541, seq=3)], seg)
    assert [m["bc_seq_no"] for m in out] == [1, 3] and errs == {"records": 1}


@pytest.mark.parametrize("seg,code", [("FO", 7764), ("FO", 18720), ("FO", 18703), ("CM", 7211),
                                      ("CM", 17202), ("CM", 7202), ("CM", 17201), ("CM", 1)])
def test_unknown_codes_are_counted_and_skipped(seg, code):
    m = bytearray(nse.encode_message(_full(seg, 6541, bc_seq_no=2)))
    struct.pack_into(">H", m, 10, code)
    out, errs, _ = _decode([_good(seg, 6541, seq=1), nse.encode_packet(bytes(m), True, nse.MARKET_TYPE[seg])],
                           seg)
    assert [m["bc_seq_no"] for m in out] == [1] and errs == {"unknown_code": 1}


def test_message_of_the_other_segment_is_refused():
    cm = nse.encode_packet(nse.encode_message(_full("CM", 7200, bc_seq_no=2)), False, 4)
    out, errs, _ = _decode([_good(seq=1), cm, _good(seq=3)])
    assert [m["bc_seq_no"] for m in out] == [1, 3] and errs == {"segment": 1}


@pytest.mark.parametrize("ml", [40, 41])
def test_record_layout_without_room_for_the_count_is_msg_length(ml):
    wire = nse.encode_message(_full("FO", 7208, bc_seq_no=2), message_length=ml)
    out, errs, _ = _decode([_good(seq=1), nse.encode_packet(wire, True, 2)])
    assert [m["bc_seq_no"] for m in out] == [1] and errs == {"msg_length": 1}


@pytest.mark.parametrize("value,expected", [(2.5, 3), (-2.5, -3), (7.49, 7), (-7.51, -8), (0.0, 0),
                                            (2.0**52 + 1, 2**52 + 1), (-(2.0**53), -(2**53)),
                                            (9.1e18, 9100000000000000000)])
def test_fo_double_totals_round_half_away_from_zero(value, expected):
    wire = bytearray(nse.encode_message(_full("FO", 7200)))
    struct.pack_into(">d", wire, 375, value)
    dg = nse.encode_datagram([nse.encode_packet(bytes(wire), False, 2)], 2)
    (out,) = vega.decode(dg, "FO")
    assert out["records"][0]["total_buy_quantity"] == expected


def test_fo_7320_stock_status_change_decodes_and_merges_like_7210():
    """PROTOCOL_MORE.md §3.1/§3.4 (FO946 p.162-164, table 66): F&O BCAST_STOCK_STATUS_CHG (7320), sent whenever
    a security's status changes (a suspension in the day...), has the 7210 structure MS_SECURITY_STATUS_UPDATE_INFO:
    NumberOfRecords @40, up to 35 TOKEN_AND_ELIGIBILITY of 12 B (Token LONG, 4 x Status SHORT) from @42."""
    recs = [(35001, (3, 2, 1, 6)), (35002, (2, 2, 2, 2))]
    wire = struct.pack(">4xi2sHhi4xq8shh", 1448795086, b"  ", 7320, 0, 77, 0x565ADBCE8D39, b"\x03" + b" " * 7,
                       42 + 12 * len(recs), len(recs))
    wire += b"".join(struct.pack(">ihhhh", t, *s) for t, s in recs)
    dec = vega.Decoder("FO")
    (m,) = dec.decode(nse.encode_datagram([nse.encode_packet(wire, False, 2)], 2))
    assert (m["transaction_code"], m["bc_seq_no"], m["stream"], m["message_length"]) == (7320, 77, 3, 66)
    assert m["records"] == [{"token": t, "status": list(s)} for t, s in recs]
    assert not _stats(dec) and dec.stats["by_code"][7320] == 1
    assert vega.decode(nse.encode_datagram([nse.encode_packet(wire, False, 4)], 4), "CM") == []   # F&O only
    from vega import _core
    store = _core.Store(100)
    fh = _core.FeedHandler("FO", store)
    fh.merge_message(m, now_ns=1_700_000_000 * 10**9)
    assert store[35001].trading_status == 3 and store[35001].market_status == (3, 2, 1, 6)
    assert store[35001].last_update_source == 7320 and fh.stats["merged_by_code"][7320] == 1


@pytest.mark.parametrize("net_id", [b"\x02\x20", b"\x02\x00", b"2 ", b"\x00\x00", b"\x04\x20", b"\xff\xff"])
def test_cnetid_is_not_filtered_on(net_id):
    """PROTOCOL.md §1.1: cNetId[0] is a small integer (a real F&O capture has 02 20), cNetId[1] is not to be
    filtered on; the segment check is the prefix's market-type byte (§1.2).  So the same sub-packets decode the
    same under any cNetId."""
    dg = nse.build_datagram("FO", [_full("FO", 7208, compressed=True, bc_seq_no=1),
                                   _full("FO", 7200, compressed=False, bc_seq_no=2)])
    dec = vega.Decoder("FO")
    assert [m["bc_seq_no"] for m in dec.decode(net_id + dg[2:])] == [1, 2] and not _stats(dec)


@pytest.mark.parametrize("code", [18130, 18707])
def test_cm_security_status_change_decodes_and_merges(code):
    """PROTOCOL_MORE.md §3.4 (CM63 p.101-102, table 31): CM BCAST_SECURITY_STATUS_CHG (18130) / _PREOPEN
    (18707), "sent whenever the status of any security changes", 442 B: NumberOfRecords @40, up to 25
    TOKEN AND ELIGIBILITY of 16 B from @42 (Token LONG, 6 x Status SHORT: normal, odd lot, spot, auction, call
    auction 1, call auction 2).  The normal market's status is the security's trading status."""
    recs = [(2885, (3, 2, 2, 2, 0, 2)), (11536, (1, 2, 1, 2, 2, 6))]
    wire = struct.pack(">4xi2sHhi4xq8shh", 1448795086, b"  ", code, 0, 78, 0x565ADBCE8D39, b"\x04" + b" " * 7,
                       42 + 16 * len(recs), len(recs))
    wire += b"".join(struct.pack(">ihhhhhh", t, *s) for t, s in recs)
    dec = vega.Decoder("CM")
    (m,) = dec.decode(nse.encode_datagram([nse.encode_packet(wire, False, 4)], 4))
    assert (m["transaction_code"], m["bc_seq_no"], m["stream"], m["message_length"]) == (code, 78, 4, 74)
    assert m["records"] == [{"token": t, "status": list(s)} for t, s in recs]
    assert not _stats(dec) and dec.stats["by_code"][code] == 1
    assert vega.decode(nse.encode_datagram([nse.encode_packet(wire, False, 2)], 2), "FO") == []   # CM only
    from vega import _core
    store = _core.Store(100)
    fh = _core.FeedHandler("CM", store)
    fh.merge_message(m, now_ns=1_700_000_000 * 10**9)
    assert store[2885].trading_status == 3 and store[2885].market_status == (3, 2, 2, 2)
    assert store[11536].trading_status == 1 and store[11536].last_update_source == code
    assert fh.stats["merged_by_code"][code] == 1
