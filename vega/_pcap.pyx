# cython: language_level=3
"""The packet-capture walker behind :mod:`vega.pcap` and ``vega ingest``: classic pcap and pcapng read in one
nogil loop from the mapped file, without a Python object per packet.

``PcapScanner(buffer, path)`` walks a capture held in ``buffer`` (a read-only mapping of the file) and fills
arrays with the time, destination and payload position of every whole, unfragmented IPv4/UDP datagram;
everything else is counted by reason (a datagram stamped later than the scanner's ``latest_ns`` too: a
recorded packet cannot come from the future, so such a time is damage).  ``feed_selected`` hands some of
those datagrams, straight from the mapping, to a :class:`vega._core.FeedHandler`'s nogil loop; ``feed_runs``
hands them to several handlers in capture order, one call per run of one handler's.  The formats,
link types and counting rules are those documented in :mod:`vega.pcap`, which wraps this module.
"""
cimport cython                           # @cython.binding(False) on the classes: see vega/_core.pyx
from libc.stdint cimport INT64_MAX, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc

from vega._core cimport FeedHandler, vg_feed_buffers, vg_feed_mixed

cdef extern from *:
    """
    typedef unsigned __int128 vp_u128;
    typedef __int128 vp_i128;
    """
    ctypedef unsigned long long vp_u128      # the C type is unsigned __int128 (gcc, clang)
    ctypedef long long vp_i128               # the C type is __int128
    void __builtin_prefetch(const void* p) nogil

# what one packet turned out to be (the PcapStats field it counts in)
cdef enum:
    VP_DATAGRAM = 0
    VP_NOT_IPV4 = 1
    VP_NOT_UDP = 2
    VP_FRAGMENT = 3
    VP_TRUNCATED = 4
    VP_MALFORMED = 5
    VP_NO_TIMESTAMP = 6
    VP_FUTURE_TIMESTAMP = 7
    VP_N_KINDS = 8

# the link types understood, as an index (vega.pcap.LINKTYPES); -1 = not understood
cdef enum:
    VP_L_NULL = 0
    VP_L_EN10MB = 1
    VP_L_RAW = 2
    VP_L_LOOP = 3
    VP_L_SLL = 4
    VP_L_IPV4 = 5
    VP_L_SLL2 = 6
    VP_N_LINKS = 7

_LINK_NAMES = ("NULL", "EN10MB", "RAW", "LOOP", "LINUX_SLL", "IPV4", "LINUX_SLL2")
_KIND_NAMES = ("datagrams", "not_ipv4", "not_udp", "fragment", "truncated", "malformed", "no_timestamp",
               "future_timestamp")

# the framing errors (raised as vega.pcap.PcapError with the file's name and the offset)
cdef enum:
    VP_OK = 0
    VP_E_RECORD_HEADER = 1               # classic: record header cut short
    VP_E_RECORD_LENGTH = 2               # classic: the record claims more bytes than the file has
    VP_E_BLOCK_HEADER = 3                # pcapng: block header cut short
    VP_E_BOM = 4                         # pcapng: section without a byte-order magic
    VP_E_BLOCK_LENGTH = 5                # pcapng: bad block length
    VP_E_IFACE_SHORT = 6                 # pcapng: interface block cut short
    VP_E_PACKET_SHORT = 7                # pcapng: packet block cut short
    VP_E_IFACE_UNKNOWN = 8               # pcapng: a packet names an interface not described
    VP_E_PACKET_LENGTH = 9               # pcapng: the packet claims more bytes than its block has
    VP_E_NOMEM = 10


cdef struct vp_out_t:                    # one datagram found in a packet
    uint32_t dst                         # destination IPv4 address, host order
    uint16_t port                        # destination UDP port
    int64_t off                          # payload: offset in the buffer
    int32_t length                       # payload: bytes


cdef struct vp_dest_t:                   # where a scan puts its datagrams: the caller's five arrays
    int64_t* ts                          # capture time, ns since the epoch
    uint32_t* dst
    uint16_t* port
    int64_t* off
    int32_t* length


cdef inline void _put(const vp_dest_t* d, Py_ssize_t i, const vp_out_t* o, int64_t t) noexcept nogil:
    d.ts[i] = t
    d.dst[i] = o.dst
    d.port[i] = o.port
    d.off[i] = o.off
    d.length[i] = o.length


cdef inline uint32_t _rd32(const uint8_t* p, bint big) noexcept nogil:
    if big:
        return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]
    return (<uint32_t>p[3] << 24) | (<uint32_t>p[2] << 16) | (<uint32_t>p[1] << 8) | p[0]


cdef inline uint64_t _rd64(const uint8_t* p, bint big) noexcept nogil:
    if big:
        return (<uint64_t>_rd32(p, True) << 32) | _rd32(p + 4, True)
    return (<uint64_t>_rd32(p + 4, False) << 32) | _rd32(p, False)


cdef inline uint16_t _rd16(const uint8_t* p, bint big) noexcept nogil:
    if big:
        return <uint16_t>((p[0] << 8) | p[1])
    return <uint16_t>((p[1] << 8) | p[0])


cdef inline uint16_t _be16(const uint8_t* p) noexcept nogil:
    return <uint16_t>((p[0] << 8) | p[1])


cdef inline int _link_index(uint32_t link) noexcept nogil:
    if link == 0:
        return VP_L_NULL
    if link == 1:
        return VP_L_EN10MB
    if link == 101:
        return VP_L_RAW
    if link == 108:
        return VP_L_LOOP
    if link == 113:
        return VP_L_SLL
    if link == 228:
        return VP_L_IPV4
    if link == 276:
        return VP_L_SLL2
    return -1


cdef inline int _short(bint cut) noexcept nogil:
    """A packet too short for its headers: cut by the snap length, else malformed."""
    return VP_TRUNCATED if cut else VP_MALFORMED


cdef int _udp(const uint8_t* b, Py_ssize_t off, Py_ssize_t n, bint cut, vp_out_t* out) noexcept nogil:
    """The IPv4/UDP packet at b[off:off+n]: VP_DATAGRAM with out's address, port and payload filled, or the
    reason it is not one."""
    cdef Py_ssize_t ihl, total, u, ulen
    if n < 1:
        return _short(cut)
    if b[off] >> 4 != 4:
        return VP_NOT_IPV4
    if n < 20:
        return _short(cut)
    ihl = (b[off] & 15) * 4
    total = _be16(b + off + 2)
    if ihl < 20 or total < ihl:
        return VP_MALFORMED
    if b[off + 9] != 17:
        return VP_NOT_UDP
    if _be16(b + off + 6) & 0x3FFF:      # more fragments, or a fragment offset
        return VP_FRAGMENT
    if total > n:
        return _short(cut)
    if total < ihl + 8:
        return VP_MALFORMED
    u = off + ihl
    ulen = _be16(b + u + 4)
    if ulen < 8 or ulen > total - ihl:
        return VP_MALFORMED
    out.dst = (<uint32_t>b[off + 16] << 24) | (<uint32_t>b[off + 17] << 16) | (<uint32_t>b[off + 18] << 8) \
        | b[off + 19]
    out.port = _be16(b + u + 2)
    out.off = u + 8
    out.length = <int32_t>(ulen - 8)
    return VP_DATAGRAM


cdef int _packet(const uint8_t* b, Py_ssize_t off, Py_ssize_t n, bint cut, int link, vp_out_t* out) noexcept nogil:
    """A packet of link type ``link`` (a VP_L_ index, -1 = not understood) at b[off:off+n]."""
    cdef uint16_t ethertype
    cdef Py_ssize_t p
    if link == VP_L_EN10MB:              # Ethernet II, VLAN tags skipped
        if n < 14:
            return _short(cut)
        ethertype = _be16(b + off + 12)
        p = 14
        while (ethertype == 0x8100 or ethertype == 0x88A8 or ethertype == 0x9100) and p + 4 <= n:
            ethertype = _be16(b + off + p + 2)
            p += 4
        if ethertype == 0x8100 or ethertype == 0x88A8 or ethertype == 0x9100:
            return _short(cut)           # the packet ends inside a VLAN tag: cut by the snap length (else damage)
        if ethertype != 0x0800:
            return VP_NOT_IPV4
    elif link == VP_L_RAW or link == VP_L_IPV4:
        p = 0
    elif link == VP_L_SLL:               # Linux cooked v1: protocol at 14..16
        if n < 16:
            return _short(cut)
        if _be16(b + off + 14) != 0x0800:
            return VP_NOT_IPV4
        p = 16
    elif link == VP_L_SLL2:              # Linux cooked v2: protocol at 0..2
        if n < 20:
            return _short(cut)
        if _be16(b + off) != 0x0800:
            return VP_NOT_IPV4
        p = 20
    elif link == VP_L_NULL or link == VP_L_LOOP:   # AF_INET = 2 in host (NULL) or network (LOOP) order
        if n < 4:
            return _short(cut)
        if not ((b[off] == 2 and b[off + 1] == 0 and b[off + 2] == 0 and b[off + 3] == 0) or
                (b[off] == 0 and b[off + 1] == 0 and b[off + 2] == 0 and b[off + 3] == 2)):
            return VP_NOT_IPV4
        p = 4
    else:                                # a pcapng interface of a link type not understood
        return VP_NOT_IPV4
    return _udp(b, off + p, n - p, cut, out)


cdef inline bint _ns(uint64_t ticks, int res, int64_t off_s, int64_t* ts) noexcept nogil:
    """ticks of a resolution (res: 0..127 = 10^-res s, 128..255 = 2^-(res-128) s) plus off_s seconds (the
    interface's if_tsoffset) as ns since the epoch, exact (rounded down); False when that is outside the int64
    range or before the epoch."""
    cdef vp_u128 v
    cdef vp_i128 w
    cdef int e
    if res >= 128:
        v = ((<vp_u128>ticks) * 1000000000ULL) >> (res - 128)
    elif res <= 9:
        v = <vp_u128>ticks
        for e in range(9 - res):
            v *= 10
    else:
        v = <vp_u128>ticks
        for e in range(res - 9):
            v //= 10
            if v == 0:
                break
    if v > <vp_u128>INT64_MAX:
        return False
    w = <vp_i128>v + <vp_i128>off_s * 1000000000
    if w < 0 or w > <vp_i128>INT64_MAX:
        return False
    ts[0] = <int64_t>w
    return True


cdef int _if_times(const uint8_t* b, Py_ssize_t off, Py_ssize_t end, bint big, int64_t* off_s) noexcept nogil:
    """An interface's time resolution from its if_tsresol option (the _ns encoding; default microseconds), and
    into off_s its if_tsoffset option: seconds to add to every time of the interface (default 0)."""
    cdef uint16_t code, length
    cdef uint8_t v
    cdef int res = 6
    off_s[0] = 0
    while off + 4 <= end:
        code = _rd16(b + off, big)
        length = _rd16(b + off + 2, big)
        if code == 0:
            break
        if code == 9 and length >= 1 and off + 4 < end:
            v = b[off + 4]
            res = 128 + (v & 0x7F) if v & 0x80 else (v & 0x7F)
        elif code == 14 and length >= 8 and off + 12 <= end:
            off_s[0] = <int64_t>_rd64(b + off + 4, big)
        off += 4 + (length + 3) // 4 * 4
    return res


def _latest_now():
    """PcapScanner's default latest_ns: the wall clock now plus vega.pcap.FUTURE_NS."""
    import time
    from vega.pcap import FUTURE_NS
    return min(time.time_ns() + FUTURE_NS, INT64_MAX)


@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")  # a __text_signature__ per method: inspect.signature, help(), stubtest
@cython.final
cdef class PcapScanner:
    """Walks a packet capture held in ``buffer`` (the whole file, e.g. a read-only mmap; kept referenced) and
    finds its IPv4/UDP datagrams.  ``path`` names the file in error messages.  ``partial``: the buffer is the
    start of the capture only (at least its first 64 bytes); a scan then stops at a packet it holds only part
    of (``needs_more``) and :meth:`refill` goes on with the rest.  ``latest_ns``: the latest capture time
    believed (ns since the epoch); a datagram stamped later is counted as ``future_timestamp`` and skipped, so
    one corrupt time cannot carry the ingest's day decades ahead.  None: the wall clock at construction plus
    ``vega.pcap.FUTURE_NS``, moved on to the clock at every :meth:`refill` (a stream may run for days).

    :meth:`scan` fills arrays with the next datagrams; ``counts()`` tells what the packets read so far were;
    ``offset`` is the bytes read so far.  A framing error (the capture breaks off, a bad block length ...)
    raises ``vega.pcap.PcapError`` from the call after the one that returned the datagrams before it.
    A file that is not a capture raises it from the constructor."""

    cdef const uint8_t[::1] _view
    cdef const uint8_t* _b
    cdef Py_ssize_t _n
    cdef Py_ssize_t _off
    cdef object _path
    cdef bint _ng                        # pcapng
    cdef bint _big                       # byte order of the file (classic) or of the current section (pcapng)
    cdef int _unit                       # classic: ns per fraction unit (1000 or 1)
    cdef int _link                       # classic: the VP_L_ index of the link type
    cdef int* _if_link                   # pcapng: per interface of the current section, its VP_L_ index or -1
    cdef uint8_t* _if_res                # ... and its time resolution (_ns encoding)
    cdef int64_t* _if_off                # ... and its time offset, seconds (if_tsoffset)
    cdef Py_ssize_t _n_if, _cap_if
    cdef int _err                        # a framing error met, raised by the next scan
    cdef Py_ssize_t _err_at              # the byte it concerns
    cdef uint64_t _err_val               # the length or interface it names
    cdef uint64_t _kinds[VP_N_KINDS]
    cdef uint64_t _links[VP_N_LINKS]
    cdef readonly uint64_t packets
    cdef Py_ssize_t _base                # bytes of the capture before the buffer (streaming: refill)
    cdef bint _partial                   # the buffer is not the whole rest of the capture (more comes)
    cdef readonly bint needs_more        # the last scan stopped at a packet the buffer holds only part of
    cdef readonly bint stopped           # the last scan stopped before a datagram at or past stop_ns
    cdef readonly int64_t next_ts        # ... whose time this is
    cdef readonly int64_t latest_ns      # a datagram stamped later is future_timestamp (checked in _stamped)
    cdef bint _latest_auto               # latest_ns follows the wall clock (moved on at every refill)

    def __cinit__(self, buffer, path="capture", bint partial=False, latest_ns=None):
        cdef uint32_t magic
        self._set_buffer(buffer, partial)
        self._path = str(path)
        self._latest_auto = latest_ns is None
        self.latest_ns = _latest_now() if latest_ns is None else min(int(latest_ns), INT64_MAX)
        if self._n < 12:
            self._raise(f"not a packet capture ({self._n} bytes)")
        magic = _rd32(self._b, False)
        if magic == 0x0A0D0D0A:
            self._ng = True
            return
        for big in (False, True):
            magic = _rd32(self._b, big)
            if magic == 0xA1B2C3D4 or magic == 0xA1B23C4D:
                self._big = big
                self._unit = 1000 if magic == 0xA1B2C3D4 else 1
                break
        else:
            self._raise(f"not a pcap or pcapng file (magic 0x{_rd32(self._b, False):08x})")
        if self._n < 24:
            self._raise(f"pcap header cut short ({self._n} bytes)")     # a partial first buffer holds >= 24
        link = _rd32(self._b + 20, self._big) & 0xFFFF
        self._link = _link_index(link)
        if self._link < 0:
            self._raise(f"link type {link} is not supported (supported: 0 (NULL), 1 (EN10MB), 101 (RAW), "
                        "108 (LOOP), 113 (LINUX_SLL), 228 (IPV4), 276 (LINUX_SLL2))")
        self._off = 24

    def __dealloc__(self):
        free(self._if_link)
        free(self._if_res)
        free(self._if_off)

    cdef _raise(self, str what):
        from vega.pcap import PcapError
        raise PcapError(f"{self._path}: {what}")

    cdef _set_buffer(self, buffer, bint partial):
        self._view = buffer
        self._b = &self._view[0] if self._view.shape[0] else NULL
        self._n = self._view.shape[0]
        self._off = 0
        self._partial = partial
        self.needs_more = False

    def refill(self, buffer, bint final) -> None:
        """Streaming (a capture read in pieces, e.g. out of a decompressor): after a scan that ``needs_more``,
        go on in ``buffer``, which holds the capture from byte ``offset`` on (the unread part of the last
        buffer, then more).  ``final``: the buffer holds the whole rest of the capture, so a packet it holds
        only part of is damage, as in a whole file."""
        if self._err != VP_OK:
            raise ValueError("refill: a framing error is still to be raised")
        self._base += self._off
        self._set_buffer(buffer, not final)
        if self._latest_auto:                # a stream (tcpdump -w - | vega ingest -) may run for days
            self.latest_ns = _latest_now()

    @property
    def offset(self) -> int:
        """Bytes of the capture read so far (the position of the next packet)."""
        return self._base + self._off

    @property
    def done(self) -> bool:
        """The whole capture was read (not while more is needed, or a framing error is still to be raised)."""
        return self._off >= self._n and self._err == VP_OK and not self._partial

    def counts(self) -> tuple:
        """``(packets, {reason: packets}, {link type name: packets})`` of the packets read so far; reasons
        are the vega.pcap.PcapStats fields (``datagrams`` included)."""
        return (self.packets, {_KIND_NAMES[k]: self._kinds[k] for k in range(VP_N_KINDS)},
                {_LINK_NAMES[k]: self._links[k] for k in range(VP_N_LINKS) if self._links[k]})

    def scan(self, int64_t[::1] ts not None, uint32_t[::1] dst not None, uint16_t[::1] port not None,
             int64_t[::1] offset not None, int32_t[::1] length not None,
             int64_t stop_ns=9223372036854775807) -> int:         # INT64_MAX, a literal for the signature
        """Read on until the arrays (all of one length) are full, the file ends, or the next datagram's time
        is ``stop_ns`` or later (then ``stopped`` is True, ``next_ts`` is its time, and that datagram comes
        first in the next call).
        Fills ``ts`` (ns since the epoch), ``dst`` (IPv4, host order), ``port``, and the payload's ``offset``
        and ``length`` in the buffer; returns the number of datagrams."""
        cdef Py_ssize_t cap = ts.shape[0], got = 0
        cdef vp_dest_t d
        if dst.shape[0] != cap or port.shape[0] != cap or offset.shape[0] != cap or length.shape[0] != cap:
            raise ValueError("scan: the five arrays must have one length")
        self._check_error()
        if cap == 0:
            return 0
        d.ts, d.dst, d.port, d.off, d.length = &ts[0], &dst[0], &port[0], &offset[0], &length[0]
        with nogil:
            if self._ng:
                got = self._scan_ng(&d, cap, stop_ns)
            else:
                got = self._scan_classic(&d, cap, stop_ns)
        if got == 0:
            self._check_error()
        return got

    cdef _check_error(self):
        cdef int err = self._err
        cdef Py_ssize_t at = self._base + self._err_at
        cdef uint64_t v = self._err_val
        if err == VP_OK:
            return
        self._err = VP_OK                # raised once: the file ends at the damage for later calls
        self._n = self._off
        self._partial = False
        if err == VP_E_NOMEM:
            raise MemoryError()
        self._raise({
            VP_E_RECORD_HEADER: f"packet record header cut short at byte {at}",
            VP_E_RECORD_LENGTH: f"packet at byte {at} claims {v} bytes, the file ends first",
            VP_E_BLOCK_HEADER: f"pcapng block header cut short at byte {at}",
            VP_E_BOM: f"pcapng section at byte {at} has no byte-order magic",
            VP_E_BLOCK_LENGTH: f"pcapng block at byte {at} has a bad length {v}",
            VP_E_IFACE_SHORT: f"pcapng interface block at byte {at} cut short",
            VP_E_PACKET_SHORT: f"pcapng packet block at byte {at} cut short",
            VP_E_IFACE_UNKNOWN: f"pcapng packet at byte {at} names interface {v}, which was not described",
            VP_E_PACKET_LENGTH: f"pcapng packet at byte {at} claims {v} bytes, its block is shorter",
        }[err])

    cdef inline int _stamped(self, int64_t t) noexcept nogil:
        """What a datagram captured at ``t`` is: VP_DATAGRAM, or VP_FUTURE_TIMESTAMP when that is past
        ``latest_ns`` (one corrupt time, e.g. a flipped top bit of the seconds: 2094, would otherwise stop the
        batch as a new day, roll every journal over to it and refuse every correct datagram after it as of an
        earlier day).  Both formats' times pass here, before the stop and the arrays."""
        if t > self.latest_ns:
            return VP_FUTURE_TIMESTAMP
        return VP_DATAGRAM

    cdef inline void _fail(self, int err, Py_ssize_t at, uint64_t v) noexcept nogil:
        self._err = err
        self._err_at = at
        self._err_val = v

    cdef Py_ssize_t _scan_classic(self, const vp_dest_t* d, Py_ssize_t cap, int64_t stop_ns) noexcept nogil:
        cdef const uint8_t* b = self._b
        cdef Py_ssize_t off = self._off, got = 0, n = self._n
        cdef uint32_t sec, frac, incl, orig
        cdef int kind
        cdef int64_t t
        cdef vp_out_t one
        self.stopped = False
        self.needs_more = False
        while got < cap and off < n and self._err == VP_OK:
            __builtin_prefetch(b + off + 2048)     # the records ahead (scan of a 121 MB capture: -10 %)
            if off + 16 > n:
                if self._partial:
                    self.needs_more = True
                else:
                    self._fail(VP_E_RECORD_HEADER, off, 0)
                break
            sec = _rd32(b + off, self._big)
            frac = _rd32(b + off + 4, self._big)
            incl = _rd32(b + off + 8, self._big)
            orig = _rd32(b + off + 12, self._big)
            if off + 16 + <Py_ssize_t>incl > n:
                if self._partial:
                    self.needs_more = True
                else:
                    self._fail(VP_E_RECORD_LENGTH, off, incl)
                break
            kind = _packet(b, off + 16, incl, incl < orig, self._link, &one)
            if kind == VP_DATAGRAM:      # (no overflow: 2^32 s and 2^32 fractions of 1000 ns fit an int64)
                t = <int64_t>sec * 1000000000LL + <int64_t>frac * self._unit
                kind = self._stamped(t)
            if kind == VP_DATAGRAM:
                if t >= stop_ns:
                    self.stopped = True
                    self.next_ts = t
                    break
                _put(d, got, &one, t)
                got += 1
            self.packets += 1
            self._kinds[kind] += 1
            self._links[self._link] += 1
            off += 16 + incl
        self._off = off
        if off >= n and self._partial:
            self.needs_more = True
        return got

    cdef Py_ssize_t _scan_ng(self, const vp_dest_t* d, Py_ssize_t cap, int64_t stop_ns) noexcept nogil:
        cdef const uint8_t* b = self._b
        cdef Py_ssize_t off = self._off, got = 0, n = self._n, body, end, data
        cdef uint32_t btype, blen, bom, iface, hi, lo, incl, orig
        cdef int kind, link, res
        cdef int64_t t, tsoff
        cdef vp_out_t one
        self.stopped = False
        self.needs_more = False
        while got < cap and off < n and self._err == VP_OK:
            if off + 12 > n:
                if self._partial:
                    self.needs_more = True
                else:
                    self._fail(VP_E_BLOCK_HEADER, off, 0)
                break
            btype = _rd32(b + off, self._big)
            if btype == 0x0A0D0D0A:      # a section: its byte order, and no interfaces yet
                bom = _rd32(b + off + 8, False)
                if bom == 0x1A2B3C4D:
                    self._big = False
                elif bom == 0x4D3C2B1A:
                    self._big = True
                else:
                    self._fail(VP_E_BOM, off, 0)
                    break
                self._n_if = 0
            blen = _rd32(b + off + 4, self._big)
            if blen >= 12 and blen % 4 == 0 and off + <Py_ssize_t>blen > n and self._partial:
                self.needs_more = True   # (a section's byte order is read again with the rest of its block)
                break
            if blen < 12 or blen % 4 or off + <Py_ssize_t>blen > n:
                self._fail(VP_E_BLOCK_LENGTH, off, blen)
                break
            body = off + 8
            end = off + blen - 4
            if btype == 1:               # interface description
                if end - body < 8:
                    self._fail(VP_E_IFACE_SHORT, off, 0)
                    break
                res = _if_times(b, body + 8, end, self._big, &tsoff)
                if not self._add_iface(_link_index(_rd16(b + body, self._big)), res, tsoff):
                    self._fail(VP_E_NOMEM, off, 0)
                    break
            elif btype == 6 or btype == 2:   # enhanced packet / obsolete packet block
                if end - body < 20:
                    self._fail(VP_E_PACKET_SHORT, off, 0)
                    break
                if btype == 6:
                    iface = _rd32(b + body, self._big)
                else:
                    iface = _rd16(b + body, self._big)
                hi = _rd32(b + body + 4, self._big)
                lo = _rd32(b + body + 8, self._big)
                incl = _rd32(b + body + 12, self._big)
                orig = _rd32(b + body + 16, self._big)
                data = body + 20
                if iface >= self._n_if:
                    self._fail(VP_E_IFACE_UNKNOWN, off, iface)
                    break
                if data + <Py_ssize_t>incl > end:
                    self._fail(VP_E_PACKET_LENGTH, off, incl)
                    break
                link = self._if_link[iface]
                kind = _packet(b, data, incl, incl < orig, link, &one)
                if kind == VP_DATAGRAM:
                    if not _ns((<uint64_t>hi << 32) | lo, self._if_res[iface], self._if_off[iface], &t):
                        kind = VP_MALFORMED  # a time past the year 2262 (or before 1970) cannot be right
                    else:
                        kind = self._stamped(t)
                if kind == VP_DATAGRAM:
                    if t >= stop_ns:
                        self.stopped = True
                        self.next_ts = t
                        break
                    _put(d, got, &one, t)
                    got += 1
                self.packets += 1
                self._kinds[kind] += 1
                if link >= 0:
                    self._links[link] += 1
            elif btype == 3:             # simple packet block: no time; its interface is the section's first
                self.packets += 1
                self._kinds[VP_NO_TIMESTAMP] += 1
                if self._n_if > 0 and self._if_link[0] >= 0:
                    self._links[self._if_link[0]] += 1
            off += blen
        self._off = off
        if off >= n and self._partial:
            self.needs_more = True
        return got

    cdef bint _add_iface(self, int link, int res, int64_t tsoff) noexcept nogil:
        cdef Py_ssize_t k = self._n_if
        cdef int* nl
        cdef uint8_t* nr
        cdef int64_t* no
        if k == self._cap_if:
            nl = <int*>realloc(self._if_link, (2 * k + 8) * sizeof(int))
            if nl == NULL:
                return False
            self._if_link = nl
            nr = <uint8_t*>realloc(self._if_res, (2 * k + 8) * sizeof(uint8_t))
            if nr == NULL:
                return False
            self._if_res = nr
            no = <int64_t*>realloc(self._if_off, (2 * k + 8) * sizeof(int64_t))
            if no == NULL:
                return False
            self._if_off = no
            self._cap_if = 2 * k + 8
        self._if_link[k] = link
        self._if_res[k] = <uint8_t>res
        self._if_off[k] = tsoff
        self._n_if = k + 1
        return True


def feed_selected(FeedHandler handler not None, const uint8_t[::1] buffer not None, const int64_t[::1] ts not None,
                  const int64_t[::1] offset not None, const int32_t[::1] length not None,
                  const int64_t[::1] select not None) -> int:
    """Decode and merge the datagrams ``select`` names (indexes into the arrays :meth:`PcapScanner.scan`
    filled), in that order, each at its capture time, straight from ``buffer`` in one nogil loop of
    ``handler`` (as ``process_batch`` with ``now_ns`` times); returns the number of messages."""
    cdef Py_ssize_t n = select.shape[0], i, k, size = buffer.shape[0]
    cdef const uint8_t** ptrs
    cdef Py_ssize_t* lens
    cdef int64_t* times
    cdef Py_ssize_t total
    if n == 0:
        return 0
    ptrs = <const uint8_t**>malloc(n * sizeof(uint8_t*))
    lens = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
    times = <int64_t*>malloc(n * sizeof(int64_t))
    if ptrs == NULL or lens == NULL or times == NULL:
        free(ptrs)
        free(lens)
        free(times)
        raise MemoryError()
    try:
        for i in range(n):
            k = select[i]
            if k < 0 or k >= ts.shape[0] or offset.shape[0] != ts.shape[0] or length.shape[0] != ts.shape[0]:
                raise IndexError(f"feed_selected: index {k} is outside the scan's arrays")
            # (offset > size - length, not offset + length > size: that sum overflows for an offset near 2**63)
            if ts[k] < 0 or offset[k] < 0 or length[k] < 0 or offset[k] > size - length[k]:
                raise ValueError(f"feed_selected: datagram {k} is not inside the buffer (or its time < 0)")
            ptrs[i] = &buffer[0] + offset[k]
            lens[i] = length[k]
            times[i] = ts[k]
        total = vg_feed_buffers(handler, ptrs, lens, times, n)
    finally:
        free(ptrs)
        free(lens)
        free(times)
    return total


def feed_runs(handlers, const uint8_t[::1] buffer not None, const int64_t[::1] ts not None,
              const int64_t[::1] offset not None, const int32_t[::1] length not None,
              const int16_t[::1] feed not None) -> int:
    """Decode and merge the first ``len(feed)`` datagrams of the arrays :meth:`PcapScanner.scan` filled in capture
    order across handlers (at most 8): datagram ``i`` goes to ``handlers[feed[i]]`` (``feed[i]`` -1: to none),
    each at its capture time, straight from ``buffer``, in one nogil loop (``vg_feed_mixed``: where the
    handler changes, the one before merges the message it holds back).  So a handler that merges into
    another's store (F&O open interest into CM, ``underlying=``) writes there in capture order.  Every index,
    length and position is checked before anything is merged (IndexError, ValueError, TypeError); once the
    loop runs, every datagram goes in, also when a handler then raises (a journal's I/O error, after the
    loop).  Returns the number of messages."""
    cdef Py_ssize_t n = feed.shape[0], nh, i, j, m = 0, size = buffer.shape[0]
    cdef int16_t k
    cdef const uint8_t** ptrs = NULL
    cdef Py_ssize_t* lens = NULL
    cdef int64_t* times = NULL
    cdef int16_t* who = NULL             # compacted entry j's handler
    hs = tuple(handlers)
    nh = len(hs)
    for h in hs:
        if not isinstance(h, FeedHandler):
            raise TypeError(f"feed_runs: handlers must be FeedHandlers, not {type(h).__name__}")
    if nh > 8:
        raise ValueError(f"feed_runs: at most 8 handlers, not {nh}")
    if offset.shape[0] != ts.shape[0] or length.shape[0] != ts.shape[0] or n > ts.shape[0]:
        raise ValueError(f"feed_runs: {n} datagrams of arrays of {ts.shape[0]}, {offset.shape[0]} and "
                         f"{length.shape[0]} (ts, offset, length)")
    for i in range(n):
        k = feed[i]
        if k < -1 or k >= nh:
            raise IndexError(f"feed_runs: datagram {i} goes to handler {k} of {nh}")
        if k >= 0:
            # (offset > size - length, not offset + length > size: that sum overflows for an offset near 2**63)
            if ts[i] < 0 or offset[i] < 0 or length[i] < 0 or offset[i] > size - length[i]:
                raise ValueError(f"feed_runs: datagram {i} is not inside the buffer (or its time < 0)")
            m += 1
    if m == 0:
        return 0
    ptrs = <const uint8_t**>malloc(m * sizeof(uint8_t*))
    lens = <Py_ssize_t*>malloc(m * sizeof(Py_ssize_t))
    times = <int64_t*>malloc(m * sizeof(int64_t))
    who = <int16_t*>malloc(m * sizeof(int16_t))
    try:
        if ptrs == NULL or lens == NULL or times == NULL or who == NULL:
            raise MemoryError()
        j = 0
        for i in range(n):
            if feed[i] >= 0:
                ptrs[j] = &buffer[0] + offset[i]
                lens[j] = length[i]
                times[j] = ts[i]
                who[j] = feed[i]
                j += 1
        return vg_feed_mixed(hs, who, ptrs, lens, times, m)
    finally:
        free(ptrs)
        free(lens)
        free(times)
        free(who)
