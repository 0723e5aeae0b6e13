"""A named store and a ring get all their pages in /dev/shm when made (vega._files.reserve).

They were sparse files: a tmpfs that filled up later (a container's 64 MiB /dev/shm, other processes' files) killed
the writer with SIGBUS at the first write of a page it could not have, in the middle of a trading day, with its
journal unsealed.  Now a lack of room is an OSError at creation, naming what is needed and what is free, and
nothing is left behind."""
import errno
import os

import pytest

from vega import Ring, Store
from vega.capture import Capture, CaptureError, load_config

SHM = "/dev/shm"


@pytest.fixture(autouse=True)
def _no_files_left(shm_file_name):
    """Whatever a test (or a failing one) made under its name in /dev/shm goes: stores, rings, temporary files."""
    yield
    for f in os.listdir(SHM):
        if shm_file_name in f:
            os.unlink(os.path.join(SHM, f))


def _allocated(path):
    st = os.stat(path)
    return st.st_blocks * 512, st.st_size


def test_a_stores_and_a_rings_pages_are_all_there_from_the_start(shm_file_name):
    store = Store.create(shm_file_name, 262_144)
    try:
        used, size = _allocated(os.path.join(SHM, f"vega.store.{shm_file_name}"))
        assert size > 100 << 20 and used >= size          # was ~5 MB of 117 MiB: the rest came at first write
    finally:
        store.close()
        Store.remove(shm_file_name)
    ring = Ring.create(shm_file_name)
    try:
        used, size = _allocated(os.path.join(SHM, shm_file_name))
        assert used >= size
    finally:
        ring.close()


def _full(*_):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_no_room_is_an_error_at_creation_that_leaves_nothing(shm_file_name, monkeypatch):
    monkeypatch.setattr(os, "posix_fallocate", _full)
    with pytest.raises(OSError, match=r"vega\.store\.vega-test-.*: no room for the store of 262,144 instruments "
                                      r"\(117\.0 MiB\) in /dev/shm \([0-9,.]+ MiB free\): make room there, ask for a "
                                      r"smaller capacity \(a capture's store_capacity\) or give it more \(a "
                                      r"container's --shm-size\)") as e:
        Store.create(shm_file_name, 262_144)
    assert e.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match=r": no room for the ring \(6\.0 MiB\) in /dev/shm \(.* MiB free\): make room "
                                      r"there or give it more"):
        Ring.create(shm_file_name)
    assert not [f for f in os.listdir(SHM) if shm_file_name in f]          # no half-made store, no temporary ring


def test_a_filesystem_without_fallocate_keeps_sparse_files(shm_file_name, monkeypatch):
    def unsupported(*_):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")
    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    store = Store.create(shm_file_name, 1_000)
    try:
        store.add(7)
        assert 7 in store
    finally:
        store.close()
        Store.remove(shm_file_name)


def test_a_capture_says_it_in_one_line(shm_file_name, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "posix_fallocate", _full)
    cap = Capture(load_config(None, store=shm_file_name, ring="", journal_root=str(tmp_path / "j")))
    with pytest.raises(CaptureError, match=rf"^store {shm_file_name}-(fo|cm|idx): .*: no room for the store of "):
        cap.open()
    assert not [f for f in os.listdir(SHM) if shm_file_name in f]
