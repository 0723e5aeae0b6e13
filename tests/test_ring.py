"""vega._ring in one process: layout, append/poll, wrap-around, lapping, waits, the client bus, bad files."""
import os
import struct
import subprocess
import sys
import threading
import uuid

import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from vega import _ring
from vega._ring import Ring, RingBusyError, RingError, RingFormatError, RingLapped
from vega.records import CHANGE_RECORD_DTYPE

from ring_worker import checksum, seqs

CAP = 32768
SLOT = 0x200000
TRAILER = 0x1FFFF0
BUS = 0x600000
FILE_SIZE = 0x602000
HDR = struct.Struct("<8sHHHHIIIIQQIIQ")
CURSOR = struct.Struct("<IBBH24sQQQQ")
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ring_worker.py")


@pytest.fixture
def name():
    n = f"vega-test-{uuid.uuid4().hex[:12]}"
    yield n
    for p in (os.path.join("/dev/shm", n),):
        if os.path.exists(p):
            os.unlink(p)


@pytest.fixture
def ring(name):
    r = Ring.create(name)
    yield r
    r.close()


def raw(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def poke(path, off, data):
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, data, off)
    finally:
        os.close(fd)


def records(n, seed=0):
    rng = np.random.default_rng(seed)
    a = np.zeros(n, dtype=CHANGE_RECORD_DTYPE)
    a.view(np.uint8)[:] = rng.integers(0, 256, size=n * 32, dtype=np.uint8)
    return a


# ----------------------------------------------------------------------------------------------------------
# Layout (docs/FORMATS.md "Ring")
# ----------------------------------------------------------------------------------------------------------

def test_c_struct_layout_matches_the_documented_offsets():
    lay = _ring._layout()
    assert lay["ring_header_t"] == lay["ring_bus_header_t"] == lay["ring_cursor_t"] == 64
    assert [lay[f"header.{k}"] for k in ("version", "feed_type", "record_size", "symbol_id", "capacity",
            "records_offset", "trailer_offset", "record_count", "created_ns", "slot_size", "writer_pid",
            "first_seq")] == [0x08, 0x0C, 0x0E, 0x10, 0x14, 0x18, 0x1C, 0x20, 0x28, 0x30, 0x34, 0x38]
    assert _ring.VERSION == 2
    assert (lay["bus.n_lines"], lay["bus.created_ns"]) == (0x0C, 0x10)
    assert [lay[f"cursor.{k}"] for k in ("state", "feed", "name", "position", "laps", "lost",
                                         "heartbeat_ns")] == [0x04, 0x05, 0x08, 0x20, 0x28, 0x30, 0x38]
    assert (_ring.CAPACITY, _ring.SLOT_SIZE, _ring.FILE_SIZE, _ring.BUS_LINES) == (CAP, SLOT, FILE_SIZE, 127)
    assert _ring.FEEDS == ("NSE_FO", "NSE_EQ", "NFO_IDX")


def test_file_bytes_are_the_documented_layout(ring, name):
    path = ring.path
    assert path == f"/dev/shm/{name}"
    st_ = os.stat(path)
    assert st_.st_size == FILE_SIZE
    assert st_.st_mode & 0o777 == 0o600
    for f in range(3):
        (magic, version, hsize, feed_type, rsize, sym, cap, roff, toff, count, created, ssize,
         wpid, first) = HDR.unpack(raw(path, f * SLOT, 64))
        assert (magic, version, hsize, feed_type, rsize, sym, cap, roff, toff, count, ssize, wpid, first) == \
            (b"VEGARING", 2, 64, f, 32, 0, CAP, 0x40, 0x1FFFF0, 0, SLOT, 0, 0)
        assert created > 0
    recs = records(CAP + 7)                 # wraps: the last 7 land at indices 0..6
    ring.append("NSE_EQ", recs[:100])
    ring.append("NSE_EQ", recs[100:])
    base = 1 * SLOT
    assert struct.unpack("<QQ", raw(path, base + TRAILER, 16)) == (CAP + 7, CAP + 7)   # tail_intent, tail
    hdr = HDR.unpack(raw(path, base, 64))
    assert hdr[9] == CAP + 7 and hdr[12] == os.getpid()          # record_count, writer_pid
    body = raw(path, base + 0x40, CAP * 32)
    assert body[:7 * 32] == recs[CAP:].tobytes()                # seq CAP..CAP+6 at index 0..6
    assert body[7 * 32:] == recs[7:CAP].tobytes()               # seq 7..CAP-1 at index 7..
    assert raw(path, base + 0x40 + CAP * 32, TRAILER - 0x40 - CAP * 32) == bytes(TRAILER - 0x40 - CAP * 32)
    assert struct.unpack("<QQ", raw(path, 0 * SLOT + TRAILER, 16)) == (0, 0)    # other slots untouched
    magic, version, line_size, n_lines, created = struct.unpack("<8sHHIQ40x", raw(path, BUS, 64))
    assert (magic, version, line_size, n_lines) == (b"VEGARBUS", 1, 64, 127) and created > 0


def test_a_ring_knows_when_its_file_was_replaced_or_removed(name):
    w = Ring.create(name)
    r = Ring.open(name)
    assert not w.replaced and not r.replaced
    w2 = Ring.create(name, replace=True)        # a restarted capture
    assert w.replaced and r.replaced and not w2.replaced
    r2 = Ring.open(name)
    assert not r2.replaced
    Ring.unlink(name)
    assert r2.replaced and w2.replaced
    for x in (w, r, w2, r2):
        x.close()


def test_cursor_line_bytes(ring):
    r = ring.reader("NFO_IDX", name="charting")
    ring._write_test_records("NFO_IDX", 5)
    r.poll()
    pid, state, feed, _res, nm, pos, laps, lost, hb = CURSOR.unpack(raw(ring.path, BUS + 64 * (1 + r.line), 64))
    assert (pid, state, feed, nm.rstrip(b"\0"), pos, laps, lost) == (os.getpid(), 2, 2, b"charting", 5, 0, 0)
    assert hb > 0
    r.close()
    pid, state = CURSOR.unpack(raw(ring.path, BUS + 64, 64))[:2]
    assert (pid, state) == (0, 0)


# ----------------------------------------------------------------------------------------------------------
# Append / poll
# ----------------------------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.binary(min_size=0, max_size=40 * 32).map(lambda b: b[: len(b) // 32 * 32]),
                        min_size=1, max_size=8))
def test_records_round_trip_bit_exact(ring, batches):
    r = ring.reader("NSE_FO")
    sent = b""
    for b in batches:
        ring.append("NSE_FO", b)
        sent += b
    got = r.poll(CAP)
    assert got.dtype == CHANGE_RECORD_DTYPE
    assert got.tobytes() == sent
    assert r.lag == 0 and r.lost == 0
    r.close()


def test_wrap_around_in_order(ring):
    r = ring.reader(0, start="oldest")
    total = 0
    for n in (CAP - 5, 3, 10, CAP - 1, 1000):     # batches that straddle the end of the record array
        tail = ring._write_test_records(0, n, batch=n)
        total += n
        assert tail == total
        got = r.poll(CAP)
        assert len(got) == n
        assert np.array_equal(seqs(got), np.arange(total - n, total))
        assert np.array_equal(checksum(got), got["slots"][:, 3].view(np.uint32))
    assert r.lost == 0 and r.laps == 0 and r.position == total


def test_small_polls_and_lag(ring):
    r = ring.reader(0)
    ring._write_test_records(0, 100, batch=7)
    assert r.lag == 100
    out = [r.poll(13) for _ in range(8)]
    assert [len(a) for a in out] == [13] * 7 + [9]
    assert np.array_equal(seqs(np.concatenate(out)), np.arange(100))
    assert r.lag == 0 and len(r.poll()) == 0


def test_feeds_are_independent(ring):
    readers = [ring.reader(f) for f in range(3)]
    for f in range(3):
        ring._write_test_records(f, 10 * (f + 1))
    assert [len(r.poll()) for r in readers] == [10, 20, 30]
    assert [ring.tail(f) for f in ("nse_fo", "NSE_EQ", 2)] == [10, 20, 30]


def test_poll_into(ring):
    r = ring.reader(0)
    ring._write_test_records(0, 50)
    out = np.zeros(20, dtype=CHANGE_RECORD_DTYPE)
    assert r.poll_into(out) == 20
    assert np.array_equal(seqs(out), np.arange(20))
    assert r.poll_into(out) == 20 and r.poll_into(out) == 10
    assert np.array_equal(seqs(out[:10]), np.arange(40, 50))
    assert r.poll_into(out) == 0


def test_poll_into_an_array_of_another_dtype_is_refused_as_append_refuses_it(ring):
    """poll_into wrote the records' bytes into an int64 or float64 array and returned a count, which the caller
    then read as numbers; append refuses such an array (TypeError), and so does poll_into now, reading nothing."""
    r = ring.reader(0)
    ring._write_test_records(0, 5)
    for bad in (np.zeros(20, np.int64), np.zeros(20, np.float64),
                np.zeros(20, np.dtype([("a", "<i8"), ("b", "<i8"), ("c", "<i8"), ("d", "<i8")]))):
        with pytest.raises(TypeError, match="out must have CHANGE_RECORD_DTYPE"):
            r.poll_into(bad)
        assert r.position == 0
    raw = np.zeros(5 * 32, np.uint8)                             # raw record bytes, as append takes them
    assert r.poll_into(raw) == 5 and np.array_equal(seqs(raw.view(CHANGE_RECORD_DTYPE)), np.arange(5))
    ring._write_test_records(0, 2)
    assert r.poll_into(bytearray(64)) == 2


def test_poll_into_a_buffer_it_cannot_write_is_refused_naming_out(ring):
    """A read-only array, a strided one, bytes or a list got the buffer protocol's own words ("buffer source array
    is read-only", "ndarray is not C-contiguous", "a bytes-like object is required, not 'list'"), naming no
    argument; now they name ``out`` and what it takes, and read nothing."""
    r = ring.reader(0)
    ring._write_test_records(0, 5)
    read_only = np.zeros(8, CHANGE_RECORD_DTYPE)
    read_only.flags.writeable = False
    for bad, kind in ((read_only, ValueError), (np.zeros(16, CHANGE_RECORD_DTYPE)[::2], ValueError),
                      (bytes(256), BufferError), ([0] * 8, TypeError)):
        with pytest.raises(kind, match="^out must be a writable, C-contiguous buffer"):
            r.poll_into(bad)
        assert r.position == 0
    assert r.poll_into(np.zeros(8, CHANGE_RECORD_DTYPE)) == 5

def test_start_positions_and_seek(ring):
    ring._write_test_records(0, CAP + 100)
    assert ring.reader(0).position == CAP + 100
    old = ring.reader(0, start="oldest")
    assert old.position == 100
    assert seqs(old.poll(1))[0] == 100
    at = ring.reader(0, start=CAP + 90)
    assert np.array_equal(seqs(at.poll()), np.arange(CAP + 90, CAP + 100))
    at.seek("oldest")
    assert at.position == 100
    at.seek(CAP + 99)
    assert seqs(at.poll())[0] == CAP + 99
    at.seek("newest")
    assert at.lag == 0


# ----------------------------------------------------------------------------------------------------------
# Lapping: found out every time, exact loss counts
# ----------------------------------------------------------------------------------------------------------

def test_lapped_reader_resumes_at_oldest_with_exact_loss(ring):
    r = ring.reader(0)
    ring._write_test_records(0, CAP + 123, batch=1000)
    got = r.poll(CAP)
    assert (r.last_lost, r.lost, r.laps) == (123, 123, 1)
    assert len(got) == CAP and np.array_equal(seqs(got), np.arange(123, CAP + 123))
    ring._write_test_records(0, 10)
    assert len(r.poll()) == 10 and r.last_lost == 0 and r.laps == 1
    ring._write_test_records(0, 3 * CAP + 1)
    got = r.poll(5)
    assert r.last_lost == 2 * CAP + 1 and r.lost == 123 + 2 * CAP + 1 and r.laps == 2
    assert np.array_equal(seqs(got), np.arange(CAP + 133 + 2 * CAP + 1, CAP + 133 + 2 * CAP + 6))


def test_lapped_reader_newest_policy(ring):
    r = ring.reader(0, on_lap="newest")
    ring._write_test_records(0, CAP + 5)
    assert len(r.poll()) == 0
    assert (r.last_lost, r.lost, r.laps, r.position) == (CAP + 5, CAP + 5, 1, CAP + 5)
    ring._write_test_records(0, 4)
    assert np.array_equal(seqs(r.poll()), np.arange(CAP + 5, CAP + 9))


def test_lapped_reader_raise_policy(ring):
    r = ring.reader(0, on_lap="raise")
    ring._write_test_records(0, CAP + 50)
    with pytest.raises(RingLapped) as e:
        r.poll()
    assert e.value.lost == 50 and r.lost == 50 and r.laps == 1 and r.position == 50
    got = r.poll(CAP)                         # the valid records were kept for this poll
    assert len(got) == CAP and seqs(got)[0] == 50 and r.last_lost == 0


def test_batch_larger_than_capacity_counts_every_record(ring):
    r = ring.reader(0)
    big = np.zeros(2 * CAP + 3, dtype=CHANGE_RECORD_DTYPE)
    big["token"] = np.arange(len(big))
    assert ring.append(0, big) == len(big)
    got = r.poll(CAP)
    assert r.last_lost == CAP + 3
    assert np.array_equal(got["token"], np.arange(CAP + 3, 2 * CAP + 3))


def test_records_being_overwritten_are_never_returned(ring):
    """A writer that has announced (tail intent) but not finished a batch invalidates what it overwrites."""
    r = ring.reader(0, start="oldest")
    ring._write_test_records(0, CAP)                     # seq 0..CAP-1, the ring is full
    poke(ring.path, TRAILER, struct.pack("<Q", CAP + 10))   # intent: writing seq CAP..CAP+9 over 0..9
    got = r.poll(CAP)
    assert r.last_lost == 10 and r.laps == 1
    assert np.array_equal(seqs(got), np.arange(10, CAP))
    assert len(r.poll()) == 0                             # seq CAP.. are not published yet


def test_intent_far_ahead_copies_nothing_valid(ring):
    r = ring.reader(0, start="oldest")
    ring._write_test_records(0, 100)
    poke(ring.path, TRAILER, struct.pack("<Q", 100 + 2 * CAP))
    assert len(r.poll()) == 0
    assert r.position == 100 and r.lost == 100       # everything up to the tail is lost, no further


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(["w", "r"]), st.integers(1, 3 * CAP)), min_size=1, max_size=12),
       policy=st.sampled_from(["oldest", "newest"]))
def test_lap_accounting_property(ring, ops, policy):
    """Whatever the interleaving: returned + lost == records passed, and each gap equals the loss reported."""
    r = ring.reader(1, on_lap=policy)
    start = r.position
    returned = 0
    for op, n in ops:
        if op == "w":
            ring._write_test_records(1, n, batch=min(n, 4096))
            continue
        before = r.position
        got = r.poll(n)
        returned += len(got)
        if len(got):
            assert seqs(got)[0] == before + r.last_lost
            assert np.all(np.diff(seqs(got)) == 1)
            assert np.array_equal(checksum(got), got["slots"][:, 3].view(np.uint32))
        else:
            assert r.position == before + r.last_lost
        assert r.position - start == returned + r.lost
    r.close()


@pytest.mark.parametrize("max_records", [1, 64, CAP])
def test_polls_against_a_flat_out_writer_thread_always_return_and_account(ring, max_records):
    r = ring.reader(0, start="oldest")
    start = r.position
    t = threading.Thread(target=ring._write_test_records, args=(0, 3_000_000), kwargs={"batch": 64})
    t.start()
    returned = 0
    try:
        while t.is_alive() or r.lag:
            before = r.position
            got = r.poll(max_records)
            returned += len(got)
            if len(got):
                assert seqs(got)[0] == before + r.last_lost and np.all(np.diff(seqs(got)) == 1)
                assert np.array_equal(checksum(got), got["slots"][:, 3].view(np.uint32))
    finally:
        t.join()
    assert r.position == ring.tail(0) and r.position - start == returned + r.lost


def test_tail_behind_reader_is_a_rewind_not_a_crash(ring):
    r = ring.reader(0)
    ring._write_test_records(0, 1000)
    r.poll(2000)
    poke(ring.path, TRAILER, struct.pack("<QQ", 10, 10))     # hostile: counters go backwards
    assert len(r.poll()) == 0 and r.rewinds == 1 and r.position == 10
    poke(ring.path, TRAILER, struct.pack("<QQ", 2**63 + 5, 2**63 + 5))   # absurd tail: still in bounds
    got = r.poll(CAP)
    assert len(got) == CAP and r.laps == 1


# ----------------------------------------------------------------------------------------------------------
# Waiting
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("wait", ["spin", "yield", "sleep"])
def test_poll_waits_for_a_record_from_another_thread(ring, wait):
    r = ring.reader(0)
    t = threading.Timer(0.05, lambda: ring._write_test_records(0, 3))
    t.start()
    got = r.poll(10, timeout=30, wait=wait)     # returns as soon as the records arrive
    t.join()
    assert len(got) >= 1 and seqs(got)[0] == 0


@pytest.mark.parametrize("wait", ["spin", "yield", "sleep"])
def test_poll_timeout_returns_empty(ring, wait):
    r = ring.reader(0)
    assert len(r.poll(10, timeout=0.01, wait=wait)) == 0
    out = np.zeros(4, dtype=CHANGE_RECORD_DTYPE)
    assert r.poll_into(out, timeout=0.01, wait=wait) == 0


def test_poll_argument_errors(ring):
    r = ring.reader(0)
    with pytest.raises(ValueError):
        r.poll(0)
    with pytest.raises(ValueError):
        r.poll(1, wait="nap")
    with pytest.raises(ValueError):
        r.poll(1, timeout=-1)
    with pytest.raises(ValueError):
        r.poll_into(np.zeros(10, np.uint8))
    with pytest.raises(ValueError):
        ring.reader(0, on_lap="ignore")
    with pytest.raises(ValueError):
        ring.reader(0, start="middle")
    with pytest.raises(ValueError):
        ring.reader("BSE")
    with pytest.raises(ValueError):
        ring.reader(3)
    with pytest.raises(ValueError):
        ring.append(0, b"x" * 33)


def test_heartbeat_advances_on_poll(ring):
    r = ring.reader(0, name="terminal-1")
    hb0 = ring.readers()[0].heartbeat_ns
    r.poll()
    hb1 = ring.readers()[0].heartbeat_ns
    assert hb1 >= hb0 > 0


# ----------------------------------------------------------------------------------------------------------
# The client bus
# ----------------------------------------------------------------------------------------------------------

def test_seed_readers_register_and_are_listed(ring, name):
    seed = {"terminal-1": 0, "terminal-2": 0, "analytics-replay": 1, "charting": 2}
    rs = {n: ring.reader(f, name=n) for n, f in seed.items()}
    other = Ring.open(name)
    any_name = other.reader("NSE_EQ", name="my own tool ✓")
    ring._write_test_records(0, 40)
    rs["terminal-1"].poll(15)
    listing = {i.name: i for i in other.readers()}
    assert set(listing) == set(seed) | {"my own tool ✓"}
    assert all(i.pid == os.getpid() and i.alive for i in listing.values())
    assert listing["terminal-1"].position == 15 and listing["terminal-1"].lag == 25
    assert listing["terminal-2"].lag == 40
    assert listing["charting"].feed == "NFO_IDX" and listing["analytics-replay"].feed == "NSE_EQ"
    assert len({i.line for i in listing.values()}) == 5
    any_name.close()
    assert "my own tool ✓" not in {i.name for i in ring.readers()}
    other.close()


def test_reader_names_are_unique_per_feed(ring):
    a = ring.reader(0, name="terminal-1")
    with pytest.raises(RingBusyError, match="in use"):
        ring.reader(0, name="terminal-1")
    b = ring.reader(1, name="terminal-1")     # same name, other feed: fine
    line = a.line
    a.close()
    c = ring.reader(0, name="terminal-1")     # freed by close
    assert (line, b.line, c.line) == (0, 1, 0)
    b.close()
    c.close()


def test_bad_reader_names(ring):
    for bad in ("", "x" * 25, "a\0b", "é" * 13):
        with pytest.raises(ValueError):
            ring.reader(0, name=bad)
    with pytest.raises(TypeError):
        ring.reader(0, name=b"bytes")
    assert ring.reader(0, name="y" * 24).name == "y" * 24


def test_bus_full(ring):
    rs = [ring.reader(0, name=f"r{i}") for i in range(127)]
    with pytest.raises(RingBusyError, match="full"):
        ring.reader(0, name="one-too-many")
    unregistered = ring.reader(0)             # unregistered readers are not limited
    assert unregistered.line is None
    rs[5].close()
    assert ring.reader(0, name="one-too-many").line == 5


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_dead_reader_cursor_is_reclaimed_by_name(ring):
    ring._write_test_records(0, 500)
    out = subprocess.run([sys.executable, WORKER, "die", ring.path, "0", "charting", "3"],
                         capture_output=True, text=True, check=True, timeout=60)
    import json
    died = json.loads(out.stdout)
    assert died["position"] == 30
    info = [i for i in ring.readers() if i.name == "charting"][0]
    assert not info.alive and info.position == 30 and info.lag == 470
    r = ring.reader(0, name="charting", start="resume")
    assert r.line == died["line"] and r.position == 30
    assert np.array_equal(seqs(r.poll(5)), np.arange(30, 35))
    assert [i.pid for i in ring.readers() if i.name == "charting"] == [os.getpid()]


def test_reclaim_frees_dead_lines_and_full_bus_reuses_them(ring):
    rs = [ring.reader(0, name=f"r{i}") for i in range(127)]    # the bus is full (kept alive by rs)
    assert sorted(x.line for x in rs) == list(range(127))
    dead = _dead_pid()
    poke(ring.path, BUS + 64 * (1 + 9), struct.pack("<I", dead))     # line 9 now belongs to a dead process
    r = ring.reader(1, name="newcomer")
    assert r.line == 9
    poke(ring.path, BUS + 64 * (1 + 20), struct.pack("<I", dead))
    assert ring.reclaim() == 1
    assert 20 not in {i.line for i in ring.readers()}


# ----------------------------------------------------------------------------------------------------------
# Writer role
# ----------------------------------------------------------------------------------------------------------

def test_one_writer_per_slot(ring, name):
    ring.append(0, records(1))
    w2 = Ring.open(name, writable=True)
    with pytest.raises(RingBusyError):
        w2.append(0, records(1))
    w2.append(1, records(1))                    # another slot is free
    ro = Ring.open(name)
    with pytest.raises(RingError, match="writable"):
        ro.append(2, records(1))
    ring.close()                                # gives slot 0 up
    assert w2.append(0, records(2)) == 3        # and the sequence continues
    w2.close()
    ro.close()


def test_dead_writer_role_is_reclaimed_and_torn_batch_stays_invalid(ring, name):
    ring._write_test_records(0, CAP)
    ring.close()
    path = f"/dev/shm/{name}"
    # a writer died mid-batch: writer_pid is a dead process, tail_intent = tail + 20, and it had already
    # scribbled over the records of seq 5..19 (indices 5..19) when it died
    poke(path, 0x34, struct.pack("<I", _dead_pid()))
    poke(path, TRAILER, struct.pack("<Q", CAP + 20))
    poke(path, 0x40 + 5 * 32, b"\xff" * (15 * 32))
    w = Ring.open(name, writable=True)
    assert w._write_test_records(0, 5) == CAP + 5          # continues from the published tail
    assert w.info(0)["tail_intent"] == CAP + 20            # and never lowers the intent
    assert w.info(0)["writer_pid"] == os.getpid()
    rd = w.reader(0, start=5)
    got = rd.poll(CAP)
    assert rd.last_lost == 15                               # seq 5..19 may be torn: never returned
    assert np.array_equal(seqs(got), np.arange(20, CAP + 5))
    assert np.array_equal(checksum(got), got["slots"][:, 3].view(np.uint32))
    w.close()


# ----------------------------------------------------------------------------------------------------------
# Files: creation, names, damage
# ----------------------------------------------------------------------------------------------------------

def test_create_refuses_existing_and_replace(name):
    r = Ring.create(name)
    r.append(0, records(3))
    with pytest.raises(FileExistsError):
        Ring.create(name)
    r2 = Ring.create(name, replace=True, mode=0o640)
    assert r2.tail(0) == 0 and os.stat(r2.path).st_mode & 0o777 == 0o640
    assert not [p for p in os.listdir("/dev/shm") if p.startswith(f".{name}.")]   # no temp files left
    r.close()
    r2.close()


def test_names_and_paths(tmp_path):
    with pytest.raises(ValueError):
        Ring.create("a/b")
    with pytest.raises(ValueError):
        Ring.create("")
    with pytest.raises(ValueError):
        Ring.create("..")
    with pytest.raises(ValueError, match="world-writable"):
        Ring.create(str(tmp_path / "ww"), mode=0o666)
    with pytest.raises(TypeError):
        Ring()
    p = str(tmp_path / "ring.bin")
    r = Ring.create(p)
    assert r.path == p and os.path.getsize(p) == FILE_SIZE
    r.close()
    with pytest.raises(FileNotFoundError, match="no ring named '.*missing'") as e:
        Ring.open(str(tmp_path / "missing"))
    assert e.value.filename == str(tmp_path / "missing")


def test_closed_objects_raise(ring, name):
    r = ring.reader(0, name="terminal-2")
    ring.close()
    assert ring.closed and r.closed
    with Ring.open(name) as again:
        assert again.readers() == []                         # closing the ring closed its readers
    with pytest.raises(ValueError):
        r.poll()
    with pytest.raises(ValueError):
        ring.tail(0)
    ring.close()                                             # idempotent


def _fresh(name):
    Ring.create(name).close()
    return f"/dev/shm/{name}"


DAMAGE = [
    ("slot 0 magic", 0x00, b"XEGARING", "magic"),
    ("slot 2 magic", 2 * SLOT, b"\0" * 8, "magic"),
    ("version", SLOT + 0x08, struct.pack("<H", 3), "version"),
    ("version 0", 0x08, struct.pack("<H", 0), "version"),
    ("first_seq past the tail", SLOT + 0x38, struct.pack("<Q", 1), "first_seq"),
    ("header size", 0x0A, struct.pack("<H", 128), "header_size"),
    ("feed type", SLOT + 0x0C, struct.pack("<H", 0), "feed type"),
    ("record size", 0x0E, struct.pack("<H", 64), "record_size"),
    ("capacity", 2 * SLOT + 0x14, struct.pack("<I", 65536), "capacity"),
    ("records offset", 0x18, struct.pack("<I", 0x1FFFE0), "records_offset"),
    ("trailer offset", 0x1C, struct.pack("<I", 0x10), "trailer_offset"),
    ("slot size", 0x30, struct.pack("<I", 0x400000), "slot_size"),
    ("tail > intent", TRAILER, struct.pack("<QQ", 5, 6), "counters"),
    ("absurd intent", SLOT + TRAILER, struct.pack("<QQ", 2**63, 2**63), "counters"),
    ("bus magic", BUS, b"VEGARINX", "bus header"),
    ("bus lines", BUS + 0x0C, struct.pack("<I", 100000), "bus header"),
    ("bus line size", BUS + 0x0A, struct.pack("<H", 32), "bus header"),
]


@pytest.mark.parametrize("what,off,data,msg", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_headers_are_refused(name, what, off, data, msg):
    path = _fresh(name)
    poke(path, off, data)
    with pytest.raises(RingFormatError, match=msg):
        Ring.open(name)
    with pytest.raises(RingFormatError):
        Ring.open(name, writable=True)


@pytest.mark.parametrize("size", [0, 64, BUS, FILE_SIZE - 1, FILE_SIZE + 4096])
def test_wrong_size_is_refused(name, size):
    path = _fresh(name)
    os.truncate(path, size)
    with pytest.raises(RingFormatError, match="bytes"):
        Ring.open(name)


def test_not_a_regular_file_symlink_world_writable(name, tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    with pytest.raises((RingFormatError, IsADirectoryError)):
        Ring.open(str(d))
    path = _fresh(name)
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(RingError, match="symbolic link"):
        Ring.open(str(link))
    os.chmod(path, 0o666)
    with pytest.raises(RingError, match="world-writable"):
        Ring.open(name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hits=st.lists(st.tuples(st.sampled_from([0, SLOT, 2 * SLOT, BUS, TRAILER, SLOT + TRAILER, BUS + 64]),
                                st.integers(0, 63), st.integers(0, 255)), min_size=1, max_size=6))
def test_random_header_damage_never_crashes(name, hits):
    path = f"/dev/shm/{name}"
    if not os.path.exists(path):
        Ring.create(name).close()
    backup = {}
    for base, off, val in hits:
        pos = base + off if base not in (TRAILER, SLOT + TRAILER) else base + off % 16
        backup.setdefault(pos, raw(path, pos, 1))
        poke(path, pos, bytes([val]))
    try:
        try:
            r = Ring.open(name)
        except RingFormatError:
            return
        rd = r.reader(0, start="oldest")
        rd.poll(CAP)
        r.readers()
        for f in range(3):
            r.info(f)
        r.close()
    finally:
        for pos, b in backup.items():
            poke(path, pos, b)



def test_resume_without_a_name_is_refused(ring):
    """Only a named reader's position is saved: start='resume' without a name started at the newest record,
    silently skipping what was published while the strategy was down, on every restart."""
    ring._write_test_records(0, 50)
    with pytest.raises(ValueError, match="resumes the position a named reader saved: give its name="):
        ring.reader(0, start="resume")
    r = ring.reader(0, name="fresh", start="resume")          # a name never seen: newest, as documented
    assert r.position == 50
    r.close()
