"""docs/PROFILING.md's tools and the benchmarks, thirty-sixth session: the environment they read is checked in one
line and reaches pyperf's workers, pyperf's options do what --help says, and the tools' bad arguments are one line."""
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, *args, env=None, tmp_path=None, timeout=120):
    """script (bench/x.py or tools/x.py) run from the tree; TMPDIR in tmp_path (the benchmarks cache there)."""
    e = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    for name in ("VEGA_BENCH_DATAGRAMS", "VEGA_BENCH_FAST", "VEGA_BENCH_TREE"):
        if name not in (env or {}):
            e.pop(name, None)
    if tmp_path is not None:
        e["TMPDIR"] = str(tmp_path)
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=str(tmp_path or ROOT))


def _one_line(p, status, line):
    assert (p.returncode, p.stdout, p.stderr) == (status, "", line + "\n")


# -- the environment the scripts read ---------------------------------------------------------------------------

@pytest.mark.parametrize("script, value", [
    ("bench/bench_merge.py", "abc"),       # a ValueError traceback at import
    ("bench/bench_merge.py", "-5"),        # a ValueError traceback from the stream generator
    ("bench/bench_merge.py", "\u0661\u0662"),   # int() takes Arabic-Indic digits
    ("bench/bench_decode.py", "abc"),
    ("bench/bench_decode.py", "0"),        # ran the whole benchmark, then a ZeroDivisionError in the summary
    ("bench/bench_records.py", "x"),       # (reads it through bench_merge)
    ("tools/ab_core.py", "x"),
    ("tools/working_set.py", "x"),
])
def test_a_bad_vega_bench_datagrams_is_one_line_and_status_2(script, value, tmp_path):
    name = os.path.splitext(os.path.basename(script))[0]
    extra = ("x.so",) if name == "ab_core" else ()
    p = _run(script, *extra, env={"VEGA_BENCH_DATAGRAMS": value}, tmp_path=tmp_path)
    _one_line(p, 2, f"{name}: VEGA_BENCH_DATAGRAMS must be a whole number of at least 1, not {value!r}")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("script", ["bench/bench_merge.py", "bench/bench_pcap.py", "bench/bench_ingest.py",
                                    "bench/bench_journal.py"])
def test_a_vega_bench_fast_other_than_1_or_0_is_one_line(script, tmp_path):
    # "yes" was taken for off, silently: a full run
    p = _run(script, env={"VEGA_BENCH_FAST": "yes"}, tmp_path=tmp_path)
    name = os.path.splitext(os.path.basename(script))[0]
    _one_line(p, 2, f"{name}: VEGA_BENCH_FAST must be 1 or 0, not 'yes'")


@pytest.mark.parametrize("script, args, made, wait", [
    # (a worker's scratch directory is inside the parent's)
    ("bench/bench_journal.py", ("--fast", "-p", "1", "-n", "1", "-l", "1", "-w", "0"), "vega-bench-journal-",
     "vega-bench-journal-*/vega-bench-journal-*/*"),
    ("bench/bench_capture.py", ("--vega-only", "--rounds", "50"), "vega-bench-capture-", "vega-bench-capture-*"),
])
def test_sigterm_leaves_nothing_in_the_temp_dir(script, args, made, wait, tmp_path):
    # a kill (timeout's SIGTERM, to the process group: pyperf's workers too) left the scratch journals there (and
    # pyperf's parent, stopped, SIGKILLs the worker it waits for: the worker's own clean-up is cut short)
    import signal
    import time
    env = dict(os.environ, PYTHONPATH=ROOT, TMPDIR=str(tmp_path))
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, script), *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env, cwd=str(tmp_path), start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(wait)):
            assert p.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:          # the workers' own clean-up, after the parent's end
            try:
                os.killpg(p.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    left = [n for n in os.listdir(tmp_path) if n.startswith(made)]
    assert left == [], [os.listdir(tmp_path / n) for n in left]
    from vega._core import SHM_DIR
    ring = os.path.join(SHM_DIR, f"vega-bench-cap-{p.pid}")   # bench_capture's (inside Capture.open or close)
    exists = os.path.exists(ring)
    if exists:
        os.unlink(ring)
    assert not exists


def _benchmarks(path):
    with open(path) as f:
        return {b["metadata"]["name"]: b for b in json.load(f)["benchmarks"]}


def test_the_workers_measure_the_parents_stream_and_a_given_processes_wins_over_fast(tmp_path):
    # pyperf gives its workers PATH, HOME and a few more only: they measured 4,000 datagrams whatever
    # VEGA_BENCH_DATAGRAMS said, while the parent printed its own stream's counts; and --fast ran 3 processes
    # whatever --processes said
    out = tmp_path / "d.json"
    p = _run("bench/bench_decode.py", "--fast", "-p", "1", "-l", "1", "-w", "0", "-o", str(out),
             env={"VEGA_BENCH_DATAGRAMS": "30"}, tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    said = dict(re.findall(r"^(FO|CM): 30 datagrams, (\d+) messages", p.stdout, re.M))
    assert set(said) == {"FO", "CM"}, p.stdout
    benches = _benchmarks(out)
    assert len(benches) == 6
    for name, b in benches.items():
        seg = name.split("-")[1]
        assert b["metadata"]["inner_loops"] == int(said[seg]), name
        assert len(b["runs"]) == 1, name


def test_a_given_values_wins_over_fast_in_the_workers_too(tmp_path):
    # bench_merge's workers are given --fast, with which pyperf made 2 values whatever the parent asked
    out = tmp_path / "m.json"
    p = _run("bench/bench_merge.py", "--fast", "--codes", "FO:7202", "-p", "1", "-n", "3", "-l", "1", "-w", "0",
             "-o", str(out), tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    benches = _benchmarks(out)
    assert set(benches) == {"merge-FO-7202", "merge-FO-7202-py", "merge-FO-7202-norec"}
    for name, b in benches.items():
        assert [len(r["values"]) for r in b["runs"]] == [3], name


def test_our_fast_takes_a_given_processes_and_the_workers_use_tmpdir(tmp_path):
    # --fast appended --processes=3 after the user's; TMPDIR did not reach the workers, which made the capture
    # in /tmp
    out = tmp_path / "p.json"
    p = _run("bench/bench_pcap.py", "--fast", "-p", "1", "-n", "1", "-l", "1", "-w", "0", "-o", str(out),
             tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    for name, b in _benchmarks(out).items():
        assert [len(r["values"]) for r in b["runs"]] == [1], name
    assert (tmp_path / "vega-bench-pcap-5000.pcap").is_file()


@pytest.mark.parametrize("name", ["decode", "ingest", "iv", "iv_merge", "journal", "lzo", "merge", "pcap",
                                  "records", "ring"])
def test_help_says_a_given_processes_wins_over_fast(name):
    p = _run(f"bench/bench_{name}.py", "--help")
    assert p.returncode == 0, p.stderr
    helps = " ".join(p.stdout.split())
    fast = helps.split(" --fast ", 1)[1].split(" --debug-single-value ")[0]
    assert fast.endswith("; a --processes or --values given wins over it"), fast


# -- pyperf's -o and --append --------------------------------------------------------------------------------------

def test_output_checks_are_one_line_before_anything_runs(tmp_path):
    exists = tmp_path / "exists.json"
    exists.write_text("{}")
    for args, status, line in (
            # a traceback once the first benchmark had run
            (("-o", str(tmp_path / "no-dir" / "r.json")), 2,
             f"-o {tmp_path / 'no-dir' / 'r.json'}: cannot write into {tmp_path / 'no-dir'}"),
            (("--append", str(exists)), 2, f"--append {exists}: not a JSON file of pyperf's results"),
            # "ERROR: ..." on stdout, status 1
            (("-o", str(exists)), 2, f"The JSON file {str(exists)!r} already exists")):
        p = _run("bench/bench_records.py", "--fast", *args, tmp_path=tmp_path)
        _one_line(p, status, f"bench_records: {line} (see --help)")
    assert sorted(os.listdir(tmp_path)) == ["exists.json"]         # nothing generated, no worker started


def test_append_of_runs_that_do_not_go_with_the_files_is_one_line(tmp_path):
    # a ValueError traceback from pyperf.add_runs after the first benchmark had run
    import pyperf
    path = tmp_path / "r.json"
    name = "decompress/python-lzo per call"
    run = pyperf.Run([1e-6], metadata={"name": name, "inner_loops": 7, "loops": 1}, collect_metadata=False)
    pyperf.Benchmark([run]).dump(str(path))
    p = _run("bench/bench_lzo.py", "-p", "1", "-n", "1", "-l", "1", "-w", "0", "-q", "--append", str(path),
             tmp_path=tmp_path)
    assert (p.returncode, len(p.stderr.splitlines())) == (1, 1), p.stderr[-2000:]
    assert p.stderr.startswith(f"bench_lzo: --append {path}: the runs of {name} do not go with the file's "
                               "(incompatible benchmark, metadata "), p.stderr
    assert p.stderr.endswith("); stopped, the file holds what went before\n")
    assert pyperf.BenchmarkSuite.load(str(path)).get_benchmark(name).get_nrun() == 1


@pytest.mark.parametrize("script", ["bench/bench_merge.py", "bench/bench_pcap.py"])
def test_fast_abbreviated_is_refused(script, tmp_path):
    # the scripts look for --fast in full: --fas was pyperf's --fast alone (merge: every code; pcap: 50,000
    # datagrams per segment), not what --help says
    p = _run(script, "--fas", tmp_path=tmp_path)
    name = os.path.splitext(os.path.basename(script))[0]
    _one_line(p, 2, f"{name}: --fast: give it in full, --fast, not abbreviated (see --help)")


# -- tools/*.py: a bad argument is one line and status 2 ----------------------------------------------------------

@pytest.mark.parametrize("script, args, line", [
    ("ab_core", (), "the following arguments are required: other"),           # argparse's usage, then its line
    ("ab_core", ("x.so", "--rounds", "x"), "argument --rounds: not a whole number: 'x'"),
    ("ab_core", ("x.so", "--rounds", "0"), "argument --rounds: must be at least 1, not 0"),   # status 1
    ("ab_core", ("x.so", "--codes", ","), "argument --codes: no codes given"),                # status 1
    ("working_set", ("--tokens", "x"), "argument --tokens: needs whole numbers of at least 1, K,..., not 'x'"),
    ("working_set", ("--best", "x"), "argument --best: not a whole number: 'x'"),
    ("working_set", ("--bogus",), "unrecognized arguments: --bogus"),
    ("profile_workload", (), "the following arguments are required: step"),
    ("profile_workload", ("run", "--stream", "s", "--batch", "0"), "argument --batch: must be at least 1, not 0"),
])
def test_a_tools_bad_argument_is_one_line(script, args, line):
    p = _run(f"tools/{script}.py", *args)
    _one_line(p, 2, f"{script}: {line} (see --help)")


# -- bench/bench_capture.py -------------------------------------------------------------------------------------

def test_bench_capture_refuses_a_vega_bench_tree_without_vega(tmp_path):
    # the vega installed (or PYTHONPATH's) was measured instead, silently
    p = _run("bench/bench_capture.py", "--vega-only", "--rounds", "1", env={"VEGA_BENCH_TREE": str(tmp_path)},
             tmp_path=tmp_path)
    _one_line(p, 2, f"bench_capture: VEGA_BENCH_TREE must be a checkout holding vega/, not {str(tmp_path)!r}")


def test_bench_capture_help_gives_the_defaults_the_code_uses():
    # --tries said "default 2 / 3 with --fast": the code takes 3, and 2 with --fast
    helps = " ".join(_run("bench/bench_capture.py", "--help").stdout.split())
    assert "trials per rate, best counts (default 3, 2 with --fast)" in helps
    assert "pool of distinct datagrams (default 12000, 6000 with --fast)" in helps


@pytest.mark.parametrize("args, status", [(("--help",), 0), (("--bogus",), 2)])
def test_bench_lzo_help_and_a_bad_option_make_nothing_in_the_temp_dir(args, status, tmp_path):
    # the liblzo2 loop was compiled into the temp dir at import, for --help and a refused option too
    p = _run("bench/bench_lzo.py", *args, tmp_path=tmp_path)
    assert p.returncode == status and "Traceback" not in p.stderr, p.stderr
    assert os.listdir(tmp_path) == []


def test_bench_capture_closes_a_pipeline_whose_opening_a_sigterm_interrupted():
    # a SIGTERM inside Capture.open (make) ended the run before there was a close to call: the ring stayed in
    # /dev/shm (vega-bench-cap-PID); it is now held back until the pipeline is there to close
    import importlib
    import signal
    import socket
    sys.path.insert(0, ROOT)
    bc = importlib.import_module("bench.bench_capture")
    closed = []

    def make():
        os.kill(os.getpid(), signal.SIGTERM)          # as if it came while Capture.open made the ring
        return None, (lambda ms: 0), (lambda: 0), lambda: closed.append(True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        target = ("127.0.0.1", s.getsockname()[1])
    old = signal.getsignal(signal.SIGTERM)
    if hasattr(bc, "_CLI"):
        bc._CLI.cleanup_on_sigterm()
    else:
        signal.signal(signal.SIGTERM, bc._terminated)
    try:
        with pytest.raises(SystemExit) as e:
            bc.drain_rounds(make, [], target, 0, 3)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert e.value.code == 128 + signal.SIGTERM
    assert closed == [True]
