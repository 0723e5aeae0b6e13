"""The benchmarks' command lines: a bad option is one line, and --help says what the script's own --fast does.

A pyperf runner's usage is over a dozen lines; argparse printed all of it before the one line that says what was
wrong.  Values are checked by the option's type, before any data is generated or any worker started.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Callable, NoReturn


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


def command_line(parser: argparse.ArgumentParser, doc: str, fast: str) -> argparse.ArgumentParser:
    """A pyperf runner's parser made the script's: --help opens with the first paragraph of its docstring (what it
    measures) and says what its --fast does (``fast``: pyperf's help says only "Get rough answers quickly", and
    several scripts give --fast their own meaning); a bad option is one line (one_line_errors)."""
    parser.description = doc.split("\n\n")[0]
    for action in parser._actions:
        if "--fast" in action.option_strings:
            action.help = fast
    return one_line_errors(parser)
