"""Hypothesis strategies for NSE broadcast messages and datagrams.

Every strategy produces *canonical* message dicts: exactly what ``vega.decode`` (and the pure-Python
reference ``bench.baseline_decode.decode``) return for the bytes ``vega.nse`` encodes from them, so a round
trip test is ``assert decode(build_datagram(seg, msgs), seg) == msgs``.  Values cover the full range of each
field's wire type (SHORT, LONG, UNSIGNED LONG, LONG LONG; F&O DOUBLE totals as ints within +-2**53; the F&O
7208 true volume up to 2**33-1), strings are ASCII without trailing blanks (the wire pads with blanks and the
decoder strips them), characters are '' (a 0 byte) or one ASCII character.

* ``messages(segment, code)``   a message of that layout with 0..max records (7200/6013: 1; 6541: 0); CM
                                7207/7216/8207 in the 72-byte wire form or (half the time) the 71-byte
                                document form, all records of a message with the same ``wire_stride``
* ``any_message(segment)``      a message of any code of the segment (the header-only counted codes together
                                as often as one decoded code)
* ``datagrams(segment)``        ``(datagram_bytes, [message dicts])``: 1..max_packets sub-packets mixing
                                LZO1Z-compressed and uncompressed ones (``msg["compressed"]`` says which)
"""
from __future__ import annotations

from hypothesis import strategies as st

from vega import nse

_INT = {fmt: st.integers(lo, hi) for fmt, (_, lo, hi) in nse._INT_RANGES.items()}
_CHAR = st.one_of(st.just(""), st.characters(min_codepoint=1, max_codepoint=127))
_INDICATOR = st.fixed_dictionaries({k: st.booleans() for k in ("last_trade_more", "last_trade_less", "buy", "sell")})


def _text(n: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=n).map(lambda s: s.rstrip(" "))


def _scalar(kind: str, fmt: str) -> st.SearchStrategy:
    if kind == "int":
        return _INT[fmt]
    if kind == "float":
        return st.floats(allow_nan=False, width=64)
    if kind == "dint":
        return st.integers(-nse.DOUBLE_INT_MAX, nse.DOUBLE_INT_MAX)
    if kind == "char":
        return _CHAR
    if kind == "str":
        return _text(int(fmt[:-1]))
    if kind == "vol33":
        return st.integers(0, nse.FO_VOLUME_MAX)
    if kind == "ind":
        return _INDICATOR
    if kind == "stride":                                            # per message: set by messages()
        return st.just(72)
    raise AssertionError(kind)


def _fields(fields) -> dict:
    out: dict = {}
    for f in fields:
        if isinstance(f, nse.Array):
            if len(f.fields) == 1 and f.fields[0][1] is None:        # array of scalars (F&O 7210 status)
                elem = _scalar(f.fields[0][2], f.fields[0][3])
            else:
                elem = st.fixed_dictionaries(_fields(f.fields))
            out[f.name] = st.lists(elem, min_size=f.count, max_size=f.count)
        else:
            _, name, kind, fmt = f
            if kind == "terms":
                out["mf"] = out["aon"] = st.booleans()
            elif kind != "excd":                                     # derived from the volume below
                out[name] = _scalar(kind, fmt)
    return out


def _with_excd(rec: dict) -> dict:
    rec["vol_trd_today_excd_indc"] = "1" if rec["volume_traded_today"] >= 1 << 32 else "0"
    return rec


def records(segment: str, code: int) -> st.SearchStrategy[dict]:
    """One record dict of ``(segment, code)`` over the full value range of every field."""
    lay = nse.layout(segment, code)
    s = st.fixed_dictionaries(_fields(lay.fields))
    if (segment, code) == ("FO", 7208):
        s = s.map(_with_excd)
    return s


@st.composite
def messages(draw, segment: str, code: int, compressed: bool | None = None) -> dict:
    """A complete, canonical message dict of ``(segment, code)``."""
    lay = nse.layout(segment, code)
    n = draw(st.integers(lay.min_records, lay.max_records))
    mh = lay.message_header
    oi = lay.oi_header                  # F&O 7130/17130: NoOfRecords where ErrorCode is, no BCSeqNo / stream
    recs = draw(st.lists(records(segment, code), min_size=n, max_size=n))
    if (segment, code) in nse.DOCUMENT_FORMS and draw(st.booleans()):
        lay = nse.DOCUMENT_FORMS[(segment, code)]                   # the 71-byte document form
        for r in recs:
            r["wire_stride"] = 71
    return {
        "segment": segment,
        "compressed": draw(st.booleans()) if compressed is None else compressed,
        "market_type": nse.MARKET_TYPE[segment],
        "message_header": mh,
        "log_time": draw(_INT["i"]),
        "alpha_char": draw(_text(2)),
        "transaction_code": code,
        "error_code": 0 if oi else draw(_INT["h"]),
        "bc_seq_no": 0 if mh or oi else draw(_INT["i"]),
        # a TraderId whose low 16 bits (header offset 10) read 6013 makes the MESSAGE_HEADER look like a
        # BCAST_HEADER 6013 to the decoder's detection rule (docs/FORMATS.md §1.2): not canonical, avoid it
        "trader_id": draw(_INT["i"].filter(lambda t: t & 0xFFFF != 6013)) if mh else 0,
        "time_stamp2": draw(_INT["q"]),
        "stream": 0 if mh or oi else draw(_INT["B"]),
        "message_length": lay.message_length(n),
        "records": recs,
    }


def any_message(segment: str, compressed: bool | None = None) -> st.SearchStrategy[dict]:
    """A message of any code the segment has a layout for: the codes counted, not decoded (header only), together
    as often as one decoded code."""
    counted = nse.COUNTED_ONLY[segment]
    return st.one_of([messages(segment, c, compressed) for c in nse.CODES[segment] if c not in counted]
                     + [st.sampled_from(counted).flatmap(lambda c: messages(segment, c, compressed))])


@st.composite
def datagrams(draw, segment: str, max_packets: int = 4) -> tuple[bytes, list[dict]]:
    """``(datagram, msgs)``: 1..max_packets sub-packets, compressed and uncompressed mixed."""
    msgs = draw(st.lists(any_message(segment), min_size=1, max_size=max_packets))
    return nse.build_datagram(segment, msgs), msgs
