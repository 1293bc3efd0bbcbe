"""The LSP answers, each built from a document, the references in it and their provenance.

``server.py`` only wires these to LSP methods; nothing here touches SQL or the wire.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path
from pygls.workspace import TextDocument, Workspace
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from lsp_server import lookup, references, render
from lsp_server.documents import DocContext, fs_path
from lsp_server.freshness import CURRENT, MODIFIED
from lsp_server.references import MIN_HASH_PREFIX, Reference

_SEVERITY = {MODIFIED: types.DiagnosticSeverity.Hint}
SHOW_LINEAGE = "roar.showLineage"  # run by the VS Code extension (opens the lineage view)


def _range(doc: TextDocument, ref: Reference) -> types.Range:
    server = ServerTextRange(
        ServerTextPosition(ref.line, ref.start), ServerTextPosition(ref.line, ref.end)
    )
    return doc.range_to_client_units(server)


def _lookup(ctx: DocContext, ref: Reference) -> lookup.Provenance | None:
    if ref.kind == "hash":
        ok = len(ref.text) >= MIN_HASH_PREFIX
        return ctx.project.provenance_of_hash(ref.text) if ok else None
    path = ctx.project.resolve(ref.text, ctx.base_dirs)
    return ctx.project.provenance(path) if path else None


def tracked_references(
    doc: TextDocument, ctx: DocContext
) -> Iterator[tuple[Reference, lookup.Provenance]]:
    """Every path reference in ``doc`` that names a tracked file, with its provenance."""
    if not ctx.project.ok:
        return
    memo: dict[str, lookup.Provenance | None] = {}
    for ref in references.scan(doc.source, doc.language_id or ""):
        path = ctx.project.resolve(ref.text, ctx.base_dirs)
        if path is None:
            continue
        if path not in memo:
            memo[path] = ctx.project.provenance(path)
        if memo[path] is not None:
            yield ref, memo[path]  # type: ignore[misc]


def hover(doc: TextDocument, ctx: DocContext, position: types.Position) -> types.Hover | None:
    pos = doc.position_from_client_units(position)
    line = doc.lines[pos.line] if pos.line < len(doc.lines) else ""
    refs = references.at(line, pos.line, pos.character, doc.language_id or "")
    for ref in refs if ctx.project.ok else []:
        found = _lookup(ctx, ref)
        if found is not None:
            return _hover(render.hover(found, ctx.project.root), doc, ref)
    if not ctx.project.ok:  # no readable store: say so for files that exist
        said = render.notice(ctx.project.notice) if ctx.project.notice else render.NOT_TRACKED
        for ref in refs:
            if ref.kind == "path" and _exists(ref.text, ctx):
                return _hover(said, doc, ref)
    return None


def _hover(markdown: str, doc: TextDocument, ref: Reference) -> types.Hover:
    content = types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown)
    return types.Hover(contents=content, range=_range(doc, ref))


def _exists(text: str, ctx: DocContext) -> bool:
    expanded = os.path.expanduser(text)
    return any(os.path.exists(os.path.join(base, expanded)) for base in ctx.base_dirs)


def diagnostics(doc: TextDocument, ctx: DocContext) -> list[types.Diagnostic]:
    found = []
    for ref, p in tracked_references(doc, ctx):
        if p.freshness == CURRENT:
            continue
        found.append(
            types.Diagnostic(
                range=_range(doc, ref),
                message=render.diagnostic_message(p, ctx.project.root),
                severity=_SEVERITY.get(p.freshness, types.DiagnosticSeverity.Warning),
                source="roar",
                code=p.freshness,
            )
        )
    return found


def code_lenses(doc: TextDocument, ctx: DocContext) -> list[types.CodeLens]:
    lenses, seen = [], set()
    for ref, p in tracked_references(doc, ctx):
        if (ref.line, p.path) in seen:
            continue
        seen.add((ref.line, p.path))
        command = types.Command(
            title=render.lens_title(p), command=SHOW_LINEAGE, arguments=[p.path]
        )
        lenses.append(types.CodeLens(range=_range(doc, ref), command=command))
    return lenses


def definition(
    doc: TextDocument, ctx: DocContext, position: types.Position, workspace: Workspace
) -> types.Location | None:
    """The code that produced the file under the cursor: its script, or its notebook cell."""
    pos = doc.position_from_client_units(position)
    line = doc.lines[pos.line] if pos.line < len(doc.lines) else ""
    for ref in references.at(line, pos.line, pos.character, doc.language_id or ""):
        found = _lookup(ctx, ref) if ctx.project.ok else None
        if found is not None and found.producer is not None:
            return _producer_location(found.producer, ctx.project.root, workspace)
    return None


def _producer_location(
    job: lookup.prov.JobRef, root: Path, workspace: Workspace
) -> types.Location | None:
    top = types.Range(start=types.Position(0, 0), end=types.Position(0, 0))
    if job.kind != "cell":
        script = lookup.script_path(root, job)
        return types.Location(uri=from_fs_path(script), range=top) if script else None
    notebook = lookup.notebook_file(root, job)
    if notebook is None:
        return None
    cell_uri = _open_cell(workspace, notebook, job)
    if cell_uri:
        return types.Location(uri=cell_uri, range=top)
    line = types.Position(lookup.cell_line_in_file(notebook, job), 0)
    return types.Location(uri=from_fs_path(notebook), range=types.Range(start=line, end=line))


def _open_cell(workspace: Workspace, notebook: str, job: lookup.prov.JobRef) -> str | None:
    """The URI of the producing cell when the client has the notebook open (matched by its
    nbformat id in the cell metadata, else by source, else by execution count)."""

    for nb in workspace.notebook_documents.values():
        if fs_path(nb.uri) != notebook:
            continue
        source = (job.source or "").strip()
        for cell in nb.cells:
            meta = cell.metadata or {}
            text = workspace.get_text_document(cell.document).source.strip()
            order = cell.execution_summary.execution_order if cell.execution_summary else None
            if (job.cell_id and meta.get("id") == job.cell_id) or (source and text == source):
                return cell.document
            if job.execution_count is not None and order == job.execution_count:
                return cell.document
    return None
