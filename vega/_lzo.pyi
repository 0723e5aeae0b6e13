"""Typing stubs for vega._lzo (VEGA's LZO1Z codec)."""
from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

import numpy as np
import numpy.typing as npt

class LzoError(ValueError):
    """A corrupt or unacceptable LZO1Z stream; ``code`` is the negative lzo1z_err, ``reason`` its name."""

    code: int
    reason: str
    detail: str
    def __init__(self, code: int, detail: str = "") -> None: ...

def lzo1z_error_name(code: int) -> str: ...
def lzo1z_decompress(data: Buffer, max_out: int = 65535) -> bytes:
    """Decompress one raw LZO1Z stream; raises LzoError on a corrupt stream or output above max_out."""

def lzo1z_compress(data: Buffer) -> bytes:
    """Compress into one raw LZO1Z stream (no header, EOF marker 11 00 00)."""

def _bench_decompress_many(
    buf: Buffer,
    offsets: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    rounds: int = 1,
    max_out: int = 65535,
) -> int: ...
