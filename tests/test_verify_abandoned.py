"""An unsealed journal whose writer is gone (a capture killed, perhaps on an earlier day) is told apart from
one being written: verify says so, `vega verify -q` lists it and says --repair seals it; a repair does."""
import datetime as dt
import os
import subprocess
import sys

import numpy as np

from vega.journal import JournalWriter, verify
from vega.records import CHANGE_RECORD_DTYPE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY = dt.date(2026, 11, 19)


def _records(n):
    r = np.zeros(n, CHANGE_RECORD_DTYPE)
    r["token"] = 5
    r["group"] = 1
    r["mask"] = 1
    r["slots"][:, 0] = np.arange(n)
    return r


def _abandoned(root):
    """A day's file as a killed writer leaves it: open, whole records, no writer."""
    w = JournalWriter(root, "NSE_FO", DAY, checkpoint_interval=None, flush_interval=0)
    w.append(_records(10))
    image = w.path.read_bytes()
    w.close()
    w.path.write_bytes(image)
    return w.path


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "vega.cli", "verify", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))


def test_an_unsealed_file_without_a_writer_is_said_abandoned(tmp_path):
    path = _abandoned(tmp_path)
    rep = verify(path)
    assert rep.ok and rep.state == "open" and rep.abandoned
    assert any("no writer holds it" in n and "--repair seals it" in n for n in rep.notes)
    r = _cli("-q", str(tmp_path))
    assert r.returncode == 0
    assert str(path) in r.stdout                              # listed even with -q
    assert "1 not sealed with no writer (vega verify --repair seals them)" in r.stdout
    r = _cli("--repair", str(tmp_path))
    assert r.returncode == 0
    after = verify(path)
    assert after.ok and after.state == "sealed" and not after.abandoned and after.records == 10


def test_a_file_being_written_is_not_abandoned(tmp_path):
    with JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None, flush_interval=0) as w:
        w.append(_records(3))
        rep = verify(w.path)
        assert rep.ok and rep.state == "open" and not rep.abandoned
        assert any("being written (its writer holds it)" in n for n in rep.notes)
        r = _cli("-q", str(tmp_path))
        assert r.returncode == 0 and str(w.path) not in r.stdout and "no writer" not in r.stdout


def _file_size_limit(limit):
    """For a child process: writes past ``limit`` bytes fail with EFBIG (as on a full disk, ENOSPC), instead of
    killing it with SIGXFSZ."""
    def limited():
        import resource
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limited


def test_a_repair_that_cannot_write_names_the_file_and_leaves_it_as_it_was(tmp_path):
    """`vega verify --repair ROOT` at the end of a day whose disk is full: the seal cannot be written.  It said
    "vega verify: OSError: [Errno 28] No space left on device", naming no file; now it names the file and what
    failed, exits 1, and the file is as it was (whole records, unsealed, repairable once there is room)."""
    path = _abandoned(tmp_path)
    image = path.read_bytes()
    r = subprocess.run([sys.executable, "-m", "vega.cli", "verify", "--repair", str(tmp_path)], capture_output=True,
                       text=True, timeout=60, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                       preexec_fn=_file_size_limit(len(image)))
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r
    assert r.stderr.startswith(f"vega verify: {path}: cannot repair: File too large"), r.stderr
    assert "OSError" not in r.stderr and "Errno" not in r.stderr
    rep = verify(path)
    assert rep.ok and rep.state == "open" and rep.abandoned and rep.records == 10
