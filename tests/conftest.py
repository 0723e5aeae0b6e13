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
