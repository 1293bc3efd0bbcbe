"""What roar's telemetry keeps locally and what it sends: the state, the payload, the status.

Under ``$XDG_CACHE_HOME/roar/telemetry/`` (``~/.cache``):
  counts        one line per counted command (hook.py): ``DAY COMMAND OUTCOME TRACER``
  ids           ``INSTALL_ID NEXT_EVENT_ID NEXT_SEQUENCE``: random, made here, never derived
                from the machine or the user
  pending/      payloads built and not yet accepted by the server (the same event id each
                retry, so the server stores each once); the oldest beyond ``KEEP`` are dropped
  last-upload   its mtime: when the uploader last started
The payload has exactly the allowlisted fields (roar/telemetry/allowlist.py): counters and
coarse platform facts, never a path, argument, environment value, name or host.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from roar import __version__
from roar.telemetry import allowlist, hook

KEEP = 20
API_PATH = "/api/v1/telemetry/roar"


def folder(env: Any = None) -> Path:
    return Path(hook.cache_dir(os.environ if env is None else env))


def new_id() -> str:
    """A random (version 4) UUID, from os.urandom."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def read_ids(where: Path) -> tuple[str, str, int]:
    """(install id, next event id, next sequence), made and saved when missing or damaged."""
    try:
        install_id, event_id, seq = (where / "ids").read_text().split()
        return install_id, event_id, int(seq)
    except (OSError, ValueError):
        ids = (new_id(), new_id(), 1)
        _write_ids(where, ids)
        return ids


def _write_ids(where: Path, ids: tuple[str, str, int]) -> None:
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = where / f".ids.{os.getpid()}"
    tmp.write_text(" ".join(map(str, ids)) + "\n")
    tmp.replace(where / "ids")


def counted(where: Path) -> list[str]:
    try:
        return (where / "counts").read_text().splitlines()
    except OSError:
        return []


def build(lines: list[str], ids: tuple[str, str, int], cwd: str | None = None) -> dict[str, Any]:
    """The payload for these counted lines: the allowlisted fields, in allowlist order."""
    commands: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    tracers: Counter[str] = Counter()
    days: list[int] = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or not parts[0].isdigit():
            continue  # a torn line (a full disk): skipped, not guessed
        day, command, outcome, tracer = parts
        days.append(int(day))
        commands[command if command in allowlist.COMMANDS else "other"] += 1
        if command in ("run", "build") and outcome in ("success", "failure"):
            outcomes[f"{command}_{outcome}"] += 1
            tracers[tracer if tracer in allowlist.TRACERS else "default"] += 1
    today = int(time.time()) // 86400
    payload = {
        "install_id": ids[0],
        "event_id": ids[1],
        "sequence": ids[2],
        "period_start": _date(min(days, default=today)),
        "period_end": _date(max(days, default=today)),
        "roar_version": _version(),
        **platform_facts(),
        "commands": dict(sorted(commands.items())),
        "outcomes": dict(sorted(outcomes.items())),
        "tracers": dict(sorted(tracers.items())),
        "features": features(cwd),
    }
    assert tuple(payload) == allowlist.FIELDS
    return payload


def _date(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def _version() -> str:
    v = "".join(c if c.isalnum() or c in ".+-" else "-" for c in __version__)[:40]
    return v or "unknown"


# ------------------------------------------------------------------ coarse platform facts

_ARCH = {
    "x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64",
    "i386": "x86", "i686": "x86", "x86": "x86", "armv7l": "arm", "armv6l": "arm",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}  # fmt: skip


def platform_facts() -> dict[str, Any]:
    return {
        "os": _os_family(),
        "arch": _ARCH.get(_machine().lower(), "other"),
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "shell": _shell(),
        "installer": installer(),
        "containerized": containerized(),
    }


def _os_family() -> str:
    p = sys.platform
    if p.startswith("linux"):
        return "linux"
    if p == "darwin":
        return "darwin"
    if p in ("win32", "cygwin"):
        return "windows"
    return "freebsd" if p.startswith("freebsd") else "other"


def _machine() -> str:
    try:
        return os.uname().machine
    except AttributeError:  # pragma: no cover - Windows
        import platform

        return platform.machine()


def _shell() -> str:
    name = os.path.basename(os.environ.get("SHELL", "")).lower()
    return name if name in allowlist.SHELLS else "other"


def installer() -> str:
    """How roar was installed: editable (from a checkout), pipx, or the INSTALLER record."""
    try:
        from importlib.metadata import distribution

        dist = distribution("roar")
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
        if direct.get("dir_info", {}).get("editable"):
            return "editable"
        if "pipx" in Path(sys.prefix).parts:
            return "pipx"
        if (Path(sys.prefix) / "conda-meta").is_dir():
            return "conda"
        name = (dist.read_text("INSTALLER") or "").strip().lower()
        return name if name in allowlist.INSTALLERS else ("other" if name else "unknown")
    except Exception:
        return "unknown"


def containerized() -> bool:
    if os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"):
        return True
    if os.environ.get("container"):
        return True
    try:
        cgroup = Path("/proc/1/cgroup").read_text()
    except OSError:
        return False
    return any(w in cgroup for w in ("docker", "kubepods", "containerd", "lxc", "podman"))


def features(cwd: str | None = None) -> dict[str, bool]:
    """Coarse capability flags: is the native extension there, is a registry configured, which
    tracer backends pass their quick readiness check (no probe run)."""
    from importlib.util import find_spec

    out = {"rust_extension": find_spec("roar._native") is not None}
    try:
        from roar.registry.client import configured_url

        cfg = hook.project_config(cwd)
        out["glaas_configured"] = configured_url(Path(cfg) if cfg else None) is not None
    except Exception:
        out["glaas_configured"] = False
    for backend in ("ebpf", "preload", "ptrace"):
        try:
            from roar.tracing import preflight

            out[f"{backend}_ready"] = bool(preflight.quick(backend).ready)
        except Exception:
            out[f"{backend}_ready"] = False
    return out


# ------------------------------------------------------------------ state, status, endpoint


def preview(cwd: str | None = None) -> dict[str, Any]:
    """The next payload, exactly as it would be sent now (ids included)."""
    where = folder()
    return build(counted(where), read_ids(where), cwd)


def take(cwd: str | None = None) -> Path | None:
    """Turn the counted lines into a pending payload (and advance the ids); None if nothing
    was counted. The counts file is renamed first, so commands counting meanwhile start a new
    one and nothing is counted twice or lost."""
    where = folder()
    counts, taking = where / "counts", where / f"counts.{os.getpid()}.taking"
    try:
        counts.replace(taking)
    except FileNotFoundError:
        return None
    lines = taking.read_text().splitlines()
    ids = read_ids(where)
    payload = build(lines, ids, cwd)
    pending = where / "pending"
    pending.mkdir(exist_ok=True, mode=0o700)
    out = pending / f"{ids[2]:010d}.json"
    out.write_text(json.dumps(payload, separators=(",", ":")))
    _write_ids(where, (ids[0], new_id(), ids[2] + 1))
    taking.unlink()
    for old in sorted(pending.glob("*.json"))[:-KEEP]:
        old.unlink()
    return out


def pending_files() -> list[Path]:
    return sorted((folder() / "pending").glob("*.json"))


def endpoint(cwd: str | None = None) -> str:
    """telemetry.endpoint, else the configured GLaaS URL (ROAR_GLAAS_URL or glaas.url) plus
    /api/v1/telemetry/roar, else glaas.url's default plus the same."""
    from roar import config
    from roar.registry.client import configured_url

    found = hook.project_config(cwd)
    path = Path(found) if found else None
    cfg = config.load(path)
    explicit = str(cfg.get("telemetry.endpoint") or "")
    if explicit.startswith(("http://", "https://")):  # `roar config set` checks; a hand edit not
        return explicit
    base = configured_url(path) or str(cfg.get("glaas.url"))
    return base.rstrip("/") + API_PATH


def state(cwd: str | None = None) -> dict[str, Any]:
    """Whether telemetry is on here and why, and what is kept locally."""
    env = os.environ
    where = folder()
    reason = hook.opted_out(env)
    if reason:
        reason = f"{reason} in the environment (environment opt-outs win over config)"
    elif os.path.exists(hook.disabled_marker(env)):
        reason = "disabled with `roar telemetry --disable`"
    elif hook.project_disabled(hook.project_config(cwd)):
        reason = "telemetry.enabled = false in this project's config"
    else:
        reason = hook.suppressed(env)
    try:
        install_id: str | None = (where / "ids").read_text().split()[0]
    except (OSError, IndexError):
        install_id = None
    try:
        last: float | None = (where / "last-upload").stat().st_mtime
    except OSError:
        last = None
    return {
        "enabled": reason is None,
        "reason": reason,
        "install_id": install_id,
        "endpoint": endpoint(cwd),
        "counted": len(counted(where)),
        "pending_events": len(pending_files()),
        # the uploader starts with the first command counted this long after the stamp (the
        # first count sets it, each start resets it)
        "next_upload_after": None
        if last is None
        else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last + _every(env))),
        "cache_dir": str(where),
        "disabled_file": hook.disabled_marker(env),
    }


def _every(env: Any) -> float:
    try:
        return float(env.get(hook.EVERY_ENV, hook.UPLOAD_EVERY))
    except ValueError:
        return float(hook.UPLOAD_EVERY)


def disable() -> None:
    """The global opt-out (the file in the config dir); what was counted is deleted."""
    marker = Path(hook.disabled_marker(os.environ))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("roar telemetry is disabled (roar telemetry --enable removes this file)\n")
    where = folder()
    for path in [where / "counts", *pending_files()]:
        path.unlink(missing_ok=True)


def enable() -> None:
    Path(hook.disabled_marker(os.environ)).unlink(missing_ok=True)
