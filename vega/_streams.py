"""A deterministic, realistic NSE broadcast stream for demos, benchmarks and tests.

:func:`sample_stream` yields UDP datagrams (bytes) of the CM or F&O broadcast as ``vega.nse`` encodes them:
several sub-packets per datagram (1-4, at most ~1400 bytes), the codes in a live-feed-like mix, LZO1Z
compression as the NSE documents list per segment (PROTOCOL.md §3.0; a small share of compressible messages
is sent uncompressed, which the protocol allows), random-walk prices on the tick grid, five-level depth
around the last traded price, volumes that only grow, open interest that drifts, per-stream BCSeqNo
(Filler2[0] stream numbers, +1 per message of that stream) and LogTime / TimeStamp2 advancing through the
trading session.  Everything is drawn from one ``random.Random(seed)``: the same arguments give the same bytes.

:func:`sample_messages` yields the message dicts instead (``(datagram_index, msg)`` pairs), which is what
the datagrams decode to.

With ``phases=True`` the stream opens like a real trading day: a pre-open order-collection phase (the first
``PRE_OPEN_SHARE`` of the datagrams: 7208 with TradingStatus 1 and an indicative price that walks but no
trades; F&O 7210 security status "pre-open"; market watch), then a call-auction / price-discovery phase
(``AUCTION_SHARE``: TradingStatus 6, auction number, status, price and quantity in 7208), then normal trading.
"""
from __future__ import annotations

import datetime as _dt
import math
import random
from typing import Callable, Iterator

from vega import nse

__all__ = ["sample_stream", "sample_messages", "MIX", "PHASE_MIX", "COMPRESSED_CODES", "EPOCH_1980",
           "session_start_1980", "PRE_OPEN_SHARE", "AUCTION_SHARE", "TRADING_STATUS"]

#: code -> share of messages, per segment (what a busy live feed looks like, roughly)
MIX = {
    "FO": {7208: 0.50, 17202: 0.16, 17201: 0.10, 7200: 0.10, 7202: 0.045, 7201: 0.045, 7210: 0.02,
           6541: 0.025, 6013: 0.005},
    "CM": {7208: 0.42, 18703: 0.18, 7201: 0.12, 7200: 0.17, 7210: 0.03, 18708: 0.02, 6013: 0.02,
           6541: 0.04},
}
#: code -> share of messages in the pre-open and auction phases (no trades: no tickers, no trade-driven codes)
PHASE_MIX = {
    "FO": {7208: 0.75, 17201: 0.10, 7201: 0.05, 7210: 0.05, 6541: 0.05},
    "CM": {7208: 0.75, 7201: 0.12, 7210: 0.06, 18708: 0.02, 6541: 0.05},
}
#: with phases=True: the share of the datagrams in pre-open, then in the auction (price discovery)
PRE_OPEN_SHARE = 0.08
AUCTION_SHARE = 0.04
#: phase -> TradingStatus in 7208 (PROTOCOL.md: 1 pre-open, 2 open, 6 price discovery)
TRADING_STATUS = {"preopen": 1, "auction": 6, "open": 2}
#: codes the NSE documents list as LZO1Z-compressed (CM63 p.88, FO946 p.149)
COMPRESSED_CODES = {"CM": {7201, 18703, 7208, 7210}, "FO": {7200, 7201, 7202, 7208, 17201, 17202}}

EPOCH_1980 = _dt.datetime(1980, 1, 1)
SESSION_OPEN = _dt.time(9, 15)
SESSION_SECONDS = 6 * 3600 + 15 * 60          # 09:15 .. 15:30 IST
MAX_DATAGRAM = 1400
N_STREAMS = {"CM": 11, "FO": 6}               # CM63 p.18: 11 normal broadcast sequence sets

_SYMBOLS = ("RELIANCE", "TCS", "INFY", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "AXISBANK", "KOTAKBANK",
            "BHARTIARTL", "HINDUNILVR", "BAJFINANCE", "MARUTI", "TITAN", "SUNPHARMA", "WIPRO", "ONGC",
            "NTPC", "TATASTEEL", "NIFTY", "BANKNIFTY", "FINNIFTY", "ADANIENT", "COALINDIA", "HCLTECH")
_STEPS = (-2, -1, -1, 0, 0, 1, 1, 2)                        # LTP move per trade, in ticks
_TRADE_LOTS = (1, 1, 1, 1, 2, 2, 2, 3, 3, 5, 5, 10, 10, 20, 50, 100)   # trade size, in lots


def _book_shapes(n: int) -> list:
    """``n`` random book shapes: (spread bits, 5 bid levels, 5 ask levels), a level being (ticks away from
    the best price, quantity in lots, number of orders)."""
    rng = random.Random(0x5EED)
    shapes = []
    for _ in range(n):
        sides = []
        for _side in range(2):
            levels, d = [], 0
            for _lvl in range(5):
                orders = rng.randint(1, 12)
                levels.append((d, orders * rng.randint(1, 8), orders))
                d += rng.randint(1, 3)
            sides.append(tuple(levels))
        shapes.append((rng.getrandbits(2), sides[0], sides[1]))
    return shapes


_BOOK_SHAPES = _book_shapes(1024)
_FO_LOTS = (15, 25, 30, 50, 65, 75, 125, 150, 250, 300, 500, 750, 1100, 1800, 3000)


def session_start_1980(date: _dt.date) -> int:
    """09:15:00 IST of ``date`` in NSE time (seconds since 1980-01-01 00:00, wall clock)."""
    return int((_dt.datetime.combine(date, SESSION_OPEN) - EPOCH_1980).total_seconds())


class _Instrument:
    """Market state of one token, moved by :meth:`trade` and :meth:`requote`."""

    __slots__ = ("token", "symbol", "series", "tick", "lot", "ltp", "prev_ltp", "close", "open", "high", "low",
                 "volume", "turnover", "ltq", "ltt", "oi", "oi_hi", "oi_lo", "bids", "asks", "stream",
                 "spos", "dirty")

    def __init__(self, rng: random.Random, segment: str, token: int, stream: int):
        self.token = token
        self.stream = stream
        self.tick = 5                                            # paise
        if segment == "CM":
            self.symbol = rng.choice(_SYMBOLS[:20]) if rng.random() < 0.3 else f"SYM{token:05d}"[:10]
            self.series = "EQ" if rng.random() < 0.9 else rng.choice(("BE", "BZ", "SM"))
            self.lot = 1
            rupees = rng.lognormvariate(6.0, 1.1)               # ~400 rupees median
        else:
            self.symbol = rng.choice(_SYMBOLS)
            self.series = ""
            self.lot = rng.choice(_FO_LOTS)
            rupees = rng.lognormvariate(7.5, 1.3) if rng.random() < 0.15 else rng.lognormvariate(4.0, 1.5)
        self.close = max(self.tick, int(rupees * 100) // self.tick * self.tick)
        self.ltp = self.prev_ltp = self.close
        self.open = self.high = self.low = 0
        self.volume = self.turnover = self.ltq = self.ltt = 0
        self.oi = 0 if segment == "CM" else self.lot * rng.randint(10, 200000)
        self.oi_hi = self.oi_lo = self.oi
        self.bids: list = []
        self.asks: list = []
        self.spos = [0, 0, 0, 0]
        self.dirty = True

    def trade(self, rng: random.Random, now: int) -> None:
        """One trade: the price walks a few ticks, volume grows, OI drifts."""
        bits = rng.getrandbits(16)
        self.prev_ltp = self.ltp
        self.ltp = max(self.tick, self.ltp + _STEPS[bits & 7] * self.tick)
        self.ltq = self.lot * _TRADE_LOTS[(bits >> 3) & 15]
        self.volume += self.ltq
        self.turnover += self.ltq * self.ltp
        self.ltt = now
        if not self.open:
            self.open = self.high = self.low = self.ltp
        self.high = max(self.high, self.ltp)
        self.low = min(self.low, self.ltp)
        if self.oi:
            self.oi = max(self.lot, self.oi + self.lot * (((bits >> 7) & 7) - 3))
            self.oi_hi = max(self.oi_hi, self.oi)
            self.oi_lo = min(self.oi_lo, self.oi)
        self.dirty = True

    def indicate(self, rng: random.Random) -> None:
        """Pre-open / auction: the indicative (equilibrium) price walks a tick or two; nothing trades."""
        self.prev_ltp = self.ltp
        self.ltp = max(self.tick, self.ltp + _STEPS[rng.getrandbits(3)] * self.tick)
        self.requote(rng)

    def requote(self, rng: random.Random) -> None:
        """Five price levels per side around the LTP (quantity, price, orders), from a precomputed shape."""
        t, lot = self.tick, self.lot
        spread, bid_shape, ask_shape = _BOOK_SHAPES[rng.getrandbits(10)]
        bid = max(t, self.ltp - t * (spread & 1))
        ask = bid + t * (1 + (spread >> 1))
        self.bids = [(lot * q, max(t, bid - t * d), n) for d, q, n in bid_shape]    # prices stay positive
        self.asks = [(lot * q, ask + t * d, n) for d, q, n in ask_shape]
        self.dirty = False

    def depth(self, rng: random.Random) -> tuple[list, list]:
        """The current book, requoted around the LTP if a trade moved it since the last quote."""
        if self.dirty:
            self.requote(rng)
        return self.bids, self.asks

    @property
    def atp(self) -> int:
        return self.turnover // self.volume if self.volume else 0

    @property
    def change(self) -> tuple[str, int]:
        if self.ltp > self.close:
            return "+", self.ltp - self.close
        return ("-", self.close - self.ltp) if self.ltp < self.close else (" ", 0)

    def indicator(self, buy_sell: bool = True) -> dict:
        return {"last_trade_more": self.ltp > self.prev_ltp, "last_trade_less": self.ltp < self.prev_ltp,
                "buy": buy_sell and self.bids[0][0] > self.asks[0][0],
                "sell": buy_sell and self.asks[0][0] > self.bids[0][0]}


# ---------------------------------------------------------------------------------------------------------
# The instrument universe (what the simulator's master files describe)
# ---------------------------------------------------------------------------------------------------------
#: index underlyings: (spot in rupees, asset token as on the exchange's index feed)
_INDICES = {"NIFTY": (24000.0, 26000), "BANKNIFTY": (52000.0, 26009), "FINNIFTY": (23500.0, 26037)}
#: days from the expiry base date to the near and the next expiry (the stream's prices assume these)
EXPIRY_DAYS = (20, 48)
#: rate of the synthetic option prices (the FeedHandler's default)
UNIVERSE_RATE = 0.10
_STRIKE_STEPS = (100, 250, 500, 1000, 2000, 5000, 10000)   # paise


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _black76(F: float, K: float, T: float, sigma: float, r: float, call: bool) -> float:
    s = sigma * math.sqrt(T)
    d1 = (math.log(F / K) + 0.5 * s * s) / s
    d2 = d1 - s
    df = math.exp(-r * T)
    if call:
        return df * (F * _ncdf(d1) - K * _ncdf(d2))
    return df * (K * _ncdf(-d2) - F * _ncdf(-d1))


def _fo_universe(instruments: list, seed: int) -> dict:
    """Give every F&O token a role, deterministically for ``seed`` (its own RNG: the stream's is untouched):
    per symbol the two lowest tokens are the near and next futures, the others calls and puts at strikes
    around the money for both expiries.  Each instrument's starting price becomes consistent with it
    (futures at spot carried, options at their Black-76 value for a per-symbol volatility).  Returns
    token -> (kind, symbol, expiry index, strike paise, option type)."""
    rng = random.Random(seed * 7919 + 17)
    by_sym: dict[str, list] = {}
    for ins in instruments:
        by_sym.setdefault(ins.symbol, []).append(ins)
    meta = {}
    for sym in sorted(by_sym):
        group = sorted(by_sym[sym], key=lambda i: i.token)
        spot = _INDICES[sym][0] if sym in _INDICES else rng.lognormvariate(7.0, 0.8)
        spot_p = max(500, int(spot * 100) // 5 * 5)
        sigma = rng.uniform(0.12, 0.45)
        step = next((x for x in _STRIKE_STEPS if x >= spot_p * 0.01), _STRIKE_STEPS[-1])
        atm = max(step, round(spot_p / step) * step)
        lot = group[0].lot
        for j, ins in enumerate(group):
            ins.lot = lot
            if j < 2:
                T = EXPIRY_DAYS[j] / 365.0
                price = spot_p * math.exp(UNIVERSE_RATE * T)
                meta[ins.token] = ("FUT", sym, j, -1, "XX")
            else:
                i = j - 2
                e = 0 if i % 4 < 2 else 1
                call = i % 2 == 0
                k = i // 4
                off = (k + 1) // 2 if k % 2 else -(k // 2)
                strike = atm + off * step
                if strike <= 0:
                    strike = step * (1 + k)
                T = EXPIRY_DAYS[e] / 365.0
                F = spot_p * math.exp(UNIVERSE_RATE * T)
                smile = sigma * (1.0 + 0.8 * math.log(strike / F) ** 2)
                price = _black76(F, strike, T, smile, UNIVERSE_RATE, call)
                meta[ins.token] = ("OPT", sym, e, strike, "CE" if call else "PE")
            ins.close = ins.ltp = ins.prev_ltp = max(ins.tick, int(price) // ins.tick * ins.tick)
    return meta


def instrument_universe(segment: str, seed: int = 0, *, n_tokens: int | None = None,
                        expiry_base: _dt.date | None = None):
    """The instruments behind :func:`sample_stream` (same ``segment``, ``seed``, ``n_tokens``) as an
    ``INSTRUMENT_DTYPE`` array (vega.instruments), ready for ``write_contract_file`` / ``write_security_file``.

    F&O: per symbol a near and a next future and calls and puts at strikes around the money (index symbols
    FUTIDX/OPTIDX, the others FUTSTK/OPTSTK), expiring ``EXPIRY_DAYS`` after ``expiry_base`` (default: today
    in IST) at 14:30 IST; CM: the stream's equities with their symbols and series."""
    import numpy as np

    from vega.instruments import INSTRUMENT_DTYPE, IST, SEG_CM, SEG_FO, expiry_unix
    gen = _Generator(segment, seed, n_tokens, _DEFAULT_DATE, SESSION_SECONDS, 1, 0.0)
    rows = []
    if segment == "CM":
        for ins in gen.instruments:
            rows.append((ins.token, SEG_CM, ins.symbol, ins.series, "", 0, 0, -1, "", ins.lot, ins.tick, ins.token,
                         ins.symbol, f"{ins.symbol} LTD"[:25]))
        return np.array(rows, INSTRUMENT_DTYPE)
    base = expiry_base or _dt.datetime.now(IST).date()
    raws = [int((_dt.datetime.combine(base + _dt.timedelta(days=d), _dt.time(14, 30)) - EPOCH_1980).total_seconds())
            for d in EXPIRY_DAYS]
    for ins in gen.instruments:
        kind, sym, e, strike, ot = gen.meta[ins.token]
        idx = sym in _INDICES
        inst = ("FUT" if kind == "FUT" else "OPT") + ("IDX" if idx else "STK")
        asset = _INDICES[sym][1] if idx else 1 + (sum(map(ord, sym)) * 131) % 30000
        rows.append((ins.token, SEG_FO, sym, "", inst, raws[e], expiry_unix(raws[e]), strike, ot, ins.lot, ins.tick,
                     asset, sym, ""))
    return np.array(rows, INSTRUMENT_DTYPE)


class _Generator:
    def __init__(self, segment: str, seed: int, n_tokens: int | None, date: _dt.date, duration_s: float,
                 n_datagrams: int, uncompressed_share: float, phases: bool = False):
        if segment not in nse.SEGMENTS:
            raise ValueError(f"unknown segment {segment!r} (expected 'CM' or 'FO')")
        self.seg = segment
        self.rng = rng = random.Random(seed)
        n = n_tokens if n_tokens is not None else (1500 if segment == "CM" else 2500)
        lo, hi = (1, 30000) if segment == "CM" else (35000, 150000)
        if not 1 <= n <= hi - lo + 1:
            raise ValueError(f"n_tokens must be 1..{hi - lo + 1} for {segment}")
        self.n_streams = N_STREAMS[segment]
        tokens = sorted(rng.sample(range(lo, hi + 1), n))
        self.instruments = [_Instrument(rng, segment, t, rng.randint(1, self.n_streams)) for t in tokens]
        # the instrument universe behind the tokens (master files); F&O prices are made consistent with it
        self.meta = _fo_universe(self.instruments, seed) if segment == "FO" else {}
        # a few hot instruments take most of the updates, as on a real feed
        self.weights = [1.0 / (1 + i) ** 0.8 for i in range(n)]
        rng.shuffle(self.weights)
        self.cum_weights = []
        acc = 0.0
        for w in self.weights:
            acc += w
            self.cum_weights.append(acc)
        self.seq = {s: rng.randint(1, 2_000_000) for s in range(1, self.n_streams + 1)}
        self.t0 = session_start_1980(date)
        self.step = duration_s / max(1, n_datagrams)
        self.t = float(self.t0)
        self.i = -1
        self.codes = list(MIX[segment])
        self.code_cum = []
        acc = 0.0
        for c in self.codes:
            acc += MIX[segment][c]
            self.code_cum.append(acc)
        self.uncompressed_share = uncompressed_share
        self.lay = {c: nse.layout(segment, c) for c in self.codes}
        self.phase = "open"
        self.phase_ends = (0, 0)
        if phases:
            n_pre = int(n_datagrams * PRE_OPEN_SHARE)
            self.phase_ends = (n_pre, n_pre + int(n_datagrams * AUCTION_SHARE))
            self.t0 -= 15 * 60                       # the day starts at 09:00 with the pre-open
            self.step = (duration_s + 15 * 60) / max(1, n_datagrams)
            self.phase_codes = list(PHASE_MIX[segment])
            self.phase_cum = []
            acc = 0.0
            for c in self.phase_codes:
                acc += PHASE_MIX[segment][c]
                self.phase_cum.append(acc)

    # -- helpers --
    def pick(self, k: int = 1) -> list[_Instrument]:
        return self.rng.choices(self.instruments, cum_weights=self.cum_weights, k=k)

    def header(self, code: int, stream: int) -> dict:
        now = int(self.t)
        frac = int((self.t - now) * 65536) & 0xFFFF
        mh = self.lay[code].message_header
        if mh:
            seq, stream = 0, 0
        else:
            self.seq[stream] += 1
            seq = self.seq[stream]
        return {"segment": self.seg, "market_type": nse.MARKET_TYPE[self.seg], "message_header": mh,
                "log_time": now, "alpha_char": "", "transaction_code": code, "error_code": 0,
                "bc_seq_no": seq, "trader_id": 0, "time_stamp2": (now << 16) | frac, "stream": stream}

    # -- record builders --
    def md(self, ins: _Instrument, code: int) -> dict:
        fo = self.seg == "FO"
        bids, asks = ins.depth(self.rng)
        nci, chg = ins.change
        rec = {"token": ins.token, "book_type": 1, "trading_status": TRADING_STATUS[self.phase],
               "volume_traded_today": ins.volume,
               "last_traded_price": ins.ltp, "net_change_indicator": nci,
               "net_price_change_from_closing_price": chg, "last_trade_quantity": ins.ltq,
               "last_trade_time": ins.ltt, "average_trade_price": ins.atp, "auction_number": 0,
               "auction_status": 0, "initiator_type": 0, "initiator_price": 0, "initiator_quantity": 0,
               "auction_price": 0, "auction_quantity": 0,
               "indicator": ins.indicator(code == 7200), "closing_price": ins.close, "open_price": ins.open,
               "high_price": ins.high, "low_price": ins.low}
        if self.phase == "auction":
            rec.update(auction_number=1, auction_status=1, auction_price=ins.ltp,
                       auction_quantity=ins.lot * (1 + (ins.token % 97)), initiator_type=0)
        levels = bids + asks
        if fo and code == 7200:
            rec["mbp"] = [{"quantity": q, "price": p, "number_of_orders": n} for q, p, n in levels]
        else:
            rec["mbp"] = [{"quantity": q, "price": p, "number_of_orders": n, "bb_buy_sell_flag": 0}
                          for q, p, n in levels]
            rec["bb_total_buy_flag"] = rec["bb_total_sell_flag"] = 0
        if code == 7200:
            bits = self.rng.getrandbits(40)
            rec["mbo"] = [{"trader_id": 0, "qty": min(q, ins.lot * (1 + ((bits >> (4 * k)) & 15))), "price": p,
                           "mf": False, "aon": False, "min_fill_qty": 0} for k, (q, p, _) in enumerate(levels)]
        tb = sum(q for q, _, _ in bids) * 7
        ts = sum(q for q, _, _ in asks) * 7
        rec["total_buy_quantity"], rec["total_sell_quantity"] = tb, ts
        if fo and code == 7208:
            rec["vol_trd_today_excd_indc"] = "1" if ins.volume >= 1 << 32 else "0"
        if not fo and code == 7208:
            rec["indicative_close_price"] = 0
        return rec

    def mw(self, ins: _Instrument, code: int) -> dict:
        bids, asks = ins.depth(self.rng)
        b, a = bids[0], asks[0]
        info = [{"indicator": ins.indicator(), "buy_volume": b[0], "buy_price": b[1], "sell_volume": a[0],
                 "sell_price": a[1], "last_trade_price": ins.ltp, "last_trade_time": ins.ltt}]
        empty = {"indicator": {"last_trade_more": False, "last_trade_less": False, "buy": False,
                               "sell": False},
                 "buy_volume": 0, "buy_price": 0, "sell_volume": 0, "sell_price": 0, "last_trade_price": 0,
                 "last_trade_time": 0}
        rec = {"token": ins.token, "market_wise_info": info + [dict(empty), dict(empty)]}
        if self.seg == "FO":
            rec["open_interest"] = ins.oi
        return rec

    def tick(self, ins: _Instrument, code: int) -> dict:
        rec = {"token": ins.token, "market_type": 1, "fill_price": ins.ltp, "fill_volume": ins.ltq}
        if self.seg == "CM":
            rec["market_index_value"] = 0
        else:
            rec.update(open_interest=ins.oi, day_hi_oi=ins.oi_hi, day_lo_oi=ins.oi_lo)
        return rec

    # -- messages --
    def message(self, code: int) -> dict:
        rng, now = self.rng, int(self.t)
        lay = self.lay[code]
        if code in (7200, 7208):
            n = 1 if code == 7200 else (2 if rng.random() < 0.9 else 1)
            ins = self.pick(n)
            for i in ins:
                if self.phase != "open":
                    i.indicate(rng)
                elif rng.random() < 0.6:
                    i.trade(rng, now)
                else:
                    i.requote(rng)
            recs = [self.md(i, code) for i in ins]
        elif code in (7201, 17201):
            ins = self.pick(rng.randint(1, lay.max_records))
            recs = [self.mw(i, code) for i in ins]
        elif code in (18703, 7202, 17202):
            ins = self.pick(rng.randint(max(1, lay.max_records // 3), lay.max_records))
            for i in ins:
                i.trade(rng, now)
            recs = [self.tick(i, code) for i in ins]
        elif code == 7210 and self.seg == "CM":
            ins = self.pick(rng.randint(1, 8))
            recs = []
            for i in ins:
                i.spos[0] += rng.randint(0, 3)
                i.spos[1] = i.spos[0] * 100 * rng.randint(1, 9)
                i.spos[2] += rng.randint(0, 3)
                i.spos[3] = i.spos[2] * 100 * rng.randint(1, 9)
                recs.append({"token": i.token, "buy_ord_cxl_count": i.spos[0], "buy_ord_cxl_vol": i.spos[1],
                             "sell_ord_cxl_count": i.spos[2], "sell_ord_cxl_vol": i.spos[3]})
        elif code == 7210:
            ins = self.pick(rng.randint(1, 35))
            st = TRADING_STATUS[self.phase]
            recs = [{"token": i.token, "status": [st, 2, 2, 2] if rng.random() < 0.9 else [3, 2, 2, 2]}
                    for i in ins]
        elif code == 18708:
            ins = self.pick(rng.randint(1, 6))
            day = now // 86400 * 86400
            recs = [{"token": i.token, "symbol": i.symbol, "series": i.series,
                     "pday_cum_vol": float(i.lot * 1000 * rng.randint(1, 500)), "pday_high_price": i.close + 500,
                     "pday_low_price": max(5, i.close - 500), "pday_wt_avg": i.close,
                     "cday_cum_vol": float(i.volume), "cday_high_price": i.high, "cday_low_price": i.low,
                     "cday_wt_avg": i.atp, "start_date": day - 30 * 86400, "end_date": day + 30 * 86400}
                    for i in ins]
        elif code == 6013:
            ins = self.pick(1)
            i = ins[0]
            recs = [{"symbol": i.symbol, "series": i.series, "token": i.token, "opening_price": i.open or i.close}]
        else:                                                   # 6541 circuit check
            ins, recs = [], []
        stream = ins[0].stream if ins else rng.randint(1, self.n_streams)
        msg = self.header(code, stream)
        msg["records"] = recs
        msg["compressed"] = code in COMPRESSED_CODES[self.seg] and rng.random() >= self.uncompressed_share
        msg["message_length"] = lay.message_length(len(recs))
        if code == 6013:
            msg["alpha_char"] = recs[0]["symbol"][:2]
        return msg

    def next_code(self) -> int:
        if self.phase != "open":
            return self.rng.choices(self.phase_codes, cum_weights=self.phase_cum)[0]
        return self.rng.choices(self.codes, cum_weights=self.code_cum)[0]

    def datagram_messages(self) -> list[dict]:
        """The messages of the next datagram (the clock advances once per datagram)."""
        self.i += 1                                  # datagram i lands in [t0 + i*step, t0 + (i+1)*step)
        if self.i < self.phase_ends[1]:
            self.phase = "preopen" if self.i < self.phase_ends[0] else "auction"
        else:
            self.phase = "open"
        self.t = self.t0 + self.step * (self.i + self.rng.random())
        n = self.rng.choices((1, 2, 3, 4), (0.3, 0.3, 0.25, 0.15))[0]
        return [self.message(self.next_code()) for _ in range(n)]


def _packets(gen: _Generator, msgs: list[dict], compressor) -> Iterator[list[bytes]]:
    """Encode and split into datagrams of at most MAX_DATAGRAM bytes (a lone big packet still goes)."""
    mt = nse.MARKET_TYPE[gen.seg]
    out, size = [], 4
    for m in msgs:
        p = nse.encode_packet(nse.encode_message(m), m["compressed"], mt, compressor)
        if out and size + len(p) > MAX_DATAGRAM:
            yield out
            out, size = [], 4
        out.append(p)
        size += len(p)
    if out:
        yield out


_DEFAULT_DATE = _dt.date(2025, 11, 28)


def sample_stream(segment: str, n_datagrams: int, seed: int = 0, *, n_tokens: int | None = None,
                  date: _dt.date = _DEFAULT_DATE, duration_s: float = SESSION_SECONDS,
                  uncompressed_share: float = 0.02,
                  compressor: Callable[[bytes], bytes] | None = None, phases: bool = False) -> Iterator[bytes]:
    """Yield ``n_datagrams`` realistic datagrams of ``segment`` ("CM" / "FO"), deterministic for ``seed``.

    ``n_tokens`` instruments (default 1500 CM, 2500 F&O) with tokens drawn from 1..30000 (CM) or
    35000..150000 (F&O); LogTime runs from 09:15:00 IST of ``date`` over ``duration_s`` seconds (the whole
    session by default); ``uncompressed_share`` of the compressible messages go uncompressed;
    ``compressor`` overrides the LZO1Z compressor (bytes -> bytes); ``phases`` starts the day with a pre-open
    and an auction phase (module docstring).
    """
    for _, dgram in _stream(segment, n_datagrams, seed, n_tokens, date, duration_s, uncompressed_share,
                            compressor, phases):
        yield dgram


def sample_messages(segment: str, n_datagrams: int, seed: int = 0, *, n_tokens: int | None = None,
                    date: _dt.date = _DEFAULT_DATE, duration_s: float = SESSION_SECONDS,
                    uncompressed_share: float = 0.02,
                    compressor: Callable[[bytes], bytes] | None = None,
                    phases: bool = False) -> Iterator[tuple[int, dict]]:
    """The message dicts behind :func:`sample_stream` (same arguments): ``(datagram_index, msg)`` pairs.

    Each dict is exactly what decoding the datagram gives (``message_length`` and ``compressed`` included).
    """
    for i, (msgs, _) in enumerate(_stream(segment, n_datagrams, seed, n_tokens, date, duration_s,
                                          uncompressed_share, compressor, phases)):
        for m in msgs:
            yield i, m


def _stream(segment, n_datagrams, seed, n_tokens, date, duration_s, uncompressed_share, compressor,
            phases=False):
    if not isinstance(n_datagrams, int) or n_datagrams < 0:
        raise ValueError("n_datagrams must be an int >= 0")
    if not 0.0 <= uncompressed_share <= 1.0:
        raise ValueError("uncompressed_share must be within 0..1")
    gen = _Generator(segment, seed, n_tokens, date, duration_s, n_datagrams, uncompressed_share, phases)
    net_id = nse.MARKET_TYPE[segment]
    produced = 0
    while produced < n_datagrams:
        msgs = gen.datagram_messages()
        i = 0
        for packets in _packets(gen, msgs, compressor):
            if produced == n_datagrams:
                return
            yield msgs[i:i + len(packets)], nse.encode_datagram(packets, net_id)
            i += len(packets)
            produced += 1
