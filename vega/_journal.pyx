# cython: language_level=3
"""The daily journal ``<root>/<FEED>/YYYYMMDD.bin``: nogil writer, index and checkpoint table, crash recovery,
memory-mapped reader with time seek and state snapshots.  The layout is in docs/FORMATS.md ("Journal"); the C
contract for the FeedHandler is at the top of ``_journal.pxd``."""

cimport cython
from libc.errno cimport EBADF, EINTR, ENOMEM, errno
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove, memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport close as c_close, fsync as c_fsync, pread as c_pread, write as c_write

import datetime as _dt
import errno as _errno
import fcntl
import inspect
import mmap
import os
import re
import stat
import struct
import time
import weakref
import zlib
from pathlib import Path

import numpy as np

from vega.records import CHANGE_RECORD_DTYPE, CHECKPOINT_END, CONTINUED, KEYFRAME, timestamps
from vega.records import raw_or_record_dtype as _records_dtype_ok


# ----------------------------------------------------------------------------------------------------------
# Constants and layout mirrors
# ----------------------------------------------------------------------------------------------------------

MAGIC = b"VEGAJRNL"
INDEX_MAGIC = b"VGJINDEX"
VERSION = JRNL_VERSION
HEADER_SIZE = JRNL_HEADER_SIZE
RECORD_SIZE = JRNL_REC_SIZE
OPEN, SEALED, SEALING = JRNL_OPEN, JRNL_SEALED, JRNL_SEALING

#: feed name -> header feed type (the ring's slot numbers)
FEEDS = {"NSE_FO": 0, "NSE_EQ": 1, "NFO_IDX": 2}
FEED_NAMES = {v: k for k, v in FEEDS.items()}

DAY_NS = 86_400_000_000_000
#: the longest flush or checkpoint interval, seconds: the writer keeps it in ns in an int64 (2**63 ns, rounded down)
MAX_INTERVAL_S = 9_223_372_036
IST = _dt.timezone(_dt.timedelta(hours=5, minutes=30), "IST")

#: the 64-byte header, field for field (mirrors jrnl_header_t)
HEADER_DTYPE = np.dtype(
    {
        "names": ["magic", "version", "header_size", "record_size", "feed_type", "sealed", "trading_date",
                  "symbol_id", "record_count", "created_ns", "index_offset", "first_seq", "index_stride",
                  "checksum"],
        "formats": ["S8", "<u2", "<u2", "<u2", "u1", "u1", "<u4", "<u4", "<u8", "<i8", "<u8", "<u8", "<u4",
                    "<u4"],
        "offsets": [0, 8, 10, 12, 14, 15, 16, 20, 24, 32, 40, 48, 56, 60],
        "itemsize": 64,
    }
)
_HEADER = struct.Struct("<8sHHHBBIIQqQQII")
#: index table head: magic, entry count, checkpoint count, stride, crc32 of head bytes 0..27 + entries + ckpts
_INDEX_HEAD = struct.Struct("<8sQQII")
INDEX_ENTRY_DTYPE = np.dtype({"names": ["ts", "offset"], "formats": ["<i8", "<u8"], "offsets": [0, 8],
                              "itemsize": 16})
CHECKPOINT_DTYPE = np.dtype({"names": ["ts", "offset", "n_records", "reserved"],
                             "formats": ["<i8", "<u8", "<u8", "<u8"], "offsets": [0, 8, 16, 24],
                             "itemsize": 32})


class JournalError(ValueError):
    """A journal file is damaged, of another feed or version, or not a journal at all."""


def _layout():
    """sizeof and field offsets of the C structs, as compiled (for the layout tests)."""
    cdef jrnl_header_t h
    cdef size_t b = <size_t>&h
    return {
        "sizeof": sizeof(jrnl_header_t),
        "magic": <size_t>&h.magic - b, "version": <size_t>&h.version - b,
        "header_size": <size_t>&h.header_size - b, "record_size": <size_t>&h.record_size - b,
        "feed_type": <size_t>&h.feed_type - b, "sealed": <size_t>&h.sealed - b,
        "trading_date": <size_t>&h.trading_date - b, "symbol_id": <size_t>&h.symbol_id - b,
        "record_count": <size_t>&h.record_count - b, "created_ns": <size_t>&h.created_ns - b,
        "index_offset": <size_t>&h.index_offset - b, "first_seq": <size_t>&h.first_seq - b,
        "index_stride": <size_t>&h.index_stride - b, "checksum": <size_t>&h.checksum - b,
    }


# ----------------------------------------------------------------------------------------------------------
# nogil core: index building, append, flush
# ----------------------------------------------------------------------------------------------------------

cdef extern from *:
    """
    #include <errno.h>
    #include <fcntl.h>
    /* Reserve [off, off+len) of fd's file without changing its size (Linux fallocate KEEP_SIZE); elsewhere
       -1 with ENOSYS, and the writer simply does not preallocate. */
    static int vega_jrnl_reserve(int fd, long long off, long long len) {
    #if defined(__linux__) && defined(FALLOC_FL_KEEP_SIZE)
        return fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
    #else
        (void)fd; (void)off; (void)len; errno = ENOSYS; return -1;
    #endif
    }
    """
    int vega_jrnl_reserve(int fd, long long off, long long length) nogil

cdef inline int64_t _rec_ts(const uint8_t* r) noexcept nogil:
    """ts48 of the record at r (little-endian host, as the record layout)."""
    cdef uint32_t lo
    cdef uint16_t hi
    memcpy(&lo, r + 4, 4)
    memcpy(&hi, r + 8, 2)
    return <int64_t>lo | (<int64_t>hi << 32)


cdef inline int64_t _mono_ns() noexcept nogil:
    cdef timespec t
    clock_gettime(CLOCK_MONOTONIC, &t)
    return <int64_t>t.tv_sec * 1000000000 + t.tv_nsec


cdef int jrnl_index_init(jrnl_index_t* ix, uint32_t stride) noexcept nogil:
    """Empty index with one entry every `stride` records (stride >= 1).  Returns -1 when out of memory."""
    memset(ix, 0, sizeof(jrnl_index_t))
    ix.stride = stride if stride > 0 else 1
    ix.max_ts = -1
    ix.cap_ent = 256
    ix.cap_ckpt = 16
    ix.ent_ts = <int64_t*>malloc(ix.cap_ent * sizeof(int64_t))
    ix.ent_rec = <uint64_t*>malloc(ix.cap_ent * sizeof(uint64_t))
    ix.ckpt = <jrnl_ckpt_t*>malloc(ix.cap_ckpt * sizeof(jrnl_ckpt_t))
    if ix.ent_ts == NULL or ix.ent_rec == NULL or ix.ckpt == NULL:
        ix.oom = 1
        return -1
    return 0


cdef void jrnl_index_free(jrnl_index_t* ix) noexcept nogil:
    free(ix.ent_ts)
    free(ix.ent_rec)
    free(ix.ckpt)
    ix.ent_ts = NULL
    ix.ent_rec = NULL
    ix.ckpt = NULL
    ix.n_ent = ix.cap_ent = ix.n_ckpt = ix.cap_ckpt = 0


cdef int _grow_ent(jrnl_index_t* ix) noexcept nogil:
    cdef Py_ssize_t cap = ix.cap_ent * 2
    cdef int64_t* t = <int64_t*>realloc(ix.ent_ts, cap * sizeof(int64_t))
    if t == NULL:
        return -1
    ix.ent_ts = t
    cdef uint64_t* r = <uint64_t*>realloc(ix.ent_rec, cap * sizeof(uint64_t))
    if r == NULL:
        return -1
    ix.ent_rec = r
    ix.cap_ent = cap
    return 0


cdef int _grow_ckpt(jrnl_index_t* ix) noexcept nogil:
    cdef Py_ssize_t cap = ix.cap_ckpt * 2
    cdef jrnl_ckpt_t* c = <jrnl_ckpt_t*>realloc(ix.ckpt, cap * sizeof(jrnl_ckpt_t))
    if c == NULL:
        return -1
    ix.ckpt = c
    ix.cap_ckpt = cap
    return 0


cdef int jrnl_index_feed(jrnl_index_t* ix, const uint8_t* recs, Py_ssize_t n) noexcept nogil:
    """Account for the next n records of the file: running max timestamp, an entry every `stride` records,
    complete KEYFRAME runs (a run ends at its record flagged CHECKPOINT_END; a non-KEYFRAME record inside a run
    voids it).  CONTINUED keeps the store's meaning (more records of the same token's update follow).  Returns
    -1 (and sets ix.oom) when out of memory.

    The live stream's records carry no KEYFRAME flag (only checkpoints do): outside a run such a chunk needs
    only the running maximum and the entries (_index_feed_plain); anything else goes record by record."""
    if ix.oom:
        return -1
    if not ix.in_run and not _any_keyframe(recs, n):
        return _index_feed_plain(ix, recs, n)
    return _index_feed_exact(ix, recs, n)


cdef inline bint _any_keyframe(const uint8_t* recs, Py_ssize_t n) noexcept nogil:
    """Whether any of the n records is flagged KEYFRAME (flags: byte 11)."""
    cdef Py_ssize_t i
    cdef uint8_t fl = 0
    for i in range(n):
        fl |= recs[i * JRNL_REC_SIZE + 11]
    return (fl & JRNL_F_KEYFRAME) != 0


cdef int _index_feed_plain(jrnl_index_t* ix, const uint8_t* recs, Py_ssize_t n) noexcept nogil:
    """jrnl_index_feed for n records without a KEYFRAME flag, outside a run (ix.in_run == 0): the running
    maximum over the stretches between entry records, and an entry at each record number that is a multiple
    of the stride (the maximum up to and including that record)."""
    cdef Py_ssize_t i = 0, j, end
    cdef int64_t ts
    cdef uint64_t rec_no = ix.n_seen
    cdef int64_t max_ts = ix.max_ts
    cdef uint64_t next_ent = <uint64_t>ix.n_ent * ix.stride     # >= rec_no: every earlier entry exists
    while i < n:
        if next_ent - rec_no < <uint64_t>(n - i):
            end = i + <Py_ssize_t>(next_ent - rec_no)           # records i..end-1 come before the entry record
        else:
            end = n
        for j in range(i, end):
            ts = _rec_ts(recs + j * JRNL_REC_SIZE)
            if ts > max_ts:
                max_ts = ts
        rec_no += <uint64_t>(end - i)
        i = end
        if i < n:                                               # record i is the entry record
            ts = _rec_ts(recs + i * JRNL_REC_SIZE)
            if ts > max_ts:
                max_ts = ts
            if ix.n_ent == ix.cap_ent and _grow_ent(ix) < 0:
                ix.max_ts = max_ts
                ix.oom = 1
                return -1
            ix.ent_ts[ix.n_ent] = max_ts
            ix.ent_rec[ix.n_ent] = rec_no
            ix.n_ent += 1
            next_ent = rec_no + ix.stride
            rec_no += 1
            i += 1
    ix.max_ts = max_ts
    ix.n_seen = rec_no
    return 0


cdef int _index_feed_exact(jrnl_index_t* ix, const uint8_t* recs, Py_ssize_t n) noexcept nogil:
    """jrnl_index_feed record by record, for any flags (what it keeps: see jrnl_index_feed).

    The running state lives in locals during the loop (the records are bytes, which may alias anything, so the
    compiler would otherwise reload and store every ix field per record) and goes back to ix at the end."""
    cdef Py_ssize_t i
    cdef const uint8_t* r
    cdef int64_t ts
    cdef uint64_t rec_no = ix.n_seen
    cdef int64_t max_ts = ix.max_ts
    cdef uint64_t next_ent = <uint64_t>ix.n_ent * ix.stride     # entries sit at record numbers 0, S, 2S, ...
    cdef int in_run = ix.in_run
    cdef int rc = 0
    cdef uint8_t f
    for i in range(n):
        r = recs + i * JRNL_REC_SIZE
        ts = _rec_ts(r)
        if ts > max_ts:
            max_ts = ts
        if rec_no == next_ent:
            if ix.n_ent == ix.cap_ent and _grow_ent(ix) < 0:
                rc = -1
                break
            ix.ent_ts[ix.n_ent] = max_ts
            ix.ent_rec[ix.n_ent] = rec_no
            ix.n_ent += 1
            next_ent = rec_no + ix.stride
        f = r[11]
        if f & JRNL_F_KEYFRAME:
            if not in_run:
                in_run = 1
                ix.run_start = rec_no
                ix.run_ts = ts
            if f & JRNL_F_CHECKPOINT_END:
                if ix.n_ckpt == ix.cap_ckpt and _grow_ckpt(ix) < 0:
                    rc = -1
                    break
                ix.ckpt[ix.n_ckpt].ts_ns = ix.run_ts
                ix.ckpt[ix.n_ckpt].rec_no = ix.run_start
                ix.ckpt[ix.n_ckpt].n_recs = rec_no - ix.run_start + 1
                ix.n_ckpt += 1
                in_run = 0
        elif in_run:
            in_run = 0
        rec_no += 1
    ix.max_ts = max_ts
    ix.in_run = in_run
    if rc < 0:
        ix.oom = 1
        return -1
    ix.n_seen = rec_no
    return 0


def _pwrite_all(fd, data, off):
    """Write all of ``data`` at ``off``: os.pwrite returns a short count when the disk fills part way (the next
    call raises ENOSPC)."""
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        k = os.pwrite(fd, view[done:], off + done)
        if k <= 0:
            raise OSError(_errno.ENOSPC, os.strerror(_errno.ENOSPC))
        done += k


cdef int _write_all(jrnl_writer_t* w, const uint8_t* p, Py_ssize_t nbytes) noexcept nogil:
    cdef Py_ssize_t done = 0, k
    while done < nbytes:
        k = c_write(w.fd, p + done, nbytes - done)
        if k < 0:
            if errno == EINTR:
                continue
            w.err = errno
            return -1
        done += k
    return 0


cdef inline void _jrnl_reserve(jrnl_writer_t* w, int64_t end) noexcept nogil:
    """Before writing up to byte offset ``end``: if that passes the reserved space, reserve ``prealloc_bytes``
    more beyond it (fallocate KEEP_SIZE: the file's size, and so its format and crash recovery, are unchanged;
    the kernel's buffered write() then finds its blocks allocated instead of reserving delayed-allocation
    space page by page).  A failure (no fallocate on this filesystem, disk full) turns preallocation off for
    this file; the write itself reports real errors."""
    if w.prealloc_bytes <= 0 or end <= w.alloc_end:
        return
    if vega_jrnl_reserve(w.fd, w.alloc_end, end + w.prealloc_bytes - w.alloc_end) < 0:
        w.prealloc_bytes = 0
        return
    w.alloc_end = end + w.prealloc_bytes


cdef int jrnl_flush(jrnl_writer_t* w) noexcept nogil:
    """Write the buffered records to the file (page cache), fsync when the policy says so.  0 or -1 (w.err)."""
    if w.err:
        return -1
    if w.fd < 0:
        w.err = EBADF
        return -1
    if w.buf_recs > 0:
        _jrnl_reserve(w, JRNL_HEADER_SIZE + <int64_t>(w.n_written + <uint64_t>w.buf_recs) * JRNL_REC_SIZE)
        if _write_all(w, w.buf, w.buf_recs * JRNL_REC_SIZE) < 0:
            return -1
        w.n_written += <uint64_t>w.buf_recs
        w.buf_recs = 0
        if w.fsync_on_flush and c_fsync(w.fd) < 0:
            w.err = errno
            return -1
    w.last_flush_ns = _mono_ns()
    return 0


cdef enum:
    JRNL_WRITE_ALIGN = 65536           # a full buffer is written up to a file offset that is a multiple of this


cdef int _make_room(jrnl_writer_t* w, Py_ssize_t k) noexcept nogil:
    """The buffer cannot take k more records: write the longest part of it that ends at a file offset that is
    a multiple of JRNL_WRITE_ALIGN and keep the rest (less than JRNL_WRITE_ALIGN bytes, moved to the front),
    or, when that leaves too little room (small buffers) or every flush must fsync, flush it all.

    Why: a write(2) that ends inside a page leaves a partial page that the next write fills again; whole,
    aligned spans let the page cache take whole (large) folios: 30 % less kernel time per byte on ext4
    (docs/PROFILING.md).  Records stay in the buffer no longer than before: the time-driven flush still runs
    flush_interval after the last full flush (last_flush_ns is not moved here), and every record in the
    buffer came after that flush."""
    cdef int64_t start = JRNL_HEADER_SIZE + <int64_t>w.n_written * JRNL_REC_SIZE
    cdef int64_t end = start + <int64_t>w.buf_recs * JRNL_REC_SIZE
    cdef int64_t cut = end - end % JRNL_WRITE_ALIGN          # a record boundary: 64 + 32 i = 65536 j for i = 2048 j - 2
    cdef Py_ssize_t m = <Py_ssize_t>((cut - start) // JRNL_REC_SIZE) if cut > start else 0
    if w.err:
        return -1
    if m == 0 or w.buf_recs - m + k > w.cap_recs or w.fsync_on_flush:
        return jrnl_flush(w)
    _jrnl_reserve(w, cut)
    if _write_all(w, w.buf, m * JRNL_REC_SIZE) < 0:
        return -1
    w.n_written += <uint64_t>m
    w.buf_recs -= m
    memmove(w.buf, w.buf + m * JRNL_REC_SIZE, w.buf_recs * JRNL_REC_SIZE)
    return 0


cdef int jrnl_poll(jrnl_writer_t* w) noexcept nogil:
    """Flush if records are buffered and flush_interval_ns has passed since the last flush.  0 or -1."""
    if w.err:
        return -1
    if w.buf_recs > 0 and w.flush_interval_ns >= 0 and _mono_ns() - w.last_flush_ns >= w.flush_interval_ns:
        return jrnl_flush(w)
    return 0


cdef Py_ssize_t jrnl_append(jrnl_writer_t* w, const void* recs, Py_ssize_t n) noexcept nogil:
    """Append n 32-byte records (see the contract in _journal.pxd).  Returns the number accepted, which is less
    than n only when a record is stamped at or after day_end_ns, or -1 on an I/O error (w.err)."""
    cdef const uint8_t* p = <const uint8_t*>recs
    cdef Py_ssize_t i, k = n
    cdef int64_t ts, day_end, every, next_ckpt, lim
    cdef int due = 0
    if w.err:
        return -1
    if w.fd < 0:
        w.err = EBADF
        return -1
    if n <= 0:
        return 0
    # the day's end and the next checkpoint, in locals (the records are bytes: they may alias w)
    day_end = w.day_end_ns
    every = w.ckpt_interval_ns
    next_ckpt = w.next_ckpt_ns
    if every > 0 and next_ckpt < 0:                 # the first record accepted sets the first checkpoint time
        ts = _rec_ts(p)
        if ts < day_end:
            next_ckpt = (ts // every + 1) * every
    # one compare per record: against the day's end, or the next checkpoint time while that comes first and
    # no checkpoint is due yet (a record past it makes one due; then only the day's end matters)
    lim = next_ckpt if every > 0 and not w.ckpt_due and 0 <= next_ckpt < day_end else day_end
    for i in range(n):
        ts = _rec_ts(p + i * JRNL_REC_SIZE)
        if ts >= lim:
            if ts >= day_end:
                k = i
                w.day_over = 1
                break
            due = 1
            lim = day_end
    w.next_ckpt_ns = next_ckpt
    if due:
        w.ckpt_due = 1
    if k > 0:
        if w.buf_recs + k > w.cap_recs and _make_room(w, k) < 0:
            return -1
        if k >= w.cap_recs:
            _jrnl_reserve(w, JRNL_HEADER_SIZE + <int64_t>(w.n_written + <uint64_t>k) * JRNL_REC_SIZE)
            if _write_all(w, p, k * JRNL_REC_SIZE) < 0:
                return -1
            w.n_written += <uint64_t>k
        else:
            memcpy(w.buf + w.buf_recs * JRNL_REC_SIZE, p, k * JRNL_REC_SIZE)
            w.buf_recs += k
        if jrnl_index_feed(&w.index, p, k) < 0:
            w.err = ENOMEM
            return -1
        w.n_records += <uint64_t>k
        w.max_ts = w.index.max_ts
    if w.buf_recs > 0:
        if w.flush_interval_ns == 0:
            if jrnl_flush(w) < 0:
                return -1
        elif w.flush_interval_ns > 0 and _mono_ns() - w.last_flush_ns >= w.flush_interval_ns:
            if jrnl_flush(w) < 0:
                return -1
    return k


# ----------------------------------------------------------------------------------------------------------
# Helpers shared by the writer, the reader and verify
# ----------------------------------------------------------------------------------------------------------

def _feed_type(feed):
    name = str(feed).upper()
    if name not in FEEDS:
        raise ValueError(f"unknown feed {feed!r}; expected one of {', '.join(FEEDS)}")
    return name, FEEDS[name]


_DAY_WORDS = {"today": 0, "yesterday": 1}


def as_date(value):
    """A trading date from a datetime.date, a datetime (its IST date), 'YYYYMMDD', 'YYYY-MM-DD', YYYYMMDD, or
    'today' / 'yesterday' (the IST days, the journals' trading days, by this machine's clock)."""
    if isinstance(value, str) and value.strip().lower() in _DAY_WORDS:
        return (_dt.datetime.fromtimestamp(time.time(), IST).date()
                - _dt.timedelta(days=_DAY_WORDS[value.strip().lower()]))
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(IST)
        return value.date()
    if isinstance(value, _dt.date):
        return value
    text = str(int(value)) if isinstance(value, (int, np.integer)) else value
    if isinstance(text, str):
        s = text.replace("-", "")
        if len(s) == 8 and s.isdigit():
            try:
                return _dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
            except ValueError as e:                # datetime's own words ("month must be in 1..12") named nothing
                raise ValueError(f"not a trading date: {value!r} ({e}; 'YYYY-MM-DD' or YYYYMMDD)") from None
    raise ValueError(f"not a trading date: {text!r}")


def date_int(d):
    """YYYYMMDD as an int."""
    return d.year * 10000 + d.month * 100 + d.day


def checkpoint_records(records, ts_ns=None):
    """The records exactly as a checkpoint writes them: a copy, stamped ``ts_ns`` when given (ts48: ns since
    the day's 00:00 IST, in [0, 2**48), else ValueError), flagged KEYFRAME, the last one CHECKPOINT_END;
    CONTINUED bits are kept.  Idempotent.  The FeedHandler publishes this same array to the ring, so journal
    and ring carry identical bytes."""
    # the records append takes (a numpy array of another dtype, cast, was journaled as a checkpoint of garbage)
    arr = np.frombuffer(_as_record_bytes(records), CHANGE_RECORD_DTYPE).copy()
    if len(arr):
        if ts_ns is not None:
            ts_ns = int(ts_ns)
            if not 0 <= ts_ns < 1 << 48:           # as Store.keyframe_records: the field would wrap around
                raise ValueError(f"ts_ns must be in [0, 2**48), not {ts_ns}")
            arr["ts_lo"] = ts_ns & 0xFFFFFFFF
            arr["ts_hi"] = (ts_ns >> 32) & 0xFFFF
        arr["flags"] = (arr["flags"] | KEYFRAME) & (~CHECKPOINT_END & 0xFF)
        arr["flags"][len(arr) - 1] |= CHECKPOINT_END
    return arr


def day_epoch_ns(d):
    """ns since the Unix epoch of 00:00 IST of trading date d."""
    return int(_dt.datetime(d.year, d.month, d.day, tzinfo=IST).timestamp()) * 1_000_000_000


def _time_of_day_ns(value):
    if isinstance(value, str):
        text = value
        try:                                    # 'HH:MM', 'HH:MM:SS' ("00:30:00" failed to unpack)
            value = _dt.time.fromisoformat(text) if text[:1].isdigit() else None
        except ValueError:
            value = None
        if value is None or value.tzinfo is not None:
            raise ValueError(f"rollover must be 'HH:MM' or a datetime.time, not {text!r}")
    if isinstance(value, _dt.time):
        if value.tzinfo is not None:            # a time of day IST: another zone's would be read as IST
            raise ValueError(f"rollover is a time of day in IST: give a naive datetime.time, not {value!r}")
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000_000 + value.microsecond * 1000
    raise ValueError(f"rollover must be 'HH:MM' or a datetime.time, not {value!r}")


def pack_header(feed_type, sealed, trading_date, symbol_id, record_count, created_ns, index_offset, first_seq,
                index_stride, version=JRNL_VERSION):
    """The 64 header bytes, checksum included."""
    body = _HEADER.pack(MAGIC, version, JRNL_HEADER_SIZE, JRNL_REC_SIZE, feed_type, sealed, trading_date,
                        symbol_id, record_count, created_ns, index_offset, first_seq, index_stride, 0)
    return body[:60] + struct.pack("<I", zlib.crc32(body[:60]))


def _regular_file(path):
    """JournalError unless ``path`` is a regular file (or does not exist: opening it then says so): a FIFO,
    a device or a socket would block the open or the read for ever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise JournalError(f"{path}: not a regular file (a FIFO, a device or a socket): a journal is a file "
                           f"<FEED>/YYYYMMDD.bin")


#: the trading dates a journal can have (its records' epoch ns fit an int64), and the sequence numbers: a
#: header outside them is damage (parse_header), and a writer refuses to make one
_FIRST_DAY = _dt.date(1970, 1, 1)
_LAST_DAY = _dt.date(2262, 4, 10)
_SEQ_LIMIT = 1 << 62


#: the fields of the header a writer makes, up to the trading date, as (end offset, format, offset, ok(value,
#: feed_type, date)): a file cut inside its header is told by the fields it holds whole
_CUT_FIELDS = (
    (10, "<H", 8, lambda v, f, d: 1 <= v <= JRNL_VERSION),
    (12, "<H", 10, lambda v, f, d: v == JRNL_HEADER_SIZE),
    (14, "<H", 12, lambda v, f, d: v == JRNL_REC_SIZE),
    (15, "<B", 14, lambda v, f, d: v == f if f is not None else v in FEED_NAMES),
    (16, "<B", 15, lambda v, f, d: v == JRNL_OPEN),
    (20, "<I", 16, lambda v, f, d: v == d if d is not None else True),
)


def cut_header(data, feed_type=None, trading_date=None):
    """True when ``data`` (a whole file) is shorter than a header and is the start of one a writer makes (of
    ``feed_type`` and ``trading_date``, YYYYMMDD, when given): its writer stopped before writing the header
    whole (a kill, a full disk), so the file holds no record.  0 bytes count."""
    n = len(data)
    if n >= JRNL_HEADER_SIZE or bytes(data[:8]) != MAGIC[:n]:
        return False
    return all(ok(struct.unpack_from(fmt, data, off)[0], feed_type, trading_date)
               for end, fmt, off, ok in _CUT_FIELDS if n >= end)


def parse_header(data, path="journal"):
    """Check and decode a header; raises JournalError naming what is wrong."""
    if len(data) < JRNL_HEADER_SIZE:
        raise JournalError(f"{path}: truncated header ({len(data)} bytes, a journal starts with "
                           f"{JRNL_HEADER_SIZE})" + (
                               ": cut short, no record in it (its writer stopped before writing it whole); "
                               "vega verify --repair writes it again when its path names its feed and day"
                               if cut_header(data) else ""))
    (magic, version, header_size, record_size, feed_type, sealed, trading_date, symbol_id, record_count,
     created_ns, index_offset, first_seq, stride, checksum) = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise JournalError(f"{path}: not a VEGA journal (magic {magic!r}, expected {MAGIC!r})")
    if version > JRNL_VERSION:
        raise JournalError(f"{path}: written by a newer VEGA (format version {version}; this reader knows "
                           f"up to {JRNL_VERSION})")
    if version == 0:
        raise JournalError(f"{path}: format version 0 is invalid")
    if zlib.crc32(bytes(data[:60])) != checksum:
        raise JournalError(f"{path}: header checksum mismatch (header damaged)")
    if header_size != JRNL_HEADER_SIZE or record_size != JRNL_REC_SIZE:
        raise JournalError(f"{path}: header size {header_size} / record size {record_size}, expected "
                           f"{JRNL_HEADER_SIZE} / {JRNL_REC_SIZE}")
    if feed_type not in FEED_NAMES:
        raise JournalError(f"{path}: unknown feed type {feed_type}")
    if sealed not in (JRNL_OPEN, JRNL_SEALED, JRNL_SEALING):
        raise JournalError(f"{path}: invalid state byte {sealed}")
    if stride == 0:
        raise JournalError(f"{path}: index stride 0")
    try:
        d = as_date(trading_date)
    except ValueError:
        raise JournalError(f"{path}: invalid trading date {trading_date}") from None
    if not _FIRST_DAY <= d <= _LAST_DAY:
        raise JournalError(f"{path}: trading date {d} is outside {_FIRST_DAY} .. {_LAST_DAY} (header damaged)")
    if first_seq >= _SEQ_LIMIT or record_count >= 1 << 58:         # numbers far past any day's: damage
        raise JournalError(f"{path}: first_seq {first_seq:,} / record count {record_count:,} out of range "
                           f"(header damaged)")
    return {
        "version": version, "feed_type": feed_type, "feed": FEED_NAMES[feed_type], "sealed": sealed,
        "trading_date": d, "symbol_id": symbol_id, "record_count": record_count, "created_ns": created_ns,
        "index_offset": index_offset, "first_seq": first_seq, "index_stride": stride,
    }


def read_index(mm, hdr, size, path="journal"):
    """Validate and decode the index table of a sealed file -> (entries, checkpoints) numpy arrays."""
    n = hdr["record_count"]
    off = hdr["index_offset"]
    if off != JRNL_HEADER_SIZE + n * JRNL_REC_SIZE or off + _INDEX_HEAD.size > size:
        raise JournalError(f"{path}: index offset {off} points outside the file ({size} bytes, "
                           f"{n} records)")
    magic, n_ent, n_ckpt, stride, crc = _INDEX_HEAD.unpack_from(mm, off)
    if magic != INDEX_MAGIC:
        raise JournalError(f"{path}: no index table at offset {off} (magic {magic!r})")
    end = off + _INDEX_HEAD.size + n_ent * 16 + n_ckpt * 32
    if end != size:
        raise JournalError(f"{path}: index table ({n_ent} entries, {n_ckpt} checkpoints) ends at {end}, "
                           f"the file at {size}")
    if stride != hdr["index_stride"] or n_ent != (n + stride - 1) // stride:
        raise JournalError(f"{path}: index has {n_ent} entries of stride {stride} for {n} records")
    c = zlib.crc32(mm[off:off + 28])
    c = zlib.crc32(mm[off + 32:end], c)
    if c != crc:
        raise JournalError(f"{path}: index table checksum mismatch")
    # copies (a few bytes per stride of records), not views of the map: a writer that reopens the sealed day
    # cuts the table off the file, and a view of it then raised SIGBUS in the reader (or read records)
    ent = np.frombuffer(mm, INDEX_ENTRY_DTYPE, n_ent, off + 32).copy()
    ck = np.frombuffer(mm, CHECKPOINT_DTYPE, n_ckpt, off + 32 + n_ent * 16).copy()
    want = JRNL_HEADER_SIZE + np.arange(n_ent, dtype=np.uint64) * np.uint64(stride * JRNL_REC_SIZE)
    if not np.array_equal(ent["offset"], want):
        raise JournalError(f"{path}: index entry points outside the record area")
    if n_ckpt and (np.any(ck["offset"] < JRNL_HEADER_SIZE) or np.any(ck["offset"] > off)
                   or np.any((ck["offset"] - JRNL_HEADER_SIZE) % 32)
                   or np.any(ck["n_records"] == 0) or np.any(ck["n_records"] > n)
                   or np.any(ck["offset"] + ck["n_records"] * np.uint64(32) > np.uint64(off))):
        raise JournalError(f"{path}: checkpoint table points outside the record area")
    _check_index_order(mm, ent, ck, path)
    return ent, ck


def _check_index_order(mm, ent, ck, path):
    """JournalError unless the tables (in bounds: read_index) are what a writer's scan makes of the records:
    entry times never decrease (a running maximum), checkpoint runs follow one another in file order without
    overlapping (adjacent is fine: two checkpoints in a row), and each checkpoint's time is the stamp of its
    first record, which like its last is flagged KEYFRAME.  Checkpoint times may decrease (a writer stamps a
    checkpoint as it is told) and may be equal.  Reads two records per checkpoint, not the records between."""
    back = np.flatnonzero(np.diff(ent["ts"]) < 0)
    if len(back):
        j = int(back[0]) + 1
        raise JournalError(f"{path}: index table out of order: entry {j} has time {int(ent['ts'][j])}, earlier "
                           f"than entry {j - 1}'s {int(ent['ts'][j - 1])} (entries hold a running maximum)")
    if not len(ck):
        return
    start = ((ck["offset"] - np.uint64(JRNL_HEADER_SIZE)) // np.uint64(JRNL_REC_SIZE)).astype(np.int64)
    end = start + ck["n_records"].astype(np.int64)
    bad = np.flatnonzero(start[1:] < end[:len(end) - 1])
    if len(bad):
        k = int(bad[0]) + 1
        how = "out of order" if start[k] < start[k - 1] else "overlapping"
        raise JournalError(f"{path}: checkpoint table {how}: checkpoint {k} starts at record {int(start[k])}, "
                           f"before checkpoint {k - 1} (records {int(start[k - 1])}..{int(end[k - 1]) - 1}) ends")
    recs = np.frombuffer(mm, CHANGE_RECORD_DTYPE, int(end.max()), JRNL_HEADER_SIZE)   # (the last run ends last)
    first, last = recs[start], recs[end - 1]          # copies: no view of the map outlives this call
    del recs
    bad = np.flatnonzero(timestamps(first) != ck["ts"])
    if len(bad):
        k = int(bad[0])
        raise JournalError(f"{path}: checkpoint {k} has time {int(ck['ts'][k])}, not the stamp "
                           f"{int(timestamps(first[k:k + 1])[0])} of its first record {int(start[k])}")
    bad = np.flatnonzero(((first["flags"] & last["flags"]) & KEYFRAME) == 0)
    if len(bad):
        k = int(bad[0])
        raise JournalError(f"{path}: checkpoint {k} (records {int(start[k])}..{int(end[k]) - 1}) does not begin "
                           f"and end with KEYFRAME records")


def pack_index(ent, ck, stride):
    """Index table bytes from entry and checkpoint arrays."""
    body = ent.tobytes() + ck.tobytes()
    head = struct.pack("<8sQQI", INDEX_MAGIC, len(ent), len(ck), stride)
    crc = zlib.crc32(body, zlib.crc32(head))
    return head + struct.pack("<I", crc) + body


cdef _index_arrays(jrnl_index_t* ix):
    """Copy an in-memory index into (entries, checkpoints) numpy arrays in file form (byte offsets)."""
    cdef Py_ssize_t i
    ent = np.empty(ix.n_ent, INDEX_ENTRY_DTYPE)
    ck = np.zeros(ix.n_ckpt, CHECKPOINT_DTYPE)
    if ix.n_ent:                           # (a refresh of a long day: tens of thousands of entries)
        ent["ts"] = <int64_t[:ix.n_ent]>ix.ent_ts
        ent["offset"] = np.asarray(<uint64_t[:ix.n_ent]>ix.ent_rec) * np.uint64(JRNL_REC_SIZE) + \
            np.uint64(JRNL_HEADER_SIZE)
    for i in range(ix.n_ckpt):
        ck[i] = (ix.ckpt[i].ts_ns, JRNL_HEADER_SIZE + ix.ckpt[i].rec_no * JRNL_REC_SIZE, ix.ckpt[i].n_recs, 0)
    return ent, ck


def _open_run_start(flags):
    """Record number where a trailing KEYFRAME run without its CHECKPOINT_END starts (a checkpoint being
    written, or cut by a crash); len(flags) when the records do not end in one.  Reads only that run's
    flags, from the end."""
    cdef Py_ssize_t n = len(flags), hi = n, lo, step = 4096
    while hi > 0:
        lo = max(0, hi - step)
        f = flags[lo:hi]
        stop = np.flatnonzero(((f & JRNL_F_KEYFRAME) == 0) | ((f & JRNL_F_CHECKPOINT_END) != 0))
        if len(stop):
            return lo + int(stop[len(stop) - 1]) + 1
        hi = lo
        step *= 2
    return 0


def build_index(records, uint32_t stride):
    """Scan records (any buffer of 32-byte records) as the writer would -> (entries, checkpoints)."""
    cdef jrnl_index_t ix
    cdef const uint8_t[::1] raw = np.ascontiguousarray(records).view(np.uint8).reshape(-1)
    cdef Py_ssize_t n = raw.shape[0] // JRNL_REC_SIZE
    cdef int rc = 0
    if jrnl_index_init(&ix, stride) < 0:
        jrnl_index_free(&ix)
        raise MemoryError()
    try:
        if n:
            with nogil:
                rc = jrnl_index_feed(&ix, &raw[0], n)
        if rc < 0:
            raise MemoryError()
        return _index_arrays(&ix)
    finally:
        jrnl_index_free(&ix)


def _as_record_bytes(records):
    """A C-contiguous uint8 view of whole 32-byte records: a CHANGE_RECORD_DTYPE array, or the raw bytes of
    records in any other buffer (bytes, bytearray, memoryview, ...; taken as they are).  ValueError for a
    partial record; TypeError for a numpy array of another dtype (a float64 array used to be journaled as
    "records" that verify passed and no store could apply) or an object that is not a buffer."""
    if isinstance(records, np.ndarray):
        if not _records_dtype_ok(records.dtype):  # before the size: a float64 array is no records, whatever its size
            raise TypeError(f"records must have CHANGE_RECORD_DTYPE, not {records.dtype} (raw record bytes: "
                            f"a uint8 array, bytes, a bytearray or a memoryview)")
        if records.nbytes % JRNL_REC_SIZE:
            raise ValueError(f"{records.nbytes} bytes is not a whole number of {JRNL_REC_SIZE}-byte records")
        return np.ascontiguousarray(records).view(np.uint8).reshape(-1)
    try:
        mv = memoryview(records)
    except TypeError:
        raise TypeError(f"records must be a CHANGE_RECORD_DTYPE array or the bytes of whole {JRNL_REC_SIZE}-byte "
                        f"records, not {type(records).__name__}") from None
    arr = np.frombuffer(mv if mv.c_contiguous else mv.tobytes(), np.uint8)
    if arr.shape[0] % JRNL_REC_SIZE:
        raise ValueError(f"{arr.shape[0]} bytes is not a whole number of {JRNL_REC_SIZE}-byte records")
    return arr


# ----------------------------------------------------------------------------------------------------------
# Updates a writer must not cut (docs/FORMATS.md, "Journal": "Updates are never cut")
# ----------------------------------------------------------------------------------------------------------

cdef inline uint32_t _rec_token(const uint8_t* r) noexcept nogil:
    cdef uint32_t t
    memcpy(&t, r, 4)
    return t


cdef inline bint _leaves_update_open(const uint8_t* r) noexcept nogil:
    """Whether record r is a live record (not KEYFRAME) flagged CONTINUED: more records of its token's update
    follow, so the next record must be of its token (a store refuses anything else: "a CONTINUED update
    changes token").  A checkpoint's records (KEYFRAME) are the store's keyframes, written as given."""
    return (r[11] & (JRNL_F_CONTINUED | JRNL_F_KEYFRAME)) == JRNL_F_CONTINUED


cdef Py_ssize_t _first_cut(const uint8_t* prev, const uint8_t* recs, Py_ssize_t n, bint whole) noexcept nogil:
    """Index of the first of the n records that would cut an update -- a record of another token after a live
    record flagged CONTINUED; ``prev`` is the record before recs[0] (the file's last) or NULL -- or -1.  With
    ``whole`` (a checkpoint's records, all KEYFRAME) a CONTINUED record among the n is held to its token too."""
    cdef Py_ssize_t i
    cdef const uint8_t* r
    for i in range(n):
        r = recs + i * JRNL_REC_SIZE
        if (prev != NULL and _rec_token(prev) != _rec_token(r)
                and (_leaves_update_open(prev) or (whole and i > 0 and prev[11] & JRNL_F_CONTINUED))):
            return i
        prev = r
    return -1


cdef int _last_record(jrnl_writer_t* w, uint8_t* out) except -1:
    """Copy the last record the open file has accepted (the buffer's last, else the last one written: after a
    reopen, the file's last record) into out.  1, or 0 when the file holds no record yet.  A C pread, so the
    GIL is held throughout (no other thread's call can start meanwhile)."""
    cdef Py_ssize_t k, done = 0
    cdef int64_t off
    if w.buf_recs > 0:
        memcpy(out, w.buf + (w.buf_recs - 1) * JRNL_REC_SIZE, JRNL_REC_SIZE)
        return 1
    if w.n_written == 0:
        return 0
    off = JRNL_HEADER_SIZE + <int64_t>(w.n_written - 1) * JRNL_REC_SIZE
    while done < JRNL_REC_SIZE:
        k = c_pread(w.fd, out + done, JRNL_REC_SIZE - done, off + done)
        if k < 0:
            if errno == EINTR:
                continue
            raise OSError(errno, f"journal: cannot read its last record: {os.strerror(errno)}")
        if k == 0:
            raise JournalError(f"journal: the file ends before its record {w.n_written - 1} (shrunk under "
                               f"its writer)")
        done += k
    return 1


cdef int _refuse_cut(JournalWriter jw, const uint8_t* recs, Py_ssize_t n, str what, bint whole=False) except -1:
    """ValueError (nothing written) when appending the n records would cut an update: a record of another
    token after a live record flagged CONTINUED, the journal's last one (also after a reopen) or one of
    them; with ``whole`` (a checkpoint) also after one of them flagged CONTINUED, KEYFRAME or not, and a
    CONTINUED last record.  The caller holds the GIL and has checked that no other thread's call holds the
    writer."""
    cdef uint8_t last[JRNL_REC_SIZE]
    cdef const uint8_t* prev = NULL
    cdef const uint8_t* before
    cdef Py_ssize_t i
    if _last_record(&jw._w, last):
        prev = last
    i = _first_cut(prev, recs, n, whole)
    if i < 0:
        if whole and n and recs[(n - 1) * JRNL_REC_SIZE + 11] & JRNL_F_CONTINUED:
            raise ValueError(f"{jw._path}: {what} refused, nothing written: its last record (token "
                             f"{_rec_token(recs + (n - 1) * JRNL_REC_SIZE)}) is flagged CONTINUED: a checkpoint "
                             f"holds whole updates")
        return 0
    before = prev if i == 0 else recs + (i - 1) * JRNL_REC_SIZE
    a = _rec_token(before)
    b = _rec_token(recs + i * JRNL_REC_SIZE)
    if i == 0:
        where = f"the journal's last record (record {jw._w.n_records - 1}) is token {a}'s, flagged CONTINUED"
    else:
        where = f"its record {i - 1} is token {a}'s, flagged CONTINUED"
    raise ValueError(f"{jw._path}: {what} refused, nothing written: its record {i} (token {b}) would cut an "
                     f"update: {where} (more records of token {a}'s update follow, and a CONTINUED update "
                     f"cannot change token: replay into a store would fail there).  "
                     + (f"A checkpoint holds whole updates" if whole and i > 0 else
                        f"Append the rest of token {a}'s update first (its last record without CONTINUED)"))


cdef bint _ends_inside_update(JournalWriter jw) except -1:
    """Whether the journal's last record leaves an update open (a live record flagged CONTINUED)."""
    cdef uint8_t last[JRNL_REC_SIZE]
    return _last_record(&jw._w, last) == 1 and _leaves_update_open(last)


def cut_updates(recs, chunk: int = 1 << 22):
    """Record numbers i (int64) where record i - 1 is flagged CONTINUED (more records of its token's update
    follow) and record i is of another token: what ``Store.apply_records`` refuses ("a CONTINUED update
    changes token"), checkpoint records included.  ``recs``: CHANGE_RECORD_DTYPE records (a file's mapping);
    read in pieces of ``chunk``.  verify reports these; a reopen closes them (_close_cut_updates)."""
    n = len(recs)
    out = [np.zeros(0, np.int64)]
    for a in range(0, max(n - 1, 0), chunk):
        b = min(n, a + chunk + 1)
        f = recs["flags"][a:b - 1]
        t = recs["token"][a:b]
        # (no negative index in this module: it is built with wraparound=False)
        out.append(np.flatnonzero(((f & CONTINUED) != 0) & (t[1:] != t[:b - a - 1])).astype(np.int64) + (a + 1))
    return np.concatenate(out)


def _close_cut_updates(fd, Py_ssize_t n):
    """Close every update the first n records of the journal open at fd (for writing) cut short -- a record of
    another token follows one flagged CONTINUED (cut_updates), or the last record is a live one flagged
    CONTINUED (its writer stopped mid-update) -- by clearing the CONTINUED flag of the update's last record
    written, so that a store replaying the file applies the fields it has and goes on; nothing is dropped.
    Returns those record numbers."""
    if n <= 0:
        return []
    with mmap.mmap(fd, JRNL_HEADER_SIZE + n * JRNL_REC_SIZE, access=mmap.ACCESS_READ) as mm:
        recs = np.frombuffer(mm, CHANGE_RECORD_DTYPE, n, JRNL_HEADER_SIZE)
        at = (cut_updates(recs) - 1).tolist()
        if (int(recs["flags"][n - 1]) & (JRNL_F_CONTINUED | JRNL_F_KEYFRAME)) == JRNL_F_CONTINUED:
            at.append(n - 1)
        flags = recs["flags"][at].tolist()
        del recs
    for i, f in zip(at, flags):
        os.pwrite(fd, bytes([f & ~JRNL_F_CONTINUED & 0xFF]), JRNL_HEADER_SIZE + i * JRNL_REC_SIZE + 11)
    return at


# ----------------------------------------------------------------------------------------------------------
# Writer
# ----------------------------------------------------------------------------------------------------------

_FSYNC = ("never", "flush", "seal")


#: JournalWriter.reopen passes root=(_EXACT, path): write that existing file itself, not
#: <root>/<FEED>/YYYYMMDD.bin
_EXACT = object()


#: (st_dev, st_ino) of each file a JournalWriter of this process holds -> the pid that opened it, so that a
#: second writer of the same file can say it is this process's own (flock tells only that the file is held)
_WRITING = {}


def _file_key(fd):
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


#: this process's JournalWriters with a file open (the at-fork hook below)
_LIVE = weakref.WeakSet()


cdef void _drop_in_child(JournalWriter jw) noexcept:
    """In a forked child: this copy of a parent's writer lets go of the file without writing anything.  Its
    buffer holds the parent's records (the parent writes them; written here too they would be in the file
    twice), and its descriptor shares the parent's open file, lock and offset.  From now on it is closed."""
    if jw._w.fd >= 0:
        c_close(jw._w.fd)
        jw._w.fd = -1
    jw._w.buf_recs = 0


def _drop_writers_in_child():
    for jw in list(_LIVE):
        _drop_in_child(<JournalWriter>jw)
    _LIVE.clear()
    _WRITING.clear()


os.register_at_fork(after_in_child=_drop_writers_in_child)


def _forget_fd(fd):
    """A writer of this process lets go of the file open at ``fd`` (before closing it)."""
    try:
        key = _file_key(fd)
    except OSError:
        return
    if _WRITING.get(key) == os.getpid():
        del _WRITING[key]


def _seconds_ok(v):
    """A real number of seconds, >= 0 and at most MAX_INTERVAL_S (not a bool, NaN or infinity): more would
    overflow the writer's int64 ns (an OverflowError after the day's file was made)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= MAX_INTERVAL_S


@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")
cdef class JournalWriter:
    """Appends change records to ``<root>/<FEED>/YYYYMMDD.bin`` (docs/FORMATS.md, "Journal").

    Durability policy: records are copied into a user-space buffer of ``buffer_records`` records and written
    to the file (the OS page cache) when the buffer is full, when ``flush_interval`` seconds have passed at the
    next append or ``poll()``, and on ``flush()``/``close()``.  Records in the page cache survive a kill -9 of
    this process; ``fsync="flush"`` also survives an OS crash or power loss at every flush, ``"seal"`` (the
    default) fsyncs when a day is sealed, ``"never"`` leaves it to the OS.

    ``preallocate`` (bytes, default 64 MiB, 0 = off): before a write passes the space already reserved, the
    writer reserves that much more beyond it with ``fallocate(FALLOC_FL_KEEP_SIZE)`` (Linux), so the kernel's
    buffered write() finds its blocks allocated instead of reserving delayed-allocation space page by page.
    The file's size, and so its format and crash recovery, are unchanged; the space past the end is handed
    back when the day is sealed (a crashed writer leaves it reserved until the file is next sealed).  Where
    fallocate fails (unsupported filesystem, disk full) the writer stops preallocating that file.

    When the buffer is full, the writer writes the records up to the last file offset that is a multiple of
    64 KiB and keeps the rest (less than 64 KiB) buffered, so that size-driven writes cover whole page-cache
    folios; ``flush()``, ``close()``, the flush interval and ``fsync="flush"`` write everything, as before.

    Opening an existing file of the same feed and day reopens it: a torn tail (a partially written record left
    by a crash) is cut, an index of a sealed file is dropped, the index and checkpoint table are rebuilt from
    the records, and appends continue.  An update cut short (the file ends inside one, its writer having
    stopped mid-update, or records of another token follow one flagged CONTINUED) is closed where it was cut:
    the CONTINUED flag of its last record written is cleared, so a store replaying the file applies the fields
    it has and goes on; nothing is dropped.  ``recovered`` says what was found
    (``recovered["closed_updates"]``: those record numbers).

    The trading day rolls over when a record is stamped at or after 24 h + ``rollover`` (time of day, IST):
    the day is sealed, the next date's file is opened and such records are re-stamped relative to it.

    Threads: one call at a time holds the writer (an append, a FeedHandler batch journaling to it, a flush,
    close or rollover); the others raise RuntimeError meanwhile, and ``poll()`` returns (docs/FORMATS.md,
    "Writing, durability and crash recovery").
    """

    def __cinit__(self):
        self._w.fd = -1
        self._w.buf = NULL
        memset(&self._w.index, 0, sizeof(jrnl_index_t))

    def __dealloc__(self):
        if self._w.fd >= 0:
            jrnl_flush(&self._w)       # best effort, as after a crash: the next open recovers
            try:
                _forget_fd(self._w.fd)
            except BaseException:      # at interpreter exit the module may be gone: nothing left to tell
                pass
            c_close(self._w.fd)
            self._w.fd = -1
        free(self._w.buf)
        self._w.buf = NULL
        jrnl_index_free(&self._w.index)

    def __init__(self, root, feed, date, *, rollover="00:00", flush_interval=0.05, fsync="seal",
                 checkpoint_interval=60.0, checkpoint_source=None, index_stride=1024, buffer_records=32768,
                 first_seq=0, symbol_id=0, mode=0o600, preallocate=64 << 20):
        self._feed, self._feed_type = _feed_type(feed)
        # whole numbers (a float first_seq failed in the header's packing, after the day's file was made)
        first_seq, symbol_id = _index(first_seq, "first_seq"), _index(symbol_id, "symbol_id")
        buffer_records, index_stride = _index(buffer_records, "buffer_records"), _index(index_stride, "index_stride")
        preallocate = _index(preallocate, "preallocate")
        if not 0 <= symbol_id < 1 << 32:
            raise ValueError(f"symbol_id must be in [0, 2**32), not {symbol_id}")
        if fsync not in _FSYNC:
            raise ValueError(f"fsync must be one of {_FSYNC}, not {fsync!r}")
        if buffer_records < 1:
            raise ValueError("buffer_records must be >= 1")
        if not 0 <= preallocate <= 1 << 40:
            raise ValueError("preallocate must be in [0, 2**40] bytes")
        if not 1 <= index_stride <= 1 << 24:
            raise ValueError("index_stride must be in [1, 2**24]")
        if flush_interval is not None and not _seconds_ok(flush_interval):
            raise ValueError(f"flush_interval must be None (flush when the buffer is full) or a number of "
                             f"seconds >= 0 (0: every append), at most {MAX_INTERVAL_S} s (2**63 ns), not "
                             f"{flush_interval!r}")
        if checkpoint_interval is not None and not _seconds_ok(checkpoint_interval):
            raise ValueError(f"checkpoint_interval must be None or 0 (no checkpoints) or a number of seconds > 0, "
                             f"at most {MAX_INTERVAL_S} s (2**63 ns), not {checkpoint_interval!r}")
        if checkpoint_source is not None and not callable(checkpoint_source):
            raise TypeError("checkpoint_source must be callable(ts_ns) -> keyframe records")
        exact = root[1] if type(root) is tuple and len(root) == 2 and root[0] is _EXACT else None
        self._dir = exact.parent if exact is not None else Path(root) / self._feed
        self._rollover_ns = _time_of_day_ns(rollover)
        self._fsync = fsync
        self._source = checkpoint_source
        self._symbol_id = symbol_id
        self._mode = mode
        self._opts = {
            "flush_interval_ns": -1 if flush_interval is None else int(flush_interval * 1e9),
            "ckpt_interval_ns": 0 if not checkpoint_interval else int(checkpoint_interval * 1e9),
            "stride": int(index_stride),
            "preallocate": int(preallocate),
        }
        self._w.buf = <uint8_t*>malloc(buffer_records * JRNL_REC_SIZE)
        if self._w.buf == NULL:
            raise MemoryError()
        memset(self._w.buf, 0, buffer_records * JRNL_REC_SIZE)   # fault the pages in now, not in the nogil loop
        self._w.cap_recs = buffer_records
        self._open_day(as_date(date), first_seq, exact)

    @classmethod
    def reopen(cls, path, **options):
        """Reopen an existing journal file for appending (recovering it), wherever it lies and whatever its
        name: that very file, never another one (its feed and date come from its header).  Later days roll
        over into ``YYYYMMDD.bin`` beside it."""
        path = Path(path)
        _regular_file(path)
        with open(path, "rb") as f:
            hdr = parse_header(f.read(JRNL_HEADER_SIZE), path)
        return cls((_EXACT, path), hdr["feed"], hdr["trading_date"], **options)

    @classmethod
    def _reopen_cut(cls, path, feed, date, **options):
        """Reopen ``path``, a file cut inside its header (``cut_header``), as the journal of ``feed`` and
        ``date``, which its path names (its bytes do not hold them): the recovery writes it as a new file."""
        return cls((_EXACT, Path(path)), feed, date, **options)

    # -- opening and recovery ------------------------------------------------------------------------------

    def _open_day(self, date, first_seq, exact=None):
        """Open (creating it if need be) and recover the file of ``date``: ``<dir>/YYYYMMDD.bin``, or
        ``exact``, an existing file (reopen), which is opened without O_CREAT."""
        if not _FIRST_DAY <= date <= _LAST_DAY:          # a header parse_header would call damaged
            raise ValueError(f"a journal's trading date is {_FIRST_DAY} .. {_LAST_DAY}, not {date}")
        if not 0 <= first_seq < _SEQ_LIMIT:
            raise ValueError(f"first_seq must be in [0, 2**62), not {first_seq}")
        if exact is not None:
            path = exact
            fd = os.open(path, os.O_RDWR)
        else:
            path = self._dir / f"{date_int(date):08d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, self._mode)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if _WRITING.get(_file_key(fd)) == os.getpid():
                    raise JournalError(f"{path}: being written by another JournalWriter of this process (pid "
                                       f"{os.getpid()}): close that one first (locked)") from None
                raise JournalError(f"{path}: being written by another process (locked)") from None
            info = self._recover(fd, path, date, first_seq)
        except BaseException:
            os.close(fd)
            raise
        _WRITING[_file_key(fd)] = os.getpid()
        _LIVE.add(self)
        self._path = path
        self._date = date
        self.recovered = info
        cdef jrnl_writer_t* w = &self._w
        w.fd = fd
        w.err = 0
        w.buf_recs = 0
        w.day_end_ns = DAY_NS + self._rollover_ns
        w.day_over = 0
        w.flush_interval_ns = self._opts["flush_interval_ns"]
        w.fsync_on_flush = self._fsync == "flush"
        w.ckpt_interval_ns = self._opts["ckpt_interval_ns"]
        w.ckpt_due = 0
        w.last_flush_ns = _mono_ns()
        w.n_records = w.n_written = w.index.n_seen
        w.prealloc_bytes = self._opts["preallocate"]
        w.alloc_end = JRNL_HEADER_SIZE + <int64_t>w.n_written * JRNL_REC_SIZE
        w.max_ts = w.index.max_ts
        if w.max_ts >= 0 and w.ckpt_interval_ns > 0:
            w.next_ckpt_ns = (w.max_ts // w.ckpt_interval_ns + 1) * w.ckpt_interval_ns
        else:
            w.next_ckpt_ns = -1

    def _recover(self, fd, path, date, first_seq):
        """Create the header of a new file, or check an existing one, cut a torn tail (and a checkpoint the
        crash cut short) and rebuild the index."""
        cdef Py_ssize_t n
        cdef int rc = 0
        size = os.fstat(fd).st_size
        jrnl_index_free(&self._w.index)
        info = {"existed": size > 0, "torn_bytes": 0, "was_sealed": False, "records": 0}
        if 0 < size < JRNL_HEADER_SIZE and cut_header(os.pread(fd, size, 0), self._feed_type, date_int(date)):
            # its writer stopped before the header was whole: no record in it, and feed and day are this one's;
            # written again as a new file (the header whole or none, below)
            os.ftruncate(fd, 0)
            info.update(existed=False, cut_header_bytes=size)
            size = 0
        if size == 0:
            self._first_seq = first_seq
            self._version = JRNL_VERSION
            self._created = time.time_ns()
            stride = self._opts["stride"]
            # the whole header or none: one cut short (a full disk) would make every later open of this day's
            # file a JournalError (a damaged header) instead of a new file
            try:
                _pwrite_all(fd, pack_header(self._feed_type, JRNL_OPEN, date_int(date), self._symbol_id, 0,
                                            self._created, 0, first_seq, stride), 0)
            except OSError:
                try:
                    os.ftruncate(fd, 0)
                except OSError:
                    pass
                raise
            if jrnl_index_init(&self._w.index, stride) < 0:
                raise MemoryError()
            os.lseek(fd, JRNL_HEADER_SIZE, os.SEEK_SET)
            return info
        hdr = parse_header(os.pread(fd, JRNL_HEADER_SIZE, 0), path)
        if hdr["feed_type"] != self._feed_type:
            raise JournalError(f"{path}: a file of feed {hdr['feed']}, not {self._feed}")
        if hdr["trading_date"] != date:
            raise JournalError(f"{path}: trading date {hdr['trading_date']}, expected {date}")
        stride = hdr["index_stride"]
        self._first_seq = hdr["first_seq"]
        self._version = hdr["version"]
        self._created = hdr["created_ns"]
        self._symbol_id = hdr["symbol_id"]
        data_end = JRNL_HEADER_SIZE + (size - JRNL_HEADER_SIZE) // JRNL_REC_SIZE * JRNL_REC_SIZE
        if hdr["sealed"] != JRNL_OPEN:
            info["was_sealed"] = hdr["sealed"] == JRNL_SEALED
            off = hdr["index_offset"]
            if (JRNL_HEADER_SIZE <= off <= size and (off - JRNL_HEADER_SIZE) % JRNL_REC_SIZE == 0
                    and off == JRNL_HEADER_SIZE + hdr["record_count"] * JRNL_REC_SIZE):
                data_end = off
            else:
                # an index offset that cannot be right: trust the record count if it fits, else the size
                cnt_end = JRNL_HEADER_SIZE + hdr["record_count"] * JRNL_REC_SIZE
                if cnt_end <= size:
                    data_end = cnt_end
                info["bad_index_offset"] = off
        else:
            info["torn_bytes"] = size - data_end
        n = (data_end - JRNL_HEADER_SIZE) // JRNL_REC_SIZE
        if n > 0:
            rc = self._scan(fd, data_end, n, stride)
            if rc == 0 and hdr["sealed"] == JRNL_OPEN and self._w.index.in_run:
                # a checkpoint cut by the crash: its KEYFRAME run never completed and never will (appends
                # would void it), so it goes; the records before it are the live stream, untouched
                info["torn_checkpoint_records"] = n - <Py_ssize_t>self._w.index.run_start
                n = <Py_ssize_t>self._w.index.run_start
                data_end = JRNL_HEADER_SIZE + n * JRNL_REC_SIZE
                rc = self._scan(fd, data_end, n, stride)
            if rc < 0:
                raise MemoryError()
        elif jrnl_index_init(&self._w.index, stride) < 0:
            raise MemoryError()
        if data_end != size:
            os.ftruncate(fd, data_end)
        # an update cut short (its writer stopped mid-update, a crash; or records of another token written after
        # one flagged CONTINUED) is closed where it was cut: nothing dropped, and appends start a new update
        closed = _close_cut_updates(fd, n)
        if closed:
            info["closed_updates"] = closed
        _pwrite_all(fd, pack_header(self._feed_type, JRNL_OPEN, date_int(date), self._symbol_id, n,
                                    self._created, 0, self._first_seq, stride, self._version), 0)
        os.lseek(fd, data_end, os.SEEK_SET)
        info["records"] = n
        return info

    cdef int _scan(self, int fd, Py_ssize_t data_end, Py_ssize_t n, uint32_t stride) except -2:
        """(Re)build the writer's index from the file's first n records; -1 when out of memory."""
        cdef const uint8_t[::1] raw
        cdef int rc = 0
        jrnl_index_free(&self._w.index)
        if jrnl_index_init(&self._w.index, stride) < 0:
            return -1
        if n > 0:
            with mmap.mmap(fd, data_end, access=mmap.ACCESS_READ) as mm:
                arr = np.frombuffer(mm, np.uint8, n * JRNL_REC_SIZE, JRNL_HEADER_SIZE)
                raw = arr
                with nogil:
                    rc = jrnl_index_feed(&self._w.index, &raw[0], n)
                del raw, arr
        return rc

    cdef uint64_t _unnumbered(self) noexcept:
        """Records of the open file that take no sequence number: those of complete checkpoints, and of a
        KEYFRAME run at the end that has not completed (version 2; none in a version-1 file)."""
        cdef const jrnl_index_t* ix = &self._w.index
        cdef uint64_t k = 0
        cdef Py_ssize_t i
        if self._version < 2:
            return 0
        if self._w.fd < 0:                 # closed: its index is gone, the count taken at the close stays
            return self._unnumbered_closed
        for i in range(ix.n_ckpt):
            k += ix.ckpt[i].n_recs
        if ix.in_run:
            k += ix.n_seen - ix.run_start
        return k

    # -- C access ------------------------------------------------------------------------------------------

    cdef jrnl_writer_t* c_writer(self) except NULL:
        if self._w.fd < 0:
            raise ValueError("journal writer is closed")
        return &self._w

    cdef int _hold(self) except -1:
        """With the GIL, before a call that uses the C state where another thread could run meanwhile (an
        append or a FeedHandler batch without the GIL, a flush, seal or rollover across the GIL-releasing
        os calls): one such call at a time.  RuntimeError when another thread's call holds the writer:
        closing it there would seal the file and free its index under the appends (a sealed file that does
        not read back), and two appends at once would interleave in the buffer."""
        self._check_free()
        self._held = 1
        return 0

    cdef int _check_free(self) except -1:
        """RuntimeError if another thread's call holds the writer (_hold), else nothing."""
        if self._held:
            raise RuntimeError("this JournalWriter is in use by a call in another thread (an append, a "
                               "FeedHandler batch or a close): call it after that returns")
        return 0

    cdef void _release(self) noexcept:
        self._held = 0

    def check(self):
        """Raise OSError if a write failed since the file was opened."""
        if self._w.err:
            raise OSError(self._w.err, f"{self._path}: journal write failed: {os.strerror(self._w.err)}")

    # -- appending -----------------------------------------------------------------------------------------

    def append(self, records):
        """Append change records: a CHANGE_RECORD_DTYPE array, or the raw bytes of whole 32-byte records
        (bytes, bytearray, memoryview or another buffer, written as they are).  A numpy array of any other
        dtype is refused (TypeError naming it), and so is a partial record (ValueError).

        Updates are never cut: a record of another token after a live record flagged CONTINUED (more records
        of that token's update follow) -- the journal's last record, also when the file was reopened, or one
        of ``records`` -- is a ValueError naming both, and nothing is written (a store replaying the journal
        would refuse it there: "a CONTINUED update changes token").  Append the rest of that update first.

        Records stamped at or after the rollover seal this day and go, re-stamped, into the next day's file.
        When a checkpoint source was given and a checkpoint is due, it is taken after the batch (once the
        journal ends on a whole update).  Returns the number of records appended."""
        return self._append(records, True)

    def _append(self, records, auto):
        cdef const uint8_t[::1] raw = _as_record_bytes(records)
        cdef Py_ssize_t n = raw.shape[0] // JRNL_REC_SIZE
        self.c_writer()                    # a closed writer refuses even an empty append
        if n == 0:
            return 0
        self._check_free()                 # RuntimeError first: another thread's call may be filling the buffer
        _refuse_cut(self, &raw[0], n, "append", False)
        total = self._append_c(&raw[0], n)
        if auto:
            self.maybe_checkpoint()
        return total

    cdef Py_ssize_t _append_c(self, const void* recs, Py_ssize_t n) except -1:
        """Append n > 0 records (the caller keeps them valid) in one nogil call.  Records stamped at or after
        the day's end seal the day; they go, re-stamped, into the next day's file.  Returns n."""
        cdef jrnl_writer_t* w = self.c_writer()
        cdef const uint8_t[::1] more
        cdef Py_ssize_t k = 0
        self._hold()
        try:
            with nogil:
                k = jrnl_append(w, recs, n)
        finally:
            self._release()
        if k < 0:
            self.check()
        if k < n:
            rest = np.frombuffer((<const char*>recs)[k * JRNL_REC_SIZE:n * JRNL_REC_SIZE],
                                 CHANGE_RECORD_DTYPE).copy()
            ts = timestamps(rest)
            days = int((int(ts[0]) - self._rollover_ns) // DAY_NS)
            rest["ts_lo"], rest["ts_hi"] = _restamp(ts, days)
            self.rollover(self._date + _dt.timedelta(days=days))
            more = rest.view(np.uint8)
            self._append_c(&more[0], n - k)
        return n

    def checkpoint(self, records, ts_ns=None):
        """Write a full-state checkpoint: ``records`` are the state as change records (e.g.
        ``store.keyframe_records(ts)``).  They are stamped ``ts_ns`` when given, flagged KEYFRAME, and the last
        one CHECKPOINT_END, so that a torn checkpoint is recognised; their CONTINUED bits (the store's: more
        records of the same token's update follow) are kept.  An empty state
        writes nothing (the state then folds from the previous checkpoint).  Like ``append``, a checkpoint
        whose first record is of another token than a live update the journal ends inside (its last record
        flagged CONTINUED) is a ValueError, and nothing is written; so are records that are not whole updates
        (a CONTINUED record followed by one of another token, or a CONTINUED last record), which replay would
        refuse."""
        arr = checkpoint_records(records, ts_ns)
        cdef const uint8_t[::1] raw = arr.view(np.uint8)
        if len(arr):
            self.c_writer()
            self._check_free()
            _refuse_cut(self, &raw[0], len(arr), "checkpoint", True)
        return self._checkpoint_c(&raw[0] if len(arr) else NULL, len(arr))

    cdef Py_ssize_t _checkpoint_c(self, const void* recs, Py_ssize_t n) except -1:
        """checkpoint() of n records already flagged and stamped (checkpoint_records' output, or the
        FeedHandler's own C buffer), without a copy: appended in one call, then the next checkpoint is
        scheduled."""
        cdef jrnl_writer_t* w = self.c_writer()
        self._check_free()                 # the schedule below is a holder's state too
        if n > 0:
            self._append_c(recs, n)
        w.ckpt_due = 0
        if w.ckpt_interval_ns > 0 and w.max_ts >= 0:
            w.next_ckpt_ns = (w.max_ts // w.ckpt_interval_ns + 1) * w.ckpt_interval_ns
        return n

    def maybe_checkpoint(self):
        """Take a checkpoint from the checkpoint source if one is due.  Returns True if one was written.  While
        the journal ends inside an update (its last record is a live record flagged CONTINUED) the checkpoint
        waits (it stays due): it cannot go between the records of one update."""
        cdef jrnl_writer_t* w = self.c_writer()
        if self._source is None or not w.ckpt_due:
            return False
        self._check_free()
        if _ends_inside_update(self):
            return False
        ts = w.max_ts
        self.checkpoint(self._source(ts), ts)
        return True

    def poll(self):
        """Flush if the flush interval has passed (call from an idle loop).  Nothing to do while another
        thread's call holds the writer: its appends flush on the same interval."""
        cdef jrnl_writer_t* w = self.c_writer()
        if self._held:
            return
        if jrnl_poll(w) < 0:
            self.check()

    def flush(self):
        """Write buffered records to the file and refresh the header's record count.  RuntimeError while
        another thread's call holds the writer."""
        cdef jrnl_writer_t* w = self.c_writer()
        self._hold()
        try:
            if jrnl_flush(w) < 0:
                self.check()
            self._write_header(JRNL_OPEN, 0)
        finally:
            self._release()

    def _reopen_closed_update(self):
        """The update the file ended inside, which this writer's reopen closed (it cleared CONTINUED on the
        file's last record), goes on: flag that record CONTINUED again, so that the records appended next make
        it one update (vega.capture appends the rest from a killed capture's ring).  True when done: the file's
        last record is the one the reopen closed, and nothing was appended since."""
        cdef jrnl_writer_t* w = self.c_writer()
        n = self.recovered.get("records", 0)
        closed = self.recovered.get("closed_updates") or []
        # (closed[len(closed) - 1]: this module is built with wraparound=False, [-1] would read before the list)
        if not n or not closed or closed[len(closed) - 1] != n - 1 or w.n_records != n:
            return False
        self._check_free()
        at = JRNL_HEADER_SIZE + JRNL_REC_SIZE * (n - 1) + 11             # its flags byte
        os.pwrite(w.fd, bytes([os.pread(w.fd, 1, at)[0] | JRNL_F_CONTINUED]), at)
        return True

    def _write_header(self, state, index_offset):
        _pwrite_all(self._w.fd, pack_header(self._feed_type, state, date_int(self._date), self._symbol_id,
                                            self._w.n_written, self._created, index_offset, self._first_seq,
                                            self._w.index.stride, self._version), 0)     # (a short count raises)

    def _seal(self):
        cdef jrnl_writer_t* w = &self._w
        if jrnl_flush(w) < 0:
            self.check()
        if w.index.oom:
            raise MemoryError("journal index incomplete; the file stays unsealed and reopens cleanly")
        n = w.n_written
        off = JRNL_HEADER_SIZE + n * JRNL_REC_SIZE
        self._write_header(JRNL_SEALING, off)
        ent, ck = _index_arrays(&w.index)
        index = pack_index(ent, ck, w.index.stride)
        try:
            # all of it: a full disk writes part of the table (a short count, no error) and only the next write
            # fails; ftruncate to the table's end would then make the rest a hole, and the header SEALED would
            # claim a table that is not there (a read of its mapping on tmpfs is a SIGBUS)
            _pwrite_all(w.fd, index, off)
            os.ftruncate(w.fd, off + len(index))   # same size: hands back the space preallocated past the end
        except OSError:
            try:                               # the file stays open as it was: its records whole, no table
                os.ftruncate(w.fd, off)
                self._write_header(JRNL_OPEN, 0)
            except OSError:
                pass                           # (SEALING then: verify --repair and a reopen cut the table)
            raise
        if self._fsync != "never":
            os.fsync(w.fd)
        self._write_header(JRNL_SEALED, off)
        if self._fsync != "never":
            os.fsync(w.fd)

    def _close_fd(self):
        if self._w.fd >= 0:
            self._unnumbered_closed = self._unnumbered()    # (next_seq after the close)
            _forget_fd(self._w.fd)
            c_close(self._w.fd)            # releases the flock
            self._w.fd = -1
        jrnl_index_free(&self._w.index)

    def close(self):
        """Flush, write the index and checkpoint table, mark the file sealed and close it.  RuntimeError while
        another thread's call holds the writer (e.g. a FeedHandler batch journaling to it): close after
        that call returns."""
        if self._w.fd < 0:
            return
        self._hold()
        try:
            self._seal_and_close()
        finally:
            self._release()

    def _seal_and_close(self):
        try:
            if self._w.err:
                self.check()
            self._seal()
        finally:
            self._close_fd()

    def rollover(self, date=None):
        """Seal this day and continue in the file of ``date`` (default the next calendar day).  Sequence
        numbers continue: the new file's first_seq is this file's ``next_seq``.  RuntimeError while another
        thread's call holds the writer; ``ValueError("journal writer is closed")`` once closed, as an append
        (and so a FeedHandler batch of a later day), touching nothing: the sealed file stays as it is and
        ``check()`` still passes."""
        self.c_writer()                    # closed: refuse before the seal would write to the closed fd
        new_date = self._date + _dt.timedelta(days=1) if date is None else as_date(date)
        if new_date <= self._date:
            raise ValueError(f"rollover to {new_date} is not after {self._date}")
        if new_date > _LAST_DAY:                         # refused before this day is sealed
            raise ValueError(f"a journal's trading date is {_FIRST_DAY} .. {_LAST_DAY}, not {new_date}")
        next_seq = self.next_seq
        self._hold()
        try:
            self._seal_and_close()
            self._open_day(new_date, next_seq)
        finally:
            self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- introspection -------------------------------------------------------------------------------------

    def __reduce__(self):
        raise TypeError("cannot pickle a vega.JournalWriter (the one writer of its day's file): read the file "
                        "in the other process with vega.Journal.open(path)")

    def __repr__(self):
        state = "closed" if self._w.fd < 0 else "open"
        return (f"<vega.JournalWriter {str(self._path)!r} {self._feed} {self._date}: {self._w.n_records:,} records "
                f"{state}>")

    @property
    def path(self):
        """Path of the file being written."""
        return self._path

    @property
    def date(self):
        """Trading date of the file being written."""
        return self._date

    @property
    def feed(self):
        """Feed name (the directory)."""
        return self._feed

    @property
    def closed(self):
        """True once closed."""
        return self._w.fd < 0

    @property
    def n_records(self):
        """Records appended to this day's file (written + buffered)."""
        return self._w.n_records

    def _restore_removed(self):
        """The day's file was removed (deleted, or its directory with it) while this writer holds it open: every
        byte written is still readable through the descriptor, so write the file again at its path (its
        directory made again), take the lock there, and go on writing in it, with nothing lost.  Returns the
        bytes copied, 0 when the file is where it was (or was moved: still linked, nothing lost).  OSError when
        it cannot be made again (the caller says the journal failed).  vega.capture calls it between batches."""
        cdef jrnl_writer_t* w = self.c_writer()
        cdef int64_t off
        if os.fstat(w.fd).st_nlink > 0:
            return 0
        path = Path(self._path)
        tmp = path.with_name(f".{path.name}.restore-{os.getpid()}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, self._mode)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            size = os.fstat(w.fd).st_size
            done = 0
            while done < size:                  # (copy_file_range: in the kernel, no copy through here)
                k = os.copy_file_range(w.fd, fd, size - done, done, done)
                if k <= 0:
                    raise OSError(_errno.EIO, f"{path}: copying the removed file stopped at {done} of {size} bytes")
                done += k
            os.rename(tmp, path)
            off = os.lseek(w.fd, 0, os.SEEK_CUR)
            os.lseek(fd, off, os.SEEK_SET)      # write(2) goes on at the file offset
            _forget_fd(w.fd)
            os.dup2(fd, w.fd, inheritable=False)    # the writer's descriptor now names the new file (its lock too)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        os.close(fd)
        _WRITING[_file_key(w.fd)] = os.getpid()
        w.alloc_end = 0                         # reserve again in the new file
        return size

    def _revive(self):
        """After a write failed (a full disk): cut the file back to the records written whole, clear the
        error and write the buffered records again, so that the journal goes on exactly where it stopped (its
        in-memory index already holds them).  OSError, and the error stays, when the disk is still full.
        vega.capture calls it while it holds the records made meanwhile."""
        cdef jrnl_writer_t* w = self.c_writer()
        cdef Py_ssize_t extra
        if w.err == 0:
            return
        # a write that failed part way left whole records past n_written: the buffer's first ones (the buffer
        # is written from its start; a direct write of a large append leaves the buffer empty, and its
        # records, never accepted, come again), and a torn one, which goes
        extra = max(0, (os.fstat(w.fd).st_size - JRNL_HEADER_SIZE) // JRNL_REC_SIZE - <Py_ssize_t>w.n_written)
        extra = min(extra, w.buf_recs)
        if extra > 0:
            memmove(w.buf, w.buf + extra * JRNL_REC_SIZE, (w.buf_recs - extra) * JRNL_REC_SIZE)
            w.buf_recs -= extra
            w.n_written += <uint64_t>extra
        end = JRNL_HEADER_SIZE + <int64_t>w.n_written * JRNL_REC_SIZE
        os.ftruncate(w.fd, end)
        os.lseek(w.fd, end, os.SEEK_SET)    # write(2) goes on at the file offset, which the failed write moved
        w.alloc_end = 0                     # reserve again from the new end
        w.err = 0
        if jrnl_flush(w) < 0:
            self.check()

    @property
    def n_written(self):
        """Records handed to the file (the rest are in the user-space buffer)."""
        return self._w.n_written

    @property
    def first_seq(self):
        """Feed sequence number of the open file's first numbered record (its first record that is not part of
        a checkpoint)."""
        return self._first_seq

    @property
    def created_ns(self):
        """The open file's header ``created_ns``: which file of its day it is (a file made again has another)."""
        return self._created

    @property
    def next_seq(self):
        """Feed sequence number the next appended live record will get: live records are numbered one after
        the other; a checkpoint's records take no number (format version 2; in a version-1 file every record
        takes one).  Ring positions are the same numbers (docs/FORMATS.md, "Replay and the handover")."""
        return self._first_seq + self._w.n_records - self._unnumbered()

    @property
    def version(self):
        """Format version of the open file: 2 for files this VEGA creates; 1 for an older file reopened (its
        checkpoints keep taking sequence numbers, and a FeedHandler keeps publishing them to its ring)."""
        return self._version

    @property
    def max_ts(self):
        """Largest ts48 appended today (-1 before the first record)."""
        return self._w.max_ts

    @property
    def checkpoint_due(self):
        """True when feed time passed a checkpoint boundary since the last checkpoint."""
        return bool(self._w.ckpt_due)

    @property
    def day_end_ns(self):
        """ts48 at which this trading day rolls over (24 h + rollover)."""
        return self._w.day_end_ns

    @property
    def checkpoints(self):
        """Complete checkpoints of this day so far (CHECKPOINT_DTYPE)."""
        return _index_arrays(&self._w.index)[1]


def _close_map(mm):
    """Close a reader's memory map, unless arrays handed out still use it (they keep it alive)."""
    try:
        mm.close()
    except BufferError:
        pass


def _restamp(ts, days):
    """(ts_lo, ts_hi) of ts shifted back by `days` days, clamped at 0."""
    t = np.maximum(ts - np.int64(days) * DAY_NS, 0)
    return (t & 0xFFFFFFFF).astype(np.uint32), (t >> 32).astype(np.uint16)


# ----------------------------------------------------------------------------------------------------------
# Reader
# ----------------------------------------------------------------------------------------------------------

@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")
cdef class Journal:
    """A journal file opened read-only over a memory map.  ``Journal.open(path)``.

    Sealed files use their stored index; an open file (being written, or left by a crash) is read up to its
    last whole record before a checkpoint still being written (or cut by a crash), and indexed by a scan.
    Positions are record numbers; ``seek(t)`` puts the cursor on the first record stamped at or after ``t``.
    A time ``t`` (``seek``, ``position``, ``between``,
    ``state_records``, ``snapshot_at``) is ts48 ns since 00:00 IST of the trading day, a ``datetime.time`` or
    ``"HH:MM[:SS[.fffffffff]]"`` (IST), or a datetime or ISO date-time string (IST when naive) or a numpy
    ``datetime64`` of any unit, or a 0-d datetime64 array (UTC, as ``vega.records.datetimes`` gives, a 0-d array
    for one record; NaT and one without a unit are a ValueError) within the file's day: from 00:00 IST of its
    trading date, up to two days on (a rollover after midnight).  A string's fraction of a second, and a
    datetime64, are taken to the nanosecond."""

    cdef object _mm
    cdef object _file
    cdef object _path
    cdef readonly dict header
    cdef readonly Py_ssize_t n_records
    cdef object _records                 # the records over the map (the property `records`), None once closed
    cdef readonly object index
    cdef readonly object checkpoints
    cdef const uint8_t[::1] _raw
    cdef const int64_t[::1] _ent_ts
    cdef Py_ssize_t _stride
    cdef Py_ssize_t _pos
    cdef Py_ssize_t _released            # bytes at the start of the map whose pages _release let go
    cdef object _run_start, _run_end, _run_before
    # the scan of an open file so far, kept so that refresh() scans only the records appended since
    cdef jrnl_index_t _ix
    cdef Py_ssize_t _ix_n                # records fed into _ix; -1: no scan kept
    cdef object _ix_key                  # (st_dev, st_ino, stride) of the file scanned
    cdef bytes _ix_last                  # the last record fed: the file must still hold it to go on

    def __cinit__(self):
        memset(&self._ix, 0, sizeof(jrnl_index_t))
        self._ix_n = -1

    def __dealloc__(self):
        jrnl_index_free(&self._ix)

    def __init__(self, path, feed=None):
        self._path = Path(path)
        self._load(feed)

    cdef _scan(self, mm, Py_ssize_t n, uint32_t stride, object key):
        """(entries, checkpoints) of an open file's first ``n`` records, as ``build_index`` gives them.  The scan
        an earlier load kept goes on from where it stopped when it was of this file (``key``) and the file still
        holds, at its place, the last record it fed; else (the file cut and written again, another file at the
        path) it starts again.  So a refresh of a long day costs what was appended since, not the whole file."""
        cdef const uint8_t[::1] raw = np.frombuffer(mm, np.uint8, n * JRNL_REC_SIZE, JRNL_HEADER_SIZE)
        cdef Py_ssize_t k = self._ix_n
        cdef int rc = 0
        if (k < 0 or k > n or key != self._ix_key
                or (k > 0 and bytes(raw[(k - 1) * JRNL_REC_SIZE:k * JRNL_REC_SIZE]) != self._ix_last)):
            jrnl_index_free(&self._ix)
            self._ix_n = -1
            if jrnl_index_init(&self._ix, stride) < 0:
                jrnl_index_free(&self._ix)
                raise MemoryError()
            self._ix_key = key
            self._ix_n = k = 0
        if n > k:
            with nogil:
                rc = jrnl_index_feed(&self._ix, &raw[k * JRNL_REC_SIZE], n - k)
            if rc < 0:
                jrnl_index_free(&self._ix)
                self._ix_n = -1
                raise MemoryError()
            self._ix_n = n
            self._ix_last = bytes(raw[(n - 1) * JRNL_REC_SIZE:n * JRNL_REC_SIZE])
        return _index_arrays(&self._ix)

    def _load(self, feed):
        """Map and check the file, then take it over in one step: the state of a file that fails its checks
        (a damaged index, a header that no longer reads) is never half taken, so a ``refresh()`` that fails
        leaves the journal as it was (a reader with ``_mm`` set and no records went on to read through a
        NULL pointer)."""
        path = self._path
        _regular_file(path)
        with open(path, "rb") as f:
            head = f.read(JRNL_HEADER_SIZE)
            hdr = parse_header(head, path)
            if feed is not None:
                name, _ = _feed_type(feed)
                if hdr["feed"] != name:
                    raise JournalError(f"{path}: a file of feed {hdr['feed']}, not {name}")
            st = os.fstat(f.fileno())
            size = st.st_size
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            if hdr["sealed"] == JRNL_SEALED:
                jrnl_index_free(&self._ix)       # no more scans: the file has its index
                self._ix_n = -1
                ent, ck = read_index(mm, hdr, size, path)
                n = hdr["record_count"]
            else:
                end = size
                if hdr["sealed"] == JRNL_SEALING and JRNL_HEADER_SIZE <= hdr["index_offset"] <= size:
                    end = hdr["index_offset"]
                n = (end - JRNL_HEADER_SIZE) // JRNL_REC_SIZE
                # up to a checkpoint still being written (or cut by a crash): its partial KEYFRAME chains zeroed
                # tokens in snapshot_at, and a restarted writer's recovery cuts a torn one off the file (a view
                # of it then raised SIGBUS); refresh() maps it once it is complete
                n = _open_run_start(np.frombuffer(mm, CHANGE_RECORD_DTYPE, n, JRNL_HEADER_SIZE)["flags"])
                ent, ck = self._scan(mm, n, hdr["index_stride"], (st.st_dev, st.st_ino, hdr["index_stride"]))
            records = np.frombuffer(mm, CHANGE_RECORD_DTYPE, n, JRNL_HEADER_SIZE)
            raw = np.frombuffer(mm, np.uint8, n * JRNL_REC_SIZE, JRNL_HEADER_SIZE)
            fobj = open(path, "rb", buffering=0)
        except BaseException:
            _close_map(mm)
            raise
        hdr["path"] = path
        # the records that take no sequence number (format 2): the checkpoints (a run still open at the end
        # is not mapped, above); sorted, disjoint; _run_before[k] = records in runs 0..k-1
        start = ((ck["offset"] - JRNL_HEADER_SIZE) // JRNL_REC_SIZE).astype(np.int64)
        length = ck["n_records"].astype(np.int64)
        runs = (start, start + length, np.concatenate(([0], np.cumsum(length))).astype(np.int64))
        ent_ts = np.ascontiguousarray(ent["ts"])
        self.close()                     # the old mapping, if any (refresh): arrays handed out keep it alive
        self._file = fobj
        self._mm = mm
        self.header = hdr
        self.n_records = n
        self._stride = hdr["index_stride"]
        self._records = records
        self._raw = raw
        self.index = ent
        self._ent_ts = ent_ts
        self.checkpoints = ck
        self._pos = 0
        self._released = 0
        self._run_start, self._run_end, self._run_before = runs

    @classmethod
    def open(cls, path, feed=None):
        """Open and check a journal file; ``feed`` (optional) must match the header's feed."""
        return cls(path, feed)

    def refresh(self):
        """Re-read a file that is still being written: map the records appended since it was opened (and
        the index, once it is sealed).  The cursor stays.  Returns the new record count.  A file that no
        longer reads (JournalError: damaged, or its writer is cutting its index to continue the day) leaves
        the journal as it was, still open on what it had mapped: call it again later."""
        self._check_open()
        pos = self._pos
        self._load(self.header["feed"])
        self._pos = min(pos, self.n_records)
        return self.n_records

    def close(self):
        """Drop the memory map (arrays already handed out keep it alive until they go)."""
        self._records = None
        self._raw = None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._mm is not None:
            _close_map(self._mm)
            self._mm = None

    def _release(self, stop):
        """Let the pages of the map holding records before ``stop`` go from this process's memory (they stay
        in the page cache, and arrays over them stay valid: touched again, they are read back from the file).
        A reader walking a day of gigabytes through the map (replay) otherwise held all of it once read."""
        self._check_open()
        end = (JRNL_HEADER_SIZE + min(max(0, _index(stop, "stop")), self.n_records) * JRNL_REC_SIZE)
        end -= end % mmap.PAGESIZE
        if end > self._released:                   # (from where the last call stopped: a day is many calls)
            self._mm.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self):
        # a closed journal reads no records, and says so as its other calls do; ``n_records`` (a header fact,
        # with ``next_seq``) stays readable
        self._check_open()
        return self.n_records

    def __reduce__(self):
        # a read-only view of a file: it pickles as its path, and the other process maps the file again
        # (an open file may have grown by then)
        return (Journal, (str(self._path),))

    def __repr__(self):
        h = self.header
        state = {JRNL_OPEN: "open", JRNL_SEALED: "sealed", JRNL_SEALING: "sealing"}[h["sealed"]]
        return (f"<Journal {h['feed']} {h['trading_date']} {self.n_records} records {state}"
                f"{', closed' if self._mm is None else ''}>")

    @property
    def closed(self):
        """True once ``close()`` dropped the map (the header's facts, ``n_records``, ``next_seq``, stay readable;
        ``len()`` raises ``ValueError("journal is closed")`` as the calls that read records do)."""
        return self._mm is None

    @property
    def records(self):
        """The file's change records (CHANGE_RECORD_DTYPE), a read-only array over the memory map; arrays
        taken from it stay valid after ``close()``.  ValueError("journal is closed") once closed."""
        self._check_open()
        return self._records

    @property
    def path(self):
        """Path of the journal file (a pathlib.Path)."""
        return self._path

    @property
    def feed(self):
        """Feed name from the header."""
        return self.header["feed"]

    @property
    def date(self):
        """Trading date from the header."""
        return self.header["trading_date"]

    @property
    def sealed(self):
        """True when the file was closed cleanly (its index is stored)."""
        return self.header["sealed"] == JRNL_SEALED

    @property
    def first_seq(self):
        """Feed sequence number of the file's first numbered record (its first record outside a checkpoint)."""
        return self.header["first_seq"]

    @property
    def next_seq(self):
        """Feed sequence number of the first live record after this file's (the next file's ``first_seq``,
        or the live ring's position that continues this file): ``seq_at(len(self))``."""
        return self.seq_at(self.n_records)

    def seq_at(self, pos):
        """Feed sequence number of the live record at record number ``pos`` (0 .. ``len(self)``; at
        ``len(self)``: the next one).  Live records are numbered one after the other from ``first_seq``; the
        records of a checkpoint take no number, so a position inside or at a checkpoint gives the number of
        the first live record after it.  So does a position in a KEYFRAME run at the end of a file still
        being written (a checkpoint in progress).  In a format-1 file every record takes a number:
        ``first_seq + pos``."""
        cdef Py_ssize_t p = _index(pos, "pos")
        if not 0 <= p <= self.n_records:
            raise IndexError(f"position {p} outside 0..{self.n_records}")
        return int(self.seq_of(np.array([p]))[0])

    def seqs(self, start=0, stop=None):
        """Feed sequence numbers (uint64) of records ``start`` .. ``stop`` - 1, as ``seq_at`` gives them."""
        a, b, _ = slice(_index(start, "start"), None if stop is None else _index(stop, "stop")).indices(
            self.n_records)
        return self.seq_of(np.arange(a, max(a, b), dtype=np.int64))

    def seq_of(self, positions):
        """``seq_at`` of each record number in ``positions`` (an array; uint64 result)."""
        p = np.asarray(positions, dtype=np.int64)
        if p.size and (p.min() < 0 or p.max() > self.n_records):
            raise IndexError(f"positions outside 0..{self.n_records}")
        first = np.int64(self.header["first_seq"])
        if self.header["version"] < 2 or len(self._run_start) == 0:
            return (p + first).astype(np.uint64)
        start, end, before = self._run_start, self._run_end, self._run_before
        k = np.searchsorted(start, p, side="left")        # runs 0..k-1 start before p
        km1 = np.maximum(k - 1, 0)
        skipped = np.where(k > 0, before[k] - np.maximum(end[km1] - p, 0), 0)
        return (first + p - skipped).astype(np.uint64)

    cdef Py_ssize_t _seek_pos(self, int64_t t) noexcept:
        """First record number whose running-maximum timestamp is >= t (= the first record stamped >= t)."""
        cdef Py_ssize_t lo = 0, hi = self._ent_ts.shape[0], mid, i, end
        cdef const uint8_t* base
        if self.n_records == 0:
            return 0
        while lo < hi:                                 # first entry with ts >= t
            mid = (lo + hi) >> 1
            if self._ent_ts[mid] < t:
                lo = mid + 1
            else:
                hi = mid
        # entry lo (if any) has max ts >= t at record lo*stride; entry lo-1 has max < t: the answer is in
        # ((lo-1)*stride, lo*stride]
        if lo == 0:
            return 0
        i = (lo - 1) * self._stride + 1
        end = lo * self._stride if lo < self._ent_ts.shape[0] else self.n_records
        base = &self._raw[0]
        while i < end and _rec_ts(base + i * JRNL_REC_SIZE) < t:
            i += 1
        return i

    def _check_open(self):
        if self._mm is None:
            raise ValueError("journal is closed")

    def seek(self, t):
        """Move the cursor to the first record stamped at or after ``t`` (a time: see the class) and return its
        record number (``len(self)`` when every record is earlier)."""
        self._check_open()
        self._pos = self._seek_pos(_ts_arg(t, self.date, "seek: t"))
        return self._pos

    def position(self, t):
        """Record number seek(t) would move to, without moving the cursor."""
        self._check_open()
        return self._seek_pos(_ts_arg(t, self.date, "position: t"))

    def tell(self):
        """The cursor (a record number)."""
        return self._pos

    def rewind(self, pos=0):
        """Put the cursor on record ``pos``."""
        pos = _index(pos, "pos")
        if not 0 <= pos <= self.n_records:
            raise IndexError(f"position {pos} outside 0..{self.n_records}")
        self._pos = pos

    def read(self, n=-1, tokens=None, copy=False):
        """The next ``n`` records (all remaining if n < 0) from the cursor, zero-copy over the memory map;
        with ``tokens``, only the records of those tokens (a copy; tokens that are not a collection of ints are a
        TypeError or ValueError, as ``token_array`` says, and the cursor stays).  ``copy=True`` returns a private
        array filled by pread(2), which for bulk sequential reads is faster than faulting in the map."""
        self._check_open()
        start = self._pos
        n = -1 if n is None else _index(n, "n")
        keep = None if tokens is None else token_array(tokens)   # checked before the cursor moves past them
        stop = self.n_records if n < 0 else min(self.n_records, start + n)
        if copy:                            # (the cursor moves once the records are read: a failure leaves it)
            out = np.empty(stop - start, CHANGE_RECORD_DTYPE)
            view = memoryview(out).cast("B")
            done, want = 0, (stop - start) * JRNL_REC_SIZE
            while done < want:
                k = os.preadv(self._file.fileno(), [view[done:]], JRNL_HEADER_SIZE + start * JRNL_REC_SIZE + done)
                if k <= 0:
                    raise JournalError(f"{self._path}: file shrank while reading")
                done += k
        else:
            out = self._records[start:stop]
        self._pos = stop
        if keep is not None:
            out = out[np.isin(out["token"], keep)]
        return out

    def between(self, t0, t1, tokens=None):
        """Records stamped in [t0, t1) (file order; assumes timestamps in order, as the capture writes);
        ValueError when t1 is before t0."""
        self._check_open()
        a, b = _ts_arg(t0, self.date, "between: t0"), _ts_arg(t1, self.date, "between: t1")
        if b < a:
            raise ValueError(f"between: t1 ({t1}) is before t0 ({t0})")
        out = self._records[self._seek_pos(a):self._seek_pos(b)]
        if tokens is not None:
            out = out[np.isin(out["token"], token_array(tokens))]
        return out

    def timestamps(self, start=0, stop=None):
        """ts48 of records [start, stop) as int64 ns."""
        self._check_open()
        return timestamps(self._records[start:stop])

    def checkpoint_before(self, pos):
        """Index into ``checkpoints`` of the last complete checkpoint ending at or before record ``pos``,
        or -1."""
        if len(self.checkpoints) == 0:
            return -1
        ends = (self.checkpoints["offset"] - JRNL_HEADER_SIZE) // JRNL_REC_SIZE + self.checkpoints["n_records"]
        return int(np.searchsorted(ends, pos, side="right")) - 1

    def state_records(self, t):
        """The records whose application, in order, gives the state at ``t``: the nearest checkpoint before
        it and every record after that checkpoint stamped up to ``t`` (a zero-copy slice)."""
        return self._state_records(t, "state_records: t")

    cdef object _state_records(self, object t, str what):
        """state_records(t), its errors naming the argument ``what`` (snapshot_at's own)."""
        self._check_open()
        p = self._seek_pos(_ts_arg(t, self.date, what) + 1)
        c = self.checkpoint_before(p)
        start = 0 if c < 0 else int((self.checkpoints["offset"][c] - JRNL_HEADER_SIZE) // JRNL_REC_SIZE)
        return self._records[start:p]

    def snapshot_at(self, t, into=None):
        """The state at ``t``: ``into.apply_records`` receives the nearest checkpoint's KEYFRAME records and the
        records after it up to ``t`` (one read-only array), with ``day_base_ns`` = 00:00 IST of the journal's
        trading date when it takes that argument (a ``vega.Store`` does), so last update times are the
        journal day's, as in the live store.  ``into`` defaults to a new in-process ``vega.Store`` with room
        to continue from that state: capacity max(2 x tokens, tokens + 1024) (at most the store's
        ``MAX_CAPACITY``), tokens being those the records hold.  Returns ``into``."""
        recs = self._state_records(t, "snapshot_at: t")
        if into is None:
            from vega import Store          # imported lazily: the store is optional for the journal
            from vega._core import MAX_CAPACITY
            k = len(np.unique(recs["token"]))
            into = Store(min(MAX_CAPACITY, max(2 * k, k + 1024)))
        _applier(into)(recs, day_epoch_ns(self.date))
        return into


def _applier(target):
    """``target.apply_records`` as f(records, day_base_ns): the base (00:00 IST of a journal's trading date, in
    epoch ns) is passed when the method takes a ``day_base_ns`` argument, as ``vega.Store.apply_records``
    does, so a store's last update times are the journal day's; a method without it gets only the records."""
    m = target.apply_records
    try:
        takes = "day_base_ns" in inspect.signature(m).parameters
    except (TypeError, ValueError):       # no signature to read: call it as the documented target
        takes = False
    if takes:
        return lambda recs, base: m(recs, day_base_ns=base)
    return lambda recs, base: m(recs)


def _byte_string(obj):
    """Whether ``obj``, given as a collection of tokens, is bytes: bytes, a bytearray, or a memoryview of one-byte
    items (``memoryview(b"ab")``), all of which iterate as their byte values (token 97 for "a").  A numpy uint8
    array is tokens; a memoryview of one is not told from one of bytes: pass the array.  (token_array here, and
    the store's snapshot / subscribe.)"""
    return isinstance(obj, (bytes, bytearray)) or (isinstance(obj, memoryview) and obj.format in ("B", "b", "c"))


def token_array(tokens):
    """The tokens a reader keeps (``tokens=`` of ``Journal.read`` / ``between`` and ``vega.replay``): any
    iterable of ints (a list, set, range, numpy array) as a uint32 array.  TypeError for a single int, a str, bytes,
    a bytearray or a memoryview of bytes, or a non-integer array, ValueError for a token outside 0 .. 2**32 - 1."""
    if isinstance(tokens, np.ndarray):
        if tokens.dtype.kind not in "iu":
            raise TypeError(f"tokens must be integers, not an array of {tokens.dtype}")
        arr = tokens.ravel()
    elif isinstance(tokens, (int, np.integer, str)):
        raise TypeError(f"tokens must be a collection of tokens, not {type(tokens).__name__} (wrap one in [..])")
    elif _byte_string(tokens):
        raise TypeError(f"tokens must be a collection of tokens, not {type(tokens).__name__} (of bytes: its byte "
                        f"values are no tokens)")
    else:
        try:
            arr = np.asarray(list(tokens))
        except TypeError:
            raise TypeError(f"tokens must be a collection of tokens, not {type(tokens).__name__}") from None
        if arr.dtype.kind == "O" and all(isinstance(t, (int, np.integer)) and not isinstance(t, (bool, np.bool_))
                                         for t in arr.flat):
            # ints numpy holds as objects: beyond 64 bits, which made "tokens must be integers, not object"
            bad = next(t for t in arr.flat if not 0 <= t <= 0xFFFFFFFF)
            raise ValueError(f"a token is 0 .. 2**32 - 1, not {bad}")
        if arr.size and arr.dtype.kind not in "iu":
            raise TypeError(f"tokens must be integers, not {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 0xFFFFFFFF:
            raise ValueError(f"a token is 0 .. 2**32 - 1, not {lo if lo < 0 else hi}")
    return arr.astype(np.uint32)


def _index(v, what):
    """A record position or count: an int or a numpy integer (operator.index); TypeError for a bool (True is no
    record 1), a float or anything else."""
    if isinstance(v, (bool, np.bool_, np.timedelta64)) or not hasattr(type(v), "__index__"):
        raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    return v.__index__()


def _zoned_time_of_day(v, day):
    """The datetime at which time of day ``v`` (with a tzinfo) falls within trading day ``day``, 00:00 to 24:00
    IST: 19:00 UTC is 00:30 IST of the day (the day before's date in UTC), 03:00 Tokyo 23:30 IST.  ValueError
    when no such instant exists (a time a DST change skips on that date)."""
    for d in (day, day - _dt.timedelta(days=1), day + _dt.timedelta(days=1)):
        at = _dt.datetime.combine(d, v)
        if at.astimezone(IST).date() == day:
            return at
    raise ValueError(f"{v.isoformat()} ({v.tzinfo}) does not fall within the trading day {day} (IST)")


#: the digits of an ISO time's fraction past the microsecond (7 to 9 in all), which datetime's and time's
#: fromisoformat drop without a word: records are stamped to the nanosecond
_SUB_US = re.compile(r"(?<=\.[0-9]{6})([0-9]{1,3})(?![0-9])")
_TOO_FINE = re.compile(r"\.[0-9]{10}")


def _split_ns(text):
    """(``text`` with its fraction cut to the microsecond, the nanoseconds cut off) of an ISO time or date and
    time: '10:00:00.123456789' -> ('10:00:00.123456', 789).  ValueError for a fraction of more than 9 digits."""
    if _TOO_FINE.search(text):
        raise ValueError(f"{text!r}: a fraction of a second of more than 9 digits (nanoseconds)")
    m = _SUB_US.search(text)
    if m is None:
        return text, 0
    return text[:m.start()] + text[m.end():], int(m.group(1).ljust(3, "0"))


#: ns in one unit of a numpy datetime64 of a week or finer, down to the ns (a month or a year: converted to days)
_NS_PER_UNIT = {"W": 604_800_000_000_000, "D": 86_400_000_000_000, "h": 3_600_000_000_000, "m": 60_000_000_000,
                "s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_UNITS_PER_NS = {"ps": 1_000, "fs": 1_000_000, "as": 1_000_000_000}


def _datetime64_epoch_ns(v, what):
    """ns since the Unix epoch of numpy datetime64 ``v`` (the argument ``what``), exactly, whatever its unit
    (numpy's datetime64 counts from 1970-01-01T00:00 UTC, as records.datetimes gives it).  ValueError for NaT,
    for one without a unit (generic: no instant) and for one finer than the ns that is no whole ns."""
    if np.isnat(v):
        raise ValueError(f"{what} is NaT (numpy's not-a-time): give a time")
    unit, count = np.datetime_data(v.dtype)
    if unit == "generic":
        raise ValueError(f"{what} is a numpy datetime64 without a unit ({int(v.astype(np.int64))} of no unit): "
                         f"give it one, e.g. datetime64[ns]")
    if unit in ("Y", "M"):                 # a year or month starts on a day: exact in days
        v, unit, count = v.astype("datetime64[D]"), "D", 1
    n = int(v.astype(np.int64)) * count
    if unit in _UNITS_PER_NS:
        ns, rest = divmod(n, _UNITS_PER_NS[unit])
        if rest:
            raise ValueError(f"{what} ({v}) is no whole number of nanoseconds: records are stamped to the ns")
        return ns
    return n * _NS_PER_UNIT[unit]


def _datetime64_scalar(v):
    """``v`` as a numpy datetime64 scalar when it is one, or a 0-d datetime64 array (what
    ``records.datetimes`` gives for one record or one ts48, where ``datetimes(array)[i]`` gives a scalar);
    None for anything else."""
    if isinstance(v, np.datetime64):
        return v
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind == "M":
        return v[()]
    return None


def _ts_arg(t, day, what="t"):
    """ts48 (ns since 00:00 IST of trading day ``day``) of a Journal method's time argument ``what``: an int
    (ts48 itself); a datetime.time or an ISO string 'HH:MM[:SS[.fffffffff]]' (time of day, IST when naive; one
    with a zone, such as time(6, 0, tzinfo=UTC) or '06:00+00:00', is the instant showing that time in its zone
    within the trading day, 00:00 to 24:00 IST); a datetime or an ISO datetime string within the day's file (IST
    when naive; a pandas Timestamp is one; to the microsecond; a string to the nanosecond, up to 9 fractional
    digits); a numpy datetime64 of any unit within the day's file, or a 0-d datetime64 array (UTC, numpy's
    one zone: what records.datetimes gives; exact to the ns).  TypeError / ValueError else."""
    v = t
    sub_us = 0
    d64 = _datetime64_scalar(v)
    if d64 is not None:
        v = d64
        ns = _datetime64_epoch_ns(v, what) - day_epoch_ns(day)
        if not 0 <= ns < 2 * 86_400_000_000_000:
            raise ValueError(f"{what} ({v} UTC) is not within this journal's trading day, {day} (IST)")
        return ns
    if isinstance(v, str):
        try:
            v, sub_us = _split_ns(v)
        except ValueError:
            raise ValueError(f"{what}: not a time: {t!r}: its fraction of a second has more than 9 digits "
                             f"(nanoseconds)") from None
        try:
            try:
                v = _dt.time.fromisoformat(v)
            except ValueError:
                v = _dt.datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{what}: not a time: {t!r} (HH:MM[:SS[.fffffffff]], or an ISO date and time)") from None
    if isinstance(v, _dt.time) and v.tzinfo is not None:
        v = _zoned_time_of_day(v, day)
    if isinstance(v, _dt.datetime):
        # since 00:00 IST of the trading day, to the microsecond: a day runs past midnight when its rollover
        # time is later than 00:00, so only a time outside the two days a file can span is refused
        ns = ((v if v.tzinfo is not None else v.replace(tzinfo=IST))
              - _dt.datetime(day.year, day.month, day.day, tzinfo=IST)) // _dt.timedelta(microseconds=1) * 1000
        if not 0 <= ns < 2 * 86_400_000_000_000:
            raise ValueError(f"{what} ({t}) is not within this journal's trading day, {day} (IST)")
    elif isinstance(v, _dt.time):
        ns = _time_of_day_ns(v)
    elif isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.timedelta64)):
        ns = int(v)
    else:
        raise TypeError(f"{what}: a time is ts48 ns (int), a datetime.time, a datetime, a numpy datetime64 or an "
                        f"ISO string, not {type(t).__name__}")
    ns += sub_us
    if not 0 <= ns < (1 << 48):
        raise ValueError(f"{what}: a time is 0 .. 2**48 - 1 ns after 00:00 IST of the trading day, not {ns}")
    return ns

