"""The benchmarks' command lines: a bad option is one line, and --help says what the script's own --fast does.

A pyperf runner's usage is over a dozen lines; argparse printed all of it before the one line that says what was
wrong.  Values are checked by the option's type, before any data is generated or any worker started; so are the
environment variables the scripts read (env_whole, env_flag), and pyperf's own checks (parse_args).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
from typing import Any, Callable, Iterator, NoReturn

#: the environment the benchmarks read, handed on to pyperf's worker processes (pyperf gives them PATH, HOME, TEMP
#: and a few more only): a VEGA_BENCH_DATAGRAMS or TMPDIR of the command line reached the parent alone, which
#: then reported one stream while the workers measured another, or cached it where the workers did not look
WORKER_ENVIRON = ("VEGA_BENCH_DATAGRAMS", "VEGA_BENCH_FAST", "TMPDIR", "TMP")


def _script() -> str:
    return os.path.splitext(os.path.basename(sys.argv[0]))[0]


def _env_refused(name: str, text: str, what: str) -> NoReturn:
    print(f"{_script()}: {name} must be {what}, not {text!r}", file=sys.stderr)
    sys.exit(2)


def env_whole(name: str, default: int, lo: int = 1) -> int:
    """The whole number (ASCII digits) in the environment variable ``name``, ``default`` when it is unset or
    empty; anything else exits with status 2 and one line naming the variable (was a ValueError traceback, or
    a division by zero after the whole run)."""
    text = os.environ.get(name, "")
    if not text.strip():
        return default
    if not (text.strip().isascii() and text.strip().isdigit()) or int(text) < lo:
        _env_refused(name, text, f"a whole number of at least {lo}")
    return int(text)


def env_flag(name: str) -> bool:
    """The environment variable ``name`` as a switch: 1 on, 0 or unset or empty off; anything else exits with
    status 2 and one line (``yes`` used to mean off, silently)."""
    text = os.environ.get(name, "").strip()
    if text not in ("", "0", "1"):
        _env_refused(name, os.environ[name], "1 or 0")
    return text == "1"


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A bad option or option value exits with status 2 and one line, ``bench_x: what is wrong (see --help)``."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{name}: {message} (see --help)\n")
    parser.error = error    # type: ignore[method-assign]
    return parser


def at_least(lo: int) -> Callable[[str], int]:
    """An option type: a whole number of at least ``lo``."""
    def whole(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, not {text}")
        return v
    return whole


def number_at_least(lo: float, most: float) -> Callable[[str], float]:
    """An option type: a number from ``lo`` to ``most`` (nan and infinity refused)."""
    def number(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (math.isfinite(v) and lo <= v <= most):
            raise argparse.ArgumentTypeError(f"must be a number from {lo:g} to {most:g}, not {text}")
        return v
    return number


_HELD = {"depth": 0, "signum": 0}


def _terminated(signum: int, frame: Any) -> None:
    if _HELD["depth"]:
        _HELD["signum"] = signum        # (sigterm_held raises it at its end)
        return
    raise SystemExit(128 + signum)


def cleanup_on_sigterm() -> None:
    """SIGTERM (a kill, a timeout's, a job runner's: pyperf's workers get it too) ends the process as Ctrl-C does,
    so that its finally blocks run and remove what it made in the temp directory (was left there)."""
    signal.signal(signal.SIGTERM, _terminated)


@contextlib.contextmanager
def sigterm_held() -> Iterator[None]:
    """SIGTERM (cleanup_on_sigterm's) held back for the block (making a scratch directory and noting it, removing
    it): a SIGTERM between the two, or in the middle of the removal, left the directory behind; it ends the process
    at the block's end.  (Not a signal mask: Python runs the handler in the main thread whichever thread the
    kernel gave the signal to, pyarrow's and numpy's included.)"""
    _HELD["depth"] += 1
    try:
        yield
    finally:
        _HELD["depth"] -= 1
        if not _HELD["depth"] and _HELD["signum"]:
            raise SystemExit(128 + _HELD["signum"])


FAST_GIVEN = "; a --processes or --values given wins over it"

#: the options pyperf's --fast and --rigorous set whatever the command line gave (parse_args gives them back)
_GIVEN = ("processes", "values")
_UNSET = object()

#: --compare-to runs each benchmark under two Pythons and prints the two results under the Pythons' names only: a
#: script's dozen benchmarks could not be told apart, and its summary had nothing to work on
COMPARE_TO = ("not for these scripts (its results do not name the benchmarks); run each Python with -o FILE and "
              "compare the files: python -m pyperf compare_to A.json B.json")


def command_line(parser: argparse.ArgumentParser, doc: str, fast: str) -> argparse.ArgumentParser:
    """A pyperf runner's parser made the script's: --help opens with the first paragraph of its docstring (what it
    measures) and says what its --fast does (``fast``: pyperf's help says only "Get rough answers quickly", and
    several scripts give --fast their own meaning), and that --processes and --values given win over it
    (parse_args); a bad option is one line (one_line_errors)."""
    parser.description = doc.split("\n\n")[0]
    for action in parser._actions:
        if "--fast" in action.option_strings:
            action.help = fast + FAST_GIVEN
    return one_line_errors(parser)


def _given(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The command line parsed as pyperf will parse it, and which of _GIVEN it gave (argparse puts an option's
    default only where the namespace has nothing: the attributes set beforehand stay when the option is not
    given)."""
    pre = parser.parse_args(namespace=argparse.Namespace(**dict.fromkeys(_GIVEN, _UNSET)))
    return pre, {dest: getattr(pre, dest) for dest in _GIVEN if getattr(pre, dest) is not _UNSET}


def _cpus(text: str) -> set[int] | None:
    """The CPUs of an --affinity list (pyperf's syntax: 0,2-3), None when it is not one."""
    cpus: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        if not (lo.isascii() and lo.isdigit() and (not hi or (hi.isascii() and hi.isdigit()))):
            return None
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What pyperf refuses only once it runs (``ERROR: ...`` on stdout, status 1, or a traceback once a benchmark
    has run), refused before anything runs, in one line and status 2 (one_line_errors)."""
    import shutil
    if args.compare_to:
        parser.error(f"--compare-to: {COMPARE_TO}")
    if args.python != sys.executable and not shutil.which(args.python):
        parser.error(f"--python {args.python}: no such executable")
    if args.affinity and args.affinity.strip(" \x00"):
        cpus, allowed = _cpus(args.affinity), sorted(os.sched_getaffinity(0))
        if cpus is None:
            parser.error(f"--affinity {args.affinity}: not a list of CPUs such as 0,2-3")
        if not cpus <= set(allowed):
            parser.error(f"--affinity {args.affinity}: CPU {min(cpus - set(allowed))} is not one this process may "
                         f"run on ({','.join(map(str, allowed))})")
    if args.output and os.path.exists(args.output):
        parser.error(f"The JSON file {args.output!r} already exists")
    for opt, path in (("-o", args.output), ("--append", args.append)):
        if not path:
            continue
        where = os.path.dirname(os.path.abspath(path))
        if opt == "--append" and os.path.exists(path):
            import pyperf
            try:
                pyperf.BenchmarkSuite.load(path)
            except Exception:       # (json, pyperf's own format checks: many kinds)
                parser.error(f"--append {path}: not a JSON file of pyperf's results")
            if not os.access(path, os.W_OK):
                parser.error(f"--append {path}: cannot write to it")
        elif not (os.path.isdir(where) and os.access(where, os.W_OK)):
            parser.error(f"{opt} {path}: cannot write into {where}")


def _benches(runner: Any, append: str | None, untimed: bool) -> None:
    """The runner's bench_time_func and bench_func (the scripts call these) with what pyperf leaves out:

    * a worker that failed (a --python without this tree's vega, ...) is one line and status 1 after what the
      worker printed, not pyperf's RuntimeError traceback besides;
    * ``append``: the benchmarks are added to the --append file here, not by pyperf (parse_args takes the option
      from it), so that runs that do not go with the file's (another --corpus, another VEGA_BENCH_DATAGRAMS) are one
      line and status 1, not pyperf's ValueError traceback once the benchmark has run;
    * ``untimed`` (--track-memory, --tracemalloc: pyperf's values are bytes, not seconds): the script is given None,
      as in a worker, so that its summary does not print them as nanoseconds (was "29577216000000000.00 ns", and
      bench_merge's targets MISSED)."""
    import pyperf
    for method in ("bench_time_func", "bench_func"):
        def call(*a: Any, _run: Callable[..., Any] = getattr(runner, method), **kw: Any) -> Any:
            try:
                bench = _run(*a, **kw)
            except RuntimeError as e:           # pyperf's Manager: "PYTHON failed with exit code N"
                if " failed with exit code " not in str(e):
                    raise
                print(f"{_script()}: a pyperf worker process failed: {e}", file=sys.stderr)
                sys.exit(1)
            if bench is not None and append:
                try:
                    pyperf.add_runs(append, bench)
                except ValueError as e:         # "incompatible benchmark, metadata ... is different"
                    print(f"{_script()}: --append {append}: the runs of {bench.get_name()} do not go with the "
                          f"file's ({e}); stopped, the file holds what went before", file=sys.stderr)
                    sys.exit(1)
            return None if untimed else bench
        setattr(runner, method, call)


def parse_args(runner: Any) -> argparse.Namespace:
    """``runner.parse_args()`` (a pyperf.Runner whose parser went through command_line), and what pyperf leaves
    out, through pyperf's public API only (Runner.argparser, parse_args, args, bench_time_func, pyperf.add_runs: a
    pyperf release that renames a private name no longer stops every script at its start):

    * --processes and --values given on the command line are the run's, with --fast too (pyperf's --fast, and
      --rigorous, replaced them silently: ``--fast -p 1`` ran 3 processes; in a worker, its --values);
    * what pyperf refuses once it runs is refused before: ``-o`` of a file that exists (was ``ERROR:`` on stdout,
      status 1), ``-o`` into a directory that is not there and an ``--append`` file that is not pyperf's JSON (were
      tracebacks once the first benchmark had run), a --python that is not there (``ERROR:``), an --affinity CPU
      this process may not use (a worker's traceback, then the parent's); --compare-to is refused (COMPARE_TO):
      one line on stderr and status 2, as a bad option;
    * runs that do not go with the ``--append`` file's are found only once run, and a worker that failed: one line
      and status 1, not a traceback; with --track-memory or --tracemalloc the script's time summary is left out
      (_benches);
    * --fast abbreviated is refused: the scripts that give --fast their own meaning look for it in full, so
      ``--fas`` was pyperf's --fast alone, not what --help says;
    * WORKER_ENVIRON is handed on to the worker processes."""
    parser = runner.argparser
    if any(a != "--fast" and len(a) > 2 and "--fast".startswith(a) for a in sys.argv[1:]):
        parser.error("--fast: give it in full, --fast, not abbreviated")
    pre, given = _given(parser)
    if not pre.worker:
        _check(parser, pre)
    args = runner.parse_args()
    for dest, value in given.items():
        setattr(args, dest, value)
    if args.worker:
        return args
    args.inherit_environ = list(args.inherit_environ or []) + [
        name for name in WORKER_ENVIRON if name in os.environ and name not in (args.inherit_environ or [])]
    _benches(runner, args.append, args.track_memory or args.tracemalloc)
    args.append = None                  # (added by _benches: pyperf's own add_runs was a traceback)
    return args
