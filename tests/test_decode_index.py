"""CM 7207 / 7216 / 8207 index broadcasts and F&O 7130 / 17130 open interest per underlying.

Wire bytes here are built with ``struct`` straight from the tables of shared/nse/PROTOCOL_MORE.md §1.2-§1.4 and
§2.1 (a statement of each layout independent of vega.nse's tables and of bench/baseline_decode.py), then
decoded by vega (and the baseline), and compared with what vega.nse encodes.
"""
from __future__ import annotations

import os
import struct
import sys

import pytest
from hypothesis import HealthCheck, given, settings

import vega
import vega._core as core
from vega import nse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import nse_strategies as S  # noqa: E402
from bench import baseline_decode as bd  # noqa: E402

HDR = struct.Struct(">4xi2sHhi4xqB7sH")           # BCAST_HEADER (PROTOCOL.md §2)
OI_HDR = struct.Struct(">4xi2sHh8sq8sH")           # 7130/17130 re-defined header: NoOfRecords @12 (§2.1)

# realistic index records: (name, value, high, low, open, close, %chg, yearly high, yearly low, up, down, mcap, +/-)
NIFTY = ("Nifty 50", 2450015, 2461230, 2431005, 2440150, 2440000, 41, 2627735, 2128135, 37, 13,
         1.9336615903633125e14, "+")
BANK = ("Nifty Bank", 5218040, 5230010, 5170100, 5181000, 5175025, 83, 5480000, 4458000, 9, 3,
        5.2e13, "+")
VIX = ("India VIX", 1312, 1398, 1290, 1380, 1371, -430, 2390, 1040, 0, 0, 0.0, "-")


def _index_record(rec, stride):
    """One INDICES record: name CHAR[21], (pad byte if 72), 10 LONGs, DOUBLE, CHAR, Filler."""
    name, *nums, mcap, nci = rec
    b = name.encode().ljust(21, b" ") + (b"\x00" if stride == 72 else b"")
    b += struct.pack(">10i", *nums) + struct.pack(">d", mcap) + nci.encode() + b"\x00"
    assert len(b) == stride
    return b


def _index_message(code, recs, stride, *, n=None, ml=None, seq=9, pad_to=None):
    body = b"".join(_index_record(r, stride) for r in recs)
    if pad_to is not None:
        body = body.ljust(pad_to - 42, b"\x00")
    length = 42 + len(body) if ml is None else ml
    head = HDR.pack(1448795086, b"  ", code, 0, seq, 0x565ADBCE8D39, 5, b" " * 7, length)
    return head + struct.pack(">h", len(recs) if n is None else n) + body


def _dgram(seg, *messages, compressed=False):
    mt = nse.MARKET_TYPE[seg]
    return nse.encode_datagram([nse.encode_packet(m, compressed, mt) for m in messages], mt)


def _decode(seg, dg):
    dec = vega.Decoder(seg)
    out = dec.decode(dg)
    return out, {k: v for k, v in dec.stats["errors"].items() if v}, dec.stats


def _circuit(seg, seq):
    return nse.encode_message(nse.blank_message(seg, 6541, bc_seq_no=seq))


def _expect_7207(rec, stride):
    name, v, hi, lo, op, cl, pc, yh, yl, up, dn, mcap, nci = rec
    return {"index_name": name, "index_value": v, "high_index_value": hi, "low_index_value": lo,
            "opening_index": op, "closing_index": cl, "percent_change": pc, "yearly_high": yh, "yearly_low": yl,
            "no_of_upmoves": up, "no_of_downmoves": dn, "market_capitalisation": mcap,
            "net_change_indicator": nci, "wire_stride": stride}


# ---------------------------------------------------------------------------------------------------------
# Byte-exact layouts, both strides
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stride", [72, 71])
@pytest.mark.parametrize("code", [7207, 7216])
@pytest.mark.parametrize("compressed", [False, True])
def test_indices_from_protocol_bytes(code, stride, compressed):
    recs = [NIFTY, BANK, VIX]
    wire = _index_message(code, recs, stride)
    assert len(wire) == 42 + 3 * stride
    out, errs, st = _decode("CM", _dgram("CM", wire, compressed=compressed))
    assert not errs and st["by_code"][code] == 1
    (m,) = out
    assert (m["transaction_code"], m["bc_seq_no"], m["stream"], m["message_length"]) == (code, 9, 5, len(wire))
    assert m["records"] == [_expect_7207(r, stride) for r in recs]
    assert bd.decode(_dgram("CM", wire, compressed=compressed), "CM") == out
    # and vega.nse writes exactly these bytes from the decoded dict
    assert nse.encode_message(m) == wire


@pytest.mark.parametrize("stride", [72, 71])
def test_8207_indicative_from_protocol_bytes(stride):
    # 8207 record (PROTOCOL_MORE §1.4): IndicativeCloseValue, Reserved x3, ClosingIndex, PercentChange,
    # Reserved x2, Change, Reserved, MarketCapitalization, NetChangeIndicator, Filler
    reserved = 0x7A7A7A7A                                     # junk in the Reserved slots is ignored
    rec = ("Nifty 50", 2452210, reserved, reserved, reserved, 2440000, 50, reserved, reserved, 12210, reserved,
           1.93e14, "+")
    wire = _index_message(8207, [rec], stride)
    (m,), errs, st = _decode("CM", _dgram("CM", wire))
    assert not errs and st["by_code"][8207] == 1
    assert m["records"] == [{"index_name": "Nifty 50", "indicative_close_value": 2452210,
                             "closing_index": 2440000, "percent_change": 50, "change": 12210,
                             "market_capitalisation": 1.93e14, "net_change_indicator": "+",
                             "wire_stride": stride}]
    assert bd.decode(_dgram("CM", wire), "CM") == [m]
    # the encoder writes zeros in the Reserved slots, everything else equal
    enc = nse.encode_message(m)
    assert len(enc) == len(wire)
    d = 1 if stride == 72 else 0
    reserved_at = {42 + d + off + k for off in (25, 29, 33, 45, 49, 57) for k in range(4)}
    assert [i for i in range(len(wire)) if enc[i] != wire[i]] == sorted(reserved_at)


def test_pad_byte_and_filler_written_as_zeros():
    m = nse.blank_message("CM", 7207, 1)
    m["records"][0].update(_expect_7207(NIFTY, 72))
    b = nse.encode_message(m)
    assert b[42:63] == b"Nifty 50".ljust(21) and b[63] == 0 and b[42 + 71] == 0
    assert struct.unpack_from(">i", b, 42 + 22)[0] == 2450015
    assert struct.unpack_from(">d", b, 42 + 62)[0] == NIFTY[11] and b[42 + 70:42 + 71] == b"+"
    m["records"][0]["wire_stride"] = 71
    b = nse.encode_message(m)
    assert len(b) == 42 + 71 and struct.unpack_from(">i", b, 42 + 21)[0] == 2450015 and b[42 + 70] == 0


def test_realistic_index_value_near_closing_index_only_with_the_right_layout():
    # PROTOCOL_MORE §1.2's sanity check: with the right layout IndexValue is within a few % of ClosingIndex
    wire = _index_message(7207, [NIFTY, BANK], 72)
    (m,), _, _ = _decode("CM", _dgram("CM", wire))
    for r in m["records"]:
        assert abs(r["index_value"] / r["closing_index"] - 1) < 0.05
        assert r["low_index_value"] <= r["index_value"] <= r["high_index_value"]
    # reading the 72-byte wire record with the document's offsets (numbers from 21) fails that check
    for i in range(2):
        v, c = struct.unpack_from(">i", wire, 42 + 72 * i + 21)[0], struct.unpack_from(">i", wire, 42 + 72 * i + 37)[0]
        assert c == 0 or abs(v / c - 1) > 0.5


@pytest.mark.parametrize("stride,nominal", [(72, 474), (71, 468)])
def test_nominal_length_fixes_the_stride_whatever_the_count(stride, nominal):
    # a sender that always sends the full 6-record structure: MessageLength 474 (468) with fewer records
    wire = _index_message(7207, [NIFTY, BANK], stride, pad_to=nominal)
    assert len(wire) == nominal
    dg = _dgram("CM", wire, compressed=True)
    (m,), errs, _ = _decode("CM", dg)
    assert not errs and m["records"] == [_expect_7207(NIFTY, stride), _expect_7207(BANK, stride)]
    assert bd.decode(dg, "CM") == [m]
    enc = nse.encode_message(m, pad_to_nominal=True)
    assert enc == wire


def test_zero_records():
    wire = _index_message(7216, [], 72)
    (m,), errs, _ = _decode("CM", _dgram("CM", wire))
    assert not errs and m["records"] == [] and m["message_length"] == 42


# ---------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,ml", [(2, 42 + 2 * 70), (2, 42 + 2 * 73), (1, 42 + 144), (3, 42 + 3 * 72 - 1),
                                  (1, 42 + 36)])
def test_bad_stride_is_records(n, ml):
    body = bytes(range(256))[: ml - 42]
    head = HDR.pack(0, b"  ", 7207, 0, 2, 0, 1, b" " * 7, ml)
    bad = head + struct.pack(">h", n) + body
    dg = _dgram("CM", _circuit("CM", 1), bad, _circuit("CM", 3))
    out, errs, _ = _decode("CM", dg)
    assert [m["bc_seq_no"] for m in out] == [1, 3] and errs == {"records": 1}
    assert bd.decode(dg, "CM", errors=(e := {})) == out and e == {"records": 1}


@pytest.mark.parametrize("n", [7, -1, 32767])
def test_index_count_out_of_range_is_records(n):
    wire = _index_message(7207, [NIFTY] * 6, 72, n=n)
    out, errs, _ = _decode("CM", _dgram("CM", _circuit("CM", 1), wire))
    assert [m["bc_seq_no"] for m in out] == [1] and errs == {"records": 1}


@pytest.mark.parametrize("ml", [40, 41])
def test_index_without_room_for_the_count_is_msg_length(ml):
    wire = _index_message(7207, [NIFTY], 72, ml=ml)
    out, errs, _ = _decode("CM", _dgram("CM", _circuit("CM", 1), wire, compressed=True))
    assert [m["bc_seq_no"] for m in out] == [1] and errs == {"msg_length": 1}


def test_index_codes_belong_to_cm_and_oi_codes_to_fo():
    # FO946 p.185: index values come on the Cash circuit; 7130/17130 are F&O messages
    idx = _index_message(7207, [NIFTY], 72)
    out, errs, _ = _decode("FO", _dgram("FO", idx))
    assert out == [] and errs == {"unknown_code": 1}
    oi = nse.encode_message(nse.blank_message("FO", 17130, 2))
    out, errs, _ = _decode("CM", _dgram("CM", oi))
    assert out == [] and errs == {"unknown_code": 1}


# ---------------------------------------------------------------------------------------------------------
# F&O 7130 / 17130
# ---------------------------------------------------------------------------------------------------------

def _oi_message(code, pairs, *, n=None, ml=None, junk=b"\xa5" * 8):
    fmt = ">iI" if code == 7130 else ">iq"
    body = b"".join(struct.pack(fmt, t, oi) for t, oi in pairs)
    length = 40 + len(body) if ml is None else ml
    return OI_HDR.pack(1448795086, b"  ", code, len(pairs) if n is None else n, junk, 0x565ADBCE8D39, junk,
                       length) + body


@pytest.mark.parametrize("code,oi_max", [(7130, 0xFFFFFFFF), (17130, (1 << 63) - 1)])
@pytest.mark.parametrize("compressed", [False, True])
def test_oi_from_protocol_bytes(code, oi_max, compressed):
    pairs = [(26000, 12_345_678), (2885, oi_max), (11536, 0)]
    wire = _oi_message(code, pairs)
    assert len(wire) == 40 + 3 * (8 if code == 7130 else 12)
    dg = _dgram("FO", wire, compressed=compressed)
    (m,), errs, st = _decode("FO", dg)
    assert not errs and st["by_code"][code] == 1
    assert m["records"] == [{"token": t, "current_oi": oi} for t, oi in pairs]
    # the re-defined header: NoOfRecords sits in ErrorCode's place, Reserved bytes in BCSeqNo's and Filler2's
    assert (m["error_code"], m["bc_seq_no"], m["stream"]) == (0, 0, 0)
    assert (m["log_time"], m["time_stamp2"], m["message_length"]) == (1448795086, 0x565ADBCE8D39, len(wire))
    assert bd.decode(dg, "FO") == [m]
    # the encoder writes the same bytes, with zeros in the Reserved fields
    assert nse.encode_message(m) == _oi_message(code, pairs, junk=bytes(8))


@pytest.mark.parametrize("code,max_n,rec", [(7130, 58, 8), (17130, 39, 12)])
@pytest.mark.parametrize("lie", ["over_max", "negative", "over_length"])
def test_oi_count_too_large_is_records(code, max_n, rec, lie):
    pairs = [(1000 + i, i) for i in range(max_n)]
    if lie == "over_max":
        wire = _oi_message(code, pairs + [(1, 1)], n=max_n + 1)
    elif lie == "negative":
        wire = _oi_message(code, pairs[:2], n=-1)
    else:
        wire = _oi_message(code, pairs[:2], n=3)                    # MessageLength holds two records
    dg = _dgram("FO", _circuit("FO", 1), wire, _circuit("FO", 3))
    out, errs, _ = _decode("FO", dg)
    assert [m["bc_seq_no"] for m in out] == [1, 3] and errs == {"records": 1}
    assert bd.decode(dg, "FO", errors=(e := {})) == out and e == {"records": 1}


def test_oi_full_message_at_the_maximum():
    for code, max_n, size in ((7130, 58, 504), (17130, 39, 508)):
        m = nse.blank_message("FO", code, max_n)
        for i, r in enumerate(m["records"]):
            r.update(token=100 + i, current_oi=7 * i)
        wire = nse.encode_message(m)
        assert len(wire) == size and struct.unpack_from(">h", wire, 12)[0] == max_n
        assert vega.decode(_dgram("FO", wire), "FO") == [m]


# ---------------------------------------------------------------------------------------------------------
# Encoder rules and round trips
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn,match", [
    (lambda m: m["records"][0].update(wire_stride=70), "wire_stride must be 72"),
    (lambda m: m["records"][0].update(wire_stride=71), "share one wire_stride"),
    (lambda m: m["records"][1].update(index_name="x" * 22), "longer than 21"),
])
def test_index_encoder_rejects(fn, match):
    m = nse.blank_message("CM", 7207, 2)
    fn(m)
    with pytest.raises(ValueError, match=match):
        nse.encode_message(m)


@pytest.mark.parametrize("key", ["bc_seq_no", "stream", "error_code"])
def test_oi_encoder_refuses_header_fields_it_has_no_room_for(key):
    with pytest.raises(ValueError, match="re-defined header"):
        nse.encode_message(nse.blank_message("FO", 7130, 1, **{key: 1}))


NEW = [("CM", 7207), ("CM", 7216), ("CM", 8207), ("FO", 7130), ("FO", 17130)]


@pytest.mark.parametrize("seg,code", NEW)
def test_round_trip_vega_and_baseline(seg, code):
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(S.messages(seg, code))
    def check(msg):
        dg = nse.build_datagram(seg, [msg])
        out = vega.decode(dg, seg)
        assert out == [msg]                                  # floats: NaN is never drawn
        assert bd.decode(dg, seg) == out

    check()


def test_store_merge_without_links_counts_the_new_kinds_unrouted():
    # index / OI records belong to the index feed and the CM store (tests/test_index_feed.py): a CM or F&O
    # handler with no link to them counts each message as unrouted and changes nothing
    st = core.Store(100)
    fh = core.FeedHandler("CM", st)
    idx = nse.build_datagram("CM", [dict(nse.blank_message("CM", 7207, 1, bc_seq_no=1),
                                         records=[dict(_expect_7207(NIFTY, 72))])])
    assert fh.process(idx, now_ns=1) == 1
    s = fh.stats
    assert len(st) == 0 and s["merge"]["unrouted"] == 1 and s["merge"]["merged"] == 0
    fo = core.FeedHandler("FO", core.Store(100))
    assert fo.process(nse.build_datagram("FO", [nse.blank_message("FO", 17130, 3)]), now_ns=1) == 1
    s = fo.stats
    assert len(fo.store) == 0 and s["merge"]["unrouted"] == 1
    # no BCSeqNo in the re-defined header: nothing reaches the sequence-gap tracker
    assert s["streams"] == {}
