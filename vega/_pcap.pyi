"""Typing stubs for vega._pcap (the nogil walker of packet captures behind vega.pcap and `vega ingest`)."""
from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

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
    def scan(self, ts: npt.NDArray[Any], dst: npt.NDArray[Any], port: npt.NDArray[Any], offset: npt.NDArray[Any],
             length: npt.NDArray[Any], stop_ns: int = ...) -> int: ...

def feed_selected(handler: FeedHandler, buffer: object, ts: npt.NDArray[Any], offset: npt.NDArray[Any],
                  length: npt.NDArray[Any], select: npt.NDArray[Any]) -> int: ...
def feed_runs(handlers: Sequence[FeedHandler], buffer: object, ts: npt.NDArray[Any], offset: npt.NDArray[Any],
              length: npt.NDArray[Any], feed: npt.NDArray[Any]) -> int: ...
