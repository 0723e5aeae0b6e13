"""Type-check user code against vega's stubs, as a typed user of the package would."""
import os
import subprocess
import sys

import vega


def mypy_strict(tmp_path, source):
    """``mypy --strict`` of ``source`` (written to tmp_path/t.py) with vega's tree on MYPYPATH: an assertion
    error with mypy's output unless it passes."""
    (tmp_path / "t.py").write_text(source)
    root = os.path.dirname(os.path.dirname(os.path.abspath(vega.__file__)))     # vega's own errors are not
    env = dict(os.environ, MYPYPATH=root)                                         # checked here (silent)
    p = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
                        "--cache-dir", os.devnull, "t.py"], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
