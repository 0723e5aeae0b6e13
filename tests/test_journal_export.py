"""export(): hive-partitioned Parquet, one row per change record, readable across days by pyarrow.dataset (and by
DuckDB and polars when they are installed)."""
import datetime as dt
import os
import sys

import numpy as np
import pytest

import pyarrow as pa  # the `export` extra (also in the `test` extra)
import pyarrow.dataset as ds  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))  # journal_helpers, whether or not tests/ is a package
from journal_helpers import make_records  # noqa: E402
from vega.journal import JournalWriter, day_epoch_ns, export  # noqa: E402
from vega.records import timestamps  # noqa: E402

DAYS = [dt.date(2026, 11, 19), dt.date(2026, 11, 20)]
FEEDS = ["NSE_FO", "NSE_EQ"]


@pytest.fixture
def exported(tmp_path):
    files = {}
    for i, d in enumerate(DAYS):
        for k, f in enumerate(FEEDS):
            recs = make_records(2000 + 300 * i + 100 * k, seed=i * 2 + k)
            with JournalWriter(tmp_path / "j", f, d, first_seq=10 * i, flush_interval=None) as w:
                w.append(recs)
            files[(d, f)] = recs
    out = tmp_path / "pq"
    paths = export(tmp_path / "j", out, DAYS[0], DAYS[-1], row_group_size=700, progress=True)
    return out, files, paths


def expected_table(files):
    rows = []
    for (d, f), r in files.items():
        for i in range(len(r)):
            rows.append((str(d), f, day_epoch_ns(d) + int(timestamps(r[i:i + 1])[0]), int(r["token"][i]),
                         *[int(x) for x in r["slots"][i]]))
    return sorted(rows)


def test_export_reads_back_with_pyarrow_dataset(exported):
    out, files, paths = exported
    assert len(paths) == 4 and all(p.name == "part-0.parquet" for p in paths)
    assert (out / "date=2026-11-19" / "feed=NSE_FO" / "part-0.parquet").exists()
    t = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert t.num_rows == sum(len(r) for r in files.values())
    assert t.schema.field("ts").type == pa.timestamp("ns", tz="Asia/Kolkata")
    d = t.drop(["ts"]).to_pydict()
    ints = t.column("ts").cast(pa.int64()).to_pylist()
    got = sorted((str(dd)[:10], f, ts, tok, s0, s1, s2, s3)
                 for dd, f, ts, tok, s0, s1, s2, s3 in zip(d["date"], d["feed"], ints, d["token"], d["slot0"],
                                                          d["slot1"], d["slot2"], d["slot3"]))
    assert got == expected_table(files)
    one = ds.dataset(paths[0], format="parquet").to_table()
    assert one.column("seq").to_pylist() == list(range(0, one.num_rows))


def test_export_reads_back_with_duckdb(exported):
    import duckdb
    out, files, _ = exported
    rows = duckdb.sql(f"select feed, count(*), min(epoch_ns(ts)) from read_parquet('{out}/**/*.parquet', "
                      f"hive_partitioning=true) where date = DATE '2026-11-20' group by feed order by feed").fetchall()
    d = DAYS[1]
    want = sorted((f, len(files[(d, f)]), day_epoch_ns(d) + int(timestamps(files[(d, f)]).min())) for f in FEEDS)
    assert [tuple(r) for r in rows] == want


def test_export_reads_back_with_polars(exported):
    import polars as pl
    out, files, _ = exported
    df = pl.scan_parquet(str(out / "**" / "*.parquet"), hive_partitioning=True).collect()
    assert df.height == sum(len(r) for r in files.values())
    assert set(df["feed"].unique().to_list()) == set(FEEDS)
    assert np.array_equal(np.sort(df["token"].to_numpy()),
                          np.sort(np.concatenate([r["token"] for r in files.values()])))
