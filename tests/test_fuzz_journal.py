"""Fuzz: damaged journal files through the reader, verify (and its repair) and replay.  A damaged file is refused
with a JournalError naming it, or read as far as it goes; a damaged record is a ValueError where a store meets it
(docs/FORMATS.md, "Journal").  Nothing may crash, hang, read out of bounds or raise anything else.

The CI run is bounded in time (VEGA_FUZZ_SECONDS, default 6 s, of which this file takes half); a long run is
the same test with a larger budget, e.g. ``VEGA_FUZZ_SECONDS=600 python -m pytest -q tests/test_fuzz_journal.py``
(under the debug build or AddressSanitizer, which turn silent out-of-bounds reads into failures).
"""
import datetime as dt
import os
import random
import shutil
import struct
import time
import zlib

import numpy as np
import pytest

import vega
from vega import nse
from vega.journal import Journal, JournalError, JournalWriter, day_epoch_ns, replay, verify
from vega.records import CHECKPOINT_END, CONTINUED, KEYFRAME

SECONDS = float(os.environ.get("VEGA_FUZZ_SECONDS", "6")) / 2
DAY = dt.date(2026, 11, 20)
T0 = day_epoch_ns(DAY) + 10 * 3600 * 10**9
#: header fields (offset, bytes) and values worth trying in them
FIELDS = [(8, 2), (10, 2), (12, 2), (14, 1), (15, 1), (16, 4), (20, 4), (24, 8), (32, 8), (40, 8), (48, 8), (56, 4)]
VALUES = [0, 1, 2, 3, 31, 32, 33, 64, 255, 0xFFFF, 2**31 - 1, 2**32 - 1, 2**48, 2**62, 2**63, 2**64 - 1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Sound journals (bytes): a sealed F&O day with checkpoints and a small index stride, the same day as a
    crash leaves it (open), and a sealed CM day."""
    out = []
    for seg, feed, seal in (("FO", "NSE_FO", True), ("FO", "NSE_FO", False), ("CM", "NSE_EQ", True)):
        root = tmp_path_factory.mktemp("corpus")
        w = JournalWriter(root, feed, DAY, checkpoint_interval=None, index_stride=16, preallocate=0)
        h = vega.FeedHandler(seg, vega.Store(4096), journal=w)
        dg = list(nse.sample_stream(seg, 24, seed=3))
        for k in range(0, len(dg), 6):
            h.process_batch(dg[k:k + 6], T0 + k * 10**8)
            h.checkpoint()
        w.flush()
        image = w.path.read_bytes()
        h.close()
        w.close()
        out.append((feed, w.path.read_bytes() if seal else image))
    return out


def _crc(b, at, start, end, more=None):
    """Store at ``at`` the CRC-32 of b[start:end] (continued over b[more:] for the index table), if it fits."""
    if end <= len(b) and at + 4 <= len(b):
        c = zlib.crc32(bytes(b[start:end]))
        b[at:at + 4] = struct.pack("<I", c if more is None else zlib.crc32(bytes(b[more:]), c))


def _mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        n = max(0, (len(b) - 64) // 32)
        off = struct.unpack_from("<Q", b, 40)[0] if len(b) >= 64 else 0
        index = 64 <= off <= len(b) - 32
        op = rng.randrange(7)
        if op == 0 and len(b) >= 64:                  # a header field, its checksum made right
            o, w = rng.choice(FIELDS)
            v = rng.choice(VALUES + [n, n + 1, len(b), 64 + 32 * n]) + rng.choice([0, 0, -1, 1])
            b[o:o + w] = (v % (1 << 8 * w)).to_bytes(w, "little")
            _crc(b, 60, 0, 60)
        elif op == 1 and index:                       # a field of the index table, its checksum made right
            o = off + rng.choice([8, 16, 24, 32, 40, 48, 56]) + rng.choice([0, 16, 32, 64])
            if o + 8 <= len(b):
                b[o:o + 8] = (rng.choice(VALUES + [off, off - 32, 64]) % 2**64).to_bytes(8, "little")
            _crc(b, off + 28, off, off + 28, off + 32)
        elif op == 2 and n:                           # the flags of a run of records: checkpoints, updates
            a = rng.randrange(n)
            pat = rng.choice([KEYFRAME, KEYFRAME | CONTINUED, CONTINUED, KEYFRAME | CHECKPOINT_END, 0xFF, 0])
            for i in range(a, min(n, a + rng.randint(1, 40))):
                b[64 + 32 * i + 11] = pat
        elif op == 3:                                 # cut at a boundary or anywhere
            at = rng.choice([0, 40, 63, 64, 64 + 32 * rng.randint(0, n), off, off + 32, rng.randrange(len(b) + 1)])
            del b[max(0, at + rng.choice([0, 0, -1, 1, 16])):]
        elif op == 4:                                 # garbage appended
            b += rng.randbytes(rng.choice([1, 16, 31, 32, 33, 100]))
        elif op == 5 and b:                           # bits flipped anywhere
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 6 and n:                           # a record's token or stamp
            i = 64 + 32 * rng.randrange(n) + rng.choice([0, 4])
            b[i:i + 4] = rng.choice([0, 1, 2**31, 2**32 - 1]).to_bytes(4, "little")
    return bytes(b)


def _read_all(j, rng):
    """Every reading call of an open Journal, at a few positions and times."""
    n = len(j)
    t = rng.choice([0, 1, 10 * 3600 * 10**9, rng.randrange(2**48)])
    j.rewind(rng.randint(0, n))
    j.read(rng.randint(-1, 50))
    j.read(copy=True)
    j.seek(t)
    j.between(0, t)
    j.timestamps()
    j.seqs()
    j.seq_at(rng.randint(0, n))
    j.checkpoint_before(rng.randint(0, n))
    try:
        j.snapshot_at(t)
    except ValueError as e:                           # a damaged record (or update) a store refuses
        assert not isinstance(e, JournalError)
    return n


def test_fuzz_damaged_journals(tmp_path, corpus):
    rng = random.Random("vega-fuzz-journal")
    deadline = time.monotonic() + SECONDS
    seen = {"opened": 0, "refused": 0, "repaired": 0}
    n = 0
    while time.monotonic() < deadline or n < 20:
        feed, sound = rng.choice(corpus)
        data = _mutate(rng, sound)
        shutil.rmtree(tmp_path / "root", ignore_errors=True)
        path = tmp_path / "root" / feed / "20261120.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(sound)
        before = Journal.open(path)                   # a reader of the sound file, refreshed after the damage
        if len(data) >= len(sound):                   # (a file cut under a reader's map is SIGBUS by contract)
            with open(path, "r+b") as f:
                f.write(data)
            try:
                before.refresh()
            except JournalError:
                pass
            _read_all(before, rng)                    # what it maps now, or what it had
        before.close()
        path.write_bytes(data)
        try:
            with Journal.open(path) as j:
                _read_all(j, rng)
            seen["opened"] += 1
        except JournalError:
            seen["refused"] += 1
        try:
            replay(tmp_path / "root", DAY, into=vega.Store(4096))
        except ValueError:                            # JournalError too: a damaged file, named
            pass
        rep = verify(path)
        assert rep.ok or rep.problems
        fixed = verify(path, repair=True)
        if fixed.repaired:
            seen["repaired"] += 1
            with Journal.open(path) as j:             # a repaired file reads, sealed
                assert j.sealed and _read_all(j, rng) == fixed.records
        n += 1
    print(f"\nfuzz journal: {n:,} damaged files in {SECONDS:g} s: {seen}")
    assert seen["opened"] and seen["refused"] and seen["repaired"]


def test_a_journal_cut_anywhere_repairs_to_every_whole_record(tmp_path):
    """A day's file cut anywhere (a crash, a partial copy), sealed or not: verify(repair=True) keeps every record
    the cut left whole, byte for byte (CONTINUED aside: a repair closes an update the cut ended), less only a
    checkpoint the cut left incomplete in a file not sealed (a sealed file's checkpoints are all complete).
    Cut at every byte of the header and the index table, and around every record boundary (each repair seals
    with an fsync: every byte of the records would take a minute)."""
    for seal in (True, False):
        w = JournalWriter(tmp_path / f"src{seal}", "NSE_FO", DAY, checkpoint_interval=None, index_stride=4,
                          preallocate=0)
        h = vega.FeedHandler("FO", vega.Store(4096), journal=w)
        dg = list(nse.sample_stream("FO", 2, seed=3))
        h.process_batch(dg[:1], T0)
        h.checkpoint()
        h.process_batch(dg[1:], T0 + 10**9)
        h.checkpoint()
        h.process_batch(dg[:1], T0 + 2 * 10**9)
        w.flush()
        data = w.path.read_bytes() if not seal else None
        h.close()
        w.close()
        data = data or w.path.read_bytes()
        with Journal.open(w.path) as j:
            recs = j.read(copy=True).view(np.uint8).reshape(-1, 32)
        flags = recs[:, 11]
        assert (flags & KEYFRAME).any() and np.count_nonzero(flags & CHECKPOINT_END) == 2
        path = tmp_path / "root" / "NSE_FO" / "20261120.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        end = 64 + 32 * len(recs)                     # the index table of a sealed file starts here
        cuts = {k for b in range(64, end + 1, 32) for k in (b - 1, b, b + 1, b + 13)} | set(range(end, len(data)))
        for k in sorted(c for c in cuts | {len(data)} if 64 <= c <= len(data)):
            path.write_bytes(data[:k])
            verify(path, repair=True)
            want = min(len(recs), (k - 64) // 32)
            run = None                                # a checkpoint (KEYFRAME run) not complete at the cut
            for i in range(want):
                if not flags[i] & KEYFRAME or flags[i] & CHECKPOINT_END:
                    run = None
                elif run is None:
                    run = i
            if run is not None and not seal:
                want = run
            with Journal.open(path) as j:
                got = j.read(copy=True).view(np.uint8).reshape(-1, 32)
                assert j.sealed
            kept = got.copy()
            kept[:, 11] &= ~CONTINUED & 0xFF
            orig = recs[:want].copy()
            orig[:, 11] &= ~CONTINUED & 0xFF
            assert kept.tobytes() == orig.tobytes(), (seal, k, len(got), want)
