"""Ring and Reader fixes from the API audit (/tmp/audit_report.md findings 5, 7, 9, 12, 13):

* RingLapped / RingBusyError pickle with their attributes, so they cross multiprocessing (5);
* Reader.poll / poll_into do not end inside a store update (9, docs/FORMATS.md §4 "Update boundaries");
* Ring.unlink refuses a ring another process writes, and what Ring.create(replace=True) refuses (12);
* the typing stubs: Ring.create(first_seq=Mapping), _net.BatchReceiver.recv() -> list[bytes] (7);
* Reader repr and poll(timeout=...) type checks (13).
"""
import concurrent.futures
import math
import multiprocessing
import os
import re
import pickle
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import vega
from vega._ring import Ring, RingBusyError, RingError, RingLapped
from vega.records import CHANGE_RECORD_DTYPE, CONTINUED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAP = 32768
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def name(shm_file_name):
    return shm_file_name


def chain_records(sizes, first=0):
    """Records of updates of the given sizes: slots[0] = sequence number (from ``first``), token = update
    number, CONTINUED on every record but the last of each update."""
    n = sum(sizes)
    a = np.zeros(n, dtype=CHANGE_RECORD_DTYPE)
    a["slots"][:, 0] = np.arange(first, first + n, dtype=np.int64).astype(np.uint32)
    a["flags"] = CONTINUED
    ends = np.cumsum(sizes) - 1
    a["flags"][ends] = 0
    a["token"] = np.repeat(np.arange(len(sizes)), sizes)
    return a


def ends_inside_an_update(batch):
    return bool(len(batch)) and bool(batch["flags"][-1] & CONTINUED)


def has_boundary(batch):
    return bool(np.any((batch["flags"] & CONTINUED) == 0))


# ----------------------------------------------------------------------------------------------------------
# 1. Exceptions pickle (multiprocessing)
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_ring_lapped_pickles_with_message_and_attributes(protocol):
    e = RingLapped(5, "NSE_FO")
    e.__notes__ = ["from a worker"]
    got = pickle.loads(pickle.dumps(e, protocol))
    assert type(got) is RingLapped
    assert str(got) == str(e) == "reader lapped on NSE_FO: 5 records lost"
    assert got.args == e.args
    assert (got.lost, got.feed) == (5, "NSE_FO")
    assert got.__notes__ == ["from a worker"]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_ring_busy_error_pickles_with_its_pid(protocol):
    for e, pid in ((RingBusyError("/dev/shm/x: is being written by pid 42", pid=42), 42),
                   (RingBusyError("client bus full"), None)):
        got = pickle.loads(pickle.dumps(e, protocol))
        assert type(got) is RingBusyError and str(got) == str(e) and got.args == e.args
        assert got.pid == pid


def _raise_lapped(lost, feed):
    raise RingLapped(lost, feed)


def _read_lapped(ring_name):
    """In a pool worker: a reader with on_lap="raise" at sequence 0 of a ring written past its capacity."""
    with Ring.open(ring_name) as ring:
        rd = ring.reader("NSE_EQ", start=0, on_lap="raise")
        try:
            rd.poll(10)
        finally:
            rd.close()
    return "not lapped"


def test_ring_lapped_raised_in_a_process_pool_worker_reaches_the_parent(name):
    """Unpickling failed, so ProcessPoolExecutor reported BrokenProcessPool (and multiprocessing.Pool hung)."""
    ring = Ring.create(name)
    try:
        ring._write_test_records("NSE_EQ", CAP + 100, batch=4096)
        with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=SPAWN) as pool:
            with pytest.raises(RingLapped) as e:
                pool.submit(_raise_lapped, 5, "NSE_FO").result(timeout=60)
            assert (e.value.lost, e.value.feed) == (5, "NSE_FO")
            with pytest.raises(RingLapped) as e:                 # a real lap, in the worker
                pool.submit(_read_lapped, name).result(timeout=60)
            assert (e.value.lost, e.value.feed) == (100, "NSE_EQ")
            assert pool.submit(os.getpid).result(timeout=60) != os.getpid()   # the pool still works
    finally:
        ring.close()


# ----------------------------------------------------------------------------------------------------------
# 2. A poll does not end inside an update
# ----------------------------------------------------------------------------------------------------------

def test_audit_repro_no_poll_ends_inside_an_update(name):
    ring = Ring.create(name)
    got = []
    h = vega.FeedHandler("FO", vega.Store(4096), ring=ring, on_records=lambda a: got.append(a.copy()))
    rd = ring.reader("NSE_FO", start="oldest")
    try:
        h.process_batch(list(vega.nse.sample_stream("FO", 50, seed=3)))
        polls = []
        while len(r := rd.poll(7)):
            polls.append(r)
        assert polls
        for r in polls:
            assert not ends_inside_an_update(r) or (len(r) == 7 and not has_boundary(r)), r["flags"]
        assert np.array_equal(np.concatenate(polls), np.concatenate(got))   # nothing lost or repeated
        assert rd.lost == 0 and rd.laps == 0 and rd.position == ring.tail("NSE_FO")
    finally:
        rd.close()
        h.close()
        ring.close()


@pytest.mark.parametrize("into", [False, True])
def test_an_update_longer_than_max_records_comes_in_parts(ring, into):
    recs = chain_records([3, 10, 2])
    ring.append("NSE_EQ", recs)
    rd = ring.reader("NSE_EQ", start="oldest")
    out = []
    while True:
        if into:
            buf = np.zeros(5, CHANGE_RECORD_DTYPE)
            n = rd.poll_into(buf)
            b = buf[:n]
        else:
            b = rd.poll(5)
        if not len(b):
            break
        out.append(b)
    # 0-4 would end inside update 1: cut after update 0; 3-7 is all update 1 (no boundary): as it is
    assert [len(b) for b in out] == [3, 5, 5, 2]
    assert np.array_equal(np.concatenate(out), recs)
    rd.close()


def test_fewer_records_than_max_ending_inside_an_update(ring):
    """A writer that publishes part of an update by itself (Ring.append of any buffer): a batch that reaches
    the tail is returned as it is (holding the part back would only delay it); one cut by max_records ends
    on the last boundary it holds."""
    recs = chain_records([2, 6, 1])
    rd = ring.reader("NSE_EQ")
    ring.append("NSE_EQ", recs[:5])                      # update 0 and 3 of the 6 records of update 1
    assert np.array_equal(rd.poll(100), recs[:5])        # at the tail: as it is
    ring.append("NSE_EQ", recs[5:])
    assert np.array_equal(rd.poll(100), recs[5:])
    assert rd.lost == 0 and len(rd.poll(100)) == 0
    ring.append("NSE_EQ", recs[:5])                      # again, read with a smaller batch
    assert np.array_equal(rd.poll(4), recs[:2])          # cut by max_records, more follows: cut to a boundary
    assert np.array_equal(rd.poll(4), recs[2:5])         # no boundary and at the tail: as it is
    ring.append("NSE_EQ", recs[5:])
    out = np.zeros(4, CHANGE_RECORD_DTYPE)
    assert rd.poll_into(out) == 4 and np.array_equal(out, recs[5:])
    assert rd.lost == 0 and rd.position == ring.tail("NSE_EQ")
    rd.close()


def test_cut_keeps_positions_and_lap_accounting(ring):
    """A lapped reader whose batch ends inside an update: the cut records are not lost, and
    position - start == returned + lost holds after every poll, for every on_lap policy."""
    recs = chain_records([3] * 30000)                    # 90,000 records: 2.7 laps
    ring.append("NSE_EQ", recs)
    for policy in ("oldest", "raise"):
        rd = ring.reader("NSE_EQ", start=0, on_lap=policy)
        returned = []
        while True:
            before = rd.position
            try:
                b = rd.poll(10)
            except RingLapped as e:
                assert e.lost == rd.last_lost and rd.position == before + e.lost
                continue
            if not len(b):
                break
            assert not ends_inside_an_update(b)
            assert b["slots"][0, 0] == before + rd.last_lost
            returned.append(b)
            assert rd.position == sum(map(len, returned)) + rd.lost
        got = np.concatenate(returned)
        assert rd.lost == len(recs) - len(got) and rd.laps == 1
        assert np.array_equal(got, recs[rd.lost:])
        rd.close()


def test_writer_records_without_the_flag_are_untouched(ring):
    """Test records (flags 0) and batches ending on a boundary keep their exact sizes (the common path)."""
    ring._write_test_records("NSE_FO", 100, batch=7)
    rd = ring.reader("NSE_FO", start="oldest")
    assert [len(rd.poll(13)) for _ in range(8)] == [13] * 7 + [9]
    rd.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=80),
       appends=st.lists(st.integers(1, 12), min_size=1, max_size=20),
       max_records=st.integers(1, 64), into=st.booleans())
def test_polls_concatenate_to_exactly_the_records_appended(ring, sizes, appends, max_records, into):
    """Whole updates per append (as the FeedHandler publishes), polled with any max_records: every poll ends
    on an update boundary unless it holds none, and the polls concatenate to exactly what was appended."""
    start = ring.tail("NFO_IDX")
    recs = chain_records(sizes, first=start)
    rd = ring.reader("NFO_IDX")
    out = []
    buf = np.zeros(max_records, CHANGE_RECORD_DTYPE)

    def drain():
        while True:
            if into:
                n = rd.poll_into(buf)
                b = buf[:n].copy()
            else:
                b = rd.poll(max_records)
            if not len(b):
                return
            assert len(b) <= max_records
            if ends_inside_an_update(b):
                assert not has_boundary(b)
            out.append(b)

    ends = np.cumsum(sizes)
    done, k = 0, 0
    while done < len(sizes):                             # append whole updates, draining in between
        step = appends[k % len(appends)]
        k += 1
        upto = min(done + step, len(sizes))
        lo = ends[done - 1] if done else 0
        ring.append("NFO_IDX", recs[lo:ends[upto - 1]])
        done = upto
        if k % 2:
            drain()
    drain()
    assert np.array_equal(np.concatenate(out), recs)
    assert rd.lost == 0 and rd.position == ring.tail("NFO_IDX")
    rd.close()


# ----------------------------------------------------------------------------------------------------------
# 3. Ring.unlink refuses a live writer's ring, and what replace=True refuses
# ----------------------------------------------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys
    from vega._ring import Ring
    if sys.argv[2] == "create":
        r = Ring.create(sys.argv[1], replace=True)
        r.append("NSE_FO", bytes(64))                    # claims the slot: its writer_pid is this process
    else:
        r = Ring.open(sys.argv[1], writable=True)        # idle writer: only the writer lock tells
    print("ready", flush=True)
    sys.stdin.read()
    r.close()
""")


@pytest.mark.parametrize("how", ["create", "open"])
def test_unlink_refuses_a_ring_another_process_writes(name, how):
    Ring.create(name).close()
    p = subprocess.Popen([sys.executable, "-c", HOLDER, name, how], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert p.stdout.readline().strip() == "ready"
        with pytest.raises(RingBusyError) as e:
            Ring.unlink(name)
        msg = str(e.value)
        assert "\n" not in msg
        assert msg == f"/dev/shm/{name}: is being written by pid {p.pid}; refusing to remove it"
        assert e.value.pid == p.pid
        assert os.path.exists(f"/dev/shm/{name}")
        with Ring.open(name) as ring:                   # still the writer's file, readable
            assert not ring.replaced
    finally:
        p.stdin.close()
        assert p.wait(timeout=30) == 0
    Ring.unlink(name)                                    # the writer closed it: removed
    assert not os.path.exists(f"/dev/shm/{name}")


def test_unlink_of_a_ring_this_process_writes_removes_it(name):
    ring = Ring.create(name)
    try:
        Ring.unlink(name)                                # the caller's own business, as for replace=True
        assert not os.path.exists(f"/dev/shm/{name}")
        assert ring.replaced
        assert ring.append("NSE_FO", np.zeros(2, CHANGE_RECORD_DTYPE)) == 2   # the mapping stays valid
    finally:
        ring.close()


def test_unlink_of_a_stale_ring_removes_it_whatever_pid_it_records(name):
    ring = Ring.create(name)
    ring.append("NSE_FO", np.zeros(1, CHANGE_RECORD_DTYPE))
    ring.close()
    fd = os.open(f"/dev/shm/{name}", os.O_RDWR)
    try:
        os.pwrite(fd, (1).to_bytes(4, "little"), 0x34)   # writer_pid = 1: alive, but holds no writer lock
    finally:
        os.close(fd)
    Ring.unlink(name)
    assert not os.path.exists(f"/dev/shm/{name}")


def test_unlink_of_an_empty_file_removes_it(name):
    open(f"/dev/shm/{name}", "wb").close()
    Ring.unlink(name)
    assert not os.path.exists(f"/dev/shm/{name}")


@pytest.mark.parametrize("what", ["junk", "journal-sized", "too-large", "directory", "symlink"])
def test_unlink_refuses_what_is_not_a_ring(name, what, tmp_path):
    path = f"/dev/shm/{name}"
    if what == "junk":
        open(path, "wb").write(b"PCAPxxxx" + bytes(1000))
    elif what == "journal-sized":
        open(path, "wb").write(b"VEGAJRNL" + bytes(0x602000 - 8))
    elif what == "too-large":
        open(path, "wb").write(b"VEGARING" + bytes(0x602000))
    elif what == "directory":
        os.mkdir(path)
    else:
        os.symlink(str(tmp_path), path)
    with pytest.raises(RingError, match=r"exists and is not a VEGA ring .*; refusing to remove it$") as e:
        Ring.unlink(name)
    assert type(e.value) is RingError and "\n" not in str(e.value)
    assert os.path.lexists(path)


def test_unlink_of_a_missing_ring_is_file_not_found(name):
    with pytest.raises(FileNotFoundError, match="no ring named") as e:
        Ring.unlink(name)
    assert e.value.filename == f"/dev/shm/{name}"


def test_unlink_then_a_writer_reopening_finds_it_gone(name):
    Ring.create(name).close()
    Ring.unlink(name)
    with pytest.raises(FileNotFoundError):
        Ring.open(name, writable=True)


# ----------------------------------------------------------------------------------------------------------
# 4. Stubs
# ----------------------------------------------------------------------------------------------------------

def test_create_takes_any_mapping_for_first_seq(name):
    with Ring.create(name, first_seq=types.MappingProxyType({"NSE_EQ": 7, 2: 9})) as ring:
        assert [ring.info(f)["first_seq"] for f in range(3)] == [0, 7, 9]


STUB_USER = '''
from typing import assert_type

import vega
from vega._net import BatchReceiver

first: dict[str, int] = {"NSE_FO": 5}
vega.Ring.create("x", first_seq=first)
firsti: dict[int, int] = {0: 5}
vega.Ring.create("x", first_seq=firsti)
vega.Ring.create("x", first_seq=3)

def datagrams(r: BatchReceiver) -> list[bytes]:
    n: int = r.bytes
    assert_type(r.recv(), list[bytes])                 # was list[Any]: the attribute `bytes` shadowed the type
    return r.recv()

def busy_pid(e: vega.RingBusyError) -> int | None:
    return e.pid
'''


def test_stubs_type_check_under_mypy_strict(tmp_path, monkeypatch):
    import mypy.api as api                               # a test dependency (pyproject.toml [test])
    monkeypatch.setenv("MYPYPATH", ROOT)                 # the stubs of this tree (an editable install hides them)
    script = tmp_path / "user.py"
    script.write_text(STUB_USER)
    out, err, status = api.run(["--strict", "--no-incremental", "--follow-imports=silent",
                                "--cache-dir", str(tmp_path / "cache"), str(script)])
    assert status == 0, out + err


# ----------------------------------------------------------------------------------------------------------
# 5. Reader repr and poll's timeout type
# ----------------------------------------------------------------------------------------------------------

def test_reader_repr_names_the_public_class_and_says_closed(name):
    ring = Ring.create(name)
    rd = ring.reader("NSE_FO", name="term")
    other = ring.reader("NSE_EQ")
    assert repr(rd) == "<vega.Reader NSE_FO name='term' position=0 laps=0 lost=0>"
    assert type(rd) is vega.Reader
    rd.close()
    assert repr(rd) == "<vega.Reader NSE_FO name='term' position=0 laps=0 lost=0 closed>"
    ring.close()                                         # closes its readers too
    assert other.closed and repr(other).endswith(" closed>")


def test_poll_timeout_must_be_a_number_or_none(ring):
    rd = ring.reader("NSE_FO")
    buf = np.zeros(4, CHANGE_RECORD_DTYPE)
    for bad in ("1", b"1", [1], True):
        with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
            rd.poll(timeout=bad)
        with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
            rd.poll_into(buf, timeout=bad)
    for ok in (0, 0.001, np.float64(0.001), np.int64(0)):
        assert len(rd.poll(timeout=ok)) == 0
    ring._write_test_records("NSE_FO", 3)
    assert len(rd.poll(1, timeout=None)) == 1
    assert len(rd.poll(1, timeout=math.inf)) == 1
    assert rd.poll_into(buf, timeout=1) == 1
    with pytest.raises(ValueError):
        rd.poll(timeout=-1)
    with pytest.raises(ValueError):
        rd.poll(timeout=math.nan)
    rd.close()


def test_append_refuses_an_array_of_another_dtype(ring):
    for bad in (np.arange(8, dtype=np.float64), np.zeros(8, np.int32), np.zeros(2, [("a", "<u8", 4)])):
        with pytest.raises(TypeError, match=f"CHANGE_RECORD_DTYPE, not {re.escape(str(bad.dtype))}"):
            ring.append("NSE_FO", bad)
    assert ring.tail("NSE_FO") == 0                      # nothing went out
    assert ring.append("NSE_FO", bytes(64)) == 2         # raw record bytes are taken as they are:
    assert ring.append("NSE_FO", np.zeros(3, CHANGE_RECORD_DTYPE).view(np.uint8)) == 5    # uint8,
    assert ring.append("NSE_FO", np.zeros(1, "V32")) == 6                                # plain void,
    assert ring.append("NSE_FO", np.zeros(3, CHANGE_RECORD_DTYPE)) == 9                  # and records


def _fork_worker_noop(x):
    return x


def test_a_forked_child_does_not_keep_the_writer_lock(name):
    """A multiprocessing (fork) worker made while a ring is open for writing shares the locked open file; it
    lets go of it at the fork, so once the parent closes its ring nobody is writing it any more."""
    ring = Ring.create(name)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_fork_worker_noop, (7,)) == 7     # the worker lives on while the ring closes
        ring.close()
        Ring.unlink(name)                                   # not refused: the worker is no writer
        assert not os.path.exists(f"/dev/shm/{name}")


def test_a_forked_child_is_no_writer_of_the_ring(name):
    """The child's copy of a writable Ring is no writer: its appends (to a slot the parent writes or to any
    other) and its FeedHandler's merges are refused with RingError, and the parent's slots are as it left
    them.  Before, the child's copy kept the parent's writer roles (and their counters, copied at the fork):
    its append went into the parent's slot at the parent's old tail, a second writer over records readers take
    as valid, and moved the tail back."""
    from fork_helpers import outcomes_in_a_forked_child
    ring = Ring.create(name)
    ring.append(0, np.zeros(3, dtype=CHANGE_RECORD_DTYPE))        # the parent holds slot 0
    store = vega.Store(64)                                         # in-process: the child's is its own copy
    fh = vega.FeedHandler("CM", store, ring=ring)                  # and slot 1 (NSE_EQ)
    tick = {"transaction_code": 18703, "records": [{"token": 7, "last_traded_price": 500}]}
    fh.merge_message(tick, now_ns=1_700_000_000_000_000_000)
    tails = [ring.tail(f) for f in range(3)]
    assert tails[0] == 3 and tails[1] > 0
    rec = np.zeros(2, dtype=CHANGE_RECORD_DTYPE)
    out = outcomes_in_a_forked_child([lambda: ring.append(0, rec), lambda: ring.append(2, rec),
                                      lambda: fh.merge_message(tick, now_ns=1_700_000_000_000_000_001),
                                      lambda: ring.reader(0, start="oldest").poll().size == 3 or 1 / 0])
    for o in out[:3]:
        assert o.startswith("RingError: ") and "no writer here" in o, o
    assert out[3] == "ok"                                          # reading works
    assert [ring.tail(f) for f in range(3)] == tails
    assert ring.info(0)["writer_pid"] == os.getpid() and ring.writable
    assert ring.append(0, rec) == 5                                # the parent writes on
    fh.close()
    ring.close()


def test_replace_from_a_writer_process_sees_another_idle_writer(name):
    """This process has the ring open for writing and another process has too, without having appended: the
    lock test cannot tell them apart, /proc/locks can."""
    mine = Ring.create(name)
    p = subprocess.Popen([sys.executable, "-c", "import sys; from vega._ring import Ring; "
                          "r = Ring.open(sys.argv[1], writable=True); print('ready', flush=True); "
                          "sys.stdin.read()", name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert p.stdout.readline().strip() == "ready"
        with pytest.raises(RingBusyError, match=f"pid {p.pid}") as e:
            Ring.create(name, replace=True)
        assert e.value.pid == p.pid
        with pytest.raises(RingBusyError, match=f"pid {p.pid}"):
            Ring.unlink(name)
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    with Ring.create(name, replace=True):                   # the other writer is gone: ours to replace
        assert mine.replaced
    mine.close()


def test_reader_start_and_seek_take_numpy_integers_not_bools(ring):
    ring._write_test_records("NSE_FO", 10)
    rd = ring.reader("NSE_FO", start=np.int64(4))
    assert rd.position == 4 and rd.poll(100)["token"].tolist() == list(range(4, 10))
    rd.seek(np.uint32(2))
    assert rd.position == 2
    for bad in (True, 2.0, "3"):
        with pytest.raises(ValueError, match="sequence number"):
            rd.seek(bad)
        with pytest.raises(ValueError, match="sequence number"):
            ring.reader("NSE_FO", start=bad)
    with pytest.raises(TypeError, match="feed must be a feed name or an index"):
        ring.reader(True)
    with pytest.raises(TypeError, match="feed must be a feed name or an index"):
        ring.reader(1.0)
    assert ring.reader(np.int8(1)).feed == "NSE_EQ"
    rd.close()


def test_a_forked_childs_named_reader_reads_privately(name):
    """A forked child's copy of a registered (named) Reader reads on from the parent's position, but privately:
    it is no longer registered, and its polls leave the parent's bus line (saved position, heartbeat, lap
    counts) as the parent left it.  Before, the child's polls wrote its own position into the parent's line,
    so the parent's saved position (and ``start="resume"`` after a restart) moved by what the child read."""
    from fork_helpers import outcomes_in_a_forked_child
    ring = Ring.create(name)
    ring.append(0, chain_records([1] * 10))
    rd = ring.reader(0, name="strategy", start="oldest")
    assert rd.poll(max_records=4).size == 4
    ring.append(0, chain_records([1] * 5, first=10))
    line = ring.readers()[0]
    assert (line.name, line.pid, line.position) == ("strategy", os.getpid(), 4)

    def child_polls():
        got = rd.poll()
        assert got.size == 11 and int(got["slots"][0][0]) == 4, got
        assert not rd.registered and rd.name == "strategy"
        rd.close()                                     # leaves the parent's line alone too

    out = outcomes_in_a_forked_child([child_polls])
    assert out == ["ok"]
    after = ring.readers()
    assert len(after) == 1
    assert (after[0].name, after[0].pid, after[0].position, after[0].heartbeat_ns) == \
        ("strategy", os.getpid(), 4, line.heartbeat_ns)
    assert rd.registered and rd.poll().size == 11      # the parent's reader goes on where it was
    assert ring.readers()[0].position == 15
    rd.close()
    ring.close()
