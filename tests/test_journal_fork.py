"""A child forked while this process writes a journal (a multiprocessing worker, os.fork) is no writer of it:
its copy of the JournalWriter lets go of the file at the fork, so the child neither writes the parent's
buffered records into the file (they would be written twice) nor keeps the file locked after the parent
sealed it."""
import datetime as dt
import multiprocessing
import os

import numpy as np

from vega.journal import Journal, JournalWriter, verify
from vega.records import CHANGE_RECORD_DTYPE

DAY = dt.date(2026, 11, 19)


def _records(n, start=0):
    r = np.zeros(n, CHANGE_RECORD_DTYPE)
    r["token"] = 5
    r["group"] = 1
    r["mask"] = 1
    r["slots"][:, 0] = np.arange(start, start + n)
    return r


def test_a_forked_child_writes_nothing_of_the_parents_buffer(tmp_path):
    w = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None, flush_interval=None)
    w.append(_records(10))                                   # buffered, not yet in the file
    r, wr = os.pipe()
    pid = os.fork()
    if pid == 0:                                             # the child's copy is closed
        try:
            w.append(_records(1))
            said = b"appended"
        except ValueError as e:
            said = b"closed" if "closed" in str(e) else b"other"
        except BaseException:
            said = b"other"
        os.write(wr, said)
        os._exit(0)
    os.close(wr)
    assert os.read(r, 16) == b"closed"
    os.close(r)
    os.waitpid(pid, 0)
    w.append(_records(5, 10))
    w.close()
    with Journal.open(w.path) as j:
        assert len(j) == 15 and list(j.records["slots"][:, 0]) == list(range(15))
    assert verify(w.path).ok


def _echo(x):
    return x


def test_a_forked_worker_does_not_keep_the_journal_locked(tmp_path):
    w = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None)
    w.append(_records(3))
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_echo, (1,)) == 1                  # the worker lives on while the journal closes
        w.close()
        again = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None)   # not "being written"
        again.append(_records(2, 3))
        again.close()
    with Journal.open(w.path) as j:
        assert len(j) == 5
