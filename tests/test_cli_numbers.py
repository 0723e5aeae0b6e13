"""Number options of the vega command line take ASCII digits only: Python's int() and float() read the digits of
every script ('\uff11\uff12' full-width, '\u0661\u0662' Arabic-Indic as 12), which the ports, times and tokens
already refused."""
import argparse

import pytest

from vega.cli import build_parser, main

#: the positionals each command needs before argparse looks at the options (never used: parsing stops first)
POSITIONALS = {"dump": ["x.bin"], "replay": ["root", "2026-11-20"], "watch": ["store"], "export": ["r", "o", "d"],
               "stat": ["ring"], "verify": ["p"], "ingest": ["x.pcap"]}


def _number_options():
    """(command, option, parses-to type) of every option whose type turns '12' into a number."""
    out = []
    parser = build_parser()
    for name, sub in parser.commands.items():
        for action in sub._actions:
            if not action.option_strings or action.type is None or action.nargs == 0:
                continue
            try:
                v = action.type("12")
            except (ValueError, TypeError, argparse.ArgumentTypeError):
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append((name, action.option_strings[0], type(v)))
    return out


NUMBER_OPTIONS = _number_options()


def test_the_commands_have_number_options_of_both_kinds():
    kinds = {(c, o): t for c, o, t in NUMBER_OPTIONS}
    # (the list the test below walks is found, not written out: these make sure it finds them)
    assert kinds[("dump", "--limit")] is int and kinds[("capture", "--store-capacity")] is int
    assert kinds[("replay", "--capacity")] is int and kinds[("watch", "--iterations")] is int
    assert kinds[("demo", "--seconds")] is float and kinds[("simulate", "--rate")] is float
    assert kinds[("capture", "--iv-rate")] is float and kinds[("ingest", "--store-capacity")] is int
    assert len(NUMBER_OPTIONS) >= 20


@pytest.mark.parametrize("text", ["\uff11\uff12", "\u0661\u0662", "1\u0662", "\u0967\u0968"])
@pytest.mark.parametrize("command, option, kind", NUMBER_OPTIONS, ids=[f"{c} {o}" for c, o, _ in NUMBER_OPTIONS])
def test_a_number_in_other_digits_is_a_usage_error(capsys, command, option, kind, text):
    # (the parser alone, as main() uses it: a number taken would run the command)
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([command, *POSITIONALS.get(command, []), option, text])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"vega {command}: argument {option}: ") and "ASCII digits 0-9" in err[0], err[0]
    assert repr(text) in err[0] and err[0].endswith(f"(see vega {command} --help)"), err[0]


@pytest.mark.parametrize("command, option, kind", NUMBER_OPTIONS, ids=[f"{c} {o}" for c, o, _ in NUMBER_OPTIONS])
def test_ascii_numbers_still_parse(command, option, kind):
    args = build_parser().parse_args([command, *POSITIONALS.get(command, []), option, "12"])
    v = getattr(args, option.lstrip("-").replace("-", "_"))
    assert v == 12 and type(v) is kind


def test_the_helpers():
    from vega.commands import ascii_int, finite_float
    assert ascii_int("12") == 12 and ascii_int("-3") == -3 and ascii_int(" 7 ") == 7
    assert finite_float("1.5e3") == 1500.0 and finite_float("-0.25") == -0.25
    for bad in ("1.5", "abc", "", "\uff11", "\u00b2"):
        with pytest.raises(argparse.ArgumentTypeError, match="not an integer"):
            ascii_int(bad)
    for bad in ("abc", "\uff11.5", "\u0661", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError, match="not a (finite )?number"):
            finite_float(bad)


def test_range_checks_stay_after_the_digit_check(capsys):
    # an option's own range check still answers for an ASCII value out of it
    assert main(["dump", "x.bin", "--limit", "0"]) == 1
    assert "--limit" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["replay", "root", "2026-11-20", "--speed", "1e308"])
    assert e.value.code == 2 and "'1e308' is out of range" in capsys.readouterr().err
