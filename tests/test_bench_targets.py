"""bench/bench_merge.py's target report: each of issue 3's targets is called met or MISSED from the run's
medians, with the codes that miss named (a report of figures, checked here on made-up medians)."""
from bench.bench_merge import MIX, print_targets


class _Median:
    def __init__(self, seconds):
        self.seconds = seconds

    def median(self):
        return self.seconds


def _row(vega_ns, py_ns, norec_ns, n_msgs=1000, n_recs=2000):
    return (n_msgs, n_recs, 5.0, _Median(vega_ns * 1e-9), _Median(py_ns * 1e-9), _Median(norec_ns * 1e-9))


def _lines(capsys):
    return [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_every_target_met(capsys):
    res = {("FO", 7208): _row(80, 16_000, 60), ("FO", MIX): _row(500, 1_000, 400)}   # the mix is not a code
    print_targets(res, "every code", 1.49, 26e-9, 94e-6, 490)
    lines = _lines(capsys)
    assert lines[0].startswith("=== issue 3's targets") and "every code" in lines[0]
    assert len(lines) == 8 and all(line.startswith("met ") for line in lines[1:]), lines
    assert "worst FO 7208 40.0 ns" in lines[1]                    # 80 ns per message of 2 records
    assert "1 of 1 codes" in lines[2] and "1 of 1 codes" in lines[3]


def test_misses_are_named(capsys):
    res = {("FO", 7208): _row(80, 16_000, 60),
           ("FO", 7202): _row(150, 9_000, 89, n_recs=11_000),     # 60x with records, 101x without
           ("CM", 18703): _row(250, 11_000, 200, n_recs=1_000)}   # 250 ns per record; 44x / 55x
    print_targets(res, "the codes chosen", 1.73, 151e-9, 201e-6, 513)
    lines = _lines(capsys)
    assert all(line.startswith("MISSED") for line in lines[1:]), lines
    assert "worst CM 18703 250.0 ns" in lines[1]
    assert "1 of 3 codes, below: CM 18703 44x, FO 7202 60x" in lines[2]
    assert lines[3].endswith("2 of 3 codes, below: CM 18703 55x")
    assert lines[4].endswith("1.73x") and lines[5].endswith("151 ns") and lines[6].endswith("201 us")
    assert lines[7].endswith("513 B")


def test_figures_not_measured_are_left_out(capsys):
    print_targets({("FO", 7201): _row(60, 3_000, 50, n_recs=3000)}, "the codes chosen")
    lines = _lines(capsys)
    assert len(lines) == 4 and "1.5x" not in "".join(lines)
    assert lines[2].startswith("MISSED") and "FO 7201 50x" in lines[2]
    assert lines[3].startswith("MISSED") and "FO 7201 60x" in lines[3]
