# cython: language_level=3
"""VEGA's own LZO1Z codec (NSE compresses broadcast sub-packets with LZO1Z, PROTOCOL.md §6).

The decompressor is ``lzo1z_decompress`` in ``_lzo.pxd`` (``cdef inline``, nogil, bounds-checked) so that
``vega._core`` inlines it into its decode loop; this module wraps it for Python and holds the compressor
(a hash-chain LZO1Z encoder with lazy matching, used by the simulator and the tests).  The stream format is
written down in docs/FORMATS.md ("LZO1Z").  python-lzo (GPL) is only a test/benchmark reference.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF

cdef extern from "Python.h":
    # raw forms (PyObject*, not object) so that the fresh bytes object can be shrunk in place
    PyObject* _bytes_new "PyBytes_FromStringAndSize"(const char* v, Py_ssize_t size) except NULL
    char* _bytes_data "PyBytes_AS_STRING"(PyObject* b) noexcept
    int _PyBytes_Resize(PyObject** b, Py_ssize_t newsize) except -1


class LzoError(ValueError):
    """A corrupt or unacceptable LZO1Z stream (or a compressor failure).

    ``code`` is the negative ``lzo1z_err`` value from ``vega/_lzo.pxd`` (liblzo's numbering) and ``reason``
    its short name, e.g. ``"lookbehind overrun"``.
    """

    def __init__(self, code, detail=""):
        self.code = int(code)
        self.detail = str(detail)
        self.reason = lzo1z_error_name(self.code)
        msg = f"LZO1Z error {self.code} ({self.reason})"
        if self.detail:
            msg += ": " + self.detail
        super().__init__(msg)

    def __reduce__(self):
        return (type(self), (self.code, self.detail))


_ERROR_NAMES = {
    LZO1Z_E_ERROR: "invalid argument",
    LZO1Z_E_NOMEM: "out of memory",
    LZO1Z_E_INPUT_OVERRUN: "input overrun",
    LZO1Z_E_OUTPUT_OVERRUN: "output overrun",
    LZO1Z_E_LOOKBEHIND_OVERRUN: "lookbehind overrun",
    LZO1Z_E_EOF_NOT_FOUND: "EOF marker not found",
    LZO1Z_E_INPUT_NOT_CONSUMED: "input not consumed",
}

_ERROR_DETAILS = {
    LZO1Z_E_INPUT_OVERRUN: "the stream ends inside an instruction or a literal run (truncated?)",
    LZO1Z_E_OUTPUT_OVERRUN: "the decompressed data is larger than max_out",
    LZO1Z_E_LOOKBEHIND_OVERRUN: "a match refers to data before the start of the output",
    LZO1Z_E_EOF_NOT_FOUND: "the stream ends without its EOF marker (11 00 00)",
    LZO1Z_E_INPUT_NOT_CONSUMED: "bytes follow the EOF marker",
}


def lzo1z_error_name(int code) -> str:
    """Short name of an ``lzo1z_err`` code (``-6`` -> ``"lookbehind overrun"``)."""
    return _ERROR_NAMES.get(code, "unknown error")


# ----------------------------------------------------------------------------------------------------------
# Python API (def wrappers; the C entry points are lzo1z_decompress / lzo1z_compress_c, see _lzo.pxd)
# ----------------------------------------------------------------------------------------------------------

cdef enum:
    _NOGIL_MIN_INPUT = 2048            # lzo1z_decompress(): release the GIL from this input size up


def _py_lzo1z_decompress(const uint8_t[::1] data not None, Py_ssize_t max_out=65535):
    """lzo1z_decompress(data, max_out=65535) -> bytes

    Decompress one raw LZO1Z stream (no python-lzo/lzop header), as found in an NSE sub-packet after its
    2-byte ``iCompLen``.  ``data`` is any contiguous bytes-like object.  The output may be at most
    ``max_out`` bytes.  Raises ``LzoError`` (a ``ValueError``) naming the problem if the stream is corrupt,
    truncated, has trailing bytes after its EOF marker, or decompresses to more than ``max_out`` bytes.
    """
    cdef Py_ssize_t n = data.shape[0]
    cdef const uint8_t* src = &data[0] if n > 0 else NULL
    cdef Py_ssize_t r
    cdef uint8_t* dst
    if max_out < 0:
        raise ValueError(f"max_out must be >= 0, got {max_out}")
    cdef PyObject* raw = _bytes_new(NULL, max_out)
    dst = <uint8_t*>_bytes_data(raw)
    # a typical NSE sub-packet (~200 compressed bytes) decodes in ~150 ns, less than releasing and retaking the
    # GIL costs; let other threads run only when the work is larger
    if n >= _NOGIL_MIN_INPUT:
        with nogil:
            r = lzo1z_decompress(src, n, dst, max_out)
    else:
        r = lzo1z_decompress(src, n, dst, max_out)
    if r < 0:
        Py_DECREF(<object>raw)
        raise LzoError(<int>r, _ERROR_DETAILS.get(r, ""))
    return _finish(raw, r, max_out)


cdef object _finish(PyObject* raw, Py_ssize_t size, Py_ssize_t cap):
    """Shrink a fresh bytes object (refcount 1) to size in place and hand its reference to Python."""
    if size != cap:
        _PyBytes_Resize(&raw, size)          # on failure raw is freed and set to NULL, and we raise
    out = <object>raw
    Py_DECREF(out)
    return out


def _py_lzo1z_compress(const uint8_t[::1] data not None):
    """lzo1z_compress(data) -> bytes

    Compress ``data`` (any contiguous bytes-like object) into one raw LZO1Z stream ending with the EOF
    marker ``11 00 00`` and no header, readable by ``lzo1z_decompress``, liblzo2's ``lzo1z_decompress_safe``
    and ``lzo.decompress(..., False, n, algorithm="LZO1Z")``.  Hash-chain match finder with lazy matching;
    uses every LZO1Z instruction form including M2 "repeat last distance".
    """
    cdef Py_ssize_t n = data.shape[0]
    cdef const uint8_t* src = &data[0] if n > 0 else NULL
    cdef Py_ssize_t cap = lzo1z_compress_bound(n)
    cdef Py_ssize_t r
    cdef uint8_t* dst
    cdef PyObject* raw = _bytes_new(NULL, cap)
    dst = <uint8_t*>_bytes_data(raw)
    with nogil:
        r = lzo1z_compress_c(src, n, dst, cap)
    if r < 0:
        Py_DECREF(<object>raw)
        if r == LZO1Z_E_NOMEM:
            raise MemoryError("lzo1z_compress: cannot allocate the match finder")
        raise LzoError(<int>r, "compressor failure")
    return _finish(raw, r, cap)


def _bench_decompress_many(const uint8_t[::1] buf not None, const int64_t[::1] offsets not None,
                           const int64_t[::1] lengths not None, Py_ssize_t rounds=1,
                           Py_ssize_t max_out=65535):
    """Benchmark helper: decompress every stream ``buf[offsets[k]:offsets[k] + lengths[k]]`` ``rounds``
    times in one nogil C loop (what vega._core does per sub-packet) and return the total output bytes.
    Raises ``LzoError`` on the first corrupt stream.  Not public API."""
    cdef Py_ssize_t k, rnd, r = 0, total = 0
    cdef Py_ssize_t nmsg = offsets.shape[0]
    cdef Py_ssize_t nbuf = buf.shape[0]
    cdef const uint8_t* base = &buf[0] if nbuf > 0 else NULL
    cdef uint8_t* out
    if lengths.shape[0] != nmsg:
        raise ValueError("offsets and lengths differ in length")
    for k in range(nmsg):
        if offsets[k] < 0 or lengths[k] < 0 or offsets[k] + lengths[k] > nbuf:
            raise ValueError(f"stream {k} lies outside buf")
    if max_out < 0 or rounds < 0:
        raise ValueError("max_out and rounds must be >= 0")
    out = <uint8_t*>malloc(max_out if max_out > 0 else 1)
    if out == NULL:
        raise MemoryError()
    try:
        with nogil:
            for rnd in range(rounds):
                for k in range(nmsg):
                    r = lzo1z_decompress(base + offsets[k], lengths[k], out, max_out)
                    if r < 0:
                        break
                    total += r
                if r < 0:
                    break
    finally:
        free(out)
    if r < 0:
        raise LzoError(<int>r, f"stream {k}")
    return total


# ----------------------------------------------------------------------------------------------------------
# Compressor
# ----------------------------------------------------------------------------------------------------------

cdef enum:
    _MIN_HASH_BITS = 8
    _MAX_HASH_BITS = 15
    _MAX_CHAIN = 64                    # candidates examined per position (ratio vs speed)
    _NICE_LEN = 256                    # stop searching once a match this long is found
    _M1_MIN = LZO1Z_M2_MAX_OFFSET + 1  # 3-byte M1 (right after a literal run) distances 0x701..0xB00
    _M1_MAX = LZO1Z_M2_MAX_OFFSET + 0x400


cdef struct _enc_t:                    # compressor state
    const uint8_t* src                 # input
    Py_ssize_t n                       # input length
    uint8_t* op                        # next output byte
    uint8_t* op_end                    # end of the output buffer
    uint8_t* state_byte                # last byte of the previous match (low 2 bits = trailing literals); NULL at start
    uint8_t* out                       # start of the output
    Py_ssize_t last_dist               # distance of the previous match (for M2 "repeat")


cdef inline uint32_t _hash3(const uint8_t* p, int bits) noexcept nogil:
    cdef uint32_t v = p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16)
    return (v * <uint32_t>2654435761U) >> (32 - bits)


cdef inline Py_ssize_t _match_len(const uint8_t* a, const uint8_t* b, Py_ssize_t max_len) noexcept nogil:
    """Length of the common prefix of a and b, at most max_len (8 bytes at a time, then bytes)."""
    cdef Py_ssize_t k = 0
    cdef uint64_t x, y
    while k + 8 <= max_len:
        memcpy(&x, a + k, 8)
        memcpy(&y, b + k, 8)
        if x != y:
            break
        k += 8
    while k < max_len and a[k] == b[k]:
        k += 1
    return k


cdef inline Py_ssize_t _ext_len(Py_ssize_t x) noexcept nogil:
    """Bytes taken by a length extension of x >= 1 (zeros for 255 each, then the remainder)."""
    return (x - 1) // 255 + 1


cdef inline Py_ssize_t _match_cost(Py_ssize_t length, Py_ssize_t dist, Py_ssize_t last_dist,
                                   Py_ssize_t pending) noexcept nogil:
    """Output bytes of the instruction(s) _emit_match would write for (length, dist) after `pending` literals."""
    if dist == last_dist:
        if length <= 8:
            return 1
        if length <= 16:
            return 2
    if length == 3 and pending >= 4 and _M1_MIN <= dist <= _M1_MAX:
        return 2
    if length <= 8 and dist <= LZO1Z_M2_MAX_OFFSET:
        return 2
    if dist <= LZO1Z_M3_MAX_OFFSET:
        return 3 if length <= 33 else 3 + _ext_len(length - 33)
    return 3 if length <= 9 else 3 + _ext_len(length - 9)


cdef inline void _put_ext(_enc_t* e, Py_ssize_t x) noexcept nogil:
    while x > 255:
        e.op[0] = 0
        e.op += 1
        x -= 255
    e.op[0] = <uint8_t>x
    e.op += 1


cdef inline int _emit_literals(_enc_t* e, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    """Write the literals src[start:end] (length L): in the previous match's state bits when L <= 3, else as
    a literal run (the stream's first run uses the short 17 + L form when L <= 238)."""
    cdef Py_ssize_t L = end - start
    if L == 0:
        return 0
    if e.op_end - e.op < L + _ext_len(L) + 2:
        return LZO1Z_E_OUTPUT_OVERRUN
    if e.state_byte == NULL and L <= 238:
        e.op[0] = <uint8_t>(17 + L)
        e.op += 1
    elif L <= 3:
        e.state_byte[0] |= <uint8_t>L
    elif L <= 18:
        e.op[0] = <uint8_t>(L - 3)
        e.op += 1
    else:
        e.op[0] = 0
        e.op += 1
        _put_ext(e, L - 18)
    memcpy(e.op, e.src + start, <size_t>L)
    e.op += L
    return 0


cdef inline int _emit_one(_enc_t* e, Py_ssize_t length, Py_ssize_t dist, Py_ssize_t pending) noexcept nogil:
    """Write one match instruction (3 <= length; the caller splits repeats longer than 8)."""
    cdef Py_ssize_t d
    if e.op_end - e.op < 4 + _ext_len(length):
        return LZO1Z_E_OUTPUT_OVERRUN
    if dist == e.last_dist and length <= 8:
        e.op[0] = <uint8_t>(((length - 1) << 5) | 0x1c)     # M2, repeat the previous distance
        e.op += 1
    elif length == 3 and pending >= 4 and _M1_MIN <= dist <= _M1_MAX:
        d = dist - _M1_MIN                                  # 3-byte M1 after a literal run
        e.op[0] = <uint8_t>(d >> 6)
        e.op[1] = <uint8_t>((d & 63) << 2)
        e.op += 2
    elif length <= 8 and dist <= LZO1Z_M2_MAX_OFFSET:
        d = dist - 1                                        # M2
        e.op[0] = <uint8_t>(((length - 1) << 5) | (d >> 6))
        e.op[1] = <uint8_t>((d & 63) << 2)
        e.op += 2
    elif dist <= LZO1Z_M3_MAX_OFFSET:
        d = dist - 1                                        # M3
        if length - 2 <= 31:
            e.op[0] = <uint8_t>(32 | (length - 2))
            e.op += 1
        else:
            e.op[0] = 32
            e.op += 1
            _put_ext(e, length - 33)
        e.op[0] = <uint8_t>(d >> 6)
        e.op[1] = <uint8_t>((d & 63) << 2)
        e.op += 2
    else:
        d = dist - 0x4000                                   # M4 (1 <= d <= 0x7fff; d == 0 would be EOF)
        if length - 2 <= 7:
            e.op[0] = <uint8_t>(16 | ((d >> 11) & 8) | (length - 2))
            e.op += 1
        else:
            e.op[0] = <uint8_t>(16 | ((d >> 11) & 8))
            e.op += 1
            _put_ext(e, length - 9)
        e.op[0] = <uint8_t>((d >> 6) & 0xff)
        e.op[1] = <uint8_t>((d & 63) << 2)
        e.op += 2
    e.state_byte = e.op - 1
    e.last_dist = dist
    return 0


cdef inline int _emit_match(_enc_t* e, Py_ssize_t length, Py_ssize_t dist, Py_ssize_t pending) noexcept nogil:
    cdef int r
    cdef Py_ssize_t a
    if dist == e.last_dist and 8 < length <= 16:
        a = length // 2                                     # two 1-byte repeats beat one 3-byte M3
        r = _emit_one(e, a, dist, pending)
        if r < 0:
            return r
        return _emit_one(e, length - a, dist, 0)
    return _emit_one(e, length, dist, pending)


cdef inline Py_ssize_t _find(const uint8_t* src, Py_ssize_t n, Py_ssize_t i, const int32_t* chain_prev,
                             int32_t cand, Py_ssize_t last_dist, Py_ssize_t pending,
                             Py_ssize_t* best_dist) noexcept nogil:
    """Best match at src[i:] by gain (length - cost): the repeat distance, then the hash chain from `cand`.
    Returns the length (0 = none worth taking) and sets best_dist."""
    cdef Py_ssize_t max_len = n - i
    cdef Py_ssize_t best_len = 0, best_gain = 0, length, gain, dist
    cdef int chain = _MAX_CHAIN
    best_dist[0] = 0
    if last_dist > 0 and last_dist <= i:
        length = _match_len(src + i, src + i - last_dist, max_len)
        if length >= 3:
            best_gain = length - _match_cost(length, last_dist, last_dist, pending)
            best_len = length
            best_dist[0] = last_dist
    while cand >= 0 and chain > 0:
        dist = i - cand
        if dist > LZO1Z_M4_MAX_OFFSET:
            break
        chain -= 1
        if best_len < max_len and src[cand + best_len] == src[i + best_len]:
            length = _match_len(src + i, src + cand, max_len)
            if length >= 3:
                gain = length - _match_cost(length, dist, last_dist, pending)
                if gain > best_gain or (gain == best_gain and length > best_len):
                    best_gain = gain
                    best_len = length
                    best_dist[0] = dist
                    if length >= _NICE_LEN or length == max_len:
                        break
        cand = chain_prev[cand]
    if best_gain <= 0:
        return 0
    return best_len


cdef Py_ssize_t lzo1z_compress_c(const uint8_t* src, Py_ssize_t src_len, uint8_t* dst,
                                 Py_ssize_t dst_cap) noexcept nogil:
    cdef _enc_t e
    cdef int bits = _MIN_HASH_BITS
    cdef int32_t* head
    cdef int32_t* chain_prev
    cdef Py_ssize_t i, j, lit_start, length, dist, length2, dist2, gain, gain2, insert_to
    cdef uint32_t h
    cdef int r = 0

    if src_len < 0 or dst_cap < 0 or (src == NULL and src_len != 0) or (dst == NULL and dst_cap != 0):
        return LZO1Z_E_ERROR
    if src_len > 0x7fffffff:
        return LZO1Z_E_ERROR                                # positions are int32 in the chains
    while bits < _MAX_HASH_BITS and (1 << bits) < src_len:
        bits += 1
    head = <int32_t*>malloc(sizeof(int32_t) * ((1 << bits) + src_len + 1))
    if head == NULL:
        return LZO1Z_E_NOMEM
    chain_prev = head + (1 << bits)
    for j in range(1 << bits):
        head[j] = -1

    e.src = src
    e.n = src_len
    e.out = dst
    e.op = dst
    e.op_end = dst + dst_cap
    e.state_byte = NULL
    e.last_dist = 0

    lit_start = 0
    i = 0
    insert_to = 0                                           # positions < insert_to are in the hash chains
    length = 0
    dist = 0
    while i + 3 <= src_len:
        # insert every position up to i, then search at i
        while insert_to <= i:
            h = _hash3(src + insert_to, bits)
            chain_prev[insert_to] = head[h]
            head[h] = <int32_t>insert_to
            insert_to += 1
        length = _find(src, src_len, i, chain_prev, chain_prev[i], e.last_dist, i - lit_start, &dist)
        if length == 0:
            i += 1
            continue
        # lazy matching: a better match one byte later wins (the byte at i becomes a literal)
        while length < _NICE_LEN and i + 4 <= src_len:
            h = _hash3(src + i + 1, bits)
            chain_prev[i + 1] = head[h]
            head[h] = <int32_t>(i + 1)
            insert_to = i + 2
            length2 = _find(src, src_len, i + 1, chain_prev, chain_prev[i + 1], e.last_dist,
                            i + 1 - lit_start, &dist2)
            if length2 == 0:
                break
            gain = length - _match_cost(length, dist, e.last_dist, i - lit_start)
            gain2 = length2 - _match_cost(length2, dist2, e.last_dist, i + 1 - lit_start)
            if gain2 <= gain:
                break
            i += 1
            length = length2
            dist = dist2
        r = _emit_literals(&e, lit_start, i)
        if r < 0:
            break
        r = _emit_match(&e, length, dist, i - lit_start)
        if r < 0:
            break
        i += length
        lit_start = i
    if r == 0:
        # hash the tail of the last match is not needed any more; flush literals and the EOF marker
        r = _emit_literals(&e, lit_start, src_len)
    free(head)
    if r < 0:
        return r
    if e.op_end - e.op < 3:
        return LZO1Z_E_OUTPUT_OVERRUN
    e.op[0] = 0x11                                          # EOF: M4 with a zero distance
    e.op[1] = 0
    e.op[2] = 0
    e.op += 3
    return e.op - dst


# Public Python names (the C-level names lzo1z_decompress / lzo1z_compress_c are the cimport contract).
_py_lzo1z_decompress.__name__ = _py_lzo1z_decompress.__qualname__ = "lzo1z_decompress"
_py_lzo1z_compress.__name__ = _py_lzo1z_compress.__qualname__ = "lzo1z_compress"
globals()["lzo1z_decompress"] = _py_lzo1z_decompress
globals()["lzo1z_compress"] = _py_lzo1z_compress
