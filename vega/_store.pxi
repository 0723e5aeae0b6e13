# The consolidated store: token lookup, shared memory, sequence locks, smart merge per message code, change
# records (emit, apply, keyframes), the feed handler's nogil batch loop, and the Python API (Store, Quote,
# FeedHandler).  Included at the end of _core.pyx: one compilation unit with the decoder, so the batch loop
# (decode -> merge -> records) inlines.  Types are in _store_types.pxi / _store.h; docs/FORMATS.md is normative.

import os as _os
import fcntl as _fcntl
import stat as _stat
import re as _re
import weakref as _weakref
import numbers as _numbers
import numpy as _np
from vega._files import reserve as _reserve
from libc.stdint cimport INT64_MAX
from libc.stdlib cimport realloc, calloc
from libc.string cimport memcmp
from posix.mman cimport (mmap, munmap, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED,
                         MAP_FAILED)
from posix.time cimport clock_gettime, timespec, CLOCK_REALTIME
from cpython.buffer cimport PyBUF_WRITABLE, PyObject_CheckBuffer
from cpython.number cimport PyNumber_Index

from vega._ring cimport Ring, ring_slot_t, ring_append
from vega._journal cimport JournalWriter, jrnl_writer_t, jrnl_append, jrnl_poll
from vega._ring import FEEDS as _RING_FEEDS, _reopen_flocked
from vega._journal import day_epoch_ns, IST as _IST, _byte_string
import datetime as _dt
from vega._iv cimport (iv_black76_implied, iv_close_unix, iv_select_forward, iv_year_fraction, iv_to_e4,
                       IV_NONE_E4, IV_FWD_NONE)
from libc.math cimport exp as _c_exp
from vega.records import CHANGE_RECORD_DTYPE as _REC_DTYPE
from vega.records import raw_or_record_dtype as _raw_or_record_dtype
from vega.store import (GROUPS as _GROUPS, INDEX_FIELDS as _INDEX_FIELDS, INDEX_LINE5_NAMES as _INDEX_LINE5_NAMES,
                        STORE_DTYPE as _STORE_DTYPE, StoreError, StoreFullError, StoreBusyError, StoreFormatError)

cdef extern from *:
    """
    static inline int vg_ctz32(uint32_t x) { return __builtin_ctz(x); }
    /* Prefetch the cache lines of a store record named by bit i of `lines` (line i = bytes [64 i, 64 i + 64)),
     * for writing; `lines` is a constant at every call site.  The empty volatile asm is a side effect: GCC
     * counts a prefetch as none, so a function doing nothing but prefetching (vg_prefetch_msg) would be
     * found "const" and its calls deleted (tests/test_merge_deferred.py checks the prefetches are in the
     * binary). */
    static inline __attribute__((always_inline)) void vg_pf_lines(const void *rec, const unsigned lines) {
        const char *p = (const char *)rec;
        __asm__ __volatile__("");
        if (lines & 0x01u) __builtin_prefetch(p, 1, 3);
        if (lines & 0x02u) __builtin_prefetch(p + 64, 1, 3);
        if (lines & 0x04u) __builtin_prefetch(p + 128, 1, 3);
        if (lines & 0x08u) __builtin_prefetch(p + 192, 1, 3);
        if (lines & 0x10u) __builtin_prefetch(p + 256, 1, 3);
        if (lines & 0x20u) __builtin_prefetch(p + 320, 1, 3);
        if (lines & 0x40u) __builtin_prefetch(p + 384, 1, 3);
    }
    """
    int vg_ctz32(uint32_t x) noexcept nogil
    void vg_pf_lines(const void* rec, unsigned lines) noexcept nogil

cdef extern from "_store.h":
    uint32_t vg_groups_changed(const uint16_t* masks) noexcept nogil
    void vg_nonzero_masks(const vg_srec_t* r, uint16_t* masks) noexcept nogil
    int vg_side_has_data(const uint8_t* e) noexcept nogil
    int vg_auction_same(const int16_t* a16, const int32_t* a32, const int16_t* b16, const int32_t* b32) noexcept nogil
    uint32_t vg_set_side(int32_t* price, int64_t* qty, int16_t* orders, const uint8_t* e) noexcept nogil
    long vg_emit_records(uint8_t* out, const vg_srec_t* r, const uint16_t* masks, uint32_t gm,
                         uint16_t source, uint64_t ts48, uint8_t flags) noexcept nogil
    # the change records of one merged update, specialised per merge family (masks[g] for g in gm)
    long vg_emit_fam_md(uint8_t* out, const vg_srec_t* r, const uint16_t* masks, uint32_t gm, uint16_t source,
                        uint64_t ts48) noexcept nogil
    long vg_emit_fam_mw(uint8_t* out, const vg_srec_t* r, const uint16_t* masks, uint32_t gm, uint16_t source,
                        uint64_t ts48) noexcept nogil
    long vg_emit_fam_tick(uint8_t* out, const vg_srec_t* r, const uint16_t* masks, uint32_t gm,
                          uint16_t source, uint64_t ts48) noexcept nogil
    long vg_emit_fam_spos(uint8_t* out, const vg_srec_t* r, const uint16_t* masks, uint32_t gm,
                          uint16_t source, uint64_t ts48) noexcept nogil
    long vg_emit_fam_status(uint8_t* out, const vg_srec_t* r, const uint16_t* masks, uint32_t gm,
                            uint16_t source, uint64_t ts48) noexcept nogil
    long vg_emit_fam_buyback(uint8_t* out, const vg_srec_t* r, const uint16_t* masks, uint32_t gm,
                             uint16_t source, uint64_t ts48) noexcept nogil
    long vg_emit_fam_open(uint8_t* out, const vg_srec_t* r, const uint16_t* masks, uint32_t gm,
                          uint16_t source, uint64_t ts48) noexcept nogil
    long vg_emit_fam_oi(uint8_t* out, const vg_srec_t* r, const uint16_t* masks, uint32_t gm, uint16_t source,
                        uint64_t ts48) noexcept nogil
    long vg_emit_fam_any(uint8_t* out, const vg_srec_t* r, const uint16_t* masks, uint32_t gm,
                         uint16_t source, uint64_t ts48) noexcept nogil

cdef bint _vg_emit_reference = False   # tests only: route vg_emit through the table walk vg_emit_ref


cdef enum:
    VG_IST_OFFSET_S = 19800            # IST = UTC + 5:30
    VG_MAX_TOKENS_DENSE = 1 << 24      # upper bound of dense_tokens
    VG_MAX_CAPACITY = 1 << 24

cdef int64_t VG_DAY_NS = 86400LL * 1000000000LL
cdef int64_t VG_IST_NS = 19800LL * 1000000000LL
DEFAULT_DENSE_TOKENS = 1 << 18         # tokens 0 .. 262143 are looked up directly (1 MiB table)
DEFAULT_STALE_NS = 5_000_000_000       # a record not updated for 5 s is stale
MAX_CAPACITY = VG_MAX_CAPACITY           # the most records a store holds
SHM_DIR = _os.environ.get("VEGA_SHM_DIR", "/dev/shm")
_NAME_RE = _re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\Z")


cdef inline int64_t vg_now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <int64_t>ts.tv_sec * 1000000000LL + ts.tv_nsec

cdef inline uint64_t vg_ts48(int64_t epoch_ns) noexcept nogil:
    """ns since 00:00 IST of the day that contains epoch_ns (epoch_ns >= 0).  Unsigned: the int64 sum
    overflowed (undefined) for a time within 5.5 hours of 2**63 (a now_ns the handlers accept)."""
    return (<uint64_t>epoch_ns + <uint64_t>VG_IST_NS) % <uint64_t>VG_DAY_NS


# ----------------------------------------------------------------------------------------------------------
# Token lookup: dense direct table + open-addressing overflow, onto the compact record array
# ----------------------------------------------------------------------------------------------------------

cdef inline uint32_t _vg_hash(int32_t token, uint32_t mask) noexcept nogil:
    return (<uint32_t>token * 2654435761u) & mask

cdef inline int32_t vg_store_find(const vg_store_t* st, int32_t token) noexcept nogil:
    """Record index of token, or -1.  Safe for readers of a file being written (acquire loads)."""
    cdef int32_t idx
    cdef uint32_t h, probes
    if token < 0:
        return -1
    if <uint32_t>token < st.dense_size:
        idx = vg_load_acquire_i32(&st.dense[token])
        return idx if idx < <int32_t>st.capacity else -1
    h = _vg_hash(token, st.hash_mask)
    for probes in range(st.hash_mask + 1):
        idx = vg_load_acquire_i32(&st.hash[h].index)
        if idx < 0:
            return -1
        if st.hash[h].token == token:
            return idx if idx < <int32_t>st.capacity else -1
        h = (h + 1) & st.hash_mask
    return -1

cdef inline void vg_rec_fresh(vg_srec_t* r, uint8_t segment) noexcept nogil:
    """What a record holds for a token just added: zeros but for seq (it only ever grows), the token, the
    segment, valid and subscribed, and "no IV" (until an option tick computes one).  Writer only."""
    memset(<char*>r + 8, 0, sizeof(vg_srec_t) - 8)
    r.segment = segment
    r.valid = 1
    r.subscribed = 1
    r.implied_volatility = IV_NONE_E4

cdef int32_t vg_store_insert(vg_store_t* st, int32_t token, uint8_t segment) noexcept nogil:
    """Append a record for a token that is not in the store (writer only); -1 when the store is full."""
    cdef uint32_t n = st.hdr.n_records, h
    cdef vg_srec_t* r
    if n >= st.capacity or token < 0:
        return -1
    r = &st.recs[n]
    r.token = token
    vg_rec_fresh(r, segment)
    if <uint32_t>token < st.dense_size:
        vg_store_release_i32(&st.dense[token], <int32_t>n)
    else:
        h = _vg_hash(token, st.hash_mask)
        while st.hash[h].index >= 0:
            h = (h + 1) & st.hash_mask
        st.hash[h].token = token
        vg_store_release_i32(&st.hash[h].index, <int32_t>n)
    vg_store_release_u32(&st.hdr.n_records, n + 1)
    return <int32_t>n

cdef inline uint32_t vg_store_len(const vg_store_t* st) noexcept nogil:
    cdef uint32_t n = vg_load_acquire_u32(&st.hdr.n_records)
    return n if n <= st.capacity else st.capacity


cdef int64_t VG_TS48_REACH = 1LL << 48             # ns past 00:00 IST of its day a journal record's time reaches
cdef int64_t VG_JOURNAL_GRACE_NS = 3600LL * 1000000000LL   # an hour before a journal's day: still its day
cdef int64_t VG_CLOCK_CALL_NS = 3600LL * 1000000000LL      # a clock-stamped call ends within this of its start
#: the same hour for Python (vega.capture's ingest allows it before the day being ingested)
JOURNAL_GRACE_NS = VG_JOURNAL_GRACE_NS


cdef str _ist_text(int64_t t_ns):
    """t_ns (epoch ns) as an IST date and time, for messages."""
    return _dt.datetime.fromtimestamp(t_ns // 1_000_000_000, _IST).strftime("%Y-%m-%d %H:%M:%S IST")


# ----------------------------------------------------------------------------------------------------------
# Quality score and small setters that track which fields changed
# ----------------------------------------------------------------------------------------------------------

cdef inline uint8_t vg_quality(const vg_srec_t* r) noexcept nogil:
    """0..100 from the record's own market fields (docs/FORMATS.md "Quality score")."""
    cdef int q = 0
    if r.last_traded_price > 0:
        q += 25
    if r.bid_price[0] > 0 or r.ask_price[0] > 0:
        q += 25
    if r.bid_price[0] > 0 and r.ask_price[0] > r.bid_price[0]:
        q += 15
    if r.low_price > 0 and r.low_price <= r.last_traded_price <= r.high_price:
        q += 15
    if r.volume_traded_today > 0:
        q += 10
    if r.close_price > 0:
        q += 10
    return <uint8_t>q

cdef inline bint vg_preopen(int16_t status) noexcept nogil:
    return status == 1 or status == 4 or status == 6

# Setters that record a change: store v into the record field p and set bit in the group mask m when the
# value differs.  Branch-free (a compare, a conditional move and an unconditional store): which fields of
# a tick change is data-dependent, and a mispredicted branch per field cost more than the store.
cdef inline void _s64(int64_t* p, int64_t v, uint16_t* m, uint32_t bit) noexcept nogil:
    m[0] |= <uint16_t>(bit if p[0] != v else 0)        # branch-free: a store of the same value is harmless
    p[0] = v

cdef inline void _s32(int32_t* p, int32_t v, uint16_t* m, uint32_t bit) noexcept nogil:
    m[0] |= <uint16_t>(bit if p[0] != v else 0)        # branch-free: a store of the same value is harmless
    p[0] = v

cdef inline void _s16(int16_t* p, int16_t v, uint16_t* m, uint32_t bit) noexcept nogil:
    m[0] |= <uint16_t>(bit if p[0] != v else 0)        # branch-free: a store of the same value is harmless
    p[0] = v

cdef inline void _s8(uint8_t* p, uint8_t v, uint16_t* m, uint32_t bit) noexcept nogil:
    m[0] |= <uint16_t>(bit if p[0] != v else 0)        # branch-free: a store of the same value is harmless
    p[0] = v

cdef enum:
    VG_KPAD = 16                       # a merge's group masks: VG_N_GROUPS entries padded to 16 (one clear)
    # the fields vg_quality reads, per group: the score is recomputed only when one of them changed
    VG_Q_TRADE = VG_T_LTP | VG_T_VOLUME
    VG_Q_DEPTH = VG_D_PRICE0
    VG_Q_OHLC = VG_O_HIGH | VG_O_LOW | VG_O_CLOSE

cdef inline uint8_t _ind_bits(const vg_indicator_t* i) noexcept nogil:
    return <uint8_t>((i.last_trade_more << 7) | (i.last_trade_less << 6) | (i.buy << 5) | (i.sell << 4))

cdef inline bint _blank(const char* p, int n) noexcept nogil:
    cdef int i
    for i in range(n):
        if p[i] != 0 and p[i] != b' ':
            return False
    return True

cdef inline void _set_symbol(vg_srec_t* r, const char* sym10, const char* ser2, uint16_t* k) noexcept nogil:
    cdef char buf[12]
    memcpy(buf, sym10, 10)
    memcpy(buf + 10, ser2, 2)
    if memcmp(r.symbol, buf, 12) != 0:
        memcpy(r.symbol, buf, 12)                      # symbol[10] and series[2] are contiguous
        k[VG_G_IDENT] |= VG_ID_SYMBOL


# ----------------------------------------------------------------------------------------------------------
# Change records: emission of one token update, keyframes, apply
# ----------------------------------------------------------------------------------------------------------

cdef vg_rec_t* _rb_grow(vg_recbuf_t* b, Py_ssize_t k) noexcept nogil:
    """_rb_reserve's slow path (out of line: the merge inlines only the capacity test)."""
    cdef Py_ssize_t cap = b.cap * 2 if b.cap else 1024
    cdef vg_rec_t* p
    while cap < b.n + k:
        cap *= 2
    p = <vg_rec_t*>realloc(b.recs, cap * sizeof(vg_rec_t))
    if p == NULL:
        return NULL
    b.recs = p
    b.cap = cap
    return b.recs + b.n

cdef inline vg_rec_t* _rb_reserve(vg_recbuf_t* b, Py_ssize_t k) noexcept nogil:
    """Room for k more records at the end of b (NULL when it cannot grow)."""
    if b.n + k > b.cap:
        return _rb_grow(b, k)
    return b.recs + b.n

cdef inline void _rec_open(vg_rec_t* o, int32_t token, uint64_t ts48, int g, uint8_t flags,
                           uint16_t source) noexcept nogil:
    o.token = <uint32_t>token
    vg_rec_set_ts(o, ts48)
    o.group = <uint8_t>g
    o.flags = flags
    o.mask = 0
    o.source = source
    o.slots[0] = 0
    o.slots[1] = 0
    o.slots[2] = 0
    o.slots[3] = 0

cdef Py_ssize_t vg_emit(vg_recbuf_t* b, const vg_srec_t* r, const uint16_t* masks, uint16_t source,
                        uint64_t ts48, uint8_t flags) noexcept nogil:
    """Append the change records of one token update (masks[g] = changed fields of group g): the named
    fields' absolute values, ascending bit order, 8-byte fields in two slots; every record but the last
    carries VG_REC_CONTINUED.  Returns the number of records, -1 if the buffer could not grow.  The
    per-group kernels are vg_emit_records (_store.h); vg_emit_ref is the same format as a table walk."""
    return _emit_changed(b, r, masks, vg_groups_changed(masks), source, ts48, flags)

cdef Py_ssize_t _emit_changed(vg_recbuf_t* b, const vg_srec_t* r, const uint16_t* masks, uint32_t gm,
                              uint16_t source, uint64_t ts48, uint8_t flags) noexcept nogil:
    """vg_emit when the caller already has gm = vg_groups_changed(masks) (non-zero)."""
    cdef vg_rec_t* out
    cdef Py_ssize_t k
    if _vg_emit_reference:
        return vg_emit_ref(b, r, masks, source, ts48, flags)
    out = _rb_reserve(b, VG_RECS_PER_UPDATE_MAX)
    if out == NULL:
        return -1
    k = vg_emit_records(<uint8_t*>out, r, masks, gm, source, ts48, flags)
    b.n += k
    return k

cdef Py_ssize_t _emit_ref_gm(vg_recbuf_t* b, const vg_srec_t* r, const uint16_t* masks, uint32_t gm,
                            uint16_t source, uint64_t ts48, uint8_t flags) noexcept nogil:
    """vg_emit_ref for a merge's masks, of which only the groups in gm are defined."""
    cdef uint16_t m[VG_N_GROUPS]
    cdef int g
    for g in range(VG_N_GROUPS):
        m[g] = masks[g] if (gm >> g) & 1u else 0
    return vg_emit_ref(b, r, m, source, ts48, flags)

cdef Py_ssize_t vg_emit_ref(vg_recbuf_t* b, const vg_srec_t* r, const uint16_t* masks, uint16_t source,
                        uint64_t ts48, uint8_t flags) noexcept nogil:
    """The reference emitter (the format's definition as a table walk): vg_emit's records, byte for byte.
    Kept for the differential tests (_emit_pair, _use_reference_emit); the feed uses vg_emit."""
    cdef vg_rec_t* out = _rb_reserve(b, VG_RECS_PER_UPDATE_MAX)
    cdef vg_rec_t* cur
    cdef Py_ssize_t k = 0, i
    cdef int g, bit, ns, w
    cdef uint32_t m
    cdef const vg_fld_t* f
    cdef int64_t v
    if out == NULL:
        return -1
    for g in range(1, VG_N_GROUPS):
        m = masks[g]
        if m == 0:
            continue
        cur = out + k
        _rec_open(cur, r.token, ts48, g, flags, source)
        k += 1
        ns = 0
        while m:
            bit = vg_ctz32(m)
            m &= m - 1
            f = &VG_GROUP_FIELDS[g][bit]
            w = 2 if f.size == 8 else 1
            if ns + w > 4:
                cur = out + k
                _rec_open(cur, r.token, ts48, g, flags, source)
                k += 1
                ns = 0
            v = vg_fld_get(r, f)
            if w == 2:
                cur.slots[ns] = <int32_t>(<uint64_t>v & 0xFFFFFFFFu)
                cur.slots[ns + 1] = <int32_t>(<uint64_t>v >> 32)
            else:
                cur.slots[ns] = <int32_t>v
            cur.mask |= <uint16_t>(1u << bit)
            ns += w
    for i in range(k - 1):
        out[i].flags |= VG_REC_CONTINUED
    b.n += k
    return k

cdef Py_ssize_t vg_keyframe(vg_recbuf_t* b, const vg_srec_t* r, uint64_t ts48) noexcept nogil:
    """Records of the full state of one record (a consistent copy): every non-zero field of every group,
    plus the segment, flagged VG_REC_KEYFRAME.  Applying them resets the token first (see vg_apply)."""
    cdef uint16_t masks[VG_N_GROUPS]
    vg_nonzero_masks(r, masks)
    masks[VG_G_IDENT] |= VG_ID_SEGMENT
    if r.segment == VG_SEG_IDX:                          # line 5 holds the index statistics (a C union)
        masks[VG_G_AUCTION] = 0
        masks[VG_G_SPOS] = 0
    else:
        masks[VG_G_INDEX] = 0
    return vg_emit(b, r, masks, r.last_update_source, ts48, VG_REC_KEYFRAME)

cdef int _emit_args(record, masks, uint64_t ts48, vg_srec_t* r, uint16_t* m, tuple groups=None) except -1:
    """_emit_pair's and _emit_family_pair's checks: ``record`` -> r, ``masks`` -> m[1 .. VG_N_GROUPS-1]
    (m[0] = 0); with ``groups``, a mask of another group must be 0."""
    cdef const uint8_t[::1] view = _as_bytes_view(record)
    cdef int g
    if view.shape[0] != sizeof(vg_srec_t):
        raise ValueError(f"record must be {sizeof(vg_srec_t)} bytes")
    masks = list(masks)
    if len(masks) != VG_N_GROUPS - 1:
        raise ValueError(f"masks must hold {VG_N_GROUPS - 1} ints (groups 1 .. {VG_N_GROUPS - 1})")
    if ts48 >= (<uint64_t>1 << 48):
        raise ValueError("ts48 must be below 2**48")
    m[0] = 0
    for g in range(1, VG_N_GROUPS):
        v = int(masks[g - 1])
        if v < 0 or v >= (1 << VG_GROUP_NFIELDS[g]):
            raise ValueError(f"mask of group {g} names a field the group does not have")
        if v and groups is not None and g not in groups:
            raise ValueError(f"this family never changes group {g}")
        m[g] = <uint16_t>v
    memcpy(r, &view[0], sizeof(vg_srec_t))
    return 0


def _emit_pair(record, masks, uint16_t source=0, uint64_t ts48=0, uint8_t flags=0):
    """Tests: the change records of one update of ``record`` (the 448 bytes of a store record) with
    ``masks`` (changed fields per group, one int per group 1 .. n_groups-1), written by vg_emit's kernels
    and by the reference table walk vg_emit_ref.  Returns ``(fast, reference)`` as bytes."""
    cdef vg_srec_t r
    cdef uint16_t m[VG_N_GROUPS]
    cdef vg_recbuf_t fb, rb
    cdef Py_ssize_t kf, kr
    _emit_args(record, masks, ts48, &r, m)
    memset(&fb, 0, sizeof(fb))
    memset(&rb, 0, sizeof(rb))
    try:
        global _vg_emit_reference
        _vg_emit_reference = False
        kf = vg_emit(&fb, &r, m, source, ts48, flags)
        kr = vg_emit_ref(&rb, &r, m, source, ts48, flags)
        if kf < 0 or kr < 0:
            raise MemoryError()
        return (bytes((<char*>fb.recs)[:kf * sizeof(vg_rec_t)]) if kf else b"",
                bytes((<char*>rb.recs)[:kr * sizeof(vg_rec_t)]) if kr else b"")
    finally:
        free(fb.recs)
        free(rb.recs)


_FAMILY_GROUPS = {
    "tick": (VG_G_TRADE, VG_G_OI, VG_G_IDENT),
    "mw": (VG_G_TRADE, VG_G_BID, VG_G_ASK, VG_G_MW, VG_G_OI, VG_G_IDENT),
    "md": (VG_G_TRADE, VG_G_BID, VG_G_ASK, VG_G_OHLC, VG_G_STATUS, VG_G_AUCTION, VG_G_SPOS, VG_G_OI, VG_G_IDENT),
    "spos": (VG_G_SPOS, VG_G_IDENT),
    "status": (VG_G_TRADE, VG_G_OHLC, VG_G_STATUS, VG_G_SPOS, VG_G_IDENT),
    "buyback": (VG_G_BUYBACK, VG_G_IDENT),
    "open": (VG_G_OHLC, VG_G_IDENT),
    "oi": (VG_G_OI, VG_G_IDENT),
}


cdef long _emit_family(str family, uint8_t* out, const vg_srec_t* r, const uint16_t* m, uint32_t gm,
                       uint16_t source, uint64_t ts48):
    if family == "tick":
        return vg_emit_fam_tick(out, r, m, gm, source, ts48)
    if family == "mw":
        return vg_emit_fam_mw(out, r, m, gm, source, ts48)
    if family == "md":
        return vg_emit_fam_md(out, r, m, gm, source, ts48)
    if family == "spos":
        return vg_emit_fam_spos(out, r, m, gm, source, ts48)
    if family == "status":
        return vg_emit_fam_status(out, r, m, gm, source, ts48)
    if family == "buyback":
        return vg_emit_fam_buyback(out, r, m, gm, source, ts48)
    if family == "open":
        return vg_emit_fam_open(out, r, m, gm, source, ts48)
    return vg_emit_fam_oi(out, r, m, gm, source, ts48)


def _emit_family_pair(str family, record, masks, uint16_t source=0, uint64_t ts48=0):
    """Tests: the change records of one merged update written by a merge family's own emitter
    (``vg_emit_fam_<family>``, _store.h; ``family`` one of _FAMILY_GROUPS) and by the reference table walk,
    for ``masks`` as in _emit_pair; the groups the family never changes must be 0.  The family emitter
    writes into a buffer of VG_RECS_PER_UPDATE_MAX records, as in the merge, after a guard record: a byte
    written before its output raises AssertionError.  Returns ``(fast, reference)`` as bytes."""
    cdef vg_srec_t r
    cdef uint16_t m[VG_KPAD]
    cdef vg_recbuf_t rb
    cdef uint8_t* buf
    cdef int i
    cdef long kf
    cdef Py_ssize_t kr
    cdef uint32_t gm
    if family not in _FAMILY_GROUPS:
        raise ValueError(f"family must be one of {sorted(_FAMILY_GROUPS)}")
    memset(m, 0, sizeof(m))                              # the merge clears VG_KPAD entries
    _emit_args(record, masks, ts48, &r, m, _FAMILY_GROUPS[family])
    gm = vg_groups_changed(m)
    memset(&rb, 0, sizeof(rb))
    buf = <uint8_t*>malloc((VG_RECS_PER_UPDATE_MAX + 1) * sizeof(vg_rec_t))
    if buf == NULL:
        raise MemoryError()
    try:
        memset(buf, 0xA5, (VG_RECS_PER_UPDATE_MAX + 1) * sizeof(vg_rec_t))
        kf = _emit_family(family, buf + sizeof(vg_rec_t), &r, m, gm, source, ts48) if gm else 0
        for i in range(<int>sizeof(vg_rec_t)):
            assert buf[i] == 0xA5, f"vg_emit_fam_{family} wrote before its output"
        kr = vg_emit_ref(&rb, &r, m, source, ts48, 0) if gm else 0
        if kr < 0:
            raise MemoryError()
        return (bytes((<char*>buf)[sizeof(vg_rec_t):(kf + 1) * sizeof(vg_rec_t)]),
                bytes((<char*>rb.recs)[:kr * sizeof(vg_rec_t)]) if kr else b"")
    finally:
        free(buf)
        free(rb.recs)


def _use_reference_emit(bint on) -> None:
    """Tests: route every change record of this process through the reference emitter vg_emit_ref (on) or
    the kernels of vg_emit (off, the default), to compare the two over whole feeds."""
    global _vg_emit_reference
    _vg_emit_reference = on

cdef enum vg_aerr:                     # apply errors
    VG_A_OK = 0
    VG_A_GROUP = 1                     # unknown group
    VG_A_MASK = 2                      # mask names a field the group does not have, or more than 4 slots
    VG_A_TOKEN = 3                     # token <= 0 or above 2**31 - 1
    VG_A_FULL = 4                      # the store is full
    VG_A_CONTINUATION = 5              # a CONTINUED update switched tokens

_APPLY_ERRORS = ("ok", "unknown group", "mask names a field the group lacks or needs more than 4 slots",
                 "bad token", "the store is full", "a CONTINUED update changes token")

cdef inline int _rec_check(const vg_rec_t* rec) noexcept nogil:
    cdef int g = rec.group, ns = 0, bit
    cdef uint32_t m = rec.mask
    if g <= 0 or g >= VG_N_GROUPS:
        return VG_A_GROUP
    if m >> VG_GROUP_NFIELDS[g]:
        return VG_A_MASK
    while m:
        bit = vg_ctz32(m)
        m &= m - 1
        ns += 2 if VG_GROUP_FIELDS[g][bit].size == 8 else 1
    if ns > 4:
        return VG_A_MASK
    if rec.token == 0 or rec.token > 0x7FFFFFFFu:
        return VG_A_TOKEN
    return VG_A_OK

cdef inline void _apply_fields(vg_srec_t* r, const vg_rec_t* rec) noexcept nogil:
    cdef int g = rec.group, ns = 0, bit
    cdef uint32_t m = rec.mask
    cdef const vg_fld_t* f
    cdef int64_t v
    while m:
        bit = vg_ctz32(m)
        m &= m - 1
        f = &VG_GROUP_FIELDS[g][bit]
        if f.size == 8:
            v = <int64_t>((<uint64_t><uint32_t>rec.slots[ns]) | (<uint64_t><uint32_t>rec.slots[ns + 1] << 32))
            ns += 2
        else:
            v = rec.slots[ns]
            ns += 1
        vg_fld_set(r, f, v)

cdef inline void _apply_finish(vg_srec_t* r, const vg_rec_t* rec, int64_t base_ns) noexcept nogil:
    cdef int64_t ts = <int64_t>vg_rec_ts(rec)          # < 2**48
    r.last_update_source = rec.source
    # saturated: a day_base_ns within 2**48 of the int64 end (or a journal dated up to 2262-04-10 with a late
    # ts48) overflowed the sum, undefined behaviour that left a negative last update time
    r.last_update_ns = base_ns + ts if base_ns <= INT64_MAX - ts else INT64_MAX
    r.update_count += 1
    r.data_quality = vg_quality(r)
    r.valid = 1
    if rec.source == VG_MBO_MBP or rec.source == VG_ONLY_MBP:
        r.last_md_ns = r.last_update_ns
    vs_write_end(r)

cdef inline void _apply_end(vg_srec_t* r, const vg_rec_t* rec, int64_t base_ns, bint keyframe,
                            const vg_srec_t* before) noexcept nogil:
    """End an update.  A KEYFRAME update that left every market field as it was (a checkpoint replayed over
    the state it was taken from) is no update: the record keeps its metadata (last update time and source,
    count, last_md_ns).  Any other update is finished by _apply_finish; a keyframe's count and last_md_ns go on
    from the record's before the reset."""
    if keyframe:
        r.last_md_ns = before.last_md_ns
        r.update_count = before.update_count
        r.last_update_ns = before.last_update_ns
        r.last_update_source = before.last_update_source
        r.data_quality = before.data_quality
        r.valid = before.valid
        if before.valid and memcmp(<const char*>r + 8, <const char*>before + 8, sizeof(vg_srec_t) - 8) == 0:
            vs_write_end(r)
            return
    _apply_finish(r, rec, base_ns)

cdef Py_ssize_t vg_apply(vg_store_t* st, const vg_rec_t* recs, Py_ssize_t n, int64_t base_ns,
                         int* err) noexcept nogil:
    """Apply change records in order (writer only).  An update = records up to one without CONTINUED; a
    KEYFRAME update first resets the token's record, and changes no metadata when it changes no field
    (_apply_end).  Returns the number of updates applied, those keyframe updates included; on a bad record
    sets *err (vg_aerr) and returns -(index + 1), everything before it applied."""
    cdef Py_ssize_t i, updates = 0
    cdef const vg_rec_t* rec
    cdef vg_srec_t* r = NULL
    cdef vg_srec_t before
    cdef bint keyframe = 0
    cdef int32_t idx
    cdef int e
    err[0] = VG_A_OK
    for i in range(n):
        rec = &recs[i]
        e = _rec_check(rec)
        if e == VG_A_OK and r != NULL and <uint32_t>r.token != rec.token:
            e = VG_A_CONTINUATION
        if e != VG_A_OK:
            if r != NULL:
                _apply_end(r, &recs[i - 1], base_ns, keyframe, &before)
            err[0] = e
            return -(i + 1)
        if r == NULL:
            idx = vg_store_find(st, <int32_t>rec.token)
            if idx < 0:
                idx = vg_store_insert(st, <int32_t>rec.token, 0)
                if idx < 0:
                    err[0] = VG_A_FULL
                    return -(i + 1)
            r = &st.recs[idx]
            vs_write_begin(r)
            keyframe = (rec.flags & VG_REC_KEYFRAME) != 0
            if keyframe:
                memcpy(&before, r, sizeof(vg_srec_t))
                memset(<char*>r + 8, 0, sizeof(vg_srec_t) - 8)     # keep seq and token
        _apply_fields(r, rec)
        if not (rec.flags & VG_REC_CONTINUED):
            _apply_end(r, rec, base_ns, keyframe, &before)
            if st.hdr.segment == 0:             # an unnamed store takes the feed's segment, as a FeedHandler's
                st.hdr.segment = r.segment      # does: a rebuilt store is that feed's store (_claim_segment)
            r = NULL
            updates += 1
    if r != NULL:
        _apply_end(r, &recs[n - 1], base_ns, keyframe, &before)
        if st.hdr.segment == 0:
            st.hdr.segment = r.segment
        updates += 1
    return updates


# ----------------------------------------------------------------------------------------------------------
# Smart merge, one function per message family (docs/FORMATS.md "Merge rules")
# ----------------------------------------------------------------------------------------------------------

cdef inline vg_srec_t* _m_begin(vg_merge_t* c, int32_t token, uint16_t* k) noexcept nogil:
    """Find (or add) the token's record and enter its sequence lock; NULL when the update is skipped.  k (the
    update's group masks, VG_KPAD entries) is cleared; a new token sets k[VG_G_IDENT]."""
    cdef int32_t idx
    cdef vg_srec_t* r
    memset(k, 0, VG_KPAD * sizeof(uint16_t))
    if token <= 0:
        c.counters[VG_M_BAD_TOKEN] += 1
        return NULL
    idx = vg_store_find(c.st, token)
    if idx < 0:
        if c.subscribed_only:
            c.counters[VG_M_UNSUBSCRIBED] += 1
            return NULL
        idx = vg_store_insert(c.st, token, c.segment)
        if idx < 0:
            c.counters[VG_M_STORE_FULL] += 1
            return NULL
        k[VG_G_IDENT] |= VG_ID_SEGMENT | VG_ID_SUBSCRIBED
    r = &c.st.recs[idx]
    if c.subscribed_only and not r.subscribed:
        c.counters[VG_M_UNSUBSCRIBED] += 1
        return NULL
    vs_write_begin(r)
    return r

# ----------------------------------------------------------------------------------------------------------
# Implied volatility of an option tick (docs/FORMATS.md §9 "In the merge")
# ----------------------------------------------------------------------------------------------------------

cdef enum:
    VG_PARITY_SCAN = 32                # strikes looked at (nearest first) for a call + put pair with prices

cdef inline double _rec_ltp(const vg_store_t* st, int32_t rec) noexcept nogil:
    """LTP (paise) of a record of the merge's own store (this thread is its writer: a plain read); 0 if
    rec < 0."""
    if rec < 0 or <uint32_t>rec >= st.capacity:
        return 0.0
    return <double>st.recs[rec].last_traded_price

cdef inline double _spot_ltp(const vg_store_t* own, const vg_store_t* sp, int32_t rec) noexcept nogil:
    """LTP of the underlying in the spot store: a plain read when that is the merge's own store, else a
    seqlock read (another thread or process may be writing it); 0 when unknown, closed or locked.  Locked
    means still odd after VG_SPIN_MERGE (2**8) tries: the merge does not wait VG_SPIN_LIMIT out (2**26 tries,
    ~2 s per option tick) for a writer that died inside an update, it computes this tick's IV without the
    spot."""
    cdef int32_t v = 0
    if sp == NULL or rec < 0 or sp.recs == NULL or <uint32_t>rec >= vg_store_len(sp):
        return 0.0
    if sp == own:
        return <double>sp.recs[rec].last_traded_price
    if vs_read_i32_n(&sp.recs[rec], &sp.recs[rec].last_traded_price, &v, VG_SPIN_MERGE) != 0:
        return 0.0
    return <double>v

cdef inline bint _parity_pair(const vg_store_t* st, const vg_chain_t* ch, int32_t lo, int32_t hi, double ref,
                              double* K, double* C, double* P) noexcept nogil:
    """The strike nearest ref (ties: the lower) among chain[lo:hi] whose call and put both have an LTP > 0,
    looking at no more than VG_PARITY_SCAN strikes outward from ref."""
    cdef int32_t a = lo, b = hi, mid, up, dn, i, n = 0
    cdef double c, p
    while a < b:                                       # first strike >= ref
        mid = a + (b - a) // 2
        if <double>ch[mid].strike_paise < ref:
            a = mid + 1
        else:
            b = mid
    up = a
    dn = a - 1
    while (dn >= lo or up < hi) and n < VG_PARITY_SCAN:
        if up >= hi or (dn >= lo and ref - <double>ch[dn].strike_paise <= <double>ch[up].strike_paise - ref):
            i = dn
            dn -= 1
        else:
            i = up
            up += 1
        n += 1
        c = _rec_ltp(st, ch[i].call_rec)
        p = _rec_ltp(st, ch[i].put_rec)
        if c > 0.0 and p > 0.0:
            K[0] = <double>ch[i].strike_paise
            C[0] = c
            P[0] = p
            return True
    return False

cdef void _iv_update(vg_merge_t* c, vg_srec_t* r, uint16_t* k) noexcept nogil:
    """After an LTP write to an option's record (inside its sequence lock): Black-76 IV on the forward of
    the option's own expiry -> r.implied_volatility (1e-4 units, IV_NONE_E4 when there is none)."""
    cdef const vg_optmeta_t* om = c.st.opt
    cdef int32_t oi = om.opt_of_rec[r - c.st.recs]
    cdef const vg_opt_t* o
    cdef double T, fut, spot, F, ref, pk = 0.0, pc = 0.0, pp = 0.0
    cdef int src = IV_FWD_NONE
    cdef const vg_store_t* sp
    if oi < 0:
        return
    o = &om.opts[oi]
    T = iv_year_fraction(iv_close_unix(o.expiry_unix_s), c.now_ns)        # to the close of the expiry day
    fut = _rec_ltp(c.st, o.future_rec)
    spot = 0.0
    if fut <= 0.0:
        sp = om.idx_st if o.spot_idx else om.spot_st
        if o.spot_rec < 0 and o.spot_token > 0 and sp != NULL and sp.recs != NULL:
            (<vg_opt_t*>o).spot_rec = vg_store_find(sp, o.spot_token)     # the underlying appeared since
        spot = _spot_ltp(c.st, sp, o.spot_rec)
        ref = spot * _c_exp(c.rate * T) if spot > 0.0 and T > 0.0 else <double>o.strike_paise
        if not _parity_pair(c.st, om.chain, o.chain_lo, o.chain_hi, ref, &pk, &pc, &pp):
            pk = 0.0
    F = iv_select_forward(fut, pk, pc, pp, spot, T, c.rate, &src)
    if src == IV_FWD_NONE:
        _s32(&r.implied_volatility, IV_NONE_E4, &k[VG_G_OI], VG_I_IV)
        return
    _s32(&r.implied_volatility,
         iv_to_e4(iv_black76_implied(<double>r.last_traded_price, F, <double>o.strike_paise, T, c.rate,
                                     o.is_call)),
         &k[VG_G_OI], VG_I_IV)

cdef inline uint32_t _m_end(vg_merge_t* c, vg_srec_t* r, uint16_t* k, uint32_t gm, uint32_t qual,
                           uint16_t code) noexcept nogil:
    """Every update sets update time, source and count.  gm non-zero when the update changed a field (the
    OR of the caller's group masks, which it has in registers; k holds them), qual non-zero when a field
    vg_quality reads changed (the VG_Q_* bits of the caller's masks): that refreshes the quality score
    (exact: the score is a function of those fields only).  An LTP change of an option (instruments
    loaded) recomputes its implied volatility first.  Leaves the sequence lock and returns non-zero when
    the caller emits change records (after the lock: the writer reads its own record) with _m_out and its
    family's vg_emit_fam_*."""
    if c.st.opt != NULL and (k[VG_G_TRADE] & VG_T_LTP) and c.st.opt.opt_of_rec[r - c.st.recs] >= 0:
        _iv_update(c, r, k)             # (an option's: the test above keeps the call off every other LTP change)
        gm |= k[VG_G_OI]
    _m_stamp(r, c.now_ns, code, qual)
    c.counters[VG_M_MERGED] += 1
    return gm if c.out != NULL else 0

cdef inline void _m_stamp(vg_srec_t* r, int64_t now_ns, uint16_t code, uint32_t qual) noexcept nogil:
    """The end of every update (_m_end): update time, source and count, the quality score when one of its
    inputs changed, and out of the sequence lock."""
    r.last_update_ns = now_ns
    r.last_update_source = code
    r.update_count += 1
    if qual:
        r.data_quality = vg_quality(r)
    vs_write_end(r)

cdef uint8_t* _m_out_slow(vg_merge_t* c, const vg_srec_t* r, const uint16_t* k, uint32_t gm,
                          uint16_t code) noexcept nogil:
    """_m_out's rare cases: the reference emitter (tests) writes the records itself; a full buffer grows."""
    if _vg_emit_reference:
        if _emit_ref_gm(c.out, r, k, vg_groups_changed(k), code, c.ts48, 0) < 0:
            c.counters[VG_M_REC_DROPPED] += 1
        return NULL
    if _rb_grow(c.out, VG_RECS_PER_UPDATE_MAX) == NULL:
        c.counters[VG_M_REC_DROPPED] += 1
        return NULL
    return <uint8_t*>(c.out.recs + c.out.n)

cdef inline uint8_t* _m_out(vg_merge_t* c, const vg_srec_t* r, const uint16_t* k, uint32_t gm,
                            uint16_t code) noexcept nogil:
    """Where the records of an update (gm = _m_end's answer, non-zero) go: room for the largest update at
    the end of c.out; NULL when there is nothing more to do (reference emitter, or no memory: counted)."""
    cdef vg_recbuf_t* b = c.out
    if b.n + VG_RECS_PER_UPDATE_MAX > b.cap or _vg_emit_reference:
        return _m_out_slow(c, r, k, gm, code)
    return <uint8_t*>(b.recs + b.n)

cdef inline bint _md_stale(const vg_srec_t* r, int64_t now_ns, int64_t stale_ns) noexcept nogil:
    """True when no 7200/7208 was merged for this token within stale_ns (the merge's md_stale_ns) of now."""
    return r.last_md_ns == 0 or now_ns - r.last_md_ns > stale_ns

cdef inline uint16_t _status_changed(vg_srec_t* r, int16_t old_status) noexcept nogil:
    """SPOS reset: the call-auction cancel statistics belong to the pre-open session and are cleared when
    the security moves from a pre-open status to open (2).  Returns the SPOS fields changed."""
    cdef uint16_t ksp = 0
    if vg_preopen(old_status) and r.trading_status == 2:
        _s64(&r.buy_ord_cxl_count, 0, &ksp, 1 << 0)
        _s64(&r.buy_ord_cxl_vol, 0, &ksp, 1 << 1)
        _s64(&r.sell_ord_cxl_count, 0, &ksp, 1 << 2)
        _s64(&r.sell_ord_cxl_vol, 0, &ksp, 1 << 3)
        _s32(&r.spos_update_time, 0, &ksp, 1 << 4)
    return ksp

cdef inline bint _side_has_data(const vg_mbp_t* e) noexcept nogil:
    cdef int i
    for i in range(VG_DEPTH):
        if e[i].price != 0 or e[i].quantity != 0 or e[i].number_of_orders != 0:
            return True
    return False

cdef inline void _set_side(int32_t* price, int64_t* qty, int16_t* orders, const vg_mbp_t* e,
                           uint16_t* m) noexcept nogil:
    cdef int i
    for i in range(VG_DEPTH):
        _s32(&price[i], e[i].price, m, VG_D_PRICE0 << i)
        _s64(&qty[i], e[i].quantity, m, VG_D_QTY0 << i)
        _s16(&orders[i], e[i].number_of_orders, m, VG_D_ORDERS0 << i)

cdef void vg_merge_md(vg_merge_t* c, const vg_md_t* m, uint16_t code, uint8_t seg, uint64_t ts48) noexcept nogil:
    """7200 / 7208 (CM and F&O): the smart merge."""
    cdef uint16_t k[VG_KPAD]
    cdef uint32_t gm
    cdef uint8_t* out
    cdef vg_srec_t* r
    cdef int16_t old_status
    cdef bint indicative
    # the group masks live in registers while merging (k is passed on to _m_end, so it lives in memory)
    cdef uint16_t kt = 0, kb = 0, ka = 0, ko = 0, kst = 0, kau = 0, ksp
    if m.book_type != 1 and m.book_type != 2:          # book-type filter: regular lot and special terms
        c.counters[VG_M_BOOK_TYPE] += 1
        return
    r = _m_begin(c, m.token, k)
    if r == NULL:
        return
    old_status = r.trading_status
    # pre-open (PROTOCOL.md §3.3): OpenPrice is the indicative open and VolumeTradedToday the indicative
    # equilibrium quantity, both moving either way; the first message after the pre-open has the final open
    # and the real volume.  Set-once open and only-growing volume hold from then on.
    indicative = vg_preopen(old_status) or vg_preopen(m.trading_status)
    _s16(&r.book_type, m.book_type, &kst, VG_S_BOOK_TYPE)
    if m.trading_status > 0:
        _s16(&r.trading_status, m.trading_status, &kst, VG_S_TRADING_STATUS)
    # trade: prices only when > 0, volume only grows (in pre-open: as sent)
    if m.last_traded_price > 0:
        _s32(&r.last_traded_price, m.last_traded_price, &kt, VG_T_LTP)
    if m.last_trade_quantity > 0:
        _s32(&r.last_trade_quantity, m.last_trade_quantity, &kt, VG_T_LTQ)
    if m.last_trade_time > 0:
        _s32(&r.last_trade_time, m.last_trade_time, &kt, VG_T_LTT)
    if m.volume_traded_today > r.volume_traded_today or indicative:
        _s64(&r.volume_traded_today, m.volume_traded_today, &kt, VG_T_VOLUME)
    if seg == VG_SEG_CM:
        _s32(&r.net_price_change, m.net_price_change_from_closing_price, &kt, VG_T_NET_CHANGE)
    _s8(<uint8_t*>&r.net_change_indicator, <uint8_t>m.net_change_indicator, &kt,
        VG_T_NET_CHANGE_IND)
    if m.average_trade_price > 0:
        _s32(&r.average_trade_price, m.average_trade_price, &kt, VG_T_ATP)
    _s8(&r.indicator, _ind_bits(&m.indicator), &kt, VG_T_INDICATOR)
    # OHLC: open set once (in pre-open: the indicative open), high a max, low the min of positive values,
    # close when > 0
    if m.open_price > 0 and (r.open_price == 0 or indicative):
        _s32(&r.open_price, m.open_price, &ko, VG_O_OPEN)
    if m.high_price > r.high_price:
        _s32(&r.high_price, m.high_price, &ko, VG_O_HIGH)
    if m.low_price > 0 and (r.low_price <= 0 or m.low_price < r.low_price):
        _s32(&r.low_price, m.low_price, &ko, VG_O_LOW)
    if m.closing_price > 0:
        _s32(&r.close_price, m.closing_price, &ko, VG_O_CLOSE)
    if seg == VG_SEG_FO and r.last_traded_price > 0 and r.close_price > 0:
        # F&O sends the closing price in NetPriceChangeFromClosingPrice, "for the front end to calculate" the
        # change (PROTOCOL.md §3.9; FO946 p.174, p.178): LTP - previous close, like the index merge's
        _s32(&r.net_price_change, r.last_traded_price - r.close_price, &kt, VG_T_NET_CHANGE)
    if code == VG_ONLY_MBP and seg == VG_SEG_CM and m.indicative_close_price > 0:
        _s32(&r.indicative_close_price, m.indicative_close_price, &ko, VG_O_IND_CLOSE)
    # totals and buy-back flags: absolute values
    _s64(&r.total_buy_quantity, m.total_buy_quantity, &ko, VG_O_TOTAL_BUY)
    _s64(&r.total_sell_quantity, m.total_sell_quantity, &ko, VG_O_TOTAL_SELL)
    _s16(&r.bb_total_buy_flag, m.bb_total_buy_flag, &ko, VG_O_BB_BUY)
    _s16(&r.bb_total_sell_flag, m.bb_total_sell_flag, &ko, VG_O_BB_SELL)
    # depth: each side replaced as a whole (prices, quantities, orders) only when one of its levels has data
    # (SSE2 in _store.h: vg_mbp_t entries transposed four levels at a time; _side_has_data / _set_side are
    # the scalar definition, kept for the tests)
    if vg_side_has_data(<const uint8_t*>&m.mbp[0]):
        kb = <uint16_t>vg_set_side(r.bid_price, r.bid_quantity, r.bid_orders, <const uint8_t*>&m.mbp[0])
    if vg_side_has_data(<const uint8_t*>&m.mbp[VG_DEPTH]):
        ka = <uint16_t>vg_set_side(r.ask_price, r.ask_quantity, r.ask_orders, <const uint8_t*>&m.mbp[VG_DEPTH])
    # auction: copied as sent; a message without auction data (all zero) ends the auction -> cleared.  One
    # compare of the whole block first: usually there is no auction and nothing to store
    if not vg_auction_same(&r.auction_number, &r.initiator_price, &m.auction_number, &m.initiator_price):
        _s16(&r.auction_number, m.auction_number, &kau, 1 << 0)
        _s16(&r.auction_status, m.auction_status, &kau, 1 << 1)
        _s16(&r.initiator_type, m.initiator_type, &kau, 1 << 2)
        _s32(&r.initiator_price, m.initiator_price, &kau, 1 << 3)
        _s32(&r.initiator_quantity, m.initiator_quantity, &kau, 1 << 4)
        _s32(&r.auction_price, m.auction_price, &kau, 1 << 5)
        _s32(&r.auction_quantity, m.auction_quantity, &kau, 1 << 6)
    ksp = _status_changed(r, old_status)
    k[VG_G_TRADE] = kt
    k[VG_G_BID] = kb
    k[VG_G_ASK] = ka
    k[VG_G_OHLC] = ko
    k[VG_G_STATUS] = kst
    k[VG_G_AUCTION] = kau
    k[VG_G_SPOS] = ksp
    r.last_md_ns = c.now_ns
    gm = _m_end(c, r, k, kt | kb | ka | ko | kst | kau | ksp | k[VG_G_IDENT],
                (kt & VG_Q_TRADE) | ((kb | ka) & VG_Q_DEPTH) | (ko & VG_Q_OHLC), code)
    if gm:
        out = _m_out(c, r, k, gm, code)
        if out != NULL:
            c.out.n += vg_emit_fam_md(out, r, k, gm, code, ts48)

cdef inline void _mw_fields(vg_srec_t* r, const vg_mw_t* w, uint8_t seg, int64_t now_ns, int64_t stale_ns,
                            uint16_t* kt, uint16_t* kb, uint16_t* ka, uint16_t* kmw, uint16_t* koi) noexcept nogil:
    """The market watch's merge rules (inside the record's sequence lock; the k* get the changed fields per
    group): its own fields always; best bid/ask overwritten in pre-open (where its LastTradePrice is the
    indicative open, no trade: PROTOCOL.md §3.4), best bid/ask and LTP supplemented (positive values only)
    when no 7200/7208 was merged within stale_ns; F&O open interest with day high/low."""
    cdef const vg_mw_info_t* f = &w.market_wise_info[0]
    _s64(&r.mw_buy_volume, f.buy_volume, kmw, VG_M_BUY_VOLUME)
    _s32(&r.mw_buy_price, f.buy_price, kmw, VG_M_BUY_PRICE)
    _s64(&r.mw_sell_volume, f.sell_volume, kmw, VG_M_SELL_VOLUME)
    _s32(&r.mw_sell_price, f.sell_price, kmw, VG_M_SELL_PRICE)
    _s32(&r.mw_last_trade_price, f.last_trade_price, kmw, VG_M_LTP)
    _s32(&r.mw_last_trade_time, f.last_trade_time, kmw, VG_M_LTT)
    _s8(&r.mw_indicator, _ind_bits(&f.indicator), kmw, VG_M_INDICATOR)
    if vg_preopen(r.trading_status):
        _s32(&r.bid_price[0], f.buy_price, kb, VG_D_PRICE0)
        _s64(&r.bid_quantity[0], f.buy_volume, kb, VG_D_QTY0)
        _s32(&r.ask_price[0], f.sell_price, ka, VG_D_PRICE0)
        _s64(&r.ask_quantity[0], f.sell_volume, ka, VG_D_QTY0)
    elif _md_stale(r, now_ns, stale_ns):
        if f.buy_price > 0:
            _s32(&r.bid_price[0], f.buy_price, kb, VG_D_PRICE0)
            _s64(&r.bid_quantity[0], f.buy_volume, kb, VG_D_QTY0)
        if f.sell_price > 0:
            _s32(&r.ask_price[0], f.sell_price, ka, VG_D_PRICE0)
            _s64(&r.ask_quantity[0], f.sell_volume, ka, VG_D_QTY0)
        if f.last_trade_price > 0:
            _s32(&r.last_traded_price, f.last_trade_price, kt, VG_T_LTP)
        if f.last_trade_time > 0:
            _s32(&r.last_trade_time, f.last_trade_time, kt, VG_T_LTT)
    if seg == VG_SEG_FO:
        _s64(&r.open_interest, w.open_interest, koi, VG_I_OI)
        if w.open_interest > 0:
            if w.open_interest > r.oi_day_high:
                _s64(&r.oi_day_high, w.open_interest, koi, VG_I_HIGH)
            if r.oi_day_low <= 0 or w.open_interest < r.oi_day_low:
                _s64(&r.oi_day_low, w.open_interest, koi, VG_I_LOW)

cdef void vg_merge_mw(vg_merge_t* c, const vg_mw_t* w, uint16_t code, uint8_t seg, uint64_t ts48) noexcept nogil:
    """7201 / 17201 market watch, one record (_mw_fields): the general path, for what _batch_loop leaves to it
    (implied volatility, subscriptions, the reference emitter)."""
    cdef uint16_t k[VG_KPAD]
    cdef uint32_t gm
    cdef uint8_t* out
    cdef vg_srec_t* r = _m_begin(c, w.token, k)
    cdef uint16_t kt = 0, kb = 0, ka = 0, kmw = 0, koi = 0     # group masks in registers while merging
    if r == NULL:
        return
    _mw_fields(r, w, seg, c.now_ns, c.md_stale_ns, &kt, &kb, &ka, &kmw, &koi)
    k[VG_G_TRADE] = kt
    k[VG_G_BID] = kb
    k[VG_G_ASK] = ka
    k[VG_G_MW] = kmw
    k[VG_G_OI] = koi
    gm = _m_end(c, r, k, kt | kb | ka | kmw | koi | k[VG_G_IDENT],
                (kt & VG_Q_TRADE) | ((kb | ka) & VG_Q_DEPTH), code)
    if gm:
        out = _m_out(c, r, k, gm, code)
        if out != NULL:
            c.out.n += vg_emit_fam_mw(out, r, k, gm, code, ts48)

cdef enum:
    # a ticker record's MarketType: 1 normal, then the other markets (PROTOCOL_MORE.md): 2 odd lot, 3 spot,
    # 4 auction, 5 and 6 call auction 1 and 2
    VG_MARKET_OTHER_FIRST = 2
    VG_MARKET_OTHER_LAST = 6

cdef inline void _tick_fields(vg_srec_t* r, const vg_tick_t* t, uint8_t seg, int64_t now_ns, int64_t stale_ns,
                              uint16_t* kt, uint16_t* koi) noexcept nogil:
    """The ticker's merge rules (inside the record's sequence lock; kt / koi get the changed trade and OI
    fields): fill price and volume, market type, a fast LTP that never overwrites a fresh 7200/7208 (no
    7200/7208 merged within stale_ns) and is not a fill of another market than the normal one (an odd-lot,
    spot, auction or call-auction fill is not the price the book and the market watch describe; a value the
    protocol does not name counts as normal); F&O open interest and the exchange's day high/low OI."""
    _s16(&r.market_type, t.market_type, kt, VG_T_MARKET_TYPE)
    if t.fill_price > 0:
        _s32(&r.fill_price, t.fill_price, kt, VG_T_FILL_PRICE)
        if not (VG_MARKET_OTHER_FIRST <= t.market_type <= VG_MARKET_OTHER_LAST) and \
                _md_stale(r, now_ns, stale_ns):
            _s32(&r.last_traded_price, t.fill_price, kt, VG_T_LTP)
    if t.fill_volume > 0:
        _s32(&r.fill_volume, t.fill_volume, kt, VG_T_FILL_VOLUME)
    if seg == VG_SEG_FO:
        _s64(&r.open_interest, t.open_interest, koi, VG_I_OI)
        if t.day_hi_oi > 0:
            _s64(&r.oi_day_high, t.day_hi_oi, koi, VG_I_HIGH)
        if t.day_lo_oi > 0:
            _s64(&r.oi_day_low, t.day_lo_oi, koi, VG_I_LOW)

cdef void vg_merge_tick(vg_merge_t* c, const vg_tick_t* t, uint16_t code, uint8_t seg,
                        uint64_t ts48) noexcept nogil:
    """18703 (CM) / 7202, 17202 (F&O) ticker, one record (_tick_fields): the general path, for what
    _batch_loop leaves to it (implied volatility, subscriptions, the reference emitter)."""
    cdef uint16_t k[VG_KPAD]
    cdef uint32_t gm
    cdef uint8_t* out
    cdef vg_srec_t* r = _m_begin(c, t.token, k)
    cdef uint16_t kt = 0, koi = 0      # group masks in registers while merging
    if r == NULL:
        return
    _tick_fields(r, t, seg, c.now_ns, c.md_stale_ns, &kt, &koi)
    k[VG_G_TRADE] = kt
    k[VG_G_OI] = koi
    gm = _m_end(c, r, k, kt | koi | k[VG_G_IDENT], kt & VG_Q_TRADE, code)
    if gm:
        out = _m_out(c, r, k, gm, code)
        if out != NULL:
            c.out.n += vg_emit_fam_tick(out, r, k, gm, code, ts48)

ctypedef fused vg_batch_rec_t:          # the message records _batch_loop merges
    vg_tick_t
    vg_mw_t
    vg_spos_t
    vg_status_t

cdef inline void _batch_loop(vg_merge_t* c, const vg_batch_rec_t* msgs, int n, uint16_t code, uint8_t seg,
                             uint64_t ts48, int32_t log_time) noexcept nogil:
    """vg_merge_tick / _mw / _spos / _status over the n records of one message. In the common case (no options loaded,
    so no IV; every token merged, not subscribed_only; change records by the family emitter or none) the loop below;
    otherwise, or when the record buffer cannot grow, the one-record functions. A ticker message names up to 28
    tokens, a market-watch message up to 5, a status message up to 35 (F&O 7210 / 7320) or 25 (CM 18130 / 18707), a CM
    7210 up to 8, so what does not change within a message is read once: the store's tables, the time, the records'
    destination (room for the whole message is reserved up front, and the records go to one pointer). A token already
    in the dense table is found with one load; any other (bad, new, sparse) takes _m_begin. The same stores and
    records as the one-record functions, which stay the general path (tests/test_merge_fast.py and
    tests/test_store_emit.py compare the two)."""
    cdef uint16_t k[VG_KPAD]
    cdef const vg_batch_rec_t* m
    cdef vg_srec_t* r
    cdef const int32_t* dense = c.st.dense
    cdef vg_srec_t* recs = c.st.recs
    cdef uint32_t dense_size = c.st.dense_size, cap = c.st.capacity, idx, gm, qual
    cdef int64_t now_ns = c.now_ns, stale_ns = c.md_stale_ns
    cdef uint8_t* out = NULL
    cdef uint16_t kt, kb, ka, kmw, koi, kst, ksp, kid, ko
    cdef int i, merged = 0
    cdef bint general = c.st.opt != NULL or c.subscribed_only or _vg_emit_reference
    if c.out != NULL and not general:
        out = <uint8_t*>_rb_reserve(c.out, <Py_ssize_t>n * VG_RECS_PER_UPDATE_MAX)
        general = out == NULL                            # no memory for the records: the general path counts
    if general:
        for i in range(n):
            if vg_batch_rec_t is vg_tick_t:
                vg_merge_tick(c, &msgs[i], code, seg, ts48)
            elif vg_batch_rec_t is vg_mw_t:
                vg_merge_mw(c, &msgs[i], code, seg, ts48)
            elif vg_batch_rec_t is vg_spos_t:
                vg_merge_spos(c, &msgs[i], log_time, ts48)
            else:
                vg_merge_status(c, &msgs[i], code, ts48)
        return
    for i in range(n):
        m = &msgs[i]
        idx = <uint32_t>dense[m.token] if <uint32_t>m.token < dense_size else cap
        if idx < cap:                                    # -1 (not in the store) is >= cap too
            r = &recs[idx]
            vs_write_begin(r)
            kid = 0
        else:
            r = _m_begin(c, m.token, k)
            if r == NULL:
                continue
            kid = k[VG_G_IDENT]
        kt = 0
        kb = 0
        ka = 0
        kmw = 0
        koi = 0
        kst = 0
        ksp = 0
        ko = 0
        qual = 0                                         # 7210 changes no quality input
        if vg_batch_rec_t is vg_tick_t:
            _tick_fields(r, m, seg, now_ns, stale_ns, &kt, &koi)
            qual = kt & VG_Q_TRADE
        elif vg_batch_rec_t is vg_mw_t:
            _mw_fields(r, m, seg, now_ns, stale_ns, &kt, &kb, &ka, &kmw, &koi)
            qual = (kt & VG_Q_TRADE) | ((kb | ka) & VG_Q_DEPTH)
        elif vg_batch_rec_t is vg_spos_t:
            _spos_fields(r, m, log_time, &ksp)
        else:
            _status_fields(r, m, &kt, &kst, &ksp, &ko)
            qual = kt & VG_Q_TRADE
        _m_stamp(r, now_ns, code, qual)
        merged += 1
        gm = kt | kb | ka | kmw | koi | kst | ksp | kid | ko
        if gm and out != NULL:
            k[VG_G_IDENT] = kid                          # the family emitter reads its own groups only
            if vg_batch_rec_t is vg_tick_t:
                k[VG_G_TRADE] = kt
                k[VG_G_OI] = koi
                out += sizeof(vg_rec_t) * vg_emit_fam_tick(out, r, k, gm, code, ts48)
            elif vg_batch_rec_t is vg_mw_t:
                k[VG_G_TRADE] = kt
                k[VG_G_BID] = kb
                k[VG_G_ASK] = ka
                k[VG_G_MW] = kmw
                k[VG_G_OI] = koi
                out += sizeof(vg_rec_t) * vg_emit_fam_mw(out, r, k, gm, code, ts48)
            elif vg_batch_rec_t is vg_spos_t:
                k[VG_G_SPOS] = ksp
                out += sizeof(vg_rec_t) * vg_emit_fam_spos(out, r, k, gm, VG_7210, ts48)
            else:
                k[VG_G_TRADE] = kt
                k[VG_G_OHLC] = ko
                k[VG_G_STATUS] = kst
                k[VG_G_SPOS] = ksp
                out += sizeof(vg_rec_t) * vg_emit_fam_status(out, r, k, gm, code, ts48)
    c.counters[VG_M_MERGED] += merged
    if out != NULL:
        c.out.n = (out - <uint8_t*>c.out.recs) // <Py_ssize_t>sizeof(vg_rec_t)

cdef inline void _spos_fields(vg_srec_t* r, const vg_spos_t* s, int32_t log_time, uint16_t* ksp) noexcept nogil:
    """CM 7210's rules: call-auction order-cancel statistics (absolute), stamped with the message's
    LogTime."""
    _s64(&r.buy_ord_cxl_count, s.buy_ord_cxl_count, ksp, 1 << 0)
    _s64(&r.buy_ord_cxl_vol, s.buy_ord_cxl_vol, ksp, 1 << 1)
    _s64(&r.sell_ord_cxl_count, s.sell_ord_cxl_count, ksp, 1 << 2)
    _s64(&r.sell_ord_cxl_vol, s.sell_ord_cxl_vol, ksp, 1 << 3)
    _s32(&r.spos_update_time, log_time, ksp, 1 << 4)

cdef inline void _status_fields(vg_srec_t* r, const vg_status_t* s, uint16_t* kt, uint16_t* kst, uint16_t* ksp,
                                uint16_t* ko) noexcept nogil:
    """F&O 7210 / 7320's and CM 18130 / 18707's rules: security status per market (the first four: normal, odd lot,
    spot, auction); the normal market's (status[0]) is the trading status; leaving pre-open resets the SPOS statistics
    and clears the open and the volume, which were the indicative open and equilibrium quantity (the next 7200/7208
    brings the final open and the real volume: vg_merge_md; kept, the indicative volume would hold the real one back
    under "volume only grows")."""
    cdef int16_t old_status = r.trading_status
    _s16(&r.market_status[0], s.status[0], kst, VG_S_MARKET_STATUS0 << 0)
    _s16(&r.market_status[1], s.status[1], kst, VG_S_MARKET_STATUS0 << 1)
    _s16(&r.market_status[2], s.status[2], kst, VG_S_MARKET_STATUS0 << 2)
    _s16(&r.market_status[3], s.status[3], kst, VG_S_MARKET_STATUS0 << 3)
    if s.status[0] > 0:
        _s16(&r.trading_status, s.status[0], kst, VG_S_TRADING_STATUS)
    ksp[0] = _status_changed(r, old_status)
    if vg_preopen(old_status) and r.trading_status == 2:
        _s32(&r.open_price, 0, ko, VG_O_OPEN)
        _s64(&r.volume_traded_today, 0, kt, VG_T_VOLUME)

cdef void vg_merge_spos(vg_merge_t* c, const vg_spos_t* s, int32_t log_time, uint64_t ts48) noexcept nogil:
    """CM 7210, one record (_spos_fields): the general path, for what _batch_loop leaves to it."""
    cdef uint16_t k[VG_KPAD]
    cdef uint32_t gm
    cdef uint8_t* out
    cdef vg_srec_t* r = _m_begin(c, s.token, k)
    cdef uint16_t ksp = 0
    if r == NULL:
        return
    _spos_fields(r, s, log_time, &ksp)
    k[VG_G_SPOS] = ksp
    gm = _m_end(c, r, k, ksp | k[VG_G_IDENT], 0, VG_7210)
    if gm:
        out = _m_out(c, r, k, gm, VG_7210)
        if out != NULL:
            c.out.n += vg_emit_fam_spos(out, r, k, gm, VG_7210, ts48)

cdef void vg_merge_status(vg_merge_t* c, const vg_status_t* s, uint16_t code, uint64_t ts48) noexcept nogil:
    """F&O 7210 / 7320, CM 18130 / 18707, one record (_status_fields): the general path, for what _batch_loop leaves
    to it."""
    cdef uint16_t k[VG_KPAD]
    cdef uint32_t gm
    cdef uint8_t* out
    cdef vg_srec_t* r = _m_begin(c, s.token, k)
    cdef uint16_t kt = 0, kst = 0, ksp = 0, ko = 0
    if r == NULL:
        return
    _status_fields(r, s, &kt, &kst, &ksp, &ko)
    k[VG_G_TRADE] = kt
    k[VG_G_OHLC] = ko
    k[VG_G_STATUS] = kst
    k[VG_G_SPOS] = ksp
    gm = _m_end(c, r, k, kt | ko | kst | ksp | k[VG_G_IDENT], kt & VG_Q_TRADE, code)
    if gm:
        out = _m_out(c, r, k, gm, code)
        if out != NULL:
            c.out.n += vg_emit_fam_status(out, r, k, gm, code, ts48)

cdef inline int64_t _dbl_i64(double d) noexcept nogil:
    if not (d > -9.2e18 and d < 9.2e18):
        return 0
    return <int64_t>(d + 0.5 if d >= 0 else d - 0.5)

cdef void vg_merge_buyback(vg_merge_t* c, const vg_buyback_t* b, int32_t log_time) noexcept nogil:
    """CM 18708: buy-back information overwrites the record's buy-back fields (volumes rounded)."""
    cdef uint16_t k[VG_KPAD]
    cdef uint32_t gm
    cdef uint8_t* out
    cdef vg_srec_t* r = _m_begin(c, b.token, k)
    cdef uint8_t active
    cdef uint16_t kbb = 0
    if r == NULL:
        return
    _s64(&r.pday_cum_vol, _dbl_i64(b.pday_cum_vol), &kbb, 1 << 0)
    _s32(&r.pday_high_price, b.pday_high_price, &kbb, 1 << 1)
    _s32(&r.pday_low_price, b.pday_low_price, &kbb, 1 << 2)
    _s32(&r.pday_wt_avg, b.pday_wt_avg, &kbb, 1 << 3)
    _s64(&r.cday_cum_vol, _dbl_i64(b.cday_cum_vol), &kbb, 1 << 4)
    _s32(&r.cday_high_price, b.cday_high_price, &kbb, 1 << 5)
    _s32(&r.cday_low_price, b.cday_low_price, &kbb, 1 << 6)
    _s32(&r.cday_wt_avg, b.cday_wt_avg, &kbb, 1 << 7)
    _s32(&r.bb_start_date, b.start_date, &kbb, 1 << 8)
    _s32(&r.bb_end_date, b.end_date, &kbb, 1 << 9)
    # active while the message's LogTime lies in [StartDate, EndDate] (a bound of 0 is open)
    active = not ((b.start_date > 0 and log_time < b.start_date) or (b.end_date > 0 and log_time > b.end_date))
    _s8(&r.buyback_active, active, &kbb, 1 << 10)
    k[VG_G_BUYBACK] = kbb
    if not _blank(b.symbol, 10):
        _set_symbol(r, b.symbol, b.series, k)
    gm = _m_end(c, r, k, kbb | k[VG_G_IDENT], 0, VG_BUYBACK)
    if gm:
        out = _m_out(c, r, k, gm, VG_BUYBACK)
        if out != NULL:
            c.out.n += vg_emit_fam_buyback(out, r, k, gm, VG_BUYBACK, c.ts48)

cdef void vg_merge_open(vg_merge_t* c, const vg_open_price_t* o) noexcept nogil:
    """6013: the exchange's opening price overwrites open_price; symbol/series fill a blank identity."""
    cdef uint16_t k[VG_KPAD]
    cdef uint32_t gm
    cdef uint8_t* out
    cdef vg_srec_t* r = _m_begin(c, o.token, k)
    cdef uint16_t ko = 0
    if r == NULL:
        return
    if o.opening_price > 0:
        _s32(&r.open_price, o.opening_price, &ko, VG_O_OPEN)
    k[VG_G_OHLC] = ko
    if _blank(r.symbol, 10) and not _blank(o.symbol, 10):
        _set_symbol(r, o.symbol, o.series, k)
    gm = _m_end(c, r, k, ko | k[VG_G_IDENT], 0, VG_OPEN_PRICE)
    if gm:
        out = _m_out(c, r, k, gm, VG_OPEN_PRICE)
        if out != NULL:
            c.out.n += vg_emit_fam_open(out, r, k, gm, VG_OPEN_PRICE, c.ts48)

# ----------------------------------------------------------------------------------------------------------
# Index feed: index name -> stable token, index records (CM 7207 / 7216 / 8207), open interest per underlying
# (F&O 7130 / 17130).  docs/FORMATS.md "Index records" and "Index tokens".
# ----------------------------------------------------------------------------------------------------------

cdef inline int vg_idx_normalise(const char* raw, int n, char* key, char* name) noexcept nogil:
    """Key of an index name: up to the first NUL, blanks trimmed at both ends, runs of blanks as one space,
    ASCII letters upper-cased; ``name`` gets the trimmed original.  Both NUL-padded to VG_IDX_KEY.  Returns
    the key's length (0 for a blank name; -1 for a name with a byte other than printable ASCII or a tab, which
    no exchange index name has: a damaged one, not a new index)."""
    cdef int i, j = 0, end, start = 0, space = 0
    cdef char ch
    memset(key, 0, VG_IDX_KEY)
    memset(name, 0, VG_IDX_KEY)
    end = 0
    while end < n and raw[end] != 0:
        end += 1
    while end > 0 and (raw[end - 1] == b' ' or raw[end - 1] == b'\t'):
        end -= 1
    while start < end and (raw[start] == b' ' or raw[start] == b'\t'):
        start += 1
    if end - start > VG_IDX_KEY - 1:
        end = start + VG_IDX_KEY - 1
    memcpy(name, raw + start, end - start)
    for i in range(start, end):
        ch = raw[i]
        if ch == b' ' or ch == b'\t':
            space = 1
            continue
        if <uint8_t>ch < 0x20 or <uint8_t>ch > 0x7E:
            return -1
        if space:
            key[j] = b' '
            j += 1
            space = 0
        if b'a' <= ch <= b'z':
            ch = ch - 32
        key[j] = ch
        j += 1
    return j

cdef inline uint32_t vg_fnv1a(const char* p, int n) noexcept nogil:
    cdef uint32_t h = 2166136261u
    cdef int i
    for i in range(n):
        h = (h ^ <uint8_t>p[i]) * 16777619u
    return h

cdef int32_t vg_idx_lookup(vg_idxmap_t* mp, const char* raw, int n, int32_t want) noexcept nogil:
    """Token of an index name: the table's when the name is in it, else a new entry (``want`` if > 0, else
    VG_IDX_HASH_BASE | (FNV-1a(key) & 0x3FFFFFFF), moved on past a token another name holds).  ``want`` > 0
    also re-points a name already in the table.  0 for a blank name, -1 for a damaged one (vg_idx_normalise)."""
    cdef char key[VG_IDX_KEY]
    cdef char name[VG_IDX_KEY]
    cdef int klen = vg_idx_normalise(raw, n, key, name), probes, i
    cdef uint32_t h, slot
    cdef int32_t token
    cdef vg_idxent_t* e
    if klen <= 0:
        return klen
    h = vg_fnv1a(key, klen)
    slot = h & (VG_IDX_MAP_SIZE - 1)
    for probes in range(VG_IDX_MAP_SIZE):
        e = &mp.ent[slot]
        if e.key[0] == 0:
            break
        if e.hash == h and memcmp(e.key, key, VG_IDX_KEY) == 0:
            if want > 0:
                e.token = want
            return e.token
        slot = (slot + 1) & (VG_IDX_MAP_SIZE - 1)
    token = want if want > 0 else <int32_t>(VG_IDX_HASH_BASE | (h & 0x3FFFFFFFu))
    if mp.n >= (VG_IDX_MAP_SIZE * 3) // 4 or e.key[0] != 0:
        mp.overflow += 1                                 # full: merged under the hashed token, not named
        return token
    if want <= 0:
        i = 0
        while i < VG_IDX_MAP_SIZE:                       # another name holds this token (~1 in 2**30 per pair)
            if mp.ent[i].key[0] != 0 and mp.ent[i].token == token:
                token = <int32_t>(VG_IDX_HASH_BASE | ((<uint32_t>token + 1u) & 0x3FFFFFFFu))
                i = 0
                continue
            i += 1
    memcpy(e.key, key, VG_IDX_KEY)
    memcpy(e.name, name, VG_IDX_KEY)
    e.hash = h
    e.token = token
    mp.n += 1
    return token

cdef void vg_merge_index(vg_merge_t* c, const vg_index_t* x, uint16_t code, int32_t log_time) noexcept nogil:
    """CM 7207 / 7216 (index values) and 8207 (indicative close) into an index record: the value is the
    record's LTP (index x 100), OHLC its open/high/low/close, the rest the INDEX group."""
    cdef uint16_t k[VG_KPAD]
    cdef uint32_t gm
    cdef uint8_t* out
    cdef vg_srec_t* r
    cdef int32_t token = vg_idx_lookup(c.idxmap, x.index_name, 21, 0) if c.idxmap != NULL else 0
    cdef int64_t cap_bits, old_bits
    cdef char sym[12]
    if token <= 0:
        c.counters[VG_M_INDEX_NAME if token == 0 else VG_M_INDEX_BAD_NAME] += 1
        return
    r = _m_begin(c, token, k)
    if r == NULL:
        return
    if code == VG_INDICATIVE_INDICES:
        if x.indicative_close_value > 0:
            _s32(&r.indicative_close_price, x.indicative_close_value, &k[VG_G_OHLC], VG_O_IND_CLOSE)
        _s32(&r.idx_ind_change, x.change, &k[VG_G_INDEX], VG_X_IND_CHANGE)
        _s32(&r.idx_ind_percent_change, x.percent_change, &k[VG_G_INDEX], VG_X_IND_PERCENT)
    else:
        if x.index_value > 0:
            _s32(&r.last_traded_price, x.index_value, &k[VG_G_TRADE], VG_T_LTP)
            if x.closing_index > 0:
                _s32(&r.net_price_change, x.index_value - x.closing_index, &k[VG_G_TRADE], VG_T_NET_CHANGE)
        if log_time > 0:
            _s32(&r.last_trade_time, log_time, &k[VG_G_TRADE], VG_T_LTT)
        _s8(<uint8_t*>&r.net_change_indicator, <uint8_t>x.net_change_indicator, &k[VG_G_TRADE],
            VG_T_NET_CHANGE_IND)
        if x.opening_index > 0:
            _s32(&r.open_price, x.opening_index, &k[VG_G_OHLC], VG_O_OPEN)
        if x.high_index_value > 0:
            _s32(&r.high_price, x.high_index_value, &k[VG_G_OHLC], VG_O_HIGH)
        if x.low_index_value > 0:
            _s32(&r.low_price, x.low_index_value, &k[VG_G_OHLC], VG_O_LOW)
        _s32(&r.idx_percent_change, x.percent_change, &k[VG_G_INDEX], VG_X_PERCENT)
        _s32(&r.idx_yearly_high, x.yearly_high, &k[VG_G_INDEX], VG_X_YEARLY_HIGH)
        _s32(&r.idx_yearly_low, x.yearly_low, &k[VG_G_INDEX], VG_X_YEARLY_LOW)
        _s32(&r.idx_upmoves, x.no_of_upmoves, &k[VG_G_INDEX], VG_X_UPMOVES)
        _s32(&r.idx_downmoves, x.no_of_downmoves, &k[VG_G_INDEX], VG_X_DOWNMOVES)
    if x.closing_index > 0:
        _s32(&r.close_price, x.closing_index, &k[VG_G_OHLC], VG_O_CLOSE)
    memcpy(&cap_bits, &x.market_capitalisation, 8)
    memcpy(&old_bits, &r.idx_market_cap, 8)
    if cap_bits != old_bits:
        memcpy(&r.idx_market_cap, &cap_bits, 8)
        k[VG_G_INDEX] |= VG_X_MARKET_CAP
    _s32(&r.idx_wire_stride, x.wire_stride, &k[VG_G_INDEX], VG_X_STRIDE)
    if _blank(r.symbol, 10):
        memset(sym, b' ', 12)
        memcpy(sym, x.index_name, 10)                    # the name's first 10 characters; series blank
        _set_symbol(r, sym, sym + 10, k)
    gm = _m_end(c, r, k, k[VG_G_TRADE] | k[VG_G_OHLC] | k[VG_G_INDEX] | k[VG_G_IDENT],
                (k[VG_G_TRADE] & VG_Q_TRADE) | (k[VG_G_OHLC] & VG_Q_OHLC), code)
    if gm:
        out = _m_out(c, r, k, gm, code)
        if out != NULL:
            c.out.n += vg_emit_fam_any(out, r, k, gm, code, c.ts48)

cdef void vg_merge_oi(vg_merge_t* c, const vg_oi_t* o, uint16_t code) noexcept nogil:
    """F&O 7130 / 17130 into the underlying's record of the CM store (token = contract.txt AssetToken): open
    interest of all its contracts, with the day's high and low of that figure."""
    cdef uint16_t k[VG_KPAD]
    cdef uint32_t gm
    cdef uint8_t* out
    cdef vg_srec_t* r = _m_begin(c, o.token, k)
    cdef uint16_t koi = 0
    if r == NULL:
        return
    _s64(&r.open_interest, o.current_oi, &koi, VG_I_OI)
    if r.oi_day_high == 0 or o.current_oi > r.oi_day_high:
        _s64(&r.oi_day_high, o.current_oi, &koi, VG_I_HIGH)
    if r.oi_day_low == 0 or o.current_oi < r.oi_day_low:
        _s64(&r.oi_day_low, o.current_oi, &koi, VG_I_LOW)
    k[VG_G_OI] = koi
    gm = _m_end(c, r, k, koi | k[VG_G_IDENT], 0, code)
    if gm:
        out = _m_out(c, r, k, gm, code)
        if out != NULL:
            c.out.n += vg_emit_fam_oi(out, r, k, gm, code, c.ts48)

cdef enum:
    # the store-record cache lines each merge family touches (bit i = line i of vg_srec_t, _store.h): the
    # feed handler prefetches them a message ahead of the merge (vg_prefetch_msg; a ticker
    # message names ~10-28 tokens spread over the store: their records are cache misses otherwise)
    VG_PF_MD = 0x7F                    # everything (depth, auction, net change, average price)
    VG_PF_MW = 0x17                    # 0 status, LTP, last_md_ns, quality, 1 prices, 2 quantities, 4 MW + OI
                                       # (not 3, where mw_indicator is: 0x1F measured no gain, PROFILING.md)
    VG_PF_TICK = 0x13                  # 0 trade, market type, last_md_ns, quality, 1 quality inputs, 4 OI
    VG_PF_TICK_CM = 0x03               # the same without line 4: a CM ticker has no open interest
    VG_PF_STATUS = 0x2B                # 0 trading status, 1 open (cleared leaving pre-open), 3 market status,
                                       # 5 SPOS statistics (reset leaving pre-open)
    VG_PF_SPOS = 0x21                  # 0, 5 cancel statistics
    VG_PF_MIN_RECORDS = 1024           # smaller stores (<= 448 KiB of records) stay in L2: no look-ahead, whose
                                       # ~20 instructions per token would then be pure cost

cdef inline void _pf_token(const vg_store_t* st, int32_t token, unsigned lines) noexcept nogil:
    """Prefetch the record of token (dense tokens only; a hint: a token not in the store is skipped)."""
    cdef int32_t idx
    if <uint32_t>token < st.dense_size:
        idx = st.dense[token]                            # the writer's own table: a plain load
        if <uint32_t>idx < st.capacity:
            vg_pf_lines(&st.recs[idx], lines)

cdef inline void vg_prefetch_msg(const vg_store_t* st, const vg_msg_t* msg) noexcept nogil:
    """Prefetch the store records (the cache lines its family touches) of every token of a decoded message.
    The feed handler calls it one message ahead of the merge (_feed_sink), so the lines arrive while the next
    message is decompressed and decoded."""
    cdef int i, n = msg.n_records
    if msg.kind == VG_K_MD:
        for i in range(min(n, VG_MAX_MD)):
            _pf_token(st, msg.body.md[i].token, VG_PF_MD)
    elif msg.kind == VG_K_MW:
        for i in range(min(n, VG_MAX_MW)):
            _pf_token(st, msg.body.mw[i].token, VG_PF_MW)
    elif msg.kind == VG_K_TICK:
        if msg.segment == VG_SEG_FO:
            for i in range(min(n, VG_MAX_TICK)):
                _pf_token(st, msg.body.tick[i].token, VG_PF_TICK)
        else:
            for i in range(min(n, VG_MAX_TICK)):
                _pf_token(st, msg.body.tick[i].token, VG_PF_TICK_CM)
    elif msg.kind == VG_K_SPOS:
        for i in range(min(n, VG_MAX_SPOS)):
            _pf_token(st, msg.body.spos[i].token, VG_PF_SPOS)
    elif msg.kind == VG_K_STATUS:
        for i in range(min(n, VG_MAX_STATUS)):
            _pf_token(st, msg.body.status[i].token, VG_PF_STATUS)

cdef int vg_merge_msg(vg_merge_t* c, const vg_msg_t* msg) noexcept nogil:
    """Merge every record of one decoded message; returns the number of records looked at."""
    cdef int i, n = msg.n_records, slot
    cdef uint16_t code = msg.header.transaction_code
    cdef uint8_t seg = msg.segment
    cdef uint64_t ts48 = c.ts48                          # a local: the records' time words hoist out of the loop
    if msg.kind == VG_K_MD:
        n = min(n, VG_MAX_MD)
        for i in range(n):
            vg_merge_md(c, &msg.body.md[i], code, seg, ts48)
    elif msg.kind == VG_K_MW:
        n = min(n, VG_MAX_MW)
        _batch_loop(c, msg.body.mw, n, code, seg, ts48, 0)
    elif msg.kind == VG_K_TICK:
        n = min(n, VG_MAX_TICK)
        _batch_loop(c, msg.body.tick, n, code, seg, ts48, 0)
    elif msg.kind == VG_K_SPOS:
        n = min(n, VG_MAX_SPOS)
        _batch_loop(c, msg.body.spos, n, VG_7210, seg, ts48, msg.header.log_time)
    elif msg.kind == VG_K_STATUS:
        n = min(n, VG_MAX_STATUS)
        _batch_loop(c, msg.body.status, n, code, seg, ts48, 0)
    elif msg.kind == VG_K_BUYBACK:
        n = min(n, VG_MAX_BUYBACK)
        for i in range(n):
            vg_merge_buyback(c, &msg.body.buyback[i], msg.header.log_time)
    elif msg.kind == VG_K_OPEN:
        n = 1
        vg_merge_open(c, &msg.body.open_price)
    elif msg.kind == VG_K_INDEX:                         # the index feed's own merge (c.idxmap != NULL)
        n = min(n, VG_MAX_INDEX)
        for i in range(n):
            vg_merge_index(c, &msg.body.index[i], code, msg.header.log_time)
    elif msg.kind == VG_K_OI:                            # the CM feed's merge, routed from the F&O handler
        n = min(n, VG_MAX_OI)
        for i in range(n):
            vg_merge_oi(c, &msg.body.oi[i], code)
    else:
        n = 0
    slot = msg.code_slot                                 # the decoder's (or _fill_msg's) vg_code_slot
    if slot >= 0:
        c.by_code[slot] += 1
    return n


def _bad_records(records, Py_ssize_t limit=10) -> tuple:
    """The change records ``records`` (a CHANGE_RECORD_DTYPE array) that ``Store.apply_records`` refuses on
    their own (an unknown group, a mask naming a field its group lacks or more than 4 slots, a bad token):
    ``(count, [(record number, reason), ...] of the first min(limit, 64))``.  For ``vega.verify`` and
    ``vega.replay``, which name them; one nogil pass."""
    cdef const uint8_t[::1] view
    cdef const vg_rec_t* recs
    cdef Py_ssize_t n, i, count = 0, k = 0, cap = min(max(limit, 0), 64)
    cdef Py_ssize_t at[64]
    cdef int why[64]
    cdef int e
    if not isinstance(records, _np.ndarray) or records.dtype != _REC_DTYPE:
        raise TypeError("records must be a CHANGE_RECORD_DTYPE array")
    n = len(records)
    if n == 0:
        return 0, []
    view = _np.ascontiguousarray(records).view(_np.uint8).reshape(-1)
    recs = <const vg_rec_t*>&view[0]
    with nogil:
        for i in range(n):
            e = _rec_check(&recs[i])
            if e != VG_A_OK:
                if k < cap:
                    at[k] = i
                    why[k] = e
                    k += 1
                count += 1
    return count, [(at[i], _APPLY_ERRORS[why[i]]) for i in range(k)]


def _mbp_layout() -> tuple:
    """Tests: (sizeof, offset of quantity, price, number_of_orders) of vg_mbp_t, which vg_set_side assumes."""
    cdef vg_mbp_t e
    return (sizeof(vg_mbp_t), <char*>&e.quantity - <char*>&e, <char*>&e.price - <char*>&e,
            <char*>&e.number_of_orders - <char*>&e)


def _msg_layout() -> tuple:
    """Tests: (sizeof, offset of code_slot, offset of body) of vg_msg_t, the element of pack_messages."""
    cdef vg_msg_t m
    return sizeof(vg_msg_t), <char*>&m.code_slot - <char*>&m, <char*>&m.body - <char*>&m


def _set_side_pair(old, new):
    """Tests: one book side replaced by vg_set_side (SSE2) and by the scalar _set_side.  old = (prices,
    quantities, orders) of the record, new = 5 (quantity, price, orders, bb_flag) entries.  Returns the two
    ((prices, quantities, orders), mask, has_data) results."""
    cdef vg_srec_t a, b
    cdef vg_mbp_t e[VG_DEPTH]
    cdef uint16_t mb = 0
    cdef uint32_t ma
    cdef int i
    memset(&a, 0, sizeof(a))
    for i in range(VG_DEPTH):
        a.bid_price[i], a.bid_quantity[i], a.bid_orders[i] = old[0][i], old[1][i], old[2][i]
        e[i].quantity, e[i].price, e[i].number_of_orders, e[i].bb_buy_sell_flag = new[i]
    memcpy(&b, &a, sizeof(a))
    ma = vg_set_side(a.bid_price, a.bid_quantity, a.bid_orders, <const uint8_t*>&e[0])
    _set_side(b.bid_price, b.bid_quantity, b.bid_orders, &e[0], &mb)
    return (((tuple(a.bid_price), tuple(a.bid_quantity), tuple(a.bid_orders)), ma,
             bool(vg_side_has_data(<const uint8_t*>&e[0]))),
            ((tuple(b.bid_price), tuple(b.bid_quantity), tuple(b.bid_orders)), mb, bool(_side_has_data(&e[0]))))


# ----------------------------------------------------------------------------------------------------------
# Feed handler: decoder sink (sequence gaps + merge), record sinks, the batch loop
# ----------------------------------------------------------------------------------------------------------

cdef inline int32_t _seq_after(int64_t last, int64_t q, uint64_t* gaps, uint64_t* missed,
                               uint64_t* out_of_order) noexcept nogil:
    """A stream's BCSeqNo ``q`` after ``last`` (both > 0): the numbers skipped go to ``gaps`` / ``missed``, a
    number <= last to ``out_of_order``; returns the stream's last number from then on."""
    if q == last + 1:
        return <int32_t>q
    if q > last + 1:
        gaps[0] += 1
        missed[0] += <uint64_t>(q - last - 1)
        return <int32_t>q
    out_of_order[0] += 1
    if last - q > 100000:                                # the stream restarted its numbering
        return <int32_t>q
    return <int32_t>last

cdef inline void _streams_track(vg_streams_t* s, const vg_header_t* hd) noexcept nogil:
    cdef int st = hd.stream
    cdef int64_t q = hd.bc_seq_no, last                  # 64 bits: last + 1 of a wire LONG at 2**31 - 1
    cdef uint64_t down_gaps = 0, down_late = 0
    if hd.message_header or q <= 0:
        return
    s.messages[st] += 1
    last = s.last[st]
    if last != 0:
        s.last[st] = _seq_after(last, q, &s.gaps[st], &s.missed[st], &s.out_of_order[st])
    elif s.down_last[st] != 0 and s.down_first[st] == 0:
        # the stream's first number after a restart: what it skipped since the last one before the restart
        # (resume_streams) was sent while the capture was down, counted apart from the live gaps
        s.down_first[st] = <int32_t>q
        s.last[st] = _seq_after(s.down_last[st], q, &down_gaps, &s.missed_down[st], &down_late)
        if q < s.down_last[st]:
            # below it by any amount: numbered afresh while the capture was down (no datagram sent before the
            # stop reaches the new socket), so the live count goes on from q, not from the old number
            s.last[st] = <int32_t>q
    else:
        s.last[st] = <int32_t>q

cdef int _feed_skipped(void* ctx, const vg_msg_t* msg) noexcept nogil:
    """The decoder's skipped sink: a message counted as an error after a sound header is numbered in its stream
    (vg_decode_datagram), and nothing else; it keeps nothing (returns 0)."""
    _streams_track(&(<vg_feed_t*>ctx).streams, &msg.header)
    return 0

cdef void _feed_merge_pending(vg_feed_t* f) noexcept nogil:
    """Merge the message held back by _feed_sink at its own receive time."""
    cdef const vg_msg_t* msg = f.pend
    cdef int64_t now_ns = f.m.now_ns
    cdef uint64_t ts48 = f.m.ts48
    f.pend = NULL
    f.m.now_ns = f.pend_now_ns
    f.m.ts48 = f.pend_ts48
    vg_merge_msg(&f.m, msg)
    f.m.now_ns = now_ns
    f.m.ts48 = ts48

cdef void _feed_flush(vg_feed_t* f) noexcept nogil:
    """Merge the message held back, if any, then hand the records not yet seen by the C sinks to every sink;
    drop them unless Python wants them.  Every entry point ends with it."""
    cdef Py_ssize_t n
    cdef int i
    if f.pend != NULL:
        _feed_merge_pending(f)
    n = f.buf.n - f.buf.flushed
    if n > 0:
        f.records += <uint64_t>n
        for i in range(f.n_sinks):
            if f.sinks[i].fn(f.sinks[i].ctx, f.buf.recs + f.buf.flushed, n) != 0:
                f.m.counters[VG_M_SINK_ERRORS] += 1
        f.buf.flushed = f.buf.n
    if not f.keep:
        f.buf.n = 0
        f.buf.flushed = 0
    if f.route_index != NULL:
        _feed_flush(f.route_index)
    if f.route_oi != NULL:
        _feed_flush(f.route_oi)

cdef inline void _feed_set_time(vg_feed_t* f, int64_t now_ns) noexcept nogil:
    cdef int64_t base
    f.m.now_ns = now_ns
    if f.day_base_ns != 0:
        # (unsigned: exact, where the int64 difference overflowed for a 1970-01-01 journal's base, < 0)
        f.m.ts48 = <uint64_t>now_ns - <uint64_t>f.day_base_ns if now_ns > f.day_base_ns else 0
        if f.m.ts48 >= (<uint64_t>1 << 48):
            f.m.ts48 = (<uint64_t>1 << 48) - 1
    else:
        f.m.ts48 = vg_ts48(now_ns)
    base = now_ns - <int64_t>f.m.ts48
    if f.m.st.hdr.day_base_ns != base:
        f.m.st.hdr.day_base_ns = base


cdef inline void _feed_route(vg_feed_t* f, vg_feed_t* t, const vg_msg_t* msg) noexcept nogil:
    """Merge a message into a linked handler's state (its store, records and sinks) at f's receive time."""
    if t.m.now_ns != f.m.now_ns:
        _feed_set_time(t, f.m.now_ns)
    vg_merge_msg(&t.m, msg)
    if t.buf.n - t.buf.flushed >= VG_SINK_FLUSH:
        _feed_flush(t)

cdef int _feed_sink(void* ctx, const vg_msg_t* msg) noexcept nogil:
    """The decoder's sink: sequence tracking, then the merge; returns 1 when it keeps msg (vg_msg_sink).
    Index messages belong to the index feed
    (this handler's own merge when it is one, else the CM handler's ``indices=``), F&O 7130/17130 to the CM
    store (``underlying=``); without a link they are counted as unrouted.  An index feed merges nothing
    else: fed CM datagrams itself (not through a CM handler's ``indices=``), it counts the rest as not_index."""
    cdef vg_feed_t* f = <vg_feed_t*>ctx
    _streams_track(&f.streams, &msg.header)
    if msg.kind == VG_K_INDEX:
        if f.m.segment == VG_SEG_IDX:
            vg_merge_msg(&f.m, msg)
        elif f.route_index != NULL:
            _feed_route(f, f.route_index, msg)
        else:
            f.m.counters[VG_M_UNROUTED] += 1
    elif f.m.segment == VG_SEG_IDX:
        f.m.counters[VG_M_NOT_INDEX] += 1
    elif msg.kind == VG_K_OI:
        if f.route_oi != NULL:
            _feed_route(f, f.route_oi, msg)
        else:
            f.m.counters[VG_M_UNROUTED] += 1
    elif VG_K_MD <= msg.kind <= VG_K_STATUS and f.m.st.hdr.n_records >= VG_PF_MIN_RECORDS:
        # one message behind the decoder: prefetch this message's store records, merge the one before it
        # (its lines were prefetched a whole decompress + decode ago), hold this one until the next call or
        # _feed_flush (the decoder keeps it valid: vg_msg_sink)
        vg_prefetch_msg(f.m.st, msg)
        if f.pend != NULL:
            _feed_merge_pending(f)
        f.pend = msg
        f.pend_now_ns = f.m.now_ns
        f.pend_ts48 = f.m.ts48
        return 1
    else:
        # the rare kinds (6013, 18708, header-only messages), and every kind in a small store: merged at
        # once, after the held message
        if f.pend != NULL:
            _feed_merge_pending(f)
        vg_merge_msg(&f.m, msg)
    return 0

cdef int _ring_rec_sink(void* ctx, const vg_rec_t* recs, Py_ssize_t n) noexcept nogil:
    """Record sink: publish to a ring slot (ctx = ring_slot_t*); the writer never waits for readers."""
    ring_append(<ring_slot_t*>ctx, recs, n)
    return 0

cdef int _jsink_keep(vg_jsink_t* j, const vg_rec_t* recs, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t cap = j.cap_pending
    cdef vg_rec_t* p
    if j.n_pending + n > cap:
        cap = max(2 * cap, j.n_pending + n, 1024)
        p = <vg_rec_t*>realloc(j.pending, cap * sizeof(vg_rec_t))
        if p == NULL:
            return -1
        j.pending = p
        j.cap_pending = cap
    memcpy(j.pending + j.n_pending, recs, n * sizeof(vg_rec_t))
    j.n_pending += n
    return 0

cdef int _jrnl_rec_sink(void* ctx, const vg_rec_t* recs, Py_ssize_t n) noexcept nogil:
    """Record sink: append to the day's journal (ctx = vg_jsink_t*).  Records stamped after the trading day's
    end are kept, in order, for FeedHandler._finish to hand to JournalWriter.append (which rolls the day)."""
    cdef vg_jsink_t* j = <vg_jsink_t*>ctx
    cdef Py_ssize_t k = 0
    if j.failed:
        return 1
    if j.n_pending == 0:
        k = jrnl_append(<jrnl_writer_t*>j.w, recs, n)
        if k < 0:
            j.failed = 1
            return 1
    if k < n and _jsink_keep(j, recs + k, n - k) != 0:
        j.failed = 2
        return 1
    return 0


cdef _check_numbering(ring, int slot, journal):
    """ValueError unless the journal's next sequence number is the ring slot's tail: a handler writing both
    keeps them the same numbers (a reader replays the journal, then reads the ring from the replay's
    next_seq), so a writer restarted the same day must create its ring at the journal's next_seq."""
    feed = ("NSE_FO", "NSE_EQ", "NFO_IDX")[slot]
    tail = ring.tail(feed)
    if tail != journal.next_seq:
        raise ValueError(f"the ring's {feed} slot is at record {tail:,} but the journal {journal.path} goes on "
                         f"at {journal.next_seq:,}: journal sequence numbers are ring positions (a reader "
                         f"replaying the journal would go on in the ring at the wrong record); create the "
                         f"ring with each slot at its journal's next_seq, Ring.create(name, first_seq={{"
                         f"{feed!r}: journal.next_seq, ...}}), as vega capture does")


cdef int _check_journal_feed(int seg, journal) except -1:
    """ValueError when ``journal`` (a JournalWriter; another type is _set_journal's TypeError) is of the F&O feed
    and the handler's segment not, or the other way round: F&O tokens are numbered apart from the CM broadcast's
    (CM, and the index feed, which may share its CM handler's writer), and an F&O handler given the NSE_EQ writer
    wrote F&O records into the CM day file, whose replay then applied them to the CM tokens of the same numbers."""
    if isinstance(journal, JournalWriter) and (journal.feed == "NSE_FO") != (seg == VG_SEG_FO):
        want = {VG_SEG_FO: "NSE_FO's", VG_SEG_CM: "NSE_EQ's",
                VG_SEG_IDX: "NFO_IDX's (or NSE_EQ's: its CM handler's writer)"}[seg]
        raise ValueError(f"the journal {journal.path} is of the feed {journal.feed}, and this {_SEG_NAMES[seg]} "
                         f"handler's records are {want}: F&O and CM tokens are numbered apart, and a replay of the "
                         f"day file would apply the one's records to the other's instruments")
    return 0


cdef object _linked_upstream(FeedHandler t):
    """The open FeedHandler that routes messages to t (indices= / underlying=), or None: a closed or freed one
    lets go of t, which another handler may then link."""
    cdef object up = t._linked_by() if t._linked_by is not None else None
    return None if up is None or (<FeedHandler>up)._closed else up


cdef _claim_segment(Store store, int seg, str what, bint claim):
    """A store holds one feed's tokens: the same token number is another instrument in CM, F&O and the index
    feed.  ValueError when the store's header names another segment than seg; an unnamed store takes seg
    when claim (a FeedHandler, load_instruments, Store.add with a segment), and so do its records that have none
    (added by Store.add before the store had a segment).  what prefixes the error (the caller's action)."""
    cdef uint8_t have = store._st.hdr.segment
    cdef uint32_t i, n
    cdef vg_srec_t* r
    if have == 0:
        if claim:
            store._st.hdr.segment = <uint8_t>seg
            n = vg_store_len(&store._st)
            for i in range(n):
                r = &store._st.recs[i]
                if r.segment == 0:
                    vs_write_begin(r)
                    r.segment = <uint8_t>seg
                    vs_write_end(r)
    elif have != seg:
        raise ValueError(f"{what}the store holds {_SEG_NAMES.get(have, '?')} records, not {_SEG_NAMES[seg]}: a "
                         f"store holds one feed's tokens (the same token number is another instrument in another "
                         f"segment)")


@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")
cdef class FeedHandler:
    """Decode and merge one segment's datagrams into a writable :class:`Store`.

    ``FeedHandler(segment, store, *, on_records=None, md_stale_ns=5e9, subscribed_only=False,
    records=True, ring=None, journal=None, rate=0.10, indices=None, underlying=None, index_tokens=None)``.
    ``process(datagram)`` and ``process_batch(datagrams)`` run decode -> merge -> change records in one
    nogil loop.  ``on_records(array)`` receives each call's change records as a numpy array of
    ``CHANGE_RECORD_DTYPE``, also in a call that then raises (a failed journal, or a linked handler's
    callback); the ring and the journal are C-level sinks of the same loop, and number the
    records alike: a ring slot whose tail is not the journal's ``next_seq`` is a ValueError (create the ring
    with ``first_seq=``), and so is a journal of the other token numbering (the NSE_FO writer for an F&O
    handler, never for a CM or index handler).  Malformed input never raises: it is counted in ``stats``.

    Segment ``"IDX"`` is the index feed NFO_IDX: it merges the CM index messages (7207, 7216, 8207) into its
    own store, under stable tokens per index name (``index_tokens``: name -> token overrides of
    ``vega.indices.DEFAULT_INDEX_TOKENS``; other names get ``vega.index_token(name)``), publishes to ring
    slot 2 and journals under NFO_IDX.  A CM handler given ``indices=<IDX handler>`` hands it the index
    messages of its own datagrams; an F&O handler given ``underlying=<CM handler>`` merges 7130/17130 (open
    interest per underlying, keyed by the underlying's CM token) into the CM store through the CM handler's
    records and sinks.  Linked handlers share state: drive them from one thread (a call while a linked
    handler is inside its loop raises RuntimeError).  Two handlers on one store are safe in one thread only,
    taking turns: a call of another thread while one of them writes the store raises ``StoreBusyError`` and
    merges nothing.

    ``close()`` (or the end of a ``with`` block) ends the handler: every later call that merges
    (``process``, ``process_batch``, ``merge_message``, ``merge_packed``, ``checkpoint``, ``new_day``,
    ``attach_journal``) raises ``ValueError("the FeedHandler is closed")`` and merges nothing; ``stats``,
    ``store``, ``journal`` and the other properties stay readable.  A call of a handler linked to a closed one
    (its ``indices=`` or ``underlying=`` handler) raises ValueError as well, before anything is merged; the
    handler a closed one linked is still usable on its own, and another handler may link it (as it may once
    the handler that linked it is freed).
    """

    def __cinit__(self, segment, Store store not None, *, on_records=None, md_stale_ns=5_000_000_000,
                  subscribed_only=False, records=True, ring=None, journal=None, rate=0.10, indices=None,
                  underlying=None, index_tokens=None):
        cdef Decoder dec
        store._check_writable()
        _segment_type(segment, "'CM', 'FO' or 'IDX'")
        if segment == VG_SEG_IDX or (isinstance(segment, str) and segment.upper() == "IDX"):
            seg = VG_SEG_IDX
            segment = "CM"                               # index messages arrive on the CM broadcast
        else:
            try:
                seg = _parse_segment(segment)
            except ValueError:
                raise ValueError(f"segment must be 'CM', 'FO' or 'IDX', not {segment!r}") from None
            if index_tokens is not None:
                raise ValueError("index_tokens is for an index feed handler (segment 'IDX')")
        md_stale_ns = _duration_ns(md_stale_ns, "md_stale_ns")
        if on_records is not None and not callable(on_records):
            raise TypeError("on_records must be callable")
        self._decoder = Decoder(segment)
        dec = <Decoder>self._decoder
        self._dec = &dec._dec
        self.store = store
        self._on_records = on_records
        memset(&self._f, 0, sizeof(vg_feed_t))
        self._f.m.st = &store._st
        self._f.m.out = &self._f.buf if records else NULL
        self._f.m.md_stale_ns = md_stale_ns
        self._f.m.segment = <uint8_t>seg
        self._f.m.subscribed_only = bool(subscribed_only)
        if isinstance(rate, (bool, _np.bool_)) or not isinstance(rate, _numbers.Real):   # float("0.1") took a str
            raise TypeError(f"rate must be a number (an annual rate such as 0.10), not {type(rate).__name__}: "
                            f"{rate!r}")
        rate = float(rate)
        if not (-1.0 < rate < 1.0):
            raise ValueError(f"rate must be a finite annual rate in (-1, 1), not {rate!r}")
        self._f.m.rate = rate
        self._f.keep = on_records is not None
        _claim_segment(store, seg, "", True)
        if seg == VG_SEG_IDX:
            self._idxmap = <vg_idxmap_t*>calloc(1, sizeof(vg_idxmap_t))
            if self._idxmap == NULL:
                raise MemoryError()
            self._f.m.idxmap = self._idxmap
            self._set_index_tokens(index_tokens)
        self._link(indices, underlying)
        self._ring = None
        self._journal = None
        memset(&self._jsink, 0, sizeof(vg_jsink_t))
        if (ring is not None or journal is not None) and not records:
            raise ValueError("a ring or a journal needs change records (records=True)")
        _check_journal_feed(seg, journal)           # (before the ring's numbering check names its slot)
        if ring is not None:
            if not isinstance(ring, Ring):
                raise TypeError(f"ring must be a vega.Ring, not {type(ring).__name__}")
            self._ring_feed = 0 if seg == VG_SEG_FO else (2 if seg == VG_SEG_IDX else 1)   # slots 0, 1, 2
            if isinstance(journal, JournalWriter):
                _check_numbering(ring, self._ring_feed, journal)
            self._ring_slot = (<Ring>ring)._slot_ptr(self._ring_feed)
            self.add_record_sink(_ring_rec_sink, self._ring_slot)
            self._ring = ring
        if journal is not None:
            self._set_journal(journal)

    cdef _set_journal(self, journal):
        """Journal to ``journal`` (a JournalWriter): its sink, its day (no journal is attached)."""
        if not isinstance(journal, JournalWriter):
            raise TypeError(f"journal must be a vega.JournalWriter, not {type(journal).__name__}")
        self._jsink.w = (<JournalWriter>journal).c_writer()
        self._jsink.failed = 0
        self._jsink.n_pending = 0
        self.add_record_sink(_jrnl_rec_sink, &self._jsink)
        self._journal = journal
        self._jdate = journal.date
        self._f.day_base_ns = day_epoch_ns(journal.date)

    def __dealloc__(self):
        free(self._f.buf.recs)
        free(self._jsink.pending)
        free(self._idxmap)
        if self._ring is not None:
            (<Ring>self._ring)._slot_release(self._ring_feed)

    def close(self) -> None:
        """End the handler: hand the ring slot back (the ring can then be closed); from now on every call
        that merges raises ``ValueError("the FeedHandler is closed")`` and merges nothing, so the journal
        cannot run ahead of the ring (their sequence numbers and positions stay the same numbers).  The journal
        stays open: its owner closes (seals) it.  ``stats`` and the properties stay readable; closing again
        does nothing.  A handler linked to this one (``indices=``, ``underlying=``) refuses its calls from now
        on too; the handler this one linked (its ``indices=`` / ``underlying=``) is free to be linked by a new
        one (so is it when this one is freed).  RuntimeError while a call of this handler (or a linked one) is
        running in another thread."""
        if self._busy:
            raise RuntimeError("this FeedHandler (or one linked to it) is inside a call in another thread: "
                               "close it after the call returns")
        if self._ring is not None:
            (<Ring>self._ring)._slot_release(self._ring_feed)
            self._ring = None
            self._ring_slot = NULL
            self._f.n_sinks = 0
            if self._journal is not None:
                self.add_record_sink(_jrnl_rec_sink, &self._jsink)
        self._closed = True

    cdef int _check_usable(self) except -1:
        """Before a call merges (with the GIL, once per call): ValueError when this handler is closed, or a
        handler its call merges through (indices=, underlying=, and theirs) is; each one's ring slot claimed
        (held already but in a forked child's copy, which is no writer: RingError)."""
        cdef FeedHandler h
        if self._closed:
            raise ValueError("the FeedHandler is closed")
        for h in (self._group() if self._indices is not None or self._underlying is not None else (self,)):
            if h._closed:
                raise ValueError(f"the {h.segment} FeedHandler linked to this one is closed: this one's "
                                 f"calls merge through it")
            if h._ring is not None and not (<Ring>h._ring)._held[h._ring_feed]:
                (<Ring>h._ring)._claim(h._ring_feed)
        return 0

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (or the end of a ``with`` block)."""
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        """``with FeedHandler(...) as fh:`` closes it (:meth:`close`) at the end of the block."""
        self.close()

    def detach_journal(self):
        """Stop journaling, e.g. after the journal's disk filled: the change records go on to the ring, the
        other sinks and the callback.  Returns the JournalWriter (its owner closes it), or None when there was
        none.  RuntimeError while a call of this handler (or a linked one) is running in another thread."""
        cdef int i, k = 0
        if self._busy:
            raise RuntimeError("this FeedHandler (or one linked to it) is inside a call in another thread: "
                               "detach its journal after the call returns")
        jw = self._journal
        if jw is None:
            return None
        for i in range(self._f.n_sinks):
            if self._f.sinks[i].fn != _jrnl_rec_sink:
                self._f.sinks[k] = self._f.sinks[i]
                k += 1
        self._f.n_sinks = k
        self._journal = None
        self._jsink.w = NULL
        self._jsink.failed = 0
        self._jsink.n_pending = 0
        return jw

    def attach_journal(self, journal):
        """Journal again after :meth:`detach_journal`: ``journal`` (a JournalWriter) gets the change records
        from the next call on, as one given at construction would.  The caller makes its numbering continue
        the ring's (``journal.next_seq`` = the ring slot's tail; ``vega.capture`` does, after a journal that
        failed is reopened and has caught up).  ValueError when a journal is attached; RuntimeError while a
        call of this handler (or a linked one) is running in another thread."""
        if self._busy:
            raise RuntimeError("this FeedHandler (or one linked to it) is inside a call in another thread: "
                               "attach a journal after the call returns")
        self._check_usable()
        if self._journal is not None:
            raise ValueError("a journal is attached: detach it first")
        if self._f.m.out == NULL:
            raise ValueError("a journal needs change records (records=True)")
        _check_journal_feed(self._f.m.segment, journal)
        if self._ring is not None and isinstance(journal, JournalWriter):
            _check_numbering(self._ring, self._ring_feed, journal)
        self._set_journal(journal)

    def new_day(self) -> int:
        """A new trading day: the store starts from its instruments' identity (``Store.new_day``), and each
        stream's last BCSeqNo is forgotten, since the exchange numbers every day's streams afresh (the last
        day's numbers would otherwise make the next morning's look out of order and hide its gaps).  The
        counters keep counting.  Returns the records reset.  RuntimeError while a call of this handler (or a
        linked one) is running in another thread."""
        cdef vg_streams_t* s = &self._f.streams
        cdef int i
        if self._busy:
            raise RuntimeError("this FeedHandler (or one linked to it) is inside a call in another thread: "
                               "start the new day after the call returns")
        self._check_usable()
        memset(s.last, 0, sizeof(s.last))
        for i in range(256):
            # a restart's number for a stream not heard since is that day's: forgotten. A stream heard since
            # keeps it, for stats' resumed_from (_streams_track and stream_seqs no longer read it: down_first)
            if s.down_first[i] == 0:
                s.down_last[i] = 0
        return self.store.new_day()

    def stream_seqs(self) -> dict:
        """{stream: last BCSeqNo} of every stream heard (a stream given to ``resume_streams`` and not heard
        since: the number it was given): what a restart passes to ``resume_streams``."""
        cdef vg_streams_t* s = &self._f.streams
        cdef int i
        return {i: s.last[i] if s.last[i] else s.down_last[i] for i in range(256)
                if s.last[i] or (s.down_last[i] and not s.down_first[i])}

    def resume_streams(self, last) -> None:
        """A capture restarted: ``last`` ({stream: BCSeqNo}, from ``stream_seqs`` before the stop) are each
        stream's last numbers before it.  Each stream's first number after it counts the numbers skipped in
        between (the feed sent them while the capture was down) by the live gap rule, but apart from the live
        gaps: ``stats["streams"][n]["missed_while_down"]``; a first number below ``last``, by any amount, is the
        stream numbered afresh meanwhile (``missed_while_down`` None: unknown), and the live counters go on from
        it.  ValueError, setting
        nothing, for a stream outside 0..255, a number outside 1..2**31 - 1, or a stream heard already (since the
        last ``new_day``, which forgets the streams' numbers); RuntimeError while a call of this handler (or a
        linked one) is running in another thread."""
        cdef vg_streams_t* s = &self._f.streams
        if self._busy:
            raise RuntimeError("this FeedHandler (or one linked to it) is inside a call in another thread: "
                               "resume the streams after the call returns")
        items = []
        for st, q in dict(last).items():
            if type(st) is bool or type(q) is bool or not isinstance(st, int) or not isinstance(q, int):
                raise ValueError(f"resume_streams: stream {st!r}: {q!r}: stream numbers and BCSeqNos are ints")
            if not 0 <= st <= 255 or not 1 <= q <= 0x7FFFFFFF:
                raise ValueError(f"resume_streams: stream {st} BCSeqNo {q}: a stream is 0..255, a BCSeqNo "
                                 f"1..2**31 - 1")
            if s.last[st]:                               # (heard since new_day(): a day before is forgotten)
                raise ValueError(f"resume_streams: stream {st} has been heard already")
            items.append((st, q))
        for st, q in items:
            s.down_last[st] = q
            s.down_first[st] = 0

    @property
    def ring(self):
        """The vega.Ring this handler publishes to, or None."""
        return self._ring

    @property
    def journal(self):
        """The vega.JournalWriter this handler journals to, or None."""
        return self._journal

    def poll(self) -> None:
        """Call from an idle loop: flushes the journal's buffer when its flush interval has passed, so a
        quiet feed does not keep records in user space.  Nothing to do while a call of this handler, or
        another call holding its journal, runs in another thread: that call flushes on the same interval."""
        cdef JournalWriter jw
        cdef jrnl_writer_t* w
        if self._journal is None or self._busy:
            return
        jw = <JournalWriter>self._journal
        if jw._held:
            return
        w = jw.c_writer()
        jw._hold()
        try:
            with nogil:
                jrnl_poll(w)
        finally:
            jw._release()
        jw.check()

    cdef _set_index_tokens(self, index_tokens):
        from vega.indices import index_table
        for name, tok in index_table(index_tokens).items():
            raw = name.encode("latin-1")
            if vg_idx_lookup(self._idxmap, raw, len(raw), tok) != tok:
                raise ValueError(f"index_tokens: {name!r} cannot be mapped")

    cdef _link(self, indices, underlying):
        cdef FeedHandler t
        seg = self._f.m.segment
        if indices is not None:
            if seg != VG_SEG_CM:
                raise ValueError("indices= links a CM handler to the index feed's handler")
            if not isinstance(indices, FeedHandler) or (<FeedHandler>indices)._f.m.segment != VG_SEG_IDX:
                raise TypeError("indices must be a FeedHandler of segment 'IDX'")
            t = <FeedHandler>indices
            if t._closed:
                raise ValueError("that index FeedHandler is closed")
            if _linked_upstream(t) is not None:
                raise ValueError("that index FeedHandler is already linked to another handler (close that one "
                                 "first)")
            self._indices = t
            self._f.route_index = &t._f
            t._linked_by = _weakref.ref(self)
        if underlying is not None:
            if seg != VG_SEG_FO:
                raise ValueError("underlying= links an F&O handler to the CM handler (7130/17130 open interest)")
            if not isinstance(underlying, FeedHandler) or (<FeedHandler>underlying)._f.m.segment != VG_SEG_CM:
                raise TypeError("underlying must be a FeedHandler of segment 'CM'")
            t = <FeedHandler>underlying
            if t._closed:
                raise ValueError("that CM FeedHandler is closed")
            if _linked_upstream(t) is not None:
                raise ValueError("that CM FeedHandler is already linked to another handler (close that one "
                                 "first)")
            self._underlying = t
            self._f.route_oi = &t._f
            t._linked_by = _weakref.ref(self)

    cdef list _group(self):
        """This handler and the handlers its messages may be merged by (their loops run inside its own)."""
        out = [self]
        if self._indices is not None:
            out.append(self._indices)
        if self._underlying is not None:
            out.extend(self._underlying._group())
        return out

    cdef _journal_times(self, int64_t t_min, int64_t t_max):
        """With the GIL, before a call merges datagrams received from t_min to t_max (epoch ns): every
        journal of this handler's group must be able to stamp them (a record's time is 48 bits of ns since
        00:00 IST of the journal's trading day, 0 .. 3.26 days).  A receive time more than an hour before a
        journal's day is refused: its records would all read 00:00 of that day (an hour's grace for a clock
        step or reordered packets at midnight, which are stamped 00:00 as before).  Times past what the
        stamp reaches roll the journal over first, to the day of t_min (the day the first record past the
        day's end would roll it to); a call whose own times span more than that is refused.  ValueError
        before anything is merged or rolled.  The capture's own entry point (vg_feed_buffers) does not
        come here: it turns the day over by the clock (Capture.new_day)."""
        cdef FeedHandler h
        cdef JournalWriter jw
        cdef int64_t b
        if self._indices is None and self._underlying is None:
            if self._journal is None:
                return                    # no journal to stamp for
            group = (self,)
        else:
            group = self._group()
        for h in group:                   # the common case, every time in reach of each journal's day: no
            if h._journal is None:        # Python arithmetic, no date conversion (a call of process() per
                continue                  # datagram pays this)
            jw = <JournalWriter>h._journal
            b = h._f.day_base_ns          # 00:00 IST of h._jdate (_set_journal, _begin_one)
            # t_max - b exact in uint64 (b < 0 for 1970-01-01: the int64 difference overflows near 2**63)
            if (jw._date != h._jdate or t_min < b - VG_JOURNAL_GRACE_NS
                    or (t_max >= b and <uint64_t>t_max - <uint64_t>b >= <uint64_t>VG_TS48_REACH)):
                break
        else:
            return
        rolls = []
        for h in group:
            if h._journal is None:
                continue
            jw = <JournalWriter>h._journal
            day = jw.date
            base = day_epoch_ns(day)
            if t_min < base - VG_JOURNAL_GRACE_NS:
                raise ValueError(f"receive time {_ist_text(t_min)} is before {day}, the trading day of the "
                                 f"{jw.feed} journal: its records would be stamped 00:00 of that day (write them "
                                 f"to a JournalWriter of the day they were received)")
            if t_max - base < VG_TS48_REACH:
                continue
            if t_min - base < jw.day_end_ns:
                raise ValueError(f"receive times from {_ist_text(t_min)} to {_ist_text(t_max)} span more than a "
                                 f"journal record's time reaches (3.26 days from 00:00 IST of the {jw.feed} "
                                 f"journal's day {day}): merge them in calls of one trading day each")
            later = day + _dt.timedelta(days=int((t_min - base - (jw.day_end_ns - VG_DAY_NS)) // VG_DAY_NS))
            if t_max - day_epoch_ns(later) >= VG_TS48_REACH:
                raise ValueError(f"receive times from {_ist_text(t_min)} to {_ist_text(t_max)} span more than a "
                                 f"journal record's time reaches (3.26 days): merge them in calls of one "
                                 f"trading day each")
            if not any(j is jw for j, _ in rolls):        # linked handlers may share one writer
                rolls.append((jw, later))
        for jw, later in rolls:
            jw.rollover(later)            # the handler follows its journal's date in _begin_one

    cdef _begin(self, list group=None):
        """With the GIL, before a nogil call: mark this handler and its linked ones busy (``group``: those of a
        call through several handlers, vg_feed_mixed, each checked usable by the caller), then each one's
        store is open and its stamps follow its journal's trading date.  ValueError when one is closed
        (the entry points check first, before their journal's day is looked at; vg_feed_buffers relies on
        this).  StoreBusyError when a call of another thread writes one of their stores (another handler's,
        Store.new_day, apply_records): a record's sequence lock takes one writer at a time."""
        cdef FeedHandler h
        self._check_usable()
        if group is None:
            group = self._group()
        for h in group:
            if h._busy:
                raise RuntimeError("this FeedHandler (or one linked to it) is already inside a call: linked "
                                   "handlers must be driven from one thread")
            h.store._check_sole_writer()
            if h._ring is not None and (<Ring>h._ring)._appending[h._ring_feed]:   # (claimed: _check_usable)
                raise _slot_busy(h._ring_feed)
        for h in group:
            h._busy = 1
            h.store._use(1)                               # _finish gives it back; close() refuses from here
            h.store._writing += 1                         # and the store's other writes (_finish, at the top)
            if h._ring is not None:
                (<Ring>h._ring)._appending[h._ring_feed] = 1      # and the slot's other writers (_finish)
        try:
            for h in group:
                h._begin_one()
            for h in group:
                h._hold_journal(group)                    # _finish releases them
        except BaseException:
            for h in group:
                h._release_journal()
                h.store._writing -= 1
                h.store._use(-1)
                if h._ring is not None:
                    (<Ring>h._ring)._appending[h._ring_feed] = 0
                h._busy = 0
            raise

    cdef int _hold_journal(self, list group) except -1:
        """Hold this handler's JournalWriter for the call (JournalWriter._hold: RuntimeError when another
        thread's call holds it), unless a handler of the same group already does."""
        cdef FeedHandler g
        if self._journal is None:
            return 0
        for g in group:
            if g._jhold and g._journal is self._journal:
                return 0
        (<JournalWriter>self._journal)._hold()
        self._jhold = 1
        return 0

    cdef void _release_journal(self) noexcept:
        if self._jhold:
            (<JournalWriter>self._journal)._release()
            self._jhold = 0

    cdef _begin_one(self):
        self.store._check_open()
        if self._journal is not None:
            # ValueError when the journal was closed: raised before anything is merged unjournaled
            self._jsink.w = (<JournalWriter>self._journal).c_writer()
            d = (<JournalWriter>self._journal).date
            if d != self._jdate:
                self._jdate = d
                self._f.day_base_ns = day_epoch_ns(d)

    cdef _journal_after_batch(self):
        """With the GIL, after a nogil call: raise a journal I/O error, roll the day over with the records
        stamped after its end, and write a checkpoint when one is due."""
        cdef vg_jsink_t* j = &self._jsink
        cdef JournalWriter jw = <JournalWriter>self._journal
        cdef jrnl_writer_t* w
        if j.failed == 1:
            jw.check()
            raise OSError("journal append failed")
        if j.failed == 2:
            raise MemoryError("journal sink: cannot keep the records of the next trading day")
        if j.n_pending:
            jw._check_free()                 # RuntimeError now, if another thread's call holds the writer,
                                             # keeps these records for the next call (append holds it)
            arr = _np.empty(j.n_pending, dtype=_REC_DTYPE)
            memcpy(<void*><Py_ssize_t>arr.ctypes.data, j.pending, j.n_pending * sizeof(vg_rec_t))
            j.n_pending = 0
            jw.append(arr)                   # seals the day, opens the next, re-stamps these records
            j.w = jw.c_writer()
            self._jdate = jw.date
            self._f.day_base_ns = day_epoch_ns(jw.date)
        w = <jrnl_writer_t*>j.w
        if w.ckpt_due and w.max_ts >= 0:
            self._checkpoint(w.max_ts)

    def checkpoint(self, ts_ns=None) -> int:
        """Write a full-state checkpoint now (the handler also writes one whenever the journal says one is due): the
        store's KEYFRAME records, stamped ``ts_ns`` (default: the latest record's), the last one flagged CHECKPOINT_END,
        into the journal. They take no sequence numbers there, and the ring does not get them: a checkpoint of a large
        store would lap every reader (tens of thousands of tokens, ~17 records each on the simulated F&O stream, against
        a ring of 32,768), and a ring reader has the live store for state. Journal sequence numbers and ring positions
        stay the same numbers. (A journal file of format version 1, reopened, numbers its checkpoints: for it they are
        published to the ring as before, taking the ring slot's append turn: RuntimeError while another thread's call
        appends to it.) ``ts_ns`` is an int of ns since 00:00 IST of the journal's day (a numpy integer too; a float or
        a bool is a TypeError) in [0, 2**48), as JournalWriter.checkpoint takes it: outside (an epoch-ns time, which
        clamped to 2**48 - 1 rolled the journal three days ahead) a ValueError, nothing written. Returns the records
        written."""
        cdef jrnl_writer_t* w
        cdef int64_t ts
        cdef Ring ring = None
        self._check_usable()
        w = <jrnl_writer_t*>self._jsink.w
        if w == NULL:
            raise ValueError("this FeedHandler has no journal")
        if ts_ns is None:
            ts = w.max_ts
        else:                                      # an int (a float or a bool is a TypeError) that a record's
            ts = _check_ts48(ts_ns)                # time holds
            if ts < 0:
                raise ValueError(f"ts_ns must be in [0, 2**48) ns since 00:00 IST of the journal's day, not {ts_ns!r}"
                                 f" (an epoch-ns time minus vega.journal.day_epoch_ns(day))")
        if self._ring is not None and self._ring_slot != NULL:
            ring = <Ring>self._ring
        if ring is None or (<JournalWriter>self._journal).version >= 2 or self._busy:
            return self._checkpoint(ts)           # no ring append, or inside this handler's call (on_records)
        if ring._appending[self._ring_feed]:      # the slot's append turn, as a call takes it (_begin)
            raise _slot_busy(self._ring_feed)
        ring._appending[self._ring_feed] = 1
        try:
            return self._checkpoint(ts)
        finally:
            ring._appending[self._ring_feed] = 0

    cdef Py_ssize_t _checkpoint(self, int64_t ts) except -1:
        """The store's KEYFRAME records, made and handed to the journal in C: one pass over the store into a
        record buffer, then one append (no numpy array, no copy per step: a checkpoint of a large store
        stalls the receive loop for as long as this takes)."""
        cdef vg_recbuf_t b
        cdef JournalWriter jw = <JournalWriter>self._journal
        if not 0 <= ts < (<int64_t>1 << 48):
            ts = 0 if ts < 0 else (<int64_t>1 << 48) - 1
        memset(&b, 0, sizeof(b))
        try:
            self.store._keyframes(&b, <uint64_t>ts)
            if b.n:
                b.recs[b.n - 1].flags |= VG_REC_CHECKPOINT_END        # every record is KEYFRAME already
            jw._checkpoint_c(b.recs, b.n)
            if b.n and self._ring_slot != NULL and jw.version < 2:
                ring_append(<ring_slot_t*>self._ring_slot, b.recs, b.n)
            return b.n
        finally:
            free(b.recs)

    cdef int add_record_sink(self, vg_rec_sink_fn fn, void* ctx) except -1:
        """Add a C-level sink: fn(ctx, recs, n) is called inside the nogil loop with every change record
        (at least every VG_SINK_FLUSH records and at the end of each call).  Non-zero return = counted."""
        if self._f.m.out == NULL:
            raise ValueError("this FeedHandler emits no records (records=False)")
        if self._f.n_sinks >= VG_MAX_REC_SINKS:
            raise ValueError(f"at most {VG_MAX_REC_SINKS} record sinks")
        self._f.sinks[self._f.n_sinks].fn = fn
        self._f.sinks[self._f.n_sinks].ctx = ctx
        self._f.n_sinks += 1
        return 0

    @property
    def segment(self) -> str:
        """"CM", "FO" or "IDX"."""
        return _SEG_NAMES[self._f.m.segment]

    def __reduce__(self):
        raise TypeError("cannot pickle a vega.FeedHandler (the writer of its store, with its decoder's buffers "
                        "and sinks): make it in the process that receives the feed")

    def __repr__(self):
        cdef const vg_stats_t* d = &self._dec.stats
        sinks = (("ring", self._ring), ("journal", self._journal))   # not in the generator: Cython 3.0 compiles
        links = "".join(f" {name}={obj!r}" for name, obj in sinks if obj is not None)   # self there to bad C
        return (f"<vega.FeedHandler {self.segment}{' closed' if self._closed else ''} "
                f"store={self.store!r}{links}: {d.datagrams:,} datagrams, "
                f"{d.messages:,} messages, {_errors_total(d):,} errors, "
                f"{self._f.m.counters[VG_M_MERGED]:,} updates, {self._f.records:,} change records>")

    @property
    def indices(self):
        """The index feed's FeedHandler this CM handler routes index messages to, or None."""
        return self._indices

    @property
    def underlying(self):
        """The CM FeedHandler this F&O handler routes 7130/17130 open interest to, or None."""
        return self._underlying

    def index_names(self) -> dict:
        """Index feed: {token: name} of every index name configured or seen (names as received)."""
        cdef int i
        if self._idxmap == NULL:
            raise ValueError("index_names() is for an index feed handler (segment 'IDX')")
        return {self._idxmap.ent[i].token: self._idxmap.ent[i].name[:VG_IDX_KEY].rstrip(b"\0").decode("latin-1")
                for i in range(VG_IDX_MAP_SIZE) if self._idxmap.ent[i].key[0] != 0}

    def index_token(self, name) -> int:
        """Index feed: the token this handler merges ``name`` under (adding it to its table if new).  A
        derivatives' symbol of ``vega.indices.INDEX_SYMBOLS`` ("NIFTY") that the table does not hold is a
        ValueError naming the index and its token, as ``vega.index_token`` says: no index is broadcast under it."""
        from vega.indices import index_key, _symbol_error, _symbol_index
        if self._idxmap == NULL:
            raise ValueError("index_token() is for an index feed handler (segment 'IDX')")
        if not isinstance(name, str):     # str(b'Nifty 50') was hashed as the name "b'Nifty 50'", 5 as "5"
            raise TypeError(f"index_token: name must be a str (an index name such as 'Nifty 50'), not "
                            f"{type(name).__name__}: {name!r}")
        key = index_key(name)
        index = _symbol_index(key) if key else None
        if index is not None:             # unless configured or seen: its hashed token would match no record
            held = [tok for tok, n in self.index_names().items() if index_key(n) == key]
            if held:
                return held[0]
            raise _symbol_error(name, index, self.index_token(index))
        raw = name.encode("latin-1")
        tok = vg_idx_lookup(self._idxmap, raw, len(raw), 0)
        if tok == 0:
            raise ValueError("an index name must not be blank")
        if tok < 0:
            raise ValueError(f"an index name is printable ASCII, not {name!r}")
        return tok

    cdef _finish(self, list group=None):
        """After a call: each linked handler's end of batch (below), then none is busy any more (``group``:
        the one _begin was given)."""
        cdef FeedHandler h
        if group is None:
            group = self._group()
        for h in group:                                   # the nogil loop is over: the journals' own after-batch
            h._release_journal()                          # work (rollover, checkpoint) appends to them again,
            h.store._writing -= 1                         # and the store takes other writes (on_records may)
        err = None
        try:
            for h in group:                               # every handler finishes, though one raised: each one's
                try:                                      # records reach its callback, and its buffer is reset
                    h._finish_one()
                except BaseException as e:
                    if err is None:
                        err = e
            if err is not None:
                raise err
        finally:
            for h in group:
                h.store._use(-1)
                if h._ring is not None:
                    (<Ring>h._ring)._appending[h._ring_feed] = 0
                h._busy = 0

    cdef _finish_one(self):
        """The journal's day rollover and checkpoints, records to the Python callback, buffer reset.  The
        callback gets the call's records even when the journal raises (a full disk): they are in the store and
        the ring, and a caller that keeps them must not lose them."""
        cdef Py_ssize_t n = self._f.buf.n
        cb = self._on_records
        arr = None
        if cb is not None and n > 0:
            arr = _np.empty(n, dtype=_REC_DTYPE)
            memcpy(<void*><Py_ssize_t>arr.ctypes.data, self._f.buf.recs, n * sizeof(vg_rec_t))
        self._f.buf.n = 0
        self._f.buf.flushed = 0
        try:
            if self._jsink.w != NULL:
                self._journal_after_batch()
        finally:
            if arr is not None:
                cb(arr)

    def process(self, datagram, now_ns=None) -> int:
        """Decode one datagram and merge it; returns the number of messages decoded.  ``now_ns`` = receive
        time in epoch ns, an int (default: CLOCK_REALTIME now; a float, which cannot hold epoch ns exactly, or
        a bool is a TypeError)."""
        cdef const uint8_t[::1] view = _as_bytes_view(datagram)
        cdef int64_t t = vg_now_ns() if now_ns is None else _check_ns(now_ns)
        cdef int n
        self._check_usable()
        self._journal_times(t, t)
        self._begin()
        with nogil:
            _feed_set_time(&self._f, t)
            n = vg_decode_datagram(self._dec, &view[0] if view.shape[0] else NULL, view.shape[0],
                                   _feed_sink, _feed_skipped, &self._f)
            _feed_flush(&self._f)
        self._finish()
        return n

    def process_batch(self, datagrams, now_ns=None) -> int:
        """Decode and merge ``bytes`` datagrams (a tuple, or any iterable: copied into a tuple first, so
        that another thread changing the caller's list cannot free a datagram under the nogil loop; one bytes
        object is a TypeError, not a sequence of ints) in one nogil loop; returns the number of messages.
        ``now_ns``: None (CLOCK_REALTIME per datagram), one int (or numpy integer) for all, or an int64 array
        with one receive time per datagram (floats and bools, scalar or array, are a TypeError).  With a
        journal, times more than an hour before its trading day, or spanning more than a record's stamp reaches
        (3.26 days), are a ValueError before anything is merged; times past that reach roll the journal to their
        day first (docs/FORMATS.md §3.4)."""
        cdef Py_ssize_t i, n
        cdef const uint8_t** ptrs
        cdef Py_ssize_t* lens
        cdef const int64_t[::1] times = _NO_TIMES
        cdef int64_t one = 0
        cdef int mode                                   # 0 clock, 1 one value, 2 per datagram
        cdef int total = 0
        cdef tuple seq
        self._check_usable()
        seq = _datagram_tuple(datagrams, "process_batch")
        n = len(seq)
        if now_ns is None:
            mode = 0
        elif isinstance(now_ns, (int, float, _np.generic)):     # one value (a numpy scalar too)
            mode = 1
            one = _check_ns(now_ns)
        else:
            times_in = _np.asarray(now_ns)
            if (times_in.dtype.kind in "iu" and not isinstance(now_ns, _np.ndarray)
                    and any(isinstance(t, (bool, _np.bool_)) for t in now_ns)):
                raise TypeError("now_ns must be ints of epoch ns: a bool among them is no time")   # ([T, True])
            if times_in.dtype.kind not in "iu" and times_in.size:
                raise TypeError(f"now_ns must be ints of epoch ns (an int64 array), not {times_in.dtype}")
            times = _np.ascontiguousarray(times_in, dtype=_np.int64)
            if times.shape[0] != n:
                raise ValueError(f"now_ns has {times.shape[0]} times for {n} datagrams")
            if n and _np.min(times) < 0:
                raise ValueError("now_ns must be >= 0")
            mode = 2
        if n:
            if mode == 0:
                one = vg_now_ns()
                self._journal_times(one, one + VG_CLOCK_CALL_NS)
            elif mode == 1:
                self._journal_times(one, one)
            elif self._journal is not None or self._indices is not None or self._underlying is not None:
                self._journal_times(_np.min(times), _np.max(times))     # (the array's pass only when needed)
        ptrs = <const uint8_t**>malloc(max(n, 1) * sizeof(uint8_t*))
        lens = <Py_ssize_t*>malloc(max(n, 1) * sizeof(Py_ssize_t))
        if ptrs == NULL or lens == NULL:
            free(ptrs)
            free(lens)
            raise MemoryError()
        try:
            self._begin()
        except BaseException:
            free(ptrs)
            free(lens)
            raise
        try:
            _datagram_ptrs(seq, ptrs, lens, "process_batch")
            with nogil:
                for i in range(n):
                    _feed_set_time(&self._f, vg_now_ns() if mode == 0 else (one if mode == 1 else times[i]))
                    total += vg_decode_datagram(self._dec, ptrs[i], lens[i], _feed_sink, _feed_skipped,
                                                &self._f)
                    if self._f.buf.n - self._f.buf.flushed >= VG_SINK_FLUSH:
                        _feed_flush(&self._f)
                _feed_flush(&self._f)
        finally:
            free(ptrs)
            free(lens)
            self._finish()
        return total

    def merge_message(self, msg, now_ns=None) -> int:
        """Merge one decoded message dict (the shape ``vega.decode`` returns; missing keys are 0) as if it
        had arrived at ``now_ns``; returns the number of records merged.  For tests and for replaying
        decoded messages."""
        cdef vg_msg_t* m
        cdef int64_t t = vg_now_ns() if now_ns is None else _check_ns(now_ns)
        cdef int n
        self._check_usable()
        m = <vg_msg_t*>malloc(sizeof(vg_msg_t))
        if m == NULL:
            raise MemoryError()
        try:
            _fill_msg(m, msg, self._f.m.segment)
            self._journal_times(t, t)
            self._begin()
            with nogil:
                _feed_set_time(&self._f, t)
                _feed_sink(&self._f, m)
                n = m.n_records
                _feed_flush(&self._f)
        finally:
            free(m)
        self._finish()
        return n

    def merge_packed(self, packed, Py_ssize_t repeat=1, now_ns=None) -> int:
        """Merge pre-decoded messages (``pack_messages`` output) ``repeat`` times in one nogil loop, without
        decoding: the benchmark of the merge itself.  Returns the number of messages merged."""
        cdef const uint8_t[::1] view = _as_bytes_view(packed)
        cdef Py_ssize_t n = view.shape[0] // sizeof(vg_msg_t), i, r
        cdef const vg_msg_t* msgs
        cdef int64_t t = vg_now_ns() if now_ns is None else _check_ns(now_ns)
        self._check_usable()
        if view.shape[0] % sizeof(vg_msg_t):
            raise ValueError("packed is not a whole number of vg_msg_t")
        if n == 0:
            return 0
        msgs = <const vg_msg_t*>&view[0]
        for i in range(n):                  # the merge indexes its per-code counters by the stored slot
            if msgs[i].code_slot != vg_code_slot(msgs[i].header.transaction_code):
                raise ValueError(f"packed message {i} is not pack_messages output: its code slot "
                                 f"{msgs[i].code_slot} does not belong to code {msgs[i].header.transaction_code}")
        self._journal_times(t, t)
        self._begin()
        with nogil:
            _feed_set_time(&self._f, t)
            for r in range(repeat):
                for i in range(n):
                    _feed_sink(&self._f, &msgs[i])
                    if self._f.buf.n - self._f.buf.flushed >= VG_SINK_FLUSH:
                        _feed_flush(&self._f)
            _feed_flush(&self._f)
        self._finish()
        return n * repeat

    @property
    def stats(self) -> dict:
        """Decoder counters (datagrams, packets, errors by reason, messages by code) plus ``merge`` (token
        updates and skips by reason), ``merged_by_code``, ``records`` emitted and ``streams``: per stream
        number (Filler2[0]) the messages, gaps, missed sequence numbers and out-of-order numbers; a stream given
        to ``resume_streams`` also has ``resumed_from`` (its number before the restart), ``first_after`` (its
        first one since, 0 = not heard yet) and ``missed_while_down`` (the numbers skipped between them)."""
        cdef int i
        cdef vg_merge_t* m = &self._f.m
        cdef vg_streams_t* s = &self._f.streams
        d = (<Decoder>self._decoder).stats
        d["merge"] = {name: m.counters[i] for i, name in enumerate(_MERGE_COUNTERS)}
        d["merged_by_code"] = {_SLOT_CODES[i]: m.by_code[i] for i in range(len(_SLOT_CODES))}
        d["records"] = self._f.records
        d["streams"] = {i: {"messages": s.messages[i], "last_seq": s.last[i], "gaps": s.gaps[i],
                            "missed": s.missed[i], "out_of_order": s.out_of_order[i]}
                        for i in range(256) if s.messages[i]}
        for i in range(256):                             # a restart's streams (resume_streams)
            if s.down_first[i] or s.down_last[i]:
                d["streams"].setdefault(i, {"messages": 0, "last_seq": s.last[i], "gaps": 0, "missed": 0,
                                            "out_of_order": 0}).update(
                    resumed_from=s.down_last[i], first_after=s.down_first[i],
                    # None, unknown, for a stream numbered afresh while down: its first number below its last before
                    missed_while_down=None if 0 < s.down_first[i] < s.down_last[i] else s.missed_down[i])
        return d


_NO_TIMES = _np.zeros(1, dtype=_np.int64)
_SEG_NAMES = {VG_SEG_CM: "CM", VG_SEG_FO: "FO", VG_SEG_IDX: "IDX"}


def _slot_busy(int feed):
    """The RuntimeError of a ring slot whose append turn another thread's call holds (one writer at a time)."""
    return RuntimeError(f"ring slot {_RING_FEEDS[feed]} is being appended to by a call in another thread (another "
                        f"FeedHandler's, or Ring.append): a slot takes one writer at a time")

_MERGE_COUNTERS = ("merged", "bad_token", "store_full", "unsubscribed", "book_type", "records_dropped",
                   "sink_errors", "unrouted", "blank_index_name", "bad_index_name", "not_index")


cdef object _int_arg(v, str what, str unit):
    """An integer argument (an int, or a numpy integer: ``operator.index``) as an int; a float (it cannot hold
    ns exactly), a bool or anything else is a TypeError naming ``what``."""
    if isinstance(v, (bool, _np.bool_)):
        raise TypeError(f"{what} must be an int of {unit}, not {type(v).__name__}")
    try:
        return PyNumber_Index(v)
    except TypeError:
        raise TypeError(f"{what} must be an int of {unit}, not {type(v).__name__}") from None


cdef int64_t _check_ts48(v, str what="ts_ns") except? -2:
    """A record time argument: ns since 00:00 IST of the trading day, an int (``_int_arg``); -1 when outside
    [0, 2**48) (the caller refuses or clamps)."""
    v = _int_arg(v, what, "ns since 00:00 IST")
    return v if 0 <= v < (1 << 48) else -1


cdef object _stale_before(int64_t now, int64_t stale_ns):
    """A record last updated before this (a Python int, possibly past the int64 range) is stale at ``now``:
    ``now - t > stale_ns`` without its overflow in int64 (a reader's store file may hold any time and window:
    a damaged one's negative time made the C difference undefined and numpy's wrap to 'fresh')."""
    return <object>now - <object>stale_ns


cdef int64_t _check_ns(v, str what="now_ns") except? -1:
    """A time argument (``now_ns`` of a FeedHandler or of the staleness reads): an int of epoch ns (a numpy
    integer too), never a float (a double holds epoch ns only to ~256 ns) or a bool; once per call, before
    anything is merged."""
    cdef int64_t t
    if type(v) is not int:                         # (an int, the common case, converts in C below)
        if isinstance(v, (bool, _np.bool_)):
            raise TypeError(f"{what} must be an int of epoch ns, not {type(v).__name__}")
        try:
            v = PyNumber_Index(v)
        except TypeError:
            raise TypeError(f"{what} must be an int of epoch ns, not {type(v).__name__}") from None
    try:
        t = v
    except OverflowError:
        t = -1
    if t < 0:
        raise ValueError(f"{what} must be epoch ns in [0, 2**63), got {v}")
    return t


# ----------------------------------------------------------------------------------------------------------
# Decoded-message dicts -> vg_msg_t (tests, replays of decoded messages, benchmarks)
# ----------------------------------------------------------------------------------------------------------

cdef void _fill_ind(vg_indicator_t* i, d):
    d = d or {}
    i.last_trade_more = bool(d.get("last_trade_more", 0))
    i.last_trade_less = bool(d.get("last_trade_less", 0))
    i.buy = bool(d.get("buy", 0))
    i.sell = bool(d.get("sell", 0))

cdef void _fill_chars(char* dst, s, int n):
    b = s.encode("latin-1") if isinstance(s, str) else bytes(s or b"")
    b = b[:n].ljust(n, b" ")
    memcpy(dst, <const char*>b, n)

cdef char _char1(s):
    if not s:
        return 0
    return <char>(ord(s) if isinstance(s, str) else s[0])

cdef int _fill_msg(vg_msg_t* m, msg, int seg) except -1:
    cdef int i, j, n
    cdef vg_md_t* md
    cdef vg_mw_t* w
    cdef vg_tick_t* t
    cdef vg_buyback_t* b
    cdef vg_index_t* x
    memset(m, 0, sizeof(vg_msg_t))
    code = int(msg["transaction_code"])
    recs = list(msg.get("records", ()))
    n = len(recs)
    m.segment = <uint8_t>seg
    m.header.transaction_code = <uint16_t>code
    m.code_slot = <int8_t>vg_code_slot(<uint16_t>code)
    m.header.market_type = <uint8_t>seg
    m.header.log_time = msg.get("log_time", 0)
    m.header.bc_seq_no = msg.get("bc_seq_no", 0)
    m.header.stream = msg.get("stream", 0)
    m.header.message_header = bool(msg.get("message_header", False))
    g = lambda d, key: d.get(key, 0)
    if code in (VG_MBO_MBP, VG_ONLY_MBP):
        if n > VG_MAX_MD:
            raise ValueError(f"{code} carries at most {VG_MAX_MD} records")
        m.kind = VG_K_MD
        for i in range(n):
            r = recs[i]
            md = &m.body.md[i]
            md.token = g(r, "token"); md.book_type = g(r, "book_type"); md.trading_status = g(r, "trading_status")
            md.volume_traded_today = g(r, "volume_traded_today"); md.last_traded_price = g(r, "last_traded_price")
            md.net_change_indicator = _char1(r.get("net_change_indicator", ""))
            md.net_price_change_from_closing_price = g(r, "net_price_change_from_closing_price")
            md.last_trade_quantity = g(r, "last_trade_quantity"); md.last_trade_time = g(r, "last_trade_time")
            md.average_trade_price = g(r, "average_trade_price"); md.auction_number = g(r, "auction_number")
            md.auction_status = g(r, "auction_status"); md.initiator_type = g(r, "initiator_type")
            md.initiator_price = g(r, "initiator_price"); md.initiator_quantity = g(r, "initiator_quantity")
            md.auction_price = g(r, "auction_price"); md.auction_quantity = g(r, "auction_quantity")
            md.bb_total_buy_flag = g(r, "bb_total_buy_flag"); md.bb_total_sell_flag = g(r, "bb_total_sell_flag")
            md.total_buy_quantity = g(r, "total_buy_quantity"); md.total_sell_quantity = g(r, "total_sell_quantity")
            _fill_ind(&md.indicator, r.get("indicator"))
            md.closing_price = g(r, "closing_price"); md.open_price = g(r, "open_price")
            md.high_price = g(r, "high_price"); md.low_price = g(r, "low_price")
            md.indicative_close_price = g(r, "indicative_close_price")
            mbp = r.get("mbp") or ()
            if len(mbp) not in (0, 10):
                raise ValueError("mbp must hold 10 entries (0-4 buy, 5-9 sell)")
            for j in range(len(mbp)):
                md.mbp[j].quantity = g(mbp[j], "quantity"); md.mbp[j].price = g(mbp[j], "price")
                md.mbp[j].number_of_orders = g(mbp[j], "number_of_orders")
                md.mbp[j].bb_buy_sell_flag = g(mbp[j], "bb_buy_sell_flag")
    elif code in (VG_MW, VG_MW_ENH):
        if n > VG_MAX_MW:
            raise ValueError(f"{code} carries at most {VG_MAX_MW} records")
        m.kind = VG_K_MW
        for i in range(n):
            r = recs[i]
            w = &m.body.mw[i]
            w.token = g(r, "token"); w.open_interest = g(r, "open_interest")
            infos = r.get("market_wise_info") or ()
            for j in range(min(3, len(infos))):
                f = infos[j]
                _fill_ind(&w.market_wise_info[j].indicator, f.get("indicator"))
                w.market_wise_info[j].buy_volume = g(f, "buy_volume")
                w.market_wise_info[j].buy_price = g(f, "buy_price")
                w.market_wise_info[j].sell_volume = g(f, "sell_volume")
                w.market_wise_info[j].sell_price = g(f, "sell_price")
                w.market_wise_info[j].last_trade_price = g(f, "last_trade_price")
                w.market_wise_info[j].last_trade_time = g(f, "last_trade_time")
    elif code in (VG_TICKER_CM, VG_TICKER_FO, VG_TICKER_FO_ENH):
        if n > VG_MAX_TICK:
            raise ValueError(f"{code} carries at most {VG_MAX_TICK} records")
        m.kind = VG_K_TICK
        for i in range(n):
            r = recs[i]
            t = &m.body.tick[i]
            t.token = g(r, "token"); t.market_type = g(r, "market_type"); t.fill_price = g(r, "fill_price")
            t.fill_volume = g(r, "fill_volume"); t.market_index_value = g(r, "market_index_value")
            t.open_interest = g(r, "open_interest"); t.day_hi_oi = g(r, "day_hi_oi"); t.day_lo_oi = g(r, "day_lo_oi")
    elif code == VG_7210 and seg == VG_SEG_CM:
        if n > VG_MAX_SPOS:
            raise ValueError(f"CM 7210 carries at most {VG_MAX_SPOS} records")
        m.kind = VG_K_SPOS
        for i in range(n):
            r = recs[i]
            m.body.spos[i].token = g(r, "token")
            m.body.spos[i].buy_ord_cxl_count = g(r, "buy_ord_cxl_count")
            m.body.spos[i].buy_ord_cxl_vol = g(r, "buy_ord_cxl_vol")
            m.body.spos[i].sell_ord_cxl_count = g(r, "sell_ord_cxl_count")
            m.body.spos[i].sell_ord_cxl_vol = g(r, "sell_ord_cxl_vol")
    elif (code == VG_7210 or (code == VG_STATUS_CHG and seg == VG_SEG_FO)
          or ((code == VG_SEC_STATUS or code == VG_SEC_STATUS_PREOPEN) and seg == VG_SEG_CM)):
        if n > VG_MAX_STATUS:
            raise ValueError(f"{code} carries at most {VG_MAX_STATUS} records")
        m.kind = VG_K_STATUS
        for i in range(n):
            r = recs[i]
            m.body.status[i].token = g(r, "token")
            st = list(r.get("status") or (0, 0, 0, 0))
            for j in range(min(6 if seg == VG_SEG_CM else 4, len(st))):
                m.body.status[i].status[j] = st[j]
    elif code == VG_BUYBACK:
        if n > VG_MAX_BUYBACK:
            raise ValueError(f"18708 carries at most {VG_MAX_BUYBACK} records")
        m.kind = VG_K_BUYBACK
        for i in range(n):
            r = recs[i]
            b = &m.body.buyback[i]
            b.token = g(r, "token")
            _fill_chars(b.symbol, r.get("symbol", ""), 10)
            _fill_chars(b.series, r.get("series", ""), 2)
            b.pday_cum_vol = float(g(r, "pday_cum_vol")); b.cday_cum_vol = float(g(r, "cday_cum_vol"))
            b.pday_high_price = g(r, "pday_high_price"); b.pday_low_price = g(r, "pday_low_price")
            b.pday_wt_avg = g(r, "pday_wt_avg"); b.cday_high_price = g(r, "cday_high_price")
            b.cday_low_price = g(r, "cday_low_price"); b.cday_wt_avg = g(r, "cday_wt_avg")
            b.start_date = g(r, "start_date"); b.end_date = g(r, "end_date")
    elif code == VG_OPEN_PRICE:
        if n != 1:
            raise ValueError("6013 carries exactly one record")
        m.kind = VG_K_OPEN
        r = recs[0]
        _fill_chars(m.body.open_price.symbol, r.get("symbol", ""), 10)
        _fill_chars(m.body.open_price.series, r.get("series", ""), 2)
        m.body.open_price.token = g(r, "token")
        m.body.open_price.opening_price = g(r, "opening_price")
    elif code in (VG_INDICES, VG_INDICES_VIX, VG_INDICATIVE_INDICES):
        if n > VG_MAX_INDEX:
            raise ValueError(f"{code} carries at most {VG_MAX_INDEX} records")
        m.kind = VG_K_INDEX
        for i in range(n):
            r = recs[i]
            x = &m.body.index[i]
            _fill_chars(x.index_name, r.get("index_name", ""), 21)
            x.wire_stride = r.get("wire_stride", 72)
            x.net_change_indicator = _char1(r.get("net_change_indicator", ""))
            x.index_value = g(r, "index_value"); x.high_index_value = g(r, "high_index_value")
            x.low_index_value = g(r, "low_index_value"); x.opening_index = g(r, "opening_index")
            x.closing_index = g(r, "closing_index"); x.percent_change = g(r, "percent_change")
            x.yearly_high = g(r, "yearly_high"); x.yearly_low = g(r, "yearly_low")
            x.no_of_upmoves = g(r, "no_of_upmoves"); x.no_of_downmoves = g(r, "no_of_downmoves")
            x.indicative_close_value = g(r, "indicative_close_value"); x.change = g(r, "change")
            x.market_capitalisation = float(r.get("market_capitalisation", 0.0))
    elif code in (VG_OI_CM, VG_OI_CM_ENH):
        if n > VG_MAX_OI:
            raise ValueError(f"{code} carries at most {VG_MAX_OI} records")
        m.kind = VG_K_OI
        for i in range(n):
            m.body.oi[i].token = g(recs[i], "token")
            m.body.oi[i].current_oi = g(recs[i], "current_oi")
    elif code == VG_CIRCUIT or _vg_counted_here(seg, <uint16_t>code) >= 0:     # header only: nothing to merge
        m.kind = VG_K_NONE
        n = 0
    else:
        raise ValueError(f"no merge for transaction code {code}")
    m.n_records = <uint16_t>n
    return 0


def pack_messages(segment, msgs) -> bytes:
    """Decoded message dicts -> the raw ``vg_msg_t`` array ``FeedHandler.merge_packed`` takes."""
    cdef int seg = _parse_segment(segment)
    msgs = list(msgs)
    out = bytearray(len(msgs) * sizeof(vg_msg_t))
    cdef unsigned char[::1] view = out
    cdef Py_ssize_t i
    for i in range(len(msgs)):
        _fill_msg(<vg_msg_t*>&view[i * sizeof(vg_msg_t)], msgs[i], seg)
    return bytes(out)


def _merge_for_tests(Store store, segment, msg, now_ns=None, md_stale_ns=5_000_000_000):
    """Merge one message dict into ``store`` through a throw-away FeedHandler; returns its change records."""
    got = []
    fh = FeedHandler(segment, store, on_records=got.append, md_stale_ns=md_stale_ns)
    fh.merge_message(msg, now_ns=now_ns)
    return _np.concatenate(got) if got else _np.empty(0, dtype=_REC_DTYPE)


# ----------------------------------------------------------------------------------------------------------
# Store (Python API), its numpy views and the Quote snapshot
# ----------------------------------------------------------------------------------------------------------

cdef extern from *:
    """
    static inline void vg_store_rel_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
    """
    void vg_store_rel_u64(uint64_t* p, uint64_t v) noexcept nogil



cdef inline void _publish_magic(vg_store_hdr_t* h) noexcept nogil:
    """The magic is written last, with release order: a reader that sees it sees a complete header."""
    vg_store_rel_u64(&h.magic, VG_STORE_MAGIC)

cdef inline uint64_t _align(uint64_t v, uint64_t a) noexcept nogil:
    return (v + a - 1) // a * a

def _store_geometry(uint32_t capacity, uint32_t dense_size):
    """(hash_size, dense_off, hash_off, records_off, file_size) of a store file."""
    cdef uint32_t hash_size = 16
    while hash_size < 2 * capacity:
        hash_size *= 2
    dense_off = VG_STORE_PAGE
    hash_off = _align(dense_off + <uint64_t>dense_size * 4, 64)
    records_off = _align(hash_off + <uint64_t>hash_size * sizeof(vg_hslot_t), VG_STORE_PAGE)
    file_size = _align(records_off + <uint64_t>capacity * sizeof(vg_srec_t), VG_STORE_PAGE)
    return hash_size, dense_off, hash_off, records_off, file_size

def _shm_path(name):
    """The file of the store named ``name`` (Store.create, open, remove): TypeError for a name that is no str (a
    token, bytes), ValueError for a str that is no store name."""
    if not isinstance(name, str):
        raise TypeError(f"name (a store name) must be a str of 1-101 characters of [A-Za-z0-9_.-], not "
                        f"{type(name).__name__}: {name!r}")
    if not _NAME_RE.match(name):
        raise ValueError(f"a store name is 1-101 characters of [A-Za-z0-9_.-], not {name!r}")
    return _os.path.join(SHM_DIR, f"vega.store.{name}")


def _capture_stores_hint(name):
    """What Store.open(name) of a name with no file adds when a capture's stores of that prefix exist: ``vega
    capture --store vega`` makes vega-fo, vega-cm and vega-idx, never a store named vega."""
    found = []
    for seg in ("fo", "cm", "idx"):
        try:
            if _os.path.exists(_shm_path(f"{name}-{seg}")):
                found.append(f"{name}-{seg}")
        except ValueError:                      # the name with a suffix is too long to be a store's
            pass
    if not found:
        return ""
    return (f"; a capture's stores are <prefix>-fo, <prefix>-cm and <prefix>-idx: "
            f"open {' or '.join(repr(n) for n in found)}")


@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")
cdef class _RecordsView:
    """Buffer exporter over the store's records region (keeps the Store open while numpy views live)."""
    cdef Store _store
    cdef Py_ssize_t _n
    cdef Py_ssize_t _shape[1]
    cdef Py_ssize_t _strides[1]

    def __getbuffer__(self, Py_buffer* buf, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("store views are read-only (the writer updates records under a sequence lock)")
        self._shape[0] = self._n * sizeof(vg_srec_t)
        self._strides[0] = 1
        buf.buf = <void*>self._store._st.recs
        buf.obj = self
        buf.len = self._shape[0]
        buf.readonly = 1
        buf.itemsize = 1
        buf.format = "B"
        buf.ndim = 1
        buf.shape = self._shape
        buf.strides = self._strides
        buf.suboffsets = NULL
        buf.internal = NULL
        self._store._exports += 1

    def __releasebuffer__(self, Py_buffer* buf):
        self._store._exports -= 1


def _stat_id(st):
    """(device, inode) of an os.stat_result: which file a name named when it was mapped."""
    return st.st_dev, st.st_ino


_STORE_MAGIC_BYTES = (<uint64_t>VG_STORE_MAGIC).to_bytes(8, "little")     # b"VGASTOR1"
_STORE_MAKING_BYTES = b"VGAMAKE1"       # the first 8 bytes of a named store until its magic is published


def _open_refusal(path, size, head):
    """Store.open's StoreFormatError for a file of ``size`` bytes without a store's magic (or too short for a
    store), ``head`` its first bytes (up to the header's).  No header yet (an empty file, zeros, or
    ``_STORE_MAKING_BYTES``: Store.create writes those first and the magic last) is a store being created, or
    whose creator died first; anything else is no VEGA store."""
    if not any(head) or head.startswith(_STORE_MAKING_BYTES):
        return StoreFormatError(f"store file {path} is incomplete or still being created ({size:,} bytes)")
    if size < VG_STORE_PAGE:
        return StoreFormatError(f"{path}: {size} bytes is too short for a store")
    return StoreFormatError(f"{path}: not a VEGA store (bad magic)")


def _clear_stale(name, path, check_only=False):
    """Store.create: make way at ``path`` for a new store, or refuse.  Nothing there: nothing to do.  An empty
    file, or a VEGA store (a regular file of at least a header that starts with the magic, a damaged one too,
    or one that starts with ``_STORE_MAKING_BYTES``: its creator died before the magic) whose writer is gone,
    is unlinked; one whose writer lives (holds its flock) is StoreBusyError.  Anything else (no magic, too
    short for a header, a directory, a symbolic link, a FIFO, unreadable) is StoreFormatError and left as it
    is.  Never follows a link or opens a FIFO.  A file that changed under the check is left alone (the
    caller's O_EXCL create then fails on it).  ``check_only`` (vega capture --remove-shm, before it removes
    anything): the same refusals ("refusing to remove it"), and nothing is unlinked."""
    try:
        st = _os.lstat(path)
    except FileNotFoundError:
        return
    why = None
    if _stat.S_ISLNK(st.st_mode):
        why = "a symbolic link"
    elif _stat.S_ISDIR(st.st_mode):
        why = "a directory"
    elif not _stat.S_ISREG(st.st_mode):
        why = "not a regular file"
    else:
        try:
            fd = _os.open(path, _os.O_RDONLY | _os.O_NOFOLLOW | _os.O_CLOEXEC | _os.O_NONBLOCK)
        except FileNotFoundError:
            return
        except OSError as e:
            raise StoreFormatError(f"{path}: exists and cannot be read to check that it is a VEGA store "
                                   f"({e.strerror or e}); refusing to {'remove' if check_only else 'replace'} "
                                   "it") from None
        try:
            st = _os.fstat(fd)
            first = _os.pread(fd, 8, 0)
            if not _stat.S_ISREG(st.st_mode):
                why = "not a regular file"
            elif first == _STORE_MAKING_BYTES:
                why = None
            elif 0 < st.st_size < sizeof(vg_store_hdr_t):
                why = f"{st.st_size} bytes, too short to hold a store header"
            elif st.st_size and first != _STORE_MAGIC_BYTES:
                why = f"it starts with {first!r}, not {_STORE_MAGIC_BYTES!r}"
            if why is None:
                try:
                    _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
                except BlockingIOError:
                    raise StoreBusyError(f"store {name!r} already has a writer ({path})") from None
                try:
                    same = _stat_id(_os.lstat(path)) == _stat_id(st)
                except FileNotFoundError:
                    same = False
                if same and not check_only:
                    _os.unlink(path)     # left by a dead writer; readers still mapping it keep their copy
        finally:
            _os.close(fd)
    if why is not None:
        raise StoreFormatError(f"{path}: exists and is not a VEGA store ({why}); refusing to "
                               f"{'remove' if check_only else 'replace'} it")


# fd -> (st_dev, st_ino) of each named store this process is the live writer of (Store.create until close()):
# Store.remove / unlink let the writer's own process remove its file while it holds the flock
_OWN_WRITERS = {}
_WRITERS = _weakref.WeakSet()            # this process's writers of named stores (Store.create until close())
_FORK_COPIES = _weakref.WeakSet()        # a forked child's copies of its parent's writers (read-only here)


def _drop_store_locks():
    """In a forked child: let go of the parent's store locks.  The child shares the locked open file, so a
    worker that never writes (a multiprocessing worker) would otherwise keep the store 'written' after the
    parent closed it or died; the child's copies of those Stores are no writers of it."""
    for s in list(_WRITERS):
        if (<Store>s)._fd >= 0:
            try:
                _os.close((<Store>s)._fd)
            except OSError:
                pass
            (<Store>s)._fd = -1
        (<Store>s)._st.writable = 0      # read-only here: a second writer of the shared records would break
        _FORK_COPIES.add(s)              # their sequence locks (odd for good, or even while a write runs)
    _WRITERS.clear()
    _OWN_WRITERS.clear()


_os.register_at_fork(after_in_child=_drop_store_locks)


def _own_writer(file_id):
    """True when this process's live writer of a named store maps the file ``file_id`` (its fd still names it)."""
    for fd, fid in list(_OWN_WRITERS.items()):
        if fid == file_id:
            try:
                if _stat_id(_os.fstat(fd)) == file_id:
                    return True
            except OSError:
                pass
    return False


def _remove_store(name, path):
    """Store.remove / Store.unlink: unlink ``path`` unless a live writer in another process holds its flock
    (StoreBusyError, the file left as it is).  A dead writer's file, or one of this process's own writer, is
    unlinked; nothing there is nothing to do.  What is not a regular file is unlinked as before (the OS
    decides: a directory is an OSError), and so is a file this process cannot open to check its lock."""
    cdef int attempt
    for attempt in range(8):                  # the name may be taken over between two steps: look again
        try:
            st = _os.lstat(path)
        except FileNotFoundError:
            return
        if not _stat.S_ISREG(st.st_mode):
            break
        try:
            fd = _os.open(path, _os.O_RDONLY | _os.O_NOFOLLOW | _os.O_CLOEXEC | _os.O_NONBLOCK)
        except FileNotFoundError:
            return
        except OSError:
            break                             # cannot check its lock (not ours to read): unlink decides
        try:
            fid = _stat_id(_os.fstat(fd))
            try:
                _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
            except BlockingIOError:
                if not _own_writer(fid):
                    head = _os.pread(fd, 72, 0)
                    pid = int.from_bytes(head[68:72], "little") if head[:8] == _STORE_MAGIC_BYTES else 0
                    raise StoreBusyError(f"store {name!r} has a live writer{f' (pid {pid})' if pid else ''}: "
                                         f"stop it first, or remove the file from the writer's process "
                                         f"({path})") from None
            try:
                same = _stat_id(_os.lstat(path)) == fid
            except FileNotFoundError:
                return
            if same:
                try:
                    _os.unlink(path)          # readers still mapping it keep their copy
                except FileNotFoundError:
                    pass
                return
        finally:
            _os.close(fd)                     # (releases the lock taken above)
    else:                                     # another file at the name at every look: never unlinked unchecked
        raise StoreBusyError(f"store {name!r} is being replaced by another process: try again ({path})")
    try:
        _os.unlink(path)
    except FileNotFoundError:
        pass


def _duration_ns(v, str what):
    """A duration in ns: an int, a numpy number or a float (5e9; truncated), in 0 .. 2**63-1.  TypeError for a
    bool (True is no duration of 1 ns) or a non-number; ValueError outside the range, NaN and inf included."""
    if isinstance(v, (bool, _np.bool_)) or not isinstance(v, (int, float, _np.integer, _np.floating)):
        raise TypeError(f"{what} must be a number of nanoseconds, not {type(v).__name__}")
    if not (0 <= v < 2 ** 63):                                  # (NaN compares false)
        raise ValueError(f"{what} must be a finite number of nanoseconds >= 0 (below 2**63), not {v!r}")
    return int(v)


def _store_sizes(capacity, dense_tokens, stale_ns):
    """A new store's (capacity, dense_tokens, stale_ns), checked: sizes are ints (Store(2.5) is not a store of 2
    records, nor Store(True) one of 1) in range; TypeError / ValueError otherwise."""
    for what, v in (("capacity", capacity), ("dense_tokens", dense_tokens)):
        if not hasattr(type(v), "__index__") or isinstance(v, (bool, _np.bool_)):   # Store(True): no store of 1
            raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    capacity, dense_tokens = capacity.__index__(), dense_tokens.__index__()
    if not (1 <= capacity <= VG_MAX_CAPACITY):
        raise ValueError(f"capacity must be in 1 .. {VG_MAX_CAPACITY}")
    if not (0 <= dense_tokens <= VG_MAX_TOKENS_DENSE):
        raise ValueError(f"dense_tokens must be in 0 .. {VG_MAX_TOKENS_DENSE}")
    return capacity, dense_tokens, _duration_ns(stale_ns, "stale_ns")


def _quote_restore(record, int64_t stale_ns, int64_t taken_ns):
    """Unpickle a Quote (Quote.__reduce__): its record's bytes, as this build lays a store record out."""
    cdef const uint8_t[::1] view = _as_bytes_view(record)
    cdef Quote q = Quote.__new__(Quote)
    if view.shape[0] != sizeof(vg_srec_t):
        raise ValueError(f"a pickled Quote of {view.shape[0]} bytes; this VEGA's store record has "
                         f"{sizeof(vg_srec_t)} (pickled by another version?)")
    memcpy(&q._r, &view[0], sizeof(vg_srec_t))
    q._stale_ns = stale_ns
    q._taken_ns = taken_ns
    return q


@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")
cdef class Quote:
    """A consistent snapshot of one instrument (copied under its sequence lock).

    Attributes are the store record's fields (docs/FORMATS.md, "Store record"): prices in paise, depth as
    5-tuples (level 0 = best).  ``stale`` tells whether the record was older than the store's staleness
    window when the snapshot was taken.

    An index record (``segment`` 3, the NFO_IDX feed: ``is_index``) has no auction or SPOS fields: its record
    holds the index statistics there (docs/FORMATS.md 3.5).  Its Quote has the names of ``vega.INDEX_DTYPE``
    instead: ``index_value``, ``net_change``, ``value_time``, ``open``, ``high``, ``low``, ``close``,
    ``indicative_close`` (values x 100 as sent, like paise: 2412345 is 24123.45), ``percent_change`` and
    ``indicative_percent_change`` (as sent: their scaling is unverified, % x 100 or x 10000),
    ``yearly_high``, ``yearly_low``, ``indicative_change`` (x 100), ``upmoves``, ``downmoves`` (constituents),
    ``market_cap`` (a float as sent) and ``wire_stride``.  An auction or SPOS name of an index record, or an
    index name of another record, is an AttributeError saying so; ``to_dict()`` gives the fields the record has
    (an index record's under the index names).
    """
    cdef vg_srec_t _r
    cdef int64_t _stale_ns
    cdef int64_t _taken_ns

    def __repr__(self):
        # every name is an attribute (the best level of a side as its [0]), so the repr reads as what to type;
        # the symbol and series once known (a master file, 6013, 18708), so a quote in a notebook says what it is
        sym = _cstr(self._r.symbol, 10)
        if self._r.segment == VG_SEG_IDX:         # an index: its value and move, no book
            return (f"Quote(token={self._r.token}, symbol={sym!r}, index_value={self._r.last_traded_price}, "
                    f"net_change={self._r.net_price_change}, percent_change={self._r.idx_percent_change}, "
                    f"open={self._r.open_price}, high={self._r.high_price}, low={self._r.low_price}, "
                    f"close={self._r.close_price}, last_update_source={self._r.last_update_source})")
        ident = f"symbol={sym!r}, series={_cstr(self._r.series, 2)!r}, " if sym else ""
        return (f"Quote(token={self._r.token}, {ident}last_traded_price={self._r.last_traded_price}, "
                f"bid_price[0]={self._r.bid_price[0]}, bid_quantity[0]={self._r.bid_quantity[0]}, "
                f"ask_price[0]={self._r.ask_price[0]}, ask_quantity[0]={self._r.ask_quantity[0]}, "
                f"volume_traded_today={self._r.volume_traded_today}, "
                f"last_update_source={self._r.last_update_source}, data_quality={self._r.data_quality})")

    @property
    def stale(self) -> bool:
        cdef int64_t t = self._r.last_update_ns
        return t == 0 or t < _stale_before(self._taken_ns, self._stale_ns)

    @property
    def is_index(self) -> bool:
        """An index record (segment 3, the NFO_IDX feed): it has the index names, not the auction / SPOS ones."""
        return self._r.segment == VG_SEG_IDX

    def to_dict(self) -> dict:
        """Every field the record has as a dict: an index record's under the names of ``vega.INDEX_DTYPE``
        (``index_value``, ``open``, ``percent_change`` ...) and without auction or SPOS fields."""
        return {name: getattr(self, name) for name in
                (_INDEX_QUOTE_FIELDS if self._r.segment == VG_SEG_IDX else _QUOTE_FIELDS)}

    cdef int _index_only(self, str name) except -1:
        if self._r.segment != VG_SEG_IDX:
            raise AttributeError(f"{name} is a field of index records (segment 3, the NFO_IDX feed; "
                                 f"vega.INDEX_DTYPE); token {self._r.token} is of segment {self._r.segment}")
        return 0

    cdef int _not_index(self, str name) except -1:
        if self._r.segment == VG_SEG_IDX:
            raise AttributeError(f"token {self._r.token} is an index record (segment 3): it has no {name} (no "
                                 f"auction or SPOS fields; its record holds the index's there: percent_change, "
                                 f"yearly_high, yearly_low, upmoves, downmoves, market_cap ...)")
        return 0

    def __eq__(self, other):
        if not isinstance(other, Quote):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self):
        # a value (its fields cannot be set): equal snapshots (__eq__ compares every field) hash alike, so they can
        # be dict keys and set members, as a namedtuple can
        return hash((self._r.token, self._r.last_update_ns, self._r.update_count, self._r.last_traded_price))

    def __dir__(self):
        if self._r.segment == VG_SEG_IDX:
            return list(_INDEX_QUOTE_FIELDS) + list(_INDEX_ALIASES.values()) + ["is_index", "stale", "to_dict"]
        return list(_QUOTE_FIELDS) + ["is_index", "stale", "to_dict"]

    def __reduce__(self):
        # a snapshot is a value: it pickles (and copies) as its record's bytes and the staleness it was taken with
        return (_quote_restore, ((<const char*>&self._r)[:sizeof(vg_srec_t)],
                                 self._stale_ns, self._taken_ns))

    @property
    def token(self) -> int:
        return self._r.token

    @property
    def segment(self) -> int:
        return self._r.segment

    @property
    def net_change_indicator(self) -> str:
        return _chr1(self._r.net_change_indicator)

    @property
    def book_type(self) -> int:
        return self._r.book_type

    @property
    def trading_status(self) -> int:
        return self._r.trading_status

    @property
    def last_update_source(self) -> int:
        return self._r.last_update_source

    @property
    def last_traded_price(self) -> int:
        return self._r.last_traded_price

    @property
    def last_trade_quantity(self) -> int:
        return self._r.last_trade_quantity

    @property
    def last_trade_time(self) -> int:
        return self._r.last_trade_time

    @property
    def net_price_change(self) -> int:
        return self._r.net_price_change

    @property
    def volume_traded_today(self) -> int:
        return self._r.volume_traded_today

    @property
    def last_update_ns(self) -> int:
        return self._r.last_update_ns

    @property
    def update_count(self) -> int:
        return self._r.update_count

    @property
    def average_trade_price(self) -> int:
        return self._r.average_trade_price

    @property
    def fill_price(self) -> int:
        return self._r.fill_price

    @property
    def fill_volume(self) -> int:
        return self._r.fill_volume

    @property
    def bid_price(self) -> tuple:
        return (self._r.bid_price[0], self._r.bid_price[1], self._r.bid_price[2], self._r.bid_price[3],
                self._r.bid_price[4])

    @property
    def ask_price(self) -> tuple:
        return (self._r.ask_price[0], self._r.ask_price[1], self._r.ask_price[2], self._r.ask_price[3],
                self._r.ask_price[4])

    @property
    def open_price(self) -> int:
        return self._r.open_price

    @property
    def high_price(self) -> int:
        return self._r.high_price

    @property
    def low_price(self) -> int:
        return self._r.low_price

    @property
    def close_price(self) -> int:
        return self._r.close_price

    @property
    def indicative_close_price(self) -> int:
        return self._r.indicative_close_price

    @property
    def bb_total_buy_flag(self) -> int:
        return self._r.bb_total_buy_flag

    @property
    def bb_total_sell_flag(self) -> int:
        return self._r.bb_total_sell_flag

    @property
    def bid_quantity(self) -> tuple:
        return (self._r.bid_quantity[0], self._r.bid_quantity[1], self._r.bid_quantity[2], self._r.bid_quantity[3],
                self._r.bid_quantity[4])

    @property
    def ask_quantity(self) -> tuple:
        return (self._r.ask_quantity[0], self._r.ask_quantity[1], self._r.ask_quantity[2], self._r.ask_quantity[3],
                self._r.ask_quantity[4])

    @property
    def total_buy_quantity(self) -> int:
        return self._r.total_buy_quantity

    @property
    def total_sell_quantity(self) -> int:
        return self._r.total_sell_quantity

    @property
    def bid_orders(self) -> tuple:
        return (self._r.bid_orders[0], self._r.bid_orders[1], self._r.bid_orders[2], self._r.bid_orders[3],
                self._r.bid_orders[4])

    @property
    def ask_orders(self) -> tuple:
        return (self._r.ask_orders[0], self._r.ask_orders[1], self._r.ask_orders[2], self._r.ask_orders[3],
                self._r.ask_orders[4])

    @property
    def market_type(self) -> int:
        return self._r.market_type

    @property
    def market_status(self) -> tuple:
        return (self._r.market_status[0], self._r.market_status[1], self._r.market_status[2], self._r.market_status[3])

    @property
    def indicator(self) -> int:
        return self._r.indicator

    @property
    def mw_indicator(self) -> int:
        return self._r.mw_indicator

    @property
    def mw_buy_volume(self) -> int:
        return self._r.mw_buy_volume

    @property
    def mw_sell_volume(self) -> int:
        return self._r.mw_sell_volume

    @property
    def mw_buy_price(self) -> int:
        return self._r.mw_buy_price

    @property
    def mw_sell_price(self) -> int:
        return self._r.mw_sell_price

    @property
    def mw_last_trade_price(self) -> int:
        return self._r.mw_last_trade_price

    @property
    def mw_last_trade_time(self) -> int:
        return self._r.mw_last_trade_time

    @property
    def open_interest(self) -> int:
        return self._r.open_interest

    @property
    def oi_day_high(self) -> int:
        return self._r.oi_day_high

    @property
    def oi_day_low(self) -> int:
        return self._r.oi_day_low

    @property
    def implied_volatility(self) -> int:
        return self._r.implied_volatility

    @property
    def data_quality(self) -> int:
        return self._r.data_quality

    @property
    def valid(self) -> int:
        return self._r.valid

    @property
    def subscribed(self) -> int:
        return self._r.subscribed

    @property
    def buyback_active(self) -> int:
        return self._r.buyback_active

    @property
    def auction_number(self) -> int:
        self._not_index("auction_number")
        return self._r.auction_number

    @property
    def auction_status(self) -> int:
        self._not_index("auction_status")
        return self._r.auction_status

    @property
    def initiator_type(self) -> int:
        self._not_index("initiator_type")
        return self._r.initiator_type

    @property
    def initiator_price(self) -> int:
        self._not_index("initiator_price")
        return self._r.initiator_price

    @property
    def initiator_quantity(self) -> int:
        self._not_index("initiator_quantity")
        return self._r.initiator_quantity

    @property
    def auction_price(self) -> int:
        self._not_index("auction_price")
        return self._r.auction_price

    @property
    def auction_quantity(self) -> int:
        self._not_index("auction_quantity")
        return self._r.auction_quantity

    @property
    def buy_ord_cxl_count(self) -> int:
        self._not_index("buy_ord_cxl_count")
        return self._r.buy_ord_cxl_count

    @property
    def buy_ord_cxl_vol(self) -> int:
        self._not_index("buy_ord_cxl_vol")
        return self._r.buy_ord_cxl_vol

    @property
    def sell_ord_cxl_count(self) -> int:
        self._not_index("sell_ord_cxl_count")
        return self._r.sell_ord_cxl_count

    @property
    def sell_ord_cxl_vol(self) -> int:
        self._not_index("sell_ord_cxl_vol")
        return self._r.sell_ord_cxl_vol

    @property
    def spos_update_time(self) -> int:
        self._not_index("spos_update_time")
        return self._r.spos_update_time

    @property
    def bb_start_date(self) -> int:
        return self._r.bb_start_date

    @property
    def pday_cum_vol(self) -> int:
        return self._r.pday_cum_vol

    @property
    def cday_cum_vol(self) -> int:
        return self._r.cday_cum_vol

    @property
    def pday_high_price(self) -> int:
        return self._r.pday_high_price

    @property
    def pday_low_price(self) -> int:
        return self._r.pday_low_price

    @property
    def pday_wt_avg(self) -> int:
        return self._r.pday_wt_avg

    @property
    def cday_high_price(self) -> int:
        return self._r.cday_high_price

    @property
    def cday_low_price(self) -> int:
        return self._r.cday_low_price

    @property
    def cday_wt_avg(self) -> int:
        return self._r.cday_wt_avg

    @property
    def bb_end_date(self) -> int:
        return self._r.bb_end_date

    @property
    def symbol(self) -> str:
        return _cstr(self._r.symbol, 10)

    @property
    def series(self) -> str:
        return _cstr(self._r.series, 2)

    @property
    def last_md_ns(self) -> int:
        return self._r.last_md_ns

    # -- an index record's names (vega.INDEX_DTYPE): the fields above under the index's meaning, and line 5 --

    @property
    def index_value(self) -> int:
        """The index x 100 (7207/7216 IndexValue; last_traded_price)."""
        self._index_only("index_value")
        return self._r.last_traded_price

    @property
    def net_change(self) -> int:
        """index_value - close, x 100 (net_price_change)."""
        self._index_only("net_change")
        return self._r.net_price_change

    @property
    def value_time(self) -> int:
        """The LogTime of the message that set index_value: s since 1980 on the IST clock (last_trade_time)."""
        self._index_only("value_time")
        return self._r.last_trade_time

    @property
    def open(self) -> int:
        """OpeningIndex x 100 (open_price)."""
        self._index_only("open")
        return self._r.open_price

    @property
    def high(self) -> int:
        """HighIndexValue x 100, the day's (high_price)."""
        self._index_only("high")
        return self._r.high_price

    @property
    def low(self) -> int:
        """LowIndexValue x 100, the day's (low_price)."""
        self._index_only("low")
        return self._r.low_price

    @property
    def close(self) -> int:
        """ClosingIndex x 100: the previous close while the market is open (close_price)."""
        self._index_only("close")
        return self._r.close_price

    @property
    def indicative_close(self) -> int:
        """8207 IndicativeCloseValue x 100 (indicative_close_price)."""
        self._index_only("indicative_close")
        return self._r.indicative_close_price

    @property
    def percent_change(self) -> int:
        """7207/7216 PercentChange as sent: the scaling is unverified (one receiver reads it as % x 100, 51 =
        0.51 %, an older one as x 10000; PROTOCOL_MORE.md §1.2), so it is not converted."""
        self._index_only("percent_change")
        return self._r.idx_percent_change

    @property
    def yearly_high(self) -> int:
        """YearlyHigh x 100."""
        self._index_only("yearly_high")
        return self._r.idx_yearly_high

    @property
    def yearly_low(self) -> int:
        """YearlyLow x 100."""
        self._index_only("yearly_low")
        return self._r.idx_yearly_low

    @property
    def upmoves(self) -> int:
        """NoOfUpmoves: constituents up."""
        self._index_only("upmoves")
        return self._r.idx_upmoves

    @property
    def downmoves(self) -> int:
        """NoOfDownmoves: constituents down."""
        self._index_only("downmoves")
        return self._r.idx_downmoves

    @property
    def indicative_change(self) -> int:
        """8207 Change (indicative close - previous close) x 100."""
        self._index_only("indicative_change")
        return self._r.idx_ind_change

    @property
    def market_cap(self) -> float:
        """MarketCapitalisation as sent (units undocumented)."""
        self._index_only("market_cap")
        return self._r.idx_market_cap

    @property
    def indicative_percent_change(self) -> int:
        """8207 PercentChange as sent (scaling as percent_change)."""
        self._index_only("indicative_percent_change")
        return self._r.idx_ind_percent_change

    @property
    def wire_stride(self) -> int:
        """Record stride of the last 7207/7216/8207: 72 (the wire) or 71 (the document)."""
        self._index_only("wire_stride")
        return self._r.idx_wire_stride



cdef inline str _cstr(const char* p, Py_ssize_t n):
    return p[:n].rstrip(b" \0").decode("latin-1")

cdef inline str _chr1(char c):
    return "" if c == 0 else chr(<uint8_t>c)

_QUOTE_FIELDS = ('token', 'segment', 'net_change_indicator', 'book_type', 'trading_status', 'last_update_source',
                 'last_traded_price', 'last_trade_quantity', 'last_trade_time', 'net_price_change',
                 'volume_traded_today', 'last_update_ns', 'update_count', 'average_trade_price', 'fill_price',
                 'fill_volume', 'bid_price', 'ask_price', 'open_price', 'high_price', 'low_price', 'close_price',
                 'indicative_close_price', 'bb_total_buy_flag', 'bb_total_sell_flag', 'bid_quantity', 'ask_quantity',
                 'total_buy_quantity', 'total_sell_quantity', 'bid_orders', 'ask_orders', 'market_type',
                 'market_status', 'indicator', 'mw_indicator', 'mw_buy_volume', 'mw_sell_volume', 'mw_buy_price',
                 'mw_sell_price', 'mw_last_trade_price', 'mw_last_trade_time', 'open_interest', 'oi_day_high',
                 'oi_day_low', 'implied_volatility', 'data_quality', 'valid', 'subscribed', 'buyback_active',
                 'auction_number', 'auction_status', 'initiator_type', 'initiator_price', 'initiator_quantity',
                 'auction_price', 'auction_quantity', 'buy_ord_cxl_count', 'buy_ord_cxl_vol', 'sell_ord_cxl_count',
                 'sell_ord_cxl_vol', 'spos_update_time', 'bb_start_date', 'pday_cum_vol', 'cday_cum_vol',
                 'pday_high_price', 'pday_low_price', 'pday_wt_avg', 'cday_high_price', 'cday_low_price',
                 'cday_wt_avg', 'bb_end_date', 'symbol', 'series', 'last_md_ns')

#: an index record's names (vega.INDEX_DTYPE) for the store fields they read under another name
_INDEX_ALIASES = {k: v for k, v in _INDEX_FIELDS.items() if k != v}
_NOT_INDEX = frozenset(_GROUPS[7][1] + _GROUPS[8][1])      # auction, SPOS
#: an index record's Quote.to_dict(): every field once, under the index name where it has one
_INDEX_QUOTE_FIELDS = tuple(
    {v: k for k, v in _INDEX_ALIASES.items()}.get(n, n) for n in _QUOTE_FIELDS if n not in _NOT_INDEX) + \
    _INDEX_LINE5_NAMES


cdef int64_t _token_value(object token) except? -2:
    """token as a C integer when it is in 0 .. 2**31-1, else -1 (absent from every store).  A token is an
    integer with ``operator.index`` semantics: an int, or a numpy integer (``store.tokens()`` is int32).  A bool
    (``True`` is no token 1; numpy's bool too), a float, a str or None is a TypeError "a token is an int, not
    ...".  Converting an int runs no Python code; anything else may (its ``__index__``, the isinstance tests'
    ``__class__``), so callers check the store open after this."""
    cdef int64_t t
    if type(token) is not int:
        if isinstance(token, (bool, _np.bool_)):
            raise TypeError(f"a token is an int, not {type(token).__name__}")
        try:
            token = PyNumber_Index(token)
        except TypeError:
            raise TypeError(f"a token is an int, not {type(token).__name__}") from None
    try:
        t = token
    except OverflowError:
        return -1
    return t if 0 <= t <= 0x7FFFFFFF else -1


cdef void _optmeta_free(vg_optmeta_t* om) noexcept:
    """Free a store's option metadata (load_instruments); NULL, or parts of it NULL, are no matter."""
    if om != NULL:
        free(om.opt_of_rec)
        free(om.opts)
        free(om.chain)
        free(om)


cdef bint _flag_arg(v, str what) except -1:
    """A yes/no argument (``what`` names it in the message): a bool, a numpy bool, or the int 0 or 1.  TypeError for
    anything else: ``subscribed="no"`` was taken by its truth, as True."""
    if isinstance(v, (bool, _np.bool_)) or (hasattr(type(v), "__index__") and v.__index__() in (0, 1)):
        return bool(v)
    raise TypeError(f"{what} must be a bool, not {type(v).__name__}: {v!r}")


cdef bytes _ascii_arg(v, str what):
    """Store.add's symbol or series as ASCII bytes.  TypeError for what is no str (an int raised AttributeError
    "'int' object has no attribute 'encode'"), ValueError for a str that is not ASCII (a bare UnicodeEncodeError)."""
    if not isinstance(v, str):
        raise TypeError(f"add: {what} must be a str, not {type(v).__name__}: {v!r}")
    if not v.isascii():
        raise ValueError(f"add: {what} {v!r} is not ASCII (NSE's are, and the store keeps ASCII)")
    return v.encode("ascii")


cdef object _tokens_list(tokens):
    """The tokens of ``snapshot(tokens)`` / ``subscribe(tokens)`` to iterate: a 1-d numpy integer array as a
    list of ints (one conversion, not a numpy scalar per element); anything else as given."""
    if isinstance(tokens, _np.ndarray) and tokens.ndim == 1 and tokens.dtype.kind in "iu":
        return tokens.tolist()
    if isinstance(tokens, _np.ndarray) and tokens.ndim > 1:          # (its __index__ made it "one ndarray")
        raise TypeError(f"tokens must be a 1-D sequence or array of tokens, not an array of shape {tokens.shape}: "
                        f"flatten it (.ravel()) for its tokens in order")
    if (tokens.ndim == 0 if isinstance(tokens, _np.ndarray) else
            hasattr(type(tokens), "__index__") or isinstance(tokens, (str, _np.bool_)) or _byte_string(tokens)):
        # one token (an int, a numpy integer or 0-d array) got "'int' object is not iterable"; a str was
        # walked as its characters, a bytearray (a memoryview of bytes) as its byte values (KeyError for token 97)
        raise TypeError(f"tokens is a sequence or array of tokens, not one {type(tokens).__name__}: wrap it in "
                        f"[..] (store[token] reads one)")
    return tokens


@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")
cdef class Store:
    """The consolidated market-data store: one record per instrument, one writer, lock-free readers.

    * ``Store(capacity)`` — an in-process store (no name);
    * ``Store.create(name, capacity)`` — the writer of a named shared-memory store (owner-only file in
      ``/dev/shm``; a second writer is refused);
    * ``Store.open(name)`` — a read-only view of a named store from any process.

    ``store[token]`` is a consistent :class:`Quote`; ``store.ltp(token)``, ``store.depth(token)``,
    ``store.array`` (zero-copy numpy view), ``store.snapshot()`` (consistent numpy copy), ``len(store)``,
    ``token in store`` and iteration over tokens.  A token is an int or a numpy integer (``operator.index``:
    the int32 values of ``tokens()`` work as they are); a bool, a float or a str is a TypeError (``in``
    answers False for them).
    """

    def __cinit__(self, *args, **kwargs):
        memset(&self._st, 0, sizeof(vg_store_t))
        self._fd = -1
        self.name = None
        self._path = None
        self._file_id = None
        self._exports = 0

    def __init__(self, capacity, *, dense_tokens=DEFAULT_DENSE_TOKENS, stale_ns=DEFAULT_STALE_NS):
        self._map_new(capacity, dense_tokens, stale_ns, -1)

    @classmethod
    def create(cls, name, capacity, *, dense_tokens=262144, stale_ns=5_000_000_000):
        # (the defaults are DEFAULT_DENSE_TOKENS and DEFAULT_STALE_NS, spelled out: a class method's
        # __text_signature__ cannot name module constants, and inspect.signature would fail; a test pins them)
        """Create (or take over from a dead writer) the named store and become its one writer.

        The file, ``vega.store.<name>`` in ``/dev/shm`` (or ``$VEGA_SHM_DIR``), outlives ``close()`` and this
        process: readers keep the last state, and the next ``create`` of the name starts afresh.  ``unlink()`` or
        ``Store.remove(name)`` deletes it.  ``name`` is a str of 1-101 characters of [A-Za-z0-9_.-] (anything but a
        str is a TypeError, as in ``open`` and ``remove``; another str a ValueError).

        What is already at the path is replaced only when it is:

        * a VEGA store (a regular file of at least a store header that starts with the magic ``b"VGASTOR1"``,
          so a damaged or stale store too, or one that starts with ``b"VGAMAKE1"``, a store whose creator died
          before finishing it) whose writer is gone: the writer holds an exclusive ``flock`` for its lifetime,
          so a writer that died (a crashed capture being restarted) does not count, and a live one, even
          idle, is ``StoreBusyError``; readers still mapping the old file keep their copy;
        * an empty (0-byte) file (e.g. a placeholder).

        Anything else (a file without the magic or too short to hold a store header, a directory, a symbolic
        link, a FIFO, a file this process cannot read) is left as it is: ``StoreFormatError`` "<path>: exists
        and is not a VEGA store (...); refusing to replace it"."""
        cdef Store self = Store.__new__(Store)
        _store_sizes(capacity, dense_tokens, stale_ns)      # bad arguments touch no file
        path = _shm_path(name)
        flags = _os.O_RDWR | _os.O_NOFOLLOW | _os.O_CLOEXEC
        for _attempt in range(8):
            _clear_stale(name, path)        # refused, or a dead writer's store unlinked, before anything is made
            try:
                fd = _os.open(path, flags | _os.O_CREAT | _os.O_EXCL, 0o600)
            except FileExistsError:
                continue                    # another creator made it since the check: check it again
            try:
                lfd = _reopen_flocked(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)   # a fork closes it: _drop_store_locks
            except BlockingIOError:
                _os.close(fd)
                raise StoreBusyError(f"store {name!r} already has a writer ({path})") from None
            except BaseException:
                _os.close(fd)
                raise
            try:                            # between the create and the lock the new (empty, unlocked) file
                same = _stat_id(_os.lstat(path)) == _stat_id(_os.fstat(fd))   # could be taken for a stale
            except FileNotFoundError:       # one and unlinked by another create or a remove: start again
                same = False
            if same:
                break
            _os.close(lfd)
            _os.close(fd)
        else:
            raise StoreBusyError(f"store {name!r}: its file kept changing while it was being created (another "
                                 f"process creating it too?): try again ({path})")
        try:
            try:
                self._fd = lfd
                self.name = name
                self._path = path
                self._file_id = _stat_id(_os.fstat(fd))
                self._map_new(capacity, dense_tokens, stale_ns, fd)
            finally:
                _os.close(fd)                   # the mapping keeps the file; lfd alone holds the lock
        except BaseException:
            _os.unlink(path)                    # the file is ours (O_EXCL, locked): leave no half-made store
            if self._fd >= 0:
                _os.close(self._fd)
                self._fd = -1
            raise
        _OWN_WRITERS[lfd] = self._file_id       # (close() and __dealloc__ take it out with the fd)
        _WRITERS.add(self)
        return self

    @classmethod
    def open(cls, name):
        """Open a named store read-only (any process); its header is checked before any offset is used.
        ``StoreFormatError`` "store file <path> is incomplete or still being created (N bytes)" for a file
        whose header is not written yet (empty, all zeros, or ``VGAMAKE1``: its creator has not published the
        magic, or died first); "<path>: not a VEGA store (bad magic)" for other content."""
        cdef Store self = Store.__new__(Store)
        cdef void* p
        cdef vg_store_hdr_t* h
        cdef size_t size
        cdef uint64_t magic
        path = _shm_path(name)
        try:
            fd = _os.open(path, _os.O_RDONLY | _os.O_NOFOLLOW | _os.O_CLOEXEC)
        except FileNotFoundError:
            raise FileNotFoundError(f"no store named {name!r} ({path}){_capture_stores_hint(name)}") from None
        try:
            st = _os.fstat(fd)
            size = st.st_size
            if size < VG_STORE_PAGE:
                raise _open_refusal(path, size, _os.pread(fd, sizeof(vg_store_hdr_t), 0))
            p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0)
            if p == MAP_FAILED:
                raise OSError(f"mmap of {path} failed")
        finally:
            _os.close(fd)
        self._st.base = <uint8_t*>p
        self._st.map_size = size
        h = <vg_store_hdr_t*>p
        try:
            magic = h.magic                             # read once: its creator may publish it meanwhile
            if magic != VG_STORE_MAGIC:
                raise _open_refusal(path, size, magic.to_bytes(8, "little") + (<char*>p)[8:sizeof(vg_store_hdr_t)])
            if h.version != VG_STORE_VERSION:
                raise StoreFormatError(f"{path}: store version {h.version}, this VEGA reads {VG_STORE_VERSION}")
            if h.header_size != sizeof(vg_store_hdr_t) or h.record_size != sizeof(vg_srec_t):
                raise StoreFormatError(f"{path}: header/record size {h.header_size}/{h.record_size}, "
                                       f"expected {sizeof(vg_store_hdr_t)}/{sizeof(vg_srec_t)}")
            if not (0 < h.capacity <= VG_MAX_CAPACITY and h.dense_size <= VG_MAX_TOKENS_DENSE):
                raise StoreFormatError(f"{path}: capacity {h.capacity} / dense size {h.dense_size} out of range")
            geo = _store_geometry(h.capacity, h.dense_size)
            if (h.hash_size, h.dense_off, h.hash_off, h.records_off, h.file_size) != geo or h.file_size != size:
                raise StoreFormatError(f"{path}: inconsistent layout in the header")
            if h.n_records > h.capacity:                # the writer never counts past the capacity
                raise StoreFormatError(f"{path}: {h.n_records} records in use, more than its capacity "
                                       f"{h.capacity}")
        except BaseException:
            munmap(p, size)
            memset(&self._st, 0, sizeof(vg_store_t))
            raise
        self._attach(0)
        self.name = name
        self._path = path
        self._file_id = _stat_id(st)
        return self

    cdef _map_new(self, capacity, dense_tokens, stale_ns, int fd):
        cdef void* p
        cdef vg_store_hdr_t* h
        capacity, dense_tokens, stale_ns = _store_sizes(capacity, dense_tokens, stale_ns)
        hash_size, dense_off, hash_off, records_off, file_size = _store_geometry(capacity, dense_tokens)
        if fd >= 0:
            _os.pwrite(fd, _STORE_MAKING_BYTES, 0)      # before the file has a size: Store.create's check of a
            _os.ftruncate(fd, file_size)               # file a killed creator left finds a store, not zeros
            _reserve(fd, file_size, self._path, f"store of {capacity:,} instruments",    # not SIGBUS mid-day
                     "ask for a smaller capacity (a capture's store_capacity)")
            p = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        else:
            p = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if p == MAP_FAILED:
            raise MemoryError(f"cannot map a store of {file_size} bytes")
        self._st.base = <uint8_t*>p
        self._st.map_size = file_size
        h = <vg_store_hdr_t*>p
        h.version = VG_STORE_VERSION
        h.header_size = sizeof(vg_store_hdr_t)
        h.record_size = sizeof(vg_srec_t)
        h.capacity = capacity
        h.dense_size = dense_tokens
        h.hash_size = hash_size
        h.dense_off = dense_off
        h.hash_off = hash_off
        h.records_off = records_off
        h.file_size = file_size
        h.n_records = 0
        h.writer_pid = _os.getpid()
        h.stale_ns = stale_ns
        h.created_ns = vg_now_ns()
        memset(self._st.base + <size_t>dense_off, 0xFF, <size_t>dense_tokens * 4)
        memset(self._st.base + <size_t>hash_off, 0xFF, <size_t>hash_size * sizeof(vg_hslot_t))
        _publish_magic(h)
        self._attach(1)

    cdef _attach(self, int writable):
        cdef vg_store_hdr_t* h = <vg_store_hdr_t*>self._st.base
        self._st.hdr = h
        self._st.dense = <int32_t*>(self._st.base + h.dense_off)
        self._st.hash = <vg_hslot_t*>(self._st.base + h.hash_off)
        self._st.recs = <vg_srec_t*>(self._st.base + h.records_off)
        self._st.capacity = h.capacity
        self._st.dense_size = h.dense_size
        self._st.hash_mask = h.hash_size - 1
        self._st.writable = writable

    def __dealloc__(self):
        self._free_opt()
        if self._st.base != NULL:
            munmap(self._st.base, self._st.map_size)
            self._st.base = NULL
        elif self._st.hdr != NULL:                   # closed: the zero pages close() left in its place
            munmap(<void*>self._st.hdr, self._st.map_size)
        self._st.hdr = NULL
        if self._fd >= 0:
            try:
                _OWN_WRITERS.pop(self._fd, None)
            except Exception:            # (interpreter shutdown: the module's globals may be gone)
                pass
            _os.close(self._fd)          # releases the writer's flock
            self._fd = -1

    cdef int _check_open(self) except -1:
        if self._st.base == NULL:
            raise ValueError("the store is closed")
        return 0

    cdef int _check_writable(self) except -1:
        self._check_open()
        if not self._st.writable:
            if self in _FORK_COPIES:
                raise PermissionError("this Store is a forked copy of its writer's (Store.create in the process "
                                      "this one was forked from): a forked child is no writer of the store")
            raise PermissionError("this store is open read-only (Store.open); only its writer can change it")
        return 0

    cdef int _check_sole_writer(self) except -1:
        """_check_writable, and StoreBusyError while a call of another thread writes the store's records
        without the GIL: each record's sequence lock takes one writer at a time (two would count its sequence
        past each other, leaving it odd for good or even while a write runs: torn reads)."""
        self._check_writable()
        if self._writing:
            raise StoreBusyError("the store is being written by a call in another thread (a FeedHandler batch, "
                                 "new_day or apply_records): its records take one writer at a time; write "
                                 "after that call returns")
        return 0

    def close(self) -> None:
        """Unmap the store (and release the writer lock).  Refused while numpy views of it are alive, and
        (StoreBusyError) while a call in another thread is reading or writing it without the GIL."""
        if self._exports:
            raise BufferError(f"{self._exports} numpy view(s) of the store are alive: delete them first")
        if self._inuse:
            raise StoreBusyError(f"the store is in use by {self._inuse} call(s) in other threads (a FeedHandler "
                                 f"batch, snapshot, apply_records, keyframe_records, or one of those on a store "
                                 f"whose options use this one as their underlying): close it after they return")
        if self._st.base != NULL:
            self._free_opt()
            self._detach()
        if self._fd >= 0:
            _OWN_WRITERS.pop(self._fd, None)
            _WRITERS.discard(self)
            _os.close(self._fd)
            self._fd = -1

    cdef void _detach(self) noexcept:
        """close(): leave the file's pages, keeping the address range.  A call of another thread that found
        the store open and then gave up the GIL before touching it (any Python code between the check and
        the access, e.g. an allocation that runs the garbage collector) must not find the range unmapped:
        the mapping is replaced, in one step, by private zero pages, unmapped when the object dies.  The
        store reads as closed (base NULL) and empty (capacity 0: every lookup misses, its length is 0)."""
        cdef void* p = mmap(self._st.base, self._st.map_size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
        if p == MAP_FAILED:                          # cannot happen short of the kernel refusing memory
            munmap(self._st.base, self._st.map_size)
            memset(&self._st, 0, sizeof(vg_store_t))
            return
        self._st.base = NULL
        self._st.capacity = 0
        self._st.dense_size = 0
        self._st.hash_mask = 0
        self._st.writable = 0

    def unlink(self) -> None:
        """Remove the named store's file, as ``Store.remove(self.name)`` does: the writer (or any Store of
        its process) removes it at any time; a read-only Store of another process is refused
        (``StoreBusyError``) while the writer lives.  Mappings stay valid until closed.  Nothing to do for an
        in-process store, or when the file is gone already."""
        if self._path is not None:
            _remove_store(self.name, self._path)

    @staticmethod
    def remove(name) -> None:
        """Remove the file of the named store, if any: a name with no file is not an error (nothing to do;
        unlike ``Ring.unlink``, which raises FileNotFoundError).  ``StoreBusyError`` while the store's writer
        lives in another process (it holds an exclusive ``flock`` on the file for its lifetime, see
        ``create``): the file is left as it is.  A file whose writer is gone (closed, exited, crashed) is
        removed, and so is a live one from the writer's own process (the owner removing its file).  Readers
        still mapping a removed file keep their copy (``replaced`` turns True)."""
        _remove_store(name, _shm_path(name))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- properties -------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._st.base == NULL

    @property
    def writable(self) -> bool:
        return bool(self._st.writable)

    @property
    def replaced(self) -> bool:
        """True when the name no longer names the file this object maps: its writer restarted
        (``Store.create`` made a new file) or the file was removed.  The mapping still reads, but nothing
        updates it any more (every record goes stale): open the name again.  False for an in-process store.
        One ``stat`` call."""
        if self._file_id is None:
            return False
        try:
            return _stat_id(_os.stat(self._path)) != self._file_id
        except FileNotFoundError:
            return True

    @property
    def capacity(self) -> int:
        self._check_open()
        return self._st.capacity

    @property
    def stale_ns(self) -> int:
        self._check_open()
        return self._st.hdr.stale_ns

    @property
    def header(self) -> dict:
        """The store file's header fields."""
        cdef vg_store_hdr_t h
        cdef uint32_t n
        self._check_open()
        h = self._st.hdr[0]                           # copied before the dict's allocations (see _detach)
        n = vg_store_len(&self._st)
        return {"magic": h.magic, "version": h.version, "header_size": h.header_size,
                "record_size": h.record_size, "capacity": h.capacity, "dense_size": h.dense_size,
                "hash_size": h.hash_size, "dense_off": h.dense_off, "hash_off": h.hash_off,
                "records_off": h.records_off, "file_size": h.file_size, "n_records": n,
                "writer_pid": h.writer_pid, "stale_ns": h.stale_ns, "day_base_ns": h.day_base_ns,
                "created_ns": h.created_ns, "segment": h.segment}

    @property
    def memory_bytes(self) -> int:
        """Bytes of the mapping (header, lookup tables, records)."""
        self._check_open()
        return self._st.map_size

    def __reduce__(self):
        if self.name is None:
            raise TypeError("cannot pickle an in-process vega.Store: it exists in this process only; share one "
                            "made with vega.Store.create(name, capacity)")
        raise TypeError(f"cannot pickle a vega.Store (a mapping of this process): pass its name and call "
                        f"vega.Store.open({self.name!r}) in the other process")

    def __repr__(self):
        where = "in-process" if self.name is None else repr(self.name)
        if self._st.base == NULL:
            return f"<vega.Store {where} closed>"
        return (f"<vega.Store {where} {'writer' if self._st.writable else 'read-only'} "
                f"{vg_store_len(&self._st):,}/{self._st.capacity:,} instruments>")

    # ---- reads ------------------------------------------------------------------------------------------

    def __len__(self):
        self._check_open()
        return vg_store_len(&self._st)

    def __contains__(self, token):
        """``token in store``: a token is an int or a numpy integer; anything else (a str, a float, a bool,
        None) is in no store: False, not an error."""
        cdef int64_t t
        try:
            t = _token_value(token)
        except TypeError:
            t = -1
        self._check_open()                         # after the token's conversion, right before the lookup
        return t >= 0 and vg_store_find(&self._st, <int32_t>t) >= 0

    def __iter__(self):
        cdef uint32_t i
        self._check_open()
        for i in range(vg_store_len(&self._st)):
            self._check_open()                     # the store may be closed between two steps
            yield self._st.recs[i].token

    def tokens(self):
        """The tokens in the store, in insertion order, as an int32 array."""
        self._check_open()
        return _np.array(list(self), dtype=_np.int32)

    cdef int32_t _index(self, token) except -2:
        """The record index of token (KeyError when absent; TypeError when it is not an int or a numpy
        integer, see _token_value).  The store is checked open again after the token's conversion (which may
        run Python code: an ``__index__``, a ``__class__`` property), right before the lookup; the caller
        reads the record right after, with no Python code between."""
        cdef int32_t idx
        cdef int64_t t
        self._check_open()
        t = _token_value(token)
        self._check_open()
        idx = vg_store_find(&self._st, <int32_t>t) if t >= 0 else -1
        if idx < 0:
            raise KeyError(token)
        return idx

    def __getitem__(self, token) -> Quote:
        cdef Quote q = Quote.__new__(Quote)         # allocated first: nothing runs between _index and the read
        cdef int32_t idx = self._index(token)
        if vs_read_copy_n(&self._st.recs[idx], &q._r, VG_SPIN_GIL) != 0 and self._read_slow(idx, &q._r, NULL):
            raise StoreError(f"token {token}: the record stayed locked (writer died inside an update?)")
        q._stale_ns = self._st.hdr.stale_ns
        q._taken_ns = vg_now_ns()
        return q

    def get(self, token, default=None):
        """``store[token]``, or ``default`` when the token is not in the store.  A token that is not an int
        or a numpy integer (a str, a float, a bool) is a TypeError, as for ``store[token]``: a type error is not
        a missing key."""
        try:
            return self[token]
        except KeyError:
            return default

    def ltp(self, token) -> int:
        """Last traded price (paise) of ``token``, read under its sequence lock."""
        cdef int32_t idx = self._index(token)
        cdef int32_t v
        if (vs_read_i32_n(&self._st.recs[idx], &self._st.recs[idx].last_traded_price, &v, VG_SPIN_GIL) != 0
                and self._read_slow(idx, NULL, &v)):
            raise StoreError(f"token {token}: the record stayed locked (writer died inside an update?)")
        return v

    def depth(self, token) -> dict:
        """Five levels per side, consistent: bid/ask price, quantity and orders as 5-tuples."""
        q = self[token]
        return {"bid_price": q.bid_price, "bid_quantity": q.bid_quantity, "bid_orders": q.bid_orders,
                "ask_price": q.ask_price, "ask_quantity": q.ask_quantity, "ask_orders": q.ask_orders}

    def is_stale(self, token, now_ns=None) -> bool:
        """True when ``token`` was not updated within the store's staleness window (default 5 s)."""
        cdef int64_t now = vg_now_ns() if now_ns is None else _check_ns(now_ns)
        cdef int32_t idx = self._index(token)
        cdef int64_t t = self._st.recs[idx].last_update_ns
        return t == 0 or t < _stale_before(now, self._st.hdr.stale_ns)

    @property
    def array(self):
        """A zero-copy, read-only numpy view (STORE_DTYPE) of the records in use.  Rows may be mid-update
        while the writer runs: use ``snapshot()`` or ``store[token]`` for consistent values."""
        cdef _RecordsView v
        self._check_open()
        v = _RecordsView.__new__(_RecordsView)
        v._store = self
        v._n = vg_store_len(&self._st)
        return _np.frombuffer(v, dtype=_STORE_DTYPE)

    def snapshot(self, tokens=None):
        """A consistent copy (each row read under its sequence lock) of every record, or of ``tokens`` (a
        sequence or iterable of ints, or a numpy integer array such as ``tokens()[:10]``, in that order;
        KeyError for a token not in the store, TypeError for one that is not an integer), as a numpy array of
        STORE_DTYPE."""
        cdef Py_ssize_t i, n
        cdef int32_t[::1] idx
        cdef vg_srec_t* out
        cdef bint locked = False                   # a record stayed locked (any token is one: no -1 sentinel)
        cdef int32_t bad = 0
        cdef bint every = tokens is None
        self._check_open()
        self._use(1)                               # at once: close() refuses from here on (see _detach)
        try:
            if every:
                n = vg_store_len(&self._st)
            else:
                idx = _np.array([self._index(t) for t in _tokens_list(tokens)], dtype=_np.int32)
                n = idx.shape[0]
            arr = _np.empty(n, dtype=_STORE_DTYPE)
            out = <vg_srec_t*><Py_ssize_t>arr.ctypes.data
            with nogil:
                if every:
                    for i in range(n):
                        if vs_read_copy(&self._st.recs[i], &out[i]) != 0:
                            locked, bad = True, self._st.recs[i].token
                            break
                else:
                    for i in range(n):
                        if vs_read_copy(&self._st.recs[idx[i]], &out[i]) != 0:
                            locked, bad = True, self._st.recs[idx[i]].token
                            break
        finally:
            self._use(-1)
        if locked:                                 # (the rows from there on were never written: np.empty)
            raise StoreError(f"token {bad}: the record stayed locked (writer died inside an update?)")
        return arr

    def stale_tokens(self, now_ns=None):
        """Tokens not updated within the staleness window, as an int32 array."""
        snap = self.snapshot()
        now = vg_now_ns() if now_ns is None else _check_ns(now_ns)
        t = snap["last_update_ns"]
        lim = _stale_before(now, self._st.hdr.stale_ns)
        return snap["token"][(t == 0) | (t < lim if lim <= INT64_MAX else True)]

    # ---- writes (the writer only) -----------------------------------------------------------------------

    def add(self, token, symbol="", series="", segment=None, subscribed=True) -> None:
        """Master data: add ``token`` (if absent) with its symbol, series and segment ("CM"/"FO"), and set its
        subscription flag.  ``token``: an int or a numpy integer in 1 .. 2**31-1 (ValueError outside it;
        TypeError for a bool, a float, a str).  ``symbol`` and ``series``: ASCII str (TypeError / ValueError else);
        ``subscribed``: a bool, or 0 / 1 (TypeError else: "no" is no False).  StoreFullError when the store is at
        capacity."""
        cdef int32_t idx
        cdef vg_srec_t* r
        cdef char buf[12]
        cdef int64_t t
        cdef bint sub
        self._check_writable()
        t = _token_value(token)
        if t <= 0:
            raise ValueError(f"a token is an int in 1 .. 2**31-1, not {token!r}")
        sym = _ascii_arg(symbol, "symbol")
        ser = _ascii_arg(series, "series")
        if len(sym) > 10 or len(ser) > 2:
            raise ValueError("symbol is at most 10 characters, series at most 2")
        sub = _flag_arg(subscribed, "add: subscribed")
        seg = 0 if segment is None else _parse_segment(segment)
        if seg:
            _claim_segment(self, seg, f"cannot add token {t} as {_SEG_NAMES[seg]}: ", False)
        sym10 = sym.ljust(10)
        ser2 = ser.ljust(2)
        memcpy(buf, <const char*>sym10, 10)
        memcpy(buf + 10, <const char*>ser2, 2)
        self._check_sole_writer()                  # (the token's conversion may run Python code); no Python
        idx = vg_store_find(&self._st, <int32_t>t)  # code runs from here to the end of the write
        if idx < 0:
            idx = vg_store_insert(&self._st, <int32_t>t, <uint8_t>(seg or self._st.hdr.segment))
            if idx < 0:
                raise StoreFullError(f"the store is full ({self._st.capacity} instruments)")
        r = &self._st.recs[idx]
        vs_write_begin(r)
        if sym or ser:
            memcpy(r.symbol, buf, 12)
        if seg:
            r.segment = <uint8_t>seg
        r.subscribed = sub
        vs_write_end(r)
        if seg and not self._st.hdr.segment:
            _claim_segment(self, seg, "", True)        # the store now holds this segment's tokens

    def new_day(self) -> int:
        """Start a new trading day: every record goes back to what a fresh store holds for its token, keeping
        only its identity (symbol, series, segment, subscription).  Prices, depth, volumes, OHLC, open
        interest, statuses, auction, SPOS, buy-back, IV and the update bookkeeping restart from nothing, as
        in a capture started that morning: the merge rules that only move one way (open set once, high as a
        maximum, volume only grows) would otherwise hold the last day's values.  Each record is rewritten
        under its sequence lock; tokens keep their places.  Returns the records reset.  Writer only."""
        cdef uint32_t i, n
        cdef vg_srec_t* r
        cdef char ident[12]
        cdef uint8_t sub
        self._check_sole_writer()
        self._writing += 1
        n = vg_store_len(&self._st)
        self._use(1)
        try:
            with nogil:
                for i in range(n):
                    r = &self._st.recs[i]
                    memcpy(ident, r.symbol, 12)                  # symbol[10] + series[2]
                    sub = r.subscribed
                    vs_write_begin(r)
                    vg_rec_fresh(r, r.segment)
                    memcpy(r.symbol, ident, 12)
                    r.subscribed = sub
                    vs_write_end(r)
        finally:
            self._writing -= 1
            self._use(-1)
        return n

    cdef bint _read_slow(self, int32_t idx, vg_srec_t* out, int32_t* ltp) except -1:
        """A read that found record idx locked VG_SPIN_GIL times: wait for it up to VG_SPIN_LIMIT tries with
        the GIL released (the process's other threads run on; close() refuses meanwhile).  Copies the record
        into out, or its LTP into ltp; True when it stayed locked."""
        cdef int rc
        self._use(1)
        try:
            with nogil:
                if out != NULL:
                    rc = vs_read_copy(&self._st.recs[idx], out)
                else:
                    rc = vs_read_i32(&self._st.recs[idx], &self._st.recs[idx].last_traded_price, ltp)
        finally:
            self._use(-1)
        return rc != 0

    cdef void _use(self, int delta) noexcept:
        """+1 before a nogil loop over this store's memory, -1 after it (with the GIL): close() and
        load_instruments() refuse while the count is non-zero.  The underlying stores of its options
        (load_instruments) are read by the same loop, so they count too."""
        self._inuse += delta
        if self._spot_store is not None:
            for other in self._spot_store:
                if other is not None and other is not self:
                    (<Store>other)._inuse += delta

    cdef void _free_opt(self) noexcept:
        cdef vg_optmeta_t* om = self._st.opt
        self._st.opt = NULL
        self._n_options = 0
        self._spot_store = None
        _optmeta_free(om)

    def load_instruments(self, instruments, segment=None, *, spot_store=None, index_store=None,
                         subscribed=True) -> int:
        """Pre-populate the store from an instrument master (``vega.Instruments``) before the open: every
        instrument of ``segment`` ("CM"/"FO", default the store's; ValueError when it has none yet) is added
        with its symbol and series, and for F&O the process-local option metadata of the implied volatility in
        the merge is built (strike, expiry, same-expiry future, strike-sorted chain per symbol and expiry).
        ``spot_store``: the store holding the stock underlyings (tokens = the contracts' asset tokens): the CM
        feed's store; ``index_store``: the index feed's store holding the index underlyings (OPTIDX asset
        tokens, vega.indices; without it index options look in ``spot_store`` too); both used for the
        spot-carry forward, the underlying looked up when first needed.  A store holds one segment's tokens:
        the store takes ``segment`` (ValueError when a FeedHandler or an earlier load gave it another), and a
        ``spot_store`` or ``index_store`` that holds another segment's records than CM or IDX, or is this
        store, is a ValueError.  Call it before a FeedHandler merges into this store (the metadata is swapped without
        locking): StoreBusyError while a call of another thread uses the store (a batch, a snapshot), also one
        that began while the load ran (the records added then stay, the options' metadata is left as it was).
        A symbol or series that is not ASCII (a table built by hand: a master file's line with one is a bad line)
        is a ValueError before anything is loaded.  Returns the number of instruments of the segment."""
        cdef Store sp, ix
        cdef vg_optmeta_t* om
        cdef int32_t i, n_opt, n_ch
        self._check_writable()
        _flag_arg(subscribed, "load_instruments: subscribed")
        if self._inuse:
            raise StoreBusyError("the store is in use by a call in another thread: load instruments before "
                                 "a FeedHandler merges into it")
        from vega.instruments import Instruments as _Instruments
        if not isinstance(instruments, _Instruments):
            raise TypeError(f"instruments must be a vega.Instruments, not {type(instruments).__name__}")
        if spot_store is not None:
            if not isinstance(spot_store, Store):
                raise TypeError(f"spot_store must be a vega.Store, not {type(spot_store).__name__}")
            (<Store>spot_store)._check_open()
        if index_store is not None:
            if not isinstance(index_store, Store):
                raise TypeError(f"index_store must be a vega.Store, not {type(index_store).__name__}")
            (<Store>index_store)._check_open()
        if segment is None and not self._st.hdr.segment:
            raise ValueError("load_instruments: give the segment ('CM' or 'FO'): this store has none yet (a "
                             "FeedHandler, an earlier load or Store.add with a segment names it)")
        if spot_store is self or index_store is self:
            raise ValueError("load_instruments: a store is not its own spot_store or index_store (they hold the "
                             "underlyings: the CM feed's store, the index feed's store)")
        seg = _parse_segment(segment) if segment is not None else self._st.hdr.segment
        if seg == VG_SEG_IDX:
            raise ValueError("instrument masters hold CM and FO contracts; the index feed's store takes "
                             "vega.indices tokens")
        _claim_segment(self, seg, f"cannot load {_SEG_NAMES[seg]} instruments: ", False)
        if seg == VG_SEG_FO and spot_store is not None:
            _claim_segment(spot_store, VG_SEG_CM, "spot_store: ", False)
        if seg == VG_SEG_FO and index_store is not None:
            _claim_segment(index_store, VG_SEG_IDX, "index_store: ", False)
        t = instruments.table
        t = t[t["segment"] == seg]
        for tok, sym, ser in zip(t["token"].tolist(), t["symbol"].tolist(), t["series"].tolist()):
            if not (sym.isascii() and ser.isascii()):    # a table built by hand: a master file's line is refused
                raise ValueError(f"load_instruments: token {tok}: symbol {sym!r} or series {ser!r} is not ASCII "
                                 "(NSE's are, and the store keeps ASCII); nothing was loaded")
        new = sum(1 for tok in t["token"].tolist() if 0 < tok <= 0x7FFFFFFF and vg_store_find(&self._st, tok) < 0)
        if new > <Py_ssize_t>(self._st.capacity - vg_store_len(&self._st)):
            raise StoreFullError(f"{len(t)} instruments do not fit the store ({self._st.capacity} records)")
        _claim_segment(self, seg, "", True)            # the store now holds this segment's tokens
        segname = "CM" if seg == VG_SEG_CM else "FO"
        for tok, sym, ser in zip(t["token"].tolist(), t["symbol"].tolist(), t["series"].tolist()):
            if tok <= 0:
                continue
            self.add(tok, sym, ser, segname, subscribed)
        if seg != VG_SEG_FO:
            self._swap_opt(NULL, None, 0)
            return len(t)
        # options with a usable strike (int32 paise) and expiry
        o = t[_np.isin(t["option_type"], ["CE", "PE"]) & (t["strike"] > 0) & (t["strike"] <= 0x7FFFFFFF)
              & (t["expiry_unix"] > 0) & (t["token"] > 0)]
        fut = t[(t["option_type"] == "XX") & (t["token"] > 0)]
        fut_rec = {(sy, int(e)): vg_store_find(&self._st, int(tok))
                   for sy, e, tok in zip(fut["symbol"].tolist(), fut["expiry_unix"].tolist(),
                                         fut["token"].tolist())}
        order = _np.lexsort((o["strike"], o["expiry_unix"], o["symbol"]))
        o = o[order]
        chain = []                   # [strike, call_rec, put_rec]
        opts = []                    # (rec, expiry, strike, fut_rec, spot_rec, lo, hi, is_call)
        group_start = 0
        key = None
        sp = <Store>spot_store if spot_store is not None else None
        ix = <Store>index_store if index_store is not None else None
        for sy, e, k, ot, tok, at, inst in zip(o["symbol"].tolist(), o["expiry_unix"].tolist(),
                                               o["strike"].tolist(), o["option_type"].tolist(),
                                               o["token"].tolist(), o["asset_token"].tolist(),
                                               o["instrument"].tolist()):
            if (sy, e) != key:
                key = (sy, e)
                group_start = len(chain)
            if len(chain) == group_start or chain[len(chain) - 1][0] != k:    # (wraparound is off)
                chain.append([k, -1, -1])
            rec = vg_store_find(&self._st, tok)
            chain[len(chain) - 1][1 if ot == "CE" else 2] = rec
            is_idx = inst == "OPTIDX" and ix is not None       # without an index store: the spot store
            spot_rec = -1
            if 0 < at <= 0x7FFFFFFF:
                if is_idx:
                    spot_rec = vg_store_find(&ix._st, at)
                elif sp is not None:
                    spot_rec = vg_store_find(&sp._st, at)
            opts.append([rec, e, k, fut_rec.get((sy, e), -1), spot_rec, group_start, -1, ot == "CE",
                         at if 0 < at <= 0x7FFFFFFF else 0, is_idx])
        # chain_hi: the end of each option's group
        ends = {}
        for op in opts:
            ends[op[5]] = 0
        starts = sorted(ends)
        for j, st0 in enumerate(starts):
            ends[st0] = starts[j + 1] if j + 1 < len(starts) else len(chain)
        n_opt = len(opts)
        n_ch = len(chain)
        om = <vg_optmeta_t*>calloc(1, sizeof(vg_optmeta_t))
        if om == NULL:
            raise MemoryError()
        om.opt_of_rec = <int32_t*>malloc(max(self._st.capacity, 1) * sizeof(int32_t))
        om.opts = <vg_opt_t*>malloc(max(n_opt, 1) * sizeof(vg_opt_t))
        om.chain = <vg_chain_t*>malloc(max(n_ch, 1) * sizeof(vg_chain_t))
        if om.opt_of_rec == NULL or om.opts == NULL or om.chain == NULL:
            _optmeta_free(om)
            raise MemoryError()
        for i in range(<int32_t>self._st.capacity):
            om.opt_of_rec[i] = -1
        for i in range(n_ch):
            om.chain[i].strike_paise = chain[i][0]
            om.chain[i].call_rec = chain[i][1]
            om.chain[i].put_rec = chain[i][2]
        for i in range(n_opt):
            op = opts[i]
            om.opts[i].expiry_unix_s = op[1]
            om.opts[i].strike_paise = op[2]
            om.opts[i].future_rec = op[3]
            om.opts[i].spot_rec = op[4]
            om.opts[i].chain_lo = op[5]
            om.opts[i].chain_hi = ends[op[5]]
            om.opts[i].is_call = op[7]
            om.opts[i].spot_token = op[8]
            om.opts[i].spot_idx = op[9]
            if op[0] >= 0:
                om.opt_of_rec[op[0]] = i
        om.n_opts = n_opt
        om.n_chain = n_ch
        om.spot_st = &sp._st if sp is not None else NULL
        om.idx_st = &ix._st if ix is not None else NULL
        self._swap_opt(om, (spot_store, index_store), n_opt)
        return len(t)

    cdef int _swap_opt(self, vg_optmeta_t* om, object spot, int32_t n_opt) except -1:
        """load_instruments' last step: the options' metadata om (NULL: none, freed here when refused), the
        stores they read (``spot``) and their number replace the old ones (freed).  The load checked at its
        start that no call used the store, but it ran Python code since, where another thread may have begun
        one (a snapshot, a batch): that call would read the metadata freed here, and count down, when it
        ends, stores its start did not count up (_use), which could then never close.  So: StoreBusyError
        while one runs (ValueError when the store was closed meanwhile), and no Python code from this check
        to the swap."""
        cdef vg_optmeta_t* old = self._st.opt
        if self._inuse or self._st.base == NULL:
            _optmeta_free(om)
            self._check_open()
            raise StoreBusyError("the store is in use by a call in another thread that began while the "
                                 "instruments were loading: their records are in, the options' metadata is "
                                 "as it was; load them again after that call returns")
        kept = self._spot_store           # let go after the swap: freeing a store it holds may run Python code
        self._st.opt = om
        self._spot_store = spot
        self._n_options = n_opt
        _optmeta_free(old)
        return 0

    @property
    def n_options(self) -> int:
        """Options with implied-volatility metadata (load_instruments), 0 without instruments."""
        return self._n_options

    def subscribe(self, tokens, subscribed=True) -> None:
        """Set the subscription flag of ``tokens`` already in the store: one token (an int or a numpy
        integer) or an iterable of them (a list, a numpy integer array such as ``tokens()``).  Every token is
        looked up first: KeyError for one not in the store (TypeError for one that is not an integer), and
        then no flag has changed."""
        cdef Py_ssize_t i
        cdef int32_t[::1] idx
        cdef uint8_t flag = _flag_arg(subscribed, "subscribe: subscribed")
        cdef vg_srec_t* r
        self._check_writable()
        if isinstance(tokens, _np.ndarray) and tokens.ndim == 0:
            tokens = (tokens[()],)                 # a 0-d array: its one element (ndarray has __index__)
        elif not isinstance(tokens, _np.ndarray) and (hasattr(type(tokens), "__index__")
                                                     or isinstance(tokens, _np.bool_)):
            tokens = (tokens,)                     # one token (a bool too, refused by _index)
        idx = _np.array([self._index(t) for t in _tokens_list(tokens)], dtype=_np.int32)
        self._check_sole_writer()                  # (the list's Python code may have closed the store)
        for i in range(idx.shape[0]):
            r = &self._st.recs[idx[i]]
            vs_write_begin(r)
            r.subscribed = flag
            vs_write_end(r)

    def apply_records(self, records, day_base_ns=None) -> int:
        """Apply change records (a CHANGE_RECORD_DTYPE array, or their raw bytes: a uint8 or plain void array as
        Ring.append takes, or a bytes-like object of 32-byte records) in order; returns the number of updates applied.
        Last update times become ``day_base_ns + ts48``, at most 2**63 - 1. ``day_base_ns`` is an int of epoch ns (a
        numpy integer too; a float or a bool is a TypeError), default the store's trading day, else today's 00:00 IST. A
        ``day_base_ns`` given becomes the store's trading day (``header["day_base_ns"]``, the default of later calls),
        as a FeedHandler's receive day does: a store rebuilt by ``vega.replay`` or ``Journal.snapshot_at`` carries its
        journal's day. A KEYFRAME update that changes no market field (a checkpoint over the state it was taken from)
        leaves the token's update time, source, count and last_md_ns alone (docs/FORMATS.md 3.4). TypeError for
        anything else as ``records`` (a list too); ValueError on a malformed record (those before it are applied);
        StoreFullError when a new token does not fit."""
        cdef const uint8_t[::1] view
        cdef Py_ssize_t n, res
        cdef int err = 0
        cdef int64_t base = 0
        self._check_writable()
        if day_base_ns is not None:
            base = _check_ns(day_base_ns, "day_base_ns")
        if not isinstance(records, _np.ndarray) and (isinstance(records, str) or not PyObject_CheckBuffer(records)):
            raise TypeError(f"records must be a CHANGE_RECORD_DTYPE array or bytes of 32-byte records, not "
                            f"{type(records).__name__}")
        self._use(1)                               # at once: close() refuses from here on (see _detach)
        try:
            if isinstance(records, _np.ndarray):
                if not _raw_or_record_dtype(records.dtype):      # what Ring.append and a journal take
                    raise TypeError(f"records must have CHANGE_RECORD_DTYPE (or be raw record bytes: uint8 or "
                                    f"V32), not {records.dtype}")
                records = _np.ascontiguousarray(records).reshape(-1).view(_np.uint8)
            view = _as_bytes_view(records)
            if view.shape[0] % sizeof(vg_rec_t):
                raise ValueError(f"{view.shape[0]} bytes is not a whole number of 32-byte records")
            n = view.shape[0] // sizeof(vg_rec_t)
            if day_base_ns is None:                # (else base is the argument, checked above)
                if self._st.hdr.day_base_ns:
                    base = self._st.hdr.day_base_ns
                else:
                    base = vg_now_ns() - <int64_t>vg_ts48(vg_now_ns())
            if day_base_ns is not None:
                self._st.hdr.day_base_ns = base
            if n == 0:
                return 0
            self._check_sole_writer()              # right before the loop (no Python code runs in between)
            self._writing += 1
            try:
                with nogil:
                    res = vg_apply(&self._st, <const vg_rec_t*>&view[0], n, base, &err)
            finally:
                self._writing -= 1
        finally:
            self._use(-1)
        if res < 0:
            if err == VG_A_FULL:
                raise StoreFullError(f"record {-res - 1}: the store is full ({self._st.capacity} instruments)")
            raise ValueError(f"record {-res - 1}: {_APPLY_ERRORS[err]}")
        return res

    def keyframe_records(self, ts_ns=0):
        """The full state of every token as KEYFRAME change records (ts48 = ``ts_ns``, an int of ns since
        00:00 IST in [0, 2**48); a numpy integer too, a float or a bool is a TypeError): applying them to any
        store resets each token to exactly this state."""
        cdef vg_recbuf_t b
        cdef int64_t ts = _check_ts48(ts_ns)
        if ts < 0:
            raise ValueError("ts_ns must be in [0, 2**48)")
        memset(&b, 0, sizeof(b))
        try:
            self._keyframes(&b, <uint64_t>ts)
            arr = _np.empty(b.n, dtype=_REC_DTYPE)
            if b.n:
                memcpy(<void*><Py_ssize_t>arr.ctypes.data, b.recs, b.n * sizeof(vg_rec_t))
            return arr
        finally:
            free(b.recs)

    cdef int _keyframes(self, vg_recbuf_t* b, uint64_t ts) except -1:
        """keyframe_records into a C record buffer (the caller frees b.recs), without the GIL."""
        cdef vg_srec_t tmp
        cdef uint32_t i, n
        cdef int bad = 0
        self._check_open()
        n = vg_store_len(&self._st)
        self._use(1)
        try:
            with nogil:
                for i in range(n):
                    if vs_read_copy(&self._st.recs[i], &tmp) != 0 or vg_keyframe(b, &tmp, ts) < 0:
                        bad = 1
                        break
        finally:
            self._use(-1)
        if bad:
            raise StoreError("keyframe failed: a record stayed locked or memory ran out")
        return 0


def _store_layout() -> dict:
    """name -> (offset, size) of every vg_srec_t field, computed by the C compiler (layout tests)."""
    cdef vg_srec_t r
    cdef char* b = <char*>&r
    out = {}
    out["seq"] = (<char*>&r.seq - b, sizeof(r.seq))
    out["token"] = (<char*>&r.token - b, sizeof(r.token))
    out["segment"] = (<char*>&r.segment - b, sizeof(r.segment))
    out["net_change_indicator"] = (<char*>&r.net_change_indicator - b, sizeof(r.net_change_indicator))
    out["book_type"] = (<char*>&r.book_type - b, sizeof(r.book_type))
    out["trading_status"] = (<char*>&r.trading_status - b, sizeof(r.trading_status))
    out["last_update_source"] = (<char*>&r.last_update_source - b, sizeof(r.last_update_source))
    out["last_traded_price"] = (<char*>&r.last_traded_price - b, sizeof(r.last_traded_price))
    out["last_trade_quantity"] = (<char*>&r.last_trade_quantity - b, sizeof(r.last_trade_quantity))
    out["last_trade_time"] = (<char*>&r.last_trade_time - b, sizeof(r.last_trade_time))
    out["net_price_change"] = (<char*>&r.net_price_change - b, sizeof(r.net_price_change))
    out["volume_traded_today"] = (<char*>&r.volume_traded_today - b, sizeof(r.volume_traded_today))
    out["last_update_ns"] = (<char*>&r.last_update_ns - b, sizeof(r.last_update_ns))
    out["update_count"] = (<char*>&r.update_count - b, sizeof(r.update_count))
    out["average_trade_price"] = (<char*>&r.average_trade_price - b, sizeof(r.average_trade_price))
    out["fill_price"] = (<char*>&r.fill_price - b, sizeof(r.fill_price))
    out["fill_volume"] = (<char*>&r.fill_volume - b, sizeof(r.fill_volume))
    out["bid_price"] = (<char*>&r.bid_price - b, sizeof(r.bid_price))
    out["ask_price"] = (<char*>&r.ask_price - b, sizeof(r.ask_price))
    out["open_price"] = (<char*>&r.open_price - b, sizeof(r.open_price))
    out["high_price"] = (<char*>&r.high_price - b, sizeof(r.high_price))
    out["low_price"] = (<char*>&r.low_price - b, sizeof(r.low_price))
    out["close_price"] = (<char*>&r.close_price - b, sizeof(r.close_price))
    out["indicative_close_price"] = (<char*>&r.indicative_close_price - b, sizeof(r.indicative_close_price))
    out["bb_total_buy_flag"] = (<char*>&r.bb_total_buy_flag - b, sizeof(r.bb_total_buy_flag))
    out["bb_total_sell_flag"] = (<char*>&r.bb_total_sell_flag - b, sizeof(r.bb_total_sell_flag))
    out["bid_quantity"] = (<char*>&r.bid_quantity - b, sizeof(r.bid_quantity))
    out["ask_quantity"] = (<char*>&r.ask_quantity - b, sizeof(r.ask_quantity))
    out["total_buy_quantity"] = (<char*>&r.total_buy_quantity - b, sizeof(r.total_buy_quantity))
    out["total_sell_quantity"] = (<char*>&r.total_sell_quantity - b, sizeof(r.total_sell_quantity))
    out["bid_orders"] = (<char*>&r.bid_orders - b, sizeof(r.bid_orders))
    out["ask_orders"] = (<char*>&r.ask_orders - b, sizeof(r.ask_orders))
    out["market_type"] = (<char*>&r.market_type - b, sizeof(r.market_type))
    out["market_status"] = (<char*>&r.market_status - b, sizeof(r.market_status))
    out["indicator"] = (<char*>&r.indicator - b, sizeof(r.indicator))
    out["mw_indicator"] = (<char*>&r.mw_indicator - b, sizeof(r.mw_indicator))
    out["mw_buy_volume"] = (<char*>&r.mw_buy_volume - b, sizeof(r.mw_buy_volume))
    out["mw_sell_volume"] = (<char*>&r.mw_sell_volume - b, sizeof(r.mw_sell_volume))
    out["mw_buy_price"] = (<char*>&r.mw_buy_price - b, sizeof(r.mw_buy_price))
    out["mw_sell_price"] = (<char*>&r.mw_sell_price - b, sizeof(r.mw_sell_price))
    out["mw_last_trade_price"] = (<char*>&r.mw_last_trade_price - b, sizeof(r.mw_last_trade_price))
    out["mw_last_trade_time"] = (<char*>&r.mw_last_trade_time - b, sizeof(r.mw_last_trade_time))
    out["open_interest"] = (<char*>&r.open_interest - b, sizeof(r.open_interest))
    out["oi_day_high"] = (<char*>&r.oi_day_high - b, sizeof(r.oi_day_high))
    out["oi_day_low"] = (<char*>&r.oi_day_low - b, sizeof(r.oi_day_low))
    out["implied_volatility"] = (<char*>&r.implied_volatility - b, sizeof(r.implied_volatility))
    out["data_quality"] = (<char*>&r.data_quality - b, sizeof(r.data_quality))
    out["valid"] = (<char*>&r.valid - b, sizeof(r.valid))
    out["subscribed"] = (<char*>&r.subscribed - b, sizeof(r.subscribed))
    out["buyback_active"] = (<char*>&r.buyback_active - b, sizeof(r.buyback_active))
    out["auction_number"] = (<char*>&r.auction_number - b, sizeof(r.auction_number))
    out["auction_status"] = (<char*>&r.auction_status - b, sizeof(r.auction_status))
    out["initiator_type"] = (<char*>&r.initiator_type - b, sizeof(r.initiator_type))
    out["_pad0"] = (<char*>&r._pad0 - b, sizeof(r._pad0))
    out["initiator_price"] = (<char*>&r.initiator_price - b, sizeof(r.initiator_price))
    out["initiator_quantity"] = (<char*>&r.initiator_quantity - b, sizeof(r.initiator_quantity))
    out["auction_price"] = (<char*>&r.auction_price - b, sizeof(r.auction_price))
    out["auction_quantity"] = (<char*>&r.auction_quantity - b, sizeof(r.auction_quantity))
    out["buy_ord_cxl_count"] = (<char*>&r.buy_ord_cxl_count - b, sizeof(r.buy_ord_cxl_count))
    out["buy_ord_cxl_vol"] = (<char*>&r.buy_ord_cxl_vol - b, sizeof(r.buy_ord_cxl_vol))
    out["sell_ord_cxl_count"] = (<char*>&r.sell_ord_cxl_count - b, sizeof(r.sell_ord_cxl_count))
    out["sell_ord_cxl_vol"] = (<char*>&r.sell_ord_cxl_vol - b, sizeof(r.sell_ord_cxl_vol))
    out["spos_update_time"] = (<char*>&r.spos_update_time - b, sizeof(r.spos_update_time))
    out["bb_start_date"] = (<char*>&r.bb_start_date - b, sizeof(r.bb_start_date))
    out["pday_cum_vol"] = (<char*>&r.pday_cum_vol - b, sizeof(r.pday_cum_vol))
    out["cday_cum_vol"] = (<char*>&r.cday_cum_vol - b, sizeof(r.cday_cum_vol))
    out["pday_high_price"] = (<char*>&r.pday_high_price - b, sizeof(r.pday_high_price))
    out["pday_low_price"] = (<char*>&r.pday_low_price - b, sizeof(r.pday_low_price))
    out["pday_wt_avg"] = (<char*>&r.pday_wt_avg - b, sizeof(r.pday_wt_avg))
    out["cday_high_price"] = (<char*>&r.cday_high_price - b, sizeof(r.cday_high_price))
    out["cday_low_price"] = (<char*>&r.cday_low_price - b, sizeof(r.cday_low_price))
    out["cday_wt_avg"] = (<char*>&r.cday_wt_avg - b, sizeof(r.cday_wt_avg))
    out["bb_end_date"] = (<char*>&r.bb_end_date - b, sizeof(r.bb_end_date))
    out["symbol"] = (<char*>&r.symbol - b, sizeof(r.symbol))
    out["series"] = (<char*>&r.series - b, sizeof(r.series))
    out["last_md_ns"] = (<char*>&r.last_md_ns - b, sizeof(r.last_md_ns))
    return out


def _index_layout() -> dict:
    """name -> (offset, size) of the index fields of vg_srec_t's line-5 union (layout tests)."""
    cdef vg_srec_t r
    cdef char* b = <char*>&r
    return {"idx_percent_change": (<char*>&r.idx_percent_change - b, sizeof(r.idx_percent_change)),
            "idx_yearly_high": (<char*>&r.idx_yearly_high - b, sizeof(r.idx_yearly_high)),
            "idx_yearly_low": (<char*>&r.idx_yearly_low - b, sizeof(r.idx_yearly_low)),
            "idx_upmoves": (<char*>&r.idx_upmoves - b, sizeof(r.idx_upmoves)),
            "idx_downmoves": (<char*>&r.idx_downmoves - b, sizeof(r.idx_downmoves)),
            "idx_ind_change": (<char*>&r.idx_ind_change - b, sizeof(r.idx_ind_change)),
            "idx_market_cap": (<char*>&r.idx_market_cap - b, sizeof(r.idx_market_cap)),
            "idx_ind_percent_change": (<char*>&r.idx_ind_percent_change - b, sizeof(r.idx_ind_percent_change)),
            "idx_wire_stride": (<char*>&r.idx_wire_stride - b, sizeof(r.idx_wire_stride))}

def _group_fields() -> dict:
    """group id -> [(offset, size, signed)] of the change-record field table compiled into _core."""
    cdef int g, i
    return {g: [(VG_GROUP_FIELDS[g][i].off, VG_GROUP_FIELDS[g][i].size, VG_GROUP_FIELDS[g][i].is_signed)
                for i in range(VG_GROUP_NFIELDS[g])] for g in range(1, VG_N_GROUPS)}
