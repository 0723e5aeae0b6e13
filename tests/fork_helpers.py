"""Run calls in a forked child (a copy of this process made while it writes a store or a ring) and report."""
import json
import os


def outcomes_in_a_forked_child(calls):
    """Run each of ``calls`` in a forked child, in order; returns, for each, "ok" or "<exception type>: <text>"."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: run, report through the pipe, leave at once
        try:
            out = []
            for call in calls:
                try:
                    call()
                    out.append("ok")
                except Exception as e:
                    out.append(f"{type(e).__name__}: {e}")
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)
