"""Which backend traces this run: the one asked for, or under ``auto`` the first ready one."""

from __future__ import annotations

from roar.errors import RoarError
from roar.tracing import ebpf_service, preflight

CHOICES = ("auto", *preflight.BACKENDS)


def validate(choice: str) -> str:
    name = choice.strip().lower()
    if name not in CHOICES:
        raise RoarError(
            f"Unknown tracer backend: {choice}.", hint=f"Choose one of: {', '.join(CHOICES)}."
        )
    return name


def choose(requested: str | None, configured: str | None) -> str:
    """The backend to use, after a preflight of a fraction of a millisecond per backend."""
    choice = validate(requested or configured or "auto")
    if choice != "auto":
        return _require(choice)
    for backend in preflight.AUTO_ORDER:
        if preflight.quick(backend).ready and _started(backend):
            return backend
    raise RoarError(
        "Tracer preflight failed for 'auto': no tracer backend is ready on this host.",
        hint="Run `roar tracer` to see why each backend is not ready.",
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


def _started(backend: str) -> bool:
    if backend != "ebpf":
        return True
    try:
        ebpf_service.ensure_running()
    except ebpf_service.ServiceError:
        return False
    return True


def preflight_error(backend: str, reason: str, fix: str = "") -> RoarError:
    hint = f"Run `roar tracer check {backend}` for the exact cause."
    return RoarError(
        f"Tracer preflight failed for '{backend}': {reason}.", hint=f"{hint} {fix}".strip()
    )
