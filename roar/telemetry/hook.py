"""Count one roar command: the only telemetry code on a command's path (roar/cli/main.py).

Budget: well under a millisecond (``roar run`` starts in tens of milliseconds). So: nothing
imported but os, sys and time; no JSON, no uuid, no platform facts (those are gathered when a
payload is built, in ``roar telemetry`` or the background uploader). When telemetry is off or
suppressed, ``count`` only reads the environment (and, for the saved opt-outs, stats a file and
reads the project's config text). Otherwise it appends one short line to
``$XDG_CACHE_HOME/roar/telemetry/counts`` and, at most once per ``UPLOAD_EVERY`` seconds,
starts the uploader (``python -m roar.telemetry.upload``) detached, in its own session, with
its standard streams on /dev/null: the command neither waits for it nor sees it fail.

Environment:
  DO_NOT_TRACK=1, ROAR_NO_TELEMETRY=1   opt out; always win over saved config.
  CI, PYTEST_CURRENT_TEST (or pytest imported), ROAR_WORKER=1
                                        suppressed: CI, tests, and the worker processes roar
                                        starts for backends (Ray, OSMO) set ROAR_WORKER=1.
  ROAR_TELEMETRY_TEST=1                 TEST-ONLY: lift the CI/pytest/worker suppression so the
                                        tests can exercise the real path (never the opt-outs).
  ROAR_TELEMETRY_UPLOAD_EVERY=SECONDS   how often the uploader may start (default a day);
                                        the tests set 0.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

OPT_OUT_ENV = ("DO_NOT_TRACK", "ROAR_NO_TELEMETRY")
TEST_ENV = "ROAR_TELEMETRY_TEST"
WORKER_ENV = "ROAR_WORKER"
EVERY_ENV = "ROAR_TELEMETRY_UPLOAD_EVERY"
UPLOAD_EVERY = 24 * 3600
FALSE = ("", "0", "false", "no", "off")

# The names a line may carry (roar/telemetry/allowlist.py has the full lists; repeated here so
# counting imports nothing): anything else is counted as "other" or "default".
_COMMANDS = frozenset(
    "init run build log status dag show lineage diff inputs reproduce register make workflow "
    "pop reset session label config env tracer kernel telemetry get put auth login logout "
    "scope".split()
)
_TRACERS = frozenset(("auto", "ebpf", "preload", "ptrace"))


def _on(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in FALSE


def opted_out(env: os._Environ[str] | dict[str, str]) -> str | None:
    """The environment opt-out in force (``DO_NOT_TRACK=1``), or None."""
    for name in OPT_OUT_ENV:
        if _on(env.get(name)):
            return f"{name}={env[name]}"
    return None


def suppressed(env: os._Environ[str] | dict[str, str]) -> str | None:
    """Why telemetry is off here regardless of config (CI, pytest, a roar worker), or None."""
    if env.get(TEST_ENV) == "1":
        return None
    if _on(env.get("CI")):
        return "running in CI (CI is set)"
    if "PYTEST_CURRENT_TEST" in env or "pytest" in sys.modules:
        return "running under pytest"
    if _on(env.get(WORKER_ENV)):
        return f"a roar-managed worker ({WORKER_ENV} is set)"
    return None


def cache_dir(env: os._Environ[str] | dict[str, str]) -> str:
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "roar", "telemetry")


def disabled_marker(env: os._Environ[str] | dict[str, str]) -> str:
    """``roar telemetry --disable``'s file: in the config dir, so clearing caches keeps it."""
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "roar", "telemetry-disabled")


def project_config(start: str | None = None) -> str | None:
    """The nearest enclosing ``.roar/config.toml`` (roar.workspace's walk, without Path)."""
    here = os.path.abspath(start or os.getcwd())
    while True:
        candidate = os.path.join(here, ".roar", "config.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def project_disabled(path: str | None) -> bool:
    """``telemetry.enabled = false`` in the project's config. The text is looked at first: a
    config that never says "telemetry" (nearly all) is not parsed."""
    if path is None:
        return False
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    if "telemetry" not in text:
        return False
    try:
        from pathlib import Path

        from roar import config

        return config.load(Path(path)).get("telemetry.enabled") is False
    except Exception:  # an unreadable config: count nothing rather than guess
        return True


def count(args: argparse.Namespace, code: int) -> None:
    """Count the command ``args`` ran and how it ended. Never raises, never blocks."""
    try:
        env = os.environ
        if opted_out(env) or suppressed(env):
            return
        if os.path.exists(disabled_marker(env)) or project_disabled(project_config()):
            return
        _append(env, _line(args, code))
    except Exception:  # telemetry must never change what the command does
        pass


def _line(args: argparse.Namespace, code: int) -> str:
    command = getattr(args, "command", None)
    name = command if command in _COMMANDS else "other"
    outcome = tracer = "-"
    if name in ("run", "build"):
        outcome = "success" if code == 0 else "failure"
        asked = getattr(args, "tracer", None)
        tracer = asked if asked in _TRACERS else "default"
    return f"{int(time.time()) // 86400} {name} {outcome} {tracer}\n"


def _append(env: os._Environ[str] | dict[str, str], line: str) -> None:
    folder = cache_dir(env)
    path = os.path.join(folder, "counts")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except FileNotFoundError:  # the first count on this machine
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    _maybe_upload(env, folder)


def _maybe_upload(env: os._Environ[str] | dict[str, str], folder: str) -> None:
    """Start the uploader when the last start is ``UPLOAD_EVERY`` seconds old. The first count
    only starts the clock: a new install uploads a day later at the earliest."""
    stamp = os.path.join(folder, "last-upload")
    now = time.time()
    try:
        last = os.stat(stamp).st_mtime
    except FileNotFoundError:
        with open(stamp, "w"):
            pass
        return
    try:
        every = float(env.get(EVERY_ENV, UPLOAD_EVERY))
    except ValueError:
        every = UPLOAD_EVERY
    if now - last < every:
        return
    os.utime(stamp, (now, now))  # claimed: the commands that follow wait another period
    import subprocess

    subprocess.Popen(
        [sys.executable, "-m", "roar.telemetry.upload"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
