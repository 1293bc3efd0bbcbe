"""roar diff on notebook cells: a real roar kernel, a cell edited between two runs."""

from __future__ import annotations

import blake3
import nbformat


def test_an_edited_cell_is_named_as_the_code_that_changed(notebook, repo, run_roar):
    nb = notebook()
    params = nb.add("lr = 0.1")
    train = nb.add("open('model.txt', 'w').write(f'model lr={lr}\\n')")
    nb.run(params)
    nb.run(train)
    first = blake3.blake3((repo / "model.txt").read_bytes()).hexdigest()

    nb.nb.cells[params].source = "lr = 0.2"  # edited in place: the same cell, other source
    nbformat.write(nb.nb, nb.path)
    nb.run(params)
    nb.run(train)

    data = run_roar("diff", first[:12], "model.txt", "--json", cwd=repo).json()
    # The model's lineage reaches the cell that defined lr through the variable edge.
    assert data["a"]["jobs"] == data["b"]["jobs"] == 2
    assert [(p["step_a"], p["step_b"]) for p in data["pairs"]] == [("@1", "@1"), ("@2", "@2")]
    assert data["most_likely_cause"]["category"] == "code"
    [code] = data["code"]
    assert code["cells"] == [{"step_a": "@1", "step_b": "@1"}]
    assert "cell source of @1" in data["most_likely_cause"]["summary"]
    assert data["first_divergence"]["step_a"] == "@2" and data["parameters"] == []
