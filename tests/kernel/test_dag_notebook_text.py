"""`roar dag --notebook NB` (text view) shows that notebook's cells, and only them."""

from __future__ import annotations

import subprocess

from tests.conftest import ROAR


def dag_text(repo, *args: str) -> str:
    return subprocess.run(
        [*ROAR, "dag", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_notebook_text_view_keeps_its_cells(notebook, repo):
    subprocess.run([*ROAR, "run", "-q", "true"], cwd=repo, check=True, timeout=60)
    nb = notebook(name="analysis.ipynb")
    nb.cell("open('numbers.txt', 'w').write('1 2 3')")
    nb.cell("total = sum(map(int, open('numbers.txt').read().split()))")

    everything = dag_text(repo)
    assert "true" in everything
    only = dag_text(repo, "--notebook", "analysis.ipynb")
    assert "Pipeline: 2 steps" in only and "true" not in only
    assert "numbers.txt" in only or "open(" in only
    assert dag_text(repo, "--notebook", "other.ipynb").strip() == "No steps in pipeline."
