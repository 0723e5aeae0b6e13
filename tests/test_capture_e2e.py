"""End to end: simulator -> UDP on loopback -> capture -> store, ring, journal.

Every simulated message is accounted for (received, applied, journaled, published to the ring), and replaying
the journal into a fresh store reproduces the live store field by field.  Multicast on loopback when the
kernel loops it back, else unicast on 127.0.0.1 (the same code path past the socket)."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import vega
from vega import Journal, verify
from vega.capture import (Capture, CaptureConfig, FeedConfig, compare_stores, load_config, multicast_works,
                          replay_journal_into)
from vega.cli import main
from vega.records import KEYFRAME
from vega.simulator import DEFAULT_FEEDS, Simulator, read_pcap

from net_helpers import free_udp_port

ROOT = Path(__file__).resolve().parent.parent
MULTICAST = multicast_works()


def _targets(segments):
    return {s: (DEFAULT_FEEDS[s][0] if MULTICAST else "127.0.0.1", free_udp_port()) for s in segments}


def _config(targets, tmp_path, **kw):
    return CaptureConfig(feeds=[FeedConfig(s, *t) for s, t in targets.items()], journal_root=str(tmp_path / "j"),
                         ring=f"vega-test-e2e-{os.getpid()}", stats_interval=3600.0, checkpoint_interval=0.1, **kw)


def _capture_all(cap, total, sender, timeout=30.0):
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    cap.run(timeout, until=lambda c: c.datagrams >= total)
    th.join(10)
    assert not th.is_alive()


def test_every_message_accounted_for_and_replay_reproduces_store(tmp_path):
    targets = _targets(["FO", "CM"])
    sim = Simulator(["FO", "CM"], 1500, seed=11, targets=targets)
    sim.generate()
    cap = Capture(_config(targets, tmp_path))
    cap.open()
    try:
        reader = {f.name: cap.ring.reader(f.name, name=f"t-{f.name}", start="oldest") for f in cap.feeds}
        got = {f.name: [] for f in cap.feeds}

        def read_ring(c):
            for name, r in reader.items():
                got[name].append(r.poll(1 << 20))
            return c.datagrams >= total

        total = sum(e.datagrams for e in sim.expected.values())

        def keep_pace():
            # the sender stays at most 256 datagrams ahead of the capture.  A capture starved of CPU (a
            # loaded host) would otherwise take more records in one step than a ring slot holds (32,768),
            # and this reader, which polls between steps, would be lapped: lost records, not a fault
            deadline = time.monotonic() + 20.0
            while sum(sim.sent.values()) - cap.datagrams > 256 and time.monotonic() < deadline:
                time.sleep(0.0005)
            return False

        th = threading.Thread(target=sim.send, args=(8000.0,), kwargs={"stop": keep_pace}, daemon=True)
        th.start()
        cap.run(30.0, until=read_ring)
        th.join(10)
        read_ring(cap)
        ring_tail = {f.name: cap.ring.tail(f.name) for f in cap.feeds}
        lost = {name: r.lost for name, r in reader.items()}
        stats = cap.stats()
    finally:
        cap.close()
    try:
        for f in cap.feeds:
            exp = sim.expected[f.segment]
            st = f.handler.stats
            # received: every datagram and message the simulator generated and sent
            assert sim.sent[f.segment] == exp.datagrams == f.datagrams
            assert st["datagrams"] == exp.datagrams and st["messages"] == exp.messages
            assert Counter({k: v for k, v in st["by_code"].items() if v}) == exp.by_code
            assert not any(st["errors"].values())
            assert all(s["gaps"] == 0 and s["missed"] == 0 for s in st["streams"].values())
            # applied: nothing skipped (every message merged: counted over all feeds below)
            assert st["merge"]["bad_token"] == st["merge"]["store_full"] == st["merge"]["records_dropped"] == 0
            # journaled and published: every change record, plus checkpoints in the journal
            assert verify(f.writer.path).ok
            with Journal.open(f.writer.path) as j:
                assert j.sealed
                live = np.array(j.records[(j.records["flags"] & KEYFRAME) == 0])
                assert len(live) == st["records"]
                assert len(j.checkpoints) >= 1
                next_seq = j.next_seq
            # the ring carries the journal's live stream (checkpoints stay in the journal: they take no
            # sequence numbers), so ring positions = journal sequence numbers
            assert ring_tail[f.name] == next_seq == len(live)
            assert stats["feeds"][f.name]["journal"]["records"] >= st["records"]
            sj = stats["feeds"][f.name]["journal"]            # its numbered records are the ring's, in the stats too
            assert sj["records"] - sj["checkpoint_records"] == ring_tail[f.name] and sj["checkpoint_records"] > 0
            # replay: the journal alone reproduces every market field of the live store
            replayed = replay_journal_into(f.writer.path, 65536, f.store.header["day_base_ns"])
            n, bad = compare_stores(f.store, replayed)
            assert n == len(f.store) > 100 and bad == []
            # the ring carried the same records, in order, and no checkpoint lapped the reader
            ring_recs = np.concatenate(got[f.name])
            assert lost[f.name] == 0 and len(ring_recs) == ring_tail[f.name]
            assert np.array_equal(ring_recs.view(np.uint8), live.view(np.uint8))
        # applied: every message merged, by the handler whose store it belongs to (CM 7207/7216/8207 by the
        # index feed NFO_IDX, F&O 7130/17130 by the CM feed)
        merged = Counter()
        for f in cap.all_feeds:
            merged.update({k: v for k, v in f.handler.stats["merged_by_code"].items() if v})
        assert merged == sum((e.by_code for e in sim.expected.values()), Counter())
        # the index feed: its journal replays to its store, which ends with the last values sent per name
        ix = cap.index_feed
        assert verify(ix.writer.path).ok and ix.writer.path.parent.name == "NFO_IDX"
        n, bad = compare_stores(ix.store, replay_journal_into(ix.writer.path, 4096, ix.store.header["day_base_ns"]))
        assert n == len(sim.expected["CM"].indices) and bad == []
        names = ix.handler.index_names()
        rows = {names[int(r["token"])]: r for r in ix.store.snapshot().view(vega.INDEX_DTYPE)}
        for name, rec in sim.expected["CM"].indices.items():
            assert rows[name]["index_value"] == rec["index_value"] and rows[name]["close"] == rec["closing_index"]
        assert rows["Nifty 50"]["token"] == 26000
        # open interest per underlying: on the CM store's record of the underlying
        cm = next(f for f in cap.feeds if f.segment == "CM").store
        for token, oi in sim.expected["FO"].underlying_oi.items():
            assert cm[token].open_interest == oi
    finally:
        cap.unlink()


def test_simulator_subprocess_to_capture_cli_sigterm_seals_journal(tmp_path):
    """Two processes through the command line: vega simulate sends, vega capture receives and is stopped by
    SIGTERM; the journal is sealed and the final JSON stats account for every message."""
    targets = _targets(["FO"])
    group, port = targets["FO"]
    n = 800
    expected = Simulator(["FO"], n, seed=3, targets=targets)
    expected.generate()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cap = subprocess.Popen([sys.executable, "-m", "vega.cli", "capture", "--feed", f"FO={group}:{port}",
                            "--journal-root", str(tmp_path), "--json", "--stats-interval", "0.3"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = cap.stderr.readline()                       # "receiving ..." once the groups are joined
        assert "receiving" in line, line + cap.stderr.read()
        sim = subprocess.run([sys.executable, "-m", "vega.cli", "simulate", "--segments", "FO", "--datagrams",
                              str(n), "--seed", "3", "--fo", f"{group}:{port}", "--rate", "4000", "--quiet"],
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
        assert sim.returncode == 0, sim.stderr
        assert f"sent {n:,} datagrams" in sim.stdout
        deadline = time.monotonic() + 20
        last = None
        while time.monotonic() < deadline:                # JSON stats lines until everything arrived
            out = cap.stdout.readline()
            if not out:
                break
            last = json.loads(out)
            if last["feeds"]["NSE_FO"]["datagrams"] >= n:
                break
        cap.send_signal(signal.SIGTERM)
        rest, err = cap.communicate(timeout=20)
    finally:
        if cap.poll() is None:
            cap.kill()
            cap.wait()
    assert cap.returncode == 0, err
    assert "journal sealed" in err and "Traceback" not in err
    final = json.loads(rest.strip().splitlines()[-1])
    fo = final["feeds"]["NSE_FO"]
    assert fo["datagrams"] == n and fo["messages"] == expected.expected["FO"].messages
    assert fo["errors"] == {} and fo["gaps"] == 0
    assert {int(k): v for k, v in fo["by_code"].items()} == dict(expected.expected["FO"].by_code)
    rep = verify(fo["journal"]["path"])
    assert rep.ok and rep.state == "sealed" and rep.records == fo["journal"]["records"]


def test_demo_exits_0_and_shows_what_landed(capsys):
    assert main(["demo", "--seconds", "1", "--rate", "1500", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "busiest of" in out and "verify OK" in out
    assert out.count("identical to the live store") == 3          # NSE_FO, NSE_EQ and NFO_IDX journals
    assert "== indices (NFO_IDX, ring slot 2)" in out
    assert "all simulated messages landed" in out
    # the documented broadcasts the simulator sends, counted apart from the merged codes (the day's states once)
    counted = [ln for ln in out.splitlines() if "messages by code, counted, not merged:" in ln]
    assert len(counted) == 2 and all("6511:1, " in ln and "6521:1, " in ln and "7206:1" in ln for ln in counted)
    merged = [ln for ln in out.splitlines() if "messages by code, merged:" in ln]
    assert len(merged) == 2 and not any("6511:" in ln or "7206:" in ln or "6541:" in ln for ln in merged)
    assert all("6541:" in ln for ln in counted)                 # the circuit check, a bare header


def test_unicast_loopback_feed(tmp_path):
    port = free_udp_port()
    targets = {"CM": ("127.0.0.1", port)}
    sim = Simulator(["CM"], 400, seed=5, targets=targets, phases=False)
    sim.generate()
    cap = Capture(_config(targets, tmp_path))
    cap.open()
    try:
        _capture_all(cap, 400, lambda: sim.send(None))
        assert cap.feeds[0].handler.stats["messages"] == sim.expected["CM"].messages
    finally:
        cap.close()
        cap.unlink()


def test_phases_reach_the_store_in_order():
    """The pre-open and auction phases precede trading: early 7208s carry TradingStatus 1 then 6, later 2."""
    from vega import _streams
    statuses = [r["trading_status"] for _, m in _streams.sample_messages("FO", 600, seed=4, phases=True)
                if m["transaction_code"] == 7208 for r in m["records"]]
    first_open = statuses.index(2)
    assert set(statuses[:first_open]) == {1, 6} and 2 not in statuses[:first_open]
    assert statuses.index(6) > 0 and statuses[:statuses.index(6)] == [1] * statuses.index(6)
    assert set(statuses[first_open:]) == {2}


def test_pcap_round_trip(tmp_path):
    sim = Simulator(["FO", "CM"], 50, seed=2)
    path = tmp_path / "sim.pcap"
    assert sim.write(path) == 100
    pkts = list(read_pcap(path))
    assert len(pkts) == 100
    by_port = {}
    for ts, host, port, payload in pkts:
        by_port.setdefault((host, port), []).append(payload)
    assert by_port[DEFAULT_FEEDS["FO"]] == sim.datagrams["FO"]
    assert by_port[DEFAULT_FEEDS["CM"]] == sim.datagrams["CM"]
    assert [p[0] for p in pkts] == sorted(p[0] for p in pkts)


def test_example_config_and_flag_overrides(tmp_path):
    cfg = load_config(ROOT / "vega" / "capture.example.toml")
    assert [(f.segment, f.group, f.port) for f in cfg.feeds] == [("FO", "239.70.2.1", 34302),
                                                                ("CM", "239.70.4.1", 34304)]
    assert cfg.ring == "vega" and cfg.stats_interval == 5.0
    cfg = load_config(ROOT / "vega" / "capture.example.toml", ring="other", stats_interval=None,
                      feeds=[FeedConfig("CM", "127.0.0.1", 9999)])
    assert cfg.ring == "other" and cfg.stats_interval == 5.0 and len(cfg.feeds) == 1


def test_simulator_refuses_non_loopback_targets():
    from vega.simulator import SimulatorError
    with pytest.raises(SimulatorError, match="only sends on loopback"):
        Simulator(["FO"], 10, targets={"FO": ("8.8.8.8", 5000)})


def test_capture_cli_text_stats_and_duration(tmp_path):
    port = free_udp_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "vega.cli", "capture", "--feed", f"CM=127.0.0.1:{port}",
                        "--duration", "0.6", "--stats-interval", "0.2", "--ring", f"vega-test-cli-{os.getpid()}"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    try:
        assert r.returncode == 0, r.stderr
        lines = [x for x in r.stdout.splitlines() if "NSE_EQ:" in x]
        assert len(lines) >= 2 and all("0 dgrams" in x for x in lines)
        assert "ring vega-test-cli-" in r.stdout
        assert re.fullmatch(r"vega capture: stopped at \d\d:\d\d:\d\d IST", r.stderr.splitlines()[-1]), r.stderr
        assert "; stores private (no store prefix in the config)" in r.stderr.splitlines()[0], r.stderr
    finally:
        from vega._ring import Ring
        Ring.unlink(f"vega-test-cli-{os.getpid()}")
