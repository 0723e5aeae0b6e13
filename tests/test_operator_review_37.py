"""What an operator ran into running `vega capture` under systemd through whole days (the thirty-seventh review)."""
import datetime as dt
import os

import numpy as np
import pytest

import vega
from test_capture_restart import HOUR, IST, T0, _killed, _ring_records, cfg  # noqa: F401  (cfg: the fixture)
from vega.capture import Capture, _journal_sealed
from vega.records import CHANGE_RECORD_DTYPE, CONTINUED, timestamps

#: 00:00 IST of 2026-11-21, the day after T0's
MIDNIGHT = int(dt.datetime(2026, 11, 21, 0, 0, tzinfo=IST).timestamp()) * 10**9


def _open_notes(cfg, t):  # noqa: F811
    c = Capture(cfg).open(offline_ns=t)
    try:
        return c.start_notes(), {f.name: (f.writer.path, f.writer.date, f.writer.next_seq) for f in c.all_feeds}
    finally:
        c.close()


def test_a_start_the_day_after_a_kill_seals_the_killed_captures_other_feeds_files(cfg):  # noqa: F811
    """Killed in the afternoon (NSE_FO, NSE_EQ and NFO_IDX journals open), started the next morning: the start
    took the ring's records into NSE_FO's day file and sealed it, but left NSE_EQ's and NFO_IDX's files of that
    day unsealed, with a note pointing at `vega verify --repair`.  Each is sealed now, said in one line each."""
    _killed(cfg)
    root = cfg.journal_root
    others = [os.path.join(root, feed, "20261120.bin") for feed in ("NSE_EQ", "NFO_IDX")]
    assert all(_journal_sealed(p) is False for p in others)
    notes, _ = _open_notes(cfg, T0 + 24 * HOUR)
    for p in others:
        assert _journal_sealed(p) is True, notes
        assert vega.verify(p).ok
        assert [m for m in notes if m.startswith(p)] == [
            f"{p}: left unsealed by a killed capture (no writer holds it); sealed now: its 0 records kept "
            "(0 change records)"], notes
    assert not any("--repair" in m for m in notes), notes
    assert _journal_sealed(os.path.join(root, "NSE_FO", "20261120.bin")) is True


def _unsealed(root, feed, day, n, torn=b""):
    """A day file of ``feed`` with ``n`` records, as a kill leaves it: not sealed, no writer; ``torn`` after it."""
    w = vega.JournalWriter(root, feed, day, checkpoint_interval=None, flush_interval=0)
    recs = np.zeros(n, CHANGE_RECORD_DTYPE)
    recs["token"], recs["group"], recs["mask"] = 7, 1, 1
    w.append(recs)
    image = w.path.read_bytes()
    w.close()
    w.path.write_bytes(image + torn)
    return str(w.path)


def test_an_earlier_unsealed_file_is_sealed_with_its_records_and_its_torn_tail_cut(cfg):  # noqa: F811
    path = _unsealed(cfg.journal_root, "NSE_FO", dt.date(2026, 11, 18), 5, torn=b"\x01" * 17)
    notes, _ = _open_notes(cfg, T0)
    assert [m for m in notes if m.startswith(path)] == [
        f"{path}: left unsealed by a killed capture (no writer holds it); sealed now: its 5 records kept (5 change "
        "records); a torn tail of 17 bytes cut"], notes
    assert vega.verify(path).ok and _journal_sealed(path)
    with vega.Journal.open(path) as j:
        assert len(j) == 5


def test_an_earlier_file_a_live_writer_holds_is_not_touched_and_named(cfg):  # noqa: F811
    """A running writer's file (its lock held) of an earlier day: left as it is, and the start says so."""
    w = vega.JournalWriter(cfg.journal_root, "NSE_EQ", dt.date(2026, 11, 19), checkpoint_interval=None)
    try:
        w.append(np.zeros(3, CHANGE_RECORD_DTYPE))
        w.flush()
        before = w.path.read_bytes()
        notes, _ = _open_notes(cfg, T0)
        said = [m for m in notes if m.startswith(str(w.path))]
        assert len(said) == 1 and "a running process holds it" in said[0] and "left as it is" in said[0], notes
        assert w.path.read_bytes() == before and _journal_sealed(w.path) is False
        w.append(np.zeros(2, CHANGE_RECORD_DTYPE))             # its writer goes on
    finally:
        w.close()
    with vega.Journal.open(w.path) as j:
        assert len(j) == 5


def _after_midnight(cfg):  # noqa: F811
    """A capture whose batch crossed IST midnight (its journal rolled over into 20261121.bin inside the call),
    killed before the journal wrote that batch: the ring holds the records, stamped against 2026-11-20."""
    n_flushed, n_ring = _killed(cfg, t=MIDNIGHT - 950_000_000)    # its second batch at 00:00:00.050
    published = _ring_records(cfg.ring, n_flushed, n_ring)
    assert (timestamps(published) >= 86_400 * 10**9).all()
    return n_flushed, n_ring, published


def _restamped(recs):
    out = recs.copy()
    ts = timestamps(out) - 86_400 * 10**9
    out["ts_lo"], out["ts_hi"] = ts & 0xFFFFFFFF, ts >> 32
    out["flags"] &= ~CONTINUED & 0xFF
    return out


def test_a_restart_after_a_kill_just_after_midnight_adds_the_rings_records_to_the_new_days_file(cfg):  # noqa: F811
    """Appended as the ring stamps them (past the end of the day before), they rolled the new day's journal over
    once more: the restart wrote 20261122.bin, stamped them 00:00:00.050 of 2026-11-22, and captured on into it."""
    n_flushed, n_ring, published = _after_midnight(cfg)
    day2 = os.path.join(cfg.journal_root, "NSE_FO", "20261121.bin")
    assert os.path.exists(day2)                                    # the killed writer's rollover made it
    notes, writers = _open_notes(cfg, MIDNIGHT + 2 * 10**9)
    path, day, next_seq = writers["NSE_FO"]
    assert (str(path), day, next_seq) == (day2, dt.date(2026, 11, 21), n_ring), notes
    assert sorted(os.listdir(os.path.join(cfg.journal_root, "NSE_FO"))) == ["20261120.bin", "20261121.bin"]
    assert any(f"(numbers {n_flushed:,}..{n_ring - 1:,}) were added to 20261121.bin" in m for m in notes), notes
    with vega.Journal.open(day2) as j:
        got = np.array(j.records)
        assert j.next_seq == n_ring
    got["flags"] &= ~CONTINUED & 0xFF
    assert got.tobytes() == _restamped(published).tobytes()       # 00:00:00.050 of 2026-11-21, as published
    assert vega.verify(day2).ok


def test_a_start_after_a_kill_in_the_midnight_rollover_puts_the_new_days_records_in_its_file(cfg):  # noqa: F811
    """Killed in the rollover itself, before the journal made the new day's file: the start took the ring's
    records into the day before's file, whose reopened writer rolled over into the file the start writes; that
    failed, the records were lost, and the note said the new ring numbers from the old day's count."""
    n_flushed, n_ring, published = _after_midnight(cfg)
    day2 = os.path.join(cfg.journal_root, "NSE_FO", "20261121.bin")
    with vega.Journal.open(day2) as j:
        assert len(j) == 0
    os.unlink(day2)                                                # as a kill before the rollover made it leaves it
    notes, writers = _open_notes(cfg, MIDNIGHT + 2 * 10**9)
    k = n_ring - n_flushed
    path, day, next_seq = writers["NSE_FO"]
    assert (str(path), day, next_seq) == (day2, dt.date(2026, 11, 21), k), notes
    said = [m for m in notes if m.startswith("NSE_FO:") and "ring" in m]
    assert said == [f"NSE_FO: {k:,} records the killed capture had published to ring {cfg.ring} but not journaled "
                    f"(numbers {n_flushed:,}..{n_ring - 1:,}), stamped after midnight, were added to 20261121.bin, "
                    f"the day's file, as its numbers 0..{k - 1:,}: the new ring numbers its records from {k:,}, so "
                    "its readers must start again, not go on at their positions"], notes
    with vega.Journal.open(day2) as j:
        got = np.array(j.records)
    got["flags"] &= ~CONTINUED & 0xFF
    assert got.tobytes() == _restamped(published).tobytes()
    day1 = os.path.join(cfg.journal_root, "NSE_FO", "20261120.bin")
    assert _journal_sealed(day1) and vega.verify(day1).ok and vega.verify(day2).ok
    with vega.Journal.open(day1) as j:
        assert j.next_seq == n_flushed



def test_a_killed_ingest_of_an_earlier_days_ring_is_added_to_that_day_not_today(cfg):  # noqa: F811
    """A capture killed while it ingested an earlier day (past that day's midnight) leaves a ring made today, on the
    wall clock.  A live start today took the ring for today's: it added every record it held (numbered on from
    the earlier days' files, which hold most of them) to today's new file, or, when the ring had wrapped, said
    they were all lost and then added them to the earlier file as well.  The earlier day file the ring continues is
    weighed first now."""
    import time
    n_flushed, n_ring, published = _after_midnight(cfg)
    now = time.time_ns()
    notes, writers = _open_notes(cfg, now)
    today = writers["NSE_FO"]
    assert today[2] == 0, notes                                     # today's file holds nothing of theirs
    day2 = os.path.join(cfg.journal_root, "NSE_FO", "20261121.bin")
    with vega.Journal.open(day2) as j:
        assert j.next_seq == n_ring
        got = np.array(j.records)
    got["flags"] &= ~CONTINUED & 0xFF
    assert got.tobytes() == _restamped(published).tobytes()
    assert [m for m in notes if "ring" in m] == [
        f"NSE_FO: {n_ring - n_flushed:,} records the killed capture had published to ring {cfg.ring} but not "
        f"journaled (numbers {n_flushed:,}..{n_ring - 1:,}) were added to 20261121.bin, which is sealed now: its day "
        "is over"], notes
    assert _journal_sealed(day2) and vega.verify(day2).ok


def test_an_ingest_refused_before_the_ring_is_replaced_says_nothing_of_the_new_ring(cfg):  # noqa: F811
    """`vega ingest` of a capture across midnight, given again: refused (the day's journal holds it already), after
    a line per feed saying "the new ring numbers its records from N again, so its readers must start again"; but
    the refusal came before the ring was replaced, and it was not."""
    from test_operator_review_35 import _items
    from vega.capture import CaptureError
    cfg.feeds = [f for f in cfg.feeds if f.segment == "FO"]
    start = MIDNIGHT - 10**8
    cap = Capture(cfg).open(offline_ns=start)
    cap.on_warning = lambda msg: None
    cap.ingest(_items(200, 4, start))                               # 100 ms before midnight, 100 ms after
    tail = cap.ring.tail("NSE_FO")
    cap.close()
    again = Capture(cfg)
    with pytest.raises(CaptureError, match="already holds records"):
        again.open(offline_ns=start)
    assert again.start_notes() == []
    ring = vega.Ring.open(cfg.ring)
    try:
        assert ring.tail("NSE_FO") == tail                          # the ring is the one the ingest left
    finally:
        ring.close()

# -- a stop while `vega capture` starts -------------------------------------------------------------------------

#: runs `vega capture` (sys.argv[1:] after the first: its options) in a process whose function sys.argv[1] names
#: ("module:function") sends it SIGTERM when first called, then does what it did
STOP_WHEN = """
import importlib, os, signal, sys
where, name = sys.argv[1].split(":")
mod = importlib.import_module(where)
orig = getattr(mod, name)
sent = []
def once(*a, **k):
    if not sent and (name != "_say" or "stopped" in a[0]):
        sent.append(1)
        os.kill(os.getpid(), signal.SIGTERM)
    return orig(*a, **k)
setattr(mod, name, once)
from vega.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _capture_stopped_in(where, tmp_path, command="capture"):
    import subprocess
    import sys
    import uuid
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ring = f"vega-or37-{uuid.uuid4().hex[:10]}"
    args = ([command, "--feed", "FO=239.70.2.1:34399", "--journal-root", str(tmp_path / "j"), "--ring", ring,
             "--duration", "0.3"] if command == "capture" else [command, str(tmp_path)])
    try:
        p = subprocess.run([sys.executable, "-c", STOP_WHEN, where, *args], capture_output=True, text=True,
                           timeout=120, cwd=root, env=dict(os.environ, PYTHONPATH=root))
    finally:
        try:
            vega.Ring.unlink(ring)
        except FileNotFoundError:
            pass
    return p


@pytest.mark.parametrize("where", ["vega.cli:build_parser", "vega.capture:load_config"])
def test_sigterm_while_vega_capture_starts_stops_it_with_status_0_and_a_line(tmp_path, where):
    """systemd's stop while the capture was still importing and reading its configuration killed it: exit status
    143 and no line, where a stop a moment later stops it cleanly with status 0.  Now it stops there, opening
    nothing, with one line and status 0."""
    p = _capture_stopped_in(where, tmp_path)
    assert p.returncode == 0, (p.returncode, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vega capture: stopped by SIGTERM at "), p.stderr
    assert lines[0].endswith(" IST while starting, before it opened anything"), p.stderr
    assert not (tmp_path / "j").exists()


def test_sigterm_as_vega_capture_says_it_stopped_lets_it_finish(tmp_path):
    """After its run gives the stop signals back (closed, sealed), a SIGTERM killed it before its last line."""
    p = _capture_stopped_in("vega.commands.capture:_say", tmp_path)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert p.stderr.splitlines()[-1].startswith("vega capture: stopped, journal sealed at "), p.stderr


def test_sigterm_while_another_command_starts_is_one_line_and_while_it_runs_as_before(tmp_path):
    p = _capture_stopped_in("vega.cli:build_parser", tmp_path, "verify")
    assert (p.returncode, p.stderr) == (143, "vega verify: stopped by SIGTERM while starting\n")
    p = _capture_stopped_in("vega.commands.verify:run", tmp_path, "verify")   # (it has no handler of its own)
    assert p.returncode == -15, (p.returncode, p.stderr)


def test_main_gives_the_stop_signals_back(tmp_path):
    import signal
    from vega.cli import main
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    assert main(["verify", str(tmp_path)]) in (0, 1)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == before


def test_an_earlier_day_file_cut_inside_its_header_is_written_again_or_named(cfg):  # noqa: F811
    """A capture killed as it made a day file leaves it cut inside its header, no record in it: the start wrote
    nothing of it (`vega verify` called it damaged).  It is written again as the day's empty journal now, as
    `vega verify --repair` does; a day file that is not a journal at all is named, and left as it is."""
    cut = os.path.join(cfg.journal_root, "NSE_EQ", "20261118.bin")
    other = os.path.join(cfg.journal_root, "NSE_FO", "20261118.bin")
    for p in (cut, other):
        os.makedirs(os.path.dirname(p), exist_ok=True)
    open(cut, "wb").close()
    with open(other, "wb") as fh:
        fh.write(b"x" * 64)
    notes, _ = _open_notes(cfg, T0)
    assert [m for m in notes if m.startswith((cut, other))] == [
        f"{other}: not a VEGA journal (magic b'xxxxxxxx', expected b'VEGAJRNL'): left as it is",
        f"{cut}: its header was cut short, with no record in it (its capture was killed as it made the file): "
        "written again as that day's empty journal, sealed"], notes
    rep = vega.verify(cut)
    assert rep.ok and rep.state == "sealed" and rep.records == 0
    assert open(other, "rb").read() == b"x" * 64
