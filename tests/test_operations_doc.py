"""docs/OPERATIONS.md against the code: the service unit's command line is one `vega capture` takes, and every
stats field its "What to watch" table names is in a capture's --json stats."""
import os
import re
import shlex

from vega.capture import Capture, FeedConfig, load_config
from vega.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, "docs", "OPERATIONS.md"), encoding="utf-8") as _fh:
    DOC = _fh.read()


def test_the_units_command_line_is_one_vega_capture_takes():
    units = re.findall(r"```ini\n(.*?)```", DOC, re.S)
    execs = [line.split("=", 1)[1] for u in units for line in u.splitlines() if line.startswith("ExecStart=")]
    capture = [shlex.split(e) for e in execs if "vega capture" in e]
    assert len(capture) == 1 and os.path.basename(capture[0][0]) == "vega"
    args = build_parser().parse_args(capture[0][1:])
    assert args.config == "/etc/vega/capture.toml" and args.json
    assert any("systemctl restart vega-capture.service" in e for e in execs)


def _fields(table_head):
    """The `field` column of the markdown table after ``table_head``: a field may be two, `a`, `b`."""
    rows = DOC.split(table_head, 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [f for row in rows for f in re.findall(r"`([a-z_.]+)`", row.split("|")[1])]


def test_every_field_the_watch_table_names_is_in_the_stats(tmp_path, shm_file_name):
    from net_helpers import free_udp_port
    cfg = load_config(None, ring=shm_file_name, store="", journal_root=str(tmp_path / "j"),
                      feeds=[FeedConfig("FO", "127.0.0.1", free_udp_port())])
    cap = Capture(cfg).open()
    try:
        reader = cap.ring.reader("NSE_FO", name="ops-doc")
        s = cap.stats()
        feed = s["feeds"]["NSE_FO"]
        fields = _fields("| field | alarm when | what it means |")
        assert len(fields) == 9
        for name in fields:
            where = feed
            *path, last = name.split(".")
            for p in path:
                where = where[p]
            # merge counters are listed when not 0 (a store that never filled has no store_full)
            assert last in where or path == ["merge"], name
        said = re.search(r"under `ring\.readers`, per registered reader: (.*?)\. ", DOC, re.S).group(1)
        keys = re.findall(r"`([a-z]+)`", said)
        assert keys == ["lag", "lost", "alive"]
        assert all(k in s["ring"]["readers"][0] for k in keys)
        reader.close()
    finally:
        cap.close()
