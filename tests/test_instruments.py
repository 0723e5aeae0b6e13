"""vega.instruments: contract.txt / security.txt parsing at the PROTOCOL_MORE.md §4 field positions, lookups,
malformed lines, writers (round trip).

The fixture lines are built here field by field (no verbatim NSE files are public, §4.3); the values follow
the BRK-CT sample of §4.3 (RELIANCE future and BANKNIFTY 72600 CE of the 2026-09-29 expiry, raw 1475159400).
"""
import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vega import Store, _iv, instruments
from vega.instruments import (EXPIRY_RAW_MAX, INSTRUMENT_DTYPE, SEG_CM, SEG_FO, InstrumentFileError, Instruments,
                              expiry_unix, write_contract_file, write_security_file)

EXP = 1475159400                       # 2026-09-29 14:30 IST (PROTOCOL_MORE §4.3)
EXP2 = EXP + 28 * 86400                # 2026-10-27
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))


def contract_line(token, asset_token, instrument, symbol, expiry, strike, opt, lot, tick, asset_symbol,
                  name="", delete="N", n=69, series=""):
    f = [""] * n
    f[0], f[1], f[2], f[3], f[4] = str(token), str(asset_token), instrument, symbol, series
    f[6], f[7], f[8] = str(expiry), str(strike), opt
    f[9], f[12] = "1", "1"
    f[14], f[15] = "2", "1"
    f[30], f[31], f[32] = str(lot), str(lot), str(tick)
    if n > 53:
        f[53] = name
    if n > 65:
        f[65] = asset_symbol
    if n > 68:
        f[68] = delete
    return "|".join(f)


def security_line(token, symbol, series, lot, tick, name="", delete="N", n=54):
    f = [""] * n
    f[0], f[1], f[2], f[3] = str(token), symbol, series, "0"
    f[19], f[20] = str(lot), str(tick)
    if n > 21:
        f[21] = name
    if n > 51:
        f[51] = delete
    return "|".join(f)


@pytest.fixture
def master(tmp_path):
    c = tmp_path / "contract.txt"
    lines = [
        "NEATFO|7.0.4|",
        contract_line(68777, 2885, "FUTSTK", "RELIANCE", EXP, -1, "XX", 500, 10, "RELIANCE",
                      "RELIANCE26SEPFUT"),                                             # line 2
        contract_line(35000, 26009, "OPTIDX", "BANKNIFTY", EXP, 7260000, "CE", 30, 5, "BANKNIFTY",
                      "BANKNIFTY26SEP72600CE"),                                        # line 3
        contract_line(35001, 26009, "OPTIDX", "BANKNIFTY", EXP, 7260000, "PE", 30, 5, "BANKNIFTY"),
        contract_line(35002, 26009, "OPTIDX", "BANKNIFTY", EXP, 7250000, "PE", 30, 5, "BANKNIFTY"),
        contract_line(35003, 26009, "OPTIDX", "BANKNIFTY", EXP2, 7260000, "CE", 30, 5, "BANKNIFTY"),
        contract_line(35010, 26009, "FUTIDX", "BANKNIFTY", EXP2, -1, "XX", 30, 5, "BANKNIFTY"),
        contract_line(35011, 26009, "FUTIDX", "BANKNIFTY", EXP, -1, "XX", 30, 5, "BANKNIFTY"),
        # trailing unknown fields (a newer file version) are tolerated                  line 9
        contract_line(35004, 26009, "OPTIDX", "BANKNIFTY", EXP, 7270000, "CE", 30, 5, "BANKNIFTY") + "|X|Y|Z",
        # a minimal 33-field line (no name / asset symbol / delete flag)                line 10
        contract_line(35005, 26009, "OPTIDX", "BANKNIFTY", EXP, 7270000, "PE", 30, 5, "", n=33),
        "",                                                                            # blank: ignored
        "68778|2885|FUTSTK|RELIANCE",                                                  # 12: too few fields
        contract_line(68779, 2885, "OPTSTK", "RELIANCE", EXP, "29OO00", "CE", 500, 10, "RELIANCE"),  # 13
        contract_line(68780, 2885, "OPTSTK", "RELIANCE", EXP, 290000, "CA", 500, 10, "RELIANCE"),    # 14
        contract_line(35000, 26009, "OPTIDX", "BANKNIFTY", EXP, 7260000, "CE", 30, 5, "BANKNIFTY"),  # 15: dup
        contract_line(0, 26009, "OPTIDX", "BANKNIFTY", EXP, 7260000, "CE", 30, 5, "BANKNIFTY"),      # 16
        contract_line(68781, 2885, "OPTSTK", "RELIANCE", EXP, 290000, "PE", "", 10, "RELIANCE"),     # 17
        contract_line(68782, 2885, "OPTSTK", "RELIANCE", EXP, 290000, "PE", 500, 10, "RELIANCE",
                      delete="Y"),                                                     # 18: deleted
    ]
    c.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    s = tmp_path / "security.txt"
    s.write_text("\n".join([
        "NEATCM|6.3|1479427200",
        security_line(2885, "RELIANCE", "EQ", 1, 10, "RELIANCE INDUSTRIES LTD"),
        security_line(11536, "TCS", "EQ", 1, 5, "TATA CONSULTANCY SERV LT"),
        security_line(35000, "CLASHCO", "BE", 1, 1),                # same number as an F&O token
        security_line(1, "BADLOT", "EQ", "x", 5),                   # line 5: bad lot
        "|".join(security_line(2, "SHORT", "EQ", 1, 5).split("|")[:20]),   # line 6: 20 fields only
    ]) + "\n")
    return c, s


def test_load_fields(master):
    c, s = master
    ins = Instruments.load(c, s)
    assert len(ins) == 9 + 3
    fut = ins.by_token(68777)
    assert (fut.segment, fut.symbol, fut.instrument, fut.option_type, fut.strike) == \
        (SEG_FO, "RELIANCE", "FUTSTK", "XX", -1)
    assert (fut.lot_size, fut.tick_size, fut.asset_token, fut.asset_symbol) == (500, 10, 2885, "RELIANCE")
    assert fut.expiry_raw == EXP
    assert fut.expiry_unix == EXP + 315532800 - 19800 == _iv.expiry_to_unix(EXP)
    assert fut.expiry == dt.datetime(2026, 9, 29, 14, 30, tzinfo=IST)
    assert fut.is_future and not fut.is_option and fut.name == "RELIANCE26SEPFUT"
    opt = ins.by_token(35000, SEG_FO)
    assert (opt.strike, opt.option_type, opt.lot_size, opt.tick_size) == (7260000, "CE", 30, 5)
    assert opt.is_option and opt.asset_token == 26009
    short = ins.by_token(35005)
    assert short.asset_symbol == "BANKNIFTY" and short.name == ""      # asset symbol defaults to the symbol
    eq = ins.by_token(2885)
    assert (eq.segment, eq.symbol, eq.series, eq.lot_size, eq.tick_size, eq.name) == \
        (SEG_CM, "RELIANCE", "EQ", 1, 10, "RELIANCE INDUSTRIES LTD")
    assert (eq.expiry_raw, eq.expiry_unix, eq.strike, eq.option_type, eq.asset_token) == (0, 0, -1, "", 2885)
    assert eq.expiry is None


def test_malformed_lines_reported_rest_loads(master):
    c, s = master
    ins = Instruments.load(c, s)
    by_line = {(p.rsplit("/", 1)[-1], no): why for p, no, why in ins.errors}
    assert set(by_line) == {("contract.txt", 12), ("contract.txt", 13), ("contract.txt", 14),
                            ("contract.txt", 15), ("contract.txt", 16), ("contract.txt", 17),
                            ("security.txt", 5), ("security.txt", 6)}
    assert "fields" in by_line[("contract.txt", 12)]
    assert "strike" in by_line[("contract.txt", 13)]
    assert "option type" in by_line[("contract.txt", 14)]
    assert "duplicate token 35000 (first at line 3)" in by_line[("contract.txt", 15)]
    assert "token 0" in by_line[("contract.txt", 16)]
    assert "lot" in by_line[("contract.txt", 17)]
    assert "lot" in by_line[("security.txt", 5)]
    assert ins.deleted == 1
    assert ins.get(68782) is None and ins.get(68778) is None
    assert ins.by_token(35000, SEG_FO).symbol == "BANKNIFTY"   # the first line of a duplicate wins


def test_numbers_outside_their_column_are_bad_lines_not_a_failed_file(tmp_path):
    """A number too big for its table column (int32 token, lot, tick, asset token; int64 expiry, strike) skips
    its line into errors (it was an OverflowError for the whole file), and so does a number int() would read
    but a master file never writes ('35_006'); the largest values that fit load."""
    big, huge = 2**31, 2**63
    c = tmp_path / "contract.txt"
    c.write_text("\n".join([
        "NEATFO|9.46|",
        contract_line(35001, 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", 50, 5, "NIFTY"),              # 2: good
        contract_line(3000000000, 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", 50, 5, "NIFTY"),         # 3
        contract_line(35003, big, "OPTIDX", "NIFTY", EXP, 100, "CE", 50, 5, "NIFTY"),                # 4
        contract_line(35004, 26009, "OPTIDX", "NIFTY", huge, 100, "CE", 50, 5, "NIFTY"),             # 5
        contract_line(35005, 26009, "OPTIDX", "NIFTY", EXP, huge, "CE", 50, 5, "NIFTY"),             # 6
        contract_line(35006, 26009, "FUTIDX", "NIFTY", EXP, -huge - 1, "XX", 50, 5, "NIFTY"),        # 7
        contract_line(35007, 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", big, 5, "NIFTY"),             # 8
        contract_line(35008, 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", 50, -big - 1, "NIFTY"),       # 9
        contract_line("35_009", 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", 50, 5, "NIFTY"),           # 10
        contract_line(35010, 26009, "OPTIDX", "NIFTY", EXP, "1" * 5000, "CE", 50, 5, "NIFTY"),       # 11
        contract_line(35011, 26009, "OPTIDX", "NIFTY", EXPIRY_RAW_MAX + 1, 100, "CE", 50, 5, "NIFTY"),  # 12
        contract_line(big - 1, big - 1, "OPTIDX", "NIFTY", EXPIRY_RAW_MAX, huge - 1, "CE", big - 1,
                      big - 1, "NIFTY"),                                                              # 13: fits
    ]) + "\n")
    s = tmp_path / "security.txt"
    s.write_text("\n".join([
        "NEATCM|6.3|0",
        security_line(2885, "RELIANCE", "EQ", 1, 10),                          # 2: good
        security_line(big, "BIG", "EQ", 1, 10),                                # 3
        security_line(2886, "BIGLOT", "EQ", big, 10),                          # 4
        security_line(2887, "BIGTICK", "EQ", 1, big),                          # 5
        security_line(2888, "UNDER", "EQ", "1_0", 10),                         # 6
    ]) + "\n")
    ins = Instruments.load(c, s)
    by_line = {(p.rsplit("/", 1)[-1], no): why for p, no, why in ins.errors}
    assert set(by_line) == {("contract.txt", n) for n in range(3, 13)} | {("security.txt", n) for n in (3, 4, 5, 6)}
    assert by_line[("contract.txt", 3)] == "field 0 (token) '3000000000' is outside -2147483648..2147483647"
    for no, what in ((4, "asset token"), (5, "expiry"), (6, "strike"), (7, "strike"), (8, "minimum lot"),
                     (9, "tick size"), (11, "strike")):
        assert f"({what})" in by_line[("contract.txt", no)] and "is outside" in by_line[("contract.txt", no)]
    assert by_line[("contract.txt", 10)] == "field 0 (token) is not an integer: '35_009'"
    assert "after 9999-12-31" in by_line[("contract.txt", 12)]
    assert "(token)" in by_line[("security.txt", 3)] and "(board lot)" in by_line[("security.txt", 4)]
    assert "(tick size)" in by_line[("security.txt", 5)] and "not an integer" in by_line[("security.txt", 6)]
    assert sorted(ins.tokens(SEG_FO).tolist()) == [35001, big - 1] and ins.tokens(SEG_CM).tolist() == [2885]
    top = ins.by_token(big - 1)
    assert (top.asset_token, top.strike, top.lot_size, top.tick_size) == (big - 1, huge - 1, big - 1, big - 1)
    assert top.expiry.date() == dt.date(9999, 12, 31) and dt.date(9999, 12, 31) in ins.expiries("NIFTY")


def test_token_spaces(master):
    ins = Instruments.load(*master)
    with pytest.raises(LookupError):
        ins.by_token(35000)                          # in both segments
    assert ins.by_token(35000, SEG_CM).symbol == "CLASHCO"
    with pytest.raises(KeyError):
        ins.by_token(999999)
    with pytest.raises(KeyError):
        ins.by_token(68777, SEG_CM)
    assert sorted(ins.tokens(SEG_CM).tolist()) == [2885, 11536, 35000]
    assert ins.tokens(SEG_FO).dtype == np.int32 and len(ins.tokens(SEG_FO)) == 9


def test_segments_by_name_as_the_store_takes_them_and_anything_else_refused(master):
    """Store.load_instruments takes the segment as "FO" / "CM"; the master's lookups took only SEG_FO / SEG_CM:
    tokens("FO") and by_symbol(s, "FO") compared the ints to the str and answered an empty array (no
    instrument), by_token(t, "FO") failed with int()'s "invalid literal", and tokens(7) (no segment) was empty."""
    ins = Instruments.load(*master)
    for fo, cm in (("FO", "CM"), ("fo", "cm"), (np.int64(SEG_FO), np.int8(SEG_CM))):
        assert sorted(ins.tokens(fo).tolist()) == sorted(ins.tokens(SEG_FO).tolist()) and len(ins.tokens(fo)) == 9
        assert sorted(ins.tokens(cm).tolist()) == [2885, 11536, 35000]
        assert ins.by_symbol("RELIANCE", cm)["token"].tolist() == [2885]
        assert ins.by_symbol("RELIANCE", fo)["token"].tolist() == [68777]
        assert ins.by_token(35000, cm).symbol == "CLASHCO" and ins.get(35000, fo).symbol == "BANKNIFTY"
    for bad in ("NSE_FO", "F&O", 3, 7, -1):
        for call in (lambda: ins.tokens(bad), lambda: ins.by_symbol("RELIANCE", bad), lambda: ins.by_token(2885, bad),
                     lambda: ins.get(2885, bad)):
            with pytest.raises(ValueError, match=r"segment must be 'FO' \(SEG_FO\) or 'CM' \(SEG_CM\), not"):
                call()
    for bad in (True, 2.0, None):
        with pytest.raises(TypeError, match="segment must be"):
            ins.tokens(bad)


def test_a_token_is_an_int_as_in_the_store_not_a_float_a_bool_or_a_str(master):
    """by_token(1.7) looked up token 1 and by_token("2885") token 2885 (int() of anything), where the store
    refuses a float, a bool and a str as a token: the lookup of a price column's value passed silently."""
    ins = Instruments.load(*master)
    assert ins.by_token(np.int32(2885)).symbol == ins.by_token(2885).symbol == "RELIANCE"
    assert ins.get(np.uint64(68777)).symbol == "RELIANCE"
    for bad in (2885.0, 1.7, "2885", True, np.bool_(True), None):
        for call in (lambda: ins.by_token(bad), lambda: ins.get(bad)):
            with pytest.raises(TypeError, match="a token is an int, not"):
                call()
    assert ins.get(2 ** 40) is None and ins.get(-1) is None


def test_in_asks_for_a_token_as_in_the_store(master):
    """`token in masters` compared the int with every Instrument (the iteration's fallback) and was False for a
    token by_token finds, as `token in store` is not; it is the token's lookup now, in either segment."""
    ins = Instruments.load(*master)
    assert 68777 in ins and 2885 in ins and np.int32(35000) in ins and np.uint64(2885) in ins
    assert 999999 not in ins and -1 not in ins and 2 ** 40 not in ins
    for other in (2885.0, "2885", True, None):                 # no token: in no master, as in the store
        assert other not in ins
    fut = ins.by_token(68777)
    assert fut in ins and fut._replace(symbol="OTHER") not in ins   # an Instrument: that very row


def test_chain_and_futures(master):
    ins = Instruments.load(*master)
    for key in (EXP, dt.date(2026, 9, 29), "2026-09-29", dt.datetime(2026, 9, 29, 10, 0, tzinfo=IST)):
        chain = ins.option_chain("BANKNIFTY", key)
        assert chain["token"].tolist() == [35002, 35000, 35001, 35004, 35005]
        assert chain["strike"].tolist() == [7250000, 7260000, 7260000, 7270000, 7270000]
        assert chain["option_type"].tolist() == ["PE", "CE", "PE", "CE", "PE"]
    assert ins.option_chain("BANKNIFTY", "2026-10-27")["token"].tolist() == [35003]
    with pytest.raises(ValueError, match="option_chain: BANKNIFTY has no contract expiring on 2026-09-30: its "
                                         "expiries are 2026-09-29, 2026-10-27"):   # not an empty chain
        ins.option_chain("BANKNIFTY", "2026-09-30")
    assert ins.futures("BANKNIFTY")["token"].tolist() == [35011, 35010]         # by expiry
    assert ins.futures("BANKNIFTY", EXP2)["token"].tolist() == [35010]
    assert ins.futures("RELIANCE")["token"].tolist() == [68777]
    assert ins.expiries("BANKNIFTY") == [dt.date(2026, 9, 29), dt.date(2026, 10, 27)]
    assert len(ins.by_symbol("RELIANCE")) == 2                                  # future + equity
    assert ins.by_symbol("RELIANCE", SEG_CM)["token"].tolist() == [2885]
    with pytest.raises(TypeError):
        ins.option_chain("BANKNIFTY", 1.5)


def test_option_meta(master):
    ins = Instruments.load(*master)
    meta = {int(r["token"]): r for r in ins.option_meta()}
    assert set(meta) == {35000, 35001, 35002, 35003, 35004, 35005}
    assert meta[35000]["future_token"] == 35011 and meta[35003]["future_token"] == 35010
    assert meta[35000]["is_call"] == 1 and meta[35001]["is_call"] == 0
    assert meta[35000]["strike"] == 7260000 and meta[35000]["asset_token"] == 26009
    assert meta[35000]["expiry_unix"] == expiry_unix(EXP)


def test_negative_lot_or_tick_sizes_are_bad_lines(tmp_path):
    """A lot or tick size below zero is a damaged field (the line goes to errors, the rest loads); zero, a
    size the file does not give, loads."""
    c = tmp_path / "contract.txt"
    c.write_text("\n".join([
        "NEATFO|9.46|",
        contract_line(35001, 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", 50, 5, "NIFTY"),              # 2: good
        contract_line(35002, 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", -50, 5, "NIFTY"),             # 3
        contract_line(35003, 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", 50, -5, "NIFTY"),             # 4
        contract_line(35004, 26009, "FUTIDX", "NIFTY", EXP, -1, "XX", 0, 0, "NIFTY"),                # 5: zeros
    ]) + "\n")
    s = tmp_path / "security.txt"
    s.write_text("\n".join([
        "NEATCM|6.3|0",
        security_line(2885, "RELIANCE", "EQ", 1, 10),                          # 2: good
        security_line(2886, "NEGLOT", "EQ", -1, 10),                           # 3
        security_line(2887, "NEGTICK", "EQ", 1, -10),                          # 4
    ]) + "\n")
    ins = Instruments.load(c, s)
    by_line = {(p.rsplit("/", 1)[-1], no): why for p, no, why in ins.errors}
    assert by_line == {("contract.txt", 3): "field 30 (minimum lot) -50 is negative",
                       ("contract.txt", 4): "field 32 (tick size) -5 is negative",
                       ("security.txt", 3): "field 19 (board lot) -1 is negative",
                       ("security.txt", 4): "field 20 (tick size) -10 is negative"}
    assert sorted(ins.tokens(SEG_FO).tolist()) == [35001, 35004] and ins.tokens(SEG_CM).tolist() == [2885]
    fut = ins.by_token(35004)
    assert (fut.lot_size, fut.tick_size, fut.strike) == (0, 0, -1)


def test_a_line_with_a_nul_character_is_a_bad_line(tmp_path):
    """Fuzz finding: a symbol of NUL characters (zeroed bytes in a damaged file) is no empty field to strip(), so
    it passed the empty-symbol check and loaded as an instrument whose symbol is empty (numpy drops trailing
    NULs).  A NUL anywhere in a line makes it a bad line now; the rest loads."""
    c = tmp_path / "contract.txt"
    c.write_text("\n".join([
        "NEATFO|9.46|",
        contract_line(35001, 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", 50, 5, "NIFTY"),              # 2: good
        contract_line(35002, 26009, "OPTIDX", "\0\0\0", EXP, 100, "CE", 50, 5, "NIFTY"),           # 3
        contract_line(35003, 26009, "OPTIDX", "NIFTY", EXP, 100, "PE", 50, 5, "NIFTY", "NI\0FTY"),    # 4
    ]) + "\n", encoding="latin-1")
    s = tmp_path / "security.txt"
    s.write_text("NEATCM|6.3|0\n" + security_line(2885, "\0", "EQ", 1, 10) + "\n", encoding="latin-1")
    ins = Instruments.load(c, s)
    assert [(p.rsplit("/", 1)[-1], no, why) for p, no, why in ins.errors] == [
        ("contract.txt", 3, "a NUL character at column 20 (damaged)"),
        ("contract.txt", 4, "a NUL character at column 101 (damaged)"),
        ("security.txt", 2, "a NUL character at column 6 (damaged)")]
    assert ins.tokens(SEG_FO).tolist() == [35001] and len(ins.tokens(SEG_CM)) == 0
    assert "" not in ins.table["symbol"].tolist()


def test_an_asset_symbol_or_name_longer_than_its_column_is_a_bad_line(tmp_path):
    """Fuzz finding: an asset symbol (CHAR 10) or a name (CHAR 25) longer than the file's field was cut to its
    column without a word, blank included ('HINDUNILV R' loaded as 'HINDUNILV '), so a damaged line loaded with
    another value than the file's.  Like a symbol too long, it is a bad line now; the rest loads."""
    c = tmp_path / "contract.txt"
    c.write_text("\n".join([
        "NEATFO|9.46|",
        contract_line(35001, 1394, "OPTSTK", "HINDUNILVR", EXP, 100, "CE", 50, 5, "HINDUNILVR", "N" * 25),  # 2
        contract_line(35002, 1394, "OPTSTK", "HINDUNILVR", EXP, 100, "PE", 50, 5, "HINDUNILV R"),          # 3
        contract_line(35003, 1394, "OPTSTK", "HINDUNILVR", EXP, 200, "PE", 50, 5, "HINDUNILVR", "N" * 26),  # 4
    ]) + "\n")
    s = tmp_path / "security.txt"
    s.write_text("\n".join(["NEATCM|6.3|0", security_line(1394, "HINDUNILVR", "EQ", 1, 5, "H" * 25),
                            security_line(2885, "RELIANCE", "EQ", 1, 10, "RELIANCE INDUSTRIES LTD - EQ")]) + "\n")
    ins = Instruments.load(c, s)
    assert [(p.rsplit("/", 1)[-1], no, why) for p, no, why in ins.errors] == [
        ("contract.txt", 3, "field 65 (asset symbol) 'HINDUNILV R' is longer than 10 characters"),
        ("contract.txt", 4, f"field 53 (name) {'N' * 26!r} is longer than 25 characters"),
        ("security.txt", 3, "field 21 (name) 'RELIANCE INDUSTRIES LTD - EQ' is longer than 25 characters")]
    assert ins.tokens(SEG_FO).tolist() == [35001] and ins.tokens(SEG_CM).tolist() == [1394]
    assert (ins.by_token(35001).asset_symbol, ins.by_token(35001).name) == ("HINDUNILVR", "N" * 25)
    assert ins.by_token(1394, SEG_CM).name == "H" * 25


def test_a_symbol_series_or_instrument_that_is_not_ascii_is_a_bad_line(tmp_path):
    """NSE's symbols are ASCII; the file is read as latin-1, so a damaged or re-encoded line loaded 'NIFTÉ', and
    Store.load_instruments wrote it into the store as 'NIFT?' without a word.  It is a bad line now."""
    c = tmp_path / "contract.txt"
    c.write_text("\n".join([
        "NEATFO|9.46|",
        contract_line(35001, 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", 50, 5, "NIFTY", "NIFTÉ NAME"),   # 2: good
        contract_line(35002, 26009, "OPTIDX", "NIFTÉ", EXP, 100, "CE", 50, 5, "NIFTY"),              # 3
        contract_line(35003, 26009, "OPTIDX", "NIFTY", EXP, 100, "PE", 50, 5, "NIFTY", series="É"),  # 4
        contract_line(35004, 26009, "OPTIDÉ", "NIFTY", EXP, 200, "PE", 50, 5, "NIFTY"),             # 5
        contract_line(35005, 26009, "OPTIDX", "NIFTY", EXP, 300, "PE", 50, 5, "NIFTÉ"),             # 6
    ]) + "\n", encoding="latin-1")
    s = tmp_path / "security.txt"
    s.write_bytes(("NEATCM|6.3|0\n" + security_line(2885, "RELIANCE", "EQ", 1, 10) + "\n").encode()
                  + security_line(2886, "RELIÄ", "EQ", 1, 10).encode("utf-8") + b"\n")   # read: 'RELIÃ\x84'
    ins = Instruments.load(c, s)
    assert [(p.rsplit("/", 1)[-1], no, why) for p, no, why in ins.errors] == [
        ("contract.txt", 3, "field 3 (symbol) 'NIFTÉ' is not ASCII"),
        ("contract.txt", 4, "field 4 (series) 'É' is not ASCII"),
        ("contract.txt", 5, "field 2 (instrument) 'OPTIDÉ' is not ASCII"),
        ("contract.txt", 6, "field 65 (asset symbol) 'NIFTÉ' is not ASCII"),
        ("security.txt", 3, "field 1 (symbol) 'RELIÃ\\x84' is not ASCII")]
    assert ins.tokens(SEG_FO).tolist() == [35001] and ins.tokens(SEG_CM).tolist() == [2885]
    assert ins.by_token(35001).name == "NIFTÉ NAME"      # a name is no key and goes into no store record
    fo = Store(8)
    assert fo.load_instruments(ins, "FO") == 1 and fo[35001].symbol == "NIFTY"


def test_load_instruments_refuses_a_symbol_that_is_not_ascii_before_loading_anything():
    """A table built by hand reaches the store without the master's check: 'NIFTÉ' was written as 'NIFT?'."""
    good = (35001, SEG_FO, "NIFTY", "", "FUTIDX", EXP, expiry_unix(EXP), -1, "XX", 50, 5, 26009, "NIFTY", "")
    for bad in ((35002, SEG_FO, "NIFTÉ") + good[3:], (35002, SEG_FO, "NIFTY", "É") + good[4:]):
        store = Store(8)
        with pytest.raises(ValueError, match=r"^load_instruments: token 35002: symbol 'NIFT.' or series '.*' "
                                             r"is not ASCII \(NSE's are, and the store keeps ASCII\); nothing "
                                             r"was loaded$"):
            store.load_instruments(Instruments(np.array([good, bad], INSTRUMENT_DTYPE)), "FO")
        assert len(store) == 0


def test_a_file_with_an_overlong_line_is_refused_without_reading_it_whole(tmp_path, monkeypatch):
    """A binary file given as a master file (no newline in megabytes) is refused at MAX_LINE characters, not
    read into memory whole first; a line of exactly MAX_LINE characters still reads."""
    monkeypatch.setattr(instruments, "MAX_LINE", 200)
    c = tmp_path / "contract.txt"
    c.write_bytes(b"NEATFO|9.46|" + bytes(b for b in range(1, 256) if b not in b"\r\n") * 4000)   # 1 MB
    with pytest.raises(InstrumentFileError, match=r"contract.txt:1: a line longer than 200 characters"):
        Instruments.load(c)
    line = contract_line(35001, 26009, "OPTIDX", "NIFTY", EXP, 100, "CE", 50, 5, "NIFTY")
    c.write_text("NEATFO|9.46|" + "x" * (200 - 12) + "\n" + line + "\n")       # a header of exactly 200
    assert Instruments.load(c).tokens(SEG_FO).tolist() == [35001]


def test_header_errors(tmp_path):
    p = tmp_path / "contract.txt"
    p.write_text("NEATCM|6.3|0\n")
    with pytest.raises(InstrumentFileError):
        Instruments.load(contract_path=p)
    p.write_text("")
    with pytest.raises(InstrumentFileError):
        Instruments.load(contract_path=p)
    with pytest.raises(FileNotFoundError):
        Instruments.load(security_path=tmp_path / "missing.txt")
    assert len(Instruments.load()) == 0


def test_a_master_file_with_a_byte_order_mark_loads_as_without_it(master, tmp_path):
    """A master file saved again by a Windows editor starts with a UTF-8 byte order mark; it was refused as a
    file without its header.  The same file loads as without it; a mark anywhere else is the field's text."""
    c, s = master
    want = Instruments.load(c, s)
    c2, s2 = tmp_path / "c_bom.txt", tmp_path / "s_bom.txt"
    c2.write_bytes(b"\xef\xbb\xbf" + c.read_bytes())
    s2.write_bytes(b"\xef\xbb\xbf" + s.read_bytes())
    got = Instruments.load(c2, s2)
    assert got.table.tobytes() == want.table.tobytes() and len(got) == len(want) > 0
    assert [e[1:] for e in got.errors] == [e[1:] for e in want.errors] and got.deleted == want.deleted
    c2.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + c.read_bytes())            # twice: not a mark, a bad header
    with pytest.raises(InstrumentFileError, match="header NEATFO"):
        Instruments.load(c2)


def test_an_option_type_that_contradicts_the_instrument_name_is_a_bad_line(tmp_path):
    """A future with CE/PE, or an option with XX, would be priced for IV as the other kind (or not at all):
    such lines are bad lines, and the rest loads.  Instrument names VEGA does not know are taken as they are."""
    c = tmp_path / "contract.txt"
    c.write_text("\n".join([
        "NEATFO|7.0.4|",
        contract_line(1, 26009, "FUTIDX", "NIFTY", EXP, 2400000, "CE", 75, 5, "NIFTY"),      # line 2
        contract_line(2, 26009, "OPTIDX", "NIFTY", EXP, -1, "XX", 75, 5, "NIFTY"),           # line 3
        contract_line(3, 2885, "optstk", "RELIANCE", EXP, -1, "XX", 500, 10, "RELIANCE"),   # line 4
        contract_line(4, 26009, "OPTIDX", "NIFTY", EXP, 2400000, "PE", 75, 5, "NIFTY"),
        contract_line(5, 26009, "FUTIDX", "NIFTY", EXP, -1, "XX", 75, 5, "NIFTY"),
        contract_line(6, 26009, "UNDIDX", "NIFTY", EXP, 2400000, "CE", 75, 5, "NIFTY"),
    ]) + "\n")
    ins = Instruments.load(c)
    assert sorted(ins.table["token"].tolist()) == [4, 5, 6]
    assert [(e[1], e[2]) for e in ins.errors] == [(2, "instrument 'FUTIDX' with option type CE"),
                                                   (3, "instrument 'OPTIDX' with option type XX"),
                                                   (4, "instrument 'optstk' with option type XX")]


def test_expiry_rule():
    assert expiry_unix(EXP) == 1790672400
    assert dt.datetime.fromtimestamp(expiry_unix(EXP), dt.timezone.utc) == \
        dt.datetime(2026, 9, 29, 9, 0, tzinfo=dt.timezone.utc)
    for raw in (0, 1, EXP - 52200, EXP + 33000, -1, -86401, 2**31 - 1):
        assert expiry_unix(raw) == _iv.expiry_to_unix(raw)      # one rule in Python and in the kernel


def test_writers_round_trip(master, tmp_path):
    ins = Instruments.load(*master)
    c2, s2 = tmp_path / "c2.txt", tmp_path / "s2.txt"
    assert write_contract_file(c2, ins) == 9
    assert write_security_file(s2, ins, date=1479427200) == 3
    again = Instruments.load(c2, s2)
    assert again.errors == [] and again.deleted == 0
    assert np.array_equal(np.sort(again.table, order=["segment", "token"]),
                          np.sort(ins.table, order=["segment", "token"]))
    first = c2.read_text().splitlines()
    assert first[0] == "NEATFO|9.46|" and all(len(line.split("|")) == 69 for line in first[1:])
    assert all(len(line.split("|")) == 54 for line in s2.read_text().splitlines()[1:])


names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789&-", min_size=1, max_size=10)


@st.composite
def instrument_rows(draw):
    n = draw(st.integers(0, 30))
    tokens = draw(st.lists(st.integers(1, 2**31 - 1), min_size=n, max_size=n, unique=True))
    rows = []
    for tok in tokens:
        if draw(st.booleans()):
            opt = draw(st.sampled_from(["CE", "PE", "XX"]))
            raw = draw(st.integers(1, 2**31 - 1))
            strike = -1 if opt == "XX" else draw(st.integers(1, 2**40))
            sym = draw(names)
            rows.append((tok, SEG_FO, sym, "", "OPTIDX" if opt != "XX" else "FUTIDX", raw, expiry_unix(raw),
                         strike, opt, draw(st.integers(1, 10**6)), draw(st.integers(1, 1000)),
                         draw(st.integers(0, 2**31 - 1)), draw(names), ""))
        else:
            sym = draw(names)
            rows.append((tok, SEG_CM, sym, draw(st.sampled_from(["EQ", "BE", "N1"])), "", 0, 0, -1, "",
                         draw(st.integers(1, 10**6)), draw(st.integers(1, 1000)), tok, sym,
                         draw(st.text(alphabet="ABCDEFGHIJ .", max_size=25)).strip()))
    return np.array(rows, dtype=INSTRUMENT_DTYPE)


@settings(max_examples=60, deadline=None)
@given(rows=instrument_rows())
def test_property_write_load_round_trip(tmp_path_factory, rows):
    d = tmp_path_factory.mktemp("rt")
    write_contract_file(d / "c.txt", rows)
    write_security_file(d / "s.txt", rows)
    ins = Instruments.load(d / "c.txt", d / "s.txt")
    assert ins.errors == []
    got = np.sort(ins.table, order=["segment", "token"])
    want = np.sort(rows, order=["segment", "token"])
    assert np.array_equal(got, want)


def test_symbols_are_taken_in_any_case_as_index_names_are(master):
    """by_symbol("nifty") was an empty array, no error, while vega.index_token("nifty 50") finds Nifty 50: NSE's
    symbols are upper case, so every lookup by symbol takes one in any case, blanks around it ignored."""
    ins = Instruments.load(*master)
    assert ins.by_symbol("reliance")["token"].tolist() == ins.by_symbol("RELIANCE")["token"].tolist() == \
        [68777, 2885]
    assert ins.by_symbol(" Reliance ", "cm")["token"].tolist() == [2885]
    assert ins.expiries("banknifty") == ins.expiries("BANKNIFTY") and ins.expiries("banknifty")
    assert ins.option_chain("BankNifty", EXP)["token"].tolist() == [35002, 35000, 35001, 35004, 35005]
    assert ins.futures("bankNIFTY")["token"].tolist() == [35011, 35010]
    assert len(ins.by_symbol("RELIANC")) == 0                                   # a key, not a prefix
    for call in (lambda: ins.by_symbol(2885), lambda: ins.expiries(b"NIFTY"),
                 lambda: ins.option_chain(None, EXP)):
        with pytest.raises(TypeError, match="symbol must be a str .an NSE symbol such as 'NIFTY'., not"):
            call()
    with pytest.raises(TypeError, match="underlying must be a str"):
        ins.futures(35010)


def test_a_symbol_lookup_follows_a_table_assigned_later(master):
    """The table's symbols in upper case are made once per table: one assigned since is looked up as it is."""
    ins = Instruments.load(*master)
    assert len(ins.by_symbol("reliance")) == 2
    ins.table = ins.table[ins.table["segment"] == SEG_CM]
    assert ins.by_symbol("reliance")["token"].tolist() == [2885]
