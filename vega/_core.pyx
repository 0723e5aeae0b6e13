# cython: language_level=3
"""VEGA's hot path: NSE frame walk, LZO1Z, per-code decoders (and, later, the store and its merge)."""

# The public classes of every extension module are declared @cython.binding(False): their methods are CPython
# method descriptors, which check ``self``.  With Cython's default (binding=True) a method called through
# the class with a wrong self, ``vega.Store.ltp(12345)`` for ``store.ltp(12345)``, ran with the int taken
# for a Store and crashed the interpreter (cython/cython#6127); now it raises TypeError.  The "clinic"
# signature format gives those descriptors a __text_signature__, so inspect.signature and help() still
# show their parameters.
cimport cython

include "_decode.pxi"
include "_store.pxi"

include "_feedbuf.pxi"                   # capperf prototype: FeedHandler fed from a C buffer (vega._net)
