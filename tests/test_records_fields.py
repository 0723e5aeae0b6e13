"""What a change record says, by name: vega.records.fields / field_values / explode.  The fields the
records carry rebuild the live store's values (hypothesis over random message sequences), explode agrees
with the per-record decoder row for row, and odd input is handled."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import vega._core as core
from vega import nse, records
from vega.records import CHANGE_RECORD_DTYPE, FIELD_ROW_DTYPE, explode, field_values, fields, group_name
from store_helpers import md, merge
from test_store_records import messages, run_live

# fields explode returns as raw bits (fields() decodes them): not compared as integers with the store
NOT_INTEGERS = ("symbol0", "symbol1", "symbol2", "net_change_indicator", "idx_market_cap")


def store_value(row, name):
    """The store's value of a field name as records spell it (``bid_price[2]``)."""
    base, _, i = name.partition("[")
    v = row[base]
    return int(v[int(i[:-1])]) if i else int(v)


@pytest.mark.parametrize("seg", ["CM", "FO"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_last_value_of_every_field_is_the_store_value(seg, data):
    live, recs = run_live(seg, data.draw(messages(seg)))
    rows = explode(recs)
    last = {}
    for r in rows:
        last[int(r["token"]), str(r["field"])] = int(r["value"])
    snap = {int(r["token"]): r for r in live.snapshot()}
    assert {t for t, _ in last} == set(snap)             # every token the store holds sent records
    for (tok, name), v in last.items():
        if name not in NOT_INTEGERS:
            assert v == store_value(snap[tok], name), (tok, name)


@pytest.mark.parametrize("seg", ["CM", "FO"])
def test_explode_agrees_with_fields_row_for_row(seg):
    got = []
    fh = core.FeedHandler(seg, core.Store(10_000), on_records=lambda a: got.append(a.copy()))
    fh.process_batch(list(nse.sample_stream(seg, 200, seed=3)))
    recs = np.concatenate(got)
    rows = explode(recs)
    assert rows.dtype == FIELD_ROW_DTYPE and len(rows) > len(recs) > 1000
    assert (np.diff(rows["record"]) >= 0).all()          # record order
    k = 0
    for i, rec in enumerate(recs):
        named = fields(rec)
        assert named and not any(n.startswith("slot") for n in named)
        for name, value in named.items():                # mask-bit order within a record
            r = rows[k]
            assert (int(r["record"]), str(r["field"])) == (i, name)
            assert (r["token"], r["source"], r["flags"], r["group"]) == (rec["token"], rec["source"],
                                                                        rec["flags"], rec["group"])
            assert r["ts48"] == records.timestamps(recs[i:i + 1])[0]
            if name not in NOT_INTEGERS:
                assert int(r["value"]) == value
            k += 1
    assert k == len(rows)


def test_eight_byte_and_text_fields():
    s = core.Store(10)
    recs = merge(s, "CM", md(1, volume_traded_today=(5 << 32) | 7, net_change_indicator="+",
                             last_traded_price=-3))
    trade = recs[recs["group"] == 1]
    assert fields(trade[0])["volume_traded_today"] == (5 << 32) | 7
    assert fields(trade[0])["net_change_indicator"] == "+"
    assert "last_traded_price" not in fields(trade[0])    # prices only when > 0: no change, no field
    rows = explode(trade)
    by = {str(r["field"]): int(r["value"]) for r in rows}
    assert by["volume_traded_today"] == (5 << 32) | 7 and by["net_change_indicator"] == ord("+")
    s.add(2, symbol="RELIANCE", series="EQ")
    ident = s.keyframe_records(0)
    ident = ident[(ident["token"] == 2) & (ident["group"] == 11)]
    named = {}
    for r in ident:
        named |= fields(r)
    # the record's 12 symbol bytes are the store's: the symbol padded to 10, then the series
    assert named["symbol0"] + named["symbol1"] + named["symbol2"] == "RELIANCE  EQ"


def test_odd_input():
    assert len(explode(np.empty(0, CHANGE_RECORD_DTYPE))) == 0
    with pytest.raises(TypeError, match="CHANGE_RECORD_DTYPE"):
        explode(np.zeros(3, np.int64))
    r = np.zeros(3, CHANGE_RECORD_DTYPE)
    r["group"] = [200, 10, 1]                             # unknown group; oi needs 6 slots; trade LTP
    r["mask"] = [1, 0b111, 1]
    r["slots"][2, 0] = 42
    rows = explode(r)
    assert len(rows) == 1 and (rows[0]["record"], rows[0]["field"], rows[0]["value"]) == (2, "last_traded_price", 42)
    assert field_values(200, 1, [1, 2, 3, 4]) == {"slot0": 1, "slot1": 2, "slot2": 3, "slot3": 4}
    assert field_values(10, 0b111, [1, 2, 3, 4])["bad_mask"] == "0x0007"
    assert group_name(1) == "trade" and group_name(200) == "group200"


def test_fields_takes_one_record_and_says_so_for_an_array():
    r = np.zeros(2, CHANGE_RECORD_DTYPE)
    r["group"], r["mask"], r["slots"][:, 0] = 1, 1, [24400, 24405]
    assert fields(r[0]) == {"last_traded_price": 24400}
    assert fields(r[1].tobytes()) == fields(bytearray(r[1].tobytes())) == {"last_traded_price": 24405}
    assert fields(memoryview(r.tobytes())[32:]) == {"last_traded_price": 24405}
    for many in (r, r[:1], r.reshape(1, 2)):               # numpy's own message said nothing of records
        with pytest.raises(TypeError, match=r"one change record \(e.g. recs\[0\]\).*explode\(recs\)"):
            fields(many)
    with pytest.raises(TypeError, match="32 bytes, not 64"):
        fields(r.tobytes())


def test_the_record_functions_say_what_they_take():
    """timestamps / set_timestamps / fields given no change records raised numpy's bare IndexError ("only
    integers, slices ... are valid indices"), a ValueError "no field of name ts_lo" or a TypeError about
    subscripts: now a TypeError saying what they take, and for raw bytes how to view them as records.  Every
    form they took before still works: an array, one record (recs[0]), a recarray, a view of some fields."""
    from vega.records import set_timestamps, timestamps
    r = np.zeros(3, CHANGE_RECORD_DTYPE)
    set_timestamps(r, [5, 6, 1 << 40])
    r["group"], r["mask"], r["slots"][:, 0] = 1, 1, 24400
    takes = r"takes change records \(a CHANGE_RECORD_DTYPE array, or one record such as recs\[0\]\), not "
    raw = r"; raw 32-byte records: view them as records, np\.frombuffer\(buf, CHANGE_RECORD_DTYPE\)"
    odd = [(np.zeros(3), "an array of float64$"), (np.zeros(3, np.int64), "an array of int64$"),
           (np.zeros(3, [("a", "<i4")]), r"an array of \[\('a', '<i4'\)\]$"), ([1, 2], "list$"), (5, "int$"),
           (np.float64(1.0), "a numpy float64 scalar$"), (r.view(np.uint8), "an array of uint8" + raw),
           (r.view(np.uint8).reshape(3, 32), "an array of uint8" + raw), (r.view("V32"), r"an array of \|V32" + raw),
           (r.tobytes(), "bytes" + raw), (r[:1].tobytes(), "bytes" + raw), (bytearray(32), "bytearray" + raw)]
    for value, said in odd:
        with pytest.raises(TypeError, match="timestamps " + takes + said):
            timestamps(value)
        with pytest.raises(TypeError, match="set_timestamps " + takes + said):
            set_timestamps(value, 7)
    for value in (r, r.view(np.recarray), r[["ts_lo", "ts_hi"]]):    # the forms taken before
        assert timestamps(value).tolist() == [5, 6, 1 << 40]
    assert timestamps(r[2]) == 1 << 40 and timestamps(r[2:3].reshape(())) == 1 << 40
    s = r.copy()
    set_timestamps(s[0], 9)
    set_timestamps(s.view(np.recarray)[1:], [10, 11])
    assert timestamps(s).tolist() == [9, 10, 11]
    with pytest.raises(ValueError, match="read-only"):            # the records' own errors stand
        ro = r.copy()
        ro.flags.writeable = False
        set_timestamps(ro, 1)
    with pytest.raises(ValueError, match="ts48 must be in"):
        set_timestamps(r.copy(), -1)
    one = "fields takes one change record \\(a row of a CHANGE_RECORD_DTYPE array such as recs\\[0\\], or its 32 " \
          "bytes\\), not "
    for value, said in (([1, 2], "list"), (5, "int"), (np.float64(1.0), "a numpy float64 scalar"),
                        (np.zeros((), np.float64), "an array of float64"),
                        (np.zeros(1, [("a", "<i4")])[0], r"a numpy \[\('a', '<i4'\)\] scalar"),
                        (r.view("V32")[0], r"a numpy \|V32 scalar" + raw)):
        with pytest.raises(TypeError, match=one + said):
            fields(value)
    assert fields(r[0]) == fields(r[0:1].reshape(())) == fields(r.tobytes()[:32]) == {"last_traded_price": 24400}
    for value, said in ((r.view(np.uint8), "an array of uint8" + raw), (r.tobytes(), "bytes" + raw),
                        (np.zeros(3), "an array of float64$")):
        with pytest.raises(TypeError, match="explode takes a CHANGE_RECORD_DTYPE array, not " + said):
            explode(value)
