"""docs/PROFILING.md's tools on bad input and on a machine without perf or valgrind: one line, no traceback,
before any minutes are spent (the profiling runs themselves need perf and take minutes: not here)."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = os.path.join(ROOT, "tools", "profile_workload.py")
PROFILE_SH = os.path.join(ROOT, "tools", "profile.sh")
BENCH_CAPTURE = os.path.join(ROOT, "bench", "bench_capture.py")
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


# -- tools/profile.sh: every check before the build, the traffic and the perf run ---------------------------------

def _bin_without(tmp_path, *missing, perf=None, name="bin"):
    """A PATH directory with the commands profile.sh uses, less ``missing``; ``perf`` a script standing in for
    perf (or the real one, or none when "perf" is missing)."""
    d = tmp_path / name
    d.mkdir()
    for cmd in ("bash", "dirname", "awk", "grep", "cat", "rm", "mkdir", "head", "sed", "tr", "tee", "env",
                "perf", "valgrind", "callgrind_annotate"):
        real = shutil.which(cmd)
        if real and cmd not in missing:
            os.symlink(real, d / cmd)
    # a script, not a symlink: Python 3.13 finds a virtualenv's site-packages from the path it was started by,
    # and a symlink outside the virtualenv ran it without them (numpy missing)
    (d / "python3").write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} \"$@\"\n")
    (d / "python3").chmod(0o755)
    if perf is not None:
        (d / "perf").unlink(missing_ok=True)
        (d / "perf").write_text("#!/bin/sh\n" + perf)
        (d / "perf").chmod(0o755)
    return str(d)


def _sh(*args, path=None):
    env = dict(os.environ, PATH=path) if path else os.environ
    return subprocess.run(["bash", PROFILE_SH, *args], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=env)


@pytest.mark.parametrize("args, line", [
    (("--seconds", "abc"), "profile.sh: --seconds needs a number of seconds above 0, not 'abc'"),
    (("--seconds", "0"), "profile.sh: --seconds needs a number of seconds above 0, not '0'"),
    (("--datagrams", "20k"), "profile.sh: --datagrams needs a whole number above 0, not '20k'"),
    (("--drain", "--rounds", "0"), "profile.sh: --rounds needs a whole number above 0, not '0'"),
    (("--capture", "--rate", "1.5"), "profile.sh: --rate needs a whole number above 0, not '1.5'"),
])
def test_profile_sh_bad_values_are_one_line_before_anything_runs(args, line):
    # --seconds abc used to be found by the workload's argparse after the build and the traffic's generation
    r = _sh(*args)          # without --no-build: the check must come before the build
    assert r.returncode == 2
    assert r.stderr.strip() == line and r.stdout == ""


def test_profile_sh_an_unwritable_out_is_one_line(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    r = _sh("--out", str(a_file / "profile"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"profile.sh: cannot write to {a_file}/profile: give --out a writable directory"


def test_profile_sh_without_perf_or_valgrind_says_so_in_one_line(tmp_path):
    no_perf = _bin_without(tmp_path, "perf")
    r = _sh("--out", str(tmp_path / "out"), path=no_perf)
    assert r.returncode == 1 and r.stderr.strip().startswith("profile.sh: perf not found: "), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # valgrind used to be looked for after the build and the whole perf run
    no_valgrind = _bin_without(tmp_path, "valgrind", perf="exit 0\n", name="bin2")
    r = _sh("--callgrind", "--out", str(tmp_path / "out"), path=no_valgrind)
    assert r.returncode == 1
    assert r.stderr.strip() == "profile.sh: valgrind not found: sudo apt-get install valgrind"


def test_profile_sh_perf_not_allowed_is_one_line_before_the_build(tmp_path):
    denied = ('echo "Error:" >&2\n'
              'echo "Access to performance monitoring and observability operations is limited." >&2\n'
              'echo "Consider adjusting /proc/sys/kernel/perf_event_paranoid setting to open" >&2\n'
              'exit 255\n')
    r = _sh("--out", str(tmp_path / "out"), path=_bin_without(tmp_path, perf=denied))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("profile.sh: perf record is not allowed here "), r.stderr
    assert lines[0].endswith("Access to performance monitoring and observability operations is limited.")
    assert "== building" not in r.stderr


def test_profile_sh_help_names_the_defaults_and_files():
    r = _sh("--help")
    assert r.returncode == 0
    assert "Defaults: --seconds 10, --datagrams 20000 (per segment), --rate 40000, --rounds 20" in r.stdout
    for f in ("report.txt", "flat.txt", "parts.txt", "callgrind.txt", "run.txt"):
        assert f in r.stdout


# -- bench/bench_capture.py --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, line", [
    (("--rounds", "0"), "bench_capture: --rounds must be at least 1, not 0"),       # was the default, silently
    (("--vega-only", "--rounds", "-1"), "bench_capture: --rounds must be at least 1, not -1"),   # a traceback
    (("--ab", ROOT, "--pairs", "0"), "bench_capture: --pairs must be at least 1, not 0"),       # a traceback
    (("--datagrams", "-3"), "bench_capture: --datagrams must be at least 1, not -3"),
    (("--tries", "0"), "bench_capture: --tries must be at least 1, not 0"),
    (("--perf-ctl", "ctl"), "bench_capture: --perf-ctl needs two fifos, CTL,ACK, not 'ctl'"),
])
def test_bench_capture_bad_values_are_one_line(args, line):
    p = _py(BENCH_CAPTURE, *args)
    assert p.returncode == 2            # (was 1: a bad value is 2, as argparse's and the other benchmarks')
    assert p.stderr.strip() == line and p.stdout == ""


# -- tools/ab_core.py --------------------------------------------------------------------------------------------

def test_ab_core_a_file_that_is_no_core_build_is_one_line(tmp_path):
    import vega._lzo
    text = tmp_path / "notes.txt"
    text.write_text("not a shared object\n" * 100)   # (shorter than an ELF header: "file too short")
    for path, why in ((str(text), "invalid ELF header"), (vega._lzo.__file__, "PyInit__core")):
        p = _py(os.path.join(ROOT, "tools", "ab_core.py"), path)   # were tracebacks from importlib
        assert p.returncode == 1 and p.stdout == ""
        assert p.stderr.strip().startswith(f"ab_core: {path}: not a build of vega._core ("), p.stderr
        assert why in p.stderr and len(p.stderr.strip().splitlines()) == 1


# -- the pyperf benchmarks' --help ---------------------------------------------------------------------------------

PYPERF_BENCHES = ("decode", "ingest", "iv", "iv_merge", "journal", "lzo", "merge", "pcap", "records", "ring")


@pytest.mark.parametrize("name", PYPERF_BENCHES)
def test_pyperf_bench_help_says_what_it_measures(name):
    import ast
    path = os.path.join(ROOT, "bench", f"bench_{name}.py")
    with open(path) as f:
        first = ast.get_docstring(ast.parse(f.read())).split("\n\n")[0]
    p = _py(path, "--help")
    assert p.returncode == 0, p.stderr
    described = p.stdout.split("options:")[0].split("\n\n", 1)[1]      # was pyperf's "Benchmark"
    assert "".join(described.split()) == "".join(first.split()), p.stdout[:600]   # (argparse wraps at hyphens)


def test_profile_sh_removes_an_earlier_runs_results(tmp_path):
    # a callgrind.txt or parts.txt of an earlier run (another mode, or with --callgrind) stayed beside the new
    # report.txt and read as this run's; perf here is a stand-in that records nothing
    out = tmp_path / "out"
    out.mkdir()
    for name in ("callgrind.txt", "callgrind.out", "parts.txt", "children.txt", "dso.txt", "report.txt"):
        (out / name).write_text("an earlier run's\n")
    r = _sh("--no-build", "--datagrams", "3", "--seconds", "1", "--out", str(out),
            path=_bin_without(tmp_path, perf="exit 0\n"))
    assert r.returncode == 0, r.stderr
    from vega._streams import STREAM_VERSION
    assert sorted(os.listdir(out)) == ["flat.txt", "report.txt", "run.txt", f"stream-3-v{STREAM_VERSION}.pkl"]
    assert "an earlier run's" not in (out / "report.txt").read_text()


def test_generate_stopped_midway_leaves_no_stream_file(tmp_path):
    """generate truncated its --out at the start and wrote it at the end: a Ctrl-C in between left an empty
    file, which profile.sh (a non-empty file is reused) and run then met as a broken stream.  Now the stream is
    written whole under another name and renamed, and a stop removes the part."""
    import signal
    import time
    out = tmp_path / "s.pkl"
    p = subprocess.Popen([sys.executable, WORKLOAD, "generate", "--out", str(out), "--datagrams", "500000"],
                         env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = tmp_path / "s.pkl.part"
    deadline = time.monotonic() + 60
    while not part.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert part.exists() and not out.exists()            # generating: the part only
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=120)
    assert p.returncode != 0
    assert os.listdir(tmp_path) == []


def test_generate_writes_the_stream_under_its_name_only(stream):
    assert os.listdir(os.path.dirname(stream)) == [os.path.basename(stream)]
