"""Findings of the user audit on the store and the feed handler (docs/FORMATS.md §3):

* numpy integer tokens (``store.tokens()`` is int32) work wherever a token is taken, with ``operator.index``
  semantics; bools, floats and strings are refused (``in`` answers False for them);
* a closed FeedHandler refuses every merging call, so journal sequence numbers and ring positions stay the
  same numbers;
* ``Store.remove(name)`` refuses a store whose writer lives in another process;
* argument checks and messages of ``apply_records``, ``keyframe_records``, ``FeedHandler(segment)``,
  ``process_batch``, and the Quote repr.
"""
import datetime
import os
import re
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from mypy_helpers import mypy_strict

import vega
from vega import nse
from vega._core import pack_messages
from vega.store import StoreBusyError

STREAM = list(nse.sample_stream("FO", 30, seed=1))
T0 = 1_780_000_000_000_000_000


@pytest.fixture(scope="module")
def filled():
    s = vega.Store(4096)
    vega.FeedHandler("FO", s).process_batch(STREAM, now_ns=T0)
    return s


@pytest.fixture
def shm_name():
    name = f"test-audit-{uuid.uuid4().hex[:12]}"
    yield name
    vega.Store.remove(name)


# ---- 1. numpy integer tokens -------------------------------------------------------------------------------

INT_TYPES = [np.int32, np.int64, np.uint32, np.uint64]


@pytest.mark.parametrize("typ", INT_TYPES, ids=lambda t: t.__name__)
def test_a_numpy_integer_token_works_wherever_a_token_is_taken(filled, typ):
    s = filled
    t0 = s.tokens()[0]
    assert type(t0) is np.int32                         # what tokens() gives, as documented
    tok = int(t0)
    t = typ(tok)
    assert t in s                                       # the audit's silent False
    assert s[t] == s[tok] and s[t].token == tok
    assert s.ltp(t) == s.ltp(tok)
    assert s.depth(t) == s.depth(tok)
    assert s.get(t) == s[tok] and s.get(t, "dflt") == s[tok]
    assert s.is_stale(t, T0) == s.is_stale(tok, T0)
    snap = s.snapshot(np.array([tok], dtype=typ))
    assert snap["token"].tolist() == [tok]
    absent = typ(2**31 - 5)
    assert absent not in s and s.get(absent, "dflt") == "dflt"
    with pytest.raises(KeyError):
        s[absent]


def test_store_tokens_loop_and_subscribe_an_ndarray():
    s = vega.Store(4096)
    vega.FeedHandler("FO", s).process_batch(STREAM, now_ns=T0)
    for t in s.tokens():                                # the audit's natural strategy loop
        assert t in s and s[t].token == t and s.ltp(t) == s[t].last_traded_price
    toks = s.tokens()[:3]
    s.subscribe(toks, False)
    assert [s[int(t)].subscribed for t in toks] == [0, 0, 0]
    s.subscribe(toks.astype(np.uint32))
    assert [s[int(t)].subscribed for t in toks] == [1, 1, 1]
    s.subscribe(toks[0], False)                         # one numpy token
    s.subscribe(np.array(int(toks[1])), False)          # a 0-d array is one token
    assert [s[int(t)].subscribed for t in toks] == [0, 0, 1]
    s.subscribe(toks.tolist())                          # a list of ints, as before
    s.subscribe(iter(toks))                             # any iterable
    assert [s[int(t)].subscribed for t in toks] == [1, 1, 1]


def test_subscribe_changes_nothing_when_a_token_is_missing_or_bad():
    s = vega.Store(10)
    for t in (1, 2, 3):
        s.add(t)
    with pytest.raises(KeyError):
        s.subscribe([1, 2, 99], False)
    with pytest.raises(TypeError):
        s.subscribe([1, "2"], False)
    assert [s[t].subscribed for t in (1, 2, 3)] == [1, 1, 1]


def test_add_takes_a_numpy_integer_token():
    s = vega.Store(10)
    s.add(np.int64(7), "ABC", "EQ")
    s.add(np.uint32(8))
    assert list(s) == [7, 8] and s[7].symbol == "ABC"
    with pytest.raises(ValueError):
        s.add(np.int32(0))
    with pytest.raises(ValueError):
        s.add(np.int64(2**31))
    for bad in (True, np.bool_(True), 7.0, "7"):
        with pytest.raises(TypeError, match="a token is an int"):
            s.add(bad)
    assert list(s) == [7, 8]


BOOLS = {"True": True, "numpy-bool": np.bool_(True)}


@pytest.mark.parametrize("b", BOOLS.values(), ids=BOOLS.keys())
def test_a_bool_is_not_a_token(b):
    s = vega.Store(10)
    s.add(1)                                            # the token a bool would pass for
    assert b not in s
    for f in (lambda: s[b], lambda: s.ltp(b), lambda: s.depth(b), lambda: s.get(b, None),
              lambda: s.is_stale(b, T0), lambda: s.subscribe(b), lambda: s.subscribe([b]),
              lambda: s.snapshot([b]), lambda: s.subscribe(np.array([True]))):
        with pytest.raises(TypeError, match="a token is an int, not "):
            f()


def test_floats_and_strings_are_not_tokens():
    s = vega.Store(10)
    s.add(1)
    s.add(5)
    for bad in (1.0, np.float64(1.0), "1", "x", None, 1.5):
        assert bad not in s                             # `in` answers False for what is not a token
        for f in (lambda: s[bad], lambda: s.ltp(bad), lambda: s.get(bad, "dflt"), lambda: s.snapshot([bad])):
            with pytest.raises(TypeError, match="a token is an int, not "):
                f()                                     # a type error is not a missing key: get() raises
    with pytest.raises(TypeError):
        s.snapshot(np.array([1.0, 5.0]))                # once int(t) made 1.5 token 1 and "5" token 5
    with pytest.raises(TypeError):
        s.subscribe(np.array([1.0]))
    assert s.snapshot([np.int8(1), 5])["token"].tolist() == [1, 5]


def test_snapshot_of_one_token_rather_than_a_sequence_says_so():
    """snapshot(5) failed with "'int' object is not iterable"; snapshot(b"\\x01\\x05") snapshotted tokens 1
    and 5 (bytes iterate as ints) and snapshot("15") said "a token is an int, not str" of its first character.
    One token, a str or bytes is now a TypeError saying to pass a sequence."""
    s = vega.Store(10)
    s.add(1)
    s.add(5)
    for one in (5, np.int32(5), np.array(5), True, "15", b"\x01\x05"):
        with pytest.raises(TypeError, match=r"tokens is a sequence or array of tokens, not one \w+: wrap it in"):
            s.snapshot(one)
    assert s.snapshot([5])["token"].tolist() == [5]
    assert s.snapshot(np.array([5, 1]))["token"].tolist() == [5, 1]
    assert s.snapshot(t for t in (1, 5))["token"].tolist() == [1, 5]
    assert len(s.snapshot(np.array([], np.int32))) == 0

def test_an_index_that_raises_or_is_huge():
    class Weird:
        def __index__(self):
            raise RuntimeError("boom")
    s = vega.Store(10)
    s.add(1)
    with pytest.raises(RuntimeError, match="boom"):
        s[Weird()]
    for huge in (2**40, np.uint64(2**63), -1, np.int64(-1)):
        assert huge not in s and s.get(huge) is None
        with pytest.raises(KeyError):
            s[huge]


def test_numpy_tokens_on_a_read_only_store(shm_name):
    w = vega.Store.create(shm_name, 100)
    w.add(42)
    r = vega.Store.open(shm_name)
    try:
        t = r.tokens()[0]
        assert t in r and r[t].token == 42 and r.ltp(np.uint64(42)) == 0
        with pytest.raises(PermissionError):
            r.subscribe(r.tokens())
    finally:
        r.close()
        w.close()


# ---- 2. a closed FeedHandler -------------------------------------------------------------------------------

def _ring_name():
    return f"test-audit-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def test_a_closed_handler_refuses_and_the_ring_and_journal_stay_in_step(tmp_path):
    """The audit's repro: after close(), a batch merged and journaled but skipped the ring."""
    name = _ring_name()
    ring = vega.Ring.create(name)
    try:
        jw = vega.JournalWriter(tmp_path, "NSE_FO", vega.capture.ist_date())
        store = vega.Store(4096)
        h = vega.FeedHandler("FO", store, ring=ring, journal=jw)
        dg = list(nse.sample_stream("FO", 20, seed=1))
        h.process_batch(dg[:10])
        assert ring.tail("NSE_FO") == jw.next_seq > 0
        h.close()
        assert h.closed
        before = (store.snapshot().tobytes(), h.stats, jw.next_seq)
        with pytest.raises(ValueError, match="^the FeedHandler is closed$"):
            h.process_batch(dg[10:])
        assert ring.tail("NSE_FO") == jw.next_seq
        assert (store.snapshot().tobytes(), h.stats, jw.next_seq) == before
        jw.close()
    finally:
        ring.close()
        vega.Ring.unlink(name)


MSGS = [m for dg in STREAM for m in vega.decode(dg, "FO") if m["records"]]
CALLS = {
    "process": lambda h: h.process(STREAM[0], now_ns=T0),
    "process-clock": lambda h: h.process(STREAM[0]),
    "process_batch": lambda h: h.process_batch(STREAM[:5], now_ns=T0),
    "process_batch-clock": lambda h: h.process_batch(STREAM[:5]),
    "process_batch-empty": lambda h: h.process_batch([]),
    "merge_message": lambda h: h.merge_message(MSGS[0], now_ns=T0),
    "merge_packed": lambda h: h.merge_packed(pack_messages("FO", MSGS[:5]), now_ns=T0),
    "checkpoint": lambda h: h.checkpoint(),
    "new_day": lambda h: h.new_day(),
}


@pytest.mark.parametrize("call", CALLS.keys())
def test_every_merging_call_of_a_closed_handler_raises(call, tmp_path):
    day = datetime.date(2026, 11, 20)
    jw = vega.JournalWriter(tmp_path, "NSE_FO", day)
    store = vega.Store(4096)
    with vega.FeedHandler("FO", store, journal=jw) as h:
        h.process_batch(STREAM[:10], now_ns=vega.journal.day_epoch_ns(day) + 36000 * 10**9)
    assert h.closed
    before = (store.snapshot().tobytes(), h.stats, jw.next_seq, jw.date)
    with pytest.raises(ValueError, match="^the FeedHandler is closed$"):
        CALLS[call](h)
    assert (store.snapshot().tobytes(), h.stats, jw.next_seq, jw.date) == before
    with pytest.raises(ValueError, match="^the FeedHandler is closed$"):
        h.attach_journal(jw)
    assert h.detach_journal() is jw                      # letting go of the journal still works
    h.close()                                            # and close() again is a no-op
    assert "closed" in repr(h) and h.segment == "FO" and h.store is store
    jw.close()


def test_an_open_handler_is_not_closed():
    h = vega.FeedHandler("CM", vega.Store(10))
    assert not h.closed and "closed" not in repr(h)


def _cm_stream():
    """CM datagrams with an index broadcast (7207) every few datagrams."""
    out = list(nse.sample_stream("CM", 30, seed=4))
    for i, value in enumerate((2400100, 2400200, 2400300, 2400400)):
        r = nse.blank_record("CM", 7207)
        r.update(index_name="Nifty 50", index_value=value, closing_index=2400000, wire_stride=72)
        msg = nse.blank_message("CM", 7207, 1, log_time=1000 + i, records=[r])
        out.insert(8 * i, nse.build_datagram("CM", [msg], compress=False))
    return out


def test_linked_handlers_refuse_when_one_they_route_to_is_closed():
    cm_store, idx_store = vega.Store(4096), vega.Store(256)
    idx = vega.FeedHandler("IDX", idx_store)
    cm = vega.FeedHandler("CM", cm_store, indices=idx)
    dg = _cm_stream()
    cm.process_batch(dg[:30], now_ns=T0)
    assert len(idx_store) > 0                            # the sample stream carries index messages
    idx.close()
    before = (cm_store.snapshot().tobytes(), idx_store.snapshot().tobytes(), cm.stats)
    with pytest.raises(ValueError, match="the IDX FeedHandler linked to this one is closed"):
        cm.process_batch(dg[30:], now_ns=T0)
    assert (cm_store.snapshot().tobytes(), idx_store.snapshot().tobytes(), cm.stats) == before
    assert not cm.closed

    # the other way round: a closed CM handler leaves its index handler usable on its own
    idx2_store = vega.Store(256)
    idx2 = vega.FeedHandler("IDX", idx2_store)
    cm2 = vega.FeedHandler("CM", vega.Store(4096), indices=idx2)
    cm2.close()
    assert idx2.process_batch(dg, now_ns=T0) > 0 and len(idx2_store) > 0


def test_an_fo_handler_refuses_when_its_underlying_cm_handler_is_closed():
    cm = vega.FeedHandler("CM", vega.Store(4096))
    fo_store = vega.Store(4096)
    fo = vega.FeedHandler("FO", fo_store, underlying=cm)
    cm.close()
    with pytest.raises(ValueError, match="the CM FeedHandler linked to this one is closed"):
        fo.process_batch(STREAM, now_ns=T0)
    assert len(fo_store) == 0


# ---- 3. Store.remove and a live writer ---------------------------------------------------------------------

def _run(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)


def test_remove_refuses_a_store_whose_writer_lives_in_another_process(shm_name):
    w = vega.Store.create(shm_name, capacity=100)
    w.add(5)
    p = _run(f"""
        import vega
        from vega.store import StoreBusyError
        try:
            vega.Store.remove({shm_name!r})
        except StoreBusyError as e:
            print("busy:", e)
        r = vega.Store.open({shm_name!r})
        try:
            r.unlink()
        except StoreBusyError as e:
            print("busy:", e)
        print(5 in r)
    """)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 3 and lines[2] == "True", p.stdout
    for line in lines[:2]:
        assert line.startswith("busy: ") and shm_name in line and "writer" in line and "\n" not in line
    r = vega.Store.open(shm_name)                        # still there
    assert not r.replaced and 5 in r
    r.close()
    w.close()                                            # the writer is gone: the file is stale now
    p = _run(f"import vega; vega.Store.remove({shm_name!r})")
    assert p.returncode == 0, p.stderr
    with pytest.raises(FileNotFoundError):
        vega.Store.open(shm_name)


def test_remove_here_refuses_a_writer_living_in_a_child(shm_name):
    code = f"import sys, vega; s = vega.Store.create({shm_name!r}, 10); s.add(9); print('ready', flush=True); " \
           f"sys.stdin.readline()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        with pytest.raises(StoreBusyError, match=f"store '{shm_name}' has a live writer"):
            vega.Store.remove(shm_name)
        r = vega.Store.open(shm_name)
        assert 9 in r and not r.replaced
        with pytest.raises(StoreBusyError):
            r.unlink()
        r.close()
    finally:
        child.communicate("\n", timeout=60)
    assert child.returncode == 0
    vega.Store.remove(shm_name)                          # its writer exited: a stale file, removed
    with pytest.raises(FileNotFoundError):
        vega.Store.open(shm_name)


def test_remove_takes_a_dead_writers_file(shm_name):
    p = _run(f"""
        import os, vega
        s = vega.Store.create({shm_name!r}, 10)
        s.add(3)
        os._exit(0)                                      # a crash: no close()
    """)
    assert p.returncode == 0, p.stderr
    assert 3 in vega.Store.open(shm_name)
    vega.Store.remove(shm_name)
    with pytest.raises(FileNotFoundError):
        vega.Store.open(shm_name)


def test_the_writers_own_process_removes_its_live_store(shm_name):
    w = vega.Store.create(shm_name, 10)
    r = vega.Store.open(shm_name)
    vega.Store.remove(shm_name)                          # the owner: allowed
    assert w.replaced and r.replaced
    w.add(1)                                             # the mapping stays valid
    assert 1 in w and 1 in r
    w2 = vega.Store.create(shm_name, 10)
    w2.unlink()                                          # the writer's own unlink()
    assert w2.replaced
    w3 = vega.Store.create(shm_name, 10)
    r3 = vega.Store.open(shm_name)
    r3.unlink()                                          # a reader object of the writer's own process
    assert w3.replaced
    for s in (w, r, w2, w3, r3):
        s.close()


def test_remove_of_a_missing_store_is_silent_and_documented(shm_name):
    assert vega.Store.remove(shm_name) is None
    assert "nothing" in vega.Store.remove.__doc__ or "if any" in vega.Store.remove.__doc__


def test_remove_after_the_writer_object_is_dropped(shm_name):
    w = vega.Store.create(shm_name, 10)
    del w                                                # freed: its flock goes with its fd
    vega.Store.remove(shm_name)
    with pytest.raises(FileNotFoundError):
        vega.Store.open(shm_name)


def test_snapshot_raises_for_a_locked_record_of_a_damaged_file_whatever_its_token(shm_name):
    """Fuzz finding: snapshot() kept the token of a record that stayed locked as its error flag, -1 meaning none,
    so a damaged file whose locked record holds a negative token (no writer writes one) made snapshot() return
    that row and those after it unread (np.empty: whatever the memory held) as data, and no error.  It raises
    StoreError naming the token now, as for any other locked record."""
    import mmap
    import struct
    w = vega.Store.create(shm_name, 10)
    w.add(11, segment="FO")
    w.add(12, segment="FO")
    off = w.header["records_off"]                        # token 11's record, the first
    with open(f"/dev/shm/vega.store.{shm_name}", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        seq = struct.unpack_from("<I", m, off)[0]
        struct.pack_into("<Ii", m, off, seq + 1, -7)     # left locked (odd), its token damaged
    r = vega.Store.open(shm_name)
    with pytest.raises(vega.StoreError, match="token -7: the record stayed locked"):
        r.snapshot()
    r.close()
    w.close()


# ---- 4. stubs ----------------------------------------------------------------------------------------------

STUB_CHECK = """
import numpy as np
import vega

s = vega.Store(10)
toks = s.tokens()
s.snapshot(toks[:3])
s.snapshot([1, 2])
s.snapshot(None)
s.subscribe(toks)
s.subscribe(toks[0])
s.subscribe([1, 2], False)
t = toks[0]
q: vega.Quote = s[t]
s[np.int64(5)]
s.ltp(t)
s.depth(np.uint32(5))
s.get(t)
s.is_stale(t, 5)
s.add(np.int64(5))
ok: bool = t in s
h = vega.FeedHandler("FO", s)
closed: bool = h.closed
"""


def test_the_stubs_take_numpy_tokens(tmp_path):
    mypy_strict(tmp_path, STUB_CHECK)


def test_the_stubs_name_every_array_and_dtype_with_its_type_arguments():
    """A bare ``np.ndarray`` / ``np.dtype`` is an error under ``mypy --strict`` ("Missing type arguments for
    generic type") with numpy 1.26 (which our numpy>=1.26 allows) up to at least 2.2: only later numpy gives
    their type parameters defaults.  test_the_stubs_take_numpy_tokens failed with 29 such errors on 1.26; this
    check fails on any numpy."""
    stubs = os.path.dirname(os.path.abspath(vega.__file__))
    bare = re.compile(r"\bnp\.(ndarray|dtype)\b(?!\[|\()")
    found = []
    for name in sorted(os.listdir(stubs)):
        if name.endswith(".pyi"):
            with open(os.path.join(stubs, name)) as f:
                found += [f"{name}:{n}: {line.strip()}" for n, line in enumerate(f, 1) if bare.search(line)]
    assert found == []

# ---- 5. argument checks and messages -------------------------------------------------------------------------

def test_apply_records_says_what_it_takes():
    s = vega.Store(10)
    for bad in ([1, 2], "abc", 5, None):
        with pytest.raises(TypeError, match="records must be a CHANGE_RECORD_DTYPE array or bytes"):
            s.apply_records(bad)
    with pytest.raises(TypeError, match=r"CHANGE_RECORD_DTYPE \(or be raw record bytes: uint8 or V32\), not float64"):
        s.apply_records(np.zeros(4))


def test_apply_records_takes_the_raw_record_arrays_a_ring_takes(filled):
    """What Ring.append and a journal append take as records (their raw bytes as a uint8 or plain void array)
    apply as the records do: a consumer can hand a ring's raw bytes on to a store.  Before, only
    CHANGE_RECORD_DTYPE arrays and bytes objects were taken."""
    recs = filled.keyframe_records(5)
    want = vega.Store(4096)
    n = want.apply_records(recs, day_base_ns=T0)
    assert n == len(filled) > 0 and list(want.tokens()) == list(filled.tokens())
    for raw in (recs.view(np.uint8), recs.view("V32"), recs.view(np.uint8).reshape(-1, 32), recs.view(np.int8)):
        s = vega.Store(4096)
        assert s.apply_records(raw, day_base_ns=T0) == n
        assert (s.snapshot() == want.snapshot()).all()


@pytest.mark.parametrize("bad", [1.5, float(T0), np.float64(T0), True, np.bool_(False), "0"],
                         ids=["1.5", "float", "np.float64", "True", "np.bool_", "str"])
def test_apply_records_day_base_ns_and_keyframe_ts_are_ints(filled, bad):
    recs = filled.keyframe_records(5)
    s = vega.Store(4096)
    with pytest.raises(TypeError, match="day_base_ns must be an int"):
        s.apply_records(recs, day_base_ns=bad)
    assert len(s) == 0                                   # refused before anything is applied
    with pytest.raises(TypeError, match="ts_ns must be an int"):
        filled.keyframe_records(bad)


def test_day_base_ns_and_ts_ns_ranges(filled):
    s = vega.Store(4096)
    with pytest.raises(ValueError):
        s.apply_records(filled.keyframe_records(0), day_base_ns=-1)
    assert len(s) == 0
    for bad in (-1, 2**48, np.int64(-1)):
        with pytest.raises(ValueError, match=re.escape("ts_ns must be in [0, 2**48)")):
            filled.keyframe_records(bad)
    recs = filled.keyframe_records(np.int64(1000))      # numpy integers are ints
    assert s.apply_records(recs, day_base_ns=np.int64(T0)) == len(filled)
    assert filled.keyframe_records(np.uint64(2**48 - 1)).size == recs.size


@settings(max_examples=200, deadline=None)
@given(base=st.one_of(st.integers(0, 2**63 - 1), st.integers(2**63 - 2**49, 2**63 - 1)),
       ts=st.one_of(st.integers(0, 2**48 - 1), st.just(2**48 - 1)))
def test_apply_records_last_update_time_saturates_at_the_int64_end(base, ts):
    """day_base_ns + ts48 past 2**63 - 1 (a day_base_ns within 2**48 of the end; a journal dated 2262-04-10,
    which parse_header accepts, with a late record) overflowed in C: undefined behaviour that stored a
    negative last update time.  The time now saturates at 2**63 - 1."""
    from vega.records import CHANGE_RECORD_DTYPE, set_timestamps
    rec = np.zeros(1, CHANGE_RECORD_DTYPE)
    rec["token"], rec["group"], rec["mask"], rec["slots"][0, 0] = 5, 1, 1, 100
    set_timestamps(rec, np.array([ts]))
    s = vega.Store(4)
    assert s.apply_records(rec, day_base_ns=base) == 1
    assert s[5].last_update_ns == min(base + ts, 2**63 - 1)


@pytest.mark.parametrize("t", [-2**63, -1, -T0])
def test_staleness_of_a_damaged_reader_store_time(shm_name, t):
    """A reader maps a file another process wrote: a record's last update time may be anything there.  is_stale
    and a Quote's stale took now - t in int64, which overflowed for a time far before the epoch (undefined
    behaviour; 'fresh'), and stale_tokens' numpy difference wrapped to 'fresh'.  Now all three say exactly
    now - t > stale_ns."""
    from vega.store import STORE_DTYPE
    w = vega.Store.create(shm_name, 64)
    vega.FeedHandler("FO", w).process(STREAM[0], now_ns=T0)
    tok = int(w.tokens()[0])
    with open(vega._core._shm_path(shm_name), "r+b") as f:
        f.seek(w.header["records_off"] + STORE_DTYPE.fields["last_update_ns"][1])
        f.write(t.to_bytes(8, "little", signed=True))
    r = vega.Store.open(shm_name)
    try:
        assert r[tok].last_update_ns == t
        for now in (0, T0, 2**63 - 1):
            stale = now - t > r.stale_ns                     # Python ints: exact
            assert r.is_stale(tok, now_ns=now) == stale
            assert (tok in r.stale_tokens(now_ns=now).tolist()) == stale
            fn, (rec, stale_ns, _) = r[tok].__reduce__()     # a Quote taken at now (its pickled form)
            assert fn(rec, stale_ns, now).stale == stale
    finally:
        r.close()
        w.close()


def test_checkpoint_ts_is_an_int(tmp_path):
    day = datetime.date(2026, 11, 20)
    with vega.JournalWriter(tmp_path, "NSE_FO", day) as jw:
        h = vega.FeedHandler("FO", vega.Store(4096), journal=jw)
        h.process_batch(STREAM[:5], now_ns=vega.journal.day_epoch_ns(day) + 36000 * 10**9)
        n = jw.next_seq
        for bad in (1.5, True):
            with pytest.raises(TypeError, match="ts_ns must be an int"):
                h.checkpoint(bad)
        assert h.checkpoint(np.int64(36000 * 10**9)) > 0 and jw.next_seq == n


def test_a_checkpoint_time_outside_a_records_48_bits_is_refused_as_the_journal_writer_refuses_it(tmp_path):
    """FeedHandler.checkpoint(ts_ns) clamped ts_ns to [0, 2**48): an epoch-ns time given by mistake (what
    process_batch takes) became 2**48 - 1, 3.26 days after the journal's 00:00, and the journal rolled over to a
    file three days ahead with the checkpoint in it.  JournalWriter.checkpoint and Store.keyframe_records refuse
    such a time: so does the handler now, writing nothing."""
    day = datetime.date(2026, 11, 20)
    base = vega.journal.day_epoch_ns(day)
    with vega.JournalWriter(tmp_path, "NSE_FO", day) as jw:
        h = vega.FeedHandler("FO", vega.Store(4096), journal=jw)
        h.process_batch(STREAM[:5], now_ns=base + 36000 * 10**9)
        n, path = jw.n_records, jw.path
        for bad in (base + 36001 * 10**9, 1 << 48, -1):
            with pytest.raises(ValueError, match=r"ts_ns must be in \[0, 2\*\*48\)"):
                h.checkpoint(bad)
        assert (jw.n_records, jw.date, jw.path) == (n, day, path)
        assert sorted(p.name for p in (tmp_path / "NSE_FO").iterdir()) == ["20261120.bin"]
        assert h.checkpoint(36001 * 10**9) > 0 and jw.n_records > n and jw.date == day     # a time of day


def test_feed_handler_segment_message_names_idx():
    with pytest.raises(ValueError, match="segment must be 'CM', 'FO' or 'IDX', not 'XX'"):
        vega.FeedHandler("XX", vega.Store(10))


def test_segment_names_are_taken_in_any_case_as_the_command_line_takes_them():
    """`vega capture --feed fo=...` and replay's feeds took any case; the Python API refused "fo"."""
    for name, want in (("fo", "FO"), ("Cm", "CM"), ("idx", "IDX")):
        h = vega.FeedHandler(name, vega.Store(4096))
        assert h.segment == want
    assert vega.Decoder("fo").segment == "FO"
    assert vega.decode(STREAM[0], "fo") == vega.decode(STREAM[0], "FO") != []
    store = vega.Store(10)
    store.add(7, "X", "EQ", segment="cm")                 # the store is a CM store now
    with pytest.raises(ValueError):
        vega.FeedHandler("FO", store)
    assert vega.FeedHandler("CM", store).segment == "CM"
    for bad in ("f o", "FOO", "", "ＦＯ"):
        with pytest.raises(ValueError, match="segment must be"):
            vega.Decoder(bad)


@pytest.mark.parametrize("one", [STREAM[0], bytearray(STREAM[0]), memoryview(STREAM[0])],
                         ids=["bytes", "bytearray", "memoryview"])
def test_process_batch_of_one_bytes_object_says_it_wants_a_sequence(one):
    store = vega.Store(4096)
    h = vega.FeedHandler("FO", store)
    with pytest.raises(TypeError, match="process_batch takes a sequence of datagrams"):
        h.process_batch(one, now_ns=T0)
    assert len(store) == 0 and h.stats["datagrams"] == 0
    assert h.process_batch([STREAM[0]], now_ns=T0) > 0
    dec = vega.Decoder("FO")
    with pytest.raises(TypeError, match="decode_batch takes a sequence of datagrams"):
        dec.decode_batch(one)
    assert dec.stats["datagrams"] == 0


def test_quote_repr_names_attributes(filled):
    q = filled[int(filled.tokens()[0])]
    r = repr(q)
    assert r.startswith("Quote(token=")
    pairs = re.findall(r"(\w+(?:\[\d\])?)=(-?\d+)", r)
    assert len(pairs) >= 6
    for expr, value in pairs:
        assert eval(f"q.{expr}", {"q": q}) == int(value), expr    # every name is an attribute (expression)
    assert "symbol=" not in r                                      # none known yet: not shown
    s = vega.Store(10)
    s.add(7, "NIFTY", "EQ", segment="CM")
    r = repr(s[7])
    assert r.startswith("Quote(token=7, symbol='NIFTY', series='EQ', last_traded_price=0, ")
    for name, value in re.findall(r"(\w+)='(\w*)'", r):
        assert getattr(s[7], name) == value
