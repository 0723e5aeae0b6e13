"""UDP datagrams out of a packet capture: classic pcap (micro- or nanosecond, either byte order) and pcapng
(any interface time resolution), as tcpdump, dumpcap/Wireshark or ``vega simulate --out`` write them.

``udp_datagrams(path)`` yields ``(epoch_ns, dst_ip, dst_port, payload)`` for every whole, unfragmented IPv4/UDP
packet, in file order; ``payload`` is a memoryview into the mapped file (copy it to keep it past the reader).
Everything else is counted by reason in the ``PcapStats`` it fills, never raised: a capture holds ARP, TCP,
IPv6, fragments and cut packets too.  A file that is not a capture, or breaks off inside its framing, raises
:class:`PcapError` with one readable line (after the packets before the damage were yielded).

Link types: Ethernet (with 802.1Q / 802.1ad VLAN tags), raw IP, IPv4, Linux cooked (SLL and SLL2), BSD
loopback (NULL and LOOP).

The walk itself is :class:`vega._pcap.PcapScanner`, one nogil loop over the mapped file.  ``vega ingest`` uses
it directly (:func:`scan_batches`, :meth:`vega.capture.Capture.ingest_pcap`): the datagrams go from the mapping
to the pipeline without a Python object each.  A pcapng time past the year 2262 (out of the int64 range of
nanoseconds) counts as ``malformed``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import mmap
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["PcapError", "PcapStats", "udp_datagrams", "scan_batches", "first_datagram_ns", "Batch", "LINKTYPES"]

#: link types understood: number -> name
LINKTYPES = {0: "NULL", 1: "EN10MB", 101: "RAW", 108: "LOOP", 113: "LINUX_SLL", 228: "IPV4", 276: "LINUX_SLL2"}

#: datagrams per scan of the mapped file
BATCH = 4096


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
    for b in scan_batches(path, stats, batch=1024):
        n, view = b.n, b.view
        for t, d, p, o, k in zip(b.ts[:n].tolist(), b.dst[:n].tolist(), b.port[:n].tolist(),
                                 b.offset[:n].tolist(), b.length[:n].tolist()):
            yield t, d, p, view[o:o + k]


def first_datagram_ns(paths, stats: PcapStats | None = None) -> int | None:
    """The capture time of the first UDP datagram of the files (None: there is none; ``stats`` then counts
    the packets that were there).  Framing damage before it raises :class:`PcapError`."""
    for path in paths:
        for b in scan_batches(path, stats, batch=1):
            return int(b.ts[0])
    return None


@dataclasses.dataclass
class Batch:
    """Datagrams of one scan: ``n`` of them, in file order, in the first ``n`` entries of the arrays (time ns
    since the epoch, destination address (host order) and port, payload offset and length in ``buffer``, the
    mapped file, of which ``view`` is a memoryview).  Valid until the next batch of the same file."""

    n: int
    ts: np.ndarray
    dst: np.ndarray
    port: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    buffer: object
    view: memoryview
    stopped: bool = False        # the scan stopped before a datagram at or past ``stop_ns`` (it comes next)
    next_ts: int = 0             # ... captured at this time


def scan_batches(path: str | Path, stats: PcapStats | None = None, batch: int = BATCH, stop_ns=None):
    """The capture's datagrams in :class:`Batch`-es of up to ``batch``, read by the nogil walker.

    ``stats`` is brought up to date after every batch (``offset`` too, for progress).  ``stop_ns``: None, or
    a callable returning the time at which a batch must end (the generator asks before every scan): a
    datagram at or after it starts the next batch, so the caller can act in between (a new trading day; the
    callable must then return a later time, or that datagram stops the next batch again, with none before it).
    Framing damage raises :class:`PcapError` after the batches before it."""
    from vega._pcap import PcapScanner
    path = Path(path)
    st = stats if stats is not None else PcapStats()
    arrays = (np.empty(batch, np.int64), np.empty(batch, np.uint32), np.empty(batch, np.uint16),
              np.empty(batch, np.int64), np.empty(batch, np.int32))
    with _mapped(path) as mm:
        view = memoryview(mm)
        try:
            sc = PcapScanner(view, str(path))
            base = _Counts(st)
            try:
                while not sc.done:
                    limit = stop_ns() if stop_ns is not None else None
                    try:
                        n = sc.scan(*arrays) if limit is None else sc.scan(*arrays, stop_ns=limit)
                    finally:
                        base.update(sc)
                    if n == 0 and not sc.stopped:
                        continue               # a stretch of packets with no datagram (or the end)
                    yield Batch(n, *arrays, mm, view, sc.stopped, sc.next_ts)
            finally:
                del sc
        finally:
            view.release()


class _Counts:
    """Adds a scanner's counts to a PcapStats as they grow (several files add up in one PcapStats)."""

    def __init__(self, st: PcapStats):
        self.st = st
        self.packets = 0
        self.kinds: dict = {}
        self.links: dict = {}
        st.offset = 0

    def update(self, sc) -> None:
        st = self.st
        packets, kinds, links = sc.counts()
        st.packets += packets - self.packets
        self.packets = packets
        for k, v in kinds.items():
            setattr(st, k, getattr(st, k) + v - self.kinds.get(k, 0))
        for k, v in links.items():
            st.link_types[k] = st.link_types.get(k, 0) + v - self.links.get(k, 0)
        self.kinds, self.links = kinds, links
        st.offset = sc.offset


@contextlib.contextmanager
def _mapped(path: Path):
    """The file mapped read-only (PcapError with one line when it cannot be opened)."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise PcapError(f"{path}: {e.strerror}") from None
    with f:
        size = f.seek(0, 2)
        if size < 12:
            raise PcapError(f"{path}: not a packet capture ({size} bytes)")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        yield mm
    finally:
        try:
            mm.close()
        except BufferError:
            pass                        # a payload view is still held by the caller: the map goes with it
