"""The eBPF loader service: one long-lived process keeps roar's BPF programs attached.

Attaching is cheap, but detaching a syscall tracepoint costs 60-90 ms here, so loading the
programs per job would dominate short jobs. The service (``python -m roar.tracing.ebpf_service``)
loads them once, serves jobs over a Unix socket (``rust/roar-ebpf/README.md`` has the protocol)
and exits after 15 idle minutes. ``ensure_running()`` starts it on demand when roar runs as root;
``sudo roar tracer enable ebpf`` starts it for other users.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

SOCKET_ENV = "ROAR_EBPF_SOCKET"
DEFAULT_SOCKET = "/run/roar/ebpf.sock"
IDLE_TIMEOUT_S = 900.0


class ServiceError(Exception):
    pass


def socket_path() -> Path:
    return Path(os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET)


def log_path() -> Path:
    return socket_path().with_suffix(".log")


def is_running(path: Path | None = None) -> bool:
    """Does something accept connections on the service socket? (A fraction of a millisecond.)"""
    target = path or socket_path()
    if not target.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(target))
        except OSError:
            return False
    return True


def ensure_running(timeout: float = 20.0) -> Path:
    """Start the service if it is not running (needs root or CAP_BPF); return its socket.

    A service left running by another roar build speaks another record layout: it is
    replaced (it belongs to the same user, or we are root), else the error says how to stop it.
    """
    path = socket_path()
    if is_running(path):
        if _running_version(path) == _our_version():
            return path
        if not stop(path):
            raise ServiceError(
                f"the eBPF service at {path} is from another roar version and cannot be stopped "
                f"from here; stop it (kill $(cat {path.with_suffix('.pid')})) and retry"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path(), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "roar.tracing.ebpf_service", "serve", "--socket", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_running(path):
            return path
        if proc.poll() is not None:
            raise ServiceError(f"the eBPF service exited at start: {_last_log_line()}")
        time.sleep(0.02)
    proc.kill()
    raise ServiceError(f"the eBPF service did not start within {timeout:.0f} s: {_last_log_line()}")


def stop(path: Path | None = None) -> bool:
    """Stop the service behind ``path`` (tests; replacing a service of another roar build)."""
    target = path or socket_path()
    pid_file = target.with_suffix(".pid")
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    if b"roar.tracing.ebpf_service" not in cmdline:  # a stale pid file; the pid was reused
        return False
    try:
        os.kill(pid, 15)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and is_running(target):
        time.sleep(0.02)
    return True


def _our_version() -> str:
    import roar._native as native

    return native.ebpf_version()


def _running_version(path: Path) -> str | None:
    try:
        return path.with_suffix(".version").read_text().strip()
    except OSError:
        return None


def _last_log_line() -> str:
    try:
        lines = log_path().read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def serve(path: Path, idle_timeout: float) -> None:
    import roar._native as native

    path.parent.mkdir(parents=True, exist_ok=True)
    pid_file, version_file = path.with_suffix(".pid"), path.with_suffix(".version")
    pid_file.write_text(str(os.getpid()))
    version_file.write_text(native.ebpf_version())
    try:
        native.ebpf_serve(str(path), idle_timeout)
    finally:
        pid_file.unlink(missing_ok=True)
        version_file.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m roar.tracing.ebpf_service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="run the eBPF loader service in the foreground")
    serve_p.add_argument("--socket", default=str(socket_path()))
    serve_p.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT_S)
    args = parser.parse_args(argv)
    try:
        serve(Path(args.socket), args.idle_timeout)
    except RuntimeError as exc:
        print(f"roar eBPF service: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
