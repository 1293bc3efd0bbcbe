"""textDocument/hover shows labels (issue 16.4): the hovered artifact's `roar label` document and
its producing job's, read from the store as they change (no restart), through the real server."""

from __future__ import annotations

import pytest

from tests.lsp.conftest import column_of, hover_at, open_doc, roar

pytestmark = pytest.mark.asyncio

TEXT = """model = open("out/model.pkl", "rb")
report = open("out/report.txt")
"""


async def test_hover_shows_the_artifacts_and_its_producers_labels(fresh_lsp, fresh_pipeline):
    root = fresh_pipeline.root
    client = await fresh_lsp(root)
    uri = open_doc(client, root / "check.py", TEXT)

    async def hover(line: int, needle: str) -> str:
        result = await hover_at(client, uri, line, column_of(TEXT, needle, line))
        assert result is not None
        return result.contents.value

    before = await hover(0, "out/model.pkl")
    assert "**Produced by** @2" in before and "Labels" not in before and "job labels" not in before

    roar("label", "set", "artifact", "out/model.pkl", "stage=baseline", "model.name=resnet50",
         "acc=0.91", cwd=root)  # fmt: skip
    roar("label", "set", "job", "@2", "phase=train", "lr=0.001", "shuffle=true", cwd=root)
    text = await hover(0, "out/model.pkl")
    assert "**Labels**: `stage=baseline` · `model.name=resnet50` · `acc=0.91`" in text
    assert "job labels: `phase=train` · `lr=0.001` · `shuffle=true`" in text
    # The artifact's labels come before who made it; the job's stay with the producer.
    assert text.index("**Labels**") < text.index("**Produced by** @2") < text.index("job labels")

    report = await hover(1, "out/report.txt")  # made by @3, neither labelled
    assert "**Produced by** @3" in report and "Labels" not in report and "job labels" not in report

    roar("label", "unset", "artifact", "out/model.pkl", "stage", "acc", cwd=root)
    after = await hover(0, "out/model.pkl")
    assert "**Labels**: `model.name=resnet50`\n" in after
