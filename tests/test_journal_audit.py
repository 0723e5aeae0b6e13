"""Journal defects from the user API audit (findings 1, 2, 6, 10, 11, the journal part of 13): replay slices end
on update boundaries, replayed and snapshot stores carry the journal's own day in last_update_ns, a closed
writer refuses a later day's batch and rollover() without failing, append refuses arrays that are not change
records, snapshot_at's default store has room to continue, and the smaller repr / message / argument fixes."""
import datetime as dt
import re

import numpy as np
import pytest

import vega
from vega import nse
from vega.journal import IST, Journal, JournalError, JournalWriter, day_epoch_ns, replay
from vega.records import CHANGE_RECORD_DTYPE, CONTINUED

from store_helpers import by_token, market_equal

DAY = dt.date(2026, 11, 20)
T0 = day_epoch_ns(DAY) + 10 * 3600 * 10**9              # 10:00 IST on DAY


def _journal_day(root, n_datagrams, seed=3, checkpoint_every=None, capacity=4096):
    """A day of simulated F&O datagrams journaled by a FeedHandler -> (live store, journal path).  With
    ``checkpoint_every`` a checkpoint (KEYFRAME updates of every token) follows every that many datagrams;
    without it one checkpoint ends the day."""
    live = vega.Store(capacity)
    dg = list(nse.sample_stream("FO", n_datagrams, seed=seed))
    with JournalWriter(root, "NSE_FO", DAY, checkpoint_interval=None) as jw:
        h = vega.FeedHandler("FO", live, journal=jw)
        step = checkpoint_every or len(dg)
        for k, a in enumerate(range(0, len(dg), step)):
            h.process_batch(dg[a:a + step], T0 + k * 10**9)
            h.checkpoint()
    return live, jw.path


# -- 1. replay slices end on update boundaries ------------------------------------------------------------------

def test_replay_checkpoint_straddling_the_default_batch_reproduces_the_live_store(tmp_path):
    """Audit finding 1: a checkpoint of ~40,000 KEYFRAME records straddles record 65,536, the default batch end;
    a slice that started inside a token's keyframe chain zeroed the token again (LTP 0 instead of 3265)."""
    live, path = _journal_day(tmp_path, 1800)
    with Journal.open(path) as j:
        n = len(j)
        ck = j.checkpoints
        first = int((ck["offset"][0] - 64) // 32)
        assert first < 65536 < first + int(ck["n_records"][0]) <= n      # the checkpoint straddles the boundary
        assert j.records["flags"][65535] & CONTINUED                        # and the boundary cuts a chain
    rep = vega.Store(4096)
    res = replay(tmp_path, DAY, feeds=["NSE_FO"], into=rep)
    assert res.records == n
    market_equal(by_token(rep.snapshot()), by_token(live.snapshot()))


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_replay_small_batches_with_many_keyframes_reproduce_the_live_store(tmp_path, batch):
    """Audit finding 1 with ``batch=1000``: 12 of 1,053 tokens came out wrong.  A chain longer than ``batch``
    (batch=1, 7) is delivered whole."""
    live, _ = _journal_day(tmp_path, 300, checkpoint_every=60)
    rep = vega.Store(4096)
    replay(tmp_path, DAY, feeds=["NSE_FO"], into=rep, batch=batch)
    market_equal(by_token(rep.snapshot()), by_token(live.snapshot()))


@pytest.mark.parametrize("batch", [1, 5, 1000, 65536])
@pytest.mark.parametrize("speed", [None, 1e9])
def test_replay_callback_never_receives_a_slice_ending_inside_an_update(tmp_path, batch, speed):
    _journal_day(tmp_path, 300, checkpoint_every=60)
    got = []
    res = replay(tmp_path, DAY, feeds=["NSE_FO"], into=lambda recs, feed: got.append(recs.copy()), batch=batch,
                 speed=speed, tick=1e-12)
    assert sum(len(g) for g in got) == res.records
    assert all(len(g) and not g["flags"][-1] & CONTINUED for g in got)
    with Journal.open(tmp_path / "NSE_FO" / "20261120.bin") as j:
        assert np.concatenate(got).tobytes() == j.records.tobytes()


def test_replay_of_two_feeds_ends_every_slice_on_an_update(tmp_path):
    """Two feeds interleaved by time: each slice handed over is whole updates of one feed."""
    stores = {}
    for seg, feed, seed in (("FO", "NSE_FO", 3), ("CM", "NSE_EQ", 4)):
        live = vega.Store(8192)
        with JournalWriter(tmp_path, feed, DAY, checkpoint_interval=None) as jw:
            h = vega.FeedHandler(seg, live, journal=jw)
            dg = list(nse.sample_stream(seg, 200, seed=seed))
            for k, a in enumerate(range(0, len(dg), 50)):
                h.process_batch(dg[a:a + 50], T0 + k * 10**9 + (seg == "CM") * 5 * 10**8)
                h.checkpoint()
        stores[feed] = live
    got = {"NSE_FO": [], "NSE_EQ": []}
    reps = {f: vega.Store(8192) for f in got}

    def sink(recs, feed):
        assert not recs["flags"][-1] & CONTINUED
        got[feed].append(len(recs))
        reps[feed].apply_records(recs)
    replay(tmp_path, DAY, into=sink, batch=100)
    for f in got:
        assert len(got[f]) > 10
        market_equal(by_token(reps[f].snapshot()), by_token(stores[f].snapshot()))


def test_replay_holds_back_an_update_the_file_ends_inside(tmp_path):
    """An open file read while it is written can end inside an update: that update is not replayed (none of
    it), and next_seq is its first record's number, so a ring reader started there gets it whole."""
    recs = np.zeros(6, CHANGE_RECORD_DTYPE)
    recs["token"] = [5, 5, 6, 6, 6, 7]
    recs["group"] = 1
    recs["mask"] = 1
    recs["slots"][:, 0] = [10, 11, 12, 13, 14, 15]
    recs["ts_lo"] = [100, 100, 200, 200, 200, 300]
    recs["flags"] = [CONTINUED, 0, CONTINUED, 0, CONTINUED, 0]
    w = JournalWriter(tmp_path, "NSE_FO", DAY, flush_interval=0)
    try:
        w.append(recs[:5])                     # ends inside token 6's second update
        got = []
        res = replay(tmp_path, DAY, into=lambda r, f: got.append(r.copy()), batch=1)
        assert [len(g) for g in got] == [2, 2]
        assert res.records == 4 and res.next_seq["NSE_FO"] == 4
    finally:
        w.close()
    # a sealed file is replayed to its end, whatever its last record (the writer never leaves an update cut:
    # the records of one update share their stamp, so a rollover moves them together)
    res = replay(tmp_path, DAY, into=lambda r, f: None, batch=1)
    assert res.records == 5 and res.next_seq["NSE_FO"] == 5


# -- 2. the journal's own day in last_update_ns -----------------------------------------------------------------

def test_replay_and_snapshot_at_stamp_the_journals_day(tmp_path):
    """Audit finding 2: a journal of an earlier day replayed, or snapshot, into a store gave today's date."""
    live = vega.Store(4096)
    with JournalWriter(tmp_path, "NSE_FO", DAY) as jw:
        vega.FeedHandler("FO", live, journal=jw).process_batch(list(nse.sample_stream("FO", 50, seed=3)), T0)
    tok = int(live.tokens()[0])
    assert live[tok].last_update_ns == T0
    rep = vega.Store(4096)
    replay(tmp_path, DAY, into=rep)
    with Journal.open(jw.path) as j:
        snap = j.snapshot_at("23:00")
        mine = j.snapshot_at("23:00", into=vega.Store(4096))
    for s in (rep, snap, mine):
        assert s[tok].last_update_ns == T0
        assert s.header["day_base_ns"] == day_epoch_ns(DAY) == live.header["day_base_ns"]   # the store's day too
        assert np.array_equal(by_token(s.snapshot())["last_update_ns"], by_token(live.snapshot())["last_update_ns"])
    # a datetime bound and a mapping target take the same path
    rep2 = vega.Store(4096)
    replay(tmp_path, dt.datetime(2026, 11, 20, 9, 0), dt.datetime(2026, 11, 20, 11, 0), into={"NSE_FO": rep2})
    assert rep2[tok].last_update_ns == T0


def test_replay_into_an_apply_records_without_day_base_still_works(tmp_path):
    """A duck-typed target whose apply_records takes only the records is called as before."""
    class Target:
        def __init__(self):
            self.n = 0

        def apply_records(self, recs):
            self.n += len(recs)
    _journal_day(tmp_path, 20)
    t = Target()
    res = replay(tmp_path, DAY, into=t)
    assert t.n == res.records > 0
    with Journal.open(tmp_path / "NSE_FO" / "20261120.bin") as j:
        assert j.snapshot_at("23:00", into=Target()).n > 0


# -- 3. a closed writer and a later day -------------------------------------------------------------------------

def test_closed_writer_refuses_a_later_days_batch_and_rollover_without_failing(tmp_path):
    """Audit finding 6: a batch of a later day took the rollover path and wrote to the closed fd (EBADF), and
    check() then raised on the cleanly sealed writer."""
    jw = JournalWriter(tmp_path, "NSE_FO", DAY)
    h = vega.FeedHandler("FO", vega.Store(4096), journal=jw)
    dg = list(nse.sample_stream("FO", 10, seed=1))
    jw.close()
    with pytest.raises(ValueError, match="^journal writer is closed$"):
        h.process_batch(dg, T0)                                   # the journal's own day
    with pytest.raises(ValueError, match="^journal writer is closed$"):
        h.process_batch(dg)                                       # received now: a later day
    with pytest.raises(ValueError, match="^journal writer is closed$"):
        h.process_batch(dg, day_epoch_ns(DAY + dt.timedelta(days=3)) + 36000 * 10**9)
    with pytest.raises(ValueError, match="^journal writer is closed$"):
        jw.rollover()
    with pytest.raises(ValueError, match="^journal writer is closed$"):
        jw.rollover(DAY + dt.timedelta(days=2))
    jw.check()                                                    # not marked failed
    assert jw.closed and len(h.store) == 0                        # nothing merged
    assert not (tmp_path / "NSE_FO" / "20261121.bin").exists()
    assert vega.verify(jw.path).ok


# -- 4. append refuses arrays that are not change records -------------------------------------------------------

@pytest.mark.parametrize("arr", [np.arange(8, dtype=np.float64), np.zeros((2, 4), np.int64),
                                 np.zeros(16, np.int16), np.zeros(2, [("a", "<u8", 4)]), np.zeros(3),
                                 np.zeros(5, np.int16)],
                         ids=["float64", "int64-2d", "int16", "other-struct", "float64-24-bytes", "int16-10-bytes"])
def test_append_refuses_an_array_of_another_dtype(tmp_path, arr):
    """Audit finding 10: a float64 array was journaled as 'records', verify() said OK and replay failed.  One of
    a size that is no whole number of records got "24 bytes is not a whole number of 32-byte records", as if
    the fault were its length."""
    with JournalWriter(tmp_path, "NSE_EQ", DAY) as jw:
        with pytest.raises(TypeError, match=re.escape(f"CHANGE_RECORD_DTYPE, not {arr.dtype}")):
            jw.append(arr)
        assert jw.n_records == 0
        recs = np.zeros(2, CHANGE_RECORD_DTYPE)
        recs["token"], recs["group"], recs["mask"] = 7, 1, 1
        assert jw.append(recs) == 2
        assert jw.append(recs.tobytes()) == 2                    # raw bytes of whole records: documented
        assert jw.append(bytearray(recs.tobytes())) == 2
        assert jw.append(memoryview(recs.tobytes())) == 2
        assert jw.append(recs.view(np.recarray)) == 2            # a record array of the dtype is one
        assert jw.append(recs.view(np.uint8)) == 2               # raw bytes as a numpy array: uint8,
        assert jw.append(recs.view("V32")) == 2                  # or plain void
    assert vega.verify(jw.path).ok
    s = vega.Store(16)
    assert replay(tmp_path, DAY, into=s).records == 14 and 7 in s


@pytest.mark.parametrize("arr", [np.arange(8, dtype=np.float64), np.zeros(8, np.int64), np.zeros(16, np.int16),
                                 np.zeros(3)], ids=["float64", "int64", "int16", "float64-24-bytes"])
def test_checkpoint_takes_what_append_takes(tmp_path, arr):
    """A checkpoint of a numeric array was cast to records (every field the number) and journaled, which verify
    passed and a replay applied; the raw record bytes append takes failed ("invalid literal for int()")."""
    with JournalWriter(tmp_path, "NSE_EQ", DAY) as jw:
        with pytest.raises(TypeError, match=re.escape(f"CHANGE_RECORD_DTYPE, not {arr.dtype}")):
            jw.checkpoint(arr, 5)
        assert jw.n_records == 0
        recs = np.zeros(2, CHANGE_RECORD_DTYPE)
        recs["token"], recs["group"], recs["mask"] = 7, 1, 1
        assert jw.checkpoint(recs.tobytes(), 5) == 2
        assert jw.checkpoint(recs.view(np.uint8), 6) == 2
    with Journal.open(jw.path) as j:
        assert len(j.checkpoints) == 2 and (j.records["token"] == 7).all()


def test_writer_numbers_and_rollover_times_are_checked_before_the_file_is_made(tmp_path):
    """A float first_seq failed in the header's packing (struct.error) after the day's file was made, leaving
    an empty file that replay and verify then called damaged; "00:30:00" as a rollover failed to unpack."""
    for kw, error, says in (({"first_seq": 179097.0}, TypeError, "first_seq must be an int, not float"),
                            ({"symbol_id": -1}, ValueError, "symbol_id must be in"),
                            ({"buffer_records": 2.5}, TypeError, "buffer_records must be an int"),
                            ({"index_stride": True}, TypeError, "index_stride must be an int, not bool"),
                            ({"rollover": "2"}, ValueError, "rollover must be 'HH:MM' or a datetime.time, not '2'"),
                            ({"rollover": "06:00+05:30"}, ValueError, "rollover must be 'HH:MM'"),
                            # (an OverflowError at the C field, after the file was made: a config's 1e19)
                            ({"checkpoint_interval": 1e19}, ValueError, "checkpoint_interval must be None or 0"),
                            ({"checkpoint_interval": 2**64}, ValueError, "at most 9223372036 s (2**63 ns)"),
                            ({"flush_interval": 9223372037}, ValueError, "flush_interval must be None")):
        with pytest.raises(error, match=re.escape(says)):
            JournalWriter(tmp_path, "NSE_EQ", DAY, **kw)
        assert not (tmp_path / "NSE_EQ").exists()
    with JournalWriter(tmp_path, "NSE_EQ", DAY, rollover="06:30:00", first_seq=np.int64(5)) as jw:
        assert jw.next_seq == 5
    with JournalWriter(tmp_path, "NSE_EQ", DAY, checkpoint_interval=9223372036, flush_interval=9223372036):
        pass                                           # (the longest intervals: 2**63 ns less a fraction)
    with Journal.open(jw.path) as j:
        with pytest.raises(TypeError, match="not timedelta64"):
            j.position(np.timedelta64(690, "m"))


# -- 5. snapshot_at's default store has room ---------------------------------------------------------------------

def test_snapshot_at_default_store_has_room_to_continue(tmp_path):
    """Audit finding 11: the default store's capacity was the token count, so the next new token raised
    StoreFullError."""
    got = []
    with JournalWriter(tmp_path, "NSE_FO", DAY) as jw:
        h = vega.FeedHandler("FO", vega.Store(4096), journal=jw, on_records=lambda a: got.append(a.copy()))
        dg = list(nse.sample_stream("FO", 200, seed=3))
        h.process_batch(dg[:20], T0)
        n = len(got)
        h.process_batch(dg[20:], T0 + 10**9)
    with Journal.open(jw.path) as j:
        state = j.snapshot_at("10:00")
    k = len(state)
    assert state.capacity >= max(2 * k, k + 1024)
    state.apply_records(np.concatenate(got[n:]))                 # continues without StoreFullError
    assert len(state) > k


# -- 7. cosmetic -------------------------------------------------------------------------------------------------

def test_writer_repr_shows_the_path_as_text(tmp_path):
    with JournalWriter(tmp_path, "NSE_FO", DAY) as jw:
        r = repr(jw)
        assert "PosixPath" not in r and str(jw.path) in r
    assert "PosixPath" not in repr(jw) and "closed" in repr(jw)


def test_second_writer_in_the_same_process_says_so(tmp_path):
    w = JournalWriter(tmp_path, "NSE_FO", DAY)
    try:
        with pytest.raises(JournalError, match="this process") as e:
            JournalWriter(tmp_path, "NSE_FO", DAY)
        assert "close that one first" in str(e.value)
        with pytest.raises(JournalError, match="this process"):
            JournalWriter.reopen(w.path)
    finally:
        w.close()
    JournalWriter(tmp_path, "NSE_FO", DAY).close()             # free again after close
    w = JournalWriter(tmp_path, "NSE_FO", DAY)
    w.rollover()                                                # the old day's file is free after a rollover
    JournalWriter(tmp_path, "NSE_FO", DAY).close()
    with pytest.raises(JournalError, match="this process"):
        JournalWriter(tmp_path, "NSE_FO", DAY + dt.timedelta(days=1))
    w.close()
    w = JournalWriter(tmp_path, "NSE_FO", DAY)
    del w                                                       # dropped without close: the file is free again
    JournalWriter(tmp_path, "NSE_FO", DAY).close()


def test_second_writer_in_another_process_says_another_process(tmp_path):
    import subprocess
    import sys
    w = JournalWriter(tmp_path, "NSE_FO", DAY)
    try:
        code = ("import sys, vega\n"
                "try:\n"
                f"    vega.JournalWriter({str(tmp_path)!r}, 'NSE_FO', '2026-11-20')\n"
                "except vega.JournalError as e:\n"
                "    print(e)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert "another process" in out and "this process" not in out
    finally:
        w.close()


def test_closed_journal_records_raise(tmp_path):
    _journal_day(tmp_path, 5)
    j = Journal.open(tmp_path / "NSE_FO" / "20261120.bin")
    n = len(j)
    j.close()
    for call in (lambda: j.records, lambda: j.timestamps(), lambda: j.state_records(0), lambda: j.read(1),
                 lambda: len(j)):
        with pytest.raises(ValueError, match="journal is closed"):
            call()
    assert j.n_records == n                                     # the header's facts stay


def test_a_journal_says_it_is_closed_as_the_store_the_ring_and_the_writer_do(tmp_path):
    """Store, Ring, Reader, JournalWriter and FeedHandler have ``closed``; a Journal had none (AttributeError),
    and its repr still read "sealed" once closed, as of an open one."""
    _journal_day(tmp_path, 5)
    with Journal.open(tmp_path / "NSE_FO" / "20261120.bin") as j:
        assert j.closed is False and repr(j).endswith("records sealed>")
    assert j.closed is True and repr(j).endswith("records sealed, closed>")
    j.close()                                                   # again: nothing to do
    assert j.closed is True


def test_a_time_string_with_nanoseconds_is_taken_to_the_nanosecond_not_cut_to_the_microsecond(tmp_path):
    """Records are stamped to the ns, and a time string may carry 9 fractional digits; datetime.fromisoformat
    drops the 3 past the microsecond without a word, so between("10:00", "10:00:00.000000001") was empty and a
    start of "10:00:00.000000999" took the record stamped 10:00:00 too.  Past 9 digits a string is refused."""
    from journal_helpers import make_records
    from vega.records import set_timestamps, timestamps
    at = 10 * 3600 * 10**9
    recs = make_records(4, seed=2)
    set_timestamps(recs, [at, at + 1, at + 999, at + 1000])
    with JournalWriter(tmp_path, "NSE_FO", DAY, flush_interval=None) as w:
        w.append(recs)
    with Journal.open(w.path) as j:
        assert timestamps(j.between("10:00", "10:00:00.000000001")).tolist() == [at]
        assert timestamps(j.between("10:00:00.000000001", "10:00:00.000001")).tolist() == [at + 1, at + 999]
        assert timestamps(j.between("2026-11-20T10:00:00.00000099", "10:00:00.000001")).tolist() == [at + 999]
        assert j.seek("10:00:00.000000999") == 2 and j.seek("2026-11-20T04:30:00.0000010+00:00") == 3
        for bad in ("10:00:00.0000000001", "2026-11-20T10:00:00.1234567890"):
            with pytest.raises(ValueError, match="not a time"):
                j.seek(bad)
    got = []
    replay(tmp_path, "2026-11-20T10:00:00.000000001", "2026-11-20T10:00:00.000001", feeds=["NSE_FO"],
           into=lambda r, f: got.append(r))
    assert timestamps(np.concatenate(got)).tolist() == [at + 1, at + 999]
    with pytest.raises(ValueError, match="is neither"):
        replay(tmp_path, "2026-11-20T10:00:00.0000000001", feeds=["NSE_FO"], into=lambda r, f: None)


def test_replay_takes_iso_datetime_strings(tmp_path):
    live, path = _journal_day(tmp_path, 20)
    with Journal.open(path) as j:
        n = len(j)
        cut = j.position("10:00:00.5")
    assert 0 < cut <= n
    for start, end in (("2026-11-20T09:00", "2026-11-20T10:00:00.5"), ("2026-11-20T09:00:00+05:30",
                                                                        dt.datetime(2026, 11, 20, 10, 0, 0, 500000)),
                       (dt.datetime(2026, 11, 20, 3, 30, tzinfo=dt.timezone.utc), "2026-11-20 04:30:00.5Z")):
        got = []
        res = replay(tmp_path, start, end, into=lambda r, f: got.append(r))
        assert res.records == cut, (start, end)
    res = replay(tmp_path, "2026-11-20", "2026-11-20T23:59:59", into=lambda r, f: None)
    assert res.records == n
    with pytest.raises(ValueError, match="ISO"):
        replay(tmp_path, "2026-11-20", "tomorrow", into=lambda r, f: None)
    with pytest.raises(ValueError, match="ISO"):
        replay(tmp_path, 3.5, into=lambda r, f: None)


def test_journal_time_arguments_match_the_stub(tmp_path):
    """The stub's TimeLike names what the runtime takes: int, numpy integer, time, datetime, str."""
    _journal_day(tmp_path, 5)
    with Journal.open(tmp_path / "NSE_FO" / "20261120.bin") as j:
        t = 10 * 3600 * 10**9
        want = j.position(t)
        for v in (np.int64(t), dt.time(10), dt.datetime(2026, 11, 20, 10), dt.datetime(2026, 11, 20, 10, tzinfo=IST),
                  "10:00", "2026-11-20T10:00:00"):
            assert j.position(v) == want
    import vega._journal as mod
    stub = (mod.__file__.rsplit("/", 1)[0] + "/_journal.pyi")
    text = open(stub).read()
    assert re.search(r"TimeLike = .*str", text) and re.search(r"TimeLike = .*datetime\.datetime", text)


# the README's journal calls, as a user's strict-typed script writes them: the stubs must accept them
STUB_USER = '''
import datetime as dt
from typing import assert_type

import numpy as np
import vega

j = vega.Journal.open("x.bin")
j.between("11:30", "11:31:30.5")
j.position(dt.datetime(2026, 11, 20, 11, 30))
j.seek(dt.time(9, 15))
j.seek(np.int64(5))
state = j.snapshot_at(dt.time(11, 30))
assert_type(state, vega.Store)
mine = vega.Store(10)
assert_type(j.snapshot_at("11:30", into=mine), vega.Store)
# positions, counts and capacities from numpy arithmetic (np.int64) are taken at run time
n = np.int64(4)
j.seq_at(n)
j.seqs(n, n + 2)
j.rewind(n)
j.read(n)
vega.Store(n * 1000, dense_tokens=n * 100)
'''


def test_the_journal_stubs_take_what_the_readme_passes(tmp_path, monkeypatch):
    import os

    import mypy.api as api                               # a test dependency (pyproject.toml [test])
    monkeypatch.setenv("MYPYPATH", os.path.dirname(os.path.dirname(os.path.abspath(vega.__file__))))
    (tmp_path / "user.py").write_text(STUB_USER)
    out, err, status = api.run(["--strict", "--no-incremental", "--follow-imports=silent",
                                "--cache-dir", str(tmp_path / "cache"), str(tmp_path / "user.py")])
    assert status == 0, out + err


def test_replay_from_a_time_without_an_end_runs_to_the_end_of_that_day(tmp_path):
    """As the CLI does: `replay(root, '2026-11-20T10:00:00.5')` is the rest of that trading day, not nothing."""
    live, path = _journal_day(tmp_path, 20, checkpoint_every=5)       # batches at 10:00:00, :01, :02, :03
    with Journal.open(path) as j:
        n, cut = len(j), j.position("10:00:01.5")
    assert 0 < cut < n
    for start in ("2026-11-20T10:00:01.5", dt.datetime(2026, 11, 20, 10, 0, 1, 500000)):
        assert replay(tmp_path, start, into=lambda r, f: None).records == n - cut
    assert replay(tmp_path, "2026-11-20", into=lambda r, f: None).records == n


def test_a_fifo_given_as_a_journal_is_refused_not_waited_on(tmp_path):
    """A FIFO (or a device) where a journal file is expected: opening it to read would block for ever."""
    import os
    import subprocess
    import sys

    from vega.journal import held_by_writer, verify
    fifo = tmp_path / "20261120.bin"
    os.mkfifo(fifo)
    for call in (Journal.open, verify, JournalWriter.reopen):
        with pytest.raises(JournalError, match=r"not a regular file \(a FIFO, a device or a socket\)"):
            call(fifo)
    assert held_by_writer(fifo) is False
    root = os.path.dirname(os.path.dirname(os.path.abspath(vega.__file__)))
    for cmd in ("dump", "verify"):
        r = subprocess.run([sys.executable, "-m", "vega", cmd, str(fifo)], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, PYTHONPATH=root))
        assert r.returncode == 1 and r.stderr.strip().splitlines() == [
            f"vega {cmd}: {fifo}: not a regular file (a FIFO, a device or a socket), expected a journal file "
            f"(YYYYMMDD.bin)"], r.stderr


def test_a_damaged_record_fails_verify_and_replay_names_its_file_and_record(tmp_path):
    """A flipped group byte deep in a sealed file: verify said OK and replay into a store failed with
    "record 34476: unknown group" (its position within the 65,536-record batch), naming no file.  verify now
    reports it (not repairable: a repair keeps every record), and replay names the file and the record."""
    import os
    import subprocess
    import sys

    from vega.journal import verify
    live, path = _journal_day(tmp_path, 1800)
    with Journal.open(path) as j:
        n = len(j)
    bad = 100_000 if n > 100_000 else n - 10
    with open(path, "r+b") as f:
        f.seek(64 + 32 * bad + 10)                       # the group byte
        f.write(bytes([99]))
        f.seek(64 + 32 * (bad + 5))                      # and a token of 0
        f.write(bytes(4))
    rep = verify(path)
    assert not rep.ok and rep.bad_records == 2 and not rep.repairable
    assert (f"damaged record {bad}: unknown group; replay into a store or a ring fails there with ValueError, "
            f"and a repair cannot mend it; 2 damaged records in all: {bad}, {bad + 5}") in rep.problems
    with pytest.raises(ValueError, match=rf"^{path}: record {bad}: unknown group: replay stops there"):
        replay(tmp_path, DAY, into=vega.Store(4096))

    class Mine(ValueError):
        pass

    def callback(recs, feed):                            # a target's own error, in a batch before the damage
        raise Mine("my callback's own")
    with pytest.raises(Mine, match="my callback's own"):
        replay(tmp_path, DAY, into=callback, batch=1000)
    root = os.path.dirname(os.path.dirname(os.path.abspath(vega.__file__)))
    r = subprocess.run([sys.executable, "-m", "vega", "verify", str(path)], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, PYTHONPATH=root))
    assert r.returncode == 1 and "damaged record" in r.stdout and "--repair" not in r.stdout + r.stderr, r


def test_a_day_file_under_another_dates_name_is_refused_by_replay_and_export(tmp_path):
    """Its records' times count from its header's day: replayed or exported under the name's day they were
    shifted by the difference (327 days in the audit), silently."""
    import shutil

    from vega.journal import export
    _, path = _journal_day(tmp_path, 30)
    other = path.with_name("20260101.bin")
    shutil.move(path, other)
    with pytest.raises(JournalError, match=rf"{other}: a file of trading date 2026-11-20, not 2026-01-01 as its "
                                           rf"name says"):
        replay(tmp_path, "2026-01-01", into=vega.Store(4096))
    with pytest.raises(JournalError, match="not 2026-01-01 as its name says"):
        export(tmp_path, tmp_path / "out", "2026-01-01", progress=False)


@pytest.mark.parametrize("field, value, says", [
    ("first_seq", 1 << 63, "first_seq 9,223,372,036,854,775,808 / record count .* out of range"),
    ("trading_date", 99991231, "trading date 9999-12-31 is outside 1970-01-01 .. 2262-04-10"),
])
def test_header_values_out_of_range_are_damage_even_with_a_good_checksum(tmp_path, field, value, says):
    """A header whose checksum holds but whose first_seq or date no journal can have: verify said OK, then
    dump failed with OverflowError and snapshot_at with a day_base_ns ValueError."""
    from vega._journal import date_int, pack_header, parse_header
    from vega.journal import verify
    _, path = _journal_day(tmp_path, 10)
    raw = bytearray(path.read_bytes())
    h = parse_header(bytes(raw[:64]), path)
    h["trading_date"] = date_int(h["trading_date"])
    h[field] = value
    raw[:64] = pack_header(h["feed_type"], h["sealed"], h["trading_date"], h["symbol_id"], h["record_count"],
                           h["created_ns"], h["index_offset"], h["first_seq"], h["index_stride"], h["version"])
    path.write_bytes(bytes(raw))
    with pytest.raises(JournalError, match=says):
        Journal.open(path)
    rep = verify(path)
    assert not rep.ok and not rep.repairable and any("header damaged" in p for p in rep.problems)


def test_positions_and_capacities_refuse_bools_and_floats_as_tokens_do(tmp_path):
    """True is no record 1 and no store of 1 instrument (numpy integers are taken)."""
    _, path = _journal_day(tmp_path, 10)
    with Journal.open(path) as j:
        for call in (j.seq_at, j.rewind, j.read, j.seqs):
            for bad in (True, np.bool_(False), 1.0):
                with pytest.raises(TypeError, match="must be an int, not"):
                    call(bad)
        assert j.seq_at(np.int64(2)) == j.seq_at(2) and len(j.read(np.int32(3))) == 3
    for bad in (True, 2.0):
        with pytest.raises(TypeError, match="capacity must be an int"):
            vega.Store(bad)
    with pytest.raises(TypeError, match="dense_tokens must be an int"):
        vega.Store(8, dense_tokens=False)


def test_verify_tells_a_file_whose_name_says_another_day_or_feed_than_its_header(tmp_path):
    """replay and export take <root>/<FEED>/YYYYMMDD.bin by its name and refuse a file whose header says
    another day (its times count from the header's day): verify said OK to such a file.  It is a problem
    now, which a repair leaves alone (it does not rename files); a file under another name is not checked."""
    import shutil
    _journal_day(tmp_path, 40)
    src = tmp_path / "NSE_FO" / "20261120.bin"
    assert vega.verify(src).ok
    day_after = tmp_path / "NSE_FO" / "20261121.bin"
    shutil.copy(src, day_after)
    rep = vega.verify(day_after)
    assert not rep.ok and rep.misnamed and not rep.repairable
    assert any("trading date 2026-11-20, not 2026-11-21" in p for p in rep.problems), rep.problems
    with pytest.raises(JournalError, match="as its name says"):
        replay(tmp_path, "2026-11-21", into=vega.Store(4096))
    before = day_after.read_bytes()
    rep = vega.verify(day_after, repair=True)
    assert not rep.ok and not rep.repaired and day_after.read_bytes() == before
    (tmp_path / "NSE_EQ").mkdir()
    other_feed = tmp_path / "NSE_EQ" / "20261120.bin"
    shutil.copy(src, other_feed)
    rep = vega.verify(other_feed)
    assert rep.misnamed and any("feed NSE_FO, not NSE_EQ" in p for p in rep.problems), rep.problems
    backup = tmp_path / "backup-of-the-20th.bin"
    shutil.copy(src, backup)
    assert vega.verify(backup).ok                        # not a journal root's name: nothing to compare


# -- 8. damaged files (the file fuzz under AddressSanitizer) ----------------------------------------------------

def test_a_refresh_that_fails_leaves_the_journal_reading_what_it_had(tmp_path):
    """Fuzz finding: refresh() of a file that no longer reads (here a sealed day whose index its writer is cutting
    to continue the day, the moment before it rewrites the header) raised JournalError and left the journal half
    opened again: its map set, its records gone and its count stale, so read() failed on None and seek() read
    through a NULL pointer (SIGSEGV).  The journal now keeps what it had mapped, and a later refresh goes on."""
    from journal_helpers import linear_seek, make_records
    from vega.records import timestamps
    recs = make_records(300, seed=5)
    with JournalWriter(tmp_path, "NSE_FO", DAY, index_stride=16) as w:
        w.append(recs)
    j = Journal.open(w.path)
    j.rewind(100)
    with open(w.path, "r+b") as f:                       # the index cut off; the header still says sealed
        f.truncate(64 + 32 * len(recs))
    with pytest.raises(JournalError, match="index offset"):
        j.refresh()
    assert len(j) == 300 and j.tell() == 100 and j.sealed
    assert j.read().tobytes() == recs[100:].tobytes()
    t = int(timestamps(recs)[250])
    assert j.seek(t) == linear_seek(recs, t)
    j.rewind(300)
    more = make_records(10, seed=6, t0=int(timestamps(recs)[-1]))
    with JournalWriter.reopen(w.path) as w2:             # its writer goes on: the file reads again
        w2.append(more)
        w2.flush()
        assert j.refresh() == 310 and not j.sealed and j.tell() == 300
        assert j.read().tobytes() == more.tobytes()
    j.close()


@pytest.mark.parametrize("bad", ["20-11-2026", "2026-02-30", "20261301", 20261132])
def test_an_impossible_date_is_named_as_not_a_trading_date(tmp_path, bad):
    """A date of eight digits that is no day (DD-MM-YYYY, as Indian dates are often written; the 30th of
    February) got datetime's bare "month must be in 1..12" from JournalWriter, epoch_ns, datetimes and export,
    naming neither the value nor the argument."""
    with pytest.raises(ValueError, match=re.escape(f"not a trading date: {bad!r} (")):
        JournalWriter(tmp_path, "NSE_EQ", bad)
    with pytest.raises(ValueError, match=re.escape(f"not a trading date: {bad!r} (")):
        vega.records.datetimes([0], bad)
    assert not any(tmp_path.iterdir())                               # nothing made
