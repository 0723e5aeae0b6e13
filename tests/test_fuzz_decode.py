"""Fuzz: mutated valid datagrams through the decoder.  Nothing may crash, raise or read out of bounds.

The CI run is bounded in time (VEGA_FUZZ_SECONDS, default 6 s per segment); a long run is the same test with
a larger budget, e.g. ``VEGA_FUZZ_SECONDS=600 python -m pytest -q tests/test_fuzz_decode.py`` (run it under
the debug build or AddressSanitizer to turn silent out-of-bounds accesses into failures).
"""
import os
import random
import struct
import time

import pytest

import vega
from vega import nse

SECONDS = float(os.environ.get("VEGA_FUZZ_SECONDS", "6"))
#: records per message at most, for every multi-record layout (PROTOCOL.md's sizes, as vega.nse has them)
MAX_RECORDS = {seg: {c: nse.layout(seg, c).max_records for c in nse.CODES[seg]
                     if nse.layout(seg, c).count_offset is not None} for seg in nse.SEGMENTS}


def _corpus(seg):
    """The simulated stream, plus a full-size message of every code the decoder knows (so that a code added
    later, which the simulator may not send, is fuzzed too), plain and compressed."""
    out = list(nse.sample_stream(seg, 300, seed=11))
    codes = nse.CODES[seg]
    assert {7200, 7208, 7201, 6013, 6541} <= set(codes) and len(codes) >= 12
    for c in codes:
        lay = nse.layout(seg, c)
        m = nse.blank_message(seg, c, lay.max_records if lay.count_offset is not None else None)
        for comp in (False, True):
            m["compressed"] = comp
            out.append(nse.build_datagram(seg, [m]))
    return out


def _mutate(rng, dg):
    b = bytearray(dg)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if not b:
            b = bytearray(rng.randbytes(rng.randint(0, 8)))
            continue
        i = rng.randrange(len(b))
        if op == 0:                                   # flip bits
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:                                 # random byte
            b[i] = rng.randrange(256)
        elif op == 2:                                 # truncate
            del b[i:]
        elif op == 3:                                 # insert garbage
            b[i:i] = rng.randbytes(rng.randint(1, 16))
        elif op == 4:                                 # delete a span
            del b[i:i + rng.randint(1, 16)]
        elif op == 5 and i + 2 <= len(b):             # an interesting 16-bit value (lengths, counts, codes)
            struct.pack_into(">H", b, i, rng.choice([0, 1, 39, 40, 41, 0x7FFF, 0x8000, 0xFFFF, 7208, 6013]))
        elif op == 6:                                 # duplicate a span (sub-packets glued twice)
            j = rng.randrange(len(b))
            b[j:j] = b[i:i + rng.randint(1, 64)]
    return bytes(b)


@pytest.mark.parametrize("seg", ["FO", "CM"])
def test_fuzz_mutated_datagrams(seg):
    rng = random.Random(f"vega-fuzz-{seg}")
    corpus = _corpus(seg)
    dec = vega.Decoder(seg)
    deadline = time.monotonic() + SECONDS
    n = 0
    while time.monotonic() < deadline:
        batch = [_mutate(rng, rng.choice(corpus)) for _ in range(200)]
        msgs_before = dec.stats["messages"]
        produced = dec.decode_batch(batch)
        assert dec.stats["messages"] - msgs_before == produced
        for dg in batch[:20]:                         # and the Python view of some of them
            for m in dec.decode(dg):
                assert m["segment"] == seg
                assert 40 <= m["message_length"]
                limit = MAX_RECORDS[seg].get(m["transaction_code"])
                if limit is not None:
                    assert len(m["records"]) <= limit
                    assert len(m["records"]) == 0 or m["message_length"] >= 42
        n += len(batch)
    st = dec.stats
    print(f"\nfuzz {seg}: {n:,} mutated datagrams in {SECONDS:g} s, {st['messages']:,} messages decoded, "
          f"errors {dict((k, v) for k, v in st['errors'].items() if v)}")
    assert st["datagrams"] >= n
    assert sum(st["errors"].values()) > 0            # the mutations did reach the error paths
    assert st["messages"] > 0                        # ... and some messages still decoded


@pytest.mark.parametrize("seg", ["FO", "CM"])
def test_fuzz_through_the_feed_handler(seg):
    """Mutated datagrams through decode and merge: nothing crashes, and a batch (the merge one message
    behind the decoder, with decode errors between held messages) leaves the same store and change records
    as one datagram at a time.  Both stores hold 1,100 master-data tokens, so the look-ahead is on."""
    import numpy as np

    rng = random.Random(f"vega-fuzz-feed-{seg}")
    corpus = _corpus(seg)
    stores, seen = [], []
    for _ in range(2):
        s = vega.Store(30_000)
        for tok in range(200_001, 201_101):
            s.add(tok, "FILL", "EQ")
        stores.append(s)
        seen.append([])
    batch_h = vega.FeedHandler(seg, stores[0], on_records=seen[0].append)
    single_h = vega.FeedHandler(seg, stores[1], on_records=seen[1].append)
    deadline = time.monotonic() + SECONDS / 2
    t0, n, n_recs = 1_700_000_000_000_000_000, 0, 0
    while time.monotonic() < deadline:
        batch = [_mutate(rng, rng.choice(corpus)) for _ in range(200)]
        times = t0 + (n + np.arange(len(batch), dtype=np.int64)) * 1_000_000
        batch_h.process_batch(batch, now_ns=times)
        for dg, t in zip(batch, times):
            single_h.process(dg, now_ns=int(t))
        n += len(batch)
        # each call hands over all its records: compare batch by batch, and keep none (a long run stays small)
        ra = np.concatenate(seen[0]) if seen[0] else np.empty(0, dtype=np.uint8)
        rb = np.concatenate(seen[1]) if seen[1] else np.empty(0, dtype=np.uint8)
        assert ra.tobytes() == rb.tobytes()
        n_recs += len(ra)
        seen[0].clear()
        seen[1].clear()
    a, b = batch_h.stats, single_h.stats
    assert a["merge"] == b["merge"] and a["merged_by_code"] == b["merged_by_code"]
    assert a["merge"]["merged"] > 0 and sum(a["errors"].values()) > 0
    assert stores[0].snapshot().tobytes() == stores[1].snapshot().tobytes()
    assert n_recs > 0
