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
from types import FrameType
from typing import Any, TextIO

from vega.commands import CliError, stop_signals_taken, took_stop_signals

#: subcommand modules of vega.commands, in --help order
COMMANDS = ["demo", "simulate", "capture", "ingest", "watch", "replay", "dump", "verify", "stat", "export"]


def _version() -> str:
    from vega import __version__
    return __version__


class Parser(argparse.ArgumentParser):
    """The ``vega`` parser: an ArgumentParser that also holds each subcommand's parser by name."""

    commands: dict[str, argparse.ArgumentParser]      # name -> its parser (build_parser)


def build_parser() -> Parser:
    p = Parser(prog="vega", description="VEGA: NSE NNF broadcast feed handler.")
    p.add_argument("--version", action="version", version=f"vega {_version()}")
    # (the subcommands' parsers are plain ArgumentParsers, as the command modules make them)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=argparse.ArgumentParser)
    for name in COMMANDS:
        importlib.import_module(f"vega.commands.{name}").register(sub)
    p.commands = sub.choices                     # name -> its parser
    from vega.commands._ops import one_line_errors
    for parser in (p, *sub.choices.values()):    # a bad option: one line, not argparse's usage block
        one_line_errors(parser)
    return p


def _paths_as_given() -> None:
    """Standard output and error write a path whose name is not UTF-8 (which Python holds with surrogate escapes)
    as its own bytes on a UTF-8 stream, where a strict one (a UTF-8 locale other than C.UTF-8) failed the
    command with UnicodeEncodeError, and escaped (backslashreplace) on a stream of another encoding."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)   # (a test's replacement may have none)
        if reconfigure is None or stream.errors not in ("strict", "surrogateescape"):
            continue
        utf8 = (stream.encoding or "").lower().replace("-", "") == "utf8"
        try:
            reconfigure(errors="surrogateescape" if utf8 else "backslashreplace")
        except (ValueError, OSError):
            pass


def _closed_streams_to_devnull() -> None:
    """A command started with standard output or error closed (``vega capture ... >&-``; Python then has
    ``sys.stdout`` None) writes that stream to /dev/null, as if it had been given; its first flush used to fail
    with a traceback.  File descriptors 0-2 that are closed are taken by /dev/null first, so that no file the
    command opens (a journal, a socket) gets one of their numbers.  Standard input stays None: ``vega ingest -``
    says it is closed."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:                            # closed: the lowest free number is this one
            try:
                os.open(os.devnull, os.O_RDWR)
            except OSError:
                return
    for name, fd in (("stdout", 1), ("stderr", 2)):
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=False))


#: the commands that take the stop signals over themselves (a clean stop: vega.commands.capture.stop_signals);
#: until they do, a stop signal while starting stops them with exit status 0 (:func:`_stops_while_starting`)
_STOPPED_CLEANLY = ("capture",)


class _StopWhileStarting(BaseException):
    """SIGTERM or SIGHUP while the command was starting (importing, parsing, reading its configuration)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop_while_starting(signum: int, frame: FrameType | None) -> None:
    if not stop_signals_taken():
        raise _StopWhileStarting(signum)
    # (vega capture took the stop signals over, stopped and gave them back: it is saying its last lines, closed,
    # and exits with its status at once; stopping it now would cut them)


def _stops_while_starting() -> dict[int, Any]:
    """Catch SIGTERM and SIGHUP (those whose action is the default: a process started to ignore one, nohup, goes
    on ignoring it) from here until the command takes them over or runs: the default action killed ``vega capture``
    stopped by systemd while it was still starting (exit status 143, no line), where a stop a moment later stops
    it cleanly.  Returns the handlers replaced (none outside the main thread, where signals cannot be caught)."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        return {}
    old: dict[int, Any] = {}
    for s in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(s) is signal.SIG_DFL:
            old[s] = signal.signal(s, _stop_while_starting)
    return old


def _stops_as_before(old: dict[int, Any]) -> None:
    """Give back the handlers :func:`_stops_while_starting` replaced, where the command did not replace them."""
    import signal
    for s, h in old.items():
        if signal.getsignal(s) is _stop_while_starting:
            signal.signal(s, h)


def _stopped_while_starting(command: str | None, signum: int) -> int:
    """The line and exit status of a stop signal while the command was starting: ``vega capture`` stops as a later
    stop does, with status 0 (it had opened nothing yet); any other command with 128 + the signal's number."""
    import signal
    name = signal.Signals(signum).name
    if command in _STOPPED_CLEANLY:
        import datetime as dt
        ist = dt.datetime.now(dt.timezone(dt.timedelta(hours=5, minutes=30)))
        return _fail(command, f"stopped by {name} at {ist:%H:%M:%S} IST while starting, before it opened anything", 0)
    return _fail(command, f"stopped by {name} while starting", 128 + signum)


def _command_in(argv: list[str] | None) -> str | None:
    """The command named on a command line not parsed yet: its first word that is one."""
    return next((a for a in (sys.argv[1:] if argv is None else argv) if a in COMMANDS), None)


def main(argv: list[str] | None = None) -> int:
    took_stop_signals(False)
    stops = _stops_while_starting()
    command = _command_in(argv)
    try:
        _closed_streams_to_devnull()
        _paths_as_given()
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        command = getattr(args, "command", None)
        if command not in _STOPPED_CLEANLY:
            _stops_as_before(stops)                # another command's stop signals do what they did
        return _main(parser, args, extra)
    except _StopWhileStarting as e:
        return _stopped_while_starting(command, e.signum)
    except KeyboardInterrupt:                  # (while starting: the command's own run says its own)
        return _fail(command, "interrupted", 130)
    finally:
        _stops_as_before(stops)


def _main(parser: Parser, args: argparse.Namespace, extra: list[str]) -> int:
    if extra:                                  # said by the command they were given to, not by ``vega``
        command = getattr(args, "command", None)
        said_by = parser if command is None else parser.commands.get(command, parser)
        said_by.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = args.func(args)          # (every command's run returns its exit status)
        try:
            sys.stdout.flush()                 # output that fails at the end (a closed pipe, a full disk): here
        except OSError as e:
            if isinstance(_stdout_error(e) or e, BrokenPipeError):
                return 0
            return _fail(args.command, f"cannot write the output: {e.strerror or e}", 1)
        return status
    except CliError as e:
        return _fail(args.command, str(e), 1)
    except KeyboardInterrupt:
        return _fail(args.command, "interrupted", 130)
    except Exception as e:  # one readable line for the operator; VEGA_TRACEBACK=1 for developers
        out = _stdout_error(e)
        if isinstance(out, BrokenPipeError):   # `vega verify ROOT | head -1`: the reader has what it wanted
            return 0
        if out is not None:                    # the output is lost, and said so
            return _fail(args.command, f"cannot write the output: {out.strerror or out}", 1)
        if os.environ.get("VEGA_TRACEBACK") == "1":
            raise
        return _fail(args.command, _said(e), 1)


def _said(e: BaseException) -> str:
    """An unexpected error's line: VEGA's own errors (StoreError, JournalError, RingError ...) say what went
    wrong in words already, so only the message; any other (ValueError, OSError ...) with its class's name."""
    if type(e).__module__.split(".")[0] == "vega" and str(e):
        return str(e)
    return f"{type(e).__name__}: {e}"


def _fail(command: str | None, message: str, status: int) -> int:
    """Say ``vega COMMAND: message`` on stderr (``vega: message`` before a command is known); ``status``.  Output
    still buffered for a standard output that fails (its reader gone, its disk full) is dropped, so the
    interpreter's exit adds no second error."""
    _stdout_error(None)
    try:
        print(f"vega{' ' + command if command else ''}: {message}", file=sys.stderr)
    except OSError:                            # stderr gone too: the status says it
        pass
    return status


def _stdout_error(e: BaseException | None) -> OSError | None:
    """The error standard output gives now (``e`` for a BrokenPipeError when its pipe has no reader left),
    else None.  When it fails, it is pointed at /dev/null: what it still buffers is dropped at exit instead of
    failing again ("Exception ignored ... BrokenPipeError" and exit status 120)."""
    err = None
    try:
        sys.stdout.flush()
    except OSError as again:
        err = again
    except ValueError:                         # closed
        return None
    if err is None and isinstance(e, BrokenPipeError) and _no_reader(sys.stdout):
        err = e
    if err is not None:
        stdout_to_devnull()
    return err


def stdout_to_devnull(stream: TextIO | None = None) -> None:
    """Point standard output (or ``stream``: standard error) at /dev/null (its reader gone, its disk full): what
    it still buffers is dropped at exit instead of failing again ("Exception ignored ... BrokenPipeError" and exit
    status 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (sys.stdout if stream is None else stream).fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _no_reader(stream: TextIO) -> bool:
    """True when ``stream`` is a pipe whose reading end is closed (poll reports POLLERR for its writer)."""
    import select
    try:
        p = select.poll()
        p.register(stream.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in p.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


if __name__ == "__main__":
    sys.exit(main())
