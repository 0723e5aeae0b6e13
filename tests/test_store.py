"""The store: lookup, shared memory, Python API, and the seed-equivalent unit tests 1-5 and integration tests
1-5 (the seed document itself was not available; these cover what its "Testing Strategy" names: lookup,
merge, sequence lock, records round trip, shared memory across processes)."""
import os
import stat
import threading
import uuid

import numpy as np
import pytest

import vega._core as core
from vega import nse
from vega.records import CHANGE_RECORD_DTYPE
from vega.store import STORE_DTYPE, StoreBusyError, StoreFormatError, StoreFullError
from store_helpers import SEC, T0, bump_seq, by_token, market_equal, md, mbp, merge, mw, tick


@pytest.fixture
def shm_name():
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    core.Store.remove(name)


# ---- unit 1: O(1) token lookup, dense table + overflow ---------------------------------------------------

def test_unit_1_token_lookup_dense_and_overflow():
    s = core.Store(5000, dense_tokens=1000)
    rng = np.random.default_rng(1)
    tokens = np.unique(np.concatenate([rng.integers(1, 1000, 1500), rng.integers(1000, 2**31 - 1, 3000)]))
    rng.shuffle(tokens)
    for t in tokens:
        s.add(int(t))
    assert len(s) == len(tokens)
    assert list(s) == [int(t) for t in tokens]                 # iteration: insertion order
    assert all(int(t) in s for t in tokens)
    absent = set(range(1, 3000)) - set(tokens.tolist())
    assert not any(t in s for t in list(absent)[:500])
    assert -1 not in s and "x" not in s and 2**40 not in s
    assert np.array_equal(s.tokens(), tokens.astype(np.int32))
    with pytest.raises(KeyError):
        s[int(max(absent))]
    with pytest.raises(TypeError):
        s["5"]


def test_capacity_full_is_a_clear_error():
    s = core.Store(3)
    for t in (1, 2, 3):
        s.add(t)
    with pytest.raises(StoreFullError, match="full"):
        s.add(4)
    s.add(2, symbol="X")                                        # existing tokens still fine
    with pytest.raises(ValueError):
        core.Store(0)
    for bad in (float("nan"), float("inf"), -1, 2**63, 1e19):
        with pytest.raises(ValueError, match="stale_ns must be a finite number of nanoseconds >= 0"):
            core.Store(3, stale_ns=bad)
        with pytest.raises(ValueError, match="md_stale_ns must be a finite number of nanoseconds >= 0"):
            core.FeedHandler("FO", s, md_stale_ns=bad)
    for bad in (True, np.bool_(False), "5", None):                # True is no window of 1 ns
        with pytest.raises(TypeError, match="stale_ns must be a number of nanoseconds"):
            core.Store(3, stale_ns=bad)
        with pytest.raises(TypeError, match="md_stale_ns must be a number of nanoseconds"):
            core.FeedHandler("FO", s, md_stale_ns=bad)
    assert core.Store(3, stale_ns=2.5e9).stale_ns == 2_500_000_000
    assert core.Store(3, stale_ns=np.int64(7)).stale_ns == 7
    with pytest.raises(ValueError):
        s.add(0)
    with pytest.raises(ValueError):
        s.add(5, symbol="ELEVENCHARSX")


# ---- unit 2: a smart-merge sequence ----------------------------------------------------------------------

def test_unit_2_smart_merge_sequence():
    s = core.Store(10)
    merge(s, "CM", md(7, trading_status=1, mbp=mbp([(100, 5, 1)], [(102, 5, 1)])), now_ns=T0)
    merge(s, "CM", mw(7, buy=(99, 9), sell=(101, 9), ltp=100), now_ns=T0 + 1)           # pre-open MW
    merge(s, "CM", md(7, trading_status=2, last_traded_price=100, open_price=100, high_price=100,
                      low_price=100, volume_traded_today=10, closing_price=98,
                      mbp=mbp([(99, 5, 1), (98, 5, 1)], [(101, 5, 1)])), now_ns=T0 + 2)
    merge(s, "CM", tick(7, price=103, volume=2), now_ns=T0 + 3)                           # MD fresh
    merge(s, "CM", md(7, last_traded_price=104, open_price=90, high_price=104, low_price=97,
                      volume_traded_today=8), now_ns=T0 + 4)
    q = s[7]
    assert (q.open_price, q.high_price, q.low_price, q.close_price) == (100, 104, 97, 98)
    assert (q.last_traded_price, q.volume_traded_today, q.fill_price) == (104, 10, 103)
    assert q.bid_price == (99, 98, 0, 0, 0) and q.ask_price == (101, 0, 0, 0, 0)
    assert q.update_count == 5 and q.last_update_source == 7200 and q.data_quality == 100


# ---- unit 3: the sequence lock (in process: a nogil writer thread, readers in the main thread) -----------

def _consistent_msgs(n_tokens, n_versions):
    """Messages whose fields are all functions of one version number v: a torn read mixes versions."""
    msgs = []
    for v in range(1, n_versions + 1):
        for t in range(1, n_tokens + 1):
            p = 1000 + v
            msgs.append(md(t, last_traded_price=p, volume_traded_today=v, total_buy_quantity=v * 7,
                           net_price_change_from_closing_price=-v,
                           mbp=mbp([(p - i, v * 10 + i, (v + i) % 30000) for i in range(5)],
                                   [(p + 1 + i, v * 20 + i, (v + 2 * i) % 30000) for i in range(5)])))
    return msgs


def check_consistent(q):
    v = q.total_buy_quantity // 7            # totals are absolute (volume only grows, so it cannot be the key)
    if v == 0:
        return
    p = 1000 + v
    assert q.last_traded_price == p and q.total_buy_quantity == v * 7 and q.net_price_change == -v
    assert q.bid_price == tuple(p - i for i in range(5))
    assert q.bid_quantity == tuple(v * 10 + i for i in range(5))
    assert q.ask_orders == tuple((v + 2 * i) % 30000 for i in range(5))


def test_unit_3_seqlock_readers_never_see_torn_records():
    s = core.Store(8)
    fh = core.FeedHandler("CM", s, records=False)
    packed = core.pack_messages("CM", _consistent_msgs(4, 200))
    stop = threading.Event()
    def writer():
        while not stop.is_set():
            fh.merge_packed(packed, repeat=20)          # releases the GIL for the whole loop
    th = threading.Thread(target=writer)
    th.start()
    try:
        reads = 0
        while reads < 20000:
            for t in (1, 2, 3, 4):
                if t in s:
                    check_consistent(s[t])
                    reads += 1
            snap = s.snapshot()
            for row in snap:
                v = int(row["total_buy_quantity"]) // 7
                if v:
                    assert row["last_traded_price"] == 1000 + v and row["bid_quantity"][4] == v * 10 + 4
    finally:
        stop.set()
        th.join()
    assert s[1].update_count > 0


def test_a_record_left_locked_by_a_dead_writer_is_an_error_naming_it_and_blocks_no_other_thread(shm_name):
    """A reader gives up on a record whose writer died inside an update (StoreError naming the token, after
    2**26 tries) without holding the GIL meanwhile: the reader process's other threads run on."""
    w = core.Store.create(shm_name, 10)
    merge(w, "CM", tick(11, price=100, volume=1))
    merge(w, "CM", tick(12, price=200, volume=1))
    bump_seq(shm_name, w, 11, +1)
    r = core.Store.open(shm_name)
    ran, stop = [0], threading.Event()

    def other():
        while not stop.is_set():
            ran[0] += 1
            stop.wait(0.001)
    th = threading.Thread(target=other)
    th.start()
    try:
        calls = [lambda: r[11], lambda: r.ltp(11), lambda: r.snapshot()]
        for call in calls:
            before = ran[0]
            with pytest.raises(core.StoreError, match="token 11: the record stayed locked"):
                call()
            assert ran[0] - before > 10             # the old reader held the GIL: the other thread ran 0-1 times
        assert r.ltp(12) == 200 and r[12].last_traded_price == 200      # the other records read as usual
    finally:
        stop.set()
        th.join()
    bump_seq(shm_name, w, 11, -1)                       # the update "finished": the record reads again
    assert r[11].last_traded_price == 100 and r.ltp(11) == 100 and len(r.snapshot()) == 2
    r.close()
    w.close()


# ---- unit 4: change-record round trip ----------------------------------------------------------------------

def test_unit_4_change_record_round_trip():
    live = core.Store(10)
    got = []
    fh = core.FeedHandler("FO", live, on_records=got.append)
    for i, m in enumerate([md(1, code=7208, last_traded_price=10, mbp=mbp([(9, 1, 1)], [(11, 1, 1)])),
                           mw(1, code=17201, oi=500), tick(2, code=17202, price=20, oi=9, hi=10, lo=8),
                           {"transaction_code": 7210, "records": [{"token": 2, "status": [2, 0, 0, 0]}]}]):
        fh.merge_message(m, now_ns=T0 + i * SEC)
    recs = np.concatenate(got)
    assert recs.dtype == CHANGE_RECORD_DTYPE
    rebuilt = core.Store(10)
    assert rebuilt.apply_records(recs, day_base_ns=live.header["day_base_ns"]) == 4
    market_equal(live.snapshot(), rebuilt.snapshot())
    assert rebuilt[2].last_update_ns == live[2].last_update_ns          # day base + ts48 = receive time


# ---- unit 5: quality score and staleness -------------------------------------------------------------------

def test_unit_5_quality_and_staleness():
    s = core.Store(10, stale_ns=2 * SEC)
    merge(s, "CM", md(1, last_traded_price=100, closing_price=99), now_ns=T0)
    assert s[1].data_quality == 35
    assert not s.is_stale(1, now_ns=T0 + SEC) and s.is_stale(1, now_ns=T0 + 3 * SEC)
    assert s.header["stale_ns"] == 2 * SEC


# ---- shared memory -------------------------------------------------------------------------------------

def test_named_store_owner_only_and_reader_view(shm_name):
    w = core.Store.create(shm_name, 100)
    path = os.path.join(core.SHM_DIR, f"vega.store.{shm_name}")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    merge(w, "CM", md(11, last_traded_price=123))
    r = core.Store.open(shm_name)
    assert not r.writable and w.writable and r.name == shm_name
    assert r.ltp(11) == 123 and 11 in r and len(r) == 1
    merge(w, "CM", md(12, last_traded_price=5))                        # readers see new tokens
    assert r[12].last_traded_price == 5 and list(r) == [11, 12]
    with pytest.raises(PermissionError):
        r.add(3)
    with pytest.raises(PermissionError):
        core.FeedHandler("CM", r)
    with pytest.raises(PermissionError):
        r.apply_records(np.empty(0, CHANGE_RECORD_DTYPE))
    r.close()
    w.close()


def test_second_writer_refused_and_dead_writer_replaced(shm_name):
    w = core.Store.create(shm_name, 10)
    with pytest.raises(StoreBusyError):
        core.Store.create(shm_name, 10)
    merge(w, "CM", md(1, last_traded_price=1))
    w.close()                                   # writer gone: the next create takes over with a fresh store
    w2 = core.Store.create(shm_name, 20)
    assert len(w2) == 0 and w2.capacity == 20
    w2.close()


def test_a_reader_knows_when_its_store_was_replaced_or_removed(shm_name):
    """A strategy holding Store.open(name) across a capture restart would read a dead copy forever:
    ``replaced`` tells it to open the name again."""
    w = core.Store.create(shm_name, 10)
    r = core.Store.open(shm_name)
    assert not w.replaced and not r.replaced and not core.Store(10).replaced
    merge(w, "CM", md(1, last_traded_price=100))
    w.close()                                   # the capture stops ...
    assert not r.replaced                       # (the file is still there: a restart may take it over)
    w2 = core.Store.create(shm_name, 10)        # ... and restarts with a new file under the same name
    merge(w2, "CM", md(1, last_traded_price=200))
    assert r.replaced and not w2.replaced
    assert r.ltp(1) == 100                      # the old mapping still reads, frozen
    r2 = core.Store.open(shm_name)
    assert not r2.replaced and r2.ltp(1) == 200
    core.Store.remove(shm_name)                 # removed: every view of it is replaced
    assert r2.replaced and w2.replaced
    for s in (r, r2, w2):
        s.close()


def test_open_checks_the_header(shm_name, tmp_path):
    with pytest.raises(FileNotFoundError):
        core.Store.open(shm_name)
    path = os.path.join(core.SHM_DIR, f"vega.store.{shm_name}")
    with open(path, "wb") as f:
        f.write(b"x" * 100)
    with pytest.raises(StoreFormatError, match="too short"):
        core.Store.open(shm_name)
    with open(path, "wb") as f:
        f.write(b"x" * 8192)
    with pytest.raises(StoreFormatError, match=r"not a VEGA store \(bad magic\)"):
        core.Store.open(shm_name)
    os.unlink(path)
    w = core.Store.create(shm_name, 10)
    w.close()
    data = bytearray(open(path, "rb").read())
    # version, record size, capacity, file size, dense
    for off, val in ((8, 99), (16, 512), (20, 100000), (56, 1), (24, 10**8)):
        bad = bytearray(data)
        bad[off:off + 4] = int(val).to_bytes(4, "little")
        open(path, "wb").write(bad)
        with pytest.raises(StoreFormatError):
            core.Store.open(shm_name)
    open(path, "wb").write(data[:-4096])
    with pytest.raises(StoreFormatError):
        core.Store.open(shm_name)
    with pytest.raises(ValueError):
        core.Store.open("../etc/passwd")


def _made_then_unpublished(name):
    """A complete store's bytes with the magic not published yet: what Store.create has made just before its
    last step (docs/FORMATS.md 3.2: the file reads "VGAMAKE1" until then), or left when killed there."""
    w = core.Store.create(name, 10)
    w.close()
    path = os.path.join(core.SHM_DIR, f"vega.store.{name}")
    data = bytearray(open(path, "rb").read())
    data[:8] = b"VGAMAKE1"
    return bytes(data)


def _open_refused(name, content):
    """The path of store ``name``, holding ``content``, and the message of Store.open's StoreFormatError."""
    path = os.path.join(core.SHM_DIR, f"vega.store.{name}")
    with open(path, "wb") as f:
        f.write(content)
    with pytest.raises(StoreFormatError) as ei:
        core.Store.open(name)
    return path, str(ei.value)


@pytest.mark.parametrize("content", [
    b"",                                  # the creator's O_CREAT, nothing written yet
    b"VGAMAKE1",                          # its first write, before the file has a size
    b"VGAMAKE1" + bytes(8184),            # its size set, no header yet
    _made_then_unpublished,               # every header field written but the magic
    bytes(100),                           # zeros shorter than the header
    bytes(8192),                          # an all-zero header
], ids=["empty", "making-8", "making-sized", "making-header", "zeros-100", "zeros-8192"])
def test_open_of_a_store_not_written_yet_says_it_is_incomplete(shm_name, content):
    """A reader that opens a store while its creator is still making it (or after the creator died there)
    finds no header yet: an empty file, zeros, or the "VGAMAKE1" Store.create writes before the magic.  That
    is a StoreFormatError that says so and gives the file's size, not "bad magic" (which would send the
    operator looking for a foreign file)."""
    if callable(content):
        content = content(shm_name)
    path, msg = _open_refused(shm_name, content)
    assert msg == f"store file {path} is incomplete or still being created ({len(content):,} bytes)"


@pytest.mark.parametrize("content", [b"x" * 8192, b"VGASTOR2" + bytes(8184), bytes(8) + b"x" * 8184],
                         ids=["text", "another-magic", "zero-magic-then-data"])
def test_open_of_foreign_content_still_says_bad_magic(shm_name, content):
    """A file of store size whose header is neither a store's nor one being made is no VEGA store."""
    path, msg = _open_refused(shm_name, content)
    assert msg == f"{path}: not a VEGA store (bad magic)"


@pytest.mark.parametrize("field,off,fmt,val", [
    ("header_size", 12, "<I", 64),
    ("hash_size", 28, "<I", 1 << 26),           # a reader would probe 2**26 hash slots: far past the file
    ("dense_off", 32, "<Q", 8192),
    ("hash_off", 40, "<Q", 4096),
    ("records_off", 48, "<Q", 4096),
    ("n_records", 64, "<I", 11),                # capacity 10: a reader would list zeroed records as token 0
])
def test_open_refuses_each_damaged_layout_field(shm_name, field, off, fmt, val):
    """Store.open trusts no offset or size of the header: each one a reader indexes with (the hash table's
    size becomes its probe mask, the offsets locate the tables and records, n_records bounds iteration) is
    checked against what the capacity and dense size imply, alone, with the file size left right."""
    import struct
    w = core.Store.create(shm_name, 10)
    merge(w, "CM", md(5, last_traded_price=50))
    w.close()
    path = os.path.join(core.SHM_DIR, f"vega.store.{shm_name}")
    data = bytearray(open(path, "rb").read())
    struct.pack_into(fmt, data, off, val)
    open(path, "wb").write(data)
    with pytest.raises(StoreFormatError):
        core.Store.open(shm_name)


def test_array_view_snapshot_and_close():
    s = core.Store(10)
    for t in (3, 1, 2):
        merge(s, "CM", md(t, last_traded_price=t * 10))
    a = s.array
    assert a.dtype == STORE_DTYPE and list(a["token"]) == [3, 1, 2] and not a.flags.writeable
    assert a.ctypes.data % 64 == 0
    merge(s, "CM", md(3, last_traded_price=99))
    assert a["last_traded_price"][0] == 99                     # zero copy: live
    snap = s.snapshot()
    merge(s, "CM", md(3, last_traded_price=98))
    assert snap["last_traded_price"][0] == 99                  # a copy
    assert list(s.snapshot([2, 3])["token"]) == [2, 3]
    with pytest.raises(KeyError):
        s.snapshot([42])
    with pytest.raises(BufferError):
        s.close()
    del a
    it = iter(s)
    assert next(it) == 3
    s.close()
    assert s.closed
    with pytest.raises(ValueError):
        next(it)
    with pytest.raises(ValueError):
        s[3]
    with pytest.raises(ValueError):
        len(s)


def test_quote_object_api():
    s = core.Store(10)
    s.add(5, symbol="NIFTY", series="XX", segment="FO")
    merge(s, "FO", md(5, code=7208, last_traded_price=100, net_change_indicator="+",
                      mbp=mbp([(99, 3, 1)], [(101, 4, 2)])))
    q = s[5]
    assert (q.token, q.symbol, q.series, q.segment, q.net_change_indicator) == (5, "NIFTY", "XX", 2, "+")
    assert q.bid_price[0] == 99 and q.ask_orders[0] == 2 and q.valid == 1 and q.subscribed == 1
    d = q.to_dict()
    assert d["last_traded_price"] == 100 and set(d) <= set(STORE_DTYPE.names)
    assert "Quote(token=5" in repr(q)
    assert s.depth(5)["ask_quantity"] == (4, 0, 0, 0, 0)
    assert s.get(6) is None and s.get(5) == q
    assert s.memory_bytes >= 10 * 448


# ---- integration: datagrams through the decoder into the store ---------------------------------------

def _md_msg(seg, code, token, **kw):
    m = nse.blank_message(seg, code, 1)
    m["records"][0].update(token=token, book_type=1, trading_status=2, **kw)
    return m


def test_integration_1_cm_datagrams_to_store():
    s = core.Store(100)
    fh = core.FeedHandler("CM", s)
    m7200 = _md_msg("CM", 7200, 2885, last_traded_price=250000, volume_traded_today=1 << 33,
                    open_price=249000, high_price=251000, low_price=248000, closing_price=247000)
    for i in range(5):
        m7200["records"][0]["mbp"][i].update(price=249900 - i * 5, quantity=100 + i, number_of_orders=i + 1)
        m7200["records"][0]["mbp"][5 + i].update(price=250100 + i * 5, quantity=200 + i, number_of_orders=i + 2)
    tick_msg = nse.blank_message("CM", 18703, 2)
    tick_msg["records"][0].update(token=2885, market_type=1, fill_price=250050, fill_volume=10)
    tick_msg["records"][1].update(token=1594, market_type=1, fill_price=150000, fill_volume=3)
    d1 = nse.build_datagram("CM", [m7200], compress=False)
    d2 = nse.build_datagram("CM", [tick_msg], compress=True)
    assert fh.process(d1, now_ns=T0) == 1 and fh.process(d2, now_ns=T0 + SEC) == 1
    q = s[2885]
    assert q.last_traded_price == 250000 and q.volume_traded_today == 1 << 33   # ticker: MD still fresh
    assert q.fill_price == 250050 and q.bid_price[4] == 249880 and q.ask_quantity[4] == 204
    assert s.ltp(1594) == 150000                                              # no MD: fast LTP
    st = fh.stats
    assert st["merged_by_code"][7200] == 1 and st["merged_by_code"][18703] == 1 and st["records"] > 0


def test_integration_2_fo_batch_records_rebuild():
    live = core.Store(200)
    got = []
    fh = core.FeedHandler("FO", live, on_records=got.append)
    rng = np.random.default_rng(7)
    dgrams, times = [], []
    for i in range(300):
        tok = int(rng.integers(35000, 35050))
        kind = i % 3
        if kind == 0:
            m = nse.blank_message("FO", 7208, 1, stream=3, bc_seq_no=i + 1)
            r = m["records"][0]
            r.update(token=tok, book_type=1, trading_status=2, last_traded_price=int(rng.integers(100, 200)),
                     volume_traded_today=i * 10, high_price=int(rng.integers(150, 250)))
            r["mbp"][0].update(price=int(rng.integers(90, 100)), quantity=int(rng.integers(1, 50)), number_of_orders=1)
        elif kind == 1:
            m = nse.blank_message("FO", 17202, 1, stream=3, bc_seq_no=i + 1)
            m["records"][0].update(token=tok, fill_price=int(rng.integers(100, 200)), fill_volume=5,
                                   open_interest=int(rng.integers(0, 10**12)))
        else:
            m = nse.blank_message("FO", 17201, 1, stream=3, bc_seq_no=i + 1)
            m["records"][0].update(token=tok, open_interest=int(rng.integers(0, 10**12)))
            m["records"][0]["market_wise_info"][0].update(buy_price=95, buy_volume=3, sell_price=105, sell_volume=4)
        dgrams.append(nse.build_datagram("FO", [m], compress=bool(i % 2)))
        times.append(T0 + i * SEC // 3)
    assert fh.process_batch(dgrams, now_ns=np.array(times)) == 300
    assert len(got) == 1                                    # one array per call
    rebuilt = core.Store(200)
    rebuilt.apply_records(got[0], day_base_ns=live.header["day_base_ns"])
    market_equal(by_token(live.snapshot()), by_token(rebuilt.snapshot()))
    assert fh.stats["streams"][3]["gaps"] == 0 and fh.stats["streams"][3]["messages"] == 300


_READER_3 = """
import hashlib, json, sys
import vega._core as c
from vega.store import StoreBusyError
r = c.Store.open(sys.argv[1])
def state():
    return {"tokens": list(r), "quotes": {t: r[t].to_dict() for t in r},
            "snapshot": hashlib.sha256(r.snapshot().tobytes()).hexdigest()}
out = state()
try:
    c.Store.create(sys.argv[1], 10)
    out["second_writer"] = "accepted"
except StoreBusyError as e:
    out["second_writer"] = "refused: " + str(e)
try:
    c.FeedHandler("CM", r)
    out["feed_on_reader"] = "accepted"
except PermissionError:
    out["feed_on_reader"] = "refused"
print(json.dumps(out), flush=True)
sys.stdin.readline()                          # the writer merges more, then asks again
print(json.dumps(state()), flush=True)
"""


def test_integration_3_datagrams_into_a_named_store_read_by_another_process(shm_name):
    """The seed's shared-memory integration: the writer decodes and merges datagrams into a named store;
    a reader process opens it by name and sees every field of every instrument (snapshot bytes and Quotes),
    sees what the writer merges later without reopening, and can neither become a second writer nor feed a
    handler."""
    import hashlib
    import json
    import subprocess
    import sys
    w = core.Store.create(shm_name, 2000)
    fh = core.FeedHandler("CM", w)
    assert fh.process_batch(list(nse.sample_stream("CM", 200, seed=3)), now_ns=T0) > 0
    assert len(w) > 50
    p = subprocess.Popen([sys.executable, "-c", _READER_3, shm_name], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline() or "null")
        assert first is not None, p.stderr.read()
        assert first["tokens"] == list(w)
        assert first["quotes"] == json.loads(json.dumps({t: w[t].to_dict() for t in w}))
        assert first["snapshot"] == hashlib.sha256(w.snapshot().tobytes()).hexdigest()
        assert first["second_writer"].startswith("refused") and first["feed_on_reader"] == "refused"
        tok = next(iter(w))
        m = _md_msg("CM", 7200, tok, last_traded_price=w.ltp(tok) + 1, volume_traded_today=1 << 40)
        fh.process(nse.build_datagram("CM", [m], compress=True), now_ns=T0 + SEC)
        m = _md_msg("CM", 7200, 999_999_937, last_traded_price=4242)                  # a new, sparse token
        fh.process(nse.build_datagram("CM", [m], compress=False), now_ns=T0 + SEC)
        p.stdin.write("\n")
        p.stdin.flush()
        second = json.loads(p.stdout.readline() or "null")
        assert second is not None, p.stderr.read()
    finally:
        p.stdin.close()
        p.wait(timeout=60)
    assert p.returncode == 0
    assert second["tokens"] == list(w) and second["tokens"][-1] == 999_999_937
    assert second["quotes"][str(tok)]["volume_traded_today"] == 1 << 40
    assert second["quotes"]["999999937"]["last_traded_price"] == 4242
    assert second["snapshot"] == hashlib.sha256(w.snapshot().tobytes()).hexdigest()
    w.close()


def test_integration_4_sequence_gaps_and_bad_datagrams_counted():
    s = core.Store(10)
    fh = core.FeedHandler("CM", s)
    def d(seq, stream=1, token=1):
        m = _md_msg("CM", 7200, token, last_traded_price=seq)
        m.update(stream=stream, bc_seq_no=seq)
        return nse.build_datagram("CM", [m], compress=False)
    fh.process_batch([d(1), d(2), d(5), d(3), d(6), d(100, stream=2), d(101, stream=2), b"\x00", b"",
                      d(7)[:-10], d(8)], now_ns=T0)
    st = fh.stats
    assert st["streams"][1] == {"messages": 6, "last_seq": 8, "gaps": 2, "missed": 3, "out_of_order": 1}
    assert st["streams"][2]["gaps"] == 0 and st["streams"][2]["last_seq"] == 101
    assert st["errors"]["empty"] == 2 and st["errors"]["truncated"] >= 1
    assert s.ltp(1) == 8                                     # the rest of the batch applied
    with pytest.raises(TypeError):
        fh.process_batch(["not bytes"])
    with pytest.raises(ValueError):
        fh.process_batch([d(1)], now_ns=np.array([1, 2]))
    with pytest.raises(TypeError):
        fh.process("text")


def test_integration_5_keyframe_checkpoint_then_replay():
    live = core.Store(50)
    got = []
    fh = core.FeedHandler("CM", live, on_records=got.append)
    msgs = [md(t, last_traded_price=100 + i, volume_traded_today=i, mbp=mbp([(90 + i, i, 1)], []))
            for i, t in enumerate([1, 2, 3, 1, 2, 3, 4])]
    for i, m in enumerate(msgs[:4]):
        fh.merge_message(m, now_ns=T0 + i)
    checkpoint = live.keyframe_records(ts_ns=1)
    got.clear()
    for i, m in enumerate(msgs[4:]):
        fh.merge_message(m, now_ns=T0 + 10 + i)
    rebuilt = core.Store(50)
    rebuilt.apply_records(checkpoint)
    rebuilt.apply_records(np.concatenate(got), day_base_ns=live.header["day_base_ns"])
    market_equal(by_token(live.snapshot()), by_token(rebuilt.snapshot()))


def test_c_level_sinks_and_python_callback_see_the_same_records():
    s = core.Store(10)
    got = []
    fh = core.FeedHandler("CM", s, on_records=got.append)
    fh.merge_message(md(1, last_traded_price=5), now_ns=T0)
    fh.merge_message(md(1, last_traded_price=5), now_ns=T0)      # no change: no callback
    assert len(got) == 1 and fh.stats["records"] == len(got[0])
    fh2 = core.FeedHandler("CM", s, records=False, on_records=got.append)
    fh2.merge_message(md(1, last_traded_price=6), now_ns=T0)
    assert len(got) == 1 and s.ltp(1) == 6
