"""Pure-Python baseline of the consolidated store: a dict per token, the same merge rules as VEGA's nogil
merge (docs/FORMATS.md "Merge rules"), fed with the decoded-message dicts that ``vega.decode`` returns.
What a Python user would write; bench/bench_merge.py measures VEGA against it in the same run."""

PRE_OPEN = (1, 4, 6)
MD_STALE_NS = 5_000_000_000


def _ind(d):
    return (d["last_trade_more"] << 7) | (d["last_trade_less"] << 6) | (d["buy"] << 5) | (d["sell"] << 4)


def _new(token):
    return {"token": token, "bid_price": [0] * 5, "bid_quantity": [0] * 5, "bid_orders": [0] * 5,
            "ask_price": [0] * 5, "ask_quantity": [0] * 5, "ask_orders": [0] * 5, "last_traded_price": 0,
            "last_trade_quantity": 0, "last_trade_time": 0, "volume_traded_today": 0, "open_price": 0,
            "high_price": 0, "low_price": 0, "close_price": 0, "average_trade_price": 0, "trading_status": 0,
            "last_md_ns": 0, "open_interest": 0, "oi_day_high": 0, "oi_day_low": 0, "update_count": 0,
            "buy_ord_cxl_count": 0, "buy_ord_cxl_vol": 0, "sell_ord_cxl_count": 0, "sell_ord_cxl_vol": 0}


class DictStore:
    def __init__(self):
        self.data = {}

    def _rec(self, token):
        r = self.data.get(token)
        if r is None:
            r = self.data[token] = _new(token)
        return r

    def _end(self, r, code, now):
        r["last_update_ns"] = now
        r["last_update_source"] = code
        r["update_count"] += 1
        q = 0
        if r["last_traded_price"] > 0:
            q += 25
        if r["bid_price"][0] > 0 or r["ask_price"][0] > 0:
            q += 25
        if 0 < r["bid_price"][0] < r["ask_price"][0]:
            q += 15
        if 0 < r["low_price"] <= r["last_traded_price"] <= r["high_price"]:
            q += 15
        if r["volume_traded_today"] > 0:
            q += 10
        if r["close_price"] > 0:
            q += 10
        r["data_quality"] = q

    def merge(self, msg, now):
        code = msg["transaction_code"]
        fo = msg["segment"] == "FO"
        for m in msg["records"]:
            if code in (7200, 7208):
                if m["book_type"] not in (1, 2):
                    continue
                r = self._rec(m["token"])
                old = r["trading_status"]
                indicative = old in PRE_OPEN or m["trading_status"] in PRE_OPEN   # pre-open open and volume
                r["book_type"] = m["book_type"]
                if m["trading_status"] > 0:
                    r["trading_status"] = m["trading_status"]
                for k in ("last_traded_price", "last_trade_quantity", "last_trade_time", "average_trade_price"):
                    if m[k] > 0:
                        r[k] = m[k]
                if m["volume_traded_today"] > r["volume_traded_today"] or indicative:
                    r["volume_traded_today"] = m["volume_traded_today"]
                if not fo:
                    r["net_price_change"] = m["net_price_change_from_closing_price"]
                r["net_change_indicator"] = m["net_change_indicator"]
                r["indicator"] = _ind(m["indicator"])
                if m["open_price"] > 0 and (r["open_price"] == 0 or indicative):
                    r["open_price"] = m["open_price"]
                if m["high_price"] > r["high_price"]:
                    r["high_price"] = m["high_price"]
                if m["low_price"] > 0 and (r["low_price"] <= 0 or m["low_price"] < r["low_price"]):
                    r["low_price"] = m["low_price"]
                if m["closing_price"] > 0:
                    r["close_price"] = m["closing_price"]
                if fo and r["last_traded_price"] > 0 and r["close_price"] > 0:    # F&O sends the close there
                    r["net_price_change"] = r["last_traded_price"] - r["close_price"]
                if m.get("indicative_close_price", 0) > 0:
                    r["indicative_close_price"] = m["indicative_close_price"]
                r["total_buy_quantity"] = m["total_buy_quantity"]
                r["total_sell_quantity"] = m["total_sell_quantity"]
                r["bb_total_buy_flag"] = m.get("bb_total_buy_flag", 0)
                r["bb_total_sell_flag"] = m.get("bb_total_sell_flag", 0)
                mbp = m["mbp"]
                for side, lv in (("bid", mbp[:5]), ("ask", mbp[5:])):
                    if any(e["price"] or e["quantity"] or e["number_of_orders"] for e in lv):
                        r[side + "_price"] = [e["price"] for e in lv]
                        r[side + "_quantity"] = [e["quantity"] for e in lv]
                        r[side + "_orders"] = [e["number_of_orders"] for e in lv]
                for k in ("auction_number", "auction_status", "initiator_type", "initiator_price",
                          "initiator_quantity", "auction_price", "auction_quantity"):
                    r[k] = m[k]
                if old in PRE_OPEN and r["trading_status"] == 2:
                    for k in ("buy_ord_cxl_count", "buy_ord_cxl_vol", "sell_ord_cxl_count", "sell_ord_cxl_vol"):
                        r[k] = 0
                r["last_md_ns"] = now
            elif code in (7201, 17201):
                r = self._rec(m["token"])
                f = m["market_wise_info"][0]
                r["mw_buy_volume"], r["mw_buy_price"] = f["buy_volume"], f["buy_price"]
                r["mw_sell_volume"], r["mw_sell_price"] = f["sell_volume"], f["sell_price"]
                r["mw_last_trade_price"], r["mw_last_trade_time"] = f["last_trade_price"], f["last_trade_time"]
                r["mw_indicator"] = _ind(f["indicator"])
                if r["trading_status"] in PRE_OPEN:
                    r["bid_price"][0], r["bid_quantity"][0] = f["buy_price"], f["buy_volume"]
                    r["ask_price"][0], r["ask_quantity"][0] = f["sell_price"], f["sell_volume"]
                elif r["last_md_ns"] == 0 or now - r["last_md_ns"] > MD_STALE_NS:
                    if f["buy_price"] > 0:
                        r["bid_price"][0], r["bid_quantity"][0] = f["buy_price"], f["buy_volume"]
                    if f["sell_price"] > 0:
                        r["ask_price"][0], r["ask_quantity"][0] = f["sell_price"], f["sell_volume"]
                    if f["last_trade_price"] > 0:
                        r["last_traded_price"] = f["last_trade_price"]
                if fo:
                    oi = m["open_interest"]
                    r["open_interest"] = oi
                    if oi > 0:
                        r["oi_day_high"] = max(r["oi_day_high"], oi)
                        if r["oi_day_low"] <= 0 or oi < r["oi_day_low"]:
                            r["oi_day_low"] = oi
            elif code in (18703, 7202, 17202):
                r = self._rec(m["token"])
                r["market_type"] = m["market_type"]
                if m["fill_price"] > 0:
                    r["fill_price"] = m["fill_price"]
                    other_market = 2 <= m["market_type"] <= 6       # odd lot, spot, auction, call auctions
                    if not other_market and (r["last_md_ns"] == 0 or now - r["last_md_ns"] > MD_STALE_NS):
                        r["last_traded_price"] = m["fill_price"]
                if m["fill_volume"] > 0:
                    r["fill_volume"] = m["fill_volume"]
                if fo:
                    r["open_interest"] = m["open_interest"]
                    if m["day_hi_oi"] > 0:
                        r["oi_day_high"] = m["day_hi_oi"]
                    if m["day_lo_oi"] > 0:
                        r["oi_day_low"] = m["day_lo_oi"]
            elif code == 7210 and not fo:
                r = self._rec(m["token"])
                for k in ("buy_ord_cxl_count", "buy_ord_cxl_vol", "sell_ord_cxl_count", "sell_ord_cxl_vol"):
                    r[k] = m[k]
                r["spos_update_time"] = msg["log_time"]
            elif code in (7210, 7320, 18130, 18707):
                r = self._rec(m["token"])
                old = r["trading_status"]
                r["market_status"] = list(m["status"][:4])
                if m["status"][0] > 0:
                    r["trading_status"] = m["status"][0]
                if old in PRE_OPEN and r["trading_status"] == 2:      # the indicative open, volume and SPOS go
                    r["open_price"] = 0
                    r["volume_traded_today"] = 0
                    for k in ("buy_ord_cxl_count", "buy_ord_cxl_vol", "sell_ord_cxl_count", "sell_ord_cxl_vol"):
                        r[k] = 0
            elif code == 18708:
                r = self._rec(m["token"])
                r.update({k: v for k, v in m.items() if k != "token"})
            elif code == 6013:
                r = self._rec(m["token"])
                if m["opening_price"] > 0:
                    r["open_price"] = m["opening_price"]
            else:
                continue
            self._end(r, code, now)
