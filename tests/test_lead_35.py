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
