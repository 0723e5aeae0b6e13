"""A journal that stops on an I/O error (its disk full, here a file-size limit) must not stop the feed: the
store and the ring, the trading path, go on; the journal stays as far as it got, recoverable; the failure is
reported (stats, warning, a non-zero exit at the end)."""
import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from vega._ring import SHM_DIR as SHM
from vega.capture import Capture
from vega.journal import Journal, JournalWriter, verify

from net_helpers import free_udp_port

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
    out = _child_json(CHILD, "vega-jfail", str(pcap), str(tmp_path / "j"), "{ring}", str(100_000))
    assert out["n"] == 6000                                       # every datagram went through
    fo = out["stats"]["feeds"]["NSE_FO"]
    assert fo["datagrams"] == 3000 and not fo["errors"]
    assert out["tails"]["NSE_FO"] == fo["records"] > 0           # the ring got every change record
    failed = [name for name, d in out["stats"]["feeds"].items() if d["journal"]["failed"]]
    assert "NSE_FO" in failed and "File too large" in out["stats"]["feeds"]["NSE_FO"]["journal"]["failed"]
    fo_path = str(tmp_path / "j" / "NSE_FO")
    assert all(x.count(fo_path) <= 1 for x in out["warnings"] + out["failures"])   # the file is named once
    assert len(out["failures"]) >= len(failed)                             # the rest at their seal
    # its records were held in memory while the journal was retried; the disk never freed up, so at the end
    # they were given up, and the warnings said so (one when it failed, one when the holding ended)
    assert "held in memory" in out["stats"]["feeds"]["NSE_FO"]["journal"]["failed"]     # while it ran
    assert out["stats"]["feeds"]["NSE_FO"]["journal"]["held"] > 0
    assert any("NSE_FO" in x and "no longer held: the capture stopped" in x for x in out["failures"])
    assert len(out["warnings"]) == 2 * len(out["failures"])
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
            "def op(self, **kw):\n"
            "    r = o(self, **kw); resource.setrlimit(resource.RLIMIT_FSIZE, (200000, 200000)); return r\n"
            "c.Capture.open = op; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "ingest", str(tmp_path / "s.pcap"), "--journal-root",
                        str(tmp_path / "j"), "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 1 and "the journal failed" in r.stderr and "File too large" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert json.loads(r.stdout)["feeds"]["NSE_FO"]["datagrams"] == 400
    # the text summary says the journal failed and how far it got, not the records it took as if written
    r = subprocess.run([sys.executable, "-c", code, "ingest", str(tmp_path / "s.pcap"), "--journal-root",
                        str(tmp_path / "j2")], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    fo = next(line for line in r.stdout.splitlines() if line.startswith("NSE_FO:"))
    assert r.returncode == 1 and "journal FAILED: " in fo and "records)" not in fo, fo
    (path,) = (tmp_path / "j2" / "NSE_FO").glob("*.bin")
    assert fo.count(str(path)) == 1                         # the path once, not twice
    assert "unsealed, recoverable" in fo and verify(path).state == "open"


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


RESUME = textwrap.dedent("""
    import json, resource, signal, sys
    from vega.capture import Capture, compare_stores, load_config, replay_journal_into
    from vega.journal import Journal
    from vega.pcap import udp_datagrams
    pcap, root, ring, limit, spill_mb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    catch_up, catch_up_s = int(sys.argv[6]), float(sys.argv[7])
    ring = None if ring == "-" else ring                      # none configured: the capture's private one
    items = [(t, d, p, bytes(x)) for t, d, p, x in udp_datagrams(pcap)]
    cap = Capture(load_config(None, journal_root=root, ring=ring))
    cap.config.journal_retry = 0.0                            # retry after every batch
    cap.config.journal_spill_mb = spill_mb
    cap.CATCH_UP, cap.CATCH_UP_SECONDS = catch_up, catch_up_s
    pieces = []                                               # per catch-up call between batches: pieces written
    import vega.capture as C
    retry, take = C.Capture._retry_journal, C._Spill.take
    def counted_retry(self, f, whole=False):
        pieces.append(None if whole else 0)
        return retry(self, f, whole)
    def counted_take(self, seq, most):
        got = take(self, seq, most)
        if most and got is not None and pieces[-1] is not None:
            pieces[-1] += 1
        return got
    C.Capture._retry_journal, C._Spill.take = counted_retry, counted_take
    import tempfile
    made = []                                                 # the files mkstemp made: a private ring's
    mkstemp = tempfile.mkstemp
    def recorded_mkstemp(*a, **k):
        fd, path = mkstemp(*a, **k)
        made.append(path)
        return fd, path
    tempfile.mkstemp = recorded_mkstemp
    cap.open(offline_ns=items[0][0])
    warnings = []
    cap.on_warning = warnings.append
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))   # the disk fills up
    half = len(items) // 2
    cap.ingest(items[:half], batch=256)
    failed_mid = cap.journal_failures()
    held_mid = cap.stats()["feeds"]["NSE_FO"]["journal"]["held"]
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))   # space again
    cap.ingest(items[half:], batch=256)
    stats = cap.stats()
    tails = {f.name: cap.ring.tail(f.name) for f in cap.all_feeds}
    cap.close()
    out = {"failed_mid": failed_mid, "held_mid": held_mid, "failures": cap.journal_failures(),
           "pieces": [k for k in pieces if k],
           "warnings": warnings, "stats": stats, "tails": tails, "journals": {}, "mkstemp": made}
    for f in cap.all_feeds:
        with Journal.open(f.writer.path) as j:
            out["journals"][f.name] = {"sealed": j.sealed, "first_seq": j.first_seq, "next_seq": j.next_seq,
                                       "checkpoints": len(j.checkpoints)}
        if not out["failures"]:
            live = replay_journal_into(f.writer.path, 65536, f.store.header["day_base_ns"])
            out["journals"][f.name]["compare"] = compare_stores(f.store, live)
    cap.unlink()
    print(json.dumps(out))
""")


def _resume_child(tmp_path, spill_mb, catch_up=Capture.CATCH_UP, catch_up_s=Capture.CATCH_UP_SECONDS,
                  ring=True, ring_prefix="vega-jres"):
    from vega.simulator import Simulator
    pcap = tmp_path / "s.pcap"
    Simulator(["FO", "CM"], 3000, seed=4).write(pcap)
    return _child_json(RESUME, ring_prefix, str(pcap), str(tmp_path / "j"), "{ring}" if ring else "-", "150000",
                       str(spill_mb), str(catch_up), str(catch_up_s))


def _shm_files_of(ring):
    """The files in shared memory of the ring named ``ring``: the ring's and Ring.create's temporary files
    beside it (.<name>.<pid>.<random>.tmp)."""
    return sorted(n for n in os.listdir(SHM) if ring in n)


def _child_json(code, ring_prefix, *args):
    """Run ``code`` in a child with ``args`` ("{ring}" replaced by a fresh ring name); its stdout's JSON.  The
    child removes the ring (Capture.unlink, Ring.unlink) before it exits: what it left in shared memory fails
    the test, once seen (it is removed either way, a failed test's too)."""
    ring = f"{ring_prefix}-{uuid.uuid4().hex[:8]}"
    left = []
    try:
        r = subprocess.run([sys.executable, "-c", code, *(a.replace("{ring}", ring) for a in args)],
                           capture_output=True, text=True, timeout=180, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    finally:
        left = _shm_files_of(ring)
        for n in left:
            os.unlink(os.path.join(SHM, n))
    assert r.returncode == 0, r.stderr
    assert left == [], f"the child left {left} in {SHM}"
    return json.loads(r.stdout)


@pytest.mark.parametrize("catch_up, catch_up_s, ring", [(Capture.CATCH_UP, Capture.CATCH_UP_SECONDS, True),
                                                       (20_000, 0.0, True), (5_000, 60.0, True),
                                                       (Capture.CATCH_UP, Capture.CATCH_UP_SECONDS, False)])
def test_a_journal_whose_disk_frees_up_resumes_with_every_record(tmp_path, catch_up, catch_up_s, ring):
    """The journal's disk fills (a file-size limit) half way, then has room again: the records the feed made
    meanwhile were held (from the capture's own ring, whose positions are the journal's numbers, and from the
    failed writer's buffer), the file is rebuilt, reopened, caught up and attached again: at the end it is
    sealed, numbers every live record the ring published, and replays to the live store.  In pieces of
    20,000 records with no time to spare the journal writes one piece per call, over several batches while
    the feed goes on; in pieces of 5,000 with a minute per call, several pieces in one call.  Without a ring
    configured the capture holds the records from a private one, and nothing is left in shared memory."""
    prefix = f"vega-jres-{uuid.uuid4().hex[:8]}"           # the configured ring's name begins with it
    out = _resume_child(tmp_path, 1024, catch_up, catch_up_s, ring, prefix)
    private = [os.path.basename(p) for p in out["mkstemp"] if os.path.dirname(p) == SHM]
    assert bool(private) != ring, out["mkstemp"]             # the private ring's file, made only with no ring
    # what this capture could have left in shared memory: its rings' files and Ring.create's temporary files
    # beside them (.<name>.<pid>.<random>.tmp), the configured ring's seen by _child_json before it removes
    # them.  Only names made from this test's own: another process may make and remove files there meanwhile
    # (other tests, other jobs)
    assert [n for n in os.listdir(SHM) if any(x in n for x in (prefix, *private))] == []
    assert ("ring" in out["stats"]) == ring                 # a private ring is not shown as one
    if catch_up_s == 0.0:
        assert max(out["pieces"]) == 1 and len(out["pieces"]) >= 2, out["pieces"]
    elif catch_up_s == 60.0:
        assert max(out["pieces"]) >= 2, out["pieces"]
    else:
        assert out["pieces"], out["pieces"]
    assert any("NSE_FO" in x for x in out["failed_mid"]) and out["held_mid"] > 0
    assert out["failures"] == []
    assert any("is written again" in w and "NSE_FO" in w for w in out["warnings"]), out["warnings"]
    for name, j in out["journals"].items():
        assert j["sealed"] and j["first_seq"] == 0 and j["next_seq"] == out["tails"][name] > 0, (name, j)
        n, bad = j["compare"]
        assert n > 0 and bad == [], (name, bad[:5])
    assert out["stats"]["feeds"]["NSE_FO"]["journal"]["resumed"] >= 1


def test_records_past_the_memory_limit_are_given_up_and_said(tmp_path):
    out = _resume_child(tmp_path, 0.01)                     # 10 KB: a few hundred records
    fo = [x for x in out["failures"] if x.startswith("NSE_FO")]
    assert fo and "no longer held: more than" in fo[0]
    assert not out["journals"]["NSE_FO"]["sealed"] or out["journals"]["NSE_FO"]["next_seq"] < out["tails"]["NSE_FO"]


def test_attach_journal_after_detach(tmp_path):
    import vega
    from vega.journal import JournalWriter
    w = JournalWriter(tmp_path, "NSE_FO", "2026-11-20")
    h = vega.FeedHandler("FO", vega.Store(64), journal=w)
    with pytest.raises(ValueError, match="detach it first"):
        h.attach_journal(w)
    assert h.detach_journal() is w and h.journal is None
    with pytest.raises(TypeError):
        h.attach_journal("not a writer")
    h.attach_journal(w)
    assert h.journal is w
    with pytest.raises(ValueError, match="needs change records"):
        vega.FeedHandler("FO", vega.Store(64), records=False).attach_journal(w)
    h.close()
    w.close()


def test_revive_keeps_what_reached_the_file_and_writes_the_rest_once_there_is_room(tmp_path):
    """JournalWriter._revive after a write failed part way (a file-size limit in a child process): while the
    disk is still full it keeps the whole records that reached the file (the buffer's first ones) and cuts
    the torn one; once there is room, the file holds every record appended, in order, sealed."""
    code = textwrap.dedent("""
        import os, resource, signal, sys
        import numpy as np
        sys.path.insert(0, sys.argv[2])
        from journal_helpers import make_records
        from vega.journal import Journal, JournalWriter
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        w = JournalWriter(sys.argv[1], "NSE_FO", "2026-11-20", flush_interval=None)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_003, resource.RLIM_INFINITY))
        sent = []
        try:
            for i in range(20):
                r = make_records(4000, seed=i)
                w.append(r)
                sent.append(r)
        except OSError:
            pass
        sizes = []
        for _ in range(2):
            try:
                w._revive()
            except OSError:
                sizes.append((os.path.getsize(w.path), w.n_written))
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        w._revive()
        n = w.n_records
        w.close()
        with Journal.open(w.path) as j:
            same = np.array_equal(np.asarray(j.records).view(np.uint8), np.concatenate(sent).view(np.uint8))
            print(repr((sizes, n, len(j), j.sealed, same)))
    """)
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path), os.path.join(ROOT, "tests")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr
    sizes, n, length, sealed, same = eval(r.stdout)
    whole = (100_003 - 64) // 32
    assert len(sizes) == 2                                  # the disk still full: both attempts failed
    for size, written in sizes:                             # the whole records kept, at most a torn one after
        assert written == whole and 64 + 32 * whole <= size < 64 + 32 * (whole + 1)
    assert n == length == 32000 and sealed and same


def test_spill_settings_are_checked_and_read_from_toml(tmp_path):
    from vega.capture import CaptureConfig, CaptureError, load_config
    for bad in ({"journal_spill_mb": -1}, {"journal_retry": "soon"}, {"journal_retry": True}):
        with pytest.raises(CaptureError, match="must be a number (of seconds )?>= [01]"):
            CaptureConfig(**bad).validate()
    p = tmp_path / "c.toml"
    p.write_text("[capture]\njournal_spill_mb = 64\njournal_retry = 1.5\n")
    cfg = load_config(p)
    assert (cfg.journal_spill_mb, cfg.journal_retry) == (64, 1.5)


LIVE = textwrap.dedent("""
    import json, resource, signal, socket, sys
    from vega import nse
    from vega.capture import Capture, CaptureConfig, FeedConfig, compare_stores, format_stats, replay_journal_into
    from vega.journal import Journal
    root, ring, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ring = None if ring == "-" else ring                      # none configured: the capture's private one
    cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", port)], journal_root=root, ring=ring,
                                stats_interval=3600.0))
    cap.config.journal_retry = 0.0                            # (below the config's least: retry after every batch)
    cap.open()
    warnings = []
    cap.on_warning = warnings.append
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dgs = list(nse.sample_stream("FO", 1200, seed=6))
    def send(part):
        for i, d in enumerate(part):
            tx.sendto(d, ("127.0.0.1", port))
            if i % 50 == 49:
                while cap.step(20):
                    pass
        while cap.step(100):
            pass
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))
    send(dgs[:600])
    line_mid = format_stats(cap.stats())
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    send(dgs[600:])
    f = cap.feeds[0]
    tail, store, path = cap.ring.tail("NSE_FO"), f.store, f.writer.path
    n_dg = f.datagrams
    cap.close()
    with Journal.open(path) as j:
        sealed, next_seq = j.sealed, j.next_seq
    n, bad = compare_stores(store, replay_journal_into(path, 65536, store.header["day_base_ns"]))
    cap.unlink()
    print(json.dumps({"warnings": warnings, "line_mid": line_mid, "failures": cap.journal_failures(),
                      "tail": tail, "sealed": sealed, "next_seq": next_seq, "n": n, "bad": bad[:5], "dg": n_dg}))
""")


@pytest.mark.parametrize("ring", [True, False])
def test_a_live_capture_catches_its_journal_up(tmp_path, ring):
    """The receive path (recvmmsg batches into the handler, one batch per feed per step while records are held):
    the journal fails half way, the stats line says so with the records held, then it is written again and
    ends sealed with every live record, replaying to the live store; with a ring configured or without."""
    port = free_udp_port()
    out = _child_json(LIVE, "vega-jlive", str(tmp_path / "j"), "{ring}" if ring else "-", str(port))
    assert out["dg"] == 1200
    assert "JOURNAL FAILED" in out["line_mid"] and "records held" in out["line_mid"]
    assert any("is written again" in w for w in out["warnings"]) and out["failures"] == []
    assert out["sealed"] and out["next_seq"] == out["tail"] > 0
    assert out["n"] > 0 and out["bad"] == []


def test_a_seal_the_full_disk_cuts_short_fails_and_leaves_the_file_open_and_whole(tmp_path, monkeypatch):
    """A disk that fills while the seal writes the index table (a tmpfs journal root, met by a capture's stop)
    takes part of the table: pwrite returns a short count without an error, and only the next write fails with
    ENOSPC.  The seal used to ignore the count, extend the file to the table's end (a hole) and mark it SEALED:
    the capture said nothing, verify called the file damaged, and on tmpfs its mapping's read of the hole was a
    SIGBUS.  Now the close fails (the capture reports it) and the file stays open with every record, as after
    a crash: the next writer seals it."""
    import datetime as dt
    import errno
    import numpy as np
    from journal_helpers import make_records
    recs = make_records(5000, seed=7)
    w = JournalWriter(tmp_path, "NSE_FO", dt.date(2026, 11, 20))
    w.append(recs)
    w.flush()
    end = 64 + 32 * len(recs)
    real = os.pwrite

    def disk_fills_in_the_table(fd, data, off):   # the disk's room ends 100 bytes into the table
        if off >= end:
            room = end + 100 - off
            if room <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd, bytes(data)[:room], off)
        return real(fd, data, off)

    monkeypatch.setattr(os, "pwrite", disk_fills_in_the_table)
    with pytest.raises(OSError) as e:
        w.close()
    assert e.value.errno == errno.ENOSPC and w.closed
    monkeypatch.undo()
    assert os.path.getsize(w.path) == end                   # no table, no hole past the records
    rep = verify(w.path)
    assert rep.ok and rep.state == "open" and rep.records == len(recs), str(rep)
    JournalWriter(tmp_path, "NSE_FO", dt.date(2026, 11, 20)).close()   # the disk has room again
    with Journal.open(w.path) as j:
        assert j.sealed and np.array_equal(np.asarray(j.records), recs)


def test_a_new_files_header_the_full_disk_cuts_short_leaves_no_damaged_file(tmp_path, monkeypatch):
    """A new day's file whose 64-byte header the disk cut short stayed with those bytes: every later open of
    the day's file (the capture retries it every journal_retry) was a JournalError (a damaged header), so the
    day never got its journal.  Now the file is left empty, which the next open takes as new."""
    import datetime as dt
    import errno
    real = os.pwrite

    def disk_fills_in_the_header(fd, data, off):           # room for 10 bytes, then ENOSPC
        if off >= 10:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, bytes(data)[:10 - off], off)

    monkeypatch.setattr(os, "pwrite", disk_fills_in_the_header)
    with pytest.raises(OSError) as e:
        JournalWriter(tmp_path, "NSE_FO", dt.date(2026, 11, 20))
    assert e.value.errno == errno.ENOSPC
    monkeypatch.undo()
    path = tmp_path / "NSE_FO" / "20261120.bin"
    assert os.path.getsize(path) == 0
    w = JournalWriter(tmp_path, "NSE_FO", dt.date(2026, 11, 20), first_seq=7)      # the disk has room again
    w.close()
    with Journal.open(path) as j:
        assert j.sealed and j.next_seq == 7 and len(j) == 0


#: the start of the two-day capture scripts below: argv (journal root, ring), a file-size limit failing writes
#: (the full disk) with EFBIG instead of a signal, 15:00 IST on day 1 and 09:15 on day 2, the F&O feed
TWO_DAYS = textwrap.dedent("""
    import datetime as dt, json, resource, signal, sys
    from vega import nse
    from vega.capture import Capture, FeedConfig, IST, load_config
    from vega.journal import Journal, verify
    root, ring = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    t0 = int(dt.datetime(2026, 11, 20, 15, 0, tzinfo=IST).timestamp()) * 10**9
    t1 = int(dt.datetime(2026, 11, 21, 9, 15, tzinfo=IST).timestamp()) * 10**9
    fo = ("239.70.2.1", 34302)
    warnings = []
""")

NEW_DAY_CHILD = TWO_DAYS + textwrap.dedent("""
    import numpy as np
    from vega.records import KEYFRAME
    free = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    cap = Capture(load_config(None, journal_root=root, ring=ring, feeds=[FeedConfig("FO", "239.70.2.1", 34302)]))
    cap.config.journal_retry = 0.0                            # (below the config's least: retry after every batch)
    cap.open(offline_ns=t0)
    cap.on_warning = warnings.append
    s = list(nse.sample_stream("FO", 3000, seed=1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))   # the disk fills on day 1
    cap.ingest([(t0 + i * 1000, *fo, d) for i, d in enumerate(s[:1500])])
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))         # still full at the day's end
    cap.ingest([(t1 + i * 1000, *fo, d) for i, d in enumerate(s[1500:2000])])
    still = cap.feeds[0].journal_error is not None
    resource.setrlimit(resource.RLIMIT_FSIZE, free)                                # room again on day 2
    for part in (s[2000:2500], s[2500:]):          # (the file is made between two batches)
        cap.ingest([(t1 + 10**9 + i * 1000, *fo, d) for i, d in enumerate(part)])
    w = cap.feeds[0].writer
    tail = cap.ring.tail("NSE_FO")
    k = min(5000, tail - w.first_seq)
    r = cap.ring.reader("NSE_FO", None, start=tail - k)
    ring_last = r.poll(k).copy()
    cap.close()
    failures = cap.journal_failures()
    cap.unlink()
    with Journal.open(w.path) as j:
        live = np.asarray(j.records)[(np.asarray(j.records)["flags"] & KEYFRAME) == 0]
        out = {"still": still, "date": str(j.date), "sealed": j.sealed, "next_seq": j.next_seq, "tail": tail,
               "checkpoints": len(j.checkpoints), "same": live[len(live) - k:].tobytes() == ring_last.tobytes(),
               "failures": failures, "warnings": warnings}
    print(json.dumps(out))
""")


def test_a_journal_given_up_at_the_days_end_starts_the_next_day_once_there_is_room(tmp_path):
    """A journal whose disk is still full when its day ends is given up (its file stays unsealed where it
    failed).  The next day used to get no journal file at all, however much room the disk had again: the
    capture ran the whole day unjournaled until it was restarted.  Now the day's file is made once it can be
    (retried every journal_retry), numbered on from the ring, with the day's state as its first checkpoint;
    the earlier day's failure is still reported (exit 1)."""
    out = _child_json(NEW_DAY_CHILD, "vega-jday", str(tmp_path / "j"), "{ring}")
    assert out["still"]                                        # the file could not be made while the disk was full
    assert out["date"] == "2026-11-21" and out["sealed"] and out["checkpoints"] >= 1
    assert out["next_seq"] == out["tail"] and out["same"]      # numbered as the ring: the handover still holds
    assert len(out["failures"]) == 1 and "20261120.bin" in out["failures"][0]
    assert any("the journal goes on in" in w and "20261121.bin" in w for w in out["warnings"])


ROLLOVER_CHILD = TWO_DAYS + textwrap.dedent("""
    cap = Capture(load_config(None, journal_root=root, ring=ring, feeds=[FeedConfig("FO", "239.70.2.1", 34302)]))
    cap.open(offline_ns=t0)
    cap.on_warning = warnings.append
    s = list(nse.sample_stream("FO", 1200, seed=1))
    cap.ingest([(t0 + i * 1000, *fo, d) for i, d in enumerate(s[:1000])])
    w = cap.feeds[0].writer
    w.flush()
    day1, n1 = w.path, w.n_records
    size = 64 + 32 * w.n_written
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))   # no room for the day's index
    cap.ingest([(t1 + i * 1000, *fo, d) for i, d in enumerate(s[1000:])])       # the rollover
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    w2 = cap.feeds[0].writer
    cap.close()
    failures = cap.journal_failures()
    cap.unlink()
    rep = verify(day1)
    with Journal.open(w2.path) as j:
        day2 = {"date": str(j.date), "sealed": j.sealed, "records": len(j)}
    print(json.dumps({"day1": {"state": rep.state, "ok": rep.ok, "records": rep.records, "n1": n1},
                      "day2": day2, "failures": failures, "warnings": warnings}))
""")


def test_a_rollover_the_full_disk_fails_does_not_stop_the_capture(tmp_path):
    """The day's rollover (IST midnight) seals the day's file: its index did not fit on the full disk, and the
    OSError went out of Capture.new_day, stopping the capture (`vega capture: OSError: ...`, exit 1: the store
    and the ring stopped too).  Now the feed goes on, the day's file stays unsealed with every record, the new
    day's file is made, and the failure is reported."""
    out = _child_json(ROLLOVER_CHILD, "vega-jroll", str(tmp_path / "j"), "{ring}")
    assert out["day1"] == {"state": "open", "ok": True, "records": out["day1"]["n1"], "n1": out["day1"]["n1"]}
    assert out["day2"]["date"] == "2026-11-21" and out["day2"]["sealed"] and out["day2"]["records"] > 0
    assert len(out["failures"]) == 1 and "at the rollover to 2026-11-21" in out["failures"][0]
    assert any("the journal goes on in" in w for w in out["warnings"])


@pytest.mark.parametrize("obstacle", ["directory", "not a journal"])
def test_a_rollover_that_seals_the_day_but_cannot_make_the_next_days_file_says_so(tmp_path, obstacle):
    """The rollover seals the day's file, then makes the next day's: when only that second step fails, the
    failure named the sealed file as the one that failed ("20261120.bin: Is a directory") and, once the next
    day's file was made, said the earlier one "stays where it failed, unsealed", which verify calls sealed."""
    import datetime as dt
    from vega import nse
    from vega.capture import FeedConfig, IST, load_config
    t0 = int(dt.datetime(2026, 11, 20, 15, 0, tzinfo=IST).timestamp()) * 10**9
    t1 = int(dt.datetime(2026, 11, 21, 9, 15, tzinfo=IST).timestamp()) * 10**9
    fo = ("239.70.2.1", 34302)
    root = tmp_path / "j"
    cap = Capture(load_config(None, journal_root=str(root), ring="", store="", feeds=[FeedConfig("FO", *fo)]))
    cap.config.journal_retry = 0.0                            # (below the config's least: retry after every batch)
    cap.open(offline_ns=t0)
    warnings = []
    cap.on_warning = warnings.append
    s = list(nse.sample_stream("FO", 900, seed=1))
    try:
        cap.ingest([(t0 + i * 1000, *fo, d) for i, d in enumerate(s[:600])])
        # the next day's file cannot be made: an OSError, or a JournalError (which stopped the capture)
        next_day = root / "NSE_FO" / "20261121.bin"
        next_day.mkdir() if obstacle == "directory" else next_day.write_bytes(b"x" * 100)
        cap.ingest([(t1 + i * 1000, *fo, d) for i, d in enumerate(s[600:800])])
        next_day.rmdir() if obstacle == "directory" else next_day.unlink()       # now it can
        cap.ingest([(t1 + 10**9 + i * 1000, *fo, d) for i, d in enumerate(s[800:])])
    finally:
        cap.close()
    assert verify(root / "NSE_FO" / "20261120.bin").state == "sealed"
    why = ("Is a directory" if obstacle == "directory"
           else "not a VEGA journal (magic b'xxxxxxxx', expected b'VEGAJRNL')")
    assert cap.journal_failures() == [f"NSE_FO: {root}/NSE_FO/20261121.bin: {why} at the rollover to "
                                      "2026-11-21 (20261120.bin sealed); NSE_FO goes on without its journal"]
    goes_on = [w for w in warnings if "the journal goes on in" in w]
    assert goes_on == [f"NSE_FO: the journal goes on in {root}/NSE_FO/20261121.bin for 2026-11-21 (20261120.bin is "
                       "sealed: the rollover made no file of 2026-11-21)"]
    with Journal.open(root / "NSE_FO" / "20261121.bin") as j:
        assert len(j) > 0


SINK_ERRORS = textwrap.dedent("""
    import datetime as dt, json, os, resource, signal, sys
    import numpy as np
    import vega
    from vega._streams import sample_stream
    from vega.journal import JournalWriter, day_epoch_ns
    root, ring_name, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    day = dt.date(2026, 11, 20)
    t0 = day_epoch_ns(day) + 10 * 3600 * 10**9                       # 10:00 IST of the journal's day
    dgs = list(sample_stream("CM", 600, seed=4))
    parts = (dgs[:100], dgs[100:400], dgs[400:])     # journal writing, its disk full, journal detached
    jw = JournalWriter(root, "NSE_EQ", day, flush_interval=0, preallocate=0)   # every call writes the file
    ring = vega.Ring.create(ring_name)
    live, ref = vega.Store(5000), vega.Store(5000)
    got = []
    fh = vega.FeedHandler("CM", live, journal=jw, ring=ring, on_records=got.append)
    fr = vega.FeedHandler("CM", ref)                                  # the same datagrams, no sink at all
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)                     # writes past the limit fail with EFBIG
    out, i = {"parts": []}, 0
    for k, part in enumerate(parts):
        if k == 1:                                    # the disk fills a few calls into this part
            resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(jw.path) + 4096, resource.RLIM_INFINITY))
        if k == 2:                                    # (room again for this process's other files)
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            out["detached"] = fh.detach_journal() is jw
        raised = raised_with_records = 0
        e0 = fh.stats["merge"]["sink_errors"]
        for d in part:
            r0 = fh.stats["records"]
            try:
                fh.process(d, now_ns=t0 + i * 1000)
            except OSError:
                raised += 1
                raised_with_records += fh.stats["records"] > r0
            fr.process(d, now_ns=t0 + i * 1000)
            i += 1
        out["parts"].append({"raised": raised, "raised_with_records": raised_with_records,
                             "sink_errors": fh.stats["merge"]["sink_errors"] - e0})
    out["records"], out["ref_records"] = fh.stats["records"], fr.stats["records"]
    out["merged"], out["ref_merged"] = fh.stats["merge"]["merged"], fr.stats["merge"]["merged"]
    out["tail"] = ring.tail("NSE_EQ")
    out["callback"] = sum(map(len, got))
    fh.close()
    ring.close()
    vega.Ring.unlink(ring_name)
    np.save(os.path.join(out_dir, "live.npy"), live.snapshot())
    np.save(os.path.join(out_dir, "ref.npy"), ref.snapshot())
    print(json.dumps(out))
""")


def test_a_failing_record_sink_is_counted_and_the_feed_goes_on(tmp_path):
    """``sink_errors`` counts the calls of a C record sink that returned non-zero (docs/FORMATS.md "Record
    sinks": the sinks get each call's records once at its end, so once per call here, where no datagram
    makes 4,096 records).  The journal's sink fails once its disk is full (a file-size limit in a child):
    every call from then on counts one sink error (and raises OSError once it has merged), except a call
    that made no record, which has nothing to hand a sink.  The store and the ring lose nothing: the store
    equals one fed the same datagrams without sinks, and the ring and the ``on_records`` callback got every
    record (the callback too in the calls that raised).  After
    ``detach_journal`` the calls raise nothing and the counter stands still."""
    from store_helpers import by_token, market_equal
    import numpy as np
    out = _child_json(SINK_ERRORS, "vega-jsink", str(tmp_path / "j"), "{ring}", str(tmp_path))
    writing, full, detached = out["parts"]
    assert writing == {"raised": 0, "raised_with_records": 0, "sink_errors": 0}
    assert 0 < full["raised"] < 300                         # the disk filled part way through the 300 calls
    assert full["sink_errors"] == full["raised_with_records"] > 0
    assert out["detached"] and detached == {"raised": 0, "raised_with_records": 0, "sink_errors": 0}
    assert out["merged"] == out["ref_merged"] > 0
    assert out["tail"] == out["callback"] == out["records"] == out["ref_records"] > 0
    market_equal(by_token(np.load(tmp_path / "live.npy")), by_token(np.load(tmp_path / "ref.npy")))
