"""UDP datagrams out of a packet capture: classic pcap (micro- or nanosecond, either byte order) and pcapng
(any interface time resolution), as tcpdump, dumpcap/Wireshark or ``vega simulate --out`` write them.

``udp_datagrams(path)`` yields ``(epoch_ns, dst_ip, dst_port, payload)`` for every whole, unfragmented IPv4/UDP
packet, in file order; ``payload`` is a memoryview into the mapped file (copy it to keep it past the reader).
Everything else is counted by reason in the ``PcapStats`` it fills, never raised: a capture holds ARP, TCP,
IPv6, fragments and cut packets too.  A file that is not a capture, or breaks off inside its framing, raises
:class:`PcapError` with one readable line (after the packets before the damage were yielded).

Link types: Ethernet (with 802.1Q / 802.1ad VLAN tags), raw IP, IPv4, Linux cooked (SLL and SLL2), BSD
loopback (NULL and LOOP).  ``vega ingest`` feeds these datagrams through the pipeline (vega/capture.py).
"""
from __future__ import annotations

import dataclasses
import mmap
import struct
from pathlib import Path
from typing import Iterator

__all__ = ["PcapError", "PcapStats", "udp_datagrams", "LINKTYPES"]

#: link types understood: number -> name
LINKTYPES = {0: "NULL", 1: "EN10MB", 101: "RAW", 108: "LOOP", 113: "LINUX_SLL", 228: "IPV4", 276: "LINUX_SLL2"}

_PCAP_MAGIC = {0xA1B2C3D4: 1_000, 0xA1B23C4D: 1}         # ns per timestamp fraction unit
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BOM = 0x1A2B3C4D
_VLAN = (0x8100, 0x88A8, 0x9100)


class PcapError(Exception):
    """Not a packet capture, or a capture whose framing is damaged: one line naming the file and the offset."""


@dataclasses.dataclass
class PcapStats:
    """What a read found: packets in the file, UDP datagrams yielded, and the others by reason."""

    packets: int = 0
    datagrams: int = 0
    not_ipv4: int = 0            # ARP, IPv6, other ethertypes / families
    not_udp: int = 0             # TCP, ICMP, IGMP ...
    fragment: int = 0            # an IPv4 fragment (NSE datagrams fit one packet)
    truncated: int = 0           # cut short by the capture's snap length
    malformed: int = 0           # an IP or UDP header that cannot be right
    no_timestamp: int = 0        # pcapng simple packet blocks carry none
    offset: int = 0              # bytes of the current file read so far (for progress)
    link_types: dict = dataclasses.field(default_factory=dict)    # link type name -> packets

    def skipped(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("packets", "datagrams", "link_types", "offset") and v}


def udp_datagrams(path: str | Path, stats: PcapStats | None = None) -> Iterator[tuple[int, int, int, memoryview]]:
    """``(epoch_ns, dst_ip (int, host order), dst_port, payload)`` of every IPv4/UDP datagram of the capture."""
    path = Path(path)
    st = stats if stats is not None else PcapStats()
    try:
        f = open(path, "rb")
    except OSError as e:
        raise PcapError(f"{path}: {e.strerror}") from None
    with f:
        size = f.seek(0, 2)
        if size < 12:
            raise PcapError(f"{path}: not a packet capture ({size} bytes)")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    buf = memoryview(mm)
    try:
        magic = struct.unpack_from("<I", buf, 0)[0]
        if magic == _PCAPNG_SHB:
            yield from _pcapng(path, buf, st)
        else:
            yield from _pcap(path, buf, st)
    finally:
        buf.release()
        try:
            mm.close()
        except BufferError:
            pass                        # a payload view is still held by the caller: the map goes with it


def _pcap(path, buf, st):
    n = len(buf)
    for endian in "<>":
        magic = struct.unpack_from(endian + "I", buf, 0)[0]
        if magic in _PCAP_MAGIC:
            break
    else:
        raise PcapError(f"{path}: not a pcap or pcapng file (magic 0x{struct.unpack_from('<I', buf, 0)[0]:08x})")
    unit = _PCAP_MAGIC[magic]
    if n < 24:
        raise PcapError(f"{path}: pcap header cut short ({n} bytes)")
    link = struct.unpack_from(endian + "I", buf, 20)[0] & 0xFFFF
    parse = _link_parser(path, link)
    rec = struct.Struct(endian + "IIII")
    off = 24
    while off < n:
        if off + 16 > n:
            raise PcapError(f"{path}: packet record header cut short at byte {off}")
        sec, frac, incl, orig = rec.unpack_from(buf, off)
        off += 16
        if off + incl > n:
            raise PcapError(f"{path}: packet at byte {off - 16} claims {incl} bytes, the file ends first")
        st.packets += 1
        out = parse(buf, off, incl, incl < orig, st)
        off += incl
        st.offset = off
        if out is not None:
            st.datagrams += 1
            yield (sec * 1_000_000_000 + frac * unit, *out)


def _pcapng(path, buf, st):
    n = len(buf)
    off = 0
    endian = "<"
    ifaces = []                                  # per interface of the current section: (parser, ns per unit)
    while off < n:
        if off + 12 > n:
            raise PcapError(f"{path}: pcapng block header cut short at byte {off}")
        btype = struct.unpack_from(endian + "I", buf, off)[0]
        if btype == _PCAPNG_SHB:                 # a section: its byte order, and no interfaces yet
            bom = struct.unpack_from("<I", buf, off + 8)[0]
            if bom == _PCAPNG_BOM:
                endian = "<"
            elif bom == 0x4D3C2B1A:
                endian = ">"
            else:
                raise PcapError(f"{path}: pcapng section at byte {off} has no byte-order magic")
            ifaces = []
        blen = struct.unpack_from(endian + "I", buf, off + 4)[0]
        if blen < 12 or blen % 4 or off + blen > n:
            raise PcapError(f"{path}: pcapng block at byte {off} has a bad length {blen}")
        body, end = off + 8, off + blen - 4
        if btype == 1:                           # interface description
            if end - body < 8:
                raise PcapError(f"{path}: pcapng interface block at byte {off} cut short")
            link = struct.unpack_from(endian + "H", buf, body)[0]
            ifaces.append((_link_parser(path, link, lazy=True), *_tsresol_ns(buf, body + 8, end, endian)))
        elif btype in (6, 2):                    # enhanced packet / obsolete packet block
            if btype == 6:
                if end - body < 20:
                    raise PcapError(f"{path}: pcapng packet block at byte {off} cut short")
                iface, hi, lo, incl, orig = struct.unpack_from(endian + "IIIII", buf, body)
            else:
                if end - body < 20:
                    raise PcapError(f"{path}: pcapng packet block at byte {off} cut short")
                iface, _, hi, lo, incl, orig = struct.unpack_from(endian + "HHIIII", buf, body)
            data = body + 20
            if iface >= len(ifaces):
                raise PcapError(f"{path}: pcapng packet at byte {off} names interface {iface}, "
                                f"which was not described")
            if data + incl > end:
                raise PcapError(f"{path}: pcapng packet at byte {off} claims {incl} bytes, its block is shorter")
            st.packets += 1
            parse, num, den = ifaces[iface]
            out = parse(buf, data, incl, incl < orig, st)
            if out is not None:
                st.datagrams += 1
                yield (((hi << 32) | lo) * num // den, *out)
        elif btype == 3:                         # simple packet block: no interface id, no time
            st.packets += 1
            st.no_timestamp += 1
        off += blen
        st.offset = off


def _tsresol_ns(buf, off, end, endian):
    """ns per timestamp unit of an interface as an exact fraction (num, den), from its if_tsresol option
    (10^-e or 2^-e seconds; default microseconds)."""
    while off + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, off)
        if code == 0:
            break
        if code == 9 and length >= 1 and off + 4 < end:
            v = buf[off + 4]
            e = v & 0x7F
            if v & 0x80:
                return 1_000_000_000, 1 << e
            return (10 ** (9 - e), 1) if e <= 9 else (1, 10 ** (e - 9))
        off += 4 + (length + 3) // 4 * 4
    return 1_000, 1


def _link_parser(path, link, lazy=False):
    """The function that finds the IPv4 header in a packet of this link type."""
    name = LINKTYPES.get(link)
    if name is None:
        if lazy:                                 # pcapng: other interfaces' packets are only counted
            return _unsupported
        raise PcapError(f"{path}: link type {link} is not supported (supported: "
                        + ", ".join(f"{v} ({k})" for k, v in sorted(LINKTYPES.items())) + ")")

    def parse(buf, off, n, cut, st):
        st.link_types[name] = st.link_types.get(name, 0) + 1
        if link == 1:                            # Ethernet II, VLAN tags skipped
            if n < 14:
                return _short(st, cut)
            ethertype = (buf[off + 12] << 8) | buf[off + 13]
            p = 14
            while ethertype in _VLAN and p + 4 <= n:
                ethertype = (buf[off + p + 2] << 8) | buf[off + p + 3]
                p += 4
            if ethertype != 0x0800:
                st.not_ipv4 += 1
                return None
        elif link in (101, 228):
            p = 0
        elif link == 113:                        # Linux cooked v1: protocol at 14..16
            if n < 16:
                return _short(st, cut)
            if (buf[off + 14] << 8) | buf[off + 15] != 0x0800:
                st.not_ipv4 += 1
                return None
            p = 16
        elif link == 276:                        # Linux cooked v2: protocol at 0..2
            if n < 20:
                return _short(st, cut)
            if (buf[off] << 8) | buf[off + 1] != 0x0800:
                st.not_ipv4 += 1
                return None
            p = 20
        else:                                    # NULL (host order) / LOOP (network order): AF_INET = 2
            if n < 4:
                return _short(st, cut)
            fam = bytes(buf[off:off + 4])
            if fam not in (b"\x02\x00\x00\x00", b"\x00\x00\x00\x02"):
                st.not_ipv4 += 1
                return None
            p = 4
        return _udp(buf, off + p, n - p, cut, st)
    return parse


def _short(st, cut):
    """A packet too short for its headers: cut by the snap length (``cut``), else malformed.  None."""
    if cut:
        st.truncated += 1
    else:
        st.malformed += 1
    return None


def _unsupported(buf, off, n, cut, st):
    st.not_ipv4 += 1
    return None


def _udp(buf, off, n, cut, st):
    """(dst_ip, dst_port, payload) of an IPv4/UDP packet at buf[off:off+n], or None (counted)."""
    if n < 1:
        return _short(st, cut)
    if buf[off] >> 4 != 4:
        st.not_ipv4 += 1
        return None
    if n < 20:
        return _short(st, cut)
    ihl = (buf[off] & 15) * 4
    total = (buf[off + 2] << 8) | buf[off + 3]
    if ihl < 20 or total < ihl:
        st.malformed += 1
        return None
    if buf[off + 9] != 17:
        st.not_udp += 1
        return None
    if ((buf[off + 6] << 8) | buf[off + 7]) & 0x3FFF:     # more fragments, or a fragment offset
        st.fragment += 1
        return None
    if total > n:
        return _short(st, cut)
    if total < ihl + 8:
        st.malformed += 1
        return None
    u = off + ihl
    ulen = (buf[u + 4] << 8) | buf[u + 5]
    if ulen < 8 or ulen > total - ihl:
        st.malformed += 1
        return None
    dst = (buf[off + 16] << 24) | (buf[off + 17] << 16) | (buf[off + 18] << 8) | buf[off + 19]
    port = (buf[u + 2] << 8) | buf[u + 3]
    return dst, port, buf[u + 8:u + ulen]
