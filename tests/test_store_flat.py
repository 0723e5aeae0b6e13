"""vega.store.flat: the store's records as a table that pandas, polars and pyarrow take (pandas refuses the
store's 5-wide depth fields), each value equal to what a Quote of the same instrument says."""
import numpy as np
import pytest

import vega
from vega import nse
from vega.store import STORE_DTYPE, flat

T0 = 1_780_000_000_000_000_000


@pytest.fixture(scope="module", params=["FO", "CM"])
def store(request):
    s = vega.Store(20_000)
    vega.FeedHandler(request.param, s).process_batch(list(nse.sample_stream(request.param, 300, seed=4)), now_ns=T0)
    return s


def _quote_row(q):
    """A Quote's fields with each depth level as its own name, as flat() is documented to lay them out."""
    row = {}
    for k, v in q.to_dict().items():
        if isinstance(v, tuple):
            row.update((f"{k}_{i}", x) for i, x in enumerate(v))
        else:
            row[k] = v
    return row


def test_every_value_is_the_quotes(store):
    snap = store.snapshot()
    f = flat(snap)
    assert len(f) == len(store) > 100 and f["token"].tolist() == snap["token"].tolist()
    q0 = _quote_row(store[int(f["token"][0])])
    assert set(f.dtype.names) == set(q0)                  # every Quote field, nothing else (no seq, no pad)
    assert all(f.dtype[n].shape == () for n in f.dtype.names)
    for i in range(len(f)):
        want = _quote_row(store[int(f["token"][i])])
        got = {n: f[n][i].item() for n in f.dtype.names}
        assert got == want, int(f["token"][i])
    assert (f["bid_price_0"] > 0).any() and (f["ask_quantity_4"] > 0).any()
    if (f["segment"] == 4).all():                         # CM: buyback messages (18708) carry symbols
        assert (f["symbol"] != "").any() and (f["net_change_indicator"] != "").any()


def test_dataframe_libraries_take_it(store):
    import pandas as pd                               # test extras: a missing one fails, never skips
    import polars as pl
    import pyarrow as pa
    snap = store.snapshot()
    with pytest.raises(ValueError):                       # why flat() is there
        pd.DataFrame(snap)
    f = flat(snap)
    df = pd.DataFrame(f).set_index("token")
    best = df.loc[int(snap["token"][0])]
    assert best["bid_price_0"] == snap["bid_price"][0][0] and best["ask_orders_2"] == snap["ask_orders"][0][2]
    assert pl.DataFrame(f).shape == df.reset_index().shape
    assert pa.table({n: f[n] for n in f.dtype.names}).num_rows == len(snap)


def test_rows_views_and_errors(store):
    snap = store.snapshot()
    one = flat(snap[3])
    assert one.shape == (1,) and one["token"][0] == snap["token"][3]
    assert flat(store.array).tolist() == flat(snap).tolist()
    idx = flat(snap.view(vega.INDEX_DTYPE))               # an index store's view flattens too
    assert "index_value" in idx.dtype.names and "symbol" in idx.dtype.names
    assert idx["token"].tolist() == snap["token"].tolist()
    assert flat(np.zeros(0, STORE_DTYPE)).shape == (0,)
    with pytest.raises(TypeError, match="structured array of store records"):
        flat(np.zeros(3))
