"""Message builders and record decoding shared by the store tests (decoded-message dicts, vega.decode shape)."""
import numpy as np

import vega

from vega import _core
from vega.store import GROUPS, STORE_DTYPE

T0 = 1_700_000_000_000_000_000          # a receive time in the past (epoch ns)
SEC = 1_000_000_000

# fields compared by the losslessness tests: every market field (metadata excluded, see docs/FORMATS.md)
META = {"seq", "_pad0", "last_update_ns", "update_count", "last_update_source", "last_md_ns"}
MARKET_FIELDS = [n for n in STORE_DTYPE.names if n not in META]


def mbp(bids=(), asks=()):
    """10 MBP entries from [(price, qty, orders)] per side (missing levels are zero)."""
    out = []
    for side in (bids, asks):
        side = list(side) + [(0, 0, 0)] * (5 - len(side))
        out += [{"price": p, "quantity": q, "number_of_orders": o} for p, q, o in side]
    return out


def md(token, code=7200, **kw):
    rec = {"token": token, "book_type": 1, "trading_status": 2}
    rec.update(kw)
    return {"transaction_code": code, "records": [rec]}


def mw(token, code=7201, buy=(0, 0), sell=(0, 0), ltp=0, ltt=0, oi=0, indicator=None):
    info = {"buy_price": buy[0], "buy_volume": buy[1], "sell_price": sell[0], "sell_volume": sell[1],
            "last_trade_price": ltp, "last_trade_time": ltt, "indicator": indicator or {}}
    return {"transaction_code": code, "records": [{"token": token, "market_wise_info": [info, {}, {}],
                                                   "open_interest": oi}]}


def tick(token, code=18703, price=0, volume=0, market_type=1, oi=0, hi=0, lo=0):
    return {"transaction_code": code, "records": [{"token": token, "market_type": market_type,
                                                   "fill_price": price, "fill_volume": volume,
                                                   "open_interest": oi, "day_hi_oi": hi, "day_lo_oi": lo}]}


def merge(store, segment, msg, now_ns=T0, **kw):
    return _core._merge_for_tests(store, segment, msg, now_ns=now_ns, **kw)


_WIDE = {n for n in STORE_DTYPE.names if STORE_DTYPE.fields[n][0].base.itemsize == 8}


def _field_is_wide(name):
    return name.split("[")[0] in _WIDE


def decode_records(recs):
    """[(token, group name, {field: value})] of change records (slots unpacked by the documented rule)."""
    out = []
    for r in recs:
        gname, fields = GROUPS[int(r["group"])]
        vals, slots, ns = {}, [int(x) for x in r["slots"]], 0
        for bit, name in enumerate(fields):
            if not (int(r["mask"]) >> bit) & 1:
                continue
            if _field_is_wide(name):
                vals[name] = (slots[ns] & 0xFFFFFFFF) | (slots[ns + 1] << 32)
                ns += 2
            else:
                vals[name] = slots[ns]
                ns += 1
        out.append((int(r["token"]), gname, vals))
    return out


def changed_fields(recs):
    """{field name: value} over all records (single token)."""
    d = {}
    for _, _, vals in decode_records(recs):
        d.update(vals)
    return d


def market_equal(a, b):
    """Assert two STORE_DTYPE arrays (same token order) agree on every market field."""
    assert len(a) == len(b)
    for n in MARKET_FIELDS:
        assert np.array_equal(a[n], b[n]), (n, a[n], b[n])


def by_token(arr):
    return arr[np.argsort(arr["token"], kind="stable")]


def bump_seq(name, store, token, step):
    """Move the sequence counter of token's record in the named store by step, through its shared-memory
    file: +1 from even is a writer that died inside an update (the counter stays odd), +1 or -1 again
    ends it."""
    import mmap
    import struct
    h = store.header
    off = h["records_off"] + h["record_size"] * list(store.array["token"]).index(token)   # no lock: may be held
    with open(f"/dev/shm/vega.store.{name}", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        struct.pack_into("<I", m, off, struct.unpack_from("<I", m, off)[0] + step)


def sequence_numbers(datagrams, segment="FO"):
    """The BCSeqNos the datagrams' messages carry, per stream (decoded, independently of a FeedHandler)."""
    out = {}
    for d in datagrams:
        for m in vega.decode(d, segment):
            if not m.get("message_header") and m.get("bc_seq_no", 0) > 0:
                out.setdefault(m["stream"], []).append(m["bc_seq_no"])
    return out
