# cython: language_level=3
#
# vega._ring — the shared-memory ring: the live stream of 32-byte change records to other processes.
#
# This file is the C contract.  The byte layout of the ring file is normative in docs/FORMATS.md ("Ring") and
# pinned by tests/test_ring.py.  Records are opaque 32-byte units here (vg_rec_t of vega._core; numpy mirror
# vega.records.CHANGE_RECORD_DTYPE): this module deliberately does not cimport vega._core, so that _core's
# FeedHandler can cimport vega._ring without a cycle.
#
# ---- How the FeedHandler (or any Cython writer) publishes from a nogil loop --------------------------------
#
#   from vega._ring cimport Ring, ring_slot_t, ring_append, RING_NSE_FO
#
#   cdef Ring ring = ...                          # keep a reference for as long as the pointer is used
#   cdef ring_slot_t* slot = ring._slot_ptr(RING_NSE_FO)   # with the GIL, once: claims the slot's writer
#                                                          # role (RingBusyError if another live process
#                                                          # holds it); raises if the ring is read-only
#   with nogil:
#       ring_append(slot, recs, n)                # recs: n contiguous 32-byte records; never blocks, never
#                                                 # fails, never calls Python; returns the new tail
#   ring._slot_release(RING_NSE_FO)               # with the GIL, when done: ring.close() refuses
#                                                 # (BufferError) while a slot pointer is exported
#
# Preconditions the caller meets: exactly one thread appends to a slot at a time (the struct holds the
# writer's private counters); the Ring object outlives every use of the pointer; `recs` is readable for
# n * 32 bytes.  Readers in other processes see a batch all at once, when the tail is published.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy, memmove


cdef extern from "_ring_atomic.h" nogil:
    uint64_t vg_load_acquire_u64(const uint64_t* p)
    uint64_t vg_load_relaxed_u64(const uint64_t* p)
    void vg_store_release_u64(uint64_t* p, uint64_t v)
    void vg_store_relaxed_u64(uint64_t* p, uint64_t v)
    uint32_t vg_load_acquire_u32(const uint32_t* p)
    void vg_store_release_u32(uint32_t* p, uint32_t v)
    uint8_t vg_load_acquire_u8(const uint8_t* p)
    void vg_store_release_u8(uint8_t* p, uint8_t v)
    int vg_cas_u32(uint32_t* p, uint32_t expected, uint32_t desired)
    void vg_fence_acquire()
    void vg_fence_release()
    void vg_cpu_relax()


# ----------------------------------------------------------------------------------------------------------
# Layout constants (docs/FORMATS.md "Ring")
# ----------------------------------------------------------------------------------------------------------

cdef enum:
    RING_VERSION = 2                   # slot header version (2 adds first_seq; 1 is read as first_seq 0)
    RING_BUS_VERSION = 1               # client bus header version
    RING_N_SLOTS = 3                   # one slot per feed
    RING_SLOT_SIZE = 0x200000          # 2 MiB per slot; slot f starts at f * RING_SLOT_SIZE
    RING_HEADER_SIZE = 64              # slot header at +0x0
    RING_RECORDS_OFFSET = 0x40         # first record at slot + 0x40
    RING_REC_SIZE = 32                 # one change record (vg_rec_t)
    RING_CAPACITY = 32768              # records per slot: the largest power of two that fits (1 MiB)
    RING_MASK = 32767                  # RING_CAPACITY - 1: record index = sequence & RING_MASK
    RING_TRAILER_OFFSET = 0x1FFFF0     # tail_intent (u64) at +0x1FFFF0, tail (u64) at +0x1FFFF8
    RING_BUS_OFFSET = 0x600000         # client bus region right after the three slots
    RING_BUS_SIZE = 0x2000             # 8 KiB: a 64-byte bus header + RING_BUS_LINES cursor lines
    RING_BUS_LINE_SIZE = 64            # one cache line per registered reader
    RING_BUS_LINES = 127               # registered readers at most
    RING_FILE_SIZE = 0x602000          # RING_BUS_OFFSET + RING_BUS_SIZE
    RING_NAME_LEN = 24                 # reader name bytes in a cursor line (UTF-8, NUL-padded)

cdef enum ring_feed:                   # slot index = feed type stored in the slot header
    RING_NSE_FO = 0                    # slot 0 at 0x000000: NSE futures & options
    RING_NSE_EQ = 1                    # slot 1 at 0x200000: NSE capital market (equities)
    RING_NFO_IDX = 2                   # slot 2 at 0x400000: NSE indices

cdef enum ring_cursor_state:           # ring_cursor_t.state
    RING_CUR_FREE = 0                  # line unused (pid 0)
    RING_CUR_CLAIMING = 1              # pid CAS-claimed, the owner is filling the line in
    RING_CUR_ACTIVE = 2                # a live (or dead, if its pid is gone) registered reader

cdef enum ring_on_lap:                 # what a lapped reader does (ring_reader_t.on_lap)
    RING_LAP_OLDEST = 0                # resume at the oldest record still valid; return what is valid
    RING_LAP_NEWEST = 1                # drop everything, resume at the tail (only records written later)

cdef enum ring_wait_kind:              # how Reader.poll waits for records (GIL released)
    RING_WAIT_SPIN = 0                 # busy-poll the tail with a CPU pause hint; lowest latency, burns a core
    RING_WAIT_YIELD = 1                # sched_yield() between checks
    RING_WAIT_SLEEP = 2                # nanosleep between checks, 1 us doubling to 1 ms


# ----------------------------------------------------------------------------------------------------------
# Shared structs (the bytes in the file; natural alignment, little-endian hosts only)
# ----------------------------------------------------------------------------------------------------------

cdef struct ring_header_t:             # slot header, 64 bytes at slot + 0x0
    uint8_t magic[8]                   # b"VEGARING"
    uint16_t version                   # RING_VERSION
    uint16_t header_size               # 64
    uint16_t feed_type                 # ring_feed; equals the slot index
    uint16_t record_size               # 32
    uint32_t symbol_id                 # seed field: 0 = every instrument of the feed (no per-symbol slots yet)
    uint32_t capacity                  # RING_CAPACITY records
    uint32_t records_offset            # 0x40
    uint32_t trailer_offset            # 0x1FFFF0
    uint64_t record_count              # records appended since creation (= tail after each batch; informative)
    uint64_t created_ns                # CLOCK_REALTIME ns when the file was created
    uint32_t slot_size                 # 0x200000
    uint32_t writer_pid                # pid holding the writer role, 0 = none (claimed by CAS)
    uint64_t first_seq                 # sequence number of the slot's first record (version 1: reserved, 0)

cdef struct ring_bus_header_t:         # client bus header, 64 bytes at RING_BUS_OFFSET
    uint8_t magic[8]                   # b"VEGARBUS"
    uint16_t version                   # RING_BUS_VERSION
    uint16_t line_size                 # 64
    uint32_t n_lines                   # RING_BUS_LINES
    uint64_t created_ns                # CLOCK_REALTIME ns when the file was created
    uint32_t reg_pid                   # registration lock: pid registering or reclaiming cursors, 0 = none
                                       # (CAS 0 -> pid; a dead holder's lock is taken over by CAS)
    uint8_t reserved[36]               # 0

cdef struct ring_cursor_t:             # one registered reader, 64 bytes at RING_BUS_OFFSET + 64 * (1 + i)
    uint32_t pid                       # owner process, 0 = free; claimed/reclaimed by CAS
    uint8_t state                      # ring_cursor_state
    uint8_t feed                       # ring_feed the reader follows
    uint16_t reserved                  # 0
    char name[24]                      # RING_NAME_LEN bytes of UTF-8, NUL-padded (not necessarily terminated)
    uint64_t position                  # sequence number of the next record the reader will read
    uint64_t laps                      # times the reader was lapped (each one counted once)
    uint64_t lost                      # records lost to lapping, in total
    uint64_t heartbeat_ns              # CLOCK_REALTIME ns of the reader's last poll


# ----------------------------------------------------------------------------------------------------------
# Process-local views (not in the file)
# ----------------------------------------------------------------------------------------------------------

cdef struct ring_slot_t:               # a writable slot: everything ring_append needs
    uint8_t* records                   # slot + 0x40: capacity * 32 bytes
    uint64_t* tail_intent              # slot + 0x1FFFF0: records whose write has begun (sequence, monotonic)
    uint64_t* tail                     # slot + 0x1FFFF8: records completely written and published
    uint64_t* record_count             # &header.record_count
    uint64_t capacity                  # RING_CAPACITY
    uint64_t mask                      # capacity - 1
    uint64_t next                      # writer-private: sequence number of the next record (== *tail)
    uint64_t intent                    # writer-private: last value stored to *tail_intent (>= next)
    int feed                           # ring_feed

cdef struct ring_reader_t:             # one reader's private state
    const uint8_t* records             # slot + 0x40 (may be mapped read-only)
    const uint64_t* tail_intent        # slot + 0x1FFFF0
    const uint64_t* tail               # slot + 0x1FFFF8
    uint64_t capacity                  # RING_CAPACITY (validated locally, never re-read from the file)
    uint64_t mask                      # capacity - 1
    uint64_t pos                       # sequence number of the next record to return
    uint64_t laps                      # lap events so far
    uint64_t lost                      # records lost so far
    uint64_t call_lost                 # records lost during the current poll call (reset by the caller)
    uint64_t rewinds                   # times the tail was found behind pos (ring re-initialised / damaged)
    uint64_t first                     # the slot's first_seq: no record ever had a smaller sequence number
    int on_lap                         # ring_on_lap


# ----------------------------------------------------------------------------------------------------------
# Hot path: append (writer) and read (reader).  Inline, so they compile into the caller's nogil loop.
# ----------------------------------------------------------------------------------------------------------

cdef inline uint64_t ring_append(ring_slot_t* slot, const void* recs, Py_ssize_t n) noexcept nogil:
    """Append n 32-byte records to the slot and publish them; returns the new tail (sequence after the batch).

    Sequence lock on two 64-bit counters: store tail_intent = tail + n, release fence, copy, store-release
    tail.  A batch larger than the capacity advances the sequence by n but writes only its last `capacity`
    records (readers count the rest as lost).  The writer never waits for readers.
    """
    cdef uint64_t un, end, m, first, idx, part
    cdef const uint8_t* src
    if n <= 0:
        return slot.next
    un = <uint64_t>n
    end = slot.next + un
    m = un if un <= slot.capacity else slot.capacity
    if end > slot.intent:              # never lower the intent (a crashed writer may have raised it)
        slot.intent = end
    vg_store_relaxed_u64(slot.tail_intent, slot.intent)
    vg_fence_release()                 # the intent is visible before any record byte changes
    first = end - m
    idx = first & slot.mask
    part = slot.capacity - idx
    if part > m:
        part = m
    src = <const uint8_t*>recs + (un - m) * RING_REC_SIZE
    memcpy(slot.records + idx * RING_REC_SIZE, src, part * RING_REC_SIZE)
    if part < m:
        memcpy(slot.records, src + part * RING_REC_SIZE, (m - part) * RING_REC_SIZE)
    vg_store_release_u64(slot.tail, end)
    vg_store_relaxed_u64(slot.record_count, end)
    slot.next = end
    return end


cdef inline void _ring_reader_jump(ring_reader_t* r, uint64_t t) noexcept nogil:
    # RING_LAP_NEWEST: everything between pos and the tail t is lost
    if t < r.pos:
        r.pos = t
        r.rewinds += 1
        return
    r.lost += t - r.pos
    r.call_lost += t - r.pos
    r.laps += 1
    r.pos = t


cdef inline uint64_t ring_available(const ring_reader_t* r) noexcept nogil:
    """Records published and not yet read, capped at the capacity (0 when none or the tail is behind)."""
    cdef uint64_t t = vg_load_acquire_u64(r.tail)
    if t <= r.pos:
        return 0
    if t - r.pos > r.capacity:
        return r.capacity
    return t - r.pos


cdef inline Py_ssize_t ring_read(ring_reader_t* r, void* dst, Py_ssize_t max_n) noexcept nogil:
    """Copy up to max_n valid records at the reader's position into dst; returns how many.

    Never returns a record that was overwritten while it was copied: after the copy it re-reads tail_intent
    and drops every record with sequence < tail_intent - capacity.  Sequence numbers below the slot's
    first_seq (r.first) were never in it: a reader there is lapped to first_seq.  When records were lost
    (lapped) it adds the exact count to r.lost / r.call_lost, counts one lap, and resumes per r.on_lap.  A
    return of 0 with r.call_lost raised means: lapped, nothing valid copied, call again.
    """
    cdef uint64_t t, start, n, idx, part, i, valid_from, skip
    cdef uint8_t* out = <uint8_t*>dst
    if max_n <= 0:
        return 0
    t = vg_load_acquire_u64(r.tail)
    if t == r.pos:
        return 0
    if t < r.pos:                      # the tail went backwards: re-created or damaged ring
        r.pos = t
        r.rewinds += 1
        return 0
    start = r.pos
    valid_from = t - r.capacity if t > r.capacity else 0
    if valid_from < r.first:
        valid_from = r.first           # nothing before the slot's first record (a slot started at first_seq)
    if start < valid_from:             # lapped before we even started (or asked for what was never here)
        if r.on_lap == RING_LAP_NEWEST:
            _ring_reader_jump(r, t)
            return 0
        start = valid_from
    n = t - start
    if n > <uint64_t>max_n:
        n = <uint64_t>max_n
    idx = start & r.mask
    part = r.capacity - idx
    if part > n:
        part = n
    memcpy(out, r.records + idx * RING_REC_SIZE, part * RING_REC_SIZE)
    if part < n:
        memcpy(out + part * RING_REC_SIZE, r.records, (n - part) * RING_REC_SIZE)
    vg_fence_acquire()                 # the copy happens before the intent is re-read
    i = vg_load_relaxed_u64(r.tail_intent)
    valid_from = i - r.capacity if i > r.capacity else 0
    if valid_from < r.first:
        valid_from = r.first
    if start < valid_from:             # the writer overwrote (or is overwriting) part of what we copied
        if r.on_lap == RING_LAP_NEWEST:
            _ring_reader_jump(r, vg_load_acquire_u64(r.tail))
            return 0
        skip = valid_from - start
        if skip >= n:
            start = valid_from if valid_from < t else t
            n = 0
        else:
            memmove(out, out + skip * RING_REC_SIZE, (n - skip) * RING_REC_SIZE)
            start = valid_from
            n -= skip
    if start != r.pos:
        r.lost += start - r.pos
        r.call_lost += start - r.pos
        r.laps += 1
    r.pos = start + n
    return <Py_ssize_t>n


# ----------------------------------------------------------------------------------------------------------
# Extension types (Python API in _ring.pyi)
# ----------------------------------------------------------------------------------------------------------

cdef class Ring:
    cdef uint8_t* _base                # the three slots (read-write for a writable ring, else read-only)
    cdef uint8_t* _bus                 # the client bus region (RING_BUS_SIZE bytes)
    cdef size_t _base_len              # bytes mapped at _base
    cdef bint _two_maps                # _bus is a separate mapping (read-only rings)
    cdef bint _writable                # slots mapped writable (Ring.create / Ring.open(writable=True))
    cdef bint _bus_writable            # readers can register on the bus
    cdef ring_slot_t _slots[3]         # writer views, valid where _held[feed]
    cdef int _held[3]                  # this object holds the slot's writer role
    cdef int _exports[3]               # _slot_ptr exports not yet released
    cdef int _appending[3]             # an append from Python is running (one at a time; close() refuses)
    cdef readonly str path             # file path (/dev/shm/<name> or the absolute path given)
    cdef object _file_id               # (st_dev, st_ino) of the mapped file (see .replaced)
    cdef int _lock_fd                  # a writable ring: fd holding its shared flock (docs/FORMATS.md §4), else -1
    cdef object _readers               # WeakSet of Reader objects (closed with the ring)
    cdef object __weakref__

    cdef ring_slot_t* _slot_ptr(self, int feed) except NULL
    cdef void _slot_release(self, int feed) noexcept
    cdef int _claim(self, int feed) except -1
    cdef int _begin_append(self, int feed) except -1
    cdef ring_header_t* _header(self, int feed) noexcept
    cdef ring_cursor_t* _line(self, int i) noexcept
    cdef int _bus_lock(self) except -1
    cdef void _bus_unlock(self) noexcept
    cdef void _release_all_c(self) noexcept
    cdef void _unlock(self) noexcept
    cdef _check_open(self)


cdef class Reader:
    cdef ring_reader_t _r              # position, counters and slot pointers
    cdef ring_cursor_t _private        # stands in for the bus line of an unregistered reader
    cdef ring_cursor_t* _cursor        # the bus line (registered) or &_private
    cdef Ring _ring                    # keeps the mapping alive; None once closed
    cdef int _line_no                  # bus line index, -1 when unregistered
    cdef int _mode                     # on_lap: 0 oldest, 1 newest, 2 raise
    cdef bint _busy                    # a poll is running (no concurrent polls on one Reader)
    cdef uint64_t _last_lost           # records lost during the last poll
    cdef bint _gone                    # a waiting poll found the ring replaced or removed (RingReplaced)
    cdef int64_t _gone_check_ns        # CLOCK_MONOTONIC ns from which a waiting poll checks that again
    cdef readonly int feed_index       # ring_feed
    cdef readonly object name          # bus name or None
    cdef object __weakref__

    cdef void _detach(self) noexcept
    cdef void _publish(self) noexcept
    cdef _begin(self)
    cdef int _end(self, Py_ssize_t n) except -1
    cdef int _wait(self, int how, int64_t deadline, uint64_t want=*) except -1
    cdef bint _check_gone(self) except -1
    cdef bint _wait_more(self, int how, int64_t deadline) except -1
    cdef int64_t _deadline(self, timeout) except? -1
    cdef int _wait_batch(self, int how, int64_t deadline, Py_ssize_t min_records) except -1
    cdef bint _give_up(self, int retries, int64_t deadline) except -1
