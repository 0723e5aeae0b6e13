"""The simulated trading day's documented broadcasts VEGA counts without merging (``broadcasts=True``): 7206
system information, the market-state messages at the phase changes and the close, a trickle of other documented
codes.  Off by default in sample_stream / sample_messages, whose bytes (the benchmarks' input) are pinned here; on
by default in the Simulator, `vega simulate` and `vega demo`; end to end, a capture counts each under its own code
with no error and no sequence gap."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
from collections import Counter

import pytest

import vega
from vega import _streams as S
from vega.capture import Capture, CaptureConfig, FeedConfig, multicast_works
from vega.simulator import DEFAULT_FEEDS, Simulator

from net_helpers import free_udp_port

T0 = int(dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))).timestamp()) * 10**9
STATE = {"CM": {6531, 6571, 6511, 6521, 6583, 6584}, "FO": {6531, 6571, 6511, 6521, 6522}}
TRICKLE = {"CM": {7214, 7215, 6501}, "FO": {7211, 7340, 7220, 6501}}
ADDED = {seg: STATE[seg] | TRICKLE[seg] | {7206} for seg in STATE}

# sha256 of sample_stream(seg, 400, 7, **kw)'s datagrams and of repr(list(sample_messages(...))), computed on the
# generator before broadcasts= existed (commit d6e1f7e): the benchmarks' streams (full=False) must not change.  The
# full=True pins were recomputed for STREAM_VERSION 4, whose phase clock moved the pre-open's times (and with them
# the CM index broadcasts, at most one per simulated second)
PINNED = {
    ("FO", False): ("a959cf9d35e5ef1b761a7f6054d1522a0d07b6b1809d49275bffc544d435ee62",
                    "de0819db1a781fd56be41806f4f2ed58421df55959c682763767fa9b19a74096"),
    ("FO", True): ("8fcdc62a8d36d3c10eb4c27c7a1094e7dbf532bb41f2afd4477d551cea431ada",
                   "39a2210168994945d51c6699a390d1218c64d9b7c2fae423380cb06f1e1ee9bb"),
    ("CM", False): ("2d3f0917964a9735f2f032c6dd37681dd9f61a6870f35e3024013fed2b8caeac",
                    "f9c4319963e9d6bd2638c22ec17edf255e9fcff4e86eea0d1b89b905b0402c9e"),
    ("CM", True): ("02dedc5764bd9d8c0fccddc326af808c14953ef50d04dc29bc96d4cc8c0e0465",
                   "cb9cc317308585c0a118f17e02d8de435dcea7ec1416a76f908178c8775ce8ba"),
}


@pytest.mark.parametrize("seg,full", sorted(PINNED))
def test_sample_stream_without_broadcasts_is_byte_identical_to_before(seg, full):
    kw = {"phases": True, "index_oi": True} if full else {}
    h = hashlib.sha256()
    for d in S.sample_stream(seg, 400, 7, **kw):
        h.update(d)
    msgs = hashlib.sha256(repr(list(S.sample_messages(seg, 400, 7, **kw))).encode()).hexdigest()
    assert (h.hexdigest(), msgs) == PINNED[seg, full]


def _decode(seg, dgrams):
    dec = vega.Decoder(seg)
    return [dec.decode(d) for d in dgrams], dec.stats


def _contiguous(msgs):
    """Each stream's BCSeqNo goes up by one per message (numbered messages only)."""
    last = {}
    for m in msgs:
        if m["bc_seq_no"]:
            s = m["stream"]
            assert s not in last or m["bc_seq_no"] == last[s] + 1, (s, last[s], m["transaction_code"])
            last[s] = m["bc_seq_no"]
    return last


@pytest.mark.parametrize("seg", ["CM", "FO"])
def test_broadcasts_add_their_codes_and_change_nothing_else(seg):
    kw = dict(phases=True, index_oi=True)
    plain = [m for _, m in S.sample_messages(seg, 4000, 5, **kw)]
    pairs = list(S.sample_messages(seg, 4000, 5, broadcasts=True, **kw))
    extra = [m for _, m in pairs]
    codes = Counter(m["transaction_code"] for m in extra)
    assert set(S.BROADCAST_CODES[seg]) == ADDED[seg] and ADDED[seg] <= set(codes)
    assert not ADDED[seg] & {m["transaction_code"] for m in plain}
    assert all(codes[c] == 1 for c in STATE[seg] | {7206})
    for c, every in S.TRICKLE[seg].items():                 # a light trickle: about one per `every` datagrams
        assert 0.4 * 3500 / every <= codes[c] <= 2.5 * 4000 / every, (c, codes[c])
    assert sum(codes[c] for c in ADDED[seg]) < 0.03 * len(extra)
    # every other message keeps its content (only BCSeqNo moves); the stream ends a few messages earlier
    rest = [m for m in extra if m["transaction_code"] not in ADDED[seg]]
    assert len(rest) > 0.97 * len(plain)

    def key(m):
        return {k: v for k, v in m.items() if k != "bc_seq_no"}
    assert [key(m) for m in rest] == [key(m) for m in plain[:len(rest)]]
    # compressed where the protocol sends them compressed, never otherwise
    comp = {c for c in ADDED[seg] if any(m["compressed"] for m in extra if m["transaction_code"] == c)}
    assert comp == {7220} if seg == "FO" else comp == {7214, 7215}
    # what the datagrams decode to, with no error, numbered in their streams
    dgrams = list(S.sample_stream(seg, 4000, 5, broadcasts=True, **kw))
    decoded, stats = _decode(seg, dgrams)
    assert [m for ms in decoded for m in ms] == extra
    assert not any(stats["errors"].values())
    _contiguous(extra)


@pytest.mark.parametrize("seg", ["CM", "FO"])
@pytest.mark.parametrize("phases", [True, False])
def test_market_state_at_the_phase_changes_and_the_close(seg, phases):
    n = 1200
    pairs = list(S.sample_messages(seg, n, 3, phases=phases, broadcasts=True))
    state = [(i, m) for i, m in pairs if m["transaction_code"] in STATE[seg] | {7206}]
    # 7206 opens the day: the normal market pre-open (0) or open (1), the others closed (2)
    i, m = state[0]
    assert i == 0 and pairs[0][1] is m and m["transaction_code"] == 7206
    st = 0 if phases else 1
    assert m["records"][0]["market_status"] == ([st, 2, 2, 2, 2, 2] if seg == "CM" else [st, 2, 2, 2])
    # TradingStatus of the 7208s: 1 pre-open, 6 auction, 2 open; each change has its market-state message
    status = [(i, r["trading_status"]) for i, m in pairs if m["transaction_code"] == 7208 for r in m["records"]]
    first = {s: min(i for i, t in status if t == s) for s in {t for _, t in status}}
    last = {s: max(i for i, t in status if t == s) for s in first}
    close = [6521] + sorted(STATE[seg] & {6522, 6583, 6584})
    at = {m["transaction_code"]: i for i, m in state}
    if phases:
        assert [m["transaction_code"] for _, m in state[1:]] == [6531, 6571, 6511] + close
        assert at[6531] == 0 and last[1] < at[6571] <= first[6] and last[6] < at[6511] <= first[2]
    else:
        assert set(first) == {2}
        assert [m["transaction_code"] for _, m in state[1:]] == [6511] + close and at[6511] == 0
    assert all(at[c] == n - 1 for c in close)
    # the close is the stream's last datagram, alone, at the end of its clock (15:30 IST for a whole session)
    assert [m for i, m in pairs if i == n - 1] == [m for i, m in state if i == n - 1]
    closed = dt.datetime.combine(S._DEFAULT_DATE, dt.time(15, 30)) - S.EPOCH_1980
    assert {m["log_time"] for i, m in state if i == n - 1} == {int(closed.total_seconds())}
    for _, m in state[1:]:
        r = m["records"][0]
        assert r["market_type"] == 1 and r["broadcast_message_length"] == len(r["broadcast_message"]) > 0
        assert m["alpha_char"] == ("TD" if seg == "FO" else "")
    texts = {m["transaction_code"]: m["records"][0]["broadcast_message"] for _, m in state[1:]}
    assert "opened" in texts[6511] and "closed" in texts[6521]


# (seed, datagrams) whose last datagram of market data is cut short by the close (uncompressed: big packets)
CUT = {"FO": [(0, 9), (17, 10), (6, 12), (7, 17), (10, 24)], "CM": [(0, 9), (1, 10), (12, 12), (4, 17), (18, 24)]}


@pytest.mark.parametrize("seg", ["CM", "FO"])
@pytest.mark.parametrize("kw", [dict(uncompressed_share=1.0), dict(index_oi=True)])
def test_every_length_ends_with_the_close_and_no_sequence_gap(seg, kw):
    """The close takes the last datagram: the messages the stream had no room for give their numbers back, so a
    receiver sees no gap before it (FeedHandler counts gaps per stream)."""
    for seed, n in CUT[seg] + [(8, n) for n in range(20, 60, 7)]:
        dgrams = list(S.sample_stream(seg, n, seed, phases=True, broadcasts=True, **kw))
        assert len(dgrams) == n
        decoded, stats = _decode(seg, dgrams)
        assert {m["transaction_code"] for m in decoded[-1]} == {6521} | (STATE[seg] & {6522, 6583, 6584})
        _contiguous([m for ms in decoded for m in ms])
        fh = vega.FeedHandler(seg, vega.Store(4096))
        fh.process_batch(dgrams, now_ns=T0)
        assert not any(stats["errors"].values()) and not any(fh.stats["errors"].values())
        assert all(s["gaps"] == 0 for s in fh.stats["streams"].values()), (seed, n)
    assert len(list(S.sample_stream(seg, 1, 8, broadcasts=True))) == 1
    assert list(S.sample_stream(seg, 0, 8, broadcasts=True)) == []


def test_simulator_sends_them_by_default_and_counts_them():
    on, off = Simulator(["FO", "CM"], 2000, seed=4), Simulator(["FO", "CM"], 2000, seed=4, broadcasts=False)
    on.generate()
    off.generate()
    for k, seg in enumerate(on.segments):
        exp = on.expected[seg]
        assert ADDED[seg] <= set(exp.by_code) and not ADDED[seg] & set(off.expected[seg].by_code)
        assert off.datagrams[seg] == list(S.sample_stream(seg, 2000, 4 + 1000 * k, phases=True, index_oi=True,
                                                          asset_tokens=off.asset_tokens()))
        decoded, stats = _decode(seg, on.datagrams[seg])
        msgs = [m for ms in decoded for m in ms]
        assert Counter(m["transaction_code"] for m in msgs) == exp.by_code and len(msgs) == exp.messages
        assert exp.market_state == [m for m in msgs if m["transaction_code"] in STATE[seg] | {7206}]
        assert [m["transaction_code"] for m in exp.market_state][:2] == [7206, 6531]


def test_capture_counts_them_under_their_codes_with_no_error_and_no_gap(tmp_path):
    """End to end over loopback: every broadcast counted under its own code (the capture's stats and stats line),
    none as unknown_code, no sequence gap; the market-state messages decode to the fields the generator put in."""
    from vega.capture import format_stats
    multicast = multicast_works()
    targets = {s: (DEFAULT_FEEDS[s][0] if multicast else "127.0.0.1", free_udp_port()) for s in ("FO", "CM")}
    sim = Simulator(["FO", "CM"], 2000, seed=6, targets=targets)
    sim.generate()
    cap = Capture(CaptureConfig(feeds=[FeedConfig(s, *t) for s, t in targets.items()],
                                journal_root=str(tmp_path / "j"), ring=f"vega-test-bcast-{os.getpid()}",
                                stats_interval=3600.0))
    cap.open()
    try:
        total = sum(e.datagrams for e in sim.expected.values())
        th = threading.Thread(target=sim.send, args=(4000.0,), daemon=True)
        th.start()
        cap.run(60.0, until=lambda c: c.datagrams >= total)
        th.join(10)
        stats = cap.stats()
    finally:
        cap.close()
        cap.unlink()
    line = format_stats(stats)
    for f in cap.feeds:
        exp, d = sim.expected[f.segment], stats["feeds"][f.name]
        assert d["datagrams"] == exp.datagrams and d["messages"] == exp.messages
        assert d["by_code"] == {str(c): n for c, n in exp.by_code.items()}
        assert all(d["by_code"][str(c)] >= 1 for c in ADDED[f.segment])
        assert d["errors"] == {} and d["gaps"] == 0
        assert all(s["gaps"] == 0 and s["missed"] == 0 for s in f.handler.stats["streams"].values())
        # the market-state messages as vega.decode() gives them from the datagrams sent
        got = [m for dg in sim.datagrams[f.segment] for m in vega.decode(dg, f.segment)
               if m["transaction_code"] in STATE[f.segment] | {7206}]
        assert got == exp.market_state and len(got) == len(STATE[f.segment]) + 1
        for m in got[1:]:
            assert m["records"][0]["broadcast_message"] == dict(
                (c, t) for ev in S.MARKET_STATE[f.segment].values() for c, t in ev)[m["transaction_code"]]
    assert "unknown_code" not in line and "7211:" in line and "7214:" in line


def test_docs_state_what_the_generator_sends():
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "FORMATS.md").read_text(encoding="utf-8")
    sec = doc[doc.index("### Counted broadcasts in the simulated streams"):]
    sec = sec[:sec.index("\n### ")]
    fo, cm = S.TRICKLE["FO"], S.TRICKLE["CM"]
    assert f"| F&O {', '.join(map(str, fo))} |" in sec and f"`TRICKLE` = {', '.join(map(str, fo.values()))} " in sec
    assert f"| CM {', '.join(map(str, cm))} |" in sec and f"every {', '.join(map(str, cm.values()))} datagrams" in sec
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "--no-broadcasts" in readme and "Counted broadcasts in the simulated streams" in readme
