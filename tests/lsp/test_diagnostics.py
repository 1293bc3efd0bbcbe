"""textDocument/publishDiagnostics: stale, modified and missing artifacts, kept up to date as
files change on disk and as `roar run` records new jobs (while the server holds the store open)."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import open_doc, roar, wait_for

pytestmark = pytest.mark.asyncio

TEXT = """raw = "data/raw.csv"
clean = "data/clean.csv"
model = "out/model.pkl"
report = "out/report.txt"
"""


def states(client: LanguageClient, uri: str) -> dict[int, tuple[str, types.DiagnosticSeverity]]:
    return {d.range.start.line: (d.code, d.severity) for d in client.diagnostics.get(uri, [])}


async def test_stale_modified_and_missing_as_files_change(fresh_lsp, fresh_pipeline):
    client = await fresh_lsp(fresh_pipeline.root)
    uri = open_doc(client, fresh_pipeline.root / "check.py", TEXT)
    assert await wait_for(lambda: uri in client.diagnostics)
    assert list(client.diagnostics[uri]) == []  # everything is current

    # An upstream input changes on disk: it is modified, and everything made from it is stale.
    (fresh_pipeline.root / "data" / "raw.csv").write_text("a,b\n1,3\n")
    assert await wait_for(lambda: len(states(client, uri)) == 4)
    found = states(client, uri)
    assert found[0] == ("modified on disk", types.DiagnosticSeverity.Hint)
    assert found[1] == found[2] == found[3] == ("stale", types.DiagnosticSeverity.Warning)
    message = next(d.message for d in client.diagnostics[uri] if d.range.start.line == 2)
    assert "upstream input changed" in message and "data/raw.csv" in message

    # A recorded output disappears.
    (fresh_pipeline.root / "out" / "report.txt").unlink()
    assert await wait_for(lambda: states(client, uri).get(3, ("",))[0] == "missing")


async def test_rerun_while_the_server_reads_the_store(fresh_lsp, fresh_pipeline):
    """`roar run` writes (WAL) while the server has the store open, and the server picks the new
    job up: the rerun step's output is current again, its consumer's output is stale."""
    client = await fresh_lsp(fresh_pipeline.root)
    uri = open_doc(client, fresh_pipeline.root / "check.py", TEXT)
    assert await wait_for(lambda: uri in client.diagnostics)
    (fresh_pipeline.root / "data" / "raw.csv").write_text("a,b\n5,6\n")
    assert await wait_for(lambda: len(states(client, uri)) == 4)

    roar("run", "python", "prep.py", "data/raw.csv", "data/clean.csv", cwd=fresh_pipeline.root)

    assert await wait_for(lambda: sorted(states(client, uri)) == [2, 3])
    model = next(d for d in client.diagnostics[uri] if d.range.start.line == 2)
    assert model.code == "stale" and "data/clean.csv" in model.message


async def test_diagnostics_can_be_turned_off(fresh_lsp, fresh_pipeline):
    client = await fresh_lsp(fresh_pipeline.root, diagnostics=False)
    (fresh_pipeline.root / "out" / "model.pkl").unlink()
    uri = open_doc(client, fresh_pipeline.root / "check.py", TEXT)
    assert await wait_for(lambda: uri in client.diagnostics)
    assert list(client.diagnostics[uri]) == []
