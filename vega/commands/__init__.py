"""Subcommands of the ``vega`` command line, one module each (see vega.cli)."""


class CliError(Exception):
    """An operator-facing error: printed as one line by vega.cli, exit status 1."""
