#!/usr/bin/env python3
"""Coverage-guided fuzzing of VEGA's parsers of untrusted bytes with atheris (libFuzzer for Python).

One target per parser; each runs every input through the parser and checks what the docs promise (a clear error
or a result whose counts add up), so libFuzzer reports a crash, a sanitizer report, a hang (-timeout) or an
exception other than the documented ones:

  decode-cm, decode-fo  vega.Decoder(seg).decode: one datagram; stats move by one datagram and by the messages
                        returned, every message of the segment, at least a header long
  feed-cm, feed-fo      vega.FeedHandler(seg).process: decode + merge + change records; the merge counts and the
                        records handed to on_records add up
  feed-idx              the same for the index feed (FeedHandler("IDX"), CM index broadcasts)
  lzo                   vega._lzo.lzo1z_decompress against python-lzo (LZO1Z): same bytes where both accept,
                        both refuse where one does (docs/FORMATS.md, section 2)
  pcap                  vega._pcap.PcapScanner over a capture in bytes, read whole and in pieces: the same
                        datagrams and framing error both ways, only PcapError, offsets inside the buffer
  journal               a file of the fuzzed bytes through Journal.open and every reading call: JournalError on
                        open, ValueError (not JournalError) where a store meets a damaged record
  ring                  a ring file whose slot headers, trailers and bus are patched by the input: Ring.open is a
                        RingFormatError or a ring whose slots and readers work

Seeds are the simulator's datagrams (vega.simulator.Simulator) and files VEGA writes from them; they are
written into the corpus directory when it is empty.  Run it under the AddressSanitizer build (docs/FUZZING.md):

    LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 \\
        python tools/fuzz.py decode-fo --seconds 300 --corpus /tmp/corpus-decode-fo

``python tools/fuzz.py hypothesis --scale 20 -- tests/test_fuzz_decode.py`` runs pytest with every hypothesis
``max_examples`` multiplied (the tests' own settings included; what they check is unchanged).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = 1_763_600_000_000_000_000          # 2025-11-20 around 01:03 UTC, 06:33 IST: a time on a trading day
SIM_DATAGRAMS = 400                     # per segment, for the seeds


def _sim():
    from vega.simulator import Simulator
    s = Simulator(["FO", "CM"], SIM_DATAGRAMS, seed=37)
    s.generate()
    return s


def _distinct(items, n):
    """Up to n distinct byte strings of items, spread over all of them."""
    items = list(dict.fromkeys(bytes(x) for x in items))
    step = max(1, len(items) // n)
    return items[::step][:n]


# ---------------------------------------------------------------------------------------------------- targets
class Target:
    name = ""

    def seeds(self) -> list[bytes]:
        raise NotImplementedError

    def setup(self) -> None:
        pass

    def __call__(self, data: bytes) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        pass


class Decode(Target):
    def __init__(self, seg: str):
        self.seg = seg
        self.name = f"decode-{seg.lower()}"

    def seeds(self):
        return _distinct(_sim().datagrams[self.seg], 150)

    def setup(self):
        import vega
        from vega import nse
        self.dec = vega.Decoder(self.seg)
        self.limits = {c: nse.layout(self.seg, c).max_records for c in nse.CODES[self.seg]
                       if nse.layout(self.seg, c).count_offset is not None}

    def __call__(self, data):
        st = self.dec.stats
        d0, m0 = st["datagrams"], st["messages"]
        msgs = self.dec.decode(data)
        st = self.dec.stats
        assert st["datagrams"] == d0 + 1, (d0, st["datagrams"])
        assert st["messages"] - m0 == len(msgs), (st["messages"] - m0, len(msgs))
        for m in msgs:
            assert m["segment"] == self.seg
            assert m["message_length"] >= 40
            limit = self.limits.get(m["transaction_code"])
            if limit is not None:
                assert len(m["records"]) <= limit, (m["transaction_code"], len(m["records"]))


class Feed(Target):
    def __init__(self, seg: str):
        self.seg = seg
        self.name = f"feed-{seg.lower()}"

    def seeds(self):
        s = _sim()
        if self.seg == "IDX":
            from vega import _streams
            idx = set(_streams.INDEX_CODES)
            dec = __import__("vega").Decoder("CM")
            out = [d for d in s.datagrams["CM"] if any(m["transaction_code"] in idx for m in dec.decode(d))]
            return _distinct(out, 150) or _distinct(s.datagrams["CM"], 50)
        return _distinct(s.datagrams[self.seg], 150)

    def setup(self):
        import vega
        self.got: list = []
        self.store = vega.Store(8192)
        self.h = vega.FeedHandler(self.seg, self.store, on_records=self.got.append)
        self.n = 0

    def __call__(self, data):
        self.got.clear()
        before = self.h.stats
        n = self.h.process(data, now_ns=T0 + self.n * 1_000_000)
        self.n += 1
        after = self.h.stats
        recs = sum(len(r) for r in self.got)
        assert after["datagrams"] == before["datagrams"] + 1
        assert n == after["messages"] - before["messages"], (n, after["messages"] - before["messages"])
        assert sum(after["by_code"].values()) - sum(before["by_code"].values()) == n
        assert after["records"] - before["records"] == recs, (after["records"] - before["records"], recs)
        if self.n % 4096 == 0:                            # a long run: a store that fills up is refused, not kept
            self.setup()


class Lzo(Target):
    name = "lzo"

    def seeds(self):
        import lzo
        from vega import _lzo
        s = _sim()
        raw = _distinct(s.datagrams["FO"] + s.datagrams["CM"], 60)
        out = []
        for d in raw:
            out.append(lzo.compress(d, 9, False, algorithm="LZO1Z"))
            out.append(_lzo.lzo1z_compress(d))
        out.append(_lzo.lzo1z_compress(b"\0" * 3000 + bytes(range(256)) * 8))
        return out

    def setup(self):
        import lzo
        from vega import _lzo
        self.lzo, self._lzo = lzo, _lzo

    def __call__(self, data):
        max_out = 65535
        try:
            ours = self._lzo.lzo1z_decompress(data, max_out)
        except self._lzo.LzoError as e:
            ours, err = None, e
        try:
            ref = self.lzo.decompress(data, False, max_out, algorithm="LZO1Z")
        except self.lzo.error:
            ref = None
        if ours is not None and ref is not None:
            assert ours == ref, "vega and python-lzo decompress to different bytes"
        assert (ours is None) == (ref is None), (
            f"vega {'accepts' if ours is not None else f'refuses ({err.reason})'}, "
            f"python-lzo {'accepts' if ref is not None else 'refuses'}")


class Pcap(Target):
    name = "pcap"

    def seeds(self):
        from vega.simulator import write_pcap
        s = _sim()
        out = []
        with tempfile.TemporaryDirectory() as tmp:
            p = os.path.join(tmp, "s.pcap")
            for k in range(6):
                dgs = s.datagrams["FO"][k * 5:k * 5 + 5] + s.datagrams["CM"][k * 3:k * 3 + 3]
                write_pcap(p, [(T0 + i * 1000, "239.70.2.1", 10810, d) for i, d in enumerate(dgs)])
                out.append(Path(p).read_bytes())
                out.append(_pcapng(out[-1]))
        return out

    def setup(self):
        import numpy as np
        from vega._pcap import PcapScanner
        from vega.pcap import PcapError
        self.np, self.Scanner, self.Error = np, PcapScanner, PcapError

    def _read(self, data, cap, rng=None):
        np = self.np
        arrays = (np.empty(cap, np.int64), np.empty(cap, np.uint32), np.empty(cap, np.uint16),
                  np.empty(cap, np.int64), np.empty(cap, np.int32))
        got, err = [], None
        end = len(data) if rng is None else min(len(data), max(64, rng.randint(1, len(data))))
        piece = data[:end]
        try:
            sc = self.Scanner(piece, "f", partial=end < len(data), latest_ns=2**62)
        except self.Error:
            return None
        try:
            while not sc.done:
                n = sc.scan(*arrays)
                assert 0 <= n <= cap
                for i in range(n):
                    o, k = int(arrays[3][i]), int(arrays[4][i])
                    assert 0 <= o <= o + k <= len(piece), (o, k, len(piece))
                    got.append((int(arrays[0][i]), int(arrays[1][i]), int(arrays[2][i]), piece[o:o + k]))
                if sc.needs_more:
                    assert rng is not None, "a whole capture asked for more"
                    at, end = sc.offset, min(len(data), end + rng.randint(1, 200))
                    piece = data[at:end]
                    sc.refill(piece, end >= len(data))
        except self.Error as e:
            assert "\n" not in str(e) and str(e).startswith("f: "), str(e)
            err = str(e)
        return got, err, sc.counts()

    def __call__(self, data):
        whole = self._read(data, 64)
        if whole is None:
            return
        got, _, (packets, kinds, _) = whole
        assert kinds["datagrams"] == len(got) and packets == sum(kinds.values()), (packets, kinds, len(got))
        if len(data) >= 64:
            rng = random.Random(hashlib.blake2b(data, digest_size=8).digest())
            assert self._read(data, 64, rng) == whole, "read in pieces differs from read whole"


def _pcapng(classic: bytes) -> bytes:
    """The packets of a nanosecond raw-IPv4 classic capture as a little-endian pcapng (SHB, IDB, EPBs)."""
    import struct

    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", 101, 0, 65535) + struct.pack("<HHB3x", 9, 1, 9) + b"\0\0\0\0")]
    off = 24
    while off + 16 <= len(classic):
        sec, ns, incl, orig = struct.unpack_from("<IIII", classic, off)
        t = sec * 10**9 + ns
        out.append(block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, incl, orig)
                         + classic[off + 16:off + 16 + incl]))
        off += 16 + incl
    return b"".join(out)


class JournalTarget(Target):
    name = "journal"
    DAY = (2026, 11, 20)

    def seeds(self):
        import datetime as dt

        import vega
        from vega.journal import JournalWriter, day_epoch_ns
        s = _sim()
        t0 = day_epoch_ns(dt.date(*self.DAY)) + 10 * 3600 * 10**9
        out = []
        for seg, feed, seal in (("FO", "NSE_FO", True), ("FO", "NSE_FO", False), ("CM", "NSE_EQ", True)):
            with tempfile.TemporaryDirectory() as root:
                w = JournalWriter(root, feed, dt.date(*self.DAY), checkpoint_interval=None, index_stride=16,
                                  preallocate=0)
                h = vega.FeedHandler(seg, vega.Store(4096), journal=w)
                dgs = s.datagrams[seg][:12]
                for k in range(0, len(dgs), 4):
                    h.process_batch(dgs[k:k + 4], t0 + k * 10**8)
                    h.checkpoint()
                w.flush()
                image = w.path.read_bytes()
                h.close()
                w.close()
                out.append(w.path.read_bytes() if seal else image)
        return out

    def setup(self):
        from vega.journal import Journal, JournalError
        self.Journal, self.Error = Journal, JournalError
        self.tmp = tempfile.mkdtemp(prefix="vega-fuzz-journal-")
        self.path = Path(self.tmp, "NSE_FO", "20261120.bin")
        self.path.parent.mkdir()

    def __call__(self, data):
        self.path.write_bytes(data)
        try:
            j = self.Journal.open(self.path)
        except self.Error as e:
            assert "\n" not in str(e), str(e)
            return
        rng = random.Random(hashlib.blake2b(data, digest_size=8).digest())
        try:
            n = len(j)
            assert n == j.n_records and 0 <= n <= max(0, (len(data) - 64) // 32), (n, len(data))
            t = rng.choice([0, 1, 10 * 3600 * 10**9, rng.randrange(2**48)])
            j.rewind(rng.randint(0, n))
            j.read(rng.randint(-1, 50))
            j.rewind(0)
            assert len(j.read(copy=True)) == n
            j.seek(t)
            j.between(0, t)
            assert len(j.timestamps()) == n and len(j.seqs()) == n
            j.seq_at(rng.randint(0, n))
            j.checkpoint_before(rng.randint(0, n))
            try:
                j.snapshot_at(t)
            except ValueError as e:               # a damaged record (or update) a store refuses
                assert not isinstance(e, self.Error), str(e)
        finally:
            j.close()

    def teardown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class RingTarget(Target):
    """The input is a list of patches (region byte, offset byte, length byte, bytes) to a sound ring's slot
    headers (64 bytes), slot trailers (16 bytes), bus header and first cursor lines (256 bytes)."""
    name = "ring"

    def seeds(self):
        import struct
        return [b"", bytes([0, 0x20, 8]) + struct.pack("<Q", 5), bytes([1, 0, 8]) + struct.pack("<Q", 7),
                bytes([6, 0, 4]) + b"XXXX", bytes([6, 0x40, 8]) + b"reader01", bytes([0, 0x18, 4]) + b"\0\0\1\0"]

    def setup(self):
        import numpy as np

        import vega
        from vega._ring import RingFormatError
        self.vega, self.Error, self.np = vega, RingFormatError, np
        self.tmp = tempfile.mkdtemp(prefix="vega-fuzz-ring-")
        path = os.path.join(self.tmp, "ring")
        r = vega.Ring.create(path)
        r._write_test_records("NSE_FO", 40)
        r._write_test_records("NFO_IDX", 3)
        r.reader("NSE_FO", "fuzz-reader").close()     # a cursor line in the bus
        r.close()
        self.path = path
        self.image = Path(path).read_bytes()
        self.regions = [(k * 0x200000, 64) for k in range(3)] + [(k * 0x200000 + 0x1FFFF0, 16) for k in range(3)]
        self.regions += [(0x600000, 256)]

    def __call__(self, data):
        fd = os.open(self.path, os.O_WRONLY)
        try:
            for off, size in self.regions:                # back to the sound file
                os.pwrite(fd, self.image[off:off + size], off)
            i = 0
            while i + 3 <= len(data):
                region, at, n = data[i], data[i + 1], data[i + 2]
                off, size = self.regions[region % len(self.regions)]
                at %= size
                chunk = data[i + 3:i + 3 + min(n, size - at)]
                os.pwrite(fd, chunk, off + at)
                i += 3 + len(chunk)
        finally:
            os.close(fd)
        try:
            r = self.vega.Ring.open(self.path)
        except self.Error as e:
            assert "\n" not in str(e), str(e)
            return
        try:
            for feed in ("NSE_FO", "NSE_EQ", "NFO_IDX"):
                info = r.info(feed)
                assert isinstance(info, dict)
                rd = r.reader(feed, start="oldest")
                try:
                    got = rd.poll(64)
                    assert len(got) <= 64
                except self.vega.RingLapped:
                    pass
                finally:
                    rd.close()
            r.readers()
        finally:
            r.close()

    def teardown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


TARGETS: dict[str, Callable[[], Target]] = {
    "decode-cm": lambda: Decode("CM"), "decode-fo": lambda: Decode("FO"),
    "feed-cm": lambda: Feed("CM"), "feed-fo": lambda: Feed("FO"), "feed-idx": lambda: Feed("IDX"),
    "lzo": Lzo, "pcap": Pcap, "journal": JournalTarget, "ring": RingTarget,
}


# ------------------------------------------------------------------------------------ C coverage feedback
# gcc has no -fsanitize-coverage=inline-8bit-counters or trace-pc-guard (what libFuzzer reads), only trace-pc:
# a call to __sanitizer_cov_trace_pc() at the start of every basic block.  An extension built with
# -fsanitize-coverage=trace-pc (docs/FUZZING.md) gets it from this shim, preloaded into the fuzzing process: it
# counts edges (AFL's hash of the previous and the current block) into 64 Ki 8-bit counters, which the harness
# hands to atheris' libFuzzer as one more module of inline counters.  Without such a build the counters stay 0
# and only atheris' own Python coverage guides the run.
SHIM_C = r"""
#include <stdint.h>
#define VEGA_COV_N (1 << 16)
static uint8_t counters[VEGA_COV_N] __attribute__((aligned(4096)));
static __thread uintptr_t prev;
__attribute__((no_sanitize("address", "undefined"))) void __sanitizer_cov_trace_pc(void) {
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    uintptr_t cur = (pc ^ (pc >> 16)) * 0x9E3779B1u;
    counters[(cur ^ prev) & (VEGA_COV_N - 1)]++;
    prev = (cur & (VEGA_COV_N - 1)) >> 1;
}
uint8_t *vega_cov_start(void) { return counters; }
uint8_t *vega_cov_stop(void) { return counters + VEGA_COV_N; }
"""


def _coverage_shim(tmp: Path) -> str:
    """Build the trace-pc shim in tmp; its path ("" when no C compiler: the run goes on without it)."""
    src, out = tmp / "vega_cov.c", tmp / "vega_cov.so"
    src.write_text(SHIM_C)
    cc = os.environ.get("CC", "gcc").split()
    if subprocess.call([*cc, "-O2", "-shared", "-fPIC", "-o", str(out), str(src)]) != 0:
        print("fuzz.py: cannot build the coverage shim: no C-level coverage", file=sys.stderr)
        return ""
    return str(out)


def _register_coverage() -> int:
    """Hand the shim's counters to atheris' libFuzzer; how many (0: no shim, or no extension calls it)."""
    import ctypes

    import atheris
    try:
        shim = ctypes.CDLL(None)
        start, stop = shim.vega_cov_start, shim.vega_cov_stop
    except AttributeError:
        return 0
    start.restype = stop.restype = ctypes.c_void_p
    lib = Path(atheris.__file__).parent
    fuzzer = ctypes.CDLL(str(next(lib.glob("core_with_libfuzzer*.so"))))
    init = fuzzer.__sanitizer_cov_8bit_counters_init
    init.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    init(start(), stop())
    n = stop() - start()
    print(f"fuzz.py: {n} C edge counters registered with libFuzzer", file=sys.stderr)
    return n


# --------------------------------------------------------------------------------------- hypothesis scaling
class _ScaleHypothesis:
    """pytest plugin: every hypothesis ``settings(max_examples=...)`` (and the default profile) times ``scale``."""

    def __init__(self, scale: int):
        self.scale = scale

    def pytest_configure(self, config):
        import hypothesis
        scale, init = self.scale, hypothesis.settings.__init__

        def scaled(s, parent=None, **kw):
            if "max_examples" in kw:
                kw["max_examples"] *= scale
            init(s, parent, **kw)

        hypothesis.settings.register_profile("vega-scaled", max_examples=100 * scale)
        hypothesis.settings.load_profile("vega-scaled")
        hypothesis.settings.__init__ = scaled


def _hypothesis(argv: list[str]) -> int:
    ap = _one_line_errors(argparse.ArgumentParser(
        prog="fuzz.py hypothesis", description="pytest with hypothesis' max_examples multiplied (arguments after -- "
        "go to pytest)"))
    ap.add_argument("--scale", type=int, default=10, help="multiply every max_examples by this (default 10)")
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args(argv)
    if a.scale < 1:
        ap.error(f"--scale must be >= 1, not {a.scale}")
    import pytest
    return int(pytest.main(a.pytest_args, plugins=[_ScaleHypothesis(a.scale)]))


# -------------------------------------------------------------------------------------------------- main
def _one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A bad option or value exits with status 2 and one line, ``fuzz.py: what is wrong (see --help)``."""
    def error(message):
        parser.exit(2, f"fuzz.py: {message} (see --help)\n")
    parser.error = error  # type: ignore[method-assign]
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["hypothesis"]:
        return _hypothesis(argv[1:])
    ap = _one_line_errors(argparse.ArgumentParser(
        prog="fuzz.py", description=__doc__.split("\n\n")[0],
        epilog="Targets: " + ", ".join(TARGETS) + ".  'fuzz.py hypothesis --help': pytest with scaled hypothesis "
        "examples.  See docs/FUZZING.md."))
    ap.add_argument("target", choices=sorted(TARGETS), help="the parser to fuzz")
    ap.add_argument("--seconds", type=int, default=60, help="stop after this many seconds (default 60)")
    ap.add_argument("--corpus", type=Path, default=None,
                    help="corpus directory (kept and grown between runs; seeded when empty; default: a "
                    "temporary one, removed afterwards)")
    ap.add_argument("--artifacts", type=Path, default=Path("."),
                    help="directory for crash-*/timeout-* inputs (default: the current one)")
    ap.add_argument("--timeout", type=int, default=20, help="an input taking longer is a hang (default 20 s)")
    ap.add_argument("--replay", type=Path, nargs="+", help="run these inputs once each (no fuzzing) and exit")
    ap.add_argument("libfuzzer", nargs="*", help="more libFuzzer options, after --")
    a = ap.parse_args(argv)
    if a.seconds < 1:
        ap.error(f"--seconds must be >= 1, not {a.seconds}")
    target = TARGETS[a.target]()
    if a.replay:
        missing = [str(p) for p in a.replay if not p.is_file()]
        if missing:
            ap.error(f"no such input file: {missing[0]}")
        target.setup()
        try:
            for p in a.replay:
                target(p.read_bytes())
                print(f"{p}: ok")
        finally:
            target.teardown()
        return 0
    try:
        import atheris
    except ImportError:
        print("fuzz.py: atheris is not installed (pip install atheris; see docs/FUZZING.md)", file=sys.stderr)
        return 2
    if os.environ.get("VEGA_FUZZ_CHILD") != "1":
        # libFuzzer ends the process with exit(): the run is a child, and this process removes its files
        tmp = Path(tempfile.mkdtemp(prefix=f"vega-fuzz-{a.target}-"))
        try:
            env = dict(os.environ, VEGA_FUZZ_CHILD="1", TMPDIR=str(tmp))
            shim = _coverage_shim(tmp)
            env["LD_PRELOAD"] = " ".join(filter(None, [os.environ.get("LD_PRELOAD", ""), shim]))
            extra = [] if a.corpus is not None else ["--corpus", str(tmp / "corpus")]
            return subprocess.call([sys.executable, os.path.abspath(__file__), *extra, *argv], env=env)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    corpus = a.corpus
    corpus.mkdir(parents=True, exist_ok=True)
    a.artifacts.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        seeds = target.seeds()
        for s in seeds:
            (corpus / f"seed-{hashlib.sha1(s).hexdigest()[:16]}").write_bytes(s)
        print(f"fuzz.py: {len(seeds)} seeds written to {corpus}", file=sys.stderr)
    max_len = max(4096, max(p.stat().st_size for p in corpus.iterdir() if p.is_file()))
    target.setup()
    args = [sys.argv[0], str(corpus), f"-max_total_time={a.seconds}", f"-timeout={a.timeout}",
            f"-max_len={max_len}", f"-artifact_prefix={a.artifacts}/{a.target}-", "-print_final_stats=1",
            "-rss_limit_mb=4096", *a.libfuzzer]
    atheris.Setup(args, target)
    _register_coverage()
    atheris.Fuzz()                         # libFuzzer exits the process when done
    return 0

if __name__ == "__main__":
    sys.exit(main())
