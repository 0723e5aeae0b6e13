"""The Python surface of the extension classes: a method called through its class with a wrong ``self``
raises TypeError (it used to run with the object taken for the class's C struct and crash the
interpreter), every method keeps an introspectable signature, and the stateful classes say what they are
in their repr."""
import datetime
import inspect
import subprocess
import sys
import textwrap
import uuid

import pytest

import vega
from vega import _core, _journal, _net, _ring, nse

EXTENSION_MODULES = ("vega._core", "vega._ring", "vega._journal", "vega._net", "vega._lzo", "vega._iv")


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
    import os
    code = _WRONG_SELF.format(tests=os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"the child died (signal {-p.returncode})\n{p.stdout[-2000:]}{p.stderr[-2000:]}"
    lines = p.stdout.splitlines()
    assert lines[-1].startswith("calls ")
    _, calls, _, refused = lines[-1].split()
    assert int(calls) >= 400 and lines[:-1] == [] and refused == calls, p.stdout[-3000:]


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
    assert repr(w) == f"<vega.JournalWriter {path!r} NSE_FO {date}: 0 records open>"
    fh = vega.FeedHandler("FO", vega.Store(100), journal=w)
    assert f" journal={w!r}:" in repr(fh)
    fh.close()
    w.close()
    assert repr(w) == f"<vega.JournalWriter {path!r} NSE_FO {date}: 0 records closed>"
