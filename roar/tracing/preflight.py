"""Is each tracer backend usable on this host, and if not, exactly why?

``quick(backend)`` costs well under a millisecond per backend (it reads a few /proc and /sys
files, asks the native module whether the backend was built, and pokes the eBPF service's
socket); ``roar run --tracer auto`` uses it. ``deep(backend)`` adds the slow, certain check:
it traces a probe command and looks for the probe's file read in the summary.
"""

from __future__ import annotations

import os
from pathlib import Path

from roar.records import field, record
from roar.tracing import ebpf_service

BACKENDS = ("ebpf", "preload", "ptrace")
AUTO_ORDER = BACKENDS

CAP_SYS_PTRACE = 19
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39


@record
class Check:
    """One fact about the host, and whether it is what the backend needs."""

    name: str
    ok: bool
    detail: str


@record
class Readiness:
    backend: str
    ready: bool
    reason: str
    fix: str = ""
    checks: list[Check] = field(default_factory=list)


def quick(backend: str) -> Readiness:
    checks = _CHECKS[backend]()
    return _verdict(backend, checks)


def deep(backend: str) -> Readiness:
    """``quick`` plus tracing a probe: a backend is ready only if it really saw the probe's read."""
    result = quick(backend)
    if not result.ready:
        return result
    probe = _probe(backend)
    result.checks.append(probe)
    return _verdict(backend, result.checks)


def _verdict(backend: str, checks: list[Check]) -> Readiness:
    failed = [c for c in checks if not c.ok]
    if not failed:
        return Readiness(backend, True, "ready", checks=checks)
    first = failed[0]
    return Readiness(backend, False, first.detail, fix_for(backend, first.name), checks)


def fix_for(backend: str, check: str) -> str:
    """What the user can do when ``check`` fails for ``backend`` ("" when nothing)."""
    return _FIXES.get((backend, check), "")


# --- host facts -------------------------------------------------------------------------------


def kernel_version() -> tuple[int, int]:
    """(major, minor) of the running kernel, (0, 0) when its release string says otherwise."""
    major, _, rest = os.uname().release.partition(".")
    minor = rest.split(".", 1)[0].split("-", 1)[0]
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else (0, 0)


def effective_caps() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def has_cap(cap: int) -> bool:
    return os.geteuid() == 0 or bool(effective_caps() >> cap & 1)


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _built(backend: str) -> Check:
    try:
        import roar._native as native
    except ImportError as exc:
        return Check("built", False, f"roar's native module is missing ({exc})")
    built, why = native.backend_availability(backend)
    return Check("built", built, "included in this build" if built else why)


# --- per backend ------------------------------------------------------------------------------


def _ptrace_checks() -> list[Check]:
    checks = [_built("ptrace")]
    scope = _read_int("/proc/sys/kernel/yama/ptrace_scope")
    if scope is None:
        checks.append(Check("ptrace_scope", True, "Yama is not active"))
    elif scope == 3:
        checks.append(
            Check("ptrace_scope", False, "kernel.yama.ptrace_scope is 3 (ptrace disabled)")
        )
    elif scope == 2 and not has_cap(CAP_SYS_PTRACE):
        checks.append(
            Check(
                "ptrace_scope", False, "kernel.yama.ptrace_scope is 2 and CAP_SYS_PTRACE is missing"
            )
        )
    else:
        checks.append(Check("ptrace_scope", True, f"kernel.yama.ptrace_scope is {scope}"))
    return checks


def _preload_checks() -> list[Check]:
    checks = [_built("preload")]
    system = os.uname().sysname
    if system != "Linux":
        checks.append(Check("platform", False, f"preload is built for Linux only, not {system}"))
    return checks


def _ebpf_checks() -> list[Check]:
    checks = [_built("ebpf")]
    version = kernel_version()
    checks.append(
        Check("kernel", version >= (5, 17), f"kernel {os.uname().release} (needs 5.17 or newer)")
    )
    btf = Path("/sys/kernel/btf/vmlinux").exists()
    checks.append(
        Check(
            "btf",
            btf,
            "BTF at /sys/kernel/btf/vmlinux" if btf else "no kernel BTF (/sys/kernel/btf/vmlinux)",
        )
    )
    if ebpf_service.is_running():
        checks.append(
            Check("service", True, f"eBPF service running at {ebpf_service.socket_path()}")
        )
        return checks
    privileged = has_cap(CAP_SYS_ADMIN) or (has_cap(CAP_BPF) and has_cap(CAP_PERFMON))
    checks.append(
        Check(
            "privileges",
            privileged,
            "root (the eBPF service starts on first use)"
            if os.geteuid() == 0
            else (
                "CAP_BPF and CAP_PERFMON present"
                if privileged
                else "the eBPF service is not running and this user lacks CAP_BPF and CAP_PERFMON"
            ),
        )
    )
    paranoid = _read_int("/proc/sys/kernel/perf_event_paranoid")
    if paranoid is not None and paranoid > 2 and not has_cap(CAP_PERFMON):
        checks.append(
            Check(
                "perf_event_paranoid",
                False,
                f"perf_event_paranoid={paranoid} (needs <= 2 or CAP_PERFMON)",
            )
        )
    return checks


_CHECKS = {"ebpf": _ebpf_checks, "preload": _preload_checks, "ptrace": _ptrace_checks}

_FIXES = {
    ("ebpf", "built"): "Install clang and libbpf-dev, then reinstall roar (pip install .).",
    ("ebpf", "kernel"): "Use another backend: roar tracer use preload",
    ("ebpf", "btf"): "Use a kernel built with CONFIG_DEBUG_INFO_BTF, or: roar tracer use preload",
    (
        "ebpf",
        "privileges",
    ): "Run `sudo roar tracer enable ebpf` once to start the eBPF service, or: roar tracer use preload",
    (
        "ebpf",
        "perf_event_paranoid",
    ): "sudo sysctl kernel.perf_event_paranoid=2, or start the service as root: sudo roar tracer enable ebpf",
    ("ebpf", "probe"): "Run `roar tracer enable ebpf` (as root), or: roar tracer use preload",
    ("preload", "built"): "Reinstall roar with a C compiler present (pip install .).",
    ("preload", "probe"): "Use another backend: roar tracer use ptrace",
    (
        "ptrace",
        "ptrace_scope",
    ): "sudo sysctl kernel.yama.ptrace_scope=1, or use another backend: roar tracer use preload",
    (
        "ptrace",
        "probe",
    ): "ptrace may be blocked by a container seccomp profile; use another backend: roar tracer use preload",
}


def _probe(backend: str) -> Check:
    """Trace a shell reading a fresh file (silently) and check the backend reported the read."""
    import json
    import tempfile  # only the probe needs it (and random): keep it off `roar run`'s path

    import roar._native as native

    with tempfile.TemporaryDirectory(prefix="roar-probe-") as tmp:
        target = Path(tmp) / "probe.txt"
        target.write_text("roar tracer probe\n")
        if backend == "ebpf":
            try:
                ebpf_service.ensure_running()
            except ebpf_service.ServiceError as exc:
                return Check("probe", False, str(exc))
        try:
            argv = ["sh", "-c", 'read -r line < "$1"', "probe", str(target)]
            proc = native.spawn_traced(argv, None, tmp, backend)
            raw = proc.wait(30.0)
        except (OSError, RuntimeError, ValueError) as exc:
            return Check("probe", False, f"tracing a probe failed: {exc}")
        if raw is None:
            return Check("probe", False, "the probe did not finish within 30 s")
        summary = json.loads(raw)
        seen = any(f["path"] == str(target.resolve()) and f.get("read") for f in summary["files"])
        return Check(
            "probe",
            seen,
            "traced a probe and saw its read"
            if seen
            else "traced a probe but did not see its file read",
        )
