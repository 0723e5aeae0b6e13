"""A second capture (or an ingest) with a running capture's config must not replace its ring, stores or journal:
it stops with one line and leaves them alone.  Once the first has gone, the second takes over."""
import datetime as dt
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

import vega
from vega.capture import Capture, CaptureError, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = int(dt.datetime(2026, 11, 20, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))).timestamp()) * 10**9

HOLDER = textwrap.dedent("""
    import sys
    from vega.capture import Capture, load_config
    cap = Capture(load_config(None, ring=sys.argv[1], store=sys.argv[2], journal_root=sys.argv[3]))
    cap.open(offline_ns=int(sys.argv[4]))
    print("ready", flush=True)
    sys.stdin.read()
    cap.close()
    cap.unlink()
""")


@pytest.fixture
def running(tmp_path):
    """A capture in another process holding ring, stores and journals; (ring, store prefix, journal root)."""
    tag = uuid.uuid4().hex[:8]
    ring, store, root = f"vega-inuse-{tag}", f"vega-inuse-{tag}", str(tmp_path / "j")
    p = subprocess.Popen([sys.executable, "-c", HOLDER, ring, store, root, str(T0)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert p.stdout.readline().strip() == "ready"
        yield ring, store, root
    finally:
        p.stdin.close()
        p.wait(timeout=30)
        for name in (f"{store}-fo", f"{store}-cm", f"{store}-idx"):
            vega.Store.remove(name)
        try:
            vega.Ring.unlink(ring)
        except FileNotFoundError:
            pass


def test_a_second_capture_leaves_a_running_ones_shared_memory_alone(running, tmp_path):
    ring, store, root = running
    before = vega.Store.open(f"{store}-fo")
    ring_before = vega.Ring.open(ring)
    cases = [({"ring": ring}, f"ring {ring} is being written by pid"),
             ({"store": store}, f"store {store}-fo is being written by another process"),
             ({"journal_root": root}, "journal NSE_FO 2026-11-20 is being written by another process")]
    for kw, msg in cases:
        with pytest.raises(CaptureError, match=msg):
            Capture(load_config(None, **kw)).open(offline_ns=T0)
    assert not before.replaced and not ring_before.replaced          # nothing was replaced
    before.close()
    ring_before.close()
    r = subprocess.run([sys.executable, "-m", "vega.cli", "ingest", os.devnull, "--ring", ring], capture_output=True,
                       text=True, timeout=60, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1


def test_the_next_capture_takes_over_once_the_first_has_gone(tmp_path):
    tag = uuid.uuid4().hex[:8]
    cfg = dict(ring=f"vega-next-{tag}", store=f"vega-next-{tag}", journal_root=str(tmp_path / "j"))
    p = subprocess.run([sys.executable, "-c", HOLDER.replace("cap.close()\n", "").replace("cap.unlink()\n", "")
                        .replace("sys.stdin.read()", "import os; os._exit(0)"),
                        cfg["ring"], cfg["store"], cfg["journal_root"], str(T0)],
                       capture_output=True, text=True, timeout=60, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert p.returncode == 0 and "ready" in p.stdout                  # died holding everything
    cap = Capture(load_config(None, **cfg))
    cap.open(offline_ns=T0)
    try:
        assert cap.ring.info("NSE_FO")["writer_pid"] == os.getpid()
    finally:
        cap.close()
        cap.unlink()
