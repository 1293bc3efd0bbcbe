"""Running a command under a tracer backend and collecting its access summary.

The backend runs the command in a native thread; this module keeps Python's signal handling
alive meanwhile so that termination signals sent to roar reach the command. Ctrl-C from a
terminal already goes to the whole foreground process group, so roar does not repeat it.

A command that exits but leaves processes running (a daemon it started) keeps the job open:
every backend follows the whole tree. After a second roar says, once, which processes it waits
for (pids and command lines). SIGINT or SIGTERM then no longer goes to the command (it has
exited) but stops the wait: the job is summarised with what was seen so far, a note names the
processes left running, and the exit code is the command's own. preload and eBPF stop following
them (they run on untraced); ptrace cannot let go of its tracees (their filtered system calls
would fail without a tracer), so it keeps tracing them after the job is recorded until they exit
or roar is stopped again, which ends them (``PTRACE_O_EXITKILL``).
"""

from __future__ import annotations

# _signal, not signal: signal builds its enums at import (~3 M instructions of every
# `roar run`); the functions are the same, handlers come back as plain ints.
import _signal as signal
import json
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from roar.records import field, record
from roar.tracing import procfs
from roar.tracing.selection import preflight_error

TYPE_CHECKING = False  # typing is not imported at run time: annotations only
if TYPE_CHECKING:
    from typing import Any

_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
# After the command exited, how long processes it left must run before roar says it waits.
LEFTOVER_NOTICE_S = 1.0


@record
class FileAccess:
    path: str
    read: bool = False
    write: bool = False
    create: bool = False
    delete: bool = False
    exec: bool = False
    dir_list: bool = False
    is_dir: bool = False
    mtime_ns_before: int | None = None


@record
class Summary:
    backend: str
    exit_code: int | None  # None: the backend did not see the command end
    exit_signal: int | None
    exec_error: str | None
    files: list[FileAccess]
    renames: list[tuple[str, str]]
    processes: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    # Why the trace does not cover the whole run (cut short, or recovered after roar died).
    incomplete: str | None = None
    root_pid: int = 0
    end_ns: int = 0


class TracedRun:
    """A command started under a tracer. ``wait()`` returns its summary.

    With a ``recovery_token`` (and ``summary_file``) what the backend observes stays
    recoverable if roar dies meanwhile (``roar.store.inflight``).
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        backend: str,
        recovery_token: str | None = None,
        summary_file: str | None = None,
    ):
        import roar._native as _native

        self.backend = backend
        try:
            self._proc = _native.spawn_traced(
                list(argv),
                dict(env),
                cwd,
                backend,
                recovery_token=recovery_token,
                summary_file=summary_file,
            )
        except (OSError, RuntimeError) as exc:
            raise preflight_error(backend, f"the backend could not start ({exc})") from exc
        self.pid: int = self._proc.pid
        self._interrupted = False
        self._stop: int | None = None  # the signal that stopped the wait for leftovers
        self._previous: dict[int, Any] = {}
        # ptrace after the wait for leftovers was stopped: the job is summarised, the tracer
        # still traces them (see the module docstring).
        self.still_traced: list[int] = []
        self._install_handlers()

    def wait(self) -> Summary:
        try:
            raw = None
            exited_at: float | None = None
            told = False
            left: dict[int, str] = {}
            while raw is None:
                raw = self._proc.wait(0.25)  # wake up now and then so signal handlers run
                if raw is not None:
                    break
                if self._stop is not None:
                    left = left or self._left_running
                    self._proc.finish_now()
                    raw = self._proc.wait(30.0)  # preload/eBPF: at once; ptrace: a snapshot
                    continue
                root_exit, running = self._proc.status()
                if root_exit is None or not running:
                    continue
                exited_at = exited_at or time.monotonic()
                if not told and time.monotonic() - exited_at >= LEFTOVER_NOTICE_S:
                    told = True
                    _say(leftover_notice(root_exit, running))
        finally:
            self._restore_handlers()
        summary = parse_summary(json.loads(raw))
        summary.interrupted = (
            self._interrupted or summary.exit_signal == signal.SIGINT or bool(summary.incomplete)
        )
        if self._stop is not None and summary.incomplete:
            still = self.backend == "ptrace" and not self._proc.done()
            if still:
                self.still_traced = [p for p in left if procfs.alive(p)]
            summary.warnings.append(stopped_note(left, self.backend, still))
        return summary

    @property
    def _left_running(self) -> dict[int, str]:
        """The tree's processes still running, with their command lines."""
        _root_exit, running = self._proc.status()
        return {pid: command_line(pid) for pid in running}

    def keep_tracing(self) -> None:
        """ptrace, after the job was recorded from a stopped wait: go on tracing what is left
        until it exits, or until roar is told to stop again (which ends it)."""
        if not self.still_traced:
            return
        n = len(self.still_traced)
        _say(
            f"roar: the job is recorded. The ptrace tracer cannot let go of the {n} process(es) "
            f"left running ({', '.join(map(str, self.still_traced))}): their file operations "
            "would fail without it, so roar keeps tracing them until they exit. Press Ctrl-C "
            "again to stop roar; that ends them."
        )
        self._stop = None
        self._install_handlers()
        try:
            while not self._proc.done() and self._stop is None:
                self._proc.wait(0.25)
        finally:
            self._restore_handlers()

    def _install_handlers(self) -> None:
        try:
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_interrupt)
            for sig in _FORWARDED:
                self._previous[sig] = signal.signal(sig, self._forward)
        except ValueError:  # not the main thread (e.g. inside a kernel): leave signals alone
            self._previous.clear()

    def _restore_handlers(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _root_exited(self) -> bool:
        try:
            return self._proc.status()[0] is not None
        except Exception:  # noqa: BLE001 - never let a signal handler fail
            return False

    def _on_interrupt(self, signum: int, _frame: object) -> None:
        if self._root_exited():  # waiting for processes the command left: stop waiting
            self._stop = signum
            return
        # A terminal's Ctrl-C reaches the command directly (same process group); a SIGINT
        # aimed at roar alone is passed on.
        self._interrupted = True
        if not _terminal_delivered_to(self.pid):
            self._forward(signum, _frame)

    def _forward(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGTERM and self._root_exited():
            self._stop = signum
            return
        try:
            os.kill(self.pid, signum)
        except OSError:
            pass


def _say(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # no stderr left (closed terminal): nothing to tell
        pass


def command_line(pid: int, limit: int = 120) -> str:
    """``pid``'s command line from /proc, shell-quoted and shortened ("?" when unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    argv = [os.fsdecode(a) for a in raw.rstrip(b"\0").split(b"\0") if a]
    if not argv:
        try:  # a process that cleared its argv: its name
            return "[" + Path(f"/proc/{pid}/comm").read_text().strip() + "]"
        except OSError:
            return "?"
    text = shlex.join(argv)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def leftover_notice(root_exit: tuple[int, int | None], running: list[int]) -> str:
    code, _sig = root_exit
    lines = [
        f"roar: the command exited (code {code}) but left {len(running)} process(es) running; "
        "roar waits for them to exit (Ctrl-C stops waiting and records the job now):"
    ]
    lines += [f"  {pid}  {command_line(pid)}" for pid in running]
    return "\n".join(lines)


def stopped_note(left: Mapping[int, str], backend: str, still_traced: bool) -> str:
    procs = ", ".join(f"{pid} ({cmd})" for pid, cmd in left.items()) or "none"
    if still_traced:
        after = (
            "roar recorded the job without what they do from now on; ptrace cannot let go of "
            "them, so they stay traced until they exit or roar is stopped"
        )
    else:
        after = "they run on, no longer traced: what they do from now on is not recorded"
    return f"stopped waiting for {len(left)} process(es) left running: {procs}; {after}"


def parse_summary(data: dict[str, Any]) -> Summary:
    """Turn the documented access-summary JSON (rust/roar-trace-format/README.md) into objects."""
    files = []
    for entry in data.get("files", []):
        path = _path_of(entry)
        files.append(
            FileAccess(
                path=path,
                read=bool(entry.get("read")),
                write=bool(entry.get("write")),
                create=bool(entry.get("create")),
                delete=bool(entry.get("delete")),
                exec=bool(entry.get("exec")),
                dir_list=bool(entry.get("dir_list")),
                is_dir=bool(entry.get("is_dir")),
                mtime_ns_before=entry.get("mtime_ns_before"),
            )
        )
    renames = [(_path_of(r, "from"), _path_of(r, "to")) for r in data.get("renames", [])]
    known = data.get("exit_known", True) is not False
    return Summary(
        backend=str(data.get("backend", "")),
        exit_code=int(data.get("exit_code", 1)) if known else None,
        exit_signal=data.get("exit_signal") if known else None,
        exec_error=data.get("exec_error"),
        files=files,
        renames=renames,
        processes=list(data.get("processes", [])),
        warnings=list(data.get("warnings", [])),
        incomplete=data.get("incomplete"),
        root_pid=int(data.get("root_pid") or 0),
        end_ns=int(data.get("end_ns") or 0),
    )


_FILE_FLAGS = ("read", "write", "create", "delete", "exec", "dir_list", "is_dir")


def summary_json(summary: Summary) -> dict[str, Any]:
    """The inverse of ``parse_summary``: the documented JSON, for summaries made in Python."""
    files = []
    for f in summary.files:
        entry: dict[str, Any] = {"path": f.path, **{k: True for k in _FILE_FLAGS if getattr(f, k)}}
        if f.mtime_ns_before is not None:
            entry["mtime_ns_before"] = f.mtime_ns_before
        files.append(entry)
    return {
        "backend": summary.backend,
        "exit_code": -1 if summary.exit_code is None else summary.exit_code,
        "exit_known": summary.exit_code is not None,
        "exit_signal": summary.exit_signal,
        "exec_error": summary.exec_error,
        "files": files,
        "renames": [{"from": a, "to": b} for a, b in summary.renames],
        "processes": list(summary.processes),
        "warnings": list(summary.warnings),
    }


def _path_of(entry: dict[str, Any], key: str = "path") -> str:
    # Undecodable bytes arrive surrogate-escaped, so this is already os.fsdecode's string.
    return str(entry[key])


def _terminal_delivered_to(pid: int) -> bool:
    """Did a terminal's Ctrl-C already reach ``pid``? (It did if we share its foreground group.)"""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgid(pid)
    except OSError:
        return False
    finally:
        os.close(fd)
