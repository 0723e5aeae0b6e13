"""Calls that run without the GIL against other Python threads.

* The batch entry points read their datagrams without the GIL. Another thread may change the caller's list
  meanwhile (replace, clear, extend it). That must never free a datagram under the nogil loop, so the batch
  keeps its own references. Before it did, the race tests saw thousands of decode errors per second, from
  datagrams read after they had been freed and their memory reused.
* `Store.close()` must not unmap a store that a running batch, snapshot, apply or keyframe call is using
  (before the guard, the process crashed). `FeedHandler.close()` must not release the ring slot under a
  running batch, and `Ring.close()` / `Reader.close()` must not pull the ring from under a running poll.
* A `JournalWriter` must not be sealed and closed under a batch that journals to it, nor under an append
  of its own (before the guard, the day's file was sealed mid-stream and did not read back)."""
import datetime as dt
import os
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest

import vega
from vega import nse
from vega._core import Decoder
from vega._ring import Ring
from vega.instruments import Instruments
from vega.journal import SEALED, Journal, JournalWriter
from vega.records import CHANGE_RECORD_DTYPE

T0 = 1_700_000_000_000_000_000
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
SECONDS = 1.5
ROUNDS = 10
WAIT = 60                # a deadline: for a thread to get where it must get (not reached: the test fails)


def _race(run_batch):
    """run_batch(lst) over and over while another thread keeps replacing every item of lst by a fresh copy of
    a valid datagram (in a different order each time, so that reused memory holds other datagrams).  Returns
    the messages per batch and the batches run."""
    dgs = list(nse.sample_stream("FO", 600, seed=3))
    orders = (dgs, dgs[::-1])
    lst = [bytes(bytearray(d)) for d in dgs]
    stop = time.monotonic() + SECONDS
    flips = [0]

    def mutator():
        while time.monotonic() < stop:
            lst[:] = [bytes(bytearray(d)) for d in orders[flips[0] % 2]]   # the old objects are freed
            flips[0] += 1

    t = threading.Thread(target=mutator)
    t.start()
    counts = []
    try:
        while time.monotonic() < stop:
            counts.append(run_batch(lst))
    finally:
        t.join()
    assert flips[0] > 10, "the mutator thread barely ran: the race was not exercised"
    return counts


def test_process_batch_keeps_its_datagrams_alive_while_another_thread_changes_the_list():
    fh = vega.FeedHandler("FO", vega.Store(100_000))
    expected = Decoder("FO").decode_batch(list(nse.sample_stream("FO", 600, seed=3)))
    counts = _race(lambda lst: fh.process_batch(lst, now_ns=T0))
    errors = {k: v for k, v in fh.stats["errors"].items() if v}
    assert errors == {}
    assert set(counts) == {expected}          # every batch decoded every message of one whole list


def test_decode_batch_keeps_its_datagrams_alive_while_another_thread_changes_the_list():
    dec = Decoder("FO")
    expected = Decoder("FO").decode_batch(list(nse.sample_stream("FO", 600, seed=3)))
    counts = _race(dec.decode_batch)
    assert {k: v for k, v in dec.stats["errors"].items() if v} == {}
    assert set(counts) == {expected}


def test_a_decoder_serves_one_call_at_a_time():
    """decode() or decode_batch() while another thread's decode_batch runs would decode into the same
    buffers (and counters): refused."""
    dec = Decoder("FO")
    batch = tuple(nse.sample_stream("FO", 2000, seed=4))

    def race():
        refused, _, failure = _close_while_running(lambda: dec.decode_batch(batch[:1]) + len(dec.decode(batch[0])),
                                                   lambda: dec.decode_batch(batch), RuntimeError,
                                                   "in use by a call in another thread")
        assert failure == []
        return refused > 0

    _until_raced(race, "a decode while another thread's decode_batch ran")
    assert dec.stats["errors"] == Decoder("FO").stats["errors"]       # all zero: nothing decoded garbage


def test_batches_take_any_iterable_of_bytes():
    dgs = list(nse.sample_stream("FO", 40, seed=5))
    n = Decoder("FO").decode_batch(dgs)
    assert Decoder("FO").decode_batch(d for d in dgs) == n               # a generator (had no len())
    assert Decoder("FO").decode_batch(tuple(dgs)) == n
    s1, s2 = vega.Store(10_000), vega.Store(10_000)
    assert vega.FeedHandler("FO", s1).process_batch(iter(dgs), now_ns=T0) == n
    assert vega.FeedHandler("FO", s2).process_batch(dgs, now_ns=T0) == n
    assert s1.snapshot().tobytes() == s2.snapshot().tobytes()


def _close_while_running(close, run_once, busy=vega.StoreBusyError, says="", first=None):
    """Try close() over and over while another thread runs run_once() in a loop.  Returns the refusals
    (``busy`` exceptions, each saying ``says``), whether a close succeeded, and the worker's exception if it
    raised one (ValueError "... closed" is the only one expected: a call that starts after a successful
    close).  Without the guard, Store.close() unmaps the store under a running call and the process
    crashes.

    A try is refused only when it lands inside one of the worker's calls.  The first may land between two
    (the worker's thread switched out there, on a loaded host) and succeed: no fault of the guard, but then
    nothing raced.  ``first(inside)`` is one call as run_once() makes that calls inside() from within, once
    the guard holds the call (from a tokens generator or an on_records callback): the worker makes it
    first and waits there until close() has been tried once, and that try must be refused."""
    stop = time.monotonic() + SECONDS
    failure = []
    started, parked, tried = threading.Event(), threading.Event(), threading.Event()
    reached = []

    def inside():
        reached.append(True)
        parked.set()
        tried.wait(WAIT)

    def worker():
        try:
            if first is not None:
                first(inside)
            while time.monotonic() < stop:
                started.set()
                try:
                    run_once()
                except busy as e:                 # it began while close() held the object (a JournalWriter's
                    if says not in str(e):        # close flushes and seals outside the GIL): refused before it
                        raise                     # did anything, as close() is while it runs; it tries again
        except ValueError as e:                   # "the store is closed": a call after a successful close
            failure.append(e)
        finally:
            parked.set()
            started.set()

    t = threading.Thread(target=worker)
    t.start()
    refused = 0
    if first is not None:
        try:
            parked.wait(WAIT)
            assert reached, f"the worker's first call did not reach its hook: {failure}"
            try:
                close()                           # the worker waits inside its call
            except busy as e:
                assert says in str(e)
                refused = 1
            else:
                pytest.fail("close() went through while a call of another thread was running")
        finally:
            tried.set()
    started.wait()
    more, closed = _refusals(close, t.is_alive, busy, says)
    t.join()
    return refused + more, closed, failure


def _after(hook, items):
    """The items, yielded once hook() has returned: as snapshot(tokens) iterates it, the hook runs inside
    the call (the store counts it from before it iterates: close() and load_instruments() refuse)."""
    hook()
    yield from items


def _records_hook():
    """(on_records, arm) for a FeedHandler: arm(f) makes the handler's next call run f() from its on_records,
    which runs inside the call (before the handler and its store are let go: close() of either refuses)."""
    armed = []
    return (lambda recs: armed.pop()() if armed else None), armed.append


def _refusals(close, running, busy, says):
    """Call close() until it succeeds or running() is false; every failure must be a ``busy`` exception
    saying ``says``.  Returns (the failures, whether close() succeeded)."""
    refused = 0
    while running():
        try:
            close()
            return refused, True
        except busy as e:
            assert says in str(e)
            refused += 1
    return refused, False


def _until_raced(race, what):
    """Run race(), one round of tries against another thread's calls (on fresh objects), until it returns
    true (a try was refused: it met a running call), at most ROUNDS times; the test fails, saying ``what``
    was never refused, when no round raced.  For calls with no hook to wait inside (see
    _close_while_running): the first try of a round may land between two calls and succeed, and then that
    round raced nothing; a guard that lets every try through races nothing in any round."""
    for _ in range(ROUNDS):
        if race():
            return
    pytest.fail(f"no round of {ROUNDS} raced: {what} was never refused, so the test checked nothing (the guard "
                f"let every try through, or this thread never ran while the other's call did)")


def test_close_is_refused_while_a_feed_handler_batch_runs_in_another_thread():
    """Unmapping the store under a running batch would crash the process; close() waits for the calls."""
    s = vega.Store(100_000)
    on_records, arm = _records_hook()
    fh = vega.FeedHandler("FO", s, on_records=on_records)
    batch = tuple(nse.sample_stream("FO", 2000, seed=4))

    def run():
        return fh.process_batch(batch, now_ns=T0)

    refused, closed, failure = _close_while_running(s.close, run, first=lambda inside: (arm(inside), run()))
    assert refused > 0
    # a close can only land between two calls (or after the last): a call after it fails cleanly
    assert all("closed" in str(e) for e in failure)
    s.close()                                     # no call is running now (closing twice is harmless)


def test_close_and_load_instruments_are_refused_while_a_snapshot_runs_in_another_thread():
    s = vega.Store(60_000)
    fh = vega.FeedHandler("FO", s)
    fh.process_batch(tuple(nse.sample_stream("FO", 2000, seed=4)), now_ns=T0)
    tokens = s.tokens()

    def first(inside):                            # a snapshot that waits inside itself for the first try
        s.snapshot(_after(inside, tokens.tolist()))

    refused_load, loaded, failure = _close_while_running(lambda: s.load_instruments(Instruments(), "FO"),
                                                         s.snapshot, first=first)
    assert refused_load > 0 and failure == []
    refused, closed, failure = _close_while_running(s.close, s.snapshot, first=first)
    assert refused > 0
    assert all("closed" in str(e) for e in failure)
    s.close()


class _LoadingInstruments(Instruments):
    """Instruments whose table, read by load_instruments once it has checked that no call uses the store,
    first runs during(): there another thread's call can be made to begin while the load runs."""

    def __init__(self, during):
        self._during = None
        super().__init__()
        self._during = during

    @property
    def table(self):
        during, self._during = self._during, None
        if during is not None:
            during()
        return self._table

    @table.setter
    def table(self, value):
        self._table = value


@pytest.mark.parametrize("call", ["snapshot", "batch"])
def test_load_instruments_is_refused_by_a_call_that_began_while_it_loaded(call):
    """load_instruments checks at its start that no call uses the store, then runs Python code (the table,
    the adds), where another thread's call may begin.  Before, the load went on: it swapped the options'
    metadata under that call (a batch reads it without the GIL) and the stores they read, and the call,
    ending, counted down a spot store that its start had not counted up: that store then refused close()
    for good ("in use by -1 call(s)").  Now the load is refused there, and both stores close afterwards."""
    spot = vega.Store(1000)
    spot.add(1, "SPOT", segment="CM")
    s = vega.Store(100_000)
    on_records, arm = _records_hook()
    fh = vega.FeedHandler("FO", s, on_records=on_records)
    batch = tuple(nse.sample_stream("FO", 200, seed=4))
    fh.process_batch(batch, now_ns=T0)
    parked, go = threading.Event(), threading.Event()

    def inside():
        parked.set()
        go.wait(WAIT)

    def snapshot():
        s.snapshot(_after(inside, s.tokens().tolist()))

    def batch_call():
        arm(inside)
        fh.process_batch(batch, now_ns=T0)

    t = threading.Thread(target={"snapshot": snapshot, "batch": batch_call}[call])

    def during():                                 # the call begins and waits inside itself
        t.start()
        assert parked.wait(WAIT)

    try:
        with pytest.raises(vega.StoreBusyError, match="began while the instruments were loading"):
            s.load_instruments(_LoadingInstruments(during), "FO", spot_store=spot)
    finally:
        go.set()
        if t.ident is not None:
            t.join()
    assert s.n_options == 0
    spot.close()                                  # nothing counted on it is left (before: refused for good)
    fh.close()
    s.close()


# A closing thread races a call of another thread over one store after another.  A thread switch is allowed
# every microsecond, so one lands between a call's "store open?" check and its first read, whenever Python
# code runs there (an allocation, numpy's ``ctypes``).  Before the fix, close() unmapped the store in that
# gap: snapshot(), snapshot(tokens) and apply_records() crashed the process within a few seconds.
#
# Each round's first close is tried while the calling thread is inside a call of that round's store, after it
# has run one there to the end: the closing thread waits for both (a bounded busy wait: the calling thread
# runs meanwhile at the switches) and calls close() right after its check, with no thread switch between.
# Where inside the call the close lands depends on where the switch took the calling thread away.  Before,
# the closing thread closed whenever it got there: on some runs the calling thread met only stores that were
# closed already (a run counted no call that ran, and raced nothing).
_CLOSE_RACE = """
import sys, threading, time
import vega
sys.setswitchinterval(1e-6)
op, seconds, wait = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
src = vega.Store(64, dense_tokens=64)
for k in range(1, 40):
    src.add(k, "X")
recs = src.keyframe_records()
calls = {"snapshot": lambda s: s.snapshot(), "snapshot_tokens": lambda s: s.snapshot([7, 9]),
         "apply_records": lambda s: s.apply_records(recs), "getitem": lambda s: s[7],
         "header": lambda s: s.header, "contains": lambda s: 7 in s, "ltp": lambda s: s.ltp(7)}
call = calls[op]
cur = [None]
inside = [None]                                 # the store the calling thread is calling now (None: between calls)
ran_on = [None]                                 # the store of its last call that returned
held = [None]                                   # a store it makes no new call of (until closed)
stop = []
seen = [0, 0]                                   # calls that ran, calls refused with "closed"
died = []                                       # the calling thread's exception: any but "closed" fails the run
threading.excepthook = lambda a: died.append(f"{a.exc_type.__name__}: {a.exc_value}")

def work():
    while not stop:
        s = cur[0]
        if s is None or s is held[0]:
            continue
        inside[0] = s
        try:
            call(s)
        except ValueError as e:
            inside[0] = None
            assert "closed" in str(e), e
            seen[1] += 1
        else:
            inside[0] = None
            seen[0] += 1
            ran_on[0] = s

t = threading.Thread(target=work)
t.start()
end = time.monotonic() + seconds
rounds = met = busy = 0
while time.monotonic() < end or rounds < 200:   # a loaded host gets as many rounds, only later
    s = vega.Store(64, dense_tokens=64)
    s.apply_records(recs)
    cur[0] = s
    for _ in range(rounds % 500):               # the calling thread's switches come at other points of its call
        pass
    give_up = time.monotonic() + wait
    while not (ran_on[0] is s and inside[0] is s):
        if not t.is_alive() or time.monotonic() > give_up:
            sys.exit(f"round {rounds}: the calling thread ran no call of the round's store and then began "
                     f"another within {wait} s (alive: {t.is_alive()}, died: {died})")
    met += inside[0] is s                       # (no thread switch since the check: always)
    while True:
        try:
            s.close()
            break
        except vega.StoreBusyError:             # the call counts itself in use: once it returns, the close goes
            busy += 1                           # through (not another call: in step with the switches, each
            held[0] = s                         # retry could meet the next one)
    held[0] = None                              # and calls of the closed store follow
    rounds += 1
stop.append(1)
t.join()
if died:
    sys.exit(f"the calling thread died: {died[0]}")
print(op, rounds, met, seen[0], seen[1], busy)
"""


@pytest.mark.parametrize("op", ["snapshot", "snapshot_tokens", "apply_records", "getitem", "header", "contains",
                                "ltp"])
def test_a_store_closed_by_another_thread_mid_call_does_not_crash_the_process(op):
    seconds = 2.0 if op in ("snapshot", "snapshot_tokens", "apply_records") else 0.5
    p = subprocess.run([sys.executable, "-c", _CLOSE_RACE, op, str(seconds), str(WAIT)], capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    name, rounds, met, ran, refused, busy = p.stdout.split()
    # every round's first close was tried while the other thread was inside a call of that round's store (one
    # refused as busy, or let through, the call then finding the store closed), after one call had run there
    assert name == op and int(rounds) >= 200 and int(met) == int(rounds) and int(ran) >= int(rounds), p.stdout


def test_a_closed_store_leaves_its_file_and_reads_as_closed():
    """close() keeps the address range (zero pages, for a call that raced it) but not the file's pages."""
    name = f"vega-test-close-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    s = vega.Store.create(name, 100)
    try:
        s.add(5, "X")
        path = f"/dev/shm/vega.store.{name}"

        def mapped():
            with open("/proc/self/maps") as f:
                return path in f.read()

        assert os.path.exists(path) and mapped()
        s.close()
        assert not mapped()
        assert s.closed
        for read in (len, lambda s: s[5], lambda s: s.ltp(5), lambda s: 5 in s, lambda s: s.snapshot(),
                     lambda s: s.header, lambda s: list(s), lambda s: s.apply_records(b"")):
            with pytest.raises(ValueError, match="closed"):
                read(s)
        assert repr(s).endswith("closed>")
        s.close()                                 # twice is harmless
        r = vega.Store.open(name)                 # the file is whole: another process's view reads it
        assert r[5].symbol == "X"
        r.close()
    finally:
        vega.Store.remove(name)


def test_feed_handler_close_is_refused_while_its_batch_runs():
    s = vega.Store(100_000)
    on_records, arm = _records_hook()
    fh = vega.FeedHandler("FO", s, on_records=on_records)
    batch = tuple(nse.sample_stream("FO", 3000, seed=4))

    def run():
        return fh.process_batch(batch, now_ns=T0)

    refused, closed, failure = _close_while_running(fh.close, run, RuntimeError, "inside a call",
                                                    first=lambda inside: (arm(inside), run()))
    assert refused > 0
    assert all("closed" in str(e) for e in failure)           # a call after a close that landed between two
    fh.close()


def test_ring_and_reader_close_are_refused_while_another_thread_polls(shm_file_name):
    """A poll waits and copies without the GIL.  Reader.close() ignored a running poll, and Ring.close()
    closed the reader and unmapped the ring under it, so the poller read unmapped memory.

    The other thread's poll waits on an empty ring until a record comes: this thread knows it is inside the
    poll once a poll of its own is refused (a poll of an empty ring that does not wait changes nothing when it
    goes through first), so both closes are tried while the poll runs, every time."""
    ring = Ring.create(shm_file_name)
    reader = ring.reader("NSE_FO")
    got, errors = [], []
    returned, closed = threading.Event(), threading.Event()

    def poller():
        try:
            while True:
                try:                                        # until it is in, not beside a poll of this thread
                    got.append(len(reader.poll(timeout=WAIT, wait="sleep")))   # ended by the record below
                    break
                except RuntimeError as e:
                    assert "being polled by another thread" in str(e)
            returned.set()
            closed.wait(WAIT)
            reader.poll()                                   # a poll after the close below
        except Exception as e:
            errors.append(e)
        finally:
            returned.set()

    t = threading.Thread(target=poller)
    t.start()
    try:
        give_up = time.monotonic() + WAIT
        while True:
            try:
                assert len(reader.poll()) == 0
            except RuntimeError as e:
                assert "being polled by another thread" in str(e)
                break                                       # the other thread is inside its poll
            assert t.is_alive() and time.monotonic() < give_up, f"the poll did not begin in {WAIT} s: {errors}"
        with pytest.raises(RuntimeError, match="polled by another thread: close it after the poll returns"):
            reader.close()
        with pytest.raises(RuntimeError, match="a Reader of this ring is being polled by another thread"):
            ring.close()
        assert not ring.closed and not reader.closed
    finally:
        ring._write_test_records("NSE_FO", 1)
        returned.wait(WAIT)                                 # the poll returns: now the closes go through
        reader.close()
        ring.close()
        closed.set()
        t.join()
    assert got == [1]
    assert len(errors) == 1 and "closed" in str(errors[0]), errors


def test_ring_close_is_refused_while_another_thread_appends():
    """An append copies into the mapping without the GIL: Ring.close() unmapped the slot under the copy.

    A round tries close() once the long append has begun (the tail moved) until the append ends.  Its first
    try may come only after the append ended (the closing thread was kept off the CPU that long) and then
    goes through: no fault of the guard, but that round raced nothing, so a fresh round runs (see
    _until_raced).  Before, one such run failed the test."""
    recs = np.zeros(50_000, CHANGE_RECORD_DTYPE)

    def race():
        name = f"vega-test-{uuid.uuid4().hex[:12]}"
        ring = Ring.create(name)
        try:
            t = threading.Thread(target=ring._bench_append, args=("NSE_FO", recs, 4000))   # one long nogil loop
            t.start()
            give_up = time.monotonic() + WAIT
            while ring.tail("NSE_FO") == 0:        # the loop has begun appending
                assert time.monotonic() < give_up, f"the append appended nothing in {WAIT} s"
                time.sleep(0.0005)
            refused, _ = _refusals(ring.close, t.is_alive, RuntimeError, "being appended to by another thread")
            t.join()
            ring.close()
            assert ring.closed
            with pytest.raises(ValueError, match="closed"):
                ring.append("NSE_FO", recs[:1])
            return refused > 0
        finally:
            ring.close()
            Ring.unlink(name)

    _until_raced(race, "Ring.close() while another thread's append ran")


def _journal_files(root):
    """{file name: Journal} of every day file under root/NSE_FO (each must open: sealed, index intact)."""

    d = os.path.join(root, "NSE_FO")
    return {name: Journal(os.path.join(d, name)) for name in sorted(os.listdir(d))}


def test_journal_close_is_refused_while_a_feed_handler_batch_journals_to_it(tmp_path):
    """Before the guard, close() sealed the file (index at the current end) while the batch kept appending
    after it: the sealed file was refused on reading ("index offset ... points outside the file")."""

    batch = tuple(nse.sample_stream("FO", 3000, seed=4))

    def race():
        root = tmp_path / uuid.uuid4().hex[:8]
        jw = JournalWriter(root, "NSE_FO", "2023-11-15", buffer_records=256)
        fh = vega.FeedHandler("FO", vega.Store(100_000), journal=jw)
        refused, closed, after_close = _close_while_running(
            jw.close, lambda: fh.process_batch(batch, now_ns=T0), RuntimeError, "in use by a call in another thread")
        jw.close()
        assert all("closed" in str(e) for e in after_close)
        files = _journal_files(root)
        assert sum(j.n_records for j in files.values()) >= fh.stats["records"]
        for j in files.values():
            assert j.header["sealed"] == SEALED
            j.close()
        return refused > 0 and fh.stats["records"] > 0

    _until_raced(race, "JournalWriter.close() while another thread's batch journaled to it")


def test_journal_writer_refuses_a_second_call_while_one_appends(tmp_path):
    """An append copies and writes without the GIL: close(), flush() and a second append from another
    thread are refused meanwhile (a close can land between two appends: the next append is then refused
    as closed), and everything appended reads back."""

    recs = np.zeros(400_000, CHANGE_RECORD_DTYPE)
    recs["token"] = np.arange(len(recs)) % 5000
    recs["ts_lo"] = np.arange(len(recs))

    def race():
        root = tmp_path / uuid.uuid4().hex[:8]
        jw = JournalWriter(root, "NSE_FO", "2023-11-15", buffer_records=1024)
        stop = time.monotonic() + SECONDS
        appended = [0]
        errors = []
        started = threading.Event()

        def worker():
            try:
                while time.monotonic() < stop:
                    started.set()
                    appended[0] += jw.append(recs)
            except ValueError as e:               # after a close that landed between two appends
                errors.append(e)
            finally:
                started.set()

        t = threading.Thread(target=worker)
        t.start()
        started.wait()
        refusals = {"close": 0, "flush": 0, "append": 0}
        closed = False
        while t.is_alive() and not closed:
            for name, call in (("flush", jw.flush), ("append", lambda: jw.append(recs[:1])), ("close", jw.close)):
                try:
                    n = call()
                except RuntimeError as e:
                    assert "in use by a call in another thread" in str(e)
                    refusals[name] += 1
                else:
                    if name == "append":
                        appended[0] += n
                    closed = name == "close"
        t.join()
        jw.close()
        assert all("closed" in str(e) for e in errors)
        files = _journal_files(root)
        assert sum(j.n_records for j in files.values()) == appended[0]
        for j in files.values():
            j.close()
        return min(refusals.values()) > 0 and appended[0] > 0

    _until_raced(race, "one of close(), flush() and append() while another thread's append ran")


def _looping_in_a_thread(call, refusal):
    """A started thread that runs call() over and over for SECONDS, going on when it is refused (``refusal``,
    an exception type: the other thread's writer had the turn); returned once it has begun."""
    stop = time.monotonic() + SECONDS
    started = threading.Event()

    def worker():
        try:
            while time.monotonic() < stop:
                started.set()
                try:
                    call()
                except refusal:
                    pass
        finally:
            started.set()

    t = threading.Thread(target=worker)
    t.start()
    started.wait()
    return t


def _hold_next_call(arm):
    """Arm (``arm`` from _records_hook) a FeedHandler's next call to wait in its on_records until release()
    (at most WAIT).  There the call still holds its ring slot's append turn: it is let go only after the
    callback returns.  Returns (parked, release).  ``parked`` is an Event, set once the call waits there."""
    parked, released = threading.Event(), threading.Event()

    def inside():
        parked.set()
        released.wait(WAIT)

    arm(inside)
    return parked, released.set


@pytest.mark.parametrize("write", ["subscribe", "add", "new_day", "apply_records", "another_handler"])
def test_store_writes_are_refused_while_a_batch_of_another_thread_writes_the_store(write):
    """A store record's sequence lock takes one writer at a time.  A write of this thread (subscribe, add,
    new_day, apply_records, another FeedHandler's call) while another thread's batch merges into the same
    store without the GIL is refused (StoreBusyError).  Before, both wrote: two writers increment a record's
    counter past each other, which leaves it even while a write runs (torn reads) or odd for good (every later
    read of the token, here or in a reader process, fails with "the record stayed locked").

    A batch has no hook to hold it inside the store's write turn (on_records runs after the turn ends), so a
    round whose tries all landed between two batches (this thread kept off the CPU while the other's ran)
    raced nothing: a fresh round runs (see _until_raced).  Before, one such round failed the test."""
    batch = tuple(nse.sample_stream("FO", 2000, seed=4))

    def race():
        s = vega.Store(100_000)
        fh = vega.FeedHandler("FO", s, records=False)
        fh.process_batch(batch, now_ns=T0)
        tokens = [int(t) for t in s.tokens()[:16]]
        recs = s.keyframe_records()
        other = vega.FeedHandler("FO", s, records=False)
        calls = {"subscribe": lambda: s.subscribe(tokens), "add": lambda: [s.add(t, "X") for t in tokens],
                 "new_day": s.new_day, "apply_records": lambda: s.apply_records(recs),
                 "another_handler": lambda: other.process_batch(batch[:50], now_ns=T0)}
        t = _looping_in_a_thread(lambda: fh.process_batch(batch, now_ns=T0), vega.StoreBusyError)
        refused = 0
        try:
            while t.is_alive():
                try:
                    calls[write]()
                except vega.StoreBusyError as e:
                    assert "being written by a call in another thread" in str(e)
                    refused += 1
        finally:
            t.join()
        seq = s.array["seq"]
        assert np.all(seq % 2 == 0), f"{np.count_nonzero(seq % 2)} record(s) left locked"
        s.snapshot()                              # every record reads (none stayed locked)
        calls[write]()                            # and with no batch running, the write goes through
        return refused > 0

    _until_raced(race, f"{write} while another thread's batch wrote the store")


def test_two_feed_handlers_publishing_to_one_ring_slot_take_turns(ring):
    """A ring slot has one writer at a time: the writer's counters (next, intent) live in the Ring object and
    ring_append updates them without a lock.  Two FeedHandlers publishing to the same slot (here: two CM
    handlers with stores of their own) from two threads take turns: a call while the other's runs raises
    RuntimeError, and so does making a handler of that slot meanwhile.  Every record of every call is then
    in the ring.  Before, both appended at once: appends were lost (the tail fell short of the records
    published) and records overwrote each other.

    The other thread's first call waits inside itself (in its on_records) until this thread has tried once.
    That try must be refused.  Without the wait, this thread could be kept off the CPU for all of the
    other's calls, and the test failed with nothing wrong."""
    published = []
    on_records, arm = _records_hook()
    handlers = [vega.FeedHandler("CM", vega.Store(100_000), ring=ring,
                                 on_records=lambda a: (published.append(len(a)), on_records(a))),
                vega.FeedHandler("CM", vega.Store(100_000), ring=ring, on_records=lambda a: published.append(len(a)))]
    batch = tuple(nse.sample_stream("CM", 400, seed=7))
    refused = {"call": 0, "make": 0}

    def try_both():
        try:
            handlers[1].process_batch(batch, now_ns=T0)
        except RuntimeError as e:
            assert "is being appended to by" in str(e)
            refused["call"] += 1
        try:
            vega.FeedHandler("CM", vega.Store(16), ring=ring).close()
        except RuntimeError as e:
            assert "is being appended to by" in str(e)
            refused["make"] += 1

    parked, release = _hold_next_call(arm)
    t = _looping_in_a_thread(lambda: handlers[0].process_batch(batch, now_ns=T0), RuntimeError)
    try:
        assert parked.wait(WAIT), f"the other thread's first call did not reach its on_records in {WAIT} s"
        try_both()                                # the other thread's call waits inside itself
        assert refused == {"call": 1, "make": 1}, f"went through while another thread's call appended: {refused}"
    finally:
        release()
    while t.is_alive():
        try_both()
    t.join()
    for h in handlers:
        h.close()
    assert ring.tail("NSE_EQ") == sum(published) > 0


def test_a_checkpoint_published_to_the_ring_takes_the_slots_turn(ring, tmp_path):
    """A journal of format version 1 (a day an older VEGA began, reopened) numbers its checkpoints, so
    ``FeedHandler.checkpoint()`` publishes them to the ring as well: it takes the ring slot's append turn, as
    a call does.  While another handler's call publishes to the same slot in another thread, it raises
    RuntimeError.  Every record of every call and checkpoint is then in the ring.  Before, it appended while
    the other call appended: appends were lost, and the tail fell short of the records published.

    The other handler's first call waits inside itself (in its on_records) until this thread has tried a
    checkpoint once, which must be refused (see test_two_feed_handlers_publishing_to_one_ring_slot_take_turns)."""
    import struct
    import zlib
    day = dt.datetime.fromtimestamp(T0 // 10**9, IST).date()
    w = JournalWriter(tmp_path, "NSE_EQ", day, flush_interval=None, checkpoint_interval=None)
    w.close()
    b = bytearray(w.path.read_bytes())                    # as an older VEGA wrote it: format version 1
    b[8:10] = struct.pack("<H", 1)
    b[60:64] = struct.pack("<I", zlib.crc32(bytes(b[:60])))
    w.path.write_bytes(bytes(b))
    w = JournalWriter(tmp_path, "NSE_EQ", day, flush_interval=None, checkpoint_interval=None)
    assert w.version == 1
    published = []
    batch = tuple(nse.sample_stream("CM", 400, seed=7))
    mine = vega.FeedHandler("CM", vega.Store(100_000), ring=ring, journal=w,
                            on_records=lambda a: published.append(len(a)))
    mine.process_batch(batch, now_ns=T0)
    on_records, arm = _records_hook()
    other = vega.FeedHandler("CM", vega.Store(100_000), ring=ring,
                             on_records=lambda a: (published.append(len(a)), on_records(a)))
    refused = 0

    def try_checkpoint():
        nonlocal refused
        try:
            published.append(mine.checkpoint())
        except RuntimeError as e:
            assert "is being appended to by" in str(e)
            refused += 1

    parked, release = _hold_next_call(arm)
    t = _looping_in_a_thread(lambda: other.process_batch(batch, now_ns=T0), RuntimeError)
    try:
        try:
            assert parked.wait(WAIT), f"the other thread's first call did not reach its on_records in {WAIT} s"
            try_checkpoint()                      # the other thread's call waits inside itself
            assert refused == 1, "a checkpoint went through while another thread's call appended to the slot"
        finally:
            release()
        while t.is_alive():
            try_checkpoint()
    finally:
        t.join()
        mine.close()
        other.close()
        w.close()
    assert ring.tail("NSE_EQ") == sum(published)
    assert refused > 0 and len(published) > 3
