"""``vega simulate``: a synthetic NSE market (CM and F&O) sent as UDP multicast on loopback, or to a pcap."""
from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import stat
import sys
import time
from typing import TYPE_CHECKING

from vega.commands import CliError, ascii_int, float_upto

if TYPE_CHECKING:
    from vega.commands import _Subparsers

HELP = "send a simulated NSE market as UDP multicast on loopback (or write it to a pcap file)"


#: bytes of memory a generated datagram holds (its ~560 bytes and the bytes object around them)
_DATAGRAM_MEMORY = 700
#: bytes a datagram takes in a pcap file (its ~560 bytes, the headers and the pcap record header)
_PCAP_BYTES = 600
#: the most datagrams per segment (about 1 PiB of pcap): a count beyond it is a typo, not a run
MAX_DATAGRAMS = (1 << 50) // _PCAP_BYTES


def _size(n: int) -> str:
    """A size in bytes, in GiB, or in MiB or KiB below a GiB (a nearly full disk said "0.0 GiB")."""
    unit, shift = next(((u, k) for u, k in (("GiB", 30), ("MiB", 20)) if n >= 1 << k), ("KiB", 10))
    return f"{n / 2**shift:,.1f} {unit}"


def _free_for(path: str) -> int | None:
    """Bytes free for a new file at ``path`` (what the file there now holds counts as free), None when not
    known or not a regular file's (a device such as /dev/null, a directory that does not exist: said later)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError:
        return None
    if st is not None and not stat.S_ISREG(st.st_mode):
        return None
    try:
        vfs = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return None
    return vfs.f_bavail * vfs.f_frsize + (st.st_size if st is not None else 0)


def _check_size(n: int, segments: int, out: str | None, stream: bool) -> None:
    """CliError for a datagram count whose run cannot fit: more than MAX_DATAGRAMS, a pcap larger than the
    disk holding ``out`` has free, or (not ``stream``) datagrams made first that need more than the machine's
    memory.  ``vega simulate --datagrams 99999999999999999999 --out f`` warned of 130385160446167.0 GiB and
    tried anyway."""
    if n > MAX_DATAGRAMS:
        raise CliError(f"--datagrams {n:,} is more than a run can hold: at most {MAX_DATAGRAMS:,} per segment "
                       f"(about 1 PiB of pcap)")
    if out:
        need, free = n * segments * _PCAP_BYTES, _free_for(out)
        if free is not None and need > free:
            raise CliError(f"{out}: {n:,} datagrams per segment make about {_size(need)} of pcap, more than the "
                           f"{_size(free)} free there")
    if not stream:
        need = n * segments * _DATAGRAM_MEMORY
        try:
            memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            memory = 0
        if memory > 0 and need > memory:
            raise CliError(f"{n:,} datagrams per segment made first take about {_size(need)}, more than this "
                           f"machine's {_size(memory)} of memory: add --stream (generated while sent)")


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not GROUP:PORT")
    return host, int(port)


#: (``vega demo`` has the option too)
NO_BROADCASTS_HELP = ("no 7206 system information, market-state messages (6531, 6571, 6511, 6521 ...) and trickle of "
                      "other documented codes VEGA counts without merging (F&O 7211/7340/7220, CM 7214/7215, 6501)")


def register(sub: _Subparsers) -> None:
    p = sub.add_parser("simulate", help=HELP, description=HELP + ". Wire-exact, LZO1Z-compressed like the "
                       "exchange, per-stream sequence numbers; deterministic for a seed. Sends only to loopback.")
    p.add_argument("--segments", nargs="+", choices=["FO", "CM"], default=["FO", "CM"])
    p.add_argument("--datagrams", type=ascii_int, default=None,
                   help="datagrams per segment (default: rate x duration / segments, else 20000)")
    p.add_argument("--rate", type=float_upto(1e9), default=10_000.0, help="datagrams per second over all segments "
                   "(default 10000; 0 = as fast as possible)")
    p.add_argument("--duration", type=float_upto(1e9, unit=" seconds"), default=None,
                   help="seconds to send (sets --datagrams from --rate)")
    p.add_argument("--seed", type=ascii_int, default=1)
    p.add_argument("--fo", type=_target, metavar="GROUP:PORT", help="F&O target (default 239.70.2.1:34302)")
    p.add_argument("--cm", type=_target, metavar="GROUP:PORT", help="CM target (default 239.70.4.1:34304)")
    p.add_argument("--interface", default="127.0.0.1", help="multicast interface address (default 127.0.0.1)")
    p.add_argument("--no-phases", action="store_true", help="no pre-open and auction phase at the start")
    p.add_argument("--no-index-oi", action="store_true",
                   help="no index broadcasts (CM 7207/7216/8207) and no open interest per underlying (F&O 7130/17130)")
    p.add_argument("--no-broadcasts", action="store_true", help=NO_BROADCASTS_HELP)
    p.add_argument("--out", metavar="FILE.pcap", help="write a pcap file instead of sending")
    p.add_argument("--stream", action="store_true", help="generate while sending, for long runs: memory stays flat "
                   "(by default the whole stream is made first, ~0.7 KB per datagram), but the rate is at most "
                   "what the generator makes, thousands of datagrams per second")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate, then send (or write) the stream; prints what was sent."""
    from vega.simulator import Simulator, SimulatorError

    if args.rate < 0:
        raise CliError("--rate must be >= 0")
    if args.duration is not None and args.duration <= 0:
        raise CliError("--duration must be positive")
    n = args.datagrams
    if n is None:
        n = int(args.rate * args.duration / len(args.segments)) if (args.duration and args.rate) else 20_000
    if n <= 0:
        raise CliError("--datagrams must be positive")
    targets = {k: v for k, v in (("FO", args.fo), ("CM", args.cm)) if v}
    try:
        sim = Simulator(args.segments, n, seed=args.seed, targets=targets, interface=args.interface,
                        phases=not args.no_phases, index_oi=not args.no_index_oi,
                        broadcasts=not args.no_broadcasts)
    except SimulatorError as e:
        raise CliError(str(e)) from None
    if args.out is not None and not args.out.strip():
        raise CliError("--out needs a file name")
    _check_size(n, len(sim.segments), args.out, args.stream)
    socks = {}
    if args.out:
        try:
            open(args.out, "wb").close()                 # fail before generating, not after
        except OSError as e:
            raise CliError(f"{args.out}: {e.strerror or e}") from None
    else:                                                # the same for the sockets: a bad --interface now
        from vega.simulator import multicast_sender
        try:
            ipaddress.IPv4Address(args.interface)
        except ValueError:
            raise CliError(f"--interface {args.interface!r} is not an IPv4 address") from None
        try:
            for seg in sim.segments:
                socks[seg] = multicast_sender(*sim.targets[seg], interface=args.interface)
        except (OSError, SimulatorError) as e:
            for sock in socks.values():
                sock.close()
            raise CliError(f"cannot send to {':'.join(map(str, sim.targets[seg]))} through interface "
                           f"{args.interface}: {getattr(e, 'strerror', None) or e}") from None
    def say(*a: object) -> None:
        if not args.quiet:
            print(*a, file=sys.stderr, flush=True)
    if args.stream:
        say(f"vega simulate: {n:,} datagrams per segment ({', '.join(args.segments)}, seed {args.seed}), generated "
            f"while sent")
    else:
        big = n * len(sim.segments) * _DATAGRAM_MEMORY > 1 << 30
        say(f"vega simulate: generating {n:,} datagrams per segment ({', '.join(args.segments)}, seed {args.seed})"
            + (f": about {n * len(sim.segments) * _DATAGRAM_MEMORY / 2**30:.1f} GiB before the first is sent "
               f"(--stream generates while sending)" if big else ""))
        sim.generate()
    if args.out:
        try:
            count = sim.write(args.out, rate=args.rate or 10_000.0, stream=args.stream)
        except OSError as e:
            raise CliError(f"{args.out}: {e.strerror or e}") from None
        print(f"wrote {count:,} datagrams to {args.out}")
        return 0
    stopping = []
    old = {s: signal.signal(s, lambda *_: stopping.append(1)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        dests = ", ".join(f"{s} -> {h}:{p}" for s, (h, p) in sim.targets.items())
        say(f"vega simulate: sending at {args.rate:,.0f} datagrams/s: {dests}" if args.rate
            else f"vega simulate: sending flat out: {dests}")
        t0 = time.perf_counter()
        try:
            sent = sim.send(args.rate or None, stop=lambda: bool(stopping), sockets=socks, stream=args.stream)
        except (SimulatorError, OSError) as e:
            raise CliError(f"send failed: {getattr(e, 'strerror', None) or e}") from None
        dt = time.perf_counter() - t0
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for sock in socks.values():
            sock.close()
    total = sum(sent.values())
    msgs = sum(e.messages for e in sim.expected.values())
    print(f"sent {total:,} datagrams ({', '.join(f'{s} {n:,}' for s, n in sent.items())}) in {dt:.2f} s = "
          f"{total / max(dt, 1e-9):,.0f}/s; {msgs:,} messages generated")
    return 0
