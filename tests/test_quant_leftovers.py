"""Faults a review of the Python API left open for quants: times of one record (a 0-d datetime64 array), numpy
datetime64 bounds of replay / export, len() of a closed Journal, argument types of Store's and the IV functions'
entry points, and the stubs' tokens type."""
import datetime as dt
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # journal_helpers, whether or not tests/ is a package
from journal_helpers import T0, linear_seek, make_records
from vega.journal import Journal, JournalWriter
from vega.records import datetimes, timestamps

DATE = dt.date(2026, 11, 20)


def write_day(root, recs, feed="NSE_FO", date=DATE):
    with JournalWriter(root, feed, date, flush_interval=None) as w:
        w.append(recs)
    return w.path


# -- 1. records.datetimes of one record is a 0-d array: a time wherever a datetime64 scalar is ----------------

def test_datetimes_of_one_record_seeks_as_the_scalar_of_the_array_does(tmp_path):
    """datetimes(record) is a 0-d array, datetimes(array)[i] a scalar: both name the same record (the 0-d array
    was a TypeError "not ndarray")."""
    recs = make_records(2000, seed=5)
    ts = timestamps(recs)
    with Journal.open(write_day(tmp_path, recs)) as j:
        for i in (0, 999, 1999):
            one = datetimes(j.records[i], j.date)
            assert isinstance(one, np.ndarray) and one.ndim == 0 and one.dtype == np.dtype("datetime64[ns]")
            want = linear_seek(recs, int(ts[i]))
            assert j.position(one) == want == j.position(datetimes(j.records, j.date)[i])
            assert j.seek(one) == want and j.tell() == want
            assert j.state_records(one).tobytes() == j.state_records(int(ts[i])).tobytes()
            assert j.between(one, datetimes(j.records[-1], j.date)).tobytes() == j.between(int(ts[i]),
                                                                                         int(ts[-1])).tobytes()
        # a 0-d array of another unit, and of NaT: as its scalar
        assert j.position(np.array(np.datetime64("2026-11-20T03:45", "m"))) == 0 == linear_seek(recs, T0)
        with pytest.raises(ValueError, match="^seek: t is NaT"):
            j.seek(np.array(np.datetime64("NaT", "ns")))
        # an array of one element is still no time: one of more dimensions says so
        with pytest.raises(TypeError, match="not ndarray"):
            j.seek(datetimes(j.records[:1], j.date))

