"""Code actions: "roar make X" on a tracked path that is stale or missing, and running it.

The action carries the command ``roar.make`` with the file's recorded path; the client asks the
server to execute it (``workspace/executeCommand``: any editor can, and VS Code does so for the
commands a server lists), and the server runs ``roar make -y PATH`` in the file's project, as a
separate process (the server itself only reads the store). What it did comes back as the
command's result and as a message; the poll then sees the new jobs and clears the diagnostics.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from lsp_server import references
from lsp_server.documents import DocContext
from lsp_server.freshness import MISSING, STALE

MAKE = "roar.make"
MAKEABLE = (STALE, MISSING)  # what rerunning the steps upstream fixes
OUTPUT_KEPT = 4000  # characters of roar make's output returned to the client


def code_actions(
    doc: TextDocument,
    ctx: DocContext,
    selection: types.Range,
    diagnostics: Sequence[types.Diagnostic] = (),
) -> list[types.CodeAction]:
    """ "roar make X" for each stale or missing file named in the selection (only its lines are
    scanned: editors ask on every cursor move) that a recorded ``roar run`` step made."""
    if not ctx.project.ok:
        return []
    found: list[types.CodeAction] = []
    seen: set[str] = set()
    for ref in references.scan(doc.source, doc.language_id or ""):
        if ref.kind != "path" or not selection.start.line <= ref.line <= selection.end.line:
            continue
        where = _range(doc, ref)
        if not _overlaps(where, selection):
            continue
        path = ctx.project.resolve(ref.text, ctx.base_dirs)
        p = ctx.project.provenance(path) if path else None
        if p is None or p.path is None or p.path in seen or p.freshness not in MAKEABLE:
            continue
        if p.producer is None or p.producer.kind != "run":  # cells rerun in their notebook
            continue
        seen.add(p.path)
        title = f"roar make {shlex.quote(_shown(p.path, ctx.project.root))}"
        fixes = [d for d in diagnostics if d.source == "roar" and _overlaps(d.range, where)]
        found.append(
            types.CodeAction(
                title=title,
                kind=types.CodeActionKind.QuickFix,
                diagnostics=fixes or None,
                is_preferred=True,
                command=types.Command(title=title, command=MAKE, arguments=[p.path]),
            )
        )
    return found


async def run_make(ctx: DocContext, path: str) -> tuple[int, str]:
    """``roar make -y PATH`` in the project holding ``path``: (exit code, its output)."""
    if not os.path.isabs(path):
        raise ValueError(f"roar.make takes an absolute path, not {path!r}")
    root = ctx.project.root
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "roar", "make", "-y", "--", _shown(path, root),
        cwd=str(root), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    text = out.decode("utf-8", "replace")
    return int(proc.returncode or 0), text[-OUTPUT_KEPT:]


def summary(path: str, root: Path, code: int, output: str) -> str:
    """One line for the editor: roar make's last line (what it made, or why it stopped)."""
    lines = [line for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if code != 0:
        said = next((line for line in reversed(lines) if line.startswith("Error:")), last)
        return f"roar make {_shown(path, root)} failed (exit {code}): {said}"
    return f"roar: {last}" if last else f"roar make {_shown(path, root)}: done"


def _shown(path: str, root: Path) -> str:
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def _range(doc: TextDocument, ref: references.Reference) -> types.Range:
    server = ServerTextRange(
        ServerTextPosition(ref.line, ref.start), ServerTextPosition(ref.line, ref.end)
    )
    return doc.range_to_client_units(server)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    """Do two ranges share a position (ends included: a cursor at a word's edge is on it)?"""
    a0, a1 = (a.start.line, a.start.character), (a.end.line, a.end.character)
    b0, b1 = (b.start.line, b.start.character), (b.end.line, b.end.character)
    return a0 <= b1 and b0 <= a1
