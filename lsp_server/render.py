"""What the editor shows: hover Markdown, code-lens titles and diagnostic messages."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from lsp_server.freshness import CURRENT, MISSING, MODIFIED, STALE
from lsp_server.lookup import SUPERSEDED, Provenance, script_of
from roar.cli.console import exit_text, human_size
from roar.store.provenance import JobRef

SHORT = 12
NOT_TRACKED = "**roar**: not tracked by roar"


def notice(text: str) -> str:
    """A hover that says why provenance cannot be shown (the store needs the user)."""
    return f"**roar**: {text}"


def short(digest: str) -> str:
    return digest[:SHORT]


def ago(ts: float, now: float | None = None) -> str:
    seconds = max(0.0, (now if now is not None else time.time()) - ts)
    if seconds < 60:
        return "just now"
    for limit, unit, div in ((3600, "min", 60), (86400, "h", 3600), (float("inf"), "d", 86400)):
        if seconds < limit:
            return f"{int(seconds // div)} {unit} ago"
    return ""  # unreachable: the last limit is infinite


def display(path: str | None, root: Path) -> str:
    if not path:
        return "(no path recorded)"
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def job_label(job: JobRef) -> str:
    """``train.py`` for a run, ``analysis.ipynb [4]`` for a notebook cell."""
    if job.kind == "cell":
        name = os.path.basename(job.notebook_path or "notebook")
        return f"{name} [{job.execution_count if job.execution_count is not None else ' '}]"
    script = script_of(job)
    return os.path.basename(script) if script else (job.argv[0] if job.argv else job.command)


def lens_title(p: Provenance) -> str:
    """``produced by @3 · train.py · 2 h ago``; a source input says who read it."""
    if p.producer is not None:
        title = (
            f"produced by {p.producer.ref} · {job_label(p.producer)} · {ago(p.producer.ended_at)}"
        )
    else:
        title = f"source input · read by {p.consumer_count} job(s)"
    return title if p.freshness == CURRENT else f"{title} · {p.freshness}"


def hover(p: Provenance, root: Path) -> str:
    name = os.path.basename(p.path) if p.path else short(p.artifact.digest)
    lines = [
        f"**roar** · `{name}` — **{p.freshness}**" if p.path else f"**roar** · `{name}`",
        "",
        f"`{display(p.path, root)}` · hash `{short(p.artifact.digest)}` ({p.artifact.algorithm})"
        f" · {human_size(p.artifact.size)}{' · directory' if p.artifact.is_composite else ''}",
        "",
    ]
    lines += _freshness_lines(p, root)
    if p.labels:
        lines += [f"**Labels**: {label_text(p.labels)}", ""]
    lines += _producer_lines(p.producer, p.producer_labels)
    if p.inputs:
        lines.append(f"**Inputs** ({len(p.inputs)}):")
        lines += [f"- `{short(f.digest)}` {display(f.path, root)}" for f in p.inputs[:10]]
        lines += [f"- … {len(p.inputs) - 10} more"] if len(p.inputs) > 10 else []
        lines.append("")
    lines += _consumer_lines(p)
    return "\n".join(lines).rstrip() + "\n"


def _freshness_lines(p: Provenance, root: Path) -> list[str]:
    if p.freshness == STALE:
        changed = ", ".join(f"`{display(path, root)}` ({how})" for path, how in p.changed[:3])
        return [f"⚠ **stale**: upstream input changed since it was produced: {changed}", ""]
    if p.freshness == MODIFIED:
        return ["⚠ **modified on disk**: the file no longer holds the recorded bytes", ""]
    if p.freshness == MISSING:
        return [
            "⚠ **missing**: recorded by roar, not on disk (`roar reproduce` can rebuild it)",
            "",
        ]
    return []


def _producer_lines(job: JobRef | None, labels: dict | None = None) -> list[str]:
    if job is None:
        return ["**Produced by**: no recorded job (a source input)", ""]
    when = datetime.fromtimestamp(job.started_at).strftime("%Y-%m-%d %H:%M:%S")
    commit = (job.git_commit or "no commit")[:SHORT] + (" (dirty)" if job.git_dirty else "")
    what = f"cell `{job_label(job)}`" if job.kind == "cell" else f"`{_clip(job.command)}`"
    lines = [
        f"**Produced by** {job.ref} {what}  ",  # two spaces: a Markdown line break
        f"commit `{commit}` · {when} ({ago(job.ended_at)}) · {exit_text(job.exit_code)} · job `{job.uid}`",
    ]
    if labels:
        lines[-1] += "  "
        lines.append(f"job labels: {label_text(labels)}")
    return [*lines, ""]


LABELS_SHOWN = 12  # a hover stays short: "… N more" stands for the rest (roar label show has all)


def label_text(doc: dict) -> str:
    """Labels as code spans, ``phase=train · lr=0.001 · model.name=resnet50``: dotted keys,
    values as typed (a backtick in one reads as a quote: it would end the span)."""
    items = [
        f"`{_clip(f'{key}={value}', 60).replace('`', chr(39))}`" for key, value in _flat_labels(doc)
    ]
    more = [f"… {len(items) - LABELS_SHOWN} more"] if len(items) > LABELS_SHOWN else []
    return " · ".join(items[:LABELS_SHOWN] + more)


def _flat_labels(doc: dict, prefix: str = "") -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            pairs += _flat_labels(value, f"{prefix}{key}.")
        elif isinstance(value, bool):
            pairs.append((f"{prefix}{key}", "true" if value else "false"))
        else:
            pairs.append((f"{prefix}{key}", "null" if value is None else str(value)))
    return pairs


def _consumer_lines(p: Provenance) -> list[str]:
    if not p.consumer_count:
        return ["**Consumers**: none recorded"]
    lines = [f"**Consumers** ({p.consumer_count}):"]
    for j in p.consumers:
        mark = CONSUMER_MARKS.get(p.consumer_states.get(j.id, ""), "")
        lines.append(f"- {j.ref} `{_clip(_consumer_label(j))}`{mark}")
    if p.consumer_count > len(p.consumers):
        lines.append(f"- … {p.consumer_count - len(p.consumers)} more (all in Show lineage)")
    return lines


# What a consumer that is not current is marked with, in words (the DAG draws the same states).
CONSUMER_MARKS = {
    SUPERSEDED: " — *superseded: ran again since*",
    STALE: " — ⚠ *stale: an input changed since it ran*",
}


def _consumer_label(job: JobRef) -> str:
    return f"cell {job_label(job)}" if job.kind == "cell" else job.command


def _clip(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def diagnostic_message(p: Provenance, root: Path) -> str:
    by = f" (produced by {p.producer.ref} · {job_label(p.producer)})" if p.producer else ""
    if p.freshness == STALE:
        changed = ", ".join(display(path, root) for path, _ in p.changed[:3])
        return f"roar: stale — upstream input changed since it was produced{by}: {changed}"
    if p.freshness == MODIFIED:
        return f"roar: modified on disk since it was recorded{by}"
    return f"roar: missing — recorded{by} but not on disk"
