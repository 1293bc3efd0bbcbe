"""`roar dag` before the first job is an empty pipeline, not an error; `--notebook` filters the
text view to one notebook's cells."""

from __future__ import annotations

import pytest


def test_no_jobs_yet_is_an_empty_pipeline(repo, run_roar, tmp_path):
    text = run_roar("dag", cwd=repo)
    assert text.stdout.strip() == "No steps in pipeline."
    data = run_roar("dag", "--json", cwd=repo).json()
    assert data["nodes"] == [] and data["total_steps"] == 0 and data["session_id"] is None
    graph = run_roar("dag", "--format", "graph-json", cwd=repo).json()
    assert graph["nodes"] == [] and graph["edges"] == []
    run_roar("dag", "--format", "dot", cwd=repo)
    assert "No steps in pipeline." in run_roar("dag", "--stale-only", cwd=repo).stdout


def test_notebook_filter_on_the_text_view_leaves_out_other_jobs(repo, run_roar):
    run_roar("run", "-q", "true", cwd=repo)
    assert "@1" in run_roar("dag", cwd=repo).stdout
    only = run_roar("dag", "--notebook", "analysis.ipynb", cwd=repo)
    assert only.stdout.strip() == "No steps in pipeline."
    assert run_roar("dag", "--json", "--notebook", "analysis.ipynb", cwd=repo).json()["nodes"] == []


@pytest.mark.parametrize("flag", ["--artifact", "-o"])
def test_drawing_flags_still_need_a_format(repo, run_roar, flag):
    bad = run_roar("dag", flag, "x", cwd=repo, check=False)
    assert bad.returncode == 1 and "--format" in bad.stderr


def test_long_commands_keep_what_tells_steps_apart(repo, run_roar):
    common = ["--input", "data/raw/big_dataset.parquet", "--size", "100000"]
    for chunk in range(4):
        args = ["python", "-c", "pass", *common, "--chunk", str(chunk), "--out", "o.parquet"]
        run_roar("run", "-q", *args, cwd=repo)
    lines = [line for line in run_roar("dag", cwd=repo).stdout.splitlines() if "pass" in line]
    assert len(lines) == 4
    for chunk, line in enumerate(lines):
        assert f"--chunk {chunk}" in line and "..." in line, line
        assert line.startswith(f"@{chunk + 1}") and "python -c pass" in line
