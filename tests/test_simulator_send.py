"""Simulator.send's sockets: those it opens itself are closed whatever happens, those a caller gives
(``sockets=``) are the caller's and stay open, and a given mapping must hold a socket for every segment sent.
Before, ``sockets={}`` (falsy, but not None) made send() open its own sockets and never close them (two fds
leaked per call), a mapping without some segment failed with a KeyError once that segment's first datagram was
due, and a socket that could not be opened leaked the ones opened before it."""
import os
import socket

import pytest

import vega.simulator
from vega.simulator import Simulator, SimulatorError


def _fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def rx():
    """A loopback UDP socket the simulator's datagrams go to (both segments)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setblocking(False)
    yield s
    s.close()


def _sim(rx, segments=("FO", "CM")):
    port = rx.getsockname()[1]
    sim = Simulator(segments, 20, seed=3, targets={s: ("127.0.0.1", port) for s in segments})
    sim.generate()
    return sim


def _received(rx):
    n = 0
    while True:
        try:
            rx.recv(65536)
        except BlockingIOError:
            return n
        n += 1


def test_send_closes_the_sockets_it_opens(rx):
    sim = _sim(rx)
    before = _fds()
    assert sim.send(None) == {"FO": 20, "CM": 20}
    assert _fds() == before and _received(rx) == 40


def test_send_leaves_the_callers_sockets_open(rx):
    sim = _sim(rx)
    socks = {s: vega.simulator.multicast_sender(*sim.targets[s]) for s in sim.segments}
    try:
        assert sim.send(None, sockets=socks) == {"FO": 20, "CM": 20}
        assert all(s.fileno() != -1 for s in socks.values())
        socks["FO"].send(b"still open")
        assert _received(rx) == 41
    finally:
        for s in socks.values():
            s.close()


def test_an_empty_mapping_of_sockets_is_refused_and_opens_none(rx):
    """``sockets={}`` gives no socket for any segment: refused like any mapping that lacks one, before anything
    is opened or sent (it opened two sockets of its own and leaked them)."""
    sim = _sim(rx)
    before = _fds()
    with pytest.raises(SimulatorError, match="sockets= has no socket for segment FO, CM"):
        sim.send(None, sockets={})
    assert _fds() == before and _received(rx) == 0 and sim.sent == {"FO": 0, "CM": 0}


def test_sockets_for_some_segments_only_are_refused_before_anything_is_sent(rx):
    sim = _sim(rx)
    fo = vega.simulator.multicast_sender(*sim.targets["FO"])
    try:
        with pytest.raises(SimulatorError, match="sockets= has no socket for segment CM"):
            sim.send(None, sockets={"FO": fo})
        assert fo.fileno() != -1 and _received(rx) == 0 and sim.sent == {"FO": 0, "CM": 0}
    finally:
        fo.close()


def test_a_socket_that_cannot_be_opened_closes_those_opened_before(rx, monkeypatch):
    sim = _sim(rx)
    made = []

    def sender(*args, **kw):
        if made:
            raise OSError("no second socket")
        made.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        return made[-1]

    monkeypatch.setattr(vega.simulator, "multicast_sender", sender)
    with pytest.raises(OSError, match="no second socket"):
        sim.send(None)
    assert len(made) == 1 and made[0].fileno() == -1
