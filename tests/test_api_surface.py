"""The Python surface of the extension classes: a method called through its class with a wrong ``self``
raises TypeError (it used to run with the object taken for the class's C struct and crash the
interpreter), every method keeps an introspectable signature, the stateful classes say what they are in
their repr, a Quote pickles as the value it is, and the handles (store, ring, writers...) refuse to pickle
with a message that says what to pass instead."""
import copy
import errno
import datetime
import inspect
import json
import os
import pickle
import re
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

import vega
from vega import _core, _net, nse

EXTENSION_MODULES = ("vega._core", "vega._ring", "vega._journal", "vega._net", "vega._lzo", "vega._iv", "vega._pcap")


def extension_classes():
    """Every class defined in an extension module whose methods are compiled (not the exceptions and
    warnings, which are Python classes)."""
    out = []
    for name in EXTENSION_MODULES:
        mod = sys.modules.get(name) or __import__(name, fromlist=["_"])
        for attr in vars(mod).values():
            if (isinstance(attr, type) and attr.__module__ == name and not issubclass(attr, BaseException)
                    and not issubclass(attr, Warning)):
                out.append(attr)
    return out


def instance_methods(cls):
    """(name, method) of the methods in the class's own namespace that take an instance: not ``__new__``,
    the static and class methods, nor the slot wrappers (``__len__`` ...: CPython checks those itself)."""
    for name, v in vars(cls).items():
        if name == "__new__" or isinstance(v, (staticmethod, classmethod, property)) or type(v).__name__ in (
                "wrapper_descriptor", "getset_descriptor", "member_descriptor", "classmethod_descriptor"):
            continue
        if callable(v):
            yield name, v


def test_the_classes_under_test_are_found():
    names = {c.__name__ for c in extension_classes()}
    assert {"Store", "FeedHandler", "Quote", "Decoder", "Ring", "Reader", "JournalWriter", "Journal",
            "BatchReceiver"} <= names
    assert sum(1 for _ in instance_methods(_core.Store)) >= 15


# Run in a child: without the check a wrong self crashes the interpreter, which would take pytest with it.
_WRONG_SELF = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_api_surface import extension_classes, instance_methods
    calls = refused = 0
    for cls in extension_classes():
        for name, meth in instance_methods(cls):
            for wrong in (None, 12345, "NSE_FO", object()):
                calls += 1
                try:
                    meth(wrong)
                except TypeError as e:
                    if "doesn't apply to" in str(e):
                        refused += 1
                    else:
                        print("wrong message", cls.__name__, name, type(wrong).__name__, e)
                except BaseException as e:
                    print("not refused", cls.__name__, name, type(wrong).__name__, type(e).__name__, e)
                else:
                    print("ran", cls.__name__, name, type(wrong).__name__)
    print("calls", calls, "refused", refused)
""")


def test_a_method_called_through_its_class_with_a_wrong_self_raises_type_error():
    code = _WRONG_SELF.format(tests=os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"the child died (signal {-p.returncode})\n{p.stdout[-2000:]}{p.stderr[-2000:]}"
    lines = p.stdout.splitlines()
    assert lines[-1].startswith("calls ")
    _, calls, _, refused = lines[-1].split()
    assert int(calls) >= 4 * 80 and lines[:-1] == [] and refused == calls, p.stdout[-3000:]   # 101 methods today


def test_the_common_slip_store_ltp_on_the_class_is_a_type_error():
    with pytest.raises(TypeError, match="doesn't apply to a 'int' object"):
        vega.Store.ltp(12345)
    with pytest.raises(TypeError, match="'str' object"):
        vega.Store.unlink("NSE_FO")                     # Store.remove(name) is the static one; Ring.unlink(name)
    with pytest.raises(TypeError):
        vega.FeedHandler.process(vega.Store(10), b"")   # another class's instance


def test_every_method_has_a_signature():
    missing = []
    for cls in extension_classes():
        for name, v in vars(cls).items():
            meth = getattr(cls, name)
            if not callable(meth) or isinstance(v, property) or type(v).__name__ in (
                    "wrapper_descriptor", "getset_descriptor", "member_descriptor") or name.startswith("__"):
                continue
            try:
                inspect.signature(meth)
            except (ValueError, TypeError) as e:
                missing.append(f"{cls.__name__}.{name}: {e}")
    assert missing == []
    sig = inspect.signature(vega.Store.create)
    assert list(sig.parameters) == ["name", "capacity", "dense_tokens", "stale_ns"]
    # the spelled-out defaults are the module's constants
    assert sig.parameters["dense_tokens"].default == _core.DEFAULT_DENSE_TOKENS
    assert sig.parameters["stale_ns"].default == _core.DEFAULT_STALE_NS
    sig = inspect.signature(vega.FeedHandler.merge_packed)
    assert list(sig.parameters)[:2] == ["self", "packed"] and sig.parameters["repeat"].default == 1


def test_store_repr():
    s = vega.Store(1000)
    s.add(7)
    assert repr(s) == "<vega.Store in-process writer 1/1,000 instruments>"
    s.close()
    assert repr(s) == "<vega.Store in-process closed>"
    name = f"test-repr-{uuid.uuid4().hex[:8]}"
    w = vega.Store.create(name, 50)
    try:
        r = vega.Store.open(name)
        w.add(1)
        w.add(2)
        assert repr(w) == f"<vega.Store {name!r} writer 2/50 instruments>"
        assert repr(r) == f"<vega.Store {name!r} read-only 2/50 instruments>"
        r.close()
        assert repr(r) == f"<vega.Store {name!r} closed>"
    finally:
        w.close()
        vega.Store.remove(name)


def test_feed_handler_and_decoder_repr_count_what_they_did():
    store = vega.Store(10_000)
    fh = vega.FeedHandler("FO", store)
    assert repr(fh) == (f"<vega.FeedHandler FO store={store!r}: 0 datagrams, 0 messages, 0 errors, 0 updates, "
                        "0 change records>")
    fh.process_batch(list(nse.sample_stream("FO", 40, seed=5)) + [b"\x00\x01"])
    st = fh.stats
    updates, errors = st["merge"]["merged"], sum(st["errors"].values())
    assert errors == 1 and updates > 0 and st["records"] > 0
    assert repr(fh) == (f"<vega.FeedHandler FO store={store!r}: 41 datagrams, {st['messages']:,} messages, "
                        f"1 errors, {updates:,} updates, {st['records']:,} change records>")
    dec = vega.Decoder("CM")
    dec.decode(b"\x00")
    assert repr(dec) == "<vega.Decoder CM: 1 datagrams, 0 messages, 1 errors>"


def test_feed_handler_repr_names_its_journal(tmp_path):
    date = datetime.date(2026, 11, 20)
    w = vega.JournalWriter(tmp_path, "NSE_FO", date, flush_interval=None)
    path = w.path
    assert repr(w) == f"<vega.JournalWriter {str(path)!r} NSE_FO {date}: 0 records open>"
    fh = vega.FeedHandler("FO", vega.Store(100), journal=w)
    assert f" journal={w!r}:" in repr(fh)
    fh.close()
    w.close()
    assert repr(w) == f"<vega.JournalWriter {str(path)!r} NSE_FO {date}: 0 records closed>"


# ---- pickling: a Quote is a value, the handles say what to do instead --------------------------------------

def _quote():
    store = vega.Store(10_000)
    vega.FeedHandler("FO", store).process_batch(list(nse.sample_stream("FO", 40, seed=9)))
    tok = max(store, key=lambda t: store[t].volume_traded_today)
    return store, store[tok]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_quote_pickles_and_copies_as_a_value(protocol):
    store, q = _quote()
    back = pickle.loads(pickle.dumps(q, protocol))
    assert type(back) is vega.Quote and back == q and back.to_dict() == q.to_dict()
    assert back.stale == q.stale and repr(back) == repr(q)
    assert q.bid_price[0] > 0 and back.bid_price == q.bid_price and back.volume_traded_today > 0
    assert copy.copy(q) == q and copy.deepcopy(q) == q
    store.close()                                      # a snapshot does not need its store
    assert pickle.loads(pickle.dumps(back, protocol)) == q


def test_a_quote_is_hashable_as_a_value():
    """A snapshot is a value whose fields cannot be set, so equal snapshots hash alike: a set of quotes keeps one
    per distinct state, and a quote can key a dict.  Before, hash() raised TypeError (__eq__ without __hash__)."""
    store, q = _quote()
    again, back = store[q.token], pickle.loads(pickle.dumps(q))
    assert again == q == back and hash(again) == hash(q) == hash(back)
    assert {q: "x"}[back] == "x" and len({q, again, back}) == 1
    with pytest.raises(AttributeError):
        q.last_traded_price = 1                        # what makes hashing safe
    tok = q.token
    fh = vega.FeedHandler("FO", store)
    fh.merge_message({"transaction_code": 7202, "records": [{"token": tok, "fill_price": q.last_traded_price + 5,
                                                              "fill_volume": 7}]}, now_ns=time.time_ns() + 10**9)
    later = store[tok]
    assert later != q and len({q, later}) == 2


def test_a_quote_crosses_a_process_boundary(tmp_path):
    _, q = _quote()
    (tmp_path / "q.pickle").write_bytes(pickle.dumps(q))
    code = ("import pickle, sys, json; q = pickle.loads(open(sys.argv[1], 'rb').read()); "
            "print(json.dumps(q.to_dict()))")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "q.pickle")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got == json.loads(json.dumps(q.to_dict()))   # tuples -> lists on both sides


def test_a_damaged_quote_pickle_is_refused():
    with pytest.raises(ValueError, match="pickled Quote of 447 bytes"):
        _core._quote_restore(b"\x00" * 447, 0, 0)
    with pytest.raises(TypeError):
        _core._quote_restore("not bytes", 0, 0)


def test_handles_refuse_to_pickle_and_say_what_to_do(tmp_path):
    name = f"test-pk-{uuid.uuid4().hex[:8]}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    named = vega.Store.create(name, 10)
    ring = vega.Ring.create(name)
    writer = vega.JournalWriter(tmp_path, "NSE_FO", datetime.date(2026, 11, 20), flush_interval=None)
    try:
        cases = [(vega.Store(10), "vega.Store.create"),
                 (named, f"vega.Store.open({name!r})"),
                 (vega.FeedHandler("CM", vega.Store(10)), "make it in the process that receives"),
                 (vega.Decoder("FO"), "vega.Decoder('FO')"),
                 (ring, "vega.Ring.open(name)"),
                 (ring.reader("NSE_EQ"), "ring.reader('NSE_EQ'"),
                 (writer, "vega.Journal.open(path)"),
                 (_net.BatchReceiver(sock.fileno(), 4, 2048), "make one for the socket")]
        for obj, hint in cases:
            with pytest.raises(TypeError, match=r"^cannot pickle .*" + re.escape(hint)):
                pickle.dumps(obj)
            with pytest.raises(TypeError, match="^cannot pickle"):
                copy.copy(obj)
    finally:
        writer.close()
        ring.close()
        vega.Ring.unlink(name)
        named.close()
        vega.Store.remove(name)
        sock.close()


def test_a_journal_pickles_as_its_path(tmp_path):
    from journal_helpers import make_records
    with vega.JournalWriter(tmp_path, "NSE_FO", datetime.date(2026, 11, 20), flush_interval=None) as w:
        w.append(make_records(500))
        path = w.path
    j = vega.Journal.open(path)
    back = pickle.loads(pickle.dumps(j))
    assert type(back) is vega.Journal and repr(back) == repr(j) and len(back) == len(j) == 500
    assert (back.read() == j.read()).all()


def test_store_sizes_are_ints():
    for bad in (2.5, 1e6, "10", None):
        with pytest.raises(TypeError, match=f"capacity must be an int, not {type(bad).__name__}"):
            vega.Store(bad)
    with pytest.raises(TypeError, match="dense_tokens must be an int, not float"):
        vega.Store(10, dense_tokens=1000.0)
    name = f"test-size-{uuid.uuid4().hex[:8]}"
    for bad, error in ((10.0, TypeError), (0, ValueError), (10, ValueError)):
        with pytest.raises(error):
            vega.Store.create(name, bad, stale_ns=-1 if bad == 10 else 0)
        assert not os.path.exists(_core._shm_path(name))          # nothing left in /dev/shm
    import numpy as np
    assert vega.Store(np.int32(12)).capacity == 12     # anything with __index__


def test_a_store_that_cannot_be_made_leaves_no_file(monkeypatch):
    """A failure after the file exists (here: no room to size it) removes it: a reader must not find a
    half-made store, and /dev/shm must not fill with them."""
    name = f"test-enospc-{uuid.uuid4().hex[:8]}"

    def no_room(fd, size):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_core._os, "ftruncate", no_room)
    with pytest.raises(OSError, match="No space left"):
        vega.Store.create(name, 100)
    monkeypatch.undo()
    assert not os.path.exists(_core._shm_path(name))
    with pytest.raises(FileNotFoundError, match="no store named"):
        vega.Store.open(name)
    s = vega.Store.create(name, 100)                   # and the name is free
    try:
        assert s.capacity == 100
    finally:
        s.close()
        vega.Store.remove(name)


def test_opening_a_captures_prefix_names_its_stores():
    """`vega capture --store vega` makes vega-fo, vega-cm and vega-idx: Store.open("vega") said only that no
    store has that name, leaving the user to guess the suffixes."""
    prefix = f"test-prefix-{uuid.uuid4().hex[:8]}"
    with pytest.raises(FileNotFoundError, match=r"no store named .*\)$"):    # nothing of that prefix: as before
        vega.Store.open(prefix)
    fo, cm = vega.Store.create(f"{prefix}-fo", 16), vega.Store.create(f"{prefix}-cm", 16)
    try:
        with pytest.raises(FileNotFoundError) as e:
            vega.Store.open(prefix)
        assert str(e.value).startswith(f"no store named {prefix!r}")
        assert str(e.value).endswith(f"<prefix>-idx: open '{prefix}-fo' or '{prefix}-cm'")
        with pytest.raises(FileNotFoundError, match=r"no store named .*\)$"):   # a name too long for a suffix
            vega.Store.open("x" * 100)
    finally:
        for s in (fo, cm):
            s.close()
            vega.Store.remove(s.name)
