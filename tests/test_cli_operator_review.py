"""Command-line fixes from an operator review: a bad --store prefix is refused naming the prefix given, not a
store derived from it; a bad time or date says every form the command takes; an ingest that fed no feed leaves
no day files; a journal failure ends a capture with one short line."""
import re

import pytest

from vega.capture import CaptureError, load_config
from vega.cli import main


def _err_line(capsys):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- 1. a store prefix the store names cannot be made of ------------------------------------------------------

@pytest.mark.parametrize("prefix", ["a/b", "-a", "é", "x" * 98])
def test_a_bad_store_prefix_is_refused_naming_the_prefix_given(prefix, capsys):
    assert main(["capture", f"--store={prefix}", "--remove-shm"]) == 1
    line = _err_line(capsys)
    assert line.startswith(f"vega capture: store {prefix!r}: a store name prefix is 1-97 characters of "
                           "[A-Za-z0-9_.-], the first a letter or digit"), line
    assert "-fo'" not in line and "-idx'" not in line            # not a store made of it: what was typed


def test_the_longest_store_prefix_is_taken(capsys):
    assert load_config(None, store="x" * 97).store == "x" * 97    # its -idx store is 101 characters


def test_a_bad_store_prefix_in_a_config_is_named_with_its_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[capture]\nstore = "desk/1"\n')
    with pytest.raises(CaptureError, match=re.escape(f"config {p}: store 'desk/1': a store name prefix is")):
        load_config(p)
