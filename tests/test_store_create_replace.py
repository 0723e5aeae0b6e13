"""Store.create(name) replaces a store left by a dead writer, and nothing else: a file at the store's path that
is not a VEGA store (wrong magic, too short for a store header, a directory, a symbolic link, a FIFO) is
refused with StoreFormatError and left exactly as it was; an empty file is replaced; a live writer's store is
StoreBusyError (docs/FORMATS.md §3.2)."""
import os
import shutil
import subprocess
import sys
import uuid

import pytest

import vega._core as core
from vega.store import StoreBusyError, StoreError, StoreFormatError
from store_helpers import md, merge

MAGIC = (0x31524F5453414756).to_bytes(8, "little")          # b"VGASTOR1"


@pytest.fixture
def shm_name():
    name = f"test-repl-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    path = os.path.join(core.SHM_DIR, f"vega.store.{name}")
    yield name
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _path(name):
    return os.path.join(core.SHM_DIR, f"vega.store.{name}")


def _fingerprint(path):
    st = os.lstat(path)
    data = None
    if os.path.isfile(path) and not os.path.islink(path):
        with open(path, "rb") as f:
            data = f.read()
    return st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, data


def _no_temp_files(name):
    return not [f for f in os.listdir(core.SHM_DIR) if f.startswith(f".vega.store.{name}.")]


def _refused(name, why):
    path = _path(name)
    before = _fingerprint(path)
    with pytest.raises(StoreFormatError) as ei:
        core.Store.create(name, 10)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: exists and is not a VEGA store (")
    assert msg.endswith("); refusing to replace it")
    assert why in msg
    assert _fingerprint(path) == before                     # byte for byte, same inode, untouched
    assert _no_temp_files(name)
    return msg


@pytest.mark.parametrize("content, why", [
    (b"#!/bin/sh\necho a script, not a store\n" + b"x" * 200, "it starts with b'#!/bin/s', not b'VGASTOR1'"),
    (b"\0" * 8192, r"it starts with b'\x00\x00"),            # magic-less: not a store
    (b"VGASTOR2" + b"\0" * 4088, "it starts with b'VGASTOR2'"),
    (MAGIC + b"\0" * 100, "108 bytes, too short to hold a store header"),
    (b"x", "1 bytes, too short to hold a store header"),
], ids=["script", "zeros", "other-magic", "magic-but-short", "one-byte"])
def test_a_file_that_is_not_a_store_is_refused_and_left_intact(shm_name, content, why):
    path = _path(shm_name)
    with open(path, "wb") as f:
        f.write(content)
    _refused(shm_name, why)
    with open(path, "rb") as f:
        assert f.read() == content


def test_an_unreadable_foreign_file_is_refused_and_left_intact(shm_name):
    path = _path(shm_name)
    with open(path, "wb") as f:
        f.write(b"secret" * 100)
    os.chmod(path, 0)
    before = _fingerprint(path) if os.geteuid() == 0 else os.lstat(path)
    with pytest.raises(StoreFormatError) as ei:
        core.Store.create(shm_name, 10)
    msg = str(ei.value)
    assert msg.startswith(f"{path}: exists and ") and msg.endswith("refusing to replace it")
    if os.geteuid() == 0:                                    # root reads it anyway: its bytes say what it is
        assert "is not a VEGA store (it starts with b'secrets" in msg
        assert _fingerprint(path) == before
    else:
        assert "cannot be read to check that it is a VEGA store" in msg
        assert os.lstat(path) == before


def test_a_directory_is_refused_and_left_intact(shm_name):
    path = _path(shm_name)
    os.mkdir(path)
    with open(os.path.join(path, "keep"), "w") as f:
        f.write("keep me")
    _refused(shm_name, "a directory")
    with open(os.path.join(path, "keep")) as f:
        assert f.read() == "keep me"


@pytest.mark.parametrize("target", ["foreign", "store", "dangling"])
def test_a_symbolic_link_is_refused_never_followed(shm_name, tmp_path, target):
    """Today's O_NOFOLLOW gave a raw OSError (ELOOP); a link is refused like any other non-store, whatever it
    points to, and neither the link nor its target changes."""
    path = _path(shm_name)
    other = None
    if target == "foreign":
        dest = tmp_path / "foreign"
        dest.write_bytes(b"not a store" * 50)
    elif target == "store":                                  # a dead writer's store, but behind a link
        other = f"{shm_name}-target"
        core.Store.create(other, 10).close()
        dest = _path(other)
    else:
        dest = tmp_path / "nothing-here"
    os.symlink(dest, path)
    try:
        before = _fingerprint(dest) if os.path.exists(dest) else None
        _refused(shm_name, "a symbolic link")
        assert os.readlink(path) == str(dest)
        assert (_fingerprint(dest) if os.path.exists(dest) else None) == before
    finally:
        if other is not None:
            core.Store.remove(other)


def test_a_fifo_is_refused_and_left_intact(shm_name):
    path = _path(shm_name)
    os.mkfifo(path, 0o600)
    _refused(shm_name, "not a regular file")                 # (and create did not block opening it)


def test_an_empty_file_is_replaced(shm_name):
    path = _path(shm_name)
    open(path, "wb").close()
    old = os.stat(path).st_ino
    w = core.Store.create(shm_name, 10)
    try:
        assert os.stat(path).st_ino != old
        merge(w, "CM", md(7, last_traded_price=70))
        r = core.Store.open(shm_name)
        assert r.ltp(7) == 70
        r.close()
    finally:
        w.close()
    assert _no_temp_files(shm_name)


def test_a_damaged_store_that_carries_the_magic_is_replaced(shm_name):
    path = _path(shm_name)
    with open(path, "wb") as f:
        f.write(MAGIC + b"\xff" * 4088)                      # garbage header, wrong size: still a store's file
    with pytest.raises(StoreFormatError):
        core.Store.open(shm_name)
    w = core.Store.create(shm_name, 10)
    w.close()
    r = core.Store.open(shm_name)
    assert r.capacity == 10 and len(r) == 0
    r.close()


@pytest.mark.parametrize("size", [8, 4096, 1 << 20])
def test_a_store_whose_creator_died_before_finishing_it_is_replaced(shm_name, size):
    """Store.create writes b"VGAMAKE1" before the file has a size, and the magic last: a creator killed in
    between leaves a file that the next create recognises as a store (not as foreign zeros)."""
    path = _path(shm_name)
    with open(path, "wb") as f:
        f.write(b"VGAMAKE1" + b"\0" * (size - 8))
    with pytest.raises(StoreFormatError):
        core.Store.open(shm_name)                            # (never a store a reader can open)
    w = core.Store.create(shm_name, 10)
    w.close()
    r = core.Store.open(shm_name)
    assert r.capacity == 10
    r.close()


def test_a_stale_store_of_a_dead_writer_is_replaced(shm_name):
    code = ("import sys, vega._core as c\n"
            "from vega.store import StoreBusyError\n"
            "s = c.Store.create(sys.argv[1], 10)\n"
            "c._merge_for_tests(s, 'CM', {'transaction_code': 7200, 'records': [{'token': 5, 'book_type': 1,"
            " 'trading_status': 2, 'last_traded_price': 123}]}, now_ns=1_700_000_000_000_000_000)\n"
            "import os; os._exit(0)\n")                         # dies without closing: the kernel drops the lock
    subprocess.run([sys.executable, "-c", code, shm_name], check=True, timeout=60)
    old = core.Store.open(shm_name)
    assert old.ltp(5) == 123 and old.header["writer_pid"] != os.getpid()
    w = core.Store.create(shm_name, 20)
    try:
        assert w.capacity == 20 and len(w) == 0
        assert old.replaced and old.ltp(5) == 123               # the old mapping still reads, frozen
        assert core.Store.open(shm_name).capacity == 20
    finally:
        old.close()
        w.close()
    assert _no_temp_files(shm_name)


def test_a_live_writer_is_still_refused(shm_name):
    path = _path(shm_name)
    w = core.Store.create(shm_name, 10)
    try:
        merge(w, "CM", md(3, last_traded_price=30))
        before = _fingerprint(path)[:3]
        with pytest.raises(StoreBusyError) as ei:
            core.Store.create(shm_name, 10)
        assert path in str(ei.value)
        assert _fingerprint(path)[:3] == before and w.ltp(3) == 30 and not w.replaced
        assert _no_temp_files(shm_name)
    finally:
        w.close()


def test_a_live_writer_in_another_process_is_still_refused(shm_name):
    code = ("import sys, vega._core as c\n"
            "s = c.Store.create(sys.argv[1], 10)\n"
            "print('ready', flush=True)\n"
            "sys.stdin.readline()\n")
    p = subprocess.Popen([sys.executable, "-c", code, shm_name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusyError):
            core.Store.create(shm_name, 10)
        r = core.Store.open(shm_name)
        assert not r.replaced and r.header["writer_pid"] == p.pid
        r.close()
    finally:
        p.stdin.close()
        p.wait(timeout=60)


def test_refusals_are_store_errors(shm_name):
    os.mkdir(_path(shm_name))
    with pytest.raises(StoreError):
        core.Store.create(shm_name, 10)
