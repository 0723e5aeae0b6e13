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
    r.close()
    vega.Ring.unlink(r.path)
