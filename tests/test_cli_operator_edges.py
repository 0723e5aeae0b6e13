"""Operator edges of the vega command line: an existing store that `replay --store` must not take without
--replace, export paths pyarrow misread and temporary files a failed export left, a FIFO given as a master
file, a closed pipe or a full disk on standard output, and absurd dates, numbers, tokens and counts that gave
a bare Python exception (or ran for minutes) instead of one line."""
import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from journal_helpers import make_records
from vega import Store
from vega.journal import JournalWriter

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 1, 23)


def cli(*args, timeout=20, cwd=ROOT, stdout=subprocess.PIPE):
    """`vega ARGS` in a subprocess, with this checkout's vega."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("VEGA_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "vega.cli", *map(str, args)], cwd=cwd, env=env, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def one_line_error(r, *needles, status=1):
    assert r.returncode == status, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A journal root with NSE_FO files of DAY and three days later (a weekend between), 400 records each."""
    r = tmp_path_factory.mktemp("journals")
    for d in (DAY, DAY + dt.timedelta(days=3)):
        with JournalWriter(r, "NSE_FO", d) as w:
            w.append(make_records(400, seed=d.day, ntok=40))
    return r


@pytest.fixture
def name():
    n = f"vega-test-{uuid.uuid4().hex[:10]}"
    yield n
    Store.remove(n)


# ---------------------------------------------------------------------------------------------------------
# 1. replay --store: an existing store is replaced only with --replace, never a live writer's
# ---------------------------------------------------------------------------------------------------------

def _stopped_store(name, tokens=(11, 12)):
    """A store left in /dev/shm by a stopped capture, for its readers."""
    with Store.create(name, 64) as s:
        for t in tokens:
            s.add(t)


def _tokens(name):
    with Store.open(name) as s:
        return sorted(int(t) for t in s.snapshot()["token"])


def test_replay_store_keeps_an_existing_store_without_replace(root, name):
    _stopped_store(name)
    # the replay fails (the store is too small): before, the old store was replaced, then the new one unlinked
    one_line_error(cli("replay", root, DAY, "--store", name, "--capacity", 3, "--no-progress"),
                   f"store '{name}' exists", "--replace to replace it")
    assert _tokens(name) == [11, 12]
    r = cli("replay", root, DAY, "--store", name, "--no-progress")            # nor when it would succeed
    one_line_error(r, "--replace")
    assert _tokens(name) == [11, 12]
    # with --replace a stopped capture's store is replaced; a replay that then fails removes its own store
    one_line_error(cli("replay", root, DAY, "--store", name, "--capacity", 3, "--replace", "--no-progress"),
                   "is full at 3 instruments")
    with pytest.raises(FileNotFoundError):
        Store.open(name)
    _stopped_store(name)
    r = cli("replay", root, DAY, "--store", name, "--replace", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert _tokens(name) == list(range(1, 41))


def test_replay_store_never_replaces_a_live_writers_store(root, name):
    with Store.create(name, 64) as live:
        live.add(7)
        for extra in ([], ["--replace"]):
            one_line_error(cli("replay", root, DAY, "--store", name, "--no-progress", *extra),
                           "being written by another process", "refusing to replace it")
        assert _tokens(name) == [7]


def test_replay_store_never_replaces_a_file_that_is_no_store(root, name):
    from vega._core import _shm_path
    path = Path(_shm_path(name))
    path.write_bytes(b"not a store, but somebody's data" * 200)
    try:
        one_line_error(cli("replay", root, DAY, "--store", name, "--replace", "--no-progress"),
                       f"store {path}: exists and is not a VEGA store", "refusing to replace it")
        assert path.read_bytes() == b"not a store, but somebody's data" * 200
    finally:
        path.unlink()


# ---------------------------------------------------------------------------------------------------------
# 2, 3. export: a ':' in a relative output directory; no temporary file left by a failure
# ---------------------------------------------------------------------------------------------------------

def test_export_into_a_relative_directory_with_a_colon(root, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    r = cli("export", root, "export-15:30", DAY, "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr          # was "Unrecognized filesystem type in URI"
    part = tmp_path / "export-15:30" / f"date={DAY}" / "feed=NSE_FO" / "part-0.parquet"
    assert r.stdout.split() == [str(part.relative_to(tmp_path))]
    assert pq.read_table(part).num_rows == 400
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_full_disk_leaves_no_temporary_file_and_names_the_file(root, tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "out"
    dest = out / f"date={DAY}" / "feed=NSE_FO"
    dest.mkdir(parents=True)
    (dest / ".part-0.parquet.tmp").symlink_to("/dev/full")    # every write: ENOSPC, as on a full disk
    line = one_line_error(cli("export", root, out, DAY, "--no-progress"), "No space left on device")
    assert f"cannot write {dest / 'part-0.parquet'}" in line
    assert not os.path.lexists(dest / ".part-0.parquet.tmp") and not (dest / "part-0.parquet").exists()


@pytest.mark.parametrize("exc", [KeyboardInterrupt, OSError, RuntimeError])
def test_an_interrupted_export_leaves_no_temporary_file(root, tmp_path, monkeypatch, exc):
    pq = pytest.importorskip("pyarrow.parquet")
    from vega.journal import export

    def fail(self, table, *a, **k):
        raise exc("stopped")
    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail)
    with pytest.raises(exc):
        export(root, tmp_path / "out", DAY, DAY + dt.timedelta(days=3), progress=False)
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def _limited(limit):
    """A preexec_fn: files of the child process at most ``limit`` bytes (a write past it is EFBIG, "File too
    large": Python ignores SIGXFSZ), a disk that fills part way through a day's file, for that process alone."""
    import resource
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("fmt, compression, name", [("parquet", "none", "part-0.parquet"),
                                                     ("csv", "none", "part-0.csv"), ("csv", "gzip", "part-0.csv.gz")])
def test_a_day_that_fails_while_written_leaves_no_directory_made_for_it(tmp_path, fmt, compression, name):
    """A day that failed while written (not refused up front) lost its temporary file but left its empty
    date=.../feed=... directories behind, as if the day had been exported without a record.  They go now; the
    days written before it stay, and so does a directory that was there (another feed's export of that day)."""
    pq = pytest.importorskip("pyarrow.parquet")
    big = DAY + dt.timedelta(days=3)
    for d, n in ((DAY, 50), (big, 60_000)):                     # the second day's file: past the limit
        with JournalWriter(tmp_path / "j", "NSE_FO", d) as w:
            w.append(make_records(n, seed=d.day))
    out = tmp_path / "out"
    other = out / f"date={big}" / "feed=NSE_EQ"
    other.mkdir(parents=True)
    (other / "part-0.parquet").write_bytes(b"an earlier export's")
    args = ["export", tmp_path / "j", out, DAY, big, "--no-progress", "--format", fmt, "--compression", compression]
    r = subprocess.run([sys.executable, "-m", "vega.cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60, preexec_fn=_limited(1 << 20))
    one_line_error(r, f"cannot write {out / f'date={big}' / 'feed=NSE_FO' / name}", "File too large")
    # the day written before the failure is kept, and said: stdout lists it as a whole export lists its files
    assert r.stdout.splitlines() == [str(out / f"date={DAY}" / "feed=NSE_FO" / name)]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert files == [f"date={DAY}", f"date={DAY}/feed=NSE_FO", f"date={DAY}/feed=NSE_FO/{name}",
                     f"date={big}", f"date={big}/feed=NSE_EQ", f"date={big}/feed=NSE_EQ/part-0.parquet"]
    read = pq.read_table if fmt == "parquet" else pytest.importorskip("pyarrow.csv").read_csv
    assert read(out / f"date={DAY}" / "feed=NSE_FO" / name).num_rows == 50
    assert (other / "part-0.parquet").read_bytes() == b"an earlier export's"


# ---------------------------------------------------------------------------------------------------------
# 4. a FIFO as a master file
# ---------------------------------------------------------------------------------------------------------

def test_watch_and_instruments_refuse_a_fifo_master(tmp_path, name):
    fifo = tmp_path / "contract.txt"
    os.mkfifo(fifo)
    _stopped_store(name)
    for opt in ("--contract", "--security"):            # was: waiting for ever for a writer of the FIFO
        one_line_error(cli("watch", name, opt, fifo, "--once", timeout=10), str(fifo), "not a regular file")
    code = ("import sys, vega\n"
            "for args in ((sys.argv[1],), (None, sys.argv[1]), (sys.argv[2],)):\n"
            "    try:\n"
            "        vega.Instruments.load(*args)\n"
            "    except vega.InstrumentFileError as e:\n"
            "        print(e)\n")
    r = subprocess.run([sys.executable, "-c", code, str(fifo), str(tmp_path)], capture_output=True, text=True,
                       timeout=10, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.stdout.splitlines() == [f"{fifo}: is a FIFO, not a regular file: not an NSE master file"] * 2 + \
        [f"{tmp_path}: is a directory, not a regular file: not an NSE master file"], r.stderr


# ---------------------------------------------------------------------------------------------------------
# 5. a closed pipe (`| head`) or a full disk on standard output
# ---------------------------------------------------------------------------------------------------------

def _to_a_closed_pipe(*args):
    """`vega ARGS | head` when head has gone: stdout is a pipe whose reader is closed."""
    rd, wr = os.pipe()
    os.close(rd)
    try:
        return cli(*args, stdout=wr)
    finally:
        os.close(wr)


def test_a_closed_pipe_ends_every_command_quietly_with_status_0(root, name):
    _stopped_store(name)
    for args in (("verify", root), ("dump", root / "NSE_FO" / f"{DAY:%Y%m%d}.bin"),
                 ("watch", name, "--iterations", 3, "--interval", 0.01)):
        r = _to_a_closed_pipe(*args)
        assert (r.returncode, r.stderr) == (0, ""), args


def test_a_full_disk_on_stdout_is_one_line_and_status_1(root, name):
    _stopped_store(name)
    for args in (("verify", root), ("dump", root / "NSE_FO" / f"{DAY:%Y%m%d}.bin"),
                 ("watch", name, "--once")):
        with open("/dev/full", "w") as full:
            r = cli(*args, stdout=full)
        one_line_error(r, f"vega {args[0]}:", "No space left on device")


# ---------------------------------------------------------------------------------------------------------
# 6. absurd inputs
# ---------------------------------------------------------------------------------------------------------

def test_a_range_of_centuries_reads_the_files_there(root, tmp_path, name):
    r = cli("replay", root, "0001-01-01", "9999-12-31", "--store", name, "--feeds", "NSE_FO", "--no-progress")
    assert r.returncode == 0, r.stderr                   # was "OverflowError: date value out of range"
    assert "replayed 800 records" in r.stdout
    assert r.stdout.strip().endswith("; no files on 3,652,057 days: 0001-01-01, 0001-01-02, 0001-01-03, ..., "
                                     "9999-12-29, 9999-12-30, 9999-12-31"), r.stdout
    r = cli("replay", root, "0001-01-01T10:00", "9999-12-31T10:00", "--store", name, "--replace", "--no-progress")
    assert r.returncode == 0 and "replayed 800 records" in r.stdout, r.stderr
    if _has_pyarrow():    # was minutes: 3.65 million days, 11 million paths
        r = cli("export", root, tmp_path / "out", "0001-01-01", "9999-12-31", "--no-progress")
        assert r.returncode == 0 and len(r.stdout.split()) == 2, r.stderr
        assert r.stderr.strip().startswith("vega export: no files on 3,652,057 days: 0001-01-01,")


def _has_pyarrow():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def test_many_days_without_a_file_are_summarised(root, name):
    r = cli("replay", root, "2025-12-01", "2026-02-28", "--store", name, "--no-progress")
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert len(line) < 300, line                          # was every day: 30 KB for a long range
    assert line.endswith("; no files on 88 days: 2025-12-01, 2025-12-02, 2025-12-03, ..., "
                         "2026-02-26, 2026-02-27, 2026-02-28"), line
    # a few are still listed one by one
    r = cli("replay", root, DAY, DAY + dt.timedelta(days=3), "--store", name, "--replace", "--no-progress")
    assert r.stdout.strip().endswith("; no files on 2026-01-24, 2026-01-25"), r.stdout


@pytest.mark.parametrize("args, needle", [
    (("replay", "--speed", "1e308", "--max-gap", "1e-300"), "argument --speed: '1e308' is out of range"),
    (("replay", "--speed", "1e-300"), "at least 0.001 and at most 1,000,000"),
    (("replay", "--speed", "1", "--max-gap", "1e308"), "argument --max-gap: '1e308'"),
    (("simulate", "--duration", "1e308"), "argument --duration: '1e308' is out of range"),
    (("simulate", "--rate", "1e308"), "argument --rate: '1e308' is out of range"),
    (("demo", "--seconds", "1e308"), "argument --seconds: '1e308' is out of range: expected at most 86,400 "),
    (("demo", "--rate", "1e308"), "argument --rate: '1e308' is out of range"),
    (("watch", "--iterations", "2", "--interval", "1e308"), "argument --interval: '1e308' is out of range"),
])
def test_numbers_far_out_are_usage_errors(root, name, args, needle):
    if args[0] == "replay":
        args = ("replay", root, DAY, "--store", name, "--no-progress", *args[1:])
    elif args[0] == "watch":
        _stopped_store(name)
        args = ("watch", name, *args[1:])
    one_line_error(cli(*args), needle, status=2)         # was "OverflowError: cannot convert float infinity"


def test_speed_and_gap_at_their_bounds_still_replay(root, name):
    r = cli("replay", root, DAY, "--store", name, "--speed", "1e6", "--max-gap", "1e-6", "--no-progress")
    assert r.returncode == 0 and "replayed 400 records" in r.stdout, r.stderr


def test_tokens_are_ascii_digits(root, name):
    for tok in ("²", "١٢", "3,²"):                       # isdigit() is True for them, int() refuses them
        one_line_error(cli("dump", root / "NSE_FO" / f"{DAY:%Y%m%d}.bin", "--tokens", tok), "bad token")
        one_line_error(cli("replay", root, DAY, "--store", name, "--tokens", tok), "bad token")
    with pytest.raises(FileNotFoundError):
        Store.open(name)


def test_simulate_refuses_a_count_that_cannot_fit(tmp_path):
    out = tmp_path / "f.pcap"
    one_line_error(cli("simulate", "--datagrams", "99999999999999999999", "--out", out, timeout=10),
                   "--datagrams 99,999,999,999,999,999,999 is more than a run can hold")
    vfs = os.statvfs(tmp_path)
    n = vfs.f_bavail * vfs.f_frsize // 1200 + 1_000_000          # two segments of ~600 bytes: past the free space
    one_line_error(cli("simulate", "--datagrams", n, "--stream", "--out", out, timeout=10),
                   f"{out}: {n:,} datagrams per segment make about", "GiB of pcap, more than the", "free there")
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    n = memory // 1400 + 1_000_000                                 # ~700 bytes each in memory, two segments
    one_line_error(cli("simulate", "--datagrams", n, "--rate", "5", timeout=10),
                   "of memory: add --stream")
    assert not out.exists()


def test_simulate_says_a_size_below_a_gib_in_a_unit_that_shows_it(monkeypatch):
    """A nearly full disk: "about 0.0 GiB of pcap, more than the 0.0 GiB free there"."""
    from vega.commands import CliError, simulate
    monkeypatch.setattr(simulate, "_free_for", lambda path: 3000)
    with pytest.raises(CliError) as e:
        simulate._check_size(10, 2, "f.pcap", stream=True)
    assert str(e.value) == ("f.pcap: 10 datagrams per segment make about 11.7 KiB of pcap, more than the 2.9 KiB "
                            "free there")
    monkeypatch.setattr(simulate, "_free_for", lambda path: 5 << 20)
    with pytest.raises(CliError, match=r"about 11.4 MiB of pcap, more than the 5.0 MiB free there"):
        simulate._check_size(10_000, 2, "f.pcap", stream=True)


# ---------------------------------------------------------------------------------------------------------
# 7. paths whose names are not UTF-8
# ---------------------------------------------------------------------------------------------------------

def test_a_path_that_is_not_utf8_is_printed_as_given_and_export_refuses_it_up_front(root, tmp_path):
    """A journal root named in another encoding (Python holds it with surrogate escapes) failed `vega verify`
    with "UnicodeEncodeError: ... surrogates not allowed" where standard output is strict UTF-8 (a UTF-8
    locale other than C.UTF-8), and an export into such a directory failed the same way deep in pyarrow,
    after making directories there."""
    import shutil
    odd = os.fsencode(tmp_path) + b"/j\xff"
    shutil.copytree(root, os.fsdecode(odd))
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")    # strict, as in en_US.UTF-8
    env.pop("VEGA_TRACEBACK", None)
    r = subprocess.run([sys.executable, "-m", "vega.cli", "verify", odd], env=env, capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    first = f"/NSE_FO/{DAY:%Y%m%d}.bin: OK (sealed, 400 records, 0 checkpoints)"
    assert r.stdout.splitlines()[0] == odd + first.encode()
    env["PYTHONIOENCODING"] = "ascii"                # another encoding: escaped, never an error
    r = subprocess.run([sys.executable, "-m", "vega.cli", "verify", odd], env=env, capture_output=True, timeout=20)
    assert r.returncode == 0 and r.stdout.startswith(os.fsencode(tmp_path) + b"/j\\udcff/NSE_FO/"), r.stdout
    out = os.fsencode(tmp_path) + b"/out\xff"
    r = subprocess.run([sys.executable, "-m", "vega.cli", "export", root, out, str(DAY), "--no-progress"], env=env,
                       capture_output=True, timeout=20)
    assert r.returncode == 1 and r.stderr.count(b"\n") == 1 and b"Traceback" not in r.stderr, r.stderr
    assert b"is not UTF-8" in r.stderr and not os.path.lexists(out)
    if _has_pyarrow():
        from vega.journal import export
        with pytest.raises(ValueError, match="is not UTF-8"):
            export(root, os.fsdecode(out), DAY, progress=False)
        assert not os.path.lexists(out)


def test_a_command_started_with_its_output_closed_runs_as_if_into_dev_null(tmp_path):
    """`vega simulate --out day.pcap >&-` (a job whose output the operator closed): Python starts with sys.stdout
    None, and the first flush failed with a traceback (exit 1, the work done). Now the closed stream is
    /dev/null; a closed standard error too, where only the exit status can say a failure."""
    def vega(args, redirect):
        cmd = f'exec "{sys.executable}" -m vega.cli {args} {redirect}'
        return subprocess.run(cmd, shell=True, capture_output=True, timeout=120, cwd=tmp_path,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    r = vega("simulate --datagrams 20 --out day.pcap", ">&-")
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert (tmp_path / "day.pcap").stat().st_size > 0
    r = vega("verify no-such-root", ">&- 2>&-")
    assert r.returncode == 1 and r.stdout == b"" and r.stderr == b""
    r = vega("verify no-such-root", "2>&-")
    assert r.returncode == 1 and r.stdout == b""
