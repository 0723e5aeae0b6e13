"""Crash safety: a real writer process killed with SIGKILL in the middle of a stream.

The child writes records whose slots carry (sequence number, crc32 of token/ts/sequence) so every surviving record
can be checked; it reports on stdout how many records it has flushed.  After the kill: every record reported
flushed is in the file, the records form a gap-free prefix of the stream with valid checksums, the writer
reopens the day (cutting any torn tail), appends more and seals, and the result reads back."""
import os
import signal
import subprocess
import sys
import textwrap
import time
import zlib

import numpy as np

import vega
from vega.journal import Journal, JournalWriter, verify
from vega.records import timestamps

CHILD = textwrap.dedent(
    """
    import sys, zlib
    import numpy as np
    from vega.journal import JournalWriter
    from vega.records import CHANGE_RECORD_DTYPE, set_timestamps

    root = sys.argv[1]
    rng = np.random.default_rng(int(sys.argv[2]))
    w = JournalWriter(root, "NSE_FO", "2026-11-20", flush_interval=None, buffer_records=int(sys.argv[3]))
    seq = 0
    while True:
        n = int(rng.integers(1, 5000))
        r = np.zeros(n, CHANGE_RECORD_DTYPE)
        s = np.arange(seq, seq + n, dtype=np.int64)
        r["token"] = (s * 7919) % 5000 + 1
        r["group"] = 1                         # a record a store applies (mask 0: it names no field)
        set_timestamps(r, 33_300_000_000_000 + s * 1000)
        r["slots"][:, 0] = s & 0x7FFFFFFF
        r["slots"][:, 1] = s >> 31
        r["slots"][:, 2] = [zlib.crc32(b"%d/%d/%d" % (t, 33_300_000_000_000 + q * 1000, q)) - 2**31
                            for t, q in zip(r["token"].tolist(), s.tolist())]
        r["slots"][:, 3] = 0x5EC0DE
        w.append(r)
        seq += n
        if rng.random() < 0.3:
            w.flush()
            print(w.n_written, flush=True)
    """
)


def check_prefix(recs):
    """The records are the stream's records 0..len-1, each with a valid checksum."""
    s = recs["slots"][:, 0].astype(np.int64) | (recs["slots"][:, 1].astype(np.int64) << 31)
    assert np.array_equal(s, np.arange(len(recs)))
    assert np.all(recs["slots"][:, 3] == 0x5EC0DE)
    ts = timestamps(recs)
    assert np.array_equal(ts, 33_300_000_000_000 + s * 1000)
    crc = np.array([zlib.crc32(b"%d/%d/%d" % (t, u, q)) - 2**31 for t, u, q in
                    zip(recs["token"].tolist(), ts.tolist(), s.tolist())], dtype=np.int64)
    assert np.array_equal(crc, recs["slots"][:, 2])


def run_and_kill(root, seed, buffer_records, min_records):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(vega.__file__)))
               + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(seed), str(buffer_records)],
                         stdout=subprocess.PIPE, env=env, text=True)
    flushed = 0
    deadline = time.monotonic() + 30
    try:
        while flushed < min_records and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            flushed = int(line)
        os.kill(p.pid, signal.SIGKILL)       # in the middle of the stream
    finally:
        p.wait()
        p.stdout.close()
    assert p.returncode == -signal.SIGKILL
    assert flushed >= min_records, "the child did not get going"
    return flushed


def test_kill_9_in_the_middle_of_a_stream(tmp_path):
    for seed, buf in [(1, 64), (2, 4096), (3, 1)]:
        root = tmp_path / str(seed)
        flushed = run_and_kill(root, seed, buf, 50_000)
        path = root / "NSE_FO" / "20261120.bin"
        rep = verify(path)
        assert rep.state == "open" and rep.records >= flushed
        with Journal.open(path) as j:                # readable as left by the crash
            assert not j.sealed and len(j) >= flushed
            check_prefix(np.array(j.records))
            n = len(j)
        w = JournalWriter(root, "NSE_FO", "2026-11-20", flush_interval=None)
        assert w.recovered["records"] == n and w.recovered["torn_bytes"] == rep.torn_bytes
        assert w.next_seq == n
        # continue the stream where the file ends, then seal
        with Journal.open(path) as j:
            more = np.array(j.records[:1000])
        more["slots"][:, 0] = np.arange(n, n + 1000) & 0x7FFFFFFF
        more["slots"][:, 1] = np.arange(n, n + 1000) >> 31
        from vega.records import set_timestamps
        set_timestamps(more, 33_300_000_000_000 + np.arange(n, n + 1000) * 1000)
        more["token"] = (np.arange(n, n + 1000) * 7919) % 5000 + 1
        more["slots"][:, 2] = [zlib.crc32(b"%d/%d/%d" % (t, 33_300_000_000_000 + q * 1000, q)) - 2**31
                               for t, q in zip(more["token"].tolist(), range(n, n + 1000))]
        w.append(more)
        w.close()
        assert verify(path).ok
        with Journal.open(path) as j:
            assert j.sealed and len(j) == n + 1000
            check_prefix(np.array(j.records))
            assert j.seek(33_300_000_000_000 + (n + 10) * 1000) == n + 10
