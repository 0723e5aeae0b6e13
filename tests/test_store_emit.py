"""Change-record emission: the compile-time specialised kernels of vg_emit (vega/_store.h vg_emit_records)
write exactly the bytes of the reference table walk vg_emit_ref, for arbitrary record contents and masks
(hypothesis) and over whole simulated feeds of both segments (every merge function, live and keyframes)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import vega._core as core
from vega import nse
from vega.records import CHANGE_RECORD_DTYPE, CONTINUED, KEYFRAME
from vega.store import GROUPS, STORE_DTYPE

from store_helpers import T0

N_FIELDS = [len(GROUPS[g][1]) for g in sorted(GROUPS)]
RECORD = STORE_DTYPE.itemsize


def _masks():
    return st.tuples(*[st.one_of(st.just(0), st.just((1 << n) - 1), st.integers(0, (1 << n) - 1))
                       for n in N_FIELDS])


# record bytes that stress sign extension and the 64-bit split: all-ones, high bits set, random
RECORD_BYTES = st.one_of(st.binary(min_size=RECORD, max_size=RECORD),
                         st.sampled_from([b"\xff" * RECORD, b"\x80" * RECORD, b"\x00" * RECORD,
                                          bytes(range(256)) + bytes(range(RECORD - 256))]))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rec=RECORD_BYTES, masks=_masks(), source=st.integers(0, 65535), ts48=st.integers(0, (1 << 48) - 1),
       flags=st.sampled_from([0, KEYFRAME, CONTINUED, 0xFF]))
def test_kernels_equal_reference_table_walk(rec, masks, source, ts48, flags):
    fast, ref = core._emit_pair(rec, masks, source=source, ts48=ts48, flags=flags)
    assert fast == ref
    recs = np.frombuffer(fast, CHANGE_RECORD_DTYPE)
    # one record at least per group with a non-zero mask, none for an update that changed nothing
    assert (len(recs) == 0) == (not any(masks))
    assert {int(g) for g in recs["group"]} == {g for g, m in zip(sorted(GROUPS), masks) if m}


def test_every_single_field_and_every_full_group():
    """Each field of each group alone, then each group whole, on a record whose every byte differs."""
    rec = bytes((i * 37 + 11) & 0xFF for i in range(RECORD))
    for gi, n in enumerate(N_FIELDS):
        for bit in list(range(n)) + [None]:
            masks = [0] * len(N_FIELDS)
            masks[gi] = (1 << n) - 1 if bit is None else 1 << bit
            fast, ref = core._emit_pair(rec, masks, source=7208, ts48=(1 << 47) + 5)
            assert fast == ref and len(fast) > 0


FAMILIES = sorted(core._FAMILY_GROUPS)


def _family_masks(family):
    groups = core._FAMILY_GROUPS[family]
    return st.tuples(*[st.one_of(st.just(0), st.just((1 << n) - 1), st.integers(0, (1 << n) - 1))
                       if g in groups else st.just(0) for g, n in zip(sorted(GROUPS), N_FIELDS)])


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rec=RECORD_BYTES, family=st.sampled_from(FAMILIES), source=st.integers(0, 65535),
       ts48=st.integers(0, (1 << 48) - 1))
def test_family_emitters_equal_reference_table_walk(data, rec, family, source, ts48):
    """Each merge family's own emitter (the branch-free packers included) writes the reference's bytes, and
    nothing before its output, for any changed fields of the groups it handles."""
    masks = data.draw(_family_masks(family))
    fast, ref = core._emit_family_pair(family, rec, masks, source=source, ts48=ts48)
    assert fast == ref
    assert (len(fast) == 0) == (not any(masks))


@pytest.mark.parametrize("family", FAMILIES)
def test_family_emitters_every_mask_of_each_small_group(family):
    """Every subset of the fields of each group (up to 11 fields) a family changes, alone and beside a
    whole identity group, on a record whose every byte differs (the 8-byte fields' record splits)."""
    rec = bytes((i * 37 + 11) & 0xFF for i in range(RECORD))
    ident = sorted(GROUPS).index(11)
    for g in core._FAMILY_GROUPS[family]:
        gi = sorted(GROUPS).index(g)
        if N_FIELDS[gi] > 11:
            continue
        for mask in range(1, 1 << N_FIELDS[gi]):
            masks = [0] * len(N_FIELDS)
            masks[gi] = mask
            fast, ref = core._emit_family_pair(family, rec, masks, source=7202, ts48=(1 << 47) + 5)
            assert fast == ref, (family, g, mask)
            if g != 11:
                masks[ident] = (1 << N_FIELDS[ident]) - 1
                fast, ref = core._emit_family_pair(family, rec, masks, source=7202, ts48=3)
                assert fast == ref, (family, g, mask, "with identity")


def test_family_emit_pair_refuses_bad_input():
    ok = [0] * len(N_FIELDS)
    with pytest.raises(ValueError, match="family"):
        core._emit_family_pair("nope", b"\0" * RECORD, ok)
    bad = list(ok)
    bad[sorted(GROUPS).index(9)] = 1           # buy-back: the ticker never changes it
    with pytest.raises(ValueError, match="never changes"):
        core._emit_family_pair("tick", b"\0" * RECORD, bad)


def test_emit_pair_refuses_bad_input():
    ok = [0] * len(N_FIELDS)
    with pytest.raises(ValueError):
        core._emit_pair(b"\0" * (RECORD - 1), ok)
    with pytest.raises(ValueError):
        core._emit_pair(b"\0" * RECORD, ok[:-1])
    bad = list(ok)
    bad[1] = 1 << N_FIELDS[1]                  # a bit past the bid group's last field
    with pytest.raises(ValueError):
        core._emit_pair(b"\0" * RECORD, bad)
    with pytest.raises(ValueError):
        core._emit_pair(b"\0" * RECORD, ok, ts48=1 << 48)


def _feed(seg, datagrams, reference):
    """All records (live, then keyframes of the final state) and the final store of one feed."""
    core._use_reference_emit(reference)
    try:
        store = core.Store(20_000)
        got = []
        fh = core.FeedHandler(seg, store, on_records=got.append)
        for i in range(0, len(datagrams), 50):
            fh.process_batch(datagrams[i:i + 50], now_ns=T0 + i * 1_000_000)
        got.append(store.keyframe_records(ts_ns=12345))
        return np.concatenate(got).tobytes(), store.snapshot().tobytes(), fh.stats["records"]
    finally:
        core._use_reference_emit(False)


@pytest.mark.parametrize("seg", ["FO", "CM"])
def test_feed_records_equal_reference_emitter(seg):
    datagrams = list(nse.sample_stream(seg, 600, seed=3))
    fast, fast_store, n = _feed(seg, datagrams, reference=False)
    ref, ref_store, n_ref = _feed(seg, datagrams, reference=True)
    assert n == n_ref and n > 1000
    assert len(fast) == len(ref)
    assert fast == ref
    assert fast_store == ref_store
