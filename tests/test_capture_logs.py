"""A day-long capture's log and stats outputs failing must not stop it: its stderr a pipe whose reader has gone
(`vega capture 2>&1 | tee capture.log`, the tee killed), its stats written to a full disk.  The capture
receives on, journals everything, and stops cleanly when told."""
import os
import signal
import socket
import subprocess
import sys
import time

from vega import nse
from vega.journal import Journal, verify

from net_helpers import free_udp_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bound(port: int) -> bool:
    """Whether a UDP socket is bound to 127.0.0.1:``port`` (/proc/net/udp)."""
    with open("/proc/net/udp") as fh:
        return any(line.split()[1] == f"0100007F:{port:04X}" for line in fh.readlines()[1:])


def _capture_with_outputs(journal_root, stdout, stderr, datagrams=20):
    """Run `vega capture` (one FO feed on a loopback port, a journal) with the given standard output and error,
    send it ``datagrams`` datagrams once its socket is bound, stop it with SIGTERM; (exit status, the journal's
    live records)."""
    port = free_udp_port()
    p = subprocess.Popen([sys.executable, "-m", "vega.cli", "capture", "--feed", f"FO=127.0.0.1:{port}",
                          "--journal-root", str(journal_root), "--ring=", "--store=", "--stats-interval", "0.05",
                          "--silence-alarm", "0.05"],
                         stdout=stdout, stderr=stderr, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        deadline = time.monotonic() + 60
        while not _bound(port):
            assert p.poll() is None, f"the capture exited with status {p.returncode} before it received"
            assert time.monotonic() < deadline, "the capture's socket was not bound in 60 s"
            time.sleep(0.02)
        time.sleep(0.3)             # stats lines and silence warnings, several of each, meet the broken outputs
        assert p.poll() is None, f"the capture exited with status {p.returncode} before it received"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for d in nse.sample_stream("FO", datagrams, seed=3):
                s.sendto(d, ("127.0.0.1", port))
        p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    files = list(journal_root.glob("NSE_FO/*.bin"))
    assert len(files) == 1 and verify(files[0]).state == "sealed"
    with Journal.open(files[0]) as j:
        return code, j.next_seq


def _closed_pipe():
    """The writing end of a pipe whose reader has gone: every write to it fails with EPIPE."""
    r, w = os.pipe()
    os.close(r)
    return w


def test_a_capture_whose_stderr_reader_has_gone_captures_on(tmp_path):
    """Its first line on stderr raised BrokenPipeError: the capture stopped at once, status 1."""
    w = _closed_pipe()
    try:
        with open(tmp_path / "stats.txt", "wb") as out:
            code, records = _capture_with_outputs(tmp_path / "j", out, w)
    finally:
        os.close(w)
    assert code == 0 and records > 0
    stats = (tmp_path / "stats.txt").read_text()
    assert "NSE_FO: 20 dgrams" in stats.splitlines()[-1]          # the final stats: every datagram went in


def test_a_capture_whose_log_pipe_reader_has_gone_captures_on(tmp_path):
    """`vega capture 2>&1 | head`: stdout and stderr one pipe, whose reader goes.  The capture stopped, quietly
    and with status 0 (a closed pipe reads as a reader that has what it wanted), which no supervisor restarts."""
    w = _closed_pipe()
    try:
        code, records = _capture_with_outputs(tmp_path / "j", w, w)
    finally:
        os.close(w)
    assert code == 0 and records > 0


def test_a_capture_whose_stats_output_is_on_a_full_disk_captures_on(tmp_path):
    """Stats written to a file on a full disk (/dev/full: ENOSPC): the first stats line stopped the capture,
    status 1, the same disk filling that a journal survives (held in memory, written again later)."""
    with open(os.devnull if not os.path.exists("/dev/full") else "/dev/full", "wb") as out, \
            open(tmp_path / "err.txt", "wb") as err:
        code, records = _capture_with_outputs(tmp_path / "j", out, err)
    said = (tmp_path / "err.txt").read_text()
    assert code == 0 and records > 0, said
    assert said.count("cannot write the stats output") == 1 and "No space left on device" in said, said
    assert "stopped, journal sealed" in said and "Traceback" not in said
