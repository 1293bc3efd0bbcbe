"""What the roar kernelspec starts: the kernel, under a tracer from its first instruction.

A seccomp filter (ptrace) or an LD_PRELOAD library (preload) cannot be added to a process
that is already running, so this small process picks a backend and starts the real kernel
(``roar_kernel.kernel``) under it in long-lived mode; each cell is then one interval of that
trace. Jupyter interrupts and kills the kernel's whole process group, which includes the
kernel itself; this process only forwards what is sent to it alone, then exits with the
kernel's exit status. When no native backend can run, the kernel starts untraced and falls
back to Python audit hooks (and says so in the notebook).

A plain ipykernel exits when the client that started it (the kernel manager) goes, even by
SIGKILL: its parent poller watches ``JPY_PARENT_PID``. The roar kernel's parent is this
process, so this process watches the client instead: when it is gone, the kernel is stopped
(SIGTERM, on which it hands over its last cell; SIGKILL if it is still there after
``CLIENT_GONE_GRACE`` seconds), the cells still queued are written, and this process exits.

Being untraced, this process is also where cells are recorded (``roar_kernel.recording``):
the kernel hands each finished cell over and replies at once.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence

from roar import config as config_mod
from roar.errors import RoarError
from roar.tracing.selection import TRACED_BY_ENV
from roar.workspace import find_workspace

BACKEND_ENV = "ROAR_KERNEL_BACKEND"  # which native backend traces the kernel
FALLBACK_ENV = "ROAR_KERNEL_FALLBACK"  # why none does (the kernel uses audit hooks)
TRACER_ENV = "ROAR_KERNEL_TRACER"  # ask for a backend (auto, ebpf, preload, ptrace, audit)
LAUNCHER_ENV = "ROAR_KERNEL_LAUNCHER_PID"
CLIENT_GONE_GRACE = 10.0  # seconds a kernel whose client has gone gets to hand over and exit


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    inner = [sys.executable, "-m", "roar_kernel.kernel", *args]
    env = {**os.environ, LAUNCHER_ENV: str(os.getpid())}
    env.pop(BACKEND_ENV, None)
    env.pop(FALLBACK_ENV, None)
    kernel = _Kernel()
    _watch_client(kernel)
    with _recording_service(env):
        backend, why_not = choose_backend(os.getcwd())
        if backend is not None:
            code = _run_traced(inner, env, backend, kernel)
            if code is not None:
                return code
            why_not = f"the {backend} backend could not start the kernel"
        if kernel.orphaned:
            return 1
        env[FALLBACK_ENV] = why_not or "no native tracer backend is available"
        return _run_untraced(inner, env, kernel)


class _Kernel:
    """The kernel process this launcher runs, for stopping it when the client has gone."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.orphaned = False  # the client is gone
        self._lock = threading.Lock()

    def started(self, pid: int) -> None:
        with self._lock:
            self.pid = pid
            orphaned = self.orphaned
        if orphaned:  # the client went while the kernel was starting
            self.stop()

    def ended(self) -> None:
        with self._lock:
            self.pid = None

    def stop(self, grace: float = CLIENT_GONE_GRACE) -> None:
        """SIGTERM (the kernel hands over its last cell, then exits); SIGKILL after ``grace``."""
        with self._lock:
            self.orphaned = True
            pid = self.pid
        if pid is None:
            return
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._lock:
                if self.pid != pid:
                    return
            time.sleep(0.05)
        _signal(pid, signal.SIGKILL)


def _watch_client(kernel: _Kernel) -> None:
    """Stop the kernel once the process that started this one is gone, as ipykernel's parent
    poller would: only when the client set ``JPY_PARENT_PID`` (jupyter_client does)."""
    handle = int(os.environ.get("JPY_PARENT_PID") or 0)
    parent = os.getppid()
    if handle in (0, 1) or parent == 1:
        return

    def watch() -> None:
        _wait_for_exit_of(parent)
        kernel.stop()

    threading.Thread(target=watch, name="roar-client-watch", daemon=True).start()


def _wait_for_exit_of(parent: int) -> None:
    """Return once ``parent`` has exited (this process then has another parent)."""
    try:
        fd = os.pidfd_open(parent)
    except (AttributeError, OSError):  # no pidfd_open (Linux < 5.3, other systems): poll
        fd = None
    if fd is not None:
        try:
            if os.getppid() == parent:  # else it went before the pidfd was opened
                select.select([fd], [], [])
        finally:
            os.close(fd)
        return
    while os.getppid() == parent:
        time.sleep(1.0)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signum)


@contextlib.contextmanager
def _recording_service(env: dict[str, str]) -> Iterator[None]:
    """Record the kernel's cells here; when the kernel has exited, write what is still queued."""
    from roar_kernel.recording import RECORDER_ENV, RecordingService

    try:
        service = RecordingService()
    except OSError as exc:  # the kernel then records its cells itself
        print(f"roar: cells are recorded in the kernel ({exc}).", file=sys.stderr)
        env.pop(RECORDER_ENV, None)
        yield
        return
    env[RECORDER_ENV] = service.path
    try:
        yield
    finally:
        if not service.drain():
            with contextlib.suppress(OSError):  # stderr may have gone with the client
                print(
                    "roar: the kernel's last cells could not all be recorded in time.",
                    file=sys.stderr,
                )
        service.close()


def choose_backend(cwd: str) -> tuple[str | None, str | None]:
    """(backend, None) or (None, why no native backend can trace the kernel)."""
    from roar.tracing.selection import choose

    requested = os.environ.get(TRACER_ENV) or None
    if requested == "audit":
        return None, f"{TRACER_ENV}=audit was set"
    configured = None
    ws = find_workspace(cwd)
    if ws is not None:
        try:
            configured = config_mod.load(ws.config_path).get("tracer.backend")
        except RoarError:
            configured = None  # a broken config must not stop the kernel from starting
    try:
        return choose(requested, configured), None
    except RoarError as exc:
        return None, exc.message


def _run_traced(inner: list[str], env: dict[str, str], backend: str, kernel: _Kernel) -> int | None:
    import roar._native as _native

    env = {**env, BACKEND_ENV: backend, TRACED_BY_ENV: backend}
    try:
        proc = _native.spawn_traced(inner, env, os.getcwd(), backend, True)
    except (OSError, RuntimeError):
        return None
    _forward_signals(proc.pid)
    kernel.started(proc.pid)
    raw = None
    try:
        while raw is None:
            raw = proc.wait(0.5)  # wake up now and then so Python's signal handlers run
    finally:
        kernel.ended()
    import json

    summary = json.loads(raw)
    if summary.get("exec_error"):
        return None
    return int(summary.get("exit_code", 1))


def _run_untraced(inner: list[str], env: dict[str, str], kernel: _Kernel) -> int:
    child = subprocess.Popen(inner, env=env)
    _forward_signals(child.pid)
    kernel.started(child.pid)
    try:
        while True:
            try:
                return child.wait()
            except InterruptedError:
                continue
    finally:
        kernel.ended()


def _forward_signals(pid: int) -> None:
    """Pass on signals sent to this process alone; a process-group signal already arrived."""

    def forward(signum: int, _frame: object) -> None:
        try:
            if os.getpgid(pid) != os.getpgid(0) or signum != signal.SIGINT:
                os.kill(pid, signum)
        except OSError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)
