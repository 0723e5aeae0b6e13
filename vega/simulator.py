"""A synthetic NSE market sent as UDP multicast on loopback (or written to a pcap file).

:class:`Simulator` generates, per segment ("FO", "CM"), a deterministic wire-exact stream with
:mod:`vega._streams` (random-walk prices, five-level depth, trades, market watch, tickers, open interest,
buyback and SPOS messages, optionally a pre-open and an auction phase; LZO1Z-compressed like the exchange,
per-stream BCSeqNo; by default also the index broadcasts CM 7207/7216/8207 and the F&O open interest per
underlying 7130/17130, keyed by the AssetToken :meth:`Simulator.write_master` writes, and the documented broadcasts
VEGA counts without merging: 7206 system information, the market-state messages at the phase changes and the
close, a trickle of F&O 7211/7340/7220/6501 and CM 7214/7215/6501), then sends it to each
segment's group and port at a chosen rate with batched ``sendmmsg`` calls.  It only ever sends to loopback:
a multicast group with ``IP_MULTICAST_IF`` 127.0.0.1, loop on and TTL 0, or a 127.0.0.0/8 unicast address.

The stream is generated before sending (the generator makes ~5,000-8,000 datagrams/s in Python; the sender
then paces at any rate the kernel takes).  ``expected`` holds what was generated: datagrams, messages and
messages per code for each segment, which is what a loss-free capture must account for, and the last index
values and open interest per underlying sent, which is what the capture's stores must end with.
"""
from __future__ import annotations

import builtins
import dataclasses
import datetime as _dt
import ipaddress
import itertools
import math
import socket
import struct
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from vega import _streams

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["DEFAULT_FEEDS", "Simulator", "SimulatorError", "Expected", "check_loopback_target",
           "multicast_sender", "write_pcap", "read_pcap"]

#: segment -> (default multicast group, UDP port), used by the simulator and the capture alike
DEFAULT_FEEDS = {"FO": ("239.70.2.1", 34302), "CM": ("239.70.4.1", 34304)}


#: the codes Expected.market_state keeps: 7206 and the market-state messages of either segment
_MARKET_STATE_CODES = frozenset({7206} | {c for seg in _streams.MARKET_STATE.values() for ev in seg.values()
                                         for c, _ in ev})


class SimulatorError(ValueError):
    """A simulator setting that cannot work (a non-loopback target, a bad segment or rate)."""


@dataclasses.dataclass
class Expected:
    """What the simulator generated for one segment.

    ``indices``: index name -> the last 7207 / 7216 record sent for it (the decoded record dict: ``index_value``
    etc., index x 100); ``indicative``: index name -> the last 8207 record; ``underlying_oi``: underlying token
    (contract.txt AssetToken) -> the last CurrentOI sent in 7130 / 17130.  Empty for the other segment or when
    the simulator runs without ``index_oi``.  ``market_state``: the 7206 system information and market-state
    messages (6531, 6571, 6511, 6521, CM 6583 / 6584, F&O 6522) sent, in order, as the message dicts
    ``vega.decode()`` gives for them; empty without ``broadcasts``."""

    datagrams: int = 0
    messages: int = 0
    by_code: Counter[int] = dataclasses.field(default_factory=Counter)
    bytes: int = 0
    indices: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    indicative: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    underlying_oi: dict[int, int] = dataclasses.field(default_factory=dict)
    market_state: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def add(self, msgs: list[dict[str, Any]], datagram: builtins.bytes) -> None:   # `bytes` here is the field above
        """Account for one generated datagram and the message dicts it carries."""
        self.datagrams += 1
        self.bytes += len(datagram)
        self.messages += len(msgs)
        for m in msgs:
            code = m["transaction_code"]
            self.by_code[code] += 1
            if code in (7207, 7216):
                self.indices.update((r["index_name"], r) for r in m["records"])
            elif code == 8207:
                self.indicative.update((r["index_name"], r) for r in m["records"])
            elif code in (7130, 17130):
                self.underlying_oi.update((r["token"], r["current_oi"]) for r in m["records"])
            elif code in _MARKET_STATE_CODES:
                self.market_state.append(m)


def check_loopback_target(host: str, port: int) -> bool:
    """Validate a send target; returns True for multicast, False for loopback unicast.  SimulatorError for
    anything that could leave the machine or is not an address."""
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        raise SimulatorError(f"{host!r} is not an IPv4 address") from None
    if not 1 <= int(port) <= 65535:
        raise SimulatorError(f"port {port} is not in 1..65535")
    if ip.is_multicast:
        return True
    if ip.is_loopback:
        return False
    raise SimulatorError(f"{host} is neither a multicast group nor a loopback address: the simulator only "
                         "sends on loopback")


def multicast_sender(host: str, port: int, *, interface: str = "127.0.0.1", sndbuf: int = 4 << 20) -> socket.socket:
    """A UDP socket connected to ``host:port``; for a multicast group it sends through ``interface`` with
    loop on and TTL 0 (the datagrams never leave the host)."""
    multicast = check_loopback_target(host, port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        if multicast:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
        s.connect((host, int(port)))
    except BaseException:
        s.close()
        raise
    return s


class Simulator:
    """A simulated NSE market for ``segments``: ``n_datagrams`` per segment, deterministic for ``seed``.

    ``targets``: segment -> (group or loopback address, port), default :data:`DEFAULT_FEEDS`.
    ``phases``: open the day with pre-open and auction phases.  ``n_tokens``: instruments per segment
    (default: the generator's).  ``index_oi``: send the index broadcasts (CM 7207 every ~40 datagrams, 7216,
    8207 near the close) and the open interest per underlying (F&O 17130 and 7130 in bursts).  ``broadcasts``:
    send 7206 system information, the market-state messages (pre-open, its end, the open, the close in the last
    datagram) and a light trickle of other documented codes VEGA counts without merging (vega._streams,
    ``broadcasts``).  Call :meth:`generate` (or let :meth:`send` / :meth:`write` do it)."""

    def __init__(self, segments: Iterable[str] = ("FO", "CM"), n_datagrams: int = 10_000, *, seed: int = 1,
                 targets: Mapping[str, tuple[str, int]] | None = None, interface: str = "127.0.0.1",
                 phases: bool = True, n_tokens: int | None = None, duration_s: float | None = None,
                 index_oi: bool = True, broadcasts: bool = True):
        self.segments = [str(s).upper() for s in segments]
        for s in self.segments:
            if s not in DEFAULT_FEEDS:
                raise SimulatorError(f"unknown segment {s!r} (expected FO or CM)")
        if len(set(self.segments)) != len(self.segments) or not self.segments:
            raise SimulatorError("segments must be distinct and not empty")
        if not isinstance(n_datagrams, int) or n_datagrams < 1:
            raise SimulatorError("the datagram count must be a positive integer")
        self.n_datagrams = n_datagrams
        self.seed = seed
        self.targets: dict[str, tuple[str, int]] = {}
        for s in self.segments:
            host, port = (targets or {}).get(s, DEFAULT_FEEDS[s])        # (a [host, port] list too)
            self.targets[s] = (host, port)
        for host, port in self.targets.values():
            check_loopback_target(host, port)
        self.interface = interface
        self.phases = phases
        self.n_tokens = n_tokens
        self.duration_s = duration_s
        self.index_oi = bool(index_oi)
        self.broadcasts = bool(broadcasts)
        self.datagrams: dict[str, list[bytes]] = {}
        self.expected: dict[str, Expected] = {}
        self.sent: dict[str, int] = {s: 0 for s in self.segments}

    def universe(self, segment: str, expiry_base: _dt.date | None = None) -> npt.NDArray[np.void]:
        """The instruments of one segment's stream (``INSTRUMENT_DTYPE`` array, vega.instruments): F&O index
        and stock futures and options, CM equities, with the tokens the datagrams use."""
        seg = str(segment).upper()
        if seg not in self.segments:
            raise SimulatorError(f"segment {segment!r} is not simulated here ({', '.join(self.segments)})")
        k = self.segments.index(seg)
        return _streams.instrument_universe(seg, self.seed + 1000 * k, n_tokens=self.n_tokens,
                                            expiry_base=expiry_base)

    def asset_tokens(self) -> dict[str, int]:
        """F&O symbol -> its underlying's token, as contract.txt's AssetToken gives it (and as 7130 / 17130
        key the open interest): the index tokens of the index symbols (26000 NIFTY, 26009 BANKNIFTY, 26037
        FINNIFTY), for a stock the first CM token of the same symbol when CM is simulated, else a stable hash
        (``_streams.asset_token``) moved on to a token no simulated CM security or other underlying uses."""
        if "FO" not in self.segments:
            return {}
        k = self.segments.index("FO")
        gen = _streams._Generator("FO", self.seed + 1000 * k, self.n_tokens, _streams._DEFAULT_DATE,
                                  _streams.SESSION_SECONDS, 1, 0.0)
        first: dict[str, int] = {}
        taken = set(_streams.RESERVED_CM_TOKENS)
        if "CM" in self.segments:
            cm = self.universe("CM")
            for tok, sym in zip(cm["token"].tolist(), cm["symbol"].tolist()):
                first.setdefault(sym, tok)
                taken.add(tok)
        out = {}
        for sym in sorted({m[1] for m in gen.meta.values()}):
            if sym in _streams._INDICES:
                out[sym] = _streams.asset_token(sym)
            elif sym in first:
                out[sym] = first[sym]
            else:                 # a stock without CM: a token no CM security and no other underlying has
                tok = _streams.asset_token(sym)
                while tok in taken:
                    tok = tok % 30000 + 1
                out[sym] = tok
                taken.add(tok)
        return out

    def write_master(self, directory: str | Path, expiry_base: _dt.date | None = None) -> dict[str, Path]:
        """Write the NSE master files of the simulated instruments into ``directory``: ``contract.txt`` (F&O)
        and ``security.txt`` (CM), for the segments simulated.  Option expiries fall ``_streams.EXPIRY_DAYS``
        after ``expiry_base`` (default today, IST), which is what the streamed option prices assume.  Stock
        options' underlyings point at a CM token of the same symbol when CM is simulated too.  Returns
        {"contract": path, "security": path} for the files written."""
        from vega.instruments import write_contract_file, write_security_file
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        out: dict[str, Path] = {}
        cm = self.universe("CM") if "CM" in self.segments else None
        if cm is not None:
            out["security"] = d / "security.txt"
            write_security_file(out["security"], cm)
        if "FO" in self.segments:
            fo = self.universe("FO", expiry_base)
            assets = self.asset_tokens()
            fo["asset_token"] = [assets[sym] for sym in fo["symbol"].tolist()]
            out["contract"] = d / "contract.txt"
            write_contract_file(out["contract"], fo)
        return out

    def _segment_stream(self, k: int, seg: str, assets: dict[str, int] | None
                        ) -> Iterator[tuple[list[dict[str, Any]], bytes]]:
        """(messages, datagram) of segment ``seg`` (the ``k``-th), generated one at a time."""
        duration = _streams.SESSION_SECONDS if self.duration_s is None else self.duration_s
        return _streams._stream(seg, self.n_datagrams, self.seed + 1000 * k, self.n_tokens, _streams._DEFAULT_DATE,
                                duration, 0.02, None, self.phases, self.index_oi, assets, self.broadcasts)

    def generate(self, progress: Callable[[str, int], None] | None = None) -> None:
        """Generate every segment's datagrams (deterministic; a no-op the second time)."""
        if self.datagrams:
            return
        assets = self.asset_tokens() if self.index_oi else None
        for k, seg in enumerate(self.segments):
            exp = Expected()
            out: list[bytes] = []
            for msgs, dg in self._segment_stream(k, seg, assets):
                out.append(dg)
                exp.add(msgs, dg)
                if progress and exp.datagrams % 5000 == 0:
                    progress(seg, exp.datagrams)
            self.datagrams[seg] = out
            self.expected[seg] = exp

    def _generated_chunks(self, chunk: int) -> Iterator[tuple[str, list[bytes]]]:
        """(segment, datagrams) in send order, each chunk generated when it is taken (``stream=True``): the same
        datagrams in the same order as :meth:`_chunks` over :meth:`generate`'s lists, with no more than one
        chunk in memory; ``expected`` counts what was generated so far."""
        assets = self.asset_tokens() if self.index_oi else None
        its = {seg: iter(self._segment_stream(k, seg, assets)) for k, seg in enumerate(self.segments)}
        self.expected = {seg: Expected() for seg in self.segments}
        live = list(self.segments)
        while live:
            for seg in list(live):
                out = []
                for msgs, dg in itertools.islice(its[seg], chunk):
                    out.append(dg)
                    self.expected[seg].add(msgs, dg)
                if len(out) < chunk:
                    live.remove(seg)
                if out:
                    yield seg, out

    def _chunks(self, chunk: int) -> list[tuple[str, int, int]]:
        """Send order: the segments interleaved in chunks of ``chunk`` datagrams."""
        order, pos = [], {s: 0 for s in self.segments}
        while any(pos[s] < len(self.datagrams[s]) for s in self.segments):
            for s in self.segments:
                n = min(chunk, len(self.datagrams[s]) - pos[s])
                if n > 0:
                    order.append((s, pos[s], n))
                    pos[s] += n
        return order

    def _send_order(self, chunk: int, stream: bool) -> Iterator[tuple[str, list[bytes]]]:
        """(segment, datagrams) in send order: generated while taken (``stream``, unless :meth:`generate` ran
        already), else slices of the generated lists."""
        if stream and not self.datagrams:
            return self._generated_chunks(chunk)
        self.generate()
        return ((seg, self.datagrams[seg][start:start + n]) for seg, start, n in self._chunks(chunk))

    def send(self, rate: float | None = 10_000.0, *, chunk: int = 32, stop: Callable[[], bool] | None = None,
             sockets: Mapping[str, socket.socket] | None = None, stream: bool = False) -> dict[str, int]:
        """Send everything at ``rate`` datagrams/s over all segments (None: as fast as possible); returns
        datagrams sent per segment.  ``stop()`` returning True ends early.  ``stream``: generate each chunk
        just before it is sent instead of the whole stream first: memory stays flat however long the run, but
        the rate is at most what the generator makes (pure Python: thousands of datagrams per second).
        ``sockets``: segment -> the connected socket to send it through, the caller's (left open); it must hold
        one for every segment (an empty mapping holds none: SimulatorError, before anything is sent).  None:
        send() opens one per segment (:func:`multicast_sender` to its target) and closes them when it ends."""
        from vega._net import send_batch

        if rate is not None and not (rate > 0 and math.isfinite(rate)):
            raise SimulatorError("the rate must be a positive number of datagrams per second")
        if rate is not None:
            chunk = max(1, min(chunk, int(rate / 1000) or 1))       # about one chunk per millisecond or finer
        if sockets is not None and (missing := [s for s in self.segments if s not in sockets]):
            raise SimulatorError(f"sockets= has no socket for segment {', '.join(missing)}")
        order = self._send_order(chunk, stream)
        opened: dict[str, socket.socket] = {}                       # what send() opens, and closes
        socks = sockets if sockets is not None else opened
        try:
            if sockets is None:
                for s in self.segments:
                    opened[s] = multicast_sender(*self.targets[s], interface=self.interface)
            t0 = time.perf_counter()
            done = 0
            for seg, dgs in order:
                n = len(dgs)
                if stop is not None and stop():
                    break
                if rate is not None:
                    due = t0 + done / rate
                    while True:
                        now = time.perf_counter()
                        if now >= due:
                            break
                        if due - now > 0.002:
                            time.sleep(due - now - 0.001)
                k = 0
                fd = socks[seg].fileno()
                while k < n:                                   # ENOBUFS: the sender's queue is full; retry
                    got = send_batch(fd, dgs, k, n - k)
                    k += got
                    if got == 0:
                        time.sleep(0.0002)
                self.sent[seg] += n
                done += n
        finally:
            for sock in opened.values():
                sock.close()
        return dict(self.sent)

    def write(self, path: str | Path, rate: float = 10_000.0, *, stream: bool = False) -> int:
        """Write the stream to a pcap file (docs/FORMATS.md, "Simulator pcap"), stamped as if sent at
        ``rate`` datagrams/s from now; returns the number of datagrams written.  ``stream``: as for
        :meth:`send` (the same file, generated while written)."""
        if not (rate > 0 and math.isfinite(rate)):
            raise SimulatorError("the rate must be a positive number of datagrams per second")
        order = self._send_order(32, stream)
        t0 = time.time_ns()

        def items() -> Iterator[tuple[int, str, int, bytes]]:
            i = 0
            for seg, dgs in order:
                host, port = self.targets[seg]
                for dg in dgs:
                    yield t0 + int(i * 1e9 / rate), host, port, dg
                    i += 1
                self.sent[seg] += len(dgs)
        return write_pcap(path, items())


# ---- pcap (nanosecond pcap, LINKTYPE_RAW: IPv4 + UDP + the NSE datagram) -----------------------------------

PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_RAW = 101
_PCAP_HEAD = struct.Struct("<IHHiIII")
_PCAP_REC = struct.Struct("<IIII")
_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_UDP = struct.Struct(">HHHH")
SRC_ADDR = "127.0.0.1"
SRC_PORT = 40000


def _ip_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f">{len(header) // 2}H", header))     # (of unsigned shorts)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def write_pcap(path: str | Path, items: Iterable[tuple[int, str, int, bytes]]) -> int:
    """Write ``(epoch_ns, dst_addr, dst_port, payload)`` items as a nanosecond pcap of raw IPv4/UDP packets
    (source 127.0.0.1:40000, UDP checksum 0); returns the packet count."""
    n = 0
    src = socket.inet_aton(SRC_ADDR)
    with open(path, "wb") as f:
        f.write(_PCAP_HEAD.pack(PCAP_MAGIC_NS, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
        for ts, host, port, payload in items:
            if len(payload) > 65535 - 28:
                raise SimulatorError("datagram too large for UDP")
            if not 0 <= ts // 1_000_000_000 < 1 << 32:
                raise SimulatorError(f"timestamp {ts} ns is outside the pcap range")
            ip = _IPV4.pack(0x45, 0, 28 + len(payload), n & 0xFFFF, 0x4000, 0, 17, 0, src, socket.inet_aton(host))
            ip = ip[:10] + struct.pack(">H", _ip_checksum(ip)) + ip[12:]
            udp = _UDP.pack(SRC_PORT, port, 8 + len(payload), 0)
            size = 28 + len(payload)
            f.write(_PCAP_REC.pack(ts // 1_000_000_000, ts % 1_000_000_000, size, size))
            f.write(ip)
            f.write(udp)
            f.write(payload)
            n += 1
    return n


def read_pcap(path: str | Path) -> Iterator[tuple[int, str, int, bytes]]:
    """Read back what :func:`write_pcap` writes: ``(epoch_ns, dst_addr, dst_port, payload)``.  A packet that is
    not a whole IPv4/UDP one (a damaged file) is a SimulatorError naming its record, after the packets before
    it (:func:`vega.pcap.udp_datagrams` reads any capture, and skips such packets)."""
    with open(path, "rb") as f:
        head = f.read(_PCAP_HEAD.size)
        if len(head) < _PCAP_HEAD.size:
            raise SimulatorError(f"{path}: not a pcap file (too short)")
        magic, _, _, _, _, _, link = _PCAP_HEAD.unpack(head)
        if magic != PCAP_MAGIC_NS or link != LINKTYPE_RAW:
            raise SimulatorError(f"{path}: not a nanosecond raw-IPv4 pcap as vega simulate writes")
        while True:
            at = f.tell()
            rec = f.read(_PCAP_REC.size)
            if not rec:
                return
            if len(rec) < _PCAP_REC.size:
                raise SimulatorError(f"{path}: truncated packet record")
            sec, nsec, incl, _ = _PCAP_REC.unpack(rec)
            pkt = f.read(incl)
            if len(pkt) < incl or incl < 28:
                raise SimulatorError(f"{path}: truncated packet")
            ihl = (pkt[0] & 15) * 4
            if pkt[0] >> 4 != 4 or ihl < 20 or ihl + 8 > incl or pkt[9] != 17:
                raise SimulatorError(f"{path}: packet record at byte {at}: not an IPv4/UDP packet as vega simulate "
                                     "writes (damaged)")
            dst = socket.inet_ntoa(pkt[16:20])
            _, dport, ulen, _ = _UDP.unpack_from(pkt, ihl)
            if not 8 <= ulen <= incl - ihl:
                raise SimulatorError(f"{path}: packet record at byte {at}: UDP length {ulen} does not fit its "
                                     f"{incl - ihl} bytes (damaged)")
            yield sec * 1_000_000_000 + nsec, dst, dport, pkt[ihl + 8:ihl + ulen]
