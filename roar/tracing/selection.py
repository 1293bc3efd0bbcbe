"""Which backend traces this run: the one asked for, or under ``auto`` the first ready one."""

from __future__ import annotations

import os

from roar.errors import RoarError
from roar.tracing import ebpf_service, preflight

CHOICES = ("auto", *preflight.BACKENDS)

# Set in the environment of everything roar traces: a roar started inside a traced tree (a
# `!roar run` in the roar kernel, a script that calls roar) must not pick a backend that
# cannot nest. eBPF traces each pid once and a ptraced process cannot be ptraced again;
# preload nests (the inner library replaces the outer one in the command it starts).
TRACED_BY_ENV = "ROAR_TRACED_BY"
NESTABLE = frozenset({"preload"})


def validate(choice: str) -> str:
    name = choice.strip().lower()
    if name not in CHOICES:
        raise RoarError(
            f"Unknown tracer backend: {choice}.", hint=f"Choose one of: {', '.join(CHOICES)}."
        )
    return name


def choose(requested: str | None, configured: str | None, notes: list[str] | None = None) -> str:
    """The backend to use, after a preflight of a fraction of a millisecond per backend.

    When ``auto`` passes over a backend whose preflight was fine but which could not start (the
    eBPF service failed), ``notes`` gets one line saying which backend traces instead and why:
    `roar tracer` shows that backend as ready, so a silent fallback would contradict it."""
    choice = validate(requested or configured or "auto")
    enclosing = os.environ.get(TRACED_BY_ENV)
    if choice == enclosing and choice not in NESTABLE:
        if requested:
            raise _nested_error(choice)
        choice = "auto"  # the project's default cannot nest here: pick another
    if choice != "auto":
        return _require(choice)
    passed_over: list[preflight.Readiness] = []
    for backend in preflight.AUTO_ORDER:
        if backend == enclosing and backend not in NESTABLE:
            continue
        if not preflight.quick(backend).ready:
            continue
        usable = readiness(backend)
        if usable.ready:
            if notes is not None:
                notes += [
                    f"auto: {r.backend} is not usable ({r.reason}), so {backend} traced this "
                    f"run; `roar tracer check {r.backend}` says more"
                    for r in passed_over
                ]
            return backend
        passed_over.append(usable)
    raise RoarError(
        "Tracer preflight failed for 'auto': no tracer backend is ready on this host.",
        hint="Run `roar tracer` to see why each backend is not ready.",
    )


def _nested_error(backend: str) -> RoarError:
    return RoarError(
        f"This command already runs under roar's {backend} tracer (for example in the roar "
        f"kernel), and {backend} cannot trace a process twice.",
        hint="In a notebook use `%roar run CMD`; elsewhere pick another backend with "
        "--tracer preload.",
    )


def _require(backend: str) -> str:
    readiness = preflight.quick(backend)
    if not readiness.ready:
        raise preflight_error(backend, readiness.reason, readiness.fix)
    if backend == "ebpf":
        try:
            ebpf_service.ensure_running()
        except ebpf_service.ServiceError as exc:
            raise preflight_error(backend, str(exc), preflight.fix_for("ebpf", "probe")) from exc
    return backend


def readiness(backend: str) -> preflight.Readiness:
    """Can a run use ``backend`` now? The quick preflight and, for eBPF, its service running
    (started as a run would start it). `roar tracer` and ``auto`` both go by this."""
    result = preflight.quick(backend)
    if not result.ready or backend != "ebpf":
        return result
    try:
        ebpf_service.ensure_running()
    except ebpf_service.ServiceError as exc:
        return preflight.Readiness(
            backend, False, f"its service cannot start: {exc}", preflight.fix_for("ebpf", "probe")
        )
    return result


def preflight_error(backend: str, reason: str, fix: str = "") -> RoarError:
    hint = f"Run `roar tracer check {backend}` for the exact cause."
    return RoarError(
        f"Tracer preflight failed for '{backend}': {reason}.", hint=f"{hint} {fix}".strip()
    )
