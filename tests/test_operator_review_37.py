"""What an operator ran into running `vega capture` under systemd through whole days (the thirty-seventh review)."""
import datetime as dt
import os

import numpy as np
import pytest

import vega
from test_capture_restart import HOUR, T0, _killed, cfg  # noqa: F401  (cfg: the fixture)
from vega.capture import Capture, _journal_sealed
from vega.records import CHANGE_RECORD_DTYPE

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
