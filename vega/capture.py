"""The capture engine: multicast groups -> FeedHandler -> store, ring and daily journal.

:class:`Capture` joins each configured feed's group (or binds a loopback unicast address), receives in
batches (``recvmmsg`` through :mod:`vega._net`), runs one :class:`vega._core.FeedHandler` per segment into a
store, publishes every change record to the ring slot of its feed (FO -> NSE_FO, CM -> NSE_EQ) and appends it
to ``<journal_root>/<FEED>/YYYYMMDD.bin``, takes journal checkpoints from the store, rolls the journal over
when the IST date changes, and seals it on :meth:`Capture.close`.  With a CM feed it also runs the index feed
NFO_IDX (the CM broadcast's index messages, into ``<store>-idx``, ring slot 2 and its own journal), and the
F&O handler merges open interest per underlying (7130/17130) into the CM store.  Datagrams go from the
``recvmmsg`` buffers straight into the handlers' nogil loop, stamped with the kernel's arrival time
(``SO_TIMESTAMPNS``), so a capture that falls behind still stamps each update with when it arrived.
``vega capture``, ``vega demo`` and the end-to-end tests all use it.

Configuration is TOML (every key: ``vega capture --example-config``, vega/capture.example.toml)::

    [capture]
    journal_root = "/var/lib/vega/journal"   # omit: no journal
    ring = "vega"                            # shared-memory ring name; omit: no ring
    store = "vega"                           # store name prefix (<store>-fo, -cm, -idx); omit: private
    store_capacity = 262144                  # instruments per segment (a named store reserves it all: 117 MiB)
    stats_interval = 5.0
    rcvbuf_mb = 64
    contract = "/var/lib/vega/contract.txt"  # F&O master: symbols + option metadata (IV); omit: none
    security = "/var/lib/vega/security.txt"  # CM master: symbols; omit: none
    iv_rate = 0.10                           # rate of the merge's implied volatility (spot carry, discounting)
    index_master = "/var/lib/vega/indices.csv"  # index name,token lines for the NFO_IDX feed; omit: defaults
    journal_spill_mb = 1024                  # a failed journal's records held in memory while it is retried
    journal_retry = 5.0                      # seconds between attempts to write a failed journal again
    silence_alarm = 30.0                     # seconds without a datagram before a feed is called silent (0: off)

    [[feed]]
    segment = "FO"
    group = "239.70.2.1"
    port = 34302
    interface = "127.0.0.1"
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import ipaddress
import math
import os
import select
import socket
import stat
import struct
import time
import tomllib
from pathlib import Path
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Callable, Literal, TypedDict

import numpy as np
import numpy.typing as npt

from vega._core import JOURNAL_GRACE_NS, MAX_CAPACITY as STORE_CAPACITY_MAX
from vega._files import StrPath, file_kind
from vega._text import fmt_age
from vega.simulator import DEFAULT_FEEDS

if TYPE_CHECKING:
    import mmap

    from typing_extensions import Buffer

    from vega._core import FeedHandler, Store
    from vega._journal import JournalWriter
    from vega._net import BatchReceiver
    from vega._ring import Reader, Ring
    from vega.instruments import Instruments
    from vega.pcap import PcapStats


__all__ = ["CaptureError", "FeedConfig", "CaptureConfig", "Capture", "load_config", "multicast_works",
           "FEED_OF_SEGMENT", "IST", "compare_stores", "replay_journal_into"]

#: segment -> ring slot / journal feed name
FEED_OF_SEGMENT = {"FO": "NSE_FO", "CM": "NSE_EQ"}
#: the index feed's ring slot / journal feed name (no socket of its own: its messages come on CM)
INDEX_FEED = "NFO_IDX"
#: capacity of the index feed's store (NSE publishes a few hundred indices)
INDEX_STORE_CAPACITY = 2048
IST = _dt.timezone(_dt.timedelta(hours=5, minutes=30), "IST")
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
#: store fields that are bookkeeping, not market data (not reproduced by replay)
META_FIELDS = {"seq", "_pad0", "last_update_ns", "update_count", "last_update_source", "last_md_ns"}


class CaptureError(Exception):
    """An operator-facing capture error (bad config, address, port, permission, journal root): one line."""


@dataclasses.dataclass
class FeedConfig:
    """One feed: a segment received on a multicast group (or a loopback unicast address) and port."""

    segment: str
    group: str
    port: int
    interface: str = "127.0.0.1"

    def validate(self) -> None:
        if self.segment not in FEED_OF_SEGMENT:
            raise CaptureError(f"feed segment {self.segment!r} is not FO or CM")
        try:
            ip = ipaddress.IPv4Address(self.group)
        except ValueError:
            raise CaptureError(f"feed {self.segment}: {self.group!r} is not an IPv4 address") from None
        if not (ip.is_multicast or ip.is_loopback):
            raise CaptureError(f"feed {self.segment}: {self.group} is neither a multicast group nor a loopback "
                               "address")
        try:
            ipaddress.IPv4Address(self.interface)
        except ValueError:
            raise CaptureError(f"feed {self.segment}: interface {self.interface!r} is not an IPv4 address") from None
        if not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise CaptureError(f"feed {self.segment}: port {self.port!r} is not in 1..65535")

    @property
    def multicast(self) -> bool:
        return ipaddress.IPv4Address(self.group).is_multicast


@dataclasses.dataclass
class CaptureConfig:
    """Everything a capture needs; see the module docstring for the TOML form."""

    feeds: list[FeedConfig] = dataclasses.field(
        default_factory=lambda: [FeedConfig(s, *DEFAULT_FEEDS[s]) for s in ("FO", "CM")])
    journal_root: StrPath | None = None
    ring: str | None = None
    store: str | None = None
    store_capacity: int = 262144       # instruments per segment; named stores reserve all of it in /dev/shm at start
    stats_interval: float = 5.0
    rcvbuf_mb: int = 64
    batch: int = 256
    checkpoint_interval: float = 60.0
    contract: StrPath | None = None    # NSE contract.txt: pre-populates the F&O store, option IV metadata
    security: StrPath | None = None    # NSE security.txt: pre-populates the CM store
    iv_rate: float = 0.10              # FeedHandler rate of the implied volatility
    index_master: StrPath | None = None  # name,token lines of the NFO_IDX feed (vega.indices.load_index_master)
    journal_spill_mb: float = 1024.0   # a failed journal's records held in memory while it is retried (0: off)
    journal_retry: float = 5.0         # seconds between attempts to write a failed journal again
    silence_alarm: float = 30.0        # seconds without a datagram before a feed is said silent and rejoined (0: off)

    def validate(self) -> None:
        if not self.feeds:
            raise CaptureError("no feeds configured")
        segs = [f.segment for f in self.feeds]
        if len(set(segs)) != len(segs):
            raise CaptureError("each segment may be configured once")
        for f in self.feeds:
            f.validate()
        # One segment per destination (group or address, port).  open_feed_socket binds each socket to its
        # group's address (not INADDR_ANY), so the kernel hands a socket only the datagrams sent to that
        # address: the same port on two different groups is two separate feeds (NSE does this), and so is
        # the same port on two loopback addresses.  Two sockets on the same group and port (SO_REUSEADDR
        # lets the second bind) would each receive every datagram of both, whatever their interfaces (Linux
        # delivers a group's datagrams to every socket bound to it, IP_MULTICAST_ALL), and an ingest routes
        # by destination, so one of the two would get all of them: refused here, for flags and config alike.
        seen: dict[tuple[int, int], str] = {}
        for f in self.feeds:
            dest = (int(ipaddress.IPv4Address(f.group)), f.port)
            if dest in seen:
                raise CaptureError(f"feeds {seen[dest]} and {f.segment} are both on {f.group}:{f.port}: each "
                                   "group and port may carry one segment")
            seen[dest] = f.segment
        if not isinstance(self.store_capacity, int) or not 1 <= self.store_capacity <= STORE_CAPACITY_MAX:
            raise CaptureError(f"store_capacity must be an integer in 1..{STORE_CAPACITY_MAX}")
        if not _finite(self.stats_interval) or self.stats_interval <= 0:
            raise CaptureError("stats_interval must be a positive number of seconds")
        from vega._journal import MAX_INTERVAL_S      # (the journal keeps it in int64 ns)
        if not _finite(self.checkpoint_interval) or not 0 <= self.checkpoint_interval <= MAX_INTERVAL_S:
            raise CaptureError(f"checkpoint_interval must be a number of seconds >= 0 (0: no checkpoints), at most "
                               f"{MAX_INTERVAL_S}")
        if not isinstance(self.rcvbuf_mb, int) or not 1 <= self.rcvbuf_mb <= 2048:
            raise CaptureError("rcvbuf_mb must be an integer in 1..2048 (Linux keeps at most 1 GiB of it)")
        if not isinstance(self.batch, int) or not 1 <= self.batch <= 4096:
            raise CaptureError("batch must be an integer in 1..4096")
        if not isinstance(self.iv_rate, (int, float)) or isinstance(self.iv_rate, bool) \
                or not -1.0 < self.iv_rate < 1.0:
            raise CaptureError("iv_rate must be a number in (-1, 1)")
        for k in ("journal_spill_mb", "silence_alarm"):
            v = getattr(self, k)
            if not _finite(v) or v < 0:
                raise CaptureError(f"{k} must be a number >= 0")
        # each attempt runs on the receive loop: the failed writer cuts its file back and writes its buffer again
        # (a given-up day's: a new file made), on a disk that gets room by someone's hand, in seconds at best; 0
        # retried after every batch, costing the feed for nothing (catching up, once it works, does not wait)
        if not _finite(self.journal_retry) or self.journal_retry < JOURNAL_RETRY_MIN:
            raise CaptureError(f"journal_retry must be a number of seconds >= {JOURNAL_RETRY_MIN:g} (how often a "
                               "failed journal is tried again)")
        # a NUL cannot be in a path or shared-memory name: open() would raise a bare "embedded null byte"
        # ValueError later (journal_root at the first datagram), and is_file() would call it "no such file"
        for k in ("journal_root", "ring", "store", "contract", "security", "index_master"):
            v = getattr(self, k)
            v = os.fspath(v) if isinstance(v, os.PathLike) else v
            if isinstance(v, str) and "\0" in v:
                raise CaptureError(f"{k} {v!r}: a path or name cannot contain a NUL character")
        for k, what in (("contract", "contract master file"), ("security", "security master file"),
                        ("index_master", "index master file")):
            v = getattr(self, k)
            if v is not None and not Path(v).is_file():
                try:                               # a directory, a FIFO (reading it would wait forever), ...
                    why = f"is {file_kind(os.stat(v).st_mode)}, not a regular file"
                except OSError as e:
                    why = "no such file" if isinstance(e, FileNotFoundError) else _errno_text(e)
                raise CaptureError(f"{what} {_path_text(v)}: {why}")
        from vega._core import _shm_path
        from vega._ring import ring_path
        try:                                       # names no shared-memory file can have
            if self.ring:
                ring_path(self.ring)
        except ValueError as e:
            raise CaptureError(str(e)) from None
        if self.store:
            try:
                for seg in ("FO", "CM", "IDX"):
                    _shm_path(store_name(self.store, seg))
            except ValueError:                     # (it named the store made of it, e.g. 'a/b-fo', not the prefix)
                raise CaptureError(f"store {self.store!r}: a store name prefix is 1-{_STORE_PREFIX_MAX} characters "
                                   "of [A-Za-z0-9_.-], the first a letter or digit (it names the stores "
                                   "<prefix>-fo, <prefix>-cm and <prefix>-idx)") from None


#: the least ``journal_retry``, seconds (CaptureConfig.validate says why)
JOURNAL_RETRY_MIN = 1.0

#: the longest store name prefix: a store name is at most 101 characters (vega._core), and "-idx" is added to it
_STORE_PREFIX_MAX = 101 - len("-idx")


def store_name(prefix: str, segment: str) -> str:
    """The shared-memory store of a segment's feed: ``<prefix>-<segment>`` (e.g. vega-fo)."""
    return f"{prefix}-{segment.lower()}"


def _path_text(v: StrPath) -> str:
    """A path as a message shows it: quoted when it has characters that are not printable (a newline would
    split the one-line error)."""
    v = os.fspath(v)
    return v if v.isprintable() else repr(v)


#: how long a config read from a pipe waits for its writer's next bytes, and the most it reads
PIPE_WAIT_S = 5.0
PIPE_MAX_BYTES = 1 << 20


def _read_pipe(path: StrPath, shown: str) -> str:
    """The text of a config given as a pipe: read until its writer closes it.  Opened non-blocking, so that a
    FIFO nobody writes to is refused after PIPE_WAIT_S of silence instead of waiting for ever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        parts: list[bytes] = []
        size = 0
        while True:
            if not poller.poll(PIPE_WAIT_S * 1000):
                raise CaptureError(f"config {shown}: a pipe nothing was written to for {PIPE_WAIT_S:g} s (a FIFO "
                                   "with no writer?)")
            try:
                b = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not b:                         # its writer closed it: the whole config
                return b"".join(parts).decode()
            size += len(b)
            if size > PIPE_MAX_BYTES:
                raise CaptureError(f"config {shown}: more than {PIPE_MAX_BYTES >> 20} MiB from a pipe: not a config")
            parts.append(b)
    finally:
        os.close(fd)


def _finite(v: Any) -> bool:
    """A real number, not a bool, NaN or infinity (a config value of seconds or sizes)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_CAPTURE_KEYS: dict[str, type | tuple[type, ...]] = {
                 "journal_root": str, "ring": str, "store": str, "store_capacity": int, "stats_interval": (int, float),
                 "rcvbuf_mb": int, "batch": int, "checkpoint_interval": (int, float), "contract": str,
                 "security": str, "iv_rate": (int, float), "index_master": str,
                 "journal_spill_mb": (int, float), "journal_retry": (int, float), "silence_alarm": (int, float)}
_FEED_KEYS: dict[str, type] = {"segment": str, "group": str, "port": int, "interface": str}


def load_config(path: str | Path | None, **overrides: Any) -> CaptureConfig:
    """Read a TOML config (None: defaults) and apply ``overrides`` (None values are ignored; ``feeds`` replaces
    the feed list).  CaptureError with one line on an unreadable, corrupt or inconsistent file (what an override
    replaces is not held against the file: the result is validated)."""
    cfg = CaptureConfig()
    if path is not None:
        shown = _path_text(path)                  # (a newline in the name would split the one-line error)
        if "\0" in os.fspath(path):              # (an API caller's: os.stat would raise a bare ValueError)
            raise CaptureError(f"config {shown}: a path cannot contain a NUL character")
        try:
            # a regular file, or a pipe (``-c <(...)``, ``-c /dev/stdin``) read as long as its writer writes; a
            # FIFO with no writer would wait for ever, a device may never end
            mode = os.stat(path).st_mode
            if stat.S_ISFIFO(mode):
                text = _read_pipe(path, shown)
            elif stat.S_ISREG(mode):
                text = Path(path).read_text()
            else:
                raise CaptureError(f"config {shown}: is {file_kind(mode)}, not a regular file or a pipe")
            raw = tomllib.loads(text)
        except FileNotFoundError:
            raise CaptureError(f"config {shown}: no such file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise CaptureError(f"config {shown}: cannot read: {getattr(e, 'strerror', None) or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise CaptureError(f"config {shown}: not valid TOML: {e}") from None
        unknown = set(raw) - {"capture", "feed"}
        if unknown:
            raise CaptureError(f"config {shown}: unknown section(s) {', '.join(sorted(unknown))} "
                               "(expected [capture] and [[feed]])")
        sec = raw.get("capture", {})
        if not isinstance(sec, dict):
            raise CaptureError(f"config {shown}: [capture] must be a table")
        for k, v in sec.items():
            if k not in _CAPTURE_KEYS:
                raise CaptureError(f"config {shown}: unknown key capture.{k}")
            if not isinstance(v, _CAPTURE_KEYS[k]) or isinstance(v, bool):
                raise CaptureError(f"config {shown}: capture.{k} has the wrong type ({type(v).__name__})")
            setattr(cfg, k, v)
        if "feed" in raw:
            feeds = raw["feed"]
            if not isinstance(feeds, list):
                raise CaptureError(f"config {shown}: feeds are written [[feed]]")
            cfg.feeds = []
            for i, f in enumerate(feeds):
                if not isinstance(f, dict):            # feed = [1, 2]: an array of values, not of tables
                    raise CaptureError(f"config {shown}: feed #{i + 1} is not a table ({type(f).__name__}): "
                                       "feeds are written [[feed]]")
                missing = {"segment", "group", "port"} - set(f)
                if missing:
                    raise CaptureError(f"config {shown}: feed #{i + 1} lacks {', '.join(sorted(missing))}")
                for k, v in f.items():
                    if k not in _FEED_KEYS:
                        raise CaptureError(f"config {shown}: unknown key feed.{k} in feed #{i + 1}")
                    if not isinstance(v, _FEED_KEYS[k]) or isinstance(v, bool):
                        raise CaptureError(f"config {shown}: feed #{i + 1} {k} has the wrong type")
                cfg.feeds.append(FeedConfig(f["segment"].upper(), f["group"], f["port"],
                                            f.get("interface", "127.0.0.1")))
        # the file's own values first (named in the error), but not those the overrides replace: a flag may fix
        # what the file got wrong (--feed for two feeds on one group and port); the result is validated below
        mine, defaults = dataclasses.replace(cfg), CaptureConfig()
        for k, v in overrides.items():
            if v is not None:
                setattr(mine, k, getattr(defaults, k, None))
        try:
            mine.validate()
        except CaptureError as e:
            raise CaptureError(f"config {shown}: {e}") from None
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    cfg.validate()
    return cfg


def multicast_works(interface: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    """Whether a multicast datagram sent through ``interface`` comes back to a member on this host."""
    group = "239.255.77.77"
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        r.bind((group, 0))
        port = r.getsockname()[1]
        r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface)))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
        token = os.urandom(8)
        s.sendto(token, (group, port))
        r.settimeout(timeout)
        return r.recv(64) == token
    except OSError:
        return False
    finally:
        r.close()
        s.close()


def _errno_text(e: OSError) -> str:
    return e.strerror or str(e)


def _ring_error(name: str, e: Exception) -> str:
    """One line for what ``Ring.create(name, replace=True)`` (or its check, ``_check_replace``) refused or failed
    with: a ring a live process writes, a file that is not a ring (the library's message names the path), an
    OSError."""
    from vega._ring import RingBusyError, RingError
    if isinstance(e, RingBusyError) and getattr(e, "pid", None):
        return f"ring {name} is being written by pid {e.pid} (a running capture?)"
    if isinstance(e, RingError):
        return f"ring {e}"
    return f"ring {name}: {_errno_text(e) if isinstance(e, OSError) else e}"


#: the largest receive buffer Linux keeps (INT_MAX / 2: it stores twice what is asked in an int)
RCVBUF_MAX = (1 << 30) - 1


def receive_buffer(s: socket.socket) -> int:
    """The receive buffer the kernel gave socket ``s``, in the units ``SO_RCVBUF`` is asked in (Linux reports
    twice that: the other half is its bookkeeping)."""
    return s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2


def open_feed_socket(feed: FeedConfig, rcvbuf: int) -> socket.socket:
    """A bound UDP socket receiving ``feed`` (joined to its group when multicast).  CaptureError on failure."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)   # root / CAP_NET_ADMIN: past rmem_max
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if feed.multicast:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)     # other listeners of the group may exist
        try:
            s.bind((feed.group, feed.port))
        except OSError as e:
            raise CaptureError(f"feed {feed.segment}: cannot bind {feed.group}:{feed.port}: {_errno_text(e)}") from None
        if feed.multicast:
            try:
                s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             struct.pack("4s4s", socket.inet_aton(feed.group), socket.inet_aton(feed.interface)))
            except OSError as e:
                raise CaptureError(f"feed {feed.segment}: cannot join {feed.group} on {feed.interface}: "
                                   f"{_errno_text(e)}") from None
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def ist_date(epoch_ns: int | None = None) -> _dt.date:
    """The IST calendar date of ``epoch_ns`` (default now): the trading day the journal is written for."""
    t = time.time_ns() if epoch_ns is None else epoch_ns
    return _dt.datetime.fromtimestamp(t / 1e9, IST).date()


class _DayFile(TypedDict):
    """A day file a feed's journal sealed and left (``_Feed.journal_days``, ``stats()``): its records, those of
    its checkpoints among them (which take no sequence number: ``records - checkpoint_records`` are its change
    records)."""
    path: str
    records: int
    checkpoint_records: int


def _day_file(w: JournalWriter) -> _DayFile:
    """The ``_DayFile`` of the journal file writer ``w`` writes (or wrote)."""
    return {"path": str(w.path), "records": w.n_records,
            "checkpoint_records": w.n_records - (w.next_seq - w.first_seq)}


class _Feed:
    """Runtime state of one feed: socket, receiver, store, handler, journal writer.  ``cfg`` None: the index
    feed (no socket: the CM handler hands it the index messages)."""

    def __init__(self, cfg: FeedConfig | None):
        self.cfg = cfg
        # (a FeedConfig's segment is FO or CM: Capture validates its config first)
        self.segment: Literal["FO", "CM", "IDX"] = "IDX" if cfg is None else "FO" if cfg.segment == "FO" else "CM"
        self.name = FEED_OF_SEGMENT[cfg.segment] if cfg is not None else INDEX_FEED
        self.sock: socket.socket | None = None
        self.receiver: BatchReceiver | None = None    # (Capture.open makes these: a socket's feed has a receiver)
        self.store: Store | None = None
        self.handler: FeedHandler | None = None
        self.writer: JournalWriter | None = None       # None: no journal_root
        self.datagrams = 0
        self.rcvbuf = 0                           # its socket's receive buffer as the kernel gave it (bytes)
        self.journal_error: str | None = None     # why its journal stopped (the feed went on without it)
        self.spill: _Spill | None = None          # its records while its failed journal is retried
        self.journal_resumed = 0                  # times its journal caught up and was attached again
        self.journal_days: list[_DayFile] = []        # the day files this run sealed and left: path, records
        # (unused_day_files) whether this run made the day file being written; what the feed had got when that
        # day began (_got); the day files it made and sealed in which the feed got nothing
        self.day_made = False
        self.day_mark = (0, 0)
        self.unused_days: list[str] = []
        self.new_day_retry_at = 0.0               # a journal given up on an earlier day: when to open today's
        self.failed_days: list[str] = []          # why the journal of an earlier day failed (it went on later)
        self.heard = 0.0                          # time.monotonic() of its last datagram (of the opening: none yet)
        self.heard_ns: int | None = None          # wall time of its last datagram (epoch ns)
        self.silent_since: float | None = None    # a silent spell: since when (monotonic), else None
        self.rejoin_at = 0.0                      # a silent spell: when to join its group again
        self.silences = 0                         # silent spells seen
        self.rejoins = 0                          # times its group was joined again
        self.rate_mark = (0.0, 0, 0)              # stats(): (monotonic time, datagrams, messages) of its last call
        self.seqs = _SeqState()                   # its streams' sequence numbers across a restart (vega._seqfile)


@dataclasses.dataclass
class _SeqState:
    """A feed's stream-sequence sidecar (:mod:`vega._seqfile`): what this opening resumed from, and when it last
    wrote one."""
    ready: bool = False                        # this opening read (or left out) the day's sidecar: one may be written
    resumed: bool = False                      # its handler resumed the streams of a restart from a sidecar
    bound: bool = False                        # ... from one the journal has records after (a crash): at most
    pending: set[int] = dataclasses.field(default_factory=set)   # resumed streams not heard since
    mark: tuple[str, int] = ("", -1)           # the journal file and its checkpoint count at the last write
    warned: bool = False                       # a write failed and was said


class _Spill:
    """The live records of a feed whose journal failed, read from the capture's own ring (whose positions are
    the journal's sequence numbers) until the journal can write again and catches up."""

    def __init__(self, reader: Reader, limit_bytes: float, retry_at: float):
        self.reader = reader                      # an unregistered reader of the feed's slot
        self.start = reader.position              # the ring position (journal number) of the first record held
        self.chunks: list[npt.NDArray[np.void]] = []
        self.n = 0                                # records held now
        self.total = 0                            # records held in all
        self.limit = limit_bytes
        self.since = time.monotonic()
        self.retry_at = retry_at

    def drain(self) -> str | None:
        """Take what the ring has; None, or why the records can no longer all be held."""
        while True:
            recs = self.reader.poll(65536, timeout=0.0)
            if self.reader.lost:
                return f"the ring overwrote {self.reader.lost:,} records before they were held"
            if not len(recs):
                return None
            self.chunks.append(recs)
            self.n += len(recs)
            self.total += len(recs)
            if self.n * 32 > self.limit:
                return f"more than {self.limit / 2**20:,.0f} MB of records came before it could be written again"

    def take(self, seq: int, most: int) -> npt.NDArray[np.void] | None:
        """Up to ``most`` records held from journal number ``seq`` on (one array); those before ``seq`` (the
        journal has them) are let go."""
        import numpy as np
        while self.chunks and self.start + len(self.chunks[0]) <= seq:
            self.start += len(self.chunks[0])
            self.n -= len(self.chunks.pop(0))
        if self.chunks and seq > self.start:
            self.chunks[0] = self.chunks[0][seq - self.start:]
            self.n -= seq - self.start
            self.start = seq
        out: list[npt.NDArray[np.void]] = []
        got = 0
        for c in self.chunks:
            if got >= most:
                break
            out.append(c[:most - got])
            got += len(out[-1])
        return np.concatenate(out) if len(out) > 1 else out[0] if out else None


class Capture:
    """A running capture of ``config`` (a :class:`CaptureConfig`).  ``open()``, then ``run()`` or ``step()``
    in your own loop, then ``close()`` (or use it as a context manager).  ``stats()`` is a JSON-ready dict."""

    def __init__(self, config: CaptureConfig):
        config.validate()
        self.config = config
        self.feeds = [_Feed(f) for f in config.feeds]
        #: the index feed NFO_IDX, present when a CM feed is configured
        self.index_feed = _Feed(None) if any(f.segment == "CM" for f in config.feeds) else None
        self.ring: Ring | None = None      # None: no ring configured (nor a private one, _private_ring)
        self._poll: select.poll | None = None
        self._fds: dict[int, _Feed] = {}
        self.started = 0.0
        self.opened = False
        self._date: _dt.date | None = None          # the trading day being captured (set by open)
        self._offline_ns: int | None = None
        self._owned_stores: list[str] = []
        self.other_destination = 0     # ingest: datagrams to no configured feed
        self.earlier_day_timestamp = 0  # ingest: datagrams skipped for a corrupt time (see _earlier_day)
        self._notes: list[str] = []    # start_notes()
        self._ring_notes: set[int] = set()    # those saying what the new ring numbers (their indexes)
        self._full_warned: set[str] = set()   # feeds whose full store was warned of (check_store_full)
        #: called with a one-line message when something goes wrong that the capture survives (a journal
        #: that stopped); default: nothing (the message is in ``stats()`` and ``journal_failures()``)
        self.on_warning: Callable[[str], None] | None = None

    # -- life cycle -----------------------------------------------------------------------------------------

    def open(self, *, offline_ns: int | None = None) -> "Capture":
        """Open stores, journals, ring and sockets (in that order: the ring starts where the journals end; a
        failure closes what was opened).

        ``offline_ns``: ingest recorded datagrams (:meth:`ingest`) whose first one was received at this time
        (ns since the epoch) instead of receiving: no sockets, and the journal starts on that datagram's IST
        date; from there the datagrams' own times drive the journal (day rollover, checkpoints)."""
        from vega import FeedHandler, Store, StoreBusyError
        from vega.store import StoreError
        from vega._net import BatchReceiver
        from vega._core import _shm_path
        from vega._files import missing_dirs
        from vega._ring import Ring, RingError, ring_path
        from vega.journal import JournalError, JournalWriter

        cfg = self.config
        made = _Made()                             # what this opening makes that was not there: a refusal takes it back
        kept = len(self._notes)
        try:
            self._offline_ns = offline_ns
            self._date = ist_date(offline_ns)
            if not self.opened:
                self._notes = []                   # start_notes(): what this opening finds, not every earlier one's
                self._full_warned = set()          # (new stores: a full one is warned of again)
                # opened again after close(): the stores it left open for reading are this process's own, not
                # a running capture's (the check below took them for one); they are made again below and start
                # from the day's journal
                for f in self.all_feeds:
                    if f.store is not None and not f.store.closed:
                        f.store.close()
                    f.store = None
            kept = len(self._notes)
            self._ring_notes = set()
            self._refuse_if_in_use()               # before anything is replaced
            # the master files are read before anything is made or replaced: a bad one leaves the day's journals,
            # the stores and the ring as they were (it used to fail after sealing empty journal files for the day)
            ins, index_tokens = self._read_masters()
            if cfg.journal_root:
                made.dirs = missing_dirs(Path(cfg.journal_root) / f.name for f in self.all_feeds)
            for f in self.all_feeds:
                if cfg.store:
                    name = self._store_name(f)
                    fresh = not os.path.lexists(_shm_path(name))
                    try:                           # replaces a store whose writer is gone
                        f.store = Store.create(name, cfg.store_capacity if f.cfg else INDEX_STORE_CAPACITY)
                    except StoreBusyError:
                        raise CaptureError(f"store {name} is being written by another process (a running "
                                           "capture?)") from None
                    except OSError as e:
                        raise CaptureError(f"store {name}: {_errno_text(e)}") from None
                    except StoreError as e:        # a file at the store's path that is not ours to replace
                        raise CaptureError(f"store {name}: {e}") from None
                    if fresh:
                        made.stores.append(f.store)
                    if name not in self._owned_stores:     # (once, however often it is opened)
                        self._owned_stores.append(name)
                else:
                    f.store = Store(cfg.store_capacity if f.cfg else INDEX_STORE_CAPACITY)
                if cfg.journal_root:
                    root = Path(cfg.journal_root)
                    day_file = root / f.name / f"{self._date:%Y%m%d}.bin"
                    there = os.path.lexists(day_file)
                    try:
                        f.writer = JournalWriter(root, f.name, self._date,
                                                 checkpoint_interval=cfg.checkpoint_interval)
                    except (OSError, JournalError) as e:
                        if not there:              # made, and its header not written whole (a full disk)
                            made.files.append(day_file)
                        if isinstance(e, JournalError):
                            raise CaptureError(f"journal: {e}") from None
                        raise CaptureError(f"journal root {root}: {_errno_text(e)}"
                                           + (f" ({e.filename})" if e.filename else "")) from None
                    self._day_begins(f)
            if cfg.ring:                               # (first: the overlap check must see what it adds)
                self._recover_from_ring(cfg.ring)
            self._seal_earlier_days()
            kept = len(self._notes)                # what stays said when the opening is refused after this
            self._seed_stores()
            if offline_ns is not None:
                self._refuse_overlap(offline_ns)       # before the ring is replaced
            # ring positions = journal sequence numbers (replay up to next_seq, then read the ring from there):
            # each slot starts at its journal's next_seq, which is 0 for a new day's file and the day's count
            # so far when a capture is restarted during the day
            firsts = {f.name: f.writer.next_seq for f in self.all_feeds if f.writer is not None}
            if cfg.ring:
                fresh = not os.path.lexists(ring_path(cfg.ring))
                try:
                    self.ring = Ring.create(cfg.ring, replace=True, first_seq=firsts)
                except (RingError, OSError) as e:     # not a ring, or its writer alive: nothing replaced
                    raise CaptureError(_ring_error(cfg.ring, e)) from None
                made.ring = fresh
            elif cfg.journal_root and cfg.journal_spill_mb > 0:
                self.ring = self._private_ring(firsts)
            for f in sorted(self.all_feeds, key=lambda f: ("IDX", "CM", "FO").index(f.segment)):
                f.handler = self._make_handler(FeedHandler, f, index_tokens)
            self._resume_streams()
            if ins is not None:
                self._load_instruments(ins)
            self._poll = select.poll()
            for f in self.feeds if offline_ns is None else ():
                assert f.cfg is not None                   # (only the index feed has none)
                f.sock = open_feed_socket(f.cfg, min(cfg.rcvbuf_mb << 20, RCVBUF_MAX))
                f.rcvbuf = receive_buffer(f.sock)
                # arrival times, and the datagrams the kernel dropped when the socket's buffer was full
                f.receiver = BatchReceiver(f.sock.fileno(), cfg.batch, 2048, timestamps=True, drops=True)
                self._fds[f.sock.fileno()] = f
                self._poll.register(f.sock.fileno(), select.POLLIN)
                f.heard, f.silent_since = time.monotonic(), None
        except BaseException:
            # a refusal keeps the notes of what stays done (records added from a killed capture's ring, earlier
            # day files sealed), not those of the stores it was starting, nor, when it came before the ring was
            # replaced (an ingest that overlaps the day's journal), those saying what the new ring numbers
            del self._notes[kept:]
            if self.ring is None or self.ring.closed:
                self._notes = [m for k, m in enumerate(self._notes) if k not in self._ring_notes]
            self.close()
            self._take_back(made)
            for f in self.all_feeds:               # (close leaves them open: here their writer locks would make
                if f.store is not None:            # the next open, or remove_shared_memory, refuse them as busy)
                    f.store.close()
                    f.store = None
            raise
        self.started = time.monotonic()
        for f in self.all_feeds:
            f.rate_mark = (self.started, f.datagrams, 0)
        self.opened = True
        return self

    def _take_back(self, made: "_Made") -> None:
        """An opening refused or stopped midway (a feed that cannot join its group, a journal root that cannot be
        written), closed: what it made that was not there before goes, so that no day looks captured and no
        shared memory is left that nobody removes.  That is the stores and the ring it made (one it replaced
        stays, as a stop leaves it), the day files it made that hold no live record, with their .seq sidecars,
        a day file whose writer failed to make it (its header cut: `vega verify` would call it damaged), and the
        journal directories it made, left empty."""
        from vega import _seqfile
        from vega._files import remove_empty
        from vega._ring import Ring
        for st in made.stores:
            if not st.closed:
                with contextlib.suppress(Exception):
                    st.unlink()
        if made.ring and self.config.ring:
            with contextlib.suppress(Exception):
                Ring.unlink(self.config.ring)
        for f in self.all_feeds:
            p = self._unused_day_file(f)
            if p is not None:
                for q in (p, str(_seqfile.seq_path(p))):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(q)
        for cut in made.files:
            with contextlib.suppress(OSError):
                os.unlink(cut)
        remove_empty(made.dirs)

    def _recover_from_ring(self, name: str) -> None:
        """Before the ring is replaced: the records a capture that was killed had published to its ring but not
        yet written to its journal (the journal buffers up to its flush interval; the ring publishes at once).
        They are the same 32-byte records, numbered alike, so they are appended to the journal and flushed:
        the new ring then starts after them, and no number a reader has seen comes back as another record.

        Which slots, and which of their records, :func:`_ring_take` decides (``vega capture --remove-shm``
        refuses by the same rule).  When this opening made the day's file (a start on a later day than the
        killed capture's), they go to the latest earlier day file that they continue, which is then sealed.
        ``start_notes`` says what was added or lost."""
        from vega._ring import Ring
        from vega.journal import JournalError, JournalWriter
        try:
            old = Ring.open(name)
        except Exception:                         # no ring, not a ring, damaged: nothing to recover
            return
        try:
            for f in self.all_feeds:
                w = f.writer
                if w is None:
                    continue
                # a start on a later day than the killed capture's (today's file is new): the records it had not
                # written continue its latest day file (what --remove-shm, which reads the latest day file, asks a
                # start to add; they were left in the ring, and lost with it).  Weighed first: a ring the killed
                # capture made today (an ingest of an earlier day) was taken as today's, its records (numbered on
                # from the earlier day file's) added to today's file, or said to be lost, while they were added to
                # the earlier file too
                if not w.recovered["existed"] and self._take_into_earlier(old, f, name):
                    continue
                t = _ring_take(old, f.name, w.path, w.next_seq, self._today())
                if t is not None and t.records:
                    self._take_from_ring(old, f.name, name, w, t)
                elif t is not None:                # (what the new ring numbers: said once it is made)
                    self._ring_notes.add(len(self._notes))
                    self._notes.append(t.note(f.name, name))
        finally:
            old.close()

    def _take_into_earlier(self, old: Ring, f: _Feed, name: str) -> bool:
        """:meth:`_recover_from_ring` of feed ``f``, whose day file this opening made: add the records of the ring
        ``old`` past the end of the latest earlier day file that the ring continues to that file, and seal it
        (those stamped past its day, to the day's file: :meth:`_add_next_days`).  Whether the ring continues it
        (then its records were added, or the note says why not)."""
        from vega.journal import JournalError, JournalWriter
        w = f.writer
        assert w is not None
        earlier = _latest_day_file(Path(w.path).parent, w.path.name)
        if earlier is None:
            return False
        t = _ring_take(old, f.name, *earlier, made_now=w.path)
        if t is None or not t.records:
            return False
        try:
            ew = JournalWriter.reopen(earlier[0], flush_interval=None)
        except (OSError, JournalError) as e:
            self._notes.append(t.failed(f.name, name, e, w.next_seq))
            return True
        try:
            later = self._take_from_ring(old, f.name, name, ew, t, ", which is sealed now: its day is over", today=w)
        finally:
            _close_unsealed(ew)                   # (a seal that fails leaves it unsealed and recoverable)
        if later is not None:
            self._add_next_days(f, name, t, *later)
        return True

    def _take_from_ring(self, old: Ring, feed: str, name: str, w: JournalWriter, t: _Take, more: str = "",
                        today: JournalWriter | None = None) -> tuple[npt.NDArray[np.void], int, _dt.date] | None:
        """Append the records ``t`` (:func:`_ring_take`) says the ring ``old`` (named ``name``) holds past the end
        of the journal ``w`` of ``feed``, and flush them; the start note says what was added, or lost.  Records
        the ring has stamped against the day before ``w``'s (the killed writer rolled over into ``w``'s day in
        the call that merged them: the ring got them before the journal re-stamped them) are re-stamped to it, as
        the rollover did in the file (:func:`_on_their_day`).  ``today``: the writer of the day this opening
        captures, when ``w`` is an earlier day's file: the records stamped past ``w``'s day are not appended to it
        (they would roll it over into that day's file, which ``today`` holds) but returned, re-stamped to their
        own day: (records, the number of the first, their day)."""
        from vega.records import CONTINUED
        n, tail = t.n, t.tail
        r = old.reader(feed, None, start=n, on_lap="oldest")
        parts = []
        while r.position < tail and not r.lost:
            got = _poll_old(r, 65536)
            if not len(got):
                break
            parts.append(got.copy())
        ok = r.lost == 0 and r.position >= tail
        r.close()
        if not ok:                                # (removed meanwhile)
            self._notes.append(t.lost(feed, name))
            return None
        recs, later = _on_their_day(w, np.concatenate(parts)[:tail - n], split=today is not None)
        if not len(recs):
            return None if later is None else (later[0], n, later[1])
        try:
            if (t.at_end is not None and int(t.at_end["flags"][0]) & CONTINUED
                    and int(t.at_end["token"][0]) == int(recs["token"][0])):
                w._reopen_closed_update()         # the rest of the update the file ended inside: one again
            w.append(recs)
            w.flush()                             # before the old ring, their other copy, is replaced
        except (OSError, ValueError) as e:
            self._notes.append(t.failed(feed, name, e, (today or w).next_seq))
            return None
        self._notes.append(f"{feed}: {len(recs):,} records {_ring_writer(t.pid)} had published to ring "
                           f"{name} but not journaled (numbers {n:,}..{n + len(recs) - 1:,}) were added to "
                           f"{w.path.name}{more}")
        return None if later is None else (later[0], n + len(recs), later[1])

    def _add_next_days(self, f: _Feed, name: str, t: _Take, recs: npt.NDArray[np.void], first: int,
                       day: _dt.date) -> None:
        """A start on a later day than a kill: the killed capture's ring holds records stamped past the end of
        its day file, of ``day`` (it was killed in the midnight rollover, before its journal made that day's
        file).  When ``day`` is the day being captured, they open the day's file this opening made; else they are
        lost, and said so."""
        w = f.writer
        assert w is not None
        span = f"numbers {first:,}..{first + len(recs) - 1:,}"
        if day != self._today() or w.n_records:
            self._notes.append(f"{f.name}: {len(recs):,} records {_ring_writer(t.pid)} had published to ring "
                               f"{name} ({span}) are stamped on {day}, a day with no journal file: not added "
                               "(lost)")
            return
        try:
            w.append(recs)
            w.flush()
        except (OSError, ValueError) as e:
            self._notes.append(t.failed(f.name, name, e, w.next_seq))
            return
        self._notes.append(f"{f.name}: {len(recs):,} records {_ring_writer(t.pid)} had published to ring {name} "
                           f"but not journaled ({span}), stamped after midnight, were added to {w.path.name}, "
                           f"the day's file, as its numbers 0..{len(recs) - 1:,}: the new ring numbers its records "
                           f"from {len(recs):,}, so its readers must start again, not go on at their positions")

    def _seed_stores(self) -> None:
        """A capture restarted during the day starts each store from the state its journal holds so far (the
        nearest checkpoint and the records after it, as ``Journal.snapshot_at`` rebuilds it), not empty: its
        readers (``vega watch``, ``Store.open``) keep the instruments that do not tick again, its merges diff
        against that state, and its checkpoints are the day's state, not the part of it since the restart (a
        ``snapshot_at`` after one would lose the rest).  The ring does not get these records: they are the
        journal's, published before.  ``start_notes`` says how many instruments each store starts with."""
        from vega._core import _bad_records
        from vega._journal import day_epoch_ns
        from vega.journal import Journal
        for f in self.all_feeds:
            w = f.writer
            if w is None or f.store is None or w.n_records == 0:
                continue
            w.flush()
            with Journal.open(w.path) as j:
                c = j.checkpoint_before(len(j))
                start = 0 if c < 0 else int((j.checkpoints["offset"][c] - 64) // 32)
                recs = j.records[start:]
                nbad, bad = _bad_records(recs, 1)
                if nbad:                        # a damaged record: the store starts from those before it (as a
                    k, why = bad[0]             # replay stops there), and the capture starts all the same
                    recs = recs[:k]
                    self._notes.append(f"{w.path}: record {start + k:,}: {why}: {nbad:,} damaged record(s) from "
                                       f"there (vega verify names them); {f.name}'s store starts from the records "
                                       "before it")
                # more instruments than the (new) store holds: it takes the first ones, with all their records,
                # as the live store takes new instruments until it is full and drops only the others' updates
                # (applying until StoreFullError left those it took at their state at that point)
                tokens, first = np.unique(recs["token"], return_index=True)
                room = f.store.capacity - len(f.store)
                full = len(tokens) > room
                if full:
                    recs = recs[np.isin(recs["token"], tokens[np.argsort(first)[:room]])]
                    self._notes.append(f"{f.name}: the day's journal holds {len(tokens):,} instruments, more than "
                                       f"the store's {f.store.capacity:,}: it starts with the first {room:,} of "
                                       "them (the others' updates dropped, as a full store drops them); raise "
                                       "store_capacity")
                try:
                    f.store.apply_records(recs, day_base_ns=day_epoch_ns(w.date))
                except ValueError as e:         # (an update cut short: the writer's reopen closed those)
                    self._notes.append(f"{w.path}: {e}; {f.name}'s store starts from the records before it")
                    continue
            if len(f.store) and not full:
                self._notes.append(f"{f.name}: the store starts from the day's journal so far ({w.path.name}): "
                                   f"{len(f.store):,} instruments{self._journal_gap(w.date, w.max_ts)}")

    def _journal_gap(self, day: _dt.date, max_ts: int) -> str:
        """start_notes, a restart: when the day's journal stops (its latest record, ``max_ts`` ns after 00:00 IST
        of ``day``) and how long before this start, in which what the feed sent is not in it.  A restart's
        sequence gaps start afresh, so the stats never count that span; the operator reads it here."""
        from vega._journal import day_epoch_ns
        last = day_epoch_ns(day) + max_ts
        now = time.time_ns() if self._offline_ns is None else self._offline_ns
        if max_ts < 0 or now <= last:
            return ""
        return (f"; its latest record is stamped {clock_ist(last)}.{last // 1_000_000 % 1000:03d} IST, "
                f"{_duration((now - last) / 1e9)} before this start: what the feed sent in between is not in it")

    def _seal_earlier_days(self) -> None:
        """Each unsealed day file of this capture's journals of a day before the one it writes now (a capture
        killed on that day and not restarted then; the killed capture's other feeds, when this start took the
        ring's records into one feed's file of that day) is sealed, as ``vega verify --repair`` seals it: reopened
        (which takes the writer's lock, and cuts a torn tail), every whole record kept, and closed.  A file whose
        lock a live writer holds is not touched.  ``start_notes`` says, one line per file, what was done or why
        not.  Unsealed files of a later day than the one being written (an ingest of an earlier day) are only
        named: their capture may yet be restarted on their day."""
        from vega.journal import JournalError, JournalWriter, held_by_writer
        for f in self.all_feeds:
            w = f.writer
            if w is None:
                continue
            here = Path(w.path)
            for path in sorted(here.parent.glob("*.bin")):
                if path == here:
                    continue
                sealed = _journal_sealed(path)
                earlier = path.name < here.name and path.match(_DAY_FILE)
                if sealed is None and earlier:    # a day file whose header cannot be read (cut by a kill)
                    self._notes.append(_mend_cut_header(path))
                if sealed is None or sealed:
                    continue                  # sealed, or not a journal (vega verify says what it is)
                if not earlier:
                    if not held_by_writer(path):
                        self._notes.append(f"{path}: not sealed and no writer holds it (its capture was killed): "
                                           f"it replays to its last whole record; vega verify --repair {path} seals it")
                    continue
                try:
                    ew = JournalWriter.reopen(path, flush_interval=None)
                except (OSError, JournalError) as e:
                    why = (_errno_text(e) if isinstance(e, OSError) else str(e).removeprefix(f"{path}: "))
                    held = "being written by" in why
                    self._notes.append(f"{path}: not sealed, and " + (
                        f"a running process holds it ({why}): left as it is" if held else
                        f"cannot be sealed ({why}): it replays to its last whole record; vega verify {path} "
                        "says more"))
                    continue
                self._notes.append(_sealed_now(path, ew))

    def _resume_streams(self) -> None:
        """Open, a restart (the day's journal was there): each feed's handler resumes its streams from the
        day's stream-sequence sidecar (``vega._seqfile``), so that each stream's first number counts what the feed
        sent while the capture was down (``missed_while_down``).  A live capture's only: an ingest (``offline_ns``)
        neither reads nor writes one.  Exact when the sidecar was written at the journal's seal and the journal
        holds nothing after it; after a crash an upper bound (the journal has records after the sidecar's
        checkpoint).  A sidecar missing, damaged or of another feed, day or journal file is left out with one
        start note, and the restart goes on as without it."""
        from vega import _seqfile
        for f in self.all_feeds:
            f.seqs = _SeqState(ready=self._offline_ns is None)     # (an ingest's streams are its files')
            w, h = f.writer, f.handler
            if not f.seqs.ready or f.cfg is None or w is None or h is None or not w.recovered["existed"]:
                continue                       # (the index feed has no streams; a day file this opening made)
            path = _seqfile.seq_path(w.path)
            why = "what the feed sent while the capture was down is not counted"
            try:
                sc = _seqfile.read(path)
            except FileNotFoundError:
                self._notes.append(f"{f.name}: no stream sequence file {path} beside the day's journal (its "
                                   f"capture was killed before its first checkpoint, or predates them, or it was "
                                   f"removed): {why}")
                continue
            except (_seqfile.SeqFileError, OSError) as e:
                self._notes.append(f"{e if isinstance(e, _seqfile.SeqFileError) else f'{path}: {_errno_text(e)}'}"
                                   f": ignored; {why}")
                continue
            created = w.created_ns
            if (sc.feed, sc.date) != (f.name, w.date) or sc.journal_created_ns != created or sc.next_seq > w.next_seq:
                what = (f"is {sc.feed}'s of {sc.date}" if (sc.feed, sc.date) != (f.name, w.date) else
                        "is another file's of that day (made again since)" if sc.journal_created_ns != created else
                        f"counts {sc.next_seq:,} journal records, the journal holds {w.next_seq:,}")
                self._notes.append(f"{path} {what}, not this journal's: ignored; {why}")
                continue
            try:
                h.resume_streams(sc.last)
            except ValueError as e:
                self._notes.append(f"{path}: {e}: ignored; {why}")
                continue
            after = w.next_seq - sc.next_seq
            f.seqs = _SeqState(ready=True, resumed=True, bound=not sc.sealed or after > 0, pending=set(sc.last))
            # written again at once, not sealed: this run killed before its first write (or while it makes no
            # record) leaves a sidecar the next restart counts from as an upper bound, not as exact (the seal's
            # flag would say so, and its count would hold the numbers this run heard)
            self._write_seqs(f, sealed=False)
            if f.seqs.bound:
                how = (f"written at {clock_ist(sc.written_ns)} IST"
                       + (" after a checkpoint, not at a seal (its capture was killed; or at the seal of a restart "
                          "after a kill that did not hear every stream again)" if not sc.sealed else "")
                       + (f"; the journal holds {after:,} records after it" if after else "")
                       + ": the count is an upper bound")
            else:
                how = "written at the journal's seal: the count is exact"
            self._notes.append(f"{f.name}: the streams' last sequence numbers before this start are in {path.name} "
                               f"({how}); each stream's first datagram counts what the feed sent while the capture "
                               "was down (missed_while_down)")

    def _write_seqs(self, f: _Feed, sealed: bool) -> None:
        """Feed ``f``'s streams' last sequence numbers into the sidecar of its day's journal (``vega._seqfile``,
        written atomically), at a moment it matches the journal: its seal (``sealed``), or a checkpoint, after
        which the journal is flushed first (the records of every datagram counted are in its file).  A failure
        is said once (``on_warning``) and the capture goes on: a restart then counts from the last one written,
        an upper bound, or says it has none."""
        from vega import _seqfile
        w, h = f.writer, f.handler
        if f.cfg is None or w is None or h is None or f.journal_error is not None or not f.seqs.ready:
            return                             # (an opening that failed before _resume_streams: the old one stays)
        seqs = h.stream_seqs()
        path = _seqfile.seq_path(w.path)
        # a restart after a kill holds, for the streams it has not heard since, the killed run's numbers at its
        # last checkpoint, which its journal has records after: not the seal's exact numbers, so not flagged so
        exact = sealed and not (f.seqs.bound and f.seqs.pending)
        try:
            if not sealed:
                w.flush()
            _seqfile.write(path, _seqfile.SeqFile(f.name, w.date, w.created_ns, w.next_seq, time.time_ns(), exact,
                                                  seqs), fsync=sealed)
        except OSError as e:
            if not sealed and f.journal_error is None and self._journals_failed():
                return                          # the journal's flush failed: said as its failure
            if not f.seqs.warned and self.on_warning is not None:
                f.seqs.warned = True
                self.on_warning(f"{path}: cannot write the streams' sequence numbers ({_errno_text(e)}): a restart "
                                "counts what the feed sent while the capture was down from the last one written "
                                "(an upper bound), or not at all")

    def _write_seqs_at_checkpoint(self, f: _Feed) -> None:
        """Housekeeping: after each checkpoint of feed ``f``'s journal, its sidecar (:meth:`_write_seqs`); and
        the line saying what the feed sent while the capture was down once its resumed streams are heard."""
        if f.seqs.pending:                        # (the handler's stats: ~2.5 us, while streams are awaited)
            self._say_missed_while_down(f)
        w = f.writer
        if f.cfg is None or w is None or w.closed or f.journal_error is not None:
            return
        # a checkpoint's records take no number (format 2); a version-1 file numbers them: its table, counted
        ck = w.n_records - (w.next_seq - w.first_seq) if w.version >= 2 else len(w.checkpoints)
        if (str(w.path), ck) != f.seqs.mark:
            if f.seqs.mark[1] >= 0:               # (not at the opening: its checkpoint is seen, not written for)
                self._write_seqs(f, sealed=False)
            f.seqs.mark = (str(w.path), ck)

    def _say_missed_while_down(self, f: _Feed) -> None:
        """The follow-up of the restart note: what each resumed stream heard since skipped (``on_warning``)."""
        assert f.handler is not None
        streams = f.handler.stats.get("streams", {})
        heard = sorted(k for k in f.seqs.pending if streams.get(k, {}).get("first_after"))
        if not heard:
            return
        f.seqs.pending -= set(heard)
        counts = {k: streams[k]["missed_while_down"] for k in heard}     # (None: renumbered, unknown)
        known = [n for n in counts.values() if n is not None]
        each = ("; " if len(known) < len(counts) else ", ").join(   # (a renumbered stream's part has commas)
            f"stream {k}: {n:,}" if n is not None else f"stream {k}: ?, renumbered: its first number "
            f"{streams[k]['first_after']:,} is below its last before, {streams[k]['resumed_from']:,}"
            for k, n in counts.items())
        left = f"; not heard yet: stream {', '.join(map(str, sorted(f.seqs.pending)))}" if f.seqs.pending else ""
        how = "at most (its capture was killed: counted from the last checkpoint)" if f.seqs.bound else "exactly"
        n_txt = f"{how} {sum(known):,}" if len(known) == len(counts) else "an unknown number of"
        if self.on_warning is not None:
            self.on_warning(f"{f.name}: the feed sent {n_txt} sequence numbers while the capture was down "
                            f"({each}){left}")

    def start_notes(self) -> list[str]:
        """What opening found and did that an operator should know (one line each): records recovered from a
        killed capture's ring into the journal, or lost with it, earlier day files left unsealed, the state each
        store starts from when the day's journal has one (its instruments; more than the store holds; a damaged
        record it stops at), and the lines of the instrument master files that were skipped.  After an opening
        that was refused (:meth:`open` raised), what it did that stays: the records it added to the journals from
        the ring, and the earlier day files it found unsealed."""
        return list(self._notes)

    @staticmethod
    def _private_ring(firsts: dict[str, int]) -> Ring | None:
        """A ring no other process can open (its file is unlinked once mapped), for a capture with journals but
        no ring configured: what a failed journal's feed makes meanwhile is held from it (``_Spill``), as from a
        configured ring.  None when shared memory cannot be had: the capture goes on, and a failed journal
        then stops as it would without holding."""
        import tempfile
        from vega._ring import SHM_DIR, Ring, RingError
        try:
            fd, path = tempfile.mkstemp(prefix=".vega-capture-", dir=SHM_DIR)
            os.close(fd)
            try:
                return Ring.create(path, replace=True, first_seq=firsts)
            finally:
                os.unlink(path)
        except (RingError, OSError):
            return None

    def _refuse_overlap(self, ts_ns: int, path: str | None = None) -> None:
        """Ingest: CaptureError when a journal of the day already holds records stamped at or after ``ts_ns``
        (the capture was ingested before, or overlaps one that was): appending would repeat them.  With
        ``path``, the file (not the first) of this ingest that starts at ``ts_ns``: then only records stamped
        more than FILE_OVERLAP_GRACE_NS after ``ts_ns`` refuse it (the same capture given twice, or files out of
        time order), not packets reordered by a few ms across the files of a rotated capture."""
        from vega._journal import day_epoch_ns
        t = ts_ns - day_epoch_ns(self._today())
        for f in self.all_feeds:
            w = f.writer
            if w is None or f.journal_error is not None or w.max_ts < 0 or w.max_ts < t:
                continue
            last = _dt.datetime.fromtimestamp((day_epoch_ns(self._today()) + w.max_ts) / 1e9, IST)
            if path is None:
                raise CaptureError(f"{w.path} already holds records up to {last:%Y-%m-%d %H:%M:%S} IST, at or "
                                   f"after this capture's start: ingested before, or captured live? (ingest into "
                                   f"another --journal-root; remove that file only when it holds nothing else)")
            if w.max_ts > t + FILE_OVERLAP_GRACE_NS:
                first = _dt.datetime.fromtimestamp(ts_ns / 1e9, IST)
                raise CaptureError(f"{path} starts at {first:%Y-%m-%d %H:%M:%S.%f} IST, before the last record "
                                   f"already journaled in {w.path} ({last:%H:%M:%S.%f}): the same capture given "
                                   f"twice, or files out of time order? (the files before it went in)")

    def _store_name(self, f: _Feed) -> str:
        """The shared-memory store of feed ``f`` (:func:`store_name`); for a config that names stores."""
        assert self.config.store is not None               # (the callers check config.store)
        return store_name(self.config.store, f.segment)

    def _refuse_ring_in_use(self) -> None:
        """CaptureError when the configured ring's path holds what ``Ring.create(replace=True)`` refuses: a ring a
        live process writes, or a file that is not a ring (a journal, a pcap...).  Nothing there, a damaged or
        stale ring (its writer dead) and an empty file pass: ``open`` replaces them, ``remove_shared_memory``
        removes them."""
        from vega._ring import RingError, _check_replace, ring_path
        if self.config.ring:
            try:
                _check_replace(ring_path(self.config.ring))
            except (RingError, OSError) as e:
                raise CaptureError(_ring_error(self.config.ring, e)) from None

    def _refuse_if_in_use(self) -> None:
        """CaptureError when a live process writes this capture's ring, one of its stores or one of the day's
        journal files: a second capture (or an ingest) with the same config must not replace the shared
        memory that a running one's readers follow.  Also when the ring's path holds a file that is not a VEGA
        ring (``Ring.create`` would refuse it too)."""
        from vega._core import _shm_path
        from vega.journal import held_by_writer
        cfg = self.config
        self._refuse_ring_in_use()                 # (before stores and journals are touched)
        paths = []
        if cfg.store:
            paths += [(f"store {self._store_name(f)}", _shm_path(self._store_name(f))) for f in self.all_feeds]
        if cfg.journal_root:
            paths += [(f"journal {f.name} {self._date}", os.path.join(cfg.journal_root, f.name,
                                                                      f"{self._date:%Y%m%d}.bin"))
                      for f in self.all_feeds]
        for what, path in paths:
            if held_by_writer(path):
                raise CaptureError(f"{what} is being written by another process (a running capture?)")

    def _today(self) -> _dt.date:
        """The trading day being captured: set by ``open`` (and ``new_day``)."""
        if self._date is None:
            raise CaptureError("the capture is not open: open() it first")
        return self._date

    @property
    def all_feeds(self) -> list[_Feed]:
        """The configured feeds and the index feed (if any)."""
        return self.feeds + ([self.index_feed] if self.index_feed is not None else [])

    def _feed(self, segment: str) -> _Feed | None:
        return next((f for f in self.all_feeds if f.segment == segment), None)

    def _read_masters(self) -> tuple[Instruments | None, dict[str, int] | None]:
        """The configured instrument master (contract and security files) and index master, read and checked
        (None where not configured); CaptureError naming the file when one cannot be read or is refused."""
        from vega.instruments import InstrumentFileError, Instruments
        from vega.indices import IndexMasterError, load_index_master
        cfg = self.config
        ins = index_tokens = None
        if cfg.contract or cfg.security:
            try:
                ins = Instruments.load(cfg.contract, cfg.security)
            except (InstrumentFileError, OSError, UnicodeDecodeError) as e:
                raise CaptureError(f"instrument master: {e}") from None
        if cfg.index_master and self.index_feed is not None:
            try:
                index_tokens = load_index_master(cfg.index_master)
            except (IndexMasterError, OSError, UnicodeDecodeError) as e:
                raise CaptureError(f"index master: {e}") from None
        return ins, index_tokens

    def _make_handler(self, FeedHandler: type[FeedHandler], f: _Feed,
                      index_tokens: dict[str, int] | None = None) -> FeedHandler:
        """The FeedHandler publishing to the ring and the journal from inside its nogil loop; CM hands the
        index feed its index messages, F&O hands CM the open interest per underlying (build IDX, CM, FO in
        that order).  ``index_tokens``: the index master's (``_read_masters``), for the index feed."""
        kw: dict[str, Any] = {}                          # (index_tokens, indices, underlying: of their kinds)
        assert f.store is not None                         # (open makes the stores first)
        if f.segment == "IDX":
            if index_tokens is not None:
                kw["index_tokens"] = index_tokens
            return FeedHandler("IDX", f.store, ring=self.ring, journal=f.writer, **kw)
        link = self._feed("IDX" if f.segment == "CM" else "CM")
        if link is not None:
            kw["indices" if f.segment == "CM" else "underlying"] = link.handler
        return FeedHandler(f.segment, f.store, ring=self.ring, journal=f.writer, rate=self.config.iv_rate, **kw)

    def _load_instruments(self, ins: Instruments) -> None:
        """Pre-populate the stores from the master files (``_read_masters``) before the first datagram (CM
        first: it holds the underlyings of the F&O options' spot carry), and write each store's state as a
        checkpoint into the journal (it takes no sequence numbers, and the ring does not get it) so that a
        replay has the symbols too."""
        from vega._journal import day_epoch_ns
        by_file: dict[str, list[tuple[int, str]]] = {}
        for path, line, why in ins.errors:        # skipped lines: said at start (start_notes), per file
            by_file.setdefault(path, []).append((line, why))
        for path, bad in by_file.items():
            line, why = bad[0]
            more = f"; {len(bad) - 1:,} more" if len(bad) > 1 else ""
            self._notes.append(f"instrument master {path}: {len(bad):,} bad line(s) skipped (line {line}: "
                               f"{why}{more})")
        cm, idx = (f.store if f is not None else None for f in (self._feed("CM"), self.index_feed))
        for f in sorted(self.feeds, key=lambda f: f.segment != "CM"):
            assert f.store is not None and f.handler is not None     # (open makes them first)
            try:
                f.store.load_instruments(ins, "FO" if f.segment == "FO" else "CM",    # (not the index feed)
                                         spot_store=cm if f.segment == "FO" else None,
                                         index_store=idx if f.segment == "FO" else None)
            except Exception as e:
                raise CaptureError(f"{f.name}: cannot pre-populate the store: {e}") from None
            if f.writer is not None and len(f.store):
                now = time.time_ns() if self._offline_ns is None else self._offline_ns
                ts = max(0, now - day_epoch_ns(self._today()))
                f.handler.checkpoint(min(ts, (1 << 48) - 1))

    def close(self) -> None:
        """Seal the journals, close sockets and the ring.  The stores stay open (their state can still be read
        here; their shared-memory files stay for readers): ``unlink`` closes and removes them.  A journal that
        failed, its records held in memory, gets a last attempt."""
        self._settle_journals("the capture stopped")
        # the poll set and the fd table name the sockets closed below: a step() after close() polled their
        # numbers (EBADF, or another file that took a number meanwhile) instead of saying it is not open
        self._poll = None
        self._fds = {}
        for f in self.all_feeds:
            if f.sock is not None:
                f.sock.close()
                f.sock = None
            if f.handler is not None:
                if f.seqs.pending:                # streams heard since the last housekeeping pass: said now
                    self._say_missed_while_down(f)
                f.handler.close()                 # hands the ring slot back
            if f.writer is not None and not f.writer.closed:
                try:
                    f.writer.close()
                    self._write_seqs(f, sealed=True)
                except OSError as e:                 # its last flush or the seal failed: the others still close
                    if f.journal_error is None:
                        why = e.strerror or str(e)        # (a JournalError's text starts with the path)
                        if not why.startswith(str(f.writer.path)):
                            why = f"{f.writer.path}: {why}"
                        f.journal_error = f"{why} at its last flush or seal (unsealed, recoverable)"
                        if self.on_warning is not None:
                            self.on_warning(f.journal_error)
        if self.ring is not None and not self.ring.closed:
            self.ring.close()
        self.opened = False

    def unlink(self) -> None:
        """Remove the shared-memory files this capture created (ring and named stores)."""
        from vega import Store
        from vega._ring import Ring
        for f in self.all_feeds:
            if f.store is not None and not f.store.closed:
                f.store.close()
        for name in self._owned_stores:
            try:
                Store.remove(name)
            except Exception:
                pass
        if self.config.ring:
            try:
                Ring.unlink(self.config.ring)
            except Exception:
                pass

    def remove_shared_memory(self) -> list[str]:
        """Remove what a stopped capture of this config leaves in /dev/shm for its readers (its ring and named
        stores, which the next capture replaces): for an operator who wants the memory back.  Returns what was
        removed ("ring NAME", "store NAME"), in that order; an empty list when nothing was there.  CaptureError,
        removing nothing, while a live process writes any of them (a running capture) or when the ring's or a
        store's path holds a file that is not a ring or a store (what ``open`` would refuse to replace)."""
        from vega import Store, StoreBusyError, StoreError
        from vega._core import _clear_stale, _shm_path
        from vega._ring import Ring, RingError, ring_path
        if self.opened:
            raise CaptureError("the capture is open: close() it first (its own ring and stores: unlink())")
        cfg = self.config
        self._refuse_ring_in_use()
        ring = cfg.ring if cfg.ring and os.path.exists(ring_path(cfg.ring)) else None   # (its name: it is there)
        stores = [self._store_name(f) for f in self.all_feeds] if cfg.store else []
        stores = [n for n in stores if os.path.lexists(_shm_path(n))]
        for n in stores:
            try:                                   # Store.create's refusals (Store.remove would unlink anything)
                _clear_stale(n, _shm_path(n), check_only=True)
            except StoreBusyError:
                raise CaptureError(f"store {n} is being written by another process (a running capture?)") from None
            except StoreError as e:
                raise CaptureError(f"store {n}: {e}") from None
        if ring and cfg.journal_root:
            held = _unjournaled_records(ring, [f.name for f in self.all_feeds], Path(cfg.journal_root))
            if held:
                raise CaptureError(f"ring {ring} holds records its capture published but its journal does not have "
                                   f"({held}: its capture was killed, or its journal failed); start the capture once "
                                   f"to add them to the journal, then remove the ring (removed nothing)")
        done: list[str] = []
        try:
            if ring:
                Ring.unlink(ring)
                done.append(f"ring {ring}")
            for n in stores:
                Store.remove(n)
                done.append(f"store {n}")
        except (RingError, StoreError, OSError) as e:     # a capture started meanwhile
            raise CaptureError(f"{e} (removed: {', '.join(done) or 'nothing'})") from None
        return done

    def __enter__(self) -> "Capture":
        return self.open() if not self.opened else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the loop -------------------------------------------------------------------------------------------

    def step(self, timeout_ms: int = 100) -> int:
        """Wait up to ``timeout_ms`` for datagrams, then receive and process what is queued on every feed;
        returns the number of datagrams processed."""
        if self._poll is None:
            raise CaptureError("the capture is not open: open() it first (or use `with Capture(cfg) as cap:`)")
        n = 0
        for fd, _ in self._poll.poll(timeout_ms):
            f = self._fds[fd]
            rx, handler = f.receiver, f.handler
            assert rx is not None and handler is not None  # (open gives a feed with a socket both)
            # recvmmsg batches handed from the receive slots straight to the handler's nogil loop (no bytes
            # object per datagram), until a short batch says the queue is drained, at most 64 batches per
            # feed before the others get a turn; checkpoints too, when the journal says one is due
            before = rx.datagrams
            while True:
                # stopped at the next trading day's first datagram (its kernel stamp): the day is turned over
                # first (journals rolled, stores from their identity, the state as the day's first checkpoint),
                # as an ingest does, and the datagrams held go into the new day.  Left to the journal's own
                # rollover by the stamps, a new day's first ~50 ms (until housekeeping saw the date) were merged
                # into the old day's store, which new_day then wiped
                with self._journal_may_fail():  # (a journal failing in the call: its datagrams went in too)
                    rx.feed(handler, 0, 64 if f.spill is None else 1,
                            _day_after_ns(self._date) if self._date is not None else None)
                held = rx.held_ns
                if held < 0:
                    break
                self.new_day(ist_date(held), held)
            k = rx.datagrams - before
            f.datagrams += k
            n += k
            if k:
                self._heard(f)
        self._service_journals()
        return n

    def _heard(self, f: "_Feed") -> None:
        """Feed ``f`` received datagrams: the end of a silent spell, if it was in one."""
        f.heard = time.monotonic()
        f.heard_ns = time.time_ns()
        assert f.cfg is not None                           # (a feed with a socket)
        if f.silent_since is not None:
            gone = f.heard - f.silent_since
            f.silent_since = None
            if self.on_warning is not None:
                self.on_warning(f"{f.name}: datagrams again on {f.cfg.group}:{f.cfg.port} after {_duration(gone)} "
                                "without any")

    def check_silence(self) -> None:
        """Say (``on_warning``) when a feed has received no datagram for ``silence_alarm`` seconds, and when it
        does again.  The exchange sends a circuit check (6541) after ~9 s without data, so a longer silence
        means the market is closed or the path from it is down: a multicast feed then joins its group again,
        at once and every ``silence_alarm`` seconds of the spell (a switch or router that lost the membership,
        an interface that went down and up, gets a fresh IGMP report).  ``stats()`` shows the spell."""
        alarm = self.config.silence_alarm
        if not alarm or self._poll is None:
            return
        now = time.monotonic()
        for f in self.feeds:
            if f.sock is None or f.cfg is None or now - f.heard < alarm:     # (a feed with a socket has a cfg)
                continue
            if f.silent_since is None:
                f.silent_since = f.heard
                f.silences += 1
                f.rejoin_at = now
                since = ("since it was opened" if f.heard_ns is None else
                         f"since {clock_ist(f.heard_ns)} IST")
                what = (self._rejoin(f) if f.cfg.multicast else "a unicast address: nothing to join")
                gone = _duration(now - f.heard)
                if self.on_warning is not None:
                    self.on_warning(f"{f.name}: no datagram on {f.cfg.group}:{f.cfg.port} for {gone} ({since}): "
                                    f"{what}. The exchange sends a circuit check every ~9 s without data: the "
                                    "market is closed, or the path from it is down")
            elif f.cfg.multicast and now >= f.rejoin_at:
                self._rejoin(f)                     # (said once, at the spell's start; stats() count them)

    def _rejoin(self, f: "_Feed") -> str:
        """Leave and join feed ``f``'s multicast group again on its socket; what happened, in words."""
        f.rejoin_at = time.monotonic() + self.config.silence_alarm
        assert f.cfg is not None and f.sock is not None     # (check_silence's: a feed with a socket)
        mreq = struct.pack("4s4s", socket.inet_aton(f.cfg.group), socket.inet_aton(f.cfg.interface))
        with contextlib.suppress(OSError):        # (a membership the interface's going down already dropped)
            f.sock.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, mreq)
        try:
            f.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        except OSError as e:
            return (f"cannot join {f.cfg.group} on {f.cfg.interface} again ({_errno_text(e)}): trying every "
                    f"{self.config.silence_alarm:g} s")
        f.rejoins += 1
        return "joined the group again"

    def ingest(self, datagrams: Iterable[tuple[int, int | str, int, Buffer]], batch: int = 1024) -> int:
        """Run recorded datagrams through the pipeline (after ``open(offline_ns=...)``): ``datagrams`` yields
        ``(epoch_ns, dst_ip, dst_port, payload)`` in receive order (:func:`vega.pcap.udp_datagrams`); each goes to
        the feed configured for its destination (``dst_ip`` an int or a dotted string), received at its own
        time.  Those to no configured feed are counted in ``other_destination``.  Every ``batch`` datagrams
        (counting those to no feed), and before a new trading day, the datagrams go through their feeds'
        handlers in capture order, in one nogil loop that switches feeds where the capture does
        (``vega._pcap.feed_runs``; so the F&O handler's open interest goes into the CM journal between the CM
        datagrams captured before and after it, whatever the batch).
        Returns the datagrams processed.  :meth:`ingest_pcap` does the same for capture files, faster, with the
        same batches.  Time may step back within the trading day being written (packets reordered by a few ms),
        never into an earlier day (see :func:`_earlier_day`; one call is one file): such a datagram, before the
        call gave one of the day being written, raises :class:`CaptureError` after the datagrams before it went
        in; after it, it is a corrupt time, counted in ``earlier_day_timestamp`` and skipped."""
        import numpy as np
        from vega._journal import day_epoch_ns
        if self._date is None:                  # never opened (was a TypeError about None, in the day's arithmetic)
            raise CaptureError("the capture is not open: open(offline_ns=...) it first")
        date = self._date
        route = self._routes()
        feeds = list(self.feeds)
        index = {id(f): k for k, f in enumerate(feeds)}
        # the batch's datagrams to a feed, their times and feeds' indexes
        data: list[bytes] = []
        times: list[int] = []
        which: list[int] = []
        n = total = 0

        def flush() -> int:
            if not data:
                return 0
            lengths = np.fromiter(map(len, data), np.int32, len(data))
            offsets = np.zeros(len(data), np.int64)
            np.cumsum(lengths[:-1], out=offsets[1:])
            try:                           # one loop, as ingest_pcap's
                return self._feed_in_order(feeds, np.frombuffer(b"".join(data), np.uint8),
                                           np.array(times, np.int64), offsets, lengths, np.array(which, np.int16))
            finally:
                data.clear()
                times.clear()
                which.clear()

        next_day_ns = _day_after_ns(date)
        day_ns = day_epoch_ns(date)
        seen = False                       # a datagram of the day being written came (see _earlier_day)
        started: int | None = None         # the time of the datagram that started the day in this call
        try:
            for ts, dst, port, payload in datagrams:
                rolled = ts >= next_day_ns
                if rolled:                         # the first datagram of a later day: that day starts first
                    total += flush()
                    n, seen, started = 0, False, ts
                    date = ist_date(ts)
                    self.new_day(date, ts)
                    next_day_ns = _day_after_ns(date)
                    day_ns = day_epoch_ns(date)
                early = ts < day_ns - EARLIER_DAY_GRACE_NS
                if early and not seen:             # an earlier day's (see _earlier_day): stop before it
                    raise _earlier_day(ts, date, started_ns=started)
                seen = seen or (ts >= day_ns and not rolled)
                n += 1
                if early:                          # a corrupt time: skipped
                    self.earlier_day_timestamp += 1
                elif (f := route.get((dst if isinstance(dst, int) else int(ipaddress.IPv4Address(dst)),
                                      port))) is None:
                    self.other_destination += 1
                else:
                    data.append(bytes(payload))
                    times.append(ts)
                    which.append(index[id(f)])
                if n >= batch:
                    total += flush()
                    n = 0
        finally:                           # a source that fails part way (a damaged file): keep what came before
            total += flush()
        return total

    def ingest_pcap(self, paths: Iterable[str | Path], stats: PcapStats | None = None, batch: int = 1024,
                    progress: Callable[[int], object] | None = None) -> int:
        """:meth:`ingest` of capture files (pcap / pcapng, in time order), with the datagrams read by the nogil walker
        (:func:`vega.pcap.scan_batches`) and handed from the mapped file to the feeds' handlers in capture
        order, in one nogil loop per batch that switches feeds where the capture does
        (``vega._pcap.feed_runs``): no Python object per datagram or run.  The batches, days and results are
        those of ``ingest(udp_datagrams(path) for each path)`` (a batch ends with its file here).  ``stats``: a
        :class:`vega.pcap.PcapStats` to fill; ``progress``: called after every batch with the bytes of the files
        read since its last call.  Framing damage raises :class:`vega.pcap.PcapError` after everything before it
        went in.  Returns the datagrams processed.  A capture not yet open opens itself
        (``open(offline_ns=...)``) at the first datagram's time without reading it twice (so a stream, ``-``,
        works); with no datagram at all it stays closed.  A datagram of a day earlier than the one being written
        (files out of time order) raises :class:`CaptureError` naming its file, after the datagrams before it
        went in, unless its file gave a datagram of the day being written before it: then it is a corrupt time,
        counted in ``earlier_day_timestamp`` (and the stats') and skipped (as :meth:`ingest`, see
        :func:`_earlier_day`).  So does a file, not the capture's first, that starts more than
        ``FILE_OVERLAP_GRACE_NS`` (1 s) before the last record a journal of the day holds (the same capture
        given twice, or files out of order), before any of its datagrams go in: :meth:`ingest`, which sees no
        files, cannot tell.  Stopped by a KeyboardInterrupt, ``stats`` count the datagrams that went in (the stop
        comes most often as a batch's nogil scan returns, that batch counted and not fed)."""
        from vega.pcap import PcapStats
        st = stats if stats is not None else PcapStats()
        # what went in: the counts after the last batch fed, and whether the batch being fed got to its handlers
        kept, fed = [_counts_copy(st)], [False]
        try:
            return self._ingest_pcap(paths, st, batch, progress, kept, fed)
        except KeyboardInterrupt:
            if not fed[0]:                     # its counts, of the batch scanned, go
                _counts_restore(st, kept[0])
            raise

    def _ingest_pcap(self, paths: Iterable[str | Path], st: PcapStats, batch: int,
                     progress: Callable[[int], object] | None, kept: list[PcapStats], fed: list[bool]) -> int:
        """:meth:`ingest_pcap`, keeping ``kept[0]`` (the counts of what went in) and ``fed`` up to date."""
        import numpy as np
        from vega._journal import day_epoch_ns
        from vega.pcap import _label, scan_batches
        keys = [(group, port, f) for (group, port), f in self._routes().items()]
        # not open yet: stop before the first datagram (a time below every datagram's), open at its time
        next_day = [_day_after_ns(self._today()) if self.opened else -1]
        day_ns = day_epoch_ns(self._today()) if self.opened else 0      # where the day being written starts
        total = 0
        links = dict(st.link_types)            # the link types' counts before the batch (see _uncount_links)
        for path in paths:
            shown = 0
            checked = not self.opened          # the opening checks this file's start (_refuse_overlap)
            seen = False                       # the file gave a datagram of the day being written (_earlier_day)
            rolled = 0                         # 1: the batch starts with the datagram that started the day
            started: int | None = None         # the time of the datagram that started the day in this file
            for b in scan_batches(path, st, batch, stop_ns=lambda: next_day[0]):
                before, links = links, dict(st.link_types)
                if not self.opened:
                    self.open(offline_ns=b.next_ts)
                    next_day[0] = _day_after_ns(self._today())
                    day_ns = day_epoch_ns(self._today())
                    kept[0] = _counts_copy(st)
                    continue
                n = b.n
                low = b.ts[:n] < day_ns - EARLIER_DAY_GRACE_NS    # an earlier day's datagrams (see _earlier_day)
                first = int(np.argmax(low)) if n else 0
                early = bool(low.any()) and not seen and not (b.ts[rolled:first] >= day_ns).any()
                if early:                      # before the file gave one of the day: the datagrams before it go in,
                    n, low = first, low[:first]                  # then stop (after it: corrupt times, skipped)
                if not checked and n > 0:      # a later file of the day: after what is journaled already
                    checked = True
                    try:
                        self._refuse_overlap(int(b.ts[:n][~low].min()), _label(path))
                    except CaptureError:
                        st.datagrams -= b.n
                        st.packets -= b.n
                        _uncount_links(st.link_types, before, b.n)
                        raise
                # each datagram's feed (-1: none), then the feeds' runs in capture order: the F&O handler's open
                # interest goes into the CM journal among the CM datagrams captured before and after it
                which = np.full(n, -1, np.int16)
                for k, (group, port, _) in enumerate(keys):
                    which[(b.dst[:n] == group) & (b.port[:n] == port) & ~low] = k
                routed, skipped = int((which >= 0).sum()), int(low.sum())
                try:
                    self._feed_in_order([f for _, _, f in keys], b.buffer, b.ts, b.offset, b.length, which, fed)
                finally:                       # (a stop as the feed returns: the batch went in, and is counted)
                    if fed[0]:
                        self.other_destination += n - routed - skipped
                        self.earlier_day_timestamp += skipped
                        st.datagrams -= skipped
                        st.earlier_day_timestamp += skipped
                seen = seen or bool((b.ts[rolled:n] >= day_ns).any())
                rolled = 0 if n else rolled
                total += routed
                if early:                      # the scan counted the batch's datagrams from there on too
                    st.datagrams -= b.n - n
                    st.packets -= b.n - n
                    _uncount_links(st.link_types, before, b.n - n)
                    raise _earlier_day(int(b.ts[n]), self._today(), _label(path), started)
                if b.stopped:                  # the first datagram of a later day: that day starts first
                    day = ist_date(b.next_ts)
                    self.new_day(day, b.next_ts)
                    next_day[0] = _day_after_ns(day)
                    day_ns = day_epoch_ns(day)
                    seen, rolled, started = False, 1, b.next_ts
                if progress is not None:
                    progress(st.offset - shown)
                    shown = st.offset
                kept[0], fed[0] = _counts_copy(st), False
            if progress is not None:
                progress(st.offset - shown)
        return total

    def _feed_in_order(self, feeds: list[_Feed], buffer: npt.NDArray[np.uint8] | mmap.mmap | bytes,
                       ts: npt.NDArray[np.int64], offset: npt.NDArray[np.int64], length: npt.NDArray[np.int32],
                       which: npt.NDArray[np.int16], started: list[bool] | None = None) -> int:
        """An ingest's batch to ``feeds`` in capture order, in one nogil loop (``vega._pcap.feed_runs``; datagram
        ``i`` to ``feeds[which[i]]``, none for -1; ``buffer``, the bytes the offsets point into: ingest's array,
        or ingest_pcap's mapped capture or decompressed piece), then its journals' service; adds each feed's
        datagrams to its count and returns how many went to a feed.  A journal that fails raises after the whole
        batch went in (handled: ``_journal_may_fail``).  ``started[0]`` is set as the loop starts: a stop (a
        KeyboardInterrupt) raised after it finds the batch in, and counted; one raised before, neither."""
        import numpy as np
        from vega._pcap import feed_runs
        fed = np.bincount(which[which >= 0], minlength=len(feeds)).tolist()
        handlers: list[FeedHandler] = []
        for f in feeds:
            assert f.handler is not None                   # (open makes every feed's)
            handlers.append(f.handler)
        went = started if started is not None else [False]
        try:
            with self._journal_may_fail():
                went[0] = True                 # (nothing checks for a signal between here and the nogil loop)
                feed_runs(handlers, buffer, ts, offset, length, which)
            self._service_journals()
        finally:
            if went[0]:
                for f, k in zip(feeds, fed):
                    f.datagrams += k
        return sum(fed)

    def _routes(self) -> dict[tuple[int, int], _Feed]:
        """(destination address as an int, port) -> the feed configured for it."""
        return {(int(ipaddress.IPv4Address(c.group)), c.port): f for f in self.feeds
                if (c := f.cfg) is not None}                      # (every one: only the index feed has none)

    def new_day(self, day: _dt.date, now_ns: int | None = None) -> None:
        """The trading day changed to ``day``: each journal goes on in that day's file (unless a record stamped
        past the day's end already took it there), every store starts the day from its instruments'
        identity (``Store.new_day``: a capture running across days ends each day with exactly the state of one
        started that morning), and that state opens the day's journal as a checkpoint.  ``now_ns``: the time of
        the change (default now).  A ring consumer that mirrors the state sees the change as the records'
        ts48 starting again from the new day's 00:00."""
        from vega.journal import JournalError
        now = time.time_ns() if now_ns is None else now_ns
        self._settle_journals("the day ended")
        sealed: list[str] = []                   # what the day's line says of the files the day's end sealed
        for f in self.all_feeds:
            if f.writer is not None and f.journal_error is None and f.writer.date < day:
                done = _day_file(f.writer)
                unused = f.day_made and _got(f) == f.day_mark
                try:
                    f.writer.rollover(day)
                except (OSError, JournalError) as e:   # its disk full, or a file that is not the day's journal at
                    self._rollover_failed(f, e, day)       # its path: the feed goes on (the trading path), see below
                    continue
                f.journal_days.append(done)
                if unused:
                    f.unused_days.append(done["path"])
                self._day_begins(f)
                sealed.append(f"{f.name} {Path(done['path']).name} sealed with "
                              f"{done['records'] - done['checkpoint_records']:,} change records")
        if self._date is not None and day > self._date and self.on_warning is not None:
            files = (f", the journals go on in {day:%Y%m%d}.bin" if any(f.writer is not None for f in self.all_feeds)
                     else "")
            self.on_warning(f"the trading day {day} begins" + (f" ({'; '.join(sealed)})" if sealed else "") +
                            f": each store starts the day from its instruments{files}")
        self._date = day
        for f in self.all_feeds:                   # a journal given up on the day that ended starts this one
            if self._journal_given_up(f):
                self._start_days_journal(f)
        if self._offline_ns is not None:           # ingest: the day's files must not hold these times already
            self._refuse_overlap(now)
        for f in self.all_feeds:
            if f.handler is not None:
                if f.seqs.pending:                 # a restart's streams heard meanwhile: said now; the others are
                    self._say_missed_while_down(f)     # forgotten by the handler's new_day, and no longer awaited
                    f.seqs.pending.clear()
                f.handler.new_day()                # the store, and the streams' sequence numbers
            self._open_with_state(f, now)

    def _open_with_state(self, f: "_Feed", now_ns: int) -> None:
        """The store's state as a checkpoint at ``now_ns`` (clamped into the day's record stamps): what opens a
        day's journal file (a new day, or a file made after its journal failed); nothing without a working
        journal or an instrument."""
        from vega._journal import day_epoch_ns
        if f.writer is not None and f.journal_error is None and f.store is not None and len(f.store):
            with self._journal_may_fail():
                handler = f.handler
                assert handler is not None                 # (open makes every feed's)
                handler.checkpoint(min(max(0, now_ns - day_epoch_ns(self._today())), (1 << 48) - 1))

    def housekeeping(self) -> None:
        """Idle work: journal flush; a new trading day when the IST date changed (:meth:`new_day`); silent
        feeds (:meth:`check_silence`)."""
        self.check_silence()
        now = time.time_ns()
        today = ist_date(now)
        if self._date is not None and today > self._date:
            self.new_day(today, now)
        for f in self.all_feeds:
            if f.writer is not None:
                if f.journal_error is None:
                    self._check_journal_file(f)
                assert f.handler is not None               # (open makes every feed's)
                with self._journal_may_fail():
                    f.handler.poll()
                self._write_seqs_at_checkpoint(f)
        self._service_journals()

    def _check_journal_file(self, f: "_Feed") -> None:
        """A journal file removed while being written (``rm -rf`` of the journal root by a cleanup script): the
        writer went on into the deleted file and sealed it, and the day's journal was lost without a word.  It
        is written again at its path from the open file (``JournalWriter._restore_removed``) and goes on there,
        said through ``on_warning``; when that cannot be done, the journal failed (reported as any other)."""
        w, handler = f.writer, f.handler
        assert w is not None and handler is not None       # (housekeeping's: a feed with a journal)
        if w.closed:
            return
        try:
            copied = w._restore_removed()
        except OSError as err:
            handler.detach_journal()
            why = (err.strerror or str(err)).removeprefix(f"{w.path}: ")
            f.journal_error = (f"{w.path}: removed while being written, and cannot be written again there ({why}) "
                               f"after {w.n_written:,} records; {f.name} goes on without its journal")
            _close_unsealed(w)
            if self.on_warning is not None:
                self.on_warning(f.journal_error)
            return
        if copied and self.on_warning is not None:
            self.on_warning(f"{w.path}: the journal file of {f.name} was removed while being written; it is "
                            f"written again there from the open file ({copied:,} bytes) and goes on in it")

    @contextlib.contextmanager
    def _journal_may_fail(self) -> Iterator[None]:
        """Around a call that writes journals: an OSError of a journal that failed is handled
        (:meth:`_journals_failed`) and the capture goes on; any other error propagates."""
        try:
            yield
        except OSError:
            if not self._journals_failed():
                raise

    def _journals_failed(self) -> bool:
        """After an OSError from a handler's call: every journal whose writer failed is detached, so its feed
        goes on into the store and the ring (the trading path).  With ``journal_spill_mb`` > 0 the feed's
        records are then held in memory, read from the capture's ring (a private one when none is configured),
        and every ``journal_retry`` seconds the writer tries again (:meth:`_retry_journal`): when the disk has
        room, the journal catches up and is attached again, with nothing lost.  Otherwise, or when the held
        records pass the limit, the ring laps them, the day ends or the capture stops first, the journal stays
        where it failed, unsealed and recoverable (``vega verify --repair`` seals it, as does the day's next
        writer).  Reported through ``on_warning``, ``stats()`` and ``journal_failures()``.  False when no
        journal had failed (the error is someone else's)."""
        hit = False
        for f in self.all_feeds:
            w = f.writer
            if w is None or f.journal_error is not None:
                continue
            try:
                w.check()
                continue
            except OSError as err:
                why = (err.strerror or str(err)).removeprefix(f"{w.path}: ")    # (the path is said once)
            hit = True
            assert f.handler is not None                   # (open makes every feed's)
            f.handler.detach_journal()
            f.journal_error = (f"{w.path}: {why} after {w.n_written:,} records; {f.name} goes on without its "
                               f"journal")
            if self.ring is not None and not self.ring.closed and self.config.journal_spill_mb > 0:
                # the writer stays open (its buffer holds what it accepted and did not write); the ring holds
                # the records it did not accept, from its next_seq on (a batch ago at most)
                f.spill = _Spill(self.ring.reader(f.name, None, start=w.next_seq),
                                 self.config.journal_spill_mb * 2**20,
                                 time.monotonic() + self.config.journal_retry)
                f.journal_error += (f"; its records are held in memory (up to {self.config.journal_spill_mb:,.0f} "
                                    f"MB) while it is retried every {self.config.journal_retry:g} s")
                ended = f.spill.drain()
                if ended is not None:
                    self._spill_ends(f, ended)
            else:
                _close_unsealed(w)
            if self.on_warning is not None:
                self.on_warning(f.journal_error)
        return hit

    def _rollover_failed(self, f: "_Feed", err: Exception, day: _dt.date) -> None:
        """A journal's rollover failed on an I/O error (its disk full) or a JournalError (the new day's path holds
        a file that is not that day's journal of this feed): the day's last records, its index or seal, or the
        new day's file could not be written.  The writer is closed (the day's file stays as far as
        it got: unsealed, recoverable, when the seal did not finish) and the feed goes on into the store and
        the ring, as after a failure in a batch, instead of the error stopping the capture; the new day's file
        is made once it can be (:meth:`_start_days_journal`)."""
        w, handler = f.writer, f.handler
        assert w is not None and handler is not None       # (new_day's: a feed with a journal)
        handler.detach_journal()
        _close_unsealed(w)
        if _journal_sealed(w.path):            # the day's file was sealed: the new day's could not be made
            path, left = Path(w.path).parent / f"{day:%Y%m%d}.bin", f" ({Path(w.path).name} sealed)"
        else:
            path, left = w.path, " (unsealed)"
        why = (getattr(err, "strerror", None) or str(err)).removeprefix(f"{path}: ")
        f.journal_error = f"{path}: {why} at the rollover to {day}{left}; {f.name} goes on without its journal"
        if self.on_warning is not None:
            self.on_warning(f.journal_error)

    def _day_begins(self, f: "_Feed") -> None:
        """Feed ``f``'s writer has just opened a day's file: whether this run made it, and what the feed had got
        by then (for :meth:`unused_day_files`)."""
        assert f.writer is not None
        f.day_made = not f.writer.recovered["existed"]
        f.day_mark = _got(f)

    def unused_day_files(self) -> list[str]:
        """The journal files this run made (none were there before it) for days on which their feed got
        nothing: no datagram and no record (records come from other feeds' datagrams too: the index feed's from
        the CM feed's), sealed and holding no record but the checkpoints that open a day.  ``vega ingest``
        removes them (:meth:`remove_unused_day_files`) instead of leaving days that look captured."""
        out = []
        for f in self.all_feeds:
            out += [p for p in f.unused_days if _no_live_record(p)]
            p = self._unused_day_file(f)
            if p is not None:
                out.append(p)
        return out

    @staticmethod
    def _unused_day_file(f: "_Feed") -> str | None:
        """The day file feed ``f``'s writer has now, when this run made it and it got nothing (sealed: the capture
        closed), else None."""
        if f.writer is not None and f.journal_error is None and f.day_made and _got(f) == f.day_mark:
            p = str(f.writer.path)
            if _no_live_record(p):
                return p
        return None

    def remove_unused_day_files(self) -> list[str]:
        """Remove :meth:`unused_day_files` (the capture closed first); the paths removed."""
        if self.opened:
            raise CaptureError("close the capture before removing its unused day files")
        done = []
        for p in self.unused_day_files():
            try:
                os.unlink(p)
            except FileNotFoundError:
                continue
            done.append(p)
        return done

    def _journal_given_up(self, f: "_Feed") -> bool:
        """Whether feed ``f``'s journal failed on a day before the one being captured and was given up (closed,
        unsealed, its records no longer held): the day being captured has no file of it yet."""
        w = f.writer
        return (w is not None and f.journal_error is not None and f.spill is None and w.closed
                and self._date is not None and w.date < self._date)

    def _start_days_journal(self, f: "_Feed") -> None:
        """A journal given up on an earlier day (its disk was still full when that day ended) starts the day
        being captured in a new file, numbered on from the ring (whose positions went on meanwhile), and is
        attached again: a failure does not cost every later day its journal.  When the file cannot be made yet
        (the disk still full), tried again every ``journal_retry`` seconds (:meth:`_service_journals`)."""
        from vega.journal import JournalError, JournalWriter
        old, handler, root, failed = f.writer, f.handler, self.config.journal_root, f.journal_error
        # (a journal given up, _journal_given_up: a writer, its error, and the root it was made under)
        assert old is not None and handler is not None and root is not None and failed is not None
        first = self.ring.tail(f.name) if self.ring is not None and not self.ring.closed else old.next_seq
        f.new_day_retry_at = time.monotonic() + self.config.journal_retry
        try:
            w = JournalWriter(Path(root), f.name, self._today(), first_seq=first,
                              checkpoint_interval=self.config.checkpoint_interval)
        except (OSError, JournalError):
            return                                  # not yet
        f.journal_days.append(_day_file(old))
        f.failed_days.append(failed)
        f.writer = w
        self._day_begins(f)
        handler.attach_journal(w)
        f.journal_error = None
        f.journal_resumed += 1
        if self.on_warning is not None:
            left = (f"{old.path.name} is sealed: the rollover made no file of {self._date}" if _journal_sealed(old.path)
                    else f"the file of the day its journal failed, {old.path.name}, stays where it failed, unsealed")
            self.on_warning(f"{f.name}: the journal goes on in {w.path} for {self._date} ({left})")

    def _service_journals(self, force: bool = False) -> None:
        """Between batches, for every journal that failed and is held in memory: take the ring's new records,
        and when its retry time came (or ``force``), write what it missed and attach it again.  A journal given
        up on an earlier day: its file of the day being captured, when its retry time came."""
        now = None
        for f in self.all_feeds:
            if f.spill is None and f.journal_error is not None and self._journal_given_up(f):
                now = time.monotonic() if now is None else now
                if now >= f.new_day_retry_at:
                    self._start_days_journal(f)
                    if f.store is not None and len(f.store):
                        # the state so far opens the file (an ingest: at the store's last update, the datagrams'
                        # clock)
                        self._open_with_state(f, time.time_ns() if self._offline_ns is None
                                              else int(f.store.snapshot()["last_update_ns"].max()))
                continue
            sp = f.spill
            if sp is None:
                continue
            now = time.monotonic() if now is None else now
            why = sp.drain()
            if why is not None:
                self._spill_ends(f, why)
            elif force or now >= sp.retry_at:
                self._retry_journal(f, whole=force)

    #: a failed journal catches up between batches in pieces of this many records (4 MiB: ~1 ms of page-cache
    #: writes here, where one 64 MiB write took 93-188 ms: the kernel throttles a large burst of dirty pages)
    CATCH_UP = 1 << 17
    #: ... for up to this long per call, so that the receive loop is never away for much longer
    CATCH_UP_SECONDS = 0.005

    def _retry_journal(self, f: "_Feed", whole: bool = False) -> None:
        """The failed writer (kept open, its buffer and index intact) cuts its file back to its whole records and
        writes its buffer again (``JournalWriter._revive``), then takes the records held since, in order, in
        pieces of ``CATCH_UP`` for up to ``CATCH_UP_SECONDS`` per call (all of them when ``whole``: the capture
        stops, the day ends), and once it has them all is attached again: the file is what it would have been
        without the failure.  A step that fails is retried after ``journal_retry`` (the records accepted so far
        stay accepted)."""
        sp, w, handler, ring = f.spill, f.writer, f.handler, self.ring
        # (a journal held in memory, _journals_failed: its writer, and the ring its records are read from)
        assert sp is not None and w is not None and handler is not None and ring is not None
        now = time.monotonic()
        sp.retry_at = now + self.config.journal_retry
        until = now + self.CATCH_UP_SECONDS
        try:
            w._revive()
            while True:
                if w.next_seq < sp.start:         # cannot happen: the ring's records start at its next_seq
                    self._spill_ends(f, f"its file ends at record {w.next_seq:,}, the records held start at "
                                        f"{sp.start:,}")
                    return
                recs = sp.take(w.next_seq, self.CATCH_UP)
                if recs is None:
                    break
                w._append(recs, False)            # no checkpoint amid them: the store is ahead of them
                w.flush()
                if not whole and time.monotonic() >= until:
                    break
        except OSError:
            return                                  # not yet: the next attempt after journal_retry
        sp.take(w.next_seq, 0)                      # let go of what the journal has
        tail = ring.tail(f.name)
        if w.next_seq < tail:                       # more to write: the next call, without waiting
            sp.retry_at = 0.0
            return
        if w.next_seq != tail:                      # cannot happen: the journal never passes the ring
            self._spill_ends(f, f"it caught up to {w.next_seq:,}, the ring is at {tail:,}")
            return
        handler.attach_journal(w)
        f.journal_error = None
        f.journal_resumed += 1
        held, secs = sp.total, time.monotonic() - sp.since
        sp.reader.close()
        f.spill = None
        if self.on_warning is not None:
            self.on_warning(f"{w.path}: the journal of {f.name} is written again after {secs:.1f} s; the "
                            f"{held:,} records held meanwhile are in it")

    def _settle_journals(self, why: str) -> None:
        """Before the capture stops or the day ends: every journal held in memory takes all it missed now,
        or stays where it failed (``why``: what came first)."""
        self._service_journals(force=True)
        for f in self.all_feeds:
            if f.spill is not None:
                self._spill_ends(f, f"{why} before it could be written again")

    def _spill_ends(self, f: "_Feed", why: str) -> None:
        """Stop holding a failed journal's records: it stays as far as it got (unsealed, recoverable)."""
        # (a journal held in memory: its writer failed, _journals_failed)
        assert f.spill is not None and f.journal_error is not None and f.writer is not None
        f.spill.reader.close()
        f.spill = None
        _close_unsealed(f.writer)
        f.journal_error += f"; no longer held: {why}"
        if self.on_warning is not None:
            self.on_warning(f"{f.name}: {f.journal_error}")

    def receive_buffer_warnings(self) -> list[str]:
        """One line per feed whose socket got a smaller receive buffer than ``rcvbuf_mb`` asked for: without
        root or CAP_NET_ADMIN the kernel caps it at ``net.core.rmem_max``, silently, and a burst longer than
        the buffer is then dropped (counted in ``socket_drops``)."""
        asked = min(self.config.rcvbuf_mb << 20, RCVBUF_MAX)
        return [f"feed {f.segment}: the socket receive buffer is {f.rcvbuf / 2**20:g} MiB, not the "
                f"{self.config.rcvbuf_mb} MiB of rcvbuf_mb: net.core.rmem_max caps it without root or "
                f"CAP_NET_ADMIN (sysctl -w net.core.rmem_max={asked} lifts that)"
                for f in self.feeds if f.sock is not None and f.rcvbuf < asked]

    def journal_failures(self) -> list[str]:
        """One line per journal that stopped on an I/O error (empty when none did): each feed's now, and those of
        earlier days that failed and were given up before the journal went on in a later day's file."""
        return [f"{f.name}: {e}" for f in self.all_feeds
                for e in f.failed_days + ([f.journal_error] if f.journal_error is not None else [])]

    def run(self, duration: float | None = None, *, stop: Callable[[], bool] | None = None,
            on_stats: Callable[[dict[str, Any]], None] | None = None,
            until: Callable[["Capture"], bool] | None = None) -> None:
        """Run until ``duration`` seconds passed, ``stop()`` or ``until(self)`` is true; ``on_stats(stats)``
        every ``stats_interval`` seconds.  A capture not opened yet is opened first and closed (its journals
        sealed) when the run ends; one the caller opened (``open()``, a ``with`` block) stays open."""
        if not self.opened:
            with self:
                return self.run(duration, stop=stop, on_stats=on_stats, until=until)
        t0 = time.monotonic()
        next_stats = t0 + self.config.stats_interval
        next_house = t0 + 0.05
        next_full = t0 + 1.0
        while True:
            self.step(50)
            now = time.monotonic()
            if now >= next_house:
                self.housekeeping()
                next_house = now + 0.05
            if now >= next_full:
                self.check_store_full()
                next_full = now + 1.0
            if on_stats is not None and now >= next_stats:
                on_stats(self.stats())
                next_stats = now + self.config.stats_interval
            if stop is not None and stop():
                break
            if until is not None and until(self):
                break
            if duration is not None and now - t0 >= duration:
                break
        self.drain()

    def check_store_full(self) -> None:
        """Warn (``on_warning``, once per feed) when a feed's store is full: from then on the updates of every
        token it does not hold are dropped (counted as ``store_full``; the stats line shows them)."""
        for f in self.all_feeds:
            if f.handler is None or f.name in self._full_warned:
                continue
            n = f.handler.stats.get("merge", {}).get("store_full", 0)
            if n and self.on_warning is not None:
                self._full_warned.add(f.name)
                cap = f.store.capacity if f.store is not None and not f.store.closed else 0
                self.on_warning(f"{f.name}: the store is full ({cap:,} instruments): the updates of tokens it does "
                                f"not hold are dropped ({n:,} so far); raise store_capacity")

    def drain(self) -> int:
        """Process whatever is still queued (no waiting); returns datagrams processed."""
        total = 0
        while True:
            n = self.step(0)
            total += n
            if n == 0:
                return total

    # -- what happened --------------------------------------------------------------------------------------

    @property
    def datagrams(self) -> int:
        return sum(f.datagrams for f in self.feeds)

    #: earlier day files a feed's periodic stats list (the newest): a capture left running for months would
    #: otherwise print a line that grows by a day file every day
    STATS_EARLIER_DAYS = 5

    def stats(self, earlier_days: int | None = STATS_EARLIER_DAYS) -> dict[str, Any]:
        """Packets, messages per code, errors by reason, sequence gaps per stream, ring readers' lag, journal
        records and bytes, per feed; JSON-ready.  A feed's journal lists the ``earlier_days`` day files this run
        sealed most recently (None: all of them, as ``vega ingest``'s summary does) under ``earlier_days``,
        and how many it sealed in all under ``earlier_day_count``.  A feed's ``datagrams_per_s`` and
        ``messages_per_s`` are its rates over the ``rate_s`` seconds since the previous call (since the opening
        for the first): in a run, the last stats interval."""
        mono = time.monotonic()
        out: dict[str, Any] = {"uptime_s": round(mono - self.started, 3) if self.started else 0.0,
                               "time_ns": time.time_ns(), "feeds": {}}
        for f in self.all_feeds:
            st = f.handler.stats if f.handler is not None else {}
            renumbered = sum(1 for v in st.get("streams", {}).values()
                             if "missed_while_down" in v and v["missed_while_down"] is None)
            if f.cfg is None:                         # the index feed: what its merge took from the CM feed
                by_code = st.get("merged_by_code", {})
                st = dict(st, messages=sum(by_code.values()), by_code=by_code)
            d = {"segment": f.segment, "group": f.cfg.group if f.cfg else None, "port": f.cfg.port if f.cfg else None,
                 "datagrams": f.datagrams, "packets": st.get("packets", 0), "messages": st.get("messages", 0),
                 "by_code": {str(k): v for k, v in st.get("by_code", {}).items() if v},
                 "errors": {k: v for k, v in st.get("errors", {}).items() if v},
                 "merge": {k: v for k, v in st.get("merge", {}).items() if v},
                 "records": st.get("records", 0),
                 "streams": {str(k): {"messages": v["messages"], "gaps": v["gaps"], "missed": v["missed"],
                                      "out_of_order": v.get("out_of_order", 0)}
                             | ({"missed_while_down": v["missed_while_down"]} if "missed_while_down" in v else {})
                             for k, v in st.get("streams", {}).items()},
                 "gaps": sum(v["gaps"] for v in st.get("streams", {}).values()),
                 "missed": sum(v["missed"] for v in st.get("streams", {}).values()),
                 # messages numbered at or below their stream's last (a datagram late, or the same one again):
                 # counted in messages and merged, and a late one's number was counted missed when skipped
                 "out_of_order": sum(v.get("out_of_order", 0) for v in st.get("streams", {}).values()),
                 # a restart resumed from the day's sidecar (_resume_streams): what the feed sent while the
                 # capture was down, as far as its streams have been heard; None without one, and None (unknown)
                 # once a stream renumbered while the capture was down
                 "missed_while_down": (sum(v.get("missed_while_down", 0) for v in st.get("streams", {}).values())
                                       if f.seqs.resumed and not renumbered else None),
                 "missed_while_down_is_bound": f.seqs.bound,
                 "streams_renumbered_while_down": renumbered,
                 "streams_not_heard_since_restart": sum(1 for v in st.get("streams", {}).values()
                                                        if "first_after" in v and not v["first_after"]),
                 "truncated": f.receiver.truncated if f.receiver is not None else 0,
                 # a silent spell (check_silence): seconds since the last datagram, else 0
                 "silent_s": round(time.monotonic() - f.heard, 1) if f.silent_since is not None else 0.0,
                 "silences": f.silences, "rejoins": f.rejoins, "last_datagram_ns": f.heard_ns,
                 "socket_drops": _socket_drops(f),
                 "rcvbuf": f.rcvbuf,
                 "instruments": len(f.store) if f.store is not None and not f.store.closed else 0}
            since, dgrams, msgs = f.rate_mark
            secs = mono - since
            d["datagrams_per_s"] = _per_s(d["datagrams"], dgrams, secs)
            d["messages_per_s"] = _per_s(d["messages"], msgs, secs)
            d["rate_s"] = secs
            f.rate_mark = (mono, d["datagrams"], d["messages"])
            if f.writer is not None:
                d["journal"] = {"path": str(f.writer.path), "records": f.writer.n_records,
                                "bytes": 64 + 32 * f.writer.n_records,
                                # the records of its checkpoints: no ring positions (records - these = the
                                # sequence numbers the file holds)
                                "checkpoint_records": f.writer.n_records - (f.writer.next_seq - f.writer.first_seq),
                                "checkpoints": len(f.writer.checkpoints) if not f.writer.closed else None,
                                "failed": f.journal_error, "resumed": f.journal_resumed,
                                "held": f.spill.n if f.spill is not None else 0,
                                "earlier_days": list(f.journal_days if earlier_days is None else
                                                     f.journal_days[max(0, len(f.journal_days) - earlier_days):]),
                                "earlier_day_count": len(f.journal_days)}
            out["feeds"][f.name] = d
        if self.config.ring and self.ring is not None and not self.ring.closed:
            out["ring"] = {"name": self.config.ring, "capacity": self.ring.capacity,
                           "tails": {f.name: self.ring.tail(f.name) for f in self.all_feeds},
                           "readers": [{"name": r.name, "pid": r.pid, "feed": r.feed, "lag": r.lag,
                                        "laps": r.laps, "lost": r.lost, "alive": r.alive}
                                       for r in self.ring.readers()]}
        return out


def _per_s(count: int, before: int, secs: float) -> float:
    """The rate of a count that went from ``before`` to ``count`` in ``secs`` seconds (one that went back, its
    handler made anew, counts from 0 again)."""
    return (count - before if count >= before else count) / secs if secs > 0 else 0.0


def _duration(secs: float) -> str:
    """A span of seconds, short (``vega stat``'s ages: 300ms, 45.0s, 3m, 14.1h)."""
    return fmt_age(int(secs * 1e9))


def _got(f: _Feed) -> tuple[int, int]:
    """What feed ``f`` has got so far: its datagrams, and its journal's next number (live records: those of
    another feed's datagrams count too, the index feed's from the CM feed's and the CM feed's open interest
    from the F&O feed's)."""
    return f.datagrams, f.writer.next_seq if f.writer is not None else 0


def _day_after_ns(day: _dt.date) -> int:
    """Epoch ns of 00:00 IST of the day after ``day``: where an ingest's next trading day starts."""
    from vega._journal import day_epoch_ns
    return day_epoch_ns(day + _dt.timedelta(days=1))


#: how far before the trading day being ingested a datagram may be and still go into it (stamped 00:00): the
#: FeedHandler's own grace before a journal's day (a clock step, packets reordered at midnight); anything
#: earlier is another day's and stops the ingest, or is a corrupt time and skipped (see _earlier_day)
EARLIER_DAY_GRACE_NS = JOURNAL_GRACE_NS
#: ingest: how far a file (not the first) may start before the last record already journaled, as packets
#: reordered across the files of a rotated capture do (a few ms); further back it is the same capture given
#: twice, or files out of time order, and is refused
FILE_OVERLAP_GRACE_NS = 1_000_000_000


def _earlier_day(ts_ns: int, day: _dt.date, path: str | None = None, started_ns: int | None = None) -> CaptureError:
    """The error of an ingest's datagram captured before the trading day being written (capture files given out
    of time order, or a capture whose clock jumped back): it would go into that day's journal stamped 00:00
    (ts48 clamped to 0) and over that day's stores, so the ingest stops before it.  Time stepping back within
    the day (packets reordered by a few ms) is normal and goes in as it was captured; so does a datagram less
    than EARLIER_DAY_GRACE_NS before the day (reordered across midnight: stamped 00:00, as FeedHandler does).
    Within one file, time cannot go back a day: a datagram of an earlier day that comes after the file (or the
    ``ingest`` call) gave one of the day being written (stamped at or after its 00:00 IST, to a feed or not;
    not the one that started the day by rolling the journal over to it) is a corrupt time, counted
    (``earlier_day_timestamp``) and skipped; the ingest stops at one that comes before (the file's first
    datagrams of an earlier day; or the file's own day again right after one datagram of a later day, which
    started that day: a lone corrupt time of a later day cannot be told from a midnight crossing, or a weekend
    without traffic, when it comes).
    ``started_ns``: the time of the datagram that started ``day`` in this file (or ``ingest`` call), if one did:
    the error names it, since the corrupt time may be that one's (the files may be in order)."""
    def ist(ns: int) -> str:
        return f"{_dt.datetime.fromtimestamp(ns // 1_000_000_000, IST):%Y-%m-%d %H:%M:%S}"
    what = "files" if path is not None else "datagrams"
    head = (f"{path + ': ' if path is not None else ''}a datagram captured at {ist(ts_ns)} IST is earlier than the "
            f"trading day {day} already being ingested")
    if started_ns is None:
        return CaptureError(f"{head}: give the capture {what} in time order")
    return CaptureError(f"{head}, which the datagram captured at {ist(started_ns)} IST started in this "
                        f"{'file' if path is not None else 'call'}: if that time is corrupt, leave that packet out "
                        f"(editcap -d) and ingest again; else give the capture {what} in time order")


def _uncount_links(links: dict[str, int], before: dict[str, int], k: int) -> None:
    """Take ``k`` packets off ``links`` (PcapStats.link_types), as off ``packets``, when an ingest refuses a
    datagram the scan read past (the refused one and the batch's datagrams after it): off the link types the batch
    counted (``before``: the counts before it), so the counts stop where ``packets`` does.  One link type in
    the batch (a classic pcap; a pcapng of one): exact; a pcapng batch of several: the largest first."""
    grew = sorted(((v - before.get(name, 0), name) for name, v in links.items() if v > before.get(name, 0)),
                  reverse=True)
    for g, name in grew:
        d = min(g, k)
        links[name] -= d
        if not links[name]:
            del links[name]
        k -= d
        if not k:
            break


def _journal_sealed(path: StrPath) -> bool | None:
    """Whether the journal file at ``path`` is sealed, from its header; None when it is not a journal (or cannot
    be read)."""
    from vega._journal import HEADER_SIZE
    from vega._journal import SEALED, JournalError, parse_header
    try:
        with open(path, "rb") as fh:
            return bool(parse_header(fh.read(HEADER_SIZE), str(path))["sealed"] == SEALED)
    except (OSError, JournalError):
        return None


def _mend_cut_header(path: Path) -> str:
    """An earlier day file whose header cannot be read (``Capture._seal_earlier_days``): one cut inside its
    header, with no record in it (its capture killed as it made the file), is written again as the empty, sealed
    journal of the feed and day its path names, as ``vega verify --repair`` does (which takes the writer's lock
    first: a live writer's file is not touched); any other is left as it is.  The start note."""
    from vega.journal import JournalError, verify
    why = _header_problem(path)
    try:
        if verify(path).cut_header:
            rep = verify(path, repair=True)
            if rep.repaired and rep.ok:
                return (f"{path}: its header was cut short, with no record in it (its capture was killed as it "
                        "made the file): written again as that day's empty journal, sealed")
    except (OSError, JournalError) as e:
        return f"{path}: {why}; writing it again failed ({e}): left as it is"
    return f"{path}: {why}: left as it is"


def _header_problem(path: Path) -> str:
    """Why the header of the file at ``path`` is not a journal's (:func:`_journal_sealed` gave None), in words."""
    from vega._journal import HEADER_SIZE
    from vega._journal import JournalError, parse_header
    try:
        with open(path, "rb") as fh:
            parse_header(fh.read(HEADER_SIZE), str(path))
    except JournalError as e:
        return str(e).removeprefix(f"{path}: ")
    except OSError as e:
        return f"cannot be read ({_errno_text(e)})"
    return "its header is a journal's"


def _no_live_record(path: str) -> bool:
    """Whether the journal file at ``path`` is sealed and holds no numbered (live) record, only the checkpoints
    that open a day: checked, not assumed."""
    from vega.journal import Journal
    if not _journal_sealed(path):
        return False
    with Journal.open(path) as j:
        return bool(j.next_seq == j.first_seq)


@dataclasses.dataclass
class _Made:
    """What ``Capture.open`` made that was not there before it: what a refused opening takes back."""
    stores: list[Store] = dataclasses.field(default_factory=list)     # the stores it created at new names
    ring: bool = False                                                 # the configured ring, at a new name
    dirs: list[Path] = dataclasses.field(default_factory=list)         # the journal directories, deepest first
    files: list[Path] = dataclasses.field(default_factory=list)        # day files a journal writer failed to make


def _sealed_now(path: Path, w: JournalWriter) -> str:
    """Seal (close) ``w``, an earlier day's file ``path`` that a killed capture left unsealed, reopened
    (``Capture._seal_earlier_days``): the start note saying what it holds now, or why it could not be sealed."""
    rec = w.recovered
    records, changes = w.n_records, w.next_seq - w.first_seq
    try:
        w.close()
    except (OSError, ValueError) as e:
        _close_unsealed(w)
        why = _errno_text(e) if isinstance(e, OSError) else str(e)
        return (f"{path}: not sealed (its capture was killed), and sealing it failed ({why}): it replays to its "
                f"last whole record; vega verify --repair {path} seals it")
    done = [f"its {records:,} records kept ({changes:,} change records)"]
    if rec.get("torn_bytes"):
        done.append(f"a torn tail of {rec['torn_bytes']:,} bytes cut")
    if rec.get("closed_updates"):
        done.append(f"{len(rec['closed_updates']):,} update(s) cut short closed")
    said = f"{path}: left unsealed by a killed capture (no writer holds it); sealed now: {'; '.join(done)}"
    return said + _damaged_records(path)


def _damaged_records(path: Path) -> str:
    """What a start note adds for a journal file holding records no store applies (a damaged disk; a kill
    leaves none): the first, and how many; "" when none (or the file cannot be read: vega verify says why)."""
    from vega._core import _bad_records
    from vega.journal import Journal
    try:
        with Journal.open(path) as j:
            nbad, bad = _bad_records(j.records, 1)
    except Exception:
        return ""
    if not nbad:
        return ""
    return (f"; but record {bad[0][0]:,} is damaged ({bad[0][1]}), {nbad:,} damaged record(s) in all: replay stops "
            f"before the first, and vega verify {path} names them")


def _close_unsealed(w: JournalWriter) -> None:
    """Close a journal writer whose file may not take its seal: what reached the file stays there, unsealed
    and recoverable."""
    try:
        w.close()
    except Exception:
        pass


def _last_live_record(path: str | Path) -> npt.NDArray[np.void] | None:
    """The last live (not KEYFRAME) record of the journal file at ``path`` as a 1-record array, or None."""
    from vega.journal import Journal
    from vega.records import KEYFRAME
    with Journal.open(path) as j:
        for stop in range(len(j), 0, -65536):
            chunk = j.records[max(0, stop - 65536):stop]
            live = np.flatnonzero((chunk["flags"] & KEYFRAME) == 0)
            if len(live):
                return chunk[live[-1]:live[-1] + 1].copy()
    return None


def _unjournaled_records(name: str, feeds: list[str], root: Path) -> str:
    """What the stopped capture's ring ``name`` holds past the end of its feeds' latest day files under
    ``root`` that a restart would add to the journal (:func:`_ring_take`, as ``Capture._recover_from_ring``),
    as "NSE_FO 1,200..1,299, ..."; "" when nothing (or the ring cannot be read).  A feed without today's file
    is also weighed as a start now weighs the one it makes, empty (a killed capture's day file removed)."""
    from vega._ring import Ring
    try:
        ring = Ring.open(name)
    except Exception:                             # not a ring, damaged: nothing a restart could take either
        return ""
    out = []
    today = ist_date()
    try:
        for feed in feeds:
            latest = _latest_day_file(root / feed)
            todays = root / feed / f"{today:%Y%m%d}.bin"
            try:
                t = None if latest is None else _ring_take(ring, feed, *latest)
                if (t is None or not t.records) and not os.path.lexists(todays):
                    t = _ring_take(ring, feed, todays, 0, today)
            except Exception:                     # no slot for it: not this ring's journal
                continue
            if t is not None and t.records:
                out.append(f"{feed} {t.n:,}..{t.tail - 1:,}")
    finally:
        ring.close()
    return ", ".join(out)


#: a feed's day file, YYYYMMDD.bin (a glob pattern)
_DAY_FILE = "[0-9]" * 8 + ".bin"


def _latest_day_file(folder: Path, before: str | None = None) -> tuple[Path, int, _dt.date] | None:
    """The latest day file ``YYYYMMDD.bin`` in a feed's journal ``folder`` (of a day before the file named
    ``before``, when given), with its ``next_seq`` and trading date; None when there is none, or it cannot be read
    (a damaged file: not a journal a restart continues)."""
    from vega.journal import Journal
    days = sorted(q for q in folder.glob(_DAY_FILE) if before is None or q.name < before)
    if not days:
        return None
    try:
        with Journal.open(days[-1]) as j:
            return days[-1], j.next_seq, j.date
    except Exception:
        return None


def _ring_writer(pid: int, whose: bool = False) -> str:
    """The capture that wrote a stopped ring's slot, in the start notes: killed (its pid left in the slot), or
    stopped with its journal failed (a clean stop leaves none)."""
    s = "'s" if whose else ""
    return f"the killed capture{s}" if pid else f"the previous capture{s} (stopped with its journal failed)"


@dataclasses.dataclass
class _Take:
    """What a restart does with a stopped capture's ring slot that holds records past its journal's end
    (:func:`_ring_take`): ``records``, append ``n``..``tail - 1`` to the journal, else why not (``kind``)."""
    n: int                                  # the journal's next_seq
    tail: int                               # the slot's
    pid: int                                # the slot's writer pid: 0 after a clean stop
    kind: str = ""                          # not taken: "reused", "unmatched" or "lost"; "" taken
    why: str = ""                           # "reused" / "unmatched": in words
    at_end: npt.NDArray[np.void] | None = None   # the slot's record n - 1, when it is the journal's last live one

    @property
    def records(self) -> bool:
        """Whether the restart appends the slot's records ``n``..``tail - 1`` to the journal."""
        return not self.kind

    def note(self, feed: str, name: str) -> str:
        """The start note of a slot not taken (of ring ``name``, feed ``feed``)."""
        n, tail = self.n, self.tail
        if self.kind == "lost":
            return self.lost(feed, name)
        if self.kind == "unmatched":
            how = "was killed" if self.pid else "stopped with its journal failed"
            return (f"{feed}: ring {name}, whose writer {how}, holds records {n:,}..{tail - 1:,} past this journal's "
                    f"end but {self.why}: none added; the new ring numbers its records from {n:,}")
        return (f"{feed}: ring {name} has published records up to {tail - 1:,}, but this journal ends at {n:,} "
                f"({self.why}): the new ring numbers its records from {n:,} again, so its readers must start again, "
                f"not go on at their positions")

    def lost(self, feed: str, name: str) -> str:
        n, tail = self.n, self.tail
        return (f"{feed}: {_ring_writer(self.pid, True)} ring {name} published records {n:,}..{tail - 1:,} that its "
                f"journal never wrote, and has overwritten them since: {tail - n:,} records lost; the new ring "
                f"numbers its records from {n:,} again")

    def failed(self, feed: str, name: str, e: Exception, next_seq: int) -> str:
        return (f"{feed}: {_ring_writer(self.pid, True)} ring {name} holds records {self.n:,}..{self.tail - 1:,} "
                f"that its journal never wrote; adding them failed ({e}): the new ring numbers its records from "
                f"{next_seq:,}")


def _ring_take(ring: Ring, feed: str, path: str | Path, n: int, day: _dt.date,
               made_now: str | Path | None = None) -> _Take | None:
    """The one rule for what a restart takes from the slot ``feed`` of a stopped capture's ``ring`` (its writer
    gone: the callers have checked) past the end of the feed's day file at ``path`` (of trading ``day``, its
    ``next_seq`` ``n``): None when the slot holds nothing past it; else a :class:`_Take`.

    Only a slot whose writer was killed, or stopped with its journal failed (a full disk: the records it held in
    memory meanwhile went with it), and whose records continue this journal is taken: the slot holds the
    journal's last live record, byte for byte (CONTINUED aside; the previous day's file when this one has none
    yet), or it starts right at the journal's end, or, for an empty journal whose writer was killed, it starts at
    0 and was made on the journal's day.  A clean stop leaves no writer pid, and its journal has every record
    unless it failed: its ring is taken only past a journal that holds a live record, and only when it continues
    it so.  What the ring has overwritten already is lost.  The slot's writer pid says only how it stopped: a
    live process of that number now (the restarted capture itself, given the killed one's pid, as a container's
    first process is) is not its writer, whose lock on the ring is gone.

    A journal with a later day's file beside it (an ingest of an earlier day, after a capture that went on past
    it) takes nothing: the ring's records past its end are the later day's (``made_now``: the file the opening
    made, which is no such day)."""
    from vega._journal import day_epoch_ns
    info = ring.info(feed)
    tail, first = ring.tail(feed), info["first_seq"]
    if tail <= n:
        return None                               # nothing past the journal's end: the numbers go on
    t = _Take(n, tail, info["writer_pid"])
    here = Path(path)
    later = sorted(q.name for q in here.parent.glob(_DAY_FILE)
                   if q.name > here.name and (made_now is None or q != Path(made_now)))
    if later:
        t.kind, t.why = "reused", f"a later day's journal, {later[-1]}, is beside it: the ring's records are that day's"
        return t
    day0 = day_epoch_ns(day)
    made = info["created_ns"]
    if first > n or (t.pid == 0 and n == 0):
        # a ring that starts after the journal's end, or a clean stop's past an empty journal (which cannot be
        # told to continue it): nothing to take.  A clean stop's past a journal with records is its journal that
        # failed and stayed so (a full disk; a journal that did not fail has every record the ring has): checked
        # below.  A ring of an earlier day past a new day's empty journal is the usual morning start
        t.kind = "reused"
        t.why = (f"the ring was made on {ist_date(made):%Y-%m-%d}, an earlier day, and a new day's journal numbers "
                 "its records from 0" if n == 0 and made < day0 - JOURNAL_GRACE_NS
                 else "its day file was removed, or the ring was another journal's")
        return t
    same_day = day0 - JOURNAL_GRACE_NS <= made < day0 + 86_400 * 10**9
    oldest = max(first, tail - info["capacity"])
    if first < n:
        joins, t.at_end = _ring_joins_journal(ring, feed, n, path)
        if joins is False:
            t.kind, t.why = "reused", "the ring was another journal's: another root, another day"
            return t
        # None: its record n - 1 is overwritten or no day file has a live record yet; a ring made on the
        # journal's day is taken (when it still holds every record from n on)
        if joins is None and not same_day:
            t.kind = "unmatched"
            t.why = f"has overwritten {oldest - n:,} of them" if oldest > n else "cannot be matched to this journal"
            return t
    elif n == 0 and not same_day:                 # an empty journal: only a ring of its day, from 0, continues it
        t.kind, t.why = "reused", "the ring was made on another day"
        return t
    if oldest > n:
        t.kind = "lost"
    return t


def _on_their_day(w: JournalWriter, recs: npt.NDArray[np.void],
                  split: bool) -> tuple[npt.NDArray[np.void], tuple[npt.NDArray[np.void], _dt.date] | None]:
    """A killed capture's ring records that go into the journal ``w`` (:meth:`Capture._take_from_ring`), stamped
    as the ring has them: against the trading day of the handler's journal when they were merged.  A record
    stamped at or past the day's end (a call that crossed midnight: the journal rolled over after it, and
    re-stamped them in the file, not in the ring) is the next day's.  When ``w``'s file holds no live record yet
    (its writer made it at that rollover), the ring's record before these is the earlier day file's, and such
    records are re-stamped to ``w``'s day, as the rollover re-stamped them: appended as the ring has them, they
    rolled ``w`` over once more, into a day file of the day after.  With ``split`` (``w`` an earlier day's file
    that a start on a later day reopened), those of a later day than ``w``'s are returned apart, re-stamped to
    their day: (the records for ``w``, (the later ones, their day) or None)."""
    from vega._journal import DAY_NS
    from vega.records import set_timestamps, timestamps
    ts = timestamps(recs)
    past = ts >= w.day_end_ns
    if not past.any():
        return recs, None
    base = w.date
    if w.next_seq == w.first_seq:
        earlier = _latest_day_file(Path(w.path).parent, Path(w.path).name)
        if earlier is not None:
            base = earlier[2]
    if base < w.date:
        recs = recs.copy()
        moved = recs[past]
        set_timestamps(moved, np.maximum(ts[past] - (w.date - base).days * DAY_NS, 0))
        recs[past] = moved
        return recs, None
    if not split:
        return recs, None
    k = int(np.argmax(past))
    days = int((int(ts[k]) - (w.day_end_ns - DAY_NS)) // DAY_NS)
    later = recs[k:].copy()
    set_timestamps(later, np.maximum(ts[k:] - days * DAY_NS, 0))
    return recs[:k], (later, w.date + _dt.timedelta(days=days))


def _poll_old(reader: Reader, most: int) -> npt.NDArray[np.void]:
    """``reader.poll(most)`` of a killed capture's ring; an empty batch when that ring was removed meanwhile (a
    poll that finds nothing raises RingReplaced then): what it holds can no longer be recovered."""
    from vega._ring import RingReplaced
    from vega.records import CHANGE_RECORD_DTYPE
    try:
        return reader.poll(most)
    except RingReplaced:
        return np.empty(0, dtype=CHANGE_RECORD_DTYPE)


def _ring_joins_journal(ring: Ring, feed: str, n: int,
                        path: str | Path) -> tuple[bool, npt.NDArray[np.void]] | tuple[None, None]:
    """Whether the ring slot's record numbered ``n - 1`` is the journal's last live record, byte for byte but for
    CONTINUED (a reopen may have closed the update there): (True / False, that ring record as a 1-record
    array), (None, None) when it cannot be told (the ring has overwritten it, or no file of the feed holds a
    live record).  The journal file at ``path`` has none yet on a new day: the latest earlier day file beside
    it (its numbers continue into this one) is read."""
    from vega.records import CONTINUED
    last = _last_live_record(path)
    if last is None:
        earlier = sorted(q for q in Path(path).parent.glob("*.bin") if q.name < Path(path).name)
        last = _last_live_record(earlier[-1]) if earlier else None
    if last is None:
        return None, None
    r = ring.reader(feed, None, start=n - 1, on_lap="oldest")
    try:
        mine = _poll_old(r, 1).copy()
        if r.lost or len(mine) != 1:
            return None, None
    finally:
        r.close()
    a, b = mine.copy(), last
    a["flags"] &= ~CONTINUED & 0xFF
    b["flags"] &= ~CONTINUED & 0xFF
    return a.tobytes() == b.tobytes(), mine


#: getsockopt(SOL_SOCKET, SO_MEMINFO) (Linux): nine u32 counters, the socket's drops at index 8 (SK_MEMINFO_DROPS)
_SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55)


def _socket_drops(f: _Feed) -> int:
    """Datagrams the kernel dropped on feed ``f``'s socket since it was opened.  SO_RXQ_OVFL tells them with the
    next datagram received, so drops after the last one (a burst before a quiet spell, or the close) would show
    only when traffic comes again; the socket's own counter (SO_MEMINFO) is read as well, and the larger is
    right (both count from the socket's creation)."""
    seen = f.receiver.dropped if f.receiver is not None else 0
    if f.sock is None or f.sock.fileno() < 0:
        return seen
    try:
        now: int = struct.unpack("9I", f.sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 36))[8]
    except (OSError, struct.error):
        return seen
    return max(seen, now)


def clock_ist(epoch_ns: int) -> str:
    """HH:MM:SS in IST of an epoch-ns time (the stats lines' and the capture's warnings' clock)."""
    return f"{_dt.datetime.fromtimestamp(epoch_ns // 1_000_000_000, IST):%H:%M:%S}"


def format_stats(s: dict[str, Any]) -> str:
    """One human line per feed (and one for the ring) of :meth:`Capture.stats`, each starting with the time
    of day (IST, when ``s`` has ``time_ns``) and the uptime: ``[10:31:02     12.5s]``."""
    lines = []
    when = f"[{clock_ist(s['time_ns'])} " if "time_ns" in s else "["
    for name, d in s["feeds"].items():
        # codes in number order, counts grouped as every count is (and so apart by spaces, not commas)
        codes = " ".join(f"{c}:{n:,}" for c, n in sorted(d["by_code"].items(), key=lambda cn: (len(str(cn[0])),
                                                                                           str(cn[0]))))
        codes = f" ({codes})" if codes else ""
        errs = " ".join(f"{k}={v:,}" for k, v in d["errors"].items()) or "none"
        j = d.get("journal")
        ck = j.get("checkpoint_records", 0) if j else 0
        jtxt = (f" journal {j['records'] - ck:,} rec" + (f" + {ck:,} in checkpoints" if ck else "")
                + f" {j['bytes'] / 1e6:.1f} MB" if j else "")
        if j and j.get("failed"):
            jtxt = " JOURNAL FAILED: " + j["failed"] + (f" ({j['held']:,} records held)" if j.get("held") else "")
        drops = (f" SOCKET DROPS {d['socket_drops']:,} (receive buffer {d.get('rcvbuf', 0) / 2**20:g} MiB: raise "
                 f"rcvbuf_mb, and net.core.rmem_max when not root)" if d.get("socket_drops") else "")
        merge = d.get("merge", {})
        full = (f" STORE FULL: {merge['store_full']:,} updates dropped ({d.get('instruments', 0):,} instruments: "
                f"raise store_capacity)" if merge.get("store_full") else "")
        # (rare: an index or OI message with no linked handler; a message given to an index feed that is not one, which
        # a capture's linked handlers never do: datagrams fed to the wrong handler)
        unrouted = "".join(f" {k} {merge[k]:,}" for k in ("unrouted", "not_index") if merge.get(k))
        silent = f" SILENT {_duration(d['silent_s'])}" if d.get("silent_s") else ""
        down, wait = d.get("missed_while_down"), d.get("streams_not_heard_since_restart", 0)
        at_most = "<= " if d.get("missed_while_down_is_bound") else ""
        renumbered = d.get("streams_renumbered_while_down", 0)
        down_txt = (f" missed while down ? ({renumbered} stream{'s' * (renumbered > 1)} renumbered)" if renumbered
                    else "" if down is None else f" missed while down {at_most}{down:,}")
        # (a count that streams not heard since the restart can still raise: "so far", not a total)
        down_txt += f" so far ({wait} stream{'s' * (wait > 1)} not heard yet)" if wait and down_txt else ""
        rate = (f", {d['datagrams_per_s']:,.0f} dgrams/s {d['messages_per_s']:,.0f} msgs/s"
                if "datagrams_per_s" in d else "")
        late = f" out of order {d['out_of_order']:,}" if d.get("out_of_order") else ""
        lines.append(f"{when}{s['uptime_s']:8.1f}s] {name}: {d['datagrams']:,} dgrams {d['messages']:,} msgs{rate}"
                     f"{codes} errors {errs} gaps {d['gaps']:,} missed {d['missed']:,}{late}{down_txt}{unrouted}"
                     f"{silent}{drops}{full}{jtxt}")
    if "ring" in s:
        r = s["ring"]
        cap = r.get("capacity", 0)
        # a reader further behind than the slot holds has been lapped already: the records past the slot are
        # lost (its own count, LOST, says so only once it polls again, and never if it does not)
        lag = ", ".join(f"{x['name']}@{x['feed']} " + ("DEAD" if x.get("alive") is False else f"lag {x['lag']:,}")
                        + (f" LAPPED: {x['lag'] - cap:,} records gone past the ring's {cap:,}"
                           if cap and x.get("alive") is not False and x["lag"] > cap else "")
                        + (f" LOST {x['lost']:,} ({x['laps']:,} laps)" if x.get("lost") else "")
                        for x in r["readers"]) or "no readers"
        lines.append(f"{when}{s['uptime_s']:8.1f}s] ring {r['name']}: "
                     + " ".join(f"{k} {v:,}" for k, v in r["tails"].items()) + f"; {lag}")
    return "\n".join(lines)


def replay_journal_into(path: str | Path, capacity: int, day_base_ns: int | None = None) -> Store:
    """A fresh private store with every record of the journal file at ``path`` applied in order."""
    from vega import Store
    from vega.journal import Journal
    st = Store(capacity)
    with Journal.open(path) as j:
        recs = np.array(j.records)
    st.apply_records(recs, day_base_ns=day_base_ns)
    return st


def compare_stores(live: Store, other: Store) -> tuple[int, list[str]]:
    """Compare every market field of two stores token by token; returns (tokens compared, mismatches)."""
    a = live.snapshot()
    b = other.snapshot()
    a = a[np.argsort(a["token"], kind="stable")]
    b = b[np.argsort(b["token"], kind="stable")]
    bad = []
    if len(a) != len(b) or not np.array_equal(a["token"], b["token"]):
        return len(a), [f"token sets differ: {len(a)} vs {len(b)} tokens"]
    for n in a.dtype.names or ():                        # (a store's records: a structured dtype)
        if n in META_FIELDS:
            continue
        if not np.array_equal(a[n], b[n]):
            rows = np.flatnonzero(a[n] != b[n]) if a[n].ndim == 1 else np.flatnonzero((a[n] != b[n]).any(axis=1))
            bad.append(f"{n}: {len(rows)} tokens differ (first token {int(a['token'][rows[0]])})")
    return len(a), bad


def _counts_copy(st: PcapStats) -> PcapStats:
    """A copy of ``st`` (its link types too), to go back to with :func:`_counts_restore`."""
    return dataclasses.replace(st, link_types=dict(st.link_types))


def _counts_restore(st: PcapStats, kept: PcapStats) -> None:
    """``st`` set back to the counts ``kept`` (a :func:`_counts_copy`), in place: the caller's object."""
    for field in dataclasses.fields(kept):
        value = getattr(kept, field.name)
        setattr(st, field.name, dict(value) if isinstance(value, dict) else value)
