"""Subcommands of the ``vega`` command line, one module each (see vega.cli)."""
from typing import TYPE_CHECKING, Callable, TypeAlias

if TYPE_CHECKING:                  # (argparse's action is generic to type checkers only)
    import argparse

    #: what a command module's ``register`` is given: the subcommands of the ``vega`` parser (vega.cli)
    _Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


class CliError(Exception):
    """An operator-facing error: printed as one line by vega.cli, exit status 1."""


#: whether the running command has taken the stop signals over (``took_stop_signals``)
_stop_signals_taken = False


def took_stop_signals(taken: bool = True) -> None:
    """Said by a command that has installed its own SIGTERM / SIGHUP handlers (``vega capture``): the CLI's handler
    of a stop while starting (``vega.cli``), which the command gives back when it is done, then leaves the stop to
    the command's last lines instead of breaking them off.  ``vega.cli.main`` resets it."""
    global _stop_signals_taken
    _stop_signals_taken = taken


def stop_signals_taken() -> bool:
    """Whether the running command has said ``took_stop_signals``."""
    return _stop_signals_taken


def ascii_int(text: str) -> int:
    """argparse type of a count option: an integer in ASCII digits.  ``int`` reads the digits of every script
    ('\uff11\uff12', '\u0661\u0662' as 12), which a port, a time or a token never took (vega.commands._ops)."""
    import argparse
    if not text.isascii():
        raise argparse.ArgumentTypeError(f"not an integer in ASCII digits 0-9: {text!r}")
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def finite_float(text: str) -> float:
    """argparse type of a number option: a finite float in ASCII (``nan`` and ``inf`` parse as floats, and then
    fail somewhere deep as a ValueError or an OverflowError, or never compare; ``float`` reads the digits of
    every script, as ``int`` does: see ascii_int)."""
    import argparse
    import math
    if not text.isascii():
        raise argparse.ArgumentTypeError(f"not a number in ASCII digits 0-9: {text!r}")
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return v


def _num(v: float) -> str:
    return f"{int(v):,}" if v == int(v) and abs(v) < 1e15 else f"{v:g}"


def float_upto(hi: float, tiny: float | None = None, unit: str = "") -> Callable[[str], float]:
    """argparse type of a number option: a finite_float at most ``hi``, and with ``tiny`` not above 0 and below
    ``tiny`` either (zero and negative values are left to the command's own check, which says what they mean).
    A value far out (``--speed 1e308``, ``--seconds 1e308``) overflowed deep inside as a bare OverflowError,
    "cannot convert float infinity to integer"; it is now exit status 2 and a line giving the range."""
    import argparse

    def number(text: str) -> float:
        v = finite_float(text)
        if v > hi or (tiny is not None and 0 < v < tiny):
            lo = f"at least {_num(tiny)} and " if tiny is not None else ""
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: expected {lo}at most {_num(hi)}{unit}")
        return v
    return number
