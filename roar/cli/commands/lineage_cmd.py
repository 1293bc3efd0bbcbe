"""roar lineage ARTIFACT [-o json|text] [-d DEPTH]: the jobs and artifacts upstream of one.

JSON is the default, as in the roar CLI that scripts were written for; `-o text` reads well.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from roar.cli.commands._common import open_reader
from roar.cli.console import Console, display_path
from roar.errors import RoarError
from roar.query.history import artifact_lineage, may_be_path, no_artifact_at, resolve_artifact
from roar.query.labels import for_lineage
from roar.query.serialize import lineage_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lineage", help="Where an artifact came from: upstream jobs and artifacts")
    p.add_argument("artifact", help="a file path or a hash prefix (8+ hex)")
    p.add_argument("--json", action="store_true", help="JSON (the default)")
    p.add_argument(
        "-o", "--output", choices=["json", "text"], default="json", help="json (default) or text"
    )
    p.add_argument("-d", "--depth", type=int, default=50, help="how many producer levels to follow")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    with open_reader() as (ws, r):
        hit = resolve_artifact(r, ws, args.artifact)
        if hit is None:
            if may_be_path(args.artifact):
                raise no_artifact_at(args.artifact)
            raise RoarError(
                f"Artifact not found in database: {args.artifact}",
                hint="The file may not have been tracked by roar yet.",
            )
        lineage = artifact_lineage(r, hit, depth=args.depth)
        labels = for_lineage(r, lineage)
    if args.json or args.output != "text":
        console.json(lineage_json(lineage, ws.root, labels))
        return 0
    console.out(f"Artifact: {display_path(lineage.target.path)}  {lineage.target.digest[:12]}")
    if not lineage.jobs:
        console.out("No recorded job produced it: it is a source input.")
        return 0
    console.out(f"Produced through {len(lineage.jobs)} job(s):")
    for job in lineage.jobs:
        when = datetime.fromtimestamp(job.started_at).strftime("%Y-%m-%d %H:%M:%S")
        console.out(f"  {job.ref:<5} [{job.uid}] {when}  {job.command}")
        for f in job.inputs:
            console.out(f"         in  {f.digest[:12]}  {display_path(f.path)}")
        for f in job.outputs:
            console.out(f"         out {f.digest[:12]}  {display_path(f.path)}")
    return 0
