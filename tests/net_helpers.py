"""Network helpers for the tests."""
import socket
import time


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing was bound to a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def a_clock_reading_between_sends() -> int:
    """A time (CLOCK_REALTIME ns, the kernel's receive stamps' clock) after every stamp the kernel took before
    this call and before every stamp it takes after this returns: one nanosecond past a reading, once the clock
    has passed it."""
    stop = time.time_ns() + 1
    while time.time_ns() < stop:
        pass
    return stop


def wait_for_receive_stamps(receiver, sock, send, seconds: float = 30.0) -> int:
    """Return once the kernel stamps datagrams as it receives them, on ``sock`` read by the BatchReceiver
    ``receiver`` (``timestamps=True``); ``send()`` sends ``sock`` one datagram.  Returns the rounds it took.

    SO_TIMESTAMPNS turns the kernel's receive stamping on a moment after a socket asks (a static key, switched
    by deferred kernel work: late on a loaded host).  A datagram queued before then is stamped when it is read.
    So each round sends one datagram, waits until it is queued, notes the clock, then reads it: a stamp
    earlier than the clock was taken on receipt.  A stamp at or after it was taken on reading: another round.
    The warm-up datagrams are read here, by ``receiver.recv``: nothing else sees them."""
    import select
    import time
    deadline = time.monotonic() + seconds
    rounds = 0
    while True:
        rounds += 1
        send()
        assert select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0], \
            f"a datagram sent to the receiver was not queued in {seconds} s"
        before_read_ns = time.time_ns()
        got = receiver.recv(0)
        stamps = receiver.recv_times()
        assert len(got) == len(stamps) == 1, f"expected the one warm-up datagram, read {len(got)}"
        if stamps[0] < before_read_ns:
            return rounds
        assert time.monotonic() < deadline, \
            f"the kernel did not stamp datagrams on receipt (SO_TIMESTAMPNS) within {seconds} s ({rounds} rounds)"
        time.sleep(0.001)                  # (a CPU for the deferred work that switches the stamping on)
