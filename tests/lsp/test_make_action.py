"""textDocument/codeAction: "roar make X" on a stale path, and workspace/executeCommand running it.

The real server on a real recorded pipeline (tests/lsp/conftest.py): raw.csv changes on disk,
so clean.csv, model.pkl and report.txt are stale; the action on report.txt reruns exactly the
stale steps upstream of it through ``roar make -y``, and the diagnostics clear.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Union

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import open_doc, wait_for

pytestmark = pytest.mark.asyncio

TEXT = """raw = "data/raw.csv"
clean = "data/clean.csv"
report = "out/report.txt"
"""


def on_line(line: int, start: int = 0, end: int = 0) -> types.Range:
    return types.Range(start=types.Position(line, start), end=types.Position(line, end))


async def actions_at(
    client: LanguageClient, uri: str, selection: types.Range
) -> list[types.CodeAction]:
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=selection,
            context=types.CodeActionContext(diagnostics=list(client.diagnostics.get(uri, []))),
        )
    )
    return [a for a in found or [] if isinstance(a, types.CodeAction)]


def read_code_actions_whole(client: LanguageClient) -> None:
    """lsprotocol reads any reply object with a ``command`` key as a bare Command, so a
    CodeAction carrying a command (this server's) would reach the test mangled; editors read
    the JSON as sent. Tell the two apart by the type of ``command``, as the protocol does."""
    converter = client.protocol._converter

    def hook(obj: dict, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


def steps_run(root: Path) -> list[int]:
    conn = sqlite3.connect(root / ".roar" / "roar.db")
    try:
        return [n for (n,) in conn.execute("SELECT step_number FROM jobs ORDER BY id")]
    finally:
        conn.close()


async def test_make_action_on_a_stale_path_reruns_its_stale_steps(fresh_lsp, fresh_pipeline):
    root = fresh_pipeline.root
    client = await fresh_lsp(root)
    read_code_actions_whole(client)
    uri = open_doc(client, root / "check.py", TEXT)
    assert await wait_for(lambda: uri in client.diagnostics)
    # everything current: no action anywhere
    assert await actions_at(client, uri, on_line(0, 0, 0)) == []
    assert (
        await actions_at(
            client, uri, types.Range(start=on_line(0).start, end=on_line(2, 0, 40).end)
        )
        == []
    )

    (root / "data" / "raw.csv").write_text("a,b\n7,8\n")
    assert await wait_for(lambda: len(client.diagnostics.get(uri, [])) == 3)

    # the cursor on the stale report.txt: one quick fix, tied to its diagnostic
    column = TEXT.splitlines()[2].index("out/report")
    found = await actions_at(client, uri, on_line(2, column + 3, column + 3))
    assert [a.title for a in found] == ["roar make out/report.txt"]
    action = found[0]
    assert action.kind == types.CodeActionKind.QuickFix
    assert action.command is not None and action.command.command == "roar.make"
    assert list(action.command.arguments or []) == [str(root / "out" / "report.txt")]
    assert [d.code for d in action.diagnostics or []] == ["stale"]
    # the modified source input is not something make can fix: no action on its line
    assert await actions_at(client, uri, on_line(0, 8, 8)) == []
    # a selection over every line offers one action per stale file it names
    every = await actions_at(
        client, uri, types.Range(start=on_line(0).start, end=on_line(2, 0, 40).end)
    )
    assert [a.title for a in every] == ["roar make data/clean.csv", "roar make out/report.txt"]

    assert steps_run(root) == [1, 2, 3]
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="roar.make", arguments=list(action.command.arguments))
    )
    assert result["exitCode"] == 0, result["output"]
    assert steps_run(root) == [1, 2, 3, 1, 2, 3]  # the stale steps, each once, in order
    assert (root / "out" / "report.txt").read_text().startswith("A,B\n7,8")
    assert any(m.message == "roar: Made out/report.txt: reran @1, @2, @3." for m in client.messages)
    assert await wait_for(lambda: list(client.diagnostics.get(uri, [])) == [])
    assert await actions_at(client, uri, on_line(2, column + 3, column + 3)) == []
