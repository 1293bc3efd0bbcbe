"""Long-lived mode under every backend: a traced process marks intervals and receives the
access summary of each, including what processes started in the interval did."""

from __future__ import annotations

import json
import sys
import textwrap

# Runs inside the traced process: two "cells", the second starting a child process.
CELLS = textwrap.dedent("""
    import json, subprocess, sys
    from roar.tracing.intervals import IntervalClient, IntervalError

    client = IntervalClient.from_environment()
    out = {}
    client.begin("cell 1")
    open("one.txt", "w").write("1")
    out["cell 1"] = client.end()

    open("between.txt", "w").write("not in any interval")

    client.begin("cell 2")
    open("one.txt").read()
    subprocess.run(["sh", "-c", "cat one.txt > two.txt"], check=True)
    out["cell 2"] = client.end()
    try:
        client.end()
    except IntervalError as exc:
        out["error"] = str(exc)
    json.dump(out, open("result.json", "w"))
""")


def _flags(summary: dict, cwd) -> dict[str, str]:
    prefix = str(cwd) + "/"
    letters = [("read", "r"), ("write", "w"), ("create", "c"), ("delete", "d")]
    return {
        f["path"][len(prefix) :]: "".join(c for k, c in letters if f[k])
        for f in summary["files"]
        if f["path"].startswith(prefix)
    }


def test_intervals_hold_exactly_their_own_accesses(backend, backend_trace):
    t = backend_trace([sys.executable, "-c", CELLS], intervals=True)
    assert t.exit_code == 0, t.summary
    result = json.loads((backend_trace.cwd / "result.json").read_text())
    cell1, cell2 = result["cell 1"], result["cell 2"]
    assert cell1["label"] == "cell 1" and cell1["backend"] == backend
    assert _flags(cell1, backend_trace.cwd) == {"one.txt": "wc"}
    # one.txt existed before cell 2 began, so reading it is an input of cell 2
    assert _flags(cell2, backend_trace.cwd) == {"one.txt": "r", "two.txt": "wc"}
    assert "no interval is open" in result["error"]
    # Long-lived mode summarises intervals only: a kernel running for days must not keep
    # every path it ever touched. The run's own summary carries just the exit status.
    assert t.summary["files"] == []


def test_no_control_socket_unless_asked(backend_trace):
    t = backend_trace(
        [
            sys.executable,
            "-c",
            "import os; open('env.txt','w').write(os.environ.get('ROAR_TRACE_CONTROL', 'absent'))",
        ]
    )
    assert t.exit_code == 0
    assert (backend_trace.cwd / "env.txt").read_text() == "absent"
