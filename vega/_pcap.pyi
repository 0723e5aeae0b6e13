"""Typing stubs for vega._pcap (the nogil walker of packet captures behind vega.pcap and `vega ingest`)."""
import numpy as np

from vega._core import FeedHandler

class PcapScanner:
    packets: int
    stopped: bool
    next_ts: int
    needs_more: bool
    latest_ns: int
    def __init__(self, buffer: object, path: str = "capture", partial: bool = False,
                 latest_ns: int | None = None) -> None: ...
    def refill(self, buffer: object, final: bool) -> None: ...
    @property
    def offset(self) -> int: ...
    @property
    def done(self) -> bool: ...
    def counts(self) -> tuple[int, dict[str, int], dict[str, int]]: ...
    def scan(self, ts: np.ndarray, dst: np.ndarray, port: np.ndarray, offset: np.ndarray, length: np.ndarray,
             stop_ns: int = ...) -> int: ...

def feed_selected(handler: FeedHandler, buffer: object, ts: np.ndarray, offset: np.ndarray, length: np.ndarray,
                  select: np.ndarray) -> int: ...
