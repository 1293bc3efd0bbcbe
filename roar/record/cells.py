"""Notebook cells as jobs: what a kernel knows about an executed cell, recorded like a run.

The kernel (roar_kernel/) observes a cell — its source, position, outcome, the names it read
and defined, and the tracer's access summary of just that cell — and hands it here. This
module knows nothing about Jupyter: it plans, hashes and writes, like ``recorder`` does for
`roar run`. A cell job records its own source, so unlike `roar run` it never needs a clean
tree: the commit, the dirty flag and a hash of the diff are recorded instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roar import config as config_mod
from roar.record import envinfo, gitinfo, hashing
from roar.record.filters import NoiseFilter
from roar.record.lineage_files import plan
from roar.record.recorder import hash_algorithm, hash_planned, packages_of, relative_cwd
from roar.record.secrets import mask_cell_source, mask_text
from roar.store import writer
from roar.store.connection import Connection, connect
from roar.tracing.run import Summary
from roar.workspace import Workspace, find_git_root, find_workspace

COMMAND_WIDTH = 60


@dataclass
class ExecutedCell:
    """One execution of a notebook cell, as the kernel saw it."""

    source: str
    cwd: str
    started_at: float
    ended_at: float
    execution_count: int | None = None
    cell_id: str | None = None
    notebook_path: str | None = None
    error: tuple[str, str] | None = None  # (exception name, message)
    interrupted: bool = False
    variables_read: list[str] = field(default_factory=list)
    variables_defined: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None  # the kernel's environment, when recorded elsewhere

    @property
    def source_hash(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8", "surrogateescape")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExecutedCell:
        error = data.get("error")
        return cls(**{**data, "error": tuple(error) if error else None})


class CellRecorder:
    """Records the cells of one kernel session into the project's store.

    It remembers which recorded cell job last defined each name, so a later cell that reads
    the name is linked to it. A kernel restart starts a new recorder: names do not survive it.
    ``ignore`` holds path prefixes that are the kernel's own housekeeping (IPython's profile
    and history, Jupyter's runtime files), never lineage.
    """

    def __init__(self, ignore: Iterable[str] = ()):
        self._ignore = tuple(p.rstrip("/") for p in ignore if p)
        self._defined_by: dict[str, int] = {}
        self._conn: tuple[tuple[str, int, int], Connection] | None = None

    def record(
        self,
        cell: ExecutedCell,
        summary: Summary,
        identities: Mapping[str, hashing.Identity] | None = None,
    ) -> writer.RecordedJob | None:
        """Write the cell as a job; None when ``cell.cwd`` is not inside a roar project.

        ``identities`` are the files' identities when the cell ended, for recording after
        later cells may have run: a file that no longer matches is left out, with a warning.
        """
        ws = find_workspace(cell.cwd)
        if ws is None:
            return None
        cfg = config_mod.load(ws.config_path)
        algorithm = hash_algorithm(None, cfg.get("hash.primary"))
        repo = find_git_root(cell.cwd)
        files = [f for f in summary.files if not self._is_housekeeping(f.path)]
        noise = NoiseFilter.from_config(str(ws.root), cfg.values)
        conn = self._connection(ws)
        planned = plan(
            files,
            noise,
            tracked=(lambda paths: gitinfo.tracked_among(repo, paths)) if repo else _none_tracked,
            track_repo_files=cfg.get("output.track_repo_files"),
            composites_before=lambda dirs: writer.recorded_composites(conn, dirs),
        )
        with ThreadPoolExecutor(max_workers=1) as pool:
            git_facts = pool.submit(_git_facts, repo)  # git runs while we hash
            hashed, digests, warnings = hash_planned(conn, planned, algorithm, identities)
            git, dirty, diff_hash = git_facts.result()
        # the source as stored (identity still hashes what ran): secrets in it masked
        source = (
            mask_cell_source(cell.source) if cfg.get("registration.omit.enabled") else cell.source
        )
        job = writer.NewJob(
            kind="cell",
            command=cell_command(dataclasses.replace(cell, source=source)),
            argv=[],
            cwd=relative_cwd(cell.cwd, ws.root),
            started_at=cell.started_at,
            ended_at=cell.ended_at,
            exit_code=1 if cell.error else 0,
            interrupted=cell.interrupted,
            tracer=summary.backend,
            step_identity=cell_identity(cell, ws.root),
            algorithm=algorithm,
            files=hashed,
            git_commit=git.commit,
            git_branch=git.branch,
            git_remote=git.remote,
            git_dirty=dirty,
            git_diff_hash=diff_hash,
            metadata=self._metadata(cell, summary, cfg, ws, planned.package_reads, warnings),
            notebook_path=cell.notebook_path,
            cell_id=cell.cell_id,
            execution_count=cell.execution_count,
            source=source,
            source_hash=cell.source_hash,
            variables=self._variables(cell),
        )
        recorded = writer.record_job(conn, job, digests.fresh)
        for name in cell.variables_defined:
            self._defined_by[name] = recorded.id
        return recorded

    def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None

    def _connection(self, ws: Workspace) -> Connection:
        """The store, kept open between cells (opening and closing costs a few ms each).

        Reopened when the file changed identity, e.g. after `.roar/` was removed and
        `roar init` run again: writes must never go to an unlinked file.
        """
        st = os.stat(ws.db_path) if ws.db_path.exists() else None
        identity = (str(ws.db_path), st.st_dev if st else 0, st.st_ino if st else 0)
        if self._conn is not None and self._conn[0] == identity:
            return self._conn[1]
        self.close()
        conn = connect(ws.db_path)
        if st is None:  # connect created it: remember the new file's identity
            st = os.stat(ws.db_path)
            identity = (str(ws.db_path), st.st_dev, st.st_ino)
        self._conn = (identity, conn)
        return conn

    def _is_housekeeping(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self._ignore)

    def _variables(self, cell: ExecutedCell) -> list[writer.VariableUse]:
        uses = [
            writer.VariableUse(name, "read", self._defined_by.get(name))
            for name in sorted(set(cell.variables_read))
        ]
        uses += [
            writer.VariableUse(name, "defined") for name in sorted(set(cell.variables_defined))
        ]
        return uses

    def _metadata(
        self,
        cell: ExecutedCell,
        summary: Summary,
        cfg: config_mod.Config,
        ws: Workspace,
        package_reads: list[str],
        warnings: list[str],
    ) -> dict:
        mask = cfg.get("registration.omit.enabled")
        metadata: dict = {
            "env": envinfo.recorded_environment(
                os.environ if cell.env is None else cell.env, mask=mask
            ),
            "host": envinfo.host_facts(),
            "packages": packages_of(package_reads, ws),
            "processes": len(summary.processes),
            "warnings": summary.warnings + warnings,
        }
        if cell.error:
            evalue = mask_text(cell.error[1]) if mask else cell.error[1]
            metadata["error"] = {"ename": cell.error[0], "evalue": evalue}
        return metadata


def cell_command(cell: ExecutedCell) -> str:
    """How `roar log` and `roar dag` name a cell job: ``cell [3] nb.ipynb: first line``."""
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    if len(first) > COMMAND_WIDTH:
        first = first[: COMMAND_WIDTH - 1] + "…"
    where = f" {os.path.basename(cell.notebook_path)}" if cell.notebook_path else ""
    count = f"[{cell.execution_count}]" if cell.execution_count is not None else "[ ]"
    return f"cell {count}{where}: {first}"


def cell_identity(cell: ExecutedCell, root: Path) -> str:
    """A cell re-executed is the same step: keyed by its notebook and id (else its source)."""
    notebook = os.path.relpath(cell.notebook_path, root) if cell.notebook_path else None
    key = {"kind": "cell", "notebook": notebook}
    if cell.cell_id:
        key["cell_id"] = cell.cell_id
    else:
        key["source_hash"] = cell.source_hash
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _git_facts(repo: Path | None) -> tuple[gitinfo.GitState, bool, str | None]:
    if repo is None:
        return gitinfo.GitState(None, None, None), False, None
    state = gitinfo.capture_state(repo)
    dirty = bool(gitinfo.modified_tracked_files(repo))
    diff_hash = gitinfo.diff_hash(repo) if dirty else None
    return state, dirty, diff_hash


def _none_tracked(_paths: Iterable[str]) -> set[str]:
    return set()
