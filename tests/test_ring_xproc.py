"""vega._ring across processes: a flat-out writer, three readers and a deliberately slow one; writer roles.

Every record the writer produces carries its sequence number and a checksum of its other 28 bytes; the
readers verify every record they get, and that each gap in the sequence equals the loss they were told.
Bounded: the writer runs for 2 s; every child has a timeout.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from vega._ring import Ring, RingBusyError
from vega.records import CHANGE_RECORD_DTYPE

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ring_worker.py")
CAP = 32768



def spawn(*args, stdin=None):
    return subprocess.Popen([sys.executable, WORKER, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=stdin, text=True)


def result(p, timeout=60):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_stress_writer_flat_out_three_readers_and_a_slow_one(ring, tmp_path):
    feed = 1
    ready = str(tmp_path / "ready")
    #            name               max records per poll, sleep between polls
    specs = [("terminal-1", 4096, 0.0), ("terminal-2", 4096, 0.0), ("analytics-replay", 1000, 0.0),
             ("charting", 100, 0.002)]
    readers = [spawn("reader", ring.path, feed, n, m, s, ready) for n, m, s in specs]
    try:
        t_end = time.monotonic() + 60
        while not all(os.path.exists(f"{ready}.{n}") for n, _, _ in specs):
            assert time.monotonic() < t_end, "readers did not start"
            assert all(p.poll() is None for p in readers), [p.stderr.read() for p in readers]
            time.sleep(0.02)
        bus = {i.name: i for i in ring.readers()}
        assert set(bus) == {n for n, _, _ in specs}
        assert {i.pid for i in bus.values()} == {p.pid for p in readers}
        assert all(i.alive and i.feed == "NSE_EQ" for i in bus.values())

        ring.close()                       # hand the slot to a writer in another process
        writer = spawn("writer", ring.path, feed, 2.0, 64)
        w = result(writer)
        outs = [result(p) for p in readers]
    finally:
        for p in readers:
            if p.poll() is None:
                p.kill()
                p.wait()

    assert w["tail"] == w["written"] > 4 * CAP
    for o in outs:
        assert o["bad"] == 0, o                          # no torn or mixed record was ever returned
        assert o["gaps_wrong"] == 0, o                   # every gap equals the loss reported for it
        assert o["position"] == o["tail"] == w["tail"], o
        assert o["got"] + o["lost"] == o["position"] - o["start"], o     # exact accounting
    slow = outs[-1]
    assert slow["laps"] > 0 and slow["lost"] > 0          # the slow reader was lapped, and knew it


def test_writer_role_across_processes(ring):
    path = ring.path
    ring.close()
    holder = spawn("hold-writer", path, 0, stdin=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "held"
    w = Ring.open(path, writable=True)
    with pytest.raises(RingBusyError, match=f"pid {holder.pid}"):
        w.append(0, np.zeros(1, dtype=CHANGE_RECORD_DTYPE))
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert result(holder)["released"]
    assert w.append(0, np.zeros(1, dtype=CHANGE_RECORD_DTYPE)) == 2
    w.close()


def test_writer_killed_is_reclaimed(ring):
    path = ring.path
    ring.close()
    holder = spawn("hold-writer", path, 2, stdin=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    w = Ring.open(path, writable=True)
    assert w.info(2)["writer_pid"] == holder.pid         # left behind by the dead writer
    assert w.append(2, np.zeros(3, dtype=CHANGE_RECORD_DTYPE)) == 4
    assert w.info(2)["writer_pid"] == os.getpid()
    w.close()
    holder.stdin.close()
    holder.stdout.close()
    holder.stderr.close()
