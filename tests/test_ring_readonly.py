"""vega._ring read by a process that may only read the ring file (another user with read permission).

Documented behaviour (docs/FORMATS.md "Ring", "Client bus"): Ring.open falls back to a read-only mapping of
the whole file; readers work exactly as usual; a reader asked for with a name cannot register on the client
bus, so it is created unregistered (``registered`` False, ``line`` None, not in ``ring.readers()``) and a
RingUnregisteredWarning says so; nothing is written to the file.

As root (CAP_DAC_OVERRIDE ignores permission bits) the reading child drops to nobody/nogroup first; as an
ordinary user the owner's own read-only mode is enough.  Either way the child checks that it really cannot
open the file for writing before it starts.  A file it may not even read is a PermissionError naming it.
"""
import os
import warnings

import multiprocessing as mp
import numpy as np
import pytest

from vega._ring import Ring, RingError, RingUnregisteredWarning
from vega.records import CHANGE_RECORD_DTYPE

from ring_worker import checksum, seqs

BUS = 0x600000
BUS_SIZE = 0x2000
NOBODY, NOGROUP = 65534, 65534
CTX = mp.get_context("fork")
TIMEOUT = 60



def bus_bytes(path):
    with open(path, "rb") as f:
        f.seek(BUS)
        return f.read(BUS_SIZE)


def _read_only_child(path, n_expected, unreadable_path, conn):
    """Open the ring as a process without write access; read every record; report what it saw."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOGROUP)
        os.setuid(NOBODY)
    out = {"uid": os.geteuid()}
    try:
        Ring.open(unreadable_path)
        out["unreadable"] = "opened"
    except PermissionError as e:
        out["unreadable"] = str(e)
    try:
        os.close(os.open(path, os.O_RDWR))
        out["rdwr_refused"] = False
    except PermissionError:
        out["rdwr_refused"] = True
    try:
        Ring.open(path, writable=True)
        out["writable_refused"] = False
    except PermissionError:
        out["writable_refused"] = True
    ring = Ring.open(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = ring.reader("NSE_EQ", name="terminal-ro", start="oldest")
    out["warnings"] = [(w.category.__name__, str(w.message), os.path.basename(w.filename)) for w in caught]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RingUnregisteredWarning)
        try:
            ring.reader("NSE_EQ", name="strict-ro")
            out["strict"] = "no error"
        except RingUnregisteredWarning as e:
            out["strict"] = str(e)
    out.update(registered=r.registered, line=r.line, name=r.name, ring_writable=ring.writable)
    try:
        ring.reclaim()
        out["reclaim"] = "no error"
    except RingError as e:
        out["reclaim"] = str(e)
    conn.send("ready")
    got = []
    n = 0
    while n < n_expected:
        recs = r.poll(4096, timeout=TIMEOUT / 2, wait="sleep")
        if len(recs) == 0:
            break
        got.append(recs)
        n += len(recs)
    recs = np.concatenate(got) if got else np.empty(0, dtype=CHANGE_RECORD_DTYPE)
    out.update(n=len(recs), seqs_ok=bool(np.array_equal(seqs(recs), np.arange(len(recs)))),
               checksums_ok=bool(np.array_equal(checksum(recs), recs["slots"][:, 3].view(np.uint32))),
               lost=r.lost, position=r.position,
               bus_names=sorted(i.name for i in ring.readers()))
    r.close()
    ring.close()
    conn.send(out)


@pytest.mark.parametrize("mode", [0o440, 0o444])
def test_reader_without_write_access_reads_unregistered(ring, mode):
    os.chmod(ring.path, mode)
    if os.geteuid() == 0:
        os.chown(ring.path, 0, NOGROUP)              # 0o440: readable by the child through its group
    ring._write_test_records("NSE_EQ", 1000, batch=7)
    terminal = ring.reader("NSE_EQ", name="terminal-rw")          # a registered reader with write access
    before = bus_bytes(ring.path)
    a, b = CTX.Pipe(duplex=False)
    secret = Ring.create(f"{os.path.basename(ring.path)}-secret", mode=0o000)    # nobody may read it
    secret.close()
    child = CTX.Process(target=_read_only_child, args=(ring.path, 3000, secret.path, b))
    child.start()
    try:
        assert a.poll(TIMEOUT) and a.recv() == "ready"
        ring._write_test_records("NSE_EQ", 2000, batch=16)        # while the child reads
        assert a.poll(TIMEOUT)
        out = a.recv()
    finally:
        child.join(TIMEOUT)
        if child.is_alive():
            child.kill()
            child.join()
        Ring.unlink(secret.path)
    assert child.exitcode == 0
    assert secret.path in out["unreadable"]                       # no read access: a clear error
    assert out["rdwr_refused"] and out["writable_refused"], out   # the scenario is real
    if os.geteuid() == 0:
        assert out["uid"] == NOBODY

    # reads work: every record, in order, intact, nothing lost
    assert (out["n"], out["seqs_ok"], out["checksums_ok"], out["lost"], out["position"]) == \
        (3000, True, True, 0, 3000), out
    # unregistered, and told so
    assert (out["registered"], out["line"], out["name"], out["ring_writable"]) == \
        (False, None, "terminal-ro", False)
    assert len(out["warnings"]) == 1, out["warnings"]
    category, message, filename = out["warnings"][0]
    assert category == "RingUnregisteredWarning"
    assert "terminal-ro" in message and "not registered" in message and ring.path in message
    assert filename == os.path.basename(__file__)                  # points at the caller's line
    assert "strict-ro" in out["strict"]                            # warnings filter "error" makes it strict
    assert "read-only" in out["reclaim"]
    # the child sees the bus (read-only) but is not on it
    assert out["bus_names"] == ["terminal-rw"]
    assert [i.name for i in ring.readers()] == ["terminal-rw"]
    assert bus_bytes(ring.path) == before                          # the child wrote nothing
    terminal.close()


def test_registered_flag_in_process(ring):
    r = ring.reader(0, name="terminal-1")
    u = ring.reader(0)
    assert (r.registered, r.line is not None) == (True, True)
    assert (u.registered, u.line, u.name) == (False, None, None)
    r.close()
    assert (r.registered, r.line) == (False, None)


def test_read_only_file_system_falls_back_to_unregistered_reader(ring, monkeypatch):
    """EROFS (the ring file on a file system mounted read-only) is handled like missing write permission:
    the ring opens read-only and a named reader reads unregistered; only writable=True raises."""
    import errno
    ring._write_test_records("NSE_EQ", 500, batch=5)
    real_open = os.open
    refused = []

    def ro_fs_open(path, flags, *args, **kwargs):
        if os.fspath(path) == ring.path and flags & os.O_ACCMODE != os.O_RDONLY:
            refused.append(flags)
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", ro_fs_open)
    with pytest.raises(OSError) as e:
        Ring.open(ring.path, writable=True)                      # a writer needs write access: the error as is
    assert e.value.errno == errno.EROFS
    ro = Ring.open(ring.path)
    assert refused and not ro.writable
    with pytest.warns(RingUnregisteredWarning, match="terminal-erofs"):
        r = ro.reader("NSE_EQ", name="terminal-erofs", start="oldest")
    assert (r.registered, r.line) == (False, None)
    recs = r.poll(1000)
    assert len(recs) == 500 and np.array_equal(seqs(recs), np.arange(500))
    assert np.array_equal(checksum(recs), recs["slots"][:, 3].view(np.uint32))
    assert [i.name for i in ro.readers()] == []
    r.close()
    ro.close()


def test_other_open_errors_are_not_swallowed(ring, monkeypatch):
    """Only 'no write access' falls back to read-only; any other error (here EIO) is raised."""
    import errno
    real_open = os.open

    def eio_open(path, flags, *args, **kwargs):
        if os.fspath(path) == ring.path:
            raise OSError(errno.EIO, os.strerror(errno.EIO), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", eio_open)
    with pytest.raises(OSError) as e:
        Ring.open(ring.path)
    assert e.value.errno == errno.EIO
