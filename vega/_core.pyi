"""Typing stubs for vega._core (the compiled hot path)."""
from vega._journal import JournalWriter
from vega._ring import Ring
from vega.instruments import Instruments
from typing import Any, Iterable, Literal

Segment = Literal["CM", "FO"]
Message = dict[str, Any]

class Decoder:
    """A reusable decoder for one segment with its statistics."""
    def __init__(self, segment: Segment) -> None: ...
    @property
    def segment(self) -> Segment: ...
    def decode(self, datagram: bytes | bytearray | memoryview) -> list[Message]: ...
    def decode_batch(self, datagrams: Iterable[bytes]) -> int: ...
    @property
    def stats(self) -> dict[str, Any]: ...
    def reset_stats(self) -> None: ...

def decode(datagram: bytes | bytearray | memoryview, segment: Segment) -> list[Message]: ...

# ---- the consolidated store (vega/_store.pxi) ------------------------------------------------------------
import numpy as np
import numpy.typing as npt
from typing import Callable, Iterator, Mapping, Sequence

#: a token (or another integer argument): an int or a numpy integer (``operator.index``); a bool, numpy's bool
#: included, is refused at run time (``True`` is no token 1), as are floats and strings
Token = int | np.integer[Any]
#: an int of ns (epoch ns, or ns since 00:00 IST for ``ts_ns``); floats and bools are refused at run time
IntNs = int | np.integer[Any]
#: a duration in ns (a staleness window): an int, a numpy number or a float such as 5e9 (truncated), below 2**63;
#: bools are refused at run time
DurationNs = float | np.integer[Any] | np.floating[Any]
#: tokens: any iterable of them, e.g. a list or a numpy integer array (``store.tokens()[:10]``)
Tokens = Iterable[Token] | npt.NDArray[np.integer[Any]]

DEFAULT_DENSE_TOKENS: int
DEFAULT_STALE_NS: int
MAX_CAPACITY: int
JOURNAL_GRACE_NS: int   # ns before a journal's trading day that a receive time is still its day (stamped 00:00)
SHM_DIR: str

class Quote:
    """A consistent snapshot of one instrument (fields of vega.store.STORE_DTYPE)."""
    token: int
    segment: int
    net_change_indicator: str
    book_type: int
    trading_status: int
    last_update_source: int
    last_traded_price: int
    last_trade_quantity: int
    last_trade_time: int
    net_price_change: int
    volume_traded_today: int
    last_update_ns: int
    update_count: int
    average_trade_price: int
    fill_price: int
    fill_volume: int
    bid_price: tuple[int, int, int, int, int]
    ask_price: tuple[int, int, int, int, int]
    open_price: int
    high_price: int
    low_price: int
    close_price: int
    indicative_close_price: int
    bb_total_buy_flag: int
    bb_total_sell_flag: int
    bid_quantity: tuple[int, int, int, int, int]
    ask_quantity: tuple[int, int, int, int, int]
    total_buy_quantity: int
    total_sell_quantity: int
    bid_orders: tuple[int, int, int, int, int]
    ask_orders: tuple[int, int, int, int, int]
    market_type: int
    market_status: tuple[int, int, int, int]
    indicator: int
    mw_indicator: int
    mw_buy_volume: int
    mw_sell_volume: int
    mw_buy_price: int
    mw_sell_price: int
    mw_last_trade_price: int
    mw_last_trade_time: int
    open_interest: int
    oi_day_high: int
    oi_day_low: int
    implied_volatility: int
    data_quality: int
    valid: int
    subscribed: int
    buyback_active: int
    auction_number: int
    auction_status: int
    initiator_type: int
    initiator_price: int
    initiator_quantity: int
    auction_price: int
    auction_quantity: int
    buy_ord_cxl_count: int
    buy_ord_cxl_vol: int
    sell_ord_cxl_count: int
    sell_ord_cxl_vol: int
    spos_update_time: int
    bb_start_date: int
    pday_cum_vol: int
    cday_cum_vol: int
    pday_high_price: int
    pday_low_price: int
    pday_wt_avg: int
    cday_high_price: int
    cday_low_price: int
    cday_wt_avg: int
    bb_end_date: int
    symbol: str
    series: str
    last_md_ns: int
    @property
    def stale(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class Store:
    """The consolidated market-data store (one writer, lock-free readers in any process)."""
    name: str | None
    def __init__(self, capacity: Token, *, dense_tokens: Token = ..., stale_ns: DurationNs = ...) -> None: ...
    @classmethod
    def create(cls, name: str, capacity: Token, *, dense_tokens: Token = ..., stale_ns: DurationNs = ...) -> Store: ...
    @classmethod
    def open(cls, name: str) -> Store: ...
    @staticmethod
    def remove(name: str) -> None:
        """Remove the named store's file; nothing to do when there is none.  StoreBusyError while its writer
        lives in another process; the writer's own process may remove it."""
    def close(self) -> None: ...
    def unlink(self) -> None:
        """Store.remove(self.name)."""
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def writable(self) -> bool: ...
    @property
    def replaced(self) -> bool: ...
    @property
    def capacity(self) -> int: ...
    @property
    def stale_ns(self) -> int: ...
    @property
    def header(self) -> dict[str, int]: ...
    @property
    def memory_bytes(self) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, token: object) -> bool:
        """False for what is not an int or a numpy integer (a str, a float, a bool)."""
    def __iter__(self) -> Iterator[int]: ...
    def __getitem__(self, token: Token, /) -> Quote: ...
    def get(self, token: Token, default: Any = None) -> Quote | Any: ...
    def tokens(self) -> npt.NDArray[np.int32]: ...
    def ltp(self, token: Token) -> int: ...
    def depth(self, token: Token) -> dict[str, tuple[int, ...]]: ...
    def is_stale(self, token: Token, now_ns: IntNs | None = None) -> bool: ...
    def stale_tokens(self, now_ns: IntNs | None = None) -> npt.NDArray[np.int32]: ...
    @property
    def array(self) -> npt.NDArray[Any]: ...
    def snapshot(self, tokens: Tokens | None = None) -> npt.NDArray[Any]: ...
    def add(self, token: Token, symbol: str = "", series: str = "", segment: Segment | None = None,
            subscribed: bool = True) -> None: ...
    def subscribe(self, tokens: Token | Tokens, subscribed: bool = True) -> None: ...
    def load_instruments(self, instruments: Instruments, segment: Segment | None = None, *,
                         spot_store: Store | None = None, index_store: Store | None = None,
                         subscribed: bool = True) -> int:
        """Pre-populate from an instrument master; builds the option metadata of the merge's IV."""
    @property
    def n_options(self) -> int: ...
    def apply_records(self, records: npt.NDArray[Any] | bytes | bytearray | memoryview,
                      day_base_ns: IntNs | None = None) -> int: ...
    def keyframe_records(self, ts_ns: IntNs = 0) -> npt.NDArray[Any]: ...
    def new_day(self) -> int: ...

class FeedHandler:
    """Decode + merge + change records for one segment into a writable Store, in one nogil loop."""
    store: Store
    def __init__(self, segment: Segment | Literal["IDX"], store: Store, *,
                 on_records: Callable[[npt.NDArray[Any]], Any] | None = None,
                 md_stale_ns: DurationNs = 5_000_000_000, subscribed_only: bool = False, records: bool = True,
                 ring: Ring | None = None, journal: JournalWriter | None = None, rate: float = 0.10,
                 indices: FeedHandler | None = None, underlying: FeedHandler | None = None,
                 index_tokens: Mapping[str, int] | None = None) -> None: ...
    @property
    def segment(self) -> Literal["CM", "FO", "IDX"]: ...
    @property
    def indices(self) -> FeedHandler | None: ...
    @property
    def underlying(self) -> FeedHandler | None: ...
    def index_names(self) -> dict[int, str]: ...
    def index_token(self, name: str) -> int: ...
    @property
    def ring(self) -> Ring | None: ...
    @property
    def journal(self) -> JournalWriter | None: ...
    def close(self) -> None:
        """End the handler: later merging calls raise ValueError("the FeedHandler is closed")."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> FeedHandler: ...
    def __exit__(self, *exc: object) -> None: ...
    def poll(self) -> None: ...
    def detach_journal(self) -> JournalWriter | None: ...
    def attach_journal(self, journal: JournalWriter) -> None: ...
    def new_day(self) -> int: ...
    def checkpoint(self, ts_ns: IntNs | None = None) -> int: ...
    def process(self, datagram: bytes | bytearray | memoryview, now_ns: IntNs | None = None) -> int: ...
    def process_batch(self, datagrams: Iterable[bytes],
                      now_ns: IntNs | Sequence[int] | npt.NDArray[Any] | None = None) -> int: ...
    def merge_message(self, msg: Message, now_ns: IntNs | None = None) -> int: ...
    def merge_packed(self, packed: bytes, repeat: int = 1, now_ns: IntNs | None = None) -> int: ...
    @property
    def stats(self) -> dict[str, Any]: ...

def pack_messages(segment: Segment, msgs: Iterable[Message]) -> bytes: ...
