# cython: language_level=3
# Included at the end of vega/_core.pyx (after _store.pxi): FeedHandler's entry point for datagrams that sit
# in a C buffer (the recvmmsg slots of vega._net.BatchReceiver), without a Python bytes object per datagram.
# vega._net cimports it (declared in _store_types.pxi).


cdef Py_ssize_t vg_feed_buffers(FeedHandler h, const uint8_t* const* ptrs, const Py_ssize_t* lens,
                                const int64_t* times_ns, Py_ssize_t n) except -1:
    """Decode and merge ``n`` datagrams (``ptrs[i]``, ``lens[i]`` bytes each) in one nogil loop, exactly as
    ``h.process_batch`` does for a list of bytes; returns the number of messages.

    ``times_ns``: NULL (one CLOCK_REALTIME read per datagram, like ``process_batch(..., now_ns=None)``) or
    ``n`` receive times in ns since the epoch (>= 0; e.g. the kernel's SO_TIMESTAMPNS stamps).  Call with the
    GIL held (the journal's rollover, checkpoints and the Python callback run after the loop); the caller
    owns the buffers and keeps them unchanged during the call.  ``n`` <= 0 does nothing."""
    cdef Py_ssize_t i
    cdef Py_ssize_t total = 0
    cdef vg_feed_t* f = &h._f
    cdef vg_decoder_t* dec = h._dec
    if n <= 0:
        return 0
    h._begin()                              # marks h and its linked handlers busy: _finish must follow
    try:
        with nogil:
            for i in range(n):
                _feed_set_time(f, vg_now_ns() if times_ns == NULL else times_ns[i])
                total += vg_decode_datagram(dec, ptrs[i], lens[i], _feed_sink, f)
                if f.buf.n - f.buf.flushed >= VG_SINK_FLUSH:
                    _feed_flush(f)
            _feed_flush(f)
    finally:
        h._finish()
    return total
