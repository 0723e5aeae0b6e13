"""README's "Using it" snippet runs as written against a live writer: every statement, with the names it
says are the reader's own (``datagrams``, ``token``, ``cm_store``, ``idx_store``, ``today`` ...) bound to
simulated data and the paths and shared-memory names moved to the test's.  A statement that uses the API
wrongly (a method of the writer called on the read-only view, a name that does not exist) fails here.  So does
the index-feed snippet (three linked handlers on one ring), over simulated CM and F&O feeds."""
import ast
import os
import re
import uuid

import pytest

import vega
from vega.simulator import Simulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def using_it_block():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split("## Using it", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def names(tmp_path):
    sim = Simulator(["FO", "CM"], 300, seed=5)
    sim.generate()
    master = sim.write_master(tmp_path)
    options = {i.token for i in vega.Instruments.load(master["contract"]) if i.is_option}
    sent = [r["token"] for d in sim.datagrams["FO"] for m in vega.decode(d, "FO")
            for r in m["records"] if "token" in r]
    token = next(t for t in sent if t in options)
    tag = f"vega-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    ns = dict(datagrams=sim.datagrams["FO"], token=token, cm_store=vega.Store(1024), idx_store=vega.Store(64),
              today=vega.capture.ist_date(), my_store=vega.Store(8192), price=100.0, forward=24000.0,
              strike=24000.0, t_years=0.1, rate=0.1, is_call=True, pos=0, datagram=sim.datagrams["FO"][0],
              list_of_datagrams=sim.datagrams["FO"], stream=vega.lzo1z_compress(b"x" * 100),
              msg=vega.decode(sim.datagrams["FO"][0], "FO")[0])
    yield ns, tmp_path, tag
    for k in ("live", "reader"):
        if k in ns:
            ns[k].close()
    for k in ("handler", "journal", "ring"):
        if k in ns:
            ns[k].close()
    vega.Store.remove(f"{tag}-fo")
    if os.path.exists(f"/dev/shm/{tag}"):
        vega.Ring.unlink(tag)


def stand_ins(code, tmp_path, tag, today):
    day_file = tmp_path / "journal" / "NSE_FO" / f"{today:%Y%m%d}.bin"
    swaps = [('"/var/lib/vega/journal/NSE_FO/20261120.bin"', repr(str(day_file))),
             ('"/var/lib/vega/journal"', repr(str(tmp_path / "journal"))),
             ('"nse-fo"', repr(f"{tag}-fo")),
             ('Ring.create("vega"', f'Ring.create("{tag}"'), ('Ring.open("vega")', f'Ring.open("{tag}")'),
             ('"contract.txt", "security.txt"', f'{str(tmp_path / "contract.txt")!r}, '
                                                f'{str(tmp_path / "security.txt")!r}'),
             ("57030", "token"),                                      # a token of the simulated feed
             ('"2026-11-18", "2026-11-20"', "today, today"),           # days the test has a journal of
             ("speed=10.0", "speed=1e9"),
             ('reader("NSE_FO", name="terminal-1")',                   # the records were published before
              'reader("NSE_FO", name="terminal-1", start="oldest")'),  # the reader came: read them all
             ("[msg, ...]", "[msg]"),
             ("# Any other process:", "journal.flush()  # the writer runs on: its journal buffers 50 ms at most")]
    for old, new in swaps:
        assert old in code, f"README no longer has {old!r}: update this test's stand-ins"
        code = code.replace(old, new)
    return code


def test_the_using_it_snippet_runs_as_written(names):
    ns, tmp_path, tag = names
    code = stand_ins(using_it_block(), tmp_path, tag, ns["today"])
    failures = []
    for node in ast.parse(code).body:
        try:
            exec(compile(ast.Module([node], []), "README.md", "exec"), ns)
        except Exception as e:
            failures.append(f"{ast.get_source_segment(code, node).splitlines()[0]}: {type(e).__name__}: {e}")
    assert failures == [], "\n".join(failures)
    # what the snippet says it did: the reader's view holds the instruments with their symbols, the journal
    # replays to the writer's state, and the late starter's reader starts at the journal's next number
    q = ns["store"][ns["token"]]
    assert q.symbol and q.last_traded_price > 0
    assert isinstance(ns["state"], vega.Store)
    assert ns["live"].position == ns["res"].next_seq["NSE_FO"]
    assert ns["my_store"][ns["token"]].symbol == q.symbol     # the replay carries the symbols loaded


def test_a_quotes_prices_are_paise_in_the_readme():
    assert "paise" in using_it_block()


def test_the_capture_section_names_the_stores_a_capture_makes():
    """A strategy needs the names to Store.open: README says them, and they are the capture's."""
    from vega.capture import store_name
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    m = re.search(r"With `--store (\w+)` its stores are\s+`([\w-]+)`, `([\w-]+)` and `([\w-]+)`", text)
    assert m, "README's capture section no longer names the stores"
    assert list(m.groups()[1:]) == [store_name(m.group(1), seg) for seg in ("FO", "CM", "IDX")]


def index_feed_block():
    """README's second snippet: the index feed and open interest per underlying, three handlers on one ring."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split("Supported messages (decoded and merged into the store)", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_index_feed_snippet_runs_as_written(tmp_path):
    """Every statement of the snippet runs against simulated CM and F&O feeds (processed once the handlers are
    made, before the first read), and reads what the feeds sent: Nifty 50's value, its Quote's index names, and
    the open interest of an underlying (README's 2885 stands for a token the simulated F&O feed reports)."""
    sim = Simulator(["FO", "CM"], 300, seed=5)
    sim.generate()
    today = vega.capture.ist_date()
    oi_token, oi = next(iter(sim.expected["FO"].underlying_oi.items()))
    tag = f"vega-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    code = index_feed_block()
    for old, new in (('Ring.create("vega"', f'Ring.create("{tag}"'), ("cm_store[2885]", "cm_store[oi_token]")):
        assert old in code, f"README no longer has {old!r}: update this test's stand-ins"
        code = code.replace(old, new)
    ns = dict(vega=vega, cm_store=vega.Store(4096), fo_store=vega.Store(8192), oi_token=oi_token,
              **{f"{k}_journal": vega.JournalWriter(tmp_path, feed, today)
                 for k, feed in (("fo", "NSE_FO"), ("eq", "NSE_EQ"), ("idx", "NFO_IDX"))})
    failures, results = [], []
    try:
        for node in ast.parse(code).body:
            if "fo" in ns and "fed" not in ns:
                ns["fed"] = ns["cm"].process_batch(sim.datagrams["CM"]) + ns["fo"].process_batch(sim.datagrams["FO"])
            try:
                if isinstance(node, ast.Expr):
                    results.append(eval(compile(ast.Expression(node.value), "README.md", "eval"), ns))
                else:
                    exec(compile(ast.Module([node], []), "README.md", "exec"), ns)
            except Exception as e:
                failures.append(f"{ast.get_source_segment(code, node).splitlines()[0]}: {type(e).__name__}: {e}")
        assert failures == [], "\n".join(failures)
        nifty = sim.expected["CM"].indices["Nifty 50"]
        ltp, (value, close, pct), table, open_interest = results
        assert ltp == value == nifty["index_value"] and close == nifty["closing_index"]
        assert pct == nifty["percent_change"] and ns["n50"].is_index
        assert table[table["token"] == 26000]["index_value"].tolist() == [value]
        assert open_interest == oi
    finally:
        for k in ("fo", "cm", "idx"):
            if k in ns:
                ns[k].close()
        for k in ("fo_journal", "eq_journal", "idx_journal"):
            ns[k].close()
        if "ring" in ns:
            ns["ring"].close()
        if os.path.exists(f"/dev/shm/{tag}"):
            vega.Ring.unlink(tag)


def test_the_command_lines_in_readme_blocks_parse():
    """Every ``vega ...`` line of README's shell blocks names a command and options that exist (parsed, not
    run: capture and simulate would send and receive): a renamed option fails here, not in a reader's shell."""
    import shlex
    from vega.cli import build_parser
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    lines = [part.strip() for block in re.findall(r"```sh\n(.*?)```", text, re.S)
             for line in block.replace("\\\n", " ").splitlines()
             for part in line.split("#", 1)[0].split("&&")]
    commands = [c for c in lines if c.startswith("vega ")]
    assert len(commands) >= 7
    parser = build_parser()
    for c in commands:
        argv = shlex.split(c.split(">", 1)[0].replace("[", "").replace("]", ""))[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as e:
            raise AssertionError(f"README: {c!r} does not parse") from e
