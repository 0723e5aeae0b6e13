"""Documented broadcasts VEGA does not merge (docs/FORMATS.md §1.5 "known, not decoded"): each is counted under its
own code, header only, never as an error; `unknown_code` stays for the codes no document names for the segment.
The lists are written here from shared/nse/PROTOCOL_MORE.md §3.1 (code map), §1.5, §2.2-§2.4 and PROTOCOL.md §3.0,
not taken from vega.nse."""
import datetime as dt
import json
import os
import struct
import subprocess
import sys

import pytest

import vega
from vega import _core, nse
from vega.capture import Capture, CaptureConfig, FeedConfig, format_stats
from vega.simulator import DEFAULT_FEEDS, write_pcap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
T0 = int(dt.datetime(2026, 11, 20, 10, 0, tzinfo=IST).timestamp()) * 10**9

BOTH = {6501, 6511, 6521, 6531, 6571, 7206, 7306, 9010, 9011}
COUNTED = {"CM": BOTH | {6581, 6583, 6584, 7764, 18720, 7214, 7215, 7203},
           "FO": BOTH | {6522, 7211, 7220, 7305, 7324, 7340, 7341}}
# named by the other segment's document only, or by none
NOT_NAMED = {"CM": [7211, 7220, 7305, 7340, 7324, 7341, 6522, 7320, 9999, 1],
             "FO": [7764, 18720, 6581, 6583, 6584, 7214, 7215, 7203, 9999, 1]}
ALL = [(seg, code) for seg in ("CM", "FO") for code in sorted(COUNTED[seg])]


def _msg(seg, code, seq, compressed=False):
    return nse.blank_message(seg, code, bc_seq_no=seq, stream=7, log_time=1_000_000 + seq, alpha_char="TD",
                             compressed=compressed)


def _decode(seg, msgs):
    dec = vega.Decoder(seg)
    return dec.decode(nse.build_datagram(seg, msgs)), dec.stats


def test_the_encoder_knows_the_documented_lists():
    assert {s: set(c) for s, c in nse.COUNTED_ONLY.items()} == COUNTED


@pytest.mark.parametrize("seg,code", ALL)
@pytest.mark.parametrize("compressed", [False, True])
def test_a_documented_code_is_counted_under_its_code_not_as_an_error(seg, code, compressed):
    msgs = [_msg(seg, 6541, 1), _msg(seg, code, 2, compressed), _msg(seg, 6541, 3, not compressed)]
    out, st = _decode(seg, msgs)
    assert out == msgs                                     # header fields as sent, records []
    assert out[1]["message_length"] == nse.layout(seg, code).size
    assert st["by_code"][code] == 1 and st["by_code"][6541] == 2 and st["messages"] == 3
    assert not any(st["errors"].values()), st["errors"]
    assert st["compressed"] == 1 and st["packets"] == 3                 # one of the two codes compressed


@pytest.mark.parametrize("seg", ["CM", "FO"])
def test_every_documented_code_of_a_segment_in_one_stream(seg):
    msgs = [_msg(seg, c, i, i % 2 == 0) for i, c in enumerate(sorted(COUNTED[seg]), 1)]
    dec = vega.Decoder(seg)
    assert dec.decode_batch([nse.build_datagram(seg, msgs[i:i + 3]) for i in range(0, len(msgs), 3)]) == len(msgs)
    st = dec.stats
    assert {c: n for c, n in st["by_code"].items() if n} == {c: 1 for c in COUNTED[seg]}
    assert not any(st["errors"].values())


@pytest.mark.parametrize("seg", ["CM", "FO"])
def test_a_code_the_segments_documents_do_not_name_is_still_unknown_code(seg):
    for code in NOT_NAMED[seg]:
        m = bytearray(nse.encode_message(_msg(seg, 6541, 2)))
        struct.pack_into(">H", m, 10, code)
        mt = nse.MARKET_TYPE[seg]
        dg = nse.encode_datagram([nse.encode_packet(nse.encode_message(_msg(seg, 6541, 1)), False, mt),
                                  nse.encode_packet(bytes(m), True, mt)], mt)
        dec = vega.Decoder(seg)
        out = dec.decode(dg)
        assert [x["bc_seq_no"] for x in out] == [1], code
        assert {k: v for k, v in dec.stats["errors"].items() if v} == {"unknown_code": 1}, code
        assert code not in dec.stats["by_code"] or dec.stats["by_code"][code] == 0


@pytest.mark.parametrize("seg", ["CM", "FO"])
def test_the_feed_handler_counts_them_merges_nothing_and_sees_their_sequence_numbers(seg):
    """A counted message takes its stream's BCSeqNo like any other: skipped as unknown, each one was a gap."""
    store = vega.Store(64)
    fh = vega.FeedHandler(seg, store)
    codes = sorted(COUNTED[seg])
    msgs = [_msg(seg, 6541, 1)] + [_msg(seg, c, i, i % 2 == 0) for i, c in enumerate(codes, 2)]
    fh.process(nse.build_datagram(seg, msgs), now_ns=T0)
    st = fh.stats
    assert {c: n for c, n in st["merged_by_code"].items() if n} == {6541: 1, **{c: 1 for c in codes}}
    assert not any(st["errors"].values()) and st["records"] == 0 and len(store) == 0
    assert st["streams"][7]["messages"] == len(msgs) and st["streams"][7]["gaps"] == 0
    assert st["streams"][7]["last_seq"] == len(msgs)


@pytest.mark.parametrize("seg", ["CM", "FO"])
def test_pack_messages_takes_them_as_the_decoder_does(seg):
    code = min(COUNTED[seg] - BOTH)
    fh = vega.FeedHandler(seg, vega.Store(16))
    fh.merge_packed(_core.pack_messages(seg, [_msg(seg, code, 1)]), now_ns=T0)
    assert fh.stats["merged_by_code"][code] == 1
    oseg = "FO" if seg == "CM" else "CM"
    other = min(COUNTED[oseg] - BOTH)
    with pytest.raises(ValueError, match=f"no merge for transaction code {other}"):
        _core.pack_messages(seg, [dict(_msg(oseg, other, 1), segment=seg)])


def _fo_day():
    """An F&O stream of a day: the market-state broadcasts, 7211, 7220 and 7340 around one 7208."""
    md = nse.blank_message("FO", 7208, 1, compressed=True)
    md["records"][0].update(token=35001, book_type=1, trading_status=2, last_traded_price=24400)
    codes = (6531, 6571, 6511, 7206, 7211, 7220, 7208, 7340, 7211, 6501, 6521, 6522)
    return [nse.build_datagram("FO", [dict(md if c == 7208 else _msg("FO", c, 0), bc_seq_no=i, stream=7)])
            for i, c in enumerate(codes, 1)]


def test_capture_stats_line_and_json_count_them_by_code_not_as_errors(tmp_path):
    port = DEFAULT_FEEDS["FO"][1]
    cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", "239.70.2.1", port)], journal_root=str(tmp_path),
                                stats_interval=3600.0))
    dgs = _fo_day()
    cap.open(offline_ns=T0)
    try:
        assert cap.ingest((T0 + i * 1_000_000, "239.70.2.1", port, d) for i, d in enumerate(dgs)) == len(dgs)
        d = cap.stats()["feeds"]["NSE_FO"]
        assert d["by_code"] == {"7208": 1, "6531": 1, "6571": 1, "6511": 1, "7206": 1, "7211": 2, "7220": 1,
                                "7340": 1, "6501": 1, "6521": 1, "6522": 1}
        assert d["errors"] == {} and d["gaps"] == 0 and d["messages"] == 12
        line = format_stats(cap.stats())
        assert "(6501:1 6511:1 6521:1 6522:1 6531:1 6571:1 7206:1 7208:1 7211:2 7220:1 7340:1) errors none" in line
    finally:
        cap.close()


def test_vega_ingest_summary_counts_them_by_code_not_as_errors(tmp_path):
    group, port = DEFAULT_FEEDS["FO"]
    pcap = tmp_path / "fo.pcap"
    write_pcap(pcap, [(T0 + i * 1_000_000, group, port, d) for i, d in enumerate(_fo_day())])
    run = [sys.executable, "-m", "vega.cli", "ingest", str(pcap), "--journal-root", str(tmp_path / "j"),
           "--feed", f"FO={group}:{port}"]
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run(run + ["--json"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr
    fo = json.loads(r.stdout)["feeds"]["NSE_FO"]
    assert fo["by_code"]["7211"] == 2 and fo["by_code"]["7340"] == 1 and fo["by_code"]["6511"] == 1
    assert fo["errors"] == {} and fo["messages"] == 12
    run[run.index(str(tmp_path / "j"))] = str(tmp_path / "j2")
    r = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("NSE_FO:"))
    assert "12 messages" in line and "; errors none;" in line, line


def _wire(seg, code, body, length=None):
    """A message of ``code`` with ``body`` after the header, written by hand (not by vega.nse's layout)."""
    head = bytearray(nse.encode_message(_msg(seg, 6541, 9)))
    struct.pack_into(">Hhi4xqB7sH", head, 10, code, 0, 9, 0, 7, b" " * 7, 40 + len(body) if length is None else length)
    struct.pack_into(">i2s", head, 4, 1_000_009, b"TD")
    return nse.encode_packet(bytes(head) + body, True, nse.MARKET_TYPE[seg])


def _one(seg, packet):
    dec = vega.Decoder(seg)
    out = dec.decode(nse.encode_datagram([packet], nse.MARKET_TYPE[seg]))
    return out, {k: v for k, v in dec.stats["errors"].items() if v}


def test_cm_market_open_message_gives_its_market_type_and_text():
    body = bytearray(258)                                   # CM63 p.107-109: 298 B
    struct.pack_into(">10s2sh2xh", body, 0, b"RELIANCE  ", b"EQ", 5, 27)
    body[18:18 + 240] = b"Call auction 1 has opened".ljust(240)
    out, errs = _one("CM", _wire("CM", 6511, bytes(body)))
    assert not errs and out[0]["transaction_code"] == 6511 and out[0]["alpha_char"] == "TD"
    assert out[0]["records"] == [{"symbol": "RELIANCE", "series": "EQ", "market_type": 5,
                                  "broadcast_message_length": 27, "broadcast_message": "Call auction 1 has opened"}]


def test_fo_market_close_message_gives_token_market_type_and_text():
    body = bytearray(280)                                   # FO946 p.166-168: 320 B
    struct.pack_into(">i6s10s2s", body, 0, 35001, b"OPTIDX", b"NIFTY     ", b"  ")
    struct.pack_into(">h2xh", body, 34, 1, 22)
    body[40:40 + 239] = b"Normal market closed".ljust(239)
    out, errs = _one("FO", _wire("FO", 6521, bytes(body)))
    assert not errs
    assert out[0]["records"] == [{"token": 35001, "symbol": "NIFTY", "series": "", "market_type": 1,
                                  "broadcast_message_length": 22, "broadcast_message": "Normal market closed"}]


def test_a_short_market_state_message_gives_the_text_it_holds_and_a_shorter_one_is_msg_length():
    body = bytearray(60)
    struct.pack_into(">10s2sh2xh", body, 0, b"TCS       ", b"EQ", 1, 40)
    body[18:] = b"Pre-open session for the normal market X"[:42].ljust(42)
    out, errs = _one("CM", _wire("CM", 6531, bytes(body)))
    assert not errs and out[0]["records"][0]["broadcast_message"] == "Pre-open session for the normal market X"
    out, errs = _one("FO", _wire("FO", 6511, bytes(39)))              # the text would start at 80
    assert out == [] and errs == {"msg_length": 1}


def test_system_information_gives_the_market_statuses():
    body = struct.pack(">6hi", 1, 2, 2, 2, 0, 3, 2_345_600) + bytes(34)     # CM: 90 B, the appendix's size
    out, errs = _one("CM", _wire("CM", 7206, body))
    assert not errs and out[0]["message_length"] == 90
    assert out[0]["records"] == [{"market_status": [1, 2, 2, 2, 0, 3]}]
    body = struct.pack(">12h", 1, 2, 2, 2, 4, 2, 2, 2, 0, 1, 2, 3) + bytes(42)      # F&O: 106 B
    out, errs = _one("FO", _wire("FO", 7206, body))
    assert not errs and out[0]["records"] == [{"market_status": [1, 2, 2, 2], "ex_market_status": [4, 2, 2, 2],
                                               "pl_market_status": [0, 1, 2, 3]}]
    out, errs = _one("CM", _wire("CM", 7206, bytes(11)))               # the 6 statuses need 12 bytes
    assert out == [] and errs == {"msg_length": 1}
