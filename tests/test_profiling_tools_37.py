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

