"""The consolidated store's record as a numpy dtype, and small helpers around it.

``STORE_DTYPE`` mirrors ``vg_srec_t`` in ``vega/_store.h`` (448 bytes, 7 cache lines, little-endian host
layout); docs/FORMATS.md ("Store record") is normative and tests/test_store_layout.py pins every offset.
``store.array`` and ``store.snapshot()`` return arrays of this dtype.  Prices are int32 paise, quantities
int64, exchange times int32 seconds since 1980-01-01, ``*_ns`` int64 epoch nanoseconds.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from vega.instruments import EPOCH_1980, IST, IST_OFFSET
from vega.records import _int_values

__all__ = ["STORE_DTYPE", "INDEX_UNION_FIELDS", "RECORD_SIZE", "GROUPS", "QUALITY_WEIGHTS", "PRE_OPEN_STATUSES",
           "EXCHANGE_EPOCH_S", "exchange_epoch_s", "exchange_datetime", "flat",
           "StoreError", "StoreFullError", "StoreBusyError", "StoreFormatError"]

_FIELDS = [
        ("seq", "<u4", 0),
        ("token", "<i4", 4),
        ("last_md_ns", "<i8", 8),
        ("last_traded_price", "<i4", 16),
        ("last_trade_quantity", "<i4", 20),
        ("last_trade_time", "<i4", 24),
        ("market_type", "<i2", 28),
        ("trading_status", "<i2", 30),
        ("volume_traded_today", "<i8", 32),
        ("last_update_ns", "<i8", 40),
        ("update_count", "<u4", 48),
        ("last_update_source", "<u2", 52),
        ("data_quality", "u1", 54),
        ("segment", "u1", 55),
        ("fill_price", "<i4", 56),
        ("fill_volume", "<i4", 60),
        ("bid_price", ("<i4", (5,)), 64),
        ("ask_price", ("<i4", (5,)), 84),
        ("open_price", "<i4", 104),
        ("high_price", "<i4", 108),
        ("low_price", "<i4", 112),
        ("close_price", "<i4", 116),
        ("indicative_close_price", "<i4", 120),
        ("bb_total_buy_flag", "<i2", 124),
        ("bb_total_sell_flag", "<i2", 126),
        ("bid_quantity", ("<i8", (5,)), 128),
        ("ask_quantity", ("<i8", (5,)), 168),
        ("total_buy_quantity", "<i8", 208),
        ("total_sell_quantity", "<i8", 216),
        ("bid_orders", ("<i2", (5,)), 224),
        ("ask_orders", ("<i2", (5,)), 234),
        ("book_type", "<i2", 244),
        ("market_status", ("<i2", (4,)), 246),
        ("indicator", "u1", 254),
        ("mw_indicator", "u1", 255),
        ("mw_buy_volume", "<i8", 256),
        ("mw_sell_volume", "<i8", 264),
        ("mw_buy_price", "<i4", 272),
        ("mw_sell_price", "<i4", 276),
        ("mw_last_trade_price", "<i4", 280),
        ("mw_last_trade_time", "<i4", 284),
        ("open_interest", "<i8", 288),
        ("oi_day_high", "<i8", 296),
        ("oi_day_low", "<i8", 304),
        ("implied_volatility", "<i4", 312),
        ("net_change_indicator", "S1", 316),
        ("valid", "u1", 317),
        ("subscribed", "u1", 318),
        ("buyback_active", "u1", 319),
        ("auction_number", "<i2", 320),
        ("auction_status", "<i2", 322),
        ("initiator_type", "<i2", 324),
        ("_pad0", "<i2", 326),
        ("initiator_price", "<i4", 328),
        ("initiator_quantity", "<i4", 332),
        ("auction_price", "<i4", 336),
        ("auction_quantity", "<i4", 340),
        ("buy_ord_cxl_count", "<i8", 344),
        ("buy_ord_cxl_vol", "<i8", 352),
        ("sell_ord_cxl_count", "<i8", 360),
        ("sell_ord_cxl_vol", "<i8", 368),
        ("spos_update_time", "<i4", 376),
        ("bb_start_date", "<i4", 380),
        ("pday_cum_vol", "<i8", 384),
        ("cday_cum_vol", "<i8", 392),
        ("pday_high_price", "<i4", 400),
        ("pday_low_price", "<i4", 404),
        ("pday_wt_avg", "<i4", 408),
        ("cday_high_price", "<i4", 412),
        ("cday_low_price", "<i4", 416),
        ("cday_wt_avg", "<i4", 420),
        ("bb_end_date", "<i4", 424),
        ("symbol", "S10", 428),
        ("series", "S2", 438),
        ("net_price_change", "<i4", 440),
        ("average_trade_price", "<i4", 444),
]

#: line 5 of an index record (segment 3, the NFO_IDX feed): a C union with the auction and SPOS fields, which
#: index records do not have.  Not in STORE_DTYPE (its fields do not overlap); vega.indices.INDEX_DTYPE
#: views an index store's records with these.
INDEX_UNION_FIELDS = [
        ("idx_percent_change", "<i4", 320),
        ("idx_yearly_high", "<i4", 324),
        ("idx_yearly_low", "<i4", 328),
        ("idx_upmoves", "<i4", 332),
        ("idx_downmoves", "<i4", 336),
        ("idx_ind_change", "<i4", 340),
        ("idx_market_cap", "<f8", 344),
        ("idx_ind_percent_change", "<i4", 352),
        ("idx_wire_stride", "<i4", 356),
]

#: an index record's names (``vega.indices.INDEX_DTYPE``; a Quote of an index record) for the store fields
#: they read, in INDEX_DTYPE's order; line 5 (INDEX_UNION_FIELDS) follows under INDEX_LINE5_NAMES
INDEX_FIELDS = {
        "token": "token", "segment": "segment", "index_value": "last_traded_price",
        "net_change": "net_price_change", "net_change_indicator": "net_change_indicator",
        "value_time": "last_trade_time", "open": "open_price", "high": "high_price", "low": "low_price",
        "close": "close_price", "indicative_close": "indicative_close_price",
        "last_update_ns": "last_update_ns", "last_update_source": "last_update_source",
        "update_count": "update_count", "symbol": "symbol",
}
#: INDEX_UNION_FIELDS under their index names ('idx_ind_change' is 'indicative_change')
INDEX_LINE5_NAMES = tuple(n[len("idx_"):].replace("ind_", "indicative_") for n, _, _ in INDEX_UNION_FIELDS)

#: the store record, field by field (offsets as in vg_srec_t)
STORE_DTYPE = np.dtype(
    {
        "names": [f[0] for f in _FIELDS],
        "formats": [f[1] for f in _FIELDS],
        "offsets": [f[2] for f in _FIELDS],
        "itemsize": 448,
    }
)
RECORD_SIZE = 448

#: change-record groups: id -> (name, field names in mask-bit order).  "symbol0/1/2" are the raw words
#: symbol[0:4], symbol[4:8], symbol[8:10] + series[0:2].
GROUPS = {
    1: ("trade", ("last_traded_price", "last_trade_quantity", "last_trade_time", "volume_traded_today",
                  "net_price_change", "net_change_indicator", "average_trade_price", "fill_price",
                  "fill_volume", "indicator", "market_type")),
    2: ("bid", tuple(f"bid_price[{i}]" for i in range(5)) + tuple(f"bid_quantity[{i}]" for i in range(5))
        + tuple(f"bid_orders[{i}]" for i in range(5))),
    3: ("ask", tuple(f"ask_price[{i}]" for i in range(5)) + tuple(f"ask_quantity[{i}]" for i in range(5))
        + tuple(f"ask_orders[{i}]" for i in range(5))),
    4: ("ohlc", ("open_price", "high_price", "low_price", "close_price", "indicative_close_price",
                 "total_buy_quantity", "total_sell_quantity", "bb_total_buy_flag", "bb_total_sell_flag")),
    5: ("status", ("book_type", "trading_status", "market_status[0]", "market_status[1]", "market_status[2]",
                   "market_status[3]")),
    6: ("market_watch", ("mw_buy_volume", "mw_buy_price", "mw_sell_volume", "mw_sell_price",
                         "mw_last_trade_price", "mw_last_trade_time", "mw_indicator")),
    7: ("auction", ("auction_number", "auction_status", "initiator_type", "initiator_price",
                    "initiator_quantity", "auction_price", "auction_quantity")),
    8: ("spos", ("buy_ord_cxl_count", "buy_ord_cxl_vol", "sell_ord_cxl_count", "sell_ord_cxl_vol",
                 "spos_update_time")),
    9: ("buyback", ("pday_cum_vol", "pday_high_price", "pday_low_price", "pday_wt_avg", "cday_cum_vol",
                    "cday_high_price", "cday_low_price", "cday_wt_avg", "bb_start_date", "bb_end_date",
                    "buyback_active")),
    10: ("oi", ("open_interest", "oi_day_high", "oi_day_low", "implied_volatility")),
    11: ("ident", ("symbol0", "symbol1", "symbol2", "segment", "subscribed")),
    # index records only (segment 3, the NFO_IDX feed): line 5 holds these instead of auction / SPOS
    12: ("index", ("idx_percent_change", "idx_yearly_high", "idx_yearly_low", "idx_upmoves", "idx_downmoves",
                   "idx_ind_change", "idx_market_cap", "idx_ind_percent_change", "idx_wire_stride")),
}

#: trading statuses treated as pre-open by the market-watch rule (pre-open, pre-open extended, price discovery)
PRE_OPEN_STATUSES = (1, 4, 6)

#: data_quality = sum of the weights whose condition holds (docs/FORMATS.md, "Quality score")
QUALITY_WEIGHTS = {
    "ltp": 25,            # last_traded_price > 0
    "book": 25,           # bid_price[0] > 0 or ask_price[0] > 0
    "two_sided": 15,      # 0 < bid_price[0] < ask_price[0]
    "in_range": 15,       # 0 < low_price <= last_traded_price <= high_price
    "volume": 10,         # volume_traded_today > 0
    "close": 10,          # close_price > 0
}


#: Unix seconds of 1980-01-01 00:00 IST: NSE's times count seconds from there on the exchange's wall clock
#: (docs/FORMATS.md, "Store record": units; the masters' expiries are read the same way, vega.instruments)
EXCHANGE_EPOCH_S = EPOCH_1980 - IST_OFFSET


@overload
def exchange_epoch_s(seconds: int | np.integer[Any]) -> int: ...
@overload
def exchange_epoch_s(seconds: npt.NDArray[Any] | Sequence[int]) -> npt.NDArray[np.int64]: ...


def exchange_epoch_s(seconds: Any) -> Any:
    """Unix seconds of exchange times: ``last_trade_time``, ``mw_last_trade_time``, ``spos_update_time``, a
    message's ``log_time`` (int seconds since 1980-01-01 on the exchange's wall clock, IST).  An int for an int,
    else an int64 array; 0 (no time yet) gives EXCHANGE_EPOCH_S, so mask it first in an array."""
    if isinstance(seconds, (int, np.integer)) and not isinstance(seconds, (bool, np.bool_)):
        return EXCHANGE_EPOCH_S + int(seconds)
    a = _int_values(seconds)
    if a.dtype.kind not in "iu":
        raise TypeError(f"exchange times are integer seconds since 1980, not {a.dtype}")
    return a.astype(np.int64) + EXCHANGE_EPOCH_S


def exchange_datetime(seconds: int | np.integer[Any]) -> _dt.datetime | None:
    """One exchange time (see :func:`exchange_epoch_s`) as an aware ``datetime`` in IST; None for 0 (a field
    not set yet, e.g. ``last_trade_time`` before the first trade).  TypeError for anything but one int (an array:
    ``exchange_epoch_s`` takes those), ValueError for one outside 0 .. 2**32 - 1 (no exchange time)."""
    if not isinstance(seconds, (int, np.integer)) or isinstance(seconds, (bool, np.bool_)):
        raise TypeError(f"exchange_datetime takes one exchange time, an int of seconds since 1980, not "
                        f"{type(seconds).__name__} (exchange_epoch_s takes arrays)")
    if not 0 <= seconds < 1 << 32:
        raise ValueError(f"exchange_datetime: an exchange time is 0 .. 2**32 - 1 seconds since 1980, not {seconds}")
    if seconds == 0:
        return None
    return _dt.datetime.fromtimestamp(exchange_epoch_s(seconds), IST)


def flat(records: npt.ArrayLike) -> npt.NDArray[np.void]:
    """The store's records as a table pandas, polars and pyarrow take: a new array with one column per value.
    ``records`` is ``Store.snapshot()``, ``Store.array``, rows of them, or the same viewed as
    ``vega.INDEX_DTYPE``.  Each depth level is its own column, ``bid_price_0`` (the best, ``bid_price[0]``) to
    ``bid_price_4`` (likewise ``market_status_0..3``); ``symbol``, ``series`` and ``net_change_indicator`` are
    str as a Quote gives them; the sequence lock's ``seq`` and padding are left out.
    ``pandas.DataFrame(store.snapshot())`` itself fails: pandas refuses the 5-wide depth fields."""
    a = np.asarray(records)
    names, fields = a.dtype.names, a.dtype.fields
    if names is None or fields is None:                   # (either both or neither)
        raise TypeError(f"records must be a structured array of store records (STORE_DTYPE), not {a.dtype}")
    a = a.reshape(-1)
    cols: list[tuple[str, str, int | None, np.dtype[Any]]] = []  # (output name, input name, level or None, dtype)
    for name in names:
        t = fields[name][0]
        if name == "seq" or name.startswith("_"):
            continue
        if t.shape:
            if len(t.shape) != 1:
                raise TypeError(f"field {name!r} has shape {t.shape}: only 1-d depth fields are flattened")
            cols += [(f"{name}_{i}", name, i, t.base) for i in range(t.shape[0])]
        elif t.kind == "S":
            cols.append((name, name, None, np.dtype(f"U{t.itemsize}")))
        else:
            cols.append((name, name, None, t))
    out = np.empty(a.shape[0], np.dtype([(c, d) for c, _, _, d in cols]))
    if not len(out):        # numpy 1.26's np.char.decode of no strings returns float64, which rstrip refuses
        return out
    for c, name, level, _ in cols:
        v = a[name]
        if level is not None:
            out[c] = v[:, level]
        elif v.dtype.kind == "S" and v.dtype.itemsize > 1:   # as Quote gives them: Latin-1, trailing blanks cut
            out[c] = np.char.rstrip(np.char.decode(v, "latin-1"), " ")
        elif v.dtype.kind == "S":                         # one character ("" for a NUL)
            out[c] = np.char.decode(v, "latin-1")
        else:
            out[c] = v
    return out


class StoreError(Exception):
    """A store operation failed (a record stayed locked, a keyframe could not be built, ...)."""


class StoreFullError(StoreError):
    """The store holds ``capacity`` instruments and a new token does not fit."""


class StoreBusyError(StoreError):
    """A named store already has a live writer (``Store.create``; ``Store.remove`` / ``unlink`` from another
    process than the writer's); or ``close()`` / ``load_instruments()`` while a call in
    another thread (a FeedHandler batch, ``snapshot``, ``apply_records``, ``keyframe_records``) is using the
    store without the GIL; or a write (``add``, ``subscribe``, ``new_day``, ``apply_records``, a FeedHandler's
    call) while a call of another thread writes the store's records ("the store is being written by a call in
    another thread ...": one writer thread at a time)."""


class StoreFormatError(StoreError):
    """A shared-memory file is not a store this VEGA can read (no header yet, or its magic, version or sizes do
    not match)."""
