# NSE NNF broadcast decoder: frame walk, LZO1Z, BCAST_HEADER, one decoder per (segment, code).
#
# Included by _core.pyx (one compilation unit with the store, so the batch loop inlines everything).
# Offsets are NSE's published tables (CM v6.3, F&O v9.46; our PROTOCOL.md notes §1-§3, see docs/FORMATS.md),
# "absolute" = from the start of the 40-byte header.  Nothing here trusts a length from the wire: every read is
# checked against the bytes that are really there, once, before the fixed-offset reads of a layout.

from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from vega._lzo cimport lzo1z_decompress

cdef extern from *:
    """
    #include <string.h>
    #include <stdint.h>
    #include <math.h>
    /* Big-endian loads from unaligned wire bytes: memcpy + bswap compile to one mov + bswap (or movbe). */
    static inline uint16_t vg_be_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return __builtin_bswap16(v); }
    static inline int16_t  vg_be_i16(const uint8_t *p) { return (int16_t)vg_be_u16(p); }
    static inline uint32_t vg_be_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return __builtin_bswap32(v); }
    static inline int32_t  vg_be_i32(const uint8_t *p) { return (int32_t)vg_be_u32(p); }
    static inline int64_t  vg_be_i64(const uint8_t *p) {
        uint64_t v; memcpy(&v, p, 8); return (int64_t)__builtin_bswap64(v); }
    static inline double   vg_be_f64(const uint8_t *p) {
        uint64_t v; double d; memcpy(&v, p, 8); v = __builtin_bswap64(v); memcpy(&d, &v, 8); return d; }
    /* An F&O DOUBLE quantity as int64: rounded half away from zero; NaN, infinities and values outside
       int64 become 0.  Inline (no libm call): below 2^52 adding 0.5 is exact; from 2^52 on every double is
       already an integer. */
    static inline int64_t  vg_be_f64_qty(const uint8_t *p) {
        double d = vg_be_f64(p);
        if (!(d > -9.2e18 && d < 9.2e18)) return 0;
        if (d >= 4503599627370496.0 || d <= -4503599627370496.0) return (int64_t)d;
        return (int64_t)(d < 0 ? d - 0.5 : d + 0.5); }
    """
    uint16_t vg_be_u16(const uint8_t* p) noexcept nogil
    int16_t vg_be_i16(const uint8_t* p) noexcept nogil
    uint32_t vg_be_u32(const uint8_t* p) noexcept nogil
    int32_t vg_be_i32(const uint8_t* p) noexcept nogil
    int64_t vg_be_i64(const uint8_t* p) noexcept nogil
    double vg_be_f64(const uint8_t* p) noexcept nogil
    int64_t vg_be_f64_qty(const uint8_t* p) noexcept nogil


cdef enum:
    # Wire sizes of the layouts (bytes); "fixed" = header + the part before the records.
    CM_7200_LEN = 482
    FO_7200_LEN = 409                 # fields end at 409; the document's 410 has one pad byte
    NREC_OFF = 40                     # NoOfRecords / NumberOfRecords SHORT
    REC_OFF = 42                      # first record
    CM_7208_REC = 262
    FO_7208_REC = 214
    CM_MW_REC = 106
    FO_MW_REC = 86
    FO_MW_ENH_REC = 90
    CM_TICK_REC = 18
    FO_TICK_REC = 26
    FO_TICK_ENH_REC = 38
    CM_SPOS_REC = 56
    FO_STATUS_REC = 12
    CM_BUYBACK_REC = 64
    CM_STATUS_REC = 16                # 18130 / 18707: Token LONG, 6 x Status SHORT
    CM_STATUS_MAX = 25
    CM_6013_LEN = 58
    FO_6013_LEN = 60                  # fields end at 60; the document's 62 has padding
    CM_INDEX_REC = 72                 # 7207/7216/8207 wire record (pack-2: pad byte after the 21-byte name)
    CM_INDEX_REC_DOC = 71             # the document's byte-packed record (LONGs from relative 21)
    CM_INDEX_LEN = 474                # 42 + 6 x 72: the nominal wire length
    CM_INDEX_LEN_DOC = 468            # 42 + 6 x 71: the document form's nominal length
    OI_NREC_OFF = 12                  # 7130/17130: NoOfRecords SHORT in the re-defined header (ErrorCode slot)
    OI_REC_OFF = 40                   # 7130/17130: first record, right after the header
    FO_OI_REC = 8                     # 7130: TokenNo LONG, CurrentOI UNSIGNED LONG
    FO_OI_ENH_REC = 12                # 17130: TokenNo LONG, CurrentOI LONG LONG
    FO_OI_MAX = 58
    FO_OI_ENH_MAX = 39
    CM_VCT_TEXT = 58                  # CM BCAST_VCT_MESSAGES: BroadcastMessage CHAR[240] @58 (298 B)
    FO_VCT_TEXT = 80                  # F&O MS_BCAST_VCT_MSGS: BroadcastMessage CHAR[239] @80 (320 B)
    CM_7206_END = 52                  # CM 7206: the 6 market statuses @40..51 (94 B, appendix 90)
    FO_7206_END = 64                  # F&O 7206: normal, exercise, PL market statuses @40..63 (106 B)
    VG_SYSTEM_INFO = 7206


cdef int vg_code_slot(uint16_t code) noexcept nogil:
    """Index of a known code in vg_stats_t.by_code, or -1: a decoded code's (0..18), else a counted one's."""
    cdef int slot = _vg_merged_slot(code)
    return slot if slot >= 0 else _vg_counted_slot(code)

cdef inline int _vg_merged_slot(uint16_t code) noexcept nogil:
    """Slot of a decoded code (0..VG_N_MERGED_SLOTS - 1), or -1."""
    if code == VG_OPEN_PRICE:
        return 0
    elif code == VG_CIRCUIT:
        return 1
    elif code == VG_MBO_MBP:
        return 2
    elif code == VG_MW:
        return 3
    elif code == VG_TICKER_FO:
        return 4
    elif code == VG_ONLY_MBP:
        return 5
    elif code == VG_7210:
        return 6
    elif code == VG_MW_ENH:
        return 7
    elif code == VG_TICKER_FO_ENH:
        return 8
    elif code == VG_TICKER_CM:
        return 9
    elif code == VG_BUYBACK:
        return 10
    elif code == VG_INDICES:
        return 11
    elif code == VG_INDICES_VIX:
        return 12
    elif code == VG_INDICATIVE_INDICES:
        return 13
    elif code == VG_OI_CM:
        return 14
    elif code == VG_OI_CM_ENH:
        return 15
    elif code == VG_STATUS_CHG:
        return 16
    elif code == VG_SEC_STATUS:
        return 17
    elif code == VG_SEC_STATUS_PREOPEN:
        return 18
    return -1

cdef int _vg_counted_slot(uint16_t code) noexcept nogil:
    """Slot of a documented broadcast code VEGA counts and does not decode (docs/FORMATS.md §1.5), or -1.
    19..27 are sent in both segments, 28..35 in CM only, 36..42 in F&O only (_SLOT_CODES, _vg_counted_here)."""
    cdef int i
    for i in range(VG_N_CODE_SLOTS - VG_N_MERGED_SLOTS):
        if _COUNTED_CODES[i] == code:
            return VG_N_MERGED_SLOTS + i
    return -1

cdef inline int _vg_counted_here(int seg, uint16_t code) noexcept nogil:
    """_vg_counted_slot(code) if the segment's document names the code, else -1."""
    cdef int slot = _vg_counted_slot(code)
    if seg == VG_SEG_CM and slot >= VG_FIRST_FO_ONLY_SLOT:
        return -1
    if seg == VG_SEG_FO and VG_FIRST_CM_ONLY_SLOT <= slot < VG_FIRST_FO_ONLY_SLOT:
        return -1
    return slot

# The documented broadcast codes counted, not decoded, in slot order from VG_N_MERGED_SLOTS (PROTOCOL.md §3.0,
# PROTOCOL_MORE.md §1.5, §2.2-§2.4, §3.1; their pages in docs/FORMATS.md §1.5).
cdef uint16_t _COUNTED_CODES[VG_N_CODE_SLOTS - VG_N_MERGED_SLOTS]
_COUNTED_CODES[:] = [
    6501, 6511, 6521, 6531, 6571, 7206, 7306, 9010, 9011,          # both: text, market state, system, admin
    6581, 6583, 6584, 7764, 18720, 7214, 7215, 7203,               # CM only
    6522, 7211, 7220, 7305, 7324, 7340, 7341]                      # F&O only

# the codes in slot order, for the Python stats view
_SLOT_CODES = (6013, 6541, 7200, 7201, 7202, 7208, 7210, 17201, 17202, 18703, 18708, 7207, 7216, 8207, 7130,
               17130, 7320, 18130, 18707) + tuple(_COUNTED_CODES)
_ERR_NAMES = ("ok", "empty", "truncated", "comp_len", "lzo", "msg_length", "records", "unknown_code",
              "packet_count", "segment")


# ----------------------------------------------------------------------------------------------------------
# Field groups shared by several layouts
# ----------------------------------------------------------------------------------------------------------

cdef inline void _rd_indicator(vg_indicator_t* ind, const uint8_t* p) noexcept nogil:
    cdef uint8_t b = p[0]
    ind.last_trade_more = (b >> 7) & 1
    ind.last_trade_less = (b >> 6) & 1
    ind.buy = (b >> 5) & 1
    ind.sell = (b >> 4) & 1

cdef inline void _rd_mbo(vg_mbo_t* e, const uint8_t* p) noexcept nogil:
    # MBO_INFORMATION / ST_MBO_INFO, 18 bytes
    e.trader_id = vg_be_i32(p)
    e.qty = vg_be_i32(p + 4)
    e.price = vg_be_i32(p + 8)
    e.mf = (p[12] >> 7) & 1
    e.aon = (p[12] >> 6) & 1
    e.min_fill_qty = vg_be_i32(p + 14)

cdef inline void _rd_md_head(vg_md_t* m, const uint8_t* p, bint fo) noexcept nogil:
    """Token .. AuctionQuantity: CM 7200/7208 (relative 0-60, filler byte after the indicator) and
    FO 7208 (relative 0-56, VolTrdTodayExcdIndc in that byte); FO 7200 has its own reader."""
    cdef int s
    m.token = vg_be_i32(p)
    m.book_type = vg_be_i16(p + 4)
    m.trading_status = vg_be_i16(p + 6)
    if fo:                                    # FO 7208: UNSIGNED LONG volume + overflow flag
        m.volume_traded_today = vg_be_u32(p + 8)
        m.last_traded_price = vg_be_i32(p + 12)
        m.net_change_indicator = <char>p[16]
        m.vol_trd_today_excd_indc = <char>p[17]
        if p[17] == b'1':
            m.volume_traded_today += <int64_t>4294967296LL   # + 1 + 4294967295 (FO946 p.178)
        s = 18
    else:                                     # CM: LONG LONG volume, filler byte
        m.volume_traded_today = vg_be_i64(p + 8)
        m.last_traded_price = vg_be_i32(p + 16)
        m.net_change_indicator = <char>p[20]
        m.vol_trd_today_excd_indc = 0
        s = 22
    m.net_price_change_from_closing_price = vg_be_i32(p + s)
    m.last_trade_quantity = vg_be_i32(p + s + 4)
    m.last_trade_time = vg_be_i32(p + s + 8)
    m.average_trade_price = vg_be_i32(p + s + 12)
    m.auction_number = vg_be_i16(p + s + 16)
    m.auction_status = vg_be_i16(p + s + 18)
    m.initiator_type = vg_be_i16(p + s + 20)
    m.initiator_price = vg_be_i32(p + s + 22)
    m.initiator_quantity = vg_be_i32(p + s + 26)
    m.auction_price = vg_be_i32(p + s + 30)
    m.auction_quantity = vg_be_i32(p + s + 34)

cdef inline void _rd_cm_md_tail(vg_md_t* m, const uint8_t* p) noexcept nogil:
    """CM MBP buffer (10 x 16 B) .. LowPrice, p = start of the MBP buffer."""
    cdef int i
    cdef const uint8_t* e
    for i in range(10):
        e = p + 16 * i
        m.mbp[i].quantity = vg_be_i64(e)
        m.mbp[i].price = vg_be_i32(e + 8)
        m.mbp[i].number_of_orders = vg_be_i16(e + 12)
        m.mbp[i].bb_buy_sell_flag = vg_be_i16(e + 14)
    m.bb_total_buy_flag = vg_be_i16(p + 160)
    m.bb_total_sell_flag = vg_be_i16(p + 162)
    m.total_buy_quantity = vg_be_i64(p + 164)
    m.total_sell_quantity = vg_be_i64(p + 172)
    _rd_indicator(&m.indicator, p + 180)
    m.closing_price = vg_be_i32(p + 182)
    m.open_price = vg_be_i32(p + 186)
    m.high_price = vg_be_i32(p + 190)
    m.low_price = vg_be_i32(p + 194)


# ----------------------------------------------------------------------------------------------------------
# Per-code body decoders.  h = start of the header, ml = MessageLength, already checked to be in the buffer.
# Return VG_OK or the error reason.
# ----------------------------------------------------------------------------------------------------------

cdef inline int _n_records(const uint8_t* h, int ml, int max_n, int rec_size) noexcept nogil:
    """NoOfRecords at 40, checked against the layout maximum and against MessageLength.
    Returns the count, or minus the error reason (msg_length: no room for the count; records: bad count)."""
    cdef int n
    if ml < REC_OFF:
        return -VG_E_MSG_LENGTH
    n = vg_be_i16(h + NREC_OFF)
    if n < 0 or n > max_n or REC_OFF + n * rec_size > ml:
        return -VG_E_RECORDS
    return n

cdef int _dec_cm_7200(vg_msg_t* msg, const uint8_t* h, int ml) noexcept nogil:
    cdef vg_md_t* m = &msg.body.md[0]
    cdef int i
    if ml < CM_7200_LEN:
        return VG_E_MSG_LENGTH
    _rd_md_head(m, h + 40, False)
    m.n_mbo = 10
    for i in range(10):
        _rd_mbo(&m.mbo[i], h + 100 + 18 * i)
    _rd_cm_md_tail(m, h + 280)
    m.indicative_close_price = 0
    msg.kind = VG_K_MD
    msg.n_records = 1
    return VG_OK

cdef int _dec_cm_7208(vg_msg_t* msg, const uint8_t* h, int ml) noexcept nogil:
    cdef int i, n = _n_records(h, ml, VG_MAX_MD, CM_7208_REC)
    cdef const uint8_t* r
    cdef vg_md_t* m
    if n < 0:
        return -n
    for i in range(n):
        r = h + REC_OFF + CM_7208_REC * i
        m = &msg.body.md[i]
        _rd_md_head(m, r, False)
        m.n_mbo = 0
        _rd_cm_md_tail(m, r + 60)
        m.indicative_close_price = vg_be_i32(r + 258)
    msg.kind = VG_K_MD
    msg.n_records = <uint16_t>n
    return VG_OK

cdef int _dec_fo_7200(vg_msg_t* msg, const uint8_t* h, int ml) noexcept nogil:
    # FO 7200 has no filler byte: fields sit at odd offsets (FO946 tables 73-78)
    cdef vg_md_t* m = &msg.body.md[0]
    cdef int i
    cdef const uint8_t* e
    if ml < FO_7200_LEN:
        return VG_E_MSG_LENGTH
    m.token = vg_be_i32(h + 40)
    m.book_type = vg_be_i16(h + 44)
    m.trading_status = vg_be_i16(h + 46)
    m.volume_traded_today = vg_be_u32(h + 48)
    m.last_traded_price = vg_be_i32(h + 52)
    m.net_change_indicator = <char>h[56]
    m.vol_trd_today_excd_indc = 0
    m.net_price_change_from_closing_price = vg_be_i32(h + 57)
    m.last_trade_quantity = vg_be_i32(h + 61)
    m.last_trade_time = vg_be_i32(h + 65)
    m.average_trade_price = vg_be_i32(h + 69)
    m.auction_number = vg_be_i16(h + 73)
    m.auction_status = vg_be_i16(h + 75)
    m.initiator_type = vg_be_i16(h + 77)
    m.initiator_price = vg_be_i32(h + 79)
    m.initiator_quantity = vg_be_i32(h + 83)
    m.auction_price = vg_be_i32(h + 87)
    m.auction_quantity = vg_be_i32(h + 91)
    m.n_mbo = 10
    for i in range(10):
        _rd_mbo(&m.mbo[i], h + 95 + 18 * i)
    for i in range(10):                       # ST_MBP_INFO, 10 B: Qty LONG, Price LONG, NoOfOrders SHORT
        e = h + 275 + 10 * i
        m.mbp[i].quantity = vg_be_i32(e)
        m.mbp[i].price = vg_be_i32(e + 4)
        m.mbp[i].number_of_orders = vg_be_i16(e + 8)
        m.mbp[i].bb_buy_sell_flag = 0
    m.bb_total_buy_flag = 0
    m.bb_total_sell_flag = 0
    m.total_buy_quantity = vg_be_f64_qty(h + 375)
    m.total_sell_quantity = vg_be_f64_qty(h + 383)
    _rd_indicator(&m.indicator, h + 391)
    m.closing_price = vg_be_i32(h + 393)
    m.open_price = vg_be_i32(h + 397)
    m.high_price = vg_be_i32(h + 401)
    m.low_price = vg_be_i32(h + 405)
    m.indicative_close_price = 0
    msg.kind = VG_K_MD
    msg.n_records = 1
    return VG_OK

cdef int _dec_fo_7208(vg_msg_t* msg, const uint8_t* h, int ml) noexcept nogil:
    cdef int i, j, n = _n_records(h, ml, VG_MAX_MD, FO_7208_REC)
    cdef const uint8_t* r
    cdef const uint8_t* e
    cdef vg_md_t* m
    if n < 0:
        return -n
    for i in range(n):
        r = h + REC_OFF + FO_7208_REC * i
        m = &msg.body.md[i]
        _rd_md_head(m, r, True)
        m.n_mbo = 0
        for j in range(10):                   # MBP_INFORMATION, 12 B
            e = r + 56 + 12 * j
            m.mbp[j].quantity = vg_be_i32(e)
            m.mbp[j].price = vg_be_i32(e + 4)
            m.mbp[j].number_of_orders = vg_be_i16(e + 8)
            m.mbp[j].bb_buy_sell_flag = vg_be_i16(e + 10)
        m.bb_total_buy_flag = vg_be_i16(r + 176)
        m.bb_total_sell_flag = vg_be_i16(r + 178)
        m.total_buy_quantity = vg_be_f64_qty(r + 180)
        m.total_sell_quantity = vg_be_f64_qty(r + 188)
        _rd_indicator(&m.indicator, r + 196)
        m.closing_price = vg_be_i32(r + 198)
        m.open_price = vg_be_i32(r + 202)
        m.high_price = vg_be_i32(r + 206)
        m.low_price = vg_be_i32(r + 210)
        m.indicative_close_price = 0
    msg.kind = VG_K_MD
    msg.n_records = <uint16_t>n
    return VG_OK

cdef int _dec_mw(vg_msg_t* msg, const uint8_t* h, int ml, int seg, uint16_t code) noexcept nogil:
    """7201 CM (4 x 106 B, 34-byte infos, 64-bit volumes), FO 7201 (5 x 86 B) and 17201 (5 x 90 B)."""
    cdef int i, j, n, rec, info, max_n
    cdef const uint8_t* r
    cdef const uint8_t* e
    cdef vg_mw_t* w
    cdef vg_mw_info_t* f
    if seg == VG_SEG_CM:
        rec = CM_MW_REC; info = 34; max_n = 4
    elif code == VG_MW:
        rec = FO_MW_REC; info = 26; max_n = 5
    else:
        rec = FO_MW_ENH_REC; info = 26; max_n = 5
    n = _n_records(h, ml, max_n, rec)
    if n < 0:
        return -n
    for i in range(n):
        r = h + REC_OFF + rec * i
        w = &msg.body.mw[i]
        w.token = vg_be_i32(r)
        for j in range(3):
            e = r + 4 + info * j
            f = &w.market_wise_info[j]
            _rd_indicator(&f.indicator, e)
            if seg == VG_SEG_CM:
                f.buy_volume = vg_be_i64(e + 2)
                f.buy_price = vg_be_i32(e + 10)
                f.sell_volume = vg_be_i64(e + 14)
                f.sell_price = vg_be_i32(e + 22)
                f.last_trade_price = vg_be_i32(e + 26)
                f.last_trade_time = vg_be_i32(e + 30)
            else:
                f.buy_volume = vg_be_i32(e + 2)
                f.buy_price = vg_be_i32(e + 6)
                f.sell_volume = vg_be_i32(e + 10)
                f.sell_price = vg_be_i32(e + 14)
                f.last_trade_price = vg_be_i32(e + 18)
                f.last_trade_time = vg_be_i32(e + 22)
        if seg == VG_SEG_CM:
            w.open_interest = 0
        elif code == VG_MW:
            w.open_interest = vg_be_u32(r + 82)
        else:
            w.open_interest = vg_be_i64(r + 82)
    msg.kind = VG_K_MW
    msg.n_records = <uint16_t>n
    return VG_OK

cdef int _dec_tick(vg_msg_t* msg, const uint8_t* h, int ml, int seg, uint16_t code) noexcept nogil:
    """CM 18703 (28 x 18 B), FO 7202 (17 x 26 B, 32-bit OI) and 17202 (12 x 38 B, 64-bit OI)."""
    cdef int i, n, rec, max_n
    cdef const uint8_t* r
    cdef vg_tick_t* t
    if seg == VG_SEG_CM:
        rec = CM_TICK_REC; max_n = 28
    elif code == VG_TICKER_FO:
        rec = FO_TICK_REC; max_n = 17
    else:
        rec = FO_TICK_ENH_REC; max_n = 12
    n = _n_records(h, ml, max_n, rec)
    if n < 0:
        return -n
    for i in range(n):
        r = h + REC_OFF + rec * i
        t = &msg.body.tick[i]
        t.token = vg_be_i32(r)
        t.market_type = vg_be_i16(r + 4)
        t.fill_price = vg_be_i32(r + 6)
        t.fill_volume = vg_be_i32(r + 10)
        if seg == VG_SEG_CM:
            t.market_index_value = vg_be_i32(r + 14)
            t.open_interest = 0
            t.day_hi_oi = 0
            t.day_lo_oi = 0
        elif code == VG_TICKER_FO:
            t.market_index_value = 0
            t.open_interest = vg_be_u32(r + 14)
            t.day_hi_oi = vg_be_u32(r + 18)
            t.day_lo_oi = vg_be_u32(r + 22)
        else:
            t.market_index_value = 0
            t.open_interest = vg_be_i64(r + 14)
            t.day_hi_oi = vg_be_i64(r + 22)
            t.day_lo_oi = vg_be_i64(r + 30)
    msg.kind = VG_K_TICK
    msg.n_records = <uint16_t>n
    return VG_OK

cdef int _dec_cm_7210(vg_msg_t* msg, const uint8_t* h, int ml) noexcept nogil:
    cdef int i, n = _n_records(h, ml, VG_MAX_SPOS, CM_SPOS_REC)
    cdef const uint8_t* r
    cdef vg_spos_t* s
    if n < 0:
        return -n
    for i in range(n):
        r = h + REC_OFF + CM_SPOS_REC * i
        s = &msg.body.spos[i]
        s.token = vg_be_i32(r)
        s.buy_ord_cxl_count = vg_be_i64(r + 8)
        s.buy_ord_cxl_vol = vg_be_i64(r + 16)
        s.sell_ord_cxl_count = vg_be_i64(r + 24)
        s.sell_ord_cxl_vol = vg_be_i64(r + 32)
    msg.kind = VG_K_SPOS
    msg.n_records = <uint16_t>n
    return VG_OK

cdef int _dec_fo_7210(vg_msg_t* msg, const uint8_t* h, int ml) noexcept nogil:
    cdef int i, j, n = _n_records(h, ml, VG_MAX_STATUS, FO_STATUS_REC)
    cdef const uint8_t* r
    if n < 0:
        return -n
    for i in range(n):
        r = h + REC_OFF + FO_STATUS_REC * i
        msg.body.status[i].token = vg_be_i32(r)
        for j in range(4):
            msg.body.status[i].status[j] = vg_be_i16(r + 4 + 2 * j)
        msg.body.status[i].status[4] = 0
        msg.body.status[i].status[5] = 0
    msg.kind = VG_K_STATUS
    msg.n_records = <uint16_t>n
    return VG_OK

cdef int _dec_cm_status(vg_msg_t* msg, const uint8_t* h, int ml) noexcept nogil:
    """CM 18130 / 18707 (CM63 table 31): NumberOfRecords @40, up to 25 records of 16 B from 42: Token LONG,
    Status SHORT per market (normal, odd lot, spot, auction, call auction 1, call auction 2)."""
    cdef int i, j, n = _n_records(h, ml, CM_STATUS_MAX, CM_STATUS_REC)
    cdef const uint8_t* r
    if n < 0:
        return -n
    for i in range(n):
        r = h + REC_OFF + CM_STATUS_REC * i
        msg.body.status[i].token = vg_be_i32(r)
        for j in range(6):
            msg.body.status[i].status[j] = vg_be_i16(r + 4 + 2 * j)
    msg.kind = VG_K_STATUS
    msg.n_records = <uint16_t>n
    return VG_OK

cdef int _dec_cm_18708(vg_msg_t* msg, const uint8_t* h, int ml) noexcept nogil:
    cdef int i, n = _n_records(h, ml, VG_MAX_BUYBACK, CM_BUYBACK_REC)
    cdef const uint8_t* r
    cdef vg_buyback_t* b
    if n < 0:
        return -n
    for i in range(n):
        r = h + REC_OFF + CM_BUYBACK_REC * i
        b = &msg.body.buyback[i]
        b.token = vg_be_i32(r)
        memcpy(b.symbol, r + 4, 10)
        memcpy(b.series, r + 14, 2)
        b.pday_cum_vol = vg_be_f64(r + 16)
        b.pday_high_price = vg_be_i32(r + 24)
        b.pday_low_price = vg_be_i32(r + 28)
        b.pday_wt_avg = vg_be_i32(r + 32)
        b.cday_cum_vol = vg_be_f64(r + 36)
        b.cday_high_price = vg_be_i32(r + 44)
        b.cday_low_price = vg_be_i32(r + 48)
        b.cday_wt_avg = vg_be_i32(r + 52)
        b.start_date = vg_be_i32(r + 56)
        b.end_date = vg_be_i32(r + 60)
    msg.kind = VG_K_BUYBACK
    msg.n_records = <uint16_t>n
    return VG_OK

cdef int _dec_6013(vg_msg_t* msg, const uint8_t* h, int ml, int seg) noexcept nogil:
    cdef vg_open_price_t* o = &msg.body.open_price
    if ml < (CM_6013_LEN if seg == VG_SEG_CM else FO_6013_LEN):
        return VG_E_MSG_LENGTH
    memcpy(o.symbol, h + 40, 10)
    memcpy(o.series, h + 50, 2)
    if seg == VG_SEG_CM:                      # CM: Token SHORT @52, OpeningPrice @54 (58 B)
        o.token = vg_be_i16(h + 52)
        o.opening_price = vg_be_i32(h + 54)
    else:                                     # FO: Token LONG @52, OpeningPrice @56 (62 B)
        o.token = vg_be_i32(h + 52)
        o.opening_price = vg_be_i32(h + 56)
    msg.kind = VG_K_OPEN
    msg.n_records = 1
    return VG_OK

cdef int _dec_cm_index(vg_msg_t* msg, const uint8_t* h, int ml, uint16_t code) noexcept nogil:
    """CM 7207 / 7216 / 8207: NumberOfRecords @40, up to 6 records from 42.  The record stride comes from
    MessageLength (PROTOCOL_MORE §1.2): the nominal lengths 474 / 468 say 72 / 71 whatever the count, else
    (MessageLength - 42) / NoOfRecords must be exactly 72 (wire, pad byte after the name) or 71 (document);
    any other stride, or a remainder, is VG_E_RECORDS."""
    cdef int i, n, stride, d
    cdef const uint8_t* r
    cdef vg_index_t* x
    if ml < REC_OFF:
        return VG_E_MSG_LENGTH
    n = vg_be_i16(h + NREC_OFF)
    if n < 0 or n > VG_MAX_INDEX:
        return VG_E_RECORDS
    if ml == CM_INDEX_LEN:
        stride = CM_INDEX_REC
    elif ml == CM_INDEX_LEN_DOC:
        stride = CM_INDEX_REC_DOC
    elif n > 0:
        stride = (ml - REC_OFF) // n          # exact: with slack bytes the stride would be a guess
        if (stride != CM_INDEX_REC and stride != CM_INDEX_REC_DOC) or REC_OFF + n * stride != ml:
            return VG_E_RECORDS
    else:
        stride = CM_INDEX_REC
    if REC_OFF + n * stride > ml:
        return VG_E_RECORDS
    d = stride - CM_INDEX_REC_DOC            # 1: the numbers start at relative 22, 0: at 21
    for i in range(n):
        r = h + REC_OFF + stride * i
        x = &msg.body.index[i]
        memset(x, 0, sizeof(vg_index_t))
        memcpy(x.index_name, r, 21)
        x.wire_stride = <uint8_t>stride
        r = r + d
        if code == VG_INDICATIVE_INDICES:     # 8207: Reserved slots between the used LONGs
            x.indicative_close_value = vg_be_i32(r + 21)
            x.closing_index = vg_be_i32(r + 37)
            x.percent_change = vg_be_i32(r + 41)
            x.change = vg_be_i32(r + 53)
        else:
            x.index_value = vg_be_i32(r + 21)
            x.high_index_value = vg_be_i32(r + 25)
            x.low_index_value = vg_be_i32(r + 29)
            x.opening_index = vg_be_i32(r + 33)
            x.closing_index = vg_be_i32(r + 37)
            x.percent_change = vg_be_i32(r + 41)
            x.yearly_high = vg_be_i32(r + 45)
            x.yearly_low = vg_be_i32(r + 49)
            x.no_of_upmoves = vg_be_i32(r + 53)
            x.no_of_downmoves = vg_be_i32(r + 57)
        x.market_capitalisation = vg_be_f64(r + 61)
        x.net_change_indicator = <char>r[69]
    msg.kind = VG_K_INDEX
    msg.n_records = <uint16_t>n
    return VG_OK

cdef int _dec_fo_oi(vg_msg_t* msg, const uint8_t* h, int ml, uint16_t code) noexcept nogil:
    """F&O 7130 (8 B records, max 58) / 17130 (12 B, max 39): NoOfRecords @12 of the re-defined header,
    records from 40 (FO946 tables 98/99)."""
    cdef int i, n, rec, max_n
    cdef const uint8_t* r
    if code == VG_OI_CM:
        rec = FO_OI_REC; max_n = FO_OI_MAX
    else:
        rec = FO_OI_ENH_REC; max_n = FO_OI_ENH_MAX
    n = vg_be_i16(h + OI_NREC_OFF)
    if n < 0 or n > max_n or OI_REC_OFF + n * rec > ml:
        return VG_E_RECORDS
    for i in range(n):
        r = h + OI_REC_OFF + rec * i
        msg.body.oi[i].token = vg_be_i32(r)
        msg.body.oi[i].current_oi = <int64_t>vg_be_u32(r + 4) if code == VG_OI_CM else vg_be_i64(r + 4)
    msg.kind = VG_K_OI
    msg.n_records = <uint16_t>n
    return VG_OK


cdef int _dec_state(vg_msg_t* msg, const uint8_t* h, int ml, int seg, uint16_t code) noexcept nogil:
    """The few fields operators want of the market-state broadcasts (PROTOCOL_MORE §3.2, §3.5, §3.6): the VCT
    messages' market type and text, 7206's market statuses.  Only the fixed part before the text must be there;
    the text is what MessageLength holds of its CHAR[240] (F&O 239)."""
    cdef vg_state_t* st = &msg.body.state
    cdef int i, at
    memset(st, 0, sizeof(vg_state_t))
    if code == VG_SYSTEM_INFO:
        if ml < (CM_7206_END if seg == VG_SEG_CM else FO_7206_END):
            return VG_E_MSG_LENGTH
        for i in range(6 if seg == VG_SEG_CM else 12):
            st.status[i] = vg_be_i16(h + 40 + 2 * i)
    else:
        at = CM_VCT_TEXT if seg == VG_SEG_CM else FO_VCT_TEXT
        if ml < at:
            return VG_E_MSG_LENGTH
        if seg == VG_SEG_CM:
            memcpy(st.symbol, h + 40, 10)
            memcpy(st.series, h + 50, 2)
        else:
            st.token = vg_be_i32(h + 40)
            memcpy(st.symbol, h + 50, 10)
            memcpy(st.series, h + 60, 2)
        st.market_type = vg_be_i16(h + at - 6)
        st.text_length = vg_be_i16(h + at - 2)
        st.text_read = <int16_t>min(ml - at, 240 if seg == VG_SEG_CM else 239)
        memcpy(st.text, h + at, st.text_read)
    msg.kind = VG_K_STATE
    msg.n_records = 1
    return VG_OK


# ----------------------------------------------------------------------------------------------------------
# One message (prefix + header + body) and the datagram walk
# ----------------------------------------------------------------------------------------------------------

cdef inline int _vg_err(vg_decoder_t* dec, int reason) noexcept nogil:
    dec.stats.errors[reason] += 1
    return 0

cdef int _vg_decode_message(vg_decoder_t* dec, const uint8_t* buf, Py_ssize_t avail, uint8_t compressed,
                            vg_msg_sink sink, vg_msg_sink skipped, void* ctx) noexcept nogil:
    """buf = the 8-byte prefix followed by the message; avail = bytes available from buf.  Returns 1 when
    a message was decoded and handed to sink, 0 when it was counted as an error and skipped (and handed to
    skipped, header only, when its header was sound)."""
    cdef vg_msg_t* msg = &dec.msg[dec.cur]
    cdef vg_header_t* hd = &msg.header
    cdef const uint8_t* h = buf + VG_PREFIX_LEN
    cdef int ml, rc, slot = -1
    cdef int seg = dec.segment
    cdef uint16_t code
    cdef uint8_t mt
    if avail < VG_PREFIX_LEN + VG_HEADER_LEN:
        return _vg_err(dec, VG_E_MSG_LENGTH if compressed else VG_E_TRUNCATED)
    mt = buf[0]
    if mt != seg and (mt == VG_SEG_CM or mt == VG_SEG_FO or mt == 6):
        return _vg_err(dec, VG_E_SEGMENT)
    hd.market_type = mt
    hd.compressed = compressed
    code = vg_be_u16(h + 10)
    if seg == VG_SEG_FO and code != VG_OPEN_PRICE and vg_be_u16(h) == VG_OPEN_PRICE:
        # F&O 6013 comes with the interactive MESSAGE_HEADER (FO946 p.183): code @0, LogTime @2,
        # AlphaChar @6, TraderId @8, ErrorCode @12, TimeStamp2 @30, MessageLength @38
        code = VG_OPEN_PRICE
        hd.message_header = 1
        hd.log_time = vg_be_i32(h + 2)
        hd.alpha_char[0] = <char>h[6]
        hd.alpha_char[1] = <char>h[7]
        hd.trader_id = vg_be_i32(h + 8)
        hd.bc_seq_no = 0
        hd.stream = 0
        hd.time_stamp2 = vg_be_i64(h + 30)
    else:
        hd.message_header = 0
        hd.log_time = vg_be_i32(h + 4)
        hd.alpha_char[0] = <char>h[8]
        hd.alpha_char[1] = <char>h[9]
        hd.trader_id = 0
        hd.bc_seq_no = vg_be_i32(h + 14)
        hd.stream = h[30]
        hd.time_stamp2 = vg_be_i64(h + 22)
    hd.transaction_code = code
    hd.error_code = vg_be_i16(h + 12)
    if seg == VG_SEG_FO and (code == VG_OI_CM or code == VG_OI_CM_ENH):
        # re-defined header (FO946 p.194): NoOfRecords @12 where ErrorCode is, Reserved where BCSeqNo and
        # Filler2 are: no error code, sequence number or stream to report
        hd.error_code = 0
        hd.bc_seq_no = 0
        hd.stream = 0
    ml = vg_be_u16(h + 38)
    hd.message_length = <uint16_t>ml
    if ml < VG_HEADER_LEN or ml > avail - VG_PREFIX_LEN:
        return _vg_err(dec, VG_E_MSG_LENGTH)
    msg.segment = <uint8_t>seg
    msg.kind = VG_K_NONE
    msg.n_records = 0
    if code == VG_ONLY_MBP:
        rc = _dec_cm_7208(msg, h, ml) if seg == VG_SEG_CM else _dec_fo_7208(msg, h, ml)
    elif code == VG_MW or code == VG_MW_ENH:
        rc = _dec_mw(msg, h, ml, seg, code) if (code == VG_MW or seg == VG_SEG_FO) else VG_E_UNKNOWN_CODE
    elif code == VG_TICKER_FO_ENH or code == VG_TICKER_FO:
        rc = _dec_tick(msg, h, ml, seg, code) if seg == VG_SEG_FO else VG_E_UNKNOWN_CODE
    elif code == VG_TICKER_CM:
        rc = _dec_tick(msg, h, ml, seg, code) if seg == VG_SEG_CM else VG_E_UNKNOWN_CODE
    elif code == VG_MBO_MBP:
        rc = _dec_cm_7200(msg, h, ml) if seg == VG_SEG_CM else _dec_fo_7200(msg, h, ml)
    elif code == VG_7210:
        rc = _dec_cm_7210(msg, h, ml) if seg == VG_SEG_CM else _dec_fo_7210(msg, h, ml)
    elif code == VG_STATUS_CHG:                # F&O status change: the 7210 structure (FO946 p.163)
        rc = _dec_fo_7210(msg, h, ml) if seg == VG_SEG_FO else VG_E_UNKNOWN_CODE
    elif code == VG_SEC_STATUS or code == VG_SEC_STATUS_PREOPEN:
        rc = _dec_cm_status(msg, h, ml) if seg == VG_SEG_CM else VG_E_UNKNOWN_CODE
    elif code == VG_BUYBACK:
        rc = _dec_cm_18708(msg, h, ml) if seg == VG_SEG_CM else VG_E_UNKNOWN_CODE
    elif code == VG_OPEN_PRICE:
        rc = _dec_6013(msg, h, ml, seg)
    elif code == VG_CIRCUIT:
        rc = VG_OK
    elif code == VG_INDICES or code == VG_INDICES_VIX or code == VG_INDICATIVE_INDICES:
        rc = _dec_cm_index(msg, h, ml, code) if seg == VG_SEG_CM else VG_E_UNKNOWN_CODE
    elif code == VG_OI_CM or code == VG_OI_CM_ENH:
        rc = _dec_fo_oi(msg, h, ml, code) if seg == VG_SEG_FO else VG_E_UNKNOWN_CODE
    else:                                      # documented, counted, not decoded; or no document names it
        slot = _vg_counted_here(seg, code)
        if slot < 0:
            rc = VG_E_UNKNOWN_CODE
        elif code == VG_SYSTEM_INFO or code in (6511, 6521, 6522, 6531, 6571, 6583, 6584):    # the VCT messages
            rc = _dec_state(msg, h, ml, seg, code)
        else:
            rc = VG_OK
    if rc != VG_OK:
        if skipped != NULL:
            # The header is sound (MessageLength fits the data), so its BCSeqNo and stream are the exchange's
            # numbering of a message it sent and we received, whatever the code or the body: an undocumented
            # code, or a body that does not fit its code's layout, is counted under its error reason, never
            # also as a number missed on the way (docs/FORMATS.md §3.3 "Sequence gaps").  A header that is
            # not sound (returned above) is not numbered: nothing in it is to be trusted.
            msg.kind = VG_K_NONE
            msg.n_records = 0
            msg.code_slot = -1
            skipped(ctx, msg)
        return _vg_err(dec, rc)
    dec.stats.messages += 1
    if slot < 0:
        slot = _vg_merged_slot(code)
    msg.code_slot = <int8_t>slot
    if slot >= 0:
        dec.stats.by_code[slot] += 1
    if sink != NULL:
        if sink(ctx, msg):
            dec.cur ^= 1                # the sink holds msg until its next call: decode into the other buffer
    return 1

cdef int vg_decode_datagram(vg_decoder_t* dec, const uint8_t* data, Py_ssize_t length,
                            vg_msg_sink sink, vg_msg_sink skipped, void* ctx) noexcept nogil:
    """Walk one datagram: every sub-packet, compressed or not, in order; call sink(ctx, msg) for each
    decoded message, and skipped(ctx, msg) (unless NULL) for each one counted as an error after a sound
    header.  Malformed parts are counted by reason and skipped; a sub-packet whose extent is known
    (compressed: 2 + iCompLen) never stops the walk, one whose extent is unknowable does.  Returns the
    number of messages handed to sink."""
    cdef Py_ssize_t pos = 4, comp_len, ml, out_len
    cdef int i, n_packets, produced = 0
    dec.stats.datagrams += 1
    dec.stats.bytes_in += <uint64_t>length
    if length < 4:
        return _vg_err(dec, VG_E_EMPTY)
    n_packets = vg_be_i16(data + 2)
    if n_packets <= 0:
        return _vg_err(dec, VG_E_EMPTY)
    for i in range(n_packets):
        if pos + 2 > length:
            _vg_err(dec, VG_E_PACKET_COUNT)
            break
        comp_len = vg_be_u16(data + pos)
        if comp_len > 0:
            if pos + 2 + comp_len > length:
                _vg_err(dec, VG_E_COMP_LEN)
                break
            dec.stats.packets += 1
            dec.stats.compressed += 1
            out_len = lzo1z_decompress(data + pos + 2, comp_len, dec.lzo_out, VG_LZO_OUT_MAX)
            pos += 2 + comp_len
            if out_len < 0:
                _vg_err(dec, VG_E_LZO)
                continue
            dec.stats.bytes_decompressed += <uint64_t>out_len
            produced += _vg_decode_message(dec, dec.lzo_out, out_len, 1, sink, skipped, ctx)
        else:
            # uncompressed: 8-byte prefix + message; the stride comes from MessageLength (2 + 8 + ml)
            if pos + 2 + VG_PREFIX_LEN + VG_HEADER_LEN > length:
                _vg_err(dec, VG_E_TRUNCATED)
                break
            ml = vg_be_u16(data + pos + 2 + VG_PREFIX_LEN + 38)
            if ml < VG_HEADER_LEN:
                _vg_err(dec, VG_E_MSG_LENGTH)
                break
            if pos + 2 + VG_PREFIX_LEN + ml > length:
                _vg_err(dec, VG_E_TRUNCATED)
                break
            dec.stats.packets += 1
            produced += _vg_decode_message(dec, data + pos + 2, VG_PREFIX_LEN + ml, 0, sink, skipped, ctx)
            pos += 2 + VG_PREFIX_LEN + ml
    return produced


# ----------------------------------------------------------------------------------------------------------
# Python API: Decoder and decode()
# ----------------------------------------------------------------------------------------------------------

cdef int _segment_type(object segment, str names) except -1:
    """TypeError naming the argument unless ``segment`` is a str or an integer (its number; a numpy integer too):
    2.0 or np.float64(4.0) compared equal to a segment's number and was taken as one, where vega.Instruments
    refuses floats (and a bool's ValueError did not say it was the type)."""
    if not isinstance(segment, str) and (isinstance(segment, (bool, _np.bool_))
                                         or not isinstance(segment, (int, _np.integer))):
        raise TypeError(f"segment must be {names} (a str) or its number (an int), not "
                        f"{type(segment).__name__}: {segment!r}")
    return 0


cdef int _parse_segment(segment) except -1:
    """A segment: "CM" or "FO" in any case (as the command line's --feed and replay's feeds take them), or its
    number; TypeError for another type (_segment_type), ValueError for another value."""
    _segment_type(segment, "'CM' or 'FO'")
    name = segment.upper() if isinstance(segment, str) else segment
    if name == "CM" or name == VG_SEG_CM:
        return VG_SEG_CM
    if name == "FO" or name == VG_SEG_FO:
        return VG_SEG_FO
    raise ValueError(f"segment must be 'CM' or 'FO', not {segment!r}")

cdef inline str _chr(char c):
    return "" if c == 0 else chr(<uint8_t>c)

cdef inline str _str(const char* p, Py_ssize_t n):
    return p[:n].rstrip(b" \0").decode("latin-1")

cdef dict _ind_dict(const vg_indicator_t* i):
    return {"last_trade_more": bool(i.last_trade_more), "last_trade_less": bool(i.last_trade_less),
            "buy": bool(i.buy), "sell": bool(i.sell)}

cdef dict _md_dict(const vg_md_t* m, int seg, int code):
    cdef int i
    cdef bint fo7200 = seg == VG_SEG_FO and code == VG_MBO_MBP
    d = {
        "token": m.token, "book_type": m.book_type, "trading_status": m.trading_status,
        "volume_traded_today": m.volume_traded_today, "last_traded_price": m.last_traded_price,
        "net_change_indicator": _chr(m.net_change_indicator),
    }
    if seg == VG_SEG_FO and code == VG_ONLY_MBP:
        d["vol_trd_today_excd_indc"] = _chr(m.vol_trd_today_excd_indc)
    d.update({
        "net_price_change_from_closing_price": m.net_price_change_from_closing_price,
        "last_trade_quantity": m.last_trade_quantity, "last_trade_time": m.last_trade_time,
        "average_trade_price": m.average_trade_price, "auction_number": m.auction_number,
        "auction_status": m.auction_status, "initiator_type": m.initiator_type,
        "initiator_price": m.initiator_price, "initiator_quantity": m.initiator_quantity,
        "auction_price": m.auction_price, "auction_quantity": m.auction_quantity,
    })
    if m.n_mbo:
        d["mbo"] = [{"trader_id": m.mbo[i].trader_id, "qty": m.mbo[i].qty, "price": m.mbo[i].price,
                     "mf": bool(m.mbo[i].mf), "aon": bool(m.mbo[i].aon),
                     "min_fill_qty": m.mbo[i].min_fill_qty} for i in range(10)]
    if fo7200:
        d["mbp"] = [{"quantity": m.mbp[i].quantity, "price": m.mbp[i].price,
                     "number_of_orders": m.mbp[i].number_of_orders} for i in range(10)]
    else:
        d["mbp"] = [{"quantity": m.mbp[i].quantity, "price": m.mbp[i].price,
                     "number_of_orders": m.mbp[i].number_of_orders,
                     "bb_buy_sell_flag": m.mbp[i].bb_buy_sell_flag} for i in range(10)]
        d["bb_total_buy_flag"] = m.bb_total_buy_flag
        d["bb_total_sell_flag"] = m.bb_total_sell_flag
    d.update({
        "total_buy_quantity": m.total_buy_quantity, "total_sell_quantity": m.total_sell_quantity,
        "indicator": _ind_dict(&m.indicator), "closing_price": m.closing_price,
        "open_price": m.open_price, "high_price": m.high_price, "low_price": m.low_price,
    })
    if seg == VG_SEG_CM and code == VG_ONLY_MBP:
        d["indicative_close_price"] = m.indicative_close_price
    return d

cdef dict _mw_dict(const vg_mw_t* w, int seg):
    cdef int j
    cdef const vg_mw_info_t* f
    infos = []
    for j in range(3):
        f = &w.market_wise_info[j]
        infos.append({"indicator": _ind_dict(&f.indicator), "buy_volume": f.buy_volume,
                      "buy_price": f.buy_price, "sell_volume": f.sell_volume, "sell_price": f.sell_price,
                      "last_trade_price": f.last_trade_price, "last_trade_time": f.last_trade_time})
    d = {"token": w.token, "market_wise_info": infos}
    if seg == VG_SEG_FO:
        d["open_interest"] = w.open_interest
    return d

cdef dict _tick_dict(const vg_tick_t* t, int seg):
    d = {"token": t.token, "market_type": t.market_type, "fill_price": t.fill_price,
         "fill_volume": t.fill_volume}
    if seg == VG_SEG_CM:
        d["market_index_value"] = t.market_index_value
    else:
        d["open_interest"] = t.open_interest
        d["day_hi_oi"] = t.day_hi_oi
        d["day_lo_oi"] = t.day_lo_oi
    return d

cdef dict _index_dict(const vg_index_t* x, int code):
    d = {"index_name": _str(x.index_name, 21)}
    if code == VG_INDICATIVE_INDICES:
        d.update({"indicative_close_value": x.indicative_close_value, "closing_index": x.closing_index,
                  "percent_change": x.percent_change, "change": x.change})
    else:
        d.update({"index_value": x.index_value, "high_index_value": x.high_index_value,
                  "low_index_value": x.low_index_value, "opening_index": x.opening_index,
                  "closing_index": x.closing_index, "percent_change": x.percent_change,
                  "yearly_high": x.yearly_high, "yearly_low": x.yearly_low, "no_of_upmoves": x.no_of_upmoves,
                  "no_of_downmoves": x.no_of_downmoves})
    d["market_capitalisation"] = x.market_capitalisation
    d["net_change_indicator"] = _chr(x.net_change_indicator)
    d["wire_stride"] = x.wire_stride
    return d

cdef dict _state_dict(const vg_state_t* st, int seg, int code):
    cdef int i
    if code == VG_SYSTEM_INFO:
        if seg == VG_SEG_CM:
            return {"market_status": [st.status[i] for i in range(6)]}
        return {"market_status": [st.status[i] for i in range(4)],
                "ex_market_status": [st.status[i] for i in range(4, 8)],
                "pl_market_status": [st.status[i] for i in range(8, 12)]}
    d = {"token": st.token} if seg == VG_SEG_FO else {}
    d.update({"symbol": _str(st.symbol, 10), "series": _str(st.series, 2), "market_type": st.market_type,
              "broadcast_message_length": st.text_length, "broadcast_message": _str(st.text, st.text_read)})
    return d

cdef dict _msg_dict(const vg_msg_t* msg):
    """The documented dict of one decoded message (docs/FORMATS.md, "Decoded message dictionaries")."""
    cdef const vg_header_t* hd = &msg.header
    cdef int i, seg = msg.segment, code = hd.transaction_code
    cdef const vg_buyback_t* b
    cdef const vg_open_price_t* o
    recs = []
    if msg.kind == VG_K_MD:
        recs = [_md_dict(&msg.body.md[i], seg, code) for i in range(msg.n_records)]
    elif msg.kind == VG_K_MW:
        recs = [_mw_dict(&msg.body.mw[i], seg) for i in range(msg.n_records)]
    elif msg.kind == VG_K_TICK:
        recs = [_tick_dict(&msg.body.tick[i], seg) for i in range(msg.n_records)]
    elif msg.kind == VG_K_SPOS:
        recs = [{"token": msg.body.spos[i].token,
                 "buy_ord_cxl_count": msg.body.spos[i].buy_ord_cxl_count,
                 "buy_ord_cxl_vol": msg.body.spos[i].buy_ord_cxl_vol,
                 "sell_ord_cxl_count": msg.body.spos[i].sell_ord_cxl_count,
                 "sell_ord_cxl_vol": msg.body.spos[i].sell_ord_cxl_vol} for i in range(msg.n_records)]
    elif msg.kind == VG_K_STATUS:
        recs = [{"token": msg.body.status[i].token,
                 "status": [msg.body.status[i].status[j] for j in range(6 if seg == VG_SEG_CM else 4)]}
                for i in range(msg.n_records)]
    elif msg.kind == VG_K_BUYBACK:
        for i in range(msg.n_records):
            b = &msg.body.buyback[i]
            recs.append({"token": b.token, "symbol": _str(b.symbol, 10), "series": _str(b.series, 2),
                         "pday_cum_vol": b.pday_cum_vol, "pday_high_price": b.pday_high_price,
                         "pday_low_price": b.pday_low_price, "pday_wt_avg": b.pday_wt_avg,
                         "cday_cum_vol": b.cday_cum_vol, "cday_high_price": b.cday_high_price,
                         "cday_low_price": b.cday_low_price, "cday_wt_avg": b.cday_wt_avg,
                         "start_date": b.start_date, "end_date": b.end_date})
    elif msg.kind == VG_K_OPEN:
        o = &msg.body.open_price
        recs = [{"symbol": _str(o.symbol, 10), "series": _str(o.series, 2), "token": o.token,
                 "opening_price": o.opening_price}]
    elif msg.kind == VG_K_INDEX:
        recs = [_index_dict(&msg.body.index[i], code) for i in range(msg.n_records)]
    elif msg.kind == VG_K_OI:
        recs = [{"token": msg.body.oi[i].token, "current_oi": msg.body.oi[i].current_oi}
                for i in range(msg.n_records)]
    elif msg.kind == VG_K_STATE:
        recs = [_state_dict(&msg.body.state, seg, code)]
    return {
        "segment": "CM" if seg == VG_SEG_CM else "FO",
        "compressed": bool(hd.compressed),
        "market_type": hd.market_type,
        "message_header": bool(hd.message_header),
        "log_time": hd.log_time,
        "alpha_char": _str(hd.alpha_char, 2),
        "transaction_code": hd.transaction_code,
        "error_code": hd.error_code,
        "bc_seq_no": hd.bc_seq_no,
        "trader_id": hd.trader_id,
        "time_stamp2": hd.time_stamp2,
        "stream": hd.stream,
        "message_length": hd.message_length,
        "records": recs,
    }

cdef int _sink_to_list(void* ctx, const vg_msg_t* msg) noexcept nogil:
    with gil:
        (<list>ctx).append(_msg_dict(msg))
    return 0

cdef int _sink_count(void* ctx, const vg_msg_t* msg) noexcept nogil:
    # benchmark sink: touch the decoded message so nothing can be optimised away
    (<uint64_t*>ctx)[0] += msg.n_records + msg.header.transaction_code
    return 0


@cython.binding(False)                 # a wrong self raises TypeError (vega/_core.pyx)
@cython.embedsignature.format("clinic")
cdef class Decoder:
    """A reusable decoder for one segment ("CM" or "FO") with its statistics.

    ``decode(datagram)`` returns the decoded messages as dicts (docs/FORMATS.md, "Decoded message
    dictionaries"); ``decode_batch(datagrams)`` decodes many datagrams in one nogil loop and returns the message
    count.
    Malformed input never raises: it is counted by reason in ``stats`` and skipped.  One call at a time: a
    call while another thread's ``decode_batch`` runs raises RuntimeError (both would decode into the same
    buffers).
    """
    cdef vg_decoder_t _dec
    cdef int _busy                     # 1 while decode_batch runs its nogil loop

    def __cinit__(self, segment):
        self._dec.segment = <uint8_t>_parse_segment(segment)
        self._dec.lzo_out = <uint8_t*>malloc(VG_LZO_OUT_MAX)
        if self._dec.lzo_out == NULL:
            raise MemoryError()
        memset(&self._dec.stats, 0, sizeof(vg_stats_t))

    def __dealloc__(self):
        free(self._dec.lzo_out)

    @property
    def segment(self) -> str:
        return "CM" if self._dec.segment == VG_SEG_CM else "FO"

    def decode(self, datagram) -> list:
        """Decode one datagram (any bytes-like object) into a list of message dicts."""
        cdef const uint8_t[::1] view = _as_bytes_view(datagram)
        cdef list out = []
        self._check_idle()
        vg_decode_datagram(&self._dec, &view[0] if view.shape[0] else NULL, view.shape[0],
                           _sink_to_list, NULL, <void*>out)
        return out

    cdef int _check_idle(self) except -1:
        if self._busy:
            raise RuntimeError("this Decoder is in use by a call in another thread: give each thread its own")
        return 0

    def decode_batch(self, datagrams) -> int:
        """Decode ``bytes`` datagrams (a tuple, or any iterable: copied into a tuple first, which keeps
        every datagram alive while the nogil loop reads it) in one nogil loop; returns the number of
        messages.

        Nothing is materialised in Python: this is the path the feed handler and the benchmarks use.
        """
        cdef Py_ssize_t i, n
        cdef const uint8_t** ptrs
        cdef Py_ssize_t* lens
        cdef uint64_t acc = 0
        cdef int total = 0
        cdef tuple seq = _datagram_tuple(datagrams, "decode_batch")
        n = len(seq)
        ptrs = <const uint8_t**>malloc(max(n, 1) * sizeof(uint8_t*))
        lens = <Py_ssize_t*>malloc(max(n, 1) * sizeof(Py_ssize_t))
        if ptrs == NULL or lens == NULL:
            free(ptrs); free(lens)
            raise MemoryError()
        try:
            _datagram_ptrs(seq, ptrs, lens, "decode_batch")
            self._check_idle()
            self._busy = 1
            try:
                with nogil:
                    for i in range(n):
                        total += vg_decode_datagram(&self._dec, ptrs[i], lens[i], _sink_count, NULL, &acc)
            finally:
                self._busy = 0
        finally:
            free(ptrs)
            free(lens)
        return total

    @property
    def stats(self) -> dict:
        """Counters since creation (or the last reset_stats()): datagrams, packets, compressed, messages,
        bytes_in, bytes_decompressed, errors (by reason) and messages by code."""
        cdef vg_stats_t* s = &self._dec.stats
        return {
            "datagrams": s.datagrams, "packets": s.packets, "compressed": s.compressed,
            "messages": s.messages, "bytes_in": s.bytes_in, "bytes_decompressed": s.bytes_decompressed,
            "errors": {_ERR_NAMES[i]: s.errors[i] for i in range(1, VG_N_ERR)},
            "by_code": {_SLOT_CODES[i]: s.by_code[i] for i in range(len(_SLOT_CODES))},
        }

    def reset_stats(self) -> None:
        memset(&self._dec.stats, 0, sizeof(vg_stats_t))

    def __reduce__(self):
        raise TypeError(f"cannot pickle a vega.Decoder (buffers and counters of this process): make a "
                        f"vega.Decoder({self.segment!r}) in the other process")

    def __repr__(self):
        cdef const vg_stats_t* d = &self._dec.stats
        return (f"<vega.Decoder {self.segment}: {d.datagrams:,} datagrams, {d.messages:,} messages, "
                f"{_errors_total(d):,} errors>")


cdef uint64_t _errors_total(const vg_stats_t* d) noexcept:
    """Malformed input skipped, all reasons together (the reprs)."""
    cdef uint64_t n = 0
    cdef int i
    for i in range(1, <int>VG_N_ERR):
        n += d.errors[i]
    return n


cdef tuple _datagram_tuple(datagrams, str who):
    """The batch entry points' datagrams as a tuple of their own: it holds a reference to each one while the
    nogil loop reads it (another thread may change the caller's list meanwhile, which would free the bytes
    under the loop).  A tuple is used as is.  One bytes-like object (or a str) is a TypeError naming ``who``:
    iterated, it would be a sequence of ints."""
    if type(datagrams) is tuple:
        return datagrams
    if isinstance(datagrams, (bytes, bytearray, memoryview, str)):
        raise TypeError(f"{who} takes a sequence of datagrams (bytes objects), not one "
                        f"{type(datagrams).__name__} object: pass [datagram]")
    return tuple(datagrams)


cdef int _datagram_ptrs(tuple seq, const uint8_t** ptrs, Py_ssize_t* lens, str who) except -1:
    """Each datagram's bytes and length into ptrs, lens (len(seq) entries); TypeError naming ``who`` for
    anything but ``bytes``."""
    cdef Py_ssize_t i
    for i in range(len(seq)):
        d = seq[i]
        if type(d) is not bytes:
            raise TypeError(f"{who} takes bytes objects, got {type(d).__name__}")
        ptrs[i] = <const uint8_t*>PyBytes_AS_STRING(d)
        lens[i] = PyBytes_GET_SIZE(d)
    return 0


cdef const uint8_t[::1] _as_bytes_view(obj):
    if isinstance(obj, str):
        raise TypeError("a datagram is bytes, not str")
    try:
        m = memoryview(obj)
    except TypeError:
        raise TypeError(f"a datagram must be a bytes-like object, not {type(obj).__name__}") from None
    if not m.c_contiguous:                               # a strided view: say so, not "not bytes-like"
        raise TypeError(f"a datagram must be one contiguous block of bytes; this {type(obj).__name__} is "
                        f"strided (copy it first: bytes(x))")
    return m.cast("B")


def decode(datagram, segment) -> list:
    """Decode one NSE broadcast datagram of ``segment`` ("CM" or "FO") into a list of message dicts.

    Malformed sub-packets are skipped (use :class:`Decoder` to see why: ``Decoder.stats``).
    """
    return Decoder(segment).decode(datagram)
