"""tools/ab_core.py: two builds of vega._core compared in one process (here the same build twice)."""
import os
import re
import subprocess
import sys

import vega._core

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "ab_core.py")
LINE = re.compile(r"FO  7208: records on  A +([\d.]+)  B +([\d.]+)  B/A ([\d.]+)  B faster in +(\d)/3 \| "
                  r"records off A +([\d.]+)  B +([\d.]+)  B/A ([\d.]+)  B faster in +(\d)/3$")


def _run(*args, tmp):
    """The tool on 300 datagrams, its stream cached in ``tmp`` (TMPDIR), not left in /tmp."""
    env = dict(os.environ, VEGA_BENCH_DATAGRAMS="300", TMPDIR=str(tmp))
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, env=env, timeout=300)


def test_same_build_twice_gives_one_line_per_code(tmp_path):
    other = tmp_path / os.path.basename(vega._core.__file__)
    other.write_bytes(open(vega._core.__file__, "rb").read())   # a second file: loaded as its own module
    p = _run(str(other), "--codes", "FO:7208", "--rounds", "3", "--repeat", "1", tmp=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("FO")]
    assert len(lines) == 1, p.stdout
    m = LINE.match(lines[0])
    assert m, lines[0]
    a, b, ratio = float(m.group(1)), float(m.group(2)), float(m.group(3))
    assert a > 0 and b > 0 and abs(ratio - b / a) < 0.002
    assert int(m.group(4)) <= 3 and int(m.group(8)) <= 3


def test_bad_arguments_are_one_readable_line(tmp_path):
    p = _run(str(tmp_path / "missing.so"), tmp=tmp_path)
    assert p.returncode != 0 and "no such file" in p.stderr and "Traceback" not in p.stderr
    p = _run(vega._core.__file__, "--codes", "FO:1234", tmp=tmp_path)
    assert p.returncode != 0 and "--codes" in p.stderr and "Traceback" not in p.stderr
    p = _run(vega._core.__file__, "--rounds", "0", tmp=tmp_path)
    assert p.returncode != 0 and "at least 1" in p.stderr and "Traceback" not in p.stderr
