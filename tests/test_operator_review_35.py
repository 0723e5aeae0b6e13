"""What an operator ran into running `vega capture` through a simulated day (the thirty-fifth review)."""
import datetime as dt
import os
import re
import resource

import numpy as np
import pytest

import vega
from test_capture_restart import HOUR, IST, T0, cfg  # noqa: F401  (cfg: the fixture, a ring of its own)
from vega import nse
from vega.capture import Capture
from vega.journal import KEYFRAME
from vega.simulator import DEFAULT_FEEDS


@pytest.fixture
def fo_cfg(cfg):
    """The restart tests' capture config (a ring of its own, a journal under tmp_path), F&O only."""
    cfg.feeds = [f for f in cfg.feeds if f.segment == "FO"]
    return cfg


def _items(n, seed, t):
    host, port = DEFAULT_FEEDS["FO"]
    return [(t + i * 10**6, host, port, d) for i, d in enumerate(nse.sample_stream("FO", n, seed=seed))]


def test_a_restart_after_a_stop_with_the_journal_failed_takes_its_records_from_the_ring(fo_cfg):
    """A full disk fails the journal; the capture is stopped (the exit 1 systemd restarts) before the disk has
    room, so the records it had published to its ring but not journaled are in no file.  The restart replaced
    the ring without taking them, said "its day file was removed, or the ring was another journal's", and
    numbered its new ring from the journal's end again: a reader's numbers came back meaning other records.
    Now they are taken from the ring as after a kill, and the day's journal has every record, once."""
    items = _items(300, 4, T0)
    cap = Capture(fo_cfg).open(offline_ns=T0)
    cap.on_warning = lambda msg: None
    cap.ingest(items[:150])
    fo = cap.feeds[0]
    fo.writer.flush()
    n1 = fo.writer.next_seq
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # (Python ignores SIGXFSZ: a write past the limit fails with EFBIG, as on a full disk)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(fo.writer.path) + 65536, hard))
    try:
        cap.ingest(items[150:])
        tail = cap.ring.tail("NSE_FO")
        reader = cap.ring.reader("NSE_FO", start=0)
        published = np.concatenate([reader.poll(tail)])
        cap.close()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert cap.journal_failures() and len(published) == tail
    with vega.Journal.open(fo.writer.path) as j:
        assert n1 <= j.next_seq < tail                          # the file stopped short of the ring

    again = Capture(fo_cfg).open(offline_ns=T0 + HOUR)
    try:
        w = again.feeds[0].writer
        notes = again.start_notes()
        assert w.next_seq == tail == again.ring.info("NSE_FO")["first_seq"], notes
        assert any("records the previous capture (stopped with its journal failed) had published" in m
                   for m in notes), notes
        assert not any("its day file was removed" in m for m in notes), notes
    finally:
        again.close()
    assert vega.verify(w.path).ok
    with vega.Journal.open(w.path) as j:
        recs = np.array(j.records)
    live = recs[(recs["flags"] & KEYFRAME) == 0]
    live["flags"] &= ~vega.records.CONTINUED & 0xFF
    published["flags"] &= ~vega.records.CONTINUED & 0xFF
    assert live.tobytes() == published.tobytes()               # every record the ring published, once


def test_messages_that_come_late_or_again_are_shown_in_the_stats(fo_cfg):
    """A datagram received again (or late, after later ones of its stream) is decoded and merged, and its
    messages count in `messages`, but the capture's stats (the stats line, --json, ingest's summary) dropped the
    handler's out_of_order count: the operator could not tell 'messages' from what the exchange sent, nor a gap
    later filled from one that stayed missed."""
    from vega.capture import format_stats
    items = _items(60, 5, T0)
    again = [(items[-1][0] + 10**6, *items[20][1:])]           # datagram 20 once more, after the rest
    cap = Capture(fo_cfg).open(offline_ns=T0)
    try:
        cap.ingest(items)
        assert cap.stats()["feeds"]["NSE_FO"]["out_of_order"] == 0
        cap.ingest(again)
        per_stream = {str(k): v["out_of_order"] for k, v in cap.feeds[0].handler.stats["streams"].items()}
        s = cap.stats()
    finally:
        cap.close()
    d = s["feeds"]["NSE_FO"]
    assert d["out_of_order"] == sum(per_stream.values()) > 0
    assert {k: v["out_of_order"] for k, v in d["streams"].items()} == per_stream
    assert f" missed 0 out of order {d['out_of_order']:,} " in format_stats(s)


def test_vega_ingest_says_the_messages_out_of_order(tmp_path, capsys):
    from vega.cli import main
    from vega.simulator import write_pcap
    items = _items(60, 5, T0)
    write_pcap(tmp_path / "dup.pcap", items + [(items[-1][0] + 10**6, *items[20][1:])])
    assert main(["ingest", str(tmp_path / "dup.pcap"), "--journal-root", str(tmp_path / "j"), "--ring", "",
                 "--store", ""]) == 0
    fo = [x for x in capsys.readouterr().out.splitlines() if x.startswith("NSE_FO:")]
    assert len(fo) == 1 and re.search(r"; gaps 0 \(missed 0, [1-9][0-9]* out of order\);", fo[0]), fo


def test_the_ingest_summary_of_two_days_adds_up_to_its_change_records(tmp_path, capsys):
    """`vega ingest` of a capture across midnight named each day file with "(N records)", checkpoints included,
    beside the feed's change records, which leave them out: the day files' counts did not add up to it (the new
    day's file opens with a checkpoint of every instrument).  Now each file says its change records and its
    checkpoints' apart, as the stats line does."""
    from test_new_day import _two_days
    from vega.cli import main
    _two_days(tmp_path / "two.pcap")
    assert main(["ingest", str(tmp_path / "two.pcap"), "--journal-root", str(tmp_path / "j"), "--ring", "",
                 "--store", ""]) == 0
    out = capsys.readouterr().out
    for line in (x for x in out.splitlines() if x.startswith("NSE_")):
        total = int(re.search(r" ([0-9,]+) change records, ", line).group(1).replace(",", ""))
        files = re.findall(r"; journal \S+ \(([0-9,]+) change records(?: \+ ([0-9,]+) in checkpoints)?\)", line)
        assert len(files) == 2 and files[1][1], line                # the second day opens with a checkpoint
        assert sum(int(n.replace(",", "")) for n, _ in files) == total, line


def test_a_morning_start_after_a_clean_stop_says_the_ring_is_of_an_earlier_day(fo_cfg):
    """Stopped cleanly one evening, started the next morning: the new day's journal numbers from 0 (by design),
    and so does the new ring.  The start note said "its day file was removed, or the ring was another journal's",
    neither of which had happened: every such morning an operator went looking for a removed journal."""
    import time
    from vega.capture import ist_date
    now = time.time_ns()
    cap = Capture(fo_cfg).open(offline_ns=now)                  # the ring is made now, on the wall clock
    cap.ingest(_items(40, 6, now))
    tail = cap.ring.tail("NSE_FO")
    cap.close()
    later = ist_date(now) + dt.timedelta(days=2)                # a morning after (the ring's day is before it)
    morning = int(dt.datetime(later.year, later.month, later.day, 9, 0, tzinfo=IST).timestamp()) * 10**9
    cap = Capture(fo_cfg).open(offline_ns=morning)
    try:
        assert cap.feeds[0].writer.next_seq == 0 == cap.ring.info("NSE_FO")["first_seq"]
        assert cap.start_notes() == [
            f"NSE_FO: ring {fo_cfg.ring} has published records up to {tail - 1:,}, but this journal ends at 0 (the "
            f"ring was made on {ist_date(now):%Y-%m-%d}, an earlier day, and a new day's journal numbers its records "
            "from 0): the new ring numbers its records from 0 again, so its readers must start again, not go on at "
            "their positions"]
    finally:
        cap.close()


def test_remove_shm_keeps_a_killed_captures_ring_that_holds_records_its_journal_lacks(cfg):
    """After a kill the ring holds the records the journal had not written yet; the next start adds them to the
    journal.  `vega capture --remove-shm` (what an operator runs to clean up after a crash) removed that ring
    without a word, and with it the only copy of those records.  Now it refuses, names them, and removes nothing
    until a start has taken them; then it removes the ring."""
    from test_capture_restart import _killed
    from vega.capture import CaptureError
    n_flushed, n_ring = _killed(cfg)
    with pytest.raises(CaptureError, match=rf"NSE_FO {n_flushed:,}\.\.{n_ring - 1:,}.*start the capture once"):
        Capture(cfg).remove_shared_memory()
    assert os.path.exists(vega._ring.ring_path(cfg.ring))
    Capture(cfg).open(offline_ns=T0 + HOUR).close()             # the start that adds them to the journal
    with vega.Journal.open(os.path.join(cfg.journal_root, "NSE_FO", "20261120.bin")) as j:
        assert j.next_seq == n_ring
    assert Capture(cfg).remove_shared_memory() == [f"ring {cfg.ring}"]


def test_counts_of_thousands_are_grouped_as_every_other_count(tmp_path, capsys):
    """The stats line and ingest's summary group every count by thousands ("1,234 dgrams", "missed while down
    3,813") but printed gaps, missed and error counts bare: "gaps 2 missed 4998" beside "missed while down 3,813".
    """
    from vega.cli import main
    from vega.simulator import write_pcap
    host, port = DEFAULT_FEEDS["FO"]

    def dg(seq):
        m = nse.blank_message("FO", 7200, 1)
        m["records"][0].update(token=35001, book_type=1, trading_status=2, last_traded_price=100 + seq)
        m.update(stream=1, bc_seq_no=seq)
        return nse.build_datagram("FO", [m], compress=False)
    seqs = [1, 2, 2000, 5001]                                    # 1,997 then 3,000 numbers missed
    write_pcap(tmp_path / "gaps.pcap", [(T0 + i * 10**6, host, port, dg(q)) for i, q in enumerate(seqs)]
               + [(T0 + 9 * 10**6, host, port, b"\x00" * 1500)] * 1200)          # 1,200 malformed
    assert main(["ingest", str(tmp_path / "gaps.pcap"), "--journal-root", "", "--ring", "", "--store", ""]) == 0
    fo = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("NSE_FO:"))
    assert re.search(r"; errors \w+ 1,200; gaps 2 \(missed 4,997\)", fo), fo
    from vega.capture import format_stats
    s = {"feeds": {"NSE_FO": {"datagrams": 4, "messages": 4, "by_code": {}, "errors": {"truncated": 1200},
                              "gaps": 2, "missed": 4997}}, "uptime_s": 1.0}
    assert " errors truncated=1,200 gaps 2 missed 4,997" in format_stats(s)
