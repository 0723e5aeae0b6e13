"""A journal that stops on an I/O error (its disk full, here a file-size limit) must not stop the feed: the
store and the ring, the trading path, go on; the journal stays as far as it got, recoverable; the failure is
reported (stats, warning, a non-zero exit at the end)."""
import json
import os
import subprocess
import sys
import textwrap
import uuid

from vega import Ring
from vega.journal import Journal, JournalWriter, verify

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = textwrap.dedent("""
    import json, resource, signal, sys
    from vega.capture import Capture, load_config
    from vega.pcap import udp_datagrams
    from vega.simulator import write_pcap, Simulator
    pcap, root, ring, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cap = Capture(load_config(None, journal_root=root, ring=ring))
    first = next(iter(udp_datagrams(pcap)))[0]
    cap.open(offline_ns=first)
    warnings = []
    cap.on_warning = warnings.append
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)            # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # from here on: the journal's disk is full
    n = cap.ingest(udp_datagrams(pcap))
    stats = cap.stats()
    tails = {f.name: cap.ring.tail(f.name) for f in cap.all_feeds}
    cap.close()
    failures = cap.journal_failures()
    cap.unlink()
    print(json.dumps({"n": n, "stats": stats, "tails": tails, "warnings": warnings, "failures": failures}))
""")


def test_the_feed_goes_on_when_its_journal_fails(tmp_path):
    from vega.simulator import Simulator
    sim = Simulator(["FO", "CM"], 3000, seed=2)
    pcap = tmp_path / "s.pcap"
    sim.write(pcap)
    ring = f"vega-jfail-{uuid.uuid4().hex[:8]}"
    try:
        r = subprocess.run([sys.executable, "-c", CHILD, str(pcap), str(tmp_path / "j"), ring, str(100_000)],
                           capture_output=True, text=True, timeout=120, cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=ROOT))
    finally:                                                    # the child unlinks it unless it failed
        try:
            Ring.unlink(ring)
        except FileNotFoundError:
            pass
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == 6000                                       # every datagram went through
    fo = out["stats"]["feeds"]["NSE_FO"]
    assert fo["datagrams"] == 3000 and not fo["errors"]
    assert out["tails"]["NSE_FO"] == fo["records"] > 0           # the ring got every change record
    failed = [name for name, d in out["stats"]["feeds"].items() if d["journal"]["failed"]]
    assert "NSE_FO" in failed and "File too large" in out["stats"]["feeds"]["NSE_FO"]["journal"]["failed"]
    assert len(out["warnings"]) == len(out["failures"]) >= len(failed)     # the rest at their seal
    # the journal holds what it wrote before the failure, whole records; vega verify --repair seals it
    path = tmp_path / "j" / "NSE_FO" / os.listdir(tmp_path / "j" / "NSE_FO")[0]
    with Journal.open(path) as j:
        assert 0 < len(j) < fo["records"] and not j.sealed
        n = len(j)
    rep = verify(path, repair=True)
    assert rep.ok and rep.repaired and rep.state == "sealed"
    with Journal.open(path) as j:
        assert j.sealed and len(j) == n


def test_ingest_exits_non_zero_when_a_journal_failed(tmp_path):
    from vega.simulator import Simulator
    Simulator(["FO"], 400, seed=3).write(tmp_path / "s.pcap")
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "from vega.cli import main; import vega.capture as c; o = c.Capture.open\n"
            "def op(self, **kw):\n    r = o(self, **kw); resource.setrlimit(resource.RLIMIT_FSIZE, (200000, 200000)); return r\n"
            "c.Capture.open = op; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "ingest", str(tmp_path / "s.pcap"), "--journal-root",
                        str(tmp_path / "j"), "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 1 and "the journal failed" in r.stderr and "File too large" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert json.loads(r.stdout)["feeds"]["NSE_FO"]["datagrams"] == 400


def test_verify_repair_leaves_a_running_writers_file_alone(tmp_path):
    from journal_helpers import make_records
    w = JournalWriter(tmp_path, "NSE_FO", "2026-11-20", flush_interval=None)
    w.append(make_records(50))
    w.flush()
    rep = verify(w.path, repair=True)                # open, locked by its writer: nothing to do, no error
    assert rep.ok and not rep.repaired and rep.state == "open"
    w.append(make_records(5, seed=2))
    w.close()
    with Journal.open(w.path) as j:
        assert j.sealed and len(j) == 55
