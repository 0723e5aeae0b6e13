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
                total += vg_decode_datagram(dec, ptrs[i], lens[i], _feed_sink, _feed_skipped, f)
                if f.buf.n - f.buf.flushed >= VG_SINK_FLUSH:
                    _feed_flush(f)
            _feed_flush(f)
    finally:
        h._finish()
    return total


cdef enum:
    VG_MIX_MAX = 8                          # handlers of one vg_feed_mixed call


cdef inline void _feed_settle(vg_feed_t* f) noexcept nogil:
    """Merge the message f holds back (_feed_sink's look-ahead), so that what another handler merges next comes
    after it.  The feeds f routes to (index, open interest) hold nothing back: _feed_route merges at once."""
    if f.pend != NULL:
        _feed_merge_pending(f)


cdef Py_ssize_t vg_feed_mixed(tuple handlers, const int16_t* who, const uint8_t* const* ptrs,
                              const Py_ssize_t* lens, const int64_t* times_ns, Py_ssize_t n) except -1:
    """Decode and merge ``n`` datagrams of several handlers in capture order in one nogil loop: datagram ``i``
    (``ptrs[i]``, ``lens[i]`` bytes, received at ``times_ns[i]`` ns since the epoch) goes to
    ``handlers[who[i]]`` (0 <= who[i] < len(handlers) <= 8: the caller checks).  Where the handler changes,
    the one before merges the message it holds back, so that a handler merging into another's store (F&O
    open interest into CM, ``underlying=``) writes there in capture order, as a run of calls of
    vg_feed_buffers would, without their per-call work (the handlers' checks, marks and after-batch work are
    done once, for the union of their groups).  Call with the GIL held; returns the number of messages."""
    cdef Py_ssize_t i, total = 0
    cdef int k, prev = -1, j, nh = len(handlers)
    cdef vg_feed_t* fs[VG_MIX_MAX]
    cdef vg_decoder_t* decs[VG_MIX_MAX]
    cdef vg_feed_t* f
    cdef FeedHandler h, first
    if n <= 0:
        return 0
    if not 0 < nh <= VG_MIX_MAX:
        raise ValueError(f"vg_feed_mixed: 1 to {VG_MIX_MAX} handlers, not {nh}")
    group = []
    for j in range(nh):
        h = <FeedHandler?>handlers[j]
        h._check_usable()
        fs[j] = &h._f
        decs[j] = h._dec
        for g in h._group():
            if not any(g is x for x in group):
                group.append(g)
    first = <FeedHandler>handlers[0]
    first._begin(group)                     # marks every handler of the group busy: _finish must follow
    try:
        with nogil:
            for i in range(n):
                k = who[i]
                f = fs[k]
                if k != prev:
                    if prev >= 0:
                        _feed_settle(fs[prev])
                    prev = k
                _feed_set_time(f, times_ns[i])
                total += vg_decode_datagram(decs[k], ptrs[i], lens[i], _feed_sink, _feed_skipped, f)
                if f.buf.n - f.buf.flushed >= VG_SINK_FLUSH:
                    _feed_flush(f)
            for j in range(nh):
                _feed_flush(fs[j])
    finally:
        first._finish(group)
    return total
