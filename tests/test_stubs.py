"""The typing stubs (vega/*.pyi) against the runtime they describe.

The mypy tests (tests/mypy_helpers.py) check that the stubs accept what users write; these check that what the
stubs say is so.  mypy.stubtest compares every name, signature (argument names, positional- and keyword-only-ness,
defaults), class, base and constant of the stubs, and of the inline-typed pure-Python modules, with the imported
package; what it reports that is no disagreement is in tests/stubtest_allowlist.txt, with the reason, and its mypy
configuration is tests/stubtest_mypy.ini.  stubtest cannot tell a read-only attribute from a writable one (a
``cdef readonly`` field is a descriptor without a setter): test_stub_attributes_are_writable_where_the_runtime_is
does."""
import ast
import ctypes
import importlib
import os
import subprocess
import sys

import vega
from mypy_helpers import mypy_strict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(vega.__file__)))     # the tree whose vega is imported
TESTS = os.path.dirname(os.path.abspath(__file__))
ALLOWLIST = os.path.join(TESTS, "stubtest_allowlist.txt")
CONFIG = os.path.join(TESTS, "stubtest_mypy.ini")


def stubtest(root, *args, config=CONFIG):
    """``python -m mypy.stubtest ARGS`` with the package at ``root`` both imported and read by mypy."""
    env = dict(os.environ, PYTHONPATH=root, MYPYPATH=root)
    return subprocess.run([sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", config,
                           "--allowlist", ALLOWLIST, *args], capture_output=True, text=True, cwd=root, env=env,
                          timeout=600)


def test_stubtest_finds_the_stubs_true_to_the_runtime():
    p = stubtest(ROOT, "vega")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Success: no issues found" in p.stdout


def _mypy_strict_package(tmp_path, config=CONFIG):
    env = dict(os.environ, PYTHONPATH=ROOT, MYPYPATH=ROOT)
    p = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--config-file", config, "--cache-dir",
                        str(tmp_path / "mypy-cache"), "-p", "vega"], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith("Success: no issues found"), p.stdout


def test_the_package_type_checks_under_mypy_strict(tmp_path):
    """``mypy --strict`` of the whole package, its pure-Python modules' own annotations too (what a user's mypy
    takes their types from: a wrong one is a bug), with tests/stubtest_mypy.ini (the optional extras without
    types; the modules not yet typed in full)."""
    _mypy_strict_package(tmp_path)


def test_the_package_and_its_stubs_type_check_without_the_optional_extras(tmp_path):
    """Both runs where only numpy is installed (``pip install vega``): mypy takes the installed packages from a
    bare venv's site-packages (its python_executable), holding a link to numpy.  Without zstandard or rich, what
    vega.pcap and vega watch take from them is Any: a decompressobj's bytes returned as Any, an ignore no error
    uses, and for stubtest their names imported for the annotations (public: not present at runtime)."""
    import numpy
    import venv
    venv.create(tmp_path / "venv", with_pip=False)
    py = tmp_path / "venv" / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    os.symlink(os.path.dirname(numpy.__file__), os.path.join(site, "numpy"))
    with open(CONFIG) as f:
        ini = f.read()
    assert "\n[mypy]\n" in ini
    config = tmp_path / "mypy.ini"
    config.write_text(ini.replace("\n[mypy]\n", f"\n[mypy]\npython_executable = {py}\n", 1))
    _mypy_strict_package(tmp_path, str(config))
    p = stubtest(ROOT, "vega", config=str(config))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Success: no issues found" in p.stdout


def test_stubtest_fails_on_a_wrong_stub(tmp_path):
    """The run above would see a wrong stub: here a package of links to this tree's files, but for _lzo.pyi,
    whose lzo1z_decompress names its max_out argument maxout."""
    pkg = tmp_path / "vega"
    pkg.mkdir()
    src = os.path.join(ROOT, "vega")
    for name in os.listdir(src):
        if name not in ("_lzo.pyi", "__pycache__"):
            os.symlink(os.path.join(src, name), pkg / name)
    with open(os.path.join(src, "_lzo.pyi")) as f:
        stub = f.read()
    assert "max_out: int = 65535) -> bytes" in stub
    (pkg / "_lzo.pyi").write_text(stub.replace("max_out: int = 65535) -> bytes", "maxout: int = 65535) -> bytes"))
    p = stubtest(str(tmp_path), "vega._lzo", "--ignore-unused-allowlist")
    assert p.returncode == 1, p.stdout + p.stderr
    assert 'vega._lzo.lzo1z_decompress is inconsistent, stub parameter "maxout" differs from runtime parameter ' \
           '"max_out"' in p.stdout, p.stdout + p.stderr
    assert os.path.join(str(tmp_path), "vega", "_lzo.pyi") in p.stdout        # the copy's stub, not this tree's


class _GetSetDef(ctypes.Structure):        # CPython's PyGetSetDef (descrobject.h)
    _fields_ = [("name", ctypes.c_char_p), ("get", ctypes.c_void_p), ("set", ctypes.c_void_p),
                ("doc", ctypes.c_char_p), ("closure", ctypes.c_void_p)]


class _MemberDef(ctypes.Structure):        # CPython's PyMemberDef (descrobject.h)
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int), ("offset", ctypes.c_ssize_t),
                ("flags", ctypes.c_int), ("doc", ctypes.c_char_p)]


def writable(descr):
    """Whether an extension type's attribute descriptor takes an assignment: a getset descriptor has a setter, a
    member descriptor is not READONLY.  The definition (PyGetSetDef, PyMemberDef) is the descriptor object's
    last field."""
    at = id(descr) + type(descr).__basicsize__ - ctypes.sizeof(ctypes.c_void_p)
    definition = ctypes.c_void_p.from_address(at).value
    if type(descr).__name__ == "getset_descriptor":
        return ctypes.cast(definition, ctypes.POINTER(_GetSetDef))[0].set is not None
    assert type(descr).__name__ == "member_descriptor", descr
    return not ctypes.cast(definition, ctypes.POINTER(_MemberDef))[0].flags & 1      # READONLY


def test_writable_tells_a_readonly_descriptor():
    class Slotted:
        __slots__ = ("a",)
    assert not writable(vega.Quote.__dict__["last_traded_price"])          # cdef readonly
    assert writable(vega.JournalWriter.__dict__["recovered"])              # cdef public
    assert not writable(complex.__dict__["real"])                          # a READONLY member descriptor
    assert writable(Slotted.__dict__["a"])                                 # a writable one
    assert writable(BaseException.__dict__["__cause__"])                   # a getset descriptor with a setter


def test_stub_attributes_are_writable_where_the_runtime_is():
    """An attribute of an extension class that the stub declares (``x: int``) takes an assignment at run time,
    and one it declares a property without a setter does not: a user's ``quote.last_traded_price = 0`` is a
    type error exactly when it is an AttributeError."""
    wrong, checked = [], 0
    for name in sorted(os.listdir(os.path.join(ROOT, "vega"))):
        if not name.endswith(".pyi"):
            continue
        mod = importlib.import_module("vega." + name[:-4])
        with open(os.path.join(ROOT, "vega", name)) as f:
            tree = ast.parse(f.read())
        for cls_def in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            cls = getattr(mod, cls_def.name, None)
            if cls is None:                   # a stub-only Protocol (stubtest checks the others are there)
                continue
            setters = {d.value.id for n in cls_def.body if isinstance(n, ast.FunctionDef)
                       for d in n.decorator_list if isinstance(d, ast.Attribute) and d.attr == "setter"}
            for node in cls_def.body:
                if isinstance(node, ast.AnnAssign):
                    attr, says = node.target.id, True
                elif isinstance(node, ast.FunctionDef) and any(
                        isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list):
                    attr, says = node.name, node.name in setters
                else:
                    continue
                descr = next((vars(k)[attr] for k in cls.__mro__ if attr in vars(k)), None)
                if type(descr).__name__ not in ("getset_descriptor", "member_descriptor"):
                    continue                  # an instance attribute of a Python class, a NamedTuple field
                checked += 1
                if writable(descr) != says:
                    wrong.append(f"{name}: {cls_def.name}.{attr}: the stub says {'' if says else 'not '}writable")
    assert wrong == []
    assert checked > 150


# What a user's mypy --strict sees of the main calls: their types (assert_type: Any is an error too), and the
# mistakes the runtime refuses, each an error (--strict's warn_unused_ignores: an ignore with no error fails).
USER_TYPES = """
import datetime
from typing import Any, assert_type

import numpy as np
import numpy.typing as npt

import vega
import vega.records

store = vega.Store.open("nse-fo")
assert_type(vega.Store.open("nse-fo")[57030].last_traded_price, int)
assert_type(store[57030].bid_price, tuple[int, int, int, int, int])
assert_type(store.ltp(57030), int)
assert_type(store.snapshot(), npt.NDArray[Any])
reader = vega.Ring.open("vega").reader("NSE_FO", name="terminal-1")
assert_type(reader.poll(4096, timeout=0.1), npt.NDArray[np.void])
assert_type(reader.lag, int)
recs = np.zeros(4, vega.records.CHANGE_RECORD_DTYPE)
ring = vega.Ring.open("vega")
assert_type(ring.append("NSE_FO", recs), int)         # an ndarray is records (numpy: no __buffer__ under 3.11)
assert_type(reader.poll_into(recs), int)
assert_type(ring.info("NSE_FO")["tail"], int)
assert_type(vega.records.fields(recs[0]), dict[str, int | float | str])
assert_type(vega.records.timestamps(recs), npt.NDArray[np.int64])
assert_type(vega.journal.replay("/j", "2026-11-20", into=store).missing, list[tuple[datetime.date, str]])
assert_type(vega.replay("/j", "2026-11-18", "2026-11-20", feeds=["NSE_FO"], into=store), vega.journal.ReplayResult)
j = vega.Journal.open("/j/NSE_FO/20261120.bin")
assert_type(j.snapshot_at(datetime.time(11, 30)), vega.Store)
assert_type(j.between("11:30", "11:31:30.5"), npt.NDArray[Any])
assert_type(j.next_seq, int)
assert_type(vega.decode(b"", "FO"), list[dict[str, Any]])
assert_type(vega.Decoder("CM"), vega.Decoder)
assert_type(vega.FeedHandler("FO", vega.Store(10)), vega.FeedHandler)
assert_type(vega.capture.ist_date(), datetime.date)       # a submodule vega imports on first use

store[57030].last_traded_price = 0  # type: ignore[misc]   # read-only
vega.Ring()  # type: ignore[call-arg]                      # Ring.create / Ring.open
vega.Reader()  # type: ignore[call-arg]                    # Ring.reader
vega.Stroe  # type: ignore[attr-defined]                   # no such name, not Any
"""


def test_user_code_sees_the_types_and_the_errors(tmp_path):
    mypy_strict(tmp_path, USER_TYPES)


def test_the_lazy_submodules_are_there_at_run_time():
    """vega/__init__.py shows type checkers its lazily imported submodules as imports: at run time they are
    still imported on first use, and other names are still AttributeError."""
    code = ("import sys, vega; assert 'vega.capture' not in sys.modules; vega.capture.ist_date(); "
            "assert 'vega.capture' in sys.modules\n"
            "try:\n    vega.Stroe\nexcept AttributeError as e:\n    print(e)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("module 'vega' has no attribute 'Stroe'")
