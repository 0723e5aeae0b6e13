"""Operator commands against real journals, rings and stores: watch, replay, dump, verify, stat, export.

The data is real: simulated NSE datagrams (vega.nse.sample_stream) go through FeedHandler.process_batch into
a store, and its change records into a journal and/or a ring, exactly as a capture does.  Every command runs
as a subprocess (`python -m vega.cli ...`); bad input must give exactly one stderr line, a non-zero exit
status and no traceback.
"""
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from vega import FeedHandler, Store, nse
from vega._ring import Ring
from vega.records import CHANGE_RECORD_DTYPE
from vega.journal import IST, Journal, JournalWriter, day_epoch_ns
from vega.records import timestamps


ROOT = Path(__file__).resolve().parent.parent
DATE = dt.date(2026, 1, 23)
T915 = day_epoch_ns(DATE) + (9 * 3600 + 15 * 60) * 10**9     # 09:15 IST, epoch ns
GROUP_NAMES = {"trade", "bid", "ask", "ohlc", "status", "market_watch", "auction", "spos", "buyback", "oi",
               "ident"}


def cli(*args, env=None, timeout=60):
    """Run `vega ARGS` in a subprocess from the worktree root."""
    e = dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + env.pop("PYTHONPATH") if env and
                                                  "PYTHONPATH" in env else ""))
    e.pop("VEGA_TRACEBACK", None)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "vega.cli", *map(str, args)], cwd=ROOT, env=e,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(r, *needles):
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def capture(segment, datagrams, seed, store, records=None):
    """Simulated datagrams through FeedHandler into ``store``; change records appended to ``records``.
    Receive times: 09:15 IST on DATE + 50 us per datagram."""
    stream = list(nse.sample_stream(segment, datagrams, seed=seed))
    now = T915 + np.arange(len(stream), dtype=np.int64) * 50_000
    fh = FeedHandler(segment, store, on_records=None if records is None else
                     (lambda r: records.append(np.array(r, copy=True))))
    fh.process_batch(stream, now_ns=now)
    return fh


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A journal root with one F&O day written from a real capture, and that capture's live store."""
    root = tmp_path_factory.mktemp("journals")
    store = Store(65536)
    chunks = []
    capture("FO", 300, 7, store, chunks)
    recs = np.concatenate(chunks)
    with JournalWriter(root, "NSE_FO", DATE) as w:
        w.append(recs)
        path = w.path
    yield root, path, recs, store
    store.close()


@pytest.fixture
def shm_name():
    name = f"vega-test-{uuid.uuid4().hex[:10]}"
    yield name
    try:
        Ring.unlink(name)
    except FileNotFoundError:
        pass
    try:
        Store.remove(name)
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------------------------------------------------
# help
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", ["watch", "replay", "dump", "verify", "stat", "export"])
def test_every_command_has_help(cmd):
    r = cli(cmd, "--help")
    assert r.returncode == 0 and f"usage: vega {cmd}" in r.stdout and r.stderr == ""


# ---------------------------------------------------------------------------------------------------------
# dump
# ---------------------------------------------------------------------------------------------------------

def test_dump_json_fields_rebuild_the_live_store(session):
    """Folding the named fields that `vega dump --json` prints, per token, gives the live store's values:
    the decoding of groups, masks and two-slot fields is right."""
    _, path, recs, store = session
    r = cli("dump", path, "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == len(recs)
    assert [x["seq"] for x in rows] == list(range(len(recs)))
    assert [x["token"] for x in rows] == recs["token"].tolist()
    assert [x["ts48"] for x in rows] == timestamps(recs).tolist()
    assert {x["group_name"] for x in rows} <= GROUP_NAMES
    state = {}
    for x in rows:
        state.setdefault(x["token"], {}).update(x["fields"])
    snap = store.snapshot()
    checked = 0
    for row in snap:
        tok = int(row["token"])
        got = state[tok]
        for f in ("last_traded_price", "volume_traded_today", "open_interest", "close_price"):
            if int(row[f]):
                assert got[f] == int(row[f]), (tok, f)
                checked += 1
        if int(row["bid_price"][0]):
            assert got["bid_price[0]"] == int(row["bid_price"][0])
            assert got["bid_quantity[0]"] == int(row["bid_quantity"][0])
            checked += 1
    assert checked > 100


def test_dump_table_filters_by_token_time_and_limit(session):
    _, path, recs, _ = session
    ts = timestamps(recs)
    tok = int(np.bincount(recs["token"]).argmax())
    t0, t1 = int(ts[len(ts) // 4]), int(ts[3 * len(ts) // 4])
    hms = lambda t: f"{t // 3_600_000_000_000:02d}:{t // 60_000_000_000 % 60:02d}:" \
                    f"{t // 10**9 % 60:02d}.{t % 10**9:09d}"
    want = np.flatnonzero((recs["token"] == tok) & (ts >= t0) & (ts < t1))
    assert len(want) > 3
    r = cli("dump", path, "--tokens", tok, "--from", hms(t0), "--to", hms(t1))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert f"{len(want):,} selected" in lines[0]
    body = lines[2:]
    assert len(body) == len(want)
    for line, p in zip(body, want):
        seq, clock, token, group = line.split()[:4]
        assert int(seq) == p and int(token) == tok and clock == hms(int(ts[p]))
        assert group in GROUP_NAMES
    r = cli("dump", path, "--tokens", tok, "--limit", 2)
    assert len(r.stdout.splitlines()) == 2 + 2
    r = cli("dump", path, "--tokens", 999999999)
    assert r.returncode == 0 and "0 selected" in r.stdout


def test_dump_table_fields_read_as_key_value_pairs(session):
    """A blank string value (the net change indicator's ' ') is quoted, not an empty-looking 'key= '."""
    import shlex
    _, path, recs, _ = session
    r = cli("dump", path, "--limit", 5000)
    assert r.returncode == 0, r.stderr
    blank = 0
    for line in r.stdout.splitlines()[2:]:
        pairs = [p.partition("=") for p in shlex.split(line.split(None, 6)[6])]
        assert all(k and eq and v for k, eq, v in pairs), line
        blank += sum(k == "net_change_indicator" and v == " " for k, _, v in pairs)
    assert blank > 0                                    # the case this is about is in the listing


def test_dump_bad_input(session, tmp_path):
    _, path, _, _ = session
    assert_one_line_error(cli("dump", tmp_path / "nope.bin"), "no such journal file")
    assert_one_line_error(cli("dump", tmp_path), "is a directory")
    assert_one_line_error(cli("dump", path, "--tokens", "12x"), "bad token '12x'")
    assert_one_line_error(cli("dump", path, "--tokens", "0"), "bad token '0'")
    assert_one_line_error(cli("dump", path, "--from", "48:00"), "bad --from time")
    assert_one_line_error(cli("dump", path, "--to", "9h15"), "bad --to time")
    assert_one_line_error(cli("dump", path, "--from", "10:00", "--to", "09:00"), "not after")
    assert_one_line_error(cli("dump", path, "--limit", "0"), "--limit")
    bad = tmp_path / "20260123.bin"
    bad.write_bytes(b"this is not a journal" * 10)
    line = assert_one_line_error(cli("dump", bad), str(bad), "not a VEGA journal")
    assert "--repair" not in line                          # a repair leaves a foreign file alone: no such advice


def test_dump_suggests_a_repair_only_where_it_mends_the_file(session, tmp_path):
    _, path, recs, _ = session
    broken = tmp_path / path.name
    broken.write_bytes(path.read_bytes()[:-20])            # sealed, its index table torn: repairable
    line = assert_one_line_error(cli("dump", broken), str(broken))
    assert line.endswith(f"(try: vega verify --repair {broken})"), line
    assert cli("verify", "--repair", broken).returncode == 0
    r = cli("dump", broken)                                # what the advice promised: it reads again
    assert r.returncode == 0, r.stderr
    newer = tmp_path / "20260124.bin"                      # a header from a newer VEGA: beyond repair
    b = bytearray(path.read_bytes())
    b[8] = 0xFF                                            # format version (u16 little-endian at offset 8)
    newer.write_bytes(bytes(b))
    line = assert_one_line_error(cli("dump", newer), "newer VEGA")
    assert "--repair" not in line


# ---------------------------------------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------------------------------------

def test_verify_reports_damage_and_repairs(session, tmp_path):
    _, path, recs, _ = session
    r = cli("verify", path)
    assert r.returncode == 0 and "OK (sealed" in r.stdout and "1 sound, 0 damaged" in r.stdout
    day = tmp_path / "NSE_FO"
    day.mkdir()
    broken = day / path.name
    broken.write_bytes(path.read_bytes()[:-20])            # the index table loses its end
    r = cli("verify", tmp_path)                             # a directory: every *.bin under it
    assert r.returncode == 1
    assert f"{broken}: DAMAGED" in r.stdout
    assert assert_one_line_error(r) == "vega verify: 1 of 1 journal file(s) damaged (vega verify --repair to fix)"
    r = cli("verify", "--repair", broken)
    assert r.returncode == 0, r.stderr
    assert "repaired" in r.stdout
    r = cli("verify", broken)
    assert r.returncode == 0 and "OK (sealed" in r.stdout
    with Journal.open(broken) as j:
        assert j.records.tobytes() == recs.tobytes()


def test_verify_bad_input(tmp_path):
    assert_one_line_error(cli("verify", tmp_path / "missing.bin"), "no such journal file or directory")
    assert_one_line_error(cli("verify", tmp_path), "no journal files")
    bad = tmp_path / "20260101.bin"
    bad.write_bytes(b"\0" * 100)
    r = cli("verify", bad, "--repair")                     # a header beyond repair stays damaged
    assert "DAMAGED" in r.stdout
    assert_one_line_error(r, "1 of 1 journal file(s) damaged")
    r = cli("verify", bad)                                 # ... so verify does not advise a repair
    assert assert_one_line_error(r) == "vega verify: 1 of 1 journal file(s) damaged"
    # under a directory, a FIFO or a directory with a journal's name is reported, not skipped without a word
    from journal_helpers import make_records
    w = JournalWriter(tmp_path / "root", "NSE_FO", "2026-01-02", flush_interval=None)
    w.append(make_records(10))
    w.close()
    tree = tmp_path / "root" / "NSE_FO"
    os.mkfifo(tree / "20260103.bin")
    (tree / "20260104.bin").mkdir()
    r = cli("verify", tmp_path / "root")
    assert f"{tree / '20260103.bin'}: DAMAGED: a FIFO, not a regular file" in r.stdout
    assert f"{tree / '20260104.bin'}: DAMAGED: a directory, not a regular file" in r.stdout
    assert assert_one_line_error(r) == "vega verify: 2 of 3 journal file(s) damaged"


def test_verify_advises_repair_for_the_files_it_mends(session, tmp_path):
    _, path, _, _ = session
    (tmp_path / "NSE_FO").mkdir()
    broken = tmp_path / "NSE_FO" / path.name
    broken.write_bytes(path.read_bytes()[:-20])            # repairable: the header is intact
    foreign = tmp_path / "NSE_FO" / "20260101.bin"
    foreign.write_bytes(b"not a journal at all" * 8)       # not: a repair leaves it alone
    r = cli("verify", tmp_path)
    assert assert_one_line_error(r) == "vega verify: 2 of 2 journal file(s) damaged (vega verify --repair " \
                                       "fixes 1 of them)"
    r = cli("verify", "--repair", tmp_path)
    assert f"{broken}: OK (sealed" in r.stdout and f"{foreign}: DAMAGED" in r.stdout
    assert foreign.read_bytes() == b"not a journal at all" * 8
    assert assert_one_line_error(r) == "vega verify: 1 of 2 journal file(s) damaged"


# ---------------------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, name", [((), "part-0.parquet"), (("--format", "csv"), "part-0.csv"),
                                        (("--format", "csv", "--compression", "gzip"), "part-0.csv.gz")])
def test_export_writes_every_record(session, tmp_path, args, name):
    pytest.importorskip("pyarrow")
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    root, _, recs, _ = session
    out = tmp_path / "out"
    r = cli("export", root, out, DATE.isoformat(), "--no-progress", *args)
    assert r.returncode == 0, r.stderr
    f = out / f"date={DATE.isoformat()}" / "feed=NSE_FO" / name
    assert r.stdout.split() == [str(f)]
    t = (pq.read_table if name.endswith(".parquet") else pacsv.read_csv)(f)
    assert t.num_rows == len(recs)
    assert t.column("token").to_numpy().tolist() == recs["token"].tolist()
    assert t.column("slot1").to_numpy().tolist() == recs["slots"][:, 1].tolist()
    assert t.column("ts").cast("int64").to_numpy().tolist() == (timestamps(recs) + day_epoch_ns(DATE)).tolist()


def test_export_refuses_a_parquet_codec_for_csv_before_making_anything(session, tmp_path):
    pytest.importorskip("pyarrow")
    root, _, _, _ = session
    r = cli("export", root, tmp_path / "out", DATE.isoformat(), "--format", "csv", "--compression", "zstd")
    assert assert_one_line_error(r) == "vega export: --format csv takes --compression none or gzip, not zstd"
    assert not (tmp_path / "out").exists()


def test_export_bad_input(session, tmp_path):
    root, _, _, _ = session
    assert_one_line_error(cli("export", tmp_path / "nope", tmp_path / "o", "2026-01-23"), "no such journal root")
    assert_one_line_error(cli("export", root, tmp_path / "o", "2026-02-30"), "bad start date")
    assert_one_line_error(cli("export", root, tmp_path / "o", "2026-01-23", "2026-01-01"), "before start")
    assert_one_line_error(cli("export", root, tmp_path / "o", "2026-01-24"), "no journal files")
    assert_one_line_error(cli("export", root, tmp_path / "o", "2026-01-23", "--feeds", "BSE"), "unknown feed")
    (tmp_path / "file").write_text("")
    assert_one_line_error(cli("export", root, tmp_path / "file" / "o", "2026-01-23"),
                          f"output directory {tmp_path / 'file' / 'o'}: cannot create it (Not a directory)")
    # pyarrow missing: a package that raises what `import pyarrow` raises when there is none shadows it
    fake = tmp_path / "nopyarrow" / "pyarrow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'pyarrow'\", name='pyarrow')\n")
    r = cli("export", root, tmp_path / "o", "2026-01-23", env={"PYTHONPATH": str(fake.parent)})
    assert_one_line_error(r, "needs pyarrow, which is not installed", "pip install 'vega[export]'")


def test_an_export_refusing_a_damaged_day_leaves_no_output_directory(session, tmp_path):
    """export checks every day before it writes anything, but `vega export` made the output directory (and its
    parents) first: a refused export left an empty directory behind.  It leaves nothing now, and a directory
    that was there stays."""
    pytest.importorskip("pyarrow")
    _, path, _, _ = session
    (tmp_path / "j" / "NSE_FO").mkdir(parents=True)
    (tmp_path / "j" / "NSE_FO" / path.name).write_bytes(path.read_bytes())
    damaged = tmp_path / "j" / "NSE_FO" / "20260126.bin"
    damaged.write_bytes(b"not a journal at all" * 10)
    r = cli("export", tmp_path / "j", tmp_path / "new" / "out", "2026-01-23", "2026-01-26", "--no-progress")
    assert_one_line_error(r, str(damaged))
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    assert_one_line_error(cli("export", tmp_path / "j", tmp_path / "kept", "2026-01-23", "2026-01-26"), str(damaged))
    assert (tmp_path / "kept").is_dir() and not any((tmp_path / "kept").iterdir())


def test_export_says_why_an_installed_pyarrow_does_not_import(session, tmp_path):
    """pyarrow 26 refuses numpy 1.x at import, and `pip install vega[export]` beside numpy 1.26 (which our
    numpy>=1.26 allows) installs it: the error was "needs pyarrow, which is not installed", about a pyarrow
    that is installed.  The line now carries pyarrow's own reason."""
    root, _, _, _ = session
    fake = tmp_path / "oldnumpy" / "pyarrow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('pyarrow requires NumPy 2.0 or newer, found 1.26.0')\n")
    r = cli("export", root, tmp_path / "o", "2026-01-23", env={"PYTHONPATH": str(fake.parent)})
    assert_one_line_error(r, "needs pyarrow, which does not import: pyarrow requires NumPy 2.0 or newer, found 1.26.0")
    assert "not installed" not in r.stderr
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------------------------------------

def test_replay_into_ring_and_store(session, shm_name):
    root, _, recs, live = session
    r = cli("replay", root, DATE.isoformat(), "--ring", shm_name, "--store", shm_name, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert f"replayed {len(recs):,} records" in r.stdout and f"NSE_FO next_seq={len(recs)}" in r.stdout
    with Ring.open(shm_name) as ring:
        assert ring.tail("NSE_FO") == len(recs)
        got = ring.reader("NSE_FO", start="oldest").poll(max_records=len(recs) + 10)
        assert got.tobytes() == recs.tobytes()
    with Store.open(shm_name) as st:
        a, b = st.snapshot(), live.snapshot()
        assert len(a) == len(b)
        order = np.argsort(a["token"]), np.argsort(b["token"])
        for f in ("token", "last_traded_price", "volume_traded_today", "bid_price", "ask_quantity",
                  "open_interest", "high_price"):
            assert np.array_equal(a[f][order[0]], b[f][order[1]]), f


def test_replay_time_window_and_tokens(session, shm_name):
    root, _, recs, _ = session
    ts = timestamps(recs)
    tok = int(np.bincount(recs["token"]).argmax())
    t_mid = int(ts[len(ts) // 2]) // 10**9 * 10**9            # whole second inside the session
    clock = dt.datetime.fromtimestamp((day_epoch_ns(DATE) + t_mid) / 1e9, IST).strftime("%H:%M:%S")
    r = cli("replay", root, f"{DATE}T{clock}", "--ring", shm_name, "--tokens", tok, "--no-progress")
    assert r.returncode == 0, r.stderr
    want = recs[(ts >= t_mid) & (recs["token"] == tok)]
    with Ring.open(shm_name) as ring:
        got = ring.reader("NSE_FO", start="oldest").poll(max_records=len(recs))
    assert len(want) > 0 and got.tobytes() == want.tobytes()



def test_replay_into_a_ring_from_mid_day_keeps_the_journal_numbers(session, shm_name):
    """A replay from a time of day publishes records numbered from that point: its ring starts at the
    journal's number of the first record replayed, so a consumer hands over at next_seq as with a capture."""
    root, path, recs, _ = session
    ts = timestamps(recs)
    t_mid = int(ts[len(ts) // 3]) // 1000 * 1000                       # a microsecond inside the session
    clock = (dt.datetime(2000, 1, 1) + dt.timedelta(microseconds=t_mid // 1000)).strftime("%H:%M:%S.%f")
    r = cli("replay", root, f"{DATE}T{clock}", "--ring", shm_name, "--no-progress")
    assert r.returncode == 0, r.stderr
    first = int(np.searchsorted(np.maximum.accumulate(ts), t_mid))      # the first record replayed
    assert 0 < first < len(recs)
    with Ring.open(shm_name) as ring, Journal.open(path) as j:
        assert ring.info("NSE_FO")["first_seq"] == j.seq_at(first) == first   # no checkpoints in this file
        assert ring.tail("NSE_FO") == j.next_seq == len(recs)
        assert f"NSE_FO next_seq={j.next_seq}" in r.stdout
        got = ring.reader("NSE_FO", start="oldest").poll(max_records=len(recs))
    assert got.tobytes() == recs[first:].tobytes()


def test_replay_bad_input(session, tmp_path, shm_name):
    root, _, _, _ = session
    d = DATE.isoformat()
    assert_one_line_error(cli("replay", root, d), "--ring NAME and/or --store NAME")
    assert_one_line_error(cli("replay", tmp_path / "nope", d, "--ring", shm_name), "no such journal root")
    (tmp_path / "20260123.bin").write_bytes(b"x")          # a file where the root should be: said so
    assert_one_line_error(cli("replay", tmp_path / "20260123.bin", d, "--ring", shm_name),
                          "20260123.bin: is not a directory", "vega dump / verify read one file")
    assert_one_line_error(cli("replay", tmp_path, d, "--ring", shm_name), "not a journal root")
    assert_one_line_error(cli("replay", root, "2026-13-01", "--ring", shm_name), "bad start")
    assert_one_line_error(cli("replay", root, "2026-01-23T9h", "--ring", shm_name), "bad start")
    assert_one_line_error(cli("replay", root, d, "2026-01-01", "--ring", shm_name), "not after")
    assert_one_line_error(cli("replay", root, "2026-01-24", "--ring", shm_name), "no journal records")
    assert_one_line_error(cli("replay", root, d, "--ring", shm_name, "--speed", "0"), "--speed")
    assert_one_line_error(cli("replay", root, d, "--ring", "a/b"), "ring name")
    Ring.create(shm_name).close()
    assert_one_line_error(cli("replay", root, d, "--ring", shm_name), "exists", "--replace")
    r = cli("replay", root, d, "--ring", shm_name, "--replace", "--no-progress")
    assert r.returncode == 0, r.stderr


def test_replay_of_a_damaged_day_names_the_check_to_run(session, tmp_path, shm_name):
    _, path, _, _ = session
    (tmp_path / "NSE_FO").mkdir()
    broken = tmp_path / "NSE_FO" / path.name
    broken.write_bytes(path.read_bytes()[:-20])            # the index table torn
    r = cli("replay", tmp_path, DATE.isoformat(), "--ring", shm_name, "--no-progress")
    line = assert_one_line_error(r, str(broken))
    assert line.endswith(f"(vega verify {tmp_path} tells which files are damaged and which --repair can mend)")
    with pytest.raises(FileNotFoundError):
        Ring.open(shm_name)


def test_a_replay_into_a_ring_refuses_a_damaged_record_as_into_a_store(session, tmp_path, shm_name):
    """A record no store applies (an unknown group): a replay into a store failed there, one into a ring
    published it to the ring's readers and said it had replayed the day.  Both fail, naming the file and the
    record, and leave no ring or store behind."""
    _, path, recs, _ = session
    bad = recs.copy()
    bad["group"][100] = 99
    with JournalWriter(tmp_path, "NSE_FO", DATE, flush_interval=None) as w:
        w.append(bad)
    damaged = tmp_path / "NSE_FO" / path.name
    for target in ("--ring", "--store"):
        r = cli("replay", tmp_path, DATE.isoformat(), target, shm_name, "--no-progress")
        line = assert_one_line_error(r, f"{damaged}: record 100: unknown group", "vega verify")
        assert line.startswith(f"vega replay: {damaged}: record 100"), line      # (no "ValueError: " before it)
        with pytest.raises(FileNotFoundError):
            Ring.open(shm_name)
        with pytest.raises(FileNotFoundError):
            Store.open(shm_name)


def test_replay_progress_counts_the_records_of_its_bounds_and_ends_at_100_percent(tmp_path, shm_name,
                                                                                    monkeypatch):
    """The progress line's total was the files' sizes: index tables, the whole day of a range bounded by times,
    and the day before's file a start time reads for its night past midnight, so a replay from 10:00 to 11:00
    ended at a few percent.  The total is the records the replay delivers: it ends at N/N, 100 %."""
    import io
    import types
    from journal_helpers import make_records
    from vega.cli import main
    import vega.commands.replay as replay_cmd
    day0, day1 = DATE, DATE + dt.timedelta(days=1)               # from a time on day1, day0 is read too
    for d, seed in ((day0, 1), (day1, 2)):                          # 09:15 to ~14:50, stamps ~2 s apart
        with JournalWriter(tmp_path, "NSE_FO", d, flush_interval=None, index_stride=64) as w:
            w.append(make_records(10_000, seed=seed, max_step=4 * 10**9))

    class Tty(io.StringIO):
        def isatty(self):
            return True
    ticks = iter(range(10**6))                                      # every progress update 1 s after the last
    monkeypatch.setattr(replay_cmd, "time", types.SimpleNamespace(monotonic=lambda: float(next(ticks))))
    for bounds, tokens in (((f"{day1}T10:00", f"{day1}T11:00"), []), ((f"{day1}T10:00",), []),
                           ((str(day0), str(day1)), []), ((f"{day1}T10:00",), ["--tokens", "3,4"])):
        err, out = Tty(), io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        monkeypatch.setattr(sys, "stdout", out)
        assert main(["replay", str(tmp_path), *bounds, "--ring", shm_name, "--replace", *tokens]) == 0, err.getvalue()
        replayed = int(re.search(r"replayed ([\d,]+) records", out.getvalue()).group(1).replace(",", ""))
        last = err.getvalue().split("\r")[-2]                       # the last progress line (then cleared)
        if tokens:                                                  # no total the indexes tell: no percentage
            assert re.match(rf"replay: {replayed:,} records, ", last), last
        else:
            assert last.startswith(f"replay: {replayed:,}/{replayed:,} records 100.0%, "), (bounds, last)
            assert (replayed == 20_000) == (bounds == (str(day0), str(day1))) and replayed > 0


def test_a_replay_that_fails_leaves_no_half_filled_ring_or_store(session, shm_name):
    """A store too small for the journal's tokens: one line that says what to do, and the ring and store
    this replay made are removed again (a later replay or a reader must not take them for a whole day)."""
    root, _, recs, _ = session
    assert len(np.unique(recs["token"])) > 3
    r = cli("replay", root, DATE.isoformat(), "--ring", shm_name, "--store", shm_name, "--capacity", "3",
            "--no-progress")
    assert_one_line_error(r, f"store '{shm_name}' is full at 3 instruments: give a larger --capacity")
    with pytest.raises(FileNotFoundError):
        Store.open(shm_name)
    with pytest.raises(FileNotFoundError):
        Ring.open(shm_name)


# ---------------------------------------------------------------------------------------------------------
# stat
# ---------------------------------------------------------------------------------------------------------

def test_stat_shows_slots_and_readers_with_lag_and_laps(session, shm_name):
    _, _, recs, _ = session
    first = 123_456                                  # a ring of a capture restarted during the day
    with Ring.create(shm_name, first_seq={"NSE_FO": first}) as ring:
        ring.append("NSE_FO", recs[:1000])
        slow = ring.reader("NSE_FO", name="slow-terminal", start="oldest")
        fast = ring.reader("NSE_FO", name="charting", start="oldest")
        fast.poll(max_records=1000)
        assert 1 <= len(slow.poll(max_records=10)) <= 10      # ends on an update boundary (docs/FORMATS.md §4)
        # the slow reader falls more than a lap behind
        big = np.resize(recs, ring.capacity + 5000)
        ring.append("NSE_FO", big)
        slow.poll(max_records=1)
        r = cli("stat", shm_name, "--json")
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        tail = first + 1000 + len(big)
        fo = [s for s in st["slots"] if s["feed"] == "NSE_FO"][0]
        assert fo["tail"] == tail and fo["writer_pid"] == os.getpid()
        assert (fo["first_seq"], fo["records"]) == (first, 1000 + len(big))
        assert fo["held"] == fo["capacity"] < fo["records"]     # published past a lap: it holds one ring's worth
        r = cli("stat", shm_name)
        head, row = [ln.split() for ln in r.stdout.splitlines()[1:3]]
        assert head[:7] == ["feed", "first", "seq", "tail", "published", "held", "capacity"], r.stdout
        assert row[:6] == ["NSE_FO", f"{first:,}", f"{tail:,}", f"{1000 + len(big):,}", f"{fo['capacity']:,}",
                           f"{fo['capacity']:,}"], r.stdout
        assert [s["tail"] for s in st["slots"] if s["feed"] != "NSE_FO"] == [0, 0]
        rd = {x["name"]: x for x in st["readers"]}
        assert set(rd) == {"slow-terminal", "charting"}
        assert rd["charting"]["position"] == first + 1000 and rd["charting"]["lag"] == len(big)
        assert rd["slow-terminal"]["laps"] == slow.laps >= 1 and rd["slow-terminal"]["lost"] == slow.lost > 0
        assert rd["slow-terminal"]["position"] == slow.position
        assert rd["slow-terminal"]["lag"] == tail - slow.position
        assert all(x["pid"] == os.getpid() and x["alive"] and x["feed"] == "NSE_FO" for x in rd.values())
        assert all(0 <= x["heartbeat_age_s"] < 600 for x in rd.values())
        r = cli("stat", shm_name)
        assert r.returncode == 0, r.stderr
        line = [x for x in r.stdout.splitlines() if "slow-terminal" in x][0]
        assert f"{slow.laps:>6,}" in line and "alive" in line
        assert f"{tail:,}" in r.stdout
        fo_line = [x for x in r.stdout.splitlines() if x.split()[:1] == ["NSE_FO"]][0]
        assert fo_line.split()[1:4] == [f"{first:,}", f"{tail:,}", f"{1000 + len(big):,}"]
        slow.close()
        fast.close()


def test_stat_says_when_a_slots_writer_has_exited(shm_name):
    """A ring whose writer died without closing it (killed): its pid is shown with "(exited)" in the table and
    writer_alive false in the JSON, as vega watch says it, not as if it were live.  (A writer that closes
    its ring clears the pid: "-".)"""
    code = (f"from vega._ring import Ring; from journal_helpers import make_records; import os, sys; "
            f"r = Ring.create({shm_name!r}); r.append('NSE_FO', make_records(5)); print(os.getpid()); "
            "sys.stdout.flush(); os._exit(0)")
    pid = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")).stdout)
    st = json.loads(cli("stat", shm_name, "--json").stdout)
    assert [(s["feed"], s["writer_pid"], s["writer_alive"]) for s in st["slots"]] == [
        ("NSE_FO", pid, False), ("NSE_EQ", 0, False), ("NFO_IDX", 0, False)]
    r = cli("stat", shm_name)
    fo_line = [x for x in r.stdout.splitlines() if x.split()[:1] == ["NSE_FO"]][0]
    assert fo_line.endswith(f"{pid} (exited)")


def test_stat_bad_input(tmp_path):
    assert_one_line_error(cli("stat", f"vega-no-such-ring-{uuid.uuid4().hex[:8]}"), "no ring named")
    assert_one_line_error(cli("stat", "a/b"), "ring name")
    junk = tmp_path / "junk"
    junk.write_bytes(b"x" * 4096)
    assert_one_line_error(cli("stat", junk), "cannot open ring")


# ---------------------------------------------------------------------------------------------------------
# watch
# ---------------------------------------------------------------------------------------------------------

def _rows(out):
    """Data rows of a rendered frame: lists of cells (rich draws cells between box characters)."""
    rows = []
    for line in out.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells[0].isdigit():
            rows.append(cells)
    return rows


def test_watch_renders_the_store_of_a_running_capture(shm_name):
    with Store.create(shm_name, 4096) as store, Ring.create(shm_name) as ring:
        capture("FO", 200, 3, store)
        # a writer that forwards change records to the ring, as the capture does
        fh = FeedHandler("FO", store, on_records=lambda recs: ring.append("NSE_FO", recs))
        fh.process_batch(list(nse.sample_stream("FO", 50, seed=4)))
        reader = ring.reader("NSE_FO", name="terminal-1", start="oldest")
        snap = store.snapshot()
        top = snap[np.lexsort((snap["token"], -snap["volume_traded_today"]))][:5]
        r = cli("watch", shm_name, "--ring", shm_name, "--once", "--top", 5)
        assert r.returncode == 0, r.stderr
        rows = _rows(r.stdout)
        assert [int(x[0]) for x in rows] == top["token"].tolist()
        for cells, rec in zip(rows, top):
            assert cells[2] == f"{rec['last_traded_price'] / 100:,.2f}"
            assert f"{int(rec['volume_traded_today']):,}" in cells
            assert f"{rec['bid_price'][0] / 100:,.2f}" in cells and f"{rec['ask_price'][0] / 100:,.2f}" in cells
        assert f"NSE_FO {ring.tail('NSE_FO'):,}" in r.stdout and "readers 1 live" in r.stdout
        assert f"max lag {ring.tail('NSE_FO'):,}" in r.stdout
        reader.close()
        # a token filter and sorting by open interest
        oi = snap[snap["open_interest"] > 0]
        pick = oi[np.argsort(-oi["open_interest"], kind="stable")][:3]
        toks = ",".join(str(int(t)) for t in pick["token"])
        r = cli("watch", shm_name, "--tokens", toks, "--sort", "oi", "--once")
        rows = _rows(r.stdout)
        assert [int(x[0]) for x in rows] == pick["token"].tolist()
        assert [x[10] for x in rows] == [f"{int(v):,}" for v in pick["open_interest"]]
        # frames for scripts: N frames, activity since the previous frame is 0 with no new data
        r = cli("watch", shm_name, "--iterations", 2, "--interval", 0.05, "--top", 3, "--sort", "token")
        assert r.returncode == 0 and r.stdout.count("VEGA watch: store") == 2
        frames = r.stdout.split("VEGA watch: store")[1:]
        first, second = _rows(frames[0]), _rows(frames[1])
        counts = {int(t): int(c) for t, c in zip(snap["token"], snap["update_count"])}
        assert [int(x[11].replace(",", "")) for x in first] == [counts[int(x[0])] for x in first]
        assert [x[11] for x in second] == ["0"] * len(second)


def test_watch_shows_an_index_store_as_indices(shm_name):
    """The capture's <prefix>-idx store: its rows showed an index as a price with an empty book, no volume and no
    open interest; they show the value, change, OHLC and the constituents' moves (vega.INDEX_DTYPE's fields)."""
    from vega.indices import INDEX_DTYPE
    from vega.simulator import Simulator
    sim = Simulator(["CM"], 300, seed=21, phases=True)
    sim.generate()
    with Store.create(shm_name, 64) as store:
        FeedHandler("IDX", store).process_batch(sim.datagrams["CM"])
        snap = store.snapshot()
        ix = snap[snap["valid"] == 1].view(INDEX_DTYPE)
        assert len(ix) >= 5 and (ix["upmoves"] + ix["downmoves"]).any()
        r = cli("watch", shm_name, "--once", "--sort", "token")
    assert r.returncode == 0, r.stderr
    header = next(line for line in r.stdout.splitlines() if line.startswith("┃"))
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == [
        "token", "symbol", "value", "chg", "chg%", "open", "high", "low", "close", "up", "down", "upd", "age"]
    rows = _rows(r.stdout)
    ix = np.sort(ix, order="token")
    assert [int(x[0]) for x in rows] == ix["token"].tolist()
    for cells, rec in zip(rows, ix):
        assert cells[1] == bytes(rec["symbol"]).decode().strip()
        assert cells[2:9] == [f"{rec['index_value'] / 100:,.2f}", f"{(rec['index_value'] - rec['close']) / 100:+,.2f}",
                              f"{(rec['index_value'] - rec['close']) / rec['close'] * 100:+.2f}%",
                              *(f"{rec[k] / 100:,.2f}" for k in ("open", "high", "low", "close"))]
        assert cells[9:12] == [f"{rec['upmoves']:,}", f"{rec['downmoves']:,}", f"{rec['update_count']:,}"]


def test_watch_says_when_the_stores_writer_has_exited(shm_name):
    with Store.create(shm_name, 64) as store:
        store.add(1)
        r = cli("watch", shm_name, "--once")
        assert r.returncode == 0, r.stderr
        assert f"writer pid {os.getpid()})" in " ".join(r.stdout.split())      # this process: alive
    code = f"import vega\nwith vega.Store.create({shm_name!r}, 64) as s:\n    s.add(2)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr                                 # its writer has exited
    r = cli("watch", shm_name, "--once")
    assert r.returncode == 0, r.stderr
    assert re.search(r"writer pid \d+ \(exited\)", " ".join(r.stdout.split())), r.stdout


def test_watch_follows_a_restarted_capture(shm_name):
    """A capture restart replaces the store and ring files: the watch notices, says so while they are gone,
    and reopens them when they are back (fresh activity counts, the new instruments)."""
    from vega.commands.watch import Watch
    first = Store.create(shm_name, 64)
    first.add(11, "OLD", "EQ", "CM")
    ring = Ring.create(shm_name)
    w = Watch(Store.open(shm_name), Ring.open(shm_name), store_name=shm_name, ring_name=shm_name)
    w.follow()
    assert w.notice == "" and w.rows()[0]["token"].tolist() == [11]
    first.close()
    Store.remove(shm_name)
    w.follow()
    assert "is gone" in w.notice and w.reattached == 0
    second = Store.create(shm_name, 64)
    second.add(22, "NEW", "EQ", "CM")
    ring.close()
    ring = Ring.create(shm_name, replace=True)
    w.follow()
    assert w.notice == "" and w.reattached == 2
    assert w.rows()[0]["token"].tolist() == [22]
    ring.append("NSE_EQ", np.zeros(3, dtype=CHANGE_RECORD_DTYPE))
    assert w.ring.tail("NSE_EQ") == 3                       # the new ring, not the old one
    second.close()
    ring.close()
    w.store.close()
    w.ring.close()


def test_watch_bad_input(shm_name):
    assert_one_line_error(cli("watch", f"vega-no-such-store-{uuid.uuid4().hex[:8]}", "--once"), "no store named")
    with Store.create(shm_name, 16):
        assert_one_line_error(cli("watch", shm_name, "--once", "--tokens", "-3"), "bad token")
        assert_one_line_error(cli("watch", shm_name, "--once", "--ring", "vega-no-such-ring-x"), "no ring named")
        assert_one_line_error(cli("watch", shm_name, "--top", "0", "--once"), "--top")


def test_watch_live_in_a_terminal(shm_name):
    """On a terminal `vega watch` redraws in place (rich.live); --iterations ends it."""
    import pty
    import select
    with Store.create(shm_name, 1024) as store:
        capture("CM", 100, 5, store)
        snap = store.snapshot()
        best = snap[np.lexsort((snap["token"], -snap["volume_traded_today"]))][0]
        master, slave = pty.openpty()
        e = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="160", LINES="40", TERM="xterm")
        p = subprocess.Popen([sys.executable, "-m", "vega.cli", "watch", shm_name, "--iterations", "3",
                              "--interval", "0.05", "--top", "3"], cwd=ROOT, env=e, stdin=slave, stdout=slave,
                             stderr=subprocess.PIPE)
        os.close(slave)
        out = b""
        while True:
            r, _, _ = select.select([master], [], [], 30)
            if not r:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:            # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        assert p.wait(timeout=30) == 0, p.stderr.read()
        os.close(master)
        text = out.decode("utf-8", "replace")
        assert f"{int(best['token'])}" in text and f"{best['last_traded_price'] / 100:,.2f}" in text
        assert "\x1b[1A" in text and "\x1b[2K" in text   # cursor up + erase line: redrawn in place


def test_usage_errors_are_one_line():
    for args, needle in [(("dump",), "required: path"), (("watch", "x", "--sort", "bogus"), "invalid choice"),
                         (("dump", "x", "--limit", "abc"), "not an integer"), (("stat",), "required: ring"),
                         (("replay", "r"), "required: start"), (("export", "r", "o"), "required: start"),
                         (("verify",), "required: paths"), (("watch", "s", "--once", "--iterations", "2"),
                                                            "not allowed with"),
                         (("capture", "--feed", "FO=239.70.2.1"), "is not SEGMENT=GROUP:PORT"),
                         # digits of other scripts: '\u00b2' failed in int() as "invalid _feed value", '\u0663\u0663'
                         # was taken as port 33
                         (("capture", "--feed", "FO=239.70.2.1:\u00b2"), "is not SEGMENT=GROUP:PORT"),
                         (("capture", "--feed", "FO=239.70.2.1:\u0663\u0663"), "is not SEGMENT=GROUP:PORT"),
                         (("simulate", "--fo", "127.0.0.1:\u0663\u0663"), "is not GROUP:PORT")]:
        r = cli(*args)
        assert r.returncode == 2
        line = assert_one_line_error(r, needle)
        assert line.startswith(f"vega {args[0]}: ") and line.endswith(f"(see vega {args[0]} --help)")


def test_replay_paced_delivers_the_same_records(session, shm_name):
    root, _, recs, _ = session
    tok = int(np.bincount(recs["token"]).argmax())
    r = cli("replay", root, DATE.isoformat(), "--ring", shm_name, "--tokens", tok, "--speed", "2",
            "--no-progress")
    assert r.returncode == 0, r.stderr
    with Ring.open(shm_name) as ring:
        got = ring.reader("NSE_FO", start="oldest").poll(max_records=len(recs))
    assert got.tobytes() == recs[recs["token"] == tok].tobytes()


def test_dump_shows_checkpoints_and_can_leave_them_out(tmp_path):
    store = Store(4096)
    chunks = []
    capture("CM", 60, 11, store, chunks)
    live = np.concatenate(chunks)
    kf = store.keyframe_records()
    t_ck = int(timestamps(live)[-1])
    with JournalWriter(tmp_path, "NSE_EQ", DATE) as w:
        w.append(live)
        w.checkpoint(kf, ts_ns=t_ck)
        path = w.path
    store.close()
    rows = [json.loads(x) for x in cli("dump", path, "--json").stdout.splitlines()]
    assert len(rows) == len(live) + len(kf)
    ck = rows[len(live):]
    assert all(x["flags"] & 0x02 for x in ck) and not any(x["flags"] & 0x02 for x in rows[:len(live)])
    assert ck[-1]["flags"] & 0x04 and not any(x["flags"] & 0x04 for x in ck[:-1])
    assert {x["ts48"] for x in ck} == {t_ck}
    table = cli("dump", path, "--tokens", ck[-1]["token"]).stdout.splitlines()
    assert any(line.split()[4] in ("KE", "CKE") for line in table[2:])
    r = cli("dump", path, "--no-keyframes")
    assert r.returncode == 0 and f"{len(live):,} selected" in r.stdout.splitlines()[0]


def test_replay_spans_days_in_time_order(tmp_path, shm_name):
    store = Store(4096)
    chunks = []
    capture("FO", 40, 21, store, chunks)
    recs = np.concatenate(chunks)
    store.close()
    day2 = DATE + dt.timedelta(days=1)
    halves = recs[:len(recs) // 2], recs[len(recs) // 2:]
    for d, part in zip((DATE, day2), halves):
        with JournalWriter(tmp_path, "NSE_FO", d) as w:
            w.append(part)
    r = cli("replay", tmp_path, DATE.isoformat(), day2.isoformat(), "--ring", shm_name, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert f"replayed {len(recs):,} records" in r.stdout
    with Ring.open(shm_name) as ring:
        got = ring.reader("NSE_FO", start="oldest").poll(max_records=len(recs) + 1)
    assert got.tobytes() == recs.tobytes()
    # only the second day
    Ring.unlink(shm_name)
    r = cli("replay", tmp_path, day2.isoformat(), "--ring", shm_name, "--no-progress")
    with Ring.open(shm_name) as ring:
        got = ring.reader("NSE_FO", start="oldest").poll(max_records=len(recs) + 1)
    assert got.tobytes() == halves[1].tobytes()


def test_watch_into_a_pipe_writes_each_frame_as_it_is_made(shm_name):
    """Without --once/--iterations, `vega watch > file` or `| tee` wrote nothing until it was stopped (a live
    display draws only on a terminal).  Into a pipe it now writes one plain frame per interval, each flushed,
    until SIGINT, which exits 0."""
    import select
    import signal
    with Store.create(shm_name, 256) as store:
        capture("FO", 20, 9, store)
        p = subprocess.Popen([sys.executable, "-m", "vega.cli", "watch", shm_name, "--interval", "0.05"],
                             cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            out = b""
            deadline = time.monotonic() + 30
            while out.count(b"VEGA watch: store") < 3 and time.monotonic() < deadline:
                if select.select([p.stdout], [], [], 0.1)[0]:   # frames come while the watch runs on
                    out += os.read(p.stdout.fileno(), 65536)
            assert out.count(b"VEGA watch: store") >= 3 and p.poll() is None
            p.send_signal(signal.SIGINT)
            rest, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert p.returncode == 0 and err == b""
    assert "\x1b[" not in (out + rest).decode()                # plain text, no terminal codes


def test_watch_ctrl_c_leaves_cleanly(shm_name):
    """Without --once/--iterations the watch runs until Ctrl-C, which exits 0 without a message."""
    import pty
    import select
    import signal
    with Store.create(shm_name, 256) as store:
        capture("FO", 20, 9, store)
        master, slave = pty.openpty()
        e = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="160", LINES="40", TERM="xterm")
        # SIGINT at its default in the child: a test runner started in the background of a shell script
        # ignores SIGINT, and a Python started with it ignored never raises KeyboardInterrupt
        p = subprocess.Popen([sys.executable, "-m", "vega.cli", "watch", shm_name, "--interval", "0.05"],
                             cwd=ROOT, env=e, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        os.close(slave)
        out = b""
        while b"VEGA watch" not in out:
            r, _, _ = select.select([master], [], [], 30)
            assert r, "no frame within 30 s"
            out += os.read(master, 65536)
        p.send_signal(signal.SIGINT)
        # keep reading the terminal as a real one does: a watch that has filled the pty's buffer blocks in its
        # last write (rich's exit frame) until someone reads it
        deadline = time.monotonic() + 30
        while p.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    os.read(master, 65536)
                except OSError:                             # EIO: the watch has closed the terminal
                    break
        rc = p.wait(timeout=max(0.1, deadline - time.monotonic()))
        err = p.stderr.read().decode()
        os.close(master)
        assert rc == 0 and err == ""


def test_watch_of_a_captures_prefix_names_its_stores(shm_name):
    with Store.create(f"{shm_name}-cm", 16):
        try:
            r = cli("watch", shm_name, "--once")
            assert_one_line_error(r, f"no store named '{shm_name}'", f"open '{shm_name}-cm'")
            assert "is the capture running" not in r.stderr       # it is: its stores have other names
        finally:
            Store.remove(f"{shm_name}-cm")


def test_watch_names_contracts_from_the_masters_and_shows_their_iv(shm_name, tmp_path):
    """F&O contracts of one symbol all read as the symbol alone; with --contract each row is its contract
    (expiry, strike, CE / PE or FUT), and an IV column shows the store's implied volatility (units of 1e-4,
    shown in %) once options carry one.  A master that cannot be read is one line."""
    from vega.instruments import Instruments
    from vega.simulator import Simulator
    sim = Simulator(["FO"], 400, seed=3)
    contract = sim.write_master(tmp_path)["contract"]
    ins = Instruments.load(contract)
    sim.generate()
    with Store.create(shm_name, 4096) as store:
        store.load_instruments(ins, "FO")
        FeedHandler("FO", store).process_batch(sim.datagrams["FO"], now_ns=T915)
        snap = store.snapshot()
        snap = snap[snap["valid"] == 1]
        traded = snap[snap["update_count"] > 0]
        top = traded[np.argsort(-traded["volume_traded_today"], kind="stable")][:40]
        r = cli("watch", shm_name, "--contract", contract, "--once", "--top", 40,
                "--tokens", ",".join(str(int(t)) for t in top["token"]))
        assert r.returncode == 0, r.stderr
        rows = {int(x[0]): x for x in _rows(r.stdout)}
        assert set(rows) == set(top["token"].tolist())
        header = [ln for ln in r.stdout.splitlines() if "LTP" in ln][0]
        assert "IV%" in header
        kinds = set()
        for rec in top:
            i, cells = ins.by_token(int(rec["token"])), rows[int(rec["token"])]
            words = cells[1].split()
            assert words[0] == i.symbol and words[1] == i.expiry.strftime("%d%b%y").upper()
            if i.is_option:
                assert float(words[2]) * 100 == i.strike and words[3] == i.option_type
                iv = int(rec["implied_volatility"])
                assert cells[11] == (f"{iv / 100:.2f}" if iv >= 0 else "-")
            else:
                assert words[2:] == ["FUT"] and cells[11] == "-"
            kinds.add(i.option_type)
        assert {"CE", "PE", "XX"} <= kinds, kinds                  # options of both kinds, and futures
        assert any(c[11] != "-" for c in rows.values())            # some option carries an IV
        r = cli("watch", shm_name, "--once")                       # without the masters: the symbol only
        assert r.returncode == 0 and {c[1] for c in _rows(r.stdout)} <= set(ins.table["symbol"].tolist())
    bad = tmp_path / "bad.txt"
    bad.write_text("not a master\n")
    assert_one_line_error(cli("watch", shm_name, "--contract", bad, "--once"), "instrument master")


def _a_week_with_gaps(root, n, seed):
    """Journals of Friday 2026-11-20 (NSE_FO, NSE_EQ) and Monday (NSE_FO only), each the same captured records:
    a weekend without files, and a day one feed's capture missed.  Returns (friday, monday, records)."""
    store = Store(4096)
    chunks = []
    capture("FO", n, seed, store, chunks)
    recs = np.concatenate(chunks)
    store.close()
    fri, mon = dt.date(2026, 11, 20), dt.date(2026, 11, 23)
    for d, f in ((fri, "NSE_FO"), (fri, "NSE_EQ"), (mon, "NSE_FO")):
        with JournalWriter(root, f, d) as w:
            w.append(recs)
    return fri, mon, recs


def test_replay_names_the_days_and_feeds_without_a_file(tmp_path, shm_name):
    """A replay over days some of which have no file (a weekend; a day one feed's capture missed) says which,
    instead of leaving the operator to guess whether a low count is a late start or a missing file."""
    fri, mon, recs = _a_week_with_gaps(tmp_path, 20, 22)
    r = cli("replay", tmp_path, fri.isoformat(), mon.isoformat(), "--ring", shm_name, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert f"replayed {3 * len(recs):,} records" in r.stdout
    assert r.stdout.rstrip().endswith("; no file: NSE_EQ 2026-11-23; no files on 2026-11-21, 2026-11-22"), r.stdout


def test_replay_into_a_store_from_mid_day_ends_with_the_live_state(session, shm_name):
    """--store from a time of day starts the store from the journal's state at that time, so it ends as the live
    store did; the ring still gets the records from that time on only."""
    from store_helpers import by_token, market_equal
    root, path, recs, live = session
    ts = timestamps(recs)
    t_mid = int(ts[len(ts) // 2]) // 1000 * 1000
    clock = (dt.datetime(2000, 1, 1) + dt.timedelta(microseconds=t_mid // 1000)).strftime("%H:%M:%S.%f")
    r = cli("replay", root, f"{DATE}T{clock}", "--ring", shm_name, "--store", shm_name, "--no-progress")
    assert r.returncode == 0, r.stderr
    first = int(np.searchsorted(np.maximum.accumulate(ts), t_mid))
    with Store.open(shm_name) as st:
        market_equal(by_token(st.snapshot()), by_token(live.snapshot()))
    assert f"the store from the state at {DATE}T{clock} ({first:,} records)" in r.stdout
    with Ring.open(shm_name) as ring:
        got = ring.reader("NSE_FO", start="oldest").poll(max_records=len(recs))
    assert got.tobytes() == recs[first:].tobytes()


def test_replay_of_a_night_past_midnight_keeps_to_its_bounds(tmp_path, shm_name):
    """A day whose rollover is after 00:00 keeps its night in its own file.  vega replay ran one replay per
    day, each day to its file's end: a range ending at 00:10 published the night to its end (00:30), with the
    next number after it; one starting at 00:05 found no file of that date and stopped ("no journal
    records"), or numbered its ring from another file."""
    from journal_helpers import make_records
    day = dt.date(2026, 11, 20)
    late = make_records(3000, seed=5, t0=(23 * 3600 + 50 * 60) * 10**9, max_step=1_600_000_000)   # to ~00:30
    with JournalWriter(tmp_path, "NSE_FO", day, rollover="02:00", first_seq=7000) as w:
        w.append(late)
    ts = timestamps(late)
    for a, b in (("2026-11-20T23:55", "2026-11-21T00:10"), ("2026-11-21T00:05", "2026-11-21T00:15")):
        lo, hi = (int(dt.datetime.fromisoformat(x).replace(tzinfo=IST).timestamp()) * 10**9 - day_epoch_ns(day)
                  for x in (a, b))
        first, stop = int(np.searchsorted(ts, lo)), int(np.searchsorted(ts, hi))
        assert 0 < first < stop < len(late)
        r = cli("replay", tmp_path, a, b, "--ring", shm_name, "--replace", "--no-progress")
        assert r.returncode == 0, r.stderr
        assert f"replayed {stop - first:,} records" in r.stdout and f"NSE_FO next_seq={7000 + stop}" in r.stdout
        with Ring.open(shm_name) as ring:
            assert ring.info("NSE_FO")["first_seq"] == 7000 + first and ring.tail("NSE_FO") == 7000 + stop
            got = ring.reader("NSE_FO", start="oldest").poll(max_records=len(late))
        assert got.tobytes() == late[first:stop].tobytes()


def test_export_names_the_days_and_feeds_without_a_file(tmp_path):
    pytest.importorskip("pyarrow")
    fri, mon, _ = _a_week_with_gaps(tmp_path / "j", 10, 23)
    r = cli("export", tmp_path / "j", tmp_path / "out", fri.isoformat(), mon.isoformat(), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3
    assert r.stderr.strip() == "vega export: no file: NSE_EQ 2026-11-23; no files on 2026-11-21, 2026-11-22"


def test_dump_selects_a_night_past_midnight_by_the_times_it_lists(tmp_path):
    """A day whose rollover is after 00:00 lists its night as 24:05:00...; --from/--to refused those times
    ("out of range"), so the night could not be selected."""
    from journal_helpers import make_records
    late = make_records(2000, seed=7, t0=(23 * 3600 + 50 * 60) * 10**9, max_step=1_600_000_000)   # to ~00:30
    with JournalWriter(tmp_path, "NSE_FO", dt.date(2026, 11, 20), rollover="02:00") as w:
        w.append(late)
        path = w.path
    ts = timestamps(late)
    lo, hi = (24 * 3600 + 5 * 60) * 10**9, (24 * 3600 + 15 * 60) * 10**9
    want = np.flatnonzero((ts >= lo) & (ts < hi))
    assert len(want)
    r = cli("dump", path, "--from", "24:05", "--to", "24:15", "--json")
    assert r.returncode == 0, r.stderr
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert [g["seq"] for g in got] == want.tolist()
    assert got[0]["time"].startswith("24:")


def test_replay_into_a_ring_says_how_many_records_the_ring_got(tmp_path, shm_name):
    """The ring carries live records only; the summary counted the checkpoints' records as replayed into it."""
    store = Store(4096)
    chunks = []
    capture("CM", 60, 11, store, chunks)
    live = np.concatenate(chunks)
    kf = store.keyframe_records()
    store.close()
    half = len(live) // 2
    while live["flags"][half - 1] & 0x01:                   # after a whole update
        half += 1
    with JournalWriter(tmp_path, "NSE_EQ", DATE) as w:
        w.append(live[:half])
        w.checkpoint(kf, ts_ns=int(timestamps(live)[half - 1]))
        w.append(live[half:])
    r = cli("replay", tmp_path, DATE.isoformat(), "--ring", shm_name, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert (f"replayed {len(live) + len(kf):,} records into ring {shm_name} ({len(live):,} live records into "
            f"the ring; the checkpoints' {len(kf):,} not)") in r.stdout
    with Ring.open(shm_name) as ring:
        assert ring.tail("NSE_EQ") == len(live)


def test_export_notes_a_day_that_is_not_sealed(tmp_path):
    """A day still being written (a running capture's) or left unsealed by a writer that stopped is exported
    as far as it goes, with exit 0 (the files are the output) and a note naming it on stderr."""
    pytest.importorskip("pyarrow")
    from journal_helpers import make_records
    with JournalWriter(tmp_path / "j", "NSE_FO", "2026-01-02", flush_interval=None) as w:
        w.append(make_records(50))
    w = JournalWriter(tmp_path / "j", "NSE_FO", "2026-01-05", flush_interval=None)    # a running capture's
    w.append(make_records(30, seed=2))
    w.flush()
    try:
        r = cli("export", tmp_path / "j", tmp_path / "out", "2026-01-02", "2026-01-05", "--no-progress")
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.splitlines()) == 2
        assert "not sealed, exported as far as they were written: NSE_FO 2026-01-05 (being written)" in r.stderr
        assert "2026-01-02 (" not in r.stderr
    finally:
        w.close()
