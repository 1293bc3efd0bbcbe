"""roar get URL [DEST] [--hash H] [--tag] [--force] [--dry-run] [-m MSG] [--json]: download an
object (or every object under a prefix) and record the download as a source node of the DAG."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from roar.cli.commands._common import add_json_flag
from roar.cli.console import Console, display_path, human_size

HELP = "Download artifacts from cloud storage (s3://, gs://, https://), recorded in the DAG"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("get", help=HELP)
    p.add_argument("url", help="s3://bucket/key, gs://bucket/key, https://…, or a path; "
                   "a trailing / downloads every object under the prefix")  # fmt: skip
    p.add_argument("dest", nargs="?", help="local file or directory (default: the current one)")
    p.add_argument("-m", "--message", help="annotation for this download")
    p.add_argument("--hash", dest="expected_hash", help="expected BLAKE3 hash (or a prefix of it)")
    p.add_argument("--tag", action="store_true", help="create a git tag for this download")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--dry-run", action="store_true", help="preview without downloading")
    add_json_flag(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    from roar.transfer.get import GetRequest, get
    from roar.transfer.progress import StderrBar

    request = GetRequest(
        source=args.url,
        dest=args.dest,
        expected_hash=args.expected_hash,
        force=args.force,
        dry_run=args.dry_run,
        message=args.message,
        tag=args.tag,
        argv=("roar", "get", *sys.argv[2:])
        if sys.argv[1:2] == ["get"]
        else ("roar", "get", args.url),
    )
    outcome = get(request, StderrBar("get"))
    if args.json:
        console.json(_json(outcome))
    if outcome.spooled is not None:  # downloaded, but the store refused the record
        return report_spooled(outcome.spooled, console)
    if args.json:
        return 0
    todo = [o for o in outcome.objects if not o.skip]
    if outcome.dry_run:
        console.out(f"Would download {len(todo)} object(s), {human_size(sum(max(o.info.size, 0) for o in todo))}, "
                    f"from {outcome.url} to {display_path(outcome.dest)}:")  # fmt: skip
        for o in todo[:10]:
            console.out(f"  {o.url} -> {display_path(o.local)}")
        if len(todo) > 10:
            console.out(f"  … and {len(todo) - 10} more")
        if outcome.skipped:
            console.out(f"  {outcome.skipped} already present with the recorded content")
        console.err("Dry run: nothing was downloaded or recorded.")
        return 0
    if not todo:
        console.out(f"Up to date: {display_path(outcome.dest)} already holds {outcome.url} "
                    f"({(outcome.digest or '')[:12]}); nothing downloaded.")  # fmt: skip
        return 0
    what = f"{outcome.downloaded} object(s)" if outcome.composite else "1 object"
    console.out(f"Downloaded {what}, {human_size(outcome.downloaded_bytes)}, {outcome.url} -> "
                f"{display_path(outcome.dest)} in {outcome.seconds:.1f}s")  # fmt: skip
    if outcome.skipped:
        console.out(f"  {outcome.skipped} object(s) already present with the recorded content")
    console.out(f"  blake3 {outcome.digest}" if outcome.digest else "")
    console.err(f"Recorded as step @{outcome.step_number} (job {outcome.job_uid}, a source node).")
    if outcome.tag:
        console.err(f"Tagged HEAD as {outcome.tag}.")
    return 0


def report_spooled(spooled: Any, console: Console) -> int:
    """The transfer is done but its record is not in the store: where it is kept (exit 0: the
    next roar command records it), or that it is lost (exit 1)."""
    if spooled.kept_at is not None:
        console.error(
            f"roar could not record this transfer: {spooled.failure}",
            f"The record is kept in {display_path(str(spooled.kept_at))}; once the store can be "
            "written again (free some space, or make it writable), the next roar command "
            "records it. Do not transfer the files again for it.",
        )
        return 0
    console.error(
        f"roar could not record this transfer: {spooled.failure} It could not be kept aside "
        f"either ({spooled.keep_error}), so the transfer is not recorded.",
        spooled.hint,
    )
    return 1


def spooled_json(spooled: Any) -> dict | None:
    if spooled is None:
        return None
    return {
        "failure": spooled.failure,
        "kept_at": str(spooled.kept_at) if spooled.kept_at is not None else None,
        "keep_error": spooled.keep_error,
    }


def _json(outcome: object) -> dict:
    from roar.transfer.get import GetOutcome

    assert isinstance(outcome, GetOutcome)
    return {
        "url": outcome.url,
        "dest": outcome.dest,
        "composite": outcome.composite,
        "dry_run": outcome.dry_run,
        "hash": outcome.digest,
        "size": outcome.size,
        "downloaded": outcome.downloaded,
        "downloaded_bytes": outcome.downloaded_bytes,
        "skipped": outcome.skipped,
        "seconds": round(outcome.seconds, 3),
        "job_uid": outcome.job_uid,
        "step_number": outcome.step_number,
        "tag": outcome.tag,
        "spooled": spooled_json(outcome.spooled),
        "objects": [
            {"url": o.url, "path": o.local, "hash": o.digest, "size": o.info.size,
             "etag": o.info.etag, "version_id": o.info.version_id, "skipped": o.skip}
            for o in outcome.objects
        ],
    }  # fmt: skip
