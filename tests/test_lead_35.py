"""The lead's small fixes of the thirty-fifth session."""
import datetime as dt

import numpy as np
import pytest

from vega.journal import JournalWriter, verify
from vega.records import CHANGE_RECORD_DTYPE


@pytest.mark.parametrize("back, note", [(1, "1 record stamped earlier than its predecessor"),
                                        (2, "2 records stamped earlier than their predecessors")])
def test_verify_counts_records_stamped_back_in_words_that_agree(tmp_path, back, note):
    # "1 records stamped earlier than their predecessor"
    recs = np.zeros(6, CHANGE_RECORD_DTYPE)
    recs["token"] = np.arange(6) + 1
    recs["group"], recs["mask"] = 1, 1
    stamps = [10, 20, 30, 40, 50, 60]
    for k in range(back):
        stamps[2 * k + 1] = 5                    # records 1 and 3 go back in time
    recs["ts_lo"] = np.array(stamps, np.uint32)
    with JournalWriter(tmp_path, "NSE_FO", dt.date(2026, 11, 20), flush_interval=None) as w:
        w.append(recs)
    rep = verify(w.path)
    assert rep.ok and note in rep.notes, rep.notes


def test_a_capture_says_when_a_new_trading_day_begins(tmp_path, monkeypatch):
    # the rollover at midnight printed nothing: only the journal path in the stats changed
    import vega.capture as capture
    from vega import nse
    from vega.capture import Capture, load_config

    IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
    t0 = int(dt.datetime(2026, 11, 20, 15, 0, tzinfo=IST).timestamp()) * 10**9
    cap = Capture(load_config(None, journal_root=str(tmp_path / "j")))
    said = []
    cap.on_warning = said.append
    cap.open(offline_ns=t0)
    fo = cap.feeds[0]
    fo.handler.process_batch(list(nse.sample_stream("FO", 50, seed=3)), now_ns=t0)
    changes = fo.writer.next_seq - fo.writer.first_seq
    clock = {"now": t0 + 3600 * 10**9}
    monkeypatch.setattr(capture.time, "time_ns", lambda: clock["now"])
    cap.housekeeping()                                       # the same day: nothing said
    assert not [m for m in said if "trading day" in m]
    clock["now"] = int(dt.datetime(2026, 11, 21, 0, 0, 1, tzinfo=IST).timestamp()) * 10**9
    cap.housekeeping()
    cap.close()
    lines = [m for m in said if "trading day" in m]
    assert len(lines) == 1, said
    assert lines[0].startswith("the trading day 2026-11-21 begins (NSE_FO 20261120.bin sealed with "
                               f"{changes:,} change records; NSE_EQ 20261120.bin sealed with 0 change records")
    assert lines[0].endswith("each store starts the day from its instruments, the journals go on in 20261121.bin")
    assert changes > 0


def _read_all(reader):
    import vega
    got = []
    while True:
        try:
            recs = reader.poll(4096, timeout=0)
        except vega.RingReplaced as e:
            return np.concatenate(got) if got else np.zeros(0, CHANGE_RECORD_DTYPE), e
        got.append(np.array(recs))
        if not len(recs):
            import time
            time.sleep(0.06)                             # (a replaced ring is noticed at most every 50 ms)


def _continue(name, e):
    """README's rule for a reader after RingReplaced: go on at e.position when the new ring's numbers go on
    from there, else from the new ring's oldest record (a new day's ring, or numbers started again)."""
    import vega
    ring = vega.Ring.open(name)
    start = e.position if ring.info("NSE_FO")["first_seq"] == e.position else "oldest"
    return ring, ring.reader("NSE_FO", start=start), start


def test_the_readmes_rule_after_ring_replaced_goes_on_the_same_day_and_starts_again_the_next(tmp_path):
    # README said: reopen with start=e.position; the next morning's ring numbers from 0 again, so that start
    # was past its tail (a ValueError) or, once the new day had passed it, skipped the day's first records
    import uuid

    import vega
    from vega import nse
    from vega.capture import Capture, load_config

    IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
    name = f"vega-lead35-{uuid.uuid4().hex[:8]}"
    cfg = load_config(None, ring=name, journal_root=str(tmp_path / "j"))
    stream = list(nse.sample_stream("FO", 300, seed=8))
    days = [int(dt.datetime(2026, 11, d, h, 0, tzinfo=IST).timestamp()) * 10**9 for d, h in ((20, 10), (20, 12),
                                                                                              (21, 10))]
    opened = []
    try:
        cap = Capture(cfg).open(offline_ns=days[0])
        ring = vega.Ring.open(name)
        opened.append(ring)
        reader = ring.reader("NSE_FO", start="oldest")
        cap.feeds[0].handler.process_batch(stream, now_ns=days[0])
        for t in days[1:]:
            tail = cap.ring.tail("NSE_FO")
            cap.close()
            cap = Capture(cfg).open(offline_ns=t)        # a restart: the same day, then the next morning
            recs, e = _read_all(reader)
            assert e.position == tail and (len(recs) > 0) == (t == days[1])   # (the second: all read before)
            ring, reader, start = _continue(name, e)
            opened.append(ring)
            same_day = t == days[1]
            assert start == (e.position if same_day else "oldest")
            if not same_day:                             # what the README said to do: refused, past the tail
                with pytest.raises(ValueError, match="tail"):
                    ring.reader("NSE_FO", start=e.position)
            first = ring.info("NSE_FO")["first_seq"]
            assert first == (tail if same_day else 0)
            cap.feeds[0].handler.process_batch(stream, now_ns=t)
            got = reader.poll(1 << 20, timeout=0)
            assert reader.lost == 0 and len(got) == ring.tail("NSE_FO") - first > 0   # all of it, from its first
        cap.close()
    finally:
        for r in opened:
            r.close()
        try:
            vega.Ring.unlink(name)
        except FileNotFoundError:
            pass


@pytest.mark.parametrize("wait, tail", [(6, " missed while down <= 0 so far (6 streams not heard yet)"),
                                        (1, " missed while down <= 0 so far (1 stream not heard yet)"),
                                        (0, " missed while down <= 0")])
def test_missed_while_down_with_streams_not_heard_reads_as_a_count_so_far(tmp_path, wait, tail):
    # "missed while down <= 0 (6 streams not heard yet)" read as "nothing missed"; and "(1 streams ...)"
    from vega.capture import Capture, format_stats, load_config

    cap = Capture(load_config(None, journal_root=str(tmp_path / "j")))
    cap.open(offline_ns=int(dt.datetime(2026, 11, 20, 4, 30, tzinfo=dt.timezone.utc).timestamp()) * 10**9)
    try:
        s = cap.stats()
        d = s["feeds"]["NSE_FO"]
        d.update(missed_while_down=0, missed_while_down_is_bound=True, streams_not_heard_since_restart=wait)
        line = next(x for x in format_stats(s).splitlines() if "NSE_FO" in x)
        assert tail in line and (wait > 0 or "so far" not in line), line
    finally:
        cap.close()


def test_the_library_takes_today_and_yesterday_as_the_commands_do(tmp_path, monkeypatch):
    # `vega replay` / `vega export` took "today"; vega.replay(root, "today") was "neither a trading date nor a time"
    import time

    import vega
    from vega._journal import as_date

    late_utc = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.timezone.utc).timestamp()   # 01:30 IST on the 21st
    monkeypatch.setattr(time, "time", lambda: late_utc)
    assert as_date("today") == dt.date(2026, 11, 21) and as_date(" Yesterday ") == dt.date(2026, 11, 20)
    recs = np.zeros(4, CHANGE_RECORD_DTYPE)
    recs["token"], recs["group"], recs["mask"] = [1, 2, 3, 4], 1, 1
    for day in (dt.date(2026, 11, 20), dt.date(2026, 11, 21)):
        with JournalWriter(tmp_path, "NSE_FO", day, flush_interval=None) as w:
            w.append(recs[:2] if day.day == 20 else recs)
    for bound, n in (("today", 4), ("yesterday", 2)):
        got = []
        vega.replay(tmp_path, bound, feeds=["NSE_FO"], into=lambda r, f: got.append(np.array(r)))
        assert sum(len(r) for r in got) == n, bound
    with pytest.raises(ValueError, match="'tomorrow' is neither a trading date"):
        vega.replay(tmp_path, "tomorrow", feeds=["NSE_FO"], into=lambda r, f: None)


def test_the_demos_journal_lines_say_no_checkpoint_rather_than_0_in_0_checkpoints(capsys):
    # "1,828 records (1,828 live, the ring's, and 0 in 0 checkpoints)" (the index feed's journal)
    import re

    from vega.cli import main

    assert main(["demo", "--datagrams", "300", "--segments", "FO", "CM", "--top", "0", "--unicast"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if ".bin " in x and " records (" in x]
    assert len(lines) == 3, lines
    for line in lines:
        assert " 0 in 0 checkpoints" not in line and " in 1 checkpoints" not in line, line
        m = re.search(r": ([\d,]+) records \(([\d,]+) live, the ring's(?:, and ([\d,]+) in (\d+) checkpoints?|"
                      r"(, no checkpoint))\)", line)
        assert m, line
        total, live = int(m[1].replace(",", "")), int(m[2].replace(",", ""))
        assert total == live + (int(m[3].replace(",", "")) if m[3] else 0)
        assert (m[5] is not None) == (total == live)


@pytest.mark.parametrize("bad", [2.0, np.float64(4.0), True, np.bool_(False)])
def test_the_decoder_refuses_a_segment_that_is_no_str_or_int_as_the_store_does(bad):
    # Decoder(2.0) and vega.decode(d, 4.0) took the float as the segment's number (the store's methods refuse it)
    import vega

    for call in (lambda: vega.Decoder(bad), lambda: vega.decode(b"", bad)):
        with pytest.raises(TypeError, match=r"segment must be 'CM' or 'FO' \(a str\) or its number \(an int\), not"):
            call()
    assert [vega.Decoder(s).segment for s in ("FO", "cm", 2, np.int64(4))] == ["FO", "CM", "FO", "CM"]


@pytest.mark.parametrize("func", ["expiry_to_unix", "time_to_expiry"])
def test_an_expiry_out_of_range_names_the_function_as_its_other_errors_do(func):
    # "expiry_raw 4611686018427387905 is out of range" named no function; a float expiry's TypeError did
    import vega

    args = (2**62 + 1,) if func == "expiry_to_unix" else (2**62 + 1, 0)
    with pytest.raises(ValueError, match=rf"^{func}: expiry_raw {2**62 + 1} is out of range"):
        getattr(vega, func)(*args)


def test_the_capture_names_its_stores_when_it_starts_and_the_time_when_it_stops():
    # the start line named the journal and the ring but not the stores `vega watch` reads; "stopped" had no time
    import os
    import re
    import subprocess
    import sys
    import uuid

    from net_helpers import free_udp_port

    import vega

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    prefix = f"vega-lead35-{uuid.uuid4().hex[:8]}"
    r = subprocess.run([sys.executable, "-m", "vega.cli", "capture", "--feed", f"CM=127.0.0.1:{free_udp_port()}",
                        "--duration", "0.3", "--stats-interval", "0.2", "--store", prefix],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=root), cwd=root, timeout=60)
    try:
        assert r.returncode == 0, r.stderr
        err = r.stderr.splitlines()
        assert err[0].startswith("vega capture: receiving CM 127.0.0.1:") and err[0].endswith(
            f"; journal off; ring off; stores {prefix}-cm, {prefix}-idx"), err[0]
        assert re.fullmatch(r"vega capture: stopped at \d\d:\d\d:\d\d IST", err[-1]), err[-1]
        store = vega.Store.open(f"{prefix}-cm")                     # the name said is the store there
        assert len(store) == 0
        store.close()
    finally:
        for seg in ("cm", "idx"):
            try:
                vega.Store.remove(f"{prefix}-{seg}")
            except FileNotFoundError:
                pass


def test_remove_shm_takes_a_cleanly_stopped_ring_past_an_empty_journal_as_a_restart_does(tmp_path):
    # --remove-shm refused ("start the capture once to add them") a ring a restart does not take: a clean stop's
    # past an empty journal (Capture._recover_from_ring: nothing to take), so the refusal's advice did nothing
    import uuid

    import vega
    from vega.capture import Capture, load_config

    name = f"vega-lead35-{uuid.uuid4().hex[:8]}"
    cfg = load_config(None, ring=name, journal_root=str(tmp_path / "j"))
    JournalWriter(tmp_path / "j", "NSE_FO", dt.date(2026, 11, 20), flush_interval=None).close()   # empty
    recs = np.zeros(10, CHANGE_RECORD_DTYPE)
    recs["token"], recs["group"], recs["mask"] = 1, 1, 1
    ring = vega.Ring.create(name)
    try:
        ring.append("NSE_FO", recs)
    finally:
        ring.close()                                      # a clean stop: no writer pid left
    try:
        assert Capture(cfg).remove_shared_memory() == [f"ring {name}"]
    finally:
        try:
            vega.Ring.unlink(name)
        except FileNotFoundError:
            pass


def test_the_commands_take_the_day_words_in_any_case_as_the_library_does(monkeypatch):
    # vega.replay(root, "Today") was a day, `vega replay ROOT Today` a bad date
    import time

    from vega.commands._ops import parse_date

    monkeypatch.setattr(time, "time", lambda: dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.timezone.utc).timestamp())
    assert parse_date("Today") == parse_date("today") == dt.date(2026, 11, 21)
    assert parse_date(" YESTERDAY ") == dt.date(2026, 11, 20)
