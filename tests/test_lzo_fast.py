"""The fast path of vega._lzo's LZO1Z decompressor, differentially against python-lzo (liblzo2).

``lzo1z_decompress`` (vega/_lzo.pxd) decodes an instruction with fixed-size wide copies when more than
LZO1Z_IN_FAST (8) input bytes and more than LZO1Z_OUT_FAST (64) output bytes are left, and with the careful,
field-by-field checked path otherwise.  These tests aim at what that split can get wrong:

* run-heavy and short-period data (distance 1..16 matches of every length, overlapping copies), as NSE
  messages are (most of their output comes from distance-1 matches over zero padding);
* every output limit around the fast/careful boundary (max_out = exact size .. exact + 80), and one below;
* every truncation and random corruption of such streams, with the input placed flush against a PROT_NONE
  guard page so that a read past the end of the input crashes the test instead of passing silently;
* hand-assembled instructions at every distance/length the fast path special-cases.

Where python-lzo accepts, ours returns the same bytes; where it fails, ours raises LzoError.
"""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vega._lzo import LzoError, lzo1z_compress, lzo1z_decompress

from fuzz_lzo import GuardedInput
from lzo_payloads import market_payloads
from test_lzo import Asm, assert_same_as_ref, ref_compress, ref_decompress

E_INPUT_OVERRUN = -4
E_OUTPUT_OVERRUN = -5
E_EOF_NOT_FOUND = -7

GUARD = GuardedInput()


def guarded(stream: bytes) -> memoryview:
    """stream placed so that its last byte is the last readable byte before a PROT_NONE page."""
    return GUARD.place(stream)


# ----------------------------------------------------------------------------------------------------------
# Run-heavy data
# ----------------------------------------------------------------------------------------------------------

run_chunks = st.one_of(
    st.tuples(st.integers(0, 255), st.integers(1, 300)).map(lambda t: bytes([t[0]]) * t[1]),       # distance 1
    st.tuples(st.binary(min_size=2, max_size=17), st.integers(1, 60)).map(lambda t: t[0] * t[1]),  # period 2..17
    st.binary(min_size=1, max_size=12),                                                          # literals
    st.integers(1, 80).map(bytes),                                                               # zero padding
)
run_heavy = st.lists(run_chunks, min_size=1, max_size=40).map(b"".join)


def streams_of(data: bytes) -> list[bytes]:
    return [ref_compress(data), lzo1z_compress(data)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_heavy)
def test_hypothesis_run_heavy_round_trip(data):
    for stream in streams_of(data):
        assert lzo1z_decompress(guarded(stream), max(len(data), 1)) == data
        assert ref_decompress(stream, max(len(data), 1)) == data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_hypothesis_random_round_trip_guarded(data):
    for stream in streams_of(data):
        assert lzo1z_decompress(guarded(stream), max(len(data), 1)) == data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(run_heavy, st.binary(max_size=600)), st.data())
def test_hypothesis_every_output_limit_near_the_end(data, draw):
    """max_out from one below the size to 80 above it: the fast path's 64-byte output margin ends at every
    possible instruction; the result must not depend on it."""
    stream = draw.draw(st.sampled_from(streams_of(data)))
    view = guarded(stream)
    for max_out in range(max(len(data) - 1, 0), len(data) + 81):
        if max_out < len(data):
            with pytest.raises(LzoError) as ei:
                lzo1z_decompress(view, max_out)
            assert ei.value.code == E_OUTPUT_OVERRUN
        else:
            assert lzo1z_decompress(view, max_out) == data


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(run_heavy, st.binary(max_size=400)))
def test_hypothesis_every_truncation_fails_guarded(data):
    for stream in streams_of(data):
        for cut in range(len(stream)):
            with pytest.raises(LzoError) as ei:
                lzo1z_decompress(guarded(stream[:cut]), len(data) + 64)
            assert ei.value.code in (E_INPUT_OVERRUN, E_EOF_NOT_FOUND)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_heavy, st.data())
def test_hypothesis_corrupt_run_heavy_streams_agree_with_liblzo(data, draw):
    stream = bytearray(draw.draw(st.sampled_from(streams_of(data))))
    for _ in range(draw.draw(st.integers(1, 4))):
        k = draw.draw(st.integers(0, len(stream) - 1))
        stream[k] = draw.draw(st.one_of(st.integers(0, 255), st.sampled_from([0, 0x11, 0x1C, 0x20, 0x40, 0xFC])))
    cut = draw.draw(st.integers(0, len(stream)))
    stream = bytes(stream[:cut])
    max_out = max(0, max(len(data), 1) + draw.draw(st.integers(-2, 70)))   # a bound near the payload's size
    expected = ref_decompress(stream, max_out)
    if expected is None:
        with pytest.raises(LzoError):
            lzo1z_decompress(guarded(stream), max_out)
    else:
        assert lzo1z_decompress(guarded(stream), max_out) == expected


def test_market_payload_truncations_and_flips_guarded():
    """NSE-like messages (the benchmark corpus shape): every prefix fails, random flips agree with liblzo."""
    rng = random.Random(2026)
    for p in market_payloads(40, seed=99):
        for stream in streams_of(p):
            for cut in range(len(stream)):
                with pytest.raises(LzoError):
                    lzo1z_decompress(guarded(stream[:cut]), len(p) + 64)
            for _ in range(40):
                s = bytearray(stream)
                s[rng.randrange(len(s))] = rng.randrange(256)
                max_out = len(p) + rng.randrange(-1, 80)
                expected = ref_decompress(bytes(s), max_out)
                if expected is None:
                    with pytest.raises(LzoError):
                        lzo1z_decompress(guarded(bytes(s)), max_out)
                else:
                    assert lzo1z_decompress(guarded(bytes(s)), max_out) == expected


# ----------------------------------------------------------------------------------------------------------
# Hand-assembled instructions at every distance and length the fast path distinguishes
# ----------------------------------------------------------------------------------------------------------

PREFIX = bytes(range(1, 65)) * 2                       # 128 distinct-ish bytes to refer back to


def _check(asm: Asm) -> None:
    stream, expected = asm.eof()
    assert ref_decompress(stream, len(expected)) == expected           # the assembler is right
    for slack in (0, 1, 8, 63, 64, 65, 200):
        assert lzo1z_decompress(guarded(stream), len(expected) + slack) == expected
    with pytest.raises(LzoError) as ei:
        lzo1z_decompress(guarded(stream), len(expected) - 1)
    assert ei.value.code == E_OUTPUT_OVERRUN


@pytest.mark.parametrize("lits", [b"", b"x", b"xy", b"xyz"])
def test_m2_every_short_distance_and_length(lits):
    for dist in list(range(1, 20)) + [31, 32, 33, 0x700]:
        asm = Asm().run(PREFIX if dist < 128 else bytes(random.Random(dist).randbytes(0x700)))
        for length in range(3, 9):
            asm.m2(length, dist, lits)
            asm.m2_repeat(length, lits)
        if not lits:
            asm.run(b"tail-literals!")                                 # a run right after a match (state 0)
        asm.m2(3, 1, b"ab")
        _check(asm)


@pytest.mark.parametrize("lits", [b"", b"q", b"qrs"])
def test_m3_every_short_distance_and_length(lits):
    for dist in list(range(1, 18)) + [31, 32, 33, 47, 48, 49, 100]:
        asm = Asm().run(PREFIX)
        for length in list(range(3, 35)) + [48, 49, 50, 300]:
            asm.m3(length, dist, lits)
        _check(asm)


def test_m4_m1_and_literal_runs_in_the_fast_path():
    rng = random.Random(3)
    asm = Asm().run(rng.randbytes(0x4100))
    for length in range(3, 12):
        asm.m4(length, 0x4001 + 17 * length, b"k" * (length % 4))
    asm.m2(3, 9)                                                       # no literals: a run may follow
    for n in range(4, 40):
        asm.run(rng.randbytes(n))
        asm.m1_run(0x701 + n, b"z")                                     # 3-byte M1 right after a run
        asm.m1(2 + n, b"yz")                                           # 2-byte M1 after literals
        asm.m2(4, 1 + n)
    _check(asm)


def test_long_runs_of_one_byte():
    """Distance-1 matches of every length up to 600 bytes, at every alignment of the output."""
    for start in range(1, 18):
        asm = Asm().run(bytes(range(50, 50 + start + 3)))
        for length in list(range(3, 80)) + [255, 256, 257, 600]:
            asm.m3(length, 1, b"r" * (length % 4))
        _check(asm)


def test_garbage_guarded_agrees_with_liblzo():
    rng = random.Random(8)
    for _ in range(3000):
        g = rng.randbytes(rng.randrange(0, 120))
        if rng.random() < 0.5:
            g = bytes([rng.randrange(18, 256)]) + g
        max_out = rng.choice([0, 1, 16, 64, 65, 100, 4096])
        expected = ref_decompress(g, max_out) if max_out else None
        try:
            got = lzo1z_decompress(guarded(g), max_out)
        except LzoError:
            got = None
        if max_out:
            assert got == expected, g.hex()
    assert_same_as_ref(b"\x11\x00\x00")
