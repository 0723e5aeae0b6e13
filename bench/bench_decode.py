"""Decode throughput on realistic NSE streams: VEGA's nogil batch decode vs the pure-Python baseline.

    python bench/bench_decode.py [--fast] [-o result.json]

For each segment's realistic mix (``vega.nse.sample_stream``: F&O mostly compressed 7208, 17202, 17201,
7200; CM mostly 7208, 18703, 7201, uncompressed 7200), in the same pyperf run:

* ``vega``       ``Decoder.decode_batch`` over the whole stream (frame walk + LZO1Z + header + every field)
* ``lzo-only``   our LZO1Z decompressor alone over the compressed sub-packets of the same datagrams, in a C
                 loop: the floor, since decompression dominates the cost
* ``baseline``   ``bench/baseline_decode.py``: struct + python-lzo, what a Python user would write

Times are per message (pyperf inner loops = messages). The summary prints medians, the speed-up over the
baseline (target >= 30x) and what framing + header + fields add on top of decompression (target <= 25%).
"""
import os
import struct
import sys

import numpy as np
import pyperf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import baseline_decode  # noqa: E402
from bench._cli import command_line, env_whole, parse_args  # noqa: E402
from vega import Decoder, nse  # noqa: E402
from vega._lzo import _bench_decompress_many  # noqa: E402

N_DATAGRAMS = env_whole("VEGA_BENCH_DATAGRAMS", 4000)      # per segment


def compressed_streams(datagrams):
    """The LZO1Z streams of every compressed sub-packet, as (buffer, offsets, lengths)."""
    chunks, offsets, lengths, pos = [], [], [], 0
    for dg in datagrams:
        (n,) = struct.unpack_from(">h", dg, 2)
        p = 4
        for _ in range(n):
            (clen,) = struct.unpack_from(">H", dg, p)
            if clen:
                chunks.append(dg[p + 2:p + 2 + clen])
                offsets.append(pos)
                lengths.append(clen)
                pos += clen
                p += 2 + clen
            else:
                (ml,) = struct.unpack_from(">H", dg, p + 2 + 8 + 38)
                p += 2 + 8 + ml
    return (np.frombuffer(b"".join(chunks), dtype=np.uint8), np.array(offsets, dtype=np.int64),
            np.array(lengths, dtype=np.int64))


def main():
    runner = pyperf.Runner(processes=6)     # --fast: 3 worker processes (each generates the streams)
    command_line(runner.argparser, __doc__,
                 fast="pyperf's: 3 worker processes instead of 6 (each generates the streams), 2 values each")
    parse_args(runner)                   # a bad option is refused before any data is made
    results = {}
    for seg in ("FO", "CM"):
        stream = list(nse.sample_stream(seg, N_DATAGRAMS, seed=7))
        probe = Decoder(seg)
        n_msgs = probe.decode_batch(stream)
        assert not any(probe.stats["errors"].values()), probe.stats
        buf, offs, lens = compressed_streams(stream)

        def t_vega(loops, stream=stream, seg=seg):
            dec = Decoder(seg)
            t0 = pyperf.perf_counter()
            for _ in range(loops):
                dec.decode_batch(stream)
            return pyperf.perf_counter() - t0

        def t_lzo(loops, buf=buf, offs=offs, lens=lens):
            t0 = pyperf.perf_counter()
            _bench_decompress_many(buf, offs, lens, loops)
            return pyperf.perf_counter() - t0

        def t_base(loops, stream=stream, seg=seg):
            dec = baseline_decode.decode
            t0 = pyperf.perf_counter()
            for _ in range(loops):
                for dg in stream:
                    dec(dg, seg)
            return pyperf.perf_counter() - t0

        results[seg] = {
            "messages": n_msgs,
            "vega": runner.bench_time_func(f"decode-{seg}-vega", t_vega, inner_loops=n_msgs),
            "lzo-only": runner.bench_time_func(f"decode-{seg}-lzo-only", t_lzo, inner_loops=n_msgs),
            "baseline": runner.bench_time_func(f"decode-{seg}-baseline", t_base, inner_loops=n_msgs),
            "bytes": sum(map(len, stream)),
            "datagrams": len(stream),
            "compressed": len(offs),
        }

    if runner.args.worker:
        return
    print("\n=== decode: ns per message (median), same run ===")
    for seg, r in results.items():
        if any(r[k] is None for k in ("vega", "lzo-only", "baseline")):
            continue
        v, z, b = (r[k].median() * 1e9 for k in ("vega", "lzo-only", "baseline"))
        print(f"{seg}: {r['datagrams']} datagrams, {r['messages']} messages, {r['compressed']} compressed "
              f"sub-packets, {r['bytes'] / r['datagrams']:.0f} B/datagram")
        print(f"  vega batch decode   {v:8.1f} ns/msg   ({1e9 / v / 1e6:.2f} M msg/s)")
        print(f"  LZO1Z alone (floor) {z:8.1f} ns/msg   -> framing+header+fields add {100 * (v - z) / z:+.0f}%"
              f" ({v - z:.1f} ns/msg; this % grows as LZO1Z gets faster)")
        print(f"  baseline (struct+python-lzo) {b:8.1f} ns/msg   -> vega is {b / v:.1f}x faster")


if __name__ == "__main__":
    main()
