"""The store record's layout: C compiler offsets == STORE_DTYPE == docs/FORMATS.md, cache-line grouping,
the store file's header == the FORMATS.md header table, and the change-record group table == vega.store.GROUPS ==
the FORMATS.md group table."""
import pathlib
import re
import struct

import numpy as np

import vega._core as core
from vega.records import CHANGE_RECORD_DTYPE
from vega.store import GROUPS, STORE_DTYPE

DOC = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "FORMATS.md").read_text()


def _doc_section(title):
    start = DOC.index(title)
    ends = [e for e in (DOC.find("\n## ", start + 1), DOC.find("\n### ", start + 1)) if e > 0]
    return DOC[start:min(ends) if ends else None]


def test_record_size_is_seven_cache_lines():
    assert STORE_DTYPE.itemsize == 448 and 448 % 64 == 0
    assert core.Store(1).header["record_size"] == 448


def test_every_field_offset_matches_the_compiler():
    c = core._store_layout()
    assert set(c) == set(STORE_DTYPE.names)
    for name in STORE_DTYPE.names:
        dt, off = STORE_DTYPE.fields[name][:2]
        assert c[name] == (off, dt.itemsize), name


def test_formats_md_table_matches():
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\w+(?:\[\d+\])?) \| `(\w+)` \|", _doc_section("### 3.1 Store record"),
                      re.M)
    doc = {name: (int(off), int(size)) for off, size, _, name in rows}
    c = core._store_layout()
    assert doc == c


def test_fields_do_not_overlap_and_fill_the_record():
    spans = sorted(core._store_layout().values())
    end = 0
    for off, size in spans:
        assert off == end, (off, end)          # contiguous, no hidden padding
        end = off + size
    assert end == 448


def test_cache_line_grouping():
    c = core._store_layout()
    line = {name: off // 64 for name, (off, _) in c.items()}
    # line 0: everything a ticker reads or writes but its quality inputs (line 1) and F&O OI (line 4)
    for name in ("seq", "token", "last_traded_price", "volume_traded_today", "last_trade_time",
                 "last_trade_quantity", "last_update_ns", "update_count", "last_update_source", "fill_price",
                 "fill_volume", "market_type", "last_md_ns", "data_quality", "trading_status"):
        assert line[name] == 0, name
    for name in ("open_interest", "oi_day_high", "oi_day_low"):
        assert line[name] == 4, name
    for name in ("bid_price", "ask_price", "open_price", "high_price", "low_price", "close_price"):
        assert line[name] == 1, name
    for name, (off, size) in c.items():            # no field straddles a cache line
        assert off // 64 == (off + size - 1) // 64 or name in ("bid_quantity", "ask_quantity"), name


def test_index_union_fields_match_the_compiler_and_docs():
    from vega.indices import INDEX_DTYPE
    from vega.store import INDEX_UNION_FIELDS
    c = core._index_layout()
    assert c == {n: (off, np.dtype(t).itemsize) for n, t, off in INDEX_UNION_FIELDS}
    line5 = [(off, size) for name, (off, size) in core._store_layout().items() if 320 <= off < 384]
    assert all(320 <= off and off + size <= 376 for off, size in c.values())       # inside line 5's union
    assert min(o for o, _ in line5) == 320
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\w+) \| `(\w+)` \|", _doc_section("### 3.5 Index records"), re.M)
    assert {name: (int(off), int(size)) for off, size, _, name in rows} == c
    for n, t, off in INDEX_UNION_FIELDS:
        view = n[len("idx_"):].replace("ind_", "indicative_")
        assert INDEX_DTYPE.fields[view][1] == off


def test_record_array_is_64_byte_aligned():
    for cap in (1, 3, 1000):
        h = core.Store(cap).header
        assert h["records_off"] % 4096 == 0
    s = core.Store(3)
    s.add(1)
    a = s.array
    assert a.ctypes.data % 64 == 0
    del a


def test_formats_md_store_header_table_matches_the_file():
    """FORMATS.md 3.2's header table: each field at its offset and size in a real store file holds what
    ``Store.header`` says, and the sizes and offsets follow the table's rules."""
    import os
    import uuid
    rows = re.findall(r"^\| (\d+) \| (\d+) \| `(\w+)` \|", _doc_section("### 3.2 Store file"), re.M)
    assert [r[2] for r in rows][:3] == ["magic", "version", "header_size"] and rows[-1][2] == "segment"
    fmt = {1: "<B", 4: "<I", 8: "<Q"}
    name = f"test-layout-{uuid.uuid4().hex[:10]}"
    s = core.Store.create(name, 1000)
    try:
        s.add(7, segment="FO")
        with open(os.path.join(core.SHM_DIR, f"vega.store.{name}"), "rb") as f:
            raw = f.read(128)
        h = s.header
        for off, size, field in rows:
            assert struct.unpack_from(fmt[int(size)], raw, int(off))[0] == h[field], field
    finally:
        s.close()
        core.Store.remove(name)
    assert raw[:8] == b"VGASTOR1" and h["magic"] == 0x31524F5453414756
    assert (h["version"], h["header_size"], h["record_size"], h["dense_off"]) == (2, 128, 448, 4096)
    assert h["dense_size"] == 262144 and h["hash_size"] == 2048 and h["segment"] == 2   # 16 <= 2 x 1000 <= 2048

    def up(v, a):
        return -(-v // a) * a
    assert h["hash_off"] == up(h["dense_off"] + 4 * h["dense_size"], 64)
    assert h["records_off"] == up(h["hash_off"] + 8 * h["hash_size"], 4096)
    assert h["file_size"] == up(h["records_off"] + 448 * h["capacity"], 4096)
    assert core.Store(3).header["hash_size"] == 16 and core.Store(9).header["hash_size"] == 32


def test_group_table_matches_compiled_table_and_docs():
    compiled = core._group_fields()
    layout = core._store_layout() | core._index_layout()
    assert set(compiled) == set(GROUPS)
    for g, (gname, names) in GROUPS.items():
        assert len(compiled[g]) == len(names), gname
        for (off, size, _signed), name in zip(compiled[g], names):
            m = re.fullmatch(r"(\w+)\[(\d)\]", name)
            if m:
                base_off, base_size = layout[m.group(1)]
                elem = STORE_DTYPE.fields[m.group(1)][0].base.itemsize
                assert (off, size) == (base_off + int(m.group(2)) * elem, elem), name
            elif name.startswith("symbol"):
                assert (off, size) == (layout["symbol"][0] + 4 * int(name[-1]), 4)
            else:
                assert (off, size) == layout[name], name
    rows = re.findall(r"^\| (\d+) \| (\w+) \| ", _doc_section("### 3.4 Change records"), re.M)
    assert {int(i): n for i, n in rows} == {g: n for g, (n, _) in GROUPS.items()}


def test_change_record_dtype_is_32_bytes():
    assert CHANGE_RECORD_DTYPE.itemsize == 32
    assert np.dtype(CHANGE_RECORD_DTYPE).fields["slots"][1] == 16


def test_stubs_name_the_public_api():
    import ast
    tree = ast.parse((pathlib.Path(core.__file__).parent / "_core.pyi").read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for cls, obj in (("Store", core.Store), ("FeedHandler", core.FeedHandler), ("Quote", core.Quote)):
        stubbed = {n.name for n in classes[cls].body if isinstance(n, ast.FunctionDef)} | {
            n.target.id for n in classes[cls].body if isinstance(n, ast.AnnAssign)}
        public = {n for n in dir(obj) if not n.startswith("_")}
        assert public <= stubbed, (cls, public - stubbed)
