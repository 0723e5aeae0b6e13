/* vega/_store.h — the consolidated store record, its change-record field table, and the seqlock atomics.
 *
 * Declared to Cython in _store_types.pxi (included by _core.pxd).  docs/FORMATS.md ("Store record",
 * "Change records") is the normative description; the _Static_asserts below and tests/test_store_layout.py
 * pin every offset.  One writer, any number of readers (in this or other processes): each record carries a
 * sequence counter, odd while the writer is inside it.
 */
#ifndef VEGA_STORE_H
#define VEGA_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "_ring_atomic.h"

/* ------------------------------------------------------------------------------------------------------
 * The store record: 448 bytes = 7 cache lines, 64-byte aligned, grouped by how often a tick touches it.
 * Prices int32 paise, quantities int64, exchange times int32 s since 1980-01-01, *_ns int64 epoch ns.
 * ---------------------------------------------------------------------------------------------------- */
typedef struct __attribute__((aligned(64))) vg_srec {
    /* line 0 [0, 64): everything a ticker (18703, 7202, 17202) reads or writes but its quality inputs and
     * F&O open interest, so a ticker touches lines 0, 1 (quality, when its LTP changed) and 4 (F&O) */
    uint32_t seq;                     /*   0 sequence lock: odd while the writer is updating */
    int32_t  token;                   /*   4 instrument token */
    int64_t  last_md_ns;              /*   8 receive time of the last 7200/7208 merge, epoch ns */
    int32_t  last_traded_price;       /*  16 paise */
    int32_t  last_trade_quantity;     /*  20 */
    int32_t  last_trade_time;         /*  24 s since 1980 */
    int16_t  market_type;             /*  28 ticker MarketType */
    int16_t  trading_status;          /*  30 1 pre-open, 2 open, 3 suspended, 4 pre-open ext., 6 price disc. */
    int64_t  volume_traded_today;     /*  32 */
    int64_t  last_update_ns;          /*  40 receive time of the last merge, epoch ns */
    uint32_t update_count;            /*  48 merges applied to this token */
    uint16_t last_update_source;      /*  52 message code of the last merge */
    uint8_t  data_quality;            /*  54 0..100, docs/FORMATS.md */
    uint8_t  segment;                 /*  55 4 CM, 2 FO */
    int32_t  fill_price;              /*  56 paise, ticker (18703, 7202, 17202) */
    int32_t  fill_volume;             /*  60 ticker */
    /* line 1 [64, 128): book prices and OHLC */
    int32_t  bid_price[5];            /*  64 paise, level 0 = best */
    int32_t  ask_price[5];            /*  84 */
    int32_t  open_price;              /* 104 */
    int32_t  high_price;              /* 108 */
    int32_t  low_price;               /* 112 */
    int32_t  close_price;             /* 116 previous close (ClosingPrice) */
    int32_t  indicative_close_price;  /* 120 CM 7208 */
    int16_t  bb_total_buy_flag;       /* 124 buy-back flags: 0 none, 1 buy-back, 2 market maker, 3 both */
    int16_t  bb_total_sell_flag;      /* 126 */
    /* lines 2-3 [128, 256): book quantities, orders, totals, status */
    int64_t  bid_quantity[5];         /* 128 */
    int64_t  ask_quantity[5];         /* 168 */
    int64_t  total_buy_quantity;      /* 208 */
    int64_t  total_sell_quantity;     /* 216 */
    int16_t  bid_orders[5];           /* 224 */
    int16_t  ask_orders[5];           /* 234 */
    int16_t  book_type;               /* 244 7200/7208 */
    int16_t  market_status[4];        /* 246 status per market (FO 7210 / 7320, CM 18130 / 18707) */
    uint8_t  indicator;               /* 254 7200/7208 indicator bits: 0x80 LTMore, 0x40 LTLess, 0x20 buy, 0x10 sell */
    uint8_t  mw_indicator;            /* 255 same bits, from market watch */
    /* line 4 [256, 320): market watch, open interest, metadata flags */
    int64_t  mw_buy_volume;           /* 256 7201/17201 best buy volume (normal market) */
    int64_t  mw_sell_volume;          /* 264 */
    int32_t  mw_buy_price;            /* 272 paise */
    int32_t  mw_sell_price;           /* 276 */
    int32_t  mw_last_trade_price;     /* 280 pre-open: indicative open */
    int32_t  mw_last_trade_time;      /* 284 s since 1980 */
    int64_t  open_interest;           /* 288 FO */
    int64_t  oi_day_high;             /* 296 FO */
    int64_t  oi_day_low;              /* 304 FO */
    int32_t  implied_volatility;      /* 312 1e-4 units (0.2345 -> 2345); written only through records */
    char     net_change_indicator;    /* 316 '+', '-' or ' ' (7200/7208) */
    uint8_t  valid;                   /* 317 1 once the token is in the store */
    uint8_t  subscribed;              /* 318 1: merged when the feed handler runs subscribed-only */
    uint8_t  buyback_active;          /* 319 18708 */
    /* line 5 [320, 384): auction and SPOS statistics; in an index record (segment VG_SEG_IDX, which has
     * neither) the first 40 bytes hold the index statistics instead (docs/FORMATS.md "Index records") */
    union {
        struct {
            int16_t  auction_number;          /* 320 */
            int16_t  auction_status;          /* 322 */
            int16_t  initiator_type;          /* 324 */
            int16_t  _pad0;                   /* 326 */
            int32_t  initiator_price;         /* 328 */
            int32_t  initiator_quantity;      /* 332 */
            int32_t  auction_price;           /* 336 */
            int32_t  auction_quantity;        /* 340 */
            int64_t  buy_ord_cxl_count;       /* 344 CM 7210 */
            int64_t  buy_ord_cxl_vol;         /* 352 */
            int64_t  sell_ord_cxl_count;      /* 360 */
            int64_t  sell_ord_cxl_vol;        /* 368 */
            int32_t  spos_update_time;        /* 376 LogTime of the last 7210, s since 1980 */
            int32_t  bb_start_date;           /* 380 18708 StartDate */
        };
        struct {
            int32_t idx_percent_change;      /* 320 7207/7216 PercentChange as sent (scaling unverified) */
            int32_t idx_yearly_high;         /* 324 x 100 */
            int32_t idx_yearly_low;          /* 328 x 100 */
            int32_t idx_upmoves;             /* 332 constituents up */
            int32_t idx_downmoves;           /* 336 constituents down */
            int32_t idx_ind_change;          /* 340 8207 Change: indicative close - previous close, x 100 */
            double  idx_market_cap;          /* 344 MarketCapitalisation DOUBLE as sent (units undocumented) */
            int32_t idx_ind_percent_change;  /* 352 8207 PercentChange as sent */
            int32_t idx_wire_stride;         /* 356 record stride of the last index message: 72 wire, 71 doc */
        };
    };
    /* line 6 [384, 448): buy-back, identity, the 7200/7208-only net change and average price */
    int64_t  pday_cum_vol;            /* 384 18708 (DOUBLE rounded) */
    int64_t  cday_cum_vol;            /* 392 */
    int32_t  pday_high_price;         /* 400 */
    int32_t  pday_low_price;          /* 404 */
    int32_t  pday_wt_avg;             /* 408 */
    int32_t  cday_high_price;         /* 412 */
    int32_t  cday_low_price;          /* 416 */
    int32_t  cday_wt_avg;             /* 420 */
    int32_t  bb_end_date;             /* 424 */
    char     symbol[10];              /* 428 blank-padded (master data, 6013, 18708) */
    char     series[2];               /* 438 */
    int32_t  net_price_change;        /* 440 from previous close (7200/7208): CM as sent, F&O LTP - close */
    int32_t  average_trade_price;     /* 444 paise (7200/7208) */
} vg_srec_t;

#define VG_SREC_ASSERT(f, o) _Static_assert(offsetof(vg_srec_t, f) == (o), "vg_srec_t." #f " offset")
_Static_assert(sizeof(vg_srec_t) == 448, "vg_srec_t is 7 cache lines");
VG_SREC_ASSERT(seq, 0); VG_SREC_ASSERT(last_traded_price, 16); VG_SREC_ASSERT(volume_traded_today, 32);
VG_SREC_ASSERT(fill_volume, 60); VG_SREC_ASSERT(bid_price, 64); VG_SREC_ASSERT(bb_total_sell_flag, 126);
VG_SREC_ASSERT(bid_quantity, 128); VG_SREC_ASSERT(bid_orders, 224); VG_SREC_ASSERT(mw_indicator, 255);
VG_SREC_ASSERT(mw_buy_volume, 256); VG_SREC_ASSERT(buyback_active, 319); VG_SREC_ASSERT(auction_number, 320);
VG_SREC_ASSERT(bb_start_date, 380); VG_SREC_ASSERT(pday_cum_vol, 384); VG_SREC_ASSERT(symbol, 428);
VG_SREC_ASSERT(last_md_ns, 8); VG_SREC_ASSERT(market_type, 28); VG_SREC_ASSERT(data_quality, 54);
VG_SREC_ASSERT(book_type, 244); VG_SREC_ASSERT(net_change_indicator, 316); VG_SREC_ASSERT(net_price_change, 440);
VG_SREC_ASSERT(average_trade_price, 444); VG_SREC_ASSERT(idx_percent_change, 320); VG_SREC_ASSERT(idx_ind_change, 340);
VG_SREC_ASSERT(idx_market_cap, 344); VG_SREC_ASSERT(idx_wire_stride, 356);

/* ------------------------------------------------------------------------------------------------------
 * Shared-memory file: header (one page) | dense table | overflow hash | records (page aligned)
 * ---------------------------------------------------------------------------------------------------- */
typedef struct vg_store_hdr {
    uint64_t magic;                   /*   0 VG_STORE_MAGIC, written last by the creator */
    uint32_t version;                 /*   8 VG_STORE_VERSION */
    uint32_t header_size;             /*  12 sizeof(vg_store_hdr_t) */
    uint32_t record_size;             /*  16 sizeof(vg_srec_t) */
    uint32_t capacity;                /*  20 records */
    uint32_t dense_size;              /*  24 tokens 0 .. dense_size-1 are looked up directly */
    uint32_t hash_size;               /*  28 overflow slots, a power of two >= 2 * capacity */
    uint64_t dense_off;               /*  32 byte offsets from the start of the file */
    uint64_t hash_off;                /*  40 */
    uint64_t records_off;             /*  48 */
    uint64_t file_size;               /*  56 */
    uint32_t n_records;               /*  64 records in use (release-published by the writer) */
    uint32_t writer_pid;              /*  68 */
    int64_t  stale_ns;                /*  72 a record older than this is stale (default 5 s) */
    int64_t  day_base_ns;             /*  80 epoch ns of 00:00 IST of the trading day (0 until known) */
    int64_t  created_ns;              /*  88 */
    uint8_t  segment;                 /*  96 0 unknown, 4 CM, 2 FO */
    uint8_t  _pad[31];                /*  97 */
} vg_store_hdr_t;
_Static_assert(sizeof(vg_store_hdr_t) == 128, "store header is 128 bytes");

typedef struct vg_hslot {             /* overflow hash slot: index < 0 = empty */
    int32_t token;
    int32_t index;
} vg_hslot_t;

#define VG_STORE_MAGIC 0x31524f5453414756ULL   /* "VGASTOR1" little-endian */
#define VG_STORE_VERSION 2u
#define VG_STORE_PAGE 4096u

/* ------------------------------------------------------------------------------------------------------
 * Atomics and the sequence lock
 * ---------------------------------------------------------------------------------------------------- */
/* atomic loads/stores and vg_cpu_relax(): vega/_ring_atomic.h (one header for the ring and the store) */

/* Writer: enter (counter becomes odd) ... plain stores ... leave (counter even again). */
static inline void vs_write_begin(vg_srec_t *r) {
    uint32_t s = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&r->seq, s + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}
static inline void vs_write_end(vg_srec_t *r) {
    uint32_t s = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&r->seq, s + 1, __ATOMIC_RELEASE);
}

#define VG_SPIN_LIMIT (1u << 26)
/* Tries a reader makes while holding the GIL (Store.__getitem__, ltp) before it releases the GIL and goes
 * on to VG_SPIN_LIMIT: a live writer leaves a record within a microsecond, a writer that died inside an
 * update never does, and the reader's other threads must not stand still meanwhile. */
#define VG_SPIN_GIL (1u << 12)
/* Tries the merge makes to read a record of another writer's store (the spot of an option's IV) before it
 * takes the value as unknown: a live writer is out of a record within a microsecond. */
#define VG_SPIN_MERGE (1u << 8)

/* Reader: a consistent copy of one record.  Never blocks the writer; retries while the writer is inside
 * the record or finished an update during the copy.  Returns 0, or -1 when the counter stayed odd for
 * `limit` tries (a writer that died inside an update). */
static inline int vs_read_copy_n(const vg_srec_t *r, vg_srec_t *out, uint32_t limit) {
    uint32_t tries = 0, s1, s2;
    for (;;) {
        s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
        if (!(s1 & 1u)) {
            memcpy(out, r, sizeof(vg_srec_t));
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            s2 = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
            if (s1 == s2) return 0;
        }
        if (++tries >= limit) return -1;
        vg_cpu_relax();
    }
}
static inline int vs_read_copy(const vg_srec_t *r, vg_srec_t *out) {
    return vs_read_copy_n(r, out, VG_SPIN_LIMIT);
}

/* Reader: one int32 field (e.g. the LTP) under the record's sequence lock. */
static inline int vs_read_i32_n(const vg_srec_t *r, const int32_t *field, int32_t *out, uint32_t limit) {
    uint32_t tries = 0, s1, s2;
    int32_t v;
    for (;;) {
        s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
        if (!(s1 & 1u)) {
            v = __atomic_load_n(field, __ATOMIC_RELAXED);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            s2 = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
            if (s1 == s2) { *out = v; return 0; }
        }
        if (++tries >= limit) return -1;
        vg_cpu_relax();
    }
}
static inline int vs_read_i32(const vg_srec_t *r, const int32_t *field, int32_t *out) {
    return vs_read_i32_n(r, field, out, VG_SPIN_LIMIT);
}

/* ------------------------------------------------------------------------------------------------------
 * The merge's book-side replacement (7200 / 7208).  e = 5 decoded MBP entries, vg_mbp_t of vega/_core.pxd:
 * 16 bytes each, quantity int64 @0, price int32 @8, number_of_orders int16 @12 (bytes 14-15 are not ours;
 * tests/test_merge_fast.py pins the layout).  SSE2: the entries are transposed into the record's price,
 * quantity and order arrays four levels at a time, compared with the old values lane-wise.
 * ---------------------------------------------------------------------------------------------------- */
#define VG_MBP_SIZE 16
#define VG_MBP_QTY 0
#define VG_MBP_PRICE 8
#define VG_MBP_ORDERS 12

/* True when one of the 5 levels has a non-zero price, quantity or order count. */
static inline int vg_side_has_data(const uint8_t *e) {
#if defined(__SSE2__)
    const __m128i keep = _mm_set_epi32(0x0000FFFF, -1, -1, -1);   /* bytes 0..13 */
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)e);
    v = _mm_or_si128(v, _mm_loadu_si128((const __m128i *)(const void *)(e + 16)));
    v = _mm_or_si128(v, _mm_loadu_si128((const __m128i *)(const void *)(e + 32)));
    v = _mm_or_si128(v, _mm_loadu_si128((const __m128i *)(const void *)(e + 48)));
    v = _mm_or_si128(v, _mm_loadu_si128((const __m128i *)(const void *)(e + 64)));
    v = _mm_and_si128(v, keep);
    return _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) != 0xFFFF;
#else
    int i;
    for (i = 0; i < 5; i++) {
        int64_t q; int32_t p; int16_t o;
        memcpy(&q, e + VG_MBP_SIZE * i + VG_MBP_QTY, 8);
        memcpy(&p, e + VG_MBP_SIZE * i + VG_MBP_PRICE, 4);
        memcpy(&o, e + VG_MBP_SIZE * i + VG_MBP_ORDERS, 2);
        if (q != 0 || p != 0 || o != 0) return 1;
    }
    return 0;
#endif
}

/* True when the auction block of a 7200/7208 (AuctionNumber, AuctionStatus, InitiatorType as 3 int16,
 * then InitiatorPrice, InitiatorQuantity, AuctionPrice, AuctionQuantity as 4 int32) equals the record's:
 * the merge then stores none of the 7 fields (the usual case: no auction, all zero both sides).  a16/b16
 * point at the 3 int16 (6 bytes; the 2 bytes after them are read and ignored), a32/b32 at the 4 int32. */
static inline int vg_auction_same(const int16_t *a16, const int32_t *a32, const int16_t *b16,
                                  const int32_t *b32) {
    uint64_t x, y;
    memcpy(&x, a16, 8);
    memcpy(&y, b16, 8);
#if defined(__SSE2__)
    __m128i p = _mm_loadu_si128((const __m128i *)(const void *)a32);
    __m128i q = _mm_loadu_si128((const __m128i *)(const void *)b32);
    return ((x ^ y) << 16) == 0 && _mm_movemask_epi8(_mm_cmpeq_epi8(p, q)) == 0xFFFF;
#else
    return ((x ^ y) << 16) == 0 && memcmp(a32, b32, 16) == 0;
#endif
}

/* Store the 5 levels of e into price[5], qty[5], orders[5] (always: a store of the same value is
 * harmless); returns the changed fields in the depth groups' bit order (VG_F_BID: price i = bit i,
 * quantity i = bit 5 + i, orders i = bit 10 + i). */
static inline uint32_t vg_set_side(int32_t *price, int64_t *qty, int16_t *orders, const uint8_t *e) {
    uint32_t m;
    int64_t q4, oq4; int32_t p4; int16_t o4;
#if defined(__SSE2__)
    const __m128i e0 = _mm_loadu_si128((const __m128i *)(const void *)e);
    const __m128i e1 = _mm_loadu_si128((const __m128i *)(const void *)(e + 16));
    const __m128i e2 = _mm_loadu_si128((const __m128i *)(const void *)(e + 32));
    const __m128i e3 = _mm_loadu_si128((const __m128i *)(const void *)(e + 48));
    /* quantities 0-3: the low 8 bytes of each entry; 64-bit equality = both 32-bit halves equal */
    const __m128i q01 = _mm_unpacklo_epi64(e0, e1), q23 = _mm_unpacklo_epi64(e2, e3);
    __m128i c01 = _mm_cmpeq_epi32(q01, _mm_loadu_si128((const __m128i *)(const void *)qty));
    __m128i c23 = _mm_cmpeq_epi32(q23, _mm_loadu_si128((const __m128i *)(const void *)(qty + 2)));
    /* prices and orders 0-3: the high 8 bytes [price, orders | flag] of each entry */
    const __m128 h01 = _mm_castsi128_ps(_mm_unpackhi_epi64(e0, e1));
    const __m128 h23 = _mm_castsi128_ps(_mm_unpackhi_epi64(e2, e3));
    const __m128i p = _mm_castps_si128(_mm_shuffle_ps(h01, h23, _MM_SHUFFLE(2, 0, 2, 0)));
    __m128i o = _mm_castps_si128(_mm_shuffle_ps(h01, h23, _MM_SHUFFLE(3, 1, 3, 1)));
    __m128i oo = _mm_loadl_epi64((const __m128i *)(const void *)orders);   /* 4 x int16 */
    uint32_t pm, qm, om;
    c01 = _mm_and_si128(c01, _mm_shuffle_epi32(c01, _MM_SHUFFLE(2, 3, 0, 1)));
    c23 = _mm_and_si128(c23, _mm_shuffle_epi32(c23, _MM_SHUFFLE(2, 3, 0, 1)));
    qm = (uint32_t)(_mm_movemask_pd(_mm_castsi128_pd(c01)) | (_mm_movemask_pd(_mm_castsi128_pd(c23)) << 2));
    pm = (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(
             _mm_cmpeq_epi32(p, _mm_loadu_si128((const __m128i *)(const void *)price))));
    o = _mm_srai_epi32(_mm_slli_epi32(o, 16), 16);                        /* int16 orders, sign-extended */
    oo = _mm_srai_epi32(_mm_unpacklo_epi16(oo, oo), 16);
    om = (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(o, oo)));
    _mm_storeu_si128((__m128i *)(void *)qty, q01);
    _mm_storeu_si128((__m128i *)(void *)(qty + 2), q23);
    _mm_storeu_si128((__m128i *)(void *)price, p);
    _mm_storel_epi64((__m128i *)(void *)orders, _mm_packs_epi32(o, o));  /* in int16 range: exact */
    m = (~pm & 0xFu) | ((~qm & 0xFu) << 5) | ((~om & 0xFu) << 10);
#else
    int i;
    m = 0;
    for (i = 0; i < 4; i++) {
        int64_t q; int32_t pr; int16_t or_;
        memcpy(&q, e + VG_MBP_SIZE * i + VG_MBP_QTY, 8);
        memcpy(&pr, e + VG_MBP_SIZE * i + VG_MBP_PRICE, 4);
        memcpy(&or_, e + VG_MBP_SIZE * i + VG_MBP_ORDERS, 2);
        m |= (uint32_t)(price[i] != pr) << i | (uint32_t)(qty[i] != q) << (5 + i)
             | (uint32_t)(orders[i] != or_) << (10 + i);
        price[i] = pr; qty[i] = q; orders[i] = or_;
    }
#endif
    /* level 4 */
    memcpy(&q4, e + 64 + VG_MBP_QTY, 8);
    memcpy(&p4, e + 64 + VG_MBP_PRICE, 4);
    memcpy(&o4, e + 64 + VG_MBP_ORDERS, 2);
    oq4 = qty[4];
    m |= (uint32_t)(price[4] != p4) << 4 | (uint32_t)(oq4 != q4) << 9 | (uint32_t)(orders[4] != o4) << 14;
    price[4] = p4; qty[4] = q4; orders[4] = o4;
    return m;
}

/* ------------------------------------------------------------------------------------------------------
 * Change-record groups and their fields (docs/FORMATS.md "Change records").  A record's mask bit i names
 * field i of its group; the slots hold the named fields in ascending bit order, 8-byte fields in two slots
 * (low word first), 1- and 2-byte fields widened to one slot (signed fields sign-extended).
 * ---------------------------------------------------------------------------------------------------- */
enum {
    VG_G_NONE = 0, VG_G_TRADE = 1, VG_G_BID = 2, VG_G_ASK = 3, VG_G_OHLC = 4, VG_G_STATUS = 5, VG_G_MW = 6,
    VG_G_AUCTION = 7, VG_G_SPOS = 8, VG_G_BUYBACK = 9, VG_G_OI = 10, VG_G_IDENT = 11, VG_G_INDEX = 12,
    VG_N_GROUPS = 13
};

typedef struct vg_fld {
    uint16_t off;                     /* offset in vg_srec_t */
    uint8_t size;                     /* 1, 2, 4 or 8 bytes */
    uint8_t is_signed;                /* 1: sign-extend 1- and 2-byte fields */
} vg_fld_t;

#define VF(f, s) { (uint16_t)offsetof(vg_srec_t, f), (uint8_t)sizeof(((vg_srec_t *)0)->f), s }
#define VFA(f, i, s) { (uint16_t)(offsetof(vg_srec_t, f) + (i) * sizeof(((vg_srec_t *)0)->f[0])), \
                       (uint8_t)sizeof(((vg_srec_t *)0)->f[0]), s }
#define VFRAW(off) { (uint16_t)(off), 4, 1 }

static const vg_fld_t VG_F_TRADE[] = {
    VF(last_traded_price, 1), VF(last_trade_quantity, 1), VF(last_trade_time, 1), VF(volume_traded_today, 1),
    VF(net_price_change, 1), {offsetof(vg_srec_t, net_change_indicator), 1, 0}, VF(average_trade_price, 1),
    VF(fill_price, 1), VF(fill_volume, 1), VF(indicator, 0), VF(market_type, 1),
};
#define VG_DEPTH_FIELDS(side, qty, orders) \
    VFA(side, 0, 1), VFA(side, 1, 1), VFA(side, 2, 1), VFA(side, 3, 1), VFA(side, 4, 1), \
    VFA(qty, 0, 1), VFA(qty, 1, 1), VFA(qty, 2, 1), VFA(qty, 3, 1), VFA(qty, 4, 1), \
    VFA(orders, 0, 1), VFA(orders, 1, 1), VFA(orders, 2, 1), VFA(orders, 3, 1), VFA(orders, 4, 1)
static const vg_fld_t VG_F_BID[] = { VG_DEPTH_FIELDS(bid_price, bid_quantity, bid_orders) };
static const vg_fld_t VG_F_ASK[] = { VG_DEPTH_FIELDS(ask_price, ask_quantity, ask_orders) };
static const vg_fld_t VG_F_OHLC[] = {
    VF(open_price, 1), VF(high_price, 1), VF(low_price, 1), VF(close_price, 1), VF(indicative_close_price, 1),
    VF(total_buy_quantity, 1), VF(total_sell_quantity, 1), VF(bb_total_buy_flag, 1), VF(bb_total_sell_flag, 1),
};
static const vg_fld_t VG_F_STATUS[] = {
    VF(book_type, 1), VF(trading_status, 1), VFA(market_status, 0, 1), VFA(market_status, 1, 1),
    VFA(market_status, 2, 1), VFA(market_status, 3, 1),
};
static const vg_fld_t VG_F_MW[] = {
    VF(mw_buy_volume, 1), VF(mw_buy_price, 1), VF(mw_sell_volume, 1), VF(mw_sell_price, 1),
    VF(mw_last_trade_price, 1), VF(mw_last_trade_time, 1), VF(mw_indicator, 0),
};
static const vg_fld_t VG_F_AUCTION[] = {
    VF(auction_number, 1), VF(auction_status, 1), VF(initiator_type, 1), VF(initiator_price, 1),
    VF(initiator_quantity, 1), VF(auction_price, 1), VF(auction_quantity, 1),
};
static const vg_fld_t VG_F_SPOS[] = {
    VF(buy_ord_cxl_count, 1), VF(buy_ord_cxl_vol, 1), VF(sell_ord_cxl_count, 1), VF(sell_ord_cxl_vol, 1),
    VF(spos_update_time, 1),
};
static const vg_fld_t VG_F_BUYBACK[] = {
    VF(pday_cum_vol, 1), VF(pday_high_price, 1), VF(pday_low_price, 1), VF(pday_wt_avg, 1),
    VF(cday_cum_vol, 1), VF(cday_high_price, 1), VF(cday_low_price, 1), VF(cday_wt_avg, 1),
    VF(bb_start_date, 1), VF(bb_end_date, 1), VF(buyback_active, 0),
};
static const vg_fld_t VG_F_OI[] = {
    VF(open_interest, 1), VF(oi_day_high, 1), VF(oi_day_low, 1), VF(implied_volatility, 1),
};
static const vg_fld_t VG_F_IDENT[] = {   /* symbol[0:4], symbol[4:8], symbol[8:10] + series, as raw bytes */
    VFRAW(offsetof(vg_srec_t, symbol)), VFRAW(offsetof(vg_srec_t, symbol) + 4),
    VFRAW(offsetof(vg_srec_t, symbol) + 8), VF(segment, 0), VF(subscribed, 0),
};
_Static_assert(offsetof(vg_srec_t, series) == offsetof(vg_srec_t, symbol) + 10, "series follows symbol");
static const vg_fld_t VG_F_INDEX[] = {   /* index records only; the market cap's IEEE bits as one 8-byte field */
    VF(idx_percent_change, 1), VF(idx_yearly_high, 1), VF(idx_yearly_low, 1), VF(idx_upmoves, 1),
    VF(idx_downmoves, 1), VF(idx_ind_change, 1), VF(idx_market_cap, 1), VF(idx_ind_percent_change, 1),
    VF(idx_wire_stride, 1),
};

static const vg_fld_t *const VG_GROUP_FIELDS[VG_N_GROUPS] = {
    NULL, VG_F_TRADE, VG_F_BID, VG_F_ASK, VG_F_OHLC, VG_F_STATUS, VG_F_MW, VG_F_AUCTION, VG_F_SPOS,
    VG_F_BUYBACK, VG_F_OI, VG_F_IDENT, VG_F_INDEX,
};
#define VG_NF(a) (uint8_t)(sizeof(a) / sizeof((a)[0]))
static const uint8_t VG_GROUP_NFIELDS[VG_N_GROUPS] = {
    0, VG_NF(VG_F_TRADE), VG_NF(VG_F_BID), VG_NF(VG_F_ASK), VG_NF(VG_F_OHLC), VG_NF(VG_F_STATUS),
    VG_NF(VG_F_MW), VG_NF(VG_F_AUCTION), VG_NF(VG_F_SPOS), VG_NF(VG_F_BUYBACK), VG_NF(VG_F_OI),
    VG_NF(VG_F_IDENT), VG_NF(VG_F_INDEX),
};

/* Read field f of record r widened to int64 (1/2-byte fields sign- or zero-extended). */
static inline int64_t vg_fld_get(const vg_srec_t *r, const vg_fld_t *f) {
    const char *p = (const char *)r + f->off;
    int64_t v8; int32_t v4; int16_t v2; uint8_t v1;
    switch (f->size) {
    case 8: memcpy(&v8, p, 8); return v8;
    case 4: memcpy(&v4, p, 4); return v4;
    case 2: memcpy(&v2, p, 2); return f->is_signed ? (int64_t)v2 : (int64_t)(uint16_t)v2;
    default: v1 = (uint8_t)p[0]; return f->is_signed ? (int64_t)(int8_t)v1 : (int64_t)v1;
    }
}

/* Store value v into field f of record r (truncated to the field's width). */
static inline void vg_fld_set(vg_srec_t *r, const vg_fld_t *f, int64_t v) {
    char *p = (char *)r + f->off;
    int32_t v4; int16_t v2;
    switch (f->size) {
    case 8: memcpy(p, &v, 8); break;
    case 4: v4 = (int32_t)v; memcpy(p, &v4, 4); break;
    case 2: v2 = (int16_t)v; memcpy(p, &v2, 2); break;
    default: p[0] = (char)(uint8_t)v; break;
    }
}

/* ------------------------------------------------------------------------------------------------------
 * Change-record emission kernels (vg_emit in _store.pxi).  The same records, byte for byte, as the table
 * walk vg_emit_ref: per group with a non-zero mask, the named fields in ascending bit order packed into
 * 4-slot records, an 8-byte field never split (a new record opens when it does not fit), every record but
 * the update's last flagged CONTINUED.  Each group's kernel is specialised at compile time: the field loop
 * is unrolled over the group's constant table, so offsets, widths and sign extension fold into plain loads
 * and stores and only the mask bits are tested at run time.  The records are written through a byte
 * pointer with the layout of vg_rec_t (vega/_core.pxd, docs/FORMATS.md "Change records").
 * ---------------------------------------------------------------------------------------------------- */
#define VG_RB_SIZE 32                 /* sizeof(vg_rec_t) */
#define VG_RB_OFF_FLAGS 11            /* vg_rec_t.flags */
#define VG_RB_OFF_MASK 12             /* vg_rec_t.mask */
#define VG_RB_OFF_SLOTS 16            /* vg_rec_t.slots[4] */
#define VG_RB_CONTINUED 0x01          /* VG_REC_CONTINUED */

/* Open a record at p: header (token | ts_lo, ts_hi | group | flags | mask 0 | source) and zero slots. */
static inline __attribute__((always_inline)) void vg_rb_open(uint8_t *p, uint64_t h0, uint64_t h1) {
#if defined(__SSE2__)                 /* two 16-byte stores */
    _mm_storeu_si128((__m128i *)(void *)p, _mm_set_epi64x((long long)h1, (long long)h0));
    _mm_storeu_si128((__m128i *)(void *)(p + 16), _mm_setzero_si128());
#else
    const uint64_t z = 0;
    memcpy(p, &h0, 8);
    memcpy(p + 8, &h1, 8);
    memcpy(p + 16, &z, 8);
    memcpy(p + 24, &z, 8);
#endif
}

/* The records of one group: m = its changed fields (non-zero; bits >= nf are ignored), tab/nf its field
 * table, fcan the fields the caller can change at all (m & ~fcan == 0; ~0u when unknown): all three
 * compile-time constants at every call site, so the loop below unrolls over the table and only the
 * possible fields' mask bits are tested at run time.  When the possible fields fit one record (at most
 * 4 slots, also a constant) the record-splitting tests fold away too.  p = the next free record; returns
 * the one after the last record written.  h1 carries everything but the group and the mask. */
static inline __attribute__((always_inline)) uint8_t *
vg_emit_group_f(uint8_t *p, const vg_srec_t *r, uint32_t m, const vg_fld_t *tab, const int nf,
                const uint32_t fcan, uint64_t h0, uint64_t h1) {
    uint8_t *rec = p;                 /* the record being filled */
    uint8_t *sp = p + VG_RB_OFF_SLOTS;   /* its next free slot */
    uint8_t *se = p + VG_RB_SIZE;        /* the end of its slots */
    uint32_t cm = 0;                  /* its mask */
    uint16_t m16;
    int i, slots = 0;
#pragma GCC unroll 32
    for (i = 0; i < nf; i++)          /* the most slots the possible fields take (folds to a constant) */
        if ((fcan >> i) & 1u)
            slots += tab[i].size == 8 ? 2 : 1;
    vg_rb_open(rec, h0, h1);
    if (slots <= 4) {                 /* one record: an 8-byte field always fits (ns + 2 <= slots <= 4) */
#pragma GCC unroll 32
        for (i = 0; i < nf; i++) {
            if (((fcan >> i) & 1u) && ((m >> i) & 1u)) {
                const int64_t v = vg_fld_get(r, &tab[i]);
                if (tab[i].size == 8) {
                    memcpy(sp, &v, 8);
                    sp += 8;
                } else {
                    const int32_t v4 = (int32_t)v;
                    memcpy(sp, &v4, 4);
                    sp += 4;
                }
            }
        }
        m16 = (uint16_t)(m & fcan & ((nf >= 32) ? 0xFFFFFFFFu : ((1u << nf) - 1u)));
        memcpy(rec + VG_RB_OFF_MASK, &m16, 2);
        return se;
    }
#pragma GCC unroll 32
    for (i = 0; i < nf; i++) {
        if (((fcan >> i) & 1u) && ((m >> i) & 1u)) {
            const int64_t v = vg_fld_get(r, &tab[i]);
            if (tab[i].size == 8) {
                if (sp + 8 > se) {    /* an 8-byte field is never split: next record */
                    m16 = (uint16_t)cm;
                    memcpy(rec + VG_RB_OFF_MASK, &m16, 2);
                    rec = se;
                    vg_rb_open(rec, h0, h1);
                    sp = rec + VG_RB_OFF_SLOTS;
                    se = rec + VG_RB_SIZE;
                    cm = 0;
                }
                memcpy(sp, &v, 8);    /* little-endian: low word first */
                sp += 8;
            } else {
                const int32_t v4 = (int32_t)v;
                if (sp == se) {
                    m16 = (uint16_t)cm;
                    memcpy(rec + VG_RB_OFF_MASK, &m16, 2);
                    rec = se;
                    vg_rb_open(rec, h0, h1);
                    sp = rec + VG_RB_OFF_SLOTS;
                    se = rec + VG_RB_SIZE;
                    cm = 0;
                }
                memcpy(sp, &v4, 4);
                sp += 4;
            }
            cm |= 1u << i;
        }
    }
    m16 = (uint16_t)cm;
    memcpy(rec + VG_RB_OFF_MASK, &m16, 2);
    return se;
}

/* Any changed fields of a compile-time table. */
static inline __attribute__((always_inline)) uint8_t *
vg_emit_group(uint8_t *p, const vg_srec_t *r, uint32_t m, const vg_fld_t *tab, const int nf, uint64_t h0,
              uint64_t h1) {
    return vg_emit_group_f(p, r, m, tab, nf, ~0u, h0, h1);
}

/* The same for a group whose table is not known at compile time (groups after VG_G_IDENT). */
static uint8_t *vg_emit_group_any(uint8_t *p, const vg_srec_t *r, uint32_t m, int g, uint64_t h0,
                                  uint64_t h1) __attribute__((noinline, unused));
static uint8_t *vg_emit_group_any(uint8_t *p, const vg_srec_t *r, uint32_t m, int g, uint64_t h0,
                                  uint64_t h1) {
    const vg_fld_t *tab = VG_GROUP_FIELDS[g];
    uint8_t *rec = p;
    int ns = 0, bit, w;
    uint32_t cm = 0;
    int64_t v;
    uint16_t m16;
    vg_rb_open(rec, h0, h1);
    m &= (VG_GROUP_NFIELDS[g] >= 32) ? 0xFFFFFFFFu : ((1u << VG_GROUP_NFIELDS[g]) - 1u);
    while (m) {
        bit = __builtin_ctz(m);
        m &= m - 1;
        w = tab[bit].size == 8 ? 2 : 1;
        if (ns + w > 4) {
            m16 = (uint16_t)cm;
            memcpy(rec + VG_RB_OFF_MASK, &m16, 2);
            rec += VG_RB_SIZE;
            vg_rb_open(rec, h0, h1);
            ns = 0;
            cm = 0;
        }
        v = vg_fld_get(r, &tab[bit]);
        if (w == 2) {
            memcpy(rec + VG_RB_OFF_SLOTS + 4 * ns, &v, 8);
        } else {
            const int32_t v4 = (int32_t)v;
            memcpy(rec + VG_RB_OFF_SLOTS + 4 * ns, &v4, 4);
        }
        cm |= 1u << bit;
        ns += w;
    }
    m16 = (uint16_t)cm;
    memcpy(rec + VG_RB_OFF_MASK, &m16, 2);
    return rec + VG_RB_SIZE;
}

/* Bit g set when masks[g] != 0, for g = 1 .. VG_N_GROUPS-1 (which groups an update changed).  masks has
 * VG_N_GROUPS entries.  One 128-bit load for masks[0..7], scalar tests for the rest: no copy through a
 * stack buffer (that was a store-forwarding stall: narrow stores, then a wide load of the same bytes).
 * The merge does not call this: it knows its group masks in registers (see _m_end in _store.pxi). */
static inline uint32_t vg_groups_changed(const uint16_t *masks) {
    uint32_t gm = 0;
    int g = 1;
#if defined(__SSE2__)
    if (VG_N_GROUPS >= 8) {
        const __m128i z = _mm_setzero_si128();
        gm = ~(uint32_t)_mm_movemask_epi8(_mm_packs_epi16(
                 _mm_cmpeq_epi16(_mm_loadu_si128((const __m128i *)(const void *)masks), z), z)) & 0xFEu;
        g = 8;
    }
#endif
    for (; g < VG_N_GROUPS; g++)
        gm |= (uint32_t)(masks[g] != 0) << g;
    return gm;
}

/* One out-of-line kernel per group: the dispatcher below stays small (a tick update that changes one
 * group pays for one call, not for the register pressure of every kernel inlined together). */
#define VG_EMIT_KERNEL(NAME, TAB)                                                                          \
    static uint8_t *NAME(uint8_t *p, const vg_srec_t *r, uint32_t m, uint64_t h0, uint64_t h1)            \
        __attribute__((noinline, unused));                                                                 \
    static uint8_t *NAME(uint8_t *p, const vg_srec_t *r, uint32_t m, uint64_t h0, uint64_t h1) {          \
        return vg_emit_group(p, r, m, TAB, (int)VG_NF(TAB), h0, h1);                                       \
    }
VG_EMIT_KERNEL(vg_emit_trade, VG_F_TRADE)
VG_EMIT_KERNEL(vg_emit_bid, VG_F_BID)
VG_EMIT_KERNEL(vg_emit_ask, VG_F_ASK)
VG_EMIT_KERNEL(vg_emit_ohlc, VG_F_OHLC)
VG_EMIT_KERNEL(vg_emit_status, VG_F_STATUS)
VG_EMIT_KERNEL(vg_emit_mw, VG_F_MW)
VG_EMIT_KERNEL(vg_emit_auction, VG_F_AUCTION)
VG_EMIT_KERNEL(vg_emit_spos, VG_F_SPOS)
VG_EMIT_KERNEL(vg_emit_buyback, VG_F_BUYBACK)
VG_EMIT_KERNEL(vg_emit_oi, VG_F_OI)
VG_EMIT_KERNEL(vg_emit_ident, VG_F_IDENT)
VG_EMIT_KERNEL(vg_emit_index, VG_F_INDEX)
#undef VG_EMIT_KERNEL

/* A whole book side changed (mask 0x7FFF, a quarter of the F&O depth updates): its six records have a
 * fixed layout (prices 0-3 | price 4, quantity 0 | quantities 1-2 | 3-4 | orders 0-3 | orders 4), written
 * straight from the record's arrays.  The same bytes as the kernel (tests/test_store_emit.py: every full
 * group against the reference). */
static inline __attribute__((always_inline)) uint8_t *
vg_emit_side_full(uint8_t *p, const int32_t *price, const int64_t *qty, const int16_t *orders, uint64_t h0,
                  uint64_t h1) {
#if defined(__SSE2__)
#define VG_SIDE_REC(I, MASK, SLOTS)                                                                        \
    _mm_storeu_si128((__m128i *)(void *)(p + 32 * (I)),                                                   \
                     _mm_set_epi64x((long long)(h1 | ((uint64_t)(MASK) << 32)), (long long)h0));           \
    _mm_storeu_si128((__m128i *)(void *)(p + 32 * (I) + 16), (SLOTS))
    const __m128i o4 = _mm_loadl_epi64((const __m128i *)(const void *)orders);   /* orders 0-3, int16 */
    const __m128i o = _mm_srai_epi32(_mm_unpacklo_epi16(o4, o4), 16);           /* sign-extended */
    VG_SIDE_REC(0, 0x000Fu, _mm_loadu_si128((const __m128i *)(const void *)price));
    VG_SIDE_REC(1, 0x0030u, _mm_set_epi32(0, (int)(uint32_t)((uint64_t)qty[0] >> 32), (int)(uint32_t)qty[0],
                                          price[4]));
    /* quantities 1-2 and 3-4 straddle the 16-byte stores vg_set_side made a moment ago (0-1, 2-3, then 4
     * alone): a 16-byte load across two pending stores cannot be forwarded from the store buffer and waits
     * for both to reach L1, so each quantity is loaded on its own (8 bytes inside one store: forwarded) */
    VG_SIDE_REC(2, 0x00C0u, _mm_set_epi64x((long long)qty[2], (long long)qty[1]));
    VG_SIDE_REC(3, 0x0300u, _mm_set_epi64x((long long)qty[4], (long long)qty[3]));
    VG_SIDE_REC(4, 0x3C00u, o);
    VG_SIDE_REC(5, 0x4000u, _mm_set_epi32(0, 0, 0, (int)orders[4]));
#undef VG_SIDE_REC
    return p + 6 * VG_RB_SIZE;
#else
    (void)price; (void)qty; (void)orders; (void)h0; (void)h1;
    return NULL;                      /* not used without SSE2 (VG_HAVE_SIDE_FULL) */
#endif
}
#if defined(__SSE2__)
#define VG_HAVE_SIDE_FULL 1
#else
#define VG_HAVE_SIDE_FULL 0
#endif

/* Group G (VG_G_BID / VG_G_ASK) of an update: the fixed layout when the whole side changed. */
#define VG_EMIT_SIDE(G, SIDE)                                                                              \
    if (VG_HAS(G)) {                                                                                      \
        if (VG_HAVE_SIDE_FULL && masks[G] == 0x7FFFu)                                                     \
            p = vg_emit_side_full(p, r->SIDE##_price, r->SIDE##_quantity, r->SIDE##_orders, h0,           \
                                  h1 | ((uint64_t)(G) << 16));                                            \
        else                                                                                              \
            p = vg_emit_##SIDE(p, r, masks[G], h0, h1 | ((uint64_t)(G) << 16));                           \
    }

#define VG_HAS(G) (gm & (1u << (G)))       /* vg_emit_sel: group G changed (its bit in gm) */
/* All records of one token update into out (room for the largest update, VG_RECS_PER_UPDATE_MAX):
 * masks[g] = changed fields of group g for every g in gm (other entries are not read), gm = the groups
 * changed (bit g; bit 0 and bits >= VG_N_GROUPS ignored), can = the groups the caller can change at all (a
 * compile-time constant at the merge's call sites: the tests of the other groups fold away; ~0u when
 * unknown).  Returns the number of records. */
static inline __attribute__((always_inline)) long
vg_emit_sel(uint8_t *out, const vg_srec_t *r, const uint16_t *masks, uint32_t gm, const uint32_t can,
            uint16_t source, uint64_t ts48, uint8_t flags) {
    uint8_t *p = out;
    const uint64_t h0 = (uint64_t)(uint32_t)r->token | ((ts48 & 0xFFFFFFFFull) << 32);
    const uint64_t h1 = ((ts48 >> 32) & 0xFFFFull) | ((uint64_t)(uint8_t)(flags | VG_RB_CONTINUED) << 24)
                        | ((uint64_t)source << 48);
    int g;
    /* ascending group order; one predictable test per group the caller can change (no indirect jump) */
#define VG_EMIT_G(G, FN) \
    if ((can & (1u << (G))) && (gm & (1u << (G)))) p = FN(p, r, masks[G], h0, h1 | ((uint64_t)(G) << 16))
    VG_EMIT_G(VG_G_TRADE, vg_emit_trade);
    if (can & (1u << VG_G_BID)) VG_EMIT_SIDE(VG_G_BID, bid)
    if (can & (1u << VG_G_ASK)) VG_EMIT_SIDE(VG_G_ASK, ask)
    VG_EMIT_G(VG_G_OHLC, vg_emit_ohlc);
    VG_EMIT_G(VG_G_STATUS, vg_emit_status);
    VG_EMIT_G(VG_G_MW, vg_emit_mw);
    VG_EMIT_G(VG_G_AUCTION, vg_emit_auction);
    VG_EMIT_G(VG_G_SPOS, vg_emit_spos);
    VG_EMIT_G(VG_G_BUYBACK, vg_emit_buyback);
    VG_EMIT_G(VG_G_OI, vg_emit_oi);
    VG_EMIT_G(VG_G_IDENT, vg_emit_ident);
    VG_EMIT_G(VG_G_INDEX, vg_emit_index);
#undef VG_EMIT_G
    if (VG_N_GROUPS > VG_G_INDEX + 1) {   /* groups without a kernel (added after INDEX): the table walk */
        uint32_t rest = (gm & can & ((VG_N_GROUPS >= 32) ? 0xFFFFFFFFu : ((1u << VG_N_GROUPS) - 1u)))
                        >> (VG_G_INDEX + 1);
        for (g = VG_G_INDEX + 1; rest; g++, rest >>= 1)
            if (rest & 1u)
                p = vg_emit_group_any(p, r, masks[g], g, h0, h1 | ((uint64_t)g << 16));
    }
    if (p != out)
        p[VG_RB_OFF_FLAGS - VG_RB_SIZE] = flags;              /* the update's last record */
    return (long)((size_t)(p - out) / VG_RB_SIZE);
}

/* Keyframes: masks[g] = the fields of group g that are non-zero in r, for every group (masks[0] = 0).  Each
 * group's loop unrolls over its constant table (constant offsets and widths, no branch per field): the
 * table walk this replaced (vg_fld_get through the table at run time) took most of a checkpoint's time. */
static inline __attribute__((always_inline)) uint16_t
vg_nonzero_group(const vg_srec_t *r, const vg_fld_t *tab, const int nf) {
    uint32_t m = 0;
    int i;
#pragma GCC unroll 32
    for (i = 0; i < nf; i++)
        m |= (uint32_t)(vg_fld_get(r, &tab[i]) != 0) << i;
    return (uint16_t)m;
}
_Static_assert(VG_N_GROUPS == VG_G_INDEX + 1, "vg_nonzero_masks: a new group needs its line below");
static void vg_nonzero_masks(const vg_srec_t *r, uint16_t *masks) {
#define VG_NZ(G, TAB) masks[G] = vg_nonzero_group(r, TAB, (int)VG_NF(TAB))
    masks[0] = 0;
    VG_NZ(VG_G_TRADE, VG_F_TRADE);
    VG_NZ(VG_G_BID, VG_F_BID);
    VG_NZ(VG_G_ASK, VG_F_ASK);
    VG_NZ(VG_G_OHLC, VG_F_OHLC);
    VG_NZ(VG_G_STATUS, VG_F_STATUS);
    VG_NZ(VG_G_MW, VG_F_MW);
    VG_NZ(VG_G_AUCTION, VG_F_AUCTION);
    VG_NZ(VG_G_SPOS, VG_F_SPOS);
    VG_NZ(VG_G_BUYBACK, VG_F_BUYBACK);
    VG_NZ(VG_G_OI, VG_F_OI);
    VG_NZ(VG_G_IDENT, VG_F_IDENT);
    VG_NZ(VG_G_INDEX, VG_F_INDEX);
#undef VG_NZ
}

/* vg_emit_sel for any groups (keyframes, tests). */
static inline long vg_emit_records(uint8_t *out, const vg_srec_t *r, const uint16_t *masks, uint32_t gm,
                                   uint16_t source, uint64_t ts48, uint8_t flags) {
    return vg_emit_sel(out, r, masks, gm, ~0u, source, ts48, flags);
}


/* ------------------------------------------------------------------------------------------------------
 * Emitters specialised per merge family: the groups and fields a family can change are constants, so a
 * ticker update (trade + open interest) or a market-watch update tests only its own groups' possible
 * fields, packs them without record-splitting tests where they fit one record, and makes one call.
 * A mask bit outside a family's fields (never set by today's merge) takes the full kernel: the records are
 * those of vg_emit_records in every case.  Field bit numbers: the tables above (VG_F_TRADE, ...).
 * Contract: masks = the merge's group masks, every entry defined (zero when the group did not change; the
 * merge clears VG_KPAD entries), gm non-zero (something changed).  Returns the number of records.
 * ---------------------------------------------------------------------------------------------------- */
#define VG_FB(i) (1u << (i))
#define VG_TF_TICK (VG_FB(0) | VG_FB(7) | VG_FB(8) | VG_FB(10))   /* LTP, fill price/volume, market type */
#define VG_TF_MW (VG_FB(0) | VG_FB(2))                            /* LTP, LTT */
#define VG_DF_MW (VG_FB(0) | VG_FB(5))                            /* level-0 price and quantity */
#define VG_TF_STATUS VG_FB(3)                                     /* volume (cleared leaving the pre-open) */
#define VG_TF_MD (VG_FB(0) | VG_FB(1) | VG_FB(2) | VG_FB(3) | VG_FB(4) | VG_FB(5) | VG_FB(6) | VG_FB(9))

/* Group G's records when only the fields FCAN can be in m, else the full kernel FULL. */
#define VG_EMIT_FC(G, TAB, FCAN, FULL)                                                                     \
    if (VG_HAS(G)) {                                                                                      \
        const uint32_t m_ = masks[G];                                                                     \
        if (__builtin_expect((m_ & ~(uint32_t)(FCAN)) != 0, 0))                                           \
            p = FULL(p, r, m_, h0, h1 | ((uint64_t)(G) << 16));                                           \
        else                                                                                              \
            p = vg_emit_group_f(p, r, m_, TAB, (int)VG_NF(TAB), (FCAN), h0, h1 | ((uint64_t)(G) << 16));   \
    }
#define VG_EMIT_CALL(G, FN) if (VG_HAS(G)) p = FN(p, r, masks[G], h0, h1 | ((uint64_t)(G) << 16))
/* the family emitters read the groups from masks (every group the family can change is defined, zero when
 * unchanged): gm only says that something changed */
#undef VG_HAS
#define VG_HAS(G) (masks[G] != 0)
#define VG_EMIT_HEAD                                                                                       \
    uint8_t *p = out;                                                                                     \
    const uint64_t h0 = (uint64_t)(uint32_t)r->token | ((ts48 & 0xFFFFFFFFull) << 32);                   \
    const uint64_t h1 = ((ts48 >> 32) & 0xFFFFull) | ((uint64_t)VG_RB_CONTINUED << 24) | ((uint64_t)source << 48)
#define VG_EMIT_TAIL                                                                                       \
    if (p != out)                                                                                         \
        p[VG_RB_OFF_FLAGS - VG_RB_SIZE] = 0;      /* the update's last record */                           \
    return (long)((size_t)(p - out) / VG_RB_SIZE)

/* A family emitter: the signature every vg_emit_fam_* shares; VG_INLINED ones are folded into their merge,
 * VG_OUT_OF_LINE ones are called (one copy however many merges use them). */
#define VG_INLINED inline __attribute__((always_inline))
#define VG_OUT_OF_LINE __attribute__((noinline, unused))
#define VG_EMIT_FAMILY(NAME, HOW)                                                                          \
    static HOW long NAME(uint8_t *out, const vg_srec_t *r, const uint16_t *masks, uint32_t gm,             \
                         uint16_t source, uint64_t ts48)

/* 7202 / 17202 / 18703: trade (ticker fields), open interest, identity (a new token).  Inlined into the
 * merge (tick and market watch): no call, no register saves for the commonest updates. */
VG_EMIT_FAMILY(vg_emit_fam_tick, VG_INLINED) {
    VG_EMIT_HEAD;
    VG_EMIT_FC(VG_G_TRADE, VG_F_TRADE, VG_TF_TICK, vg_emit_trade)
    VG_EMIT_FC(VG_G_OI, VG_F_OI, ~0u, vg_emit_oi)
    VG_EMIT_CALL(VG_G_IDENT, vg_emit_ident);
    VG_EMIT_TAIL;
}

/* 7201 / 17201: trade (LTP, LTT), level 0 of each side, market watch, open interest, identity. */
VG_EMIT_FAMILY(vg_emit_fam_mw, VG_INLINED) {
    VG_EMIT_HEAD;
    VG_EMIT_FC(VG_G_TRADE, VG_F_TRADE, VG_TF_MW, vg_emit_trade)
    VG_EMIT_FC(VG_G_BID, VG_F_BID, VG_DF_MW, vg_emit_bid)
    VG_EMIT_FC(VG_G_ASK, VG_F_ASK, VG_DF_MW, vg_emit_ask)
    VG_EMIT_FC(VG_G_MW, VG_F_MW, ~0u, vg_emit_mw)
    VG_EMIT_FC(VG_G_OI, VG_F_OI, ~0u, vg_emit_oi)
    VG_EMIT_CALL(VG_G_IDENT, vg_emit_ident);
    VG_EMIT_TAIL;
}

/* 7200 / 7208: trade (no ticker fields), both sides (out-of-line kernels), OHLC, status, auction, SPOS
 * (the pre-open reset), open interest (IV), identity. */
VG_EMIT_FAMILY(vg_emit_fam_md, VG_OUT_OF_LINE) {
    VG_EMIT_HEAD;
    VG_EMIT_FC(VG_G_TRADE, VG_F_TRADE, VG_TF_MD, vg_emit_trade)
    VG_EMIT_SIDE(VG_G_BID, bid)
    VG_EMIT_SIDE(VG_G_ASK, ask)
    VG_EMIT_FC(VG_G_OHLC, VG_F_OHLC, ~0u, vg_emit_ohlc)
    VG_EMIT_FC(VG_G_STATUS, VG_F_STATUS, ~0u, vg_emit_status)
    VG_EMIT_FC(VG_G_AUCTION, VG_F_AUCTION, ~0u, vg_emit_auction)
    VG_EMIT_CALL(VG_G_SPOS, vg_emit_spos);
    VG_EMIT_CALL(VG_G_OI, vg_emit_oi);
    VG_EMIT_CALL(VG_G_IDENT, vg_emit_ident);
    VG_EMIT_TAIL;
}

/* CM 7210: SPOS statistics (three records when all change), identity.  Inlined into the merge. */
VG_EMIT_FAMILY(vg_emit_fam_spos, VG_INLINED) {
    VG_EMIT_HEAD;
    VG_EMIT_FC(VG_G_SPOS, VG_F_SPOS, ~0u, vg_emit_spos)
    VG_EMIT_CALL(VG_G_IDENT, vg_emit_ident);
    VG_EMIT_TAIL;
}

/* F&O 7210 / 7320, CM 18130 / 18707: volume and open (the indicative ones, cleared when the pre-open ends),
 * status, SPOS (the pre-open reset), identity.  Inlined into the merge. */
VG_EMIT_FAMILY(vg_emit_fam_status, VG_INLINED) {
    VG_EMIT_HEAD;
    VG_EMIT_FC(VG_G_TRADE, VG_F_TRADE, VG_TF_STATUS, vg_emit_trade)
    VG_EMIT_FC(VG_G_OHLC, VG_F_OHLC, ~0u, vg_emit_ohlc)
    VG_EMIT_FC(VG_G_STATUS, VG_F_STATUS, ~0u, vg_emit_status)
    VG_EMIT_CALL(VG_G_SPOS, vg_emit_spos);
    VG_EMIT_CALL(VG_G_IDENT, vg_emit_ident);
    VG_EMIT_TAIL;
}

/* CM 18708: buy-back, identity (symbol). */
VG_EMIT_FAMILY(vg_emit_fam_buyback, VG_OUT_OF_LINE) {
    VG_EMIT_HEAD;
    VG_EMIT_FC(VG_G_BUYBACK, VG_F_BUYBACK, ~0u, vg_emit_buyback)
    VG_EMIT_CALL(VG_G_IDENT, vg_emit_ident);
    VG_EMIT_TAIL;
}

/* 6013: the open price (one record), identity (symbol). */
VG_EMIT_FAMILY(vg_emit_fam_open, VG_OUT_OF_LINE) {
    VG_EMIT_HEAD;
    VG_EMIT_FC(VG_G_OHLC, VG_F_OHLC, VG_FB(0), vg_emit_ohlc)
    VG_EMIT_CALL(VG_G_IDENT, vg_emit_ident);
    VG_EMIT_TAIL;
}

/* F&O 7130 / 17130 into the CM store: open interest, identity. */
VG_EMIT_FAMILY(vg_emit_fam_oi, VG_OUT_OF_LINE) {
    VG_EMIT_HEAD;
    VG_EMIT_FC(VG_G_OI, VG_F_OI, ~0u, vg_emit_oi)
    VG_EMIT_CALL(VG_G_IDENT, vg_emit_ident);
    VG_EMIT_TAIL;
}

/* Index records (7207 / 7216 / 8207) and anything else: every group. */
VG_EMIT_FAMILY(vg_emit_fam_any, VG_OUT_OF_LINE) {
    (void)gm;
    return vg_emit_sel(out, r, masks, vg_groups_changed(masks), ~0u, source, ts48, 0);
}
#undef VG_EMIT_FAMILY
#undef VG_INLINED
#undef VG_OUT_OF_LINE
#undef VG_EMIT_FC
#undef VG_EMIT_SIDE
#undef VG_HAS
#undef VG_EMIT_CALL
#undef VG_EMIT_HEAD
#undef VG_EMIT_TAIL

#undef VG_FB

#endif /* VEGA_STORE_H */
