"""The recipe for an artifact: the jobs that made it and the source inputs they need.

``make_plan`` walks the lineage upstream from a target (a path, a hash prefix, ``@N``/``@BN``
or a job uid) and keeps, for each artifact it needs, the latest successful job that produced
it; ``session_plan`` does the same for every output of a session. The plan is data only:
the CLI renders it and ``roar.reproduce.run`` replays it.
"""

from __future__ import annotations

from roar.records import field, record
from roar.store.views import FileView, JobView


@record(frozen=True)
class SourceInput:
    """An input no recorded job produced: it has to be found on disk to reproduce."""

    path: str  # the recorded absolute path
    digest: str
    size: int
    is_composite: bool
    algorithm: str
    present_at: str | None  # a local file holding these bytes now, or None


@record
class PlanStep:
    """One job to replay, with what its environment needs."""

    job: JobView
    env_names: list[str] = field(default_factory=list)  # environment variables it read
    packages: dict[str, str] = field(default_factory=dict)  # Python name -> version
    system_packages: dict[str, str] = field(default_factory=dict)


@record
class ReproPlan:
    target: FileView | None  # None for a session's plan
    steps: list[PlanStep] = field(default_factory=list)  # dependency order, build steps first
    sources: list[SourceInput] = field(default_factory=list)
    commit: str | None = None
    repo_remote: str | None = None
    session_uid: str | None = None
