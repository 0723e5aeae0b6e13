"""What an operator ran into running `vega capture` through a simulated day (the thirty-sixth review)."""
import datetime as dt
import os
import time
import uuid

import numpy as np
import pytest

import vega
from test_capture_restart import HOUR, T0, _killed, _ring_records, cfg  # noqa: F401  (cfg: the fixture)
from vega.capture import Capture, CaptureError, ist_date, load_config
from vega.journal import JournalWriter
from vega.records import CHANGE_RECORD_DTYPE


def _records(n, token):
    recs = np.zeros(n, CHANGE_RECORD_DTYPE)
    recs["token"], recs["group"], recs["mask"] = token, 1, 1
    recs["slots"][:, 0] = np.arange(n) % 1000 + 1
    return recs


@pytest.fixture
def fo_cfg(tmp_path):
    c = load_config(None, ring=f"vega-or36-{uuid.uuid4().hex[:10]}", journal_root=str(tmp_path / "j"))
    c.feeds = [f for f in c.feeds if f.segment == "FO"]
    yield c
    try:
        vega.Ring.unlink(c.ring)
    except FileNotFoundError:
        pass


def test_remove_shm_refuses_a_ring_a_restart_takes_whose_record_before_the_journals_end_is_overwritten(fo_cfg):
    """A journal that failed (a full disk) and a ring that went on past it, cleanly stopped: the ring holds every
    record from the journal's end on, but has overwritten the one before it, so it cannot be matched byte for byte.
    A restart on the ring's day takes its records anyway (Capture._recover_from_ring); --remove-shm's own copy of
    that rule did not, and removed the ring, the only copy of them, without a word.  One rule decides both now."""
    now = time.time_ns()
    k = 100
    with JournalWriter(fo_cfg.journal_root, "NSE_FO", ist_date(now), flush_interval=None) as w:
        w.append(_records(k, 5))                                    # the journal stopped at k
    ring = vega.Ring.create(fo_cfg.ring)
    cap = ring.info("NSE_FO")["capacity"]
    try:
        ring.append("NSE_FO", _records(k, 5))
        ring.append("NSE_FO", _records(cap, 6))                     # record k - 1 overwritten, k.. all held
    finally:
        ring.close()                                                # a clean stop: no writer pid left
    tail = k + cap
    with pytest.raises(CaptureError, match=rf"NSE_FO {k:,}\.\.{tail - 1:,}.*start the capture once"):
        Capture(fo_cfg).remove_shared_memory()
    assert os.path.exists(vega._ring.ring_path(fo_cfg.ring))
    kept = _ring_records(fo_cfg.ring, k, tail)
    c = Capture(fo_cfg).open(offline_ns=now)                        # what the refusal advises
    try:
        assert c.feeds[0].writer.next_seq == tail
        path = c.feeds[0].writer.path
    finally:
        c.close()
    with vega.Journal.open(path) as j:
        recs = np.array(j.records)
    assert recs[k:k + cap].tobytes() == kept.tobytes()
    assert Capture(fo_cfg).remove_shared_memory() == [f"ring {fo_cfg.ring}"]


def test_a_start_on_the_day_after_a_kill_adds_what_the_ring_holds_to_the_killed_captures_day_file(cfg):  # noqa: F811
    """Killed in the afternoon, started the next morning: --remove-shm refused the ring ("start the capture once to
    add them to the journal"), but the start made the new day's file and took nothing, so the records the killed
    capture had published and not written were lost with the ring it replaced.  The start now adds them to the
    killed capture's day file, which it seals, and says so; --remove-shm then has nothing to keep."""
    n_flushed, n_ring = _killed(cfg)
    published = _ring_records(cfg.ring, n_flushed, n_ring)
    with pytest.raises(CaptureError, match=rf"NSE_FO {n_flushed:,}\.\.{n_ring - 1:,}.*start the capture once"):
        Capture(cfg).remove_shared_memory()
    c = Capture(cfg).open(offline_ns=T0 + 24 * HOUR)                # the next morning, 10:00
    try:
        assert c.feeds[0].writer.next_seq == 0                      # the new day numbers from 0, as before
        notes = c.start_notes()
    finally:
        c.close()
    path = os.path.join(cfg.journal_root, "NSE_FO", "20261120.bin")
    assert (f"NSE_FO: {n_ring - n_flushed:,} records the killed capture had published to ring {cfg.ring} but not "
            f"journaled (numbers {n_flushed:,}..{n_ring - 1:,}) were added to 20261120.bin, which is sealed now: its "
            "day is over") in notes, notes
    assert not any("not sealed" in m and "NSE_FO" in m for m in notes), notes
    assert vega.verify(path).ok
    with vega.Journal.open(path) as j:
        assert j.next_seq == n_ring
        got = np.array(j.records)[-(n_ring - n_flushed):]
    got["flags"] &= ~vega.records.CONTINUED & 0xFF
    published = published.copy()
    published["flags"] &= ~vega.records.CONTINUED & 0xFF
    assert got.tobytes() == published.tobytes()
    assert Capture(cfg).remove_shared_memory() == [f"ring {cfg.ring}"]


def test_a_restart_given_the_killed_captures_pid_takes_its_records(cfg):  # noqa: F811
    """A capture that is its container's first process is pid 1 every time: restarted after a kill (its /dev/shm
    kept), it found its own pid as the ring's writer pid, took the ring for a live process's, added nothing ("its
    day file was removed, or the ring was another journal's", neither true) and lost the records the killed
    capture had not written.  The writer's lock on the ring says it is gone; its pid now says only that it was
    killed."""
    import struct
    n_flushed, n_ring = _killed(cfg)
    with open(vega._ring.ring_path(cfg.ring), "r+b") as fh:        # slot 0's writer_pid (docs/FORMATS.md)
        fh.seek(0x34)
        fh.write(struct.pack("<I", os.getpid()))
    c = Capture(cfg).open(offline_ns=T0 + HOUR)
    try:
        assert c.feeds[0].writer.next_seq == n_ring
        assert any(f"NSE_FO: {n_ring - n_flushed:,} records the killed capture had published" in m
                   for m in c.start_notes()), c.start_notes()
    finally:
        c.close()


def test_an_ingest_of_an_earlier_day_adds_nothing_of_the_later_day_from_the_ring(fo_cfg):
    """A capture ran across midnight and stopped cleanly; then an ingest with its config (a recorded evening of
    the first day, to fill a gap) opened the first day's file.  The ring's records past that file's end are the
    second day's, in 20261121.bin already, but were taken for records the first day's journal lacked ("whose writer
    stopped with its journal failed") and appended to 20261120.bin: the next day's records in the day before,
    twice in the journal.  A journal with a later day's file beside it takes nothing from the ring now."""
    from test_new_day import _two_days
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        items = _two_days(os.path.join(d, "two.pcap"))
    items = [it for it in items if (it[1], it[2]) == tuple(vega.simulator.DEFAULT_FEEDS["FO"])]
    c = Capture(fo_cfg).open(offline_ns=items[0][0])
    c.on_warning = lambda msg: None
    c.ingest(items)
    c.close()                                                       # a clean stop, on the second day
    day1 = os.path.join(fo_cfg.journal_root, "NSE_FO", "20261120.bin")
    with vega.Journal.open(day1) as j:
        n1, size = j.next_seq, os.path.getsize(day1)
    evening = int(dt.datetime(2026, 11, 20, 18, 0, tzinfo=vega.capture.IST).timestamp()) * 10**9
    c = Capture(fo_cfg).open(offline_ns=evening)
    try:
        notes = c.start_notes()
        assert c.feeds[0].writer.next_seq == n1, notes
    finally:
        c.close()
    assert any("20261121.bin" in m and "added" not in m for m in notes), notes
    with vega.Journal.open(day1) as j:
        assert j.next_seq == n1


def test_an_overlapping_ingest_does_not_advise_removing_a_live_captures_day_file(fo_cfg, tmp_path, capsys):
    """The day's file a live capture wrote refused an ingest of a recording of that day with the advice "remove that
    file to ingest again": the whole day's journal, for a recording that may hold an hour of it.  The line now
    says the day may have been captured live, and to ingest into another journal root."""
    from test_capture_restart import _feed
    from vega import nse
    from vega.cli import main
    from vega.simulator import DEFAULT_FEEDS, write_pcap
    c = Capture(fo_cfg).open(offline_ns=T0)                         # the day's live capture
    _feed(c, list(nse.sample_stream("FO", 50, seed=3)), T0)
    c.close()
    pcap = tmp_path / "hour.pcap"
    write_pcap(pcap, [(T0 - HOUR + i * 10**6, *DEFAULT_FEEDS["FO"], d)
                      for i, d in enumerate(nse.sample_stream("FO", 20, seed=4))])
    assert main(["ingest", str(pcap), "--journal-root", fo_cfg.journal_root, "--ring", "", "--store", "",
                 "--feed", "FO=%s:%d" % DEFAULT_FEEDS["FO"]]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "already holds records up to 2026-11-20 10:00:00 IST" in err and "captured live" in err, err
    assert "another --journal-root" in err and "remove that file to ingest again" not in err, err


def test_remove_shm_refuses_a_killed_captures_ring_whose_day_file_is_gone_as_a_start_takes_it(cfg):  # noqa: F811
    """Killed today, its day file then removed (a cleanup that went too far): a start makes the day's file anew
    and takes from the ring every record it still holds from 0.  --remove-shm looked only at the day files there
    were, found none of today, and removed the ring: those records' only copy."""
    from vega.capture import IST
    now = time.time_ns()
    if dt.datetime.fromtimestamp(now / 1e9, IST).time() > dt.time(23, 59, 50):
        time.sleep(15)                                  # (the day the kill and the check see is one)
        now = time.time_ns()
    n_flushed, n_ring = _killed(cfg, t=now)
    path = os.path.join(cfg.journal_root, "NSE_FO", f"{ist_date(now):%Y%m%d}.bin")
    os.unlink(path)
    with pytest.raises(CaptureError, match=rf"NSE_FO 0\.\.{n_ring - 1:,}.*start the capture once"):
        Capture(cfg).remove_shared_memory()
    c = Capture(cfg).open(offline_ns=now + 5 * 10**9)   # the start the refusal advises takes them
    try:
        assert c.feeds[0].writer.next_seq == n_ring
    finally:
        c.close()
    assert Capture(cfg).remove_shared_memory() == [f"ring {cfg.ring}"]
