"""Journal writer and reader: layout, round trip, seek, checkpoints and snapshots, rollover, durability policy,
recovery and damaged files."""
import datetime as dt
import os
import re
import struct
import sys
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))  # journal_helpers, whether or not tests/ is a package
from journal_helpers import T0, Fold, linear_seek, make_records
from vega import _journal
from vega.journal import (
    CHECKPOINT_DTYPE,
    HEADER_DTYPE,
    INDEX_ENTRY_DTYPE,
    Journal,
    JournalError,
    JournalWriter,
    journal_path,
    verify,
)
from vega.records import (
    CHANGE_RECORD_DTYPE,
    CHECKPOINT_END,
    CONTINUED,
    KEYFRAME,
    datetimes,
    set_timestamps,
    timestamps,
)
from vega._journal import VERSION

DATE = dt.date(2026, 11, 20)
HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def write_day(root, recs, feed="NSE_FO", date=DATE, **kw):
    kw.setdefault("flush_interval", None)
    with JournalWriter(root, feed, date, **kw) as w:
        w.append(recs)
    return w.path


# -- layout ---------------------------------------------------------------------------------------------------

def test_header_layout_matches_c_struct_and_dtype():
    lay = _journal._layout()
    assert lay.pop("sizeof") == 64 == HEADER_DTYPE.itemsize
    for name, off in lay.items():
        assert HEADER_DTYPE.fields[name][1] == off, name
    assert INDEX_ENTRY_DTYPE.itemsize == 16 and CHECKPOINT_DTYPE.itemsize == 32
    assert CHANGE_RECORD_DTYPE.itemsize == _journal.RECORD_SIZE == 32


def test_file_bytes_pinned(tmp_path):
    recs = make_records(5, seed=1)
    with JournalWriter(tmp_path, "NSE_EQ", DATE, index_stride=2, first_seq=1000, flush_interval=None) as w:
        w.append(recs)
        w.checkpoint(recs[:2], ts_ns=int(timestamps(recs)[-1]))
    path = tmp_path / "NSE_EQ" / "20261120.bin"
    assert path == journal_path(tmp_path, "nse_eq", "2026-11-20")
    b = path.read_bytes()
    (magic, ver, hsz, rsz, feed, sealed, date, sym, count, created, ioff, seq, stride, crc) = struct.unpack_from(
        "<8sHHHBBIIQqQQII", b)
    assert (magic, ver, hsz, rsz, feed, sealed, date, sym) == (b"VEGAJRNL", 2, 64, 32, 1, 1, 20261120, 0)
    assert (count, ioff, seq, stride) == (7, 64 + 7 * 32, 1000, 2)
    assert crc == zlib.crc32(b[:60])
    assert abs(created - __import__("time").time_ns()) < 3600 * 10**9
    assert b[64:64 + 5 * 32] == recs.tobytes()
    imagic, n_ent, n_ckpt, istride, icrc = struct.unpack_from("<8sQQII", b, ioff)
    assert (imagic, n_ent, n_ckpt, istride) == (b"VGJINDEX", 4, 1, 2)
    assert icrc == zlib.crc32(b[ioff + 32:], zlib.crc32(b[ioff:ioff + 28]))
    ts = timestamps(np.frombuffer(b, CHANGE_RECORD_DTYPE, 7, 64))
    ent = struct.unpack_from("<" + "qQ" * 4, b, ioff + 32)
    assert ent == (ts[0], 64, ts[:3].max(), 128, ts[:5].max(), 192, ts[:7].max(), 256)
    assert struct.unpack_from("<qQQQ", b, ioff + 32 + 64) == (ts[-1], 64 + 5 * 32, 2, 0)
    assert len(b) == ioff + 32 + 4 * 16 + 32


# -- round trip, read, seek ---------------------------------------------------------------------------------------

@HYP
@given(n=st.integers(0, 3000), batch=st.integers(1, 700), buf=st.integers(1, 500), stride=st.integers(1, 300),
       seed=st.integers(0, 2**16))
def test_round_trip_any_batching(tmp_path_factory, n, batch, buf, stride, seed):
    root = tmp_path_factory.mktemp("rt")
    recs = make_records(n, seed=seed)
    with JournalWriter(root, "NSE_FO", DATE, buffer_records=buf, index_stride=stride, flush_interval=None) as w:
        for a in range(0, n, batch):
            assert w.append(recs[a:a + batch]) == len(recs[a:a + batch])
        assert w.n_records == n
    with Journal.open(w.path, feed="NSE_FO") as j:
        assert j.sealed and len(j) == n
        assert j.records.tobytes() == recs.tobytes()
        assert j.read(n // 3).tobytes() == recs[: n // 3].tobytes()
        assert j.tell() == n // 3
        assert j.read().tobytes() == recs[n // 3:].tobytes()


def test_read_filters_tokens(tmp_path):
    recs = make_records(1000, seed=3, ntok=10)
    with Journal.open(write_day(tmp_path, recs)) as j:
        got = j.read(tokens=[2, 7])
        assert got.tobytes() == recs[np.isin(recs["token"], [2, 7])].tobytes()
        assert j.tell() == 1000


@HYP
@given(n=st.integers(0, 2500), stride=st.integers(1, 200), ordered=st.booleans(), seed=st.integers(0, 2**16),
       queries=st.lists(st.integers(T0 - 10, T0 + 2500 * 5000 + 10), min_size=1, max_size=30),
       sealed=st.booleans())
def test_seek_equals_linear_scan(tmp_path_factory, n, stride, ordered, seed, queries, sealed):
    root = tmp_path_factory.mktemp("seek")
    recs = make_records(n, seed=seed, ordered=ordered)
    w = JournalWriter(root, "NSE_FO", DATE, index_stride=stride, flush_interval=None)
    w.append(recs)
    if sealed:
        w.close()
    else:
        w.flush()      # an open file: the reader indexes it by a scan
    ts = timestamps(recs)
    with Journal.open(w.path) as j:
        assert j.sealed == sealed
        for t in queries + [int(x) for x in ts[:5]]:
            assert j.seek(t) == linear_seek(recs, t)
            assert j.tell() == linear_seek(recs, t)
    if not sealed:
        w.close()


def test_seek_accepts_time_of_day(tmp_path):
    recs = make_records(2000, seed=4)
    with Journal.open(write_day(tmp_path, recs)) as j:
        assert j.seek(dt.time(9, 15, 0, 3000)) == linear_seek(recs, T0 + 3_000_000)
        with pytest.raises(TypeError):
            j.seek(1.5)


def test_every_spelling_of_a_time_finds_the_same_record(tmp_path):
    """An int ts48, a time of day, 'HH:MM:SS.ffffff', a naive datetime (IST), an aware one in any zone, an
    ISO string and a pandas-like datetime subclass all name the same instant of the trading day."""
    recs = make_records(5000, seed=8, max_step=2_000_000)          # ~5 s from 09:15
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    t = T0 + 1_234_567_000                                       # 09:15:01.234567 IST
    spellings = [t, dt.time(9, 15, 1, 234567), "09:15:01.234567", dt.datetime(2026, 11, 20, 9, 15, 1, 234567),
                 dt.datetime(2026, 11, 20, 3, 45, 1, 234567, tzinfo=dt.timezone.utc),
                 dt.datetime(2026, 11, 20, 9, 15, 1, 234567, tzinfo=ist), "2026-11-20T09:15:01.234567",
                 "2026-11-20 03:45:01.234567+00:00",
                 # a time of day with a zone: that time in its zone on the trading day's date
                 dt.time(3, 45, 1, 234567, tzinfo=dt.timezone.utc), "03:45:01.234567+00:00",
                 dt.time(9, 15, 1, 234567, tzinfo=ist), "09:15:01.234567+05:30"]

    class Stamp(dt.datetime):                                    # what a pandas Timestamp is
        pass
    spellings.append(Stamp(2026, 11, 20, 9, 15, 1, 234567))
    with Journal.open(write_day(tmp_path, recs)) as j:
        want = linear_seek(recs, t)
        assert 0 < want < len(recs)
        for s in spellings:
            assert j.position(s) == want, s
        assert j.position("09:16") == linear_seek(recs, T0 + 60 * 10**9)
        # past midnight: a day whose rollover is later than 00:00 holds records stamped up to 2 days in
        assert j.position(dt.datetime(2026, 11, 21, 2, 0)) == linear_seek(recs, 26 * 3600 * 10**9)
        a, b = j.between("09:15:01", dt.datetime(2026, 11, 20, 9, 15, 2)), recs[
            linear_seek(recs, T0 + 10**9):linear_seek(recs, T0 + 2 * 10**9)]
        assert len(a) > 0 and (a == b).all()
        assert len(j.state_records("09:15:01")) == linear_seek(recs, T0 + 10**9 + 1)


def test_a_numpy_datetime64_of_any_unit_is_the_instant_it_counts_from_the_epoch(tmp_path):
    """A numpy datetime64 (ns since 1970 UTC in records.datetimes) names the same record as its ts48 int,
    exactly, whether in ns, us, ms or s; these used to be refused with TypeError."""
    recs = make_records(5000, seed=8, max_step=2_000_000)          # ~5 s from 09:15
    base = _journal.day_epoch_ns(DATE)
    ts = timestamps(recs)
    with Journal.open(write_day(tmp_path, recs)) as j:
        # a record's own stamp and the ns after it (exact to the ns), a whole us, a whole s
        stamp = int(ts[2500])
        for t, unit in [(stamp, "ns"), (stamp + 1, "ns"), (T0 + 1_234_567_000, "us"), (T0 + 3_001_000_000, "ms"),
                        (T0 + 2 * 10**9, "s")]:
            per = {"ns": 1, "us": 1000, "ms": 10**6, "s": 10**9}[unit]
            assert (base + t) % per == 0
            d64 = np.datetime64((base + t) // per, unit)
            want = linear_seek(recs, t)
            assert 0 < want < len(recs), t
            assert j.position(d64) == want == j.position(t), (t, unit)
            assert j.seek(d64) == want and j.tell() == want
            assert j.state_records(d64).tobytes() == j.state_records(t).tobytes()
            got = j.between(d64, np.datetime64(base + T0 + 4 * 10**9, "ns"))
            assert len(got) > 0 and got.tobytes() == j.between(t, T0 + 4 * 10**9).tobytes()
        assert linear_seek(recs, stamp + 1) > linear_seek(recs, stamp)   # the ns after a stamp is another record
        assert j.position(np.datetime64("2026-11-20T03:45", "m")) == 0 == linear_seek(recs, T0)   # 09:15 IST
        assert j.position(np.datetime64("2026-11-20T04", "h")) == len(recs)                      # 09:30 IST


def test_records_datetimes_seek_back_to_their_records(tmp_path):
    """The round trip a reader makes: records.datetimes(...) of the journal's records, then seek to one."""
    recs = make_records(3000, seed=13)
    with Journal.open(write_day(tmp_path, recs)) as j:
        when = datetimes(j.records, j.date)
        ts = timestamps(j.records)
        for i in (0, 1, 777, 1500, 2999):
            pos = j.seek(when[i])
            assert isinstance(when[i], np.datetime64)
            assert pos == linear_seek(recs, int(ts[i])) and pos <= i and ts[pos] == ts[i]


@pytest.mark.parametrize("bad, says", [
    (np.datetime64("NaT"), "is NaT"),
    (np.datetime64("NaT", "ns"), "is NaT"),
    (np.array([5]).astype("datetime64")[0], "is a numpy datetime64 without a unit"),
    (np.datetime64(1, "ps"), "no whole number of nanoseconds"),
    (np.datetime64("2026-11-19T18:00", "s"), r"not within this journal's trading day, 2026-11-20 \(IST\)"),
    # weeks count from Thursday 1970-01-01: the Thursday before the day is 00:00 UTC = 05:30 IST on 2026-11-19
    (np.datetime64("2026-11-19", "W"), r"\(2026-11-19 UTC\) is not within this journal's trading day"),
])
def test_a_datetime64_that_is_no_instant_of_the_day_is_refused_naming_the_argument(tmp_path, bad, says):
    with Journal.open(write_day(tmp_path, make_records(100, seed=2))) as j:
        for call, name in [(j.seek, "seek: t"), (j.position, "position: t"), (j.state_records, "state_records: t"),
                           (lambda t: j.between(t, "23:00"), "between: t0"),
                           (lambda t: j.between("00:00", t), "between: t1")]:
            with pytest.raises(ValueError, match=f"^{name} .*{says}") as e:
                call(bad)
            assert "\n" not in str(e.value)


def test_a_zoned_time_of_day_is_the_instant_within_the_ist_trading_day(tmp_path):
    """West of IST a time of day falls on the day before's date there (19:00 UTC = 00:30 IST of the day),
    east of it on the day after's (03:00 Tokyo = 23:30 IST): the instant inside 00:00..24:00 IST is meant."""
    from zoneinfo import ZoneInfo
    h = 3600 * 10**9
    recs = make_records(3000, seed=12)
    set_timestamps(recs, np.sort(np.random.default_rng(12).integers(0, 24 * h, 3000)))   # across the day
    with Journal.open(write_day(tmp_path, recs)) as j:
        for t, ist_ns in [(dt.time(19, 0, tzinfo=dt.timezone.utc), h // 2), ("19:00+00:00", h // 2),
                          (dt.time(23, 0, tzinfo=ZoneInfo("America/New_York")), 9 * h + h // 2),
                          (dt.time(3, 0, tzinfo=ZoneInfo("Asia/Tokyo")), 23 * h + h // 2)]:
            assert j.position(t) == linear_seek(recs, ist_ns), t


def test_journal_dates_and_numbers_a_reader_refuses_are_refused_by_the_writer(tmp_path):
    with pytest.raises(ValueError, match=r"first_seq must be in \[0, 2\*\*62\)"):
        JournalWriter(tmp_path, "NSE_FO", DATE, first_seq=1 << 62)
    with pytest.raises(ValueError, match="a journal's trading date is 1970-01-01 .. 2262-04-10, not 2300-01-02"):
        JournalWriter(tmp_path, "NSE_FO", dt.date(2300, 1, 2))
    with JournalWriter(tmp_path, "NSE_FO", dt.date(2262, 4, 10)) as w:
        with pytest.raises(ValueError, match="not 2262-04-11"):
            w.rollover()
        assert not w.closed
    assert Journal.open(w.path).sealed


def test_a_rollover_time_with_a_zone_is_refused(tmp_path):
    """The rollover is a time of day IST: one with another zone would silently be read as IST."""
    with pytest.raises(ValueError, match="rollover is a time of day in IST: give a naive datetime.time"):
        JournalWriter(tmp_path, "NSE_FO", DATE, rollover=dt.time(18, 30, tzinfo=dt.timezone.utc))
    assert not (tmp_path / "NSE_FO").exists() or not any((tmp_path / "NSE_FO").iterdir())


def test_between_refuses_reversed_bounds_and_takes_any_token_collection(tmp_path):
    recs = make_records(3000, seed=9, max_step=2_000_000, ntok=20)
    with Journal.open(write_day(tmp_path, recs)) as j:
        with pytest.raises(ValueError, match="t1 \\(09:15:01\\) is before t0 \\(09:15:02\\)"):
            j.between("09:15:02", "09:15:01")
        assert len(j.between("09:15:01", "09:15:01")) == 0
        want = j.between("09:15:00", "09:15:03")
        want = want[np.isin(want["token"], [3, 5])]
        assert len(want) > 0
        for tokens in ([3, 5], {3, 5}, range(3, 6, 2), np.array([5, 3], dtype=np.uint64)):
            assert j.between("09:15:00", "09:15:03", tokens=tokens).tobytes() == want.tobytes()
            j.rewind(j.position("09:15:00"))
            got = j.read(j.position("09:15:03") - j.position("09:15:00"), tokens=tokens)
            assert got.tobytes() == want.tobytes()
        with pytest.raises(TypeError, match="collection of tokens, not int"):
            j.between("09:15:00", "09:15:03", tokens=3)
        with pytest.raises(ValueError, match="not -2"):
            j.read(tokens=[-2])


@pytest.mark.parametrize("bad, error, says", [
    (-1, ValueError, "0 .. 2\\*\\*48 - 1 ns"),
    (1 << 48, ValueError, "0 .. 2\\*\\*48 - 1 ns"),
    (dt.datetime(2026, 11, 19, 23, 0), ValueError, "not within this journal's trading day, 2026-11-20"),
    (dt.datetime(2026, 11, 22, 9, 0), ValueError, "not within this journal's trading day"),
    ("9.15", ValueError, "not a time: '9.15'"),
    ("", ValueError, "not a time"),
    (True, TypeError, "not bool"),
    (1.5, TypeError, "not float"),
    (None, TypeError, "not NoneType"),
])
def test_a_bad_time_is_refused_with_a_clear_error(tmp_path, bad, error, says):
    with Journal.open(write_day(tmp_path, make_records(100, seed=2))) as j:
        for call in (j.seek, j.position, j.state_records, lambda t: j.between(t, "23:00")):
            with pytest.raises(error, match=says):
                call(bad)


# -- checkpoints and snapshots ----------------------------------------------------------------------------------

def day_with_checkpoints(root, n=6000, every=1000, seed=5, **kw):
    """Write a day, checkpointing a reference fold every `every` records; return (path, records in file)."""
    recs = make_records(n, seed=seed, ntok=40)
    live = Fold()
    with JournalWriter(root, "NSE_FO", DATE, flush_interval=None, checkpoint_interval=None, **kw) as w:
        for a in range(0, n, every):
            part = recs[a:a + every]
            w.append(part)
            live.apply_records(part)
            w.checkpoint(live.keyframe_records(w.max_ts))
    with Journal.open(w.path) as j:
        return w.path, np.array(j.records), live


def test_snapshot_from_checkpoint_equals_fold_from_start(tmp_path):
    path, all_recs, live = day_with_checkpoints(tmp_path)
    ts = timestamps(all_recs)
    rng = np.random.default_rng(9)
    with Journal.open(path) as j:
        assert len(j.checkpoints) == 6
        for t in list(rng.integers(ts[0] - 10, ts[-1] + 10, 60)) + [int(ts[-1]), int(ts[0]) - 1]:
            t = int(t)
            upto = all_recs[: int(np.searchsorted(ts, t, side="right"))]
            ref = Fold()
            ref.apply_records(upto)
            got = j.snapshot_at(t, into=Fold())
            assert got.state == ref.state
            part = j.state_records(t)
            if len(j.checkpoints) and t >= j.checkpoints["ts"][0] and len(upto) > 1000:
                # decoded from a checkpoint, never from the start of the day
                assert part["flags"][0] & KEYFRAME and len(part) < len(upto)
        end = j.snapshot_at(int(ts[-1]), into=Fold())
        assert end.state == live.state


@HYP
@given(n=st.integers(1, 1500), cuts=st.lists(st.integers(0, 1500), max_size=6), seed=st.integers(0, 2**16),
       stride=st.integers(1, 100), probes=st.lists(st.floats(-0.05, 1.05), min_size=1, max_size=8))
def test_snapshot_property(tmp_path_factory, n, cuts, seed, stride, probes):
    """For checkpoints at arbitrary places, the state at any t from the nearest checkpoint equals the fold of
    every record stamped up to t."""
    root = tmp_path_factory.mktemp("snap")
    recs = make_records(n, seed=seed, ntok=15)
    live = Fold()
    with JournalWriter(root, "NSE_FO", DATE, flush_interval=None, index_stride=stride,
                       checkpoint_interval=None) as w:
        a = 0
        for c in sorted(set(min(c, n) for c in cuts)) + [n]:
            w.append(recs[a:c])
            live.apply_records(recs[a:c])
            a = c
            if c < n:
                w.checkpoint(live.keyframe_records(w.max_ts if w.max_ts >= 0 else 0))
    ts = timestamps(recs)
    with Journal.open(w.path) as j:
        for f in probes:
            t = int(ts[0] + f * (ts[-1] - ts[0]))
            ref = Fold()
            ref.apply_records(recs[ts <= t])
            assert j.snapshot_at(t, into=Fold()).state == ref.state


def test_incomplete_or_interrupted_keyframe_runs_are_not_checkpoints(tmp_path):
    recs = make_records(10, seed=6)
    kf = make_records(3, seed=7)
    kf["flags"] = KEYFRAME | CONTINUED           # torn: no record ends the checkpoint
    mixed = make_records(3, seed=8)
    mixed["flags"] = [KEYFRAME, 0, KEYFRAME | CHECKPOINT_END]   # a live record inside the run voids it
    good = make_records(2, seed=9)
    good["flags"] = [KEYFRAME | CONTINUED, KEYFRAME | CHECKPOINT_END]
    path = write_day(tmp_path, np.concatenate([recs, kf, recs, mixed, good]))
    with Journal.open(path) as j:
        ck = j.checkpoints
        assert len(ck) == 2
        # the lone trailing KEYFRAME of `mixed` is a one-record run; `good` is the other
        assert list((ck["offset"] - 64) // 32) == [25, 26] and list(ck["n_records"]) == [1, 2]


def test_checkpoint_sets_flags_and_timestamp(tmp_path):
    w = JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None)
    w.append(make_records(10))
    kf = make_records(4, seed=2)
    kf["flags"] = [CONTINUED, 0, CONTINUED | CHECKPOINT_END, 0]    # the store's CONTINUED bits are kept
    kf["token"] = [7, 7, 9, 9]                                      # (each update one token)
    assert w.checkpoint(kf, ts_ns=w.max_ts) == 4
    assert w.checkpoint(np.zeros(0, CHANGE_RECORD_DTYPE)) == 0
    for bad in (-1, 1 << 48):                                       # would wrap around in the 48-bit field
        with pytest.raises(ValueError, match=r"ts_ns must be in \[0, 2\*\*48\)"):
            w.checkpoint(kf, ts_ns=bad)
    w.close()
    with Journal.open(w.path) as j:
        tail = j.records[10:]
        assert list(tail["flags"]) == [KEYFRAME | CONTINUED, KEYFRAME, KEYFRAME | CONTINUED,
                                       KEYFRAME | CHECKPOINT_END]
        assert set(timestamps(tail)) == {int(timestamps(j.records[:10]).max())}
        assert len(j.checkpoints) == 1


def test_automatic_checkpoints_every_interval_of_feed_time(tmp_path):
    live = Fold()
    calls = []

    def source(ts):
        calls.append(ts)
        return live.keyframe_records(ts)

    recs = make_records(5000, seed=10, max_step=200_000_000)     # ~8 min of feed time
    with JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None, checkpoint_interval=60.0,
                       checkpoint_source=source) as w:
        for a in range(0, len(recs), 100):
            live.apply_records(recs[a:a + 100])
            w.append(recs[a:a + 100])
    ts = timestamps(recs)
    minutes = np.unique(ts // 60_000_000_000)
    assert len(calls) == len(minutes) - 1          # one per minute boundary crossed after the first record
    with Journal.open(w.path) as j:
        ck = j.checkpoints
        assert list(ck["ts"]) == calls
        assert np.all(np.diff(ck["ts"] // 60_000_000_000) >= 1)
        for t in ck["ts"]:
            ref = Fold()
            ref.apply_records(recs[ts <= t])
            assert j.snapshot_at(int(t), into=Fold()).state == ref.state


# -- rollover, durability policy, locking, reopening ---------------------------------------------------------------

@pytest.mark.parametrize("rollover,hours", [("00:00", 24), ("06:00", 30)])
def test_rollover_at_configured_time(tmp_path, rollover, hours):
    day_ns = hours * 3600 * 10**9
    recs = make_records(300, seed=11)
    ts = np.concatenate([np.linspace(day_ns - 10**9, day_ns - 1, 100), np.linspace(day_ns, day_ns + 10**9, 100),
                         np.linspace(day_ns + 86400 * 10**9 * 2, day_ns + 86400 * 10**9 * 2 + 5, 100)]).astype(np.int64)
    set_timestamps(recs, ts)
    with JournalWriter(tmp_path, "NSE_FO", DATE, rollover=rollover, first_seq=7, flush_interval=None) as w:
        assert w.append(recs[:50]) == 50
        assert w.append(recs[50:]) == 250
        assert w.date == DATE + dt.timedelta(days=3)
    shift = 86400 * 10**9
    expect = [(DATE, recs[:100], ts[:100], 7), (DATE + dt.timedelta(days=1), recs[100:200], ts[100:200] - shift, 107),
              (DATE + dt.timedelta(days=3), recs[200:], ts[200:] - 3 * shift, 207)]
    for d, part, t, seq in expect:
        with Journal.open(journal_path(tmp_path, "NSE_FO", d)) as j:
            assert j.sealed and j.date == d and j.first_seq == seq
            assert list(timestamps(j.records)) == list(t)
            assert np.array_equal(j.records["slots"], part["slots"])


def test_buffering_and_flush_policy(tmp_path):
    recs = make_records(100)
    w = JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None, buffer_records=1000)
    w.append(recs)
    assert w.n_written == 0 and os.path.getsize(w.path) == 64      # still in the user-space buffer
    w.flush()
    assert w.n_written == 100 and os.path.getsize(w.path) == 64 + 3200
    with Journal.open(w.path) as j:                                  # readable while open
        assert not j.sealed and j.records.tobytes() == recs.tobytes()
    w.append(recs[:10])
    w.close()
    w2 = JournalWriter(tmp_path, "NSE_EQ", DATE, flush_interval=0)   # write-through
    w2.append(recs[:3])
    assert os.path.getsize(w2.path) == 64 + 96
    w2.close()
    w3 = JournalWriter(tmp_path, "NFO_IDX", DATE, flush_interval=0.0001, buffer_records=1000)
    w3.append(recs[:3])
    __import__("time").sleep(0.002)
    w3.poll()                                                        # the idle-loop flush
    assert os.path.getsize(w3.path) == 64 + 96
    w3.close()


def test_reader_follows_a_growing_file(tmp_path):
    recs = make_records(3000, seed=18)
    w = JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None, index_stride=64)
    w.append(recs[:1000])
    w.flush()
    j = Journal.open(w.path)
    assert len(j.read()) == 1000
    w.append(recs[1000:2500])
    w.flush()
    assert j.refresh() == 2500 and j.tell() == 1000
    assert j.read().tobytes() == recs[1000:2500].tobytes()
    assert j.seek(int(timestamps(recs)[2400])) == linear_seek(recs[:2500], int(timestamps(recs)[2400]))
    w.append(recs[2500:])
    w.close()
    j.rewind(2500)
    assert j.refresh() == 3000 and j.sealed and j.tell() == 2500
    assert j.read().tobytes() == recs[2500:].tobytes()
    j.close()


def test_buffer_overflow_writes_through(tmp_path):
    recs = make_records(1000)
    w = JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None, buffer_records=64)
    for a in range(0, 1000, 50):
        w.append(recs[a:a + 50])
        assert w.n_records - w.n_written <= 64
    w.append(recs)                                                   # larger than the buffer: written directly
    assert w.n_records - w.n_written <= 64
    w.close()
    with Journal.open(w.path) as j:
        assert j.records.tobytes() == recs.tobytes() * 2


def test_second_writer_is_refused(tmp_path):
    w = JournalWriter(tmp_path, "NSE_FO", DATE)
    with pytest.raises(JournalError, match="another JournalWriter of this process"):
        JournalWriter(tmp_path, "NSE_FO", DATE)
    w.close()
    JournalWriter(tmp_path, "NSE_FO", DATE).close()


def test_reopen_sealed_day_and_append(tmp_path):
    a, b = make_records(500, seed=1), make_records(300, seed=2, t0=T0 + 10**12)
    path = write_day(tmp_path, a, index_stride=64, first_seq=5)
    w = JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None)
    assert w.recovered["was_sealed"] and w.recovered["records"] == 500 and w.next_seq == 505
    w.append(b)
    w.close()
    with Journal.open(path) as j:
        assert j.records.tobytes() == a.tobytes() + b.tobytes()
        assert j.header["index_stride"] == 64 and j.first_seq == 5 and j.next_seq == 805
        assert verify(path).ok


def test_writer_refuses_other_feed_or_date_in_place(tmp_path):
    path = write_day(tmp_path, make_records(3))
    (tmp_path / "NSE_EQ").mkdir()
    os.replace(path, tmp_path / "NSE_EQ" / path.name)
    with pytest.raises(JournalError, match="feed NSE_FO, not NSE_EQ"):
        JournalWriter(tmp_path, "NSE_EQ", DATE)
    os.replace(tmp_path / "NSE_EQ" / path.name, tmp_path / "NSE_FO" / "20261121.bin")
    with pytest.raises(JournalError, match="trading date 2026-11-20, expected 2026-11-21"):
        JournalWriter(tmp_path, "NSE_FO", "20261121")
    with pytest.raises(ValueError, match="unknown feed"):
        JournalWriter(tmp_path, "BSE", DATE)


@pytest.mark.parametrize("option, value", [("flush_interval", float("nan")), ("flush_interval", float("inf")),
                                           ("flush_interval", -1), ("checkpoint_interval", float("nan")),
                                           ("checkpoint_interval", float("inf")), ("checkpoint_interval", -60),
                                           ("flush_interval", True)])
def test_writer_refuses_intervals_it_cannot_keep(tmp_path, option, value):
    """A negative interval used to mean 'never' without a word, and NaN or infinity failed as int(nan)."""
    with pytest.raises(ValueError, match=f"{option} must be None"):
        JournalWriter(tmp_path, "NSE_FO", DATE, **{option: value})
    assert not (tmp_path / "NSE_FO").exists()                # refused before any file


def test_writer_interval_edges(tmp_path):
    with JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=0, checkpoint_interval=0) as w:
        w.append(make_records(3))
        assert w.n_records == 3 and os.path.getsize(w.path) >= 64 + 3 * 32   # flush_interval 0: written at once
    with JournalWriter(tmp_path, "NSE_EQ", DATE, flush_interval=None, checkpoint_interval=None) as w:
        assert w.append(make_records(3)) == 3


def test_closed_writer_and_reader_raise(tmp_path):
    w = JournalWriter(tmp_path, "NSE_FO", DATE)
    w.close()
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.append(make_records(1))
    j = Journal.open(w.path)
    j.close()
    with pytest.raises(ValueError, match="closed"):
        j.seek(0)


def test_append_rejects_partial_records(tmp_path):
    with JournalWriter(tmp_path, "NSE_FO", DATE) as w:
        with pytest.raises(ValueError, match="whole number"):
            w.append(np.zeros(33, np.uint8))
        assert w.append(make_records(2).tobytes()) == 2


# -- recovery and damaged files -----------------------------------------------------------------------------------

def test_torn_tail_is_cut_on_reopen_and_by_verify(tmp_path):
    recs = make_records(200, seed=12)
    w = JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None)
    w.append(recs)
    w.flush()
    path = w.path
    # simulate a crash: the writer dies (no seal) leaving half a record behind
    with open(path, "ab") as f:
        f.write(make_records(1, seed=13).tobytes()[:17])
    rep = verify(path)
    assert not rep.ok and rep.torn_bytes == 17 and rep.records == 200 and rep.state == "open"
    with Journal.open(path) as j:                  # readable as is: the torn bytes are ignored
        assert j.records.tobytes() == recs.tobytes()
    w._close_fd()                                  # drop the dead writer's lock without sealing
    fixed = verify(path, repair=True)
    assert fixed.ok and fixed.repaired and fixed.state == "sealed" and fixed.records == 200
    with Journal.open(path) as j:
        assert j.sealed and j.records.tobytes() == recs.tobytes()


def test_reopen_after_interrupted_seal(tmp_path):
    recs = make_records(100, seed=14)
    path = write_day(tmp_path, recs)
    b = bytearray(path.read_bytes())
    ioff = struct.unpack_from("<Q", b, 40)[0]
    b[15] = 2                                               # SEALING
    b[60:64] = struct.pack("<I", zlib.crc32(bytes(b[:60])))
    path.write_bytes(bytes(b[: ioff + 20]))                 # index torn
    rep = verify(path)
    assert not rep.ok and rep.state == "sealing"
    with Journal.open(path) as j:
        assert len(j) == 100
    w = JournalWriter(tmp_path, "NSE_FO", DATE)
    assert w.recovered["records"] == 100
    w.close()
    assert verify(path).ok


def damage(path, offset, data):
    b = bytearray(path.read_bytes())
    b[offset:offset + len(data)] = data
    path.write_bytes(bytes(b))


def fix_crc(path):
    b = bytearray(path.read_bytes())
    b[60:64] = struct.pack("<I", zlib.crc32(bytes(b[:60])))
    path.write_bytes(bytes(b))


def test_bad_input_gives_clear_errors(tmp_path):
    good = write_day(tmp_path, make_records(300, seed=15), index_stride=16)
    raw = good.read_bytes()
    cases = {}

    def case(name, data):
        p = tmp_path / f"{name}.bin"
        p.write_bytes(data)
        cases[name] = p
        return p

    case("empty", b"")
    case("short", raw[:40])
    case("magic", b"NOTAJRNL" + raw[8:])
    p = case("newer", raw)
    damage(p, 8, struct.pack("<H", VERSION + 1))
    fix_crc(p)
    p = case("crc", raw)
    damage(p, 24, b"\x01")
    p = case("index_out", raw)
    damage(p, 40, struct.pack("<Q", len(raw) + 4096))
    fix_crc(p)
    case("index_cut", raw[:-20])
    p = case("index_crc", raw)
    damage(p, len(raw) - 1, b"\xff")
    expect = {
        "empty": "truncated header", "short": "truncated header", "magic": "not a VEGA journal",
        "newer": "newer VEGA", "crc": "checksum", "index_out": "outside the file", "index_cut": "ends at",
        "index_crc": "index table checksum",
    }
    for name, msg in expect.items():
        with pytest.raises(JournalError, match=msg):
            Journal.open(cases[name])
        rep = verify(cases[name])
        assert not rep.ok and any(msg in p for p in rep.problems), (name, rep.problems)
    with pytest.raises(JournalError, match="a file of feed NSE_FO, not NSE_EQ"):
        Journal.open(good, feed="NSE_EQ")
    # index and checkpoint tables whose own checksums are right but which point outside the records
    ioff = struct.unpack_from("<Q", raw, 40)[0]
    n_ent, n_ckpt = struct.unpack_from("<QQ", raw, ioff + 8)
    assert n_ckpt == 0
    for name, off, value, msg in [("entry", ioff + 32 + 16 + 8, 1 << 40, "index entry points outside"),
                                  ("stride", 56, 7, "entries of stride")]:
        b = bytearray(raw)
        b[off:off + (8 if name == "entry" else 4)] = struct.pack("<Q" if name == "entry" else "<I", value)
        b[ioff + 28:ioff + 32] = struct.pack("<I", zlib.crc32(bytes(b[ioff + 32:]),
                                                             zlib.crc32(bytes(b[ioff:ioff + 28]))))
        b[60:64] = struct.pack("<I", zlib.crc32(bytes(b[:60])))
        p = case(name, bytes(b))
        with pytest.raises(JournalError, match=msg):
            Journal.open(p)
        assert not verify(p).ok


def test_checkpoint_table_outside_the_records_is_refused(tmp_path):
    recs = make_records(20, seed=17)
    recs["flags"][5] = KEYFRAME | CHECKPOINT_END
    path = write_day(tmp_path, recs)
    b = bytearray(path.read_bytes())
    ioff = struct.unpack_from("<Q", b, 40)[0]
    ck = ioff + 32 + 16                                     # one entry, then the checkpoint
    assert struct.unpack_from("<qQQ", b, ck)[1:] == (64 + 5 * 32, 1)
    b[ck + 16:ck + 24] = struct.pack("<Q", 1000)            # a run longer than the file
    b[ioff + 28:ioff + 32] = struct.pack("<I", zlib.crc32(bytes(b[ioff + 32:]), zlib.crc32(bytes(b[ioff:ioff + 28]))))
    path.write_bytes(bytes(b))
    with pytest.raises(JournalError, match="checkpoint table points outside"):
        Journal.open(path)
    rep = verify(path, repair=True)
    assert rep.repaired and rep.ok and rep.checkpoints == 1
    with Journal.open(path) as j:
        assert j.records.tobytes() == recs.tobytes()


def _checkpointed_day(tmp_path, name="day"):
    """A sealed day of 40 records with three checkpoints: records 5..7 and 8..11 (back to back, at one time)
    and 20..22; index stride 4.  -> (path, records)."""
    recs = make_records(40, seed=18)
    for a, b in ((5, 8), (8, 12), (20, 23)):
        recs["flags"][a:b] = KEYFRAME
        recs["flags"][b - 1] |= CHECKPOINT_END
    set_timestamps(recs[5:12], np.full(7, timestamps(recs[5:6])[0]))
    return write_day(tmp_path / name, recs, index_stride=4), recs


def _with_tables(path, ent, ck):
    """Rewrite the index table of a sealed file from these arrays, its checksum made right."""
    b = path.read_bytes()
    ioff = struct.unpack_from("<Q", b, 40)[0]
    path.write_bytes(b[:ioff] + _journal.pack_index(ent, ck, struct.unpack_from("<I", b, 56)[0]))


def _bad_tables(name, ent, ck, recs):
    """(entries, checkpoints, message) of a damage no writer makes, from a day's sound tables."""
    ent, ck = ent.copy(), ck.copy()
    if name == "swapped":
        return ent, ck[[1, 0, 2]], ("checkpoint table out of order: checkpoint 1 starts at record 5, before "
                                    "checkpoint 0 (records 8..11) ends")
    if name == "overlap":
        ck["n_records"][0] += 1
        return ent, ck, "checkpoint table overlapping: checkpoint 1 starts at record 8, before checkpoint 0 " \
                        "(records 5..8) ends"
    if name == "time":
        ck["ts"][2] -= 1
        return ent, ck, f"checkpoint 2 has time {int(ck['ts'][2])}, not the stamp {int(ck['ts'][2]) + 1} of " \
                        f"its first record 20"
    if name == "live":
        ck[2] = (timestamps(recs[14:15])[0], 64 + 14 * 32, 2, 0)
        return ent, ck, "checkpoint 2 (records 14..15) does not begin and end with KEYFRAME records"
    ent["ts"][[2, 3]] = ent["ts"][[3, 2]]
    return ent, ck, "index table out of order: entry 3 has time"


@pytest.mark.parametrize("name", ["swapped", "overlap", "time", "live", "entries"])
def test_checkpoint_or_index_table_out_of_order_is_refused_and_repaired(tmp_path, name):
    """A sealed file's tables with a right checksum but in an order no writer makes: checkpoints swapped or
    overlapping, a checkpoint time that is not its first record's stamp, a run that is no KEYFRAME run, index
    entry times decreasing.  The reader refused only tables pointing outside the records, and opened these
    (the sequence numbers and snapshot_at assume sorted, disjoint runs)."""
    path, recs = _checkpointed_day(tmp_path)
    with Journal.open(path) as j:
        ent, ck = j.index.copy(), j.checkpoints.copy()
    assert ck["n_records"].tolist() == [3, 4, 3] and ck["ts"][0] == ck["ts"][1]
    e, c, msg = _bad_tables(name, ent, ck, recs)
    _with_tables(path, e, c)
    with pytest.raises(JournalError, match=re.escape(f"{path}: {msg}")):
        Journal.open(path)
    rep = verify(path)
    assert not rep.ok and rep.repairable and any(msg in q for q in rep.problems), rep.problems
    fixed = verify(path, repair=True)                  # the tables are rebuilt from the records
    assert fixed.repaired and fixed.ok and fixed.checkpoints == 3, fixed.problems
    with Journal.open(path) as j:
        assert j.records.tobytes() == recs.tobytes()
        assert j.index.tobytes() == ent.tobytes() and j.checkpoints.tobytes() == ck.tobytes()


def test_legal_checkpoint_tables_still_open(tmp_path):
    """What writers make reads: checkpoints back to back at one time, a checkpoint stamped earlier than the one
    before (the writer stamps what it is told), a day reopened and continued, and a repaired file."""
    state = make_records(6, seed=19)
    with JournalWriter(tmp_path, "NSE_FO", DATE, index_stride=4, flush_interval=None,
                       checkpoint_interval=None) as w:
        w.append(make_records(10, seed=20))
        w.checkpoint(state, T0 + 5 * 10**9)
        w.checkpoint(state, T0 + 5 * 10**9)
        w.checkpoint(state[:2], T0)
    with JournalWriter.reopen(w.path, flush_interval=None, checkpoint_interval=None) as w2:
        w2.append(make_records(9, seed=21, t0=T0 + 10**10))
        w2.checkpoint(state, T0 + 2 * 10**10)
    with Journal.open(w.path) as j:
        assert j.checkpoints["ts"].tolist() == [T0 + 5 * 10**9] * 2 + [T0, T0 + 2 * 10**10]
        assert len(j) == 10 + 6 + 6 + 2 + 9 + 6
    assert verify(w.path).ok
    fixed = verify(w.path, repair=True)
    assert fixed.ok and not fixed.repaired
    b = bytearray(w.path.read_bytes())
    b[-1] ^= 0xFF                                      # a damaged table, repaired: the repair's output reads
    w.path.write_bytes(bytes(b))
    fixed = verify(w.path, repair=True)
    assert fixed.repaired and fixed.ok and fixed.checkpoints == 4
    with Journal.open(w.path) as j:
        assert len(j.checkpoints) == 4


def test_verify_repairs_damaged_index(tmp_path):
    recs = make_records(300, seed=16)
    path = write_day(tmp_path, recs, index_stride=16)
    b = path.read_bytes()
    path.write_bytes(b[:-20])
    rep = verify(path, repair=True)
    assert rep.repaired and rep.ok and rep.records == 300
    assert any("ends at" in p for p in rep.problems)
    with Journal.open(path) as j:
        assert j.records.tobytes() == recs.tobytes()
    assert verify(path).ok and verify(path).problems == []


def test_verify_cannot_repair_a_damaged_header(tmp_path):
    path = write_day(tmp_path, make_records(3))
    damage(path, 0, b"X")
    rep = verify(path, repair=True)
    assert not rep.ok and not rep.repaired and "not a VEGA journal" in rep.problems[0]
    assert not rep.repairable


def test_repairable_says_what_a_repair_mends(tmp_path):
    recs = make_records(50, seed=3)
    path = write_day(tmp_path, recs, index_stride=16)
    assert verify(path).ok and not verify(path).repairable            # sound: nothing to repair
    good = path.read_bytes()
    path.write_bytes(good[:-20])                                       # torn index: the header is intact
    rep = verify(path)
    assert not rep.ok and rep.repairable
    assert verify(path, repair=True).ok
    path.write_bytes(good)
    damage(path, 20, b"\x7f")                                           # header checksum no longer matches
    rep = verify(path)
    assert not rep.ok and not rep.repairable and "checksum" in rep.problems[0]
    assert not verify(path, repair=True).repaired


# -- a file outside <root>/<FEED>/YYYYMMDD.bin: reopened and repaired in place ------------------------------

def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_verify_repairs_a_copy_outside_the_journal_layout_in_place(tmp_path):
    """An operator copies a damaged day aside (another directory, another name) and repairs the copy: the
    copy itself is mended, and no other file is created or touched (the writer once reopened
    <parent of parent>/<FEED>/<date>.bin instead, creating it, and called the untouched copy repaired)."""
    recs = make_records(300, seed=21)
    path = write_day(tmp_path / "journal", recs, index_stride=16)
    aside = tmp_path / "inspect" / "copy.bin"
    aside.parent.mkdir()
    aside.write_bytes(path.read_bytes()[:-20])                       # its index table torn
    original = path.read_bytes()
    before = _files(tmp_path)
    rep = verify(aside, repair=True)
    assert rep.repaired and rep.ok and rep.records == 300
    assert _files(tmp_path) == before                                 # nothing created beside or above it
    assert path.read_bytes() == original                              # the journal's own file untouched
    assert verify(aside).ok
    with Journal.open(aside) as j:
        assert j.records.tobytes() == recs.tobytes()


def test_reopen_appends_to_that_very_file_and_rolls_over_beside_it(tmp_path):
    recs = make_records(40, seed=22)
    path = write_day(tmp_path / "journal", recs)
    moved = tmp_path / "elsewhere" / "20261120-backup.bin"
    moved.parent.mkdir()
    os.replace(path, moved)
    with JournalWriter.reopen(moved, flush_interval=None) as w:
        assert w.path == moved and w.next_seq == 40
        w.append(recs[:5])
        w.rollover()                                                  # the next day lands beside it
        assert w.path == moved.parent / "20261121.bin"
    with Journal.open(moved) as j:
        assert len(j.records) == 45 and j.records[:40].tobytes() == recs.tobytes()
    assert not path.exists() and _files(tmp_path / "journal") == []


def test_a_repair_that_leaves_damage_is_not_reported_ok(tmp_path, monkeypatch):
    """verify(repair=True) reports the file as it is after the repair, listing what was wrong before."""
    import vega.journal as vj
    path = write_day(tmp_path, make_records(100, seed=23), index_stride=16)
    path.write_bytes(path.read_bytes()[:-20])

    class NoRepair:                                                   # a writer that mends nothing
        @staticmethod
        def reopen(p):
            return NoRepair()

        def close(self):
            pass

    monkeypatch.setattr(vj, "JournalWriter", NoRepair)
    rep = verify(path, repair=True)
    assert rep.repaired and not rep.ok and not verify(path).ok
