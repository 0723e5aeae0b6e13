"""A day's file cut inside its 64-byte header (0-63 bytes: its writer killed, or its disk full, right after
making it) holds no record, and its path names its feed and day: verify says so, --repair writes it again as an
empty sealed journal of that feed and day, and a capture restarted that day goes on with it."""
import datetime as dt
import fcntl
import os
import subprocess
import sys

import pytest
from journal_helpers import make_records

from vega._journal import pack_header
from vega.journal import Journal, JournalError, JournalWriter, replay, verify

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY = dt.date(2026, 11, 20)
#: the header a writer makes for NSE_FO on DAY (created_ns and stride are any writer's)
HEADER = pack_header(0, 0, 20261120, 0, 0, 1_780_000_000_000_000_000, 0, 0, 1024)
CUTS = [0, 1, 8, 15, 20, 63]


def _cut_file(root, n, header=HEADER, feed="NSE_FO", name="20261120.bin"):
    p = root / feed / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(header[:n])
    return p


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "vega.cli", "verify", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))


@pytest.mark.parametrize("n", CUTS)
def test_verify_names_a_cut_header_and_repair_writes_an_empty_sealed_day(tmp_path, n):
    path = _cut_file(tmp_path, n)
    rep = verify(path)
    assert not rep.ok and rep.cut_header and rep.state == "cut header" and rep.repairable and rep.records == 0
    assert any(p.startswith(f"truncated header ({n} of its 64 bytes): a cut header, no record") and "--repair" in p
               and "NSE_FO 2026-11-20" in p for p in rep.problems), rep.problems
    r = _cli(str(tmp_path))
    assert r.returncode == 1 and "(vega verify --repair to fix)" in r.stderr
    r = _cli("--repair", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK (sealed, 0 records, 0 checkpoints, repaired)" in r.stdout
    after = verify(path)
    assert after.ok and after.state == "sealed" and not after.cut_header
    with Journal.open(path) as j:
        assert j.header["feed"] == "NSE_FO" and j.header["trading_date"] == DAY and len(j) == 0
        assert j.first_seq == j.next_seq == 0
    assert replay(tmp_path, DAY, into=lambda recs: None).records == 0       # refused before the repair


def test_the_repair_api_reports_a_cut_header_mended(tmp_path):
    path = _cut_file(tmp_path, 40, feed="NSE_EQ", header=pack_header(1, 0, 20261120, 0, 0, 5, 0, 0, 1024))
    rep = verify(path, repair=True)
    assert rep.ok and rep.repaired and rep.state == "sealed"
    with Journal.open(path) as j:
        assert j.header["feed"] == "NSE_EQ" and j.header["trading_date"] == DAY and j.header["sealed"] == 1


def test_replay_and_export_say_a_cut_header_can_be_repaired(tmp_path):
    _cut_file(tmp_path, 63)
    with pytest.raises(JournalError, match=r"truncated header \(63 bytes.*no record.*vega verify --repair"):
        replay(tmp_path, DAY, into=lambda recs: None)


def test_a_cut_header_outside_a_feeds_day_path_is_not_repaired(tmp_path):
    path = tmp_path / "copy.bin"
    path.write_bytes(HEADER[:30])
    rep = verify(path)
    assert rep.cut_header and not rep.repairable
    assert any("its path does not name its feed and day" in p for p in rep.problems), rep.problems
    rep = verify(path, repair=True)
    assert not rep.ok and not rep.repaired and path.read_bytes() == HEADER[:30]
    r = _cli("--repair", str(path))
    assert r.returncode == 1 and "--repair to fix" not in r.stderr


@pytest.mark.parametrize("header", [pack_header(1, 0, 20261120, 0, 0, 5, 0, 0, 1024),     # another feed
                                    pack_header(0, 0, 20261119, 0, 0, 5, 0, 0, 1024)],    # another day
                         ids=["feed", "day"])
def test_a_cut_header_naming_another_feed_or_day_is_left_alone(tmp_path, header):
    path = _cut_file(tmp_path, 30, header=header)
    rep = verify(path)
    assert rep.cut_header and rep.misnamed and not rep.repairable
    assert not verify(path, repair=True).repaired and path.read_bytes() == header[:30]
    with pytest.raises(JournalError, match="truncated header"):
        JournalWriter(tmp_path, "NSE_FO", DAY)
    assert path.read_bytes() == header[:30]


@pytest.mark.parametrize("data", [b"hello", b"VEGAJRNX", HEADER[:8] + b"\x09\x00"],   # no header's start
                         ids=["text", "magic", "version"])
def test_short_bytes_that_begin_no_header_are_not_rewritten(tmp_path, data):
    path = _cut_file(tmp_path, 0)
    path.write_bytes(data)
    rep = verify(path)
    assert not rep.cut_header and not rep.repairable and rep.state == "?"
    assert any("truncated header" in p for p in rep.problems)
    assert not verify(path, repair=True).repaired and path.read_bytes() == data
    with pytest.raises(JournalError, match="truncated header"):
        JournalWriter(tmp_path, "NSE_FO", DAY)
    assert path.read_bytes() == data


def test_repair_refuses_a_cut_header_its_writer_holds(tmp_path):
    path = _cut_file(tmp_path, 20)
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)                  # as a writer writing the header holds it
        with pytest.raises(JournalError, match="being written"):
            verify(path, repair=True)
        r = _cli("--repair", str(path))
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "being written" in r.stderr
        assert "Traceback" not in r.stderr
        assert path.read_bytes() == HEADER[:20]
    finally:
        os.close(fd)


@pytest.mark.parametrize("n", [1, 63])
def test_a_writer_restarted_that_day_goes_on_with_a_cut_header_file(tmp_path, n):
    path = _cut_file(tmp_path, n)
    w = JournalWriter(tmp_path, "NSE_FO", DAY, checkpoint_interval=None)
    assert w.path == path and w.recovered["cut_header_bytes"] == n and not w.recovered["existed"]
    assert w.next_seq == 0
    w.append(make_records(4))
    w.close()
    rep = verify(path)
    assert rep.ok and rep.state == "sealed" and rep.records == 4
