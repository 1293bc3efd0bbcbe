"""The eBPF loader service: one long-lived process keeps roar's BPF programs attached.

Attaching is cheap, but detaching a syscall tracepoint costs 60-90 ms here, so loading the
programs per job would dominate short jobs. The service (``python -m roar.tracing.ebpf_service``)
loads them once, serves jobs over a Unix socket (``rust/roar-ebpf/README.md`` has the protocol)
and exits after 15 idle minutes. ``ensure_running()`` starts it on demand when roar runs as root;
``sudo roar tracer enable ebpf`` starts it for other users.

Each roar build has its own service: the socket is ``$ROAR_EBPF_SOCKET`` (default
``/run/roar/ebpf.sock``) with the build's tag in its name (``ebpf-<tag>.sock``), and beside it
the service's ``.pid``, ``.version``, ``.lock`` and ``.log``. The service holds the lock while it
owns the socket, so of many services started at once one serves and the others leave without
touching its files. SIGTERM makes a service give up its socket at once (a successor may start)
and exit when its jobs in flight have finished.
"""

from __future__ import annotations

# _signal: the constants without the signal module's enums (built at import).
import _signal as signal

# _socket, not socket: socket builds its enums at import, a cost every `roar run` (which asks
# whether the service listens before each job) would pay.
import _socket
import os
import struct
import sys
import time
from pathlib import Path

from roar.tracing import procfs

SOCKET_ENV = "ROAR_EBPF_SOCKET"
DEFAULT_SOCKET = "/run/roar/ebpf.sock"
IDLE_TIMEOUT_S = 900.0
# How long a stopping service waits for its jobs in flight before it cuts them.
DRAIN_TIMEOUT_S = 900.0
SERVICE_MODULE = "roar.tracing.ebpf_service"


class ServiceError(Exception):
    pass


def socket_path() -> Path:
    """The socket of this build's service (``$ROAR_EBPF_SOCKET`` with the build's tag)."""
    import roar._native as native

    return Path(native.ebpf_socket_path())


def log_path() -> Path:
    return socket_path().with_suffix(".log")


def is_running(path: Path | None = None) -> bool:
    """Does something accept connections on the service socket? (A fraction of a millisecond.)"""
    return _listener_pid(path or socket_path()) is not None


def _listener_pid(path: Path) -> int | None:
    """The pid of the process listening on ``path`` (0 when it is outside our pid namespace),
    None when nothing listens there."""
    if not path.exists():
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(2.0)  # a listener that never accepts fills its backlog: connect blocks
        sock.connect(str(path))
        cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    finally:
        sock.close()
    pid, _uid, _gid = struct.unpack("3i", cred)
    return pid


def ensure_running(timeout: float = 20.0) -> Path:
    """Start this build's service if it is not running (needs root or CAP_BPF); return its socket.

    Many roar processes may call this at once: each starts a service, one wins the socket's
    lock and serves, the others see it serving and leave.
    """
    path = socket_path()
    if is_running(path):
        if _running_version(path) == _our_version():
            return path
        # Only a service that has another build's .version file beside our socket gets here
        # (each build has its own socket): it gives the socket up and finishes its jobs.
        _replace(path)
    import subprocess  # only to start the service: `roar run` finds it running and skips this

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path(), "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", SERVICE_MODULE, "serve", "--socket", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
    except OSError as exc:  # the socket's folder cannot be made or written
        raise ServiceError(f"cannot start the eBPF service at {path}: {exc}") from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_running(path):
            return path
        if proc.poll() is not None:
            if is_running(path):  # another one won the start: it serves
                return path
            raise ServiceError(f"the eBPF service exited at start: {_last_log_line()}")
        time.sleep(0.02)
    proc.kill()
    raise ServiceError(f"the eBPF service did not start within {timeout:.0f} s: {_last_log_line()}")


def _replace(path: Path, timeout: float = 10.0) -> None:
    """Have the service on ``path`` give the socket up (SIGTERM: it stops accepting at once and
    exits when its jobs in flight have finished)."""
    running = _running_version(path) or "an unknown version"
    pid = _service_pid(path)
    if not pid:
        raise ServiceError(
            f"the eBPF service at {path} is from another roar build ({running}) and its process "
            f"is unknown; stop it (fuser -k {path}) and retry"
        )
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        raise ServiceError(
            f"the eBPF service at {path} (pid {pid}) is from another roar build ({running}) and "
            f"cannot be stopped from here; stop it (sudo kill {pid}) and retry"
        ) from exc
    deadline = time.monotonic() + timeout
    while is_running(path):
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"the eBPF service at {path} (pid {pid}) is from another roar build ({running}) "
                f"and did not give way within {timeout:.0f} s; stop it (kill {pid}) and retry"
            )
        time.sleep(0.02)


def stop(path: Path | None = None, timeout: float = 10.0) -> bool:
    """Stop the service behind ``path`` (default: this build's) and wait until its process has
    exited. It first finishes its jobs in flight, so this is False while they run past
    ``timeout``; False too when no service was found or it could not be signalled."""
    target = path or socket_path()
    pid = _service_pid(target)
    if not pid:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    deadline = time.monotonic() + timeout
    while procfs.alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _service_pid(path: Path) -> int | None:
    """The service's pid: the socket's listener, else the ``.pid`` file if it names a live
    service process (never a stranger that reused a stale pid)."""
    pid = _listener_pid(path)
    if pid:
        return pid
    try:
        pid = int(path.with_suffix(".pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    if SERVICE_MODULE.encode() not in cmdline:  # a stale pid file; the pid was reused
        return None
    return pid


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


def serve(path: Path, idle_timeout: float, drain_timeout: float = DRAIN_TIMEOUT_S) -> None:
    """Run the service on ``path`` in this process. The Rust side takes the socket's lock and
    writes (and removes) the ``.pid`` and ``.version`` files; a second service on a socket
    that one already serves raises ``RuntimeError`` at once and touches none of them."""
    import roar._native as native

    native.ebpf_serve(str(path), idle_timeout, drain_timeout)


def main(argv: list[str] | None = None) -> int:
    import argparse  # here: every `roar run` imports this module for the service check

    parser = argparse.ArgumentParser(prog="python -m roar.tracing.ebpf_service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="run the eBPF loader service in the foreground")
    serve_p.add_argument("--socket", default=None, help="default: this build's socket")
    serve_p.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT_S)
    serve_p.add_argument(
        "--drain-timeout",
        type=float,
        default=DRAIN_TIMEOUT_S,
        help="after SIGTERM, how long to wait for the jobs in flight (a second SIGTERM: none)",
    )
    args = parser.parse_args(argv)
    try:
        serve(Path(args.socket or socket_path()), args.idle_timeout, args.drain_timeout)
    except RuntimeError as exc:
        print(f"roar eBPF service: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
