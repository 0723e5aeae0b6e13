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
    assert out[1]["records"] == [] and out[1]["message_length"] == nse.layout(seg, code).size
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
