"""Property tests of the Cython decoder: encode -> vega.decode returns every field, for every code of both
segments; and vega.decode agrees with the independent pure-Python baseline decoder on every datagram."""
import math
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings

import vega
from vega import nse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import nse_strategies as S  # noqa: E402
from bench import baseline_decode  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL = [(seg, code) for seg in ("CM", "FO") for code in nse.CODES[seg]]


def _same(a, b):
    """Equality that treats two NaNs as equal (18708's DOUBLE volumes may carry any IEEE value)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("seg,code", ALL)
def test_encode_decode_returns_every_field(seg, code):
    @SETTINGS
    @given(S.messages(seg, code))
    def check(msg):
        out = vega.decode(nse.build_datagram(seg, [msg]), seg)
        assert len(out) == 1
        assert _same(out[0], msg), (out[0], msg)

    check()


@pytest.mark.parametrize("seg", ["CM", "FO"])
def test_multi_packet_datagrams_roundtrip_and_match_baseline(seg):
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(S.datagrams(seg, max_packets=5))
    def check(dg_msgs):
        dg, msgs = dg_msgs
        dec = vega.Decoder(seg)
        out = dec.decode(dg)
        assert _same(out, msgs)
        assert _same(out, baseline_decode.decode(dg, seg))
        assert dec.stats["messages"] == len(msgs) and not any(dec.stats["errors"].values())

    check()


@pytest.mark.parametrize("seg", ["CM", "FO"])
def test_sample_stream_matches_baseline(seg):
    dec = vega.Decoder(seg)
    for dg in nse.sample_stream(seg, 400, seed=3):
        assert _same(dec.decode(dg), baseline_decode.decode(dg, seg))
    assert not any(dec.stats["errors"].values())
