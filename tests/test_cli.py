"""The vega command line: demo runs the real pipeline; bad arguments are one line and a non-zero exit."""
import subprocess
import sys

from vega.cli import main


def test_demo_runs_and_reports_what_landed(capsys):
    assert main(["demo", "--datagrams", "400", "--segments", "FO", "CM", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "sent 400 datagrams" in out and out.count("received 400 datagrams") == 2
    assert "errors: none" in out and "busiest of" in out


def test_bad_argument_is_one_line_and_nonzero():
    r = subprocess.run([sys.executable, "-m", "vega.cli", "demo", "--datagrams", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip() == "vega demo: --datagrams must be positive"
    assert "Traceback" not in r.stderr


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err
