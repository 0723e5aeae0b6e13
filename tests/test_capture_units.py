"""Pieces of the capture: batch receive/send (vega._net), day rollover, stats, pcap, config defaults."""
import datetime as dt
import os
import pathlib
import re
import socket

import pytest
from hypothesis import given, settings, strategies as st

import vega.capture as capture_mod
from vega import Store, verify
from vega._net import BatchReceiver, send_batch
from vega.capture import Capture, CaptureConfig, CaptureError, FeedConfig, format_stats, load_config
from vega.simulator import read_pcap, write_pcap

from net_helpers import a_clock_reading_between_sends, free_udp_port, wait_for_receive_stamps


def _pair():
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.bind(("127.0.0.1", 0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(r.getsockname())
    return r, s


def test_batch_receive_send_round_trip_and_truncation():
    r, s = _pair()
    try:
        br = BatchReceiver(r.fileno(), batch=16, size=128)
        dgs = [bytes([i]) * (1 + i * 7 % 120) for i in range(40)] + [b"x" * 500]
        assert send_batch(s.fileno(), dgs) == len(dgs)
        got = []
        while len(got) < len(dgs):
            batch = br.recv(1000)
            assert batch and len(batch) <= 16
            got += batch
        assert got[:40] == dgs[:40]
        assert got[40] == b"x" * 128 and br.truncated == 1       # cut to the slot, counted
        assert br.datagrams == 41 and br.recv(0) == []
        assert send_batch(s.fileno(), dgs, 5, 3) == 3
        assert br.recv(1000) == dgs[5:8]
        with pytest.raises(TypeError):
            send_batch(s.fileno(), ["not bytes"])
    finally:
        r.close()
        s.close()


@pytest.mark.parametrize("kw", [{"batch": 0}, {"batch": 5000}, {"size": 10}])
def test_batch_receiver_rejects_bad_sizes(kw):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as r:
        with pytest.raises(ValueError):
            BatchReceiver(r.fileno(), **kw)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, (1 << 32) * 10**9 - 1), st.sampled_from(["239.1.2.3", "127.0.0.1"]),
                          st.integers(1, 65535), st.binary(max_size=1500)), max_size=20))
def test_pcap_round_trip_property(tmp_path_factory, items):
    p = tmp_path_factory.mktemp("pcap") / "x.pcap"
    assert write_pcap(p, items) == len(items)
    assert list(read_pcap(p)) == items


def test_pcap_refuses_what_it_cannot_hold(tmp_path):
    from vega.simulator import SimulatorError
    with pytest.raises(SimulatorError, match="outside the pcap range"):
        write_pcap(tmp_path / "x.pcap", [((1 << 32) * 10**9, "127.0.0.1", 1, b"")])
    with pytest.raises(SimulatorError, match="too large"):
        write_pcap(tmp_path / "y.pcap", [(0, "127.0.0.1", 1, bytes(65600))])
    (tmp_path / "z.pcap").write_bytes(b"garbage")
    with pytest.raises(SimulatorError, match="not a pcap"):
        list(read_pcap(tmp_path / "z.pcap"))


@pytest.mark.parametrize("at, value, said", [
    (0, 0x4F, "not an IPv4/UDP packet"),          # IHL 60 bytes in a 33-byte packet: was a struct.error
    (0, 0x44, "not an IPv4/UDP packet"),          # IHL 16 bytes: the port was read from the IP header
    (0, 0x65, "not an IPv4/UDP packet"),          # IPv6's version
    (9, 6, "not an IPv4/UDP packet"),             # TCP
    (25, 14, "UDP length 14 does not fit its 13 bytes"),     # the payload was cut silently
    (25, 7, "UDP length 7 does not fit its 13 bytes"),       # ... or given as b""
])
def test_read_pcap_refuses_a_damaged_packet_naming_it(tmp_path, at, value, said):
    """Fuzz finding: read_pcap took the IP header length and the UDP length of each packet as they came: a
    damaged one raised struct.error, or gave another port or a shorter payload without a word.  Now such a
    packet is a SimulatorError naming the file and the record's byte, after the packets before it."""
    from vega.simulator import SimulatorError
    p = tmp_path / "x.pcap"
    items = [(10**18, "239.1.2.3", 34302, b"first"), (10**18 + 1, "239.1.2.3", 34302, b"hello")]
    write_pcap(p, items)
    data = bytearray(p.read_bytes())
    data[24 + 16 + 33 + 16 + at] = value              # the second packet (records of 16 + 28 + 5 bytes)
    p.write_bytes(bytes(data))
    got = []
    with pytest.raises(SimulatorError) as e:
        for item in read_pcap(p):
            got.append(item)
    assert got == items[:1]
    assert str(e.value).startswith(f"{p}: packet record at byte 73: ") and said in str(e.value), str(e.value)


def test_day_rollover_seals_yesterday(tmp_path, monkeypatch):
    port = free_udp_port()
    cap = Capture(CaptureConfig(feeds=[FeedConfig("CM", "127.0.0.1", port)], journal_root=str(tmp_path),
                                stats_interval=3600.0))
    cap.open()
    try:
        w = cap.feeds[0].writer
        first = w.path
        today = w.date
        monkeypatch.setattr(capture_mod, "ist_date", lambda *a: today + dt.timedelta(days=1))
        cap.housekeeping()
        assert w.date == today + dt.timedelta(days=1) and w.path != first
        assert verify(first).state == "sealed"
        text = format_stats(cap.stats())
        assert "NSE_EQ" in text and "journal" in text
    finally:
        cap.close()
    assert verify(w.path).state == "sealed"


def test_open_failure_closes_what_was_opened(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", port)], journal_root=str(tmp_path),
                                    ring=f"vega-test-units-{os.getpid()}"))
        with pytest.raises(CaptureError, match="cannot bind"):
            cap.open()
        assert cap.feeds[0].writer.closed and cap.ring.closed
        cap.unlink()


def test_a_failed_open_lets_go_of_its_stores_so_the_next_open_works(tmp_path):
    """A failed open kept the stores it had created open, their writer locks held: the next open of the same
    capture (and --remove-shm) refused them as written by another process."""
    name = f"vega-test-units-st-{os.getpid()}"
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", taken.getsockname()[1])],
                                journal_root=str(tmp_path), ring=name, store=name))
    try:
        with pytest.raises(CaptureError, match="cannot bind"):
            cap.open()
        assert cap.feeds[0].store is None
        taken.close()
        cap.open()                             # the port is free now
        assert cap.opened and cap.feeds[0].store.writable
        cap.close()
    finally:
        taken.close()
        cap.unlink()
        for f in cap.feeds:                    # (unlink removes only the stores an open made)
            Store.remove(f"{name}-{f.segment.lower()}")


@pytest.mark.parametrize("which", ["index_master", "contract"])
def test_a_bad_master_file_is_refused_before_anything_is_made_or_replaced(tmp_path, shm_file_name, which):
    """A bad index or instrument master used to fail the open after the day's journal files were made (and sealed
    empty by the failure's close), the stores created and a stopped capture's ring replaced: its readers lost the
    ring for a typo.  The master files are read first now, and a failed open leaves everything as it was."""
    from vega._ring import Ring
    name = shm_file_name
    old = Ring.create(name)                              # a stopped capture's ring, left for its readers
    old._write_test_records("NSE_EQ", 5)
    old.close()
    inode = os.stat(f"/dev/shm/{name}").st_ino
    bad = tmp_path / "bad.csv"
    bad.write_text("Nifty 50,26000\nNifty 50,26001\n" if which == "index_master" else "not a master file\n")
    root = tmp_path / "journal"
    cap = Capture(CaptureConfig(feeds=[FeedConfig("CM", "127.0.0.1", free_udp_port())], journal_root=str(root),
                                ring=name, store=name, **{which: str(bad)}))
    stores = [f"/dev/shm/vega.store.{name}-{s}" for s in ("cm", "idx")]
    try:
        with pytest.raises(CaptureError, match="^index master: .*bad.csv:2: " if which == "index_master" else
                           "^instrument master: .*bad.csv"):
            cap.open(offline_ns=1_763_600_000 * 10 ** 9)
        assert not root.exists() or not any(root.rglob("*.bin"))
        assert os.stat(f"/dev/shm/{name}").st_ino == inode
        assert not any(os.path.exists(p) for p in stores)
        with Ring.open(name) as r:
            assert r.info("NSE_EQ")["tail"] == 5
    finally:
        for p in stores:                                 # (what the old code left)
            if os.path.exists(p):
                os.unlink(p)


def test_defaults_without_a_config():
    cfg = load_config(None)
    assert [(f.segment, f.group, f.port) for f in cfg.feeds] == [("FO", "239.70.2.1", 34302),
                                                                ("CM", "239.70.4.1", 34304)]
    assert cfg.journal_root is None and cfg.ring is None


def _formats_config_table():
    """docs/FORMATS.md section 7's table: {key: (type, default)} of its rows."""
    doc = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "FORMATS.md").read_text()
    section = doc.split("## 7. Capture configuration", 1)[1].split("\n## ", 1)[0]
    return {m[0]: (m[1], m[2]) for m in re.findall(r"^\| `([^`]+)` \| ([^|]+?) \| ([^|]+?) \|", section, re.M)}


def _doc_default(text):
    if text.startswith("none"):
        return None
    return float(text.replace(",", ""))


def test_formats_md_config_table_has_every_key_with_its_default():
    """The configuration reference (FORMATS.md section 7) names every [capture] key, and no other, with the
    default CaptureConfig has; the example config sets the numbers to the same defaults."""
    import tomllib
    rows = _formats_config_table()
    keys = {k.removeprefix("capture.") for k in rows if k.startswith("capture.")}
    assert keys == set(capture_mod._CAPTURE_KEYS)
    assert {k.removeprefix("[[feed]] ") for k in rows if k.startswith("[[feed]]")} == set(capture_mod._FEED_KEYS)
    cfg, feed = CaptureConfig(), CaptureConfig().feeds[0]
    for k in keys:
        assert _doc_default(rows["capture." + k][1]) == getattr(cfg, k), k
    assert rows["[[feed]] interface"][1] == feed.interface
    example = tomllib.loads((pathlib.Path(capture_mod.__file__).parent / "capture.example.toml").read_text())
    for k, v in example["capture"].items():
        if not isinstance(v, str):
            assert v == getattr(cfg, k), k


@pytest.mark.parametrize("text, fragment", [
    ("store_capacity = 16777217", "store_capacity must be an integer in 1..16777216"),
    ("store_capacity = 0", "store_capacity must be an integer in 1..16777216"),
    ("checkpoint_interval = -1", "checkpoint_interval must be a number of seconds >= 0"),
    ("checkpoint_interval = inf", "checkpoint_interval must be a number of seconds >= 0"),
    ("checkpoint_interval = nan", "checkpoint_interval must be a number of seconds >= 0"),
    ("checkpoint_interval = 1e19", "checkpoint_interval must be a number of seconds >= 0"),   # (the journal's
    ("checkpoint_interval = 9223372037", "at most 9223372036"),                            # ns: OverflowError)
    ("stats_interval = inf", "stats_interval must be a positive number"),
    ("journal_retry = nan", "journal_retry must be a number of seconds >= 1"),
    ("journal_spill_mb = inf", "journal_spill_mb must be a number >= 0"),
    ('store = "a/b"', "a store name prefix is 1-97 characters"),
    ('store = "' + "x" * 99 + '"', "a store name prefix is 1-97 characters"),   # x...x-idx is 103
    ('ring = "a/b"', "must be a plain name"),
])
def test_config_values_out_of_range_are_refused_in_one_line(tmp_path, text, fragment):
    """Values the capture cannot use are refused by the config, not met later as a ValueError, an
    OverflowError or a NaN that never compares."""
    p = tmp_path / "c.toml"
    p.write_text("[capture]\n" + text + "\n")
    with pytest.raises(CaptureError, match=re.escape(fragment)):
        load_config(p)


def test_config_edges_that_are_accepted(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[capture]\nstore_capacity = 16777216\ncheckpoint_interval = 0\nstore = "' + "x" * 97 + '"\n')
    cfg = load_config(p)
    assert cfg.store_capacity == 16777216 and cfg.checkpoint_interval == 0


def test_an_empty_name_on_the_command_line_turns_the_configs_output_off(tmp_path):
    """--ring '' / --store '' / --journal-root '' override a config that names them (None leaves it)."""
    toml = tmp_path / "c.toml"
    toml.write_text(f'[capture]\nring = "r1"\nstore = "s1"\njournal_root = "{tmp_path / "j"}"\n')
    cfg = load_config(toml, ring=None, store=None, journal_root=None)
    assert (cfg.ring, cfg.store, cfg.journal_root) == ("r1", "s1", str(tmp_path / "j"))
    cfg = load_config(toml, ring="", store="", journal_root="")
    cfg.feeds = [FeedConfig("FO", "127.0.0.1", free_udp_port())]
    with Capture(cfg) as cap:                      # (entering opens it)
        assert cap.opened and cap.ring is None and all(f.writer is None for f in cap.feeds)
        assert all(f.store.name is None for f in cap.feeds)
    assert not (tmp_path / "j").exists()


def test_two_segments_on_one_group_and_port_are_refused(tmp_path, capsys):
    """Two sockets bound to the same group and port each receive both segments' datagrams: refused, whether the
    feeds come from flags, a config file or the library, and whatever their interfaces.  The same port on
    different groups (or loopback addresses) is two separate feeds and stays accepted."""
    from vega.cli import main
    want = "feeds FO and CM are both on 239.70.2.1:34302: each group and port may carry one segment"
    with pytest.raises(CaptureError, match=re.escape(want)):
        CaptureConfig(feeds=[FeedConfig("FO", "239.70.2.1", 34302),
                             FeedConfig("CM", "239.70.2.1", 34302, "127.0.0.2")]).validate()
    p = tmp_path / "c.toml"
    p.write_text('[[feed]]\nsegment = "FO"\ngroup = "239.70.2.1"\nport = 34302\n'
                 '[[feed]]\nsegment = "cm"\ngroup = "239.70.2.1"\nport = 34302\n')
    with pytest.raises(CaptureError, match=re.escape(f"config {p}: {want}")):
        load_config(p)
    for argv in (["capture", "--duration", "1", "--feed", "FO=239.70.2.1:34302", "--feed", "CM=239.70.2.1:34302"],
                 ["capture", "--duration", "1", "--config", str(p)],
                 ["ingest", str(tmp_path / "none.pcap"), "--config", str(p)]):
        assert main(argv) == 1
        out = capsys.readouterr()
        assert out.err.startswith(f"vega {argv[0]}: ") and want in out.err, out.err
        assert len(out.err.strip().splitlines()) == 1 and not out.out
    for a, b in ((("239.70.2.1", 34302), ("239.70.4.1", 34302)), (("127.0.0.1", 34302), ("127.0.0.2", 34302)),
                 (("239.70.2.1", 34302), ("239.70.2.1", 34304))):
        cfg = load_config(None, feeds=[FeedConfig("FO", *a), FeedConfig("CM", *b)])
        assert [(f.group, f.port) for f in cfg.feeds] == [a, b]


def test_feed_sockets_receive_only_their_own_group(monkeypatch):
    """What the refusal above rests on: open_feed_socket binds to the group's address, so two feeds on one port
    and different groups receive only their own datagrams, and two on the same group and port both get all."""
    if not capture_mod.multicast_works():
        pytest.skip("multicast is not looped back here")
    port = free_udp_port()

    def received(a, b, to):
        socks = [capture_mod.open_feed_socket(FeedConfig(seg, group, port), 1 << 20)
                 for seg, group in (("FO", a), ("CM", b))]
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            tx.sendto(b"x", (to, port))
            got = []
            for seg, s in zip(("FO", "CM"), socks):
                s.settimeout(0.3)
                try:
                    s.recv(16)
                    got.append(seg)
                except (BlockingIOError, socket.timeout):
                    pass
            return got
        finally:
            for s in (*socks, tx):
                s.close()
    assert received("239.70.2.1", "239.70.4.1", "239.70.2.1") == ["FO"]
    assert received("239.70.2.1", "239.70.4.1", "239.70.4.1") == ["CM"]
    assert received("239.70.2.1", "239.70.2.1", "239.70.2.1") == ["FO", "CM"]


def test_pcap_layout_is_as_documented(tmp_path):
    """docs/FORMATS.md section 6: 24-byte nanosecond LINKTYPE_RAW header, 16-byte record, IPv4 + UDP."""
    import struct
    p = tmp_path / "one.pcap"
    write_pcap(p, [(1_700_000_000_123_456_789, "239.70.2.1", 34302, b"NSE!")])
    raw = p.read_bytes()
    assert struct.unpack("<IHHiIII", raw[:24]) == (0xA1B23C4D, 2, 4, 0, 0, 65535, 101)
    assert struct.unpack("<IIII", raw[24:40]) == (1_700_000_000, 123_456_789, 32, 32)
    ip = raw[40:60]
    assert ip[0] == 0x45 and struct.unpack(">H", ip[2:4])[0] == 32 and ip[8] == 0 and ip[9] == 17
    assert socket.inet_ntoa(ip[12:16]) == "127.0.0.1" and socket.inet_ntoa(ip[16:20]) == "239.70.2.1"
    total = sum(struct.unpack(">10H", ip))                    # a valid header checksums to 0xFFFF
    assert (total & 0xFFFF) + (total >> 16) == 0xFFFF
    assert struct.unpack(">HHHH", raw[60:68]) == (40000, 34302, 12, 0)
    assert raw[68:] == b"NSE!" and len(raw) == 72


def test_socket_drops_are_reported(tmp_path):
    """Datagrams the kernel dropped because the capture's socket buffer was full are counted per feed and
    shown on the stats line: received + dropped == sent."""
    from vega import nse
    port = free_udp_port()
    cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", port)], rcvbuf_mb=1, stats_interval=3600.0))
    cap.open()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        dg = list(nse.sample_stream("FO", 50, seed=1))
        burst = [dg[i % len(dg)] for i in range(6000)]
        for d in burst:
            tx.sendto(d, ("127.0.0.1", port))
        while cap.step(200):
            pass
        tx.sendto(dg[0], ("127.0.0.1", port))         # drops after the last queued one show with the next
        while cap.step(200):
            pass
        d = cap.stats()["feeds"]["NSE_FO"]
        assert d["socket_drops"] > 0 and d["datagrams"] + d["socket_drops"] == len(burst) + 1
        assert d["rcvbuf"] == _granted(1 << 20)
        line = format_stats(cap.stats())
        assert f"SOCKET DROPS {d['socket_drops']:,} (receive buffer {d['rcvbuf'] / 2**20:g} MiB" in line
    finally:
        tx.close()
        cap.close()


def _rmem_max():
    with open("/proc/sys/net/core/rmem_max") as fh:
        return int(fh.read())


def _granted(asked):
    """The receive buffer a capture socket gets: what it asks for as root (SO_RCVBUFFORCE), else at most
    net.core.rmem_max."""
    return asked if os.geteuid() == 0 else min(asked, _rmem_max())


def test_a_capped_receive_buffer_is_said(monkeypatch):
    """Without root or CAP_NET_ADMIN the kernel caps SO_RCVBUF at net.core.rmem_max, silently: the capture
    reads back what it got, shows it in the stats and says when it is less than rcvbuf_mb asked."""
    rmem_max = _rmem_max()
    asked_mb = 1024                                  # the most Linux keeps: 1 GiB less a byte
    assert rmem_max < capture_mod.RCVBUF_MAX
    # SO_RCVBUFFORCE refused, as for a user without CAP_NET_ADMIN: the capture falls back to SO_RCVBUF
    monkeypatch.setattr(capture_mod, "SO_RCVBUFFORCE", 9999)   # no such option: refused
    cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", free_udp_port())], rcvbuf_mb=asked_mb))
    cap.open()
    try:
        got = cap.stats()["feeds"]["NSE_FO"]["rcvbuf"]
        assert got == rmem_max == capture_mod.receive_buffer(cap.feeds[0].sock)
        (msg,) = cap.receive_buffer_warnings()
        assert msg.startswith(f"feed FO: the socket receive buffer is {got / 2**20:g} MiB, not the 1024 MiB")
        assert f"net.core.rmem_max={capture_mod.RCVBUF_MAX}" in msg
    finally:
        cap.close()


def test_vega_capture_says_a_capped_receive_buffer(monkeypatch, capsys):
    from vega.cli import main
    monkeypatch.setattr(capture_mod, "SO_RCVBUFFORCE", 9999)     # refused, as without CAP_NET_ADMIN
    assert _rmem_max() < 64 << 20
    assert main(["capture", "--feed", f"FO=127.0.0.1:{free_udp_port()}", "--duration", "0.2"]) == 0
    err = capsys.readouterr().err
    assert (f"vega capture: feed FO: the socket receive buffer is {_rmem_max() / 2**20:g} MiB, not the 64 MiB "
            f"of rcvbuf_mb: net.core.rmem_max caps it") in err


@pytest.mark.parametrize("mb", [1, 1024, 2048])
def test_the_receive_buffer_granted_is_reported(mb):
    """rcvbuf_mb 1024 and 2048 ask for the most Linux keeps (1 GiB less a byte; 2048 << 20 overflowed the int
    of setsockopt once) and open; the buffer granted is in the stats, and a warning says so only when it is
    less than asked."""
    asked = min(mb << 20, capture_mod.RCVBUF_MAX)
    cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", free_udp_port())], rcvbuf_mb=mb))
    cap.open()
    try:
        got = cap.stats()["feeds"]["NSE_FO"]["rcvbuf"]
        assert got == _granted(asked)
        assert len(cap.receive_buffer_warnings()) == (got < asked)
    finally:
        cap.close()


def test_run_opens_a_capture_not_yet_opened_and_closes_it_after(tmp_path):
    """README: ``vega.capture.Capture(vega.capture.load_config(path)).run(...)``: run() on a capture nobody
    opened raised AttributeError; it opens it, and closes it (journal sealed) when the run ends.  A capture
    the caller opened stays open."""
    cfg = CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", free_udp_port())], journal_root=str(tmp_path),
                        stats_interval=3600.0)
    cap = Capture(cfg)
    cap.run(duration=0.2)
    assert verify(next((tmp_path / "NSE_FO").glob("*.bin"))).state == "sealed"
    with Capture(cfg) as cap:
        cap.run(duration=0.1)
        assert cap.feeds[0].writer is not None and not cap.feeds[0].writer.closed
    with pytest.raises(CaptureError, match="the capture is not open: open"):
        Capture(cfg).step(0)


def test_step_after_close_says_the_capture_is_not_open():
    """close() closed the sockets but kept the poll set and the fd -> feed table naming them: a step() after
    close() polled closed descriptor numbers (OSError EBADF, or whatever file took the number meanwhile) and
    the table held the numbers of every socket a reopened capture had had."""
    port = free_udp_port()
    cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", port)], journal_root="", ring="", store="",
                                stats_interval=3600.0))
    for _ in range(2):
        cap.open()
        assert len(cap._fds) == 1
        cap.close()
        assert cap._fds == {}
        with pytest.raises(CaptureError, match="not open"):
            cap.step(0)


def _open_cm_capture(root):
    """An open capture of one CM feed on loopback (and so the index feed) journaling under ``root``, and the
    list its warnings go to."""
    cap = Capture(CaptureConfig(feeds=[FeedConfig("CM", "127.0.0.1", free_udp_port())], journal_root=str(root),
                                stats_interval=3600.0))
    said = []
    cap.on_warning = said.append
    cap.open()
    return cap, said


def test_a_journal_removed_while_written_is_written_again_with_nothing_lost(tmp_path):
    """`rm -rf` of the journal root under a running capture: the writer went on into the deleted file and sealed
    it, the stats counted its records and the capture said "journal sealed" with exit 0, and the day's journal
    was gone.  Housekeeping now writes the file again at its path from the open descriptor and goes on there."""
    import shutil

    from journal_helpers import make_records
    from vega.journal import Journal, held_by_writer
    root = tmp_path / "journal"
    cap, said = _open_cm_capture(root)
    try:
        w = cap.feeds[0].writer
        path = w.path
        first = make_records(3000, seed=1)
        w.append(first)
        w.flush()
        shutil.rmtree(root)
        cap.housekeeping()
        assert path.exists() and held_by_writer(path)
        assert len(said) == 2                                # NSE_EQ's and the index feed's (NFO_IDX)
        assert all("was removed while being written; it is written again there" in x for x in said)
        cap.housekeeping()                                   # in place now: nothing more to do or say
        assert len(said) == 2
        w.append(make_records(500, seed=2, t0=int(first["ts_lo"][-1]) + 1))
    finally:
        cap.close()
    assert cap.journal_failures() == [] and verify(path).state == "sealed"
    with Journal.open(path) as j:
        live = j.records[j.records["flags"] & 0x02 == 0]       # (the capture's checkpoints aside)
        assert len(live) == 3500 and live[:3000].tobytes() == first.tobytes()


def test_a_journal_that_cannot_be_written_again_is_a_journal_failure(tmp_path):
    import shutil

    from journal_helpers import make_records
    root = tmp_path / "journal"
    cap, said = _open_cm_capture(root)
    try:
        cap.feeds[0].writer.append(make_records(100, seed=1))
        shutil.rmtree(root)
        root.write_text("not a directory")                   # where the journal's directory was
        cap.housekeeping()
        assert len(said) == 2                                # NSE_EQ's and the index feed's (NFO_IDX)
        assert all("removed while being written, and cannot be written again there" in x for x in said)
        assert len(cap.journal_failures()) == 2
    finally:
        cap.close()


def test_a_live_capture_turns_the_day_over_at_the_first_datagram_past_midnight(tmp_path, monkeypatch):
    """The datagrams received between 00:00 IST and the capture's next housekeeping (up to ~50 ms) rolled the
    journal over by their stamps and were merged into the old day's store, which new_day then reset: the live
    store lost them, and the day that ended was missing from the stats' earlier days.  The receive loop now
    stops at the next day's first datagram (its kernel stamp) and turns the day over first, as an ingest does.
    (Midnight is moved to a moment between two sends: after the capture received the first 40, before the rest
    were sent.)"""
    import time

    from vega import nse
    from vega.journal import Journal
    from vega.records import KEYFRAME
    port = free_udp_port()
    cap = Capture(CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", port)], journal_root=str(tmp_path),
                                stats_interval=3600.0))
    cap.open()
    stream = list(nse.sample_stream("FO", 80, seed=14))
    today = cap.feeds[0].writer.date
    midnight = [1 << 62]
    monkeypatch.setattr(capture_mod, "_day_after_ns", lambda day: midnight[0] if day == today else 1 << 62)
    real_ist_date = capture_mod.ist_date
    monkeypatch.setattr(capture_mod, "ist_date",
                        lambda ns=None: today + dt.timedelta(days=1) if ns is not None and ns >= midnight[0]
                        else real_ist_date(ns) if ns is not None else today)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        def send(dgs):
            for d in dgs:
                s.sendto(d, ("127.0.0.1", port))

        def step_until(n):                           # (a deadline: a failure, never a hang)
            deadline = time.monotonic() + 60
            while cap.feeds[0].datagrams < n and time.monotonic() < deadline:
                cap.step(100)
            assert cap.feeds[0].datagrams == n, f"{cap.feeds[0].datagrams} datagrams received, not {n}"

        try:
            # the kernel's receive stamps on (see net_helpers): else the first 40, stamped when read, are past
            # midnight.  The warm-up datagrams are read from the capture's receiver directly: the handler sees 80
            f = cap.feeds[0]
            wait_for_receive_stamps(f.receiver, f.sock, lambda: s.sendto(b"warm", ("127.0.0.1", port)))
            send(stream[:40])
            step_until(40)                           # received (and stamped) before midnight, whatever the load
            midnight[0] = a_clock_reading_between_sends()
            send(stream[40:])                        # received after it
            step_until(80)
            w = cap.feeds[0].writer
            assert w.date == today + dt.timedelta(days=1)
            days = cap.stats()["feeds"]["NSE_FO"]["journal"]["earlier_days"]
            assert [d["path"] for d in days] == [str(tmp_path / "NSE_FO" / f"{today:%Y%m%d}.bin")]
        finally:
            cap.close()
    with Journal.open(days[0]["path"]) as old, Journal.open(w.path) as new:
        assert len(old) > 0 and (old.records["flags"] & KEYFRAME == 0).all()
        flags = new.records["flags"]
        first_live = int((flags & KEYFRAME == 0).argmax())
        assert first_live > 0 and (flags[:first_live] & KEYFRAME).all()   # the day's state first, then the feed
        assert cap.feeds[0].handler.stats["datagrams"] == 80


def test_ingest_of_a_capture_not_open_says_so():
    """ingest() before open(offline_ns=...) failed deep in the day's arithmetic with a bare TypeError about
    None (the trading day is set by open): now the CaptureError step() gives (mypy --strict of vega.capture
    found the None)."""
    cfg = CaptureConfig(feeds=[FeedConfig("FO", "127.0.0.1", free_udp_port())], journal_root="", ring="",
                        store="", stats_interval=3600.0)
    with pytest.raises(CaptureError, match="the capture is not open: open"):
        Capture(cfg).ingest([])
    with pytest.raises(CaptureError, match="the capture is not open: open"):
        Capture(cfg).ingest([(1_790_000_000 * 10**9, "127.0.0.1", cfg.feeds[0].port, b"\0" * 40)])
