"""An operator's review of `vega capture` through trading days (the second one of round 35): a start refused late
after a kill says what it added to the journal, `journal_retry` has a least value, and every command that takes
a day takes the same words for it."""
import datetime as dt
import re
import time

import pytest

from test_capture_restart import T0, _killed, cfg  # noqa: F401  (cfg: the fixture, a ring of its own)
from test_operator_review_35 import _items
from vega.capture import CaptureError, load_config

#: 2026-11-25 20:00 UTC, which is 2026-11-26 01:30 IST: the IST day is not the UTC day
LATE_UTC = dt.datetime(2026, 11, 25, 20, 0, tzinfo=dt.timezone.utc).timestamp()


def _added_note(n_flushed, n_ring):
    return re.compile(rf"^vega capture: NSE_FO: {n_ring - n_flushed:,} records the killed capture had published "
                      rf"to ring \S+ but not journaled \(numbers {n_flushed:,}\.\.{n_ring - 1:,}\) were added to "
                      r"\d{8}\.bin$")


def test_a_capture_start_refused_late_after_a_kill_says_what_it_added_to_the_journal(cfg, capsys):  # noqa: F811
    """A start after a kill first adds to the journal the records the killed capture's ring holds; refused
    after that (an interface no group can be joined on), it said only why it was refused, and the operator never
    learnt that the journal had grown.  Now the note comes first, one line, then the refusal."""
    from vega.cli import main
    n_flushed, n_ring = _killed(cfg, t=time.time_ns())           # today's journal, as a live start opens it
    assert n_ring > n_flushed > 0
    assert main(["capture", "--journal-root", cfg.journal_root, "--ring", cfg.ring, "--store", "",
                 "--interface", "192.0.2.1", "--duration", "1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert _added_note(n_flushed, n_ring).match(err[0]), err
    assert err[1].startswith("vega capture: ") and "192.0.2.1" in err[1], err


def test_an_ingest_refused_at_its_opening_after_a_kill_says_what_it_added_to_the_journal(cfg, tmp_path,  # noqa: F811
                                                                                        capsys):
    """The same for `vega ingest`: refused after the recovery (the journal already holds the capture's
    time), it said the refusal alone."""
    from vega.cli import main
    from vega.simulator import write_pcap
    n_flushed, n_ring = _killed(cfg)                              # the journal of T0's day
    write_pcap(tmp_path / "again.pcap", _items(20, 3, T0))
    assert main(["ingest", str(tmp_path / "again.pcap"), "--journal-root", cfg.journal_root, "--ring", cfg.ring,
                 "--store", "", "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert _added_note(n_flushed, n_ring).match(err[0].replace("vega ingest:", "vega capture:", 1)), err
    assert err[1].startswith("vega ingest: ") and "already holds records" in err[1], err


@pytest.mark.parametrize("value", ["0", "0.05", "0.999"])
def test_journal_retry_below_a_second_is_refused_by_the_config(tmp_path, capsys, value):
    """`journal_retry = 0` was taken: a failed journal tried again after every batch, on the receive loop, while
    the disk is still full.  Now the config refuses less than a second, in one line naming the key."""
    from vega.cli import main
    p = tmp_path / "c.toml"
    p.write_text(f"[capture]\njournal_retry = {value}\n")
    with pytest.raises(CaptureError, match=r": journal_retry must be a number of seconds >= 1 "):
        load_config(p)
    assert main(["capture", "-c", str(p)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vega capture: ") and "journal_retry" in err, err
    p.write_text("[capture]\njournal_retry = 1\n")
    assert load_config(p).journal_retry == 1


def test_today_and_yesterday_are_the_ist_days_for_every_command_that_takes_a_day(monkeypatch):
    """`vega export` took only YYYY-MM-DD and YYYYMMDD (and so did `vega replay`): "today" was a bad date.  Both
    parse their days in one place, which takes today and yesterday as the IST days (the journals' days)."""
    from vega.commands import CliError
    from vega.commands._ops import parse_bound, parse_date
    monkeypatch.setattr(time, "time", lambda: LATE_UTC)
    today, yesterday = dt.date(2026, 11, 26), dt.date(2026, 11, 25)
    assert parse_date("today") == parse_bound("today", "start") == today
    assert parse_date("yesterday") == parse_bound("yesterday", "start") == yesterday
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert parse_bound("today 09:15", "start") == dt.datetime(2026, 11, 26, 9, 15, tzinfo=ist)
    assert parse_bound("yesterdayT15:30", "end") == dt.datetime(2026, 11, 25, 15, 30, tzinfo=ist)
    with pytest.raises(CliError, match="expected YYYY-MM-DD, YYYYMMDD, today or yesterday"):
        parse_date("tomorrow")


@pytest.mark.parametrize("command", [["export", "ROOT", "OUT", "yesterday", "today"],
                                     ["replay", "ROOT", "yesterday", "today", "--store", "h109-none"]])
def test_export_and_replay_take_today(tmp_path, capsys, monkeypatch, command):
    """From the command line: the days said are the IST days, whatever the UTC day."""
    from vega.cli import main
    monkeypatch.setattr(time, "time", lambda: LATE_UTC)
    (tmp_path / "j" / "NSE_FO").mkdir(parents=True)
    where = {"ROOT": str(tmp_path / "j"), "OUT": str(tmp_path / "out")}
    assert main([where.get(a, a) for a in command]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(rf"vega {command[0]}: no journal \w+ under \S+ for 2026-11-25\.\.2026-11-26 \(NSE_FO\)\n",
                        err), err


def test_the_stats_line_groups_every_count_by_thousands_and_lists_codes_in_number_order():
    """Read in a live capture's stats lines: the counts per code were bare ("7208:15303") beside every other count
    grouped, in the order of their text ("17201:700 6531:1 7201:345"), a feed with no message yet showed "()", the
    errors were joined by commas that their grouped counts also hold ("a=1,200,b=3"), and a reader's lag was bare.
    """
    from vega.capture import format_stats
    s = {"feeds": {"NSE_FO": {"datagrams": 20_000, "messages": 25_000, "by_code": {"7208": 15_303, "17201": 700,
                                                                                      "6531": 1},
                              "errors": {"truncated": 1_200, "bad_length": 3}, "gaps": 0, "missed": 0},
                   "NSE_EQ": {"datagrams": 0, "messages": 0, "by_code": {}, "errors": {}, "gaps": 0, "missed": 0}},
         "ring": {"name": "vega", "capacity": 32_768, "tails": {"NSE_FO": 25_000},
                  "readers": [{"name": "t1", "feed": "NSE_FO", "lag": 12_345, "alive": True}]},
         "uptime_s": 1.0}
    fo, eq, ring = format_stats(s).splitlines()
    assert " 20,000 dgrams 25,000 msgs (6531:1 7208:15,303 17201:700) errors truncated=1,200 bad_length=3 gaps 0" \
        in fo, fo
    assert "NSE_EQ: 0 dgrams 0 msgs errors none gaps 0" in eq, eq
    assert ring.endswith("ring vega: NSE_FO 25,000; t1@NSE_FO lag 12,345"), ring
