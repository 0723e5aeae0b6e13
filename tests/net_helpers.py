"""Network helpers for the tests."""
import socket


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing was bound to a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
