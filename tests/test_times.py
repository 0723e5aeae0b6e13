"""Times back to the clock: a change record's ts48 (ns since 00:00 IST of its trading day) to Unix ns and
numpy datetime64 (vega.records.epoch_ns / datetimes), and the exchange's seconds since 1980 (IST wall clock)
to Unix seconds and an aware datetime (vega.store.exchange_epoch_s / exchange_datetime)."""
import datetime as dt

import numpy as np
import pytest
from hypothesis import given, strategies as st

import vega
from vega import nse, records
from vega._journal import IST, day_epoch_ns
from vega.store import EXCHANGE_EPOCH_S, exchange_datetime, exchange_epoch_s

DAY = dt.date(2026, 11, 20)
SEC = 1_000_000_000


def datagram(token, ltp):
    rec = dict(nse.blank_record("FO", 7208), token=token, book_type=1, trading_status=2, last_traded_price=ltp)
    return nse.build_datagram("FO", [dict(nse.blank_message("FO", 7208, 1), records=[rec])])


def receive_times(day):
    """Receive times through the day: the open, the close, and past IST midnight (a journal's stamps run past
    24 h until its rollover time)."""
    base = day_epoch_ns(day)
    return [base + (9 * 3600 + 15 * 60) * SEC + 123_456_789, base + (15 * 3600 + 29 * 60 + 59) * SEC + 999_999_999,
            base + 24 * 3600 * SEC + 20 * 60 * SEC + 7]


def test_a_journaled_handler_s_stamps_are_its_receive_times_on_the_journal_s_day(tmp_path):
    got = []
    w = vega.JournalWriter(tmp_path, "NSE_FO", DAY)
    fh = vega.FeedHandler("FO", vega.Store(100), journal=w, on_records=lambda r: got.append(r.copy()))
    times = receive_times(DAY)
    for i, t in enumerate(times):
        fh.process(datagram(40_000 + i, 100 + i), now_ns=t)
        assert len(got) == i + 1 and len(got[i])
        assert set(records.epoch_ns(got[i], DAY).tolist()) == {t}
        assert set(records.datetimes(got[i], DAY).tolist()) == {np.datetime64(t, "ns").item()}
    assert w.date == DAY + dt.timedelta(days=1)         # the last time rolled the journal over (after stamping)
    w.close()
    back = []                                           # each file's records on its own date: re-stamped
    for path in sorted(tmp_path.rglob("*.bin")):
        j = vega.Journal.open(path)
        back += records.epoch_ns(j.read(), j.date).tolist()
    assert sorted(set(back)) == times


def test_without_a_journal_the_day_is_the_ist_date_of_receipt():
    got = []
    fh = vega.FeedHandler("FO", vega.Store(100), on_records=lambda r: got.append(r.copy()))
    t = day_epoch_ns(DAY) + 23 * 3600 * SEC + 5        # 23:00 IST: 17:30 UTC, the same date in both zones
    u = day_epoch_ns(DAY) + 2 * 3600 * SEC              # 02:00 IST: still the previous date in UTC
    fh.process(datagram(41_000, 7), now_ns=t)
    fh.process(datagram(41_001, 8), now_ns=u)
    day_of_u = dt.datetime.fromtimestamp(u / 1e9, IST).date()
    assert day_of_u == DAY != dt.datetime.fromtimestamp(u / 1e9, dt.timezone.utc).date()
    assert set(records.epoch_ns(got[0], DAY).tolist()) == {t}
    assert set(records.epoch_ns(got[1], day_of_u).tolist()) == {u}


@given(ts=st.integers(0, (1 << 48) - 1), day=st.dates(dt.date(1971, 1, 1), dt.date(2200, 12, 31)))
def test_epoch_ns_round_trips_through_records_and_plain_values(ts, day):
    rec = np.zeros(2, records.CHANGE_RECORD_DTYPE)
    records.set_timestamps(rec, [ts, 0])
    want = day_epoch_ns(day) + ts
    assert records.epoch_ns(rec, day).tolist() == [want, day_epoch_ns(day)]
    assert records.epoch_ns(rec[0], day.isoformat()) == want              # one record, the day as a string
    assert records.epoch_ns(ts, day) == want and type(records.epoch_ns(ts, day)) is int
    assert records.epoch_ns(np.array([ts], np.uint64), day).tolist() == [want]
    assert records.datetimes(np.array([ts]), day)[0] == np.datetime64(want, "ns")


def test_epoch_ns_refuses_what_is_no_ts48():
    with pytest.raises(TypeError, match="integer ts48"):
        records.epoch_ns(np.array([1.5]), DAY)
    with pytest.raises(ValueError):
        records.epoch_ns(5, "2026-13-01")


def test_exchange_times_read_on_the_ist_wall_clock():
    """PROTOCOL.md's worked examples: LogTime 0x565ADBCE is 2025-11-28 11:04:46 (a trading-hours time on the
    exchange's clock), and a master file's expiry 1475159400 is 2026-09-29 14:30 IST, where
    vega.expiry_to_unix puts it."""
    assert exchange_datetime(0x565ADBCE) == dt.datetime(2025, 11, 28, 11, 4, 46, tzinfo=IST)
    assert exchange_datetime(1475159400) == dt.datetime(2026, 9, 29, 14, 30, tzinfo=IST)
    assert exchange_epoch_s(1475159400) == vega.expiry_to_unix(1475159400)
    assert exchange_datetime(0) is None                                   # not set yet
    assert exchange_epoch_s(np.array([0, 60], np.int32)).tolist() == [EXCHANGE_EPOCH_S, EXCHANGE_EPOCH_S + 60]
    with pytest.raises(TypeError, match="integer seconds"):
        exchange_epoch_s(np.array([1.0]))


def test_a_merged_last_trade_time_reads_back_as_the_exchange_s_time():
    store = vega.Store(10)
    fh = vega.FeedHandler("FO", store)
    ltt = int((dt.datetime(2026, 11, 20, 10, 1, 2) - dt.datetime(1980, 1, 1)).total_seconds())   # 10:01:02 IST
    rec = dict(nse.blank_record("FO", 7208), token=42, book_type=1, trading_status=2, last_traded_price=5,
               last_trade_time=ltt, last_trade_quantity=1)
    fh.process(nse.build_datagram("FO", [dict(nse.blank_message("FO", 7208, 1), records=[rec])]))
    assert exchange_datetime(store[42].last_trade_time) == dt.datetime(2026, 11, 20, 10, 1, 2, tzinfo=IST)
    assert exchange_epoch_s(store.snapshot()["last_trade_time"]).tolist() == [
        int(dt.datetime(2026, 11, 20, 10, 1, 2, tzinfo=IST).timestamp())]


TYPED_USER = '''
import datetime
import numpy as np
import numpy.typing as npt
import vega
from vega.journal import live_records
from vega.records import datetimes, epoch_ns
from vega.store import exchange_datetime, exchange_epoch_s

store = vega.Store(16)
recs = store.keyframe_records(0)
a: npt.NDArray[np.int64] = epoch_ns(recs, datetime.date(2026, 11, 20))
b: int = epoch_ns(5, "2026-11-20")
c: int = epoch_ns(np.int64(5), 20261120)
d = datetimes(recs, "2026-11-20")
e: int = exchange_epoch_s(5)
f: npt.NDArray[np.int64] = exchange_epoch_s(np.array([1, 2], np.int32))
g: datetime.datetime | None = exchange_datetime(store[5].last_trade_time)
h = live_records(recs)
'''


def test_the_time_helpers_are_typed_for_mypy_strict(tmp_path):
    """epoch_ns, exchange_epoch_s, exchange_datetime (FORMATS names them for reading records and the store) and
    journal.live_records had no annotations: ``mypy --strict`` refused every call of them from typed code
    ("Call to untyped function ... in typed context")."""
    from mypy_helpers import mypy_strict
    mypy_strict(tmp_path, TYPED_USER)


def test_set_timestamps_refuses_what_is_no_integer_ts48():
    """A float array of times was cut to whole ns and written without a word (1.9 -> 1), a bool taken as 1 ns:
    set_timestamps takes integers, as epoch_ns does."""
    rec = np.zeros(2, records.CHANGE_RECORD_DTYPE)
    records.set_timestamps(rec, [7, 8])
    for bad in ([1.9, 2.0], np.array([3.0, 4.0]), [True, False], ["5", "6"]):
        with pytest.raises(TypeError, match="set_timestamps takes integer ts48"):
            records.set_timestamps(rec, bad)
        assert records.timestamps(rec).tolist() == [7, 8]            # nothing written
    with pytest.raises(ValueError, match=r"ts48 must be in \[0, 2\*\*48\) ns, not -1"):
        records.set_timestamps(rec, [-1, 0])


@pytest.mark.parametrize("bad", [-1, 1 << 48, [0, -5], np.array([1 << 48], np.int64), np.array([2**64 - 1], np.uint64)])
def test_epoch_ns_and_datetimes_refuse_a_ts48_outside_its_range(bad):
    """A negative ts48 or one of 2**48 or more is no time of the day's records (set_timestamps and the store
    refuse them): epoch_ns and datetimes turned it into a time before the day or days after it, silently."""
    with pytest.raises(ValueError, match=r"ts48 must be in \[0, 2\*\*48\)"):
        records.epoch_ns(bad, DAY)
    with pytest.raises(ValueError, match=r"ts48 must be in \[0, 2\*\*48\)"):
        records.datetimes(bad, DAY)
    assert records.epoch_ns((1 << 48) - 1, DAY) == day_epoch_ns(DAY) + (1 << 48) - 1     # the bounds are taken


def test_exchange_datetime_refuses_what_is_no_exchange_time_with_a_clear_error():
    """exchange_datetime(2**62) failed deep inside datetime with OSError "Value too large for defined data type",
    a negative time gave a date in 1979, and an array "truth value of an array ... is ambiguous"."""
    for bad in (-5, 1 << 32, 1 << 62):
        with pytest.raises(ValueError, match="0 .. 2\\*\\*32 - 1 seconds since 1980"):
            exchange_datetime(bad)
    for wrong in (np.array([1, 2]), 1.5, True, "5"):
        with pytest.raises(TypeError, match="exchange_datetime takes one exchange time"):
            exchange_datetime(wrong)
    assert exchange_datetime(np.int32(0x565ADBCE)) == dt.datetime(2025, 11, 28, 11, 4, 46, tzinfo=IST)
    assert exchange_datetime((1 << 32) - 1) is not None
