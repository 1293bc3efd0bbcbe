"""The environment a job ran with, and host facts, with secrets masked.

Masking happens before anything is stored: a value is replaced when its name or its shape
looks like a credential. The rules live in roar/record/secrets.py (re-exported here for the callers
that mask argv and values); they are deliberately broad: a masked harmless value costs little,
a stored token costs a lot.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping

from roar.record.secrets import MASK, looks_secret, mask_argv, mask_value

__all__ = ["MASK", "host_facts", "looks_secret", "mask_argv", "mask_value", "recorded_environment"]

# Shell and desktop plumbing that says nothing about a job. Plain sets rather than a regular
# expression: `roar run` imports this module, and compiling a pattern costs start-up time.
_NOISE_NAMES = frozenset(
    "LS_COLORS TERMCAP _ OLDPWD SHLVL PS1 PS2 PROMPT_COMMAND DISPLAY XAUTHORITY SSH_AUTH_SOCK"
    " SSH_AGENT_PID GPG_AGENT_INFO WINDOWID COLORTERM".split()
)
_NOISE_PREFIXES = ("DBUS_", "TERM_PROGRAM", "VSCODE_", "ROAR_INTERNAL_")


def _is_noise(name: str) -> bool:
    return name in _NOISE_NAMES or name.startswith(_NOISE_PREFIXES)


def recorded_environment(env: Mapping[str, str], *, mask: bool = True) -> dict[str, str]:
    """The variables worth keeping for a job, secrets masked."""
    kept = {k: v for k, v in env.items() if not _is_noise(k)}
    if not mask:
        return dict(sorted(kept.items()))
    return {k: mask_value(k, v) for k, v in sorted(kept.items())}


@functools.lru_cache(maxsize=1)
def host_facts() -> dict:
    """OS, CPU, memory and GPUs, read from the kernel's files (no subprocesses).

    Read once per process (a notebook kernel records many jobs); treat the result as read-only.
    """
    # os.uname() and sys.version give what platform.uname() and platform.python_version()
    # would, without importing `platform` (it compiles a dozen regular expressions on import).
    uname = os.uname()
    facts: dict = {
        "hostname": uname.nodename,
        "os": {"system": uname.sysname, "release": uname.release, "machine": uname.machine},
        "python": sys.version.split()[0],
        "cpu": {"count": os.cpu_count(), "model": _cpu_model()},
    }
    mem = _meminfo_total_kib()
    if mem:
        facts["memory_bytes"] = mem * 1024
    gpus = _nvidia_gpus()
    if gpus:
        facts["gpu"] = gpus
    return facts


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("model name", "Model", "Hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _meminfo_total_kib() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _nvidia_gpus() -> list[dict]:
    root = "/proc/driver/nvidia/gpus"
    gpus: list[dict] = []
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return gpus
    for entry in entries:
        try:
            with open(
                os.path.join(root, entry, "information"), encoding="utf-8", errors="replace"
            ) as fh:
                info = dict(line.split(":", 1) for line in fh if ":" in line)
            gpus.append({"model": info.get("Model", "").strip(), "bus": entry})
        except OSError:
            continue
    return gpus
