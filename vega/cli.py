"""The ``vega`` command line: one console script, one module per subcommand in ``vega.commands``.

Every subcommand exits 0 on success and non-zero with one readable line on stderr on failure (no traceback
unless ``VEGA_TRACEBACK=1``).  A command module defines ``register(subparsers)``, which adds its parser and
sets ``func`` to a callable taking the parsed arguments and returning the exit status.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from vega.commands import CliError

#: subcommand modules of vega.commands, in --help order
COMMANDS = ["demo", "simulate", "capture", "ingest", "watch", "replay", "dump", "verify", "stat", "export"]


def _version() -> str:
    from vega import __version__
    return __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vega", description="VEGA: NSE NNF broadcast feed handler.")
    p.add_argument("--version", action="version", version=f"vega {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"vega.commands.{name}").register(sub)
    p.commands = sub.choices                     # name -> its parser
    from vega.commands._ops import one_line_errors
    for parser in (p, *sub.choices.values()):    # a bad option: one line, not argparse's usage block
        one_line_errors(parser)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:                                  # said by the command they were given to, not by ``vega``
        said_by = parser.commands.get(getattr(args, "command", None), parser)
        said_by.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except CliError as e:
        print(f"vega {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vega {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one readable line for the operator; VEGA_TRACEBACK=1 for developers
        if os.environ.get("VEGA_TRACEBACK") == "1":
            raise
        print(f"vega {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
