"""A feed that falls silent (no datagram for ``silence_alarm`` seconds) is said once per silent spell, shown in
the stats, said again when datagrams come back, and a multicast feed joins its group again: a membership lost
on the way (a switch's IGMP state, an interface bounced) comes back without restarting the capture."""
import json
import re
import socket
import struct
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from vega import nse
from vega.capture import _CAPTURE_KEYS, Capture, CaptureConfig, CaptureError, FeedConfig, format_stats, \
    load_config, multicast_works
from net_helpers import free_udp_port

ROOT = Path(__file__).resolve().parent.parent
DATAGRAM = next(iter(nse.sample_stream("FO", 1, seed=3)))


def _send(group, port, multicast=False):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        if multicast:
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        tx.sendto(DATAGRAM, (group, port))


def _capture(group, port, alarm):
    cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", group, port)], stats_interval=3600.0,
                                silence_alarm=alarm))
    said = []
    cap.on_warning = said.append
    return cap, said


def test_a_silent_feed_is_said_once_per_spell_and_when_it_comes_back():
    port = free_udp_port()
    cap, said = _capture("127.0.0.1", port, 0.3)
    with cap:
        cap.run(1.0)                                     # nothing sent: one spell, said once
        assert len(said) == 1, said
        assert re.match(rf"NSE_FO: no datagram on 127\.0\.0\.1:{port} for \d+ms \(since it was opened\): a "
                        "unicast address: nothing to join", said[0]), said[0]
        st = cap.stats()["feeds"]["NSE_FO"]
        assert st["silent_s"] >= 0.3 and st["silences"] == 1 and st["rejoins"] == 0
        assert st["last_datagram_ns"] is None
        assert " SILENT " in format_stats(cap.stats())
        t0 = time.time_ns()
        _send("127.0.0.1", port)
        cap.run(5.0, until=lambda c: c.datagrams >= 1)
        assert len(said) == 2 and said[1].startswith(f"NSE_FO: datagrams again on 127.0.0.1:{port} after ")
        assert said[1].endswith("without any")
        st = cap.stats()["feeds"]["NSE_FO"]
        assert st["silent_s"] == 0 and st["silences"] == 1 and st["last_datagram_ns"] >= t0
        assert "SILENT" not in format_stats(cap.stats())
        cap.run(1.0)                                     # silent again: a second spell, said with its start
        assert len(said) == 3 and "since " in said[2] and " IST" in said[2]
        assert cap.stats()["feeds"]["NSE_FO"]["silences"] == 2


def test_a_feed_with_traffic_is_never_silent():
    port = free_udp_port()
    cap, said = _capture("127.0.0.1", port, 0.5)
    with cap:
        end = time.monotonic() + 1.5
        while time.monotonic() < end:                    # a datagram every 0.1 s: under the alarm
            _send("127.0.0.1", port)
            cap.run(0.1)
        assert said == [] and cap.stats()["feeds"]["NSE_FO"]["silences"] == 0
        assert cap.datagrams >= 10


def test_the_alarm_off_says_nothing():
    cap, said = _capture("127.0.0.1", free_udp_port(), 0)
    with cap:
        cap.run(0.6)
    assert said == [] and cap.stats()["feeds"]["NSE_FO"]["silences"] == 0


@pytest.mark.skipif(not multicast_works(), reason="multicast is not looped back on this host")
def test_a_multicast_feed_that_lost_its_membership_gets_it_back():
    """The capture's socket leaves its group behind its back (what a switch forgetting the membership, or the
    interface going down, does): datagrams stop arriving.  Once the feed is silent the capture joins the group
    again and the datagrams arrive; without the rejoin they never would."""
    group, port = "239.77.1.9", free_udp_port()
    cap, said = _capture(group, port, 0.5)
    with cap:
        f = cap.feeds[0]
        mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("127.0.0.1"))
        f.sock.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, mreq)
        _send(group, port, multicast=True)
        cap.run(0.3)
        assert cap.datagrams == 0                        # the membership is gone: nothing arrives
        cap.run(5.0, until=lambda c: c.feeds[0].rejoins >= 1)
        assert "joined the group again" in said[0]
        _send(group, port, multicast=True)
        cap.run(5.0, until=lambda c: c.datagrams >= 1)
        assert cap.datagrams == 1
        assert said[-1].startswith(f"NSE_FO: datagrams again on {group}:{port} after ")
        st = cap.stats()["feeds"]["NSE_FO"]
        assert st["silences"] == 1 and st["rejoins"] >= 1


def test_silence_alarm_in_the_config_the_flag_and_the_example(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[capture]\nsilence_alarm = 12.5\n")
    assert load_config(p).silence_alarm == 12.5
    assert load_config(p, silence_alarm=0.0).silence_alarm == 0.0
    assert load_config(None).silence_alarm == 30.0
    for bad in (-1, float("nan")):
        with pytest.raises(CaptureError, match="silence_alarm must be a number >= 0"):
            load_config(None, silence_alarm=bad)
    p.write_text('[capture]\nsilence_alarm = "soon"\n')
    with pytest.raises(CaptureError, match="capture.silence_alarm has the wrong type"):
        load_config(p)
    # the shipped example names every [capture] key, this one too
    example = tomllib.loads((ROOT / "vega" / "capture.example.toml").read_text(encoding="utf-8"))
    assert set(_CAPTURE_KEYS) - {"contract", "security", "index_master"} <= set(example["capture"])
    r = subprocess.run([sys.executable, "-m", "vega", "capture", "--silence-alarm", "-3", "--duration", "1"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0
    assert "silence_alarm must be a number >= 0" in r.stderr
    port = free_udp_port()
    r = subprocess.run([sys.executable, "-m", "vega", "capture", "--feed", f"FO=127.0.0.1:{port}", "--json",
                        "--silence-alarm", "0.2", "--duration", "1", "--stats-interval", "0.5"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    # said with the time of day it happened (a day-long log is read by it), as the stats lines show it
    assert re.search(rf"^vega capture: \d\d:\d\d:\d\d NSE_FO: no datagram on 127\.0\.0\.1:{port} ", r.stderr,
                     re.M), r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["feeds"]["NSE_FO"]["silences"] == 1
    assert abs(last["time_ns"] - time.time_ns()) < 60 * 10**9


def test_stats_lines_start_with_the_time_of_day():
    s = {"uptime_s": 12.5, "time_ns": 1_795_000_000_000_000_000, "feeds": {}, "ring": {
        "name": "r", "tails": {"NSE_FO": 3}, "readers": []}}
    assert format_stats(s) == "[16:36:40     12.5s] ring r: NSE_FO 3; no readers"    # 11:06:40 UTC
    del s["time_ns"]
    assert format_stats(s) == "[    12.5s] ring r: NSE_FO 3; no readers"
