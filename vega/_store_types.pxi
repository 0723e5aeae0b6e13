# The consolidated store: record, shared-memory header, lookup, change-record groups, record sinks and the
# feed handler's state.  Included at the end of _core.pxd; implemented in _store.pxi.  The C definitions
# (with _Static_asserts on every offset that matters) live in vega/_store.h; docs/FORMATS.md is normative.

cdef extern from "_store.h":
    ctypedef struct vg_srec_t:
        # line 0 [0, 64): everything a ticker touches but its quality inputs (line 1) and F&O OI (line 4)
        uint32_t seq                   # sequence lock: odd while the writer is inside the record
        int32_t token
        int64_t last_md_ns             # receive time of the last 7200/7208 merge, epoch ns
        int32_t last_traded_price      # paise
        int32_t last_trade_quantity
        int32_t last_trade_time        # s since 1980
        int16_t market_type            # ticker MarketType
        int16_t trading_status         # 1 pre-open, 2 open, 3 suspended, 4 pre-open extended, 6 price discovery
        int64_t volume_traded_today
        int64_t last_update_ns         # receive time of the last merge, epoch ns
        uint32_t update_count          # merges applied to this token
        uint16_t last_update_source    # message code of the last merge
        uint8_t data_quality           # 0..100
        uint8_t segment                # VG_SEG_CM / VG_SEG_FO
        int32_t fill_price             # paise (ticker)
        int32_t fill_volume            # ticker
        # line 1 [64, 128): book prices, OHLC
        int32_t bid_price[5]           # paise, level 0 best
        int32_t ask_price[5]
        int32_t open_price
        int32_t high_price
        int32_t low_price
        int32_t close_price            # previous close
        int32_t indicative_close_price # CM 7208
        int16_t bb_total_buy_flag
        int16_t bb_total_sell_flag
        # lines 2-3 [128, 256): quantities, orders, totals, status
        int64_t bid_quantity[5]
        int64_t ask_quantity[5]
        int64_t total_buy_quantity
        int64_t total_sell_quantity
        int16_t bid_orders[5]
        int16_t ask_orders[5]
        int16_t book_type              # 7200/7208
        int16_t market_status[4]       # FO 7210, one per market
        uint8_t indicator              # 0x80 LTMore, 0x40 LTLess, 0x20 buy, 0x10 sell
        uint8_t mw_indicator
        # line 4 [256, 320): market watch, OI/IV, flags
        int64_t mw_buy_volume
        int64_t mw_sell_volume
        int32_t mw_buy_price
        int32_t mw_sell_price
        int32_t mw_last_trade_price
        int32_t mw_last_trade_time
        int64_t open_interest
        int64_t oi_day_high
        int64_t oi_day_low
        int32_t implied_volatility     # 1e-4 units
        char net_change_indicator      # '+', '-', ' ' (7200/7208)
        uint8_t valid
        uint8_t subscribed
        uint8_t buyback_active
        # line 5 [320, 384): auction, SPOS
        int16_t auction_number
        int16_t auction_status
        int16_t initiator_type
        int16_t _pad0
        int32_t initiator_price
        int32_t initiator_quantity
        int32_t auction_price
        int32_t auction_quantity
        int64_t buy_ord_cxl_count
        int64_t buy_ord_cxl_vol
        int64_t sell_ord_cxl_count
        int64_t sell_ord_cxl_vol
        int32_t spos_update_time       # s since 1980 (LogTime of the 7210)
        int32_t bb_start_date
        # line 5 of an index record (segment VG_SEG_IDX): a C union over the auction and SPOS fields above
        int32_t idx_percent_change     # 7207/7216 PercentChange as sent
        int32_t idx_yearly_high        # x 100
        int32_t idx_yearly_low
        int32_t idx_upmoves
        int32_t idx_downmoves
        int32_t idx_ind_change         # 8207 Change, x 100
        double idx_market_cap          # MarketCapitalisation as sent
        int32_t idx_ind_percent_change # 8207 PercentChange as sent
        int32_t idx_wire_stride        # 72 (wire) or 71 (document)
        # line 6 [384, 448): buy-back, identity, 7200/7208-only trade fields
        int64_t pday_cum_vol
        int64_t cday_cum_vol
        int32_t pday_high_price
        int32_t pday_low_price
        int32_t pday_wt_avg
        int32_t cday_high_price
        int32_t cday_low_price
        int32_t cday_wt_avg
        int32_t bb_end_date
        char symbol[10]                # blank-padded
        char series[2]
        int32_t net_price_change       # paise (7200/7208)
        int32_t average_trade_price    # paise (7200/7208)

    ctypedef struct vg_store_hdr_t:    # first 128 bytes of the shared-memory file
        uint64_t magic
        uint32_t version
        uint32_t header_size
        uint32_t record_size
        uint32_t capacity
        uint32_t dense_size
        uint32_t hash_size
        uint64_t dense_off
        uint64_t hash_off
        uint64_t records_off
        uint64_t file_size
        uint32_t n_records             # release-published by the writer
        uint32_t writer_pid
        int64_t stale_ns
        int64_t day_base_ns            # epoch ns of 00:00 IST of the trading day, 0 until known
        int64_t created_ns
        uint8_t segment

    ctypedef struct vg_hslot_t:        # overflow hash slot; index < 0 = empty
        int32_t token
        int32_t index

    ctypedef struct vg_fld_t:          # one field of a change-record group
        uint16_t off
        uint8_t size
        uint8_t is_signed

    enum:
        VG_STORE_MAGIC
        VG_STORE_VERSION
        VG_STORE_PAGE
        VG_G_NONE
        VG_G_TRADE                     # LTP, LTQ, LTT, volume, net change, ATP, fill, indicators, market type
        VG_G_BID                       # bid price[5], quantity[5], orders[5]
        VG_G_ASK
        VG_G_OHLC                      # OHLC, indicative close, totals, buy-back total flags
        VG_G_STATUS                    # book type, trading status, market status[4]
        VG_G_MW                        # market watch
        VG_G_AUCTION
        VG_G_SPOS
        VG_G_BUYBACK
        VG_G_OI                        # open interest, day high/low, implied volatility
        VG_G_IDENT                     # symbol, series, segment, subscribed
        VG_G_INDEX                     # index statistics (index records only)
        VG_N_GROUPS

    const vg_fld_t* VG_GROUP_FIELDS[13]
    const uint8_t VG_GROUP_NFIELDS[13]

    uint32_t vg_load_acquire_u32(const uint32_t* p) noexcept nogil
    void vg_store_release_u32(uint32_t* p, uint32_t v) noexcept nogil
    int32_t vg_load_acquire_i32(const int32_t* p) noexcept nogil
    void vg_store_release_i32(int32_t* p, int32_t v) noexcept nogil
    void vs_write_begin(vg_srec_t* r) noexcept nogil
    void vs_write_end(vg_srec_t* r) noexcept nogil
    int vs_read_copy(const vg_srec_t* r, vg_srec_t* out) noexcept nogil
    int vs_read_i32(const vg_srec_t* r, const int32_t* field, int32_t* out) noexcept nogil
    int vs_read_copy_n(const vg_srec_t* r, vg_srec_t* out, uint32_t limit) noexcept nogil
    int vs_read_i32_n(const vg_srec_t* r, const int32_t* field, int32_t* out, uint32_t limit) noexcept nogil
    uint32_t VG_SPIN_GIL
    uint32_t VG_SPIN_MERGE
    int64_t vg_fld_get(const vg_srec_t* r, const vg_fld_t* f) noexcept nogil
    void vg_fld_set(vg_srec_t* r, const vg_fld_t* f, int64_t v) noexcept nogil


# Field bits of the groups that the merge functions write (bit i = field i of VG_GROUP_FIELDS[group]).
cdef enum:
    # VG_G_TRADE
    VG_T_LTP = 1 << 0
    VG_T_LTQ = 1 << 1
    VG_T_LTT = 1 << 2
    VG_T_VOLUME = 1 << 3
    VG_T_NET_CHANGE = 1 << 4
    VG_T_NET_CHANGE_IND = 1 << 5
    VG_T_ATP = 1 << 6
    VG_T_FILL_PRICE = 1 << 7
    VG_T_FILL_VOLUME = 1 << 8
    VG_T_INDICATOR = 1 << 9
    VG_T_MARKET_TYPE = 1 << 10
    # VG_G_BID / VG_G_ASK: price i = bit i, quantity i = bit 5 + i, orders i = bit 10 + i
    VG_D_PRICE0 = 1 << 0
    VG_D_QTY0 = 1 << 5
    VG_D_ORDERS0 = 1 << 10
    # VG_G_OHLC
    VG_O_OPEN = 1 << 0
    VG_O_HIGH = 1 << 1
    VG_O_LOW = 1 << 2
    VG_O_CLOSE = 1 << 3
    VG_O_IND_CLOSE = 1 << 4
    VG_O_TOTAL_BUY = 1 << 5
    VG_O_TOTAL_SELL = 1 << 6
    VG_O_BB_BUY = 1 << 7
    VG_O_BB_SELL = 1 << 8
    # VG_G_STATUS
    VG_S_BOOK_TYPE = 1 << 0
    VG_S_TRADING_STATUS = 1 << 1
    VG_S_MARKET_STATUS0 = 1 << 2
    # VG_G_MW
    VG_M_BUY_VOLUME = 1 << 0
    VG_M_BUY_PRICE = 1 << 1
    VG_M_SELL_VOLUME = 1 << 2
    VG_M_SELL_PRICE = 1 << 3
    VG_M_LTP = 1 << 4
    VG_M_LTT = 1 << 5
    VG_M_INDICATOR = 1 << 6
    # VG_G_SPOS: bits 0-3 the four statistics, bit 4 the update time
    VG_P_ALL = 0x1F
    # VG_G_BUYBACK: bits 0-10
    VG_BB_ALL = 0x7FF
    # VG_G_OI
    VG_I_OI = 1 << 0
    VG_I_HIGH = 1 << 1
    VG_I_LOW = 1 << 2
    VG_I_IV = 1 << 3
    # VG_G_IDENT
    VG_ID_SYMBOL = 0x7                 # three raw words: symbol[0:4], symbol[4:8], symbol[8:10] + series
    VG_ID_SEGMENT = 1 << 3
    VG_ID_SUBSCRIBED = 1 << 4
    # VG_G_AUCTION: bits 0-6
    VG_A_ALL = 0x7F
    # VG_G_INDEX
    VG_X_PERCENT = 1 << 0
    VG_X_YEARLY_HIGH = 1 << 1
    VG_X_YEARLY_LOW = 1 << 2
    VG_X_UPMOVES = 1 << 3
    VG_X_DOWNMOVES = 1 << 4
    VG_X_IND_CHANGE = 1 << 5
    VG_X_MARKET_CAP = 1 << 6
    VG_X_IND_PERCENT = 1 << 7
    VG_X_STRIDE = 1 << 8


# ----------------------------------------------------------------------------------------------------------
# Store handle (process-local), record buffer and sinks, merge context, feed-handler counters
# ----------------------------------------------------------------------------------------------------------

cdef struct vg_opt_t:                 # one option of the store, for the implied volatility in the merge
    int64_t expiry_unix_s              # unix seconds of 14:30 IST on the expiry date
    int32_t strike_paise               # strike, paise
    int32_t future_rec                 # record index of the same-symbol same-expiry future, -1 if none
    int32_t spot_rec                   # record index of the underlying in its spot store, -1 until found
    int32_t spot_token                 # the underlying's token there (contract.txt AssetToken), 0 if none
    uint8_t spot_idx                   # 1: the underlying is an index (OPTIDX): its spot store is idx_st
    int32_t chain_lo                   # this (symbol, expiry)'s strikes are chain[chain_lo:chain_hi]
    int32_t chain_hi
    uint8_t is_call                    # 1 CE, 0 PE

cdef struct vg_chain_t:                # one strike of a (symbol, expiry) option chain, strike-sorted
    int32_t strike_paise               # strike, paise
    int32_t call_rec                   # record index of the call at this strike, -1 if none
    int32_t put_rec                    # record index of the put, -1 if none

cdef struct vg_store_t                 # forward declaration (defined below)

cdef struct vg_optmeta_t:              # process-local option metadata of a store (Store.load_instruments)
    int32_t* opt_of_rec                # capacity entries: index into opts, -1 for non-options
    vg_opt_t* opts                     # n_opts options
    vg_chain_t* chain                  # n_chain strikes, grouped by (symbol, expiry), each group sorted
    int32_t n_opts
    int32_t n_chain
    vg_store_t* spot_st                # store holding the stock underlyings (may be this store), NULL if none
    vg_store_t* idx_st                 # the index feed's store holding the index underlyings, NULL if none

cdef struct vg_store_t:
    uint8_t* base                      # start of the mapping (header at offset 0)
    size_t map_size
    vg_store_hdr_t* hdr
    int32_t* dense                     # dense_size entries: record index or -1
    vg_hslot_t* hash                   # hash_size slots (open addressing, linear probing)
    vg_srec_t* recs                    # capacity records, 64-byte aligned
    uint32_t capacity
    uint32_t dense_size
    uint32_t hash_mask                 # hash_size - 1
    uint8_t writable                   # 1 for the one writer (create / in-process)
    vg_optmeta_t* opt                  # option metadata for the IV in the merge; NULL = no instruments

ctypedef int (*vg_rec_sink_fn)(void* ctx, const vg_rec_t* recs, Py_ssize_t n) noexcept nogil

cdef enum:
    VG_MAX_REC_SINKS = 8               # C-level record sinks per feed handler (ring, journal, ...)
    VG_RECS_PER_UPDATE_MAX = 64        # upper bound of the records one token update can emit
    VG_SINK_FLUSH = 4096               # hand records to the C sinks at least every this many

cdef struct vg_rec_sink_t:
    vg_rec_sink_fn fn
    void* ctx

cdef struct vg_recbuf_t:               # change records of the current batch
    vg_rec_t* recs
    Py_ssize_t n                       # records in the buffer
    Py_ssize_t cap
    Py_ssize_t flushed                 # records already handed to the C sinks

cdef enum:                             # merge-level counters (FeedHandler.stats["merge"])
    VG_M_MERGED = 0                    # token updates applied
    VG_M_BAD_TOKEN = 1                 # token <= 0
    VG_M_STORE_FULL = 2                # a new token did not fit: the store is at capacity
    VG_M_UNSUBSCRIBED = 3              # skipped: subscribed-only mode and the token is not subscribed
    VG_M_BOOK_TYPE = 4                 # 7200/7208 record of a book type other than 1 (RL) or 2 (ST)
    VG_M_REC_DROPPED = 5               # change records lost because the record buffer could not grow
    VG_M_SINK_ERRORS = 6               # a C record sink returned non-zero
    VG_M_UNROUTED = 7                  # index / OI message with no handler to merge it into (indices=, underlying=)
    VG_M_INDEX_NAME = 8                # index record with a blank name (skipped)
    VG_M_INDEX_BAD_NAME = 9            # index record whose name has a byte other than printable ASCII (skipped)
    VG_M_NOT_INDEX = 10                # index feed: a message other than an index one (fed CM datagrams directly)
    VG_N_MERR = 11

cdef enum:
    VG_IDX_KEY = 24                    # normalised index name, NUL-padded (21 wire characters at most)
    VG_IDX_MAP_SIZE = 1024             # slots of the name -> token table (power of two)
    VG_IDX_HASH_BASE = 0x40000000      # tokens of names not configured: VG_IDX_HASH_BASE | (FNV-1a & 0x3FFFFFFF)

cdef struct vg_idxent_t:               # one index name of the name -> token table
    char key[VG_IDX_KEY]               # normalised name (upper case, single spaces); key[0] == 0: empty slot
    char name[VG_IDX_KEY]              # the name as first seen or configured (trimmed)
    int32_t token
    uint32_t hash                      # FNV-1a of key

cdef struct vg_idxmap_t:               # index name -> stable NFO_IDX token (docs/FORMATS.md "Index tokens")
    vg_idxent_t ent[VG_IDX_MAP_SIZE]
    int32_t n                          # names in the table
    uint64_t overflow                  # names merged under their hashed token without a table slot (table full)

cdef struct vg_streams_t:              # BCSeqNo gap detection per stream (Filler2[0])
    int32_t last[256]                  # last BCSeqNo seen, 0 = none yet
    uint64_t messages[256]
    uint64_t gaps[256]                 # times a sequence number was skipped
    uint64_t missed[256]               # sequence numbers skipped in all
    uint64_t out_of_order[256]         # a number <= the last one (duplicate, late, or stream restart)
    int32_t down_last[256]             # a restart (resume_streams): the last BCSeqNo before it, 0 = none
    int32_t down_first[256]            # ... and the stream's first one after it, 0 = not heard yet
    uint64_t missed_down[256]          # sequence numbers skipped between those two (sent while down)

cdef struct vg_merge_t:                # everything a merge function needs
    vg_store_t* st
    vg_recbuf_t* out                   # NULL: emit no change records
    int64_t now_ns                     # receive time of the datagram being merged, epoch ns
    uint64_t ts48                      # now_ns as ns since 00:00 IST
    int64_t md_stale_ns                # 7200/7208 older than this are stale for MW / ticker
    uint8_t segment
    uint8_t subscribed_only
    double rate                        # continuously compounded rate of the IV's discounting and spot carry
    vg_idxmap_t* idxmap                # index feed (segment VG_SEG_IDX): index name -> token; else NULL
    uint64_t counters[VG_N_MERR]       # by VG_M_* counter
    uint64_t by_code[VG_N_CODE_SLOTS]  # messages merged per code slot (vg_code_slot)


cdef class Store:
    cdef vg_store_t _st
    cdef int _fd                       # writer of a named store: its lock descriptor (an open file of its
                                       # own, holding the flock; Store.create), else -1
    cdef readonly object name          # None for an in-process store
    cdef object _path
    cdef object _file_id               # (st_dev, st_ino) of the mapped file; None in-process (see .replaced)
    cdef int _exports                  # numpy views alive (close() refuses while > 0)
    cdef int _inuse                    # calls inside a nogil loop over this store (close() and
                                       # load_instruments() refuse while > 0); changed with the GIL held
    cdef int _writing                  # calls writing this store's records without the GIL (a FeedHandler
                                       # call, new_day, apply_records): the sequence lock has one writer, so
                                       # every other write refuses while > 0; changed with the GIL held
    cdef object _spot_store            # (spot_store, index_store) of load_instruments: kept alive, or None
    cdef int _n_options                # options with IV metadata (load_instruments)
    cdef object __weakref__            # (_WRITERS: a forked child drops the lock)
    cdef void _free_opt(self) noexcept
    cdef int _swap_opt(self, vg_optmeta_t* om, object spot, int32_t n_opt) except -1
    cdef void _detach(self) noexcept
    cdef int _check_open(self) except -1
    cdef int _check_writable(self) except -1
    cdef int _check_sole_writer(self) except -1
    cdef _map_new(self, capacity, dense_tokens, stale_ns, int fd)
    cdef _attach(self, int writable)
    cdef int32_t _index(self, token) except -2
    cdef void _use(self, int delta) noexcept
    cdef bint _read_slow(self, int32_t idx, vg_srec_t* out, int32_t* ltp) except -1
    cdef int _keyframes(self, vg_recbuf_t* b, uint64_t ts) except -1


cdef struct vg_feed_t                  # forward declaration (defined below)

cdef struct vg_feed_t:                # the feed handler's nogil state (the decoder sink's context)
    vg_merge_t m
    vg_feed_t* route_index             # CM: the index feed's state (FeedHandler indices=), index messages go there
    vg_feed_t* route_oi                # FO: the CM feed's state (FeedHandler underlying=), 7130/17130 go there
    vg_streams_t streams
    vg_recbuf_t buf
    vg_rec_sink_t sinks[VG_MAX_REC_SINKS]
    int n_sinks
    uint8_t keep                       # 1: keep the batch's records for the Python callback
    uint64_t records                   # change records emitted in all
    int64_t day_base_ns                # != 0: ts48 = now - this (00:00 IST of the journal's trading day, so
                                       # stamps run past 24 h until the journal rolls over); 0: ts48 wraps
                                       # at 00:00 IST
    const vg_msg_t* pend               # the decoded message not merged yet (one behind the decoder: its store
                                       # records are prefetched meanwhile); NULL = none; _feed_flush merges it
    int64_t pend_now_ns                # its receive time (the datagram it came in) ...
    uint64_t pend_ts48                 # ... and that time's 48-bit stamp


cdef struct vg_jsink_t:                # the journal as a record sink of the FeedHandler
    void* w                            # jrnl_writer_t* of the JournalWriter (vega/_journal.pxd)
    vg_rec_t* pending                  # records refused because the trading day ended: appended with the GIL
    Py_ssize_t n_pending
    Py_ssize_t cap_pending
    int failed                         # 1: jrnl_append reported an I/O error; 2: out of memory

cdef class FeedHandler:
    cdef vg_feed_t _f
    cdef object _ring                  # vega.Ring the change records are published to, or None
    cdef int _ring_feed                # its slot: 0 NSE_FO, 1 NSE_EQ, 2 NFO_IDX
    cdef bint _closed                  # close() was called: every merging call raises
    cdef object _journal               # vega.JournalWriter the change records are journaled to, or None
    cdef vg_jsink_t _jsink             # journal sink state (w == NULL without a journal)
    cdef object _jdate                 # the journal's trading date the stamps are relative to
    cdef void* _ring_slot              # ring_slot_t* held while publishing (NULL without a ring)
    cdef vg_decoder_t* _dec            # owned by _decoder
    cdef object _decoder               # the Decoder whose state this handler drives
    cdef readonly Store store
    cdef object _on_records
    cdef FeedHandler _indices          # CM: the IDX FeedHandler index messages are merged by, or None
    cdef FeedHandler _underlying       # FO: the CM FeedHandler 7130/17130 open interest is merged by, or None
    cdef object _linked_by             # weakref.ref to the FeedHandler routing messages to this one, or None
                                       # (free again once that one is closed or gone)
    cdef int _busy                     # 1 while a call (or a linked handler's call) is inside the nogil loop
    cdef int _jhold                    # 1 while this handler's call holds its JournalWriter (_begin .. _finish)
    cdef vg_idxmap_t* _idxmap          # IDX: the name -> token table (owned)
    cdef object __weakref__            # (_linked_by of the handler it routes to)
    cdef int add_record_sink(self, vg_rec_sink_fn fn, void* ctx) except -1
    cdef _set_journal(self, journal)
    cdef _finish(self, list group=*)
    cdef _finish_one(self)
    cdef _journal_after_batch(self)
    cdef _journal_times(self, int64_t t_min, int64_t t_max)
    cdef _begin(self, list group=*)
    cdef _begin_one(self)
    cdef int _hold_journal(self, list group) except -1
    cdef void _release_journal(self) noexcept
    cdef _set_index_tokens(self, index_tokens)
    cdef _link(self, indices, underlying)
    cdef list _group(self)
    cdef Py_ssize_t _checkpoint(self, int64_t ts) except -1
    cdef int _check_usable(self) except -1


# capperf prototype (vega/_feedbuf.pxi): FeedHandler fed from C buffers, for vega._net.BatchReceiver.feed
cdef Py_ssize_t vg_feed_buffers(FeedHandler h, const uint8_t* const* ptrs, const Py_ssize_t* lens,
                                const int64_t* times_ns, Py_ssize_t n) except -1
cdef Py_ssize_t vg_feed_mixed(tuple handlers, const int16_t* who, const uint8_t* const* ptrs,
                              const Py_ssize_t* lens, const int64_t* times_ns, Py_ssize_t n) except -1
