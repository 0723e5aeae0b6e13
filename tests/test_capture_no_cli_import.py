"""The capture's library (vega.capture) writes its durations (a silent feed's SILENT 3.0s, a restart's gap) with the
helper the command line shares with it (vega._text.fmt_age), not by importing the command line's package."""
import subprocess
import sys

PROG = """
import sys
from vega.capture import format_stats
feed = {"datagrams": 1, "messages": 1, "by_code": {}, "errors": {}, "gaps": 0, "missed": 0, "silent_s": 3.0}
line = format_stats({"uptime_s": 1.0, "feeds": {"NSE_FO": feed}})
print(line.split("SILENT ")[1].split()[0], sorted(m for m in sys.modules if m.startswith("vega.commands")))
"""


def test_the_stats_line_says_a_silence_without_loading_the_command_line():
    r = subprocess.run([sys.executable, "-c", PROG], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(maxsplit=1) == ["3.0s", "[]\n"]
