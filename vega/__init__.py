"""VEGA: a low-latency NSE (NNF) broadcast feed handler.

The public API is re-exported here; the compiled modules (``vega._core``, ``vega._ring``, ``vega._journal``)
are implementation details.
"""
from vega._core import Decoder, decode
from vega._lzo import LzoError, lzo1z_compress, lzo1z_decompress
from vega import nse
from vega._ring import (FEEDS, Reader, ReaderInfo, Ring, RingBusyError, RingError, RingFormatError,
                         RingLapped)
from vega.journal import Journal, JournalError, JournalWriter, export, replay, verify

__version__ = "0.1.0"

__all__ = ["Decoder", "decode", "LzoError", "lzo1z_compress", "lzo1z_decompress", "nse",
           "Journal", "JournalError", "JournalWriter", "export", "replay", "verify",
           "FEEDS", "Reader", "ReaderInfo", "Ring", "RingBusyError", "RingError", "RingFormatError", "RingLapped"]
