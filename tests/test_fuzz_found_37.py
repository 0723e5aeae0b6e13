"""The coverage-guided fuzz harness (tools/fuzz.py, docs/FUZZING.md) and what its runs found.

Each target's checks hold on its seeds (the simulator's datagrams and the files VEGA writes from them): a parser
that starts refusing sound input, or a count that stops adding up, fails here on the normal build, where the
harness itself needs neither atheris nor a sanitizer.  ``fuzz.py hypothesis --scale`` multiplies the examples of
a test's own ``@settings``, and the script's bad arguments are one line.
"""
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tools", "fuzz.py")


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("vega_tools_fuzz", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_harness_has_one_target_per_parser(fuzz):
    assert set(fuzz.TARGETS) == {"decode-cm", "decode-fo", "feed-cm", "feed-fo", "feed-idx", "lzo", "pcap",
                                 "journal", "ring"}


@pytest.mark.parametrize("name", ["decode-cm", "decode-fo", "feed-cm", "feed-fo", "feed-idx", "lzo", "pcap",
                                  "journal", "ring"])
def test_every_target_holds_on_its_seeds(fuzz, name, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    target = fuzz.TARGETS[name]()
    seeds = target.seeds()
    assert len(seeds) >= 3 and all(isinstance(s, bytes) for s in seeds)
    target.setup()
    try:
        for s in seeds:
            target(s)
    finally:
        target.teardown()
    assert os.listdir(tmp_path) == []                 # the journal's and the ring's files are gone


def test_the_decode_target_sees_messages_in_its_seeds(fuzz):
    t = fuzz.TARGETS["decode-fo"]()
    seeds = t.seeds()
    t.setup()
    for s in seeds:
        t(s)
    st = t.dec.stats
    assert st["datagrams"] == len(seeds) and st["messages"] >= len(seeds)
    assert not any(st["errors"].values())


def test_the_lzo_target_refuses_what_both_refuse_and_compares_what_both_accept(fuzz):
    t = fuzz.TARGETS["lzo"]()
    t.setup()
    t(b"")                                            # both refuse (no EOF marker)
    t(b"\x11\x00\x00")                                # both accept: the empty stream
    t(b"\x11\x00\x00\x00")                            # both refuse: a byte after the EOF marker


def test_hypothesis_scale_multiplies_a_tests_own_max_examples(tmp_path):
    (tmp_path / "test_n.py").write_text(
        "from hypothesis import given, settings, strategies as st\n"
        "CALLS = []\n"
        "@settings(max_examples=7, database=None)\n"
        "@given(st.integers())\n"
        "def test_x(i):\n"
        "    CALLS.append(i)\n"
        "def test_count():\n"
        "    assert len(CALLS) == 21, len(CALLS)\n")
    p = subprocess.run([sys.executable, SCRIPT, "hypothesis", "--scale", "3", "--", "-q", "-p", "no:cacheprovider",
                        "-p", "no:randomly", str(tmp_path / "test_n.py")], capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 passed" in p.stdout


@pytest.mark.parametrize("args, line", [
    (["nope"], "fuzz.py: argument target: invalid choice: 'nope'"),
    (["lzo", "--seconds", "0"], "fuzz.py: --seconds must be >= 1, not 0 (see --help)"),
    (["lzo", "--replay", "/nonexistent/input"], "fuzz.py: no such input file: /nonexistent/input (see --help)"),
    (["hypothesis", "--scale", "0"], "fuzz.py: --scale must be >= 1, not 0 (see --help)"),
])
def test_a_bad_argument_is_one_line_and_status_2(args, line, tmp_path):
    p = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, cwd=str(tmp_path),
                       timeout=60)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and p.stderr.startswith(line), p.stderr
