# cython: language_level=3
"""The shared-memory ring: per-feed slots of 32-byte change records, lock-free readers, a client bus.

One file (``/dev/shm/<name>`` or an absolute path) holds three 2 MiB slots (NSE_FO, NSE_EQ, NFO_IDX) and a
client bus.  One writer per slot appends records; any number of readers in any process poll them without
locks, each at its own position, and learn exactly how many records they lost when the writer lapped them.
The layout is in docs/FORMATS.md ("Ring"); the C contract for nogil writers is in ``_ring.pxd``.
"""

cimport cython                           # @cython.binding(False) on the classes: see vega/_core.pyx
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport errno
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t, INT64_MAX
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from posix.mman cimport mmap, munmap, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_POPULATE, MAP_FAILED
from posix.time cimport clock_gettime, timespec, nanosleep, CLOCK_MONOTONIC, CLOCK_REALTIME
cdef extern from "<time.h>" nogil:
    enum: CLOCK_MONOTONIC_COARSE
from posix.unistd cimport getpid, close

import errno as _errno
import fcntl
import numbers
import operator
import os
import stat as _stat
import struct
import threading
import warnings
import weakref
from collections import namedtuple
from collections.abc import Mapping

from vega._files import reserve

import numpy as np
cimport numpy as cnp

from vega.records import CHANGE_RECORD_DTYPE, raw_or_record_dtype as _records_dtype_ok

cnp.import_array()

cdef extern from "<sched.h>" nogil:
    int sched_yield()


# ----------------------------------------------------------------------------------------------------------
# Public constants and errors
# ----------------------------------------------------------------------------------------------------------

#: feed names in slot order (slot index = feed type)
FEEDS = ("NSE_FO", "NSE_EQ", "NFO_IDX")
CAPACITY = RING_CAPACITY
SLOT_SIZE = RING_SLOT_SIZE
FILE_SIZE = RING_FILE_SIZE
BUS_LINES = RING_BUS_LINES
NAME_LEN = RING_NAME_LEN
VERSION = RING_VERSION
SLOT_MAGIC = b"VEGARING"
BUS_MAGIC = b"VEGARBUS"
SHM_DIR = "/dev/shm"

_WAITS = {"spin": RING_WAIT_SPIN, "yield": RING_WAIT_YIELD, "sleep": RING_WAIT_SLEEP}
_ON_LAP = {"oldest": 0, "newest": 1, "raise": 2}
_SLICE_NS = 50_000_000          # a waiting poll re-takes the GIL this often to check for signals (Ctrl-C)

# slot header: magic, version, header_size, feed_type, record_size, symbol_id, capacity, records_offset,
# trailer_offset, record_count, created_ns, slot_size, writer_pid, first_seq
_HDR = struct.Struct("<8sHHHHIIIIQQIIQ")
_BUS = struct.Struct("<8sHHIQI36x")         # magic, version, line_size, n_lines, created_ns, reg_pid
_BUS_LOCK_TIMEOUT_NS = 5_000_000_000        # a live process holding the registration lock longer: RingBusyError
_TRAILER = struct.Struct("<QQ")              # tail_intent, tail

ReaderInfo = namedtuple(
    "ReaderInfo",
    "line name pid feed position lag laps lost heartbeat_ns alive",
)
ReaderInfo.__doc__ = "One registered reader on the client bus (Ring.readers())."


class RingError(Exception):
    """Base class of the ring's errors."""


class RingFormatError(RingError, ValueError):
    """The file is not a valid VEGA ring (wrong size, magic, version, sizes or offsets); nothing was mapped."""


class RingBusyError(RingError):
    """A live process holds what was asked for (a slot's writer role, a reader name, the ring file being
    written) or the bus is full.

    ``pid``: the process that holds it, when known, else None.  Pickles with its message and ``pid`` (so it
    crosses ``multiprocessing``).
    """

    pid = None

    def __init__(self, *args, pid=None):
        super().__init__(*args)
        self.pid = pid              # BaseException's pickling keeps it (args, then __dict__)


class RingUnregisteredWarning(RuntimeWarning):
    """A named reader could not register on the client bus (the ring file is read-only for this process).

    The reader works (it reads every record like any other), but it is unregistered: ``reader.registered``
    is False, ``reader.line`` is None, ``Ring.readers()`` does not list it and its position is not saved.
    Turn it into an error with ``warnings.simplefilter("error", RingUnregisteredWarning)``.
    """


class RingLapped(RingError):
    """Raised by a reader created with ``on_lap="raise"``: the writer overwrote ``lost`` unread records.

    The reader has already moved to the oldest valid record; the next poll continues from there.  Pickles
    with its message, ``lost`` and ``feed`` (so a worker's RingLapped reaches the parent through
    ``multiprocessing``).
    """

    def __init__(self, lost, feed):
        super().__init__(f"reader lapped on {feed}: {lost} records lost")
        self.lost = lost
        self.feed = feed

    def __reduce__(self):
        # BaseException's default rebuilds with cls(*self.args), i.e. one argument, the message: a TypeError
        # on unpickling, which killed multiprocessing's result thread (Pool.apply hung)
        return (type(self), (self.lost, self.feed), self.__dict__)


class RingReplaced(RingError):
    """Raised by a poll (``Reader.poll`` / ``poll_into``, whatever its ``timeout``) that has nothing left to
    return because the ring file it reads was replaced or removed (``Ring.replaced``): a restarted capture
    made a new ring with ``Ring.create(name, replace=True)``, so nothing will ever be published to this
    reader's mapping again; a waiting poll would otherwise wait forever (``timeout=None``), and a loop of
    polls with ``timeout=0`` would read nothing forever.

    Records published before the replacement are returned first, as usual; the error comes once they are
    all read.  Open the name again and make a new reader: ``position`` is where this one stopped (the next
    record it would have read).  A capture restarted by ``vega capture`` starts each slot of its new ring at
    its journal's ``next_seq``, so ``Ring.open(name).reader(feed, name=..., start=e.position)`` goes on with
    nothing repeated (anything in between is counted lost).  ``path`` and ``feed`` say which ring and slot.
    Pickles with its message and attributes (so it crosses ``multiprocessing``).
    """

    def __init__(self, path, feed, position):
        super().__init__(f"{path}: the ring was replaced (a restarted writer made a new one) or removed: nothing "
                         f"more is published to this reader's {feed} slot; open the name again and make a new "
                         f"reader (this one stopped at position {position:,})")
        self.path = path
        self.feed = feed
        self.position = position

    def __reduce__(self):
        return (type(self), (self.path, self.feed, self.position), self.__dict__)


# ----------------------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------------------

cdef inline int64_t _mono_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline int64_t _coarse_ns() noexcept nogil:
    """CLOCK_MONOTONIC_COARSE ns: the clock of the last tick (a few ms behind), read in a few ns."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline int64_t _real_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef uint64_t TS48_MASK = (<uint64_t>1 << 48) - 1


cdef inline bint _rewound(ring_reader_t* r) noexcept nogil:
    # the tail is behind the reader (ring re-initialised or damaged): move to it, count a rewind
    cdef uint64_t t = vg_load_acquire_u64(r.tail)
    if t < r.pos:
        r.pos = t
        r.rewinds += 1
        return True
    return False


cdef inline uint64_t _slot_first(const ring_header_t* h) noexcept nogil:
    # a slot's first sequence number (a version-1 slot has none: its field was reserved, zero)
    return h.first_seq if h.version >= 2 else 0


cdef inline uint64_t _oldest(const ring_reader_t* r) noexcept nogil:
    # the oldest sequence number still in the slot (capped at the tail)
    cdef uint64_t t = vg_load_acquire_u64(r.tail)
    cdef uint64_t i = vg_load_acquire_u64(r.tail_intent)
    cdef uint64_t pos = i - RING_CAPACITY if i > RING_CAPACITY else 0
    if pos < r.first:
        pos = r.first
    return pos if pos < t else t


cdef enum:
    _REC_FLAGS_OFFSET = 11             # vg_rec_t.flags: byte 11 of a change record (CHANGE_RECORD_DTYPE "flags")
    _REC_CONTINUED = 0x01              # flags: more records of the same store update follow (vega.records)


cdef inline Py_ssize_t _whole_updates(const ring_reader_t* r, const uint8_t* recs, Py_ssize_t n) noexcept nogil:
    # How many of the n records a poll just read (r.pos is after them) to return so that it does not end
    # inside an update: all n unless the last one is CONTINUED and more records follow it in the slot (the
    # batch was cut by its size, not by the tail); then up to the last record without CONTINUED, or all n
    # when there is none (one update longer than the batch).  A batch that reaches the tail is returned as
    # it is: VEGA's writers publish whole updates, and holding back a part a writer published by itself
    # would only delay it.  The common path is one flag test; the rest runs only for a batch that ends
    # inside an update.
    cdef Py_ssize_t j
    if n <= 0 or not (recs[(n - 1) * RING_REC_SIZE + _REC_FLAGS_OFFSET] & _REC_CONTINUED):
        return n
    if vg_load_acquire_u64(r.tail) <= r.pos:
        return n
    j = n - 1
    while j > 0:
        j -= 1
        if not (recs[j * RING_REC_SIZE + _REC_FLAGS_OFFSET] & _REC_CONTINUED):
            return j + 1
    return n


cdef object _int_or_none(v):
    """``v`` as an int when it is an integer (an int or a numpy integer: ``operator.index``), else None (a bool,
    a float, a str ...)."""
    if type(v) is int:
        return v
    if isinstance(v, (bool, np.bool_)):
        return None
    try:
        return operator.index(v)
    except TypeError:
        return None


cdef Py_ssize_t _count_arg(object v, str what) except? -1:
    """A poll's ``max_records`` / ``min_records``: an int or a numpy integer (``operator.index``), as the store
    and the journal take counts and positions; a bool (True is no count of 1), a float or a str is a
    TypeError."""
    if type(v) is int:
        return v
    if isinstance(v, (bool, np.bool_)) or not hasattr(type(v), "__index__"):
        raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    return operator.index(v)


cdef int _wait_kind(str wait) except -1:
    """A poll's ``wait=`` as its RING_WAIT_* value: "spin", "yield" or "sleep" in any case (as feed and segment
    names are taken), else ValueError."""
    cdef object how = _WAITS.get(wait)
    if how is None and wait is not None:
        how = _WAITS.get(wait.lower())
    if how is None:
        raise ValueError(f"wait must be one of {tuple(_WAITS)} (in any case), not {wait!r}")
    return how


cdef object _word(object v):
    """A keyword value (``start=``, ``on_lap=``, ``Reader.seek``): a str in any case, as lower case; anything
    else as given."""
    return v.lower() if isinstance(v, str) else v


cdef uint64_t _seq_at_most_tail(object seq, int feed, const uint64_t* tail, str what) except? 0:
    """The sequence number a reader is to move to (``Ring.reader(start=)``, ``Reader.seek``), checked: ``seq``
    (an int: callers convert numpy integers with _int_or_none) must be in 0 .. the slot's tail, else ValueError
    naming ``what``.  Past the tail, the records between the tail and ``seq`` would be skipped without ever
    being counted as lost (lost / laps / last_lost would say nothing of them).  The tail only grows, so a
    number at most the tail now stays valid."""
    cdef uint64_t t
    if seq < 0 or seq >= (1 << 63):
        raise ValueError(f"{what} {seq} out of range: a sequence number is >= 0 and < 2**63")
    t = vg_load_acquire_u64(tail)
    if <uint64_t>seq > t:
        raise ValueError(f"{what} {seq:,} is past the {FEEDS[feed]} slot's tail {t:,} (the number of the next "
                         f"record published): a reader goes at most there (the records in between would be "
                         f"skipped without being counted as lost)")
    return <uint64_t>seq


cdef int _feed_index(object feed) except -1:
    """0..2 from an int or a feed name (case-insensitive)."""
    if isinstance(feed, str):
        try:
            return FEEDS.index(feed.upper())
        except ValueError:
            raise ValueError(f"unknown feed {feed!r}; expected one of {FEEDS}") from None
    f = _int_or_none(feed)
    if f is None:
        raise TypeError(f"feed must be a feed name or an index 0..2, not {type(feed).__name__}")
    if f < 0 or f >= RING_N_SLOTS:
        raise ValueError(f"feed index {f} out of range 0..{RING_N_SLOTS - 1}")
    return f


def ring_path(name):
    """Path of the ring file for ``name``: ``/dev/shm/<name>``, or ``name`` itself when it is absolute."""
    if not isinstance(name, (str, bytes, os.PathLike)):
        raise TypeError(f"ring name must be a str (a plain name or an absolute path) or a path, "
                        f"not {type(name).__name__}")
    name = os.fspath(name)
    if not isinstance(name, str):
        name = os.fsdecode(name)
    if not name or "\0" in name:
        raise ValueError("ring name must be a non-empty string without NUL bytes")
    if os.path.isabs(name):
        return name
    if "/" in name or name in (".", ".."):
        raise ValueError(f"ring name {name!r} must be a plain name (-> {SHM_DIR}/<name>) or an absolute path")
    return os.path.join(SHM_DIR, name)


def _pid_alive(pid):
    """True when process ``pid`` exists and is not a zombie (EPERM counts as alive)."""
    if pid <= 0 or pid > 0x3FFFFFFF:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            st = f.read()
        state = st[st.rindex(b")") + 2:st.rindex(b")") + 3]
        return state not in (b"Z", b"X")
    except (OSError, ValueError):
        return True


def _existing(path):
    """What is at a ring's ``path``, for ``Ring.create``: ``(kind, detail, st)``.

    ``kind`` is ``"absent"``; ``"empty"`` (a 0-byte regular file); ``"ring"`` (a regular file no larger than a
    ring in which a slot header or the bus header, wholly present, carries its magic: a damaged or truncated
    ring too), ``detail`` then who else has it open for writing: empty when nobody does, else pids (those its
    intact slot headers record as writer and that are alive, or else those ``/proc/locks`` shows holding its
    writer lock, or ``[0]`` when neither tells; see ``_held_here`` for a ring this process writes);
    ``"foreign"`` (anything else), ``detail`` then why it is not a ring; or ``"unreadable"`` (a regular file
    this process cannot read), ``detail`` the error text.  ``st`` is the ``lstat`` of what was looked at (None
    when absent).  Never follows a symbolic link or opens a FIFO.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "absent", None, None
    if _stat.S_ISLNK(st.st_mode):
        return "foreign", "a symbolic link", st
    if _stat.S_ISDIR(st.st_mode):
        return "foreign", "a directory", st
    if not _stat.S_ISREG(st.st_mode):
        return "foreign", "not a regular file", st
    if st.st_size == 0:
        return "empty", None, st
    if st.st_size > RING_FILE_SIZE:
        return "foreign", f"{st.st_size} bytes, larger than a ring's {RING_FILE_SIZE}", st
    if st.st_size < RING_HEADER_SIZE:
        return "foreign", f"{st.st_size} bytes, too short to hold a ring header", st
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return "absent", None, None
    except OSError as e:
        return "unreadable", e.strerror or str(e), st
    locked = False
    try:
        size = os.fstat(fd).st_size
        first = os.pread(fd, 8, 0)
        ring = False
        pids = set()
        for f in range(RING_N_SLOTS):
            if f * RING_SLOT_SIZE + RING_HEADER_SIZE > size:
                break
            raw = os.pread(fd, RING_HEADER_SIZE, f * RING_SLOT_SIZE)
            if len(raw) == RING_HEADER_SIZE and raw[:8] == SLOT_MAGIC:
                ring = True
                pids.add(_HDR.unpack(raw)[12])             # writer_pid: only of a header that is intact
        if not ring and size >= RING_BUS_OFFSET + 64:
            ring = os.pread(fd, 8, RING_BUS_OFFSET) == BUS_MAGIC
        if ring:
            try:                                   # every process with the ring open for writing holds LOCK_SH
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                locked = True
    finally:
        os.close(fd)                               # (and with it the test lock)
    if not ring:
        return "foreign", f"it starts with {first!r}, not {SLOT_MAGIC!r}", st
    me = os.getpid()
    live = sorted(p for p in pids if p and p != me and _pid_alive(p))
    if _held_here(st):
        # this process has it open for writing, so the lock test says nothing about others: their recorded
        # pids do, and so do the other holders /proc/locks lists (a writer that has not appended yet)
        return "ring", (live or [p for p in _flock_pids(st) if p != me]), st
    if not locked:
        return "ring", [], st                      # nobody has it open for writing: a recorded pid is stale
    holders = [p for p in _flock_pids(st) if p != me]
    return "ring", (live or holders or [0]), st


def _held_here(st):
    """True when a Ring of this process has the file ``st`` describes open for writing."""
    for r in list(_WRITABLE):
        if (<Ring>r)._lock_fd >= 0 and (<Ring>r)._file_id == (st.st_dev, st.st_ino):
            return True
    return False


def _flock_pids(st):
    """The pids /proc/locks shows holding a flock on the file ``st`` describes (empty when it cannot tell)."""
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = []
    try:
        with open("/proc/locks") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == "->":
                    continue                       # a waiter, not a holder
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == key:
                    try:
                        pids.append(int(parts[4]))
                    except ValueError:
                        pass
    except OSError:
        pass
    return sorted(set(p for p in pids if p > 0))


def _reopen_flocked(int fd, int op):
    """A new descriptor of the file open at ``fd`` holding ``fcntl.flock(op)`` (the flock's OSError, e.g.
    BlockingIOError with LOCK_NB, propagates; the descriptor is closed then).  It is an open file of its own
    (reopened through /proc/self/fd), not a dup of ``fd``: a flock belongs to an open file, and mappings made
    from ``fd`` keep theirs alive, also in a forked child that inherits them.  So only this descriptor holds
    the lock, and a forked child lets go of it by closing its copy.  The ring's writer lock and the store's
    (vega/_store.pxi) both take theirs here."""
    lfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(lfd, op)
    except BaseException:
        os.close(lfd)
        raise
    return lfd


def _lock_fd_for(int fd, str path):
    """A descriptor of the ring file open at ``fd`` holding the writer's shared flock (_reopen_flocked); the
    caller keeps it for as long as the ring is open for writing, a forked child closes its copy
    (_drop_writer_locks)."""
    try:
        return _reopen_flocked(fd, fcntl.LOCK_SH)
    except OSError as e:
        raise RingError(f"{path}: cannot lock the ring for writing ({e.strerror or e})") from None


def _same_file(path, st):
    """True when ``path`` is still the file ``st`` (an ``lstat`` result) describes."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def _exists_error(path):
    """The FileExistsError of ``Ring.create(path)`` (no ``replace``) for what is there: names the ring's path
    only, and says whether ``replace=True`` would replace it."""
    kind, detail, _ = _existing(path)
    if kind == "foreign":
        why = f"exists and is not a VEGA ring ({detail}); replace=True does not replace it either"
    elif kind == "unreadable":
        why = f"exists and cannot be read to check that it is a VEGA ring ({detail}); replace=True refuses it"
    elif kind == "ring" and detail:
        who = f"pid {detail[0]}" if detail[0] else "another process"
        why = (f"a ring exists, being written by {who}; replace=True does not replace it while that "
               "writer lives")
    elif kind == "empty":
        why = "an empty file exists; Ring.create(..., replace=True) replaces it"
    else:
        why = "a ring exists; Ring.create(..., replace=True) replaces it"
    return FileExistsError(_errno.EEXIST, why, path)


def _check_replace(path):
    """Raise what ``Ring.create(path, replace=True)`` would refuse with, before anything is made: ``RingError``
    for a file that is not a VEGA ring (or cannot be read to tell), ``RingBusyError`` (its ``pid``) for a
    ring another live process writes.  Returns ``_existing(path)`` otherwise."""
    kind, detail, st = _existing(path)
    _refuse(path, kind, detail, "replace")
    return kind, detail, st


def _refuse(path, kind, detail, verb):
    """Raise ``_check_replace``'s refusal of what ``_existing`` found (``verb``: "replace" or "remove")."""
    if kind == "foreign":
        raise RingError(f"{path}: exists and is not a VEGA ring ({detail}); refusing to {verb} it")
    if kind == "unreadable":
        raise RingError(f"{path}: exists and cannot be read to check that it is a VEGA ring ({detail}); "
                        f"refusing to {verb} it")
    if kind == "ring" and detail:
        who = f"pid {detail[0]}" if detail[0] else "another process"
        raise RingBusyError(f"{path}: is being written by {who}; refusing to {verb} it", pid=detail[0] or None)


def _check_unlink(path):
    """``Ring.unlink``'s check, ``_check_replace``'s rules: returns ``_existing(path)`` for what may be removed,
    raises ``RingBusyError`` / ``RingError`` for what ``Ring.create(path, replace=True)`` would refuse, with
    one exception: a file this process cannot read (e.g. its own ring made with ``mode=0o000``) that has a
    ring's exact size is removed when ``/proc/locks`` shows no other process holding a lock on it (opening
    it to test the lock is what it cannot do)."""
    kind, detail, st = _existing(path)
    if kind == "unreadable" and st.st_size == RING_FILE_SIZE:
        _refuse(path, "ring", [p for p in _flock_pids(st) if p != os.getpid()], "remove")
    else:
        _refuse(path, kind, detail, "remove")
    return kind, detail, st


def _slot_header_bytes(int feed, uint64_t created_ns, uint64_t first_seq=0):
    # record_count = tail: first_seq before the first append
    return _HDR.pack(SLOT_MAGIC, RING_VERSION, RING_HEADER_SIZE, feed, RING_REC_SIZE, 0, RING_CAPACITY,
                     RING_RECORDS_OFFSET, RING_TRAILER_OFFSET, first_seq, created_ns, RING_SLOT_SIZE, 0,
                     first_seq)


def _first_seqs(first_seq):
    """Ring.create's ``first_seq`` (None, one int for every slot, or a mapping {feed: int}) -> three ints.

    An int is an int or a numpy integer (``journal.next_seq`` read from a numpy header, say), as for
    ``Ring.reader(start=)`` and ``Reader.seek``; a bool, a float or a str is not."""
    if first_seq is None:
        return [0] * RING_N_SLOTS
    if isinstance(first_seq, Mapping):
        given = [0] * RING_N_SLOTS
        for feed, v in first_seq.items():
            given[_feed_index(feed)] = v
    else:
        given = [first_seq] * RING_N_SLOTS
    out = []
    for v in given:
        n = _int_or_none(v)
        if n is None or not 0 <= n < (1 << 62):
            raise ValueError(f"first_seq must be an int in [0, 2**62), got {v!r}")
        out.append(n)
    return out


def _validate(fd, path):
    """Check size, magic, version, sizes and offsets of every header, from the file, before mapping it."""
    st = os.fstat(fd)
    if not _stat.S_ISREG(st.st_mode):
        raise RingFormatError(f"{path}: not a regular file")
    if st.st_size != RING_FILE_SIZE:
        raise RingFormatError(f"{path}: file is {st.st_size} bytes, a VEGA ring is {RING_FILE_SIZE} bytes")
    if st.st_mode & 0o002:
        raise RingError(f"{path}: refusing a world-writable ring file (mode {st.st_mode & 0o777:o})")
    expected = {
        "header_size": RING_HEADER_SIZE, "record_size": RING_REC_SIZE,
        "capacity": RING_CAPACITY, "records_offset": RING_RECORDS_OFFSET,
        "trailer_offset": RING_TRAILER_OFFSET, "slot_size": RING_SLOT_SIZE,
    }
    for f in range(RING_N_SLOTS):
        raw = os.pread(fd, RING_HEADER_SIZE, f * RING_SLOT_SIZE)
        if len(raw) != RING_HEADER_SIZE:
            raise RingFormatError(f"{path}: short read of slot {f} header")
        (magic, version, header_size, feed_type, record_size, _sym, capacity, records_offset,
         trailer_offset, _count, _created, slot_size, _wpid, first_seq) = _HDR.unpack(raw)
        where = f"{path}: slot {f} ({FEEDS[f]}) header"
        if magic != SLOT_MAGIC:
            raise RingFormatError(f"{where}: bad magic {magic!r} (expected {SLOT_MAGIC!r})")
        if version not in (1, RING_VERSION):
            raise RingFormatError(f"{where}: version is {version:#x}, expected 1 or {RING_VERSION:#x}")
        got = {
            "header_size": header_size, "record_size": record_size,
            "capacity": capacity, "records_offset": records_offset, "trailer_offset": trailer_offset,
            "slot_size": slot_size,
        }
        for key, want in expected.items():
            if got[key] != want:
                raise RingFormatError(f"{where}: {key} is {got[key]:#x}, expected {want:#x}")
        if feed_type != f:
            raise RingFormatError(f"{where}: feed type {feed_type} in slot {f}")
        intent, tail = _TRAILER.unpack(os.pread(fd, 16, f * RING_SLOT_SIZE + RING_TRAILER_OFFSET))
        if tail > intent or intent >= (1 << 62):
            raise RingFormatError(f"{where}: impossible counters tail={tail} tail_intent={intent}")
        if version >= 2 and first_seq > tail:
            raise RingFormatError(f"{where}: first_seq {first_seq} is past the tail {tail} (counters)")
    raw = os.pread(fd, 64, RING_BUS_OFFSET)
    if len(raw) != 64:
        raise RingFormatError(f"{path}: short read of the bus header")
    magic, version, line_size, n_lines, _created, _reg_pid = _BUS.unpack(raw)
    if magic != BUS_MAGIC:
        raise RingFormatError(f"{path}: bus header: bad magic {magic!r} (expected {BUS_MAGIC!r})")
    if version != RING_BUS_VERSION or line_size != RING_BUS_LINE_SIZE or n_lines != RING_BUS_LINES:
        raise RingFormatError(
            f"{path}: bus header: version {version}, line size {line_size}, {n_lines} lines "
            f"(expected {RING_BUS_VERSION}, {RING_BUS_LINE_SIZE}, {RING_BUS_LINES})")


cdef uint8_t* _map(int fd, size_t length, size_t offset, int prot) except NULL:
    # a writer's mapping is pre-faulted so the first lap of the hot path takes no page faults
    cdef int flags = MAP_SHARED | (MAP_POPULATE if prot & PROT_WRITE else 0)
    cdef void* p = mmap(NULL, length, prot, flags, fd, offset)
    if p == MAP_FAILED:
        err = errno
        raise OSError(err, f"mmap of the ring failed: {os.strerror(err)}")
    return <uint8_t*>p


# ----------------------------------------------------------------------------------------------------------
# Test-record generator (tests and benchmarks): sequence-numbered records with a checksum
# ----------------------------------------------------------------------------------------------------------

cdef inline uint32_t _test_checksum(const uint32_t* w) noexcept nogil:
    # FNV-style mix of words 0..6 (bytes 0..27), stored in word 7 (slots[3])
    cdef uint32_t h = 0x811C9DC5u
    cdef int k
    for k in range(7):
        h = (h ^ w[k]) * 0x01000193u
        h ^= h >> 15
    return h


cdef inline void _make_test_record(uint32_t* w, uint64_t seq, uint64_t ts, uint32_t tag) noexcept nogil:
    ts &= TS48_MASK
    w[0] = <uint32_t>seq                                  # token
    w[1] = <uint32_t>ts                                   # ts_lo
    w[2] = <uint32_t>(ts >> 32) | (0xEEu << 16)           # ts_hi, group 0xEE, flags 0
    w[3] = 0x7E57u << 16                                  # mask 0, source 0x7E57
    w[4] = <uint32_t>seq                                  # slots[0]: sequence, low
    w[5] = <uint32_t>(seq >> 32)                          # slots[1]: sequence, high
    w[6] = tag                                            # slots[2]: writer tag
    w[7] = _test_checksum(w)                              # slots[3]: checksum of words 0..6


cdef inline void _pace_until(int64_t until, bint spin) noexcept nogil:
    # benchmarks: wait until CLOCK_MONOTONIC reaches `until`, busy (spin) or in nanosleep
    cdef timespec req
    cdef int64_t now = _mono_ns()
    if spin:
        while now < until:
            vg_cpu_relax()
            now = _mono_ns()
    else:
        while now < until:             # a signal may end nanosleep early: sleep again for the rest
            req.tv_sec = <long>((until - now) // 1000000000)
            req.tv_nsec = <long>((until - now) % 1000000000)
            nanosleep(&req, NULL)
            now = _mono_ns()


def _clock_overhead_ns(Py_ssize_t count):
    """Benchmarks: ``count`` differences between back-to-back CLOCK_MONOTONIC reads, in a C loop (int64 ns):
    the resolution and cost floor of every latency figure."""
    cdef int64_t[::1] out
    cdef Py_ssize_t k
    cdef int64_t t0, t1
    res = np.zeros(max(count, 0), dtype=np.int64)
    out = res
    with nogil:
        for k in range(count):
            t0 = _mono_ns()
            t1 = _mono_ns()
            out[k] = t1 - t0
    return res


cdef uint64_t* _floor_word(Py_buffer* view) except NULL:
    if view.len < 64 or (<size_t>view.buf) % 64:
        raise ValueError("need a writable, 64-byte aligned buffer of at least 64 bytes (e.g. an mmap)")
    return <uint64_t*>view.buf


def _latency_floor_send(buf, Py_ssize_t count, int64_t gap_ns, bint spin=False):
    """Benchmarks, the floor of one-way latency: ``count`` times, store CLOCK_MONOTONIC ns (store-release)
    into the first 8 bytes of ``buf`` (a shared mapping), then wait ``gap_ns``; finally store 2**64-1 (done).
    A C loop, nogil; the reader is ``_latency_floor_recv``.  One cache line crosses cores per message."""
    cdef Py_buffer view
    cdef uint64_t* w
    cdef Py_ssize_t k
    cdef int64_t ts
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE | PyBUF_WRITABLE)
    try:
        w = _floor_word(&view)
        with nogil:
            for k in range(count):
                ts = _mono_ns()
                vg_store_release_u64(w, <uint64_t>ts)
                _pace_until(ts + gap_ns, spin)
            vg_store_release_u64(w, <uint64_t>0xFFFFFFFFFFFFFFFF)
    finally:
        PyBuffer_Release(&view)
    return count


def _latency_floor_recv(buf, Py_ssize_t count, timeout=10.0):
    """Benchmarks: spin (nogil) on the word ``_latency_floor_send`` stores; each new value v gives one
    sample, CLOCK_MONOTONIC now - v, read right after the load (a value overwritten before this reader saw
    it gives none).  Returns at the done marker (or at ``timeout`` seconds) the first ``count`` samples,
    int64 ns."""
    cdef Py_buffer view
    cdef uint64_t* w
    cdef uint64_t v, last
    cdef int64_t[::1] out
    cdef int64_t now, deadline
    cdef Py_ssize_t got = 0
    cdef uint64_t spins = 0
    res = np.zeros(max(count, 0), dtype=np.int64)
    out = res
    deadline = _mono_ns() + <int64_t>(float(timeout) * 1e9)
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE | PyBUF_WRITABLE)
    try:
        w = _floor_word(&view)
        with nogil:
            last = vg_load_acquire_u64(w)
            while True:
                v = vg_load_acquire_u64(w)
                if v != last:
                    now = _mono_ns()
                    if v == <uint64_t>0xFFFFFFFFFFFFFFFF:
                        break
                    if got < count:
                        out[got] = now - <int64_t>v
                        got += 1
                    last = v
                    continue
                vg_cpu_relax()
                spins += 1
                if (spins & 4095) == 0 and _mono_ns() >= deadline:
                    break
    finally:
        PyBuffer_Release(&view)
    return res[:got]


# ----------------------------------------------------------------------------------------------------------
# Ring
# ----------------------------------------------------------------------------------------------------------

cdef object _TOKEN = object()
_WRITABLE = weakref.WeakSet()             # this process's writable Rings (see _held_here)
_FORK_COPIES = weakref.WeakSet()          # a forked child's copies of its parent's writable Rings (no writers)

# Registration within one process: the bus lock is held by pid, so threads of one process also take this.
_bus_tlock = threading.Lock()


def _reset_bus_tlock():
    global _bus_tlock
    _bus_tlock = threading.Lock()      # a fork while another thread held it must not leave it held


def _drop_writer_locks():
    """In a forked child: let go of the parent's writable rings' lock descriptors.  A fork shares the locked
    open file, so a child that never writes (a multiprocessing worker) would otherwise keep the ring 'being
    written' after the parent closed it or died; the child's copies of those Rings are no writers of it.  They
    read only: the writer roles the parent held (its slot counters, copied at the fork) are not the child's,
    and an append of the child would write a second stream into the parent's slot at the parent's old tail,
    over records its readers take as valid."""
    cdef int f
    for r in list(_WRITABLE):
        (<Ring>r)._unlock()
        for f in range(RING_N_SLOTS):
            (<Ring>r)._held[f] = 0
        (<Ring>r)._writable = False
        _FORK_COPIES.add(r)
    _WRITABLE.clear()


_REGISTERED = weakref.WeakSet()           # this process's Readers that hold a bus line (see _unregister_copies)


def _unregister_copies():
    """In a forked child: its copies of the parent's registered Readers read on privately.  The bus line is the
    parent's (its pid, its saved position): a child's poll would move the position the parent saves, and so
    where ``start="resume"`` starts after a restart.  The copy keeps its position and counters, and is no
    longer registered; a poll another thread ran at the fork does not run in the child."""
    for r in list(_REGISTERED):
        (<Reader>r)._detach()
    _REGISTERED.clear()


os.register_at_fork(after_in_child=_reset_bus_tlock)
os.register_at_fork(after_in_child=_drop_writer_locks)
os.register_at_fork(after_in_child=_unregister_copies)


@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")
cdef class Ring:
    """A VEGA shared-memory ring file: three per-feed slots of change records and a client bus.

    Get one with :meth:`Ring.create` (the writer side) or :meth:`Ring.open` (readers; ``writable=True`` for
    a writer that attaches to an existing ring).  Closing is :meth:`close` or a ``with`` block.
    """

    def __cinit__(self):
        self._base = NULL
        self._bus = NULL
        self._base_len = 0
        self._two_maps = False
        self._writable = False
        self._bus_writable = False
        self.path = None
        self._file_id = None
        self._lock_fd = -1
        self._readers = weakref.WeakSet()
        for f in range(RING_N_SLOTS):
            self._held[f] = 0
            self._exports[f] = 0
            self._appending[f] = 0

    def __init__(self, token=None):
        if token is not _TOKEN:
            raise TypeError("use Ring.create(name) or Ring.open(name)")

    # -- opening ---------------------------------------------------------------------------------------

    @staticmethod
    def create(name, *, mode=0o600, replace=False, first_seq=None):
        """Create a new ring file and return it, writable.

        ``name`` is a plain name (``/dev/shm/<name>``) or an absolute path.  The file is created owner-only
        (``mode`` 0o600 unless given; applied exactly, not through the umask), fully initialised under a
        temporary name, then linked into place, so no reader ever sees a half-made ring.  An existing file
        is an error (``FileExistsError``, naming the path) unless ``replace=True``.  The file outlives
        ``close()`` and this process (readers can still drain it, a restarted writer reopens it);
        ``Ring.unlink(name)`` deletes it (not while another process has it open for writing).

        ``replace=True`` replaces only:

        * a VEGA ring: a regular file no larger than a ring in which a slot header or the bus header carries
          the ring's magic (``b"VEGARING"`` / ``b"VEGARBUS"``), so a damaged, truncated or stale ring is
          replaced; but not while another process has it open for writing (``RingBusyError``, the pid in its
          ``pid`` when known): a running writer would go on writing to a file no reader can open any more.
          Every writable Ring holds a shared ``flock`` on its file until closed (docs/FORMATS.md §4), so an
          idle writer counts too, and a writer that died (a crashed capture being restarted) does not,
          whatever pid its slots record.  A writer in this process is the caller's own business (then a live
          ``writer_pid`` of another process still refuses).
        * an empty (0-byte) file: it holds nothing (e.g. a placeholder made with ``mkstemp``; a crash while
          creating leaves no such file, since the ring is linked into place whole).

        Anything else at the path (a journal, a pcap, any file without the magic or too short to hold a ring
        header, a directory, a symbolic link, a FIFO, a file this process cannot read) is left as it is:
        ``RingError`` "exists and is not a VEGA ring ...; refusing to replace it".  The check is made
        before the new file is written and again right before it is renamed into place.

        ``first_seq``: the sequence number of each slot's first record (0 unless given: one int for every
        slot, or ``{feed: int}``).  A capture restarted during the day starts each slot at its journal's
        ``next_seq``, so ring positions stay the journal's sequence numbers and the handover (replay up to
        ``next_seq``, then read the ring from there) works across the restart.
        """
        path = ring_path(name)
        firsts = _first_seqs(first_seq)
        if mode & ~0o777:
            raise ValueError("mode must be permission bits (0o000..0o777)")
        if mode & 0o002:
            raise ValueError("a world-writable ring file would be refused by Ring.open; drop the o+w bit")
        if replace:
            _check_replace(path)                   # refused before anything is made
        d, base = os.path.split(path)
        tmp = os.path.join(d, f".{base}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        lock_fd = -1
        linked = False
        try:
            lock_fd = _lock_fd_for(fd, path)       # held from before the file has its name: never seen unlocked
            os.fchmod(fd, mode)
            os.ftruncate(fd, RING_FILE_SIZE)
            reserve(fd, RING_FILE_SIZE, path, "ring")       # no room: an error now, not SIGBUS when written
            created = _real_ns()
            for f in range(RING_N_SLOTS):
                os.pwrite(fd, _slot_header_bytes(f, created, firsts[f]), f * RING_SLOT_SIZE)
                os.pwrite(fd, _TRAILER.pack(firsts[f], firsts[f]), f * RING_SLOT_SIZE + RING_TRAILER_OFFSET)
            os.pwrite(fd, _BUS.pack(BUS_MAGIC, RING_BUS_VERSION, RING_BUS_LINE_SIZE, RING_BUS_LINES, created, 0),
                      RING_BUS_OFFSET)
            for _attempt in range(8):
                if replace:                        # checked again: it must be what is replaced
                    kind, _, st = _check_replace(path)
                    if kind != "absent":
                        if _same_file(path, st):
                            os.replace(tmp, path)
                            linked = True
                            break
                        continue                   # changed since it was checked: check it again
                try:
                    os.link(tmp, path)             # nothing there: never replaces what appears meanwhile
                except FileExistsError:
                    if replace:
                        continue
                    raise _exists_error(path) from None
                linked = True
                os.unlink(tmp)
                break
            else:
                raise RingError(f"{path}: kept changing while the new ring was being put in place; try again")
            ring = Ring(_TOKEN)
            ring._attach(fd, path, True, lock_fd)
            lock_fd = -1                           # the ring's now
            return ring
        finally:
            os.close(fd)
            if lock_fd >= 0:
                os.close(lock_fd)
            if not linked:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    @staticmethod
    def open(name, *, writable=False):
        """Open an existing ring after validating it (``RingFormatError`` if damaged).

        Readers (``writable=False``) map the slots read-only and only the client bus read-write.  If this
        process may only read the file (e.g. another user with read permission, or the file is on a
        read-only file system: EACCES, EPERM or EROFS), it is opened read-only:
        reading works as usual, but readers cannot register on the client bus, so a reader asked for with
        a name is made unregistered, with a RingUnregisteredWarning (``reader.registered`` is False), and
        ``reclaim()`` raises RingError.  ``writable=True`` maps everything read-write so this process can take a slot's
        writer role (e.g. a restarted feed handler that continues the sequence).
        """
        path = ring_path(name)
        flags = os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(path, flags | os.O_RDWR)
        except OSError as e:
            if e.errno == _errno.ELOOP:             # the name is a symlink
                raise RingError(f"{path}: refusing to follow a symbolic link") from None
            if e.errno == _errno.ENOENT:
                raise FileNotFoundError(_errno.ENOENT, f"no ring named {name!r}", path) from None
            if writable or e.errno not in (_errno.EACCES, _errno.EPERM, _errno.EROFS):
                raise
            fd = os.open(path, flags | os.O_RDONLY)     # no write access, or a read-only file system
        try:
            _validate(fd, path)
            ring = Ring(_TOKEN)
            ring._attach(fd, path, writable)
        finally:
            os.close(fd)
        if writable and ring.replaced:             # replaced between the open and the lock: not the ring named
            ring.close()
            raise RingError(f"{path}: was replaced while being opened for writing; open it again")
        return ring

    def _attach(self, int fd, str path, bint writable, int lock_fd=-1):
        cdef int acc = os.O_ACCMODE & fcntl.fcntl(fd, fcntl.F_GETFL)
        cdef bint rw = acc == os.O_RDWR
        self.path = path
        st = os.fstat(fd)
        self._file_id = (st.st_dev, st.st_ino)
        if writable:
            self._lock_fd = lock_fd if lock_fd >= 0 else _lock_fd_for(fd, path)    # Ring.create's, or one now
            try:
                self._base = _map(fd, RING_FILE_SIZE, 0, PROT_READ | PROT_WRITE)
            except BaseException:
                os.close(self._lock_fd)
                self._lock_fd = -1
                raise
            _WRITABLE.add(self)
            self._base_len = RING_FILE_SIZE
            self._bus = self._base + RING_BUS_OFFSET
            self._writable = True
            self._bus_writable = True
        else:
            self._base = _map(fd, RING_BUS_OFFSET, 0, PROT_READ)
            self._base_len = RING_BUS_OFFSET
            try:
                self._bus = _map(fd, RING_BUS_SIZE, RING_BUS_OFFSET, PROT_READ | (PROT_WRITE if rw else 0))
            except BaseException:
                munmap(self._base, self._base_len)
                self._base = NULL
                raise
            self._two_maps = True
            self._bus_writable = rw

    # -- closing ---------------------------------------------------------------------------------------

    def close(self):
        """Close every reader of this ring, give up held writer roles and unmap the file (idempotent).

        Raises ``BufferError`` while a C slot pointer taken with ``_slot_ptr`` is not released, and
        ``RuntimeError`` while one of its readers is being polled, or one of its slots appended to, by another
        thread.
        """
        if self._base == NULL:
            return
        for f in range(RING_N_SLOTS):
            if self._exports[f]:
                raise BufferError(f"ring slot {FEEDS[f]} is still written by a FeedHandler (or another C writer "
                                  f"holding _slot_ptr): close that first")
            if self._appending[f]:                 # the copy runs without the GIL: never unmap under it
                raise RuntimeError(f"ring slot {FEEDS[f]} is being appended to by another thread: close the "
                                   "ring after the append returns")
        readers = list(self._readers)
        for r in readers:                          # a poll reads the mapping without the GIL: never unmap under it
            if (<Reader>r)._busy:
                raise RuntimeError("a Reader of this ring is being polled by another thread: close the ring "
                                   "after the poll returns")
        for r in readers:
            r.close()
        self._release_all()
        munmap(self._base, self._base_len)
        if self._two_maps:
            munmap(self._bus, RING_BUS_SIZE)
        self._base = NULL
        self._bus = NULL
        self._unlock()

    cdef void _unlock(self) noexcept:
        """Give up the writer's flock (after the writer roles and the mapping)."""
        if self._lock_fd >= 0:
            close(self._lock_fd)
            self._lock_fd = -1

    cdef void _release_all_c(self) noexcept:
        cdef uint32_t me = <uint32_t>getpid()
        for f in range(RING_N_SLOTS):
            if self._held[f]:
                vg_cas_u32(&self._header(f).writer_pid, me, 0)
                self._held[f] = 0

    def _release_all(self):
        self._release_all_c()

    def __dealloc__(self):
        if self._base != NULL:
            self._release_all_c()
            munmap(self._base, self._base_len)
            if self._two_maps:
                munmap(self._bus, RING_BUS_SIZE)
            self._base = NULL
        self._unlock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def unlink(name):
        """Remove the ring file (mappings that are open stay valid until closed).

        Removes what ``Ring.create(name, replace=True)`` would replace, and refuses what it refuses
        (docs/FORMATS.md §4), so a running writer never goes on writing to a file no reader can open:

        * a VEGA ring (also a damaged, truncated or stale one) or an empty file is removed, unless another
          process has it open for writing (its writer lock is held): then ``RingBusyError`` "PATH: is being
          written by pid N; refusing to remove it" (``e.pid`` is N when known, else None).  A ring this process
          itself has open for writing is removed (the caller's own business, as for ``replace=True``; a live
          ``writer_pid`` of another process still refuses), and so is a ring whose writer died, whatever pid
          its slots record;
        * anything else (a journal, a pcap, any file without the ring's magic, a directory, a symbolic link,
          a FIFO) is left as it is: ``RingError`` "exists and is not a VEGA ring ...; refusing to remove it".
          A file this process cannot read is removed only when it has a ring's exact size and
          ``/proc/locks`` shows no other process locking it (e.g. a ring made with ``mode=0o000``), else
          refused the same way.

        A missing file is ``FileNotFoundError`` ("no ring named ..."), as for ``Ring.open``.  The file is
        removed while this call holds an exclusive lock on it, so a writer opening it meanwhile
        (``Ring.open(name, writable=True)``) waits, then finds it replaced and says so.
        """
        path = ring_path(name)
        for _attempt in range(8):
            kind, _, st = _check_unlink(path)
            if kind == "absent":
                raise FileNotFoundError(_errno.ENOENT, f"no ring named {name!r}", path)
            if kind == "unreadable":               # ring-sized, nobody locks it: it cannot be opened to lock
                if _same_file(path, st):
                    os.unlink(path)
                    return
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:
                continue                           # gone or changed since it was checked: check it again
            try:
                fst = os.fstat(fd)
                if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                    continue
                if not _held_here(st):             # (a writer in this process holds LOCK_SH: it would fail)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue                   # a writer opened it since the check: the check names it
                if not _same_file(path, st):
                    continue
                os.unlink(path)
                return
            finally:
                os.close(fd)
        raise RingError(f"{path}: kept changing while it was being removed; try again")

    # -- internals -------------------------------------------------------------------------------------

    cdef ring_header_t* _header(self, int feed) noexcept:
        return <ring_header_t*>(self._base + <size_t>feed * RING_SLOT_SIZE)

    cdef ring_cursor_t* _line(self, int i) noexcept:
        return <ring_cursor_t*>(self._bus + RING_BUS_LINE_SIZE * (1 + i))

    cdef _check_open(self):
        if self._base == NULL:
            raise ValueError("ring is closed")

    cdef int _bus_lock(self) except -1:
        """Take the bus registration lock (CAS reg_pid 0 -> pid; a dead holder's lock is taken over).

        Serialises registrations and reclaims across processes, so that checking a name and claiming a
        line is one step.  Waits (GIL released) up to 5 s for a live holder, then RingBusyError.
        """
        cdef ring_bus_header_t* bh = <ring_bus_header_t*>self._bus
        cdef uint32_t me = <uint32_t>getpid()
        cdef uint32_t cur
        cdef int64_t deadline = _mono_ns() + _BUS_LOCK_TIMEOUT_NS
        cdef int64_t nap = 20000
        cdef timespec req
        if not _bus_tlock.acquire(timeout=_BUS_LOCK_TIMEOUT_NS / 1e9):
            raise RingBusyError(f"{self.path}: another thread of this process is registering a reader")
        try:
            while True:
                cur = vg_load_acquire_u32(&bh.reg_pid)
                if cur == 0:
                    if vg_cas_u32(&bh.reg_pid, 0, me):
                        return 0
                    continue
                if cur == me:          # left by this process (interrupted); we hold the thread lock
                    return 0
                if not _pid_alive(cur):
                    if vg_cas_u32(&bh.reg_pid, cur, me):
                        return 0       # the holder died while registering
                    continue
                if _mono_ns() >= deadline:
                    raise RingBusyError(f"{self.path}: client bus registration lock held by live pid {cur}",
                                        pid=cur)
                req.tv_sec = 0
                req.tv_nsec = nap
                with nogil:
                    nanosleep(&req, NULL)
                if nap < 1000000:
                    nap *= 2
        except BaseException:
            _bus_tlock.release()
            raise

    cdef void _bus_unlock(self) noexcept:
        cdef ring_bus_header_t* bh = <ring_bus_header_t*>self._bus
        vg_cas_u32(&bh.reg_pid, <uint32_t>getpid(), 0)
        _bus_tlock.release()

    cdef int _claim(self, int feed) except -1:
        """Take the writer role of a slot (CAS on writer_pid) and set up its writer view."""
        cdef ring_header_t* h
        cdef ring_slot_t* s
        cdef uint32_t me, cur
        cdef uint64_t tail, intent
        self._check_open()
        if self._held[feed]:
            return 0
        if not self._writable:
            if self in _FORK_COPIES:
                raise RingError(f"{self.path}: this Ring was opened for writing by the process this one was forked "
                                f"from and is no writer here; use Ring.open(name, writable=True) to write")
            raise RingError(f"{self.path}: opened for reading; use Ring.open(name, writable=True) to write")
        h = self._header(feed)
        me = <uint32_t>getpid()
        while True:
            cur = vg_load_acquire_u32(&h.writer_pid)
            if cur == 0:
                if vg_cas_u32(&h.writer_pid, 0, me):
                    break
            elif cur == me or _pid_alive(cur):
                who = "another Ring object of this process" if cur == me else f"live pid {cur}"
                raise RingBusyError(f"{self.path}: slot {FEEDS[feed]} is written by {who}", pid=cur)
            elif vg_cas_u32(&h.writer_pid, cur, me):
                break
        s = &self._slots[feed]
        s.records = self._base + <size_t>feed * RING_SLOT_SIZE + RING_RECORDS_OFFSET
        s.tail_intent = <uint64_t*>(self._base + <size_t>feed * RING_SLOT_SIZE + RING_TRAILER_OFFSET)
        s.tail = s.tail_intent + 1
        s.record_count = &h.record_count
        s.capacity = RING_CAPACITY
        s.mask = RING_MASK
        tail = vg_load_acquire_u64(s.tail)
        intent = vg_load_acquire_u64(s.tail_intent)
        if intent < tail or intent >= (<uint64_t>1 << 62):
            vg_cas_u32(&h.writer_pid, me, 0)
            raise RingFormatError(f"{self.path}: slot {FEEDS[feed]}: impossible counters "
                                  f"tail={tail} tail_intent={intent}")
        s.next = tail                  # a writer that died mid-batch left intent > tail: keep the intent
        s.intent = intent
        s.feed = feed
        self._held[feed] = 1
        return 0

    def _claim_for_python(self, int f):
        self._claim(f)
        if self._exports[f]:
            raise RingBusyError(f"slot {FEEDS[f]} is written by a FeedHandler (or another C writer holding "
                                f"_slot_ptr): it is the only writer")

    cdef ring_slot_t* _slot_ptr(self, int feed) except NULL:
        """C writers: claim the slot's writer role and return its view (see the contract in _ring.pxd)."""
        if feed < 0 or feed >= RING_N_SLOTS:
            raise ValueError(f"feed index {feed} out of range")
        self._claim(feed)
        if self._appending[feed]:      # an append runs in another thread (Ring.append, a FeedHandler's call)
            raise RuntimeError(f"ring slot {FEEDS[feed]} is being appended to by another thread: a slot takes "
                               f"one writer at a time")
        self._exports[feed] += 1
        return &self._slots[feed]

    cdef void _slot_release(self, int feed) noexcept:
        if 0 <= feed < RING_N_SLOTS and self._exports[feed] > 0:
            self._exports[feed] -= 1

    # -- Python API: writer ----------------------------------------------------------------------------

    cdef int _begin_append(self, int feed) except -1:
        """With the GIL, before an append from Python (which may copy without the GIL): one at a time per
        slot, and close() refuses while one runs (it would unmap the slot under the copy).  The ring is checked
        open here, after the caller's buffer request (which may run other code), not only before it."""
        if self._base == NULL:
            raise ValueError("ring is closed")
        if self._appending[feed]:
            raise RuntimeError("concurrent append to the same slot from two threads")
        self._appending[feed] = 1
        return 0

    def append(self, feed, records):
        """Append records: a C-contiguous CHANGE_RECORD_DTYPE array, or the raw bytes of whole 32-byte records
        (a uint8 or plain void numpy array, bytes, a bytearray, a memoryview), taken as they are.  A numpy
        array of another dtype is a TypeError (a float64 array would otherwise go out as "records" no reader
        can apply), as for ``JournalWriter.append``.

        Claims the slot's writer role on first use.  Returns the new tail (sequence number after the batch).
        """
        cdef int f = _feed_index(feed)
        cdef Py_buffer view
        cdef Py_ssize_t n
        cdef uint64_t end
        if isinstance(records, np.ndarray) and not _records_dtype_ok(records.dtype):
            raise TypeError(f"records must have CHANGE_RECORD_DTYPE, not {records.dtype} (raw record bytes: "
                            f"a uint8 array, bytes, a bytearray or a memoryview)")
        self._claim_for_python(f)
        PyObject_GetBuffer(records, &view, PyBUF_SIMPLE)
        try:
            if view.len % RING_REC_SIZE:
                raise ValueError(f"records buffer is {view.len} bytes, not a multiple of {RING_REC_SIZE}")
            n = view.len // RING_REC_SIZE
            self._begin_append(f)
            try:
                if n >= 4096:
                    with nogil:
                        end = ring_append(&self._slots[f], view.buf, n)
                else:
                    end = ring_append(&self._slots[f], view.buf, n)
            finally:
                self._appending[f] = 0
            return end
        finally:
            PyBuffer_Release(&view)

    def _write_test_records(self, feed, Py_ssize_t n, Py_ssize_t batch=1, bint stamp=False,
                            uint32_t tag=0):
        """Tests/benchmarks: append n sequence-numbered, checksummed records in batches, nogil.

        Record k of the slot has token = k, slots[0:2] = k (64-bit), slots[2] = tag, slots[3] = checksum;
        ts48 = k, or CLOCK_MONOTONIC ns (mod 2**48) taken just before each batch when ``stamp``.
        """
        cdef int f = _feed_index(feed)
        cdef ring_slot_t* s
        cdef uint32_t* buf
        cdef Py_ssize_t done = 0, m, k
        cdef uint64_t ts
        if n < 0 or batch < 1 or batch > RING_CAPACITY:
            raise ValueError("need n >= 0 and 1 <= batch <= capacity")
        self._claim_for_python(f)
        s = &self._slots[f]
        buf = <uint32_t*>malloc(batch * RING_REC_SIZE)
        if buf == NULL:
            raise MemoryError()
        self._begin_append(f)
        try:
            with nogil:
                while done < n:
                    m = batch if n - done > batch else n - done
                    ts = <uint64_t>_mono_ns() if stamp else 0
                    for k in range(m):
                        _make_test_record(buf + 8 * k, s.next + <uint64_t>k,
                                          ts if stamp else s.next + <uint64_t>k, tag)
                    ring_append(s, buf, m)
                    done += m
        finally:
            self._appending[f] = 0
            free(buf)
        return s.next

    def _bench_append(self, feed, records, Py_ssize_t repeat):
        """Benchmarks: append the same batch ``repeat`` times in one nogil C loop; returns the new tail."""
        cdef int f = _feed_index(feed)
        cdef Py_buffer view
        cdef Py_ssize_t n, i
        cdef ring_slot_t* s
        self._claim_for_python(f)
        s = &self._slots[f]
        PyObject_GetBuffer(records, &view, PyBUF_SIMPLE)
        try:
            if view.len % RING_REC_SIZE:
                raise ValueError("records buffer is not a multiple of 32 bytes")
            n = view.len // RING_REC_SIZE
            self._begin_append(f)
            try:
                with nogil:
                    for i in range(repeat):
                        ring_append(s, view.buf, n)
            finally:
                self._appending[f] = 0
            return s.next
        finally:
            PyBuffer_Release(&view)

    def _latency_send(self, feed, Py_ssize_t count, int64_t gap_ns, bint spin=False):
        """Benchmarks: publish ``count`` records one at a time from a nogil C loop, each stamped with
        CLOCK_MONOTONIC ns (mod 2**48, in ts48) immediately before its ``ring_append``, then wait ``gap_ns``
        (nanosleep, or busy when ``spin``) so that latency is not queueing.  The record is built before
        the stamp (token and slots[0:2] = its sequence; no checksum).  Returns the new tail."""
        cdef int f = _feed_index(feed)
        cdef ring_slot_t* s
        cdef uint32_t w[8]
        cdef Py_ssize_t k
        cdef uint64_t ts
        if count < 0 or gap_ns < 0:
            raise ValueError("need count >= 0 and gap_ns >= 0")
        self._claim_for_python(f)
        s = &self._slots[f]
        self._begin_append(f)
        try:
            with nogil:
                for k in range(count):
                    _make_test_record(w, s.next, 0, 0)
                    ts = <uint64_t>_mono_ns()
                    w[1] = <uint32_t>ts                                   # ts48, low 32 bits
                    w[2] = (w[2] & 0xFFFF0000u) | <uint32_t>((ts >> 32) & 0xFFFFu)
                    ring_append(s, w, 1)
                    _pace_until(<int64_t>ts + gap_ns, spin)
        finally:
            self._appending[f] = 0
        return s.next

    # -- Python API: state -----------------------------------------------------------------------------

    @property
    def closed(self):
        """True after close()."""
        return self._base == NULL

    @property
    def writable(self):
        """True when this process may take slots' writer roles (Ring.create / Ring.open(writable=True))."""
        return bool(self._writable)

    @property
    def capacity(self):
        """Records per slot (32768)."""
        return RING_CAPACITY

    def tail(self, feed):
        """Records ever published to the feed's slot (the sequence number of the next record)."""
        cdef int f = _feed_index(feed)
        self._check_open()
        return vg_load_acquire_u64(<uint64_t*>(self._base + <size_t>f * RING_SLOT_SIZE
                                               + RING_TRAILER_OFFSET + 8))

    def info(self, feed):
        """The slot header and counters of a feed as a dict (for tools and tests)."""
        cdef int f = _feed_index(feed)
        cdef ring_header_t* h
        cdef uint64_t* tr
        self._check_open()
        h = self._header(f)
        tr = <uint64_t*>(self._base + <size_t>f * RING_SLOT_SIZE + RING_TRAILER_OFFSET)
        return {
            "feed": FEEDS[f], "version": h.version, "feed_type": h.feed_type, "symbol_id": h.symbol_id,
            "record_size": h.record_size, "capacity": h.capacity,
            "record_count": vg_load_relaxed_u64(&h.record_count), "created_ns": h.created_ns,
            "writer_pid": vg_load_acquire_u32(&h.writer_pid), "first_seq": _slot_first(h),
            "tail_intent": vg_load_acquire_u64(&tr[0]), "tail": vg_load_acquire_u64(&tr[1]),
        }

    # -- Python API: readers and the client bus --------------------------------------------------------

    def reader(self, feed, name=None, *, start="newest", on_lap="oldest"):
        """A new reader of ``feed`` (a name from FEEDS or an index).

        ``name``: register on the client bus under this name (UTF-8, at most 24 bytes; unique per feed among
        live readers; e.g. "terminal-1", "terminal-2", "analytics-replay", "charting").  A line left by a
        dead process with the same name and feed is reclaimed; otherwise a free line, else any dead
        reader's line.  A name held by a live reader raises RingBusyError, also when several processes
        register it at the same moment (exactly one of them gets it).  On a ring opened read-only the
        reader is made unregistered with a RingUnregisteredWarning.  ``None``: an unregistered reader (not
        on the bus, no limit on their number).

        ``start``: "newest" (only records published from now on), "oldest" (the oldest record still in
        the ring), "resume" (the position saved in a reclaimed dead cursor of the same name, else newest;
        ValueError without a name),
        or an int sequence number, at most the slot's tail (ValueError past it: the records between would
        be skipped without being counted as lost).

        ``on_lap``: "oldest" (resume at the oldest valid record and return it), "newest" (skip to the tail),
        or "raise" (like "oldest", but poll raises RingLapped first).  In every case ``reader.lost``,
        ``reader.laps`` and ``reader.last_lost`` say exactly what was lost.
        """
        cdef int f = _feed_index(feed)
        self._check_open()
        given_start, given_on_lap = start, on_lap         # as given, for the errors
        start, on_lap = _word(start), _word(on_lap)
        if on_lap not in _ON_LAP:
            raise ValueError(f"on_lap must be one of {tuple(_ON_LAP)} (in any case), not {given_on_lap!r}")
        if not (isinstance(start, str) and start in ("newest", "oldest", "resume")):
            start = _int_or_none(start)
            if start is None:
                raise ValueError(f"start must be 'newest', 'oldest', 'resume' (in any case) or a sequence number, "
                                 f"not {given_start!r}")
        elif start == "resume" and name is None:     # would start at the newest record on every restart
            raise ValueError("start='resume' resumes the position a named reader saved: give its name= "
                             "(an unnamed reader saves none)")
        r = Reader.__new__(Reader)
        (<Reader>r)._setup(self, f, name, start, _ON_LAP[on_lap])
        self._readers.add(r)
        return r

    def _register(self, int feed, bytes name_b):
        """Claim a bus line for (feed, name); returns (line index, saved position or None).

        Under the bus registration lock, so that two processes registering the same name at the same
        moment cannot both miss each other: exactly one gets the line, the other RingBusyError.
        """
        self._bus_lock()
        try:
            return self._register_locked(feed, name_b)
        finally:
            self._bus_unlock()

    def _register_locked(self, int feed, bytes name_b):
        cdef ring_cursor_t* c
        cdef uint32_t me = <uint32_t>getpid()
        cdef uint32_t pid
        cdef int i, got = -1
        saved = None
        padded = name_b.ljust(RING_NAME_LEN, b"\0")
        for i in range(RING_BUS_LINES):          # 1. the same name on the same feed
            c = self._line(i)
            if vg_load_acquire_u8(&c.state) == RING_CUR_FREE or c.feed != feed:
                continue
            if (<char*>c.name)[:RING_NAME_LEN] != padded:
                continue
            pid = vg_load_acquire_u32(&c.pid)
            if pid == 0:
                continue
            if pid == me or _pid_alive(pid):
                raise RingBusyError(f"reader name {name_b.decode(errors='replace')!r} on "
                                    f"{FEEDS[feed]} is in use by pid {pid}", pid=pid)
            if vg_cas_u32(&c.pid, pid, me):
                got = i
                saved = vg_load_relaxed_u64(&c.position)
                break
        if got < 0:                               # 2. a free line
            for i in range(RING_BUS_LINES):
                c = self._line(i)
                if vg_load_acquire_u32(&c.pid) == 0 and vg_cas_u32(&c.pid, 0, me):
                    got = i
                    break
        if got < 0:                               # 3. the line of any dead reader
            for i in range(RING_BUS_LINES):
                c = self._line(i)
                pid = vg_load_acquire_u32(&c.pid)
                if pid != me and not _pid_alive(pid) and vg_cas_u32(&c.pid, pid, me):
                    got = i
                    break
        if got < 0:
            raise RingBusyError(f"{self.path}: client bus full ({RING_BUS_LINES} live registered readers)")
        c = self._line(got)
        vg_store_release_u8(&c.state, RING_CUR_CLAIMING)
        c.feed = <uint8_t>feed
        c.reserved = 0
        memset(c.name, 0, RING_NAME_LEN)
        memcpy(c.name, <char*>name_b, len(name_b))
        vg_store_relaxed_u64(&c.laps, 0)
        vg_store_relaxed_u64(&c.lost, 0)
        vg_store_relaxed_u64(&c.heartbeat_ns, <uint64_t>_real_ns())
        return got, saved

    def readers(self):
        """Every registered reader on the client bus, as a list of ReaderInfo (dead ones have alive=False)."""
        cdef ring_cursor_t* c
        cdef int i
        cdef uint64_t pos
        self._check_open()
        out = []
        tails = [self.tail(f) for f in range(RING_N_SLOTS)]
        for i in range(RING_BUS_LINES):
            c = self._line(i)
            if vg_load_acquire_u8(&c.state) != RING_CUR_ACTIVE:
                continue
            pid = vg_load_acquire_u32(&c.pid)
            feed = c.feed
            name = (<char*>c.name)[:RING_NAME_LEN].rstrip(b"\0").decode("utf-8", errors="replace")
            pos = vg_load_relaxed_u64(&c.position)
            if feed < RING_N_SLOTS:
                lag = tails[feed] - pos if tails[feed] > pos else 0
                feed_name = FEEDS[feed]
            else:
                lag = 0
                feed_name = f"?{feed}"
            out.append(ReaderInfo(i, name, pid, feed_name, pos, lag, vg_load_relaxed_u64(&c.laps),
                                  vg_load_relaxed_u64(&c.lost), vg_load_relaxed_u64(&c.heartbeat_ns),
                                  _pid_alive(pid)))
        return out

    def reclaim(self):
        """Free the bus lines of dead readers (their names become unknown); returns how many were freed.

        Takes the bus registration lock, so a concurrent registration of a dead reader's name either takes
        that line over first (and it is not counted here) or finds it free; it never sees it half-freed.
        """
        cdef ring_cursor_t* c
        cdef int i, n = 0
        cdef uint32_t pid
        cdef uint32_t me = <uint32_t>getpid()
        self._check_open()
        if not self._bus_writable:
            raise RingError(f"{self.path}: opened read-only, cannot write the client bus")
        self._bus_lock()
        try:
            for i in range(RING_BUS_LINES):
                c = self._line(i)
                pid = vg_load_acquire_u32(&c.pid)
                if pid != 0 and pid != me and not _pid_alive(pid) and vg_cas_u32(&c.pid, pid, me):
                    vg_store_release_u8(&c.state, RING_CUR_FREE)
                    memset(c.name, 0, RING_NAME_LEN)
                    vg_store_release_u32(&c.pid, 0)
                    n += 1
        finally:
            self._bus_unlock()
        return n

    @property
    def replaced(self):
        """True when ``path`` no longer names the file this object maps: the capture restarted with a new
        ring (``Ring.create(..., replace=True)``) or the file was removed.  Nothing is published here any more:
        open the name again.  One ``stat`` call."""
        if self._file_id is None:
            return False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (st.st_dev, st.st_ino) != self._file_id

    def __reduce__(self):
        raise TypeError("cannot pickle a vega.Ring (a mapping of this process): pass its name and call "
                        "vega.Ring.open(name) in the other process")

    def __repr__(self):
        state = "closed" if self._base == NULL else ("writable" if self._writable else "read-only")
        return f"<vega.Ring {self.path!r} {state}>"


# ----------------------------------------------------------------------------------------------------------
# Reader
# ----------------------------------------------------------------------------------------------------------

@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")
cdef class Reader:
    """One reader of one feed's slot, at its own position.  Get one with ``Ring.reader(feed, name=...)``."""

    def __init__(self):
        raise TypeError("use Ring.reader(feed, name=...)")

    def _setup(self, Ring ring, int feed, name, start, int mode):
        cdef uint8_t* slot = ring._base + <size_t>feed * RING_SLOT_SIZE
        cdef uint64_t t
        self._ring = ring
        self.feed_index = feed
        self._mode = mode
        self._line_no = -1
        self._cursor = &self._private
        memset(&self._private, 0, sizeof(ring_cursor_t))
        memset(&self._r, 0, sizeof(ring_reader_t))
        self._r.records = slot + RING_RECORDS_OFFSET
        self._r.tail_intent = <const uint64_t*>(slot + RING_TRAILER_OFFSET)
        self._r.tail = self._r.tail_intent + 1
        self._r.capacity = RING_CAPACITY
        self._r.mask = RING_MASK
        self._r.first = _slot_first(<const ring_header_t*>slot)
        self._r.on_lap = RING_LAP_NEWEST if mode == 1 else RING_LAP_OLDEST
        if isinstance(start, int):                       # refused before a bus line is taken
            _seq_at_most_tail(start, feed, self._r.tail, "start")
        saved = None
        if name is not None:
            if not isinstance(name, str):
                raise TypeError("reader name must be a str or None")
            name_b = name.encode("utf-8")
            if not name_b or len(name_b) > RING_NAME_LEN or b"\0" in name_b:
                raise ValueError(f"reader name must be 1..{RING_NAME_LEN} UTF-8 bytes without NUL")
            if ring._bus_writable:
                self._line_no, saved = ring._register(feed, name_b)
                self._cursor = ring._line(self._line_no)
                _REGISTERED.add(self)
            else:
                # no write access to the file: read anyway, unregistered, and say so (stacklevel 1 is the
                # caller's line: compiled functions have no Python frames)
                warnings.warn(RingUnregisteredWarning(
                    f"{ring.path}: the ring is read-only for this process; reader {name!r} of "
                    f"{FEEDS[feed]} reads unregistered (not registered on the client bus: not listed by "
                    f"Ring.readers(), position not saved)"))
        self.name = name
        t = vg_load_acquire_u64(self._r.tail)
        if start == "resume" and saved is not None and saved <= t:
            self._r.pos = saved
        elif start == "oldest":
            self._r.pos = _oldest(&self._r)
        elif isinstance(start, int):
            self._r.pos = <uint64_t>start
        else:
            self._r.pos = t
        self._publish()
        if self._line_no >= 0:
            vg_store_release_u8(&self._cursor.state, RING_CUR_ACTIVE)

    cdef void _detach(self) noexcept:
        """Go on unregistered from where the bus line stands (a forked child's copy: _unregister_copies)."""
        if self._line_no >= 0:
            memcpy(&self._private, self._cursor, sizeof(ring_cursor_t))
            self._cursor = &self._private
            self._line_no = -1
        self._busy = False

    cdef void _publish(self) noexcept:
        vg_store_relaxed_u64(&self._cursor.position, self._r.pos)
        vg_store_relaxed_u64(&self._cursor.laps, self._r.laps)
        vg_store_relaxed_u64(&self._cursor.lost, self._r.lost)

    cdef _begin(self):
        if self._ring is None:
            raise ValueError("reader is closed")
        if self._ring._base == NULL:
            raise ValueError("ring is closed")
        if self._busy:
            raise RuntimeError("this Reader is being polled by another thread")
        self._busy = True
        self._r.call_lost = 0
        vg_store_relaxed_u64(&self._cursor.heartbeat_ns, <uint64_t>_real_ns())

    cdef int _end(self, Py_ssize_t n) except -1:
        """After a read of n records: bookkeeping, bus update, and the "raise" lap policy."""
        self._last_lost = self._r.call_lost
        if self._r.call_lost and self._mode == 2:
            self._r.pos -= <uint64_t>n          # keep the valid records for the next poll
            self._publish()
            raise RingLapped(self._r.call_lost, FEEDS[self.feed_index])
        self._publish()
        return 0

    cdef int _wait(self, int how, int64_t deadline, uint64_t want=1) except -1:
        """Wait (GIL released, in slices) until ``want`` records are available (or the tail moved behind the
        reader: a rewind) or the deadline: 1 when they are, 0 at the deadline, 2 when the ring was replaced or
        removed (then fewer than ``want`` are left to read: maybe none).

        A slice lasts up to _SLICE_NS; after each one that ends without records (its end, or the deadline),
        the GIL is taken to check for signals and, at most once per _SLICE_NS for this reader (across polls,
        so a loop of short polls checks too), whether the ring file was replaced (``Ring.replaced``, one
        stat).  Only there: the spinning loop itself makes no system call."""
        cdef int64_t now, until
        cdef uint64_t spins
        cdef int64_t nap
        cdef timespec req
        cdef uint64_t t
        cdef bint ready = False
        if want > self._r.capacity:
            want = self._r.capacity
        while True:
            if ring_available(&self._r) >= want:
                return 1
            if self._gone:                      # known replaced: nothing will come
                return 2
            now = _mono_ns()
            if now >= deadline:
                return 0
            until = deadline if deadline - now < _SLICE_NS else now + _SLICE_NS
            with nogil:
                spins = 0
                nap = 1000
                while True:
                    t = vg_load_acquire_u64(self._r.tail)
                    if t != self._r.pos and (t < self._r.pos or t - self._r.pos >= want):
                        ready = True
                        break
                    if how == RING_WAIT_SPIN:
                        vg_cpu_relax()
                        spins += 1
                        if (spins & 255) == 0 and _mono_ns() >= until:
                            break
                    elif how == RING_WAIT_YIELD:
                        sched_yield()
                        if _mono_ns() >= until:
                            break
                    else:
                        now = _mono_ns()
                        if now >= until:
                            break
                        if nap > until - now:
                            nap = until - now
                        req.tv_sec = 0
                        req.tv_nsec = nap
                        nanosleep(&req, NULL)
                        nap = nap * 2 if nap < 500000 else 1000000
            if ready:
                return 1
            PyErr_CheckSignals()
            self._check_gone()                  # the loop's next turn returns what is left, then 2

    cdef bint _check_gone(self) except -1:
        """Is the ring known to be replaced or removed?  Looks (``Ring.replaced``, one stat) at most once per
        _SLICE_NS for this reader, across polls; once it was, for good.  Never for a reader of a writable Ring:
        this process may publish to the mapping whatever its path names (the capture's private ring is
        unlinked as soon as it is made)."""
        cdef int64_t now
        if not self._gone and not self._ring._writable:
            now = _coarse_ns()
            if now >= self._gone_check_ns:
                self._gone_check_ns = now + _SLICE_NS
                try:
                    self._gone = self._ring.replaced
                except OSError:                 # the path cannot be looked at (EACCES ...): wait on, as before
                    pass
        return self._gone

    cdef bint _wait_more(self, int how, int64_t deadline) except -1:
        """A poll that found nothing to read: wait until ``deadline`` (none for a poll of timeout 0); True when
        records came, False at the deadline (the call is ended: ``_end``); RingReplaced (the call ended too)
        when the ring was replaced or removed and nothing is left to read."""
        cdef int got
        if deadline == 0:                       # no wait; records may have come since the caller looked
            got = 0 if not self._check_gone() else (1 if ring_available(&self._r) > 0 else 2)
        else:
            got = self._wait(how, deadline)
        if got == 1:
            return True
        self._end(0)
        if got == 2:
            raise RingReplaced(self._ring.path, FEEDS[self.feed_index], self._r.pos)
        return False

    cdef int _wait_batch(self, int how, int64_t deadline, Py_ssize_t min_records) except -1:
        """``min_records`` > 1 and a poll that may wait: wait until that many are available, the deadline, or
        a replaced ring; the poll's loop then reads what there is (or waits on, for one, to the deadline)."""
        if min_records > 1 and deadline != 0 and ring_available(&self._r) < <uint64_t>min_records:
            self._wait(how, deadline, <uint64_t>min_records)
        return 0

    cdef bint _give_up(self, int retries, int64_t deadline) except -1:
        """After a lap that left nothing valid: stop retrying? (8 tries without a timeout, else the deadline)"""
        if (retries & 63) == 0:
            PyErr_CheckSignals()
        if deadline == 0:
            return retries >= 8
        return _mono_ns() >= deadline

    cdef int64_t _deadline(self, timeout) except? -1:
        if timeout is None:
            return INT64_MAX
        if type(timeout) is not float and type(timeout) is not int and (   # the ABC check costs ~0.3 us
                isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)):
            raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
        t = float(timeout)
        if t != t or t < 0:
            raise ValueError("timeout must be None or >= 0 seconds")
        if t == 0:
            return 0
        if t > 1e9:
            return INT64_MAX
        return _mono_ns() + <int64_t>(t * 1e9)

    def poll(self, max_records=4096, timeout=0.0, str wait="spin", min_records=1):
        """Return the next records (up to ``max_records``) as a CHANGE_RECORD_DTYPE array, possibly empty.

        A poll does not end inside a store update (records up to one without CONTINUED, docs/FORMATS.md
        §3.4): when ``max_records`` cuts the batch after a record with CONTINUED, it returns only up to the
        last record without CONTINUED and leaves the rest for the next poll, so a mirror applying each poll
        (``store.apply_records(reader.poll(n))``) never shows half an update.  Two cases return a batch
        that ends inside an update anyway, as it is: an update longer than ``max_records`` (the batch holds
        no update boundary: its next part comes with the next poll), and a batch that reaches the tail
        after a writer published part of an update by itself (VEGA's FeedHandler publishes whole updates;
        ``Ring.append`` publishes whatever it is given).  A reader that was lapped (``on_lap``) may also
        start inside an update.

        ``timeout``: 0 (default) returns at once; a number (int or float, ``math.inf`` = None) waits up to
        that many seconds for at least one record; None waits until there is one; anything else is a
        TypeError.  ``wait`` says how (in any case: "Sleep" is "sleep"), always with the GIL released:
        "spin" busy-polls the tail with a CPU pause hint (lowest latency, one core at 100%), "yield" calls
        sched_yield() between checks, "sleep" sleeps between checks starting at 1 us and doubling to 1 ms.
        A waiting poll wakes every 50 ms to check for signals (KeyboardInterrupt works), and at most every
        50 ms (one ``stat``; never in the spinning loop) whether the ring was replaced or removed
        (``Ring.replaced``: a restarted capture made a new ring with ``Ring.create(name, replace=True)``).
        If it was, nothing will be published here again: once every record published before is read, a
        waiting poll raises RingReplaced (with ``position``) instead of waiting forever; open the name
        again and make a new reader.  A poll with ``timeout=0`` that finds nothing checks too, at most every
        50 ms for this reader (one read of the coarse monotonic clock per empty poll), and raises alike.

        ``min_records`` (default 1) batches a waiting poll: it waits until that many records are available,
        or the timeout passes, and then returns what there is (at least one record, unless none came). A
        reader that sleeps between records (``wait="sleep"``) wakes once per batch instead of once per
        record, for a latency of at most ``timeout``. With ``timeout=None`` it waits for ``min_records``
        however long that takes. It has no effect on a poll with ``timeout=0``; it must lie between 1 and
        ``max_records``. A batch may still hold fewer when ``max_records`` cuts it inside an update (above),
        and a replaced ring's last records are returned as they are.  ``max_records`` and ``min_records`` are
        ints or numpy integers; a bool (True is no count of 1), a float or a str is a TypeError.

        If the writer lapped this reader, ``last_lost`` says how many records were lost in this call
        (``lost``/``laps`` accumulate); see ``on_lap`` in Ring.reader.
        """
        cdef int how
        cdef int64_t deadline
        cdef uint64_t avail
        cdef Py_ssize_t k, m, n = 0
        cdef uint8_t* dst
        cdef int retries = 0
        cdef Py_ssize_t max_n = _count_arg(max_records, "max_records")
        cdef Py_ssize_t min_n = _count_arg(min_records, "min_records")
        if max_n < 1:
            raise ValueError("max_records must be >= 1")
        if not 1 <= min_n <= max_n:
            raise ValueError(f"min_records must lie between 1 and max_records ({max_n}), not {min_n}")
        how = _wait_kind(wait)
        deadline = self._deadline(timeout)
        self._begin()
        try:
            self._wait_batch(how, deadline, min_n)
            while True:
                avail = ring_available(&self._r)
                if avail == 0:
                    if _rewound(&self._r):
                        continue
                    if self._wait_more(how, deadline):
                        continue
                    return np.empty(0, dtype=CHANGE_RECORD_DTYPE)
                k = <Py_ssize_t>avail if avail < <uint64_t>max_n else max_n
                arr = np.empty(k, dtype=CHANGE_RECORD_DTYPE)
                dst = <uint8_t*>cnp.PyArray_DATA(<cnp.ndarray>arr)
                if k >= 1024:
                    with nogil:
                        n = ring_read(&self._r, dst, k)
                else:
                    n = ring_read(&self._r, dst, k)
                if n > 0 or self._r.call_lost == 0 or self._mode == 2:
                    m = _whole_updates(&self._r, dst, n)
                    if m < n:                      # ends inside an update: the rest is the next poll's
                        self._r.pos -= <uint64_t>(n - m)
                        n = m
                    self._end(n)
                    return arr if n == k else arr[:n]
                # lapped with nothing valid in this copy (a writer flat out overwrites the oldest records
                # as we copy them): records are available, read again, within the timeout
                retries += 1
                if self._give_up(retries, deadline):
                    self._end(0)
                    return arr[:0]
        finally:
            self._busy = False

    def poll_into(self, out, timeout=0.0, str wait="spin", min_records=1):
        """Like poll, into a caller-owned writable C-contiguous buffer (a CHANGE_RECORD_DTYPE array, or raw
        bytes as ``Ring.append`` takes them: a uint8 or plain void array, a bytearray; a numpy array of another
        dtype is a TypeError, nothing read); returns the number of records written at its start.  No
        allocation: the fastest way to read.
        It raises RingReplaced as poll does, and batches with ``min_records`` as poll does (at most the
        buffer's size in records).

        Like poll, it does not end inside an update when the buffer's size cuts the batch (unless the batch
        holds no update boundary); records past the returned count may have been written into the buffer
        and are returned again by the next call."""
        cdef Py_buffer view
        cdef int how
        cdef int64_t deadline
        cdef Py_ssize_t k, m, n = 0
        cdef int retries = 0
        cdef Py_ssize_t min_n = _count_arg(min_records, "min_records")
        how = _wait_kind(wait)
        if isinstance(out, np.ndarray) and not _records_dtype_ok(out.dtype):      # as append refuses it
            raise TypeError(f"out must have CHANGE_RECORD_DTYPE, not {out.dtype} (raw record bytes: a uint8 "
                            f"array or a bytearray)")
        deadline = self._deadline(timeout)
        try:
            PyObject_GetBuffer(out, &view, PyBUF_SIMPLE | PyBUF_WRITABLE)
        except (TypeError, ValueError, BufferError) as e:  # the buffer protocol's words ("ndarray is not
            # C-contiguous", "a bytes-like object is required, not 'list'") named no argument
            raise type(e)(f"out must be a writable, C-contiguous buffer (a CHANGE_RECORD_DTYPE array, or a uint8 "
                          f"array or bytearray of raw records): {e}") from None
        try:
            k = view.len // RING_REC_SIZE
            if k < 1:
                raise ValueError("output buffer holds no 32-byte record")
            if not 1 <= min_n <= k:
                raise ValueError(f"min_records must lie between 1 and the buffer's {k} records, not {min_n}")
            self._begin()
            try:
                self._wait_batch(how, deadline, min_n)
                while True:
                    if ring_available(&self._r) == 0:
                        if _rewound(&self._r):
                            continue
                        if self._wait_more(how, deadline):
                            continue
                        return 0
                    if k >= 1024:
                        with nogil:
                            n = ring_read(&self._r, view.buf, k)
                    else:
                        n = ring_read(&self._r, view.buf, k)
                    if n > 0 or self._r.call_lost == 0 or self._mode == 2:
                        m = _whole_updates(&self._r, <const uint8_t*>view.buf, n)
                        if m < n:                  # ends inside an update: the rest is the next poll's
                            self._r.pos -= <uint64_t>(n - m)
                            n = m
                        self._end(n)
                        return n
                    retries += 1
                    if self._give_up(retries, deadline):
                        self._end(0)
                        return 0
            finally:
                self._busy = False
        finally:
            PyBuffer_Release(&view)

    def _latency_ns(self, Py_ssize_t count, timeout=10.0):
        """Benchmarks: spin nogil for ``count`` records stamped by ``Ring._write_test_records(stamp=True)``;
        returns int64 ns from the writer's stamp to the moment each record was copied out (CLOCK_MONOTONIC,
        mod 2**48).  Stops early at ``timeout`` seconds."""
        cdef int64_t[::1] out
        cdef uint8_t rec[RING_REC_SIZE]
        cdef Py_ssize_t got = 0, n
        cdef int64_t deadline, now
        cdef uint64_t ts, spins = 0
        res = np.zeros(count, dtype=np.int64)
        out = res
        deadline = self._deadline(timeout)
        self._begin()
        try:
            with nogil:
                while got < count:
                    n = ring_read(&self._r, rec, 1)
                    if n == 1:
                        now = _mono_ns()
                        memcpy(&ts, rec + 4, 8)
                        ts &= TS48_MASK
                        out[got] = <int64_t>((<uint64_t>now - ts) & TS48_MASK)
                        got += 1
                        continue
                    vg_cpu_relax()
                    spins += 1
                    if (spins & 4095) == 0 and _mono_ns() >= deadline:
                        break
            self._end(0)
        finally:
            self._busy = False
        return res[:got]

    # -- state -----------------------------------------------------------------------------------------

    def seek(self, position):
        """Move to "oldest", "newest" or an int sequence number, at most the slot's tail (a too-old one is
        reported as lost by the next poll).  A number past the tail is a ValueError naming the tail, as for
        ``Ring.reader(start=)``: the records between would be skipped without being counted as lost."""
        if self._ring is None or self._ring._base == NULL:
            raise ValueError("reader is closed")
        given = position                   # as given, for the error
        # a keyword in any case, or an int or a numpy integer (None for anything else)
        position = _word(position) if isinstance(position, str) else _int_or_none(position)
        if position == "newest":
            self._r.pos = vg_load_acquire_u64(self._r.tail)
        elif position == "oldest":
            self._r.pos = _oldest(&self._r)
        elif position is not None and not isinstance(position, str) and position >= 0:
            self._r.pos = _seq_at_most_tail(position, self.feed_index, self._r.tail, "position")
        else:
            raise ValueError(f"position must be 'oldest', 'newest' (in any case) or a sequence number >= 0, "
                             f"not {given!r}")
        self._publish()

    @property
    def feed(self):
        """The feed's name (NSE_FO, NSE_EQ or NFO_IDX)."""
        return FEEDS[self.feed_index]

    @property
    def position(self):
        """Sequence number of the next record this reader returns."""
        return self._r.pos

    @property
    def lag(self):
        """Records published and not yet read (may exceed the capacity: those will be reported lost)."""
        if self._ring is None or self._ring._base == NULL:
            raise ValueError("reader is closed")
        t = vg_load_acquire_u64(self._r.tail)
        return t - self._r.pos if t > self._r.pos else 0

    @property
    def laps(self):
        """How many times the writer lapped this reader."""
        return self._r.laps

    @property
    def lost(self):
        """Records lost to lapping, in total (exact)."""
        return self._r.lost

    @property
    def last_lost(self):
        """Records lost during the most recent poll (0 when it was not lapped)."""
        return self._last_lost

    @property
    def rewinds(self):
        """Times the tail was found behind this reader (the ring was re-created or damaged)."""
        return self._r.rewinds

    @property
    def line(self):
        """Client-bus line index, or None for an unregistered reader."""
        return None if self._line_no < 0 else self._line_no

    @property
    def registered(self):
        """True while this reader holds a client-bus cursor line (listed by Ring.readers()).

        False for a reader made with ``name=None``, for a named reader of a ring this process may only
        read (see RingUnregisteredWarning), and after close().
        """
        return self._line_no >= 0

    @property
    def closed(self):
        """True after close() (or after its ring was closed)."""
        return self._ring is None

    def close(self):
        """Leave the client bus (the line becomes free) and drop the ring reference (idempotent).
        RuntimeError while another thread is polling this reader."""
        cdef ring_cursor_t* c
        cdef uint32_t me = <uint32_t>getpid()
        if self._ring is None:
            return
        if self._busy:
            raise RuntimeError("this Reader is being polled by another thread: close it after the poll returns")
        if self._line_no >= 0 and self._ring._base != NULL:
            c = self._cursor
            if vg_load_acquire_u32(&c.pid) == me:
                vg_store_release_u8(&c.state, RING_CUR_FREE)
                memset(c.name, 0, RING_NAME_LEN)
                vg_cas_u32(&c.pid, me, 0)
        self._cursor = &self._private
        self._line_no = -1
        self._ring = None

    def __dealloc__(self):
        cdef uint32_t me
        if self._ring is not None and self._line_no >= 0 and self._ring._base != NULL:
            me = <uint32_t>getpid()
            if vg_load_acquire_u32(&self._cursor.pid) == me:
                vg_store_release_u8(&self._cursor.state, RING_CUR_FREE)
                memset(self._cursor.name, 0, RING_NAME_LEN)
                vg_cas_u32(&self._cursor.pid, me, 0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        raise TypeError(f"cannot pickle a vega Reader (a position in a ring mapped by this process): open the "
                        f"ring in the other process and ask it for ring.reader({self.feed!r}, name=...)")

    def __repr__(self):
        closed = " closed" if self._ring is None or self._ring._base == NULL else ""
        return (f"<vega.Reader {self.feed} name={self.name!r} position={self._r.pos} "
                f"laps={self._r.laps} lost={self._r.lost}{closed}>")


def _layout():
    """C sizes and offsets of the shared structs, for the layout tests."""
    cdef ring_header_t h
    cdef ring_bus_header_t b
    cdef ring_cursor_t c
    cdef char* hp = <char*>&h
    cdef char* cp = <char*>&c
    return {
        "ring_header_t": sizeof(ring_header_t),
        "ring_bus_header_t": sizeof(ring_bus_header_t),
        "ring_cursor_t": sizeof(ring_cursor_t),
        "header.version": <char*>&h.version - hp,
        "header.feed_type": <char*>&h.feed_type - hp,
        "header.record_size": <char*>&h.record_size - hp,
        "header.symbol_id": <char*>&h.symbol_id - hp,
        "header.capacity": <char*>&h.capacity - hp,
        "header.records_offset": <char*>&h.records_offset - hp,
        "header.trailer_offset": <char*>&h.trailer_offset - hp,
        "header.record_count": <char*>&h.record_count - hp,
        "header.created_ns": <char*>&h.created_ns - hp,
        "header.slot_size": <char*>&h.slot_size - hp,
        "header.writer_pid": <char*>&h.writer_pid - hp,
        "header.first_seq": <char*>&h.first_seq - hp,
        "bus.n_lines": <char*>&b.n_lines - <char*>&b,
        "bus.created_ns": <char*>&b.created_ns - <char*>&b,
        "bus.reg_pid": <char*>&b.reg_pid - <char*>&b,
        "cursor.state": <char*>&c.state - cp,
        "cursor.feed": <char*>&c.feed - cp,
        "cursor.name": <char*>&c.name - cp,
        "cursor.position": <char*>&c.position - cp,
        "cursor.laps": <char*>&c.laps - cp,
        "cursor.lost": <char*>&c.lost - cp,
        "cursor.heartbeat_ns": <char*>&c.heartbeat_ns - cp,
    }
