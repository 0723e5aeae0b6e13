"""The lead's fixes of the thirty-seventh session."""
import pytest

import vega
from vega import FeedHandler, Store
from vega.indices import INDEX_SYMBOLS


@pytest.mark.parametrize("symbol", sorted(INDEX_SYMBOLS))
def test_handler_index_token_refuses_a_derivatives_symbol_as_vega_index_token_does(symbol):
    h = FeedHandler("IDX", Store(capacity=64))
    with pytest.raises(ValueError) as e:
        h.index_token(symbol.lower())
    index = INDEX_SYMBOLS[symbol]
    assert f"index {index!r}" in str(e.value) and str(vega.index_token(index)) in str(e.value)
    assert all(n.upper() != symbol for n in h.index_names().values())
    with pytest.raises(ValueError) as e2:
        vega.index_token(symbol)
    assert str(e2.value) == str(e.value).replace(repr(symbol.lower()), repr(symbol))


def test_handler_index_token_of_a_symbol_it_was_configured_with():
    h = FeedHandler("IDX", Store(capacity=64), index_tokens={"NIFTY": 777})
    assert h.index_token("Nifty") == 777 == vega.index_token("NIFTY", {"NIFTY": 777})


def test_handler_index_token_of_other_names_unchanged():
    h = FeedHandler("IDX", Store(capacity=64))
    assert h.index_token("Nifty 50") == 26000
    assert h.index_token("Nifty Midcap 150") == vega.index_token("Nifty Midcap 150")


def test_a_wire_name_nifty_is_merged_as_any_name_and_then_is_the_handlers_token():
    from test_index_feed import index_datagram, index_rec
    from vega.indices import HASH_TOKEN_BASE
    store = Store(capacity=64)
    h = FeedHandler("IDX", store)
    h.process(index_datagram([index_rec("NIFTY", 2_000_000)]))
    tok = h.index_token("NIFTY")
    assert tok & HASH_TOKEN_BASE and h.index_names()[tok] == "NIFTY"
    assert store.ltp(tok) == 2_000_000
