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
from journal_helpers import make_records, peak_growth_mib  # noqa: E402
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


@pytest.mark.parametrize("compression, name", [("none", "part-0.csv"), ("gzip", "part-0.csv.gz")])
def test_a_csv_export_reads_back_as_the_parquet_export_column_by_column(exported, tmp_path, compression, name):
    """format="csv": the Parquet export's files, rows and columns as text (pyarrow's CSV writer), named alike but
    for the extension; read back by pyarrow, typed as the Parquet file or inferred, every value is the same:
    times to the nanosecond, prices (slots) and every other integer exact."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    out, files, paths = exported
    csv_paths = export(tmp_path / "j", tmp_path / "csv", DAYS[0], DAYS[-1], format="CSV", compression=compression,
                       row_group_size=700, progress=False)
    assert [p.relative_to(tmp_path / "csv") for p in csv_paths] == [p.relative_to(out).with_name(name) for p in paths]
    assert sorted(p.name for p in (tmp_path / "csv").rglob("*") if p.is_file()) == [name] * 4
    for pq_path, csv_path in zip(paths, csv_paths):
        want = pq.read_table(pq_path)
        typed = pacsv.read_csv(csv_path, convert_options=pacsv.ConvertOptions(column_types=want.schema))
        inferred = pacsv.read_csv(csv_path)                 # as a tool without the schema reads it
        assert typed.column_names == inferred.column_names == want.column_names and typed.num_rows == want.num_rows
        for c in want.column_names:
            assert typed.column(c).equals(want.column(c)), c
            assert inferred.column(c).cast(pa.int64()).equals(want.column(c).cast(pa.int64())), c
    d, f = DAYS[0], FEEDS[0]
    r = files[(d, f)][:1]
    ist = np.datetime64(day_epoch_ns(d) + int(timestamps(r)[0]) + 19800 * 10**9, "ns")   # 19800 s: +05:30
    first = f"{str(ist).replace('T', ' ')}+0530,0,{r['token'][0]},{r['group'][0]},{r['flags'][0]},{r['mask'][0]}," \
            f"{r['source'][0]}," + ",".join(str(x) for x in r["slots"][0])
    with pa.input_stream(str(csv_paths[0]), compression="detect") as text:
        assert text.read().decode().splitlines()[:2] == [
            '"ts","seq","token","group","flags","mask","source","slot0","slot1","slot2","slot3"', first]
    csv_rows = ds.dataset(tmp_path / "csv", format="csv", partitioning="hive").count_rows()
    assert csv_rows == sum(len(r) for r in files.values())


def test_a_bad_format_or_a_parquet_codec_for_csv_is_refused_before_anything_is_written(tmp_path):
    with JournalWriter(tmp_path / "j", "NSE_FO", DAYS[0], flush_interval=None) as w:
        w.append(make_records(100, seed=7))
    out = tmp_path / "out"
    for kw, error, says in (
            ({"format": "xlsx"}, ValueError, r"^export: format must be one of parquet, csv, not 'xlsx'$"),
            ({"format": None}, TypeError, r"^export: format must be one of parquet, csv, not NoneType$"),
            ({"format": "csv", "compression": "zstd"}, ValueError,
             r"^export: compression for CSV must be one of gzip, none \(or None\), not 'zstd'$"),
            ({"format": "csv", "compression": 6}, TypeError, r"^export: compression for CSV must be .*, not int$"),
            ({"compression": "auto-ish"}, ValueError, r"^export: compression must be one of zstd, .*, not 'auto-ish'")):
        with pytest.raises(error, match=says):
            export(tmp_path / "j", out, DAYS[0], progress=False, **kw)
        assert not out.exists()
    # "auto" (the default) is zstd for Parquet and none for CSV; CSV's none and None are plain text
    import pyarrow.parquet as pq
    [p] = export(tmp_path / "j", out, DAYS[0], progress=False)
    assert p.name == "part-0.parquet" and pq.read_metadata(p).row_group(0).column(0).compression == "ZSTD"
    for comp in ("auto", "none", "NONE", None):
        [p] = export(tmp_path / "j", out, DAYS[0], progress=False, format="csv", compression=comp)
        assert p.name == "part-0.csv" and p.read_bytes().startswith(b'"ts","seq",')
    [p] = export(tmp_path / "j", out, DAYS[0], progress=False, format="csv", compression="GZip")
    assert p.name == "part-0.csv.gz" and p.read_bytes()[:2] == b"\x1f\x8b"


def test_bad_row_group_size_or_compression_is_refused_before_anything_is_written(tmp_path):
    """row_group_size=-1 replaced a good export with a Parquet file of 0 rows and returned it as written; 0 failed
    with a bare "range() arg 3 must not be zero"; an unknown compression was pyarrow's bare ArrowException, with
    the output directories made.  Each is now a TypeError or ValueError naming the argument, nothing written."""
    import pyarrow.parquet as pq
    recs = make_records(2500, seed=5)
    with JournalWriter(tmp_path / "j", "NSE_FO", DAYS[0], flush_interval=None) as w:
        w.append(recs)
    out = tmp_path / "pq"
    [good] = export(tmp_path / "j", out, DAYS[0], progress=False)
    before = good.read_bytes()
    fresh = tmp_path / "fresh"
    bad_args = [({"row_group_size": v}, ValueError, rf"export: row_group_size \(records per row group\) must be an "
                                                    rf"int >= 1, not {v}") for v in (0, -1, -(1 << 20))]
    bad_args += [({"row_group_size": v}, TypeError, f"export: row_group_size .* must be an int, not {kind}")
                 for v, kind in ((None, "NoneType"), (1.5, "float"), (1e6, "float"), (True, "bool"), ("700", "str"))]
    bad_args += [({"compression": v}, ValueError, rf"export: compression must be one of zstd, snappy, gzip, lz4, "
                                                  rf"brotli, none \(or None\), not {v!r}") for v in ("nope", "", "zst")]
    bad_args += [({"compression": 5}, TypeError, r"export: compression must be one of .*, not int")]
    for kw, error, says in bad_args:
        for dest in (out, fresh):
            with pytest.raises(error, match=says):
                export(tmp_path / "j", dest, DAYS[0], progress=False, **kw)
        assert good.read_bytes() == before and not fresh.exists()
        assert sorted(p.name for p in good.parent.iterdir()) == ["part-0.parquet"]
    # every codec the CLI offers, in any case, and None; numpy integers as row group sizes
    from vega.journal import _COMPRESSIONS
    assert _cli_compressions() == _COMPRESSIONS
    for comp, codec in (("zstd", "ZSTD"), ("SNAPPY", "SNAPPY"), ("gzip", "GZIP"), ("lz4", "LZ4"),
                        ("Brotli", "BROTLI"), ("none", "UNCOMPRESSED"), (None, "UNCOMPRESSED")):
        [p] = export(tmp_path / "j", out, DAYS[0], progress=False, compression=comp, row_group_size=np.int64(1000))
        meta = pq.read_metadata(p)
        assert meta.num_rows == len(recs) and meta.num_row_groups == 3
        assert meta.row_group(0).column(0).compression == codec
    [p] = export(tmp_path / "j", out, DAYS[0], progress=False, row_group_size=1)
    assert pq.read_metadata(p).num_row_groups == len(recs)


def _cli_compressions():
    """The choices of `vega export --compression`."""
    from vega.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and "export" in a.choices).choices["export"]
    return tuple(next(a for a in sub._actions if a.dest == "compression").choices)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc (VmHWM reset)")
def test_an_export_of_many_days_holds_a_row_group_in_memory_not_the_range(tmp_path):
    """export read the records through the files' maps and kept every day's journal open to the end: each page
    read stayed in the process, so its peak memory grew with the range (1.6 GB for 1.3 GB of journals).  It
    reads a row group at a time now: a range of 48 MiB raises the peak by a fraction of that."""
    recs = make_records(400_000, seed=3)                             # 12.8 MB a day
    days = [dt.date(2026, 11, 16) + dt.timedelta(days=i) for i in range(4)]
    for d in days:
        with JournalWriter(tmp_path / "j", "NSE_FO", d, flush_interval=None) as w:
            w.append(recs)
    del recs
    export(tmp_path / "j", tmp_path / "warm", days[0], progress=False, compression=None, row_group_size=20_000)
    paths, grew_mib = peak_growth_mib(lambda: export(tmp_path / "j", tmp_path / "pq", days[0], days[-1],
                                                     progress=False, compression=None, row_group_size=20_000))
    assert len(paths) == 4 and ds.dataset(tmp_path / "pq", partitioning="hive").count_rows() == 1_600_000
    assert grew_mib < 16, f"the export's peak memory grew by {grew_mib:.0f} MiB for 48 MiB of journals"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc (open descriptors)")
def test_an_export_of_more_days_than_open_files_allowed_opens_one_day_at_a_time(tmp_path):
    """export opened every day of the range and kept it open to the end, two descriptors each (the file and
    its map): a year of three feeds ran out of them under the common limit of 1024 ("Too many open files")."""
    import resource
    recs = make_records(50, seed=4)
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(40)]
    for d in days:
        with JournalWriter(tmp_path / "j", "NSE_FO", d, flush_interval=None) as w:
            w.append(recs)
    export(tmp_path / "j", tmp_path / "warm", days[0], progress=False)     # pyarrow's own descriptors opened
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 30, hard))
    try:
        paths = export(tmp_path / "j", tmp_path / "pq", days[0], days[-1], progress=False)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(paths) == 40 and ds.dataset(tmp_path / "pq", partitioning="hive").count_rows() == 40 * 50


def test_an_unsealed_day_is_exported_up_to_the_update_it_ends_inside_as_replay_holds_it_back(tmp_path):
    """A day being written can end inside an update (its other records still in the writer's buffer): replay
    holds that update back (next_seq is its first record), and export wrote its records, a part of an update
    that no later export of the day repeats as it was.  Export stops where replay does; the sealed day whole."""
    import pyarrow.parquet as pq
    from vega.journal import replay
    from vega.records import CONTINUED
    recs = make_records(40, seed=6)
    recs["token"][30:] = recs["token"][30]              # one token's update of ten records
    recs["flags"][30:] |= CONTINUED
    recs["flags"][-1] &= ~np.uint8(CONTINUED)
    w = JournalWriter(tmp_path / "j", "NSE_FO", DAYS[0], flush_interval=None)    # a running capture's
    try:
        w.append(recs[:34])                               # the update's last six records to come
        w.flush()
        res = replay(tmp_path / "j", DAYS[0], into=lambda r, f: None)
        assert res.records == 30 and res.next_seq["NSE_FO"] == 30
        [p] = export(tmp_path / "j", tmp_path / "pq", DAYS[0], progress=False, row_group_size=7)
        t = pq.read_table(p)
        assert t.column("seq").to_pylist() == list(range(30))
        assert t.column("token").to_pylist() == recs["token"][:30].tolist()
        w.append(recs[34:])
    finally:
        w.close()
    [p] = export(tmp_path / "j", tmp_path / "pq", DAYS[0], progress=False, row_group_size=7)
    assert pq.read_table(p).column("slot0").to_pylist() == recs["slots"][:, 0].tolist()


def test_a_day_that_fails_while_written_removes_the_directories_made_for_it_and_no_other(tmp_path, monkeypatch):
    """export made a day's date=.../feed=... directories, and a failure while writing the day (a full disk,
    Ctrl-C) removed its temporary file but left them, empty.  The directories made for the failed day go now,
    the output directory too when the export made it for that day; those that were there stay."""
    import pyarrow.parquet as pq
    for d in DAYS:
        with JournalWriter(tmp_path / "j", "NSE_FO", d, flush_interval=None) as w:
            w.append(make_records(100, seed=d.day))
    good = pq.ParquetWriter.write_table
    calls, fail_at = [], [1]

    def fail(self, table, *a, **k):
        calls.append(1)
        if len(calls) == fail_at[0]:
            raise KeyboardInterrupt
        return good(self, table, *a, **k)
    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail)
    out = tmp_path / "new" / "pq"
    with pytest.raises(KeyboardInterrupt):                  # the first day fails: nothing of the export is left
        export(tmp_path / "j", out, DAYS[0], DAYS[1], progress=False)
    assert sorted(tmp_path.iterdir()) == [tmp_path / "j"]
    before = out / f"date={DAYS[1]}" / "feed=NSE_EQ"
    before.mkdir(parents=True)
    calls.clear()
    fail_at[0] = 4                                          # the second day's second row group
    landed = []                                             # on_file: each file once whole in place
    with pytest.raises(KeyboardInterrupt):
        export(tmp_path / "j", out, DAYS[0], DAYS[1], progress=False, row_group_size=60, on_file=landed.append)
    assert landed == [out / f"date={DAYS[0]}" / "feed=NSE_FO" / "part-0.parquet"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        f"date={DAYS[0]}", f"date={DAYS[0]}/feed=NSE_FO", f"date={DAYS[0]}/feed=NSE_FO/part-0.parquet",
        f"date={DAYS[1]}", f"date={DAYS[1]}/feed=NSE_EQ"]
    assert pq.read_table(out / f"date={DAYS[0]}" / "feed=NSE_FO" / "part-0.parquet").num_rows == 100


def _formats_recipe():
    """The ```python block of docs/FORMATS.md's "Parquet and CSV export" section."""
    text = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "docs", "FORMATS.md"),
                encoding="utf-8").read()
    section = text[text.index("### Parquet and CSV export"):]
    section = section[:section.index("\n## ")]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_both_exports_read_back_as_one_table_by_the_documented_recipe(exported, tmp_path, compression):
    """Read as hive datasets, the CSV and the Parquet export gave `date` (and `feed`) as strings alike, and the
    CSV its `ts` in UTC and its integers as int64. The partitions' types cannot come from the writer (pyarrow
    infers only integers from directory names); docs/FORMATS.md gives the reading that types them, and with it
    both exports are the same table."""
    out, files, _ = exported
    export(tmp_path / "j", tmp_path / "csv", DAYS[0], DAYS[-1], format="csv", compression=compression,
           progress=False)
    for fmt, where in (("parquet", out), ("csv", tmp_path / "csv")):
        plain = ds.dataset(where, format=fmt, partitioning="hive").schema
        assert plain.field("date").type == plain.field("feed").type == pa.string(), fmt
    code = _formats_recipe()
    assert '"/data/nse"' in code and '"/data/nse-csv"' in code
    ns = {}
    exec(code.replace('"/data/nse-csv"', repr(str(tmp_path / "csv"))).replace('"/data/nse"', repr(str(out))), ns)
    parquet, text = ns["parquet"], ns["text"]
    assert parquet.schema.field("date").type == pa.date32() and parquet.schema.field("feed").type == pa.string()
    assert parquet.schema.field("ts").type == pa.timestamp("ns", tz="Asia/Kolkata")
    assert text.schema == parquet.schema and text.equals(parquet)
    assert parquet.num_rows == sum(len(r) for r in files.values())
    assert sorted(set(parquet.column("date").to_pylist())) == DAYS
