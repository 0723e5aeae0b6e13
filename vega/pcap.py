"""UDP datagrams out of a packet capture: classic pcap (micro- or nanosecond, either byte order) and pcapng
(any interface time resolution), as tcpdump, dumpcap/Wireshark or ``vega simulate --out`` write them, plain
or compressed (gzip, xz, bzip2; zstd with the zstandard package), told by the file's first bytes.  A
compressed capture is read in pieces of ``PIECE`` bytes through the same walker (packets cut between two
pieces are joined); the statistics' ``offset`` then counts the compressed file's bytes.  So is a stream:
``-`` (standard input: ``tcpdump -w - ... | vega ingest -``), a pipe or FIFO, plain or compressed (its
``offset`` counts the capture's bytes).  Decompression goes in bounded steps whatever the compressed file
says: a small file that decompresses to gigabytes (a zstd "bomb") costs time, not memory (``_ZstdFrames``).

``udp_datagrams(path)`` yields ``(epoch_ns, dst_ip, dst_port, payload)`` for every whole, unfragmented IPv4/UDP
packet, in file order; ``payload`` is a memoryview into the mapped file, or into the decompressed piece of a
compressed one (copy it to keep it past the reader).
Everything else is counted by reason in the ``PcapStats`` it fills, never raised: a capture holds ARP, TCP,
IPv6, fragments and cut packets too, and may hold a corrupt time (a datagram stamped more than ``FUTURE_NS``
after the wall clock is ``future_timestamp``).  A file that is not a capture, or breaks off inside its
framing, raises :class:`PcapError` with one readable line (after the packets before the damage were yielded);
so does a compressed capture whose compression is damaged (a ``tcpdump -z gzip`` file still being written, a
partial copy), after the whole packets decompressed before the damage.

Link types: Ethernet (with 802.1Q / 802.1ad VLAN tags), raw IP, IPv4, Linux cooked (SLL and SLL2), BSD
loopback (NULL and LOOP).

The walk itself is :class:`vega._pcap.PcapScanner`, one nogil loop over the mapped file.  ``vega ingest`` uses
it directly (:func:`scan_batches`, :meth:`vega.capture.Capture.ingest_pcap`): the datagrams go from the mapping
to the pipeline without a Python object each.  A pcapng interface's ``if_tsoffset`` (seconds) is added to its
times; a pcapng time past the year 2262 (out of the int64 range of nanoseconds) or before 1970 counts as
``malformed``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import mmap
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import zstandard as _zstd    # (private: without zstandard, stubtest took an Any for a name of vega.pcap)
    from typing_extensions import Buffer

    from vega._pcap import PcapScanner

__all__ = ["PcapError", "PcapStats", "udp_datagrams", "scan_batches", "Batch", "LINKTYPES"]

#: link types understood: number -> name
LINKTYPES = {0: "NULL", 1: "EN10MB", 101: "RAW", 108: "LOOP", 113: "LINUX_SLL", 228: "IPV4", 276: "LINUX_SLL2"}

#: datagrams per scan of the mapped file
BATCH = 4096
#: a datagram stamped more than this many ns after the wall clock (at the start of a file's read) is counted as
#: ``future_timestamp`` and skipped: a recorded packet cannot come from the future, so such a time is damage (a
#: flipped top bit of the seconds is the year 2094), and believed it would move the ingest's day there.  A day
#: leaves room for a capturing box whose clock is off by a time zone, and for a file still being written.
FUTURE_NS = 86_400 * 10**9


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
    future_timestamp: int = 0    # stamped more than FUTURE_NS after the wall clock: a corrupt time
    earlier_day_timestamp: int = 0   # Capture.ingest_pcap: an earlier day's, amid a day's datagrams: a corrupt time
    offset: int = 0              # bytes of the current file read so far (for progress)
    link_types: dict[str, int] = dataclasses.field(default_factory=dict)    # link type name -> packets

    def skipped(self) -> dict[str, int]:
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("packets", "datagrams", "link_types", "offset") and v}


def udp_datagrams(path: str | Path, stats: PcapStats | None = None) -> Iterator[tuple[int, int, int, memoryview]]:
    """``(epoch_ns, dst_ip (int, host order), dst_port, payload)`` of every IPv4/UDP datagram of the capture."""
    for b in scan_batches(path, stats, batch=1024):
        n, view = b.n, b.view
        for t, d, p, o, k in zip(b.ts[:n].tolist(), b.dst[:n].tolist(), b.port[:n].tolist(),
                                 b.offset[:n].tolist(), b.length[:n].tolist()):
            yield t, d, p, view[o:o + k]


@dataclasses.dataclass
class Batch:
    """Datagrams of one scan: ``n`` of them, in file order, in the first ``n`` entries of the arrays (time ns
    since the epoch, destination address (host order) and port, payload offset and length in ``buffer``, the
    mapped file, of which ``view`` is a memoryview).  Valid until the next batch of the same file."""

    n: int
    ts: npt.NDArray[np.int64]
    dst: npt.NDArray[np.uint32]
    port: npt.NDArray[np.uint16]
    offset: npt.NDArray[np.int64]
    length: npt.NDArray[np.int32]
    buffer: mmap.mmap | bytes     # the mapped file, or the decompressed piece of a compressed capture or a stream
    view: memoryview
    stopped: bool = False        # the scan stopped before a datagram at or past ``stop_ns`` (it comes next)
    next_ts: int = 0             # ... captured at this time


def scan_batches(path: str | Path, stats: PcapStats | None = None, batch: int = BATCH,
                 stop_ns: Callable[[], int | None] | None = None) -> Iterator[Batch]:
    """The capture's datagrams in :class:`Batch`-es of up to ``batch`` (>= 1), read by the nogil walker.

    ``stats`` is brought up to date after every batch (``offset`` too, for progress: bytes of the file, so of
    the compressed file for a compressed capture).  ``stop_ns``: None, or a callable returning the time at
    which a batch must end (the generator asks before every scan): a datagram at or after it starts the next
    batch, so the caller can act in between (a new trading day; the callable must then return a later time,
    or that datagram stops the next batch again, with none before it).  Framing damage, or damage to a
    compressed file's compression, raises :class:`PcapError` after the batches before it (for the
    compression: after the whole packets decompressed before the damage)."""
    from vega._pcap import PcapScanner
    if batch < 1:                      # (a scan into empty arrays reads nothing: scan_batches looped for ever)
        raise ValueError(f"batch must be >= 1, not {batch!r}")
    path = Path(path)
    st = stats if stats is not None else PcapStats()
    arrays = (np.empty(batch, np.int64), np.empty(batch, np.uint32), np.empty(batch, np.uint16),
              np.empty(batch, np.int64), np.empty(batch, np.int32))
    with _source(path) as (mm, piece):
        data: mmap.mmap | bytes
        if mm is not None:
            data = mm
        else:
            assert piece is not None      # (_source gives a mapping or the pieces)
            data = piece(None)
        view = memoryview(data)
        sc: PcapScanner | None = None
        try:
            try:
                sc = PcapScanner(view, _label(path), partial=piece is not None and not piece.final)
                base = _Counts(st)
                while not sc.done:
                    limit = stop_ns() if stop_ns is not None else None
                    try:
                        n = sc.scan(*arrays) if limit is None else sc.scan(*arrays, stop_ns=limit)
                    finally:
                        base.update(sc, piece.position if piece is not None else None)
                    if n or sc.stopped:
                        yield Batch(n, *arrays, data, view, sc.stopped, sc.next_ts)
                    if sc.needs_more:          # a compressed capture: the next piece, after what is left
                        assert piece is not None      # (a mapped file is all there: its scan needs no more)
                        data = piece(sc.offset)
                        old, view = view, memoryview(data)
                        sc.refill(view, piece.final)
                        old.release()
                        base.update(sc, piece.position)
            except PcapError as e:
                if piece is None or piece.error is None:
                    raise
                if piece.refused:      # no damage: what the scanner makes of the piece's end is no news
                    raise PcapError(piece.error) from None
                # the last piece ends at the damage: its packet cut there (or what the scanner made of
                # bytes the damage left) is told after the damage, which is the cause
                what = str(e).removeprefix(f"{_label(path)}: ")
                raise PcapError(f"{piece.error}: {what}") from None
            finally:
                del sc
            if piece is not None and piece.error is not None:   # the damage fell between two packets
                raise PcapError(piece.error)
        finally:
            view.release()


#: compressed captures (tcpdump -z gzip, and the like) are read in pieces of this many bytes
PIECE = 8 << 20
#: the longest packet record or pcapng block a compressed capture may have (a longer one is damage)
MAX_RECORD = 64 << 20
_COMPRESSION = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bzip2"),
                *((bytes([0x50 + k, 0x2A, 0x4D, 0x18]), "zstd") for k in range(16)))   # a skippable frame (pzstd)


class _Read1(Protocol):
    """A reader of decompressed (or a stream's) bytes: ``read1(n)`` returns up to ``n`` bytes, b"" at the end."""

    def read1(self, n: int, /) -> bytes: ...


#: the exceptions by which a reader says its compressed bytes are damaged (or a stream's read failed)
_Damage = tuple[type[Exception], ...]


class _Pieces:
    """A compressed capture read in pieces: ``piece(None)`` is the first, ``piece(offset)`` the next, starting
    at that offset of the capture (what the scanner has not read of the last piece).  ``final``: the piece
    holds the rest of the capture; ``position``: bytes of the compressed file read for the pieces so far (None
    for a stream: a pipe has no position; ``raw`` None).  ``kind`` "plain": an uncompressed stream.

    Damage to the compression (a file cut short, a flipped byte) or a failing read ends the capture there:
    the piece then holds everything decompressed before it and is ``final``, and ``error`` is the one line
    saying so (None while there is none), for the reader to raise once it has walked that piece.

    The next piece is decompressed by a helper thread while the caller works on this one (zlib, lzma, bz2
    and zstandard release the GIL, as does the pipeline's nogil loop): a gzip capture ingests at about the
    speed of the slower of the two instead of their sum.  ``close()`` waits for it."""

    def __init__(self, path: str, kind: str, reader: _Read1, damage: _Damage, raw: IO[bytes] | None):
        import concurrent.futures
        self.path, self.kind, self.reader, self.damage, self.raw = path, kind, reader, damage, raw
        self.data = b""
        self.start = 0                 # the capture's offset of data[0]
        self.final = False
        self.position: int | None = 0
        self.error: str | None = None
        self.refused = False           # the error is a zstd window refused (_TooLarge), not damage
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vega-pcap")
        self._next: Future[tuple[bytes, int | None, Exception | None]] | None = \
            self._pool.submit(self._read, max(PIECE, 64))    # the first piece holds the header

    def _read(self, want: int) -> tuple[bytes, int | None, Exception | None]:
        """Up to ``want`` decompressed bytes (fewer only at the end or at damage), the compressed file's
        position, and the damage met (None).  ``read1``, not ``read``: a ``read(n)`` of gzip, xz, bzip2 or
        zstd that meets damage raises and drops what it decompressed before it (up to a whole piece); each
        ``read1`` returns what one step decompressed, so the damage costs only what lies past it."""
        parts: list[bytes] = []
        got, damage = 0, None
        try:
            while got < want:
                more = self.reader.read1(want - got)
                if not more:
                    break
                parts.append(more)
                got += len(more)
        except self.damage as e:
            damage = e
        return b"".join(parts), self.raw.tell() if self.raw is not None else None, damage

    def __call__(self, at: int | None) -> bytes:
        left = b"" if at is None else self.data[at - self.start:]
        if len(left) > MAX_RECORD:
            raise PcapError(f"{self.path}: the packet record at byte {at} of the capture is longer than "
                            f"{MAX_RECORD >> 20} MiB: damaged")
        assert self._next is not None   # (no piece is asked for after the final one)
        more, self.position, damage = self._next.result()
        want = PIECE if at is not None else max(PIECE, 64)
        self.final = damage is not None or len(more) < want
        self._next = None if self.final else self._pool.submit(self._read, PIECE)
        self.start = 0 if at is None else at
        self.data = left + more if left else more
        at = self.start + len(self.data)
        self.refused = isinstance(damage, _TooLarge)
        if isinstance(damage, _TooLarge):
            self.error = (f"{self.path}: the zstd frame at byte {at} of the capture needs a "
                          f"{damage.window / (1 << 20):,.0f} MiB window, more than the {_ZstdFrames.WINDOW_MAX >> 20} "
                          f"MiB read here (zstd --long=28 and above make one): decompress it with zstd -d --long=31")
        elif damage is not None:       # raised by the reader after the packets before it (scan_batches)
            what = "reading it failed" if self.kind == "plain" else f"its {self.kind} compression is damaged"
            self.error = f"{self.path}: {what} after byte {at} of the capture ({damage})"
        return self.data

    def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
            try:
                self._next.result()
            except Exception:
                pass                   # a read ahead that nobody wants any more
        self._pool.shutdown()


def _label(path: str | Path) -> str:
    """The capture's name in messages."""
    return "standard input" if str(path) == "-" else str(path)


@contextlib.contextmanager
def _source(path: Path) -> Iterator[tuple[mmap.mmap, None] | tuple[None, _Pieces]]:
    """``(mmap, None)`` for a capture file; ``(None, pieces)`` for a compressed one (gzip, zstd, xz, bzip2,
    told by their magic bytes), and for a stream: ``-`` (standard input), a pipe, a FIFO, a device.
    PcapError with one line when it cannot be opened."""
    import os
    import stat
    import sys
    f: io.BufferedReader
    if str(path) == "-":
        stdin = sys.stdin
        if stdin is None:                                # (the process was started with it closed)
            raise PcapError("standard input is closed: give a capture file, or pipe one in (- reads it)")
        # (a BufferedReader, whose readinto1 _Prefixed reads; typeshed types sys.stdin.buffer as a BinaryIO)
        f, own = stdin.buffer, False  # type: ignore[assignment]
    else:
        try:
            f, own = open(path, "rb"), True
        except OSError as e:
            raise PcapError(f"{path}: {e.strerror}") from None
    try:
        regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
        head = f.read(6)                 # (a stream: until 6 bytes or its end; one peek may bring fewer)
        kind = next((k for magic, k in _COMPRESSION if head.startswith(magic)), None)
        if kind is not None or not regular:
            if regular:
                f.seek(0)
            # a stream: its first bytes given back (f stays what the finally below closes)
            src = f if regular else io.BufferedReader(_Prefixed(head, f))
            reader: _Read1
            damage: _Damage
            reader, damage = _decompressor(path, kind, src) if kind is not None else (src, (OSError,))
            pieces = _Pieces(_label(path), kind or "plain", reader, damage, f if regular else None)
            try:
                yield None, pieces
            finally:
                pieces.close()
            return
        size = f.seek(0, 2)
        if size < 12:
            raise PcapError(f"{path}: not a packet capture ({size} bytes)")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    finally:
        if own:
            f.close()
    try:
        yield mm, None
    finally:
        try:
            mm.close()
        except BufferError:
            pass                        # a payload view is still held by the caller: the map goes with it


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were read already (to tell its kind): ``head``, then the rest of ``f``."""

    def __init__(self, head: bytes, f: io.BufferedReader):
        self._head = memoryview(head)
        self._f = f

    def readable(self) -> bool:
        return True

    def readinto(self, b: Buffer) -> int:
        if len(self._head):
            out = memoryview(b)           # (a BufferedReader gives a memoryview of bytes)
            n = min(len(out), len(self._head))
            out[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._f.readinto1(b)      # what the stream has (at least a byte; 0 at its end)


def _decompressor(path: Path, kind: str, f: IO[bytes]) -> tuple[_Read1, _Damage]:
    """A reader of the decompressed bytes of ``f``, and the exceptions by which it says they are damaged."""
    if kind == "gzip":
        import gzip
        import zlib
        return gzip.GzipFile(fileobj=f, mode="rb"), (OSError, EOFError, zlib.error)
    if kind == "xz":
        import lzma
        return lzma.LZMAFile(f), (OSError, EOFError, lzma.LZMAError)
    if kind == "bzip2":
        import bz2
        return bz2.BZ2File(f), (OSError, EOFError, ValueError)
    try:
        import zstandard
    except ImportError:
        raise PcapError(f"{path}: a zstd-compressed capture needs the zstandard package "
                        f"(pip install zstandard, or vega[zstd])") from None
    return _ZstdFrames(f, zstandard), (OSError, EOFError, zstandard.ZstdError, _TooLarge)


class _TooLarge(Exception):
    """A zstd frame whose window (``window`` bytes) is more than ``_ZstdFrames.WINDOW_MAX``: refused, not damage."""

    def __init__(self, window: int):
        super().__init__(f"a zstd window of {window} bytes")
        self.window = window


class _Zstandard(Protocol):
    """What :class:`_ZstdFrames` uses of the zstandard module (an optional import: the caller passes it)."""

    @property
    def ZstdDecompressor(self) -> type[_zstd.ZstdDecompressor]: ...
    @property
    def ZstdError(self) -> type[_zstd.ZstdError]: ...


class _ZstdFrames:
    """The decompressed bytes of a zstd file, frame after frame (``read1``), in steps of at most ``BLOCKS``
    blocks, and EOFError when the file ends inside a frame: the zstandard stream reader takes the end of a file
    cut short for the stream's end, so a cut that fell between two packets went unreported (gzip, xz and bzip2
    raise).

    The frames and blocks are walked here, by their headers, before the bytes go to the decompressor: a zstd
    block makes at most 128 KiB, but 4 bytes of it can say so (an RLE block), so a chunk of compressed bytes
    decompressed at once made up to 32,768 times its size (a hostile frame of 32 KiB, a GiB of zeros, in one
    call).  Fed at most ``BLOCKS`` blocks at a time, the decompressor makes at most ``BLOCKS`` x 128 KiB a
    step, whatever the frame says; libzstd's own window, declared by the frame, comes on top: at most
    ``WINDOW_MAX``, libzstd's default limit and what the zstd tool decompresses without ``--memory``: 128 MiB,
    the window of ``zstd --long`` and ``--ultra -22`` (``-19`` writes 8 MiB, the default ``-3`` 2 MiB).  A frame
    declaring more (``zstd --long=28`` and above) is refused (_TooLarge) before any of it is decompressed.
    Bytes that are no zstd or skippable frame, a reserved block type or a block of more than 128 KiB are damage
    (ZstdError): libzstd refuses them too.  (Slices of 128 compressed bytes fed to a decompressobj bound a step
    the same in fewer lines, but decompress at half the speed: 0.21 s against 0.09 s for a 97 MB capture.)"""

    CHUNK = 256 << 10                 # compressed bytes read at a time
    BLOCKS = 32                       # blocks decompressed in one step: at most 4 MiB
    BLOCK_MAX = 128 << 10             # what a block holds and makes at most (zstd's Block_Maximum_Size)
    WINDOW_MAX = 128 << 20            # the largest frame window read
    _FCS = (0, 2, 4, 8)               # bytes of the frame content size by its flag (0: 1 if single segment)
    _DID = (0, 1, 2, 4)               # bytes of the dictionary id by its flag

    _frame: _zstd.ZstdDecompressionObj | None     # (typed here: in __init__ "zstandard" is its argument)

    def __init__(self, f: IO[bytes], zstandard: _Zstandard):
        self._f, self._z = f, zstandard
        self._dctx = zstandard.ZstdDecompressor(max_window_size=self.WINDOW_MAX)   # a frame's decompressobj at a time
        self._in = memoryview(b"")    # compressed bytes read, not yet walked
        self._frame = None            # the frame being decompressed; None between two frames
        self._state = "frame"         # what the next compressed bytes begin: a "frame", its "header", a "block"
        self._left = 0                # bytes still to pass before that: a block's, a checksum's, a skipped frame's
        self._skip = False            # the bytes walked are a skippable frame's (not decompressed)
        self._sum = 0                 # bytes of the content checksum after the frame's last block
        self._out = b""

    def read1(self, n: int) -> bytes:
        while not self._out:
            cut = self._walk()
            if not cut:
                data = self._f.read(self.CHUNK)
                if not data:
                    if len(self._in) or self._left or self._state != "frame":
                        raise EOFError("the file ends inside a zstd frame: cut short")
                    return b""
                self._in = memoryview(self._in.tobytes() + data if len(self._in) else data)
                continue
            step, self._in = self._in[:cut], self._in[cut:]
            if not self._skip:
                self._out = self._decompress(step)
        if len(self._out) <= n:         # (the common case, a piece wanting more: no copy)
            out, self._out = self._out, b""
        else:
            out, self._out = self._out[:n], self._out[n:]
        return out

    def _decompress(self, step: memoryview) -> bytes:
        """The bytes made of a step of the frame being walked; ZstdError where the frame does not end where
        its blocks do."""
        if self._frame is None:
            self._frame = self._dctx.decompressobj()
        out: bytes = self._frame.decompress(step)     # (Any where zstandard is not installed)
        ended = self._state == "frame" and not self._left
        if self._frame.eof != ended or self._frame.unused_data:
            raise self._z.ZstdError("a zstd frame does not end where its blocks do")
        if ended:
            self._frame = None
        return out

    def _walk(self) -> int:
        """How many of the bytes read (``_in``) the next step takes: up to ``BLOCKS`` block headers of one
        frame, to the frame's end at the most, or one skippable frame; 0 when a header is not all there yet."""
        b, p, blocks = self._in, 0, 0
        while True:
            if self._left:
                k = min(self._left, len(b) - p)
                p, self._left = p + k, self._left - k
                if self._left:
                    return p
            if self._state == "frame":
                if p or len(b) < 4:
                    return p                          # a step ends with its frame
                magic = int.from_bytes(b[:4], "little")
                self._skip = magic & 0xFFFFFFF0 == 0x184D2A50
                if self._skip:
                    if len(b) < 8:
                        return 0
                    self._left = int.from_bytes(b[4:8], "little")
                    p = 8
                    continue
                if magic != 0xFD2FB528:
                    raise self._z.ZstdError(f"not a zstd frame (magic {magic:#010x})")
                p, self._state = 4, "header"
            elif self._state == "header":
                if p == len(b):
                    return p
                fhd = b[p]
                single = (fhd >> 5) & 1
                size = 1 + (1 - single) + self._DID[fhd & 3] + (self._FCS[fhd >> 6] or single)
                if fhd & 0x08:
                    raise self._z.ZstdError("a zstd frame header with its reserved bit set")
                if len(b) - p < size:
                    return p
                if single:                          # the window is the content size
                    at, k = p + 1 + self._DID[fhd & 3], self._FCS[fhd >> 6] or 1
                    window = int.from_bytes(b[at:at + k], "little") + (256 if k == 2 else 0)
                else:                               # the window descriptor: a power of 2 and eighths of it
                    window = (8 + (b[p + 1] & 7)) << (7 + (b[p + 1] >> 3))
                if window > self.WINDOW_MAX:
                    raise _TooLarge(window)
                p, self._state, self._sum = p + size, "block", 4 if fhd & 0x04 else 0
            else:
                if blocks == self.BLOCKS or len(b) - p < 3:
                    return p
                head = int.from_bytes(b[p:p + 3], "little")
                kind, size = (head >> 1) & 3, head >> 3
                if kind == 3 or size > self.BLOCK_MAX:
                    raise self._z.ZstdError(f"a zstd block of type {kind} and {size} bytes: damaged")
                blocks += 1
                p, self._left = p + 3, 1 if kind == 1 else size      # an RLE block holds its one byte
                if head & 1:                                          # the frame's last block, its checksum
                    self._left += self._sum
                    self._state = "frame"

    def close(self) -> None:
        self._out = b""


class _Counts:
    """Adds a scanner's counts to a PcapStats as they grow (several files add up in one PcapStats)."""

    def __init__(self, st: PcapStats):
        self.st = st
        self.packets = 0
        self.kinds: dict[str, int] = {}
        self.links: dict[str, int] = {}
        st.offset = 0

    def update(self, sc: PcapScanner, offset: int | None = None) -> None:
        st = self.st
        packets, kinds, links = sc.counts()
        st.packets += packets - self.packets
        self.packets = packets
        for k, v in kinds.items():
            setattr(st, k, getattr(st, k) + v - self.kinds.get(k, 0))
        for k, v in links.items():
            st.link_types[k] = st.link_types.get(k, 0) + v - self.links.get(k, 0)
        self.kinds, self.links = kinds, links
        st.offset = sc.offset if offset is None else offset
