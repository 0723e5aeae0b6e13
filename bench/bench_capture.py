"""Capture throughput on loopback: the highest datagram rate sustained with zero drops, the capture's CPU per
datagram (and so its rate on one core), for VEGA's capture (recvmmsg -> nogil FeedHandler -> store + ring +
journal) beside a pure-Python pipeline (socket.recv + bench/baseline_decode.py + bench/baseline_store.py's
dict store) in the same run.

Two measurements, each for VEGA and for the baseline, and the sender's own cost:

1. **One core (saturation)**: the capture's socket is pre-filled with a chunk of datagrams (2,000; the sender
   is this process, outside the timing), then the capture drains it flat out (``Capture.step`` until empty:
   recvmmsg batches of 512, never idle).  CPU = this process's user+system time (time.process_time) over the
   drains only, so the figure does not depend on the sender or on other processes taking turns on the CPU.
   ``rate per core = 1 / (CPU seconds per datagram)``: the rate one core could sustain.  Repeated (REPS
   rounds of CHUNKS chunks, fresh capture each round); the median round is quoted with min-max.  The
   sender's CPU per datagram (send_batch to a socket drained between fills, untimed) is measured the same
   way: on loopback it includes the kernel's delivery into the receiving socket, so 1 / that is the most
   one sender core can offer the ramp below.
2. **Sustained rate (ramp)**: a sender subprocess replays a pre-generated F&O stream (vega.simulator, written
   to a pcap) at a fixed rate with sendmmsg, repeating it to fill the trial; the capture runs in this process.
   With two or more CPUs the capture is pinned to one and the sender to another (os.sched_setaffinity;
   ``--no-pin`` to let the scheduler choose), and the sender sleeps rather than spins while it is ahead.  A
   trial at rate R passes when every datagram sent was received AND the capture had caught up within 0.25 s
   of the sender's end (so a large socket buffer cannot hide a capture slower than R).  The receive buffer
   is 8 MiB.  Rates ramp up until a rate fails all its trials (2, or 3 without --fast: the machine may be
   shared); the last passing rate is the sustained rate.  Each row shows the capture's CPU per datagram and
   the sender's (sender CPU / datagram sent: on loopback the sender's kernel also delivers the datagram into
   the capture's socket, ~3.5 us per datagram on the development VM): when the sender's figure approaches
   1 / rate, the sender is the limit, not the capture.  ``dg/call`` is the capture's mean recvmmsg batch,
   ``cap CPU`` the capture's CPU time over the trial's wall time: drops with full batches (~512) and a
   ``cap CPU`` well under 100 % mean the capture was kept off its CPU by other work, not too slow.  The final
   ``max`` row sends as fast as the sender can.

    python bench/bench_capture.py            # 2 s trials, 5 rounds of the saturation test
    python bench/bench_capture.py --fast     # 1 s trials, a shorter ramp, 3 rounds (well under a minute)
    python bench/bench_capture.py --unicast  # the sender to 127.0.0.1: a cheaper sender, a higher ramp ceiling
    python bench/bench_capture.py --ab ../main --pairs 6   # one-core drain, this tree vs another, interleaved

``--ab TREE`` compares this tree's capture with the one built in place in another checkout (e.g. main) on the
one-core drain only: ``--pairs`` alternations of two child processes (this tree, then TREE; the same benchmark
code, only the ``vega`` package differs), ``--rounds`` rounds each (default 5), and prints each side's median
and the median of the paired differences.  On a shared VM the drain moves by tens of percent from minute to
minute; only interleaved runs compare.

pyperf is not used (a rate search over another process, and drains of a pre-filled socket with their fill
outside the timing, are not timing loops pyperf can drive); each figure is a median or the passing (or
last) trial of its rate, so rerun for spread.  On a shared machine the sender and the capture compete with
other work: quote the machine load with the figures.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import select
import socket
import stat
import statistics
import subprocess
import sys
import tempfile
import time

# the tree whose vega is measured: this one, or another checkout for --ab (set by the parent for its children)
ROOT = os.environ.get("VEGA_BENCH_TREE") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.path.isdir(os.path.join(ROOT, "vega")):     # (else the vega installed, or PYTHONPATH's, was measured)
    print(f"bench_capture: VEGA_BENCH_TREE must be a checkout holding vega/, not {ROOT!r}", file=sys.stderr)
    sys.exit(2)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

def _own_cli():
    """This script's bench/_cli.py (with --ab the package ``bench`` on sys.path is TREE's, which may lack what is
    used here)."""
    spec = importlib.util.spec_from_file_location("_bench_capture_cli",
                                                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "_cli.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_CLI = _own_cli()

from vega.capture import Capture, CaptureConfig, FeedConfig, multicast_works, open_feed_socket  # noqa: E402
from vega.simulator import DEFAULT_FEEDS, Simulator, multicast_sender, read_pcap, write_pcap  # noqa: E402

RCVBUF_MB = 8
CATCH_UP_S = 0.25
BATCH = 512
CHUNK = 2000                       # datagrams per fill of the saturation test (fits an 8 MiB receive buffer)


# -- the sender ---------------------------------------------------------------------------------------------

def sender_main(pcap: str, host: str, port: int, rate: float, seconds: float, cpu: int) -> None:
    """Subprocess: send the pcap's datagrams (repeated) at ``rate``/s (0: flat out) for ``seconds``, pinned to
    ``cpu`` (-1: not pinned); prints sent count, send time, end time and its own CPU seconds."""
    from vega._net import send_batch
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})
    dgs = [p for _, _, _, p in read_pcap(pcap)]
    sock = multicast_sender(host, port, sndbuf=8 << 20)
    total = int(rate * seconds) if rate > 0 else int(4_000_000 * seconds)
    chunk = max(1, min(256, int(rate / 2000))) if rate > 0 else 256        # ~2,000 sendmmsg calls/s when paced
    fd = sock.fileno()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()                                   # go
    sent, i = 0, 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    while sent < total:
        if rate > 0:
            ahead = t0 + sent / rate - time.perf_counter()
            if ahead > 0:                                  # sleep, do not spin: the CPU time is the send's
                time.sleep(ahead)
        elif time.perf_counter() - t0 > seconds:
            break
        n = min(chunk, total - sent, len(dgs) - i)
        k = send_batch(fd, dgs, i, n)
        sent += k
        i = (i + k) % len(dgs)
    t1 = time.perf_counter()                               # CLOCK_MONOTONIC: comparable across processes
    sys.stdout.write(f"{sent} {t1 - t0} {t1} {time.process_time() - c0}\n")
    sys.stdout.flush()


def _start_sender(pcap, target, rate, seconds, cpu):
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--_sender", pcap, target[0], str(target[1]),
                          str(rate), str(seconds), str(cpu)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def _finish_sender(p):
    out, _ = p.communicate(timeout=60)
    sent, dt, t_end, cpu = out.split()
    return int(sent), float(dt), float(t_end), float(cpu)


def _run(p, step):
    """Go, step until the sender exits and the backlog is drained; (time of the last datagram processed, cpu)."""
    c0 = time.process_time()
    p.stdin.write("go\n")
    p.stdin.flush()
    last = t0 = time.perf_counter()
    while p.poll() is None:
        if step(20):
            last = time.perf_counter()
    while time.perf_counter() - last < 0.05:               # drain the backlog
        if step(5):
            last = time.perf_counter()
    return last, time.process_time() - c0, time.perf_counter() - t0


# -- the two pipelines --------------------------------------------------------------------------------------

KERNEL_STAMPS = False              # --timestamps: the capture's receivers use SO_TIMESTAMPNS


def _vega_capture(target, tmp, rcvbuf_mb=RCVBUF_MB):
    cfg = CaptureConfig(feeds=[FeedConfig("FO", *target)], journal_root=tmp, ring=f"vega-bench-cap-{os.getpid()}",
                        store_capacity=16384, stats_interval=3600.0, rcvbuf_mb=rcvbuf_mb, batch=BATCH)
    cap = Capture(cfg).open()
    if KERNEL_STAMPS:
        from vega._net import BatchReceiver
        for f in cap.feeds:
            f.receiver = BatchReceiver(f.sock.fileno(), BATCH, 2048, timestamps=True)
    return cap


class _Python:
    """The pure-Python pipeline: recv, baseline decode, dict store."""

    def __init__(self, target):
        from bench import baseline_decode, baseline_store
        self.decode = baseline_decode.decode
        self.sock = open_feed_socket(FeedConfig("FO", *target), RCVBUF_MB << 20)
        self.store = baseline_store.DictStore()
        self.errors: dict = {}
        self.poller = select.poll()
        self.poller.register(self.sock.fileno(), select.POLLIN)
        self.received = self.messages = 0

    def step(self, ms):
        n = 0
        if self.poller.poll(ms):
            for _ in range(256):
                try:
                    d = self.sock.recv(2048)
                except BlockingIOError:
                    break
                now = time.time_ns()
                for m in self.decode(d, "FO", self.errors):
                    self.store.merge(m, now)
                    self.messages += 1
                n += 1
        self.received += n
        return n

    def close(self):
        self.sock.close()


def trial_vega(pcap, target, rate, seconds, tmp, cpus):
    cap = _vega_capture(target, tmp)
    try:
        p = _start_sender(pcap, target, rate, seconds, cpus[1])
        last, cpu, wall = _run(p, cap.step)
        sent, dt, t_end, scpu = _finish_sender(p)
        st = cap.feeds[0].handler.stats
        rcv = cap.feeds[0].receiver
        return {"sent": sent, "send_s": dt, "received": cap.datagrams, "messages": st["messages"], "cpu": cpu,
                "lag": max(0.0, last - t_end), "sender_cpu": scpu, "per_call": rcv.datagrams / max(rcv.calls, 1),
                "util": cpu / wall}
    finally:
        cap.close()
        cap.unlink()


def trial_python(pcap, target, rate, seconds, _tmp, cpus):
    py = _Python(target)
    try:
        p = _start_sender(pcap, target, rate, seconds, cpus[1])
        last, cpu, wall = _run(p, py.step)
        sent, dt, t_end, scpu = _finish_sender(p)
        return {"sent": sent, "send_s": dt, "received": py.received, "messages": py.messages, "cpu": cpu,
                "lag": max(0.0, last - t_end), "sender_cpu": scpu, "per_call": 1.0, "util": cpu / wall}
    finally:
        py.close()


# -- saturation: drain a pre-filled socket --------------------------------------------------------------------

def _fill(sock, dgs, start, n):
    from vega._net import send_batch
    done = 0
    while done < n:
        i = (start + done) % len(dgs)
        done += send_batch(sock.fileno(), dgs, i, min(n - done, len(dgs) - i))
    return done


class _PerfControl:
    """``perf record -D -1 --control fifo:CTL,ACK``: sampling switched on only around the drains."""

    def __init__(self, spec):
        ctl, ack = spec.split(",")
        self.ctl = open(ctl, "w")
        self.ack = open(ack)

    def _say(self, what):
        self.ctl.write(what + "\n")
        self.ctl.flush()
        self.ack.readline()

    def enable(self):
        self._say("enable")

    def disable(self):
        self._say("disable")


class _NoPerf:
    def enable(self):
        pass

    def disable(self):
        pass


def drain_rounds(make, dgs, target, chunks, reps, perf=_NoPerf()):
    """``reps`` rounds, each a fresh pipeline fed ``chunks`` fills of CHUNK datagrams and drained flat out; per
    round (CPU s per datagram, messages per datagram)."""
    out = []
    sender = multicast_sender(target[0], target[1], sndbuf=8 << 20)
    try:
        for _ in range(reps):
            close = None
            try:
                with _CLI.sigterm_held():      # (a SIGTERM inside Capture.open or close left the ring in /dev/shm)
                    pipe, step, count, close = make()
                cpu = 0.0
                got = sent = 0
                for c in range(chunks):
                    sent += _fill(sender, dgs, c * CHUNK, CHUNK)
                    perf.enable()
                    c0 = time.process_time()
                    while True:
                        k = step(0)
                        if not k:
                            break
                        got += k
                    cpu += time.process_time() - c0
                    perf.disable()
                if got != sent:
                    raise RuntimeError(f"saturation test lost datagrams ({got:,} of {sent:,}): receive buffer "
                                       "too small for a chunk?")
                out.append((cpu / got, count() / got))
            finally:
                if close is not None:
                    with _CLI.sigterm_held():
                        close()
    finally:
        sender.close()
    return out


def _vega_pipe(target, tmp):
    def make():
        cap = _vega_capture(target, tmp)

        def close():
            cap.close()
            cap.unlink()
        return cap, cap.step, lambda: cap.feeds[0].handler.stats["messages"], close
    return make


def _python_pipe(target):
    def make():
        py = _Python(target)
        return py, py.step, lambda: py.messages, py.close
    return make


def sender_cost(dgs, target, chunks, reps):
    """CPU seconds per datagram of ``send_batch`` (chunks of 256, as the ramp's sender) to a socket that is
    drained between fills (not timed): on loopback the send includes the kernel's whole delivery."""
    from vega._net import BatchReceiver
    rx = open_feed_socket(FeedConfig("FO", *target), RCVBUF_MB << 20)
    tx = multicast_sender(target[0], target[1], sndbuf=8 << 20)
    br = BatchReceiver(rx.fileno(), BATCH, 2048)
    per = []
    try:
        for _ in range(reps):
            cpu = 0.0
            sent = 0
            for c in range(chunks):
                c0 = time.process_time()
                for k in range(0, CHUNK, 256):
                    sent += _fill(tx, dgs, c * CHUNK + k, min(256, CHUNK - k))
                cpu += time.process_time() - c0
                while br.recv(0):
                    pass
            per.append(cpu / sent)
    finally:
        tx.close()
        rx.close()
    med = statistics.median(per)
    print(f"  sender   {med * 1e9:>9,.0f} ns CPU/datagram sent (min {min(per) * 1e9:,.0f}, max {max(per) * 1e9:,.0f})"
          f"  -> {1 / med:>10,.0f} datagrams/s per core at most (the ramp's ceiling)", flush=True)
    return med


def saturation(name, make, dgs, target, chunks, reps, perf=_NoPerf()):
    rounds = drain_rounds(make, dgs, target, chunks, reps, perf)
    per_dg = sorted(r[0] for r in rounds)
    med = statistics.median(per_dg)
    mpd = rounds[0][1]
    print(f"  {name:8s} {med * 1e9:>9,.0f} ns CPU/datagram (min {per_dg[0] * 1e9:,.0f}, max {per_dg[-1] * 1e9:,.0f}; "
          f"{med / mpd * 1e9:,.0f} ns/message)  -> {1 / med:>10,.0f} datagrams/s per core", flush=True)
    return {"cpu_per_dg": med, "rate_per_core": 1 / med, "cpu_per_m": med / mpd * 1e6}


# -- the ramp -----------------------------------------------------------------------------------------------

def ramp(name, fn, rates, pcap, target, seconds, tmp, tries, cpus):
    best = None
    print(f"\n{name}:")
    print(f"  {'asked/s':>9} {'sent/s':>9} {'sent':>9} {'received':>9} {'drops':>7} {'lag s':>6} "
          f"{'cap ns/dg':>9} {'snd ns/dg':>9} {'CPU s/M msgs':>12} {'dg/call':>7} {'cap CPU':>7}  result")
    for r in rates:
        for _ in range(tries):                     # a rate passes if one of `tries` trials passes (the
            t = fn(pcap, target, r, seconds, tmp, cpus)   # machine is shared: a preemption can overflow the buffer)
            drops = t["sent"] - t["received"]
            ok = drops == 0 and t["lag"] <= CATCH_UP_S
            if ok:
                break
        achieved = t["sent"] / t["send_s"]
        cpu_m = t["cpu"] / max(t["messages"], 1) * 1e6
        t.update(rate=achieved, cpu_per_m=cpu_m, ok=ok, cap_ns=t["cpu"] / max(t["received"], 1) * 1e9,
                 snd_ns=t["sender_cpu"] / max(t["sent"], 1) * 1e9)
        print(f"  {r if r else 'max':>9} {achieved:>9,.0f} {t['sent']:>9,} {t['received']:>9,} {drops:>7,} "
              f"{t['lag']:>6.2f} {t['cap_ns']:>9,.0f} {t['snd_ns']:>9,.0f} {cpu_m:>12.3f} "
              f"{t['per_call']:>7.1f} {t['util']:>7.0%}  "
              f"{'ok' if ok else 'DROPS' if drops else 'behind'}", flush=True)
        if ok:
            best = t
        else:
            break
    return best


def _drain_setup(n):
    """(target, datagrams, cpus) for a drain-only run: the F&O stream of ``n`` datagrams on a free loopback port."""
    target = (DEFAULT_FEEDS["FO"][0] if multicast_works() else "127.0.0.1", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        target = (target[0], s.getsockname()[1])
    sim = Simulator(["FO"], n, seed=7, targets={"FO": target}, phases=False, broadcasts=False)
    sim.generate()
    return target, list(sim.datagrams["FO"])


def drain_child(args):
    """--ab's child: the one-core drain of the vega in ROOT; prints 'drain <ns per datagram per round...>'."""
    n = args.datagrams or 6000
    target, dgs = _drain_setup(n)
    aff = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {aff[0]})
    with tempfile.TemporaryDirectory(prefix="vega-bench-capture-") as tmp:
        rounds = drain_rounds(_vega_pipe(target, os.path.join(tmp, "journal")), dgs, target,
                              max(1, min(n, 12000) // CHUNK), args.rounds or 5)
    import vega
    print(f"vega {os.path.dirname(os.path.dirname(os.path.abspath(vega.__file__)))}", flush=True)
    print("drain " + " ".join(f"{r[0] * 1e9:.1f}" for r in rounds), flush=True)


def _refuse(message):
    """A bad option value: one line and status 2, as argparse's and the other benchmarks' (was status 1)."""
    print(f"bench_capture: {message}", file=sys.stderr)
    sys.exit(2)


def ab_main(args):
    """--ab TREE: interleaved one-core drains of this tree (A) and TREE (B), each in its own child process."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    other = os.path.abspath(args.ab)
    if not os.path.isdir(os.path.join(other, "vega")):
        _refuse(f"{other} has no vega/ package (build it in place there first)")
    child = [sys.executable, os.path.abspath(__file__), "--_drain-child", "--rounds", str(args.rounds or 5)]
    if args.datagrams:
        child += ["--datagrams", str(args.datagrams)]
    print(f"one-core drain, A = {here}, B = {other}: {args.pairs} interleaved pairs of child processes, "
          f"{args.rounds or 5} rounds each; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    per = {"A": [], "B": []}
    pair_meds = []
    for i in range(args.pairs):
        meds = {}
        for side, tree in (("A", here), ("B", other)) if i % 2 == 0 else (("B", other), ("A", here)):
            out = subprocess.run(child, env=dict(os.environ, VEGA_BENCH_TREE=tree), capture_output=True, text=True,
                                 timeout=600)
            line = [x for x in out.stdout.splitlines() if x.startswith("drain ")]
            if out.returncode or not line:
                sys.exit(f"bench_capture: the {side} child failed:\n{out.stderr[-2000:]}")
            if f"vega {tree}" not in out.stdout.splitlines():
                sys.exit(f"bench_capture: the {side} child did not import vega from {tree}")
            vals = [float(v) for v in line[0].split()[1:]]
            per[side] += vals
            meds[side] = statistics.median(vals)
        pair_meds.append(meds["A"] - meds["B"])
        print(f"  pair {i + 1}: A {meds['A']:7,.0f}  B {meds['B']:7,.0f} ns CPU/datagram  "
              f"(A - B {meds['A'] - meds['B']:+6,.0f})", flush=True)
    a, b = statistics.median(per["A"]), statistics.median(per["B"])
    wins = sum(d < 0 for d in pair_meds)
    print(f"\n  A (this tree) median {a:,.0f} ns/datagram = {1e9 / a:,.0f}/s per core (min {min(per['A']):,.0f})")
    print(f"  B ({os.path.basename(other)}) median {b:,.0f} ns/datagram = {1e9 / b:,.0f}/s per core "
          f"(min {min(per['B']):,.0f})")
    print(f"  A/B {a / b:.3f}; median paired difference {statistics.median(pair_meds):+,.0f} ns; A lower in {wins} of "
          f"{len(pair_meds)} pairs; load average now {os.getloadavg()[0]:.2f}")


def main() -> None:
    # SIGTERM ends the run as Ctrl-C does: the temporary journal directories and the capture's ring are removed (a
    # kill left them in the temp dir and /dev/shm)
    _CLI.cleanup_on_sigterm()
    if len(sys.argv) > 1 and sys.argv[1] == "--_sender":
        a = sys.argv[2:]
        sender_main(a[0], a[1], int(a[2]), float(a[3]), float(a[4]), int(a[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # a bad option is one line, as a bad value below (not bench/_cli.py's: with --ab, bench/ is TREE's)
    ap.error = lambda message: ap.exit(2, f"bench_capture: {message} (see --help)\n")  # type: ignore[method-assign]
    ap.add_argument("--fast", action="store_true", help="1 s trials, a shorter ramp, 3 saturation rounds")
    ap.add_argument("--datagrams", type=int, default=None,
                    help="pool of distinct datagrams (default 12000, 6000 with --fast)")
    ap.add_argument("--tries", type=int, default=None,
                    help="trials per rate, best counts (default 3, 2 with --fast)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the capture and the sender to CPUs")
    ap.add_argument("--no-ramp", action="store_true", help="only the saturation (one core) measurement")
    ap.add_argument("--unicast", action="store_true",
                    help="send to 127.0.0.1 instead of the F&O multicast group: on loopback the sender's kernel "
                         "then skips the multicast loop-back copy (about 0.55 us less sender CPU per datagram on "
                         "the development VM), which raises the ramp's ceiling; the capture receives the same bytes")
    ap.add_argument("--rounds", type=int, default=None, help="saturation rounds (default 5, 3 with --fast)")
    ap.add_argument("--perf-ctl", metavar="CTL,ACK", default=None,
                    help="perf --control fifos: sample only VEGA's saturation drains (tools/profile.sh --drain); "
                         "implies --no-ramp and no baseline")
    ap.add_argument("--vega-only", action="store_true",
                    help="only VEGA's one-core drain: no pure-Python baseline, no sender cost, no ramp (what "
                         "tools/profile.sh --drain --callgrind runs under valgrind, where the rest would cost minutes)")
    ap.add_argument("--ab", metavar="TREE", default=None,
                    help="one-core drain of this tree vs the in-place build of another checkout, interleaved")
    ap.add_argument("--pairs", type=int, default=6, help="--ab: alternations (default 6)")
    ap.add_argument("--_drain-child", dest="drain_child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--timestamps", action="store_true",
                    help="stamp datagrams with the kernel's receive time (SO_TIMESTAMPNS), not a clock read each")
    args = ap.parse_args()
    for opt in ("datagrams", "tries", "rounds", "pairs"):    # (0 used to mean the default, -1 a traceback)
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            _refuse(f"--{opt} must be at least 1, not {getattr(args, opt)}")
    if args.perf_ctl is not None and (args.perf_ctl.count(",") != 1 or "" in args.perf_ctl.split(",")):
        _refuse(f"--perf-ctl needs two fifos, CTL,ACK, not {args.perf_ctl!r}")
    for fifo in args.perf_ctl.split(",") if args.perf_ctl else ():   # (a missing one was a traceback after the
        if not (os.path.exists(fifo) and stat.S_ISFIFO(os.stat(fifo).st_mode)):   # set-up; a file was emptied)
            _refuse(f"--perf-ctl: {fifo} is not a fifo (perf record --control fifo:CTL,ACK's, made by mkfifo)")
    if args.ab:
        ab_main(args)
        return
    if args.drain_child:
        drain_child(args)
        return
    global KERNEL_STAMPS
    KERNEL_STAMPS = args.timestamps
    seconds = 1.0 if args.fast else 2.0
    tries = args.tries or (2 if args.fast else 3)
    n = args.datagrams or (6000 if args.fast else 12000)
    reps = args.rounds or (3 if args.fast else 5)
    if args.perf_ctl:
        args.no_ramp = True
    aff = sorted(os.sched_getaffinity(0))
    pin = len(aff) >= 2 and not args.no_pin
    cpus = (aff[0], aff[1]) if pin else (-1, -1)
    target = (DEFAULT_FEEDS["FO"][0] if multicast_works() and not args.unicast else "127.0.0.1", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        target = (target[0], s.getsockname()[1])
    print(f"capture benchmark: F&O stream, pool of {n:,} datagrams, {seconds:.0f} s trials, receive buffer "
          f"{RCVBUF_MB} MiB, recvmmsg batch {BATCH}, {'multicast' if target[0] != '127.0.0.1' else 'unicast'} "
          f"loopback {target[0]}:{target[1]}; {'kernel receive stamps; ' if args.timestamps else ''}"
          + (f"capture pinned to CPU {cpus[0]}, sender to CPU {cpus[1]}" if pin else "not pinned")
          + f"; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    sim = Simulator(["FO"], n, seed=7, targets={"FO": target}, phases=False, broadcasts=False)
    sim.generate()
    dgs = list(sim.datagrams["FO"])
    exp = sim.expected["FO"]
    print(f"  {exp.messages / exp.datagrams:.2f} messages and {exp.bytes / exp.datagrams:.0f} bytes per datagram")
    if pin:
        os.sched_setaffinity(0, {cpus[0]})
    try:
        with tempfile.TemporaryDirectory(prefix="vega-bench-capture-") as tmp:
            jdir = os.path.join(tmp, "journal")
            chunks = max(1, min(n, 12000) // CHUNK)
            print(f"\none core, saturated (socket pre-filled with {CHUNK:,} datagrams at a time, drained flat out; "
                  f"{chunks} fills per round, median of {reps} rounds):")
            sv = saturation("vega", _vega_pipe(target, jdir), dgs, target, chunks, reps,
                            _PerfControl(args.perf_ctl) if args.perf_ctl else _NoPerf())
            if args.perf_ctl or args.vega_only:
                return
            sp = saturation("python", _python_pipe(target), dgs, target, 1, reps)
            print(f"  ratio    {sp['cpu_per_dg'] / sv['cpu_per_dg']:.1f}x less CPU per datagram")
            snd = sender_cost(dgs, target, chunks, reps)
            v = p = None
            if not args.no_ramp:
                pcap = os.path.join(tmp, "fo.pcap")
                write_pcap(pcap, ((0, target[0], target[1], d) for d in dgs))
                vega_rates = [50_000, 100_000, 200_000, 250_000, 300_000, 350_000, 400_000, 500_000, 0] \
                    if not args.fast else [100_000, 200_000, 300_000, 400_000, 0]
                py_rates = [2_000, 4_000, 8_000, 16_000, 32_000] if not args.fast else [2_000, 4_000, 8_000, 16_000]
                v = ramp("vega capture (recvmmsg + nogil FeedHandler -> store + ring + journal)", trial_vega,
                         vega_rates, pcap, target, seconds, jdir, tries, cpus)
                p = ramp("pure-Python baseline (recv + baseline_decode + dict store; no ring, no journal)",
                         trial_python, py_rates, pcap, target, seconds, tmp, tries, cpus)
    finally:
        if pin:
            os.sched_setaffinity(0, set(aff))
    print(f"\nsummary (machine shared, see load above: {os.getloadavg()[0]:.2f} now):")
    print(f"  vega   one core: {sv['cpu_per_dg'] * 1e9:,.0f} ns CPU per datagram = {sv['rate_per_core']:,.0f} "
          f"datagrams/s per core ({sv['cpu_per_m']:.3f} CPU s per million messages)")
    print(f"  python one core: {sp['cpu_per_dg'] * 1e9:,.0f} ns CPU per datagram = {sp['rate_per_core']:,.0f} "
          f"datagrams/s per core ({sp['cpu_per_m']:.3f} CPU s per million messages)")
    print(f"  sender   {snd * 1e9:,.0f} ns CPU per datagram sent: a sustained rate above {1 / snd:,.0f}/s needs "
          "more than one sender core")
    if args.no_ramp:
        return
    for name, t in (("vega", v), ("python", p)):
        if t:
            print(f"  {name:6s} sustained {t['rate']:>10,.0f} datagrams/s with zero drops (best of {tries} trials), "
                  f"capture {t['cap_ns']:,.0f} ns CPU/datagram, sender {t['snd_ns']:,.0f} ns CPU/datagram")
        else:
            print(f"  {name:6s} no rate passed")
    if v and p:
        print(f"  ratio:  {v['rate'] / p['rate']:.1f}x the sustained rate, "
              f"{sp['cpu_per_dg'] / sv['cpu_per_dg']:.1f}x less CPU per datagram (one core)")


if __name__ == "__main__":
    main()
