"""tools/profile.sh's own interface (the profiling runs themselves need perf and take minutes: not here)."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tools", "profile.sh")


def run(*args):
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_help_prints_the_usage_and_nothing_of_the_script():
    r = run("--help")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Profile VEGA's capture hot path")
    assert any(line.strip().startswith("tools/profile.sh --drain") for line in lines)
    assert lines[-1].endswith("See docs/PROFILING.md.")
    assert not any(line.startswith("#") or "set -euo" in line or "BUILD=" in line for line in lines)


def test_an_unknown_option_is_one_line_and_exit_2():
    r = run("--frobnicate")
    assert r.returncode == 2
    assert r.stderr.strip() == "profile.sh: unknown option --frobnicate (see --help)"
