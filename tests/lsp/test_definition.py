"""textDocument/definition: from a tracked path to the script or notebook cell that made it."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import column_of, open_doc

pytestmark = pytest.mark.asyncio

TEXT = 'a = "out/model.pkl"\nb = "out/summary.txt"\nc = "data/raw.csv"\n'


async def definition(client: LanguageClient, uri: str, line: int, needle: str):
    return await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=column_of(TEXT, needle, line)),
        )
    )


async def test_definition_goes_to_the_producing_script(client: LanguageClient, pipeline):
    uri = open_doc(client, pipeline.root / "defs.py", TEXT)
    result = await definition(client, uri, 0, "model.pkl")
    assert isinstance(result, types.Location)
    assert result.uri == pipeline.uri("train.py")
    assert result.range.start == types.Position(line=0, character=0)


async def test_definition_goes_to_the_producing_notebook_cell(client: LanguageClient, pipeline):
    uri = open_doc(client, pipeline.root / "defs.py", TEXT)
    result = await definition(client, uri, 1, "summary.txt")
    assert isinstance(result, types.Location)
    assert result.uri == pipeline.uri("analysis.ipynb")
    # the line of the cell in the .ipynb file (the kernel recorded its nbformat id)
    line = (pipeline.root / "analysis.ipynb").read_text().splitlines()[result.range.start.line]
    assert '"id":' in line or "open('data/clean.csv')" in line


async def test_no_definition_for_a_source_input(client: LanguageClient, pipeline):
    uri = open_doc(client, pipeline.root / "defs.py", TEXT)
    assert await definition(client, uri, 2, "raw.csv") is None


async def test_definition_goes_to_the_open_cell(client: LanguageClient, pipeline):
    """With the notebook open in the editor (notebook sync), the target is the cell itself."""
    source = "text = open('data/clean.csv').read()\nopen('out/summary.txt', 'w').write(text[:5])\n"
    nb_path = (pipeline.root / "analysis.ipynb").as_posix()
    cells = [f"vscode-notebook-cell:{nb_path}#cell{i}" for i in range(2)]
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=pipeline.uri("analysis.ipynb"), notebook_type="jupyter-notebook", version=1,
                cells=[types.NotebookCell(kind=types.NotebookCellKind.Code, document=c) for c in cells],
            ),
            cell_text_documents=[
                types.TextDocumentItem(uri=cells[0], language_id="python", version=1, text="import os\n"),
                types.TextDocumentItem(uri=cells[1], language_id="python", version=1, text=source),
            ],
        )
    )  # fmt: skip
    uri = open_doc(client, pipeline.root / "defs.py", TEXT)
    result = await definition(client, uri, 1, "summary.txt")
    assert isinstance(result, types.Location) and result.uri == cells[1]
