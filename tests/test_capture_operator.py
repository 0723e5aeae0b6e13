"""What an operator watching a capture must see: a full store (updates dropped) warned of once and shown in
the stats line; dead or lapped ring readers told apart from slow ones; SIGHUP (the terminal closing) stops
the capture cleanly with the journal sealed."""
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

import vega._core as core
from vega import nse
from vega.capture import Capture, CaptureError, FeedConfig, format_stats, load_config
from vega.journal import Journal, verify

from net_helpers import free_udp_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
T0 = int(dt.datetime(2026, 11, 20, 10, 0, tzinfo=IST).timestamp()) * 10**9


@pytest.fixture(autouse=True)
def _sighup_default():
    """The captures and ingests these tests start get SIGHUP's default disposition, whatever the test run's: under
    `nohup` it is ignored, children inherit that, and vega capture keeps ignoring a SIGHUP ignored at its start
    (test_a_capture_started_under_nohup_ignores_sighup), so the tests that send SIGHUP to a stop would hang."""
    old = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGHUP, old)


def test_a_full_store_is_warned_of_once_and_shown_in_the_stats_line():
    cap = Capture(load_config(None, ring="", journal_root="", store="", store_capacity=20)).open(offline_ns=T0)
    warned = []
    cap.on_warning = warned.append
    try:
        fo = cap.feeds[0]
        fo.handler.process_batch(list(nse.sample_stream("FO", 200, seed=4)), now_ns=T0)
        cap.check_store_full()
        fo.handler.process_batch(list(nse.sample_stream("FO", 100, seed=5)), now_ns=T0 + 10**9)
        cap.check_store_full()
        s = cap.stats()
    finally:
        cap.close()
    dropped = s["feeds"]["NSE_FO"]["merge"]["store_full"]
    assert dropped > 0 and s["feeds"]["NSE_FO"]["instruments"] == 20
    assert len(warned) == 1 and warned[0].startswith("NSE_FO: the store is full (20 instruments)")
    line = [x for x in format_stats(s).splitlines() if "NSE_FO" in x][0]
    assert f"STORE FULL: {dropped:,} updates dropped (20 instruments: raise store_capacity)" in line


def test_the_stats_line_shows_messages_fed_to_the_index_feed_that_are_not_index_messages():
    """A capture's index feed is linked to its CM handler, which gives it index messages only; datagrams fed to it
    directly (wired wrongly) have their other messages counted not_index, which --json had and the stats line
    did not show. It shows it when nonzero, as it does unrouted."""
    cap = Capture(load_config(None, ring="", journal_root="", store="")).open(offline_ns=T0)
    try:
        assert cap.index_feed is not None and cap.index_feed.handler is not None
        cm = next(f for f in cap.feeds if f.segment == "CM")
        cm.handler.process_batch(list(nse.sample_stream("CM", 20, seed=2)), now_ns=T0)
        linked = cap.stats()
        cap.index_feed.handler.process_batch(list(nse.sample_stream("CM", 20, seed=3)), now_ns=T0 + 10**9)
        wrong = cap.stats()
    finally:
        cap.close()
    assert "not_index" not in linked["feeds"]["NFO_IDX"]["merge"] and "not_index" not in format_stats(linked)
    n = wrong["feeds"]["NFO_IDX"]["merge"]["not_index"]
    assert n > 0                                       # (--json: the stats dict as it is)
    [line] = [x for x in format_stats(wrong).splitlines() if "NFO_IDX:" in x]
    assert f" not_index {n:,}" in line
    assert all("not_index" not in x for x in format_stats(wrong).splitlines() if "NFO_IDX:" not in x)


def test_the_stats_line_tells_dead_and_lapped_readers_from_slow_ones():
    s = {"uptime_s": 3.0, "feeds": {},
         "ring": {"name": "r", "tails": {"NSE_FO": 10},
                  "readers": [{"name": "dies", "feed": "NSE_EQ", "lag": 315428, "laps": 0, "lost": 0, "alive": False},
                              {"name": "slowpoke", "feed": "NSE_FO", "lag": 37878, "laps": 23, "lost": 283550,
                               "alive": True},
                              {"name": "fine", "feed": "NSE_FO", "lag": 3, "laps": 0, "lost": 0, "alive": True}]}}
    line = format_stats(s)
    assert "dies@NSE_EQ DEAD" in line and "315428" not in line
    assert "slowpoke@NSE_FO lag 37,878 LOST 283,550 (23 laps)" in line
    assert "fine@NSE_FO lag 3," not in line and line.endswith("fine@NSE_FO lag 3")
    # further behind than the slot holds: lapped already, though its own count says so only at its next poll
    s["ring"]["capacity"] = 32768
    s["ring"]["readers"][2]["lag"] = 107902
    line = format_stats(s)
    assert "fine@NSE_FO lag 107,902 LAPPED: 75,134 records gone past the ring's 32,768" in line
    assert "slowpoke@NSE_FO lag 37,878 LAPPED: 5,110 records gone past the ring's 32,768 LOST 283,550" in line
    assert "dies@NSE_EQ DEAD," in line


def test_the_stats_line_tells_the_journals_records_from_its_checkpoints():
    """The journal's record count includes its checkpoints' records, which take no ring positions: the line
    said 326,865 records beside a ring tail of 271,169 with nothing to tell why."""
    feed = {"segment": "FO", "datagrams": 1, "packets": 1, "messages": 1, "by_code": {}, "errors": {}, "merge": {},
            "records": 1, "streams": {}, "gaps": 0, "missed": 0, "truncated": 0, "socket_drops": 0,
            "instruments": 1, "journal": {"path": "x", "records": 326_865, "bytes": 64 + 32 * 326_865,
                                          "checkpoint_records": 55_696, "failed": None}}
    assert " journal 271,169 rec + 55,696 in checkpoints 10.5 MB" in format_stats({"uptime_s": 1.0,
                                                                                  "feeds": {"NSE_FO": feed}})
    feed["journal"]["checkpoint_records"] = 0
    assert " journal 326,865 rec 10.5 MB" in format_stats({"uptime_s": 1.0, "feeds": {"NSE_FO": feed}})


def _signalled_capture(journal_root, signals, **popen):
    """Run `vega capture` (one FO feed on loopback, a journal, no ring or store) until it says it receives, send
    it ``signals`` in turn, each followed by a wait of up to 1 s (None when it is still running), and return
    (exit status, stderr) once it has exited (it is killed after 30 s)."""
    p = subprocess.Popen([sys.executable, "-m", "vega.cli", "capture", "--feed", f"FO=127.0.0.1:{free_udp_port()}",
                          "--journal-root", str(journal_root), "--ring=", "--store=", "--stats-interval", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=ROOT), **popen)
    waits = []
    try:
        assert "receiving" in p.stderr.readline()
        for sig in signals:
            p.send_signal(sig)
            try:
                waits.append(p.wait(timeout=1.0))
            except subprocess.TimeoutExpired:
                waits.append(None)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, err, waits


def test_sighup_stops_the_capture_cleanly_with_the_journal_sealed(tmp_path):
    code, err, _ = _signalled_capture(tmp_path, [signal.SIGHUP])
    assert code == 0, err
    assert "stopped, journal sealed" in err and "Traceback" not in err
    files = list(tmp_path.glob("NSE_FO/*.bin"))
    assert len(files) == 1 and verify(files[0]).state == "sealed"


def test_a_closed_stats_pipe_does_not_stop_the_capture(tmp_path):
    """`vega capture | head -2`, or a log pipe that dies: the capture stopped, quietly and with status 0 (the
    closed pipe read as a reader that has what it wanted), which no supervisor restarts.  It now captures on,
    says once on stderr that the stats' reader has gone, and stops cleanly when told.

    Synchronised on that line, not on a sleep: the datagrams sent once it is said are in the sealed journal,
    so the capture was receiving after the stats' reader went, however slow the machine."""
    import queue
    import socket
    import threading
    port = free_udp_port()
    p = subprocess.Popen([sys.executable, "-m", "vega.cli", "capture", "--feed", f"FO=127.0.0.1:{port}",
                          "--journal-root", str(tmp_path), "--ring=", "--store=", "--stats-interval", "0.1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    lines: "queue.Queue[str | None]" = queue.Queue()
    err_reader = threading.Thread(target=lambda: ([lines.put(x) for x in p.stderr], lines.put(None)), daemon=True)
    err = []

    def until(what):                                         # stderr up to the line saying ``what``
        while True:
            try:
                line = lines.get(timeout=60)                 # (a deadline: a failure, never a hang)
            except queue.Empty:
                pytest.fail(f"the capture did not say {what!r} in 60 s: {err}")
            assert line is not None, f"the capture exited ({p.wait()}) before it said {what!r}: {err}"
            err.append(line)
            if what in line:
                return

    try:
        err_reader.start()
        until("receiving")
        assert "NSE_FO" in p.stdout.readline()              # a stats line
        p.stdout.close()                                     # the reader goes
        until("the stats output's reader has gone")         # its next stats line met the closed pipe
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for d in nse.sample_stream("FO", 20, seed=3):    # received after that: it captures on
                s.sendto(d, ("127.0.0.1", port))
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=30) == 0, err
        err_reader.join(30)
        while (line := lines.get_nowait()) is not None:
            err.append(line)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = "".join(err)
    assert err.count("the stats output's reader has gone") == 1 and "stopped, journal sealed" in err, err
    assert "Traceback" not in err
    files = list(tmp_path.glob("NSE_FO/*.bin"))
    assert len(files) == 1 and verify(files[0]).state == "sealed"
    with Journal.open(files[0]) as j:
        assert j.next_seq > 0                               # the datagrams sent after the pipe closed


def test_drops_after_the_last_datagram_received_are_counted_at_once():
    """SO_RXQ_OVFL reports the kernel's drops with the next datagram received; a burst lost just before a quiet
    spell (or the close) is counted from the socket's own counter without waiting for more traffic."""
    import socket
    from vega.capture import CaptureConfig, FeedConfig
    port = free_udp_port()
    cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", port)], journal_root="", ring="", store="",
                                rcvbuf_mb=1, stats_interval=3600.0)).open()
    try:
        assert cap.stats()["feeds"]["NSE_FO"]["socket_drops"] == 0
        w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(6000):                                  # ~2 MB of buffer holds ~1,000 of them
            w.sendto(b"\0" * 1000, ("127.0.0.1", port))
        w.close()
        fo = cap.feeds[0]
        assert fo.receiver.dropped == 0                        # nothing received yet: SO_RXQ_OVFL has told nothing
        d = cap.stats()["feeds"]["NSE_FO"]
        assert d["socket_drops"] > 1000 and "SOCKET DROPS" in format_stats(cap.stats())
    finally:
        cap.close()


def test_a_foreign_file_at_a_store_path_is_one_line_without_a_class_name(tmp_path):
    name = f"vega-test-op-{uuid.uuid4().hex[:8]}"
    path = os.path.join(core.SHM_DIR, f"vega.store.{name}-fo")
    with open(path, "wb") as f:
        f.write(b"not a store" * 100)
    try:
        with pytest.raises(CaptureError) as e:
            Capture(load_config(None, ring="", journal_root="", store=name)).open(offline_ns=T0)
        msg = str(e.value)
        assert msg.startswith(f"store {name}-fo: ") and "exists and is not a VEGA store" in msg
        assert "StoreFormatError" not in msg
    finally:
        os.unlink(path)
        for seg in ("cm", "idx"):
            p = os.path.join(core.SHM_DIR, f"vega.store.{name}-{seg}")
            if os.path.exists(p):
                os.unlink(p)


def test_the_final_text_stats_are_not_printed_again_when_the_last_report_said_them():
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "vega.cli", "capture", "--feed", f"FO=127.0.0.1:{free_udp_port()}",
                        "--journal-root=", "--ring=", "--store=", "--stats-interval", "1", "--duration", "1"],
                       capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("NSE_FO:") == 1, r.stdout


def test_json_stats_always_end_with_a_final_line():
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "vega.cli", "capture", "--feed", f"FO=127.0.0.1:{free_udp_port()}",
                        "--journal-root=", "--ring=", "--store=", "--stats-interval", "1", "--duration", "1",
                        "--json"], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 2           # the periodic report and the final one


def test_a_capture_started_under_nohup_ignores_sighup(tmp_path):
    code, err, waits = _signalled_capture(tmp_path, [signal.SIGHUP, signal.SIGTERM],
                                          preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert waits[0] is None                                   # still running after the SIGHUP (nohup)
    assert code == 0 and "stopped, journal sealed" in err, err


def test_remove_shm_removes_what_a_stopped_capture_left_and_refuses_a_running_ones(tmp_path):
    """A stopped capture leaves its ring and stores in /dev/shm for readers; `vega capture --remove-shm` removes
    them (and says so), and removes nothing while a capture writes them."""
    name = f"vega-rmshm-{uuid.uuid4().hex[:8]}"
    cfg = load_config(None, ring=name, store=name, journal_root="")
    paths = [core._shm_path(n) for n in (f"{name}-fo", f"{name}-cm", f"{name}-idx")]
    from vega._ring import ring_path
    cap = Capture(cfg).open(offline_ns=T0)
    try:
        try:
            assert all(os.path.exists(p) for p in paths + [ring_path(name)])
            with pytest.raises(CaptureError, match="the capture is open"):
                cap.remove_shared_memory()
            with pytest.raises(CaptureError, match="being written by"):        # another process's view: refused
                Capture(cfg).remove_shared_memory()
            assert all(os.path.exists(p) for p in paths + [ring_path(name)])
        finally:
            cap.close()
            for f in cap.all_feeds:            # (close leaves them open in this process; a stopped capture's exit)
                f.store.close()
        r = subprocess.run([sys.executable, "-m", "vega", "capture", "--ring", name, "--store", name,
                            "--journal-root", "", "--remove-shm"], capture_output=True, text=True, cwd=ROOT,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stderr.strip() == (f"vega capture: removed ring {name}, store {name}-fo, store {name}-cm, "
                                    f"store {name}-idx")
        assert not any(os.path.exists(p) for p in paths + [ring_path(name)])
        assert Capture(cfg).remove_shared_memory() == []
    finally:
        cap.unlink()                           # what a failure above left


def test_remove_shm_refuses_what_is_not_a_store_at_a_stores_path_and_removes_nothing():
    """A file at a store's path that is not a VEGA store is refused by ``open`` (it will not replace it); --remove-shm
    deleted it without a word (Store.remove unlinks whatever is there), and a directory there failed only after
    the ring was gone, though it says it removes nothing when it refuses."""
    name = f"vega-rmshm-{uuid.uuid4().hex[:8]}"
    cfg = load_config(None, ring=name, store=name, journal_root="")
    from vega._ring import ring_path
    fo, cm = core._shm_path(f"{name}-fo"), core._shm_path(f"{name}-cm")
    cap = Capture(cfg).open(offline_ns=T0)
    cap.close()
    for f in cap.all_feeds:                    # a stopped capture's ring and stores
        f.store.close()
    try:
        os.unlink(cm)
        with open(cm, "w") as fh:              # someone's file, not a store
            fh.write("not a store\n")
        other = Capture(cfg)
        with pytest.raises(CaptureError, match="is not a VEGA store"):         # what open says of it
            other.open(offline_ns=T0)
        for f in other.all_feeds:              # (the stores its failed open made stay open: close them)
            if f.store is not None:
                f.store.close()
        with pytest.raises(CaptureError, match=rf"store {name}-cm: .* is not a VEGA store .*refusing to remove it"):
            Capture(cfg).remove_shared_memory()
        assert os.path.exists(cm) and os.path.exists(fo) and os.path.exists(ring_path(name))
        os.unlink(cm)
        os.mkdir(cm)
        with pytest.raises(CaptureError, match=r"is not a VEGA store \(a directory\); refusing to remove it"):
            Capture(cfg).remove_shared_memory()
        assert os.path.isdir(cm) and os.path.exists(fo) and os.path.exists(ring_path(name))
        os.rmdir(cm)
        assert Capture(cfg).remove_shared_memory() == [f"ring {name}", f"store {name}-fo", f"store {name}-idx"]
    finally:
        if os.path.isdir(cm):
            os.rmdir(cm)
        cap.unlink()


def test_remove_shm_with_a_config_that_names_no_shared_memory_says_so(capsys):
    """Without -c (the defaults name no ring and no store) --remove-shm said "removed nothing (none of them was
    there)", as if it had looked for the capture's ring and stores and found them gone."""
    from vega.cli import main
    assert main(["capture", "--remove-shm"]) == 0
    assert capsys.readouterr().err.strip() == ("vega capture: removed nothing: the config names no ring and no store "
                                               "(give the capture's: -c FILE)")
    name = f"vega-rmshm-{uuid.uuid4().hex[:8]}"
    assert main(["capture", "--ring", name, "--store", name, "--remove-shm"]) == 0
    assert capsys.readouterr().err.strip() == "vega capture: removed nothing (none of them was there)"


_SIGNAL_AT_START = """
import os, signal, sys
from vega.capture import Capture
seed = Capture._seed_stores
def signalled(self):                  # the journals are open; the stores, the ring and the sockets come next
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    seed(self)
Capture._seed_stores = signalled
from vega.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stop_signal_while_the_capture_starts_stops_it_cleanly(tmp_path, sig):
    """A stop asked while the capture opens (a restart reading the day's journal, a big master file): SIGTERM
    and SIGHUP killed it there, its day's journals open and unsealed, as only SIGKILL should."""
    p = subprocess.run([sys.executable, "-c", _SIGNAL_AT_START, sig, "capture", "--feed",
                        f"FO=127.0.0.1:{free_udp_port()}", "--journal-root", str(tmp_path), "--ring=", "--store="],
                       capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert p.returncode == 0, p.stderr
    assert "stopped, journal sealed" in p.stderr and "Traceback" not in p.stderr
    files = list(tmp_path.glob("NSE_FO/*.bin"))
    assert len(files) == 1 and verify(files[0]).state == "sealed"


def test_the_stats_give_each_feeds_rates_over_the_last_interval():
    """An operator reads the feed's rate off the stats line (is the market busy, did it slow down?): the line
    gave only totals since the start, which after hours of capture move too little to tell."""
    import socket
    import time
    port = free_udp_port()
    cap = Capture(load_config(None, feeds=[FeedConfig("FO", "127.0.0.1", port)], ring="", journal_root="",
                              store=""))
    stream = list(nse.sample_stream("FO", 50, seed=6))

    def send(dgrams):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for d in dgrams:
                tx.sendto(d, ("127.0.0.1", port))
        got, deadline = 0, time.monotonic() + 30
        while got < len(dgrams) and time.monotonic() < deadline:
            got += cap.step(100)
        assert got == len(dgrams)

    with cap:
        send(stream[:30])
        first = cap.stats()["feeds"]["NSE_FO"]
        second = cap.stats()["feeds"]["NSE_FO"]             # nothing came since the last stats
        send(stream[30:])
        third = cap.stats()["feeds"]["NSE_FO"]
    assert first["rate_s"] > 0 and first["datagrams_per_s"] * first["rate_s"] == pytest.approx(30)
    assert first["messages_per_s"] * first["rate_s"] == pytest.approx(first["messages"])
    assert second["datagrams_per_s"] == second["messages_per_s"] == 0 and second["rate_s"] > 0
    assert third["datagrams_per_s"] * third["rate_s"] == pytest.approx(20)
    assert third["messages_per_s"] * third["rate_s"] == pytest.approx(third["messages"] - first["messages"])
    assert third["datagrams"] == 50
    third.update(datagrams_per_s=1500.4, messages_per_s=3360.0)
    line = format_stats({"uptime_s": 9.0, "feeds": {"NSE_FO": third}})
    assert f"NSE_FO: 50 dgrams {third['messages']:,} msgs, 1,500 dgrams/s 3,360 msgs/s (" in line


_SIGNAL_IN_INGEST = """
import os, signal, sys
from vega.capture import Capture
feed = Capture._feed_in_order
def signalled(self, *a, **k):             # the batch is in: the signal stops the ingest before the next
    n = feed(self, *a, **k)
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    return n
Capture._feed_in_order = signalled
from vega.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stop_signal_during_an_ingest_leaves_its_journals_sealed(tmp_path, sig):
    """SIGTERM or SIGHUP (a `timeout`, a closed ssh session) killed an ingest with its journals unsealed; SIGINT
    stopped it cleanly.  All three now stop it with what came before journaled and sealed, in one line."""
    from vega.simulator import write_pcap
    port = free_udp_port()
    pcap = tmp_path / "day.pcap"
    write_pcap(pcap, [(T0 + i * 10**6, "127.0.0.1", port, d) for i, d in enumerate(nse.sample_stream("FO", 50))])
    p = subprocess.run([sys.executable, "-c", _SIGNAL_IN_INGEST, sig, "ingest", str(pcap), "--feed",
                        f"FO=127.0.0.1:{port}", "--journal-root", str(tmp_path / "j"), "--ring=", "--store="],
                       capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert p.returncode == 130 and p.stderr == "vega ingest: interrupted\n", (p.returncode, p.stderr)
    files = list(tmp_path.glob("j/NSE_FO/*.bin"))
    assert len(files) == 1 and verify(files[0]).state == "sealed"


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_an_ingest_stopped_by_a_signal_removes_the_day_files_and_directories_it_made_for_nothing(tmp_path, sig):
    """A capture of the F&O feed alone: the CM and index feeds get nothing.  A run stopped by a signal (status 130)
    left their sealed, empty day files (the normal end removes them) and, as the normal end did too, the feed
    directories it made for them.  Both ends now remove the day files and the directories the run made, and
    the stopped run's summary says so; a directory that was there before is kept, empty."""
    from vega.journal import Journal
    from vega.simulator import write_pcap
    fo, cm = free_udp_port(), free_udp_port()
    write_pcap(tmp_path / "fo.pcap", [(T0 + i * 10**6, "127.0.0.1", fo, d)
                                      for i, d in enumerate(nse.sample_stream("FO", 50))])
    (tmp_path / "kept" / "j" / "NSE_EQ").mkdir(parents=True)       # there before the ingest
    records = {}
    for name, pre in (("stopped", ["-c", _SIGNAL_IN_INGEST, sig]), ("ended", ["-m", "vega.cli"]),
                      ("kept", ["-m", "vega.cli"])):
        root = tmp_path / name / "j"
        r = subprocess.run([sys.executable, *pre, "ingest", str(tmp_path / "fo.pcap"), "--journal-root", str(root),
                            "--feed", f"FO=127.0.0.1:{fo}", "--feed", f"CM=127.0.0.1:{cm}"],
                           capture_output=True, text=True, cwd=ROOT, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
        assert (r.returncode, r.stderr) == ((130, "vega ingest: interrupted\n") if name == "stopped" else (0, "")), r
        made = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        assert made == (["NSE_EQ"] if name == "kept" else []) + ["NSE_FO", "NSE_FO/20261120.bin"], (name, made)
        for feed in ("NSE_EQ", "NFO_IDX"):
            assert (f"{feed}: 0 datagrams, 0 messages, 0 change records, 0 instruments; errors none; gaps 0 "
                    f"(missed 0); no journal: nothing came for it, its empty day file removed "
                    f"({root / feed / '20261120.bin'})") in r.stdout, r.stdout
        assert "NSE_FO: 50 datagrams" in r.stdout
        with Journal.open(root / "NSE_FO" / "20261120.bin") as j:
            assert j.sealed and len(j) > 0
            records[name] = (j.first_seq, j.next_seq, bytes(j.records))
    assert records["stopped"] == records["ended"] == records["kept"]


_SIGNAL_IN_OPENING = """
import os, signal, sys
from vega.capture import Capture
seed = Capture._seed_stores
def signalled(self, *a, **k):             # the first feed's journal and directories are made by now
    seed(self, *a, **k)
    os.kill(os.getpid(), signal.SIGTERM)
Capture._seed_stores = signalled
from vega.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _fo_cm_pcap(tmp_path):
    from vega.simulator import write_pcap
    fo, cm = free_udp_port(), free_udp_port()
    items = [(T0 + i * 10**6, "127.0.0.1", fo, d) for i, d in enumerate(nse.sample_stream("FO", 300, seed=3))]
    items += [(T0 + i * 10**6 + 1, "127.0.0.1", cm, d) for i, d in enumerate(nse.sample_stream("CM", 300, seed=4))]
    write_pcap(tmp_path / "day.pcap", sorted(items, key=lambda x: x[0]))
    return tmp_path / "day.pcap", fo, cm


def test_an_ingest_stopped_or_refused_while_opening_removes_what_the_opening_made(tmp_path):
    """A stop signal or a refusal while the capture was still opening (a store that cannot be made after the
    F&O feed's journal was) left the journal directories and the empty day files the opening had made: the
    run's normal and stopped ends removed them, these two ends did not.  Now they do; a directory that was
    there before is kept."""
    pcap, fo, cm = _fo_cm_pcap(tmp_path)
    feeds = ["--feed", f"FO=127.0.0.1:{fo}", "--feed", f"CM=127.0.0.1:{cm}"]
    env = dict(os.environ, PYTHONPATH=ROOT)
    root = tmp_path / "stopped" / "deep" / "j"
    r = subprocess.run([sys.executable, "-c", _SIGNAL_IN_OPENING, "ingest", str(pcap), "--journal-root", str(root),
                        "--ring=", "--store=", *feeds], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert (r.returncode, r.stderr) == (130, "vega ingest: interrupted\n"), r
    assert list(tmp_path.glob("stopped/*")) == []                # the directories it made, the files in them
    # refused: the CM store's name holds a file that is not a store; the F&O feed's store and journal came first
    name = f"h-{uuid.uuid4().hex[:8]}"
    junk = core._shm_path(f"{name}-cm")
    with open(junk, "wb") as f:
        f.write(b"not a store" * 100)
    (tmp_path / "refused" / "j").mkdir(parents=True)             # there before: kept
    root = tmp_path / "refused" / "j" / "deep"
    try:
        r = subprocess.run([sys.executable, "-m", "vega.cli", "ingest", str(pcap), "--journal-root", str(root),
                            "--ring=", "--store", name, "--store-capacity", "1000", *feeds],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    finally:
        for seg in ("cm", "fo", "idx"):
            try:
                os.unlink(core._shm_path(f"{name}-{seg}"))
            except FileNotFoundError:
                pass
    assert r.returncode == 1 and r.stderr.startswith(f"vega ingest: store {name}-cm: ") and \
        r.stderr.count("\n") == 1, r
    assert [p.name for p in (tmp_path / "refused").rglob("*")] == ["j"]


_SIGNAL_IN_BATCH = """
import os, signal, sys
import vega._pcap, vega.pcap
where, sig = sys.argv[1], getattr(signal, sys.argv[2])
scan, feed, n = vega.pcap.scan_batches, vega._pcap.feed_runs, [0]
def scanned(path, st, batch, stop_ns=None):      # small batches; the signal comes while the third is scanned
    for b in scan(path, st, 64, stop_ns):
        n[0] += b.n > 0                             # (the first, empty, stops where the capture opens)
        if where == "scan" and n[0] == 3:
            os.kill(os.getpid(), sig)               # (a signal during the nogil scan: raised as it returns)
        yield b
def fed(*a):                                    # the signal comes while the third is fed
    feed(*a)
    if where == "feed" and n[0] == 3:
        os.kill(os.getpid(), sig)
vega.pcap.scan_batches, vega._pcap.feed_runs = scanned, fed
from vega.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("where", ["scan", "feed"])
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_stopped_ingests_summary_counts_what_went_in(tmp_path, where, sig):
    """A stop signal during a batch's scan stopped the ingest with that batch counted in the summary's packets
    and UDP datagrams but never fed; one during its feed lost its count of datagrams to no configured feed.
    The summary of a stopped run now counts exactly the datagrams that went in, as its journal holds them."""
    pcap, fo, cm = _fo_cm_pcap(tmp_path)         # the CM datagrams go to no configured feed here
    root = tmp_path / "j"
    r = subprocess.run([sys.executable, "-c", _SIGNAL_IN_BATCH, where, sig, "ingest", str(pcap), "--json",
                        "--journal-root", str(root), "--ring=", "--store=", "--feed", f"FO=127.0.0.1:{fo}"],
                       capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert (r.returncode, r.stderr) == (130, "vega ingest: interrupted\n"), r
    s = json.loads(r.stdout)
    fo_in = s["feeds"]["NSE_FO"]["datagrams"]
    n = 3 * 64 if where == "feed" else 2 * 64         # the batches that went in
    assert s["packets"] == s["udp_datagrams"] == n, s
    assert fo_in + s["other_destination"] == n and 0 < fo_in < n, s
    with Journal.open(root / "NSE_FO" / "20261120.bin") as j:
        assert j.sealed and j.next_seq - j.first_seq == s["feeds"]["NSE_FO"]["journal"]["records"] > 0


@pytest.mark.parametrize("where", ["socket", "journal"])
def test_a_capture_refused_while_opening_removes_what_the_opening_made(tmp_path, where):
    """A capture refused at its last opening step (a feed that cannot join its group: an interface address no
    interface has) or midway (the CM feed's journal directory is a file, after the F&O feed's store and journal
    were made) left the stores and the ring it had made in /dev/shm, the journal directories and sealed empty
    day files with their .seq sidecars: a day that looks captured, and shared memory nobody removes.  Now they
    go; what was there before (a directory, a file) is kept."""
    name = f"h-{uuid.uuid4().hex[:8]}"
    (tmp_path / "there").mkdir()                                 # there before: kept
    root = tmp_path / "there" / "deep" / "j"
    args = ["--feed", f"FO=239.70.2.1:{free_udp_port()}", "--feed", f"CM=239.70.4.1:{free_udp_port()}"]
    if where == "socket":
        args += ["--interface", "192.0.2.1"]                  # TEST-NET-1: no interface has it
    else:
        (root / "NSE_EQ").parent.mkdir(parents=True)
        (root / "NSE_EQ").write_text("not a directory")
    shm = [core._shm_path(f"{name}-{seg}") for seg in ("fo", "cm", "idx")] + [f"/dev/shm/{name}"]
    try:
        r = subprocess.run([sys.executable, "-m", "vega.cli", "capture", *args, "--journal-root", str(root),
                            "--ring", name, "--store", name, "--store-capacity", "1000", "--duration", "5"],
                           capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                           timeout=120)
        left = [p for p in shm if os.path.lexists(p)]
    finally:
        for p in shm:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    said = "vega capture: feed FO: cannot join" if where == "socket" else "vega capture: journal root "
    assert r.returncode == 1 and r.stderr.startswith(said) and r.stderr.count("\n") == 1, r
    assert left == []
    kept = ["there"] + (["there/deep", "there/deep/j", "there/deep/j/NSE_EQ"] if where == "journal" else [])
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == kept


def test_a_capture_refused_as_it_writes_a_day_files_header_leaves_no_file(tmp_path):
    """A journal root whose disk is full at start: the day file was made, its header could not be written, and
    the refused capture left it there empty, which `vega verify` then called DAMAGED (a cut header) at the end of
    the day.  The refusal removes it, with the directories it made.  (A file size limit of 0 stands for the full
    disk: the header's write fails with EFBIG instead of ENOSPC.)"""
    from test_verify_abandoned import _file_size_limit
    (tmp_path / "there").mkdir()
    root = tmp_path / "there" / "j"
    r = subprocess.run([sys.executable, "-m", "vega.cli", "capture", "--feed", f"FO=127.0.0.1:{free_udp_port()}",
                        "--journal-root", str(root), "--ring=", "--store=", "--duration", "5"],
                       capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120,
                       preexec_fn=_file_size_limit(0))
    assert r.returncode == 1 and r.stderr.startswith(f"vega capture: journal root {root}: File too large"), r
    assert r.stderr.count("\n") == 1, r
    assert [p.name for p in tmp_path.rglob("*")] == ["there"]
