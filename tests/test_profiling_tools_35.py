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


# -- the benchmarks' command lines: a bad option is one line, before any data is made ----------------------------

PYPERF_BENCHES = ("decode", "ingest", "iv", "iv_merge", "journal", "lzo", "merge", "pcap", "records", "ring")
CODES = ("(FO: 7200, 7201, 7202, 7208, 7210, 17201, 17202, 6013, mix; "
         "CM: 7200, 7201, 7208, 7210, 18703, 18708, 6013, mix)")


def _bench(name, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "bench", f"bench_{name}.py"), *args],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT)


def _refused(p, line):
    assert (p.returncode, p.stdout, p.stderr) == (2, "", line + "\n")


@pytest.mark.parametrize("name, args, line", [
    # ran the latency section over no messages: nan figures, exit status 0
    ("ring", ("--latency-only", "--fast", "--samples", "-1"), "argument --samples: must be at least 1, not -1"),
    # int(nan * 1000): a traceback
    ("ring", ("--latency-only", "--gap-us", "nan"), "argument --gap-us: must be a number from 0 to 1e+06, not nan"),
    # a traceback from the writer's first ring chunk, after the readers' joins timed out (tens of seconds)
    ("ring", ("--latency-only", "--gap-us", "-5"), "argument --gap-us: must be a number from 0 to 1e+06, not -5"),
    # neither section ran, exit status 0
    ("ring", ("--latency-only", "--no-latency"), "argument --no-latency: not allowed with argument --latency-only"),
    # ValueError tracebacks from parse_codes
    ("merge", ("--codes", "FO:9999"), f"argument --codes: 'FO:9999' is not SEG:CODE with one of {CODES}"),
    ("merge", ("--codes", ","), "argument --codes: no codes given"),
    # a line without the script's name, exit status 1 (the corpus is now built once argparse has read --corpus:
    # --corp FO, which once measured FO in the workers and reported the market corpus, is --corpus FO)
    ("lzo", ("--corpus", "bogus"), "argument --corpus: invalid choice: 'bogus' (choose from 'market', 'FO', 'CM')"),
    ("capture", ("--rounds", "x"), "argument --rounds: invalid int value: 'x'"),
])
def test_a_bad_value_of_a_benchmarks_own_option_is_one_line(name, args, line):
    _refused(_bench(name, *args), f"bench_{name}: {line} (see --help)")


@pytest.mark.parametrize("name", PYPERF_BENCHES)
def test_an_unknown_option_or_a_bad_pyperf_value_is_one_line(name):
    # argparse printed pyperf's whole usage (a dozen lines and more) before the line that says what is wrong
    _refused(_bench(name, "--bogus"), f"bench_{name}: unrecognized arguments: --bogus (see --help)")
    _refused(_bench(name, "--processes", "0"),
             f"bench_{name}: argument -p/--processes: invalid strictly_positive value: '0' (see --help)")


@pytest.mark.parametrize("name, fast", [
    ("decode", "pyperf's: 3 worker processes instead of 6"),
    ("ingest", "ours, not pyperf's: 5,000 datagrams per segment instead of 50,000, 3 processes x 3 values"),
    ("iv", "pyperf's: 3 processes instead of 4"),
    ("iv_merge", "600 datagrams instead of 3000, 20 loops per value (unless --loops) and pyperf's --fast: 10 "
                 "processes x 2 values"),
    ("journal", "ours, not pyperf's: 400,000 records instead of 4,000,000"),
    ("lzo", "pyperf's: 4 processes instead of 8"),
    ("merge", "pyperf's (3 processes x 2 values) with 20 loops, no calibration, and only F&O 7208"),
    ("pcap", "ours, not pyperf's: 5,000 datagrams per segment instead of 50,000"),
    ("records", "pyperf's (3 processes x 2 values) with 3 loops per value"),
    ("ring", "ours, not pyperf's: 2 processes x 2 values of at least 50 ms per throughput benchmark, 3000 latency"),
])
def test_help_says_what_the_scripts_fast_does(name, fast):
    # --help showed pyperf's "Get rough answers quickly", whatever the script made of --fast
    p = _bench(name, "--help")
    assert p.returncode == 0, p.stderr
    assert "Get rough answers quickly" not in p.stdout
    helps = " ".join(p.stdout.split())
    assert f"--fast {fast}" in helps, helps[:2000]


def test_bench_capture_perf_ctl_must_name_two_fifos(tmp_path):
    # a missing one was a traceback after the set-up; a regular file was opened for writing, so emptied
    ctl, ack, missing = tmp_path / "ctl", tmp_path / "ack", tmp_path / "missing"
    ctl.write_text("keep me\n")
    ack.write_text("")
    for spec, bad in ((f"{ctl},{ack}", ctl), (f"{missing},{ack}", missing)):
        p = _bench("capture", "--perf-ctl", spec, "--vega-only", "--rounds", "1")
        assert (p.returncode, p.stdout) == (2, ""), p.stderr[-2000:]      # (was 1: a bad value is 2, as argparse's)
        assert p.stderr == (f"bench_capture: --perf-ctl: {bad} is not a fifo (perf record --control "
                            "fifo:CTL,ACK's, made by mkfifo)\n")
    assert ctl.read_text() == "keep me\n" and not missing.exists()



def test_bench_ring_killed_with_sigterm_leaves_no_ring_in_dev_shm(tmp_path):
    # SIGTERM (a timeout's, a job runner's) killed the run at once: the latency rings stayed in /dev/shm.  The run's
    # own rings only (vega-lat-PID-*): a run of this test beside it (another checkout's suite) took the other's
    # rings for its own, signalled too early and unlinked them, and the other run, its clean-up cut short by the
    # unlink's FileNotFoundError, hung in multiprocessing's exit joining a reader that waited for its turn (the 90 s
    # timeout seen under load)
    import glob
    import signal
    import time
    import vega
    from vega._core import SHM_DIR

    with open(tmp_path / "err", "w") as err:            # (a file: the reader children inherit it)
        p = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "bench_ring.py"), "--latency-only",
                              "--no-pin", "--writer", "sleep", "--samples", "1000000"],
                             stdout=subprocess.DEVNULL, stderr=err)

    def rings():
        return set(glob.glob(os.path.join(SHM_DIR, f"vega-lat-{p.pid}-*")))

    def appended():
        """Whether the C writer has appended to one of the run's rings: it is in its timed loop."""
        for path in rings():
            try:
                r = vega.Ring.open(path)
            except (OSError, vega.RingError):           # (being made, or gone)
                continue
            try:
                if r.tail(0) > 0:
                    return True
            finally:
                r.close()
        return False

    try:
        deadline = time.monotonic() + 60
        while not appended():
            assert p.poll() is None and time.monotonic() < deadline, (tmp_path / "err").read_text()
            time.sleep(0.02)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=90)                                # (its readers are killed, not joined)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        left = rings()
        for path in left:                                 # (the old behaviour: not left for the next run)
            os.unlink(path)
    assert p.returncode == 128 + signal.SIGTERM, (tmp_path / "err").read_text()
    assert left == set()
