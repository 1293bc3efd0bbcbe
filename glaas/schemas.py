"""The lineage bundle (``roar.lineage-bundle/1``) and the API's answers, as pydantic models.

docs/registry-api.md describes them for people; /openapi.json for machines.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

HexHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
# What the database columns hold: sizes are BIGINT, step numbers and exit codes INTEGER; a
# larger number is the client's mistake (422), not an overflow in the driver (500).
Size = Annotated[int, Field(ge=0, le=2**63 - 1)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Alias(Strict):
    algorithm: str = Field(min_length=1, max_length=32)  # sha256, md5, etag, ...
    digest: str = Field(min_length=1, max_length=200)


class Member(Strict):
    path: str
    hash: HexHash
    size: Size | None = None


class ArtifactIn(Strict):
    hash: HexHash  # BLAKE3-256, lower-case hex
    size: Size | None = None
    composite: bool = False
    aliases: list[Alias] = []
    members: list[Member] = []


class GitIn(Strict):
    remote: str | None = None
    commit: str | None = Field(default=None, max_length=64)  # the columns' widths: PostgreSQL
    branch: str | None = None  # enforces them (a 500 before), SQLite does not
    dirty: bool | None = None
    diff_hash: str | None = Field(default=None, max_length=64)


class DeletedIn(Strict):
    """A path the job removed, with what it held before when roar knew (else nulls)."""

    path: str
    hash: HexHash | None = None
    size: Size | None = None
    composite: bool = False


class CellIn(BaseModel):
    """Where a notebook cell job ran (roar's cell keys; open to what the kernel adds)."""

    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: Int32 | None = None
    source: str | None = None
    source_hash: str | None = None
    variables: dict[str, Any] = {}


class JobIn(Strict):
    """A job as ``roar show --json`` has it, minus its inputs and outputs (those are edges)."""

    uid: str = Field(min_length=1, max_length=64)
    kind: str = Field(default="run", max_length=16)
    step_number: Int32 | None = None
    step_name: str | None = None
    command: str
    argv: list[str] = []
    cwd: str | None = None
    exit_code: Int32 | None = None
    interrupted: bool | None = None
    started_at: str | None = Field(default=None, max_length=40)
    ended_at: str | None = Field(default=None, max_length=40)
    duration_seconds: float | None = None
    tracer: str | None = Field(default=None, max_length=32)
    git: GitIn = GitIn()
    packages: dict[str, Any] = {}
    env_names: list[str] = []  # names only: values stay on the laptop
    deleted: list[DeletedIn] = []
    cell: CellIn | None = None
    metadata: dict[str, Any] = {}  # the rest of show --json's metadata, secrets masked


class EdgeIn(Strict):
    job: str  # a JobIn.uid of this bundle
    artifact: HexHash
    role: Literal["read", "write"]
    path: str


class LabelIn(Strict):
    target_kind: Literal["artifact", "job", "session"]
    target: str | None = None  # artifact hash, job uid; None for this bundle's session
    key: str = Field(min_length=1, max_length=200)
    value: str | None = None  # None removes the label
    set_at: float


class Bundle(Strict):
    schema_: Literal["roar.lineage-bundle/1"] = Field(
        default="roar.lineage-bundle/1", alias="schema"
    )
    registered_by: str = Field(default="anonymous", max_length=200)
    jobs: list[JobIn] = Field(min_length=1)
    artifacts: list[ArtifactIn] = []
    edges: list[EdgeIn] = []
    labels: list[LabelIn] = []

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        """What no database column takes, anywhere in the bundle (metadata and packages too):
        a NUL character in a text (PostgreSQL's text and json refuse it) and a float that is not
        finite (NaN, Infinity: not JSON, and SQLite stores NaN as NULL)."""
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if "\x00" in item:
                    raise ValueError("a text in the bundle holds a NUL character (\\u0000)")
            elif isinstance(item, float):
                if not math.isfinite(item):
                    raise ValueError(f"a number in the bundle is not finite ({item})")
            elif isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return data

    @model_validator(mode="after")
    def _references_resolve(self) -> Bundle:
        uids = {j.uid for j in self.jobs}
        hashes = {a.hash for a in self.artifacts}
        if len(uids) != len(self.jobs):
            raise ValueError("job uids must be unique within a bundle")
        for e in self.edges:
            if e.job not in uids:
                raise ValueError(f"edge names job {e.job!r}, which the bundle does not have")
            if e.artifact not in hashes:
                raise ValueError(
                    f"edge names artifact {e.artifact}, which the bundle does not have"
                )
        for lab in self.labels:
            if lab.target_kind == "job" and lab.target not in uids:
                raise ValueError(f"label names job {lab.target!r}, which the bundle does not have")
            if lab.target_kind == "artifact" and lab.target not in hashes:
                raise ValueError(
                    f"label names artifact {lab.target}, which the bundle does not have"
                )
        return self


class RegisterOut(BaseModel):
    session_hash: str
    created: bool  # False: this exact lineage was registered before
    job_hashes: dict[str, str]  # client uid -> registry job hash
    jobs: int
    artifacts: int
    edges: int
    scope: str = "anonymous"  # the scope it was registered in (anonymous, public, private, O/P)
    registered_by: str = "anonymous"  # the authenticated user, or "anonymous"


class GitOut(BaseModel):
    remote: str | None = None
    commit: str | None = None
    branch: str | None = None


class JobHit(BaseModel):
    """A job in search results: enough to list it; GET /jobs/{job_hash} has the rest."""

    job_hash: str
    uid: str
    kind: str
    step_number: int | None
    command: str
    exit_code: int | None
    started_at: str | None
    git: GitOut
    gpu: bool  # the job's host had a GPU (metadata host.gpu)
    registered_at: float
    registered_by: str


class ArtifactHit(BaseModel):
    hash: str
    size: int | None
    composite: bool
    paths: list[str]  # up to 10 paths it was seen under
    registered_at: float
    registered_by: str


class SearchOut(BaseModel):
    kind: Literal["job", "artifact"]
    limit: int
    results: list[JobHit] | list[ArtifactHit]
    next: str | None  # the cursor of the next page; None on the last
