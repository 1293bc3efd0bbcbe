"""Labels and counts (issue 14.8): states named for what they mean to a user and explained in
the legend, one count everywhere (header, --stale-only, --json, status), plurals, and an empty
--stale-only that says nothing is stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import commit_all

STEP = """
import sys
src, dst = sys.argv[1], sys.argv[2]
open(dst, "w").write(open(src).read() + "x\\n")
if len(sys.argv) > 3:
    open(sys.argv[3], "w").write("log\\n")
"""


@pytest.fixture
def chain(repo: Path, run_roar, write_script) -> Path:
    """in.txt → @1 → a.txt (+ side.txt, read by nobody) → @2 → b.txt → @3 → c.txt."""
    write_script("step.py", STEP)
    (repo / ".gitignore").write_text("*.txt\n")
    commit_all(repo)
    (repo / "in.txt").write_text("one\n")
    run_roar("run", "python", "step.py", "in.txt", "a.txt", "side.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    run_roar("run", "python", "step.py", "b.txt", "c.txt", cwd=repo)
    return repo


def _header(text: str) -> str:
    return text.splitlines()[0]


def test_newest_outputs_are_not_orphaned_and_every_view_counts_alike(chain, run_roar):
    repo = chain
    (repo / "in.txt").write_text("two\n")
    run_roar("run", "python", "step.py", "in.txt", "a.txt", "side.txt", cwd=repo)  # @1 again

    full = run_roar("dag", "--no-color", "--show-artifacts", cwd=repo).stdout
    assert "orphaned" not in full
    assert re.search(r"\(a\.txt\) \[not yet read by @2\] \(intermediate\)", full), full
    assert "(side.txt) (side output)" in full, full
    assert "[not yet read by @N] = newer than the version @N read" in full
    assert "[stale] = made by a stale step" in full

    header = "Pipeline: 3 steps (2 stale steps, 2 stale artifacts)"
    assert _header(full) == header
    assert _header(run_roar("dag", "--no-color", cwd=repo).stdout) == header
    assert _header(run_roar("dag", "--no-color", "--stale-only", cwd=repo).stdout) == header
    counts = {
        (d["total_steps"], d["stale_count"], d["stale_artifact_count"])
        for flags in ([], ["--show-artifacts"], ["--stale-only"])
        for d in [run_roar("dag", "--json", *flags, cwd=repo).json()]
    }
    assert counts == {(3, 2, 2)}

    status = run_roar("status", cwd=repo).stdout
    assert "orphaned" not in status and "a.txt [not yet read by @2]" in status, status
    assert "Legend: " in status

    graph = run_roar("dag", "--format", "graph-json", cwd=repo).json()
    a_nodes = [n for n in graph["nodes"] if n.get("path") == str(repo / "a.txt")]
    newest = next(n for n in a_nodes if n["superseded_by"] is None)
    assert newest["state"] == "active"  # not drawn like a superseded file
    assert {n["state"] for n in graph["nodes"] if n["type"] == "artifact"} <= {
        "active", "stale", "superseded",
    }  # fmt: skip

    # Bring @2 up to date: one stale step left, said in the singular.
    run_roar("run", "@2", cwd=repo)
    one = run_roar("dag", "--no-color", cwd=repo).stdout
    assert _header(one) == "Pipeline: 3 steps (1 stale step, 1 stale artifact)", one

    run_roar("run", "@3", cwd=repo)
    empty = run_roar("dag", "--no-color", "--stale-only", cwd=repo).stdout.strip()
    assert empty.startswith("Nothing is stale") and "3 steps" in empty, empty


def test_a_hand_edited_file_read_since_is_not_superseded(repo, run_roar, write_script):
    write_script("step.py", STEP)
    (repo / ".gitignore").write_text("*.txt\n*.csv\n")
    commit_all(repo)
    run_roar("run", "sh", "-c", "echo downloaded > raw.csv", cwd=repo)
    run_roar("run", "python", "step.py", "raw.csv", "a.txt", cwd=repo)
    (repo / "raw.csv").write_text("fixed by hand\n")
    run_roar("run", "python", "step.py", "raw.csv", "a.txt", cwd=repo)  # reads the edit

    graph = run_roar("dag", "--format", "graph-json", cwd=repo).json()
    raw = [n for n in graph["nodes"] if n.get("path") == str(repo / "raw.csv")]
    edited = next(n for n in raw if n["disk_state"] == "current")
    recorded = next(n for n in raw if n["disk_state"] == "modified on disk")
    assert edited["state"] == "active" and edited["superseded_by"] is None
    assert recorded["state"] == "active"  # @1's output: what @1 wrote, since changed by hand
    text = run_roar("dag", "--no-color", "--show-artifacts", cwd=repo).stdout
    assert "(raw.csv) [modified on disk]" in text and "[superseded]" not in text, text


def test_a_rerun_writing_the_same_bytes_leaves_no_older_version(chain, run_roar):
    """By content: @1 run again on the same input writes the same a.txt, so the first run's
    a.txt is not "an older version" in the expanded view, nor anywhere else."""
    repo = chain
    run_roar("run", "python", "step.py", "in.txt", "a.txt", "side.txt", cwd=repo)  # same bytes

    dag = run_roar("dag", "--json", "--expanded", "--show-artifacts", cwd=repo).json()
    states = {(a["path"], a["state"]) for a in dag["artifacts"]}
    assert ("a.txt", "superseded") not in states, states
    assert ("side.txt", "superseded") not in states, states
    text = run_roar("dag", "--no-color", "--expanded", "--show-artifacts", cwd=repo).stdout
    assert "(a.txt) [superseded]" not in text, text
