"""Attach mode: trace a process that is already running — typically this very process, an
IPython kernel running a ``%%roar`` cell — from now until ``detach()``, including the threads it
creates and every process it starts meanwhile.

Two backends can attach (``rust/roar-ebpf/README.md``, ``rust/roar-ptrace/README.md``):

* **ebpf**: the long-lived loader service adds the process's threads to its traced set; detaching
  sends what was recorded and removes them. Costs what eBPF always costs (close to nothing).
* **ptrace**: a helper process (``python -m roar.tracing.attach_helper <pid>``, started by
  ``roar._native.attach_traced``) seizes every thread. No seccomp filter can be added to a running
  process, so every syscall of the tree stops twice: much slower than ``roar run``'s seccomp
  ptrace on syscall-heavy code, free on pure computation.

Preload cannot attach (it is loaded when a process starts). When nothing can attach, the roar
kernel (``roar kernel install``) traces a notebook from its first instruction instead.

The summary is the same access summary as every other mode's (``roar.tracing.run.Summary``),
classified by the same shared summarizer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from roar.errors import RoarError
from roar.tracing import ebpf_service, preflight
from roar.tracing.run import Summary, parse_summary

ATTACH_ORDER = ("ebpf", "ptrace")
_LABELS = {"ebpf": "eBPF", "ptrace": "ptrace"}
KERNEL_HINT = (
    "Use the roar kernel instead (`roar kernel install`, then pick it in Jupyter): "
    "it traces the notebook from the start and needs no attaching."
)


def attachable_backends(pid: int | None = None) -> list[tuple[str, str | None]]:
    """``(backend, why it cannot attach to pid here, or None)`` for ebpf then ptrace.

    Cheap (no tracing, no service start): ``pid`` defaults to this process.
    """
    target = os.getpid() if pid is None else pid
    return [(name, _why_not(name, target)) for name in ATTACH_ORDER]


def choose_attach(requested: str | None = None) -> str:
    """The backend that attaches to this process: the one asked for, or under ``auto``/None the
    first that can. Starts the eBPF service when eBPF is chosen. Raises ``RoarError`` saying why
    nothing can attach and what to do."""
    name = (requested or "auto").strip().lower()
    if name == "preload":
        raise RoarError(
            "The preload tracer cannot attach to a running process (it is loaded when a process starts).",
            hint=f"Use --tracer ebpf or ptrace, or auto. {KERNEL_HINT}",
        )
    if name not in ("auto", *ATTACH_ORDER):
        raise RoarError(
            f"Unknown tracer backend: {requested}.",
            hint="Choose one of: auto, ebpf, ptrace.",
        )
    candidates = ATTACH_ORDER if name == "auto" else (name,)
    refused: list[tuple[str, str]] = []
    for backend, why in attachable_backends():
        if backend not in candidates:
            continue
        if why is None and backend == "ebpf":
            try:
                ebpf_service.ensure_running()
            except ebpf_service.ServiceError as exc:
                why = str(exc)
        if why is None:
            return backend
        refused.append((backend, why))
    fixes = [f for f in (preflight.quick(b).fix for b, _ in refused) if f]
    hint = " ".join([*fixes[:1], KERNEL_HINT])
    if name == "auto":
        reasons = "; ".join(f"{_LABELS[b]}: {why}" for b, why in refused)
        raise RoarError(
            f"No tracer backend can attach to a running process here: {reasons}.", hint=hint
        )
    raise RoarError(
        f"The {_LABELS[name]} tracer cannot attach to a running process here: {refused[0][1]}.",
        hint=hint,
    )


class AttachedTrace:
    """A running process traced since ``start``; ``detach()`` returns the access summary.

    Usable as a context manager (leaving it detaches if ``detach`` was not called).
    """

    def __init__(self, native_trace: object, pid: int, backend: str):
        self._trace = native_trace
        self.pid = pid
        self.backend = backend

    @classmethod
    def start(cls, pid: int | None = None, backend: str | None = None) -> AttachedTrace:
        """Attach ``backend`` (default: ``choose_attach``) to ``pid`` (default: this process)."""
        import roar._native as native

        target = os.getpid() if pid is None else pid
        name = choose_attach(backend) if backend in (None, "auto") else backend
        if name == "ebpf":
            try:
                ebpf_service.ensure_running()
            except ebpf_service.ServiceError as exc:
                raise RoarError(
                    f"Cannot attach the eBPF tracer to process {target}: {exc}.",
                    hint=preflight.fix_for("ebpf", "probe"),
                ) from exc
        try:
            trace = native.attach_traced(target, name)
        except (OSError, RuntimeError, ValueError) as exc:
            raise RoarError(_sentence(exc), hint=KERNEL_HINT) from exc
        return cls(trace, target, name)

    @property
    def attached(self) -> bool:
        return bool(self._trace.attached())  # type: ignore[attr-defined]

    def detach(self, timeout: float | None = None) -> Summary:
        """Stop tracing; the summary of everything the traced tree did since ``start``."""
        return parse_summary(self.detach_json(timeout))

    def detach_json(self, timeout: float | None = None) -> dict[str, Any]:
        """``detach``, with the summary as its documented JSON rather than objects."""
        try:
            raw = self._trace.detach(timeout)  # type: ignore[attr-defined]
        except (OSError, RuntimeError, ValueError) as exc:
            raise RoarError(_sentence(exc)) from exc
        summary: dict[str, Any] = json.loads(raw)
        return summary

    def __enter__(self) -> AttachedTrace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.attached:
            self.detach()

    def __repr__(self) -> str:
        return f"<AttachedTrace pid={self.pid} backend={self.backend}>"


def _sentence(exc: BaseException) -> str:
    text = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _why_not(backend: str, pid: int) -> str | None:
    try:
        import roar._native as native
    except ImportError as exc:
        return f"roar's native module is missing ({exc})"
    if backend not in native.ATTACH_BACKENDS:
        return "this roar build cannot attach with it"
    readiness = preflight.quick(backend)
    if not readiness.ready:
        return readiness.reason
    if not Path(f"/proc/{pid}").exists():
        return f"no process {pid}"
    if backend == "ptrace":
        return _ptrace_why_not(pid)
    return None


def _ptrace_why_not(pid: int) -> str | None:
    if preflight.kernel_version() < (5, 3):
        return "attaching needs Linux 5.3 or newer (PTRACE_GET_SYSCALL_INFO)"
    tracer = _status_int(pid, "TracerPid:")
    if tracer:
        return f"process {pid} is already traced by process {tracer} (a debugger, or `roar run --tracer ptrace`)"
    scope = _read_int("/proc/sys/kernel/yama/ptrace_scope")
    if scope == 1 and pid != os.getpid() and not preflight.has_cap(preflight.CAP_SYS_PTRACE):
        # The helper is our child: Yama lets it trace its descendants, or a process that names
        # it with prctl(PR_SET_PTRACER), which roar does only for this process.
        return (
            f"kernel.yama.ptrace_scope is 1, so the ptrace helper may trace only this process, "
            f"not process {pid}"
        )
    return None


def _status_int(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
