"""bench/bench_capture.py's options (the benchmark's figures themselves are not checked: no timing thresholds)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_vega_only_runs_the_vega_drain_and_nothing_else():
    # tools/profile.sh --drain --callgrind runs this under valgrind: the pure-Python baseline and the sender's
    # cost there took minutes for counts nobody reads (callgrind counts inside BatchReceiver.feed only)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_capture.py"), "--vega-only", "--rounds",
                        "1", "--datagrams", "2000", "--no-pin"], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("  vega ") and "ns CPU/datagram" in line for line in lines), r.stdout
    assert not any(line.startswith(("  python", "  sender", "  ratio")) for line in lines), r.stdout
    assert "summary" not in r.stdout
