"""Time-boxed mutation fuzzer for vega._lzo (not collected by pytest; run by hand, see below).

Mutates valid LZO1Z streams (python-lzo's and ours, NSE-like and random payloads) and feeds them to our
decompressor twice:
  * through the Python API with the stream placed flush against a PROT_NONE guard page, so any read past the
    end of the input faults at once;
  * through the nogil batch helper, whose output buffer is an exact-size malloc (under AddressSanitizer any
    write past max_out is reported).
Every result is compared with python-lzo (error where it errors, same bytes where it accepts).  It also
round-trips random payloads through our compressor.

Debug + AddressSanitizer run (what the report quotes):
    CFLAGS="-fsanitize=address -fno-omit-frame-pointer" LDFLAGS="-fsanitize=address" \\
        VEGA_DEBUG=1 VEGA_ONLY=_lzo python setup.py build_ext --inplace -q
    LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc \\
        python tests/fuzz_lzo.py --seconds 180
then rebuild the release module (python setup.py build_ext --inplace -q).
"""
from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import random
import sys
import time

import lzo
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lzo_payloads import market_payloads  # noqa: E402
from vega import _lzo  # noqa: E402

PAGE = mmap.PAGESIZE
ARENA_PAGES = 32                          # inputs up to 31 pages, then one PROT_NONE page


class GuardedInput:
    """A buffer whose last accessible byte is followed by a PROT_NONE page."""

    def __init__(self) -> None:
        self.mm = mmap.mmap(-1, (ARENA_PAGES + 1) * PAGE)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.mm))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        if libc.mprotect(self.base + ARENA_PAGES * PAGE, PAGE, 0) != 0:
            raise OSError(ctypes.get_errno(), "mprotect")
        self.end = ARENA_PAGES * PAGE

    def place(self, data: bytes) -> memoryview:
        start = self.end - len(data)
        self.mm[start:self.end] = data
        return memoryview(self.mm)[start:self.end]


def mutate(rng: random.Random, s: bytearray, pool: list[bytes]) -> bytearray:
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(8)
        if not s:
            s = bytearray(rng.randbytes(rng.randrange(1, 8)))
        k = rng.randrange(len(s))
        if op == 0:
            s[k] ^= 1 << rng.randrange(8)
        elif op == 1:
            s[k] = rng.randrange(256)
        elif op == 2:
            del s[k:k + rng.randrange(1, 8)]
        elif op == 3:
            s[k:k] = rng.randbytes(rng.randrange(1, 8))
        elif op == 4:
            s = s[:k]                                     # truncate
        elif op == 5:
            other = rng.choice(pool)                      # splice another stream in
            a = rng.randrange(len(other))
            s[k:] = other[a:]
        elif op == 6:
            s[k] = rng.choice([0, 0x11, 0x1C, 0x20, 0x3F, 0x5C, 0xFC, 0xFF])
        else:
            s[k:k + 2] = bytes(2)                         # zero runs: long extended lengths
    return s


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    guard = GuardedInput()

    datas = market_payloads(300, seed=args.seed) + [rng.randbytes(rng.randrange(0, 3000)) for _ in range(30)]
    datas += [bytes(rng.randrange(0, 60000)) for _ in range(5)] + [b"ab" * rng.randrange(1, 5000) for _ in range(5)]
    pool = [lzo.compress(d, 9, False, algorithm="LZO1Z") for d in datas] + [_lzo.lzo1z_compress(d) for d in datas]

    n_cases = n_ok = n_err = n_mismatch = n_rt = 0
    codes: dict[int, int] = {}
    t_end = time.monotonic() + args.seconds
    while time.monotonic() < t_end:
        for _ in range(200):
            stream = bytes(mutate(rng, bytearray(rng.choice(pool)), pool))
            if len(stream) > ARENA_PAGES * PAGE - 1:
                continue
            max_out = rng.choice([0, 1, 64, 480, 4096, 65535, rng.randrange(0, 70000)])
            try:
                ref = lzo.decompress(stream, False, max_out, algorithm="LZO1Z") if max_out else None
            except lzo.error:
                ref = None
            view = guard.place(stream)
            try:
                got = _lzo.lzo1z_decompress(view, max_out)
                n_ok += 1
            except _lzo.LzoError as e:
                got = None
                n_err += 1
                codes[e.code] = codes.get(e.code, 0) + 1
            # exact-size output buffer (malloc'd by the helper): ASan reports any write past max_out
            try:
                total = _lzo._bench_decompress_many(view, np.zeros(1, np.int64),
                                                    np.array([len(stream)], np.int64), 1, max_out)
                assert got is not None and total == len(got)
            except _lzo.LzoError:
                assert got is None
            if max_out and got != ref:
                n_mismatch += 1
                print("MISMATCH", max_out, stream.hex(), file=sys.stderr)
            n_cases += 1
        d = rng.randbytes(rng.randrange(0, 2000)) if rng.random() < 0.5 else rng.choice(datas)
        if _lzo.lzo1z_decompress(_lzo.lzo1z_compress(d), max(len(d), 1)) != d:
            n_mismatch += 1
            print("ROUND TRIP FAILED", d.hex(), file=sys.stderr)
        n_rt += 1
    print(f"seed {args.seed}: {n_cases} mutated streams ({n_ok} accepted, {n_err} rejected; "
          f"codes {sorted(codes.items())}), {n_rt} compressor round trips, {n_mismatch} mismatches vs python-lzo")
    return 1 if n_mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
