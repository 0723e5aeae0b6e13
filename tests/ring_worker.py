"""Helpers for the ring tests: the test-record checksum (numpy) and subprocess entry points.

Run as ``python tests/ring_worker.py <role> <ring path> [args...]``; prints one JSON line with its result.
The test records come from ``Ring._write_test_records``: record k of a slot has token = k (low 32 bits),
slots[0:2] = k as 64 bits, slots[2] = a writer tag and slots[3] = a checksum of bytes 0..27.
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vega._ring import Ring  # noqa: E402
from vega.records import CHANGE_RECORD_DTYPE  # noqa: E402


def checksum(records):
    """Independent numpy version of the checksum the C generator stores in slots[3]."""
    w = np.ascontiguousarray(records).view(np.uint32).reshape(-1, 8)
    h = np.full(len(w), 0x811C9DC5, dtype=np.uint32)
    for k in range(7):
        h = (h ^ w[:, k]) * np.uint32(0x01000193)
        h ^= h >> np.uint32(15)
    return h


def seqs(records):
    """The 64-bit sequence number each test record carries in slots[0:2]."""
    s = records["slots"].astype(np.int64) & 0xFFFFFFFF
    return s[:, 0] | (s[:, 1] << 32)


def verify_batch(records, expected_first):
    """(n_bad_checksum, contiguous) for one polled batch that should start at expected_first."""
    if len(records) == 0:
        return 0, True
    bad = int(np.count_nonzero(checksum(records) != records["slots"][:, 3].view(np.uint32)))
    s = seqs(records)
    contiguous = bool(s[0] == expected_first and np.all(np.diff(s) == 1))
    return bad, contiguous


def reader_main(path, feed, name, max_records, sleep_s, ready_path):
    """Poll until the writer has come and gone and everything is drained; verify every record."""
    ring = Ring.open(path)
    r = ring.reader(feed, name=name, start="oldest")
    start = r.position
    with open(ready_path + "." + name, "w"):
        pass
    got = bad = gaps_wrong = polls = 0
    seen_writer = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        before = r.position
        recs = r.poll(max_records, timeout=0.02, wait="yield")
        polls += 1
        # exact accounting: the first record returned is exactly last_lost records after the old position
        if len(recs):
            b, contiguous = verify_batch(recs, before + r.last_lost)
            bad += b
            gaps_wrong += 0 if contiguous else 1
            got += len(recs)
        elif r.position != before + r.last_lost:
            gaps_wrong += 1
        info = ring.info(feed)
        if info["writer_pid"] != 0 or info["tail"] > 0:
            seen_writer = True
        if seen_writer and info["writer_pid"] == 0 and r.position == ring.tail(feed):
            break
        if sleep_s:
            time.sleep(sleep_s)
    out = {
        "name": name, "got": got, "bad": bad, "gaps_wrong": gaps_wrong, "lost": r.lost, "laps": r.laps,
        "start": start, "position": r.position, "tail": ring.tail(feed), "polls": polls,
    }
    r.close()
    ring.close()
    return out


def writer_main(path, feed, seconds, max_batch):
    """Write test records flat out, in batches of varying size, for `seconds`; then give up the slot."""
    ring = Ring.open(path, writable=True)
    rng = np.random.default_rng(1)
    t_end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < t_end:
        for b in rng.integers(1, max_batch + 1, size=16):
            ring._write_test_records(feed, 4096, batch=int(b), tag=0xABCD)
            n += 4096
    tail = ring.tail(feed)
    ring.close()                  # releases the writer role: readers see writer_pid == 0
    return {"written": n, "tail": tail}


def register_and_die(path, feed, name, n_polls):
    """Register a named reader, read a little, then die without closing anything (like kill -9)."""
    ring = Ring.open(path)
    r = ring.reader(feed, name=name, start="oldest")
    for _ in range(n_polls):
        r.poll(10)
    sys.stdout.write(json.dumps({"position": r.position, "line": r.line}) + "\n")
    sys.stdout.flush()
    os._exit(0)


def main(argv):
    role = argv[1]
    if role == "reader":
        out = reader_main(argv[2], int(argv[3]), argv[4], int(argv[5]), float(argv[6]), argv[7])
    elif role == "writer":
        out = writer_main(argv[2], int(argv[3]), float(argv[4]), int(argv[5]))
    elif role == "die":
        register_and_die(argv[2], int(argv[3]), argv[4], int(argv[5]))
        return
    elif role == "hold-writer":
        ring = Ring.open(argv[2], writable=True)
        ring.append(int(argv[3]), np.zeros(1, dtype=CHANGE_RECORD_DTYPE))
        sys.stdout.write("held\n")
        sys.stdout.flush()
        sys.stdin.readline()      # hold the slot until the parent says go
        ring.close()
        out = {"released": True}
    else:
        raise SystemExit(f"unknown role {role}")
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main(sys.argv)
