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


def test_an_option_the_mode_would_ignore_is_refused():
    # --no-inline with --drain used to build the -fno-inline copy, then profile the release build
    for args, opt, mode in ((("--drain", "--no-inline"), "--no-inline", "--drain"),
                            (("--capture", "--no-inline"), "--no-inline", "--capture"),
                            (("--capture", "--callgrind"), "--callgrind", "--capture"),
                            (("--drain", "--seconds", "5"), "--seconds", "--drain"),
                            (("--capture", "--rounds", "3"), "--rounds", "--capture"),
                            (("--rate", "1000",), "--rate", "the default run")):
        r = run("--no-build", "--out", "/dev/null/no-dir", *args)   # were it run, it fails at mkdir
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.strip() == f"profile.sh: {opt} does nothing with {mode} (see --help)", args
    r = run("--capture", "--drain")
    assert r.returncode == 2 and "two different runs" in r.stderr


def test_an_option_without_its_value_is_one_line_and_exit_2():
    for args in (("--out",), ("--seconds", "--no-build"), ("--rounds",)):
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.strip() == f"profile.sh: {args[0]} needs a value (see --help)", args
