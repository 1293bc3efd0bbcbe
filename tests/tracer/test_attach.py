"""Attach mode: trace a process that is already running — this test process itself, as a
``%%roar`` cell's kernel would, or a child — from attach to detach, under every backend that can
attach here (real tracing: eBPF service, ptrace helper process)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import roar._native as native
from roar.errors import RoarError
from roar.tracing.attach import ATTACH_ORDER, AttachedTrace, attachable_backends, choose_attach
from roar.tracing.run import Summary


@pytest.fixture(params=ATTACH_ORDER)
def attach_backend(request) -> str:
    why = dict(attachable_backends())[request.param]
    if why is not None:
        pytest.skip(f"{request.param} cannot attach here: {why}")
    if request.param == "ebpf":
        request.getfixturevalue("ebpf_service")
    return request.param


def flags(summary: Summary, path: Path) -> str:
    for f in summary.files:
        if f.path == str(path):
            keys = [("read", "r"), ("write", "w"), ("create", "c"), ("delete", "d")]
            return "".join(c for k, c in keys if getattr(f, k))
    return "-"


def tracer_pid(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("TracerPid:"):
            return int(line.split()[1])
    raise AssertionError("no TracerPid")


def attach_again(pid: int, backend: str) -> AttachedTrace:
    """Attach once more: the eBPF service refuses a pid it still traces, ptrace a traced one."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return AttachedTrace.start(pid, backend)
        except RoarError as exc:
            if "already traced" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_attach_to_this_process(attach_backend, tmp_path):
    d = tmp_path.resolve()
    (d / "input.txt").write_text("in")
    (d / "before.txt").write_text("touched before attaching")
    (d / "before.txt").read_text()

    trace = AttachedTrace.start(os.getpid(), attach_backend)
    assert (trace.backend, trace.pid) == (attach_backend, os.getpid())
    if attach_backend == "ptrace":
        assert tracer_pid() != 0
    (d / "input.txt").read_text()
    (d / "new.txt").write_text("new")
    subprocess.run(
        [sys.executable, "-c", "open('child.txt', 'w').write('from a child')"], cwd=d, check=True
    )
    subprocess.run(["/bin/sh", "-c", "cat input.txt > copy.txt"], cwd=d, check=True)
    worker = threading.Thread(target=lambda: (d / "thread.txt").write_text("from a thread"))
    worker.start()
    worker.join()
    summary = trace.detach()
    (d / "after.txt").write_text("after detaching")

    assert summary.backend == attach_backend
    assert summary.exit_code == 0 and summary.warnings == []
    assert flags(summary, d / "input.txt") == "r"
    assert flags(summary, d / "new.txt") == "wc"
    assert flags(summary, d / "child.txt") == "wc"
    assert flags(summary, d / "copy.txt") == "wc"
    assert flags(summary, d / "thread.txt") == "wc"
    assert flags(summary, d / "before.txt") == "-"
    assert flags(summary, d / "after.txt") == "-"
    pids = {p["pid"]: p for p in summary.processes}
    assert os.getpid() in pids
    started = [p["argv"][:1] for pid, p in pids.items() if pid != os.getpid()]
    assert [sys.executable] in started and ["/bin/sh"] in started and ["cat"] in started

    # Detached: untraced, still working, and a new attach sees only what follows it.
    assert tracer_pid() == 0
    subprocess.run(["/bin/sh", "-c", "echo ok > untraced.txt"], cwd=d, check=True)
    assert (d / "untraced.txt").read_text() == "ok\n"
    second = attach_again(os.getpid(), attach_backend)
    (d / "second.txt").write_text("2")
    again = second.detach()
    assert flags(again, d / "second.txt") == "wc"
    assert flags(again, d / "new.txt") == "-" and flags(again, d / "untraced.txt") == "-"


CHILD = textwrap.dedent("""
    import sys
    print("ready", flush=True)
    sys.stdin.readline()
    open("from_child.txt", "w").write("x")
    print("done", flush=True)
    sys.stdin.readline()
    open("after_detach.txt", "w").write("y")
""")


def test_attach_to_a_separate_child(attach_backend, tmp_path):
    d = tmp_path.resolve()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=d,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "ready\n"  # it now waits on stdin
        why = dict(attachable_backends(child.pid))[attach_backend]
        if why is not None:
            pytest.skip(f"{attach_backend} cannot attach to a child here: {why}")
        trace = AttachedTrace.start(child.pid, attach_backend)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"
        summary = trace.detach()
        assert tracer_pid(child.pid) == 0
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
        child.wait()
    assert flags(summary, d / "from_child.txt") == "wc"
    assert flags(summary, d / "after_detach.txt") == "-"
    assert (d / "after_detach.txt").read_text() == "y"
    assert any(p["pid"] == child.pid for p in summary.processes)


def test_io_uring_program_runs_as_untraced_when_attached(attach_backend, tracees, tmp_path):
    """An attached tracer lets io_uring_setup run too (ptrace used to deny it): the program,
    which has no fallback, does what it does untraced, and a ring it set up is reported."""
    alone, d = tmp_path / "untraced", (tmp_path / "traced").resolve()
    alone.mkdir(), d.mkdir()
    untraced = subprocess.run([tracees["uring_writer"]], cwd=alone, capture_output=True, text=True)
    trace = AttachedTrace.start(os.getpid(), attach_backend)
    traced = subprocess.run([tracees["uring_writer"]], cwd=d, capture_output=True, text=True)
    summary = trace.detach()
    assert (traced.returncode, traced.stdout) == (untraced.returncode, untraced.stdout)
    assert (d / "uring.txt").exists() == (alone / "uring.txt").exists()
    warned = [w for w in summary.warnings if "io_uring" in w]
    assert len(warned) == (1 if untraced.returncode == 0 else 0), summary.warnings


def test_a_missing_process_is_a_clear_error(attach_backend):
    missing = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no pid is that large
    with pytest.raises(ProcessLookupError, match=f"process {missing}: no such process"):
        native.attach_traced(missing, attach_backend)
    with pytest.raises(RoarError, match=f"process {missing}: no such process"):
        AttachedTrace.start(missing, attach_backend)


def test_detach_twice_is_an_error_and_dropping_detaches(attach_backend):
    trace = native.attach_traced(os.getpid(), attach_backend)
    assert trace.attached()
    json.loads(trace.detach(30.0))
    assert not trace.attached()
    with pytest.raises(RuntimeError, match="already detached"):
        trace.detach()

    dropped = native.attach_traced(os.getpid(), attach_backend)
    del dropped
    gc.collect()
    assert tracer_pid() == 0
    attach_again(os.getpid(), attach_backend).detach()  # nothing still holds this pid


def test_choose_attach_here():
    usable = [name for name, why in attachable_backends() if why is None]
    if usable:
        assert choose_attach(None) == usable[0]
        assert choose_attach(usable[-1]) == usable[-1]
    with pytest.raises(RoarError, match="preload tracer cannot attach"):
        choose_attach("preload")
    with pytest.raises(RoarError, match="Unknown tracer backend"):
        choose_attach("nonsense")
    with pytest.raises(ValueError):
        native.attach_traced(os.getpid(), "nonsense")


PROBE = textwrap.dedent("""
    import json, os
    from roar.errors import RoarError
    from roar.tracing.attach import attachable_backends, choose_attach
    out = {"why": dict(attachable_backends())["ptrace"]}
    try:
        choose_attach("ptrace")
    except RoarError as exc:
        out["message"], out["hint"] = exc.message, exc.hint
    json.dump(out, open("probe.json", "w"))
""")


def test_ptrace_cannot_attach_to_a_process_traced_from_the_start(tmp_path):
    """Under `roar run --tracer ptrace` (or the roar kernel on ptrace) the process already has
    its tracer: attachable_backends says so, and choose_attach explains what to do."""
    d = tmp_path.resolve()
    proc = native.spawn_traced([sys.executable, "-c", PROBE], cwd=str(d), backend="ptrace")
    raw = proc.wait(120)
    assert raw is not None and json.loads(raw)["exit_code"] == 0
    out = json.loads((d / "probe.json").read_text())
    assert "is already traced by process" in out["why"]
    assert out["message"].startswith("The ptrace tracer cannot attach to a running process here:")
    assert "already traced" in out["message"]
    assert "roar kernel install" in out["hint"]
