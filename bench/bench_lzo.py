"""LZO1Z: VEGA's codec (vega._lzo) against python-lzo (liblzo2 2.10), measured in the same run with pyperf.

Corpus: NSE-like decompressed payloads (418-554 bytes: 8-byte prefix, BCAST_HEADER, F&O 7208/7200/7202, CM
7201/18703 bodies; tests/lzo_payloads.py), compressed with python-lzo's LZO1Z (lzo1z_999_compress).

Benchmarks (each value is per message):
  decompress/python-lzo per call   lzo.decompress(c, False, 65535, algorithm="LZO1Z") from Python
  decompress/vega per call         vega._lzo.lzo1z_decompress(c) from Python (same work, same call shape)
  decompress/vega C loop           vega._lzo._bench_decompress_many: the whole corpus in one nogil C loop, as
                                   vega._core calls it; compare it with python-lzo's per-call figure only as
                                   "our hot path vs what Python code using python-lzo pays", not as C vs C
  decompress/liblzo2 C loop        liblzo2's lzo1z_decompress_safe over the same corpus in a C loop (a tiny C
                                   file compiled at start-up against the system liblzo2, called once per pyperf
                                   sample through ctypes): the C-vs-C bar.  Skipped if no C compiler/liblzo2-dev.
  compress/python-lzo 999, compress/vega per call

Run:  python bench/bench_lzo.py [--fast] [--corpus market|FO|CM] [pyperf options]
      (pyperf's --fast: fewer runs, well under a minute.  --corpus FO / CM: instead of the payloads above, the
      compressed sub-packets of the first 1000 datagrams of vega.nse.sample_stream(seg, seed=7), the streams
      bench_decode.py measures; the compress benchmarks then compress their decompressed payloads.)
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import lzo
import numpy as np
import pyperf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lzo_payloads import market_payloads  # noqa: E402
from bench._cli import command_line, parse_args  # noqa: E402
from vega import _lzo  # noqa: E402

CORPORA = ("market", "FO", "CM")


def _segment_streams(seg: str, n_datagrams: int) -> list[bytes]:
    """The LZO1Z streams of the compressed sub-packets of vega.nse.sample_stream(seg) (bench_decode's input)."""
    from bench.bench_decode import compressed_streams
    from vega import nse
    buf, offs, lens = compressed_streams(list(nse.sample_stream(seg, n_datagrams, seed=7)))
    raw = buf.tobytes()
    return [raw[o:o + n] for o, n in zip(offs.tolist(), lens.tolist())]


#: the corpus (main(): _build_corpus, from the --corpus argparse read, in the master and in every worker, which
#: receive the option through add_cmdline_args; it was built at import, for --help and a refused option too)
CORPUS = CORPUS_DESC = ""
N_MSG = RAW_BYTES = 0
PAYLOADS: list[bytes] = []
STREAMS: list[bytes] = []
OURS: list[bytes] = []
BUF = b""
LENGTHS = OFFSETS = np.zeros(0, dtype=np.int64)


def _build_corpus(corpus: str) -> None:
    """The corpus ``corpus`` (one of CORPORA) into the module's globals, which the timed functions read."""
    global CORPUS, CORPUS_DESC, N_MSG, RAW_BYTES, PAYLOADS, STREAMS, OURS, BUF, LENGTHS, OFFSETS
    CORPUS = corpus
    if corpus == "market":
        PAYLOADS = market_payloads(1000, seed=7)
        STREAMS = [lzo.compress(p, 9, False, algorithm="LZO1Z") for p in PAYLOADS]
        CORPUS_DESC = f"{len(STREAMS)} NSE-like payloads (lzo1z_999-compressed)"
    else:
        STREAMS = _segment_streams(corpus, 1000)
        PAYLOADS = [lzo.decompress(s, False, 65535, algorithm="LZO1Z") for s in STREAMS]
        CORPUS_DESC = f"{len(STREAMS)} compressed {corpus} sub-packets of vega.nse.sample_stream (bench_decode's mix)"
    N_MSG = len(STREAMS)
    OURS = [_lzo.lzo1z_compress(p) for p in PAYLOADS]
    RAW_BYTES = sum(len(p) for p in PAYLOADS)
    BUF = b"".join(STREAMS)
    LENGTHS = np.array([len(s) for s in STREAMS], dtype=np.int64)
    OFFSETS = np.concatenate([[0], np.cumsum(LENGTHS)[:-1]]).astype(np.int64)
    assert all(_lzo.lzo1z_decompress(s) == p for s, p in zip(STREAMS, PAYLOADS))
    assert all(lzo.decompress(s, False, 65535, algorithm="LZO1Z") == p for s, p in zip(OURS, PAYLOADS))


LIBLZO2_LOOP_C = r"""
#include <stdint.h>
#include <lzo/lzo1z.h>
/* decompress every stream `loops` times; returns the total output bytes or -1 */
int64_t liblzo2_loop(const unsigned char* buf, const int64_t* offs, const int64_t* lens, int64_t n,
                     int64_t loops, unsigned char* out, int64_t cap) {
    int64_t total = 0, r, k;
    if (lzo_init() != LZO_E_OK) return -1;
    for (r = 0; r < loops; r++)
        for (k = 0; k < n; k++) {
            lzo_uint out_len = (lzo_uint)cap;
            if (lzo1z_decompress_safe(buf + offs[k], (lzo_uint)lens[k], out, &out_len, NULL) != LZO_E_OK)
                return -1;
            total += (int64_t)out_len;
        }
    return total;
}
"""


def _build_liblzo2_loop():
    """Compile LIBLZO2_LOOP_C once (cached in the temp dir by content hash); None if that is not possible.  Called
    by main() once the command line is read: at import, --help and a bad option compiled it too."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    tag = hashlib.sha1(LIBLZO2_LOOP_C.encode()).hexdigest()[:12]
    so = os.path.join(tempfile.gettempdir(), f"vega_bench_liblzo2_loop_{tag}.so")
    if not os.path.exists(so):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "loop.c")
            with open(src, "w") as f:
                f.write(LIBLZO2_LOOP_C)
            tmp_so = os.path.join(d, "loop.so")
            r = subprocess.run([cc, "-O2", "-shared", "-fPIC", src, "-o", tmp_so, "-llzo2"], capture_output=True)
            if r.returncode != 0:
                return None
            shutil.move(tmp_so, so)
    lib = ctypes.CDLL(so)
    fn = lib.liblzo2_loop
    fn.restype = ctypes.c_int64
    fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                   ctypes.c_void_p, ctypes.c_int64]
    return fn


LIBLZO2_LOOP = None                      # main(): _build_liblzo2_loop()
_OUT = ctypes.create_string_buffer(65536)


def t_liblzo2_c_loop(loops: int) -> float:
    t0 = time.perf_counter()
    total = LIBLZO2_LOOP(BUF, OFFSETS.ctypes.data, LENGTHS.ctypes.data, N_MSG, loops, _OUT, 65535)
    dt = time.perf_counter() - t0
    assert total == loops * RAW_BYTES
    return dt


def t_ref_decompress(loops: int) -> float:
    dec = lzo.decompress
    streams = STREAMS
    t0 = time.perf_counter()
    for _ in range(loops):
        for s in streams:
            dec(s, False, 65535, algorithm="LZO1Z")
    return time.perf_counter() - t0


def t_our_decompress(loops: int) -> float:
    dec = _lzo.lzo1z_decompress
    streams = STREAMS
    t0 = time.perf_counter()
    for _ in range(loops):
        for s in streams:
            dec(s, 65535)
    return time.perf_counter() - t0


def t_our_decompress_c_loop(loops: int) -> float:
    t0 = time.perf_counter()
    total = _lzo._bench_decompress_many(BUF, OFFSETS, LENGTHS, loops)
    dt = time.perf_counter() - t0
    assert total == loops * RAW_BYTES
    return dt


def t_ref_compress(loops: int) -> float:
    comp = lzo.compress
    payloads = PAYLOADS
    t0 = time.perf_counter()
    for _ in range(loops):
        for p in payloads:
            comp(p, 9, False, algorithm="LZO1Z")
    return time.perf_counter() - t0


def t_our_compress(loops: int) -> float:
    comp = _lzo.lzo1z_compress
    payloads = PAYLOADS
    t0 = time.perf_counter()
    for _ in range(loops):
        for p in payloads:
            comp(p)
    return time.perf_counter() - t0


def main() -> None:
    def add_cmdline_args(cmd, args):
        cmd.extend(("--corpus", args.corpus))

    runner = pyperf.Runner(processes=8, add_cmdline_args=add_cmdline_args)   # --fast: 4 processes x 2 values
    command_line(runner.argparser, __doc__,
                 fast="pyperf's: 4 processes instead of 8, 2 values each (well under a minute)")
    runner.argparser.add_argument("--corpus", choices=CORPORA, default="market",
                                  help="market: NSE-like payloads compressed by lzo1z_999 (default); FO / CM: the "
                                       "compressed sub-packets of bench_decode's realistic streams")
    _build_corpus(parse_args(runner).corpus)
    global LIBLZO2_LOOP
    LIBLZO2_LOOP = _build_liblzo2_loop()
    runner.metadata["corpus"] = f"{CORPUS_DESC}, {RAW_BYTES / N_MSG:.0f} B mean"
    res = {}
    benches = [
        ("decompress/python-lzo per call", t_ref_decompress),
        ("decompress/vega per call", t_our_decompress),
        ("decompress/vega C loop", t_our_decompress_c_loop),
        ("compress/python-lzo lzo1z_999", t_ref_compress),
        ("compress/vega", t_our_compress),
    ]
    if LIBLZO2_LOOP is not None:
        benches.insert(3, ("decompress/liblzo2 C loop", t_liblzo2_c_loop))
    for name, fn in benches:
        res[name] = runner.bench_time_func(name, fn, inner_loops=N_MSG)
    if any(b is None for b in res.values()):
        return                                   # a pyperf worker process: the master prints the summary
    mean_len = RAW_BYTES / N_MSG
    med = {k: b.median() for k, b in res.items()}   # seconds per message

    def line(name: str, base: str | None = None) -> str:
        s = med[name]
        out = f"  {name:34s} {s * 1e9:9.0f} ns/msg  {mean_len / s / 1e6:8.0f} MB/s (output)"
        if base:
            out += f"   {med[base] / s:5.2f}x python-lzo"
        return out

    print()
    print(f"LZO1Z on {CORPUS_DESC}, mean {mean_len:.0f} B out (medians; machine shared, 2 cores):")
    print(line("decompress/python-lzo per call"))
    print(line("decompress/vega per call", "decompress/python-lzo per call"))
    print(line("decompress/vega C loop", "decompress/python-lzo per call") + "  (C loop vs Python call)")
    if "decompress/liblzo2 C loop" in med:
        print(line("decompress/liblzo2 C loop", "decompress/python-lzo per call"))
        print("  vega C loop vs liblzo2 C loop: "
              f"{med['decompress/liblzo2 C loop'] / med['decompress/vega C loop']:.2f}x"
              " (same corpus, both nogil C loops)")
    else:
        print("  decompress/liblzo2 C loop: skipped (no C compiler or liblzo2-dev)")
    print(line("compress/python-lzo lzo1z_999"))
    print(line("compress/vega", "compress/python-lzo lzo1z_999"))
    ref_c = sum(len(lzo.compress(p, 9, False, algorithm="LZO1Z")) for p in PAYLOADS)
    our_c = sum(len(s) for s in OURS)
    print(f"  compression ratio (compressed/raw): python-lzo lzo1z_999 {ref_c / RAW_BYTES:.4f}, "
          f"vega {our_c / RAW_BYTES:.4f}  (vega output = {our_c / ref_c:.3f} x lzo1z_999's)")


if __name__ == "__main__":
    main()
