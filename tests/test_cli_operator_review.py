"""Command-line fixes from an operator review: a bad --store prefix is refused naming the prefix given, not a
store derived from it; a bad time or date says every form the command takes; an ingest that fed no feed leaves
no day files; a journal failure ends a capture with one short line."""
import datetime as dt
import json
import os
import re
import subprocess
import sys

import pytest

from vega.capture import CaptureError, load_config
from vega.cli import main
from vega.journal import Journal
from vega.simulator import Simulator, write_pcap

from net_helpers import free_udp_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
FRI = int(dt.datetime(2026, 11, 20, 10, 0, tzinfo=IST).timestamp()) * 10**9
MON = int(dt.datetime(2026, 11, 23, 10, 0, tzinfo=IST).timestamp()) * 10**9


def _err_line(capsys):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- 1. a store prefix the store names cannot be made of ------------------------------------------------------

@pytest.mark.parametrize("prefix", ["a/b", "-a", "é", "x" * 98])
def test_a_bad_store_prefix_is_refused_naming_the_prefix_given(prefix, capsys):
    assert main(["capture", f"--store={prefix}", "--remove-shm"]) == 1
    line = _err_line(capsys)
    assert line.startswith(f"vega capture: store {prefix!r}: a store name prefix is 1-97 characters of "
                           "[A-Za-z0-9_.-], the first a letter or digit"), line
    assert "-fo'" not in line and "-idx'" not in line            # not a store made of it: what was typed


def test_the_longest_store_prefix_is_taken(capsys):
    assert load_config(None, store="x" * 97).store == "x" * 97    # its -idx store is 101 characters


def test_a_bad_store_prefix_in_a_config_is_named_with_its_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[capture]\nstore = "desk/1"\n')
    with pytest.raises(CaptureError, match=re.escape(f"config {p}: store 'desk/1': a store name prefix is")):
        load_config(p)


# -- 2. times and dates: the forms each command takes ----------------------------------------------------------

BOUND = ("expected a date, YYYY-MM-DD, YYYYMMDD, today or yesterday (IST), or a date and IST time, "
         "YYYY-MM-DDTHH:MM[:SS[.fraction]] (a space or T between them)")


@pytest.mark.parametrize("text, why", [
    ("x", BOUND),
    ("10:30", BOUND),                                   # a time alone: no day to replay
    ("2026-11-20T10:3", BOUND),                          # named whole, not only its time part
    ("2026-11-20T", BOUND),
    ("2026-11-20T25:00", "time of day out of range (00:00 to 23:59:59.999999999)"),
    ("2026-02-30", "not a calendar date"),
    ("2026-13-01T10:30", "not a calendar date"),
    # a datetime holds microseconds: the nanoseconds were cut off without a word
    ("2026-11-20T10:30:00.000000001", "a time bound is taken to the microsecond (at most 6 digits after the second)"),
])
def test_replay_says_every_form_of_a_bound(tmp_path, capsys, text, why):
    (tmp_path / "NSE_FO").mkdir()
    assert main(["replay", str(tmp_path), text, "--store", "h81-never-made"]) == 1
    assert _err_line(capsys) == f"vega replay: bad start {text!r}: {why}"
    assert main(["replay", str(tmp_path), "2026-11-20", text, "--store", "h81-never-made"]) == 1
    assert _err_line(capsys) == f"vega replay: bad end {text!r}: {why}"


@pytest.mark.parametrize("text", ["20261120T10:30", "2026-11-20 10:30:00.5", "20261120", "2026-11-20T09:15",
                                  "2026-11-20T10:30:00.123456000"])
def test_replay_takes_each_form_it_names(tmp_path, capsys, text):
    (tmp_path / "NSE_FO").mkdir()
    assert main(["replay", str(tmp_path), text, "--store", "h81-never-made"]) == 1   # parsed; no records there
    assert "no journal records under" in _err_line(capsys)


def test_export_says_what_it_takes(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    (tmp_path / "NSE_FO").mkdir()
    assert main(["export", str(tmp_path), str(tmp_path / "o"), "2026-11-20T10:00"]) == 1
    assert _err_line(capsys) == ("vega export: bad start date '2026-11-20T10:00': expected YYYY-MM-DD, YYYYMMDD, "
                                 "today or yesterday (IST)")
    assert main(["export", str(tmp_path), str(tmp_path / "o"), "20261131"]) == 1
    assert _err_line(capsys) == "vega export: bad start date '20261131': not a calendar date"


def test_dump_says_the_range_of_a_time(tmp_path, capsys):
    assert main(["dump", str(tmp_path / "x.bin"), "--from", "48:00"]) == 1
    assert _err_line(capsys) == ("vega dump: bad --from time '48:00': time of day out of range "
                                 "(00:00 to 47:59:59.999999999)")
    assert main(["dump", str(tmp_path / "x.bin"), "--to", "9.15"]) == 1
    assert _err_line(capsys) == "vega dump: bad --to time '9.15': expected HH:MM[:SS[.fraction]] (IST)"
    # digits of another script are not a time: int() would read '\u0661\u0660' as 10 (as parse_tokens refuses '\u00b2')
    assert main(["dump", str(tmp_path / "x.bin"), "--to", "\u0661\u0660:00"]) == 1
    assert _err_line(capsys) == "vega dump: bad --to time '\u0661\u0660:00': expected HH:MM[:SS[.fraction]] (IST)"


# -- 3. an ingest that fed a feed nothing: no day file of it ---------------------------------------------------

FO_ONLY = ["--feed", "FO=239.70.2.1:34302", "--feed", "CM=239.9.9.9:1111"]     # CM: a group the capture lacks
NOWHERE = ["--feed", "FO=239.9.9.9:1111"]


def _fo_items(n, t0, host="239.70.2.1", port=34302):
    """n F&O datagrams of the simulator, 0.1 ms apart from t0, sent to host:port."""
    sim = Simulator(["FO"], n, seed=5)
    sim.generate()
    return [(t0 + k * 100_000, host, port, dg) for k, dg in enumerate(sim.datagrams["FO"])]


def _ingest(*args):
    return subprocess.run([sys.executable, "-m", "vega.cli", "ingest", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))


def _day_files(root):
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*.bin"))


def test_an_ingest_that_fed_no_feed_leaves_no_day_files_and_exits_1(tmp_path):
    write_pcap(tmp_path / "s.pcap", _fo_items(50, FRI))
    r = _ingest(tmp_path / "s.pcap", "--journal-root", tmp_path / "j", "--ring=", "--store=", *NOWHERE)
    assert r.returncode == 1
    assert r.stderr.strip() == ("vega ingest: none of the 50 UDP datagrams went to a configured feed "
                                "(FO=239.9.9.9:1111): check --feed or the config's groups and ports against the "
                                "capture's destinations")
    assert _day_files(tmp_path / "j") == []                  # was NSE_FO/20261120.bin, sealed and empty
    fo = next(x for x in r.stdout.splitlines() if x.startswith("NSE_FO:"))
    assert fo.endswith(f"; no journal: nothing came for it, its empty day file removed "
                       f"({tmp_path / 'j' / 'NSE_FO' / '20261120.bin'})"), fo


def test_only_the_feeds_that_got_nothing_lose_their_day_file(tmp_path):
    write_pcap(tmp_path / "s.pcap", _fo_items(50, FRI))
    r = _ingest(tmp_path / "s.pcap", "--journal-root", tmp_path / "j", "--ring=", "--store=", *FO_ONLY, "--json")
    assert r.returncode == 0, r.stderr
    # NSE_EQ got no datagram, but the F&O feed's open interest per underlying (7130/17130) is in its journal
    assert _day_files(tmp_path / "j") == ["NSE_EQ/20261120.bin", "NSE_FO/20261120.bin"]
    feeds = json.loads(r.stdout)["feeds"]
    assert feeds["NSE_EQ"]["datagrams"] == 0 and feeds["NSE_EQ"]["records"] > 0
    assert feeds["NFO_IDX"]["journal"]["path"] is None
    assert feeds["NFO_IDX"]["journal"]["removed"] == [str(tmp_path / "j" / "NFO_IDX" / "20261120.bin")]
    assert feeds["NSE_FO"]["journal"]["removed"] == feeds["NSE_EQ"]["journal"]["removed"] == []


def test_a_day_that_got_nothing_loses_its_file_and_the_day_before_keeps_its(tmp_path):
    write_pcap(tmp_path / "s.pcap", _fo_items(50, FRI) + _fo_items(50, MON, host="239.9.9.9"))
    r = _ingest(tmp_path / "s.pcap", "--journal-root", tmp_path / "j", "--ring=", "--store=", "--feed",
                "FO=239.70.2.1:34302", "--json")
    assert r.returncode == 0, r.stderr
    assert _day_files(tmp_path / "j") == ["NSE_FO/20261120.bin"]          # Monday's: made at the rollover, empty
    j = json.loads(r.stdout)["feeds"]["NSE_FO"]["journal"]
    assert j["path"] is None and j["removed"] == [str(tmp_path / "j" / "NSE_FO" / "20261123.bin")]
    assert [e["path"] for e in j["earlier_days"]] == [str(tmp_path / "j" / "NSE_FO" / "20261120.bin")]


def test_a_day_file_that_was_there_before_is_kept(tmp_path):
    write_pcap(tmp_path / "a.pcap", _fo_items(50, FRI))
    write_pcap(tmp_path / "b.pcap", _fo_items(50, FRI + 3600 * 10**9))   # an hour later, the same day
    assert _ingest(tmp_path / "a.pcap", "--journal-root", tmp_path / "j", "--ring=", "--store=",
                   "--feed", "FO=239.70.2.1:34302").returncode == 0
    path = tmp_path / "j" / "NSE_FO" / "20261120.bin"
    with Journal.open(path) as j:
        n = len(j)
    r = _ingest(tmp_path / "b.pcap", "--journal-root", tmp_path / "j", "--ring=", "--store=", *NOWHERE)
    assert r.returncode == 1 and "none of the 50 UDP datagrams went to a configured feed" in r.stderr
    with Journal.open(path) as j:
        assert j.sealed and len(j) == n                   # the first ingest's, as it was
    assert _day_files(tmp_path / "j") == ["NSE_FO/20261120.bin"]


# -- 4. a journal failure during a capture: the details once, in the warnings; a short last line --------------

_FAIL_AFTER_OPEN = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)              # a write past the limit fails with EFBIG instead
import vega.capture as c
opened = c.Capture.open
def open_then_fill(self, **kw):                            # the day's files made: from here on the disk is full
    r = opened(self, **kw)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
    return r
c.Capture.open = open_then_fill
from vega.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_journal_failure_ends_the_capture_with_one_short_line(tmp_path):
    r = subprocess.run([sys.executable, "-c", _FAIL_AFTER_OPEN, "capture", "--feed", f"FO=127.0.0.1:{free_udp_port()}",
                        "--feed", f"CM=127.0.0.1:{free_udp_port()}", "--journal-root", str(tmp_path), "--ring=",
                        "--store=", "--duration", "0.3"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == (f"vega capture: stopped; the journals of NSE_FO, NSE_EQ and NFO_IDX failed, as the warnings "
                         f"above say (vega verify {tmp_path} checks the files)")
    for feed in ("NSE_FO", "NSE_EQ", "NFO_IDX"):             # the details: once each, in the warnings
        path = str(tmp_path / feed)
        (warning,) = [x for x in lines if path in x]
        assert "File too large at its last flush or seal (unsealed, recoverable)" in warning
    assert "Traceback" not in r.stderr
