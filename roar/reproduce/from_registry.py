"""A reproduction plan from the GLaaS registry, for an artifact the local store does not hold.

``roar reproduce HASH`` asks the local store first; when no local artifact or job matches the
hash and ``glaas.url`` is set, the registry's recipe (``GET /artifacts/{hash}/recipe``) gives
the steps and the source inputs. The recorded paths are under the project root of the machine
that registered them (the recipe's ``project_root``); they are mapped into this checkout, so
the plan reads as if recorded here, and ``--run`` replays it the same way as a local plan:
in a fresh worktree, sources placed from the local files that hold their bytes.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from roar.errors import RoarError
from roar.query.refs import HEX, MIN_HASH_PREFIX
from roar.record import hashing
from roar.registry import client
from roar.reproduce.placement import PathMap
from roar.reproduce.plan import PlanStep, ReproPlan, SourceInput, step_note
from roar.store.views import FileView, JobView

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roar.store.queries import Reader


def may_be_remote(target: str) -> bool:
    """A hash prefix the registry could answer for (8 to 64 hex digits)."""
    return MIN_HASH_PREFIX <= len(target) <= 64 and bool(HEX.match(target))


def known_locally(reader: Reader, target: str) -> bool:
    """Whether the local store has an artifact or a job that ``target`` names."""
    target = target.lower()
    return bool(reader.artifacts_by_digest_prefix(target) or reader.jobs_by_uid_prefix(target))


def fallback(root: Path, config_path: Path | None, target: str) -> tuple[ReproPlan, str]:
    """The plan for ``target`` from the registry (glaas.url), and the registry's URL."""
    url = client.configured_url(config_path)
    if url is None:
        raise RoarError(
            f"GLaaS server not configured: {target} is not in the local store, and roar has no "
            "registry to ask for its lineage.",
            hint="Reproduce against the local store (the artifact must be tracked here), or set "
            "the GLaaS URL: " + client.SET_URL_HINT,
        )
    try:
        recipe = client.get(url, f"/artifacts/{target.lower()}/recipe")
    except client.RegistryHTTPError as err:
        if err.status == 404:
            raise RoarError(
                f"No artifact matches {target}, neither in the local store nor in the registry "
                f"at {url}.",
                hint="Check the hash (roar register prints the command to use), or register "
                "its lineage first: roar register <artifact>.",
            ) from None
        raise
    return plan_from_recipe(recipe, root), url


def plan_from_recipe(recipe: dict[str, Any], root: Path) -> ReproPlan:
    """A registry recipe as a ReproPlan whose paths are under ``root`` (this checkout)."""
    steps = recipe.get("steps") or []
    if not steps:
        raise RoarError(
            f"The registry records no job that produced {recipe.get('artifact')}: it is a "
            "source input, nothing to reproduce.",
            hint="Get the file itself (roar get), or register the lineage that made it.",
        )
    recorded = _recorded_root(steps)
    paths = PathMap.of(Path(recorded), root) if recorded else None
    sizes = {s["hash"]: s.get("size") or 0 for s in recipe.get("sources") or []}
    algorithm = _algorithm(steps)

    def here(path: str) -> str:
        return paths.map(path) if paths else path

    def files(items: list[dict[str, Any]]) -> list[FileView]:
        return [
            FileView(here(f["path"]), f["hash"], sizes.get(f["hash"], 0), False, 0, algorithm)
            for f in items
        ]

    plan_steps = []
    for i, s in enumerate(steps, 1):
        git = s.get("git") or {}
        started = _epoch(s.get("started_at"))
        cwd = s.get("cwd") or ""
        job = JobView(
            id=-i,  # not a local store's row
            uid=s["uid"],
            session_id=0,
            kind=s.get("kind") or "run",
            step_number=s.get("step_number") or i,
            step_name=s.get("step_name"),
            command=s.get("command") or "",
            argv=[paths.arg(a) if paths else a for a in s.get("argv") or []],
            cwd=(paths.rel(cwd) or "") if paths and cwd else "",
            started_at=started,
            ended_at=started,
            exit_code=0,
            interrupted=False,
            tracer="",
            git_commit=git.get("commit"),
            git_branch=git.get("branch"),
            git_remote=git.get("remote"),
            git_dirty=bool(git.get("dirty")),
            git_diff_hash=None,
            metadata=dict(s.get("metadata") or {}),
            inputs=files(s.get("inputs") or []),
            outputs=files(s.get("outputs") or []),
        )
        packages = s.get("packages") or {}
        system: dict[str, str] = {}
        for key in ("dpkg", "apt", "system"):
            system.update(packages.get(key) or {})
        plan_steps.append(
            PlanStep(
                job=job,
                env_names=sorted(s.get("env_names") or []),
                packages=dict(packages.get("pip") or {}),
                system_packages=system,
                note=step_note(job),
            )
        )
    target = _target(recipe["artifact"], plan_steps)
    newest = next((p.job for p in reversed(plan_steps) if p.job.git_commit), None)
    return ReproPlan(
        target=target,
        steps=plan_steps,
        sources=_sources(recipe.get("sources") or [], here, algorithm),
        commit=newest.git_commit if newest else None,
        repo_remote=newest.git_remote if newest else None,
    )


def _recorded_root(steps: list[dict[str, Any]]) -> str | None:
    """Where the project was on the registering machine: the root its client sent, else the
    deepest directory every step ran in (a registry bundle made without one)."""
    for s in steps:
        root = (s.get("metadata") or {}).get("project_root")
        if root:
            return str(root)
    cwds = [s["cwd"] for s in steps if s.get("cwd")]
    return os.path.commonpath(cwds) if cwds else None


def _algorithm(steps: list[dict[str, Any]]) -> str:
    for s in steps:
        found = ((s.get("metadata") or {}).get("hashing") or {}).get("algorithm")
        if found:
            return str(found)
    return "blake3"


def _epoch(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def _target(digest: str, steps: list[PlanStep]) -> FileView:
    for step in reversed(steps):
        for f in step.job.outputs:
            if f.digest == digest:
                return f
    raise RoarError(
        f"The registry's recipe for {digest[:12]} has no step that wrote it.",
        hint="The registered lineage is incomplete: register the artifact again from the "
        "machine that made it (roar register <path>).",
    )


def _sources(items: list[dict[str, Any]], here: Any, algorithm: str) -> list[SourceInput]:
    """The recipe's source inputs at their paths in this checkout, with whether the file
    there holds the recorded bytes now (``--run`` also looks elsewhere by hash)."""
    out = []
    for s in items:
        path = here(s["path"])
        present = None
        try:
            if os.path.isfile(path) and os.path.getsize(path) == (s.get("size") or 0):
                found = hashing.hash_paths(None, [path], algorithm).found.get(path)
                present = path if found and found[0] == s["hash"] else None
        except OSError:
            present = None
        out.append(SourceInput(path, s["hash"], s.get("size") or 0, False, algorithm, present))
    return out
