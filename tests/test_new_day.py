"""A new trading day: Store.new_day() takes every record back to its identity, and a capture that runs (or an
ingest that reads) across days ends the second day with exactly the state of one started that morning."""
import datetime as dt

import numpy as np

import vega
from vega import nse
from vega.capture import META_FIELDS, Capture, load_config, replay_journal_into
from vega.journal import Journal
from vega.simulator import DEFAULT_FEEDS, Simulator, write_pcap
from vega.pcap import udp_datagrams

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
KEPT = {"seq", "token", "symbol", "series", "segment", "subscribed", "valid", "implied_volatility"}


def all_zero(a):
    """Every element zero, for any field (np.any of bytes fields needs numpy 2; numpy>=1.26 is allowed)."""
    return bool((a == np.zeros_like(a)).all())


def _fresh_iv():
    """implied_volatility of a record a store has just added ("no IV")."""
    s = vega.Store(4)
    s.add(1)
    return int(s.snapshot()["implied_volatility"][0])


def test_new_day_keeps_only_identity(tmp_path):
    st = vega.Store(5000)
    st.add(26000, "NIFTY", "", "FO")
    st.add(35001, "BANKNIFTY", "XX", "FO", subscribed=False)
    h = vega.FeedHandler("FO", st)
    t0 = int(dt.datetime(2026, 11, 20, 10, 0, tzinfo=IST).timestamp()) * 10**9
    h.process_batch(list(nse.sample_stream("FO", 300, seed=2)), now_ns=t0)
    h.close()
    before = st.snapshot()
    assert (before["volume_traded_today"] > 0).any() and (before["open_price"] > 0).any()
    assert st.new_day() == len(st) == len(before)
    after = st.snapshot()
    assert list(after["token"]) == list(before["token"])                   # every token keeps its place
    assert ((after["seq"] == before["seq"] + 2)).all()                      # each rewritten under its lock
    for name in after.dtype.names:
        if name in KEPT - {"seq", "implied_volatility", "valid"}:
            assert np.array_equal(after[name], before[name]), name
        elif name not in KEPT:
            assert all_zero(after[name]), name
    assert (after["valid"] == 1).all() and (after["implied_volatility"] == _fresh_iv()).all()
    assert st[26000].symbol == "NIFTY" and st[35001].series == "XX" and not st[35001].subscribed
    # the same as a fresh store holding those identities: applying its keyframes to a new store gives it back
    again = vega.Store(5000)
    again.apply_records(st.keyframe_records(0))
    assert np.array_equal(again.snapshot()[["token", "symbol", "series", "segment", "subscribed"]],
                          after[["token", "symbol", "series", "segment", "subscribed"]])


def _two_days(path):
    """The simulator's stream of both segments: its first 300 datagrams at 15:00 IST on 2026-11-20, the rest
    from 09:15 IST on 2026-11-21.  Returns the items written."""
    sim = Simulator(["FO", "CM"], 500, seed=8)
    sim.generate()
    order = [(seg, dg) for seg, start, k in sim._chunks(32) for dg in sim.datagrams[seg][start:start + k]]
    d1 = int(dt.datetime(2026, 11, 20, 15, 0, tzinfo=IST).timestamp()) * 10**9
    d2 = int(dt.datetime(2026, 11, 21, 9, 15, tzinfo=IST).timestamp()) * 10**9
    items = [((d1 if i < 300 else d2 + (i - 300) * 10**6) + (i * 10**6 if i < 300 else 0), *sim.targets[seg], dg)
             for i, (seg, dg) in enumerate(order)]
    write_pcap(path, items)
    return items


def _morning_only(items):
    """FeedHandlers linked as the capture links them, fed only the second day's datagrams."""
    idx, cm, fo = vega.Store(2048), vega.Store(65536), vega.Store(65536)
    h_idx = vega.FeedHandler("IDX", idx)
    h_cm = vega.FeedHandler("CM", cm, indices=h_idx)
    h_fo = vega.FeedHandler("FO", fo, underlying=h_cm)
    hs = {DEFAULT_FEEDS["FO"]: h_fo, DEFAULT_FEEDS["CM"]: h_cm}
    for ts, host, port, dg in items[300:]:
        hs[(host, port)].process(dg, now_ns=ts)
    for h in (h_fo, h_cm, h_idx):
        h.close()
    return {"NSE_FO": fo, "NSE_EQ": cm, "NFO_IDX": idx}


def _same_day_state(carried, fresh):
    """Tokens of the fresh store: every market field equal; tokens only the carried store knows: nothing but
    their identity."""
    a, b = carried.snapshot(), fresh.snapshot()
    a = a[np.argsort(a["token"], kind="stable")]
    b = b[np.argsort(b["token"], kind="stable")]
    inb = np.isin(a["token"], b["token"])
    assert np.array_equal(a["token"][inb], b["token"])
    for name in a.dtype.names:
        if name in META_FIELDS or name in KEPT:
            continue
        assert np.array_equal(a[name][inb], b[name]), name
        assert all_zero(a[name][~inb]), name


def test_an_ingest_across_days_ends_the_second_day_as_a_fresh_capture(tmp_path):
    pcap = tmp_path / "two.pcap"
    items = _two_days(pcap)
    cap = Capture(load_config(None, journal_root=str(tmp_path / "j")))
    cap.open(offline_ns=items[0][0])
    assert cap.ingest(udp_datagrams(pcap)) == len(items)
    stores = {f.name: f.store for f in cap.all_feeds}
    cap.close()                                               # journals sealed; the stores stay open
    for name, fresh in _morning_only(items).items():
        _same_day_state(stores[name], fresh)
        day2 = tmp_path / "j" / name / "20261121.bin"
        with Journal.open(tmp_path / "j" / name / "20261120.bin") as a, Journal.open(day2) as b:
            assert b.first_seq == a.next_seq
            assert len(b.checkpoints) >= 1 and int(b.checkpoints["offset"][0]) == 64   # the day opens with one
        # the second day's file alone rebuilds the live store (it does not need the first day's)
        replayed = replay_journal_into(day2, 65536, stores[name].header["day_base_ns"])
        _same_day_state(stores[name], replayed)
    assert (stores["NSE_FO"].snapshot()["volume_traded_today"] > 0).any()


def test_housekeeping_starts_the_new_day_when_the_date_changes(tmp_path, monkeypatch):
    import vega.capture as capture
    t0 = int(dt.datetime(2026, 11, 20, 15, 0, tzinfo=IST).timestamp()) * 10**9
    cap = Capture(load_config(None, journal_root=str(tmp_path / "j")))
    cap.open(offline_ns=t0)
    fo = cap.feeds[0]
    fo.handler.process_batch(list(nse.sample_stream("FO", 100, seed=3)), now_ns=t0)
    assert fo.store.snapshot()["last_traded_price"].any()
    clock = {"now": t0 + 3600 * 10**9}                        # the capture's wall clock, 16:00 IST
    monkeypatch.setattr(capture.time, "time_ns", lambda: clock["now"])
    cap.housekeeping()                                       # the same day: nothing changes
    assert fo.writer.date == dt.date(2026, 11, 20) and fo.store.snapshot()["last_traded_price"].any()
    clock["now"] = int(dt.datetime(2026, 11, 21, 0, 0, 1, tzinfo=IST).timestamp()) * 10**9
    cap.housekeeping()
    assert fo.writer.date == dt.date(2026, 11, 21)
    assert len(fo.store) and not fo.store.snapshot()["last_traded_price"].any()
    cap.close()
    with Journal.open(tmp_path / "j" / "NSE_FO" / "20261121.bin") as j:
        assert len(j.checkpoints) == 1 and len(j) == int(j.checkpoints["n_records"][0])


def test_the_handler_forgets_the_streams_sequence_numbers_at_a_new_day():
    """The exchange numbers each day's streams afresh.  After new_day() the next morning's numbers (here: the
    same stream again) count no out-of-order messages and no gaps; the counters keep the first day's."""
    st = vega.Store(5000)
    h = vega.FeedHandler("FO", st)
    t0 = int(dt.datetime(2026, 11, 20, 10, 0, tzinfo=IST).timestamp()) * 10**9
    day = list(nse.sample_stream("FO", 200, seed=5))
    h.process_batch(day, now_ns=t0)
    first = h.stats["streams"]
    assert first and all(s["out_of_order"] == 0 for s in first.values())
    assert h.new_day() == len(st)
    h.process_batch(day, now_ns=t0 + 86_400 * 10**9)
    again = h.stats["streams"]
    for k, s in again.items():
        assert s["out_of_order"] == 0 and s["gaps"] == first[k]["gaps"] * 2, (k, s)
        assert s["messages"] == 2 * first[k]["messages"] and s["last_seq"] == first[k]["last_seq"]
    h.close()
