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


def test_python_dash_m_vega_is_the_vega_command():
    """``python -m vega`` for an environment whose scripts are not on PATH: same output, same exit."""
    r = subprocess.run([sys.executable, "-m", "vega", "demo", "--datagrams", "0"], capture_output=True, text=True)
    assert (r.returncode, r.stderr.strip()) == (1, "vega demo: --datagrams must be positive")
    r = subprocess.run([sys.executable, "-m", "vega", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("usage: vega ")


def test_version_is_the_packages_own():
    import tomllib
    from pathlib import Path
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    import vega
    assert vega.__version__ == project["version"]
    for cmd in ([sys.executable, "-m", "vega", "--version"], [sys.executable, "-m", "vega.cli", "--version"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert (r.returncode, r.stdout.strip(), r.stderr) == (0, f"vega {vega.__version__}", "")


def test_submodules_are_reachable_after_a_plain_import_vega():
    """The README's ``vega.pcap.udp_datagrams(path)``, ``vega.capture.Capture``, ``vega.simulator.Simulator``
    after ``import vega`` alone (a new interpreter: here they are imported already); a misspelt name is still
    an AttributeError."""
    code = ("import sys, vega\n"
            "assert 'vega.pcap' not in sys.modules and 'vega.capture' not in sys.modules\n"
            "assert {'pcap', 'capture', 'simulator', 'cli', 'Store'} <= set(dir(vega))\n"
            "print(vega.pcap.udp_datagrams.__name__, vega.capture.Capture.__name__, "
            "vega.simulator.Simulator.__name__, vega.cli.main.__name__)\n"
            "try:\n    vega.pcapp\nexcept AttributeError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["udp_datagrams Capture Simulator main", "module 'vega' has no attribute 'pcapp'"]


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def _usage_error(capsys, argv):
    """main(argv) fails on its arguments: exit status 2 and one line on stderr."""
    import pytest
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_every_command_says_a_bad_option_in_one_line(capsys):
    from vega.cli import COMMANDS
    for name in COMMANDS:
        assert _usage_error(capsys, [name, "--no-such-option"]).startswith(f"vega {name}: "), name
    assert _usage_error(capsys, ["no-such-command"]).startswith("vega: argument COMMAND: invalid choice")


def test_number_options_refuse_nan_and_infinity(capsys):
    """float('nan') and float('inf') parse; a NaN never compares and an infinity overflows int(): both are
    refused where the option is read."""
    for argv in (["demo", "--rate", "nan"], ["demo", "--seconds", "inf"], ["simulate", "--duration", "inf"],
                 ["simulate", "--rate", "Infinity"], ["capture", "--duration", "nan"], ["capture", "--iv-rate", "inf"],
                 ["ingest", "x.pcap", "--iv-rate", "nan"], ["replay", "j", "2026-11-20", "--speed", "nan"],
                 ["replay", "j", "2026-11-20", "--max-gap", "inf"], ["watch", "s", "--interval", "nan"]):
        err = _usage_error(capsys, argv)
        assert f"argument {argv[-2]}: not a finite number: {argv[-1]!r}" in err, (argv, err)
    assert "argument --rate: not a number: 'fast'" in _usage_error(capsys, ["simulate", "--rate", "fast"])


def test_demo_interrupted_while_generating_leaves_no_directories(tmp_path):
    """Ctrl-C while the demo generates its datagrams (seconds, for a large --datagrams) used to leave its
    journal directory and its master files in the temporary directory: both are removed, exit 130."""
    import os
    import signal
    import time
    env = dict(os.environ, TMPDIR=str(tmp_path))
    # SIGINT at its default in the child (a runner started in the background of a shell ignores it)
    p = subprocess.Popen([sys.executable, "-m", "vega.cli", "demo", "--datagrams", "300000", "--segments", "FO"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("vega-demo-master-*/contract.txt")) and time.monotonic() < deadline:
        assert p.poll() is None, p.communicate()
        time.sleep(0.01)
    assert list(tmp_path.glob("vega-demo-*")), "the demo made no directories within 60 s"
    time.sleep(0.2)                                 # (the security file too: generating)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, err.strip()) == (130, "vega demo: interrupted"), err
    assert list(tmp_path.iterdir()) == []
