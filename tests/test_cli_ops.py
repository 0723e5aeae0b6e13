"""Operator errors of vega capture / simulate: one clear stderr line, a non-zero exit, never a traceback."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _vega(*args, timeout=30):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("VEGA_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "vega.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)


def _one_line_error(r, *fragments):
    assert r.returncode != 0, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def test_bad_group_address(tmp_path):
    _one_line_error(_vega("capture", "--feed", "FO=239.300.1.1:34302", "--duration", "1"),
                    "vega capture:", "not an IPv4 address")
    _one_line_error(_vega("capture", "--feed", "FO=10.1.2.3:34302", "--duration", "1"),
                    "neither a multicast group nor a loopback")


def test_taken_port(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        _one_line_error(_vega("capture", "--feed", f"CM=127.0.0.1:{port}", "--duration", "1"),
                        f"cannot bind 127.0.0.1:{port}", "in use")


def test_no_permission(tmp_path):
    if os.geteuid() == 0:
        root = "/sys/vega-capture-test"           # even root may not create directories in sysfs
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        root = str(locked / "journal")
    _one_line_error(_vega("capture", "--feed", "CM=127.0.0.1:1", "--journal-root", root, "--duration", "1"),
                    "journal root")


def test_unwritable_journal_root(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("not a directory")
    _one_line_error(_vega("capture", "--journal-root", str(f / "journal"), "--duration", "1"),
                    "journal root", "Not a directory")


@pytest.mark.parametrize("text, fragment", [
    ("[capture\nring = 1", "not valid TOML"),
    ("[capture]\nring = 5\n", "capture.ring has the wrong type"),
    ("[capture]\nbogus = 1\n", "unknown key capture.bogus"),
    ("[[feed]]\nsegment = \"FO\"\n", "feed #1 lacks group, port"),
    ("[capture]\nrcvbuf_mb = 4096\n", "rcvbuf_mb must be an integer in 1..2048"),
    ("[[feed]]\nsegment = \"XX\"\ngroup = \"239.1.1.1\"\nport = 5\n", "not FO or CM"),
    (b"\xff\xfe", "cannot read"),
    ("feed = [1, 2]\n", "feed #1 is not a table (int): feeds are written [[feed]]"),   # was a bare TypeError
    ("feed = [{segment = \"FO\", group = \"239.70.2.1\", port = 34302}, \"x\"]\n", "feed #2 is not a table (str)"),
    # a NUL in a path or name: a bare "ValueError: embedded null byte" at the first datagram (journal_root),
    # "no such file" with the NUL printed raw (the master files)
    *((f'[capture]\n{k} = "a\\u0000b"\n', f"{k} 'a\\x00b': a path or name cannot contain a NUL character")
      for k in ("journal_root", "ring", "store", "contract", "security", "index_master")),
])
def test_corrupt_config(tmp_path, text, fragment):
    p = tmp_path / "bad.toml"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    _one_line_error(_vega("capture", "--config", str(p), "--duration", "1"), "vega capture: config", fragment)


def test_missing_config():
    _one_line_error(_vega("capture", "--config", "/nonexistent/vega.toml"), "no such file")


def test_config_that_is_not_a_regular_file(tmp_path, monkeypatch):
    """A FIFO as the config made ingest (and capture) wait in read() for a writer forever: a pipe is read while
    its writer writes (``-c <(...)``, ``-c /dev/stdin``), one nobody writes to is refused after PIPE_WAIT_S;
    a directory and a device are refused before they are opened, and so is a master file that is a FIFO."""
    from vega import capture
    from vega.capture import CaptureError, load_config
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    monkeypatch.setattr(capture, "PIPE_WAIT_S", 0.2)
    with pytest.raises(CaptureError, match=f"config {fifo}: a pipe nothing was written to for 0.2 s"):
        load_config(fifo)
    r, w = os.pipe()                                     # process substitution: a pipe with a writer
    os.write(w, b'[capture]\nstats_interval = 7\n')
    os.close(w)
    try:
        assert load_config(f"/dev/fd/{r}").stats_interval == 7
    finally:
        os.close(r)
    _one_line_error(_vega("capture", "--config", str(tmp_path), "--duration", "1"),
                    f"config {tmp_path}: is a directory, not a regular file or a pipe")
    _one_line_error(_vega("capture", "--config", "/dev/zero", "--duration", "1", timeout=20),
                    "config /dev/zero: is a character device, not a regular file or a pipe")
    good = tmp_path / "good.toml"
    good.write_text(f'[capture]\ncontract = "{fifo}"\n')
    _one_line_error(_vega("capture", "--config", str(good), "--duration", "1"),
                    f"config {good}: contract master file {fifo}: is a FIFO, not a regular file")
    odd = tmp_path / "two\nlines.toml"                   # a newline in the name does not split the line
    odd.write_text("[capture\n")
    _one_line_error(_vega("capture", "--config", str(odd), "--duration", "1"), repr(str(odd)), "not valid TOML")


def test_simulate_refuses_non_loopback_and_bad_rate():
    _one_line_error(_vega("simulate", "--fo", "192.0.2.1:5000", "--datagrams", "5"), "only sends on loopback")
    _one_line_error(_vega("simulate", "--rate", "-1", "--datagrams", "5"), "--rate must be >= 0")


def test_simulate_unwritable_output(tmp_path):
    _one_line_error(_vega("simulate", "--datagrams", "5", "--out", str(tmp_path / "no" / "dir" / "x.pcap")),
                    "vega simulate:", "No such file")


def test_simulate_refuses_a_bad_interface_or_an_empty_out_before_generating():
    big = "200000"      # generating this many takes minutes; one line on stderr: no "generating ..." before it
    _one_line_error(_vega("simulate", "--datagrams", big, "--interface", "notanip"),
                    "--interface 'notanip' is not an IPv4 address")
    _one_line_error(_vega("simulate", "--datagrams", big, "--interface", "192.0.2.1"), "through interface 192.0.2.1")
    _one_line_error(_vega("simulate", "--datagrams", big, "--out", ""), "--out needs a file name")


def test_simulate_index_oi_switch(tmp_path):
    """By default the simulated CM stream carries index broadcasts and F&O open interest per underlying;
    --no-index-oi leaves them out."""
    import vega
    from vega.simulator import read_pcap
    codes = {}
    for flag in ([], ["--no-index-oi"]):
        out = tmp_path / f"x{len(flag)}.pcap"
        r = _vega("simulate", "--datagrams", "400", "--out", str(out), "--quiet", *flag, timeout=120)
        assert r.returncode == 0, r.stderr
        seen = set()
        for _, _, port, payload in read_pcap(out):
            seg = "FO" if port == 34302 else "CM"
            seen.update(m["transaction_code"] for m in vega.decode(payload, seg))
        codes[bool(flag)] = seen
    assert {7207, 17130} <= codes[False]
    assert not ({7207, 7216, 8207, 7130, 17130} & codes[True])


def test_example_config_prints_the_shipped_example_which_loads(tmp_path):
    """A pip-installed VEGA has no docs/: `vega capture --example-config` writes the example with every key
    (the package's vega/capture.example.toml), and what it writes is a config vega capture loads."""
    from vega.capture import load_config
    r = _vega("capture", "--example-config")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (ROOT / "vega" / "capture.example.toml").read_text(encoding="utf-8")
    path = tmp_path / "capture.toml"
    path.write_text(r.stdout)
    cfg = load_config(path)
    assert [f.segment for f in cfg.feeds] == ["FO", "CM"] and cfg.ring == "vega"
