# cython: language_level=3
#
# vega._core — the contract of the hot path.
#
# Decoded NSE broadcast messages (host byte order, widened to one layout per message family so that one merge
# function serves CM and F&O alike), the decoder's error reasons and statistics, and the 32-byte change record
# carried by the ring and the journal.  Wire offsets: NSE's CM v6.3 / F&O v9.46; every struct here is
# described in docs/FORMATS.md.  Units: prices in paise (int32, as on the wire), quantities and volumes int64,
# times in seconds since 1980-01-01 unless a name says otherwise.

from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t


# ----------------------------------------------------------------------------------------------------------
# Segments, message codes, families
# ----------------------------------------------------------------------------------------------------------

cdef enum vg_segment:
    VG_SEG_CM = 4                      # capital market: cNetId / market-type byte 4
    VG_SEG_FO = 2                      # futures & options: cNetId / market-type byte 2
    VG_SEG_IDX = 3                     # the index feed NFO_IDX (not a wire value: indices arrive on CM)

cdef enum vg_code:
    VG_OPEN_PRICE = 6013               # SECURITY_OPEN_PRICE (CM: BCAST_HEADER, SHORT token; FO: MESSAGE_HEADER)
    VG_CIRCUIT = 6541                  # BC_CIRCUIT_CHECK: a bare header
    VG_MBO_MBP = 7200                  # BCAST_MBO_MBP_UPDATE: one security, MBO + MBP depth
    VG_MW = 7201                       # market watch round robin (CM ≤ 4, FO ≤ 5 records)
    VG_TICKER_FO = 7202                # F&O ticker (≤ 17 records, 32-bit OI)
    VG_ONLY_MBP = 7208                 # BCAST_ONLY_MBP (≤ 2 securities)
    VG_7210 = 7210                     # CM: call-auction order-cancel stats (SPOS); FO: security status pre-open
    VG_MW_ENH = 17201                  # F&O enhanced market watch (64-bit OI)
    VG_TICKER_FO_ENH = 17202           # F&O enhanced ticker (≤ 12 records, 64-bit OI)
    VG_TICKER_CM = 18703               # CM ticker and market index (≤ 28 records)
    VG_BUYBACK = 18708                 # CM buy-back information (≤ 6 records)
    VG_INDICES = 7207                  # CM BCAST_INDICES (≤ 6 index records, 72-byte wire / 71-byte document)
    VG_INDICES_VIX = 7216              # CM BCAST_INDICES_VIX (India VIX), same shape as 7207
    VG_INDICATIVE_INDICES = 8207       # CM BCAST_INDICATIVE_INDICES (last half hour), same framing as 7207
    VG_OI_CM = 7130                    # F&O MKT_MVMT_CM_OI_IN: OI per underlying (≤ 58, 32-bit OI)
    VG_OI_CM_ENH = 17130               # F&O ENHNCD_MKT_MVMT_CM_OI_IN (≤ 39, 64-bit OI)
    VG_STATUS_CHG = 7320               # F&O BCAST_STOCK_STATUS_CHG: security status, the F&O 7210 structure
    VG_SEC_STATUS = 18130              # CM BCAST_SECURITY_STATUS_CHG (≤ 25 records, 6 statuses each)
    VG_SEC_STATUS_PREOPEN = 18707      # CM BCAST_SECURITY_STATUS_CHG_PREOPEN, same structure as 18130

cdef enum vg_kind:                     # the decoded body's family = which member of vg_body_u is valid
    VG_K_NONE = 0                      # header only: 6541, and the codes counted, not decoded (vg_code_slot)
    VG_K_MD = 1                        # vg_md_t[]        7200, 7208 (CM and FO)
    VG_K_MW = 2                        # vg_mw_t[]        7201 (CM, FO), 17201
    VG_K_TICK = 3                      # vg_tick_t[]      18703, 7202, 17202
    VG_K_SPOS = 4                      # vg_spos_t[]      CM 7210
    VG_K_STATUS = 5                    # vg_status_t[]    FO 7210, 7320; CM 18130, 18707
    VG_K_BUYBACK = 6                   # vg_buyback_t[]   CM 18708
    VG_K_OPEN = 7                      # vg_open_price_t  6013
    VG_K_INDEX = 8                     # vg_index_t[]     CM 7207, 7216, 8207
    VG_K_OI = 9                        # vg_oi_t[]        FO 7130, 17130
    VG_K_STATE = 10                    # vg_state_t       6511/6521/6531/6571, CM 6583/6584, FO 6522; 7206: not merged

cdef enum:
    VG_MAX_MD = 2                      # 7208 records (7200 carries one)
    VG_MAX_MW = 5                      # FO 7201 / 17201 (CM 7201: 4)
    VG_MAX_TICK = 28                   # CM 18703 (FO 7202: 17, 17202: 12)
    VG_MAX_SPOS = 8                    # CM 7210
    VG_MAX_STATUS = 35                 # FO 7210 / 7320 (CM 18130 / 18707: 25)
    VG_MAX_BUYBACK = 6                 # CM 18708
    VG_MAX_INDEX = 6                   # CM 7207 / 7216 / 8207
    VG_MAX_OI = 58                     # FO 7130 (17130: 39)
    VG_DEPTH = 5                       # price levels per side
    VG_HEADER_LEN = 40                 # BCAST_HEADER / MESSAGE_HEADER
    VG_PREFIX_LEN = 8                  # bytes before the header in every sub-packet (byte 0 = market type)
    VG_LZO_OUT_MAX = 65536             # decompression buffer: nothing larger can come out of a UDP datagram


# ----------------------------------------------------------------------------------------------------------
# Decoder error reasons (each counted in vg_stats_t.errors[reason]; the sub-packet or datagram is skipped)
# ----------------------------------------------------------------------------------------------------------

cdef enum vg_err:
    VG_OK = 0
    VG_E_EMPTY = 1                     # datagram shorter than the 4-byte frame head, or iNoPackets <= 0
    VG_E_TRUNCATED = 2                 # a sub-packet's length field, prefix or header runs past the datagram
    VG_E_COMP_LEN = 3                  # iCompLen points past the end of the datagram
    VG_E_LZO = 4                       # corrupt LZO1Z stream (any decompressor error)
    VG_E_MSG_LENGTH = 5                # MessageLength < 40, past the data, or shorter than the code's fixed part
    VG_E_RECORDS = 6                   # NoOfRecords < 0, above the layout's maximum, or more than MessageLength holds
    VG_E_UNKNOWN_CODE = 7              # a transaction code this segment has no decoder for (counted, skipped)
    VG_E_PACKET_COUNT = 8              # iNoPackets promises more sub-packets than the datagram holds
    VG_E_SEGMENT = 9                   # the market-type byte names the other segment

cdef enum:                             # not a vg_err: Cython 3.0 takes no member of a named enum as an array
    VG_N_ERR = 10                      # dimension ("Array dimension not integer"), 3.1 does


# ----------------------------------------------------------------------------------------------------------
# Decoded messages
# ----------------------------------------------------------------------------------------------------------

cdef struct vg_header_t:               # BCAST_HEADER (or MESSAGE_HEADER for F&O 6013), PROTOCOL.md §2
    uint8_t market_type                # prefix byte 0: 4 CM, 2 FO
    uint8_t compressed                 # 1 when the sub-packet was LZO1Z-compressed
    uint8_t message_header             # 1 when the header is an interactive MESSAGE_HEADER (F&O 6013)
    uint8_t stream                     # Filler2[0]: broadcast machine / stream number (1..127)
    char alpha_char[2]                 # blank-padded
    uint16_t transaction_code          # 7200, 7208, ...
    int16_t error_code
    int32_t log_time                   # s since 1980-01-01
    int32_t bc_seq_no                  # per-stream broadcast sequence number (0 for MESSAGE_HEADER)
    int32_t trader_id                  # MESSAGE_HEADER only, else 0
    int64_t time_stamp2                # 8 bytes read as a big-endian integer
    uint16_t message_length            # bytes of the message including this header

cdef struct vg_indicator_t:            # ST_INDICATOR / MBO_MBP_INDICATOR / MBP_INDICATOR (byte 0 bits, §3.1)
    uint8_t last_trade_more            # 0x80
    uint8_t last_trade_less            # 0x40
    uint8_t buy                        # 0x20
    uint8_t sell                       # 0x10

cdef struct vg_mbo_t:                  # MBO_INFORMATION / ST_MBO_INFO, 18 bytes on the wire (CM and FO 7200)
    int32_t trader_id
    int32_t qty
    int32_t price                      # paise
    uint8_t mf                         # ST_MBO_MBP_TERMS bit 0x80: minimum fill
    uint8_t aon                        # ST_MBO_MBP_TERMS bit 0x40: all or none
    int32_t min_fill_qty

cdef struct vg_mbp_t:                  # MBP_INFORMATION: CM 16 B (64-bit qty), FO 7200 10 B, FO 7208 12 B
    int64_t quantity
    int32_t price                      # paise; -1 marks an ATO row in CM pre-open
    int16_t number_of_orders
    int16_t bb_buy_sell_flag           # CM and FO 7208 (0 none, 1 buy-back, 2 market maker, 3 both); FO 7200: 0

cdef struct vg_md_t:                   # one security of 7200 or 7208, CM or FO (§3.2, §3.3, §3.9, §3.10)
    int32_t token
    int16_t book_type                  # 1 RL, 2 ST, ... (FO 7200: only 1 and 2 are processed)
    int16_t trading_status             # 1 pre-open, 2 open, 3 suspended, 4 pre-open extended, 6 price discovery
    int64_t volume_traded_today        # FO 7208: VolTrdTodayExcdIndc already applied
    int32_t last_traded_price
    char net_change_indicator          # '+', '-' or blank
    char vol_trd_today_excd_indc       # FO 7208 only: '1' when the 32-bit volume wrapped
    int32_t net_price_change_from_closing_price
    int32_t last_trade_quantity
    int32_t last_trade_time
    int32_t average_trade_price
    int16_t auction_number
    int16_t auction_status
    int16_t initiator_type
    int32_t initiator_price
    int32_t initiator_quantity
    int32_t auction_price
    int32_t auction_quantity
    int16_t bb_total_buy_flag          # CM, FO 7208
    int16_t bb_total_sell_flag         # CM, FO 7208
    int64_t total_buy_quantity         # CM LONG LONG; FO DOUBLE rounded (NaN/inf/out of range -> 0)
    int64_t total_sell_quantity
    vg_indicator_t indicator
    int32_t closing_price
    int32_t open_price
    int32_t high_price
    int32_t low_price
    int32_t indicative_close_price     # CM 7208 only
    uint8_t n_mbo                      # 10 in 7200 (MBO buffer present), 0 in 7208
    vg_mbo_t mbo[10]                   # entries 0-4 buy, 5-9 sell (wire order)
    vg_mbp_t mbp[10]                   # entries 0-4 buy, 5-9 sell (wire order)

cdef struct vg_mw_info_t:              # MARKET WISE INFORMATION (CM 34 B, 64-bit volumes) / ST_MKT_WISE_INFO (FO 26 B)
    vg_indicator_t indicator
    int64_t buy_volume
    int32_t buy_price
    int64_t sell_volume
    int32_t sell_price
    int32_t last_trade_price           # pre-open: indicative open
    int32_t last_trade_time

cdef struct vg_mw_t:                   # one record of 7201 (CM, FO) / 17201
    int32_t token
    vg_mw_info_t market_wise_info[3]   # one per market type, wire order
    int64_t open_interest              # FO only (7201 UNSIGNED LONG, 17201 LONG LONG); CM 0

cdef struct vg_tick_t:                 # one record of CM 18703, FO 7202 / 17202
    int32_t token
    int16_t market_type
    int32_t fill_price
    int32_t fill_volume
    int32_t market_index_value         # CM 18703 only
    int64_t open_interest              # FO only
    int64_t day_hi_oi                  # FO only
    int64_t day_lo_oi                  # FO only

cdef struct vg_spos_t:                 # CM 7210 call-auction order-cancel statistics record
    int32_t token
    int64_t buy_ord_cxl_count
    int64_t buy_ord_cxl_vol
    int64_t sell_ord_cxl_count
    int64_t sell_ord_cxl_vol

cdef struct vg_status_t:               # FO 7210 / 7320, CM 18130 / 18707 TOKEN_AND_ELIGIBILITY record
    int32_t token
    int16_t status[6]                  # one per market: 1 pre-open, 2 open, 3 suspended, 4 pre-open ext, ...
                                       # (normal, odd lot, spot, auction; CM also call auction 1, 2; FO: 0)

cdef struct vg_buyback_t:              # CM 18708 record
    int32_t token
    char symbol[10]                    # blank-padded
    char series[2]
    double pday_cum_vol
    int32_t pday_high_price
    int32_t pday_low_price
    int32_t pday_wt_avg
    double cday_cum_vol
    int32_t cday_high_price
    int32_t cday_low_price
    int32_t cday_wt_avg
    int32_t start_date
    int32_t end_date

cdef struct vg_open_price_t:           # 6013 (CM: token SHORT @52; FO: token LONG @52, MESSAGE_HEADER)
    char symbol[10]
    char series[2]
    int32_t token
    int32_t opening_price

cdef struct vg_index_t:                # one record of CM 7207 / 7216 (INDICES) or 8207 (INDICATIVE INDICES)
    char index_name[21]                # blank-padded, e.g. "Nifty 50", "India VIX"; the key (no token on the wire)
    uint8_t wire_stride                # record stride it was read with: 72 (wire, pack-2) or 71 (document)
    char net_change_indicator          # '+', '-' or ' ' vs the previous index value
    int32_t index_value                # 7207/7216: index x 100
    int32_t high_index_value           # 7207/7216: x 100
    int32_t low_index_value            # 7207/7216: x 100
    int32_t opening_index              # 7207/7216: x 100 (pre-open: indicative)
    int32_t closing_index              # all: x 100 (previous close while open; today's after batch; 8207: 0 while open)
    int32_t percent_change             # all: vs previous close, scaling unverified (PROTOCOL_MORE §1.2)
    int32_t yearly_high                # 7207/7216: x 100
    int32_t yearly_low                 # 7207/7216: x 100
    int32_t no_of_upmoves              # 7207/7216: count
    int32_t no_of_downmoves            # 7207/7216: count
    int32_t indicative_close_value     # 8207 only: x 100
    int32_t change                     # 8207 only: indicative close - previous close, x 100
    double market_capitalisation       # all: DOUBLE as sent, units undocumented

cdef struct vg_oi_t:                   # one record of FO 7130 / 17130: open interest of an underlying
    int32_t token                      # the underlying's CM token (contract.txt AssetToken), not an F&O token
    int64_t current_oi                 # 7130 UNSIGNED LONG, 17130 LONG LONG

cdef struct vg_state_t:                # market-state broadcasts, counted and not merged (docs/FORMATS.md §1.5)
    int32_t token                      # F&O VCT: Token @40; CM: 0 (the CM message names a symbol, no token)
    char symbol[10]                    # VCT: CM @40, F&O @50 (SEC_INFO); blank-padded
    char series[2]                     # VCT: CM @50, F&O @60
    int16_t market_type                # VCT: 1 normal, 2 odd lot, 3 spot, 4 auction (CM: 5, 6 call auction 1, 2)
    int16_t text_length                # VCT: BroadcastMessageLength as sent
    int16_t text_read                  # bytes of text read: the CHAR[240] (F&O 239), or what MessageLength holds
    char text[240]                     # VCT: BroadcastMessage, CM @58, F&O @80
    int16_t status[12]                 # 7206: CM 6 markets @40; F&O normal, exercise, PL markets x 4 from @40, @48,
                                       # @56 (values: 0 pre-open, 1 open, 2 closed, 3 pre-open ended, F&O 4 post-close)

cdef union vg_body_u:
    vg_md_t md[VG_MAX_MD]
    vg_mw_t mw[VG_MAX_MW]
    vg_tick_t tick[VG_MAX_TICK]
    vg_spos_t spos[VG_MAX_SPOS]
    vg_status_t status[VG_MAX_STATUS]
    vg_buyback_t buyback[VG_MAX_BUYBACK]
    vg_open_price_t open_price
    vg_index_t index[VG_MAX_INDEX]
    vg_oi_t oi[VG_MAX_OI]
    vg_state_t state

cdef struct vg_msg_t:                  # one decoded message: the input of the merge functions
    vg_header_t header
    uint8_t segment                    # VG_SEG_CM / VG_SEG_FO (the decoder's, not the wire's)
    uint8_t kind                       # vg_kind: which member of body is valid
    uint16_t n_records                 # records valid in body (1 for 7200 and 6013, 0 for VG_K_NONE)
    int8_t code_slot                   # vg_code_slot(header.transaction_code), -1 for none: set once by the
                                       # decoder (or _fill_msg) for both per-code counts (it sits in padding)
    vg_body_u body


# ----------------------------------------------------------------------------------------------------------
# Decoder statistics
# ----------------------------------------------------------------------------------------------------------

cdef enum:
    VG_N_MERGED_SLOTS = 19             # slots 0..18: the decoded codes (6541 included)
    VG_FIRST_CM_ONLY_SLOT = 28         # 19..27 counted in both segments, 28..35 CM only, 36..42 F&O only:
    VG_FIRST_FO_ONLY_SLOT = 36         # the documented codes counted, not decoded (docs/FORMATS.md §1.5)
    VG_N_CODE_SLOTS = 43               # per-code message counters, slot = vg_code_slot(code)

cdef struct vg_stats_t:
    uint64_t datagrams
    uint64_t packets                   # sub-packets walked
    uint64_t compressed                # of which LZO1Z-compressed
    uint64_t messages                  # messages decoded and handed on
    uint64_t bytes_in                  # datagram bytes
    uint64_t bytes_decompressed        # LZO1Z output bytes
    uint64_t errors[VG_N_ERR]          # by vg_err reason
    uint64_t by_code[VG_N_CODE_SLOTS]  # messages per code slot (codes no document names: errors only)


# ----------------------------------------------------------------------------------------------------------
# Change record: 32 bytes, little-endian, the unit of the ring and the journal (docs/FORMATS.md)
# ----------------------------------------------------------------------------------------------------------

cdef enum:
    VG_REC_SIZE = 32
    VG_REC_CONTINUED = 0x01            # flags: more records of the same store update follow
    VG_REC_KEYFRAME = 0x02             # flags: part of a full-state checkpoint, not a live change
    VG_REC_CHECKPOINT_END = 0x04       # flags: the last record of a journal checkpoint (set by the journal)

cdef packed struct vg_rec_t:
    uint32_t token
    uint32_t ts_lo                     # ts48 = ts_lo | ts_hi << 32: ns since 00:00 IST of the trading day
    uint16_t ts_hi
    uint8_t group                      # field group (docs/FORMATS.md)
    uint8_t flags                      # VG_REC_CONTINUED, VG_REC_KEYFRAME
    uint16_t mask                      # which fields of the group the slots hold, ascending bit order
    uint16_t source                    # message code that caused the update
    int32_t slots[4]                   # absolute values; a 64-bit field takes two slots (low, high)


cdef inline uint64_t vg_rec_ts(const vg_rec_t* r) noexcept nogil:
    return <uint64_t>r.ts_lo | (<uint64_t>r.ts_hi << 32)

cdef inline void vg_rec_set_ts(vg_rec_t* r, uint64_t ts_ns) noexcept nogil:
    r.ts_lo = <uint32_t>(ts_ns & 0xFFFFFFFFu)
    r.ts_hi = <uint16_t>((ts_ns >> 32) & 0xFFFFu)


# ----------------------------------------------------------------------------------------------------------
# Decoder entry points (implemented in _decode.pxi, part of this module)
# ----------------------------------------------------------------------------------------------------------

# A sink returns 0, or 1 when it keeps the message until its next call returns (the decoder then decodes
# the next message into its other buffer): the feed handler merges one message behind the decoder, so that
# the store records of a message are prefetched while the next one is decompressed and decoded.
ctypedef int (*vg_msg_sink)(void* ctx, const vg_msg_t* msg) noexcept nogil

cdef struct vg_decoder_t:
    uint8_t segment                    # VG_SEG_CM / VG_SEG_FO
    uint8_t cur                        # the msg buffer the next message is decoded into (0 / 1)
    vg_stats_t stats
    vg_msg_t msg[2]                    # switched after a message the sink keeps (see vg_msg_sink)
    uint8_t* lzo_out                   # VG_LZO_OUT_MAX bytes, reused per sub-packet

cdef int vg_code_slot(uint16_t code) noexcept nogil
# skipped (NULL: none) is called, with the same ctx, for a message counted as an error after a sound header
# (MessageLength within the data): msg.header only (kind VG_K_NONE, no records), for the sequence tracking
cdef int vg_decode_datagram(vg_decoder_t* dec, const uint8_t* data, Py_ssize_t length,
                            vg_msg_sink sink, vg_msg_sink skipped, void* ctx) noexcept nogil
include "_store_types.pxi"
