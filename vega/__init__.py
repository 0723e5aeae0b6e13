"""VEGA: a low-latency NSE (NNF) broadcast feed handler.

The public API is re-exported here; the compiled modules (``vega._core``, ``vega._ring``, ``vega._journal``)
are implementation details.
"""
from vega._core import Decoder, FeedHandler, Quote, Store, decode, pack_messages
from vega._lzo import LzoError, lzo1z_compress, lzo1z_decompress
from vega import nse
from vega.store import STORE_DTYPE, StoreBusyError, StoreError, StoreFormatError, StoreFullError
from vega._ring import (FEEDS, Reader, ReaderInfo, Ring, RingBusyError, RingError, RingFormatError,
                         RingLapped, RingReplaced, RingUnregisteredWarning)
from vega.journal import Journal, JournalError, JournalWriter, export, replay, verify
from vega._iv import (IV_STATUS_ABOVE, IV_STATUS_BELOW, IV_STATUS_INPUT, IV_STATUS_NAMES, IV_STATUS_NOCONV,
                      IV_STATUS_OK, black76_price, black76_price_array, expiry_to_unix, implied_volatility,
                      implied_volatility_array, implied_volatility_status, parity_forward, select_forward,
                      time_to_expiry, time_to_expiry_array)
from vega.instruments import InstrumentFileError, Instruments, write_contract_file, write_security_file
from vega.indices import INDEX_DTYPE, IndexMasterError, index_token, load_index_master

from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: the modules ``import vega`` does not load (the capture, its CLI, pcap reading, the simulator): imported on
#: first use, so ``vega.pcap.udp_datagrams(...)`` works after a plain ``import vega``
_LAZY_SUBMODULES = ("capture", "cli", "pcap", "simulator")

if TYPE_CHECKING:
    # what __getattr__ gives, as type checkers see it: the typed modules.  __getattr__ itself is hidden from them,
    # for an untyped module __getattr__ made every other name, a misspelled vega.Stroe too, Any under mypy --strict
    from vega import capture, cli, pcap, simulator
else:
    def __getattr__(name):
        if name in _LAZY_SUBMODULES:
            import importlib
            return importlib.import_module(f"vega.{name}")
        raise AttributeError(f"module 'vega' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))

__all__ = ["Decoder", "decode", "FeedHandler", "Quote", "Store", "pack_messages", "STORE_DTYPE",
           "StoreBusyError", "StoreError", "StoreFormatError", "StoreFullError",
           "LzoError", "lzo1z_compress", "lzo1z_decompress", "nse",
           "Journal", "JournalError", "JournalWriter", "export", "replay", "verify",
           "FEEDS", "Reader", "ReaderInfo", "Ring", "RingBusyError", "RingError", "RingFormatError", "RingLapped",
           "RingReplaced", "RingUnregisteredWarning",
           "black76_price", "black76_price_array", "expiry_to_unix", "implied_volatility",
           "implied_volatility_array", "implied_volatility_status", "parity_forward", "select_forward",
           "time_to_expiry", "time_to_expiry_array", "IV_STATUS_OK", "IV_STATUS_INPUT", "IV_STATUS_BELOW",
           "IV_STATUS_ABOVE", "IV_STATUS_NOCONV", "IV_STATUS_NAMES",
           "InstrumentFileError", "Instruments", "write_contract_file", "write_security_file",
           "INDEX_DTYPE", "IndexMasterError", "index_token", "load_index_master"]
