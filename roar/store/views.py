"""Plain records of what the store holds, returned by ``queries``.

They keep SQLAlchemy out of the core and the front ends (and out of their import time:
importing SQLAlchemy costs ~125 ms, which ``roar run`` cannot afford).
"""

from __future__ import annotations

from roar.records import field, record


def step_ref(kind: str, step_number: int) -> str:
    """How the user names a step: @N, or @BN for a build step."""
    return f"@B{step_number}" if kind == "build" else f"@{step_number}"


@record(frozen=True)
class FileView:
    path: str
    digest: str
    size: int
    is_composite: bool = False
    artifact_id: int = 0
    algorithm: str = ""  # the digest's algorithm; "" when the record does not say


@record(frozen=True)
class DeletedFile:
    """A file a job removed, with what the path held before as roar last recorded it
    (``digest``, ``size`` and ``artifact_id`` are None when that is unknown)."""

    path: str
    digest: str | None
    size: int | None
    is_composite: bool = False
    artifact_id: int | None = None


@record(frozen=True)
class VariableRef:
    """A name a cell read, and the cell job (store id) whose execution defined it, if recorded."""

    name: str
    producer_job_id: int | None = None
    producer_job_uid: str | None = None


@record
class JobView:
    id: int
    uid: str
    session_id: int
    kind: str
    step_number: int
    step_name: str | None
    command: str
    argv: list[str]
    cwd: str
    started_at: float
    ended_at: float
    exit_code: int | None  # None: a status roar did not see (schema 5)
    interrupted: bool
    tracer: str
    git_commit: str | None
    git_branch: str | None
    git_remote: str | None
    git_dirty: bool
    git_diff_hash: str | None
    metadata: dict
    inputs: list[FileView] = field(default_factory=list)
    outputs: list[FileView] = field(default_factory=list)
    deleted: list[DeletedFile] = field(default_factory=list)
    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    source: str | None = None
    source_hash: str | None = None
    variables_read: list[VariableRef] = field(default_factory=list)
    variables_defined: list[str] = field(default_factory=list)
    labels: dict = field(default_factory=dict)  # its current `roar label` document, when loaded

    @property
    def duration(self) -> float:
        return max(0.0, self.ended_at - self.started_at)

    @property
    def ref(self) -> str:
        """How the user names this step: @N, or @BN for a build step."""
        return step_ref(self.kind, self.step_number)


@record(frozen=True)
class SessionView:
    id: int
    uid: str
    created_at: float
    is_active: bool
    git_commit_start: str | None


@record(frozen=True)
class ArtifactView:
    id: int
    algorithm: str
    digest: str
    size: int
    is_composite: bool
    first_seen_at: float
    first_seen_path: str | None
