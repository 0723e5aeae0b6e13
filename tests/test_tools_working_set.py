"""tools/working_set.py: a code's messages with their tokens folded onto fewer records."""
import importlib.util
import os
import re
import subprocess
import sys

from hypothesis import given, strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "working_set.py")
_spec = importlib.util.spec_from_file_location("working_set", TOOL)
ws = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ws)

LINE = re.compile(r"^ +(all )?(\d+) tokens: records on +([\d.]+) \(([\d.]+) change records each\) \| "
                  r"records off +([\d.]+)$")


def _msgs(token_lists):
    return [{"transaction_code": 7202, "records": [{"token": t, "fill_price": 100 + j} for j, t in enumerate(toks)]}
            for toks in token_lists]


def test_fold_maps_the_ith_distinct_token_to_the_ith_mod_k():
    msgs = _msgs([[5, 3, 9], [3, 7]])
    out = ws.fold(msgs, 2)                       # distinct 3 5 7 9 -> 3 5 3 5
    assert [[r["token"] for r in m["records"]] for m in out] == [[5, 3, 5], [3, 3]]
    assert [[r["fill_price"] for r in m["records"]] for m in out] == [[100, 101, 102], [100, 101]]
    assert [[r["token"] for r in m["records"]] for m in msgs] == [[5, 3, 9], [3, 7]]   # input untouched
    assert ws.fold(msgs, 4) == msgs and ws.fold(msgs, 10) == msgs


@given(st.lists(st.lists(st.integers(1, 60), max_size=6), min_size=1, max_size=30), st.integers(1, 12))
def test_fold_keeps_the_shape_and_uses_at_most_k_of_the_own_tokens(token_lists, k):
    msgs = _msgs(token_lists)
    out = ws.fold(msgs, k)
    toks = ws.distinct_tokens(msgs)
    assert [len(m["records"]) for m in out] == [len(m["records"]) for m in msgs]
    assert set(ws.distinct_tokens(out)) == set(toks[:k])
    seen = {}
    for m, f in zip(msgs, out):
        assert {k_: v for k_, v in m.items() if k_ != "records"} == {k_: v for k_, v in f.items() if k_ != "records"}
        for r, q in zip(m["records"], f["records"]):
            assert seen.setdefault(r["token"], q["token"]) == q["token"]     # one token, one folded token
            assert {**r, "token": 0} == {**q, "token": 0}


def _run(*args, tmp):
    """The tool on 300 datagrams, its stream cached in ``tmp`` (TMPDIR), not left in /tmp."""
    env = dict(os.environ, VEGA_BENCH_DATAGRAMS="300", TMPDIR=str(tmp))
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, env=env, timeout=300)


def test_prints_every_fold_below_the_codes_own_token_count(tmp_path):
    p = _run("--codes", "FO:7202", "--tokens", "3,100000", "--best", "1", tmp=tmp_path)
    assert p.returncode == 0, p.stderr
    head = [ln for ln in p.stdout.splitlines() if ln.startswith("FO")]
    assert len(head) == 1 and "distinct tokens" in head[0], p.stdout
    n_tok = int(re.search(r"(\d+) distinct tokens", head[0]).group(1))
    rows = [LINE.match(ln) for ln in p.stdout.splitlines() if "tokens:" in ln]
    assert all(rows), p.stdout
    assert [(bool(m.group(1)), int(m.group(2))) for m in rows] == [(True, n_tok), (False, 3)]  # 100000 > n_tok
    for m in rows:
        assert float(m.group(3)) > 0 and float(m.group(4)) > 0 and float(m.group(5)) > 0


def test_bad_arguments_are_one_readable_line(tmp_path):
    for args, words in ((("--tokens", "0"), "at least 1"), (("--tokens", "x"), "working_set"),
                        (("--codes", "FO:1234"), "--codes"), (("--best", "0"), "at least 1")):
        p = _run(*args, tmp=tmp_path)
        assert p.returncode != 0 and words in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
