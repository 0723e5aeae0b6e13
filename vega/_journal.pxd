# cython: language_level=3
#
# vega._journal — the daily journal <root>/<FEED>/YYYYMMDD.bin (docs/FORMATS.md, "Journal").
#
# The journal treats change records as opaque 32-byte units of which it reads only the token (bytes 0-3), the
# 48-bit timestamp (bytes 4-9, ns since 00:00 IST of the trading day) and the flags (byte 11).  It does not
# cimport vega._core, so that the FeedHandler in _core can cimport this module.
#
# C contract for the FeedHandler (the only C-level caller):
#
#   1. With the GIL, open a `JournalWriter` and take `w = writer.c_writer()` (raises if the writer is closed).
#      The pointer stays valid until `writer.close()` / `writer.rollover()`; re-take it after either.
#   2. Inside the nogil loop call `jrnl_append(w, recs, n)`.  It copies the records (the caller keeps
#      ownership of `recs`), updates the in-memory index and checkpoint table, and writes to the file when its
#      buffer is full or `flush_interval_ns` has passed.  It returns the number of records accepted:
#        n        all accepted;
#        0..n-1   the records from that position on are stamped at or after `w.day_end_ns`: the trading day
#                 is over (`w.day_over` = 1).  With the GIL call `writer.append(rest)`, which seals the day,
#                 opens the next one and re-stamps the rest relative to the new trading day;
#        -1       an I/O error; `w.err` holds the errno (sticky: every later call returns -1 at once).  With the
#                 GIL, `writer.check()` raises it as OSError.
#   3. After the batch, if `w.ckpt_due` is set, with the GIL call
#      `writer.checkpoint(store.keyframe_records(w.max_ts))` (or `writer.maybe_checkpoint()` when the writer
#      was given a checkpoint source).  A checkpoint is one append of KEYFRAME records.
#   4. From an idle loop, `jrnl_poll(w)` flushes the buffer when `flush_interval_ns` has passed, so a quiet
#      feed does not keep records in user space.
#   Single writer: the writer holds an exclusive flock on the file; nothing else may append.

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef enum:
    JRNL_HEADER_SIZE = 64              # bytes of the file header
    JRNL_REC_SIZE = 32                 # bytes per change record
    JRNL_VERSION = 2                   # format version written; readers refuse newer ones.  2: the records of
                                       # complete checkpoints take no sequence numbers (1: every record does)
    JRNL_INDEX_HEAD_SIZE = 32          # bytes of the index table's head
    JRNL_INDEX_ENTRY_SIZE = 16         # (ts, record offset)
    JRNL_CKPT_ENTRY_SIZE = 32          # (ts, record offset, record count, reserved)
    JRNL_F_CONTINUED = 0x01            # record flags bit: more records of the same update follow
    JRNL_F_KEYFRAME = 0x02             # record flags bit: part of a full-state checkpoint
    JRNL_F_CHECKPOINT_END = 0x04       # record flags bit: the last record of a checkpoint (set by checkpoint())

cdef enum jrnl_state:                  # header byte 15
    JRNL_OPEN = 0                      # being written, or its writer died: size decides the record count
    JRNL_SEALED = 1                    # closed cleanly: record_count and index_offset are authoritative
    JRNL_SEALING = 2                   # seal in progress: records end at index_offset, the index may be torn


cdef packed struct jrnl_header_t:      # the first 64 bytes of YYYYMMDD.bin, little-endian
    char magic[8]                      # b"VEGAJRNL"
    uint16_t version                   # JRNL_VERSION
    uint16_t header_size               # 64
    uint16_t record_size               # 32
    uint8_t feed_type                  # 0 NSE_FO, 1 NSE_EQ, 2 NFO_IDX (the ring's slot numbers)
    uint8_t sealed                     # jrnl_state
    uint32_t trading_date              # YYYYMMDD
    uint32_t symbol_id                 # 0: every instrument of the feed; else the one token journalled
    uint64_t record_count              # records in the file (exact when sealed; a lower bound while open)
    int64_t created_ns                 # ns since the Unix epoch when the file was created
    uint64_t index_offset              # byte offset of the index table (0 while open)
    uint64_t first_seq                 # feed sequence number of the file's first numbered record (FORMATS.md)
    uint32_t index_stride              # records between two index entries
    uint32_t checksum                  # zlib crc32 of bytes 0..59


cdef struct jrnl_ckpt_t:               # one complete checkpoint (a run of KEYFRAME records)
    int64_t ts_ns                      # ts48 of its first record
    uint64_t rec_no                    # record number (0-based) of its first record
    uint64_t n_recs                    # records in the run


cdef struct jrnl_index_t:              # index and checkpoint table built while records stream by
    uint32_t stride                    # one entry every `stride` records (record numbers 0, stride, 2*stride...)
    uint64_t n_seen                    # records fed so far
    int64_t max_ts                     # running maximum of ts48 (-1 before the first record)
    int64_t* ent_ts                    # entry j: max ts48 of records 0..j*stride
    uint64_t* ent_rec                  # entry j: j*stride (record number)
    Py_ssize_t n_ent                   # entries used
    Py_ssize_t cap_ent                 # entries allocated
    jrnl_ckpt_t* ckpt                  # complete checkpoints, in file order
    Py_ssize_t n_ckpt                  # checkpoints used
    Py_ssize_t cap_ckpt                # checkpoints allocated
    int in_run                         # 1 while inside a KEYFRAME run whose last record has not come yet
    uint64_t run_start                 # record number of the open run's first record
    int64_t run_ts                     # ts48 of the open run's first record
    int oom                            # 1 once an allocation failed (the index is then incomplete)


cdef struct jrnl_writer_t:             # an open journal file; owned by a JournalWriter
    int fd                             # file descriptor (O_RDWR, writing at its offset), -1 when closed
    int err                            # errno of the first failed write or allocation (sticky), 0 when healthy
    uint8_t* buf                       # user-space buffer of cap_recs records
    Py_ssize_t cap_recs                # buffer capacity in records
    Py_ssize_t buf_recs                # records waiting in the buffer
    uint64_t n_records                 # records accepted (file records + buffered)
    uint64_t n_written                 # records handed to write(2): the file holds 64 + 32 * n_written bytes
    int64_t max_ts                     # largest ts48 accepted (-1 before the first)
    int64_t day_end_ns                 # ts48 at which the trading day rolls over (24 h + rollover time)
    int day_over                       # 1 once a record at/after day_end_ns was refused
    int64_t ckpt_interval_ns           # feed time between automatic checkpoints, 0 = off
    int64_t next_ckpt_ns               # ts48 at which the next checkpoint is due
    int ckpt_due                       # 1 once a record reached next_ckpt_ns; cleared by a checkpoint
    int64_t flush_interval_ns          # flush when this much monotonic time passed since the last (0 = always)
    int64_t last_flush_ns              # CLOCK_MONOTONIC ns of the last flush
    int fsync_on_flush                 # 1: fsync(2) after every flush (durability against power loss)
    jrnl_index_t index                 # index entries and checkpoints of every accepted record
    int64_t prealloc_bytes             # file space reserved ahead of the records (fallocate KEEP_SIZE), 0 = off
    int64_t alloc_end                  # byte offset up to which file space is reserved (the file size stays)


cdef int jrnl_index_init(jrnl_index_t* ix, uint32_t stride) noexcept nogil
cdef void jrnl_index_free(jrnl_index_t* ix) noexcept nogil
cdef int jrnl_index_feed(jrnl_index_t* ix, const uint8_t* recs, Py_ssize_t n) noexcept nogil

cdef Py_ssize_t jrnl_append(jrnl_writer_t* w, const void* recs, Py_ssize_t n) noexcept nogil
cdef int jrnl_flush(jrnl_writer_t* w) noexcept nogil
cdef int jrnl_poll(jrnl_writer_t* w) noexcept nogil


cdef class JournalWriter:
    cdef jrnl_writer_t _w              # the C state handed to the FeedHandler
    cdef object _path                  # pathlib.Path of the open file
    cdef object _dir                   # directory of the day files: <root>/<FEED>, or a reopened file's own
    cdef str _feed                     # feed name (directory)
    cdef int _feed_type                # header feed type
    cdef object _date                  # datetime.date of the open file
    cdef int64_t _rollover_ns          # rollover time of day, ns after 00:00 IST
    cdef str _fsync                    # "never", "flush" or "seal"
    cdef object _source                # callable(ts_ns) -> keyframe records, or None
    cdef int64_t _created              # header created_ns of the open file
    cdef uint64_t _first_seq           # header first_seq of the open file
    cdef int _version                  # header version of the open file (1: checkpoints take sequence numbers)
    cdef uint32_t _symbol_id           # header symbol_id
    cdef int _mode                     # permission bits for new files
    cdef object _opts                  # constructor options re-used at rollover
    cdef public object recovered       # dict describing what the last open found (torn bytes, unsealed...)
    cdef int _held                     # 1 while one call uses _w, maybe without the GIL (_hold / _release)
    cdef uint64_t _unnumbered_closed   # _unnumbered() of the file when it was closed (its index is freed then)
    cdef object __weakref__            # (_LIVE: a forked child's copy lets go of the file)
    cdef jrnl_writer_t* c_writer(self) except NULL
    cdef int _scan(self, int fd, Py_ssize_t data_end, Py_ssize_t n, uint32_t stride) except -2
    cdef uint64_t _unnumbered(self) noexcept
    cdef Py_ssize_t _append_c(self, const void* recs, Py_ssize_t n) except -1
    cdef Py_ssize_t _checkpoint_c(self, const void* recs, Py_ssize_t n) except -1
    cdef int _hold(self) except -1
    cdef int _check_free(self) except -1
    cdef void _release(self) noexcept
