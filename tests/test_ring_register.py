"""vega._ring client bus under races: the same reader name registered by several processes at once, and a
dead reader's cursor reclaimed (Ring.reclaim) while other processes register its name.

Documented semantics (docs/FORMATS.md "Ring", "Client bus"): a reader name is unique per feed among live
readers.  Of several processes registering the same (feed, name) at the same moment exactly one gets the
cursor, the others get RingBusyError naming the winner's pid; the same name on different feeds gives
distinct cursors.  Every round starts its processes together on a barrier; rounds are bounded in number.
"""
import os
import struct

import multiprocessing as mp
import pytest

from vega._ring import Ring, RingBusyError

BUS = 0x600000
CURSOR = struct.Struct("<IBBH24sQQQQ")        # pid, state, feed, reserved, name, position, laps, lost, hb
LINES = 127
ROUNDS = 16
TIMEOUT = 60                                  # seconds: any barrier or join slower than this is a failure
CTX = mp.get_context("fork")



def bus_lines(path):
    """(pid, state, feed, name, position) of every cursor line, from the file's bytes."""
    with open(path, "rb") as f:
        f.seek(BUS + 64)
        raw = f.read(64 * LINES)
    out = []
    for i in range(LINES):
        pid, state, feed, _, name, pos, _, _, _ = CURSOR.unpack_from(raw, 64 * i)
        out.append((pid, state, feed, name, pos))
    return out


def assert_bus_clean_except(path, owners):
    """Every line is free (pid 0, state 0, zero name) except those of `owners` {pid: (feed, name)}."""
    seen = {}
    for i, (pid, state, feed, name, _) in enumerate(bus_lines(path)):
        if pid in owners:
            assert state == 2, (i, pid, state)
            assert (feed, name.rstrip(b"\0").decode()) == owners[pid], (i, pid)
            assert pid not in seen, f"pid {pid} holds two lines"
            seen[pid] = i
        else:
            assert (pid, state, name) == (0, 0, b"\0" * 24), (i, pid, state, name)
    assert set(seen) == set(owners)


def run_round(children, check, hold):
    """Start children (Process objects), run the parent's check while they hold, then let them go."""
    for p in children:
        p.start()
    try:
        check()
    except BaseException:
        hold.abort()                        # a failed check releases the children at once
        raise
    finally:
        for p in children:
            p.join(TIMEOUT)
            if p.is_alive():
                p.kill()
                p.join()
    assert all(p.exitcode == 0 for p in children), [p.exitcode for p in children]


# ----------------------------------------------------------------------------------------------------------
# children (forked: they inherit the imported modules, never the parent's Ring object's use)
# ----------------------------------------------------------------------------------------------------------

def _registrant(path, feed, name, start, go, hold, conn):
    """Wait on `go`, register (feed, name), report, keep the cursor until `hold` releases everyone."""
    ring = Ring.open(path)
    r = None
    go.wait(TIMEOUT)
    try:
        r = ring.reader(feed, name=name, start=start)
        conn.send(("won", os.getpid(), feed, r.line, r.position))
    except RingBusyError as e:
        conn.send(("busy", os.getpid(), feed, str(e), None))
    hold.wait(TIMEOUT)                      # the parent checks the bus while the winner is alive
    hold.wait(TIMEOUT)
    if r is not None:
        r.close()
    ring.close()


def _reclaimer(path, go, hold, conn):
    ring = Ring.open(path)
    go.wait(TIMEOUT)
    conn.send(("reclaimed", os.getpid(), ring.reclaim(), None, None))
    hold.wait(TIMEOUT)
    hold.wait(TIMEOUT)
    ring.close()


def _register_and_die(path, feed, name, position):
    """Register (feed, name) at `position` and exit without closing: a dead reader's cursor."""
    ring = Ring.open(path)
    r = ring.reader(feed, name=name, start=position)
    assert r.position == position
    os._exit(0)


def _spawn(target, *args):
    a, b = CTX.Pipe(duplex=False)
    p = CTX.Process(target=target, args=args + (b,))
    return p, a


# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["one-feed", "two-feeds"])
def test_same_name_registered_simultaneously_exactly_one_wins_per_feed(ring, layout):
    n = 6
    feeds = [0] * n if layout == "one-feed" else [0, 1] * (n // 2)
    for rnd in range(ROUNDS):
        name = f"terminal-{rnd}"
        go, hold = CTX.Barrier(n), CTX.Barrier(n + 1)
        kids = [_spawn(_registrant, ring.path, f, name, "newest", go, hold) for f in feeds]

        def check():
            res = [conn.recv() for _, conn in kids]
            by_feed = {}
            for kind, pid, feed, detail, _ in res:
                by_feed.setdefault(feed, []).append((kind, pid, detail))
            owners = {}
            for feed, rs in by_feed.items():
                won = [(pid, line) for kind, pid, line in rs if kind == "won"]
                assert len(won) == 1, (rnd, feed, rs)                 # exactly one winner per feed
                winner = won[0][0]
                for kind, pid, msg in rs:
                    if kind == "busy":                               # the losers are told who holds it
                        assert f"in use by pid {winner}" in msg, (rnd, msg)
                owners[winner] = (feed, name)
            listed = [(i.pid, i.feed, i.name) for i in ring.readers() if i.name == name]
            assert sorted(listed) == sorted((pid, ("NSE_FO", "NSE_EQ")[f], nm) for pid, (f, nm) in owners.items())
            assert_bus_clean_except(ring.path, owners)
            lines = [line for kind, _, _, line, _ in res if kind == "won"]
            assert len(set(lines)) == len(lines)                      # distinct cursors
            hold.wait(TIMEOUT)
            hold.wait(TIMEOUT)
        run_round([p for p, _ in kids], check, hold)
        assert_bus_clean_except(ring.path, {})                        # every winner closed its line


def test_reclaim_of_a_dead_cursor_while_others_register_its_name(ring):
    ring._write_test_records(0, 100)
    tail = ring.tail(0)
    saved = 37                                                        # the dead reader's position
    for rnd in range(ROUNDS):
        name = f"charting-{rnd % 3}"
        die = CTX.Process(target=_register_and_die, args=(ring.path, 0, name, saved))
        die.start()
        die.join(TIMEOUT)
        assert die.exitcode == 0
        dead = [i for i in ring.readers() if i.name == name]
        assert [(i.pid, i.alive, i.position) for i in dead] == [(die.pid, False, saved)]

        n_reg = 2
        go, hold = CTX.Barrier(n_reg + 1), CTX.Barrier(n_reg + 2)
        kids = [_spawn(_registrant, ring.path, 0, name, "resume", go, hold) for _ in range(n_reg)]
        kids.append(_spawn(_reclaimer, ring.path, go, hold))

        def check():
            res = [conn.recv() for _, conn in kids]
            regs = [r for r in res if r[0] != "reclaimed"]
            (_, _, freed, _, _), = [r for r in res if r[0] == "reclaimed"]
            won = [r for r in regs if r[0] == "won"]
            assert len(won) == 1, (rnd, res)                         # the dead holder never blocks the name
            _, winner, _, line, position = won[0]
            for kind, _, _, msg, _ in regs:
                if kind == "busy":
                    assert f"in use by pid {winner}" in msg, (rnd, msg)
            # either the winner took the dead cursor over (and resumed its position) and there was nothing
            # left to reclaim, or reclaim() freed it first and the winner started at the newest record
            assert (freed, position) in ((0, saved), (1, tail)), (rnd, freed, position)
            assert [(i.pid, i.alive, i.line) for i in ring.readers()] == [(winner, True, line)]
            assert_bus_clean_except(ring.path, {winner: (0, name)})
            hold.wait(TIMEOUT)
            hold.wait(TIMEOUT)
        run_round([p for p, _ in kids], check, hold)
        assert ring.readers() == []


# ----------------------------------------------------------------------------------------------------------
# The registration lock (bus header reg_pid at 0x600018)
# ----------------------------------------------------------------------------------------------------------

REG_PID = BUS + 0x18


def reg_pid(path):
    with open(path, "rb") as f:
        f.seek(REG_PID)
        return struct.unpack("<I", f.read(4))[0]


def set_reg_pid(path, pid):
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, struct.pack("<I", pid), REG_PID)
    finally:
        os.close(fd)


def test_registration_lock_layout_and_release(ring):
    from vega import _ring
    assert _ring._layout()["bus.reg_pid"] == 0x18
    assert reg_pid(ring.path) == 0
    r = ring.reader(0, name="terminal-1")
    assert reg_pid(ring.path) == 0                          # released after registering
    with pytest.raises(RingBusyError, match=f"in use by pid {os.getpid()}"):
        ring.reader(0, name="terminal-1")
    assert reg_pid(ring.path) == 0                          # and after a refusal
    assert ring.reclaim() == 0 and reg_pid(ring.path) == 0
    r.close()


def test_registration_waits_for_a_live_holder_and_takes_over_a_dead_ones_lock(ring):
    # a live process holds the lock: registration waits; when it dies the lock is taken over
    holder = CTX.Process(target=_sleep_forever)
    holder.start()
    set_reg_pid(ring.path, holder.pid)
    import threading
    done = []
    t = threading.Thread(target=lambda: done.append(ring.reader(1, name="charting")))
    t.start()
    t.join(0.3)
    assert t.is_alive() and not done                       # waiting for the live holder
    holder.kill()
    holder.join()
    t.join(TIMEOUT)
    assert not t.is_alive() and done and done[0].registered
    assert reg_pid(ring.path) == 0
    # a lock left by this very process (interrupted mid-registration) is ours
    set_reg_pid(ring.path, os.getpid())
    t2 = ring.reader(1, name="terminal-2")
    assert t2.registered
    assert reg_pid(ring.path) == 0
    assert sorted(i.name for i in ring.readers()) == ["charting", "terminal-2"]


def _sleep_forever():
    import time
    while True:
        time.sleep(1)
