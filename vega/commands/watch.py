"""``vega watch``: a live terminal market watch over the shared-memory store (and ring) of a running capture."""
from __future__ import annotations

import argparse
import errno
import itertools
import os
import sys
import time
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from vega.commands import CliError, ascii_int, float_upto
from vega._text import fmt_age
from vega.commands._ops import fmt_paise, load_masters, open_ring, open_store, parse_tokens
from vega.instruments import SEG_CM, SEG_FO

_SEG_IDX = 3                              # an index store's segment (VG_SEG_IDX in vega/_core.pxd)

if TYPE_CHECKING:
    from vega.commands import _Subparsers
    # (private names: without rich, stubtest took these Any for names of vega.commands.watch)
    from rich.console import Group as _Group
    from rich.table import Table as _Table

    from vega._core import Store
    from vega._ring import Ring
    from vega.instruments import Instruments

HELP = "live market watch (LTP, change, best bid/ask, volume, OI) over a running capture's store"
SORTS = ("volume", "activity", "change", "oi", "token")


def register(sub: _Subparsers) -> None:
    p = sub.add_parser("watch", help=HELP, description=(
        "A live terminal market watch over the shared-memory store of a running capture (read-only, "
        "lock-free): LTP, change from the previous close, best bid/ask with quantities, volume, open "
        "interest, updates since the last frame and the age of the last update, refreshed in place (written to a "
        "pipe or a file: one frame after another, each as it is made). An index store (<prefix>-idx) shows each "
        "index's value, change, open, high, low, close and its constituents' up and down moves. "
        "With --ring, a status line shows each feed's publish rate and the readers' lag. Needs rich "
        "(pip install 'vega[watch]'). Example, for `vega capture --store vega --ring vega`: "
        "vega watch vega-fo --ring vega --sort activity"))
    p.add_argument("store", help="store name (/dev/shm/vega.store.<name>; a capture's are <prefix>-fo, "
                   "<prefix>-cm, <prefix>-idx)")
    p.add_argument("--ring", help="ring of the same capture, for publish rates and reader lag")
    p.add_argument("--tokens", help="only these tokens (comma separated)")
    p.add_argument("--contract", metavar="FILE", help="NSE contract.txt (F&O master): name each contract by its "
                   "expiry, strike and CE / PE (or FUT) instead of the bare symbol")
    p.add_argument("--security", metavar="FILE", help="NSE security.txt (CM master): symbol and series of CM "
                   "tokens the store does not name")
    p.add_argument("--sort", choices=SORTS, default="volume",
                   help="row order: volume (default), activity (updates since the last frame; the first frame "
                        "counts from the start), change (|%%|), oi, token")
    p.add_argument("--top", type=ascii_int, default=25, help="rows to show (default 25)")
    p.add_argument("--interval", type=float_upto(86400, unit=" seconds"), default=1.0,
                   help="seconds between frames (default 1)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--once", action="store_true", help="print one frame and exit")
    g.add_argument("--iterations", type=ascii_int, help="print N frames and exit")
    p.set_defaults(func=run)


def _pid_text(pid: int | None) -> str:
    """The store's writer pid for the title, ``(exited)`` after it when no such process is left (the store
    then holds the state the writer left: nothing will change it)."""
    from vega._ring import _pid_alive
    if not pid:
        return "?"
    return str(pid) if _pid_alive(pid) else f"{pid} (exited)"


class Watch:
    """Frame builder: keeps the previous frame's update counts and ring tails to show activity and rates.
    With the names (``store_name``, ``ring_name``) it follows a restarted capture: when a shared-memory file
    is replaced it reopens it; while one is gone it shows the last frame with a notice."""

    def __init__(self, store: Store, ring: Ring | None = None, tokens: npt.NDArray[np.uint32] | None = None,
                 sort: str = "volume", top: int = 25, store_name: str | None = None, ring_name: str | None = None,
                 instruments: Instruments | None = None):
        self.store, self.ring, self.tokens, self.sort, self.top = store, ring, tokens, sort, top
        self.instruments = instruments
        self.prev_counts: dict[int, int] = {}
        self.prev_tails: dict[str, int] | None = None
        self.prev_t: float | None = None          # (time.monotonic() of prev_tails)
        self.store_name, self.ring_name = store_name, ring_name
        self.notice = ""
        self.reattached = 0

    def follow(self) -> None:
        """Reopen the store / ring if a restarted capture replaced its file (called before each frame)."""
        from vega._core import Store
        from vega._ring import Ring
        self.notice = ""
        for what, old, name in (("store", self.store, self.store_name), ("ring", self.ring, self.ring_name)):
            if name is None or old is None or not old.replaced:
                continue
            try:
                new = Store.open(name) if what == "store" else Ring.open(name)
            except FileNotFoundError:
                self.notice = f"{what} {name!r} is gone (capture stopped?): waiting for it to come back"
                continue
            except Exception as e:                    # half-made or not yet initialised: try next frame
                self.notice = f"{what} {name!r} was replaced and cannot be opened yet: {e}"
                continue
            if isinstance(new, Store):                # (what == "store")
                self.store, self.prev_counts = new, {}
            else:
                self.ring, self.prev_tails = new, None
            self.reattached += 1
            try:
                old.close()
            except Exception:
                pass

    def rows(self) -> tuple[npt.NDArray[np.void], npt.NDArray[np.int64]]:
        """(snapshot rows to show, in order; their activity since the previous frame)."""
        snap = self.store.snapshot()
        snap = snap[snap["valid"] == 1]
        if self.tokens is not None:
            snap = snap[np.isin(snap["token"], self.tokens.astype(np.int32))]
        counts = snap["update_count"].astype(np.int64)
        prev = np.array([self.prev_counts.get(int(t), 0) for t in snap["token"]], dtype=np.int64)
        activity = counts - prev
        self.prev_counts = {int(t): int(c) for t, c in zip(snap["token"], counts)}
        if self.sort == "volume":
            key = -snap["volume_traded_today"]
        elif self.sort == "activity":
            key = -activity
        elif self.sort == "oi":
            key = -snap["open_interest"]
        elif self.sort == "change":
            key = -np.abs(_pct(snap))
        else:
            key = snap["token"].astype(np.int64)
        order = np.lexsort((snap["token"], key))[:self.top]
        return snap[order], activity[order]

    def ring_status(self) -> str:
        """One line: per feed slot the tail and the publish rate, then the readers' lag."""
        if self.ring is None:
            return ""
        from vega._ring import FEEDS
        now = time.monotonic()
        tails = {f: int(self.ring.tail(f)) for f in FEEDS}
        parts = []
        for f in FEEDS:
            if not tails[f]:
                continue
            rate = ""
            if self.prev_tails is not None and self.prev_t is not None and now > self.prev_t:
                rate = f" ({(tails[f] - self.prev_tails[f]) / (now - self.prev_t):,.0f}/s)"
            parts.append(f"{f} {tails[f]:,}{rate}")
        self.prev_tails, self.prev_t = tails, now
        rd = self.ring.readers()
        live = [r for r in rd if r.alive]
        lag = max((r.lag for r in live), default=0)
        laps = sum(r.laps for r in live)
        return (f"ring: {', '.join(parts) or 'no records yet'}; readers {len(live)} live"
                + (f", max lag {lag:,}, laps {laps:,}" if live else ""))

    def table(self) -> _Table | _Group:
        """The frame as a rich renderable."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text
        self.follow()
        rows, activity = self.rows()
        now = time.time_ns()
        hdr = self.store.header
        t = Table(title=f"VEGA watch: store {self.store.name} ({len(self.store):,} instruments, writer pid "
                        f"{_pid_text(hdr.get('writer_pid'))}), sorted by {self.sort}",
                  title_justify="left", expand=False, pad_edge=False)
        for name in ("token", "symbol"):
            t.add_column(name, justify="right" if name == "token" else "left", no_wrap=True)
        if hdr.get("segment") == _SEG_IDX:
            self._index_rows(t, rows, activity, now)
        else:
            self._price_rows(t, rows, activity, now)
        status = "\n".join(x for x in (self.ring_status(), self.notice) if x)
        return Group(t, Text(status)) if status else t

    def _index_rows(self, t: _Table, rows: npt.NDArray[np.void], activity: npt.NDArray[np.int64], now: int) -> None:
        """An index store's rows (the capture's <prefix>-idx): value, change, OHLC and the constituents' moves
        (vega.INDEX_DTYPE); it has no book, volume or open interest to show."""
        from rich.text import Text
        from vega.indices import INDEX_DTYPE
        for name in ("value", "chg", "chg%", "open", "high", "low", "close", "up", "down", "upd", "age"):
            t.add_column(name, justify="right", no_wrap=True)
        for r, x, act, pc in zip(rows, rows.view(INDEX_DTYPE), activity, _pct(rows)):
            chg = _change(r)
            style = "green" if chg > 0 else "red" if chg < 0 else ""
            last = int(r["last_update_ns"])
            t.add_row(str(int(r["token"])), bytes(r["symbol"]).decode("ascii", "replace").strip(),
                      fmt_paise(x["index_value"]), Text(f"{chg / 100:+,.2f}", style=style),
                      Text(f"{pc:+.2f}%", style=style), *(fmt_paise(x[k]) for k in ("open", "high", "low", "close")),
                      f"{int(x['upmoves']):,}", f"{int(x['downmoves']):,}", f"{int(act):,}",
                      fmt_age(now - last) if last else "-")

    def _price_rows(self, t: _Table, rows: npt.NDArray[np.void], activity: npt.NDArray[np.int64], now: int) -> None:
        """An instrument store's rows: LTP, change, best bid and ask, volume, OI (and IV with options)."""
        from rich.text import Text
        hdr = self.store.header
        iv = bool((rows["implied_volatility"] >= 0).any())    # options' IV (instruments loaded by the capture)
        seg = hdr.get("segment")
        seg = seg if seg in (SEG_FO, SEG_CM) else None          # (a store made without a segment: either)
        for name in ("LTP", "chg", "chg%", "bid qty", "bid", "ask", "ask qty", "volume", "OI") + (
                ("IV%",) if iv else ()) + ("upd", "age"):
            t.add_column(name, justify="right", no_wrap=True)
        pct = _pct(rows)
        for r, act, pc in zip(rows, activity, pct):
            ltp = int(r["last_traded_price"])
            chg = _change(r)
            style = "green" if chg > 0 else "red" if chg < 0 else ""
            last = int(r["last_update_ns"])
            t.add_row(str(int(r["token"])), self.label(r, seg), fmt_paise(ltp),
                      Text(f"{chg / 100:+,.2f}", style=style), Text(f"{pc:+.2f}%", style=style),
                      f"{int(r['bid_quantity'][0]):,}", fmt_paise(r["bid_price"][0]), fmt_paise(r["ask_price"][0]),
                      f"{int(r['ask_quantity'][0]):,}", f"{int(r['volume_traded_today']):,}",
                      f"{int(r['open_interest']):,}",
                      *((f"{r['implied_volatility'] / 100:.2f}" if r["implied_volatility"] >= 0 else "-",) if iv
                        else ()),
                      f"{int(act):,}", fmt_age(now - last) if last else "-")

    def label(self, r: np.void, seg: int | None = None) -> str:
        """A row's name: the store's symbol, or with the masters (``--contract`` / ``--security``) the
        contract's: ``NIFTY 27NOV26 24500 CE``, ``NIFTY 27NOV26 FUT``, ``RELIANCE EQ``.  ``seg``: the store's
        segment (SEG_FO / SEG_CM), None for either."""
        sym = bytes(r["symbol"]).decode("ascii", "replace").strip()
        if self.instruments is None:
            return sym
        try:
            ins = self.instruments.by_token(int(r["token"]), seg)
        except (KeyError, LookupError):
            return sym
        exp = ins.expiry
        if exp is None:
            return f"{ins.symbol} {ins.series}".strip()
        day = exp.strftime("%d%b%y").upper()
        if not ins.is_option:
            return f"{ins.symbol} {day} FUT"
        strike = f"{ins.strike / 100:.2f}".rstrip("0").rstrip(".")      # paise: 2450000 -> 24500
        return f"{ins.symbol} {day} {strike} {ins.option_type}"


def _change(r: np.void) -> int:
    """A row's change in paise: LTP (an index's value) - close when both are known, else what the feed sent."""
    ltp, close = int(r["last_traded_price"]), int(r["close_price"])
    return ltp - close if close > 0 and ltp > 0 else int(r["net_price_change"])


def _pct(snap: np.ndarray) -> np.ndarray:
    ltp = snap["last_traded_price"].astype(np.float64)
    close = snap["close_price"].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where((close > 0) & (ltp > 0), (ltp - close) / close * 100.0, 0.0)
    return p


def _broken_pipe() -> None:
    """The frames' reader is gone (``vega watch ... | head``): said to vega.cli, which ends quietly."""
    raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def run(args: argparse.Namespace) -> int:
    """Render frames until interrupted (or --once / --iterations N)."""
    try:
        from rich.console import Console
        from rich.live import Live
    except ImportError:
        raise CliError("needs rich, which is not installed: pip install 'vega[watch]'") from None
    tokens = parse_tokens(args.tokens)
    if args.top <= 0:
        raise CliError("--top must be positive")
    if not args.interval > 0:
        raise CliError("--interval must be positive")
    if args.iterations is not None and args.iterations <= 0:
        raise CliError("--iterations must be positive")
    frames = 1 if args.once else args.iterations
    instruments = load_masters(args.contract, args.security) if args.contract or args.security else None
    store = open_store(args.store)
    ring = open_ring(args.ring) if args.ring else None
    w = None
    try:
        tty = sys.stdout.isatty()
        console = Console(width=None if tty else 160, force_terminal=tty or None)
        # not rich's silent exit 1: vega.cli's quiet exit 0, as dump's (an attribute replacing rich's method for
        # this console alone, which rich calls as self.on_broken_pipe: so mypy's method-assign is no error here;
        # unused where rich is not installed: Console is Any then)
        console.on_broken_pipe = _broken_pipe  # type: ignore[method-assign, unused-ignore]
        w = Watch(store, ring, tokens, args.sort, args.top, store_name=args.store, ring_name=args.ring,
                  instruments=instruments)
        if not tty:   # scripts, pipes and files: plain frames one after another, each written out at once
            try:
                for i in itertools.count() if frames is None else range(frames):
                    if i:
                        time.sleep(args.interval)
                    console.print(w.table())
                    console.file.flush()
            except KeyboardInterrupt:
                if frames is not None:
                    raise
            return 0
        try:
            with Live(w.table(), console=console, auto_refresh=False, screen=False) as live:
                n = 1
                while frames is None or n < frames:
                    time.sleep(args.interval)
                    live.update(w.table(), refresh=True)
                    n += 1
        except KeyboardInterrupt:  # Ctrl-C is how an operator leaves the watch
            if frames is not None:
                raise
        return 0
    finally:
        for x in (w.ring, w.store) if w is not None else (ring, store):
            if x is not None and not x.closed:
                x.close()
