"""docs/PROFILING.md's benchmarks, thirty-seventh session: the scripts use pyperf's public API only, pyperf's own
options (--compare-to, --python, --affinity, --track-memory) through them are one line or work, bench_capture's bad
values are status 2, bench_lzo's --help builds no corpus, and bench_ring's latency clean-up survives what may go
wrong in it."""
import json
import os
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: runs a script (argv[1], its arguments after) on a pyperf whose private names the benchmarks once used are gone
#: for everyone but pyperf itself, as a release that renamed them would have it
WITHOUT_PRIVATE = r"""
import os, runpy, sys, types
import pyperf, pyperf._runner as r
PYPERF = os.path.dirname(pyperf.__file__) + os.sep


def inside(frame):
    return frame.f_code.co_filename.startswith(PYPERF)


class Renamed:
    def __init__(self, name, value):
        self.name, self.value = name, value

    def __get__(self, obj, cls=None):
        if not inside(sys._getframe(1)):
            raise AttributeError(self.name)
        return self.value if obj is None else self.value.__get__(obj, cls)

    def __set__(self, obj, value):          # (an attribute pyperf no longer reads)
        pass


for name in ("_process_args_impl", "_process_args", "_display_result"):
    setattr(r.Runner, name, Renamed(name, r.Runner.__dict__[name]))


class Module(types.ModuleType):
    def __getattribute__(self, name):
        if name == "CLIError" and not inside(sys._getframe(1)):
            raise AttributeError(name)
        return super().__getattribute__(name)


r.__class__ = Module
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _run(script, *args, tmp_path, env=None, pre=None, timeout=120):
    """script (bench/x.py) run from the tree, TMPDIR in tmp_path; ``pre``: Python run first, the script through
    it (WITHOUT_PRIVATE)."""
    e = dict(os.environ, PYTHONPATH=ROOT, TMPDIR=str(tmp_path), **(env or {}))
    for name in ("VEGA_BENCH_DATAGRAMS", "VEGA_BENCH_FAST", "VEGA_BENCH_TREE"):
        if name not in (env or {}):
            e.pop(name, None)
    cmd = [sys.executable] + (["-c", pre] if pre else []) + [os.path.join(ROOT, script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e, cwd=str(tmp_path))


def _one_line(p, status, line):
    assert (p.returncode, p.stdout, p.stderr) == (status, "", line + "\n")


SMALL = {"VEGA_BENCH_DATAGRAMS": "30"}
TINY = ("-p", "1", "-n", "1", "-l", "1", "-w", "0")


# -- pyperf's public API only --------------------------------------------------------------------------------------

def test_the_scripts_run_on_a_pyperf_without_the_private_names_they_used(tmp_path):
    # bench/_cli.py imported pyperf._runner.CLIError and replaced Runner._process_args_impl and _display_result:
    # on a pyperf that renamed one, every script stopped at its start with a traceback
    out = tmp_path / "d.json"
    p = _run("bench/bench_decode.py", "--fast", *TINY, "-o", str(out), env=SMALL, tmp_path=tmp_path,
             pre=WITHOUT_PRIVATE)
    assert p.returncode == 0, p.stderr[-2000:]
    with open(out) as f:
        benches = {b["metadata"]["name"]: b for b in json.load(f)["benchmarks"]}
    assert len(benches) == 6
    for name, b in benches.items():                       # the -p 1 given wins over --fast's 3 processes
        assert [len(r["values"]) for r in b["runs"]] == [1], name
    # pyperf's refusal of an -o file that exists: the script's one line, status 2
    p = _run("bench/bench_decode.py", "--fast", "-o", str(out), env=SMALL, tmp_path=tmp_path, pre=WITHOUT_PRIVATE)
    _one_line(p, 2, f"bench_decode: The JSON file {str(out)!r} already exists (see --help)")


def test_append_of_runs_that_do_not_go_with_the_files_is_one_line_without_the_private_names(tmp_path):
    import pyperf
    path = tmp_path / "r.json"
    run = pyperf.Run([1e-6], metadata={"name": "decode-FO-vega", "inner_loops": 7, "loops": 1},
                     collect_metadata=False)
    pyperf.Benchmark([run]).dump(str(path))
    p = _run("bench/bench_decode.py", *TINY, "-q", "--append", str(path), env=SMALL, tmp_path=tmp_path,
             pre=WITHOUT_PRIVATE)
    assert (p.returncode, len(p.stderr.splitlines())) == (1, 1), p.stderr[-2000:]
    assert p.stderr.startswith(f"bench_decode: --append {path}: the runs of decode-FO-vega do not go with the "
                               "file's (incompatible benchmark, metadata "), p.stderr
    assert pyperf.BenchmarkSuite.load(str(path)).get_benchmark("decode-FO-vega").get_nrun() == 1


# -- pyperf's options through the scripts --------------------------------------------------------------------------

@pytest.mark.parametrize("script", ["bench/bench_merge.py", "bench/bench_ring.py"])
@pytest.mark.parametrize("args, line", [
    # ran each benchmark under both Pythons and printed "PYTHON: . 202 ns" twice, naming no benchmark; the
    # script's summary was empty
    (("--compare-to", sys.executable), "--compare-to: not for these scripts (its results do not name the "
     "benchmarks); run each Python with -o FILE and compare the files: python -m pyperf compare_to A.json B.json"),
    # "ERROR: Unable to locate the Python executable" on stdout, status 1
    (("--python", "no-such-python-37"), "--python no-such-python-37: no such executable"),
    # the first worker's traceback (sched_setaffinity: EINVAL), then the parent's RuntimeError traceback
    (("--affinity", "99999"), "--affinity 99999: CPU 99999 is not one this process may run on ({allowed})"),
    (("--affinity", "x"), "--affinity x: not a list of CPUs such as 0,2-3"),
])
def test_pyperf_options_refused_before_anything_runs_in_one_line(script, args, line, tmp_path):
    name = os.path.splitext(os.path.basename(script))[0]
    allowed = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    p = _run(script, "--fast", *args, tmp_path=tmp_path)
    _one_line(p, 2, f"{name}: {line.format(allowed=allowed)} (see --help)")
    assert os.listdir(tmp_path) == []                     # nothing generated, no worker started


def test_a_worker_that_fails_is_one_line_not_a_traceback(tmp_path):
    # --python of an interpreter without this tree's vega, ...: pyperf's RuntimeError traceback after the worker's
    import shutil
    false = shutil.which("false")
    p = _run("bench/bench_decode.py", *TINY, "--python", false, env=SMALL, tmp_path=tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert p.stderr == f"bench_decode: a pyperf worker process failed: {false} failed with exit code 1\n"


def test_track_memory_leaves_the_time_summary_out(tmp_path):
    # pyperf's values are then peak memory in bytes: the summary printed them as ns ("vega batch decode
    # 23462912000000000.0 ns/msg"; bench_merge's targets MISSED, bench_ring's "29577216000000000.00 ns")
    p = _run("bench/bench_decode.py", *TINY, "--track-memory", env=SMALL, tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "decode-FO-vega: " in p.stdout and " MiB" in p.stdout, p.stdout
    assert "ns/msg" not in p.stdout, p.stdout


# -- bench_capture -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, line", [
    (("--rounds", "0"), "--rounds must be at least 1, not 0"),
    (("--tries", "0"), "--tries must be at least 1, not 0"),
    (("--perf-ctl", "ctl"), "--perf-ctl needs two fifos, CTL,ACK, not 'ctl'"),
    (("--ab", "/nonexistent-tree-37"), "/nonexistent-tree-37 has no vega/ package (build it in place there first)"),
])
def test_bench_capture_bad_values_are_status_2_as_the_other_benchmarks(args, line, tmp_path):
    # status 1, where argparse and the pyperf benchmarks give 2 for a bad option value
    _one_line(_run("bench/bench_capture.py", *args, tmp_path=tmp_path), 2, f"bench_capture: {line}")


# -- bench_lzo -----------------------------------------------------------------------------------------------------

#: python-lzo that refuses to work: a corpus built at import (--help's too) is a traceback
NO_LZO = r"""
import runpy, sys
import lzo


def refused(*a, **kw):
    raise RuntimeError("the corpus was built")


lzo.compress = lzo.decompress = refused
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("args, status", [(("--help",), 0), (("--help", "--corpus", "FO"), 0), (("--bogus",), 2)])
def test_bench_lzo_builds_no_corpus_for_help_or_a_refused_option(args, status, tmp_path):
    # the corpus (1000 payloads compressed, or bench_decode's stream generated, and every one checked both ways)
    # was built at import
    p = _run("bench/bench_lzo.py", *args, tmp_path=tmp_path, pre=NO_LZO)
    assert p.returncode == status and "Traceback" not in p.stderr, p.stderr[-2000:]


def test_bench_lzo_corpus_abbreviated_is_the_corpus_everywhere(tmp_path):
    # --corp FO was refused (the corpus was built at import from --corpus in full: the workers, given it in full,
    # measured FO while the parent reported the market corpus); it is now built from what argparse read
    out = tmp_path / "l.json"
    p = _run("bench/bench_lzo.py", "--corp", "FO", *TINY, "-q", "-o", str(out), tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "compressed FO sub-packets of vega.nse.sample_stream" in p.stdout, p.stdout
    import pyperf
    assert all("FO sub-packets" in b.get_metadata()["corpus"] for b in pyperf.BenchmarkSuite.load(str(out)))


# -- bench_ring's latency section ----------------------------------------------------------------------------------

@pytest.fixture
def bench_ring():
    sys.path.insert(0, ROOT)
    import importlib
    from bench import _cli
    old = signal.getsignal(signal.SIGTERM)
    _cli.cleanup_on_sigterm()
    try:
        yield importlib.import_module("bench.bench_ring")
    finally:
        signal.signal(signal.SIGTERM, old)
        sys.path.remove(ROOT)


def _own_rings():
    import glob
    from vega._core import SHM_DIR
    return set(glob.glob(os.path.join(SHM_DIR, f"vega-lat-{os.getpid()}-*")))


def _readers_ended():
    import multiprocessing
    alive = multiprocessing.active_children()
    for p in alive:                                       # (the old behaviour: not left for the next test)
        p.kill()
        p.join()
    return alive == []


def test_latency_clean_up_goes_on_past_a_ring_already_gone(bench_ring, monkeypatch):
    # a ring unlinked by another hand (a run of the SIGTERM test beside this one took it for its own) made the
    # clean-up's Ring.unlink raise FileNotFoundError: the readers after it were left running, and multiprocessing's
    # exit joined one that waited for its turn, for ever (the 90 s timeout seen under load)
    real = bench_ring.Ring

    class Ring:
        open = staticmethod(real.open)

        @staticmethod
        def create(name):
            ring = real.create(name)
            real.unlink(name)
            return ring

        @staticmethod
        def unlink(name):
            real.unlink(name)
    monkeypatch.setattr(bench_ring, "Ring", Ring)
    before = _own_rings()
    with pytest.raises(EOFError):                        # (the ring-c reader could not open its ring)
        bench_ring.latency(["ring-c", "floor"], 500, 100_000, (None, None), False, False)
    assert _readers_ended()
    assert _own_rings() - before == set()


def test_a_sigterm_while_the_ring_is_made_leaves_no_ring(bench_ring, monkeypatch):
    # a SIGTERM between Ring.create and noting the ring for the finally left it in /dev/shm (and one inside a
    # reader's start() was an AssertionError from the finally's join, status 1)
    real = bench_ring.Ring

    class Ring:
        open = staticmethod(real.open)
        unlink = staticmethod(real.unlink)

        @staticmethod
        def create(name):
            ring = real.create(name)
            os.kill(os.getpid(), signal.SIGTERM)
            return ring
    monkeypatch.setattr(bench_ring, "Ring", Ring)
    before = _own_rings()
    with pytest.raises(SystemExit) as e:
        bench_ring.latency(["floor", "ring-c"], 500, 100_000, (None, None), False, False)
    assert e.value.code == 128 + signal.SIGTERM
    assert _readers_ended()
    left = _own_rings() - before
    for path in left:                                     # (the old behaviour: not left for the next run)
        os.unlink(path)
    assert left == set()

