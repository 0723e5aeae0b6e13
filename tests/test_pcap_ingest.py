"""Recorded captures into the pipeline: vega.pcap against dpkt (the reference reader) over the capture formats and
link types, fuzzed framing, and `vega ingest` reproducing what the live pipeline makes of the same datagrams."""
import datetime as dt
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys

from decimal import Decimal

import dpkt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vega
from vega.capture import Capture, compare_stores, load_config, replay_journal_into
from vega.journal import Journal
from vega.pcap import PcapError, PcapStats, udp_datagrams
from vega.simulator import DEFAULT_FEEDS, Simulator, read_pcap, write_pcap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
T0 = int(dt.datetime(2026, 11, 20, 10, 0, tzinfo=IST).timestamp()) * 10**9 + 123_456_789
FO = DEFAULT_FEEDS["FO"]


# -- packets ---------------------------------------------------------------------------------------------------

def _csum(h):
    s = sum(struct.unpack(f">{len(h) // 2}H", h))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def ipv4(dst, payload, proto=17, dport=FO[1], frag=0x4000, ulen=None):
    """An IPv4 packet (bytes) carrying UDP (or other bytes for another protocol); frag: flags + offset."""
    body = (struct.pack(">HHHH", 40000, dport, 8 + len(payload) if ulen is None else ulen, 0) + payload
            if proto == 17 else payload)
    h = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 7, frag, 8, proto, 0, socket.inet_aton("10.0.0.1"),
                    socket.inet_aton(dst))
    return h[:10] + struct.pack(">H", _csum(h)) + h[12:] + body


def mix(rng):
    """(ip bytes or None for a non-IPv4 frame, expected UDP tuple or None, kind) of a capture's traffic."""
    out = []
    for i in range(60):
        pay = rng.bytes(int(rng.integers(0, 700)))
        k = int(rng.integers(0, 9))
        if k <= 3:
            out.append((ipv4(FO[0], pay), (FO[0], FO[1], pay), "udp"))
        elif k == 4:
            out.append((ipv4("239.70.4.1", pay, dport=34304), ("239.70.4.1", 34304, pay), "udp"))
        elif k == 5:
            out.append((ipv4(FO[0], pay, proto=6), None, "not_udp"))
        elif k == 6:
            out.append((ipv4(FO[0], pay, frag=0x2000), None, "fragment"))
        elif k == 7:
            out.append((ipv4(FO[0], pay, ulen=4), None, "malformed"))
        else:
            out.append((None, None, "not_ipv4"))
    return out


ETH_HDR = b"\x01\x00\x5e\x46\x02\x01" + b"\x02\x00\x00\x00\x00\x01"


def frame(link, ip, vlan=0):
    """The link-layer frame of an IPv4 packet (ip None: an ARP / IPv6-ish frame of that link type)."""
    if link == 1:
        tags = b"".join(struct.pack(">HH", 0x8100 if k == vlan - 1 else 0x88A8, 100 + k) for k in range(vlan))
        return ETH_HDR + tags + (b"\x08\x00" + ip if ip is not None else b"\x08\x06" + bytes(28))
    if link == 101:
        return ip if ip is not None else b"\x60" + bytes(47)              # IPv6 version nibble
    if link == 113:
        return struct.pack(">HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", 0x0800 if ip is not None else 0x0806) + (
            ip if ip is not None else bytes(28))
    if link == 276:
        return struct.pack(">HHIHBB8s", 0x0800 if ip is not None else 0x86DD, 0, 3, 1, 0, 6, b"\x02" * 8) + (
            ip if ip is not None else bytes(40))
    if link == 0:
        return (b"\x02\0\0\0" + ip) if ip is not None else b"\x1e\0\0\0" + bytes(40)
    if link == 108:
        return (b"\0\0\0\x02" + ip) if ip is not None else b"\0\0\0\x1e" + bytes(40)
    raise ValueError(link)


def write_classic(frames, link, nano=True, endian="<", snaplen=65535):
    """A classic pcap: (epoch_ns, frame) records, cut at snaplen."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = io.BytesIO()
    out.write(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, link))
    for ts, fr in frames:
        cut = fr[:snaplen]
        frac = ts % 10**9 if nano else ts % 10**9 // 1000
        out.write(struct.pack(endian + "IIII", ts // 10**9, frac, len(cut), len(fr)) + cut)
    return out.getvalue()


def reference(data):
    """The UDP datagrams dpkt finds: (epoch ns, dst, dport, payload) of whole, unfragmented IPv4/UDP packets
    whose lengths hold.  dpkt's times are Decimal for nanosecond pcaps (exact) and float otherwise (rounded
    here to the microsecond)."""
    f = io.BytesIO(data)
    rd = dpkt.pcapng.Reader(f) if data[:4] == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)
    link = rd.datalink()
    out = []
    for ts, buf in rd:
        try:
            if link == 1:
                ip = dpkt.ethernet.Ethernet(buf).data
            elif link == 113:
                ip = dpkt.sll.SLL(buf).data
            elif link == 276:
                ip = dpkt.sll2.SLL2(buf).data
            elif link in (0, 108):
                ip = dpkt.loopback.Loopback(buf).data
            else:
                ip = dpkt.ip.IP(buf)
        except (dpkt.NeedData, dpkt.UnpackError):
            continue
        if not isinstance(ip, dpkt.ip.IP) or ip.p != 17 or len(bytes(ip)) < ip.len:
            continue
        if struct.unpack(">H", bytes(ip)[6:8])[0] & 0x3FFF:                # a fragment
            continue
        raw = bytes(ip)[ip.hl * 4:ip.len]
        ulen = struct.unpack(">H", raw[4:6])[0]
        if not 8 <= ulen <= len(raw):
            continue
        ns = int(ts * 10**9) if isinstance(ts, Decimal) else round(ts * 1e6) * 1000
        out.append((ns, socket.inet_ntoa(ip.dst), struct.unpack(">H", raw[2:4])[0],
                    raw[8:ulen]))
    return out


def ours(data, tmp_path, name="c.pcap"):
    p = tmp_path / name
    p.write_bytes(data)
    stats = PcapStats()
    got = [(ts, socket.inet_ntoa(struct.pack(">I", dst)), port, bytes(pay))
           for ts, dst, port, pay in udp_datagrams(p, stats)]
    return got, stats


# -- the reader ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("link", [1, 101, 113, 276, 0, 108])
@pytest.mark.parametrize("nano,endian", [(True, "<"), (False, "<"), (True, ">")])
def test_classic_pcap_agrees_with_dpkt(tmp_path, link, nano, endian):
    rng = np.random.default_rng(link * 7 + nano)
    pk = mix(rng)
    times = [T0 + i * 1_234_567 for i in range(len(pk))]
    frames = [(t, frame(link, ip, vlan=i % 3 if link == 1 else 0)) for i, (t, (ip, _, _)) in enumerate(zip(times, pk))]
    data = write_classic(frames, link, nano=nano, endian=endian)
    got, stats = ours(data, tmp_path)
    want = [(t if nano else t // 1000 * 1000, *exp) for t, (_, exp, _) in zip(times, pk) if exp is not None]
    assert got == want
    assert got == reference(data)
    kinds = [k for _, _, k in pk]
    assert stats.packets == len(pk) and stats.datagrams == kinds.count("udp")
    assert {k: v for k, v in stats.skipped().items()} == {k: kinds.count(k) for k in set(kinds) - {"udp"}}


def test_snap_length_cuts_are_counted_not_yielded(tmp_path):
    pk = [ipv4(FO[0], bytes(range(200))), ipv4(FO[0], b"x" * 20), ipv4(FO[0], b"y" * 30)]
    data = write_classic([(T0 + i, frame(1, ip)) for i, ip in enumerate(pk)], 1, snaplen=14 + 28 + 25)
    got, stats = ours(data, tmp_path)
    assert [g[3] for g in got] == [b"x" * 20]
    assert stats.truncated == 2 and stats.datagrams == 1
    assert [g[3] for g in got] == [r[3] for r in reference(data)]


def test_a_cut_inside_a_vlan_tag_is_truncated_not_another_protocol(tmp_path):
    """A snap length ending inside an 802.1Q tag cuts the packet like one ending in the IP header (truncated),
    and an uncut frame ending there is malformed: both were counted as not_ipv4, as if ARP or IPv6."""
    fr = frame(1, ipv4(FO[0], b"hello"), vlan=2)
    for snap in (14, 15, 16, 17, 18, 20, 21, 22, 30):
        got, stats = ours(write_classic([(T0, fr)], 1, snaplen=snap), tmp_path, f"s{snap}.pcap")
        assert got == [] and stats.skipped() == {"truncated": 1}, snap
    got, stats = ours(write_classic([(T0, fr[:20])], 1), tmp_path, "short.pcap")
    assert got == [] and stats.skipped() == {"malformed": 1}


def test_pcapng_agrees_with_dpkt(tmp_path):
    rng = np.random.default_rng(5)
    pk = mix(rng)
    out = io.BytesIO()
    w = dpkt.pcapng.Writer(out, snaplen=65535, linktype=1)
    times = [T0 // 1000 * 1000 + i * 2_000_000 for i in range(len(pk))]
    for t, (ip, _, _) in zip(times, pk):
        w.writepkt(frame(1, ip), ts=t / 1e9)
    data = out.getvalue()
    got, stats = ours(data, tmp_path)
    want = [(t, *exp) for t, (_, exp, _) in zip(times, pk) if exp is not None]
    assert got == want == reference(data)
    assert stats.packets == len(pk)


def ng_block(btype, body):
    """A pcapng block (little-endian), padded to 4 bytes."""
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


NG_SHB = ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def ng_raw_iface(tsresol):
    """An interface description block: raw IP, with an if_tsresol option (the option's byte)."""
    return ng_block(1, struct.pack("<HHI", 101, 0, 65535) + struct.pack("<HHB3x", 9, 1, tsresol)
                    + struct.pack("<HH", 0, 0))


def ng_packet(iface, units, ip):
    """An enhanced packet block of interface ``iface`` at ``units`` of its resolution."""
    return ng_block(6, struct.pack("<IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(ip), len(ip)) + ip)


def test_pcapng_interface_time_resolution(tmp_path):
    """if_tsresol: nanoseconds (10^-9) and a power of two (2^-20 s per unit), per interface."""
    ip = ipv4(FO[0], b"hello")
    block, shb, idb_ns, idb_b2 = ng_block, NG_SHB, ng_raw_iface(9), ng_raw_iface(0x80 | 20)

    def epb(iface, units):
        return ng_packet(iface, units, ip)
    units_b2 = (T0 // 10**9) << 20 | 524288                              # + half a second
    data = shb + idb_ns + idb_b2 + epb(0, T0) + epb(1, units_b2) + block(3, struct.pack("<I", len(ip)) + ip)
    got, stats = ours(data, tmp_path)
    assert [g[0] for g in got] == [T0, T0 // 10**9 * 10**9 + 500_000_000]
    assert stats.no_timestamp == 1 and stats.packets == 3
    assert stats.link_types == {"RAW": 3}          # the simple packet block is the first interface's


def test_pcapng_interface_time_offset(tmp_path):
    """if_tsoffset (option 14): seconds added to every time of its interface, as dpkt (the reference) adds them;
    a time it takes before 1970 is malformed, like one past 2262."""
    ip = ipv4(FO[0], b"hello")
    us = T0 // 1000

    def idb(tsresol, offset):
        return ng_block(1, struct.pack("<HHI", 101, 0, 65535) + struct.pack("<HHB3x", 9, 1, tsresol)
                        + struct.pack("<HHq", 14, 8, offset) + struct.pack("<HH", 0, 0))
    one = NG_SHB + idb(6, 3600) + ng_packet(0, us - 3600 * 10**6, ip)
    got, _ = ours(one, tmp_path)
    assert [g[0] for g in got] == [r[0] for r in reference(one)] == [us * 1000]
    data = (NG_SHB + idb(6, 0) + idb(9, -86400) + idb(9, -(T0 // 10**9) - 1) + ng_packet(0, us, ip)
            + ng_packet(1, T0 + 86400 * 10**9, ip) + ng_packet(2, T0, ip))
    got, stats = ours(data, tmp_path, "three.pcapng")
    assert [g[0] for g in got] == [us * 1000, T0]
    assert stats.malformed == 1 and stats.packets == 3


def test_bad_files_are_refused_in_one_line(tmp_path):
    good = write_classic([(T0, frame(1, ipv4(FO[0], b"abc")))] * 3, 1)
    cases = {"empty": b"", "text": b"this is not a capture at all\n", "link": write_classic([], 147),
             "cut_header": good[:24 + 61 + 6], "cut_packet": good[:-2]}
    msgs = {"empty": "not a packet capture", "text": "not a pcap or pcapng file", "link": "link type 147",
            "cut_header": "record header cut short", "cut_packet": "the file ends first"}
    for name, data in cases.items():
        p = tmp_path / f"{name}.pcap"
        p.write_bytes(data)
        n = 0
        with pytest.raises(PcapError, match=msgs[name]) as e:
            for _ in udp_datagrams(p):
                n += 1
        assert "\n" not in str(e.value) and str(p) in str(e.value)
        assert n == {"cut_header": 1, "cut_packet": 2}.get(name, 0)     # what came before the damage
    with pytest.raises(PcapError, match="No such file"):
        list(udp_datagrams(tmp_path / "missing.pcap"))


_SEED_FILES = {}


def _seed(kind):
    if kind not in _SEED_FILES:
        rng = np.random.default_rng(11)
        pk = mix(rng)[:12]
        if kind == "pcap":
            _SEED_FILES[kind] = write_classic([(T0 + i, frame(1, ip, vlan=i % 2))
                                               for i, (ip, _, _) in enumerate(pk)], 1)
        else:
            out = io.BytesIO()
            w = dpkt.pcapng.Writer(out, linktype=1)
            for i, (ip, _, _) in enumerate(pk):
                w.writepkt(frame(1, ip), ts=T0 / 1e9 + i)
            _SEED_FILES[kind] = out.getvalue()
    return _SEED_FILES[kind]


@settings(max_examples=300 if os.environ.get("CI") else 150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(["pcap", "pcapng"]), edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                             max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_fuzzed_captures_yield_or_refuse_never_crash(tmp_path, kind, edits, cut):
    data = bytearray(_seed(kind))
    for pos, val in edits:
        data[pos % len(data)] = val
    if cut is not None:
        data = data[:cut % (len(data) + 1)]
    p = tmp_path / "f.pcap"
    p.write_bytes(bytes(data))
    stats = PcapStats()
    got, error = [], None
    try:
        for ts, dst, port, pay in udp_datagrams(p, stats):
            assert isinstance(ts, int) and 0 <= dst < 2**32 and 0 <= port < 65536 and len(pay) <= len(data)
            got.append((ts, dst, port, bytes(pay)))
    except PcapError as e:
        assert "\n" not in str(e)
        error = str(e)
    assert stats.datagrams == len(got) <= stats.packets
    assert stats.packets == stats.datagrams + sum(stats.skipped().values())
    # the walk in batches of 3 that stop at every datagram's time gives the same datagrams, then the same error
    from vega.pcap import scan_batches
    small, small_error, stop = [], None, [0]
    try:
        for b in scan_batches(p, None, 3, stop_ns=lambda: stop[0]):
            small += [(int(b.ts[i]), int(b.dst[i]), int(b.port[i]),
                       bytes(b.view[int(b.offset[i]):int(b.offset[i]) + int(b.length[i])])) for i in range(b.n)]
            if b.stopped:
                assert b.next_ts >= stop[0]
                stop[0] = b.next_ts + 1
    except PcapError as e:
        small_error = str(e)
    assert small == got and small_error == error


# -- ingest ----------------------------------------------------------------------------------------------------

def _sim_pcap(path, n, seed, t0=None, step_ns=100_000):
    """The simulator's datagrams of both segments as a pcap stamped from t0; returns the items written."""
    sim = Simulator(["FO", "CM"], n, seed=seed)
    sim.generate()
    items, i = [], 0
    for seg, start, k in sim._chunks(32):
        host, port = sim.targets[seg]
        for dg in sim.datagrams[seg][start:start + k]:
            items.append(((t0 or T0) + i * step_ns, host, port, dg))
            i += 1
    write_pcap(path, items)
    return items


def test_ingest_makes_what_the_live_pipeline_makes(tmp_path):
    pcap = tmp_path / "day.pcap"
    items = _sim_pcap(pcap, 600, seed=3)
    cfg = load_config(None, journal_root=str(tmp_path / "j"))
    cap = Capture(cfg)
    cap.open(offline_ns=items[0][0])
    assert cap.ingest(udp_datagrams(pcap)) == len(items)
    stats = cap.stats()
    cap.close()
    # the same datagrams at the same times straight into FeedHandlers linked as the capture links them
    idx = vega.Store(2048)
    cm = vega.Store(65536)
    fo = vega.Store(65536)
    h_idx = vega.FeedHandler("IDX", idx)
    h_cm = vega.FeedHandler("CM", cm, indices=h_idx)
    h_fo = vega.FeedHandler("FO", fo, underlying=h_cm)
    hs = {FO: h_fo, DEFAULT_FEEDS["CM"]: h_cm}
    for ts, host, port, dg in read_pcap(pcap):
        hs[(host, port)].process(dg, now_ns=ts)
    for name, store in (("NSE_FO", fo), ("NSE_EQ", cm), ("NFO_IDX", idx)):
        d = stats["feeds"][name]
        assert not d["errors"] and d["gaps"] == 0
        with Journal.open(tmp_path / "j" / name / "20261120.bin") as j:
            assert j.sealed and len(j) >= d["records"] > 0
        replayed = replay_journal_into(tmp_path / "j" / name / "20261120.bin", 65536, fo.header["day_base_ns"])
        n, bad = compare_stores(store, replayed)
        assert n == len(store) > 0 and bad == []
    assert stats["feeds"]["NSE_FO"]["datagrams"] == stats["feeds"]["NSE_EQ"]["datagrams"] == 600
    for h in (h_fo, h_cm, h_idx):
        h.close()


def test_ingest_follows_the_capture_times_across_midnight(tmp_path):
    """Datagrams captured from 23:59:59.9 IST on: the journal starts on that date and rolls over to the next
    at the capture time of the first datagram past midnight, numbering on."""
    pcap = tmp_path / "night.pcap"
    t0 = int(dt.datetime(2026, 11, 20, 23, 59, 59, 900_000, tzinfo=IST).timestamp() * 1e9)
    items = _sim_pcap(pcap, 300, seed=4, t0=t0, step_ns=1_000_000)
    root = tmp_path / "j"
    r = subprocess.run([sys.executable, "-m", "vega.cli", "ingest", str(pcap), "--journal-root", str(root),
                        "--feed", f"FO={FO[0]}:{FO[1]}"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr
    assert "to no configured feed" in r.stdout
    assert f"NSE_FO: {sum(1 for i in items if i[1:3] == FO):,} datagrams" in r.stdout
    days = sorted(p.name for p in (root / "NSE_FO").iterdir())
    assert days == ["20261120.bin", "20261121.bin"]
    with Journal.open(root / "NSE_FO" / days[0]) as a, Journal.open(root / "NSE_FO" / days[1]) as b:
        assert a.sealed and b.sealed and len(a) and len(b)
        assert b.first_seq == a.next_seq
        midnight = int(dt.datetime(2026, 11, 21, tzinfo=IST).timestamp() * 1e9)
        assert a.timestamps().max() < midnight - int(dt.datetime(2026, 11, 20, tzinfo=IST).timestamp() * 1e9)
        # the summary names both day files with their change records, in day order (the second day's
        # checkpoint's records apart)
        line = next(x for x in r.stdout.splitlines() if x.startswith("NSE_FO:"))
        pa, pb = root / "NSE_FO" / days[0], root / "NSE_FO" / days[1]
        na, nb = a.next_seq - a.first_seq, b.next_seq - b.first_seq
        assert len(b) > nb
        assert (line.index(f"journal {pa} ({na:,} change records")
                < line.index(f"journal {pb} ({nb:,} change records + {len(b) - nb:,} in checkpoints)")), line


def test_ingest_cli_reports_and_refuses(tmp_path):
    pcap = tmp_path / "s.pcap"
    _sim_pcap(pcap, 50, seed=5)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "vega.cli", "ingest", *map(str, args)], capture_output=True,
                              text=True, timeout=120, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    r = cli(pcap, "--json")
    assert r.returncode == 0, r.stderr
    import json
    s = json.loads(r.stdout)
    assert s["packets"] == s["udp_datagrams"] == 100 and s["other_destination"] == 0
    assert s["feeds"]["NSE_FO"]["datagrams"] == s["feeds"]["NSE_EQ"]["datagrams"] == 50
    r = cli(pcap, "--progress")                      # over the file's bytes, on stderr
    assert r.returncode == 0 and "ingest: 100%" in r.stderr and "NSE_FO: 50 datagrams" in r.stdout
    assert "ingest:" not in cli(pcap).stderr         # stderr is not a terminal here
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"garbage" * 10)
    for args, needle in (((bad,), "not a pcap or pcapng file"), ((tmp_path / "nope.pcap",), "No such file"),
                         ((pcap, "--feed", "XX=1.2.3.4:5"), "SEGMENT=GROUP:PORT")):
        r = cli(*args)
        assert r.returncode != 0 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    # damage in the middle: what came before it is journaled and sealed, and the exit says so
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(pcap.read_bytes()[:-100])
    r = cli(cut, "--journal-root", tmp_path / "j")
    assert r.returncode == 1 and "the file ends first" in r.stderr and "ingested and sealed" in r.stderr
    with Journal.open(tmp_path / "j" / "NSE_FO" / "20261120.bin") as j:
        assert j.sealed and len(j) > 0


def test_ingesting_a_capture_again_is_refused_and_changes_nothing(tmp_path):
    """A journal of the day that already holds records at or after the capture's first datagram: the ingest
    would repeat them.  A later capture of the same day (tcpdump -G rotation, one file per run) appends."""
    items = _sim_pcap(tmp_path / "all.pcap", 120, seed=7)
    write_pcap(tmp_path / "a.pcap", items[:100])
    write_pcap(tmp_path / "b.pcap", items[100:])

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "vega.cli", "ingest", *map(str, args), "--journal-root",
                               str(tmp_path / "j")], capture_output=True, text=True, timeout=120, cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=ROOT))
    assert cli(tmp_path / "a.pcap").returncode == 0
    path = tmp_path / "j" / "NSE_FO" / "20261120.bin"
    n = len(Journal.open(path))
    r = cli(tmp_path / "a.pcap")
    assert r.returncode == 1 and "already holds records up to" in r.stderr and len(r.stderr.splitlines()) == 1
    assert len(Journal.open(path)) == n
    r = cli(tmp_path / "b.pcap")
    assert r.returncode == 0, r.stderr
    with Journal.open(path) as j:
        assert len(j) > n and j.sealed


def _cli_ingest(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "vega.cli", "ingest", *map(str, args), "--journal-root",
                           str(tmp_path / "j")], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT))


@pytest.mark.parametrize("order", ["a a", "a b a", "b a"])
def test_one_ingest_of_the_same_capture_twice_or_files_out_of_order_is_refused_at_that_file(tmp_path, order):
    """Within one ingest, a file that starts before what the files before it journaled (the same capture given
    twice, e.g. by a glob matching day.pcap and day.pcap.gz, or files out of time order) is refused, with the
    files before it in and sealed: appending it would repeat records or step the journal back in time.  The
    files in order (a b) make exactly what one capture of them all makes.  (20 ms apart: a spans 2 s, more
    than the FILE_OVERLAP_GRACE_NS that packets reordered across rotated files may take.)"""
    items = _sim_pcap(tmp_path / "all.pcap", 120, seed=7, step_ns=20_000_000)
    write_pcap(tmp_path / "a.pcap", items[:100])
    write_pcap(tmp_path / "b.pcap", items[100:])
    files = [tmp_path / f"{x}.pcap" for x in order.split()]
    r = _cli_ingest(tmp_path, *files)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    bad = files[-1] if order != "b a" else files[1]
    assert f"{bad} starts at" in r.stderr and "the same capture given twice, or files out of time order" in r.stderr
    path = tmp_path / "j" / "NSE_FO" / "20261120.bin"
    with Journal.open(path) as j:
        assert j.sealed
        assert (np.diff(vega.records.timestamps(np.asarray(j.records))) >= 0).all()    # never back in time
    ok = tmp_path / "ok"
    ok.mkdir()
    assert _cli_ingest(ok, tmp_path / "a.pcap", tmp_path / "b.pcap").returncode == 0
    one = tmp_path / "one"
    one.mkdir()
    assert _cli_ingest(one, tmp_path / "all.pcap").returncode == 0
    for name in JOURNAL_FEEDS:             # the same records in the same order (capture order, which the files'
        with Journal.open(ok / "j" / name / "20261120.bin") as a, \
                Journal.open(one / "j" / name / "20261120.bin") as b:   # batches do not change)
            assert a.sealed and b.sealed and len(a) == len(b) > 0, name
            assert np.array_equal(np.asarray(a.records), np.asarray(b.records)), name


def test_an_ingest_whose_datagrams_go_to_no_configured_feed_fails(tmp_path):
    """A capture none of whose datagrams go to a configured feed (a wrong group or port) is no ingest: exit 1
    with one line naming the feeds, not a success with empty journals."""
    _sim_pcap(tmp_path / "a.pcap", 40, seed=7)
    r = _cli_ingest(tmp_path, tmp_path / "a.pcap", "--feed", "FO=239.1.1.1:1234", "--ring", "", "--store", "")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "went to a configured feed (FO=239.1.1.1:1234)" in r.stderr


FRI = int(dt.datetime(2026, 11, 20, 15, 0, tzinfo=IST).timestamp()) * 10**9
MON = int(dt.datetime(2026, 11, 23, 9, 15, tzinfo=IST).timestamp()) * 10**9
JOURNAL_FEEDS = ("NSE_FO", "NSE_EQ", "NFO_IDX")


def _ingest(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "vega.cli", "ingest", *map(str, args)], input=stdin,
                          capture_output=True, timeout=120, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))


def _fri_mon(tmp_path, n=300):
    """One simulated capture stamped Friday 15:00 IST (fri.pcap) and the same restamped Monday 09:15 (mon.pcap)."""
    items = _sim_pcap(tmp_path / "fri.pcap", n, seed=21, t0=FRI)
    write_pcap(tmp_path / "mon.pcap", [(t - FRI + MON, h, p, d) for t, h, p, d in items])
    return items


def _same_journals(a_root, b_root, day):
    for name in JOURNAL_FEEDS:
        with Journal.open(a_root / name / day) as a, Journal.open(b_root / name / day) as b:
            assert a.sealed and b.sealed and len(a) == len(b) > 0, name
            assert np.array_equal(np.asarray(a.records), np.asarray(b.records)), name
            assert (a.first_seq, a.next_seq) == (b.first_seq, b.next_seq)


@pytest.mark.parametrize("how", ["plain", "gzip", "stdin"])
def test_a_capture_of_an_earlier_day_after_a_later_one_is_refused(tmp_path, how):
    """Friday's capture given after Monday's: its datagrams would go into Monday's journal stamped 00:00 and over
    Monday's stores.  Refused in one line naming the file, after Monday's went in and was sealed exactly as
    Monday's alone would be; nothing of Friday reaches a journal.  In time order the two make their two days."""
    import gzip
    import json
    items = _fri_mon(tmp_path)
    fri, stdin = tmp_path / "fri.pcap", None
    if how == "gzip":
        fri = tmp_path / "fri.pcap.gz"
        fri.write_bytes(gzip.compress((tmp_path / "fri.pcap").read_bytes()))
    elif how == "stdin":
        fri, stdin = "-", (tmp_path / "fri.pcap").read_bytes()
    r = _ingest(tmp_path / "mon.pcap", fri, "--journal-root", tmp_path / "j", "--json", stdin=stdin)
    err = r.stderr.decode()
    assert r.returncode == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    label = "standard input" if how == "stdin" else str(fri)
    assert err.startswith(f"vega ingest: {label}: a datagram captured at 2026-11-20 15:00:00 IST is earlier than the "
                          "trading day 2026-11-23 already being ingested: give the capture files in time order"), err
    s = json.loads(r.stdout)                         # the summary counts what went in: Monday's
    assert s["udp_datagrams"] == s["packets"] == len(items)
    assert sum(d["datagrams"] for d in s["feeds"].values()) == len(items)
    assert _ingest(tmp_path / "mon.pcap", "--journal-root", tmp_path / "alone").returncode == 0
    for name in JOURNAL_FEEDS:
        assert [p.name for p in (tmp_path / "j" / name).iterdir()] == ["20261123.bin"]
        with Journal.open(tmp_path / "j" / name / "20261123.bin") as j:
            assert j.timestamps().min() > 0               # nothing clamped to 00:00
    _same_journals(tmp_path / "j", tmp_path / "alone", "20261123.bin")
    r = _ingest(tmp_path / "fri.pcap", tmp_path / "mon.pcap", "--journal-root", tmp_path / "ok")
    assert r.returncode == 0, r.stderr
    for name in JOURNAL_FEEDS:
        assert sorted(p.name for p in (tmp_path / "ok" / name).iterdir()) == ["20261120.bin", "20261123.bin"]
        for day in ("20261120.bin", "20261123.bin"):
            with Journal.open(tmp_path / "ok" / name / day) as j:
                assert j.sealed and len(j) > 0 and j.timestamps().min() > 0


@pytest.mark.parametrize("batch", [1, 64])
def test_a_datagram_of_an_earlier_day_amid_a_file_is_a_corrupt_time_skipped_by_both_ingests(tmp_path, batch):
    """Within one file time cannot go back a day: a datagram stamped Friday amid Monday's datagrams of the same
    file (first, last and alone in a batch, two in a row) is a corrupt time, counted as earlier_day_timestamp and
    skipped, and the rest goes in, in ingest and ingest_pcap alike: the journals are those of the file without
    them.  It stopped the ingest there, losing the rest of the file.  A capture opened on a later day and given
    a file whose first datagram is an earlier day's (files out of order) is still refused, nothing going in."""
    import re
    from vega.capture import CaptureError
    items = _fri_mon(tmp_path, 200)
    mon = [(t - FRI + MON, h, p, d) for t, h, p, d in items]
    bad = {63, 64, 127, 130, 131}                    # batch 64: last, first and last, then two in a row
    write_pcap(tmp_path / "jumpy.pcap", [items[i] if i in bad else it for i, it in enumerate(mon)])
    write_pcap(tmp_path / "without.pcap", [it for i, it in enumerate(mon) if i not in bad])
    counts = {}
    for how in ("slow", "fast", "without"):
        cap = Capture(load_config(None, journal_root=str(tmp_path / how)))
        cap.open(offline_ns=MON)
        stats = PcapStats()
        if how == "slow":
            cap.ingest(udp_datagrams(tmp_path / "jumpy.pcap"), batch=batch)
        else:
            cap.ingest_pcap([tmp_path / ("without.pcap" if how == "without" else "jumpy.pcap")], stats, batch=batch)
        counts[how] = ({k: (v["datagrams"], v["records"]) for k, v in cap.stats()["feeds"].items()},
                       cap.earlier_day_timestamp, cap.other_destination)
        cap.close()
        if how == "fast":
            assert (stats.packets, stats.datagrams, stats.skipped()) == (len(mon), len(mon) - len(bad),
                                                                         {"earlier_day_timestamp": len(bad)})
    assert counts["slow"] == counts["fast"] and counts["fast"][1:] == (len(bad), 0) and counts["without"][1] == 0
    assert counts["fast"][0] == counts["without"][0]
    assert sum(d for d, _ in counts["fast"][0].values()) == len(mon) - len(bad)
    for how in ("slow", "fast"):
        assert sorted(p.name for p in (tmp_path / how / "NSE_FO").iterdir()) == ["20261123.bin"]
        _same_journals(tmp_path / how, tmp_path / "without", "20261123.bin")
    cap = Capture(load_config(None, journal_root=str(tmp_path / "late")))
    cap.open(offline_ns=MON)                         # opened on Monday, given Friday: nothing goes in
    with pytest.raises(CaptureError, match=re.escape(f"{tmp_path / 'fri.pcap'}: a datagram captured at 2026-11-20")):
        cap.ingest_pcap([tmp_path / "fri.pcap"])
    with pytest.raises(CaptureError, match="a datagram captured at 2026-11-20 15:00:00 IST is earlier than the "
                                           "trading day 2026-11-23 already being ingested"):
        cap.ingest(udp_datagrams(tmp_path / "fri.pcap"))
    assert all(v["datagrams"] == v["records"] == 0 for v in cap.stats()["feeds"].values())
    assert cap.earlier_day_timestamp == 0
    cap.close()


@pytest.mark.parametrize("batch", [1, 64])
def test_a_lone_later_day_time_amid_a_file_stops_the_ingest_not_the_rest_of_the_file_skipped(tmp_path, batch):
    """A datagram stamped Wednesday (not in the future) amid Monday's cannot be told from a midnight crossing when
    it comes: it starts Wednesday's journal.  The Monday datagrams after it are then an earlier day's, and the
    datagram that started the day does not make them corrupt times: both ingests stop at the first of them (as
    before), rather than skip the rest of the file as corrupt.  A second datagram of the new day does."""
    from vega.capture import CaptureError
    wed = MON + 2 * 86_400 * 10**9
    mon = [(t - FRI + MON, h, p, d) for t, h, p, d in _fri_mon(tmp_path, 100)]
    write_pcap(tmp_path / "lone.pcap", [(wed, *it[1:]) if i == 64 else it for i, it in enumerate(mon)])
    write_pcap(tmp_path / "two.pcap", [(wed + i, *it[1:]) if i in (64, 65) else it for i, it in enumerate(mon)])
    counts = {}
    for how in ("slow", "fast"):
        cap = Capture(load_config(None, journal_root=str(tmp_path / how)))
        cap.open(offline_ns=MON)
        # the error names the datagram that started the day in this file: "in time order" alone misled here
        with pytest.raises(CaptureError, match=r"a datagram captured at 2026-11-23 09:15:00 IST is earlier than the "
                                               r"trading day 2026-11-25 already being ingested, which the datagram "
                                               r"captured at 2026-11-25 09:15:00 IST started in this (file|call): "
                                               r"if that time is corrupt, "):
            if how == "slow":
                cap.ingest(udp_datagrams(tmp_path / "lone.pcap"), batch=batch)
            else:
                cap.ingest_pcap([tmp_path / "lone.pcap"], batch=batch)
        counts[how] = ({k: v["datagrams"] for k, v in cap.stats()["feeds"].items()}, cap.earlier_day_timestamp)
        cap.close()
        cap = Capture(load_config(None, journal_root=str(tmp_path / f"two-{how}")))
        cap.open(offline_ns=MON)
        if how == "slow":
            cap.ingest(udp_datagrams(tmp_path / "two.pcap"), batch=batch)
        else:
            cap.ingest_pcap([tmp_path / "two.pcap"], batch=batch)
        assert cap.earlier_day_timestamp == len(mon) - 66
        cap.close()
    assert counts["slow"] == counts["fast"] and counts["fast"][1] == 0
    assert sum(counts["fast"][0].values()) == 65
    _same_journals(tmp_path / "slow", tmp_path / "fast", "20261123.bin")


def test_vega_ingest_counts_an_earlier_days_datagram_amid_a_file_in_its_summary(tmp_path):
    """`vega ingest` of a file with a corrupt earlier-day time amid its day: exit 0, the datagram in the summary's
    skipped (as future_timestamp), the rest journaled.  It exited 1 with what came after it never read."""
    items = _fri_mon(tmp_path, 100)
    write_pcap(tmp_path / "jumpy.pcap", [it if i != 150 else items[i]
                                          for i, it in enumerate((t - FRI + MON, h, p, d) for t, h, p, d in items)])
    r = _ingest(tmp_path / "jumpy.pcap", "--journal-root", tmp_path / "j", "--json")
    assert r.returncode == 0 and r.stderr.splitlines() == [
        b"vega ingest: 1 datagram stamped on an earlier day amid a file's own day skipped as corrupt times (a file "
        b"of captures joined out of time order shows its earlier part so: ingest such parts as files in time "
        b"order)"], r.stderr
    s = json.loads(r.stdout)
    assert (s["packets"], s["udp_datagrams"], s["skipped"]) == (len(items), len(items) - 1,
                                                                {"earlier_day_timestamp": 1})
    assert sum(d["datagrams"] for d in s["feeds"].values()) == len(items) - 1
    r = _ingest(tmp_path / "jumpy.pcap", "--journal-root", tmp_path / "k")
    assert r.returncode == 0 and b"skipped: earlier_day_timestamp 1\n" in r.stdout, r.stdout


def test_a_corrupt_earlier_day_time_in_a_files_first_batch_does_not_hide_that_it_was_given_twice(tmp_path):
    """The check that a later file does not start before what is journaled took the least time of its first
    batch, and was skipped when that was an earlier day's: with such a corrupt time among its first datagrams,
    the same capture given twice must still be refused at the second, with nothing of it journaled."""
    items = _sim_pcap(tmp_path / "a.pcap", 100, seed=21, t0=MON, step_ns=20_000_000)    # 4 s: past the grace
    write_pcap(tmp_path / "a.pcap", [it if i != 5 else (FRI, *it[1:]) for i, it in enumerate(items)])
    r = _ingest(tmp_path / "a.pcap", tmp_path / "a.pcap", "--journal-root", tmp_path / "twice")
    assert r.returncode == 1 and b"a.pcap starts at 2026-11-23 09:15:00.000000 IST, before the last record" in r.stderr
    assert b"skipped: earlier_day_timestamp 1\n" in r.stdout, r.stdout
    assert _ingest(tmp_path / "a.pcap", "--journal-root", tmp_path / "once").returncode == 0
    _same_journals(tmp_path / "twice", tmp_path / "once", "20261123.bin")


def test_time_stepping_back_within_the_day_goes_in_as_captured(tmp_path):
    """Packets reordered by a few ms, inside a file and across the two files of a rotated capture, are normal:
    ingested at their capture times (nothing refused, nothing clamped), as one file of the same datagrams is
    (in the same batches: a batch ends with its file)."""
    items = _sim_pcap(tmp_path / "tmp.pcap", 200, seed=22)          # T0, 0.1 ms apart
    items = [(t + 3_000_000 if i % 10 == 5 else t, h, p, d) for i, (t, h, p, d) in enumerate(items)]
    cut = len(items) // 2
    items[cut - 1] = (items[cut - 1][0] + 5_000_000, *items[cut - 1][1:])     # a's last after b's first
    write_pcap(tmp_path / "a.pcap", items[:cut])
    write_pcap(tmp_path / "b.pcap", items[cut:])
    write_pcap(tmp_path / "all.pcap", items)
    r = _ingest(tmp_path / "a.pcap", tmp_path / "b.pcap", "--journal-root", tmp_path / "two")
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert b"NSE_FO: 200 datagrams" in r.stdout and b"NSE_EQ: 200 datagrams" in r.stdout
    cap = Capture(load_config(None, journal_root=str(tmp_path / "one")))
    assert cap.ingest_pcap([tmp_path / "all.pcap"], batch=cut) == len(items)
    cap.close()
    _same_journals(tmp_path / "two", tmp_path / "one", "20261120.bin")
    with Journal.open(tmp_path / "two" / "NSE_FO" / "20261120.bin") as j:
        ts = j.timestamps()
        day = int(dt.datetime(2026, 11, 20, tzinfo=IST).timestamp()) * 10**9
        assert (np.diff(ts.astype(np.int64)) < 0).any() and ts.min() >= T0 - day


def test_a_datagram_reordered_across_midnight_goes_into_the_new_day_at_00_00(tmp_path):
    """Within EARLIER_DAY_GRACE_NS (an hour) before the day already being ingested a datagram goes in,
    stamped 00:00 (the FeedHandler's own grace); further back, in the file that went past midnight, it is a
    corrupt time and skipped."""
    from vega.capture import EARLIER_DAY_GRACE_NS
    midnight = int(dt.datetime(2026, 11, 21, tzinfo=IST).timestamp()) * 10**9
    items = _sim_pcap(tmp_path / "tmp.pcap", 100, seed=23, t0=midnight - 5_000_000)     # 5 ms before it
    late = next(i for i, it in enumerate(items) if it[0] >= midnight) + 20   # well inside the new day

    def live_at_midnight(when, name):
        """Ingest items with the late datagram stamped ``when``: live records stamped 00:00 of the 21st."""
        write_pcap(tmp_path / f"{name}.pcap", items[:late] + [(when, *items[late][1:])] + items[late + 1:])
        r = _ingest(tmp_path / f"{name}.pcap", "--journal-root", tmp_path / name)
        assert r.returncode == 0 and not r.stderr, r.stderr
        n = 0
        for feed in JOURNAL_FEEDS:
            with Journal.open(tmp_path / name / feed / "20261121.bin") as j:
                live = (np.asarray(j.records)["flags"] & vega.records.KEYFRAME) == 0
                n += int((j.timestamps()[live] == 0).sum())
        return n

    control = live_at_midnight(items[late][0], "control")            # the new day's own resets at 00:00
    assert live_at_midnight(midnight - 10_000_000, "reordered") > control   # 10 ms before: in, at 00:00
    # further back, in the file that crossed midnight: a corrupt time, skipped (the ingest stopped there)
    write_pcap(tmp_path / "back.pcap", items[:late] + [(midnight - EARLIER_DAY_GRACE_NS - 1, *items[late][1:])]
               + items[late + 1:])
    r = _ingest(tmp_path / "back.pcap", "--journal-root", tmp_path / "back")
    assert r.returncode == 0 and b"skipped: earlier_day_timestamp 1\n" in r.stdout, r.stderr
    write_pcap(tmp_path / "without.pcap", items[:late] + items[late + 1:])
    assert _ingest(tmp_path / "without.pcap", "--journal-root", tmp_path / "without").returncode == 0
    _same_journals(tmp_path / "back", tmp_path / "without", "20261121.bin")


# -- the nogil walker (vega._pcap) and the fast ingest -------------------------------------------------------

def _all(path, batch=4096, stop=None):
    """Every datagram scan_batches finds, as (ts, dst, port, payload bytes), and the batches' sizes."""
    from vega.pcap import scan_batches
    out, sizes = [], []
    for b in scan_batches(path, None, batch, stop_ns=stop):
        sizes.append(b.n)
        out += [(int(b.ts[i]), int(b.dst[i]), int(b.port[i]),
                 bytes(b.view[int(b.offset[i]):int(b.offset[i]) + int(b.length[i])])) for i in range(b.n)]
    return out, sizes


def _ng_capture(pk, times):
    out = io.BytesIO()
    w = dpkt.pcapng.Writer(out, snaplen=65535, linktype=1)
    for t, (ip, _, _) in zip(times, pk):
        w.writepkt(frame(1, ip), ts=t / 1e9)
    return out.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["pcap", "pcapng"]), batch=st.integers(1, 70),
       stops=st.lists(st.integers(0, 59), max_size=4))
def test_batches_and_stops_split_the_same_datagrams(tmp_path, kind, batch, stops):
    """Any batch size and any stop times give the datagrams of one whole-file read, in order; a batch stops
    right before the first datagram at or after its stop time, which comes first in the next batch."""
    pk = mix(np.random.default_rng(9))
    times = [T0 // 1000 * 1000 + i * 1_000_000 for i in range(len(pk))]
    data = write_classic([(t, frame(1, ip)) for t, (ip, _, _) in zip(times, pk)], 1) if kind == "pcap" \
        else _ng_capture(pk, times)
    p = tmp_path / f"f.{kind}"
    p.write_bytes(data)
    whole, _ = _all(p)
    assert [(t, socket.inet_ntoa(struct.pack(">I", d)), pt, pay) for t, d, pt, pay in whole] == reference(data)
    limits = sorted(times[i] for i in stops) + [None]
    from vega.pcap import scan_batches
    got, k = [], 0
    for b in scan_batches(p, None, batch, stop_ns=lambda: limits[k]):
        assert b.n <= batch
        if limits[k] is not None:
            assert all(int(t) < limits[k] for t in b.ts[:b.n])
        got += [int(t) for t in b.ts[:b.n]]
        if b.stopped:
            assert b.next_ts >= limits[k] and b.next_ts == next(w[0] for w in whole if w[0] >= limits[k])
            k += 1
        elif b.n < batch:
            assert limits[k] is None or all(w[0] < limits[k] for w in whole if w[0] > (got[-1] if got else -1))
    assert got == [w[0] for w in whole]


def test_a_batch_below_one_is_refused_not_a_hang(tmp_path):
    """scan_batches(batch=0) scanned into empty arrays forever, never reading a packet (ingest_pcap too); the
    stop_ns callable, asked before every scan, tells such a loop from progress."""
    from vega.pcap import scan_batches
    p = tmp_path / "c.pcap"
    p.write_bytes(write_classic([(T0, frame(1, ipv4(FO[0], b"abc")))], 1))
    asked = []

    def stop():
        asked.append(1)
        if len(asked) > 100:
            raise RuntimeError("scan_batches makes no progress")
        return None
    for bad in (0, -1):
        with pytest.raises(ValueError, match="batch"):
            next(scan_batches(p, batch=bad, stop_ns=stop))
    assert [b.n for b in scan_batches(p, batch=1, stop_ns=stop)] == [1]


def test_scanner_counts_only_what_it_passed_and_sums_files(tmp_path):
    """A stop leaves the next datagram's packet uncounted until it is read; two files add up in one PcapStats."""
    from vega.pcap import scan_batches
    pk = mix(np.random.default_rng(3))
    times = [T0 + i * 1000 for i in range(len(pk))]
    p = tmp_path / "a.pcap"
    p.write_bytes(write_classic([(t, frame(1, ip)) for t, (ip, _, _) in zip(times, pk)], 1))
    first_udp = next(i for i, (_, e, _) in enumerate(pk) if e is not None)
    second_udp = next(i for i, (_, e, _) in enumerate(pk) if e is not None and i > first_udp)
    stats = PcapStats()
    it = scan_batches(p, stats, 64, stop_ns=lambda: times[second_udp])
    b = next(it)
    assert b.n == 1 and b.stopped and b.next_ts == times[second_udp]
    assert stats.packets == second_udp and stats.datagrams == 1
    it.close()
    stats = PcapStats()
    for path in (p, p):
        for _ in scan_batches(path, stats, 5):
            pass
    kinds = [k for _, _, k in pk]
    assert stats.packets == 2 * len(pk) and stats.datagrams == 2 * kinds.count("udp")
    assert stats.link_types == {"EN10MB": 2 * len(pk)} and stats.offset == p.stat().st_size
    assert stats.skipped() == {k: 2 * kinds.count(k) for k in set(kinds) - {"udp"}}


def test_pcapng_time_past_2262_is_malformed_not_wrapped(tmp_path):
    ip = ipv4(FO[0], b"late")
    p = tmp_path / "late.pcapng"                                    # one unit = 10^0 s: 2^34 s is past 2262
    p.write_bytes(NG_SHB + ng_raw_iface(0) + ng_packet(0, 2**34, ip) + ng_packet(0, T0 // 10**9, ip))
    stats = PcapStats()
    assert [t for t, *_ in udp_datagrams(p, stats)] == [T0 // 10**9 * 10**9]
    assert stats.malformed == 1 and stats.datagrams == 1


def _top_bit_of_the_seconds(data, k):
    """A copy of a classic little-endian pcap (bytes) whose k-th packet record has its seconds' top bit set: a
    corrupt time in the year 2094 or so."""
    data, off = bytearray(data), 24
    for _ in range(k):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    struct.pack_into("<I", data, off, struct.unpack_from("<I", data, off)[0] | 0x80000000)
    return bytes(data)


def test_a_datagram_stamped_in_the_future_is_counted_and_skipped(tmp_path):
    """A recorded packet cannot come from the future: one stamped more than FUTURE_NS after the wall clock (a
    flipped top bit of the seconds, a pcapng time decades ahead) is counted as future_timestamp and skipped, in
    either format, and never stops a batch as a new day.  A time within the bound is read as it is."""
    import time

    from vega.pcap import FUTURE_NS, scan_batches
    ip = ipv4(FO[0], b"when")
    pcap = write_classic([(T0 + i * 1000, frame(1, ip)) for i in range(5)], 1)
    p = tmp_path / "f.pcap"
    p.write_bytes(_top_bit_of_the_seconds(pcap, 2))
    stats = PcapStats()
    assert [t for t, *_ in udp_datagrams(p, stats)] == [T0, T0 + 1000, T0 + 3000, T0 + 4000]
    assert stats.future_timestamp == 1 and stats.skipped() == {"future_timestamp": 1} and stats.packets == 5
    later = T0 + 2 * 86_400 * 10**9                    # the next day's stop is not taken by the 2094 packet
    batches = [(b.n, b.stopped) for b in scan_batches(p, None, 64, stop_ns=lambda: later)]
    assert batches == [(4, False)]
    q = tmp_path / "f.pcapng"                           # a pcapng time in 2094 (ns), between two good ones
    q.write_bytes(NG_SHB + ng_raw_iface(9) + ng_packet(0, T0, ip) + ng_packet(0, 3_942_957_285 * 10**9, ip)
                  + ng_packet(0, T0 + 1, ip))
    stats = PcapStats()
    assert [t for t, *_ in udp_datagrams(q, stats)] == [T0, T0 + 1]
    assert stats.future_timestamp == 1 and stats.datagrams == 2 and stats.malformed == 0
    now, hour = time.time_ns(), 3600 * 10**9            # the bound: the wall clock + FUTURE_NS
    r = tmp_path / "near.pcap"
    r.write_bytes(write_classic([(now + FUTURE_NS - hour, frame(1, ip)), (now + FUTURE_NS + hour, frame(1, ip))], 1))
    stats = PcapStats()
    assert [t for t, *_ in udp_datagrams(r, stats)] == [now + FUTURE_NS - hour]
    assert stats.future_timestamp == 1


def test_the_future_bound_of_a_stream_moves_on_with_the_clock(monkeypatch):
    """A stream (tcpdump -w - | vega ingest -) may run for days: the bound is the wall clock at each refill,
    not when the stream began, else every datagram after its first day would be future_timestamp."""
    import time

    from vega._pcap import PcapScanner
    ip = ipv4(FO[0], b"when")
    now = time.time_ns()
    data = write_classic([(now - 1000, frame(1, ip)), (now, frame(1, ip))], 1)
    first = 24 + 16 + len(frame(1, ip))                 # the header and the first packet
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 2 * 86_400 * 10**9)   # began two days ago
    sc = PcapScanner(memoryview(data[:first + 8]), "stream", partial=True)
    monkeypatch.setattr(time, "time_ns", real)
    arrays = (np.zeros(16, np.int64), np.zeros(16, np.uint32), np.zeros(16, np.uint16), np.zeros(16, np.int64),
              np.zeros(16, np.int32))
    assert sc.scan(*arrays) == 0 and sc.needs_more       # (the first packet: future for a 2-day-old bound)
    sc.refill(memoryview(data[sc.offset:]), True)
    assert sc.scan(*arrays) == 1 and arrays[0][0] == now and sc.latest_ns > now
    assert sc.counts()[1]["future_timestamp"] == 1


def test_ingest_skips_a_datagram_stamped_in_the_future_and_keeps_its_day(tmp_path):
    """`vega ingest` of a capture with one corrupt far-future time among correct ones: that datagram is
    counted in the summary's skipped and the rest go in, in the capture's day (no journal of 2094, nothing
    refused as of an earlier day), exactly as the capture without that packet."""
    items = _sim_pcap(tmp_path / "good.pcap", 150, seed=31)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(_top_bit_of_the_seconds((tmp_path / "good.pcap").read_bytes(), 140))
    write_pcap(tmp_path / "without.pcap", items[:140] + items[141:])
    r = _ingest(bad, "--journal-root", tmp_path / "bad")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert f"{len(items):,} packets, {len(items) - 1:,} UDP datagrams" in out and "skipped: future_timestamp 1" in out
    assert _ingest(tmp_path / "without.pcap", "--journal-root", tmp_path / "without").returncode == 0
    for name in JOURNAL_FEEDS:
        assert [f.name for f in (tmp_path / "bad" / name).iterdir()] == ["20261120.bin"]
    _same_journals(tmp_path / "bad", tmp_path / "without", "20261120.bin")


def test_scanner_and_feed_selected_refuse_bad_arguments(tmp_path):
    from vega._pcap import PcapScanner, feed_selected
    data = write_classic([(T0, frame(1, ipv4(FO[0], b"abc")))] * 3, 1)
    sc = PcapScanner(data, "x.pcap")
    arrays = [np.empty(4, t) for t in (np.int64, np.uint32, np.uint16, np.int64, np.int32)]
    with pytest.raises(ValueError, match="one length"):
        sc.scan(*arrays[:4], np.empty(3, np.int32))
    with pytest.raises(ValueError, match="dtype"):
        sc.scan(*arrays[:4], np.empty(4, np.int64))               # a wrong dtype
    assert sc.scan(*[a[:0] for a in arrays]) == 0
    assert sc.scan(*arrays) == 3 and sc.done and sc.scan(*arrays) == 0
    ts, _, _, off, ln = arrays
    h = vega.FeedHandler("FO", vega.Store(16))
    with pytest.raises(IndexError):
        feed_selected(h, data, ts, off, ln, np.array([0, 4], np.int64))
    with pytest.raises(ValueError, match="not inside the buffer"):
        bad = off.copy()
        bad[0] = len(data) - 1
        feed_selected(h, data, ts, bad, ln, np.array([0], np.int64))
    assert feed_selected(h, data, ts, off, ln, np.array([], np.int64)) == 0
    assert feed_selected(h, data, ts, off, ln, np.array([0, 2], np.int64)) == 0   # "abc" is not an NSE datagram
    assert h.stats["datagrams"] == 2 and sum(h.stats["errors"].values()) == 2
    h.close()
    with pytest.raises(PcapError, match="not a packet capture"):
        PcapScanner(b"short", "s.pcap")


def test_feed_selected_refuses_an_offset_whose_end_overflows():
    """An offset near 2**63 is not inside the buffer: ``offset + length`` overflowed the int64 range check to a
    negative number, and the handler read from that address (a segfault).  In a child process, so that the old
    crash fails this test and not the run."""
    code = ("import numpy as np, vega\n"
            "from vega._pcap import feed_selected\n"
            "h = vega.FeedHandler('FO', vega.Store(16))\n"
            "try:\n"
            "    feed_selected(h, bytes(100), np.array([1], np.int64), np.array([2**63 - 10], np.int64),\n"
            "                  np.array([100], np.int32), np.array([0], np.int64))\n"
            "except ValueError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "not inside the buffer" in out.stdout, (out.returncode, out.stderr)


def test_feed_runs_refuses_bad_arguments_before_merging_anything(tmp_path):
    """feed_runs (ingest's capture-order hand-over to several handlers) checks its arrays, indexes and handlers
    first: a bad argument is an exception and nothing went in, never a read outside the arrays or the buffer."""
    from vega._pcap import PcapScanner, feed_runs
    data = write_classic([(T0, frame(1, ipv4(FO[0], b"abc")))] * 5, 1)
    sc = PcapScanner(data, "x.pcap")
    ts, dst, port, off, ln = [np.empty(8, t) for t in (np.int64, np.uint32, np.uint16, np.int64, np.int32)]
    assert sc.scan(ts, dst, port, off, ln) == 5
    hs = [vega.FeedHandler("FO", vega.Store(16)), vega.FeedHandler("CM", vega.Store(16))]
    feed = np.array([0, -1, 0, 1, 1], np.int16)

    def call(handlers=hs, buffer=data, ts=ts, off=off, ln=ln, feed=feed):
        return feed_runs(handlers, buffer, ts, off, ln, feed)

    with pytest.raises(IndexError, match="goes to handler 2 of 2"):
        call(feed=np.array([0, 2], np.int16))
    with pytest.raises(IndexError, match="goes to handler -2"):
        call(feed=np.array([0, -2], np.int16))
    with pytest.raises(ValueError, match="9 datagrams of arrays of 8"):
        call(feed=np.zeros(9, np.int16))
    with pytest.raises(ValueError, match="arrays of 8, 7 and 8"):
        call(off=off[:7])
    with pytest.raises(ValueError, match="arrays of 8, 8 and 3"):
        call(ln=ln[:3])
    with pytest.raises(IndexError, match="goes to handler 1 of 1"):
        call(handlers=hs[:1])
    with pytest.raises(ValueError, match="at most 8 handlers, not 9"):
        call(handlers=hs * 4 + hs[:1])
    with pytest.raises(TypeError, match="must be FeedHandlers, not NoneType"):
        call(handlers=[hs[0], None])
    with pytest.raises(TypeError):
        call(handlers=None)
    for bad_off, bad_ts in ((len(data) - 1, T0), (2**63 - 10, T0), (-1, T0), (0, -1)):
        o, t = off.copy(), ts.copy()
        o[3], t[3] = bad_off, bad_ts
        with pytest.raises(ValueError, match="datagram 3 is not inside the buffer"):
            call(off=o, ts=t)
    assert [h.stats["datagrams"] for h in hs] == [0, 0]                  # nothing went in
    # a datagram to no handler is not checked: it goes nowhere
    o = off.copy()
    o[1] = 2**63 - 10
    assert call(off=o) == 0                                               # ("abc" is no NSE datagram)
    assert [h.stats["datagrams"] for h in hs] == [2, 2]
    assert call(feed=feed[:0]) == 0 and [h.stats["datagrams"] for h in hs] == [2, 2]
    for h in hs:
        h.close()


def _two_day_capture(tmp_path):
    """Both segments from 23:59:59.5 IST across midnight, with datagrams to a destination no feed has."""
    t0 = int(dt.datetime(2026, 11, 20, 23, 59, 59, 500_000, tzinfo=IST).timestamp() * 1e9)
    items = _sim_pcap(tmp_path / "tmp.pcap", 400, seed=12, t0=t0, step_ns=1_500_000)
    items = [it if i % 17 else (it[0], "239.9.9.9", 5000, it[3]) for i, it in enumerate(items)]
    write_pcap(tmp_path / "two.pcap", items)
    return tmp_path / "two.pcap", items


def test_ingest_pcap_makes_exactly_what_ingest_makes(tmp_path):
    """The fast path (nogil walker, datagrams straight from the mapping) against ingest(udp_datagrams(...)):
    the same batches, so the same journals record for record, checkpoints included, and the same counts."""
    pcap, items = _two_day_capture(tmp_path)
    out = {}
    for how in ("slow", "fast"):
        cfg = load_config(None, journal_root=str(tmp_path / how))
        cap = Capture(cfg)
        cap.open(offline_ns=items[0][0])
        stats = PcapStats()
        seen = []
        n = (cap.ingest(udp_datagrams(pcap, stats), batch=64) if how == "slow"
             else cap.ingest_pcap([pcap], stats, batch=64, progress=seen.append))
        out[how] = (n, cap.other_destination, {k: (v["datagrams"], v["messages"], v["records"], v["gaps"])
                                               for k, v in cap.stats()["feeds"].items()}, stats)
        cap.close()
        if how == "fast":
            assert sum(seen) == pcap.stat().st_size and len(seen) > 2
    assert out["slow"] == out["fast"]
    n, other, feeds, stats = out["fast"]
    assert other == sum(1 for it in items if it[1] == "239.9.9.9") > 0 and n == len(items) - other
    assert stats.packets == stats.datagrams == len(items)
    files = sorted(p.relative_to(tmp_path / "slow") for p in (tmp_path / "slow").rglob("*.bin"))
    assert [f.name for f in files if f.parent.name == "NSE_FO"] == ["20261120.bin", "20261121.bin"]
    assert files == sorted(p.relative_to(tmp_path / "fast") for p in (tmp_path / "fast").rglob("*.bin"))
    for f in files:
        with Journal.open(tmp_path / "slow" / f) as a, Journal.open(tmp_path / "fast" / f) as b:
            assert a.sealed and b.sealed and len(a) == len(b) > 0
            assert np.array_equal(np.asarray(a.records), np.asarray(b.records)), f
            assert (a.first_seq, a.next_seq) == (b.first_seq, b.next_seq)


def _interleaved_pcap(path, n, seed):
    """The simulator's datagrams of both segments interleaved as a day's capture interleaves them, in runs of 1-3
    datagrams of one feed (each feed's in its own order), with a datagram to a destination no feed has after
    every 11th, stamped 100 us apart from T0 (70 ms for n = 300: no checkpoint falls due, see below)."""
    sim = Simulator(["FO", "CM"], n, seed=seed)
    sim.generate()
    rng = np.random.default_rng(seed)
    pos = {seg: 0 for seg in sim.segments}
    items = []
    while any(pos[seg] < len(sim.datagrams[seg]) for seg in sim.segments):
        for seg in sim.segments:
            k = int(rng.integers(1, 4))
            for dg in sim.datagrams[seg][pos[seg]:pos[seg] + k]:
                items.append((T0 + len(items) * 100_000, *sim.targets[seg], dg))
                if len(items) % 12 == 11:
                    items.append((T0 + len(items) * 100_000, "239.9.9.9", 5000, dg))
            pos[seg] += k
    write_pcap(path, items)
    return items


def test_ingest_feeds_the_datagrams_in_capture_order_whatever_the_batch(tmp_path):
    """The F&O handler merges 7130/17130 open interest into the CM store, so those records go into the CM journal
    stamped at the F&O datagrams' times.  Each batch went to the F&O handler whole, then to the CM handler: the
    CM journal held a batch's routed open interest before the CM datagrams of the batch captured earlier (its
    time stepped back), and the journals depended on the batch size.  In capture order, a run of one feed's
    datagrams at a time, every batch size makes the same files (byte for byte but for the header's creation
    time and its checksum), which are those of one datagram per call, and no journal steps back in time.
    (Checkpoints are written after the call in which one fell due, so where one falls depends on the calls:
    this capture is too short for one.)"""
    pcap = tmp_path / "day.pcap"
    items = _interleaved_pcap(pcap, 300, seed=5)
    files = {}
    for how, batch in (("pcap", 1), ("pcap", 7), ("pcap", 1024), ("slow", 7)):
        root = tmp_path / f"{how}{batch}"
        cap = Capture(load_config(None, journal_root=str(root)))
        cap.open(offline_ns=items[0][0])
        n = (cap.ingest_pcap([pcap], batch=batch) if how == "pcap"
             else cap.ingest(udp_datagrams(pcap), batch=batch))
        assert n == 600 and cap.other_destination == len(items) - 600 > 0
        assert {k: v["datagrams"] for k, v in cap.stats()["feeds"].items()} == {"NSE_FO": 300, "NSE_EQ": 300,
                                                                               "NFO_IDX": 0}
        cap.close()
        for name in JOURNAL_FEEDS:
            path = root / name / "20261120.bin"
            data = path.read_bytes()
            files.setdefault(name, []).append((how, batch, data[:32] + data[40:60] + data[64:]))
            with Journal.open(path) as j:
                recs = np.asarray(j.records)
                assert j.sealed and len(recs) > 0
                assert (np.diff(vega.records.timestamps(recs)) >= 0).all(), (how, batch, name)
                assert not (recs["flags"] & vega.records.KEYFRAME).any()             # (no checkpoint)
            if name == "NSE_EQ":         # the F&O feed's routed open interest is there, among CM's own records
                oi = np.flatnonzero(np.isin(recs["source"], (7130, 17130)))
                assert len(oi) > 0 and 0 < oi[0] and oi[-1] - oi[0] + 1 > len(oi)
    for name, made in files.items():
        assert all(data == made[0][2] for _, _, data in made), (name, [(h, b) for h, b, d in made if d != made[0][2]])


_FAILING_JOURNAL = """
import json, resource, signal, sys
import vega._pcap
from vega.capture import Capture, load_config
pcap, root, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = []                                                      # each batch's datagrams, one call each
feed_runs = vega._pcap.feed_runs
def spy(handlers, buffer, ts, offset, length, feed):
    calls.append(len(feed))
    return feed_runs(handlers, buffer, ts, offset, length, feed)
vega._pcap.feed_runs = spy
cap = Capture(load_config(None, journal_root=root, journal_spill_mb=0))
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)               # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
n = cap.ingest_pcap([pcap])
feeds = {k: [v[x] for x in ("datagrams", "messages", "records")] + [bool(v["journal"]["failed"])]
         for k, v in cap.stats()["feeds"].items()}
cap.close()
print(json.dumps({"n": n, "other": cap.other_destination, "feeds": feeds, "calls": calls}))
"""


def test_ingest_goes_on_after_a_journal_fails_amid_a_batch_with_every_datagram_once(tmp_path):
    """A journal whose disk fills (a file-size limit) raises out of the batch's call, after its loop merged the
    whole batch: the capture lets that journal go and goes on with the next batch, so every datagram goes
    through its handler once, as without the failure (never twice: each batch is fed from its start, once)."""
    pcap = tmp_path / "day.pcap"
    items = _interleaved_pcap(pcap, 1500, seed=6)
    out = {}
    for limit in (0, 500_000):
        r = subprocess.run([sys.executable, "-c", _FAILING_JOURNAL, str(pcap), str(tmp_path / f"j{limit}"),
                            str(limit)], capture_output=True, text=True, timeout=120, cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=ROOT))
        assert r.returncode == 0, r.stderr
        out[limit] = json.loads(r.stdout)
    ok, bad = out[0], out[500_000]
    assert ok["n"] == bad["n"] == 3000 and ok["other"] == bad["other"] == len(items) - 3000
    assert [f[3] for f in ok["feeds"].values()] == [False] * 3
    assert bad["feeds"]["NSE_FO"][3] and bad["feeds"]["NSE_EQ"][3]           # both journals failed ...
    assert {k: f[:3] for k, f in bad["feeds"].items()} == {k: f[:3] for k, f in ok["feeds"].items()}
    assert bad["calls"] == ok["calls"]                                       # ... and no batch fed again


def test_ingest_pcap_stops_at_damage_with_what_came_before(tmp_path):
    pcap, items = _two_day_capture(tmp_path)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(pcap.read_bytes()[:-50])
    counts = {}
    for how in ("slow", "fast"):
        cap = Capture(load_config(None, journal_root=str(tmp_path / how)))
        cap.open(offline_ns=items[0][0])
        with pytest.raises(PcapError, match="the file ends first"):
            if how == "slow":
                cap.ingest(udp_datagrams(cut))
            else:
                cap.ingest_pcap([cut])
        counts[how] = {k: v["records"] for k, v in cap.stats()["feeds"].items()}
        cap.close()
    assert counts["slow"] == counts["fast"] and counts["fast"]["NSE_FO"] > 0


# -- compressed captures (tcpdump -z gzip ...) ---------------------------------------------------------------

def _compress(kind, data):
    import bz2
    import gzip
    import lzma

    import zstandard
    if kind == "gzip":                                   # two members, as `cat a.gz b.gz` makes
        return gzip.compress(data[:len(data) // 2]) + gzip.compress(data[len(data) // 2:])
    if kind == "xz":
        return lzma.compress(data)
    if kind == "bzip2":
        return bz2.compress(data)
    c = zstandard.ZstdCompressor()                       # two frames
    return c.compress(data[:len(data) // 3]) + c.compress(data[len(data) // 3:])


def _mixed_capture(kind_of_file):
    pk = mix(np.random.default_rng(21))
    times = [T0 // 1000 * 1000 + i * 3_000 for i in range(len(pk))]
    if kind_of_file == "pcap":
        return write_classic([(t, frame(1, ip, vlan=i % 2)) for i, (t, (ip, _, _)) in enumerate(zip(times, pk))], 1)
    return _ng_capture(pk, times)


def _read(path):
    stats = PcapStats()
    got = [(t, d, p, bytes(pay)) for t, d, p, pay in udp_datagrams(path, stats)]
    return got, stats


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(comp=st.sampled_from(["gzip", "xz", "bzip2", "zstd"]), kind=st.sampled_from(["pcap", "pcapng"]),
       piece=st.integers(1, 3000))
def test_a_compressed_capture_reads_as_the_capture_in_any_pieces(tmp_path, monkeypatch, comp, kind, piece):
    """Read in pieces of any size (packets and blocks cut anywhere between two pieces), a compressed capture
    gives the datagrams and counts of the capture itself; its offset is the compressed file's size."""
    import vega.pcap
    data = _mixed_capture(kind)
    plain = tmp_path / f"c.{kind}"
    plain.write_bytes(data)
    packed = tmp_path / f"c.{kind}.{comp}"
    packed.write_bytes(_compress(comp, data))
    monkeypatch.setattr(vega.pcap, "PIECE", piece)
    want, want_stats = _read(plain)
    got, stats = _read(packed)
    assert got == want and len(got) > 10
    assert stats.offset == packed.stat().st_size and want_stats.offset == len(data)
    stats.offset = want_stats.offset
    assert stats == want_stats


def test_compressed_capture_damage_is_one_line_after_what_came_before(tmp_path, monkeypatch):
    import gzip

    import vega.pcap
    monkeypatch.setattr(vega.pcap, "PIECE", 4096)
    items = [(T0 + i * 1000, FO[0], FO[1], bytes([i % 256]) * 300) for i in range(200)]
    write_pcap(tmp_path / "a.pcap", items)
    whole = gzip.compress((tmp_path / "a.pcap").read_bytes())
    cases = {"cut.pcap.gz": (whole[:len(whole) // 2], "compression is damaged"),
             "flipped.pcap.gz": (whole[:len(whole) // 2] + bytes(64) + whole[len(whole) // 2 + 64:],
                                 "compression is damaged"),
             "text.gz": (gzip.compress(b"not a capture, just text" * 10), "not a pcap or pcapng file"),
             "tiny.gz": (gzip.compress(b"abc"), r"not a packet capture \(3 bytes\)"),
             "torn.pcap.gz": (gzip.compress((tmp_path / "a.pcap").read_bytes()[:-7]), "the file ends first")}
    for name, (blob, needle) in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        got = []
        with pytest.raises(PcapError, match=needle) as e:
            for item in udp_datagrams(p):
                got.append(item)
        assert "\n" not in str(e.value) and str(p) in str(e.value)
        if name in ("cut.pcap.gz", "flipped.pcap.gz", "torn.pcap.gz"):
            assert 0 < len(got) < 200 or name == "torn.pcap.gz" and len(got) == 199
            assert [bytes(g[3]) for g in got] == [it[3] for it in items[:len(got)]]


def _decompressible_prefix(comp, blob):
    """What the reference decompressor gives of a damaged compressed file before the damage."""
    import bz2
    import lzma
    import zlib
    import zstandard
    d = {"gzip": lambda: zlib.decompressobj(31), "xz": lzma.LZMADecompressor, "bzip2": bz2.BZ2Decompressor,
         "zstd": lambda: zstandard.ZstdDecompressor().decompressobj()}[comp]()
    return d.decompress(blob)


@pytest.mark.parametrize("comp", ["gzip", "xz", "bzip2", "zstd"])
@pytest.mark.parametrize("piece", [None, 4096, 50_000])
def test_a_cut_compressed_capture_gives_every_whole_packet_before_the_cut(tmp_path, monkeypatch, comp, piece):
    """A compressed capture cut short (tcpdump -z gzip still writing, a partial copy): every whole packet
    decompressed before the cut is read, in whichever piece the cut falls (the packet it cuts is not), then
    one line says the compression is damaged and where, and what the cut did to the packet there."""
    import bz2
    import gzip
    import lzma

    import vega.pcap
    if piece is not None:
        monkeypatch.setattr(vega.pcap, "PIECE", piece)
    rng = np.random.default_rng(5)                  # payloads that hardly compress: the cut falls mid-capture
    items = [(T0 + i * 1000, FO[0], FO[1], rng.bytes(int(rng.integers(100, 900)))) for i in range(600)]
    write_pcap(tmp_path / "a.pcap", items)
    data = (tmp_path / "a.pcap").read_bytes()
    import zstandard
    blob = {"gzip": gzip.compress, "xz": lzma.compress, "bzip2": lambda b: bz2.compress(b, 1),
            "zstd": zstandard.ZstdCompressor().compress}[comp](data)
    cut = blob[:len(blob) * 6 // 10]
    prefix = _decompressible_prefix(comp, cut)
    (tmp_path / "prefix.pcap").write_bytes(prefix)
    want = []
    with pytest.raises(PcapError, match="the file ends first"):      # the prefix ends inside a packet
        for t, d, p, pay in udp_datagrams(tmp_path / "prefix.pcap"):
            want.append((t, d, p, bytes(pay)))
    assert 50 < len(want) < len(items) * 0.7
    f = tmp_path / f"cut.pcap.{comp}"
    f.write_bytes(cut)
    got, stats = [], PcapStats()
    with pytest.raises(PcapError, match=f"its {comp} compression is damaged after byte {len(prefix)} of the "
                                        r"capture \(.*\): packet at byte \d+ claims \d+ bytes, the file ends first"
                       ) as e:
        for t, d, p, pay in udp_datagrams(f, stats):
            got.append((t, d, p, bytes(pay)))
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{f}: ")
    assert got == want and stats.datagrams == len(want)
    assert [g[3] for g in got] == [it[3] for it in items[:len(got)]]


def test_compression_damage_between_two_packets_is_raised_after_the_last(tmp_path, monkeypatch):
    """Damage right after a whole packet (the gzip member after it is cut after its header): every packet is
    read, then the damage is told, with no packet to blame."""
    import gzip

    import vega.pcap
    monkeypatch.setattr(vega.pcap, "PIECE", 4096)
    items = [(T0 + i * 1000, FO[0], FO[1], bytes([i % 256]) * 300) for i in range(100)]
    write_pcap(tmp_path / "a.pcap", items)
    data = (tmp_path / "a.pcap").read_bytes()
    import zstandard
    for comp, blob in (("gzip", gzip.compress(data) + gzip.compress(b"more")[:10]),
                       # a second zstd frame cut after its header: the stream reader took that for the end
                       ("zstd", zstandard.ZstdCompressor().compress(data) + zstandard.ZstdCompressor().compress(
                           b"more" * 100)[:8])):
        p = tmp_path / f"cut.pcap.{comp}"
        p.write_bytes(blob)
        got = []
        with pytest.raises(PcapError, match=rf"its {comp} compression is damaged after byte \d+ of the capture "
                                            r"\([^)]*\)$"):
            for item in udp_datagrams(p):
                got.append(bytes(item[3]))
        assert got == [it[3] for it in items]


_ZSTD_BOMB = """
import os, resource, struct, sys
from vega.pcap import PcapError, PcapStats, udp_datagrams

def block(last, kind, size, body):
    return (size << 3 | kind << 1 | last).to_bytes(3, "little") + body

head = bytes.fromhex(sys.argv[2])         # a raw block before the zeros (a pcap header), or none
n = 8192                                  # RLE blocks of 128 KiB: 1 GiB of zeros in 32 KiB
frame = (struct.pack("<I", 0xFD2FB528) + bytes([0, 0x58]) + (block(0, 0, len(head), head) if head else b"")
         + block(0, 1, 128 << 10, bytes(1)) * (n - 1) + block(1, 1, 128 << 10, bytes(1)))
with open(sys.argv[1], "wb") as f:
    f.write(frame)
st = PcapStats()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    print("datagrams", sum(1 for _ in udp_datagrams(sys.argv[1], st)), st.packets, st.malformed, st.offset)
except PcapError as e:
    print("refused", e)
print("grew", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) >> 10)
"""


@pytest.mark.parametrize("head", ["zeros", "pcap"])
def test_a_zstd_bomb_is_read_in_bounded_memory(tmp_path, head):
    """A zstd frame of 32 KiB that decompresses to 1 GiB of zeros (RLE blocks: 4 bytes make 128 KiB): the
    chunk it sits in was decompressed in one call, a GiB at once (more for a larger frame).  Now the reader
    decompresses a few blocks at a time: the process's peak memory grows by the pieces' tens of MiB, and the
    zeros are what garbage is (not a capture; after a pcap header, empty records, each malformed)."""
    pcap_head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) if head == "pcap" else b""
    path = tmp_path / "bomb.pcap.zst"
    r = subprocess.run([sys.executable, "-c", _ZSTD_BOMB, str(path), pcap_head.hex()], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr
    said, grew = r.stdout.splitlines()
    if head == "zeros":
        assert said == f"refused {path}: not a pcap or pcapng file (magic 0x00000000)"
    else:                                          # 16-byte records of zeros: a packet each, malformed
        assert said == f"datagrams 0 {(1 << 30) // 16} {(1 << 30) // 16} {path.stat().st_size}"
    assert int(grew.split()[1]) < 100, grew        # MiB (1 GiB and more before)


_PCAP_HEAD = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def _zstd_block(last, kind, size, body):
    return (size << 3 | kind << 1 | last).to_bytes(3, "little") + body


def _bomb(comp, mib):
    """A pcap header then ``mib`` MiB of zeros, ``comp``-compressed into at most a few dozen KB, in milliseconds:
    a gzip member, xz or bzip2 stream of 8 MiB of zeros repeated (as `cat` joins files); for zstd one frame of
    RLE blocks (4 bytes make 128 KiB, the most a block makes)."""
    import bz2
    import gzip
    import lzma
    if comp == "zstd":
        n = mib * 8
        return (struct.pack("<I", 0xFD2FB528) + bytes([0, 0x58]) + _zstd_block(0, 0, 24, _PCAP_HEAD)
                + _zstd_block(0, 1, 128 << 10, bytes(1)) * (n - 1) + _zstd_block(1, 1, 128 << 10, bytes(1)))
    pack = {"gzip": gzip.compress, "xz": lambda b: lzma.compress(b, preset=0), "bzip2": bz2.compress}[comp]
    return pack(_PCAP_HEAD) + pack(bytes(8 << 20)) * (mib // 8)


@pytest.mark.parametrize("comp", ["gzip", "xz", "bzip2", "zstd"])
def test_a_decompression_bomb_is_held_a_piece_at_a_time(tmp_path, monkeypatch, comp):
    """32 MiB of zeros after a pcap header, compressed into 0.3-33 KB, read in pieces of 64 KiB: the most
    memory the read ever holds (Python's allocations, traced: the decompressed bytes, the pieces, liblzma's
    dictionary, xz -0's 256 KiB here) stays under 4 MiB whatever the file makes.  A read of the whole stream
    at once, or of a whole chunk of compressed bytes without a bound on what it makes, holds the 32 MiB (the
    bounded reads are ``read1``: GzipFile's, LZMAFile's and BZ2File's, and _ZstdFrames' steps of blocks)."""
    import tracemalloc

    import vega.pcap
    monkeypatch.setattr(vega.pcap, "PIECE", 64 << 10)
    monkeypatch.setattr(vega.pcap._ZstdFrames, "BLOCKS", 8)         # steps of 1 MiB (4 by default)
    path = tmp_path / "bomb.pcap.z"
    path.write_bytes(_bomb(comp, 32))
    assert path.stat().st_size < 36_000
    st = PcapStats()
    tracemalloc.start()
    try:
        n = sum(1 for _ in udp_datagrams(path, st))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == 0 and st.packets == st.malformed == (32 << 20) // 16       # read to its end: 16-byte records
    assert peak < 4 << 20, f"{peak / (1 << 20):.1f} MiB"


@pytest.mark.parametrize("step", [(None, None), (1, 7), (3, 1000)])
def test_zstd_frames_of_every_kind_read_as_the_capture(tmp_path, monkeypatch, step):
    """Frames as zstd, zstd -T and pzstd write them, concatenated (cat): with and without a content size or
    a checksum, skippable frames first and between (pzstd's: a file of its was not told for zstd), an empty
    frame; read a block or a few at a time from reads of any size (headers cut between two reads), they give
    the capture's datagrams and counts."""
    import zstandard

    import vega.pcap
    blocks, chunk = step
    if blocks is not None:
        monkeypatch.setattr(vega.pcap._ZstdFrames, "BLOCKS", blocks)
        monkeypatch.setattr(vega.pcap._ZstdFrames, "CHUNK", chunk)
        monkeypatch.setattr(vega.pcap, "PIECE", 5000)
    rng = np.random.default_rng(9)
    items = [(T0 + i * 1000, FO[0], FO[1], rng.bytes(int(rng.integers(100, 900)))) for i in range(400)]
    write_pcap(tmp_path / "a.pcap", items)
    data = (tmp_path / "a.pcap").read_bytes()
    third = len(data) // 3
    stream = zstandard.ZstdCompressor(level=19, write_checksum=True).compressobj()   # no content size
    skip = struct.pack("<II", 0x184D2A50, 4) + struct.pack("<I", 12345)
    blob = (skip + zstandard.ZstdCompressor(write_checksum=True).compress(data[:third]) + skip
            + stream.compress(data[third:2 * third]) + stream.flush() + zstandard.ZstdCompressor().compress(b"")
            + skip + zstandard.ZstdCompressor(write_content_size=False).compress(data[2 * third:]))
    (tmp_path / "a.pcap.zst").write_bytes(blob)
    want, want_stats = _read(tmp_path / "a.pcap")
    got, stats = _read(tmp_path / "a.pcap.zst")
    assert got == want and len(got) == 400 and stats.offset == len(blob)
    stats.offset = want_stats.offset
    assert stats == want_stats
    (tmp_path / "b.pcap.zst").write_bytes(blob + b"garbage!")
    with pytest.raises(PcapError, match=r"zstd compression is damaged .*not a zstd frame \(magic 0x62726167\)"):
        _read(tmp_path / "b.pcap.zst")


@pytest.mark.parametrize("second", ["long=27", "long=28", "single 129 MiB"])
def test_a_zstd_window_beyond_128_MiB_is_refused_in_one_line_after_the_frames_before(tmp_path, second):
    """zstd --long and --ultra -22 write a 128 MiB window (libzstd's default limit, what the zstd tool reads
    without --memory): read.  A frame declaring more (--long=28: 256 MiB; a content size of 129 MiB in a
    single-segment frame, whose window it is) is refused before any of it is decompressed, in one line saying
    so and what to do, after the packets of the frames before it (it was 'damaged ... Frame requires too much
    memory for decoding', then what the scanner made of the cut)."""
    import zstandard
    items = [(T0 + i * 1000, FO[0], FO[1], bytes([i]) * 200) for i in range(100)]
    write_pcap(tmp_path / "a.pcap", items)
    write_pcap(tmp_path / "half.pcap", items[:50])
    data = (tmp_path / "a.pcap").read_bytes()
    half = len((tmp_path / "half.pcap").read_bytes())             # the first 50 packets
    if second.startswith("long"):
        log = int(second[5:])
        c = zstandard.ZstdCompressor(compression_params=zstandard.ZstdCompressionParameters.from_level(
            3, window_log=log)).compressobj()          # no content size: the window as declared, as a pipe gets
        frame = c.compress(data[half:]) + c.flush()
        assert frame[5] == (log - 10) << 3             # the window descriptor: 2 ** log bytes
    else:                                              # single segment, 8-byte content size, a raw block
        frame = struct.pack("<IBQ", 0xFD2FB528, 0xE0, 129 << 20) + _zstd_block(1, 0, len(data) - half,
                                                                                 data[half:])
    path = tmp_path / "a.pcap.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(data[:half]) + frame)
    got = []
    if second == "long=27":
        got = [bytes(it[3]) for it in udp_datagrams(path)]
        assert got == [it[3] for it in items]
        return
    mib = 256 if second == "long=28" else 129
    with pytest.raises(PcapError) as e:
        for it in udp_datagrams(path):
            got.append(bytes(it[3]))
    assert str(e.value) == (f"{path}: the zstd frame at byte {half} of the capture needs a {mib} MiB window, more "
                            f"than the 128 MiB read here (zstd --long=28 and above make one): decompress it with "
                            f"zstd -d --long=31")
    assert got == [it[3] for it in items[:50]]


def test_ingest_of_a_cut_gzip_capture_journals_what_came_before_the_cut(tmp_path):
    """`vega ingest x.pcap.gz` of a gzip capture cut short: the whole datagrams before the cut go into the
    journals, which are sealed, exactly as an ingest of the decompressed part; the exit is 1 with one line
    naming the damage."""
    import gzip
    _sim_pcap(tmp_path / "day.pcap", 300, seed=8)
    blob = gzip.compress((tmp_path / "day.pcap").read_bytes())
    gz = tmp_path / "cut.pcap.gz"
    gz.write_bytes(blob[:len(blob) // 2])
    (tmp_path / "prefix.pcap").write_bytes(_decompressible_prefix("gzip", gz.read_bytes()))
    r = _ingest(gz, "--journal-root", tmp_path / "gz")
    err = r.stderr.decode()
    assert r.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert f"{gz}: its gzip compression is damaged after byte" in err and "ingested and sealed" in err
    r = _ingest(tmp_path / "prefix.pcap", "--journal-root", tmp_path / "plain")
    assert r.returncode == 1 and b"the file ends first" in r.stderr
    _same_journals(tmp_path / "gz", tmp_path / "plain", "20261120.bin")


def test_a_damaged_record_length_does_not_read_the_whole_stream_into_memory(tmp_path, monkeypatch):
    import gzip

    import vega.pcap
    monkeypatch.setattr(vega.pcap, "PIECE", 1000)
    monkeypatch.setattr(vega.pcap, "MAX_RECORD", 5000)
    data = bytearray(write_classic([(T0 + i, frame(1, ipv4(FO[0], b"x" * 100))) for i in range(100)], 1))
    rec = 24 + 5 * (16 + len(frame(1, ipv4(FO[0], b"x" * 100))))
    data[rec + 8:rec + 12] = struct.pack("<I", 10**9)                  # the 6th record claims 1 GB
    p = tmp_path / "big.pcap.gz"
    p.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(PcapError, match=f"record at byte {rec} .* longer than"):
        assert len(list(udp_datagrams(p))) == 5


def test_zstd_without_zstandard_says_what_to_install(tmp_path, monkeypatch):
    import sys as _sys
    p = tmp_path / "c.pcap.zst"
    p.write_bytes(_compress("zstd", _mixed_capture("pcap")))
    monkeypatch.setitem(_sys.modules, "zstandard", None)
    with pytest.raises(PcapError, match="needs the zstandard package"):
        list(udp_datagrams(p))


def test_ingest_of_a_gzipped_capture_makes_what_the_capture_makes(tmp_path):
    import gzip
    pcap, items = _two_day_capture(tmp_path)
    gz = tmp_path / "two.pcap.gz"
    gz.write_bytes(gzip.compress(pcap.read_bytes()))
    out = {}
    for name, path in (("plain", pcap), ("gz", gz)):
        r = subprocess.run([sys.executable, "-m", "vega.cli", "ingest", str(path), "--journal-root",
                            str(tmp_path / name), "--json", "--progress"], capture_output=True, text=True,
                           timeout=120, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
        assert r.returncode == 0, r.stderr
        assert "ingest: 100%" in r.stderr
        import json
        out[name] = json.loads(r.stdout)
        out[name].pop("files")
        for d in out[name]["feeds"].values():
            for j in (d["journal"], *d["journal"]["earlier_days"]):
                assert j.pop("path").startswith(str(tmp_path / name))
    assert out["plain"] == out["gz"]
    for f in sorted((tmp_path / "plain").rglob("*.bin")):
        rel = f.relative_to(tmp_path / "plain")
        with Journal.open(f) as a, Journal.open(tmp_path / "gz" / rel) as b:
            assert np.array_equal(np.asarray(a.records), np.asarray(b.records)), rel


# -- streams: standard input, pipes, FIFOs -------------------------------------------------------------------

def _through_a_fifo(tmp_path, kind, comp, first, piece, pause=0.0):
    """The capture of ``kind`` (compressed with ``comp``) written into a FIFO by another thread, its first
    ``first`` bytes, ``pause`` seconds, then pieces of ``piece`` bytes (a flush after each), and read from it;
    with what the plain file reads as."""
    import threading
    import time
    data = _mixed_capture(kind)
    plain = tmp_path / "c.bin"
    plain.write_bytes(data)
    blob = data if comp is None else _compress(comp, data)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def writer():
        with open(fifo, "wb") as w:
            w.write(blob[:first])
            w.flush()
            time.sleep(pause)
            for i in range(first, len(blob), piece):
                w.write(blob[i:i + piece])
                w.flush()
    t = threading.Thread(target=writer)
    t.start()
    try:
        return _read(fifo), _read(plain)
    finally:
        t.join()


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
@pytest.mark.parametrize("comp", [None, "gzip"])
def test_a_fifo_reads_as_the_file(tmp_path, monkeypatch, kind, comp):
    """A capture written into a FIFO by another thread (pieces of 700 bytes: records cut anywhere) gives the
    file's datagrams and counts; its offset counts the capture's bytes (a pipe has no position)."""
    import vega.pcap
    monkeypatch.setattr(vega.pcap, "PIECE", 700)
    (got, stats), (want, want_stats) = _through_a_fifo(tmp_path, kind, comp, 333, 333)
    assert got == want and len(got) > 10 and stats == want_stats


@pytest.mark.parametrize("comp", [None, "gzip", "xz", "zstd"])
def test_a_pipe_whose_first_write_is_shorter_than_the_magic_reads_as_the_file(tmp_path, comp):
    """The kind of a stream was told from one peek, which returns what one read of the pipe brought: a first
    write of 2 bytes (shorter than any magic: xz's is 6) read as 'not a packet capture'.  Now the magic's bytes
    are read whole, and given back to the reader.  (The writer waits 0.3 s after those 2 bytes: the reader
    looks at the stream's first bytes meanwhile.)"""
    (got, stats), (want, want_stats) = _through_a_fifo(tmp_path, "pcap", comp, 2, 1 << 20, pause=0.3)
    assert got == want and len(got) > 10 and stats == want_stats


def test_ingest_from_standard_input_makes_what_the_file_makes(tmp_path):
    """`vega ingest -` with the capture (gzipped) piped in: the capture opens itself at the first datagram's
    time, read once, and journals what the file's ingest journals."""
    import gzip
    import json
    pcap, items = _two_day_capture(tmp_path)
    out = {}
    for name, stdin, arg in (("file", None, str(pcap)), ("stdin", gzip.compress(pcap.read_bytes()), "-")):
        r = subprocess.run([sys.executable, "-m", "vega.cli", "ingest", arg, "--journal-root", str(tmp_path / name),
                            "--json"], input=stdin, capture_output=True, timeout=120, cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=ROOT))
        assert r.returncode == 0, r.stderr
        out[name] = json.loads(r.stdout)
        out[name].pop("files")
        for d in out[name]["feeds"].values():
            for j in (d["journal"], *d["journal"]["earlier_days"]):
                j.pop("path")
    assert out["file"] == out["stdin"] and out["file"]["udp_datagrams"] == len(items)
    files = sorted(p.relative_to(tmp_path / "file") for p in (tmp_path / "file").rglob("*.bin"))
    assert len(files) == 6
    for f in files:
        with Journal.open(tmp_path / "file" / f) as a, Journal.open(tmp_path / "stdin" / f) as b:
            assert np.array_equal(np.asarray(a.records), np.asarray(b.records)), f
    r = subprocess.run([sys.executable, "-m", "vega.cli", "ingest", "-", "--journal-root", str(tmp_path / "x")],
                       input=b"no capture here", capture_output=True, timeout=60, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 1 and b"standard input: not a pcap or pcapng file" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_ingest_of_standard_input_when_it_is_closed_says_so_in_one_line(tmp_path):
    """`vega ingest - <&-` (a cron job, a service with no standard input): sys.stdin is None, which failed with
    "AttributeError: 'NoneType' object has no attribute 'buffer'"."""
    r = subprocess.run(f'exec "{sys.executable}" -m vega.cli ingest - --journal-root "{tmp_path / "x"}" <&-',
                       shell=True, capture_output=True, timeout=60, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 1, r.stderr
    assert r.stderr.decode() == "vega ingest: standard input is closed: give a capture file, or pipe one in " \
                                "(- reads it)\n"
    assert not (tmp_path / "x").exists()


def test_an_unopened_capture_opens_at_the_first_datagram_or_not_at_all(tmp_path):
    pcap, items = _two_day_capture(tmp_path)
    cap = Capture(load_config(None, journal_root=str(tmp_path / "j")))
    assert cap.ingest_pcap([pcap]) == sum(1 for it in items if it[1] != "239.9.9.9")
    assert cap.opened and cap._offline_ns == items[0][0]
    cap.close()
    empty = tmp_path / "arp.pcap"
    empty.write_bytes(write_classic([(T0, frame(1, None))] * 3, 1))
    cap = Capture(load_config(None, journal_root=str(tmp_path / "k")))
    stats = PcapStats()
    assert cap.ingest_pcap([empty], stats) == 0 and not cap.opened and stats.not_ipv4 == 3
    cap.close()
    assert not (tmp_path / "k").exists()


def test_an_ingest_into_a_store_too_small_says_so_and_exits_1(tmp_path):
    """`vega capture` warns of a full store; an ingest dropped the updates of the tokens past it from the
    journal with exit 0 and nothing in its text summary.  It now says how many, per feed, and exits 1."""
    _sim_pcap(tmp_path / "day.pcap", 200, seed=9)
    r = _ingest(tmp_path / "day.pcap", "--journal-root", tmp_path / "j", "--store-capacity", 50)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert re.search(r"NSE_FO: .*; STORE FULL: [\d,]+ updates dropped", out), out
    assert re.search(r"vega ingest: the store was full \(50 instruments a feed\): the updates of tokens past it "
                     r"were dropped, NSE_FO [\d,]+, NSE_EQ [\d,]+ .*larger --store-capacity", err), err
    assert _ingest(tmp_path / "day.pcap", "--journal-root", tmp_path / "k").returncode == 0


def test_periodic_stats_list_the_newest_earlier_days_and_count_them_all(tmp_path):
    """A capture's stats name the day files this run sealed, per feed: the newest ``STATS_EARLIER_DAYS`` of them
    and their count, so that the line printed every few seconds does not grow by a file every day a capture
    runs (after 486 days it was 111 kB); ``stats(earlier_days=None)`` lists them all, as vega ingest's summary
    does."""
    sim = Simulator(["FO"], 90, seed=3)
    sim.generate()
    host, port = sim.targets["FO"]
    t0 = int(dt.datetime(2026, 11, 2, 10, 0, tzinfo=IST).timestamp() * 1e9)
    days = 9
    items = [(t0 + (i * days // 90) * 86_400 * 10**9 + i * 1000, host, port, dg)
             for i, dg in enumerate(sim.datagrams["FO"])]
    cap = Capture(load_config(None, journal_root=str(tmp_path)))
    cap.open(offline_ns=items[0][0])
    try:
        cap.ingest(iter(items), batch=16)
        sealed = [f"202611{d:02d}.bin" for d in range(2, 2 + days - 1)]     # every day but the one being written
        j = cap.stats()["feeds"]["NSE_FO"]["journal"]
        assert Capture.STATS_EARLIER_DAYS == 5 and j["earlier_day_count"] == days - 1
        assert [os.path.basename(e["path"]) for e in j["earlier_days"]] == sealed[-5:]
        every = cap.stats(earlier_days=None)["feeds"]["NSE_FO"]["journal"]["earlier_days"]
        assert [os.path.basename(e["path"]) for e in every] == sealed
        for e in every:
            with Journal.open(e["path"]) as jr:
                assert len(jr) == e["records"] > 0
        assert cap.stats(earlier_days=0)["feeds"]["NSE_FO"]["journal"]["earlier_days"] == []
    finally:
        cap.close()
