"""The feed handler merges one message behind the decoder: it prefetches a message's store records, merges the
message before it, and holds the new one until the next message or the end of the call (docs/FORMATS.md §10
"Merge fast paths").  Nothing a caller can see may depend on that: every call ends with everything merged,
each message is merged at its own datagram's receive time, and messages routed to a linked handler in
between (index messages, F&O OI for the CM store) neither overwrite nor reorder the held one."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import vega
from vega import _core as core
from vega import nse
from vega.records import CHANGE_RECORD_DTYPE, timestamps

from store_helpers import T0, SEC

MS = 1_000_000


#: tokens added as master data so that a store holds the look-ahead's minimum (VG_PF_MIN_RECORDS = 1024
#: records) from the first message; an empty store merges every message at once until the feed has added
#: that many tokens, then switches to the look-ahead (both are tested)
FILLER = range(200_001, 201_101)


def _handler(seg, prefilled=True, **kw):
    seen = []
    store = vega.Store(40_000)
    for tok in FILLER if prefilled else ():
        store.add(tok, "FILL", "EQ")
    return store, vega.FeedHandler(seg, store, on_records=seen.append, **kw), seen


def _records(seen):
    return np.concatenate(seen) if seen else np.zeros(0, dtype=CHANGE_RECORD_DTYPE)


def _same_state(a_store, a_seen, b_store, b_seen):
    assert len(a_store) == len(b_store) > 0
    assert a_store.snapshot().tobytes() == b_store.snapshot().tobytes()
    ra, rb = _records(a_seen), _records(b_seen)
    assert len(ra) == len(rb) > 0
    assert ra.tobytes() == rb.tobytes()


@pytest.mark.parametrize("prefilled", [True, False])
@pytest.mark.parametrize("seg", ["FO", "CM"])
def test_a_batch_equals_one_datagram_at_a_time_with_per_datagram_times(seg, prefilled):
    stream = list(nse.sample_stream(seg, 400, seed=21))
    times = T0 + np.arange(len(stream), dtype=np.int64) * 3 * MS      # every datagram its own time
    a_store, a, a_seen = _handler(seg, prefilled)
    a.process_batch(stream, now_ns=times)
    b_store, b, b_seen = _handler(seg, prefilled)
    for dg, t in zip(stream, times):
        b.process(dg, now_ns=int(t))
    _same_state(a_store, a_seen, b_store, b_seen)
    # every decoded message was merged by the end of the call (none left held)
    assert a.stats["merged_by_code"] == b.stats["merged_by_code"]
    decoded = {c: n for c, n in a.stats["by_code"].items() if c in a.stats["merged_by_code"]}
    assert {c: n for c, n in a.stats["merged_by_code"].items() if n} == {c: n for c, n in decoded.items() if n}


def _md_datagram(seg, token, ltp):
    rec = dict(nse.blank_record(seg, 7208), token=token, book_type=1, trading_status=2, last_traded_price=ltp)
    return nse.build_datagram(seg, [dict(nse.blank_message(seg, 7208, 1), records=[rec])])


def test_the_held_message_is_merged_at_its_own_datagram_time():
    store, h, seen = _handler("FO")
    t1, t2 = T0 + 5 * SEC, T0 + 9 * SEC
    h.process_batch([_md_datagram("FO", 41001, 101), _md_datagram("FO", 41002, 202)], now_ns=[t1, t2])
    a = store.snapshot()
    a = a[a["token"] < FILLER[0]]
    times = {int(r["token"]): int(r["last_update_ns"]) for r in a}
    assert times == {41001: t1, 41002: t2}
    recs = _records(seen)
    base = store.header["day_base_ns"]
    ts = timestamps(recs)
    stamps = {int(r["token"]): {int(x) for x in ts[recs["token"] == r["token"]]} for r in a}
    assert stamps == {41001: {t1 - base}, 41002: {t2 - base}}
    assert store.ltp(41001) == 101 and store.ltp(41002) == 202


def test_every_entry_point_leaves_nothing_held():
    store, h, _ = _handler("FO")
    h.process(_md_datagram("FO", 42001, 11), now_ns=T0)
    assert store.ltp(42001) == 11
    h.process_batch([_md_datagram("FO", 42002, 22)], now_ns=T0)
    assert store.ltp(42002) == 22
    msg = dict(nse.blank_message("FO", 7208, 1),
               records=[dict(nse.blank_record("FO", 7208), token=42003, book_type=1, trading_status=2,
                             last_traded_price=33)])
    h.merge_message(msg, now_ns=T0)
    assert store.ltp(42003) == 33
    msg["records"][0].update(token=42004, last_traded_price=44)
    h.merge_packed(core.pack_messages("FO", [msg]), now_ns=T0)
    assert store.ltp(42004) == 44


def test_routed_index_messages_between_held_ones_change_nothing():
    from test_index_feed import index_datagram, index_rec, T_OPEN
    stream = list(nse.sample_stream("CM", 120, seed=22))
    values = []
    for pos in range(3, len(stream), 17):
        values.append(2400000 + 100 * len(values))
        stream.insert(pos, index_datagram([index_rec("Nifty 50", values[-1], close=2400000)]))
    times = T_OPEN + np.arange(len(stream), dtype=np.int64) * 7 * MS

    def run(batch):
        ix_store, ix, ix_seen = _handler("IDX", prefilled=False)
        cm_store, cm, cm_seen = _handler("CM", indices=ix)
        if batch:
            cm.process_batch(stream, now_ns=times)
        else:
            for dg, t in zip(stream, times):
                cm.process(dg, now_ns=int(t))
        return ix_store, ix_seen, cm_store, cm_seen

    a, b = run(True), run(False)
    _same_state(a[0], a[1], b[0], b[1])
    _same_state(a[2], a[3], b[2], b[3])
    assert a[0].ltp(26000) == values[-1] and 26000 not in a[2]


def test_the_record_prefetches_survive_compilation():
    """GCC counts a prefetch as no side effect: a function that only prefetches is found "const" and its calls
    are deleted (it happened: the look-ahead compiled to nothing).  vg_pf_lines' volatile asm prevents that;
    this pins it.  Each merge family prefetches its own set of record lines (VG_PF_*: 7 + 5 + 5 + 2 + 2)."""
    objdump = shutil.which("objdump")
    assert objdump, "objdump (binutils) is needed to inspect the compiled extension"
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", core.__file__], capture_output=True, text=True,
                         check=True).stdout
    n = sum(1 for line in out.splitlines() if "\tprefetch" in line)
    assert n >= 21, f"only {n} prefetch instructions in {os.path.basename(core.__file__)}"


#: the prefetch set (VG_PF_* of vega/_store.pxi) of each family the look-ahead holds: (segment, code) -> name
_PF_FAMILY = {(s, c): "MD" for s in ("CM", "FO") for c in (7200, 7208)}
_PF_FAMILY |= {(s, c): "MW" for s in ("CM", "FO") for c in (7201, 17201)}
_PF_FAMILY |= {("FO", 7202): "TICK", ("FO", 17202): "TICK", ("CM", 18703): "TICK_CM", ("CM", 7210): "SPOS",
               ("FO", 7210): "STATUS", ("FO", 7320): "STATUS", ("CM", 18130): "STATUS", ("CM", 18707): "STATUS"}


#: fields a family writes on a line its prefetch set leaves out on purpose
_PF_EXEMPT = {("MW", "mw_indicator")}


def _pf_masks():
    import re
    src = open(os.path.join(os.path.dirname(os.path.abspath(core.__file__)), "_store.pxi")).read()
    return {m.group(1): int(m.group(2), 16) for m in re.finditer(r"^\s*VG_PF_(\w+) = (0x[0-9A-Fa-f]+)", src, re.M)}


@pytest.mark.parametrize("seg", ["FO", "CM"])
def test_each_family_prefetches_every_record_line_its_merge_writes(seg):
    """docs/FORMATS.md 3.1 says which cache lines of the record each message family touches, and the
    look-ahead prefetches those lines (VG_PF_*, one message ahead).  Every field a merge changed (its change
    records name them; a new token's ident records aside: a token not in the store yet is not prefetched)
    must lie on a line of its family's set, with one exception: market watch's mw_indicator, the last byte
    of line 3, which its set (0x17: lines 0, 1, 2, 4) leaves out on purpose (docs/PROFILING.md: prefetching
    line 3 too, 0x1F, measured no gain)."""
    from vega.records import explode
    from vega.store import GROUPS, STORE_DTYPE
    masks = _pf_masks()
    store, fh, seen = _handler(seg)
    fh.process_batch(list(nse.sample_stream(seg, 3000, seed=5, phases=True)), now_ns=T0)
    rows = explode(_records(seen))
    ident = next(g for g, (name, _) in GROUPS.items() if name == "ident")
    rows = rows[rows["group"] != ident]
    missed = set()
    for code, field in set(zip(rows["source"].tolist(), rows["field"].tolist())):
        family = _PF_FAMILY.get((seg, code))
        if family is None:                              # merged at once, not held (6013, 18708)
            continue
        base, _, index = field.partition("[")
        dt, off = STORE_DTYPE.fields[base][:2]
        line = (off + (int(index[:-1]) * dt.base.itemsize if index else 0)) // 64
        if not masks[family] >> line & 1 and (family, field) not in _PF_EXEMPT:
            missed.add((code, field, line, family))
    assert len(rows) and not missed, sorted(missed)
