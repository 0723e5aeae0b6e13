"""The journal writer's file-space preallocation (``JournalWriter(preallocate=...)``, fallocate KEEP_SIZE).

Preallocation is a write-path optimisation only: the file's size, bytes, recovery after a crash and sealing
must be exactly those of a writer without it, while the space past the end is reserved during the day and
handed back at the seal."""
import ctypes
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vega
from journal_helpers import make_records
from vega.journal import Journal, JournalWriter, verify

DATE = "2026-11-20"
MIB = 1 << 20


def _keep_size_fallocate_works(directory) -> bool:
    """Whether the filesystem of ``directory`` supports fallocate(FALLOC_FL_KEEP_SIZE) (Linux ext4, xfs,
    tmpfs, btrfs do)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    path = os.path.join(directory, ".fallocate-probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        return libc.fallocate(fd, 1, ctypes.c_long(0), ctypes.c_long(MIB)) == 0
    finally:
        os.close(fd)
        os.unlink(path)


def _allocated(path) -> int:
    return os.stat(path).st_blocks * 512


def _body(path) -> bytes:
    """The file without the header's created_ns (bytes 32-39) and checksum (60-63), which differ per file."""
    b = open(path, "rb").read()
    return b[:32] + b[40:60] + b[64:]


@pytest.fixture
def fallocate_dir(tmp_path):
    if not _keep_size_fallocate_works(tmp_path):
        pytest.skip("this filesystem has no fallocate(FALLOC_FL_KEEP_SIZE)")
    return tmp_path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 6000), batch=st.integers(1, 3000), buf=st.sampled_from([1, 7, 256, 4096]),
       prealloc=st.sampled_from([1, 4096, 100_000, 4 * MIB]), seed=st.integers(0, 2**16))
def test_preallocated_file_is_byte_identical_to_a_plain_one(tmp_path_factory, n, batch, buf, prealloc, seed):
    recs = make_records(n, seed=seed)
    paths = []
    for k, pre in enumerate((0, prealloc)):
        root = tmp_path_factory.mktemp(f"p{k}")
        with JournalWriter(root, "NSE_FO", DATE, buffer_records=buf, flush_interval=None, checkpoint_interval=0,
                           preallocate=pre) as w:
            for i in range(0, n, batch):
                w.append(recs[i:i + batch])
            paths.append(w.path)
    assert _body(paths[0]) == _body(paths[1])
    with Journal.open(paths[1]) as j:
        assert j.sealed and len(j) == n
        assert np.array(j.records).tobytes() == recs.tobytes()


def test_space_is_reserved_past_the_end_while_open_and_handed_back_at_the_seal(fallocate_dir):
    recs = make_records(20_000, seed=3)                           # 640,000 bytes of records
    w = JournalWriter(fallocate_dir, "NSE_FO", DATE, buffer_records=1024, flush_interval=None,
                      checkpoint_interval=0, preallocate=8 * MIB)
    w.append(recs)
    w.flush()
    size = os.path.getsize(w.path)
    assert size == 64 + 32 * len(recs)                            # the size is the records', nothing more
    assert _allocated(w.path) >= size + 8 * MIB - 4096            # and 8 MiB reserved beyond it
    w.append(recs[:100])                                          # within the reservation: no new one
    w.flush()
    assert os.path.getsize(w.path) == size + 3200
    path = w.path
    w.close()
    sealed = os.path.getsize(path)
    assert sealed > size + 3200                                   # the index follows the records
    assert _allocated(path) < sealed + MIB                        # the reservation is handed back
    assert verify(path).state == "sealed"


def test_no_reservation_without_preallocate(fallocate_dir):
    w = JournalWriter(fallocate_dir, "NSE_FO", DATE, buffer_records=1024, flush_interval=None,
                      checkpoint_interval=0, preallocate=0)
    w.append(make_records(20_000, seed=4))
    w.flush()
    assert _allocated(w.path) < os.path.getsize(w.path) + MIB
    w.close()


def test_reservation_grows_with_the_file(fallocate_dir):
    recs = make_records(40_000, seed=5)                           # 1.28 MB: past a 256 KiB reservation
    w = JournalWriter(fallocate_dir, "NSE_FO", DATE, buffer_records=512, flush_interval=None,
                      checkpoint_interval=0, preallocate=256 << 10)
    for i in range(0, len(recs), 1000):
        w.append(recs[i:i + 1000])
        w.flush()
        size = os.path.getsize(w.path)
        assert size == 64 + 32 * (i + 1000)
        assert _allocated(w.path) >= size                         # never less than the records
    assert _allocated(w.path) > size                              # and a reservation ahead of them
    w.close()
    with Journal.open(w.path) as j:
        assert np.array(j.records).tobytes() == recs.tobytes()


CHILD = textwrap.dedent(
    """
    import os, sys, signal
    from vega.journal import JournalWriter
    sys.path.insert(0, sys.argv[2])
    from journal_helpers import make_records
    recs = make_records(30_000, seed=9)
    w = JournalWriter(sys.argv[1], "NSE_FO", "2026-11-20", flush_interval=None, checkpoint_interval=0,
                      buffer_records=4000, preallocate=16 << 20)
    w.append(recs[:25_000])
    w.flush()
    w.append(recs[25_000:28_000])           # buffered, never written: lost with the process
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_kill_9_with_a_reservation_recovers_exactly_the_flushed_records(fallocate_dir):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(vega.__file__)))
               + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", CHILD, str(fallocate_dir), os.path.dirname(__file__)], env=env,
                       timeout=60)
    assert p.returncode == -signal.SIGKILL
    path = fallocate_dir / "NSE_FO" / "20261120.bin"
    assert os.path.getsize(path) == 64 + 32 * 25_000              # the reservation does not show in the size
    assert _allocated(path) >= 16 * MIB                           # but is still held after the crash
    rep = verify(path)
    assert rep.state == "open" and rep.records == 25_000 and rep.torn_bytes == 0
    recs = make_records(30_000, seed=9)
    w = JournalWriter(fallocate_dir, "NSE_FO", DATE, flush_interval=None, checkpoint_interval=0)
    assert w.recovered["records"] == 25_000 and w.recovered["torn_bytes"] == 0
    w.append(recs[25_000:])
    w.close()                                                     # the seal hands the space back
    assert _allocated(path) < os.path.getsize(path) + MIB
    with Journal.open(path) as j:
        assert j.sealed and np.array(j.records).tobytes() == recs.tobytes()


@pytest.mark.parametrize("bad", [-1, 1 << 41])
def test_bad_preallocate_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="preallocate"):
        JournalWriter(tmp_path, "NSE_FO", DATE, preallocate=bad)


def test_a_full_buffer_is_written_up_to_a_64k_boundary(tmp_path):
    """Size-driven writes end at file offsets that are multiples of 64 KiB (whole page-cache folios), the
    rest stays buffered; a flush() still writes everything, and the next size-driven write is aligned again."""
    recs = make_records(30_000, seed=6)
    w = JournalWriter(tmp_path, "NSE_FO", DATE, buffer_records=8192, flush_interval=None, checkpoint_interval=0)
    writes = 0
    for i in range(0, len(recs), 1000):
        before = w.n_written
        w.append(recs[i:i + 1000])
        assert w.n_records == i + 1000 and w.n_records - w.n_written <= 8192
        size = os.path.getsize(w.path)
        assert size == 64 + 32 * w.n_written
        if w.n_written != before:
            writes += 1
            assert size % 65536 == 0, size
        if i == 15_000:
            w.flush()                                             # everything, wherever it ends
            assert w.n_written == w.n_records == 16_000
    assert writes >= 3
    w.close()
    with Journal.open(w.path) as j:
        assert np.array(j.records).tobytes() == recs.tobytes()


def test_fsync_per_flush_writes_the_whole_buffer(tmp_path):
    recs = make_records(10_000, seed=7)
    w = JournalWriter(tmp_path, "NSE_FO", DATE, buffer_records=4096, flush_interval=None, checkpoint_interval=0,
                      fsync="flush")
    w.append(recs[:4000])
    w.append(recs[4000:5000])                                     # overflow: all 4,000 buffered go out
    assert w.n_written == 4000
    w.close()
    with Journal.open(w.path) as j:
        assert np.array(j.records).tobytes() == recs[:5000].tobytes()
