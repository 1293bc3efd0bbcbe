"""Small pieces the history commands share."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from roar.workspace import Workspace, require_workspace

if TYPE_CHECKING:
    from roar.query.lineage import DagArtifact
    from roar.store.queries import Reader


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


@contextmanager
def open_reader() -> Iterator[tuple[Workspace, Reader]]:
    from roar.store.queries import reader

    ws = require_workspace()
    with reader(ws.db_path) as r:
        yield ws, r


def status_word(exit_code: int | None, interrupted: bool = False) -> str:
    if interrupted:
        return "INT"
    if exit_code is None:
        return "?"  # roar did not see how it ended
    return "OK" if exit_code == 0 else "FAIL"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 stale step``, ``3 stale steps``."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def step_refs(steps: list[int]) -> str:
    return ", ".join(f"@{s}" for s in steps)


def artifact_tags(a: DagArtifact) -> list[str]:
    """What a user needs to know about an artifact of the DAG, in words the legend explains.
    (``--json`` keeps the states scripts know: ``orphaned`` reads ``not yet read by @N`` when a
    step read an older version at the path, and is a side output otherwise.)"""
    from roar.query.disk import MISSING, MODIFIED

    tags = []
    if a.state in ("stale", "superseded"):
        tags.append(f"[{a.state}]")
    elif a.not_yet_read_by:
        tags.append(f"[not yet read by {step_refs(a.not_yet_read_by)}]")
    if a.deleted_by_step is not None:
        tags.append(f"[deleted by @{a.deleted_by_step}]")
    elif a.state != "superseded" and a.disk_state in (MODIFIED, MISSING):
        tags.append(f"[{a.disk_state}]")
    return tags


def artifact_role(a: DagArtifact) -> str:
    """``(intermediate)``: later steps read it; ``(side output)``: its step feeds others, but
    nothing reads this file; nothing for a final output."""
    if a.is_terminal:
        return ""
    return (
        " (side output)" if a.state == "orphaned" and not a.not_yet_read_by else " (intermediate)"
    )


# What the artifact tags mean (shown under a listing when one of them appears in it).
ARTIFACT_LEGEND = {
    "[stale]": "[stale] = made by a stale step",
    "[superseded]": "[superseded] = an older version: a later run wrote other bytes there",
    "[not yet read by": "[not yet read by @N] = newer than the version @N read (rerun @N)",
    "[modified on disk]": "[modified on disk] = changed outside roar since it was recorded",
    "[missing]": "[missing] = no longer on disk",
}


def artifact_legend(tags: list[str]) -> list[str]:
    """The legend lines for the tags that were shown, in a fixed order."""
    return [text for key, text in ARTIFACT_LEGEND.items() if any(t.startswith(key) for t in tags)]
