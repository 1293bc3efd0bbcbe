"""textDocument/codeLens: "produced by @N · script · when" over lines naming tracked files."""

from __future__ import annotations

import re

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import open_doc

pytestmark = pytest.mark.asyncio

TEXT = """import pandas as pd
raw = pd.read_csv("data/raw.csv")
model = open("out/model.pkl", "rb")
summary = open("out/summary.txt")
nothing = "data/never-recorded.csv"
"""


async def test_code_lenses_name_the_producer(client: LanguageClient, pipeline):
    uri = open_doc(client, pipeline.root / "lens.py", TEXT)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    by_line = {lens.range.start.line: lens.command.title for lens in lenses}
    assert sorted(by_line) == [1, 2, 3]  # nothing over the untracked path
    assert re.fullmatch(r"produced by @2 · train\.py · (just now|\d+ min ago)", by_line[2])
    assert re.fullmatch(r"produced by @4 · analysis\.ipynb \[1\] · .*", by_line[3])
    assert by_line[1] == "source input · read by 1 job(s)"
    assert all(lens.command.command == "roar.showLineage" for lens in lenses)
    assert list(lenses[1].command.arguments) == [str(pipeline.root / "out" / "model.pkl")]
