"""``vega demo --no-broadcasts``, as ``vega simulate --no-broadcasts``: the simulated feed leaves out the documented
broadcasts VEGA counts without merging (7206, the market-state messages, the trickle), and the demo still checks
that every message sent landed.  (Before, the demo had no such option: an argparse error, exit 2.)"""
import re

from vega.cli import build_parser, main

COUNTED = {"CM": {7206, 6531, 6571, 6511, 6521, 6583, 6584, 7214, 7215, 6501},
           "FO": {7206, 6531, 6571, 6511, 6521, 6522, 7211, 7340, 7220, 6501}}


def _counted_codes(out):
    """{segment: the codes of its line 'messages by code, counted, not merged: ...'}"""
    got = {}
    for seg, codes in re.findall(r"== (CM|FO) .*?counted, not merged: ([^\n]*)", out, re.S):
        got[seg] = {int(c) for c in re.findall(r"(\d+):", codes)}
    return got


def test_demo_no_broadcasts_leaves_them_out_and_every_message_lands(capsys):
    argv = ["demo", "--datagrams", "400", "--segments", "FO", "CM", "--top", "0", "--unicast"]
    assert main(argv) == 0
    with_them = _counted_codes(capsys.readouterr().out)
    assert set(with_them) == {"CM", "FO"} and all(with_them[s] & COUNTED[s] for s in with_them)
    assert main(argv + ["--no-broadcasts"]) == 0
    out = capsys.readouterr().out
    without = _counted_codes(out)
    assert set(without) == {"CM", "FO"} and not any(without[s] & COUNTED[s] for s in without), without
    assert out.count("received 400 datagrams") == 2
    assert "all simulated messages landed in the store, the ring and the journal" in out


def test_demo_and_simulate_say_the_same_of_no_broadcasts():
    sub = next(a for a in build_parser()._actions if a.choices and "demo" in a.choices).choices
    helps = [next(a.help for a in sub[c]._actions if "--no-broadcasts" in a.option_strings)
             for c in ("demo", "simulate")]
    assert helps[0] == helps[1] and "7206" in helps[0]
