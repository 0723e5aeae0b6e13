"""replay(): order across days and feeds, bounds, targets, pacing, and the handover to a live ring."""
import datetime as dt
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # journal_helpers, whether or not tests/ is a package
from journal_helpers import Fold, make_records, peak_growth_mib
from vega.journal import IST, JournalWriter, day_epoch_ns, live_records, replay
from vega.records import set_timestamps, timestamps

FEEDS = ["NSE_FO", "NSE_EQ"]
DAYS = [dt.date(2026, 11, 19), dt.date(2026, 11, 20), dt.date(2026, 11, 23)]


@pytest.fixture
def archive(tmp_path):
    """Three trading days of two feeds with interleaved, partly equal timestamps."""
    files = {}
    for i, d in enumerate(DAYS):
        for k, f in enumerate(FEEDS):
            recs = make_records(3000 + 500 * k, seed=10 * i + k, max_step=3_000_000)
            ts = timestamps(recs)
            ts[::7] = ts[::7] // 1_000_000 * 1_000_000     # many equal stamps across the feeds
            set_timestamps(recs, np.maximum.accumulate(ts))
            recs["source"] = k
            with JournalWriter(tmp_path, f, d, index_stride=100, first_seq=1000 * i, flush_interval=None) as w:
                w.append(recs)
            files[(d, f)] = recs
    return tmp_path, files


def collect(root, *args, **kw):
    got = []
    res = replay(root, *args, into=lambda recs, feed: got.append((feed, np.array(recs))), **kw)
    return got, res


def expected(files, days, feeds):
    """Records in absolute-time order, ties broken by the order of `feeds` then file order."""
    rows = []
    for d in days:
        for fi, f in enumerate(feeds):
            r = files[(d, f)]
            for i, t in enumerate(timestamps(r).tolist()):
                rows.append((day_epoch_ns(d) + t, fi, i, f, r[i:i + 1]))
    rows.sort(key=lambda x: x[:3])
    return rows


def test_multi_day_multi_feed_order(archive):
    root, files = archive
    got, res = collect(root, DAYS[0], DAYS[-1], feeds=FEEDS, batch=777)
    exp = expected(files, DAYS, FEEDS)
    flat = [(f, r) for f, recs in got for r in recs]
    assert len(flat) == len(exp) == res.records
    assert all(f == e[3] and r.tobytes() == e[4].tobytes() for (f, r), e in zip(flat, exp))
    assert res.next_seq == {"NSE_FO": 2000 + 3000, "NSE_EQ": 2000 + 3500}
    assert res.last_date == {"NSE_FO": DAYS[-1], "NSE_EQ": DAYS[-1]}
    # feed order decides ties
    got2, _ = collect(root, DAYS[0], DAYS[-1], feeds=FEEDS[::-1], batch=5000)
    exp2 = expected(files, DAYS, FEEDS[::-1])
    flat2 = [(f, r) for f, recs in got2 for r in recs]
    assert all(f == e[3] and r.tobytes() == e[4].tobytes() for (f, r), e in zip(flat2, exp2))


def test_the_arrays_of_a_replay_of_several_feeds_are_read_only_as_of_one_feed(archive):
    """replay hands its targets read-only arrays: a single feed's are slices of the map, and the ones merged
    in time order from several feeds (copies) were writable, so a target changing them was not told."""
    root, _ = archive
    for feeds in (["NSE_FO"], FEEDS):
        seen = []
        replay(root, DAYS[0], DAYS[-1], feeds=feeds, batch=777, into=lambda recs, feed: seen.append(recs))
        assert len(seen) > (1 if len(feeds) == 1 else len(DAYS) * len(feeds))      # merged pieces of both feeds
        assert not any(r.flags.writeable for r in seen), feeds
        with pytest.raises(ValueError, match="read-only"):
            seen[-1]["token"][0] = 1


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc (VmHWM reset)")
def test_a_replay_holds_a_few_batches_of_a_day_in_memory_not_the_day(tmp_path):
    """replay hands out slices of the day's map, whose pages stayed in the process once read: its memory grew
    to the size of the day's files (a day of the F&O feed is gigabytes).  It lets go of the pages of the
    records it has delivered, so a 48 MB day raises the peak by a few batches."""
    d = DAYS[0]
    recs = make_records(1_500_000, seed=5)
    with JournalWriter(tmp_path, "NSE_FO", d, flush_interval=None) as w:
        w.append(recs)
    digest = hash(recs.tobytes())
    del recs
    kept = []                                        # the arrays handed out, kept: they stay valid
    res, grew_mib = peak_growth_mib(lambda: replay(tmp_path, d, batch=20_000,
                                                   into=lambda recs, feed: kept.append(recs)))
    assert grew_mib < 16, f"the replay's peak memory grew by {grew_mib:.0f} MiB for a 48 MB day"
    assert res.records == 1_500_000 and hash(np.concatenate(kept).tobytes()) == digest
    # the state at a start time late in the day: every record before it, the file having no checkpoint
    last = dt.datetime.combine(d, dt.time(), IST) + dt.timedelta(microseconds=int(timestamps(kept[-1])[-1]) // 1000)
    del kept
    res, grew_mib = peak_growth_mib(lambda: replay(tmp_path, last, into=lambda recs, feed: None, state=True))
    assert res.state_records > 1_400_000
    assert grew_mib < 16, f"the state's replay grew the peak memory by {grew_mib:.0f} MiB for a 48 MB day"


def test_time_bounds_and_token_filter(archive):
    root, files = archive
    d = DAYS[1]
    ts = timestamps(files[(d, "NSE_FO")])
    t0, t1 = int(ts[500]), int(ts[2000])
    start = dt.datetime(d.year, d.month, d.day, tzinfo=IST) + dt.timedelta(microseconds=t0 // 1000)
    end = dt.datetime(d.year, d.month, d.day) + dt.timedelta(microseconds=t1 // 1000)   # naive = IST
    got, res = collect(root, start, end, feeds=["NSE_FO"])
    recs = np.concatenate([r for _, r in got])
    lo, hi = t0 // 1000 * 1000, t1 // 1000 * 1000
    want = files[(d, "NSE_FO")][(ts >= lo) & (ts < hi)]
    assert recs.tobytes() == want.tobytes()
    assert res.next_seq["NSE_FO"] == 1000 + int(np.searchsorted(ts, hi))
    got, _ = collect(root, d, feeds="NSE_EQ", tokens=[3, 4])
    recs = np.concatenate([r for _, r in got])
    src = files[(d, "NSE_EQ")]
    assert recs.tobytes() == src[np.isin(src["token"], [3, 4])].tobytes()


@pytest.mark.parametrize("bound", [dt.datetime(2107, 1, 26, 20, 11, 11, 827287, tzinfo=IST),
                                   "2107-01-26T20:11:11.827287", "2107-01-26T14:41:11.827287+00:00"])
def test_a_time_bound_is_exact_to_the_microsecond_far_from_1970_too(tmp_path, bound):
    """replay's time bounds went through a float (datetime.timestamp() * 1e6), whose 53 bits hold a day's
    microseconds exactly only until the 2030s: from 2107-01-26T20:11:11.827287 IST it made start one
    microsecond early, replaying a record stamped before it (and an end as early, leaving one at it out), where
    Journal.between, counting in integers, took the time as given."""
    day = dt.date(2107, 1, 26)
    at = (dt.datetime(2107, 1, 26, 20, 11, 11, 827287, tzinfo=IST)
          - dt.datetime(2107, 1, 26, tzinfo=IST)) // dt.timedelta(microseconds=1) * 1000
    recs = make_records(3, seed=5)
    set_timestamps(recs, [at - 1000, at, at + 1000])            # 1 us before the bound, at it, 1 us after
    with JournalWriter(tmp_path, "NSE_FO", day, flush_interval=None) as w:
        w.append(recs)
    got, _ = collect(tmp_path, bound, "2107-01-27", feeds=["NSE_FO"])
    assert timestamps(np.concatenate([r for _, r in got])).tolist() == [at, at + 1000]
    got, _ = collect(tmp_path, day, bound, feeds=["NSE_FO"])
    assert timestamps(np.concatenate([r for _, r in got])).tolist() == [at - 1000]


def test_reversed_bounds_are_refused_not_an_empty_replay(archive):
    """Bounds given the wrong way round are a mistake, not a quiet day: replay and export say so."""
    root, _ = archive
    with pytest.raises(ValueError, match="end .* is before start"):
        collect(root, DAYS[2], DAYS[0])
    d = DAYS[1]
    t = dt.datetime(d.year, d.month, d.day, 9, 15, 1)                # within the fixture's records
    with pytest.raises(ValueError, match="end .* is before start"):
        collect(root, t, t - dt.timedelta(microseconds=1))
    got, res = collect(root, t, t)                                 # [t, t): empty, not an error
    assert got == [] and res.records == 0
    got, _ = collect(root, t, d, feeds=["NSE_FO"])                # a time up to the end of its own day
    assert sum(len(r) for _, r in got) > 0
    pytest.importorskip("pyarrow")
    from vega.journal import export
    with pytest.raises(ValueError, match="end date 2026-11-19 is before start date 2026-11-23"):
        export(root, root / "out", DAYS[2], DAYS[0], progress=False)
    assert not (root / "out").exists()


def test_a_mistyped_root_or_feed_is_refused_not_an_empty_replay(archive, tmp_path):
    root, _ = archive
    sink = lambda recs, feed: None                   # noqa: E731
    with pytest.raises(FileNotFoundError, match="no such journal root directory"):
        replay(root / "nope", DAYS[0], into=sink, feeds=["NSE_FO"])
    with pytest.raises(FileNotFoundError, match=r"no NFO_IDX/ directory \(feeds there: NSE_FO, NSE_EQ\)"):
        replay(root, DAYS[0], into=sink, feeds=["NSE_FO", "NFO_IDX"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a journal root"):
        replay(tmp_path / "empty", DAYS[0], into=sink)
    assert replay(root, DAYS[0], into=sink, feeds=["NSE_FO"]).records == 3000


@pytest.mark.parametrize("tokens", [[3, 4], {3, 4}, (4, 3), range(3, 5), np.array([3, 4], dtype=np.int64),
                                    (t for t in (3, 4))])
def test_tokens_are_any_collection_of_ints(archive, tokens):
    root, files = archive
    got, _ = collect(root, DAYS[1], feeds="NSE_EQ", tokens=tokens)
    src = files[(DAYS[1], "NSE_EQ")]
    assert np.concatenate([r for _, r in got]).tobytes() == src[np.isin(src["token"], [3, 4])].tobytes()


def test_tokens_over_several_feeds_replay_the_records_of_the_unfiltered_replay_whole_runs_at_a_time(archive):
    """replay(tokens=) over several feeds filtered the records after merging the feeds in time order, so a feed's
    kept records came cut into arrays of a few records wherever another feed's (left out) fell between them: each
    a delivery of its own, which made it thousands of times slower than one feed.  The records and their order
    are those of the replay without tokens, filtered; a feed's run between two kept records of another feed is
    one array, read-only as ever."""
    root, files = archive
    keep = [3, 4, 17]
    whole, _ = collect(root, DAYS[0], DAYS[-1], feeds=FEEDS, batch=777)
    want = [(f, r.tobytes()) for f, recs in whole for r in recs if int(r["token"]) in keep]
    seen = []
    res = replay(root, DAYS[0], DAYS[-1], feeds=FEEDS, batch=777, tokens=keep,
                 into=lambda recs, feed: seen.append((feed, recs)))
    assert [(f, r.tobytes()) for f, recs in seen for r in recs] == want and res.records == len(want)
    assert not any(recs.flags.writeable for _, recs in seen)
    # tokens of one feed only, whose records interleave with the other's: one array per slice of the feed
    root = root / "apart"
    fo = make_records(3000, seed=1, max_step=3_000_000)
    eq = make_records(3000, seed=2, max_step=3_000_000)
    eq["token"] += 100                                # no token of NSE_FO's
    for f, recs in (("NSE_FO", fo), ("NSE_EQ", eq)):
        with JournalWriter(root, f, DAYS[0], flush_interval=None) as w:
            w.append(recs)
    seen = []
    replay(root, DAYS[0], feeds=FEEDS, batch=100_000, tokens=range(1, 51),
           into=lambda recs, feed: seen.append((feed, recs)))
    assert [f for f, _ in seen] == ["NSE_FO"] and seen[0][1].tobytes() == fo.tobytes()


@pytest.mark.parametrize("tokens, error, says", [
    (3, TypeError, "collection of tokens, not int"),
    ("34", TypeError, "collection of tokens, not str"),
    ([3.5], TypeError, "must be integers"),
    (np.array([3.0]), TypeError, "must be integers"),
    ([-1], ValueError, "0 .. 2\\*\\*32 - 1, not -1"),
    ([1 << 32], ValueError, "not 4294967296"),
])
def test_bad_tokens_are_refused_with_a_clear_error(archive, tokens, error, says):
    root, _ = archive
    with pytest.raises(error, match=says):
        collect(root, DAYS[1], feeds="NSE_EQ", tokens=tokens)


def test_targets_store_ring_list_and_mapping(archive):
    root, files = archive
    d = DAYS[0]

    class Ring:
        def __init__(self):
            self.out = []

        def publish(self, recs):
            self.out.append(np.array(recs))

    store, ring, lst = Fold(), Ring(), []
    replay(root, d, feeds=["NSE_FO"], into=store)
    ref = Fold()
    ref.apply_records(files[(d, "NSE_FO")])
    assert store.state == ref.state
    replay(root, d, into={"NSE_FO": ring, "NSE_EQ": lst})
    assert np.concatenate(ring.out).tobytes() == files[(d, "NSE_FO")].tobytes()
    assert np.concatenate(lst).tobytes() == files[(d, "NSE_EQ")].tobytes()
    only = []
    res = replay(root, d, into={"NSE_EQ": only})
    assert res.records == len(files[(d, "NSE_EQ")]) and "NSE_FO" not in res.next_seq
    with pytest.raises(TypeError):
        replay(root, d, into=object())
    with pytest.raises(TypeError):
        replay(root, d)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="speed must be a finite number > 0"):
            replay(root, d, into=lst, speed=bad)
        with pytest.raises(ValueError, match="max_gap must be a finite number of seconds > 0"):
            replay(root, d, into=lst, speed=1.0, max_gap=bad)
    for bad in (1e308, 1e-300):                          # overflowed the tick, or the due time, mid-replay
        with pytest.raises(ValueError, match=r"speed must be a finite number > 0 in 1e-6 \.\. 1e9"):
            replay(root, d, into=lst, speed=bad)


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, s):
        assert s > 0
        self.slept.append(s)
        self.now += s


@pytest.mark.parametrize("speed", [1.0, 10.0, 250.0])
def test_paced_replay_keeps_scaled_gaps(archive, speed):
    root, files = archive
    fc = FakeClock()
    seen = []
    res = replay(root, DAYS[1], feeds=FEEDS, speed=speed, tick=0.002, clock=fc.clock, sleep=fc.sleep,
                 max_gap=None, into=lambda recs, feed: seen.append((fc.now, recs.copy(), feed)))
    assert res.records == sum(len(files[(DAYS[1], f)]) for f in FEEDS)
    first_abs = day_epoch_ns(DAYS[1]) + min(int(timestamps(files[(DAYS[1], f)])[0]) for f in FEEDS)
    for when, recs, _ in seen:
        k = day_epoch_ns(DAYS[1]) + int(np.maximum.accumulate(timestamps(recs))[0])
        # delivered exactly when the recorded gap, scaled, has passed
        assert when - 100.0 == pytest.approx((k - first_abs) / speed / 1e9, abs=1e-9)
        # a delivered group spans at most one tick of wall time
        span = int(timestamps(recs).max() - timestamps(recs).min())
        assert span / speed / 1e9 <= 0.002 + 1e-12
    assert sum(fc.slept) == pytest.approx(seen[-1][0] - 100.0)


def test_paced_replay_shortens_overnight_gaps(archive):
    root, files = archive
    fc = FakeClock()
    replay(root, DAYS[0], DAYS[1], feeds=["NSE_FO"], speed=1.0, max_gap=1.0, clock=fc.clock, sleep=fc.sleep,
           into=lambda recs, feed: None)
    span = [timestamps(files[(d, "NSE_FO")]) for d in DAYS[:2]]
    day_len = sum(int(s[-1] - s[0]) for s in span) / 1e9
    assert fc.now - 100.0 <= day_len + 1.0 + 1e-6   # the overnight gap counted as at most 1 s


def test_a_paced_replay_over_two_days_does_not_sleep_through_the_night_by_default(archive):
    """max_gap defaults to 5 s of feed time, as the CLI's --max-gap: replay(speed=1.0) of two days used to
    sleep the whole recorded night between them; max_gap=None still keeps every gap as recorded."""
    root, files = archive
    span = [timestamps(files[(d, "NSE_FO")]) for d in DAYS[:2]]
    day_len = sum(int(s[-1] - s[0]) for s in span) / 1e9
    night = (day_epoch_ns(DAYS[1]) + int(span[1][0]) - day_epoch_ns(DAYS[0]) - int(span[0][-1])) / 1e9
    for kw, at_most, at_least in (({}, day_len + 5.0, 0.0), ({"max_gap": None}, None, night)):
        fc = FakeClock()
        replay(root, DAYS[0], DAYS[1], feeds=["NSE_FO"], speed=1.0, clock=fc.clock, sleep=fc.sleep,
               into=lambda recs, feed: None, **kw)
        slept = fc.now - 100.0
        assert slept >= at_least and (at_most is None or slept <= at_most + 1e-6), (kw, slept, day_len, night)


def test_paced_replay_in_real_time_is_not_early(tmp_path):
    import time
    recs = make_records(200, seed=3, max_step=1_000_000)           # ~0.1 s of feed time
    with JournalWriter(tmp_path, "NSE_FO", DAYS[0]) as w:
        w.append(recs)
    span = int(timestamps(recs)[-1] - timestamps(recs)[0]) / 1e9
    t = time.monotonic()
    res = replay(tmp_path, DAYS[0], speed=2.0, into=[])
    assert res.records == 200 and time.monotonic() - t >= span / 2.0 - 0.002


def test_replay_then_live_handover(tmp_path):
    """A consumer replays the journal of a day being written, then continues from a ring at next_seq."""
    stream = make_records(20_000, seed=21)
    ring = []                                        # (seq, record) of the last records published live
    w = JournalWriter(tmp_path, "NSE_FO", DAYS[0], first_seq=500, flush_interval=None, buffer_records=4096)
    for a in range(0, 20_000, 300):
        part = stream[a:a + 300]
        seq0 = w.next_seq
        w.append(part)
        ring.extend((seq0 + i, part[i:i + 1]) for i in range(len(part)))
        ring = ring[-8192:]                          # the ring only keeps the newest records
        if a == 15_000:
            break
    got = []
    res = replay(tmp_path, DAYS[0], into=got)          # sees what reached the file so far
    nxt = res.next_seq["NSE_FO"]
    assert nxt < w.next_seq                          # some records are still only in the writer's buffer
    assert ring[0][0] <= nxt                         # the ring still holds the handover point
    live = [r for s, r in ring if s >= nxt]
    whole = np.concatenate(got + live)
    assert whole.tobytes() == stream[: w.next_seq - 500].tobytes()   # no gap, no repeat
    w.close()


def test_a_time_range_of_more_than_three_days_is_replayed(archive):
    """A time bound is 48 bits of ns after each file's 00:00 IST at most (3.26 days): an end time four days
    after the first day's file was handed to that file's seek as a time beyond any stamp, ValueError."""
    root, files = archive
    start = dt.datetime(DAYS[0].year, DAYS[0].month, DAYS[0].day, 9, 15, 1)
    end = dt.datetime(DAYS[-1].year, DAYS[-1].month, DAYS[-1].day, 9, 15, 2)
    lo = int(start.replace(tzinfo=IST).timestamp()) * 10**9
    hi = int(end.replace(tzinfo=IST).timestamp()) * 10**9
    assert hi - day_epoch_ns(DAYS[0]) >= 1 << 48
    got, res = collect(root, start, end, feeds=FEEDS)
    want = [e for e in expected(files, DAYS, FEEDS) if lo <= e[0] < hi]
    flat = [(f, r) for f, recs in got for r in recs]
    assert 0 < len(want) == len(flat) == res.records
    assert all(f == e[3] and r.tobytes() == e[4].tobytes() for (f, r), e in zip(flat, want))


def _late_night(root):
    """Day DAYS[1] with rollover 02:00 holding records from 23:50 to ~00:30, and the next day's morning."""
    day, nxt = DAYS[1], DAYS[1] + dt.timedelta(days=1)
    late = make_records(4000, seed=5, t0=(23 * 3600 + 50 * 60) * 10**9, max_step=1_200_000_000)  # to ~00:30
    assert int(timestamps(late)[-1]) > 86_400 * 10**9 + 20 * 60 * 10**9
    morning = make_records(500, seed=6, t0=9 * 3600 * 10**9, max_step=10**9)
    with JournalWriter(root, "NSE_FO", day, rollover="02:00", flush_interval=None, index_stride=64) as w:
        w.append(late)
    with JournalWriter(root, "NSE_FO", nxt, flush_interval=None, first_seq=len(late)) as w:
        w.append(morning)

    def at(h, m):
        return dt.datetime(nxt.year, nxt.month, nxt.day, h, m, tzinfo=IST)
    return day, nxt, late, morning, at


def test_a_start_after_midnight_replays_the_day_befores_records_past_midnight(tmp_path):
    """A day whose rollover time is after 00:00 keeps the records stamped up to then in its own file (ts48 past
    24 h).  A replay starting after midnight looked only in the files of the new date and missed them."""
    day, nxt, late, morning, at = _late_night(tmp_path)
    stamped = [(day_epoch_ns(day) + t, late[i:i + 1]) for i, t in enumerate(timestamps(late).tolist())] + \
              [(day_epoch_ns(nxt) + t, morning[i:i + 1]) for i, t in enumerate(timestamps(morning).tolist())]
    for start, end in ((at(0, 5), at(0, 15)), (at(0, 5), nxt), (at(0, 5), at(9, 5)), (at(1, 0), nxt)):
        lo = int(start.timestamp()) * 10**9
        hi = day_epoch_ns(nxt) + 86_400 * 10**9 if isinstance(end, dt.date) and not isinstance(end, dt.datetime) \
            else int(end.timestamp()) * 10**9
        want = [r for t, r in stamped if lo <= t < hi]
        got, res = collect(tmp_path, start, end)
        assert np.concatenate([r for _, r in got] or [late[:0]]).tobytes() == \
            np.concatenate(want or [late[:0]]).tobytes(), (start, end)
        assert res.records == len(want)


def test_next_seq_of_a_range_ending_in_a_night_past_midnight_is_in_that_nights_file(tmp_path):
    """next_seq is the first record not replayed: in the late file, not the next day's first (a ring reader
    started at the next day's number would skip the rest of the night); last_ts the last record replayed."""
    day, nxt, late, morning, at = _late_night(tmp_path)
    for start in (dt.datetime(day.year, day.month, day.day, 23, 55, tzinfo=IST), at(0, 5)):
        got, res = collect(tmp_path, start, at(0, 15))
        cut = int(np.searchsorted(timestamps(late), int(at(0, 15).timestamp()) * 10**9 - day_epoch_ns(day)))
        assert res.next_seq["NSE_FO"] == cut < len(late) and res.last_date["NSE_FO"] == day
        assert res.last_ts["NSE_FO"] == day_epoch_ns(day) + int(timestamps(late)[cut - 1])


def test_the_result_names_the_days_and_feeds_without_a_file(archive):
    """A range with no file for a feed on some day (a weekend, a day the capture missed) replays what there is
    and says which (date, feed) had no file: a replay of only such days returned 0 records without a word,
    like a legitimately late start."""
    root, files = archive
    (root / "NSE_EQ" / f"{DAYS[1]:%Y%m%d}.bin").unlink()
    got, res = collect(root, DAYS[0], DAYS[-1], feeds=FEEDS)
    days = [DAYS[0] + dt.timedelta(days=i) for i in range((DAYS[-1] - DAYS[0]).days + 1)]
    have = {(d, f) for d, f in files if not (d == DAYS[1] and f == "NSE_EQ")}
    assert res.missing == [(d, f) for d in days for f in FEEDS if (d, f) not in have]
    assert res.files == [root / f / f"{d:%Y%m%d}.bin" for d in days for f in FEEDS if (d, f) in have]
    assert res.records == sum(len(files[k]) for k in have)
    weekend = DAYS[1] + dt.timedelta(days=1)
    got, res = collect(root, weekend, feeds=FEEDS)
    assert got == [] and res.records == 0 and res.files == []
    assert res.missing == [] and res.outside == [(weekend, weekend)]     # no feed has a file: a range of days
    two = dt.timedelta(days=2)
    got, res = collect(root, DAYS[0] - two, DAYS[-1] + two, feeds=FEEDS)         # days without files around
    assert res.missing == [(d, f) for d in days for f in FEEDS if (d, f) not in have]
    assert res.outside == [(DAYS[0] - two, DAYS[0] - two / 2), (DAYS[-1] + two / 2, DAYS[-1] + two)]
    midnight = dt.datetime(weekend.year, weekend.month, weekend.day)          # an end at 00:00: not that day
    got, res = collect(root, DAYS[0], midnight, feeds=FEEDS)
    assert res.missing == [(DAYS[1], "NSE_EQ")]
    assert res.records == sum(len(files[k]) for k in have if k[0] <= DAYS[1])
    late = dt.datetime(DAYS[0].year, DAYS[0].month, DAYS[0].day, 23, 0)      # after the day's records
    got, res = collect(root, late, feeds=FEEDS)
    assert got == [] and res.missing == [] and res.files == [root / f / f"{DAYS[0]:%Y%m%d}.bin" for f in FEEDS]


def test_a_replay_of_centuries_reads_the_files_there_and_names_the_rest_as_ranges(archive):
    """The range 0001-01-01 .. 9999-12-31 (dates or times) replays the files there, as fast as their own range:
    the replay looked at each of its 3.65 million days twice and listed ~7 million (day, feed) as missing (the
    command line cut such ranges to its files first; the library ran for minutes, and a start time on
    0001-01-01 ran off the calendar for the day before's night)."""
    root, files = archive
    want, res0 = collect(root, DAYS[0], DAYS[-1], feeds=FEEDS)
    one = dt.timedelta(days=1)
    for start, end in ((dt.date.min, dt.date.max), (dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59))):
        got, res = collect(root, start, end, feeds=FEEDS)
        assert [(f, r.tobytes()) for f, r in got] == [(f, r.tobytes()) for f, r in want]
        assert res.records == res0.records and res.files == res0.files and res.missing == res0.missing
        assert res.missing == [(d, f) for d in (DAYS[1] + one, DAYS[1] + 2 * one) for f in FEEDS]
        assert res.outside == [(dt.date.min, DAYS[0] - one), (DAYS[-1] + one, dt.date.max)]
        assert res.next_seq == res0.next_seq and res.last_ts == res0.last_ts


def test_a_store_replayed_from_a_time_holds_the_live_state_at_the_end(tmp_path):
    """A store target of a replay from a time of day gets the state at that time first (nearest checkpoint,
    then the records after it), so that at the end it equals the live store at the end time field by field.
    It used to get only the records of the range: a store replayed from 10:41 to 10:49 held the tokens that
    changed in those 8 minutes, and only the fields that changed.  Other targets get exactly the range."""
    import vega
    from vega import nse
    from store_helpers import by_token, market_equal
    day = DAYS[1]
    t_open = day_epoch_ns(day) + 9 * 3600 * 10**9 + 15 * 60 * 10**9
    live = vega.Store(20000)
    w = JournalWriter(tmp_path, "NSE_FO", day, checkpoint_interval=0.5, flush_interval=None)
    seen = []
    h = vega.FeedHandler("FO", live, journal=w, on_records=lambda r: seen.append((now[0], np.array(r))))
    now = [0]
    snaps = {}
    for i, dg in enumerate(nse.sample_stream("FO", 1200, seed=4)):
        now[0] = t_open + i * 2_000_000                  # 2.4 s of feed time, a checkpoint every 0.5 s
        if i % 40 == 0:
            snaps[now[0]] = live.snapshot()           # the live state just before this time
        h.process_batch([dg], now_ns=now[0])
    h.close()
    w.close()
    with vega.Journal.open(w.path) as j:
        ck = day_epoch_ns(day) + j.checkpoints["ts"]
    times = sorted(snaps)

    def at(ns):
        return dt.datetime.fromtimestamp(0, IST) + dt.timedelta(microseconds=ns // 1000)   # whole us here

    quiet = 0
    for a, b in [(3, 5), (10, 11), (2, 27), (17, 18), (25, 29)]:
        lo, hi = times[a], times[b]
        inside = ((ck >= lo) & (ck < hi)).any()
        quiet += not inside                            # no checkpoint inside: only the state brings the rest
        st = vega.Store(20000)
        res = replay(tmp_path, at(lo), at(hi), into=st)
        market_equal(by_token(st.snapshot()), by_token(snaps[hi]))
        assert res.state_records > 0
        got = []
        res2 = replay(tmp_path, at(lo), at(hi), into=lambda r, f: got.append(np.array(r)))   # a callback
        want = [r for t, r in seen if lo <= t < hi]
        assert res2.state_records == 0 and res2.records == res.records
        assert live_records(np.concatenate(got)).tobytes() == np.concatenate(want).tobytes()
        got = []
        res3 = replay(tmp_path, at(lo), at(hi), into=lambda r, f: got.append(np.array(r)), state=True)
        assert res3.state_records == res.state_records
        again = vega.Store(20000)
        again.apply_records(np.concatenate(got), day_base_ns=day_epoch_ns(day))
        market_equal(by_token(again.snapshot()), by_token(snaps[hi]))
        st = vega.Store(20000)
        assert replay(tmp_path, at(lo), at(hi), into=st, state=False).state_records == 0
        if not inside:
            assert len(st) < len(snaps[hi])           # the range alone is not the state
    assert quiet >= 2


def test_a_days_checkpoints_leave_a_replayed_store_as_its_records_make_it(tmp_path):
    """A whole day replayed into a store crosses the day's checkpoints.  Each holds the state the records
    before it built, so it must change nothing: the store ends byte for byte (but the sequence locks) as the
    day's live records alone make it, last update times and sources, counts and last_md_ns included.  Before,
    every checkpoint stamped every token with its own time and source: a token last traded at 09:15:00.1
    read as updated at the last checkpoint, and a reader's staleness test was wrong."""
    import vega
    from vega import nse
    day = DAYS[1]
    t_open = day_epoch_ns(day) + 9 * 3600 * 10**9 + 15 * 60 * 10**9
    live = vega.Store(20000)
    w = JournalWriter(tmp_path, "NSE_FO", day, checkpoint_interval=0.5, flush_interval=None)
    h = vega.FeedHandler("FO", live, journal=w)
    for i, dg in enumerate(nse.sample_stream("FO", 1200, seed=4)):
        h.process_batch([dg], now_ns=t_open + i * 2_000_000)        # 2.4 s, a checkpoint every 0.5 s
    h.close()
    w.close()
    with vega.Journal.open(w.path) as j:
        assert len(j.checkpoints) >= 4
        recs = np.array(live_records(j.records))
        assert len(recs) < len(j)
    replayed, rebuilt = vega.Store(20000), vega.Store(20000)
    replay(tmp_path, day, into=replayed)
    rebuilt.apply_records(recs, day_base_ns=day_epoch_ns(day))
    a, b = replayed.snapshot(), rebuilt.snapshot()
    a["seq"] = b["seq"] = 0
    a, b = a[np.argsort(a["token"])], b[np.argsort(b["token"])]
    assert len(a) == len(live) and a.tobytes() == b.tobytes()
    # and the checkpoints did not hide what the live store says: times and sources of the last merge that
    # changed something (a merge that changes nothing emits no record, docs/FORMATS.md 3.4)
    changed = np.isin(a["token"], np.unique(recs["token"]))
    lv = live.snapshot()
    lv = lv[np.argsort(lv["token"])]
    assert (a["last_update_ns"][changed] <= lv["last_update_ns"][changed]).all()
    assert (a["last_update_ns"][changed] == lv["last_update_ns"][changed]).mean() > 0.5


@pytest.mark.parametrize("damage", ["header", "misnamed", "not a journal"])
def test_a_damaged_day_is_refused_before_anything_is_delivered(archive, damage):
    """A range holding a day whose file cannot be replayed is refused with the file named, before the days
    before it go into the target (they did, then the replay raised on reaching the damaged day)."""
    from vega.journal import JournalError
    root, files = archive
    p = root / "NSE_EQ" / f"{DAYS[2]:%Y%m%d}.bin"
    if damage == "header":
        b = bytearray(p.read_bytes())
        b[20] ^= 1                                      # symbol_id: the header checksum no longer matches
        p.write_bytes(bytes(b))
    elif damage == "misnamed":
        p.write_bytes((root / "NSE_EQ" / f"{DAYS[1]:%Y%m%d}.bin").read_bytes())    # another day's copy
    else:
        p.write_bytes(b"not a journal at all" * 10)
    for start in (DAYS[0], dt.datetime(DAYS[0].year, DAYS[0].month, DAYS[0].day, 9, 20)):
        got = []
        with pytest.raises(JournalError, match=str(p)):
            replay(root, start, DAYS[2], into=lambda r, f: got.append(r))
        assert got == []
    got, res = collect(root, DAYS[0], DAYS[1])                     # the days before it still replay
    assert res.records == sum(len(files[(d, f)]) for d in DAYS[:2] for f in FEEDS)


def test_a_damaged_day_before_a_start_time_is_named_as_such(archive):
    """From a time, the day before's file is read for its night past midnight: a damage there is refused
    with the file named and why a replay of the next day reads it."""
    from vega.journal import JournalError
    root, _ = archive
    p = root / "NSE_EQ" / f"{DAYS[0]:%Y%m%d}.bin"
    p.write_bytes(b"not a journal at all" * 10)
    nxt = DAYS[0] + dt.timedelta(days=1)
    with pytest.raises(JournalError, match=f"{p}: .*the day before the start's: read for its records past "
                                           f"midnight"):
        collect(root, dt.datetime(nxt.year, nxt.month, nxt.day, 10, 0), feeds=FEEDS)
    got, res = collect(root, DAYS[1], feeds=FEEDS)                 # a date start does not read it
    assert res.records > 0


@pytest.mark.parametrize("damage", ["unknown group", "cut update"])
def test_a_ring_refuses_a_damaged_record_as_a_store_does(tmp_path, damage):
    """A replay into a store stops at a record no store applies (or an update cut short), naming the file and
    the record; one into a vega.Ring published it to the ring's readers without a word.  The ring gets the
    whole updates before it, then the same ValueError."""
    import uuid
    from vega import Ring, Store
    from vega.records import CONTINUED
    d = DAYS[0]
    recs = make_records(200, seed=3)
    recs["token"][120] = recs["token"][119] % 50 + 1
    with JournalWriter(tmp_path, "NSE_FO", d, flush_interval=None) as w:
        w.append(recs)
    path = tmp_path / "NSE_FO" / f"{d:%Y%m%d}.bin"
    if damage == "unknown group":
        recs["group"][120] = 99
        at, says = 120, "record 120: unknown group"
    else:                                               # (the writer refuses to cut an update: damaged bytes)
        recs["flags"][119] |= CONTINUED                 # more of token's update should follow: another token does
        at, says = 119, "record 120: a CONTINUED update changes token"
    with open(path, "r+b") as f:
        f.seek(64)
        f.write(recs.tobytes())
    with pytest.raises(ValueError, match=f"{path}: {says}"):
        replay(tmp_path, d, into=Store(1000), batch=64)
    name = f"vega-test-{uuid.uuid4().hex[:10]}"
    ring = Ring.create(name)
    try:
        rd = ring.reader("NSE_FO", start="oldest")
        with pytest.raises(ValueError, match=f"{path}: {says}"):
            replay(tmp_path, d, into=ring, batch=64)
        got = rd.poll(1000)
        assert got.tobytes() == recs[:at].tobytes()       # the whole updates before it, nothing after
    finally:
        ring.close()
        Ring.unlink(name)


def test_one_store_for_several_feeds_is_refused(archive):
    """Each feed numbers its tokens apart (an F&O contract and a cash-market share can have the same token):
    one store given the records of two feeds mixed them silently.  A store each, or one feed, replays."""
    import vega
    root, files = archive
    st = vega.Store(4096)
    with pytest.raises(ValueError, match="one store for the feeds NSE_FO, NSE_EQ"):
        replay(root, DAYS[0], into=st)
    with pytest.raises(ValueError, match="one store for the feeds NSE_FO, NSE_EQ"):
        replay(root, DAYS[0], into={"NSE_FO": st, "NSE_EQ": st})
    assert len(st) == 0                                            # refused before anything was applied
    stores = {f: vega.Store(4096) for f in FEEDS}
    res = replay(root, DAYS[0], into=stores)
    assert res.records == sum(len(files[(DAYS[0], f)]) for f in FEEDS)
    for f in FEEDS:
        assert set(stores[f].snapshot()["token"].tolist()) == set(files[(DAYS[0], f)]["token"].tolist())
    assert replay(root, DAYS[0], feeds=["NSE_EQ"], into=st).records == len(files[(DAYS[0], "NSE_EQ")])


def test_into_mapping_keys_are_feed_names_in_any_case_and_checked(archive):
    """into={feed: target} matches its keys as feeds= matches names (any case); a key that names no feed (a
    typo, "FO", "NSE-FO") replayed nothing and said nothing.  A known feed that is not replayed is skipped."""
    import vega
    root, files = archive
    d = DAYS[0]
    store = vega.Store(4096)
    res = replay(root, d, into={"nse_fo": store})
    assert res.records == len(files[(d, "NSE_FO")]) and list(res.next_seq) == ["NSE_FO"]
    assert set(store.snapshot()["token"].tolist()) == set(files[(d, "NSE_FO")]["token"].tolist())
    got = []
    res = replay(root, d, into={"Nse_Eq": lambda recs, feed: got.append(feed)})
    assert res.records == len(files[(d, "NSE_EQ")]) and set(got) == {"NSE_EQ"}      # the feed's own name
    for key in ("FO", "NSE-FO", "nse_fo ", "", 1):
        with pytest.raises(ValueError, match=rf"into={{{key!r}: \.\.\.}} names no feed; expected one of "
                                             rf"NSE_FO, NSE_EQ, NFO_IDX"):
            replay(root, d, into={key: vega.Store(4096)})
    with pytest.raises(ValueError, match="names no feed"):                # refused even beside a good key
        replay(root, d, into={"NSE_FO": vega.Store(4096), "NSE_F0": vega.Store(4096)})
    with pytest.raises(ValueError, match="into names feed NSE_FO twice \\('nse_fo', 'NSE_FO'\\)"):
        replay(root, d, into={"nse_fo": [], "NSE_FO": []})
    # a known feed that is not replayed (not in feeds=, or no directory) stays allowed: skipped, as documented
    res = replay(root, d, feeds=["NSE_EQ"], into={"NSE_FO": vega.Store(4096), "nse_eq": [], "NFO_IDX": []})
    assert res.records == len(files[(d, "NSE_EQ")]) and list(res.next_seq) == ["NSE_EQ"]
    with pytest.raises(ValueError, match="one store for the feeds NSE_FO, NSE_EQ"):   # the shared-store check
        st = vega.Store(4096)
        replay(root, d, into={"nse_fo": st, "NSE_EQ": st})


def test_batch_and_tick_are_checked_before_anything_is_read(archive):
    """batch= was not checked: a negative one failed deep inside with an IndexError, None with a TypeError about
    '+', a float was taken; tick= (None, a string, NaN) failed with unrelated errors, or only when paced.  Now
    each is a TypeError or ValueError naming the argument, before anything is delivered."""
    root, files = archive
    d = DAYS[1]
    got = []
    for bad in (0, -1, -1000):
        with pytest.raises(ValueError, match=rf"replay: batch \(records per array\) must be an int >= 1, not {bad}"):
            replay(root, d, into=got, batch=bad)
    for bad, kind in ((None, "NoneType"), (1e4, "float"), (np.float64(100), "float64"), ("100", "str"),
                      (True, "bool"), (np.bool_(True), "bool")):
        with pytest.raises(TypeError, match=rf"replay: batch \(records per array\) must be an int, not {kind}"):
            replay(root, d, into=got, batch=bad)
    for bad in (0, -0.001, 0.0, float("nan"), float("inf")):
        for speed in (None, 1.0):
            with pytest.raises(ValueError, match="replay: tick must be a finite number of seconds > 0"):
                replay(root, d, into=got, speed=speed, tick=bad)
    for bad in (None, "0.01", True):
        with pytest.raises(TypeError, match="replay: tick must be a number of seconds > 0, not"):
            replay(root, d, into=got, speed=1.0, tick=bad)
    for kw in ({"speed": "2"}, {"speed": True}, {"speed": 1.0, "max_gap": "5"}):   # (a bare '>' TypeError)
        with pytest.raises(TypeError, match=f"replay: {list(kw)[-1]} must be a number"):
            replay(root, d, into=got, **kw)
    assert got == []
    with pytest.raises(TypeError, match="live_records takes a CHANGE_RECORD_DTYPE array, not an array of float64"):
        live_records(np.zeros(4))
    whole = np.concatenate([files[(d, f)] for f in FEEDS])
    for ok in (np.int64(700), np.uint16(300), 1):                  # numpy integers and 1 are counts
        arrays, res = collect(root, d, feeds=FEEDS, batch=ok)
        assert res.records == len(whole) and max(len(r) for _, r in arrays) <= int(ok)
    fc = FakeClock()
    res = replay(root, d, feeds=FEEDS, speed=2.0, tick=np.float32(0.01), clock=fc.clock, sleep=fc.sleep, into=[])
    assert res.records == len(whole)


def test_a_tick_below_a_nanosecond_of_feed_time_groups_by_stamp(archive):
    """tick * speed below 1 ns of feed time rounded to a tick of 0, which delivered whole batches at their
    first record's time (up to the batch's span early); the finest tick groups records of one stamp."""
    root, files = archive
    fc = FakeClock()
    seen = []
    res = replay(root, DAYS[1], feeds=FEEDS, speed=1.0, tick=1e-12, clock=fc.clock, sleep=fc.sleep,
                 into=lambda recs, feed: seen.append(recs.copy()))
    assert res.records == sum(len(files[(DAYS[1], f)]) for f in FEEDS)
    assert all(len(np.unique(timestamps(r))) == 1 for r in seen)
