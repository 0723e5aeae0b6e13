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
