"""Shared helpers of the journal tests: synthetic change records and a reference state fold."""
import numpy as np

from vega.records import CHANGE_RECORD_DTYPE, KEYFRAME, set_timestamps, timestamps

T0 = 9 * 3600 * 10**9 + 15 * 60 * 10**9   # 09:15 IST in ns since 00:00 IST


def make_records(n, seed=0, t0=T0, max_step=5000, ntok=50, ordered=True):
    """n absolute-valued change records with random tokens, groups, masks and slots (each one a record a store
    applies: vega.verify reports any other as damaged)."""
    rng = np.random.default_rng(seed)
    r = np.zeros(n, CHANGE_RECORD_DTYPE)
    if ordered:
        ts = t0 + np.cumsum(rng.integers(0, max_step, n))
    else:
        ts = t0 + rng.integers(0, max_step * max(n, 1), n)
    set_timestamps(r, ts)
    r["token"] = rng.integers(1, ntok + 1, n)
    r["group"] = rng.integers(1, 5, n)               # trade, bid, ask, OHLC: records a store applies
    r["mask"] = 1 << rng.integers(0, 4, n)           # one field of the group's first four
    r["source"] = 7200
    r["slots"] = rng.integers(-(2**31), 2**31, (n, 4))
    return r


class Fold:
    """Reference state: state[(token, group, mask)] = slots -- enough for absolute-valued records."""

    def __init__(self):
        self.state = {}

    def apply_records(self, recs):
        for tok, grp, msk, slots in zip(recs["token"].tolist(), recs["group"].tolist(), recs["mask"].tolist(),
                                        recs["slots"].tolist()):
            self.state[(tok, grp, msk)] = tuple(slots)

    def keyframe_records(self, ts_ns):
        keys = sorted(self.state)
        r = np.zeros(len(keys), CHANGE_RECORD_DTYPE)
        if keys:
            r["token"] = [k[0] for k in keys]
            r["group"] = [k[1] for k in keys]
            r["mask"] = [k[2] for k in keys]
            r["slots"] = [self.state[k] for k in keys]
            r["flags"] = KEYFRAME
            set_timestamps(r, np.full(len(keys), ts_ns))
        return r


def linear_seek(recs, t):
    """First record stamped >= t by a linear scan (len when none)."""
    hit = np.flatnonzero(timestamps(recs) >= t)
    return int(hit[0]) if len(hit) else len(recs)


def peak_growth_mib(fn):
    """(fn(), MiB by which the process's peak memory (VmHWM) rose above its memory before the call); Linux only
    (/proc/self/clear_refs resets the peak)."""
    def vm_kib(name):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(name + ":"))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = vm_kib("VmRSS")
    out = fn()
    return out, (vm_kib("VmHWM") - before) / 1024
