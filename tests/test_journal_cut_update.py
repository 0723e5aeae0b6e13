"""An update cut short in a journal (records of another token after a live record flagged CONTINUED, or a
file that ends inside an update because its writer was killed mid-update) would make a store replaying it
refuse the next record ("a CONTINUED update changes token").  A writer never cuts its own open update
(JournalWriter.append and checkpoint refuse, writing nothing; an automatic checkpoint waits); a reopen closes
an update cut short where it was cut (its last record written loses CONTINUED: nothing dropped), so a capture
restarted after a crash continues with whole updates; verify reports a cut inside the records, and --repair
closes it."""
import datetime as dt
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import vega
from vega import nse
from vega.journal import Journal, JournalWriter, day_epoch_ns, replay, verify
from vega.records import CHANGE_RECORD_DTYPE, CONTINUED, KEYFRAME, set_timestamps

from store_helpers import by_token, market_equal

DAY = dt.date(2026, 11, 20)
T0 = 10 * 3600 * 10**9                      # 10:00 IST, ts48


def update(token, n, ts, value=100, cut=False):
    """One update of ``token``: n trade records (LTP), every one but the last flagged CONTINUED; with ``cut``
    the last one too (the update is cut short: its last record is missing)."""
    r = np.zeros(n, CHANGE_RECORD_DTYPE)
    set_timestamps(r, np.full(n, ts))
    r["token"] = token
    r["group"] = 1
    r["mask"] = 1
    r["source"] = 7200
    r["slots"][:, 0] = value + np.arange(n)
    r["flags"] = CONTINUED
    if not cut:
        r["flags"][-1] = 0
    return r


def cut_day(root, **kw):
    """A sealed day: a whole update of token 11, then token 12's update cut after 3 records -> path."""
    with JournalWriter(root, "NSE_FO", DAY, checkpoint_interval=None, **kw) as w:
        w.append(update(11, 2, T0))
        w.append(update(12, 3, T0 + 10, cut=True))
    return w.path


def replay_store(root):
    st = vega.Store(64)
    replay(root, DAY, into=st)
    return st


# -- the writer refuses to cut an update ------------------------------------------------------------------------

def _flags(path, record):
    with open(path, "rb") as f:
        f.seek(64 + 32 * record + 11)
        return f.read(1)[0]


@pytest.mark.parametrize("how", ["constructor", "reopen"])
def test_a_reopen_closes_the_update_its_writer_left_open_and_appends_any_token(tmp_path, how):
    path = cut_day(tmp_path)
    before = path.read_bytes()
    assert _flags(path, 4) & CONTINUED
    if how == "reopen":
        w = JournalWriter.reopen(path, checkpoint_interval=None)
    else:
        w = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None)
    try:
        assert w.recovered["closed_updates"] == [4]
        assert _flags(path, 4) == _flags(path, 3) & ~CONTINUED            # only that flag changed
        after = path.read_bytes()
        assert after[64:64 + 5 * 32] == before[64:64 + 4 * 32 + 11] + bytes([_flags(path, 4)]) + \
            before[64 + 4 * 32 + 12:64 + 5 * 32]
        assert w.append(update(13, 2, T0 + 20)) == 2                      # any token: a new update
        assert w.append(update(12, 1, T0 + 30, value=200)) == 1
    finally:
        w.close()
    rep = verify(path)
    assert rep.ok and rep.problems == [] and rep.cut_updates == [] and rep.records == 8, rep
    st = replay_store(tmp_path)
    assert [st[t].last_traded_price for t in (11, 12, 13)] == [101, 200, 101]


def test_a_capture_restarted_after_a_kill_mid_update_continues_a_journal_that_replays(tmp_path):
    """The FeedHandler's journal as a kill -9 leaves it: open, its last records part of an update (the rest
    never reached the file).  A new writer of the day (a restarted capture) closes that update and the new
    handler's records follow; the day verifies and replays."""
    dg = list(nse.sample_stream("FO", 120, seed=5))
    t0 = day_epoch_ns(DAY) + T0
    w = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None, flush_interval=0)
    h = vega.FeedHandler("FO", vega.Store(4096), journal=w)
    h.process_batch(dg[:60], t0)
    with Journal.open(w.path) as j:
        recs = j.records.copy()
    image = w.path.read_bytes()
    h.close()
    w.close()
    # the last live record flagged CONTINUED whose update goes on: cut the file right after it
    cont = np.flatnonzero((recs["flags"] & (CONTINUED | KEYFRAME)) == CONTINUED)
    k = int(cont[-1])
    w.path.write_bytes(image[:64 + 32 * (k + 1)])
    w2 = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None)
    try:
        assert w2.recovered["closed_updates"] == [k] and w2.recovered["records"] == k + 1
        h2 = vega.FeedHandler("FO", vega.Store(4096), journal=w2)
        h2.process_batch(dg[60:], t0 + 10**9)
        h2.close()
    finally:
        w2.close()
    rep = verify(w2.path)
    assert rep.ok and rep.cut_updates == [], rep
    st = vega.Store(4096)
    res = replay(tmp_path, DAY, into=st)
    assert res.records == rep.records
    assert st[int(recs[k]["token"])].valid


@pytest.mark.parametrize("flush_interval", [None, 0])      # the last record in the buffer / only in the file
def test_the_same_writer_refuses_to_cut_its_own_open_update(tmp_path, flush_interval):
    with JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None, flush_interval=flush_interval) as w:
        w.append(update(11, 2, T0))
        w.append(update(12, 3, T0 + 10, cut=True))
        assert w.n_written == (5 if flush_interval == 0 else 0)
        with pytest.raises(ValueError, match=r"token 12's, flagged CONTINUED"):
            w.append(update(13, 1, T0 + 20))
        with pytest.raises(ValueError, match=r"would cut an update"):     # as raw bytes too
            w.append(update(14, 1, T0 + 20).tobytes())
        assert w.n_records == 5
        w.append(update(12, 1, T0 + 10))
        w.append(update(13, 1, T0 + 20))
    assert verify(w.path).ok
    assert len(Journal.open(w.path)) == 7


def test_a_batch_that_cuts_an_update_inside_itself_is_refused_whole(tmp_path):
    bad = np.concatenate([update(11, 2, T0), update(12, 2, T0 + 10, cut=True), update(13, 2, T0 + 20)])
    with JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None, flush_interval=0) as w:
        w.append(update(10, 1, T0 - 10))
        with pytest.raises(ValueError, match=r"its record 4 \(token 13\) would cut an update: its record 3 is "
                                             r"token 12's, flagged CONTINUED"):
            w.append(bad)
        assert w.n_records == w.n_written == 1
        assert os.path.getsize(w.path) == 64 + 32
    rep = verify(w.path)
    assert rep.ok and rep.records == 1


def test_a_checkpoint_cannot_start_inside_an_open_update_and_an_automatic_one_waits(tmp_path):
    live = vega.Store(64)
    calls = []

    def source(ts):
        calls.append(ts)
        return live.keyframe_records(ts)

    w = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=1.0, checkpoint_source=source)
    try:
        first = update(11, 2, T0)
        live.apply_records(first)
        w.append(first)
        assert calls == []
        head = update(12, 3, T0 + 2 * 10**9, cut=True)           # passes a checkpoint time, ends inside an update
        assert w.append(head) == 3
        assert calls == [] and w.checkpoint_due                    # the due checkpoint waits for the update's end
        assert w.maybe_checkpoint() is False
        with pytest.raises(ValueError, match=r"checkpoint refused, nothing written: its record 0 \(token 11\)"):
            w.checkpoint(live.keyframe_records(T0), ts_ns=T0)
        assert w.n_records == 5
        tail = update(12, 1, T0 + 2 * 10**9, value=103)
        w.append(tail)                                             # the update is whole: the checkpoint follows
        live.apply_records(np.concatenate([head, tail]))
        assert len(calls) == 1 and not w.checkpoint_due and len(w.checkpoints) == 1
    finally:
        w.close()
    assert verify(w.path).ok
    market_equal(by_token(replay_store(tmp_path).snapshot()), by_token(live.snapshot()))


def test_a_checkpoint_of_records_that_are_not_whole_updates_is_refused_and_writes_nothing(tmp_path):
    """A hand-made checkpoint whose CONTINUED chain runs into another token (or off its end) would write a
    day that replay refuses: checkpoint() refuses it; whole updates go in and replay."""
    whole = np.concatenate([update(11, 2, T0), update(12, 3, T0)])
    across = np.concatenate([update(11, 2, T0, cut=True), update(12, 3, T0)])
    open_end = np.concatenate([update(11, 2, T0), update(12, 3, T0, cut=True)])
    with JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None, flush_interval=0) as w:
        w.append(update(10, 1, T0 - 10))
        with pytest.raises(ValueError, match=r"checkpoint refused, nothing written: its record 2 \(token 12\) "
                                             r"would cut an update: its record 1 is token 11's, flagged CONTINUED "
                                             r".*A checkpoint holds whole updates$"):
            w.checkpoint(across, ts_ns=T0)
        with pytest.raises(ValueError, match=r"checkpoint refused, nothing written: its last record \(token 12\) "
                                             r"is flagged CONTINUED: a checkpoint holds whole updates"):
            w.checkpoint(open_end, ts_ns=T0)
        assert w.n_records == 1 and len(w.checkpoints) == 0
        assert os.path.getsize(w.path) == 64 + 32
        assert w.checkpoint(whole, ts_ns=T0) == 5
        w.append(update(13, 2, T0 + 10))
    assert verify(w.path).ok
    st = replay_store(tmp_path)
    assert sorted(st) == [10, 11, 12, 13]


# -- verify reports a cut update as replay meets it ---------------------------------------------------------------

def _set_continued(path, record):
    """Flag record ``record`` CONTINUED in place (a lower-level writer's cut: the index is unaffected)."""
    with open(path, "r+b") as f:
        off = 64 + 32 * record + 11
        f.seek(off)
        flags = f.read(1)[0]
        f.seek(off)
        f.write(bytes([flags | CONTINUED]))


def test_verify_reports_a_cut_update_written_by_lower_level_means(tmp_path):
    with JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None) as w:
        for k, tok in enumerate([11, 12, 13, 14]):
            w.append(update(tok, 2, T0 + k))
    assert verify(w.path).ok
    _set_continued(w.path, 3)                  # token 12's last record: token 13's first record now cuts it
    _set_continued(w.path, 5)                  # and token 13's, cut by token 14
    rep = verify(w.path)
    assert not rep.ok and rep.state == "sealed" and rep.records == 8
    assert rep.cut_updates == [4, 6]
    assert len(rep.problems) == 1
    assert rep.problems[0].startswith("cut update at record 4: a CONTINUED update changes token (record 3, "
                                      "token 12, is flagged CONTINUED"), rep.problems
    assert "2 records in all" in rep.problems[0] and "4, 6" in rep.problems[0]
    assert rep.repairable                      # a repair closes the cut updates
    # consistent with replay: a store refuses that very record
    with pytest.raises(ValueError, match="a CONTINUED update changes token"):
        replay(tmp_path, DAY, into=vega.Store(64))
    with Journal.open(w.path) as j:
        with pytest.raises(ValueError, match="record 4: a CONTINUED update changes token"):
            vega.Store(64).apply_records(j.records)
    fixed = verify(w.path, repair=True)
    assert fixed.repaired and fixed.ok and fixed.cut_updates == [] and fixed.records == 8, fixed
    assert not _flags(w.path, 3) & CONTINUED and not _flags(w.path, 5) & CONTINUED
    st = replay_store(tmp_path)                # every record kept: each token's last value
    assert [st[t].last_traded_price for t in (11, 12, 13, 14)] == [101] * 4


def test_replay_names_the_file_and_its_record_where_an_update_is_cut(tmp_path):
    """Fuzz finding: a replay (vega replay too) that met a cut update raised the store's ValueError as it was,
    "record 1: a CONTINUED update changes token", numbered within the batch delivered and naming no file, where a
    damaged record names both.  It names the file and the file's record number now, as verify does."""
    with JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None) as w:
        for k, tok in enumerate([11, 12, 13, 14]):
            w.append(update(tok, 2, T0 + k * 10**9))
    _set_continued(w.path, 5)                  # token 13's last record: token 14's first record cuts it
    assert verify(w.path).cut_updates == [6]
    at = re.escape(f"{w.path}: record 6: a CONTINUED update changes token: replay stops there")
    with pytest.raises(ValueError, match=f"^{at} .*--repair closes them"):
        replay(tmp_path, DAY, into=vega.Store(64))
    with pytest.raises(ValueError, match=f"^{at}"):      # in the state before a start time too
        replay(tmp_path, "2026-11-20T10:00:03.5", into=vega.Store(64))


def test_a_repair_of_a_file_left_unsealed_closes_its_cut_update_and_seals_it(tmp_path):
    w = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None, flush_interval=0)
    w.append(update(11, 2, T0))
    w.append(update(12, 2, T0 + 1))
    w.append(update(13, 2, T0 + 2))
    image = w.path.read_bytes()
    w.close()
    w.path.write_bytes(image)                  # as a crash left it: open, 6 records
    _set_continued(w.path, 1)                  # token 11's update cut by token 12
    rep = verify(w.path)
    assert not rep.ok and rep.state == "open" and rep.cut_updates == [2] and rep.repairable
    fixed = verify(w.path, repair=True)
    assert fixed.repaired and fixed.ok and fixed.state == "sealed" and fixed.records == 6 and fixed.cut_updates == []


def test_vega_verify_exits_1_and_advises_the_repair_that_closes_a_cut(tmp_path):
    with JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None) as w:
        w.append(update(11, 2, T0))
        w.append(update(12, 2, T0 + 1))
    _set_continued(w.path, 1)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "vega.cli", "verify", *args, str(w.path)],
                              capture_output=True, text=True, timeout=60, cwd=root,
                              env=dict(os.environ, PYTHONPATH=root))
    r = cli()
    assert r.returncode == 1
    assert "cut update at record 2" in r.stdout and "--repair" in r.stdout + r.stderr
    r = cli("--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    assert verify(w.path).ok


# -- a journal that ends inside an update: replay unchanged, verify says so in a note ------------------------------

def test_a_file_ending_inside_an_update_is_a_note_consistent_with_replay(tmp_path):
    w = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None, flush_interval=0)
    try:
        w.append(update(11, 2, T0))
        w.append(update(12, 3, T0 + 10, cut=True))
        rep = verify(w.path)                   # open: its writer may still be appending
        assert rep.ok and rep.problems == [] and rep.cut_updates == []
        assert any("ends inside an update: records 2..4 (token 12)" in n and "replay stops before record 2" in n
                   for n in rep.notes), rep.notes
        res = replay(tmp_path, DAY, into=lambda recs, feed: None)
        assert res.records == 2 and res.next_seq["NSE_FO"] == 2
    finally:
        w.close()
    rep = verify(w.path)                       # sealed mid-update: replay applies the records as they are
    assert rep.ok and any("ends inside an update: records 2..4 (token 12)" in n and "replay applies them" in n
                          and "a writer reopening the file (or a repair) closes the update" in n
                          for n in rep.notes), rep.notes
    assert replay(tmp_path, DAY, into=lambda recs, feed: None).records == 5


# -- the normal case --------------------------------------------------------------------------------------------

def test_reopening_a_journal_that_ends_on_a_whole_update_appends_any_token(tmp_path):
    path = None
    with JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None) as w:
        w.append(update(11, 2, T0))
        w.append(update(12, 3, T0 + 10))
        path = w.path
    w = JournalWriter.reopen(path, checkpoint_interval=None)
    try:
        assert "closed_updates" not in w.recovered and w.recovered["records"] == 5
        assert w.append(update(13, 2, T0 + 20)) == 2
        assert w.append(update(11, 1, T0 + 30, value=300)) == 1
    finally:
        w.close()
    rep = verify(path)
    assert rep.ok and rep.records == 8 and not any("ends inside an update" in n for n in rep.notes)
    st = replay_store(tmp_path)
    assert [st[t].last_traded_price for t in (11, 12, 13)] == [300, 102, 101]


def test_a_feed_handler_day_reopened_and_continued_replays_to_the_live_store(tmp_path):
    """The FeedHandler's own journal (whole updates, checkpoints with the store's CONTINUED chains), closed,
    reopened and continued by a FeedHandler, then by appends of its records: verify passes, replay rebuilds."""
    live = vega.Store(4096)
    dg = list(nse.sample_stream("FO", 240, seed=5))
    t0 = day_epoch_ns(DAY) + T0
    with JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None) as jw:
        h = vega.FeedHandler("FO", live, journal=jw)
        h.process_batch(dg[:80], t0)
        h.checkpoint()
    got = []
    jw = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None)
    try:
        assert "closed_updates" not in jw.recovered
        h = vega.FeedHandler("FO", live, journal=jw, on_records=lambda r: got.append(r.copy()))
        h.process_batch(dg[80:160], t0 + 10**9)
        h.checkpoint()
    finally:
        jw.close()
    with JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None) as jw:
        h = vega.FeedHandler("FO", live, on_records=lambda r: jw.append(r))      # a custom appender
        h.process_batch(dg[160:], t0 + 2 * 10**9)
    assert got and np.any(np.concatenate(got)["flags"] & CONTINUED)
    with Journal.open(jw.path) as j:
        assert np.any((j.records["flags"] & (CONTINUED | KEYFRAME)) == CONTINUED)    # multi-record updates
    rep = verify(jw.path)
    assert rep.ok and rep.cut_updates == [], rep
    st = vega.Store(4096)
    replay(tmp_path, DAY, into=st)
    market_equal(by_token(st.snapshot()), by_token(live.snapshot()))
