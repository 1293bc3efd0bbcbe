"""roar make: rerun exactly the stale steps upstream of a target — real runs, real store.

The diamond every test starts from::

    src.txt ─@1─► a.txt ─@2 (+ bparam.txt)─► b.txt ─┐
                    └───@3─────────────────► c.txt ─┴─@4─► d.txt
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import commit_all

STEP = """
import sys
*srcs, dst = sys.argv[1:]
data = "".join(open(s).read() for s in srcs)
if "fail" in data:
    sys.exit(3)
open(dst, "w").write(data + dst + "\\n")
"""


@pytest.fixture
def diamond(repo: Path, run_roar, write_script) -> Path:
    write_script("step.py", STEP)
    (repo / ".gitignore").write_text(".roar/\n*.txt\n")
    commit_all(repo, "data is not code")
    (repo / "src.txt").write_text("src\n")
    (repo / "bparam.txt").write_text("b1\n")
    for argv in (
        ["src.txt", "a.txt"],
        ["a.txt", "bparam.txt", "b.txt"],
        ["a.txt", "c.txt"],
        ["b.txt", "c.txt", "d.txt"],
    ):
        run_roar("run", "-q", "python", "step.py", *argv, cwd=repo)
    return repo


def steps_run(repo: Path) -> list[int]:
    """The store's job list: the step of every recorded job, in the order recorded."""
    conn = sqlite3.connect(repo / ".roar" / "roar.db")
    try:
        return [n for (n,) in conn.execute("SELECT step_number FROM jobs ORDER BY id")]
    finally:
        conn.close()


def test_changed_input_of_one_branch_reruns_that_branch_and_the_join(diamond, run_roar):
    assert run_roar("make", "d.txt", cwd=diamond).stdout.startswith("d.txt is up to date")
    before = {p.name: p.read_text() for p in diamond.glob("*.txt")}
    (diamond / "bparam.txt").write_text("b2\n")

    dry = run_roar("make", "d.txt", "--dry-run", cwd=diamond)
    assert "d.txt: 2 stale steps to rerun (of 4 steps upstream of it):" in dry.stdout
    lines = dry.stdout.splitlines()
    assert lines[1].split() == ["@2", "python", "step.py", "a.txt", "bparam.txt", "b.txt"]
    assert "because bparam.txt changed on disk" in lines[2]
    assert lines[3].split()[0] == "@4" and "because @2 is rerun first" in lines[4]
    assert "Dry run: nothing was rerun" in dry.stderr
    # the dry run changed nothing: no job, no file
    assert steps_run(diamond) == [1, 2, 3, 4]
    assert {p.name: p.read_text() for p in diamond.glob("*.txt")} == {
        **before,
        "bparam.txt": "b2\n",
    }

    plan = run_roar("make", "d.txt", "--dry-run", "--json", cwd=diamond).json()
    assert plan["up_to_date"] is False and plan["target_step"] == "@4"
    assert [p["step"] for p in plan["plan"]] == ["@2", "@4"]
    assert plan["plan"][0]["reasons"][0]["kind"] == "changed on disk"

    made = run_roar("make", "d.txt", "-y", cwd=diamond)
    assert steps_run(diamond) == [1, 2, 3, 4, 2, 4]  # exactly b and d: not a, not c
    assert "[1/2] @2" in made.stderr and "[2/2] @4" in made.stderr
    assert "Made d.txt: reran @2, @4." in made.stderr
    assert "b2" in (diamond / "d.txt").read_text()
    assert (diamond / "c.txt").read_text() == before["c.txt"]
    # each rerun is recorded as a rerun of its step: the DAG has 4 steps, none stale
    dag = run_roar("dag", "--json", cwd=diamond).json()
    assert dag["total_steps"] == 4 and dag["stale_count"] == 0

    again = run_roar("make", "d.txt", cwd=diamond)
    assert again.stdout == "d.txt is up to date (4 steps upstream of it, none stale).\n"
    assert steps_run(diamond) == [1, 2, 3, 4, 2, 4]


def test_a_rerun_upstream_makes_its_readers_stale_but_not_itself(diamond, run_roar):
    (diamond / "src.txt").write_text("new source\n")
    run_roar("run", "-q", "@1", cwd=diamond)  # a.txt now holds other bytes
    plan = run_roar("make", "d.txt", "--dry-run", "--json", cwd=diamond).json()
    assert [p["step"] for p in plan["plan"]] == ["@2", "@3", "@4"]
    reasons = {r["text"] for p in plan["plan"] for r in p["reasons"]}
    assert f"{diamond / 'a.txt'} was rewritten by @1" in reasons
    run_roar("make", "d.txt", "-y", cwd=diamond)
    assert steps_run(diamond) == [1, 2, 3, 4, 1, 2, 3, 4]
    assert (diamond / "d.txt").read_text().startswith("new source")


def test_only_the_target_upstream_and_a_missing_target(diamond, run_roar):
    (diamond / "bparam.txt").write_text("b2\n")
    # c.txt does not depend on b's branch: up to date, by path, by @N and by hash
    assert "c.txt is up to date (2 steps upstream" in run_roar("make", "c.txt", cwd=diamond).stdout
    assert "@3 is up to date" in run_roar("make", "@3", cwd=diamond).stdout
    digest = run_roar("dag", "--json", "--show-artifacts", cwd=diamond).json()["artifacts"]
    c_hash = next(a["hash"] for a in digest if a["path"].endswith("/c.txt"))
    assert "is up to date" in run_roar("make", c_hash[:12], cwd=diamond).stdout

    # a deleted final output is made again by its step alone
    (diamond / "bparam.txt").write_text("b1\n")
    (diamond / "d.txt").unlink()
    plan = run_roar("make", "d.txt", "--dry-run", "--json", cwd=diamond).json()
    assert [(p["step"], p["reasons"][0]["kind"]) for p in plan["plan"]] == [
        ("@4", "target missing")
    ]
    run_roar("make", "d.txt", "-y", cwd=diamond)
    assert steps_run(diamond) == [1, 2, 3, 4, 4] and (diamond / "d.txt").exists()

    # a source input has nothing to make; an untracked path is named as not tracked
    source = run_roar("make", "src.txt", cwd=diamond)
    assert "Nothing to make: src.txt is a source input" in source.stdout
    untracked = run_roar("make", "nope.txt", cwd=diamond, check=False)
    assert untracked.returncode != 0 and "No artifact found for path: nope.txt" in untracked.stderr


def test_a_missing_input_a_rerun_needs_is_made_again_first(diamond, run_roar):
    (diamond / "a.txt").unlink()
    (diamond / "bparam.txt").write_text("b2\n")
    plan = run_roar("make", "d.txt", "--dry-run", "--json", cwd=diamond).json()
    assert [(p["step"], [r["kind"] for r in p["reasons"]]) for p in plan["plan"]] == [
        ("@1", ["needed"]),  # @2 reads a.txt, which is gone: @1 makes it again
        ("@2", ["changed on disk"]),
        ("@4", ["upstream"]),
    ]
    run_roar("make", "d.txt", "-y", cwd=diamond)
    # @1 wrote the same bytes again, so @3 (which read them) is still current: not rerun
    assert steps_run(diamond) == [1, 2, 3, 4, 1, 2, 4]
    assert "b2" in (diamond / "d.txt").read_text()


def test_asks_first_and_stops_at_the_first_failure(diamond, run_roar):
    (diamond / "bparam.txt").write_text("fail\n")
    refused = run_roar("make", "d.txt", cwd=diamond, check=False)  # no terminal, no -y
    assert refused.returncode == 1 and "pass -y" in refused.stderr
    assert steps_run(diamond) == [1, 2, 3, 4]

    failed = run_roar("make", "d.txt", "-y", cwd=diamond, check=False)
    assert failed.returncode == 3  # the failing step's own exit code
    assert "@2 failed (exit 3)" in failed.stderr
    assert steps_run(diamond) == [1, 2, 3, 4, 2]  # @4 was not rerun after it
    # the failed run is recorded; its step stays stale until it succeeds
    (diamond / "bparam.txt").write_text("b3\n")
    plan = run_roar("make", "d.txt", "--dry-run", "--json", cwd=diamond).json()
    assert [p["step"] for p in plan["plan"]] == ["@2", "@4"]
    assert plan["plan"][0]["reasons"][0]["kind"] == "failed"


def test_status_and_dag_suggest_make_for_a_stale_final_output(diamond, run_roar):
    for command in ("status", "dag"):
        assert "roar make" not in run_roar(command, cwd=diamond).stderr
    (diamond / "bparam.txt").write_text("b2\n")
    hint = "hint: roar make d.txt reruns only the stale steps upstream of it"
    for command in ("status", "dag"):
        result = run_roar(command, cwd=diamond)
        assert result.stderr.strip().splitlines() == [hint]
    assert "roar make" not in run_roar("dag", "--json", cwd=diamond).stderr
    # from elsewhere in the project the hint names a path that works there
    (diamond / "sub").mkdir()
    said = run_roar("status", cwd=diamond / "sub").stderr.split()
    assert said[:3] == ["hint:", "roar", "make"] and said[3] == str(diamond / "d.txt")
    dry = run_roar("make", said[3], "--dry-run", "--json", cwd=diamond / "sub").json()
    assert [p["step"] for p in dry["plan"]] == ["@2", "@4"]
    run_roar("make", "d.txt", "-y", cwd=diamond)
    assert "roar make" not in run_roar("status", cwd=diamond).stderr
