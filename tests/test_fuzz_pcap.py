"""Fuzz: captures cut at every byte and mutated captures through the walker, read whole (a mapped file) and in
pieces (``partial`` + ``refill``, as a compressed capture or a stream is read).  Both reads must give the same
datagrams, counts and framing error; a cut inside a packet is a framing error, a cut between two is none.

The seeds reach what the dpkt-written captures of test_pcap_ingest.py do not: classic pcap of every link type
in both byte orders, pcapng with several sections of either byte order, several interfaces (if_tsresol,
if_tsoffset and other options, a link type not understood), enhanced, obsolete and simple packet blocks and
blocks of other types.  Deterministic and bounded by a count, not a time (VEGA_FUZZ_CAPTURES, default 1500
mutated captures); run it longer under AddressSanitizer to turn an out-of-bounds read into a failure.
"""
import os
import random
import struct

import numpy as np

from test_pcap_ingest import T0, frame, ipv4, write_classic
from vega._pcap import PcapScanner
from vega.pcap import PcapError

CAPTURES = int(os.environ.get("VEGA_FUZZ_CAPTURES", "1500"))
LINKS = [1, 101, 113, 276, 0, 108]


def _classic(rng):
    link = rng.choice(LINKS)
    pk = [ipv4("239.70.2.1", rng.randbytes(rng.randint(0, 60)), proto=rng.choice([17, 17, 6])) for _ in range(5)]
    return write_classic([(T0 + i * 1_000_003, frame(link, ip, vlan=i % 3 if link == 1 else 0))
                          for i, ip in enumerate(pk)], link, nano=rng.random() < 0.5, endian=rng.choice("<>"))


def _block(e, btype, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack(e + "II", btype, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body))


def _pcapng(rng):
    out = []
    for _ in range(rng.randint(1, 3)):
        e = rng.choice("<>")
        out.append(_block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
        ifaces = []
        for _ in range(rng.randint(1, 3)):
            link, res, opts = rng.choice(LINKS + [147]), rng.choice([6, 9, 0x80 | 20]), b""
            if res != 6 or rng.random() < 0.5:
                opts += struct.pack(e + "HHB3x", 9, 1, res)
            if rng.random() < 0.3:
                opts += struct.pack(e + "HHq", 14, 8, rng.choice([0, 3600]))
            if rng.random() < 0.3:
                opts += struct.pack(e + "HH", 2, 5) + b"eth0\0\0\0\0"
            out.append(_block(e, 1, struct.pack(e + "HHI", link, 0, 65535) + opts + struct.pack(e + "HH", 0, 0)))
            ifaces.append((link, res))
        for i in range(rng.randint(1, 5)):
            k = rng.randrange(len(ifaces))
            link, res = ifaces[k]
            ip = ipv4("239.70.2.1", rng.randbytes(rng.randint(0, 60)))
            fr = ip if link == 147 else frame(link, ip)
            t = {6: T0 // 1000, 9: T0}.get(res, (T0 // 10**9) << 20) + i
            kind = rng.choice([6, 6, 2, 3, 5])
            if kind == 6:
                out.append(_block(e, 6, struct.pack(e + "IIIII", k, t >> 32, t & 0xFFFFFFFF, len(fr), len(fr)) + fr))
            elif kind == 2:
                out.append(_block(e, 2, struct.pack(e + "HHIIII", k, 0, t >> 32, t & 0xFFFFFFFF, len(fr), len(fr))
                                  + fr))
            elif kind == 3:
                out.append(_block(e, 3, struct.pack(e + "I", len(fr)) + fr))
            else:
                out.append(_block(e, 5, rng.randbytes(16)))
    return b"".join(out)


def _boundaries(data):
    """Offsets at which the capture's packets (classic) or blocks (pcapng) start, and its end."""
    out = {len(data)}
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        off, e = 0, "<"
        while off < len(data):
            out.add(off)
            if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
                e = "<" if data[off + 8:off + 12] == struct.pack("<I", 0x1A2B3C4D) else ">"
            off += struct.unpack_from(e + "I", data, off + 4)[0]
    else:
        e = "<" if struct.unpack_from("<I", data)[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        off = 24
        while off < len(data):
            out.add(off)
            off += 16 + struct.unpack_from(e + "I", data, off + 8)[0]
    return out


def _mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(b))
        op = rng.randrange(6)
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.randrange(256)
        elif op == 2 and i + 4 <= len(b):           # a length, count, interface or time field
            v = rng.choice([0, 1, 4, 11, 12, 13, 16, 20, 28, 2**31, 2**32 - 1, 2**32 - 4, len(b), len(b) - i])
            struct.pack_into(rng.choice("<>") + "I", b, i, v % 2**32)
        elif op == 3 and i + 2 <= len(b):           # an option code or length, an ethertype, an IP length
            struct.pack_into(rng.choice("<>") + "H", b, i, rng.choice([0, 1, 2, 8, 9, 14, 0xFFFF, 0x0800, 0x8100]))
        elif op == 4:
            b[i:i] = rng.randbytes(rng.randint(1, 12))
        else:
            j = rng.randrange(len(b))
            b[j:j] = b[i:i + rng.randint(1, 64)]
    return bytes(b)


def _arrays(cap):
    return (np.empty(cap, np.int64), np.empty(cap, np.uint32), np.empty(cap, np.uint16), np.empty(cap, np.int64),
            np.empty(cap, np.int32))


def _read(data, cap, rng=None):
    """(datagrams, framing error or None, counts) of a capture read whole, or (rng given) in pieces: each the
    unread rest of the last one plus up to 200 more bytes, the first at least 64; None when refused at once."""
    arrays, got, err = _arrays(cap), [], None
    end = len(data) if rng is None else min(len(data), max(64, rng.randint(1, len(data))))
    piece = data[:end]
    try:
        sc = PcapScanner(piece, "f", partial=end < len(data), latest_ns=2**62)
    except PcapError:
        return None
    try:
        while not sc.done:
            n = sc.scan(*arrays)
            for i in range(n):
                o, k = int(arrays[3][i]), int(arrays[4][i])
                assert 0 <= o <= o + k <= len(piece)
                got.append((int(arrays[0][i]), int(arrays[1][i]), int(arrays[2][i]), piece[o:o + k]))
            if sc.needs_more:
                at, end = sc.offset, min(len(data), end + rng.randint(1, 200))
                piece = data[at:end]
                sc.refill(piece, end >= len(data))
    except PcapError as e:
        assert "\n" not in str(e) and str(e).startswith("f: ")
        err = str(e)
    return got, err, sc.counts()


def test_a_capture_cut_at_every_byte_fails_inside_a_packet_only_and_reads_the_same_in_pieces():
    rng = random.Random("vega-fuzz-pcap-cuts")
    cuts = 0
    for seed in [_classic(rng) for _ in range(3)] + [_pcapng(rng) for _ in range(3)]:
        bounds = _boundaries(seed)
        for k in range(len(seed) + 1):
            whole = _read(seed[:k], 3)
            if whole is None:                        # not even a capture's header
                assert k < 64
                continue
            assert (whole[1] is None) == (k in bounds), (k, whole[1])
            if k >= 64:
                assert _read(seed[:k], rng.choice([1, 4096]), rng) == whole, k
            cuts += 1
    assert cuts > 3000


def test_mutated_captures_read_the_same_whole_and_in_pieces():
    rng = random.Random("vega-fuzz-pcap")
    seen = {"datagrams": 0, "errors": 0, "refused": 0}
    for _ in range(CAPTURES):
        data = _mutate(rng, _classic(rng) if rng.random() < 0.4 else _pcapng(rng))
        cap = rng.choice([1, 2, 4096])
        whole = _read(data, cap)
        if whole is None:
            seen["refused"] += 1
            continue
        got, err, (packets, kinds, _) = whole
        assert kinds["datagrams"] == len(got) and packets == sum(kinds.values())
        seen["datagrams"] += len(got)
        seen["errors"] += err is not None
        if len(data) >= 64:
            assert _read(data, cap, rng) == whole, data.hex()
    assert seen["datagrams"] and seen["errors"] and seen["refused"]     # every outcome was reached
