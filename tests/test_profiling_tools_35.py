"""docs/PROFILING.md's tools and the benchmarks' command lines, thirty-fifth session: the workload profiles the
tree it is in whatever PYTHONPATH says, and every benchmark refuses a bad option value in one line."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = os.path.join(ROOT, "tools", "profile_workload.py")


def _decoy(tmp_path):
    """A directory holding a package named vega that is not this tree's (as an installed vega would be)."""
    d = tmp_path / "elsewhere"
    (d / "vega").mkdir(parents=True)
    (d / "vega" / "__init__.py").write_text("raise ImportError('the decoy vega, not the tree')\n")
    return str(d)


@pytest.mark.parametrize("with_root", [False, True])
def test_workload_imports_its_own_trees_vega_whatever_pythonpath_says(tmp_path, with_root):
    # with PYTHONPATH set the workload used to leave sys.path alone: it profiled the first vega found there
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_decoy(tmp_path)] + [ROOT] * with_root))
    out = tmp_path / "s.pkl"
    p = subprocess.run([sys.executable, WORKLOAD, "generate", "--out", str(out), "--datagrams", "3"],
                       capture_output=True, text=True, timeout=120, env=env, cwd=str(tmp_path))
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    p = subprocess.run([sys.executable, WORKLOAD, "run", "--stream", str(out), "--passes", "1"],
                       capture_output=True, text=True, timeout=120, env=env, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("1 passes, 6 datagrams, ")
    assert last.endswith(f"ns/message; vega from {os.path.join(ROOT, 'vega')}"), last   # says which vega


def test_workload_of_an_unbuilt_tree_is_one_line_not_another_vega(tmp_path):
    # a copy of the workload in a tree whose vega cannot be imported must not fall back to PYTHONPATH's
    tree = tmp_path / "tree"
    (tree / "tools").mkdir(parents=True)
    (tree / "vega").mkdir()
    (tree / "vega" / "__init__.py").write_text("raise ImportError(\"No module named 'vega._core'\")\n")  # unbuilt
    (tree / "tools" / "profile_workload.py").write_text(open(WORKLOAD).read())
    p = subprocess.run([sys.executable, str(tree / "tools" / "profile_workload.py"), "generate", "--out",
                        str(tmp_path / "s.pkl"), "--datagrams", "3"], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=ROOT), cwd=str(tmp_path))
    assert p.returncode == 1 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith(f"profile_workload: cannot import vega from {tree} (build it there: "), lines[0]
    assert not (tmp_path / "s.pkl").exists()
