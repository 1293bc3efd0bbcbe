"""Turning executed cells into cell jobs, for the roar kernel and for `%%roar`.

Around each cell: a snapshot of the user namespace, an interval of the cell tracer, and
afterwards the recorder. Nothing here runs while the interval is open except the cell itself,
so the kernel's own bookkeeping (hashing, git, the store) never shows up as the cell's files.
In the roar kernel the recording itself happens in the launcher (``roar_kernel.recording``),
so the front end gets the cell's reply without waiting for hashes and the store.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from roar.record.cells import CellRecorder, ExecutedCell
from roar.store.writer import RecordedJob
from roar.tracing.run import Summary, parse_summary
from roar.workspace import find_workspace
from roar_kernel.notebook import cell_id_in_notebook, notebook_path
from roar_kernel.recording import RecordingClient
from roar_kernel.tracers import CellTracer, SummaryPart, merge, summary_dict
from roar_kernel.variables import Snapshot, cell_names, snapshot

T = TypeVar("T")

MAGIC_PREFIXES = ("%roar", "%%roar", "%load_ext roar_kernel", "%reload_ext roar_kernel")


@dataclass
class _OpenCell:
    code: str
    label: str
    cell_id: str | None
    started: float
    before: Snapshot
    parts: list[SummaryPart] = field(default_factory=list)  # its pieces' access summaries


class CellSession:
    """Records every cell this kernel runs through ``start``/``finish``.

    With a ``handover`` (the launcher's recorder) cells are recorded there, in order, after
    the reply; without one (`%%roar` in a plain kernel) here, before ``finish`` returns.
    """

    def __init__(self, shell: Any, tracer: CellTracer, handover: RecordingClient | None = None):
        self.shell = shell
        self.tracer = tracer
        ignore = housekeeping_paths(shell)
        self.recorder = CellRecorder(ignore=ignore)
        self.handover = handover
        self._open: _OpenCell | None = None
        self._told: set[str] = set()
        if handover is not None:
            self._talk_to_launcher(lambda: handover.hello(ignore))

    def start(self, code: str, *, cell_id: str | None = None) -> None:
        """Open the cell's interval. If the tracer fails, the cell still runs, unrecorded.

        A cell that mentions roar (`!roar log`, `roar.widget()`, ...) may read the store, so
        it waits until the cells before it are in it.
        """
        self._settle()  # the previous cell's handover must not run inside this interval
        if "roar" in code:
            self.flush()
        label = f"cell {cell_id or ''}".strip()
        before = snapshot(self.shell.user_ns, self.shell.user_ns_hidden)
        try:
            self.tracer.begin(label)
        except Exception as exc:
            self._tracer_failed(exc)
            return
        self._open = _OpenCell(code, label, cell_id, time.time(), before)

    def finish(
        self,
        *,
        execution_count: int | None,
        error: tuple[str, str] | None = None,
    ) -> RecordedJob | None:
        """Close the cell's interval and record it (never raises: the cell's result comes first).

        The job recorded, or None when it was not recorded (yet: handed over to the launcher).
        """
        cell, self._open = self._open, None
        if cell is None:
            return None
        try:
            cell.parts.append(self.tracer.end())
        except Exception as exc:
            self._tracer_failed(exc)
            return None
        ended = time.time()
        try:
            return self._record(cell, ended, execution_count, error)
        except Exception as exc:  # a recording failure must not break the user's notebook
            self.tell(f"roar: this cell was not recorded ({type(exc).__name__}: {exc}).")
            return None

    def _tracer_failed(self, exc: Exception) -> None:
        self.tell(
            f"roar: the {self.tracer.backend} tracer failed ({type(exc).__name__}: {exc}); this "
            "cell is not recorded. Restart the kernel to record again."
        )

    def flush(self) -> None:
        """Wait until every cell handed over is in the store (before querying it)."""
        self._settle()
        handover = self.handover
        if handover is not None:
            self._talk_to_launcher(handover.flush)

    def separately(self, label: str, work: Callable[[], T]) -> tuple[T, Summary]:
        """Run ``work`` in its own interval (a `%roar run` job), outside the enclosing cell's."""
        if self._open is not None:
            self._open.parts.append(self.tracer.end())
        self.flush()  # the cells before it get the earlier steps
        self.tracer.begin(label)
        try:
            result = work()
        finally:
            summary = self.tracer.end()
            if self._open is not None:
                self.tracer.begin(self._open.label)
        return result, parse_summary(summary_dict(summary))

    def tell(self, message: str, *, once: str | None = None) -> None:
        """A note in the cell's output (stderr); with ``once``, only the first time."""
        if once is not None:
            if once in self._told:
                return
            self._told.add(once)
        print(message, file=sys.stderr, flush=True)

    def _record(
        self,
        cell: _OpenCell,
        ended: float,
        execution_count: int | None,
        error: tuple[str, str] | None,
    ) -> RecordedJob | None:
        cwd = os.getcwd()
        if find_workspace(cwd) is None:
            self.tell(
                f"roar: {cwd} is not in a roar project, so cells are not recorded. "
                "Run `roar init` in your repository (or `!roar init` here); recording starts "
                "with the next cell.",
                once="no-project",
            )
            return None
        describe = self._describe(cell, cwd, ended, execution_count, error)
        if self.handover is not None:
            self.handover.hand_over(describe, cell.parts)
            return None
        return self.recorder.record(describe(), merge(cell.parts))

    def _settle(self) -> None:
        """Finish handing over the last cell; record here what the launcher could not take."""
        handover = self.handover
        if handover is None:
            return
        notes, unsent = handover.settle()
        for note in notes:
            self.tell(note)
        if handover.broken is not None:
            self._launcher_gone(handover.broken)
        for executed, parts in unsent:
            try:
                self.recorder.record(executed, merge(parts))
            except Exception as exc:
                self.tell(f"roar: a cell was not recorded ({type(exc).__name__}: {exc}).")

    def _talk_to_launcher(self, call: Callable[[], list[str]]) -> None:
        try:
            notes = call()
        except (OSError, ValueError) as exc:
            self._launcher_gone(exc)
            return
        for note in notes:
            self.tell(note)

    def _launcher_gone(self, why: Exception) -> None:
        self.handover = None
        self.tell(
            f"roar: the launcher's recorder is gone ({why}); recording cells in the kernel "
            "from now on."
        )

    def _describe(
        self,
        cell: _OpenCell,
        cwd: str,
        ended: float,
        execution_count: int | None,
        error: tuple[str, str] | None,
    ) -> Callable[[], ExecutedCell]:
        """The cell as recorded. What can change once the next cell runs (the namespace, the
        environment) is captured now; working out the names, asking the front end where the
        notebook is and reading it for the cell's id happen when the result is called, after
        the reply (and before the next cell starts)."""
        after = snapshot(self.shell.user_ns, self.shell.user_ns_hidden)
        python = self._python_of(cell.code)
        env = dict(os.environ)

        def describe() -> ExecutedCell:
            names = cell_names(python, cell.before, after)
            notebook = notebook_path(self.shell, cwd)  # where it is now: it may be renamed
            return ExecutedCell(
                source=cell.code,
                cwd=cwd,
                started_at=cell.started,
                ended_at=ended,
                execution_count=execution_count,
                cell_id=cell.cell_id or cell_id_in_notebook(notebook, cell.code),
                notebook_path=notebook,
                error=error,
                interrupted=bool(error and error[0] == "KeyboardInterrupt"),
                variables_read=names.read,
                variables_defined=names.defined,
                env=env,
            )

        return describe

    def _python_of(self, code: str) -> str:
        try:
            return str(self.shell.transform_cell(code))
        except Exception:
            return code


def only_roar_magics(code: str) -> bool:
    """A cell of nothing but `%roar …` lines queries provenance; it is not itself a job."""
    lines = [
        line.strip()
        for line in code.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    return bool(lines) and all(line.startswith(MAGIC_PREFIXES) for line in lines)


def housekeeping_paths(shell: Any) -> list[str]:
    """Where IPython and Jupyter keep their own files: never a cell's lineage."""
    paths: list[str] = []
    try:
        from IPython.paths import get_ipython_dir

        paths.append(os.path.realpath(get_ipython_dir()))
        profile = getattr(shell, "profile_dir", None)
        if profile is not None:
            paths.append(os.path.realpath(profile.location))
    except ImportError:
        pass
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        paths.append(os.path.realpath(jupyter_runtime_dir()))
    except ImportError:
        pass
    return paths
