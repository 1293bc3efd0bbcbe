"""The environment a job ran with, and host facts, with secrets masked.

Masking happens before anything is stored: a value is replaced when its name or its shape
looks like a credential. The rules are deliberately broad: a masked harmless value costs
little, a stored token costs a lot.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from collections.abc import Mapping

MASK = "***"

_SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSW(OR)?D|PASSWD|PWD_|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|AUTH|COOKIE|SESSION|SIGNATURE|_KEY$|^KEY$|DSN)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"^(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|sk-[A-Za-z0-9_-]{16,}|xox[abpr]-[\w-]{10,}"
    r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}|hf_[A-Za-z0-9]{20,}|glpat-[\w-]{20,}"
    r"|eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,})"
)
_URL_PASSWORD = re.compile(r"(\w+://[^/\s:@]+:)([^@\s]+)(@)")
_NOISE = re.compile(
    r"^(LS_COLORS|TERMCAP|_|OLDPWD|SHLVL|PS1|PS2|PROMPT_COMMAND|DISPLAY|XAUTHORITY|DBUS_.*|SSH_AUTH_SOCK|SSH_AGENT_PID|GPG_AGENT_INFO|WINDOWID|COLORTERM|TERM_PROGRAM.*|VSCODE_.*|ROAR_INTERNAL_.*)$"
)


def looks_secret(name: str, value: str) -> bool:
    if name != "PWD" and _SECRET_NAME.search(name):
        return True
    if _SECRET_VALUE.match(value):
        return True
    return _high_entropy(value)


def _high_entropy(value: str) -> bool:
    """A long unbroken token of mixed letters and digits (e.g. an API key) but not a path."""
    if len(value) < 32 or "/" in value or " " in value or os.sep in value:
        return False
    if not re.fullmatch(r"[A-Za-z0-9+_=.-]+", value):
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes >= 3 or (classes >= 2 and len(value) >= 40 and not value.isdigit())


def mask_value(name: str, value: str) -> str:
    if looks_secret(name, value):
        return MASK
    return _URL_PASSWORD.sub(r"\1" + MASK + r"\3", value)


def recorded_environment(env: Mapping[str, str], *, mask: bool = True) -> dict[str, str]:
    """The variables worth keeping for a job, secrets masked."""
    kept = {k: v for k, v in env.items() if not _NOISE.match(k)}
    if not mask:
        return dict(sorted(kept.items()))
    return {k: mask_value(k, v) for k, v in sorted(kept.items())}


def mask_argv(argv: list[str]) -> list[str]:
    """Mask `--token=…`-style arguments and secret-shaped values in a command line."""
    masked: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            masked.append(MASK)
            hide_next = False
            continue
        if arg.startswith("-") and "=" in arg:
            flag, value = arg.split("=", 1)
            masked.append(
                f"{flag}={MASK}" if looks_secret(flag.lstrip("-").replace("-", "_"), value) else arg
            )
        elif arg.startswith("--") and _SECRET_NAME.search(arg.lstrip("-").replace("-", "_")):
            masked.append(arg)
            hide_next = True
        else:
            masked.append(
                MASK if _SECRET_VALUE.match(arg) else _URL_PASSWORD.sub(r"\1" + MASK + r"\3", arg)
            )
    return masked


@functools.lru_cache(maxsize=1)
def host_facts() -> dict:
    """OS, CPU, memory and GPUs, read from the kernel's files (no subprocesses).

    Read once per process (a notebook kernel records many jobs); treat the result as read-only.
    """
    uname = platform.uname()
    facts: dict = {
        "hostname": uname.node,
        "os": {"system": uname.system, "release": uname.release, "machine": uname.machine},
        "python": platform.python_version(),
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
