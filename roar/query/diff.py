"""``roar diff A B``: what differs between two lineages, the most likely cause first.

The two sides (artifacts, jobs or sessions: ``diff_sides``) are paired step for step, and each
pair compared: the source inputs they read (same role, other bytes), their parameters
(``diff_params``), the code (commits, and the files git says differ between them; a cell's
source), the environment variables (names only: values stay masked), the packages, the host and
the tracer. Steps without a counterpart are the structure's difference. Outputs that differ are
consequences, not causes: the first step whose outputs diverged is named, a step that made other
bytes from the same recorded recipe is called non-deterministic, and small metric files are set
side by side (``diff_metrics``).

Causes are ranked (``diff_causes``) by kind, in the order a changed result is most often
explained — data, parameters, code, environment, packages, host, tracer, structure — and,
within a kind, upstream first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roar.query import diff_metrics
from roar.query.diff_causes import Cause, causes, only_data
from roar.query.diff_params import ParamChange
from roar.query.diff_sides import JobShape, Side, load_side, pair_files, pair_jobs, shapes_of
from roar.query.history import disk_check
from roar.records import field, record
from roar.store.views import FileView, JobView
from roar.workspace import Workspace

if TYPE_CHECKING:
    from roar.store.queries import Reader

# Variables that differ between any two shells and say nothing about a job.
ENV_NOISE = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "ROAR_TRACED_BY", "PYTEST_CURRENT_TEST"})
GIT_FILES_LIMIT = 200


@record
class FileChange:
    a: FileView | None
    b: FileView | None
    step_a: str | None
    step_b: str | None
    source: bool = True  # no job of the lineage made it (on the sides that have it)
    # Two versions of a directory (composite artifacts): (relpath, change) of its members.
    members: list[tuple[str, str]] = field(default_factory=list)

    @property
    def change(self) -> str:
        return "removed" if self.b is None else "added" if self.a is None else "changed"


@record
class StepParam:
    step_a: str
    step_b: str
    param: ParamChange


@record
class CodeChange:
    commit_a: str | None
    commit_b: str | None
    dirty_a: bool
    dirty_b: bool
    diff_hash_a: str | None
    diff_hash_b: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)
    files: list[str] | None = None  # what git says differs between the commits (None: unknown)
    named_files: list[str] = field(default_factory=list)  # those the steps' commands name
    data_files: list[str] = field(default_factory=list)  # files the steps read or wrote: data
    cells: list[tuple[str, str]] = field(default_factory=list)  # cell steps whose source differs


@record
class NamedChange:
    """An environment variable (name only), a package, a host fact or the tracer."""

    name: str
    change: str  # changed | added | removed
    a: Any = None  # never set for environment variables: values stay masked
    b: Any = None
    steps: list[tuple[str, str]] = field(default_factory=list)


@record
class PairDiff:
    a: JobView
    b: JobView
    inputs: list[FileChange] = field(default_factory=list)
    params: list[ParamChange] = field(default_factory=list)
    code: bool = False
    env: list[tuple[str, str]] = field(default_factory=list)
    host: list[tuple[str, Any, Any]] = field(default_factory=list)
    outputs: list[FileChange] = field(default_factory=list)
    packages: bool = False
    read_other_bytes: bool = False  # any input differs, made upstream or not

    @property
    def steps(self) -> tuple[str, str]:
        return (self.a.ref, self.b.ref)

    @property
    def same_recipe(self) -> bool:
        return not (
            self.read_other_bytes
            or self.params
            or self.code
            or self.env
            or self.packages
            or self.a.tracer != self.b.tracer
        )


@record
class LineageDiff:
    a: Side
    b: Side
    pairs: list[PairDiff]
    only_a: list[JobView]
    only_b: list[JobView]
    inputs: list[FileChange] = field(default_factory=list)
    parameters: list[StepParam] = field(default_factory=list)
    code: list[CodeChange] = field(default_factory=list)
    environment: list[NamedChange] = field(default_factory=list)
    packages: list[NamedChange] = field(default_factory=list)
    host: list[NamedChange] = field(default_factory=list)
    tracer: list[NamedChange] = field(default_factory=list)
    outputs: list[FileChange] = field(default_factory=list)
    target: FileChange | None = None  # the two artifacts, when they differ
    first_divergence: PairDiff | None = None
    nondeterministic: list[PairDiff] = field(default_factory=list)
    metrics: list[diff_metrics.MetricsDiff] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (self.causes or self.outputs or self.target or self.only_a or self.only_b)


def diff_refs(reader: Reader, ws: Workspace, ref_a: str, ref_b: str) -> LineageDiff:
    """Load both sides and compare them (the one call ``roar diff`` makes)."""
    a = load_side(reader, ws, ref_a)
    b = a if ref_b == ref_a else load_side(reader, ws, ref_b)

    def members(composite_id: int) -> dict[str, str]:
        return {rel: art.digest for rel, art in reader.composite_members(composite_id)}

    result = compare(a, b, ws.root, members)
    result.metrics = _metrics(reader, result)
    return result


def compare(
    a: Side, b: Side, root: Path, members: Callable[[int], dict[str, str]] | None = None
) -> LineageDiff:
    """``members``: a composite artifact's id → {relative path: digest} of its files."""
    shapes = shapes_of(a, b, root)
    pairs, only_a, only_b = pair_jobs(a, b, shapes)
    compared = [_compare_pair(shapes[id(ja)], shapes[id(jb)], a, b) for ja, jb in pairs]
    result = LineageDiff(a, b, compared, only_a, only_b)
    if a.target and b.target and a.target.digest != b.target.digest:
        ref_a, ref_b = (a.anchor.ref if a.anchor else None), (b.anchor.ref if b.anchor else None)
        result.target = FileChange(a.target, b.target, ref_a, ref_b, False)
    for p in result.pairs:
        result.inputs += p.inputs
        result.parameters += [StepParam(p.a.ref, p.b.ref, c) for c in p.params]
        result.outputs += p.outputs
        if p.outputs and result.first_divergence is None:
            result.first_divergence = p
        if p.outputs and p.same_recipe:
            result.nondeterministic.append(p)
    result.code = _code(result.pairs, root)
    result.environment = _merge(
        [(p, name, change, None, None) for p in result.pairs for name, change in p.env]
    )
    result.host = _merge(
        [(p, key, "changed", va, vb) for p in result.pairs for key, va, vb in p.host]
    )
    result.tracer = _merge(
        [
            (p, "tracer", "changed", p.a.tracer, p.b.tracer)
            for p in result.pairs
            if p.a.tracer != p.b.tracer
        ]
    )
    result.packages = _packages(a, b)
    if members is not None:
        for f in [*result.inputs, *([result.target] if result.target else [])]:
            f.members = _member_changes(f, members)
    result.causes = causes(result, root)
    return result


# One pair of steps ------------------------------------------------------------------------------
def _compare_pair(sa: JobShape, sb: JobShape, a: Side, b: Side) -> PairDiff:
    ja, jb = sa.job, sb.job
    pair = PairDiff(ja, jb)
    if ja.id == jb.id:  # one job both lineages hold: nothing differs
        return pair
    for fa, fb in pair_files(ja.inputs, jb.inputs, sa, sb):
        if fa is not None and fb is not None and fa.digest == fb.digest:
            continue
        pair.read_other_bytes = True
        source_a = fa is None or a.producer(fa.digest, ja) is None
        source_b = fb is None or b.producer(fb.digest, jb) is None
        if source_a or source_b:  # an intermediate's change is told where it was made
            pair.inputs.append(FileChange(fa, fb, ja.ref, jb.ref, True))
    pair.params = [c for c in _params(sa, sb) if not (c.name == "program" and ja.kind == "cell")]
    pair.code = (
        ja.git_commit != jb.git_commit
        or ja.git_dirty != jb.git_dirty
        or ja.git_diff_hash != jb.git_diff_hash
        or ja.source_hash != jb.source_hash
    )
    pair.env = _env(ja.metadata.get("env") or {}, jb.metadata.get("env") or {})
    pair.host = _host(ja.metadata.get("host") or {}, jb.metadata.get("host") or {})
    pair.packages = (ja.metadata.get("packages") or {}) != (jb.metadata.get("packages") or {})
    for fa, fb in pair_files(ja.outputs, jb.outputs, sa, sb):
        if fa is None or fb is None or fa.digest != fb.digest:
            pair.outputs.append(FileChange(fa, fb, ja.ref, jb.ref, False))
    return pair


def _member_changes(
    f: FileChange, members: Callable[[int], dict[str, str]]
) -> list[tuple[str, str]]:
    """Which files inside two versions of a directory differ (a dataset folder read whole)."""
    if not (f.a and f.b and f.a.is_composite and f.b.is_composite):
        return []
    ma, mb = members(f.a.artifact_id), members(f.b.artifact_id)
    return [
        (rel, "removed" if rel not in mb else "added" if rel not in ma else "changed")
        for rel in sorted(set(ma) | set(mb))
        if ma.get(rel) != mb.get(rel)
    ]


def _params(sa: JobShape, sb: JobShape) -> list[ParamChange]:
    from roar.query.diff_params import compare as compare_params

    changes = compare_params(sa.shape, sb.shape, sa.names_file, sb.names_file)
    if sa.job.cwd != sb.job.cwd:
        changes.append(ParamChange("cwd", sa.job.cwd or ".", sb.job.cwd or ".", "changed"))
    return changes


def _env(a: dict[str, str], b: dict[str, str]) -> list[tuple[str, str]]:
    """(name, change): values are compared as recorded (secrets already masked), never shown."""
    changes = []
    for name in sorted(set(a) | set(b)):
        if name in ENV_NOISE:
            continue
        if name not in b:
            changes.append((name, "removed"))
        elif name not in a:
            changes.append((name, "added"))
        elif a[name] != b[name]:
            changes.append((name, "changed"))
    return changes


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, list):
            flat[prefix + k] = ", ".join(
                str(x.get("model", x)) if isinstance(x, dict) else str(x) for x in v
            )
        else:
            flat[prefix + k] = v
    return flat


def _host(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    fa, fb = _flat(a), _flat(b)
    return [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


# Across the lineage -----------------------------------------------------------------------------
def _merge(items: list[tuple[PairDiff, str, str, Any, Any]]) -> list[NamedChange]:
    merged: dict[tuple[str, str, str, str], NamedChange] = {}
    for pair, name, change, va, vb in items:
        key = (name, change, repr(va), repr(vb))
        entry = merged.setdefault(key, NamedChange(name, change, va, vb))
        entry.steps.append(pair.steps)
    return list(merged.values())


def _packages(a: Side, b: Side) -> list[NamedChange]:
    """Every package the lineages' jobs used, by manager: versions changed, added, removed."""

    def used(side: Side) -> dict[tuple[str, str], set[str]]:
        found: dict[tuple[str, str], set[str]] = {}
        for job in side.jobs:
            for manager, packages in (job.metadata.get("packages") or {}).items():
                for name, version in (packages or {}).items():
                    found.setdefault((manager, name), set()).add(str(version))
        return found

    ua, ub = used(a), used(b)
    changes = []
    for manager, name in sorted(set(ua) | set(ub), key=lambda k: (k[0], k[1].lower())):
        va, vb = ua.get((manager, name)), ub.get((manager, name))
        label = name if manager == "pip" else f"{manager}:{name}"
        if va == vb:
            continue
        change = "removed" if not vb else "added" if not va else "changed"
        changes.append(NamedChange(label, change, _versions(va), _versions(vb)))
    return changes


def _versions(v: set[str] | None) -> str | None:
    return ", ".join(sorted(v)) if v else None


def _code(pairs: list[PairDiff], root: Path) -> list[CodeChange]:
    merged: dict[tuple, CodeChange] = {}
    for p in pairs:
        if not p.code:
            continue
        ja, jb = p.a, p.b
        key = (
            ja.git_commit,
            jb.git_commit,
            ja.git_dirty,
            jb.git_dirty,
            ja.git_diff_hash,
            jb.git_diff_hash,
        )
        entry = merged.get(key)
        if entry is None:
            entry = merged[key] = CodeChange(*key)  # type: ignore[arg-type]
        entry.steps.append(p.steps)
        if ja.source_hash != jb.source_hash and (ja.kind == "cell" or jb.kind == "cell"):
            entry.cells.append(p.steps)
    for entry in merged.values():
        if entry.commit_a and entry.commit_b and entry.commit_a != entry.commit_b:
            entry.files = _git_changed_files(root, entry.commit_a, entry.commit_b)
        steps = [p for p in pairs if p.steps in entry.steps]
        data = {os.path.relpath(f.path, root) for p in steps
                for f in (*p.a.inputs, *p.a.outputs, *p.b.inputs, *p.b.outputs)}  # fmt: skip
        named = {os.path.basename(t) for p in steps for t in (*p.a.argv, *p.b.argv)}
        entry.data_files = [f for f in entry.files or [] if f in data]
        entry.named_files = [
            f for f in entry.files or [] if os.path.basename(f) in named and f not in data
        ]
        if only_data(entry):  # the steps' code is the same: their data is told as inputs
            for p in steps:
                p.code = False
    return [e for e in merged.values() if _code_differs(e)]


def _code_differs(e: CodeChange) -> bool:
    same_commit = e.commit_a == e.commit_b and e.dirty_a == e.dirty_b
    return not same_commit or e.diff_hash_a != e.diff_hash_b or bool(e.cells)


def _git_changed_files(root: Path, commit_a: str, commit_b: str) -> list[str] | None:
    """``git diff --name-only A B`` in the project (None: git does not know a commit)."""
    import subprocess  # only when two commits differ

    try:
        done = subprocess.run(
            [
                "git",
                "--no-optional-locks",
                "diff",
                "--name-only",
                "--no-renames",
                commit_a,
                commit_b,
                "--",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return [line for line in done.stdout.splitlines() if line][:GIT_FILES_LIMIT]


# Metrics ----------------------------------------------------------------------------------------
def _metrics(reader: Reader, d: LineageDiff) -> list[diff_metrics.MetricsDiff]:
    candidates = ([d.target] if d.target else []) + d.outputs
    found = []
    seen: set[tuple[str, str]] = set()
    check = disk_check(reader)
    for f in candidates:
        if f.a is None or f.b is None or (f.a.digest, f.b.digest) in seen:
            continue
        seen.add((f.a.digest, f.b.digest))
        if not (
            diff_metrics.looks_like_metrics(f.a.path, f.a.size)
            and diff_metrics.looks_like_metrics(f.b.path, f.b.size)
        ):
            continue
        diff = diff_metrics.compare(
            f.a.path, _bytes_of(reader, check, f.a), f.b.path, _bytes_of(reader, check, f.b)
        )
        if diff is not None:
            found.append(diff)
    return found


def _bytes_of(reader: Reader, check: Any, f: FileView) -> bytes | None:
    """The recorded bytes, from a file on disk that holds them now (its recorded path first,
    then other paths the same content was read or written at)."""
    paths = [f.path]
    if check.state(f.path, f.digest, f.size, f.algorithm) != "current":
        for role in ("output", "input"):
            for job in reader.jobs_with_artifacts([f.artifact_id], role)[:10]:
                paths += [g.path for g in (*job.outputs, *job.inputs) if g.digest == f.digest]
    for path in dict.fromkeys(paths):
        if check.state(path, f.digest, f.size, f.algorithm) == "current":
            try:
                with open(path, "rb") as fh:
                    return fh.read(diff_metrics.MAX_BYTES + 1)
            except OSError:
                continue
    return None
