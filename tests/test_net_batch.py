"""BatchReceiver across many recvmmsg calls: every call finds its slots ready (control-message room for the
kernel's SO_TIMESTAMPNS stamp, lengths, truncation flags), whatever the previous calls left in them."""
import socket
import time

import pytest

from vega._net import BatchReceiver, send_batch


@pytest.fixture
def pair():
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    r.bind(("127.0.0.1", 0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(r.getsockname())
    yield r, s
    r.close()
    s.close()


def _recv_all(br, n):
    """(datagrams, [receive stamps of each recvmmsg call]) until n datagrams came (or 10 s passed)."""
    got, calls = [], []
    deadline = time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        d = br.recv(1000)
        got += d
        assert len(br.recv_times()) == (len(d) if br.timestamps else 0)
        if d:
            calls.append(br.recv_times())
    return got, calls


def test_every_call_gets_the_kernel_stamps(pair):
    """Every call of several per round carries the kernel's stamps: one per datagram, taken as each was
    delivered, so they differ within a call.  The receiver's fallback, a clock read per call, would give all
    of a call's datagrams the same time.  (No bound on the delay: a loaded machine delivers late.)"""
    r, s = pair
    br = BatchReceiver(r.fileno(), batch=8, size=256, timestamps=True)
    for rnd in range(3):                                      # three rounds of several calls each
        dgs = [bytes([rnd, i]) * (i + 1) for i in range(45)]
        t0 = time.time_ns()
        assert send_batch(s.fileno(), dgs) == len(dgs)
        time.sleep(0.05)
        got, calls = _recv_all(br, len(dgs))
        t2 = time.time_ns()
        times = [t for c in calls for t in c]
        assert got == dgs
        assert len(calls) >= 5 and len(times) == len(dgs) and times == sorted(times)
        assert all(t0 <= t <= t2 for t in times), (t0, t2, times)
        assert all(len(set(c)) == len(c) for c in calls if len(c) > 1), calls


def test_truncation_is_counted_per_datagram_across_calls(pair):
    r, s = pair
    br = BatchReceiver(r.fileno(), batch=4, size=64)
    dgs = [b"x" * (100 if i % 3 == 0 else 10) for i in range(10)]
    assert send_batch(s.fileno(), dgs) == len(dgs)
    got, _ = _recv_all(br, len(dgs))
    assert [len(d) for d in got] == [64 if i % 3 == 0 else 10 for i in range(10)]
    assert br.truncated == 4 and br.datagrams == 10 and br.bytes == sum(len(d) for d in got)
    assert send_batch(s.fileno(), [b"y" * 10] * 5) == 5       # later calls: no stale truncation flag
    got, _ = _recv_all(br, 5)
    assert got == [b"y" * 10] * 5 and br.truncated == 4


def _drain(br, quiet=0.2):
    """Every datagram queued now (until nothing came for ``quiet`` seconds)."""
    got = []
    while True:
        d = br.recv(int(quiet * 1000))
        if not d:
            return got
        got += d


@pytest.mark.parametrize("stamps", [False, True])
def test_kernel_drops_are_counted_exactly(stamps):
    """A burst into a small receive buffer: the kernel drops what does not fit and reports its running count
    (SO_RXQ_OVFL) with the next datagram it queues.  received + dropped == sent, each drop counted once."""
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    r.bind(("127.0.0.1", 0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(r.getsockname())
    try:
        br = BatchReceiver(r.fileno(), batch=16, size=2048, timestamps=stamps, drops=True)
        burst = [bytes([i % 251]) * 1000 for i in range(200)]
        assert send_batch(s.fileno(), burst) == len(burst)
        first = _drain(br)
        assert 0 < len(first) < len(burst) and first == burst[:len(first)]
        assert br.dropped == 0                     # nothing queued after the drops yet: not reported
        s.send(b"next")
        assert _drain(br) == [b"next"]
        assert br.dropped == len(burst) - len(first)
        if stamps:
            assert len(br.recv_times()) == 0 and br.timestamps
        for k in range(3):                         # later datagrams repeat the count: not counted again
            s.send(b"more")
            assert _drain(br) == [b"more"] and br.dropped == len(burst) - len(first)
        plain = BatchReceiver(r.fileno(), batch=4, size=2048)      # drops=False: nothing read, nothing counted
        s.send(b"x")
        assert _drain(plain) == [b"x"] and plain.dropped == 0
    finally:
        r.close()
        s.close()


def test_send_batch_with_a_count_to_the_end_from_a_start_sends_the_rest(pair):
    """``count`` past the end means "to the end", for any count: sys.maxsize from a start > 0 made the range
    check's ``start + count`` overflow, and the send read list entries past the end (a segfault).  In a child
    process, so that the old crash fails this test and not the run."""
    import subprocess
    import sys
    r, s = pair
    code = ("import socket, sys\n"
            "from vega._net import send_batch\n"
            f"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('127.0.0.1', {r.getsockname()[1]}))\n"
            "print(send_batch(s.fileno(), [b'a', b'b', b'c'], 1, sys.maxsize))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, "2\n"), out.stderr
    br = BatchReceiver(r.fileno(), batch=8, size=64)
    assert br.recv(5000) == [b"b", b"c"]
