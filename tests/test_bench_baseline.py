"""bench/baseline_store.py, the dict store bench/bench_merge.py times VEGA against, applies VEGA's merge rules,
so its ratios compare like with like. bench_merge.check_baseline_agrees compares the two stores token by
token; here it runs over simulated streams of both segments with their pre-open phases, over random message
sequences (test_store_records' strategies), and over made-up messages of rules neither reaches."""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bench.bench_merge import T0, check_baseline_agrees
from test_store_records import messages
from vega import Decoder, nse


def _deep_update(dst, src):
    for k, v in src.items():
        if isinstance(v, dict):
            _deep_update(dst[k], v)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for d, e in zip(dst[k], v):
                _deep_update(d, e)
        else:
            dst[k] = v


def _complete(seg, msg):
    """A test's sparse message dict with every field the decoder would give (the baseline reads them all)."""
    header = {k: v for k, v in msg.items() if k not in ("transaction_code", "records")}
    full = nse.blank_message(seg, msg["transaction_code"], len(msg["records"]), **header)
    for rec, given_rec in zip(full["records"], msg["records"]):
        _deep_update(rec, given_rec)
    full["segment"] = seg
    return full


def _one(seg, code, **fields):
    return _complete(seg, {"transaction_code": code, "records": [fields]})


@pytest.mark.parametrize("seg", ["FO", "CM"])
def test_baseline_agrees_with_vega_over_a_simulated_stream(seg):
    dec = Decoder(seg)
    msgs = [m for dg in nse.sample_stream(seg, 800, seed=5, phases=True) for m in dec.decode(dg) if m["records"]]
    assert len({m["transaction_code"] for m in msgs}) >= 6
    check_baseline_agrees(seg, msgs)


@pytest.mark.parametrize("seg", ["CM", "FO"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_baseline_agrees_with_vega_over_random_messages(seg, data):
    msgs, times, now = [], [], 0
    for msg, dt in data.draw(messages(seg)):
        now += dt
        msgs.append(_complete(seg, msg))
        times.append(T0 + now)
    check_baseline_agrees(seg, msgs, times)


@pytest.mark.parametrize("seg,code", [("CM", 18703), ("FO", 7202), ("FO", 17202)])
def test_baseline_keeps_other_markets_fills_off_the_ltp(seg, code):
    def fill(token, price, market_type):
        return _one(seg, code, token=token, market_type=market_type, fill_price=price, fill_volume=3)
    msgs = [fill(1, 700, 1)] + [fill(1, 650 + mt, mt) for mt in range(7)] + [fill(2, 800, mt) for mt in (4, 2, 0)]
    check_baseline_agrees(seg, msgs)


@pytest.mark.parametrize("seg,code", [("CM", 7200), ("CM", 7208), ("FO", 7200), ("FO", 7208)])
def test_baseline_takes_the_preopen_open_and_volume_as_indicative(seg, code):
    """The simulated streams send no open or volume in the pre-open: made-up messages reach the rule."""
    steps = [(1, 1000, 5000), (1, 990, 4000), (6, 995, 4200), (2, 1005, 4500), (2, 1010, 4400), (2, 0, 4600)]
    msgs = [_one(seg, code, token=1, book_type=1, trading_status=status, open_price=op, volume_traded_today=vol,
                     last_traded_price=1000)
            for status, op, vol in steps]
    check_baseline_agrees(seg, msgs)
