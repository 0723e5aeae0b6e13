"""docs/PROFILING.md's tools on bad input: one line, no traceback, before any minutes are spent (the profiling
runs themselves need perf and take minutes: not here)."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = os.path.join(ROOT, "tools", "profile_workload.py")
ENV = dict(os.environ, PYTHONPATH=ROOT)


def _py(script, *args):
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=120, env=ENV,
                          cwd=ROOT)


def _one_line(p, *words):
    """p failed with one line on stderr naming words (an argparse error: its usage, then one error line)."""
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert all(w in last for w in words), (words, p.stderr)
    return last


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("stream") / "stream.pkl")
    p = _py(WORKLOAD, "generate", "--out", path, "--datagrams", "40")
    assert p.returncode == 0, p.stderr
    return path


def test_workload_runs_and_leaves_no_ring(stream):
    p = subprocess.Popen([sys.executable, WORKLOAD, "run", "--stream", stream, "--passes", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    m = re.search(r"^2 passes, 160 datagrams, ([\d,]+) messages, ([\d,]+) change records in", err, re.M)
    assert m and int(m.group(1).replace(",", "")) > 0 and int(m.group(2).replace(",", "")) > 0, err
    assert not os.path.exists(f"/dev/shm/vega-profile-{p.pid}")


def test_workload_refuses_a_store_too_small_and_unlinks_its_ring(stream):
    # a store that cannot hold the stream's instruments merged nothing but was profiled as if it had
    p = subprocess.Popen([sys.executable, WORKLOAD, "run", "--stream", stream, "--passes", "1", "--capacity", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1 and "Traceback" not in err, err
    assert err.strip() == err.strip().splitlines()[0]
    assert err.startswith("profile_workload: --capacity 1 is too small"), err
    assert not os.path.exists(f"/dev/shm/vega-profile-{p.pid}")


def test_workload_bad_files_are_one_line(stream, tmp_path):
    missing = str(tmp_path / "missing.pkl")
    assert _one_line(_py(WORKLOAD, "run", "--stream", missing)) == \
        f"profile_workload: cannot read {missing}: No such file or directory"
    other = tmp_path / "other.pkl"
    other.write_text("not a pickle")
    _one_line(_py(WORKLOAD, "run", "--stream", str(other)), "is not a stream file written by")
    _one_line(_py(WORKLOAD, "generate", "--out", str(tmp_path / "no-dir" / "s.pkl"), "--datagrams", "5"),
              "profile_workload: cannot write", "No such file or directory")
    assert not (tmp_path / "no-dir").exists()


@pytest.mark.parametrize("args, words", [
    (("run", "--batch", "0"), ("--batch", "at least 1")),          # was range()'s ValueError, a ring left behind
    (("run", "--seconds", "0"), ("--seconds", "above 0")),
    (("run", "--seconds", "nan"), ("--seconds", "above 0")),
    (("run", "--passes", "-1"), ("--passes", "at least 0")),       # was taken for 0: a timed run
    (("run", "--capacity", "x"), ("--capacity", "not a whole number")),
    (("generate", "--datagrams", "0"), ("--datagrams", "at least 1")),
])
def test_workload_bad_numbers_are_refused(stream, tmp_path, args, words):
    where = ("--stream", stream) if args[0] == "run" else ("--out", str(tmp_path / "s.pkl"))
    p = _py(WORKLOAD, args[0], *where, *args[1:])
    assert p.returncode == 2
    _one_line(p, *words)
