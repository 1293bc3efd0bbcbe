"""roar inputs TARGET [--contains X] [--all] [--json]: what a target was made from.

Every transitive source input (bytes no recorded job produced) with its hash, size, recorded
path and the jobs that read it; ``--all`` adds the intermediates. ``--contains X`` answers "was
X in its lineage?": exit 0 with the chain of jobs from X to the target, or exit 1.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from roar.cli.commands._common import add_json_flag, open_reader
from roar.cli.console import Console, display_path, human_size
from roar.query.inputs import Containment, InputsAnswer, contains, inputs_of

if TYPE_CHECKING:
    from roar.store.views import FileView, JobView

HELP = "Source inputs of an artifact or job; --contains X: was X in its lineage"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inputs", help=HELP)
    p.add_argument("target", help="a path, a hash prefix (8+ hex), @N, @BN or a job uid")
    p.add_argument(
        "--contains",
        metavar="X",
        help="a path (hashed now) or a hash prefix: exit 0 and the chain of jobs when X is in "
        "the target's lineage, exit 1 when not",
    )
    p.add_argument("--all", action="store_true", help="list the intermediates too")
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    with open_reader() as (ws, reader):
        conn = reader.conn
        if args.contains:
            answer = contains(conn, ws, args.target, args.contains)
            return _render_containment(answer, args, console)
        listing = inputs_of(conn, ws, args.target, intermediates=args.all)
        if args.json:
            from roar.store.labels import documents  # roar.query.labels.of_artifacts, lighter

            target = [listing.target.file.digest] if listing.target.file else []
            labels = documents(conn, "artifact", [e.file.digest for e in listing.entries] + target)
            console.json(_inputs_json(listing, labels))
            return 0
    return _render_inputs(listing, args, console)


def _inputs_json(answer: InputsAnswer, labels: dict[str, dict]) -> dict[str, Any]:
    """``roar inputs --json`` (docs/json-contract.md): artifact objects with who read them."""
    from roar.query.serialize import file_artifact, job_identity

    data = _target_json_of(answer.target)
    if answer.target.file is not None:
        data["target"] = file_artifact(answer.target.file, answer.disk, labels)
    return {
        **data,
        "jobs": [job_identity(j) for j in answer.jobs],
        "inputs": [
            {
                **file_artifact(e.file, answer.disk, labels),
                "source": e.source,
                "read_by": [job_identity(j) for j in e.readers],
                "produced_by": job_identity(e.producer) if e.producer else None,
            }
            for e in answer.entries
        ],
    }


def _render_inputs(answer: InputsAnswer, args: argparse.Namespace, console: Console) -> int:
    name = _target_name(answer.target)
    sources = answer.sources
    if not answer.jobs:
        console.out(f"{name}: no recorded job produced it: it is a source input.")
        return 0
    console.out(
        f"Source inputs of {name} ({len(sources)}, through {len(answer.jobs)} "
        f"job{'s' if len(answer.jobs) != 1 else ''}):"
    )
    for e in sources:
        console.out(_entry_line(e.file, answer.disk, f"read by {_refs(e.readers)}"))
    if not sources:
        console.out("  (none: every input was made by a recorded job)")
    if args.all:
        middle = [e for e in answer.entries if not e.source]
        console.out(f"Intermediates ({len(middle)}):")
        for e in middle:
            made = e.producer.ref if e.producer else "?"
            console.out(
                _entry_line(e.file, answer.disk, f"made by {made}, read by {_refs(e.readers)}")
            )
    return 0


def _entry_line(f: FileView, disk: dict[tuple[str, str], str], note: str) -> str:
    state = disk.get((f.path, f.digest))
    flag = f"  [{state}]" if state and state != "current" else ""
    kind = " (directory)" if f.is_composite else ""
    return (
        f"  {f.digest[:12]}  {human_size(f.size):>9}  {display_path(f.path)}{kind}{flag}  ({note})"
    )


def _refs(jobs: list[JobView]) -> str:
    return ", ".join(dict.fromkeys(f"{j.ref} [{j.uid}]" for j in jobs)) or "?"


def _render_containment(answer: Containment, args: argparse.Namespace, console: Console) -> int:
    from roar.query.serialize import file_json, job_identity

    name = _target_name(answer.target)
    if args.json:
        art = answer.artifact
        console.json(
            {
                "target": _target_json_of(answer.target),
                "query": answer.needle,
                "query_hash": art.digest if art else None,
                "found": answer.found,
                "via": file_json(answer.via) if answer.via else None,
                "chain": [{"read": file_json(f), "job": job_identity(j)} for f, j in answer.chain],
            }
        )
        return 0 if answer.found else 1
    if not answer.found:
        unknown = "" if answer.artifact else " (roar has no record of these bytes)"
        console.out(f"{answer.needle}: not in the lineage of {name}{unknown}")
        return 1
    assert answer.artifact is not None
    via = answer.via
    inside = (
        f", inside {display_path(via.path)} (a directory read as a whole)"
        if via is not None and via.artifact_id != answer.artifact.id and via.is_composite
        else ""
    )
    console.out(
        f"{answer.needle} ({answer.artifact.digest[:12]}) is in the lineage of {name}{inside}:"
    )
    if not answer.chain:
        console.out("  it is the target itself")
        return 0
    for f, job in answer.chain:
        console.out(f"  {display_path(f.path)}  →  {job.ref} [{job.uid}] {job.command}")
    console.out(f"  ⇒ {name}")
    return 0


def _target_name(target: Any) -> str:
    if target.file is not None and target.label and not target.label.startswith("@"):
        return target.label
    return target.name


def _target_json_of(target: Any) -> dict[str, Any]:
    from roar.query.serialize import file_json, job_identity

    return {
        "target": file_json(target.file) if target.file is not None else None,
        "target_job": job_identity(target.job) if target.job is not None else None,
    }
