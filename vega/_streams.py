"""A deterministic, realistic NSE broadcast stream for demos, benchmarks and tests.

:func:`sample_stream` yields UDP datagrams (bytes) of the CM or F&O broadcast as ``vega.nse`` encodes them:
several sub-packets per datagram (1-4, at most ~1400 bytes), the codes in a live-feed-like mix, LZO1Z
compression as the NSE documents list per segment (PROTOCOL.md §3.0; a small share of compressible messages
is sent uncompressed, which the protocol allows), prices on the tick grid, a persistent five-level order book
per instrument that evolves by events as a real one does between two broadcasts (an order added, modified or
cancelled at one or two levels, now and then a new best price inside the spread; trades take quantity from
the best level of the other side and move the price through levels; ``_Instrument``), volumes that only grow,
open interest that drifts, per-stream BCSeqNo (Filler2[0] stream numbers, +1 per message of that stream) and
LogTime / TimeStamp2 advancing through the trading session.  Everything is drawn from one
``random.Random(seed)``: the same arguments give the same bytes (``STREAM_VERSION`` says which generator).

:func:`sample_messages` yields the message dicts instead (``(datagram_index, msg)`` pairs), which is what
the datagrams decode to.

With ``phases=True`` the stream opens like a real trading day: a pre-open order-collection phase (the first
``PRE_OPEN_SHARE`` of the datagrams: 7208 with TradingStatus 1 and an indicative price that walks but no
trades; F&O 7210 security status "pre-open"; market watch), then a call-auction / price-discovery phase
(``AUCTION_SHARE``: TradingStatus 6, auction number, status, price and quantity in 7208), then normal trading.
On the clock the pre-open runs 09:00-09:08 and the price discovery 09:08-09:15, whatever their share of the
datagrams; the normal market opens at 09:15 and runs ``duration_s``.
In both phases a 7200/7208's OpenPrice is the indicative open and VolumeTradedToday the indicative quantity
(PROTOCOL.md §3.3); an instrument that took part opens at its last indicative (equilibrium) price.

With ``index_oi=True`` (what :class:`vega.simulator.Simulator` sends) the streams also carry the exchange's
summary broadcasts, uncompressed as the NSE sends them (PROTOCOL_MORE.md §1, §2.1):

* CM 7207 BCAST_INDICES (72-byte wire records) with ``INDEX_NAMES``, whose values walk narrowly around the spot
  the F&O universe's index futures and options are priced from (``_INDICES``), at most once per simulated
  second and once every ``INDEX_EVERY`` datagrams; 7216 "India VIX" (13-16) every ``VIX_EVERY`` datagrams; and
  8207 indicative closing values beside each 7207 in the last half hour of the stream's clock (at most its last
  10%).
* F&O 17130 (and in every other burst 7130, as in the co-existence period) open interest per underlying, keyed
  by the underlying's token (contract.txt AssetToken), ``OI_BURSTS`` times over the stream: per underlying the
  sum of the last open interest the stream reported for its contracts in 7201/17201/7202/17202.

They draw from their own RNG, so every other message keeps its content; only the BCSeqNo of the index stream
(``INDEX_STREAM``) and the packing of the datagrams that carry them change.

With ``broadcasts=True`` (what :class:`vega.simulator.Simulator` sends) the streams also carry the documented
broadcasts a trading day has besides market data, which VEGA counts under their own code and does not merge
(PROTOCOL_MORE.md §3.1; docs/FORMATS.md §1.5), on their own RNG likewise (every stream's BCSeqNo and the packing
change, no other message's content):

* 7206 system information in the first datagram (the normal market's status: 0 pre-open with ``phases``, else
  1 open; the other markets 2, closed);
* the market-state messages (``MARKET_STATE``) at the phase changes: 6531 when the pre-open starts (the first
  datagram), 6571 when its order collection ends (the auction starts), 6511 when the market opens (the first
  datagram without ``phases``), and a last datagram of their own at the stream's end (its clock's 15:30 for a
  whole session): 6521 close, then CM 6583 / 6584 (closing session) or F&O 6522 (post-close);
* while the market is open, a light trickle of ``TRICKLE`` codes (on average one every so many datagrams):
  F&O 7211 spread MBP, 7340 periodic security master, 7220 limit price protection ranges (compressed), 6501
  text; CM 7214 / 7215 call-auction MBP and market watch (compressed), 6501 text.  Their bodies are zeros
  (``vega.nse`` has no fields for them: VEGA reads their headers only).
"""
from __future__ import annotations

import datetime as _dt
import math
import random
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeAlias

from vega import nse
from vega.indices import INDEX_SYMBOLS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["sample_stream", "sample_messages", "MIX", "PHASE_MIX", "COMPRESSED_CODES", "EPOCH_1980",
           "session_start_1980", "PRE_OPEN_SHARE", "AUCTION_SHARE", "TRADING_STATUS", "INDEX_NAMES",
           "INDEX_CODES", "OI_CODES", "INDEX_EVERY", "VIX_EVERY", "OI_BURSTS", "asset_token", "STREAM_VERSION",
           "MARKET_STATE", "TRICKLE", "BROADCAST_CODES"]

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
#: with phases=True, the clock of the two phases before the open: the pre-open order collection 09:00-09:08, then
#: the price discovery (order matching and the buffer) 09:08-09:15, whatever their share of the datagrams; the
#: normal market takes the rest of the datagrams from 09:15 for ``duration_s``
PRE_OPEN_SECONDS = 8 * 60
AUCTION_SECONDS = 7 * 60
#: phase -> TradingStatus in 7208 (PROTOCOL.md: 1 pre-open, 2 open, 6 price discovery)
TRADING_STATUS = {"preopen": 1, "auction": 6, "open": 2}
#: codes the NSE documents list as LZO1Z-compressed (CM63 p.88, FO946 p.149; PROTOCOL.md §3.0)
COMPRESSED_CODES = {"CM": {7201, 18703, 7208, 7210, 7214, 7215}, "FO": {7200, 7201, 7202, 7208, 7220, 17201, 17202}}

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

#: the version of what the generator produces: bump it whenever the same arguments give different bytes
#: (benchmarks key their cached streams on it).  2: the order book evolves incrementally (book events).  3: with
#: phases, the pre-open 7200/7208 carry the indicative open and quantity, and the day opens at the equilibrium.
#: 4: with phases, the pre-open runs 09:00-09:08 and the price discovery 09:08-09:15 on the clock (they took
#: their share of the whole day's clock before: a pre-open until ~09:31).
STREAM_VERSION = 4

#: book depth per side (the 7200/7208 MBP levels)
LEVELS = 5
#: the lowest LTP / indicative price, in ticks: five strictly descending positive bid levels below a best ask
#: need a best bid of at least LEVELS ticks
MIN_TICKS = LEVELS + 1
#: a requote's events: the share of requotes with a new best price inside the spread is IMPROVE_BASE plus
#: IMPROVE_PER_TICK per tick of spread beyond 2 (a wide spread draws orders); otherwise an order event at
#: one level, or at two with TWO_EVENTS
IMPROVE_BASE, IMPROVE_PER_TICK, TWO_EVENTS = 0.05, 0.15, 0.25
#: an order event: add an order (with NEW_PRICE of them at a free price between two levels), modify one's
#: quantity, else cancel one (cum shares)
ADD, MODIFY, NEW_PRICE = 0.45, 0.65, 0.12
#: which level an order event touches (cumulative weights: the top of the book is busiest)
_LEVEL_CUM = (0.38, 0.62, 0.79, 0.91, 1.0)
_GAPS = (1, 1, 1, 1, 1, 2, 2, 3)                            # ticks between adjacent levels of a new level
_SPREADS = (1, 1, 1, 1, 1, 2, 2, 3)                         # ticks between best bid and best ask, fresh book
#: after a trade the other side follows when the spread grew beyond FOLLOW_TICKS (a new best, 1-2 ticks
#: away from the trade price)
FOLLOW_TICKS = 4
#: ... and when the new best would leave more than MAX_GAP ticks to the old one, the whole side re-prices
#: behind it (a new ladder from the new best)
MAX_GAP = 3
_FO_LOTS = (15, 25, 30, 50, 65, 75, 125, 150, 250, 300, 500, 750, 1100, 1800, 3000)


#: one level of a book side: [quantity, price (paise), orders], changed in place as orders come and go
_Level: TypeAlias = list[int]
#: a message or record dict, as vega.nse encodes it (and vega.decode returns it)
_Dict: TypeAlias = dict[str, Any]


def session_start_1980(date: _dt.date) -> int:
    """09:15:00 IST of ``date`` in NSE time (seconds since 1980-01-01 00:00, wall clock)."""
    return int((_dt.datetime.combine(date, SESSION_OPEN) - EPOCH_1980).total_seconds())


class _Instrument:
    """Market state of one token, moved by :meth:`trade`, :meth:`requote` and :meth:`indicate`.

    The order book (``bids`` descending, ``asks`` ascending, each ``LEVELS`` levels ``[quantity, price,
    orders]`` with the quantity a multiple of the lot, 1 <= orders <= quantity / lot) persists and evolves by
    events, as between two MBP broadcasts of a real feed: an order added, modified or cancelled at a level;
    a new best price inside the spread; a trade consuming the best level of the aggressed side (and the
    levels it trades through).  It is built around the LTP at the first depth broadcast and rebuilt only
    when the price jumps beyond it."""

    __slots__ = ("token", "symbol", "series", "tick", "lot", "ltp", "prev_ltp", "close", "open", "high", "low",
                 "volume", "turnover", "ltq", "ltt", "oi", "oi_hi", "oi_lo", "bids", "asks", "stream",
                 "spos", "dirty", "buyer", "indicated")

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
        self.close = max(MIN_TICKS * self.tick, int(rupees * 100) // self.tick * self.tick)
        self.ltp = self.prev_ltp = self.close
        self.open = self.high = self.low = 0
        self.volume = self.turnover = self.ltq = self.ltt = 0
        self.oi = 0 if segment == "CM" else self.lot * rng.randint(10, 200000)
        self.oi_hi = self.oi_lo = self.oi
        self.bids: list[_Level] = []             # no book until the first depth broadcast builds one
        self.asks: list[_Level] = []
        self.spos = [0, 0, 0, 0]
        self.dirty = True                        # the book is to be built (around the LTP) at the next depth
        self.buyer = bool(token & 1)             # the side of the last trade's aggressor
        self.indicated = False                   # took part in the pre-open: the day opens at its equilibrium

    def _walk(self, step: int) -> None:
        self.prev_ltp = self.ltp
        self.ltp = max(MIN_TICKS * self.tick, self.ltp + step * self.tick)

    def trade(self, rng: random.Random, now: int) -> None:
        """One trade: an order of 1-100 lots takes the best level of the other side (and the levels behind
        when it is larger: the LTP moves through them), volume grows, OI drifts.  Before the instrument's
        first depth broadcast (no book yet) the price walks a few ticks instead."""
        bits = rng.getrandbits(16)
        step = _STEPS[bits & 7]
        qty = self.lot * _TRADE_LOTS[(bits >> 3) & 15]
        if not self.open and self.indicated:
            self.open = self.high = self.low = self.ltp
        if self.dirty:
            self._walk(step)
            self.ltq = qty
        else:
            # the aggressor: the last trade's side again (trade signs run in streaks), a quarter of the
            # time the side the step says
            buy = self.buyer if (bits >> 10) & 3 else step > 0 or (step == 0 and self.buyer)
            self.buyer = buy
            self.prev_ltp = self.ltp
            self.ltp, self.ltq = self._take(rng, buy, qty)
        self.volume += qty
        self.turnover += qty * self.ltp
        self.ltt = now
        if not self.open:
            self.open = self.high = self.low = self.ltp
        self.high = max(self.high, self.ltp)
        self.low = min(self.low, self.ltp)
        if self.oi:
            self.oi = max(self.lot, self.oi + self.lot * (((bits >> 7) & 7) - 3))
            self.oi_hi = max(self.oi_hi, self.oi)
            self.oi_lo = min(self.oi_lo, self.oi)

    def _take(self, rng: random.Random, buy: bool, qty: int) -> tuple[int, int]:
        """A market order of ``qty`` (a buyer's when ``buy``) against the book: it takes the best levels of
        the other side in turn (emptied ones go, the levels behind move up and new ones appear at the back);
        returns (the price, the quantity) of its last fill.  A side swept whole is rebuilt around that
        price; when the spread grew beyond FOLLOW_TICKS the taker's side follows with a new best 1-2 ticks
        from the price (makers step in)."""
        t, lot = self.tick, self.lot
        side, other = (self.asks, self.bids) if buy else (self.bids, self.asks)
        while True:
            lv = side[0]
            price = lv[1]
            if qty < lv[0]:
                lv[0] -= qty
                lv[2] = max(1, min(lv[2] - rng.getrandbits(2) % lv[2], lv[0] // lot))
                fill = qty
                break
            fill = lv[0]
            qty -= fill
            del side[0]
            if not side:                                        # the whole side went
                self.ltp = price
                self._fresh(rng)
                return price, fill
            if not qty:
                break
        if len(side) < LEVELS and not self._refill(rng):
            self.ltp = price
            self._fresh(rng)
            return price, fill
        best = other[0][1]
        if abs(price - best) > FOLLOW_TICKS * t:
            p = price - t * (1 + rng.getrandbits(1)) if buy else price + t * (1 + rng.getrandbits(1))
            if abs(p - best) > MAX_GAP * t:                     # too far: that side's orders re-price
                other[:] = [self._level(rng, p)]
                self._refill(rng)
            else:
                self._insert_best(rng, other, p)
        return price, fill

    def indicate(self, rng: random.Random) -> None:
        """Pre-open / auction: the indicative (equilibrium) price walks a tick or two; nothing trades, the
        orders collected change (an order event) and the book keeps around the indicative price (orders
        at prices it moves through are taken out, as the auction would match them)."""
        self._walk(_STEPS[rng.getrandbits(3)])
        self.indicated = True
        if self.dirty:
            self._fresh(rng)
            return
        self._cross(rng, self.lot)
        self.requote(rng)

    # -- the book --
    def _level(self, rng: random.Random, price: int) -> _Level:
        """A new level at ``price``: 1-16 orders of 1-16 lots each (on average)."""
        orders = 1 + rng.getrandbits(4)
        return [self.lot * orders * (1 + rng.getrandbits(4)), price, orders]

    def _fresh(self, rng: random.Random) -> None:
        """A new book around the LTP: best bid at or a tick below it, a 1-3 tick spread, 1-3 ticks between
        levels (the bid side kept positive: the LTP is at least MIN_TICKS ticks)."""
        t = self.tick
        bits = rng.getrandbits(3)
        bid = max(LEVELS * t, self.ltp - t * (bits & 1))
        ask = bid + t * _SPREADS[rng.getrandbits(3)]
        self.bids, self.asks = [self._level(rng, bid)], [self._level(rng, ask)]
        self._refill(rng)
        self.dirty = False

    def _refill(self, rng: random.Random) -> bool:
        """Append new levels at the back of both sides up to LEVELS; False when the bid side cannot keep
        LEVELS strictly descending positive prices (the caller rebuilds the book)."""
        t = self.tick
        bids, asks = self.bids, self.asks
        while len(bids) < LEVELS:
            p = bids[-1][1]
            room = p // t - (LEVELS - len(bids))            # ticks to spare above the lowest allowed price
            if room < 1:
                return False
            bids.append(self._level(rng, p - t * min(room, _GAPS[rng.getrandbits(3)])))
        while len(asks) < LEVELS:
            asks.append(self._level(rng, asks[-1][1] + t * _GAPS[rng.getrandbits(3)]))
        return True

    def _insert_best(self, rng: random.Random, side: list[_Level], price: int) -> None:
        """A new best level at ``price`` on ``side`` (a fresh order or the rest of one): the others shift
        back, the last falls off."""
        side.insert(0, self._level(rng, price))
        if len(side) > LEVELS:
            side.pop()

    def requote(self, rng: random.Random) -> None:
        """The book between two trades: usually an order added, modified or cancelled at one level (two
        with TWO_EVENTS), sometimes (the likelier the wider the spread) a new best price inside the spread."""
        if self.dirty:
            self._fresh(rng)
            return
        t = self.tick
        bids, asks = self.bids, self.asks
        spread = (asks[0][1] - bids[0][1]) // t
        u = rng.random()
        if spread > 1 and u < IMPROVE_BASE + IMPROVE_PER_TICK * (spread - 2):
            k = 1 + rng.getrandbits(8) % (spread - 1)           # ticks inside, 1 .. spread - 1
            if rng.getrandbits(1):
                self._insert_best(rng, bids, bids[0][1] + t * k)
            else:
                self._insert_best(rng, asks, asks[0][1] - t * k)
            return
        self._order_event(rng)
        if rng.random() < TWO_EVENTS:
            self._order_event(rng)

    def _order_event(self, rng: random.Random) -> None:
        """An order added, modified or cancelled at one level of one side (a level whose last order goes is
        removed, the levels behind move up and a new one appears at the back)."""
        t, lot = self.tick, self.lot
        bid_side = rng.getrandbits(1)
        side = self.bids if bid_side else self.asks
        u = rng.random()
        k = 0
        while u > _LEVEL_CUM[k]:
            k += 1
        lv = side[k]
        u = rng.random()
        lots, n = lv[0] // lot, lv[2]
        if u < ADD:
            if k < LEVELS - 1 and u < ADD * NEW_PRICE:
                gap = abs(side[k + 1][1] - lv[1]) // t
                if gap > 1:                                     # at a free price behind level k
                    d = t * (1 + rng.getrandbits(8) % (gap - 1))
                    side.insert(k + 1, self._level(rng, lv[1] - d if bid_side else lv[1] + d))
                    side.pop()
                    return
            lv[0] += lot * (1 + rng.getrandbits(3))
            lv[2] = n + 1
        elif u < MODIFY:
            d = 1 + rng.getrandbits(2)                          # one order's quantity, +-1..4 lots
            if rng.getrandbits(1) or lots - d < n:
                lv[0] += lot * d
            else:
                lv[0] -= lot * d
        elif n > 1:                                             # an order cancelled, the level stays
            lv[0] -= lot * (1 + rng.getrandbits(8) % min(8, lots - n + 1))
            lv[2] = n - 1
        elif k < LEVELS - 1:                                    # the level's last order: it goes
            del side[k]
            if not self._refill(rng):
                self._fresh(rng)
        else:                                   # ... at the back: the level behind it (beyond) shows
            p = lv[1] - t * _GAPS[rng.getrandbits(3)] if bid_side else lv[1] + t * _GAPS[rng.getrandbits(3)]
            if p > 0:
                side[k] = self._level(rng, p)
            else:                                               # none below the lowest price: an order comes
                lv[0] += lot
                lv[2] = n + 1

    def _cross(self, rng: random.Random, qty: int) -> None:
        """The book after a trade of ``qty`` at the (new) LTP: at or through the best ask a buyer took the
        asks up to it (the level at the LTP gives ``qty``, those below go), at or through the best bid a
        seller the bids; inside the spread a hidden order crossed and half the time its rest stays as a new
        best; beyond the book (or when the side cannot refill) the book is rebuilt around the LTP.  When the
        spread grew beyond FOLLOW_TICKS the other side follows with a new best 1-2 ticks from the LTP."""
        t, lot, L = self.tick, self.lot, self.ltp
        bids, asks = self.bids, self.asks
        if L > asks[-1][1] or L < bids[-1][1]:
            self._fresh(rng)
            return
        if L >= asks[0][1]:
            side, other, sign = asks, bids, -1                  # a buyer aggressed: the asks give
            while side[0][1] < L:
                del side[0]
        elif L <= bids[0][1]:
            side, other, sign = bids, asks, 1
            while side[0][1] > L:
                del side[0]
        else:                                                   # inside the spread
            if rng.getrandbits(1):
                up = L > self.prev_ltp or (L == self.prev_ltp and rng.getrandbits(1))
                self._insert_best(rng, asks if up else bids, L)
            return
        lv = side[0]
        if lv[1] == L:
            if qty < lv[0]:
                lv[0] -= qty
                lv[2] = max(1, min(lv[2] - rng.getrandbits(2) % lv[2], lv[0] // lot))
            elif len(side) > 1:
                del side[0]
            else:                                               # the whole side went: beyond the book
                self._fresh(rng)
                return
        if not self._refill(rng):
            self._fresh(rng)
            return
        if abs(L - other[0][1]) > FOLLOW_TICKS * t:
            p = L + sign * t * (1 + rng.getrandbits(1))
            self._insert_best(rng, other, p)

    def depth(self, rng: random.Random) -> tuple[list[_Level], list[_Level]]:
        """The current book (built around the LTP at its first broadcast): ``(bids, asks)``, each level
        ``[quantity, price, orders]``."""
        if self.dirty:
            self._fresh(rng)
        return self.bids, self.asks

    @property
    def atp(self) -> int:
        return self.turnover // self.volume if self.volume else 0

    @property
    def change(self) -> tuple[str, int]:
        if self.ltp > self.close:
            return "+", self.ltp - self.close
        return ("-", self.close - self.ltp) if self.ltp < self.close else (" ", 0)

    def indicator(self, buy_sell: bool = True) -> dict[str, bool]:
        return {"last_trade_more": self.ltp > self.prev_ltp, "last_trade_less": self.ltp < self.prev_ltp,
                "buy": buy_sell and self.bids[0][0] > self.asks[0][0],
                "sell": buy_sell and self.asks[0][0] > self.bids[0][0]}


# ---------------------------------------------------------------------------------------------------------
# The instrument universe (what the simulator's master files describe)
# ---------------------------------------------------------------------------------------------------------
#: index underlyings: (spot in rupees, asset token as on the exchange's index feed)
_INDICES = {"NIFTY": (24000.0, 26000), "BANKNIFTY": (52000.0, 26009), "FINNIFTY": (23500.0, 26037)}
#: F&O index symbol -> the name its index carries in CM 7207 / 8207 (the names the store maps to the tokens above)
INDEX_NAMES = INDEX_SYMBOLS                   # (vega.indices: what vega.index_token points a symbol at)
#: the other indices of the simulated 7207 (no F&O on them): name -> (level in rupees, constituents)
_OTHER_INDICES = {"Nifty Next 50": (67000.0, 50), "Nifty IT": (35500.0, 10), "Nifty Midcap 50": (15800.0, 50)}
#: constituents of the F&O indices (NoOfUpmoves + NoOfDownmoves never exceed it)
_CONSTITUENTS = {"Nifty 50": 50, "Nifty Bank": 12, "Nifty Fin Service": 20}
#: market capitalisation of the constituents per index point (rupees; the field's units are undocumented)
_MCAP_PER_POINT = {"Nifty 50": 8.1e9, "Nifty Bank": 1.1e9, "Nifty Fin Service": 1.2e9, "Nifty Next 50": 4.5e8,
                   "Nifty IT": 8.7e8, "Nifty Midcap 50": 1.3e9}
VIX_NAME = "India VIX"
#: the summary codes index_oi=True adds, per segment
INDEX_CODES = (7207, 7216, 8207)
OI_CODES = (7130, 17130)
#: index broadcast cadence: a 7207 at most every INDEX_EVERY datagrams and INDEX_SECONDS simulated seconds (the
#: NSE sends about one a second); 7216 likewise with VIX_EVERY / VIX_SECONDS
INDEX_EVERY, INDEX_SECONDS = 40, 1.0
VIX_EVERY, VIX_SECONDS = 200, 5.0
#: 8207 indicative indices: the last INDICATIVE_SECONDS of the stream's clock, at most its last INDICATIVE_SHARE
INDICATIVE_SECONDS, INDICATIVE_SHARE = 1800.0, 0.10
#: open interest per underlying (7130/17130): bursts over the stream (7130 too in every other one)
OI_BURSTS = 8
#: the CM stream number (Filler2[0]) of the index broadcasts
INDEX_STREAM = N_STREAMS["CM"]
#: the index walk: each broadcast d <- INDEX_REVERT * d + N(0, INDEX_STEP), |d| <= INDEX_BAND (relative to the
#: universe spot), so a spot-carry forward stays within a few basis points of the streamed futures
INDEX_REVERT, INDEX_STEP, INDEX_BAND = 0.97, 1.0e-4, 15.0e-4

#: broadcasts=True: the market-state messages (PROTOCOL_MORE.md §3.1) per segment, event -> ((code, text), ...):
#: "preopen", "auction", "open" as the stream enters that phase, "close" in its last datagram.  MarketType 1 (the
#: normal market); F&O AlphaChar "TD" (normal market, FO946 p.167).  The texts are ours, not the exchange's.
MARKET_STATE = {
    "CM": {"preopen": ((6531, "Normal market pre-open session has started"),),
           "auction": ((6571, "Normal market pre-open order collection has ended"),),
           "open": ((6511, "Normal market has opened"),),
           "close": ((6521, "Normal market has closed"), (6583, "Closing session has started"),
                     (6584, "Closing session has ended"))},
    "FO": {"preopen": ((6531, "Normal market pre-open session has started"),),
           "auction": ((6571, "Normal market pre-open order collection has ended"),),
           "open": ((6511, "Normal market has opened"),),
           "close": ((6521, "Normal market has closed"), (6522, "Post-close session has started"))},
}
#: ... and while the market is open, a trickle of documented counted codes: code -> mean datagrams between two
TRICKLE = {"FO": {7211: 25, 7340: 300, 7220: 600, 6501: 1500}, "CM": {7214: 150, 7215: 150, 6501: 1000}}
#: every code broadcasts=True adds, per segment (7206 system information in the first datagram)
BROADCAST_CODES = {seg: tuple(sorted({7206} | set(TRICKLE[seg]) | {c for ev in MARKET_STATE[seg].values()
                                                                   for c, _ in ev})) for seg in N_STREAMS}
#: the phases in the order of the day (the market-state events of each are sent as the stream enters it)
_PHASES = ("preopen", "auction", "open")


#: CM tokens the simulated equities never take: the index underlyings' (their open interest per underlying
#: lands on these tokens of the CM store, and the index store uses them for the indices)
RESERVED_CM_TOKENS = frozenset(tok for _, tok in _INDICES.values())


def _free_of(tokens: list[int], reserved: frozenset[int], lo: int, hi: int) -> list[int]:
    """``tokens`` with each one in ``reserved`` moved to the next token in lo..hi (wrapping) that is neither
    reserved nor taken; the others stay put (so a draw without a reserved token is unchanged)."""
    if not reserved.intersection(tokens):
        return tokens
    taken = set(tokens)
    out = []
    for t in tokens:
        if t in reserved:
            taken.discard(t)
            while t in reserved or t in taken:
                t = lo + (t - lo + 1) % (hi - lo + 1)
            taken.add(t)
        out.append(t)
    return out


def asset_token(symbol: str) -> int:
    """The underlying token (contract.txt AssetToken) the F&O universe gives ``symbol`` when no CM universe
    says otherwise: the index token of ``_INDICES``, else a stable hash into the CM token range 1..30000."""
    if symbol in _INDICES:
        return _INDICES[symbol][1]
    return 1 + (sum(map(ord, symbol)) * 131) % 30000
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


#: an F&O token's role: (kind FUT / OPT, symbol, expiry index into EXPIRY_DAYS, strike paise (-1 for a
#: future), option type CE / PE / XX)
_Role: TypeAlias = tuple[str, str, int, int, str]


def _fo_universe(instruments: list[_Instrument], seed: int) -> dict[int, _Role]:
    """Give every F&O token a role, deterministically for ``seed`` (its own RNG: the stream's is untouched):
    per symbol the two lowest tokens are the near and next futures, the others calls and puts at strikes
    around the money for both expiries.  Each instrument's starting price becomes consistent with it
    (futures at spot carried, options at their Black-76 value for a per-symbol volatility).  Returns
    token -> (kind, symbol, expiry index, strike paise, option type)."""
    rng = random.Random(seed * 7919 + 17)
    by_sym: dict[str, list[_Instrument]] = {}
    for ins in instruments:
        by_sym.setdefault(ins.symbol, []).append(ins)
    meta: dict[int, _Role] = {}
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
            ins.close = ins.ltp = ins.prev_ltp = max(MIN_TICKS * ins.tick, int(price) // ins.tick * ins.tick)
    return meta


class _Index:
    """Day state of one index of the simulated 7207 / 7216 / 8207 (values are index x 100, as on the wire)."""

    __slots__ = ("name", "base", "close", "yearly_high", "yearly_low", "n", "mcap", "revert", "step", "band", "d",
                 "value", "prev", "open", "high", "low")

    def __init__(self, rng: random.Random, name: str, level: float, constituents: int, mcap_per_point: float,
                 revert: float = INDEX_REVERT, step: float = INDEX_STEP, band: float = INDEX_BAND,
                 close_spread: float = 0.004):
        self.name = name
        self.base = round(level * 100)                                  # the value at d = 0
        self.close = round(self.base * (1 + rng.uniform(-close_spread, close_spread)))   # previous close
        # a year's range brackets the day's (|d| <= band)
        self.yearly_high = round(max(self.close, self.base * (1 + band)) * (1 + rng.uniform(0.05, 0.15)))
        self.yearly_low = round(min(self.close, self.base * (1 - band)) * (1 - rng.uniform(0.10, 0.25)))
        self.n = constituents
        self.mcap = mcap_per_point
        self.revert, self.step, self.band = revert, step, band
        self.d = rng.uniform(-0.5, 0.5) * band
        self.value = self.prev = self.open = self.high = self.low = 0

    def move(self, rng: random.Random, opened: bool) -> None:
        """One broadcast's move.  Before the open the value is indicative and so is the opening index; the
        market opens at the last indicative value (the pre-open equilibrium); high and low span the day."""
        self.d = max(-self.band, min(self.band, self.revert * self.d + rng.gauss(0.0, self.step)))
        self.prev = self.value or self.close
        v = self.value = round(self.base * (1 + self.d))
        if not opened or not self.open:
            self.open = v
        self.high = max(self.high, v)
        self.low = min(self.low, v) if self.low else v

    def _pct(self) -> int:
        return round((self.value - self.close) * 10000 / self.close)       # percent x 100 vs previous close

    def record(self, rng: random.Random) -> _Dict:
        """The 7207 / 7216 INDICES record (NetChangeIndicator: vs the previous broadcast value)."""
        v, n = self.value, self.n
        up = down = 0
        if n:
            lean = 0.5 + 0.5 * math.tanh((v - self.close) / self.close * 400.0)   # +0.25 % -> ~3/4 up
            up = max(0, min(n, round(n * lean + rng.uniform(-1.5, 1.5))))
            down = max(0, n - up - rng.randint(0, 2))
        return {"index_name": self.name, "index_value": v, "high_index_value": self.high,
                "low_index_value": self.low, "opening_index": self.open, "closing_index": self.close,
                "percent_change": self._pct(), "yearly_high": self.yearly_high, "yearly_low": self.yearly_low,
                "no_of_upmoves": up, "no_of_downmoves": down, "market_capitalisation": v / 100 * self.mcap,
                "net_change_indicator": "+" if v > self.prev else ("-" if v < self.prev else " "),
                "wire_stride": 72}

    def indicative(self) -> _Dict:
        """The 8207 INDICATIVE INDICES record: the indicative close is the current value, ClosingIndex 0 while
        the market is open, Change the absolute difference to the previous close (the indicator its sign)."""
        v, c = self.value, self.close
        return {"index_name": self.name, "indicative_close_value": v, "closing_index": 0,
                "percent_change": self._pct(), "change": abs(v - c), "market_capitalisation": v / 100 * self.mcap,
                "net_change_indicator": "+" if v > c else ("-" if v < c else " "), "wire_stride": 72}


def instrument_universe(segment: str, seed: int = 0, *, n_tokens: int | None = None,
                        expiry_base: _dt.date | None = None) -> npt.NDArray[np.void]:
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
        asset = asset_token(sym)
        rows.append((ins.token, SEG_FO, sym, "", inst, raws[e], expiry_unix(raws[e]), strike, ot, ins.lot, ins.tick,
                     asset, sym, ""))
    return np.array(rows, INSTRUMENT_DTYPE)


_NO_SEQ = frozenset(OI_CODES)        # re-defined header: no BCSeqNo, no stream
_OI_SOURCES = frozenset((7201, 17201, 7202, 17202))   # per-contract open interest


class _Generator:
    def __init__(self, segment: str, seed: int, n_tokens: int | None, date: _dt.date, duration_s: float,
                 n_datagrams: int, uncompressed_share: float, phases: bool = False, index_oi: bool = False,
                 asset_tokens: dict[str, int] | None = None, broadcasts: bool = False):
        if segment not in nse.SEGMENTS:
            raise ValueError(f"unknown segment {segment!r} (expected 'CM' or 'FO')")
        self.seg = segment
        self.rng = rng = random.Random(seed)
        n = n_tokens if n_tokens is not None else (1500 if segment == "CM" else 2500)
        lo, hi = (1, 30000) if segment == "CM" else (35000, 150000)
        if not 1 <= n <= hi - lo + 1:
            raise ValueError(f"n_tokens must be 1..{hi - lo + 1} for {segment}")
        self.n_streams = N_STREAMS[segment]
        tokens = rng.sample(range(lo, hi + 1), n)
        if segment == "CM":
            tokens = _free_of(tokens, RESERVED_CM_TOKENS, lo, hi)
        tokens.sort()
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
        self.n_datagrams = n_datagrams
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
            self.t0 -= PRE_OPEN_SECONDS + AUCTION_SECONDS    # the day starts at 09:00 with the pre-open
            self.step = (duration_s + PRE_OPEN_SECONDS + AUCTION_SECONDS) / max(1, n_datagrams)
            self.duration_s = duration_s
            self.phase_codes = list(PHASE_MIX[segment])
            self.phase_cum = []
            acc = 0.0
            for c in self.phase_codes:
                acc += PHASE_MIX[segment][c]
                self.phase_cum.append(acc)
        self.index_oi = index_oi
        if index_oi:
            self._init_summaries(seed, n_datagrams, asset_tokens)
        self.broadcasts = broadcasts
        if broadcasts:
            self._init_broadcasts(seed, phases, n_datagrams)

    def _init_broadcasts(self, seed: int, phases: bool, n_datagrams: int) -> None:
        """State of the market-state messages and the trickle, on a side RNG of their own."""
        br = self.brng = random.Random(seed * 2862933555777941757 + 6511)
        for c in BROADCAST_CODES[self.seg]:
            self.lay[c] = nse.layout(self.seg, c)
        self.entered = -1 if phases else _PHASES.index("open") - 1     # the last phase whose events went out
        self.t_end = self.t0 + self.step * max(1, n_datagrams)          # the stream clock's end: the close
        self.next_trickle = {c: self.phase_ends[1] + br.randrange(every) for c, every in TRICKLE[self.seg].items()}

    def _init_summaries(self, seed: int, n_datagrams: int, asset_tokens: dict[str, int] | None) -> None:
        """State of the index (CM) or open-interest (F&O) broadcasts, on a side RNG of their own."""
        xr = self.xrng = random.Random(seed * 2654435761 + 7207)
        for c in (INDEX_CODES if self.seg == "CM" else OI_CODES):
            self.lay[c] = nse.layout(self.seg, c)
        if self.seg == "CM":
            names = [(INDEX_NAMES[s], _INDICES[s][0], _CONSTITUENTS[INDEX_NAMES[s]]) for s in _INDICES]
            names += [(name, level, n) for name, (level, n) in _OTHER_INDICES.items()]
            self.indices = [_Index(xr, name, level, n, _MCAP_PER_POINT[name]) for name, level, n in names]
            self.vix = _Index(xr, VIX_NAME, xr.uniform(14.3, 14.7), 0, 0.0, revert=0.9, step=0.02, band=0.085,
                              close_spread=0.05)              # India VIX stays within 13..16
            self.next_index = (xr.randrange(INDEX_EVERY), 0.0)          # (datagram, simulated time) due
            self.next_vix = (xr.randrange(VIX_EVERY), 0.0)
            span = self.step * max(1, n_datagrams)
            self.indicative_from = self.t0 + span - min(INDICATIVE_SECONDS, INDICATIVE_SHARE * span)
        else:
            amap = asset_tokens or {}
            self.asset_of = {}
            for ins in self.instruments:
                sym = self.meta[ins.token][1]
                self.asset_of[ins.token] = amap.get(sym) or asset_token(sym)
            self.reported: dict[int, int] = {}       # contract token -> the last OI the stream sent for it
            n = max(1, n_datagrams)
            self.oi_bursts = {int((k + 0.5) * n / OI_BURSTS): k for k in range(OI_BURSTS)}

    # -- helpers --
    def pick(self, k: int = 1) -> list[_Instrument]:
        return self.rng.choices(self.instruments, cum_weights=self.cum_weights, k=k)

    def header(self, code: int, stream: int) -> _Dict:
        now = int(self.t)
        frac = int((self.t - now) * 65536) & 0xFFFF
        mh = self.lay[code].message_header
        if mh or code in _NO_SEQ:
            seq, stream = 0, 0
        else:
            self.seq[stream] += 1
            seq = self.seq[stream]
        return {"segment": self.seg, "market_type": nse.MARKET_TYPE[self.seg], "message_header": mh,
                "log_time": now, "alpha_char": "", "transaction_code": code, "error_code": 0,
                "bc_seq_no": seq, "trader_id": 0, "time_stamp2": (now << 16) | frac, "stream": stream}

    # -- record builders --
    def md(self, ins: _Instrument, code: int) -> _Dict:
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
        if self.phase != "open":                 # PROTOCOL.md §3.3: the indicative open and equilibrium quantity
            eq_qty = ins.lot * (1 + (ins.token % 97))
            rec.update(open_price=ins.ltp, volume_traded_today=eq_qty)
            if self.phase == "auction":
                rec.update(auction_number=1, auction_status=1, auction_price=ins.ltp, auction_quantity=eq_qty,
                           initiator_type=0)
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

    def mw(self, ins: _Instrument, code: int) -> _Dict:
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

    def tick(self, ins: _Instrument, code: int) -> _Dict:
        rec = {"token": ins.token, "market_type": 1, "fill_price": ins.ltp, "fill_volume": ins.ltq}
        if self.seg == "CM":
            rec["market_index_value"] = 0
        else:
            rec.update(open_interest=ins.oi, day_hi_oi=ins.oi_hi, day_lo_oi=ins.oi_lo)
        return rec

    # -- messages --
    def message(self, code: int) -> _Dict:
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

    def clock(self, i: int, r: float) -> float:
        """The time of datagram ``i`` (``r`` in [0, 1): where in its slot).  Without phases the slots split the
        stream's clock evenly; with them each phase's datagrams split the phase's own span (PRE_OPEN_SECONDS,
        AUCTION_SECONDS, then ``duration_s`` from 09:15), so the market opens at 09:15 however many datagrams
        the phases take."""
        n_pre, n_auc = self.phase_ends
        if not n_auc:
            return self.t0 + self.step * (i + r)
        if i < n_pre:
            return self.t0 + PRE_OPEN_SECONDS * (i + r) / n_pre
        if i < n_auc:
            return self.t0 + PRE_OPEN_SECONDS + AUCTION_SECONDS * (i - n_pre + r) / (n_auc - n_pre)
        n_open = max(1, self.n_datagrams - n_auc)
        return self.t0 + PRE_OPEN_SECONDS + AUCTION_SECONDS + self.duration_s * (i - n_auc + r) / n_open

    def datagram_messages(self) -> list[_Dict]:
        """The messages of the next datagram (the clock advances once per datagram)."""
        self.i += 1                                  # datagram i lands in [t0 + i*step, t0 + (i+1)*step)
        if self.i < self.phase_ends[1]:
            self.phase = "preopen" if self.i < self.phase_ends[0] else "auction"
        else:
            self.phase = "open"
        self.t = self.clock(self.i, self.rng.random())
        n = self.rng.choices((1, 2, 3, 4), (0.3, 0.3, 0.25, 0.15))[0]
        # (the market-state messages first: they take their BCSeqNo before the messages they precede)
        msgs = self.phase_change() if self.broadcasts else []
        msgs += [self.message(self.next_code()) for _ in range(n)]
        if self.index_oi:
            msgs += self.summaries(msgs) if self.seg == "CM" else self.open_interest(msgs)
        if self.broadcasts:
            msgs += self.trickle()
        return msgs

    def summary(self, code: int, stream: int, recs: list[_Dict], compressed: bool = False) -> _Dict:
        """A message of the summary codes (7207/7216/8207, 7130/17130: uncompressed, as the exchange sends) or
        of the broadcasts (``compressed`` for a code of the compressed list)."""
        msg = self.header(code, stream)
        msg["records"] = recs
        msg["compressed"] = compressed
        msg["message_length"] = self.lay[code].message_length(len(recs))
        return msg

    def broadcast(self, code: int, recs: list[_Dict]) -> _Dict:
        """A message of the broadcasts (``broadcasts=True``) on a stream its RNG draws; compressed as the other
        codes of the compressed list are."""
        br = self.brng
        compressed = code in COMPRESSED_CODES[self.seg] and br.random() >= self.uncompressed_share
        return self.summary(code, br.randint(1, self.n_streams), recs, compressed)

    def market_state(self, event: str) -> list[_Dict]:
        """The market-state messages of ``event`` (MARKET_STATE): one record, the normal market, the text."""
        out = []
        for code, text in MARKET_STATE[self.seg][event]:
            rec: _Dict = {"symbol": "", "series": "", "market_type": 1, "broadcast_message_length": len(text),
                          "broadcast_message": text}
            if self.seg == "FO":
                rec["token"] = 0
            msg = self.broadcast(code, [rec])
            if self.seg == "FO":
                msg["alpha_char"] = "TD"
            out.append(msg)
        return out

    def phase_change(self) -> list[_Dict]:
        """The first datagram's 7206, then the market-state messages of the phases the stream has entered since
        the last datagram (every one up to the current phase: a phase of no datagram still has its message)."""
        out = []
        if self.i == 0:
            st = {"preopen": 0, "auction": 0, "open": 1}[self.phase]     # 0 pre-open, 1 open, 2 closed
            rec: _Dict = {"market_status": [st, 2, 2, 2, 2, 2] if self.seg == "CM" else [st, 2, 2, 2]}
            if self.seg == "FO":
                rec.update(ex_market_status=[2, 2, 2, 2], pl_market_status=[2, 2, 2, 2])
            out.append(self.broadcast(7206, [rec]))
        now = _PHASES.index(self.phase)
        while self.entered < now:
            self.entered += 1
            out += self.market_state(_PHASES[self.entered])
        return out

    def closing(self) -> list[_Dict]:
        """The stream's last datagram: the close (at the end of the stream's clock) and what follows it."""
        self.i += 1
        self.t = max(self.t, self.t_end)
        return self.market_state("close")

    def trickle(self) -> list[_Dict]:
        """While the market is open: the TRICKLE codes due at this datagram (zero bodies: VEGA counts them)."""
        if self.phase != "open":
            return []
        out = []
        for code, every in TRICKLE[self.seg].items():
            if self.i >= self.next_trickle[code]:
                self.next_trickle[code] = self.i + self.brng.randint(every // 2 + 1, every * 3 // 2)
                out.append(self.broadcast(code, []))
        return out

    def summaries(self, msgs: list[_Dict]) -> list[_Dict]:
        """CM: the index broadcasts due at this datagram (7207, with 8207 near the close; 7216)."""
        out = []
        i, t, xr = self.i, self.t, self.xrng
        if i >= self.next_index[0] and t >= self.next_index[1]:
            self.next_index = (i + INDEX_EVERY, t + INDEX_SECONDS)
            opened = self.phase == "open"
            for x in self.indices:
                x.move(xr, opened)
            out.append(self.summary(7207, INDEX_STREAM, [x.record(xr) for x in self.indices]))
            if t >= self.indicative_from:
                out.append(self.summary(8207, INDEX_STREAM, [x.indicative() for x in self.indices]))
        if i >= self.next_vix[0] and t >= self.next_vix[1]:
            self.next_vix = (i + VIX_EVERY, t + VIX_SECONDS)
            self.vix.move(xr, self.phase == "open")
            out.append(self.summary(7216, INDEX_STREAM, [self.vix.record(xr)]))
        return out

    def open_interest(self, msgs: list[_Dict]) -> list[_Dict]:
        """F&O: follow the per-contract OI of this datagram's messages; at a burst, 7130 (every other burst)
        and 17130 with the sum per underlying (underlyings with nothing reported yet are left out)."""
        rep = self.reported
        for m in msgs:
            if m["transaction_code"] in _OI_SOURCES:
                for r in m["records"]:
                    rep[r["token"]] = r["open_interest"]
        k = self.oi_bursts.get(self.i)
        if k is None:
            return []
        agg: dict[int, int] = {}
        asset_of = self.asset_of
        for tok, oi in rep.items():
            a = asset_of[tok]
            agg[a] = agg.get(a, 0) + oi
        recs = [{"token": a, "current_oi": agg[a]} for a in sorted(agg) if agg[a] > 0]
        out = []
        if k % 2 == 0:                               # co-existence: the 32-bit form for what fits in it
            small = [r for r in recs if r["current_oi"] <= 0xFFFFFFFF]
            step = self.lay[7130].max_records
            out += [self.summary(7130, 0, small[j:j + step]) for j in range(0, len(small), step)]
        step = self.lay[17130].max_records
        out += [self.summary(17130, 0, recs[j:j + step]) for j in range(0, len(recs), step)]
        return out


def _packets(gen: _Generator, msgs: list[_Dict], compressor: Callable[[bytes], bytes] | None
             ) -> Iterator[list[bytes]]:
    """Encode and split into datagrams of at most MAX_DATAGRAM bytes (a lone big packet still goes)."""
    mt = nse.MARKET_TYPE[gen.seg]
    out: list[bytes] = []
    size = 4
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
                  compressor: Callable[[bytes], bytes] | None = None, phases: bool = False,
                  index_oi: bool = False, asset_tokens: dict[str, int] | None = None,
                  broadcasts: bool = False) -> Iterator[bytes]:
    """Yield ``n_datagrams`` realistic datagrams of ``segment`` ("CM" / "FO"), deterministic for ``seed``.

    ``n_tokens`` instruments (default 1500 CM, 2500 F&O) with tokens drawn from 1..30000 (CM) or
    35000..150000 (F&O); LogTime runs from 09:15:00 IST of ``date`` over ``duration_s`` seconds (the whole
    session by default); ``uncompressed_share`` of the compressible messages go uncompressed;
    ``compressor`` overrides the LZO1Z compressor (bytes -> bytes); ``phases`` starts the day with a pre-open
    and an auction phase; ``index_oi`` adds the index broadcasts (CM 7207/7216/8207) or the open interest per
    underlying (F&O 7130/17130), keyed by ``asset_tokens`` (F&O symbol -> underlying token; default
    :func:`asset_token`); ``broadcasts`` adds 7206 system information, the market-state messages at the phase
    changes and the close, and a trickle of other documented codes VEGA counts (module docstring).  Off by
    default: the benchmarks' streams stay as they were.
    """
    for _, dgram in _stream(segment, n_datagrams, seed, n_tokens, date, duration_s, uncompressed_share,
                            compressor, phases, index_oi, asset_tokens, broadcasts):
        yield dgram


def sample_messages(segment: str, n_datagrams: int, seed: int = 0, *, n_tokens: int | None = None,
                    date: _dt.date = _DEFAULT_DATE, duration_s: float = SESSION_SECONDS,
                    uncompressed_share: float = 0.02,
                    compressor: Callable[[bytes], bytes] | None = None,
                    phases: bool = False, index_oi: bool = False, asset_tokens: dict[str, int] | None = None,
                    broadcasts: bool = False) -> Iterator[tuple[int, _Dict]]:
    """The message dicts behind :func:`sample_stream` (same arguments): ``(datagram_index, msg)`` pairs.

    Each dict is exactly what decoding the datagram gives (``message_length`` and ``compressed`` included).
    """
    for i, (msgs, _) in enumerate(_stream(segment, n_datagrams, seed, n_tokens, date, duration_s,
                                          uncompressed_share, compressor, phases, index_oi, asset_tokens,
                                          broadcasts)):
        for m in msgs:
            yield i, m


def _stream(segment: str, n_datagrams: int, seed: int, n_tokens: int | None, date: _dt.date, duration_s: float,
            uncompressed_share: float, compressor: Callable[[bytes], bytes] | None, phases: bool = False,
            index_oi: bool = False, asset_tokens: dict[str, int] | None = None, broadcasts: bool = False
            ) -> Iterator[tuple[list[_Dict], bytes]]:
    """The datagrams of sample_stream (same arguments), each with the message dicts it carries.  With
    ``broadcasts`` (and 2 datagrams or more) the last datagram is the close (``_Generator.closing``)."""
    if not isinstance(n_datagrams, int) or n_datagrams < 0:
        raise ValueError("n_datagrams must be an int >= 0")
    if not 0.0 <= uncompressed_share <= 1.0:
        raise ValueError("uncompressed_share must be within 0..1")
    gen = _Generator(segment, seed, n_tokens, date, duration_s, n_datagrams, uncompressed_share, phases,
                     index_oi, asset_tokens, broadcasts)
    net_id = nse.MARKET_TYPE[segment]
    produced = 0
    last = n_datagrams - 1 if broadcasts and n_datagrams > 1 else n_datagrams   # the close's datagram
    while produced < last:
        msgs = gen.datagram_messages()
        i = 0
        for packets in _packets(gen, msgs, compressor):
            if produced == last:
                break
            yield msgs[i:i + len(packets)], nse.encode_datagram(packets, net_id)
            i += len(packets)
            produced += 1
        else:
            continue
        for m in reversed(msgs[i:]):       # not sent: their numbers go to the close, which follows them
            if m["bc_seq_no"]:
                gen.seq[m["stream"]] -= 1
    if produced < n_datagrams:
        msgs = gen.closing()
        packets = next(_packets(gen, msgs, compressor))
        yield msgs[:len(packets)], nse.encode_datagram(packets, net_id)
