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


def _remember(action: argparse.Action) -> None:
    """Make ``action`` note on the namespace the value given on the command line (parse_args restores it)."""
    base = type(action)

    def call(self: Any, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        base.__call__(self, parser, namespace, values, option_string)
        namespace._given = dict(getattr(namespace, "_given", {}), **{self.dest: values})
    action.__class__ = type(f"Given{base.__name__}", (base,), {"__call__": call})


def command_line(parser: argparse.ArgumentParser, doc: str, fast: str) -> argparse.ArgumentParser:
    """A pyperf runner's parser made the script's: --help opens with the first paragraph of its docstring (what it
    measures) and says what its --fast does (``fast``: pyperf's help says only "Get rough answers quickly", and
    several scripts give --fast their own meaning), and that --processes and --values given win over it
    (parse_args); a bad option is one line (one_line_errors)."""
    parser.description = doc.split("\n\n")[0]
    for action in parser._actions:
        if "--fast" in action.option_strings:
            action.help = fast + FAST_GIVEN
        if action.dest in ("processes", "values"):
            _remember(action)
    return one_line_errors(parser)


def parse_args(runner: Any) -> argparse.Namespace:
    """``runner.parse_args()`` (a pyperf.Runner whose parser went through command_line), and what pyperf leaves
    out:

    * --processes and --values given on the command line are the run's, with --fast too (pyperf's --fast, and
      --rigorous, replaced them silently: ``--fast -p 1`` ran 3 processes; in a worker, its --values);
    * pyperf's own refusals (``-o`` of a file that exists, ...) are one line on stderr and status 2, as a bad
      option, not an ``ERROR:`` line on stdout and status 1;
    * ``-o`` and ``--append`` are checked before anything runs: a directory that is not there was a traceback
      once the first benchmark had run, an ``--append`` file that is not pyperf's JSON one too; runs that do not
      go with the ``--append`` file's (another --corpus, another VEGA_BENCH_DATAGRAMS) are found only once run:
      one line and status 1, not a traceback;
    * --fast abbreviated is refused: the scripts that give --fast their own meaning look for it in full, so
      ``--fas`` was pyperf's --fast alone, not what --help says;
    * WORKER_ENVIRON is handed on to the worker processes."""
    from pyperf._runner import CLIError
    parser = runner.argparser

    def process() -> None:
        try:
            runner._process_args_impl()
        except CLIError as e:
            parser.error(str(e))
    runner._process_args = process
    if any(a != "--fast" and len(a) > 2 and "--fast".startswith(a) for a in sys.argv[1:]):
        parser.error("--fast: give it in full, --fast, not abbreviated")
    args = runner.parse_args()
    for dest, value in getattr(args, "_given", {}).items():
        setattr(args, dest, value)
    if args.worker:
        return args
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
    args.inherit_environ = list(args.inherit_environ or []) + [
        name for name in WORKER_ENVIRON if name in os.environ and name not in (args.inherit_environ or [])]
    display = runner._display_result

    def display_result(bench: Any, checks: bool = True) -> None:
        try:
            display(bench, checks=checks)
        except ValueError as e:         # pyperf.add_runs: "incompatible benchmark, metadata ... is different"
            if not args.append:
                raise
            print(f"{_script()}: --append {args.append}: the runs of {bench.get_name()} do not go with the file's "
                  f"({e}); stopped, the file holds what went before", file=sys.stderr)
            sys.exit(1)
    runner._display_result = display_result
    return args
