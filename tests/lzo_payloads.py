"""NSE-like decompressed payloads for the LZO1Z tests and benchmark (shared helper, not a test module).

Each payload is what an NSE sub-packet decompresses to: the 8-byte prefix (market type first), the 40-byte
big-endian BCAST_HEADER, then a message body laid out after PROTOCOL.md §3 (F&O 7208 / 7200 / 7202, CM 7201
/ 18703): tokens, prices in paise, mostly-zero fields and repeated depth entries.  Values are random but
market-shaped, so the data compresses the way the exchange's does (mostly zeros, small integers, repeated
structures).
"""
from __future__ import annotations

import random
import struct

_HDR = struct.Struct(">4sihhhi4s8s8sh")      # BCAST_HEADER, 40 bytes (PROTOCOL.md §2)
assert _HDR.size == 40


def _header(rng: random.Random, code: int, length: int) -> bytes:
    log_time = 1_448_795_086 + rng.randrange(0, 30_000)
    stream = bytes([rng.randrange(1, 12)]) + b" " * 7
    prefix = bytes([2 if code in (7200, 7208, 7202) else 4]) + bytes(rng.randrange(256) for _ in range(7))
    return prefix + _HDR.pack(b"\0" * 4, log_time, 0, code, 0, rng.randrange(1 << 24), b"J\0\0\0",
                              struct.pack(">Q", rng.randrange(1 << 56)), stream, length)


def _depth(rng: random.Random, ltp: int, levels: int = 5) -> bytes:
    """10 MBP entries (5 buy, 5 sell): qty LONG, price LONG, orders SHORT, bb flag SHORT; some levels empty."""
    out = []
    filled = rng.randrange(0, levels + 1)
    for side in (-1, 1):
        for k in range(levels):
            if k < filled:
                out.append(struct.pack(">iihh", rng.choice([25, 50, 75, 150, 1800, rng.randrange(1, 9999)]),
                                       ltp + side * 5 * (k + 1), rng.randrange(1, 40), 0))
            else:
                out.append(b"\0" * 12)
    return b"".join(out)


def _md_record_fo(rng: random.Random) -> bytes:
    """One F&O 7208 record, 214 bytes (PROTOCOL.md §3.10)."""
    ltp = rng.randrange(500, 5_000_000) // 5 * 5
    rec = struct.pack(">ihhIiccii i i hhhiiii", rng.randrange(35_000, 90_000), 1, 2, rng.randrange(0, 5_000_000),
                      ltp, b"+", b"0", rng.randrange(-5000, 5000), rng.choice([25, 50, 75]),
                      1_448_795_000 + rng.randrange(3000), ltp - rng.randrange(0, 50), 0, 0, 0, 0, 0, 0, 0)
    rec += _depth(rng, ltp)
    rec += struct.pack(">hhddHiiii", 0, 0, float(rng.randrange(0, 10**6)), float(rng.randrange(0, 10**6)), 0,
                       ltp - 1000, ltp - 500, ltp + 800, ltp - 1200)
    assert len(rec) == 214, len(rec)
    return rec


def fo_7208(rng: random.Random) -> bytes:
    """F&O 7208 BCAST_ONLY_MBP: 8 + 470 bytes, one or two securities (the second may be all zeros)."""
    nrec = rng.choice([1, 2, 2])
    body = struct.pack(">h", nrec) + _md_record_fo(rng) + (_md_record_fo(rng) if nrec == 2 else b"\0" * 214)
    return _header(rng, 7208, 470) + body


def fo_7200(rng: random.Random) -> bytes:
    """F&O 7200 MBO/MBP: 8 + 410 bytes; MBO entries mostly zero, MBP depth, totals, OHLC."""
    ltp = rng.randrange(500, 5_000_000) // 5 * 5
    body = struct.pack(">ihhIicii", rng.randrange(35_000, 90_000), 1, 2, rng.randrange(0, 10**6), ltp, b"+",
                       rng.randrange(-900, 900), rng.choice([25, 50]))
    body += b"\0" * 26                                            # time, ATP, auction fields (mostly zero)
    mbo = b"".join(struct.pack(">iiiihh", rng.randrange(10**6) if k < 3 else 0, rng.choice([25, 50]) if k < 3
                               else 0, ltp + k * 5 if k < 3 else 0, 0, 0, 0) for k in range(10))
    body += mbo + _depth(rng, ltp) + struct.pack(">hhdd", 0, 0, float(rng.randrange(10**6)), 0.0)
    body += struct.pack(">hiiii", 0, ltp - 100, ltp - 300, ltp + 700, ltp - 900)
    body = body[:410 - 40].ljust(410 - 40, b"\0")
    return _header(rng, 7200, 410) + body


def fo_7202(rng: random.Random) -> bytes:
    """F&O 7202 ticker: 8 + 484 bytes, up to 17 records of 26 bytes (token, market type, price, qty, OI)."""
    n = rng.randrange(1, 18)
    recs = b"".join(struct.pack(">ihiiIII", rng.randrange(35_000, 90_000), 1, rng.randrange(100, 10**6),
                                rng.choice([25, 50, 75, 0]), rng.randrange(10**7), 0, 0) for _ in range(n))
    body = (struct.pack(">h", n) + recs).ljust(484 - 40, b"\0")
    return _header(rng, 7202, 484) + body


def cm_7201(rng: random.Random) -> bytes:
    """CM 7201 market watch: 8 + 466 bytes, up to 4 records of 3 x market-wise info."""
    n = rng.randrange(1, 5)
    recs = []
    for _ in range(n):
        r = struct.pack(">i", rng.randrange(1, 30_000))
        for mkt in range(3):
            if mkt == 0:
                p = rng.randrange(100, 10**6)
                r += struct.pack(">hqiqiii", 0, rng.randrange(10**5), p, rng.randrange(10**5), p + 5, p, 1_448_795_000)
            else:
                r += b"\0" * 38
        recs.append(r)
    body = (struct.pack(">h", n) + b"".join(recs)).ljust(466 - 40, b"\0")
    return _header(rng, 7201, 466) + body


def cm_18703(rng: random.Random) -> bytes:
    """CM 18703 ticker and index: 8 + 546 bytes, up to 28 records of 18 bytes."""
    n = rng.randrange(1, 29)
    recs = b"".join(struct.pack(">ihiq", rng.randrange(1, 30_000), 1, rng.randrange(100, 10**6),
                                rng.randrange(0, 10**4)) for _ in range(n))
    body = (struct.pack(">h", n) + recs).ljust(546 - 40, b"\0")
    return _header(rng, 18703, 546) + body


GENERATORS = (fo_7208, fo_7208, fo_7200, fo_7202, cm_7201, cm_18703)


def market_payloads(count: int, seed: int = 0) -> list[bytes]:
    """`count` NSE-like decompressed payloads (about 418-554 bytes each), reproducible from `seed`."""
    rng = random.Random(seed)
    return [rng.choice(GENERATORS)(rng) for _ in range(count)]
