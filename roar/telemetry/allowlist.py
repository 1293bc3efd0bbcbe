"""The names roar's telemetry may send: the seed's allowlist ("Product Telemetry"), spelled out.

The server (glaas/service/telemetry.py) refuses any other name with a 422; a test holds the
two lists equal. A command not listed here is counted as "other", never by its name.
"""

from __future__ import annotations

FIELDS = (
    "install_id", "event_id", "sequence", "period_start", "period_end",  # ids, coarse dates
    "roar_version",
    "os", "arch", "python", "shell", "installer", "containerized",  # coarse platform
    "commands", "outcomes", "tracers", "features",  # allowlisted counters and flags
)  # fmt: skip
OS_FAMILIES = ("linux", "darwin", "windows", "freebsd", "other")
ARCHES = ("x86_64", "arm64", "x86", "arm", "ppc64le", "s390x", "riscv64", "other")
SHELLS = ("bash", "zsh", "fish", "sh", "dash", "ksh", "tcsh", "csh", "nu", "pwsh", "other")
INSTALLERS = ("pip", "uv", "pipx", "conda", "poetry", "editable", "other", "unknown")
COMMANDS = (
    "init", "run", "build", "log", "status", "dag", "show", "lineage", "diff", "inputs",
    "reproduce", "register", "make", "workflow", "pop", "reset", "session", "label", "config",
    "env", "tracer", "kernel", "telemetry", "get", "put", "auth", "login", "logout", "scope",
    "other",
)  # fmt: skip
OUTCOMES = ("run_success", "run_failure", "build_success", "build_failure")
TRACERS = ("default", "auto", "ebpf", "preload", "ptrace")  # default: none asked for
FEATURES = ("rust_extension", "glaas_configured", "ebpf_ready", "preload_ready", "ptrace_ready")
