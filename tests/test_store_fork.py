"""A forked child (a multiprocessing worker made while this process writes a named store) is no writer of the
store: it lets go of the writer's flock at the fork, so when the parent closes the store (or dies) the name is
free for the next writer, while the child lives on.  The parent keeps the lock across the fork
(docs/FORMATS.md §3.2, "Writer lock")."""
import multiprocessing
import os
import subprocess
import sys
import uuid

import pytest

import vega._core as core
from vega.store import StoreBusyError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def shm_name():
    name = f"test-fork-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    yield name
    path = os.path.join(core.SHM_DIR, f"vega.store.{name}")
    if os.path.lexists(path):
        os.unlink(path)


def _echo(x):
    return x


def _remove_in_child(name):
    """In the forked worker: the parent is the live writer, so removing its store is refused."""
    try:
        core.Store.remove(name)
    except StoreBusyError as e:
        return str(e)
    return "removed"


def _other_process_creates(name):
    """Store.create(name) in a new process (not a fork): 'created' or the error's text."""
    code = ("import sys, vega._core as c\n"
            "try:\n    c.Store.create(sys.argv[1], 16).close(); print('created')\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    return out.stdout.strip() or out.stderr.strip()


def test_a_forked_worker_does_not_keep_the_store_locked(shm_name):
    s = core.Store.create(shm_name, 64)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_echo, (7,)) == 7                 # the worker lives on while the store closes
        assert _other_process_creates(shm_name).startswith("StoreBusyError")   # the parent still writes it
        s.close()
        assert _other_process_creates(shm_name) == "created"    # the worker is no writer
        core.Store.remove(shm_name)
        assert not os.path.exists(os.path.join(core.SHM_DIR, f"vega.store.{shm_name}"))


def test_the_forked_worker_sees_the_parent_as_the_live_writer(shm_name):
    s = core.Store.create(shm_name, 64)
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            msg = pool.apply(_remove_in_child, (shm_name,))
        assert "live writer" in msg and f"pid {os.getpid()}" in msg
        assert os.path.exists(os.path.join(core.SHM_DIR, f"vega.store.{shm_name}"))
        core.Store.remove(shm_name)                         # the writer's own process may remove it
        assert not os.path.exists(os.path.join(core.SHM_DIR, f"vega.store.{shm_name}"))
    finally:
        s.close()


def test_a_forked_child_can_close_its_copy_and_the_parent_keeps_writing(shm_name):
    """The child's copy of the Store closes without touching the parent's lock; the parent's merges go on."""
    s = core.Store.create(shm_name, 64)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                            # the child: close its copy, report, leave
        try:
            s.close()
            os.write(w, b"ok")
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 2) == b"ok"
    os.waitpid(pid, 0)
    os.close(r)
    assert _other_process_creates(shm_name).startswith("StoreBusyError")
    fh = core.FeedHandler("FO", s)
    fh.merge_message({"transaction_code": 7202, "records": [{"token": 42, "fill_price": 1234, "fill_volume": 1}]},
                     now_ns=1_700_000_000_000_000_000)
    assert s.ltp(42) == 1234
    fh.close()
    s.close()
    assert _other_process_creates(shm_name) == "created"


def test_a_forked_child_is_no_writer_of_the_store(shm_name):
    """The child's copy of the writer's Store maps the same records.  Its writes (add, subscribe, new_day,
    apply_records, a FeedHandler's merge) are refused with PermissionError: a second writer beside the parent
    breaks each record's sequence lock (the two count its sequence past each other: odd for good, every read
    of the token failing, or even while a write runs, torn reads).  Before, they went into the parent's store.
    Reading works in the child as anywhere."""
    from fork_helpers import outcomes_in_a_forked_child
    now = 1_700_000_000_000_000_000
    s = core.Store.create(shm_name, 64)
    fh = core.FeedHandler("FO", s)
    tick = {"transaction_code": 7202, "records": [{"token": 42, "fill_price": 1234, "fill_volume": 1}]}
    fh.merge_message(tick, now_ns=now)
    recs = s.keyframe_records()
    other = {"transaction_code": 7202, "records": [{"token": 43, "fill_price": 99, "fill_volume": 1}]}
    out = outcomes_in_a_forked_child([lambda: s.add(44), lambda: s.subscribe(42, False), s.new_day,
                                      lambda: s.apply_records(recs), lambda: fh.merge_message(other, now_ns=now),
                                      lambda: s.ltp(42) == 1234 or 1 / 0, lambda: s.snapshot()])
    assert len(out) == 7
    for o in out[:5]:
        assert o.startswith("PermissionError: this Store is a forked copy of its writer's"), o
    assert out[5:] == ["ok", "ok"]
    assert s.tokens().tolist() == [42] and s[42].subscribed and s.ltp(42) == 1234   # the parent's store
    fh.merge_message(other, now_ns=now)                     # and the parent writes on
    assert s.ltp(43) == 99 and s.writable
    fh.close()
    s.close()
