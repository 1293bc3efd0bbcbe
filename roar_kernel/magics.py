"""`%roar` and `%%roar`: roar from inside a notebook.

    %roar run [--allow-dirty] [-n NAME] CMD...   record a shell command as a job
    %roar log | status | show X | dag | lineage X | …   any roar command, output in the cell
    %%roar                                        trace this cell as a job (any IPython kernel)

In the roar kernel, `%roar run` makes the command's job from an interval of the trace the
kernel already runs under (a tracer cannot be nested inside another), and `%%roar` only runs
its body: every cell is recorded there anyway. In a plain kernel, `%roar run` traces the
command like `roar run` does, and `%%roar` attaches a backend to the kernel for one cell.
"""

from __future__ import annotations

import ast
import functools
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from roar.cli.console import Console, printable
from roar.errors import RoarError
from roar.record.recorder import RunOutcome, RunRequest, prepare, record_observed
from roar_kernel.launcher import TRACER_ENV
from roar_kernel.session import CellSession
from roar_kernel.tracers import AttachedTracer, AuditHookTracer, CellTracer, NativeIntervals

USAGE = """Usage:
  %roar run [--allow-dirty] [-n NAME] COMMAND [ARGS...]   record a shell command as a job
  %roar log | status | dag | show PATH|JOB|@N | lineage PATH   query the project's store
  %%roar                                                  record this cell as a job"""


@magics_class
class RoarMagics(Magics):
    shell: Any  # the InteractiveShell these magics belong to

    def __init__(self, shell: Any):
        super().__init__(shell)
        self._plain_session: CellSession | None = None

    @line_cell_magic
    def roar(self, line: str, cell: str | None = None) -> Any:
        if cell is not None:
            return self._trace_cell(cell)
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            print(f"Error: cannot parse the command line: {exc}.", file=sys.stderr)
            return None
        if not argv or argv[0] in ("-h", "--help", "help"):
            print(USAGE)
            return None
        if argv[0] == "dag":
            handled, widget = _dag_widget(argv[1:])
            if handled:
                return widget
        code = self._command(argv)
        if argv[0] in ("run", "build"):
            self.shell.user_ns["_exit_code"] = code  # like `!cmd` does
        return None

    # `%roar VERB ...` ---------------------------------------------------------------------
    def _command(self, argv: list[str]) -> int:
        from roar.cli.main import build_parser, dispatch

        sys.stdout.flush()
        sys.stderr.flush()
        try:
            args = build_parser(argv[0]).parse_args(argv)
        except SystemExit as exc:  # argparse already printed why
            return int(exc.code or 0)
        if not getattr(args, "handler", None):
            print(USAGE)
            return 2
        cells = getattr(getattr(self.shell, "kernel", None), "cells", None)
        if isinstance(cells, CellSession):
            cells.flush()  # what it shows includes the cells run before it
        console = _CellConsole()
        if argv[0] in ("run", "build"):
            from roar.cli.commands import run as run_command

            session = self._kernel_session()
            runner = functools.partial(_run_in_interval, session) if session else run_command.run
            args.handler = functools.partial(
                run_command.handle, runner=functools.partial(_observed, runner, console)
            )
        try:
            return dispatch(args, console)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()

    def _kernel_session(self) -> CellSession | None:
        """The roar kernel's cell session, when this kernel is one running under a native tracer."""
        session = getattr(getattr(self.shell, "kernel", None), "cells", None)
        if isinstance(session, CellSession) and isinstance(session.tracer, NativeIntervals):
            return session
        return None

    # `%%roar` -------------------------------------------------------------------------------
    def _trace_cell(self, body: str) -> Any:
        if getattr(getattr(self.shell, "kernel", None), "cells", None) is not None:
            return _execute(self.shell, body)  # the roar kernel records every cell already
        session = self._session_for_plain_kernel()
        session.start(body)
        error: tuple[str, str] | None = None
        try:
            return _execute(self.shell, body)
        except BaseException as exc:
            error = (type(exc).__name__, str(exc))
            raise
        finally:
            recorded = session.finish(execution_count=self.shell.execution_count, error=error)
            if recorded is not None:
                print(
                    f"roar: recorded this cell as step @{recorded.step_number} "
                    f"(job {recorded.uid}).",
                    file=sys.stderr,
                )

    def _session_for_plain_kernel(self) -> CellSession:
        tracer: CellTracer
        fallback = None
        requested = os.environ.get(TRACER_ENV) or None
        try:
            from roar.tracing.attach import choose_attach

            if requested == "audit":
                raise RoarError(f"{TRACER_ENV}=audit was set")
            tracer = AttachedTracer(choose_attach(requested))
        except (RoarError, ImportError) as exc:
            tracer, fallback = AuditHookTracer(), getattr(exc, "message", str(exc))
        if self._plain_session is None:
            self._plain_session = CellSession(self.shell, tracer)
        self._plain_session.tracer = tracer
        if fallback:
            self._plain_session.tell(
                f"roar: no tracer backend can attach to this kernel ({fallback}); recording with "
                "Python audit hooks, which miss files that C libraries and subprocesses touch. "
                "For full recording use the roar kernel (`roar kernel install`).",
                once="fallback",
            )
        return self._plain_session


class _CellConsole(Console):
    """roar's messages in a cell. Front ends draw stderr as an error (JupyterLab: a pink box),
    so `%roar run`'s report goes to stdout when the command succeeded and to stderr when it
    failed; errors and warnings always go to stderr, other messages to stdout."""

    def __init__(self) -> None:
        super().__init__(color=False)
        self.failed: bool | None = None  # known once the command has run

    def err(self, text: str = "") -> None:
        to_stderr = self.failed or text.startswith("Warning:")
        print(printable(text), file=sys.stderr if to_stderr else sys.stdout)

    def error(self, message: str, hint: str | None = None) -> None:
        print(printable(f"Error: {message}"), file=sys.stderr)
        if hint:
            print(printable(f"hint: {hint}"), file=sys.stderr)


def _observed(
    runner: Callable[[RunRequest], RunOutcome], console: _CellConsole, request: RunRequest
) -> RunOutcome:
    """Run the command with ``runner``; tell ``console`` whether it failed (before the report)."""
    outcome = runner(request)
    console.failed = bool(outcome.exit_code or outcome.interrupted or outcome.not_started)
    return outcome


def _execute(shell: Any, body: str) -> Any:
    """Run ``body`` in the user namespace; the value of a final expression is the result."""
    tree = ast.parse(shell.transform_cell(body))
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, "<roar cell>", "exec"), shell.user_ns)
    if last is not None:
        return eval(compile(last, "<roar cell>", "eval"), shell.user_ns)
    return None


def _run_in_interval(session: CellSession, request: RunRequest) -> RunOutcome:
    """`%roar run` in the roar kernel: the command's own interval of the kernel's trace."""
    job = prepare(request)
    env = {**os.environ, **job.cfg.env}
    job.started = time.time()
    (exit_code, interrupted, not_started), summary = session.separately(
        f"run {shlex.join(request.argv)}", lambda: _run_command(list(request.argv), job.cwd, env)
    )
    ended = time.time()
    if not_started:
        return RunOutcome(
            exit_code, shlex.join(request.argv), ended - job.started, False,
            kind=request.kind, not_started=not_started,
        )  # fmt: skip
    summary.exit_code = exit_code
    summary.interrupted = interrupted
    return record_observed(job, summary, ended)


def _run_command(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[int, bool, str | None]:
    """(exit code, interrupted, why it could not start). Output goes to the cell as it comes."""
    try:
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
    except OSError as exc:
        return (127 if isinstance(exc, FileNotFoundError) else 126), False, exc.strerror
    interrupted = False
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:
            interrupted = True  # the interrupt reached the command too (same process group)
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
    return (128 - code if code < 0 else code), interrupted, None


# `%roar dag`: the DAG viewer widget ----------------------------------------------------------
def _dag_widget(argv: list[str]) -> tuple[bool, Any]:
    """(handled, widget): the viewer for ``%roar dag [--expanded] [--notebook [NB]] [--artifact
    X]``; not handled (the CLI's text view instead) for other flags or without anywidget."""
    import argparse

    parser = argparse.ArgumentParser(prog="%roar dag", add_help=False)
    parser.add_argument("--expanded", action="store_true")
    parser.add_argument("--notebook", nargs="?", const=True, default=None)
    parser.add_argument("--artifact")
    try:
        args, rest = parser.parse_known_args(argv)
        from jupyter_ext import DagWidget
    except (SystemExit, ImportError):
        return False, None
    if rest:  # --json, --format, --stale-only, …: the CLI prints those
        return False, None
    try:
        return True, DagWidget(
            artifact=args.artifact, notebook=args.notebook, expanded=args.expanded
        )
    except RoarError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return True, None
