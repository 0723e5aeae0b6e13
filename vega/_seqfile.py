"""The stream-sequence sidecar of a day's journal: ``<root>/<FEED>/YYYYMMDD.seq`` beside ``YYYYMMDD.bin``.

A capture writes the last BCSeqNo of each of its feed's streams (``FeedHandler.stream_seqs``) there, atomically
(a temporary file renamed over it), when its journal is sealed at a clean stop and after each journal checkpoint
(the journal flushed first, so that every record of the datagrams counted is in the file), and, not sealed, when
a restart has resumed from it.  A capture restarted
on that day gives them to its new handler (``FeedHandler.resume_streams``): each stream's first number after the
restart then counts what the feed sent while the capture was down.  The journal's own format is unchanged.
Layout: docs/FORMATS.md section 5, "Stream sequence sidecar"; pinned by tests/test_seqfile.py.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import stat
import zlib
from pathlib import Path

import numpy as np

from vega._files import StrPath, file_kind
from vega._journal import FEEDS as _FEEDS          # the journal header's feed numbers
from vega._journal import as_date, date_int

#: the file's first 8 bytes
SEQ_MAGIC = b"VEGASEQS"
SEQ_VERSION = 1
#: the 64-byte header; the table of 256 int32 (the last BCSeqNo of streams 0..255, 0 = none) follows it
SEQ_HEADER_DTYPE = np.dtype([("magic", "S8"), ("version", "<u2"), ("header_size", "<u2"), ("feed_type", "u1"),
                             ("sealed", "u1"), ("reserved", "<u2"), ("trading_date", "<u4"), ("reserved2", "<u4"),
                             ("journal_created_ns", "<i8"), ("next_seq", "<u8"), ("written_ns", "<i8"),
                             ("reserved3", "V12"), ("checksum", "<u4")])
SEQ_FILE_SIZE = SEQ_HEADER_DTYPE.itemsize + 256 * 4


class SeqFileError(ValueError):
    """A sidecar that cannot be used: unreadable, damaged, or of another feed, day or journal file."""


@dataclasses.dataclass
class SeqFile:
    """What a sidecar holds."""

    feed: str
    date: _dt.date
    journal_created_ns: int          # the journal file's header created_ns: which file of that day
    next_seq: int                    # the journal's next_seq when written: its live records up to here
    written_ns: int                  # when it was written (epoch ns)
    sealed: bool                     # written at the journal's seal (a clean stop): exact
    last: dict[int, int]             # stream -> last BCSeqNo


def seq_path(journal_path: StrPath) -> Path:
    """The sidecar of a day's journal file: ``YYYYMMDD.bin`` -> ``YYYYMMDD.seq``."""
    return Path(journal_path).with_suffix(".seq")


def pack(s: SeqFile) -> bytes:
    """The file's bytes."""
    hdr = np.zeros((), SEQ_HEADER_DTYPE)
    hdr["magic"], hdr["version"], hdr["header_size"] = SEQ_MAGIC, SEQ_VERSION, SEQ_HEADER_DTYPE.itemsize
    hdr["feed_type"], hdr["sealed"] = _FEEDS[s.feed], int(s.sealed)
    hdr["trading_date"] = date_int(s.date)
    hdr["journal_created_ns"], hdr["next_seq"], hdr["written_ns"] = s.journal_created_ns, s.next_seq, s.written_ns
    table = np.zeros(256, "<i4")
    for stream, q in s.last.items():
        table[stream] = q
    head = hdr.tobytes()
    body = table.tobytes()
    crc = zlib.crc32(body, zlib.crc32(head[:60]))
    return head[:60] + crc.to_bytes(4, "little") + body


def unpack(data: bytes, where: str = "sidecar") -> SeqFile:
    """A sidecar's bytes read back; SeqFileError saying what is wrong."""
    if len(data) != SEQ_FILE_SIZE:
        raise SeqFileError(f"{where}: {len(data)} bytes, not {SEQ_FILE_SIZE}: damaged")
    hdr = np.frombuffer(data, SEQ_HEADER_DTYPE, 1)[0]
    if bytes(hdr["magic"]) != SEQ_MAGIC:
        raise SeqFileError(f"{where}: not a stream sequence sidecar (magic {bytes(hdr['magic'])!r})")
    if int(hdr["version"]) != SEQ_VERSION or int(hdr["header_size"]) != SEQ_HEADER_DTYPE.itemsize:
        raise SeqFileError(f"{where}: format version {int(hdr['version'])}, not {SEQ_VERSION}")
    if zlib.crc32(data[64:], zlib.crc32(data[:60])) != int(hdr["checksum"]):
        raise SeqFileError(f"{where}: checksum mismatch: damaged")
    feed = next((k for k, v in _FEEDS.items() if v == int(hdr["feed_type"])), None)
    d = int(hdr["trading_date"])
    try:
        date = as_date(d)                              # (the journal header's YYYYMMDD, read as it does)
    except ValueError:
        date = None
    if feed is None or date is None or int(hdr["sealed"]) > 1:
        raise SeqFileError(f"{where}: feed type {int(hdr['feed_type'])}, date {d}, sealed {int(hdr['sealed'])}: "
                           "damaged")
    table = np.frombuffer(data, "<i4", 256, 64)
    if (table < 0).any():
        raise SeqFileError(f"{where}: a negative BCSeqNo: damaged")
    return SeqFile(feed, date, int(hdr["journal_created_ns"]), int(hdr["next_seq"]), int(hdr["written_ns"]),
                   bool(hdr["sealed"]), {int(i): int(table[i]) for i in np.flatnonzero(table)})


def write(path: StrPath, s: SeqFile, fsync: bool = False) -> None:
    """Write ``s`` to ``path`` atomically: a temporary file beside it, then renamed over it (a reader, or a
    killed writer, sees the old file or the new one, never a part; after a power loss only with ``fsync``, else
    it may be empty or torn: ``read`` refuses it).  ``fsync``: the data before the rename, and the directory
    after it.  OSError when it cannot be written (the temporary file removed).  The temporary file's name is
    fixed (``.YYYYMMDD.seq.tmp``: a day's journal has one writer), so one a killed writer left is written over
    by the next write, not left to pile up."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            data = pack(s)
            if os.write(fd, data) != len(data):
                raise OSError(f"{tmp}: short write")
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if fsync:
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def read(path: StrPath) -> SeqFile:
    """The sidecar at ``path``; FileNotFoundError when there is none, SeqFileError when it cannot be used."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise SeqFileError(f"{path}: is {file_kind(st.st_mode)}, not a regular file")
    if st.st_size != SEQ_FILE_SIZE:
        raise SeqFileError(f"{path}: {st.st_size} bytes, not {SEQ_FILE_SIZE}: damaged")
    try:
        with open(path, "rb") as f:
            data = f.read(SEQ_FILE_SIZE + 1)
    except OSError as e:
        raise SeqFileError(f"{path}: cannot read: {e.strerror or e}") from None
    return unpack(data, str(path))
