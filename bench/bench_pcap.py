"""Reading recorded captures (pyperf): vega.pcap.udp_datagrams beside dpkt, the reference reader, in the same run.

    python bench/bench_pcap.py [--fast]

The capture: the simulator's F&O and CM datagrams (``--fast`` 5,000 per segment, else 50,000) in Ethernet
frames, one VLAN tag on every other one, a nanosecond pcap in the page cache.  Both sides yield
(time, destination address, port, payload) of every IPv4/UDP datagram:

* ``pcap-vega-scan`` ``vega.pcap.scan_batches``: the nogil walker (vega._pcap.PcapScanner) filling arrays of
                 time, address, port and payload position, 4,096 datagrams per batch: what ``vega ingest``
                 reads with (the payloads go from the mapping to the pipeline)
* ``pcap-vega``  ``vega.pcap.udp_datagrams``, the same walk yielding one Python tuple per datagram (the
                 payload a memoryview into the mapped file)
* ``pcap-dpkt``  ``dpkt.pcap.Reader`` + ``dpkt.ethernet.Ethernet`` (IP and UDP decoded by dpkt), payload bytes

Figures are ns per datagram; the summary prints the medians and the ratios to dpkt.  ``vega ingest`` runs these
datagrams through the pipeline (the pipeline's own figures: bench_capture.py, bench_merge.py).
"""
import os
import socket
import struct
import sys
import tempfile

import pyperf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench._cli import command_line, env_flag, parse_args  # noqa: E402
from vega.pcap import scan_batches, udp_datagrams  # noqa: E402
from vega.simulator import Simulator  # noqa: E402

if "--fast" in sys.argv:          # ours: the workers learn it from the environment (bench/_cli.py hands it on)
    sys.argv = [a for a in sys.argv if a != "--fast"]
    os.environ["VEGA_BENCH_FAST"] = "1"
FAST = env_flag("VEGA_BENCH_FAST")
N = 5_000 if FAST else 50_000
PATH = os.path.join(tempfile.gettempdir(), f"vega-bench-pcap-{N}.pcap")


def _ip(dst, port, payload, ident):
    h = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), ident & 0xFFFF, 0x4000, 8, 17, 0,
                    socket.inet_aton("10.0.0.1"), socket.inet_aton(dst))
    return h + struct.pack(">HHHH", 40000, port, 8 + len(payload), 0) + payload


def make_capture():
    """The simulator's stream as an Ethernet nanosecond pcap (built once per size, shared by the workers)."""
    if os.path.exists(PATH):
        return PATH
    sim = Simulator(["FO", "CM"], N, seed=1, broadcasts=False)      # the workload as measured before them
    sim.generate()
    tmp = PATH + f".{os.getpid()}.tmp"
    eth = b"\x01\x00\x5e\x46\x02\x01\x02\x00\x00\x00\x00\x01"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        i = 0
        t0 = 1_763_600_000_000_000_000
        for seg, start, k in sim._chunks(32):
            host, port = sim.targets[seg]
            for dg in sim.datagrams[seg][start:start + k]:
                tag = struct.pack(">HH", 0x8100, 100) if i % 2 else b""
                frame = eth + tag + b"\x08\x00" + _ip(host, port, dg, i)
                ts = t0 + i * 50_000
                f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(frame), len(frame)) + frame)
                i += 1
    os.replace(tmp, PATH)
    return PATH


def t_vega(loops):
    path = make_capture()
    out = []
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        for item in udp_datagrams(path):
            out.append(item)
        out.clear()
    return pyperf.perf_counter() - t0


def t_scan(loops):
    path = make_capture()
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        n = 0
        for b in scan_batches(path):
            n += b.n
        assert n == 2 * N
    return pyperf.perf_counter() - t0


def t_dpkt(loops):
    import dpkt
    path = make_capture()
    out = []
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        with open(path, "rb") as f:
            for ts, buf in dpkt.pcap.Reader(f):
                ip = dpkt.ethernet.Ethernet(buf).data
                if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.udp.UDP):
                    out.append((ts, ip.dst, ip.data.dport, bytes(ip.data.data)))
        out.clear()
    return pyperf.perf_counter() - t0


def main():
    runner = pyperf.Runner(**({"processes": 3, "values": 3} if FAST else {}))   # (a -p, -n given win)
    command_line(runner.argparser, __doc__,
                 fast="ours, not pyperf's: 5,000 datagrams per segment instead of 50,000, 3 processes x 3 values")
    parse_args(runner)                   # a bad option is refused before any data is made
    runner.metadata["datagrams"] = str(2 * N)
    res = {}
    for name, fn in (("pcap-vega-scan", t_scan), ("pcap-vega", t_vega), ("pcap-dpkt", t_dpkt)):
        b = runner.bench_time_func(name, fn, inner_loops=2 * N)
        if b is not None and not runner.args.worker:
            res[name] = b.median()
    if len(res) == 3:
        s, v, d = res["pcap-vega-scan"], res["pcap-vega"], res["pcap-dpkt"]
        print(f"\nper datagram (median): vega.pcap scan_batches {s * 1e9:,.1f} ns ({d / s:.0f}x dpkt), "
              f"udp_datagrams {v * 1e9:,.0f} ns ({d / v:.1f}x dpkt), dpkt {d * 1e9:,.0f} ns")


if __name__ == "__main__":
    main()
