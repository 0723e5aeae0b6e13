"""The 32-byte change record carried by the ring and the journal, as a numpy dtype.

Mirrors ``vg_rec_t`` in ``vega/_core.pxd`` (little-endian, packed, 32 bytes); docs/FORMATS.md is normative.
``ts48`` (ns since 00:00 IST of the trading day) is split in two little-endian words so numpy can read it
without unaligned 6-byte arithmetic: ``ts = ts_lo | ts_hi << 32`` (see :func:`timestamps`).
"""
import numpy as np

CHANGE_RECORD_DTYPE = np.dtype(
    {
        "names": ["token", "ts_lo", "ts_hi", "group", "flags", "mask", "source", "slots"],
        "formats": ["<u4", "<u4", "<u2", "u1", "u1", "<u2", "<u2", ("<i4", (4,))],
        "offsets": [0, 4, 8, 10, 11, 12, 14, 16],
        "itemsize": 32,
    }
)

#: flags bits
CONTINUED = 0x01   # more records of the same store update follow
KEYFRAME = 0x02    # part of a full-state checkpoint, not a live change
CHECKPOINT_END = 0x04   # the last record of a journal checkpoint (a run of KEYFRAME records)

RECORD_SIZE = 32


def timestamps(records: np.ndarray) -> np.ndarray:
    """ts48 of each record as int64 nanoseconds since 00:00 IST of the trading day."""
    return records["ts_lo"].astype(np.int64) | (records["ts_hi"].astype(np.int64) << 32)


def set_timestamps(records: np.ndarray, ts_ns) -> None:
    """Store int64 ns timestamps (0 <= ts < 2**48) into ``records`` in place."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    if np.any(ts < 0) or np.any(ts >= 1 << 48):
        raise ValueError("ts48 must be in [0, 2**48) ns")
    records["ts_lo"] = (ts & 0xFFFFFFFF).astype(np.uint32)
    records["ts_hi"] = (ts >> 32).astype(np.uint16)
