# cython: language_level=3
"""VEGA's hot path: NSE frame walk, LZO1Z, per-code decoders (and, later, the store and its merge)."""

include "_decode.pxi"
include "_store.pxi"

include "_feedbuf.pxi"                   # capperf prototype: FeedHandler fed from a C buffer (vega._net)
