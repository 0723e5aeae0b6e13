"""Fixtures shared by several test files."""
import os
import uuid

import pytest


@pytest.fixture
def ring():
    """A fresh shared-memory ring, closed and unlinked after the test."""
    import vega
    r = vega.Ring.create(f"vega-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    yield r
    try:
        r.close()                      # raises if the test left a reader of it open
    finally:
        vega.Ring.unlink(r.path)       # the file goes either way: a failed test leaves nothing in /dev/shm


@pytest.fixture
def shm_file_name():
    """A fresh name in /dev/shm; whatever the test leaves at it (a ring, any file, a symlink, a directory)
    is removed afterwards."""
    n = f"vega-test-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    yield n
    p = os.path.join("/dev/shm", n)
    if os.path.isdir(p) and not os.path.islink(p):
        os.rmdir(p)
    elif os.path.lexists(p):
        os.unlink(p)
