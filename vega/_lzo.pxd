# cython: language_level=3
#
# vega._lzo — the LZO1Z codec contract.
#
# NSE compresses broadcast sub-packets with LZO1Z (PROTOCOL.md §6; format summary in docs/FORMATS.md "LZO1Z").
# The decompressor is a `cdef inline` function with its body HERE so that vega/_core.pyx can
#     from vega._lzo cimport lzo1z_decompress
# and have it inlined into its nogil decode loop (Cython calls across modules are otherwise indirect).
# The compressor lives in _lzo.pyx (it is not on the hot path) and is reached through a C function pointer.
#
# Safety contract of lzo1z_decompress: every read of src stays in [src, src + src_len), every write of dst in
# [dst, dst + dst_cap), every back-reference in [dst, op).  No input can break that; a bad stream returns a
# negative lzo1z_err.  The instruction decoding follows the LZO1Z format description (PROTOCOL.md §6.1):
#
#   byte t (the state s = how the previous instruction ended: 0 = a match with no trailing literals or the
#   stream start, 1..3 = that many literals, 4 = a literal run of >= 4)
#     first byte > 17       : t - 17 literals (s = their count if < 4 else 4)
#     t < 16, s == 0        : literal run of t + 3 bytes (t == 0: 18 + zero bytes * 255 + next byte)
#     t < 16, s == 4        : 3-byte match, distance 0x701 + (t << 6) + (b >> 2)
#     t < 16, s in 1..3     : 2-byte match, distance 1 + (t << 6) + (b >> 2)
#     64 <= t               : M2, length (t >> 5) + 1, distance 1 + ((t & 31) << 6) + (b >> 2), or the previous
#                             match's distance when (t & 31) >= 28 (no distance byte; trailing count in t & 3)
#     32 <= t < 64          : M3, length (t & 31) + 2 (extended when 0), distance 1 + (b0 << 6) + (b1 >> 2)
#     16 <= t < 32          : M4, length (t & 7) + 2 (extended when 0),
#                             distance 0x4000 + ((t & 8) << 11) + (b0 << 6) + (b1 >> 2); zero distance part = EOF
#   after every match: (last byte consumed) & 3 literals follow (0..3).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy


cdef extern from *:
    """
    #define VG_LZO_LIKELY(x) __builtin_expect(!!(x), 1)
    #define VG_LZO_UNLIKELY(x) __builtin_expect(!!(x), 0)
    """
    bint lzo_likely "VG_LZO_LIKELY"(bint x) noexcept nogil        # branch hints for the decompressor's layout
    bint lzo_unlikely "VG_LZO_UNLIKELY"(bint x) noexcept nogil


cdef enum lzo1z_err:                   # results < 0 of lzo1z_decompress / lzo1z_compress (liblzo's numbering)
    LZO1Z_OK = 0                       # (never returned: success returns the byte count >= 0)
    LZO1Z_E_ERROR = -1                 # invalid arguments (negative length, NULL buffer with a length)
    LZO1Z_E_NOMEM = -2                 # compressor: could not allocate its match-finder tables
    LZO1Z_E_INPUT_OVERRUN = -4         # the stream ends inside an instruction, a length or a literal run
    LZO1Z_E_OUTPUT_OVERRUN = -5        # the output would exceed dst_cap
    LZO1Z_E_LOOKBEHIND_OVERRUN = -6    # a match refers to bytes before the start of the output (or distance 0)
    LZO1Z_E_EOF_NOT_FOUND = -7         # the stream ends cleanly between instructions but without an EOF marker
    LZO1Z_E_INPUT_NOT_CONSUMED = -8    # bytes follow the EOF marker (trailing garbage)

cdef enum:
    LZO1Z_M2_MAX_OFFSET = 0x0700       # M2 (and 2-byte M1) distances are <= this; the 3-byte M1 starts above it
    LZO1Z_M3_MAX_OFFSET = 0x4000       # M3 distances are 1..0x4000
    LZO1Z_M4_MAX_OFFSET = 0xBFFF       # M4 distances are 0x4001..0xBFFF
    LZO1Z_SLACK = 16                   # wide copies move 8 or 16 bytes at a time; they need
                                       # this much room after the end
    LZO1Z_S_RUN = 4                    # decoder state after a literal run of >= 4 (0..3 = literals after a match)
    LZO1Z_IN_FAST = 8                  # fast path: more than this many input bytes left (an instruction without a
                                       # length extension reads <= 3 bytes, then its 0..3 literals as one 4-byte load)
    LZO1Z_OUT_FAST = 64                # fast path: more than this much output room (the widest fast write is 48 bytes)


cdef inline Py_ssize_t lzo1z_compress_bound(Py_ssize_t src_len) noexcept nogil:
    """Output capacity that lzo1z_compress never exceeds for src_len input bytes."""
    return src_len + src_len // 64 + 64


# Compress src[0:src_len] into dst[0:dst_cap] as one LZO1Z stream (with its EOF marker).  Returns the number of
# bytes written or LZO1Z_E_OUTPUT_OVERRUN / LZO1Z_E_NOMEM / LZO1Z_E_ERROR.  Allocates its own work memory.
# dst_cap >= lzo1z_compress_bound(src_len) always suffices.  Defined in _lzo.pyx.
cdef Py_ssize_t lzo1z_compress_c(const uint8_t* src, Py_ssize_t src_len, uint8_t* dst,
                                 Py_ssize_t dst_cap) noexcept nogil


cdef inline int _lzo1z_ext_len(const uint8_t** pip, const uint8_t* ip_end, Py_ssize_t* pt,
                               Py_ssize_t base) noexcept nogil:
    """The length of an instruction whose length field is 0: 255 per zero byte, then base + the first
    non-zero byte; advances *pip past them.  0, or -1 when the input ends first.  It does not compare the
    length with the output room: the caller's copy does (and for M4 a zero distance makes it the EOF marker
    whatever the length).  t <= 255 * src_len cannot overflow."""
    cdef const uint8_t* ip = pip[0]
    cdef Py_ssize_t t = 0
    while True:
        if ip >= ip_end:
            return -1
        if ip[0] != 0:
            break
        t += 255
        ip += 1
    pt[0] = t + base + ip[0]
    pip[0] = ip + 1
    return 0


cdef inline void _lzo1z_copy_short(uint8_t* op, const uint8_t* m, Py_ssize_t dist, Py_ssize_t n) noexcept nogil:
    """Fast-path copy of a match of n <= 8 bytes from m = op - dist (1 <= dist).  Writes up to 8 bytes from op
    (the caller guarantees the room) and reads only [m, op + 8)."""
    cdef uint64_t v
    cdef Py_ssize_t i
    if lzo_likely(dist >= 8):
        memcpy(op, m, 8)
    elif dist >= 4:
        memcpy(op, m, 4)                       # the second half reads bytes the first half wrote
        memcpy(op + 4, m + 4, 4)
    elif dist == 1:
        v = m[0] * <uint64_t>0x0101010101010101
        memcpy(op, &v, 8)
    else:
        for i in range(n):
            op[i] = m[i]


cdef inline void _lzo1z_copy_mid(uint8_t* op, const uint8_t* m, Py_ssize_t dist, Py_ssize_t n) noexcept nogil:
    """Fast-path copy of a match of n <= 48 bytes from m = op - dist (1 <= dist).  Writes up to 48 bytes from op
    (the caller guarantees the room) and reads only [m, op + 48)."""
    cdef uint64_t v
    cdef Py_ssize_t i
    if lzo_likely(dist >= 16):
        memcpy(op, m, 16)
        if n > 16:
            memcpy(op + 16, m + 16, 16)
            if n > 32:
                memcpy(op + 32, m + 32, 16)
    elif dist >= 8:
        i = 0
        while i < n:
            memcpy(op + i, m + i, 8)
            i += 8
    elif dist == 1:
        v = m[0] * <uint64_t>0x0101010101010101
        i = 0
        while i < n:
            memcpy(op + i, &v, 8)
            memcpy(op + i + 8, &v, 8)
            i += 16
    else:
        for i in range(n):
            op[i] = m[i]


cdef inline Py_ssize_t lzo1z_decompress(const uint8_t* src, Py_ssize_t src_len,
                                        uint8_t* dst, Py_ssize_t dst_cap) noexcept nogil:
    """Decompress one LZO1Z stream src[0:src_len] (no header) into dst[0:dst_cap].

    Returns the number of bytes written (>= 0) or a negative lzo1z_err.  Preconditions: src and dst do not
    overlap; src_len >= 0 and dst_cap >= 0 (negative values return LZO1Z_E_ERROR).  On error the content of
    dst[0:dst_cap] is unspecified (partially decoded).
    """
    cdef const uint8_t* ip = src
    cdef const uint8_t* ip_end
    cdef uint8_t* op = dst
    cdef uint8_t* op_end
    cdef const uint8_t* m
    cdef Py_ssize_t t, n, i
    cdef Py_ssize_t dist = 0           # distance of the current match
    cdef Py_ssize_t last_dist = 0      # distance of the previous match (M2 "repeat" form); 0 = none yet
    cdef uint64_t pattern              # dist == 1: the repeated byte in all 8 lanes
    cdef uint32_t b                    # last byte of the instruction: its low 2 bits = trailing literal count
    cdef Py_ssize_t s                  # 0 after a match with no literals / at start, 1..3 after that many literals,
                                       # LZO1Z_S_RUN after a literal run (of >= 4)
    cdef const uint8_t* ip_fast        # ip < ip_fast: more than LZO1Z_IN_FAST input bytes left (else = src: never)
    cdef uint8_t* op_fast              # op < op_fast: more than LZO1Z_OUT_FAST bytes of room (else = dst: never)
    cdef Py_ssize_t lits               # fast path: trailing literal count of a match

    if src_len < 0 or dst_cap < 0 or (src == NULL and src_len != 0) or (dst == NULL and dst_cap != 0):
        return LZO1Z_E_ERROR
    if src_len == 0:
        return LZO1Z_E_EOF_NOT_FOUND
    ip_end = src + src_len
    op_end = dst + dst_cap
    ip_fast = ip_end - LZO1Z_IN_FAST if src_len > LZO1Z_IN_FAST else src
    op_fast = op_end - LZO1Z_OUT_FAST if dst_cap > LZO1Z_OUT_FAST else dst

    s = 0
    if ip[0] > 17:
        # first byte > 17: a literal run without a separate length instruction
        n = ip[0] - 17
        ip += 1
        if n > ip_end - ip:
            return LZO1Z_E_INPUT_OVERRUN
        if n > op_end - op:
            return LZO1Z_E_OUTPUT_OVERRUN
        memcpy(op, ip, <size_t>n)
        op += n
        ip += n
        s = n if n < 4 else LZO1Z_S_RUN

    while True:
        # ---- fast path: far enough from both ends that an instruction without a length extension cannot run
        # off either buffer, so only the look-behind is checked; everything else goes to the careful path below.
        if lzo_likely(ip < ip_fast) and lzo_likely(op < op_fast):
            t = ip[0]
            if t >= 64:
                # M2 (or its repeat form): 3..8 bytes
                n = (t >> 5) + 1
                if (t & 31) >= 28:
                    dist = last_dist
                    b = <uint32_t>t
                    ip += 1
                else:
                    b = ip[1]
                    dist = 1 + ((t & 31) << 6) + (b >> 2)
                    ip += 2
                last_dist = dist
                if lzo_unlikely(<size_t>(dist - 1) >= <size_t>(op - dst)):
                    return LZO1Z_E_LOOKBEHIND_OVERRUN
                _lzo1z_copy_short(op, op - dist, dist, n)
                op += n
                lits = b & 3
                memcpy(op, ip, 4)
                op += lits
                ip += lits
                s = lits
                continue
            if t >= 32:
                if (t & 31) != 0:
                    # M3 without a length extension: 3..33 bytes
                    n = (t & 31) + 2
                    b = ip[2]
                    dist = 1 + (<Py_ssize_t>ip[1] << 6) + (b >> 2)
                    ip += 3
                    last_dist = dist
                    if lzo_unlikely(<size_t>(dist - 1) >= <size_t>(op - dst)):
                        return LZO1Z_E_LOOKBEHIND_OVERRUN
                    _lzo1z_copy_mid(op, op - dist, dist, n)
                    op += n
                    lits = b & 3
                    memcpy(op, ip, 4)
                    op += lits
                    ip += lits
                    s = lits
                    continue
            elif t >= 16:
                b = ip[2]
                dist = ((t & 8) << 11) + (<Py_ssize_t>ip[1] << 6) + (b >> 2)
                if (t & 7) != 0 and dist != 0:
                    # M4 without a length extension and not the EOF marker: 3..9 bytes
                    n = (t & 7) + 2
                    dist += 0x4000
                    ip += 3
                    last_dist = dist
                    if lzo_unlikely(dist > op - dst):
                        return LZO1Z_E_LOOKBEHIND_OVERRUN
                    _lzo1z_copy_mid(op, op - dist, dist, n)
                    op += n
                    lits = b & 3
                    memcpy(op, ip, 4)
                    op += lits
                    ip += lits
                    s = lits
                    continue
            elif s != 0:
                # M1: 2 bytes after 1..3 literals, 3 bytes after a literal run
                b = ip[1]
                ip += 2
                if s == LZO1Z_S_RUN:
                    dist = (1 + LZO1Z_M2_MAX_OFFSET) + (t << 6) + (b >> 2)
                    n = 3
                else:
                    dist = 1 + (t << 6) + (b >> 2)
                    n = 2
                last_dist = dist
                if lzo_unlikely(dist > op - dst):
                    return LZO1Z_E_LOOKBEHIND_OVERRUN
                _lzo1z_copy_short(op, op - dist, dist, n)
                op += n
                lits = b & 3
                memcpy(op, ip, 4)
                op += lits
                ip += lits
                s = lits
                continue
            elif t != 0 and ip_end - ip > 32:
                # literal run of 4..18 bytes (copied as 32)
                n = t + 3
                memcpy(op, ip + 1, 16)
                memcpy(op + 16, ip + 17, 16)
                op += n
                ip += 1 + n
                s = LZO1Z_S_RUN
                continue

        # ---- careful path: one instruction, every read and write checked
        if ip >= ip_end:
            return LZO1Z_E_EOF_NOT_FOUND
        t = ip[0]
        ip += 1

        if t < 16:
            if s == 0:
                # ---- literal run: t + 3 bytes, or 18 + 255 * zeros + next byte
                if t == 0 and _lzo1z_ext_len(&ip, ip_end, &t, 15) != 0:
                    return LZO1Z_E_INPUT_OVERRUN
                n = t + 3
                if ip_end - ip >= n + LZO1Z_SLACK and op_end - op >= n + LZO1Z_SLACK:
                    i = 0
                    while i < n:
                        memcpy(op + i, ip + i, 16)
                        i += 16
                else:
                    if n > ip_end - ip:
                        return LZO1Z_E_INPUT_OVERRUN
                    if n > op_end - op:
                        return LZO1Z_E_OUTPUT_OVERRUN
                    memcpy(op, ip, <size_t>n)
                op += n
                ip += n
                s = LZO1Z_S_RUN
                continue
            # ---- M1: a short match right after literals
            if ip >= ip_end:
                return LZO1Z_E_INPUT_OVERRUN
            b = ip[0]
            ip += 1
            if s == LZO1Z_S_RUN:
                dist = (1 + LZO1Z_M2_MAX_OFFSET) + (t << 6) + (b >> 2)
                n = 3
            else:
                dist = 1 + (t << 6) + (b >> 2)
                n = 2
        elif t >= 64:
            # ---- M2: length 3..8, distance <= 0x700 or the previous distance
            n = (t >> 5) + 1
            if (t & 31) >= 28:
                dist = last_dist
                b = <uint32_t>t
            else:
                if ip >= ip_end:
                    return LZO1Z_E_INPUT_OVERRUN
                b = ip[0]
                ip += 1
                dist = 1 + ((t & 31) << 6) + (b >> 2)
        elif t >= 32:
            # ---- M3: distance 1..0x4000
            t &= 31
            if t == 0 and _lzo1z_ext_len(&ip, ip_end, &t, 31) != 0:
                return LZO1Z_E_INPUT_OVERRUN
            n = t + 2
            if ip_end - ip < 2:
                return LZO1Z_E_INPUT_OVERRUN
            b = ip[1]
            dist = 1 + (<Py_ssize_t>ip[0] << 6) + (b >> 2)
            ip += 2
        else:
            # ---- M4: distance 0x4001..0xBFFF; a zero distance part is the EOF marker
            dist = (t & 8) << 11
            t &= 7
            if t == 0 and _lzo1z_ext_len(&ip, ip_end, &t, 7) != 0:
                return LZO1Z_E_INPUT_OVERRUN
            n = t + 2
            if ip_end - ip < 2:
                return LZO1Z_E_INPUT_OVERRUN
            b = ip[1]
            dist += (<Py_ssize_t>ip[0] << 6) + (b >> 2)
            ip += 2
            if dist == 0:
                if ip != ip_end:
                    return LZO1Z_E_INPUT_NOT_CONSUMED
                return op - dst
            dist += 0x4000

        # ---- copy the match (dist, n), then the 0..3 literals named by b & 3
        last_dist = dist
        if dist > op - dst or dist <= 0:
            return LZO1Z_E_LOOKBEHIND_OVERRUN
        m = op - dist
        if op_end - op >= n + LZO1Z_SLACK:
            if dist >= 16:
                i = 0
                while i < n:
                    memcpy(op + i, m + i, 16)
                    i += 16
            elif dist >= 8:
                i = 0
                while i < n:
                    memcpy(op + i, m + i, 8)
                    i += 8
            elif dist == 1:
                pattern = m[0] * <uint64_t>0x0101010101010101
                i = 0
                while i < n:
                    memcpy(op + i, &pattern, 8)
                    i += 8
            else:
                for i in range(n):
                    op[i] = m[i]
        else:
            if n > op_end - op:
                return LZO1Z_E_OUTPUT_OVERRUN
            for i in range(n):
                op[i] = m[i]
        op += n

        t = b & 3
        if t == 0:
            s = 0
            continue
        if ip_end - ip >= 4 and op_end - op >= 4:
            memcpy(op, ip, 4)
        else:
            if t > ip_end - ip:
                return LZO1Z_E_INPUT_OVERRUN
            if t > op_end - op:
                return LZO1Z_E_OUTPUT_OVERRUN
            for i in range(t):
                op[i] = ip[i]
        op += t
        ip += t
        s = t
