"""The simulator's streamed mode (``stream=True``, ``vega simulate --stream``): each chunk is generated just
before it is sent or written, so a long run holds no more than a chunk of datagrams.  Before, a run of
--rate 1500 --duration 2100 made all 3.15 million datagrams (~2 GB) first, for minutes, before sending one."""
import os
import socket
import subprocess
import sys
import tracemalloc
from pathlib import Path

from vega.simulator import Simulator, read_pcap

ROOT = Path(__file__).resolve().parents[1]


def _payloads(path):
    return [(host, port, dg) for _, host, port, dg in read_pcap(path)]


def test_a_streamed_pcap_holds_the_same_datagrams_in_the_same_order(tmp_path):
    made, streamed = Simulator(("FO", "CM"), 600, seed=5), Simulator(("FO", "CM"), 600, seed=5)
    made.write(tmp_path / "made.pcap", rate=5000)
    streamed.write(tmp_path / "streamed.pcap", rate=5000, stream=True)
    want = _payloads(tmp_path / "made.pcap")
    assert len(want) == 1200 and _payloads(tmp_path / "streamed.pcap") == want
    assert streamed.datagrams == {} and streamed.sent == made.sent == {"FO": 600, "CM": 600}
    for seg in ("FO", "CM"):                          # what a demo checks against is counted alike
        assert streamed.expected[seg].datagrams == made.expected[seg].datagrams == 600
        assert streamed.expected[seg].messages == made.expected[seg].messages > 600


def _peak(n, stream, path):
    sim = Simulator(("FO", "CM"), n, seed=2)
    tracemalloc.start()
    try:
        sim.write(path, rate=5000, stream=stream)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streamed_memory_does_not_grow_with_the_run(tmp_path):
    p = tmp_path / "x.pcap"
    grown = {s: _peak(12_000, s, p) - _peak(3_000, s, p) for s in (False, True)}
    per_datagram = grown[False] / (2 * 9_000)         # made first: every datagram held at once
    assert per_datagram > 300, grown                  # (~560 bytes each and their objects)
    assert grown[True] < grown[False] / 4, grown     # (the generator's own tables: under 1.5 MB here)


def test_a_streamed_send_arrives_in_order():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.settimeout(5)
    port = rx.getsockname()[1]
    want = Simulator(("CM",), 400, seed=9)
    want.generate()
    sim = Simulator(("CM",), 400, seed=9, targets={"CM": ("127.0.0.1", port)})
    assert sim.send(20_000, stream=True) == {"CM": 400}
    got = [rx.recv(65536) for _ in range(400)]
    rx.close()
    assert got == want.datagrams["CM"] and sim.datagrams == {}


def _simulate(tmp_path, flag, *args):
    """`vega simulate ARGS --out FILE FLAG...`, which must succeed: (the file's datagrams, the process)."""
    out = tmp_path / f"s{len(flag)}.pcap"
    r = subprocess.run([sys.executable, "-m", "vega.cli", "simulate", *args, "--out", str(out), *flag],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return _payloads(out), r


def test_vega_simulate_stream_writes_the_same_file(tmp_path):
    outs = {}
    for flag in ([], ["--stream"]):
        outs[bool(flag)], r = _simulate(tmp_path, flag, "--datagrams", "300", "--seed", "4")
        assert "wrote 600 datagrams" in r.stdout
        assert ("generated while sent" in r.stderr) == bool(flag), r.stderr
    assert outs[True] == outs[False] and len(outs[True]) == 600


def test_vega_simulate_sends_the_broadcasts_unless_no_broadcasts(tmp_path):
    """The documented broadcasts VEGA counts without merging (tests/test_sim_broadcasts.py) are on by default."""
    import vega
    codes = {}
    for flag in ([], ["--no-broadcasts"]):
        dgs, _ = _simulate(tmp_path, flag, "--segments", "FO", "--datagrams", "300", "--quiet")
        codes[bool(flag)] = {m["transaction_code"] for _, _, dg in dgs for m in vega.decode(dg, "FO")}
    added = {7206, 6531, 6571, 6511, 6521, 6522, 7211}
    assert added <= codes[False] and not codes[True] & (added | {7340, 7220, 6501})
