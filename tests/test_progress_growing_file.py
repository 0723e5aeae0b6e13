"""Progress of ``vega replay`` and ``export`` over a day's file a capture is still writing: the total is what the
files held when counted, and the file grows before it is read.  The total grows with it (the replay and the export
deliver what the file holds when they reach it: today so far, ``next_seq`` handing over to the live ring), so the
progress never shows more records than its total.  (Before: "replay: 1,500/1,000 records 100.0%", and export's
bar 150 %.)"""
import datetime as dt
import io
import re
import sys

import pytest

import vega.journal
from journal_helpers import make_records
from vega.cli import main
from vega.journal import JournalWriter

DAY = dt.date(2026, 11, 20)


class _Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def growing(tmp_path):
    """(root, the day's writer holding 1,000 flushed records, grow(): 500 more, flushed, once)."""
    recs = make_records(1500, seed=3)
    w = JournalWriter(tmp_path / "j", "NSE_FO", DAY, flush_interval=None)
    w.append(recs[:1000])
    w.flush()
    grown = []

    def grow():
        if not grown:
            w.append(recs[1000:])
            w.flush()
            grown.append(1)
    yield tmp_path / "j", w, grow
    w.close()


def test_replay_progress_of_a_file_written_while_it_runs_stays_within_its_total(growing, monkeypatch, capsys,
                                                                                shm_file_name):
    root, w, grow = growing
    counted = vega.journal._replay_count

    def count_then_the_capture_writes(*a):
        n = counted(*a)
        grow()                                   # between the count and the replay's opening of the file
        return n
    monkeypatch.setattr(vega.journal, "_replay_count", count_then_the_capture_writes)
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["replay", str(root), DAY.isoformat(), "--ring", shm_file_name]) == 0
    shown = [(int(n.replace(",", "")), int(t.replace(",", "")))
             for n, t in re.findall(r"replay: ([\d,]+)/([\d,]+) records", err.getvalue())]
    assert shown and all(n <= t for n, t in shown), shown
    assert shown[-1][0] == 1500
    assert "replayed 1,500 records" in capsys.readouterr().out


def test_export_progress_of_a_file_written_while_it_runs_stays_within_its_total(growing, monkeypatch, tmp_path):
    import tqdm
    root, w, grow = growing
    ends = []

    class Bar(tqdm.tqdm):
        def close(self):
            if self.total is not None:
                ends.append((self.n, self.total))
            super().close()
    monkeypatch.setattr(tqdm, "tqdm", Bar)
    day0 = DAY - dt.timedelta(days=1)          # an earlier, sealed day: while it is written, today's file grows
    with JournalWriter(root, "NSE_FO", day0, flush_interval=None) as w0:
        w0.append(make_records(200, seed=4))
    out = tmp_path / "out"
    files = vega.journal.export(root, out, day0, DAY, progress=True, on_file=lambda p: grow())
    assert len(files) == 2 and set(ends) == {(1700, 1700)}
