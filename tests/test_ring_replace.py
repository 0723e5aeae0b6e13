"""``Ring.create(name, replace=True)`` replaces only a VEGA ring (a damaged or stale one included) that no other
live process writes, or an empty file: never a file that is not a ring (a journal, a pcap, anything else) and
never a ring whose writer is alive.  ``vega capture``, ``vega ingest`` and ``vega replay --replace`` rely on it
and refuse with one line.  Without ``replace`` an existing file is a FileExistsError naming the ring's path only.
"""
import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vega import FeedHandler, Store, nse
from vega._ring import FILE_SIZE, Ring, RingBusyError, RingError
from vega.journal import JournalWriter, day_epoch_ns
from vega.records import CHANGE_RECORD_DTYPE
from vega.simulator import Simulator, write_pcap

from test_cli_tools import assert_one_line_error as one_line_error, cli

ROOT = Path(__file__).resolve().parent.parent
DATE = dt.date(2026, 11, 23)
T915 = day_epoch_ns(DATE) + (9 * 3600 + 15 * 60) * 10**9
SLOT = 0x200000
WRITER_PID = 0x34                    # slot header field writer_pid (docs/FORMATS.md §4)

# a ring in another process that holds NSE_FO's writer role: "ready" when it does, exits when stdin closes
HOLDER = textwrap.dedent("""
    import os
    import sys
    import numpy as np
    from vega._ring import Ring
    from vega.records import CHANGE_RECORD_DTYPE
    r = Ring.create(sys.argv[1], replace=True)
    r.append("NSE_FO", np.zeros(3, dtype=CHANGE_RECORD_DTYPE))
    print("ready", os.getpid(), flush=True)
    if sys.argv[2] == "die":
        os._exit(0)                  # dies holding the writer role: a stale ring
    sys.stdin.read()
    r.close()
""")


@pytest.fixture
def name(shm_file_name):
    return shm_file_name


@pytest.fixture(scope="module")
def journal_root(tmp_path_factory):
    """A journal root with one F&O day of real change records (a capture's)."""
    root = tmp_path_factory.mktemp("journals")
    stream = list(nse.sample_stream("FO", 200, seed=5))
    chunks = []
    fh = FeedHandler("FO", Store(65536), on_records=lambda r: chunks.append(np.array(r, copy=True)))
    fh.process_batch(stream, now_ns=T915 + np.arange(len(stream), dtype=np.int64) * 50_000)
    with JournalWriter(root, "NSE_FO", DATE) as w:
        w.append(np.concatenate(chunks))
        path = w.path
    return root, Path(path)


@pytest.fixture(scope="module")
def pcap(tmp_path_factory):
    """A pcap of simulated F&O and CM datagrams on the default groups (what ``vega ingest`` reads)."""
    path = tmp_path_factory.mktemp("pcap") / "day.pcap"
    sim = Simulator(["FO", "CM"], 200, seed=3)
    sim.generate()
    items, i = [], 0
    for seg, start, k in sim._chunks(32):
        host, port = sim.targets[seg]
        for d in sim.datagrams[seg][start:start + k]:
            items.append((T915 + i * 100_000, host, port, d))
            i += 1
    write_pcap(path, items)
    return path


def not_rings(journal_root, pcap):
    """Files that are not rings: (label, bytes)."""
    rng = np.random.default_rng(11)
    return [("journal", journal_root[1].read_bytes()),
            ("pcap", pcap.read_bytes()),
            ("random", b"x" + rng.bytes(200_000)),
            ("ring-sized-random", b"x" + rng.bytes(FILE_SIZE - 1)),      # a ring's size, not its magic
            ("short", b"VEGARI"),                                          # too short to hold a ring header
            ("text", b"hello\n")]


def tmp_leftovers(d):
    return [p for p in os.listdir(d) if p.endswith(".tmp")]


# ----------------------------------------------------------------------------------------------------------
# the library
# ----------------------------------------------------------------------------------------------------------

def test_replace_refuses_a_file_that_is_not_a_ring(tmp_path, journal_root, pcap):
    for label, data in not_rings(journal_root, pcap):
        p = tmp_path / f"{label}.bin"
        p.write_bytes(data)
        with pytest.raises(RingError, match="exists and is not a VEGA ring.*refusing to replace it") as e:
            Ring.create(str(p), replace=True)
        assert not isinstance(e.value, RingBusyError)
        assert p.read_bytes() == data, label                      # byte for byte
        with pytest.raises(FileExistsError, match="not a VEGA ring"):
            Ring.create(str(p))
        assert p.read_bytes() == data, label
    assert tmp_leftovers(tmp_path) == []


def test_replace_refuses_a_directory_a_symlink_and_a_fifo(tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    (d / "keep").write_text("x")
    with pytest.raises(RingError, match="is not a VEGA ring \\(a directory\\)"):
        Ring.create(str(d), replace=True)
    assert (d / "keep").read_text() == "x"
    target = str(tmp_path / "real-ring")
    Ring.create(target).close()
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(RingError, match="symbolic link"):
        Ring.create(str(link), replace=True)
    assert link.is_symlink() and os.readlink(link) == target
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(RingError, match="not a regular file"):
        Ring.create(str(fifo), replace=True)              # and does not block opening it
    assert tmp_leftovers(tmp_path) == []


def test_an_existing_name_without_replace_names_only_the_ring(name):
    Ring.create(name).close()
    with pytest.raises(FileExistsError) as e:
        Ring.create(name)
    msg = str(e.value)
    assert ".tmp" not in msg and "->" not in msg and f"/dev/shm/{name}" in msg and "replace=True" in msg
    assert e.value.filename == f"/dev/shm/{name}"


def test_replace_takes_an_empty_file_and_damaged_rings(tmp_path):
    p = tmp_path / "empty"
    p.write_bytes(b"")                                     # holds nothing: replaced
    Ring.create(str(p), replace=True).close()
    assert p.stat().st_size == FILE_SIZE
    Ring.open(str(p)).close()
    # a ring whose slot 0 header is damaged (its other headers say it is a ring), and a truncated ring
    q = tmp_path / "damaged"
    Ring.create(str(q)).close()
    with open(q, "r+b") as f:
        f.write(b"XEGARING")
    Ring.create(str(q), replace=True).close()
    Ring.open(str(q)).close()
    os.truncate(q, SLOT + 100)
    Ring.create(str(q), replace=True).close()
    Ring.open(str(q)).close()


def test_replace_takes_a_stale_ring_whose_writer_died(name):
    p = subprocess.run([sys.executable, "-c", HOLDER, name, "die"], capture_output=True, text=True, timeout=60,
                       cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.returncode == 0 and p.stdout.startswith("ready"), p.stderr
    with Ring.open(name) as old:
        assert old.info("NSE_FO")["writer_pid"] == int(p.stdout.split()[1])             # dead, never given back
    with Ring.create(name, replace=True) as r:                        # a restarted capture
        assert r.tail("NSE_FO") == 0 and r.info("NSE_FO")["writer_pid"] == 0


@pytest.fixture
def live_writer(name):
    """A ring ``name`` whose NSE_FO writer is another live process; yields that process."""
    p = subprocess.Popen([sys.executable, "-c", HOLDER, name, "hold"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert p.stdout.readline().split() == ["ready", str(p.pid)]
        yield p
    finally:
        p.stdin.close()
        p.wait(timeout=30)


def test_replace_refuses_a_ring_another_live_process_writes(name, live_writer):
    path = f"/dev/shm/{name}"
    ino = os.stat(path).st_ino
    with pytest.raises(RingBusyError, match=f"{path}: is being written by pid {live_writer.pid}"):
        Ring.create(name, replace=True)
    with pytest.raises(FileExistsError, match=f"written by pid {live_writer.pid}"):
        Ring.create(name)
    assert os.stat(path).st_ino == ino
    with Ring.open(name) as r:
        assert not r.replaced and r.tail("NSE_FO") == 3
    live_writer.stdin.close()                                         # the writer goes: now it may be replaced
    live_writer.wait(timeout=30)
    Ring.create(name, replace=True).close()
    assert os.stat(path).st_ino != ino


def test_replace_of_a_ring_this_process_writes_is_the_callers_business(name):
    with Ring.create(name) as w:
        w.append("NSE_FO", np.zeros(1, dtype=CHANGE_RECORD_DTYPE))
        with Ring.create(name, replace=True) as w2:
            assert w.replaced and not w2.replaced


# a ring another process has open for writing but has not appended to yet, so no writer_pid is recorded:
# "create" makes it, "open" opens an existing one writable; "ready" then, the ring closed on "close" (the
# process lives on until stdin ends)
IDLE = textwrap.dedent("""
    import os
    import sys
    from vega._ring import Ring
    r = Ring.create(sys.argv[1]) if sys.argv[2] == "create" else Ring.open(sys.argv[1], writable=True)
    print("ready", os.getpid(), flush=True)
    for line in sys.stdin:
        if line.strip() == "close":
            r.close()
            print("closed", flush=True)
""")


def _idle(name, how):
    return subprocess.Popen([sys.executable, "-c", IDLE, name, how], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))


@pytest.mark.parametrize("how", ["create", "open"])
def test_replace_refuses_a_ring_another_process_has_open_for_writing_before_its_first_append(name, how):
    if how == "open":
        Ring.create(name).close()
    p = _idle(name, how)
    try:
        assert p.stdout.readline().split() == ["ready", str(p.pid)]
        path = f"/dev/shm/{name}"
        ino = os.stat(path).st_ino
        with Ring.open(name) as r:
            assert r.info("NSE_FO")["writer_pid"] == 0          # no slot claimed: the pid check alone let it go
        with pytest.raises(RingBusyError, match=f"{path}: is being written by pid {p.pid}") as e:
            Ring.create(name, replace=True)
        assert e.value.pid == p.pid and os.stat(path).st_ino == ino
        p.stdin.write("close\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "closed"        # alive, but no longer a writer of the ring
        Ring.create(name, replace=True).close()
        assert os.stat(path).st_ino != ino
    finally:
        p.stdin.close()
        p.wait(timeout=30)


def test_replace_takes_a_ring_whose_recorded_writer_pid_was_reused(name):
    """A writer that died leaves its pid in the slot header; when the system gives that pid to another process,
    the ring is still stale: nobody has it open for writing."""
    Ring.create(name).close()
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        with open(f"/dev/shm/{name}", "r+b") as f:                 # as if `other` had written it and died
            f.seek(SLOT + WRITER_PID)
            f.write(other.pid.to_bytes(4, "little"))
        with Ring.open(name) as r:
            assert r.info("NSE_EQ")["writer_pid"] == other.pid
        with Ring.create(name, replace=True) as r:
            assert r.info("NSE_EQ")["writer_pid"] == 0
    finally:
        other.stdin.close()
        other.wait(timeout=30)


def test_a_writable_ring_gives_its_lock_back_on_close(name):
    path = f"/dev/shm/{name}"
    w = Ring.create(name)
    p = subprocess.run([sys.executable, "-c", "import sys; from vega._ring import Ring; "
                        "Ring.create(sys.argv[1], replace=True)", name], capture_output=True, text=True,
                       timeout=60, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.returncode == 1 and f"{path}: is being written by pid {os.getpid()}" in p.stderr, p.stderr
    w.close()
    p = subprocess.run([sys.executable, "-c", "import sys; from vega._ring import Ring; "
                        "Ring.create(sys.argv[1], replace=True).close()", name], capture_output=True, text=True,
                       timeout=60, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.returncode == 0, p.stderr


# ----------------------------------------------------------------------------------------------------------
# the command line: one line, a non-zero status, the file untouched
# ----------------------------------------------------------------------------------------------------------

def _free_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", ["capture", "ingest", "replay"])
def test_cli_refuses_to_replace_a_file_that_is_not_a_ring(command, tmp_path, journal_root, pcap):
    root, jpath = journal_root
    for label, src in (("journal", jpath), ("pcap", pcap)):
        victim = tmp_path / f"victim-{label}.bin"
        data = src.read_bytes()
        victim.write_bytes(data)
        if command == "capture":
            r = cli("capture", "--duration", "0.5", "--feed", f"FO=127.0.0.1:{_free_port()}", "--ring", victim)
        elif command == "ingest":
            r = cli("ingest", pcap, "--ring", victim)
        else:
            r = cli("replay", root, DATE.isoformat(), "--ring", victim, "--replace", "--no-progress")
        one_line_error(r, f"vega {command}: ring {victim}: exists and is not a VEGA ring",
                       "refusing to replace it")
        assert victim.read_bytes() == data
    if command == "replay":                               # without --replace: not steered to --replace
        line = one_line_error(cli("replay", root, DATE.isoformat(), "--ring", victim, "--no-progress"),
                              "is not a VEGA ring")
        assert "--replace to replace" not in line
        assert victim.read_bytes() == data
    assert tmp_leftovers(tmp_path) == []


def test_replay_refuses_a_ring_whose_writer_is_alive(name, journal_root):
    root, _ = journal_root
    live = Ring.create(name)                               # this test process writes it: its writer is alive
    try:
        live.append("NSE_FO", np.zeros(2, dtype=CHANGE_RECORD_DTYPE))
        for extra in (["--replace"], []):
            line = one_line_error(cli("replay", root, DATE.isoformat(), "--ring", name, "--no-progress", *extra),
                                  f"is being written by pid {os.getpid()}")
            assert "--replace to replace" not in line
            assert not live.replaced and live.tail("NSE_FO") == 2
    finally:
        live.close()                                       # the writer is gone: --replace replaces it
    r = cli("replay", root, DATE.isoformat(), "--ring", name, "--replace", "--no-progress")
    assert r.returncode == 0, r.stderr


def test_capture_and_ingest_still_replace_a_stale_ring(name, pcap):
    p = subprocess.run([sys.executable, "-c", HOLDER, name, "die"], capture_output=True, text=True, timeout=60,
                       cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.returncode == 0 and p.stdout.startswith("ready"), p.stderr
    ino = os.stat(f"/dev/shm/{name}").st_ino
    r = cli("ingest", pcap, "--ring", name)
    assert r.returncode == 0, r.stderr
    assert os.stat(f"/dev/shm/{name}").st_ino != ino
    with Ring.open(name) as ring:
        assert ring.tail("NSE_FO") > 0
