"""A FeedHandler journaling to a JournalWriter of another day than its datagrams' receive times: records are
stamped in the right file at the right time, or the call is refused before anything is merged.  A record's
time is 48 bits of ns since 00:00 IST of its journal's day (0 .. 3.26 days)."""
import datetime as dt

import numpy as np
import pytest

import vega
from vega import nse
from vega.records import timestamps

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
STREAM = list(nse.sample_stream("FO", 60, seed=3))


def _ns(*args):
    return int(dt.datetime(*args, tzinfo=IST).timestamp()) * 10**9


def _day_ns(d):
    return _ns(d.year, d.month, d.day)


def _files(root):
    return sorted(p.name for p in (root / "NSE_FO").iterdir())


def _records(root, name):
    with vega.Journal.open(root / "NSE_FO" / name) as j:
        return np.array(j.records)


@pytest.mark.parametrize("journal_day, days_late", [(dt.date(2026, 11, 20), 3), (dt.date(2026, 11, 10), 13),
                                                    (dt.date(2026, 11, 22), 1)])
def test_a_journal_days_behind_rolls_to_the_receive_day_with_true_times(tmp_path, journal_day, days_late):
    rx_day = journal_day + dt.timedelta(days=days_late)
    t = _day_ns(rx_day) + (17 * 3600 + 48 * 60 + 12) * 10**9
    jw = vega.JournalWriter(tmp_path, "NSE_FO", journal_day)
    h = vega.FeedHandler("FO", vega.Store(5000), journal=jw)
    h.process_batch(STREAM, now_ns=t + np.arange(len(STREAM), dtype=np.int64) * 1000)
    h.close()
    assert jw.date == rx_day
    jw.close()
    assert _files(tmp_path) == [f"{journal_day:%Y%m%d}.bin", f"{rx_day:%Y%m%d}.bin"]
    assert len(_records(tmp_path, f"{journal_day:%Y%m%d}.bin")) == 0
    recs = _records(tmp_path, f"{rx_day:%Y%m%d}.bin")
    live = recs[(recs["flags"] & vega.records.KEYFRAME) == 0]
    ts = timestamps(live)
    assert len(live) > 0 and ts.min() == t - _day_ns(rx_day)            # 17:48:12, not a clamped time
    assert ts.max() <= t - _day_ns(rx_day) + len(STREAM) * 1000


def test_every_entry_point_rolls_a_journal_days_behind(tmp_path):
    day = dt.date(2026, 11, 16)
    t = _ns(2026, 11, 23, 10, 0)
    msgs = [m for dg in STREAM[:20] for m in vega.decode(dg, "FO") if m["records"]]
    for i, call in enumerate((lambda h: h.process(STREAM[0], now_ns=t),
                              lambda h: h.process_batch(STREAM[:5], now_ns=t),
                              lambda h: h.merge_message(msgs[0], now_ns=t),
                              lambda h: h.merge_packed(vega._core.pack_messages("FO", msgs[:5]), now_ns=t))):
        root = tmp_path / str(i)
        jw = vega.JournalWriter(root, "NSE_FO", day)
        h = vega.FeedHandler("FO", vega.Store(5000), journal=jw)
        call(h)
        h.close()
        assert jw.date == dt.date(2026, 11, 23), i
        jw.close()
        recs = _records(root, "20261123.bin")
        assert len(recs) and timestamps(recs).min() == 10 * 3600 * 10**9, i


def test_receive_times_before_the_journals_day_are_refused_and_nothing_is_merged(tmp_path):
    jw = vega.JournalWriter(tmp_path, "NSE_FO", "2026-11-30")
    st = vega.Store(5000)
    h = vega.FeedHandler("FO", st, journal=jw)
    t = _ns(2026, 11, 23, 17, 55, 53)
    with pytest.raises(ValueError, match=r"2026-11-23 17:55:53 IST is before 2026-11-30, the trading day of the "
                                         r"NSE_FO journal"):
        h.process_batch(STREAM, now_ns=t)
    with pytest.raises(ValueError, match="before 2026-11-30"):
        h.process(STREAM[0])                                            # the clock: today, before the 30th
    assert len(st) == 0 and h.stats["datagrams"] == 0 and jw.next_seq == 0
    # an hour's grace (a clock step, reordered packets at midnight): stamped 00:00 of the day, as before
    h.process_batch(STREAM[:3], now_ns=_ns(2026, 11, 30) - 59 * 60 * 10**9)
    assert len(st) > 0 and jw.date == dt.date(2026, 11, 30)
    h.close()
    jw.close()
    assert (timestamps(_records(tmp_path, "20261130.bin")) == 0).all()


def test_times_spanning_more_than_a_record_reaches_are_refused(tmp_path):
    jw = vega.JournalWriter(tmp_path, "NSE_FO", "2026-11-20")
    st = vega.Store(5000)
    h = vega.FeedHandler("FO", st, journal=jw)
    times = np.full(len(STREAM), _ns(2026, 11, 20, 10), dtype=np.int64)
    times[-1] = _ns(2026, 11, 24, 10)                                   # 4 days on: past 2**48 ns
    with pytest.raises(ValueError, match="merge them in calls of one trading day each"):
        h.process_batch(STREAM, now_ns=times)
    times[:] = _ns(2026, 11, 21, 10)                                    # starts after the day, but spans 4 days
    times[-1] = _ns(2026, 11, 25, 10)
    with pytest.raises(ValueError, match="merge them in calls of one trading day each"):
        h.process_batch(STREAM, now_ns=times)
    assert len(st) == 0 and jw.date == dt.date(2026, 11, 20)            # nothing merged, nothing rolled
    h.close()
    jw.close()


def test_a_day_within_reach_keeps_the_rollover_of_the_first_record_past_its_end(tmp_path):
    """Inside the 3.26 days a record's time reaches, nothing changes: the records past the day's end roll
    the journal over after the call, as they always did."""
    jw = vega.JournalWriter(tmp_path, "NSE_FO", "2026-11-20")
    h = vega.FeedHandler("FO", vega.Store(5000), journal=jw)
    h.process_batch(STREAM[:30], now_ns=_ns(2026, 11, 20, 15))
    h.process_batch(STREAM[30:], now_ns=_ns(2026, 11, 21, 9, 15))
    h.close()
    jw.close()
    assert _files(tmp_path) == ["20261120.bin", "20261121.bin"]
    assert timestamps(_records(tmp_path, "20261121.bin")).min() == (9 * 3600 + 15 * 60) * 10**9


def test_linked_handlers_sharing_one_journal_roll_it_once(tmp_path):
    jw = vega.JournalWriter(tmp_path, "NSE_EQ", "2026-11-16")
    idx = vega.FeedHandler("IDX", vega.Store(64), journal=jw)
    cm = vega.FeedHandler("CM", vega.Store(5000), journal=jw, indices=idx)
    cm.process_batch(list(nse.sample_stream("CM", 50, seed=1)), now_ns=_ns(2026, 11, 23, 10))
    assert jw.date == dt.date(2026, 11, 23)
    cm.close()
    idx.close()
    jw.close()
    assert sorted(p.name for p in (tmp_path / "NSE_EQ").iterdir()) == ["20261116.bin", "20261123.bin"]
