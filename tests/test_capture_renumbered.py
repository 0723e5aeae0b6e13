"""A stream the exchange numbered afresh while the capture was down: its first BCSeqNo after the restart is below
the last one kept before it (the day's ``.seq`` sidecar).  What the feed sent in between cannot be known, and the
stats, their line and the restart's follow-up line say so.  (Before, they said "missed while down 0", exactly.)"""
import datetime as dt

import pytest

from vega import nse
from vega.capture import Capture, FeedConfig, format_stats, load_config

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
# the capture's day is today's (IST), so that housekeeping (which writes the sidecar) starts no new day
DAY0 = int(dt.datetime.combine(dt.datetime.now(IST).date(), dt.time(), IST).timestamp()) * 10**9


@pytest.fixture
def live(tmp_path, shm_file_name):
    """A live capture's config (what keeps the sidecar; an ingest does not): one FO feed on a loopback port."""
    from net_helpers import free_udp_port
    return load_config(None, ring=shm_file_name, journal_root=str(tmp_path / "j"),
                       feeds=[FeedConfig("FO", "127.0.0.1", free_udp_port())])


def _heard(cap, seqs, t):
    """Circuit checks (6541) per ``(stream, BCSeqNo)``: each stream is heard, no record is made."""
    h = cap.feeds[0].handler
    for s, q in seqs:
        h.process(nse.build_datagram("FO", [nse.blank_message("FO", 6541, stream=s, bc_seq_no=q)]), now_ns=t)


def _restarted(live, before, after):
    """A capture that heard ``before`` and stopped cleanly (an exact sidecar), then one that hears ``after``;
    returns the second's stats of NSE_FO, its stats line and the lines it said, the second capture closed."""
    cap = Capture(live).open()
    try:
        _heard(cap, before, DAY0 + 60 * 10**9)
    finally:
        cap.close()
    said: list[str] = []
    cap = Capture(live).open()
    cap.on_warning = said.append
    try:
        assert any("the count is exact" in n for n in cap.start_notes())
        _heard(cap, after, DAY0 + 120 * 10**9)
        cap.housekeeping()                              # the restart note's follow-up, once the streams spoke
        s = cap.stats()
        return s["feeds"]["NSE_FO"], format_stats(s), [w for w in said if "while the capture was down" in w]
    finally:
        cap.close()


@pytest.mark.parametrize("last", [1001, 300_000], ids=["by-less-than-100000", "by-more-than-100000"])
def test_a_stream_renumbered_while_down_has_an_unknown_count_not_an_exact_zero(live, last):
    d, line, said = _restarted(live, [(3, last - 1), (3, last), (5, 70)], [(3, 5), (5, 73)])
    assert d["streams"]["3"]["missed_while_down"] is None            # unknown, not 0
    assert d["streams"]["5"]["missed_while_down"] == 2               # the other stream's count stands
    assert d["streams_renumbered_while_down"] == 1
    assert d["missed_while_down"] is None and not d["missed_while_down_is_bound"]
    assert " missed while down ? (1 stream renumbered)" in line, line
    assert "missed while down 0" not in line and "missed while down 2" not in line
    assert said == [f"NSE_FO: the feed sent an unknown number of sequence numbers while the capture was down "
                    f"(stream 3: ?, renumbered: its first number 5 is below its last before, {last:,}; stream 5: 2)"]


def test_streams_heard_in_order_after_a_restart_keep_their_exact_count(live):
    d, line, said = _restarted(live, [(3, 1001), (5, 70)], [(3, 1003), (5, 71)])
    assert d["missed_while_down"] == 1 and d["streams_renumbered_while_down"] == 0
    assert not d["missed_while_down_is_bound"]
    assert {k: v["missed_while_down"] for k, v in d["streams"].items()} == {"3": 1, "5": 0}
    assert " missed while down 1 " in line + " " and "renumbered" not in line
    assert said == ["NSE_FO: the feed sent exactly 1 sequence numbers while the capture was down "
                    "(stream 3: 1, stream 5: 0)"]
