"""Three small command-line fixes: --feed flags override a config's feeds before they are validated; a garbage
master file is quoted briefly in its one-line error; `vega ingest --json` counts link types only up to the
datagram it refuses."""
import datetime as dt
import json
import os
import re
import subprocess
import sys

import pytest

from vega.capture import Capture, CaptureError, FeedConfig, load_config
from vega.cli import main
from vega.instruments import InstrumentFileError, Instruments
from vega.pcap import PcapStats
from vega.simulator import Simulator, write_pcap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
FRI = int(dt.datetime(2026, 11, 20, 15, 0, tzinfo=IST).timestamp()) * 10**9
MON = int(dt.datetime(2026, 11, 23, 9, 15, tzinfo=IST).timestamp()) * 10**9
SAME = "feeds FO and CM are both on 239.70.2.1:34302: each group and port may carry one segment"
FLAGS = ["--feed", "FO=239.70.2.1:34302", "--feed", "CM=239.70.4.1:34304"]


def _items(n, seed, t0):
    """The simulator's datagrams of both segments, stamped 0.1 ms apart from t0 (as tests/test_pcap_ingest.py)."""
    sim = Simulator(["FO", "CM"], n, seed=seed)
    sim.generate()
    items = []
    for seg, start, k in sim._chunks(32):
        host, port = sim.targets[seg]
        for dg in sim.datagrams[seg][start:start + k]:
            items.append((t0 + len(items) * 100_000, host, port, dg))
    return items


def _ingest(*args):
    return subprocess.run([sys.executable, "-m", "vega.cli", "ingest", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))


# -- 1. --feed replaces the config's feeds before they are validated ------------------------------------------

@pytest.fixture
def same_port_toml(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[[feed]]\nsegment = "FO"\ngroup = "239.70.2.1"\nport = 34302\n'
                 '[[feed]]\nsegment = "CM"\ngroup = "239.70.2.1"\nport = 34302\n')
    return p


def test_feed_flags_replace_a_configs_feeds_on_one_group_and_port(same_port_toml, tmp_path):
    p = same_port_toml
    with pytest.raises(CaptureError, match=re.escape(f"config {p}: {SAME}")):
        load_config(p)                               # the config alone: refused, naming the file
    with pytest.raises(CaptureError, match=re.escape(f"config {p}: {SAME}")):
        load_config(p, ring="r")                     # an override of something else does not fix it
    flags = [FeedConfig("FO", "239.70.2.1", 34302), FeedConfig("CM", "239.70.4.1", 34304)]
    cfg = load_config(p, feeds=flags)
    assert [(f.segment, f.group, f.port) for f in cfg.feeds] == [("FO", "239.70.2.1", 34302),
                                                                 ("CM", "239.70.4.1", 34304)]
    # the final feeds are validated whichever side they come from
    bad = [FeedConfig("FO", "239.70.2.1", 34302), FeedConfig("CM", "239.70.2.1", 34302)]
    ok = tmp_path / "ok.toml"
    ok.write_text('[[feed]]\nsegment = "FO"\ngroup = "239.70.2.1"\nport = 34302\n')
    for path in (p, ok, None):
        with pytest.raises(CaptureError, match=re.escape(SAME)) as e:
            load_config(path, feeds=bad)
        assert not str(e.value).startswith("config "), e.value   # the flags' fault, not the file's
    # so is any other value a flag overrides
    cap = tmp_path / "cap.toml"
    cap.write_text("[capture]\nstore_capacity = 0\n")
    assert load_config(cap, store_capacity=100).store_capacity == 100
    with pytest.raises(CaptureError, match=re.escape(f"config {cap}: store_capacity must be")):
        load_config(cap, ring="r")
    with pytest.raises(CaptureError, match=r"^store_capacity must be"):
        load_config(None, store_capacity=0)


def test_capture_and_ingest_commands_take_the_flags_over_the_config(same_port_toml, tmp_path, capsys):
    p = same_port_toml
    # capture: past the config to the next check (--duration), so no socket is opened
    assert main(["capture", "--config", str(p), *FLAGS, "--duration", "-1"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "vega capture: --duration must be positive", err
    assert main(["capture", "--config", str(p), "--duration", "-1"]) == 1
    assert SAME in capsys.readouterr().err
    assert main(["capture", "--config", str(p), "--feed", "FO=239.70.2.1:34302", "--feed", "CM=239.70.2.1:34302",
                 "--duration", "-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vega capture: {SAME}") and len(err.strip().splitlines()) == 1, err
    # ingest: the flags' feeds receive the capture
    pcap = tmp_path / "s.pcap"
    write_pcap(pcap, _items(40, seed=2, t0=MON))
    r = _ingest(pcap, "--config", p, *FLAGS, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["other_destination"] == 0
    assert s["feeds"]["NSE_FO"]["datagrams"] == s["feeds"]["NSE_EQ"]["datagrams"] == 40
    r = _ingest(pcap, "--config", p)
    assert r.returncode == 1 and f"config {p}: {SAME}" in r.stderr, r.stderr


# -- 2. a garbage master file: one short line ---------------------------------------------------------------

@pytest.mark.parametrize("which", ["contract", "security"])
@pytest.mark.parametrize("junk", [bytes(range(128, 256)) * 8, bytes(range(256)) * 8, b"x" * 5000, "random"],
                         ids=["high-bytes", "all-bytes", "one-long-line", "random"])
def test_a_garbage_master_file_is_quoted_briefly(tmp_path, which, junk):
    import random
    if junk == "random":
        junk = bytes(c for c in random.Random(7).randbytes(20000) if c not in b"\r\n")   # one long line
    p = tmp_path / f"{which}.txt"
    p.write_bytes(junk)
    with pytest.raises(InstrumentFileError) as e:
        Instruments.load(**{f"{which}_path": p})
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and msg.startswith(f"{p}:1: header NEAT"), msg
    quoted = msg.split(" expected, got ", 1)[1]
    assert len(quoted) <= 40 + len(" ..."), msg
    assert len(msg) - len(str(p)) < 100, msg         # (the quote was up to ~160 characters of escapes)
    # the command line says it in one line too
    pcap = tmp_path / "s.pcap"
    write_pcap(pcap, _items(10, seed=3, t0=MON))
    r = _ingest(pcap, f"--{which}", p)
    err = r.stderr.strip()
    assert r.returncode == 1 and len(err.splitlines()) == 1 and str(p) in err and "Traceback" not in err, err
    assert len(err) - len(str(p)) < 135, err


def test_short_content_is_quoted_whole():
    from vega.instruments import _quote
    assert _quote("NEATCM|6.3|0") == "'NEATCM|6.3|0'"
    assert _quote("x" * 38) == repr("x" * 38)       # 40 characters with its quotes
    assert _quote("x" * 39) == repr("x" * 38) + " ..."
    assert _quote("\x80" * 50) == repr("\x80" * 9) + " ..."
    assert len(_quote("'\"" * 50)) <= 44


def test_a_garbage_field_is_quoted_briefly_in_the_skipped_lines(tmp_path):
    p = tmp_path / "security.txt"
    fields = ["\x81" * 200] + ["1"] * 53
    p.write_bytes(("NEATCM|6.3|0\n" + "|".join(fields) + "\n").encode("latin-1"))
    ins = Instruments.load(security_path=p)
    assert len(ins) == 0 and len(ins.errors) == 1
    assert len(ins.errors[0][2]) < 90, ins.errors


# -- 3. `vega ingest --json` stops its link-type counts at the refused datagram -----------------------------

def test_ingest_json_link_types_stop_at_the_refused_datagram(tmp_path):
    """The refused datagram and what follows are counted nowhere: not in packets, udp_datagrams, the feeds,
    nor link_types (which before counted on to the end of the refused datagram's batch).  A clock that jumps
    back a day part way through one file is no refusal: those datagrams are corrupt times, counted as packets
    of their link type and as skipped, not as UDP datagrams."""
    fri = _items(300, seed=21, t0=FRI)
    mon = [(t - FRI + MON, h, p, d) for t, h, p, d in fri]
    write_pcap(tmp_path / "fri.pcap", fri)
    write_pcap(tmp_path / "mon.pcap", mon)
    write_pcap(tmp_path / "both.pcap", mon + fri)       # a clock that jumps back a day part way
    r = _ingest(tmp_path / "mon.pcap", tmp_path / "fri.pcap", "--json")
    assert r.returncode == 1 and "earlier than the trading day 2026-11-23" in r.stderr, r.stderr
    s = json.loads(r.stdout)
    assert s["packets"] == s["udp_datagrams"] == len(mon), s
    assert sum(d["datagrams"] for d in s["feeds"].values()) == len(mon)
    assert s["link_types"] == {"RAW": len(mon)}, s
    r = _ingest(tmp_path / "both.pcap", "--json")
    assert r.returncode == 0 and f"vega ingest: {len(fri)} datagrams stamped on an earlier day" in r.stderr, r.stderr
    s = json.loads(r.stdout)
    assert (s["packets"], s["udp_datagrams"], s["skipped"]) == (2 * len(mon), len(mon),
                                                                {"earlier_day_timestamp": len(fri)}), s
    assert sum(d["datagrams"] for d in s["feeds"].values()) == len(mon)
    assert s["link_types"] == {"RAW": 2 * len(mon)}, s


@pytest.mark.parametrize("batch", [7, 64, 600, 4096])
def test_ingest_pcap_counts_stop_at_the_refusal_in_any_batch(tmp_path, batch):
    """Monday being written, a file of Sunday 23:30 (within the hour before the day: in, at 00:00, but none of
    Monday's) then Friday's: refused at Friday's first, the counts stopping there whatever the batch."""
    fri = _items(100, seed=4, t0=FRI)
    sun = [(t - FRI + MON - (9 * 3600 + 45 * 60) * 10**9, h, p, d) for t, h, p, d in fri]
    write_pcap(tmp_path / "both.pcap", sun[:150] + fri[:10] + sun[150:])
    st = PcapStats()
    cap = Capture(load_config(None))
    cap.open(offline_ns=MON)
    try:
        with pytest.raises(CaptureError, match="earlier than the trading day"):
            cap.ingest_pcap([tmp_path / "both.pcap"], st, batch=batch)
        assert st.packets == st.datagrams == 150
        assert st.link_types == {"RAW": 150}
        assert sum(f["datagrams"] for f in cap.stats()["feeds"].values()) == 150
    finally:
        cap.close()


def test_uncounting_takes_from_the_link_types_the_batch_counted():
    from vega.capture import _uncount_links
    links = {"RAW": 10, "EN10MB": 7}
    _uncount_links(links, {"RAW": 10, "EN10MB": 2}, 3)
    assert links == {"RAW": 10, "EN10MB": 4}
    links = {"EN10MB": 5}
    _uncount_links(links, {}, 5)                     # a type counted only past the refusal goes
    assert links == {}
    links = {"RAW": 4, "EN10MB": 9, "LINUX_SLL": 1}
    _uncount_links(links, {"RAW": 1, "EN10MB": 1}, 9)
    assert sum(links.values()) == 14 - 9 and all(v > 0 for v in links.values()) and links["RAW"] >= 1


@pytest.mark.parametrize("exc, line", [
    (lambda: __import__("vega").StoreError("record 57030 stayed locked: its writer died inside an update"),
     "vega stat: record 57030 stayed locked: its writer died inside an update"),
    (lambda: __import__("vega").JournalError("x.bin: index table damaged"), "vega stat: x.bin: index table damaged"),
    (lambda: ValueError("bad value"), "vega stat: ValueError: bad value"),
    (lambda: __import__("vega").StoreError(), "vega stat: StoreError: "),
])
def test_an_unexpected_error_is_one_line_and_vegas_own_say_it_without_their_class(monkeypatch, capsys, exc, line):
    """VEGA's errors are worded for the operator (`vega watch: StoreError: record ... stayed locked` read like a
    traceback's last line); a foreign one keeps its class, which is half of what it says."""
    import vega.commands.stat as stat

    def run(args):
        raise exc()
    monkeypatch.setattr(stat, "run", run)
    assert main(["stat", "any-ring"]) == 1
    assert capsys.readouterr().err == line + "\n"
