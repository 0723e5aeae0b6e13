"""Subcommands of the ``vega`` command line, one module each (see vega.cli)."""


class CliError(Exception):
    """An operator-facing error: printed as one line by vega.cli, exit status 1."""


def finite_float(text: str) -> float:
    """argparse type of a number option: a finite float (``nan`` and ``inf`` parse as floats, and then fail
    somewhere deep as a ValueError or an OverflowError, or never compare)."""
    import argparse
    import math
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return v
