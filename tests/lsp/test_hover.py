"""textDocument/hover: provenance for tracked paths (Python, notebook cells, shell, YAML, JSON,
TOML, Markdown) and hash prefixes; nothing for untracked strings."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import commit_all
from tests.lsp.conftest import build_pipeline, column_of, hover_at, open_doc, roar

pytestmark = pytest.mark.asyncio

PIPELINE_PY = """import pandas as pd
df = pd.read_csv("data/clean.csv")
model = open('out/model.pkl', 'rb')
other = open("data/never-recorded.csv")
"""


async def test_hover_on_a_path_in_a_python_file(client: LanguageClient, pipeline):
    uri = open_doc(client, pipeline.root / "analysis_script.py", PIPELINE_PY)
    result = await hover_at(client, uri, 2, column_of(PIPELINE_PY, "out/model.pkl", 2))
    assert result is not None
    text = result.contents.value
    assert "`model.pkl`" in text and "**current**" in text
    assert pipeline.digest("out/model.pkl")[:12] in text
    assert "**Produced by** @2 `python train.py data/clean.csv out/model.pkl`" in text
    assert "exit 0" in text and "commit `" in text
    # its inputs, by short hash, and its consumer
    assert f"`{pipeline.digest('data/clean.csv')[:12]}` data/clean.csv" in text
    assert (
        "**Consumers** (1):" in text
        and "@3 `python report.py out/model.pkl out/report.txt`" in text
    )
    # the range is the string's text, without the quotes
    assert result.range.start == types.Position(line=2, character=14)
    assert result.range.end == types.Position(line=2, character=27)


async def test_hover_on_a_path_in_a_notebook_cell(client: LanguageClient, pipeline):
    """Notebook document sync: the cell's relative path resolves against the notebook's folder."""
    nb_uri = pipeline.uri("explore.ipynb")
    cell_uri = (
        f"vscode-notebook-cell:{(pipeline.root / 'explore.ipynb').as_posix()}#W0sZmlsZQ%3D%3D"
    )
    source = "import json\nsummary = open('out/summary.txt').read()\n"
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=nb_uri, notebook_type="jupyter-notebook", version=1,
                cells=[types.NotebookCell(kind=types.NotebookCellKind.Code, document=cell_uri)],
            ),
            cell_text_documents=[
                types.TextDocumentItem(uri=cell_uri, language_id="python", version=1, text=source)
            ],
        )
    )  # fmt: skip
    result = await hover_at(client, cell_uri, 1, column_of(source, "summary.txt", 1))
    assert result is not None
    text = result.contents.value
    assert "`summary.txt`" in text and "**current**" in text
    # produced by the notebook cell the roar kernel recorded
    assert "**Produced by** @4 cell `analysis.ipynb [1]`" in text
    assert f"`{pipeline.digest('data/clean.csv')[:12]}` data/clean.csv" in text


async def test_hover_on_a_hash_prefix(client: LanguageClient, pipeline):
    digest = pipeline.digest("out/report.txt")
    text = f"# report built from {digest[:10]} yesterday\nx = '{digest[:8]}'\n"
    uri = open_doc(client, pipeline.root / "notes.py", text)
    for line, column in ((0, text.index(digest[:10]) + 3), (1, 7)):
        result = await hover_at(client, uri, line, column)
        assert result is not None, (line, column)
        assert "`report.txt`" in result.contents.value
        assert "**Produced by** @3 `python report.py" in result.contents.value


async def test_no_hover_on_untracked_strings(client: LanguageClient, pipeline):
    uri = open_doc(client, pipeline.root / "untracked.py", PIPELINE_PY)
    assert await hover_at(client, uri, 3, column_of(PIPELINE_PY, "never-recorded", 3)) is None
    assert await hover_at(client, uri, 0, 3) is None  # `import`: no string at all
    # eight hex digits that name no artifact
    uri = open_doc(client, pipeline.root / "hex.py", "x = 'deadbeef00'\n")
    assert await hover_at(client, uri, 0, 8) is None


@pytest.mark.parametrize(
    "name, language, text, needle",
    [
        (
            "run.sh",
            "shellscript",
            "python train.py data/clean.csv out/model.pkl\n",
            "out/model.pkl",
        ),
        ("params.yaml", "yaml", "model:\n  path: out/model.pkl\n", "out/model.pkl"),
        ("config.json", "json", '{"model": "out/model.pkl"}\n', "out/model.pkl"),
        ("pyproject.toml", "toml", '[tool.x]\nmodel = "out/model.pkl"\n', "out/model.pkl"),
        ("docs/NOTES.md", "markdown", "See [the model](../out/model.pkl).\n", "../out/model.pkl"),
        # a tail of a tracked path, from a folder where it is not relative
        ("docs/tail.md", "markdown", "Ship `model.pkl` to prod.\n", "model.pkl"),
    ],
)
async def test_hover_in_other_languages(
    client: LanguageClient, pipeline, name, language, text, needle
):
    uri = open_doc(client, pipeline.root / name, text, language)
    line = next(i for i, row in enumerate(text.splitlines()) if needle in row)
    result = await hover_at(client, uri, line, column_of(text, needle, line))
    assert result is not None
    assert "`model.pkl`" in result.contents.value
    assert "**Produced by** @2 `python train.py" in result.contents.value


JOIN = """import sys
text = open(sys.argv[1]).read() + open(sys.argv[2]).read()
open(sys.argv[3], "w").write(text)
"""


@pytest.fixture(scope="module")
def many_consumers(tmp_path_factory):
    """out/model.pkl read by six jobs: @3 and @4, @5 (current), @6 twice (the first run
    superseded by the second), @7 (stale: its other input changed on disk afterwards)."""
    root = build_pipeline(tmp_path_factory.mktemp("consumers") / "project")
    (root / "join.py").write_text(JOIN)
    (root / "data" / "extra.csv").write_text("x\n1\n")
    commit_all(root, "join")
    for out in ("a", "b", "c", "c"):
        roar("run", "python", "report.py", "out/model.pkl", f"out/{out}.txt", cwd=root)
    roar("run", "python", "join.py", "out/model.pkl", "data/extra.csv", "out/j.txt", cwd=root)
    (root / "data" / "extra.csv").write_text("x\n2\n")
    return root


async def test_hover_marks_superseded_and_stale_consumers_and_stays_short(
    fresh_lsp, many_consumers
):
    client = await fresh_lsp(many_consumers)
    text = "m = open('out/model.pkl', 'rb')\n"
    uri = open_doc(client, many_consumers / "consumers.py", text)
    result = await hover_at(client, uri, 0, column_of(text, "out/model.pkl"))
    assert result is not None
    hover = result.contents.value
    assert "**current**" in hover  # the model itself is fine: only one reader's input changed
    lines = hover.splitlines()
    at = lines.index("**Consumers** (6):")
    # the five newest readers, each marked by its state in words, then one line for the rest
    assert lines[at + 1 : at + 7] == [
        "- @7 `python join.py out/model.pkl data/extra.csv out/j.txt`"
        " — ⚠ *stale: an input changed since it ran*",
        "- @6 `python report.py out/model.pkl out/c.txt`",
        "- @6 `python report.py out/model.pkl out/c.txt` — *superseded: ran again since*",
        "- @5 `python report.py out/model.pkl out/b.txt`",
        "- @4 `python report.py out/model.pkl out/a.txt`",
        "- … 1 more (all in Show lineage)",
    ]
    assert "@3 `python report.py" not in hover


async def test_a_build_step_is_not_superseded_by_the_run_step_of_its_number(
    fresh_lsp, tmp_path_factory
):
    """Build steps are numbered apart (@B1 is not @1): a later run of @1 leaves @B1 current."""
    root = build_pipeline(tmp_path_factory.mktemp("build") / "project")
    roar("build", "python", "report.py", "out/model.pkl", "out/b.txt", cwd=root)
    roar("run", "@1", cwd=root)  # step 1 ran again after @B1
    client = await fresh_lsp(root)
    text = "m = open('out/model.pkl', 'rb')\n"
    uri = open_doc(client, root / "b.py", text)
    result = await hover_at(client, uri, 0, column_of(text, "out/model.pkl"))
    assert result is not None
    hover = result.contents.value
    assert "- @B1 `python report.py out/model.pkl out/b.txt`\n" in hover + "\n", hover
